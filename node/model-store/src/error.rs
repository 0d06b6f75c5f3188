//! The crate's error type.
use std::io;
use std::path::PathBuf;

use crate::Hash;

/// Everything that can go wrong in the model store, while serving a slice, or while
/// verifying a peer's response.
///
/// [`Error::is_peer_fault`] tells a downloader whether the peer that sent a response should
/// be penalised (and the range asked of another peer).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system operation failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The bytes are not a valid `.mvm` model file (truncated, malformed, unknown kind, ...).
    #[error("invalid model file: {0}")]
    Model(#[from] gpu_verify::Error),
    /// The model's content hash differs from the expected (registered) id.
    #[error(
        "content id mismatch: expected {}, found {}",
        hex::encode(expected),
        hex::encode(found)
    )]
    IdMismatch {
        /// The registered id.
        expected: Hash,
        /// The id of the bytes at hand.
        found: Hash,
    },
    /// The BLAKE3 hash of the file differs from the expected (registered) file root.
    #[error(
        "file root mismatch: expected {}, found {}",
        hex::encode(expected),
        hex::encode(found)
    )]
    FileRootMismatch {
        /// The registered file root.
        expected: Hash,
        /// The root of the bytes at hand.
        found: Hash,
    },
    /// The file's size differs from the expected (registered) size.
    #[error("size mismatch: expected {expected} bytes, found {found}")]
    SizeMismatch {
        /// The registered size.
        expected: u64,
        /// The size at hand.
        found: u64,
    },
    /// A model is larger than allowed.
    #[error("model of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The model's size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The store holds no model with this id.
    #[error("model {} not found in the store", hex::encode(.0))]
    NotFound(Hash),
    /// A slice request is out of bounds, unaligned or too long.
    #[error("bad slice request: {0}")]
    BadRequest(String),
    /// A peer's slice is larger than any valid answer to the request (refused unread).
    #[error("slice response of {len} bytes exceeds the {max} bytes a valid answer can have")]
    SliceTooLarge {
        /// Length received.
        len: usize,
        /// Largest valid length for the request.
        max: usize,
    },
    /// A peer's slice does not verify against the file root (wrong data, wrong proof,
    /// truncated, trailing bytes, or a slice of another file).
    #[error("slice failed verification: {0}")]
    InvalidSlice(String),
    /// A protocol message could not be decoded or exceeds its size limit.
    #[error("malformed protocol message: {0}")]
    Message(String),
    /// A response was offered for a range this download never asked for.
    #[error("unexpected range: offset {offset}, length {len}")]
    UnexpectedRange {
        /// Offset of the range.
        offset: u64,
        /// Length of the range.
        len: u32,
    },
    /// `finish` was called before every range was verified.
    #[error("download incomplete: {missing} of {total} bytes not yet verified")]
    Incomplete {
        /// Bytes still missing.
        missing: u64,
        /// Total size.
        total: u64,
    },
    /// A stored file or its outboard is damaged (detected while serving or checking).
    #[error("store entry {} is corrupt: {reason}", hex::encode(id))]
    Corrupt {
        /// The model's id.
        id: Hash,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// True if the error is the fault of the peer that sent a response: the caller should
    /// penalise that peer and ask another one for the range.
    pub fn is_peer_fault(&self) -> bool {
        matches!(
            self,
            Error::SliceTooLarge { .. } | Error::InvalidSlice(_) | Error::Message(_)
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
