//! Tests of the governance pallet: proposals and their refusals, stake-weighted votes that
//! follow delegations, closing with quorum and majority, enactment after the delay, the
//! emergency cancel, parameters, and two properties (the tally is the sum of the votes and
//! never counts more stake than exists; the money adds up).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use menara_crypto::BlsSecretKey;
use menara_primitives::BLS_PUBLIC_KEY_LEN;
use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};
use pallet_staking::{EpochIndex, GenesisValidator};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::OnceLock;

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
impl pallet_staking::Config for Test {
    const PALLET_INDEX: u8 = 4;
    const EPOCH_LENGTH: BlockNumber = 10;
    const MAX_VALIDATORS: u32 = 4;
    const MIN_SELF_BOND: Balance = 1_000;
    const MIN_DELEGATION: Balance = 100;
    const UNBONDING_EPOCHS: EpochIndex = 3;
    const SLASH_DEFER_EPOCHS: EpochIndex = 1;
    const EQUIVOCATION_SLASH: u32 = 100;
    const DOWNTIME_SLASH: u32 = 10;
    const DOWNTIME_JAIL_EPOCHS: EpochIndex = 2;
    const REPORTER_REWARD: u32 = 100;
    const INFLATION_PER_EPOCH: u64 = 0;
}
impl Config for Test {
    const PALLET_INDEX: u8 = GOVERNANCE;
    const PROPOSAL_DEPOSIT: Balance = 1_000;
    const DEPOSIT_PER_BYTE: Balance = 10;
    const MAX_CALL_SIZE: u32 = 64;
    const MAX_LIVE: u32 = 3;
    const VOTING_PERIOD: BlockNumber = 20;
    const ENACTMENT_DELAY: BlockNumber = 5;
    const QUORUM_PER_MILL: u32 = 200;
    const EMERGENCY_CANCEL_PER_MILL: u32 = 667;
    /// Test calls: `[0xAA, pallet, call]` is a call, `[0xBB, version]` an upgrade to
    /// `version` (refused unless above 1), anything else does not decode.
    fn inspect_call(call: &[u8]) -> Result<ProposalKind, DispatchError> {
        match call {
            [0xAA, pallet, call] => Ok(ProposalKind::Call {
                pallet: *pallet,
                call: *call,
            }),
            [0xBB, version] if *version > 1 => Ok(ProposalKind::Upgrade {
                spec_version: *version as u32,
                code_hash: H256([*version; 32]),
            }),
            [0xBB, _] => Err(pallet_system::Error::SpecVersionNotIncreased.into_dispatch_error(0)),
            _ => Err(Error::UndecodableCall.into_dispatch_error(GOVERNANCE)),
        }
    }
    fn parameter_range(_: Parameter) -> (u128, u128) {
        (1, 1_000)
    }
}

const GOVERNANCE: u8 = 10;
type Gov = Pallet<Test>;
type Bal = pallet_balances::Pallet<Test>;
type Stk = pallet_staking::Pallet<Test>;
type Sys = pallet_system::Pallet<Test>;

const CALL: [u8; 3] = [0xAA, 4, 9];
const FUNDS: Balance = 100_000;
const ACCOUNTS: u32 = 12;

fn acc(i: u32) -> AccountId {
    let mut a = [0u8; 32];
    a[..4].copy_from_slice(&i.to_be_bytes());
    a[31] = 3;
    AccountId(a)
}

fn key(i: u32) -> ([u8; BLS_PUBLIC_KEY_LEN], [u8; 96]) {
    type Keys = BTreeMap<u32, ([u8; 48], [u8; 96])>;
    static KEYS: OnceLock<std::sync::Mutex<Keys>> = OnceLock::new();
    let keys = KEYS.get_or_init(Default::default);
    let mut keys = keys.lock().unwrap();
    *keys.entry(i).or_insert_with(|| {
        let mut seed = [9u8; 32];
        seed[..4].copy_from_slice(&i.to_be_bytes());
        let sk = BlsSecretKey::from_seed(&seed);
        (
            sk.public_key().to_bytes(),
            sk.prove_possession().0.to_bytes(),
        )
    })
}

/// Validators 1..=4 (self-bonds 4000, 3000, 2000, 1000: 10,000 in all); accounts 1..=12
/// funded with 100,000 each; block 1.
fn run<R>(f: impl FnOnce() -> R) -> R {
    let state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        Bal::build_genesis(&pallet_balances::GenesisConfig {
            balances: (1..=ACCOUNTS).map(|i| (acc(i), FUNDS)).collect(),
        })
        .unwrap();
        let validators = (1..=4u32)
            .map(|i| {
                let (k, pop) = key(i);
                GenesisValidator {
                    account: acc(i),
                    bls_public_key: k,
                    proof_of_possession: pop,
                    commission_per_mill: 100,
                    self_bond: Balance::from(5 - i) * 1_000,
                }
            })
            .collect();
        Stk::build_genesis(&pallet_staking::GenesisConfig {
            validators,
            delegations: vec![],
        })
        .unwrap();
        Gov::build_genesis(&GenesisConfig::default());
        set_block(1);
        f()
    })
}

fn set_block(n: BlockNumber) {
    let g = H256([1; 32]);
    Sys::initialize(&menara_primitives::BlockContext {
        number: n,
        parent_hash: if n == 1 { g } else { H256([2; 32]) },
        timestamp: n * 1000,
        author: acc(1),
        genesis_hash: g,
        beacon: Default::default(),
    })
    .unwrap();
}

/// Runs the end of every block from now up to and including `n`; returns what was due
/// for enactment on the way.
fn finalize_until(from: BlockNumber, n: BlockNumber) -> Vec<(ReferendumIndex, Vec<u8>)> {
    let mut due = Vec::new();
    for b in from..=n {
        set_block(b);
        due.extend(Gov::on_finalize(b));
    }
    due
}

fn name(r: DispatchResult) -> Result<(), String> {
    r.map_err(|e| e.message.to_string())
}

fn err(e: Error) -> Result<(), String> {
    Err(e.name().into())
}

fn signed(i: u32, call: Call) -> Result<(), String> {
    name(Gov::dispatch(Origin::Signed(acc(i)), call))
}

fn propose(i: u32, call: &[u8]) -> Result<(), String> {
    signed(
        i,
        Call::Propose {
            call: call.to_vec(),
        },
    )
}

fn vote(
    i: u32,
    referendum: ReferendumIndex,
    aye: bool,
    stake: Option<Balance>,
) -> Result<(), String> {
    signed(
        i,
        Call::Vote {
            referendum,
            aye,
            stake,
        },
    )
}

fn tally(index: ReferendumIndex) -> Tally {
    storage::Referenda::get(&index).unwrap().tally
}

fn status(index: ReferendumIndex) -> Status {
    storage::Referenda::get(&index).unwrap().status
}

fn sum_free() -> Balance {
    pallet_balances::storage::Account::iter()
        .map(|(_, a): (AccountId, pallet_balances::AccountData)| a.free)
        .sum()
}

/// Every token is somewhere: free, bonded or unbonding in staking, or a held deposit.
fn check_books() {
    assert_eq!(
        Bal::total_issuance(),
        sum_free() + Stk::total_bonded() + Stk::total_unbonding() + Gov::total_held()
    );
}

#[test]
fn proposals_need_stake_a_decodable_call_and_a_deposit() {
    run(|| {
        // Account 9 has no stake.
        assert_eq!(propose(9, &CALL), err(Error::NoStake));
        assert_eq!(propose(1, &[0xCC]), err(Error::UndecodableCall));
        assert_eq!(propose(1, &[0xAA; 65]), err(Error::CallTooLarge));
        assert_eq!(
            propose(1, &[0xBB, 1]),
            Err("SpecVersionNotIncreased".into())
        );
        let before = Bal::free_balance(&acc(1));
        propose(1, &CALL).unwrap();
        let deposit = 1_000 + 10 * CALL.len() as Balance;
        assert_eq!(Bal::free_balance(&acc(1)), before - deposit);
        assert_eq!(Gov::total_held(), deposit);
        let r = storage::Referenda::get(&0).unwrap();
        assert_eq!(r.end, 21);
        assert_eq!(r.kind, ProposalKind::Call { pallet: 4, call: 9 });
        assert_eq!(Gov::call_of(0), Some(CALL.to_vec()));
        propose(2, &[0xBB, 2]).unwrap();
        propose(3, &CALL).unwrap();
        assert_eq!(propose(4, &CALL), err(Error::TooManyReferenda));
        check_books();
    });
}

#[test]
fn delegated_stake_votes_with_its_validator_unless_the_delegator_votes() {
    run(|| {
        Stk::delegate(&acc(5), &acc(1), 500).unwrap();
        Stk::delegate(&acc(6), &acc(1), 300).unwrap();
        Stk::delegate(&acc(6), &acc(2), 200).unwrap();
        propose(1, &CALL).unwrap();
        // Delegator 6 votes first: its 500 (in two pools) counts for itself only.
        vote(6, 0, false, None).unwrap();
        assert_eq!(tally(0), Tally { ayes: 0, nays: 500 });
        // Validator 1 carries its own 4000 and delegator 5's 500, not 6's 300.
        vote(1, 0, true, None).unwrap();
        assert_eq!(
            tally(0),
            Tally {
                ayes: 4_500,
                nays: 500
            }
        );
        // Validator 2 carries nothing of 6's.
        vote(2, 0, true, None).unwrap();
        assert_eq!(
            tally(0),
            Tally {
                ayes: 7_500,
                nays: 500
            }
        );
        // Delegator 5 votes after its validator: its stake leaves validator 1's vote.
        vote(5, 0, false, None).unwrap();
        assert_eq!(
            tally(0),
            Tally {
                ayes: 7_000,
                nays: 1_000
            }
        );
        assert_eq!(Gov::vote_of(0, &acc(1)).unwrap().carried, 0);
        // A changed vote replaces the old one (with part of the stake).
        vote(5, 0, true, Some(200)).unwrap();
        assert_eq!(
            tally(0),
            Tally {
                ayes: 7_200,
                nays: 500
            }
        );
        // Refusals.
        assert_eq!(vote(5, 0, true, Some(501)), err(Error::InsufficientStake));
        assert_eq!(vote(5, 0, true, Some(0)), err(Error::ZeroStake));
        assert_eq!(vote(9, 0, true, None), err(Error::NoStake));
        assert_eq!(vote(1, 7, true, None), err(Error::UnknownReferendum));
        // Voting ends with block 21; later votes are refused.
        let due = finalize_until(2, 21);
        assert!(due.is_empty());
        assert_eq!(vote(3, 0, true, None), err(Error::VotingClosed));
        assert_eq!(status(0), Status::Passed { enact_at: 26 });
        check_books();
    });
}

#[test]
fn a_passed_referendum_is_enacted_after_the_delay_and_its_deposit_returns() {
    run(|| {
        let before = Bal::free_balance(&acc(2));
        propose(2, &CALL).unwrap();
        vote(1, 0, true, None).unwrap();
        vote(4, 0, false, None).unwrap();
        assert!(finalize_until(2, 25).is_empty());
        assert_eq!(status(0), Status::Passed { enact_at: 26 });
        let due = finalize_until(26, 26);
        assert_eq!(due, vec![(0, CALL.to_vec())]);
        Gov::note_enacted(0, Ok(()));
        assert_eq!(status(0), Status::Enacted { ok: true });
        assert_eq!(Bal::free_balance(&acc(2)), before);
        assert_eq!(Gov::call_of(0), None);
        assert_eq!(storage::Live::get_or_default(), 0);
        assert!(finalize_until(27, 40).is_empty());
        check_books();
    });
}

#[test]
fn without_quorum_or_majority_it_is_rejected() {
    run(|| {
        // Quorum is 20% of 10,000 bonded: validator 4's 1,000 is not enough.
        propose(4, &CALL).unwrap();
        vote(4, 0, true, None).unwrap();
        // A tie is not a majority.
        propose(1, &CALL).unwrap();
        vote(1, 1, true, Some(2_000)).unwrap();
        vote(2, 1, false, Some(2_000)).unwrap();
        // Both close at the end of block 21.
        finalize_until(2, 21);
        assert_eq!(status(0), Status::Rejected);
        assert_eq!(status(1), Status::Rejected);
        assert_eq!(Bal::free_balance(&acc(4)), FUNDS - 1_000);
        assert_eq!(Gov::total_held(), 0);
        let rejected: Vec<(ReferendumIndex, bool)> = Sys::events()
            .iter()
            .filter(|r| r.pallet == GOVERNANCE)
            .filter_map(|r| match Event::decode(&mut &r.event[..]) {
                Ok(Event::Rejected {
                    referendum, quorum, ..
                }) => Some((referendum, quorum)),
                _ => None,
            })
            .collect();
        assert_eq!(rejected, vec![(0, false), (1, true)]);
        assert!(finalize_until(22, 40).is_empty());
        check_books();
    });
}

#[test]
fn validators_with_two_thirds_of_the_stake_cancel_a_passed_referendum() {
    run(|| {
        propose(3, &CALL).unwrap();
        vote(1, 0, true, None).unwrap();
        assert_eq!(
            signed(1, Call::EmergencyCancel { referendum: 0 }),
            err(Error::NotPassed)
        );
        finalize_until(2, 21);
        assert_eq!(status(0), Status::Passed { enact_at: 26 });
        assert_eq!(
            signed(9, Call::EmergencyCancel { referendum: 0 }),
            err(Error::NotActiveValidator)
        );
        // 4,000 of 10,000: not yet.
        signed(1, Call::EmergencyCancel { referendum: 0 }).unwrap();
        assert_eq!(
            signed(1, Call::EmergencyCancel { referendum: 0 }),
            err(Error::DuplicateCancelVote)
        );
        assert_eq!(Gov::referendum(0).unwrap().cancel_per_mill, 400);
        // 7,000 of 10,000: cancelled, the deposit is burned.
        let issuance = Bal::total_issuance();
        signed(2, Call::EmergencyCancel { referendum: 0 }).unwrap();
        assert_eq!(status(0), Status::Cancelled);
        assert_eq!(Bal::total_issuance(), issuance - 1_030);
        assert_eq!(
            signed(3, Call::EmergencyCancel { referendum: 0 }),
            err(Error::NotPassed)
        );
        // Never enacted.
        assert!(finalize_until(22, 30).is_empty());
        assert_eq!(status(0), Status::Cancelled);
        check_books();
    });
}

#[test]
fn parameters_only_from_root_and_within_range() {
    run(|| {
        let set = |origin, value| {
            name(Gov::dispatch(
                origin,
                Call::SetParameter {
                    parameter: Parameter::ByteFee,
                    value,
                },
            ))
        };
        assert_eq!(set(Origin::Signed(acc(1)), 5), Err("BadOrigin".into()));
        assert_eq!(set(Origin::Root, 0), err(Error::ParameterOutOfRange));
        assert_eq!(set(Origin::Root, 1_001), err(Error::ParameterOutOfRange));
        assert_eq!(Gov::parameter(Parameter::ByteFee), None);
        set(Origin::Root, 7).unwrap();
        assert_eq!(Gov::parameter(Parameter::ByteFee), Some(7));
    });
}

#[test]
fn genesis_may_shorten_the_periods_but_not_lengthen_them() {
    run(|| {
        Gov::build_genesis(&GenesisConfig {
            voting_period: Some(3),
            enactment_delay: Some(0),
        });
        assert_eq!(Gov::voting_period(), 3);
        assert_eq!(Gov::enactment_delay(), 1);
        Gov::build_genesis(&GenesisConfig {
            voting_period: Some(1_000),
            enactment_delay: Some(1_000),
        });
        assert_eq!(Gov::voting_period(), 20);
        assert_eq!(Gov::enactment_delay(), 5);
    });
}

#[derive(Clone, Debug)]
enum Op {
    /// Voter (1..=4 validators, 5..=10 delegators), referendum, aye, stake in per mill
    /// of what it has bonded (0: all).
    Vote(u32, ReferendumIndex, bool, u32),
    /// Delegator, validator, amount.
    Delegate(u32, u32, Balance),
    /// Delegator undelegates half of its stake in a validator.
    Undelegate(u32, u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1..=10u32, 0..2u32, any::<bool>(), 0..=1000u32)
            .prop_map(|(v, r, a, s)| Op::Vote(v, r, a, s)),
        2 => (5..=10u32, 1..=4u32, 100..5_000u128).prop_map(|(d, v, a)| Op::Delegate(d, v, a)),
        1 => (5..=10u32, 1..=4u32).prop_map(|(d, v)| Op::Undelegate(d, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever the order of votes, changed votes and delegation changes: each tally is
    /// the sum of the votes counted, no more stake is counted than exists, and the money
    /// adds up.
    #[test]
    fn tallies_equal_the_sum_of_the_votes_and_never_count_stake_twice(
        ops in prop::collection::vec(op(), 1..40)
    ) {
        run(|| {
            propose(1, &CALL).unwrap();
            propose(2, &CALL).unwrap();
            for op in &ops {
                match *op {
                    Op::Vote(who, r, aye, per_mill) => {
                        let bonded = Gov::bonded_stake(&acc(who)).0;
                        let stake = (per_mill > 0)
                            .then(|| pallet_staking::math::per_mill(bonded, per_mill).max(1));
                        let _ = vote(who, r, aye, stake);
                    }
                    Op::Delegate(d, v, amount) => {
                        let _ = Stk::delegate(&acc(d), &acc(v), amount);
                    }
                    Op::Undelegate(d, v) => {
                        let half = Stk::stake_in_pool(&acc(d), &acc(v)) / 2;
                        if half >= 100 {
                            let _ = Stk::undelegate(&acc(d), &acc(v), half);
                        }
                    }
                }
                for r in 0..2 {
                    let mut sum = Tally::default();
                    for who in 1..=ACCOUNTS {
                        if let Some(v) = Gov::vote_of(r, &acc(who)) {
                            *sum.side(v.aye) += v.weight();
                        }
                    }
                    prop_assert_eq!(tally(r), sum);
                    prop_assert!(
                        sum.turnout() <= Stk::total_bonded() + Stk::total_unbonding(),
                        "counted {} of {} bonded and {} unbonding",
                        sum.turnout(),
                        Stk::total_bonded(),
                        Stk::total_unbonding()
                    );
                }
                check_books();
            }
            Ok(())
        })?;
    }
}
