//! Equivocation evidence: two conflicting signed messages from one validator.
use crate::types::{ChainId, Height, Round, SignedProposalHeader, SignedVote, ValidatorIndex};
use crate::validators::ValidatorSet;
use menara_crypto::{BlsCrypto, VoteCrypto};
use parity_scale_codec::{Decode, Encode};

/// Why evidence is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// The two messages are not by one validator for one height, round and step.
    #[error("messages are not for the same validator, height, round and step")]
    NotSameSlot,
    /// The two messages do not conflict.
    #[error("messages do not conflict")]
    NoConflict,
    /// A signature does not verify (or the validator is not in the set).
    #[error("a signature does not verify")]
    BadSignature,
}

/// Proof that a validator signed two conflicting messages (slashable).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Equivocation<C: VoteCrypto = BlsCrypto> {
    /// Two votes of one kind for different blocks (nil included) at one height and round.
    #[codec(index = 0)]
    Votes {
        /// First vote seen.
        a: SignedVote<C>,
        /// Conflicting vote.
        b: SignedVote<C>,
    },
    /// Two different proposals for one height and round.
    #[codec(index = 1)]
    Proposals {
        /// First proposal seen.
        a: SignedProposalHeader<C>,
        /// Conflicting proposal.
        b: SignedProposalHeader<C>,
    },
}

impl<C: VoteCrypto> Equivocation<C> {
    /// The offender's index in the validator set of the height.
    pub fn offender(&self) -> ValidatorIndex {
        match self {
            Equivocation::Votes { a, .. } => a.vote.validator,
            Equivocation::Proposals { a, .. } => a.header.proposer,
        }
    }

    /// Height of the offence.
    pub fn height(&self) -> Height {
        match self {
            Equivocation::Votes { a, .. } => a.vote.height,
            Equivocation::Proposals { a, .. } => a.header.height,
        }
    }

    /// Round of the offence.
    pub fn round(&self) -> Round {
        match self {
            Equivocation::Votes { a, .. } => a.vote.round,
            Equivocation::Proposals { a, .. } => a.header.round,
        }
    }

    /// Checks the evidence on its own, against the validator set of its height.
    pub fn verify(&self, chain: &ChainId, set: &ValidatorSet<C>) -> Result<(), EvidenceError> {
        match self {
            Equivocation::Votes { a, b } => {
                let (x, y) = (a.vote, b.vote);
                if x.validator != y.validator
                    || x.height != y.height
                    || x.round != y.round
                    || x.kind != y.kind
                {
                    return Err(EvidenceError::NotSameSlot);
                }
                if x.block == y.block {
                    return Err(EvidenceError::NoConflict);
                }
                if !a.verify(chain, set) || !b.verify(chain, set) {
                    return Err(EvidenceError::BadSignature);
                }
            }
            Equivocation::Proposals { a, b } => {
                let (x, y) = (a.header, b.header);
                if x.proposer != y.proposer || x.height != y.height || x.round != y.round {
                    return Err(EvidenceError::NotSameSlot);
                }
                if x == y {
                    return Err(EvidenceError::NoConflict);
                }
                if !a.verify(chain, set) || !b.verify(chain, set) {
                    return Err(EvidenceError::BadSignature);
                }
            }
        }
        Ok(())
    }
}
