//! Governance pallet: stake-weighted referenda, each carrying one call that runs with Root
//! origin when it passes — a runtime upgrade (`System::SetCode`), a parameter change
//! ([`Call::SetParameter`], the inference pallet's sampling rates), cancelling a deferred
//! slash — and an emergency cancel by the validators.
//!
//! # Life of a referendum
//!
//! 1. **Propose.** An account with stake bonded to validators proposes an encoded call and
//!    holds a deposit (`PROPOSAL_DEPOSIT + DEPOSIT_PER_BYTE * call bytes`). The runtime
//!    checks the call first ([`Config::inspect_call`]): it must decode, and new runtime
//!    code must pass `set_code`'s checks (spec name, higher spec version, compiles and
//!    answers `Core_version`), so a bad upgrade is refused before anyone votes on it.
//! 2. **Vote** for `voting_period` blocks: aye or nay with bonded stake (all of it, or a
//!    stated part of it). A changed vote replaces the old one.
//! 3. **Close.** At the end it passes with a quorum (`QUORUM_PER_MILL` of all bonded stake
//!    voted) and more aye than nay; the deposit comes back either way.
//! 4. **Delay, then enact.** A passed referendum waits `enactment_delay` blocks, during
//!    which validators holding `EMERGENCY_CANCEL_PER_MILL` of the active set's stake can
//!    cancel it (the deposit is then burned). Then the runtime dispatches the call as Root
//!    and records its outcome; a runtime upgrade checks the code again then.
//!
//! # Voting power: staking's bonds and delegations
//!
//! Votes weigh stake bonded to validators' pools, read from the staking pallet (agent
//! pools do not vote). A validator's vote carries its own stake **and** the stake of its
//! delegators who have not voted; a delegator that votes takes its stake out of its
//! validators' votes (at once if they voted already, and out of their later votes).
//! Stake is counted as it is when the vote is cast: voting again refreshes it.
//!
//! The same stake cannot vote twice: moving bonded stake to another account takes the
//! unbonding period, which the runtime asserts outlasts the voting period even for stake
//! that starts unbonding in an epoch's last block, and stake that is unbonding does not
//! vote. The tally is kept as a running sum of the votes
//! (`ayes = sum of aye votes' own + carried stake`), a property the tests check.
//!
//! # Money
//!
//! Deposits leave the proposer's free balance ([`pallet_balances::Pallet::hold`]) and are
//! counted in [`storage::TotalHeld`] until released or burned, so
//! `total issuance = sum(free) + (other pallets' held funds) + TotalHeld`.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[cfg(test)]
mod tests;

use alloc::vec::Vec;
use menara_primitives::{AccountId, Balance, BlockNumber, DispatchError, H256};
use menara_support::codec::{Decode, Encode};
use menara_support::{
    ensure, ensure_signed, storage_item, DispatchResult, Origin, PalletError, StorageMap,
    StorageValue,
};
use pallet_staking::PoolKind;

/// Index of a referendum.
pub type ReferendumIndex = u32;

/// Configuration of the governance pallet.
pub trait Config: pallet_staking::Config {
    /// This pallet's index in the runtime.
    const PALLET_INDEX: u8;
    /// Deposit every proposal holds, plus [`Config::DEPOSIT_PER_BYTE`] per byte of its call.
    const PROPOSAL_DEPOSIT: Balance;
    /// Deposit per byte of a proposal's encoded call (runtime code is large).
    const DEPOSIT_PER_BYTE: Balance;
    /// Largest encoded call a proposal may carry.
    const MAX_CALL_SIZE: u32;
    /// Most referenda not yet over (voting, or passed and waiting for enactment).
    const MAX_LIVE: u32;
    /// Blocks a referendum is open for votes; a chain's genesis may shorten it.
    const VOTING_PERIOD: BlockNumber;
    /// Blocks between passing and enactment; a chain's genesis may shorten it (not to 0).
    const ENACTMENT_DELAY: BlockNumber;
    /// Share of all bonded stake that must vote, per thousand.
    const QUORUM_PER_MILL: u32;
    /// Share of the active validators' stake that cancels a passed referendum, per thousand.
    const EMERGENCY_CANCEL_PER_MILL: u32;
    /// Checks an encoded call a proposal carries: it must decode as a runtime call, and new
    /// runtime code must pass `set_code`'s checks. Errors are the failing pallet's own.
    fn inspect_call(call: &[u8]) -> Result<ProposalKind, DispatchError>;
    /// Smallest and largest value a governable parameter may be set to.
    fn parameter_range(parameter: Parameter) -> (u128, u128);
}

/// What a proposal does, as [`Config::inspect_call`] found it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum ProposalKind {
    /// Replaces the runtime code.
    #[codec(index = 0)]
    Upgrade {
        /// The new code's spec version.
        spec_version: u32,
        /// blake3 of the new code.
        code_hash: H256,
    },
    /// Any other call.
    #[codec(index = 1)]
    Call {
        /// Index of the pallet the call belongs to.
        pallet: u8,
        /// Index of the call in that pallet.
        call: u8,
    },
}

/// Where a referendum stands.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Status {
    /// Open for votes until `end`.
    #[codec(index = 0)]
    Ongoing,
    /// Passed; runs at `enact_at` unless cancelled first.
    #[codec(index = 1)]
    Passed {
        /// The block whose end runs the call.
        enact_at: BlockNumber,
    },
    /// Did not pass (no quorum, or not more aye than nay).
    #[codec(index = 2)]
    Rejected,
    /// Passed, then cancelled by the validators during its delay.
    #[codec(index = 3)]
    Cancelled,
    /// Its call ran.
    #[codec(index = 4)]
    Enacted {
        /// Whether the call succeeded.
        ok: bool,
    },
}

/// Stake voting each way.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct Tally {
    /// Stake voting aye.
    pub ayes: Balance,
    /// Stake voting nay.
    pub nays: Balance,
}

impl Tally {
    fn side(&mut self, aye: bool) -> &mut Balance {
        if aye {
            &mut self.ayes
        } else {
            &mut self.nays
        }
    }

    /// All stake that voted.
    pub fn turnout(&self) -> Balance {
        self.ayes.saturating_add(self.nays)
    }
}

/// A referendum.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Referendum {
    /// Who proposed it.
    pub proposer: AccountId,
    /// Its deposit, held.
    pub deposit: Balance,
    /// What its call does.
    pub kind: ProposalKind,
    /// blake3 of the encoded call.
    pub call_hash: H256,
    /// Length of the encoded call.
    pub call_len: u32,
    /// The block it was proposed in.
    pub submitted: BlockNumber,
    /// The last block votes are accepted in; it closes at the end of that block.
    pub end: BlockNumber,
    /// Where it stands.
    pub status: Status,
    /// The votes.
    pub tally: Tally,
}

/// A vote as stored.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Vote {
    /// Aye or nay.
    pub aye: bool,
    /// The voter's own stake counted.
    pub own: Balance,
    /// A validator's vote: its delegators' stake it carries (those that have not voted).
    pub carried: Balance,
    /// The voter's stake in other validators' pools, taken out of their votes.
    pub pulled: Vec<(AccountId, Balance)>,
}

impl Vote {
    /// All stake this vote counts.
    pub fn weight(&self) -> Balance {
        self.own.saturating_add(self.carried)
    }
}

/// Parameters governance may change (besides the calls of other pallets).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Parameter {
    /// Fee every transaction pays.
    #[codec(index = 0)]
    BaseFee,
    /// Fee per byte of a transaction.
    #[codec(index = 1)]
    ByteFee,
    /// Fee per unit of dispute work.
    #[codec(index = 2)]
    WorkFee,
}

impl Parameter {
    /// Every parameter.
    pub const ALL: [Parameter; 3] = [Parameter::BaseFee, Parameter::ByteFee, Parameter::WorkFee];

    /// Its name in the CLI (`base-fee`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Parameter::BaseFee => "base-fee",
            Parameter::ByteFee => "byte-fee",
            Parameter::WorkFee => "work-fee",
        }
    }
}

/// Genesis configuration.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct GenesisConfig {
    /// Voting period, if shorter than `VOTING_PERIOD` (test chains).
    pub voting_period: Option<BlockNumber>,
    /// Enactment delay, if shorter than `ENACTMENT_DELAY` (test chains); at least 1.
    pub enactment_delay: Option<BlockNumber>,
}

/// Storage items.
pub mod storage {
    use super::*;
    storage_item!(pub NextIndexPrefix: "Governance" / "NextIndex");
    storage_item!(pub ReferendaPrefix: "Governance" / "Referenda");
    storage_item!(pub CallsPrefix: "Governance" / "Calls");
    storage_item!(pub VotesPrefix: "Governance" / "Votes");
    storage_item!(pub PulledPrefix: "Governance" / "Pulled");
    storage_item!(pub EndingPrefix: "Governance" / "Ending");
    storage_item!(pub EnactingPrefix: "Governance" / "Enacting");
    storage_item!(pub CancelVotesPrefix: "Governance" / "CancelVotes");
    storage_item!(pub LivePrefix: "Governance" / "Live");
    storage_item!(pub TotalHeldPrefix: "Governance" / "TotalHeld");
    storage_item!(pub VotingPeriodPrefix: "Governance" / "VotingPeriod");
    storage_item!(pub EnactmentDelayPrefix: "Governance" / "EnactmentDelay");
    storage_item!(pub ParametersPrefix: "Governance" / "Parameters");

    /// Index the next referendum gets.
    pub type NextIndex = StorageValue<NextIndexPrefix, ReferendumIndex>;
    /// Every referendum, by index (kept after it ends, as the record of what was decided).
    pub type Referenda = StorageMap<ReferendaPrefix, ReferendumIndex, Referendum>;
    /// The encoded call of each referendum not yet over.
    pub type Calls = StorageMap<CallsPrefix, ReferendumIndex, Vec<u8>>;
    /// Votes by (referendum, voter).
    pub type Votes = StorageMap<VotesPrefix, (ReferendumIndex, AccountId), Vote>;
    /// Per (referendum, validator): stake of its pool whose owners voted themselves.
    pub type Pulled = StorageMap<PulledPrefix, (ReferendumIndex, AccountId), Balance>;
    /// Referenda whose voting ends at a block.
    pub type Ending = StorageMap<EndingPrefix, BlockNumber, Vec<ReferendumIndex>>;
    /// Referenda to enact at a block.
    pub type Enacting = StorageMap<EnactingPrefix, BlockNumber, Vec<ReferendumIndex>>;
    /// Active validators asking to cancel a passed referendum.
    pub type CancelVotes = StorageMap<CancelVotesPrefix, ReferendumIndex, Vec<AccountId>>;
    /// Referenda not yet over (voting, or passed and waiting).
    pub type Live = StorageValue<LivePrefix, u32>;
    /// Deposits held.
    pub type TotalHeld = StorageValue<TotalHeldPrefix, Balance>;
    /// Voting period of this chain (genesis).
    pub type VotingPeriod = StorageValue<VotingPeriodPrefix, BlockNumber>;
    /// Enactment delay of this chain (genesis).
    pub type EnactmentDelay = StorageValue<EnactmentDelayPrefix, BlockNumber>;
    /// Parameters governance has set (unset: the runtime's default).
    pub type Parameters = StorageMap<ParametersPrefix, Parameter, u128>;
}
use storage::*;

/// Calls.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Opens a referendum on `call` (a SCALE-encoded runtime call), holding the deposit.
    #[codec(index = 0)]
    Propose {
        /// The call to run with Root origin if it passes.
        call: Vec<u8>,
    },
    /// Votes on an ongoing referendum with bonded stake; replaces an earlier vote.
    #[codec(index = 1)]
    Vote {
        /// The referendum.
        referendum: ReferendumIndex,
        /// Aye (true) or nay.
        aye: bool,
        /// Stake to vote with (`None`: all bonded stake); at most what is bonded.
        stake: Option<Balance>,
    },
    /// An active validator asks to cancel a passed referendum before it is enacted.
    #[codec(index = 2)]
    EmergencyCancel {
        /// The referendum.
        referendum: ReferendumIndex,
    },
    /// Sets a governable parameter (Root only: a referendum's call).
    #[codec(index = 3)]
    SetParameter {
        /// Which.
        parameter: Parameter,
        /// Its new value, within [`Config::parameter_range`].
        value: u128,
    },
}

/// Events.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Event {
    /// A referendum opened.
    #[codec(index = 0)]
    Proposed {
        /// Its index.
        referendum: ReferendumIndex,
        /// Who proposed it.
        proposer: AccountId,
        /// What it does.
        kind: ProposalKind,
        /// The last block of voting.
        end: BlockNumber,
    },
    /// A vote was cast or changed.
    #[codec(index = 1)]
    Voted {
        /// The referendum.
        referendum: ReferendumIndex,
        /// The voter.
        voter: AccountId,
        /// Aye or nay.
        aye: bool,
        /// Stake the vote counts (own and carried).
        weight: Balance,
    },
    /// Voting ended and the referendum passed.
    #[codec(index = 2)]
    Passed {
        /// The referendum.
        referendum: ReferendumIndex,
        /// The final tally.
        tally: Tally,
        /// When it will be enacted.
        enact_at: BlockNumber,
    },
    /// Voting ended and the referendum did not pass.
    #[codec(index = 3)]
    Rejected {
        /// The referendum.
        referendum: ReferendumIndex,
        /// The final tally.
        tally: Tally,
        /// Whether enough stake voted.
        quorum: bool,
    },
    /// An active validator asked to cancel a passed referendum.
    #[codec(index = 4)]
    CancelVoted {
        /// The referendum.
        referendum: ReferendumIndex,
        /// The validator.
        validator: AccountId,
    },
    /// Validators cancelled a passed referendum; its deposit was burned.
    #[codec(index = 5)]
    Cancelled {
        /// The referendum.
        referendum: ReferendumIndex,
    },
    /// A passed referendum's call ran with Root origin.
    #[codec(index = 6)]
    Enacted {
        /// The referendum.
        referendum: ReferendumIndex,
        /// Its outcome.
        result: Result<(), DispatchError>,
    },
    /// A parameter was changed.
    #[codec(index = 7)]
    ParameterSet {
        /// Which.
        parameter: Parameter,
        /// The new value.
        value: u128,
    },
}

/// Errors.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Error {
    /// No referendum has this index.
    #[codec(index = 0)]
    UnknownReferendum,
    /// The proposal's call does not decode as a runtime call.
    #[codec(index = 1)]
    UndecodableCall,
    /// The proposal's call is larger than `MAX_CALL_SIZE`.
    #[codec(index = 2)]
    CallTooLarge,
    /// Too many referenda are live; wait for one to end.
    #[codec(index = 3)]
    TooManyReferenda,
    /// The account has no stake bonded to a validator.
    #[codec(index = 4)]
    NoStake,
    /// The vote states more stake than the voter has bonded.
    #[codec(index = 5)]
    InsufficientStake,
    /// A vote of zero stake.
    #[codec(index = 6)]
    ZeroStake,
    /// The referendum is not open for votes (voting ended, or it was decided).
    #[codec(index = 7)]
    VotingClosed,
    /// The referendum is not passed and waiting for enactment.
    #[codec(index = 8)]
    NotPassed,
    /// Only a validator of the active set may ask for an emergency cancel.
    #[codec(index = 9)]
    NotActiveValidator,
    /// This validator already asked to cancel it.
    #[codec(index = 10)]
    DuplicateCancelVote,
    /// The proposer cannot hold the deposit.
    #[codec(index = 11)]
    InsufficientBalance,
    /// The value is outside the parameter's range.
    #[codec(index = 12)]
    ParameterOutOfRange,
}
menara_support::impl_pallet_error!(Error, {
    UnknownReferendum,
    UndecodableCall,
    CallTooLarge,
    TooManyReferenda,
    NoStake,
    InsufficientStake,
    ZeroStake,
    VotingClosed,
    NotPassed,
    NotActiveValidator,
    DuplicateCancelVote,
    InsufficientBalance,
    ParameterOutOfRange,
});

/// A referendum as the `governance_referenda` query returns it.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ReferendumView {
    /// Its index.
    pub index: ReferendumIndex,
    /// The referendum.
    pub referendum: Referendum,
    /// Turnout it needs to pass (quorum of all bonded stake now).
    pub quorum: Balance,
    /// Validators asking to cancel it.
    pub cancel_votes: Vec<AccountId>,
    /// Their share of the active set's stake, per thousand.
    pub cancel_per_mill: u32,
}

/// The pallet.
pub struct Pallet<T>(core::marker::PhantomData<T>);

impl<T: Config> Pallet<T> {
    fn err(e: Error) -> DispatchError {
        e.into_dispatch_error(<T as Config>::PALLET_INDEX)
    }

    fn deposit_event(event: Event) {
        pallet_system::Pallet::<T>::deposit_event(<T as Config>::PALLET_INDEX, event.encode());
    }

    /// Records the genesis periods (never longer than the configured ones).
    pub fn build_genesis(config: &GenesisConfig) {
        VotingPeriod::put(
            &config
                .voting_period
                .unwrap_or(T::VOTING_PERIOD)
                .clamp(1, T::VOTING_PERIOD),
        );
        EnactmentDelay::put(
            &config
                .enactment_delay
                .unwrap_or(T::ENACTMENT_DELAY)
                .clamp(1, T::ENACTMENT_DELAY),
        );
    }

    /// This chain's voting period.
    pub fn voting_period() -> BlockNumber {
        VotingPeriod::get().unwrap_or(T::VOTING_PERIOD)
    }

    /// This chain's enactment delay.
    pub fn enactment_delay() -> BlockNumber {
        EnactmentDelay::get().unwrap_or(T::ENACTMENT_DELAY).max(1)
    }

    /// The value governance set for `parameter`, if it did.
    pub fn parameter(parameter: Parameter) -> Option<u128> {
        Parameters::get(&parameter)
    }

    /// Deposits held.
    pub fn total_held() -> Balance {
        TotalHeld::get_or_default()
    }

    /// Dispatches a call.
    pub fn dispatch(origin: Origin, call: Call) -> DispatchResult {
        match call {
            Call::Propose { call } => Self::propose(&ensure_signed(origin)?, call),
            Call::Vote {
                referendum,
                aye,
                stake,
            } => Self::vote(&ensure_signed(origin)?, referendum, aye, stake),
            Call::EmergencyCancel { referendum } => {
                Self::emergency_cancel(&ensure_signed(origin)?, referendum)
            }
            Call::SetParameter { parameter, value } => match origin {
                Origin::Root => Self::set_parameter(parameter, value).map_err(Self::err),
                Origin::Signed(_) => Err(menara_support::dispatch::bad_origin()),
            },
        }
    }

    /// Opens a referendum on the encoded `call`.
    pub fn propose(who: &AccountId, call: Vec<u8>) -> DispatchResult {
        ensure!(
            call.len() <= T::MAX_CALL_SIZE as usize,
            Self::err(Error::CallTooLarge)
        );
        ensure!(Self::bonded_stake(who).0 > 0, Self::err(Error::NoStake));
        ensure!(
            Live::get_or_default() < T::MAX_LIVE,
            Self::err(Error::TooManyReferenda)
        );
        let kind = T::inspect_call(&call)?;
        let deposit = T::PROPOSAL_DEPOSIT
            .saturating_add(T::DEPOSIT_PER_BYTE.saturating_mul(call.len() as Balance));
        pallet_balances::Pallet::<T>::hold(who, deposit)
            .map_err(|_| Self::err(Error::InsufficientBalance))?;
        TotalHeld::mutate(|h| *h = h.saturating_add(deposit));
        let index = NextIndex::get_or_default();
        NextIndex::put(&index.saturating_add(1));
        let now = pallet_system::Pallet::<T>::block_number();
        let end = now.saturating_add(Self::voting_period());
        Referenda::insert(
            &index,
            &Referendum {
                proposer: *who,
                deposit,
                kind: kind.clone(),
                call_hash: H256(menara_support::io::hashing::blake3_256(&call)),
                call_len: call.len() as u32,
                submitted: now,
                end,
                status: Status::Ongoing,
                tally: Tally::default(),
            },
        );
        Calls::insert(&index, &call);
        Ending::mutate(&end, |list| list.push(index));
        Live::mutate(|n| *n = n.saturating_add(1));
        Self::deposit_event(Event::Proposed {
            referendum: index,
            proposer: *who,
            kind,
            end,
        });
        Ok(())
    }

    /// `who`'s stake bonded to validators' pools, and each such delegation (its self-bond
    /// included when it is a validator).
    pub fn bonded_stake(who: &AccountId) -> (Balance, Vec<(AccountId, Balance)>) {
        let delegations: Vec<(AccountId, Balance)> =
            pallet_staking::Pallet::<T>::delegations_of(who)
                .into_iter()
                .filter(|d| Self::validator_pool(&d.validator).is_some() && d.value > 0)
                .map(|d| (d.validator, d.value))
                .collect();
        let total = delegations
            .iter()
            .fold(0u128, |sum, (_, v)| sum.saturating_add(*v));
        (total, delegations)
    }

    /// The stake in `who`'s pool, when it is a validator's.
    fn validator_pool(who: &AccountId) -> Option<Balance> {
        pallet_staking::storage::Validators::get(who)
            .filter(|info| matches!(info.kind, PoolKind::Validator { .. }))
            .map(|info| info.total_stake)
    }

    /// Votes on `index` (see the module docs for how stake is counted).
    pub fn vote(
        who: &AccountId,
        index: ReferendumIndex,
        aye: bool,
        stake: Option<Balance>,
    ) -> DispatchResult {
        let mut referendum = Referenda::get(&index).ok_or(Self::err(Error::UnknownReferendum))?;
        let now = pallet_system::Pallet::<T>::block_number();
        ensure!(
            referendum.status == Status::Ongoing && now <= referendum.end,
            Self::err(Error::VotingClosed)
        );
        let (bonded, delegations) = Self::bonded_stake(who);
        ensure!(bonded > 0, Self::err(Error::NoStake));
        let own = stake.unwrap_or(bonded);
        ensure!(own > 0, Self::err(Error::ZeroStake));
        ensure!(own <= bonded, Self::err(Error::InsufficientStake));

        let pulled = match Votes::get(&(index, *who)) {
            Some(previous) => {
                // A changed vote replaces the old one; its pulls stay as they were.
                let side = referendum.tally.side(previous.aye);
                *side = side.saturating_sub(previous.weight());
                previous.pulled
            }
            None => {
                // This voter's stake in other validators' pools now votes here, not with
                // those validators.
                let mut pulled = Vec::new();
                for (validator, value) in delegations {
                    if validator == *who {
                        continue;
                    }
                    Pulled::mutate(&(index, validator), |p| *p = p.saturating_add(value));
                    if let Some(mut theirs) = Votes::get(&(index, validator)) {
                        let cut = value.min(theirs.carried);
                        theirs.carried -= cut;
                        let side = referendum.tally.side(theirs.aye);
                        *side = side.saturating_sub(cut);
                        Votes::insert(&(index, validator), &theirs);
                    }
                    pulled.push((validator, value));
                }
                pulled
            }
        };
        // A validator's vote carries its delegators' stake, less theirs that voted itself.
        let carried = Self::validator_pool(who).map_or(0, |total| {
            total
                .saturating_sub(pallet_staking::Pallet::<T>::stake_in_pool(who, who))
                .saturating_sub(Pulled::get_or_default(&(index, *who)))
        });
        let vote = Vote {
            aye,
            own,
            carried,
            pulled,
        };
        let weight = vote.weight();
        let side = referendum.tally.side(aye);
        *side = side.saturating_add(weight);
        Votes::insert(&(index, *who), &vote);
        Referenda::insert(&index, &referendum);
        Self::deposit_event(Event::Voted {
            referendum: index,
            voter: *who,
            aye,
            weight,
        });
        Ok(())
    }

    /// The turnout a referendum needs now.
    pub fn quorum() -> Balance {
        pallet_staking::math::per_mill(
            pallet_staking::Pallet::<T>::total_bonded(),
            T::QUORUM_PER_MILL,
        )
    }

    /// Share of the active set's stake behind `validators`, per thousand.
    fn active_share_per_mill(validators: &[AccountId]) -> u32 {
        let active = pallet_staking::Pallet::<T>::active_set();
        let total = active
            .iter()
            .fold(0u128, |sum, (_, stake)| sum.saturating_add(*stake));
        let behind = active
            .iter()
            .filter(|(v, _)| validators.contains(v))
            .fold(0u128, |sum, (_, stake)| sum.saturating_add(*stake));
        if total == 0 {
            return 0;
        }
        pallet_staking::math::mul_div(behind, 1000, total).map_or(1000, |s| s.min(1000) as u32)
    }

    /// An active validator asks to cancel passed referendum `index`; it is cancelled once
    /// those asking hold `EMERGENCY_CANCEL_PER_MILL` of the active set's stake.
    pub fn emergency_cancel(who: &AccountId, index: ReferendumIndex) -> DispatchResult {
        let mut referendum = Referenda::get(&index).ok_or(Self::err(Error::UnknownReferendum))?;
        ensure!(
            matches!(referendum.status, Status::Passed { .. }),
            Self::err(Error::NotPassed)
        );
        ensure!(
            pallet_staking::Pallet::<T>::active_set()
                .iter()
                .any(|(v, _)| v == who),
            Self::err(Error::NotActiveValidator)
        );
        let mut voters = CancelVotes::get(&index).unwrap_or_default();
        ensure!(!voters.contains(who), Self::err(Error::DuplicateCancelVote));
        voters.push(*who);
        Self::deposit_event(Event::CancelVoted {
            referendum: index,
            validator: *who,
        });
        if Self::active_share_per_mill(&voters) >= T::EMERGENCY_CANCEL_PER_MILL {
            // A harmful proposal costs its deposit.
            referendum.status = Status::Cancelled;
            Referenda::insert(&index, &referendum);
            Self::end(index, &referendum, false);
            CancelVotes::remove(&index);
            Self::deposit_event(Event::Cancelled { referendum: index });
        } else {
            CancelVotes::insert(&index, &voters);
        }
        Ok(())
    }

    /// Ends a referendum's life: its call goes, and its deposit is released or burned.
    fn end(index: ReferendumIndex, referendum: &Referendum, release: bool) {
        Calls::remove(&index);
        Live::mutate(|n| *n = n.saturating_sub(1));
        TotalHeld::mutate(|h| *h = h.saturating_sub(referendum.deposit));
        if release {
            if pallet_balances::Pallet::<T>::release(&referendum.proposer, referendum.deposit)
                .is_err()
            {
                // Cannot happen (the deposit is far above the existential deposit);
                // burned rather than lost from the books.
                pallet_balances::Pallet::<T>::burn_held(referendum.deposit);
            }
        } else {
            pallet_balances::Pallet::<T>::burn_held(referendum.deposit);
        }
    }

    fn set_parameter(parameter: Parameter, value: u128) -> Result<(), Error> {
        let (min, max) = T::parameter_range(parameter);
        ensure!((min..=max).contains(&value), Error::ParameterOutOfRange);
        Parameters::insert(&parameter, &value);
        Self::deposit_event(Event::ParameterSet { parameter, value });
        Ok(())
    }

    /// End of block `now`: closes the votes ending now and returns the passed referenda
    /// due now with their calls, for the runtime to dispatch with Root origin (and report
    /// each outcome with [`Self::note_enacted`]).
    pub fn on_finalize(now: BlockNumber) -> Vec<(ReferendumIndex, Vec<u8>)> {
        for index in Ending::get(&now).unwrap_or_default() {
            Self::close(index, now);
        }
        Ending::remove(&now);
        let mut due = Vec::new();
        for index in Enacting::get(&now).unwrap_or_default() {
            let Some(referendum) = Referenda::get(&index) else {
                continue;
            };
            // A cancelled referendum is never enacted.
            if referendum.status != (Status::Passed { enact_at: now }) {
                continue;
            }
            let call = Calls::get(&index).unwrap_or_default();
            Self::end(index, &referendum, true);
            CancelVotes::remove(&index);
            due.push((index, call));
        }
        Enacting::remove(&now);
        due
    }

    fn close(index: ReferendumIndex, now: BlockNumber) {
        let Some(mut referendum) = Referenda::get(&index) else {
            return;
        };
        if referendum.status != Status::Ongoing {
            return;
        }
        let tally = referendum.tally;
        let quorum = tally.turnout() >= Self::quorum() && tally.turnout() > 0;
        if quorum && tally.ayes > tally.nays {
            let enact_at = now.saturating_add(Self::enactment_delay());
            referendum.status = Status::Passed { enact_at };
            Referenda::insert(&index, &referendum);
            Enacting::mutate(&enact_at, |list| list.push(index));
            Self::deposit_event(Event::Passed {
                referendum: index,
                tally,
                enact_at,
            });
        } else {
            referendum.status = Status::Rejected;
            Referenda::insert(&index, &referendum);
            Self::end(index, &referendum, true);
            Self::deposit_event(Event::Rejected {
                referendum: index,
                tally,
                quorum,
            });
        }
    }

    /// Records the outcome of an enacted referendum's call.
    pub fn note_enacted(index: ReferendumIndex, result: DispatchResult) {
        if let Some(mut referendum) = Referenda::get(&index) {
            referendum.status = Status::Enacted { ok: result.is_ok() };
            Referenda::insert(&index, &referendum);
        }
        Self::deposit_event(Event::Enacted {
            referendum: index,
            result,
        });
    }

    // ------------------------------------------------------------------ queries

    /// One referendum with what it needs.
    pub fn referendum(index: ReferendumIndex) -> Option<ReferendumView> {
        let referendum = Referenda::get(&index)?;
        let cancel_votes = CancelVotes::get(&index).unwrap_or_default();
        Some(ReferendumView {
            index,
            referendum,
            quorum: Self::quorum(),
            cancel_per_mill: Self::active_share_per_mill(&cancel_votes),
            cancel_votes,
        })
    }

    /// Up to `limit` referenda, newest first, starting below `before` (all: `None`).
    pub fn referenda(before: Option<ReferendumIndex>, limit: u32) -> Vec<ReferendumView> {
        let top = before.unwrap_or_else(NextIndex::get_or_default);
        (0..top)
            .rev()
            .take(limit as usize)
            .filter_map(Self::referendum)
            .collect()
    }

    /// `who`'s vote on `index`.
    pub fn vote_of(index: ReferendumIndex, who: &AccountId) -> Option<Vote> {
        Votes::get(&(index, *who))
    }

    /// The encoded call of a referendum not yet over.
    pub fn call_of(index: ReferendumIndex) -> Option<Vec<u8>> {
        Calls::get(&index)
    }
}
