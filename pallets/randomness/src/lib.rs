//! Randomness pallet: the chain's randomness beacon.
//!
//! Every block carries its author's BLS12-381 signature over
//! [`menara_primitives::beacon_message`] (the genesis hash and the block's height). The
//! runtime checks it against the author's consensus key in the validator set and mixes it
//! into the beacon:
//!
//! ```text
//! beacon(n) = blake3("menara/beacon/mix" || beacon(n-1) || signature(n))
//! ```
//!
//! BLS signatures are unique per key and message, so an author has exactly one value it
//! can contribute: it cannot grind through candidates as it could with a nonce, a
//! timestamp or the set of transactions. Pallets that need randomness (availability
//! challenges, job sampling, verifier assignment) read the beacon of a block *after* the
//! event they randomise, so nobody could know the value when they acted.
//!
//! # Remaining bias
//!
//! - An author can withhold its block: the round then passes to the next proposer, whose
//!   signature gives a different value. That is one bit of choice per author and block,
//!   paid for with the block's fees and a missed-slot mark towards downtime slashing.
//! - An author knows its own future contributions (it can sign any height in advance), so
//!   it learns `beacon(n)` one block before everyone else when it authors block `n`.
//!   Consumers therefore decide with the beacon of a block strictly after the action they
//!   randomise, and never let the same party both act and author that block for profit
//!   without it being visible (e.g. a provider that is also the proposer can at most skip
//!   its slot).
//! - Several colluding consecutive authors can withhold in turn; their influence grows with
//!   their share of proposer slots.
//!
//! # Shape
//!
//! No calls and no events; storage is the current beacon and the last
//! [`HISTORY_BLOCKS`] values by block, for consumers that decide lazily.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use menara_primitives::{beacon_message, BlockContext, BlockNumber, H256};
use menara_support::codec::{Decode, Encode};
use menara_support::{
    io, storage_item, DispatchResult, Origin, PalletError, StorageMap, StorageValue,
};

/// Blocks whose beacon stays readable after they were executed.
pub const HISTORY_BLOCKS: BlockNumber = 256;

/// Configuration of the randomness pallet.
pub trait Config: pallet_session::Config {
    /// This pallet's index in the runtime.
    const PALLET_INDEX: u8;
}

/// Storage items.
pub mod storage {
    use super::*;
    storage_item!(pub BeaconPrefix: "Randomness" / "Beacon");
    storage_item!(pub HistoryPrefix: "Randomness" / "History");
    /// The beacon after the current (or last executed) block.
    pub type Beacon = StorageValue<BeaconPrefix, H256>;
    /// The beacon after each of the last [`HISTORY_BLOCKS`] blocks.
    pub type History = StorageMap<HistoryPrefix, BlockNumber, H256>;
}
use storage::*;

/// Calls: none (the beacon comes with the block, not in a transaction).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {}

/// Events: none.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Event {}

/// Errors (they make the block invalid).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Error {
    /// The block's author is not in the validator set.
    #[codec(index = 0)]
    UnknownAuthor,
    /// The beacon signature is not the author's signature over chain and height.
    #[codec(index = 1)]
    BadBeaconSignature,
}
menara_support::impl_pallet_error!(Error, { UnknownAuthor, BadBeaconSignature });

/// The pallet.
pub struct Pallet<T>(core::marker::PhantomData<T>);

impl<T: Config> Pallet<T> {
    /// Checks the block's beacon signature and mixes it in. Called when a block starts,
    /// after the system pallet recorded the context; an error makes the block invalid.
    pub fn on_initialize(ctx: &BlockContext) -> DispatchResult {
        let author = pallet_session::Pallet::<T>::validators()
            .into_iter()
            .find(|v| v.account == ctx.author)
            .ok_or(Error::UnknownAuthor.into_dispatch_error(<T as Config>::PALLET_INDEX))?;
        let message = beacon_message(&ctx.genesis_hash, ctx.number);
        if !io::bls12381_verify(&author.bls_public_key, &message, &ctx.beacon.0) {
            return Err(Error::BadBeaconSignature.into_dispatch_error(<T as Config>::PALLET_INDEX));
        }
        let mut h = alloc::vec::Vec::with_capacity(17 + 32 + ctx.beacon.0.len());
        h.extend_from_slice(b"menara/beacon/mix");
        h.extend_from_slice(&Beacon::get_or_default().0);
        h.extend_from_slice(&ctx.beacon.0);
        let value = H256(io::hashing::blake3_256(&h));
        Beacon::put(&value);
        History::insert(&ctx.number, &value);
        if let Some(old) = ctx.number.checked_sub(HISTORY_BLOCKS) {
            History::remove(&old);
        }
        Ok(())
    }

    /// Calls: there are none.
    pub fn dispatch(_origin: Origin, call: Call) -> DispatchResult {
        match call {}
    }

    /// The current beacon.
    pub fn beacon() -> H256 {
        Beacon::get_or_default()
    }

    /// The beacon after block `number`, if it is among the last [`HISTORY_BLOCKS`].
    pub fn beacon_at(number: BlockNumber) -> Option<H256> {
        History::get(&number)
    }

    /// A random value for `purpose` from the beacon after block `number`: consumers
    /// domain-separate so two uses of one block's beacon are independent.
    pub fn random_at(number: BlockNumber, purpose: &[u8]) -> Option<[u8; 32]> {
        let beacon = Self::beacon_at(number)?;
        let mut h = alloc::vec::Vec::with_capacity(32 + purpose.len());
        h.extend_from_slice(&beacon.0);
        h.extend_from_slice(purpose);
        Some(io::hashing::blake3_256(&h))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use menara_crypto::BlsSecretKey;
    use menara_primitives::{AccountId, BeaconSignature, ValidatorRecord};
    use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};

    struct Test;
    impl pallet_system::Config for Test {
        const PALLET_INDEX: u8 = 0;
        const MAX_EVENTS_PER_BLOCK: u32 = 100;
        const SPEC_NAME: &'static str = "menara";
        const SPEC_VERSION: u32 = 1;
        const MAX_CODE_SIZE: u32 = 1 << 20;
    }
    impl pallet_session::Config for Test {
        const PALLET_INDEX: u8 = 2;
    }
    impl Config for Test {
        const PALLET_INDEX: u8 = 6;
    }
    type Randomness = Pallet<Test>;

    fn key(n: u8) -> BlsSecretKey {
        BlsSecretKey::from_seed(&[n; 32])
    }

    fn ctx(number: BlockNumber, author: u8, sig: BeaconSignature) -> BlockContext {
        BlockContext {
            number,
            parent_hash: H256([number as u8; 32]),
            timestamp: number,
            author: AccountId([author; 32]),
            genesis_hash: H256([9; 32]),
            beacon: sig,
        }
    }

    fn sign(n: u8, number: BlockNumber) -> BeaconSignature {
        BeaconSignature(
            key(n)
                .sign(&beacon_message(&H256([9; 32]), number))
                .to_bytes(),
        )
    }

    fn with_set(f: impl FnOnce()) {
        let state = InMemoryState::default();
        let mut overlay = OverlayedChanges::new();
        io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
            let set: alloc::vec::Vec<ValidatorRecord> = (1..=2u8)
                .map(|n| ValidatorRecord {
                    account: AccountId([n; 32]),
                    bls_public_key: key(n).public_key().to_bytes(),
                    stake: 1,
                })
                .collect();
            pallet_session::storage::Validators::put(&set);
            f()
        });
    }

    #[test]
    fn the_authors_signature_is_mixed_in_and_anything_else_refused() {
        with_set(|| {
            Randomness::on_initialize(&ctx(1, 1, sign(1, 1))).unwrap();
            let b1 = Randomness::beacon();
            assert_ne!(b1, H256::zero());
            assert_eq!(Randomness::beacon_at(1), Some(b1));
            // Another validator's signature, the right key for another height, an outsider.
            assert!(Randomness::on_initialize(&ctx(2, 1, sign(2, 2))).is_err());
            assert!(Randomness::on_initialize(&ctx(2, 1, sign(1, 3))).is_err());
            assert!(Randomness::on_initialize(&ctx(2, 3, sign(1, 2))).is_err());
            assert!(Randomness::on_initialize(&ctx(2, 1, BeaconSignature::default())).is_err());
            assert_eq!(Randomness::beacon(), b1);
            Randomness::on_initialize(&ctx(2, 2, sign(2, 2))).unwrap();
            let b2 = Randomness::beacon();
            assert_ne!(b2, b1);
            assert_ne!(
                Randomness::random_at(2, b"a").unwrap(),
                Randomness::random_at(2, b"b").unwrap()
            );
        });
    }

    #[test]
    fn history_keeps_the_last_blocks_only() {
        with_set(|| {
            for n in 1..=HISTORY_BLOCKS + 2 {
                Randomness::on_initialize(&ctx(n, 1, sign(1, n))).unwrap();
            }
            assert_eq!(Randomness::beacon_at(1), None);
            assert_eq!(Randomness::beacon_at(2), None);
            assert!(Randomness::beacon_at(3).is_some());
            assert_eq!(
                Randomness::beacon_at(HISTORY_BLOCKS + 2),
                Some(Randomness::beacon())
            );
        });
    }
}
