//! The narrow interface the RPC server needs from the node.
//!
//! The service implements [`NodeApi`]; the server only translates JSON-RPC to these calls,
//! so RPC can be tested against any implementation and the service never sees JSON.
use menara_primitives::trie::StateProof;
use menara_primitives::{AccountId, AccountInfo, Block, BlockNumber, Header, RuntimeVersion, H256};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Errors the node reports to RPC callers; each becomes a JSON-RPC error with its text.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ApiError {
    /// The transaction was refused by the runtime (bad signature, nonce, fees...).
    #[error("invalid transaction: {0}")]
    InvalidTransaction(String),
    /// The pool refused it (full, duplicate, replacement too cheap).
    #[error("transaction pool: {0}")]
    Pool(String),
    /// No block with that hash or number.
    #[error("unknown block: {0}")]
    UnknownBlock(String),
    /// State for that block is no longer kept.
    #[error("state unavailable: {0}")]
    StateUnavailable(String),
    /// The runtime call failed.
    #[error("runtime call failed: {0}")]
    Runtime(String),
    /// A bad argument (other than malformed JSON, which the server rejects itself).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Something failed inside the node.
    #[error("internal error: {0}")]
    Internal(String),
}

/// `system_health`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Connected peers.
    pub peers: u32,
    /// Whether the node is catching up.
    pub is_syncing: bool,
    /// Whether the node is expected to have peers (false for `--dev`).
    pub should_have_peers: bool,
}

/// One connected peer (`system_peers`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PeerSummary {
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Addresses it is known at.
    pub addresses: Vec<String>,
    /// Its score (0 is neutral; negative after misbehaviour).
    pub score: f64,
}

/// `state_getReadProof`: values and proofs for keys, against the state root of `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadProof {
    /// The block whose state root the proofs lead to.
    pub at: H256,
    /// That block's state root.
    pub state_root: H256,
    /// For each requested key: its value (if any) and the trie proof.
    pub entries: Vec<(Vec<u8>, Option<Vec<u8>>, StateProof)>,
}

/// Where a submitted transaction stands (`author_submitAndWatchExtrinsic`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum TransactionStatus {
    /// Accepted, waiting for earlier nonces.
    Future,
    /// Accepted, can go in the next block.
    Ready,
    /// Included in a block (hash).
    InBlock(H256),
    /// That block is final (hash).
    Finalized(H256),
    /// Replaced by another transaction with the same nonce and a higher fee.
    Usurped(H256),
    /// Removed from the pool (evicted by higher fees).
    Dropped,
    /// No longer valid.
    Invalid,
}

impl TransactionStatus {
    /// Whether no further status follows.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            TransactionStatus::Finalized(_)
                | TransactionStatus::Usurped(_)
                | TransactionStatus::Dropped
                | TransactionStatus::Invalid
        )
    }
}

/// What happened to an included transaction (`author_transactionOutcome`).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TransactionOutcome {
    /// The block that includes it.
    pub block_hash: H256,
    /// That block's height.
    pub block_number: BlockNumber,
    /// Its index in the block.
    pub index: u32,
    /// Whether its call succeeded. A failed call still paid its fee and used its nonce.
    pub success: bool,
    /// Why the call failed (the pallet error's name).
    pub error: Option<String>,
}

/// Where a model download stands (`models_fetch`, `models_fetchStatus`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ModelFetchStatus {
    /// The model's content id.
    pub id: H256,
    /// What is happening.
    pub state: ModelFetchState,
    /// Bytes received and verified against the registered file root.
    pub verified: u64,
    /// The file's registered size.
    pub total: u64,
    /// Where the file is stored, once it is.
    pub path: Option<String>,
    /// Why the download failed.
    pub error: Option<String>,
}

/// The state of a model download.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ModelFetchState {
    /// Chunks are arriving from peers.
    Downloading,
    /// The file is in the store, its content id checked.
    Done,
    /// The download stopped; see `error`.
    Failed,
}

/// Static facts about the node, for the `system_*` methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemInfo {
    /// Node name (`--name`).
    pub name: String,
    /// Implementation name, `menara`.
    pub implementation: String,
    /// Implementation version.
    pub version: String,
    /// Chain name from the chain spec.
    pub chain: String,
}

/// What the RPC server asks of the node. `at: None` means the best block.
pub trait NodeApi: Send + Sync + 'static {
    /// Static node facts.
    fn system_info(&self) -> SystemInfo;
    /// Connected peers (none for a node without networking).
    fn peers(&self) -> Vec<PeerSummary> {
        Vec::new()
    }
    /// The justification (SCALE-encoded commit certificate) stored with a block.
    fn justification(&self, _hash: &H256) -> Result<Option<Vec<u8>>, ApiError> {
        Ok(None)
    }
    /// Peers and sync state.
    fn health(&self) -> Health;
    /// Header of `at`.
    fn header(&self, at: Option<H256>) -> Result<Option<Header>, ApiError>;
    /// Block `at`.
    fn block(&self, at: Option<H256>) -> Result<Option<Block>, ApiError>;
    /// Hash of the block at `number` (best if `None`).
    fn block_hash(&self, number: Option<BlockNumber>) -> Result<Option<H256>, ApiError>;
    /// Hash of the last final block.
    fn finalized_head(&self) -> Result<H256, ApiError>;
    /// Raw storage value of `key` at `at`.
    fn storage(&self, key: &[u8], at: Option<H256>) -> Result<Option<Vec<u8>>, ApiError>;
    /// Values and trie proofs for `keys` at `at`.
    fn read_proof(&self, keys: &[Vec<u8>], at: Option<H256>) -> Result<ReadProof, ApiError>;
    /// The runtime version at `at`.
    fn runtime_version(&self, at: Option<H256>) -> Result<RuntimeVersion, ApiError>;
    /// A read-only runtime query (`Query_call`) at `at`: method name, SCALE args → SCALE result.
    fn query(&self, method: &str, args: &[u8], at: Option<H256>) -> Result<Vec<u8>, ApiError>;
    /// Validates and pools an encoded transaction; returns its hash.
    fn submit_transaction(&self, extrinsic: Vec<u8>) -> Result<H256, ApiError>;
    /// Like `submit_transaction`, and streams its status changes.
    fn submit_and_watch(
        &self,
        extrinsic: Vec<u8>,
    ) -> Result<(H256, broadcast::Receiver<TransactionStatus>), ApiError>;
    /// The outcome of an included transaction, if this node still remembers it.
    fn transaction_outcome(&self, hash: &H256) -> Result<Option<TransactionOutcome>, ApiError>;
    /// Encoded transactions waiting in the pool.
    fn pending_transactions(&self) -> Vec<Vec<u8>>;
    /// Next nonce of `account`, counting its transactions in the pool.
    fn account_next_index(&self, account: &AccountId) -> Result<u64, ApiError>;
    /// Balance and nonce of `account` at the best block.
    fn account(&self, account: &AccountId) -> Result<AccountInfo, ApiError>;
    /// Total issuance at the best block.
    fn total_issuance(&self) -> Result<u128, ApiError>;
    /// New best headers.
    fn subscribe_new_heads(&self) -> broadcast::Receiver<Header>;
    /// Newly finalised headers.
    fn subscribe_finalized_heads(&self) -> broadcast::Receiver<Header>;
    /// Whether this node's model store holds the file of model `id`.
    fn model_file_held(&self, _id: &H256) -> bool {
        false
    }
    /// Imports the model file at `path` (on the node's machine) into the model store; the
    /// model must be registered on chain with the file's content id, file root and size.
    /// Returns the content id.
    fn import_model_file(&self, _path: &str) -> Result<H256, ApiError> {
        Err(ApiError::InvalidArgument(
            "this node keeps no model files".into(),
        ))
    }
    /// Starts (or reports) the download of registered model `id` from peers.
    fn fetch_model(&self, _id: &H256) -> Result<ModelFetchStatus, ApiError> {
        Err(ApiError::InvalidArgument(
            "this node keeps no model files".into(),
        ))
    }
    /// The state of the latest download of model `id`, if one was started.
    fn model_fetch_status(&self, _id: &H256) -> Option<ModelFetchStatus> {
        None
    }
}
