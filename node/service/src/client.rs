//! The chain: genesis, block building and import, queries, and the RPC-facing API.
use crate::models::ModelFiles;
use crate::{genesis, Metrics, NodeConfig};
use menara_crypto::BlsSecretKey;
use menara_executor::{Executor, ExecutorConfig, ExecutorError, RuntimeInstance};
use menara_primitives::{
    extrinsics_root, methods, queries, well_known_keys, AccountId, AccountInfo,
    ApplyExtrinsicResult, BeaconSignature, Block, BlockContext, BlockNumber, Header,
    InvalidTransaction, QueryError, RuntimeVersion, TransactionValidity, ValidTransaction,
    ValidatorRecord, H256,
};
use menara_rpc::{
    ApiError, Health, ModelFetchStatus, NodeApi, PeerSummary, ReadProof, SystemInfo,
    TransactionOutcome, TransactionStatus,
};
use menara_state_machine::{OverlayedChanges, StateReader};
use menara_storage::{Database, StorageError};
use menara_txpool::Pool;
use parity_scale_codec::{Decode, DecodeAll, Encode};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Errors of the chain client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The database failed or refused.
    #[error("database: {0}")]
    Storage(#[from] StorageError),
    /// The runtime failed.
    #[error("runtime: {0}")]
    Executor(#[from] ExecutorError),
    /// Genesis could not be built or does not match.
    #[error("genesis: {0}")]
    Genesis(String),
    /// The runtime refused to start a block.
    #[error("runtime refused to initialise block #{number}: {reason}")]
    InitializeBlock {
        /// Height.
        number: BlockNumber,
        /// Why.
        reason: String,
    },
    /// A block to import is invalid.
    #[error("invalid block: {0}")]
    Import(#[from] ImportError),
    /// A runtime query failed.
    #[error("runtime query: {0}")]
    Query(String),
    /// No runtime code in state.
    #[error("no runtime code in state under `:code`")]
    NoCode,
    /// The model store could not be opened.
    #[error("model store: {0}")]
    ModelStore(#[from] menara_model_store::Error),
}

/// Why a block was refused on import.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportError {
    /// It does not build on the best block.
    #[error("block #{number} does not extend the best block #{best} ({best_hash})")]
    NotNext {
        /// Its height.
        number: BlockNumber,
        /// Best height.
        best: BlockNumber,
        /// Best hash.
        best_hash: H256,
    },
    /// A transaction in it is not valid.
    #[error("transaction {index} is invalid: {reason}")]
    InvalidTransaction {
        /// Index in the block.
        index: usize,
        /// Why.
        reason: String,
    },
    /// Its extrinsics root is wrong.
    #[error("extrinsics root mismatch")]
    ExtrinsicsRoot,
    /// Executing it gives another state root.
    #[error("state root mismatch: header says {expected}, execution gives {computed}")]
    StateRoot {
        /// In the header.
        expected: H256,
        /// Computed.
        computed: H256,
    },
}

/// A block executed on the best block and not yet committed: what
/// [`Client::commit_executed`] writes.
pub struct ExecutedBlock {
    /// The block.
    pub block: Block,
    prepared: menara_storage::PreparedState,
    hashes: Vec<H256>,
    outcomes: Vec<menara_primitives::DispatchOutcome>,
    invalid: Vec<(H256, InvalidTransaction)>,
    started: Instant,
}

impl std::fmt::Debug for ExecutedBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecutedBlock")
            .field("number", &self.block.header.number)
            .field("hash", &self.block.hash())
            .field("transactions", &self.block.extrinsics.len())
            .finish()
    }
}

/// What the network task reports about peers and sync.
#[derive(Debug, Clone, Default)]
pub struct NetworkStatus {
    /// Whether the node should have peers (networking on and more than one validator).
    pub networking: bool,
    /// Connected peers.
    pub peers: Vec<PeerSummary>,
    /// Whether the node is catching up.
    pub syncing: bool,
}

/// Milliseconds since the Unix epoch (block timestamps; read by the node, never the runtime).
pub fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The chain client: shared by block authoring, RPC and the informant.
pub struct Client {
    db: Arc<Database>,
    executor: Executor,
    pool: Pool,
    genesis_hash: H256,
    system_info: SystemInfo,
    /// Peers and sync state, kept up to date by the network task.
    network: parking_lot::RwLock<NetworkStatus>,
    /// Where transactions submitted over RPC go to be gossiped (set when networking runs).
    gossip: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Vec<u8>>>>,
    max_block_transactions: usize,
    max_block_bytes: usize,
    /// Serialises block building and import.
    import_lock: Mutex<()>,
    new_heads: broadcast::Sender<Header>,
    finalized_heads: broadcast::Sender<Header>,
    watchers: Mutex<HashMap<H256, broadcast::Sender<TransactionStatus>>>,
    /// Pooled runtime-upgrade proposals whose code check is still running in the
    /// background: blocks this node builds leave them out until it is done.
    checking: Arc<Mutex<std::collections::HashSet<H256>>>,
    /// Outcomes of recently included transactions, for wallets.
    outcomes: Mutex<lru::LruCache<H256, TransactionOutcome>>,
    metrics: Arc<Metrics>,
    /// This node's validator account, to tell blocks it authored from imported ones.
    local_author: Option<AccountId>,
    /// Blocks committed, and how many of them this node authored (for the informant).
    committed_blocks: AtomicU64,
    authored_blocks: AtomicU64,
    /// Model files held by this node, served to peers and fetched from them.
    models: ModelFiles,
}

/// How many included transactions' outcomes are remembered.
const REMEMBERED_OUTCOMES: usize = 100_000;

impl Client {
    /// Opens (or creates) the chain database and checks it belongs to this chain.
    pub fn open(config: &NodeConfig, metrics: Arc<Metrics>) -> Result<Arc<Client>, ClientError> {
        let db = Arc::new(Database::open(&config.chain_path.join("db"))?);
        let executor = Executor::new(ExecutorConfig {
            disk_cache: Some(config.chain_path.join("wasm-cache")),
            ..ExecutorConfig::default()
        })?;
        let genesis_hash = Self::init_genesis(&db, &executor, config)?;
        let (new_heads, _) = broadcast::channel(256);
        let (finalized_heads, _) = broadcast::channel(256);
        let client = Client {
            db,
            executor,
            pool: Pool::new(config.pool.clone()),
            genesis_hash,
            system_info: SystemInfo {
                name: config.name.clone(),
                implementation: "menara".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                chain: config.chain_spec.name.clone(),
            },
            network: parking_lot::RwLock::new(NetworkStatus::default()),
            gossip: Mutex::new(None),
            max_block_transactions: config.max_block_transactions,
            max_block_bytes: config.max_block_bytes,
            import_lock: Mutex::new(()),
            new_heads,
            finalized_heads,
            watchers: Mutex::new(HashMap::new()),
            checking: Default::default(),
            outcomes: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(REMEMBERED_OUTCOMES)
                    .unwrap_or(std::num::NonZeroUsize::MIN),
            )),
            metrics,
            local_author: config.validator.as_ref().map(|k| k.account_id()),
            committed_blocks: AtomicU64::new(0),
            authored_blocks: AtomicU64::new(0),
            models: ModelFiles::open(
                &config.chain_path.join("models"),
                config.test_corrupt_model_chunks,
            )?,
        };
        let (best, _) = client.best();
        let (finalized, _) = client.finalized();
        client.metrics.set_heights(best, finalized);
        Ok(Arc::new(client))
    }

    fn init_genesis(
        db: &Database,
        executor: &Executor,
        config: &NodeConfig,
    ) -> Result<H256, ClientError> {
        let storage = genesis::build_genesis_storage(&config.chain_spec, executor)?;
        let changes: BTreeMap<Vec<u8>, Option<Vec<u8>>> =
            storage.into_iter().map(|(k, v)| (k, Some(v))).collect();
        match db.genesis_hash()? {
            Some(stored) => {
                // Compute the spec's genesis without writing, to refuse another chain's database.
                let root = menara_primitives::trie::root_of(
                    changes
                        .iter()
                        .filter_map(|(k, v)| v.as_ref().map(|v| (k.as_slice(), v.as_slice()))),
                );
                let expected = genesis::genesis_block(root).hash();
                if stored != expected {
                    return Err(ClientError::Genesis(format!(
                        "the database at {} belongs to another chain (genesis {stored}, this chain spec gives {expected}); \
                         use another --base-path or `menara purge-chain`",
                        db.path().display()
                    )));
                }
                Ok(stored)
            }
            None => {
                let prepared = db.prepare(&changes)?;
                let block = genesis::genesis_block(prepared.root());
                let hash = block.hash();
                db.commit_block(&block, prepared, None, true)?;
                tracing::info!(target: "menara", "initialised genesis {hash}");
                Ok(hash)
            }
        }
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> H256 {
        self.genesis_hash
    }

    /// The database.
    pub fn database(&self) -> &Arc<Database> {
        &self.db
    }

    /// Metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The validator set in the latest state (the runtime's `validators` query).
    pub fn validators(&self) -> Result<Vec<ValidatorRecord>, ClientError> {
        let raw = self
            .query_raw(queries::VALIDATORS, &[])
            .map_err(|e| ClientError::Query(e.to_string()))?;
        Vec::<ValidatorRecord>::decode_all(&mut &raw[..])
            .map_err(|e| ClientError::Query(format!("validators: {e}")))
    }

    /// The encoded validator set in the latest state, read straight from storage: cheap to
    /// compare after each block to notice an epoch's new set.
    pub fn validator_set_raw(&self) -> Option<Vec<u8>> {
        self.db
            .storage(&pallet_session::storage::Validators::key())
            .ok()
            .flatten()
    }

    /// Whether `who` is a validator in the latest state.
    pub fn is_validator(&self, who: &AccountId) -> bool {
        self.validators()
            .map(|set| set.iter().any(|v| v.account == *who))
            .unwrap_or(false)
    }

    /// Records what the network task sees, for `system_health` and `system_peers`.
    pub fn set_network_status(&self, status: NetworkStatus) {
        *self.network.write() = status;
    }

    /// Records the connected peers.
    pub fn set_peers(&self, peers: Vec<PeerSummary>) {
        self.network.write().peers = peers;
    }

    /// Whether the node is catching up.
    /// Blocks committed since the node started, and how many of them it authored.
    pub fn block_activity(&self) -> (u64, u64) {
        (
            self.committed_blocks.load(Ordering::Relaxed),
            self.authored_blocks.load(Ordering::Relaxed),
        )
    }

    /// Whether the node is catching up with its peers.
    pub fn health_syncing(&self) -> bool {
        self.network.read().syncing
    }

    /// Marks the node as catching up (or not).
    pub fn set_syncing(&self, syncing: bool) {
        self.network.write().syncing = syncing;
    }

    /// Transactions accepted over RPC are sent here to be gossiped.
    pub fn set_gossip(&self, sender: tokio::sync::mpsc::UnboundedSender<Vec<u8>>) {
        *self.gossip.lock() = Some(sender);
    }

    /// Validates a transaction gossiped by a peer and adds it to the pool. `Ok(true)`: new
    /// and valid (forward it); `Ok(false)`: already known or not useful now; `Err`: invalid.
    pub fn submit_gossiped(&self, ext: Vec<u8>) -> Result<bool, ApiError> {
        if ext.len() > menara_runtime::fees::MAX_LARGE_EXTRINSIC_SIZE {
            return Err(ApiError::InvalidTransaction("too large".into()));
        }
        if self.pool.contains(&menara_primitives::blake3_256(&ext)) {
            return Ok(false);
        }
        // Stale or unpayable transactions may be honest races with a block; only
        // undecodable or badly signed ones are the sender's fault.
        let validity = self
            .validate_transaction(&ext)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let valid = match validity {
            Ok(valid) => valid,
            Err(InvalidTransaction::Malformed | InvalidTransaction::BadSignature) => {
                return Err(ApiError::InvalidTransaction(
                    "malformed or badly signed".into(),
                ))
            }
            Err(_) => return Ok(false),
        };
        match self.submit_valid(ext, valid, false) {
            Ok(_) => Ok(true),
            Err(ApiError::Pool(_) | ApiError::InvalidTransaction(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Best block.
    pub fn best(&self) -> (BlockNumber, H256) {
        self.db
            .best()
            .ok()
            .flatten()
            .unwrap_or((0, self.genesis_hash))
    }

    /// Last final block.
    pub fn finalized(&self) -> (BlockNumber, H256) {
        self.db
            .finalized()
            .ok()
            .flatten()
            .unwrap_or((0, self.genesis_hash))
    }

    /// Ready and future transaction counts.
    pub fn pool_status(&self) -> (usize, usize) {
        (self.pool.ready_len(), self.pool.future_len())
    }

    /// Flushes the database before exit.
    pub fn close(&self) {
        if let Err(e) = self.db.flush() {
            tracing::warn!(target: "menara", "flushing the database failed: {e}");
        }
    }

    fn runtime_code(&self) -> Result<Vec<u8>, ClientError> {
        self.db
            .storage(well_known_keys::CODE)?
            .ok_or(ClientError::NoCode)
    }

    fn backend(&self) -> Arc<dyn StateReader> {
        self.db.clone()
    }

    fn instance(&self) -> Result<RuntimeInstance, ClientError> {
        Ok(self.executor.instantiate(
            &self.runtime_code()?,
            self.backend(),
            OverlayedChanges::new(),
        )?)
    }

    fn block_context(
        &self,
        number: BlockNumber,
        parent_hash: H256,
        timestamp: u64,
        author: AccountId,
        beacon: BeaconSignature,
    ) -> BlockContext {
        BlockContext {
            number,
            parent_hash,
            timestamp,
            author,
            genesis_hash: self.genesis_hash,
            beacon,
        }
    }

    /// The beacon signature the author of block `number` gives with its consensus key.
    pub fn beacon_signature(&self, bls: &BlsSecretKey, number: BlockNumber) -> BeaconSignature {
        BeaconSignature(
            bls.sign(&menara_primitives::beacon_message(
                &self.genesis_hash,
                number,
            ))
            .to_bytes(),
        )
    }

    fn initialize(
        &self,
        inst: &mut RuntimeInstance,
        ctx: &BlockContext,
    ) -> Result<(), ClientError> {
        let r: Result<(), String> = inst.call_decode(methods::INITIALIZE_BLOCK, &ctx)?;
        r.map_err(|reason| ClientError::InitializeBlock {
            number: ctx.number,
            reason,
        })
    }

    /// Builds, commits as final and announces a block from the pool's ready transactions,
    /// spending at most `deadline` applying them (tests and tools; the node proposes through
    /// consensus with [`Client::build_block`]).
    pub fn author_block(
        &self,
        author: AccountId,
        bls: &BlsSecretKey,
        deadline: Duration,
    ) -> Result<Block, ClientError> {
        let executed = self.build_block(author, bls, deadline)?;
        let block = executed.block.clone();
        self.commit_executed(executed, None)?;
        Ok(block)
    }

    /// Builds a block on the best block from the pool's ready transactions, spending at most
    /// `deadline` applying them, without committing it. `bls` is the author's consensus
    /// key, which signs the block's beacon contribution.
    pub fn build_block(
        &self,
        author: AccountId,
        bls: &BlsSecretKey,
        deadline: Duration,
    ) -> Result<ExecutedBlock, ClientError> {
        let started = Instant::now();
        let (best, parent_hash) = self.best();
        let parent_timestamp = self
            .db
            .header(&parent_hash)?
            .map(|h| h.timestamp)
            .unwrap_or(0);
        let ctx = self.block_context(
            best + 1,
            parent_hash,
            unix_millis().max(parent_timestamp + 1),
            author,
            self.beacon_signature(bls, best + 1),
        );
        let code = self.runtime_code()?;
        let mut inst = self
            .executor
            .instantiate(&code, self.backend(), OverlayedChanges::new())?;
        self.initialize(&mut inst, &ctx)?;

        let mut included: Vec<(H256, Vec<u8>)> = Vec::new();
        let mut outcomes: Vec<menara_primitives::DispatchOutcome> = Vec::new();
        let mut invalid: Vec<(H256, InvalidTransaction)> = Vec::new();
        for (hash, ext) in self
            .pool
            .ready_for_block(self.max_block_transactions, self.max_block_bytes)
        {
            if started.elapsed() > deadline {
                break;
            }
            if self.checking.lock().contains(&hash) {
                // Its block would wait for the check; a later block includes it.
                continue;
            }
            match inst.call_decode::<ApplyExtrinsicResult>(methods::APPLY_EXTRINSIC, &ext) {
                Ok(Ok(outcome)) => {
                    included.push((hash, ext));
                    outcomes.push(outcome);
                }
                // Not yet (an earlier nonce is missing) or not in this block (its work
                // does not fit): both stay in the pool.
                Ok(Err(InvalidTransaction::Future | InvalidTransaction::BlockFull)) => {}
                Ok(Err(reason)) => invalid.push((hash, reason)),
                Err(e) => {
                    // The runtime trapped on this transaction: drop it and carry on with a
                    // fresh instance over the changes made so far (the trap's were rolled back).
                    tracing::warn!(target: "menara", "transaction {hash} made the runtime fail: {e}");
                    invalid.push((hash, InvalidTransaction::Malformed));
                    let overlay = inst.into_overlay();
                    inst = self.executor.instantiate(&code, self.backend(), overlay)?;
                }
            }
        }
        inst.call(methods::FINALIZE_BLOCK, &[])?;
        let changes = inst.into_overlay().into_changes();
        let prepared = self.db.prepare(&changes)?;
        let extrinsics: Vec<Vec<u8>> = included.iter().map(|(_, e)| e.clone()).collect();
        let header = Header {
            parent_hash,
            number: ctx.number,
            state_root: prepared.root(),
            extrinsics_root: extrinsics_root(&extrinsics),
            timestamp: ctx.timestamp,
            author,
            beacon: ctx.beacon,
        };
        Ok(ExecutedBlock {
            block: Block { header, extrinsics },
            prepared,
            hashes: included.iter().map(|(h, _)| *h).collect(),
            outcomes,
            invalid,
            started,
        })
    }

    /// Executes and commits, as final, a block received from elsewhere (`import-blocks`,
    /// sync): every transaction must apply, and the roots must match the header.
    /// `justification` is stored with it (the encoded commit certificate).
    pub fn import_block(&self, block: &Block) -> Result<(), ClientError> {
        self.import_justified(block, None)
    }

    /// [`Client::import_block`] storing `justification` with the block.
    pub fn import_justified(
        &self,
        block: &Block,
        justification: Option<&[u8]>,
    ) -> Result<(), ClientError> {
        let executed = self.execute_block(block)?;
        self.commit_executed(executed, justification)
    }

    /// Executes `block` on the best block without committing it: it must extend the best
    /// block, every transaction must apply, and the roots must match the header.
    pub fn execute_block(&self, block: &Block) -> Result<ExecutedBlock, ClientError> {
        let started = Instant::now();
        let (best, best_hash) = self.best();
        let h = &block.header;
        if h.number != best + 1 || h.parent_hash != best_hash {
            return Err(ImportError::NotNext {
                number: h.number,
                best,
                best_hash,
            }
            .into());
        }
        if extrinsics_root(&block.extrinsics) != h.extrinsics_root {
            return Err(ImportError::ExtrinsicsRoot.into());
        }
        let mut inst = self.instance()?;
        self.initialize(
            &mut inst,
            &self.block_context(h.number, h.parent_hash, h.timestamp, h.author, h.beacon),
        )?;
        let mut outcomes = Vec::with_capacity(block.extrinsics.len());
        for (index, ext) in block.extrinsics.iter().enumerate() {
            match inst.call_decode::<ApplyExtrinsicResult>(methods::APPLY_EXTRINSIC, ext) {
                Ok(Ok(outcome)) => outcomes.push(outcome),
                Ok(Err(reason)) => {
                    return Err(ImportError::InvalidTransaction {
                        index,
                        reason: reason.describe().into(),
                    }
                    .into())
                }
                Err(e) => {
                    return Err(ImportError::InvalidTransaction {
                        index,
                        reason: e.to_string(),
                    }
                    .into())
                }
            }
        }
        inst.call(methods::FINALIZE_BLOCK, &[])?;
        let prepared = self.db.prepare(&inst.into_overlay().into_changes())?;
        if prepared.root() != h.state_root {
            return Err(ImportError::StateRoot {
                expected: h.state_root,
                computed: prepared.root(),
            }
            .into());
        }
        let hashes = block
            .extrinsics
            .iter()
            .map(|e| menara_primitives::blake3_256(e))
            .collect();
        Ok(ExecutedBlock {
            block: block.clone(),
            prepared,
            hashes,
            outcomes,
            invalid: Vec::new(),
            started,
        })
    }

    /// Commits an executed block as final, with its justification, in one synced batch, and
    /// announces it. Fails (nothing written) if the best block moved since it was executed.
    pub fn commit_executed(
        &self,
        executed: ExecutedBlock,
        justification: Option<&[u8]>,
    ) -> Result<(), ClientError> {
        let _guard = self.import_lock.lock();
        let ExecutedBlock {
            block,
            prepared,
            hashes,
            outcomes,
            invalid,
            started,
        } = executed;
        self.db
            .commit_block(&block, prepared, justification, true)?;
        self.record_outcomes(&block, &hashes, outcomes);
        self.after_commit(&block, &hashes, &invalid, started);
        Ok(())
    }

    /// Reports an equivocation to the runtime in a transaction signed by this validator's
    /// account; returns the transaction hash.
    pub fn report_equivocation(
        &self,
        keys: &crate::ValidatorKeys,
        proof: menara_primitives::EquivocationProof,
    ) -> Result<H256, ApiError> {
        let who = keys.account_id();
        let nonce = self.account_next_index(&who)?;
        let call =
            menara_runtime::RuntimeCall::Offences(pallet_offences::Call::ReportEquivocation {
                proof,
            });
        let ext =
            menara_chain_spec::keyring::sign(&keys.account, &self.genesis_hash, nonce, 0, call);
        self.submit_transaction(ext)
    }

    /// The stored justification (encoded commit certificate) of a block.
    pub fn justification(&self, hash: &H256) -> Result<Option<Vec<u8>>, ClientError> {
        Ok(self.db.justification(hash)?)
    }

    fn record_outcomes(
        &self,
        block: &Block,
        hashes: &[H256],
        outcomes: Vec<menara_primitives::DispatchOutcome>,
    ) {
        let block_hash = block.hash();
        let mut remembered = self.outcomes.lock();
        for (index, (hash, outcome)) in hashes.iter().zip(outcomes).enumerate() {
            remembered.put(
                *hash,
                TransactionOutcome {
                    block_hash,
                    block_number: block.header.number,
                    index: index as u32,
                    success: outcome.is_ok(),
                    error: outcome.err().map(|e| e.message),
                },
            );
        }
    }

    fn after_commit(
        &self,
        block: &Block,
        included: &[H256],
        invalid: &[(H256, InvalidTransaction)],
        started: Instant,
    ) {
        let hash = block.hash();
        let mut dropped = self.pool.remove_included(included);
        self.pool
            .remove_invalid(&invalid.iter().map(|(h, _)| *h).collect::<Vec<_>>());
        dropped.extend(self.pool.prune(|who| self.state_nonce(who)));
        {
            let mut watchers = self.watchers.lock();
            for h in included {
                if let Some(tx) = watchers.remove(h) {
                    let _ = tx.send(TransactionStatus::InBlock(hash));
                    let _ = tx.send(TransactionStatus::Finalized(hash));
                }
            }
            for (h, _) in invalid {
                if let Some(tx) = watchers.remove(h) {
                    let _ = tx.send(TransactionStatus::Invalid);
                }
            }
            for h in dropped {
                if let Some(tx) = watchers.remove(&h) {
                    let _ = tx.send(TransactionStatus::Dropped);
                }
            }
            watchers.retain(|_, tx| tx.receiver_count() > 0);
        }
        let _ = self.new_heads.send(block.header.clone());
        let _ = self.finalized_heads.send(block.header.clone());
        let took = started.elapsed();
        self.committed_blocks.fetch_add(1, Ordering::Relaxed);
        let authored = self.local_author == Some(block.header.author);
        if authored {
            self.authored_blocks.fetch_add(1, Ordering::Relaxed);
        }
        // One line per block, except while catching up (the informant reports sync progress).
        if !self.health_syncing() {
            tracing::info!(
                target: "menara",
                "{} #{} ({hash}) finalized: {} transaction{}, executed in {:.1} ms",
                if authored { "✨ authored" } else { "📥 imported" },
                block.header.number,
                included.len(),
                if included.len() == 1 { "" } else { "s" },
                took.as_secs_f64() * 1000.0,
            );
        }
        self.metrics
            .observe_block(took.as_secs_f64(), included.len() as u64);
        self.metrics
            .set_heights(block.header.number, block.header.number);
        let (ready, future) = self.pool_status();
        self.metrics.set_pool(ready, future);
    }

    /// The next nonce of `who` in the latest state.
    fn state_nonce(&self, who: &AccountId) -> u64 {
        let key = pallet_system::storage::AccountNonce::key(who);
        match self.db.storage(&key) {
            Ok(Some(raw)) => u64::decode_all(&mut &raw[..]).unwrap_or(0),
            _ => 0,
        }
    }

    /// Validates an encoded transaction against the latest state.
    pub fn validate_transaction(&self, ext: &[u8]) -> Result<TransactionValidity, ClientError> {
        let mut inst = self.instance()?;
        let input = (self.genesis_hash, ext.to_vec());
        Ok(inst.call_decode::<TransactionValidity>(methods::VALIDATE_TRANSACTION, &input)?)
    }

    fn submit(&self, ext: Vec<u8>) -> Result<(H256, bool), ApiError> {
        let validity = self
            .validate_transaction(&ext)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let valid: ValidTransaction =
            validity.map_err(|e| ApiError::InvalidTransaction(e.describe().into()))?;
        self.submit_valid(ext, valid, true)
    }

    fn submit_valid(
        &self,
        ext: Vec<u8>,
        valid: ValidTransaction,
        gossip: bool,
    ) -> Result<(H256, bool), ApiError> {
        let submitted = self
            .pool
            .submit(ext.clone(), valid)
            .map_err(|e| ApiError::Pool(e.to_string()))?;
        self.warm_code_check(submitted.hash, &ext);
        if gossip {
            if let Some(gossip) = self.gossip.lock().as_ref() {
                let _ = gossip.send(ext);
            }
        }
        let mut watchers = self.watchers.lock();
        if let Some(replaced) = submitted.replaced {
            if let Some(tx) = watchers.remove(&replaced) {
                let _ = tx.send(TransactionStatus::Usurped(submitted.hash));
            }
        }
        for h in &submitted.evicted {
            if let Some(tx) = watchers.remove(h) {
                let _ = tx.send(TransactionStatus::Dropped);
            }
        }
        let (ready, future) = self.pool_status();
        self.metrics.set_pool(ready, future);
        Ok((submitted.hash, submitted.ready))
    }

    /// A proposed runtime upgrade entering the pool: the code check its block will run
    /// (a compile and a call, see `Executor::runtime_version`) starts now in the background,
    /// and blocks this node builds leave the proposal out until the answer is cached, so
    /// that neither building nor importing that block stalls on it. Changes nothing but
    /// the executor's caches.
    fn warm_code_check(&self, hash: H256, ext: &[u8]) {
        use menara_runtime::RuntimeCall;
        // Runtime code travels only in large transactions: every other one (the pool's hot
        // path) is not decoded a second time.
        if ext.len() <= menara_runtime::fees::MAX_EXTRINSIC_SIZE {
            return;
        }
        let Ok(tx) = menara_runtime::Transaction::decode_all(&mut &ext[..]) else {
            return;
        };
        let RuntimeCall::Governance(pallet_governance::Call::Propose { call }) = tx.call else {
            return;
        };
        let Ok(RuntimeCall::System(pallet_system::Call::SetCode { code })) =
            RuntimeCall::decode_all(&mut &call[..])
        else {
            return;
        };
        let executor = self.executor.clone();
        let checking = self.checking.clone();
        checking.lock().insert(hash);
        let spawned = std::thread::Builder::new()
            .name("code-check".into())
            .spawn(move || {
                executor.runtime_version(&code);
                checking.lock().remove(&hash);
            });
        if let Err(e) = spawned {
            self.checking.lock().remove(&hash);
            tracing::warn!(target: "menara", "cannot start checking proposed code: {e}");
        }
    }

    fn check_at(&self, at: Option<H256>) -> Result<H256, ApiError> {
        let (_, best_hash) = self.best();
        match at {
            None => Ok(best_hash),
            Some(h) if h == best_hash => Ok(h),
            Some(h) => match self
                .db
                .header(&h)
                .map_err(|e| ApiError::Internal(e.to_string()))?
            {
                Some(_) => Err(ApiError::StateUnavailable(format!(
                    "block {h} is known but only the state of the best block ({best_hash}) is kept"
                ))),
                None => Err(ApiError::UnknownBlock(h.to_string())),
            },
        }
    }

    fn query_raw(&self, method: &[u8], args: &[u8]) -> Result<Vec<u8>, ApiError> {
        let mut inst = self
            .instance()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let r: Result<Vec<u8>, QueryError> = inst
            .call_decode(methods::QUERY, &(method.to_vec(), args.to_vec()))
            .map_err(|e| ApiError::Runtime(e.to_string()))?;
        r.map_err(|e| match e {
            QueryError::UnknownMethod => ApiError::InvalidArgument(format!(
                "unknown query {:?}",
                String::from_utf8_lossy(method)
            )),
            QueryError::BadArguments => {
                ApiError::InvalidArgument("query arguments do not decode".into())
            }
        })
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

impl Client {
    /// The node's model files.
    pub fn model_files(&self) -> &ModelFiles {
        &self.models
    }

    /// The registry's record of model `id` (content id, file root, size), if registered.
    fn registered_model(
        &self,
        id: &H256,
    ) -> Result<Option<menara_model_store::ModelMeta>, ApiError> {
        let raw = self.query_raw(b"models_get", &id.encode())?;
        let view = Option::<pallet_models::ModelView>::decode_all(&mut &raw[..])
            .map_err(|e| ApiError::Internal(format!("models_get answer: {e}")))?;
        Ok(view.map(|v| menara_model_store::ModelMeta {
            id: v.id.0,
            file_root: v.info.file_root.0,
            size: v.info.size,
        }))
    }
}

impl NodeApi for Client {
    fn system_info(&self) -> SystemInfo {
        self.system_info.clone()
    }

    fn health(&self) -> Health {
        let network = self.network.read();
        Health {
            peers: network.peers.len() as u32,
            is_syncing: network.syncing,
            should_have_peers: network.networking,
        }
    }

    fn peers(&self) -> Vec<PeerSummary> {
        self.network.read().peers.clone()
    }

    fn justification(&self, hash: &H256) -> Result<Option<Vec<u8>>, ApiError> {
        self.db.justification(hash).map_err(internal)
    }

    fn header(&self, at: Option<H256>) -> Result<Option<Header>, ApiError> {
        let hash = at.unwrap_or_else(|| self.best().1);
        self.db.header(&hash).map_err(internal)
    }

    fn block(&self, at: Option<H256>) -> Result<Option<Block>, ApiError> {
        let hash = at.unwrap_or_else(|| self.best().1);
        self.db.block(&hash).map_err(internal)
    }

    fn block_hash(&self, number: Option<BlockNumber>) -> Result<Option<H256>, ApiError> {
        match number {
            None => Ok(Some(self.best().1)),
            Some(n) => self.db.hash_at(n).map_err(internal),
        }
    }

    fn finalized_head(&self) -> Result<H256, ApiError> {
        Ok(self.finalized().1)
    }

    fn storage(&self, key: &[u8], at: Option<H256>) -> Result<Option<Vec<u8>>, ApiError> {
        self.check_at(at)?;
        self.db.storage(key).map_err(internal)
    }

    fn read_proof(&self, keys: &[Vec<u8>], at: Option<H256>) -> Result<ReadProof, ApiError> {
        self.check_at(at)?;
        // A block may be committed between reading the best block and proving: retry
        // until the proofs' root is the best header's.
        for _ in 0..10 {
            let (_, best_hash) = self.best();
            let (state_root, entries) = self.db.read_proof(keys).map_err(internal)?;
            let header = self.db.header(&best_hash).map_err(internal)?;
            if header.is_some_and(|h| h.state_root == state_root) {
                return Ok(ReadProof {
                    at: best_hash,
                    state_root,
                    entries,
                });
            }
        }
        Err(ApiError::StateUnavailable(
            "the chain moved on while proving; try again".into(),
        ))
    }

    fn runtime_version(&self, at: Option<H256>) -> Result<RuntimeVersion, ApiError> {
        self.check_at(at)?;
        let mut inst = self.instance().map_err(internal)?;
        inst.call_decode(methods::VERSION, &())
            .map_err(|e| ApiError::Runtime(e.to_string()))
    }

    fn query(&self, method: &str, args: &[u8], at: Option<H256>) -> Result<Vec<u8>, ApiError> {
        self.check_at(at)?;
        self.query_raw(method.as_bytes(), args)
    }

    fn submit_transaction(&self, extrinsic: Vec<u8>) -> Result<H256, ApiError> {
        self.submit(extrinsic).map(|(h, _)| h)
    }

    fn submit_and_watch(
        &self,
        extrinsic: Vec<u8>,
    ) -> Result<(H256, broadcast::Receiver<TransactionStatus>), ApiError> {
        let (tx, rx) = broadcast::channel(8);
        // Register before submitting so a block built in between is not missed.
        let hash = menara_primitives::blake3_256(&extrinsic);
        if self.pool.contains(&hash) {
            return Err(ApiError::Pool(format!(
                "transaction {hash} is already in the pool"
            )));
        }
        self.watchers.lock().insert(hash, tx.clone());
        match self.submit(extrinsic) {
            Ok((hash, ready)) => {
                let _ = tx.send(if ready {
                    TransactionStatus::Ready
                } else {
                    TransactionStatus::Future
                });
                Ok((hash, rx))
            }
            Err(e) => {
                self.watchers.lock().remove(&hash);
                Err(e)
            }
        }
    }

    fn transaction_outcome(&self, hash: &H256) -> Result<Option<TransactionOutcome>, ApiError> {
        Ok(self.outcomes.lock().get(hash).cloned())
    }

    fn pending_transactions(&self) -> Vec<Vec<u8>> {
        self.pool.pending()
    }

    fn account_next_index(&self, account: &AccountId) -> Result<u64, ApiError> {
        let state = self.state_nonce(account);
        Ok(self
            .pool
            .next_nonce(account)
            .map_or(state, |n| n.max(state)))
    }

    fn account(&self, account: &AccountId) -> Result<AccountInfo, ApiError> {
        let raw = self.query_raw(queries::ACCOUNT, &account.encode())?;
        AccountInfo::decode(&mut &raw[..]).map_err(internal)
    }

    fn total_issuance(&self) -> Result<u128, ApiError> {
        let raw = self.query_raw(queries::TOTAL_ISSUANCE, &[])?;
        u128::decode(&mut &raw[..]).map_err(internal)
    }

    fn subscribe_new_heads(&self) -> broadcast::Receiver<Header> {
        self.new_heads.subscribe()
    }

    fn subscribe_finalized_heads(&self) -> broadcast::Receiver<Header> {
        self.finalized_heads.subscribe()
    }

    fn model_file_held(&self, id: &H256) -> bool {
        self.models.held(id)
    }

    fn import_model_file(&self, path: &str) -> Result<H256, ApiError> {
        let path = std::path::Path::new(path);
        let size = std::fs::metadata(path)
            .map_err(|e| ApiError::InvalidArgument(format!("{}: {e}", path.display())))?
            .len();
        if size > menara_model_store::MAX_MODEL_BYTES {
            return Err(ApiError::InvalidArgument(format!(
                "{}: {size} bytes is more than the largest model ({} bytes)",
                path.display(),
                menara_model_store::MAX_MODEL_BYTES
            )));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| ApiError::InvalidArgument(format!("{}: {e}", path.display())))?;
        let id = H256(
            menara_model_store::content_id(&bytes)
                .map_err(|e| ApiError::InvalidArgument(format!("{}: {e}", path.display())))?,
        );
        let meta = self.registered_model(&id)?.ok_or_else(|| {
            ApiError::InvalidArgument(format!(
                "model {id} is not registered on chain: register it first (`menara model publish`)"
            ))
        })?;
        self.models.import(&bytes, &meta)?;
        tracing::info!(target: "menara", "📦 model {id} imported ({size} bytes)");
        Ok(id)
    }

    fn fetch_model(&self, id: &H256) -> Result<ModelFetchStatus, ApiError> {
        let meta = self.registered_model(id)?.ok_or_else(|| {
            ApiError::InvalidArgument(format!("model {id} is not registered on chain"))
        })?;
        self.models.start_fetch(meta)
    }

    fn model_fetch_status(&self, id: &H256) -> Option<ModelFetchStatus> {
        self.models.status(id)
    }
}
