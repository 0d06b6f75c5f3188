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
        // SIGKILL (what `Child::kill` sends on Unix): no chance to flush or clean up. No
        // external `kill` binary: a minimal system may not have one.
        self.child.kill().unwrap();
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

    // A newcomer's dev chain starts without warnings, names its peer id once and logs
    // every block it authors. (Libp2p's start-up warnings came about 0.5 s after start.)
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = std::fs::read_to_string(&node.log).unwrap();
    assert!(!log.contains(" WARN "), "warnings at start:\n{log}");
    assert_eq!(log.matches("local peer id").count(), 1, "{log}");
    assert!(log.contains("✨ authored #1 ("), "{log}");

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

fn key_field(out: &Output, field: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)));
    v[field].as_str().unwrap().to_string()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn key_insert(base: &str, scheme: &str, suri: &str) -> Output {
    menara(&[
        "key",
        "insert",
        "--base-path",
        base,
        "--scheme",
        scheme,
        "--suri",
        suri,
    ])
}

#[test]
fn key_and_database_commands_do_what_their_help_says() {
    let dir = tempfile::tempdir().unwrap();
    // An account id is never read as a seed: a bare 0x value must say which it is.
    let alice = keyring::dev_account("Alice").to_string();
    let out = menara(&["key", "inspect", &alice]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--public"), "{}", stderr(&out));
    let out = menara(&["key", "inspect", "--public", &alice, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(key_field(&out, "account"), alice);

    // `key generate --output` writes the seed to an owner-only file, not to the terminal.
    let seed_file = dir.path().join("my-key");
    let out = menara(&[
        "key",
        "generate",
        "--json",
        "--output",
        seed_file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let account = key_field(&out, "account");
    let seed = std::fs::read_to_string(&seed_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(seed.starts_with("0x") && seed.len() == 66, "{seed}");
    assert!(
        !stdout(&out).contains(&seed[2..]),
        "the seed is not printed"
    );
    #[cfg(unix)]
    assert_eq!(mode(&seed_file), 0o600);
    // The seed (with --secret) and the key file both give back the account.
    let out = menara(&["key", "inspect", "--secret", &seed, "--json"]);
    assert_eq!(key_field(&out, "account"), account);
    let out = menara(&["key", "inspect", seed_file.to_str().unwrap(), "--json"]);
    assert_eq!(key_field(&out, "account"), account);
    // An existing file is never overwritten.
    let out = menara(&["key", "generate", "--output", seed_file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert_eq!(std::fs::read_to_string(&seed_file).unwrap().trim(), seed);

    // `key insert` fills a validator's keystore.
    let base = dir.path().join("validator");
    let b = base.to_str().unwrap();
    for (scheme, suri) in [("ed25519", "//Alice"), ("bls", "//Alice")] {
        let out = key_insert(b, scheme, suri);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let account_file = base.join("keystore/account");
    assert_eq!(
        std::fs::read_to_string(&account_file).unwrap().trim(),
        "//Alice"
    );
    assert_eq!(
        std::fs::read_to_string(base.join("keystore/bls"))
            .unwrap()
            .trim(),
        "//Alice"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&account_file), 0o600);
        assert_eq!(mode(&base.join("keystore")), 0o700);
    }
    // A bad secret, or a different key over an existing one, changes nothing.
    let out = key_insert(b, "ed25519", "0x12");
    assert!(!out.status.success());
    let out = key_insert(b, "ed25519", "//Bob");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&account_file).unwrap().trim(),
        "//Alice"
    );

    // Database commands: `--dev` alone has no database to act on (it lives in a temporary
    // folder), and exporting from a folder without a chain fails instead of creating one.
    let out = menara(&["purge-chain", "--dev", "-y"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--base-path"), "{}", stderr(&out));
    let export = dir.path().join("blocks.bin");
    let out = menara(&["export-blocks", "--dev", export.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--base-path"), "{}", stderr(&out));
    let empty = dir.path().join("empty");
    let out = menara(&[
        "export-blocks",
        "--dev",
        "--base-path",
        empty.to_str().unwrap(),
        export.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no database"), "{}", stderr(&out));
    assert!(!export.exists() && !empty.join("chains/dev/db").exists());
}

/// Opens a TCP connection from `from` (a 127.x address) and asks for a WebSocket upgrade;
/// returns the answer's HTTP status (0: closed without an answer) and the open socket.
async fn hostile_websocket(from: [u8; 4], port: u16) -> (u16, tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind((std::net::Ipv4Addr::from(from), 0).into())
        .unwrap();
    let mut s = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let req = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return (0, s);
    }
    let mut buf = [0u8; 512];
    let n = match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
        Ok(Ok(n)) => n,
        _ => 0,
    };
    let status = String::from_utf8_lossy(&buf[..n])
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, s)
}

/// A hostile client holding as many RPC connections as it can does not lock the wallet out;
/// idle connections are closed after `--rpc-idle-timeout`. The validator's keys come from a
/// keystore written by `menara key insert`, and its log tells what it does.
#[tokio::test(flavor = "multi_thread")]
async fn wallet_works_while_a_hostile_client_holds_rpc_connections() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    for scheme in ["ed25519", "bls"] {
        let out = key_insert(base.to_str().unwrap(), scheme, "//Alice");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let rpc_port = free_port();
    let log = base.join("node.log");
    let child = Command::new(BIN)
        .args([
            "--chain",
            "dev",
            "--validator",
            "--no-network",
            "--no-prometheus",
        ])
        .args(["--block-time-ms", "200", "--base-path"])
        .arg(base)
        .args(["--rpc-port", &rpc_port.to_string()])
        .args([
            "--rpc-max-connections",
            "6",
            "--rpc-max-connections-per-ip",
            "3",
        ])
        .args(["--rpc-idle-timeout", "8"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut node = Node {
        child,
        rpc_port,
        prometheus_port: 0,
        log,
    };
    let c = node.connect().await;
    wait_for_block(&c, 2).await;
    drop(c);
    let url = node.url();
    let wallet_transfer = || {
        let out = menara(&[
            "tx",
            "transfer",
            "--from",
            "//Alice",
            "--to",
            &keyring::dev_account("Bob").to_string(),
            "--amount",
            "1",
            "--rpc",
            &url,
        ]);
        assert!(
            out.status.success(),
            "wallet locked out: {}{}",
            stdout(&out),
            stderr(&out)
        );
    };

    // One address opens 20 WebSockets: 3 are upgraded, the rest closed at once, and the
    // wallet (another address) works while the 3 are held.
    let mut held = Vec::new();
    let mut upgraded = 0;
    for _ in 0..20 {
        let (status, s) = hostile_websocket([127, 0, 0, 2], rpc_port).await;
        upgraded += usize::from(status == 101);
        held.push(s);
    }
    assert_eq!(upgraded, 3);
    wallet_transfer();

    // Idle connections are closed by the node: afterwards the address gets its share back.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (status, _s) = hostile_websocket([127, 0, 0, 2], rpc_port).await;
    assert_eq!(status, 101, "idle connections were not closed");
    drop(held);
    wallet_transfer();

    // The informant says the node is authoring, and every block has its line.
    let log = std::fs::read_to_string(&node.log).unwrap();
    assert!(log.contains("authoring best #"), "{log}");
    assert!(!log.contains("idle best #"), "{log}");
    assert!(log.contains("finalized: 1 transaction,"), "{log}");
}
