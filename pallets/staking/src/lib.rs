//! Staking pallet: bonded stake, a validator registry, delegations, epochs, election,
//! rewards and deferred slashing.
//!
//! The machinery is generic: a *pool* is an account that others bond stake to, a
//! validator or an AI agent ([`PoolKind`]; the agents pallet drives agent pools through
//! [`Pallet::open_agent_pool`] and its neighbours). Only validators' pools are elected.
//! Nothing here knows about consensus except [`Pallet::on_epoch_end`], which writes the
//! elected set into the session pallet.
//!
//! # Money
//!
//! Bonded funds leave the bonder's free balance ([`pallet_balances::Pallet::hold`]) and are
//! held by this pallet, which keeps its own books: [`storage::TotalBonded`] (stake in
//! pools) and [`storage::TotalUnbonding`] (stake waiting to be withdrawn). Hence
//!
//! ```text
//! total issuance = sum(free balances) + TotalBonded + TotalUnbonding
//! ```
//!
//! Issuance changes only by fee burns (balances), rewards minted when claimed
//! ([`storage::TotalMinted`]) and slashes burned ([`storage::TotalBurned`]; the reporter's
//! share of a slash is released to the reporter, not burned).
//!
//! # Pools, shares and slashing
//!
//! Each validator's pool holds `total_stake` tokens against `total_shares`; a delegation
//! (the validator's self-bond is its own delegation) owns shares. A delegation is worth
//! `shares * total_stake / total_shares`, so slashing a pool lowers the share price for
//! everyone bonded to it in O(1). Unbonding stake leaves the pool as an
//! [`UnbondingEntry`] that stays slashable for offences committed while it was bonded.
//!
//! Slashes follow the Cosmos SDK algorithm: for an offence in epoch `e`, the slash is
//! `fraction * exposure(e)` (the validator's stake when it was elected for `e`); it is
//! taken first from unbonding entries that left the pool in or after `e` (each at most
//! `fraction` of its original amount), the rest from the pool, never more than the pool
//! holds. So a slash never exceeds `fraction * exposure(e)`. As in Cosmos, stake that
//! joined the pool after the offence shares the pool's part of the slash.
//!
//! # Rewards (F1-style, lazy)
//!
//! At each epoch end the reward (inflation `INFLATION_PER_EPOCH` per billion of the
//! supply, i.e. total issuance plus rewards credited but not yet claimed, plus fees noted with [`Pallet::note_fees`]) is split among the validators
//! of the ending epoch by exposure; each validator keeps its commission and adds the
//! rest to its cumulative reward per share (scaled by [`math::REWARD_SCALE`]). That is
//! O(active validators). A delegation remembers the reward per share it was last
//! settled at, so a claim is O(1). Rewards are minted when claimed.
//!
//! # Epochs
//!
//! Epoch `i` covers blocks `start_block ..= start_block + EPOCH_LENGTH - 1`; the runtime
//! calls [`Pallet::on_finalize`] at the end of every block, which ends the epoch at
//! blocks that are multiples of `EPOCH_LENGTH`: rewards, due slashes, election of the
//! next set (written to [`pallet_session::storage::Validators`]). Unbonding matures
//! lazily: an entry is withdrawable once the current epoch reaches its
//! `withdrawable_at_epoch`.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod math;

use alloc::vec::Vec;
use math::{mul_div, mul_div_ceil, per_mill, REWARD_SCALE};
use menara_primitives::{
    AccountId, Balance, BlockNumber, ValidatorRecord, BLS_PUBLIC_KEY_LEN, BLS_SIGNATURE_LEN,
};
use menara_support::codec::{Compact, Decode, Encode};
use menara_support::{
    dispatch::bad_origin, ensure, io, storage_item, DispatchResult, Origin, PalletError,
    StorageMap, StorageValue,
};

/// An epoch number (epoch 0 starts at genesis).
pub type EpochIndex = u64;

/// At most this many unbonding entries per account (entries to one validator in one
/// epoch are merged), so withdrawing and slashing stay bounded.
pub const MAX_UNBONDING_ENTRIES: usize = 32;

/// Configuration of the staking pallet.
pub trait Config: pallet_balances::Config + pallet_session::Config {
    /// This pallet's index in the runtime.
    const PALLET_INDEX: u8;
    /// Blocks per epoch (must be non-zero).
    const EPOCH_LENGTH: BlockNumber;
    /// Size of the active validator set.
    const MAX_VALIDATORS: u32;
    /// Smallest self-bond of a validator that can be elected.
    const MIN_SELF_BOND: Balance;
    /// Smallest delegation (and smallest non-zero remainder after undelegating).
    const MIN_DELEGATION: Balance;
    /// Epochs between undelegating and withdrawing. Must exceed `SLASH_DEFER_EPOCHS`.
    const UNBONDING_EPOCHS: EpochIndex;
    /// Epochs a reported slash waits (governance may cancel it meanwhile).
    const SLASH_DEFER_EPOCHS: EpochIndex;
    /// Slash for an equivocation, per mill of the exposure.
    const EQUIVOCATION_SLASH: u32;
    /// Slash for downtime, per mill of the exposure.
    const DOWNTIME_SLASH: u32;
    /// Epochs a validator stays jailed for downtime.
    const DOWNTIME_JAIL_EPOCHS: EpochIndex;
    /// Share of a slash paid to the reporter, per mill.
    const REPORTER_REWARD: u32;
    /// Inflation per epoch, per billion of the supply (total issuance plus rewards
    /// credited and not yet claimed).
    const INFLATION_PER_EPOCH: u64;
}

/// What a staking pool backs.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum PoolKind {
    /// A validator: stands for election with its consensus key (registered with a
    /// checked proof of possession).
    #[codec(index = 0)]
    Validator {
        /// Its BLS key.
        bls_public_key: [u8; BLS_PUBLIC_KEY_LEN],
    },
    /// An AI agent (the agents pallet): never elected; its income and slashes go through
    /// the same shares as a validator's.
    #[codec(index = 1)]
    Agent,
}

/// A staking pool (a validator's, or an agent's) as stored.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ValidatorInfo {
    /// Validator or agent.
    pub kind: PoolKind,
    /// Commission on rewards, per mill.
    pub commission_per_mill: u32,
    /// Tokens bonded to the pool (self-bond and delegations), after slashes.
    pub total_stake: Balance,
    /// Shares outstanding against `total_stake`.
    pub total_shares: u128,
    /// Cumulative reward per share, scaled by [`REWARD_SCALE`].
    pub reward_per_share: u128,
    /// Commission earned and not yet claimed.
    pub commission_pending: Balance,
    /// `Some(e)`: jailed; may `unjail` from epoch `e` on.
    pub jailed_until: Option<EpochIndex>,
    /// Equivocated: barred forever.
    pub tombstoned: bool,
    /// Asked to leave the active set.
    pub chilled: bool,
}

/// A delegation (or a validator's self-bond) as stored under (delegator, validator).
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct Delegation {
    /// Shares of the validator's pool.
    pub shares: u128,
    /// The validator's reward per share when this delegation was last settled.
    pub reward_per_share_paid: u128,
    /// Rewards settled and not yet claimed.
    pub pending_rewards: Balance,
}

/// Stake on its way out of a pool.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct UnbondingEntry {
    /// The pool it left.
    pub validator: AccountId,
    /// What is left of it (slashes lower it).
    pub amount: Balance,
    /// What left the pool (slashes are fractions of this).
    pub initial_amount: Balance,
    /// The epoch it left the pool in.
    pub unbonded_in_epoch: EpochIndex,
    /// The first epoch it can be withdrawn in.
    pub withdrawable_at_epoch: EpochIndex,
}

/// The current epoch as stored.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct EpochInfo {
    /// Its number.
    pub index: EpochIndex,
    /// Its first block.
    pub start_block: BlockNumber,
}

/// The current epoch, for queries.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub struct EpochView {
    /// Its number.
    pub index: EpochIndex,
    /// Its first block.
    pub start_block: BlockNumber,
    /// Blocks per epoch.
    pub length: BlockNumber,
}

/// What a validator did wrong.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Encode, Decode)]
pub enum OffenceKind {
    /// Signed conflicting consensus messages: slashed `EQUIVOCATION_SLASH`, tombstoned.
    #[codec(index = 0)]
    Equivocation,
    /// Missed too many votes: slashed `DOWNTIME_SLASH`, jailed `DOWNTIME_JAIL_EPOCHS`.
    #[codec(index = 1)]
    Downtime,
    /// An agent committed an inference output that a dispute proved wrong.
    #[codec(index = 2)]
    AgentWrongOutput,
    /// An agent signed two different answers to one request.
    #[codec(index = 3)]
    AgentEquivocation,
    /// An agent did not deliver paid work by its deadline.
    #[codec(index = 4)]
    AgentMissedDeadline,
}

/// A reported slash waiting to be applied.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct DeferredSlash {
    /// The validator.
    pub offender: AccountId,
    /// The offence.
    pub kind: OffenceKind,
    /// The epoch of the offence.
    pub offence_epoch: EpochIndex,
    /// Applied at the end of this epoch.
    pub apply_at_epoch: EpochIndex,
    /// Fraction slashed, per mill.
    pub per_mill: u32,
    /// The validator's stake exposed in `offence_epoch`.
    pub exposure: Balance,
    /// Who gets `REPORTER_REWARD` of the slash, if anyone.
    pub reporter: Option<AccountId>,
}

/// A validator, for queries.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ValidatorView {
    /// Its account.
    pub account: AccountId,
    /// Its consensus key.
    pub bls_public_key: [u8; BLS_PUBLIC_KEY_LEN],
    /// Commission per mill.
    pub commission_per_mill: u32,
    /// Total stake (self-bond and delegations).
    pub total_stake: Balance,
    /// Value of its own self-bond.
    pub self_bond: Balance,
    /// `Some(e)` when jailed (may unjail from epoch `e`).
    pub jailed_until: Option<EpochIndex>,
    /// Barred forever.
    pub tombstoned: bool,
    /// Leaving / left the active set on its own.
    pub chilled: bool,
    /// In the current epoch's active set.
    pub active: bool,
}

/// A delegation, for queries.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct DelegationView {
    /// The validator.
    pub validator: AccountId,
    /// Shares of its pool.
    pub shares: u128,
    /// What the shares are worth now.
    pub value: Balance,
    /// Rewards claimable now (commission included when delegator = validator).
    pub pending_rewards: Balance,
}

/// The epoch and the books of staking, as the runtime's `staking_epoch` query returns them.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct StakingSummary {
    /// The current epoch.
    pub epoch: EpochView,
    /// Stake bonded to validators.
    pub total_bonded: Balance,
    /// Stake unbonding.
    pub total_unbonding: Balance,
    /// Rewards minted so far.
    pub total_minted: Balance,
    /// Slashed stake burned so far.
    pub total_burned: Balance,
    /// Total issuance (free balances + bonded + unbonding).
    pub total_issuance: Balance,
    /// Slashes waiting for their epoch (governance can cancel them).
    pub deferred_slashes: Vec<(u64, DeferredSlash)>,
}

/// Storage items.
pub mod storage {
    use super::*;
    storage_item!(pub ValidatorsPrefix: "Staking" / "Validators");
    storage_item!(pub KeyOwnerPrefix: "Staking" / "KeyOwner");
    storage_item!(pub DelegationsPrefix: "Staking" / "Delegations");
    storage_item!(pub DelegatedToPrefix: "Staking" / "DelegatedTo");
    storage_item!(pub UnbondingPrefix: "Staking" / "Unbonding");
    storage_item!(pub UnbondingOwnersPrefix: "Staking" / "UnbondingOwners");
    storage_item!(pub CurrentEpochPrefix: "Staking" / "CurrentEpoch");
    storage_item!(pub ExposuresPrefix: "Staking" / "Exposures");
    storage_item!(pub PendingFeesPrefix: "Staking" / "PendingFees");
    storage_item!(pub DeferredSlashesPrefix: "Staking" / "DeferredSlashes");
    storage_item!(pub SlashesDuePrefix: "Staking" / "SlashesDue");
    storage_item!(pub NextSlashIdPrefix: "Staking" / "NextSlashId");
    storage_item!(pub ReportedPrefix: "Staking" / "Reported");
    storage_item!(pub TotalBondedPrefix: "Staking" / "TotalBonded");
    storage_item!(pub TotalUnbondingPrefix: "Staking" / "TotalUnbonding");
    storage_item!(pub TotalMintedPrefix: "Staking" / "TotalMinted");
    storage_item!(pub TotalBurnedPrefix: "Staking" / "TotalBurned");
    storage_item!(pub TotalCreditedPrefix: "Staking" / "TotalCredited");
    storage_item!(pub TotalPoolIncomePrefix: "Staking" / "TotalPoolIncome");

    /// Every registered validator (never removed: tombstones stay).
    pub type Validators = StorageMap<ValidatorsPrefix, AccountId, ValidatorInfo>;
    /// Which account registered a BLS key (keys are never reused).
    pub type KeyOwner = StorageMap<KeyOwnerPrefix, [u8; BLS_PUBLIC_KEY_LEN], AccountId>;
    /// Delegations by (delegator, validator).
    pub type Delegations = StorageMap<DelegationsPrefix, (AccountId, AccountId), Delegation>;
    /// The validators an account has a delegation entry with (sorted).
    pub type DelegatedTo = StorageMap<DelegatedToPrefix, AccountId, Vec<AccountId>>;
    /// Unbonding entries by owner.
    pub type Unbonding = StorageMap<UnbondingPrefix, AccountId, Vec<UnbondingEntry>>;
    /// Accounts with unbonding entries from a validator (sorted), for slashing.
    pub type UnbondingOwners = StorageMap<UnbondingOwnersPrefix, AccountId, Vec<AccountId>>;
    /// The current epoch.
    pub type CurrentEpoch = StorageValue<CurrentEpochPrefix, EpochInfo>;
    /// The active set of an epoch with each validator's stake when elected (kept for
    /// `UNBONDING_EPOCHS`, for slashing).
    pub type Exposures = StorageMap<ExposuresPrefix, EpochIndex, Vec<(AccountId, Balance)>>;
    /// Fees noted this epoch, paid out with its rewards.
    pub type PendingFees = StorageValue<PendingFeesPrefix, Balance>;
    /// Slashes waiting to be applied, by id.
    pub type DeferredSlashes = StorageMap<DeferredSlashesPrefix, u64, DeferredSlash>;
    /// Slash ids due at the end of an epoch.
    pub type SlashesDue = StorageMap<SlashesDuePrefix, EpochIndex, Vec<u64>>;
    /// The next slash id.
    pub type NextSlashId = StorageValue<NextSlashIdPrefix, u64>;
    /// Offences already reported: (offender, kind, epoch) → slash id.
    pub type Reported = StorageMap<ReportedPrefix, (AccountId, OffenceKind, EpochIndex), u64>;
    /// Stake bonded in pools.
    pub type TotalBonded = StorageValue<TotalBondedPrefix, Balance>;
    /// Stake in unbonding entries.
    pub type TotalUnbonding = StorageValue<TotalUnbondingPrefix, Balance>;
    /// Rewards minted so far.
    pub type TotalMinted = StorageValue<TotalMintedPrefix, Balance>;
    /// Slashed stake burned so far.
    pub type TotalBurned = StorageValue<TotalBurnedPrefix, Balance>;
    /// Rewards credited at epoch ends so far (claimed or not). Inflation is computed on
    /// `total issuance + TotalCredited - TotalMinted`, so when anyone claims does not
    /// change anyone's rewards.
    pub type TotalCredited = StorageValue<TotalCreditedPrefix, Balance>;
    /// Income paid into agent pools so far ([`Pallet::credit_pool`]): it left issuance
    /// when credited and comes back as rewards minted when claimed.
    pub type TotalPoolIncome = StorageValue<TotalPoolIncomePrefix, Balance>;
}
use storage::*;

/// Calls. Amounts are SCALE compact, like the balances pallet's `transfer`.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Registers the signer as a validator with a self-bond taken from its free balance.
    #[codec(index = 0)]
    Validate {
        /// Consensus key.
        bls_public_key: [u8; BLS_PUBLIC_KEY_LEN],
        /// Proof of possession of the key.
        proof_of_possession: [u8; BLS_SIGNATURE_LEN],
        /// Commission per mill (at most 1000).
        commission_per_mill: u32,
        /// Self-bond, at least `MIN_SELF_BOND`.
        self_bond: Compact<Balance>,
    },
    /// Adds to the signer's self-bond (the signer must be a validator).
    #[codec(index = 1)]
    BondMore {
        /// Amount.
        amount: Compact<Balance>,
    },
    /// Bonds free funds to a validator's pool.
    #[codec(index = 2)]
    Delegate {
        /// The validator.
        validator: AccountId,
        /// Amount, at least `MIN_DELEGATION`.
        amount: Compact<Balance>,
    },
    /// Moves stake out of a pool into an unbonding entry (withdrawable after
    /// `UNBONDING_EPOCHS`). A validator undelegating from itself lowers its self-bond;
    /// emptying it chills the validator. Redelegating is undelegate, wait, delegate.
    #[codec(index = 3)]
    Undelegate {
        /// The validator.
        validator: AccountId,
        /// Amount of stake (not shares).
        amount: Compact<Balance>,
    },
    /// Returns every matured unbonding entry to the free balance.
    #[codec(index = 4)]
    WithdrawUnbonded,
    /// Mints the signer's rewards from a validator (and its commission, when the signer
    /// is that validator).
    #[codec(index = 5)]
    ClaimRewards {
        /// The validator.
        validator: AccountId,
    },
    /// The signer (a validator) leaves the active set at the next election.
    #[codec(index = 6)]
    Chill,
    /// Undoes `chill`: the signer stands for election again.
    #[codec(index = 7)]
    Unchill,
    /// Ends the signer's jail once its jail period is over.
    #[codec(index = 8)]
    Unjail,
    /// Root only: cancels a deferred slash (the offender stays jailed/tombstoned).
    #[codec(index = 9)]
    CancelDeferredSlash {
        /// The slash id.
        id: u64,
    },
}

/// Events.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Event {
    /// A validator registered.
    #[codec(index = 0)]
    ValidatorRegistered {
        /// Its account.
        validator: AccountId,
        /// Its self-bond.
        self_bond: Balance,
    },
    /// Stake was bonded to a pool.
    #[codec(index = 1)]
    Bonded {
        /// Bonder.
        who: AccountId,
        /// Pool.
        validator: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// Stake left a pool into unbonding.
    #[codec(index = 2)]
    Unbonded {
        /// Owner.
        who: AccountId,
        /// Pool.
        validator: AccountId,
        /// Amount.
        amount: Balance,
        /// Withdrawable from this epoch.
        withdrawable_at_epoch: EpochIndex,
    },
    /// Matured unbonding stake returned to the free balance.
    #[codec(index = 3)]
    Withdrawn {
        /// Owner.
        who: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// Rewards minted to a delegator or validator.
    #[codec(index = 4)]
    RewardsClaimed {
        /// Claimer.
        who: AccountId,
        /// Pool.
        validator: AccountId,
        /// Amount minted.
        amount: Balance,
    },
    /// A validator chilled.
    #[codec(index = 5)]
    Chilled {
        /// It.
        validator: AccountId,
    },
    /// A validator unchilled.
    #[codec(index = 6)]
    Unchilled {
        /// It.
        validator: AccountId,
    },
    /// A validator was jailed.
    #[codec(index = 7)]
    Jailed {
        /// It.
        validator: AccountId,
        /// May unjail from this epoch.
        until: EpochIndex,
    },
    /// A validator unjailed itself.
    #[codec(index = 8)]
    Unjailed {
        /// It.
        validator: AccountId,
    },
    /// A validator equivocated and is barred forever.
    #[codec(index = 9)]
    Tombstoned {
        /// It.
        validator: AccountId,
    },
    /// An offence was recorded and its slash deferred.
    #[codec(index = 10)]
    OffenceReported {
        /// Offender.
        offender: AccountId,
        /// Kind.
        kind: OffenceKind,
        /// Epoch of the offence.
        epoch: EpochIndex,
        /// Slash id (for `cancel_deferred_slash`).
        slash_id: u64,
    },
    /// A deferred slash was applied.
    #[codec(index = 11)]
    Slashed {
        /// Slash id.
        slash_id: u64,
        /// Offender.
        offender: AccountId,
        /// Total taken from pool and unbonding entries.
        amount: Balance,
        /// Paid to the reporter.
        reporter_reward: Balance,
        /// Burned from issuance.
        burned: Balance,
    },
    /// Governance cancelled a deferred slash.
    #[codec(index = 12)]
    SlashCancelled {
        /// Slash id.
        slash_id: u64,
    },
    /// An epoch ended and its rewards were credited.
    #[codec(index = 13)]
    EpochEnded {
        /// The epoch that ended.
        epoch: EpochIndex,
        /// Rewards credited to validators and delegators (minted when claimed).
        rewards: Balance,
    },
    /// A new active set was elected.
    #[codec(index = 14)]
    NewValidatorSet {
        /// The epoch it serves.
        epoch: EpochIndex,
        /// Number of validators.
        count: u32,
        /// Their total stake.
        total_stake: Balance,
    },
    /// No eligible validator (or too much stake for consensus): the previous set stays.
    #[codec(index = 15)]
    ElectionFailed {
        /// The epoch it would have served.
        epoch: EpochIndex,
    },
}

/// Errors.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Error {
    /// Not enough free balance (or bonded stake, for undelegating).
    #[codec(index = 0)]
    InsufficientBalance,
    /// Below `MIN_SELF_BOND` / `MIN_DELEGATION`, or would leave a remainder below it.
    #[codec(index = 1)]
    BelowMinimum,
    /// No such validator.
    #[codec(index = 2)]
    UnknownValidator,
    /// Unbonding entries exist but none has matured yet.
    #[codec(index = 3)]
    StillUnbonding,
    /// No unbonding entries.
    #[codec(index = 4)]
    NothingToWithdraw,
    /// The validator is jailed.
    #[codec(index = 5)]
    Jailed,
    /// The validator is not jailed.
    #[codec(index = 6)]
    NotJailed,
    /// The jail period has not ended.
    #[codec(index = 7)]
    JailPeriodNotOver,
    /// The validator is tombstoned (barred forever).
    #[codec(index = 8)]
    Tombstoned,
    /// The BLS key is already registered.
    #[codec(index = 9)]
    DuplicateKey,
    /// The account is already a validator.
    #[codec(index = 10)]
    DuplicateAccount,
    /// The proof of possession does not verify.
    #[codec(index = 11)]
    BadProofOfPossession,
    /// Commission above 1000 per mill.
    #[codec(index = 12)]
    BadCommission,
    /// A zero amount (or one too small to buy a share).
    #[codec(index = 13)]
    ZeroAmount,
    /// No delegation to this validator.
    #[codec(index = 14)]
    NoDelegation,
    /// No rewards to claim.
    #[codec(index = 15)]
    NothingToClaim,
    /// Arithmetic overflow.
    #[codec(index = 16)]
    Overflow,
    /// The free balance would keep dust below the existential deposit.
    #[codec(index = 17)]
    WouldLeaveDust,
    /// The payout would leave the account below the existential deposit (fund it first).
    #[codec(index = 18)]
    ExistentialDeposit,
    /// Too many unbonding entries: withdraw first.
    #[codec(index = 19)]
    TooManyUnbondingEntries,
    /// The validator is already chilled.
    #[codec(index = 20)]
    AlreadyChilled,
    /// The validator is not chilled.
    #[codec(index = 21)]
    NotChilled,
    /// No such deferred slash.
    #[codec(index = 22)]
    UnknownSlash,
    /// This (offender, kind, epoch) was already reported.
    #[codec(index = 23)]
    AlreadyReported,
    /// The offence's epoch is too old: its stake may already be withdrawn.
    #[codec(index = 24)]
    OffenceTooOld,
    /// The offence's epoch has not started.
    #[codec(index = 25)]
    FutureEpoch,
    /// The offender was not in that epoch's active set.
    #[codec(index = 26)]
    NotExposed,
    /// No such agent pool.
    #[codec(index = 27)]
    UnknownPool,
}

menara_support::impl_pallet_error!(Error, {
    InsufficientBalance,
    BelowMinimum,
    UnknownValidator,
    StillUnbonding,
    NothingToWithdraw,
    Jailed,
    NotJailed,
    JailPeriodNotOver,
    Tombstoned,
    DuplicateKey,
    DuplicateAccount,
    BadProofOfPossession,
    BadCommission,
    ZeroAmount,
    NoDelegation,
    NothingToClaim,
    Overflow,
    WouldLeaveDust,
    ExistentialDeposit,
    TooManyUnbondingEntries,
    AlreadyChilled,
    NotChilled,
    UnknownSlash,
    AlreadyReported,
    OffenceTooOld,
    FutureEpoch,
    NotExposed,
    UnknownPool,
});

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

/// A genesis validator.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct GenesisValidator {
    /// Its account (must hold `self_bond` in the balances genesis).
    pub account: AccountId,
    /// Consensus key.
    pub bls_public_key: [u8; BLS_PUBLIC_KEY_LEN],
    /// Proof of possession of the key.
    pub proof_of_possession: [u8; BLS_SIGNATURE_LEN],
    /// Commission per mill.
    pub commission_per_mill: u32,
    /// Self-bond taken from its free balance.
    pub self_bond: Balance,
}

/// Genesis configuration. Build it after the balances genesis (funds are taken from
/// free balances) and after, or instead of, the session genesis (it overwrites the
/// session's validator set with the elected one).
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct GenesisConfig {
    /// Initial validators.
    pub validators: Vec<GenesisValidator>,
    /// Initial delegations: (delegator, validator, amount).
    pub delegations: Vec<(AccountId, AccountId, Balance)>,
}

/// Why a genesis configuration is refused.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum GenesisError {
    /// A validator was refused, with the reason.
    Validator(AccountId, Error),
    /// A delegation was refused, with the reason.
    Delegation(AccountId, AccountId, Error),
    /// Nobody can be elected: the chain could not finalise.
    NoValidators,
}

/// The pallet.
pub struct Pallet<T>(core::marker::PhantomData<T>);

type Balances<T> = pallet_balances::Pallet<T>;

impl<T: Config> Pallet<T> {
    // ------------------------------------------------------------------ genesis, hooks

    /// Writes the genesis validators and delegations (funds held from free balances),
    /// elects the set of epoch 0 and writes it into the session pallet.
    pub fn build_genesis(config: &GenesisConfig) -> Result<(), GenesisError> {
        CurrentEpoch::put(&EpochInfo {
            index: 0,
            start_block: 0,
        });
        for v in &config.validators {
            Self::validate(
                &v.account,
                v.bls_public_key,
                &v.proof_of_possession,
                v.commission_per_mill,
                v.self_bond,
            )
            .map_err(|e| GenesisError::Validator(v.account, e))?;
        }
        for (who, validator, amount) in &config.delegations {
            Self::delegate(who, validator, *amount)
                .map_err(|e| GenesisError::Delegation(*who, *validator, e))?;
        }
        if !Self::elect_into(0) {
            return Err(GenesisError::NoValidators);
        }
        Ok(())
    }

    /// Block hook: call at the end of every block (after its extrinsics). Ends the epoch
    /// when `number` is a non-zero multiple of `EPOCH_LENGTH`.
    pub fn on_finalize(number: BlockNumber) {
        if number > 0 && T::EPOCH_LENGTH > 0 && number.is_multiple_of(T::EPOCH_LENGTH) {
            Self::on_epoch_end(number);
        }
    }

    /// Ends the current epoch at block `number`: credits its rewards to its active set,
    /// applies the slashes due, elects the next set (written to the session pallet,
    /// effective from block `number + 1`) and starts the next epoch. Costs
    /// O(registered validators + due slashes × their unbonding entries), never
    /// O(delegators).
    pub fn on_epoch_end(number: BlockNumber) {
        let epoch = CurrentEpoch::get_or_default();
        let ending = epoch.index;
        let rewards = Self::distribute_rewards(ending);
        Self::deposit_event(Event::EpochEnded {
            epoch: ending,
            rewards,
        });
        Self::apply_due_slashes(ending);
        let next = ending.saturating_add(1);
        CurrentEpoch::put(&EpochInfo {
            index: next,
            start_block: number.saturating_add(1),
        });
        if !Self::elect_into(next) {
            // Keep the previous set serving (and exposed) for another epoch.
            let previous = Exposures::get(&ending).unwrap_or_default();
            Exposures::insert(&next, &previous);
            Self::deposit_event(Event::ElectionFailed { epoch: next });
        }
        if let Some(old) = next.checked_sub(T::UNBONDING_EPOCHS.saturating_add(1)) {
            Exposures::remove(&old);
        }
    }

    /// Adds fees to the current epoch's reward pot (the runtime calls it with the fees
    /// it burned; they are minted back as rewards when claimed).
    pub fn note_fees(amount: Balance) {
        PendingFees::mutate(|f| *f = f.saturating_add(amount));
    }

    /// Records an offence of `offender` in `epoch`, punishes it now (equivocation:
    /// tombstoned; downtime: jailed) and schedules its slash for the end of epoch
    /// `current + SLASH_DEFER_EPOCHS`. The runtime feeds it from the offences pallet's
    /// records and from missed-vote counts. Returns the slash id.
    pub fn report_offence(
        offender: &AccountId,
        kind: OffenceKind,
        epoch: EpochIndex,
        reporter: Option<AccountId>,
    ) -> Result<u64, Error> {
        let current = Self::current_epoch_index();
        ensure!(epoch <= current, Error::FutureEpoch);
        let apply_at = current
            .checked_add(T::SLASH_DEFER_EPOCHS)
            .ok_or(Error::Overflow)?;
        // Stake that left the pool in `epoch` is withdrawable from epoch + UNBONDING; the
        // slash must land before that.
        ensure!(
            apply_at < epoch.saturating_add(T::UNBONDING_EPOCHS),
            Error::OffenceTooOld
        );
        ensure!(
            !Reported::contains_key(&(*offender, kind, epoch)),
            Error::AlreadyReported
        );
        let mut info = Self::validator_info(offender)?;
        let exposure = Exposures::get(&epoch)
            .unwrap_or_default()
            .into_iter()
            .find(|(who, _)| who == offender)
            .map(|(_, stake)| stake)
            .ok_or(Error::NotExposed)?;
        let id = NextSlashId::get_or_default();
        NextSlashId::put(&id.saturating_add(1));
        let fraction = match kind {
            OffenceKind::Equivocation => T::EQUIVOCATION_SLASH,
            OffenceKind::Downtime => T::DOWNTIME_SLASH,
            // Agents' offences come through `report_pool_offence`.
            OffenceKind::AgentWrongOutput
            | OffenceKind::AgentEquivocation
            | OffenceKind::AgentMissedDeadline => return Err(Error::UnknownValidator),
        };
        DeferredSlashes::insert(
            &id,
            &DeferredSlash {
                offender: *offender,
                kind,
                offence_epoch: epoch,
                apply_at_epoch: apply_at,
                per_mill: fraction,
                exposure,
                reporter,
            },
        );
        let mut due = SlashesDue::get(&apply_at).unwrap_or_default();
        due.push(id);
        SlashesDue::insert(&apply_at, &due);
        Reported::insert(&(*offender, kind, epoch), &id);
        Self::deposit_event(Event::OffenceReported {
            offender: *offender,
            kind,
            epoch,
            slash_id: id,
        });
        match kind {
            OffenceKind::Equivocation => {
                if !info.tombstoned {
                    info.tombstoned = true;
                    Self::deposit_event(Event::Tombstoned {
                        validator: *offender,
                    });
                }
            }
            OffenceKind::AgentWrongOutput
            | OffenceKind::AgentEquivocation
            | OffenceKind::AgentMissedDeadline => {}
            OffenceKind::Downtime => {
                if !info.tombstoned {
                    let until = current.saturating_add(T::DOWNTIME_JAIL_EPOCHS);
                    let until = info.jailed_until.map_or(until, |u| u.max(until));
                    info.jailed_until = Some(until);
                    Self::deposit_event(Event::Jailed {
                        validator: *offender,
                        until,
                    });
                }
            }
        }
        Validators::insert(offender, &info);
        Ok(id)
    }

    // ------------------------------------------------------------------ calls

    /// Dispatches a call.
    pub fn dispatch(origin: Origin, call: Call) -> DispatchResult {
        let err = |e: Error| e.into_dispatch_error(<T as Config>::PALLET_INDEX);
        if let Call::CancelDeferredSlash { id } = call {
            return match origin {
                Origin::Root => Self::cancel_deferred_slash(id).map_err(err),
                Origin::Signed(_) => Err(bad_origin()),
            };
        }
        let Origin::Signed(who) = origin else {
            return Err(bad_origin());
        };
        let result = match call {
            Call::Validate {
                bls_public_key,
                proof_of_possession,
                commission_per_mill,
                self_bond,
            } => Self::validate(
                &who,
                bls_public_key,
                &proof_of_possession,
                commission_per_mill,
                self_bond.0,
            ),
            Call::BondMore { amount } => Self::bond_more(&who, amount.0),
            Call::Delegate { validator, amount } => Self::delegate(&who, &validator, amount.0),
            Call::Undelegate { validator, amount } => Self::undelegate(&who, &validator, amount.0),
            Call::WithdrawUnbonded => Self::withdraw_unbonded(&who).map(|_| ()),
            Call::ClaimRewards { validator } => Self::claim_rewards(&who, &validator).map(|_| ()),
            Call::Chill => Self::chill(&who),
            Call::Unchill => Self::unchill(&who),
            Call::Unjail => Self::unjail(&who),
            Call::CancelDeferredSlash { .. } => Err(Error::UnknownSlash),
        };
        result.map_err(err)
    }

    /// `validate`: registers `who` as a validator with `self_bond` from its free balance.
    pub fn validate(
        who: &AccountId,
        bls_public_key: [u8; BLS_PUBLIC_KEY_LEN],
        proof_of_possession: &[u8; BLS_SIGNATURE_LEN],
        commission_per_mill: u32,
        self_bond: Balance,
    ) -> Result<(), Error> {
        ensure!(commission_per_mill <= 1000, Error::BadCommission);
        if let Some(existing) = Validators::get(who) {
            ensure!(!existing.tombstoned, Error::Tombstoned);
            return Err(Error::DuplicateAccount);
        }
        ensure!(
            !KeyOwner::contains_key(&bls_public_key),
            Error::DuplicateKey
        );
        ensure!(self_bond >= T::MIN_SELF_BOND, Error::BelowMinimum);
        ensure!(self_bond > 0, Error::ZeroAmount);
        ensure!(
            Balances::<T>::free_balance(who) >= self_bond,
            Error::InsufficientBalance
        );
        ensure!(
            io::bls12381_verify_pop(&bls_public_key, proof_of_possession),
            Error::BadProofOfPossession
        );
        let mut info = ValidatorInfo {
            kind: PoolKind::Validator { bls_public_key },
            commission_per_mill,
            total_stake: 0,
            total_shares: 0,
            reward_per_share: 0,
            commission_pending: 0,
            jailed_until: None,
            tombstoned: false,
            chilled: false,
        };
        Self::bond(who, who, &mut info, self_bond)?;
        KeyOwner::insert(&bls_public_key, who);
        Self::deposit_event(Event::ValidatorRegistered {
            validator: *who,
            self_bond,
        });
        Ok(())
    }

    /// `bond_more`: adds `amount` to `who`'s self-bond.
    pub fn bond_more(who: &AccountId, amount: Balance) -> Result<(), Error> {
        let mut info = Self::validator_info(who)?;
        ensure!(!info.tombstoned, Error::Tombstoned);
        Self::bond(who, who, &mut info, amount)
    }

    /// `delegate`: bonds `amount` of `who`'s free balance to `validator`'s pool.
    pub fn delegate(who: &AccountId, validator: &AccountId, amount: Balance) -> Result<(), Error> {
        let mut info = Self::validator_info(validator)?;
        ensure!(!info.tombstoned, Error::Tombstoned);
        ensure!(amount >= T::MIN_DELEGATION, Error::BelowMinimum);
        Self::bond(who, validator, &mut info, amount)
    }

    /// Holds `amount` from `who` and buys shares of `validator`'s pool; writes `info`.
    fn bond(
        who: &AccountId,
        validator: &AccountId,
        info: &mut ValidatorInfo,
        amount: Balance,
    ) -> Result<(), Error> {
        ensure!(amount > 0, Error::ZeroAmount);
        let shares = if info.total_shares == 0 {
            amount
        } else {
            // A pool slashed to nothing cannot price shares: nobody may join it.
            ensure!(info.total_stake > 0, Error::Tombstoned);
            mul_div(amount, info.total_shares, info.total_stake).ok_or(Error::Overflow)?
        };
        ensure!(shares > 0, Error::ZeroAmount);
        let new_stake = info
            .total_stake
            .checked_add(amount)
            .ok_or(Error::Overflow)?;
        let new_shares = info
            .total_shares
            .checked_add(shares)
            .ok_or(Error::Overflow)?;
        let total_bonded = TotalBonded::get_or_default()
            .checked_add(amount)
            .ok_or(Error::Overflow)?;
        let key = (*who, *validator);
        let mut d = Delegations::get(&key).unwrap_or_default();
        let is_new = d == Delegation::default();
        Self::settle(info, &mut d);
        d.shares = d.shares.checked_add(shares).ok_or(Error::Overflow)?;
        // The last fallible step: after it, nothing can fail.
        Balances::<T>::hold(who, amount)?;
        info.total_stake = new_stake;
        info.total_shares = new_shares;
        TotalBonded::put(&total_bonded);
        Validators::insert(validator, info);
        Delegations::insert(&key, &d);
        if is_new {
            let mut to = DelegatedTo::get(who).unwrap_or_default();
            if let Err(pos) = to.binary_search(validator) {
                to.insert(pos, *validator);
                DelegatedTo::insert(who, &to);
            }
        }
        Self::deposit_event(Event::Bonded {
            who: *who,
            validator: *validator,
            amount,
        });
        Ok(())
    }

    /// `undelegate`: moves `amount` of `who`'s stake in `validator`'s pool to an
    /// unbonding entry withdrawable after `UNBONDING_EPOCHS`.
    pub fn undelegate(
        who: &AccountId,
        validator: &AccountId,
        amount: Balance,
    ) -> Result<(), Error> {
        let info = Self::validator_info(validator)?;
        let minimum = if who == validator {
            T::MIN_SELF_BOND
        } else {
            T::MIN_DELEGATION
        };
        Self::unbond(who, validator, info, amount, minimum)
    }

    /// Moves `amount` of `who`'s stake in pool `validator` (whose record is `info`) to an
    /// unbonding entry; what stays bonded must be zero or at least `minimum`.
    fn unbond(
        who: &AccountId,
        validator: &AccountId,
        mut info: ValidatorInfo,
        amount: Balance,
        minimum: Balance,
    ) -> Result<(), Error> {
        ensure!(amount > 0, Error::ZeroAmount);
        let key = (*who, *validator);
        let mut d = Delegations::get(&key).ok_or(Error::NoDelegation)?;
        ensure!(d.shares > 0, Error::NoDelegation);
        let value = Self::share_value(&info, d.shares);
        ensure!(amount <= value, Error::InsufficientBalance);
        let (burned, released) = if amount == value {
            // Leaving entirely; the last one out takes the rounding dust too.
            let released = if d.shares == info.total_shares {
                info.total_stake
            } else {
                value
            };
            (d.shares, released)
        } else {
            let burned = mul_div_ceil(amount, info.total_shares, info.total_stake)
                .ok_or(Error::Overflow)?
                .min(d.shares);
            (burned, amount)
        };
        let rest = value.saturating_sub(amount);
        ensure!(rest == 0 || rest >= minimum, Error::BelowMinimum);
        let current = Self::current_epoch_index();
        let withdrawable_at = current
            .checked_add(T::UNBONDING_EPOCHS)
            .ok_or(Error::Overflow)?;
        let mut entries = Unbonding::get(who).unwrap_or_default();
        match entries
            .iter_mut()
            .find(|e| e.validator == *validator && e.unbonded_in_epoch == current)
        {
            Some(e) => {
                e.amount = e.amount.checked_add(released).ok_or(Error::Overflow)?;
                e.initial_amount = e
                    .initial_amount
                    .checked_add(released)
                    .ok_or(Error::Overflow)?;
            }
            None => {
                ensure!(
                    entries.len() < MAX_UNBONDING_ENTRIES,
                    Error::TooManyUnbondingEntries
                );
                entries.push(UnbondingEntry {
                    validator: *validator,
                    amount: released,
                    initial_amount: released,
                    unbonded_in_epoch: current,
                    withdrawable_at_epoch: withdrawable_at,
                });
            }
        }
        let total_unbonding = TotalUnbonding::get_or_default()
            .checked_add(released)
            .ok_or(Error::Overflow)?;
        // Nothing fails from here on.
        Self::settle(&info, &mut d);
        d.shares -= burned;
        info.total_shares = info.total_shares.saturating_sub(burned);
        info.total_stake = info.total_stake.saturating_sub(released);
        let is_validator = matches!(info.kind, PoolKind::Validator { .. });
        if is_validator && who == validator && rest == 0 && !info.chilled {
            info.chilled = true;
            Self::deposit_event(Event::Chilled {
                validator: *validator,
            });
        }
        Validators::insert(validator, &info);
        Self::store_delegation(who, validator, &d);
        Unbonding::insert(who, &entries);
        let mut owners = UnbondingOwners::get(validator).unwrap_or_default();
        if let Err(pos) = owners.binary_search(who) {
            owners.insert(pos, *who);
            UnbondingOwners::insert(validator, &owners);
        }
        TotalBonded::mutate(|t| *t = t.saturating_sub(released));
        TotalUnbonding::put(&total_unbonding);
        Self::deposit_event(Event::Unbonded {
            who: *who,
            validator: *validator,
            amount: released,
            withdrawable_at_epoch: withdrawable_at,
        });
        Ok(())
    }

    /// `withdraw_unbonded`: returns every matured unbonding entry of `who` to its free
    /// balance; returns the amount.
    pub fn withdraw_unbonded(who: &AccountId) -> Result<Balance, Error> {
        let entries = Unbonding::get(who).unwrap_or_default();
        ensure!(!entries.is_empty(), Error::NothingToWithdraw);
        let current = Self::current_epoch_index();
        let (matured, waiting): (Vec<UnbondingEntry>, Vec<UnbondingEntry>) = entries
            .into_iter()
            .partition(|e| e.withdrawable_at_epoch <= current);
        ensure!(!matured.is_empty(), Error::StillUnbonding);
        let mut total: Balance = 0;
        for e in &matured {
            total = total.checked_add(e.amount).ok_or(Error::Overflow)?;
        }
        if total > 0 {
            Balances::<T>::release(who, total)?;
        }
        if waiting.is_empty() {
            Unbonding::remove(who);
        } else {
            Unbonding::insert(who, &waiting);
        }
        for e in &matured {
            if waiting.iter().all(|w| w.validator != e.validator) {
                let mut owners = UnbondingOwners::get(&e.validator).unwrap_or_default();
                if let Ok(pos) = owners.binary_search(who) {
                    owners.remove(pos);
                    if owners.is_empty() {
                        UnbondingOwners::remove(&e.validator);
                    } else {
                        UnbondingOwners::insert(&e.validator, &owners);
                    }
                }
            }
        }
        TotalUnbonding::mutate(|t| *t = t.saturating_sub(total));
        Self::deposit_event(Event::Withdrawn {
            who: *who,
            amount: total,
        });
        Ok(total)
    }

    /// `claim_rewards`: mints `who`'s rewards from `validator` (plus the commission when
    /// `who` is the validator); returns the amount. O(1).
    pub fn claim_rewards(who: &AccountId, validator: &AccountId) -> Result<Balance, Error> {
        let info = Self::validator_info(validator)?;
        Self::claim(who, validator, info)
    }

    /// Mints `who`'s rewards from pool `validator` (plus its commission when `who` is
    /// the pool's own account).
    fn claim(
        who: &AccountId,
        validator: &AccountId,
        mut info: ValidatorInfo,
    ) -> Result<Balance, Error> {
        let key = (*who, *validator);
        let mut d = Delegations::get(&key).unwrap_or_default();
        Self::settle(&info, &mut d);
        let mut amount = d.pending_rewards;
        let own = who == validator;
        if own {
            amount = amount
                .checked_add(info.commission_pending)
                .ok_or(Error::Overflow)?;
        }
        ensure!(amount > 0, Error::NothingToClaim);
        let minted = TotalMinted::get_or_default()
            .checked_add(amount)
            .ok_or(Error::Overflow)?;
        Balances::<T>::mint(who, amount)?;
        TotalMinted::put(&minted);
        d.pending_rewards = 0;
        Self::store_delegation(who, validator, &d);
        if own {
            info.commission_pending = 0;
            Validators::insert(validator, &info);
        }
        Self::deposit_event(Event::RewardsClaimed {
            who: *who,
            validator: *validator,
            amount,
        });
        Ok(amount)
    }

    /// `chill`: `who` leaves the active set at the next election.
    pub fn chill(who: &AccountId) -> Result<(), Error> {
        let mut info = Self::validator_info(who)?;
        ensure!(!info.chilled, Error::AlreadyChilled);
        info.chilled = true;
        Validators::insert(who, &info);
        Self::deposit_event(Event::Chilled { validator: *who });
        Ok(())
    }

    /// `unchill`: `who` stands for election again.
    pub fn unchill(who: &AccountId) -> Result<(), Error> {
        let mut info = Self::validator_info(who)?;
        ensure!(!info.tombstoned, Error::Tombstoned);
        ensure!(info.chilled, Error::NotChilled);
        ensure!(
            Self::self_bond_of(who, &info) >= T::MIN_SELF_BOND,
            Error::BelowMinimum
        );
        info.chilled = false;
        Validators::insert(who, &info);
        Self::deposit_event(Event::Unchilled { validator: *who });
        Ok(())
    }

    /// `unjail`: ends `who`'s jail once the jail period is over (self-bond must still
    /// be at least `MIN_SELF_BOND`).
    pub fn unjail(who: &AccountId) -> Result<(), Error> {
        let mut info = Self::validator_info(who)?;
        ensure!(!info.tombstoned, Error::Tombstoned);
        let until = info.jailed_until.ok_or(Error::NotJailed)?;
        ensure!(
            Self::current_epoch_index() >= until,
            Error::JailPeriodNotOver
        );
        ensure!(
            Self::self_bond_of(who, &info) >= T::MIN_SELF_BOND,
            Error::BelowMinimum
        );
        info.jailed_until = None;
        Validators::insert(who, &info);
        Self::deposit_event(Event::Unjailed { validator: *who });
        Ok(())
    }

    /// `cancel_deferred_slash` (root): drops slash `id` before it is applied.
    pub fn cancel_deferred_slash(id: u64) -> Result<(), Error> {
        ensure!(DeferredSlashes::contains_key(&id), Error::UnknownSlash);
        DeferredSlashes::remove(&id);
        Self::deposit_event(Event::SlashCancelled { slash_id: id });
        Ok(())
    }

    // ------------------------------------------------------------------ agent pools
    //
    // The agents pallet's stake goes through the same pools, shares, unbonding entries,
    // lazy rewards and deferred slashes as validators' (an agent's account is its pool's
    // key, its owner's bond a delegation to it); only election and consensus offences are
    // validators' alone. Staking's own calls refuse agent pools (`UnknownValidator`), so
    // the agents pallet's rules (minimum owner bond) cannot be sidestepped.

    /// Opens an agent pool under `pool` with `founder` bonding `bond` to it.
    pub fn open_agent_pool(
        pool: &AccountId,
        founder: &AccountId,
        commission_per_mill: u32,
        bond: Balance,
    ) -> Result<(), Error> {
        ensure!(commission_per_mill <= 1000, Error::BadCommission);
        ensure!(!Validators::contains_key(pool), Error::DuplicateAccount);
        let mut info = ValidatorInfo {
            kind: PoolKind::Agent,
            commission_per_mill,
            total_stake: 0,
            total_shares: 0,
            reward_per_share: 0,
            commission_pending: 0,
            jailed_until: None,
            tombstoned: false,
            chilled: false,
        };
        Self::bond(founder, pool, &mut info, bond)
    }

    /// Whether `pool` is an agent pool.
    pub fn is_agent_pool(pool: &AccountId) -> bool {
        Self::agent_pool(pool).is_ok()
    }

    /// Whether `who` has any pool (validator or agent) under its account.
    pub fn has_pool(who: &AccountId) -> bool {
        Validators::contains_key(who)
    }

    /// Bonds `amount` (at least `MIN_DELEGATION`) of `who`'s free balance to agent pool `pool`.
    pub fn delegate_to_pool(
        who: &AccountId,
        pool: &AccountId,
        amount: Balance,
    ) -> Result<(), Error> {
        let mut info = Self::agent_pool(pool)?;
        ensure!(amount >= T::MIN_DELEGATION, Error::BelowMinimum);
        Self::bond(who, pool, &mut info, amount)
    }

    /// Unbonds `amount` of `who`'s stake in agent pool `pool` (withdrawable after
    /// `UNBONDING_EPOCHS` with [`Self::withdraw_unbonded`], slashable until then for
    /// offences before it left); what stays must be zero or at least `minimum`.
    pub fn undelegate_from_pool(
        who: &AccountId,
        pool: &AccountId,
        amount: Balance,
        minimum: Balance,
    ) -> Result<(), Error> {
        let info = Self::agent_pool(pool)?;
        Self::unbond(who, pool, info, amount, minimum.max(T::MIN_DELEGATION))
    }

    /// Mints `who`'s rewards from agent pool `pool` (and the commission, when `who` is the
    /// agent itself).
    pub fn claim_from_pool(who: &AccountId, pool: &AccountId) -> Result<Balance, Error> {
        let info = Self::agent_pool(pool)?;
        Self::claim(who, pool, info)
    }

    /// Pays `amount` of income to agent pool `pool`: the commission to the agent, the rest
    /// to its stake by shares, O(1). The caller held `amount` out of free balances (an
    /// escrow); it leaves issuance now and is minted back when claimed, as fees paid to
    /// validators are.
    pub fn credit_pool(pool: &AccountId, amount: Balance) -> Result<(), Error> {
        let mut info = Self::agent_pool(pool)?;
        let mut commission = per_mill(amount, info.commission_per_mill);
        let to_pool = amount - commission;
        if info.total_shares == 0 {
            commission = amount;
        } else if to_pool > 0 {
            let increase =
                mul_div(to_pool, REWARD_SCALE, info.total_shares).ok_or(Error::Overflow)?;
            info.reward_per_share = info
                .reward_per_share
                .checked_add(increase)
                .ok_or(Error::Overflow)?;
        }
        info.commission_pending = info
            .commission_pending
            .checked_add(commission)
            .ok_or(Error::Overflow)?;
        let credited = TotalCredited::get_or_default()
            .checked_add(amount)
            .ok_or(Error::Overflow)?;
        Validators::insert(pool, &info);
        TotalCredited::put(&credited);
        TotalPoolIncome::mutate(|t| *t = t.saturating_add(amount));
        Balances::<T>::burn_held(amount);
        Ok(())
    }

    /// Records an agent's proven offence, committed in epoch `offence_epoch` (the current
    /// one when unknown): `per_mill` of the stake exposed then (the pool now plus what
    /// unbonded from it since), applied `SLASH_DEFER_EPOCHS` later like a validator's, or
    /// sooner when the report came late (governance may cancel it with
    /// `cancel_deferred_slash` meanwhile), taken from the unbonding entries that left since
    /// the offence first and then the pool; the reporter earns `REPORTER_REWARD` of it.
    /// O(1) in delegators (O(accounts unbonding from the pool)).
    pub fn report_pool_offence(
        pool: &AccountId,
        kind: OffenceKind,
        offence_epoch: EpochIndex,
        per_mill: u32,
        reporter: Option<AccountId>,
    ) -> Result<u64, Error> {
        let info = Self::agent_pool(pool)?;
        let current = Self::current_epoch_index();
        let offence_epoch = offence_epoch.min(current);
        // Entries that left in epoch `e` are withdrawable from `e + UNBONDING_EPOCHS`: the
        // slash must be applied (at the end of `apply_at`) before those of the offence's
        // epoch mature, so a late report waits less than `SLASH_DEFER_EPOCHS` (never less
        // than the current epoch), and one too late for even that counts from the oldest
        // epoch whose stake is still there.
        let latest = offence_epoch
            .saturating_add(T::UNBONDING_EPOCHS)
            .saturating_sub(1);
        let apply_at = current
            .checked_add(T::SLASH_DEFER_EPOCHS)
            .ok_or(Error::Overflow)?
            .min(latest)
            .max(current);
        let oldest = apply_at
            .saturating_add(1)
            .saturating_sub(T::UNBONDING_EPOCHS);
        let epoch = offence_epoch.max(oldest);
        let mut exposure = info.total_stake;
        for owner in UnbondingOwners::get(pool).unwrap_or_default() {
            for e in Unbonding::get(&owner).unwrap_or_default() {
                if e.validator == *pool && e.unbonded_in_epoch >= epoch {
                    exposure = exposure.saturating_add(e.initial_amount);
                }
            }
        }
        let id = NextSlashId::get_or_default();
        NextSlashId::put(&id.saturating_add(1));
        DeferredSlashes::insert(
            &id,
            &DeferredSlash {
                offender: *pool,
                kind,
                offence_epoch: epoch,
                apply_at_epoch: apply_at,
                per_mill: per_mill.min(1000),
                exposure,
                reporter,
            },
        );
        let mut due = SlashesDue::get(&apply_at).unwrap_or_default();
        due.push(id);
        SlashesDue::insert(&apply_at, &due);
        Self::deposit_event(Event::OffenceReported {
            offender: *pool,
            kind,
            epoch,
            slash_id: id,
        });
        Ok(id)
    }

    /// An agent pool's record.
    pub fn pool_info(pool: &AccountId) -> Option<ValidatorInfo> {
        Self::agent_pool(pool).ok()
    }

    /// What `who`'s shares of pool `pool` are worth now.
    pub fn stake_in_pool(who: &AccountId, pool: &AccountId) -> Balance {
        let Some(info) = Validators::get(pool) else {
            return 0;
        };
        let shares = Delegations::get(&(*who, *pool)).map_or(0, |d| d.shares);
        Self::share_value(&info, shares)
    }

    /// Whether a deferred slash is still waiting (not applied, not cancelled).
    pub fn slash_pending(id: u64) -> bool {
        DeferredSlashes::contains_key(&id)
    }

    // ------------------------------------------------------------------ internals

    /// `who`'s pool, if it is a validator's.
    fn validator_info(who: &AccountId) -> Result<ValidatorInfo, Error> {
        match Validators::get(who) {
            Some(info) if matches!(info.kind, PoolKind::Validator { .. }) => Ok(info),
            _ => Err(Error::UnknownValidator),
        }
    }

    /// `pool`'s record, if it is an agent pool.
    fn agent_pool(pool: &AccountId) -> Result<ValidatorInfo, Error> {
        match Validators::get(pool) {
            Some(info) if info.kind == PoolKind::Agent => Ok(info),
            _ => Err(Error::UnknownPool),
        }
    }

    fn deposit_event(event: Event) {
        pallet_system::Pallet::<T>::deposit_event(<T as Config>::PALLET_INDEX, event.encode());
    }

    fn current_epoch_index() -> EpochIndex {
        CurrentEpoch::get_or_default().index
    }

    /// What `shares` of `info`'s pool are worth (floor).
    fn share_value(info: &ValidatorInfo, shares: u128) -> Balance {
        mul_div(shares, info.total_stake, info.total_shares).unwrap_or(0)
    }

    fn self_bond_of(who: &AccountId, info: &ValidatorInfo) -> Balance {
        let shares = Delegations::get(&(*who, *who)).map_or(0, |d| d.shares);
        Self::share_value(info, shares)
    }

    /// Moves rewards accrued since the last settlement into `pending_rewards`.
    fn settle(info: &ValidatorInfo, d: &mut Delegation) {
        let delta = info
            .reward_per_share
            .saturating_sub(d.reward_per_share_paid);
        if delta > 0 && d.shares > 0 {
            let earned = mul_div(d.shares, delta, REWARD_SCALE).unwrap_or(0);
            d.pending_rewards = d.pending_rewards.saturating_add(earned);
        }
        d.reward_per_share_paid = info.reward_per_share;
    }

    fn store_delegation(who: &AccountId, validator: &AccountId, d: &Delegation) {
        let key = (*who, *validator);
        if d.shares == 0 && d.pending_rewards == 0 {
            Delegations::remove(&key);
            let mut to = DelegatedTo::get(who).unwrap_or_default();
            if let Ok(pos) = to.binary_search(validator) {
                to.remove(pos);
                if to.is_empty() {
                    DelegatedTo::remove(who);
                } else {
                    DelegatedTo::insert(who, &to);
                }
            }
        } else {
            Delegations::insert(&key, d);
        }
    }

    /// Credits epoch `ending`'s rewards to its active set; returns the amount credited.
    fn distribute_rewards(ending: EpochIndex) -> Balance {
        let fees = PendingFees::get_or_default();
        PendingFees::kill();
        // Supply including rewards credited but not yet claimed (minted).
        let supply = Balances::<T>::total_issuance()
            .saturating_add(TotalCredited::get_or_default())
            .saturating_sub(TotalMinted::get_or_default());
        let inflation =
            mul_div(supply, u128::from(T::INFLATION_PER_EPOCH), 1_000_000_000).unwrap_or(0);
        let pot = inflation.saturating_add(fees);
        if pot == 0 {
            return 0;
        }
        // Validators jailed or tombstoned during the epoch forfeit its rewards.
        let eligible: Vec<(AccountId, Balance, ValidatorInfo)> = Exposures::get(&ending)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(who, stake)| {
                let info = Validators::get(&who)?;
                (!info.tombstoned && info.jailed_until.is_none() && stake > 0)
                    .then_some((who, stake, info))
            })
            .collect();
        let total: Balance = eligible
            .iter()
            .fold(0u128, |acc, (_, s, _)| acc.saturating_add(*s));
        let mut credited: Balance = 0;
        for (who, stake, mut info) in eligible {
            let Some(reward) = mul_div(pot, stake, total) else {
                continue;
            };
            let mut commission = per_mill(reward, info.commission_per_mill);
            let to_pool = reward - commission;
            if info.total_shares == 0 {
                commission = reward;
            } else if to_pool > 0 {
                let increase = mul_div(to_pool, REWARD_SCALE, info.total_shares);
                match increase.and_then(|i| info.reward_per_share.checked_add(i)) {
                    Some(rps) => info.reward_per_share = rps,
                    // The accumulator would overflow: this epoch's pool share is forfeited.
                    None => {
                        credited = credited.saturating_add(commission);
                        info.commission_pending =
                            info.commission_pending.saturating_add(commission);
                        Validators::insert(&who, &info);
                        continue;
                    }
                }
            }
            info.commission_pending = info.commission_pending.saturating_add(commission);
            credited = credited.saturating_add(reward);
            Validators::insert(&who, &info);
        }
        TotalCredited::mutate(|t| *t = t.saturating_add(credited));
        credited
    }

    /// Applies every deferred slash due at or before the end of epoch `ending`.
    fn apply_due_slashes(ending: EpochIndex) {
        let due: Vec<(EpochIndex, Vec<u64>)> =
            SlashesDue::iter().filter(|(e, _)| *e <= ending).collect();
        for (epoch, ids) in due {
            SlashesDue::remove(&epoch);
            for id in ids {
                if let Some(slash) = DeferredSlashes::get(&id) {
                    DeferredSlashes::remove(&id);
                    Self::apply_slash(id, &slash);
                }
            }
        }
    }

    /// Applies one slash; returns the amount taken.
    fn apply_slash(id: u64, slash: &DeferredSlash) -> Balance {
        let Some(mut info) = Validators::get(&slash.offender) else {
            return 0;
        };
        let mut remaining = per_mill(slash.exposure, slash.per_mill);
        let mut from_unbonding: Balance = 0;
        // Unbonding entries that were bonded at the offence.
        for owner in UnbondingOwners::get(&slash.offender).unwrap_or_default() {
            if remaining == 0 {
                break;
            }
            let mut entries = Unbonding::get(&owner).unwrap_or_default();
            let mut changed = false;
            for e in entries.iter_mut() {
                if e.validator == slash.offender && e.unbonded_in_epoch >= slash.offence_epoch {
                    let take = per_mill(e.initial_amount, slash.per_mill)
                        .min(e.amount)
                        .min(remaining);
                    if take > 0 {
                        e.amount -= take;
                        remaining -= take;
                        from_unbonding = from_unbonding.saturating_add(take);
                        changed = true;
                    }
                }
            }
            if changed {
                Unbonding::insert(&owner, &entries);
            }
        }
        // The rest from the pool: every share loses value proportionally.
        let from_pool = remaining.min(info.total_stake);
        info.total_stake -= from_pool;
        Validators::insert(&slash.offender, &info);
        TotalBonded::mutate(|t| *t = t.saturating_sub(from_pool));
        TotalUnbonding::mutate(|t| *t = t.saturating_sub(from_unbonding));
        let amount = from_pool.saturating_add(from_unbonding);
        let mut reporter_reward = per_mill(amount, T::REPORTER_REWARD);
        if let Some(reporter) = &slash.reporter {
            if reporter_reward > 0 && Balances::<T>::release(reporter, reporter_reward).is_err() {
                reporter_reward = 0;
            }
        } else {
            reporter_reward = 0;
        }
        let burned = amount - reporter_reward;
        Balances::<T>::burn_held(burned);
        TotalBurned::mutate(|t| *t = t.saturating_add(burned));
        Self::deposit_event(Event::Slashed {
            slash_id: id,
            offender: slash.offender,
            amount,
            reporter_reward,
            burned,
        });
        amount
    }

    /// Elects the set for `epoch`, records its exposures and writes it into the session
    /// pallet. Returns false (changing nothing) when nobody is eligible or the set's
    /// stake exceeds what consensus accepts.
    fn elect_into(epoch: EpochIndex) -> bool {
        let elected = Self::compute_election();
        let total = elected
            .iter()
            .try_fold(0u128, |acc, r| acc.checked_add(r.stake));
        match total {
            Some(total) if !elected.is_empty() && total <= pallet_session::MAX_TOTAL_STAKE => {
                let exposures: Vec<(AccountId, Balance)> =
                    elected.iter().map(|r| (r.account, r.stake)).collect();
                Exposures::insert(&epoch, &exposures);
                pallet_session::storage::Validators::put(&elected);
                Self::deposit_event(Event::NewValidatorSet {
                    epoch,
                    count: u32::try_from(elected.len()).unwrap_or(u32::MAX),
                    total_stake: total,
                });
                true
            }
            _ => false,
        }
    }

    /// The set an election would pick now: the top `MAX_VALIDATORS` by total stake
    /// among validators not jailed, tombstoned or chilled and with a self-bond of at
    /// least `MIN_SELF_BOND`; ties broken by account id (lower first).
    pub fn compute_election() -> Vec<ValidatorRecord> {
        let mut candidates: Vec<ValidatorRecord> = Validators::iter()
            .filter_map(|(account, info)| match info.kind {
                PoolKind::Validator { bls_public_key } => Some((account, bls_public_key, info)),
                PoolKind::Agent => None,
            })
            .filter(|(who, _, info)| {
                !info.tombstoned
                    && info.jailed_until.is_none()
                    && !info.chilled
                    && info.total_stake > 0
                    && Self::self_bond_of(who, info) >= T::MIN_SELF_BOND
            })
            .map(|(account, bls_public_key, info)| ValidatorRecord {
                account,
                bls_public_key,
                stake: info.total_stake,
            })
            .collect();
        candidates.sort_by(|a, b| b.stake.cmp(&a.stake).then(a.account.cmp(&b.account)));
        candidates.truncate(usize::try_from(T::MAX_VALIDATORS).unwrap_or(usize::MAX));
        candidates
    }

    // ------------------------------------------------------------------ queries

    /// Every registered validator, by account.
    pub fn validators() -> Vec<ValidatorView> {
        let active = Exposures::get(&Self::current_epoch_index()).unwrap_or_default();
        let mut all: Vec<ValidatorView> = Validators::iter()
            .filter_map(|(who, info)| Self::view(&who, &info, &active))
            .collect();
        all.sort_by_key(|v| v.account);
        all
    }

    /// One validator.
    pub fn validator(who: &AccountId) -> Option<ValidatorView> {
        let active = Exposures::get(&Self::current_epoch_index()).unwrap_or_default();
        Validators::get(who).and_then(|info| Self::view(who, &info, &active))
    }

    fn view(
        who: &AccountId,
        info: &ValidatorInfo,
        active: &[(AccountId, Balance)],
    ) -> Option<ValidatorView> {
        let PoolKind::Validator { bls_public_key } = info.kind else {
            return None;
        };
        Some(ValidatorView {
            account: *who,
            bls_public_key,
            commission_per_mill: info.commission_per_mill,
            total_stake: info.total_stake,
            self_bond: Self::self_bond_of(who, info),
            jailed_until: info.jailed_until,
            tombstoned: info.tombstoned,
            chilled: info.chilled,
            active: active.iter().any(|(a, _)| a == who),
        })
    }

    /// The delegations of `who` (its self-bond included when it is a validator).
    pub fn delegations_of(who: &AccountId) -> Vec<DelegationView> {
        DelegatedTo::get(who)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|validator| {
                let info = Validators::get(&validator)?;
                let mut d = Delegations::get(&(*who, validator))?;
                Self::settle(&info, &mut d);
                let mut pending = d.pending_rewards;
                if *who == validator {
                    pending = pending.saturating_add(info.commission_pending);
                }
                Some(DelegationView {
                    validator,
                    shares: d.shares,
                    value: Self::share_value(&info, d.shares),
                    pending_rewards: pending,
                })
            })
            .collect()
    }

    /// Rewards `delegator` could claim from `validator` now (commission included when
    /// they are the same account).
    pub fn pending_rewards(delegator: &AccountId, validator: &AccountId) -> Balance {
        let Some(info) = Validators::get(validator) else {
            return 0;
        };
        let mut d = Delegations::get(&(*delegator, *validator)).unwrap_or_default();
        Self::settle(&info, &mut d);
        let mut pending = d.pending_rewards;
        if delegator == validator {
            pending = pending.saturating_add(info.commission_pending);
        }
        pending
    }

    /// The current epoch.
    pub fn epoch() -> EpochView {
        let e = CurrentEpoch::get_or_default();
        EpochView {
            index: e.index,
            start_block: e.start_block,
            length: T::EPOCH_LENGTH,
        }
    }

    /// The epoch block `number` belongs to, assuming every epoch ended on time (block 0
    /// and blocks `1..=EPOCH_LENGTH` are epoch 0).
    pub fn epoch_of_block(number: BlockNumber) -> EpochIndex {
        if T::EPOCH_LENGTH == 0 {
            return 0;
        }
        number.saturating_sub(1) / T::EPOCH_LENGTH
    }

    /// `who`'s unbonding entries.
    pub fn unbonding_of(who: &AccountId) -> Vec<UnbondingEntry> {
        Unbonding::get(who).unwrap_or_default()
    }

    /// Slashes waiting to be applied, by id.
    pub fn deferred_slashes() -> Vec<(u64, DeferredSlash)> {
        let mut all: Vec<(u64, DeferredSlash)> = DeferredSlashes::iter().collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }

    /// The current epoch's active set with each validator's exposed stake.
    pub fn active_set() -> Vec<(AccountId, Balance)> {
        Exposures::get(&Self::current_epoch_index()).unwrap_or_default()
    }

    /// The elected set as written to the session pallet.
    pub fn elected() -> Vec<ValidatorRecord> {
        pallet_session::Pallet::<T>::validators()
    }

    /// Stake bonded in pools.
    pub fn total_bonded() -> Balance {
        TotalBonded::get_or_default()
    }

    /// Stake in unbonding entries.
    pub fn total_unbonding() -> Balance {
        TotalUnbonding::get_or_default()
    }

    /// Rewards minted so far.
    pub fn total_minted() -> Balance {
        TotalMinted::get_or_default()
    }

    /// Slashed stake burned so far.
    pub fn total_burned() -> Balance {
        TotalBurned::get_or_default()
    }

    /// Income credited to agent pools so far (see [`storage::TotalPoolIncome`]): issuance =
    /// genesis issuance + minted − burned slashes − burned fees − this.
    pub fn total_pool_income() -> Balance {
        TotalPoolIncome::get_or_default()
    }
}

#[cfg(test)]
mod tests;
