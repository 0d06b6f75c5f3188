//! Quorum certificates: one aggregate signature and a signer bitmap.
use crate::types::{
    vote_signing_bytes, ChainId, Height, Round, SignedVote, ValidatorIndex, VoteKind,
};
use crate::validators::ValidatorSet;
use menara_crypto::{BlsCrypto, VoteCrypto};
use menara_primitives::H256;
use parity_scale_codec::{Decode, Encode};

/// Why a certificate is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The bitmap is not `ceil(n / 8)` bytes.
    #[error("signer bitmap has {got} bytes, expected {expected}")]
    BitmapLength {
        /// Bytes in the certificate.
        got: usize,
        /// Bytes for this validator set.
        expected: usize,
    },
    /// A bit set past the last validator.
    #[error("signer bitmap names a validator outside the set")]
    SignerOutOfRange,
    /// Signers hold 2/3 of the stake or less.
    #[error("signers hold {signed} of {total} stake: not more than 2/3")]
    NoQuorum {
        /// Stake of the signers.
        signed: u128,
        /// Total stake.
        total: u128,
    },
    /// The aggregate signature does not verify.
    #[error("aggregate signature does not verify")]
    BadAggregate,
    /// Not the kind of certificate expected here.
    #[error("unexpected certificate kind or height")]
    Unexpected,
    /// Votes given to build a certificate do not agree or are not from the set.
    #[error("votes do not form a certificate")]
    BadVotes,
}

/// A quorum certificate: more than 2/3 of the stake signed the same vote
/// `(chain, height, round, kind, Some(block_hash))`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct QuorumCertificate<C: VoteCrypto = BlsCrypto> {
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// Precommit (a commit certificate, stored with the block) or prevote (a proof of lock).
    pub kind: VoteKind,
    /// The block.
    pub block_hash: H256,
    /// Bit `i` (byte `i / 8`, bit `i % 8`, least significant first) set when validator `i`
    /// signed.
    pub signers: Vec<u8>,
    /// Aggregate of the signers' signatures.
    pub aggregate: C::Signature,
}

/// Bytes of a bitmap for `n` validators.
pub fn bitmap_len(n: usize) -> usize {
    n.div_ceil(8)
}

impl<C: VoteCrypto> QuorumCertificate<C> {
    /// Indices of the signers (bits past the set are ignored here; [`Self::verify`] refuses
    /// them).
    pub fn signer_indices(&self) -> Vec<ValidatorIndex> {
        let mut out = Vec::new();
        for (byte_i, byte) in self.signers.iter().enumerate() {
            for bit in 0..8 {
                if byte & (1 << bit) != 0 {
                    if let Ok(i) = u32::try_from(byte_i * 8 + bit) {
                        out.push(i);
                    }
                }
            }
        }
        out
    }

    /// Whether validator `i` signed.
    pub fn has_signer(&self, i: ValidatorIndex) -> bool {
        let i = i as usize;
        self.signers
            .get(i / 8)
            .is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// The vote bytes every signer signed.
    pub fn signing_bytes(&self, chain: &ChainId) -> Vec<u8> {
        vote_signing_bytes(
            chain,
            self.height,
            self.round,
            self.kind,
            &Some(self.block_hash),
        )
    }

    /// Checks the certificate: bitmap shape, signers within the set, signers' stake strictly
    /// over 2/3 of the total (integer arithmetic), and the aggregate signature, verified once
    /// against the signers' keys. Keys are trusted as validated at registration.
    pub fn verify(&self, chain: &ChainId, set: &ValidatorSet<C>) -> Result<(), CertError> {
        let expected = bitmap_len(set.len());
        if self.signers.len() != expected {
            return Err(CertError::BitmapLength {
                got: self.signers.len(),
                expected,
            });
        }
        let mut stake: u128 = 0;
        let mut keys = Vec::new();
        for i in self.signer_indices() {
            let v = set.get(i).ok_or(CertError::SignerOutOfRange)?;
            stake += v.stake;
            keys.push(&v.bls);
        }
        if !set.is_quorum(stake) {
            return Err(CertError::NoQuorum {
                signed: stake,
                total: set.total_stake(),
            });
        }
        if !C::verify_aggregate(&keys, &self.signing_bytes(chain), &self.aggregate) {
            return Err(CertError::BadAggregate);
        }
        Ok(())
    }

    /// Builds a certificate from votes that were each checked (or whose aggregate will be
    /// checked by [`Self::verify`]). All votes must agree on height, round, kind and a
    /// non-nil block and come from distinct validators of `set`; the quorum is not checked
    /// here.
    pub fn from_votes(set: &ValidatorSet<C>, votes: &[&SignedVote<C>]) -> Result<Self, CertError> {
        let first = votes.first().ok_or(CertError::BadVotes)?.vote;
        let block_hash = first.block.ok_or(CertError::BadVotes)?;
        let mut signers = vec![0u8; bitmap_len(set.len())];
        let mut sigs = Vec::with_capacity(votes.len());
        for sv in votes {
            let v = sv.vote;
            if v.height != first.height
                || v.round != first.round
                || v.kind != first.kind
                || v.block != first.block
            {
                return Err(CertError::BadVotes);
            }
            let i = v.validator as usize;
            let byte = signers.get_mut(i / 8).ok_or(CertError::BadVotes)?;
            if i >= set.len() || *byte & (1 << (i % 8)) != 0 {
                return Err(CertError::BadVotes);
            }
            *byte |= 1 << (i % 8);
            sigs.push(&sv.signature);
        }
        let aggregate = C::aggregate(&sigs).ok_or(CertError::BadVotes)?;
        Ok(QuorumCertificate {
            height: first.height,
            round: first.round,
            kind: first.kind,
            block_hash,
            signers,
            aggregate,
        })
    }

    /// After an aggregate failed: the validators whose individual vote does not verify.
    pub fn find_bad_votes(
        chain: &ChainId,
        set: &ValidatorSet<C>,
        votes: &[&SignedVote<C>],
    ) -> Vec<ValidatorIndex> {
        votes
            .iter()
            .filter(|v| !v.verify(chain, set))
            .map(|v| v.vote.validator)
            .collect()
    }
}
