//! # menara-contract
//!
//! The SDK for Menara smart contracts: WebAssembly modules run by the chain's contracts
//! pallet against the host ABI v1 (module `menara_v1`, described in the SDK's `ABI.md`).
//!
//! - [`env`](mod@env): safe wrappers over every host function (input, output, storage, accounts,
//!   balances, transfers, cross-contract calls, events, hashing, debug messages).
//! - [`storage`]: typed storage on top of raw keys: [`storage::get`]/[`storage::set`],
//!   [`storage::Mapping`] and [`storage::Lazy`] (a single value).
//! - [`contract!`]: declares a contract's constructors, messages, errors and events, and
//!   generates the `deploy`/`call` exports, selector dispatch, argument decoding, result
//!   encoding and the `menara:metadata` custom section.
//! - With the default `runtime` feature, on wasm32: a global bump allocator and a panic
//!   handler that sends the panic message with [`env::debug_message`] and traps.
//! - With the `std` feature (host side): `metadata`, which reads a contract's metadata from
//!   its wasm, encodes call inputs from command-line strings and decodes outputs, errors
//!   and events.
//!
//! ## A minimal contract
//!
//! A contract is a `cdylib` crate built for `wasm32-unknown-unknown` (`menara contract
//! build DIR` does that with the right flags):
//!
//! ```
//! #![cfg_attr(target_arch = "wasm32", no_std)]
//! use menara_contract::{env, storage::Lazy, AccountId};
//!
//! const COUNT: Lazy<u64> = Lazy::new(b"count");
//! const OWNER: Lazy<AccountId> = Lazy::new(b"owner");
//!
//! menara_contract::contract! {
//!     name = "counter";
//!     errors = Error { NotOwner };
//!     events = {
//!         Bumped(#[topic] by: AccountId, count: u64);
//!     };
//!
//!     constructor new(start: u64) {
//!         COUNT.set(&start);
//!         OWNER.set(&env::caller());
//!     }
//!
//!     /// Adds one; only the owner may.
//!     message bump() -> Result<u64, Error> {
//!         let by = env::caller();
//!         if OWNER.get() != Some(by) {
//!             return Err(Error::NotOwner);
//!         }
//!         let count = COUNT.get().unwrap_or(0).saturating_add(1);
//!         COUNT.set(&count);
//!         Bumped { by, count }.emit();
//!         Ok(count)
//!     }
//!
//!     #[view]
//!     message get() -> u64 {
//!         COUNT.get().unwrap_or(0)
//!     }
//! }
//! # fn main() {}
//! ```
//!
//! ## Calling convention
//! Input = 4-byte selector (`blake3(name)[..4]`, see [`selector`]) + the SCALE-encoded
//! arguments. Output = the SCALE encoding of the return value; a message returning
//! `Result<T, E>` returns `T` plainly on `Ok` and reverts with the SCALE encoding of `E`
//! on `Err`. Failures of the SDK's own dispatch (unknown selector, value sent to a
//! non-payable message, undecodable arguments) revert with a [`DispatchError`].
//!
//! Selectors and event signatures are computed at compile time by a `const fn` BLAKE3
//! ([`hash::blake3`]), so dispatch compares constants, and the metadata carries them.

#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod ai;
pub mod env;
pub mod hash;
pub mod meta;
pub mod storage;

mod dispatch;
mod macros;
#[cfg(all(target_arch = "wasm32", feature = "runtime", not(feature = "std")))]
mod runtime;

#[cfg(feature = "std")]
pub mod metadata;

pub use dispatch::{DispatchError, ReturnValue, DISPATCH_ERROR_PREFIX};
pub use hash::{event_signature, selector};
/// The SCALE codec the SDK encodes arguments, results, storage values and events with.
pub use parity_scale_codec as scale;
pub use parity_scale_codec::{Decode, Encode};

/// The version of the host ABI this SDK targets (`menara_v1`).
pub const ABI_VERSION: u32 = 1;

/// The name of the wasm custom section holding a contract's JSON metadata.
pub const METADATA_SECTION: &str = "menara:metadata";

/// An amount of the chain's currency (`u128`, little endian on the wire).
pub type Balance = u128;

/// A 32-byte account (a user's or a contract's).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, core::hash::Hash, Default, Encode, Decode,
)]
pub struct AccountId(pub [u8; 32]);

impl AccountId {
    /// The account's 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for AccountId {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl AsRef<[u8]> for AccountId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A 32-byte hash (BLAKE3 on this chain).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, core::hash::Hash, Default, Encode, Decode,
)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The hash's 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for Hash {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Items the [`contract!`] macro expands to. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::dispatch::{
        check_payable, decode_arg, dispatch_error, ensure_consumed, finish, split_selector,
        EventTopics,
    };
    pub use alloc::vec::Vec;
    pub use core;
}
