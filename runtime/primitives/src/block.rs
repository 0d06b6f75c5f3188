//! Blocks and headers.
use crate::{blake3_256, AccountId, BlockNumber, Moment, H256};
use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};

/// A block header. Its blake3 hash over the SCALE encoding is the block hash.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct Header {
    /// Hash of the parent block (zero for genesis).
    pub parent_hash: H256,
    /// Height of this block.
    pub number: BlockNumber,
    /// Root of the state trie after executing this block.
    pub state_root: H256,
    /// Merkle root over the hashes of this block's extrinsics.
    pub extrinsics_root: H256,
    /// Milliseconds since the Unix epoch, set by the author.
    pub timestamp: Moment,
    /// The validator that authored the block.
    pub author: AccountId,
}

impl Header {
    /// The block hash.
    pub fn hash(&self) -> H256 {
        blake3_256(&self.encode())
    }
}

/// A block: header and the opaque (SCALE-encoded) extrinsics, in execution order.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Block {
    /// The header.
    pub header: Header,
    /// Encoded transactions; only the runtime decodes them.
    pub extrinsics: Vec<Vec<u8>>,
}

impl Block {
    /// The block hash (its header's hash).
    pub fn hash(&self) -> H256 {
        self.header.hash()
    }
}

/// Binary Merkle root (blake3) over the hashes of `extrinsics`; zero for none.
///
/// Leaves are `blake3(0x00 || extrinsic)`, inner nodes `blake3(0x01 || left || right)`;
/// an odd node at the end of a level is promoted unchanged.
pub fn extrinsics_root(extrinsics: &[Vec<u8>]) -> H256 {
    if extrinsics.is_empty() {
        return H256::zero();
    }
    let mut level: Vec<H256> = extrinsics
        .iter()
        .map(|e| {
            let mut h = blake3::Hasher::new();
            h.update(&[0]);
            h.update(e);
            H256(*h.finalize().as_bytes())
        })
        .collect();
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            match pair {
                [l, r] => {
                    let mut h = blake3::Hasher::new();
                    h.update(&[1]);
                    h.update(&l.0);
                    h.update(&r.0);
                    next.push(H256(*h.finalize().as_bytes()));
                }
                [single] => next.push(*single),
                _ => {}
            }
        }
        level = next;
    }
    level[0]
}
