//! The JSON shapes on the wire, shared by the server and [`crate::client`].
//!
//! Bytes, hashes and accounts are `"0x"`-prefixed lowercase hex strings; `u128` amounts
//! are decimal strings (JSON numbers lose precision above 2^53 in most clients).
use menara_primitives::{Header, H256};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Opaque bytes, serialized as a `"0x..."` hex string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        from_hex(&s).map(Bytes).map_err(serde::de::Error::custom)
    }
}

/// `0x` followed by the lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    s.push_str(&hex::encode(bytes));
    s
}

/// Decodes hex with an optional `0x` prefix; the error says what is wrong.
pub fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    hex::decode(digits).map_err(|e| match e {
        hex::FromHexError::OddLength => format!("odd number of hex digits ({})", digits.len()),
        hex::FromHexError::InvalidHexCharacter { c, index } => {
            format!(
                "invalid character {c:?} at position {}",
                index + (s.len() - digits.len())
            )
        }
        other => other.to_string(),
    })
}

/// `u128` as a decimal string (serde `with` module).
pub mod u128_decimal {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as a decimal string.
    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    /// Accepts a decimal string (or a JSON integer, for lenient clients).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum StrOrNum {
            Str(String),
            Num(u64),
        }
        match StrOrNum::deserialize(d)? {
            StrOrNum::Str(s) => s.parse::<u128>().map_err(|e| {
                serde::de::Error::custom(format!("expected a decimal u128 string, got {s:?}: {e}"))
            }),
            StrOrNum::Num(n) => Ok(u128::from(n)),
        }
    }
}

/// `chain_getBlock`: a block in Substrate's `SignedBlock` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedBlock {
    /// The block.
    pub block: BlockJson,
    /// The block's commit certificate (SCALE, hex), when it has one.
    pub justification: Option<Bytes>,
}

/// A block: header as JSON, extrinsics as hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockJson {
    /// The header.
    pub header: Header,
    /// SCALE-encoded extrinsics.
    pub extrinsics: Vec<Bytes>,
}

/// `state_getReadProof`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadProofJson {
    /// Block whose state the proofs are against.
    pub at: H256,
    /// That block's state root.
    pub state_root: H256,
    /// One entry per requested key, in request order.
    pub proof: Vec<ProofEntryJson>,
}

/// One key of a [`ReadProofJson`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofEntryJson {
    /// The storage key.
    pub key: Bytes,
    /// Its value, `null` when absent.
    pub value: Option<Bytes>,
    /// SCALE encoding of `menara_primitives::trie::StateProof`.
    pub proof: Bytes,
}

/// `balances_getAccount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountJson {
    /// Next nonce.
    pub nonce: u64,
    /// Spendable balance, decimal string.
    #[serde(with = "u128_decimal")]
    pub free: u128,
}

/// `rpc_methods`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodsJson {
    /// Names of the methods this server answers, sorted.
    pub methods: Vec<String>,
}
