//! The runtime's cost of auditing one step of an availability challenge sized for an H100
//! (a `Reveal` transaction: regenerate the 1 MiB weight matrix, check two Merkle openings,
//! re-execute one 32×1024×1024 integer step), in wasm (wasmtime) and natively, on the same
//! signed transaction. Run: `cargo bench -p menara-executor --bench challenge_audit`.
#![allow(clippy::unwrap_used)]
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use gpu_verify::challenge::{Challenge as Workload, ChallengeShape, StepOpening};
use gpu_verify::commit::{merkle_proof, merkle_root};
use gpu_verify::engine::RefGemm;
use menara_chain_spec::keyring;
use menara_executor::{Executor, ExecutorConfig};
use menara_primitives::{methods, ApplyExtrinsicResult, BlockContext, H256, MEN};
use menara_runtime::pallet_compute::{self, storage as compute, Challenge, ChallengeState};
use menara_runtime::{GenesisConfig, RuntimeCall, WASM_BINARY};
use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};
use parity_scale_codec::{Decode, Encode};
use std::sync::Arc;

const BLOCK: u64 = 5;
const ANSWERED_AT: u64 = 2;

fn setup(exec: &Executor) -> (Arc<InMemoryState>, BlockContext, Vec<u8>) {
    let code = WASM_BINARY.unwrap();
    let bob = keyring::dev_signing_key("Bob");
    let config = GenesisConfig {
        balances: pallet_balances::GenesisConfig {
            balances: vec![
                (keyring::dev_account("Alice"), 1_000_000 * MEN),
                (keyring::account_of(&bob), 1_000_000 * MEN),
            ],
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

    // A challenge answered at block 2, its step drawn from the beacon of block 3.
    let shape = ChallengeShape::H100;
    let seed = [5u8; 32];
    let beacon = H256([9; 32]);
    let mut overlay = OverlayedChanges::new();
    let opening =
        menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
            menara_runtime::pallet_randomness::storage::History::insert(
                &(ANSWERED_AT + 1),
                &beacon,
            );
            menara_runtime::pallet_system::storage::Number::put(&(BLOCK - 1));
            menara_runtime::pallet_system::storage::GenesisHash::put(&H256([42; 32]));
            let mut challenge = Challenge {
                lease: 0,
                provider: keyring::account_of(&bob),
                seed: H256(seed),
                shape,
                issued_at: 1,
                answer_by: 11,
                state: ChallengeState::Answered {
                    root: H256::zero(),
                    answered_at: ANSWERED_AT,
                    reveal_by: BLOCK + 10,
                },
            };
            compute::Challenges::insert(&0, &challenge);
            let step = menara_runtime::Compute::challenge(0)
                .unwrap()
                .audit_step
                .unwrap();
            // The leaves around the audited step are the true ones for input x0; the others
            // do not matter to the audit (the whole tree still has depth + 1 leaves).
            let w = Workload::generate(&seed, shape).unwrap();
            let x = w.input().to_vec();
            let y = w.step(&x, &RefGemm).unwrap();
            let mut leaves: Vec<[u8; 32]> = (0..=shape.depth)
                .map(|i| *blake3::hash(&i.to_le_bytes()).as_bytes())
                .collect();
            leaves[step as usize - 1] = w.leaf(&x);
            leaves[step as usize] = w.leaf(&y);
            let root = merkle_root(&leaves);
            challenge.state = ChallengeState::Answered {
                root: H256(root),
                answered_at: ANSWERED_AT,
                reveal_by: BLOCK + 10,
            };
            compute::Challenges::insert(&0, &challenge);
            compute::ProviderChallenges::insert(&keyring::account_of(&bob), &vec![0u64]);
            StepOpening {
                input: x.iter().map(|v| *v as u8).collect(),
                input_proof: merkle_proof(&leaves, step as usize - 1).unwrap(),
                output_proof: merkle_proof(&leaves, step as usize).unwrap(),
            }
        });
    state.apply(overlay.into_changes());
    let genesis = H256([42; 32]);
    let ctx = BlockContext {
        number: BLOCK,
        parent_hash: genesis,
        timestamp: 1,
        author: keyring::dev_account("Alice"),
        genesis_hash: genesis,
        beacon: keyring::dev_beacon("Alice", &genesis, BLOCK),
    };
    let tx = keyring::sign(
        &bob,
        &genesis,
        0,
        0,
        RuntimeCall::Compute(pallet_compute::Call::Reveal {
            challenge: 0,
            opening,
        }),
    )
    .encode();
    (Arc::new(state), ctx, tx)
}

fn passed_event(events: &[menara_primitives::EventRecord]) -> bool {
    events.iter().any(|r| {
        matches!(
            menara_runtime::RuntimeEvent::from_record(r),
            Some(menara_runtime::RuntimeEvent::Compute(
                pallet_compute::Event::ChallengePassed { .. }
            ))
        )
    })
}

fn bench(c: &mut Criterion) {
    let exec = Executor::new(ExecutorConfig::default()).unwrap();
    let code = WASM_BINARY.unwrap();
    let (state, ctx, tx) = setup(&exec);
    println!("reveal transaction: {} bytes", tx.len());
    // Both paths accept the honest opening.
    let mut inst = exec
        .instantiate(code, state.clone(), OverlayedChanges::new())
        .unwrap();
    let r: Result<(), String> = inst.call_decode(methods::INITIALIZE_BLOCK, &ctx).unwrap();
    r.unwrap();
    let out = inst.call(methods::APPLY_EXTRINSIC, &tx).unwrap();
    assert_eq!(
        ApplyExtrinsicResult::decode(&mut &out[..]).unwrap(),
        Ok(Ok(()))
    );
    let events: Vec<menara_primitives::EventRecord> = {
        let q = (
            menara_primitives::queries::EVENTS.to_vec(),
            Vec::<u8>::new(),
        );
        let r: Result<Vec<u8>, menara_primitives::QueryError> =
            inst.call_decode(methods::QUERY, &q).unwrap();
        Decode::decode(&mut &r.unwrap()[..]).unwrap()
    };
    assert!(passed_event(&events), "the audit passed in wasm");

    let mut group = c.benchmark_group("challenge_audit_h100");
    group.sample_size(10);
    group.bench_function("wasm", |b| {
        b.iter_batched(
            || {
                let mut inst = exec
                    .instantiate(code, state.clone(), OverlayedChanges::new())
                    .unwrap();
                inst.call(methods::INITIALIZE_BLOCK, &ctx.encode()).unwrap();
                inst
            },
            |mut inst| {
                inst.call(methods::APPLY_EXTRINSIC, &tx).unwrap();
                inst
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("native", |b| {
        b.iter_batched(
            || {
                let mut overlay = OverlayedChanges::new();
                menara_support::io::with_externalities(
                    &mut Ext::new(state.as_ref(), &mut overlay),
                    || {
                        menara_runtime::api::call(methods::INITIALIZE_BLOCK, &ctx.encode())
                            .unwrap();
                    },
                );
                overlay
            },
            |mut overlay| {
                menara_support::io::with_externalities(
                    &mut Ext::new(state.as_ref(), &mut overlay),
                    || {
                        menara_runtime::api::call(methods::APPLY_EXTRINSIC, &tx).unwrap();
                    },
                );
                overlay
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
