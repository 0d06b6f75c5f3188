//! Submitting 10,000 transactions (1,000 senders x 10 nonces) and ordering them.
#![allow(clippy::unwrap_used)]
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use menara_primitives::{AccountId, ValidTransaction};
use menara_txpool::{Pool, PoolConfig};

fn txs() -> Vec<(Vec<u8>, ValidTransaction)> {
    let mut out = Vec::with_capacity(10_000);
    for s in 0..1_000u32 {
        let mut id = [0u8; 32];
        id[..4].copy_from_slice(&s.to_le_bytes());
        for n in 0..10u64 {
            let mut ext = id.to_vec();
            ext.extend_from_slice(&n.to_le_bytes());
            ext.extend_from_slice(&[0xab; 100]);
            let fee = u128::from((s * 7 + n as u32 * 13) % 1_000);
            out.push((
                ext,
                ValidTransaction {
                    sender: AccountId(id),
                    nonce: n,
                    account_nonce: 0,
                    fee,
                },
            ));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let all = txs();
    let config = PoolConfig {
        max_transactions: 20_000,
        ..PoolConfig::default()
    };
    c.bench_function("txpool/submit_10k", |b| {
        b.iter_batched(
            || all.clone(),
            |txs| {
                let pool = Pool::new(config.clone());
                for (e, v) in txs {
                    pool.submit(e, v).unwrap();
                }
                pool
            },
            BatchSize::LargeInput,
        )
    });
    let pool = Pool::new(config.clone());
    for (e, v) in all.clone() {
        pool.submit(e, v).unwrap();
    }
    c.bench_function("txpool/ready_for_block_10k", |b| {
        b.iter(|| pool.ready_for_block(usize::MAX, usize::MAX))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
