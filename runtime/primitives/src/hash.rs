//! The 32-byte hash used everywhere (blake3).
use parity_scale_codec::{Decode, Encode};

/// A 32-byte blake3 hash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Encode, Decode)]
pub struct H256(pub [u8; 32]);

impl H256 {
    /// The all-zero hash (used for "empty").
    pub const fn zero() -> Self {
        H256([0u8; 32])
    }
    /// Whether this is the all-zero hash.
    pub fn is_zero(&self) -> bool {
        self.0 == [0u8; 32]
    }
    /// Bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// Bit `i` (0 = most significant bit of byte 0), used as the trie path.
    pub fn bit(&self, i: usize) -> bool {
        (self.0[i / 8] >> (7 - (i % 8))) & 1 == 1
    }
}

impl From<[u8; 32]> for H256 {
    fn from(b: [u8; 32]) -> Self {
        H256(b)
    }
}

impl AsRef<[u8]> for H256 {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for H256 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "0x")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl core::fmt::Display for H256 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

#[cfg(feature = "std")]
impl core::str::FromStr for H256 {
    type Err = crate::crypto::ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::crypto::parse_hex32(s).map(H256)
    }
}

#[cfg(feature = "std")]
impl serde::Serialize for H256 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&alloc::format!("{self}"))
    }
}

#[cfg(feature = "std")]
impl<'de> serde::Deserialize<'de> for H256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = alloc::string::String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// blake3 of `data`, as used for block hashes, transaction hashes and the state trie.
pub fn blake3_256(data: &[u8]) -> H256 {
    H256(*blake3::hash(data).as_bytes())
}
