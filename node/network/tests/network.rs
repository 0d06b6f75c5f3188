//! In-process multi-node tests on 127.0.0.1 (port 0). Every wait is for an event or a state,
//! bounded by a generous timeout; the only fixed pauses are the short windows in which
//! something must *not* happen.
#![allow(clippy::unwrap_used)]

use std::{future::Future, time::Duration};

use menara_network::{
    BlockRequest, BlockResponse, Event, Misbehaviour, ModelChunkRequest, ModelChunkResponse,
    Multiaddr, Network, NetworkConfig, NetworkError, NetworkEvents, NetworkHandle, PeerId,
    RefusalReason, Validation, MAX_MODEL_CHUNK,
};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::time::{sleep, timeout};

const WAIT: Duration = Duration::from_secs(20);
/// How long "nothing arrives" is observed.
const QUIET: Duration = Duration::from_millis(700);

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

fn config(dir: &TempDir, name: &str, bootnodes: Vec<Multiaddr>) -> NetworkConfig {
    let mut c = NetworkConfig::new("testchain", dir.path().join(name).join("node_key"));
    c.listen_addr = "/ip4/127.0.0.1/tcp/0".parse().unwrap();
    c.bootnodes = bootnodes;
    c.maintenance_interval = Duration::from_millis(300);
    c.request_timeout = Duration::from_secs(5);
    c
}

struct Node {
    handle: NetworkHandle,
    events: NetworkEvents,
}

impl Node {
    async fn start(config: NetworkConfig) -> Node {
        let (handle, events) = Network::start(config).await.unwrap();
        Node { handle, events }
    }

    fn id(&self) -> PeerId {
        self.handle.local_peer_id()
    }

    fn addr(&self) -> Multiaddr {
        self.handle.listen_addrs().into_iter().next().unwrap()
    }

    /// The next event `f` picks, skipping others.
    async fn next<T>(&mut self, mut f: impl FnMut(Event) -> Option<T>) -> T {
        timeout(WAIT, async {
            loop {
                let event = self.events.recv().await.expect("event channel closed");
                if let Some(t) = f(event) {
                    return t;
                }
            }
        })
        .await
        .expect("timed out waiting for an event")
    }

    /// Asserts that no gossip arrives for a while (other events are skipped).
    async fn no_gossip(&mut self) {
        let got = timeout(QUIET, async {
            loop {
                match self.events.recv().await {
                    Some(e @ (Event::Transaction { .. } | Event::Consensus { .. })) => return e,
                    Some(_) => {}
                    None => std::future::pending::<()>().await,
                }
            }
        })
        .await;
        assert!(got.is_err(), "unexpected gossip: {got:?}");
    }

    /// Waits until `peer` is connected and subscribed to both topics.
    async fn wait_gossip_peer(&self, peer: PeerId) {
        let handle = self.handle.clone();
        wait_until(move || {
            let handle = handle.clone();
            async move {
                handle
                    .peers()
                    .await
                    .unwrap()
                    .iter()
                    .any(|p| p.peer_id == peer && p.topics.len() == 2)
            }
        })
        .await;
    }
}

async fn wait_until<F, Fut>(mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    timeout(WAIT, async {
        while !f().await {
            sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("timed out waiting for a condition")
}

async fn wait_peer_count(handle: &NetworkHandle, n: usize) {
    let handle = handle.clone();
    wait_until(move || {
        let c = handle.peer_count();
        async move { c == n }
    })
    .await;
}

async fn score_of(handle: &NetworkHandle, peer: PeerId) -> Option<f64> {
    handle
        .peers()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.peer_id == peer)
        .map(|p| p.score)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_discover_each_other_through_a_bootnode() {
    init_logs();
    let dir = TempDir::new().unwrap();
    let a = Node::start(config(&dir, "a", vec![])).await;
    let b = Node::start(config(&dir, "b", vec![a.addr()])).await;
    let c = Node::start(config(&dir, "c", vec![a.addr()])).await;
    assert!(a.addr().to_string().starts_with("/ip4/127.0.0.1/tcp/"));
    for node in [&a, &b, &c] {
        wait_peer_count(&node.handle, 2).await;
    }
    // B and C found each other through Kademlia, not through configuration.
    let b_peers = b.handle.peers().await.unwrap();
    assert!(b_peers.iter().any(|p| p.peer_id == c.id()));
    // Identify tells each node where the others listen.
    let handle = b.handle.clone();
    wait_until(move || {
        let handle = handle.clone();
        async move {
            let peers = handle.peers().await.unwrap();
            peers.len() == 2 && peers.iter().all(|p| !p.addresses.is_empty())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_is_forwarded_only_after_the_middle_node_accepts_it() {
    init_logs();
    let dir = TempDir::new().unwrap();
    // A line: A - B - C (no discovery, so A and C never meet).
    let mut cfg = config(&dir, "b", vec![]);
    cfg.discovery = false;
    let mut b = Node::start(cfg).await;
    let mut cfg = config(&dir, "a", vec![b.addr()]);
    cfg.discovery = false;
    let mut a = Node::start(cfg).await;
    let mut cfg = config(&dir, "c", vec![b.addr()]);
    cfg.discovery = false;
    let mut c = Node::start(cfg).await;
    b.wait_gossip_peer(a.id()).await;
    b.wait_gossip_peer(c.id()).await;
    a.wait_gossip_peer(b.id()).await;
    c.wait_gossip_peer(b.id()).await;
    assert_eq!(a.handle.peer_count(), 1);
    assert_eq!(c.handle.peer_count(), 1);

    a.handle
        .publish_transaction(b"tx-1".to_vec())
        .await
        .unwrap();
    let (from, msg_id) = b
        .next(|e| match e {
            Event::Transaction {
                from,
                bytes,
                msg_id,
            } => {
                assert_eq!(bytes, b"tx-1");
                Some((from, msg_id))
            }
            _ => None,
        })
        .await;
    assert_eq!(from, a.id());
    // Not validated yet: C sees nothing.
    c.no_gossip().await;
    b.handle.validate(msg_id, from, Validation::Accept).unwrap();
    let from = c
        .next(|e| match e {
            Event::Transaction { from, bytes, .. } => {
                assert_eq!(bytes, b"tx-1");
                Some(from)
            }
            Event::Consensus { .. } => panic!("wrong topic"),
            _ => None,
        })
        .await;
    assert_eq!(from, b.id());

    // A consensus message that B ignores never reaches C, and A is not penalised.
    a.handle.publish_consensus(b"vote".to_vec()).await.unwrap();
    let (from, msg_id) = b
        .next(|e| match e {
            Event::Consensus {
                from,
                bytes,
                msg_id,
            } => {
                assert_eq!(bytes, b"vote");
                Some((from, msg_id))
            }
            _ => None,
        })
        .await;
    b.handle.validate(msg_id, from, Validation::Ignore).unwrap();
    c.no_gossip().await;
    assert!(score_of(&b.handle, a.id()).await.unwrap() >= 0.0);
    // The publisher never gets its own message back.
    a.no_gossip().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_gossip_lowers_the_score_then_bans_the_sender() {
    init_logs();
    let dir = TempDir::new().unwrap();
    let mut cfg = config(&dir, "b", vec![]);
    cfg.discovery = false;
    let mut b = Node::start(cfg).await;
    let mut cfg = config(&dir, "a", vec![b.addr()]);
    cfg.discovery = false;
    let mut a = Node::start(cfg).await;
    b.wait_gossip_peer(a.id()).await;
    a.wait_gossip_peer(b.id()).await;

    let mut last_score = 0.0;
    for i in 0..6u8 {
        a.handle.publish_transaction(vec![i; 8]).await.unwrap();
        let (from, msg_id) = b
            .next(|e| match e {
                Event::Transaction { from, msg_id, .. } => Some((from, msg_id)),
                _ => None,
            })
            .await;
        assert_eq!(from, a.id());
        b.handle.validate(msg_id, from, Validation::Reject).unwrap();
        if i < 5 {
            // Still connected, with a lower score each time.
            let score = score_of(&b.handle, a.id()).await.unwrap();
            assert!(score < last_score, "score {score} not below {last_score}");
            last_score = score;
        }
    }
    // The sixth rejection crosses the threshold: A is disconnected...
    let gone = b
        .next(|e| match e {
            Event::PeerDisconnected(p) => Some(p),
            _ => None,
        })
        .await;
    assert_eq!(gone, a.id());
    a.next(|e| matches!(e, Event::PeerDisconnected(_)).then_some(()))
        .await;
    // ...and stays out: A keeps redialling its bootnode, B keeps refusing.
    sleep(QUIET).await;
    assert_eq!(b.handle.peer_count(), 0);
    assert_eq!(a.handle.peer_count(), 0);
    // Requests to a banned peer fail at once.
    let err = b
        .handle
        .request_blocks(a.id(), BlockRequest { from: 0, max: 1 })
        .await
        .unwrap_err();
    assert!(matches!(err, NetworkError::RequestFailed { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_below_threshold_bans_and_the_ban_expires() {
    init_logs();
    let dir = TempDir::new().unwrap();
    let mut cfg = config(&dir, "b", vec![]);
    cfg.ban_duration = Duration::from_secs(1);
    let mut b = Node::start(cfg).await;
    let a = Node::start(config(&dir, "a", vec![b.addr()])).await;
    wait_peer_count(&b.handle, 1).await;
    b.handle.report(a.id(), Misbehaviour::InvalidBlock).unwrap();
    assert!(score_of(&b.handle, a.id()).await.unwrap() < -40.0);
    b.handle.report(a.id(), Misbehaviour::Fatal).unwrap();
    let gone = b
        .next(|e| match e {
            Event::PeerDisconnected(p) => Some(p),
            _ => None,
        })
        .await;
    assert_eq!(gone, a.id());
    // A redials its bootnode every maintenance tick; once the ban expires it gets back in,
    // with a neutral score.
    let back = b
        .next(|e| match e {
            Event::PeerConnected(p) => Some(p),
            _ => None,
        })
        .await;
    assert_eq!(back, a.id());
    assert_eq!(score_of(&b.handle, a.id()).await.unwrap(), 0.0);
}

/// Answers every block request on `node` with blocks `from..from+max` (as `len`-byte blobs).
fn serve_blocks(mut node: Node, len: usize) -> tokio::task::JoinHandle<Node> {
    tokio::spawn(async move {
        while let Some(event) = node.events.recv().await {
            if let Event::BlockRequest {
                request, respond, ..
            } = event
            {
                let blocks = (request.from..request.from + u64::from(request.max))
                    .map(|h| vec![h as u8; len])
                    .collect();
                let _ = respond.send(BlockResponse { blocks, head: 0 });
            }
        }
        node
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_request_roundtrip() {
    init_logs();
    let dir = TempDir::new().unwrap();
    let mut cfg = config(&dir, "b", vec![]);
    cfg.max_blocks_per_request = 16;
    let mut b = Node::start(cfg).await;
    let a = Node::start(config(&dir, "a", vec![b.addr()])).await;
    wait_peer_count(&a.handle, 1).await;
    let b_id = b.id();

    // The node sees the request and answers from its "database".
    let handle = a.handle.clone();
    let request = tokio::spawn(async move {
        handle
            .request_blocks(b_id, BlockRequest { from: 5, max: 3 })
            .await
    });
    let (peer, req, respond) = b
        .next(|e| match e {
            Event::BlockRequest {
                peer,
                request,
                respond,
            } => Some((peer, request, respond)),
            _ => None,
        })
        .await;
    assert_eq!(peer, a.id());
    assert_eq!(req, BlockRequest { from: 5, max: 3 });
    let blocks = vec![b"block5".to_vec(), b"block6".to_vec(), b"block7".to_vec()];
    respond
        .send(BlockResponse {
            blocks: blocks.clone(),
            head: 7,
        })
        .unwrap();
    assert_eq!(request.await.unwrap().unwrap().blocks, blocks);

    // A request for more than the responder serves is capped; a node that answers with
    // more than asked is truncated before it leaves.
    let handle = a.handle.clone();
    let request = tokio::spawn(async move {
        handle
            .request_blocks(b_id, BlockRequest { from: 0, max: 1000 })
            .await
    });
    let (req, respond) = b
        .next(|e| match e {
            Event::BlockRequest {
                request, respond, ..
            } => Some((request, respond)),
            _ => None,
        })
        .await;
    assert_eq!(req.max, 16);
    respond
        .send(BlockResponse {
            blocks: vec![vec![1]; 40],
            head: 40,
        })
        .unwrap();
    assert_eq!(request.await.unwrap().unwrap().blocks.len(), 16);

    // A node that drops the responder refuses the request.
    let handle = a.handle.clone();
    let request = tokio::spawn(async move {
        handle
            .request_blocks(b_id, BlockRequest { from: 0, max: 1 })
            .await
    });
    let respond = b
        .next(|e| match e {
            Event::BlockRequest { respond, .. } => Some(respond),
            _ => None,
        })
        .await;
    drop(respond);
    let err = request.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            NetworkError::Refused {
                reason: RefusalReason::Unavailable,
                ..
            }
        ),
        "{err}"
    );
    // Nobody was penalised for any of this.
    assert_eq!(score_of(&a.handle, b_id).await.unwrap(), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_response_is_refused_and_penalised() {
    init_logs();
    let dir = TempDir::new().unwrap();
    let b = Node::start(config(&dir, "b", vec![])).await;
    let b_id = b.id();
    let b_addr = b.addr();
    let _server = serve_blocks(b, 1000);
    let mut cfg = config(&dir, "a", vec![b_addr]);
    cfg.max_response_size = 2048;
    let a = Node::start(cfg).await;
    wait_peer_count(&a.handle, 1).await;

    // Two 1000-byte blocks fit in 2 KiB; three do not.
    let ok = a
        .handle
        .request_blocks(b_id, BlockRequest { from: 0, max: 2 })
        .await
        .unwrap();
    assert_eq!(ok.blocks.len(), 2);
    let err = a
        .handle
        .request_blocks(b_id, BlockRequest { from: 0, max: 3 })
        .await
        .unwrap_err();
    assert!(
        matches!(err, NetworkError::MessageTooLarge { limit: 2048, .. }),
        "{err}"
    );
    assert!(score_of(&a.handle, b_id).await.unwrap() < -40.0);
    // Only the stream was dropped: the connection still serves requests.
    let ok = a
        .handle
        .request_blocks(b_id, BlockRequest { from: 7, max: 1 })
        .await
        .unwrap();
    assert_eq!(ok.blocks, vec![vec![7u8; 1000]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_quota_is_enforced_per_peer() {
    init_logs();
    let dir = TempDir::new().unwrap();
    let mut cfg = config(&dir, "b", vec![]);
    cfg.requests_per_second = 2;
    let b = Node::start(cfg).await;
    let b_id = b.id();
    let b_handle = b.handle.clone();
    let b_addr = b.addr();
    let _server = serve_blocks(b, 4);
    let a = Node::start(config(&dir, "a", vec![b_addr])).await;
    wait_peer_count(&a.handle, 1).await;

    let requests: Vec<_> = (0..8u64)
        .map(|i| {
            let handle = a.handle.clone();
            tokio::spawn(async move {
                handle
                    .request_blocks(b_id, BlockRequest { from: i, max: 1 })
                    .await
            })
        })
        .collect();
    let (mut served, mut limited) = (0, 0);
    for request in requests {
        match request.await.unwrap() {
            Ok(response) => {
                assert_eq!(response.blocks.len(), 1);
                served += 1;
            }
            Err(NetworkError::Refused {
                reason: RefusalReason::RateLimited,
                ..
            }) => limited += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(served >= 2, "served {served}");
    assert!(limited >= 1, "limited {limited}");
    assert!(score_of(&b_handle, a.id()).await.unwrap() < 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_key_persists_across_restarts_and_corruption_is_an_error() {
    init_logs();
    let dir = TempDir::new().unwrap();
    let cfg = config(&dir, "a", vec![]);
    let key_path = cfg.node_key_path.clone();
    let first = Node::start(cfg.clone()).await;
    let id = first.id();
    first.handle.shutdown();
    wait_until(|| {
        let running = first.handle.is_running();
        async move { !running }
    })
    .await;
    let second = Node::start(cfg.clone()).await;
    assert_eq!(second.id(), id);
    second.handle.shutdown();

    std::fs::write(&key_path, b"not a key").unwrap();
    let err = Network::start(cfg.clone()).await.err().unwrap();
    assert!(matches!(err, NetworkError::CorruptNodeKey { .. }), "{err}");
    assert!(err.to_string().contains("corrupt"));

    // Bad bootnode addresses and chain ids are refused up front.
    let mut bad = config(&dir, "b", vec!["/ip4/127.0.0.1/tcp/1".parse().unwrap()]);
    let err = Network::start(bad.clone()).await.err().unwrap();
    assert!(matches!(err, NetworkError::InvalidBootnode(_)), "{err}");
    bad.bootnodes.clear();
    bad.chain_id = "a/b".into();
    let err = Network::start(bad).await.err().unwrap();
    assert!(matches!(err, NetworkError::InvalidConfig(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_publish_is_refused_locally() {
    init_logs();
    let dir = TempDir::new().unwrap();
    let mut cfg = config(&dir, "a", vec![]);
    cfg.max_message_size = 1024;
    let a = Node::start(cfg).await;
    let err = a
        .handle
        .publish_transaction(vec![0; 1025])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            NetworkError::MessageTooLarge {
                size: 1025,
                limit: 1024
            }
        ),
        "{err}"
    );
    // No peers yet: a clear error rather than a silent drop.
    let err = a.handle.publish_transaction(vec![0; 10]).await.unwrap_err();
    assert!(matches!(err, NetworkError::NoPeers), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_of_another_chain_are_dropped() {
    init_logs();
    let dir = TempDir::new().unwrap();
    let mut a = Node::start(config(&dir, "a", vec![])).await;
    let mut cfg = config(&dir, "x", vec![a.addr()]);
    cfg.chain_id = "otherchain".into();
    let x = Node::start(cfg).await;
    // The connection comes up, identify tells them apart, and it goes down again.
    let gone = a
        .next(|e| match e {
            Event::PeerDisconnected(p) => Some(p),
            _ => None,
        })
        .await;
    assert_eq!(gone, x.id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootnodes_are_redialled_when_all_peers_are_lost() {
    init_logs();
    let dir = TempDir::new().unwrap();
    let a_cfg = config(&dir, "a", vec![]);
    let a = Node::start(a_cfg.clone()).await;
    let a_addr = a.addr();
    let mut b = Node::start(config(&dir, "b", vec![a_addr.clone()])).await;
    wait_peer_count(&b.handle, 1).await;
    // A goes away...
    a.handle.shutdown();
    b.next(|e| matches!(e, Event::PeerDisconnected(_)).then_some(()))
        .await;
    // ...and comes back on the same address with the same key.
    let mut a_cfg = a_cfg;
    let mut listen = a_addr.clone();
    listen.pop(); // the /p2p/<id> suffix
    a_cfg.listen_addr = listen;
    wait_until(|| {
        let running = a.handle.is_running();
        async move { !running }
    })
    .await;
    let a2 = Node::start(a_cfg).await;
    assert_eq!(a2.id(), a.id());
    let back = b
        .next(|e| match e {
            Event::PeerConnected(p) => Some(p),
            _ => None,
        })
        .await;
    assert_eq!(back, a.id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_gossip_is_dropped_and_penalised() {
    init_logs();
    let dir = TempDir::new().unwrap();
    let mut cfg = config(&dir, "b", vec![]);
    cfg.max_message_size = 1024;
    let mut b = Node::start(cfg).await;
    let mut cfg = config(&dir, "a", vec![b.addr()]);
    cfg.max_message_size = 16 * 1024;
    let a = Node::start(cfg).await;
    b.wait_gossip_peer(a.id()).await;
    a.wait_gossip_peer(b.id()).await;
    a.handle.publish_transaction(vec![7; 4096]).await.unwrap();
    let (handle, a_id) = (b.handle.clone(), a.id());
    wait_until(move || {
        let handle = handle.clone();
        async move { score_of(&handle, a_id).await.is_some_and(|s| s < -40.0) }
    })
    .await;
    b.no_gossip().await;
}

type ChunkResponder = oneshot::Sender<ModelChunkResponse>;

fn chunk(len: u32) -> ModelChunkRequest {
    ModelChunkRequest {
        model: [7; 32],
        offset: 1 << 33,
        len,
    }
}

/// Sends `request` from `handle` to `peer` in the background.
fn request_chunk(
    handle: &NetworkHandle,
    peer: PeerId,
    request: ModelChunkRequest,
) -> tokio::task::JoinHandle<Result<ModelChunkResponse, NetworkError>> {
    let handle = handle.clone();
    tokio::spawn(async move { handle.request_model_chunk(peer, request).await })
}

impl Node {
    /// The next model-chunk request the node is asked to answer.
    async fn next_chunk_request(&mut self) -> (PeerId, ModelChunkRequest, ChunkResponder) {
        self.next(|e| match e {
            Event::ModelChunkRequest {
                peer,
                request,
                respond,
            } => Some((peer, request, respond)),
            _ => None,
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_chunk_request_roundtrip() {
    init_logs();
    let dir = TempDir::new().unwrap();
    let mut b = Node::start(config(&dir, "b", vec![])).await;
    let a = Node::start(config(&dir, "a", vec![b.addr()])).await;
    wait_peer_count(&a.handle, 1).await;
    let b_id = b.id();
    // The connected peers are the candidates to ask.
    let peers = a.handle.peers().await.unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].peer_id, b_id);

    // The node sees the request and answers with opaque bytes.
    let request = request_chunk(&a.handle, b_id, chunk(5));
    let (peer, req, respond) = b.next_chunk_request().await;
    assert_eq!(peer, a.id());
    assert_eq!(req, chunk(5));
    respond
        .send(ModelChunkResponse::Data(b"chunk+proof".to_vec()))
        .unwrap();
    assert_eq!(
        request.await.unwrap().unwrap(),
        ModelChunkResponse::Data(b"chunk+proof".to_vec())
    );

    // NotFound travels back as it is.
    let request = request_chunk(&a.handle, b_id, chunk(1));
    let (_, _, respond) = b.next_chunk_request().await;
    respond.send(ModelChunkResponse::NotFound).unwrap();
    assert_eq!(
        request.await.unwrap().unwrap(),
        ModelChunkResponse::NotFound
    );

    // A full-size chunk with an eighth of proof fits the response limit.
    let full = vec![0xab; (MAX_MODEL_CHUNK + MAX_MODEL_CHUNK / 8) as usize];
    let request = request_chunk(&a.handle, b_id, chunk(MAX_MODEL_CHUNK));
    let (_, req, respond) = b.next_chunk_request().await;
    assert_eq!(req.len, MAX_MODEL_CHUNK);
    respond
        .send(ModelChunkResponse::Data(full.clone()))
        .unwrap();
    assert_eq!(
        request.await.unwrap().unwrap(),
        ModelChunkResponse::Data(full)
    );

    // Block sync still works alongside, on its own protocol.
    let request = {
        let handle = a.handle.clone();
        tokio::spawn(async move {
            handle
                .request_blocks(b_id, BlockRequest { from: 0, max: 1 })
                .await
        })
    };
    let respond = b
        .next(|e| match e {
            Event::BlockRequest { respond, .. } => Some(respond),
            _ => None,
        })
        .await;
    respond.send(BlockResponse::default()).unwrap();
    assert!(request.await.unwrap().unwrap().blocks.is_empty());
    assert_eq!(score_of(&a.handle, b_id).await.unwrap(), 0.0);
    assert_eq!(score_of(&b.handle, a.id()).await.unwrap(), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_chunk_requests_over_the_cap_are_refused_without_asking_the_node() {
    init_logs();
    let dir = TempDir::new().unwrap();
    let mut b = Node::start(config(&dir, "b", vec![])).await;
    let a = Node::start(config(&dir, "a", vec![b.addr()])).await;
    wait_peer_count(&a.handle, 1).await;
    let b_id = b.id();

    for len in [MAX_MODEL_CHUNK + 1, u32::MAX] {
        let response = a
            .handle
            .request_model_chunk(b_id, chunk(len))
            .await
            .unwrap();
        assert_eq!(
            response,
            ModelChunkResponse::Refused(RefusalReason::TooLarge)
        );
    }
    // The first request the node sees is the next, valid one.
    let request = request_chunk(&a.handle, b_id, chunk(MAX_MODEL_CHUNK));
    let (_, req, respond) = b.next_chunk_request().await;
    assert_eq!(req.len, MAX_MODEL_CHUNK);
    respond.send(ModelChunkResponse::NotFound).unwrap();
    assert_eq!(
        request.await.unwrap().unwrap(),
        ModelChunkResponse::NotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_model_chunk_requests_are_refused_as_unavailable() {
    init_logs();
    let dir = TempDir::new().unwrap();
    // B's node gets one second to answer; A waits five.
    let mut cfg = config(&dir, "b", vec![]);
    cfg.request_timeout = Duration::from_secs(1);
    let mut b = Node::start(cfg).await;
    let a = Node::start(config(&dir, "a", vec![b.addr()])).await;
    wait_peer_count(&a.handle, 1).await;
    let b_id = b.id();
    let unavailable = ModelChunkResponse::Refused(RefusalReason::Unavailable);

    // The node holds on to the responder and never answers.
    let request = request_chunk(&a.handle, b_id, chunk(10));
    let (_, _, respond) = b.next_chunk_request().await;
    assert_eq!(request.await.unwrap().unwrap(), unavailable);
    // Answering after the deadline changes nothing.
    assert!(respond.send(ModelChunkResponse::NotFound).is_err());

    // The node drops the responder.
    let request = request_chunk(&a.handle, b_id, chunk(10));
    let (_, _, respond) = b.next_chunk_request().await;
    drop(respond);
    assert_eq!(request.await.unwrap().unwrap(), unavailable);

    // An answer over the response limit is not sent.
    let request = request_chunk(&a.handle, b_id, chunk(10));
    let (_, _, respond) = b.next_chunk_request().await;
    let huge = vec![0; menara_network::MAX_MODEL_RESPONSE_SIZE];
    respond.send(ModelChunkResponse::Data(huge)).unwrap();
    assert_eq!(request.await.unwrap().unwrap(), unavailable);
    // Nobody was penalised for any of this.
    assert_eq!(score_of(&a.handle, b_id).await.unwrap(), 0.0);
    assert_eq!(score_of(&b.handle, a.id()).await.unwrap(), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_chunk_quota_is_enforced_per_peer_and_in_all() {
    init_logs();
    let dir = TempDir::new().unwrap();
    let mut cfg = config(&dir, "b", vec![]);
    cfg.max_model_requests_per_peer = 2;
    cfg.max_model_requests = 3;
    cfg.discovery = false;
    let mut b = Node::start(cfg).await;
    let b_id = b.id();
    let mut cfg = config(&dir, "a", vec![b.addr()]);
    cfg.discovery = false;
    let a = Node::start(cfg).await;
    let mut cfg = config(&dir, "c", vec![b.addr()]);
    cfg.discovery = false;
    let c = Node::start(cfg).await;
    wait_peer_count(&b.handle, 2).await;
    wait_peer_count(&a.handle, 1).await;
    wait_peer_count(&c.handle, 1).await;

    // A's third concurrent request is over its share.
    let from_a: Vec<_> = (0..3)
        .map(|i| request_chunk(&a.handle, b_id, chunk(i)))
        .collect();
    let mut held = Vec::new();
    for _ in 0..2 {
        let (peer, _, respond) = b.next_chunk_request().await;
        assert_eq!(peer, a.id());
        held.push(respond);
    }
    wait_until(|| {
        let done = from_a.iter().filter(|r| r.is_finished()).count();
        async move { done == 1 }
    })
    .await;
    assert!(score_of(&b.handle, a.id()).await.unwrap() < 0.0);

    // C's second is over the global share: refused as Busy, without penalty.
    let from_c: Vec<_> = (0..2)
        .map(|i| request_chunk(&c.handle, b_id, chunk(i)))
        .collect();
    let (peer, _, respond) = b.next_chunk_request().await;
    assert_eq!(peer, c.id());
    held.push(respond);
    wait_until(|| {
        let done = from_c.iter().filter(|r| r.is_finished()).count();
        async move { done == 1 }
    })
    .await;
    assert_eq!(score_of(&b.handle, c.id()).await.unwrap(), 0.0);

    for respond in held {
        respond
            .send(ModelChunkResponse::Data(vec![1, 2, 3]))
            .unwrap();
    }
    let mut outcomes = Vec::new();
    for request in from_a.into_iter().chain(from_c) {
        outcomes.push(request.await.unwrap().unwrap());
    }
    let data = ModelChunkResponse::Data(vec![1, 2, 3]);
    let count = |r: &ModelChunkResponse| outcomes.iter().filter(|o| *o == r).count();
    assert_eq!(count(&data), 3);
    assert_eq!(
        count(&ModelChunkResponse::Refused(RefusalReason::RateLimited)),
        1
    );
    assert_eq!(count(&ModelChunkResponse::Refused(RefusalReason::Busy)), 1);

    // Answered requests free their slots.
    let request = request_chunk(&a.handle, b_id, chunk(9));
    let (_, _, respond) = b.next_chunk_request().await;
    respond.send(ModelChunkResponse::NotFound).unwrap();
    assert_eq!(
        request.await.unwrap().unwrap(),
        ModelChunkResponse::NotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_model_chunks_get_the_peer_banned() {
    init_logs();
    let dir = TempDir::new().unwrap();
    let b = Node::start(config(&dir, "b", vec![])).await;
    let mut a = Node::start(config(&dir, "a", vec![b.addr()])).await;
    wait_peer_count(&a.handle, 1).await;
    let b_id = b.id();

    // Two bad chunks leave B connected, close to the threshold...
    for _ in 0..2 {
        a.handle.report(b_id, Misbehaviour::BadModelChunk).unwrap();
    }
    let score = score_of(&a.handle, b_id).await.unwrap();
    assert!((-100.0..-90.0).contains(&score), "score {score}");
    // ...the third bans it.
    a.handle.report(b_id, Misbehaviour::BadModelChunk).unwrap();
    let gone = a
        .next(|e| match e {
            Event::PeerDisconnected(p) => Some(p),
            _ => None,
        })
        .await;
    assert_eq!(gone, b_id);
    let err = a
        .handle
        .request_model_chunk(b_id, chunk(1))
        .await
        .unwrap_err();
    assert!(matches!(err, NetworkError::RequestFailed { .. }), "{err}");
}
