//! Root update and commit of 3,000 changed keys over a 100,000-key state.
#![allow(clippy::unwrap_used)]
use criterion::{criterion_group, criterion_main, Criterion};
use menara_primitives::{extrinsics_root, AccountId, Block, Header, H256};
use menara_state_machine::ChangeSet;
use menara_storage::{Database, DatabaseConfig};

fn key(i: u32) -> Vec<u8> {
    let mut k = b"bench/account/".to_vec();
    k.extend_from_slice(&i.to_be_bytes());
    k
}

fn commit(db: &Database, cs: &ChangeSet) {
    let prepared = db.prepare(cs).unwrap();
    let (number, parent_hash) = db
        .best()
        .unwrap()
        .map_or((0, H256::zero()), |(n, h)| (n + 1, h));
    let header = Header {
        parent_hash,
        number,
        state_root: prepared.root(),
        extrinsics_root: extrinsics_root(&[]),
        timestamp: number,
        author: AccountId([1; 32]),
        beacon: Default::default(),
    };
    db.commit_block(
        &Block {
            header,
            extrinsics: vec![],
        },
        prepared,
        None,
        true,
    )
    .unwrap();
}

fn bench(c: &mut Criterion) {
    // The same workload with and without the trie node cache, in one run.
    for (label, trie_cache_nodes) in [
        ("no_cache", 0),
        ("cache", DatabaseConfig::default().trie_cache_nodes),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open_with(dir.path(), DatabaseConfig { trie_cache_nodes }).unwrap();
        let genesis: ChangeSet = (0..100_000u32)
            .map(|i| (key(i), Some(vec![0u8; 48])))
            .collect();
        commit(&db, &genesis);
        let mut round = 0u32;
        let mut changes = move || {
            round += 1;
            (0..3_000u32)
                .map(|j| {
                    let i = (j
                        .wrapping_mul(2_654_435_761)
                        .wrapping_add(round.wrapping_mul(7_919)))
                        % 100_000;
                    (key(i), Some(round.to_le_bytes().repeat(12)))
                })
                .collect::<ChangeSet>()
        };
        let mut group = c.benchmark_group(format!("storage_{label}"));
        group.sample_size(20);
        // Warm the cache the way a running node does: by committing blocks.
        for _ in 0..3 {
            commit(&db, &changes());
        }
        let cs = changes();
        group.bench_function("prepare_3000_of_100k", |b| {
            b.iter(|| db.prepare(&cs).unwrap())
        });
        group.bench_function("prepare_and_commit_3000_of_100k", |b| {
            b.iter(|| commit(&db, &changes()))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
