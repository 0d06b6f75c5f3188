//! What contracts cost, in the wasm runtime as the chain runs them, measured in one run so
//! the ratios hold on a noisy machine. Run: `cargo bench -p menara-executor --bench contracts`.
//!
//! * `token_transfer_vs_native`: a block of 1,000 signed native transfers against a block
//!   of 1,000 signed calls of the SDK's example token (`sdk/examples/token`, built here
//!   with the SDK's build), each moving tokens to a new holder.
//! * `interpreter`: a dry run of a contract that counts down a loop of 1,000,000 turns,
//!   in the wasm runtime and natively; the fuel it uses is printed, so fuel per second is
//!   fuel used / time.
//! * `deploy_50kb`: a block with one transaction that uploads and instantiates a 50 KB
//!   contract; its fee, deposit and fuel are printed.
#![allow(clippy::unwrap_used)]
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use menara_chain_spec::keyring;
use menara_executor::{Executor, ExecutorConfig};
use menara_primitives::{H256, MEN};
use menara_runtime::{pallet_contracts, Runtime, RuntimeCall, WASM_BINARY};
use parity_scale_codec::{Decode, Encode};
use std::sync::Arc;

#[path = "../tests/fixture/chain.rs"]
mod chain;
use chain::{apply, build_token, context, genesis, instantiate, query_native, query_wasm, GENESIS};

const CALLS: u64 = 1_000;
const FUEL: u64 = 20_000_000;

fn token_transfer_vs_native(c: &mut Criterion) {
    let exec = Executor::new(ExecutorConfig::default()).unwrap();
    let code = WASM_BINARY.unwrap();
    let alice = keyring::dev_signing_key("Alice");
    let alice_id = keyring::account_of(&alice);
    let state = genesis(&exec, code, &[alice_id]);

    let built = build_token();
    let wasm = std::fs::read(&built.wasm_path).unwrap();
    let deploy_input = built
        .metadata
        .encode_constructor_input("new", &["1000000000000"])
        .unwrap();
    let deploy = keyring::sign(
        &alice,
        &GENESIS,
        0,
        0,
        instantiate(wasm, deploy_input, FUEL),
    )
    .encode();
    let state = Arc::new(apply(&exec, code, Arc::new(state), &context(1), &[deploy]));
    let token = pallet_contracts::Pallet::<Runtime>::contract_address(
        &alice_id,
        &H256(built.code_hash),
        &[],
    );

    let holder = |n: u64| keyring::dev_account(&format!("user{n}"));
    // Each call asks for the fuel a transfer to a new holder uses (a dry run), plus 10%; as
    // many calls as fit one block's fuel (at most 1,000), and as many native transfers.
    let probe = menara_runtime::api::ContractsCallArgs {
        origin: alice_id,
        contract: token,
        value: 0,
        fuel_limit: None,
        storage_deposit_limit: None,
        input: built
            .metadata
            .encode_message_input("transfer", &[&holder(1).to_string(), "1000"])
            .unwrap(),
    };
    let probe = pallet_contracts::ExecOutcome::decode(
        &mut &query_native(&state, b"contracts_call", &probe.encode())[..],
    )
    .unwrap();
    let fuel_limit = probe.fuel_used + probe.fuel_used / 10;
    let per_block = <Runtime as pallet_contracts::Config>::MAX_FUEL_PER_BLOCK / fuel_limit;
    let calls = CALLS.min(per_block);
    let natives: Vec<Vec<u8>> = (0..calls)
        .map(|n| {
            let call = RuntimeCall::Balances(pallet_balances::Call::Transfer {
                dest: holder(n),
                value: MEN.into(),
            });
            keyring::sign(&alice, &GENESIS, n + 1, 0, call).encode()
        })
        .collect();
    let token_calls: Vec<Vec<u8>> = (0..calls)
        .map(|n| {
            let input = built
                .metadata
                .encode_message_input("transfer", &[&holder(n).to_string(), "1000"])
                .unwrap();
            let call = RuntimeCall::Contracts(pallet_contracts::Call::Call {
                contract: token,
                value: 0.into(),
                fuel_limit,
                storage_deposit_limit: None,
                input,
            });
            keyring::sign(&alice, &GENESIS, n + 1, 0, call).encode()
        })
        .collect();
    // The token calls really move tokens before they are timed.
    let ctx = context(2);
    let after = apply(&exec, code, state.clone(), &ctx, &token_calls);
    let balance_of = built
        .metadata
        .encode_message_input("balance_of", &[&holder(7).to_string()])
        .unwrap();
    let args = menara_runtime::api::ContractsCallArgs {
        origin: alice_id,
        contract: token,
        value: 0,
        fuel_limit: None,
        storage_deposit_limit: None,
        input: balance_of,
    };
    let outcome = pallet_contracts::ExecOutcome::decode(
        &mut &query_native(&after, b"contracts_call", &args.encode())[..],
    )
    .unwrap();
    assert_eq!(outcome.result.unwrap().data, 1000u128.encode());
    // What one transfer uses and pays.
    let one = pallet_contracts::ExecOutcome::decode(
        &mut &query_native(
            &state,
            b"contracts_call",
            &menara_runtime::api::ContractsCallArgs {
                input: built
                    .metadata
                    .encode_message_input("transfer", &[&holder(1).to_string(), "1000"])
                    .unwrap(),
                ..args.clone()
            }
            .encode(),
        )[..],
    )
    .unwrap();
    eprintln!(
        "token: {} bytes of code; one transfer uses {} fuel; native transfer fee {} vs token transfer fee {} (before the unused fuel is refunded), base units",
        built.size,
        one.fuel_used,
        u128::decode(&mut &query_native(&state, b"fee", &natives[0])[..]).unwrap(),
        u128::decode(&mut &query_native(&state, b"fee", &token_calls[0])[..]).unwrap(),
    );

    eprintln!("token: {calls} calls of {fuel_limit} fuel fit one block");
    let mut group = c.benchmark_group("token_transfer_vs_native");
    group.throughput(Throughput::Elements(calls));
    group.sample_size(10);
    for (name, block) in [
        ("native_transfer", &natives),
        ("token_transfer", &token_calls),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || state.clone(),
                |state| apply(&exec, code, state, &ctx, block),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// A contract whose `call` counts down from the `u32` in its input.
fn counter() -> Vec<u8> {
    wat::parse_str(
        r#"(module
  (import "menara_v1" "input" (func $input (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "deploy"))
  (func (export "call") (local $n i32)
    (i32.store (i32.const 0) (i32.const 4))
    (call $input (i32.const 16) (i32.const 0))
    (local.set $n (i32.load (i32.const 16)))
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))))"#,
    )
    .unwrap()
}

fn interpreter(c: &mut Criterion) {
    let exec = Executor::new(ExecutorConfig::default()).unwrap();
    let code = WASM_BINARY.unwrap();
    let alice = keyring::dev_signing_key("Alice");
    let alice_id = keyring::account_of(&alice);
    let state = genesis(&exec, code, &[alice_id]);
    let deploy = keyring::sign(
        &alice,
        &GENESIS,
        0,
        0,
        instantiate(counter(), Vec::new(), FUEL),
    )
    .encode();
    let state = Arc::new(apply(&exec, code, Arc::new(state), &context(1), &[deploy]));
    let hash = menara_primitives::blake3_256(&counter());
    let contract = pallet_contracts::Pallet::<Runtime>::contract_address(&alice_id, &hash, &[]);
    let args = menara_runtime::api::ContractsCallArgs {
        origin: alice_id,
        contract,
        value: 0,
        fuel_limit: None,
        storage_deposit_limit: None,
        input: 1_000_000u32.to_le_bytes().to_vec(),
    }
    .encode();
    let outcome = pallet_contracts::ExecOutcome::decode(
        &mut &query_wasm(&exec, code, state.clone(), b"contracts_call", &args)[..],
    )
    .unwrap();
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    let native = pallet_contracts::ExecOutcome::decode(
        &mut &query_native(&state, b"contracts_call", &args)[..],
    )
    .unwrap();
    assert_eq!(
        native.fuel_used, outcome.fuel_used,
        "native and wasm count the same fuel"
    );
    eprintln!(
        "interpreter: a loop of 1,000,000 turns uses {} fuel (the same natively)",
        outcome.fuel_used
    );
    let mut group = c.benchmark_group("interpreter");
    group.throughput(Throughput::Elements(outcome.fuel_used));
    group.sample_size(10);
    group.bench_function("wasm_runtime", |b| {
        b.iter(|| query_wasm(&exec, code, state.clone(), b"contracts_call", &args))
    });
    group.bench_function("native", |b| {
        b.iter(|| query_native(&state, b"contracts_call", &args))
    });
    group.finish();
}

/// A valid contract of about `size` bytes: `deploy` and `call`, and functions that each
/// add up a few locals, as compiled code looks.
fn contract_of_size(size: usize) -> Vec<u8> {
    let body = "(local.get 0) (local.get 1) (i32.add) (local.get 0) (i32.mul) (i32.const 7) (i32.xor) (local.get 1) (i32.sub) (drop)";
    let mut funcs = String::new();
    let mut n = 0;
    loop {
        let code = wat::parse_str(format!(
            r#"(module (memory (export "memory") 1) (func (export "deploy")) (func (export "call")) {funcs})"#
        ))
        .unwrap();
        if code.len() >= size {
            return code;
        }
        for _ in 0..50 {
            funcs.push_str(&format!(
                "(func $f{n} (param i32 i32) {body} {body} {body})"
            ));
            n += 1;
        }
    }
}

fn deploy_50kb(c: &mut Criterion) {
    let exec = Executor::new(ExecutorConfig::default()).unwrap();
    let code = WASM_BINARY.unwrap();
    let alice = keyring::dev_signing_key("Alice");
    let alice_id = keyring::account_of(&alice);
    let state = Arc::new(genesis(&exec, code, &[alice_id]));
    let contract = contract_of_size(50 * 1024);
    let tx = keyring::sign(
        &alice,
        &GENESIS,
        0,
        0,
        instantiate(contract.clone(), Vec::new(), FUEL),
    )
    .encode();
    let fee = u128::decode(&mut &query_native(&state, b"fee", &tx)[..]).unwrap();
    let args = menara_runtime::api::ContractsInstantiateArgs {
        origin: alice_id,
        code: pallet_contracts::CodeSource::Upload(contract.clone()),
        value: 0,
        fuel_limit: Some(FUEL),
        storage_deposit_limit: None,
        salt: Vec::new(),
        input: Vec::new(),
        immutable: false,
    };
    let outcome = pallet_contracts::ExecOutcome::decode(
        &mut &query_wasm(
            &exec,
            code,
            state.clone(),
            b"contracts_instantiate",
            &args.encode(),
        )[..],
    )
    .unwrap();
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    let deposit = <Runtime as pallet_contracts::Config>::CODE_DEPOSIT_BASE
        + <Runtime as pallet_contracts::Config>::CODE_DEPOSIT_PER_BYTE * contract.len() as u128
        + <Runtime as pallet_contracts::Config>::ITEM_DEPOSIT;
    let refund = menara_runtime::executive::fuel_fee(FUEL - outcome.fuel_used);
    eprintln!(
        "deploy {} bytes: fee {} MEN before refund, {} MEN after the unused fuel is refunded; deposit {} MEN (held); {} fuel",
        contract.len(),
        fee as f64 / MEN as f64,
        (fee - refund) as f64 / MEN as f64,
        deposit as f64 / MEN as f64,
        outcome.fuel_used
    );
    let ctx = context(1);
    let mut group = c.benchmark_group("deploy_50kb");
    group.sample_size(10);
    group.bench_function("upload_and_instantiate", |b| {
        b.iter_batched(
            || state.clone(),
            |state| apply(&exec, code, state, &ctx, std::slice::from_ref(&tx)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, interpreter, deploy_50kb, token_transfer_vs_native);
criterion_main!(benches);
