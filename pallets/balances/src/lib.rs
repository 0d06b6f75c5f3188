//! Balances pallet: free balances, transfers, fees, and total issuance.
//!
//! Rules that keep the books right:
//! - an account's balance is either 0 or at least the existential deposit, so state is
//!   never filled with dust accounts (an emptied account's entry is deleted; its nonce
//!   lives on in the system pallet, so old transactions cannot be replayed);
//! - transfers never create or destroy money, and all arithmetic is checked;
//! - fees are burned: total issuance falls by exactly the fees paid.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use menara_primitives::{AccountId, Balance};
use menara_support::codec::{Compact, Decode, Encode};
use menara_support::{
    ensure, ensure_signed, storage_item, DispatchResult, Origin, PalletError, StorageMap,
    StorageValue,
};

/// Configuration of the balances pallet.
pub trait Config: pallet_system::Config {
    /// This pallet's index in the runtime.
    const PALLET_INDEX: u8;
    /// Smallest non-zero balance an account may hold.
    const EXISTENTIAL_DEPOSIT: Balance;
}

/// An account's balances.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct AccountData {
    /// Spendable balance.
    pub free: Balance,
}

/// Storage items.
pub mod storage {
    use super::*;
    storage_item!(pub AccountPrefix: "Balances" / "Account");
    storage_item!(pub TotalIssuancePrefix: "Balances" / "TotalIssuance");
    /// Balances of every account holding funds.
    pub type Account = StorageMap<AccountPrefix, AccountId, AccountData>;
    /// Sum of all balances.
    pub type TotalIssuance = StorageValue<TotalIssuancePrefix, Balance>;
}
use storage::*;

/// Calls.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Call {
    /// Moves `value` from the signer to `dest`.
    #[codec(index = 0)]
    Transfer {
        /// Recipient.
        dest: AccountId,
        /// Amount in base units.
        value: Compact<Balance>,
    },
    /// Moves the signer's whole remaining balance to `dest`, emptying the account.
    #[codec(index = 1)]
    TransferAll {
        /// Recipient.
        dest: AccountId,
    },
}

/// Events.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Event {
    /// `amount` moved from `from` to `to`.
    #[codec(index = 0)]
    Transfer {
        /// Sender.
        from: AccountId,
        /// Recipient.
        to: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// A new account received its first funds.
    #[codec(index = 1)]
    Endowed {
        /// The account.
        account: AccountId,
        /// Its first balance.
        amount: Balance,
    },
    /// Fees were burned.
    #[codec(index = 2)]
    FeeBurned {
        /// Who paid.
        who: AccountId,
        /// How much.
        amount: Balance,
    },
    /// An account's balance reached zero and its entry was removed.
    #[codec(index = 3)]
    Emptied {
        /// The account.
        account: AccountId,
    },
}

/// Errors.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Encode, Decode)]
pub enum Error {
    /// The sender has less than the amount.
    #[codec(index = 0)]
    InsufficientBalance,
    /// A new account would receive less than the existential deposit.
    #[codec(index = 1)]
    ExistentialDeposit,
    /// The sender would keep a non-zero balance below the existential deposit.
    #[codec(index = 2)]
    WouldLeaveDust,
    /// The recipient's balance would overflow.
    #[codec(index = 3)]
    Overflow,
    /// Sender and recipient are the same account.
    #[codec(index = 4)]
    SelfTransfer,
    /// Nothing to transfer.
    #[codec(index = 5)]
    ZeroAmount,
}

menara_support::impl_pallet_error!(Error, {
    InsufficientBalance,
    ExistentialDeposit,
    WouldLeaveDust,
    Overflow,
    SelfTransfer,
    ZeroAmount,
});

/// Errors of genesis configuration.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum GenesisError {
    /// An endowment below the existential deposit.
    BelowExistentialDeposit(AccountId),
    /// The same account twice.
    Duplicate(AccountId),
    /// The endowments sum past u128.
    IssuanceOverflow,
}

/// Genesis configuration.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct GenesisConfig {
    /// Initial balances.
    pub balances: Vec<(AccountId, Balance)>,
}

/// The pallet.
pub struct Pallet<T>(core::marker::PhantomData<T>);

impl<T: Config> Pallet<T> {
    /// Writes the genesis balances and issuance.
    pub fn build_genesis(config: &GenesisConfig) -> Result<(), GenesisError> {
        let mut issuance: Balance = 0;
        for (who, amount) in &config.balances {
            if *amount < T::EXISTENTIAL_DEPOSIT {
                return Err(GenesisError::BelowExistentialDeposit(*who));
            }
            if Account::contains_key(who) {
                return Err(GenesisError::Duplicate(*who));
            }
            issuance = issuance
                .checked_add(*amount)
                .ok_or(GenesisError::IssuanceOverflow)?;
            Account::insert(who, &AccountData { free: *amount });
        }
        TotalIssuance::put(&issuance);
        Ok(())
    }

    /// Free balance of `who`.
    pub fn free_balance(who: &AccountId) -> Balance {
        Account::get_or_default(who).free
    }

    /// Total issuance.
    pub fn total_issuance() -> Balance {
        TotalIssuance::get_or_default()
    }

    fn deposit_event(event: Event) {
        pallet_system::Pallet::<T>::deposit_event(<T as Config>::PALLET_INDEX, event.encode());
    }

    fn set_free(who: &AccountId, free: Balance) {
        if free == 0 {
            Account::remove(who);
        } else {
            Account::insert(who, &AccountData { free });
        }
    }

    /// Whether `who` can pay `fee` and keep either nothing or at least the existential deposit.
    pub fn can_pay_fee(who: &AccountId, fee: Balance) -> bool {
        let free = Self::free_balance(who);
        match free.checked_sub(fee) {
            Some(rest) => rest == 0 || rest >= T::EXISTENTIAL_DEPOSIT,
            None => false,
        }
    }

    /// Takes `fee` from `who` and burns it.
    pub fn burn_fee(who: &AccountId, fee: Balance) -> Result<(), Error> {
        ensure!(Self::can_pay_fee(who, fee), Error::InsufficientBalance);
        if fee == 0 {
            return Ok(());
        }
        let rest = Self::free_balance(who) - fee;
        Self::set_free(who, rest);
        TotalIssuance::mutate(|i| *i = i.saturating_sub(fee));
        Self::deposit_event(Event::FeeBurned {
            who: *who,
            amount: fee,
        });
        if rest == 0 {
            Self::deposit_event(Event::Emptied { account: *who });
        }
        Ok(())
    }

    /// Takes `amount` out of `who`'s free balance into the custody of another pallet (the
    /// staking pallet's bonded and unbonding stake). Total issuance is unchanged: the
    /// caller counts the amount in its own books, so that total issuance = sum of free
    /// balances + sum of amounts held by pallets. Refuses to leave dust behind.
    pub fn hold(who: &AccountId, amount: Balance) -> Result<(), Error> {
        ensure!(amount > 0, Error::ZeroAmount);
        let rest = Self::free_balance(who)
            .checked_sub(amount)
            .ok_or(Error::InsufficientBalance)?;
        ensure!(
            rest == 0 || rest >= T::EXISTENTIAL_DEPOSIT,
            Error::WouldLeaveDust
        );
        Self::set_free(who, rest);
        if rest == 0 {
            Self::deposit_event(Event::Emptied { account: *who });
        }
        Ok(())
    }

    /// Returns `amount`, previously taken with [`Self::hold`], to `who`'s free balance.
    /// Total issuance is unchanged. Refused when the account would end below the
    /// existential deposit.
    pub fn release(who: &AccountId, amount: Balance) -> Result<(), Error> {
        ensure!(amount > 0, Error::ZeroAmount);
        let free = Self::free_balance(who);
        let new = free.checked_add(amount).ok_or(Error::Overflow)?;
        ensure!(new >= T::EXISTENTIAL_DEPOSIT, Error::ExistentialDeposit);
        Self::set_free(who, new);
        if free == 0 {
            Self::deposit_event(Event::Endowed {
                account: *who,
                amount,
            });
        }
        Ok(())
    }

    /// Creates `amount` new funds in `who`'s free balance (staking rewards): total
    /// issuance rises by exactly `amount`.
    pub fn mint(who: &AccountId, amount: Balance) -> Result<(), Error> {
        let issuance = Self::total_issuance()
            .checked_add(amount)
            .ok_or(Error::Overflow)?;
        Self::release(who, amount)?;
        TotalIssuance::put(&issuance);
        Ok(())
    }

    /// Destroys `amount` of funds held by another pallet outside free balances (a slash
    /// of staked funds): total issuance falls by `amount`.
    pub fn burn_held(amount: Balance) {
        TotalIssuance::mutate(|i| *i = i.saturating_sub(amount));
    }

    /// Moves `value` from `from` to `to` under the existential-deposit rules.
    pub fn transfer(from: &AccountId, to: &AccountId, value: Balance) -> Result<(), Error> {
        ensure!(from != to, Error::SelfTransfer);
        ensure!(value > 0, Error::ZeroAmount);
        let from_free = Self::free_balance(from);
        let to_free = Self::free_balance(to);
        let from_rest = from_free
            .checked_sub(value)
            .ok_or(Error::InsufficientBalance)?;
        ensure!(
            from_rest == 0 || from_rest >= T::EXISTENTIAL_DEPOSIT,
            Error::WouldLeaveDust
        );
        let to_new = to_free.checked_add(value).ok_or(Error::Overflow)?;
        ensure!(to_new >= T::EXISTENTIAL_DEPOSIT, Error::ExistentialDeposit);
        Self::set_free(from, from_rest);
        Self::set_free(to, to_new);
        Self::deposit_event(Event::Transfer {
            from: *from,
            to: *to,
            amount: value,
        });
        if to_free == 0 {
            Self::deposit_event(Event::Endowed {
                account: *to,
                amount: value,
            });
        }
        if from_rest == 0 {
            Self::deposit_event(Event::Emptied { account: *from });
        }
        Ok(())
    }

    /// Dispatches a call.
    pub fn dispatch(origin: Origin, call: Call) -> DispatchResult {
        let who = ensure_signed(origin)?;
        let result = match call {
            Call::Transfer { dest, value } => Self::transfer(&who, &dest, value.0),
            Call::TransferAll { dest } => Self::transfer(&who, &dest, Self::free_balance(&who)),
        };
        result.map_err(|e| e.into_dispatch_error(<T as Config>::PALLET_INDEX))
    }
}

#[cfg(test)]
mod tests;
