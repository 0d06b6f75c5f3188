//! End-to-end: contracts through the real `menara` binary on one dev chain. The SDK's
//! example token and escrow are built with `menara contract build`, deployed, called and
//! queried by name (arguments encoded and results, events and errors decoded from the
//! metadata inside the code); a call that would revert is caught by its dry run and costs
//! nothing. Then hostile contracts sent as raw transactions: garbage and float code are
//! refused at upload, an endless loop fails with `OutOfFuel` (charged its whole limit), a
//! memory bomb with `MemoryLimit`, and blocks full of endless loops keep the chain's pace.
#![allow(clippy::unwrap_used)]
mod support;

use jsonrpsee::ws_client::WsClient;
use menara_chain_spec::keyring;
use menara_primitives::{AccountId, Balance, H256, MEN};
use menara_rpc::client;
use menara_runtime::{pallet_contracts, RuntimeCall};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::*;

const BLOCK_MS: u32 = 500;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `menara contract build` of an example; returns the `.wasm` path it printed.
fn build(example: &str) -> String {
    let dir = root().join("sdk/examples").join(example);
    let target = root().join("target/contracts");
    let out = menara(&[
        "contract",
        "build",
        dir.to_str().unwrap(),
        "--target-dir",
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "build failed:\n{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("code hash  0x"), "{text}");
    text.lines().next().unwrap().to_string()
}

/// The address in the `contract <address>` line a deploy ends with.
fn address(out: &str) -> String {
    let last = out.lines().last().unwrap_or_default();
    let address = last
        .strip_prefix("contract ")
        .unwrap_or_else(|| panic!("expected `contract <address>` last, got:\n{out}"));
    assert!(address.parse::<AccountId>().is_ok(), "{out}");
    address.to_string()
}

async fn free(c: &WsClient, who: &AccountId) -> Balance {
    client::account(c, who).await.unwrap().free
}

/// Signs `calls` as //Ferdie (nonces from `nonce`) and submits them all.
async fn submit_all(c: &WsClient, nonce: u64, calls: Vec<RuntimeCall>) -> Vec<H256> {
    let key = keyring::dev_signing_key("Ferdie");
    let genesis = client::genesis_hash(c).await.unwrap();
    let mut hashes = Vec::new();
    for (i, call) in calls.into_iter().enumerate() {
        let ext = keyring::sign(&key, &genesis, nonce + i as u64, 0, call);
        hashes.push(client::submit(c, &ext).await.unwrap());
    }
    hashes
}

/// Waits until every transaction is included; returns their outcomes.
async fn outcomes(c: &WsClient, hashes: &[H256]) -> Vec<menara_rpc::TransactionOutcome> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut done = Vec::new();
    for hash in hashes {
        loop {
            if let Some(o) = client::transaction_outcome(c, hash).await.unwrap() {
                done.push(o);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "transaction {hash} never included"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    done
}

fn upload(code: Vec<u8>) -> RuntimeCall {
    RuntimeCall::Contracts(pallet_contracts::Call::UploadCode { code })
}

fn instantiate(code: Vec<u8>) -> RuntimeCall {
    RuntimeCall::Contracts(pallet_contracts::Call::Instantiate {
        code: pallet_contracts::CodeSource::Upload(code),
        value: 0.into(),
        fuel_limit: 1_000_000,
        storage_deposit_limit: None,
        salt: Vec::new(),
        input: Vec::new(),
        immutable: true,
    })
}

fn call(contract: AccountId, fuel_limit: u64) -> RuntimeCall {
    RuntimeCall::Contracts(pallet_contracts::Call::Call {
        contract,
        value: 0.into(),
        fuel_limit,
        storage_deposit_limit: None,
        input: Vec::new(),
    })
}

fn module(call_body: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module (memory (export "memory") 1) (func (export "deploy")) (func (export "call") {call_body}))"#
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn contracts_are_built_deployed_called_and_queried_on_a_dev_chain() {
    let token_wasm = build("token");
    let escrow_wasm = build("escrow");
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path(), BLOCK_MS);
    let c = node.connect().await;
    let bob = keyring::dev_account("Bob");

    // A file without the SDK's metadata is refused before anything is sent.
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm junk").unwrap();
    node.fails(
        &[
            "contract",
            "deploy",
            junk.to_str().unwrap(),
            "--from",
            "//Alice",
        ],
        "metadata",
    );

    // The token: deploy, transfer, query.
    let out = node.ok(&[
        "contract",
        "deploy",
        &token_wasm,
        "--args",
        "1000000",
        "--from",
        "//Alice",
    ]);
    assert!(out.contains("\"event\":\"Transfer\""), "{out}");
    let token = address(&out);
    let out = node.ok(&[
        "contract", "call", &token, "transfer", "--args", "//Bob", "250", "--from", "//Alice",
    ]);
    assert!(out.contains("dry run: returns null"), "{out}");
    assert!(out.contains("\"event\":\"Transfer\""), "{out}");
    assert!(out.contains(&format!("\"to\":\"{bob}\"")), "{out}");
    let balance = |who: &str| {
        node.ok(&["contract", "query", &token, "balance_of", "--args", who])
            .trim()
            .to_string()
    };
    assert_eq!(balance("//Bob"), "250");
    assert_eq!(balance("//Alice"), "999750");
    assert_eq!(
        node.ok(&["contract", "query", &token, "total_supply"])
            .trim(),
        "1000000"
    );
    // More than //Bob has: the dry run reverts with the contract's own error, decoded, and
    // nothing is sent (his nonce does not move).
    let nonce = client::account(&c, &bob).await.unwrap().nonce;
    node.fails(
        &[
            "contract",
            "call",
            &token,
            "transfer",
            "--args",
            "//Charlie",
            "251",
            "--from",
            "//Bob",
        ],
        "the contract reverted: InsufficientBalance (dry run, nothing was submitted)",
    );
    assert_eq!(client::account(&c, &bob).await.unwrap().nonce, nonce);
    // Bad arguments and unknown messages are caught by the metadata.
    node.fails(
        &[
            "contract",
            "query",
            &token,
            "balance_of",
            "--args",
            "nobody",
        ],
        "balance_of",
    );
    node.fails(&["contract", "query", &token, "mint"], "mint");
    let info = node.ok(&["contract", "info", &token]);
    assert!(info.contains("name       token"), "{info}");
    assert!(
        info.contains("transfer(to: AccountId, amount: u128)"),
        "{info}"
    );

    // The escrow: 10 MEN for //Bob, //Charlie arbitrates.
    let out = node.ok(&[
        "contract",
        "deploy",
        &escrow_wasm,
        "--value",
        "10",
        "--args",
        "//Bob",
        "//Charlie",
        "100000",
        "--from",
        "//Alice",
    ]);
    let escrow = address(&out);
    assert_eq!(
        node.ok(&["contract", "query", &escrow, "held"]).trim(),
        (10 * MEN).to_string()
    );
    node.fails(
        &["contract", "call", &escrow, "release", "--from", "//Dave"],
        "NotArbiter",
    );
    node.fails(
        &["contract", "call", &escrow, "refund", "--from", "//Alice"],
        "TooEarly",
    );
    let before = free(&c, &bob).await;
    let out = node.ok(&[
        "contract",
        "call",
        &escrow,
        "release",
        "--from",
        "//Charlie",
    ]);
    assert!(out.contains("\"event\":\"Released\""), "{out}");
    assert_eq!(free(&c, &bob).await, before + 10 * MEN);
    assert_eq!(
        node.ok(&["contract", "query", &escrow, "state"]).trim(),
        "released"
    );
    // Released once: a second release reverts.
    let release = [
        "contract",
        "call",
        &escrow,
        "release",
        "--from",
        "//Charlie",
    ];
    node.fails(&release, "AlreadySettled");

    // Hostile code as raw transactions from //Ferdie.
    let ferdie = keyring::dev_account("Ferdie");
    let floats = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "deploy")) (func (export "call"))
            (func (result f64) (f64.const 1)))"#,
    )
    .unwrap();
    let endless = module("(loop $l (br $l))");
    let bomb = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "deploy"))
            (func (export "call") (loop $l (drop (memory.grow (i32.const 1))) (br $l))))"#,
    )
    .unwrap();
    let hashes = submit_all(
        &c,
        0,
        vec![
            upload(b"\0asm\x01\0\0\0garbage".to_vec()),
            upload(floats),
            instantiate(endless.clone()),
            instantiate(bomb.clone()),
        ],
    )
    .await;
    let done = outcomes(&c, &hashes).await;
    let errors: Vec<String> = done
        .iter()
        .map(|o| o.error.clone().unwrap_or_default())
        .collect();
    assert!(errors[0].starts_with("InvalidCode"), "{errors:?}");
    assert!(
        errors[1].starts_with("InvalidCode") && errors[1].contains("float"),
        "{errors:?}"
    );
    assert!(done[2].success && done[3].success, "{errors:?}");
    let address_of = |code: &[u8]| {
        pallet_contracts::Pallet::<menara_runtime::Runtime>::contract_address(
            &ferdie,
            &menara_primitives::blake3_256(code),
            &[],
        )
    };
    let (endless_at, bomb_at) = (address_of(&endless), address_of(&bomb));
    // The bomb stops at the memory limit; the endless loop runs out of fuel and is charged
    // its whole limit.
    let max = <menara_runtime::Runtime as pallet_contracts::Config>::MAX_FUEL_PER_CALL;
    let per_block = <menara_runtime::Runtime as pallet_contracts::Config>::MAX_FUEL_PER_BLOCK;
    let funds = free(&c, &ferdie).await;
    let hashes = submit_all(&c, 4, vec![call(bomb_at, max), call(endless_at, max)]).await;
    let done = outcomes(&c, &hashes).await;
    assert!(
        done[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .starts_with("MemoryLimit"),
        "{:?}",
        done[0]
    );
    assert!(
        done[1]
            .error
            .as_deref()
            .unwrap_or_default()
            .starts_with("OutOfFuel"),
        "{:?}",
        done[1]
    );
    let spent = funds - free(&c, &ferdie).await;
    let full_fuel = menara_runtime::executive::fuel_fee(max) * 2;
    assert!(
        spent >= full_fuel,
        "charged {spent}, the fuel alone costs {full_fuel}"
    );

    // Blocks full of endless loops: 3 blocks' worth of calls at the block's fuel limit.
    // Block production keeps its pace.
    let loops = (3 * per_block / max) as usize;
    let start = client::header(&c, None).await.unwrap().unwrap().number;
    let hashes = submit_all(&c, 6, (0..loops).map(|_| call(endless_at, max)).collect()).await;
    let done = outcomes(&c, &hashes).await;
    assert!(done.iter().all(|o| !o.success));
    let last = done.iter().map(|o| o.block_number).max().unwrap();
    wait_for_block(&c, last + 1).await;
    let mut stamps = Vec::new();
    for n in start..=last + 1 {
        let hash = client::block_hash(&c, Some(n)).await.unwrap().unwrap();
        stamps.push(
            client::header(&c, Some(hash))
                .await
                .unwrap()
                .unwrap()
                .timestamp,
        );
    }
    let gaps: Vec<u64> = stamps.windows(2).map(|w| w[1] - w[0]).collect();
    let report = format!(
        "contracts: {loops} endless loops at {max} fuel each ({per_block} fuel per block) in blocks #{start}..#{last}; block gaps (ms): {gaps:?}\n"
    );
    let tmp = root().join("target/tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("contracts-pace.txt"), &report).unwrap();
    let slowest = *gaps.iter().max().unwrap();
    assert!(
        slowest < 2 * u64::from(BLOCK_MS),
        "blocks slowed down under contract load: {report}"
    );
}

/// The pay-per-inference oracle (`sdk/examples/inference-oracle`) on a dev chain whose node
/// runs the provider worker: //Bob pays the contract to embed a sentence, the contract
/// submits a verified-inference job from its own balance, and when the job is final the
/// chain calls the contract back with the output, which it stores: the same values the
/// chain's job record holds.
#[tokio::test(flavor = "multi_thread")]
async fn an_inference_oracle_contract_is_called_back_with_the_verified_output() {
    use jsonrpsee::core::client::ClientT;
    use jsonrpsee::rpc_params;
    let oracle_wasm = build("inference-oracle");
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("node");
    std::fs::create_dir_all(&base).unwrap();
    let mut node = Node::start_with(&base, 200, &["--provider"]);
    let c = node.connect().await;

    // //Alice publishes a tiny encoder and serves it at 1 MEN a job.
    let (_, bytes, model) = tiny_encoder(5);
    let model_file = dir.path().join("tiny.mvm");
    std::fs::write(&model_file, &bytes).unwrap();
    let out = node.ok(&[
        "model",
        "publish",
        "--file",
        model_file.to_str().unwrap(),
        "--name",
        "oracle-encoder",
        "--version",
        "1.0.0",
        "--from",
        "//Alice",
    ]);
    assert!(out.contains(&format!("model {model}")), "{out}");
    node.serve(&model.to_string(), "//Alice");

    // The oracle: 3 MEN a request, each job at most 2 MEN.
    let out = node.ok(&[
        "contract",
        "deploy",
        &oracle_wasm,
        "--args",
        &model.to_string(),
        &(3 * MEN).to_string(),
        &(2 * MEN).to_string(),
        "--from",
        "//Alice",
    ]);
    let oracle = address(&out);
    // Underpaid: the contract's own error, before anything is sent.
    let tokens = format!("[1, {}, {}, 2]", word("hello"), word("world"));
    node.fails(
        &[
            "contract", "call", &oracle, "embed", "--args", &tokens, "--value", "1", "--from",
            "//Bob",
        ],
        "Underpaid",
    );
    let out = node.ok(&[
        "contract", "call", &oracle, "embed", "--args", &tokens, "--value", "3", "--from", "//Bob",
    ]);
    assert!(out.contains("\"event\":\"Requested\""), "{out}");
    let job: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("dry run: returns "))
        .and_then(|rest| rest.split(',').next())
        .and_then(|id| id.trim().parse().ok())
        .unwrap_or_else(|| panic!("no job id in:\n{out}"));
    // Only the chain may deliver a result.
    node.fails(
        &[
            "contract",
            "call",
            &oracle,
            "on_result",
            "--args",
            &job.to_string(),
            "5",
            "none",
            "--from",
            "//Bob",
        ],
        "NotCallback",
    );

    // The job becomes final; the contract is called back in the same block.
    let deadline = Instant::now() + Duration::from_secs(120);
    let record = loop {
        let v: serde_json::Value = c.request("inference_job", rpc_params![job]).await.unwrap();
        if v["state"] == "final" {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "job {job} not final: {v}\n{}",
            node.node_log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        record["client"],
        oracle.to_lowercase(),
        "paid by the contract"
    );
    let verified: Vec<i64> = record["output"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert!(!verified.is_empty());
    let stored = node.ok(&[
        "contract",
        "query",
        &oracle,
        "result",
        "--args",
        &job.to_string(),
    ]);
    let stored: Vec<i64> =
        serde_json::from_str(stored.trim()).unwrap_or_else(|e| panic!("{e}: {stored}"));
    assert_eq!(stored, verified);
}
