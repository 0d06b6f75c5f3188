//! The server against an in-memory node, over jsonrpsee's HTTP and WebSocket clients.
#![allow(clippy::unwrap_used)]

mod fixture;

use fixture::{http_url, serve, serve_node, ws_url, MockNode, ALICE, ISSUANCE};
use jsonrpsee::core::client::{ClientT, SubscriptionClientT, SubscriptionKind};
use jsonrpsee::core::ClientError as JsonRpcError;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClientBuilder;
use menara_primitives::trie::StateProof;
use menara_primitives::{AccountInfo, Header, RuntimeVersion, H256};
use menara_rpc::client::{self, ClientError};
use menara_rpc::{Health, RpcConfig, RpcMethods, TransactionStatus};
use parity_scale_codec::Decode;
use serde_json::{json, Value};
use std::time::Duration;

fn http(h: &menara_rpc::RpcHandle) -> HttpClient {
    HttpClientBuilder::default().build(http_url(h)).unwrap()
}

/// The JSON-RPC error (code, message) of a failed call.
fn rpc_err<T: std::fmt::Debug>(r: Result<T, JsonRpcError>) -> (i32, String) {
    match r {
        Err(JsonRpcError::Call(e)) => (e.code(), e.message().to_owned()),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn system_and_chain_methods_over_http() {
    let (h, node) = serve(RpcConfig::default()).await;
    let c = http(&h);

    let health: Health = c.request("system_health", rpc_params![]).await.unwrap();
    assert_eq!(
        health,
        Health {
            peers: 0,
            is_syncing: false,
            should_have_peers: false
        }
    );
    let raw: Value = c.request("system_health", rpc_params![]).await.unwrap();
    assert_eq!(
        raw,
        json!({"peers": 0, "isSyncing": false, "shouldHavePeers": false})
    );
    let name: String = c.request("system_name", rpc_params![]).await.unwrap();
    assert_eq!(name, "menara");
    let version: String = c.request("system_version", rpc_params![]).await.unwrap();
    assert_eq!(version, "0.1.0-test");
    let chain: String = c.request("system_chain", rpc_params![]).await.unwrap();
    assert_eq!(chain, "Development");
    let peers: Vec<Value> = c.request("system_peers", rpc_params![]).await.unwrap();
    assert!(peers.is_empty());
    let methods: Value = c.request("rpc_methods", rpc_params![]).await.unwrap();
    let names: Vec<&str> = methods["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for m in [
        "rpc_methods",
        "chain_getBlock",
        "chain_subscribeNewHeads",
        "chain_unsubscribeNewHeads",
        "state_getReadProof",
        "author_submitAndWatchExtrinsic",
        "balances_getAccount",
    ] {
        assert!(names.contains(&m), "{m} missing from {names:?}");
    }

    // Headers: best, by hash, unknown.
    let best = node.best();
    let header: Option<Header> = c.request("chain_getHeader", rpc_params![]).await.unwrap();
    assert_eq!(header.as_ref(), Some(&best));
    let genesis_hash = node.hash_of(0);
    let header: Option<Header> = c
        .request("chain_getHeader", rpc_params![genesis_hash])
        .await
        .unwrap();
    assert_eq!(header.unwrap().number, 0);
    let header: Option<Header> = c
        .request("chain_getHeader", rpc_params![H256([5; 32])])
        .await
        .unwrap();
    assert_eq!(header, None);
    let raw: Value = c.request("chain_getHeader", rpc_params![]).await.unwrap();
    assert_eq!(raw["parentHash"], json!(format!("{genesis_hash}")));
    assert_eq!(raw["number"], json!(1));

    // Block in Substrate's SignedBlock shape.
    let raw: Value = c.request("chain_getBlock", rpc_params![]).await.unwrap();
    assert_eq!(raw["justification"], Value::Null);
    assert_eq!(raw["block"]["extrinsics"], json!(["0x070707", "0x08"]));
    assert_eq!(raw["block"]["header"]["number"], json!(1));
    let raw: Value = c
        .request("chain_getBlock", rpc_params![H256([5; 32])])
        .await
        .unwrap();
    assert_eq!(raw, Value::Null);

    // Block hashes: number, hex string, none (best), beyond the tip.
    let by_num: Option<H256> = c
        .request("chain_getBlockHash", rpc_params![0])
        .await
        .unwrap();
    assert_eq!(by_num, Some(genesis_hash));
    let by_hex: Option<H256> = c
        .request("chain_getBlockHash", rpc_params!["0x1"])
        .await
        .unwrap();
    assert_eq!(by_hex, Some(best.hash()));
    let by_none: Option<H256> = c
        .request("chain_getBlockHash", rpc_params![])
        .await
        .unwrap();
    assert_eq!(by_none, Some(best.hash()));
    let beyond: Option<H256> = c
        .request("chain_getBlockHash", rpc_params![999])
        .await
        .unwrap();
    assert_eq!(beyond, None);
    let fin: H256 = c
        .request("chain_getFinalizedHead", rpc_params![])
        .await
        .unwrap();
    assert_eq!(fin, genesis_hash);

    // Typed client over HTTP.
    assert_eq!(client::genesis_hash(&c).await.unwrap(), genesis_hash);
    assert_eq!(client::finalized_head(&c).await.unwrap(), genesis_hash);
    assert_eq!(client::header(&c, None).await.unwrap(), Some(best));
    h.stop();
}

#[tokio::test]
async fn state_author_and_balances_methods() {
    let (h, node) = serve(RpcConfig::default()).await;
    let c = http(&h);

    let v: Option<String> = c
        .request("state_getStorage", rpc_params!["0x616c706861"])
        .await
        .unwrap();
    assert_eq!(v.as_deref(), Some("0x010203"));
    let v: Option<String> = c
        .request("state_getStorage", rpc_params!["0x00", None::<H256>])
        .await
        .unwrap();
    assert_eq!(v, None);
    assert_eq!(
        client::storage(&c, b"alpha", Some(node.hash_of(0)))
            .await
            .unwrap(),
        Some(vec![1, 2, 3])
    );

    // Read proof: the wire shape, then the typed client, which verifies each proof.
    let raw: Value = c
        .request(
            "state_getReadProof",
            rpc_params![["0x616c706861", "0x6e6f6e65"]],
        )
        .await
        .unwrap();
    assert_eq!(raw["at"], json!(format!("{}", node.best().hash())));
    assert_eq!(
        raw["stateRoot"],
        json!(format!("{}", node.best().state_root))
    );
    assert_eq!(raw["proof"][0]["key"], json!("0x616c706861"));
    assert_eq!(raw["proof"][0]["value"], json!("0x010203"));
    assert_eq!(raw["proof"][1]["value"], Value::Null);
    let proof_hex = raw["proof"][0]["proof"].as_str().unwrap();
    let bytes = hex::decode(proof_hex.trim_start_matches("0x")).unwrap();
    StateProof::decode(&mut &bytes[..]).unwrap();
    let keys = vec![b"alpha".to_vec(), b"beta".to_vec(), b"none".to_vec()];
    let proof = client::read_proof(&c, &keys, None).await.unwrap();
    assert_eq!(proof.state_root, node.best().state_root);
    assert_eq!(proof.entries[1].1, Some(vec![4; 40]));
    assert_eq!(proof.entries[2].1, None);

    let rv: RuntimeVersion = c
        .request("state_getRuntimeVersion", rpc_params![])
        .await
        .unwrap();
    assert_eq!(rv.spec_version, 3);
    let raw: Value = c
        .request("chain_getRuntimeVersion", rpc_params![])
        .await
        .unwrap();
    assert_eq!(raw["specName"], json!("menara"));
    assert_eq!(client::runtime_version(&c, None).await.unwrap(), rv);

    let out: String = c
        .request("state_call", rpc_params!["echo", "0xc0ffee"])
        .await
        .unwrap();
    assert_eq!(out, "0xc0ffee");
    assert_eq!(
        client::query(&c, "echo", &[1, 2], None).await.unwrap(),
        vec![1, 2]
    );
    let (code, msg) = rpc_err(
        c.request::<String, _>("state_call", rpc_params!["nope", "0x"])
            .await,
    );
    assert_eq!(
        (code, msg.as_str()),
        (4010, "runtime call failed: unknown query method \"nope\"")
    );

    let hash: H256 = c
        .request("author_submitExtrinsic", rpc_params!["0x0102"])
        .await
        .unwrap();
    assert_eq!(hash, menara_primitives::blake3_256(&[1, 2]));
    assert_eq!(
        client::submit(&c, &[3]).await.unwrap(),
        menara_primitives::blake3_256(&[3])
    );
    let pending: Vec<String> = c
        .request("author_pendingExtrinsics", rpc_params![])
        .await
        .unwrap();
    assert_eq!(pending, vec!["0xaabb", "0x0102", "0x03"]);

    let n: u64 = c
        .request("system_accountNextIndex", rpc_params![ALICE])
        .await
        .unwrap();
    assert_eq!(n, 5);
    assert_eq!(client::account_next_index(&c, &ALICE).await.unwrap(), 5);
    let raw: Value = c
        .request("balances_getAccount", rpc_params![ALICE])
        .await
        .unwrap();
    assert_eq!(raw, json!({"nonce": 4, "free": (ISSUANCE / 2).to_string()}));
    assert_eq!(
        client::account(&c, &ALICE).await.unwrap(),
        AccountInfo {
            nonce: 4,
            free: ISSUANCE / 2
        }
    );
    let raw: Value = c
        .request("balances_totalIssuance", rpc_params![])
        .await
        .unwrap();
    assert_eq!(raw, json!(ISSUANCE.to_string()));
    assert_eq!(client::total_issuance(&c).await.unwrap(), ISSUANCE);
    h.stop();
}

#[tokio::test]
async fn bad_input_gets_errors_that_say_what_is_wrong() {
    let (h, node) = serve(RpcConfig::default()).await;
    let c = http(&h);

    let (code, msg) = rpc_err(
        c.request::<Value, _>("state_getStorage", rpc_params!["0xzz"])
            .await,
    );
    assert_eq!(code, -32602);
    assert_eq!(
        msg,
        "invalid hex in parameter `key`: invalid character 'z' at position 2"
    );
    let (code, msg) = rpc_err(
        c.request::<Value, _>("state_getStorage", rpc_params!["0x123"])
            .await,
    );
    assert_eq!(code, -32602);
    assert!(msg.contains("odd number of hex digits"), "{msg}");
    let (code, msg) = rpc_err(
        c.request::<Value, _>("state_getStorage", rpc_params!["0x01", "0x1234"])
            .await,
    );
    assert_eq!(code, -32602);
    assert_eq!(
        msg,
        "wrong length for parameter `at`: a block hash is 32 bytes (64 hex digits), got 2 bytes"
    );
    let (code, msg) = rpc_err(
        c.request::<Value, _>("system_accountNextIndex", rpc_params!["0x0101"])
            .await,
    );
    assert_eq!(code, -32602);
    assert!(
        msg.starts_with("wrong length for parameter `account`: an account id is 32 bytes"),
        "{msg}"
    );
    let (code, msg) = rpc_err(
        c.request::<Value, _>("balances_getAccount", rpc_params![])
            .await,
    );
    assert_eq!(
        (code, msg.as_str()),
        (-32602, "missing parameter `account`")
    );
    let (code, msg) = rpc_err(
        c.request::<Value, _>("chain_getBlockHash", rpc_params![-3])
            .await,
    );
    assert_eq!(code, -32602);
    assert!(msg.contains("expected a block number"), "{msg}");
    let (code, msg) = rpc_err(
        c.request::<Value, _>("chain_getBlockHash", rpc_params![1, 2])
            .await,
    );
    assert_eq!(code, -32602);
    assert!(msg.starts_with("too many parameters"), "{msg}");

    // Unknown block (this node answers `UnknownBlock` for storage at an unknown hash).
    let (code, msg) = rpc_err(
        c.request::<Value, _>("state_getStorage", rpc_params!["0x01", H256([5; 32])])
            .await,
    );
    assert_eq!(code, 4003);
    assert!(msg.starts_with("unknown block: 0x0505"), "{msg}");

    // Too many keys for a read proof.
    let keys: Vec<String> = (0..1001).map(|i: u32| format!("0x{:08x}", i)).collect();
    let (code, msg) = rpc_err(
        c.request::<Value, _>("state_getReadProof", rpc_params![keys])
            .await,
    );
    assert_eq!(code, -32602);
    assert!(msg.contains("at most 1000 per call"), "{msg}");

    // Refused transactions.
    let (code, msg) = rpc_err(
        c.request::<H256, _>("author_submitExtrinsic", rpc_params!["0xff01"])
            .await,
    );
    assert_eq!(code, 1010);
    assert_eq!(
        msg,
        "invalid transaction: bad signature: not signed by the sender"
    );
    let (code, _) = rpc_err(
        c.request::<H256, _>("author_submitExtrinsic", rpc_params!["0xfe"])
            .await,
    );
    assert_eq!(code, 1013);

    // Unknown method.
    let (code, _) = rpc_err(c.request::<Value, _>("chain_nope", rpc_params![]).await);
    assert_eq!(code, -32601);

    // The typed client reads as a sentence.
    let err = client::submit(&c, &[0xff]).await.unwrap_err();
    assert!(matches!(err, ClientError::Rpc { code: 1010, .. }));
    assert_eq!(
        err.to_string(),
        "invalid transaction: bad signature: not signed by the sender (RPC error 1010)"
    );
    let unreachable = HttpClientBuilder::default()
        .build("http://127.0.0.1:1")
        .unwrap();
    let err = client::total_issuance(&unreachable).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");

    // The server is still fine.
    assert_eq!(client::genesis_hash(&c).await.unwrap(), node.hash_of(0));
    h.stop();
}

#[tokio::test]
async fn oversized_requests_are_refused_clearly() {
    let (h, _node) = serve(RpcConfig {
        max_request_size: 1024,
        ..RpcConfig::default()
    })
    .await;
    let big = format!("0x{}", "ab".repeat(2048));

    let c = http(&h);
    let err = c
        .request::<Value, _>("state_getStorage", rpc_params![big.clone()])
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("413") || text.to_lowercase().contains("too big"),
        "{text}"
    );
    // A small request on the same server still works.
    let _: Option<String> = c
        .request("state_getStorage", rpc_params!["0x00"])
        .await
        .unwrap();

    let err = client::storage(&c, &[0xab; 2048], None).await.unwrap_err();
    assert!(err.to_string().contains("too large (HTTP 413"), "{err}");

    // Over WebSocket the server answers -32007 with a null id (it cannot read the id of a
    // frame it refused); jsonrpsee's client takes that as fatal and drops the connection.
    let ws = WsClientBuilder::default().build(ws_url(&h)).await.unwrap();
    let err = client::storage(&ws, &[0xab; 2048], None).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("most likely over its request size limit"),
        "{err}"
    );
    // The server itself is unharmed.
    let ws = WsClientBuilder::default().build(ws_url(&h)).await.unwrap();
    let _: Health = ws.request("system_health", rpc_params![]).await.unwrap();
    // A client configured with the server's limit refuses locally, with a clear message.
    let ws = WsClientBuilder::default()
        .max_request_size(1024)
        .build(ws_url(&h))
        .await
        .unwrap();
    let err = ws
        .request::<Value, _>("state_getStorage", rpc_params![big])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
    h.stop();
}

#[tokio::test]
async fn new_and_finalized_heads_are_pushed_over_ws() {
    let (h, node) = serve(RpcConfig::default()).await;
    let ws = client::connect(&ws_url(&h)).await.unwrap();

    let mut heads = ws
        .subscribe::<Header, _>(
            "chain_subscribeNewHeads",
            rpc_params![],
            "chain_unsubscribeNewHeads",
        )
        .await
        .unwrap();
    let mut fins = ws
        .subscribe::<Header, _>(
            "chain_subscribeFinalizedHeads",
            rpc_params![],
            "chain_unsubscribeFinalizedHeads",
        )
        .await
        .unwrap();
    // The current heads come first.
    let first = tokio::time::timeout(TIMEOUT, heads.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.number, 1);
    let first = tokio::time::timeout(TIMEOUT, fins.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.number, 0);

    let pushed: Vec<Header> = (0..3).map(|_| node.push_block(vec![])).collect();
    for expected in &pushed {
        let got = tokio::time::timeout(TIMEOUT, heads.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(&got, expected);
    }
    node.finalize(3);
    let got = tokio::time::timeout(TIMEOUT, fins.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got, pushed[1]);

    heads.unsubscribe().await.unwrap();
    fins.unsubscribe().await.unwrap();
    h.stop();
}

#[tokio::test]
async fn a_lagging_subscriber_skips_headers_and_keeps_going() {
    let node = MockNode::new(2);
    let (h, node) = serve_node(node, RpcConfig::default()).await;
    let ws = WsClientBuilder::default().build(ws_url(&h)).await.unwrap();
    let mut heads = ws
        .subscribe::<Header, _>(
            "chain_subscribeNewHeads",
            rpc_params![],
            "chain_unsubscribeNewHeads",
        )
        .await
        .unwrap();
    let mut last = 0;
    for _ in 0..200 {
        last = node.push_block(vec![]).number;
    }
    loop {
        let got = tokio::time::timeout(TIMEOUT, heads.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if got.number == last {
            break;
        }
    }
    let more = node.push_block(vec![]);
    let got = tokio::time::timeout(TIMEOUT, heads.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got, more);
    let _: Health = ws.request("system_health", rpc_params![]).await.unwrap();
    h.stop();
}

#[tokio::test]
async fn submit_and_watch_ends_after_finalized() {
    let (h, _node) = serve(RpcConfig::default()).await;
    let ws = client::connect(&ws_url(&h)).await.unwrap();

    // Typed client: the watch ends after the final status.
    let mut watch = client::submit_and_watch(&ws, &[1, 2, 3]).await.unwrap();
    let mut seen = Vec::new();
    while let Some(status) = tokio::time::timeout(TIMEOUT, watch.next()).await.unwrap() {
        seen.push(status.unwrap());
    }
    let block = H256([9; 32]);
    assert_eq!(
        seen,
        vec![
            TransactionStatus::Ready,
            TransactionStatus::InBlock(block),
            TransactionStatus::Finalized(block)
        ]
    );
    let watch = client::submit_and_watch(&ws, &[4]).await.unwrap();
    assert_eq!(
        tokio::time::timeout(TIMEOUT, watch.wait_final())
            .await
            .unwrap()
            .unwrap(),
        TransactionStatus::Finalized(block)
    );

    // Raw: the wire format, and the server closes the subscription after the final status.
    let mut sub = ws
        .subscribe::<Value, _>(
            "author_submitAndWatchExtrinsic",
            rpc_params!["0x0506"],
            "author_unwatchExtrinsic",
        )
        .await
        .unwrap();
    let id = match sub.kind() {
        SubscriptionKind::Subscription(id) => id.clone(),
        other => panic!("{other:?}"),
    };
    let mut raw = Vec::new();
    for _ in 0..3 {
        raw.push(
            tokio::time::timeout(TIMEOUT, sub.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap(),
        );
    }
    let block_hex = format!("{block}");
    assert_eq!(
        raw,
        vec![
            json!("ready"),
            json!({"inBlock": block_hex}),
            json!({"finalized": block_hex})
        ]
    );
    // No `dropped` after `finalized`; the server no longer knows the subscription.
    assert!(tokio::time::timeout(Duration::from_millis(300), sub.next())
        .await
        .is_err());
    let still_open: bool = ws
        .request("author_unwatchExtrinsic", rpc_params![id])
        .await
        .unwrap();
    assert!(!still_open);

    // An invalid transaction fails the subscribe call itself.
    let err = client::submit_and_watch(&ws, &[0xff]).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Rpc { code: 1010, .. }),
        "{err:?}"
    );
    let (code, msg) = rpc_err(
        ws.subscribe::<Value, _>(
            "author_submitAndWatchExtrinsic",
            rpc_params!["0xq"],
            "author_unwatchExtrinsic",
        )
        .await,
    );
    assert_eq!(code, -32602);
    assert!(
        msg.starts_with("invalid hex in parameter `extrinsic`"),
        "{msg}"
    );
    h.stop();
}

#[tokio::test]
async fn unsafe_methods_are_refused_in_safe_mode() {
    let (h, _node) = serve(RpcConfig {
        methods: RpcMethods::Safe,
        ..RpcConfig::default()
    })
    .await;
    let c = http(&h);
    let (code, msg) = rpc_err(
        c.request::<Value, _>("author_pendingExtrinsics", rpc_params![])
            .await,
    );
    assert_eq!(code, -32601);
    assert!(msg.contains("unsafe"), "{msg}");
    // Safe methods still work.
    let _: Health = c.request("system_health", rpc_params![]).await.unwrap();
    h.stop();
}

#[tokio::test]
async fn connection_limit_is_honoured() {
    let (h, _node) = serve(RpcConfig {
        max_connections: 2,
        ..RpcConfig::default()
    })
    .await;
    let a = WsClientBuilder::default().build(ws_url(&h)).await.unwrap();
    let b = WsClientBuilder::default().build(ws_url(&h)).await.unwrap();
    let _: Health = a.request("system_health", rpc_params![]).await.unwrap();
    let _: Health = b.request("system_health", rpc_params![]).await.unwrap();
    let third = WsClientBuilder::default().build(ws_url(&h)).await;
    match third {
        Err(_) => {}
        Ok(c) => assert!(c
            .request::<Health, _>("system_health", rpc_params![])
            .await
            .is_err()),
    }
    drop(a);
    // A slot frees up once a client leaves.
    let mut ok = false;
    for _ in 0..50 {
        if let Ok(c) = WsClientBuilder::default().build(ws_url(&h)).await {
            if c.request::<Health, _>("system_health", rpc_params![])
                .await
                .is_ok()
            {
                ok = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "no connection accepted after one closed");
    drop(b);
    h.stop();
}

#[tokio::test]
async fn stop_closes_the_server() {
    let (h, _node) = serve(RpcConfig::default()).await;
    let url = http_url(&h);
    h.stop();
    h.stopped().await;
    let c = HttpClientBuilder::default().build(url).unwrap();
    assert!(c
        .request::<Health, _>("system_health", rpc_params![])
        .await
        .is_err());
}

#[tokio::test]
async fn transaction_outcome_reports_failed_calls_and_unknown_hashes() {
    let (h, _node) = serve(RpcConfig::default()).await;
    let c = http(&h);
    let known = menara_rpc::client::transaction_outcome(&c, &menara_primitives::H256([7; 32]))
        .await
        .unwrap()
        .unwrap();
    assert!(!known.success);
    assert_eq!(known.error.as_deref(), Some("InsufficientBalance"));
    let raw: Value = c
        .request(
            "author_transactionOutcome",
            rpc_params![format!("0x{}", "07".repeat(32))],
        )
        .await
        .unwrap();
    assert_eq!(raw["blockNumber"], json!(1));
    let unknown = menara_rpc::client::transaction_outcome(&c, &menara_primitives::H256([8; 32]))
        .await
        .unwrap();
    assert!(unknown.is_none());
    let err = c
        .request::<Value, _>("author_transactionOutcome", rpc_params!["0x12"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("hash"), "{err}");
}

/// One IP address cannot take every connection: past its share the server closes its new
/// sockets at once, and clients from elsewhere still get in.
#[tokio::test]
async fn one_ip_cannot_take_every_connection() {
    let (h, _node) = serve(RpcConfig {
        max_connections: 10,
        max_connections_per_ip: 3,
        ..RpcConfig::default()
    })
    .await;
    let hostile = std::net::Ipv4Addr::new(127, 0, 0, 2);
    let mut held = Vec::new();
    let mut upgraded = 0;
    for _ in 0..8 {
        let (status, stream) = fixture::raw_websocket(hostile, h.local_addr()).await;
        if status == 101 {
            upgraded += 1;
        } else {
            assert_eq!(status, 0, "refused sockets are closed without an answer");
        }
        held.push(stream);
    }
    assert_eq!(upgraded, 3, "the per-IP limit");
    // Another address gets WebSocket and HTTP service.
    let ws = WsClientBuilder::default().build(ws_url(&h)).await.unwrap();
    let _: Health = ws.request("system_health", rpc_params![]).await.unwrap();
    let _: Health = http(&h)
        .request("system_health", rpc_params![])
        .await
        .unwrap();
    // Closing the hostile sockets gives the address its share back.
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _s) = fixture::raw_websocket(hostile, h.local_addr()).await;
    assert_eq!(status, 101);
}

/// WebSockets filling every slot do not lock HTTP clients out; idle WebSockets are closed
/// after the idle timeout, and then WebSocket clients get in again.
#[tokio::test]
async fn websockets_cannot_starve_http_and_idle_ones_are_closed() {
    let (h, _node) = serve(RpcConfig {
        max_connections: 4,
        max_connections_per_ip: 2,
        idle_timeout: Some(Duration::from_secs(2)),
        ..RpcConfig::default()
    })
    .await;
    let mut held = Vec::new();
    for host in 2..4u8 {
        for _ in 0..2 {
            let (status, stream) =
                fixture::raw_websocket(std::net::Ipv4Addr::new(127, 0, 0, host), h.local_addr())
                    .await;
            assert_eq!(status, 101);
            held.push(stream);
        }
    }
    // Every WebSocket slot is taken: a fifth WebSocket gets 429 ...
    let (status, _s) =
        fixture::raw_websocket(std::net::Ipv4Addr::new(127, 0, 0, 4), h.local_addr()).await;
    assert_eq!(status, 429);
    // ... while HTTP requests are served.
    for _ in 0..3 {
        let _: Health = http(&h)
            .request("system_health", rpc_params![])
            .await
            .unwrap();
    }
    // Idle connections are closed by the server after the timeout.
    for s in &mut held {
        assert!(fixture::closed_by_server(s, Duration::from_secs(6)).await);
    }
    let ws = WsClientBuilder::default().build(ws_url(&h)).await.unwrap();
    let _: Health = ws.request("system_health", rpc_params![]).await.unwrap();
}

/// A subscriber that receives notifications is not idle; subscriptions per connection are
/// bounded.
#[tokio::test]
async fn subscriptions_are_bounded_and_keep_a_connection_alive() {
    let (h, node) = serve(RpcConfig {
        max_subscriptions_per_connection: 2,
        idle_timeout: Some(Duration::from_secs(1)),
        ..RpcConfig::default()
    })
    .await;
    let ws = WsClientBuilder::default().build(ws_url(&h)).await.unwrap();
    let mut subs = Vec::new();
    for _ in 0..2 {
        subs.push(
            ws.subscribe::<Header, _>(
                "chain_subscribeNewHeads",
                rpc_params![],
                "chain_unsubscribeNewHeads",
            )
            .await
            .unwrap(),
        );
    }
    let third = ws
        .subscribe::<Header, _>(
            "chain_subscribeNewHeads",
            rpc_params![],
            "chain_unsubscribeNewHeads",
        )
        .await;
    assert!(third.is_err(), "third subscription must be refused");
    // Notifications every 300 ms keep the connection open past the 1 s idle timeout.
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        node.push_block(Vec::new());
    }
    let _: Health = ws.request("system_health", rpc_params![]).await.unwrap();
}
