//! The node's database: blocks, the canonical chain, finality pointers and the latest
//! state with its Merkle trie, in RocksDB.
//!
//! # Layout
//! | column family    | key                         | value                                   |
//! |------------------|-----------------------------|-----------------------------------------|
//! | `headers`        | block hash                  | SCALE [`Header`]                        |
//! | `bodies`         | block hash                  | SCALE `Vec<Vec<u8>>` (extrinsics)       |
//! | `numbers`        | big-endian `u64` number     | block hash (canonical chain)            |
//! | `justifications` | block hash                  | opaque bytes (finality certificate)     |
//! | `state`          | raw storage key             | value (the **latest** state only)       |
//! | `trie`           | node hash                   | SCALE [`trie::Node`]                    |
//! | `meta`           | `genesis`, `best`, ...      | SCALE values (see `meta_keys`)          |
//!
//! # State
//! Only the latest state is kept: a block's state changes overwrite the `state` column
//! and the trie nodes the new root no longer uses are deleted in the same batch. Reads
//! and proofs are therefore served for the best block only.
//!
//! # Writing a block
//! 1. [`Database::prepare`] computes the new state root from a [`ChangeSet`] without
//!    writing anything;
//! 2. [`Database::commit_block`] checks the block against it and writes header, body,
//!    number index, justification, state, trie nodes and pointers in **one** atomic
//!    `WriteBatch` (synced to disk): after a crash the database holds either the whole
//!    block or none of it.
//!
//! Commits are serialised by an internal lock; readers that need a consistent
//! (root, proof) pair ([`Database::read_proof`], [`Database::prepare`]) take it shared.
use std::path::{Path, PathBuf};

use menara_primitives::trie::{self, Node, NodeReader, StateProof, TrieError, TrieUpdate};
use menara_primitives::{Block, BlockNumber, Header, H256};
use menara_state_machine::{ChangeSet, StateError, StateReader};
use parity_scale_codec::{Decode, DecodeAll, Encode};
use parking_lot::RwLock;
use rocksdb::{
    BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions, DB,
};

/// Version of the on-disk layout; raised on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Column family names.
pub mod columns {
    /// Block hash → SCALE header.
    pub const HEADERS: &str = "headers";
    /// Block hash → SCALE `Vec<Vec<u8>>` extrinsics.
    pub const BODIES: &str = "bodies";
    /// Big-endian block number → block hash, for the canonical chain.
    pub const NUMBERS: &str = "numbers";
    /// Block hash → opaque justification (finality certificate).
    pub const JUSTIFICATIONS: &str = "justifications";
    /// Raw storage key → value of the latest state.
    pub const STATE: &str = "state";
    /// Trie node hash → SCALE trie node.
    pub const TRIE: &str = "trie";
    /// Chain pointers and schema version.
    pub const META: &str = "meta";
    /// All of them.
    pub const ALL: [&str; 7] = [HEADERS, BODIES, NUMBERS, JUSTIFICATIONS, STATE, TRIE, META];
}

/// Keys in the `meta` column family.
pub mod meta_keys {
    /// SCALE `u32`: [`super::SCHEMA_VERSION`] of the files.
    pub const SCHEMA_VERSION: &[u8] = b"schema_version";
    /// SCALE `H256`: hash of block 0.
    pub const GENESIS: &[u8] = b"genesis";
    /// SCALE `(u64, H256)`: the best (head) block.
    pub const BEST: &[u8] = b"best";
    /// SCALE `(u64, H256)`: the last finalized block.
    pub const FINALIZED: &[u8] = b"finalized";
    /// SCALE `H256`: root of the latest state (absent means empty: zero).
    pub const STATE_ROOT: &[u8] = b"state_root";
}

const PURGE_HINT: &str = "remove the chain database (`menara purge-chain`) and resync";

/// Errors of the database.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StorageError {
    /// The database could not be opened.
    #[error("cannot open the database at {}: {reason}", path.display())]
    Open {
        /// The directory.
        path: PathBuf,
        /// What went wrong and what to do about it.
        reason: String,
    },
    /// A record could not be decoded or a record that must exist is missing.
    #[error("database corrupt: {0}; {PURGE_HINT}")]
    Corrupt(String),
    /// The files were written by an incompatible version of the node.
    #[error("database schema version {found} is not supported (this node uses {expected}); {PURGE_HINT}")]
    SchemaVersion {
        /// Version this node writes.
        expected: u32,
        /// Version found on disk.
        found: u32,
    },
    /// The database belongs to another chain.
    #[error("database holds the chain with genesis {found}, but the chain spec's genesis is {expected}; use another --base-path or purge the chain")]
    GenesisMismatch {
        /// Genesis hash the caller expects.
        expected: H256,
        /// Genesis hash stored.
        found: H256,
    },
    /// RocksDB failed.
    #[error("database backend: {0}")]
    Backend(String),
    /// The block does not extend the best block (or is a second genesis).
    #[error("block #{number} ({hash}) does not extend the best block: {reason}")]
    NotExtendingBest {
        /// Number of the refused block.
        number: BlockNumber,
        /// Hash of the refused block.
        hash: H256,
        /// Why.
        reason: String,
    },
    /// The header's state root differs from the root the changes produce.
    #[error("state root mismatch: header says {header}, changes give {computed}")]
    StateRootMismatch {
        /// Root in the header.
        header: H256,
        /// Root of the prepared state.
        computed: H256,
    },
    /// The prepared state was computed on a root that is no longer the latest.
    #[error("stale prepared state: computed on root {prepared_on}, but the latest root is now {current}")]
    StalePrepare {
        /// Root the changes were applied to.
        prepared_on: H256,
        /// The current root.
        current: H256,
    },
    /// A finality pointer that does not name a canonical block, or moves backwards.
    #[error("cannot finalize #{number} ({hash}): {reason}")]
    InvalidFinalized {
        /// Number given.
        number: BlockNumber,
        /// Hash given.
        hash: H256,
        /// Why.
        reason: String,
    },
    /// The trie could not be updated (e.g. a 256-bit path collision).
    #[error("state trie: {0}")]
    Trie(String),
}

impl From<rocksdb::Error> for StorageError {
    fn from(e: rocksdb::Error) -> Self {
        let s = e.into_string();
        if s.starts_with("Corruption") {
            StorageError::Corrupt(s)
        } else {
            StorageError::Backend(s)
        }
    }
}

impl From<StorageError> for StateError {
    fn from(e: StorageError) -> Self {
        StateError::Backend(e.to_string())
    }
}

impl From<TrieError<StorageError>> for StorageError {
    fn from(e: TrieError<StorageError>) -> Self {
        match e {
            TrieError::Store(e) => e,
            TrieError::MissingNode(h) => StorageError::Corrupt(format!("trie node {h} is missing")),
            TrieError::PathCollision => StorageError::Trie("two keys share a 256-bit path".into()),
        }
    }
}

/// Chain pointers kept in memory; updated only after a successful write.
#[derive(Debug, Clone, Default)]
struct Meta {
    genesis: Option<H256>,
    best: Option<(BlockNumber, H256)>,
    finalized: Option<(BlockNumber, H256)>,
    state_root: H256,
}

/// A state change computed by [`Database::prepare`] and not yet written.
///
/// Fields are private so that a prepared state always matches the root it was computed
/// on; [`Database::commit_block`] refuses it if that root is no longer the latest.
#[derive(Debug, Clone)]
pub struct PreparedState {
    base_root: H256,
    update: TrieUpdate,
    changes: ChangeSet,
}

impl PreparedState {
    /// The state root after the changes.
    pub fn root(&self) -> H256 {
        self.update.root
    }
    /// The root the changes were applied to.
    pub fn base_root(&self) -> H256 {
        self.base_root
    }
    /// The key-value changes.
    pub fn changes(&self) -> &ChangeSet {
        &self.changes
    }
    /// The trie nodes to insert and remove.
    pub fn trie_update(&self) -> &TrieUpdate {
        &self.update
    }
}

/// A value with its proof against a state root: `(key, value, proof)`.
pub type ProvenValue = (Vec<u8>, Option<Vec<u8>>, StateProof);

/// The node's RocksDB database. `Send + Sync`; share it with `Arc<Database>`.
///
/// Reading the latest state: `Database` implements [`StateReader`] (`&*arc` coerces to
/// `&dyn StateReader`).
pub struct Database {
    db: DB,
    path: PathBuf,
    /// Cached pointers; the write lock serialises commits.
    meta: RwLock<Meta>,
    /// Recently used trie nodes. Nodes are content-addressed and never change, so an
    /// entry can only be stale by being deleted, and a deleted node is never reached
    /// from the current root.
    trie_cache: Option<parking_lot::Mutex<lru::LruCache<H256, Node>>>,
}

/// Tuning of a [`Database`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    /// Trie nodes kept in memory (about 100 bytes each); 0 disables the cache.
    pub trie_cache_nodes: usize,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            trie_cache_nodes: 262_144,
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .field("meta", &*self.meta.read())
            .finish()
    }
}

fn decode<T: Decode>(bytes: &[u8], what: &str) -> Result<T, StorageError> {
    T::decode_all(&mut &bytes[..])
        .map_err(|e| StorageError::Corrupt(format!("undecodable {what}: {e}")))
}

fn decode_hash(bytes: &[u8], what: &str) -> Result<H256, StorageError> {
    let arr: [u8; 32] = bytes.try_into().map_err(|_| {
        StorageError::Corrupt(format!("{what} has {} bytes, expected 32", bytes.len()))
    })?;
    Ok(H256(arr))
}

fn open_error(path: &Path, e: rocksdb::Error) -> StorageError {
    let msg = e.into_string();
    let hint = if msg.contains("lock") {
        "is another menara process using this directory?"
    } else {
        "the files are corrupt or not a menara database: remove the chain database (`menara purge-chain`) and resync"
    };
    StorageError::Open {
        path: path.to_path_buf(),
        reason: format!("{msg} ({hint})"),
    }
}

impl Database {
    /// Opens the database at `path`, creating it (and any missing column family) if
    /// needed. Files that are corrupt or unreadable give an error saying so, as does a
    /// database of another [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        Self::open_with(path, DatabaseConfig::default())
    }

    /// [`Database::open`] with explicit tuning.
    pub fn open_with(path: &Path, config: DatabaseConfig) -> Result<Self, StorageError> {
        if path.exists() && !path.is_dir() {
            return Err(StorageError::Open {
                path: path.to_path_buf(),
                reason: "exists and is not a directory".into(),
            });
        }
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_paranoid_checks(true);
        let descriptors = columns::ALL.iter().map(|name| {
            let mut cf_opts = Options::default();
            if *name == columns::STATE || *name == columns::TRIE || *name == columns::HEADERS {
                let mut table = BlockBasedOptions::default();
                table.set_bloom_filter(10.0, false);
                cf_opts.set_block_based_table_factory(&table);
            }
            ColumnFamilyDescriptor::new(*name, cf_opts)
        });
        let db =
            DB::open_cf_descriptors(&opts, path, descriptors).map_err(|e| open_error(path, e))?;
        let this = Database {
            db,
            path: path.to_path_buf(),
            meta: RwLock::new(Meta::default()),
            trie_cache: std::num::NonZeroUsize::new(config.trie_cache_nodes)
                .map(|n| parking_lot::Mutex::new(lru::LruCache::new(n))),
        };
        this.check_schema()?;
        let meta = this.load_meta()?;
        *this.meta.write() = meta;
        tracing::debug!(target: "storage", path = %path.display(), "database opened");
        Ok(this)
    }

    /// The directory the database lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cf(&self, name: &str) -> Result<&ColumnFamily, StorageError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StorageError::Backend(format!("column family `{name}` missing")))
    }

    fn get_raw(&self, cf: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .db
            .get_pinned_cf(self.cf(cf)?, key)?
            .map(|v| v.to_vec()))
    }

    fn check_schema(&self) -> Result<(), StorageError> {
        match self.get_raw(columns::META, meta_keys::SCHEMA_VERSION)? {
            Some(bytes) => {
                let found: u32 = decode(&bytes, "schema version")?;
                if found != SCHEMA_VERSION {
                    return Err(StorageError::SchemaVersion {
                        expected: SCHEMA_VERSION,
                        found,
                    });
                }
                Ok(())
            }
            None => {
                // A fresh database, or one with records but no version: refuse the latter.
                if self.get_raw(columns::META, meta_keys::BEST)?.is_some() {
                    return Err(StorageError::Corrupt("schema version missing".into()));
                }
                let mut opts = WriteOptions::default();
                opts.set_sync(true);
                let mut batch = WriteBatch::default();
                batch.put_cf(
                    self.cf(columns::META)?,
                    meta_keys::SCHEMA_VERSION,
                    SCHEMA_VERSION.encode(),
                );
                self.db.write_opt(batch, &opts)?;
                Ok(())
            }
        }
    }

    fn load_meta(&self) -> Result<Meta, StorageError> {
        let pointer =
            |key: &[u8], what: &str| -> Result<Option<(BlockNumber, H256)>, StorageError> {
                self.get_raw(columns::META, key)?
                    .map(|b| decode::<(BlockNumber, H256)>(&b, what))
                    .transpose()
            };
        let genesis = self
            .get_raw(columns::META, meta_keys::GENESIS)?
            .map(|b| decode_hash(&b, "genesis hash"))
            .transpose()?;
        let best = pointer(meta_keys::BEST, "best block pointer")?;
        let finalized = pointer(meta_keys::FINALIZED, "finalized block pointer")?;
        let state_root = self
            .get_raw(columns::META, meta_keys::STATE_ROOT)?
            .map(|b| decode_hash(&b, "state root"))
            .transpose()?
            .unwrap_or_default();
        // Cheap consistency checks: the pointers name stored records.
        if let Some((n, h)) = best {
            let header = self
                .header(&h)?
                .ok_or_else(|| StorageError::Corrupt(format!("best block {h} has no header")))?;
            if header.number != n || header.state_root != state_root {
                return Err(StorageError::Corrupt(format!(
                    "best block #{n} {h} disagrees with its header"
                )));
            }
            if genesis.is_none() {
                return Err(StorageError::Corrupt(
                    "best block set but genesis hash missing".into(),
                ));
            }
        }
        if !state_root.is_zero()
            && self
                .get_raw(columns::TRIE, state_root.as_bytes())?
                .is_none()
        {
            return Err(StorageError::Corrupt(format!(
                "trie root node {state_root} is missing"
            )));
        }
        Ok(Meta {
            genesis,
            best,
            finalized,
            state_root,
        })
    }

    /// Hash of block 0, once stored.
    pub fn genesis_hash(&self) -> Result<Option<H256>, StorageError> {
        Ok(self.meta.read().genesis)
    }

    /// Checks that the stored genesis (if any) is `expected`.
    pub fn check_genesis(&self, expected: &H256) -> Result<(), StorageError> {
        match self.meta.read().genesis {
            Some(found) if found != *expected => Err(StorageError::GenesisMismatch {
                expected: *expected,
                found,
            }),
            _ => Ok(()),
        }
    }

    /// The best (head) block: `(number, hash)`; `None` for an empty database.
    pub fn best(&self) -> Result<Option<(BlockNumber, H256)>, StorageError> {
        Ok(self.meta.read().best)
    }

    /// The last finalized block, if any.
    pub fn finalized(&self) -> Result<Option<(BlockNumber, H256)>, StorageError> {
        Ok(self.meta.read().finalized)
    }

    /// Root of the latest state (the best block's `state_root`); zero when empty.
    pub fn state_root(&self) -> Result<H256, StorageError> {
        Ok(self.meta.read().state_root)
    }

    /// The header of block `hash`.
    pub fn header(&self, hash: &H256) -> Result<Option<Header>, StorageError> {
        self.get_raw(columns::HEADERS, hash.as_bytes())?
            .map(|b| decode(&b, "header"))
            .transpose()
    }

    /// The extrinsics of block `hash`.
    pub fn body(&self, hash: &H256) -> Result<Option<Vec<Vec<u8>>>, StorageError> {
        self.get_raw(columns::BODIES, hash.as_bytes())?
            .map(|b| decode(&b, "block body"))
            .transpose()
    }

    /// Header and body of block `hash`.
    pub fn block(&self, hash: &H256) -> Result<Option<Block>, StorageError> {
        let Some(header) = self.header(hash)? else {
            return Ok(None);
        };
        let extrinsics = self.body(hash)?.ok_or_else(|| {
            StorageError::Corrupt(format!("block {hash} has a header but no body"))
        })?;
        Ok(Some(Block { header, extrinsics }))
    }

    /// Hash of the canonical block at `number`.
    pub fn hash_at(&self, number: BlockNumber) -> Result<Option<H256>, StorageError> {
        self.get_raw(columns::NUMBERS, &number.to_be_bytes())?
            .map(|b| decode_hash(&b, "number index entry"))
            .transpose()
    }

    /// The justification (finality certificate) stored for block `hash`.
    pub fn justification(&self, hash: &H256) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_raw(columns::JUSTIFICATIONS, hash.as_bytes())
    }

    /// Value of `key` in the latest state.
    pub fn storage(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_raw(columns::STATE, key)
    }

    /// The smallest key of the latest state strictly greater than `key`.
    pub fn next_storage_key(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let mut it = self.db.raw_iterator_cf(self.cf(columns::STATE)?);
        // `key || 0x00` is the smallest byte string strictly greater than `key`.
        let mut seek = Vec::with_capacity(key.len() + 1);
        seek.extend_from_slice(key);
        seek.push(0);
        it.seek(&seek);
        if it.valid() {
            return Ok(it.key().map(<[u8]>::to_vec));
        }
        it.status()?;
        Ok(None)
    }

    /// Computes the state root after `changes` on top of the latest state, writing
    /// nothing. Hand the result to [`Database::commit_block`].
    pub fn prepare(&self, changes: &ChangeSet) -> Result<PreparedState, StorageError> {
        let mut hashed: Vec<(H256, Option<H256>)> = changes
            .iter()
            .map(|(k, v)| {
                (
                    menara_primitives::blake3_256(k),
                    v.as_deref().map(menara_primitives::blake3_256),
                )
            })
            .collect();
        hashed.sort_by_key(|c| c.0);
        // Keys are distinct in the map; equal hashes would be a blake3 collision.
        if hashed.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(StorageError::Trie("two keys share a 256-bit path".into()));
        }
        // Shared lock: no commit may delete nodes while we walk the trie.
        let meta = self.meta.read();
        let base_root = meta.state_root;
        let update = trie::apply_changes(&TrieNodes(self), base_root, &hashed)?;
        drop(meta);
        Ok(PreparedState {
            base_root,
            update,
            changes: changes.clone(),
        })
    }

    /// Writes `block`, its state changes and pointers in one atomic batch.
    ///
    /// Refused (nothing written) unless the block extends the best block (or is block 0
    /// on an empty database), `prepared` was computed on the latest root, and its root
    /// equals the header's. Sets the best pointer to this block, the finalized pointer
    /// too if `finalized`, and the genesis hash for block 0.
    pub fn commit_block(
        &self,
        block: &Block,
        prepared: PreparedState,
        justification: Option<&[u8]>,
        finalized: bool,
    ) -> Result<(), StorageError> {
        let header = &block.header;
        let hash = header.hash();
        let number = header.number;
        let mut meta = self.meta.write();
        let refuse = |reason: String| StorageError::NotExtendingBest {
            number,
            hash,
            reason,
        };
        match meta.best {
            None if number != 0 => {
                return Err(refuse("the database is empty: block 0 comes first".into()))
            }
            None if !header.parent_hash.is_zero() => {
                return Err(refuse("genesis must have a zero parent hash".into()))
            }
            Some(_) if number == 0 => {
                return Err(refuse("a genesis block is already stored".into()))
            }
            Some((best_n, best_h))
                if number != best_n.saturating_add(1) || header.parent_hash != best_h =>
            {
                return Err(refuse(format!(
                    "best is #{best_n} ({best_h}), block's parent is {} at #{}",
                    header.parent_hash,
                    number.saturating_sub(1)
                )))
            }
            _ => {}
        }
        if prepared.base_root != meta.state_root {
            return Err(StorageError::StalePrepare {
                prepared_on: prepared.base_root,
                current: meta.state_root,
            });
        }
        if prepared.update.root != header.state_root {
            return Err(StorageError::StateRootMismatch {
                header: header.state_root,
                computed: prepared.update.root,
            });
        }

        let mut batch = WriteBatch::default();
        let key = hash.as_bytes();
        batch.put_cf(self.cf(columns::HEADERS)?, key, header.encode());
        batch.put_cf(self.cf(columns::BODIES)?, key, block.extrinsics.encode());
        batch.put_cf(self.cf(columns::NUMBERS)?, number.to_be_bytes(), key);
        if let Some(j) = justification {
            batch.put_cf(self.cf(columns::JUSTIFICATIONS)?, key, j);
        }
        let state = self.cf(columns::STATE)?;
        for (k, v) in &prepared.changes {
            match v {
                Some(v) => batch.put_cf(state, k, v),
                None => batch.delete_cf(state, k),
            }
        }
        let trie_cf = self.cf(columns::TRIE)?;
        for h in &prepared.update.removed {
            batch.delete_cf(trie_cf, h.as_bytes());
        }
        for (h, node) in &prepared.update.inserted {
            batch.put_cf(trie_cf, h.as_bytes(), node.encode());
        }
        let meta_cf = self.cf(columns::META)?;
        batch.put_cf(meta_cf, meta_keys::BEST, (number, hash).encode());
        if finalized {
            batch.put_cf(meta_cf, meta_keys::FINALIZED, (number, hash).encode());
        }
        batch.put_cf(
            meta_cf,
            meta_keys::STATE_ROOT,
            prepared.update.root.encode(),
        );
        if number == 0 {
            batch.put_cf(meta_cf, meta_keys::GENESIS, hash.encode());
        }
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts)?;
        if let Some(cache) = &self.trie_cache {
            let mut cache = cache.lock();
            for h in &prepared.update.removed {
                cache.pop(h);
            }
            for (h, node) in &prepared.update.inserted {
                cache.put(*h, *node);
            }
        }

        meta.best = Some((number, hash));
        if finalized {
            meta.finalized = Some((number, hash));
        }
        meta.state_root = prepared.update.root;
        if number == 0 {
            meta.genesis = Some(hash);
        }
        tracing::debug!(target: "storage", number, %hash, changes = prepared.changes.len(), finalized, "block committed");
        Ok(())
    }

    /// Moves the finalized pointer to the canonical block `(number, hash)`. It may not
    /// move backwards; the block must be on the canonical chain (so at most the best).
    pub fn set_finalized(&self, number: BlockNumber, hash: H256) -> Result<(), StorageError> {
        self.finalize(number, hash, None)
    }

    /// [`Database::set_finalized`] and store the block's justification, atomically.
    pub fn set_finalized_with_justification(
        &self,
        number: BlockNumber,
        hash: H256,
        justification: &[u8],
    ) -> Result<(), StorageError> {
        self.finalize(number, hash, Some(justification))
    }

    fn finalize(
        &self,
        number: BlockNumber,
        hash: H256,
        justification: Option<&[u8]>,
    ) -> Result<(), StorageError> {
        let mut meta = self.meta.write();
        let refuse = |reason: String| StorageError::InvalidFinalized {
            number,
            hash,
            reason,
        };
        if self.hash_at(number)? != Some(hash) {
            return Err(refuse("not the canonical block at that height".into()));
        }
        if let Some((f, _)) = meta.finalized {
            if number < f {
                return Err(refuse(format!("block #{f} is already finalized")));
            }
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(columns::META)?,
            meta_keys::FINALIZED,
            (number, hash).encode(),
        );
        if let Some(j) = justification {
            batch.put_cf(self.cf(columns::JUSTIFICATIONS)?, hash.as_bytes(), j);
        }
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts)?;
        meta.finalized = Some((number, hash));
        Ok(())
    }

    /// Values of `keys` in the latest state with Merkle proofs, all against the
    /// returned root (read under the commit lock, so consistent).
    pub fn read_proof(&self, keys: &[Vec<u8>]) -> Result<(H256, Vec<ProvenValue>), StorageError> {
        let meta = self.meta.read();
        let root = meta.state_root;
        let nodes = TrieNodes(self);
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let value = self.storage(key)?;
            let proof = trie::prove(&nodes, &root, key)?;
            out.push((key.clone(), value, proof));
        }
        drop(meta);
        Ok((root, out))
    }

    /// Flushes memtables to table files (e.g. before shutdown). Not needed for
    /// durability: every commit is already in the synced write-ahead log.
    pub fn flush(&self) -> Result<(), StorageError> {
        for name in columns::ALL {
            self.db.flush_cf(self.cf(name)?)?;
        }
        Ok(())
    }
}

/// Trie nodes read from the `trie` column family.
struct TrieNodes<'a>(&'a Database);

impl NodeReader for TrieNodes<'_> {
    type Error = StorageError;
    fn node(&self, hash: &H256) -> Result<Option<Node>, StorageError> {
        if let Some(cache) = &self.0.trie_cache {
            if let Some(node) = cache.lock().get(hash) {
                return Ok(Some(*node));
            }
        }
        let node: Option<Node> = self
            .0
            .get_raw(columns::TRIE, hash.as_bytes())?
            .map(|b| decode(&b, "trie node"))
            .transpose()?;
        if let (Some(cache), Some(node)) = (&self.0.trie_cache, node) {
            cache.lock().put(*hash, node);
        }
        Ok(node)
    }
}

/// The latest state. Each call reads the state as committed at that moment; a caller
/// that must not see a commit in the middle of a series of reads should not run one
/// concurrently (the service imports blocks one at a time).
impl StateReader for Database {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.storage(key)?)
    }
    fn next_key(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.next_storage_key(key)?)
    }
}

#[cfg(test)]
mod tests;
