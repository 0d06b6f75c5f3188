//! Messages and the canonical (SCALE) bytes that are signed.
use crate::cert::QuorumCertificate;
use crate::validators::ValidatorSet;
use menara_crypto::{BlsCrypto, VoteCrypto};
use menara_primitives::H256;
use parity_scale_codec::{Decode, Encode};

/// Height of a block (1 = first block after genesis).
pub type Height = u64;
/// Round within a height.
pub type Round = u32;
/// Index of a validator in its [`ValidatorSet`].
pub type ValidatorIndex = u32;
/// The chain's identity (genesis hash): every signature is bound to it.
pub type ChainId = [u8; 32];

/// Domain tag of vote signatures.
pub const VOTE_DOMAIN: [u8; 12] = *b"menara/vote1";
/// Domain tag of proposal signatures.
pub const PROPOSAL_DOMAIN: [u8; 12] = *b"menara/prop1";

/// The two voting steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub enum VoteKind {
    /// First vote of a round.
    #[codec(index = 1)]
    Prevote,
    /// Second vote of a round; a quorum of precommits for a block commits it.
    #[codec(index = 2)]
    Precommit,
}

/// A vote; `block = None` is a vote for nil.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Vote {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// Prevote or precommit.
    pub kind: VoteKind,
    /// The block voted for, or nil.
    pub block: Option<H256>,
    /// The voter (not part of the signed bytes: the key identifies it).
    pub validator: ValidatorIndex,
}

/// The canonical bytes a vote signature covers:
/// SCALE(`VOTE_DOMAIN`, chain id, height, round, kind, block).
pub fn vote_signing_bytes(
    chain: &ChainId,
    height: Height,
    round: Round,
    kind: VoteKind,
    block: &Option<H256>,
) -> Vec<u8> {
    (VOTE_DOMAIN, chain, height, round, kind, block).encode()
}

impl Vote {
    /// The bytes this vote's signature covers.
    pub fn signing_bytes(&self, chain: &ChainId) -> Vec<u8> {
        vote_signing_bytes(chain, self.height, self.round, self.kind, &self.block)
    }
}

/// A signed vote.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedVote<C: VoteCrypto = BlsCrypto> {
    /// The vote.
    pub vote: Vote,
    /// Signature of the validator's consensus key over [`Vote::signing_bytes`].
    pub signature: C::Signature,
}

impl<C: VoteCrypto> SignedVote<C> {
    /// Signs a vote.
    pub fn sign(chain: &ChainId, vote: Vote, sk: &C::SecretKey) -> Self {
        let signature = C::sign(sk, &vote.signing_bytes(chain));
        SignedVote { vote, signature }
    }

    /// Verifies the signature against the voter's key in `set`.
    pub fn verify(&self, chain: &ChainId, set: &ValidatorSet<C>) -> bool {
        match set.get(self.vote.validator) {
            Some(v) => C::verify(&v.bls, &self.vote.signing_bytes(chain), &self.signature),
            None => false,
        }
    }
}

/// The signed part of a proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ProposalHeader {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// Hash of the proposed block.
    pub block_hash: H256,
    /// Round of the proof of lock (a prevote quorum) when re-proposing a block, else `None`.
    pub valid_round: Option<Round>,
    /// The proposer.
    pub proposer: ValidatorIndex,
}

impl ProposalHeader {
    /// The bytes a proposal signature covers:
    /// SCALE(`PROPOSAL_DOMAIN`, chain id, height, round, block hash, valid round).
    pub fn signing_bytes(&self, chain: &ChainId) -> Vec<u8> {
        (
            PROPOSAL_DOMAIN,
            chain,
            self.height,
            self.round,
            self.block_hash,
            self.valid_round,
        )
            .encode()
    }
}

/// A signed proposal header.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedProposalHeader<C: VoteCrypto = BlsCrypto> {
    /// The header.
    pub header: ProposalHeader,
    /// The proposer's signature.
    pub signature: C::Signature,
}

impl<C: VoteCrypto> SignedProposalHeader<C> {
    /// Signs a header.
    pub fn sign(chain: &ChainId, header: ProposalHeader, sk: &C::SecretKey) -> Self {
        let signature = C::sign(sk, &header.signing_bytes(chain));
        SignedProposalHeader { header, signature }
    }

    /// Verifies the signature against the proposer's key in `set`.
    pub fn verify(&self, chain: &ChainId, set: &ValidatorSet<C>) -> bool {
        match set.get(self.header.proposer) {
            Some(v) => C::verify(&v.bls, &self.header.signing_bytes(chain), &self.signature),
            None => false,
        }
    }
}

/// A proposal: the signed header, the opaque block, and the certificates that justify it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Proposal<C: VoteCrypto = BlsCrypto> {
    /// Signed header.
    pub signed: SignedProposalHeader<C>,
    /// The block's bytes (opaque to consensus; the driver checks they hash to
    /// `block_hash` and executes them).
    pub block: Vec<u8>,
    /// Proof of lock: the prevote quorum certificate of `valid_round` for this block.
    pub pol: Option<QuorumCertificate<C>>,
    /// The commit certificate of the previous height, so a validator that missed it can
    /// finish that height and follow.
    pub parent_commit: Option<QuorumCertificate<C>>,
}

/// What validators send each other.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Message<C: VoteCrypto = BlsCrypto> {
    /// A proposal.
    #[codec(index = 0)]
    Proposal(Proposal<C>),
    /// A vote.
    #[codec(index = 1)]
    Vote(SignedVote<C>),
    /// A certificate: a commit (precommit quorum) or a proof of lock (prevote quorum).
    #[codec(index = 2)]
    Certificate(QuorumCertificate<C>),
}

impl<C: VoteCrypto> Message<C> {
    /// Height the message is about.
    pub fn height(&self) -> Height {
        match self {
            Message::Proposal(p) => p.signed.header.height,
            Message::Vote(v) => v.vote.height,
            Message::Certificate(c) => c.height,
        }
    }

    /// Round the message is about.
    pub fn round(&self) -> Round {
        match self {
            Message::Proposal(p) => p.signed.header.round,
            Message::Vote(v) => v.vote.round,
            Message::Certificate(c) => c.round,
        }
    }

    /// Decodes a message from the network, refusing oversized input and trailing bytes.
    pub fn decode_bounded(bytes: &[u8], max_len: usize) -> Result<Self, DecodeError> {
        if bytes.len() > max_len {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        let mut input = bytes;
        let m = Self::decode(&mut input).map_err(|e| DecodeError::Codec(e.to_string()))?;
        if !input.is_empty() {
            return Err(DecodeError::TrailingBytes);
        }
        Ok(m)
    }
}

/// Why network bytes are not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Over the size limit.
    #[error("message of {0} bytes over the limit")]
    TooLarge(usize),
    /// Not a valid SCALE encoding (bad point, unknown variant, short input...).
    #[error("malformed message: {0}")]
    Codec(String),
    /// Bytes after the message.
    #[error("trailing bytes after the message")]
    TrailingBytes,
}
