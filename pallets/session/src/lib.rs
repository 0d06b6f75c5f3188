//! Session pallet: the validator set consensus runs with, kept in runtime state.
//!
//! Each validator is a [`ValidatorRecord`]: its account, its BLS12-381 consensus key and its
//! stake (voting power). A key enters the set only with a proof of possession that the
//! runtime checks itself ([`io::bls12381_verify_pop`]), which is what makes aggregated
//! votes safe against rogue-key attacks. The node reads the set with the `validators`
//! query ([`menara_primitives::queries::VALIDATORS`]).
//!
//! For now the set is fixed at genesis: there are no calls. The staking issue will change
//! it at epoch boundaries (bonding, unbonding, slashing from the offences pallet's records),
//! through the same checks as [`Pallet::build_genesis`].
//!
//! [`io::bls12381_verify_pop`]: menara_support::io::bls12381_verify_pop
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use menara_primitives::{
    AccountId, Balance, ValidatorRecord, BLS_PUBLIC_KEY_LEN, BLS_SIGNATURE_LEN,
};
use menara_support::codec::{Decode, Encode};
use menara_support::{io, storage_item, DispatchResult, Origin, StorageMap, StorageValue};

/// Largest total stake of a set: consensus refuses more (its quorum arithmetic multiplies
/// stakes), so the runtime never stores a set consensus could not run with.
pub const MAX_TOTAL_STAKE: Balance = 1 << 100;

/// Configuration of the session pallet.
pub trait Config: pallet_system::Config {
    /// This pallet's index in the runtime.
    const PALLET_INDEX: u8;
}

/// Storage items.
pub mod storage {
    use super::*;
    storage_item!(pub ValidatorsPrefix: "Session" / "Validators");
    /// The current validator set, in genesis order (consensus sorts it by account).
    pub type Validators = StorageValue<ValidatorsPrefix, Vec<ValidatorRecord>>;
    storage_item!(pub AuthoredPrefix: "Session" / "Authored");
    /// Blocks each account authored since the epoch began (liveness evidence).
    pub type Authored = StorageMap<AuthoredPrefix, AccountId, u32>;
}
use storage::*;

/// Calls: none yet. The staking issue adds the calls that change the set (applied at
/// epoch boundaries).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {}

/// Events: none yet (the set only changes at genesis for now).
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Event {}

/// Why a genesis validator set is refused.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum GenesisError {
    /// No validators at all: the chain could never finalise a block.
    NoValidators,
    /// A validator with zero stake (no voting power).
    ZeroStake(AccountId),
    /// The same account twice.
    DuplicateAccount(AccountId),
    /// The same BLS key twice (the account is the second validator using it).
    DuplicateKey(AccountId),
    /// A proof of possession that does not verify against the validator's BLS key (or a
    /// key that is not a valid BLS12-381 public key).
    BadProofOfPossession(AccountId),
    /// The stakes sum past [`MAX_TOTAL_STAKE`].
    TotalStakeTooLarge,
}

impl core::fmt::Display for GenesisError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            GenesisError::NoValidators => write!(f, "the genesis validator set is empty"),
            GenesisError::ZeroStake(who) => write!(f, "validator {who} has zero stake"),
            GenesisError::DuplicateAccount(who) => {
                write!(f, "validator account {who} appears more than once")
            }
            GenesisError::DuplicateKey(who) => write!(
                f,
                "validator {who} uses a BLS public key another validator already uses"
            ),
            GenesisError::BadProofOfPossession(who) => write!(
                f,
                "the proof of possession of validator {who} does not verify against its BLS public key"
            ),
            GenesisError::TotalStakeTooLarge => write!(
                f,
                "the validators' stakes sum past the most consensus accepts (2^100 base units)"
            ),
        }
    }
}

/// Genesis configuration.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct GenesisConfig {
    /// The initial validators, each with the proof of possession of its BLS key.
    pub validators: Vec<(ValidatorRecord, [u8; BLS_SIGNATURE_LEN])>,
}

/// The pallet.
pub struct Pallet<T>(core::marker::PhantomData<T>);

impl<T: Config> Pallet<T> {
    /// Checks and writes the genesis validator set: refuses an empty set, zero stake,
    /// a duplicate account or BLS key, and a proof of possession that does not verify.
    pub fn build_genesis(config: &GenesisConfig) -> Result<(), GenesisError> {
        let set = Self::check_set(&config.validators)?;
        Validators::put(&set);
        Ok(())
    }

    /// Checks a candidate set (with proofs of possession) and returns its records.
    pub fn check_set(
        validators: &[(ValidatorRecord, [u8; BLS_SIGNATURE_LEN])],
    ) -> Result<Vec<ValidatorRecord>, GenesisError> {
        if validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let mut accounts = BTreeSet::new();
        let mut keys = BTreeSet::new();
        let mut total: Balance = 0;
        for (record, pop) in validators {
            if record.stake == 0 {
                return Err(GenesisError::ZeroStake(record.account));
            }
            if !accounts.insert(record.account) {
                return Err(GenesisError::DuplicateAccount(record.account));
            }
            if !keys.insert(record.bls_public_key) {
                return Err(GenesisError::DuplicateKey(record.account));
            }
            total = total
                .checked_add(record.stake)
                .filter(|t| *t <= MAX_TOTAL_STAKE)
                .ok_or(GenesisError::TotalStakeTooLarge)?;
            if !io::bls12381_verify_pop(&record.bls_public_key, pop) {
                return Err(GenesisError::BadProofOfPossession(record.account));
            }
        }
        Ok(validators.iter().map(|(r, _)| r.clone()).collect())
    }

    /// The current validator set (what the `validators` query returns).
    pub fn validators() -> Vec<ValidatorRecord> {
        Validators::get_or_default()
    }

    /// The validator whose consensus key is `key`, if any.
    pub fn validator_by_key(key: &[u8; BLS_PUBLIC_KEY_LEN]) -> Option<ValidatorRecord> {
        Self::validators()
            .into_iter()
            .find(|v| &v.bls_public_key == key)
    }

    /// Counts a block for its author (called by the runtime for every block).
    pub fn note_author(who: &AccountId) {
        Authored::mutate(who, |n| *n = n.saturating_add(1));
    }

    /// Blocks `who` authored since the epoch began.
    pub fn authored(who: &AccountId) -> u32 {
        Authored::get_or_default(who)
    }

    /// Validators of the current set that authored no block during an epoch of `blocks`
    /// blocks although their stake share gave them at least `min_expected` proposer slots
    /// (proposers rotate by stake, so an online validator authors close to its share). A
    /// validator with a share too small to be expected to propose is never flagged.
    pub fn unresponsive(blocks: u32, min_expected: u32) -> Vec<AccountId> {
        let set = Self::validators();
        let total: Balance = set.iter().map(|v| v.stake).sum();
        if total == 0 {
            return Vec::new();
        }
        set.iter()
            .filter(|v| {
                let expected = v.stake.saturating_mul(Balance::from(blocks)) / total;
                expected >= Balance::from(min_expected) && Self::authored(&v.account) == 0
            })
            .map(|v| v.account)
            .collect()
    }

    /// Forgets the authorship counts (at each epoch's end).
    pub fn reset_authored() {
        let _ = Authored::clear(u32::MAX);
    }

    /// Dispatches a call (there are none yet).
    pub fn dispatch(_origin: Origin, call: Call) -> DispatchResult {
        match call {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use menara_crypto::BlsSecretKey;
    use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};

    struct Test;
    impl pallet_system::Config for Test {
        const PALLET_INDEX: u8 = 0;
        const MAX_EVENTS_PER_BLOCK: u32 = 100;
        const SPEC_NAME: &'static str = "menara";
        const SPEC_VERSION: u32 = 1;
        const MAX_CODE_SIZE: u32 = 1 << 20;
    }
    impl Config for Test {
        const PALLET_INDEX: u8 = 2;
    }
    type Session = Pallet<Test>;

    fn validator(i: u8, stake: Balance) -> (ValidatorRecord, [u8; BLS_SIGNATURE_LEN]) {
        let sk = BlsSecretKey::from_seed(&[i; 32]);
        (
            ValidatorRecord {
                account: AccountId([i; 32]),
                bls_public_key: sk.public_key().to_bytes(),
                stake,
            },
            sk.prove_possession().0.to_bytes(),
        )
    }

    #[test]
    fn a_validator_that_authored_nothing_in_an_epoch_is_unresponsive() {
        let state = InMemoryState::default();
        let mut overlay = OverlayedChanges::new();
        menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
            let set = vec![
                validator(1, 10),
                validator(2, 10),
                validator(3, 10),
                validator(4, 1),
            ];
            Session::build_genesis(&GenesisConfig { validators: set }).unwrap();
            for _ in 0..20 {
                Session::note_author(&AccountId([1; 32]));
                Session::note_author(&AccountId([2; 32]));
            }
            // 3 authored nothing with a share of ~16 of 50 blocks; 4's share (~1.6) is too
            // small to tell.
            assert_eq!(Session::unresponsive(50, 4), vec![AccountId([3; 32])]);
            assert_eq!(Session::authored(&AccountId([1; 32])), 20);
            Session::reset_authored();
            assert_eq!(Session::authored(&AccountId([1; 32])), 0);
            assert_eq!(Session::unresponsive(50, 4).len(), 3);
        });
    }

    fn build(
        validators: Vec<(ValidatorRecord, [u8; BLS_SIGNATURE_LEN])>,
    ) -> Result<(), GenesisError> {
        let state = InMemoryState::default();
        let mut overlay = OverlayedChanges::new();
        let result =
            menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
                Session::build_genesis(&GenesisConfig { validators })
            });
        if result.is_err() {
            assert!(
                overlay.into_changes().is_empty(),
                "refused genesis wrote state"
            );
        }
        result
    }

    #[test]
    fn genesis_stores_the_set_in_order() {
        let state = InMemoryState::default();
        let mut overlay = OverlayedChanges::new();
        menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
            let set = vec![validator(3, 10), validator(1, 20), validator(2, 30)];
            Session::build_genesis(&GenesisConfig {
                validators: set.clone(),
            })
            .unwrap();
            let stored = Session::validators();
            assert_eq!(
                stored,
                set.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>()
            );
            let key = set[1].0.bls_public_key;
            assert_eq!(Session::validator_by_key(&key), Some(set[1].0.clone()));
            assert_eq!(Session::validator_by_key(&[0; BLS_PUBLIC_KEY_LEN]), None);
        });
    }

    #[test]
    fn genesis_refuses_an_empty_set() {
        assert_eq!(build(vec![]), Err(GenesisError::NoValidators));
    }

    #[test]
    fn genesis_refuses_zero_stake() {
        assert_eq!(
            build(vec![validator(1, 10), validator(2, 0)]),
            Err(GenesisError::ZeroStake(AccountId([2; 32])))
        );
    }

    #[test]
    fn genesis_refuses_a_duplicate_account() {
        let mut second = validator(2, 10);
        second.0.account = AccountId([1; 32]);
        assert_eq!(
            build(vec![validator(1, 10), second]),
            Err(GenesisError::DuplicateAccount(AccountId([1; 32])))
        );
    }

    #[test]
    fn genesis_refuses_a_duplicate_key() {
        let mut second = validator(1, 10);
        second.0.account = AccountId([2; 32]);
        assert_eq!(
            build(vec![validator(1, 10), second]),
            Err(GenesisError::DuplicateKey(AccountId([2; 32])))
        );
    }

    #[test]
    fn genesis_refuses_a_bad_proof_of_possession() {
        // Another key's proof.
        let mut v = validator(1, 10);
        v.1 = validator(2, 10).1;
        assert_eq!(
            build(vec![v]),
            Err(GenesisError::BadProofOfPossession(AccountId([1; 32])))
        );
        // A signature by the right key over the key, but under the vote domain tag.
        let sk = BlsSecretKey::from_seed(&[1; 32]);
        let mut v = validator(1, 10);
        v.1 = sk.sign(&sk.public_key().to_bytes()).to_bytes();
        assert!(matches!(
            build(vec![v]),
            Err(GenesisError::BadProofOfPossession(_))
        ));
        // Garbage key and garbage proof.
        let mut v = validator(1, 10);
        v.0.bls_public_key = [0xff; BLS_PUBLIC_KEY_LEN];
        assert!(matches!(
            build(vec![v]),
            Err(GenesisError::BadProofOfPossession(_))
        ));
        let mut v = validator(1, 10);
        v.1 = [0; BLS_SIGNATURE_LEN];
        assert!(matches!(
            build(vec![v]),
            Err(GenesisError::BadProofOfPossession(_))
        ));
    }

    #[test]
    fn genesis_refuses_too_much_stake() {
        assert_eq!(
            build(vec![validator(1, Balance::MAX), validator(2, 1)]),
            Err(GenesisError::TotalStakeTooLarge)
        );
        assert_eq!(
            build(vec![validator(1, MAX_TOTAL_STAKE), validator(2, 1)]),
            Err(GenesisError::TotalStakeTooLarge)
        );
        assert_eq!(build(vec![validator(1, MAX_TOTAL_STAKE)]), Ok(()));
    }

    #[test]
    fn genesis_errors_read_well() {
        let msg = GenesisError::BadProofOfPossession(AccountId([1; 32])).to_string();
        assert!(msg.contains("proof of possession"), "{msg}");
        assert!(msg.contains("0x0101"), "{msg}");
    }
}
