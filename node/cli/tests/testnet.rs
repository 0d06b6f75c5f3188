//! End-to-end, several processes: four validators of the `local` chain on loopback (real
//! binaries, libp2p, BFT finality with BLS certificates). Kill one: finality goes on. Kill
//! a second: finality stops and nothing conflicting is finalised. Bring both back: they catch
//! up and finality resumes. A fifth, non-validator node started late syncs every block,
//! checking each certificate, and follows the head.
#![allow(clippy::unwrap_used)]
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClient;
use menara_chain_spec::keyring;
use menara_consensus::QuorumCertificate;
use menara_primitives::{H256, MEN};
use menara_rpc::client;
use menara_runtime::RuntimeCall;
use parity_scale_codec::DecodeAll;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_menara");

/// Each test runs a whole network of processes; running them one at a time keeps their
/// timing meaningful on small machines.
static ONE_NETWORK_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const NAMES: [&str; 4] = ["Alice", "Bob", "Charlie", "Dave"];
const BLOCK_MS: &str = "300";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Node {
    child: Option<Child>,
    base: PathBuf,
    validator: Option<&'static str>,
    p2p_port: u16,
    rpc_port: u16,
    log: PathBuf,
    starts: u32,
    extra: Vec<&'static str>,
}

impl Node {
    fn new(dir: &Path, i: usize, validator: Option<&'static str>) -> Node {
        Node {
            child: None,
            base: dir.join(format!("node{i}")),
            validator,
            p2p_port: free_port(),
            rpc_port: free_port(),
            log: dir.join(format!("node{i}")),
            starts: 0,
            extra: Vec::new(),
        }
    }

    fn log_path(&self) -> PathBuf {
        self.log.with_extension(format!("{}.log", self.starts))
    }

    fn start(&mut self, bootnode: Option<&str>) {
        self.starts += 1;
        let mut cmd = Command::new(BIN);
        cmd.args([
            "--chain",
            "local",
            "--block-time-ms",
            BLOCK_MS,
            "--base-path",
        ])
        .arg(&self.base)
        .args(["--port", &self.p2p_port.to_string()])
        .args(["--rpc-port", &self.rpc_port.to_string(), "--no-prometheus"]);
        if let Some(name) = self.validator {
            cmd.args(["--validator", "--validator-key", &format!("//{name}")]);
        }
        if let Some(b) = bootnode {
            cmd.args(["--bootnodes", b]);
        }
        cmd.args(&self.extra);
        let log = std::fs::File::create(self.log_path()).unwrap();
        self.child = Some(
            cmd.env("RUST_LOG", "info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The peer id printed at start.
    fn peer_id(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(line) = self.logs().lines().find(|l| l.contains("local peer id")) {
                return line.split_whitespace().last().unwrap().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no peer id printed:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    async fn connect(&mut self) -> WsClient {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("node exited early ({status}):\n{}", self.logs());
            }
            if let Ok(c) = client::connect(&format!("ws://127.0.0.1:{}", self.rpc_port)).await {
                return c;
            }
            assert!(Instant::now() < deadline, "no RPC:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL on Unix; no external `kill` binary needed.
            child.kill().unwrap();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts //Alice..//Dave of the `local` chain, node 0 first as the others' bootnode;
/// `dave_extra` are extra flags for //Dave's node. Returns the nodes and the bootnode address.
fn four_validators(dir: &Path, dave_extra: &[&'static str]) -> (Vec<Node>, String) {
    four_validators_with(dir, [&[], &[], &[], dave_extra])
}

/// [`four_validators`] with extra flags for each node.
fn four_validators_with(dir: &Path, extra: [&[&'static str]; 4]) -> (Vec<Node>, String) {
    let mut nodes: Vec<Node> = (0..4).map(|i| Node::new(dir, i, Some(NAMES[i]))).collect();
    for (node, flags) in nodes.iter_mut().zip(extra) {
        node.extra.extend_from_slice(flags);
    }
    nodes[0].start(None);
    let bootnode = format!(
        "/ip4/127.0.0.1/tcp/{}/p2p/{}",
        nodes[0].p2p_port,
        nodes[0].peer_id()
    );
    for n in nodes.iter_mut().skip(1) {
        n.start(Some(&bootnode));
    }
    (nodes, bootnode)
}

async fn finalized_number(c: &WsClient) -> u64 {
    let hash = client::finalized_head(c).await.unwrap();
    client::header(c, Some(hash)).await.unwrap().unwrap().number
}

async fn wait_finalized(c: &WsClient, at_least: u64, within: Duration, what: &str) -> u64 {
    let deadline = Instant::now() + within;
    loop {
        let n = finalized_number(c).await;
        if n >= at_least {
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: finalized #{n}, expected #{at_least}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every node's block at each height up to `upto` is the same, and carries a commit
/// certificate for it.
async fn assert_same_chain(clients: &[&WsClient], upto: u64) {
    for n in 1..=upto {
        let mut seen: Option<H256> = None;
        for c in clients {
            let h: Option<H256> = client::block_hash(*c, Some(n)).await.unwrap();
            let h = h.unwrap_or_else(|| panic!("block #{n} missing"));
            if let Some(s) = seen {
                assert_eq!(s, h, "two nodes finalised different blocks at #{n}");
            }
            seen = Some(h);
        }
    }
    let hash = client::block_hash(clients[0], Some(upto))
        .await
        .unwrap()
        .unwrap();
    let block: serde_json::Value = clients[0]
        .request("chain_getBlock", rpc_params![hash.to_string()])
        .await
        .unwrap();
    let justification = block["justification"].as_str().expect("a certificate");
    let bytes = hex::decode(justification.trim_start_matches("0x")).unwrap();
    let cert = QuorumCertificate::<menara_crypto::BlsCrypto>::decode_all(&mut &bytes[..]).unwrap();
    assert_eq!(cert.height, upto);
    assert_eq!(cert.block_hash, hash);
    // At least three of the four equal-stake validators signed.
    assert!(cert.signer_indices().len() >= 3, "{cert:?}");
}

/// A connection to each node.
async fn connect_all(nodes: &mut [Node]) -> Vec<WsClient> {
    let mut clients = Vec::new();
    for n in nodes.iter_mut() {
        clients.push(n.connect().await);
    }
    clients
}

/// Starts a fifth node (not a validator) that syncs from genesis until it has finalised
/// what `clients[0]` had (plus `beyond`), and checks that it holds the same chain as every
/// node in `clients` up to the lower of its and `clients[last]`'s final block, which it
/// returns with the node and its connection.
async fn late_node_syncs(
    dir: &Path,
    bootnode: &str,
    clients: &[WsClient],
    beyond: u64,
) -> (Node, WsClient, u64) {
    let mut late = Node::new(dir, 4, None);
    late.start(Some(bootnode));
    let late_client = late.connect().await;
    let head = finalized_number(&clients[0]).await;
    wait_finalized(
        &late_client,
        head + beyond,
        Duration::from_secs(120),
        "late joiner",
    )
    .await;
    let last = clients.last().expect("nodes to compare with");
    let upto = finalized_number(&late_client)
        .await
        .min(finalized_number(last).await);
    let all: Vec<&WsClient> = clients
        .iter()
        .chain(std::iter::once(&late_client))
        .collect();
    assert_same_chain(&all, upto).await;
    (late, late_client, upto)
}

#[tokio::test(flavor = "multi_thread")]
async fn four_validators_survive_crashes_and_a_late_node_syncs() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut nodes, bootnode) = four_validators(dir.path(), &[]);
    let mut clients = connect_all(&mut nodes).await;

    // 1. Blocks are produced and finalised; every node sees peers.
    for c in &clients {
        wait_finalized(c, 3, Duration::from_secs(90), "start").await;
    }
    for (i, c) in clients.iter().enumerate() {
        // The peer list is refreshed every second.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let health: serde_json::Value =
                c.request("system_health", rpc_params![]).await.unwrap();
            if health["peers"].as_u64().unwrap() >= 1 {
                break;
            }
            assert!(Instant::now() < deadline, "node{i}: {health}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let peers: Vec<serde_json::Value> = c.request("system_peers", rpc_params![]).await.unwrap();
        assert!(!peers.is_empty(), "node{i} lists no peers");
        assert!(peers[0]["peerId"].is_string());
    }

    // A transfer submitted to one node is gossiped, included and final everywhere.
    let genesis = client::genesis_hash(&clients[1]).await.unwrap();
    let alice = keyring::dev_signing_key("Alice");
    let ferdie = keyring::dev_account("Ferdie");
    let before = client::account(&clients[3], &ferdie).await.unwrap().free;
    let nonce = client::account_next_index(&clients[1], &keyring::dev_account("Alice"))
        .await
        .unwrap();
    let ext = keyring::sign(
        &alice,
        &genesis,
        nonce,
        0,
        RuntimeCall::Balances(pallet_balances::Call::Transfer {
            dest: ferdie,
            value: (5 * MEN).into(),
        }),
    );
    client::submit(&clients[1], &ext).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client::account(&clients[3], &ferdie).await.unwrap().free != before + 5 * MEN {
        assert!(Instant::now() < deadline, "transfer not final on node3");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // 2. Kill one of four: finality goes on.
    nodes[3].kill9();
    let f = finalized_number(&clients[0]).await;
    wait_finalized(
        &clients[0],
        f + 3,
        Duration::from_secs(60),
        "one validator down",
    )
    .await;

    // 3. Kill a second: finality stops (2 of 4 equal stakes is not over 2/3).
    nodes[2].kill9();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stalled = finalized_number(&clients[0]).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        finalized_number(&clients[0]).await,
        stalled,
        "finalised without a quorum"
    );
    assert_eq!(finalized_number(&clients[1]).await, stalled);

    // 4. Bring them back: they catch up and finality resumes.
    nodes[2].start(Some(&bootnode));
    nodes[3].start(Some(&bootnode));
    clients[2] = nodes[2].connect().await;
    clients[3] = nodes[3].connect().await;
    for c in &clients {
        wait_finalized(c, stalled + 3, Duration::from_secs(120), "after restart").await;
    }

    // 5. A fifth node, not a validator, joins late and syncs with certificate checks.
    let (late, late_client, _) = late_node_syncs(dir.path(), &bootnode, &clients, 2).await;
    assert_eq!(
        client::account(&late_client, &ferdie).await.unwrap().free,
        before + 5 * MEN
    );
    // It caught up through block sync (certificates checked), not only by following gossip.
    assert!(
        late.logs().contains("sync finished"),
        "the late node did not sync:\n{}",
        late.logs()
    );
}

fn wallet(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn wallet_ok(args: &[&str]) -> String {
    let out = wallet(args);
    assert!(
        out.status.success(),
        "menara {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn staking_epoch(c: &WsClient) -> u64 {
    let v: serde_json::Value = c.request("staking_epoch", rpc_params![]).await.unwrap();
    v["epoch"].as_u64().unwrap()
}

async fn wait_epoch(c: &WsClient, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while staking_epoch(c).await < at_least {
        assert!(Instant::now() < deadline, "epoch {at_least} never came");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The staker's and the new operator's path on a live four-validator net: a fifth
/// validator registers through staking and is rotated in at the epoch boundary (its node
/// starts voting without a restart of the others); a delegator delegates to it, earns and
/// claims rewards, undelegates, waits out unbonding and withdraws; errors are clear.
#[tokio::test(flavor = "multi_thread")]
async fn a_validator_joins_through_staking_and_a_delegator_earns_and_withdraws() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut nodes, bootnode) = four_validators(dir.path(), &[]);
    let c = nodes[1].connect().await;
    wait_finalized(&c, 2, Duration::from_secs(90), "start").await;
    let url = format!("ws://127.0.0.1:{}", nodes[1].rpc_port);
    let eve = keyring::dev_account("Eve").to_string();
    let ferdie = keyring::dev_account("Ferdie");

    // A new operator registers //Eve with its BLS key and starts its node.
    wallet_ok(&[
        "tx",
        "staking",
        "validate",
        "--from",
        "//Eve",
        "--bls-key",
        "//Eve",
        "--commission-per-mill",
        "100",
        "--self-bond",
        "50000",
        "--rpc",
        &url,
    ]);
    let mut eve_node = Node::new(dir.path(), 5, Some("Eve"));
    eve_node.start(Some(&bootnode));
    let registered_in = staking_epoch(&c).await;

    // Errors are clear.
    let out = wallet(&[
        "tx",
        "staking",
        "delegate",
        "--from",
        "//Ferdie",
        "--validator",
        &keyring::dev_account("Nobody").to_string(),
        "--amount",
        "10",
        "--rpc",
        &url,
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("UnknownValidator"),
        "{out:?}"
    );

    // A delegator delegates to Eve.
    wallet_ok(&[
        "tx",
        "staking",
        "delegate",
        "--from",
        "//Ferdie",
        "--validator",
        &eve,
        "--amount",
        "10000",
        "--rpc",
        &url,
    ]);

    // At the next epoch Eve is in the set, and her node votes: later certificates carry
    // five validators' bitmap with her bit among the signers at some height.
    wait_epoch(&c, registered_in + 1).await;
    let validators: Vec<serde_json::Value> = c
        .request("staking_validators", rpc_params![])
        .await
        .unwrap();
    let eve_view = validators
        .iter()
        .find(|v| v["account"] == eve.as_str())
        .unwrap();
    assert_eq!(eve_view["active"], true, "{eve_view}");
    let set: Vec<menara_primitives::ValidatorRecord> = {
        let raw = client::query(&c, "validators", &[], None).await.unwrap();
        parity_scale_codec::Decode::decode(&mut &raw[..]).unwrap()
    };
    assert_eq!(set.len(), 5);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if eve_node.logs().contains("this node votes") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Eve's node never voted:\n{}",
            eve_node.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let f = finalized_number(&c).await;
    wait_finalized(&c, f + 5, Duration::from_secs(60), "with five validators").await;

    // Rewards accrue per epoch; claiming pays them out.
    wait_epoch(&c, registered_in + 2).await;
    let rewards: String = c
        .request(
            "staking_rewards",
            rpc_params![ferdie.to_string(), eve.clone()],
        )
        .await
        .unwrap();
    let rewards: u128 = rewards.parse().unwrap();
    assert!(rewards > 0, "no rewards after a full epoch");
    let before = client::account(&c, &ferdie).await.unwrap().free;
    wallet_ok(&[
        "tx",
        "staking",
        "claim",
        "--from",
        "//Ferdie",
        "--validator",
        &eve,
        "--rpc",
        &url,
    ]);
    let after = client::account(&c, &ferdie).await.unwrap().free;
    assert!(
        after + MEN > before + rewards,
        "claim did not pay: {before} -> {after}, rewards {rewards}"
    );

    // Undelegate, try to withdraw too early, wait out unbonding, withdraw.
    wallet_ok(&[
        "tx",
        "staking",
        "undelegate",
        "--from",
        "//Ferdie",
        "--validator",
        &eve,
        "--amount",
        "10000",
        "--rpc",
        &url,
    ]);
    let out = wallet(&[
        "tx", "staking", "withdraw", "--from", "//Ferdie", "--rpc", &url,
    ]);
    assert!(!out.status.success());
    let delegations: serde_json::Value = c
        .request("staking_delegations", rpc_params![ferdie.to_string()])
        .await
        .unwrap();
    let unbonding = delegations["unbonding"].as_array().unwrap();
    assert_eq!(unbonding.len(), 1, "{delegations}");
    let withdrawable = unbonding[0]["withdrawableAtEpoch"].as_u64().unwrap();
    wait_epoch(&c, withdrawable).await;
    let before = client::account(&c, &ferdie).await.unwrap().free;
    wallet_ok(&[
        "tx", "staking", "withdraw", "--from", "//Ferdie", "--rpc", &url,
    ]);
    let after = client::account(&c, &ferdie).await.unwrap().free;
    assert!(
        after > before + 9_999 * MEN,
        "withdraw did not pay: {before} -> {after}"
    );
    let summary: serde_json::Value = c.request("staking_epoch", rpc_params![]).await.unwrap();
    assert!(
        summary["totalMinted"]
            .as_str()
            .unwrap()
            .parse::<u128>()
            .unwrap()
            > 0
    );

    // And re-delegates (to another validator this time).
    let alice = keyring::dev_account("Alice").to_string();
    wallet_ok(&[
        "tx",
        "staking",
        "delegate",
        "--from",
        "//Ferdie",
        "--validator",
        &alice,
        "--amount",
        "500",
        "--rpc",
        &url,
    ]);
    let out = wallet_ok(&["query", "staking", "delegations", "//Ferdie", "--rpc", &url]);
    let delegations: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list = delegations["delegations"].as_array().unwrap();
    assert!(
        list.iter()
            .any(|d| d["validator"] == alice.as_str() && d["value"] == (500 * MEN).to_string()),
        "{delegations}"
    );
    assert!(
        delegations["unbonding"].as_array().unwrap().is_empty(),
        "{delegations}"
    );
}

/// A validator that signs conflicting prevotes (the test-only misbehaviour switch) is
/// reported by the others through the runtime, tombstoned and removed from the active set
/// at the next epoch, and slashed after the deferral; finality goes on without it.
#[tokio::test(flavor = "multi_thread")]
async fn an_equivocating_validator_is_reported_slashed_and_removed() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut nodes, _bootnode) = four_validators(dir.path(), &["--unsafe-test-equivocate"]);
    let c = nodes[0].connect().await;
    let dave = keyring::dev_account("Dave").to_string();
    let dave_view = |vs: &[serde_json::Value]| {
        vs.iter()
            .find(|v| v["account"] == dave.as_str())
            .cloned()
            .unwrap()
    };

    // Reported and tombstoned; a slash is scheduled.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let vs: Vec<serde_json::Value> = c
            .request("staking_validators", rpc_params![])
            .await
            .unwrap();
        if dave_view(&vs)["tombstoned"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Dave was never tombstoned: {vs:?}\n{}",
            nodes[0].logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let summary: serde_json::Value = c.request("staking_epoch", rpc_params![]).await.unwrap();
    let slashes = summary["deferredSlashes"].as_array().unwrap();
    assert!(
        slashes
            .iter()
            .any(|s| s["offender"] == dave.as_str() && s["kind"] == "Equivocation"),
        "{summary}"
    );
    let offences = client::query(&c, "offences", &[], None).await.unwrap();
    assert!(offences.len() > 1, "no offence recorded");

    // Removed from the set at the next election; the other three keep finalising.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let raw = client::query(&c, "validators", &[], None).await.unwrap();
        let set: Vec<menara_primitives::ValidatorRecord> =
            parity_scale_codec::Decode::decode(&mut &raw[..]).unwrap();
        if set.len() == 3 {
            assert!(set.iter().all(|v| v.account.to_string() != dave));
            break;
        }
        assert!(Instant::now() < deadline, "Dave is still in the set");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let f = finalized_number(&c).await;
    wait_finalized(
        &c,
        f + 5,
        Duration::from_secs(60),
        "without the equivocator",
    )
    .await;

    // After the deferral, 5% of his stake is slashed: burned, except the reporter's share.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let summary: serde_json::Value = c.request("staking_epoch", rpc_params![]).await.unwrap();
        let burned: u128 = summary["totalBurned"].as_str().unwrap().parse().unwrap();
        if burned > 0 {
            let vs: Vec<serde_json::Value> = c
                .request("staking_validators", rpc_params![])
                .await
                .unwrap();
            let stake: u128 = dave_view(&vs)["selfBond"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            // 5% of the 100,000 MEN exposed (once per offending epoch), 10% of it to the
            // reporter, the rest burned.
            assert!(stake <= 95_000 * MEN, "{vs:?}");
            assert_eq!((100_000 * MEN - stake) % (5_000 * MEN), 0, "{vs:?}");
            assert_eq!(burned * 10, (100_000 * MEN - stake) * 9, "{summary}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slash was never applied: {summary}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A validator that is down for a whole epoch proposed none of the blocks its stake gave
/// it: it is jailed at the epoch's end (a small slash is scheduled), the other three keep
/// finalising, and once back online and past its jail period it unjails itself and returns
/// to the set at the next epoch.
#[tokio::test(flavor = "multi_thread")]
async fn a_validator_down_for_an_epoch_is_jailed_and_can_unjail() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut nodes, bootnode) = four_validators(dir.path(), &[]);
    let c = nodes[0].connect().await;
    let url = format!("ws://127.0.0.1:{}", nodes[0].rpc_port);
    wait_finalized(&c, 2, Duration::from_secs(90), "start").await;
    let dave = keyring::dev_account("Dave").to_string();
    let dave_view = |vs: &[serde_json::Value]| {
        vs.iter()
            .find(|v| v["account"] == dave.as_str())
            .cloned()
            .unwrap()
    };
    nodes[3].kill9();

    // Jailed at the end of the first whole epoch he misses.
    let deadline = Instant::now() + Duration::from_secs(240);
    let jailed_until = loop {
        let vs: Vec<serde_json::Value> = c
            .request("staking_validators", rpc_params![])
            .await
            .unwrap();
        if let Some(until) = dave_view(&vs)["jailedUntilEpoch"].as_u64() {
            break until;
        }
        assert!(Instant::now() < deadline, "Dave was never jailed: {vs:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let summary: serde_json::Value = c.request("staking_epoch", rpc_params![]).await.unwrap();
    assert!(
        summary["deferredSlashes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["offender"] == dave.as_str() && s["kind"] == "Downtime"),
        "{summary}"
    );
    let raw = client::query(&c, "validators", &[], None).await.unwrap();
    let set: Vec<menara_primitives::ValidatorRecord> =
        parity_scale_codec::Decode::decode(&mut &raw[..]).unwrap();
    assert_eq!(set.len(), 3, "a jailed validator stays out of the set");
    let f = finalized_number(&c).await;
    wait_finalized(&c, f + 3, Duration::from_secs(60), "without Dave").await;

    // Back online; unjailing before the period is over is refused with a reason.
    nodes[3].start(Some(&bootnode));
    if staking_epoch(&c).await < jailed_until {
        let out = wallet(&["tx", "staking", "unjail", "--from", "//Dave", "--rpc", &url]);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("JailPeriodNotOver"),
            "{out:?}"
        );
    }
    wait_epoch(&c, jailed_until).await;
    wallet_ok(&["tx", "staking", "unjail", "--from", "//Dave", "--rpc", &url]);
    let back_in = staking_epoch(&c).await + 1;
    wait_epoch(&c, back_in).await;
    let raw = client::query(&c, "validators", &[], None).await.unwrap();
    let set: Vec<menara_primitives::ValidatorRecord> =
        parity_scale_codec::Decode::decode(&mut &raw[..]).unwrap();
    assert_eq!(set.len(), 4, "Dave is back after unjailing");
    let f = finalized_number(&c).await;
    wait_finalized(&c, f + 3, Duration::from_secs(60), "with Dave back").await;
}

/// The model registry end to end: a model published on one node is fetched by another over
/// libp2p, every chunk verified; a peer that serves corrupted chunks is refused and the
/// download completes from an honest one; the bytes and the content id match.
#[tokio::test(flavor = "multi_thread")]
async fn a_published_model_is_fetched_from_peers_and_a_corrupting_peer_is_refused() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut nodes, _bootnode) =
        four_validators(dir.path(), &["--unsafe-test-corrupt-model-chunks"]);
    let c0 = nodes[0].connect().await;
    let c2 = nodes[2].connect().await;
    let c3 = nodes[3].connect().await;
    wait_finalized(&c0, 2, Duration::from_secs(60), "start").await;
    let rpc = |i: usize| format!("ws://127.0.0.1:{}", nodes[i].rpc_port);

    // A random 6 MB model, as `gpu-verify random-model` writes it.
    let bytes = gpu_verify::random::random_mlp(11, &[1024, 1024, 1024, 1024, 1024, 1024, 1024], 64)
        .unwrap()
        .to_file()
        .unwrap()
        .to_bytes();
    let expected_id = H256(
        gpu_verify::format::ModelFile::from_bytes(&bytes)
            .unwrap()
            .content_hash(),
    );
    let file = dir.path().join("mlp.mvm");
    std::fs::write(&file, &bytes).unwrap();
    let f = file.to_str().unwrap();

    // Published on node 0: registered on chain, the file in node 0's store.
    let out = wallet_ok(&[
        "model",
        "publish",
        "--file",
        f,
        "--name",
        "test-mlp",
        "--version",
        "1.0.0",
        "--royalty",
        "0.001",
        "--from",
        "//Alice",
        "--rpc",
        &rpc(0),
    ]);
    assert!(out.contains(&format!("model {expected_id}")), "{out}");
    // A second registration of the same file is refused by the runtime.
    let again = wallet(&[
        "model",
        "publish",
        "--file",
        f,
        "--name",
        "test-mlp",
        "--version",
        "1.0.1",
        "--from",
        "//Bob",
        "--rpc",
        &rpc(0),
    ]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("AlreadyRegistered"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    // Dave's node holds the file too, but serves it corrupted.
    let imported: H256 = c3
        .request("models_importFile", rpc_params![f])
        .await
        .unwrap();
    assert_eq!(imported, expected_id);

    // Everyone sees the registration; only the publisher holds the file.
    let listed: Vec<serde_json::Value> = c2.request("models_list", rpc_params![]).await.unwrap();
    let entry = listed
        .iter()
        .find(|m| m["id"] == expected_id.to_string().as_str())
        .unwrap_or_else(|| panic!("{listed:?}"));
    assert_eq!(entry["name"], "test-mlp");
    assert_eq!(entry["version"], "1.0.0");
    assert_eq!(
        entry["owner"],
        keyring::dev_account("Alice").to_string().as_str()
    );
    assert_eq!(entry["kind"], "mlp");
    assert_eq!(entry["size"], bytes.len() as u64);
    assert_eq!(
        entry["royaltyPerInference"],
        (MEN / 1000).to_string().as_str()
    );
    assert_eq!(entry["heldLocally"], false);
    let shown = wallet_ok(&["query", "model", &expected_id.to_string(), "--rpc", &rpc(0)]);
    assert!(shown.contains("\"heldLocally\": true"), "{shown}");

    // Node 2 fetches it from its peers: node 0 honest, node 3 corrupting, node 1 without it.
    let out = wallet(&["model", "fetch", &expected_id.to_string(), "--rpc", &rpc(2)]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "{stdout}{stderr}\n{}",
        nodes[2].logs()
    );
    assert!(
        stderr.contains("bytes verified"),
        "progress shown: {stderr}"
    );
    let path = stdout
        .trim()
        .rsplit(" stored at ")
        .next()
        .unwrap()
        .to_string();
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "identical bytes");
    let fetched = gpu_verify::format::ModelFile::from_bytes(&std::fs::read(&path).unwrap())
        .unwrap()
        .content_hash();
    assert_eq!(H256(fetched), expected_id);
    let log = nodes[2].logs();
    assert!(
        log.contains("peer served a bad model slice"),
        "the corrupting peer was caught:\n{log}"
    );
    let shown = wallet_ok(&["query", "model", &expected_id.to_string(), "--rpc", &rpc(2)]);
    assert!(shown.contains("\"heldLocally\": true"), "{shown}");
}

async fn compute_query<T: parity_scale_codec::Decode>(
    c: &WsClient,
    method: &str,
    args: Vec<u8>,
) -> T {
    let out = client::query(c, method, &args, None).await.unwrap();
    T::decode_all(&mut &out[..]).unwrap()
}

/// The number printed after `what` (`order 3` → 3).
fn printed_id(out: &str, what: &str) -> u64 {
    out.split_whitespace()
        .skip_while(|w| *w != what)
        .nth(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no `{what} <id>` in:\n{out}"))
}

/// The GPU market on a live network: //Dave's node runs the provider worker, registers,
/// and wins //Ferdie's order; the chain challenges the lease, the worker answers and
/// reveals (the runtime re-executes the audited step), the lease pays and //Dave withdraws.
/// Then //Dave's node goes down: the next challenge goes unanswered, the lease closes, and
/// //Ferdie is paid from //Dave's collateral.
#[tokio::test(flavor = "multi_thread")]
async fn a_provider_answers_challenges_earns_and_is_slashed_to_the_tenant_when_it_stops() {
    use menara_runtime::pallet_compute::{CloseReason, LeaseState, LeaseView, ProviderView};
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut nodes, _bootnode) = four_validators(dir.path(), &["--provider"]);
    let c0 = nodes[0].connect().await;
    wait_finalized(&c0, 2, Duration::from_secs(60), "start").await;
    let rpc0 = format!("ws://127.0.0.1:{}", nodes[0].rpc_port);
    let dave = keyring::dev_account("Dave");
    let ferdie = keyring::dev_account("Ferdie");
    assert!(
        nodes[3].logs().contains("compute provider") && nodes[3].logs().contains("CPU"),
        "the provider worker says which engine it uses:\n{}",
        nodes[3].logs()
    );

    wallet_ok(&[
        "tx",
        "compute",
        "register",
        "--gpu",
        "H100",
        "--gpu-count",
        "8",
        "--vram-gib",
        "80",
        "--region",
        "eu",
        "--price-per-block",
        "0.01",
        "--collateral",
        "4000",
        "--from",
        "//Dave",
        "--rpc",
        &rpc0,
    ]);
    let out = wallet_ok(&[
        "tx",
        "compute",
        "order",
        "--gpu",
        "H100",
        "--gpu-count",
        "1",
        "--vram-gib",
        "40",
        "--max-price-per-block",
        "0.02",
        "--duration",
        "100000",
        "--escrow",
        "100",
        "--from",
        "//Ferdie",
        "--rpc",
        &rpc0,
    ]);
    let order = printed_id(&out, "order");
    let out = wallet_ok(&[
        "tx",
        "compute",
        "bid",
        "--order",
        &order.to_string(),
        "--price-per-block",
        "0.01",
        "--from",
        "//Dave",
        "--rpc",
        &rpc0,
    ]);
    let bid = printed_id(&out, "bid");
    let out = wallet_ok(&[
        "tx",
        "compute",
        "accept",
        "--order",
        &order.to_string(),
        "--bid",
        &bid.to_string(),
        "--from",
        "//Ferdie",
        "--rpc",
        &rpc0,
    ]);
    let lease = printed_id(&out, "lease");

    // Challenges come about every 10 blocks on the local chain; the worker answers.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let p: Option<ProviderView> = compute_query(
            &c0,
            "compute_provider",
            parity_scale_codec::Encode::encode(&dave),
        )
        .await;
        if p.unwrap().provider.record.challenges_passed >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the provider passed no two challenges:\n{}",
            nodes[3].logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let view: Option<LeaseView> = compute_query(
        &c0,
        "compute_lease",
        parity_scale_codec::Encode::encode(&lease),
    )
    .await;
    let view = view.unwrap().lease;
    assert_eq!(view.state, LeaseState::Active);
    assert!(view.paid > 0, "{view:?}");
    assert!(
        nodes[3].logs().contains("revealed step"),
        "{}",
        nodes[3].logs()
    );

    // Earnings are withdrawn.
    let before = client::account(&c0, &dave).await.unwrap().free;
    wallet_ok(&[
        "tx",
        "compute",
        "settle",
        "--lease",
        &lease.to_string(),
        "--from",
        "//Dave",
        "--rpc",
        &rpc0,
    ]);
    wallet_ok(&[
        "tx", "compute", "withdraw", "--from", "//Dave", "--rpc", &rpc0,
    ]);
    let after = client::account(&c0, &dave).await.unwrap().free;
    assert!(after > before, "withdrawn earnings: {before} -> {after}");

    // The provider's node stops: its next challenge goes unanswered.
    let ferdie_before = client::account(&c0, &ferdie).await.unwrap().free;
    nodes[3].kill9();
    let deadline = Instant::now() + Duration::from_secs(120);
    let closed = loop {
        let view: Option<LeaseView> = compute_query(
            &c0,
            "compute_lease",
            parity_scale_codec::Encode::encode(&lease),
        )
        .await;
        let view = view.unwrap().lease;
        if let LeaseState::Closed { reason, .. } = view.state {
            break (reason, view);
        }
        assert!(
            Instant::now() < deadline,
            "the lease was never closed: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(closed.0, CloseReason::ChallengeFailed, "{:?}", closed.1);
    let p: Option<ProviderView> = compute_query(
        &c0,
        "compute_provider",
        parity_scale_codec::Encode::encode(&dave),
    )
    .await;
    let p = p.unwrap();
    // 10% of the 4,000 MEN collateral, all to the tenant (the contract is worth more).
    assert_eq!(p.provider.record.slashed, 400 * MEN);
    assert_eq!(p.provider.record.leases_failed, 1);
    assert_eq!(p.provider.collateral, 3_600 * MEN);
    let ferdie_after = client::account(&c0, &ferdie).await.unwrap().free;
    // Compensation (400 MEN), the forfeited bid deposit (1 MEN) and the unspent escrow.
    assert!(
        ferdie_after >= ferdie_before + 401 * MEN,
        "tenant compensated: {ferdie_before} -> {ferdie_after}"
    );
    let out = wallet_ok(&[
        "query",
        "compute",
        "lease",
        &lease.to_string(),
        "--rpc",
        &rpc0,
    ]);
    assert!(out.contains("ChallengeFailed"), "{out}");
}

/// Verified inference on a live network: //Bob's node serves a model honestly, //Charlie's
/// cheats on every job (the hidden test switch corrupts one layer), //Alice's and //Dave's
/// nodes verify. //Ferdie submits jobs to both. Bob's jobs are final and paid (price less
/// royalty and verification fee); every sampled job of Charlie's is challenged by a
/// verifier, settled in the runtime against Charlie (collateral slashed, Ferdie refunded);
/// nothing is created or lost along the way.
#[tokio::test(flavor = "multi_thread")]
async fn cheated_inference_jobs_that_are_sampled_are_challenged_and_slashed() {
    use menara_runtime::pallet_compute::{ProviderStatus, ProviderView};
    use menara_runtime::pallet_inference::{JobState, JobView, Outcome, VerifierView};
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut nodes, _bootnode) = four_validators_with(
        dir.path(),
        [
            &["--verifier"],
            &["--provider"],
            &["--provider", "--unsafe-test-cheat-per-mill", "1000"],
            &["--verifier"],
        ],
    );
    let c0 = nodes[0].connect().await;
    wait_finalized(&c0, 2, Duration::from_secs(60), "start").await;
    let rpc = |i: usize| format!("ws://127.0.0.1:{}", nodes[i].rpc_port);
    let (bob, charlie) = (keyring::dev_account("Bob"), keyring::dev_account("Charlie"));
    for i in [1, 2] {
        assert!(
            nodes[i].logs().contains("CPU"),
            "the provider worker says which engine it uses:\n{}",
            nodes[i].logs()
        );
    }

    // A small random encoder, published by //Alice, fetched by the other nodes.
    let cfg = gpu_verify::random::tiny_encoder_config();
    let bytes = gpu_verify::random::random_encoder(5, cfg)
        .unwrap()
        .to_file()
        .unwrap()
        .to_bytes();
    let file = dir.path().join("encoder.mvm");
    std::fs::write(&file, &bytes).unwrap();
    let out = wallet_ok(&[
        "model",
        "publish",
        "--file",
        file.to_str().unwrap(),
        "--name",
        "tiny-encoder",
        "--version",
        "1.0.0",
        "--royalty",
        "0.01",
        "--from",
        "//Alice",
        "--rpc",
        &rpc(0),
    ]);
    let model = out
        .split_whitespace()
        .skip_while(|w| *w != "model")
        .nth(1)
        .unwrap_or_else(|| panic!("no model id in {out}"))
        .to_string();
    for i in 1..4 {
        wallet_ok(&["model", "fetch", &model, "--rpc", &rpc(i)]);
    }
    for name in ["Bob", "Charlie"] {
        let from = format!("//{name}");
        wallet_ok(&[
            "tx",
            "compute",
            "register",
            "--gpu",
            "H100",
            "--gpu-count",
            "1",
            "--vram-gib",
            "80",
            "--region",
            "eu",
            "--price-per-block",
            "0.01",
            "--collateral",
            "1000",
            "--models",
            &model,
            "--from",
            &from,
            "--rpc",
            &rpc(0),
        ]);
        wallet_ok(&[
            "tx",
            "inference",
            "set-price",
            "--model",
            &model,
            "--price",
            "1",
            "--from",
            &from,
            "--rpc",
            &rpc(0),
        ]);
    }
    for name in ["Alice", "Dave"] {
        wallet_ok(&[
            "tx",
            "inference",
            "register-verifier",
            "--bond",
            "100",
            "--from",
            &format!("//{name}"),
            "--rpc",
            &rpc(0),
        ]);
    }

    // //Ferdie's jobs: 4 to the honest provider, 10 to the cheater. The first through the
    // CLI (which prints the job id); the others signed here and sent at once, so they all
    // reach the cheater before its first sampled job gets it slashed and jailed.
    let input_of = |k: u32| -> Vec<u32> {
        (0..6 + k % 5)
            .map(|i| (k * 31 + i * 7) % cfg.vocab as u32)
            .collect()
    };
    let path = dir.path().join("tokens.txt");
    let first: Vec<String> = input_of(0).iter().map(u32::to_string).collect();
    std::fs::write(&path, first.join(" ")).unwrap();
    let out = wallet_ok(&[
        "tx",
        "inference",
        "submit",
        "--model",
        &model,
        "--tokens",
        path.to_str().unwrap(),
        "--max-fee",
        "2",
        "--provider",
        &bob.to_string(),
        "--from",
        "//Ferdie",
        "--rpc",
        &rpc(0),
    ]);
    let first_job = printed_id(&out, "job");
    let ferdie_key = keyring::dev_signing_key("Ferdie");
    let ferdie = keyring::account_of(&ferdie_key);
    let genesis = client::genesis_hash(&c0).await.unwrap();
    let nonce = client::account_next_index(&c0, &ferdie).await.unwrap();
    let model_id: H256 = model.parse().unwrap();
    for k in 1..14u32 {
        let provider = if k >= 4 { charlie } else { bob };
        let call = RuntimeCall::Inference(menara_runtime::pallet_inference::Call::Submit {
            model: model_id,
            input: gpu_verify::engine::Activation::tokens(&[input_of(k)]),
            max_fee: (2 * MEN).into(),
            provider: Some(provider),
        });
        let tx = keyring::sign(&ferdie_key, &genesis, nonce + k as u64 - 1, 0, call);
        client::submit(&c0, &tx).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let jobs: Vec<(u64, bool)> = loop {
        let views: Vec<JobView> = compute_query(
            &c0,
            "inference_jobs",
            parity_scale_codec::Encode::encode(&(ferdie, 100u32)),
        )
        .await;
        if views.len() == 14 {
            let mut jobs: Vec<(u64, bool)> = views
                .iter()
                .map(|v| (v.id, v.job.provider == charlie))
                .collect();
            jobs.sort_unstable();
            break jobs;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 14 jobs submitted",
            views.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(jobs[0], (first_job, false));
    assert_eq!(jobs.iter().filter(|(_, cheat)| *cheat).count(), 10);

    // Every job closes: committed, drawn, checked, its window over (30 blocks).
    let deadline = Instant::now() + Duration::from_secs(180);
    let views: Vec<JobView> = loop {
        let mut views = Vec::new();
        for (id, _) in &jobs {
            let v: Option<JobView> =
                compute_query(&c0, "inference_job", parity_scale_codec::Encode::encode(id)).await;
            views.push(v.unwrap());
        }
        if views.iter().all(|v| v.job.state.is_closed()) {
            break views;
        }
        assert!(
            Instant::now() < deadline,
            "jobs still open: {:?}\nBob:\n{}\nCharlie:\n{}\nDave:\n{}",
            views
                .iter()
                .map(|v| (v.id, v.job.state))
                .collect::<Vec<_>>(),
            nodes[1].logs(),
            nodes[2].logs(),
            nodes[3].logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    let fee = MEN;
    let royalty = MEN / 100;
    let verification_fee = fee / 20;
    let (mut cheated, mut caught, mut sampled_honest) = (0, 0, 0);
    let mut blocks_to_slash = Vec::new();
    for ((id, is_cheat), v) in jobs.iter().zip(&views) {
        let job = &v.job;
        let sampled = !job.checks.is_empty();
        match (&job.outcome, *is_cheat) {
            (
                Some(Outcome::Paid {
                    provider,
                    royalty: r,
                    verification_fee: vf,
                    ..
                }),
                _,
            ) => {
                assert_eq!(job.state, JobState::Final, "job {id}");
                assert_eq!((*r, *vf), (royalty, verification_fee), "job {id}");
                assert_eq!(
                    provider + r + vf,
                    fee,
                    "job {id}: the price is split exactly"
                );
                // A cheated job is only ever paid when nobody was drawn to check it.
                assert!(
                    !(*is_cheat && sampled),
                    "sampled cheated job {id} was paid: {job:?}"
                );
                if sampled {
                    sampled_honest += 1;
                }
            }
            (
                Some(Outcome::ProviderSlashed {
                    slashed,
                    reward,
                    burned,
                    refunded,
                    ..
                }),
                true,
            ) => {
                assert_eq!(job.state, JobState::Settled);
                assert_eq!(*refunded, fee, "job {id}: the client gets its escrow back");
                assert_eq!(
                    reward + burned,
                    *slashed,
                    "job {id}: the slash is all accounted"
                );
                assert!(*slashed > 0);
                caught += 1;
                blocks_to_slash.push(job.closed_at - job.committed_at);
            }
            other => panic!("job {id} (cheated: {is_cheat}): unexpected {other:?}"),
        }
        if *is_cheat {
            cheated += 1;
        }
        if *is_cheat && sampled {
            assert_eq!(
                job.state,
                JobState::Settled,
                "every sampled cheat is caught: {job:?}"
            );
        }
    }
    assert!(
        caught >= 1,
        "at q = 50%, some of the 10 cheated jobs were sampled"
    );
    println!(
        "cheated jobs caught: {caught}/{cheated} (sampling rate 50%); blocks from commitment \
         to slash: {blocks_to_slash:?}; honest jobs verified: {sampled_honest}"
    );

    // The cheater's collateral paid for it; it is jailed. The honest provider is untouched.
    let p: Option<ProviderView> = compute_query(
        &c0,
        "compute_provider",
        parity_scale_codec::Encode::encode(&charlie),
    )
    .await;
    let p = p.unwrap().provider;
    assert!(p.record.slashed > 0 && p.collateral < 1000 * MEN, "{p:?}");
    assert!(matches!(p.status, ProviderStatus::Jailed { .. }), "{p:?}");
    let p: Option<ProviderView> = compute_query(
        &c0,
        "compute_provider",
        parity_scale_codec::Encode::encode(&bob),
    )
    .await;
    let p = p.unwrap().provider;
    assert_eq!((p.record.slashed, p.collateral), (0, 1000 * MEN));
    // Verifiers answered in time: none lost any bond.
    for name in ["Alice", "Dave"] {
        let v: Option<VerifierView> = compute_query(
            &c0,
            "inference_verifier",
            parity_scale_codec::Encode::encode(&keyring::dev_account(name)),
        )
        .await;
        let v = v.unwrap().verifier;
        assert_eq!(v.missed, 0, "{name}: {v:?}");
        assert_eq!(v.bond, 100 * MEN, "{name}: {v:?}");
    }

    // What a user sees.
    let settled = views
        .iter()
        .find(|v| v.job.state == JobState::Settled)
        .unwrap();
    let out = wallet_ok(&[
        "query",
        "inference",
        "job",
        &settled.id.to_string(),
        "--rpc",
        &rpc(0),
    ]);
    assert!(out.contains("settled"), "{out}");
    let paid = views.first().unwrap();
    let out = wallet_ok(&[
        "query",
        "inference",
        "job",
        &paid.id.to_string(),
        "--rpc",
        &rpc(0),
    ]);
    assert!(out.contains("final"), "{out}");
}

/// The header of block `n` on `c`.
async fn header_at(c: &WsClient, n: u64) -> menara_primitives::Header {
    let hash = client::block_hash(c, Some(n)).await.unwrap().unwrap();
    client::header(c, Some(hash)).await.unwrap().unwrap()
}

async fn referendum(c: &WsClient, index: u64) -> serde_json::Value {
    c.request("governance_referendum", rpc_params![index])
        .await
        .unwrap()
}

/// The `upgrade-test` runtime's migration counter on `c` (`None`: never ran).
async fn migration_runs(c: &WsClient) -> Option<u32> {
    let key = menara_runtime::migrations::upgrade_test_runs_key();
    client::storage(c, &key, None)
        .await
        .unwrap()
        .map(|v| parity_scale_codec::Decode::decode(&mut &v[..]).unwrap())
}

/// A forkless runtime upgrade on a live four-validator network, through governance: bad
/// upgrades are refused before any vote; //Alice proposes the `upgrade-test` runtime (this
/// tree one spec version up, with a storage migration); validators vote with their stake;
/// it passes, waits out its delay and is enacted; every node runs the new code from the
/// next block with no restart, its migration runs exactly once, and blocks keep coming. A
/// parameter change passes the same way. Then a fresh node syncs from genesis across the
/// upgrade (old code for old blocks, new code after) to the same head. Prints the block
/// times around the switch (a measurement, not asserted).
#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_upgrade_passes_a_referendum_and_every_node_switches_without_a_fork() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut nodes, bootnode) = four_validators(dir.path(), &[]);
    let clients = connect_all(&mut nodes).await;
    for c in &clients {
        wait_finalized(c, 2, Duration::from_secs(90), "start").await;
    }
    let url = format!("ws://127.0.0.1:{}", nodes[0].rpc_port);
    let old = client::runtime_version(&clients[0], None).await.unwrap();
    assert_eq!(old.spec_version, menara_runtime::SPEC_VERSION);
    assert_eq!(migration_runs(&clients[0]).await, None);
    let new_query = std::str::from_utf8(menara_runtime::migrations::UPGRADE_TEST_QUERY).unwrap();
    let unknown = client::query(&clients[0], new_query, &[], None).await;
    assert!(
        unknown
            .as_ref()
            .is_err_and(|e| e.to_string().contains("unknown query")),
        "{unknown:?}"
    );

    let upgrade = menara_runtime_upgrade_test::WASM_BINARY.expect("upgrade-test runtime built");
    let upgrade_path = dir.path().join("upgrade.wasm");
    std::fs::write(&upgrade_path, upgrade).unwrap();
    let upgrade_path = upgrade_path.to_str().unwrap();

    // Bad upgrades are refused before anyone votes: the running runtime again (spec
    // version not higher), and code that is not a runtime (checked by the CLI, and by the
    // chain when sent as a raw call).
    let same_path = dir.path().join("same.wasm");
    std::fs::write(&same_path, menara_runtime::WASM_BINARY.unwrap()).unwrap();
    let propose = |wasm: &str| {
        wallet(&[
            "tx",
            "governance",
            "propose-upgrade",
            "--wasm",
            wasm,
            "--from",
            "//Alice",
            "--rpc",
            &url,
        ])
    };
    let out = propose(same_path.to_str().unwrap());
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("SpecVersionNotIncreased"),
        "{out:?}"
    );
    let junk_path = dir.path().join("junk.wasm");
    std::fs::write(&junk_path, b"\0asm but not really").unwrap();
    let out = propose(junk_path.to_str().unwrap());
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("is not a runtime"),
        "{out:?}"
    );
    let raw = RuntimeCall::System(pallet_system::Call::SetCode {
        code: b"\0asm but not really".to_vec(),
    });
    let raw = format!(
        "0x{}",
        hex::encode(parity_scale_codec::Encode::encode(&raw))
    );
    let out = wallet(&[
        "tx",
        "governance",
        "propose",
        "--call",
        &raw,
        "--from",
        "//Alice",
        "--rpc",
        &url,
    ]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("InvalidCode"),
        "{out:?}"
    );

    // The upgrade and a parameter change are proposed; the validators vote.
    let out = wallet_ok(&[
        "tx",
        "governance",
        "propose-upgrade",
        "--wasm",
        upgrade_path,
        "--from",
        "//Alice",
        "--rpc",
        &url,
    ]);
    let up = printed_id(&out, "referendum");
    let out = wallet_ok(&[
        "tx",
        "governance",
        "propose",
        "--call",
        "inference.set-sampling",
        "200",
        "500",
        "--from",
        "//Bob",
        "--rpc",
        &url,
    ]);
    let param = printed_id(&out, "referendum");
    for (who, side, index) in [
        ("//Alice", "--aye", up),
        ("//Bob", "--aye", up),
        ("//Dave", "--nay", up),
        ("//Charlie", "--aye", param),
    ] {
        let index = index.to_string();
        wallet_ok(&[
            "tx",
            "governance",
            "vote",
            "--referendum",
            &index,
            side,
            "--from",
            who,
            "--rpc",
            &url,
        ]);
    }
    // A vote changed is replaced, not added.
    wallet_ok(&[
        "tx",
        "governance",
        "vote",
        "--referendum",
        &up.to_string(),
        "--nay",
        "--from",
        "//Dave",
        "--stake",
        "50000",
        "--rpc",
        &url,
    ]);
    // (Read from the node the wallet waited on: it has the block that made it final.)
    let r = referendum(&clients[0], up).await;
    assert_eq!(r["status"], "ongoing", "{r}");
    assert_eq!(r["call"]["kind"], "upgrade", "{r}");
    assert_eq!(r["call"]["specVersion"], old.spec_version + 1, "{r}");
    let stake = keyring_stake();
    assert_eq!(r["ayes"], (2 * stake).to_string(), "{r}");
    assert_eq!(r["nays"], (50_000 * MEN).to_string(), "{r}");
    let listed = wallet_ok(&["query", "governance", "referenda", "--rpc", &url]);
    assert!(
        listed.contains("runtime upgrade to spec version"),
        "{listed}"
    );
    assert!(listed.contains("inference.set_sampling"), "{listed}");

    // It passes at the end of voting, then is enacted after the delay.
    let deadline = Instant::now() + Duration::from_secs(180);
    let voting_end = loop {
        let r = referendum(&clients[2], up).await;
        if r["status"] == "enacted" {
            assert_eq!(r["succeeded"], true, "{r}");
            break r["end"].as_u64().unwrap();
        }
        assert!(Instant::now() < deadline, "never enacted: {r}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let settings: serde_json::Value = clients[0]
        .request("governance_summary", rpc_params![])
        .await
        .unwrap();
    let enactment = voting_end + settings["enactmentDelay"].as_u64().unwrap();
    // Every node runs the new code, without a restart.
    let deadline = Instant::now() + Duration::from_secs(60);
    for c in &clients {
        loop {
            let v = client::runtime_version(c, None).await.unwrap();
            if v.spec_version == old.spec_version + 1 {
                assert_eq!(v.spec_name, old.spec_name);
                break;
            }
            assert!(Instant::now() < deadline, "a node still runs {v:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Blocks are still produced and finalised with the new code, and its migration ran
    // once on every node.
    let f = finalized_number(&clients[0]).await;
    for c in &clients {
        wait_finalized(c, f + 5, Duration::from_secs(60), "after the upgrade").await;
        assert_eq!(migration_runs(c).await, Some(1));
        // The new code answers a query the old one did not know.
        let raw = client::query(c, new_query, &[], None).await.unwrap();
        assert_eq!(raw, 1u32.to_le_bytes());
    }
    let p = referendum(&clients[0], param).await;
    assert_eq!(p["status"], "enacted", "{p}");
    let summary: serde_json::Value = clients[3]
        .request("inference_summary", rpc_params![])
        .await
        .unwrap();
    assert_eq!(summary["samplePerMill"], 200, "{summary}");

    // The enactment block writes the new `:code`; the next one runs it. Block times
    // around the switch (a measurement, not asserted).
    let upgrade_hash = menara_primitives::blake3_256(upgrade);
    let head = finalized_number(&clients[0]).await;
    let mut times = Vec::new();
    for n in enactment.saturating_sub(10)..=(enactment + 10).min(head) {
        times.push((n, header_at(&clients[0], n).await.timestamp));
    }
    let gaps: Vec<(u64, u64)> = times
        .windows(2)
        .map(|w| (w[1].0, w[1].1 - w[0].1))
        .collect();
    let before: Vec<u64> = gaps
        .iter()
        .filter(|(n, _)| *n <= enactment)
        .map(|g| g.1)
        .collect();
    let after: Vec<u64> = gaps
        .iter()
        .filter(|(n, _)| *n > enactment)
        .map(|g| g.1)
        .collect();
    // The block that carried the proposal also checked the code (compiled and asked its
    // version) and queued its compilation for execution.
    let submitted = referendum(&clients[0], up).await["submitted"]
        .as_u64()
        .unwrap();
    let mut proposal_gaps = Vec::new();
    for n in submitted.saturating_sub(3).max(2)..=submitted + 3 {
        let gap = header_at(&clients[0], n).await.timestamp
            - header_at(&clients[0], n - 1).await.timestamp;
        proposal_gaps.push((n, gap));
    }
    let report = format!(
        "runtime upgrade {upgrade_hash} ({} bytes): enacted in block {enactment}; block {} is the first on the new code, {} ms after block {enactment}\nblock gaps (ms) before: {before:?}\nblock gaps (ms) after:  {after:?}\nproposal in block {submitted}; (block, gap to its parent in ms) around it: {proposal_gaps:?}\n",
        upgrade.len(),
        enactment + 1,
        after.first().copied().unwrap_or_default(),
    );
    eprintln!("{report}");
    let _ = std::fs::create_dir_all(concat!(env!("CARGO_TARGET_TMPDIR")));
    let _ = std::fs::write(
        concat!(env!("CARGO_TARGET_TMPDIR"), "/upgrade-timing.txt"),
        &report,
    );

    // A new node syncs from genesis across the upgrade to the same chain.
    let (_late, late_client, upto) = late_node_syncs(dir.path(), &bootnode, &clients, 0).await;
    assert!(upto > enactment + 1);
    assert_eq!(
        client::runtime_version(&late_client, None)
            .await
            .unwrap()
            .spec_version,
        old.spec_version + 1
    );
    assert_eq!(migration_runs(&late_client).await, Some(1));
}

/// Each `local` validator's genesis stake.
fn keyring_stake() -> u128 {
    menara_chain_spec::DEV_STAKE
}
