//! The safety record: what this validator last signed, persisted before anything it
//! protects leaves the node (Lighthouse-style slashing protection).
use crate::types::{Height, Round, SignedVote};
use menara_crypto::{BlsCrypto, VoteCrypto};
use menara_primitives::H256;
use parity_scale_codec::{Decode, Encode};

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
    /// The last vote signed, re-broadcast after a restart.
    pub last_vote: Option<SignedVote<C>>,
    /// Lock at `height`: (round, block) of the last precommit for a block.
    pub locked: Option<(Round, H256)>,
}

impl<C: VoteCrypto> Default for SafetyRecord<C> {
    fn default() -> Self {
        SafetyRecord {
            height: 0,
            round: 0,
            step: SignedStep::None,
            last_signed: None,
            last_vote: None,
            locked: None,
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
            self.last_vote = None;
        }
        self.height = height;
        self.round = round;
        self.step = step;
        self.last_signed = Some(*blake3::hash(bytes).as_bytes());
    }
}
