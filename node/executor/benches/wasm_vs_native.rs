//! Transfers applied per second by the runtime in wasm (wasmtime) vs natively, on the
//! same pre-signed block of transfers. Run: `cargo bench -p menara-executor --bench wasm_vs_native`.
#![allow(clippy::unwrap_used)]
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use menara_chain_spec::keyring;
use menara_executor::{Executor, ExecutorConfig};
use menara_primitives::{methods, BlockContext, H256, MEN};
use menara_runtime::{GenesisConfig, RuntimeCall, WASM_BINARY};
use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};
use parity_scale_codec::Encode;
use std::sync::Arc;

const TRANSFERS: u64 = 1_000;

fn setup(exec: &Executor) -> (Arc<InMemoryState>, BlockContext, Vec<Vec<u8>>) {
    let code = WASM_BINARY.unwrap();
    let alice = keyring::dev_signing_key("Alice");
    let config = GenesisConfig {
        balances: pallet_balances::GenesisConfig {
            balances: vec![(keyring::account_of(&alice), 1_000_000 * MEN)],
        },
        session: pallet_session::GenesisConfig {
            validators: vec![keyring::dev_genesis_validator("Alice", 1_000_000 * MEN)
                .record()
                .unwrap()],
        },
        staking: Default::default(),
        compute: Default::default(),
        inference: Default::default(),
        governance: Default::default(),
    };
    let (_, overlay) = exec
        .call_once(
            code,
            Arc::new(InMemoryState::default()),
            methods::BUILD_GENESIS,
            &config.encode(),
        )
        .unwrap();
    let mut state = InMemoryState::default();
    state.apply(overlay.into_changes());
    let genesis = H256([42; 32]);
    let ctx = BlockContext {
        number: 1,
        parent_hash: genesis,
        timestamp: 1,
        author: keyring::dev_account("Alice"),
        genesis_hash: genesis,
        beacon: keyring::dev_beacon("Alice", &genesis, 1),
    };
    let txs = (0..TRANSFERS)
        .map(|n| {
            let dest = keyring::dev_account(&format!("user{n}"));
            keyring::sign(
                &alice,
                &genesis,
                n,
                0,
                RuntimeCall::Balances(pallet_balances::Call::Transfer {
                    dest,
                    value: MEN.into(),
                }),
            )
            .encode()
        })
        .collect();
    (Arc::new(state), ctx, txs)
}

fn bench(c: &mut Criterion) {
    let exec = Executor::new(ExecutorConfig::default()).unwrap();
    let code = WASM_BINARY.unwrap();
    let (state, ctx, txs) = setup(&exec);
    let mut group = c.benchmark_group("apply_block_of_transfers");
    group.throughput(Throughput::Elements(TRANSFERS));
    group.sample_size(10);
    group.bench_function("wasm", |b| {
        b.iter_batched(
            || state.clone(),
            |state| {
                let mut inst = exec
                    .instantiate(code, state, OverlayedChanges::new())
                    .unwrap();
                inst.call(methods::INITIALIZE_BLOCK, &ctx.encode()).unwrap();
                for tx in &txs {
                    inst.call(methods::APPLY_EXTRINSIC, tx).unwrap();
                }
                inst.call(methods::FINALIZE_BLOCK, &[]).unwrap();
                inst.into_overlay()
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("native", |b| {
        b.iter(|| {
            let mut overlay = OverlayedChanges::new();
            let mut ext = Ext::new(state.as_ref(), &mut overlay);
            menara_support::io::with_externalities(&mut ext, || {
                menara_runtime::api::call(methods::INITIALIZE_BLOCK, &ctx.encode()).unwrap();
                for tx in &txs {
                    menara_runtime::api::call(methods::APPLY_EXTRINSIC, tx).unwrap();
                }
                menara_runtime::api::call(methods::FINALIZE_BLOCK, &[]).unwrap();
            });
            overlay
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
