#![allow(clippy::unwrap_used)]
use super::*;
use menara_primitives::trie::{verify_proof, Terminal};
use menara_primitives::{extrinsics_root, AccountId};
use proptest::prelude::*;
use std::collections::BTreeMap;

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn changes(kv: &[(&[u8], Option<&[u8]>)]) -> ChangeSet {
    kv.iter()
        .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
        .collect()
}

fn apply_model(model: &mut Model, cs: &ChangeSet) {
    for (k, v) in cs {
        match v {
            Some(v) => model.insert(k.clone(), v.clone()),
            None => model.remove(k),
        };
    }
}

fn root_of_model(model: &Model) -> H256 {
    trie::root_of(model.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
}

/// A block on top of the current best with the state root `root`.
fn block_on(db: &Database, root: H256, extrinsics: Vec<Vec<u8>>) -> Block {
    let (number, parent_hash) = match db.best().unwrap() {
        Some((n, h)) => (n + 1, h),
        None => (0, H256::zero()),
    };
    let header = Header {
        parent_hash,
        number,
        state_root: root,
        extrinsics_root: extrinsics_root(&extrinsics),
        timestamp: 1_000 * number,
        author: AccountId([7; 32]),
        beacon: Default::default(),
    };
    Block { header, extrinsics }
}

/// Prepares and commits `cs` as the next block.
fn commit(db: &Database, cs: &ChangeSet, finalized: bool) -> Block {
    let prepared = db.prepare(cs).unwrap();
    let n = db.best().unwrap().map_or(0, |(n, _)| n + 1);
    let block = block_on(db, prepared.root(), vec![vec![n as u8; 3], b"tx".to_vec()]);
    let justification = finalized.then(|| format!("cert-{n}").into_bytes());
    db.commit_block(&block, prepared, justification.as_deref(), finalized)
        .unwrap();
    block
}

fn all_keys(db: &Database) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    let mut cursor = Vec::new();
    if db.storage(&cursor).unwrap().is_some() {
        keys.push(Vec::new());
    }
    while let Some(k) = StateReader::next_key(db, &cursor).unwrap() {
        keys.push(k.clone());
        cursor = k;
    }
    keys
}

#[test]
fn empty_database_has_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(db.genesis_hash().unwrap(), None);
    assert_eq!(db.best().unwrap(), None);
    assert_eq!(db.finalized().unwrap(), None);
    assert_eq!(db.state_root().unwrap(), H256::zero());
    assert_eq!(db.hash_at(0).unwrap(), None);
    assert_eq!(StateReader::get(&db, b"x").unwrap(), None);
    assert_eq!(StateReader::next_key(&db, b"").unwrap(), None);
    let (root, proofs) = db.read_proof(&[b"x".to_vec()]).unwrap();
    assert_eq!(root, H256::zero());
    verify_proof(&root, b"x", None, &proofs[0].2).unwrap();
}

#[test]
fn commits_genesis_and_blocks_and_reopens_with_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    let mut blocks = Vec::new();
    {
        let db = Database::open(dir.path()).unwrap();
        let genesis_cs = changes(&[
            (b":code", Some(b"wasm")),
            (b"alice", Some(b"100")),
            (b"bob", Some(b"50")),
        ]);
        apply_model(&mut model, &genesis_cs);
        blocks.push(commit(&db, &genesis_cs, true));
        assert_eq!(db.genesis_hash().unwrap(), Some(blocks[0].hash()));
        for i in 1..6u8 {
            let cs = changes(&[
                (b"alice", Some(&[i; 4][..])),
                (&[b'k', i][..], Some(&[i][..])),
                (b"bob", if i == 3 { None } else { Some(b"x") }),
            ]);
            apply_model(&mut model, &cs);
            blocks.push(commit(&db, &cs, i % 2 == 0));
            assert_eq!(db.state_root().unwrap(), root_of_model(&model));
        }
    }
    let db = Database::open(dir.path()).unwrap();
    let last = blocks.last().unwrap();
    assert_eq!(db.genesis_hash().unwrap(), Some(blocks[0].hash()));
    assert_eq!(db.best().unwrap(), Some((5, last.hash())));
    assert_eq!(db.finalized().unwrap(), Some((4, blocks[4].hash())));
    assert_eq!(db.state_root().unwrap(), root_of_model(&model));
    assert_eq!(db.state_root().unwrap(), last.header.state_root);
    for (n, b) in blocks.iter().enumerate() {
        let h = b.hash();
        assert_eq!(db.hash_at(n as u64).unwrap(), Some(h));
        assert_eq!(db.header(&h).unwrap().as_ref(), Some(&b.header));
        assert_eq!(db.body(&h).unwrap().as_ref(), Some(&b.extrinsics));
        assert_eq!(db.block(&h).unwrap().as_ref(), Some(b));
        let j = db.justification(&h).unwrap();
        assert_eq!(j.is_some(), n % 2 == 0, "block {n}");
    }
    assert_eq!(db.hash_at(6).unwrap(), None);
    assert_eq!(db.block(&H256([9; 32])).unwrap(), None);
    for (k, v) in &model {
        assert_eq!(db.storage(k).unwrap().as_ref(), Some(v));
    }
    assert_eq!(db.storage(b"bob").unwrap(), Some(b"x".to_vec()));
    assert_eq!(all_keys(&db), model.keys().cloned().collect::<Vec<_>>());
    db.check_genesis(&blocks[0].hash()).unwrap();
    assert!(matches!(
        db.check_genesis(&H256([1; 32])),
        Err(StorageError::GenesisMismatch { .. })
    ));
}

#[test]
fn only_live_trie_nodes_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let mut model = Model::new();
    for i in 0..20u8 {
        let cs: ChangeSet = (0..10u8)
            .map(|j| {
                (
                    vec![j],
                    if (i + j) % 4 == 0 {
                        None
                    } else {
                        Some(vec![i, j])
                    },
                )
            })
            .collect();
        apply_model(&mut model, &cs);
        commit(&db, &cs, false);
    }
    let mut it = db.db.raw_iterator_cf(db.cf(columns::TRIE).unwrap());
    it.seek_to_first();
    let mut stored = 0;
    while it.valid() {
        stored += 1;
        it.next();
    }
    // Every stored node is reachable from the root: nothing leaks.
    fn reachable(nodes: &TrieNodes<'_>, hash: &H256) -> usize {
        if hash.is_zero() {
            return 0;
        }
        match nodes.node(hash).unwrap().unwrap() {
            Node::Leaf { .. } => 1,
            Node::Internal { left, right } => {
                1 + reachable(nodes, &left) + reachable(nodes, &right)
            }
        }
    }
    assert_eq!(
        stored,
        reachable(&TrieNodes(&db), &db.state_root().unwrap())
    );
    assert!(stored >= 2 * model.len() - 1);
}

#[test]
fn read_proofs_verify_for_present_and_absent_keys_and_fail_when_tampered() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let cs: ChangeSet = (0..50u32)
        .map(|i| {
            (
                format!("key{i}").into_bytes(),
                Some(format!("value{i}").into_bytes()),
            )
        })
        .collect();
    commit(&db, &cs, true);
    let keys = vec![
        b"key7".to_vec(),
        b"key42".to_vec(),
        b"absent".to_vec(),
        b"".to_vec(),
    ];
    let (root, proofs) = db.read_proof(&keys).unwrap();
    assert_eq!(root, db.state_root().unwrap());
    assert_eq!(proofs.len(), 4);
    for (key, value, proof) in &proofs {
        verify_proof(&root, key, value.as_deref(), proof).unwrap();
    }
    assert_eq!(proofs[0].1.as_deref(), Some(&b"value7"[..]));
    assert_eq!(proofs[2].1, None);

    let (key, value, proof) = &proofs[0];
    // Wrong value, claimed absence, wrong root, tampered sibling, tampered terminal.
    assert!(verify_proof(&root, key, Some(b"value8"), proof).is_err());
    assert!(verify_proof(&root, key, None, proof).is_err());
    assert!(verify_proof(&H256([3; 32]), key, value.as_deref(), proof).is_err());
    let mut bad = proof.clone();
    bad.siblings[0].0[0] ^= 1;
    assert!(verify_proof(&root, key, value.as_deref(), &bad).is_err());
    let (akey, _, aproof) = &proofs[2];
    assert!(verify_proof(&root, akey, Some(b"x"), aproof).is_err());
    let mut bad = aproof.clone();
    bad.terminal = Terminal::Empty;
    if aproof.terminal != Terminal::Empty {
        assert!(verify_proof(&root, akey, None, &bad).is_err());
    }
    // A present key's proof does not prove another key.
    assert!(verify_proof(&root, b"key8", value.as_deref(), proof).is_err());
}

#[test]
fn a_refused_commit_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let genesis = commit(&db, &changes(&[(b"a", Some(b"1"))]), true);
    let before_root = db.state_root().unwrap();

    // Header with a wrong state root.
    let cs = changes(&[(b"a", Some(b"2")), (b"b", Some(b"3"))]);
    let prepared = db.prepare(&cs).unwrap();
    let mut bad = block_on(&db, prepared.root(), vec![]);
    bad.header.state_root = H256([1; 32]);
    let err = db
        .commit_block(&bad, prepared.clone(), Some(b"j"), true)
        .unwrap_err();
    assert!(
        matches!(err, StorageError::StateRootMismatch { .. }),
        "{err}"
    );

    // Wrong parent, wrong number, second genesis.
    let mut orphan = block_on(&db, prepared.root(), vec![]);
    orphan.header.parent_hash = H256([5; 32]);
    let err = db
        .commit_block(&orphan, prepared.clone(), None, false)
        .unwrap_err();
    assert!(
        matches!(err, StorageError::NotExtendingBest { .. }),
        "{err}"
    );
    let mut skip = block_on(&db, prepared.root(), vec![]);
    skip.header.number = 2;
    assert!(matches!(
        db.commit_block(&skip, prepared.clone(), None, false),
        Err(StorageError::NotExtendingBest { .. })
    ));
    let mut second_genesis = block_on(&db, prepared.root(), vec![]);
    second_genesis.header.number = 0;
    second_genesis.header.parent_hash = H256::zero();
    assert!(matches!(
        db.commit_block(&second_genesis, prepared.clone(), None, false),
        Err(StorageError::NotExtendingBest { .. })
    ));

    for b in [&bad, &orphan, &skip, &second_genesis] {
        assert_eq!(db.header(&b.hash()).unwrap(), None);
        assert_eq!(db.justification(&b.hash()).unwrap(), None);
    }
    let check = |db: &Database| {
        assert_eq!(db.best().unwrap(), Some((0, genesis.hash())));
        assert_eq!(db.finalized().unwrap(), Some((0, genesis.hash())));
        assert_eq!(db.state_root().unwrap(), before_root);
        assert_eq!(db.hash_at(1).unwrap(), None);
        assert_eq!(db.storage(b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(db.storage(b"b").unwrap(), None);
    };
    check(&db);
    drop(db);
    let db = Database::open(dir.path()).unwrap();
    check(&db);

    // The original prepared state still commits with a correct header.
    let good = block_on(&db, prepared.root(), vec![]);
    db.commit_block(&good, prepared, None, false).unwrap();
    assert_eq!(db.best().unwrap(), Some((1, good.hash())));
}

#[test]
fn first_block_must_be_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let prepared = db.prepare(&changes(&[(b"a", Some(b"1"))])).unwrap();
    let mut b = block_on(&db, prepared.root(), vec![]);
    b.header.number = 1;
    assert!(matches!(
        db.commit_block(&b, prepared, None, false),
        Err(StorageError::NotExtendingBest { .. })
    ));
    assert_eq!(db.genesis_hash().unwrap(), None);
}

#[test]
fn a_stale_prepare_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    commit(&db, &changes(&[(b"a", Some(b"1"))]), true);
    let p1 = db.prepare(&changes(&[(b"a", Some(b"2"))])).unwrap();
    let p2 = db.prepare(&changes(&[(b"b", Some(b"3"))])).unwrap();
    assert_eq!(p1.base_root(), p2.base_root());
    let b1 = block_on(&db, p1.root(), vec![]);
    db.commit_block(&b1, p1, None, false).unwrap();
    let b2 = block_on(&db, p2.root(), vec![]);
    let err = db.commit_block(&b2, p2, None, false).unwrap_err();
    assert!(matches!(err, StorageError::StalePrepare { .. }), "{err}");
    assert_eq!(db.storage(b"b").unwrap(), None);
    assert_eq!(db.best().unwrap(), Some((1, b1.hash())));
}

#[test]
fn empty_change_set_keeps_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    commit(&db, &changes(&[(b"a", Some(b"1"))]), false);
    let root = db.state_root().unwrap();
    let p = db.prepare(&ChangeSet::new()).unwrap();
    assert_eq!(p.root(), root);
    assert!(p.trie_update().inserted.is_empty() && p.trie_update().removed.is_empty());
    commit(&db, &ChangeSet::new(), false);
    assert_eq!(db.state_root().unwrap(), root);
    // Deleting an absent key changes nothing either.
    commit(&db, &changes(&[(b"zz", None)]), false);
    assert_eq!(db.state_root().unwrap(), root);
}

#[test]
fn finality_pointer_moves_forward_on_the_canonical_chain_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let b0 = commit(&db, &changes(&[(b"a", Some(b"1"))]), false);
    let b1 = commit(&db, &changes(&[(b"a", Some(b"2"))]), false);
    let b2 = commit(&db, &changes(&[(b"a", Some(b"3"))]), false);
    assert_eq!(db.finalized().unwrap(), None);
    db.set_finalized_with_justification(1, b1.hash(), b"cert1")
        .unwrap();
    assert_eq!(db.finalized().unwrap(), Some((1, b1.hash())));
    assert_eq!(
        db.justification(&b1.hash()).unwrap(),
        Some(b"cert1".to_vec())
    );
    assert!(matches!(
        db.set_finalized(0, b0.hash()),
        Err(StorageError::InvalidFinalized { .. })
    ));
    assert!(matches!(
        db.set_finalized(2, b1.hash()),
        Err(StorageError::InvalidFinalized { .. })
    ));
    assert!(matches!(
        db.set_finalized(3, H256([1; 32])),
        Err(StorageError::InvalidFinalized { .. })
    ));
    db.set_finalized(2, b2.hash()).unwrap();
    drop(db);
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(db.finalized().unwrap(), Some((2, b2.hash())));
}

#[test]
fn schema_version_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path()).unwrap();
        let meta = db.cf(columns::META).unwrap();
        db.db
            .put_cf(meta, meta_keys::SCHEMA_VERSION, 99u32.encode())
            .unwrap();
    }
    let err = Database::open(dir.path()).unwrap_err();
    assert_eq!(
        err,
        StorageError::SchemaVersion {
            expected: SCHEMA_VERSION,
            found: 99
        }
    );
    assert!(err.to_string().contains("purge-chain"));
}

#[test]
fn an_undecodable_record_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let b = commit(&db, &changes(&[(b"a", Some(b"1"))]), false);
    db.db
        .put_cf(
            db.cf(columns::HEADERS).unwrap(),
            b.hash().as_bytes(),
            [1u8, 2, 3],
        )
        .unwrap();
    db.db
        .put_cf(db.cf(columns::NUMBERS).unwrap(), 0u64.to_be_bytes(), [1u8])
        .unwrap();
    assert!(matches!(
        db.header(&b.hash()),
        Err(StorageError::Corrupt(_))
    ));
    assert!(matches!(db.block(&b.hash()), Err(StorageError::Corrupt(_))));
    assert!(matches!(db.hash_at(0), Err(StorageError::Corrupt(_))));
    drop(db);
    // The best block's header is checked on open.
    let err = Database::open(dir.path()).unwrap_err();
    assert!(matches!(err, StorageError::Corrupt(_)), "{err}");
}

#[test]
fn a_missing_trie_node_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    // No node cache: the node is deleted behind the running database's back, and a
    // cache would (rightly) still serve it until the next start.
    let db = Database::open_with(
        dir.path(),
        crate::DatabaseConfig {
            trie_cache_nodes: 0,
        },
    )
    .unwrap();
    let cs: ChangeSet = (0..20u8).map(|i| (vec![i], Some(vec![i]))).collect();
    commit(&db, &cs, false);
    let root = db.state_root().unwrap();
    let Some(Node::Internal { left, .. }) = TrieNodes(&db).node(&root).unwrap() else {
        panic!("root is internal")
    };
    db.db
        .delete_cf(db.cf(columns::TRIE).unwrap(), left.as_bytes())
        .unwrap();
    let all: ChangeSet = (0..20u8).map(|i| (vec![i], Some(vec![i, i]))).collect();
    assert!(matches!(db.prepare(&all), Err(StorageError::Corrupt(_))));
    let keys: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i]).collect();
    assert!(matches!(
        db.read_proof(&keys),
        Err(StorageError::Corrupt(_))
    ));
}

/// Writes a database with a few blocks, flushed to table files, and returns its dir.
fn written_database() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    for i in 0..3u8 {
        let cs: ChangeSet = (0..200u32)
            .map(|j| (j.to_be_bytes().to_vec(), Some(vec![i; 40])))
            .collect();
        commit(&db, &cs, true);
    }
    db.flush().unwrap();
    dir
}

fn garbage(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ 0x5a)
        .collect()
}

/// Opening, then reading everything, must give an error somewhere and never panic.
fn open_and_read_fails(dir: &Path) -> StorageError {
    let db = match Database::open(dir) {
        Err(e) => return e,
        Ok(db) => db,
    };
    let check = || -> Result<(), StorageError> {
        let (_, best) = db
            .best()?
            .ok_or_else(|| StorageError::Corrupt("no best".into()))?;
        db.block(&best)?
            .ok_or_else(|| StorageError::Corrupt("no best block".into()))?;
        for n in 0..3 {
            let h = db
                .hash_at(n)?
                .ok_or_else(|| StorageError::Corrupt("no hash".into()))?;
            db.block(&h)?
                .ok_or_else(|| StorageError::Corrupt("no block".into()))?;
        }
        let keys: Vec<Vec<u8>> = (0..200u32).map(|j| j.to_be_bytes().to_vec()).collect();
        let (root, proofs) = db.read_proof(&keys)?;
        for (k, v, p) in proofs {
            v.as_ref()
                .ok_or_else(|| StorageError::Corrupt("value lost".into()))?;
            verify_proof(&root, &k, v.as_deref(), &p)
                .map_err(|e| StorageError::Corrupt(e.to_string()))?;
        }
        Ok(())
    };
    match check() {
        Err(e) => e,
        Ok(()) => panic!("garbage went unnoticed"),
    }
}

fn files_named(dir: &Path, pred: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&pred))
        .collect();
    out.sort();
    out
}

#[test]
fn garbage_in_current_gives_an_open_error() {
    let dir = written_database();
    std::fs::write(dir.path().join("CURRENT"), garbage(37, 1)).unwrap();
    let err = Database::open(dir.path()).unwrap_err();
    assert!(matches!(err, StorageError::Open { .. }), "{err}");
    assert!(err.to_string().contains("purge-chain"), "{err}");
}

#[test]
fn garbage_in_the_manifest_gives_an_open_error() {
    let dir = written_database();
    let manifests = files_named(dir.path(), |n| n.starts_with("MANIFEST-"));
    assert!(!manifests.is_empty());
    for m in manifests {
        std::fs::write(m, garbage(500, 2)).unwrap();
    }
    let err = Database::open(dir.path()).unwrap_err();
    assert!(matches!(err, StorageError::Open { .. }), "{err}");
}

#[test]
fn garbage_in_table_files_gives_an_error() {
    let dir = written_database();
    let tables = files_named(dir.path(), |n| n.ends_with(".sst"));
    assert!(!tables.is_empty());
    for t in tables {
        let len = std::fs::metadata(&t).unwrap().len() as usize;
        std::fs::write(t, garbage(len, 3)).unwrap();
    }
    let err = open_and_read_fails(dir.path());
    assert!(
        err.to_string().contains("purge-chain") || matches!(err, StorageError::Open { .. }),
        "{err}"
    );
}

#[test]
fn truncated_table_files_give_an_error() {
    let dir = written_database();
    for t in files_named(dir.path(), |n| n.ends_with(".sst")) {
        std::fs::write(t, garbage(10, 4)).unwrap();
    }
    open_and_read_fails(dir.path());
}

#[test]
fn a_file_instead_of_a_directory_gives_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db");
    std::fs::write(&file, b"not a database").unwrap();
    assert!(matches!(
        Database::open(&file),
        Err(StorageError::Open { .. })
    ));
}

#[test]
fn database_is_send_and_sync_and_readable_while_committing() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Database>();
    let dir = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(Database::open(dir.path()).unwrap());
    commit(&db, &changes(&[(b"k0", Some(b"v"))]), true);
    let reader = {
        let db = db.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                let (root, proofs) = db.read_proof(&[b"k0".to_vec(), b"k5".to_vec()]).unwrap();
                for (k, v, p) in proofs {
                    verify_proof(&root, &k, v.as_deref(), &p).unwrap();
                }
            }
        })
    };
    for i in 1..20u8 {
        commit(
            &db,
            &changes(&[(&[b'k', b'0' + i % 10][..], Some(&[i][..]))]),
            false,
        );
    }
    reader.join().unwrap();
}

fn change_set_strategy() -> impl Strategy<Value = ChangeSet> {
    let key = prop::collection::vec(prop::sample::select(vec![0u8, 1, 2, 255]), 0..4);
    let value = prop::option::weighted(0.7, prop::collection::vec(any::<u8>(), 0..5));
    prop::collection::btree_map(key, value, 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn incremental_root_and_iteration_match_a_model(blocks in prop::collection::vec(change_set_strategy(), 1..10)) {
        let dir = tempfile::tempdir().unwrap();
        let mut model = Model::new();
        {
            let db = Database::open(dir.path()).unwrap();
            for cs in &blocks {
                apply_model(&mut model, cs);
                let block = commit(&db, cs, false);
                prop_assert_eq!(block.header.state_root, root_of_model(&model));
                prop_assert_eq!(db.state_root().unwrap(), root_of_model(&model));
                prop_assert_eq!(all_keys(&db), model.keys().cloned().collect::<Vec<_>>());
                for k in cs.keys() {
                    prop_assert_eq!(StateReader::get(&db, k).unwrap(), model.get(k).cloned());
                    let expected = model.range::<Vec<u8>, _>((std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded)).next().map(|(k, _)| k.clone());
                    prop_assert_eq!(StateReader::next_key(&db, k).unwrap(), expected);
                }
            }
        }
        let db = Database::open(dir.path()).unwrap();
        prop_assert_eq!(db.state_root().unwrap(), root_of_model(&model));
        prop_assert_eq!(db.best().unwrap().map(|(n, _)| n), Some(blocks.len() as u64 - 1));
        let keys: Vec<Vec<u8>> = model.keys().cloned().chain([vec![9u8], vec![0, 0, 0, 0]]).collect();
        let (root, proofs) = db.read_proof(&keys).unwrap();
        for (k, v, p) in proofs {
            prop_assert_eq!(&v, &model.get(&k).cloned());
            prop_assert!(verify_proof(&root, &k, v.as_deref(), &p).is_ok());
        }
    }
}
