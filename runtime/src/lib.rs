//! The Menara runtime: the state-transition function.
//!
//! Built twice: to `wasm32-unknown-unknown` (what the chain runs; embedded in the node
//! as [`WASM_BINARY`] and stored on chain under `:code`), and natively (pallet tests and
//! the wasm-vs-native benchmark). The wasm build exports the runtime API (see
//! [`menara_primitives::api::methods`]) plus `alloc`/`dealloc` for the host.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod api;
pub mod executive;
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
mod wasm;

use menara_primitives::{Balance, RuntimeVersion};
use menara_support::codec::{Decode, Encode};

#[cfg(feature = "std")]
include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));

/// Name of this chain logic; an upgrade must keep it.
pub const SPEC_NAME: &str = "menara";
/// Raised with every change of behaviour.
pub const SPEC_VERSION: u32 = 1;

/// This runtime's version.
pub fn version() -> RuntimeVersion {
    RuntimeVersion {
        spec_name: SPEC_NAME.into(),
        spec_version: SPEC_VERSION,
        impl_version: 1,
        transaction_version: 1,
    }
}

/// Fee and size parameters.
pub mod fees {
    use super::Balance;
    /// Fee every transaction pays (0.0001 MEN).
    pub const BASE_FEE: Balance = 100_000_000;
    /// Fee per byte of the encoded transaction.
    pub const BYTE_FEE: Balance = 1_000_000;
    /// Largest accepted encoded transaction.
    pub const MAX_EXTRINSIC_SIZE: usize = 64 * 1024;
}

/// The runtime's configuration of its pallets.
pub struct Runtime;

impl pallet_system::Config for Runtime {
    const PALLET_INDEX: u8 = 0;
    const MAX_EVENTS_PER_BLOCK: u32 = 100_000;
}

impl pallet_balances::Config for Runtime {
    const PALLET_INDEX: u8 = 1;
    /// 0.001 MEN.
    const EXISTENTIAL_DEPOSIT: Balance = 1_000_000_000;
}

/// The system pallet of this runtime.
pub type System = pallet_system::Pallet<Runtime>;
/// The balances pallet of this runtime.
pub type Balances = pallet_balances::Pallet<Runtime>;

/// Every call of every pallet; the first byte selects the pallet.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum RuntimeCall {
    /// System pallet.
    #[codec(index = 0)]
    System(pallet_system::Call),
    /// Balances pallet.
    #[codec(index = 1)]
    Balances(pallet_balances::Call),
}

/// Every event of every pallet, for decoding [`menara_primitives::EventRecord`]s.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum RuntimeEvent {
    /// System pallet.
    #[codec(index = 0)]
    System(pallet_system::Event),
    /// Balances pallet.
    #[codec(index = 1)]
    Balances(pallet_balances::Event),
}

impl RuntimeEvent {
    /// Decodes a stored event record's payload.
    pub fn from_record(record: &menara_primitives::EventRecord) -> Option<Self> {
        let mut bytes = alloc::vec::Vec::with_capacity(record.event.len() + 1);
        bytes.push(record.pallet);
        bytes.extend_from_slice(&record.event);
        menara_support::codec::DecodeAll::decode_all(&mut &bytes[..]).ok()
    }
}

/// A transaction of this runtime.
pub type Transaction = menara_primitives::SignedTransaction<RuntimeCall>;

/// Genesis configuration of every pallet.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct GenesisConfig {
    /// Initial balances.
    pub balances: pallet_balances::GenesisConfig,
}
