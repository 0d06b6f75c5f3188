//! System pallet: block number and context, account nonces, events, and the runtime code
//! itself (`set_code`, the checks a runtime upgrade must pass, and the record of which
//! version's migrations have run).
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
    /// The running runtime's spec name; new code must keep it.
    const SPEC_NAME: &'static str;
    /// The running runtime's spec version; new code must raise it.
    const SPEC_VERSION: u32;
    /// Largest runtime code accepted.
    const MAX_CODE_SIZE: u32;
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
    storage_item!(pub LastRuntimeUpgradePrefix: "System" / "LastRuntimeUpgrade");

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
    /// The spec version whose storage migrations have run (set at genesis; the executive
    /// runs migrations once when the code's version differs).
    pub type LastRuntimeUpgrade = StorageValue<LastRuntimeUpgradePrefix, u32>;
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
    /// Replaces the runtime code (Root only: governance). The code must pass
    /// [`Pallet::check_code`]; it runs from the next block on.
    #[codec(index = 1)]
    SetCode {
        /// The new runtime, a wasm module.
        code: Vec<u8>,
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
    /// The runtime code was replaced; the new code runs from the next block.
    #[codec(index = 3)]
    CodeUpdated {
        /// The new code's spec version.
        spec_version: u32,
        /// blake3 of the new code.
        code_hash: H256,
    },
    /// A new runtime ran its storage migrations (once, in its first block).
    #[codec(index = 4)]
    RuntimeUpgraded {
        /// The spec version migrated from.
        from: u32,
        /// The spec version now running.
        to: u32,
    },
}

/// Errors.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Error {
    /// The block context given by the node contradicts the chain (wrong genesis hash).
    #[codec(index = 0)]
    InvalidBlockContext,
    /// The code is not a runtime: it does not compile, lacks the runtime's exports,
    /// imports what the node does not offer, or does not answer `Core_version`.
    #[codec(index = 1)]
    InvalidCode,
    /// The code's spec name is not this chain's.
    #[codec(index = 2)]
    SpecNameMismatch,
    /// The code's spec version is not above the running one.
    #[codec(index = 3)]
    SpecVersionNotIncreased,
    /// The code is larger than `MAX_CODE_SIZE`.
    #[codec(index = 4)]
    CodeTooLarge,
}
menara_support::impl_pallet_error!(Error, {
    InvalidBlockContext,
    InvalidCode,
    SpecNameMismatch,
    SpecVersionNotIncreased,
    CodeTooLarge,
});

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

    /// Checks that `code` may replace the running runtime: not over `MAX_CODE_SIZE`, a
    /// runtime the node can run that answers `Core_version` (asked of the node, see
    /// [`menara_support::io::misc::runtime_version`]), the same spec name and a higher spec
    /// version. Returns its version.
    pub fn check_code(code: &[u8]) -> Result<menara_primitives::RuntimeVersion, Error> {
        if code.len() > T::MAX_CODE_SIZE as usize {
            return Err(Error::CodeTooLarge);
        }
        let version = menara_support::io::misc::runtime_version(code).ok_or(Error::InvalidCode)?;
        if version.spec_name != T::SPEC_NAME {
            return Err(Error::SpecNameMismatch);
        }
        if version.spec_version <= T::SPEC_VERSION {
            return Err(Error::SpecVersionNotIncreased);
        }
        Ok(version)
    }

    /// Replaces the runtime code after [`Self::check_code`].
    pub fn set_code(code: &[u8]) -> Result<(), Error> {
        let version = Self::check_code(code)?;
        menara_support::io::storage::set(menara_primitives::well_known_keys::CODE, code);
        Self::deposit_system_event(Event::CodeUpdated {
            spec_version: version.spec_version,
            code_hash: H256(menara_support::io::hashing::blake3_256(code)),
        });
        Ok(())
    }

    /// Records at genesis that no migration is due.
    pub fn build_genesis() {
        LastRuntimeUpgrade::put(&T::SPEC_VERSION);
    }

    /// Whether this code's migrations are due: `Some(from)` the first time a block runs
    /// under a new spec version (also on a chain older than this record: from the running
    /// version, nothing to migrate); records that they ran. The runtime runs them.
    pub fn note_runtime_upgrade() -> Option<u32> {
        let last = LastRuntimeUpgrade::get();
        if last == Some(T::SPEC_VERSION) {
            return None;
        }
        LastRuntimeUpgrade::put(&T::SPEC_VERSION);
        let from = last.unwrap_or(T::SPEC_VERSION);
        Self::deposit_system_event(Event::RuntimeUpgraded {
            from,
            to: T::SPEC_VERSION,
        });
        Some(from)
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
            Call::SetCode { code } => match origin {
                Origin::Root => {
                    Self::set_code(&code).map_err(|e| e.into_dispatch_error(T::PALLET_INDEX))
                }
                Origin::Signed(_) => Err(menara_support::dispatch::bad_origin()),
            },
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
        const SPEC_NAME: &'static str = "menara";
        const SPEC_VERSION: u32 = 5;
        const MAX_CODE_SIZE: u32 = 64;
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

    /// A stand-in for the executor: "code" is `b"rt"` followed by an encoded version.
    fn inspect(code: &[u8]) -> Option<Vec<u8>> {
        code.strip_prefix(b"rt").map(<[u8]>::to_vec)
    }

    fn code(name: &str, spec_version: u32) -> Vec<u8> {
        let mut code = b"rt".to_vec();
        menara_primitives::RuntimeVersion {
            spec_name: name.into(),
            spec_version,
            impl_version: 1,
            transaction_version: 1,
        }
        .encode_to(&mut code);
        code
    }

    #[test]
    fn set_code_refuses_what_could_brick_the_chain_and_needs_root() {
        let state = InMemoryState::default();
        let mut overlay = OverlayedChanges::new();
        let ext = Ext::new(&state, &mut overlay).with_code_inspector(&inspect);
        let mut ext = ext;
        menara_support::io::with_externalities(&mut ext, || {
            let g = H256([7; 32]);
            Pallet::<Test>::initialize(&ctx(1, g, g)).unwrap();
            let set = |origin, code: Vec<u8>| {
                Pallet::<Test>::dispatch(origin, Call::SetCode { code }).map_err(|e| e.message)
            };
            let err = |e: Error| Err(e.name().into());
            assert_eq!(
                set(Origin::Root, b"not wasm".to_vec()),
                err(Error::InvalidCode)
            );
            assert_eq!(
                set(Origin::Root, code("other", 6)),
                err(Error::SpecNameMismatch)
            );
            assert_eq!(
                set(Origin::Root, code("menara", 5)),
                err(Error::SpecVersionNotIncreased)
            );
            assert_eq!(set(Origin::Root, vec![0; 65]), err(Error::CodeTooLarge));
            assert_eq!(
                set(Origin::Signed(AccountId([1; 32])), code("menara", 6)),
                Err("BadOrigin".into())
            );
            let key = menara_primitives::well_known_keys::CODE;
            assert_eq!(menara_support::io::storage::get(key), None);
            set(Origin::Root, code("menara", 6)).unwrap();
            assert_eq!(
                menara_support::io::storage::get(key),
                Some(code("menara", 6))
            );
        });
    }

    #[test]
    fn migrations_are_due_once_per_new_version() {
        let state = InMemoryState::default();
        let mut overlay = OverlayedChanges::new();
        menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
            Pallet::<Test>::build_genesis();
            assert_eq!(Pallet::<Test>::note_runtime_upgrade(), None);
            LastRuntimeUpgrade::put(&4);
            assert_eq!(Pallet::<Test>::note_runtime_upgrade(), Some(4));
            assert_eq!(Pallet::<Test>::note_runtime_upgrade(), None);
            LastRuntimeUpgrade::kill();
            assert_eq!(Pallet::<Test>::note_runtime_upgrade(), Some(5));
            assert_eq!(Pallet::<Test>::note_runtime_upgrade(), None);
        });
    }
}
