//! Inputs and outputs of the runtime API the node calls.
//!
//! Every exported runtime function takes one SCALE-encoded argument and returns one
//! SCALE-encoded value; the names follow Substrate's (`Core_version`, ...).
use crate::{AccountId, Balance, BlockNumber, Moment, Nonce, H256};
use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};

/// Names of the functions the runtime exports.
pub mod methods {
    /// `() -> RuntimeVersion`
    pub const VERSION: &str = "Core_version";
    /// `GenesisConfig bytes -> Result<(), DispatchError>`
    pub const BUILD_GENESIS: &str = "GenesisBuilder_build";
    /// `BlockContext -> ()`
    pub const INITIALIZE_BLOCK: &str = "Core_initialize_block";
    /// `Vec<u8> (extrinsic) -> ApplyExtrinsicResult`
    pub const APPLY_EXTRINSIC: &str = "BlockBuilder_apply_extrinsic";
    /// `() -> ()`
    pub const FINALIZE_BLOCK: &str = "BlockBuilder_finalize_block";
    /// `Vec<u8> (extrinsic) -> TransactionValidity`
    pub const VALIDATE_TRANSACTION: &str = "TaggedTransactionQueue_validate_transaction";
    /// `(Vec<u8> method, Vec<u8> args) -> Result<Vec<u8>, QueryError>`, read-only
    pub const QUERY: &str = "Query_call";
}

/// Identity of a runtime; a code upgrade must keep the name and raise `spec_version`.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct RuntimeVersion {
    /// Name of the chain logic, e.g. `menara`.
    pub spec_name: alloc::string::String,
    /// Raised with every change of behaviour.
    pub spec_version: u32,
    /// Raised with changes that do not change behaviour.
    pub impl_version: u32,
    /// Raised when the transaction format changes.
    pub transaction_version: u32,
}

/// What the node tells the runtime when a block starts.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct BlockContext {
    /// Height of the block being built or imported.
    pub number: BlockNumber,
    /// Its parent.
    pub parent_hash: H256,
    /// The author's timestamp (ms); the runtime never reads a clock.
    pub timestamp: Moment,
    /// The block author.
    pub author: AccountId,
    /// The chain's genesis hash, which transactions sign.
    pub genesis_hash: H256,
    /// The author's beacon signature (the header's `beacon`).
    pub beacon: crate::BeaconSignature,
}

/// Why a transaction cannot be included at all (it pays no fee and changes nothing).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum InvalidTransaction {
    /// The bytes are not a transaction.
    Malformed,
    /// The signature does not match the signer and payload (wrong key or other chain).
    BadSignature,
    /// The nonce was already used.
    Stale,
    /// The nonce is ahead of the sender's next nonce; it may become valid later.
    Future,
    /// The sender cannot pay the fee.
    CannotPayFees,
    /// Larger than the runtime accepts.
    ExhaustsResources,
    /// The call is not allowed from a signed transaction.
    BadOrigin,
    /// The block has no room left for the transaction's work; it may fit the next one.
    BlockFull,
}

impl InvalidTransaction {
    /// A human-readable explanation.
    pub fn describe(&self) -> &'static str {
        match self {
            InvalidTransaction::Malformed => "malformed transaction: not valid SCALE for a signed transaction",
            InvalidTransaction::BadSignature => {
                "bad signature: not signed by the sender for this chain's genesis hash, nonce and call"
            }
            InvalidTransaction::Stale => "stale nonce: this nonce was already used",
            InvalidTransaction::Future => "future nonce: earlier nonces of this sender are missing",
            InvalidTransaction::CannotPayFees => "insufficient balance to pay the transaction fee",
            InvalidTransaction::ExhaustsResources => "transaction too large",
            InvalidTransaction::BadOrigin => "call not allowed in a signed transaction",
            InvalidTransaction::BlockFull => {
                "the block has no room left for this transaction's work; it waits for the next"
            }
        }
    }
}

/// What the pool needs to know about a valid transaction.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ValidTransaction {
    /// Sender.
    pub sender: AccountId,
    /// The transaction's nonce.
    pub nonce: Nonce,
    /// The sender's next nonce in current state; `nonce > account_nonce` waits.
    pub account_nonce: Nonce,
    /// Total fee it pays (base + length + tip); higher is served first.
    pub fee: Balance,
}

/// Result of `validate_transaction`.
pub type TransactionValidity = Result<ValidTransaction, InvalidTransaction>;

/// Why a dispatched call failed. Its fee is still paid and its nonce used.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct DispatchError {
    /// Index of the pallet that failed.
    pub pallet: u8,
    /// Index of the error in that pallet's error enum.
    pub error: u8,
    /// The error's name, for people.
    pub message: alloc::string::String,
}

/// Outcome of a call that was included: `Ok` or the error it failed with.
pub type DispatchOutcome = Result<(), DispatchError>;

/// Result of `apply_extrinsic`: `Err` means the transaction is not included.
pub type ApplyExtrinsicResult = Result<DispatchOutcome, InvalidTransaction>;

/// Why a read-only query failed.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum QueryError {
    /// No such query method.
    UnknownMethod,
    /// The arguments did not decode.
    BadArguments,
}

/// Account state as the `balance` query returns it.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub struct AccountInfo {
    /// Next nonce.
    pub nonce: Nonce,
    /// Spendable balance.
    pub free: Balance,
}

/// Read-only query names served by `Query_call`.
pub mod queries {
    /// `AccountId -> AccountInfo`
    pub const ACCOUNT: &[u8] = b"account";
    /// `() -> Balance`
    pub const TOTAL_ISSUANCE: &[u8] = b"total_issuance";
    /// `Vec<u8> (extrinsic) -> Balance`: the fee it would pay, tip included
    pub const FEE: &[u8] = b"fee";
    /// `() -> Vec<EventRecord>` of the current block
    pub const EVENTS: &[u8] = b"events";
    /// `() -> Vec<ValidatorRecord>`: the validator set consensus runs with, in the order
    /// stored by the runtime (consensus sorts it by account itself)
    pub const VALIDATORS: &[u8] = b"validators";
}

/// Length of a compressed BLS12-381 public key (G1, `min_pk`).
pub const BLS_PUBLIC_KEY_LEN: usize = 48;
/// Length of a compressed BLS12-381 signature (G2, `min_pk`).
pub const BLS_SIGNATURE_LEN: usize = 96;

/// A validator as the runtime stores it and hands it to consensus.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ValidatorRecord {
    /// Its account (the ed25519 key that signs its transactions).
    pub account: AccountId,
    /// Its consensus key (compressed BLS12-381 G1 point), registered with a proof of
    /// possession checked by the runtime.
    pub bls_public_key: [u8; BLS_PUBLIC_KEY_LEN],
    /// Its voting power.
    pub stake: Balance,
}

/// One signed consensus message as evidence carries it: the exact bytes the validator
/// signed (a vote's or a proposal's canonical signing bytes, see the consensus crate) and
/// its BLS signature over them.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct SignedConsensusMessage {
    /// The signed bytes.
    pub signing_bytes: Vec<u8>,
    /// The signature (compressed G2 point).
    pub signature: [u8; BLS_SIGNATURE_LEN],
}

/// Proof that one validator signed two conflicting consensus messages for the same height,
/// round and step; checked entirely by the runtime (signatures included).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct EquivocationProof {
    /// The offender's consensus key.
    pub offender: [u8; BLS_PUBLIC_KEY_LEN],
    /// First message.
    pub first: SignedConsensusMessage,
    /// Second, conflicting message.
    pub second: SignedConsensusMessage,
}

/// When during a block an event was emitted.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Phase {
    /// In `initialize_block`.
    Initialization,
    /// While applying the extrinsic at this index.
    ApplyExtrinsic(u32),
    /// In `finalize_block`.
    Finalization,
}

/// An event, as stored by the system pallet: which pallet, and its encoded event.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct EventRecord {
    /// When.
    pub phase: Phase,
    /// Index of the pallet that emitted it.
    pub pallet: u8,
    /// The pallet's `Event`, SCALE-encoded.
    pub event: Vec<u8>,
}
