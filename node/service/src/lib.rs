//! Wires the node together: database, executor, transaction pool, block authoring,
//! JSON-RPC, metrics and the informant.
//!
//! [`Client`] owns the chain (genesis, block building, block import, queries) and is
//! what RPC talks to through [`menara_rpc::NodeApi`]. [`run`] starts everything and
//! waits for Ctrl-C or SIGTERM. Every block is written in one atomic batch with a
//! synced write-ahead log, so a `kill -9` loses nothing that was reported final.
mod client;
pub mod driver;
mod genesis;
mod metrics;
pub mod models;
pub mod provider;
pub mod worker;

pub use client::{unix_millis, Client, ClientError, ExecutedBlock, ImportError, NetworkStatus};
pub use genesis::{build_genesis_storage, genesis_block};
pub use metrics::Metrics;

use driver::{Driver, DriverConfig, Input};
use menara_chain_spec::ChainSpec;
use menara_crypto::BlsSecretKey;
use menara_network::{Event as NetEvent, Network, NetworkConfig, NetworkHandle, Validation};
use menara_primitives::AccountId;
use menara_rpc::{PeerSummary, RpcConfig, RpcMethods};
use menara_txpool::PoolConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A validator's keys: the account that signs its transactions (evidence reports) and the
/// BLS key it votes with.
pub struct ValidatorKeys {
    /// Account key (ed25519).
    pub account: ed25519_dalek::SigningKey,
    /// Consensus key (BLS12-381).
    pub bls: BlsSecretKey,
}

impl ValidatorKeys {
    /// The account id.
    pub fn account_id(&self) -> AccountId {
        AccountId(self.account.verifying_key().to_bytes())
    }
}

impl std::fmt::Debug for ValidatorKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ValidatorKeys({})", self.account_id())
    }
}

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The chain.
    pub chain_spec: ChainSpec,
    /// Where the chain's database lives (`<base>/chains/<id>`).
    pub chain_path: PathBuf,
    /// Node name for `system_name` and logs.
    pub name: String,
    /// This node's validator keys, when it is a validator.
    pub validator: Option<Arc<ValidatorKeys>>,
    /// Target time between blocks.
    pub block_time: Duration,
    /// JSON-RPC server (None: off).
    pub rpc: Option<RpcConfig>,
    /// Prometheus endpoint (None: off).
    pub prometheus: Option<SocketAddr>,
    /// Peer-to-peer networking (None: a lone node).
    pub network: Option<NetworkConfig>,
    /// Pool limits.
    pub pool: PoolConfig,
    /// Most transactions per block.
    pub max_block_transactions: usize,
    /// Most bytes of transactions per block.
    pub max_block_bytes: usize,
    /// Test-only: sign conflicting prevotes (to exercise slashing end to end).
    pub test_equivocate: bool,
    /// Test-only: corrupt every model chunk served to peers (to exercise their checks).
    pub test_corrupt_model_chunks: bool,
    /// Run the provider workers for this account key (`--provider`): availability
    /// challenges and inference jobs.
    pub provider: Option<ed25519_dalek::SigningKey>,
    /// Run the verifier worker for this account key (`--verifier`); may be the provider's.
    pub verifier: Option<ed25519_dalek::SigningKey>,
    /// Test-only: per thousand of inference jobs the provider commits wrong on purpose
    /// (to exercise disputes end to end).
    pub test_cheat_per_mill: u32,
}

impl NodeConfig {
    /// Defaults for `chain_spec` stored under `chain_path`.
    pub fn new(chain_spec: ChainSpec, chain_path: PathBuf) -> Self {
        NodeConfig {
            chain_spec,
            chain_path,
            name: "menara-node".into(),
            validator: None,
            block_time: Duration::from_millis(1000),
            rpc: Some(RpcConfig {
                methods: RpcMethods::Auto,
                ..RpcConfig::default()
            }),
            prometheus: None,
            network: None,
            pool: PoolConfig::default(),
            max_block_transactions: 10_000,
            max_block_bytes: 4 * 1024 * 1024,
            test_equivocate: false,
            test_corrupt_model_chunks: false,
            provider: None,
            verifier: None,
            test_cheat_per_mill: 0,
        }
    }

    /// Where the node key lives.
    pub fn node_key_path(&self) -> PathBuf {
        self.chain_path.join("network").join("secret_ed25519")
    }

    /// Where the consensus safety record lives.
    pub fn safety_path(&self) -> PathBuf {
        self.chain_path.join("consensus").join("safety_record")
    }
}

/// Runs a node until Ctrl-C or SIGTERM.
pub async fn run(config: NodeConfig) -> anyhow_like::Result<()> {
    let metrics = Arc::new(Metrics::new());
    let client = Client::open(&config, metrics.clone())?;
    let (best, best_hash) = client.best();
    tracing::info!(target: "menara", "chain {} ({}), genesis {}", config.chain_spec.name, config.chain_spec.id, client.genesis_hash());
    tracing::info!(target: "menara", "database {}", config.chain_path.display());
    tracing::info!(target: "menara", "best block #{best} ({best_hash})");

    let rpc = match &config.rpc {
        Some(rpc_config) => {
            let handle = menara_rpc::start_server(
                rpc_config.clone(),
                client.clone() as Arc<dyn menara_rpc::NodeApi>,
            )
            .await
            .map_err(|e| {
                anyhow_like::Error(format!(
                    "cannot start JSON-RPC server on {}: {e}",
                    rpc_config.addr
                ))
            })?;
            tracing::info!(target: "menara", "JSON-RPC (HTTP and WebSocket) on {}", handle.local_addr());
            Some(handle)
        }
        None => None,
    };
    if let Some(addr) = config.prometheus {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            anyhow_like::Error(format!("cannot start Prometheus endpoint on {addr}: {e}"))
        })?;
        tracing::info!(target: "menara", "Prometheus metrics on http://{}/metrics", listener.local_addr().map(|a| a.to_string()).unwrap_or_default());
        tokio::spawn(metrics::serve(listener, metrics.clone()));
    }
    tokio::spawn(informant(client.clone()));

    let (network, events) = match &config.network {
        Some(net_config) => {
            let (handle, events) = Network::start(net_config.clone())
                .await
                .map_err(|e| anyhow_like::Error(format!("cannot start networking: {e}")))?;
            for addr in handle.listen_addrs() {
                tracing::info!(target: "menara", "listening on {addr}");
            }
            // A validator set of one (the dev chain) needs nobody else.
            let alone = client.validators().map(|v| v.len() <= 1).unwrap_or(false);
            client.set_network_status(NetworkStatus {
                networking: !alone,
                ..NetworkStatus::default()
            });
            client.model_files().set_network(handle.clone());
            (Some(handle), Some(events))
        }
        None => (None, None),
    };

    if let Some(keys) = &config.validator {
        let who = keys.account_id();
        if client.is_validator(&who) {
            tracing::info!(target: "menara", "validating as {who}, one block every {} ms at most", config.block_time.as_millis());
        } else {
            tracing::warn!(target: "menara", "{who} is not in the validator set; following only");
        }
    }
    provider::start(client.clone(), &config).map_err(anyhow_like::Error)?;
    let (driver, inputs) = Driver::start(
        client.clone(),
        network.clone(),
        DriverConfig {
            keys: config.validator.clone(),
            block_time: config.block_time,
            safety_path: config.safety_path(),
            equivocate: config.test_equivocate,
        },
    )
    .map_err(anyhow_like::Error)?;
    let main_loop = tokio::spawn(drive(
        client.clone(),
        driver,
        inputs,
        network.clone(),
        events,
    ));

    shutdown_signal().await;
    tracing::info!(target: "menara", "shutting down");
    main_loop.abort();
    let _ = main_loop.await;
    if let Some(net) = &network {
        net.shutdown();
    }
    if let Some(rpc) = rpc {
        rpc.stop();
    }
    client.close();
    Ok(())
}

/// The node's main loop: network events, consensus inputs, transactions to gossip, and a
/// periodic refresh of the peer list.
async fn drive(
    client: Arc<Client>,
    mut driver: Driver,
    mut inputs: tokio::sync::mpsc::UnboundedReceiver<Input>,
    network: Option<NetworkHandle>,
    events: Option<menara_network::NetworkEvents>,
) {
    let (gossip_tx, mut gossip_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    if network.is_some() {
        client.set_gossip(gossip_tx);
    }
    let mut events = events;
    let mut peer_tick = tokio::time::interval(Duration::from_secs(1));
    driver.handle(menara_consensus::Event::Start);
    loop {
        tokio::select! {
            Some(input) = inputs.recv() => driver.on_input(input),
            Some(event) = next_event(&mut events) => {
                if let Some(net) = &network {
                    on_network_event(&client, &mut driver, net, event);
                }
            }
            Some(tx) = gossip_rx.recv() => {
                if let Some(net) = &network {
                    let net = net.clone();
                    tokio::spawn(async move {
                        if let Err(e) = net.publish_transaction(tx).await {
                            tracing::trace!(target: "menara", "gossip: {e}");
                        }
                    });
                }
            }
            _ = peer_tick.tick() => {
                if let Some(net) = &network {
                    if let Ok(peers) = net.peers().await {
                        let peers = peers
                            .into_iter()
                            .map(|p| PeerSummary {
                                peer_id: p.peer_id.to_string(),
                                addresses: p.addresses.iter().map(|a| a.to_string()).collect(),
                                score: p.score,
                            })
                            .collect();
                        client.set_peers(peers);
                    }
                }
            }
        }
    }
}

async fn next_event(events: &mut Option<menara_network::NetworkEvents>) -> Option<NetEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn on_network_event(
    client: &Arc<Client>,
    driver: &mut Driver,
    net: &NetworkHandle,
    event: NetEvent,
) {
    match event {
        NetEvent::Consensus {
            from,
            bytes,
            msg_id,
        } => {
            let verdict = driver.on_gossip(from, &bytes);
            let _ = net.validate(msg_id, from, verdict);
        }
        NetEvent::Transaction {
            from,
            bytes,
            msg_id,
        } => {
            let client = client.clone();
            let net = net.clone();
            tokio::task::spawn_blocking(move || {
                let verdict = match client.submit_gossiped(bytes) {
                    Ok(true) => Validation::Accept,
                    Ok(false) => Validation::Ignore,
                    Err(e) => {
                        tracing::debug!(target: "menara", "invalid transaction gossiped by {from}: {e}");
                        Validation::Reject
                    }
                };
                let _ = net.validate(msg_id, from, verdict);
            });
        }
        NetEvent::BlockRequest {
            peer,
            request,
            respond,
        } => {
            let client = client.clone();
            tokio::task::spawn_blocking(move || {
                let response = worker::serve_blocks(&client, request, 8 << 20);
                tracing::trace!(target: "menara", "serving {} blocks from #{} to {peer}", response.blocks.len(), request.from);
                let _ = respond.send(response);
            });
        }
        NetEvent::ModelChunkRequest {
            peer,
            request,
            respond,
        } => {
            let client = client.clone();
            tokio::task::spawn_blocking(move || {
                tracing::trace!(target: "menara", "serving model chunk at {} to {peer}", request.offset);
                let _ = respond.send(client.model_files().serve(request));
            });
        }
        NetEvent::PeerConnected(peer) => {
            tracing::debug!(target: "menara", "peer connected: {peer}");
            // Ask whether it is ahead: a node catches up even when no validator is voting.
            driver.sync_with_peers();
        }
        NetEvent::PeerDisconnected(peer) => {
            tracing::debug!(target: "menara", "peer disconnected: {peer}");
            driver.peer_disconnected(&peer);
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn informant(client: Arc<Client>) {
    const PERIOD: Duration = Duration::from_secs(5);
    let mut ticker = tokio::time::interval(PERIOD);
    ticker.tick().await;
    let mut last_applied = client.metrics().transactions_applied();
    let (mut last_committed, mut last_authored) = client.block_activity();
    loop {
        ticker.tick().await;
        let applied = client.metrics().transactions_applied();
        let tps = (applied.saturating_sub(last_applied)) as f64 / PERIOD.as_secs_f64();
        last_applied = applied;
        let (committed, authored) = client.block_activity();
        let state = informant_state(
            client.health_syncing(),
            committed.saturating_sub(last_committed),
            authored.saturating_sub(last_authored),
        );
        (last_committed, last_authored) = (committed, authored);
        let (best, best_hash) = client.best();
        let (finalized, finalized_hash) = client.finalized();
        let (ready, future) = client.pool_status();
        let peers = menara_rpc::NodeApi::health(&*client).peers;
        tracing::info!(
            target: "menara",
            "{state} best #{best} ({}), finalized #{finalized} ({}), {peers} peers, txpool {ready} ready / {future} future, {tps:.1} TPS",
            short(&best_hash),
            short(&finalized_hash),
        );
    }
}

/// What the informant says the node is doing, from what happened in the last period:
/// idle only when no block was committed at all.
fn informant_state(syncing: bool, committed: u64, authored: u64) -> &'static str {
    if syncing {
        "⚙️  syncing"
    } else if authored > 0 {
        "✍️  authoring"
    } else if committed > 0 {
        "📥 importing"
    } else {
        "💤 idle"
    }
}

fn short(h: &menara_primitives::H256) -> String {
    let s = h.to_string();
    format!("{}…{}", &s[..6], &s[s.len() - 4..])
}

/// A small error type for [`run`], so this library does not depend on `anyhow`.
pub mod anyhow_like {
    /// A message.
    #[derive(Debug)]
    pub struct Error(pub String);
    impl std::fmt::Display for Error {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for Error {}
    impl From<super::ClientError> for Error {
        fn from(e: super::ClientError) -> Self {
            Error(e.to_string())
        }
    }
    /// Result with [`Error`].
    pub type Result<T> = std::result::Result<T, Error>;
}
