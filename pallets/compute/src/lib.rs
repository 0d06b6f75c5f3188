//! Compute pallet: a market for GPU time in which a provider that fails pays the tenant
//! it failed.
//!
//! # Providers
//!
//! A provider registers what it offers (GPU class, count, memory, region, the models it
//! serves, an asking price) and holds collateral, at least
//! `COLLATERAL_PER_GPU * class weight * gpu_count` ([`Pallet::required_collateral`]), so
//! the collateral grows with the resources offered. Collateral leaves the free balance
//! through the balances pallet's hold machinery, like staked funds. A provider that leaves
//! stops bidding, gives its running leases `NOTICE_BLOCKS` of notice, and gets its
//! collateral back no earlier than `UNBONDING_BLOCKS` after it left and only once its last
//! lease closed: until then every challenge it owes can still slash it.
//!
//! # Orders, bids, leases
//!
//! A tenant opens an order (resources, a maximum price per block, a duration, and an
//! escrow deposit covering at least `MIN_ESCROW_BLOCKS` at that price). Eligible providers
//! bid at most the maximum price, each bid holding `BID_DEPOSIT`; an order takes at most
//! `MAX_BIDS_PER_ORDER` bids. The tenant accepts one bid, or (`auto_match`) the order is
//! matched to the cheapest bid `BID_WINDOW` blocks after it opened (earliest wins ties).
//! The lease starts, the losing deposits are refunded, and the winner's deposit stays with
//! the lease: returned when the lease ends normally, forfeited to the tenant when the
//! provider fails a challenge. Orders nobody matched expire after `ORDER_TTL` blocks.
//!
//! # Lazy escrow
//!
//! A lease pays `price` per block from its escrow to the provider, settled lazily:
//! settling pays `price * (min(now, dry_at) - settled_at)`, exact integers, O(1). The
//! lease's end `dry_at = min(end, settled_at + floor(escrow / price))` is kept up to date
//! and indexed by block, so the end-of-block pass closes exactly the leases ending in that
//! block (at the block the escrow ran dry, with nobody sending a transaction) and costs
//! nothing for the leases still running. The provider is never paid beyond the escrow;
//! what is left (less than one block's price) goes back to the tenant. Anyone can settle;
//! the provider withdraws its earnings when it likes.
//!
//! # Availability challenges
//!
//! Every block the beacon ([`pallet_randomness`]) picks leases to challenge: on average one
//! challenge per lease every `CHALLENGE_PERIOD` blocks, at most
//! `MAX_CHALLENGES_PER_BLOCK` per block (so the pass does not grow with the number of
//! leases). A challenge is a gpu-verify workload (`gpu_verify_core::challenge`) derived from a
//! seed drawn from the beacon and sized for the lease's GPU class: `depth` dependent steps
//! of an integer matrix product. Within `ANSWER_BLOCKS` the provider must post the Merkle
//! root over all step outputs, a deadline sized so that only the declared hardware meets
//! it. The beacon of the block *after* the answer then picks one step to audit; within
//! `REVEAL_BLOCKS` the provider posts that step's input with Merkle openings, and the
//! runtime re-executes the step itself with gpu-verify's `no_std` code, the step's integer
//! matrix product on the host (`io::compute::gemm_i8`; at most `MAX_AUDITS_PER_BLOCK`
//! audits per block bound the block's work). A step skipped or
//! faked is caught with probability 1/depth per challenge; a provider without the GPU
//! cannot answer in time without skipping most steps.
//!
//! A challenge stays owed when its lease closes meanwhile (the provider's worker answers
//! every open challenge whatever the lease's state), and failing it still slashes, to the
//! benefit of that lease's tenant.
//!
//! A missed answer, a missed reveal or a failed audit closes the lease and slashes
//! `CHALLENGE_SLASH_PER_MILL` of the provider's collateral: the tenant receives it first
//! (up to the lease's contracted value, `price * duration`) together with the provider's
//! bid deposit and the unspent escrow; the rest of the slash is burned. The provider is
//! jailed (no bids) for `JAIL_BLOCKS`.
//!
//! # Money
//!
//! Everything this pallet holds is counted in [`storage::TotalHeld`]:
//!
//! ```text
//! TotalHeld = collateral + bid deposits (open orders and leases) + order escrows
//!           + lease escrows + provider earnings + pending payouts
//! total issuance = sum(free balances) + (other pallets' held funds) + TotalHeld
//! ```
//!
//! Only slashes change issuance here (the burned part, in [`storage::TotalBurned`]). A
//! payout that the balances pallet refuses (it would leave an account below the
//! existential deposit) is kept as a pending payout the account withdraws later.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use gpu_verify_core::challenge::{self as workload, AuditVerdict, ChallengeShape, StepOpening};
use menara_primitives::{AccountId, Balance, BlockNumber, H256};
use menara_support::codec::{Compact, Decode, Encode};
use menara_support::{
    dispatch::bad_origin, ensure, io, storage_item, DispatchResult, Origin, PalletError,
    StorageMap, StorageValue,
};

/// Identifier of an order.
pub type OrderId = u64;
/// Identifier of a bid.
pub type BidId = u64;
/// Identifier of a lease.
pub type LeaseId = u64;
/// Identifier of a challenge.
pub type ChallengeId = u64;
/// A model id (see the models pallet).
pub type ModelId = H256;

/// Most GPUs one provider offers.
pub const MAX_GPU_COUNT: u32 = 1_024;
/// Most GPU memory declared per GPU, in GiB.
pub const MAX_VRAM_GIB: u32 = 1_024;
/// Longest region name, in bytes.
pub const MAX_REGION_LEN: usize = 16;
/// Most models one provider declares.
pub const MAX_MODELS: usize = 16;
/// Most leases running on one provider at once (bounds the work of leaving).
pub const MAX_LEASES_PER_PROVIDER: usize = 64;
/// Average blocks between challenges of one lease on chains with test challenges, so
/// that end-to-end tests see them within seconds.
pub const TEST_CHALLENGE_PERIOD: BlockNumber = 10;
/// Most items in one page of a listing query.
pub const MAX_LIST: u32 = 100;

/// Configuration of the compute pallet; every parameter is a runtime constant that a
/// runtime upgrade (governance) can change.
pub trait Config:
    pallet_balances::Config + pallet_randomness::Config + pallet_models::Config
{
    /// This pallet's index in the runtime.
    const PALLET_INDEX: u8;
    /// Collateral per GPU of weight 1 (see [`GpuClass::weight`]).
    const COLLATERAL_PER_GPU: Balance;
    /// Deposit held with every bid.
    const BID_DEPOSIT: Balance;
    /// Most bids one order takes.
    const MAX_BIDS_PER_ORDER: u32;
    /// An order's escrow must cover at least this many blocks at its maximum price.
    const MIN_ESCROW_BLOCKS: BlockNumber;
    /// Longest lease, in blocks.
    const MAX_LEASE_BLOCKS: BlockNumber;
    /// Blocks after which an `auto_match` order takes its cheapest bid.
    const BID_WINDOW: BlockNumber;
    /// Blocks after which an unmatched order expires and is refunded.
    const ORDER_TTL: BlockNumber;
    /// Notice a provider gives its running leases when it closes them or leaves.
    const NOTICE_BLOCKS: BlockNumber;
    /// Blocks between leaving and getting the collateral back (still slashable).
    const UNBONDING_BLOCKS: BlockNumber;
    /// Average blocks between two challenges of one lease.
    const CHALLENGE_PERIOD: BlockNumber;
    /// Most challenges issued in one block.
    const MAX_CHALLENGES_PER_BLOCK: u32;
    /// Blocks a provider has to post a challenge's answer.
    const ANSWER_BLOCKS: BlockNumber;
    /// Blocks a provider has, once the audited step is drawn, to reveal its input.
    const REVEAL_BLOCKS: BlockNumber;
    /// Most audits (one re-executed step each) in one block.
    const MAX_AUDITS_PER_BLOCK: u32;
    /// Share of the collateral slashed for a failed challenge, per thousand.
    const CHALLENGE_SLASH_PER_MILL: u32;
    /// Blocks a provider that failed a challenge may not bid.
    const JAIL_BLOCKS: BlockNumber;
}

/// GPU classes the chain knows, each with its challenge size and collateral weight.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Encode, Decode)]
pub enum GpuClass {
    /// NVIDIA H100 (80 GiB).
    #[codec(index = 0)]
    H100,
    /// NVIDIA H200 (141 GiB).
    #[codec(index = 1)]
    H200,
    /// NVIDIA A100.
    #[codec(index = 2)]
    A100,
    /// NVIDIA L40S.
    #[codec(index = 3)]
    L40S,
    /// NVIDIA GeForce RTX 4090.
    #[codec(index = 4)]
    Rtx4090,
}

impl GpuClass {
    /// Every class, in index order.
    pub const ALL: [GpuClass; 5] = [
        GpuClass::H100,
        GpuClass::H200,
        GpuClass::A100,
        GpuClass::L40S,
        GpuClass::Rtx4090,
    ];

    /// The name users write (`--gpu H100`).
    pub fn name(&self) -> &'static str {
        match self {
            GpuClass::H100 => "H100",
            GpuClass::H200 => "H200",
            GpuClass::A100 => "A100",
            GpuClass::L40S => "L40S",
            GpuClass::Rtx4090 => "RTX4090",
        }
    }

    /// The class named `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<GpuClass> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// Collateral weight of one GPU of this class (roughly its rental value).
    pub fn weight(&self) -> u32 {
        match self {
            GpuClass::H200 => 5,
            GpuClass::H100 => 4,
            GpuClass::A100 => 3,
            GpuClass::L40S => 2,
            GpuClass::Rtx4090 => 1,
        }
    }

    /// The challenge workload sized for this class.
    pub fn challenge_shape(&self) -> ChallengeShape {
        match self {
            GpuClass::H100 => ChallengeShape::H100,
            GpuClass::H200 => ChallengeShape::H200,
            GpuClass::A100 => ChallengeShape::A100,
            GpuClass::L40S => ChallengeShape::L40S,
            GpuClass::Rtx4090 => ChallengeShape::RTX4090,
        }
    }
}

/// Resources a provider offers or an order asks for.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Resources {
    /// GPU class.
    pub gpu: GpuClass,
    /// Number of GPUs.
    pub gpu_count: u32,
    /// Memory per GPU, GiB (an order's is a minimum).
    pub vram_gib: u32,
    /// Region (ASCII, at most [`MAX_REGION_LEN`] bytes); empty in an order means any.
    pub region: Vec<u8>,
}

/// Where a provider stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum ProviderStatus {
    /// Bidding and serving.
    #[codec(index = 0)]
    Active,
    /// Failed a challenge: no bids before the block given.
    #[codec(index = 1)]
    Jailed {
        /// First block it may bid again.
        until: BlockNumber,
    },
    /// Leaving since the block given: no bids, collateral unbonding.
    #[codec(index = 2)]
    Leaving {
        /// Block it left at.
        since: BlockNumber,
    },
}

/// A provider's track record.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct ProviderRecord {
    /// Leases that ended normally.
    pub leases_completed: u32,
    /// Leases closed because the provider failed a challenge.
    pub leases_failed: u32,
    /// Challenges passed.
    pub challenges_passed: u32,
    /// Total slashed from its collateral.
    pub slashed: Balance,
}

/// A registered provider.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Provider {
    /// What it offers.
    pub offer: Resources,
    /// Models it serves.
    pub models: Vec<ModelId>,
    /// Asking price per block for the whole offer (informational; bids set the price).
    pub price_per_block: Balance,
    /// Collateral held.
    pub collateral: Balance,
    /// Earnings not yet withdrawn (held).
    pub earnings: Balance,
    /// GPUs in running leases.
    pub gpus_leased: u32,
    /// Its running leases.
    pub leases: Vec<LeaseId>,
    /// Active, jailed or leaving.
    pub status: ProviderStatus,
    /// Its record.
    pub record: ProviderRecord,
    /// Block it registered at.
    pub registered_at: BlockNumber,
}

/// A bid on an order.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Bid {
    /// The order.
    pub order: OrderId,
    /// The provider.
    pub provider: AccountId,
    /// Price per block.
    pub price_per_block: Balance,
    /// Deposit held.
    pub deposit: Balance,
    /// Block it was placed at.
    pub placed_at: BlockNumber,
}

/// An open order.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Order {
    /// Who pays.
    pub tenant: AccountId,
    /// What it asks for.
    pub resources: Resources,
    /// A model the provider must serve, if any.
    pub model: Option<ModelId>,
    /// Highest acceptable price per block.
    pub max_price_per_block: Balance,
    /// Lease duration, blocks.
    pub duration: BlockNumber,
    /// Escrow deposit (held).
    pub escrow: Balance,
    /// Matched automatically to the cheapest bid after the bid window.
    pub auto_match: bool,
    /// Block it was opened at.
    pub opened_at: BlockNumber,
    /// Its bids, in arrival order.
    pub bids: Vec<BidId>,
}

/// Why a lease closed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum CloseReason {
    /// It ran its full duration.
    #[codec(index = 0)]
    Completed,
    /// Its escrow ran dry.
    #[codec(index = 1)]
    EscrowExhausted,
    /// The tenant closed it.
    #[codec(index = 2)]
    ClosedByTenant,
    /// The provider closed it (with notice) or left.
    #[codec(index = 3)]
    ClosedByProvider,
    /// The provider failed an availability challenge.
    #[codec(index = 4)]
    ChallengeFailed,
}

/// A lease's state.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum LeaseState {
    /// Running.
    #[codec(index = 0)]
    Active,
    /// Closed at the block given.
    #[codec(index = 1)]
    Closed {
        /// Block it closed at.
        at: BlockNumber,
        /// Why.
        reason: CloseReason,
    },
}

/// A lease.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Lease {
    /// The order it came from.
    pub order: OrderId,
    /// Who pays.
    pub tenant: AccountId,
    /// Who serves.
    pub provider: AccountId,
    /// Resources leased.
    pub resources: Resources,
    /// Price per block.
    pub price_per_block: Balance,
    /// Block it started at (paid from the next block on).
    pub start: BlockNumber,
    /// Contracted duration, blocks (`price * duration` is the contracted value).
    pub duration: BlockNumber,
    /// Contracted end (`start + duration`), earlier once notice was given.
    pub end: BlockNumber,
    /// Escrow left (held).
    pub escrow: Balance,
    /// Paid up to this block.
    pub settled_at: BlockNumber,
    /// Block the lease ends at: `min(end, settled_at + escrow / price)`.
    pub dry_at: BlockNumber,
    /// Paid to the provider so far.
    pub paid: Balance,
    /// Escrow deposited in total (order escrow and top-ups).
    pub deposited: Balance,
    /// The provider's winning bid deposit (held).
    pub bid_deposit: Balance,
    /// Its slot in the list of active leases.
    pub active_index: u32,
    /// The challenge it has open, if any.
    pub open_challenge: Option<ChallengeId>,
    /// Running or closed.
    pub state: LeaseState,
}

/// A challenge's state.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum ChallengeState {
    /// Waiting for the answer until `answer_by`.
    #[codec(index = 0)]
    Issued,
    /// Answered; the audited step is drawn from the beacon of block `answered_at + 1`.
    #[codec(index = 1)]
    Answered {
        /// Merkle root over the step outputs.
        root: H256,
        /// Block the answer landed in.
        answered_at: BlockNumber,
        /// Last block for the reveal.
        reveal_by: BlockNumber,
    },
    /// The audit passed.
    #[codec(index = 2)]
    Passed,
    /// The provider failed it.
    #[codec(index = 3)]
    Failed(FailReason),
}

/// Why a challenge failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum FailReason {
    /// No answer before the deadline.
    #[codec(index = 0)]
    NoAnswer,
    /// No reveal of the audited step before the deadline.
    #[codec(index = 1)]
    NoReveal,
    /// The audited step's opening or output was wrong.
    #[codec(index = 2)]
    WrongAnswer,
}

/// An availability challenge.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Challenge {
    /// The lease challenged.
    pub lease: LeaseId,
    /// The provider that must answer.
    pub provider: AccountId,
    /// Seed of the workload.
    pub seed: H256,
    /// Size of the workload.
    pub shape: ChallengeShape,
    /// Block it was issued in.
    pub issued_at: BlockNumber,
    /// Last block for the answer.
    pub answer_by: BlockNumber,
    /// Where it stands.
    pub state: ChallengeState,
}

/// Genesis configuration.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct GenesisConfig {
    /// Every class gets the tiny test challenge (`ChallengeShape::TEST`), which a CPU
    /// answers in milliseconds, and leases are challenged every
    /// [`TEST_CHALLENGE_PERIOD`] blocks on average: for development and test chains only.
    pub test_challenges: bool,
}

/// Storage items.
pub mod storage {
    use super::*;
    storage_item!(pub ProvidersPrefix: "Compute" / "Providers");
    storage_item!(pub OrdersPrefix: "Compute" / "Orders");
    storage_item!(pub BidsPrefix: "Compute" / "Bids");
    storage_item!(pub LeasesPrefix: "Compute" / "Leases");
    storage_item!(pub ChallengesPrefix: "Compute" / "Challenges");
    storage_item!(pub NextIdPrefix: "Compute" / "NextId");
    storage_item!(pub ActiveCountPrefix: "Compute" / "ActiveCount");
    storage_item!(pub ActiveLeasePrefix: "Compute" / "ActiveLease");
    storage_item!(pub LeaseEndsPrefix: "Compute" / "LeaseEnds");
    storage_item!(pub OrderDuePrefix: "Compute" / "OrderDue");
    storage_item!(pub ChallengeDuePrefix: "Compute" / "ChallengeDue");
    storage_item!(pub ProviderChallengesPrefix: "Compute" / "ProviderChallenges");
    storage_item!(pub PendingPrefix: "Compute" / "Pending");
    storage_item!(pub AccountLeasesPrefix: "Compute" / "AccountLeases");
    storage_item!(pub AuditsInBlockPrefix: "Compute" / "AuditsInBlock");
    storage_item!(pub TestChallengesPrefix: "Compute" / "TestChallenges");
    storage_item!(pub TotalHeldPrefix: "Compute" / "TotalHeld");
    storage_item!(pub TotalBurnedPrefix: "Compute" / "TotalBurned");

    /// Registered providers.
    pub type Providers = StorageMap<ProvidersPrefix, AccountId, Provider>;
    /// Open orders.
    pub type Orders = StorageMap<OrdersPrefix, OrderId, Order>;
    /// Bids on open orders.
    pub type Bids = StorageMap<BidsPrefix, BidId, Bid>;
    /// Leases, running and closed.
    pub type Leases = StorageMap<LeasesPrefix, LeaseId, Lease>;
    /// Challenges.
    pub type Challenges = StorageMap<ChallengesPrefix, ChallengeId, Challenge>;
    /// Next id of orders, bids, leases and challenges (one counter each, by tag 0..=3).
    pub type NextId = StorageMap<NextIdPrefix, u8, u64>;
    /// Number of running leases.
    pub type ActiveCount = StorageValue<ActiveCountPrefix, u32>;
    /// Running leases as a dense array (index → lease), for O(1) random picks.
    pub type ActiveLease = StorageMap<ActiveLeasePrefix, u32, LeaseId>;
    /// Leases ending at a block (entries of leases whose end moved are skipped).
    pub type LeaseEnds = StorageMap<LeaseEndsPrefix, BlockNumber, Vec<LeaseId>>;
    /// Orders to match or expire at a block.
    pub type OrderDue = StorageMap<OrderDuePrefix, BlockNumber, Vec<OrderId>>;
    /// Challenges whose answer or reveal deadline is a block.
    pub type ChallengeDue = StorageMap<ChallengeDuePrefix, BlockNumber, Vec<ChallengeId>>;
    /// Open challenges of each provider (what its node must answer).
    pub type ProviderChallenges = StorageMap<ProviderChallengesPrefix, AccountId, Vec<ChallengeId>>;
    /// The latest [`MAX_LIST`] leases of each tenant and provider, oldest first (for
    /// queries; never read by calls).
    pub type AccountLeases = StorageMap<AccountLeasesPrefix, AccountId, Vec<LeaseId>>;
    /// Payouts the balances pallet refused (dust rules), withdrawable (held).
    pub type Pending = StorageMap<PendingPrefix, AccountId, Balance>;
    /// Audits executed in the current block.
    pub type AuditsInBlock = StorageValue<AuditsInBlockPrefix, u32>;
    /// Whether this chain uses the test challenge for every class.
    pub type TestChallenges = StorageValue<TestChallengesPrefix, bool>;
    /// Everything this pallet holds.
    pub type TotalHeld = StorageValue<TotalHeldPrefix, Balance>;
    /// Slashed and burned in total.
    pub type TotalBurned = StorageValue<TotalBurnedPrefix, Balance>;
}
use storage::*;

const ORDER_IDS: u8 = 0;
const BID_IDS: u8 = 1;
const LEASE_IDS: u8 = 2;
const CHALLENGE_IDS: u8 = 3;

/// Calls.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Registers the signer as a provider, holding `collateral`.
    #[codec(index = 0)]
    Register {
        /// What it offers.
        offer: Resources,
        /// Models it serves (registered ids).
        models: Vec<ModelId>,
        /// Asking price per block.
        price_per_block: Compact<Balance>,
        /// Collateral to hold (at least the required amount).
        collateral: Compact<Balance>,
    },
    /// Adds collateral.
    #[codec(index = 1)]
    AddCollateral {
        /// Amount.
        amount: Compact<Balance>,
    },
    /// Stops bidding, gives running leases notice, starts unbonding.
    #[codec(index = 2)]
    Leave,
    /// Returns the collateral and earnings of a provider that left, once unbonded and
    /// without running leases.
    #[codec(index = 3)]
    WithdrawCollateral,
    /// Opens an order, holding `escrow`.
    #[codec(index = 4)]
    Order {
        /// What it asks for.
        resources: Resources,
        /// A model the provider must serve.
        model: Option<ModelId>,
        /// Highest price per block.
        max_price_per_block: Compact<Balance>,
        /// Duration, blocks.
        duration: BlockNumber,
        /// Escrow deposit.
        escrow: Compact<Balance>,
        /// Match to the cheapest bid after the bid window.
        auto_match: bool,
    },
    /// Cancels an open order (tenant only): escrow and bid deposits are refunded.
    #[codec(index = 5)]
    CancelOrder {
        /// The order.
        order: OrderId,
    },
    /// Bids on an order (a registered, active provider), holding the bid deposit.
    #[codec(index = 6)]
    Bid {
        /// The order.
        order: OrderId,
        /// Price per block.
        price_per_block: Compact<Balance>,
    },
    /// Accepts a bid (tenant only): the lease starts.
    #[codec(index = 7)]
    Accept {
        /// The order.
        order: OrderId,
        /// One of its bids.
        bid: BidId,
    },
    /// Adds escrow to a running lease (anyone).
    #[codec(index = 8)]
    TopUp {
        /// The lease.
        lease: LeaseId,
        /// Amount.
        amount: Compact<Balance>,
    },
    /// Closes a lease: by the tenant at once, by the provider with notice.
    #[codec(index = 9)]
    Close {
        /// The lease.
        lease: LeaseId,
    },
    /// Pays a running lease up to now (anyone).
    #[codec(index = 10)]
    Settle {
        /// The lease.
        lease: LeaseId,
    },
    /// Withdraws the signer's earnings (provider) and pending payouts.
    #[codec(index = 11)]
    Withdraw,
    /// Answers a challenge with the Merkle root over the workload's step outputs.
    #[codec(index = 12)]
    Answer {
        /// The challenge.
        challenge: ChallengeId,
        /// The root.
        root: H256,
    },
    /// Reveals the audited step's input with its openings.
    #[codec(index = 13)]
    Reveal {
        /// The challenge.
        challenge: ChallengeId,
        /// Input of the audited step and Merkle openings.
        opening: StepOpening,
    },
}

/// Events.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Event {
    /// A provider registered.
    #[codec(index = 0)]
    ProviderRegistered {
        /// The provider.
        provider: AccountId,
        /// Collateral held.
        collateral: Balance,
    },
    /// Collateral was added.
    #[codec(index = 1)]
    CollateralAdded {
        /// The provider.
        provider: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// A provider left; its collateral unbonds.
    #[codec(index = 2)]
    ProviderLeaving {
        /// The provider.
        provider: AccountId,
        /// First block it can withdraw (once its leases closed).
        unbonded_at: BlockNumber,
    },
    /// A provider that left took its collateral and earnings back.
    #[codec(index = 3)]
    ProviderRemoved {
        /// The provider.
        provider: AccountId,
        /// Returned.
        amount: Balance,
    },
    /// An order opened.
    #[codec(index = 4)]
    OrderOpened {
        /// The order.
        order: OrderId,
        /// Its tenant.
        tenant: AccountId,
    },
    /// An order was cancelled or expired; escrow and bids refunded.
    #[codec(index = 5)]
    OrderClosed {
        /// The order.
        order: OrderId,
        /// Whether it expired (else the tenant cancelled it).
        expired: bool,
    },
    /// A bid was placed.
    #[codec(index = 6)]
    BidPlaced {
        /// The bid.
        bid: BidId,
        /// The order.
        order: OrderId,
        /// The provider.
        provider: AccountId,
        /// Price per block.
        price_per_block: Balance,
    },
    /// A lease started.
    #[codec(index = 7)]
    LeaseStarted {
        /// The lease.
        lease: LeaseId,
        /// The order.
        order: OrderId,
        /// The tenant.
        tenant: AccountId,
        /// The provider.
        provider: AccountId,
        /// Price per block.
        price_per_block: Balance,
    },
    /// A lease was paid up to a block.
    #[codec(index = 8)]
    LeaseSettled {
        /// The lease.
        lease: LeaseId,
        /// Paid now.
        paid: Balance,
        /// Paid up to this block.
        until: BlockNumber,
    },
    /// Escrow was added to a lease.
    #[codec(index = 9)]
    LeaseToppedUp {
        /// The lease.
        lease: LeaseId,
        /// Amount.
        amount: Balance,
        /// Its new end.
        dry_at: BlockNumber,
    },
    /// The provider gave notice: the lease ends at `end`.
    #[codec(index = 10)]
    LeaseNotice {
        /// The lease.
        lease: LeaseId,
        /// New end.
        end: BlockNumber,
    },
    /// A lease closed.
    #[codec(index = 11)]
    LeaseClosed {
        /// The lease.
        lease: LeaseId,
        /// Why.
        reason: CloseReason,
        /// Escrow returned to the tenant.
        refunded: Balance,
    },
    /// Earnings and pending payouts were withdrawn.
    #[codec(index = 12)]
    Withdrawn {
        /// Who.
        who: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// A challenge was issued.
    #[codec(index = 13)]
    ChallengeIssued {
        /// The challenge.
        challenge: ChallengeId,
        /// The lease.
        lease: LeaseId,
        /// Who must answer.
        provider: AccountId,
        /// Last block for the answer.
        answer_by: BlockNumber,
    },
    /// A challenge was answered.
    #[codec(index = 14)]
    ChallengeAnswered {
        /// The challenge.
        challenge: ChallengeId,
        /// The root posted.
        root: H256,
    },
    /// A challenge's audit passed.
    #[codec(index = 15)]
    ChallengePassed {
        /// The challenge.
        challenge: ChallengeId,
        /// The step re-executed.
        step: u32,
    },
    /// A challenge failed.
    #[codec(index = 16)]
    ChallengeFailed {
        /// The challenge.
        challenge: ChallengeId,
        /// Why.
        reason: FailReason,
    },
    /// A provider was slashed.
    #[codec(index = 17)]
    ProviderSlashed {
        /// The provider.
        provider: AccountId,
        /// The lease it failed.
        lease: LeaseId,
        /// Taken from its collateral.
        amount: Balance,
        /// Paid to the tenant (slash and forfeited bid deposit).
        to_tenant: Balance,
        /// Burned.
        burned: Balance,
    },
}

/// Errors.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Error {
    /// The signer is already a provider.
    #[codec(index = 0)]
    AlreadyRegistered,
    /// The signer is not a registered provider.
    #[codec(index = 1)]
    NotProvider,
    /// GPU count, memory or region out of bounds (zero, too many, too long, not ASCII).
    #[codec(index = 2)]
    ImpossibleResources,
    /// Too many models, or a model that is not registered.
    #[codec(index = 3)]
    BadModels,
    /// Less collateral than the offer requires.
    #[codec(index = 4)]
    InsufficientCollateral,
    /// The free balance cannot cover the amount.
    #[codec(index = 5)]
    InsufficientBalance,
    /// A zero amount or price.
    #[codec(index = 6)]
    ZeroAmount,
    /// The provider is leaving.
    #[codec(index = 7)]
    ProviderLeaving,
    /// The provider is jailed.
    #[codec(index = 8)]
    ProviderJailed,
    /// The provider has not left, still runs leases, or is still unbonding.
    #[codec(index = 9)]
    NotUnbonded,
    /// Duration zero or longer than the maximum.
    #[codec(index = 10)]
    BadDuration,
    /// The escrow does not cover the minimum number of blocks.
    #[codec(index = 11)]
    EscrowTooLow,
    /// No such open order.
    #[codec(index = 12)]
    UnknownOrder,
    /// Only the order's tenant may do this.
    #[codec(index = 13)]
    NotOrderTenant,
    /// The bid is above the order's maximum price.
    #[codec(index = 14)]
    BidAboveMaxPrice,
    /// The order has as many bids as it takes.
    #[codec(index = 15)]
    TooManyBids,
    /// The provider already bid on this order.
    #[codec(index = 16)]
    AlreadyBid,
    /// The provider's offer does not meet the order (class, free GPUs, memory, region,
    /// model).
    #[codec(index = 17)]
    OfferMismatch,
    /// No such bid.
    #[codec(index = 18)]
    UnknownBid,
    /// The bid belongs to another order.
    #[codec(index = 19)]
    BidOfAnotherOrder,
    /// No such lease.
    #[codec(index = 20)]
    UnknownLease,
    /// The lease is closed.
    #[codec(index = 21)]
    LeaseClosed,
    /// Only the lease's tenant or provider may do this.
    #[codec(index = 22)]
    NotLeaseParty,
    /// The provider already runs as many leases as it may.
    #[codec(index = 23)]
    TooManyLeases,
    /// Nothing to withdraw.
    #[codec(index = 24)]
    NothingToWithdraw,
    /// No such challenge.
    #[codec(index = 25)]
    UnknownChallenge,
    /// The challenge is addressed to another provider.
    #[codec(index = 26)]
    NotYourChallenge,
    /// The challenge was already answered (or is over).
    #[codec(index = 27)]
    AlreadyAnswered,
    /// The answer deadline passed.
    #[codec(index = 28)]
    ChallengeExpired,
    /// The challenge is not waiting for a reveal.
    #[codec(index = 29)]
    NotAwaitingReveal,
    /// The audited step is drawn from the next block's beacon: reveal after it.
    #[codec(index = 30)]
    AuditNotDrawn,
    /// This block already runs as many audits as it may; reveal in a later block.
    #[codec(index = 31)]
    BlockAuditLimit,
    /// The provider already closed this lease with notice.
    #[codec(index = 32)]
    NoticeGiven,
    /// Arithmetic overflow.
    #[codec(index = 33)]
    Overflow,
    /// The payout would leave the account below the existential deposit.
    #[codec(index = 34)]
    WouldBeDust,
}
menara_support::impl_pallet_error!(Error, {
    AlreadyRegistered, NotProvider, ImpossibleResources, BadModels, InsufficientCollateral,
    InsufficientBalance, ZeroAmount, ProviderLeaving, ProviderJailed, NotUnbonded, BadDuration,
    EscrowTooLow, UnknownOrder, NotOrderTenant, BidAboveMaxPrice, TooManyBids, AlreadyBid,
    OfferMismatch, UnknownBid, BidOfAnotherOrder, UnknownLease, LeaseClosed, NotLeaseParty,
    TooManyLeases, NothingToWithdraw, UnknownChallenge, NotYourChallenge, AlreadyAnswered,
    ChallengeExpired, NotAwaitingReveal, AuditNotDrawn, BlockAuditLimit, NoticeGiven, Overflow,
    WouldBeDust,
});

/// A provider as queries show it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ProviderView {
    /// Its account.
    pub account: AccountId,
    /// The record.
    pub provider: Provider,
    /// Collateral its offer requires.
    pub required_collateral: Balance,
}

/// An order as queries show it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct OrderView {
    /// Its id.
    pub id: OrderId,
    /// The order.
    pub order: Order,
    /// Its bids.
    pub bids: Vec<(BidId, Bid)>,
}

/// A lease as queries show it, settled as of the current block.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct LeaseView {
    /// Its id.
    pub id: LeaseId,
    /// The lease, as settlement now would leave it.
    pub lease: Lease,
}

/// A challenge as queries show it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ChallengeView {
    /// Its id.
    pub id: ChallengeId,
    /// The challenge.
    pub challenge: Challenge,
    /// The step to reveal, once drawn.
    pub audit_step: Option<u32>,
}

/// Totals for the books.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ComputeSummary {
    /// Running leases.
    pub active_leases: u32,
    /// Held by the pallet.
    pub total_held: Balance,
    /// Slashed and burned.
    pub total_burned: Balance,
}

/// The pallet.
pub struct Pallet<T>(core::marker::PhantomData<T>);

fn now<T: Config>() -> BlockNumber {
    pallet_system::Pallet::<T>::block_number()
}

impl<T: Config> Pallet<T> {
    fn deposit_event(event: Event) {
        pallet_system::Pallet::<T>::deposit_event(<T as Config>::PALLET_INDEX, event.encode());
    }

    fn next_id(tag: u8) -> u64 {
        NextId::mutate(&tag, |n| {
            let id = *n;
            *n = n.saturating_add(1);
            id
        })
    }

    /// Builds the genesis state.
    pub fn build_genesis(config: &GenesisConfig) {
        if config.test_challenges {
            TestChallenges::put(&true);
        }
    }

    /// Collateral an offer of `resources` requires.
    pub fn required_collateral(resources: &Resources) -> Balance {
        T::COLLATERAL_PER_GPU
            .saturating_mul(resources.gpu.weight() as Balance)
            .saturating_mul(resources.gpu_count as Balance)
    }

    /// The challenge workload for `class` on this chain.
    pub fn challenge_shape(class: GpuClass) -> ChallengeShape {
        if TestChallenges::get_or_default() {
            ChallengeShape::TEST
        } else {
            class.challenge_shape()
        }
    }

    fn check_resources(r: &Resources, order: bool) -> Result<(), Error> {
        ensure!(
            (1..=MAX_GPU_COUNT).contains(&r.gpu_count)
                && (1..=MAX_VRAM_GIB).contains(&r.vram_gib)
                && r.region.len() <= MAX_REGION_LEN
                && (order || !r.region.is_empty())
                && r.region
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-'),
            Error::ImpossibleResources
        );
        Ok(())
    }

    // ---- Money ----

    fn hold(who: &AccountId, amount: Balance) -> Result<(), Error> {
        pallet_balances::Pallet::<T>::hold(who, amount).map_err(|e| match e {
            pallet_balances::Error::ZeroAmount => Error::ZeroAmount,
            _ => Error::InsufficientBalance,
        })?;
        TotalHeld::mutate(|t| *t = t.saturating_add(amount));
        Ok(())
    }

    /// Pays `amount` out of the pallet's custody to `who`; kept as a pending payout when
    /// the balances pallet refuses it (it would leave dust).
    fn pay_out(who: &AccountId, amount: Balance) {
        if amount == 0 {
            return;
        }
        if pallet_balances::Pallet::<T>::release(who, amount).is_ok() {
            TotalHeld::mutate(|t| *t = t.saturating_sub(amount));
        } else {
            Pending::mutate(who, |p| *p = p.saturating_add(amount));
        }
    }

    fn burn(amount: Balance) {
        if amount == 0 {
            return;
        }
        TotalHeld::mutate(|t| *t = t.saturating_sub(amount));
        TotalBurned::mutate(|t| *t = t.saturating_add(amount));
        pallet_balances::Pallet::<T>::burn_held(amount);
    }

    /// Changes a provider record, if it exists.
    fn update_provider(who: &AccountId, f: impl FnOnce(&mut Provider)) {
        if let Some(mut p) = Providers::get(who) {
            f(&mut p);
            Providers::insert(who, &p);
        }
    }

    /// Changes a lease, if it exists.
    fn update_lease(id: &LeaseId, f: impl FnOnce(&mut Lease)) {
        if let Some(mut l) = Leases::get(id) {
            f(&mut l);
            Leases::insert(id, &l);
        }
    }

    // ---- Dispatch ----

    /// Dispatches a call.
    pub fn dispatch(origin: Origin, call: Call) -> DispatchResult {
        let Origin::Signed(who) = origin else {
            return Err(bad_origin());
        };
        let r = match call {
            Call::Register {
                offer,
                models,
                price_per_block,
                collateral,
            } => Self::register(&who, offer, models, price_per_block.0, collateral.0),
            Call::AddCollateral { amount } => Self::add_collateral(&who, amount.0),
            Call::Leave => Self::leave(&who),
            Call::WithdrawCollateral => Self::withdraw_collateral(&who),
            Call::Order {
                resources,
                model,
                max_price_per_block,
                duration,
                escrow,
                auto_match,
            } => Self::open_order(
                &who,
                resources,
                model,
                max_price_per_block.0,
                duration,
                escrow.0,
                auto_match,
            )
            .map(|_| ()),
            Call::CancelOrder { order } => Self::cancel_order(&who, order),
            Call::Bid {
                order,
                price_per_block,
            } => Self::bid(&who, order, price_per_block.0).map(|_| ()),
            Call::Accept { order, bid } => Self::accept(&who, order, bid).map(|_| ()),
            Call::TopUp { lease, amount } => Self::top_up(&who, lease, amount.0),
            Call::Close { lease } => Self::close(&who, lease),
            Call::Settle { lease } => Self::settle_call(lease),
            Call::Withdraw => Self::withdraw(&who).map(|_| ()),
            Call::Answer { challenge, root } => Self::answer(&who, challenge, root),
            Call::Reveal { challenge, opening } => Self::reveal(&who, challenge, &opening),
        };
        r.map_err(|e| e.into_dispatch_error(<T as Config>::PALLET_INDEX))
    }

    /// Registers `who` as a provider.
    pub fn register(
        who: &AccountId,
        offer: Resources,
        models: Vec<ModelId>,
        price_per_block: Balance,
        collateral: Balance,
    ) -> Result<(), Error> {
        ensure!(!Providers::contains_key(who), Error::AlreadyRegistered);
        Self::check_resources(&offer, false)?;
        ensure!(models.len() <= MAX_MODELS, Error::BadModels);
        for (i, m) in models.iter().enumerate() {
            ensure!(
                !models[..i].contains(m) && pallet_models::Pallet::<T>::model(m).is_some(),
                Error::BadModels
            );
        }
        ensure!(price_per_block > 0, Error::ZeroAmount);
        ensure!(
            collateral >= Self::required_collateral(&offer),
            Error::InsufficientCollateral
        );
        Self::hold(who, collateral)?;
        Providers::insert(
            who,
            &Provider {
                offer,
                models,
                price_per_block,
                collateral,
                earnings: 0,
                gpus_leased: 0,
                leases: Vec::new(),
                status: ProviderStatus::Active,
                record: ProviderRecord::default(),
                registered_at: now::<T>(),
            },
        );
        Self::deposit_event(Event::ProviderRegistered {
            provider: *who,
            collateral,
        });
        Ok(())
    }

    /// Adds collateral to `who`'s provider record.
    pub fn add_collateral(who: &AccountId, amount: Balance) -> Result<(), Error> {
        let mut p = Providers::get(who).ok_or(Error::NotProvider)?;
        ensure!(amount > 0, Error::ZeroAmount);
        p.collateral = p.collateral.checked_add(amount).ok_or(Error::Overflow)?;
        Self::hold(who, amount)?;
        Providers::insert(who, &p);
        Self::deposit_event(Event::CollateralAdded {
            provider: *who,
            amount,
        });
        Ok(())
    }

    /// `who` leaves: no more bids, notice to its running leases, collateral unbonding.
    pub fn leave(who: &AccountId) -> Result<(), Error> {
        let mut p = Providers::get(who).ok_or(Error::NotProvider)?;
        ensure!(
            !matches!(p.status, ProviderStatus::Leaving { .. }),
            Error::ProviderLeaving
        );
        let n = now::<T>();
        p.status = ProviderStatus::Leaving { since: n };
        let leases = p.leases.clone();
        Providers::insert(who, &p);
        for id in leases {
            Self::give_notice(id, n)?;
        }
        // Its bids on open orders stay until the orders close, but cannot be accepted.
        Self::deposit_event(Event::ProviderLeaving {
            provider: *who,
            unbonded_at: n.saturating_add(T::UNBONDING_BLOCKS),
        });
        Ok(())
    }

    /// Returns a departed provider's collateral and earnings.
    pub fn withdraw_collateral(who: &AccountId) -> Result<(), Error> {
        let p = Providers::get(who).ok_or(Error::NotProvider)?;
        let ProviderStatus::Leaving { since } = p.status else {
            return Err(Error::NotUnbonded);
        };
        ensure!(
            p.leases.is_empty()
                && now::<T>() >= since.saturating_add(T::UNBONDING_BLOCKS)
                && ProviderChallenges::get_or_default(who).is_empty(),
            Error::NotUnbonded
        );
        let amount = p.collateral.saturating_add(p.earnings);
        Providers::remove(who);
        Self::pay_out(who, amount);
        Self::deposit_event(Event::ProviderRemoved {
            provider: *who,
            amount,
        });
        Ok(())
    }

    /// Opens an order; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub fn open_order(
        tenant: &AccountId,
        resources: Resources,
        model: Option<ModelId>,
        max_price_per_block: Balance,
        duration: BlockNumber,
        escrow: Balance,
        auto_match: bool,
    ) -> Result<OrderId, Error> {
        Self::check_resources(&resources, true)?;
        if let Some(m) = &model {
            ensure!(
                pallet_models::Pallet::<T>::model(m).is_some(),
                Error::BadModels
            );
        }
        ensure!(max_price_per_block > 0, Error::ZeroAmount);
        ensure!(
            duration > 0 && duration <= T::MAX_LEASE_BLOCKS,
            Error::BadDuration
        );
        let min_escrow = max_price_per_block
            .checked_mul(T::MIN_ESCROW_BLOCKS.min(duration) as Balance)
            .ok_or(Error::Overflow)?;
        ensure!(escrow >= min_escrow, Error::EscrowTooLow);
        // The contracted value must be representable.
        max_price_per_block
            .checked_mul(duration as Balance)
            .ok_or(Error::Overflow)?;
        Self::hold(tenant, escrow)?;
        let id = Self::next_id(ORDER_IDS);
        let n = now::<T>();
        Orders::insert(
            &id,
            &Order {
                tenant: *tenant,
                resources,
                model,
                max_price_per_block,
                duration,
                escrow,
                auto_match,
                opened_at: n,
                bids: Vec::new(),
            },
        );
        if auto_match {
            OrderDue::mutate(&n.saturating_add(T::BID_WINDOW), |v| v.push(id));
        }
        OrderDue::mutate(&n.saturating_add(T::ORDER_TTL), |v| v.push(id));
        Self::deposit_event(Event::OrderOpened {
            order: id,
            tenant: *tenant,
        });
        Ok(id)
    }

    /// Removes an order, refunding its escrow and every bid deposit.
    fn close_order(id: OrderId, order: Order, expired: bool) {
        for bid_id in &order.bids {
            if let Some(bid) = Bids::get(bid_id) {
                Bids::remove(bid_id);
                Self::pay_out(&bid.provider, bid.deposit);
            }
        }
        Orders::remove(&id);
        Self::pay_out(&order.tenant, order.escrow);
        Self::deposit_event(Event::OrderClosed { order: id, expired });
    }

    /// Cancels an open order (its tenant only).
    pub fn cancel_order(who: &AccountId, id: OrderId) -> Result<(), Error> {
        let order = Orders::get(&id).ok_or(Error::UnknownOrder)?;
        ensure!(&order.tenant == who, Error::NotOrderTenant);
        Self::close_order(id, order, false);
        Ok(())
    }

    fn offer_meets(p: &Provider, order: &Order) -> bool {
        let free = p.offer.gpu_count.saturating_sub(p.gpus_leased);
        p.offer.gpu == order.resources.gpu
            && free >= order.resources.gpu_count
            && p.offer.vram_gib >= order.resources.vram_gib
            && (order.resources.region.is_empty() || order.resources.region == p.offer.region)
            && order.model.is_none_or(|m| p.models.contains(&m))
    }

    fn check_can_serve(p: &Provider) -> Result<(), Error> {
        match p.status {
            ProviderStatus::Leaving { .. } => return Err(Error::ProviderLeaving),
            ProviderStatus::Jailed { until } if now::<T>() < until => {
                return Err(Error::ProviderJailed)
            }
            _ => {}
        }
        ensure!(
            p.collateral >= Self::required_collateral(&p.offer),
            Error::InsufficientCollateral
        );
        ensure!(
            p.leases.len() < MAX_LEASES_PER_PROVIDER,
            Error::TooManyLeases
        );
        Ok(())
    }

    /// Places a bid; returns its id.
    pub fn bid(provider: &AccountId, order_id: OrderId, price: Balance) -> Result<BidId, Error> {
        let p = Providers::get(provider).ok_or(Error::NotProvider)?;
        let mut order = Orders::get(&order_id).ok_or(Error::UnknownOrder)?;
        Self::check_can_serve(&p)?;
        ensure!(price > 0, Error::ZeroAmount);
        ensure!(price <= order.max_price_per_block, Error::BidAboveMaxPrice);
        ensure!(
            (order.bids.len() as u32) < T::MAX_BIDS_PER_ORDER,
            Error::TooManyBids
        );
        ensure!(
            !order
                .bids
                .iter()
                .any(|b| Bids::get(b).is_some_and(|b| &b.provider == provider)),
            Error::AlreadyBid
        );
        ensure!(Self::offer_meets(&p, &order), Error::OfferMismatch);
        Self::hold(provider, T::BID_DEPOSIT)?;
        let id = Self::next_id(BID_IDS);
        Bids::insert(
            &id,
            &Bid {
                order: order_id,
                provider: *provider,
                price_per_block: price,
                deposit: T::BID_DEPOSIT,
                placed_at: now::<T>(),
            },
        );
        order.bids.push(id);
        Orders::insert(&order_id, &order);
        Self::deposit_event(Event::BidPlaced {
            bid: id,
            order: order_id,
            provider: *provider,
            price_per_block: price,
        });
        Ok(id)
    }

    /// Accepts `bid` of `order` (its tenant only): starts the lease.
    pub fn accept(who: &AccountId, order_id: OrderId, bid_id: BidId) -> Result<LeaseId, Error> {
        let order = Orders::get(&order_id).ok_or(Error::UnknownOrder)?;
        ensure!(&order.tenant == who, Error::NotOrderTenant);
        let bid = Bids::get(&bid_id).ok_or(Error::UnknownBid)?;
        ensure!(bid.order == order_id, Error::BidOfAnotherOrder);
        Self::start_lease(order_id, order, bid_id, bid)
    }

    fn start_lease(
        order_id: OrderId,
        order: Order,
        bid_id: BidId,
        bid: Bid,
    ) -> Result<LeaseId, Error> {
        let mut p = Providers::get(&bid.provider).ok_or(Error::NotProvider)?;
        Self::check_can_serve(&p)?;
        // Its GPUs may have gone to another lease since it bid.
        ensure!(Self::offer_meets(&p, &order), Error::OfferMismatch);
        let n = now::<T>();
        let id = Self::next_id(LEASE_IDS);
        let end = n.saturating_add(order.duration);
        let price = bid.price_per_block;
        let active_index = ActiveCount::get_or_default();
        let lease = Lease {
            order: order_id,
            tenant: order.tenant,
            provider: bid.provider,
            resources: order.resources.clone(),
            price_per_block: price,
            start: n,
            duration: order.duration,
            end,
            escrow: order.escrow,
            settled_at: n,
            dry_at: dry_at(n, end, order.escrow, price),
            paid: 0,
            deposited: order.escrow,
            bid_deposit: bid.deposit,
            active_index,
            open_challenge: None,
            state: LeaseState::Active,
        };
        ActiveLease::insert(&active_index, &id);
        ActiveCount::put(&active_index.saturating_add(1));
        LeaseEnds::mutate(&lease.dry_at, |v| v.push(id));
        p.gpus_leased = p.gpus_leased.saturating_add(order.resources.gpu_count);
        p.leases.push(id);
        Providers::insert(&bid.provider, &p);
        // The winning deposit moves to the lease; the others are refunded.
        Bids::remove(&bid_id);
        for other in order.bids.iter().filter(|b| **b != bid_id) {
            if let Some(b) = Bids::get(other) {
                Bids::remove(other);
                Self::pay_out(&b.provider, b.deposit);
            }
        }
        Orders::remove(&order_id);
        Self::deposit_event(Event::LeaseStarted {
            lease: id,
            order: order_id,
            tenant: order.tenant,
            provider: bid.provider,
            price_per_block: price,
        });
        for who in [order.tenant, bid.provider] {
            AccountLeases::mutate(&who, |v| {
                if v.len() >= MAX_LIST as usize {
                    v.remove(0);
                }
                v.push(id);
            });
        }
        Leases::insert(&id, &lease);
        Ok(id)
    }

    /// Pays `lease` up to `min(now, dry_at)`; returns the amount paid. O(1).
    fn settle(lease: &mut Lease, n: BlockNumber) -> Balance {
        let pay = accrue(lease, n);
        if pay > 0 {
            Self::update_provider(&lease.provider, |p| {
                p.earnings = p.earnings.saturating_add(pay);
            });
        }
        pay
    }

    fn settle_call(id: LeaseId) -> Result<(), Error> {
        let mut lease = Leases::get(&id).ok_or(Error::UnknownLease)?;
        ensure!(lease.state == LeaseState::Active, Error::LeaseClosed);
        let paid = Self::settle(&mut lease, now::<T>());
        let until = lease.settled_at;
        Leases::insert(&id, &lease);
        Self::deposit_event(Event::LeaseSettled {
            lease: id,
            paid,
            until,
        });
        Ok(())
    }

    /// Adds `amount` of escrow to a running lease, from `who`.
    pub fn top_up(who: &AccountId, id: LeaseId, amount: Balance) -> Result<(), Error> {
        let mut lease = Leases::get(&id).ok_or(Error::UnknownLease)?;
        ensure!(lease.state == LeaseState::Active, Error::LeaseClosed);
        ensure!(amount > 0, Error::ZeroAmount);
        let n = now::<T>();
        Self::settle(&mut lease, n);
        lease.escrow = lease.escrow.checked_add(amount).ok_or(Error::Overflow)?;
        lease.deposited = lease.deposited.checked_add(amount).ok_or(Error::Overflow)?;
        Self::hold(who, amount)?;
        Self::reschedule(id, &mut lease);
        let dry = lease.dry_at;
        Leases::insert(&id, &lease);
        Self::deposit_event(Event::LeaseToppedUp {
            lease: id,
            amount,
            dry_at: dry,
        });
        Ok(())
    }

    /// Recomputes a lease's end and indexes it (the old index entry is skipped later).
    fn reschedule(id: LeaseId, lease: &mut Lease) {
        let new = dry_at(
            lease.settled_at,
            lease.end,
            lease.escrow,
            lease.price_per_block,
        );
        if new != lease.dry_at {
            lease.dry_at = new;
            LeaseEnds::mutate(&new, |v| v.push(id));
        }
    }

    fn give_notice(id: LeaseId, n: BlockNumber) -> Result<(), Error> {
        let mut lease = Leases::get(&id).ok_or(Error::UnknownLease)?;
        if lease.state != LeaseState::Active {
            return Ok(());
        }
        let end = n.saturating_add(T::NOTICE_BLOCKS).max(n.saturating_add(1));
        if end >= lease.end {
            return Ok(());
        }
        Self::settle(&mut lease, n);
        lease.end = end;
        Self::reschedule(id, &mut lease);
        Leases::insert(&id, &lease);
        Self::deposit_event(Event::LeaseNotice { lease: id, end });
        Ok(())
    }

    /// Closes a lease: its tenant closes at once; its provider gives notice.
    pub fn close(who: &AccountId, id: LeaseId) -> Result<(), Error> {
        let lease = Leases::get(&id).ok_or(Error::UnknownLease)?;
        ensure!(lease.state == LeaseState::Active, Error::LeaseClosed);
        let n = now::<T>();
        if who == &lease.tenant {
            Self::close_lease(id, lease, n, CloseReason::ClosedByTenant);
            Ok(())
        } else if who == &lease.provider {
            ensure!(
                lease.end > n.saturating_add(T::NOTICE_BLOCKS),
                Error::NoticeGiven
            );
            Self::give_notice(id, n)
        } else {
            Err(Error::NotLeaseParty)
        }
    }

    /// Settles and closes a running lease at block `n`: the rest of the escrow goes back
    /// to the tenant, the bid deposit back to the provider (unless it failed), GPUs are
    /// freed.
    fn close_lease(id: LeaseId, mut lease: Lease, n: BlockNumber, reason: CloseReason) {
        Self::settle(&mut lease, n);
        let refunded = lease.escrow;
        lease.escrow = 0;
        Self::pay_out(&lease.tenant, refunded);
        // Remove from the dense list of active leases (swap with the last).
        let last = ActiveCount::get_or_default().saturating_sub(1);
        if lease.active_index != last {
            if let Some(moved) = ActiveLease::get(&last) {
                ActiveLease::insert(&lease.active_index, &moved);
                Self::update_lease(&moved, |l| {
                    l.active_index = lease.active_index;
                });
            }
        }
        ActiveLease::remove(&last);
        ActiveCount::put(&last);
        let deposit = core::mem::take(&mut lease.bid_deposit);
        Self::update_provider(&lease.provider, |p| {
            p.gpus_leased = p.gpus_leased.saturating_sub(lease.resources.gpu_count);
            p.leases.retain(|l| *l != id);
            if reason == CloseReason::ChallengeFailed {
                p.record.leases_failed = p.record.leases_failed.saturating_add(1);
            } else {
                p.record.leases_completed = p.record.leases_completed.saturating_add(1);
            }
        });
        if reason == CloseReason::ChallengeFailed {
            Self::pay_out(&lease.tenant, deposit);
        } else {
            Self::pay_out(&lease.provider, deposit);
        }
        lease.state = LeaseState::Closed { at: n, reason };
        Leases::insert(&id, &lease);
        Self::deposit_event(Event::LeaseClosed {
            lease: id,
            reason,
            refunded,
        });
    }

    /// Pays out `who`'s earnings (a provider) and pending payouts.
    pub fn withdraw(who: &AccountId) -> Result<Balance, Error> {
        let mut p = Providers::get(who);
        let earnings = p.as_ref().map(|p| p.earnings).unwrap_or(0);
        let pending = Pending::get_or_default(who);
        let amount = earnings.saturating_add(pending);
        ensure!(amount > 0, Error::NothingToWithdraw);
        pallet_balances::Pallet::<T>::release(who, amount).map_err(|_| Error::WouldBeDust)?;
        TotalHeld::mutate(|t| *t = t.saturating_sub(amount));
        Pending::remove(who);
        if let Some(p) = p.as_mut() {
            p.earnings = 0;
            Providers::insert(who, p);
        }
        Self::deposit_event(Event::Withdrawn { who: *who, amount });
        Ok(amount)
    }

    // ---- Challenges ----

    /// Posts the answer to a challenge.
    pub fn answer(who: &AccountId, id: ChallengeId, root: H256) -> Result<(), Error> {
        let mut c = Challenges::get(&id).ok_or(Error::UnknownChallenge)?;
        ensure!(&c.provider == who, Error::NotYourChallenge);
        ensure!(c.state == ChallengeState::Issued, Error::AlreadyAnswered);
        let n = now::<T>();
        ensure!(n <= c.answer_by, Error::ChallengeExpired);
        // The audited step comes from the beacon of block n + 1; the reveal may land
        // from n + 2 on, and has REVEAL_BLOCKS from there.
        let reveal_by = n.saturating_add(1).saturating_add(T::REVEAL_BLOCKS);
        c.state = ChallengeState::Answered {
            root,
            answered_at: n,
            reveal_by,
        };
        Challenges::insert(&id, &c);
        ChallengeDue::mutate(&reveal_by, |v| v.push(id));
        Self::deposit_event(Event::ChallengeAnswered {
            challenge: id,
            root,
        });
        Ok(())
    }

    /// The step of challenge `c` to audit, once the beacon drew it.
    pub fn audit_step(id: ChallengeId, c: &Challenge) -> Option<u32> {
        let ChallengeState::Answered { answered_at, .. } = c.state else {
            return None;
        };
        // Drawn from the beacon of the block after the answer, and shown only from the
        // block after that on, when a reveal can be accepted.
        let draw_block = answered_at.checked_add(1)?;
        if draw_block >= now::<T>() {
            return None;
        }
        let mut purpose = Vec::with_capacity(24);
        purpose.extend_from_slice(b"compute/audit/");
        purpose.extend_from_slice(&id.to_le_bytes());
        let r = pallet_randomness::Pallet::<T>::random_at(draw_block, &purpose)?;
        Some(workload::audit_step_index(&r, c.shape))
    }

    /// Reveals the audited step's input; the runtime re-executes that step.
    pub fn reveal(who: &AccountId, id: ChallengeId, opening: &StepOpening) -> Result<(), Error> {
        let c = Challenges::get(&id).ok_or(Error::UnknownChallenge)?;
        ensure!(&c.provider == who, Error::NotYourChallenge);
        let ChallengeState::Answered {
            root, answered_at, ..
        } = c.state
        else {
            return Err(Error::NotAwaitingReveal);
        };
        ensure!(
            now::<T>() > answered_at.saturating_add(1),
            Error::AuditNotDrawn
        );
        // Past the history window the draw is gone; the deadline handles it.
        let step = Self::audit_step(id, &c).ok_or(Error::AuditNotDrawn)?;
        let audits = AuditsInBlock::get_or_default();
        ensure!(audits < T::MAX_AUDITS_PER_BLOCK, Error::BlockAuditLimit);
        AuditsInBlock::put(&audits.saturating_add(1));
        let verdict =
            workload::audit_step_with(&c.seed.0, c.shape, step, &root.0, opening, &HostGemm);
        match verdict {
            Ok(AuditVerdict::Honest) => {
                Self::finish_challenge(id, c, ChallengeState::Passed);
                Self::deposit_event(Event::ChallengePassed {
                    challenge: id,
                    step,
                });
            }
            _ => Self::fail_challenge(id, c, FailReason::WrongAnswer),
        }
        Ok(())
    }

    fn finish_challenge(id: ChallengeId, mut c: Challenge, state: ChallengeState) {
        let passed = state == ChallengeState::Passed;
        c.state = state;
        ProviderChallenges::mutate(&c.provider, |v| v.retain(|x| *x != id));
        Self::update_lease(&c.lease, |l| {
            if l.open_challenge == Some(id) {
                l.open_challenge = None;
            }
        });
        if passed {
            Self::update_provider(&c.provider, |p| {
                p.record.challenges_passed = p.record.challenges_passed.saturating_add(1);
            });
        }
        Challenges::insert(&id, &c);
    }

    /// A failed challenge: the lease closes, the provider is slashed (the tenant paid
    /// first) and jailed.
    fn fail_challenge(id: ChallengeId, c: Challenge, reason: FailReason) {
        let provider = c.provider;
        let lease_id = c.lease;
        Self::finish_challenge(id, c, ChallengeState::Failed(reason));
        Self::deposit_event(Event::ChallengeFailed {
            challenge: id,
            reason,
        });
        let n = now::<T>();
        let Some(lease) = Leases::get(&lease_id) else {
            return;
        };
        let deposit = lease.bid_deposit;
        let contract_value = lease
            .price_per_block
            .saturating_mul(lease.duration as Balance);
        let tenant = lease.tenant;
        if lease.state == LeaseState::Active {
            Self::close_lease(lease_id, lease, n, CloseReason::ChallengeFailed);
        }
        let Some(slash) = Self::slash_collateral(&provider, T::CHALLENGE_SLASH_PER_MILL, true)
        else {
            return;
        };
        let to_tenant = slash.min(contract_value);
        Self::pay_out(&tenant, to_tenant);
        Self::burn(slash - to_tenant);
        Self::deposit_event(Event::ProviderSlashed {
            provider,
            lease: lease_id,
            amount: slash,
            to_tenant: to_tenant.saturating_add(deposit),
            burned: slash - to_tenant,
        });
    }

    // ---- Hooks ----

    /// Called when a block starts.
    pub fn on_initialize() {
        AuditsInBlock::kill();
    }

    /// Called when block `n` ends: closes the leases ending now, matches and expires
    /// orders due now, fails challenges past their deadline, and issues new challenges.
    /// Work is proportional to what is due in this block, never to the number of leases.
    pub fn on_finalize(n: BlockNumber) {
        if let Some(ids) = LeaseEnds::get(&n) {
            LeaseEnds::remove(&n);
            for id in ids {
                let Some(lease) = Leases::get(&id) else {
                    continue;
                };
                // Entries of leases whose end moved (top-up, notice) are stale.
                if lease.state != LeaseState::Active || lease.dry_at != n {
                    continue;
                }
                let reason = if n >= lease.end {
                    if lease.end < lease.start.saturating_add(lease.duration) {
                        CloseReason::ClosedByProvider
                    } else {
                        CloseReason::Completed
                    }
                } else {
                    CloseReason::EscrowExhausted
                };
                Self::close_lease(id, lease, n, reason);
            }
        }
        if let Some(ids) = OrderDue::get(&n) {
            OrderDue::remove(&n);
            for id in ids {
                let Some(order) = Orders::get(&id) else {
                    continue;
                };
                if n >= order.opened_at.saturating_add(T::ORDER_TTL) {
                    Self::close_order(id, order, true);
                } else if order.auto_match {
                    Self::auto_match(id, order);
                }
            }
        }
        if let Some(ids) = ChallengeDue::get(&n) {
            ChallengeDue::remove(&n);
            for id in ids {
                let Some(c) = Challenges::get(&id) else {
                    continue;
                };
                match c.state {
                    ChallengeState::Issued if c.answer_by == n => {
                        Self::fail_challenge(id, c, FailReason::NoAnswer)
                    }
                    ChallengeState::Answered { reveal_by, .. } if reveal_by == n => {
                        Self::fail_challenge(id, c, FailReason::NoReveal)
                    }
                    _ => {}
                }
            }
        }
        Self::issue_challenges(n);
    }

    /// Matches an `auto_match` order to its cheapest acceptable bid (earliest on ties).
    fn auto_match(id: OrderId, order: Order) {
        let mut bids: Vec<(BidId, Bid)> = order
            .bids
            .iter()
            .filter_map(|b| Bids::get(b).map(|bid| (*b, bid)))
            .collect();
        bids.sort_by_key(|(bid_id, b)| (b.price_per_block, *bid_id));
        for (bid_id, bid) in bids {
            // A bidder that became unable to serve is passed over.
            let Some(order) = Orders::get(&id) else {
                return;
            };
            if Self::start_lease(id, order, bid_id, bid).is_ok() {
                return;
            }
        }
    }

    fn issue_challenges(n: BlockNumber) {
        let active = ActiveCount::get_or_default() as u64;
        if active == 0 || T::CHALLENGE_PERIOD == 0 {
            return;
        }
        let beacon = pallet_randomness::Pallet::<T>::beacon();
        let draw = |tag: &[u8], k: u32| -> [u8; 32] {
            let mut m = Vec::with_capacity(32 + tag.len() + 4);
            m.extend_from_slice(&beacon.0);
            m.extend_from_slice(tag);
            m.extend_from_slice(&k.to_le_bytes());
            io::hashing::blake3_256(&m)
        };
        // Expected active / CHALLENGE_PERIOD challenges: the whole part, plus one more
        // with probability equal to the fraction.
        let period = if TestChallenges::get_or_default() {
            T::CHALLENGE_PERIOD.min(TEST_CHALLENGE_PERIOD)
        } else {
            T::CHALLENGE_PERIOD
        };
        let mut count = active / period;
        if u64_of(&draw(b"compute/count", 0)) % period < active % period {
            count += 1;
        }
        let count = count.min(T::MAX_CHALLENGES_PER_BLOCK as u64) as u32;
        for k in 0..count {
            let slot = (u64_of(&draw(b"compute/pick", k)) % active) as u32;
            let Some(lease_id) = ActiveLease::get(&slot) else {
                continue;
            };
            let Some(mut lease) = Leases::get(&lease_id) else {
                continue;
            };
            // One open challenge per lease; a lease in its first block is not challenged.
            if lease.open_challenge.is_some() || lease.start == n {
                continue;
            }
            let id = Self::next_id(CHALLENGE_IDS);
            let seed = H256(draw(b"compute/seed", k));
            let answer_by = n.saturating_add(T::ANSWER_BLOCKS);
            let c = Challenge {
                lease: lease_id,
                provider: lease.provider,
                seed,
                shape: Self::challenge_shape(lease.resources.gpu),
                issued_at: n,
                answer_by,
                state: ChallengeState::Issued,
            };
            lease.open_challenge = Some(id);
            Leases::insert(&lease_id, &lease);
            ProviderChallenges::mutate(&lease.provider, |v| v.push(id));
            ChallengeDue::mutate(&answer_by, |v| v.push(id));
            Challenges::insert(&id, &c);
            Self::deposit_event(Event::ChallengeIssued {
                challenge: id,
                lease: lease_id,
                provider: c.provider,
                answer_by,
            });
        }
    }

    // ---- Queries ----

    /// A provider (a jail that is over shows as `Active`).
    pub fn provider(who: &AccountId) -> Option<ProviderView> {
        Providers::get(who)
            .map(|mut p| {
                if matches!(p.status, ProviderStatus::Jailed { until } if now::<T>() >= until) {
                    p.status = ProviderStatus::Active;
                }
                p
            })
            .map(|p| ProviderView {
                account: *who,
                required_collateral: Self::required_collateral(&p.offer),
                provider: p,
            })
    }

    /// Up to `limit` (at most [`MAX_LIST`]) providers after `start_after`, in storage
    /// order.
    pub fn providers(start_after: Option<AccountId>, limit: u32) -> Vec<ProviderView> {
        page(Providers::iter(), start_after, limit)
            .into_iter()
            .filter_map(|(who, _)| Self::provider(&who))
            .collect()
    }

    /// An open order with its bids.
    pub fn order(id: OrderId) -> Option<OrderView> {
        Orders::get(&id).map(|order| OrderView {
            id,
            bids: order
                .bids
                .iter()
                .filter_map(|b| Bids::get(b).map(|bid| (*b, bid)))
                .collect(),
            order,
        })
    }

    /// Up to `limit` open orders after `start_after`, in storage order.
    pub fn orders(start_after: Option<OrderId>, limit: u32) -> Vec<OrderView> {
        page(Orders::iter(), start_after, limit)
            .into_iter()
            .filter_map(|(id, _)| Self::order(id))
            .collect()
    }

    /// A lease as settlement at the current block would leave it.
    pub fn lease(id: LeaseId) -> Option<LeaseView> {
        let mut lease = Leases::get(&id)?;
        if lease.state == LeaseState::Active {
            // A read-only settlement: the provider's earnings are not written back.
            accrue(&mut lease, now::<T>());
        }
        Some(LeaseView { id, lease })
    }

    /// The latest leases (at most `limit`, at most [`MAX_LIST`]) `who` is tenant or
    /// provider of, newest first.
    pub fn leases_of(who: &AccountId, limit: u32) -> Vec<LeaseView> {
        AccountLeases::get_or_default(who)
            .into_iter()
            .rev()
            .take(limit.min(MAX_LIST) as usize)
            .filter_map(Self::lease)
            .collect()
    }

    /// A challenge, with the audited step once drawn.
    pub fn challenge(id: ChallengeId) -> Option<ChallengeView> {
        Challenges::get(&id).map(|c| ChallengeView {
            id,
            audit_step: Self::audit_step(id, &c),
            challenge: c,
        })
    }

    /// Open challenges addressed to `provider` (what its node must answer).
    pub fn open_challenges(provider: &AccountId) -> Vec<ChallengeView> {
        ProviderChallenges::get_or_default(provider)
            .into_iter()
            .filter_map(Self::challenge)
            .collect()
    }

    /// Pending payouts of `who`.
    pub fn pending(who: &AccountId) -> Balance {
        Pending::get_or_default(who)
    }

    /// Totals.
    pub fn summary() -> ComputeSummary {
        ComputeSummary {
            active_leases: ActiveCount::get_or_default(),
            total_held: TotalHeld::get_or_default(),
            total_burned: TotalBurned::get_or_default(),
        }
    }

    /// Everything this pallet holds ([`storage::TotalHeld`]).
    pub fn total_held() -> Balance {
        TotalHeld::get_or_default()
    }

    // ---- For the inference pallet ----

    /// The collateral of `who` if it is an active provider that declared `model`.
    /// A jail ends by itself at its block (as for bids).
    pub fn serving_collateral(who: &AccountId, model: &ModelId) -> Option<Balance> {
        let p = Providers::get(who)?;
        let active = match p.status {
            ProviderStatus::Active => true,
            ProviderStatus::Jailed { until } => now::<T>() >= until,
            ProviderStatus::Leaving { .. } => false,
        };
        (active && p.models.contains(model)).then_some(p.collateral)
    }

    /// Slashes `per_mill` of `provider`'s collateral on another pallet's verdict (the
    /// inference pallet's disputes and missed deadlines): the amount leaves this pallet's
    /// custody but stays held, and the caller must account for it (pay it out or burn it).
    /// `jail` keeps the provider from new bids and jobs for `JAIL_BLOCKS`. Returns the
    /// amount (zero for an unknown provider).
    pub fn take_collateral(provider: &AccountId, per_mill: u32, jail: bool) -> Balance {
        let slash = Self::slash_collateral(provider, per_mill, jail).unwrap_or(0);
        TotalHeld::mutate(|t| *t = t.saturating_sub(slash));
        slash
    }

    /// The one slashing rule: takes `per_mill` of `provider`'s collateral (still counted
    /// in [`storage::TotalHeld`]; the caller pays it out, burns it or hands it on), records
    /// it, and jails the provider for `JAIL_BLOCKS` unless it is leaving. `None` for an
    /// unknown provider.
    fn slash_collateral(provider: &AccountId, per_mill: u32, jail: bool) -> Option<Balance> {
        let mut p = Providers::get(provider)?;
        let slash = pallet_staking::math::per_mill(p.collateral, per_mill);
        p.collateral -= slash;
        p.record.slashed = p.record.slashed.saturating_add(slash);
        if jail && !matches!(p.status, ProviderStatus::Leaving { .. }) {
            p.status = ProviderStatus::Jailed {
                until: now::<T>().saturating_add(T::JAIL_BLOCKS),
            };
        }
        Providers::insert(provider, &p);
        Some(slash)
    }
}

/// gpu-verify's GEMM on the host (`io::compute::gemm_i8`): the product of an audit or a
/// dispute runs natively instead of in wasm, with the same exact integer result. Shared
/// with the inference pallet's one-layer disputes.
pub struct HostGemm;

impl gpu_verify_core::engine::Gemm for HostGemm {
    fn gemm(
        &self,
        x: &[i8],
        m: usize,
        k: usize,
        w: &[i8],
        n: usize,
        out: &mut [i32],
    ) -> Result<(), gpu_verify_core::Error> {
        gpu_verify_core::engine::check_gemm_shape(x, m, k, w, n, out)?;
        let (Ok(m32), Ok(k32), Ok(n32)) = (u32::try_from(m), u32::try_from(k), u32::try_from(n))
        else {
            return Err(gpu_verify_core::Error::Input(
                "GEMM shape beyond u32".into(),
            ));
        };
        if io::compute::gemm_i8(x, m32, k32, w, n32, out) {
            Ok(())
        } else {
            Err(gpu_verify_core::Error::Input(
                "GEMM refused by the host".into(),
            ))
        }
    }
}

/// Moves what `lease` owes up to `min(n, dry_at)` from its escrow to its `paid` total and
/// returns it (the provider's earnings are the caller's business).
fn accrue(lease: &mut Lease, n: BlockNumber) -> Balance {
    let until = n.min(lease.dry_at);
    if until <= lease.settled_at {
        return 0;
    }
    let blocks = (until - lease.settled_at) as Balance;
    // dry_at guarantees price * blocks <= escrow; min() keeps it so regardless.
    let pay = lease
        .price_per_block
        .saturating_mul(blocks)
        .min(lease.escrow);
    lease.escrow -= pay;
    lease.paid = lease.paid.saturating_add(pay);
    lease.settled_at = until;
    pay
}

/// `min(end, from + floor(escrow / price))`.
fn dry_at(from: BlockNumber, end: BlockNumber, escrow: Balance, price: Balance) -> BlockNumber {
    if price == 0 {
        return end;
    }
    let blocks = escrow / price;
    let blocks = BlockNumber::try_from(blocks).unwrap_or(BlockNumber::MAX);
    from.saturating_add(blocks).min(end)
}

fn u64_of(bytes: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(b)
}

fn page<K: PartialEq, V>(
    iter: impl Iterator<Item = (K, V)>,
    start_after: Option<K>,
    limit: u32,
) -> Vec<(K, V)> {
    let limit = limit.min(MAX_LIST) as usize;
    let mut started = start_after.is_none();
    let mut out = Vec::new();
    for (k, v) in iter {
        if !started {
            started = Some(&k) == start_after.as_ref();
            continue;
        }
        out.push((k, v));
        if out.len() >= limit {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests;
