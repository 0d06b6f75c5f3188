//! Running contracts: the wasmi engine and its configuration, the code check, the host
//! functions of module `menara_v1`, fuel, and the stack of nested calls.
use crate::{
    costs, error_with, limits, storage::*, AiHost, CodeInfo, Config, ContractEvent, Entry, Error,
    Event, ExecOutcome, ExecReturn, Pallet, StoredItem,
};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use menara_primitives::{AccountId, Balance, DispatchError, H256};
use menara_support::codec::{DecodeAll, Encode};
use menara_support::io;
use wasmi::errors::ErrorKind;
use wasmi::{
    Caller, CompilationMode, EnforcedLimits, Engine, Extern, ExternType, Linker, Memory, Module,
    Store, StoreLimits, StoreLimitsBuilder, TrapCode,
};

use menara_contract_abi::{code, REVERT};
pub use menara_contract_abi::{AI_MODULE, HOST_MODULE};

/// Bytes per wasm page.
const PAGE: u64 = 64 * 1024;

/// The engine every contract runs on. Its configuration is part of consensus: the features
/// refused here are refused at upload, and fuel is counted by wasmi's own rules.
fn engine() -> Engine {
    let mut config = wasmi::Config::default();
    config
        .consume_fuel(true)
        .floats(false)
        .wasm_reference_types(false)
        .wasm_tail_call(false)
        .wasm_multi_memory(false)
        .wasm_wide_arithmetic(false)
        .wasm_custom_page_sizes(false)
        .wasm_extended_const(false)
        .allow_start_fn(false)
        .set_max_recursion_depth(limits::RECURSION_DEPTH)
        .set_max_stack_height(limits::VALUE_STACK_BYTES)
        // Functions are validated at once and translated when first called; both are
        // deterministic and translation is charged in fuel.
        .compilation_mode(CompilationMode::LazyTranslation)
        .enforced_limits(EnforcedLimits::strict());
    Engine::new(&config)
}

/// What the code check found.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CodeSummary {
    /// It exports `allow_reentry`.
    pub reentrant: bool,
    /// It exports `migrate`.
    pub migrate: bool,
    /// Pages of memory it starts with.
    pub memory_pages: u32,
}

/// Checks that `code` is a contract the chain accepts (see `sdk/ABI.md`); the error names
/// the rule broken. The CLI runs the same check when it builds a contract.
pub fn validate_code(code: &[u8]) -> Result<CodeSummary, (Error, String)> {
    let invalid = |detail: String| (Error::InvalidCode, detail);
    if code.len() > limits::CODE_SIZE as usize {
        return Err((
            Error::CodeTooLarge,
            format!("{} bytes, the limit is {}", code.len(), limits::CODE_SIZE),
        ));
    }
    let shape = scan_sections(code).map_err(invalid)?;
    let engine = engine();
    let module = Module::new(&engine, code).map_err(|e| invalid(format!("{e}")))?;
    let func_export = |name: &str| match module.get_export(name) {
        Some(ExternType::Func(ty)) => Some(ty.params().is_empty() && ty.results().is_empty()),
        Some(_) => Some(false),
        None => None,
    };
    for required in ["deploy", "call"] {
        match func_export(required) {
            Some(true) => {}
            Some(false) => {
                return Err(invalid(format!(
                    "export `{required}` is not a function () -> ()"
                )))
            }
            None => return Err(invalid(format!("no `{required}` export"))),
        }
    }
    if func_export("migrate") == Some(false) {
        return Err(invalid(
            "export `migrate` is not a function () -> ()".into(),
        ));
    }
    if !matches!(module.get_export("memory"), Some(ExternType::Memory(_))) {
        return Err(invalid("no memory exported as `memory`".into()));
    }
    // Instantiating resolves every import against the host functions (name and type) and
    // places the data and element segments.
    let frame = Frame::new(
        Stack::new(AccountId([0; 32]), engine.clone(), None, false),
        AccountId([0; 32]),
        AccountId([0; 32]),
        0,
        Vec::new(),
    );
    let mut store = Store::new(&engine, frame);
    store.limiter(|frame| &mut frame.limits);
    store
        .set_fuel(u64::MAX / 2)
        .map_err(|e| invalid(format!("{e}")))?;
    let linker = host_functions::<NoHost>(&engine).map_err(|e| invalid(format!("{e}")))?;
    linker
        .instantiate_and_start(&mut store, &module)
        .map_err(|e| invalid(format!("{e}")))?;
    Ok(CodeSummary {
        reentrant: module.get_export("allow_reentry").is_some(),
        migrate: func_export("migrate") == Some(true),
        memory_pages: shape.memory_pages,
    })
}

/// Stand-in configuration for instantiating at upload: host functions are only linked
/// there, never called.
enum NoHost {}
impl pallet_system::Config for NoHost {
    const PALLET_INDEX: u8 = 0;
    const MAX_EVENTS_PER_BLOCK: u32 = 0;
    const SPEC_NAME: &'static str = "";
    const SPEC_VERSION: u32 = 0;
    const MAX_CODE_SIZE: u32 = 0;
}
impl pallet_balances::Config for NoHost {
    const PALLET_INDEX: u8 = 1;
    const EXISTENTIAL_DEPOSIT: Balance = 0;
}
impl Config for NoHost {
    type Ai = ();
    const FUEL_PRICE: Balance = 0;
    const MAX_CALLBACK_FUEL: u64 = 0;
    const MAX_CALLBACKS_PER_BLOCK: u32 = 0;
    const MAX_PENDING_CALLBACKS: u32 = 0;
    const PALLET_INDEX: u8 = 0;
    const CODE_DEPOSIT_BASE: Balance = 0;
    const CODE_DEPOSIT_PER_BYTE: Balance = 0;
    const ITEM_DEPOSIT: Balance = 0;
    const BYTE_DEPOSIT: Balance = 0;
    const MAX_FUEL_PER_CALL: u64 = 0;
    const MAX_FUEL_PER_BLOCK: u64 = 0;
}

/// The module's shape as its sections declare it.
struct Shape {
    memory_pages: u32,
}

/// Checks what wasmi's validation leaves to us: imports only host functions, one memory
/// within the page limit, a small table, bounded function and global counts.
fn scan_sections(code: &[u8]) -> Result<Shape, String> {
    use wasmparser::{Parser, Payload, TypeRef};
    let mut functions: u64 = 0;
    let mut memories = 0u32;
    let mut memory_pages = 0u32;
    for payload in Parser::new(0).parse_all(code) {
        match payload.map_err(|e| format!("{e}"))? {
            Payload::ImportSection(reader) => {
                for import in reader {
                    let import = import.map_err(|e| format!("{e}"))?;
                    if import.module != HOST_MODULE && import.module != AI_MODULE {
                        return Err(format!(
                            "imports `{}` from module `{}`; only `{HOST_MODULE}` and `{AI_MODULE}` are offered",
                            import.name, import.module
                        ));
                    }
                    match import.ty {
                        TypeRef::Func(_) => functions += 1,
                        _ => {
                            return Err(format!(
                                "imports `{}`, which is not a function; memory, tables and globals are the contract's own",
                                import.name
                            ))
                        }
                    }
                }
            }
            Payload::FunctionSection(reader) => functions += u64::from(reader.count()),
            Payload::TableSection(reader) => {
                if reader.count() > 1 {
                    return Err(format!("{} tables, at most 1", reader.count()));
                }
                for table in reader {
                    let table = table.map_err(|e| format!("{e}"))?;
                    let limit = u64::from(limits::TABLE_ELEMENTS);
                    if table.ty.initial > limit || table.ty.maximum.is_some_and(|m| m > limit) {
                        return Err(format!(
                            "a table of {} elements, at most {limit}",
                            table.ty.maximum.unwrap_or(table.ty.initial)
                        ));
                    }
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    let memory = memory.map_err(|e| format!("{e}"))?;
                    memories += 1;
                    let limit = u64::from(limits::MEMORY_PAGES);
                    if memory.initial > limit || memory.maximum.is_some_and(|m| m > limit) {
                        return Err(format!(
                            "memory of {} pages, at most {limit}",
                            memory.maximum.unwrap_or(memory.initial).max(memory.initial)
                        ));
                    }
                    memory_pages = memory.initial as u32;
                }
            }
            Payload::GlobalSection(reader) if reader.count() > limits::GLOBALS => {
                return Err(format!(
                    "{} globals, at most {}",
                    reader.count(),
                    limits::GLOBALS
                ));
            }
            Payload::StartSection { .. } => {
                return Err("a start function (code runs only through `deploy` and `call`)".into())
            }
            _ => {}
        }
    }
    if functions > u64::from(limits::FUNCTIONS) {
        return Err(format!(
            "{functions} functions, at most {}",
            limits::FUNCTIONS
        ));
    }
    if memories != 1 {
        return Err(format!(
            "{memories} memories; a contract defines exactly one"
        ));
    }
    Ok(Shape { memory_pages })
}

/// Why a host function stopped the contract.
#[derive(Debug)]
enum Halt {
    /// `return_value`: the contract is done.
    Return { flags: u32, data: Vec<u8> },
    /// `terminate`: the contract removed itself.
    Terminated,
    /// A host function refused (the contract traps with this error).
    Fail(Error, String),
}

impl core::fmt::Display for Halt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Halt::Return { flags, data } => {
                write!(f, "returned {} bytes (flags {flags})", data.len())
            }
            Halt::Terminated => f.write_str("terminated"),
            Halt::Fail(e, detail) => write!(f, "{e:?}: {detail}"),
        }
    }
}

impl wasmi::errors::HostError for Halt {}

/// What one top-level run shares across its nested calls.
pub(crate) struct Stack {
    /// The transaction's signer: pays storage deposits.
    origin: AccountId,
    engine: Engine,
    /// Contracts running, outermost first.
    contracts: Vec<AccountId>,
    /// Most net storage deposit the origin pays.
    deposit_limit: Option<Balance>,
    /// Deposit charged to the origin minus deposit refunded to it, so far.
    deposit_net: i128,
    /// Debug messages (dry runs only).
    debug: Option<String>,
    /// Events emitted (dry runs only).
    events: Option<Vec<ContractEvent>>,
}

impl Stack {
    fn new(
        origin: AccountId,
        engine: Engine,
        deposit_limit: Option<Balance>,
        dry_run: bool,
    ) -> Self {
        Stack {
            origin,
            engine,
            contracts: Vec::new(),
            deposit_limit,
            deposit_net: 0,
            debug: dry_run.then(String::new),
            events: dry_run.then(Vec::new),
        }
    }

    /// Holds the place of a stack lent to a nested call.
    fn placeholder(&self) -> Self {
        Stack::new(self.origin, self.engine.clone(), None, false)
    }
}

/// One contract call's host state.
pub(crate) struct Frame {
    stack: Stack,
    contract: AccountId,
    caller: AccountId,
    value: Balance,
    input: Vec<u8>,
    limits: StoreLimits,
}

impl Frame {
    fn new(
        stack: Stack,
        contract: AccountId,
        caller: AccountId,
        value: Balance,
        input: Vec<u8>,
    ) -> Self {
        Frame {
            stack,
            contract,
            caller,
            value,
            input,
            limits: StoreLimitsBuilder::new()
                .memory_size((u64::from(limits::MEMORY_PAGES) * PAGE) as usize)
                .table_elements(limits::TABLE_ELEMENTS as usize)
                .instances(1)
                .tables(1)
                .memories(1)
                .trap_on_grow_failure(true)
                .build(),
        }
    }
}

/// Runs `entry` of `contract` as the outermost call of a transaction (or dry run).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run<T: Config>(
    origin: &AccountId,
    contract: &AccountId,
    code_hash: H256,
    entry: Entry,
    value: Balance,
    fuel_limit: u64,
    deposit_limit: Option<Balance>,
    input: Vec<u8>,
    dry_run: bool,
) -> ExecOutcome {
    let stack = Stack::new(*origin, engine(), deposit_limit, dry_run);
    outermost::<T>(
        stack, contract, code_hash, entry, origin, value, input, fuel_limit,
    )
}

/// Runs `entry` of `contract` called by `caller` on behalf of `origin` (who pays storage
/// deposits), without value: a job's callback, which the chain makes.
pub(crate) fn run_as<T: Config>(
    origin: &AccountId,
    caller: &AccountId,
    contract: &AccountId,
    code_hash: H256,
    entry: Entry,
    fuel_limit: u64,
    input: Vec<u8>,
) -> ExecOutcome {
    let stack = Stack::new(*origin, engine(), None, false);
    outermost::<T>(
        stack, contract, code_hash, entry, caller, 0, input, fuel_limit,
    )
}

#[allow(clippy::too_many_arguments)]
fn outermost<T: Config>(
    stack: Stack,
    contract: &AccountId,
    code_hash: H256,
    entry: Entry,
    caller: &AccountId,
    value: Balance,
    input: Vec<u8>,
    fuel_limit: u64,
) -> ExecOutcome {
    let (stack, result, fuel_used) = run_frame::<T>(
        stack, contract, code_hash, entry, caller, value, input, fuel_limit,
    );
    let ok = matches!(&result, Ok(r) if !r.reverted);
    ExecOutcome {
        result,
        fuel_used,
        storage_deposit: stack.deposit_net,
        address: None,
        debug: stack.debug.unwrap_or_default(),
        events: if ok {
            stack.events.unwrap_or_default()
        } else {
            Vec::new()
        },
    }
}

/// Runs `contract` as if it were already running further up the stack (a reentered frame):
/// what a contract calling itself back sees, with its own error.
#[cfg(test)]
pub(crate) fn run_nested<T: Config>(
    origin: &AccountId,
    contract: &AccountId,
    code_hash: H256,
    input: Vec<u8>,
    fuel: u64,
) -> Result<ExecReturn, DispatchError> {
    let mut stack = Stack::new(*origin, engine(), None, false);
    stack.contracts.push(*contract);
    run_frame::<T>(
        stack,
        contract,
        code_hash,
        Entry::Call,
        contract,
        0,
        input,
        fuel,
    )
    .1
}

/// Runs one call in its own storage transaction: kept when it returns, undone when it
/// reverts or traps. Returns the stack back, the result, and the fuel used.
#[allow(clippy::too_many_arguments)]
fn run_frame<T: Config>(
    mut stack: Stack,
    contract: &AccountId,
    code_hash: H256,
    entry: Entry,
    caller: &AccountId,
    value: Balance,
    input: Vec<u8>,
    fuel: u64,
) -> (Stack, Result<ExecReturn, DispatchError>, u64) {
    io::storage::start_transaction();
    let deposit_before = stack.deposit_net;
    let events_before = stack.events.as_ref().map_or(0, Vec::len);
    stack.contracts.push(*contract);
    let (mut stack, result, used) = execute::<T>(
        stack, contract, code_hash, entry, caller, value, input, fuel,
    );
    stack.contracts.pop();
    if matches!(&result, Ok(r) if !r.reverted) {
        io::storage::commit_transaction();
    } else {
        io::storage::rollback_transaction();
        stack.deposit_net = deposit_before;
        if let Some(events) = stack.events.as_mut() {
            events.truncate(events_before);
        }
    }
    (stack, result, used)
}

#[allow(clippy::too_many_arguments)]
fn execute<T: Config>(
    stack: Stack,
    contract: &AccountId,
    code_hash: H256,
    entry: Entry,
    caller: &AccountId,
    value: Balance,
    input: Vec<u8>,
    fuel: u64,
) -> (Stack, Result<ExecReturn, DispatchError>, u64) {
    let Some(code) = Codes::get(&code_hash) else {
        return (stack, Err(error_with::<T>(Error::CodeNotFound, "")), 0);
    };
    let load = costs::CODE_LOAD
        .saturating_add(costs::CODE_LOAD_PER_BYTE.saturating_mul(code.len() as u64));
    if load > fuel {
        let detail = format!("loading {} bytes of code costs {load}", code.len());
        return (stack, Err(error_with::<T>(Error::OutOfFuel, &detail)), fuel);
    }
    let module = match Module::new(&stack.engine, &code[..]) {
        Ok(module) => module,
        // Accepted at upload; a runtime upgrade may have tightened the rules since.
        Err(e) => {
            return (
                stack,
                Err(error_with::<T>(Error::InvalidCode, &format!("{e}"))),
                fuel,
            )
        }
    };
    if matches!(entry, Entry::Migrate) && module.get_export("migrate").is_none() {
        return (stack, Ok(ExecReturn::empty()), load);
    }
    if value > 0 {
        if let Err(e) = pallet_balances::Pallet::<T>::transfer(caller, contract, value) {
            let detail = format!("{value} to {contract}: {e:?}");
            return (
                stack,
                Err(error_with::<T>(Error::TransferFailed, &detail)),
                load,
            );
        }
    }
    let engine = stack.engine.clone();
    let mut store = Store::new(&engine, Frame::new(stack, *contract, *caller, value, input));
    store.limiter(|frame| &mut frame.limits);
    let available = fuel - load;
    let outcome = store.set_fuel(available).and_then(|()| {
        let linker = host_functions::<T>(&engine)?;
        let instance = linker.instantiate_and_start(&mut store, &module)?;
        let func = instance.get_typed_func::<(), ()>(&store, entry.export())?;
        func.call(&mut store, ())
    });
    let remaining = store.get_fuel().unwrap_or(0).min(available);
    let stack = store.into_data().stack;
    let used = fuel - remaining;
    let err = match outcome {
        Ok(()) => return (stack, Ok(ExecReturn::empty()), used),
        Err(e) => e,
    };
    let failure = match err.downcast_ref::<Halt>() {
        Some(Halt::Return { flags, data }) => {
            let ret = ExecReturn {
                reverted: flags & REVERT == REVERT,
                data: data.clone(),
            };
            return (stack, Ok(ret), used);
        }
        Some(Halt::Terminated) => return (stack, Ok(ExecReturn::empty()), used),
        Some(Halt::Fail(e, detail)) => error_with::<T>(
            *e,
            &format!("contract {contract} in `{}`: {detail}", entry.export()),
        ),
        None => {
            let (kind, reason) = match err.as_trap_code() {
                Some(TrapCode::OutOfFuel) => (Error::OutOfFuel, err.to_string()),
                Some(TrapCode::StackOverflow) => (Error::StackOverflow, err.to_string()),
                Some(TrapCode::GrowthOperationLimited) => (
                    Error::MemoryLimit,
                    format!("memory may grow to {} pages", limits::MEMORY_PAGES),
                ),
                _ if matches!(err.kind(), ErrorKind::Memory(_)) => (
                    Error::MemoryLimit,
                    format!("{err}; memory may grow to {} pages", limits::MEMORY_PAGES),
                ),
                _ => (Error::ContractTrapped, err.to_string()),
            };
            error_with::<T>(
                kind,
                &format!("contract {contract} in `{}`: {reason}", entry.export()),
            )
        }
    };
    // A trap is charged the whole limit.
    (stack, Err(failure), fuel)
}

type HostResult<R> = Result<R, wasmi::Error>;

fn fail(e: Error, detail: impl Into<String>) -> wasmi::Error {
    wasmi::Error::host(Halt::Fail(e, detail.into()))
}

/// Names the host function a refusal came from, so the contract's trap says where.
fn in_host<R>(name: &str, result: HostResult<R>) -> HostResult<R> {
    result.map_err(|mut err| {
        if let Some(Halt::Fail(_, detail)) = err.downcast_mut::<Halt>() {
            *detail = format!("host function `{name}`: {detail}");
        }
        err
    })
}

/// Takes `fuel` from what the contract has left; running out traps as wasm would.
fn charge(caller: &mut Caller<'_, Frame>, fuel: u64) -> HostResult<()> {
    let left = caller.get_fuel()?;
    match left.checked_sub(fuel) {
        Some(rest) => caller.set_fuel(rest),
        None => {
            caller.set_fuel(0)?;
            Err(TrapCode::OutOfFuel.into())
        }
    }
}

fn memory(caller: &Caller<'_, Frame>) -> HostResult<Memory> {
    caller
        .get_export("memory")
        .and_then(Extern::into_memory)
        .ok_or_else(|| fail(Error::OutOfBounds, "the contract exports no memory"))
}

fn range(ptr: u32, len: u32) -> core::ops::Range<usize> {
    let start = ptr as usize;
    start..start.saturating_add(len as usize)
}

fn read(caller: &Caller<'_, Frame>, ptr: u32, len: u32) -> HostResult<Vec<u8>> {
    let memory = memory(caller)?;
    memory
        .data(caller)
        .get(range(ptr, len))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| fail(Error::OutOfBounds, format!("{len} bytes at {ptr}")))
}

fn read_array<const N: usize>(caller: &Caller<'_, Frame>, ptr: u32) -> HostResult<[u8; N]> {
    let bytes = read(caller, ptr, N as u32)?;
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes);
    Ok(out)
}

fn write(caller: &mut Caller<'_, Frame>, ptr: u32, data: &[u8]) -> HostResult<()> {
    let memory = memory(caller)?;
    let len = data.len() as u32;
    memory
        .data_mut(caller)
        .get_mut(range(ptr, len))
        .ok_or_else(|| fail(Error::OutOfBounds, format!("{len} bytes at {ptr}")))?
        .copy_from_slice(data);
    Ok(())
}

/// Writes variable-length output: `out_len_ptr` holds the buffer's capacity on entry and
/// the length written on return.
fn write_output(
    caller: &mut Caller<'_, Frame>,
    out_ptr: u32,
    out_len_ptr: u32,
    data: &[u8],
) -> HostResult<()> {
    let capacity = u32::from_le_bytes(read_array::<4>(caller, out_len_ptr)?);
    if data.len() > capacity as usize {
        return Err(fail(
            Error::OutputBufferTooSmall,
            format!("{} bytes for a buffer of {capacity}", data.len()),
        ));
    }
    charge(caller, costs::PER_BYTE.saturating_mul(data.len() as u64))?;
    write(caller, out_ptr, data)?;
    write(caller, out_len_ptr, &(data.len() as u32).to_le_bytes())
}

/// A storage item of `contract`.
pub(crate) fn read_item(contract: &AccountId, key: &[u8]) -> Option<StoredItem> {
    let raw = io::storage::get(&contract_key(contract, key))?;
    StoredItem::decode_all(&mut &raw[..]).ok()
}

/// Bytes an item counts for its deposit: its hashed key and its value.
fn item_bytes(value_len: usize) -> u64 {
    32 + value_len as u64
}

/// Writes (`Some`) or clears (`None`) one of the running contract's items, settling
/// deposits: the old item's goes back to whoever paid it, the new one's is held from the
/// origin within the call's deposit limit. Returns the old value's length.
fn write_item<T: Config>(
    stack: &mut Stack,
    contract: &AccountId,
    key: &[u8],
    value: Option<Vec<u8>>,
) -> HostResult<Option<u32>> {
    let raw_key = contract_key(contract, key);
    let old = io::storage::get(&raw_key).and_then(|raw| StoredItem::decode_all(&mut &raw[..]).ok());
    let mut info = Contracts::get(contract)
        .ok_or_else(|| fail(Error::ContractNotFound, format!("{contract}")))?;
    if let Some(old) = &old {
        info.items = info.items.saturating_sub(1);
        info.bytes = info.bytes.saturating_sub(item_bytes(old.value.len()));
        info.storage_deposit = info.storage_deposit.saturating_sub(old.deposit);
        Pallet::<T>::refund(&old.depositor, old.deposit);
        if old.depositor == stack.origin {
            stack.deposit_net = stack.deposit_net.saturating_sub(old.deposit as i128);
        }
    }
    match value {
        Some(value) => {
            let bytes = item_bytes(value.len());
            let deposit = T::ITEM_DEPOSIT
                .saturating_add(T::BYTE_DEPOSIT.saturating_mul(Balance::from(bytes)));
            stack.deposit_net = stack.deposit_net.saturating_add(deposit as i128);
            if let Some(limit) = stack.deposit_limit {
                if stack.deposit_net > limit as i128 {
                    return Err(fail(
                        Error::StorageDepositLimitExhausted,
                        format!(
                            "the call's net deposit would be {}, its limit {limit}",
                            stack.deposit_net
                        ),
                    ));
                }
            }
            pallet_balances::Pallet::<T>::hold(&stack.origin, deposit).map_err(|e| {
                fail(
                    Error::InsufficientBalance,
                    format!("{} cannot hold a deposit of {deposit}: {e:?}", stack.origin),
                )
            })?;
            TotalHeld::mutate(|h| *h = h.saturating_add(deposit));
            io::storage::set(
                &raw_key,
                &StoredItem {
                    depositor: stack.origin,
                    deposit,
                    value,
                }
                .encode(),
            );
            info.items = info.items.saturating_add(1);
            info.bytes = info.bytes.saturating_add(bytes);
            info.storage_deposit = info.storage_deposit.saturating_add(deposit);
        }
        None => io::storage::clear(&raw_key),
    }
    Contracts::insert(contract, &info);
    Ok(old.map(|o| o.value.len() as u32))
}

/// Removes the running contract: its items (deposits back to their payers), its record
/// (deposit back to the deployer), its code reference; its balance goes to `beneficiary`.
fn terminate<T: Config>(
    stack: &mut Stack,
    contract: &AccountId,
    beneficiary: &AccountId,
) -> HostResult<()> {
    let info = Contracts::get(contract)
        .ok_or_else(|| fail(Error::ContractNotFound, format!("{contract}")))?;
    let prefix = contract_prefix(contract);
    let mut cursor = prefix.clone();
    while let Some(key) = io::storage::next_key(&cursor) {
        if !key.starts_with(&prefix) {
            break;
        }
        if let Some(item) =
            io::storage::get(&key).and_then(|raw| StoredItem::decode_all(&mut &raw[..]).ok())
        {
            Pallet::<T>::refund(&item.depositor, item.deposit);
            if item.depositor == stack.origin {
                stack.deposit_net = stack.deposit_net.saturating_sub(item.deposit as i128);
            }
        }
        io::storage::clear(&key);
        cursor = key;
    }
    Pallet::<T>::refund(&info.deployer, info.base_deposit);
    if let Some(mut code) = CodeInfoOf::get(&info.code_hash) {
        code.refcount = code.refcount.saturating_sub(1);
        CodeInfoOf::insert(&info.code_hash, &code);
    }
    Contracts::remove(contract);
    let balance = pallet_balances::Pallet::<T>::free_balance(contract);
    if balance > 0 {
        pallet_balances::Pallet::<T>::transfer(contract, beneficiary, balance).map_err(|e| {
            fail(
                Error::TransferFailed,
                format!("{balance} to {beneficiary}: {e:?}"),
            )
        })?;
    }
    Pallet::<T>::deposit_event(Event::Terminated {
        contract: *contract,
        beneficiary: *beneficiary,
    });
    Ok(())
}

/// The host functions of `menara_v1`. Each body runs in a closure called on the spot, so
/// its early returns pass through [`in_host`] too and every refusal names its function.
#[allow(clippy::redundant_closure_call)]
fn host_functions<T: Config>(engine: &Engine) -> HostResult<Linker<Frame>> {
    let mut linker = Linker::<Frame>::new(engine);
    let m = HOST_MODULE;
    linker.func_wrap(
        m,
        "input",
        |mut caller: Caller<'_, Frame>, out_ptr: u32, out_len_ptr: u32| -> HostResult<()> {
            in_host(
                "input",
                (|| {
                    charge(&mut caller, costs::HOST_CALL)?;
                    let input = core::mem::take(&mut caller.data_mut().input);
                    let written = write_output(&mut caller, out_ptr, out_len_ptr, &input);
                    caller.data_mut().input = input;
                    written
                })(),
            )
        },
    )?;
    linker.func_wrap(
        m,
        "return_value",
        |mut caller: Caller<'_, Frame>, flags: u32, ptr: u32, len: u32| -> HostResult<()> {
            in_host(
                "return_value",
                (|| {
                    if len > limits::INPUT_LEN {
                        return Err(fail(Error::InputTooLarge, format!("output of {len} bytes")));
                    }
                    charge(
                        &mut caller,
                        costs::HOST_CALL + costs::PER_BYTE * u64::from(len),
                    )?;
                    let data = read(&caller, ptr, len)?;
                    Err(wasmi::Error::host(Halt::Return { flags, data }))
                })(),
            )
        },
    )?;
    linker.func_wrap(
        m,
        "storage_get",
        |mut caller: Caller<'_, Frame>,
         key_ptr: u32,
         key_len: u32,
         out_ptr: u32,
         out_len_ptr: u32|
         -> HostResult<u32> {
            in_host(
                "storage_get",
                (|| {
                    let key = storage_key(&mut caller, key_ptr, key_len, costs::STORAGE_READ)?;
                    match read_item(&caller.data().contract, &key) {
                        Some(item) => {
                            write_output(&mut caller, out_ptr, out_len_ptr, &item.value)?;
                            Ok(code::SUCCESS)
                        }
                        None => Ok(code::KEY_NOT_FOUND),
                    }
                })(),
            )
        },
    )?;
    linker.func_wrap(
        m,
        "storage_contains",
        |mut caller: Caller<'_, Frame>, key_ptr: u32, key_len: u32| -> HostResult<u32> {
            in_host(
                "storage_contains",
                (|| {
                    let key = storage_key(&mut caller, key_ptr, key_len, costs::STORAGE_READ)?;
                    Ok(read_item(&caller.data().contract, &key)
                        .map_or(code::NO_VALUE, |item| item.value.len() as u32))
                })(),
            )
        },
    )?;
    linker.func_wrap(
        m,
        "storage_set",
        |mut caller: Caller<'_, Frame>,
         key_ptr: u32,
         key_len: u32,
         value_ptr: u32,
         value_len: u32|
         -> HostResult<u32> {
            in_host(
                "storage_set",
                (|| {
                    if value_len > limits::VALUE_LEN {
                        return Err(fail(
                            Error::ValueTooLarge,
                            format!("{value_len} bytes, at most {}", limits::VALUE_LEN),
                        ));
                    }
                    let cost = costs::STORAGE_WRITE
                        + (costs::PER_BYTE + costs::STORAGE_WRITE_PER_BYTE) * u64::from(value_len);
                    let key = storage_key(&mut caller, key_ptr, key_len, cost)?;
                    let value = read(&caller, value_ptr, value_len)?;
                    let frame = caller.data_mut();
                    let contract = frame.contract;
                    Ok(
                        write_item::<T>(&mut frame.stack, &contract, &key, Some(value))?
                            .unwrap_or(code::NO_VALUE),
                    )
                })(),
            )
        },
    )?;
    linker.func_wrap(
        m,
        "storage_clear",
        |mut caller: Caller<'_, Frame>, key_ptr: u32, key_len: u32| -> HostResult<u32> {
            in_host(
                "storage_clear",
                (|| {
                    let key = storage_key(&mut caller, key_ptr, key_len, costs::STORAGE_WRITE)?;
                    let frame = caller.data_mut();
                    let contract = frame.contract;
                    Ok(write_item::<T>(&mut frame.stack, &contract, &key, None)?
                        .unwrap_or(code::NO_VALUE))
                })(),
            )
        },
    )?;
    for (name, which) in [("caller", 0u8), ("origin", 1), ("address", 2)] {
        linker.func_wrap(
            m,
            name,
            move |mut caller: Caller<'_, Frame>, out_ptr: u32| -> HostResult<()> {
                in_host(
                    name,
                    (|| {
                        charge(&mut caller, costs::HOST_CALL + 32)?;
                        let frame = caller.data();
                        let account = match which {
                            0 => frame.caller,
                            1 => frame.stack.origin,
                            _ => frame.contract,
                        };
                        write(&mut caller, out_ptr, &account.0)
                    })(),
                )
            },
        )?;
    }
    linker.func_wrap(
        m,
        "value_transferred",
        |mut caller: Caller<'_, Frame>, out_ptr: u32| -> HostResult<()> {
            in_host(
                "value_transferred",
                (|| {
                    charge(&mut caller, costs::HOST_CALL + 16)?;
                    let value = caller.data().value;
                    write(&mut caller, out_ptr, &value.to_le_bytes())
                })(),
            )
        },
    )?;
    linker.func_wrap(
        m,
        "balance",
        |mut caller: Caller<'_, Frame>, out_ptr: u32| -> HostResult<()> {
            in_host(
                "balance",
                (|| {
                    charge(&mut caller, costs::HOST_CALL + costs::STORAGE_READ)?;
                    let balance =
                        pallet_balances::Pallet::<T>::free_balance(&caller.data().contract);
                    write(&mut caller, out_ptr, &balance.to_le_bytes())
                })(),
            )
        },
    )?;
    linker.func_wrap(
        m,
        "block_number",
        |mut caller: Caller<'_, Frame>| -> HostResult<u64> {
            in_host(
                "block_number",
                (|| {
                    charge(&mut caller, costs::HOST_CALL)?;
                    Ok(pallet_system::Pallet::<T>::block_number())
                })(),
            )
        },
    )?;
    linker.func_wrap(
        m,
        "transfer",
        |mut caller: Caller<'_, Frame>, to_ptr: u32, value_ptr: u32| -> HostResult<u32> {
            in_host(
                "transfer",
                (|| {
                    charge(&mut caller, costs::HOST_CALL + costs::TRANSFER + 48)?;
                    let to = AccountId(read_array::<32>(&caller, to_ptr)?);
                    let value = u128::from_le_bytes(read_array::<16>(&caller, value_ptr)?);
                    let from = caller.data().contract;
                    Ok(
                        match pallet_balances::Pallet::<T>::transfer(&from, &to, value) {
                            Ok(()) => code::SUCCESS,
                            Err(_) => code::TRANSFER_FAILED,
                        },
                    )
                })(),
            )
        },
    )?;
    linker.func_wrap(
        m,
        "call",
        |mut caller: Caller<'_, Frame>,
         callee_ptr: u32,
         value_ptr: u32,
         input_ptr: u32,
         input_len: u32,
         fuel_limit: u64,
         out_ptr: u32,
         out_len_ptr: u32|
         -> HostResult<u32> {
            in_host(
                "call",
                (|| {
                    call_contract::<T>(
                        &mut caller,
                        callee_ptr,
                        value_ptr,
                        input_ptr,
                        input_len,
                        fuel_limit,
                        out_ptr,
                        out_len_ptr,
                    )
                })(),
            )
        },
    )?;
    linker.func_wrap(
        m,
        "deposit_event",
        |mut caller: Caller<'_, Frame>,
         topics_ptr: u32,
         topic_count: u32,
         data_ptr: u32,
         data_len: u32|
         -> HostResult<()> {
            in_host(
                "deposit_event",
                (|| {
                    if topic_count > limits::EVENT_TOPICS || data_len > limits::EVENT_DATA_LEN {
                        return Err(fail(
                            Error::EventTooLarge,
                            format!(
                    "{topic_count} topics and {data_len} bytes; at most {} topics and {} bytes",
                    limits::EVENT_TOPICS,
                    limits::EVENT_DATA_LEN
                ),
                        ));
                    }
                    let bytes = u64::from(topic_count) * 32 + u64::from(data_len);
                    charge(
                        &mut caller,
                        costs::HOST_CALL + costs::EVENT + costs::EVENT_PER_BYTE * bytes,
                    )?;
                    let raw_topics = read(&caller, topics_ptr, topic_count * 32)?;
                    let topics: Vec<H256> = raw_topics
                        .chunks_exact(32)
                        .map(|c| {
                            let mut t = [0u8; 32];
                            t.copy_from_slice(c);
                            H256(t)
                        })
                        .collect();
                    let data = read(&caller, data_ptr, data_len)?;
                    let frame = caller.data_mut();
                    if let Some(events) = frame.stack.events.as_mut() {
                        events.push(ContractEvent {
                            contract: frame.contract,
                            topics: topics.clone(),
                            data: data.clone(),
                        });
                    }
                    Pallet::<T>::deposit_event(Event::ContractEmitted {
                        contract: frame.contract,
                        topics,
                        data,
                    });
                    Ok(())
                })(),
            )
        },
    )?;
    linker.func_wrap(
        m,
        "hash_blake3",
        |mut caller: Caller<'_, Frame>, in_ptr: u32, in_len: u32, out_ptr: u32| -> HostResult<()> {
            charge(
                &mut caller,
                costs::HOST_CALL + costs::HASH + costs::PER_BYTE * u64::from(in_len),
            )?;
            let data = read(&caller, in_ptr, in_len)?;
            write(&mut caller, out_ptr, &io::hashing::blake3_256(&data))
        },
    )?;
    linker.func_wrap(
        m,
        "debug_message",
        |mut caller: Caller<'_, Frame>, ptr: u32, len: u32| -> HostResult<()> {
            in_host(
                "debug_message",
                (|| {
                    charge(
                        &mut caller,
                        costs::HOST_CALL + costs::PER_BYTE * u64::from(len),
                    )?;
                    if caller.data().stack.debug.is_none() {
                        return Ok(());
                    }
                    let bytes = read(&caller, ptr, len.min(limits::DEBUG_LEN as u32))?;
                    let text = String::from_utf8_lossy(&bytes).to_string();
                    if let Some(debug) = caller.data_mut().stack.debug.as_mut() {
                        if debug.len() + text.len() < limits::DEBUG_LEN {
                            debug.push_str(&text);
                            debug.push('\n');
                        }
                    }
                    Ok(())
                })(),
            )
        },
    )?;
    linker.func_wrap(
        m,
        "terminate",
        |mut caller: Caller<'_, Frame>, beneficiary_ptr: u32| -> HostResult<()> {
            in_host(
                "terminate",
                (|| {
                    charge(&mut caller, costs::HOST_CALL + 32)?;
                    let beneficiary = AccountId(read_array::<32>(&caller, beneficiary_ptr)?);
                    let contract = caller.data().contract;
                    let running = caller
                        .data()
                        .stack
                        .contracts
                        .iter()
                        .filter(|c| **c == contract)
                        .count();
                    if running > 1 {
                        return Err(fail(
                            Error::TerminatedWhileReentrant,
                            format!("{contract} runs {running} times"),
                        ));
                    }
                    let items = Contracts::get(&contract).map_or(0, |info| info.items);
                    charge(
                        &mut caller,
                        costs::TERMINATE_PER_ITEM.saturating_mul(u64::from(items)),
                    )?;
                    terminate::<T>(&mut caller.data_mut().stack, &contract, &beneficiary)?;
                    Err(wasmi::Error::host(Halt::Terminated))
                })(),
            )
        },
    )?;
    ai_functions::<T>(&mut linker)?;
    Ok(linker)
}

/// The host functions of `menara_ai_v1`: models, inference jobs (paid from the contract's
/// balance, with a callback when they end) and compute leases.
#[allow(clippy::redundant_closure_call)]
fn ai_functions<T: Config>(linker: &mut Linker<Frame>) -> HostResult<()> {
    use menara_contract_abi::AiRequest;
    let m = AI_MODULE;
    linker.func_wrap(
        m,
        "model",
        |mut caller: Caller<'_, Frame>, id_ptr: u32, out_ptr: u32, out_len_ptr: u32| {
            in_host(
                "model",
                (|| {
                    let id = read_array::<32>(&caller, id_ptr)?;
                    write_record(&mut caller, out_ptr, out_len_ptr, || T::Ai::model(id))
                })(),
            )
        },
    )?;
    linker.func_wrap(
        m,
        "submit",
        |mut caller: Caller<'_, Frame>,
         request_ptr: u32,
         request_len: u32,
         job_out_ptr: u32|
         -> HostResult<u32> {
            in_host(
                "submit",
                (|| {
                    if request_len > limits::INPUT_LEN {
                        return Err(fail(
                            Error::InputTooLarge,
                            format!("a request of {request_len} bytes"),
                        ));
                    }
                    charge(
                        &mut caller,
                        costs::HOST_CALL
                            + costs::SUBMIT_JOB
                            + costs::PER_BYTE * u64::from(request_len),
                    )?;
                    let raw = read(&caller, request_ptr, request_len)?;
                    let request = AiRequest::decode_all(&mut &raw[..])
                        .map_err(|e| fail(Error::InvalidRequest, format!("{e}")))?;
                    let contract = caller.data().contract;
                    let job = T::Ai::submit(&contract, &request)
                        .map_err(|e| fail(Error::JobRefused, e.message))?;
                    if let Some(callback) = request.callback {
                        Pallet::<T>::register_callback(&contract, job, callback)
                            .map_err(|(e, detail)| fail(e, detail))?;
                    }
                    Pallet::<T>::deposit_event(Event::JobSubmitted {
                        contract,
                        job,
                        callback: request.callback.is_some(),
                    });
                    write(&mut caller, job_out_ptr, &job.to_le_bytes())?;
                    Ok(code::SUCCESS)
                })(),
            )
        },
    )?;
    linker.func_wrap(
        m,
        "job",
        |mut caller: Caller<'_, Frame>, id: u64, out_ptr: u32, out_len_ptr: u32| {
            in_host(
                "job",
                write_record(&mut caller, out_ptr, out_len_ptr, || T::Ai::job(id)),
            )
        },
    )?;
    linker.func_wrap(
        m,
        "lease",
        |mut caller: Caller<'_, Frame>, id: u64, out_ptr: u32, out_len_ptr: u32| {
            in_host(
                "lease",
                write_record(&mut caller, out_ptr, out_len_ptr, || T::Ai::lease(id)),
            )
        },
    )?;
    Ok(())
}

/// An AI record for the contract: charged as two storage reads, written to its buffer when
/// `read` finds one (0), else "not found" (3).
fn write_record<R: Encode>(
    caller: &mut Caller<'_, Frame>,
    out_ptr: u32,
    out_len_ptr: u32,
    read: impl FnOnce() -> Option<R>,
) -> HostResult<u32> {
    charge(caller, costs::HOST_CALL + 2 * costs::STORAGE_READ)?;
    match read() {
        Some(record) => {
            write_output(caller, out_ptr, out_len_ptr, &record.encode())?;
            Ok(code::SUCCESS)
        }
        None => Ok(code::KEY_NOT_FOUND),
    }
}

/// Reads a storage key after checking its length and charging `cost` plus its bytes.
fn storage_key(
    caller: &mut Caller<'_, Frame>,
    ptr: u32,
    len: u32,
    cost: u64,
) -> HostResult<Vec<u8>> {
    if len > limits::KEY_LEN {
        return Err(fail(
            Error::KeyTooLong,
            format!("{len} bytes, at most {}", limits::KEY_LEN),
        ));
    }
    charge(
        caller,
        costs::HOST_CALL + cost + costs::PER_BYTE * u64::from(len),
    )?;
    read(caller, ptr, len)
}

/// The host function `call`: runs another contract with part of the caller's fuel.
#[allow(clippy::too_many_arguments)]
fn call_contract<T: Config>(
    caller: &mut Caller<'_, Frame>,
    callee_ptr: u32,
    value_ptr: u32,
    input_ptr: u32,
    input_len: u32,
    fuel_limit: u64,
    out_ptr: u32,
    out_len_ptr: u32,
) -> HostResult<u32> {
    if input_len > limits::INPUT_LEN {
        return Err(fail(
            Error::InputTooLarge,
            format!("call input of {input_len} bytes"),
        ));
    }
    charge(
        caller,
        costs::HOST_CALL + costs::CALL + costs::PER_BYTE * (48 + u64::from(input_len)),
    )?;
    let callee = AccountId(read_array::<32>(caller, callee_ptr)?);
    let value = u128::from_le_bytes(read_array::<16>(caller, value_ptr)?);
    let input = read(caller, input_ptr, input_len)?;
    let depth = caller.data().stack.contracts.len() as u32;
    if depth >= limits::CALL_DEPTH {
        return Err(fail(
            Error::MaxCallDepth,
            format!("calling {callee} at depth {}", depth + 1),
        ));
    }
    let Some(info) = Contracts::get(&callee) else {
        return Ok(code::NOT_A_CONTRACT);
    };
    if caller.data().stack.contracts.contains(&callee) {
        let reentrant = CodeInfoOf::get(&info.code_hash).is_some_and(|c: CodeInfo| c.reentrant);
        if !reentrant {
            return Err(fail(
                Error::ReentranceDenied,
                format!("{callee} is running already and does not export `allow_reentry`"),
            ));
        }
    }
    let available = caller.get_fuel()?;
    // The callee gets at most 63/64 of what is left (as in the EVM), so a caller whose
    // callee traps, which burns all the fuel it was given, can still handle the failure.
    let most = available - available / 64;
    let limit = if fuel_limit == 0 {
        most
    } else {
        fuel_limit.min(most)
    };
    let me = caller.data().contract;
    let lent = {
        let stack = &mut caller.data_mut().stack;
        let placeholder = stack.placeholder();
        core::mem::replace(stack, placeholder)
    };
    let (stack, result, used) = run_frame::<T>(
        lent,
        &callee,
        info.code_hash,
        Entry::Call,
        &me,
        value,
        input,
        limit,
    );
    caller.data_mut().stack = stack;
    caller.set_fuel(available.saturating_sub(used))?;
    match result {
        Ok(ret) => {
            write_output(caller, out_ptr, out_len_ptr, &ret.data)?;
            Ok(if ret.reverted {
                code::CALLEE_REVERTED
            } else {
                code::SUCCESS
            })
        }
        Err(e)
            if e.error == Error::TransferFailed as u8
                && e.pallet == <T as Config>::PALLET_INDEX =>
        {
            Ok(code::TRANSFER_FAILED)
        }
        Err(_) => Ok(code::CALLEE_TRAPPED),
    }
}
