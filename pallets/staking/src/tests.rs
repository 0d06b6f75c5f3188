#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use menara_crypto::BlsSecretKey;
use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};
use proptest::prelude::*;
use std::collections::BTreeMap as Map;
use std::sync::OnceLock;

struct Test;
impl pallet_system::Config for Test {
    const PALLET_INDEX: u8 = 0;
    const MAX_EVENTS_PER_BLOCK: u32 = 1_000;
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
impl Config for Test {
    const PALLET_INDEX: u8 = 4;
    const EPOCH_LENGTH: BlockNumber = 10;
    const MAX_VALIDATORS: u32 = 3;
    const MIN_SELF_BOND: Balance = 1_000;
    const MIN_DELEGATION: Balance = 100;
    const UNBONDING_EPOCHS: EpochIndex = 3;
    const SLASH_DEFER_EPOCHS: EpochIndex = 1;
    const EQUIVOCATION_SLASH: u32 = 100;
    const DOWNTIME_SLASH: u32 = 10;
    const DOWNTIME_JAIL_EPOCHS: EpochIndex = 2;
    const REPORTER_REWARD: u32 = 100;
    const INFLATION_PER_EPOCH: u64 = 1_000_000; // 0.1% per epoch
}
type Staking = Pallet<Test>;
type Bal = pallet_balances::Pallet<Test>;

fn acc(i: u32) -> AccountId {
    let mut a = [0u8; 32];
    a[..4].copy_from_slice(&i.to_be_bytes());
    a[31] = 1;
    AccountId(a)
}

/// BLS key and proof of possession of validator `i` (cached: key generation is slow).
fn key(i: u32) -> ([u8; BLS_PUBLIC_KEY_LEN], [u8; BLS_SIGNATURE_LEN]) {
    type Keys = Map<u32, ([u8; 48], [u8; 96])>;
    static KEYS: OnceLock<std::sync::Mutex<Keys>> = OnceLock::new();
    let keys = KEYS.get_or_init(Default::default);
    let mut keys = keys.lock().unwrap();
    *keys.entry(i).or_insert_with(|| {
        let mut seed = [7u8; 32];
        seed[..4].copy_from_slice(&i.to_be_bytes());
        let sk = BlsSecretKey::from_seed(&seed);
        (
            sk.public_key().to_bytes(),
            sk.prove_possession().0.to_bytes(),
        )
    })
}

fn gv(i: u32, self_bond: Balance, commission: u32) -> GenesisValidator {
    let (k, pop) = key(i);
    GenesisValidator {
        account: acc(i),
        bls_public_key: k,
        proof_of_possession: pop,
        commission_per_mill: commission,
        self_bond,
    }
}

fn run<R>(balances: Vec<(AccountId, Balance)>, staking: GenesisConfig, f: impl FnOnce() -> R) -> R {
    let state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        Bal::build_genesis(&pallet_balances::GenesisConfig { balances }).unwrap();
        Staking::build_genesis(&staking).unwrap();
        f()
    })
}

/// Validators 1..=4 (self-bonds 4000, 3000, 2000, 1000; commission 10%), accounts
/// 1..=20 funded with 100_000 each.
fn standard<R>(f: impl FnOnce() -> R) -> R {
    run(
        (1..=20).map(|i| (acc(i), 100_000)).collect(),
        GenesisConfig {
            validators: vec![
                gv(1, 4_000, 100),
                gv(2, 3_000, 100),
                gv(3, 2_000, 100),
                gv(4, 1_000, 100),
            ],
            delegations: vec![],
        },
        f,
    )
}

fn end_epoch() {
    let next = Staking::epoch().index + 1;
    Staking::on_finalize(next * <Test as Config>::EPOCH_LENGTH);
}

fn sum_free() -> Balance {
    pallet_balances::storage::Account::iter()
        .map(|(_, d): (AccountId, pallet_balances::AccountData)| d.free)
        .sum()
}

/// The books: issuance = free + bonded + unbonding, the totals match the ledgers,
/// and issuance moved only by minted rewards and burned slashes.
fn check_books(initial_issuance: Balance) {
    let issuance = Bal::total_issuance();
    assert_eq!(
        sum_free() + Staking::total_bonded() + Staking::total_unbonding(),
        issuance,
        "issuance = free + staked + unbonding"
    );
    let pools: Balance = Validators::iter().map(|(_, v)| v.total_stake).sum();
    assert_eq!(pools, Staking::total_bonded());
    let unbonding: Balance = Unbonding::iter()
        .flat_map(|(_, es): (AccountId, Vec<UnbondingEntry>)| es.into_iter().map(|e| e.amount))
        .sum();
    assert_eq!(unbonding, Staking::total_unbonding());
    assert_eq!(
        initial_issuance + Staking::total_minted()
            - Staking::total_burned()
            - Staking::total_pool_income(),
        issuance
    );
}

fn value_of(who: u32, validator: u32) -> Balance {
    Staking::delegations_of(&acc(who))
        .into_iter()
        .find(|d| d.validator == acc(validator))
        .map_or(0, |d| d.value)
}

fn staking_events() -> Vec<Event> {
    pallet_system::Pallet::<Test>::events()
        .into_iter()
        .filter(|e| e.pallet == 4)
        .map(|e| Event::decode(&mut &e.event[..]).unwrap())
        .collect()
}

#[test]
fn genesis_bonds_elects_and_writes_the_session_set() {
    standard(|| {
        assert_eq!(Bal::free_balance(&acc(1)), 96_000);
        assert_eq!(Staking::total_bonded(), 10_000);
        assert_eq!(Bal::total_issuance(), 2_000_000);
        check_books(2_000_000);
        let set = Staking::elected();
        let accounts: Vec<AccountId> = set.iter().map(|r| r.account).collect();
        assert_eq!(accounts, vec![acc(1), acc(2), acc(3)], "top 3 by stake");
        assert_eq!(set[0].stake, 4_000);
        assert_eq!(set[0].bls_public_key, key(1).0);
        assert_eq!(pallet_session::Pallet::<Test>::validators(), set);
        assert_eq!(
            Staking::epoch(),
            EpochView {
                index: 0,
                start_block: 0,
                length: 10
            }
        );
        let v4 = Staking::validator(&acc(4)).unwrap();
        assert!(!v4.active);
        assert_eq!(v4.self_bond, 1_000);
        assert!(Staking::validator(&acc(1)).unwrap().active);
        assert_eq!(Staking::validators().len(), 4);
    });
}

#[test]
fn genesis_refusals() {
    let try_build = |validators: Vec<GenesisValidator>, delegations| {
        let state = InMemoryState::default();
        let mut overlay = OverlayedChanges::new();
        menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
            Bal::build_genesis(&pallet_balances::GenesisConfig {
                balances: (1..=5).map(|i| (acc(i), 10_000)).collect(),
            })
            .unwrap();
            Staking::build_genesis(&GenesisConfig {
                validators,
                delegations,
            })
        })
    };
    assert_eq!(try_build(vec![], vec![]), Err(GenesisError::NoValidators));
    let mut bad = gv(1, 1_000, 0);
    bad.proof_of_possession = key(2).1;
    assert_eq!(
        try_build(vec![bad], vec![]),
        Err(GenesisError::Validator(acc(1), Error::BadProofOfPossession))
    );
    assert_eq!(
        try_build(vec![gv(1, 50_000, 0)], vec![]),
        Err(GenesisError::Validator(acc(1), Error::InsufficientBalance))
    );
    assert_eq!(
        try_build(vec![gv(1, 1_000, 0)], vec![(acc(2), acc(9), 500)]),
        Err(GenesisError::Delegation(
            acc(2),
            acc(9),
            Error::UnknownValidator
        ))
    );
    assert_eq!(
        try_build(vec![gv(1, 1_000, 0)], vec![(acc(2), acc(1), 500)]),
        Ok(())
    );
}

#[test]
fn validate_registers_and_refuses_bad_requests() {
    standard(|| {
        let (k, pop) = key(5);
        let call = |who: u32, k, pop, commission, bond: Balance| {
            Staking::dispatch(
                Origin::Signed(acc(who)),
                Call::Validate {
                    bls_public_key: k,
                    proof_of_possession: pop,
                    commission_per_mill: commission,
                    self_bond: Compact(bond),
                },
            )
        };
        let err = |e: Error| Err(e.into_dispatch_error(4));
        assert_eq!(call(5, k, pop, 1_001, 1_000), err(Error::BadCommission));
        assert_eq!(call(1, k, pop, 0, 1_000), err(Error::DuplicateAccount));
        assert_eq!(
            call(5, key(1).0, key(1).1, 0, 1_000),
            err(Error::DuplicateKey)
        );
        assert_eq!(call(5, k, pop, 0, 999), err(Error::BelowMinimum));
        assert_eq!(call(5, k, pop, 0, 100_001), err(Error::InsufficientBalance));
        assert_eq!(
            call(5, k, key(6).1, 0, 1_000),
            err(Error::BadProofOfPossession)
        );
        assert_eq!(call(5, k, pop, 0, 99_995), err(Error::WouldLeaveDust));
        assert_eq!(Validators::get(&acc(5)), None);
        assert_eq!(call(5, k, pop, 50, 5_000), Ok(()));
        let v = Staking::validator(&acc(5)).unwrap();
        assert_eq!(
            (v.total_stake, v.self_bond, v.commission_per_mill),
            (5_000, 5_000, 50)
        );
        assert!(!v.active, "joins at the next election");
        assert_eq!(Bal::free_balance(&acc(5)), 95_000);
        end_epoch();
        assert!(Staking::validator(&acc(5)).unwrap().active);
        assert_eq!(Staking::elected()[0].account, acc(5));
        // Encoding: call index 0, then the fields in order, compact amount.
        let encoded = Call::Validate {
            bls_public_key: k,
            proof_of_possession: pop,
            commission_per_mill: 1,
            self_bond: Compact(1_000),
        }
        .encode();
        assert_eq!(encoded[0], 0);
        assert_eq!(encoded.len(), 1 + 48 + 96 + 4 + 2);
        check_books(2_000_000);
    });
}

#[test]
fn delegate_bond_more_undelegate_withdraw() {
    standard(|| {
        let err = |e: Error| Err(e);
        assert_eq!(
            Staking::delegate(&acc(10), &acc(9), 500),
            err(Error::UnknownValidator)
        );
        assert_eq!(
            Staking::delegate(&acc(10), &acc(1), 99),
            err(Error::BelowMinimum)
        );
        assert_eq!(
            Staking::delegate(&acc(10), &acc(1), 100_001),
            err(Error::InsufficientBalance)
        );
        assert_eq!(
            Staking::bond_more(&acc(10), 500),
            err(Error::UnknownValidator)
        );
        assert_eq!(Staking::bond_more(&acc(4), 0), err(Error::ZeroAmount));
        Staking::delegate(&acc(10), &acc(4), 5_000).unwrap();
        Staking::bond_more(&acc(4), 500).unwrap();
        assert_eq!(value_of(10, 4), 5_000);
        assert_eq!(Staking::validator(&acc(4)).unwrap().self_bond, 1_500);
        assert_eq!(Staking::validator(&acc(4)).unwrap().total_stake, 6_500);
        assert_eq!(Bal::free_balance(&acc(10)), 95_000);
        check_books(2_000_000);

        assert_eq!(
            Staking::undelegate(&acc(11), &acc(4), 100),
            err(Error::NoDelegation)
        );
        assert_eq!(
            Staking::undelegate(&acc(10), &acc(4), 5_001),
            err(Error::InsufficientBalance)
        );
        assert_eq!(
            Staking::undelegate(&acc(10), &acc(4), 4_950),
            err(Error::BelowMinimum)
        );
        assert_eq!(
            Staking::undelegate(&acc(10), &acc(4), 0),
            err(Error::ZeroAmount)
        );
        assert_eq!(
            Staking::undelegate(&acc(4), &acc(4), 600),
            err(Error::BelowMinimum)
        );
        assert_eq!(
            Staking::withdraw_unbonded(&acc(10)),
            Err(Error::NothingToWithdraw)
        );
        Staking::undelegate(&acc(10), &acc(4), 2_000).unwrap();
        Staking::undelegate(&acc(10), &acc(4), 1_000).unwrap(); // merged into one entry
        assert_eq!(value_of(10, 4), 2_000);
        let entries = Staking::unbonding_of(&acc(10));
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].amount, 3_000);
        assert_eq!(entries[0].withdrawable_at_epoch, 3);
        assert_eq!(Staking::total_unbonding(), 3_000);
        check_books(2_000_000);
        for _ in 0..2 {
            end_epoch();
            assert_eq!(
                Staking::withdraw_unbonded(&acc(10)),
                Err(Error::StillUnbonding)
            );
        }
        Staking::undelegate(&acc(10), &acc(4), 2_000).unwrap(); // the rest, later
        end_epoch();
        assert_eq!(Staking::withdraw_unbonded(&acc(10)), Ok(3_000));
        assert_eq!(Bal::free_balance(&acc(10)), 98_000);
        assert_eq!(Staking::unbonding_of(&acc(10)).len(), 1);
        // v4 (6_500) was elected for epochs 1..: the delegation earned until it left.
        let earned = Staking::pending_rewards(&acc(10), &acc(4));
        assert!(earned > 0);
        assert_eq!(Staking::claim_rewards(&acc(10), &acc(4)), Ok(earned));
        assert_eq!(
            Staking::delegations_of(&acc(10)),
            vec![],
            "fully left and claimed"
        );
        end_epoch();
        end_epoch();
        assert_eq!(Staking::withdraw_unbonded(&acc(10)), Ok(2_000));
        assert_eq!(
            Staking::withdraw_unbonded(&acc(10)),
            Err(Error::NothingToWithdraw)
        );
        assert!(UnbondingOwners::get(&acc(4)).is_none());
        // Only minted rewards changed issuance.
        check_books(2_000_000);
    });
}

#[test]
fn calls_dispatch_with_their_indices() {
    standard(|| {
        let signed = Origin::Signed(acc(10));
        Staking::dispatch(
            signed,
            Call::Delegate {
                validator: acc(1),
                amount: Compact(1_000),
            },
        )
        .unwrap();
        assert_eq!(value_of(10, 1), 1_000);
        Staking::dispatch(
            signed,
            Call::Undelegate {
                validator: acc(1),
                amount: Compact(1_000),
            },
        )
        .unwrap();
        assert_eq!(
            Staking::dispatch(signed, Call::WithdrawUnbonded),
            Err(Error::StillUnbonding.into_dispatch_error(4))
        );
        assert_eq!(
            Staking::dispatch(signed, Call::ClaimRewards { validator: acc(1) }),
            Err(Error::NothingToClaim.into_dispatch_error(4))
        );
        Staking::dispatch(
            Origin::Signed(acc(4)),
            Call::BondMore { amount: Compact(1) },
        )
        .unwrap();
        Staking::dispatch(Origin::Signed(acc(4)), Call::Chill).unwrap();
        Staking::dispatch(Origin::Signed(acc(4)), Call::Unchill).unwrap();
        assert_eq!(
            Staking::dispatch(Origin::Signed(acc(4)), Call::Unjail),
            Err(Error::NotJailed.into_dispatch_error(4))
        );
        assert_eq!(
            Staking::dispatch(Origin::Root, Call::Chill),
            Err(menara_support::dispatch::bad_origin())
        );
        let indices: Vec<u8> = [
            Call::BondMore { amount: Compact(1) },
            Call::Delegate {
                validator: acc(1),
                amount: Compact(1),
            },
            Call::Undelegate {
                validator: acc(1),
                amount: Compact(1),
            },
            Call::WithdrawUnbonded,
            Call::ClaimRewards { validator: acc(1) },
            Call::Chill,
            Call::Unchill,
            Call::Unjail,
            Call::CancelDeferredSlash { id: 0 },
        ]
        .iter()
        .map(|c| c.encode()[0])
        .collect();
        assert_eq!(indices, vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
}

#[test]
fn rewards_split_by_stake_and_commission_and_are_minted_on_claim() {
    standard(|| {
        Staking::delegate(&acc(10), &acc(3), 2_000).unwrap(); // v3 pool: 2000 self + 2000
                                                              // Exposures of epoch 0 were fixed at genesis: 4000, 3000, 2000 (total 9000).
        Staking::note_fees(7_000);
        let issuance = Bal::total_issuance();
        end_epoch();
        // Pot: 0.1% of 2_000_000 = 2_000 inflation + 7_000 fees = 9_000.
        // v3's share: 9000 * 2000 / 9000 = 2000; commission 200; 1800 over 4000 shares.
        assert_eq!(Staking::pending_rewards(&acc(3), &acc(3)), 200 + 900);
        assert_eq!(Staking::pending_rewards(&acc(10), &acc(3)), 900);
        assert_eq!(Staking::pending_rewards(&acc(1), &acc(1)), 4_000);
        assert_eq!(Staking::pending_rewards(&acc(4), &acc(4)), 0, "not active");
        assert_eq!(Bal::total_issuance(), issuance, "minted only when claimed");
        assert!(staking_events().contains(&Event::EpochEnded {
            epoch: 0,
            rewards: 9_000
        }));
        assert_eq!(Staking::claim_rewards(&acc(10), &acc(3)), Ok(900));
        assert_eq!(
            Staking::claim_rewards(&acc(10), &acc(3)),
            Err(Error::NothingToClaim)
        );
        assert_eq!(Staking::claim_rewards(&acc(3), &acc(3)), Ok(1_100));
        assert_eq!(
            Staking::claim_rewards(&acc(3), &acc(9)),
            Err(Error::UnknownValidator)
        );
        assert_eq!(Bal::free_balance(&acc(10)), 98_900);
        assert_eq!(Staking::total_minted(), 2_000);
        check_books(2_000_000);
        // The next epoch: exposures now include the delegation (v3: 4000 of 11000).
        end_epoch();
        let pot = Bal::total_issuance() / 1_000;
        let _ = pot;
        let d = Staking::delegations_of(&acc(10));
        assert_eq!(d.len(), 1);
        assert!(d[0].pending_rewards > 0);
        check_books(2_000_000);
    });
}

#[test]
fn rewards_to_a_departed_delegator_stay_claimable() {
    standard(|| {
        Staking::delegate(&acc(10), &acc(1), 4_000).unwrap();
        end_epoch(); // exposure of epoch 1 includes it
        end_epoch();
        let pending = Staking::pending_rewards(&acc(10), &acc(1));
        assert!(pending > 0);
        Staking::undelegate(&acc(10), &acc(1), 4_000).unwrap();
        end_epoch();
        assert_eq!(
            Staking::pending_rewards(&acc(10), &acc(1)),
            pending,
            "no longer earns"
        );
        assert_eq!(Staking::claim_rewards(&acc(10), &acc(1)), Ok(pending));
        assert!(Staking::delegations_of(&acc(10)).is_empty());
        check_books(2_000_000);
    });
}

#[test]
fn election_takes_the_top_by_stake_with_account_tie_break() {
    run(
        (1..=10).map(|i| (acc(i), 100_000)).collect(),
        GenesisConfig {
            validators: vec![
                gv(5, 2_000, 0),
                gv(2, 2_000, 0),
                gv(9, 3_000, 0),
                gv(1, 1_000, 0),
            ],
            delegations: vec![],
        },
        || {
            let accounts =
                || -> Vec<AccountId> { Staking::elected().iter().map(|r| r.account).collect() };
            assert_eq!(accounts(), vec![acc(9), acc(2), acc(5)]);
            // Delegation lifts v1; chilling v9 removes it.
            Staking::delegate(&acc(7), &acc(1), 5_000).unwrap();
            assert_eq!(Staking::chill(&acc(9)), Ok(()));
            assert_eq!(Staking::chill(&acc(9)), Err(Error::AlreadyChilled));
            assert_eq!(Staking::chill(&acc(7)), Err(Error::UnknownValidator));
            end_epoch();
            assert_eq!(accounts(), vec![acc(1), acc(2), acc(5)]);
            assert_eq!(Staking::unchill(&acc(9)), Ok(()));
            assert_eq!(Staking::unchill(&acc(9)), Err(Error::NotChilled));
            // A validator that unbonds its whole self-bond is chilled.
            Staking::undelegate(&acc(2), &acc(2), 2_000).unwrap();
            assert!(Staking::validator(&acc(2)).unwrap().chilled);
            assert_eq!(Staking::unchill(&acc(2)), Err(Error::BelowMinimum));
            end_epoch();
            assert_eq!(accounts(), vec![acc(1), acc(9), acc(5)]);
            // Nobody eligible: the previous set stays.
            for v in [1, 5, 9] {
                Staking::chill(&acc(v)).unwrap();
            }
            end_epoch();
            assert_eq!(accounts(), vec![acc(1), acc(9), acc(5)]);
            assert!(staking_events().contains(&Event::ElectionFailed { epoch: 3 }));
        },
    );
}

#[test]
fn equivocation_tombstones_and_the_slash_waits_then_hits_pool_and_unbonding() {
    standard(|| {
        Staking::delegate(&acc(10), &acc(1), 6_000).unwrap();
        end_epoch(); // epoch 1: v1 exposed with 10_000
        assert_eq!(Staking::active_set()[0], (acc(1), 10_000));
        // During epoch 1, the delegator unbonds 2_000 (still slashable for epoch 1).
        Staking::undelegate(&acc(10), &acc(1), 2_000).unwrap();
        let id =
            Staking::report_offence(&acc(1), OffenceKind::Equivocation, 1, Some(acc(20))).unwrap();
        assert_eq!(
            Staking::report_offence(&acc(1), OffenceKind::Equivocation, 1, None),
            Err(Error::AlreadyReported)
        );
        assert_eq!(
            Staking::report_offence(&acc(1), OffenceKind::Equivocation, 2, None),
            Err(Error::FutureEpoch)
        );
        assert_eq!(
            Staking::report_offence(&acc(4), OffenceKind::Equivocation, 1, None),
            Err(Error::NotExposed)
        );
        assert_eq!(
            Staking::report_offence(&acc(10), OffenceKind::Downtime, 1, None),
            Err(Error::UnknownValidator)
        );
        let v = Staking::validator(&acc(1)).unwrap();
        assert!(v.tombstoned);
        assert_eq!(
            Staking::delegate(&acc(11), &acc(1), 500),
            Err(Error::Tombstoned)
        );
        assert_eq!(Staking::bond_more(&acc(1), 500), Err(Error::Tombstoned));
        assert_eq!(Staking::unjail(&acc(1)), Err(Error::Tombstoned));
        let slashes = Staking::deferred_slashes();
        assert_eq!(slashes.len(), 1);
        assert_eq!(slashes[0].0, id);
        assert_eq!(slashes[0].1.exposure, 10_000);
        assert_eq!(slashes[0].1.apply_at_epoch, 2);
        let issuance = Bal::total_issuance();
        end_epoch(); // end of epoch 1: removed from the set, slash not yet due
        assert!(!Staking::elected().iter().any(|r| r.account == acc(1)));
        assert_eq!(Staking::validator(&acc(1)).unwrap().total_stake, 8_000);
        assert_eq!(
            Bal::total_issuance(),
            issuance,
            "rewards are not minted yet"
        );
        end_epoch(); // end of epoch 2: 10% of 10_000 = 1_000
        assert!(Staking::deferred_slashes().is_empty());
        // 200 (10% of the 2_000 unbonding) from the entry, 800 from the pool of 8_000.
        assert_eq!(Staking::unbonding_of(&acc(10))[0].amount, 1_800);
        let v = Staking::validator(&acc(1)).unwrap();
        assert_eq!(v.total_stake, 7_200);
        assert_eq!(v.self_bond, 3_600, "self-bond loses 10% too");
        assert_eq!(value_of(10, 1), 3_600);
        assert_eq!(Bal::free_balance(&acc(20)), 100_100, "reporter gets 10%");
        assert_eq!(Staking::total_burned(), 900);
        assert!(staking_events().contains(&Event::Slashed {
            slash_id: id,
            offender: acc(1),
            amount: 1_000,
            reporter_reward: 100,
            burned: 900
        }));
        check_books(2_000_000);
        // Barred forever.
        let (k, pop) = key(1);
        assert_eq!(
            Staking::validate(&acc(1), k, &pop, 0, 1_000),
            Err(Error::Tombstoned)
        );
        // Its delegators can still leave.
        Staking::undelegate(&acc(10), &acc(1), 3_600).unwrap();
        check_books(2_000_000);
    });
}

#[test]
fn reports_for_old_epochs_are_refused() {
    standard(|| {
        // UNBONDING 3, DEFER 1: from epoch 2 on, epoch 0 offences are too old.
        end_epoch();
        end_epoch();
        assert_eq!(
            Staking::report_offence(&acc(1), OffenceKind::Downtime, 0, None),
            Err(Error::OffenceTooOld)
        );
        assert!(Staking::report_offence(&acc(1), OffenceKind::Downtime, 1, None).is_ok());
    });
}

#[test]
fn downtime_jails_then_unjail() {
    standard(|| {
        Staking::report_offence(&acc(2), OffenceKind::Downtime, 0, None).unwrap();
        // Equivocation in the same epoch is a different offence.
        assert_eq!(Staking::validator(&acc(2)).unwrap().jailed_until, Some(2));
        assert_eq!(Staking::unjail(&acc(2)), Err(Error::JailPeriodNotOver));
        assert_eq!(Staking::unjail(&acc(3)), Err(Error::NotJailed));
        end_epoch(); // epoch 0 ends: jailed v2 forfeits rewards and leaves the set
        assert_eq!(Staking::pending_rewards(&acc(2), &acc(2)), 0);
        assert!(Staking::pending_rewards(&acc(1), &acc(1)) > 0);
        let set: Vec<AccountId> = Staking::elected().iter().map(|r| r.account).collect();
        assert_eq!(set, vec![acc(1), acc(3), acc(4)]);
        end_epoch(); // slash applied: 1% of 3_000, no reporter
        assert_eq!(Staking::validator(&acc(2)).unwrap().total_stake, 2_970);
        assert_eq!(Staking::total_burned(), 30);
        assert_eq!(Staking::epoch().index, 2);
        Staking::bond_more(&acc(2), 30).unwrap();
        assert_eq!(Staking::unjail(&acc(2)), Ok(()));
        end_epoch();
        assert!(Staking::elected().iter().any(|r| r.account == acc(2)));
        check_books(2_000_000);
    });
}

#[test]
fn governance_cancels_a_deferred_slash() {
    standard(|| {
        let id = Staking::report_offence(&acc(1), OffenceKind::Equivocation, 0, None).unwrap();
        assert_eq!(
            Staking::dispatch(Origin::Signed(acc(1)), Call::CancelDeferredSlash { id }),
            Err(menara_support::dispatch::bad_origin())
        );
        assert_eq!(
            Staking::dispatch(Origin::Root, Call::CancelDeferredSlash { id: 99 }),
            Err(Error::UnknownSlash.into_dispatch_error(4))
        );
        Staking::dispatch(Origin::Root, Call::CancelDeferredSlash { id }).unwrap();
        end_epoch();
        end_epoch();
        assert_eq!(Staking::validator(&acc(1)).unwrap().total_stake, 4_000);
        assert_eq!(Staking::total_burned(), 0);
        assert!(
            Staking::validator(&acc(1)).unwrap().tombstoned,
            "still barred"
        );
    });
}

#[test]
fn payouts_below_the_existential_deposit_wait() {
    run(
        vec![(acc(1), 100_000), (acc(2), 1_000)],
        GenesisConfig {
            validators: vec![gv(1, 99_000, 0)],
            delegations: vec![(acc(2), acc(1), 1_000)],
        },
        || {
            // Pot: 0.1% of 101_000 = 101; acc(2)'s share is 1, below the deposit of 10,
            // and acc(2) is empty: the payout waits until the account is funded.
            assert_eq!(Bal::free_balance(&acc(2)), 0);
            end_epoch();
            assert_eq!(Staking::pending_rewards(&acc(2), &acc(1)), 1);
            assert_eq!(
                Staking::claim_rewards(&acc(2), &acc(1)),
                Err(Error::ExistentialDeposit)
            );
            assert_eq!(Staking::pending_rewards(&acc(2), &acc(1)), 1);
            Bal::transfer(&acc(1), &acc(2), 10).unwrap();
            assert_eq!(Staking::claim_rewards(&acc(2), &acc(1)), Ok(1));
            assert_eq!(Staking::claim_rewards(&acc(1), &acc(1)), Ok(99));
            check_books(101_000);
        },
    );
}

#[test]
fn epoch_of_block_matches_on_finalize() {
    standard(|| {
        assert_eq!(Staking::epoch_of_block(0), 0);
        assert_eq!(Staking::epoch_of_block(10), 0);
        assert_eq!(Staking::epoch_of_block(11), 1);
        for n in 1..=25 {
            Staking::on_finalize(n);
        }
        assert_eq!(Staking::epoch().index, 2);
        assert_eq!(Staking::epoch().start_block, 21);
    });
}

struct Big;
impl pallet_system::Config for Big {
    const PALLET_INDEX: u8 = 0;
    const MAX_EVENTS_PER_BLOCK: u32 = 1_000;
    const SPEC_NAME: &'static str = "menara";
    const SPEC_VERSION: u32 = 1;
    const MAX_CODE_SIZE: u32 = 1 << 20;
}
impl pallet_balances::Config for Big {
    const PALLET_INDEX: u8 = 1;
    const EXISTENTIAL_DEPOSIT: Balance = 10;
}
impl pallet_session::Config for Big {
    const PALLET_INDEX: u8 = 2;
}
impl Config for Big {
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

#[test]
fn an_epoch_with_100_validators_and_10_000_delegators() {
    type S = Pallet<Big>;
    type B = pallet_balances::Pallet<Big>;
    let validators: Vec<GenesisValidator> = (1..=100)
        .map(|i| gv(i, 10_000 + u128::from(i), 50))
        .collect();
    let delegators: Vec<u32> = (1_000..11_000).collect();
    let mut balances: Vec<(AccountId, Balance)> = (1..=100).map(|i| (acc(i), 1_000_000)).collect();
    balances.extend(delegators.iter().map(|d| (acc(*d), 1_000_000)));
    let delegations = delegators
        .iter()
        .map(|d| (acc(*d), acc(1 + d % 100), 1_000 + u128::from(*d)))
        .collect();
    let state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        B::build_genesis(&pallet_balances::GenesisConfig { balances }).unwrap();
        let issuance = B::total_issuance();
        S::build_genesis(&GenesisConfig {
            validators,
            delegations,
        })
        .unwrap();
        assert_eq!(S::elected().len(), 100);
        S::on_finalize(10);
        S::on_finalize(20);
        assert_eq!(S::epoch().index, 2);
        assert_eq!(S::elected().len(), 100);
        // Everyone claims: the books still balance.
        let mut claimed = 0;
        for d in &delegators {
            claimed += S::claim_rewards(&acc(*d), &acc(1 + d % 100)).unwrap();
        }
        assert!(claimed > 0);
        let bonded: Balance = Validators::iter().map(|(_, v)| v.total_stake).sum();
        assert_eq!(bonded, S::total_bonded());
        assert_eq!(sum_free() + bonded, B::total_issuance());
        assert_eq!(issuance + S::total_minted(), B::total_issuance());
    });
}

// ---------------------------------------------------------------- property tests

#[derive(Clone, Debug)]
enum Op {
    Delegate(u32, u32, Balance),
    Undelegate(u32, u32, Balance),
    Withdraw(u32),
    Claim(u32, u32),
    EndEpoch,
    Fees(Balance),
    Offence(u32, bool),
    Cancel(u64),
    Chill(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (10u32..16, 1u32..5, 1u128..20_000).prop_map(|(d, v, a)| Op::Delegate(d, v, a)),
        3 => (1u32..16, 1u32..5, 1u128..20_000).prop_map(|(d, v, a)| Op::Undelegate(d, v, a)),
        2 => (1u32..16).prop_map(Op::Withdraw),
        2 => (1u32..16, 1u32..5).prop_map(|(d, v)| Op::Claim(d, v)),
        3 => Just(Op::EndEpoch),
        1 => (0u128..50_000).prop_map(Op::Fees),
        1 => (1u32..5, any::<bool>()).prop_map(|(v, e)| Op::Offence(v, e)),
        1 => (0u64..4).prop_map(Op::Cancel),
        1 => (1u32..5).prop_map(Op::Chill),
    ]
}

fn apply(op: &Op) {
    match op {
        Op::Delegate(d, v, a) => {
            let _ = Staking::delegate(&acc(*d), &acc(*v), *a);
        }
        Op::Undelegate(d, v, a) => {
            let _ = Staking::undelegate(&acc(*d), &acc(*v), *a);
        }
        Op::Withdraw(d) => {
            let _ = Staking::withdraw_unbonded(&acc(*d));
        }
        Op::Claim(d, v) => {
            let _ = Staking::claim_rewards(&acc(*d), &acc(*v));
        }
        Op::EndEpoch => end_epoch(),
        Op::Fees(f) => Staking::note_fees(*f),
        Op::Offence(v, equivocation) => {
            let kind = if *equivocation {
                OffenceKind::Equivocation
            } else {
                OffenceKind::Downtime
            };
            let epoch = Staking::epoch().index;
            let _ = Staking::report_offence(&acc(*v), kind, epoch, Some(acc(19)));
        }
        Op::Cancel(id) => {
            let _ = Staking::cancel_deferred_slash(*id);
        }
        Op::Chill(v) => {
            let _ = Staking::chill(&acc(*v));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever happens, issuance = free + bonded + unbonding, and issuance moved only
    /// by rewards minted and slashes burned.
    #[test]
    fn issuance_is_conserved(ops in proptest::collection::vec(op(), 1..60)) {
        standard(|| {
            for op in &ops {
                apply(op);
                check_books(2_000_000);
            }
        });
    }

    /// A slash never takes more than its fraction of the stake exposed at the offence,
    /// whatever moved in and out of the pool between offence and application.
    #[test]
    fn a_slash_never_exceeds_the_exposure(
        before in proptest::collection::vec(op(), 0..30),
        after in proptest::collection::vec(op(), 0..30),
        offender in 1u32..4,
        equivocation in any::<bool>(),
    ) {
        standard(|| {
            for op in &before {
                apply(op);
            }
            let epoch = Staking::epoch().index;
            let kind = if equivocation { OffenceKind::Equivocation } else { OffenceKind::Downtime };
            let Ok(id) = Staking::report_offence(&acc(offender), kind, epoch, None) else {
                return;
            };
            let slash = DeferredSlashes::get(&id).unwrap();
            let cap = per_mill(slash.exposure, slash.per_mill);
            let mut slashed = 0;
            for op in after.iter().chain(core::iter::repeat_n(&Op::EndEpoch, 3)) {
                // No further offences or cancellations: measure this slash alone.
                if matches!(op, Op::Offence(..) | Op::Cancel(_)) {
                    continue;
                }
                apply(op);
                for e in staking_events() {
                    if let Event::Slashed { slash_id, amount, .. } = e {
                        if slash_id == id {
                            slashed = amount;
                        }
                    }
                }
            }
            assert!(slashed <= cap, "slashed {slashed} > cap {cap}");
            assert!(cap <= slash.exposure);
            check_books(2_000_000);
        });
    }

    /// Each account's rewards do not depend on the order in which anyone claims.
    #[test]
    fn rewards_do_not_depend_on_claim_order(
        setup in proptest::collection::vec((10u32..16, 1u32..5, 100u128..20_000), 1..12),
        seed in any::<u64>(),
        epochs in 1usize..4,
    ) {
        let claims: Vec<(u32, u32)> =
            (1u32..16).flat_map(|d| (1u32..5).map(move |v| (d, v))).collect();
        let mut shuffled = claims.clone();
        // Deterministic shuffle from the seed.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let j = usize::try_from(s % (i as u64 + 1)).unwrap();
            shuffled.swap(i, j);
        }
        let payouts = |order: &[(u32, u32)], interleave: bool| {
            standard(|| {
                for (d, v, a) in &setup {
                    let _ = Staking::delegate(&acc(*d), &acc(*v), *a);
                }
                let mut paid: Map<(u32, u32), Balance> = Map::new();
                for epoch in 0..epochs {
                    Staking::note_fees(1_234);
                    end_epoch();
                    // Some claim in between epochs in one run only.
                    if interleave && epoch == 0 {
                        for (d, v) in order.iter().take(order.len() / 2) {
                            if let Ok(a) = Staking::claim_rewards(&acc(*d), &acc(*v)) {
                                *paid.entry((*d, *v)).or_default() += a;
                            }
                        }
                    }
                }
                for (d, v) in order {
                    if let Ok(a) = Staking::claim_rewards(&acc(*d), &acc(*v)) {
                        *paid.entry((*d, *v)).or_default() += a;
                    }
                }
                check_books(2_000_000);
                paid
            })
        };
        let a = payouts(&claims, false);
        let b = payouts(&shuffled, false);
        prop_assert_eq!(&a, &b);
        // Claiming part-way through only changes rounding, by at most one unit per
        // settlement.
        let c = payouts(&shuffled, true);
        for (k, v) in &a {
            let w = c.get(k).copied().unwrap_or(0);
            prop_assert!(v.abs_diff(w) <= epochs as u128, "{:?}: {} vs {}", k, v, w);
        }
    }
}

// ---------------------------------------------------------------- agent pools

#[test]
fn agent_pools_share_the_machinery_but_are_never_elected_nor_reachable_by_staking_calls() {
    standard(|| {
        let agent = acc(30);
        let owner = acc(5);
        let initial = Bal::total_issuance();
        Staking::open_agent_pool(&agent, &owner, 200, 50_000).unwrap();
        assert_eq!(
            Staking::open_agent_pool(&agent, &owner, 200, 1_000),
            Err(Error::DuplicateAccount)
        );
        // A validator's account cannot become an agent pool either.
        assert_eq!(
            Staking::open_agent_pool(&acc(1), &owner, 200, 1_000),
            Err(Error::DuplicateAccount)
        );
        Staking::delegate_to_pool(&acc(6), &agent, 10_000).unwrap();
        // The largest pool by far, yet not a validator: not elected, not listed.
        end_epoch();
        assert!(Staking::elected().iter().all(|v| v.account != agent));
        assert!(Staking::validators().iter().all(|v| v.account != agent));
        assert_eq!(Staking::validator(&agent), None);
        // Staking's own calls refuse the agent's pool: the agents pallet's rules hold.
        for result in [
            Staking::delegate(&acc(7), &agent, 1_000),
            Staking::undelegate(&owner, &agent, 1_000),
            Staking::claim_rewards(&owner, &agent).map(|_| ()),
            Staking::bond_more(&agent, 1_000),
            Staking::chill(&agent),
        ] {
            assert_eq!(result, Err(Error::UnknownValidator));
        }
        assert_eq!(
            Staking::delegate_to_pool(&acc(7), &acc(1), 1_000),
            Err(Error::UnknownPool)
        );

        // Income: 10% commission to the agent, the rest by shares (owner 5/6, delegator 1/6).
        Bal::hold(&acc(8), 6_000).unwrap();
        Staking::credit_pool(&agent, 6_000).unwrap();
        assert_eq!(Staking::claim_from_pool(&agent, &agent), Ok(1_200));
        assert_eq!(Staking::claim_from_pool(&owner, &agent), Ok(4_000));
        assert_eq!(Staking::claim_from_pool(&acc(6), &agent), Ok(800));

        // A slash is deferred and lowers every share pro rata, in O(1).
        let id = Staking::report_pool_offence(
            &agent,
            OffenceKind::AgentEquivocation,
            Staking::epoch().index,
            100,
            Some(acc(9)),
        )
        .unwrap();
        assert!(Staking::slash_pending(id));
        Staking::undelegate_from_pool(&acc(6), &agent, 10_000, 0).unwrap();
        for _ in 0..=<Test as Config>::SLASH_DEFER_EPOCHS {
            end_epoch();
        }
        assert!(!Staking::slash_pending(id));
        assert_eq!(Staking::stake_in_pool(&owner, &agent), 45_000);
        // The delegator left after the offence: its unbonding entry paid its 10% too.
        let entry = &Staking::unbonding_of(&acc(6))[0];
        assert_eq!(entry.amount, 9_000);
        assert_eq!(Staking::total_pool_income(), 6_000);
        check_books(initial);
    })
}
