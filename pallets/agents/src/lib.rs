//! Agents pallet: staked AI agents, bounded payment authority, paid orders, and slashing
//! for misbehaviour that can be proven on chain.
//!
//! # Agents and their stake
//!
//! An owner registers an agent: an account with its own key (it signs its own
//! transactions), a name, an optional model it runs and an endpoint. The owner bonds at
//! least `MIN_OWNER_BOND` to the agent, and stakers may delegate to it. The stake lives in
//! the staking pallet's pools ([`pallet_staking::Pallet::open_agent_pool`]): the agent's
//! account is the pool, the owner's bond and every delegation own shares of it, income is
//! shared lazily per share after the agent's commission, unbonding waits
//! `UNBONDING_EPOCHS`, and a slash lowers every share's value in O(1).
//!
//! # Authority over an owner's funds
//!
//! An owner grants an agent a budget: at most `budget` in any `per` consecutive blocks (a
//! sliding window: no doubling at a window edge, nothing saved up beyond one window), at
//! most `max_per_call` per call, optionally only to some recipients, only some call kinds,
//! and until some block. The agent then acts with [`Call::Act`], carrying any runtime call
//! encoded; the runtime decodes it and runs it as the owner, and *every* such call goes
//! through one check in the runtime's dispatch ([`Pallet::authorize`] before,
//! [`Pallet::record_spend`] after): what the call took out of the owner's free balance
//! (measured, not predicted from the call's arguments) must fit the per-call cap and the
//! window, or the call is undone. The agents pallet's own calls can never be made through
//! an agent (no nesting, no granting). The fee of an act is paid by the owner and counts
//! against the same window when the grant can cover it; otherwise the agent pays its own
//! fee. Revoking takes effect in the block it is included in. Every act is logged
//! ([`Pallet::spends`], bounded to the last `MAX_SPENDS_KEPT` per agent) with the grant it
//! used and, when it cites one, the verified inference job that justified it.
//!
//! # Orders
//!
//! A client orders work from an agent for a payment, escrowed here. Once the agent
//! accepts, it must deliver (an output hash) within the deadline it accepted; delivery pays
//! the payment into the agent's pool (commission, then shares). After the deadline anyone
//! may report the missed order: the client is refunded and the agent slashed.
//!
//! # Slashing
//!
//! Only for what the chain can check by itself: an inference job the agent ran as a
//! provider that a dispute settled against it, two signatures of the agent over different
//! answers to one request ([`answer_payload`]), or a missed order. Each is a deferred slash
//! in the staking pallet (`SLASH_DEFER_EPOCHS`, cancellable by governance) of a fraction of
//! the pool, delegators included; the reporter earns staking's `REPORTER_REWARD` of it.
//! A slashed agent's grants are frozen until each owner re-confirms them ([`Call::Confirm`]).
//!
//! # Money
//!
//! Bonded stake is in the staking pallet's books. This pallet holds only order escrows:
//! [`storage::TotalEscrowed`], so that total issuance = free balances + staking's bonded
//! and unbonding stake + escrows (+ what other pallets hold).
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use menara_primitives::{AccountId, Balance, BlockNumber, H256};
use menara_support::codec::{Compact, Decode, Encode};
use menara_support::{
    dispatch::bad_origin, ensure, io, storage_item, DispatchResult, Origin, PalletError,
    StorageMap, StorageValue,
};
use pallet_inference::{JobId, JobState, Outcome};
use pallet_models::ModelId;
use pallet_staking::OffenceKind;

/// Domain separator of an agent's signed answer.
pub const ANSWER_DOMAIN: &[u8] = b"menara/agent-answer/v1";

/// What an agent signs when it answers request `request` with output hash `output`: the
/// domain, the chain's genesis hash (no replay across chains), the request and the output.
/// Two valid signatures over the same request with different outputs are an equivocation.
pub fn answer_payload(genesis_hash: &H256, request: &H256, output: &H256) -> Vec<u8> {
    let mut m = Vec::with_capacity(ANSWER_DOMAIN.len() + 96);
    m.extend_from_slice(ANSWER_DOMAIN);
    m.extend_from_slice(&genesis_hash.0);
    m.extend_from_slice(&request.0);
    m.extend_from_slice(&output.0);
    m
}

/// Configuration of the agents pallet.
pub trait Config: pallet_staking::Config + pallet_inference::Config {
    /// This pallet's index in the runtime.
    const PALLET_INDEX: u8;
    /// Least the owner keeps bonded to an active agent.
    const MIN_OWNER_BOND: Balance;
    /// Longest name and endpoint, in bytes.
    const MAX_NAME_LEN: u32;
    /// Longest endpoint URI, in bytes.
    const MAX_ENDPOINT_LEN: u32;
    /// Most recipients and call kinds a grant may list.
    const MAX_GRANT_LIST: u32;
    /// Longest window of a grant, in blocks.
    const MAX_GRANT_PERIOD: BlockNumber;
    /// Most separate spends kept in a grant's window (older ones are merged into later
    /// ones, which only ever makes the limit stricter).
    const MAX_WINDOW_ENTRIES: u32;
    /// Spends kept in an agent's audit log.
    const MAX_SPENDS_KEPT: u64;
    /// Most owners that may hold a grant to one agent at once (its list of granting
    /// owners is read and written whole, so it must stay bounded).
    const MAX_GRANTS_PER_AGENT: u32;
    /// Most open orders per agent.
    const MAX_OPEN_ORDERS: u32;
    /// Longest delivery deadline an order may ask for, in blocks.
    const MAX_ORDER_BLOCKS: BlockNumber;
    /// Slash for an output a dispute proved wrong, per mill of the pool.
    const WRONG_OUTPUT_SLASH_PER_MILL: u32;
    /// Slash for two different answers to one request, per mill of the pool.
    const EQUIVOCATION_SLASH_PER_MILL: u32;
    /// Slash for a missed order, per mill of the pool.
    const MISSED_DEADLINE_SLASH_PER_MILL: u32;
    /// Call kinds a grant allows only when it lists them: those that hand over what the
    /// budget cannot measure (e.g. a model's ownership or royalty shares). A grant with an
    /// empty call list allows every other kind.
    const EXPLICIT_ONLY: &'static [CallKind];
}

/// A kind of runtime call: its pallet index and call index (the first two bytes of its
/// encoding).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Encode, Decode)]
pub struct CallKind {
    /// Pallet index.
    pub pallet: u8,
    /// Call index within the pallet.
    pub call: u8,
}

/// A registered agent.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct AgentInfo {
    /// Who registered it and bonded to it.
    pub owner: AccountId,
    /// Its name (UTF-8).
    pub name: Vec<u8>,
    /// The model it runs, if any.
    pub model: Option<ModelId>,
    /// Where to reach it (UTF-8 URI).
    pub endpoint: Vec<u8>,
    /// Block of registration.
    pub registered_at: BlockNumber,
    /// Slashes reported against it so far (grants confirmed before the latest are frozen).
    pub slashes: u32,
    /// Retired by its owner: no new grants, acts or orders.
    pub retired: bool,
}

/// An owner's grant of authority to an agent.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Grant {
    /// Unique id (a new grant from the same owner gets a new id).
    pub id: u64,
    /// Most spent (fees included) in any `per` consecutive blocks.
    pub budget: Balance,
    /// Window length in blocks.
    pub per: BlockNumber,
    /// Most one call may spend (fees not included).
    pub max_per_call: Balance,
    /// Allowed recipients (sorted); empty: any.
    pub recipients: Vec<AccountId>,
    /// Allowed call kinds (sorted); empty: any but this pallet's and `EXPLICIT_ONLY`.
    pub calls: Vec<CallKind>,
    /// Last block it may be used in.
    pub expires: Option<BlockNumber>,
    /// Block it was granted in.
    pub granted_at: BlockNumber,
    /// The agent's slash count the owner last confirmed the grant at.
    pub confirmed_slashes: u32,
}

/// A verified inference job an agent's act cites as its justification.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct JobCitation {
    /// The job.
    pub job: JobId,
    /// Its model.
    pub model: ModelId,
    /// gpu-verify hash of its input.
    pub input_hash: H256,
    /// gpu-verify hash of its output.
    pub output_hash: H256,
}

/// One act of an agent, as logged.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Spend {
    /// Position in the agent's log (from 0).
    pub index: u64,
    /// On whose behalf.
    pub owner: AccountId,
    /// Under which grant.
    pub grant: u64,
    /// What kind of call.
    pub kind: CallKind,
    /// Its recipient, when the call has one.
    pub recipient: Option<AccountId>,
    /// What the call took out of the owner's free balance.
    pub amount: Balance,
    /// The fee the owner paid for it (0 when the agent paid).
    pub fee: Balance,
    /// Block it happened in.
    pub block: BlockNumber,
    /// The verified job it cites, if any.
    pub job: Option<JobCitation>,
}

/// An order's progress.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum OrderState {
    /// Waiting for the agent to accept.
    #[codec(index = 0)]
    Open,
    /// Accepted: due by `deadline` (inclusive).
    #[codec(index = 1)]
    Accepted {
        /// Last block to deliver in.
        deadline: BlockNumber,
    },
}

/// Paid work ordered from an agent.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Order {
    /// Who pays.
    pub client: AccountId,
    /// Who works.
    pub agent: AccountId,
    /// Escrowed payment.
    pub payment: Balance,
    /// What is asked (e.g. a hash of the request the agent answers).
    pub request: H256,
    /// Blocks the agent has to deliver once it accepts.
    pub deadline_blocks: BlockNumber,
    /// Block it was placed in.
    pub placed_at: BlockNumber,
    /// Progress.
    pub state: OrderState,
}

/// One of two signed answers in an equivocation report.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct SignedAnswer {
    /// The output hash answered.
    pub output: H256,
    /// The agent's ed25519 signature over [`answer_payload`].
    pub signature: [u8; 64],
}

/// An agent, for queries.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct AgentView {
    /// Its account.
    pub account: AccountId,
    /// As registered.
    pub info: AgentInfo,
    /// Commission per mill.
    pub commission_per_mill: u32,
    /// Total stake in its pool.
    pub total_stake: Balance,
    /// The owner's stake in it.
    pub owner_bond: Balance,
    /// Acts logged so far.
    pub spends: u64,
    /// Open orders.
    pub open_orders: u32,
}

/// A grant, for queries, with what its window has left now.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct GrantView {
    /// The agent.
    pub agent: AccountId,
    /// The owner.
    pub owner: AccountId,
    /// The grant.
    pub grant: Grant,
    /// Spent in the current window.
    pub spent_in_window: Balance,
    /// Still spendable now.
    pub remaining: Balance,
    /// Frozen by a slash until the owner confirms it.
    pub frozen: bool,
}

/// An order, for queries.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct OrderView {
    /// Its id.
    pub id: u64,
    /// The order.
    pub order: Order,
}

/// Storage items.
pub mod storage {
    use super::*;
    storage_item!(pub AgentsPrefix: "Agents" / "Agents");
    storage_item!(pub GrantsPrefix: "Agents" / "Grants");
    storage_item!(pub GrantsOfPrefix: "Agents" / "GrantsOf");
    storage_item!(pub WindowsPrefix: "Agents" / "Windows");
    storage_item!(pub NextGrantIdPrefix: "Agents" / "NextGrantId");
    storage_item!(pub SpendsPrefix: "Agents" / "Spends");
    storage_item!(pub SpendCountPrefix: "Agents" / "SpendCount");
    storage_item!(pub OrdersPrefix: "Agents" / "Orders");
    storage_item!(pub AgentOrdersPrefix: "Agents" / "AgentOrders");
    storage_item!(pub NextOrderIdPrefix: "Agents" / "NextOrderId");
    storage_item!(pub TotalEscrowedPrefix: "Agents" / "TotalEscrowed");
    storage_item!(pub AnswersReportedPrefix: "Agents" / "AnswersReported");
    storage_item!(pub JobsReportedPrefix: "Agents" / "JobsReported");

    /// Registered agents by account.
    pub type Agents = StorageMap<AgentsPrefix, AccountId, AgentInfo>;
    /// Grants by (agent, owner).
    pub type Grants = StorageMap<GrantsPrefix, (AccountId, AccountId), Grant>;
    /// The owners that granted an agent authority (sorted).
    pub type GrantsOf = StorageMap<GrantsOfPrefix, AccountId, Vec<AccountId>>;
    /// Spends in a grant's current window by (agent, owner): (block, amount), oldest first.
    pub type Windows =
        StorageMap<WindowsPrefix, (AccountId, AccountId), Vec<(BlockNumber, Balance)>>;
    /// The next grant id.
    pub type NextGrantId = StorageValue<NextGrantIdPrefix, u64>;
    /// An agent's audit log by (agent, index).
    pub type Spends = StorageMap<SpendsPrefix, (AccountId, u64), Spend>;
    /// Acts an agent has logged so far (the next index).
    pub type SpendCount = StorageMap<SpendCountPrefix, AccountId, u64>;
    /// Open and accepted orders by id (removed once delivered, cancelled or missed).
    pub type Orders = StorageMap<OrdersPrefix, u64, Order>;
    /// An agent's open and accepted orders (ascending).
    pub type AgentOrders = StorageMap<AgentOrdersPrefix, AccountId, Vec<u64>>;
    /// The next order id.
    pub type NextOrderId = StorageValue<NextOrderIdPrefix, u64>;
    /// Order payments held by this pallet.
    pub type TotalEscrowed = StorageValue<TotalEscrowedPrefix, Balance>;
    /// Equivocations already reported: (agent, request) → slash id.
    pub type AnswersReported = StorageMap<AnswersReportedPrefix, (AccountId, H256), u64>;
    /// Lost disputes already reported: job → slash id.
    pub type JobsReported = StorageMap<JobsReportedPrefix, JobId, u64>;
}
use storage::*;

/// Calls. Amounts are SCALE compact.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Registers `agent` with the signer as its owner, bonding `self_bond` to it.
    #[codec(index = 0)]
    Register {
        /// The agent's account (its own key).
        agent: AccountId,
        /// Name (UTF-8, at most `MAX_NAME_LEN` bytes).
        name: Vec<u8>,
        /// The model it runs (must be registered).
        model: Option<ModelId>,
        /// Endpoint URI (at most `MAX_ENDPOINT_LEN` bytes).
        endpoint: Vec<u8>,
        /// The owner's bond, at least `MIN_OWNER_BOND`.
        self_bond: Compact<Balance>,
        /// Commission on the agent's income, per mill.
        commission_per_mill: u32,
    },
    /// Grants (or replaces) the signer's authority to `agent`.
    #[codec(index = 1)]
    Grant {
        /// The agent.
        agent: AccountId,
        /// Most spent, fees included, in any `per` consecutive blocks.
        budget: Compact<Balance>,
        /// Window length in blocks.
        per: BlockNumber,
        /// Most one call may spend.
        max_per_call: Compact<Balance>,
        /// Allowed recipients; empty: any.
        recipients: Vec<AccountId>,
        /// Allowed call kinds; empty: any but this pallet's.
        calls: Vec<CallKind>,
        /// Last block the grant may be used in.
        expires: Option<BlockNumber>,
    },
    /// Revokes the signer's grant to `agent`, effective in this block.
    #[codec(index = 2)]
    Revoke {
        /// The agent.
        agent: AccountId,
    },
    /// The signing agent makes `call` (an encoded runtime call) as `owner`, under the
    /// owner's grant. Run by the runtime's dispatch, which checks the grant.
    #[codec(index = 3)]
    Act {
        /// On whose behalf.
        owner: AccountId,
        /// The encoded runtime call.
        call: Vec<u8>,
        /// A verified inference job that justifies it.
        job: Option<JobId>,
    },
    /// The signer (an owner) re-confirms its grant to `agent` after a slash froze it.
    #[codec(index = 4)]
    Confirm {
        /// The agent.
        agent: AccountId,
    },
    /// Bonds free funds to `agent`'s pool (the owner's bond grows the same way).
    #[codec(index = 5)]
    Delegate {
        /// The agent.
        agent: AccountId,
        /// Amount, at least staking's `MIN_DELEGATION`.
        amount: Compact<Balance>,
    },
    /// Moves stake out of `agent`'s pool into unbonding (staking's `UNBONDING_EPOCHS`).
    #[codec(index = 6)]
    Undelegate {
        /// The agent.
        agent: AccountId,
        /// Amount of stake.
        amount: Compact<Balance>,
    },
    /// Mints the signer's share of `agent`'s income (its commission too, when the signer
    /// is the agent).
    #[codec(index = 7)]
    Claim {
        /// The agent.
        agent: AccountId,
    },
    /// Returns matured unbonding stake (staking's `withdraw_unbonded`).
    #[codec(index = 8)]
    Withdraw,
    /// Proves that `agent` signed two different answers to `request`.
    #[codec(index = 9)]
    ReportEquivocation {
        /// The agent.
        agent: AccountId,
        /// The request both answers are for.
        request: H256,
        /// One answer.
        first: SignedAnswer,
        /// Another.
        second: SignedAnswer,
    },
    /// Points at an inference job the agent ran as provider that a dispute settled against it.
    #[codec(index = 10)]
    ReportWrongOutput {
        /// The job.
        job: JobId,
    },
    /// Orders work from `agent`, escrowing `payment`.
    #[codec(index = 11)]
    PlaceOrder {
        /// The agent.
        agent: AccountId,
        /// The payment.
        payment: Compact<Balance>,
        /// What is asked.
        request: H256,
        /// Blocks to deliver in, from acceptance.
        deadline_blocks: BlockNumber,
    },
    /// The signing agent accepts an order; the deadline starts.
    #[codec(index = 12)]
    AcceptOrder {
        /// The order.
        order: u64,
    },
    /// The signing agent delivers an accepted order and is paid.
    #[codec(index = 13)]
    Deliver {
        /// The order.
        order: u64,
        /// The output's hash.
        output: H256,
    },
    /// The client cancels an order the agent has not accepted; the escrow comes back.
    #[codec(index = 14)]
    CancelOrder {
        /// The order.
        order: u64,
    },
    /// Anyone: an accepted order passed its deadline undelivered.
    #[codec(index = 15)]
    ReportMissedDeadline {
        /// The order.
        order: u64,
    },
    /// The owner retires `agent`: no new grants, acts or orders; the owner may unbond all.
    #[codec(index = 16)]
    Retire {
        /// The agent.
        agent: AccountId,
    },
}

/// Events.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Event {
    /// An agent was registered.
    #[codec(index = 0)]
    Registered {
        /// The agent.
        agent: AccountId,
        /// Its owner.
        owner: AccountId,
        /// The owner's bond.
        self_bond: Balance,
    },
    /// An owner granted (or replaced) authority.
    #[codec(index = 1)]
    Granted {
        /// The agent.
        agent: AccountId,
        /// The owner.
        owner: AccountId,
        /// The grant id.
        grant: u64,
        /// Budget per window.
        budget: Balance,
        /// Window.
        per: BlockNumber,
    },
    /// An owner revoked its grant.
    #[codec(index = 2)]
    Revoked {
        /// The agent.
        agent: AccountId,
        /// The owner.
        owner: AccountId,
    },
    /// An agent spent on an owner's behalf.
    #[codec(index = 3)]
    Spent {
        /// The agent.
        agent: AccountId,
        /// The owner.
        owner: AccountId,
        /// The grant.
        grant: u64,
        /// Index in the agent's log.
        index: u64,
        /// The call kind.
        kind: CallKind,
        /// Its recipient, if any.
        recipient: Option<AccountId>,
        /// Taken from the owner's free balance.
        amount: Balance,
        /// Fee paid by the owner.
        fee: Balance,
        /// The cited job, if any.
        job: Option<JobId>,
    },
    /// An owner re-confirmed a frozen grant.
    #[codec(index = 4)]
    Confirmed {
        /// The agent.
        agent: AccountId,
        /// The owner.
        owner: AccountId,
    },
    /// An agent's offence was reported; its slash is deferred and its grants frozen.
    #[codec(index = 5)]
    OffenceReported {
        /// The agent.
        agent: AccountId,
        /// What it did.
        kind: OffenceKind,
        /// Staking's slash id (for cancellation by governance).
        slash_id: u64,
        /// Who reported it.
        reporter: AccountId,
    },
    /// An order was placed.
    #[codec(index = 6)]
    OrderPlaced {
        /// Its id.
        order: u64,
        /// The client.
        client: AccountId,
        /// The agent.
        agent: AccountId,
        /// The escrowed payment.
        payment: Balance,
    },
    /// An agent accepted an order.
    #[codec(index = 7)]
    OrderAccepted {
        /// The order.
        order: u64,
        /// Deliver by this block.
        deadline: BlockNumber,
    },
    /// An agent delivered and was paid.
    #[codec(index = 8)]
    OrderDelivered {
        /// The order.
        order: u64,
        /// The agent.
        agent: AccountId,
        /// The output hash.
        output: H256,
        /// Paid into the agent's pool.
        payment: Balance,
    },
    /// The client cancelled an unaccepted order.
    #[codec(index = 9)]
    OrderCancelled {
        /// The order.
        order: u64,
    },
    /// An accepted order missed its deadline: refunded.
    #[codec(index = 10)]
    OrderMissed {
        /// The order.
        order: u64,
        /// Refunded to the client.
        refunded: Balance,
    },
    /// An owner retired its agent.
    #[codec(index = 11)]
    Retired {
        /// The agent.
        agent: AccountId,
    },
}

/// Errors.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Error {
    /// No such agent.
    #[codec(index = 0)]
    UnknownAgent,
    /// The account is already an agent (or a validator).
    #[codec(index = 1)]
    AlreadyRegistered,
    /// An agent cannot be its own owner, nor hold a grant from itself.
    #[codec(index = 2)]
    SelfGrant,
    /// Name or endpoint too long, or not UTF-8.
    #[codec(index = 3)]
    BadMetadata,
    /// The model is not registered.
    #[codec(index = 4)]
    UnknownModel,
    /// Only the agent's owner may do this.
    #[codec(index = 5)]
    NotOwner,
    /// The agent is retired.
    #[codec(index = 6)]
    Retired,
    /// The owner has no grant to this agent (never granted, or revoked).
    #[codec(index = 7)]
    NoGrant,
    /// The grant's last block has passed.
    #[codec(index = 8)]
    GrantExpired,
    /// A slash froze the grant until its owner confirms it.
    #[codec(index = 9)]
    GrantFrozen,
    /// The grant does not allow this kind of call.
    #[codec(index = 10)]
    CallNotAllowed,
    /// The grant does not allow this recipient (or the call has none it can check).
    #[codec(index = 11)]
    RecipientNotAllowed,
    /// The call would spend more than the grant's per-call cap.
    #[codec(index = 12)]
    OverPerCallCap,
    /// The call would take the window's spending past the budget.
    #[codec(index = 13)]
    OverBudget,
    /// An agent cannot act through another act (or any call of this pallet).
    #[codec(index = 14)]
    Nested,
    /// The encoded call does not decode.
    #[codec(index = 15)]
    MalformedCall,
    /// A grant must have a non-zero budget and window, a cap within the budget, at most
    /// `MAX_GRANT_LIST` entries per list, a window of at most `MAX_GRANT_PERIOD`, and no
    /// calls of this pallet.
    #[codec(index = 16)]
    BadGrant,
    /// The grant's expiry is not in the future.
    #[codec(index = 17)]
    ExpiryInPast,
    /// The grant is not frozen.
    #[codec(index = 18)]
    NotFrozen,
    /// A signature in the report does not verify.
    #[codec(index = 19)]
    BadSignature,
    /// The two answers are the same: no equivocation.
    #[codec(index = 20)]
    SameAnswer,
    /// Already reported.
    #[codec(index = 21)]
    AlreadyReported,
    /// No such inference job.
    #[codec(index = 22)]
    UnknownJob,
    /// The job was not settled against its provider, or its provider is not this agent.
    #[codec(index = 23)]
    NotProvenWrong,
    /// The cited job is not verified (not yet final, or proven wrong).
    #[codec(index = 24)]
    JobNotVerified,
    /// No such order.
    #[codec(index = 25)]
    UnknownOrder,
    /// Not this order's client / agent.
    #[codec(index = 26)]
    NotParty,
    /// The order is not in the state this needs (accepted, open, or past its deadline).
    #[codec(index = 27)]
    WrongOrderState,
    /// The agent has `MAX_OPEN_ORDERS` open orders.
    #[codec(index = 28)]
    TooManyOrders,
    /// The deadline is zero or beyond `MAX_ORDER_BLOCKS`.
    #[codec(index = 29)]
    BadDeadline,
    /// A zero amount.
    #[codec(index = 30)]
    ZeroAmount,
    /// Not enough free balance.
    #[codec(index = 31)]
    InsufficientBalance,
    /// Below the owner's minimum bond (or would leave less than it, or than a delegation's
    /// minimum).
    #[codec(index = 32)]
    BelowMinimum,
    /// The free balance would keep dust below the existential deposit.
    #[codec(index = 33)]
    WouldLeaveDust,
    /// No stake in this agent.
    #[codec(index = 34)]
    NoDelegation,
    /// Nothing to claim.
    #[codec(index = 35)]
    NothingToClaim,
    /// Nothing to withdraw.
    #[codec(index = 36)]
    NothingToWithdraw,
    /// Unbonding has not matured.
    #[codec(index = 37)]
    StillUnbonding,
    /// Too many unbonding entries: withdraw first.
    #[codec(index = 38)]
    TooManyUnbondingEntries,
    /// Commission above 1000 per mill.
    #[codec(index = 39)]
    BadCommission,
    /// The payout would leave the account below the existential deposit.
    #[codec(index = 40)]
    ExistentialDeposit,
    /// Arithmetic overflow.
    #[codec(index = 41)]
    Overflow,
    /// `Act` runs only through the runtime's dispatch.
    #[codec(index = 42)]
    NotDispatchable,
    /// The agent already holds `MAX_GRANTS_PER_AGENT` grants from other owners.
    #[codec(index = 43)]
    TooManyGrants,
}

menara_support::impl_pallet_error!(Error, {
    UnknownAgent,
    AlreadyRegistered,
    SelfGrant,
    BadMetadata,
    UnknownModel,
    NotOwner,
    Retired,
    NoGrant,
    GrantExpired,
    GrantFrozen,
    CallNotAllowed,
    RecipientNotAllowed,
    OverPerCallCap,
    OverBudget,
    Nested,
    MalformedCall,
    BadGrant,
    ExpiryInPast,
    NotFrozen,
    BadSignature,
    SameAnswer,
    AlreadyReported,
    UnknownJob,
    NotProvenWrong,
    JobNotVerified,
    UnknownOrder,
    NotParty,
    WrongOrderState,
    TooManyOrders,
    BadDeadline,
    ZeroAmount,
    InsufficientBalance,
    BelowMinimum,
    WouldLeaveDust,
    NoDelegation,
    NothingToClaim,
    NothingToWithdraw,
    StillUnbonding,
    TooManyUnbondingEntries,
    BadCommission,
    ExistentialDeposit,
    Overflow,
    NotDispatchable,
    TooManyGrants,
});

impl From<pallet_staking::Error> for Error {
    fn from(e: pallet_staking::Error) -> Self {
        use pallet_staking::Error as S;
        match e {
            S::InsufficientBalance => Error::InsufficientBalance,
            S::BelowMinimum => Error::BelowMinimum,
            S::StillUnbonding => Error::StillUnbonding,
            S::NothingToWithdraw => Error::NothingToWithdraw,
            S::ZeroAmount => Error::ZeroAmount,
            S::NoDelegation => Error::NoDelegation,
            S::NothingToClaim => Error::NothingToClaim,
            S::WouldLeaveDust => Error::WouldLeaveDust,
            S::ExistentialDeposit => Error::ExistentialDeposit,
            S::TooManyUnbondingEntries => Error::TooManyUnbondingEntries,
            S::BadCommission => Error::BadCommission,
            S::DuplicateAccount => Error::AlreadyRegistered,
            S::UnknownPool | S::UnknownValidator => Error::UnknownAgent,
            // A pool slashed to nothing refuses new stake.
            S::Tombstoned => Error::Retired,
            _ => Error::Overflow,
        }
    }
}

impl From<pallet_balances::Error> for Error {
    fn from(e: pallet_balances::Error) -> Self {
        match e {
            pallet_balances::Error::InsufficientBalance => Error::InsufficientBalance,
            pallet_balances::Error::ExistentialDeposit => Error::ExistentialDeposit,
            pallet_balances::Error::WouldLeaveDust => Error::WouldLeaveDust,
            pallet_balances::Error::ZeroAmount => Error::ZeroAmount,
            pallet_balances::Error::Overflow | pallet_balances::Error::SelfTransfer => {
                Error::Overflow
            }
        }
    }
}

/// The pallet.
pub struct Pallet<T>(core::marker::PhantomData<T>);

type Balances<T> = pallet_balances::Pallet<T>;
type Staking<T> = pallet_staking::Pallet<T>;
type System<T> = pallet_system::Pallet<T>;

impl<T: Config> Pallet<T> {
    // ------------------------------------------------------------------ calls

    /// Dispatches a call ([`Call::Act`] is the runtime's: see [`Self::authorize`]).
    pub fn dispatch(origin: Origin, call: Call) -> DispatchResult {
        let Origin::Signed(who) = origin else {
            return Err(bad_origin());
        };
        let r = match call {
            Call::Register {
                agent,
                name,
                model,
                endpoint,
                self_bond,
                commission_per_mill,
            } => Self::register(
                &who,
                &agent,
                name,
                model,
                endpoint,
                self_bond.0,
                commission_per_mill,
            ),
            Call::Grant {
                agent,
                budget,
                per,
                max_per_call,
                recipients,
                calls,
                expires,
            } => Self::grant(
                &who,
                &agent,
                budget.0,
                per,
                max_per_call.0,
                recipients,
                calls,
                expires,
            ),
            Call::Revoke { agent } => Self::revoke(&who, &agent),
            Call::Act { .. } => Err(Error::NotDispatchable),
            Call::Confirm { agent } => Self::confirm(&who, &agent),
            Call::Delegate { agent, amount } => Self::delegate(&who, &agent, amount.0),
            Call::Undelegate { agent, amount } => Self::undelegate(&who, &agent, amount.0),
            Call::Claim { agent } => Staking::<T>::claim_from_pool(&who, &agent)
                .map(|_| ())
                .map_err(Error::from),
            Call::Withdraw => Staking::<T>::withdraw_unbonded(&who)
                .map(|_| ())
                .map_err(Error::from),
            Call::ReportEquivocation {
                agent,
                request,
                first,
                second,
            } => Self::report_equivocation(&who, &agent, &request, &first, &second),
            Call::ReportWrongOutput { job } => Self::report_wrong_output(&who, job),
            Call::PlaceOrder {
                agent,
                payment,
                request,
                deadline_blocks,
            } => Self::place_order(&who, &agent, payment.0, request, deadline_blocks).map(|_| ()),
            Call::AcceptOrder { order } => Self::accept_order(&who, order),
            Call::Deliver { order, output } => Self::deliver(&who, order, output),
            Call::CancelOrder { order } => Self::cancel_order(&who, order),
            Call::ReportMissedDeadline { order } => Self::report_missed_deadline(&who, order),
            Call::Retire { agent } => Self::retire(&who, &agent),
        };
        r.map_err(|e| e.into_dispatch_error(<T as Config>::PALLET_INDEX))
    }

    /// `register`: `owner` registers `agent`, bonding `self_bond` to its new pool.
    pub fn register(
        owner: &AccountId,
        agent: &AccountId,
        name: Vec<u8>,
        model: Option<ModelId>,
        endpoint: Vec<u8>,
        self_bond: Balance,
        commission_per_mill: u32,
    ) -> Result<(), Error> {
        ensure!(owner != agent, Error::SelfGrant);
        ensure!(!Agents::contains_key(agent), Error::AlreadyRegistered);
        ensure!(!Staking::<T>::has_pool(agent), Error::AlreadyRegistered);
        ensure!(
            name.len() <= T::MAX_NAME_LEN as usize
                && endpoint.len() <= T::MAX_ENDPOINT_LEN as usize
                && core::str::from_utf8(&name).is_ok()
                && core::str::from_utf8(&endpoint).is_ok(),
            Error::BadMetadata
        );
        if let Some(id) = &model {
            ensure!(
                pallet_models::Pallet::<T>::model(id).is_some(),
                Error::UnknownModel
            );
        }
        ensure!(commission_per_mill <= 1000, Error::BadCommission);
        ensure!(self_bond >= T::MIN_OWNER_BOND, Error::BelowMinimum);
        Staking::<T>::open_agent_pool(agent, owner, commission_per_mill, self_bond)?;
        Agents::insert(
            agent,
            &AgentInfo {
                owner: *owner,
                name,
                model,
                endpoint,
                registered_at: System::<T>::block_number(),
                slashes: 0,
                retired: false,
            },
        );
        Self::deposit_event(Event::Registered {
            agent: *agent,
            owner: *owner,
            self_bond,
        });
        Ok(())
    }

    /// `grant`: `owner` grants `agent` authority, replacing any earlier grant. Spends
    /// already logged keep counting as far as the new window reaches back (a shorter new
    /// window forgets the ones before it).
    #[allow(clippy::too_many_arguments)]
    pub fn grant(
        owner: &AccountId,
        agent: &AccountId,
        budget: Balance,
        per: BlockNumber,
        max_per_call: Balance,
        mut recipients: Vec<AccountId>,
        mut calls: Vec<CallKind>,
        expires: Option<BlockNumber>,
    ) -> Result<(), Error> {
        ensure!(owner != agent, Error::SelfGrant);
        let info = Agents::get(agent).ok_or(Error::UnknownAgent)?;
        ensure!(!info.retired, Error::Retired);
        let max_list = T::MAX_GRANT_LIST as usize;
        ensure!(
            budget > 0
                && per > 0
                && per <= T::MAX_GRANT_PERIOD
                && max_per_call > 0
                && max_per_call <= budget
                && recipients.len() <= max_list
                && calls.len() <= max_list
                && calls
                    .iter()
                    .all(|k| k.pallet != <T as Config>::PALLET_INDEX),
            Error::BadGrant
        );
        let now = System::<T>::block_number();
        if let Some(e) = expires {
            ensure!(e >= now, Error::ExpiryInPast);
        }
        let mut owners = GrantsOf::get(agent).unwrap_or_default();
        let new_owner = owners.binary_search(owner);
        if let Err(pos) = new_owner {
            ensure!(
                owners.len() < T::MAX_GRANTS_PER_AGENT as usize,
                Error::TooManyGrants
            );
            owners.insert(pos, *owner);
        }
        recipients.sort();
        recipients.dedup();
        calls.sort();
        calls.dedup();
        let id = NextGrantId::get_or_default();
        NextGrantId::put(&id.saturating_add(1));
        let key = (*agent, *owner);
        Grants::insert(
            &key,
            &Grant {
                id,
                budget,
                per,
                max_per_call,
                recipients,
                calls,
                expires,
                granted_at: now,
                confirmed_slashes: info.slashes,
            },
        );
        if new_owner.is_err() {
            GrantsOf::insert(agent, &owners);
        }
        Self::deposit_event(Event::Granted {
            agent: *agent,
            owner: *owner,
            grant: id,
            budget,
            per,
        });
        Ok(())
    }

    /// `revoke`: removes `owner`'s grant to `agent` (its window's log too).
    pub fn revoke(owner: &AccountId, agent: &AccountId) -> Result<(), Error> {
        let key = (*agent, *owner);
        ensure!(Grants::contains_key(&key), Error::NoGrant);
        Grants::remove(&key);
        Windows::remove(&key);
        let mut owners = GrantsOf::get(agent).unwrap_or_default();
        if let Ok(pos) = owners.binary_search(owner) {
            owners.remove(pos);
            if owners.is_empty() {
                GrantsOf::remove(agent);
            } else {
                GrantsOf::insert(agent, &owners);
            }
        }
        Self::deposit_event(Event::Revoked {
            agent: *agent,
            owner: *owner,
        });
        Ok(())
    }

    /// `confirm`: `owner` unfreezes its grant to `agent` after a slash.
    pub fn confirm(owner: &AccountId, agent: &AccountId) -> Result<(), Error> {
        let info = Agents::get(agent).ok_or(Error::UnknownAgent)?;
        let key = (*agent, *owner);
        let mut grant = Grants::get(&key).ok_or(Error::NoGrant)?;
        ensure!(grant.confirmed_slashes < info.slashes, Error::NotFrozen);
        grant.confirmed_slashes = info.slashes;
        Grants::insert(&key, &grant);
        Self::deposit_event(Event::Confirmed {
            agent: *agent,
            owner: *owner,
        });
        Ok(())
    }

    /// `delegate`: bonds `amount` of `who`'s free balance to `agent`'s pool.
    pub fn delegate(who: &AccountId, agent: &AccountId, amount: Balance) -> Result<(), Error> {
        let info = Agents::get(agent).ok_or(Error::UnknownAgent)?;
        ensure!(!info.retired, Error::Retired);
        Staking::<T>::delegate_to_pool(who, agent, amount)?;
        Ok(())
    }

    /// `undelegate`: unbonds `amount` of `who`'s stake in `agent`'s pool; the owner of an
    /// active agent keeps at least `MIN_OWNER_BOND`.
    pub fn undelegate(who: &AccountId, agent: &AccountId, amount: Balance) -> Result<(), Error> {
        let info = Agents::get(agent).ok_or(Error::UnknownAgent)?;
        let minimum = if *who == info.owner && !info.retired {
            let value = Staking::<T>::stake_in_pool(who, agent);
            // The owner may not leave while the agent is active.
            ensure!(amount < value, Error::BelowMinimum);
            T::MIN_OWNER_BOND
        } else {
            0
        };
        Staking::<T>::undelegate_from_pool(who, agent, amount, minimum)?;
        Ok(())
    }

    /// `retire`: the owner stops `agent` for good.
    pub fn retire(owner: &AccountId, agent: &AccountId) -> Result<(), Error> {
        let mut info = Agents::get(agent).ok_or(Error::UnknownAgent)?;
        ensure!(info.owner == *owner, Error::NotOwner);
        ensure!(!info.retired, Error::Retired);
        info.retired = true;
        Agents::insert(agent, &info);
        Self::deposit_event(Event::Retired { agent: *agent });
        Ok(())
    }

    // ------------------------------------------------------------------ authority

    /// The checks of an act that do not depend on what it spends: `agent` is registered
    /// and active, `owner` granted it authority that is neither expired nor frozen, the
    /// call kind is allowed (never this pallet's own calls: no nesting, no granting) and
    /// so is its recipient. Returns the grant. Changes nothing.
    pub fn authorize(
        agent: &AccountId,
        owner: &AccountId,
        kind: CallKind,
        recipient: Option<&AccountId>,
    ) -> Result<Grant, Error> {
        let grant = Self::usable_grant(agent, owner)?;
        if kind.pallet == <T as Config>::PALLET_INDEX {
            return Err(Error::Nested);
        }
        let allowed = if grant.calls.is_empty() {
            !T::EXPLICIT_ONLY.contains(&kind)
        } else {
            grant.calls.binary_search(&kind).is_ok()
        };
        ensure!(allowed, Error::CallNotAllowed);
        if let Some(r) = recipient {
            ensure!(
                grant.recipients.is_empty() || grant.recipients.binary_search(r).is_ok(),
                Error::RecipientNotAllowed
            );
        }
        Ok(grant)
    }

    /// The grant `agent` may use for `owner` now.
    fn usable_grant(agent: &AccountId, owner: &AccountId) -> Result<Grant, Error> {
        ensure!(agent != owner, Error::SelfGrant);
        let info = Agents::get(agent).ok_or(Error::UnknownAgent)?;
        ensure!(!info.retired, Error::Retired);
        let grant = Grants::get(&(*agent, *owner)).ok_or(Error::NoGrant)?;
        if let Some(e) = grant.expires {
            ensure!(System::<T>::block_number() <= e, Error::GrantExpired);
        }
        ensure!(grant.confirmed_slashes >= info.slashes, Error::GrantFrozen);
        Ok(grant)
    }

    /// What `grant`'s window (by (agent, owner)) has spent at block `now`.
    fn spent_in_window(
        key: &(AccountId, AccountId),
        per: BlockNumber,
        now: BlockNumber,
    ) -> Balance {
        Self::window(key, per, now)
            .iter()
            .fold(0, |acc: Balance, (_, a)| acc.saturating_add(*a))
    }

    /// Whether the owner pays an act's `fee` (a call of `kind` to `recipient`): only when
    /// the grant allows that call (agent, grant, expiry, freeze, kind, recipient) and its
    /// window can take the fee now; otherwise the agent pays its own fee. An allowed call
    /// later refused for what it spent (over the cap or the budget) has cost the owner its
    /// fee, counted in the window, so fees never take the owner past the budget either.
    /// Changes nothing.
    pub fn fee_covered(
        agent: &AccountId,
        owner: &AccountId,
        kind: CallKind,
        recipient: Option<&AccountId>,
        fee: Balance,
    ) -> bool {
        let Ok(grant) = Self::authorize(agent, owner, kind, recipient) else {
            return false;
        };
        let now = System::<T>::block_number();
        let spent = Self::spent_in_window(&(*agent, *owner), grant.per, now);
        spent.checked_add(fee).is_some_and(|s| s <= grant.budget)
            && Balances::<T>::can_pay_fee(owner, fee)
    }

    /// Counts an act's fee, which the owner paid, against its grant's window. Call only
    /// after [`Self::fee_covered`] said yes in the same block.
    pub fn charge_fee(agent: &AccountId, owner: &AccountId, fee: Balance) {
        if let Some(grant) = Grants::get(&(*agent, *owner)) {
            Self::add_to_window(&(*agent, *owner), &grant, fee);
        }
    }

    /// The spends of a grant's window still in it at block `now`, oldest first.
    fn window(
        key: &(AccountId, AccountId),
        per: BlockNumber,
        now: BlockNumber,
    ) -> Vec<(BlockNumber, Balance)> {
        Windows::get(key)
            .unwrap_or_default()
            .into_iter()
            .filter(|(b, _)| b.saturating_add(per) > now)
            .collect()
    }

    /// Adds `amount` at the current block to a grant's window, forgetting spends older
    /// than the window and merging the oldest ones when there are too many.
    fn add_to_window(key: &(AccountId, AccountId), grant: &Grant, amount: Balance) {
        let now = System::<T>::block_number();
        let entries = Self::window(key, grant.per, now);
        Self::store_window(key, entries, now, amount);
    }

    fn store_window(
        key: &(AccountId, AccountId),
        mut entries: Vec<(BlockNumber, Balance)>,
        now: BlockNumber,
        amount: Balance,
    ) {
        match entries.last_mut() {
            Some((b, a)) if *b == now => *a = a.saturating_add(amount),
            _ => entries.push((now, amount)),
        }
        // Moving an old spend to a later block keeps it in the window longer: the limit
        // only gets stricter, and the log stays bounded.
        while entries.len() > T::MAX_WINDOW_ENTRIES.max(1) as usize {
            let (_, oldest) = entries.remove(0);
            if let Some((_, a)) = entries.first_mut() {
                *a = a.saturating_add(oldest);
            }
        }
        if entries.is_empty() {
            Windows::remove(key);
        } else {
            Windows::insert(key, &entries);
        }
    }

    /// After an act's call ran as `owner` under `grant` (what [`Self::authorize`] returned
    /// before the call; the call cannot have changed it, since no call of this pallet can
    /// be made through an act): checks what it took out of the owner's free balance
    /// (`amount`) against the grant's per-call cap, its window and (when the grant lists
    /// recipients) that the call had an allowed recipient, checks the cited job, then
    /// counts and logs it. An error undoes the whole act.
    #[allow(clippy::too_many_arguments)]
    pub fn record_spend(
        agent: &AccountId,
        owner: &AccountId,
        grant: &Grant,
        kind: CallKind,
        recipient: Option<AccountId>,
        amount: Balance,
        fee: Balance,
        job: Option<JobId>,
    ) -> Result<u64, Error> {
        if amount > 0 && !grant.recipients.is_empty() {
            // Money left the owner towards nobody the grant can check.
            ensure!(recipient.is_some(), Error::RecipientNotAllowed);
        }
        ensure!(amount <= grant.max_per_call, Error::OverPerCallCap);
        let key = (*agent, *owner);
        let now = System::<T>::block_number();
        let entries = Self::window(&key, grant.per, now);
        let spent = entries
            .iter()
            .fold(0, |acc: Balance, (_, a)| acc.saturating_add(*a));
        ensure!(
            spent.checked_add(amount).is_some_and(|s| s <= grant.budget),
            Error::OverBudget
        );
        let citation = match job {
            Some(id) => Some(Self::cite(id)?),
            None => None,
        };
        if amount > 0 {
            Self::store_window(&key, entries, now, amount);
        }
        let index = SpendCount::get_or_default(agent);
        SpendCount::insert(agent, &index.saturating_add(1));
        if let Some(old) = index.checked_sub(T::MAX_SPENDS_KEPT) {
            Spends::remove(&(*agent, old));
        }
        Spends::insert(
            &(*agent, index),
            &Spend {
                index,
                owner: *owner,
                grant: grant.id,
                kind,
                recipient,
                amount,
                fee,
                block: now,
                job: citation,
            },
        );
        Self::deposit_event(Event::Spent {
            agent: *agent,
            owner: *owner,
            grant: grant.id,
            index,
            kind,
            recipient,
            amount,
            fee,
            job,
        });
        Ok(index)
    }

    /// The citation of a verified job: attested by its verifiers, or past its window
    /// unchallenged.
    fn cite(id: JobId) -> Result<JobCitation, Error> {
        let job = pallet_inference::storage::Jobs::get(&id).ok_or(Error::UnknownJob)?;
        ensure!(
            matches!(job.state, JobState::Verified | JobState::Final),
            Error::JobNotVerified
        );
        let output = job.output.as_ref().ok_or(Error::JobNotVerified)?;
        Ok(JobCitation {
            job: id,
            model: job.model,
            input_hash: H256(gpu_verify_core::commit::activation_hash(&job.input)),
            output_hash: H256(gpu_verify_core::commit::activation_hash(output)),
        })
    }

    // ------------------------------------------------------------------ offences

    /// `report_equivocation`: two valid signatures of `agent` over different answers to
    /// `request`.
    pub fn report_equivocation(
        reporter: &AccountId,
        agent: &AccountId,
        request: &H256,
        first: &SignedAnswer,
        second: &SignedAnswer,
    ) -> Result<(), Error> {
        ensure!(Agents::contains_key(agent), Error::UnknownAgent);
        ensure!(first.output != second.output, Error::SameAnswer);
        let genesis = System::<T>::genesis_hash().unwrap_or_default();
        for answer in [first, second] {
            let payload = answer_payload(&genesis, request, &answer.output);
            ensure!(
                io::crypto::ed25519_verify(&answer.signature, &payload, &agent.0),
                Error::BadSignature
            );
        }
        let key = (*agent, *request);
        ensure!(!AnswersReported::contains_key(&key), Error::AlreadyReported);
        // When the answers were signed is unknown: the offence counts from now.
        let id = Self::slash(
            agent,
            OffenceKind::AgentEquivocation,
            Self::current_epoch(),
            T::EQUIVOCATION_SLASH_PER_MILL,
            reporter,
        )?;
        AnswersReported::insert(&key, &id);
        Ok(())
    }

    /// `report_wrong_output`: inference job `job`, run by an agent as its provider, was
    /// settled against it by a dispute.
    pub fn report_wrong_output(reporter: &AccountId, job: JobId) -> Result<(), Error> {
        let record = pallet_inference::storage::Jobs::get(&job).ok_or(Error::UnknownJob)?;
        ensure!(
            record.state == JobState::Settled
                && matches!(record.outcome, Some(Outcome::ProviderSlashed { .. })),
            Error::NotProvenWrong
        );
        // Only outputs committed while the provider was already this agent count: an
        // account's past as a plain provider does not fall on its agent's delegators.
        let info = Agents::get(&record.provider).ok_or(Error::NotProvenWrong)?;
        ensure!(
            record.committed_at >= info.registered_at,
            Error::NotProvenWrong
        );
        ensure!(!JobsReported::contains_key(&job), Error::AlreadyReported);
        let id = Self::slash(
            &record.provider,
            OffenceKind::AgentWrongOutput,
            Staking::<T>::epoch_of_block(record.committed_at),
            T::WRONG_OUTPUT_SLASH_PER_MILL,
            reporter,
        )?;
        JobsReported::insert(&job, &id);
        Ok(())
    }

    /// Schedules the pool's slash for an offence in `epoch` (stake that unbonded since
    /// pays its share) and freezes the agent's grants.
    fn slash(
        agent: &AccountId,
        kind: OffenceKind,
        epoch: pallet_staking::EpochIndex,
        per_mill: u32,
        reporter: &AccountId,
    ) -> Result<u64, Error> {
        let mut info = Agents::get(agent).ok_or(Error::UnknownAgent)?;
        let id = Staking::<T>::report_pool_offence(agent, kind, epoch, per_mill, Some(*reporter))?;
        info.slashes = info.slashes.saturating_add(1);
        Agents::insert(agent, &info);
        Self::deposit_event(Event::OffenceReported {
            agent: *agent,
            kind,
            slash_id: id,
            reporter: *reporter,
        });
        Ok(id)
    }

    // ------------------------------------------------------------------ orders

    /// `place_order`: `client` escrows `payment` for work from `agent`; returns the id.
    pub fn place_order(
        client: &AccountId,
        agent: &AccountId,
        payment: Balance,
        request: H256,
        deadline_blocks: BlockNumber,
    ) -> Result<u64, Error> {
        let info = Agents::get(agent).ok_or(Error::UnknownAgent)?;
        ensure!(!info.retired, Error::Retired);
        ensure!(client != agent, Error::SelfGrant);
        ensure!(payment > 0, Error::ZeroAmount);
        ensure!(
            deadline_blocks > 0 && deadline_blocks <= T::MAX_ORDER_BLOCKS,
            Error::BadDeadline
        );
        let mut open = AgentOrders::get(agent).unwrap_or_default();
        ensure!(
            open.len() < T::MAX_OPEN_ORDERS as usize,
            Error::TooManyOrders
        );
        let escrowed = TotalEscrowed::get_or_default()
            .checked_add(payment)
            .ok_or(Error::Overflow)?;
        Balances::<T>::hold(client, payment)?;
        TotalEscrowed::put(&escrowed);
        let id = NextOrderId::get_or_default();
        NextOrderId::put(&id.saturating_add(1));
        Orders::insert(
            &id,
            &Order {
                client: *client,
                agent: *agent,
                payment,
                request,
                deadline_blocks,
                placed_at: System::<T>::block_number(),
                state: OrderState::Open,
            },
        );
        open.push(id);
        AgentOrders::insert(agent, &open);
        Self::deposit_event(Event::OrderPlaced {
            order: id,
            client: *client,
            agent: *agent,
            payment,
        });
        Ok(id)
    }

    /// `accept_order`: the agent takes the order on; the deadline starts now.
    pub fn accept_order(agent: &AccountId, id: u64) -> Result<(), Error> {
        let mut order = Orders::get(&id).ok_or(Error::UnknownOrder)?;
        ensure!(order.agent == *agent, Error::NotParty);
        let info = Agents::get(agent).ok_or(Error::UnknownAgent)?;
        ensure!(!info.retired, Error::Retired);
        ensure!(order.state == OrderState::Open, Error::WrongOrderState);
        let deadline = System::<T>::block_number().saturating_add(order.deadline_blocks);
        order.state = OrderState::Accepted { deadline };
        Orders::insert(&id, &order);
        Self::deposit_event(Event::OrderAccepted {
            order: id,
            deadline,
        });
        Ok(())
    }

    /// `deliver`: the agent delivers an accepted order by its deadline and is paid.
    pub fn deliver(agent: &AccountId, id: u64, output: H256) -> Result<(), Error> {
        let order = Orders::get(&id).ok_or(Error::UnknownOrder)?;
        ensure!(order.agent == *agent, Error::NotParty);
        let OrderState::Accepted { deadline } = order.state else {
            return Err(Error::WrongOrderState);
        };
        ensure!(
            System::<T>::block_number() <= deadline,
            Error::WrongOrderState
        );
        Staking::<T>::credit_pool(agent, order.payment)?;
        Self::close_order(id, &order);
        Self::deposit_event(Event::OrderDelivered {
            order: id,
            agent: *agent,
            output,
            payment: order.payment,
        });
        Ok(())
    }

    /// `cancel_order`: the client takes back an order the agent has not accepted.
    pub fn cancel_order(client: &AccountId, id: u64) -> Result<(), Error> {
        let order = Orders::get(&id).ok_or(Error::UnknownOrder)?;
        ensure!(order.client == *client, Error::NotParty);
        ensure!(order.state == OrderState::Open, Error::WrongOrderState);
        Balances::<T>::release(client, order.payment)?;
        Self::close_order(id, &order);
        Self::deposit_event(Event::OrderCancelled { order: id });
        Ok(())
    }

    /// `report_missed_deadline`: an accepted order is past its deadline: the client is
    /// refunded and the agent slashed.
    pub fn report_missed_deadline(reporter: &AccountId, id: u64) -> Result<(), Error> {
        let order = Orders::get(&id).ok_or(Error::UnknownOrder)?;
        let OrderState::Accepted { deadline } = order.state else {
            return Err(Error::WrongOrderState);
        };
        ensure!(
            System::<T>::block_number() > deadline,
            Error::WrongOrderState
        );
        Balances::<T>::release(&order.client, order.payment)?;
        Self::close_order(id, &order);
        Self::slash(
            &order.agent,
            OffenceKind::AgentMissedDeadline,
            Staking::<T>::epoch_of_block(deadline.saturating_add(1)),
            T::MISSED_DEADLINE_SLASH_PER_MILL,
            reporter,
        )?;
        Self::deposit_event(Event::OrderMissed {
            order: id,
            refunded: order.payment,
        });
        Ok(())
    }

    /// Removes a finished order and its escrow from the books (the caller moved the funds).
    fn close_order(id: u64, order: &Order) {
        Orders::remove(&id);
        TotalEscrowed::mutate(|t| *t = t.saturating_sub(order.payment));
        let mut open = AgentOrders::get(&order.agent).unwrap_or_default();
        if let Ok(pos) = open.binary_search(&id) {
            open.remove(pos);
        }
        if open.is_empty() {
            AgentOrders::remove(&order.agent);
        } else {
            AgentOrders::insert(&order.agent, &open);
        }
    }

    // ------------------------------------------------------------------ queries

    /// One agent.
    pub fn agent(account: &AccountId) -> Option<AgentView> {
        let info = Agents::get(account)?;
        let pool = Staking::<T>::pool_info(account);
        Some(AgentView {
            account: *account,
            commission_per_mill: pool.as_ref().map_or(0, |p| p.commission_per_mill),
            total_stake: pool.as_ref().map_or(0, |p| p.total_stake),
            owner_bond: Staking::<T>::stake_in_pool(&info.owner, account),
            spends: SpendCount::get_or_default(account),
            open_orders: u32::try_from(AgentOrders::get(account).unwrap_or_default().len())
                .unwrap_or(u32::MAX),
            info,
        })
    }

    /// Every agent, by account.
    pub fn agents() -> Vec<AgentView> {
        let mut accounts: Vec<AccountId> = Agents::iter().map(|(a, _)| a).collect();
        accounts.sort();
        accounts.iter().filter_map(Self::agent).collect()
    }

    /// The grants given to `agent`, by owner.
    pub fn grants_of(agent: &AccountId) -> Vec<GrantView> {
        let slashes = Agents::get(agent).map_or(0, |i| i.slashes);
        let now = System::<T>::block_number();
        GrantsOf::get(agent)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|owner| {
                let key = (*agent, owner);
                let grant = Grants::get(&key)?;
                let spent = Self::spent_in_window(&key, grant.per, now);
                Some(GrantView {
                    agent: *agent,
                    owner,
                    spent_in_window: spent,
                    remaining: grant.budget.saturating_sub(spent),
                    frozen: grant.confirmed_slashes < slashes,
                    grant,
                })
            })
            .collect()
    }

    /// `agent`'s logged acts, newest first: at most `limit` of them with index below
    /// `before` (all, when `None`).
    pub fn spends(agent: &AccountId, before: Option<u64>, limit: u32) -> Vec<Spend> {
        let count = SpendCount::get_or_default(agent);
        let end = before.map_or(count, |b| b.min(count));
        let oldest = count.saturating_sub(T::MAX_SPENDS_KEPT);
        let mut out = Vec::new();
        let mut i = end;
        while i > oldest && out.len() < limit as usize {
            i -= 1;
            if let Some(s) = Spends::get(&(*agent, i)) {
                out.push(s);
            }
        }
        out
    }

    /// One order.
    pub fn order(id: u64) -> Option<OrderView> {
        Orders::get(&id).map(|order| OrderView { id, order })
    }

    /// `agent`'s open and accepted orders.
    pub fn orders_of(agent: &AccountId) -> Vec<OrderView> {
        AgentOrders::get(agent)
            .unwrap_or_default()
            .into_iter()
            .filter_map(Self::order)
            .collect()
    }

    /// Order payments held by this pallet.
    pub fn total_escrowed() -> Balance {
        TotalEscrowed::get_or_default()
    }

    fn current_epoch() -> pallet_staking::EpochIndex {
        Staking::<T>::epoch().index
    }

    fn deposit_event(event: Event) {
        System::<T>::deposit_event(<T as Config>::PALLET_INDEX, event.encode());
    }
}

#[cfg(test)]
mod tests;
