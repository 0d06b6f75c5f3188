//! Tests of the agents pallet: registration, grants and the authority check an act goes
//! through, the rolling budget window, the audit log, delegation and income, orders, the
//! three provable offences, and two properties (the budget holds in every window; the
//! money adds up).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use ed25519_dalek::{Signer, SigningKey};
use gpu_verify_core::engine::Activation;
use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};
use pallet_inference::Job;
use proptest::prelude::*;
use std::cell::Cell;
use std::sync::OnceLock;

// ---------------------------------------------------------------- runtime

struct Test;
impl pallet_system::Config for Test {
    const PALLET_INDEX: u8 = 0;
    const MAX_EVENTS_PER_BLOCK: u32 = 1_000_000;
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
    const MAX_VALIDATORS: u32 = 3;
    const MIN_SELF_BOND: Balance = 1_000;
    const MIN_DELEGATION: Balance = 100;
    const UNBONDING_EPOCHS: pallet_staking::EpochIndex = 3;
    const SLASH_DEFER_EPOCHS: pallet_staking::EpochIndex = 2;
    const EQUIVOCATION_SLASH: u32 = 100;
    const DOWNTIME_SLASH: u32 = 10;
    const DOWNTIME_JAIL_EPOCHS: pallet_staking::EpochIndex = 2;
    const REPORTER_REWARD: u32 = 100;
    // No inflation: there are no validators, and the money identities below then hold
    // without rewards credited out of thin air.
    const INFLATION_PER_EPOCH: u64 = 0;
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
impl pallet_compute::Config for Test {
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
    const JAIL_BLOCKS: BlockNumber = 100;
}
impl pallet_inference::Config for Test {
    const PALLET_INDEX: u8 = 8;
    const MAX_INPUT_BYTES: u32 = 1_024;
    const COMMIT_BLOCKS: BlockNumber = 5;
    const CHALLENGE_WINDOW: BlockNumber = 10;
    const DEFAULT_SAMPLE_PER_MILL: u32 = 250;
    const DEFAULT_DOUBLE_PER_MILL: u32 = 500;
    const VERIFY_FEE_PER_MILL: u32 = 50;
    const CHEAT_SLASH_PER_MILL: u32 = 500;
    const MISS_SLASH_PER_MILL: u32 = 10;
    const CHALLENGE_BOND: Balance = 1_000;
    const CHALLENGER_SHARE_PER_MILL: u32 = 200;
    const MIN_VERIFIER_BOND: Balance = 10_000;
    const VERIFIER_MISS_PER_MILL: u32 = 10;
    const VERIFIER_WRONG_PER_MILL: u32 = 200;
    const VERIFIER_UNBONDING: BlockNumber = 4;
    const MAX_DISPUTE_WORK_PER_BLOCK: u64 = 1_000_000;
}
impl Config for Test {
    const PALLET_INDEX: u8 = AGENTS;
    const MIN_OWNER_BOND: Balance = MIN_BOND;
    const MAX_NAME_LEN: u32 = 16;
    const MAX_ENDPOINT_LEN: u32 = 32;
    const MAX_GRANT_LIST: u32 = 3;
    const MAX_GRANT_PERIOD: BlockNumber = 1_000;
    const MAX_WINDOW_ENTRIES: u32 = 4;
    const MAX_SPENDS_KEPT: u64 = 5;
    const MAX_GRANTS_PER_AGENT: u32 = 3;
    const MAX_OPEN_ORDERS: u32 = 2;
    const MAX_ORDER_BLOCKS: BlockNumber = 50;
    const WRONG_OUTPUT_SLASH_PER_MILL: u32 = 100;
    const EQUIVOCATION_SLASH_PER_MILL: u32 = 50;
    const MISSED_DEADLINE_SLASH_PER_MILL: u32 = 10;
    const EXPLICIT_ONLY: &'static [CallKind] = &[EXPLICIT];
}

type Agents = Pallet<Test>;
type Bal = pallet_balances::Pallet<Test>;
type Stk = pallet_staking::Pallet<Test>;
type Sys = pallet_system::Pallet<Test>;

const AGENTS: u8 = 9;
const MIN_BOND: Balance = 1_000;
const EPOCH: BlockNumber = 10;
const FUNDS: Balance = 1_000_000;
const ACCOUNTS: u8 = 8;
const ISSUANCE: Balance = FUNDS * ACCOUNTS as Balance;
const GENESIS: H256 = H256([0x9e; 32]);
/// `pallet_balances::Call::Transfer`.
const TRANSFER: CallKind = CallKind { pallet: 1, call: 0 };
/// A call kind only a grant that names it allows.
const EXPLICIT: CallKind = CallKind { pallet: 5, call: 4 };
/// Some call of the models pallet.
const MODELS_CALL: CallKind = CallKind { pallet: 5, call: 3 };

fn acc(i: u8) -> AccountId {
    AccountId([i; 32])
}

fn free_of(who: &AccountId) -> Balance {
    Bal::free_balance(who)
}

fn free(i: u8) -> Balance {
    free_of(&acc(i))
}

/// The agents' keys: agent `i`'s account is its ed25519 public key.
fn key(i: u8) -> SigningKey {
    SigningKey::from_bytes(&[7u8.wrapping_add(i); 32])
}

/// Agent `i`'s account (cached: deriving a public key is not free).
fn agent_n(i: u8) -> AccountId {
    static KEYS: OnceLock<Vec<AccountId>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0..4)
            .map(|i| AccountId(key(i).verifying_key().to_bytes()))
            .collect()
    })[i as usize]
}

/// The agent most tests use.
fn agent() -> AccountId {
    agent_n(0)
}

// ---------------------------------------------------------------- chain

thread_local! {
    /// Fees burned by [`pay_fee`] in the running test (they leave issuance).
    static FEES_BURNED: Cell<Balance> = const { Cell::new(0) };
}

/// Fresh chain: accounts 1..=8 funded with `FUNDS`, epoch 0, genesis hash `GENESIS`,
/// block 1 open. Checks the books at the end.
fn run<R>(f: impl FnOnce() -> R) -> R {
    let state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        FEES_BURNED.with(|c| c.set(0));
        Bal::build_genesis(&pallet_balances::GenesisConfig {
            balances: (1..=ACCOUNTS).map(|i| (acc(i), FUNDS)).collect(),
        })
        .unwrap();
        // An agent pool needs no validators, only the epoch.
        pallet_staking::storage::CurrentEpoch::put(&pallet_staking::EpochInfo {
            index: 0,
            start_block: 0,
        });
        pallet_system::storage::GenesisHash::put(&GENESIS);
        set_block(1);
        let r = f();
        check_books();
        r
    })
}

fn now() -> BlockNumber {
    Sys::block_number()
}

fn set_block(n: BlockNumber) {
    pallet_system::storage::Number::put(&n);
}

/// Ends the open block (staking's hook: epoch ends) and opens the next, with no events.
fn next_block() {
    let b = now();
    Stk::on_finalize(b);
    pallet_system::storage::EventCount::kill();
    set_block(b + 1);
}

fn run_to(n: BlockNumber) {
    while now() < n {
        next_block();
    }
}

/// Runs to the end of the current epoch and past it.
fn end_epoch() {
    let e = Stk::epoch().index;
    run_to((e + 1) * EPOCH);
    next_block();
    assert_eq!(Stk::epoch().index, e + 1);
}

fn sum_free() -> Balance {
    pallet_balances::storage::Account::iter()
        .map(|(_, d): (AccountId, pallet_balances::AccountData)| d.free)
        .sum()
}

/// The books: issuance = free + staked + unbonding + escrowed (+ model deposits), the
/// totals match the ledgers, and issuance moved only by fees burned, income credited
/// (burned now, minted when claimed), rewards minted and slashes burned.
fn check_books() {
    let issuance = Bal::total_issuance();
    let models_held = pallet_models::storage::TotalHeld::get_or_default();
    assert_eq!(
        sum_free()
            + Stk::total_bonded()
            + Stk::total_unbonding()
            + Agents::total_escrowed()
            + models_held,
        issuance,
        "issuance = free + bonded + unbonding + escrowed"
    );
    assert_eq!(
        issuance + pallet_staking::storage::TotalCredited::get_or_default() - Stk::total_minted()
            + Stk::total_burned()
            + FEES_BURNED.with(|c| c.get()),
        ISSUANCE,
        "issuance + credited - minted + burned = initial issuance"
    );
    let pools: Balance = pallet_staking::storage::Validators::iter()
        .map(|(_, v): (AccountId, pallet_staking::ValidatorInfo)| v.total_stake)
        .sum();
    assert_eq!(pools, Stk::total_bonded(), "pools = bonded");
    let unbonding: Balance = pallet_staking::storage::Unbonding::iter()
        .flat_map(
            |(_, es): (AccountId, Vec<pallet_staking::UnbondingEntry>)| {
                es.into_iter().map(|e| e.amount)
            },
        )
        .sum();
    assert_eq!(unbonding, Stk::total_unbonding(), "entries = unbonding");
    let escrowed: Balance = Orders::iter().map(|(_, o): (u64, Order)| o.payment).sum();
    assert_eq!(escrowed, Agents::total_escrowed(), "orders = escrowed");
}

/// Dispatches as the runtime does (a failed call changes nothing); the pallet's error.
fn call(who: AccountId, c: Call) -> Result<(), Error> {
    io::storage::with_transaction(|| Agents::dispatch(Origin::Signed(who), c)).map_err(|e| {
        assert_eq!(e.pallet, AGENTS, "{e:?}");
        Error::decode(&mut &[e.error][..]).unwrap()
    })
}

/// Runs `f` in a storage transaction, as the runtime runs a call.
fn tx<R>(f: impl FnOnce() -> Result<R, Error>) -> Result<R, Error> {
    io::storage::with_transaction(f)
}

fn events() -> Vec<Event> {
    Sys::events()
        .into_iter()
        .filter(|r| r.pallet == AGENTS)
        .map(|r| Event::decode(&mut &r.event[..]).unwrap())
        .collect()
}

fn staking_events() -> Vec<pallet_staking::Event> {
    Sys::events()
        .into_iter()
        .filter(|r| r.pallet == 4)
        .map(|r| pallet_staking::Event::decode(&mut &r.event[..]).unwrap())
        .collect()
}

fn last_event() -> Event {
    events().pop().expect("an agents event")
}

// ---------------------------------------------------------------- helpers

/// `owner` registers `agent` with `bond` and `commission` per mill.
fn register(
    owner: AccountId,
    agent: AccountId,
    bond: Balance,
    commission: u32,
) -> Result<(), Error> {
    call(
        owner,
        Call::Register {
            agent,
            name: b"helper".to_vec(),
            model: None,
            endpoint: b"https://a.example".to_vec(),
            self_bond: bond.into(),
            commission_per_mill: commission,
        },
    )
}

/// `owner` grants `agent` `budget` per `per` blocks, at most `cap` a call, anything else
/// unrestricted.
fn grant(
    owner: AccountId,
    agent: AccountId,
    budget: Balance,
    per: BlockNumber,
    cap: Balance,
) -> Result<(), Error> {
    call(
        owner,
        Call::Grant {
            agent,
            budget: budget.into(),
            per,
            max_per_call: cap.into(),
            recipients: vec![],
            calls: vec![],
            expires: None,
        },
    )
}

/// An act, exactly as the runtime runs one: the authority check, the call as the owner (a
/// transfer of `amount` to `dest`, or nothing when `amount` is 0), the measured spend
/// recorded; any refusal undoes it all. `recipient` is what the runtime would read off
/// the call.
#[allow(clippy::too_many_arguments)]
fn act_full(
    agent: AccountId,
    owner: AccountId,
    kind: CallKind,
    recipient: Option<AccountId>,
    dest: AccountId,
    amount: Balance,
    fee: Balance,
    job: Option<JobId>,
) -> Result<u64, Error> {
    tx(|| {
        let grant = Agents::authorize(&agent, &owner, kind, recipient.as_ref())?;
        let before = free_of(&owner);
        if amount > 0 {
            Bal::transfer(&owner, &dest, amount)?;
        }
        let spent = before - free_of(&owner);
        Agents::record_spend(&agent, &owner, &grant, kind, recipient, spent, fee, job)
    })
}

/// `agent` transfers `amount` of `owner`'s funds to `dest`.
fn act(agent: AccountId, owner: AccountId, dest: AccountId, amount: Balance) -> Result<u64, Error> {
    act_full(agent, owner, TRANSFER, Some(dest), dest, amount, 0, None)
}

/// The fee of an act, as the runtime charges it: the owner pays it (and it counts against
/// the grant) when the grant covers it; otherwise the agent would. Returns whether the
/// owner paid.
fn pay_fee(agent: AccountId, owner: AccountId, fee: Balance) -> bool {
    if !Agents::fee_covered(&agent, &owner, TRANSFER, None, fee) {
        return false;
    }
    Bal::burn_fee(&owner, fee).unwrap();
    Agents::charge_fee(&agent, &owner, fee);
    FEES_BURNED.with(|c| c.set(c.get() + fee));
    true
}

fn grant_view(agent: AccountId, owner: AccountId) -> GrantView {
    Agents::grants_of(&agent)
        .into_iter()
        .find(|g| g.owner == owner)
        .expect("a grant")
}

fn remaining(agent: AccountId, owner: AccountId) -> Balance {
    grant_view(agent, owner).remaining
}

fn stake(who: AccountId, agent: AccountId) -> Balance {
    Stk::stake_in_pool(&who, &agent)
}

fn pool_stake(agent: AccountId) -> Balance {
    Agents::agent(&agent).unwrap().total_stake
}

/// `agent_index`'s signed answer `output` to `request`.
fn answer(agent_index: u8, genesis: &H256, request: &H256, output: H256) -> SignedAnswer {
    let sig = key(agent_index).sign(&answer_payload(genesis, request, &output));
    SignedAnswer {
        output,
        signature: sig.to_bytes(),
    }
}

fn h(i: u8) -> H256 {
    H256([i; 32])
}

fn input_act() -> Activation {
    Activation::rows_i8(&[vec![1, 2, 3, 4], vec![5, 6, 7, 8]])
}

fn output_act() -> Activation {
    Activation::rows_i8(&[vec![9, 8, 7]])
}

const JOB_MODEL: H256 = H256([0x4d; 32]);

/// Writes inference job `id` as the inference pallet would have left it.
fn put_job(
    id: JobId,
    provider: AccountId,
    state: JobState,
    outcome: Option<Outcome>,
    output: Option<Activation>,
) {
    pallet_inference::storage::Jobs::insert(
        &id,
        &Job {
            client: acc(8),
            provider,
            model: JOB_MODEL,
            input: input_act(),
            fee: 1_000,
            royalty: 30,
            verification_fee: 50,
            submitted_at: 1,
            commit_by: 6,
            state,
            commitment: vec![h(1), h(2)],
            root: h(3),
            output,
            committed_at: 2,
            window_ends: 12,
            checks: vec![],
            challenges_rejected: 0,
            outcome,
            closed_at: 5,
        },
    );
}

fn slashed_outcome() -> Option<Outcome> {
    Some(Outcome::ProviderSlashed {
        layer: 1,
        slashed: 600,
        challenger: acc(7),
        reward: 120,
        burned: 480,
        refunded: 1_000,
    })
}

fn paid_outcome() -> Option<Outcome> {
    Some(Outcome::Paid {
        provider: 920,
        royalty: 30,
        verification_fee: 50,
        verifier_reward: 0,
    })
}

/// The standard agent: `agent()` owned by account 1 with `MIN_BOND` bonded, 10%
/// commission.
fn standard_agent() {
    register(acc(1), agent(), MIN_BOND, 100).unwrap();
}

// ---------------------------------------------------------------- register

#[test]
fn register_opens_a_pool_and_holds_the_bond() {
    run(|| {
        assert_eq!(register(acc(1), agent(), 2_000, 100), Ok(()));
        assert_eq!(free(1), FUNDS - 2_000);
        assert_eq!(Stk::total_bonded(), 2_000);
        assert!(Stk::is_agent_pool(&agent()));
        // An agent pool is no validator.
        assert!(Stk::validator(&agent()).is_none());
        let v = Agents::agent(&agent()).unwrap();
        assert_eq!(v.account, agent());
        assert_eq!(v.info.owner, acc(1));
        assert_eq!(v.info.name, b"helper".to_vec());
        assert_eq!(v.info.endpoint, b"https://a.example".to_vec());
        assert_eq!(v.info.model, None);
        assert_eq!(v.info.registered_at, 1);
        assert_eq!(v.info.slashes, 0);
        assert!(!v.info.retired);
        assert_eq!(v.commission_per_mill, 100);
        assert_eq!(v.total_stake, 2_000);
        assert_eq!(v.owner_bond, 2_000);
        assert_eq!(v.spends, 0);
        assert_eq!(v.open_orders, 0);
        assert_eq!(Agents::agents(), vec![v]);
        assert_eq!(
            last_event(),
            Event::Registered {
                agent: agent(),
                owner: acc(1),
                self_bond: 2_000
            }
        );
    });
}

#[test]
fn register_with_a_model() {
    run(|| {
        let model = h(0x11);
        pallet_models::Pallet::<Test>::register(
            &acc(8),
            &model,
            &pallet_models::ModelParams {
                file_root: h(0x12),
                size: 1_000,
                name: b"tiny".to_vec(),
                version: Default::default(),
                kind: pallet_models::ModelKind::Mlp,
                shape: vec![4, 3],
                numerics_version: 1,
                royalty: 0,
            },
        )
        .unwrap();
        assert_eq!(
            call(
                acc(1),
                Call::Register {
                    agent: agent(),
                    name: b"with-model".to_vec(),
                    model: Some(model),
                    endpoint: vec![],
                    self_bond: MIN_BOND.into(),
                    commission_per_mill: 0,
                }
            ),
            Ok(())
        );
        assert_eq!(Agents::agent(&agent()).unwrap().info.model, Some(model));
    });
}

#[test]
fn register_refusals_move_nothing() {
    run(|| {
        let reg = |owner: AccountId,
                   agent: AccountId,
                   name: &[u8],
                   model: Option<H256>,
                   endpoint: &[u8],
                   bond: Balance,
                   commission: u32| {
            call(
                owner,
                Call::Register {
                    agent,
                    name: name.to_vec(),
                    model,
                    endpoint: endpoint.to_vec(),
                    self_bond: bond.into(),
                    commission_per_mill: commission,
                },
            )
        };
        let a = agent();
        let ok_name: &[u8] = b"sixteen-bytes-ok";
        assert_eq!(ok_name.len(), 16);
        // An agent cannot own itself.
        assert_eq!(
            reg(acc(1), acc(1), b"x", None, b"", MIN_BOND, 0),
            Err(Error::SelfGrant)
        );
        // Metadata: too long or not UTF-8.
        assert_eq!(
            reg(acc(1), a, b"seventeen-bytes-x", None, b"", MIN_BOND, 0),
            Err(Error::BadMetadata)
        );
        assert_eq!(
            reg(acc(1), a, &[0xff, 0xfe], None, b"", MIN_BOND, 0),
            Err(Error::BadMetadata)
        );
        assert_eq!(
            reg(acc(1), a, b"x", None, &[b'u'; 33], MIN_BOND, 0),
            Err(Error::BadMetadata)
        );
        assert_eq!(
            reg(acc(1), a, b"x", None, &[0xc3], MIN_BOND, 0),
            Err(Error::BadMetadata)
        );
        // The model must be registered.
        assert_eq!(
            reg(acc(1), a, b"x", Some(h(5)), b"", MIN_BOND, 0),
            Err(Error::UnknownModel)
        );
        assert_eq!(
            reg(acc(1), a, b"x", None, b"", MIN_BOND, 1_001),
            Err(Error::BadCommission)
        );
        assert_eq!(
            reg(acc(1), a, b"x", None, b"", MIN_BOND - 1, 0),
            Err(Error::BelowMinimum)
        );
        assert_eq!(
            reg(acc(1), a, b"x", None, b"", FUNDS + 1, 0),
            Err(Error::InsufficientBalance)
        );
        assert_eq!(
            reg(acc(1), a, b"x", None, b"", FUNDS - 5, 0),
            Err(Error::WouldLeaveDust)
        );
        assert_eq!(free(1), FUNDS);
        assert_eq!(Stk::total_bonded(), 0);
        assert!(Agents::agent(&a).is_none());
        assert!(!Stk::has_pool(&a));
        // Limits are inclusive; the whole balance may be bonded.
        assert_eq!(
            reg(acc(1), a, ok_name, None, &[b'u'; 32], FUNDS, 1_000),
            Ok(())
        );
        assert_eq!(free(1), 0);
        // Twice.
        assert_eq!(
            reg(acc(2), a, b"x", None, b"", MIN_BOND, 0),
            Err(Error::AlreadyRegistered)
        );
        assert_eq!(free(2), FUNDS);
        // A validator's account.
        let validator = acc(21);
        pallet_staking::storage::Validators::insert(
            &validator,
            &pallet_staking::ValidatorInfo {
                kind: pallet_staking::PoolKind::Validator {
                    bls_public_key: [1; menara_primitives::BLS_PUBLIC_KEY_LEN],
                },
                commission_per_mill: 0,
                total_stake: 0,
                total_shares: 0,
                reward_per_share: 0,
                commission_pending: 0,
                jailed_until: None,
                tombstoned: false,
                chilled: true,
            },
        );
        assert_eq!(
            reg(acc(2), validator, b"x", None, b"", MIN_BOND, 0),
            Err(Error::AlreadyRegistered)
        );
        assert_eq!(free(2), FUNDS);
        assert_eq!(Stk::total_bonded(), FUNDS);
    });
}

#[test]
fn act_is_not_dispatchable_and_calls_need_a_signer() {
    run(|| {
        standard_agent();
        assert_eq!(
            call(
                agent(),
                Call::Act {
                    owner: acc(1),
                    call: vec![1, 0],
                    job: None
                }
            ),
            Err(Error::NotDispatchable)
        );
        let e = Agents::dispatch(Origin::Root, Call::Revoke { agent: agent() }).unwrap_err();
        assert_eq!(e, menara_support::dispatch::bad_origin());
    });
}

// ---------------------------------------------------------------- grant, revoke, confirm

#[test]
fn grant_is_stored_sorted_and_replaces() {
    run(|| {
        standard_agent();
        run_to(3);
        let k1 = CallKind { pallet: 5, call: 1 };
        assert_eq!(
            call(
                acc(2),
                Call::Grant {
                    agent: agent(),
                    budget: 500u128.into(),
                    per: 10,
                    max_per_call: 200u128.into(),
                    recipients: vec![acc(4), acc(3), acc(4)],
                    calls: vec![k1, TRANSFER],
                    expires: Some(3),
                }
            ),
            Ok(())
        );
        assert_eq!(
            last_event(),
            Event::Granted {
                agent: agent(),
                owner: acc(2),
                grant: 0,
                budget: 500,
                per: 10
            }
        );
        let g = grant_view(agent(), acc(2));
        assert_eq!(g.grant.id, 0);
        assert_eq!(g.grant.recipients, vec![acc(3), acc(4)]);
        assert_eq!(g.grant.calls, vec![TRANSFER, k1]);
        assert_eq!(g.grant.expires, Some(3));
        assert_eq!(g.grant.granted_at, 3);
        assert_eq!(g.grant.confirmed_slashes, 0);
        assert_eq!((g.spent_in_window, g.remaining, g.frozen), (0, 500, false));
        // A second owner, then a replacement: a new id.
        grant(acc(3), agent(), 50, 5, 50).unwrap();
        grant(acc(2), agent(), 70, 5, 70).unwrap();
        let owners: Vec<AccountId> = Agents::grants_of(&agent())
            .iter()
            .map(|g| g.owner)
            .collect();
        assert_eq!(owners, vec![acc(2), acc(3)]);
        assert_eq!(grant_view(agent(), acc(2)).grant.id, 2);
        assert_eq!(grant_view(agent(), acc(2)).grant.budget, 70);
        // Granting moves no money.
        assert_eq!(free(2), FUNDS);
    });
}

#[test]
fn grant_refusals() {
    run(|| {
        standard_agent();
        let g = |budget: Balance,
                 per: BlockNumber,
                 cap: Balance,
                 recipients: Vec<AccountId>,
                 calls: Vec<CallKind>,
                 expires: Option<BlockNumber>| {
            call(
                acc(2),
                Call::Grant {
                    agent: agent(),
                    budget: budget.into(),
                    per,
                    max_per_call: cap.into(),
                    recipients,
                    calls,
                    expires,
                },
            )
        };
        assert_eq!(
            grant(acc(2), agent_n(1), 100, 10, 10),
            Err(Error::UnknownAgent)
        );
        assert_eq!(grant(agent(), agent(), 100, 10, 10), Err(Error::SelfGrant));
        // Bad grants.
        assert_eq!(g(0, 10, 0, vec![], vec![], None), Err(Error::BadGrant));
        assert_eq!(g(100, 0, 10, vec![], vec![], None), Err(Error::BadGrant));
        assert_eq!(
            g(100, 1_001, 10, vec![], vec![], None),
            Err(Error::BadGrant)
        );
        assert_eq!(g(100, 10, 0, vec![], vec![], None), Err(Error::BadGrant));
        assert_eq!(g(100, 10, 101, vec![], vec![], None), Err(Error::BadGrant));
        let four: Vec<AccountId> = (3..=6).map(acc).collect();
        assert_eq!(g(100, 10, 10, four, vec![], None), Err(Error::BadGrant));
        let kinds: Vec<CallKind> = (0..4).map(|c| CallKind { pallet: 1, call: c }).collect();
        assert_eq!(g(100, 10, 10, vec![], kinds, None), Err(Error::BadGrant));
        let own = CallKind {
            pallet: AGENTS,
            call: 1,
        };
        assert_eq!(
            g(100, 10, 10, vec![], vec![TRANSFER, own], None),
            Err(Error::BadGrant)
        );
        // Expiry.
        run_to(5);
        assert_eq!(
            g(100, 10, 10, vec![], vec![], Some(4)),
            Err(Error::ExpiryInPast)
        );
        assert!(Agents::grants_of(&agent()).is_empty());
        // The limits themselves are fine.
        let three: Vec<AccountId> = (3..=5).map(acc).collect();
        assert_eq!(g(100, 1_000, 100, three, vec![TRANSFER], Some(5)), Ok(()));
        // Retired agents take no grants.
        call(acc(1), Call::Retire { agent: agent() }).unwrap();
        assert_eq!(grant(acc(3), agent(), 100, 10, 10), Err(Error::Retired));
    });
}

#[test]
fn revoke_and_confirm() {
    run(|| {
        standard_agent();
        grant(acc(2), agent(), 100, 10, 100).unwrap();
        assert_eq!(act(agent(), acc(2), acc(3), 40), Ok(0));
        assert_eq!(
            call(acc(2), Call::Confirm { agent: agent() }),
            Err(Error::NotFrozen)
        );
        assert_eq!(
            call(acc(3), Call::Confirm { agent: agent() }),
            Err(Error::NoGrant)
        );
        assert_eq!(
            call(acc(3), Call::Confirm { agent: agent_n(1) }),
            Err(Error::UnknownAgent)
        );
        assert_eq!(call(acc(2), Call::Revoke { agent: agent() }), Ok(()));
        assert_eq!(
            last_event(),
            Event::Revoked {
                agent: agent(),
                owner: acc(2)
            }
        );
        assert!(Agents::grants_of(&agent()).is_empty());
        assert!(GrantsOf::get(&agent()).is_none());
        assert!(Windows::get(&(agent(), acc(2))).is_none());
        // Effective at once: the next act in the same block is refused.
        assert_eq!(act(agent(), acc(2), acc(3), 10), Err(Error::NoGrant));
        assert_eq!(free(2), FUNDS - 40);
        assert_eq!(
            call(acc(2), Call::Revoke { agent: agent() }),
            Err(Error::NoGrant)
        );
        // A new grant starts a fresh window (revoking dropped the old one).
        grant(acc(2), agent(), 100, 10, 100).unwrap();
        assert_eq!(remaining(agent(), acc(2)), 100);
    });
}

#[test]
fn retire_rules() {
    run(|| {
        standard_agent();
        assert_eq!(
            call(acc(2), Call::Retire { agent: agent() }),
            Err(Error::NotOwner)
        );
        assert_eq!(
            call(acc(1), Call::Retire { agent: agent_n(1) }),
            Err(Error::UnknownAgent)
        );
        assert_eq!(call(acc(1), Call::Retire { agent: agent() }), Ok(()));
        assert_eq!(last_event(), Event::Retired { agent: agent() });
        assert!(Agents::agent(&agent()).unwrap().info.retired);
        assert_eq!(
            call(acc(1), Call::Retire { agent: agent() }),
            Err(Error::Retired)
        );
    });
}

// ---------------------------------------------------------------- authority

/// Owner 2's grant to `agent()`: 500 per 10 blocks, 200 a call, transfers to 3 only.
fn restricted_grant() {
    call(
        acc(2),
        Call::Grant {
            agent: agent(),
            budget: 500u128.into(),
            per: 10,
            max_per_call: 200u128.into(),
            recipients: vec![acc(3)],
            calls: vec![TRANSFER],
            expires: None,
        },
    )
    .unwrap();
}

#[test]
fn authority_caps_and_budget() {
    run(|| {
        standard_agent();
        restricted_grant();
        let (f2, f3) = (free(2), free(3));
        // No grant from owner 4; agent 1 is not registered; an agent acting for itself.
        assert_eq!(act(agent(), acc(4), acc(3), 10), Err(Error::NoGrant));
        assert_eq!(
            act(agent_n(1), acc(2), acc(3), 10),
            Err(Error::UnknownAgent)
        );
        assert_eq!(act(agent(), agent(), acc(3), 0), Err(Error::SelfGrant));
        // Over the per-call cap: the transfer is undone.
        assert_eq!(
            act(agent(), acc(2), acc(3), 201),
            Err(Error::OverPerCallCap)
        );
        assert_eq!((free(2), free(3)), (f2, f3));
        assert_eq!(act(agent(), acc(2), acc(3), 200), Ok(0));
        assert_eq!(act(agent(), acc(2), acc(3), 200), Ok(1));
        assert_eq!(remaining(agent(), acc(2)), 100);
        // Over the budget.
        assert_eq!(act(agent(), acc(2), acc(3), 101), Err(Error::OverBudget));
        assert_eq!((free(2), free(3)), (f2 - 400, f3 + 400));
        assert_eq!(act(agent(), acc(2), acc(3), 100), Ok(2));
        assert_eq!(act(agent(), acc(2), acc(3), 1), Err(Error::OverBudget));
        assert_eq!((free(2), free(3)), (f2 - 500, f3 + 500));
        let g = grant_view(agent(), acc(2));
        assert_eq!((g.spent_in_window, g.remaining), (500, 0));
    });
}

#[test]
fn authority_recipients_and_call_kinds() {
    run(|| {
        standard_agent();
        restricted_grant();
        let (f2, f3, f4) = (free(2), free(3), free(4));
        // A recipient the grant does not list.
        assert_eq!(
            act(agent(), acc(2), acc(4), 10),
            Err(Error::RecipientNotAllowed)
        );
        // A call that names no recipient but takes money: the grant cannot check where it
        // went. Undone after it ran.
        assert_eq!(
            act_full(agent(), acc(2), TRANSFER, None, acc(4), 10, 0, None),
            Err(Error::RecipientNotAllowed)
        );
        assert_eq!((free(2), free(3), free(4)), (f2, f3, f4));
        // Naming no recipient and spending nothing is fine.
        assert_eq!(
            act_full(agent(), acc(2), TRANSFER, None, acc(4), 0, 0, None),
            Ok(0)
        );
        // A call kind the grant does not list.
        assert_eq!(
            act_full(
                agent(),
                acc(2),
                MODELS_CALL,
                Some(acc(3)),
                acc(3),
                0,
                0,
                None
            ),
            Err(Error::CallNotAllowed)
        );
        // The agents pallet's own calls never, whatever the grant lists.
        let own = CallKind {
            pallet: AGENTS,
            call: 1,
        };
        assert_eq!(
            act_full(agent(), acc(2), own, None, acc(3), 0, 0, None),
            Err(Error::Nested)
        );
        // Even under a grant that allows any call.
        grant(acc(5), agent(), 100, 10, 100).unwrap();
        for c in 0..=16 {
            let kind = CallKind {
                pallet: AGENTS,
                call: c,
            };
            assert_eq!(
                act_full(agent(), acc(5), kind, None, acc(3), 0, 0, None),
                Err(Error::Nested)
            );
        }
        assert_eq!(
            act_full(agent(), acc(5), MODELS_CALL, None, acc(4), 30, 0, None),
            Ok(1)
        );
        assert_eq!((free(3), free(4)), (f3, f4 + 30));
    });
}

#[test]
fn authority_expiry_retirement() {
    run(|| {
        standard_agent();
        call(
            acc(2),
            Call::Grant {
                agent: agent(),
                budget: 500u128.into(),
                per: 10,
                max_per_call: 200u128.into(),
                recipients: vec![],
                calls: vec![],
                expires: Some(4),
            },
        )
        .unwrap();
        run_to(4);
        // The last block is included.
        assert_eq!(act(agent(), acc(2), acc(3), 10), Ok(0));
        next_block();
        let f2 = free(2);
        assert_eq!(act(agent(), acc(2), acc(3), 10), Err(Error::GrantExpired));
        assert_eq!(free(2), f2);
        assert!(!Agents::fee_covered(&agent(), &acc(2), TRANSFER, None, 1));
        // Retired: every act refused.
        grant(acc(3), agent(), 500, 10, 200).unwrap();
        assert_eq!(act(agent(), acc(3), acc(4), 10), Ok(1));
        call(acc(1), Call::Retire { agent: agent() }).unwrap();
        let f3 = free(3);
        assert_eq!(act(agent(), acc(3), acc(4), 10), Err(Error::Retired));
        assert_eq!(free(3), f3);
        assert!(!Agents::fee_covered(&agent(), &acc(3), TRANSFER, None, 1));
    });
}

#[test]
fn authority_frozen_by_a_slash_until_confirmed() {
    run(|| {
        standard_agent();
        grant(acc(2), agent(), 500, 10, 200).unwrap();
        grant(acc(3), agent(), 500, 10, 200).unwrap();
        assert_eq!(act(agent(), acc(2), acc(4), 10), Ok(0));
        let request = h(0x77);
        let first = answer(0, &GENESIS, &request, h(1));
        let second = answer(0, &GENESIS, &request, h(2));
        Agents::report_equivocation(&acc(6), &agent(), &request, &first, &second).unwrap();
        let f2 = free(2);
        assert_eq!(act(agent(), acc(2), acc(4), 10), Err(Error::GrantFrozen));
        assert_eq!(free(2), f2);
        assert!(!Agents::fee_covered(&agent(), &acc(2), TRANSFER, None, 1));
        assert!(grant_view(agent(), acc(2)).frozen);
        // Owner 2 confirms; owner 3 has not.
        assert_eq!(call(acc(2), Call::Confirm { agent: agent() }), Ok(()));
        assert_eq!(
            last_event(),
            Event::Confirmed {
                agent: agent(),
                owner: acc(2)
            }
        );
        assert_eq!(
            call(acc(2), Call::Confirm { agent: agent() }),
            Err(Error::NotFrozen)
        );
        assert!(!grant_view(agent(), acc(2)).frozen);
        assert_eq!(act(agent(), acc(2), acc(4), 10), Ok(1));
        assert_eq!(act(agent(), acc(3), acc(4), 10), Err(Error::GrantFrozen));
        // A new grant made after the slash is not frozen.
        grant(acc(5), agent(), 500, 10, 200).unwrap();
        assert_eq!(act(agent(), acc(5), acc(4), 10), Ok(2));
    });
}

// ---------------------------------------------------------------- rolling window

#[test]
fn window_refills_exactly_per_blocks_later() {
    run(|| {
        standard_agent();
        grant(acc(2), agent(), 100, 10, 100).unwrap();
        run_to(5);
        assert_eq!(act(agent(), acc(2), acc(3), 100), Ok(0));
        // `per - 1` blocks later: still inside the window.
        run_to(5 + 9);
        assert_eq!(act(agent(), acc(2), acc(3), 1), Err(Error::OverBudget));
        assert_eq!(remaining(agent(), acc(2)), 0);
        // One more: the spend has left the window.
        next_block();
        assert_eq!(remaining(agent(), acc(2)), 100);
        assert_eq!(act(agent(), acc(2), acc(3), 100), Ok(1));
    });
}

#[test]
fn no_doubling_at_a_window_edge() {
    run(|| {
        standard_agent();
        grant(acc(2), agent(), 100, 10, 100).unwrap();
        let mut log: Vec<(BlockNumber, Balance)> = Vec::new();
        let try_spend = |amount: Balance, log: &mut Vec<(BlockNumber, Balance)>| {
            let ok = act(agent(), acc(2), acc(3), amount).is_ok();
            if ok {
                log.push((now(), amount));
            }
            ok
        };
        // The end of blocks 1..=10, then the start of 11..=20 (fixed windows would allow
        // 99 + 99 here).
        run_to(10);
        assert!(try_spend(99, &mut log));
        next_block();
        assert!(!try_spend(99, &mut log));
        assert!(try_spend(1, &mut log));
        for b in 12..=19 {
            run_to(b);
            assert!(!try_spend(1, &mut log), "block {b}");
        }
        run_to(20);
        assert!(!try_spend(100, &mut log));
        assert!(try_spend(99, &mut log));
        run_to(21);
        assert!(try_spend(1, &mut log));
        for start in 1..=21 {
            let in_window: Balance = log
                .iter()
                .filter(|(b, _)| *b >= start && *b < start + 10)
                .map(|(_, a)| a)
                .sum();
            assert!(in_window <= 100, "window from {start}: {in_window}");
        }
    });
}

#[test]
fn fees_count_against_the_window() {
    run(|| {
        standard_agent();
        grant(acc(2), agent(), 100, 10, 100).unwrap();
        let f2 = free(2);
        assert!(pay_fee(agent(), acc(2), 30));
        assert_eq!(free(2), f2 - 30);
        let g = grant_view(agent(), acc(2));
        assert_eq!((g.spent_in_window, g.remaining), (30, 70));
        assert_eq!(act(agent(), acc(2), acc(3), 71), Err(Error::OverBudget));
        // The per-call cap does not include the fee.
        assert_eq!(
            act_full(
                agent(),
                acc(2),
                TRANSFER,
                Some(acc(3)),
                acc(3),
                70,
                30,
                None
            ),
            Ok(0)
        );
        assert_eq!(Agents::spends(&agent(), None, 1)[0].fee, 30);
        // The window is full: the agent pays its own fee.
        assert!(!Agents::fee_covered(&agent(), &acc(2), TRANSFER, None, 1));
        assert!(!pay_fee(agent(), acc(2), 1));
        assert_eq!(free(2), f2 - 100);
        // No grant, no fee; nor a fee the owner cannot pay.
        assert!(!Agents::fee_covered(&agent(), &acc(5), TRANSFER, None, 1));
        grant(acc(5), agent(), FUNDS * 2, 10, 1).unwrap();
        assert!(Agents::fee_covered(
            &agent(),
            &acc(5),
            TRANSFER,
            None,
            FUNDS
        ));
        assert!(!Agents::fee_covered(
            &agent(),
            &acc(5),
            TRANSFER,
            None,
            FUNDS - 5
        ));
        assert!(!Agents::fee_covered(
            &agent(),
            &acc(5),
            TRANSFER,
            None,
            FUNDS + 1
        ));
        // Fees leave the window like spends.
        run_to(11);
        assert_eq!(remaining(agent(), acc(2)), 100);
        assert!(pay_fee(agent(), acc(2), 100));
        assert_eq!(act(agent(), acc(2), acc(3), 1), Err(Error::OverBudget));
    });
}

#[test]
fn window_entries_merge_and_only_get_stricter() {
    run(|| {
        standard_agent();
        grant(acc(2), agent(), 1_000, 100, 1_000).unwrap();
        for b in 1..=5 {
            run_to(b);
            act(agent(), acc(2), acc(3), 10 * b as Balance).unwrap();
            // Two spends in one block share an entry.
            act(agent(), acc(2), acc(3), 1).unwrap();
        }
        // Five blocks with spends, four entries kept: the oldest merged into the next.
        assert_eq!(
            Windows::get(&(agent(), acc(2))).unwrap(),
            vec![(2, 11 + 21), (3, 31), (4, 41), (5, 51)]
        );
        assert_eq!(remaining(agent(), acc(2)), 1_000 - 155);
        // At block 101 block 1's spend has left a sliding window (an exact one would
        // allow 1_000 - 144); the merged entry still counts it: stricter.
        run_to(101);
        assert_eq!(remaining(agent(), acc(2)), 1_000 - 155);
        assert_eq!(
            act(agent(), acc(2), acc(3), 1_000 - 144),
            Err(Error::OverBudget)
        );
        run_to(102);
        assert_eq!(remaining(agent(), acc(2)), 1_000 - 123);
        assert_eq!(act(agent(), acc(2), acc(3), 1_000 - 123), Ok(10));
        // Adding forgets what left the window.
        assert_eq!(
            Windows::get(&(agent(), acc(2))).unwrap(),
            vec![(3, 31), (4, 41), (5, 51), (102, 877)]
        );
    });
}

// ---------------------------------------------------------------- audit log

#[test]
fn spends_are_logged_newest_first_and_pruned() {
    run(|| {
        standard_agent();
        grant(acc(2), agent(), 10_000, 100, 1_000).unwrap();
        grant(acc(3), agent(), 10_000, 100, 1_000).unwrap();
        for i in 0..7u64 {
            run_to(1 + i);
            let owner = if i % 2 == 0 { acc(2) } else { acc(3) };
            assert_eq!(act(agent(), owner, acc(4), 10 * (i as Balance + 1)), Ok(i));
            let grant_id = if i % 2 == 0 { 0 } else { 1 };
            assert_eq!(
                last_event(),
                Event::Spent {
                    agent: agent(),
                    owner,
                    grant: grant_id,
                    index: i,
                    kind: TRANSFER,
                    recipient: Some(acc(4)),
                    amount: 10 * (i as Balance + 1),
                    fee: 0,
                    job: None,
                }
            );
        }
        assert_eq!(Agents::agent(&agent()).unwrap().spends, 7);
        let all = Agents::spends(&agent(), None, 100);
        let indices: Vec<u64> = all.iter().map(|s| s.index).collect();
        assert_eq!(indices, vec![6, 5, 4, 3, 2]);
        assert_eq!(
            all[0],
            Spend {
                index: 6,
                owner: acc(2),
                grant: 0,
                kind: TRANSFER,
                recipient: Some(acc(4)),
                amount: 70,
                fee: 0,
                block: 7,
                job: None,
            }
        );
        assert_eq!(all[1].owner, acc(3));
        assert_eq!(all[1].grant, 1);
        // Pruned from the store, not just hidden.
        assert!(Spends::get(&(agent(), 0)).is_none());
        assert!(Spends::get(&(agent(), 1)).is_none());
        // Paging.
        let page: Vec<u64> = Agents::spends(&agent(), None, 2)
            .iter()
            .map(|s| s.index)
            .collect();
        assert_eq!(page, vec![6, 5]);
        let page: Vec<u64> = Agents::spends(&agent(), Some(5), 2)
            .iter()
            .map(|s| s.index)
            .collect();
        assert_eq!(page, vec![4, 3]);
        let page: Vec<u64> = Agents::spends(&agent(), Some(3), 10)
            .iter()
            .map(|s| s.index)
            .collect();
        assert_eq!(page, vec![2]);
        assert!(Agents::spends(&agent(), Some(2), 10).is_empty());
        assert_eq!(Agents::spends(&agent(), Some(100), 1)[0].index, 6);
        assert!(Agents::spends(&agent(), None, 0).is_empty());
        assert!(Agents::spends(&agent_n(1), None, 10).is_empty());
        // A refused act logs nothing.
        assert_eq!(act(agent(), acc(5), acc(4), 1), Err(Error::NoGrant));
        assert_eq!(Agents::agent(&agent()).unwrap().spends, 7);
    });
}

#[test]
fn spends_cite_verified_jobs() {
    run(|| {
        standard_agent();
        grant(acc(2), agent(), 10_000, 100, 1_000).unwrap();
        put_job(
            1,
            acc(7),
            JobState::Final,
            paid_outcome(),
            Some(output_act()),
        );
        put_job(2, acc(7), JobState::Verified, None, Some(output_act()));
        put_job(3, acc(7), JobState::Committed, None, Some(output_act()));
        put_job(
            4,
            acc(7),
            JobState::Settled,
            slashed_outcome(),
            Some(output_act()),
        );
        put_job(5, acc(7), JobState::Verified, None, None);
        put_job(6, acc(7), JobState::Pending, None, None);
        let f2 = free(2);
        for (job, err) in [
            (3, Error::JobNotVerified),
            (4, Error::JobNotVerified),
            (5, Error::JobNotVerified),
            (6, Error::JobNotVerified),
            (99, Error::UnknownJob),
        ] {
            assert_eq!(
                act_full(
                    agent(),
                    acc(2),
                    TRANSFER,
                    Some(acc(3)),
                    acc(3),
                    25,
                    0,
                    Some(job)
                ),
                Err(err),
                "job {job}"
            );
        }
        assert_eq!(free(2), f2);
        assert_eq!(Agents::agent(&agent()).unwrap().spends, 0);
        let citation = |job| JobCitation {
            job,
            model: JOB_MODEL,
            input_hash: H256(gpu_verify_core::commit::activation_hash(&input_act())),
            output_hash: H256(gpu_verify_core::commit::activation_hash(&output_act())),
        };
        assert_eq!(
            act_full(
                agent(),
                acc(2),
                TRANSFER,
                Some(acc(3)),
                acc(3),
                25,
                0,
                Some(1)
            ),
            Ok(0)
        );
        assert_eq!(Agents::spends(&agent(), None, 1)[0].job, Some(citation(1)));
        assert_eq!(
            last_event(),
            Event::Spent {
                agent: agent(),
                owner: acc(2),
                grant: 0,
                index: 0,
                kind: TRANSFER,
                recipient: Some(acc(3)),
                amount: 25,
                fee: 0,
                job: Some(1),
            }
        );
        assert_eq!(
            act_full(
                agent(),
                acc(2),
                TRANSFER,
                Some(acc(3)),
                acc(3),
                25,
                0,
                Some(2)
            ),
            Ok(1)
        );
        assert_eq!(Agents::spends(&agent(), None, 1)[0].job, Some(citation(2)));
        assert_eq!(free(2), f2 - 50);
    });
}

// ---------------------------------------------------------------- delegation

#[test]
fn delegation_and_owner_minimum() {
    run(|| {
        standard_agent();
        let d = |who: u8, amount: Balance| {
            call(
                acc(who),
                Call::Delegate {
                    agent: agent(),
                    amount: amount.into(),
                },
            )
        };
        let u = |who: AccountId, amount: Balance| {
            call(
                who,
                Call::Undelegate {
                    agent: agent(),
                    amount: amount.into(),
                },
            )
        };
        assert_eq!(d(2, 3_000), Ok(()));
        assert_eq!(free(2), FUNDS - 3_000);
        assert_eq!(stake(acc(2), agent()), 3_000);
        assert_eq!(pool_stake(agent()), 4_000);
        assert_eq!(d(3, 99), Err(Error::BelowMinimum));
        assert_eq!(d(3, FUNDS + 1), Err(Error::InsufficientBalance));
        assert_eq!(
            call(
                acc(3),
                Call::Delegate {
                    agent: agent_n(1),
                    amount: 500u128.into()
                }
            ),
            Err(Error::UnknownAgent)
        );
        // Staking's own calls refuse an agent pool.
        assert_eq!(
            Stk::delegate(&acc(3), &agent(), 500),
            Err(pallet_staking::Error::UnknownValidator)
        );
        let e = io::storage::with_transaction(|| {
            Stk::dispatch(
                Origin::Signed(acc(3)),
                pallet_staking::Call::Delegate {
                    validator: agent(),
                    amount: 500u128.into(),
                },
            )
        })
        .unwrap_err();
        assert_eq!(e.pallet, 4);
        assert_eq!(e.error, pallet_staking::Error::UnknownValidator.index());
        assert_eq!(
            Stk::undelegate(&acc(2), &agent(), 100),
            Err(pallet_staking::Error::UnknownValidator)
        );
        assert_eq!(
            Stk::claim_rewards(&acc(2), &agent()),
            Err(pallet_staking::Error::UnknownValidator)
        );
        assert_eq!(free(3), FUNDS);
        // The owner keeps at least MIN_OWNER_BOND and may not leave while active.
        assert_eq!(u(acc(1), 1), Err(Error::BelowMinimum));
        assert_eq!(u(acc(1), MIN_BOND), Err(Error::BelowMinimum));
        assert_eq!(d(1, 500), Ok(()));
        assert_eq!(u(acc(1), 501), Err(Error::BelowMinimum));
        assert_eq!(u(acc(1), 500), Ok(()));
        assert_eq!(stake(acc(1), agent()), MIN_BOND);
        // Delegators: zero, too much, below the minimum left, or nothing to undelegate.
        assert_eq!(u(acc(2), 0), Err(Error::ZeroAmount));
        assert_eq!(u(acc(2), 3_001), Err(Error::InsufficientBalance));
        assert_eq!(u(acc(2), 2_950), Err(Error::BelowMinimum));
        assert_eq!(u(acc(4), 100), Err(Error::NoDelegation));
        assert_eq!(u(acc(2), 1_000), Ok(()));
        assert_eq!(stake(acc(2), agent()), 2_000);
        assert_eq!(Stk::total_unbonding(), 1_500);
        // Withdrawing waits UNBONDING_EPOCHS.
        assert_eq!(call(acc(2), Call::Withdraw), Err(Error::StillUnbonding));
        assert_eq!(call(acc(4), Call::Withdraw), Err(Error::NothingToWithdraw));
        end_epoch();
        end_epoch();
        assert_eq!(call(acc(2), Call::Withdraw), Err(Error::StillUnbonding));
        end_epoch();
        let f2 = free(2);
        assert_eq!(call(acc(2), Call::Withdraw), Ok(()));
        assert_eq!(free(2), f2 + 1_000);
        assert_eq!(call(acc(2), Call::Withdraw), Err(Error::NothingToWithdraw));
        // Once retired, no new stake, and the owner may leave entirely.
        call(acc(1), Call::Retire { agent: agent() }).unwrap();
        assert_eq!(d(3, 500), Err(Error::Retired));
        assert_eq!(u(acc(1), 950), Err(Error::BelowMinimum));
        assert_eq!(u(acc(1), MIN_BOND), Ok(()));
        assert_eq!(stake(acc(1), agent()), 0);
        assert_eq!(Agents::agent(&agent()).unwrap().owner_bond, 0);
        assert_eq!(pool_stake(agent()), 2_000);
    });
}

#[test]
fn unbonding_entries_are_bounded() {
    run(|| {
        standard_agent();
        call(
            acc(2),
            Call::Delegate {
                agent: agent(),
                amount: 10_000u128.into(),
            },
        )
        .unwrap();
        let u = || {
            call(
                acc(2),
                Call::Undelegate {
                    agent: agent(),
                    amount: 100u128.into(),
                },
            )
        };
        for _ in 0..pallet_staking::MAX_UNBONDING_ENTRIES {
            // Two in one epoch share an entry.
            u().unwrap();
            u().unwrap();
            end_epoch();
        }
        assert_eq!(u(), Err(Error::TooManyUnbondingEntries));
        call(acc(2), Call::Withdraw).unwrap();
        assert_eq!(u(), Ok(()));
        assert_eq!(
            free(2),
            FUNDS - 10_000 + 200 * (pallet_staking::MAX_UNBONDING_ENTRIES as Balance - 2)
        );
    });
}

#[test]
fn income_is_shared_commission_then_stake() {
    run(|| {
        // Owner 1 bonds 1_000, delegator 2 bonds 3_000; 10% commission.
        standard_agent();
        call(
            acc(2),
            Call::Delegate {
                agent: agent(),
                amount: 3_000u128.into(),
            },
        )
        .unwrap();
        assert_eq!(
            call(acc(2), Call::Claim { agent: agent() }),
            Err(Error::NothingToClaim)
        );
        let id = Agents::place_order(&acc(3), &agent(), 1_000, h(1), 5).unwrap();
        call(agent(), Call::AcceptOrder { order: id }).unwrap();
        call(
            agent(),
            Call::Deliver {
                order: id,
                output: h(2),
            },
        )
        .unwrap();
        assert_eq!(Stk::pending_rewards(&agent(), &agent()), 100);
        assert_eq!(Stk::pending_rewards(&acc(1), &agent()), 225);
        assert_eq!(Stk::pending_rewards(&acc(2), &agent()), 675);
        // Income does not add to the stake.
        assert_eq!(pool_stake(agent()), 4_000);
        assert_eq!(
            pallet_staking::storage::TotalCredited::get_or_default(),
            1_000
        );
        let (f1, f2) = (free(1), free(2));
        assert_eq!(call(acc(2), Call::Claim { agent: agent() }), Ok(()));
        assert_eq!(call(acc(1), Call::Claim { agent: agent() }), Ok(()));
        assert_eq!(call(agent(), Call::Claim { agent: agent() }), Ok(()));
        assert_eq!(
            (free(1), free(2), free_of(&agent())),
            (f1 + 225, f2 + 675, 100)
        );
        assert_eq!(
            call(acc(2), Call::Claim { agent: agent() }),
            Err(Error::NothingToClaim)
        );
        assert_eq!(
            call(acc(4), Call::Claim { agent: agent() }),
            Err(Error::NothingToClaim)
        );
        assert_eq!(
            call(acc(2), Call::Claim { agent: agent_n(1) }),
            Err(Error::UnknownAgent)
        );
        assert_eq!(Stk::total_minted(), 1_000);
        // Stake that joins later earns only later income.
        call(
            acc(4),
            Call::Delegate {
                agent: agent(),
                amount: 4_000u128.into(),
            },
        )
        .unwrap();
        let id = Agents::place_order(&acc(3), &agent(), 2_000, h(1), 5).unwrap();
        Agents::accept_order(&agent(), id).unwrap();
        Agents::deliver(&agent(), id, h(2)).unwrap();
        assert_eq!(Stk::pending_rewards(&agent(), &agent()), 200);
        assert_eq!(Stk::pending_rewards(&acc(1), &agent()), 225);
        assert_eq!(Stk::pending_rewards(&acc(2), &agent()), 675);
        assert_eq!(Stk::pending_rewards(&acc(4), &agent()), 900);
    });
}

#[test]
fn a_tiny_commission_cannot_be_claimed_into_an_empty_account() {
    run(|| {
        register(acc(1), agent(), MIN_BOND, 50).unwrap();
        let id = Agents::place_order(&acc(3), &agent(), 100, h(1), 5).unwrap();
        Agents::accept_order(&agent(), id).unwrap();
        Agents::deliver(&agent(), id, h(2)).unwrap();
        assert_eq!(Stk::pending_rewards(&agent(), &agent()), 5);
        assert_eq!(
            call(agent(), Call::Claim { agent: agent() }),
            Err(Error::ExistentialDeposit)
        );
        assert_eq!(Stk::pending_rewards(&agent(), &agent()), 5);
    });
}

// ---------------------------------------------------------------- orders

#[test]
fn orders_place_accept_deliver_cancel() {
    run(|| {
        standard_agent();
        let place =
            |client: AccountId, agent: AccountId, payment: Balance, deadline: BlockNumber| {
                call(
                    client,
                    Call::PlaceOrder {
                        agent,
                        payment: payment.into(),
                        request: h(0x51),
                        deadline_blocks: deadline,
                    },
                )
            };
        assert_eq!(place(acc(3), agent(), 0, 5), Err(Error::ZeroAmount));
        assert_eq!(place(acc(3), agent(), 500, 0), Err(Error::BadDeadline));
        assert_eq!(place(acc(3), agent(), 500, 51), Err(Error::BadDeadline));
        assert_eq!(place(acc(3), agent_n(1), 500, 5), Err(Error::UnknownAgent));
        assert_eq!(place(agent(), agent(), 500, 5), Err(Error::SelfGrant));
        assert_eq!(
            place(acc(3), agent(), FUNDS + 1, 5),
            Err(Error::InsufficientBalance)
        );
        assert_eq!(free(3), FUNDS);
        assert_eq!(place(acc(3), agent(), 500, 5), Ok(()));
        assert_eq!(
            last_event(),
            Event::OrderPlaced {
                order: 0,
                client: acc(3),
                agent: agent(),
                payment: 500
            }
        );
        assert_eq!(free(3), FUNDS - 500);
        assert_eq!(Agents::total_escrowed(), 500);
        assert_eq!(
            Agents::order(0).unwrap().order,
            Order {
                client: acc(3),
                agent: agent(),
                payment: 500,
                request: h(0x51),
                deadline_blocks: 5,
                placed_at: 1,
                state: OrderState::Open,
            }
        );
        assert_eq!(place(acc(4), agent(), 300, 50), Ok(()));
        assert_eq!(place(acc(5), agent(), 300, 5), Err(Error::TooManyOrders));
        assert_eq!(free(5), FUNDS);
        assert_eq!(Agents::agent(&agent()).unwrap().open_orders, 2);
        let ids: Vec<u64> = Agents::orders_of(&agent()).iter().map(|o| o.id).collect();
        assert_eq!(ids, vec![0, 1]);
        // Only the client cancels, only while open.
        assert_eq!(
            call(acc(4), Call::CancelOrder { order: 0 }),
            Err(Error::NotParty)
        );
        assert_eq!(call(acc(3), Call::CancelOrder { order: 0 }), Ok(()));
        assert_eq!(last_event(), Event::OrderCancelled { order: 0 });
        assert_eq!(free(3), FUNDS);
        assert_eq!(Agents::total_escrowed(), 300);
        assert_eq!(
            call(acc(3), Call::CancelOrder { order: 0 }),
            Err(Error::UnknownOrder)
        );
        // Only the agent accepts; the deadline starts then.
        run_to(4);
        assert_eq!(
            call(acc(4), Call::AcceptOrder { order: 1 }),
            Err(Error::NotParty)
        );
        assert_eq!(
            call(
                agent(),
                Call::Deliver {
                    order: 1,
                    output: h(9)
                }
            ),
            Err(Error::WrongOrderState)
        );
        assert_eq!(call(agent(), Call::AcceptOrder { order: 1 }), Ok(()));
        assert_eq!(
            last_event(),
            Event::OrderAccepted {
                order: 1,
                deadline: 54
            }
        );
        assert_eq!(
            call(agent(), Call::AcceptOrder { order: 1 }),
            Err(Error::WrongOrderState)
        );
        assert_eq!(
            call(acc(4), Call::CancelOrder { order: 1 }),
            Err(Error::WrongOrderState)
        );
        assert_eq!(
            call(agent(), Call::AcceptOrder { order: 7 }),
            Err(Error::UnknownOrder)
        );
        assert_eq!(
            call(
                agent_n(1),
                Call::Deliver {
                    order: 1,
                    output: h(9)
                }
            ),
            Err(Error::NotParty)
        );
        // Delivered on the deadline's block: paid into the pool, the escrow gone.
        run_to(54);
        let issuance = Bal::total_issuance();
        assert_eq!(
            call(
                agent(),
                Call::Deliver {
                    order: 1,
                    output: h(9)
                }
            ),
            Ok(())
        );
        assert_eq!(
            last_event(),
            Event::OrderDelivered {
                order: 1,
                agent: agent(),
                output: h(9),
                payment: 300
            }
        );
        assert_eq!(Agents::total_escrowed(), 0);
        assert_eq!(free(4), FUNDS - 300);
        assert_eq!(Bal::total_issuance(), issuance - 300);
        assert_eq!(Stk::pending_rewards(&agent(), &agent()), 30);
        assert_eq!(Stk::pending_rewards(&acc(1), &agent()), 270);
        assert!(Agents::order(1).is_none());
        assert!(Agents::orders_of(&agent()).is_empty());
        assert!(AgentOrders::get(&agent()).is_none());
        assert_eq!(
            call(
                agent(),
                Call::Deliver {
                    order: 1,
                    output: h(9)
                }
            ),
            Err(Error::UnknownOrder)
        );
        // A retired agent takes no new orders.
        call(acc(1), Call::Retire { agent: agent() }).unwrap();
        assert_eq!(place(acc(3), agent(), 500, 5), Err(Error::Retired));
    });
}

#[test]
fn missed_deadline_refunds_and_slashes() {
    run(|| {
        standard_agent();
        grant(acc(2), agent(), 500, 10, 500).unwrap();
        let id = Agents::place_order(&acc(3), &agent(), 700, h(1), 5).unwrap();
        let open = Agents::place_order(&acc(4), &agent(), 100, h(1), 5).unwrap();
        assert_eq!(
            call(acc(6), Call::ReportMissedDeadline { order: id }),
            Err(Error::WrongOrderState)
        );
        run_to(3);
        Agents::accept_order(&agent(), id).unwrap();
        // Not before the deadline has passed.
        run_to(8);
        assert_eq!(
            call(acc(6), Call::ReportMissedDeadline { order: id }),
            Err(Error::WrongOrderState)
        );
        run_to(9);
        assert_eq!(
            call(
                agent(),
                Call::Deliver {
                    order: id,
                    output: h(2)
                }
            ),
            Err(Error::WrongOrderState)
        );
        assert_eq!(
            call(acc(6), Call::ReportMissedDeadline { order: open }),
            Err(Error::WrongOrderState)
        );
        assert_eq!(
            call(acc(6), Call::ReportMissedDeadline { order: 9 }),
            Err(Error::UnknownOrder)
        );
        assert_eq!(
            call(acc(6), Call::ReportMissedDeadline { order: id }),
            Ok(())
        );
        assert_eq!(free(3), FUNDS);
        assert_eq!(Agents::total_escrowed(), 100);
        let evs = events();
        assert_eq!(
            evs[evs.len() - 2],
            Event::OffenceReported {
                agent: agent(),
                kind: OffenceKind::AgentMissedDeadline,
                slash_id: 0,
                reporter: acc(6)
            }
        );
        assert_eq!(
            evs[evs.len() - 1],
            Event::OrderMissed {
                order: id,
                refunded: 700
            }
        );
        let slashes = Stk::deferred_slashes();
        assert_eq!(slashes.len(), 1);
        let (sid, s) = &slashes[0];
        assert_eq!(*sid, 0);
        assert_eq!(s.offender, agent());
        assert_eq!(s.kind, OffenceKind::AgentMissedDeadline);
        assert_eq!(s.per_mill, 10);
        assert_eq!(s.exposure, MIN_BOND);
        assert_eq!(s.reporter, Some(acc(6)));
        assert_eq!(s.apply_at_epoch, 2);
        assert_eq!(Agents::agent(&agent()).unwrap().info.slashes, 1);
        assert_eq!(act(agent(), acc(2), acc(5), 10), Err(Error::GrantFrozen));
        assert_eq!(
            call(acc(6), Call::ReportMissedDeadline { order: id }),
            Err(Error::UnknownOrder)
        );
        // 1% of 1_000 at the end of epoch 2.
        for _ in 0..3 {
            end_epoch();
        }
        assert!(!Stk::slash_pending(0));
        assert_eq!(pool_stake(agent()), 990);
        assert_eq!(free(6), FUNDS + 1);
        assert_eq!(Stk::total_burned(), 9);
    });
}

// ---------------------------------------------------------------- equivocation

/// Owner 1 with `MIN_BOND`, delegator 2 with 3_000: 4_000 in `agent()`'s pool.
fn staked_agent() {
    standard_agent();
    call(
        acc(2),
        Call::Delegate {
            agent: agent(),
            amount: 3_000u128.into(),
        },
    )
    .unwrap();
}

#[test]
fn equivocation_is_slashed_after_the_deferral() {
    run(|| {
        staked_agent();
        grant(acc(4), agent(), 500, 10, 500).unwrap();
        let request = h(0x33);
        let first = answer(0, &GENESIS, &request, h(1));
        let second = answer(0, &GENESIS, &request, h(2));
        assert_eq!(
            call(
                acc(6),
                Call::ReportEquivocation {
                    agent: agent(),
                    request,
                    first: first.clone(),
                    second: second.clone()
                }
            ),
            Ok(())
        );
        assert_eq!(
            last_event(),
            Event::OffenceReported {
                agent: agent(),
                kind: OffenceKind::AgentEquivocation,
                slash_id: 0,
                reporter: acc(6)
            }
        );
        assert_eq!(AnswersReported::get(&(agent(), request)), Some(0));
        assert!(Stk::slash_pending(0));
        assert!(grant_view(agent(), acc(4)).frozen);
        assert_eq!(act(agent(), acc(4), acc(5), 1), Err(Error::GrantFrozen));
        // Again, either way round, or with a third answer.
        for (a, b) in [
            (first.clone(), second.clone()),
            (second.clone(), first.clone()),
            (first.clone(), answer(0, &GENESIS, &request, h(3))),
        ] {
            assert_eq!(
                Agents::report_equivocation(&acc(7), &agent(), &request, &a, &b),
                Err(Error::AlreadyReported)
            );
        }
        // Nothing is taken before the end of epoch 0 + SLASH_DEFER_EPOCHS.
        end_epoch();
        end_epoch();
        assert!(Stk::slash_pending(0));
        assert_eq!(pool_stake(agent()), 4_000);
        let issuance = Bal::total_issuance();
        end_epoch();
        assert!(!Stk::slash_pending(0));
        // 5% of 4_000; the reporter gets 10% of it, the rest is burned.
        assert_eq!(pool_stake(agent()), 3_800);
        assert_eq!(stake(acc(1), agent()), 950);
        assert_eq!(stake(acc(2), agent()), 2_850);
        assert_eq!(free(6), FUNDS + 20);
        assert_eq!(Stk::total_burned(), 180);
        assert_eq!(Bal::total_issuance(), issuance - 180);
        assert_eq!(Stk::total_bonded(), 3_800);
        // The owner, below MIN_OWNER_BOND after the slash, can only leave by retiring.
        assert_eq!(
            Agents::undelegate(&acc(1), &agent(), 100),
            Err(Error::BelowMinimum)
        );
    });
}

#[test]
fn equivocation_also_slashes_stake_leaving_after_the_report() {
    run(|| {
        staked_agent();
        let request = h(0x33);
        let first = answer(0, &GENESIS, &request, h(1));
        let second = answer(0, &GENESIS, &request, h(2));
        Agents::report_equivocation(&acc(6), &agent(), &request, &first, &second).unwrap();
        // Delegator 2 runs after the report: its unbonding stake still pays its share.
        Agents::undelegate(&acc(2), &agent(), 3_000).unwrap();
        for _ in 0..3 {
            end_epoch();
        }
        // 200 due: 5% of the 3_000 unbonding (150), the rest from the pool (50).
        assert_eq!(Stk::unbonding_of(&acc(2))[0].amount, 2_850);
        assert_eq!(pool_stake(agent()), 950);
        end_epoch();
        let f2 = free(2);
        Stk::withdraw_unbonded(&acc(2)).unwrap();
        assert_eq!(free(2), f2 + 2_850);
    });
}

#[test]
fn equivocation_refusals_move_nothing() {
    run(|| {
        staked_agent();
        let request = h(0x33);
        let good = answer(0, &GENESIS, &request, h(1));
        let other = answer(0, &GENESIS, &request, h(2));
        let report = |first: &SignedAnswer, second: &SignedAnswer| {
            tx(|| Agents::report_equivocation(&acc(6), &agent(), &request, first, second))
        };
        // Signed by another key; over another request; for another chain; corrupted.
        let by_other_key = answer(1, &GENESIS, &request, h(2));
        let other_request = answer(0, &GENESIS, &h(0x34), h(2));
        let other_chain = answer(0, &H256::default(), &request, h(2));
        let mut corrupted = other.clone();
        corrupted.signature[5] ^= 1;
        let mut swapped = other.clone();
        swapped.output = h(3);
        for bad in [
            &by_other_key,
            &other_request,
            &other_chain,
            &corrupted,
            &swapped,
        ] {
            assert_eq!(report(&good, bad), Err(Error::BadSignature));
            assert_eq!(report(bad, &good), Err(Error::BadSignature));
        }
        assert_eq!(report(&good, &good), Err(Error::SameAnswer));
        assert_eq!(
            Agents::report_equivocation(&acc(6), &agent_n(1), &request, &good, &by_other_key),
            Err(Error::UnknownAgent)
        );
        assert!(Stk::deferred_slashes().is_empty());
        assert!(AnswersReported::get(&(agent(), request)).is_none());
        assert_eq!(Agents::agent(&agent()).unwrap().info.slashes, 0);
        for _ in 0..3 {
            end_epoch();
        }
        assert_eq!(pool_stake(agent()), 4_000);
        assert_eq!(free(6), FUNDS);
        assert_eq!(Stk::total_burned(), 0);
    });
}

#[test]
fn a_cancelled_slash_takes_nothing() {
    run(|| {
        staked_agent();
        let request = h(0x33);
        let first = answer(0, &GENESIS, &request, h(1));
        let second = answer(0, &GENESIS, &request, h(2));
        Agents::report_equivocation(&acc(6), &agent(), &request, &first, &second).unwrap();
        assert_eq!(Stk::cancel_deferred_slash(0), Ok(()));
        assert!(!Stk::slash_pending(0));
        for _ in 0..4 {
            end_epoch();
        }
        assert_eq!(pool_stake(agent()), 4_000);
        assert_eq!(stake(acc(2), agent()), 3_000);
        assert_eq!(free(6), FUNDS);
        assert_eq!(Stk::total_burned(), 0);
        // The grants stay frozen until confirmed: the report itself stands.
        assert_eq!(Agents::agent(&agent()).unwrap().info.slashes, 1);
        assert_eq!(
            Agents::report_equivocation(&acc(6), &agent(), &request, &first, &second),
            Err(Error::AlreadyReported)
        );
    });
}

// ---------------------------------------------------------------- wrong output

#[test]
fn wrong_output_is_slashed() {
    run(|| {
        staked_agent();
        put_job(
            1,
            agent(),
            JobState::Settled,
            slashed_outcome(),
            Some(output_act()),
        );
        assert_eq!(call(acc(6), Call::ReportWrongOutput { job: 1 }), Ok(()));
        assert_eq!(
            last_event(),
            Event::OffenceReported {
                agent: agent(),
                kind: OffenceKind::AgentWrongOutput,
                slash_id: 0,
                reporter: acc(6)
            }
        );
        assert_eq!(JobsReported::get(&1), Some(0));
        let (_, s) = &Stk::deferred_slashes()[0];
        assert_eq!(
            (s.offender, s.kind, s.per_mill, s.exposure),
            (agent(), OffenceKind::AgentWrongOutput, 100, 4_000)
        );
        assert_eq!(
            call(acc(7), Call::ReportWrongOutput { job: 1 }),
            Err(Error::AlreadyReported)
        );
        end_epoch();
        end_epoch();
        // Ends epoch 2 by hand, to see its events.
        run_to(3 * EPOCH);
        Stk::on_finalize(3 * EPOCH);
        // 10% of 4_000; the reporter gets 10% of that.
        assert_eq!(pool_stake(agent()), 3_600);
        assert_eq!(stake(acc(1), agent()), 900);
        assert_eq!(stake(acc(2), agent()), 2_700);
        assert_eq!(free(6), FUNDS + 40);
        assert_eq!(Stk::total_burned(), 360);
        assert!(staking_events().iter().any(|e| matches!(
            e,
            pallet_staking::Event::Slashed {
                slash_id: 0,
                amount: 400,
                reporter_reward: 40,
                burned: 360,
                ..
            }
        )));
    });
}

#[test]
fn wrong_output_refusals() {
    run(|| {
        staked_agent();
        put_job(
            1,
            agent(),
            JobState::Final,
            paid_outcome(),
            Some(output_act()),
        );
        put_job(
            2,
            acc(5),
            JobState::Settled,
            slashed_outcome(),
            Some(output_act()),
        );
        put_job(3, agent(), JobState::Settled, None, Some(output_act()));
        put_job(
            4,
            agent(),
            JobState::Verified,
            slashed_outcome(),
            Some(output_act()),
        );
        for job in 1..=4 {
            assert_eq!(
                call(acc(6), Call::ReportWrongOutput { job }),
                Err(Error::NotProvenWrong),
                "job {job}"
            );
        }
        assert_eq!(
            call(acc(6), Call::ReportWrongOutput { job: 99 }),
            Err(Error::UnknownJob)
        );
        assert!(Stk::deferred_slashes().is_empty());
        assert_eq!(Agents::agent(&agent()).unwrap().info.slashes, 0);
    });
}

// ---------------------------------------------------------------- property: budgets hold

/// A grant's terms: budget, window, per-call cap as a fraction of the budget.
fn grant_terms() -> impl Strategy<Value = (Balance, BlockNumber, u32)> {
    (1..=300u128, 1..=12u64, 1..=1_000u32)
}

#[derive(Clone, Debug)]
enum WindowOp {
    /// Grants (or re-grants) owner `owner`'s authority.
    Grant {
        owner: usize,
        terms: (Balance, BlockNumber, u32),
    },
    /// An act spending `per_mill` of the grant's per-call cap (above it at times).
    Act {
        owner: usize,
        per_mill: u32,
    },
    /// A fee of `per_mill` of the grant's budget.
    Fee {
        owner: usize,
        per_mill: u32,
    },
    Revoke {
        owner: usize,
    },
    Advance {
        blocks: BlockNumber,
    },
}

fn window_op() -> impl Strategy<Value = WindowOp> {
    prop_oneof![
        1 => (0..2usize, grant_terms()).prop_map(|(owner, terms)| WindowOp::Grant { owner, terms }),
        8 => (0..2usize, 0..=1_300u32).prop_map(|(owner, per_mill)| WindowOp::Act { owner, per_mill }),
        2 => (0..2usize, 1..=400u32).prop_map(|(owner, per_mill)| WindowOp::Fee { owner, per_mill }),
        1 => (0..2usize).prop_map(|owner| WindowOp::Revoke { owner }),
        3 => (1..=6u64).prop_map(|blocks| WindowOp::Advance { blocks }),
    ]
}

/// A grant as the test saw it made.
#[derive(Clone, Debug)]
struct GrantRec {
    id: u64,
    owner: usize,
    budget: Balance,
    per: BlockNumber,
}

/// A successful spend (an act's amount or a fee), in the order they happened.
#[derive(Clone, Debug)]
struct SpendRec {
    seq: usize,
    owner: usize,
    grant: u64,
    block: BlockNumber,
    amount: Balance,
}

/// What the pallet promises (`add_to_window` / `spent_in_window`), checked for every
/// spend `s` made under grant `g` at block `n`: the spends in `g`'s window
/// `[n - per + 1, n]` made before or with `s` since the owner's last revoke fit `g`'s
/// budget: its own, and those made under the owner's earlier grants (a re-grant keeps the
/// window). Merging only moves a spend to a later block, so it stays counted. The one
/// thing that forgets a spend still inside `g`'s window is a grant in between with a
/// shorter window (adding under it drops what is older than *its* window): spends that
/// went through one are not counted here. For the longest window this is every spend.
fn check_windows(grants: &[GrantRec], revokes: &[(usize, usize)], spends: &[SpendRec]) {
    let rec = |id: u64| grants.iter().find(|g| g.id == id).unwrap();
    for s in spends {
        let g = rec(s.grant);
        let lo = (s.block + 1).saturating_sub(g.per);
        let counted: Balance = spends
            .iter()
            .filter(|e| e.owner == s.owner && e.seq <= s.seq && e.block >= lo)
            .filter(|e| {
                !revokes
                    .iter()
                    .any(|(o, r)| *o == s.owner && e.seq < *r && *r < s.seq)
            })
            .filter(|e| {
                grants
                    .iter()
                    .filter(|x| x.owner == s.owner && x.id >= e.grant && x.id <= g.id)
                    .all(|x| x.per >= g.per)
            })
            .map(|e| e.amount)
            .sum();
        assert!(
            counted <= g.budget,
            "grant {g:?}: {counted} spent in the window ending at block {} (spend #{})",
            s.block,
            s.seq
        );
        // In particular, what a grant spends under itself in any of its windows.
        let own: Balance = spends
            .iter()
            .filter(|e| e.grant == g.id && e.seq <= s.seq && e.block >= lo)
            .map(|e| e.amount)
            .sum();
        assert!(own <= g.budget);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever an agent does, and however owners grant, re-grant and revoke, no grant's
    /// window ever holds more than its budget (spends and fees), and an act is refused
    /// only for a reason.
    #[test]
    fn budgets_hold_in_every_window(
        initial in prop::collection::vec(grant_terms(), 2),
        ops in prop::collection::vec(window_op(), 1..80),
    ) {
        run(|| {
            standard_agent();
            let owners = [acc(2), acc(3)];
            let dest = acc(4);
            let mut grants: Vec<GrantRec> = Vec::new();
            let mut revokes: Vec<(usize, usize)> = Vec::new();
            let mut spends: Vec<SpendRec> = Vec::new();
            let ops = initial
                .into_iter()
                .enumerate()
                .map(|(owner, terms)| WindowOp::Grant { owner, terms })
                .chain(ops);
            for (seq, op) in ops.enumerate() {
                match op {
                    WindowOp::Grant { owner, terms: (budget, per, cap_per_mill) } => {
                        let cap = (budget * Balance::from(cap_per_mill) / 1_000).max(1);
                        grant(owners[owner], agent(), budget, per, cap).unwrap();
                        let id = Grants::get(&(agent(), owners[owner])).unwrap().id;
                        grants.push(GrantRec { id, owner, budget, per });
                    }
                    WindowOp::Act { owner, per_mill } => {
                        let current = Grants::get(&(agent(), owners[owner]));
                        let cap = current.as_ref().map_or(50, |g| g.max_per_call);
                        let amount = cap * Balance::from(per_mill) / 1_000;
                        match act(agent(), owners[owner], dest, amount) {
                            Ok(index) => {
                                let logged = Spends::get(&(agent(), index)).unwrap();
                                let g = current.unwrap();
                                assert_eq!((logged.grant, logged.amount), (g.id, amount));
                                assert!(amount <= g.max_per_call);
                                spends.push(SpendRec { seq, owner, grant: g.id, block: now(), amount });
                            }
                            Err(Error::NoGrant) => assert!(current.is_none()),
                            Err(Error::OverPerCallCap) => assert!(amount > cap),
                            Err(Error::OverBudget) => {
                                // Refused only when even every spend since the last
                                // revoke, were it all still counted, leaves no room.
                                let since = revokes.iter().filter(|(o, _)| *o == owner).map(|(_, r)| *r).max();
                                let all: Balance = spends
                                    .iter()
                                    .filter(|e| e.owner == owner && since.is_none_or(|r| e.seq > r))
                                    .map(|e| e.amount)
                                    .sum();
                                assert!(all + amount > current.unwrap().budget);
                            }
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                    WindowOp::Fee { owner, per_mill } => {
                        let budget = Grants::get(&(agent(), owners[owner])).map_or(10, |g| g.budget);
                        let fee = (budget * Balance::from(per_mill) / 1_000).max(1);
                        if pay_fee(agent(), owners[owner], fee) {
                            let g = Grants::get(&(agent(), owners[owner])).unwrap();
                            spends.push(SpendRec { seq, owner, grant: g.id, block: now(), amount: fee });
                        }
                    }
                    WindowOp::Revoke { owner } => {
                        if call(owners[owner], Call::Revoke { agent: agent() }).is_ok() {
                            revokes.push((owner, seq));
                        }
                    }
                    WindowOp::Advance { blocks } => run_to(now() + blocks),
                }
                // The grant view agrees with the window, which stays bounded.
                for o in owners {
                    if let Some(g) = Grants::get(&(agent(), o)) {
                        let v = grant_view(agent(), o);
                        assert_eq!(v.remaining, g.budget.saturating_sub(v.spent_in_window));
                        assert!(Windows::get(&(agent(), o)).unwrap_or_default().len() <= 4);
                    }
                }
            }
            check_windows(&grants, &revokes, &spends);
            // Every spend went to the recipient, every fee was burned.
            let fees = FEES_BURNED.with(|c| c.get());
            assert_eq!(free(2) + free(3) + free(4) + fees, 3 * FUNDS);
        });
    }
}

// ---------------------------------------------------------------- property: money adds up

/// Accounts 1..=5 act; agents 0..=2 (0 and 1 registered at the start, 2 maybe later).
/// Orders are picked among the live ones.
#[derive(Clone, Debug)]
enum MoneyOp {
    Register {
        owner: u8,
        agent: u8,
        bond: Balance,
        commission: u32,
    },
    Delegate {
        who: u8,
        agent: u8,
        amount: Balance,
    },
    /// Undelegates `per_mill` of the stake `who` has in `agent`.
    Undelegate {
        who: u8,
        agent: u8,
        per_mill: u32,
    },
    Withdraw {
        who: u8,
    },
    Place {
        client: u8,
        agent: u8,
        payment: Balance,
        deadline: BlockNumber,
    },
    Accept {
        pick: usize,
    },
    Deliver {
        pick: usize,
    },
    Cancel {
        pick: usize,
    },
    /// `who` 6..=8 are the agents claiming their commission.
    Claim {
        who: u8,
        agent: u8,
    },
    ReportMissed {
        reporter: u8,
        pick: usize,
    },
    Equivocate {
        reporter: u8,
        agent: u8,
    },
    Retire {
        owner: u8,
        agent: u8,
    },
    Advance {
        blocks: BlockNumber,
    },
    EndEpoch,
}

fn money_op() -> impl Strategy<Value = MoneyOp> {
    let who = 1..=5u8;
    let agent = 0..3u8;
    let pick = 0..20usize;
    prop_oneof![
        1 => (who.clone(), agent.clone(), 900..=3_000u128, 0..=1_000u32)
            .prop_map(|(owner, agent, bond, commission)| MoneyOp::Register { owner, agent, bond, commission }),
        3 => (who.clone(), agent.clone(), 50..=3_000u128)
            .prop_map(|(who, agent, amount)| MoneyOp::Delegate { who, agent, amount }),
        3 => (who.clone(), agent.clone(), 1..=1_000u32)
            .prop_map(|(who, agent, per_mill)| MoneyOp::Undelegate { who, agent, per_mill }),
        1 => who.clone().prop_map(|who| MoneyOp::Withdraw { who }),
        3 => (who.clone(), agent.clone(), 0..=2_000u128, 0..=8u64)
            .prop_map(|(client, agent, payment, deadline)| MoneyOp::Place { client, agent, payment, deadline }),
        3 => pick.clone().prop_map(|pick| MoneyOp::Accept { pick }),
        3 => pick.clone().prop_map(|pick| MoneyOp::Deliver { pick }),
        1 => pick.clone().prop_map(|pick| MoneyOp::Cancel { pick }),
        3 => (1..=8u8, agent.clone()).prop_map(|(who, agent)| MoneyOp::Claim { who, agent }),
        1 => (who.clone(), pick).prop_map(|(reporter, pick)| MoneyOp::ReportMissed { reporter, pick }),
        1 => (1..=8u8, agent.clone()).prop_map(|(reporter, agent)| MoneyOp::Equivocate { reporter, agent }),
        1 => (who, agent).prop_map(|(owner, agent)| MoneyOp::Retire { owner, agent }),
        3 => (1..=6u64).prop_map(|blocks| MoneyOp::Advance { blocks }),
        2 => Just(MoneyOp::EndEpoch),
    ]
}

/// Live order number `pick` (modulo their count), if any.
fn pick_order(pick: usize) -> Option<(u64, Order)> {
    let mut all: Vec<(u64, Order)> = Orders::iter().collect();
    all.sort_by_key(|(id, _)| *id);
    (!all.is_empty()).then(|| all.swap_remove(pick % all.len()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// After every step: issuance = free + bonded + unbonding + escrowed, and issuance
    /// moved only by income credited (burned now, minted when claimed) and slashes
    /// burned (the reporter's share released, not burned).
    #[test]
    fn money_adds_up(ops in prop::collection::vec(money_op(), 1..100)) {
        run(|| {
            register(acc(1), agent_n(0), MIN_BOND, 100).unwrap();
            register(acc(2), agent_n(1), 2 * MIN_BOND, 0).unwrap();
            check_books();
            let who = |i: u8| if i <= 5 { acc(i) } else { agent_n(i - 6) };
            for (seq, op) in ops.into_iter().enumerate() {
                let _ = match op {
                    MoneyOp::Register { owner, agent, bond, commission } => {
                        register(acc(owner), agent_n(agent), bond, commission)
                    }
                    MoneyOp::Delegate { who: w, agent, amount } => call(
                        who(w),
                        Call::Delegate { agent: agent_n(agent), amount: amount.into() },
                    ),
                    MoneyOp::Undelegate { who: w, agent, per_mill } => {
                        let value = stake(who(w), agent_n(agent));
                        let amount = (value * Balance::from(per_mill) / 1_000).max(1);
                        call(who(w), Call::Undelegate { agent: agent_n(agent), amount: amount.into() })
                    }
                    MoneyOp::Withdraw { who: w } => call(who(w), Call::Withdraw),
                    MoneyOp::Place { client, agent, payment, deadline } => call(
                        acc(client),
                        Call::PlaceOrder {
                            agent: agent_n(agent),
                            payment: payment.into(),
                            request: h(client),
                            deadline_blocks: deadline,
                        },
                    ),
                    MoneyOp::Accept { pick } => match pick_order(pick) {
                        Some((order, o)) => call(o.agent, Call::AcceptOrder { order }),
                        None => Ok(()),
                    },
                    MoneyOp::Deliver { pick } => match pick_order(pick) {
                        Some((order, o)) => call(o.agent, Call::Deliver { order, output: h(7) }),
                        None => Ok(()),
                    },
                    MoneyOp::Cancel { pick } => match pick_order(pick) {
                        Some((order, o)) => call(o.client, Call::CancelOrder { order }),
                        None => Ok(()),
                    },
                    MoneyOp::Claim { who: w, agent } => call(who(w), Call::Claim { agent: agent_n(agent) }),
                    MoneyOp::ReportMissed { reporter, pick } => match pick_order(pick) {
                        Some((order, _)) => call(acc(reporter), Call::ReportMissedDeadline { order }),
                        None => Ok(()),
                    },
                    MoneyOp::Equivocate { reporter, agent } => {
                        let request = h(seq as u8);
                        call(
                            who(reporter),
                            Call::ReportEquivocation {
                                agent: agent_n(agent),
                                request,
                                first: answer(agent, &GENESIS, &request, h(1)),
                                second: answer(agent, &GENESIS, &request, h(2)),
                            },
                        )
                    }
                    MoneyOp::Retire { owner, agent } => call(acc(owner), Call::Retire { agent: agent_n(agent) }),
                    MoneyOp::Advance { blocks } => {
                        run_to(now() + blocks);
                        Ok(())
                    }
                    MoneyOp::EndEpoch => {
                        end_epoch();
                        Ok(())
                    }
                };
                check_books();
            }
        });
    }
}

// ---------------------------------------------------------------- review fixes

#[test]
fn stake_unbonded_between_a_missed_deadline_and_its_report_still_pays() {
    run(|| {
        standard_agent();
        call(
            acc(5),
            Call::Delegate {
                agent: agent(),
                amount: 3_000.into(),
            },
        )
        .unwrap();
        let id = Agents::place_order(&acc(3), &agent(), 700, h(1), 2).unwrap();
        Agents::accept_order(&agent(), id).unwrap();
        // Missed at block 4 (epoch 0); the delegator leaves in epoch 0, the report comes in
        // epoch 1.
        run_to(4);
        call(
            acc(5),
            Call::Undelegate {
                agent: agent(),
                amount: 3_000.into(),
            },
        )
        .unwrap();
        end_epoch();
        call(acc(6), Call::ReportMissedDeadline { order: id }).unwrap();
        let slash = &Stk::deferred_slashes()[0].1;
        assert_eq!((slash.offence_epoch, slash.exposure), (0, 4_000));
        for _ in 0..=<Test as pallet_staking::Config>::SLASH_DEFER_EPOCHS {
            end_epoch();
        }
        // 1% of 4,000: 30 from the leaver's unbonding entry, 10 from the owner's bond.
        assert_eq!(Stk::unbonding_of(&acc(5))[0].amount, 2_970);
        assert_eq!(stake(acc(1), agent()), 990);
    });
}

#[test]
fn a_job_lost_before_the_account_was_an_agent_does_not_slash_its_pool() {
    run(|| {
        // Committed at block 2 (`put_job`), the agent registered at block 3.
        put_job(
            1,
            agent(),
            JobState::Settled,
            slashed_outcome(),
            Some(output_act()),
        );
        run_to(3);
        standard_agent();
        assert_eq!(
            call(acc(6), Call::ReportWrongOutput { job: 1 }),
            Err(Error::NotProvenWrong)
        );
        assert!(Stk::deferred_slashes().is_empty());
    });
}

#[test]
fn handing_over_a_model_must_be_granted_by_name_and_refused_acts_cost_the_owner_nothing() {
    run(|| {
        standard_agent();
        grant(acc(2), agent(), 500, 10, 200).unwrap();
        // An empty call list allows every kind but the explicit ones.
        assert_eq!(
            Agents::authorize(&agent(), &acc(2), EXPLICIT, None).map(|_| ()),
            Err(Error::CallNotAllowed)
        );
        assert!(Agents::authorize(&agent(), &acc(2), MODELS_CALL, None).is_ok());
        // The owner pays the fee of an allowed act only.
        assert!(Agents::fee_covered(&agent(), &acc(2), MODELS_CALL, None, 1));
        assert!(!Agents::fee_covered(&agent(), &acc(2), EXPLICIT, None, 1));
        assert!(!Agents::fee_covered(
            &agent(),
            &acc(2),
            CallKind {
                pallet: AGENTS,
                call: 3
            },
            None,
            1
        ));
        Agents::grant(
            &acc(2),
            &agent(),
            500,
            10,
            200,
            vec![],
            vec![EXPLICIT],
            None,
        )
        .unwrap();
        assert!(Agents::authorize(&agent(), &acc(2), EXPLICIT, None).is_ok());
        // A retired agent takes no new orders on.
        let id = Agents::place_order(&acc(3), &agent(), 100, h(1), 5).unwrap();
        call(acc(1), Call::Retire { agent: agent() }).unwrap();
        assert_eq!(Agents::accept_order(&agent(), id), Err(Error::Retired));
        call(acc(3), Call::CancelOrder { order: id }).unwrap();
    });
}

#[test]
fn an_agent_holds_a_bounded_number_of_grants() {
    run(|| {
        standard_agent();
        for owner in 2..=4 {
            grant(acc(owner), agent(), 500, 10, 200).unwrap();
        }
        assert_eq!(
            grant(acc(5), agent(), 500, 10, 200),
            Err(Error::TooManyGrants)
        );
        // An owner already on the list may replace its grant; one leaving frees a place.
        grant(acc(3), agent(), 600, 10, 200).unwrap();
        call(acc(4), Call::Revoke { agent: agent() }).unwrap();
        grant(acc(5), agent(), 500, 10, 200).unwrap();
        let owners: Vec<AccountId> = Agents::grants_of(&agent())
            .iter()
            .map(|g| g.owner)
            .collect();
        assert_eq!(owners, vec![acc(2), acc(3), acc(5)]);
    });
}
