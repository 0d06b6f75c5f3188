//! Offences pallet: equivocation reports, checked entirely in the runtime.
//!
//! Any account may report (paying the normal fee) that a validator signed two conflicting
//! consensus messages for one height, round and step: two prevotes or two precommits for
//! different blocks (nil included), or two different proposals. The runtime checks
//! everything itself: the offender's BLS key is in the session pallet's validator set, both
//! messages are canonical signing bytes of the consensus crate (see [`ConsensusMessage`])
//! for this chain (its genesis hash), they are for the same slot but differ, and both BLS
//! signatures verify against the offender's key. A valid report is stored as an
//! [`OffenceRecord`] under its [`OffenceSlot`]; a second report of the same slot is refused,
//! so one offence is counted once.
//!
//! Nothing is slashed here: the staking issue reads these records and slashes (and prunes
//! them). Until the set changes at epoch boundaries, evidence is checked against the
//! current set; the staking issue will have to keep the keys of recent sets for that.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use menara_primitives::{
    AccountId, BlockNumber, EquivocationProof, SignedConsensusMessage, BLS_PUBLIC_KEY_LEN, H256,
};
use menara_support::codec::{Decode, DecodeAll, Encode};
use menara_support::{
    ensure, ensure_signed, io, storage_item, DispatchResult, Origin, PalletError, StorageMap,
};

/// Domain tag of vote signing bytes (the consensus crate's `VOTE_DOMAIN`).
pub const VOTE_DOMAIN: [u8; 12] = *b"menara/vote1";
/// Domain tag of proposal signing bytes (the consensus crate's `PROPOSAL_DOMAIN`).
pub const PROPOSAL_DOMAIN: [u8; 12] = *b"menara/prop1";

/// Configuration of the offences pallet.
pub trait Config: pallet_session::Config {
    /// This pallet's index in the runtime.
    const PALLET_INDEX: u8;
}

/// The step of a round a consensus message belongs to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Encode, Decode)]
pub enum Step {
    /// The proposal.
    #[codec(index = 0)]
    Propose,
    /// The first vote.
    #[codec(index = 1)]
    Prevote,
    /// The second vote.
    #[codec(index = 2)]
    Precommit,
}

/// A vote's kind, as encoded in its signing bytes (the consensus crate's `VoteKind`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum VoteKind {
    /// Prevote.
    #[codec(index = 1)]
    Prevote,
    /// Precommit.
    #[codec(index = 2)]
    Precommit,
}

/// A consensus message as its canonical signing bytes decode. The two forms are those of
/// the consensus crate (`vote_signing_bytes`, `ProposalHeader::signing_bytes`):
///
/// - vote: SCALE(`b"menara/vote1"`, chain `[u8; 32]`, height `u64`, round `u32`,
///   kind (1 = prevote, 2 = precommit), block `Option<H256>`);
/// - proposal: SCALE(`b"menara/prop1"`, chain, height, round, block hash `H256`,
///   valid round `Option<u32>`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConsensusMessage {
    /// A prevote or precommit.
    Vote {
        /// Chain id (genesis hash).
        chain: [u8; 32],
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// Prevote or precommit.
        kind: VoteKind,
        /// The block voted for, or nil.
        block: Option<H256>,
    },
    /// A proposal header.
    Proposal {
        /// Chain id (genesis hash).
        chain: [u8; 32],
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// The proposed block.
        block_hash: H256,
        /// Round of the proof of lock, when re-proposing.
        valid_round: Option<u32>,
    },
}

impl ConsensusMessage {
    /// Decodes canonical signing bytes; `None` for anything else (unknown domain tag,
    /// bad encoding, trailing bytes).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let domain = bytes.get(..12)?;
        if domain == VOTE_DOMAIN {
            let (_, chain, height, round, kind, block) =
                <([u8; 12], [u8; 32], u64, u32, VoteKind, Option<H256>)>::decode_all(
                    &mut &bytes[..],
                )
                .ok()?;
            Some(ConsensusMessage::Vote {
                chain,
                height,
                round,
                kind,
                block,
            })
        } else if domain == PROPOSAL_DOMAIN {
            let (_, chain, height, round, block_hash, valid_round) =
                <([u8; 12], [u8; 32], u64, u32, H256, Option<u32>)>::decode_all(&mut &bytes[..])
                    .ok()?;
            Some(ConsensusMessage::Proposal {
                chain,
                height,
                round,
                block_hash,
                valid_round,
            })
        } else {
            None
        }
    }

    /// The chain id it is bound to.
    pub fn chain(&self) -> &[u8; 32] {
        match self {
            ConsensusMessage::Vote { chain, .. } | ConsensusMessage::Proposal { chain, .. } => {
                chain
            }
        }
    }

    /// Its height, round and step.
    pub fn slot(&self) -> (u64, u32, Step) {
        match *self {
            ConsensusMessage::Vote {
                height,
                round,
                kind,
                ..
            } => (
                height,
                round,
                match kind {
                    VoteKind::Prevote => Step::Prevote,
                    VoteKind::Precommit => Step::Precommit,
                },
            ),
            ConsensusMessage::Proposal { height, round, .. } => (height, round, Step::Propose),
        }
    }
}

/// What an offence is stored under: one per validator, height, round and step.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Encode, Decode)]
pub struct OffenceSlot {
    /// The offender's account.
    pub offender: AccountId,
    /// Height of the conflicting messages.
    pub height: u64,
    /// Their round.
    pub round: u32,
    /// Their step.
    pub step: Step,
}

/// A recorded offence (the staking issue slashes from these).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct OffenceRecord {
    /// The offender's account.
    pub offender: AccountId,
    /// Who reported it.
    pub reporter: AccountId,
    /// The block the report was included in.
    pub reported_in: BlockNumber,
}

/// Storage items.
pub mod storage {
    use super::*;
    storage_item!(pub OffencesPrefix: "Offences" / "Offences");
    /// Every reported offence, by slot.
    pub type Offences = StorageMap<OffencesPrefix, OffenceSlot, OffenceRecord>;
}
use storage::*;

/// Calls.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Reports that a validator signed two conflicting consensus messages. Any signed
    /// account may report; the reporter pays the normal fee, also when the report fails.
    #[codec(index = 0)]
    ReportEquivocation {
        /// The two signed messages and the offender's key.
        proof: EquivocationProof,
    },
}

/// Events.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Event {
    /// A validator's equivocation was proven and recorded.
    #[codec(index = 0)]
    EquivocationReported {
        /// The offender's account.
        offender: AccountId,
        /// Height of the offence.
        height: u64,
        /// Round of the offence.
        round: u32,
        /// Who reported it.
        reporter: AccountId,
    },
}

/// Errors.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Error {
    /// The offender's key is not in the validator set.
    #[codec(index = 0)]
    UnknownOffender,
    /// A message's signed bytes are not a canonical vote or proposal.
    #[codec(index = 1)]
    MalformedMessage,
    /// A message is for another chain (not this chain's genesis hash).
    #[codec(index = 2)]
    DifferentChain,
    /// The messages are not of one form, height, round and step, or are the same.
    #[codec(index = 3)]
    NotConflicting,
    /// A signature does not verify against the offender's key.
    #[codec(index = 4)]
    BadSignature,
    /// This offence (offender, height, round, step) was already reported.
    #[codec(index = 5)]
    DuplicateReport,
}

menara_support::impl_pallet_error!(Error, {
    UnknownOffender,
    MalformedMessage,
    DifferentChain,
    NotConflicting,
    BadSignature,
    DuplicateReport,
});

/// The pallet.
pub struct Pallet<T>(core::marker::PhantomData<T>);

impl<T: Config> Pallet<T> {
    /// Checks `proof` against the current validator set and this chain, returning the
    /// slot it proves an offence for. Changes nothing.
    pub fn check(proof: &EquivocationProof) -> Result<OffenceSlot, Error> {
        let offender = pallet_session::Pallet::<T>::validator_by_key(&proof.offender)
            .ok_or(Error::UnknownOffender)?;
        let first =
            ConsensusMessage::decode(&proof.first.signing_bytes).ok_or(Error::MalformedMessage)?;
        let second =
            ConsensusMessage::decode(&proof.second.signing_bytes).ok_or(Error::MalformedMessage)?;
        let chain = pallet_system::Pallet::<T>::genesis_hash().ok_or(Error::DifferentChain)?;
        ensure!(
            first.chain() == &chain.0 && second.chain() == &chain.0,
            Error::DifferentChain
        );
        let same_form = matches!(
            (&first, &second),
            (ConsensusMessage::Vote { .. }, ConsensusMessage::Vote { .. })
                | (
                    ConsensusMessage::Proposal { .. },
                    ConsensusMessage::Proposal { .. }
                )
        );
        ensure!(
            same_form && first.slot() == second.slot() && first != second,
            Error::NotConflicting
        );
        ensure!(
            Self::signed_by(&proof.first, &proof.offender)
                && Self::signed_by(&proof.second, &proof.offender),
            Error::BadSignature
        );
        let (height, round, step) = first.slot();
        Ok(OffenceSlot {
            offender: offender.account,
            height,
            round,
            step,
        })
    }

    fn signed_by(message: &SignedConsensusMessage, key: &[u8; BLS_PUBLIC_KEY_LEN]) -> bool {
        io::bls12381_verify(key, &message.signing_bytes, &message.signature)
    }

    /// Checks and records an equivocation reported by `reporter`.
    pub fn report_equivocation(
        reporter: AccountId,
        proof: &EquivocationProof,
    ) -> Result<(), Error> {
        let slot = Self::check(proof)?;
        ensure!(!Offences::contains_key(&slot), Error::DuplicateReport);
        Offences::insert(
            &slot,
            &OffenceRecord {
                offender: slot.offender,
                reporter,
                reported_in: pallet_system::Pallet::<T>::block_number(),
            },
        );
        Self::deposit_event(Event::EquivocationReported {
            offender: slot.offender,
            height: slot.height,
            round: slot.round,
            reporter,
        });
        Ok(())
    }

    /// The offence recorded for `slot`, if any.
    pub fn offence(slot: &OffenceSlot) -> Option<OffenceRecord> {
        Offences::get(slot)
    }

    /// Every recorded offence, by height, round, step and offender (what the `offences`
    /// query returns).
    pub fn offences() -> Vec<(OffenceSlot, OffenceRecord)> {
        let mut all: Vec<(OffenceSlot, OffenceRecord)> = Offences::iter().collect();
        all.sort_by_key(|(s, _)| (s.height, s.round, s.step, s.offender));
        all
    }

    fn deposit_event(event: Event) {
        pallet_system::Pallet::<T>::deposit_event(<T as Config>::PALLET_INDEX, event.encode());
    }

    /// Dispatches a call.
    pub fn dispatch(origin: Origin, call: Call) -> DispatchResult {
        let who = ensure_signed(origin)?;
        let result = match call {
            Call::ReportEquivocation { proof } => Self::report_equivocation(who, &proof),
        };
        result.map_err(|e| e.into_dispatch_error(<T as Config>::PALLET_INDEX))
    }
}

#[cfg(test)]
mod tests;
