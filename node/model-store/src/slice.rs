//! Verified slices: BLAKE3 verified streaming (via `bao-tree`) of a byte range of a file.
//!
//! A slice of `[offset, offset + len)` is encoded as the pre-order sequence of the hash
//! pairs on the paths from the root to the range, interleaved with the range's data in
//! chunk groups of [`CHUNK_GROUP_BYTES`]. The receiver, knowing only the file's BLAKE3 root
//! and size (both from the chain's registry), checks every hash pair and every chunk group
//! against the root before it accepts a byte: a slice of any other file, a flipped bit, a
//! truncated or an over-long answer is refused.
//!
//! Ranges are aligned to chunk groups: `offset` is a multiple of [`CHUNK_GROUP_BYTES`], and
//! so is `len` unless the slice ends at the end of the file. Every leaf of the answer is
//! then a whole chunk group and the verified data is exactly the requested range.
use std::io::Cursor;

use bao_tree::io::outboard::PreOrderOutboard;
use bao_tree::io::sync::{encode_ranges_validated, DecodeResponseIter, ReadAt};
use bao_tree::io::{BaoContentItem, DecodeError, EncodeError};
use bao_tree::{BaoTree, BlockSize, ChunkNum, ChunkRanges};

use crate::error::{Error, Result};
use crate::Hash;

/// Chunk groups of 16 KiB (2^4 BLAKE3 chunks): one hash pair (64 bytes) per 16 KiB of data
/// in the outboard and in a slice's proof, about 0.4 % overhead.
pub const BLOCK_SIZE: BlockSize = BlockSize::from_chunk_log(4);
/// Bytes per chunk group (the alignment of slice requests).
pub const CHUNK_GROUP_BYTES: u32 = 16 * 1024;
/// Largest slice a peer serves or accepts in one response (4 MiB of file data).
pub const MAX_SLICE: u32 = 4 * 1024 * 1024;
/// Slice length a [`crate::Download`] asks for by default (1 MiB).
pub const DEFAULT_REQUEST_BYTES: u32 = 1024 * 1024;
/// Deepest possible tree: 2^64 bytes / 1 KiB chunks.
const MAX_TREE_DEPTH: usize = 64;
/// Largest valid encoded slice: [`MAX_SLICE`] data bytes plus its proof.
pub const MAX_ENCODED_SLICE: usize = max_encoded_len(MAX_SLICE);

/// Upper bound of the encoded length of a valid slice with `len` data bytes: the data, one
/// hash pair per chunk group inside the range (fewer are needed) and two per tree level
/// for the paths to the range's two ends.
pub const fn max_encoded_len(len: u32) -> usize {
    let groups = (len as usize).div_ceil(CHUNK_GROUP_BYTES as usize);
    len as usize + 64 * (groups + 2 * MAX_TREE_DEPTH)
}

/// Checks that `[offset, offset + len)` is a valid slice of a file of `size` bytes: not
/// empty, at most [`MAX_SLICE`] long, inside the file and aligned to chunk groups.
pub fn check_range(size: u64, offset: u64, len: u32) -> Result<()> {
    let end = offset
        .checked_add(len as u64)
        .ok_or_else(|| Error::BadRequest("range overflows".into()))?;
    if len == 0 {
        return Err(Error::BadRequest("empty range".into()));
    }
    if len > MAX_SLICE {
        return Err(Error::BadRequest(format!(
            "length {len} exceeds the maximum slice of {MAX_SLICE} bytes"
        )));
    }
    if end > size {
        return Err(Error::BadRequest(format!(
            "range {offset}..{end} exceeds the file size {size}"
        )));
    }
    let group = CHUNK_GROUP_BYTES as u64;
    if !offset.is_multiple_of(group) || (!end.is_multiple_of(group) && end != size) {
        return Err(Error::BadRequest(format!(
            "range {offset}..{end} is not aligned to {group}-byte chunk groups"
        )));
    }
    Ok(())
}

fn chunk_ranges(offset: u64, len: u32) -> ChunkRanges {
    let start = ChunkNum::full_chunks(offset);
    let end = ChunkNum::chunks(offset + len as u64);
    ChunkRanges::from(start..end)
}

/// Computes the outboard (hash pairs in pre order, no size prefix) and the BLAKE3 root of
/// `data`. The root equals `blake3::hash(data)`.
pub fn outboard(data: &[u8]) -> (Hash, Vec<u8>) {
    let ob = bao_tree::io::outboard::PreOrderMemOutboard::create(data, BLOCK_SIZE);
    (*ob.root.as_bytes(), ob.data)
}

/// Encodes the verified slice `[offset, offset + len)` of `data` (`size` bytes) using its
/// pre-order `outboard` (any [`ReadAt`]: a file, a byte vector). Every chunk group and hash
/// pair is checked against `root` while encoding, so local corruption is never served.
///
/// Errors: [`Error::BadRequest`] for an invalid range, [`Error::InvalidSlice`] if the data
/// or outboard does not match `root` (the caller reports its own copy as corrupt), and
/// [`Error::Io`] (with an empty path) for read errors.
pub fn encode_slice<D: ReadAt, O: ReadAt>(
    data: D,
    outboard: O,
    root: &Hash,
    size: u64,
    offset: u64,
    len: u32,
) -> Result<Vec<u8>> {
    check_range(size, offset, len)?;
    let ob = PreOrderOutboard {
        root: blake3::Hash::from_bytes(*root),
        tree: BaoTree::new(size, BLOCK_SIZE),
        data: outboard,
    };
    let ranges = chunk_ranges(offset, len);
    let mut out = Vec::with_capacity(max_encoded_len(len));
    encode_ranges_validated(data, &ob, &ranges, &mut out).map_err(|e| match e {
        EncodeError::Io(e) => Error::io("", e),
        other => Error::InvalidSlice(other.to_string()),
    })?;
    debug_assert!(out.len() <= max_encoded_len(len));
    Ok(out)
}

/// Verifies an encoded slice `[offset, offset + len)` of the file with BLAKE3 root `root`
/// and `size` bytes, and returns its data (exactly `len` bytes).
///
/// Nothing of `encoded` is trusted: its length is bounded before any hashing, every hash
/// pair and chunk group is verified against `root`, and trailing bytes are refused.
/// Errors are [`Error::BadRequest`] (invalid range, the caller's mistake),
/// [`Error::SliceTooLarge`] or [`Error::InvalidSlice`] (the peer's fault).
pub fn verify_slice(
    root: &Hash,
    size: u64,
    offset: u64,
    len: u32,
    encoded: &[u8],
) -> Result<Vec<u8>> {
    check_range(size, offset, len)?;
    let max = max_encoded_len(len);
    if encoded.len() > max {
        return Err(Error::SliceTooLarge {
            len: encoded.len(),
            max,
        });
    }
    let tree = BaoTree::new(size, BLOCK_SIZE);
    let ranges = chunk_ranges(offset, len);
    let mut reader = Cursor::new(encoded);
    let mut data = Vec::with_capacity(len as usize);
    let iter = DecodeResponseIter::new(blake3::Hash::from_bytes(*root), tree, &mut reader, &ranges);
    for item in iter {
        let item = item.map_err(|e| Error::InvalidSlice(decode_error(e)))?;
        if let BaoContentItem::Leaf(leaf) = item {
            if leaf.offset != offset + data.len() as u64 {
                return Err(Error::InvalidSlice(format!(
                    "leaf at offset {} where {} was expected",
                    leaf.offset,
                    offset + data.len() as u64
                )));
            }
            data.extend_from_slice(&leaf.data);
        }
    }
    if data.len() != len as usize {
        return Err(Error::InvalidSlice(format!(
            "slice holds {} data bytes, {len} were requested",
            data.len()
        )));
    }
    let consumed = reader.position();
    if consumed != encoded.len() as u64 {
        return Err(Error::InvalidSlice(format!(
            "{} trailing bytes after the slice",
            encoded.len() as u64 - consumed
        )));
    }
    Ok(data)
}

fn decode_error(e: DecodeError) -> String {
    match e {
        DecodeError::ParentNotFound(_) | DecodeError::LeafNotFound(_) => {
            "slice is truncated".to_string()
        }
        DecodeError::ParentHashMismatch(node) => {
            format!("hash pair of tree node {} does not match", node.level())
        }
        DecodeError::LeafHashMismatch(chunk) => {
            format!("data at offset {} does not match", chunk.to_bytes())
        }
        DecodeError::Io(e) => e.to_string(),
    }
}

/// Length of the pre-order outboard of a file of `size` bytes.
pub(crate) fn outboard_len(size: u64) -> u64 {
    BaoTree::new(size, BLOCK_SIZE).outboard_size()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn data(n: usize) -> Vec<u8> {
        let mut r = gpu_verify::random::Rng::new(n as u64);
        (0..n).map(|_| r.next_u64() as u8).collect()
    }

    #[test]
    fn root_is_blake3_of_the_file() {
        for n in [1usize, 1024, 16 * 1024, 16 * 1024 + 1, 100_000, 1 << 20] {
            let d = data(n);
            let (root, ob) = outboard(&d);
            assert_eq!(root, *blake3::hash(&d).as_bytes(), "n = {n}");
            assert_eq!(ob.len() as u64, outboard_len(n as u64));
        }
    }

    #[test]
    fn every_aligned_slice_round_trips() {
        let n = 5 * 16 * 1024 + 777;
        let d = data(n);
        let (root, ob) = outboard(&d);
        let size = n as u64;
        let g = CHUNK_GROUP_BYTES as u64;
        for start in 0..6u64 {
            for groups in 1..=(6 - start) {
                let offset = start * g;
                let len = ((offset + groups * g).min(size) - offset) as u32;
                let enc = encode_slice(&d[..], &ob[..], &root, size, offset, len).unwrap();
                assert!(enc.len() <= max_encoded_len(len));
                let got = verify_slice(&root, size, offset, len, &enc).unwrap();
                assert_eq!(got, &d[offset as usize..offset as usize + len as usize]);
            }
        }
    }

    #[test]
    fn bounds_are_checked() {
        let g = CHUNK_GROUP_BYTES;
        assert!(check_range(100_000, 0, 0).is_err());
        assert!(check_range(100_000, 1, g).is_err());
        assert!(check_range(100_000, 0, g + 1).is_err());
        assert!(check_range(100_000, 0, 100_000).is_ok());
        assert!(check_range(100_000, 0, 100_001).is_err());
        assert!(check_range(u64::MAX, u64::MAX - 10, g).is_err());
        assert!(check_range(1 << 30, 0, MAX_SLICE).is_ok());
        assert!(check_range(1 << 30, 0, MAX_SLICE + g).is_err());
    }

    #[test]
    fn max_encoded_len_bounds_real_slices() {
        // The bound holds for full-size slices at several places in the tree.
        let d = data(MAX_SLICE as usize * 3);
        let (root, ob) = outboard(&d);
        let size = d.len() as u64;
        for offset in [
            0u64,
            16 * 1024,
            MAX_SLICE as u64 - 16 * 1024,
            MAX_SLICE as u64 * 2,
        ] {
            let enc = encode_slice(&d[..], &ob[..], &root, size, offset, MAX_SLICE).unwrap();
            assert!(enc.len() <= MAX_ENCODED_SLICE, "{offset}");
        }
    }
}
