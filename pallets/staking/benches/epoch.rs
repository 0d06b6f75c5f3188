//! Epoch transition with 100 active validators and 10,000 delegators, and one reward
//! claim, on the native in-memory state (the same code the runtime runs in wasm).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use menara_crypto::BlsSecretKey;
use menara_primitives::{AccountId, Balance, BlockNumber};
use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};
use pallet_staking::{Config, EpochIndex, GenesisConfig, GenesisValidator, Pallet};

struct Bench;
impl pallet_system::Config for Bench {
    const PALLET_INDEX: u8 = 0;
    const MAX_EVENTS_PER_BLOCK: u32 = 1_000;
    const SPEC_NAME: &'static str = "menara";
    const SPEC_VERSION: u32 = 1;
    const MAX_CODE_SIZE: u32 = 1 << 20;
}
impl pallet_balances::Config for Bench {
    const PALLET_INDEX: u8 = 1;
    const EXISTENTIAL_DEPOSIT: Balance = 10;
}
impl pallet_session::Config for Bench {
    const PALLET_INDEX: u8 = 2;
}
impl Config for Bench {
    const PALLET_INDEX: u8 = 4;
    const EPOCH_LENGTH: BlockNumber = 10;
    const MAX_VALIDATORS: u32 = 100;
    const MIN_SELF_BOND: Balance = 1_000;
    const MIN_DELEGATION: Balance = 100;
    const UNBONDING_EPOCHS: EpochIndex = 3;
    const SLASH_DEFER_EPOCHS: EpochIndex = 1;
    const EQUIVOCATION_SLASH: u32 = 100;
    const DOWNTIME_SLASH: u32 = 10;
    const DOWNTIME_JAIL_EPOCHS: EpochIndex = 2;
    const REPORTER_REWARD: u32 = 100;
    const INFLATION_PER_EPOCH: u64 = 1_000_000;
}
type Staking = Pallet<Bench>;

fn acc(i: u32) -> AccountId {
    let mut a = [0u8; 32];
    a[..4].copy_from_slice(&i.to_be_bytes());
    a[31] = 1;
    AccountId(a)
}

/// The state after genesis: 100 validators, 10,000 delegators spread over them.
fn genesis_state() -> InMemoryState {
    let validators: Vec<GenesisValidator> = (1..=100u32)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            let sk = BlsSecretKey::from_seed(&seed);
            GenesisValidator {
                account: acc(i),
                bls_public_key: sk.public_key().to_bytes(),
                proof_of_possession: sk.prove_possession().0.to_bytes(),
                commission_per_mill: 50,
                self_bond: 10_000 + u128::from(i),
            }
        })
        .collect();
    let mut balances: Vec<(AccountId, Balance)> = (1..=100).map(|i| (acc(i), 1_000_000)).collect();
    balances.extend((1_000..11_000).map(|d| (acc(d), 1_000_000)));
    let delegations = (1_000..11_000u32)
        .map(|d| (acc(d), acc(1 + d % 100), 1_000 + u128::from(d)))
        .collect();
    let state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        pallet_balances::Pallet::<Bench>::build_genesis(&pallet_balances::GenesisConfig {
            balances,
        })
        .unwrap();
        Staking::build_genesis(&GenesisConfig {
            validators,
            delegations,
        })
        .unwrap();
        // One epoch so that the next one has rewards to pay.
        Staking::on_finalize(10);
    });
    let mut state = state;
    state.apply(overlay.into_changes());
    state
}

fn bench(c: &mut Criterion) {
    let state = genesis_state();
    c.bench_function("epoch transition, 100 validators / 10k delegators", |b| {
        b.iter_batched(
            OverlayedChanges::new,
            |mut overlay| {
                menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
                    Staking::on_finalize(20);
                });
                overlay
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function("claim_rewards (one delegator)", |b| {
        b.iter_batched(
            OverlayedChanges::new,
            |mut overlay| {
                menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
                    Staking::claim_rewards(&acc(5_000), &acc(1)).unwrap();
                });
                overlay
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
