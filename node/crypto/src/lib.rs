//! BLS12-381 signatures for Menara consensus.
//!
//! blst in the `min_pk` variant (public keys in G1, 48 bytes compressed; signatures in G2,
//! 96 bytes compressed) with the proof-of-possession ciphersuite of the IETF BLS draft:
//!
//! * votes are signed under [`DST_SIG`] (`BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`);
//! * a proof of possession is a signature over the compressed public key under [`DST_POP`]
//!   (`BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`), checked once at registration, which is
//!   what makes [`fast_aggregate_verify`] safe against rogue-key attacks.
//!
//! Public keys are validated (on the curve, in the prime-order subgroup, not the identity)
//! whenever they are decoded or parsed, so a [`BlsPublicKey`] value is always a usable key and
//! aggregate verification does not have to re-check it. Signatures are checked to be on the
//! curve when decoded and in the subgroup when verified.
//!
//! [`VoteCrypto`] abstracts the scheme so that consensus can run its simulations over a cheap
//! deterministic stand-in ([`fake::FakeCrypto`], only with the `test-crypto` feature); the real
//! scheme is [`BlsCrypto`].
#![forbid(unsafe_code)]

use core::fmt;
use parity_scale_codec::{Decode, Encode, Error as CodecError, Input, Output};

#[cfg(any(test, feature = "test-crypto"))]
pub mod fake;

/// Domain separation tag for consensus signatures (proof-of-possession ciphersuite).
pub const DST_SIG: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
/// Domain separation tag for proofs of possession.
pub const DST_POP: &[u8] = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// Length of a compressed public key.
pub const PUBLIC_KEY_LEN: usize = 48;
/// Length of a compressed signature.
pub const SIGNATURE_LEN: usize = 96;

/// Errors of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The bytes are not a valid compressed point.
    #[error("bad encoding of a {0}")]
    BadEncoding(&'static str),
    /// The point is not in the prime-order subgroup.
    #[error("{0} is not in the prime-order subgroup")]
    NotInSubgroup(&'static str),
    /// The public key is the identity (point at infinity).
    #[error("public key is the identity")]
    IdentityKey,
    /// Key material shorter than 32 bytes or otherwise refused.
    #[error("bad key material")]
    BadKeyMaterial,
    /// Nothing to aggregate.
    #[error("nothing to aggregate")]
    EmptyAggregate,
}

fn map_err(e: blst::BLST_ERROR, what: &'static str) -> CryptoError {
    match e {
        blst::BLST_ERROR::BLST_POINT_NOT_IN_GROUP => CryptoError::NotInSubgroup(what),
        blst::BLST_ERROR::BLST_PK_IS_INFINITY => CryptoError::IdentityKey,
        _ => CryptoError::BadEncoding(what),
    }
}

/// A BLS secret key. Zeroised on drop (by blst); never printed.
#[derive(Clone)]
pub struct BlsSecretKey(blst::min_pk::SecretKey);

impl fmt::Debug for BlsSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlsSecretKey(..)")
    }
}

impl BlsSecretKey {
    /// Derives a key from a 32-byte seed (IETF `KeyGen` with the seed as IKM).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        match blst::min_pk::SecretKey::key_gen(seed, &[]) {
            Ok(sk) => BlsSecretKey(sk),
            // key_gen only fails for IKM shorter than 32 bytes, which a [u8; 32] is not.
            Err(_) => unreachable!("32-byte IKM is always accepted"),
        }
    }

    /// A fresh random key.
    pub fn random<R: rand::RngCore + rand::CryptoRng>(rng: &mut R) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self::from_seed(&seed)
    }

    /// The 32 secret scalar bytes (big-endian), for key files.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Parses 32 secret scalar bytes; refuses zero and out-of-range scalars.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        blst::min_pk::SecretKey::from_bytes(bytes)
            .map(BlsSecretKey)
            .map_err(|_| CryptoError::BadKeyMaterial)
    }

    /// The matching public key.
    pub fn public_key(&self) -> BlsPublicKey {
        let pk = self.0.sk_to_pk();
        BlsPublicKey {
            bytes: pk.compress(),
            point: pk,
        }
    }

    /// Signs `msg` under [`DST_SIG`].
    pub fn sign(&self, msg: &[u8]) -> BlsSignature {
        BlsSignature::from_point(self.0.sign(msg, DST_SIG, &[]))
    }

    /// Proof of possession: a signature over the compressed public key under [`DST_POP`].
    pub fn prove_possession(&self) -> ProofOfPossession {
        let pk = self.public_key();
        ProofOfPossession(BlsSignature::from_point(self.0.sign(
            &pk.bytes,
            DST_POP,
            &[],
        )))
    }
}

/// A validated BLS public key (G1, 48 bytes compressed): on the curve, in the subgroup, not
/// the identity. Equality and order are those of the compressed bytes.
#[derive(Clone, Copy)]
pub struct BlsPublicKey {
    bytes: [u8; PUBLIC_KEY_LEN],
    point: blst::min_pk::PublicKey,
}

impl BlsPublicKey {
    /// Parses and validates a compressed key (subgroup and identity checks).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != PUBLIC_KEY_LEN {
            return Err(CryptoError::BadEncoding("public key"));
        }
        let point =
            blst::min_pk::PublicKey::key_validate(bytes).map_err(|e| map_err(e, "public key"))?;
        let mut b = [0u8; PUBLIC_KEY_LEN];
        b.copy_from_slice(bytes);
        Ok(BlsPublicKey { bytes: b, point })
    }

    /// The compressed bytes.
    pub fn to_bytes(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.bytes
    }

    /// The compressed bytes, borrowed.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.bytes
    }

    /// Re-runs the subgroup and identity checks (they already ran when the key was parsed).
    pub fn validate(&self) -> Result<(), CryptoError> {
        self.point.validate().map_err(|e| map_err(e, "public key"))
    }
}

impl PartialEq for BlsPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for BlsPublicKey {}
impl PartialOrd for BlsPublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for BlsPublicKey {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}
impl core::hash::Hash for BlsPublicKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state)
    }
}
impl fmt::Debug for BlsPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlsPublicKey(0x")?;
        for b in &self.bytes[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

impl Encode for BlsPublicKey {
    fn size_hint(&self) -> usize {
        PUBLIC_KEY_LEN
    }
    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        dest.write(&self.bytes)
    }
}

impl Decode for BlsPublicKey {
    fn decode<I: Input>(input: &mut I) -> Result<Self, CodecError> {
        let mut b = [0u8; PUBLIC_KEY_LEN];
        input.read(&mut b)?;
        BlsPublicKey::from_bytes(&b).map_err(|_| "invalid BLS public key".into())
    }
}

/// A BLS signature (G2, 96 bytes compressed), known to be a point on the curve; the subgroup
/// check happens at verification.
#[derive(Clone, Copy)]
pub struct BlsSignature {
    bytes: [u8; SIGNATURE_LEN],
    point: blst::min_pk::Signature,
}

/// An aggregate of signatures over one message is itself a signature.
pub type AggregateSignature = BlsSignature;

impl BlsSignature {
    fn from_point(point: blst::min_pk::Signature) -> Self {
        BlsSignature {
            bytes: point.compress(),
            point,
        }
    }

    /// Parses a compressed signature (curve check only).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != SIGNATURE_LEN {
            return Err(CryptoError::BadEncoding("signature"));
        }
        let point =
            blst::min_pk::Signature::from_bytes(bytes).map_err(|e| map_err(e, "signature"))?;
        let mut b = [0u8; SIGNATURE_LEN];
        b.copy_from_slice(bytes);
        Ok(BlsSignature { bytes: b, point })
    }

    /// The compressed bytes.
    pub fn to_bytes(&self) -> [u8; SIGNATURE_LEN] {
        self.bytes
    }

    /// Verifies a single signature over `msg` under [`DST_SIG`].
    pub fn verify(&self, pk: &BlsPublicKey, msg: &[u8]) -> bool {
        self.point.verify(true, msg, DST_SIG, &[], &pk.point, false)
            == blst::BLST_ERROR::BLST_SUCCESS
    }

    /// Aggregates signatures (each subgroup-checked). Fails on an empty slice.
    pub fn aggregate(sigs: &[BlsSignature]) -> Result<BlsSignature, CryptoError> {
        let refs: Vec<&blst::min_pk::Signature> = sigs.iter().map(|s| &s.point).collect();
        Self::aggregate_points(&refs)
    }

    /// Aggregates borrowed signatures.
    pub fn aggregate_refs(sigs: &[&BlsSignature]) -> Result<BlsSignature, CryptoError> {
        let refs: Vec<&blst::min_pk::Signature> = sigs.iter().map(|s| &s.point).collect();
        Self::aggregate_points(&refs)
    }

    fn aggregate_points(refs: &[&blst::min_pk::Signature]) -> Result<BlsSignature, CryptoError> {
        if refs.is_empty() {
            return Err(CryptoError::EmptyAggregate);
        }
        let agg = blst::min_pk::AggregateSignature::aggregate(refs, true)
            .map_err(|e| map_err(e, "signature"))?;
        Ok(BlsSignature::from_point(agg.to_signature()))
    }
}

impl PartialEq for BlsSignature {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for BlsSignature {}
impl fmt::Debug for BlsSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlsSignature(0x")?;
        for b in &self.bytes[..8] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

impl Encode for BlsSignature {
    fn size_hint(&self) -> usize {
        SIGNATURE_LEN
    }
    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        dest.write(&self.bytes)
    }
}

impl Decode for BlsSignature {
    fn decode<I: Input>(input: &mut I) -> Result<Self, CodecError> {
        let mut b = [0u8; SIGNATURE_LEN];
        input.read(&mut b)?;
        BlsSignature::from_bytes(&b).map_err(|_| "invalid BLS signature".into())
    }
}

/// A proof of possession of a BLS secret key (a signature over the public key under
/// [`DST_POP`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ProofOfPossession(pub BlsSignature);

/// Signs `msg` with `sk`.
pub fn sign(sk: &BlsSecretKey, msg: &[u8]) -> BlsSignature {
    sk.sign(msg)
}

/// Verifies one signature.
pub fn verify(pk: &BlsPublicKey, msg: &[u8], sig: &BlsSignature) -> bool {
    sig.verify(pk, msg)
}

/// Makes a proof of possession.
pub fn prove_possession(sk: &BlsSecretKey) -> ProofOfPossession {
    sk.prove_possession()
}

/// Checks a proof of possession (and the key's validity). Call it once, when a key is
/// registered; a key without a valid proof must never enter a validator set.
pub fn verify_possession(pk: &BlsPublicKey, pop: &ProofOfPossession) -> bool {
    pk.validate().is_ok()
        && pop
            .0
            .point
            .verify(true, &pk.bytes, DST_POP, &[], &pk.point, false)
            == blst::BLST_ERROR::BLST_SUCCESS
}

/// Verifies an aggregate signature of all `pks` over the same `msg`. The keys must have been
/// registered with a valid proof of possession (they are not re-validated here). An empty key
/// list never verifies.
pub fn fast_aggregate_verify(pks: &[&BlsPublicKey], msg: &[u8], agg: &AggregateSignature) -> bool {
    if pks.is_empty() {
        return false;
    }
    let points: Vec<&blst::min_pk::PublicKey> = pks.iter().map(|p| &p.point).collect();
    agg.point.fast_aggregate_verify(true, msg, DST_SIG, &points) == blst::BLST_ERROR::BLST_SUCCESS
}

/// The signature scheme consensus votes use, abstracted so that simulations can swap in a
/// cheap deterministic stand-in (as Lighthouse does with its fake crypto).
pub trait VoteCrypto: Clone + fmt::Debug + PartialEq + Eq + Send + Sync + 'static {
    /// Secret key.
    type SecretKey: Clone + fmt::Debug + Send + Sync;
    /// Public key; decoding must validate it.
    type PublicKey: Clone + fmt::Debug + PartialEq + Eq + Ord + Encode + Decode + Send + Sync;
    /// Signature, and aggregate of signatures over one message.
    type Signature: Clone + fmt::Debug + PartialEq + Eq + Encode + Decode + Send + Sync;

    /// Public key of a secret key.
    fn public(sk: &Self::SecretKey) -> Self::PublicKey;
    /// Signs a message.
    fn sign(sk: &Self::SecretKey, msg: &[u8]) -> Self::Signature;
    /// Verifies one signature.
    fn verify(pk: &Self::PublicKey, msg: &[u8], sig: &Self::Signature) -> bool;
    /// Aggregates signatures over one message; `None` if empty or malformed.
    fn aggregate(sigs: &[&Self::Signature]) -> Option<Self::Signature>;
    /// Verifies an aggregate of all `pks` over one message (keys validated at registration).
    fn verify_aggregate(pks: &[&Self::PublicKey], msg: &[u8], agg: &Self::Signature) -> bool;
}

/// The real scheme: BLS12-381 via blst.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlsCrypto;

impl VoteCrypto for BlsCrypto {
    type SecretKey = BlsSecretKey;
    type PublicKey = BlsPublicKey;
    type Signature = BlsSignature;

    fn public(sk: &BlsSecretKey) -> BlsPublicKey {
        sk.public_key()
    }
    fn sign(sk: &BlsSecretKey, msg: &[u8]) -> BlsSignature {
        sk.sign(msg)
    }
    fn verify(pk: &BlsPublicKey, msg: &[u8], sig: &BlsSignature) -> bool {
        sig.verify(pk, msg)
    }
    fn aggregate(sigs: &[&BlsSignature]) -> Option<BlsSignature> {
        BlsSignature::aggregate_refs(sigs).ok()
    }
    fn verify_aggregate(pks: &[&BlsPublicKey], msg: &[u8], agg: &BlsSignature) -> bool {
        fast_aggregate_verify(pks, msg, agg)
    }
}

#[cfg(test)]
mod tests;
