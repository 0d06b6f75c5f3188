//! Commit-certificate verification (bitmap, stake of the signers, one aggregate check) for
//! 4, 100 and 1,000 equal-stake validators with a 2/3 + 1 quorum, next to one single BLS
//! vote verification, in one run: `cargo bench -p menara-consensus --bench certificate`.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use menara_consensus::{QuorumCertificate, SignedVote, Validator, ValidatorSet, Vote, VoteKind};
use menara_crypto::{BlsCrypto, BlsSecretKey};
use menara_primitives::H256;
use std::hint::black_box;

const CHAIN: [u8; 32] = [42u8; 32];

fn setup(n: usize) -> (ValidatorSet<BlsCrypto>, Vec<BlsSecretKey>) {
    let mut validators = Vec::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        let mut seed = [3u8; 32];
        seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let sk = BlsSecretKey::from_seed(&seed);
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&(i as u64).to_be_bytes());
        validators.push(Validator {
            id,
            bls: sk.public_key(),
            stake: 1_000,
        });
        keys.push(sk);
    }
    let set = match ValidatorSet::new(validators) {
        Ok(s) => s,
        Err(e) => panic!("validator set: {e}"),
    };
    // The set sorts by id, which is the creation order here.
    (set, keys)
}

fn precommit(keys: &[BlsSecretKey], i: usize) -> SignedVote<BlsCrypto> {
    let vote = Vote {
        height: 1_234,
        round: 0,
        kind: VoteKind::Precommit,
        block: Some(H256([5u8; 32])),
        validator: i as u32,
    };
    SignedVote::sign(&CHAIN, vote, &keys[i])
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("certificate");
    let (set1, keys1) = setup(4);
    let single = precommit(&keys1, 0);
    g.bench_function("single_vote_verify", |b| {
        b.iter(|| assert!(black_box(&single).verify(&CHAIN, &set1)))
    });
    for n in [4usize, 100, 1_000] {
        let (set, keys) = setup(n);
        let quorum = n * 2 / 3 + 1;
        let votes: Vec<_> = (0..quorum).map(|i| precommit(&keys, i)).collect();
        let refs: Vec<&SignedVote<BlsCrypto>> = votes.iter().collect();
        let cert = match QuorumCertificate::from_votes(&set, &refs) {
            Ok(c) => c,
            Err(e) => panic!("certificate: {e}"),
        };
        assert!(cert.verify(&CHAIN, &set).is_ok());
        g.bench_with_input(BenchmarkId::new("verify", n), &n, |b, _| {
            b.iter(|| assert!(black_box(&cert).verify(&CHAIN, &set).is_ok()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
