//! Contract fuel is deterministic: the same call on the same state gives the same outcome
//! and uses the same fuel in the wasm runtime (what the chain runs) and in the native build
//! of the runtime, for the SDK's example token and for a hand-written contract doing loops,
//! storage writes, traps and memory growth.
#![allow(clippy::unwrap_used)]
use menara_chain_spec::keyring;
use menara_executor::{Executor, ExecutorConfig};
use menara_primitives::AccountId;
use menara_runtime::api::ContractsCallArgs;
use menara_runtime::{pallet_contracts, Runtime, WASM_BINARY};
use menara_state_machine::InMemoryState;
use pallet_contracts::ExecOutcome;
use parity_scale_codec::{Decode, Encode};
use proptest::prelude::*;
use std::sync::{Arc, OnceLock};

#[path = "fixture/chain.rs"]
mod chain;
use chain::{apply, build_token, context, genesis, instantiate, query_native, query_wasm, GENESIS};

/// A contract whose `call` reads a `u32` n and a mode byte: 0 loops n times, 1 writes an
/// item of n bytes (n ≤ 16 KiB), 2 grows memory n pages, 3 loops n times then traps.
fn looper() -> Vec<u8> {
    wat::parse_str(
        r#"(module
  (import "menara_v1" "input" (func $input (param i32 i32)))
  (import "menara_v1" "storage_set" (func $set (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "deploy"))
  (func (export "call") (local $n i32) (local $mode i32)
    (i32.store (i32.const 0) (i32.const 5))
    (call $input (i32.const 16) (i32.const 0))
    (local.set $n (i32.load (i32.const 16)))
    (local.set $mode (i32.load8_u (i32.const 20)))
    (if (i32.eq (local.get $mode) (i32.const 1)) (then
      (drop (call $set (i32.const 16) (i32.const 4) (i32.const 1024) (local.get $n)))
      (return)))
    (if (i32.eq (local.get $mode) (i32.const 2)) (then
      (drop (memory.grow (local.get $n)))
      (return)))
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (if (i32.eq (local.get $mode) (i32.const 3)) (then unreachable))))"#,
    )
    .unwrap()
}

struct Fixture {
    exec: Executor,
    state: Arc<InMemoryState>,
    token: AccountId,
    token_metadata: menara_contract::metadata::Metadata,
    looper: AccountId,
}

/// A chain with the token and the looper deployed by //Alice (built once per test run).
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let exec = Executor::new(ExecutorConfig::default()).unwrap();
        let code = WASM_BINARY.unwrap();
        let alice = keyring::dev_signing_key("Alice");
        let alice_id = keyring::account_of(&alice);
        let state = genesis(&exec, code, &[alice_id]);

        let built = build_token();
        let token_code = std::fs::read(&built.wasm_path).unwrap();
        let deploy = |code, input| instantiate(code, input, 10_000_000);
        let input = built
            .metadata
            .encode_constructor_input("new", &["1000000"])
            .unwrap();
        let txs: Vec<Vec<u8>> = [deploy(token_code, input), deploy(looper(), Vec::new())]
            .into_iter()
            .enumerate()
            .map(|(nonce, call)| keyring::sign(&alice, &GENESIS, nonce as u64, 0, call).encode())
            .collect();
        let state = apply(&exec, code, Arc::new(state), &context(1), &txs);
        let address = |code: &[u8]| {
            pallet_contracts::Pallet::<Runtime>::contract_address(
                &alice_id,
                &menara_primitives::blake3_256(code),
                &[],
            )
        };
        Fixture {
            token: address(&std::fs::read(&built.wasm_path).unwrap()),
            looper: address(&looper()),
            token_metadata: built.metadata,
            exec,
            state: Arc::new(state),
        }
    })
}

/// The `contracts_call` dry run in the wasm runtime and natively.
fn both(args: &ContractsCallArgs) -> (ExecOutcome, ExecOutcome) {
    let f = fixture();
    let args = args.encode();
    let wasm = query_wasm(
        &f.exec,
        WASM_BINARY.unwrap(),
        f.state.clone(),
        b"contracts_call",
        &args,
    );
    let native = query_native(&f.state, b"contracts_call", &args);
    (
        ExecOutcome::decode(&mut &wasm[..]).unwrap(),
        ExecOutcome::decode(&mut &native[..]).unwrap(),
    )
}

fn args(contract: AccountId, input: Vec<u8>, fuel_limit: Option<u64>) -> ContractsCallArgs {
    ContractsCallArgs {
        origin: keyring::dev_account("Alice"),
        contract,
        value: 0,
        fuel_limit,
        storage_deposit_limit: None,
        input,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_looper_uses_the_same_fuel_in_wasm_and_natively(
        n in 0u32..200_000,
        mode in 0u8..4,
        fuel in prop::option::of(200_000u64..3_000_000),
    ) {
        let n = if mode == 1 { n % 16_385 } else if mode == 2 { n % 20 } else { n };
        let mut input = n.to_le_bytes().to_vec();
        input.push(mode);
        let (wasm, native) = both(&args(fixture().looper, input, fuel));
        prop_assert_eq!(&wasm, &native);
        // Running out of fuel or trapping charges the whole limit.
        if let Err(e) = &wasm.result {
            prop_assert!(
                ["OutOfFuel", "ContractTrapped", "MemoryLimit"].iter().any(|p| e.message.starts_with(p)),
                "{}",
                e.message
            );
            let limit = fuel.unwrap_or(<Runtime as pallet_contracts::Config>::MAX_FUEL_PER_CALL);
            prop_assert_eq!(wasm.fuel_used, limit);
        }
    }

    #[test]
    fn token_transfers_use_the_same_fuel_in_wasm_and_natively(
        amount in 0u128..2_000_000,
        to in 0u8..4,
    ) {
        let f = fixture();
        let to = keyring::dev_account(["Bob", "Charlie", "Dave", "Alice"][to as usize]);
        let input = f
            .token_metadata
            .encode_message_input("transfer", &[&to.to_string(), &amount.to_string()])
            .unwrap();
        let (wasm, native) = both(&args(f.token, input, None));
        prop_assert_eq!(&wasm, &native);
        let reverted = matches!(&wasm.result, Ok(r) if r.reverted);
        prop_assert_eq!(reverted, amount > 1_000_000, "{:?}", wasm.result);
    }
}
