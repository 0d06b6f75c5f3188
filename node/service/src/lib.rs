//! Wires the node together: database, executor, transaction pool, block authoring,
//! JSON-RPC, metrics and the informant.
//!
//! [`Client`] owns the chain (genesis, block building, block import, queries) and is
//! what RPC talks to through [`menara_rpc::NodeApi`]. [`run`] starts everything and
//! waits for Ctrl-C or SIGTERM. Every block is written in one atomic batch with a
//! synced write-ahead log, so a `kill -9` loses nothing that was reported final.
mod client;
mod genesis;
mod metrics;

pub use client::{Client, ClientError, ImportError};
pub use genesis::{build_genesis_storage, genesis_block};
pub use metrics::Metrics;

use menara_chain_spec::ChainSpec;
use menara_primitives::AccountId;
use menara_rpc::{RpcConfig, RpcMethods};
use menara_txpool::PoolConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The chain.
    pub chain_spec: ChainSpec,
    /// Where the chain's database lives (`<base>/chains/<id>`).
    pub chain_path: PathBuf,
    /// Node name for `system_name` and logs.
    pub name: String,
    /// The key this node authors blocks with, when it is a validator.
    pub validator: Option<AccountId>,
    /// Target time between blocks.
    pub block_time: Duration,
    /// JSON-RPC server (None: off).
    pub rpc: Option<RpcConfig>,
    /// Prometheus endpoint (None: off).
    pub prometheus: Option<SocketAddr>,
    /// Pool limits.
    pub pool: PoolConfig,
    /// Most transactions per block.
    pub max_block_transactions: usize,
    /// Most bytes of transactions per block.
    pub max_block_bytes: usize,
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
            pool: PoolConfig::default(),
            max_block_transactions: 10_000,
            max_block_bytes: 4 * 1024 * 1024,
        }
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

    let authoring = match config.validator {
        Some(author) if client.is_validator(&author) => {
            tracing::info!(target: "menara", "authoring blocks as {author} every {} ms", config.block_time.as_millis());
            Some(tokio::spawn(author_blocks(
                client.clone(),
                author,
                config.block_time,
            )))
        }
        Some(author) => {
            tracing::warn!(target: "menara", "{author} is not a validator of this chain; following only");
            None
        }
        None => None,
    };

    shutdown_signal().await;
    tracing::info!(target: "menara", "shutting down");
    if let Some(task) = authoring {
        task.abort();
        let _ = task.await;
    }
    if let Some(rpc) = rpc {
        rpc.stop();
    }
    client.close();
    Ok(())
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

async fn author_blocks(client: Arc<Client>, author: AccountId, block_time: Duration) {
    let mut ticker = tokio::time::interval(block_time);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let c = client.clone();
        let deadline = block_time / 2;
        match tokio::task::spawn_blocking(move || c.author_block(author, deadline)).await {
            Ok(Ok(block)) => {
                tracing::debug!(target: "menara", "authored #{} with {} transactions", block.header.number, block.extrinsics.len())
            }
            Ok(Err(e)) => tracing::error!(target: "menara", "block authoring failed: {e}"),
            Err(e) => tracing::error!(target: "menara", "block authoring task failed: {e}"),
        }
    }
}

async fn informant(client: Arc<Client>) {
    const PERIOD: Duration = Duration::from_secs(5);
    let mut ticker = tokio::time::interval(PERIOD);
    let mut last_applied = client.metrics().transactions_applied();
    loop {
        ticker.tick().await;
        let applied = client.metrics().transactions_applied();
        let tps = (applied.saturating_sub(last_applied)) as f64 / PERIOD.as_secs_f64();
        last_applied = applied;
        let (best, best_hash) = client.best();
        let (finalized, finalized_hash) = client.finalized();
        let (ready, future) = client.pool_status();
        tracing::info!(
            target: "menara",
            "💤 best #{best} ({}), finalized #{finalized} ({}), 0 peers, txpool {ready} ready / {future} future, {tps:.1} TPS",
            short(&best_hash),
            short(&finalized_hash),
        );
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
