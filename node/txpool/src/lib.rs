//! The transaction pool: validated transactions waiting for a block.
//!
//! The service validates each transaction with the runtime, which yields a
//! [`ValidTransaction`] (sender, nonce, the sender's account nonce, fee), then hands both
//! to [`Pool::submit`]. The pool does no I/O and knows nothing of the runtime.
//!
//! # Ready and future
//! Per sender the pool tracks the account nonce (the next nonce the chain accepts). A
//! transaction is **ready** when every nonce from the account nonce up to its own is in
//! the pool; otherwise it is **future** and waits for the gap to fill. Evicting or
//! removing a transaction as invalid turns that sender's later nonces future again.
//!
//! # Order and bounds
//! [`Pool::ready_for_block`] repeatedly takes the highest-fee ready head among senders
//! (ties by lower hash), then that sender's next nonce becomes its head, so per-sender
//! nonce order always holds. The pool holds at most [`PoolConfig::max_transactions`]
//! transactions and [`PoolConfig::max_bytes`] bytes; when full, a newcomer evicts the
//! lowest-fee transactions if it pays strictly more than each of them.
//!
//! # Concurrency
//! [`Pool`] is `Send + Sync`: all state sits behind one `parking_lot::Mutex`, and every
//! method takes `&self`. Share it with `Arc<Pool>`.
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

use menara_primitives::{blake3_256, AccountId, Balance, Nonce, ValidTransaction, H256};
use parking_lot::Mutex;

/// Limits of the pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most transactions held (ready and future together).
    pub max_transactions: usize,
    /// Most bytes of encoded transactions held.
    pub max_bytes: usize,
    /// Nonces more than this far ahead of the sender's account nonce are refused.
    pub max_future_per_sender: u64,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_transactions: 8192,
            max_bytes: 32 * 1024 * 1024,
            max_future_per_sender: 64,
        }
    }
}

/// Why a transaction was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The same bytes are already in the pool.
    #[error("transaction {0} is already in the pool")]
    AlreadyKnown(H256),
    /// The nonce was already used on chain.
    #[error("stale nonce {nonce}: the sender's next nonce is {account_nonce}")]
    Stale {
        /// The transaction's nonce.
        nonce: Nonce,
        /// The sender's next nonce.
        account_nonce: Nonce,
    },
    /// The nonce is too far ahead of the sender's next nonce.
    #[error("nonce {nonce} is too far in the future: the sender's next nonce is {account_nonce}, at most {max_ahead} ahead is kept")]
    TooFarInFuture {
        /// The transaction's nonce.
        nonce: Nonce,
        /// The sender's next nonce.
        account_nonce: Nonce,
        /// The configured limit.
        max_ahead: u64,
    },
    /// A transaction with the same sender and nonce pays at least as much.
    #[error("a transaction with the same sender and nonce ({existing}) pays {existing_fee}; a replacement must pay more than that (offered {fee})")]
    ReplacementUnderpriced {
        /// The transaction in the pool.
        existing: H256,
        /// Its fee.
        existing_fee: Balance,
        /// The newcomer's fee.
        fee: Balance,
    },
    /// The pool is full and the newcomer does not pay more than what would be evicted.
    #[error(
        "transaction pool is full; a transaction must pay a higher fee to get in (offered {fee})"
    )]
    PoolFull {
        /// The newcomer's fee.
        fee: Balance,
    },
    /// The transaction alone is larger than the pool's byte limit.
    #[error("transaction of {size} bytes exceeds the pool's limit of {max} bytes")]
    TooLarge {
        /// Its encoded size.
        size: usize,
        /// The pool's byte limit.
        max: usize,
    },
}

/// Outcome of an accepted submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// `blake3_256` of the encoded transaction.
    pub hash: H256,
    /// Whether it can go into the next block right away.
    pub ready: bool,
    /// The transaction with the same sender and nonce it replaced (tell its watcher
    /// `Usurped`).
    pub replaced: Option<H256>,
    /// Transactions dropped to make room, or made stale by the newer account nonce this
    /// submission reported (tell their watchers `Dropped`).
    pub evicted: Vec<H256>,
}

#[derive(Clone, Debug)]
struct Tx {
    extrinsic: Vec<u8>,
    sender: AccountId,
    nonce: Nonce,
    fee: Balance,
}

#[derive(Clone, Debug, Default)]
struct Sender {
    /// Next nonce the chain accepts, as last reported.
    account_nonce: Nonce,
    /// Transactions by nonce.
    txs: BTreeMap<Nonce, H256>,
    /// Number of consecutive nonces from `account_nonce` present (the ready run).
    ready: u64,
}

impl Sender {
    fn ready_run(&self) -> u64 {
        let mut n = 0u64;
        for (i, nonce) in self
            .txs
            .range(self.account_nonce..)
            .map(|(n, _)| *n)
            .enumerate()
        {
            if nonce != self.account_nonce.saturating_add(i as u64) {
                break;
            }
            n += 1;
        }
        n
    }
}

#[derive(Debug, Default)]
struct Inner {
    txs: HashMap<H256, Tx>,
    senders: HashMap<AccountId, Sender>,
    /// (fee, hash), lowest first: eviction order.
    by_fee: BTreeSet<(Balance, H256)>,
    bytes: usize,
    ready: usize,
}

impl Inner {
    /// Recomputes the ready run of `sender` and drops its entry if it holds nothing.
    fn refresh(&mut self, who: &AccountId) {
        let Some(s) = self.senders.get_mut(who) else {
            return;
        };
        let run = s.ready_run();
        self.ready = self.ready + run as usize - s.ready as usize;
        s.ready = run;
        if s.txs.is_empty() {
            self.senders.remove(who);
        }
    }

    /// Removes `hash` without refreshing its sender's ready run.
    fn take(&mut self, hash: &H256) -> Option<Tx> {
        let tx = self.txs.remove(hash)?;
        self.by_fee.remove(&(tx.fee, *hash));
        self.bytes -= tx.extrinsic.len();
        if let Some(s) = self.senders.get_mut(&tx.sender) {
            s.txs.remove(&tx.nonce);
        }
        Some(tx)
    }

    fn insert(&mut self, hash: H256, tx: Tx) {
        self.by_fee.insert((tx.fee, hash));
        self.bytes += tx.extrinsic.len();
        self.senders
            .entry(tx.sender)
            .or_default()
            .txs
            .insert(tx.nonce, hash);
        self.txs.insert(hash, tx);
    }

    /// Sets `who`'s account nonce and drops its transactions below it.
    fn set_account_nonce(&mut self, who: &AccountId, nonce: Nonce) -> Vec<H256> {
        let Some(s) = self.senders.get_mut(who) else {
            return Vec::new();
        };
        s.account_nonce = nonce;
        let stale: Vec<H256> = s.txs.range(..nonce).map(|(_, h)| *h).collect();
        for h in &stale {
            self.take(h);
        }
        self.refresh(who);
        stale
    }

    fn is_ready(&self, tx: &Tx) -> bool {
        self.senders
            .get(&tx.sender)
            .is_some_and(|s| tx.nonce >= s.account_nonce && tx.nonce - s.account_nonce < s.ready)
    }
}

/// The transaction pool. See the crate documentation.
#[derive(Debug, Default)]
pub struct Pool {
    config: PoolConfig,
    inner: Mutex<Inner>,
}

impl Pool {
    /// An empty pool with `config`'s limits.
    pub fn new(config: PoolConfig) -> Self {
        Pool {
            config,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The pool's limits.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// Adds a transaction the runtime found valid (`v`). Its hash is
    /// `blake3_256(&extrinsic)`. See [`PoolError`] for the refusals; nothing changes
    /// when one is returned.
    pub fn submit(&self, extrinsic: Vec<u8>, v: ValidTransaction) -> Result<Submitted, PoolError> {
        let hash = blake3_256(&extrinsic);
        let size = extrinsic.len();
        let mut inner = self.inner.lock();
        if inner.txs.contains_key(&hash) {
            return Err(PoolError::AlreadyKnown(hash));
        }
        if size > self.config.max_bytes {
            return Err(PoolError::TooLarge {
                size,
                max: self.config.max_bytes,
            });
        }
        let known = inner.senders.get(&v.sender);
        let account_nonce = known.map_or(v.account_nonce, |s| s.account_nonce.max(v.account_nonce));
        if v.nonce < account_nonce {
            return Err(PoolError::Stale {
                nonce: v.nonce,
                account_nonce,
            });
        }
        let max_ahead = self.config.max_future_per_sender;
        if v.nonce - account_nonce > max_ahead {
            return Err(PoolError::TooFarInFuture {
                nonce: v.nonce,
                account_nonce,
                max_ahead,
            });
        }
        let existing = known.and_then(|s| s.txs.get(&v.nonce)).copied();
        let mut freed_bytes = 0;
        if let Some(old) = existing {
            if let Some(old_tx) = inner.txs.get(&old) {
                if v.fee <= old_tx.fee {
                    return Err(PoolError::ReplacementUnderpriced {
                        existing: old,
                        existing_fee: old_tx.fee,
                        fee: v.fee,
                    });
                }
                freed_bytes = old_tx.extrinsic.len();
            }
        }

        // Room: pick the cheapest transactions (all paying less than the newcomer).
        let mut count = inner.txs.len() - usize::from(existing.is_some()) + 1;
        let mut bytes = inner.bytes - freed_bytes + size;
        let mut to_evict = Vec::new();
        if count > self.config.max_transactions || bytes > self.config.max_bytes {
            for (fee, h) in inner.by_fee.iter() {
                if count <= self.config.max_transactions && bytes <= self.config.max_bytes {
                    break;
                }
                if *fee >= v.fee {
                    break;
                }
                if Some(*h) == existing {
                    continue;
                }
                let Some(tx) = inner.txs.get(h) else { continue };
                count -= 1;
                bytes -= tx.extrinsic.len();
                to_evict.push(*h);
            }
            if count > self.config.max_transactions || bytes > self.config.max_bytes {
                return Err(PoolError::PoolFull { fee: v.fee });
            }
        }

        // Accepted: apply.
        let mut evicted = inner.set_account_nonce(&v.sender, account_nonce);
        let replaced = existing.and_then(|old| inner.take(&old).map(|_| old));
        let mut touched = vec![v.sender];
        for h in &to_evict {
            if let Some(tx) = inner.take(h) {
                touched.push(tx.sender);
                evicted.push(*h);
            }
        }
        let sender = v.sender;
        inner.insert(
            hash,
            Tx {
                extrinsic,
                sender,
                nonce: v.nonce,
                fee: v.fee,
            },
        );
        if let Some(s) = inner.senders.get_mut(&sender) {
            s.account_nonce = account_nonce;
        }
        touched.sort();
        touched.dedup();
        for who in &touched {
            inner.refresh(who);
        }
        let ready = inner.txs.get(&hash).is_some_and(|tx| inner.is_ready(tx));
        tracing::trace!(target: "txpool", %hash, ready, ?replaced, evicted = evicted.len(), "transaction accepted");
        Ok(Submitted {
            hash,
            ready,
            replaced,
            evicted,
        })
    }

    /// The transactions to include in a block, in order, at most `max_count` of them
    /// and `max_bytes` in total: repeatedly the highest-fee ready head among senders
    /// (ties: lower hash first). A sender whose next transaction does not fit is
    /// skipped from then on (its later nonces cannot go first). Nothing is removed.
    pub fn ready_for_block(&self, max_count: usize, max_bytes: usize) -> Vec<(H256, Vec<u8>)> {
        #[derive(PartialEq, Eq, PartialOrd, Ord)]
        struct Head {
            fee: Balance,
            hash: std::cmp::Reverse<H256>,
            sender: AccountId,
            nonce: Nonce,
        }
        let inner = self.inner.lock();
        let head_of = |who: &AccountId, s: &Sender, nonce: Nonce| -> Option<Head> {
            if nonce.checked_sub(s.account_nonce)? >= s.ready {
                return None;
            }
            let hash = *s.txs.get(&nonce)?;
            let tx = inner.txs.get(&hash)?;
            Some(Head {
                fee: tx.fee,
                hash: std::cmp::Reverse(hash),
                sender: *who,
                nonce,
            })
        };
        let mut heap: BinaryHeap<Head> = inner
            .senders
            .iter()
            .filter_map(|(who, s)| head_of(who, s, s.account_nonce))
            .collect();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while out.len() < max_count {
            let Some(head) = heap.pop() else { break };
            let hash = head.hash.0;
            let Some(tx) = inner.txs.get(&hash) else {
                continue;
            };
            if bytes.saturating_add(tx.extrinsic.len()) > max_bytes {
                continue;
            }
            bytes += tx.extrinsic.len();
            out.push((hash, tx.extrinsic.clone()));
            if let Some(s) = inner.senders.get(&head.sender) {
                if let Some(next) = head
                    .nonce
                    .checked_add(1)
                    .and_then(|n| head_of(&head.sender, s, n))
                {
                    heap.push(next);
                }
            }
        }
        out
    }

    /// Removes transactions that were included in a block: each advances its sender's
    /// account nonce past it. Returns the other transactions dropped because that made
    /// them stale (a lower nonce of the same sender).
    pub fn remove_included(&self, hashes: &[H256]) -> Vec<H256> {
        let mut inner = self.inner.lock();
        let mut advance: HashMap<AccountId, Nonce> = HashMap::new();
        for h in hashes {
            if let Some(tx) = inner.take(h) {
                let next = tx.nonce.saturating_add(1);
                let e = advance.entry(tx.sender).or_insert(next);
                *e = (*e).max(next);
            }
        }
        let mut dropped = Vec::new();
        for (who, next) in advance {
            let current = inner.senders.get(&who).map_or(0, |s| s.account_nonce);
            if next > current {
                dropped.extend(inner.set_account_nonce(&who, next));
            } else {
                inner.refresh(&who);
            }
        }
        dropped
    }

    /// Removes transactions found invalid. Their senders' later nonces become future.
    pub fn remove_invalid(&self, hashes: &[H256]) {
        let mut inner = self.inner.lock();
        for h in hashes {
            if let Some(tx) = inner.take(h) {
                inner.refresh(&tx.sender);
            }
        }
    }

    /// After a block: sets every sender's account nonce from the new state, drops the
    /// transactions below it (returned) and promotes futures that became ready.
    pub fn prune(&self, account_nonce: impl Fn(&AccountId) -> Nonce) -> Vec<H256> {
        let mut inner = self.inner.lock();
        let mut senders: Vec<AccountId> = inner.senders.keys().copied().collect();
        senders.sort();
        let mut dropped = Vec::new();
        for who in senders {
            let nonce = account_nonce(&who);
            dropped.extend(inner.set_account_nonce(&who, nonce));
        }
        dropped
    }

    /// The senders with transactions in the pool (for looking up their nonces).
    pub fn senders(&self) -> Vec<AccountId> {
        let mut v: Vec<AccountId> = self.inner.lock().senders.keys().copied().collect();
        v.sort();
        v
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.inner.lock().txs.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.lock().txs.is_empty()
    }

    /// Total bytes of encoded transactions.
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    /// Number of ready transactions.
    pub fn ready_len(&self) -> usize {
        self.inner.lock().ready
    }

    /// Number of future transactions.
    pub fn future_len(&self) -> usize {
        let inner = self.inner.lock();
        inner.txs.len() - inner.ready
    }

    /// Whether `hash` is in the pool.
    pub fn contains(&self, hash: &H256) -> bool {
        self.inner.lock().txs.contains_key(hash)
    }

    /// The encoded transaction `hash`.
    pub fn get(&self, hash: &H256) -> Option<Vec<u8>> {
        self.inner
            .lock()
            .txs
            .get(hash)
            .map(|tx| tx.extrinsic.clone())
    }

    /// Every transaction, encoded, ordered by sender then nonce.
    pub fn pending(&self) -> Vec<Vec<u8>> {
        let inner = self.inner.lock();
        let mut senders: Vec<(&AccountId, &Sender)> = inner.senders.iter().collect();
        senders.sort_by_key(|(who, _)| **who);
        senders
            .into_iter()
            .flat_map(|(_, s)| s.txs.values())
            .filter_map(|h| inner.txs.get(h).map(|tx| tx.extrinsic.clone()))
            .collect()
    }

    /// The sender's next usable nonce as the pool sees it: its account nonce plus its
    /// run of ready transactions. `None` when the pool holds nothing from `who` (ask
    /// the state).
    pub fn next_nonce(&self, who: &AccountId) -> Option<Nonce> {
        self.inner
            .lock()
            .senders
            .get(who)
            .map(|s| s.account_nonce.saturating_add(s.ready))
    }
}

#[cfg(test)]
mod tests;
