//! Typed storage items with hashed keys.
//!
//! An item's key is `blake3(pallet)[..16] ++ blake3(item)[..16]`; a map entry appends
//! `blake3(encoded key)[..16] ++ encoded key`, so a pallet's items share a prefix, a
//! map's entries can be iterated and their keys recovered, and keys spread evenly.
use crate::io;
use alloc::vec::Vec;
use core::marker::PhantomData;
use parity_scale_codec::{Decode, DecodeAll, Encode};

/// Names one storage item: its pallet and item name.
pub trait StorageInstance {
    /// Pallet name, e.g. `"Balances"`.
    const PALLET: &'static str;
    /// Item name, e.g. `"Account"`.
    const ITEM: &'static str;
}

/// The 32-byte prefix of a storage item.
pub fn item_prefix<I: StorageInstance>() -> Vec<u8> {
    let mut key = Vec::with_capacity(32 + 16 + 40);
    key.extend_from_slice(&io::hashing::blake3_256(I::PALLET.as_bytes())[..16]);
    key.extend_from_slice(&io::hashing::blake3_256(I::ITEM.as_bytes())[..16]);
    key
}

/// Declares a storage instance type: `storage_item!(pub TotalIssuance: "Balances" / "TotalIssuance");`
#[macro_export]
macro_rules! storage_item {
    ($(#[$attr:meta])* $vis:vis $name:ident : $pallet:literal / $item:literal) => {
        $(#[$attr])*
        $vis struct $name;
        impl $crate::storage::StorageInstance for $name {
            const PALLET: &'static str = $pallet;
            const ITEM: &'static str = $item;
        }
    };
}

fn decode_stored<V: Decode>(key: &[u8], raw: Vec<u8>) -> Option<V> {
    match V::decode_all(&mut &raw[..]) {
        Ok(v) => Some(v),
        Err(_) => {
            io::logging::error(
                "storage",
                &alloc::format!("undecodable value at key of length {}", key.len()),
            );
            None
        }
    }
}

/// A single value.
pub struct StorageValue<I, V>(PhantomData<(I, V)>);

impl<I: StorageInstance, V: Encode + Decode> StorageValue<I, V> {
    /// The storage key.
    pub fn key() -> Vec<u8> {
        item_prefix::<I>()
    }
    /// The value, if set.
    pub fn get() -> Option<V> {
        let key = Self::key();
        io::storage::get(&key).and_then(|raw| decode_stored(&key, raw))
    }
    /// Sets the value.
    pub fn put(value: &V) {
        io::storage::set(&Self::key(), &value.encode());
    }
    /// Removes the value.
    pub fn kill() {
        io::storage::clear(&Self::key());
    }
    /// Whether a value is set.
    pub fn exists() -> bool {
        io::storage::get(&Self::key()).is_some()
    }
}

impl<I: StorageInstance, V: Encode + Decode + Default> StorageValue<I, V> {
    /// The value, or the default.
    pub fn get_or_default() -> V {
        Self::get().unwrap_or_default()
    }
    /// Changes the value in place; a value equal to the default is removed.
    pub fn mutate<R>(f: impl FnOnce(&mut V) -> R) -> R {
        let mut v = Self::get_or_default();
        let r = f(&mut v);
        Self::put(&v);
        r
    }
}

/// A map from `K` to `V`.
pub struct StorageMap<I, K, V>(PhantomData<(I, K, V)>);

impl<I: StorageInstance, K: Encode + Decode, V: Encode + Decode> StorageMap<I, K, V> {
    /// The prefix all entries share.
    pub fn prefix() -> Vec<u8> {
        item_prefix::<I>()
    }
    /// The storage key of `k`.
    pub fn key(k: &K) -> Vec<u8> {
        let encoded = k.encode();
        let mut key = item_prefix::<I>();
        key.extend_from_slice(&io::hashing::blake3_256(&encoded)[..16]);
        key.extend_from_slice(&encoded);
        key
    }
    /// The value of `k`, if any.
    pub fn get(k: &K) -> Option<V> {
        let key = Self::key(k);
        io::storage::get(&key).and_then(|raw| decode_stored(&key, raw))
    }
    /// Sets `k`.
    pub fn insert(k: &K, v: &V) {
        io::storage::set(&Self::key(k), &v.encode());
    }
    /// Removes `k`.
    pub fn remove(k: &K) {
        io::storage::clear(&Self::key(k));
    }
    /// Whether `k` has a value.
    pub fn contains_key(k: &K) -> bool {
        io::storage::get(&Self::key(k)).is_some()
    }
    /// Removes up to `limit` entries; returns how many, and whether any remain.
    pub fn clear(limit: u32) -> (u32, bool) {
        io::storage::clear_prefix(&Self::prefix(), limit)
    }
    /// All entries, in key-hash order.
    pub fn iter() -> StorageMapIter<K, V> {
        let prefix = Self::prefix();
        StorageMapIter {
            cursor: prefix.clone(),
            prefix,
            _marker: PhantomData,
        }
    }
}

impl<I: StorageInstance, K: Encode + Decode, V: Encode + Decode + Default> StorageMap<I, K, V> {
    /// The value of `k`, or the default.
    pub fn get_or_default(k: &K) -> V {
        Self::get(k).unwrap_or_default()
    }
}

impl<I: StorageInstance, K: Encode + Decode, V: Encode + Decode + Default + PartialEq>
    StorageMap<I, K, V>
{
    /// Changes the value of `k` in place; a value equal to the default is removed.
    pub fn mutate<R>(k: &K, f: impl FnOnce(&mut V) -> R) -> R {
        let key = Self::key(k);
        let mut v: V = io::storage::get(&key)
            .and_then(|raw| decode_stored(&key, raw))
            .unwrap_or_default();
        let r = f(&mut v);
        if v == V::default() {
            io::storage::clear(&key);
        } else {
            io::storage::set(&key, &v.encode());
        }
        r
    }
}

/// Iterator over a [`StorageMap`].
pub struct StorageMapIter<K, V> {
    prefix: Vec<u8>,
    cursor: Vec<u8>,
    _marker: PhantomData<(K, V)>,
}

impl<K: Decode, V: Decode> Iterator for StorageMapIter<K, V> {
    type Item = (K, V);
    fn next(&mut self) -> Option<(K, V)> {
        loop {
            let key = io::storage::next_key(&self.cursor)?;
            if !key.starts_with(&self.prefix) {
                return None;
            }
            self.cursor = key.clone();
            let Some(raw) = io::storage::get(&key) else {
                continue;
            };
            let encoded_key = key.get(self.prefix.len() + 16..)?;
            let (Ok(k), Some(v)) = (
                K::decode_all(&mut &encoded_key[..]),
                decode_stored::<V>(&key, raw),
            ) else {
                continue;
            };
            return Some((k, v));
        }
    }
}
