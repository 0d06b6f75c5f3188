use std::path::PathBuf;

use libp2p::{Multiaddr, PeerId};

use crate::RefusalReason;

/// Everything that can go wrong in the network service.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("invalid network configuration: {0}")]
    InvalidConfig(String),
    #[error("bootnode address {0} must end in /p2p/<peer id>")]
    InvalidBootnode(Multiaddr),
    #[error("node key file {path}: {source}")]
    NodeKeyIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("node key file {path} is corrupt ({reason}); move it away to generate a new identity")]
    CorruptNodeKey { path: PathBuf, reason: String },
    #[error("cannot build the transport: {0}")]
    Transport(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    MessageTooLarge { size: usize, limit: usize },
    #[error("no connected peer is subscribed to the topic")]
    NoPeers,
    #[error("message was already published")]
    Duplicate,
    #[error("publish failed: {0}")]
    Publish(String),
    #[error("request to {peer} failed: {reason}")]
    RequestFailed { peer: PeerId, reason: String },
    #[error("request to {peer} timed out")]
    Timeout { peer: PeerId },
    #[error("peer {peer} refused the request: {reason:?}")]
    Refused { peer: PeerId, reason: RefusalReason },
    #[error("invalid response from {peer}: {reason}")]
    InvalidResponse { peer: PeerId, reason: String },
    #[error("the network service has stopped")]
    ServiceStopped,
}
