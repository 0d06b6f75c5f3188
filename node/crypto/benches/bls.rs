//! Single BLS verify next to fast-aggregate-verify of a certificate with 4, 100 and 1,000
//! signers, in one run: `cargo bench -p menara-crypto --bench bls`.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use menara_crypto::{fast_aggregate_verify, AggregateSignature, BlsPublicKey, BlsSecretKey};
use std::hint::black_box;

fn keys(n: usize) -> Vec<BlsSecretKey> {
    (0..n)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            BlsSecretKey::from_seed(&seed)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let msg = b"menara/vote1 height 1234 round 0 precommit block";
    let mut g = c.benchmark_group("bls");
    let sk = keys(1).remove(0);
    let pk = sk.public_key();
    let sig = sk.sign(msg);
    g.bench_function("sign", |b| b.iter(|| black_box(sk.sign(black_box(msg)))));
    g.bench_function("verify_single", |b| {
        b.iter(|| assert!(sig.verify(black_box(&pk), black_box(msg))))
    });
    g.bench_function("pubkey_decode_validate", |b| {
        let bytes = pk.to_bytes();
        b.iter(|| black_box(BlsPublicKey::from_bytes(black_box(&bytes)).is_ok()))
    });
    for n in [4usize, 100, 1_000] {
        let sks = keys(n);
        let pks: Vec<BlsPublicKey> = sks.iter().map(|s| s.public_key()).collect();
        let refs: Vec<&BlsPublicKey> = pks.iter().collect();
        let sigs: Vec<_> = sks.iter().map(|s| s.sign(msg)).collect();
        let agg = AggregateSignature::aggregate(&sigs).unwrap_or(sig);
        assert!(fast_aggregate_verify(&refs, msg, &agg));
        g.bench_with_input(BenchmarkId::new("fast_aggregate_verify", n), &n, |b, _| {
            b.iter(|| {
                assert!(fast_aggregate_verify(
                    black_box(&refs),
                    black_box(msg),
                    black_box(&agg)
                ))
            })
        });
        g.bench_with_input(BenchmarkId::new("aggregate_signatures", n), &n, |b, _| {
            b.iter(|| black_box(AggregateSignature::aggregate(black_box(&sigs)).is_ok()))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench
}
criterion_main!(benches);
