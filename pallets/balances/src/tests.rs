#![allow(clippy::unwrap_used)]
use super::*;
use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};
use proptest::prelude::*;

struct Test;
impl pallet_system::Config for Test {
    const PALLET_INDEX: u8 = 0;
    const MAX_EVENTS_PER_BLOCK: u32 = 10_000;
    const SPEC_NAME: &'static str = "menara";
    const SPEC_VERSION: u32 = 1;
    const MAX_CODE_SIZE: u32 = 1 << 20;
}
impl Config for Test {
    const PALLET_INDEX: u8 = 1;
    const EXISTENTIAL_DEPOSIT: Balance = 100;
}
type Balances = Pallet<Test>;

fn acc(i: u8) -> AccountId {
    AccountId([i; 32])
}

fn with_genesis<R>(balances: &[(u8, Balance)], f: impl FnOnce() -> R) -> R {
    let state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        Balances::build_genesis(&GenesisConfig {
            balances: balances.iter().map(|(i, b)| (acc(*i), *b)).collect(),
        })
        .unwrap();
        f()
    })
}

fn sum_of_balances() -> Balance {
    Account::iter()
        .map(|(_, d): (AccountId, AccountData)| d.free)
        .sum()
}

#[test]
fn transfer_moves_funds_and_endows_new_accounts() {
    with_genesis(&[(1, 1_000)], || {
        Balances::transfer(&acc(1), &acc(2), 300).unwrap();
        assert_eq!(Balances::free_balance(&acc(1)), 700);
        assert_eq!(Balances::free_balance(&acc(2)), 300);
        assert_eq!(Balances::total_issuance(), 1_000);
        let events = pallet_system::Pallet::<Test>::events();
        assert_eq!(events.len(), 2, "Transfer and Endowed");
    });
}

#[test]
fn transfer_refusals_change_nothing() {
    with_genesis(&[(1, 1_000), (2, 500)], || {
        assert_eq!(
            Balances::transfer(&acc(1), &acc(2), 1_001),
            Err(Error::InsufficientBalance)
        );
        assert_eq!(
            Balances::transfer(&acc(1), &acc(3), 99),
            Err(Error::ExistentialDeposit)
        );
        assert_eq!(
            Balances::transfer(&acc(1), &acc(2), 950),
            Err(Error::WouldLeaveDust)
        );
        assert_eq!(
            Balances::transfer(&acc(1), &acc(1), 10),
            Err(Error::SelfTransfer)
        );
        assert_eq!(
            Balances::transfer(&acc(1), &acc(2), 0),
            Err(Error::ZeroAmount)
        );
        assert_eq!(Balances::free_balance(&acc(1)), 1_000);
        assert_eq!(Balances::free_balance(&acc(2)), 500);
        assert_eq!(Balances::free_balance(&acc(3)), 0);
    });
}

#[test]
fn emptying_an_account_removes_its_entry() {
    with_genesis(&[(1, 1_000)], || {
        Balances::dispatch(Origin::Signed(acc(1)), Call::TransferAll { dest: acc(2) }).unwrap();
        assert!(!Account::contains_key(&acc(1)));
        assert_eq!(Balances::free_balance(&acc(2)), 1_000);
    });
}

#[test]
fn overflow_is_refused() {
    with_genesis(&[(1, Balance::MAX - 1_000), (2, 1_000)], || {
        // Issuance is at the edge; a transfer that would overflow the recipient fails.
        assert_eq!(Balances::total_issuance(), Balance::MAX);
        Balances::transfer(&acc(2), &acc(1), 1_000).unwrap();
        assert_eq!(Balances::free_balance(&acc(1)), Balance::MAX);
    });
    let state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        let config = GenesisConfig {
            balances: vec![(acc(1), Balance::MAX), (acc(2), 1_000)],
        };
        assert_eq!(
            Balances::build_genesis(&config),
            Err(GenesisError::IssuanceOverflow)
        );
    });
}

#[test]
fn fees_burn_and_never_leave_dust() {
    with_genesis(&[(1, 1_000)], || {
        assert!(!Balances::can_pay_fee(&acc(1), 950));
        assert!(Balances::can_pay_fee(&acc(1), 1_000));
        Balances::burn_fee(&acc(1), 50).unwrap();
        assert_eq!(Balances::total_issuance(), 950);
        assert_eq!(
            Balances::burn_fee(&acc(1), 900),
            Err(Error::InsufficientBalance)
        );
        Balances::burn_fee(&acc(1), 950).unwrap();
        assert_eq!(Balances::total_issuance(), 0);
        assert!(!Account::contains_key(&acc(1)));
    });
}

#[test]
fn genesis_refuses_duplicates_and_dust() {
    let state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        let dup = GenesisConfig {
            balances: vec![(acc(1), 500), (acc(1), 500)],
        };
        assert_eq!(
            Balances::build_genesis(&dup),
            Err(GenesisError::Duplicate(acc(1)))
        );
    });
    let mut overlay = OverlayedChanges::new();
    menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        let dust = GenesisConfig {
            balances: vec![(acc(1), 99)],
        };
        assert_eq!(
            Balances::build_genesis(&dust),
            Err(GenesisError::BelowExistentialDeposit(acc(1)))
        );
    });
}

#[derive(Debug, Clone)]
enum Op {
    Transfer { from: u8, to: u8, value: Balance },
    TransferAll { from: u8, to: u8 },
    Fee { who: u8, fee: Balance },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, 0u8..6, 0u128..3_000).prop_map(|(from, to, value)| Op::Transfer {
            from,
            to,
            value
        }),
        (0u8..6, 0u8..6).prop_map(|(from, to)| Op::TransferAll { from, to }),
        (0u8..6, 0u128..400).prop_map(|(who, fee)| Op::Fee { who, fee }),
    ]
}

proptest! {
    /// Total issuance changes only by the fees burned, always equals the sum of all
    /// balances, and no account is ever left holding dust.
    #[test]
    fn issuance_changes_only_by_burned_fees(ops in proptest::collection::vec(op(), 1..60)) {
        with_genesis(&[(0, 5_000), (1, 2_000), (2, 100)], || {
            let initial = Balances::total_issuance();
            let mut burned: Balance = 0;
            for op in ops {
                match op {
                    Op::Transfer { from, to, value } => {
                        let _ = Balances::transfer(&acc(from), &acc(to), value);
                    }
                    Op::TransferAll { from, to } => {
                        let _ = Balances::dispatch(Origin::Signed(acc(from)), Call::TransferAll { dest: acc(to) });
                    }
                    Op::Fee { who, fee } => {
                        if Balances::burn_fee(&acc(who), fee).is_ok() {
                            burned += fee;
                        }
                    }
                }
                prop_assert_eq!(Balances::total_issuance(), initial - burned);
                prop_assert_eq!(sum_of_balances(), Balances::total_issuance());
                for i in 0..6 {
                    let b = Balances::free_balance(&acc(i));
                    prop_assert!(b == 0 || b >= 100, "dust {} at {}", b, i);
                }
            }
            Ok(())
        })?;
    }
}

#[test]
fn hold_release_mint_and_burn_held_keep_the_books() {
    with_genesis(&[(1, 1_000)], || {
        // Held funds leave the free balance; issuance counts them still.
        assert_eq!(Balances::hold(&acc(1), 0), Err(Error::ZeroAmount));
        assert_eq!(
            Balances::hold(&acc(1), 1_001),
            Err(Error::InsufficientBalance)
        );
        assert_eq!(Balances::hold(&acc(1), 950), Err(Error::WouldLeaveDust));
        Balances::hold(&acc(1), 400).unwrap();
        assert_eq!(Balances::free_balance(&acc(1)), 600);
        assert_eq!(Balances::total_issuance(), 1_000);
        assert_eq!(sum_of_balances() + 400, Balances::total_issuance());
        // Release: back to free, never creating dust.
        assert_eq!(
            Balances::release(&acc(2), 50),
            Err(Error::ExistentialDeposit)
        );
        Balances::release(&acc(2), 150).unwrap();
        assert_eq!(Balances::free_balance(&acc(2)), 150);
        // Burning 250 of the held funds lowers issuance.
        Balances::burn_held(250);
        assert_eq!(Balances::total_issuance(), 750);
        assert_eq!(sum_of_balances(), 750);
        // Minting raises both.
        assert_eq!(Balances::mint(&acc(3), 5), Err(Error::ExistentialDeposit));
        Balances::mint(&acc(3), 500).unwrap();
        assert_eq!(Balances::total_issuance(), 1_250);
        assert_eq!(sum_of_balances(), 1_250);
        assert_eq!(Balances::mint(&acc(3), Balance::MAX), Err(Error::Overflow));
        assert_eq!(Balances::total_issuance(), 1_250);
    });
}
