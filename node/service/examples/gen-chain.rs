//! Writes a chain of the `local` spec, every block with a commit certificate signed by the
//! four development validators, into a base path: the fixture of `scripts/bench-sync.sh`.
//!
//! `cargo run --release -p menara-service --example gen-chain -- BASE_PATH BLOCKS [TXS_PER_BLOCK]`
use menara_chain_spec::{keyring, ChainSpec};
use menara_consensus::{QuorumCertificate, SignedVote, Vote, VoteKind};
use menara_crypto::BlsSecretKey;
use menara_primitives::MEN;
use menara_rpc::NodeApi;
use menara_service::driver::validator_set;
use menara_service::{Client, Metrics, NodeConfig};
use parity_scale_codec::Encode;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(base), Some(blocks)) = (args.get(1), args.get(2)) else {
        return Err("usage: gen-chain BASE_PATH BLOCKS [TXS_PER_BLOCK]".into());
    };
    let blocks: u64 = blocks.parse()?;
    let txs: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(10);
    let spec = ChainSpec::load("local")?;
    let config = NodeConfig::new(
        spec.clone(),
        std::path::Path::new(base).join("chains").join(&spec.id),
    );
    let client = Client::open(&config, Arc::new(Metrics::new()))?;
    let chain = client.genesis_hash().0;
    let dev_validators: Vec<([u8; 32], BlsSecretKey)> = ["Alice", "Bob", "Charlie", "Dave"]
        .iter()
        .map(|n| {
            (
                keyring::dev_account(n).0,
                BlsSecretKey::from_seed(&keyring::dev_bls_seed(n)),
            )
        })
        .collect();
    let alice = keyring::dev_signing_key("Alice");
    let alice_id = keyring::dev_account("Alice");
    let started = Instant::now();
    for _ in 0..blocks {
        // The set changes at epoch boundaries (elections): read it for every block, and
        // let the proposer of round 0 author the block, as live consensus would, so that
        // no validator is jailed for authoring nothing.
        let set = validator_set(&client)?;
        let height = client.best().0 + 1;
        let author_index = set.proposer(height, 0);
        let author = set
            .get(author_index)
            .map(|v| menara_primitives::AccountId(v.id))
            .ok_or("proposer outside the validator set")?;
        let author_bls = dev_validators
            .iter()
            .find(|(id, _)| *id == author.0)
            .map(|(_, sk)| sk.clone())
            .ok_or("proposer is not a development validator")?;
        let first = client.account_next_index(&alice_id)?;
        for nonce in first..first + txs {
            let dest = menara_primitives::AccountId(*blake3::hash(&nonce.to_le_bytes()).as_bytes());
            let call = menara_runtime::RuntimeCall::Balances(pallet_balances::Call::Transfer {
                dest,
                value: MEN.into(),
            });
            client.submit_transaction(keyring::sign(
                &alice,
                &client.genesis_hash(),
                nonce,
                0,
                call,
            ))?;
        }
        let executed = client.build_block(author, &author_bls, Duration::from_secs(10))?;
        let (height, hash) = (executed.block.header.number, executed.block.hash());
        let votes: Vec<SignedVote> = dev_validators
            .iter()
            .filter_map(|(id, sk)| {
                let vote = Vote {
                    height,
                    round: 0,
                    kind: VoteKind::Precommit,
                    block: Some(hash),
                    validator: set.index_of(id)?,
                };
                Some(SignedVote::sign(&chain, vote, sk))
            })
            .collect();
        let cert = QuorumCertificate::from_votes(&set, &votes.iter().collect::<Vec<_>>())?;
        client.commit_executed(executed, Some(&cert.encode()))?;
        if height % 1000 == 0 {
            println!("#{height} ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    client.close();
    println!(
        "wrote {blocks} blocks with {txs} transfers each to {base} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
