//! The pallet framework of the Menara runtime.
//!
//! Every pallet has the same shape (as in FRAME): a `Config` trait, typed storage items
//! declared with [`storage_item!`], a `Call` enum dispatched with an [`Origin`], an
//! `Event` enum deposited through the system pallet, and an `Error` enum that becomes a
//! [`DispatchError`]. The runtime reaches the node only through [`io`]: host functions
//! under wasm, the same [`menara_state_machine::Externalities`] natively, so pallets can
//! be unit-tested natively and behave identically in wasm.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod dispatch;
pub mod io;
pub mod storage;

pub use dispatch::{ensure_signed, DispatchResult, Origin, PalletError};
pub use menara_primitives::DispatchError;
pub use parity_scale_codec as codec;
pub use storage::{StorageInstance, StorageMap, StorageValue};

/// Returns `Err(e)` from the enclosing function unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $err:expr $(,)?) => {
        if !$cond {
            return Err($err.into());
        }
    };
}
