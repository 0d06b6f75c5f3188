//! The state trie: a binary Merkle trie over `blake3(key)` paths.
//!
//! A subtree holding no entry is the zero hash; a subtree holding exactly one entry is
//! that entry's leaf, placed as high as it can go; every other subtree is an internal
//! node. So the shape depends only on the set of keys (the trie is canonical), a lookup
//! or update touches O(log n) nodes, and nodes are content-addressed by their hash.
//!
//! - leaf hash:     `blake3(0x00 || blake3(key) || blake3(value))`
//! - internal hash: `blake3(0x01 || left || right)`
//!
//! [`verify_proof`] checks, against a header's state root, that a key holds a value
//! or is absent. [`apply_changes`] computes a new root from a [`NodeReader`] and a set
//! of changes; it is what the node uses to update its root incrementally.
use crate::{blake3_256, H256};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};

/// A stored trie node.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Node {
    /// One entry: the hash of its key and the hash of its value.
    Leaf {
        /// `blake3(key)`, also the entry's path.
        key: H256,
        /// `blake3(value)`.
        value: H256,
    },
    /// Two subtrees (zero hash for an empty one); at least two entries below.
    Internal {
        /// Subtree whose next path bit is 0.
        left: H256,
        /// Subtree whose next path bit is 1.
        right: H256,
    },
}

impl Node {
    /// The node's hash.
    pub fn hash(&self) -> H256 {
        match self {
            Node::Leaf { key, value } => leaf_hash(key, value),
            Node::Internal { left, right } => internal_hash(left, right),
        }
    }
}

/// Hash of a leaf node.
pub fn leaf_hash(key: &H256, value: &H256) -> H256 {
    let mut h = blake3::Hasher::new();
    h.update(&[0]);
    h.update(&key.0);
    h.update(&value.0);
    H256(*h.finalize().as_bytes())
}

/// Hash of an internal node.
pub fn internal_hash(left: &H256, right: &H256) -> H256 {
    let mut h = blake3::Hasher::new();
    h.update(&[1]);
    h.update(&left.0);
    h.update(&right.0);
    H256(*h.finalize().as_bytes())
}

/// Where a proof's path ends.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Terminal {
    /// An empty subtree: the key is absent.
    Empty,
    /// A leaf: the key itself (present) or another key sharing the path (key absent).
    Leaf {
        /// The leaf's key hash.
        key: H256,
        /// The leaf's value hash.
        value: H256,
    },
}

/// A proof that a key holds a value, or holds none, under a state root.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct StateProof {
    /// Sibling hashes from the root down to the terminal.
    pub siblings: Vec<H256>,
    /// The node the key's path ends at.
    pub terminal: Terminal,
}

/// Why a proof does not prove what was claimed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProofError {
    /// The proof's path is longer than 256 bits.
    TooDeep,
    /// The terminal does not match the claimed value (or absence).
    ValueMismatch,
    /// The terminal leaf is not on the key's path.
    WrongPath,
    /// The recomputed root differs from the trusted root.
    RootMismatch,
}

impl core::fmt::Display for ProofError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = match self {
            ProofError::TooDeep => "proof path longer than 256 levels",
            ProofError::ValueMismatch => "proof does not end at the claimed value",
            ProofError::WrongPath => "proof's leaf is not on the key's path",
            ProofError::RootMismatch => "proof does not lead to the state root",
        };
        f.write_str(s)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProofError {}

/// Checks that under `root`, `key` holds `value` (`None`: the key is absent).
///
/// This is all a light client needs: the root comes from a header it trusts.
pub fn verify_proof(
    root: &H256,
    key: &[u8],
    value: Option<&[u8]>,
    proof: &StateProof,
) -> Result<(), ProofError> {
    let path = blake3_256(key);
    let depth = proof.siblings.len();
    if depth > 256 {
        return Err(ProofError::TooDeep);
    }
    let mut hash = match (&proof.terminal, value) {
        (Terminal::Empty, None) => H256::zero(),
        (Terminal::Empty, Some(_)) => return Err(ProofError::ValueMismatch),
        (Terminal::Leaf { key: k, value: v }, Some(claimed)) => {
            if *k != path || *v != blake3_256(claimed) {
                return Err(ProofError::ValueMismatch);
            }
            leaf_hash(k, v)
        }
        (Terminal::Leaf { key: k, value: v }, None) => {
            if *k == path {
                return Err(ProofError::ValueMismatch);
            }
            if (0..depth).any(|i| k.bit(i) != path.bit(i)) {
                return Err(ProofError::WrongPath);
            }
            leaf_hash(k, v)
        }
    };
    for (i, sibling) in proof.siblings.iter().enumerate().rev() {
        hash = if path.bit(i) {
            internal_hash(sibling, &hash)
        } else {
            internal_hash(&hash, sibling)
        };
    }
    if hash == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Read access to stored trie nodes.
pub trait NodeReader {
    /// Error of the underlying store.
    type Error;
    /// The node with this hash, if stored.
    fn node(&self, hash: &H256) -> Result<Option<Node>, Self::Error>;
}

/// Errors of trie traversal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrieError<E> {
    /// The store failed.
    Store(E),
    /// A node the root refers to is not in the store (corrupt or pruned state).
    MissingNode(H256),
    /// Two distinct entries share all 256 path bits (a blake3 collision).
    PathCollision,
}

impl<E: core::fmt::Display> core::fmt::Display for TrieError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TrieError::Store(e) => write!(f, "trie store: {e}"),
            TrieError::MissingNode(h) => write!(f, "trie node {h} missing from the database"),
            TrieError::PathCollision => write!(f, "two keys share a 256-bit path"),
        }
    }
}

/// The outcome of [`apply_changes`]: the new root and the node set difference.
#[derive(Default, Debug, Clone)]
pub struct TrieUpdate {
    /// Root after the changes.
    pub root: H256,
    /// Nodes to store.
    pub inserted: BTreeMap<H256, Node>,
    /// Nodes of the old version that the new version no longer uses.
    pub removed: BTreeSet<H256>,
}

struct Updater<'a, S: NodeReader> {
    store: &'a S,
    inserted: BTreeMap<H256, Node>,
    removed: BTreeSet<H256>,
}

impl<S: NodeReader> Updater<'_, S> {
    fn load(&self, hash: &H256) -> Result<Node, TrieError<S::Error>> {
        if let Some(n) = self.inserted.get(hash) {
            return Ok(*n);
        }
        self.store
            .node(hash)
            .map_err(TrieError::Store)?
            .ok_or(TrieError::MissingNode(*hash))
    }

    fn put(&mut self, node: Node) -> H256 {
        let h = node.hash();
        self.inserted.insert(h, node);
        h
    }

    /// Builds the canonical subtree at `depth` for `leaves` (sorted by key).
    fn build(
        &mut self,
        depth: usize,
        leaves: &[(H256, H256)],
    ) -> Result<H256, TrieError<S::Error>> {
        match leaves {
            [] => Ok(H256::zero()),
            [(k, v)] => Ok(self.put(Node::Leaf { key: *k, value: *v })),
            _ => {
                if depth >= 256 {
                    return Err(TrieError::PathCollision);
                }
                let split = leaves.partition_point(|(k, _)| !k.bit(depth));
                let left = self.build(depth + 1, &leaves[..split])?;
                let right = self.build(depth + 1, &leaves[split..])?;
                Ok(self.put(Node::Internal { left, right }))
            }
        }
    }

    fn update(
        &mut self,
        node_hash: H256,
        depth: usize,
        changes: &[(H256, Option<H256>)],
    ) -> Result<H256, TrieError<S::Error>> {
        if changes.is_empty() {
            return Ok(node_hash);
        }
        if depth > 256 {
            return Err(TrieError::PathCollision);
        }
        let new_hash = if node_hash.is_zero() {
            let leaves: Vec<(H256, H256)> = changes
                .iter()
                .filter_map(|(k, v)| v.map(|v| (*k, v)))
                .collect();
            self.build(depth, &leaves)?
        } else {
            match self.load(&node_hash)? {
                Node::Leaf { key, value } => {
                    let mut leaves: Vec<(H256, H256)> = Vec::with_capacity(changes.len() + 1);
                    let mut existing_pending = true;
                    for (k, v) in changes {
                        if existing_pending && key <= *k {
                            if key < *k {
                                leaves.push((key, value));
                            }
                            existing_pending = false;
                        }
                        if let Some(v) = v {
                            leaves.push((*k, *v));
                        }
                    }
                    if existing_pending {
                        leaves.push((key, value));
                    }
                    self.build(depth, &leaves)?
                }
                Node::Internal { left, right } => {
                    let split = changes.partition_point(|(k, _)| !k.bit(depth));
                    let new_left = self.update(left, depth + 1, &changes[..split])?;
                    let new_right = self.update(right, depth + 1, &changes[split..])?;
                    self.join(new_left, new_right)?
                }
            }
        };
        if new_hash != node_hash && !node_hash.is_zero() {
            self.removed.insert(node_hash);
        }
        Ok(new_hash)
    }

    /// An internal node over two subtrees, collapsed to a lone leaf where canonical.
    fn join(&mut self, left: H256, right: H256) -> Result<H256, TrieError<S::Error>> {
        let lone = match (left.is_zero(), right.is_zero()) {
            (true, true) => return Ok(H256::zero()),
            (false, true) => Some(left),
            (true, false) => Some(right),
            (false, false) => None,
        };
        if let Some(child) = lone {
            if let Node::Leaf { .. } = self.load(&child)? {
                return Ok(child);
            }
        }
        Ok(self.put(Node::Internal { left, right }))
    }
}

/// Applies `changes` (`blake3(key)` → new `blake3(value)`, `None` to delete), which must
/// be sorted by key hash without duplicates, to the trie under `root`.
pub fn apply_changes<S: NodeReader>(
    store: &S,
    root: H256,
    changes: &[(H256, Option<H256>)],
) -> Result<TrieUpdate, TrieError<S::Error>> {
    let mut up = Updater {
        store,
        inserted: BTreeMap::new(),
        removed: BTreeSet::new(),
    };
    let new_root = up.update(root, 0, changes)?;
    let mut removed = up.removed;
    // A node may be dropped and re-created within one update; it stays.
    removed.retain(|h| !up.inserted.contains_key(h));
    // Nodes built then replaced within the same update are never written.
    let mut inserted = up.inserted;
    let mut reachable = BTreeMap::new();
    collect_new(&mut inserted, &new_root, &mut reachable);
    Ok(TrieUpdate {
        root: new_root,
        inserted: reachable,
        removed,
    })
}

fn collect_new(pool: &mut BTreeMap<H256, Node>, hash: &H256, out: &mut BTreeMap<H256, Node>) {
    if let Some(node) = pool.remove(hash) {
        if let Node::Internal { left, right } = node {
            collect_new(pool, &left, out);
            collect_new(pool, &right, out);
        }
        out.insert(*hash, node);
    }
}

/// Builds a proof for `key` under `root`.
pub fn prove<S: NodeReader>(
    store: &S,
    root: &H256,
    key: &[u8],
) -> Result<StateProof, TrieError<S::Error>> {
    let path = blake3_256(key);
    let mut siblings = Vec::new();
    let mut current = *root;
    loop {
        if current.is_zero() {
            return Ok(StateProof {
                siblings,
                terminal: Terminal::Empty,
            });
        }
        let node = store
            .node(&current)
            .map_err(TrieError::Store)?
            .ok_or(TrieError::MissingNode(current))?;
        match node {
            Node::Leaf { key, value } => {
                return Ok(StateProof {
                    siblings,
                    terminal: Terminal::Leaf { key, value },
                })
            }
            Node::Internal { left, right } => {
                let depth = siblings.len();
                if depth >= 256 {
                    return Err(TrieError::PathCollision);
                }
                if path.bit(depth) {
                    siblings.push(left);
                    current = right;
                } else {
                    siblings.push(right);
                    current = left;
                }
            }
        }
    }
}

/// Computes the root of the trie holding exactly `entries` (key, value) from scratch.
/// For tests and genesis checks; the node updates its root incrementally instead.
pub fn root_of<'a, I: IntoIterator<Item = (&'a [u8], &'a [u8])>>(entries: I) -> H256 {
    struct NoNodes;
    impl NodeReader for NoNodes {
        type Error = core::convert::Infallible;
        fn node(&self, _: &H256) -> Result<Option<Node>, Self::Error> {
            Ok(None)
        }
    }
    let mut changes: Vec<(H256, Option<H256>)> = entries
        .into_iter()
        .map(|(k, v)| (blake3_256(k), Some(blake3_256(v))))
        .collect();
    changes.sort_by_key(|c| c.0);
    changes.dedup_by(|a, b| a.0 == b.0);
    match apply_changes(&NoNodes, H256::zero(), &changes) {
        Ok(update) => update.root,
        Err(_) => H256::zero(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct MemStore(HashMap<H256, Node>);
    impl NodeReader for MemStore {
        type Error = ();
        fn node(&self, hash: &H256) -> Result<Option<Node>, ()> {
            Ok(self.0.get(hash).copied())
        }
    }

    fn apply(store: &mut MemStore, root: H256, kv: &[(&[u8], Option<&[u8]>)]) -> H256 {
        let mut changes: Vec<_> = kv
            .iter()
            .map(|(k, v)| (blake3_256(k), v.map(blake3_256)))
            .collect();
        changes.sort_by_key(|c| c.0);
        let up = apply_changes(&*store, root, &changes).unwrap();
        for h in &up.removed {
            store.0.remove(h);
        }
        store.0.extend(up.inserted);
        up.root
    }

    #[test]
    fn incremental_root_equals_root_from_scratch_and_keeps_only_live_nodes() {
        let mut store = MemStore::default();
        let mut model: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = Default::default();
        let mut root = H256::zero();
        let mut seed = 7u64;
        for round in 0..200u64 {
            let mut batch: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
            for _ in 0..(round % 7 + 1) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let key = (seed >> 33) % 64;
                let value = if (seed >> 20).is_multiple_of(4) {
                    None
                } else {
                    Some((seed % 1000).to_le_bytes().to_vec())
                };
                batch.retain(|(k, _)| k != &key.to_le_bytes().to_vec());
                batch.push((key.to_le_bytes().to_vec(), value));
            }
            let kv: Vec<(&[u8], Option<&[u8]>)> = batch
                .iter()
                .map(|(k, v)| (k.as_slice(), v.as_deref()))
                .collect();
            root = apply(&mut store, root, &kv);
            for (k, v) in &batch {
                match v {
                    Some(v) => model.insert(k.clone(), v.clone()),
                    None => model.remove(k),
                };
            }
            let expected = root_of(model.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
            assert_eq!(root, expected, "round {round}");
            // Every stored node is reachable from the root: nothing leaks.
            let live = count_reachable(&store, &root);
            assert_eq!(live, store.0.len(), "round {round}");
        }
    }

    fn count_reachable(store: &MemStore, root: &H256) -> usize {
        if root.is_zero() {
            return 0;
        }
        match store.0[root] {
            Node::Leaf { .. } => 1,
            Node::Internal { left, right } => {
                1 + count_reachable(store, &left) + count_reachable(store, &right)
            }
        }
    }

    #[test]
    fn proofs_of_presence_and_absence_verify_and_lies_do_not() {
        let mut store = MemStore::default();
        let entries: Vec<(Vec<u8>, Vec<u8>)> = (0u32..50)
            .map(|i| (i.to_le_bytes().to_vec(), vec![i as u8; 3]))
            .collect();
        let kv: Vec<(&[u8], Option<&[u8]>)> = entries
            .iter()
            .map(|(k, v)| (k.as_slice(), Some(v.as_slice())))
            .collect();
        let root = apply(&mut store, H256::zero(), &kv);
        for (k, v) in &entries {
            let proof = prove(&store, &root, k).unwrap();
            assert_eq!(verify_proof(&root, k, Some(v), &proof), Ok(()));
            assert!(verify_proof(&root, k, Some(b"other"), &proof).is_err());
            assert!(verify_proof(&root, k, None, &proof).is_err());
        }
        for i in 100u32..130 {
            let k = i.to_le_bytes();
            let proof = prove(&store, &root, &k).unwrap();
            assert_eq!(verify_proof(&root, &k, None, &proof), Ok(()));
            assert!(verify_proof(&root, &k, Some(b"x"), &proof).is_err());
        }
        // A tampered sibling breaks the proof.
        let k = 3u32.to_le_bytes();
        let mut proof = prove(&store, &root, &k).unwrap();
        proof.siblings[0].0[0] ^= 1;
        assert_eq!(
            verify_proof(&root, &k, Some(&[3, 3, 3]), &proof),
            Err(ProofError::RootMismatch)
        );
        // Another root does not accept it.
        assert!(verify_proof(
            &H256([9; 32]),
            &k,
            Some(&[3, 3, 3]),
            &prove(&store, &root, &k).unwrap()
        )
        .is_err());
    }

    #[test]
    fn empty_trie_has_zero_root_and_proves_absence() {
        let store = MemStore::default();
        let proof = prove(&store, &H256::zero(), b"k").unwrap();
        assert_eq!(verify_proof(&H256::zero(), b"k", None, &proof), Ok(()));
    }
}
