//! A cheap, deterministic and **insecure** stand-in for BLS, so that consensus simulations can
//! run thousands of seeds quickly. Only compiled under `cfg(test)` or the `test-crypto`
//! feature; never use it in a node.
//!
//! A public key is `blake3("pk" ‖ secret)`; a signature is `blake3(public ‖ msg)` (anyone who
//! knows the public key could forge it: this only detects corrupted or misattributed
//! signatures); an aggregate is the XOR of the signatures.
use crate::VoteCrypto;
use parity_scale_codec::{Decode, Encode};

/// Fake secret key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeSecretKey(pub [u8; 32]);

/// Fake public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct FakePublicKey(pub [u8; 32]);

/// Fake signature (or aggregate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct FakeSignature(pub [u8; 32]);

/// The fake scheme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeCrypto;

fn sig_of(pk: &FakePublicKey, msg: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&pk.0);
    h.update(msg);
    *h.finalize().as_bytes()
}

impl VoteCrypto for FakeCrypto {
    type SecretKey = FakeSecretKey;
    type PublicKey = FakePublicKey;
    type Signature = FakeSignature;

    fn public(sk: &FakeSecretKey) -> FakePublicKey {
        let mut h = blake3::Hasher::new();
        h.update(b"pk");
        h.update(&sk.0);
        FakePublicKey(*h.finalize().as_bytes())
    }
    fn sign(sk: &FakeSecretKey, msg: &[u8]) -> FakeSignature {
        FakeSignature(sig_of(&Self::public(sk), msg))
    }
    fn verify(pk: &FakePublicKey, msg: &[u8], sig: &FakeSignature) -> bool {
        sig_of(pk, msg) == sig.0
    }
    fn aggregate(sigs: &[&FakeSignature]) -> Option<FakeSignature> {
        if sigs.is_empty() {
            return None;
        }
        let mut acc = [0u8; 32];
        for s in sigs {
            for (a, b) in acc.iter_mut().zip(s.0.iter()) {
                *a ^= b;
            }
        }
        Some(FakeSignature(acc))
    }
    fn verify_aggregate(pks: &[&FakePublicKey], msg: &[u8], agg: &FakeSignature) -> bool {
        if pks.is_empty() {
            return false;
        }
        let mut acc = [0u8; 32];
        for pk in pks {
            for (a, b) in acc.iter_mut().zip(sig_of(pk, msg).iter()) {
                *a ^= b;
            }
        }
        acc == agg.0
    }
}
