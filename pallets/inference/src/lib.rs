//! Inference pallet: inference jobs paid on chain and checked bit for bit.
//!
//! # Jobs
//!
//! A client submits a job: a registered, not deprecated model, an inline input (token ids
//! for an encoder, int8 rows for an MLP, at most `MAX_INPUT_BYTES` encoded, no longer than
//! the model allows) and the most it will pay. The job goes to a provider of the compute
//! pallet that declared the model and set a price for it ([`Call::SetPrice`]): the one the
//! client names, or one the chain draws weighted by collateral among those whose price is
//! within the client's maximum. The provider's price is escrowed from the client.
//!
//! Within `COMMIT_BLOCKS` the provider runs the job off chain (gpu-verify) and commits the
//! output together with every layer's output hash (gpu-verify's commitment: leaf 0 the
//! input's hash, leaf `i + 1` layer `i`'s output hash); the chain checks the leaf count
//! against the model, leaf 0 against the input it holds and the last leaf against the
//! output, and computes the Merkle root itself. A provider that misses the deadline is
//! penalised (`MISS_SLASH_PER_MILL` of its collateral, to the client) and the client
//! refunded.
//!
//! # Sampling and verifiers
//!
//! Whether a committed job is re-executed is decided from the randomness beacon of the
//! block *after* the commitment ([`pallet_randomness`]): sampled with probability
//! `q = SamplePerMill / 1000`. A sampled job goes to one registered verifier drawn from
//! the same beacon, and with probability `DoublePerMill / 1000` to two. Verifiers are
//! accounts that hold a bond with this pallet ([`Call::RegisterVerifier`]); a verifier
//! re-executes the whole job and either attests the provider's root or challenges it. A
//! verifier that does neither before the challenge window closes loses
//! `VERIFIER_MISS_PER_MILL` of its bond. A lazy verifier that attests without computing is
//! caught when the job turns out wrong (the other verifier, or anyone, challenges it): every
//! verifier that attested a root a dispute proved wrong loses `VERIFIER_WRONG_PER_MILL` of
//! its bond.
//!
//! # Disputes in one step
//!
//! Anyone may challenge a committed job until its window closes (`CHALLENGE_WINDOW` blocks
//! after the commitment), posting `CHALLENGE_BOND` and its own per-layer hashes. The
//! runtime finds the first layer where the two commitments differ (all earlier outputs
//! agree, so that layer's input is agreed), checks the input activation the challenger
//! sends against that agreed hash and the layer's weights against the registered model id
//! (Merkle openings, [`gpu_verify_core::layer`]), re-executes that one layer with
//! gpu-verify's `no_std` code (the integer matrix products on the host,
//! [`pallet_compute::HostGemm`]) and settles in the same block:
//!
//! * the provider's output hash is wrong: `CHEAT_SLASH_PER_MILL` of its collateral is
//!   slashed and it is jailed; the client gets its escrow back; a challenger whose own hash
//!   was right gets its bond back and `CHALLENGER_SHARE_PER_MILL` of the slash; the rest
//!   is burned. The job is *settled* and cannot be challenged again.
//! * the provider's hash is right: the challenger forfeits its bond, half to the provider,
//!   half burned; the job goes on.
//!
//! A malformed challenge (wrong leaf count, a different input, no disagreement, an opening
//! whose proofs fail or whose input is not the agreed one) is refused with a named error
//! and nobody's balance moves. Disputes carry megabytes (the layer's tensors) in the
//! runtime's large transaction class, pay per byte and per unit of work
//! ([`Pallet::call_work`]), and the work per block is bounded.
//!
//! # Finality and payment
//!
//! At the end of the window a job that was not settled against its provider is final: the
//! model's royalty (fixed at submission) goes to the model's share holders, the
//! verification fee (`VERIFY_FEE_PER_MILL` of the price) to the verification pool, and the
//! rest of the price to the provider. Each sampled job's verifiers share a reward of the
//! verification fee divided by `q` (what the pool collects per sampled job on average),
//! paid from the pool as far as it reaches.
//!
//! # How much a provider may hold
//!
//! Cheating on a job gains at most its price `g` and is caught with probability at least
//! `q` (more with outside challengers), at a slash `S = CHEAT_SLASH_PER_MILL` of the
//! collateral, less the `CHALLENGER_SHARE_PER_MILL` a cheater could win back by
//! challenging itself from another account. Cheating on everything in flight is unprofitable when
//! `q * S >= (1 - q) * gain`, i.e. `gain <= S * q / (1 - q)`. So a provider may hold at most
//! `S * q / (1 - q)` in jobs not yet final ([`Pallet::capacity`]); a job that would take it
//! past the bound goes to another provider or is refused (`ProviderAtCapacity`).
//!
//! # Money
//!
//! ```text
//! TotalHeld = escrows of open jobs + challenge bonds in flight (none between blocks)
//!           + verifier bonds + verification pool + pending payouts
//! total issuance = sum(free balances) + (other pallets' held funds) + TotalHeld
//! ```
//!
//! Slashed collateral moves from the compute pallet's custody to this one and is paid out
//! or burned here; royalties move into the models pallet's custody. Only burns (counted
//! in [`storage::TotalBurned`]) change issuance.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use gpu_verify_core::commit::{activation_hash, merkle_root};
use gpu_verify_core::engine::{ActData, Activation};
use gpu_verify_core::format::N_PARAMS;
use gpu_verify_core::layer::{self, DisputeError, LayerWeights};
use menara_primitives::{AccountId, Balance, BlockNumber, H256};
use menara_support::codec::{Compact, Decode, Encode};
use menara_support::{
    dispatch::bad_origin, ensure, storage_item, DispatchResult, Origin, PalletError, StorageMap,
    StorageValue,
};
use pallet_staking::math::{mul_div, per_mill};

#[cfg(test)]
mod tests;

/// Identifier of a job.
pub type JobId = u64;
/// A model id (see the models pallet).
pub type ModelId = H256;

/// Most jobs returned by one list query.
pub const MAX_LIST: u32 = 100;
/// Most providers with a price for one model.
pub const MAX_PROVIDERS_PER_MODEL: usize = 64;
/// Most jobs waiting for one provider's commitment, or one verifier's answer.
pub const MAX_OPEN_PER_ACCOUNT: usize = 256;
/// Largest committed output, encoded.
pub const MAX_OUTPUT_BYTES: usize = 16 * 1024;

/// Configuration; every parameter is a runtime constant a runtime upgrade can change.
pub trait Config: pallet_compute::Config {
    /// This pallet's index in the runtime.
    const PALLET_INDEX: u8;
    /// Largest job input, encoded.
    const MAX_INPUT_BYTES: u32;
    /// Blocks a provider has to commit a job.
    const COMMIT_BLOCKS: BlockNumber;
    /// Blocks after the commitment during which anyone may challenge.
    const CHALLENGE_WINDOW: BlockNumber;
    /// Sampling rate a chain starts with, per thousand (genesis may set another).
    const DEFAULT_SAMPLE_PER_MILL: u32;
    /// Share of sampled jobs given to two verifiers, per thousand (genesis may set another).
    const DEFAULT_DOUBLE_PER_MILL: u32;
    /// Verification fee, per thousand of the price.
    const VERIFY_FEE_PER_MILL: u32;
    /// Share of the provider's collateral slashed when a dispute proves it wrong.
    const CHEAT_SLASH_PER_MILL: u32;
    /// Share of the provider's collateral paid to the client when it misses a commitment.
    const MISS_SLASH_PER_MILL: u32;
    /// Bond a challenger posts.
    const CHALLENGE_BOND: Balance;
    /// Share of the provider's slash paid to a challenger that was right.
    const CHALLENGER_SHARE_PER_MILL: u32;
    /// Smallest verifier bond.
    const MIN_VERIFIER_BOND: Balance;
    /// Share of a verifier's bond burned when it misses an answer.
    const VERIFIER_MISS_PER_MILL: u32;
    /// Share of a verifier's bond burned when it attested a root a dispute proved wrong.
    const VERIFIER_WRONG_PER_MILL: u32;
    /// Blocks between a verifier leaving and getting its bond back.
    const VERIFIER_UNBONDING: BlockNumber;
    /// Most dispute work (see [`Pallet::call_work`]) in one block.
    const MAX_DISPUTE_WORK_PER_BLOCK: u64;
    /// Told when a job is over (final, settled by a dispute, or expired), after its record
    /// says so: the runtime calls back the contract that submitted it.
    fn on_job_closed(_job: JobId) {}
}

/// Where a job stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum JobState {
    /// Waiting for the provider's commitment.
    #[codec(index = 0)]
    Pending,
    /// Committed; not (yet) sampled.
    #[codec(index = 1)]
    Committed,
    /// Sampled: waiting for its verifiers.
    #[codec(index = 2)]
    Sampled,
    /// Its verifiers attested the provider's root.
    #[codec(index = 3)]
    Verified,
    /// A dispute proved the provider wrong: slashed, client refunded (final).
    #[codec(index = 4)]
    Settled,
    /// The window closed: paid (final).
    #[codec(index = 5)]
    Final,
    /// Not committed in time: refunded, provider penalised (final).
    #[codec(index = 6)]
    Expired,
}

impl JobState {
    /// Lower-case name.
    pub fn name(&self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Committed => "committed",
            JobState::Sampled => "sampled",
            JobState::Verified => "verified",
            JobState::Settled => "settled",
            JobState::Final => "final",
            JobState::Expired => "expired",
        }
    }

    /// Whether the job is over.
    pub fn is_closed(&self) -> bool {
        matches!(
            self,
            JobState::Settled | JobState::Final | JobState::Expired
        )
    }

    fn challengeable(&self) -> bool {
        matches!(
            self,
            JobState::Committed | JobState::Sampled | JobState::Verified
        )
    }
}

/// A verifier assigned to a sampled job.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Check {
    /// The verifier.
    pub verifier: AccountId,
    /// What it answered.
    pub answer: CheckAnswer,
}

/// A verifier's answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum CheckAnswer {
    /// Nothing yet.
    #[codec(index = 0)]
    Waiting,
    /// Attested the provider's root.
    #[codec(index = 1)]
    Agreed,
    /// Challenged the job.
    #[codec(index = 2)]
    Challenged,
    /// Missed the deadline (penalised).
    #[codec(index = 3)]
    Missed,
}

/// How a job ended: who was paid or slashed.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Outcome {
    /// Final: the provider, the model's holders and the verification pool were paid.
    #[codec(index = 0)]
    Paid {
        /// To the provider.
        provider: Balance,
        /// To the model's share holders.
        royalty: Balance,
        /// To the verification pool.
        verification_fee: Balance,
        /// From the pool to the job's verifiers.
        verifier_reward: Balance,
    },
    /// A dispute proved the provider wrong.
    #[codec(index = 1)]
    ProviderSlashed {
        /// The first wrong layer.
        layer: u32,
        /// Slashed from the provider's collateral.
        slashed: Balance,
        /// Who challenged.
        challenger: AccountId,
        /// Paid to the challenger from the slash.
        reward: Balance,
        /// Burned.
        burned: Balance,
        /// Escrow returned to the client.
        refunded: Balance,
    },
    /// The provider missed its commitment.
    #[codec(index = 2)]
    Expired {
        /// Escrow returned to the client.
        refunded: Balance,
        /// Taken from the provider's collateral and paid to the client.
        penalty: Balance,
    },
}

/// An inference job.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Job {
    /// Who submitted and pays.
    pub client: AccountId,
    /// Who runs it.
    pub provider: AccountId,
    /// The model.
    pub model: ModelId,
    /// The input.
    pub input: Activation,
    /// The provider's price, escrowed.
    pub fee: Balance,
    /// The model's royalty at submission (part of the fee).
    pub royalty: Balance,
    /// The verification fee (part of the fee).
    pub verification_fee: Balance,
    /// Block of submission.
    pub submitted_at: BlockNumber,
    /// Last block to commit in.
    pub commit_by: BlockNumber,
    /// State.
    pub state: JobState,
    /// The provider's per-layer hashes (empty until committed).
    pub commitment: Vec<H256>,
    /// Merkle root of the commitment, computed on chain.
    pub root: H256,
    /// The output (for an encoder: the pooled, normalised embedding in Q15).
    pub output: Option<Activation>,
    /// Block of the commitment.
    pub committed_at: BlockNumber,
    /// Last block of the challenge window.
    pub window_ends: BlockNumber,
    /// Verifiers assigned (sampled jobs).
    pub checks: Vec<Check>,
    /// Challenges the provider won.
    pub challenges_rejected: u32,
    /// How it ended.
    pub outcome: Option<Outcome>,
    /// Block it was settled, paid or expired in (0 while open).
    pub closed_at: BlockNumber,
}

/// Where a verifier stands.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum VerifierStatus {
    /// Drawn for sampled jobs.
    #[codec(index = 0)]
    Active,
    /// Left at the block given; bond unbonding.
    #[codec(index = 1)]
    Leaving {
        /// Block it left at.
        since: BlockNumber,
    },
}

/// A registered verifier.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Verifier {
    /// Bond held.
    pub bond: Balance,
    /// Status.
    pub status: VerifierStatus,
    /// Jobs it attested.
    pub attested: u32,
    /// Answers it missed.
    pub missed: u32,
    /// Slashed in total.
    pub slashed: Balance,
    /// Earned in total.
    pub earned: Balance,
}

/// Genesis settings.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct GenesisConfig {
    /// Sampling rate per thousand (default `DEFAULT_SAMPLE_PER_MILL`).
    pub sample_per_mill: Option<u32>,
    /// Share of sampled jobs checked twice, per thousand (default `DEFAULT_DOUBLE_PER_MILL`).
    pub double_per_mill: Option<u32>,
}

/// Storage items.
pub mod storage {
    use super::*;
    storage_item!(pub JobsPrefix: "Inference" / "Jobs");
    storage_item!(pub NextJobIdPrefix: "Inference" / "NextJobId");
    storage_item!(pub PricesPrefix: "Inference" / "Prices");
    storage_item!(pub ModelProvidersPrefix: "Inference" / "ModelProviders");
    storage_item!(pub UnsettledPrefix: "Inference" / "Unsettled");
    storage_item!(pub ProviderJobsPrefix: "Inference" / "ProviderJobs");
    storage_item!(pub VerifierJobsPrefix: "Inference" / "VerifierJobs");
    storage_item!(pub AccountJobsPrefix: "Inference" / "AccountJobs");
    storage_item!(pub VerifiersPrefix: "Inference" / "Verifiers");
    storage_item!(pub ActiveVerifierCountPrefix: "Inference" / "ActiveVerifierCount");
    storage_item!(pub ActiveVerifierPrefix: "Inference" / "ActiveVerifier");
    storage_item!(pub VerifierSlotPrefix: "Inference" / "VerifierSlot");
    storage_item!(pub CommitDuePrefix: "Inference" / "CommitDue");
    storage_item!(pub DrawDuePrefix: "Inference" / "DrawDue");
    storage_item!(pub WindowEndsPrefix: "Inference" / "WindowEnds");
    storage_item!(pub VerificationPoolPrefix: "Inference" / "VerificationPool");
    storage_item!(pub PendingPrefix: "Inference" / "Pending");
    storage_item!(pub SamplePerMillPrefix: "Inference" / "SamplePerMill");
    storage_item!(pub DoublePerMillPrefix: "Inference" / "DoublePerMill");
    storage_item!(pub DisputeWorkPrefix: "Inference" / "DisputeWork");
    storage_item!(pub TotalHeldPrefix: "Inference" / "TotalHeld");
    storage_item!(pub TotalBurnedPrefix: "Inference" / "TotalBurned");

    /// Jobs, open and closed.
    pub type Jobs = StorageMap<JobsPrefix, JobId, Job>;
    /// Next job id.
    pub type NextJobId = StorageValue<NextJobIdPrefix, JobId>;
    /// A provider's price per job for a model.
    pub type Prices = StorageMap<PricesPrefix, (AccountId, ModelId), Balance>;
    /// Providers with a price for a model (at most [`MAX_PROVIDERS_PER_MODEL`]).
    pub type ModelProviders = StorageMap<ModelProvidersPrefix, ModelId, Vec<AccountId>>;
    /// Fees of a provider's jobs not yet closed (bounded by [`Pallet::capacity`]).
    pub type Unsettled = StorageMap<UnsettledPrefix, AccountId, Balance>;
    /// Jobs waiting for a provider's commitment (what its node must run).
    pub type ProviderJobs = StorageMap<ProviderJobsPrefix, AccountId, Vec<JobId>>;
    /// Sampled jobs waiting for a verifier's answer (what its node must check).
    pub type VerifierJobs = StorageMap<VerifierJobsPrefix, AccountId, Vec<JobId>>;
    /// The latest [`MAX_LIST`] jobs of each client and provider, oldest first (queries).
    pub type AccountJobs = StorageMap<AccountJobsPrefix, AccountId, Vec<JobId>>;
    /// Registered verifiers.
    pub type Verifiers = StorageMap<VerifiersPrefix, AccountId, Verifier>;
    /// Number of active verifiers.
    pub type ActiveVerifierCount = StorageValue<ActiveVerifierCountPrefix, u32>;
    /// Active verifiers as a dense array (slot → verifier) for O(1) draws.
    pub type ActiveVerifier = StorageMap<ActiveVerifierPrefix, u32, AccountId>;
    /// Slot of each active verifier.
    pub type VerifierSlot = StorageMap<VerifierSlotPrefix, AccountId, u32>;
    /// Jobs whose commitment deadline is a block.
    pub type CommitDue = StorageMap<CommitDuePrefix, BlockNumber, Vec<JobId>>;
    /// Jobs committed in the block before: drawn for sampling at the start of this one.
    pub type DrawDue = StorageMap<DrawDuePrefix, BlockNumber, Vec<JobId>>;
    /// Jobs whose challenge window closes at the end of a block.
    pub type WindowEnds = StorageMap<WindowEndsPrefix, BlockNumber, Vec<JobId>>;
    /// Verification fees collected and not yet paid to verifiers (held).
    pub type VerificationPool = StorageValue<VerificationPoolPrefix, Balance>;
    /// Payouts the balances pallet refused (dust rules), withdrawable (held).
    pub type Pending = StorageMap<PendingPrefix, AccountId, Balance>;
    /// Sampling rate, per thousand.
    pub type SamplePerMill = StorageValue<SamplePerMillPrefix, u32>;
    /// Share of sampled jobs checked twice, per thousand.
    pub type DoublePerMill = StorageValue<DoublePerMillPrefix, u32>;
    /// Dispute work done in the current block.
    pub type DisputeWork = StorageValue<DisputeWorkPrefix, u64>;
    /// Everything this pallet holds.
    pub type TotalHeld = StorageValue<TotalHeldPrefix, Balance>;
    /// Burned in total.
    pub type TotalBurned = StorageValue<TotalBurnedPrefix, Balance>;
}
use storage::*;

/// Calls.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Sets the signer's price per job for a model it declared as a compute provider
    /// (zero withdraws it).
    #[codec(index = 0)]
    SetPrice {
        /// The model.
        model: ModelId,
        /// Price per job.
        price: Compact<Balance>,
    },
    /// Submits a job, escrowing the provider's price.
    #[codec(index = 1)]
    Submit {
        /// The model.
        model: ModelId,
        /// The input (token ids for an encoder, int8 rows for an MLP).
        input: Activation,
        /// The most the client pays.
        max_fee: Compact<Balance>,
        /// The provider to use (else the chain draws one).
        provider: Option<AccountId>,
    },
    /// Commits a job's output and per-layer hashes (its provider only).
    #[codec(index = 2)]
    Commit {
        /// The job.
        job: JobId,
        /// Input hash then one hash per layer output.
        commitment: Vec<H256>,
        /// The output.
        output: Activation,
    },
    /// Attests a sampled job (an assigned verifier): the root it computed equals the
    /// provider's.
    #[codec(index = 3)]
    Attest {
        /// The job.
        job: JobId,
        /// The root the verifier computed.
        root: H256,
    },
    /// Challenges a committed job, posting `CHALLENGE_BOND`, and settles it at once.
    #[codec(index = 4)]
    Challenge {
        /// The job.
        job: JobId,
        /// The challenger's per-layer hashes.
        commitment: Vec<H256>,
        /// The first layer where they differ from the provider's.
        layer: u32,
        /// That layer's input activation (agreed by both).
        input: Activation,
        /// That layer's weights with openings against the model id.
        weights: LayerWeights,
    },
    /// Registers the signer as a verifier, holding `bond`.
    #[codec(index = 5)]
    RegisterVerifier {
        /// Bond (at least `MIN_VERIFIER_BOND`).
        bond: Compact<Balance>,
    },
    /// Stops being drawn; the bond unbonds.
    #[codec(index = 6)]
    LeaveVerifiers,
    /// Returns a departed verifier's bond once unbonded and without open checks.
    #[codec(index = 7)]
    WithdrawBond,
    /// Withdraws the signer's pending payouts.
    #[codec(index = 8)]
    Withdraw,
    /// Sets the sampling rates (Root only: a governance referendum's call).
    #[codec(index = 9)]
    SetSampling {
        /// Share of committed jobs re-executed, per thousand.
        sample_per_mill: u32,
        /// Share of sampled jobs checked by two verifiers, per thousand.
        double_per_mill: u32,
    },
}

/// Events.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Event {
    /// A provider set its price for a model.
    #[codec(index = 0)]
    PriceSet {
        /// The provider.
        provider: AccountId,
        /// The model.
        model: ModelId,
        /// Price per job (zero: withdrawn).
        price: Balance,
    },
    /// A job was submitted.
    #[codec(index = 1)]
    JobSubmitted {
        /// The job.
        job: JobId,
        /// The client.
        client: AccountId,
        /// The provider.
        provider: AccountId,
        /// The model.
        model: ModelId,
        /// The escrowed fee.
        fee: Balance,
    },
    /// A provider committed a job.
    #[codec(index = 2)]
    JobCommitted {
        /// The job.
        job: JobId,
        /// Merkle root of its per-layer hashes.
        root: H256,
    },
    /// A job was sampled for re-execution.
    #[codec(index = 3)]
    JobSampled {
        /// The job.
        job: JobId,
        /// Its verifiers.
        verifiers: Vec<AccountId>,
    },
    /// A verifier attested a job.
    #[codec(index = 4)]
    Attested {
        /// The job.
        job: JobId,
        /// The verifier.
        verifier: AccountId,
    },
    /// A dispute proved the provider wrong.
    #[codec(index = 5)]
    ProviderSlashed {
        /// The job.
        job: JobId,
        /// The provider.
        provider: AccountId,
        /// The challenger.
        challenger: AccountId,
        /// First wrong layer.
        layer: u32,
        /// Slashed from the collateral.
        amount: Balance,
        /// Paid to the challenger.
        reward: Balance,
        /// Burned.
        burned: Balance,
    },
    /// A dispute proved the challenger wrong.
    #[codec(index = 6)]
    ChallengeRejected {
        /// The job.
        job: JobId,
        /// The challenger.
        challenger: AccountId,
        /// The disputed layer.
        layer: u32,
        /// Bond forfeited (half to the provider, half burned).
        forfeited: Balance,
    },
    /// A job's window closed and it was paid.
    #[codec(index = 7)]
    JobFinal {
        /// The job.
        job: JobId,
        /// To the provider.
        provider_paid: Balance,
        /// Royalty.
        royalty: Balance,
        /// Verification fee.
        verification_fee: Balance,
    },
    /// A job was not committed in time.
    #[codec(index = 8)]
    JobExpired {
        /// The job.
        job: JobId,
        /// Penalty paid by the provider to the client.
        penalty: Balance,
    },
    /// A verifier registered.
    #[codec(index = 9)]
    VerifierRegistered {
        /// The verifier.
        verifier: AccountId,
        /// Its bond.
        bond: Balance,
    },
    /// A verifier left.
    #[codec(index = 10)]
    VerifierLeft {
        /// The verifier.
        verifier: AccountId,
    },
    /// A verifier's bond was returned.
    #[codec(index = 11)]
    BondWithdrawn {
        /// The verifier.
        verifier: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// A verifier lost part of its bond.
    #[codec(index = 12)]
    VerifierSlashed {
        /// The verifier.
        verifier: AccountId,
        /// The job.
        job: JobId,
        /// Amount burned.
        amount: Balance,
        /// Whether it missed (else it attested a wrong root).
        missed: bool,
    },
    /// A verifier was paid for a check.
    #[codec(index = 13)]
    VerifierRewarded {
        /// The verifier.
        verifier: AccountId,
        /// The job.
        job: JobId,
        /// Amount.
        amount: Balance,
    },
    /// Pending payouts were withdrawn.
    #[codec(index = 14)]
    Withdrawn {
        /// Who.
        who: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// Governance changed the sampling rates.
    #[codec(index = 15)]
    SamplingSet {
        /// Share of committed jobs re-executed, per thousand.
        sample_per_mill: u32,
        /// Share of sampled jobs checked by two verifiers, per thousand.
        double_per_mill: u32,
    },
}

/// Errors.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Error {
    /// No such model in the registry.
    #[codec(index = 0)]
    UnknownModel,
    /// The model is deprecated: no new jobs.
    #[codec(index = 1)]
    DeprecatedModel,
    /// The registry's header for the model is not one gpu-verify runs.
    #[codec(index = 2)]
    UnsupportedModel,
    /// The input is malformed or of the wrong kind or width for the model.
    #[codec(index = 3)]
    BadInput,
    /// The input is longer than the model allows.
    #[codec(index = 4)]
    InputTooLong,
    /// The input is larger than `MAX_INPUT_BYTES`.
    #[codec(index = 5)]
    InputTooLarge,
    /// The signer is not an active provider that declared this model.
    #[codec(index = 6)]
    NotServing,
    /// No active provider with a price within the maximum fee and room for the job.
    #[codec(index = 7)]
    NoProvider,
    /// The provider's price is above the maximum fee.
    #[codec(index = 8)]
    PriceAboveMaxFee,
    /// The provider's price does not cover the royalty and the verification fee.
    #[codec(index = 9)]
    PriceBelowCosts,
    /// The job would take the provider past the value its collateral secures.
    #[codec(index = 10)]
    ProviderAtCapacity,
    /// The provider is not active (jailed or leaving) or has no price for the model.
    #[codec(index = 11)]
    ProviderUnavailable,
    /// Too many providers have a price for this model, or too many open jobs.
    #[codec(index = 12)]
    TooMany,
    /// The signer cannot pay.
    #[codec(index = 13)]
    InsufficientBalance,
    /// No such job.
    #[codec(index = 14)]
    UnknownJob,
    /// The job is not assigned to the signer.
    #[codec(index = 15)]
    NotAssigned,
    /// The job is not waiting for a commitment.
    #[codec(index = 16)]
    NotPending,
    /// The commitment has the wrong number of leaves for the model.
    #[codec(index = 17)]
    BadCommitmentLength,
    /// Leaf 0 is not the hash of the job's input.
    #[codec(index = 18)]
    WrongInputHash,
    /// The output does not hash to the commitment's last leaf, or is malformed.
    #[codec(index = 19)]
    OutputMismatch,
    /// The output is larger than [`MAX_OUTPUT_BYTES`].
    #[codec(index = 20)]
    OutputTooLarge,
    /// The signer is not a verifier of this job or already answered.
    #[codec(index = 21)]
    NotAssignedVerifier,
    /// The job is not waiting for verifiers.
    #[codec(index = 22)]
    NotAwaitingVerification,
    /// The root differs from the provider's: challenge instead.
    #[codec(index = 23)]
    RootMismatch,
    /// The job was not committed yet.
    #[codec(index = 24)]
    NotCommitted,
    /// The job was already settled against its provider.
    #[codec(index = 25)]
    AlreadySettled,
    /// The challenge window is closed.
    #[codec(index = 26)]
    WindowClosed,
    /// The challenger's commitment has the wrong length, another input, or agrees.
    #[codec(index = 27)]
    BadChallengeCommitment,
    /// The layer named is not the first where the commitments differ.
    #[codec(index = 28)]
    WrongLayer,
    /// The input activation is not the agreed input of the layer.
    #[codec(index = 29)]
    BadActivation,
    /// The weights are not the layer's tensors of the registered model (proofs fail).
    #[codec(index = 30)]
    BadWeights,
    /// The layer could not be re-executed on the opened data.
    #[codec(index = 31)]
    ReexecutionFailed,
    /// Already a verifier.
    #[codec(index = 32)]
    AlreadyVerifier,
    /// Not a verifier.
    #[codec(index = 33)]
    NotVerifier,
    /// The bond is below `MIN_VERIFIER_BOND`.
    #[codec(index = 34)]
    BondTooLow,
    /// The verifier already left.
    #[codec(index = 35)]
    AlreadyLeaving,
    /// The bond is still unbonding or the verifier has open checks.
    #[codec(index = 36)]
    NotUnbonded,
    /// Nothing to withdraw.
    #[codec(index = 37)]
    NothingToWithdraw,
    /// An amount is zero.
    #[codec(index = 38)]
    ZeroAmount,
    /// Arithmetic overflow.
    #[codec(index = 39)]
    Overflow,
    /// The block has no room left for this dispute's work.
    #[codec(index = 40)]
    BlockFull,
    /// The transfer would leave an account below the existential deposit.
    #[codec(index = 41)]
    WouldBeDust,
    /// A rate per thousand above 1000.
    #[codec(index = 42)]
    RateAboveOne,
}
menara_support::impl_pallet_error!(Error, {
    UnknownModel, DeprecatedModel, UnsupportedModel, BadInput, InputTooLong, InputTooLarge,
    NotServing, NoProvider, PriceAboveMaxFee, PriceBelowCosts, ProviderAtCapacity,
    ProviderUnavailable, TooMany, InsufficientBalance, UnknownJob, NotAssigned, NotPending,
    BadCommitmentLength, WrongInputHash, OutputMismatch, OutputTooLarge, NotAssignedVerifier,
    NotAwaitingVerification, RootMismatch, NotCommitted, AlreadySettled, WindowClosed,
    BadChallengeCommitment, WrongLayer, BadActivation, BadWeights, ReexecutionFailed,
    AlreadyVerifier, NotVerifier, BondTooLow, AlreadyLeaving, NotUnbonded, NothingToWithdraw,
    ZeroAmount, Overflow, BlockFull, WouldBeDust, RateAboveOne,
});

impl From<pallet_balances::Error> for Error {
    fn from(e: pallet_balances::Error) -> Self {
        match e {
            pallet_balances::Error::InsufficientBalance => Error::InsufficientBalance,
            pallet_balances::Error::ExistentialDeposit | pallet_balances::Error::WouldLeaveDust => {
                Error::WouldBeDust
            }
            pallet_balances::Error::ZeroAmount => Error::ZeroAmount,
            _ => Error::Overflow,
        }
    }
}

/// A job, for queries.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct JobView {
    /// Its id.
    pub id: JobId,
    /// The job.
    pub job: Job,
}

/// A verifier, for queries.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct VerifierView {
    /// Its account.
    pub account: AccountId,
    /// The record.
    pub verifier: Verifier,
    /// Sampled jobs waiting for its answer.
    pub open_checks: Vec<JobId>,
}

/// A provider's price for a model, for queries.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct PriceView {
    /// The provider.
    pub provider: AccountId,
    /// Price per job.
    pub price: Balance,
    /// Fees of its jobs not yet closed.
    pub unsettled: Balance,
    /// The most it may hold in jobs not yet closed.
    pub capacity: Balance,
}

/// Pallet totals, for queries.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct InferenceSummary {
    /// Jobs submitted so far.
    pub jobs: u64,
    /// Active verifiers.
    pub active_verifiers: u32,
    /// Sampling rate, per thousand.
    pub sample_per_mill: u32,
    /// Share of sampled jobs checked twice, per thousand.
    pub double_per_mill: u32,
    /// Verification pool.
    pub verification_pool: Balance,
    /// Everything held.
    pub total_held: Balance,
    /// Burned in total.
    pub total_burned: Balance,
}

/// The inference pallet.
pub struct Pallet<T>(core::marker::PhantomData<T>);

type Balances<T> = pallet_balances::Pallet<T>;
type Compute<T> = pallet_compute::Pallet<T>;
type Models<T> = pallet_models::Pallet<T>;
type Randomness<T> = pallet_randomness::Pallet<T>;

fn now<T: Config>() -> BlockNumber {
    pallet_system::Pallet::<T>::block_number()
}

fn push_bounded(list: &mut Vec<JobId>, id: JobId, max: usize) -> bool {
    if list.len() >= max {
        return false;
    }
    list.push(id);
    true
}

fn remove_id(list: &mut Vec<JobId>, id: JobId) {
    list.retain(|&j| j != id);
}

/// Whether `a`'s data length is exactly `sum(lens) * cols`, computed without overflow, and
/// its shape is otherwise valid. gpu-verify's `Activation::check_shape` multiplies the row
/// count and the width unchecked: crafted lengths panic in a build with overflow checks,
/// and wrap in a wasm32 release build (32-bit `usize`), where a job whose lengths add up
/// to `2^32 + 1` rows would pass as one row that no provider can run.
fn shape_fits(a: &Activation) -> bool {
    let len = match &a.data {
        ActData::Tokens(v) => v.len(),
        ActData::I8(v) => v.len(),
        ActData::I16(v) => v.len(),
    };
    let rows = a
        .lens
        .iter()
        .try_fold(0u64, |acc, &l| acc.checked_add(u64::from(l)));
    rows.and_then(|r| r.checked_mul(u64::from(a.cols))) == Some(len as u64)
        && a.check_shape().is_ok()
}

fn u32_at(r: &[u8; 32], at: usize) -> u32 {
    u32::from_le_bytes([r[at], r[at + 1], r[at + 2], r[at + 3]])
}

impl<T: Config> Pallet<T> {
    fn deposit_event(event: Event) {
        pallet_system::Pallet::<T>::deposit_event(<T as Config>::PALLET_INDEX, event.encode());
    }

    /// Applies the genesis settings.
    pub fn build_genesis(config: &GenesisConfig) {
        SamplePerMill::put(
            &config
                .sample_per_mill
                .unwrap_or(T::DEFAULT_SAMPLE_PER_MILL)
                .min(1000),
        );
        DoublePerMill::put(
            &config
                .double_per_mill
                .unwrap_or(T::DEFAULT_DOUBLE_PER_MILL)
                .min(1000),
        );
    }

    /// Sets the sampling rates (governance).
    pub fn set_sampling(sample_per_mill: u32, double_per_mill: u32) -> Result<(), Error> {
        ensure!(
            sample_per_mill <= 1000 && double_per_mill <= 1000,
            Error::RateAboveOne
        );
        SamplePerMill::put(&sample_per_mill);
        DoublePerMill::put(&double_per_mill);
        Self::deposit_event(Event::SamplingSet {
            sample_per_mill,
            double_per_mill,
        });
        Ok(())
    }

    fn sample_per_mill() -> u32 {
        SamplePerMill::get()
            .unwrap_or(T::DEFAULT_SAMPLE_PER_MILL)
            .min(1000)
    }

    fn double_per_mill() -> u32 {
        DoublePerMill::get()
            .unwrap_or(T::DEFAULT_DOUBLE_PER_MILL)
            .min(1000)
    }

    // ---- Money helpers ----

    fn hold(who: &AccountId, amount: Balance) -> Result<(), Error> {
        let total = TotalHeld::get_or_default()
            .checked_add(amount)
            .ok_or(Error::Overflow)?;
        Balances::<T>::hold(who, amount)?;
        TotalHeld::put(&total);
        Ok(())
    }

    /// Takes custody of funds another pallet released while keeping them held.
    fn adopt(amount: Balance) {
        TotalHeld::mutate(|t| *t = t.saturating_add(amount));
    }

    fn pay_out(who: &AccountId, amount: Balance) {
        if amount == 0 {
            return;
        }
        if Balances::<T>::release(who, amount).is_ok() {
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
        Balances::<T>::burn_held(amount);
    }

    fn note_account_job(who: &AccountId, id: JobId) {
        let mut list = AccountJobs::get_or_default(who);
        if list.len() >= MAX_LIST as usize {
            list.remove(0);
        }
        list.push(id);
        AccountJobs::insert(who, &list);
    }

    fn release_unsettled(provider: &AccountId, fee: Balance) {
        let left = Unsettled::get_or_default(provider).saturating_sub(fee);
        if left == 0 {
            Unsettled::remove(provider);
        } else {
            Unsettled::insert(provider, &left);
        }
    }

    fn remove_provider_job(provider: &AccountId, id: JobId) {
        let mut list = ProviderJobs::get_or_default(provider);
        remove_id(&mut list, id);
        if list.is_empty() {
            ProviderJobs::remove(provider);
        } else {
            ProviderJobs::insert(provider, &list);
        }
    }

    fn remove_verifier_job(verifier: &AccountId, id: JobId) {
        let mut list = VerifierJobs::get_or_default(verifier);
        remove_id(&mut list, id);
        if list.is_empty() {
            VerifierJobs::remove(verifier);
        } else {
            VerifierJobs::insert(verifier, &list);
        }
    }

    fn slash_verifier(who: &AccountId, job: JobId, per: u32, missed: bool) {
        let Some(mut v) = Verifiers::get(who) else {
            return;
        };
        let amount = per_mill(v.bond, per);
        v.bond -= amount;
        v.slashed = v.slashed.saturating_add(amount);
        if missed {
            v.missed = v.missed.saturating_add(1);
        }
        Verifiers::insert(who, &v);
        Self::burn(amount);
        Self::deposit_event(Event::VerifierSlashed {
            verifier: *who,
            job,
            amount,
            missed,
        });
    }

    // ---- Rules ----

    /// The value of jobs not yet closed that `collateral` secures: with sampling rate `q`
    /// and slash `S = CHEAT_SLASH_PER_MILL * collateral`, cheating on everything in flight
    /// is unprofitable while that value is at most `S * q / (1 - q)`.
    ///
    /// `S` is counted net of the challenger's share: a cheater may challenge its own job
    /// from another account and win that share back.
    pub fn capacity(collateral: Balance) -> Balance {
        let q = Self::sample_per_mill() as u128;
        if q >= 1000 {
            return Balance::MAX;
        }
        let slash = per_mill(collateral, T::CHEAT_SLASH_PER_MILL);
        let net = slash - per_mill(slash, T::CHALLENGER_SHARE_PER_MILL);
        mul_div(net, q, 1000 - q).unwrap_or(Balance::MAX)
    }

    /// The model's header as the registry records it: gpu-verify's kind and parameters,
    /// and the number of committed layers they give.
    fn header_of(info: &pallet_models::ModelInfo) -> Result<(u32, [u32; N_PARAMS], usize), Error> {
        let params: [u32; N_PARAMS] = info
            .shape
            .as_slice()
            .try_into()
            .map_err(|_| Error::UnsupportedModel)?;
        let kind = info.kind.code();
        let layers = layer::layer_count(kind, &params).map_err(|_| Error::UnsupportedModel)?;
        Ok((kind, params, layers))
    }

    /// Checks a job input against the model header.
    fn check_input(kind: u32, params: &[u32; N_PARAMS], input: &Activation) -> Result<(), Error> {
        ensure!(
            input.encoded_size() <= T::MAX_INPUT_BYTES as usize,
            Error::InputTooLarge
        );
        ensure!(shape_fits(input), Error::BadInput);
        match (kind, &input.data) {
            (gpu_verify_core::model::KIND_ENCODER, ActData::Tokens(ids)) => {
                ensure!(input.cols == 1, Error::BadInput);
                let (vocab, max_len) = (params[0], params[6]);
                ensure!(
                    input.lens.iter().all(|&l| l <= max_len),
                    Error::InputTooLong
                );
                ensure!(ids.iter().all(|&t| t < vocab), Error::BadInput);
            }
            (gpu_verify_core::model::KIND_MLP, ActData::I8(_)) => {
                ensure!(input.cols == params[1], Error::BadInput);
                ensure!(input.rows() <= params[2] as usize, Error::InputTooLong);
            }
            _ => return Err(Error::BadInput),
        }
        Ok(())
    }

    /// Whether `provider` can take a job of `price` now, at its collateral.
    fn has_room(provider: &AccountId, collateral: Balance, price: Balance) -> bool {
        Unsettled::get_or_default(provider)
            .checked_add(price)
            .is_some_and(|total| total <= Self::capacity(collateral))
    }

    fn verification_fee(price: Balance) -> Balance {
        per_mill(price, T::VERIFY_FEE_PER_MILL)
    }

    /// The providers that could take a job now, with their price and collateral.
    fn candidates(
        model: &ModelId,
        max_fee: Balance,
        royalty: Balance,
        client: &AccountId,
    ) -> Vec<(AccountId, Balance, Balance)> {
        ModelProviders::get_or_default(model)
            .into_iter()
            .filter(|p| p != client)
            .filter_map(|p| {
                let price = Prices::get(&(p, *model))?;
                let collateral = Compute::<T>::serving_collateral(&p, model)?;
                let covers = royalty
                    .checked_add(Self::verification_fee(price))
                    .is_some_and(|c| c <= price);
                (price <= max_fee && covers && Self::has_room(&p, collateral, price))
                    .then_some((p, price, collateral))
            })
            .collect()
    }

    // ---- Dispatch ----

    /// Dispatches a call.
    pub fn dispatch(origin: Origin, call: Call) -> DispatchResult {
        let who = match (origin, &call) {
            (Origin::Signed(who), _) => who,
            (
                Origin::Root,
                Call::SetSampling {
                    sample_per_mill,
                    double_per_mill,
                },
            ) => {
                return Self::set_sampling(*sample_per_mill, *double_per_mill)
                    .map_err(|e| e.into_dispatch_error(<T as Config>::PALLET_INDEX))
            }
            (Origin::Root, _) => return Err(bad_origin()),
        };
        let r = match call {
            Call::SetPrice { model, price } => Self::set_price(&who, model, price.0),
            Call::Submit {
                model,
                input,
                max_fee,
                provider,
            } => Self::submit(&who, model, input, max_fee.0, provider).map(|_| ()),
            Call::Commit {
                job,
                commitment,
                output,
            } => Self::commit(&who, job, commitment, output),
            Call::Attest { job, root } => Self::attest(&who, job, root),
            Call::Challenge {
                job,
                commitment,
                layer,
                input,
                weights,
            } => Self::challenge(&who, job, &commitment, layer, &input, &weights),
            Call::RegisterVerifier { bond } => Self::register_verifier(&who, bond.0),
            Call::LeaveVerifiers => Self::leave_verifiers(&who),
            Call::WithdrawBond => Self::withdraw_bond(&who),
            Call::Withdraw => Self::withdraw(&who).map(|_| ()),
            // Root only (above).
            Call::SetSampling { .. } => return Err(bad_origin()),
        };
        r.map_err(|e| e.into_dispatch_error(<T as Config>::PALLET_INDEX))
    }

    /// Work a call makes the runtime do beyond its bytes: for a challenge, the layer's
    /// multiply-accumulates plus the bytes it hashes ([`LayerWeights::work`]); zero for
    /// every other call. The runtime charges for it and bounds it per block.
    pub fn call_work(call: &Call) -> u64 {
        match call {
            Call::Challenge {
                layer,
                input,
                weights,
                ..
            } => weights.work(*layer as usize, &input.lens),
            _ => 0,
        }
    }

    /// Whether `work` still fits the block's dispute budget (reads only: a transaction
    /// refused for it must leave no trace in the block).
    pub fn work_fits(work: u64) -> bool {
        DisputeWork::get_or_default()
            .checked_add(work)
            .is_some_and(|total| total <= T::MAX_DISPUTE_WORK_PER_BLOCK)
    }

    /// Reserves `work` of the block's dispute budget; `false` (and nothing reserved) if
    /// the block is full.
    pub fn reserve_work(work: u64) -> bool {
        if !Self::work_fits(work) {
            return false;
        }
        DisputeWork::mutate(|w| *w = w.saturating_add(work));
        true
    }

    /// Sets `who`'s price for `model` (zero withdraws it).
    pub fn set_price(who: &AccountId, model: ModelId, price: Balance) -> Result<(), Error> {
        let mut providers = ModelProviders::get_or_default(&model);
        if price == 0 {
            ensure!(Prices::contains_key(&(*who, model)), Error::NotServing);
            Prices::remove(&(*who, model));
            providers.retain(|p| p != who);
        } else {
            ensure!(
                Compute::<T>::serving_collateral(who, &model).is_some(),
                Error::NotServing
            );
            if !providers.contains(who) {
                ensure!(providers.len() < MAX_PROVIDERS_PER_MODEL, Error::TooMany);
                providers.push(*who);
            }
            Prices::insert(&(*who, model), &price);
        }
        if providers.is_empty() {
            ModelProviders::remove(&model);
        } else {
            ModelProviders::insert(&model, &providers);
        }
        Self::deposit_event(Event::PriceSet {
            provider: *who,
            model,
            price,
        });
        Ok(())
    }

    /// Submits a job; returns its id.
    pub fn submit(
        who: &AccountId,
        model: ModelId,
        input: Activation,
        max_fee: Balance,
        provider: Option<AccountId>,
    ) -> Result<JobId, Error> {
        let info = Models::<T>::model(&model).ok_or(Error::UnknownModel)?;
        ensure!(!info.deprecated, Error::DeprecatedModel);
        let (kind, params, _) = Self::header_of(&info)?;
        Self::check_input(kind, &params, &input)?;
        let royalty = info.royalty_per_inference;
        let id = NextJobId::get_or_default();
        let n = now::<T>();
        let (provider, price) = match provider {
            Some(p) => {
                let price = Prices::get(&(p, model)).ok_or(Error::ProviderUnavailable)?;
                let collateral = Compute::<T>::serving_collateral(&p, &model)
                    .ok_or(Error::ProviderUnavailable)?;
                ensure!(price <= max_fee, Error::PriceAboveMaxFee);
                let costs = royalty
                    .checked_add(Self::verification_fee(price))
                    .ok_or(Error::Overflow)?;
                ensure!(costs <= price, Error::PriceBelowCosts);
                ensure!(
                    Self::has_room(&p, collateral, price),
                    Error::ProviderAtCapacity
                );
                (p, price)
            }
            None => {
                let c = Self::candidates(&model, max_fee, royalty, who);
                let total: Balance = c.iter().map(|(_, _, col)| *col).sum();
                ensure!(total > 0, Error::NoProvider);
                // Drawn from the beacon after the previous block (known before this
                // block was built): weighted by collateral.
                let mut purpose = b"menara/inference/assign".to_vec();
                purpose.extend_from_slice(&id.to_le_bytes());
                let r = Randomness::<T>::random_at(n.saturating_sub(1), &purpose)
                    .or_else(|| Randomness::<T>::random_at(n, &purpose))
                    .unwrap_or([0; 32]);
                let mut x = u128::from_le_bytes(r[..16].try_into().unwrap_or([0; 16])) % total;
                let mut chosen = c[0];
                for cand in c {
                    if x < cand.2 {
                        chosen = cand;
                        break;
                    }
                    x -= cand.2;
                }
                (chosen.0, chosen.1)
            }
        };
        let mut open = ProviderJobs::get_or_default(&provider);
        ensure!(
            push_bounded(&mut open, id, MAX_OPEN_PER_ACCOUNT),
            Error::TooMany
        );
        let unsettled = Unsettled::get_or_default(&provider)
            .checked_add(price)
            .ok_or(Error::Overflow)?;
        Self::hold(who, price)?;
        ProviderJobs::insert(&provider, &open);
        Unsettled::insert(&provider, &unsettled);
        let commit_by = n.saturating_add(T::COMMIT_BLOCKS);
        CommitDue::mutate(&commit_by, |l| l.push(id));
        let job = Job {
            client: *who,
            provider,
            model,
            input,
            fee: price,
            royalty,
            verification_fee: Self::verification_fee(price),
            submitted_at: n,
            commit_by,
            state: JobState::Pending,
            commitment: Vec::new(),
            root: H256::default(),
            output: None,
            committed_at: 0,
            window_ends: 0,
            checks: Vec::new(),
            challenges_rejected: 0,
            outcome: None,
            closed_at: 0,
        };
        Jobs::insert(&id, &job);
        NextJobId::put(&id.saturating_add(1));
        Self::note_account_job(who, id);
        if provider != *who {
            Self::note_account_job(&provider, id);
        }
        Self::deposit_event(Event::JobSubmitted {
            job: id,
            client: *who,
            provider,
            model,
            fee: price,
        });
        Ok(id)
    }

    /// Commits job `id`'s output and per-layer hashes.
    pub fn commit(
        who: &AccountId,
        id: JobId,
        commitment: Vec<H256>,
        output: Activation,
    ) -> Result<(), Error> {
        let mut job = Jobs::get(&id).ok_or(Error::UnknownJob)?;
        ensure!(job.provider == *who, Error::NotAssigned);
        ensure!(job.state == JobState::Pending, Error::NotPending);
        let info = Models::<T>::model(&job.model).ok_or(Error::UnknownModel)?;
        let (_, _, layers) = Self::header_of(&info)?;
        ensure!(commitment.len() == layers + 1, Error::BadCommitmentLength);
        ensure!(
            commitment.first().map(|h| h.0) == Some(activation_hash(&job.input)),
            Error::WrongInputHash
        );
        ensure!(
            output.encoded_size() <= MAX_OUTPUT_BYTES,
            Error::OutputTooLarge
        );
        ensure!(shape_fits(&output), Error::OutputMismatch);
        ensure!(
            commitment.last().map(|h| h.0) == Some(activation_hash(&output)),
            Error::OutputMismatch
        );
        let n = now::<T>();
        let leaves: Vec<[u8; 32]> = commitment.iter().map(|h| h.0).collect();
        job.root = H256(merkle_root(&leaves));
        job.commitment = commitment;
        job.output = Some(output);
        job.state = JobState::Committed;
        job.committed_at = n;
        job.window_ends = n.saturating_add(T::CHALLENGE_WINDOW);
        DrawDue::mutate(&n.saturating_add(1), |l| l.push(id));
        WindowEnds::mutate(&job.window_ends, |l| l.push(id));
        Self::remove_provider_job(who, id);
        Self::deposit_event(Event::JobCommitted {
            job: id,
            root: job.root,
        });
        Jobs::insert(&id, &job);
        Ok(())
    }

    /// An assigned verifier attests job `id`'s root.
    pub fn attest(who: &AccountId, id: JobId, root: H256) -> Result<(), Error> {
        let mut job = Jobs::get(&id).ok_or(Error::UnknownJob)?;
        ensure!(
            matches!(job.state, JobState::Sampled | JobState::Verified),
            Error::NotAwaitingVerification
        );
        let check = job
            .checks
            .iter_mut()
            .find(|c| c.verifier == *who && c.answer == CheckAnswer::Waiting)
            .ok_or(Error::NotAssignedVerifier)?;
        ensure!(root == job.root, Error::RootMismatch);
        check.answer = CheckAnswer::Agreed;
        if job.checks.iter().all(|c| c.answer != CheckAnswer::Waiting) {
            job.state = JobState::Verified;
        }
        Jobs::insert(&id, &job);
        Self::remove_verifier_job(who, id);
        if let Some(mut v) = Verifiers::get(who) {
            v.attested = v.attested.saturating_add(1);
            Verifiers::insert(who, &v);
        }
        Self::deposit_event(Event::Attested {
            job: id,
            verifier: *who,
        });
        Ok(())
    }

    /// Challenges job `id` and settles the dispute at once.
    pub fn challenge(
        who: &AccountId,
        id: JobId,
        commitment: &[H256],
        layer: u32,
        input: &Activation,
        weights: &LayerWeights,
    ) -> Result<(), Error> {
        let mut job = Jobs::get(&id).ok_or(Error::UnknownJob)?;
        match job.state {
            JobState::Pending => return Err(Error::NotCommitted),
            JobState::Settled => return Err(Error::AlreadySettled),
            JobState::Final | JobState::Expired => return Err(Error::WindowClosed),
            _ => {}
        }
        ensure!(now::<T>() <= job.window_ends, Error::WindowClosed);
        // A malformed activation is nobody's agreed input (and must not reach the engine).
        ensure!(shape_fits(input), Error::BadActivation);
        let provider: Vec<[u8; 32]> = job.commitment.iter().map(|h| h.0).collect();
        let challenger: Vec<[u8; 32]> = commitment.iter().map(|h| h.0).collect();
        let verdict = layer::settle_dispute(
            &job.model.0,
            &provider,
            &challenger,
            layer,
            input,
            weights,
            &pallet_compute::HostGemm,
        )
        .map_err(|e| match e {
            DisputeError::Commitment(_) => Error::BadChallengeCommitment,
            DisputeError::WrongLayer { .. } => Error::WrongLayer,
            DisputeError::Activation => Error::BadActivation,
            DisputeError::Weights(_) => Error::BadWeights,
            DisputeError::Execution(_) => Error::ReexecutionFailed,
        })?;
        Self::hold(who, T::CHALLENGE_BOND)?;
        // A verifier's challenge is its answer.
        if let Some(c) = job
            .checks
            .iter_mut()
            .find(|c| c.verifier == *who && c.answer == CheckAnswer::Waiting)
        {
            c.answer = CheckAnswer::Challenged;
            Self::remove_verifier_job(who, id);
        }
        if verdict.provider_right {
            let forfeited = T::CHALLENGE_BOND;
            let to_provider = forfeited / 2;
            Self::pay_out(&job.provider, to_provider);
            Self::burn(forfeited - to_provider);
            job.challenges_rejected = job.challenges_rejected.saturating_add(1);
            if job.state == JobState::Sampled
                && job.checks.iter().all(|c| c.answer != CheckAnswer::Waiting)
            {
                job.state = JobState::Verified;
            }
            Jobs::insert(&id, &job);
            Self::deposit_event(Event::ChallengeRejected {
                job: id,
                challenger: *who,
                layer,
                forfeited,
            });
            return Ok(());
        }
        // The provider committed a wrong output: slash, refund, reward, burn.
        let slashed = Compute::<T>::take_collateral(&job.provider, T::CHEAT_SLASH_PER_MILL, true);
        Self::adopt(slashed);
        Self::pay_out(&job.client, job.fee);
        Self::release_unsettled(&job.provider, job.fee);
        let reward = if verdict.challenger_right {
            Self::pay_out(who, T::CHALLENGE_BOND);
            per_mill(slashed, T::CHALLENGER_SHARE_PER_MILL)
        } else {
            Self::burn(T::CHALLENGE_BOND);
            0
        };
        Self::pay_out(who, reward);
        let burned = slashed - reward;
        Self::burn(burned);
        for c in job.checks.iter_mut() {
            match c.answer {
                CheckAnswer::Agreed => {
                    Self::slash_verifier(&c.verifier, id, T::VERIFIER_WRONG_PER_MILL, false)
                }
                CheckAnswer::Waiting => {
                    // Nothing left to check.
                    c.answer = CheckAnswer::Missed;
                    Self::remove_verifier_job(&c.verifier, id);
                }
                _ => {}
            }
        }
        job.state = JobState::Settled;
        job.closed_at = now::<T>();
        job.outcome = Some(Outcome::ProviderSlashed {
            layer,
            slashed,
            challenger: *who,
            reward,
            burned,
            refunded: job.fee,
        });
        Self::deposit_event(Event::ProviderSlashed {
            job: id,
            provider: job.provider,
            challenger: *who,
            layer,
            amount: slashed,
            reward,
            burned,
        });
        Jobs::insert(&id, &job);
        T::on_job_closed(id);
        Ok(())
    }

    /// Registers `who` as a verifier.
    pub fn register_verifier(who: &AccountId, bond: Balance) -> Result<(), Error> {
        ensure!(!Verifiers::contains_key(who), Error::AlreadyVerifier);
        ensure!(bond >= T::MIN_VERIFIER_BOND, Error::BondTooLow);
        Self::hold(who, bond)?;
        Verifiers::insert(
            who,
            &Verifier {
                bond,
                status: VerifierStatus::Active,
                attested: 0,
                missed: 0,
                slashed: 0,
                earned: 0,
            },
        );
        let slot = ActiveVerifierCount::get_or_default();
        ActiveVerifier::insert(&slot, who);
        VerifierSlot::insert(who, &slot);
        ActiveVerifierCount::put(&slot.saturating_add(1));
        Self::deposit_event(Event::VerifierRegistered {
            verifier: *who,
            bond,
        });
        Ok(())
    }

    /// `who` stops being drawn; its bond starts unbonding.
    pub fn leave_verifiers(who: &AccountId) -> Result<(), Error> {
        let mut v = Verifiers::get(who).ok_or(Error::NotVerifier)?;
        ensure!(v.status == VerifierStatus::Active, Error::AlreadyLeaving);
        v.status = VerifierStatus::Leaving { since: now::<T>() };
        Verifiers::insert(who, &v);
        // Swap-remove from the dense array.
        if let Some(slot) = VerifierSlot::get(who) {
            let last = ActiveVerifierCount::get_or_default().saturating_sub(1);
            if slot != last {
                if let Some(moved) = ActiveVerifier::get(&last) {
                    ActiveVerifier::insert(&slot, &moved);
                    VerifierSlot::insert(&moved, &slot);
                }
            }
            ActiveVerifier::remove(&last);
            VerifierSlot::remove(who);
            ActiveVerifierCount::put(&last);
        }
        Self::deposit_event(Event::VerifierLeft { verifier: *who });
        Ok(())
    }

    /// Returns a departed verifier's bond.
    pub fn withdraw_bond(who: &AccountId) -> Result<(), Error> {
        let v = Verifiers::get(who).ok_or(Error::NotVerifier)?;
        let VerifierStatus::Leaving { since } = v.status else {
            return Err(Error::NotUnbonded);
        };
        ensure!(
            now::<T>() >= since.saturating_add(T::VERIFIER_UNBONDING)
                && !VerifierJobs::contains_key(who),
            Error::NotUnbonded
        );
        Verifiers::remove(who);
        Self::pay_out(who, v.bond);
        Self::deposit_event(Event::BondWithdrawn {
            verifier: *who,
            amount: v.bond,
        });
        Ok(())
    }

    /// Withdraws `who`'s pending payouts.
    pub fn withdraw(who: &AccountId) -> Result<Balance, Error> {
        let amount = Pending::get_or_default(who);
        ensure!(amount > 0, Error::NothingToWithdraw);
        Balances::<T>::release(who, amount)?;
        Pending::remove(who);
        TotalHeld::mutate(|t| *t = t.saturating_sub(amount));
        Self::deposit_event(Event::Withdrawn { who: *who, amount });
        Ok(amount)
    }

    // ---- Hooks ----

    /// Called when block `n` starts (after the beacon was mixed in): draws which of the
    /// jobs committed in the block before are sampled, and their verifiers.
    pub fn on_initialize(n: BlockNumber) {
        DisputeWork::kill();
        let Some(ids) = DrawDue::get(&n) else {
            return;
        };
        DrawDue::remove(&n);
        for id in ids {
            let Some(mut job) = Jobs::get(&id) else {
                continue;
            };
            if job.state != JobState::Committed {
                continue;
            }
            let mut purpose = b"menara/inference/sample".to_vec();
            purpose.extend_from_slice(&id.to_le_bytes());
            let Some(r) = Randomness::<T>::random_at(n, &purpose) else {
                continue;
            };
            if u32_at(&r, 0) % 1000 >= Self::sample_per_mill() {
                continue;
            }
            let wanted = if u32_at(&r, 4) % 1000 < Self::double_per_mill() {
                2
            } else {
                1
            };
            let verifiers = Self::draw_verifiers(&r, wanted, &[job.provider, job.client]);
            if verifiers.is_empty() {
                continue;
            }
            for v in &verifiers {
                let mut list = VerifierJobs::get_or_default(v);
                if push_bounded(&mut list, id, MAX_OPEN_PER_ACCOUNT) {
                    VerifierJobs::insert(v, &list);
                    job.checks.push(Check {
                        verifier: *v,
                        answer: CheckAnswer::Waiting,
                    });
                }
            }
            if job.checks.is_empty() {
                continue;
            }
            job.state = JobState::Sampled;
            Self::deposit_event(Event::JobSampled {
                job: id,
                verifiers: job.checks.iter().map(|c| c.verifier).collect(),
            });
            Jobs::insert(&id, &job);
        }
    }

    /// Up to `wanted` distinct active verifiers, none of them in `exclude`, drawn from `r`.
    fn draw_verifiers(r: &[u8; 32], wanted: usize, exclude: &[AccountId]) -> Vec<AccountId> {
        let count = ActiveVerifierCount::get_or_default();
        let mut out: Vec<AccountId> = Vec::with_capacity(wanted);
        if count == 0 {
            return out;
        }
        // Each pick starts at its own random slot and walks on past the excluded and
        // already chosen (at most `exclude.len() + wanted` steps in practice).
        for k in 0..wanted.min(6) {
            let start = u32_at(r, 8 + 4 * k) % count;
            for i in 0..count {
                let slot = (start + i) % count;
                if let Some(v) = ActiveVerifier::get(&slot) {
                    if !exclude.contains(&v) && !out.contains(&v) {
                        out.push(v);
                        break;
                    }
                }
            }
        }
        out
    }

    /// Called when block `n` ends: expires jobs not committed in time and closes the
    /// windows ending now. Work is proportional to what is due in this block.
    pub fn on_finalize(n: BlockNumber) {
        DisputeWork::kill();
        if let Some(ids) = CommitDue::get(&n) {
            CommitDue::remove(&n);
            for id in ids {
                if let Some(job) = Jobs::get(&id) {
                    if job.state == JobState::Pending {
                        Self::expire(id, job);
                    }
                }
            }
        }
        if let Some(ids) = WindowEnds::get(&n) {
            WindowEnds::remove(&n);
            for id in ids {
                if let Some(job) = Jobs::get(&id) {
                    if job.state.challengeable() {
                        Self::finalize(id, job);
                    }
                }
            }
        }
    }

    fn expire(id: JobId, mut job: Job) {
        let penalty = Compute::<T>::take_collateral(&job.provider, T::MISS_SLASH_PER_MILL, false);
        Self::adopt(penalty);
        Self::pay_out(&job.client, job.fee.saturating_add(penalty));
        Self::release_unsettled(&job.provider, job.fee);
        Self::remove_provider_job(&job.provider, id);
        job.state = JobState::Expired;
        job.closed_at = now::<T>();
        job.outcome = Some(Outcome::Expired {
            refunded: job.fee,
            penalty,
        });
        Jobs::insert(&id, &job);
        T::on_job_closed(id);
        Self::deposit_event(Event::JobExpired { job: id, penalty });
    }

    fn finalize(id: JobId, mut job: Job) {
        // Verifiers that never answered lose part of their bond.
        let mut agreed: Vec<AccountId> = Vec::new();
        for c in job.checks.iter_mut() {
            match c.answer {
                CheckAnswer::Waiting => {
                    c.answer = CheckAnswer::Missed;
                    Self::remove_verifier_job(&c.verifier, id);
                    Self::slash_verifier(&c.verifier, id, T::VERIFIER_MISS_PER_MILL, true);
                }
                CheckAnswer::Agreed => agreed.push(c.verifier),
                // A challenge still open at the window's end was rejected: no reward.
                CheckAnswer::Challenged | CheckAnswer::Missed => {}
            }
        }
        // Royalty into the models pallet's custody; if the model is gone, to the provider.
        let mut royalty = job.royalty.min(job.fee);
        if royalty > 0 {
            if Models::<T>::credit_royalty_held(&job.model, royalty, &job.client).is_ok() {
                TotalHeld::mutate(|t| *t = t.saturating_sub(royalty));
            } else {
                royalty = 0;
            }
        }
        let verification_fee = job.verification_fee.min(job.fee - royalty);
        VerificationPool::mutate(|p| *p = p.saturating_add(verification_fee));
        let provider_paid = job.fee - royalty - verification_fee;
        Self::pay_out(&job.provider, provider_paid);
        Self::release_unsettled(&job.provider, job.fee);
        // The job's verifiers share what the pool collects per sampled job on average.
        let mut verifier_reward = 0;
        if !agreed.is_empty() {
            let q = Self::sample_per_mill().max(1) as u128;
            let due = mul_div(job.verification_fee, 1000, q).unwrap_or(Balance::MAX);
            let pool = VerificationPool::get_or_default();
            let total = due.min(pool);
            let each = total / agreed.len() as u128;
            for v in &agreed {
                Self::pay_out(v, each);
                if let Some(mut rec) = Verifiers::get(v) {
                    rec.earned = rec.earned.saturating_add(each);
                    Verifiers::insert(v, &rec);
                }
                Self::deposit_event(Event::VerifierRewarded {
                    verifier: *v,
                    job: id,
                    amount: each,
                });
            }
            verifier_reward = each * agreed.len() as u128;
            VerificationPool::put(&(pool - verifier_reward));
        }
        job.state = JobState::Final;
        job.closed_at = now::<T>();
        job.outcome = Some(Outcome::Paid {
            provider: provider_paid,
            royalty,
            verification_fee,
            verifier_reward,
        });
        Jobs::insert(&id, &job);
        T::on_job_closed(id);
        Self::deposit_event(Event::JobFinal {
            job: id,
            provider_paid,
            royalty,
            verification_fee,
        });
    }

    // ---- Queries ----

    /// Job `id`.
    pub fn job(id: JobId) -> Option<JobView> {
        Jobs::get(&id).map(|job| JobView { id, job })
    }

    /// The latest jobs of `who` (as client or provider), newest first.
    pub fn jobs_of(who: &AccountId, limit: u32) -> Vec<JobView> {
        AccountJobs::get_or_default(who)
            .into_iter()
            .rev()
            .take(limit.min(MAX_LIST) as usize)
            .filter_map(Self::job)
            .collect()
    }

    /// Jobs waiting for `provider`'s commitment.
    pub fn provider_jobs(provider: &AccountId) -> Vec<JobView> {
        ProviderJobs::get_or_default(provider)
            .into_iter()
            .filter_map(Self::job)
            .collect()
    }

    /// Sampled jobs waiting for `verifier`'s answer.
    pub fn verifier_jobs(verifier: &AccountId) -> Vec<JobView> {
        VerifierJobs::get_or_default(verifier)
            .into_iter()
            .filter_map(Self::job)
            .collect()
    }

    /// Verifier `who`.
    pub fn verifier(who: &AccountId) -> Option<VerifierView> {
        Verifiers::get(who).map(|verifier| VerifierView {
            account: *who,
            verifier,
            open_checks: VerifierJobs::get_or_default(who),
        })
    }

    /// The providers with a price for `model`.
    pub fn prices(model: &ModelId) -> Vec<PriceView> {
        ModelProviders::get_or_default(model)
            .into_iter()
            .filter_map(|p| {
                let price = Prices::get(&(p, *model))?;
                let collateral = pallet_compute::storage::Providers::get(&p)
                    .map(|x| x.collateral)
                    .unwrap_or(0);
                Some(PriceView {
                    provider: p,
                    price,
                    unsettled: Unsettled::get_or_default(&p),
                    capacity: Self::capacity(collateral),
                })
            })
            .collect()
    }

    /// Pending payouts of `who`.
    pub fn pending(who: &AccountId) -> Balance {
        Pending::get_or_default(who)
    }

    /// Totals.
    pub fn summary() -> InferenceSummary {
        InferenceSummary {
            jobs: NextJobId::get_or_default(),
            active_verifiers: ActiveVerifierCount::get_or_default(),
            sample_per_mill: Self::sample_per_mill(),
            double_per_mill: Self::double_per_mill(),
            verification_pool: VerificationPool::get_or_default(),
            total_held: TotalHeld::get_or_default(),
            total_burned: TotalBurned::get_or_default(),
        }
    }

    /// Everything this pallet holds ([`storage::TotalHeld`]).
    pub fn total_held() -> Balance {
        TotalHeld::get_or_default()
    }
}
