#![allow(clippy::unwrap_used)]
use super::*;
use rand::{rngs::StdRng, SeedableRng};

fn key(i: u8) -> BlsSecretKey {
    BlsSecretKey::from_seed(&[i; 32])
}

#[test]
fn sign_verify_and_wrong_message_or_key_fail() {
    let sk = key(1);
    let pk = sk.public_key();
    let sig = sign(&sk, b"hello");
    assert!(verify(&pk, b"hello", &sig));
    assert!(!verify(&pk, b"hellp", &sig));
    assert!(!verify(&key(2).public_key(), b"hello", &sig));
    // Deterministic key generation and signatures.
    assert_eq!(key(1).public_key(), pk);
    assert_eq!(sign(&key(1), b"hello"), sig);
    // Round trip of the secret scalar.
    let again = BlsSecretKey::from_bytes(&sk.to_bytes()).unwrap();
    assert_eq!(again.public_key(), pk);
    let r = BlsSecretKey::random(&mut StdRng::seed_from_u64(7));
    assert!(verify(&r.public_key(), b"x", &r.sign(b"x")));
}

#[test]
fn pop_and_rogue_key() {
    let sk = key(3);
    let pk = sk.public_key();
    let pop = prove_possession(&sk);
    assert!(verify_possession(&pk, &pop));
    // A proof made by another key does not prove possession of this one.
    assert!(!verify_possession(&pk, &prove_possession(&key(4))));
    // A PoP is not a vote signature over the key bytes (domain separation) and vice versa.
    assert!(!verify_possession(
        &pk,
        &ProofOfPossession(sk.sign(pk.as_bytes()))
    ));
    assert!(!verify(&pk, pk.as_bytes(), &pop.0));
    // Round trip through SCALE.
    let enc = pop.encode();
    assert_eq!(ProofOfPossession::decode(&mut &enc[..]).unwrap(), pop);
}

/// Rogue-key attack: the attacker registers pk_r = g^x - pk_h; then its own signature with x
/// passes as an "aggregate" of the honest key and pk_r. Without a valid PoP for pk_r (it does
/// not know pk_r's secret key) the key is refused at registration.
#[test]
fn rogue_key_without_pop_is_refused() {
    use blst::min_pk::AggregatePublicKey;
    let honest = key(5).public_key();
    let x = key(6);
    // -pk_h: flip the sign bit (0x20) of the compressed encoding.
    let mut neg = honest.to_bytes();
    neg[0] ^= 0x20;
    let neg_h = BlsPublicKey::from_bytes(&neg).unwrap();
    let rogue_point = AggregatePublicKey::aggregate(&[&x.public_key().point, &neg_h.point], false)
        .unwrap()
        .to_public_key();
    let rogue = BlsPublicKey::from_bytes(&rogue_point.compress()).unwrap();
    // The forgery works when keys are not checked for possession ...
    let forged = x.sign(b"msg");
    assert!(fast_aggregate_verify(&[&honest, &rogue], b"msg", &forged));
    // ... and registration refuses the rogue key: no proof the attacker can make verifies.
    assert!(!verify_possession(&rogue, &prove_possession(&x)));
    assert!(!verify_possession(
        &rogue,
        &ProofOfPossession(x.sign(rogue.as_bytes()))
    ));
}

#[test]
fn aggregate_verify_1_4_100_and_one_bad_signature() {
    let msg = b"vote";
    for n in [1usize, 4, 100] {
        let sks: Vec<_> = (0..n)
            .map(|i| {
                let mut seed = [0u8; 32];
                seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
                BlsSecretKey::from_seed(&seed)
            })
            .collect();
        let pks: Vec<_> = sks.iter().map(|s| s.public_key()).collect();
        let pk_refs: Vec<_> = pks.iter().collect();
        let sigs: Vec<_> = sks.iter().map(|s| s.sign(msg)).collect();
        let agg = AggregateSignature::aggregate(&sigs).unwrap();
        assert!(fast_aggregate_verify(&pk_refs, msg, &agg), "n = {n}");
        assert!(!fast_aggregate_verify(&pk_refs, b"other", &agg));
        // One bad signature (over another message) spoils the aggregate.
        let mut bad = sigs.clone();
        bad[n / 2] = sks[n / 2].sign(b"other");
        let agg_bad = AggregateSignature::aggregate(&bad).unwrap();
        assert!(!fast_aggregate_verify(&pk_refs, msg, &agg_bad));
        // Missing signer.
        if n > 1 {
            let agg_short = AggregateSignature::aggregate(&sigs[1..]).unwrap();
            assert!(!fast_aggregate_verify(&pk_refs, msg, &agg_short));
        }
    }
    assert!(AggregateSignature::aggregate(&[]).is_err());
    assert!(!fast_aggregate_verify(&[], msg, &key(1).sign(msg)));
}

#[test]
fn garbage_decodes_to_error() {
    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..200 {
        let mut b = [0u8; 96];
        rand::RngCore::fill_bytes(&mut rng, &mut b);
        let _ = BlsPublicKey::decode(&mut &b[..48]);
        let _ = BlsSignature::decode(&mut &b[..]);
    }
    assert!(BlsPublicKey::decode(&mut &[0xffu8; 48][..]).is_err());
    assert!(BlsSignature::decode(&mut &[0xffu8; 96][..]).is_err());
    assert!(BlsPublicKey::decode(&mut &[1u8; 10][..]).is_err());
    assert!(BlsSignature::decode(&mut &[][..]).is_err());
    assert!(BlsPublicKey::from_bytes(&[0u8; 47]).is_err());
    assert!(BlsSecretKey::from_bytes(&[0u8; 32]).is_err());
    // Valid encodings round-trip.
    let pk = key(9).public_key();
    assert_eq!(BlsPublicKey::decode(&mut &pk.encode()[..]).unwrap(), pk);
    let sig = key(9).sign(b"m");
    assert_eq!(BlsSignature::decode(&mut &sig.encode()[..]).unwrap(), sig);
}

#[test]
fn identity_public_key_refused() {
    // Compressed point at infinity: compression flag and infinity flag set, rest zero.
    let mut inf = [0u8; 48];
    inf[0] = 0xc0;
    assert!(BlsPublicKey::from_bytes(&inf).is_err());
    assert!(BlsPublicKey::decode(&mut &inf[..]).is_err());
    // The identity signature never verifies.
    let mut inf_sig = [0u8; 96];
    inf_sig[0] = 0xc0;
    if let Ok(s) = BlsSignature::from_bytes(&inf_sig) {
        assert!(!verify(&key(1).public_key(), b"m", &s));
    }
}

#[test]
fn vote_crypto_trait_matches_free_functions() {
    let sk = key(11);
    let pk = BlsCrypto::public(&sk);
    let s = BlsCrypto::sign(&sk, b"m");
    assert!(BlsCrypto::verify(&pk, b"m", &s));
    let agg = BlsCrypto::aggregate(&[&s]).unwrap();
    assert!(BlsCrypto::verify_aggregate(&[&pk], b"m", &agg));
    assert!(BlsCrypto::aggregate(&[]).is_none());
}

#[test]
fn fake_crypto_detects_bad_signatures() {
    use crate::fake::*;
    let sks: Vec<_> = (0..4u8).map(|i| FakeSecretKey([i; 32])).collect();
    let pks: Vec<_> = sks.iter().map(FakeCrypto::public).collect();
    let sigs: Vec<_> = sks.iter().map(|s| FakeCrypto::sign(s, b"m")).collect();
    assert!(FakeCrypto::verify(&pks[0], b"m", &sigs[0]));
    assert!(!FakeCrypto::verify(&pks[1], b"m", &sigs[0]));
    let refs: Vec<_> = sigs.iter().collect();
    let agg = FakeCrypto::aggregate(&refs).unwrap();
    let pk_refs: Vec<_> = pks.iter().collect();
    assert!(FakeCrypto::verify_aggregate(&pk_refs, b"m", &agg));
    assert!(!FakeCrypto::verify_aggregate(&pk_refs[1..], b"m", &agg));
}
