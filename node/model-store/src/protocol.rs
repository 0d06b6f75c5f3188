//! Messages of the chunk-transfer request-response protocol (SCALE encoded).
//!
//! A requester asks a peer for the slice `[offset, offset + len)` of the model `id`; the
//! peer answers with the encoded verified slice (data plus proof, see [`crate::slice`]),
//! `NotFound` or `BadRequest`. Both sides decode with [`ChunkRequest::decode_limited`] and
//! [`ChunkResponse::decode_limited`], which refuse oversized or trailing input; the
//! transport should stop reading a request after [`MAX_REQUEST_BYTES`] and a response
//! after [`MAX_RESPONSE_BYTES`].
use parity_scale_codec::{Compact, Decode, DecodeAll, Encode, MaxEncodedLen};

use crate::error::{Error, Result};
use crate::slice::MAX_ENCODED_SLICE;
use crate::Hash;

/// Protocol name (the network layer may prefix it with the chain's genesis hash).
pub const PROTOCOL_NAME: &str = "/menara/model-chunks/1";

/// Encoded size of a [`ChunkRequest`] (fixed).
pub const MAX_REQUEST_BYTES: usize = 32 + 8 + 4;

/// Largest encoded [`ChunkResponse`]: variant byte, compact length, largest valid slice.
pub const MAX_RESPONSE_BYTES: usize = 1 + 5 + MAX_ENCODED_SLICE;

/// Request for the verified slice `[offset, offset + len)` of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, MaxEncodedLen)]
pub struct ChunkRequest {
    /// The model's content id.
    pub id: Hash,
    /// First byte (a multiple of [`crate::CHUNK_GROUP_BYTES`]).
    pub offset: u64,
    /// Number of bytes (at most [`crate::MAX_SLICE`]; a multiple of
    /// [`crate::CHUNK_GROUP_BYTES`] unless the slice ends at the end of the file).
    pub len: u32,
}

impl ChunkRequest {
    /// Decodes a request, refusing anything but exactly one encoded request.
    pub fn decode_limited(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != MAX_REQUEST_BYTES {
            return Err(Error::Message(format!(
                "request of {} bytes, expected {MAX_REQUEST_BYTES}",
                bytes.len()
            )));
        }
        Self::decode_all(&mut &bytes[..]).map_err(|e| Error::Message(e.to_string()))
    }
}

/// Answer to a [`ChunkRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum ChunkResponse {
    /// The encoded verified slice (data and proof), to check with
    /// [`crate::verify_slice`] or [`crate::Download::accept`].
    #[codec(index = 0)]
    Slice(Vec<u8>),
    /// The peer does not have the model (or cannot serve it right now).
    #[codec(index = 1)]
    NotFound,
    /// The request is invalid (out of bounds, unaligned, too long).
    #[codec(index = 2)]
    BadRequest,
}

impl ChunkResponse {
    /// Decodes a response, refusing more than [`MAX_RESPONSE_BYTES`], a slice longer than
    /// [`MAX_ENCODED_SLICE`] (checked before allocating), and trailing bytes.
    pub fn decode_limited(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_RESPONSE_BYTES {
            return Err(Error::Message(format!(
                "response of {} bytes exceeds the limit of {MAX_RESPONSE_BYTES}",
                bytes.len()
            )));
        }
        if let [0, rest @ ..] = bytes {
            let len = <Compact<u32>>::decode(&mut &rest[..])
                .map_err(|e| Error::Message(e.to_string()))?
                .0 as usize;
            if len > MAX_ENCODED_SLICE {
                return Err(Error::Message(format!(
                    "slice of {len} bytes exceeds the limit of {MAX_ENCODED_SLICE}"
                )));
            }
        }
        Self::decode_all(&mut &bytes[..]).map_err(|e| Error::Message(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn request_round_trip() {
        let r = ChunkRequest {
            id: [7; 32],
            offset: 1 << 40,
            len: 12345,
        };
        let b = r.encode();
        assert_eq!(b.len(), MAX_REQUEST_BYTES);
        assert_eq!(ChunkRequest::max_encoded_len(), MAX_REQUEST_BYTES);
        assert_eq!(ChunkRequest::decode_limited(&b).unwrap(), r);
        assert!(ChunkRequest::decode_limited(&b[..43]).is_err());
        let mut long = b.clone();
        long.push(0);
        assert!(ChunkRequest::decode_limited(&long).is_err());
    }

    #[test]
    fn response_round_trip_and_limits() {
        for r in [
            ChunkResponse::Slice(vec![1, 2, 3]),
            ChunkResponse::NotFound,
            ChunkResponse::BadRequest,
        ] {
            let b = r.encode();
            assert_eq!(ChunkResponse::decode_limited(&b).unwrap(), r);
            let mut long = b.clone();
            long.push(0);
            assert!(ChunkResponse::decode_limited(&long).is_err());
        }
        let biggest = ChunkResponse::Slice(vec![0; MAX_ENCODED_SLICE]).encode();
        assert!(biggest.len() <= MAX_RESPONSE_BYTES);
        assert!(ChunkResponse::decode_limited(&biggest).is_ok());
        let too_big = ChunkResponse::Slice(vec![0; MAX_ENCODED_SLICE + 1]).encode();
        assert!(ChunkResponse::decode_limited(&too_big).is_err());
        // A length prefix announcing a huge slice is refused before allocation.
        let mut lie = vec![0u8];
        lie.extend(Compact(u32::MAX).encode());
        assert!(matches!(
            ChunkResponse::decode_limited(&lie),
            Err(Error::Message(_))
        ));
        assert!(ChunkResponse::decode_limited(&[3]).is_err());
        assert!(ChunkResponse::decode_limited(&[]).is_err());
    }
}
