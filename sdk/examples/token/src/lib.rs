//! A fungible token: balances, transfers, and allowances that let another account spend
//! on the owner's behalf.
//!
//! The constructor mints the whole supply to the deployer. A mint is reported as a
//! `Transfer` from the all-zero account.

#![cfg_attr(target_arch = "wasm32", no_std)]

use menara_contract::{
    env,
    storage::{Lazy, Mapping},
    AccountId,
};

/// The total supply, fixed at deployment.
const TOTAL_SUPPLY: Lazy<u128> = Lazy::new(b"s");
/// Balances. A zero balance is not stored.
const BALANCES: Mapping<AccountId, u128> = Mapping::new(b"b");
/// Allowances, by (owner, spender). A zero allowance is not stored.
const ALLOWANCES: Mapping<(AccountId, AccountId), u128> = Mapping::new(b"a");

fn set_balance(who: &AccountId, amount: u128) {
    if amount == 0 {
        BALANCES.remove(who);
    } else {
        BALANCES.insert(who, &amount);
    }
}

/// Moves `amount` from `from` to `to` and emits `Transfer`.
fn move_tokens(from: AccountId, to: AccountId, amount: u128) -> Result<(), Error> {
    let from_balance = BALANCES.get_or_default(&from);
    let left = from_balance
        .checked_sub(amount)
        .ok_or(Error::InsufficientBalance)?;
    set_balance(&from, left);
    // Cannot overflow: all balances together are the fixed total supply.
    let to_balance = BALANCES.get_or_default(&to);
    set_balance(&to, to_balance.saturating_add(amount));
    Transfer { from, to, amount }.emit();
    Ok(())
}

menara_contract::contract! {
    name = "token";

    errors = Error {
        /// The sender's balance is lower than the amount.
        InsufficientBalance,
        /// The spender's allowance is lower than the amount.
        InsufficientAllowance,
    };

    events = {
        /// Tokens moved (`from` is all zeros for the initial mint).
        Transfer(#[topic] from: AccountId, #[topic] to: AccountId, amount: u128);
        /// `owner` allowed `spender` to spend up to `amount` of its tokens.
        Approval(#[topic] owner: AccountId, #[topic] spender: AccountId, amount: u128);
    };

    /// Creates `supply` tokens, all owned by the deployer.
    constructor new(supply: u128) {
        let owner = env::caller();
        TOTAL_SUPPLY.set(&supply);
        set_balance(&owner, supply);
        Transfer { from: AccountId::default(), to: owner, amount: supply }.emit();
    }

    /// Sends `amount` of the caller's tokens to `to`.
    message transfer(to: AccountId, amount: u128) -> Result<(), Error> {
        move_tokens(env::caller(), to, amount)
    }

    /// Lets `spender` spend up to `amount` of the caller's tokens (replacing any earlier
    /// allowance).
    message approve(spender: AccountId, amount: u128) {
        let owner = env::caller();
        if amount == 0 {
            ALLOWANCES.remove(&(owner, spender));
        } else {
            ALLOWANCES.insert(&(owner, spender), &amount);
        }
        Approval { owner, spender, amount }.emit();
    }

    /// Sends `amount` of `from`'s tokens to `to`, spending the caller's allowance.
    message transfer_from(from: AccountId, to: AccountId, amount: u128) -> Result<(), Error> {
        let spender = env::caller();
        let key = (from, spender);
        let allowance = ALLOWANCES.get_or_default(&key);
        let left = allowance
            .checked_sub(amount)
            .ok_or(Error::InsufficientAllowance)?;
        move_tokens(from, to, amount)?;
        if left == 0 {
            ALLOWANCES.remove(&key);
        } else {
            ALLOWANCES.insert(&key, &left);
        }
        Ok(())
    }

    /// The tokens `who` owns.
    #[view]
    message balance_of(who: AccountId) -> u128 {
        BALANCES.get_or_default(&who)
    }

    /// How much `spender` may still spend of `owner`'s tokens.
    #[view]
    message allowance(owner: AccountId, spender: AccountId) -> u128 {
        ALLOWANCES.get_or_default(&(owner, spender))
    }

    /// All tokens in existence.
    #[view]
    message total_supply() -> u128 {
        TOTAL_SUPPLY.get_or_default()
    }
}
