//! Types shared by the Menara node and its runtime.
//!
//! Everything here is `no_std` (with `alloc`), SCALE-encoded, and deterministic, because
//! the same definitions are compiled into the node and into the wasm runtime: one source
//! of truth for blocks, headers, transactions, the runtime API's inputs and outputs, and
//! the state trie's proofs.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod api;
pub mod block;
pub mod crypto;
pub mod hash;
pub mod transaction;
pub mod trie;

pub use api::*;
pub use block::{beacon_message, extrinsics_root, BeaconSignature, Block, Header};
pub use crypto::{AccountId, Signature};
pub use hash::{blake3_256, H256};
pub use transaction::{signing_payload, SignedTransaction};

/// Height of a block; genesis is 0.
pub type BlockNumber = u64;
/// Amount of the native token in its smallest unit (10^-12 MEN).
pub type Balance = u128;
/// Per-account transaction counter; a transaction must carry the sender's next nonce.
pub type Nonce = u64;
/// Milliseconds since the Unix epoch, as set by the block author.
pub type Moment = u64;

/// Well-known storage keys, outside any pallet's prefix.
pub mod well_known_keys {
    /// The runtime's wasm code. Governance replaces it to upgrade the chain.
    pub const CODE: &[u8] = b":code";
}

/// Number of decimal places of the native token.
pub const TOKEN_DECIMALS: u32 = 12;
/// One whole MEN in base units.
pub const MEN: Balance = 1_000_000_000_000;
