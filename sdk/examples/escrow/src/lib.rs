//! An escrow: the deployer locks the value sent with the deployment for a beneficiary.
//! The arbiter may release it to the beneficiary at any time; once the deadline block has
//! passed without a release, anyone may refund it to the depositor.

#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

use alloc::string::String;
use menara_contract::{env, storage::Lazy, AccountId};
use parity_scale_codec::{Decode, Encode};

/// Where the escrow stands.
#[derive(Clone, Copy, PartialEq, Eq, Encode, Decode)]
enum Status {
    /// Holding the deposit.
    Pending,
    /// Paid out to the beneficiary.
    Released,
    /// Paid back to the depositor.
    Refunded,
}

const DEPOSITOR: Lazy<AccountId> = Lazy::new(b"d");
const BENEFICIARY: Lazy<AccountId> = Lazy::new(b"b");
const ARBITER: Lazy<AccountId> = Lazy::new(b"a");
const DEADLINE: Lazy<u64> = Lazy::new(b"t");
const STATUS: Lazy<Status> = Lazy::new(b"s");

/// Reads a value the constructor stored; it is always there once deployed.
fn stored<V: Encode + Decode>(cell: &Lazy<V>) -> V {
    match cell.get() {
        Some(value) => value,
        None => panic!("escrow state missing"),
    }
}

/// Pays the whole balance to `to` and records `status`; returns the amount.
fn settle(to: &AccountId, status: Status) -> Result<u128, Error> {
    if stored(&STATUS) != Status::Pending {
        return Err(Error::AlreadySettled);
    }
    let amount = env::balance();
    env::transfer(to, amount).map_err(|_| Error::TransferFailed)?;
    STATUS.set(&status);
    Ok(amount)
}

menara_contract::contract! {
    name = "escrow";

    errors = Error {
        /// Only the arbiter may release the deposit.
        NotArbiter,
        /// A refund is only possible after the deadline block.
        TooEarly,
        /// The deposit was already released or refunded.
        AlreadySettled,
        /// The payout failed.
        TransferFailed,
    };

    events = {
        /// The deposit went to the beneficiary.
        Released(#[topic] beneficiary: AccountId, amount: u128);
        /// The deposit went back to the depositor.
        Refunded(#[topic] depositor: AccountId, amount: u128);
    };

    /// Locks the value sent with the deployment for `beneficiary`. `arbiter` may release
    /// it; after block `deadline` it can be refunded to the deployer.
    #[payable]
    constructor new(beneficiary: AccountId, arbiter: AccountId, deadline: u64) {
        DEPOSITOR.set(&env::caller());
        BENEFICIARY.set(&beneficiary);
        ARBITER.set(&arbiter);
        DEADLINE.set(&deadline);
        STATUS.set(&Status::Pending);
    }

    /// Pays the whole deposit to the beneficiary (arbiter only, any time).
    message release() -> Result<(), Error> {
        if env::caller() != stored(&ARBITER) {
            return Err(Error::NotArbiter);
        }
        let beneficiary = stored(&BENEFICIARY);
        let amount = settle(&beneficiary, Status::Released)?;
        Released { beneficiary, amount }.emit();
        Ok(())
    }

    /// Pays the whole deposit back to the depositor (anyone, once the current block is
    /// past the deadline).
    message refund() -> Result<(), Error> {
        if env::block_number() <= stored(&DEADLINE) {
            return Err(Error::TooEarly);
        }
        let depositor = stored(&DEPOSITOR);
        let amount = settle(&depositor, Status::Refunded)?;
        Refunded { depositor, amount }.emit();
        Ok(())
    }

    /// `"pending"`, `"released"` or `"refunded"`.
    #[view]
    message state() -> String {
        String::from(match stored(&STATUS) {
            Status::Pending => "pending",
            Status::Released => "released",
            Status::Refunded => "refunded",
        })
    }

    /// `(depositor, beneficiary, arbiter, deadline)`.
    #[view]
    message parties() -> (AccountId, AccountId, AccountId, u64) {
        (stored(&DEPOSITOR), stored(&BENEFICIARY), stored(&ARBITER), stored(&DEADLINE))
    }

    /// The value held (the contract's balance).
    #[view]
    message held() -> u128 {
        env::balance()
    }
}
