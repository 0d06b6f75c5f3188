use std::{path::PathBuf, time::Duration};

use libp2p::Multiaddr;

use crate::NetworkError;

/// Network settings. [`NetworkConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// Where to listen (default `/ip4/0.0.0.0/tcp/30333`; port 0 picks a free port).
    pub listen_addr: Multiaddr,
    /// Peers to dial at start and whenever every peer is lost; each must end in
    /// `/p2p/<peer id>`.
    pub bootnodes: Vec<Multiaddr>,
    /// Names the gossip topics and protocols (`/menara/<chain_id>/...`); peers of another
    /// chain are disconnected.
    pub chain_id: String,
    /// The ed25519 node key: created on first start, loaded afterwards.
    pub node_key_path: PathBuf,
    /// Largest gossip message payload (default 10 MiB).
    pub max_message_size: usize,
    /// Largest sync response frame read or written (default 16 MiB).
    pub max_response_size: usize,
    /// Most blocks served for one request (default 128).
    pub max_blocks_per_request: u32,
    /// Sync requests a peer may make per second (token bucket with a burst of the same size;
    /// default 10). Requests over the quota are refused and penalise the peer.
    pub requests_per_second: u32,
    /// Model-chunk requests from one peer the node may be working on at once (default 8); one
    /// more is refused with `RateLimited` and penalises the peer. Separate from the sync quota.
    pub max_model_requests_per_peer: usize,
    /// Model-chunk requests from all peers the node may be working on at once (default 64);
    /// one more is refused with `Busy`.
    pub max_model_requests: usize,
    /// How long an outbound request may take, and how long an inbound one may stay open
    /// (default 10 s). The node has three quarters of it to answer an inbound request (the
    /// rest is left for sending the answer); after that the request is refused as
    /// `Unavailable`.
    pub request_timeout: Duration,
    /// Most connected peers (default 50); bootnodes are always dialled.
    pub max_peers: usize,
    /// Kademlia discovery (default on). Off, the node only talks to its bootnodes and to
    /// peers that dial it.
    pub discovery: bool,
    /// How long a peer whose score fell below the ban threshold is kept out (default 30 min).
    pub ban_duration: Duration,
    /// Period of the housekeeping tick: bans expire, bootnodes are redialled when no peer is
    /// left, discovery looks for more peers (default 5 s).
    pub maintenance_interval: Duration,
    /// Capacity of the event channel to the node (default 4096). When full, gossip is dropped
    /// (without penalty) and sync and model-chunk requests are answered with `Busy`.
    pub event_buffer: usize,
}

impl NetworkConfig {
    pub const DEFAULT_PORT: u16 = 30333;

    pub fn new(chain_id: impl Into<String>, node_key_path: impl Into<PathBuf>) -> Self {
        let listen_addr = Multiaddr::empty()
            .with(libp2p::multiaddr::Protocol::Ip4([0, 0, 0, 0].into()))
            .with(libp2p::multiaddr::Protocol::Tcp(Self::DEFAULT_PORT));
        NetworkConfig {
            listen_addr,
            bootnodes: Vec::new(),
            chain_id: chain_id.into(),
            node_key_path: node_key_path.into(),
            max_message_size: 10 * 1024 * 1024,
            max_response_size: 16 * 1024 * 1024,
            max_blocks_per_request: 128,
            requests_per_second: 10,
            max_model_requests_per_peer: 8,
            max_model_requests: 64,
            request_timeout: Duration::from_secs(10),
            max_peers: 50,
            discovery: true,
            ban_duration: Duration::from_secs(30 * 60),
            maintenance_interval: Duration::from_secs(5),
            event_buffer: 4096,
        }
    }

    pub(crate) fn check(&self) -> Result<(), NetworkError> {
        let bad = |what: &str| Err(NetworkError::InvalidConfig(what.to_string()));
        if self.chain_id.is_empty()
            || !self
                .chain_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return bad("chain_id must be non-empty ASCII letters, digits, '-', '_' or '.'");
        }
        if self.max_message_size == 0 || self.max_response_size < 64 {
            return bad("message size limits are too small");
        }
        if self.max_peers == 0 || self.event_buffer == 0 {
            return bad("max_peers and event_buffer must be positive");
        }
        if self.max_model_requests_per_peer == 0 || self.max_model_requests == 0 {
            return bad("model request quotas must be positive");
        }
        if self.request_timeout.is_zero() || self.maintenance_interval.is_zero() {
            return bad("timeouts and intervals must be positive");
        }
        Ok(())
    }

    pub(crate) fn tx_topic(&self) -> String {
        format!("/menara/{}/tx/1", self.chain_id)
    }

    pub(crate) fn consensus_topic(&self) -> String {
        format!("/menara/{}/consensus/1", self.chain_id)
    }

    pub(crate) fn sync_protocol(&self) -> String {
        format!("/menara/{}/sync/1", self.chain_id)
    }

    pub(crate) fn models_protocol(&self) -> String {
        format!("/menara/{}/models/1", self.chain_id)
    }

    pub(crate) fn kad_protocol(&self) -> String {
        format!("/menara/{}/kad/1", self.chain_id)
    }

    pub(crate) fn identify_protocol(&self) -> String {
        format!("/menara/{}/1", self.chain_id)
    }
}
