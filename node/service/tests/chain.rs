//! The chain client in-process: authoring, import by a second node, tampered blocks.
#![allow(clippy::unwrap_used)]
use menara_chain_spec::{keyring, ChainSpec};
use menara_primitives::{AccountId, Block, MEN};
use menara_rpc::{ApiError, NodeApi};
use menara_runtime::RuntimeCall;
use menara_service::{Client, ClientError, ImportError, Metrics, NodeConfig};
use std::sync::Arc;
use std::time::Duration;

fn client(dir: &std::path::Path) -> Arc<Client> {
    let config = NodeConfig::new(ChainSpec::load("dev").unwrap(), dir.to_path_buf());
    Client::open(&config, Arc::new(Metrics::new())).unwrap()
}

fn transfer(c: &Client, from: &str, nonce: u64, to: AccountId, amount: u128) -> Vec<u8> {
    let call = RuntimeCall::Balances(pallet_balances::Call::Transfer {
        dest: to,
        value: amount.into(),
    });
    keyring::sign(
        &keyring::dev_signing_key(from),
        &c.genesis_hash(),
        nonce,
        0,
        call,
    )
}

const BLOCK_DEADLINE: Duration = Duration::from_secs(5);

#[test]
fn authored_blocks_import_elsewhere_and_tampered_ones_do_not() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = client(a_dir.path());
    let alice = keyring::dev_account("Alice");
    let dave = keyring::dev_account("Dave");
    let eve = keyring::dev_account("Eve-new");
    let mut blocks: Vec<Block> = Vec::new();
    for round in 0..3u64 {
        for n in 0..5 {
            let nonce = round * 5 + n;
            a.submit_transaction(transfer(&a, "Alice", nonce, eve, MEN))
                .unwrap();
        }
        // A future nonce waits in the pool without blocking others.
        if round == 0 {
            a.submit_transaction(transfer(&a, "Dave", 1, alice, MEN))
                .unwrap();
        }
        let block = a
            .author_block(alice, &keyring::dev_bls_secret("Alice"), BLOCK_DEADLINE)
            .unwrap();
        assert_eq!(block.extrinsics.len(), 5, "round {round}");
        blocks.push(block);
    }
    assert_eq!(a.account(&eve).unwrap().free, 15 * MEN);
    assert_eq!(a.account_next_index(&alice).unwrap(), 15);
    // Dave's nonce-1 transfer becomes ready once nonce 0 arrives.
    a.submit_transaction(transfer(&a, "Dave", 0, alice, MEN))
        .unwrap();
    let block = a
        .author_block(alice, &keyring::dev_bls_secret("Alice"), BLOCK_DEADLINE)
        .unwrap();
    assert_eq!(block.extrinsics.len(), 2);
    blocks.push(block);
    assert_eq!(a.account(&dave).unwrap().nonce, 2);

    // A second node importing the same blocks reaches the same state.
    let b = client(b_dir.path());
    assert_eq!(a.genesis_hash(), b.genesis_hash());
    // Tampered copies are refused and change nothing.
    let mut wrong_root = blocks[0].clone();
    wrong_root.header.state_root.0[0] ^= 1;
    assert!(matches!(
        b.import_block(&wrong_root),
        Err(ClientError::Import(ImportError::StateRoot { .. }))
    ));
    let mut dropped_tx = blocks[0].clone();
    dropped_tx.extrinsics.pop();
    assert!(matches!(
        b.import_block(&dropped_tx),
        Err(ClientError::Import(ImportError::ExtrinsicsRoot))
    ));
    let mut forged = blocks[0].clone();
    forged.extrinsics[0] = transfer(&a, "Bob", 0, eve, 500 * MEN);
    if let Some(b) = forged.extrinsics[0].last_mut() {
        *b ^= 1;
    }
    forged.header.extrinsics_root = menara_primitives::extrinsics_root(&forged.extrinsics);
    assert!(matches!(
        b.import_block(&forged),
        Err(ClientError::Import(ImportError::InvalidTransaction {
            index: 0,
            ..
        }))
    ));
    assert!(matches!(
        b.import_block(&blocks[1]),
        Err(ClientError::Import(ImportError::NotNext { .. }))
    ));
    assert_eq!(b.best().0, 0);
    for block in &blocks {
        b.import_block(block).unwrap();
    }
    assert_eq!(b.best(), a.best());
    assert_eq!(b.header(None).unwrap(), a.header(None).unwrap());
    assert_eq!(b.account(&eve).unwrap(), a.account(&eve).unwrap());
}

#[test]
fn pool_refuses_bad_transactions_with_reasons_and_state_is_only_for_best() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path());
    let alice = keyring::dev_account("Alice");
    let eve = keyring::dev_account("Eve-new");
    let ok = transfer(&c, "Alice", 0, eve, MEN);
    c.submit_transaction(ok.clone()).unwrap();
    assert!(
        matches!(c.submit_transaction(ok), Err(ApiError::Pool(_))),
        "duplicate"
    );
    let err = c
        .submit_transaction(transfer(&c, "Nobody", 0, eve, MEN))
        .unwrap_err();
    assert!(err.to_string().contains("insufficient balance"), "{err}");
    let err = c.submit_transaction(vec![1, 2, 3]).unwrap_err();
    assert!(err.to_string().contains("malformed"), "{err}");
    let genesis_block = c.block_hash(Some(0)).unwrap().unwrap();
    c.author_block(alice, &keyring::dev_bls_secret("Alice"), BLOCK_DEADLINE)
        .unwrap();
    let err = c
        .submit_transaction(transfer(&c, "Alice", 0, eve, MEN))
        .unwrap_err();
    assert!(err.to_string().contains("stale"), "{err}");
    assert!(matches!(
        c.storage(b":code", Some(genesis_block)),
        Err(ApiError::StateUnavailable(_))
    ));
    assert!(matches!(
        c.storage(b":code", Some(menara_primitives::H256([9; 32]))),
        Err(ApiError::UnknownBlock(_))
    ));
    assert!(c.storage(b":code", None).unwrap().is_some());
}
