//! End-to-end: the real `menara` binary, a dev chain, transfers over JSON-RPC, read
//! proofs, bad input, SIGKILL and restart, a corrupt database.
#![allow(clippy::unwrap_used)]
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClient;
use menara_chain_spec::keyring;
use menara_primitives::{trie::verify_proof, AccountId, MEN};
use menara_rpc::client;
use menara_runtime::RuntimeCall;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_menara");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Node {
    child: Child,
    rpc_port: u16,
    prometheus_port: u16,
    log: PathBuf,
}

impl Node {
    fn start(base: &Path, tag: &str) -> Node {
        let rpc_port = free_port();
        let prometheus_port = free_port();
        let log = base.join(format!("node-{tag}.log"));
        let child = Command::new(BIN)
            .args(["--dev", "--block-time-ms", "200", "--base-path"])
            .arg(base)
            .args([
                "--rpc-port",
                &rpc_port.to_string(),
                "--prometheus-port",
                &prometheus_port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Node {
            child,
            rpc_port,
            prometheus_port,
            log,
        }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.rpc_port)
    }

    async fn connect(&mut self) -> WsClient {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "node exited early ({status}):\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            if let Ok(c) = client::connect(&self.url()).await {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "node did not open RPC:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn kill9(&mut self) {
        // SIGKILL: no chance to flush or clean up.
        let _ = Command::new("kill")
            .args(["-9", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_for_block(c: &WsClient, number: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let header = client::header(c, None).await.unwrap().unwrap();
        if header.number >= number {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "chain stuck at #{}",
            header.number
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn menara(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn rpc_error(
    c: &WsClient,
    method: &str,
    params: jsonrpsee::core::params::ArrayParams,
) -> String {
    match c.request::<serde_json::Value, _>(method, params).await {
        Ok(v) => panic!("{method} should fail, returned {v}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_chain_transfers_proofs_bad_input_and_crash_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let mut node = Node::start(base, "1");
    let c = node.connect().await;
    wait_for_block(&c, 2).await;

    // A new account from the wallet.
    let generated = menara(&["key", "generate", "--json"]);
    assert!(generated.status.success(), "{}", stderr(&generated));
    let key: serde_json::Value = serde_json::from_str(&stdout(&generated)).unwrap();
    let addr = key["account"].as_str().unwrap().to_string();
    let account: AccountId = addr.parse().unwrap();
    let alice = keyring::dev_account("Alice");
    let alice_before = client::account(&c, &alice).await.unwrap();
    let issuance_before = client::total_issuance(&c).await.unwrap();

    // Transfer with the wallet and see both balances change.
    let out = menara(&[
        "tx",
        "transfer",
        "--from",
        "//Alice",
        "--to",
        &addr,
        "--amount",
        "10",
        "--rpc",
        &node.url(),
    ]);
    assert!(
        out.status.success(),
        "transfer failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("finalized"), "{}", stdout(&out));
    let out = menara(&["query", "balance", &addr, "--json", "--rpc", &node.url()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(q["free"], (10 * MEN).to_string());
    let alice_after = client::account(&c, &alice).await.unwrap();
    assert_eq!(alice_after.nonce, alice_before.nonce + 1);
    let fee = alice_before.free - alice_after.free - 10 * MEN;
    assert!(fee > 0 && fee < MEN / 100, "fee {fee}");
    assert_eq!(
        client::total_issuance(&c).await.unwrap(),
        issuance_before - fee,
        "only the fee is burned"
    );

    // A read proof of the new account's balance verifies against the header's state root.
    let key = pallet_balances::storage::Account::key(&account);
    let proof = client::read_proof(&c, std::slice::from_ref(&key), None)
        .await
        .unwrap();
    let header = client::header(&c, Some(proof.at)).await.unwrap().unwrap();
    assert_eq!(header.state_root, proof.state_root);
    let (_, value, p) = &proof.entries[0];
    let data = pallet_balances::AccountData { free: 10 * MEN };
    assert_eq!(
        value.as_deref(),
        Some(&parity_scale_codec::Encode::encode(&data)[..])
    );
    verify_proof(&header.state_root, &key, value.as_deref(), p).unwrap();
    assert!(verify_proof(&header.state_root, &key, Some(b"forged"), p).is_err());

    // Bad input: clear errors, nothing changes, the node keeps going.
    let genesis = client::genesis_hash(&c).await.unwrap();
    let nonce = client::account_next_index(&c, &alice).await.unwrap();
    let transfer = RuntimeCall::Balances(pallet_balances::Call::Transfer {
        dest: account,
        value: MEN.into(),
    });
    let alice_key = keyring::dev_signing_key("Alice");
    let hex = |b: &[u8]| format!("0x{}", hex::encode(b));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![0xde, 0xad], "malformed"),
        (
            keyring::sign(
                &alice_key,
                &menara_primitives::H256([7; 32]),
                nonce,
                0,
                transfer.clone(),
            ),
            "bad signature",
        ),
        (
            keyring::sign(&alice_key, &genesis, 0, 0, transfer.clone()),
            "stale",
        ),
        (
            keyring::sign(
                &keyring::dev_signing_key("nobody"),
                &genesis,
                0,
                0,
                transfer.clone(),
            ),
            "insufficient balance",
        ),
    ];
    for (ext, expect) in cases {
        let err = rpc_error(&c, "author_submitExtrinsic", rpc_params![hex(&ext)]).await;
        assert!(
            err.to_lowercase().contains(expect),
            "expected {expect:?} in {err}"
        );
    }
    let mut tampered = keyring::sign(&alice_key, &genesis, nonce, 0, transfer.clone());
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let err = rpc_error(&c, "author_submitExtrinsic", rpc_params![hex(&tampered)]).await;
    assert!(err.contains("signature"), "{err}");
    let err = rpc_error(&c, "author_submitExtrinsic", rpc_params!["0xzz"]).await;
    assert!(err.contains("hex"), "{err}");
    let err = rpc_error(&c, "no_such_method", rpc_params![]).await;
    assert!(err.contains("not found") || err.contains("-32601"), "{err}");
    let err = rpc_error(&c, "chain_getHeader", rpc_params!["0x1234"]).await;
    assert!(!err.is_empty());
    // A transfer the runtime refuses on dispatch (more than the sender has) costs only the fee.
    let poor = keyring::dev_signing_key("poor");
    let fund = menara(&[
        "tx",
        "transfer",
        "--from",
        "//Alice",
        "--to",
        &keyring::account_of(&poor).to_string(),
        "--amount",
        "1",
        "--rpc",
        &node.url(),
    ]);
    assert!(fund.status.success(), "{}", stderr(&fund));
    let out = menara(&[
        "tx",
        "transfer",
        "--from",
        "//poor",
        "--to",
        &addr,
        "--amount",
        "5",
        "--rpc",
        &node.url(),
    ]);
    assert!(
        !out.status.success(),
        "a failed call is reported as a failure"
    );
    assert!(
        stderr(&out).contains("InsufficientBalance") && stderr(&out).contains("fee was paid"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        client::account(&c, &account).await.unwrap().free,
        10 * MEN,
        "failed transfer moved nothing"
    );
    // Oversized request: refused with a clear error; the node still answers afterwards.
    let http = jsonrpsee::http_client::HttpClientBuilder::default()
        .max_request_size(64 << 20)
        .build(format!("http://127.0.0.1:{}", node.rpc_port))
        .unwrap();
    let huge = format!("0x{}", "00".repeat(16 << 20));
    let err = http
        .request::<serde_json::Value, _>("author_submitExtrinsic", rpc_params![huge])
        .await
        .unwrap_err();
    assert!(!err.to_string().is_empty());
    assert!(client::header(&c, None).await.unwrap().is_some());
    // Wallet errors are clear too.
    let out = menara(&[
        "tx",
        "transfer",
        "--from",
        "//Alice",
        "--to",
        "0x1234",
        "--amount",
        "1",
        "--rpc",
        &node.url(),
    ]);
    assert!(
        !out.status.success() && stderr(&out).contains("--to"),
        "{}",
        stderr(&out)
    );
    let out = menara(&[
        "tx",
        "transfer",
        "--from",
        "//Alice",
        "--to",
        &addr,
        "--amount",
        "1.5.5",
        "--rpc",
        &node.url(),
    ]);
    assert!(
        !out.status.success() && stderr(&out).contains("amount"),
        "{}",
        stderr(&out)
    );

    // Prometheus metrics.
    let metrics = http_get(node.prometheus_port, "/metrics");
    assert!(metrics.contains("menara_block_height"), "{metrics}");
    assert!(
        metrics.contains("menara_transactions_applied_total"),
        "{metrics}"
    );

    // SIGKILL, restart with the same base path: nothing final is lost.
    wait_for_block(
        &c,
        client::header(&c, None).await.unwrap().unwrap().number + 2,
    )
    .await;
    let final_hash = client::finalized_head(&c).await.unwrap();
    let final_number = client::header(&c, Some(final_hash))
        .await
        .unwrap()
        .unwrap()
        .number;
    drop(c);
    node.kill9();
    let mut node = Node::start(base, "2");
    let c = node.connect().await;
    assert_eq!(
        client::block_hash(&c, Some(final_number)).await.unwrap(),
        Some(final_hash)
    );
    assert_eq!(client::account(&c, &account).await.unwrap().free, 10 * MEN);
    wait_for_block(&c, final_number + 2).await;
    // Blocks after the restart still take transfers.
    let out = menara(&[
        "tx",
        "transfer",
        "--from",
        "//Alice",
        "--to",
        &addr,
        "--amount",
        "0.5",
        "--rpc",
        &node.url(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        client::account(&c, &account).await.unwrap().free,
        10 * MEN + MEN / 2
    );
    drop(c);
    drop(node);

    // export-blocks / import-blocks into a fresh base path reproduce the chain.
    let export = base.join("blocks.bin");
    let out = menara(&[
        "export-blocks",
        "--dev",
        "--base-path",
        base.to_str().unwrap(),
        export.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let other = tempfile::tempdir().unwrap();
    let out = menara(&[
        "import-blocks",
        "--dev",
        "--base-path",
        other.path().to_str().unwrap(),
        export.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("imported"), "{}", stdout(&out));

    // A corrupt database: the node refuses to start and says why.
    let db = base.join("chains/dev/db");
    corrupt_database(&db);
    let out = Command::new(BIN)
        .args([
            "--dev",
            "--base-path",
            base.to_str().unwrap(),
            "--rpc-port",
            &free_port().to_string(),
            "--no-prometheus",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("database"), "{}", stderr(&out));
}

fn corrupt_database(db: &Path) {
    for entry in std::fs::read_dir(db).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("MANIFEST") || name.ends_with(".sst") || name == "CURRENT" {
            std::fs::write(&path, b"garbage, not rocksdb").unwrap();
        }
    }
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn cli_reports_bad_arguments_clearly() {
    let out = menara(&["key", "inspect", "not-a-secret"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("secret"), "{}", stderr(&out));
    let out = menara(&["key", "inspect", "//Alice", "--json"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains(&keyring::dev_account("Alice").to_string()));
    let out = menara(&["--chain", "/no/such/spec.json", "--tmp"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("chain spec"), "{}", stderr(&out));
    // Staking commands refuse bad input before touching the network.
    let out = menara(&[
        "tx",
        "staking",
        "delegate",
        "--from",
        "no-such-key-file",
        "--validator",
        "//Alice",
        "--amount",
        "1",
        "--rpc",
        "ws://127.0.0.1:1",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("key file"), "{}", stderr(&out));
    let out = menara(&[
        "tx",
        "staking",
        "validate",
        "--from",
        "//Eve",
        "--bls-key",
        "//Eve",
        "--commission-per-mill",
        "1001",
        "--self-bond",
        "1",
        "--rpc",
        "ws://127.0.0.1:1",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("commission"), "{}", stderr(&out));
    let out = menara(&[
        "tx",
        "staking",
        "delegate",
        "--from",
        "//Ferdie",
        "--validator",
        "0x12",
        "--amount",
        "1",
        "--rpc",
        "ws://127.0.0.1:1",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--validator"), "{}", stderr(&out));
    // BLS consensus keys: the proof of possession verifies, a //Name key is stable.
    let out = menara(&["key", "generate", "--scheme", "bls", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bls: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let pk = hex::decode(bls["publicKey"].as_str().unwrap().trim_start_matches("0x")).unwrap();
    let pop = hex::decode(
        bls["proofOfPossession"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
    )
    .unwrap();
    let pk = menara_crypto::BlsPublicKey::from_bytes(&pk).unwrap();
    let pop =
        menara_crypto::ProofOfPossession(menara_crypto::BlsSignature::from_bytes(&pop).unwrap());
    assert!(menara_crypto::verify_possession(&pk, &pop));
    let a = stdout(&menara(&[
        "key", "inspect", "--scheme", "bls", "//Alice", "--json",
    ]));
    let b = stdout(&menara(&[
        "key", "inspect", "--scheme", "bls", "//Alice", "--json",
    ]));
    assert_eq!(a, b);
    assert!(!menara(&["key", "inspect", "--scheme", "bls", "0x12"])
        .status
        .success());
    let out = menara(&["build-spec", "--chain", "local", "--raw"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let raw: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        raw["genesis"]["raw"]["top"]
            .as_object()
            .unwrap()
            .contains_key("0x3a636f6465"),
        "has :code"
    );
    let out = menara(&["query", "balance", "//Alice", "--rpc", "ws://127.0.0.1:1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot talk to the node"),
        "{}",
        stderr(&out)
    );
}
