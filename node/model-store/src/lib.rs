//! # menara-model-store
//!
//! The node's content-addressed store of model files (gpu-verify's `.mvm` format), and the
//! verified chunk transfer used to fetch models from peers.
//!
//! * A model is identified by its *content id*, gpu-verify's content hash (a Merkle root
//!   over its tensors, [`content_id`]). The chain's registry also records its *file root*,
//!   the BLAKE3 hash of the whole file, and its size ([`ModelMeta`]).
//! * [`ModelStore`] keeps `<hex id>.mvm` files with their BLAKE3 outboards in one directory,
//!   writes atomically, and serves verified slices ([`ModelStore::read_slice`],
//!   [`ModelStore::serve`]).
//! * [`Download`] is the state machine of one download from several peers: it hands out
//!   ranges, verifies each answer against the file root before writing it ([`mod@slice`],
//!   BLAKE3 verified streaming via `bao-tree`, 16 KiB chunk groups), and on completion
//!   checks the content id and moves the file into the store.
//! * [`protocol`]: the SCALE-encoded request and response of the transfer protocol.
//! * [`fetch::fetch`]: drives a [`Download`] over several peers at once through the narrow
//!   [`fetch::ChunkSource`] trait (the node implements it over libp2p).
#![warn(missing_docs)]

mod download;
mod error;
pub mod fetch;
pub mod protocol;
pub mod slice;
mod store;

pub use download::{Download, Progress};
pub use error::{Error, Result};
pub use protocol::{ChunkRequest, ChunkResponse, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES};
pub use slice::{
    verify_slice, CHUNK_GROUP_BYTES, DEFAULT_REQUEST_BYTES, MAX_ENCODED_SLICE, MAX_SLICE,
};
pub use store::{content_id, model_file_name, parse_model, ModelMeta, ModelStore, StoredModel};

/// A 32-byte hash (content id or file root).
pub type Hash = [u8; 32];

/// Largest model file accepted (gpu-verify's limit, 2 GiB).
pub const MAX_MODEL_BYTES: u64 = gpu_verify::format::MAX_FILE_BYTES;

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn types_are_thread_safe() {
        send_sync::<ModelStore>();
        send_sync::<Download>();
        send_sync::<Error>();
    }
}
