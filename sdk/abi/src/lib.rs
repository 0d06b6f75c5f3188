//! The module names and return codes of the contract host ABI, and the records and
//! requests of the AI host API (module [`AI_MODULE`], see `sdk/ABI.md`),
//! as the chain encodes them and contracts decode them. They are part of ABI version 1:
//! a new version gets a new module name and new types, so a deployed contract keeps the
//! meaning it was built against across runtime upgrades.
//!
//! Accounts, model ids and hashes are raw 32-byte arrays; amounts are `u128` base units.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};

/// The host module of ABI version 1.
pub const HOST_MODULE: &str = "menara_v1";

/// The host module of the AI API, version 1.
pub const AI_MODULE: &str = "menara_ai_v1";

/// The `flags` bit of `return_value` that reverts the call.
pub const REVERT: u32 = 1;

/// Return codes of the host functions.
pub mod code {
    /// The operation succeeded.
    pub const SUCCESS: u32 = 0;
    /// The callee of `call` reverted.
    pub const CALLEE_REVERTED: u32 = 1;
    /// The callee of `call` trapped.
    pub const CALLEE_TRAPPED: u32 = 2;
    /// No value or record (`storage_get`, the AI records).
    pub const KEY_NOT_FOUND: u32 = 3;
    /// A transfer failed (balance too low, or it would break the existential deposit).
    pub const TRANSFER_FAILED: u32 = 5;
    /// The callee of `call` is not a contract.
    pub const NOT_A_CONTRACT: u32 = 6;
    /// What the storage functions return when there was no value.
    pub const NO_VALUE: u32 = u32::MAX;
}

/// The caller a job's callback runs with: no account signs as it, so a contract can tell
/// the chain's callback from anyone calling the same message.
pub const CALLBACK_CALLER: [u8; 32] = [0; 32];

/// An inference job's input.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum AiInput {
    /// One sequence of token ids, for an encoder (tokenised off chain with the model's own
    /// tokenizer).
    #[codec(index = 0)]
    Tokens(Vec<u32>),
    /// Rows of int8 values for an MLP: `data.len() / cols` rows.
    #[codec(index = 1)]
    Rows {
        /// Values per row.
        cols: u32,
        /// The values, row-major.
        data: Vec<i8>,
    },
}

/// Calls the contract back when its job is over.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub struct Callback {
    /// Selector of the message to call: its input is the selector, then the SCALE encoding
    /// of `(job: u64, state: u8, output: Option<Vec<i16>>)`.
    pub selector: [u8; 4],
    /// Fuel the callback may use; `fuel × fuel price` is held from the contract's balance
    /// until it runs, and what it does not use comes back.
    pub fuel: u64,
}

/// An inference job a contract submits, paid from its own balance.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct AiRequest {
    /// The registered model's id.
    pub model: [u8; 32],
    /// The input.
    pub input: AiInput,
    /// The most the job may cost (provider price, royalty and verification fee included).
    pub max_fee: u128,
    /// A provider to run it (`None`: the chain draws one serving the model).
    pub provider: Option<[u8; 32]>,
    /// Whether and how to call the contract back when the job is over.
    pub callback: Option<Callback>,
}

/// A model's record.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct AiModel {
    /// Its owner.
    pub owner: [u8; 32],
    /// 1: encoder, 2: MLP.
    pub kind: u8,
    /// Royalty per inference, base units.
    pub royalty_per_inference: u128,
    /// Whether new jobs are refused.
    pub deprecated: bool,
    /// Integer numerics version.
    pub numerics_version: u16,
    /// Its successor, if a newer version was published.
    pub next: Option<[u8; 32]>,
}

/// Where a job stands ([`AiJob::state`]).
pub mod job_state {
    /// Waiting for the provider's commitment.
    pub const PENDING: u8 = 0;
    /// Committed, not sampled (yet).
    pub const COMMITTED: u8 = 1;
    /// Sampled for verification.
    pub const SAMPLED: u8 = 2;
    /// Its verifiers attested it.
    pub const VERIFIED: u8 = 3;
    /// A dispute proved the provider wrong (over; no output).
    pub const SETTLED: u8 = 4;
    /// Its challenge window closed: the output is final (over).
    pub const FINAL: u8 = 5;
    /// Not committed in time (over; no output).
    pub const EXPIRED: u8 = 6;

    /// Whether a job in `state` is over.
    pub fn is_over(state: u8) -> bool {
        matches!(state, SETTLED | FINAL | EXPIRED)
    }
}

/// An inference job's record.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct AiJob {
    /// Who submitted and pays.
    pub client: [u8; 32],
    /// Who runs it.
    pub provider: [u8; 32],
    /// The model.
    pub model: [u8; 32],
    /// Its fee, escrowed.
    pub fee: u128,
    /// See [`job_state`].
    pub state: u8,
    /// The output the provider committed to (for an encoder: the pooled, normalised
    /// embedding in Q15); final once `state` is [`job_state::FINAL`].
    pub output: Option<Vec<i16>>,
}

/// A compute lease's record.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct AiLease {
    /// Who rents.
    pub tenant: [u8; 32],
    /// Who serves.
    pub provider: [u8; 32],
    /// GPUs leased.
    pub gpus: u32,
    /// Price per block, base units.
    pub price_per_block: u128,
    /// First block.
    pub start: u64,
    /// Last block (the escrow may run dry earlier).
    pub end: u64,
    /// Escrow left.
    pub escrow: u128,
}
