//! Models pallet: the on-chain registry of inference models, their versions, and the
//! royalties they earn for their share holders.
//!
//! # Identity
//!
//! A model is identified by its content id: gpu-verify's content hash (the Merkle root over
//! the model's tensors). Next to it the registry records `file_root`, the BLAKE3 hash of the
//! whole file (the root of BLAKE3 verified streaming, which the peer-to-peer chunk protocol
//! checks chunks against), the file's size, and metadata (name, semver version, kind,
//! shape, numerics version, royalty per inference).
//!
//! # Owner, versions, deposit
//!
//! The account that registers a model is its *owner*: the controller that may publish a
//! later version, deprecate it, change its royalty, hand the ownership on, or remove it.
//! A later version is registered with `publish_version`, which links the two records both
//! ways (`previous.next = new`, `new.previous = previous`); versions form a chain, each
//! version has at most one successor, keeps the name, and has a strictly higher version
//! number.
//!
//! Registering holds a deposit from the signer's free balance
//! (`DEPOSIT_BASE + DEPOSIT_PER_BYTE * encoded length of the stored record`). The deposit
//! goes back to whoever paid it (the `depositor`), even after the ownership changed.
//!
//! # Shares and royalties
//!
//! Every model has exactly [`TOTAL_SHARES`] shares, all given to the registering owner;
//! shares are transferable and separate from the ownership. Royalties paid to a model
//! ([`Pallet::pay_royalty`], called by the inference pallet) are split among holders in
//! proportion to their shares, lazily, so paying is O(1) whatever the number of holders:
//! the model keeps `royalties_paid`, the cumulative royalty per share scaled by
//! `TOTAL_SHARES` (as the shares outstanding are always `TOTAL_SHARES`, this is simply
//! the total paid to the model, and paying is exact); a holding remembers the value at
//! its last settlement and earns `floor(shares * (royalties_paid - paid_at) /
//! TOTAL_SHARES)` when settled. Holdings are settled before their shares change and when
//! claiming.
//!
//! Rounding down can only leave *dust*: the model's `royalties_unclaimed` (paid and not yet
//! claimed) is at least the sum of what its holders can claim, and the difference (less
//! than one base unit per settlement) stays in the pallet's custody until the model is
//! removed, when it goes to the owner with the owner's own royalties.
//!
//! # Money
//!
//! Deposits and unclaimed royalties leave free balances with
//! [`pallet_balances::Pallet::hold`] and are counted in [`storage::TotalHeld`], so
//!
//! ```text
//! total issuance = sum(free balances) + (other pallets' held funds) + TotalHeld
//! TotalHeld      = sum over models of (deposit + royalties_unclaimed)
//! ```
//!
//! exactly. Nothing here mints or burns.
//!
//! # Removal
//!
//! `remove` is refused while the model has a later version linked (remove the later one
//! first) and while any account other than the owner holds shares or unclaimed royalties
//! of it (they must move their shares back to the owner and claim first). So removing
//! pays out everything the model still holds, in O(1): the deposit to the depositor, and
//! the owner's royalties with the dust to the owner. Removing the latest version of a
//! chain makes its predecessor the latest again.
//!
//! Deprecated models still accept royalties, so jobs submitted before the deprecation can
//! settle; whether new jobs may use a deprecated model is the inference pallet's business.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use menara_primitives::{AccountId, Balance, BlockNumber, H256};
use menara_support::codec::{Compact, Decode, Encode};
use menara_support::{
    dispatch::bad_origin, ensure, io, storage_item, DispatchResult, Origin, PalletError,
    StorageMap, StorageValue,
};

/// Content id of a model: gpu-verify's content hash (Merkle root over its tensors).
pub type ModelId = H256;

/// Shares of every model (all given to the owner at registration).
pub const TOTAL_SHARES: u64 = 1_000_000;
/// Longest model name, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Most dimensions in a model's shape summary.
pub const MAX_SHAPE_DIMS: usize = 16;
/// Most models returned by one page of [`Pallet::models`].
pub const MAX_LIST: u32 = 100;

/// Configuration of the models pallet.
pub trait Config: pallet_balances::Config {
    /// This pallet's index in the runtime.
    const PALLET_INDEX: u8;
    /// Deposit held for every registered model.
    const DEPOSIT_BASE: Balance;
    /// Further deposit per byte of the stored record.
    const DEPOSIT_PER_BYTE: Balance;
    /// Largest model file, in bytes.
    const MAX_MODEL_SIZE: u64;
}

/// Architecture of a model; the SCALE index is gpu-verify's header `kind`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum ModelKind {
    /// BERT-style encoder (gpu-verify `KIND_ENCODER`).
    #[codec(index = 1)]
    Encoder,
    /// Plain MLP (gpu-verify `KIND_MLP`).
    #[codec(index = 2)]
    Mlp,
}

impl ModelKind {
    /// gpu-verify's header `kind` code.
    pub fn code(&self) -> u32 {
        match self {
            ModelKind::Encoder => 1,
            ModelKind::Mlp => 2,
        }
    }

    /// The kind of gpu-verify header `kind` `code`, if known.
    pub fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(ModelKind::Encoder),
            2 => Some(ModelKind::Mlp),
            _ => None,
        }
    }
}

/// A semantic version; compared as (major, minor, patch).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default, Encode, Decode)]
pub struct Version {
    /// Incompatible changes.
    pub major: u32,
    /// Compatible additions.
    pub minor: u32,
    /// Fixes.
    pub patch: u32,
}

/// What a registration (or a new version) states about a model.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ModelParams {
    /// BLAKE3 hash of the whole file (root of its verified-streaming tree).
    pub file_root: H256,
    /// File size in bytes, at most `MAX_MODEL_SIZE`.
    pub size: u64,
    /// Name: 1 to [`MAX_NAME_LEN`] visible ASCII bytes (`0x21..=0x7e`, no whitespace).
    pub name: Vec<u8>,
    /// Version number.
    pub version: Version,
    /// Architecture.
    pub kind: ModelKind,
    /// Shape summary, at most [`MAX_SHAPE_DIMS`] dimensions (an encoder: vocab, hidden,
    /// layers, heads, intermediate, max positions, max sequence length; an MLP: its layer
    /// widths). Not interpreted by the chain.
    pub shape: Vec<u32>,
    /// gpu-verify numerics version the model is verified under.
    pub numerics_version: u16,
    /// Royalty per inference, in base units.
    #[codec(compact)]
    pub royalty: Balance,
}

/// A registered model as stored.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ModelInfo {
    /// The controller: may publish versions, deprecate, set the royalty, hand on the
    /// ownership, remove.
    pub owner: AccountId,
    /// BLAKE3 hash of the whole file.
    pub file_root: H256,
    /// File size in bytes.
    pub size: u64,
    /// Name (the same for every version of a chain).
    pub name: Vec<u8>,
    /// Version number.
    pub version: Version,
    /// Architecture.
    pub kind: ModelKind,
    /// Shape summary.
    pub shape: Vec<u32>,
    /// gpu-verify numerics version.
    pub numerics_version: u16,
    /// Current royalty per inference (jobs submitted from `royalty_changed_at` on use it).
    pub royalty_per_inference: Balance,
    /// Block at which the royalty was last set (registration included).
    pub royalty_changed_at: BlockNumber,
    /// The version this one follows.
    pub previous: Option<ModelId>,
    /// The version following this one.
    pub next: Option<ModelId>,
    /// Marked as not to be used any more (irreversible).
    pub deprecated: bool,
    /// Block of registration.
    pub registered_at: BlockNumber,
    /// Who paid the deposit (and gets it back on removal).
    pub depositor: AccountId,
    /// Deposit held.
    pub deposit: Balance,
    /// Royalties paid to this model so far; also its cumulative royalty per share, scaled
    /// by [`TOTAL_SHARES`].
    pub royalties_paid: Balance,
    /// Royalties paid and not yet claimed (holders' claimable amounts plus dust), held by
    /// this pallet.
    pub royalties_unclaimed: Balance,
    /// Number of share holdings (accounts with shares or unclaimed royalties).
    pub holders: u32,
}

/// One account's shares of one model.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct Holding {
    /// Shares held.
    pub shares: u64,
    /// The model's `royalties_paid` when this holding was last settled.
    pub paid_at: Balance,
    /// Royalties settled and not yet claimed.
    pub pending: Balance,
}

/// A model, for queries.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct ModelView {
    /// Its content id.
    pub id: ModelId,
    /// Its record (owner, deposit, links, royalty books, ...).
    pub info: ModelInfo,
    /// Shares outstanding (always [`TOTAL_SHARES`]).
    pub total_shares: u64,
}

/// Storage items.
pub mod storage {
    use super::*;
    storage_item!(pub ModelsPrefix: "Models" / "Models");
    storage_item!(pub SharesPrefix: "Models" / "Shares");
    storage_item!(pub TotalHeldPrefix: "Models" / "TotalHeld");
    /// Registered models by content id.
    pub type Models = StorageMap<ModelsPrefix, ModelId, ModelInfo>;
    /// Holdings by (model, account); absent when both shares and pending are zero.
    pub type Shares = StorageMap<SharesPrefix, (ModelId, AccountId), Holding>;
    /// Funds held by this pallet: deposits plus unclaimed royalties of every model.
    pub type TotalHeld = StorageValue<TotalHeldPrefix, Balance>;
}
use storage::*;

/// Calls. Amounts are SCALE compact, like the balances pallet's `transfer`.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Registers a model; the signer becomes its owner, gets all its shares, and pays the
    /// deposit.
    #[codec(index = 0)]
    Register {
        /// Content id.
        id: ModelId,
        /// What it is.
        params: ModelParams,
    },
    /// Registers `id` as the version following `previous` (owned by the signer, with no
    /// later version yet): same name, strictly higher version.
    #[codec(index = 1)]
    PublishVersion {
        /// The version it follows.
        previous: ModelId,
        /// Content id of the new version.
        id: ModelId,
        /// What it is.
        params: ModelParams,
    },
    /// Marks a model as deprecated (owner only, irreversible).
    #[codec(index = 2)]
    Deprecate {
        /// The model.
        id: ModelId,
    },
    /// Sets the royalty per inference (owner only); jobs submitted from this block on
    /// pay it.
    #[codec(index = 3)]
    SetRoyalty {
        /// The model.
        id: ModelId,
        /// New royalty per inference.
        royalty: Compact<Balance>,
    },
    /// Hands the ownership (control) to another account; shares do not move.
    #[codec(index = 4)]
    TransferOwnership {
        /// The model.
        id: ModelId,
        /// New owner.
        to: AccountId,
    },
    /// Removes a model (owner only): refused while it has a later version or while other
    /// accounts hold shares or unclaimed royalties of it. Returns the deposit to the
    /// depositor and the remaining royalties (the owner's and the dust) to the owner.
    #[codec(index = 5)]
    Remove {
        /// The model.
        id: ModelId,
    },
    /// Moves some of the signer's shares of a model to another account (both holdings
    /// are settled first).
    #[codec(index = 6)]
    TransferShares {
        /// The model.
        id: ModelId,
        /// Recipient.
        to: AccountId,
        /// Number of shares.
        amount: Compact<u64>,
    },
    /// Pays the signer's royalties of a model out of the pallet's custody.
    #[codec(index = 7)]
    ClaimRoyalties {
        /// The model.
        id: ModelId,
    },
}

/// Events.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Event {
    /// A model was registered.
    #[codec(index = 0)]
    Registered {
        /// Its content id.
        id: ModelId,
        /// Its owner (holding all its shares).
        owner: AccountId,
        /// Deposit held.
        deposit: Balance,
    },
    /// A model was registered as the version following another.
    #[codec(index = 1)]
    VersionPublished {
        /// The earlier version.
        previous: ModelId,
        /// The new version.
        id: ModelId,
    },
    /// A model was deprecated.
    #[codec(index = 2)]
    Deprecated {
        /// The model.
        id: ModelId,
    },
    /// A model's royalty per inference was set.
    #[codec(index = 3)]
    RoyaltySet {
        /// The model.
        id: ModelId,
        /// New royalty per inference.
        royalty: Balance,
        /// Block from which it applies.
        at: BlockNumber,
    },
    /// A model's ownership moved.
    #[codec(index = 4)]
    OwnershipTransferred {
        /// The model.
        id: ModelId,
        /// Previous owner.
        from: AccountId,
        /// New owner.
        to: AccountId,
    },
    /// A model was removed.
    #[codec(index = 5)]
    Removed {
        /// The model.
        id: ModelId,
        /// Its last owner.
        owner: AccountId,
        /// Deposit returned to the depositor.
        deposit: Balance,
        /// Royalties (the owner's and the dust) paid to the owner.
        royalties: Balance,
    },
    /// Shares of a model moved.
    #[codec(index = 6)]
    SharesTransferred {
        /// The model.
        id: ModelId,
        /// Sender.
        from: AccountId,
        /// Recipient.
        to: AccountId,
        /// Number of shares.
        amount: u64,
    },
    /// A holder claimed royalties.
    #[codec(index = 7)]
    RoyaltiesClaimed {
        /// The model.
        id: ModelId,
        /// The holder.
        who: AccountId,
        /// Amount paid out.
        amount: Balance,
    },
    /// A royalty was paid to a model.
    #[codec(index = 8)]
    RoyaltyPaid {
        /// The model.
        id: ModelId,
        /// Who paid.
        payer: AccountId,
        /// Amount.
        amount: Balance,
    },
}

/// Errors.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Error {
    /// No model with this id.
    #[codec(index = 0)]
    UnknownModel,
    /// A model with this id is already registered.
    #[codec(index = 1)]
    AlreadyRegistered,
    /// The signer is not the model's owner.
    #[codec(index = 2)]
    NotOwner,
    /// The new version is not above the previous one.
    #[codec(index = 3)]
    VersionNotIncreasing,
    /// The new version's name differs from the previous one's.
    #[codec(index = 4)]
    NameMismatch,
    /// The name is longer than `MAX_NAME_LEN`.
    #[codec(index = 5)]
    NameTooLong,
    /// The name is empty or has bytes outside visible ASCII.
    #[codec(index = 6)]
    BadName,
    /// The file is larger than `MAX_MODEL_SIZE`.
    #[codec(index = 7)]
    TooLarge,
    /// The file size is zero.
    #[codec(index = 8)]
    ZeroSize,
    /// More than `MAX_SHAPE_DIMS` dimensions.
    #[codec(index = 9)]
    ShapeTooLong,
    /// The content id or the file root is the zero hash.
    #[codec(index = 10)]
    ZeroHash,
    /// The previous version already has a later version.
    #[codec(index = 11)]
    AlreadyHasNextVersion,
    /// The model has a later version: remove that first.
    #[codec(index = 12)]
    HasNextVersion,
    /// The model is already deprecated.
    #[codec(index = 13)]
    AlreadyDeprecated,
    /// Other accounts hold shares or unclaimed royalties of the model.
    #[codec(index = 14)]
    SharesOutstanding,
    /// The sender holds fewer shares than the amount.
    #[codec(index = 15)]
    InsufficientShares,
    /// No royalties to claim.
    #[codec(index = 16)]
    NothingToClaim,
    /// Sender and recipient are the same account.
    #[codec(index = 17)]
    SelfTransfer,
    /// A zero amount.
    #[codec(index = 18)]
    ZeroAmount,
    /// Not enough free balance for the deposit or the royalty.
    #[codec(index = 19)]
    InsufficientBalance,
    /// The free balance would keep dust below the existential deposit.
    #[codec(index = 20)]
    WouldLeaveDust,
    /// The payout would leave the account below the existential deposit (fund it first).
    #[codec(index = 21)]
    ExistentialDeposit,
    /// Arithmetic overflow.
    #[codec(index = 22)]
    Overflow,
}

menara_support::impl_pallet_error!(Error, {
    UnknownModel,
    AlreadyRegistered,
    NotOwner,
    VersionNotIncreasing,
    NameMismatch,
    NameTooLong,
    BadName,
    TooLarge,
    ZeroSize,
    ShapeTooLong,
    ZeroHash,
    AlreadyHasNextVersion,
    HasNextVersion,
    AlreadyDeprecated,
    SharesOutstanding,
    InsufficientShares,
    NothingToClaim,
    SelfTransfer,
    ZeroAmount,
    InsufficientBalance,
    WouldLeaveDust,
    ExistentialDeposit,
    Overflow,
});

impl From<pallet_balances::Error> for Error {
    fn from(e: pallet_balances::Error) -> Self {
        match e {
            pallet_balances::Error::InsufficientBalance => Error::InsufficientBalance,
            pallet_balances::Error::ExistentialDeposit => Error::ExistentialDeposit,
            pallet_balances::Error::WouldLeaveDust => Error::WouldLeaveDust,
            pallet_balances::Error::ZeroAmount => Error::ZeroAmount,
            pallet_balances::Error::Overflow | pallet_balances::Error::SelfTransfer => {
                Error::Overflow
            }
        }
    }
}

/// `floor(shares * delta / TOTAL_SHARES)`, exact and overflow-free for any `delta`
/// (`shares` is capped at `TOTAL_SHARES`): with `delta = q * TOTAL_SHARES + r` it is
/// `shares * q + floor(shares * r / TOTAL_SHARES)`, where `shares * q <= delta` and
/// `shares * r < TOTAL_SHARES^2`.
pub fn share_of(shares: u64, delta: Balance) -> Balance {
    let total = u128::from(TOTAL_SHARES);
    let s = u128::from(shares.min(TOTAL_SHARES));
    let whole = (delta / total).saturating_mul(s);
    let part = (delta % total).saturating_mul(s) / total;
    whole.saturating_add(part)
}

/// The pallet.
pub struct Pallet<T>(core::marker::PhantomData<T>);

type Balances<T> = pallet_balances::Pallet<T>;

impl<T: Config> Pallet<T> {
    // ------------------------------------------------------------------ calls

    /// Dispatches a call.
    pub fn dispatch(origin: Origin, call: Call) -> DispatchResult {
        let Origin::Signed(who) = origin else {
            return Err(bad_origin());
        };
        let result = match call {
            Call::Register { id, params } => Self::register(&who, &id, &params),
            Call::PublishVersion {
                previous,
                id,
                params,
            } => Self::publish_version(&who, &previous, &id, &params),
            Call::Deprecate { id } => Self::deprecate(&who, &id),
            Call::SetRoyalty { id, royalty } => Self::set_royalty(&who, &id, royalty.0),
            Call::TransferOwnership { id, to } => Self::transfer_ownership(&who, &id, &to),
            Call::Remove { id } => Self::remove(&who, &id),
            Call::TransferShares { id, to, amount } => {
                Self::transfer_shares(&who, &id, &to, amount.0)
            }
            Call::ClaimRoyalties { id } => Self::claim_royalties(&who, &id).map(|_| ()),
        };
        result.map_err(|e| e.into_dispatch_error(<T as Config>::PALLET_INDEX))
    }

    /// `register`: registers model `id` owned by `who`, who gets all its shares and pays
    /// the deposit.
    pub fn register(who: &AccountId, id: &ModelId, params: &ModelParams) -> Result<(), Error> {
        Self::insert_model(who, id, params, None)?;
        Ok(())
    }

    /// `publish_version`: registers `id` as the version following `previous`.
    pub fn publish_version(
        who: &AccountId,
        previous: &ModelId,
        id: &ModelId,
        params: &ModelParams,
    ) -> Result<(), Error> {
        let mut prev = Models::get(previous).ok_or(Error::UnknownModel)?;
        ensure!(prev.owner == *who, Error::NotOwner);
        ensure!(prev.next.is_none(), Error::AlreadyHasNextVersion);
        ensure!(params.name == prev.name, Error::NameMismatch);
        ensure!(params.version > prev.version, Error::VersionNotIncreasing);
        // The last fallible step (it holds the deposit); nothing fails after it.
        Self::insert_model(who, id, params, Some(*previous))?;
        prev.next = Some(*id);
        Models::insert(previous, &prev);
        Self::deposit_event(Event::VersionPublished {
            previous: *previous,
            id: *id,
        });
        Ok(())
    }

    /// `deprecate`: marks `id` as deprecated.
    pub fn deprecate(who: &AccountId, id: &ModelId) -> Result<(), Error> {
        let mut info = Self::owned(who, id)?;
        ensure!(!info.deprecated, Error::AlreadyDeprecated);
        info.deprecated = true;
        Models::insert(id, &info);
        Self::deposit_event(Event::Deprecated { id: *id });
        Ok(())
    }

    /// `set_royalty`: sets `id`'s royalty per inference from the current block on.
    pub fn set_royalty(who: &AccountId, id: &ModelId, royalty: Balance) -> Result<(), Error> {
        let mut info = Self::owned(who, id)?;
        let at = pallet_system::Pallet::<T>::block_number();
        info.royalty_per_inference = royalty;
        info.royalty_changed_at = at;
        Models::insert(id, &info);
        Self::deposit_event(Event::RoyaltySet {
            id: *id,
            royalty,
            at,
        });
        Ok(())
    }

    /// `transfer_ownership`: makes `to` the owner of `id` (shares stay where they are).
    pub fn transfer_ownership(who: &AccountId, id: &ModelId, to: &AccountId) -> Result<(), Error> {
        let mut info = Self::owned(who, id)?;
        ensure!(to != who, Error::SelfTransfer);
        info.owner = *to;
        Models::insert(id, &info);
        Self::deposit_event(Event::OwnershipTransferred {
            id: *id,
            from: *who,
            to: *to,
        });
        Ok(())
    }

    /// `remove`: removes `id`, returning its deposit to the depositor and its remaining
    /// royalties (the owner's claimable ones and the dust) to the owner.
    pub fn remove(who: &AccountId, id: &ModelId) -> Result<(), Error> {
        let info = Self::owned(who, id)?;
        ensure!(info.next.is_none(), Error::HasNextVersion);
        let key = (*id, info.owner);
        let holding = Shares::get(&key).unwrap_or_default();
        ensure!(
            info.holders == 1 && holding.shares == TOTAL_SHARES,
            Error::SharesOutstanding
        );
        // Everyone else has neither shares nor claims: all that is left is the owner's.
        let royalties = info.royalties_unclaimed;
        let deposit = info.deposit;
        let out = deposit.checked_add(royalties).ok_or(Error::Overflow)?;
        let total_held = TotalHeld::get_or_default()
            .checked_sub(out)
            .ok_or(Error::Overflow)?;
        // Both payouts or neither.
        io::storage::with_transaction(|| {
            if info.depositor == info.owner {
                Self::release(&info.owner, out)
            } else {
                Self::release(&info.depositor, deposit)?;
                Self::release(&info.owner, royalties)
            }
        })?;
        Models::remove(id);
        Shares::remove(&key);
        TotalHeld::put(&total_held);
        if let Some(previous) = info.previous {
            if let Some(mut prev) = Models::get(&previous) {
                if prev.next == Some(*id) {
                    prev.next = None;
                    Models::insert(&previous, &prev);
                }
            }
        }
        Self::deposit_event(Event::Removed {
            id: *id,
            owner: info.owner,
            deposit,
            royalties,
        });
        Ok(())
    }

    /// `transfer_shares`: moves `amount` of `who`'s shares of `id` to `to`, settling both
    /// holdings first.
    pub fn transfer_shares(
        who: &AccountId,
        id: &ModelId,
        to: &AccountId,
        amount: u64,
    ) -> Result<(), Error> {
        ensure!(amount > 0, Error::ZeroAmount);
        ensure!(who != to, Error::SelfTransfer);
        let mut info = Models::get(id).ok_or(Error::UnknownModel)?;
        let from_key = (*id, *who);
        let to_key = (*id, *to);
        let from_old = Shares::get(&from_key);
        let mut from = from_old.unwrap_or_default();
        ensure!(from.shares >= amount, Error::InsufficientShares);
        let to_old = Shares::get(&to_key);
        let mut dest = to_old.unwrap_or_default();
        let to_shares = dest.shares.checked_add(amount).ok_or(Error::Overflow)?;
        Self::settle(&info, &mut from);
        Self::settle(&info, &mut dest);
        from.shares -= amount;
        dest.shares = to_shares;
        Self::store_holding(&mut info, &from_key, from_old.is_some(), &from);
        Self::store_holding(&mut info, &to_key, to_old.is_some(), &dest);
        Models::insert(id, &info);
        Self::deposit_event(Event::SharesTransferred {
            id: *id,
            from: *who,
            to: *to,
            amount,
        });
        Ok(())
    }

    /// `claim_royalties`: pays `who`'s royalties of `id` out of custody; returns the amount.
    pub fn claim_royalties(who: &AccountId, id: &ModelId) -> Result<Balance, Error> {
        let mut info = Models::get(id).ok_or(Error::UnknownModel)?;
        let key = (*id, *who);
        let old = Shares::get(&key);
        let mut holding = old.unwrap_or_default();
        Self::settle(&info, &mut holding);
        let amount = holding.pending;
        ensure!(amount > 0, Error::NothingToClaim);
        let unclaimed = info
            .royalties_unclaimed
            .checked_sub(amount)
            .ok_or(Error::Overflow)?;
        let total_held = TotalHeld::get_or_default()
            .checked_sub(amount)
            .ok_or(Error::Overflow)?;
        // The last fallible step: after it, nothing can fail.
        Balances::<T>::release(who, amount)?;
        holding.pending = 0;
        info.royalties_unclaimed = unclaimed;
        Self::store_holding(&mut info, &key, old.is_some(), &holding);
        Models::insert(id, &info);
        TotalHeld::put(&total_held);
        Self::deposit_event(Event::RoyaltiesClaimed {
            id: *id,
            who: *who,
            amount,
        });
        Ok(amount)
    }

    // ------------------------------------------------------------------ for other pallets

    /// Moves `amount` from `payer`'s free balance into this pallet's custody as royalties
    /// of `id`, split among its holders by shares. O(1) whatever the number of holders.
    /// Deprecated models are paid too (jobs submitted before the deprecation settle).
    pub fn pay_royalty(payer: &AccountId, id: &ModelId, amount: Balance) -> Result<(), Error> {
        ensure!(amount > 0, Error::ZeroAmount);
        ensure!(Models::contains_key(id), Error::UnknownModel);
        // Holding first: if crediting then fails (overflow), the dispatch's storage
        // transaction rolls the hold back.
        Balances::<T>::hold(payer, amount)?;
        Self::credit(id, amount, *payer)
    }

    /// [`Pallet::pay_royalty`] with funds another pallet already holds (an inference
    /// job's escrow): they stay held and move into this pallet's custody; the caller
    /// lowers its own held total by `amount`.
    pub fn credit_royalty_held(
        id: &ModelId,
        amount: Balance,
        payer: &AccountId,
    ) -> Result<(), Error> {
        ensure!(amount > 0, Error::ZeroAmount);
        Self::credit(id, amount, *payer)
    }

    fn credit(id: &ModelId, amount: Balance, payer: AccountId) -> Result<(), Error> {
        let mut info = Models::get(id).ok_or(Error::UnknownModel)?;
        let paid = info
            .royalties_paid
            .checked_add(amount)
            .ok_or(Error::Overflow)?;
        let unclaimed = info
            .royalties_unclaimed
            .checked_add(amount)
            .ok_or(Error::Overflow)?;
        let total_held = TotalHeld::get_or_default()
            .checked_add(amount)
            .ok_or(Error::Overflow)?;
        info.royalties_paid = paid;
        info.royalties_unclaimed = unclaimed;
        Models::insert(id, &info);
        TotalHeld::put(&total_held);
        Self::deposit_event(Event::RoyaltyPaid {
            id: *id,
            payer,
            amount,
        });
        Ok(())
    }

    // ------------------------------------------------------------------ queries

    /// Model `id` as stored.
    pub fn model(id: &ModelId) -> Option<ModelInfo> {
        Models::get(id)
    }

    /// Model `id`, for queries.
    pub fn model_view(id: &ModelId) -> Option<ModelView> {
        Models::get(id).map(|info| ModelView {
            id: *id,
            info,
            total_shares: TOTAL_SHARES,
        })
    }

    /// Up to `limit` (at most [`MAX_LIST`]) models, in storage order (by a hash of the id,
    /// not by id), starting after `start_after` (from the first when `None`). Pass the last
    /// id of a page to get the next page; an empty page is the end.
    pub fn models(start_after: Option<ModelId>, limit: u32) -> Vec<ModelView> {
        let limit = usize::try_from(limit.min(MAX_LIST)).unwrap_or(0);
        let prefix = Models::prefix();
        let mut cursor = match &start_after {
            Some(id) => Models::key(id),
            None => prefix.clone(),
        };
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(key) = io::storage::next_key(&cursor) else {
                break;
            };
            if !key.starts_with(&prefix) {
                break;
            }
            let id = key.get(prefix.len().saturating_add(16)..).and_then(|raw| {
                <ModelId as menara_support::codec::DecodeAll>::decode_all(&mut &raw[..]).ok()
            });
            if let Some(view) = id.and_then(|id| Self::model_view(&id)) {
                out.push(view);
            }
            cursor = key;
        }
        out
    }

    /// Shares of `id` held by `who`.
    pub fn shares_of(id: &ModelId, who: &AccountId) -> u64 {
        Shares::get(&(*id, *who)).map_or(0, |h| h.shares)
    }

    /// Royalties of `id` that `who` could claim now.
    pub fn claimable(id: &ModelId, who: &AccountId) -> Balance {
        let Some(info) = Models::get(id) else {
            return 0;
        };
        let mut holding = Shares::get(&(*id, *who)).unwrap_or_default();
        Self::settle(&info, &mut holding);
        holding.pending
    }

    /// The current royalty per inference of `id`.
    pub fn royalty_of(id: &ModelId) -> Option<Balance> {
        Models::get(id).map(|info| info.royalty_per_inference)
    }

    /// The royalty per inference of `id` that applies now, with the block it was set at:
    /// a job submitted now pays this (one submitted before that block paid the previous
    /// value, which the inference pallet records with the job).
    pub fn royalty_at(id: &ModelId) -> Option<(Balance, BlockNumber)> {
        Models::get(id).map(|info| (info.royalty_per_inference, info.royalty_changed_at))
    }

    /// Funds held by this pallet (deposits and unclaimed royalties).
    pub fn total_held() -> Balance {
        TotalHeld::get_or_default()
    }

    /// The deposit registering `params` would hold (as a new version when `previous` is
    /// set), or `None` on overflow.
    pub fn required_deposit(params: &ModelParams, previous: Option<ModelId>) -> Option<Balance> {
        let info = Self::new_info(&AccountId::default(), params, previous);
        Self::deposit_for(&info)
    }

    // ------------------------------------------------------------------ internals

    fn deposit_event(event: Event) {
        pallet_system::Pallet::<T>::deposit_event(<T as Config>::PALLET_INDEX, event.encode());
    }

    /// Model `id` if `who` owns it.
    fn owned(who: &AccountId, id: &ModelId) -> Result<ModelInfo, Error> {
        let info = Models::get(id).ok_or(Error::UnknownModel)?;
        ensure!(info.owner == *who, Error::NotOwner);
        Ok(info)
    }

    fn check_params(params: &ModelParams) -> Result<(), Error> {
        ensure!(!params.file_root.is_zero(), Error::ZeroHash);
        ensure!(params.size > 0, Error::ZeroSize);
        ensure!(params.size <= T::MAX_MODEL_SIZE, Error::TooLarge);
        ensure!(params.name.len() <= MAX_NAME_LEN, Error::NameTooLong);
        ensure!(
            !params.name.is_empty() && params.name.iter().all(|b| (0x21..=0x7e).contains(b)),
            Error::BadName
        );
        ensure!(params.shape.len() <= MAX_SHAPE_DIMS, Error::ShapeTooLong);
        Ok(())
    }

    fn new_info(who: &AccountId, params: &ModelParams, previous: Option<ModelId>) -> ModelInfo {
        let now = pallet_system::Pallet::<T>::block_number();
        ModelInfo {
            owner: *who,
            file_root: params.file_root,
            size: params.size,
            name: params.name.clone(),
            version: params.version,
            kind: params.kind,
            shape: params.shape.clone(),
            numerics_version: params.numerics_version,
            royalty_per_inference: params.royalty,
            royalty_changed_at: now,
            previous,
            next: None,
            deprecated: false,
            registered_at: now,
            depositor: *who,
            deposit: 0,
            royalties_paid: 0,
            royalties_unclaimed: 0,
            holders: 1,
        }
    }

    /// `DEPOSIT_BASE + DEPOSIT_PER_BYTE * encoded length` of `info` (whose encoded length
    /// does not depend on the deposit's value).
    fn deposit_for(info: &ModelInfo) -> Option<Balance> {
        let len = Balance::try_from(info.encoded_size()).ok()?;
        T::DEPOSIT_PER_BYTE
            .checked_mul(len)?
            .checked_add(T::DEPOSIT_BASE)
    }

    /// Checks and writes a new model owned by `who` (all shares to it, deposit held).
    /// Holding the deposit is the last fallible step.
    fn insert_model(
        who: &AccountId,
        id: &ModelId,
        params: &ModelParams,
        previous: Option<ModelId>,
    ) -> Result<Balance, Error> {
        ensure!(!id.is_zero(), Error::ZeroHash);
        ensure!(!Models::contains_key(id), Error::AlreadyRegistered);
        Self::check_params(params)?;
        let mut info = Self::new_info(who, params, previous);
        let deposit = Self::deposit_for(&info).ok_or(Error::Overflow)?;
        info.deposit = deposit;
        let total_held = TotalHeld::get_or_default()
            .checked_add(deposit)
            .ok_or(Error::Overflow)?;
        if deposit > 0 {
            Balances::<T>::hold(who, deposit)?;
        }
        Models::insert(id, &info);
        Shares::insert(
            &(*id, *who),
            &Holding {
                shares: TOTAL_SHARES,
                paid_at: 0,
                pending: 0,
            },
        );
        TotalHeld::put(&total_held);
        Self::deposit_event(Event::Registered {
            id: *id,
            owner: *who,
            deposit,
        });
        Ok(deposit)
    }

    /// Moves royalties accrued since the last settlement into `pending`.
    fn settle(info: &ModelInfo, holding: &mut Holding) {
        let delta = info.royalties_paid.saturating_sub(holding.paid_at);
        if delta > 0 && holding.shares > 0 {
            holding.pending = holding
                .pending
                .saturating_add(share_of(holding.shares, delta));
        }
        holding.paid_at = info.royalties_paid;
    }

    /// Writes a holding (deleting an empty one) and keeps `info.holders` in step.
    fn store_holding(
        info: &mut ModelInfo,
        key: &(ModelId, AccountId),
        existed: bool,
        holding: &Holding,
    ) {
        if holding.shares == 0 && holding.pending == 0 {
            Shares::remove(key);
            if existed {
                info.holders = info.holders.saturating_sub(1);
            }
        } else {
            Shares::insert(key, holding);
            if !existed {
                info.holders = info.holders.saturating_add(1);
            }
        }
    }

    /// Releases `amount` (if any) from custody to `who`.
    fn release(who: &AccountId, amount: Balance) -> Result<(), Error> {
        if amount > 0 {
            Balances::<T>::release(who, amount)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
