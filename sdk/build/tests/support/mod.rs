//! A small mock of the chain's contract host (module `menara_v1`), run with wasmi, so the
//! tests can deploy and call the built example contracts.
//!
//! One contract per `Chain`; `call` into other contracts answers "not a contract". Every
//! execution works on a copy of the state, kept only when the call neither reverts nor
//! traps, as on the chain.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use wasmi::{Caller, Engine, Extern, Linker, Memory, Module, Store};

pub type Account = [u8; 32];

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `return_value` without the revert flag (or a plain return).
    Success(Vec<u8>),
    /// `return_value` with the revert flag.
    Reverted(Vec<u8>),
    /// A trap, with its reason.
    Trapped(String),
}

/// An event as deposited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub topics: Vec<[u8; 32]>,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
struct State {
    storage: BTreeMap<Vec<u8>, Vec<u8>>,
    balances: HashMap<Account, u128>,
    events: Vec<Event>,
}

struct Host {
    caller: Account,
    address: Account,
    value: u128,
    input: Vec<u8>,
    block: u64,
    state: State,
    debug: Vec<String>,
}

/// Ends execution from a host function.
#[derive(Debug)]
enum Stop {
    Return { flags: u32, data: Vec<u8> },
    Trap(String),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl wasmi::errors::HostError for Stop {}

fn trap(msg: impl Into<String>) -> wasmi::Error {
    wasmi::Error::host(Stop::Trap(msg.into()))
}

fn memory(caller: &Caller<'_, Host>) -> Result<Memory, wasmi::Error> {
    caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| trap("no memory export"))
}

fn read(caller: &Caller<'_, Host>, ptr: i32, len: u32) -> Result<Vec<u8>, wasmi::Error> {
    let mut buf = vec![0u8; len as usize];
    memory(caller)?
        .read(caller, ptr as u32 as usize, &mut buf)
        .map_err(|_| trap("OutOfBounds"))?;
    Ok(buf)
}

fn read32(caller: &Caller<'_, Host>, ptr: i32) -> Result<[u8; 32], wasmi::Error> {
    let bytes = read(caller, ptr, 32)?;
    Ok(bytes.try_into().unwrap_or([0; 32]))
}

fn read_u128(caller: &Caller<'_, Host>, ptr: i32) -> Result<u128, wasmi::Error> {
    let bytes = read(caller, ptr, 16)?;
    Ok(u128::from_le_bytes(bytes.try_into().unwrap_or([0; 16])))
}

fn write(caller: &mut Caller<'_, Host>, ptr: i32, data: &[u8]) -> Result<(), wasmi::Error> {
    let mem = memory(caller)?;
    mem.write(caller, ptr as u32 as usize, data)
        .map_err(|_| trap("OutOfBounds"))
}

/// Writes `data` to a capacity-in/length-out buffer.
fn write_out(
    caller: &mut Caller<'_, Host>,
    out_ptr: i32,
    out_len_ptr: i32,
    data: &[u8],
) -> Result<(), wasmi::Error> {
    let capacity = u32::from_le_bytes(read(caller, out_len_ptr, 4)?.try_into().unwrap_or([0; 4]));
    if data.len() > capacity as usize {
        return Err(trap("OutputBufferTooSmall"));
    }
    write(caller, out_ptr, data)?;
    write(caller, out_len_ptr, &(data.len() as u32).to_le_bytes())
}

fn no_value(v: Option<Vec<u8>>) -> i32 {
    match v {
        Some(v) => v.len() as i32,
        None => u32::MAX as i32,
    }
}

fn linker(engine: &Engine) -> Linker<Host> {
    let mut l = Linker::<Host>::new(engine);
    let m = "menara_v1";
    l.func_wrap(
        m,
        "input",
        |mut c: Caller<'_, Host>, out: i32, out_len: i32| {
            let input = c.data().input.clone();
            write_out(&mut c, out, out_len, &input)
        },
    )
    .and_then(|l| {
        l.func_wrap(
            m,
            "return_value",
            |c: Caller<'_, Host>, flags: i32, ptr: i32, len: i32| {
                let data = read(&c, ptr, len as u32)?;
                Err::<(), _>(wasmi::Error::host(Stop::Return {
                    flags: flags as u32,
                    data,
                }))
            },
        )
    })
    .and_then(|l| {
        l.func_wrap(
            m,
            "storage_get",
            |mut c: Caller<'_, Host>, kp: i32, kl: i32, out: i32, out_len: i32| {
                let key = read(&c, kp, kl as u32)?;
                match c.data().state.storage.get(&key).cloned() {
                    Some(value) => {
                        write_out(&mut c, out, out_len, &value)?;
                        Ok(0)
                    }
                    None => Ok(3),
                }
            },
        )
    })
    .and_then(|l| {
        l.func_wrap(
            m,
            "storage_set",
            |mut c: Caller<'_, Host>, kp: i32, kl: i32, vp: i32, vl: i32| {
                if kl > 128 || vl > 16 * 1024 {
                    return Err(trap("key or value too large"));
                }
                let key = read(&c, kp, kl as u32)?;
                let value = read(&c, vp, vl as u32)?;
                Ok(no_value(c.data_mut().state.storage.insert(key, value)))
            },
        )
    })
    .and_then(|l| {
        l.func_wrap(
            m,
            "storage_clear",
            |mut c: Caller<'_, Host>, kp: i32, kl: i32| {
                let key = read(&c, kp, kl as u32)?;
                Ok(no_value(c.data_mut().state.storage.remove(&key)))
            },
        )
    })
    .and_then(|l| {
        l.func_wrap(
            m,
            "storage_contains",
            |c: Caller<'_, Host>, kp: i32, kl: i32| {
                let key = read(&c, kp, kl as u32)?;
                Ok(no_value(c.data().state.storage.get(&key).cloned()))
            },
        )
    })
    .and_then(|l| {
        l.func_wrap(m, "caller", |mut c: Caller<'_, Host>, out: i32| {
            let v = c.data().caller;
            write(&mut c, out, &v)
        })
    })
    .and_then(|l| {
        l.func_wrap(m, "origin", |mut c: Caller<'_, Host>, out: i32| {
            let v = c.data().caller;
            write(&mut c, out, &v)
        })
    })
    .and_then(|l| {
        l.func_wrap(m, "address", |mut c: Caller<'_, Host>, out: i32| {
            let v = c.data().address;
            write(&mut c, out, &v)
        })
    })
    .and_then(|l| {
        l.func_wrap(
            m,
            "value_transferred",
            |mut c: Caller<'_, Host>, out: i32| {
                let v = c.data().value.to_le_bytes();
                write(&mut c, out, &v)
            },
        )
    })
    .and_then(|l| {
        l.func_wrap(m, "balance", |mut c: Caller<'_, Host>, out: i32| {
            let me = c.data().address;
            let v = c
                .data()
                .state
                .balances
                .get(&me)
                .copied()
                .unwrap_or(0)
                .to_le_bytes();
            write(&mut c, out, &v)
        })
    })
    .and_then(|l| {
        l.func_wrap(m, "block_number", |c: Caller<'_, Host>| {
            c.data().block as i64
        })
    })
    .and_then(|l| {
        l.func_wrap(
            m,
            "transfer",
            |mut c: Caller<'_, Host>, to: i32, value: i32| {
                let to = read32(&c, to)?;
                let value = read_u128(&c, value)?;
                let me = c.data().address;
                let balances = &mut c.data_mut().state.balances;
                let have = balances.get(&me).copied().unwrap_or(0);
                if have < value {
                    return Ok(5);
                }
                balances.insert(me, have - value);
                *balances.entry(to).or_insert(0) += value;
                Ok(0)
            },
        )
    })
    .and_then(|l| {
        l.func_wrap(
            m,
            "call",
            |_c: Caller<'_, Host>,
             _callee: i32,
             _v: i32,
             _i: i32,
             _il: i32,
             _fuel: i64,
             _o: i32,
             _ol: i32| { Ok(6) },
        )
    })
    .and_then(|l| {
        l.func_wrap(
            m,
            "deposit_event",
            |mut c: Caller<'_, Host>, tp: i32, count: i32, dp: i32, dl: i32| {
                if count > 4 || dl > 1024 {
                    return Err(trap("too many topics or too much data"));
                }
                let raw = read(&c, tp, count as u32 * 32)?;
                let topics = raw
                    .chunks(32)
                    .map(|t| t.try_into().unwrap_or([0; 32]))
                    .collect();
                let data = read(&c, dp, dl as u32)?;
                c.data_mut().state.events.push(Event { topics, data });
                Ok(())
            },
        )
    })
    .and_then(|l| {
        l.func_wrap(
            m,
            "hash_blake3",
            |mut c: Caller<'_, Host>, ip: i32, il: i32, out: i32| {
                let data = read(&c, ip, il as u32)?;
                let hash = *blake3::hash(&data).as_bytes();
                write(&mut c, out, &hash)
            },
        )
    })
    .and_then(|l| {
        l.func_wrap(
            m,
            "debug_message",
            |mut c: Caller<'_, Host>, p: i32, len: i32| {
                let text = read(&c, p, len as u32)?;
                c.data_mut()
                    .debug
                    .push(String::from_utf8_lossy(&text).into_owned());
                Ok(())
            },
        )
    })
    .and_then(|l| {
        l.func_wrap(m, "terminate", |_c: Caller<'_, Host>, _b: i32| {
            Err::<(), _>(trap("terminate is not modelled"))
        })
    })
    .expect("host functions register");
    l
}

/// The mock chain with one contract.
pub struct Chain {
    engine: Engine,
    module: Module,
    state: State,
    pub address: Account,
    pub block: u64,
    /// Debug messages of the latest execution.
    pub debug: Vec<String>,
}

impl Chain {
    /// A chain where `funded` accounts hold `1_000_000` each and `wasm` awaits deployment.
    pub fn new(wasm: &[u8], funded: &[Account]) -> Self {
        let engine = Engine::default();
        let module = Module::new(&engine, wasm).expect("wasmi accepts the module");
        let mut state = State::default();
        for account in funded {
            state.balances.insert(*account, 1_000_000);
        }
        Self {
            engine,
            module,
            state,
            address: [0xCC; 32],
            block: 1,
            debug: Vec::new(),
        }
    }

    pub fn balance(&self, who: &Account) -> u128 {
        self.state.balances.get(who).copied().unwrap_or(0)
    }

    pub fn events(&self) -> &[Event] {
        &self.state.events
    }

    /// Runs the export `entry` (`deploy` or `call`) with `input`, sent by `caller` with
    /// `value`.
    pub fn execute(
        &mut self,
        entry: &str,
        caller: Account,
        value: u128,
        input: Vec<u8>,
    ) -> Outcome {
        let mut state = self.state.clone();
        let have = state.balances.get(&caller).copied().unwrap_or(0);
        if have < value {
            return Outcome::Trapped("caller cannot pay the value".to_owned());
        }
        state.balances.insert(caller, have - value);
        *state.balances.entry(self.address).or_insert(0) += value;

        let host = Host {
            caller,
            address: self.address,
            value,
            input,
            block: self.block,
            state,
            debug: Vec::new(),
        };
        let mut store = Store::new(&self.engine, host);
        let linker = linker(&self.engine);
        let result = linker
            .instantiate_and_start(&mut store, &self.module)
            .and_then(|instance| {
                instance
                    .get_typed_func::<(), ()>(&store, entry)
                    .and_then(|f| f.call(&mut store, ()))
            });
        let outcome = match result {
            Ok(()) => Outcome::Success(Vec::new()),
            Err(e) => match e.downcast_ref::<Stop>() {
                Some(Stop::Return { flags, data }) if flags & 1 == 0 => {
                    Outcome::Success(data.clone())
                }
                Some(Stop::Return { data, .. }) => Outcome::Reverted(data.clone()),
                Some(Stop::Trap(reason)) => Outcome::Trapped(reason.clone()),
                None => Outcome::Trapped(e.to_string()),
            },
        };
        let host = store.into_data();
        self.debug = host.debug;
        if matches!(outcome, Outcome::Success(_)) {
            self.state = host.state;
        }
        outcome
    }
}
