//! Peer-to-peer networking for Menara validators and full nodes.
//!
//! One libp2p swarm (TCP, noise, yamux) carrying:
//! - **gossipsub** with manual validation on two per-chain topics,
//!   `/menara/<chain_id>/tx/1` and `/menara/<chain_id>/consensus/1`: a received message is
//!   handed to the node as an [`Event`] and is forwarded to other peers only after the node
//!   calls [`NetworkHandle::validate`] with [`Validation::Accept`];
//! - **request-response** on `/menara/<chain_id>/sync/1` for block sync (length-prefixed SCALE
//!   frames with hard size limits, per-peer request quotas);
//! - **request-response** on `/menara/<chain_id>/models/1` for chunks of model files: a
//!   [`ModelChunkRequest`] names a model by its 32-byte id and a byte range of at most
//!   [`MAX_MODEL_CHUNK`]; the answer is opaque to the network (the node puts the bytes and
//!   their proof in [`ModelChunkResponse::Data`] and verifies what it receives, reporting a bad
//!   chunk with [`Misbehaviour::BadModelChunk`]). Same framing as sync, a response limit of
//!   [`MAX_MODEL_RESPONSE_SIZE`], and a quota of its own: a bounded number of chunk requests
//!   in flight per peer ([`NetworkConfig::max_model_requests_per_peer`]) and in all
//!   ([`NetworkConfig::max_model_requests`]);
//! - **Kademlia** discovery (`/menara/<chain_id>/kad/1`) seeded by bootnodes, and **identify**
//!   (peers of another chain are disconnected);
//! - peer scores: misbehaviour lowers a peer's score, and below [`BAN_THRESHOLD`] the peer is
//!   disconnected and banned for [`NetworkConfig::ban_duration`].
//!
//! [`Network::start`] spawns the swarm on the current tokio runtime and returns a cloneable
//! [`NetworkHandle`] and the receiver of [`Event`]s. The service stops when every handle has
//! been dropped or [`NetworkHandle::shutdown`] is called.

mod codec;
mod config;
mod error;
mod key;
mod peers;
mod worker;

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc, RwLock,
};

pub use libp2p::{gossipsub::MessageId, multiaddr, Multiaddr, PeerId};
use parity_scale_codec::{Decode, Encode};
use tokio::sync::{mpsc, oneshot};

pub use codec::{MAX_MODEL_CHUNK, MAX_MODEL_RESPONSE_SIZE, MAX_REQUEST_SIZE};
pub use config::NetworkConfig;
pub use error::NetworkError;
pub use key::load_or_create_node_key;
pub use peers::{Misbehaviour, BAN_THRESHOLD};

/// Ask a peer for up to `max` consecutive blocks starting at height `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct BlockRequest {
    pub from: u64,
    pub max: u32,
}

/// Encoded blocks, in height order, starting at the requested height. May hold fewer blocks
/// than asked for (the responder's limits, or the end of its chain).
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode)]
pub struct BlockResponse {
    pub blocks: Vec<Vec<u8>>,
    /// The responder's last final height, so the requester knows how far it has to go.
    pub head: u64,
}

/// Ask a peer for `len` bytes of model `model` starting at byte `offset`. `len` may be at most
/// [`MAX_MODEL_CHUNK`]; a peer refuses a larger request with [`RefusalReason::TooLarge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct ModelChunkRequest {
    /// The model's id (its content root); the network does not interpret it.
    pub model: [u8; 32],
    pub offset: u64,
    pub len: u32,
}

/// The answer to a [`ModelChunkRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum ModelChunkResponse {
    /// The requested range with whatever the node adds to prove it (opaque to the network).
    /// Its encoding is bounded by [`MAX_MODEL_RESPONSE_SIZE`].
    Data(Vec<u8>),
    /// The responder does not have the model, or not that range of it.
    NotFound,
    /// The responder would not serve the request.
    Refused(RefusalReason),
}

/// Why a peer refused a sync or model-chunk request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum RefusalReason {
    /// The requester exceeded its request quota.
    RateLimited,
    /// The responder is overloaded.
    Busy,
    /// The responder's node did not answer (in time).
    Unavailable,
    /// The request asks for more than the protocol allows in one response (a model chunk
    /// over [`MAX_MODEL_CHUNK`]).
    TooLarge,
}

/// The node's verdict on a gossip message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// Valid: deliver it and forward it to other peers.
    Accept,
    /// Invalid: drop it and penalise the peer that sent it.
    Reject,
    /// Not useful (e.g. already known, stale): drop it without penalty.
    Ignore,
}

/// What the network tells the node.
#[derive(Debug)]
pub enum Event {
    /// A transaction gossiped by `from`; answer with [`NetworkHandle::validate`].
    Transaction {
        from: PeerId,
        bytes: Vec<u8>,
        msg_id: MessageId,
    },
    /// A consensus message gossiped by `from`; answer with [`NetworkHandle::validate`].
    Consensus {
        from: PeerId,
        bytes: Vec<u8>,
        msg_id: MessageId,
    },
    /// A peer asks for blocks; send the answer on `respond` (dropping it refuses the request).
    /// `request.max` is already capped at [`NetworkConfig::max_blocks_per_request`].
    BlockRequest {
        peer: PeerId,
        request: BlockRequest,
        respond: oneshot::Sender<BlockResponse>,
    },
    /// A peer asks for a chunk of a model file; send the answer on `respond` within three
    /// quarters of [`NetworkConfig::request_timeout`] (dropping it, or answering late, refuses
    /// the request with [`RefusalReason::Unavailable`]). `request.len` is at most [`MAX_MODEL_CHUNK`], and
    /// a `Data` answer whose encoding exceeds [`MAX_MODEL_RESPONSE_SIZE`] is not sent (the
    /// peer gets `Unavailable`).
    ModelChunkRequest {
        peer: PeerId,
        request: ModelChunkRequest,
        respond: oneshot::Sender<ModelChunkResponse>,
    },
    PeerConnected(PeerId),
    PeerDisconnected(PeerId),
}

/// The stream of [`Event`]s.
pub type NetworkEvents = mpsc::Receiver<Event>;

/// A connected peer as the network sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerInfo {
    pub peer_id: PeerId,
    /// Addresses we dialled it on and the listen addresses it announced.
    pub addresses: Vec<Multiaddr>,
    /// Its current score (0 is neutral; negative after misbehaviour).
    pub score: f64,
    /// The gossip topics it subscribed to.
    pub topics: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GossipKind {
    Transaction,
    Consensus,
}

pub(crate) enum Command {
    Publish {
        kind: GossipKind,
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<MessageId, NetworkError>>,
    },
    Validate {
        msg_id: MessageId,
        from: PeerId,
        result: Validation,
    },
    Report {
        peer: PeerId,
        misbehaviour: Misbehaviour,
    },
    RequestBlocks {
        peer: PeerId,
        request: BlockRequest,
        reply: oneshot::Sender<Result<BlockResponse, NetworkError>>,
    },
    RequestModelChunk {
        peer: PeerId,
        request: ModelChunkRequest,
        reply: oneshot::Sender<Result<ModelChunkResponse, NetworkError>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    Dial {
        address: Multiaddr,
    },
    Shutdown,
}

pub(crate) struct Shared {
    pub(crate) local_peer_id: PeerId,
    pub(crate) listen_addrs: RwLock<Vec<Multiaddr>>,
    pub(crate) peer_count: AtomicUsize,
}

/// A cloneable handle on the running network service.
#[derive(Clone)]
pub struct NetworkHandle {
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<Shared>,
    max_message_size: usize,
    request_timeout: std::time::Duration,
}

/// Entry point: [`Network::start`].
pub struct Network;

impl Network {
    /// Loads (or creates) the node key, binds the listen address, dials the bootnodes and
    /// spawns the swarm on the current tokio runtime.
    pub async fn start(
        config: NetworkConfig,
    ) -> Result<(NetworkHandle, NetworkEvents), NetworkError> {
        worker::start(config).await
    }
}

impl NetworkHandle {
    pub fn local_peer_id(&self) -> PeerId {
        self.shared.local_peer_id
    }

    /// The addresses the node listens on (the real port when the config asked for port 0),
    /// each ending in `/p2p/<local peer id>`, ready to be used as a bootnode address.
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        let addrs = match self.shared.listen_addrs.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        addrs
            .into_iter()
            .map(|a| a.with(libp2p::multiaddr::Protocol::P2p(self.shared.local_peer_id)))
            .collect()
    }

    /// Number of connected peers.
    pub fn peer_count(&self) -> usize {
        self.shared.peer_count.load(Ordering::Relaxed)
    }

    /// Gossip an encoded transaction on the chain's transaction topic.
    pub async fn publish_transaction(&self, bytes: Vec<u8>) -> Result<MessageId, NetworkError> {
        self.publish(GossipKind::Transaction, bytes).await
    }

    /// Gossip an encoded consensus message on the chain's consensus topic.
    pub async fn publish_consensus(&self, bytes: Vec<u8>) -> Result<MessageId, NetworkError> {
        self.publish(GossipKind::Consensus, bytes).await
    }

    async fn publish(&self, kind: GossipKind, bytes: Vec<u8>) -> Result<MessageId, NetworkError> {
        if bytes.len() > self.max_message_size {
            return Err(NetworkError::MessageTooLarge {
                size: bytes.len(),
                limit: self.max_message_size,
            });
        }
        let (reply, rx) = oneshot::channel();
        self.send(Command::Publish { kind, bytes, reply })?;
        rx.await.map_err(|_| NetworkError::ServiceStopped)?
    }

    /// The node's verdict on a gossip message it received as [`Event::Transaction`] or
    /// [`Event::Consensus`]: only an accepted message is forwarded; a rejected one penalises
    /// `from`. Call it once per message.
    pub fn validate(
        &self,
        msg_id: MessageId,
        from: PeerId,
        result: Validation,
    ) -> Result<(), NetworkError> {
        self.send(Command::Validate {
            msg_id,
            from,
            result,
        })
    }

    /// Penalise a peer (e.g. it served an invalid block, or a model chunk that failed
    /// verification: [`Misbehaviour::BadModelChunk`]). Below [`BAN_THRESHOLD`] it is
    /// disconnected and banned for a while.
    pub fn report(&self, peer: PeerId, misbehaviour: Misbehaviour) -> Result<(), NetworkError> {
        self.send(Command::Report { peer, misbehaviour })
    }

    /// Ask `peer` for blocks. Fails after the configured request timeout.
    pub async fn request_blocks(
        &self,
        peer: PeerId,
        request: BlockRequest,
    ) -> Result<BlockResponse, NetworkError> {
        self.request(peer, |reply| Command::RequestBlocks {
            peer,
            request,
            reply,
        })
        .await
    }

    /// Ask `peer` for a chunk of a model file. The peer's answer is returned as it is,
    /// `NotFound` and `Refused` included; a `Data` answer is unverified (verify it, and
    /// [`report`](Self::report) [`Misbehaviour::BadModelChunk`] if it fails). Fails after the
    /// configured request timeout. Choose among [`peers`](Self::peers).
    pub async fn request_model_chunk(
        &self,
        peer: PeerId,
        request: ModelChunkRequest,
    ) -> Result<ModelChunkResponse, NetworkError> {
        self.request(peer, |reply| Command::RequestModelChunk {
            peer,
            request,
            reply,
        })
        .await
    }

    async fn request<T>(
        &self,
        peer: PeerId,
        command: impl FnOnce(oneshot::Sender<Result<T, NetworkError>>) -> Command,
    ) -> Result<T, NetworkError> {
        let (reply, rx) = oneshot::channel();
        self.send(command(reply))?;
        // The request-response behaviour has its own timeout; this one is a safety net.
        let limit = self.request_timeout + std::time::Duration::from_secs(5);
        match tokio::time::timeout(limit, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(NetworkError::ServiceStopped),
            Err(_) => Err(NetworkError::Timeout { peer }),
        }
    }

    /// The connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetworkError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Peers { reply })?;
        rx.await.map_err(|_| NetworkError::ServiceStopped)
    }

    /// Dial an address (which should end in `/p2p/<peer id>`).
    pub fn dial(&self, address: Multiaddr) -> Result<(), NetworkError> {
        self.send(Command::Dial { address })
    }

    /// Stop the service: connections are closed and the listener is released.
    pub fn shutdown(&self) {
        let _ = self.commands.send(Command::Shutdown);
    }

    /// Whether the service is still running.
    pub fn is_running(&self) -> bool {
        !self.commands.is_closed()
    }

    fn send(&self, command: Command) -> Result<(), NetworkError> {
        self.commands
            .send(command)
            .map_err(|_| NetworkError::ServiceStopped)
    }
}
