#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use gpu_verify_core::challenge::Challenge as Workload;
use gpu_verify_core::engine::RefGemm;
use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};
use proptest::prelude::*;

struct Test;
impl pallet_system::Config for Test {
    const PALLET_INDEX: u8 = 0;
    const MAX_EVENTS_PER_BLOCK: u32 = 100_000;
    const SPEC_NAME: &'static str = "menara";
    const SPEC_VERSION: u32 = 1;
    const MAX_CODE_SIZE: u32 = 1 << 20;
}
impl pallet_balances::Config for Test {
    const PALLET_INDEX: u8 = 1;
    const EXISTENTIAL_DEPOSIT: Balance = 10;
}
impl pallet_session::Config for Test {
    const PALLET_INDEX: u8 = 2;
}
impl pallet_models::Config for Test {
    const PALLET_INDEX: u8 = 5;
    const DEPOSIT_BASE: Balance = 100;
    const DEPOSIT_PER_BYTE: Balance = 1;
    const MAX_MODEL_SIZE: u64 = 8 << 30;
}
impl pallet_randomness::Config for Test {
    const PALLET_INDEX: u8 = 6;
}
impl Config for Test {
    const PALLET_INDEX: u8 = 7;
    const COLLATERAL_PER_GPU: Balance = 1_000;
    const BID_DEPOSIT: Balance = 50;
    const MAX_BIDS_PER_ORDER: u32 = 3;
    const MIN_ESCROW_BLOCKS: BlockNumber = 5;
    const MAX_LEASE_BLOCKS: BlockNumber = 10_000;
    const BID_WINDOW: BlockNumber = 3;
    const ORDER_TTL: BlockNumber = 20;
    const NOTICE_BLOCKS: BlockNumber = 4;
    const UNBONDING_BLOCKS: BlockNumber = 10;
    const CHALLENGE_PERIOD: BlockNumber = 5;
    const MAX_CHALLENGES_PER_BLOCK: u32 = 2;
    const ANSWER_BLOCKS: BlockNumber = 3;
    const REVEAL_BLOCKS: BlockNumber = 3;
    const MAX_AUDITS_PER_BLOCK: u32 = 2;
    const CHALLENGE_SLASH_PER_MILL: u32 = 100;
    const JAIL_BLOCKS: BlockNumber = 10;
}
type Compute = Pallet<Test>;
type Bal = pallet_balances::Pallet<Test>;

const FUNDS: Balance = 1_000_000_000;
const ACCOUNTS: u8 = 8;

fn acc(i: u8) -> AccountId {
    AccountId([i; 32])
}

fn run<R>(f: impl FnOnce() -> R) -> R {
    let state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        Bal::build_genesis(&pallet_balances::GenesisConfig {
            balances: (1..=ACCOUNTS).map(|i| (acc(i), FUNDS)).collect(),
        })
        .unwrap();
        Compute::build_genesis(&GenesisConfig {
            test_challenges: true,
        });
        f()
    })
}

/// Runs the block hooks for every block up to `n` (beacon derived from the height).
fn run_to(n: BlockNumber) {
    let mut b = pallet_system::storage::Number::get_or_default();
    while b < n {
        b += 1;
        pallet_system::storage::Number::put(&b);
        let beacon = H256(*blake3_of(&b.to_le_bytes()));
        pallet_randomness::storage::Beacon::put(&beacon);
        pallet_randomness::storage::History::insert(&b, &beacon);
        Compute::on_initialize();
        Compute::on_finalize(b);
    }
}

/// [`run_to`], with providers 1 to 4 answering and revealing every challenge honestly.
fn run_honest(n: BlockNumber) {
    let mut b = pallet_system::storage::Number::get_or_default();
    while b < n {
        b += 1;
        run_to(b);
        for p in 1..=4u8 {
            for c in Compute::open_challenges(&acc(p)) {
                if c.challenge.state == ChallengeState::Issued {
                    let (root, _) = honest_opening(&c.challenge, 1);
                    call(
                        p,
                        Call::Answer {
                            challenge: c.id,
                            root,
                        },
                    )
                    .unwrap();
                } else if let Some(step) = c.audit_step {
                    let (_, opening) = honest_opening(&c.challenge, step);
                    call(
                        p,
                        Call::Reveal {
                            challenge: c.id,
                            opening,
                        },
                    )
                    .unwrap();
                }
            }
        }
    }
}

fn blake3_of(data: &[u8]) -> Box<[u8; 32]> {
    Box::new(io::hashing::blake3_256(data))
}

fn set_block(n: BlockNumber) {
    pallet_system::storage::Number::put(&n);
}

/// Dispatches as the runtime does: a failed call changes nothing.
fn call(who: u8, c: Call) -> Result<(), &'static str> {
    io::storage::with_transaction(|| Compute::dispatch(Origin::Signed(acc(who)), c)).map_err(|e| {
        assert_eq!(e.pallet, 7);
        let name: &'static str = Box::leak(e.message.into_boxed_str());
        name
    })
}

fn offer(count: u32) -> Resources {
    Resources {
        gpu: GpuClass::H100,
        gpu_count: count,
        vram_gib: 80,
        region: b"eu".to_vec(),
    }
}

fn register(who: u8, count: u32) {
    call(
        who,
        Call::Register {
            offer: offer(count),
            models: vec![],
            price_per_block: 10.into(),
            collateral: (4_000 * count as Balance).into(),
        },
    )
    .unwrap();
}

fn order(
    tenant: u8,
    gpus: u32,
    max_price: Balance,
    duration: u64,
    escrow: Balance,
    auto: bool,
) -> OrderId {
    let id = NextId::get_or_default(&ORDER_IDS);
    call(
        tenant,
        Call::Order {
            resources: Resources {
                gpu: GpuClass::H100,
                gpu_count: gpus,
                vram_gib: 40,
                region: vec![],
            },
            model: None,
            max_price_per_block: max_price.into(),
            duration,
            escrow: escrow.into(),
            auto_match: auto,
        },
    )
    .unwrap();
    id
}

fn bid(provider: u8, order: OrderId, price: Balance) -> BidId {
    let id = NextId::get_or_default(&BID_IDS);
    call(
        provider,
        Call::Bid {
            order,
            price_per_block: price.into(),
        },
    )
    .unwrap();
    id
}

/// Free balances plus what this pallet holds equal the issuance (models hold nothing
/// here); and TotalHeld equals the sum of everything held.
fn assert_books() {
    let free: Balance = (1..=ACCOUNTS).map(|i| Bal::free_balance(&acc(i))).sum();
    assert_eq!(free + Compute::total_held(), Bal::total_issuance());
    let mut held: Balance = 0;
    for (_, p) in Providers::iter() {
        held += p.collateral + p.earnings;
    }
    for (_, o) in Orders::iter() {
        held += o.escrow;
    }
    for (_, b) in Bids::iter() {
        held += b.deposit;
    }
    for (_, l) in Leases::iter() {
        held += l.escrow + l.bid_deposit;
    }
    for (_, p) in Pending::iter() {
        held += p;
    }
    assert_eq!(held, Compute::total_held());
}

fn events() -> Vec<Event> {
    pallet_system::Pallet::<Test>::events()
        .into_iter()
        .filter(|r| r.pallet == 7)
        .map(|r| Event::decode(&mut &r.event[..]).unwrap())
        .collect()
}

#[test]
fn register_holds_collateral_that_grows_with_the_offer_and_refuses_bad_offers() {
    run(|| {
        set_block(1);
        let bad = |o: Resources| {
            call(
                1,
                Call::Register {
                    offer: o,
                    models: vec![],
                    price_per_block: 10.into(),
                    collateral: 1_000_000.into(),
                },
            )
        };
        let mut o = offer(0);
        assert_eq!(bad(o.clone()), Err("ImpossibleResources"));
        o.gpu_count = MAX_GPU_COUNT + 1;
        assert_eq!(bad(o.clone()), Err("ImpossibleResources"));
        let mut o = offer(1);
        o.region = b"a-very-long-region-name".to_vec();
        assert_eq!(bad(o), Err("ImpossibleResources"));
        let mut o = offer(1);
        o.vram_gib = 0;
        assert_eq!(bad(o), Err("ImpossibleResources"));
        let r = call(
            1,
            Call::Register {
                offer: offer(1),
                models: vec![H256([9; 32])],
                price_per_block: 10.into(),
                collateral: 1_000_000.into(),
            },
        );
        assert_eq!(r, Err("BadModels"));
        // An H100 weighs 4: 8 GPUs need 32,000.
        assert_eq!(Compute::required_collateral(&offer(8)), 32_000);
        let r = call(
            1,
            Call::Register {
                offer: offer(8),
                models: vec![],
                price_per_block: 10.into(),
                collateral: 31_999.into(),
            },
        );
        assert_eq!(r, Err("InsufficientCollateral"));
        assert_eq!(Bal::free_balance(&acc(1)), FUNDS);
        register(1, 8);
        assert_eq!(Bal::free_balance(&acc(1)), FUNDS - 32_000);
        assert_eq!(
            Compute::provider(&acc(1)).unwrap().provider.collateral,
            32_000
        );
        assert_eq!(
            call(1, Call::AddCollateral { amount: 0.into() }),
            Err("ZeroAmount")
        );
        assert_eq!(
            call(2, Call::AddCollateral { amount: 5.into() }),
            Err("NotProvider")
        );
        call(1, Call::AddCollateral { amount: 5.into() }).unwrap();
        assert_eq!(
            call(
                1,
                Call::Register {
                    offer: offer(1),
                    models: vec![],
                    price_per_block: 10.into(),
                    collateral: 4_000.into(),
                }
            ),
            Err("AlreadyRegistered")
        );
        assert_books();
    });
}

#[test]
fn accepted_bid_starts_a_lease_and_refunds_the_losers() {
    run(|| {
        set_block(1);
        register(1, 8);
        register(2, 8);
        register(3, 8);
        let o = order(5, 4, 100, 50, 1_000, false);
        let o2 = order(6, 1, 100, 50, 1_000, false);
        assert_eq!(Bal::free_balance(&acc(5)), FUNDS - 1_000);
        let b1 = bid(1, o, 90);
        let b2 = bid(2, o, 80);
        let b_other = bid(3, o2, 70);
        assert_eq!(
            call(
                3,
                Call::Bid {
                    order: o,
                    price_per_block: 101.into()
                }
            ),
            Err("BidAboveMaxPrice")
        );
        assert_eq!(
            call(
                1,
                Call::Bid {
                    order: o,
                    price_per_block: 50.into()
                }
            ),
            Err("AlreadyBid")
        );
        assert_eq!(
            call(
                4,
                Call::Bid {
                    order: o,
                    price_per_block: 50.into()
                }
            ),
            Err("NotProvider")
        );
        assert_eq!(
            call(
                1,
                Call::Bid {
                    order: 99,
                    price_per_block: 50.into()
                }
            ),
            Err("UnknownOrder")
        );
        assert_eq!(
            call(
                5,
                Call::Accept {
                    order: o,
                    bid: b_other
                }
            ),
            Err("BidOfAnotherOrder")
        );
        assert_eq!(
            call(6, Call::Accept { order: o, bid: b2 }),
            Err("NotOrderTenant")
        );
        assert_eq!(
            call(5, Call::Accept { order: o, bid: 77 }),
            Err("UnknownBid")
        );
        let before1 = Bal::free_balance(&acc(1));
        call(5, Call::Accept { order: o, bid: b2 }).unwrap();
        // The loser's deposit is back; the winner's stays with the lease.
        assert_eq!(Bal::free_balance(&acc(1)), before1 + 50);
        assert!(Orders::get(&o).is_none() && Bids::get(&b1).is_none());
        let lease = Compute::lease(0).unwrap().lease;
        assert_eq!((lease.provider, lease.price_per_block), (acc(2), 80));
        assert_eq!((lease.start, lease.end, lease.dry_at), (1, 51, 13));
        assert_eq!(lease.bid_deposit, 50);
        let p = Compute::provider(&acc(2)).unwrap().provider;
        assert_eq!((p.gpus_leased, p.leases.clone()), (4, vec![0]));
        // Both parties find it; the losing bidder does not.
        assert_eq!(Compute::leases_of(&acc(5), 10)[0].id, 0);
        assert_eq!(Compute::leases_of(&acc(2), 10)[0].id, 0);
        assert!(Compute::leases_of(&acc(1), 10).is_empty());
        // Provider 2 has 4 GPUs free: a 5-GPU order does not fit.
        let o3 = order(6, 5, 100, 50, 1_000, false);
        assert_eq!(
            call(
                2,
                Call::Bid {
                    order: o3,
                    price_per_block: 50.into()
                }
            ),
            Err("OfferMismatch")
        );
        assert_books();
    });
}

#[test]
fn orders_with_impossible_terms_are_refused() {
    run(|| {
        set_block(1);
        let mk = |gpus: u32, price: Balance, duration: u64, escrow: Balance| {
            call(
                5,
                Call::Order {
                    resources: Resources {
                        gpu: GpuClass::A100,
                        gpu_count: gpus,
                        vram_gib: 40,
                        region: vec![],
                    },
                    model: None,
                    max_price_per_block: price.into(),
                    duration,
                    escrow: escrow.into(),
                    auto_match: false,
                },
            )
        };
        assert_eq!(mk(0, 10, 10, 1_000), Err("ImpossibleResources"));
        assert_eq!(mk(2_000, 10, 10, 1_000), Err("ImpossibleResources"));
        assert_eq!(mk(1, 0, 10, 1_000), Err("ZeroAmount"));
        assert_eq!(mk(1, 10, 0, 1_000), Err("BadDuration"));
        assert_eq!(mk(1, 10, 10_001, 1_000_000), Err("BadDuration"));
        assert_eq!(mk(1, 10, 10, 49), Err("EscrowTooLow"));
        assert_eq!(mk(1, 10, 10, FUNDS * 2), Err("InsufficientBalance"));
        assert_eq!(Bal::free_balance(&acc(5)), FUNDS);
        mk(1, 10, 10, 50).unwrap();
        assert_eq!(
            call(6, Call::CancelOrder { order: 0 }),
            Err("NotOrderTenant")
        );
        call(5, Call::CancelOrder { order: 0 }).unwrap();
        assert_eq!(Bal::free_balance(&acc(5)), FUNDS);
        assert_books();
    });
}

#[test]
fn escrow_pays_lazily_and_the_lease_closes_at_the_block_it_runs_dry() {
    run(|| {
        run_honest(1);
        register(1, 8);
        // 7 per block, 100 escrow: 14 blocks paid (98), dry at block 15, 2 refunded.
        let o = order(5, 1, 10, 1_000, 100, false);
        let b = bid(1, o, 7);
        call(5, Call::Accept { order: o, bid: b }).unwrap();
        assert_eq!(Compute::lease(0).unwrap().lease.dry_at, 15);
        run_honest(6);
        // Queries settle read-only; nothing moved yet.
        assert_eq!(Compute::lease(0).unwrap().lease.paid, 35);
        assert_eq!(Compute::provider(&acc(1)).unwrap().provider.earnings, 0);
        call(4, Call::Settle { lease: 0 }).unwrap();
        assert_eq!(Compute::provider(&acc(1)).unwrap().provider.earnings, 35);
        run_honest(14);
        assert_eq!(Compute::lease(0).unwrap().lease.state, LeaseState::Active);
        run_honest(15);
        let lease = Compute::lease(0).unwrap().lease;
        assert_eq!(
            lease.state,
            LeaseState::Closed {
                at: 15,
                reason: CloseReason::EscrowExhausted
            }
        );
        assert_eq!((lease.paid, lease.escrow), (98, 0));
        assert!(events().contains(&Event::LeaseClosed {
            lease: 0,
            reason: CloseReason::EscrowExhausted,
            refunded: 2
        }));
        assert_eq!(Bal::free_balance(&acc(5)), FUNDS - 98);
        let p = Compute::provider(&acc(1)).unwrap().provider;
        assert_eq!(
            (p.earnings, p.gpus_leased, p.record.leases_completed),
            (98, 0, 1)
        );
        assert_eq!(
            call(
                5,
                Call::TopUp {
                    lease: 0,
                    amount: 10.into()
                }
            ),
            Err("LeaseClosed")
        );
        let before = Bal::free_balance(&acc(1));
        call(1, Call::Withdraw).unwrap();
        assert_eq!(Bal::free_balance(&acc(1)), before + 98);
        assert_eq!(call(1, Call::Withdraw), Err("NothingToWithdraw"));
        assert_eq!(ActiveCount::get_or_default(), 0);
        assert_books();
    });
}

#[test]
fn top_up_moves_the_end_and_a_full_lease_completes() {
    run(|| {
        run_honest(1);
        register(1, 8);
        let o = order(5, 1, 10, 20, 50, false);
        let b = bid(1, o, 10);
        call(5, Call::Accept { order: o, bid: b }).unwrap();
        assert_eq!(Compute::lease(0).unwrap().lease.dry_at, 6);
        run_honest(3);
        call(
            6,
            Call::TopUp {
                lease: 0,
                amount: 1_000.into(),
            },
        )
        .unwrap();
        // Capped by the contracted end (block 21).
        assert_eq!(Compute::lease(0).unwrap().lease.dry_at, 21);
        assert_eq!(
            call(
                6,
                Call::TopUp {
                    lease: 9,
                    amount: 10.into()
                }
            ),
            Err("UnknownLease")
        );
        run_honest(21);
        let lease = Compute::lease(0).unwrap().lease;
        assert_eq!(
            lease.state,
            LeaseState::Closed {
                at: 21,
                reason: CloseReason::Completed
            }
        );
        assert_eq!(lease.paid, 200);
        // The top-up's unspent part went back to the tenant (the lease's payer).
        assert_eq!(
            Bal::free_balance(&acc(5)) + Bal::free_balance(&acc(6)),
            2 * FUNDS - 200
        );
        assert_books();
    });
}

#[test]
fn tenant_closes_at_once_provider_with_notice_and_strangers_not_at_all() {
    run(|| {
        run_honest(1);
        register(1, 8);
        for _ in 0..2 {
            let o = order(5, 1, 10, 100, 1_000, false);
            let b = bid(1, o, 10);
            call(5, Call::Accept { order: o, bid: b }).unwrap();
        }
        run_honest(5);
        assert_eq!(call(4, Call::Close { lease: 0 }), Err("NotLeaseParty"));
        call(5, Call::Close { lease: 0 }).unwrap();
        let l = Compute::lease(0).unwrap().lease;
        assert_eq!(
            l.state,
            LeaseState::Closed {
                at: 5,
                reason: CloseReason::ClosedByTenant
            }
        );
        assert_eq!(l.paid, 40);
        assert_eq!(call(5, Call::Close { lease: 0 }), Err("LeaseClosed"));
        call(1, Call::Close { lease: 1 }).unwrap();
        assert_eq!(Compute::lease(1).unwrap().lease.end, 9);
        assert_eq!(call(1, Call::Close { lease: 1 }), Err("NoticeGiven"));
        run_honest(9);
        assert_eq!(
            Compute::lease(1).unwrap().lease.state,
            LeaseState::Closed {
                at: 9,
                reason: CloseReason::ClosedByProvider
            }
        );
        assert_books();
    });
}

#[test]
fn auto_match_takes_the_cheapest_bid_and_unmatched_orders_expire() {
    run(|| {
        run_honest(1);
        register(1, 8);
        register(2, 8);
        let o = order(5, 1, 100, 50, 1_000, true);
        bid(1, o, 60);
        bid(2, o, 40);
        run_honest(4);
        let lease = Compute::lease(0).unwrap().lease;
        assert_eq!((lease.provider, lease.price_per_block), (acc(2), 40));
        let o2 = order(6, 1, 100, 50, 1_000, false);
        bid(1, o2, 60);
        let before = (Bal::free_balance(&acc(6)), Bal::free_balance(&acc(1)));
        run_honest(4 + 20);
        assert!(Orders::get(&o2).is_none());
        assert!(events().contains(&Event::OrderClosed {
            order: o2,
            expired: true
        }));
        assert_eq!(
            (Bal::free_balance(&acc(6)), Bal::free_balance(&acc(1))),
            (before.0 + 1_000, before.1 + 50)
        );
        assert_books();
    });
}

/// Starts one lease of provider 1 for tenant 5 and runs until it is challenged.
fn challenged_lease() -> (LeaseId, ChallengeId) {
    run_to(1);
    register(1, 8);
    let o = order(5, 1, 10, 1_000, 5_000, false);
    let b = bid(1, o, 10);
    call(5, Call::Accept { order: o, bid: b }).unwrap();
    for _ in 0..200 {
        let n = pallet_system::storage::Number::get_or_default();
        run_to(n + 1);
        if let Some(c) = Compute::open_challenges(&acc(1)).first() {
            return (c.challenge.lease, c.id);
        }
    }
    panic!("no challenge in 200 blocks with one lease and a period of 5");
}

fn honest_opening(c: &Challenge, step: u32) -> (H256, StepOpening) {
    let w = Workload::generate(&c.seed.0, c.shape).unwrap();
    let run = w.run(&RefGemm, 4).unwrap();
    (H256(run.root()), run.opening(step, &RefGemm).unwrap())
}

#[test]
fn an_honest_provider_answers_reveals_and_passes() {
    run(|| {
        let (lease, id) = challenged_lease();
        let c = Challenges::get(&id).unwrap();
        assert_eq!(c.shape, ChallengeShape::TEST);
        let (root, _) = honest_opening(&c, 1);
        assert_eq!(
            call(
                2,
                Call::Answer {
                    challenge: id,
                    root
                }
            ),
            Err("NotYourChallenge")
        );
        call(
            1,
            Call::Answer {
                challenge: id,
                root,
            },
        )
        .unwrap();
        assert_eq!(
            call(
                1,
                Call::Answer {
                    challenge: id,
                    root
                }
            ),
            Err("AlreadyAnswered")
        );
        let dummy = honest_opening(&c, 1).1;
        assert_eq!(
            call(
                1,
                Call::Reveal {
                    challenge: id,
                    opening: dummy.clone()
                }
            ),
            Err("AuditNotDrawn")
        );
        let n = pallet_system::storage::Number::get_or_default();
        run_to(n + 2);
        let step = Compute::challenge(id).unwrap().audit_step.unwrap();
        let (_, opening) = honest_opening(&c, step);
        assert_eq!(
            call(
                2,
                Call::Reveal {
                    challenge: id,
                    opening: opening.clone()
                }
            ),
            Err("NotYourChallenge")
        );
        call(
            1,
            Call::Reveal {
                challenge: id,
                opening,
            },
        )
        .unwrap();
        assert_eq!(Challenges::get(&id).unwrap().state, ChallengeState::Passed);
        assert_eq!(
            call(
                1,
                Call::Reveal {
                    challenge: id,
                    opening: dummy
                }
            ),
            Err("NotAwaitingReveal")
        );
        assert_eq!(
            Compute::lease(lease).unwrap().lease.state,
            LeaseState::Active
        );
        assert_eq!(
            Compute::provider(&acc(1))
                .unwrap()
                .provider
                .record
                .challenges_passed,
            1
        );
        assert!(Compute::open_challenges(&acc(1)).is_empty());
        assert_books();
    });
}

#[test]
fn a_missed_answer_closes_the_lease_and_pays_the_tenant_from_the_slash() {
    run(|| {
        let (lease, id) = challenged_lease();
        let c = Challenges::get(&id).unwrap();
        let tenant_before = Bal::free_balance(&acc(5));
        let lease_before = Compute::lease(lease).unwrap().lease;
        run_to(c.answer_by);
        assert_eq!(
            Challenges::get(&id).unwrap().state,
            ChallengeState::Failed(FailReason::NoAnswer)
        );
        let l = Compute::lease(lease).unwrap().lease;
        assert_eq!(
            l.state,
            LeaseState::Closed {
                at: c.answer_by,
                reason: CloseReason::ChallengeFailed
            }
        );
        // 10% of 32,000 collateral; the contract is worth 10,000 so all of it goes to the
        // tenant, with the forfeited bid deposit and the unspent escrow.
        let p = Compute::provider(&acc(1)).unwrap().provider;
        assert_eq!(
            (p.collateral, p.record.slashed, p.record.leases_failed),
            (28_800, 3_200, 1)
        );
        let paid_since = l.paid - lease_before.paid;
        assert_eq!(
            Bal::free_balance(&acc(5)),
            tenant_before + (lease_before.escrow - paid_since) + 3_200 + 50
        );
        assert!(matches!(p.status, ProviderStatus::Jailed { .. }));
        assert!(events().contains(&Event::ProviderSlashed {
            provider: acc(1),
            lease,
            amount: 3_200,
            to_tenant: 3_250,
            burned: 0
        }));
        // A jailed provider cannot bid; an answer after the deadline is refused.
        let o = order(6, 1, 10, 100, 1_000, false);
        assert_eq!(
            call(
                1,
                Call::Bid {
                    order: o,
                    price_per_block: 5.into()
                }
            ),
            Err("ProviderJailed")
        );
        assert_eq!(
            call(
                1,
                Call::Answer {
                    challenge: id,
                    root: H256::zero()
                }
            ),
            Err("AlreadyAnswered")
        );
        // The jail ends by itself.
        let ProviderStatus::Jailed { until } = p.status else {
            panic!("{:?}", p.status)
        };
        run_to(until);
        assert_eq!(
            Compute::provider(&acc(1)).unwrap().provider.status,
            ProviderStatus::Active
        );
        // Below the required collateral after the slash: no bids until it tops up.
        let bid = || {
            call(
                1,
                Call::Bid {
                    order: o,
                    price_per_block: 5.into(),
                },
            )
        };
        assert_eq!(bid(), Err("InsufficientCollateral"));
        call(
            1,
            Call::AddCollateral {
                amount: 3_200.into(),
            },
        )
        .unwrap();
        bid().unwrap();
        assert_books();
    });
}

#[test]
fn a_wrong_answer_is_caught_by_the_audit_and_slashed() {
    run(|| {
        let (lease, id) = challenged_lease();
        let c = Challenges::get(&id).unwrap();
        // The provider skips the work: a made-up root.
        call(
            1,
            Call::Answer {
                challenge: id,
                root: H256([7; 32]),
            },
        )
        .unwrap();
        let n = pallet_system::storage::Number::get_or_default();
        run_to(n + 2);
        let step = Compute::challenge(id).unwrap().audit_step.unwrap();
        let (_, opening) = honest_opening(&c, step);
        call(
            1,
            Call::Reveal {
                challenge: id,
                opening,
            },
        )
        .unwrap();
        assert_eq!(
            Challenges::get(&id).unwrap().state,
            ChallengeState::Failed(FailReason::WrongAnswer)
        );
        assert!(matches!(
            Compute::lease(lease).unwrap().lease.state,
            LeaseState::Closed {
                reason: CloseReason::ChallengeFailed,
                ..
            }
        ));
        assert_books();
    });
}

#[test]
fn an_answer_without_a_reveal_is_slashed_at_the_reveal_deadline() {
    run(|| {
        let (_, id) = challenged_lease();
        let c = Challenges::get(&id).unwrap();
        let (root, _) = honest_opening(&c, 1);
        call(
            1,
            Call::Answer {
                challenge: id,
                root,
            },
        )
        .unwrap();
        let ChallengeState::Answered { reveal_by, .. } = Challenges::get(&id).unwrap().state else {
            panic!()
        };
        run_to(reveal_by);
        assert_eq!(
            Challenges::get(&id).unwrap().state,
            ChallengeState::Failed(FailReason::NoReveal)
        );
        assert_books();
    });
}

#[test]
fn a_leaving_provider_gives_notice_unbonds_and_stays_slashable() {
    run(|| {
        run_to(1);
        register(1, 8);
        let o = order(5, 1, 10, 1_000, 5_000, false);
        let b = bid(1, o, 10);
        call(5, Call::Accept { order: o, bid: b }).unwrap();
        let o2 = order(5, 1, 10, 1_000, 5_000, false);
        assert_eq!(call(1, Call::WithdrawCollateral), Err("NotUnbonded"));
        call(1, Call::Leave).unwrap();
        assert_eq!(call(1, Call::Leave), Err("ProviderLeaving"));
        assert_eq!(
            call(
                1,
                Call::Bid {
                    order: o2,
                    price_per_block: 5.into()
                }
            ),
            Err("ProviderLeaving")
        );
        assert_eq!(Compute::lease(0).unwrap().lease.end, 1 + 4);
        run_to(5);
        assert!(matches!(
            Compute::lease(0).unwrap().lease.state,
            LeaseState::Closed {
                reason: CloseReason::ClosedByProvider,
                ..
            }
        ));
        assert_eq!(call(1, Call::WithdrawCollateral), Err("NotUnbonded"));
        run_to(11);
        // Challenges issued while the lease ran must be settled first.
        while !Compute::open_challenges(&acc(1)).is_empty() {
            let n = pallet_system::storage::Number::get_or_default();
            run_to(n + 1);
        }
        let before = Bal::free_balance(&acc(1));
        let p = Compute::provider(&acc(1)).unwrap().provider;
        call(1, Call::WithdrawCollateral).unwrap();
        assert_eq!(
            Bal::free_balance(&acc(1)),
            before + p.collateral + p.earnings
        );
        assert!(Compute::provider(&acc(1)).is_none());
        assert_books();
    });
}

#[test]
fn challenges_per_block_are_capped_whatever_the_number_of_leases() {
    run(|| {
        run_to(1);
        for p in 1..=4u8 {
            register(p, 8);
        }
        let mut leases = 0;
        for p in 1..=4u8 {
            for _ in 0..8 {
                let o = order(5, 1, 10, 1_000, 5_000, false);
                let b = bid(p, o, 10);
                call(5, Call::Accept { order: o, bid: b }).unwrap();
                leases += 1;
            }
        }
        assert_eq!(ActiveCount::get_or_default(), leases);
        run_to(2);
        let issued = events()
            .iter()
            .filter(|e| matches!(e, Event::ChallengeIssued { .. }))
            .count();
        // 32 leases / period 5 = 6 expected, capped at 2.
        assert!(issued <= 2, "{issued}");
        assert_books();
    });
}

#[derive(Clone, Debug)]
enum Op {
    Order {
        tenant: u8,
        gpus: u32,
        price: Balance,
        duration: u64,
        escrow: Balance,
        auto: bool,
    },
    Bid {
        provider: u8,
        order: u64,
        price: Balance,
    },
    Accept {
        tenant: u8,
        order: u64,
        bid: u64,
    },
    TopUp {
        who: u8,
        lease: u64,
        amount: Balance,
    },
    Close {
        who: u8,
        lease: u64,
    },
    Settle {
        lease: u64,
    },
    Withdraw {
        who: u8,
    },
    Answer {
        provider: u8,
        challenge: u64,
        honest: bool,
    },
    Cancel {
        tenant: u8,
        order: u64,
    },
    Leave {
        provider: u8,
    },
    Blocks {
        n: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            5..=7u8,
            1..=3u32,
            1..=50u128,
            1..=40u64,
            0..=2_000u128,
            any::<bool>()
        )
            .prop_map(|(tenant, gpus, price, duration, escrow, auto)| Op::Order {
                tenant,
                gpus,
                price,
                duration,
                escrow,
                auto
            }),
        (1..=4u8, 0..12u64, 1..=60u128).prop_map(|(provider, order, price)| Op::Bid {
            provider,
            order,
            price
        }),
        (5..=7u8, 0..12u64, 0..20u64).prop_map(|(tenant, order, bid)| Op::Accept {
            tenant,
            order,
            bid
        }),
        (1..=7u8, 0..8u64, 1..=500u128).prop_map(|(who, lease, amount)| Op::TopUp {
            who,
            lease,
            amount
        }),
        (1..=7u8, 0..8u64).prop_map(|(who, lease)| Op::Close { who, lease }),
        (0..8u64).prop_map(|lease| Op::Settle { lease }),
        (1..=7u8).prop_map(|who| Op::Withdraw { who }),
        (1..=4u8, 0..10u64, any::<bool>()).prop_map(|(provider, challenge, honest)| Op::Answer {
            provider,
            challenge,
            honest
        }),
        (5..=7u8, 0..12u64).prop_map(|(tenant, order)| Op::Cancel { tenant, order }),
        (1..=4u8).prop_map(|provider| Op::Leave { provider }),
        (1..=8u64).prop_map(|n| Op::Blocks { n }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Escrow + earnings + refunds + slashes always equal deposits: free balances plus
    /// what the pallet holds equal the issuance, which falls only by what was burned;
    /// and no lease pays more than was deposited into it.
    #[test]
    fn nothing_is_created_or_lost(ops in proptest::collection::vec(op(), 1..60)) {
        run(|| {
            run_to(1);
            let issuance = Bal::total_issuance();
            for p in 1..=4u8 {
                register(p, 4);
            }
            for op in ops {
                let n = pallet_system::storage::Number::get_or_default();
                let _ = match op {
                    Op::Order { tenant, gpus, price, duration, escrow, auto } => call(tenant, Call::Order {
                        resources: Resources { gpu: GpuClass::H100, gpu_count: gpus, vram_gib: 40, region: vec![] },
                        model: None,
                        max_price_per_block: price.into(),
                        duration,
                        escrow: escrow.into(),
                        auto_match: auto,
                    }),
                    Op::Bid { provider, order, price } => call(provider, Call::Bid { order, price_per_block: price.into() }),
                    Op::Accept { tenant, order, bid } => call(tenant, Call::Accept { order, bid }),
                    Op::TopUp { who, lease, amount } => call(who, Call::TopUp { lease, amount: amount.into() }),
                    Op::Close { who, lease } => call(who, Call::Close { lease }),
                    Op::Settle { lease } => call(1, Call::Settle { lease }),
                    Op::Withdraw { who } => call(who, Call::Withdraw),
                    Op::Answer { provider, challenge, honest } => {
                        let root = match (honest, Challenges::get(&challenge)) {
                            (true, Some(c)) => honest_opening(&c, 1).0,
                            _ => H256([3; 32]),
                        };
                        call(provider, Call::Answer { challenge, root })
                    }
                    Op::Cancel { tenant, order } => call(tenant, Call::CancelOrder { order }),
                    Op::Leave { provider } => call(provider, Call::Leave),
                    Op::Blocks { n: k } => {
                        run_to(n + k);
                        // Reveal honestly whatever was drawn.
                        for p in 1..=4u8 {
                            for c in Compute::open_challenges(&acc(p)) {
                                if let Some(step) = c.audit_step {
                                    let (_, opening) = honest_opening(&c.challenge, step);
                                    let _ = call(p, Call::Reveal { challenge: c.id, opening });
                                }
                            }
                        }
                        Ok(())
                    }
                };
                assert_books();
                prop_assert_eq!(
                    Bal::total_issuance() + TotalBurned::get_or_default(),
                    issuance
                );
                for (_, l) in Leases::iter() {
                    prop_assert!(l.paid + l.escrow <= l.deposited);
                    prop_assert!(l.paid <= l.price_per_block * (l.settled_at - l.start) as Balance);
                }
            }
            Ok(())
        })?;
    }
}

#[test]
fn gpu_classes_round_trip_by_name() {
    for c in GpuClass::ALL {
        assert_eq!(GpuClass::from_name(c.name()), Some(c));
        assert_eq!(GpuClass::from_name(&c.name().to_lowercase()), Some(c));
        assert!(c.challenge_shape().validate().is_ok());
    }
    assert_eq!(GpuClass::from_name("B200"), None);
    // Slashes use staking's per-mill rounding (down, exact on the whole range).
    assert_eq!(pallet_staking::math::per_mill(u128::MAX, 1_000), u128::MAX);
    assert_eq!(pallet_staking::math::per_mill(1_999, 500), 999);
}
