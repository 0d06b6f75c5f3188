//! Typed contract storage.
//!
//! The chain stores raw bytes under raw keys (keys at most 128 bytes, values at most
//! 16 KiB); these helpers SCALE-encode values and build keys:
//! - [`get`], [`set`], [`clear`], [`contains`]: a value under a raw key you choose;
//! - [`Lazy`] (alias [`StorageValue`]): a single value under a fixed key;
//! - [`Mapping`]: values indexed by a SCALE-encodable key type under a prefix.
//!
//! Declare cells as constants; they hold only their key:
//!
//! ```
//! use menara_contract::{storage::{Lazy, Mapping}, AccountId};
//!
//! const TOTAL_SUPPLY: Lazy<u128> = Lazy::new(b"supply");
//! const BALANCES: Mapping<AccountId, u128> = Mapping::new(b"bal");
//! ```
//!
//! Give every cell and mapping its own key or prefix, and never let one prefix be the
//! start of another key or prefix (one distinct byte each is simplest): storage is one
//! flat key space per contract.
//!
//! A stored value that no longer decodes as the requested type (the contract changed its
//! layout without migrating) makes the getters panic, which traps the call: state is never
//! silently read as "absent".

use alloc::vec::Vec;
use core::marker::PhantomData;

use parity_scale_codec::{Decode, Encode};

use crate::env;

/// The longest [`Mapping`] prefix: a key is the prefix, a tag byte and at most 32 more
/// bytes when hashed, within the chain's 128-byte key limit.
pub const MAX_PREFIX_LEN: usize = env::MAX_KEY_SIZE - 1 - 32;

/// Tag byte after a [`Mapping`] prefix: the SCALE-encoded key follows as is.
pub const KEY_TAG_PLAIN: u8 = 0;
/// Tag byte after a [`Mapping`] prefix: the BLAKE3 hash of the SCALE-encoded key follows.
pub const KEY_TAG_HASHED: u8 = 1;

fn decode_stored<V: Decode>(bytes: &[u8]) -> V {
    match V::decode(&mut &bytes[..]) {
        Ok(value) => value,
        Err(_) => panic!("a stored value does not decode as the requested type"),
    }
}

/// The value under `key`, decoded; `None` if there is none.
///
/// # Panics
/// If the stored bytes do not decode as `V` (this traps the call).
pub fn get<V: Decode>(key: &[u8]) -> Option<V> {
    env::storage_get(key).map(|bytes| decode_stored(&bytes))
}

/// Stores `value` (SCALE-encoded) under `key`.
pub fn set<V: Encode + ?Sized>(key: &[u8], value: &V) {
    value.using_encoded(|bytes| env::storage_set(key, bytes));
}

/// Removes the value under `key`; returns whether there was one.
pub fn clear(key: &[u8]) -> bool {
    env::storage_clear(key).is_some()
}

/// Whether a value is stored under `key`.
pub fn contains(key: &[u8]) -> bool {
    env::storage_contains(key).is_some()
}

/// BLAKE3 for storage keys: the host's inside the chain, the `blake3` crate on a host
/// build with `std` (so tooling can compute the same keys).
fn hash_key(data: &[u8]) -> [u8; 32] {
    #[cfg(all(feature = "std", not(target_arch = "wasm32")))]
    {
        *blake3::hash(data).as_bytes()
    }
    #[cfg(not(all(feature = "std", not(target_arch = "wasm32"))))]
    {
        env::hash_blake3(data)
    }
}

/// A single value under a fixed key.
///
/// ```
/// use menara_contract::storage::Lazy;
/// const OWNER: Lazy<[u8; 32]> = Lazy::new(b"owner");
/// ```
pub struct Lazy<V> {
    key: &'static [u8],
    _value: PhantomData<fn() -> V>,
}

/// Another name for [`Lazy`].
pub type StorageValue<V> = Lazy<V>;

impl<V> Lazy<V> {
    /// A cell stored under `key` (at most 128 bytes; longer is a compile error when the
    /// cell is a constant).
    pub const fn new(key: &'static [u8]) -> Self {
        assert!(
            key.len() <= env::MAX_KEY_SIZE,
            "storage keys are at most 128 bytes"
        );
        Self {
            key,
            _value: PhantomData,
        }
    }

    /// The cell's storage key.
    pub const fn key(&self) -> &'static [u8] {
        self.key
    }
}

impl<V: Encode + Decode> Lazy<V> {
    /// The stored value, if any.
    pub fn get(&self) -> Option<V> {
        get(self.key)
    }

    /// The stored value, or `V::default()` if there is none.
    pub fn get_or_default(&self) -> V
    where
        V: Default,
    {
        self.get().unwrap_or_default()
    }

    /// Stores `value`.
    pub fn set(&self, value: &V) {
        set(self.key, value)
    }

    /// Removes the value; returns whether there was one.
    pub fn clear(&self) -> bool {
        clear(self.key)
    }

    /// Whether a value is stored.
    pub fn exists(&self) -> bool {
        contains(self.key)
    }
}

/// Values of type `V` indexed by keys of type `K`, under a prefix.
///
/// The storage key of `k` is `prefix ++ [0] ++ SCALE(k)` when that fits in 128 bytes, and
/// `prefix ++ [1] ++ blake3(SCALE(k))` otherwise; the tag byte keeps the two forms from
/// ever colliding.
///
/// ```
/// use menara_contract::{storage::Mapping, AccountId};
/// const ALLOWANCES: Mapping<(AccountId, AccountId), u128> = Mapping::new(b"A");
/// ```
pub struct Mapping<K, V> {
    prefix: &'static [u8],
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Mapping<K, V> {
    /// A mapping under `prefix` (at most [`MAX_PREFIX_LEN`] bytes; longer is a compile
    /// error when the mapping is a constant).
    pub const fn new(prefix: &'static [u8]) -> Self {
        assert!(
            prefix.len() <= MAX_PREFIX_LEN,
            "mapping prefixes are at most 95 bytes"
        );
        Self {
            prefix,
            _types: PhantomData,
        }
    }

    /// The mapping's prefix.
    pub const fn prefix(&self) -> &'static [u8] {
        self.prefix
    }
}

impl<K: Encode, V: Encode + Decode> Mapping<K, V> {
    /// The storage key of `key` (see the type's docs).
    pub fn key(&self, key: &K) -> Vec<u8> {
        let mut out = Vec::with_capacity(env::MAX_KEY_SIZE);
        out.extend_from_slice(self.prefix);
        out.push(KEY_TAG_PLAIN);
        key.encode_to(&mut out);
        if out.len() > env::MAX_KEY_SIZE {
            let hash = hash_key(&out[self.prefix.len() + 1..]);
            out.truncate(self.prefix.len());
            out.push(KEY_TAG_HASHED);
            out.extend_from_slice(&hash);
        }
        out
    }

    /// The value under `key`, if any.
    pub fn get(&self, key: &K) -> Option<V> {
        get(&self.key(key))
    }

    /// The value under `key`, or `V::default()`.
    pub fn get_or_default(&self, key: &K) -> V
    where
        V: Default,
    {
        self.get(key).unwrap_or_default()
    }

    /// Stores `value` under `key`.
    pub fn insert(&self, key: &K, value: &V) {
        set(&self.key(key), value)
    }

    /// Removes the value under `key`; returns whether there was one.
    pub fn remove(&self, key: &K) -> bool {
        clear(&self.key(key))
    }

    /// Removes and returns the value under `key`.
    pub fn take(&self, key: &K) -> Option<V> {
        let storage_key = self.key(key);
        let value = get(&storage_key);
        if value.is_some() {
            clear(&storage_key);
        }
        value
    }

    /// Whether a value is stored under `key`.
    pub fn contains(&self, key: &K) -> bool {
        contains(&self.key(key))
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn short_keys_are_prefix_tag_and_scale() {
        const M: Mapping<u32, u8> = Mapping::new(b"m");
        assert_eq!(M.key(&7), vec![b'm', KEY_TAG_PLAIN, 7, 0, 0, 0]);
        const L: Lazy<u8> = Lazy::new(b"cell");
        assert_eq!(L.key(), b"cell");
    }

    #[test]
    fn long_keys_are_hashed_within_the_limit() {
        const M: Mapping<Vec<u8>, u8> = Mapping::new(b"pfx");
        // Fits exactly: 3 + 1 + 2 (compact length of 124) + 122 bytes = 128.
        let fits = vec![9u8; 122];
        let key = M.key(&fits);
        assert_eq!(key.len(), 128);
        assert_eq!(key[3], KEY_TAG_PLAIN);

        let long = vec![9u8; 123];
        let key = M.key(&long);
        assert_eq!(key.len(), 3 + 1 + 32);
        assert_eq!(&key[..3], b"pfx");
        assert_eq!(key[3], KEY_TAG_HASHED);
        assert_eq!(&key[4..], blake3::hash(&long.encode()).as_bytes());
    }
}
