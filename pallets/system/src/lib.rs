//! System pallet: block number and context, account nonces, and events.
//!
//! Shape shared by every pallet: `Config`, storage, `Call`, `Event`, `Error`, `Pallet`.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use menara_primitives::{
    AccountId, BlockContext, BlockNumber, EventRecord, Moment, Nonce, Phase, H256,
};
use menara_support::codec::{Decode, Encode};
use menara_support::{
    ensure_signed, storage_item, DispatchResult, Origin, PalletError, StorageMap, StorageValue,
};

/// Configuration of the system pallet.
pub trait Config {
    /// This pallet's index in the runtime (first byte of its calls and events).
    const PALLET_INDEX: u8;
    /// Most events kept per block; later ones are dropped (the block still executes).
    const MAX_EVENTS_PER_BLOCK: u32;
}

/// Storage items.
pub mod storage {
    use super::*;
    storage_item!(pub NumberPrefix: "System" / "Number");
    storage_item!(pub ParentHashPrefix: "System" / "ParentHash");
    storage_item!(pub TimestampPrefix: "System" / "Timestamp");
    storage_item!(pub AuthorPrefix: "System" / "Author");
    storage_item!(pub GenesisHashPrefix: "System" / "GenesisHash");
    storage_item!(pub ExecutionPhasePrefix: "System" / "ExecutionPhase");
    storage_item!(pub EventCountPrefix: "System" / "EventCount");
    storage_item!(pub EventsPrefix: "System" / "Events");
    storage_item!(pub AccountNoncePrefix: "System" / "AccountNonce");

    /// Height of the block being executed (or last executed).
    pub type Number = StorageValue<NumberPrefix, BlockNumber>;
    /// Its parent's hash.
    pub type ParentHash = StorageValue<ParentHashPrefix, H256>;
    /// Its author's timestamp (ms).
    pub type Timestamp = StorageValue<TimestampPrefix, Moment>;
    /// Its author.
    pub type Author = StorageValue<AuthorPrefix, AccountId>;
    /// The genesis block's hash, which transactions sign; learnt from block 1's parent.
    pub type GenesisHash = StorageValue<GenesisHashPrefix, H256>;
    /// Where in the block execution is.
    pub type ExecutionPhase = StorageValue<ExecutionPhasePrefix, Phase>;
    /// Number of events of the current block.
    pub type EventCount = StorageValue<EventCountPrefix, u32>;
    /// Events of the current block, by index (a map, so depositing one is O(1)).
    pub type Events = StorageMap<EventsPrefix, u32, EventRecord>;
    /// Next nonce of each account. Never removed, so a transaction cannot be replayed.
    pub type AccountNonce = StorageMap<AccountNoncePrefix, AccountId, Nonce>;
}
use storage::*;

/// Calls.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Records nothing but the transaction itself (pays the fee, uses the nonce).
    #[codec(index = 0)]
    Remark {
        /// Arbitrary bytes.
        remark: Vec<u8>,
    },
}

/// Events.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Event {
    /// A transaction's call succeeded.
    #[codec(index = 0)]
    ExtrinsicSuccess {
        /// Fee paid (burned).
        fee: u128,
    },
    /// A transaction was included but its call failed; its fee is still paid.
    #[codec(index = 1)]
    ExtrinsicFailed {
        /// Fee paid (burned).
        fee: u128,
        /// Why it failed.
        error: menara_primitives::DispatchError,
    },
    /// A remark was made.
    #[codec(index = 2)]
    Remarked {
        /// Who.
        who: AccountId,
        /// blake3 of the remark.
        hash: H256,
    },
}

/// Errors.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Error {
    /// The block context given by the node contradicts the chain (wrong genesis hash).
    #[codec(index = 0)]
    InvalidBlockContext,
}
menara_support::impl_pallet_error!(Error, { InvalidBlockContext });

/// The pallet.
pub struct Pallet<T>(core::marker::PhantomData<T>);

impl<T: Config> Pallet<T> {
    /// Starts a block: records its context and clears the previous block's events.
    pub fn initialize(ctx: &BlockContext) -> DispatchResult {
        if ctx.number == 1 {
            // Block 1's parent is genesis: this is where the chain learns its own hash.
            GenesisHash::put(&ctx.parent_hash);
        }
        match GenesisHash::get() {
            Some(g) if g == ctx.genesis_hash => {}
            _ if ctx.number == 0 => {}
            _ => return Err(Error::InvalidBlockContext.into_dispatch_error(T::PALLET_INDEX)),
        }
        let previous_events = EventCount::get_or_default();
        Events::clear(previous_events.saturating_add(1));
        EventCount::kill();
        Number::put(&ctx.number);
        ParentHash::put(&ctx.parent_hash);
        Timestamp::put(&ctx.timestamp);
        Author::put(&ctx.author);
        ExecutionPhase::put(&Phase::Initialization);
        Ok(())
    }

    /// Sets the phase events are tagged with.
    pub fn set_phase(phase: Phase) {
        ExecutionPhase::put(&phase);
    }

    /// Deposits an encoded event of pallet `pallet`.
    pub fn deposit_event(pallet: u8, event: Vec<u8>) {
        let count = EventCount::get_or_default();
        if count >= T::MAX_EVENTS_PER_BLOCK {
            return;
        }
        let phase = ExecutionPhase::get().unwrap_or(Phase::Initialization);
        Events::insert(
            &count,
            &EventRecord {
                phase,
                pallet,
                event,
            },
        );
        EventCount::put(&(count + 1));
    }

    /// Deposits one of this pallet's events.
    pub fn deposit_system_event(event: Event) {
        Self::deposit_event(T::PALLET_INDEX, event.encode());
    }

    /// Events of the current block, in order.
    pub fn events() -> Vec<EventRecord> {
        let count = EventCount::get_or_default();
        (0..count).filter_map(|i| Events::get(&i)).collect()
    }

    /// The block being executed.
    pub fn block_number() -> BlockNumber {
        Number::get_or_default()
    }

    /// The genesis hash transactions must sign, once known.
    pub fn genesis_hash() -> Option<H256> {
        GenesisHash::get()
    }

    /// Next nonce of `who`.
    pub fn account_nonce(who: &AccountId) -> Nonce {
        AccountNonce::get_or_default(who)
    }

    /// Uses `who`'s current nonce.
    pub fn inc_account_nonce(who: &AccountId) {
        AccountNonce::mutate(who, |n| *n = n.saturating_add(1));
    }

    /// Dispatches a call.
    pub fn dispatch(origin: Origin, call: Call) -> DispatchResult {
        match call {
            Call::Remark { remark } => {
                let who = ensure_signed(origin)?;
                let hash = H256(menara_support::io::hashing::blake3_256(&remark));
                Self::deposit_system_event(Event::Remarked { who, hash });
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};

    struct Test;
    impl Config for Test {
        const PALLET_INDEX: u8 = 0;
        const MAX_EVENTS_PER_BLOCK: u32 = 3;
    }

    fn ctx(number: u64, parent: H256, genesis: H256) -> BlockContext {
        BlockContext {
            number,
            parent_hash: parent,
            timestamp: 1000 * number,
            author: AccountId([1; 32]),
            genesis_hash: genesis,
            beacon: Default::default(),
        }
    }

    #[test]
    fn learns_genesis_hash_at_block_one_and_refuses_another_chain() {
        let state = InMemoryState::default();
        let mut overlay = OverlayedChanges::new();
        menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
            let genesis = H256([7; 32]);
            Pallet::<Test>::initialize(&ctx(1, genesis, genesis)).unwrap();
            assert_eq!(Pallet::<Test>::genesis_hash(), Some(genesis));
            Pallet::<Test>::initialize(&ctx(2, H256([8; 32]), genesis)).unwrap();
            assert!(Pallet::<Test>::initialize(&ctx(3, H256([9; 32]), H256([1; 32]))).is_err());
        });
    }

    #[test]
    fn events_are_bounded_and_cleared_each_block() {
        let state = InMemoryState::default();
        let mut overlay = OverlayedChanges::new();
        menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
            let g = H256([7; 32]);
            Pallet::<Test>::initialize(&ctx(1, g, g)).unwrap();
            for i in 0..5u8 {
                Pallet::<Test>::deposit_event(1, vec![i]);
            }
            let events = Pallet::<Test>::events();
            assert_eq!(events.len(), 3);
            assert_eq!(events[2].event, vec![2]);
            Pallet::<Test>::initialize(&ctx(2, H256([1; 32]), g)).unwrap();
            assert!(Pallet::<Test>::events().is_empty());
        });
    }

    #[test]
    fn nonces_count_up_per_account() {
        let state = InMemoryState::default();
        let mut overlay = OverlayedChanges::new();
        menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
            let a = AccountId([1; 32]);
            assert_eq!(Pallet::<Test>::account_nonce(&a), 0);
            Pallet::<Test>::inc_account_nonce(&a);
            Pallet::<Test>::inc_account_nonce(&a);
            assert_eq!(Pallet::<Test>::account_nonce(&a), 2);
            assert_eq!(Pallet::<Test>::account_nonce(&AccountId([2; 32])), 0);
        });
    }
}
