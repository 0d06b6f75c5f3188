//! The storage view a runtime call executes against.
//!
//! A runtime call reads a committed [`StateReader`] (RocksDB in the node, a map in
//! tests) through an [`OverlayedChanges`] that collects its writes. Writes can be
//! grouped in nested transactions so a failing call is rolled back while its fee
//! payment stays. Host functions (wasm) and the native runtime (tests, benchmarks) both
//! go through the [`Externalities`] trait, so both run exactly the same logic.
use std::collections::BTreeMap;
use std::ops::Bound;

/// A committed key-value state, read-only.
pub trait StateReader: Send + Sync {
    /// The value at `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
    /// The smallest key strictly greater than `key`.
    fn next_key(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
}

/// Errors reading state.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    /// The backing database failed.
    #[error("state backend: {0}")]
    Backend(String),
    /// `commit`/`rollback` without a matching `start_transaction`.
    #[error("no storage transaction is open")]
    NoOpenTransaction,
}

/// An empty state (genesis building, tests).
#[derive(Debug, Default, Clone)]
pub struct EmptyState;

impl StateReader for EmptyState {
    fn get(&self, _: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(None)
    }
    fn next_key(&self, _: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(None)
    }
}

/// A state held in memory (tests, benchmarks, genesis).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InMemoryState(pub BTreeMap<Vec<u8>, Vec<u8>>);

impl StateReader for InMemoryState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.0.get(key).cloned())
    }
    fn next_key(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self
            .0
            .range::<[u8], _>((Bound::Excluded(key), Bound::Unbounded))
            .next()
            .map(|(k, _)| k.clone()))
    }
}

impl InMemoryState {
    /// Applies a change set.
    pub fn apply(&mut self, changes: ChangeSet) {
        for (k, v) in changes {
            match v {
                Some(v) => self.0.insert(k, v),
                None => self.0.remove(&k),
            };
        }
    }
}

/// Changes of a finished execution: key → new value (`None`: deleted), sorted by key.
pub type ChangeSet = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Writes not yet committed, in layers: the base layer and one per open transaction.
#[derive(Debug, Default, Clone)]
pub struct OverlayedChanges {
    layers: Vec<ChangeSet>,
}

impl OverlayedChanges {
    /// An empty overlay.
    pub fn new() -> Self {
        OverlayedChanges {
            layers: vec![ChangeSet::new()],
        }
    }

    fn top(&mut self) -> &mut ChangeSet {
        if self.layers.is_empty() {
            self.layers.push(ChangeSet::new());
        }
        let last = self.layers.len() - 1;
        &mut self.layers[last]
    }

    /// The overlay's view of `key`: `Some(None)` if deleted here, `None` if untouched.
    pub fn get(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.layers
            .iter()
            .rev()
            .find_map(|l| l.get(key))
            .map(|v| v.as_deref())
    }

    /// Sets or deletes `key`.
    pub fn set(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.top().insert(key, value);
    }

    /// The smallest key greater than `key` touched by the overlay, with its value.
    fn next_touched(&self, key: &[u8]) -> Option<(Vec<u8>, bool)> {
        let mut best: Option<&Vec<u8>> = None;
        for layer in &self.layers {
            if let Some((k, _)) = layer
                .range::<[u8], _>((Bound::Excluded(key), Bound::Unbounded))
                .next()
            {
                if best.is_none_or(|b| k < b) {
                    best = Some(k);
                }
            }
        }
        best.map(|k| (k.clone(), matches!(self.get(k), Some(Some(_)))))
    }

    /// Opens a nested transaction.
    pub fn start_transaction(&mut self) {
        self.layers.push(ChangeSet::new());
    }

    /// Number of open transactions.
    pub fn transaction_depth(&self) -> usize {
        self.layers.len().saturating_sub(1)
    }

    /// Merges the innermost transaction into its parent.
    pub fn commit_transaction(&mut self) -> Result<(), StateError> {
        if self.layers.len() < 2 {
            return Err(StateError::NoOpenTransaction);
        }
        let top = self.layers.pop().unwrap_or_default();
        self.top().extend(top);
        Ok(())
    }

    /// Discards the innermost transaction.
    pub fn rollback_transaction(&mut self) -> Result<(), StateError> {
        if self.layers.len() < 2 {
            return Err(StateError::NoOpenTransaction);
        }
        self.layers.pop();
        Ok(())
    }

    /// Discards every open transaction (used when a runtime call traps).
    pub fn rollback_all_transactions(&mut self) {
        self.layers.truncate(1);
    }

    /// Takes the committed changes, closing any transaction left open by committing it.
    pub fn into_changes(mut self) -> ChangeSet {
        while self.layers.len() > 1 {
            let _ = self.commit_transaction();
        }
        self.layers.pop().unwrap_or_default()
    }

    /// Number of keys touched.
    pub fn len(&self) -> usize {
        self.layers.iter().map(|l| l.len()).sum()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the runtime may do with storage. Served by host functions under wasm and
/// directly by [`Ext`] natively.
pub trait Externalities {
    /// Read a value.
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
    /// Write a value.
    fn set(&mut self, key: &[u8], value: &[u8]);
    /// Delete a value.
    fn clear(&mut self, key: &[u8]);
    /// The next existing key after `key`.
    fn next_key(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
    /// Deletes up to `limit` keys starting with `prefix`; returns how many, and whether
    /// keys remain.
    fn clear_prefix(&mut self, prefix: &[u8], limit: u32) -> Result<(u32, bool), StateError>;
    /// Opens a nested transaction.
    fn start_transaction(&mut self);
    /// Commits the innermost transaction.
    fn commit_transaction(&mut self) -> Result<(), StateError>;
    /// Rolls back the innermost transaction.
    fn rollback_transaction(&mut self) -> Result<(), StateError>;
    /// The SCALE-encoded `RuntimeVersion` that `code` (a runtime wasm) answers, or `None`
    /// when it is not a runtime this node could run. Only an executor can tell; the
    /// default answers `None`.
    fn runtime_version(&mut self, code: &[u8]) -> Option<Vec<u8>> {
        let _ = code;
        None
    }
}

/// What tells a runtime wasm's version natively (see [`Externalities::runtime_version`]).
pub type CodeInspector<'a> = &'a dyn Fn(&[u8]) -> Option<Vec<u8>>;

/// [`Externalities`] over a committed state and an overlay.
pub struct Ext<'a> {
    backend: &'a dyn StateReader,
    overlay: &'a mut OverlayedChanges,
    inspector: Option<CodeInspector<'a>>,
}

impl<'a> Ext<'a> {
    /// A view of `backend` with `overlay`'s changes on top.
    pub fn new(backend: &'a dyn StateReader, overlay: &'a mut OverlayedChanges) -> Self {
        Ext {
            backend,
            overlay,
            inspector: None,
        }
    }

    /// With `inspector` answering [`Externalities::runtime_version`] (native tests of code
    /// upgrades; the executor answers it for the wasm runtime).
    pub fn with_code_inspector(mut self, inspector: CodeInspector<'a>) -> Self {
        self.inspector = Some(inspector);
        self
    }
}

/// Reads `key` through `overlay` then `backend`.
pub fn read(
    backend: &dyn StateReader,
    overlay: &OverlayedChanges,
    key: &[u8],
) -> Result<Option<Vec<u8>>, StateError> {
    match overlay.get(key) {
        Some(v) => Ok(v.map(<[u8]>::to_vec)),
        None => backend.get(key),
    }
}

/// The next existing key after `key`, merging `overlay` and `backend`.
pub fn next_key(
    backend: &dyn StateReader,
    overlay: &OverlayedChanges,
    key: &[u8],
) -> Result<Option<Vec<u8>>, StateError> {
    let mut cursor = key.to_vec();
    loop {
        let from_backend = backend.next_key(&cursor)?;
        let from_overlay = overlay.next_touched(&cursor);
        match (from_backend, from_overlay) {
            (None, None) => return Ok(None),
            (Some(b), None) => {
                // Only a deletion in the overlay could hide it, and none lies beyond.
                return Ok(Some(b));
            }
            (b, Some((o, alive))) => {
                if let Some(b) = &b {
                    if b < &o {
                        return Ok(Some(b.clone()));
                    }
                }
                if alive {
                    return Ok(Some(o));
                }
                // Deleted in the overlay: continue past it.
                cursor = o;
            }
        }
    }
}

impl Externalities for Ext<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        read(self.backend, self.overlay, key)
    }
    fn set(&mut self, key: &[u8], value: &[u8]) {
        self.overlay.set(key.to_vec(), Some(value.to_vec()));
    }
    fn clear(&mut self, key: &[u8]) {
        self.overlay.set(key.to_vec(), None);
    }
    fn next_key(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        next_key(self.backend, self.overlay, key)
    }
    fn clear_prefix(&mut self, prefix: &[u8], limit: u32) -> Result<(u32, bool), StateError> {
        clear_prefix(self.backend, self.overlay, prefix, limit)
    }
    fn start_transaction(&mut self) {
        self.overlay.start_transaction()
    }
    fn commit_transaction(&mut self) -> Result<(), StateError> {
        self.overlay.commit_transaction()
    }
    fn rollback_transaction(&mut self) -> Result<(), StateError> {
        self.overlay.rollback_transaction()
    }
    fn runtime_version(&mut self, code: &[u8]) -> Option<Vec<u8>> {
        self.inspector.and_then(|inspect| inspect(code))
    }
}

/// Deletes up to `limit` keys under `prefix`; returns the count and whether any remain.
pub fn clear_prefix(
    backend: &dyn StateReader,
    overlay: &mut OverlayedChanges,
    prefix: &[u8],
    limit: u32,
) -> Result<(u32, bool), StateError> {
    let mut cleared = 0u32;
    let mut cursor = prefix.to_vec();
    if read(backend, overlay, prefix)?.is_some() {
        if limit == 0 {
            return Ok((0, true));
        }
        overlay.set(prefix.to_vec(), None);
        cleared += 1;
    }
    loop {
        let Some(k) = next_key(backend, overlay, &cursor)? else {
            return Ok((cleared, false));
        };
        if !k.starts_with(prefix) {
            return Ok((cleared, false));
        }
        if cleared >= limit {
            return Ok((cleared, true));
        }
        overlay.set(k.clone(), None);
        cleared += 1;
        cursor = k;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn state(entries: &[(&[u8], &[u8])]) -> InMemoryState {
        InMemoryState(
            entries
                .iter()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect(),
        )
    }

    #[test]
    fn next_key_merges_overlay_and_backend_and_skips_deletions() {
        let backend = state(&[(b"a", b"1"), (b"c", b"3"), (b"e", b"5")]);
        let mut overlay = OverlayedChanges::new();
        overlay.set(b"b".to_vec(), Some(b"2".to_vec()));
        overlay.set(b"c".to_vec(), None);
        overlay.start_transaction();
        overlay.set(b"d".to_vec(), Some(b"4".to_vec()));
        overlay.set(b"e".to_vec(), None);
        let mut keys = vec![];
        let mut cur = vec![];
        while let Some(k) = next_key(&backend, &overlay, &cur).unwrap() {
            keys.push(k.clone());
            cur = k;
        }
        assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec(), b"d".to_vec()]);
        overlay.rollback_transaction().unwrap();
        assert_eq!(
            next_key(&backend, &overlay, b"b").unwrap(),
            Some(b"e".to_vec())
        );
    }

    #[test]
    fn rollback_discards_only_the_inner_transaction() {
        let backend = state(&[(b"k", b"0")]);
        let mut overlay = OverlayedChanges::new();
        let mut ext = Ext::new(&backend, &mut overlay);
        ext.set(b"fee", b"paid");
        ext.start_transaction();
        ext.set(b"k", b"1");
        ext.clear(b"fee");
        assert_eq!(ext.get(b"k").unwrap(), Some(b"1".to_vec()));
        ext.rollback_transaction().unwrap();
        assert_eq!(ext.get(b"k").unwrap(), Some(b"0".to_vec()));
        assert_eq!(ext.get(b"fee").unwrap(), Some(b"paid".to_vec()));
        assert!(ext.rollback_transaction().is_err());
        let changes = overlay.into_changes();
        assert_eq!(changes.len(), 1);
    }

    #[test]
    fn clear_prefix_respects_limit_and_reports_remaining() {
        let backend = state(&[(b"p1", b""), (b"p2", b""), (b"p3", b""), (b"q", b"")]);
        let mut overlay = OverlayedChanges::new();
        assert_eq!(
            clear_prefix(&backend, &mut overlay, b"p", 2).unwrap(),
            (2, true)
        );
        assert_eq!(
            clear_prefix(&backend, &mut overlay, b"p", 10).unwrap(),
            (1, false)
        );
        assert_eq!(read(&backend, &overlay, b"q").unwrap(), Some(vec![]));
        assert_eq!(
            next_key(&backend, &overlay, b"").unwrap(),
            Some(b"q".to_vec())
        );
    }
}
