//! The consensus driver's gates, in-process: what it refuses to forward from gossip, and
//! what sync refuses to import (certificates checked before a block is executed).
#![allow(clippy::unwrap_used)]
use menara_chain_spec::{keyring, ChainSpec};
use menara_consensus::{Message, QuorumCertificate, SignedVote, ValidatorSet, Vote, VoteKind};
use menara_crypto::{BlsCrypto, BlsSecretKey};
use menara_network::{BlockRequest, PeerId, Validation};
use menara_primitives::H256;
use menara_service::driver::{validator_set, Driver, DriverConfig, MAX_CONSENSUS_MESSAGE};
use menara_service::worker::{import_batch, serve_blocks};
use menara_service::{Client, Metrics, NodeConfig};
use parity_scale_codec::{DecodeAll, Encode};
use std::sync::Arc;
use std::time::Duration;

fn local_client(dir: &std::path::Path) -> Arc<Client> {
    let config = NodeConfig::new(ChainSpec::load("local").unwrap(), dir.to_path_buf());
    Client::open(&config, Arc::new(Metrics::new())).unwrap()
}

fn bls(name: &str) -> BlsSecretKey {
    BlsSecretKey::from_seed(&keyring::dev_bls_seed(name))
}

fn vote(
    set: &ValidatorSet<BlsCrypto>,
    chain: &[u8; 32],
    signer: &str,
    as_validator: &str,
    height: u64,
    kind: VoteKind,
    block: Option<H256>,
) -> SignedVote<BlsCrypto> {
    let validator = set
        .index_of(&keyring::dev_account(as_validator).0)
        .unwrap_or(99);
    let v = Vote {
        height,
        round: 0,
        kind,
        block,
        validator,
    };
    SignedVote::sign(chain, v, &bls(signer))
}

fn certificate(
    set: &ValidatorSet<BlsCrypto>,
    chain: &[u8; 32],
    height: u64,
    hash: H256,
    signers: &[&str],
) -> QuorumCertificate<BlsCrypto> {
    let votes: Vec<_> = signers
        .iter()
        .map(|n| vote(set, chain, n, n, height, VoteKind::Precommit, Some(hash)))
        .collect();
    QuorumCertificate::from_votes(set, &votes.iter().collect::<Vec<_>>()).unwrap()
}

#[tokio::test]
async fn gossip_is_checked_before_it_is_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let client = local_client(dir.path());
    let set = validator_set(&client).unwrap();
    assert_eq!(set.len(), 4);
    let chain = client.genesis_hash().0;
    let (mut driver, _inputs) = Driver::start(
        client.clone(),
        None,
        DriverConfig {
            keys: None,
            block_time: Duration::from_millis(500),
            safety_path: dir.path().join("safety"),
            equivocate: false,
        },
    )
    .unwrap();
    let peer = PeerId::random();
    let gossip = |d: &mut Driver, m: &Message<BlsCrypto>| d.on_gossip(peer, &m.encode());

    // Garbage, truncated and oversized bytes.
    assert_eq!(driver.on_gossip(peer, b"not a message"), Validation::Reject);
    let good = Message::Vote(vote(
        &set,
        &chain,
        "Alice",
        "Alice",
        1,
        VoteKind::Prevote,
        None,
    ));
    let bytes = good.encode();
    assert_eq!(
        driver.on_gossip(peer, &bytes[..bytes.len() - 1]),
        Validation::Reject
    );
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(driver.on_gossip(peer, &trailing), Validation::Reject);
    assert_eq!(
        driver.on_gossip(peer, &vec![0u8; MAX_CONSENSUS_MESSAGE + 1]),
        Validation::Reject
    );
    // A vote from an index outside the set, and one signed by another key.
    let outsider = vote(&set, &chain, "Eve", "Eve", 1, VoteKind::Prevote, None);
    assert_eq!(
        gossip(&mut driver, &Message::Vote(outsider)),
        Validation::Reject
    );
    let forged = vote(&set, &chain, "Bob", "Alice", 1, VoteKind::Prevote, None);
    assert_eq!(
        gossip(&mut driver, &Message::Vote(forged)),
        Validation::Reject
    );
    // A vote signed for another chain.
    let other_chain = vote(
        &set,
        &[7u8; 32],
        "Alice",
        "Alice",
        1,
        VoteKind::Prevote,
        None,
    );
    assert_eq!(
        gossip(&mut driver, &Message::Vote(other_chain)),
        Validation::Reject
    );
    // A certificate below quorum (2 of 4 equal stakes), and one with a forged aggregate.
    let block = H256([9u8; 32]);
    let weak = certificate(&set, &chain, 1, block, &["Alice", "Bob"]);
    assert_eq!(
        gossip(&mut driver, &Message::Certificate(weak)),
        Validation::Reject
    );
    let mut forged_cert = certificate(&set, &chain, 1, block, &["Alice", "Bob", "Charlie"]);
    forged_cert.aggregate = certificate(
        &set,
        &chain,
        1,
        H256([8u8; 32]),
        &["Alice", "Bob", "Charlie"],
    )
    .aggregate;
    assert_eq!(
        gossip(&mut driver, &Message::Certificate(forged_cert)),
        Validation::Reject
    );
    // Stale input is dropped without penalty; a good vote is accepted and forwarded.
    let stale = vote(&set, &chain, "Alice", "Alice", 0, VoteKind::Prevote, None);
    assert_eq!(
        gossip(&mut driver, &Message::Vote(stale)),
        Validation::Ignore
    );
    assert_eq!(gossip(&mut driver, &good), Validation::Accept);
}

#[tokio::test]
async fn sync_imports_only_blocks_with_valid_certificates() {
    let (a_dir, b_dir, c_dir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let a = local_client(a_dir.path());
    let set = validator_set(&a).unwrap();
    let chain = a.genesis_hash().0;
    let alice = keyring::dev_account("Alice");
    for _ in 0..3 {
        let executed = a
            .build_block(
                alice,
                &keyring::dev_bls_secret("Alice"),
                Duration::from_secs(5),
            )
            .unwrap();
        let hash = executed.block.hash();
        let n = executed.block.header.number;
        let cert = certificate(&set, &chain, n, hash, &["Alice", "Charlie", "Dave"]);
        a.commit_executed(executed, Some(&cert.encode())).unwrap();
    }
    let served = serve_blocks(&a, BlockRequest { from: 1, max: 100 }, 1 << 20);
    assert_eq!(served.head, 3);
    assert_eq!(served.blocks.len(), 3);

    // A fresh node imports them all, checking every certificate.
    let b = local_client(b_dir.path());
    assert_eq!(import_batch(&b, 1, &served.blocks), Ok(3));
    assert_eq!(b.best(), a.best());
    assert_eq!(b.finalized(), a.finalized());

    // Tampered certificates are refused before anything is written.
    let c = local_client(c_dir.path());
    let tamper = |i: usize, f: &dyn Fn(&mut Option<Vec<u8>>)| {
        let mut blocks = served.blocks.clone();
        let (block, mut j) =
            <(menara_primitives::Block, Option<Vec<u8>>)>::decode_all(&mut &blocks[i][..]).unwrap();
        f(&mut j);
        blocks[i] = (block, j).encode();
        blocks
    };
    let h1 = a.database().hash_at(1).unwrap().unwrap();
    let weak = certificate(&set, &chain, 1, h1, &["Alice", "Bob"]).encode();
    let other = certificate(&set, &chain, 1, H256([1u8; 32]), &["Alice", "Bob", "Dave"]).encode();
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("no certificate", tamper(0, &|j| *j = None)),
        ("below quorum", tamper(0, &|j| *j = Some(weak.clone()))),
        (
            "for another block",
            tamper(0, &|j| *j = Some(other.clone())),
        ),
        ("garbage", tamper(0, &|j| *j = Some(vec![1, 2, 3]))),
    ];
    for (what, blocks) in cases {
        let r = import_batch(&c, 1, &blocks);
        assert!(matches!(r, Err((0, _))), "{what}: {r:?}");
        assert_eq!(c.best().0, 0, "{what}: something was imported");
    }
    // A bad certificate further on stops the import there, keeping the good prefix.
    let bad_third = tamper(2, &|j| *j = Some(weak.clone()));
    assert!(matches!(import_batch(&c, 1, &bad_third), Err((2, _))));
    assert_eq!(c.best().0, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_equivocation_seen_on_gossip_is_reported_to_the_runtime() {
    use menara_rpc::NodeApi;
    let dir = tempfile::tempdir().unwrap();
    let client = local_client(dir.path());
    let set = validator_set(&client).unwrap();
    let chain = client.genesis_hash().0;
    let keys = Arc::new(menara_service::ValidatorKeys {
        account: keyring::dev_signing_key("Alice"),
        bls: bls("Alice"),
    });
    let (mut driver, _inputs) = Driver::start(
        client.clone(),
        None,
        DriverConfig {
            keys: Some(keys),
            block_time: Duration::from_millis(500),
            safety_path: dir.path().join("safety"),
            equivocate: false,
        },
    )
    .unwrap();
    assert!(driver.own_index().is_some());
    // Bob prevotes two different blocks at the same height and round.
    let peer = PeerId::random();
    for block in [H256([1u8; 32]), H256([2u8; 32])] {
        let v = vote(
            &set,
            &chain,
            "Bob",
            "Bob",
            1,
            VoteKind::Prevote,
            Some(block),
        );
        assert_eq!(
            driver.on_gossip(peer, &Message::Vote(v).encode()),
            Validation::Accept
        );
    }
    // The driver signs a report with Alice's account and puts it in the pool.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let report = loop {
        let pending = client.pending_transactions();
        if let Some(tx) = pending.into_iter().find(|tx| {
            matches!(
                menara_runtime::Transaction::decode_all(&mut &tx[..]).map(|t| t.call),
                Ok(menara_runtime::RuntimeCall::Offences(_))
            )
        }) {
            break tx;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no equivocation report in the pool"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Included in a block, the runtime checks it and records the offence.
    let executed = client
        .build_block(
            keyring::dev_account("Alice"),
            &keyring::dev_bls_secret("Alice"),
            Duration::from_secs(5),
        )
        .unwrap();
    assert!(executed.block.extrinsics.contains(&report));
    client.commit_executed(executed, None).unwrap();
    let outcome = client
        .transaction_outcome(&menara_primitives::blake3_256(&report))
        .unwrap()
        .unwrap();
    assert!(outcome.success, "{outcome:?}");
}
