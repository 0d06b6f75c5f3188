//! Cost of one lazy settlement and of the end-of-block pass with 1,000 and 10,000 running
//! leases, measured in one run: the pass must not grow with the number of leases.
//!
//! `cargo bench -p pallet-compute --bench settlement`
#![allow(clippy::unwrap_used, clippy::expect_used)]
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use menara_primitives::{AccountId, Balance, BlockNumber, H256};
use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};
use menara_support::io;
use pallet_compute::{Config, GpuClass, Resources};

struct Bench;
impl pallet_system::Config for Bench {
    const PALLET_INDEX: u8 = 0;
    const MAX_EVENTS_PER_BLOCK: u32 = 1_000_000;
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
impl pallet_models::Config for Bench {
    const PALLET_INDEX: u8 = 5;
    const DEPOSIT_BASE: Balance = 100;
    const DEPOSIT_PER_BYTE: Balance = 1;
    const MAX_MODEL_SIZE: u64 = 8 << 30;
}
impl pallet_randomness::Config for Bench {
    const PALLET_INDEX: u8 = 6;
}
// The runtime's values where they matter to the pass (challenge rate and cap).
impl Config for Bench {
    const PALLET_INDEX: u8 = 7;
    const COLLATERAL_PER_GPU: Balance = 1_000;
    const BID_DEPOSIT: Balance = 50;
    const MAX_BIDS_PER_ORDER: u32 = 16;
    const MIN_ESCROW_BLOCKS: BlockNumber = 10;
    const MAX_LEASE_BLOCKS: BlockNumber = 1_000_000;
    const BID_WINDOW: BlockNumber = 10;
    const ORDER_TTL: BlockNumber = 600;
    const NOTICE_BLOCKS: BlockNumber = 60;
    const UNBONDING_BLOCKS: BlockNumber = 1_000;
    const CHALLENGE_PERIOD: BlockNumber = 100;
    const MAX_CHALLENGES_PER_BLOCK: u32 = 8;
    const ANSWER_BLOCKS: BlockNumber = 10;
    const REVEAL_BLOCKS: BlockNumber = 10;
    const MAX_AUDITS_PER_BLOCK: u32 = 16;
    const CHALLENGE_SLASH_PER_MILL: u32 = 100;
    const JAIL_BLOCKS: BlockNumber = 1_000;
}
type Compute = pallet_compute::Pallet<Bench>;

fn acc(i: u32) -> AccountId {
    let mut a = [0u8; 32];
    a[..4].copy_from_slice(&i.to_le_bytes());
    a[31] = 1;
    AccountId(a)
}

/// A state with `leases` running leases (64 per provider), at block 2.
fn state_with(leases: u32) -> InMemoryState {
    let state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    let providers = leases.div_ceil(64);
    let tenant = acc(u32::MAX);
    io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        let mut balances: Vec<(AccountId, Balance)> =
            (0..providers).map(|p| (acc(p), 1 << 60)).collect();
        balances.push((tenant, 1 << 100));
        pallet_balances::Pallet::<Bench>::build_genesis(&pallet_balances::GenesisConfig {
            balances,
        })
        .unwrap();
        pallet_system::storage::Number::put(&1u64);
        for p in 0..providers {
            Compute::register(
                &acc(p),
                Resources {
                    gpu: GpuClass::H100,
                    gpu_count: 64,
                    vram_gib: 80,
                    region: b"eu".to_vec(),
                },
                vec![],
                10,
                1 << 40,
            )
            .unwrap();
        }
        for l in 0..leases {
            // Distinct durations: exactly one lease ends at each block from 2,001 on, so
            // both benched states close the same one lease in the benched block.
            let duration = 2_000 + l as u64;
            let order = Compute::open_order(
                &tenant,
                Resources {
                    gpu: GpuClass::H100,
                    gpu_count: 1,
                    vram_gib: 80,
                    region: vec![],
                },
                None,
                100,
                duration,
                100 * duration as Balance,
                false,
            )
            .unwrap();
            let bid = Compute::bid(&acc(l / 64), order, 100).unwrap();
            Compute::accept(&tenant, order, bid).unwrap();
        }
        let beacon = H256([7; 32]);
        pallet_randomness::storage::Beacon::put(&beacon);
        pallet_randomness::storage::History::insert(&2u64, &beacon);
        pallet_system::storage::Number::put(&2u64);
    });
    let mut state = state;
    state.apply(overlay.into_changes());
    state
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("compute");
    for leases in [1_000u32, 10_000] {
        let state = state_with(leases);
        group.bench_function(format!("settle_one_lease/{leases}_leases"), |b| {
            b.iter_batched(
                OverlayedChanges::new,
                |mut overlay| {
                    io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
                        pallet_system::storage::Number::put(&500u64);
                        Compute::dispatch(
                            menara_support::Origin::Signed(acc(0)),
                            pallet_compute::Call::Settle { lease: 7 },
                        )
                        .unwrap();
                    })
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function(format!("end_of_block/{leases}_leases"), |b| {
            b.iter_batched(
                OverlayedChanges::new,
                |mut overlay| {
                    io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
                        // Block 2,002: one lease ends here (duration 2,001), and
                        // challenges are drawn (8, the cap, in both states).
                        pallet_system::storage::Number::put(&2_002u64);
                        Compute::on_initialize();
                        Compute::on_finalize(2_002);
                    })
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
