//! Blocks and headers.
use crate::{blake3_256, AccountId, BlockNumber, Moment, BLS_SIGNATURE_LEN, H256};
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
    /// The author's BLS signature over [`beacon_message`] (chain and height): the block's
    /// contribution to the randomness beacon, checked by the runtime. Zero for genesis.
    pub beacon: BeaconSignature,
}

/// A block author's BLS12-381 signature (compressed G2) over [`beacon_message`].
///
/// BLS signatures are unique per key and message, so the author cannot pick among values:
/// it can only withhold its block.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub struct BeaconSignature(pub [u8; BLS_SIGNATURE_LEN]);

impl Default for BeaconSignature {
    fn default() -> Self {
        BeaconSignature([0; BLS_SIGNATURE_LEN])
    }
}

impl core::fmt::Debug for BeaconSignature {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "0x")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(feature = "std")]
impl serde::Serialize for BeaconSignature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&alloc::format!("{self:?}"))
    }
}

#[cfg(feature = "std")]
impl<'de> serde::Deserialize<'de> for BeaconSignature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = alloc::string::String::deserialize(d)?;
        let bytes =
            hex::decode(s.strip_prefix("0x").unwrap_or(&s)).map_err(serde::de::Error::custom)?;
        let arr: [u8; BLS_SIGNATURE_LEN] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("expected a 96-byte BLS signature"))?;
        Ok(BeaconSignature(arr))
    }
}

/// What the author of block `number` of the chain with genesis `genesis_hash` signs for
/// the beacon. Fixed by chain and height alone, so the signature is the only value the
/// author could give.
pub fn beacon_message(genesis_hash: &H256, number: BlockNumber) -> Vec<u8> {
    let mut m = Vec::with_capacity(14 + 32 + 8);
    m.extend_from_slice(b"menara/beacon/");
    m.extend_from_slice(&genesis_hash.0);
    m.extend_from_slice(&number.to_le_bytes());
    m
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
