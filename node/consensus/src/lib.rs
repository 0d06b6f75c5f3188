//! Menara's BFT consensus: a pure, I/O-free state machine.
//!
//! # Protocol: Tendermint (propose / prevote / precommit with locking)
//!
//! Each height is decided in rounds. The round's proposer (stake-weighted rotation,
//! [`ValidatorSet::proposer`]) proposes a block; validators prevote for it if it is valid and
//! compatible with their lock, precommit it (and lock on it) once more than 2/3 of the stake
//! prevoted it, and the block is final as soon as more than 2/3 of the stake precommitted it:
//! those precommits, aggregated into one BLS signature with a signer bitmap, are the
//! [`QuorumCertificate`] stored with the block. Timeouts with exponential backoff per round
//! move a stuck round on.
//!
//! Why Tendermint rather than a two-chain HotStuff (Jolteon / HotStuff-2):
//! * **Finality is per block and immediate**: a block is final when its own certificate
//!   exists, with no pipelining in which a block's finality depends on a later block. The
//!   node executes and stores one block at a time, with its certificate, in one batch; sync
//!   checks one certificate per block. That is what the design card asks ("a block is final
//!   once a certificate with 2/3 of stake signs it").
//! * **Simplicity of the safety argument**: locks plus the "proof of lock" round (here a
//!   prevote certificate carried in the proposal) are the whole safety story, proven and
//!   battle-tested in CometBFT; there is no separate view-change / timeout-certificate
//!   sub-protocol to get wrong.
//! * **Costs that do not matter here**: Tendermint's all-to-all votes are O(n²) messages, but
//!   validators gossip over libp2p anyway (gossipsub is all-to-all in effect) and sets are
//!   at most hundreds; HotStuff's linearity pays off with thousands of validators. Vote
//!   signatures are verified in aggregate per block value, so the CPU cost stays near one
//!   pairing check per step rather than one per vote.
//!
//! Departures from the paper, all on the liveness side: the proposal carries the prevote
//! certificate of its valid round ("proof of lock") and the commit certificate of the
//! previous height, and each node re-sends its own messages of the current round on a timer,
//! so progress resumes after message loss without a reliable-broadcast layer. A block is
//! decided on its commit certificate even when this node has not validated it (more than 2/3
//! of the stake, so at least one honest validator, did).
//!
//! # Shape
//! [`Consensus::handle`] takes an [`Event`] and returns [`Action`]s to carry out in order.
//! The driver (the node) owns clocks, network, storage and block execution. Every signed
//! message is preceded by [`Action::PersistSafety`]: the driver must make the
//! [`SafetyRecord`] durable before carrying out the next action, and hands the record back
//! to [`Consensus::new`] after a restart. Equivocations seen are reported once per offender
//! per round as [`Equivocation`] evidence, verifiable on its own. Bad input is answered with
//! [`Action::Rejected`]; nothing panics on input.
#![warn(missing_docs)]

mod cert;
mod evidence;
mod machine;
mod safety;
mod types;
mod validators;

pub use cert::{bitmap_len, CertError, QuorumCertificate};
pub use evidence::{Equivocation, EvidenceError};
pub use machine::{
    Action, Config, Consensus, Event, PeerTag, Reject, Step, TimeoutStep, Timeouts, OWN,
};
pub use menara_crypto::{BlsCrypto, VoteCrypto};
pub use safety::{SafetyRecord, SignedStep};
pub use types::{
    vote_signing_bytes, ChainId, DecodeError, Height, Message, Proposal, ProposalHeader, Round,
    SignedProposalHeader, SignedVote, ValidatorIndex, Vote, VoteKind, PROPOSAL_DOMAIN, VOTE_DOMAIN,
};
pub use validators::{SetError, Validator, ValidatorSet, MAX_TOTAL_STAKE, WEIGHT_SCALE};

#[cfg(test)]
mod tests;
