#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};
use menara_support::codec::DecodeAll;
use proptest::prelude::*;
use std::collections::BTreeMap as Map;

struct Test;
impl pallet_system::Config for Test {
    const PALLET_INDEX: u8 = 0;
    const MAX_EVENTS_PER_BLOCK: u32 = 100_000;
    const SPEC_NAME: &'static str = "menara";
    const SPEC_VERSION: u32 = 1;
    const MAX_CODE_SIZE: u32 = 1 << 20;
}
impl pallet_balances::Config for Test {
    const PALLET_INDEX: u8 = 1;
    const EXISTENTIAL_DEPOSIT: Balance = 10;
}
impl Config for Test {
    const PALLET_INDEX: u8 = 5;
    const DEPOSIT_BASE: Balance = 100;
    const DEPOSIT_PER_BYTE: Balance = 1;
    const MAX_MODEL_SIZE: u64 = 8 << 30;
}
type Models = Pallet<Test>;
type Bal = pallet_balances::Pallet<Test>;

const FUNDS: Balance = 1_000_000_000;

fn acc(i: u8) -> AccountId {
    AccountId([i; 32])
}

fn mid(i: u8) -> ModelId {
    H256([i; 32])
}

fn params(name: &str, version: (u32, u32, u32)) -> ModelParams {
    ModelParams {
        file_root: H256([0xf0; 32]),
        size: 1 << 20,
        name: name.as_bytes().to_vec(),
        version: Version {
            major: version.0,
            minor: version.1,
            patch: version.2,
        },
        kind: ModelKind::Encoder,
        shape: vec![30_522, 384, 6, 12],
        numerics_version: 1,
        royalty: 1_000,
    }
}

fn run<R>(funded: &[u8], f: impl FnOnce() -> R) -> R {
    let state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        Bal::build_genesis(&pallet_balances::GenesisConfig {
            balances: funded.iter().map(|i| (acc(*i), FUNDS)).collect(),
        })
        .unwrap();
        f()
    })
}

fn set_block(n: BlockNumber) {
    pallet_system::storage::Number::put(&n);
}

/// Every key and value of the state (events included).
fn dump() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut cursor = Vec::new();
    while let Some(key) = io::storage::next_key(&cursor) {
        let value = io::storage::get(&key).unwrap();
        out.push((key.clone(), value));
        cursor = key;
    }
    out
}

/// Asserts that `f` fails with `expected` and changes nothing at all.
#[track_caller]
fn refused<R: core::fmt::Debug>(expected: Error, f: impl FnOnce() -> Result<R, Error>) {
    let before = dump();
    let result = f();
    assert_eq!(result.map(|_| ()), Err(expected));
    assert!(dump() == before, "refusal {expected:?} changed the state");
}

fn events() -> Vec<Event> {
    pallet_system::Pallet::<Test>::events()
        .into_iter()
        .filter(|r| r.pallet == 5)
        .map(|r| Event::decode_all(&mut &r.event[..]).unwrap())
        .collect()
}

fn last_event() -> Event {
    events().pop().unwrap()
}

fn sum_of_free() -> Balance {
    pallet_balances::storage::Account::iter()
        .map(|(_, d): (AccountId, pallet_balances::AccountData)| d.free)
        .sum()
}

fn holdings() -> Map<ModelId, Vec<(AccountId, Holding)>> {
    let mut by_model: Map<ModelId, Vec<(AccountId, Holding)>> = Map::new();
    for ((id, who), h) in storage::Shares::iter() {
        by_model.entry(id).or_default().push((who, h));
    }
    by_model
}

/// Checks the books; returns the total dust (unclaimed royalties nobody can claim).
fn check_books() -> Balance {
    assert_eq!(Bal::total_issuance(), sum_of_free() + Models::total_held());
    let models: Map<ModelId, ModelInfo> = storage::Models::iter().collect();
    let held: Balance = models
        .values()
        .map(|m| m.deposit + m.royalties_unclaimed)
        .sum();
    assert_eq!(Models::total_held(), held);
    let holdings = holdings();
    let mut dust = 0;
    for (id, info) in &models {
        let hs = holdings.get(id).cloned().unwrap_or_default();
        assert_eq!(info.holders as usize, hs.len(), "holder count of {id:?}");
        assert_eq!(hs.iter().map(|(_, h)| h.shares).sum::<u64>(), TOTAL_SHARES);
        assert!(hs.iter().all(|(_, h)| h.shares > 0 || h.pending > 0));
        let claimable: Balance = hs.iter().map(|(who, _)| Models::claimable(id, who)).sum();
        assert!(
            claimable <= info.royalties_unclaimed,
            "claims exceed the custody"
        );
        dust += info.royalties_unclaimed - claimable;
    }
    // No holdings of removed models.
    assert!(holdings.keys().all(|id| models.contains_key(id)));
    dust
}

fn register(owner: u8, id: u8) {
    Models::register(&acc(owner), &mid(id), &params("bert-mini", (1, 0, 0))).unwrap();
}

// ---------------------------------------------------------------------- register

#[test]
fn register_holds_a_deposit_and_gives_all_shares_to_the_owner() {
    run(&[1], || {
        set_block(7);
        let p = params("bert-mini", (1, 2, 3));
        assert_eq!(Models::required_deposit(&p, None), Some(333));
        Models::register(&acc(1), &mid(1), &p).unwrap();
        let info = Models::model(&mid(1)).unwrap();
        // 100 + 1 per byte of the 233-byte record.
        assert_eq!(info.deposit, 333);
        assert_eq!(info.encoded_size(), 233);
        assert_eq!(info.owner, acc(1));
        assert_eq!(info.depositor, acc(1));
        assert_eq!(info.registered_at, 7);
        assert_eq!(info.royalty_changed_at, 7);
        assert_eq!(info.royalty_per_inference, 1_000);
        assert_eq!(info.file_root, p.file_root);
        assert_eq!(info.size, p.size);
        assert_eq!(info.name, b"bert-mini".to_vec());
        assert_eq!(info.kind, ModelKind::Encoder);
        assert_eq!(info.shape, p.shape);
        assert_eq!(info.numerics_version, 1);
        assert_eq!(
            (info.previous, info.next, info.deprecated),
            (None, None, false)
        );
        assert_eq!(info.holders, 1);
        assert_eq!(Bal::free_balance(&acc(1)), FUNDS - 333);
        assert_eq!(Models::total_held(), 333);
        assert_eq!(Models::shares_of(&mid(1), &acc(1)), TOTAL_SHARES);
        assert_eq!(Models::shares_of(&mid(1), &acc(2)), 0);
        assert_eq!(Models::royalty_of(&mid(1)), Some(1_000));
        assert_eq!(Models::royalty_at(&mid(1)), Some((1_000, 7)));
        assert_eq!(
            Models::model_view(&mid(1)),
            Some(ModelView {
                id: mid(1),
                info,
                total_shares: TOTAL_SHARES
            })
        );
        assert_eq!(
            events(),
            vec![Event::Registered {
                id: mid(1),
                owner: acc(1),
                deposit: 333
            }]
        );
        check_books();
    });
}

#[test]
fn deposit_grows_with_the_stored_bytes() {
    run(&[1], || {
        let short = params("a", (1, 0, 0));
        let mut long = params(&"a".repeat(MAX_NAME_LEN), (1, 0, 0));
        long.shape = vec![1; MAX_SHAPE_DIMS];
        let d_short = Models::required_deposit(&short, None).unwrap();
        let d_long = Models::required_deposit(&long, None).unwrap();
        assert_eq!(
            d_long - d_short,
            (MAX_NAME_LEN as u128 - 1) + 1 + 4 * (16 - 4)
        );
        // (a 64-byte name needs a two-byte length prefix)
        // A version record also stores the link to its predecessor.
        assert_eq!(
            Models::required_deposit(&short, Some(mid(1))).unwrap(),
            d_short + 32
        );
    });
}

#[test]
fn register_refusals_change_nothing() {
    run(&[1, 2], || {
        register(1, 1);
        let ok = params("bert-mini", (1, 0, 0));
        refused(Error::AlreadyRegistered, || {
            Models::register(&acc(2), &mid(1), &ok)
        });
        refused(Error::ZeroHash, || {
            Models::register(&acc(2), &H256::zero(), &ok)
        });
        let mut p = ok.clone();
        p.file_root = H256::zero();
        refused(Error::ZeroHash, || Models::register(&acc(2), &mid(2), &p));
        let mut p = ok.clone();
        p.size = 0;
        refused(Error::ZeroSize, || Models::register(&acc(2), &mid(2), &p));
        let mut p = ok.clone();
        p.size = (8 << 30) + 1;
        refused(Error::TooLarge, || Models::register(&acc(2), &mid(2), &p));
        let p = params(&"x".repeat(MAX_NAME_LEN + 1), (1, 0, 0));
        refused(Error::NameTooLong, || {
            Models::register(&acc(2), &mid(2), &p)
        });
        for bad in ["", "with space", "tab\t", "caf\u{e9}", "nul\0"] {
            let p = params(bad, (1, 0, 0));
            refused(Error::BadName, || Models::register(&acc(2), &mid(2), &p));
        }
        let mut p = ok.clone();
        p.shape = vec![1; MAX_SHAPE_DIMS + 1];
        refused(Error::ShapeTooLong, || {
            Models::register(&acc(2), &mid(2), &p)
        });
        // No funds at all, or not enough.
        refused(Error::InsufficientBalance, || {
            Models::register(&acc(3), &mid(2), &ok)
        });
        Bal::transfer(&acc(2), &acc(3), 300).unwrap();
        refused(Error::InsufficientBalance, || {
            Models::register(&acc(3), &mid(2), &ok)
        });
        // Would leave 335 - 333 = 2, below the existential deposit.
        Bal::transfer(&acc(2), &acc(3), 35).unwrap();
        refused(Error::WouldLeaveDust, || {
            Models::register(&acc(3), &mid(2), &ok)
        });
        check_books();
    });
}

#[test]
fn edge_names_and_sizes_are_accepted() {
    run(&[1], || {
        let mut p = params(&"~".repeat(MAX_NAME_LEN), (0, 0, 0));
        p.size = 8 << 30;
        p.shape = vec![];
        p.kind = ModelKind::Mlp;
        p.royalty = 0;
        Models::register(&acc(1), &mid(1), &p).unwrap();
        Models::register(&acc(1), &mid(2), &params("!", (0, 0, 1))).unwrap();
        assert_eq!(Models::model(&mid(1)).unwrap().kind, ModelKind::Mlp);
        check_books();
    });
}

#[test]
fn model_kinds_match_gpu_verify_codes() {
    for kind in [ModelKind::Encoder, ModelKind::Mlp] {
        assert_eq!(ModelKind::from_code(kind.code()), Some(kind));
        assert_eq!(kind.encode(), vec![kind.code() as u8]);
    }
    assert_eq!(ModelKind::from_code(0), None);
    assert_eq!(ModelKind::from_code(3), None);
    assert!(ModelKind::decode_all(&mut &[3u8][..]).is_err());
}

// ---------------------------------------------------------------------- versions

#[test]
fn publish_version_links_both_ways() {
    run(&[1], || {
        register(1, 1);
        set_block(3);
        let p = params("bert-mini", (1, 0, 1));
        Models::publish_version(&acc(1), &mid(1), &mid(2), &p).unwrap();
        let old = Models::model(&mid(1)).unwrap();
        let new = Models::model(&mid(2)).unwrap();
        assert_eq!(old.next, Some(mid(2)));
        assert_eq!(new.previous, Some(mid(1)));
        assert_eq!(new.next, None);
        assert_eq!(new.registered_at, 3);
        assert_eq!(
            new.deposit,
            Models::required_deposit(&p, Some(mid(1))).unwrap()
        );
        assert_eq!(Models::shares_of(&mid(2), &acc(1)), TOTAL_SHARES);
        let evs = events();
        assert_eq!(
            &evs[evs.len() - 2..],
            &[
                Event::Registered {
                    id: mid(2),
                    owner: acc(1),
                    deposit: new.deposit
                },
                Event::VersionPublished {
                    previous: mid(1),
                    id: mid(2)
                }
            ]
        );
        // Versions chain on; minor and major bumps count as increases.
        Models::publish_version(&acc(1), &mid(2), &mid(3), &params("bert-mini", (1, 1, 0)))
            .unwrap();
        Models::publish_version(&acc(1), &mid(3), &mid(4), &params("bert-mini", (2, 0, 0)))
            .unwrap();
        check_books();
    });
}

#[test]
fn publish_version_refusals_change_nothing() {
    run(&[1, 2], || {
        register(1, 1);
        Models::set_royalty(&acc(1), &mid(1), 5).unwrap();
        let next = params("bert-mini", (1, 0, 1));
        refused(Error::UnknownModel, || {
            Models::publish_version(&acc(1), &mid(9), &mid(2), &next)
        });
        refused(Error::NotOwner, || {
            Models::publish_version(&acc(2), &mid(1), &mid(2), &next)
        });
        refused(Error::NameMismatch, || {
            Models::publish_version(&acc(1), &mid(1), &mid(2), &params("bert-max", (2, 0, 0)))
        });
        for v in [(1, 0, 0), (0, 9, 9), (0, 0, 1)] {
            refused(Error::VersionNotIncreasing, || {
                Models::publish_version(&acc(1), &mid(1), &mid(2), &params("bert-mini", v))
            });
        }
        refused(Error::AlreadyRegistered, || {
            Models::publish_version(&acc(1), &mid(1), &mid(1), &next)
        });
        let mut bad = next.clone();
        bad.size = 0;
        refused(Error::ZeroSize, || {
            Models::publish_version(&acc(1), &mid(1), &mid(2), &bad)
        });
        Models::publish_version(&acc(1), &mid(1), &mid(2), &next).unwrap();
        refused(Error::AlreadyHasNextVersion, || {
            Models::publish_version(&acc(1), &mid(1), &mid(3), &params("bert-mini", (1, 1, 0)))
        });
        // An account without funds cannot pay the deposit of a version.
        Models::transfer_ownership(&acc(1), &mid(2), &acc(3)).unwrap();
        refused(Error::InsufficientBalance, || {
            Models::publish_version(&acc(3), &mid(2), &mid(3), &params("bert-mini", (1, 1, 0)))
        });
        check_books();
    });
}

// ---------------------------------------------------------------------- owner calls

#[test]
fn deprecate_marks_the_model_once() {
    run(&[1, 2], || {
        register(1, 1);
        refused(Error::UnknownModel, || Models::deprecate(&acc(1), &mid(9)));
        refused(Error::NotOwner, || Models::deprecate(&acc(2), &mid(1)));
        Models::deprecate(&acc(1), &mid(1)).unwrap();
        assert!(Models::model(&mid(1)).unwrap().deprecated);
        assert_eq!(last_event(), Event::Deprecated { id: mid(1) });
        refused(Error::AlreadyDeprecated, || {
            Models::deprecate(&acc(1), &mid(1))
        });
        // A deprecated model still accepts royalties and can get a later version.
        Models::pay_royalty(&acc(2), &mid(1), 50).unwrap();
        Models::publish_version(&acc(1), &mid(1), &mid(2), &params("bert-mini", (1, 0, 1)))
            .unwrap();
        check_books();
    });
}

#[test]
fn set_royalty_records_the_block_it_changed_at() {
    run(&[1, 2], || {
        register(1, 1);
        set_block(42);
        refused(Error::UnknownModel, || {
            Models::set_royalty(&acc(1), &mid(9), 5)
        });
        refused(Error::NotOwner, || Models::set_royalty(&acc(2), &mid(1), 5));
        Models::set_royalty(&acc(1), &mid(1), 2_500).unwrap();
        assert_eq!(Models::royalty_of(&mid(1)), Some(2_500));
        assert_eq!(Models::royalty_at(&mid(1)), Some((2_500, 42)));
        assert_eq!(Models::model(&mid(1)).unwrap().royalty_changed_at, 42);
        assert_eq!(
            last_event(),
            Event::RoyaltySet {
                id: mid(1),
                royalty: 2_500,
                at: 42
            }
        );
        assert_eq!(Models::royalty_of(&mid(9)), None);
        assert_eq!(Models::royalty_at(&mid(9)), None);
    });
}

#[test]
fn transfer_ownership_moves_control_not_shares() {
    run(&[1, 2], || {
        register(1, 1);
        refused(Error::UnknownModel, || {
            Models::transfer_ownership(&acc(1), &mid(9), &acc(2))
        });
        refused(Error::NotOwner, || {
            Models::transfer_ownership(&acc(2), &mid(1), &acc(2))
        });
        refused(Error::SelfTransfer, || {
            Models::transfer_ownership(&acc(1), &mid(1), &acc(1))
        });
        Models::transfer_ownership(&acc(1), &mid(1), &acc(2)).unwrap();
        assert_eq!(
            last_event(),
            Event::OwnershipTransferred {
                id: mid(1),
                from: acc(1),
                to: acc(2)
            }
        );
        let info = Models::model(&mid(1)).unwrap();
        assert_eq!((info.owner, info.depositor), (acc(2), acc(1)));
        assert_eq!(Models::shares_of(&mid(1), &acc(1)), TOTAL_SHARES);
        assert_eq!(Models::shares_of(&mid(1), &acc(2)), 0);
        refused(Error::NotOwner, || Models::set_royalty(&acc(1), &mid(1), 1));
        Models::set_royalty(&acc(2), &mid(1), 1).unwrap();
        check_books();
    });
}

// ---------------------------------------------------------------------- royalties

#[test]
fn royalties_are_split_by_shares_and_settled_on_transfer() {
    run(&[1, 2, 3], || {
        register(1, 1);
        let before = Bal::free_balance(&acc(3));
        Models::pay_royalty(&acc(3), &mid(1), 1_000).unwrap();
        assert_eq!(
            last_event(),
            Event::RoyaltyPaid {
                id: mid(1),
                payer: acc(3),
                amount: 1_000
            }
        );
        assert_eq!(Bal::free_balance(&acc(3)), before - 1_000);
        assert_eq!(Models::claimable(&mid(1), &acc(1)), 1_000);
        // Half the shares to 2: what was earned before stays with 1.
        Models::transfer_shares(&acc(1), &mid(1), &acc(2), TOTAL_SHARES / 2).unwrap();
        assert_eq!(
            last_event(),
            Event::SharesTransferred {
                id: mid(1),
                from: acc(1),
                to: acc(2),
                amount: TOTAL_SHARES / 2
            }
        );
        assert_eq!(Models::claimable(&mid(1), &acc(1)), 1_000);
        assert_eq!(Models::claimable(&mid(1), &acc(2)), 0);
        assert_eq!(Models::model(&mid(1)).unwrap().holders, 2);
        Models::pay_royalty(&acc(3), &mid(1), 1_000).unwrap();
        assert_eq!(Models::claimable(&mid(1), &acc(1)), 1_500);
        assert_eq!(Models::claimable(&mid(1), &acc(2)), 500);
        check_books();

        let free1 = Bal::free_balance(&acc(1));
        assert_eq!(Models::claim_royalties(&acc(1), &mid(1)), Ok(1_500));
        assert_eq!(
            last_event(),
            Event::RoyaltiesClaimed {
                id: mid(1),
                who: acc(1),
                amount: 1_500
            }
        );
        assert_eq!(Bal::free_balance(&acc(1)), free1 + 1_500);
        assert_eq!(Models::claimable(&mid(1), &acc(1)), 0);
        refused(Error::NothingToClaim, || {
            Models::claim_royalties(&acc(1), &mid(1))
        });
        refused(Error::NothingToClaim, || {
            Models::claim_royalties(&acc(3), &mid(1))
        });
        refused(Error::UnknownModel, || {
            Models::claim_royalties(&acc(1), &mid(9))
        });
        assert_eq!(Models::claim_royalties(&acc(2), &mid(1)), Ok(500));
        let info = Models::model(&mid(1)).unwrap();
        assert_eq!((info.royalties_paid, info.royalties_unclaimed), (2_000, 0));
        assert_eq!(check_books(), 0);
    });
}

#[test]
fn a_holder_that_gave_away_all_shares_keeps_its_royalties() {
    run(&[1, 3], || {
        register(1, 1);
        Models::pay_royalty(&acc(3), &mid(1), 700).unwrap();
        Models::transfer_shares(&acc(1), &mid(1), &acc(2), TOTAL_SHARES).unwrap();
        assert_eq!(Models::shares_of(&mid(1), &acc(1)), 0);
        assert_eq!(Models::claimable(&mid(1), &acc(1)), 700);
        assert_eq!(Models::model(&mid(1)).unwrap().holders, 2);
        Models::pay_royalty(&acc(3), &mid(1), 300).unwrap();
        assert_eq!(Models::claimable(&mid(1), &acc(1)), 700);
        assert_eq!(Models::claimable(&mid(1), &acc(2)), 300);
        Models::claim_royalties(&acc(1), &mid(1)).unwrap();
        // The emptied holding is gone.
        assert!(storage::Shares::get(&(mid(1), acc(1))).is_none());
        assert_eq!(Models::model(&mid(1)).unwrap().holders, 1);
        check_books();
    });
}

#[test]
fn pay_royalty_refusals_change_nothing() {
    run(&[1, 3], || {
        register(1, 1);
        refused(Error::ZeroAmount, || {
            Models::pay_royalty(&acc(3), &mid(1), 0)
        });
        refused(Error::UnknownModel, || {
            Models::pay_royalty(&acc(3), &mid(9), 10)
        });
        refused(Error::InsufficientBalance, || {
            Models::pay_royalty(&acc(4), &mid(1), 10)
        });
        refused(Error::InsufficientBalance, || {
            Models::pay_royalty(&acc(3), &mid(1), FUNDS + 1)
        });
        refused(Error::WouldLeaveDust, || {
            Models::pay_royalty(&acc(3), &mid(1), FUNDS - 5)
        });
        // The payer's whole balance is fine.
        Models::pay_royalty(&acc(3), &mid(1), FUNDS).unwrap();
        assert_eq!(Bal::free_balance(&acc(3)), 0);
        check_books();
    });
}

#[test]
fn transfer_shares_refusals_change_nothing() {
    run(&[1], || {
        register(1, 1);
        refused(Error::ZeroAmount, || {
            Models::transfer_shares(&acc(1), &mid(1), &acc(2), 0)
        });
        refused(Error::SelfTransfer, || {
            Models::transfer_shares(&acc(1), &mid(1), &acc(1), 1)
        });
        refused(Error::UnknownModel, || {
            Models::transfer_shares(&acc(1), &mid(9), &acc(2), 1)
        });
        refused(Error::InsufficientShares, || {
            Models::transfer_shares(&acc(1), &mid(1), &acc(2), TOTAL_SHARES + 1)
        });
        refused(Error::InsufficientShares, || {
            Models::transfer_shares(&acc(2), &mid(1), &acc(1), 1)
        });
        check_books();
    });
}

#[test]
fn claims_below_the_existential_deposit_wait_for_a_funded_account() {
    run(&[1, 3], || {
        register(1, 1);
        Models::transfer_shares(&acc(1), &mid(1), &acc(2), TOTAL_SHARES / 2).unwrap();
        Models::pay_royalty(&acc(3), &mid(1), 10).unwrap();
        assert_eq!(Models::claimable(&mid(1), &acc(2)), 5);
        refused(Error::ExistentialDeposit, || {
            Models::claim_royalties(&acc(2), &mid(1))
        });
        Bal::transfer(&acc(3), &acc(2), 10).unwrap();
        assert_eq!(Models::claim_royalties(&acc(2), &mid(1)), Ok(5));
        assert_eq!(Bal::free_balance(&acc(2)), 15);
        check_books();
    });
}

#[test]
fn rounding_dust_stays_in_custody_and_goes_to_the_owner_on_removal() {
    run(&[1, 3], || {
        register(1, 1);
        Models::transfer_shares(&acc(1), &mid(1), &acc(2), 333_333).unwrap();
        Models::transfer_shares(&acc(1), &mid(1), &acc(4), 333_333).unwrap();
        Models::pay_royalty(&acc(3), &mid(1), 10).unwrap();
        for i in [1, 2, 4] {
            assert_eq!(Models::claimable(&mid(1), &acc(i)), 3);
        }
        assert_eq!(check_books(), 1);
        // Others hold shares or claims: no removal yet.
        refused(Error::SharesOutstanding, || {
            Models::remove(&acc(1), &mid(1))
        });
        Models::transfer_shares(&acc(2), &mid(1), &acc(1), 333_333).unwrap();
        Models::transfer_shares(&acc(4), &mid(1), &acc(1), 333_333).unwrap();
        // 2 and 4 have no shares but still have royalties.
        refused(Error::SharesOutstanding, || {
            Models::remove(&acc(1), &mid(1))
        });
        Bal::transfer(&acc(3), &acc(2), 100).unwrap();
        Bal::transfer(&acc(3), &acc(4), 100).unwrap();
        Models::claim_royalties(&acc(2), &mid(1)).unwrap();
        refused(Error::SharesOutstanding, || {
            Models::remove(&acc(1), &mid(1))
        });
        Models::claim_royalties(&acc(4), &mid(1)).unwrap();
        let deposit = Models::model(&mid(1)).unwrap().deposit;
        let free = Bal::free_balance(&acc(1));
        Models::remove(&acc(1), &mid(1)).unwrap();
        // Its 3 and the dust of 1.
        assert_eq!(Bal::free_balance(&acc(1)), free + deposit + 4);
        assert_eq!(
            last_event(),
            Event::Removed {
                id: mid(1),
                owner: acc(1),
                deposit,
                royalties: 4
            }
        );
        assert_eq!(Models::total_held(), 0);
        assert_eq!(check_books(), 0);
    });
}

// ---------------------------------------------------------------------- remove

#[test]
fn remove_refunds_the_deposit_and_frees_the_id() {
    run(&[1], || {
        register(1, 1);
        Models::remove(&acc(1), &mid(1)).unwrap();
        assert_eq!(Bal::free_balance(&acc(1)), FUNDS);
        assert_eq!(Models::model(&mid(1)), None);
        assert_eq!(Models::shares_of(&mid(1), &acc(1)), 0);
        assert_eq!(Models::total_held(), 0);
        assert_eq!(storage::Shares::iter().count(), 0);
        check_books();
        // The id can be registered again.
        register(1, 1);
        check_books();
    });
}

#[test]
fn remove_refusals_change_nothing() {
    run(&[1, 2], || {
        register(1, 1);
        Models::publish_version(&acc(1), &mid(1), &mid(2), &params("bert-mini", (1, 0, 1)))
            .unwrap();
        refused(Error::UnknownModel, || Models::remove(&acc(1), &mid(9)));
        refused(Error::NotOwner, || Models::remove(&acc(2), &mid(2)));
        refused(Error::HasNextVersion, || Models::remove(&acc(1), &mid(1)));
        Models::transfer_shares(&acc(1), &mid(2), &acc(2), 1).unwrap();
        refused(Error::SharesOutstanding, || {
            Models::remove(&acc(1), &mid(2))
        });
        Models::transfer_shares(&acc(2), &mid(2), &acc(1), 1).unwrap();
        check_books();
    });
}

#[test]
fn removing_the_latest_version_makes_its_predecessor_the_latest() {
    run(&[1], || {
        register(1, 1);
        Models::publish_version(&acc(1), &mid(1), &mid(2), &params("bert-mini", (1, 0, 1)))
            .unwrap();
        Models::remove(&acc(1), &mid(2)).unwrap();
        assert_eq!(Models::model(&mid(1)).unwrap().next, None);
        Models::publish_version(&acc(1), &mid(1), &mid(3), &params("bert-mini", (1, 0, 2)))
            .unwrap();
        assert_eq!(Models::model(&mid(1)).unwrap().next, Some(mid(3)));
        // Now the first can go too, after the one that follows it.
        Models::remove(&acc(1), &mid(3)).unwrap();
        Models::remove(&acc(1), &mid(1)).unwrap();
        assert_eq!(Bal::free_balance(&acc(1)), FUNDS);
        check_books();
    });
}

#[test]
fn remove_after_an_ownership_change_refunds_the_depositor() {
    run(&[1, 3], || {
        register(1, 1);
        Models::pay_royalty(&acc(3), &mid(1), 1_000).unwrap();
        Models::transfer_ownership(&acc(1), &mid(1), &acc(2)).unwrap();
        // The new owner has no shares: 1 must hand them over first.
        refused(Error::SharesOutstanding, || {
            Models::remove(&acc(2), &mid(1))
        });
        Models::transfer_shares(&acc(1), &mid(1), &acc(2), TOTAL_SHARES).unwrap();
        Models::claim_royalties(&acc(1), &mid(1)).unwrap();
        Models::pay_royalty(&acc(3), &mid(1), 40).unwrap();
        let deposit = Models::model(&mid(1)).unwrap().deposit;
        Models::remove(&acc(2), &mid(1)).unwrap();
        assert_eq!(Bal::free_balance(&acc(1)), FUNDS + 1_000);
        assert_eq!(Bal::free_balance(&acc(2)), 40);
        assert_eq!(
            last_event(),
            Event::Removed {
                id: mid(1),
                owner: acc(2),
                deposit,
                royalties: 40
            }
        );
        check_books();
    });
}

#[test]
fn remove_is_atomic_when_a_payout_would_be_refused() {
    run(&[1, 3], || {
        register(1, 1);
        Models::transfer_ownership(&acc(1), &mid(1), &acc(2)).unwrap();
        Models::transfer_shares(&acc(1), &mid(1), &acc(2), TOTAL_SHARES).unwrap();
        Models::pay_royalty(&acc(3), &mid(1), 5).unwrap();
        // The deposit could go back to 1, but 5 alone cannot endow the empty account 2.
        refused(Error::ExistentialDeposit, || {
            Models::remove(&acc(2), &mid(1))
        });
        Bal::transfer(&acc(3), &acc(2), 10).unwrap();
        Models::remove(&acc(2), &mid(1)).unwrap();
        assert_eq!(Bal::free_balance(&acc(1)), FUNDS);
        check_books();
    });
}

// ---------------------------------------------------------------------- dispatch, queries

#[test]
fn dispatch_routes_calls_and_maps_errors() {
    run(&[1], || {
        let call = Call::Register {
            id: mid(1),
            params: params("bert-mini", (1, 0, 0)),
        };
        assert_eq!(
            Models::dispatch(Origin::Root, call.clone()),
            Err(bad_origin())
        );
        Models::dispatch(Origin::Signed(acc(1)), call).unwrap();
        let err =
            Models::dispatch(Origin::Signed(acc(2)), Call::Deprecate { id: mid(1) }).unwrap_err();
        assert_eq!((err.pallet, err.error), (5, 2));
        assert_eq!(err.message, "NotOwner");
        Models::dispatch(
            Origin::Signed(acc(1)),
            Call::PublishVersion {
                previous: mid(1),
                id: mid(2),
                params: params("bert-mini", (1, 1, 0)),
            },
        )
        .unwrap();
        Models::dispatch(
            Origin::Signed(acc(1)),
            Call::SetRoyalty {
                id: mid(2),
                royalty: 9u128.into(),
            },
        )
        .unwrap();
        Models::dispatch(
            Origin::Signed(acc(1)),
            Call::TransferShares {
                id: mid(2),
                to: acc(2),
                amount: 10u64.into(),
            },
        )
        .unwrap();
        Models::pay_royalty(&acc(1), &mid(2), 1_000_000).unwrap();
        Models::dispatch(Origin::Signed(acc(1)), Call::ClaimRoyalties { id: mid(2) }).unwrap();
        Models::dispatch(Origin::Signed(acc(1)), Call::Deprecate { id: mid(1) }).unwrap();
        Models::dispatch(
            Origin::Signed(acc(1)),
            Call::TransferOwnership {
                id: mid(1),
                to: acc(2),
            },
        )
        .unwrap();
        let err =
            Models::dispatch(Origin::Signed(acc(2)), Call::Remove { id: mid(1) }).unwrap_err();
        assert_eq!(err.message, "HasNextVersion");
        assert_eq!(Models::royalty_of(&mid(2)), Some(9));
        check_books();
    });
}

#[test]
fn call_encoding_is_stable() {
    let p = params("m", (1, 2, 3));
    let call = Call::Register {
        id: mid(1),
        params: p.clone(),
    };
    let encoded = call.encode();
    assert_eq!(encoded[0], 0);
    assert_eq!(&encoded[1..33], &[1u8; 32]);
    // The fields in order, the royalty last as compact.
    let mut expected = vec![0u8];
    expected.extend_from_slice(&mid(1).encode());
    expected.extend_from_slice(&p.file_root.encode());
    expected.extend_from_slice(&p.size.encode());
    expected.extend_from_slice(&p.name.encode());
    expected.extend_from_slice(&(1u32, 2u32, 3u32).encode());
    expected.push(1);
    expected.extend_from_slice(&p.shape.encode());
    expected.extend_from_slice(&1u16.encode());
    expected.extend_from_slice(&Compact(1_000u128).encode());
    assert_eq!(encoded, expected);
    assert_eq!(Call::decode_all(&mut &encoded[..]).unwrap(), call);
    assert_eq!(Call::ClaimRoyalties { id: mid(1) }.encode()[0], 7);
}

#[test]
fn models_are_listed_in_pages() {
    run(&[1], || {
        for i in 1..=7 {
            register(1, i);
        }
        assert!(Models::models(None, 0).is_empty());
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = Models::models(cursor, 3);
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 3);
            cursor = page.last().map(|v| v.id);
            seen.extend(page.into_iter().map(|v| {
                assert_eq!(v.total_shares, TOTAL_SHARES);
                v.id
            }));
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, (1..=7).map(mid).collect::<Vec<_>>());
        assert_eq!(seen.len(), 7);
        // A page is capped at MAX_LIST, and one full page is everything here.
        let all = Models::models(None, u32::MAX);
        assert_eq!(all.iter().map(|v| v.id).collect::<Vec<_>>(), seen);
        // Paging after an id that is not registered still works (storage order).
        assert!(Models::models(Some(mid(200)), 10).len() <= 7);
    });
}

#[test]
fn list_is_capped_at_max_list() {
    run(&[1], || {
        for i in 1..=(MAX_LIST as u8 + 5) {
            register(1, i);
        }
        assert_eq!(Models::models(None, 1_000).len(), MAX_LIST as usize);
        let first = Models::models(None, MAX_LIST);
        let rest = Models::models(first.last().map(|v| v.id), MAX_LIST);
        assert_eq!(rest.len(), 5);
    });
}

#[test]
fn share_of_is_exact_floor() {
    assert_eq!(share_of(TOTAL_SHARES, u128::MAX), u128::MAX);
    assert_eq!(share_of(0, u128::MAX), 0);
    assert_eq!(share_of(TOTAL_SHARES / 2, 3), 1);
    assert_eq!(share_of(TOTAL_SHARES + 5, 7), 7);
    assert_eq!(
        share_of(TOTAL_SHARES - 1, u128::MAX),
        u128::MAX - u128::MAX.div_ceil(u128::from(TOTAL_SHARES))
    );
}

proptest! {
    #[test]
    fn share_of_matches_wide_arithmetic(shares in 0..=TOTAL_SHARES, delta in any::<u64>()) {
        let exact = u128::from(shares) * u128::from(delta) / u128::from(TOTAL_SHARES);
        prop_assert_eq!(share_of(shares, u128::from(delta)), exact);
    }
}

// ---------------------------------------------------------------------- property test

#[derive(Clone, Debug)]
enum Op {
    Pay {
        payer: u8,
        model: u8,
        amount: Balance,
    },
    Transfer {
        from: u8,
        to: u8,
        model: u8,
        amount: u64,
    },
    /// Gives all of `who`'s shares to the model's owner.
    GiveBack {
        who: u8,
        model: u8,
    },
    Claim {
        who: u8,
        model: u8,
    },
    Remove {
        model: u8,
    },
    Register {
        owner: u8,
        model: u8,
    },
    Deprecate {
        model: u8,
    },
    SetOwner {
        model: u8,
        to: u8,
    },
}

const ACCOUNTS: u8 = 5;
const MODELS: u8 = 3;

fn op() -> impl Strategy<Value = Op> {
    let who = 1..=ACCOUNTS;
    let model = 1..=MODELS;
    prop_oneof![
        4 => (who.clone(), model.clone(), 1u128..5_000_000)
            .prop_map(|(payer, model, amount)| Op::Pay { payer, model, amount }),
        4 => (who.clone(), who.clone(), model.clone(), prop_oneof![1u64..20, 1u64..=TOTAL_SHARES])
            .prop_map(|(from, to, model, amount)| Op::Transfer { from, to, model, amount }),
        1 => (who.clone(), model.clone()).prop_map(|(who, model)| Op::GiveBack { who, model }),
        3 => (who.clone(), model.clone()).prop_map(|(who, model)| Op::Claim { who, model }),
        1 => model.clone().prop_map(|model| Op::Remove { model }),
        1 => (who.clone(), model.clone()).prop_map(|(owner, model)| Op::Register { owner, model }),
        1 => model.clone().prop_map(|model| Op::Deprecate { model }),
        1 => (model, who).prop_map(|(model, to)| Op::SetOwner { model, to }),
    ]
}

#[derive(Default)]
struct Tally {
    paid: Balance,
    claimed: Balance,
    settlements: u128,
}

fn owner_of(model: u8) -> Option<AccountId> {
    Models::model(&mid(model)).map(|m| m.owner)
}

/// Applies `op`, refusals included (which must change nothing).
fn apply(op: &Op, tally: &mut Tally) {
    let before = dump();
    let result: Result<(), Error> = match op {
        Op::Pay {
            payer,
            model,
            amount,
        } => {
            let r = Models::pay_royalty(&acc(*payer), &mid(*model), *amount);
            if r.is_ok() {
                tally.paid += amount;
            }
            r
        }
        Op::Transfer {
            from,
            to,
            model,
            amount,
        } => {
            let r = Models::transfer_shares(&acc(*from), &mid(*model), &acc(*to), *amount);
            if r.is_ok() {
                tally.settlements += 2;
            }
            r
        }
        Op::GiveBack { who, model } => match owner_of(*model) {
            Some(owner) => {
                let shares = Models::shares_of(&mid(*model), &acc(*who));
                let r = Models::transfer_shares(&acc(*who), &mid(*model), &owner, shares);
                if r.is_ok() {
                    tally.settlements += 2;
                }
                r
            }
            None => Ok(()),
        },
        Op::Claim { who, model } => {
            let r = Models::claim_royalties(&acc(*who), &mid(*model));
            if let Ok(amount) = r {
                tally.claimed += amount;
                tally.settlements += 1;
            }
            r.map(|_| ())
        }
        Op::Remove { model } => match Models::model(&mid(*model)) {
            Some(info) => {
                let r = Models::remove(&info.owner, &mid(*model));
                if r.is_ok() {
                    tally.claimed += info.royalties_unclaimed;
                    assert_eq!(Models::model(&mid(*model)), None);
                }
                r
            }
            None => Ok(()),
        },
        Op::Register { owner, model } => {
            Models::register(&acc(*owner), &mid(*model), &params("m", (1, 0, 0)))
        }
        Op::Deprecate { model } => match owner_of(*model) {
            Some(owner) => Models::deprecate(&owner, &mid(*model)),
            None => Ok(()),
        },
        Op::SetOwner { model, to } => match owner_of(*model) {
            Some(owner) => Models::transfer_ownership(&owner, &mid(*model), &acc(*to)),
            None => Ok(()),
        },
    };
    if result.is_err() {
        assert!(
            dump() == before,
            "{op:?} was refused ({result:?}) but changed the state"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Whatever happens: every royalty paid is claimed, still claimable, or dust in
    /// custody; total issuance = free balances + held by this pallet; nothing is created
    /// or lost, and refusals change nothing.
    #[test]
    fn royalties_and_issuance_are_conserved(ops in proptest::collection::vec(op(), 1..80)) {
        run(&(1..=ACCOUNTS).collect::<Vec<_>>(), || {
            for m in 1..=MODELS {
                register(m, m);
            }
            let issuance = Bal::total_issuance();
            let mut tally = Tally::default();
            for op in &ops {
                apply(op, &mut tally);
                let dust = check_books();
                assert_eq!(Bal::total_issuance(), issuance, "issuance moved");
                let claimable: Balance = holdings()
                    .iter()
                    .flat_map(|(id, hs)| hs.iter().map(move |(who, _)| Models::claimable(id, who)))
                    .sum();
                assert_eq!(tally.paid, tally.claimed + claimable + dust, "royalty books");
                assert!(dust <= tally.settlements, "dust {dust} > {} settlements", tally.settlements);
            }
            // Everyone gives back and claims; then every model can be removed and the
            // pallet holds nothing.
            for m in 1..=MODELS {
                for who in 1..=ACCOUNTS {
                    // Fund accounts so that small claims clear the existential deposit.
                    if Bal::free_balance(&acc(who)) < 10 {
                        let rich = (1..=ACCOUNTS).max_by_key(|a| Bal::free_balance(&acc(*a))).unwrap();
                        Bal::transfer(&acc(rich), &acc(who), 10).unwrap();
                    }
                    apply(&Op::GiveBack { who, model: m }, &mut tally);
                    apply(&Op::Claim { who, model: m }, &mut tally);
                }
                if let Some(owner) = owner_of(m) {
                    if Bal::free_balance(&owner) < 10 {
                        let rich = (1..=ACCOUNTS).max_by_key(|a| Bal::free_balance(&acc(*a))).unwrap();
                        Bal::transfer(&acc(rich), &owner, 10).unwrap();
                    }
                }
                // A later version must go first; there are none here.
                apply(&Op::Remove { model: m }, &mut tally);
                assert_eq!(Models::model(&mid(m)), None, "model {m} not removable");
            }
            check_books();
            assert_eq!(Models::total_held(), 0);
            assert_eq!(tally.paid, tally.claimed);
            assert_eq!(Bal::total_issuance(), issuance);
            assert_eq!(sum_of_free(), issuance);
        });
    }
}
