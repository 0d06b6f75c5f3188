//! Royalty accounting cost: paying a royalty to a model whose shares are spread over 10,000
//! holders, and one holder's claim, next to the same with a single holder, on the native
//! in-memory state (the same code the runtime runs in wasm). Lazy per-share accounting
//! makes both O(1) in the number of holders.
#![allow(clippy::unwrap_used, missing_docs)]
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use menara_primitives::{AccountId, Balance, H256};
use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};
use pallet_models::{Config, ModelKind, ModelParams, Pallet, Version};

struct Bench;
impl pallet_system::Config for Bench {
    const PALLET_INDEX: u8 = 0;
    const MAX_EVENTS_PER_BLOCK: u32 = 100_000;
    const SPEC_NAME: &'static str = "menara";
    const SPEC_VERSION: u32 = 1;
    const MAX_CODE_SIZE: u32 = 1 << 20;
}
impl pallet_balances::Config for Bench {
    const PALLET_INDEX: u8 = 1;
    const EXISTENTIAL_DEPOSIT: Balance = 10;
}
impl Config for Bench {
    const PALLET_INDEX: u8 = 5;
    const DEPOSIT_BASE: Balance = 100;
    const DEPOSIT_PER_BYTE: Balance = 1;
    const MAX_MODEL_SIZE: u64 = 8 << 30;
}
type Models = Pallet<Bench>;

fn acc(i: u32) -> AccountId {
    let mut a = [0u8; 32];
    a[..4].copy_from_slice(&i.to_be_bytes());
    a[31] = 1;
    AccountId(a)
}

const OWNER: u32 = 0;
const PAYER: u32 = 1;
const MODEL: H256 = H256([7; 32]);

/// A registered model whose owner kept one share per holder for `holders - 1` others.
fn state_with_holders(holders: u32) -> InMemoryState {
    let state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        pallet_balances::Pallet::<Bench>::build_genesis(&pallet_balances::GenesisConfig {
            balances: vec![(acc(OWNER), 1 << 60), (acc(PAYER), 1 << 60)],
        })
        .unwrap();
        let params = ModelParams {
            file_root: H256([1; 32]),
            size: 23_000_000,
            name: b"bench".to_vec(),
            version: Version::default(),
            kind: ModelKind::Encoder,
            shape: vec![30_522, 384, 6, 12],
            numerics_version: 1,
            royalty: 1_000,
        };
        Models::register(&acc(OWNER), &MODEL, &params).unwrap();
        for h in 1..holders {
            Models::transfer_shares(&acc(OWNER), &MODEL, &acc(1_000 + h), 50).unwrap();
        }
        // Royalties already paid, so a claim has something to settle.
        Models::pay_royalty(&acc(PAYER), &MODEL, 1_000_000_000).unwrap();
    });
    let mut state = state;
    state.apply(overlay.into_changes());
    state
}

fn bench(c: &mut Criterion) {
    for holders in [1u32, 10_000] {
        let state = state_with_holders(holders);
        c.bench_function(&format!("pay_royalty, {holders} holders"), |b| {
            b.iter_batched(
                OverlayedChanges::new,
                |mut overlay| {
                    menara_support::io::with_externalities(
                        &mut Ext::new(&state, &mut overlay),
                        || Models::pay_royalty(&acc(PAYER), &MODEL, 1_000_000).unwrap(),
                    );
                    overlay
                },
                BatchSize::SmallInput,
            )
        });
        c.bench_function(
            &format!("claim_royalties (owner), {holders} holders"),
            |b| {
                b.iter_batched(
                    OverlayedChanges::new,
                    |mut overlay| {
                        menara_support::io::with_externalities(
                            &mut Ext::new(&state, &mut overlay),
                            || Models::claim_royalties(&acc(OWNER), &MODEL).unwrap(),
                        );
                        overlay
                    },
                    BatchSize::SmallInput,
                )
            },
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
