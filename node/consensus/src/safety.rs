//! The safety record: what this validator last signed, persisted before anything it
//! protects leaves the node (Lighthouse-style slashing protection).
use crate::cert::QuorumCertificate;
use crate::types::{Height, Round, SignedVote};
use menara_crypto::{BlsCrypto, VoteCrypto};
use menara_primitives::H256;
use parity_scale_codec::{Decode, Encode};

/// How many recent rounds of own votes are kept for re-broadcast.
pub const KEPT_ROUNDS: u32 = 8;

/// Signing steps in the order a validator goes through them within a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Encode, Decode)]
pub enum SignedStep {
    /// Nothing signed yet.
    #[codec(index = 0)]
    None,
    /// A proposal.
    #[codec(index = 1)]
    Proposal,
    /// A prevote.
    #[codec(index = 2)]
    Prevote,
    /// A precommit.
    #[codec(index = 3)]
    Precommit,
}

/// What the validator last signed and what it is locked on. SCALE-encoded and fsynced by
/// the node on every [`crate::Action::PersistSafety`], before the following broadcast.
///
/// Rule: a message for `(height, round, step)` is signed only if that triple is above the
/// recorded one, or equal to it with the very same signed bytes (a re-broadcast). Since
/// honest steps only move forward, no two conflicting messages are ever signed, also after a
/// restart from this record.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SafetyRecord<C: VoteCrypto = BlsCrypto> {
    /// Height of the last signature.
    pub height: Height,
    /// Round of the last signature.
    pub round: Round,
    /// Step of the last signature.
    pub step: SignedStep,
    /// blake3 of the last signed bytes.
    pub last_signed: Option<[u8; 32]>,
    /// The votes signed at `height` in its last [`KEPT_ROUNDS`] rounds, re-broadcast after a
    /// restart (validators still in those rounds may need them to reach a quorum).
    pub votes: Vec<SignedVote<C>>,
    /// Lock at `height`: (round, block) of the last precommit for a block.
    pub locked: Option<(Round, H256)>,
    /// The prevote certificate that justified the lock, so that after a restart this node can
    /// still re-propose its locked block with a proof of lock (liveness).
    pub lock_certificate: Option<QuorumCertificate<C>>,
}

impl<C: VoteCrypto> Default for SafetyRecord<C> {
    fn default() -> Self {
        SafetyRecord {
            height: 0,
            round: 0,
            step: SignedStep::None,
            last_signed: None,
            votes: Vec::new(),
            locked: None,
            lock_certificate: None,
        }
    }
}

impl<C: VoteCrypto> SafetyRecord<C> {
    /// A record for a validator that never signed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether signing `bytes` at `(height, round, step)` is allowed.
    pub fn may_sign(&self, height: Height, round: Round, step: SignedStep, bytes: &[u8]) -> bool {
        let at = (height, round, step);
        let last = (self.height, self.round, self.step);
        if at > last {
            return true;
        }
        at == last && self.last_signed == Some(*blake3::hash(bytes).as_bytes())
    }

    /// Records a signature at `(height, round, step)` over `bytes`.
    pub fn record(&mut self, height: Height, round: Round, step: SignedStep, bytes: &[u8]) {
        if height != self.height {
            self.locked = None;
            self.lock_certificate = None;
            self.votes.clear();
        }
        self.votes
            .retain(|v| v.vote.round.saturating_add(KEPT_ROUNDS) > round);
        self.height = height;
        self.round = round;
        self.step = step;
        self.last_signed = Some(*blake3::hash(bytes).as_bytes());
    }
}
