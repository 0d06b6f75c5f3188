#![allow(clippy::unwrap_used)]
use super::*;
use proptest::prelude::*;

fn acct(n: u8) -> AccountId {
    AccountId([n; 32])
}

/// A fake extrinsic (unique per sender, nonce, fee and salt) and its validity.
fn tx(sender: u8, nonce: Nonce, fee: Balance, account_nonce: Nonce) -> (Vec<u8>, ValidTransaction) {
    tx_sized(sender, nonce, fee, account_nonce, 0)
}

fn tx_sized(
    sender: u8,
    nonce: Nonce,
    fee: Balance,
    account_nonce: Nonce,
    pad: usize,
) -> (Vec<u8>, ValidTransaction) {
    let mut ext = vec![sender];
    ext.extend_from_slice(&nonce.to_le_bytes());
    ext.extend_from_slice(&fee.to_le_bytes());
    ext.extend(std::iter::repeat_n(0xee, pad));
    (
        ext,
        ValidTransaction {
            sender: acct(sender),
            nonce,
            account_nonce,
            fee,
        },
    )
}

fn submit(
    pool: &Pool,
    sender: u8,
    nonce: Nonce,
    fee: Balance,
    account_nonce: Nonce,
) -> Result<Submitted, PoolError> {
    let (e, v) = tx(sender, nonce, fee, account_nonce);
    pool.submit(e, v)
}

fn hash_of(sender: u8, nonce: Nonce, fee: Balance) -> H256 {
    blake3_256(&tx(sender, nonce, fee, 0).0)
}

/// (sender, nonce) of each transaction `ready_for_block` returns.
fn block_order(pool: &Pool) -> Vec<(u8, Nonce)> {
    pool.ready_for_block(usize::MAX, usize::MAX)
        .into_iter()
        .map(|(_, e)| (e[0], Nonce::from_le_bytes(e[1..9].try_into().unwrap())))
        .collect()
}

fn small(max_transactions: usize) -> Pool {
    Pool::new(PoolConfig {
        max_transactions,
        max_bytes: 1 << 20,
        max_future_per_sender: 8,
    })
}

#[test]
fn pool_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Pool>();
}

#[test]
fn block_order_follows_fee_across_senders_and_nonce_within_a_sender() {
    let pool = Pool::new(PoolConfig::default());
    // Sender 1: nonces 0..3, low fee first then high fees behind it.
    submit(&pool, 1, 2, 100, 0).unwrap();
    submit(&pool, 1, 0, 5, 0).unwrap();
    submit(&pool, 1, 1, 90, 0).unwrap();
    // Sender 2: two medium fees.
    submit(&pool, 2, 0, 50, 0).unwrap();
    submit(&pool, 2, 1, 40, 0).unwrap();
    // Sender 3: one high fee, nonce 7 on chain.
    submit(&pool, 3, 7, 60, 7).unwrap();
    assert_eq!(pool.len(), 6);
    assert_eq!(pool.ready_len(), 6);
    assert_eq!(
        block_order(&pool),
        vec![(3, 7), (2, 0), (2, 1), (1, 0), (1, 1), (1, 2)]
    );
    // Limits: count and bytes.
    assert_eq!(pool.ready_for_block(2, usize::MAX).len(), 2);
    let one = pool.ready_for_block(usize::MAX, 25);
    assert_eq!(one.len(), 1);
    assert!(pool.ready_for_block(usize::MAX, 0).is_empty());
    // Nothing was removed.
    assert_eq!(pool.len(), 6);
}

#[test]
fn equal_fees_are_ordered_deterministically_by_hash() {
    let pool = Pool::new(PoolConfig::default());
    for s in 0..10u8 {
        submit(&pool, s, 0, 7, 0).unwrap();
    }
    let order: Vec<H256> = pool
        .ready_for_block(usize::MAX, usize::MAX)
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
}

#[test]
fn a_sender_that_does_not_fit_is_skipped_but_others_continue() {
    let pool = Pool::new(PoolConfig::default());
    let (e, v) = tx_sized(1, 0, 100, 0, 200);
    pool.submit(e, v).unwrap();
    submit(&pool, 1, 1, 100, 0).unwrap();
    submit(&pool, 2, 0, 10, 0).unwrap();
    let got = pool.ready_for_block(usize::MAX, 100);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, hash_of(2, 0, 10));
}

#[test]
fn future_transactions_become_ready_when_the_gap_fills() {
    let pool = Pool::new(PoolConfig::default());
    let s = submit(&pool, 1, 2, 10, 0).unwrap();
    assert!(!s.ready);
    assert!(!submit(&pool, 1, 1, 10, 0).unwrap().ready);
    assert_eq!((pool.ready_len(), pool.future_len()), (0, 2));
    assert_eq!(pool.next_nonce(&acct(1)), Some(0));
    assert!(block_order(&pool).is_empty());
    assert!(submit(&pool, 1, 0, 10, 0).unwrap().ready);
    assert_eq!((pool.ready_len(), pool.future_len()), (3, 0));
    assert_eq!(pool.next_nonce(&acct(1)), Some(3));
    assert_eq!(block_order(&pool), vec![(1, 0), (1, 1), (1, 2)]);
    assert_eq!(pool.next_nonce(&acct(9)), None);
}

#[test]
fn refusals() {
    let pool = Pool::new(PoolConfig {
        max_transactions: 100,
        max_bytes: 1000,
        max_future_per_sender: 4,
    });
    submit(&pool, 1, 5, 10, 5).unwrap();
    assert_eq!(
        submit(&pool, 1, 5, 10, 5),
        Err(PoolError::AlreadyKnown(hash_of(1, 5, 10)))
    );
    assert_eq!(
        submit(&pool, 1, 4, 10, 5),
        Err(PoolError::Stale {
            nonce: 4,
            account_nonce: 5
        })
    );
    // The pool remembers the higher account nonce even if a validation reports less.
    assert_eq!(
        submit(&pool, 1, 4, 10, 3),
        Err(PoolError::Stale {
            nonce: 4,
            account_nonce: 5
        })
    );
    submit(&pool, 1, 9, 10, 5).unwrap();
    assert_eq!(
        submit(&pool, 1, 10, 10, 5),
        Err(PoolError::TooFarInFuture {
            nonce: 10,
            account_nonce: 5,
            max_ahead: 4
        })
    );
    let (e, v) = tx_sized(2, 0, 10, 0, 1000);
    assert!(matches!(pool.submit(e, v), Err(PoolError::TooLarge { .. })));
    assert_eq!(pool.len(), 2);
    for e in [
        PoolError::PoolFull { fee: 1 },
        PoolError::Stale {
            nonce: 1,
            account_nonce: 2,
        },
    ] {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn replacement_needs_a_strictly_higher_fee() {
    let pool = Pool::new(PoolConfig::default());
    let first = submit(&pool, 1, 0, 10, 0).unwrap();
    submit(&pool, 1, 1, 10, 0).unwrap();
    assert_eq!(
        submit(&pool, 1, 0, 10, 0).map_err(|e| matches!(e, PoolError::AlreadyKnown(_))),
        Err(true)
    );
    let (mut e, v) = tx(1, 0, 10, 0);
    e.push(1); // Other bytes, same fee.
    assert!(matches!(
        pool.submit(e, v),
        Err(PoolError::ReplacementUnderpriced {
            existing_fee: 10,
            fee: 10,
            ..
        })
    ));
    assert!(matches!(
        submit(&pool, 1, 0, 9, 0),
        Err(PoolError::ReplacementUnderpriced { .. })
    ));
    let better = submit(&pool, 1, 0, 11, 0).unwrap();
    assert_eq!(better.replaced, Some(first.hash));
    assert!(better.ready);
    assert!(!pool.contains(&first.hash));
    assert!(pool.contains(&better.hash));
    assert_eq!(pool.len(), 2);
    assert_eq!(pool.ready_len(), 2);
    assert_eq!(block_order(&pool), vec![(1, 0), (1, 1)]);
    assert_eq!(
        pool.bytes(),
        pool.pending().iter().map(Vec::len).sum::<usize>()
    );
}

#[test]
fn replacement_in_a_full_pool_needs_no_eviction() {
    let pool = small(2);
    let a = submit(&pool, 1, 0, 10, 0).unwrap();
    submit(&pool, 2, 0, 1, 0).unwrap();
    let r = submit(&pool, 1, 0, 20, 0).unwrap();
    assert_eq!(r.replaced, Some(a.hash));
    assert!(r.evicted.is_empty());
    assert_eq!(pool.len(), 2);
}

#[test]
fn a_full_pool_evicts_the_lowest_fees_for_a_better_payer() {
    let pool = small(3);
    submit(&pool, 1, 0, 10, 0).unwrap();
    submit(&pool, 2, 0, 5, 0).unwrap();
    submit(&pool, 3, 0, 20, 0).unwrap();
    assert_eq!(
        submit(&pool, 4, 0, 5, 0),
        Err(PoolError::PoolFull { fee: 5 })
    );
    assert_eq!(
        submit(&pool, 4, 0, 4, 0),
        Err(PoolError::PoolFull { fee: 4 })
    );
    let s = submit(&pool, 4, 0, 6, 0).unwrap();
    assert_eq!(s.evicted, vec![hash_of(2, 0, 5)]);
    assert_eq!(pool.len(), 3);
    assert!(!pool.contains(&hash_of(2, 0, 5)));
    assert_eq!(block_order(&pool), vec![(3, 0), (1, 0), (4, 0)]);
}

#[test]
fn byte_limit_evicts_as_many_as_needed() {
    let pool = Pool::new(PoolConfig {
        max_transactions: 100,
        max_bytes: 300,
        max_future_per_sender: 8,
    });
    for s in 0..3u8 {
        let (e, v) = tx_sized(s, 0, 10 + u128::from(s), 0, 75);
        pool.submit(e, v).unwrap();
    }
    assert_eq!(pool.bytes(), 300);
    // 200 bytes need two evictions (fees 10 and 11): a fee of 11 is not enough.
    let (e, v) = tx_sized(9, 0, 11, 0, 175);
    assert!(matches!(pool.submit(e, v), Err(PoolError::PoolFull { .. })));
    let (e, v) = tx_sized(9, 0, 12, 0, 175);
    let s = pool.submit(e, v).unwrap();
    assert_eq!(s.evicted.len(), 2);
    assert_eq!(pool.len(), 2);
    assert!(pool.bytes() <= 300);
}

#[test]
fn evicting_a_middle_nonce_demotes_the_later_ones() {
    let pool = small(4);
    submit(&pool, 1, 0, 10, 0).unwrap();
    submit(&pool, 1, 1, 1, 0).unwrap();
    submit(&pool, 1, 2, 10, 0).unwrap();
    submit(&pool, 1, 3, 10, 0).unwrap();
    assert_eq!(pool.ready_len(), 4);
    let s = submit(&pool, 2, 0, 5, 0).unwrap();
    assert_eq!(s.evicted, vec![hash_of(1, 1, 1)]);
    assert_eq!(pool.ready_len(), 2);
    assert_eq!(pool.future_len(), 2);
    assert_eq!(pool.next_nonce(&acct(1)), Some(1));
    assert_eq!(block_order(&pool), vec![(1, 0), (2, 0)]);
    // Resubmitting the gap promotes them again.
    let back = submit(&pool, 1, 1, 50, 0).unwrap();
    assert!(back.ready);
    assert_eq!(back.evicted.len(), 1);
    assert_eq!(pool.ready_len(), 4);
    assert_eq!(block_order(&pool), vec![(1, 0), (1, 1), (1, 2), (1, 3)]);
}

#[test]
fn remove_included_advances_and_remove_invalid_demotes() {
    let pool = Pool::new(PoolConfig::default());
    for n in 0..4 {
        submit(&pool, 1, n, 10, 0).unwrap();
    }
    submit(&pool, 2, 0, 10, 0).unwrap();
    submit(&pool, 2, 1, 10, 0).unwrap();
    submit(&pool, 2, 2, 10, 0).unwrap();
    let dropped = pool.remove_included(&[hash_of(1, 0, 10), hash_of(1, 1, 10)]);
    assert!(dropped.is_empty());
    assert_eq!(pool.next_nonce(&acct(1)), Some(4));
    assert_eq!(pool.ready_len(), 5);
    pool.remove_invalid(&[hash_of(2, 1, 10)]);
    assert_eq!(pool.next_nonce(&acct(2)), Some(1));
    assert_eq!((pool.ready_len(), pool.future_len()), (3, 1));
    // Including a later nonce drops the earlier one as stale.
    let dropped = pool.remove_included(&[hash_of(1, 3, 10)]);
    assert_eq!(dropped, vec![hash_of(1, 2, 10)]);
    assert_eq!(pool.next_nonce(&acct(1)), None);
    assert_eq!(pool.len(), 2);
    // Unknown hashes are ignored.
    pool.remove_invalid(&[H256([1; 32])]);
    assert!(pool.remove_included(&[H256([1; 32])]).is_empty());
}

#[test]
fn prune_drops_stale_and_promotes_future() {
    let pool = Pool::new(PoolConfig::default());
    for n in [0, 1, 3, 4] {
        submit(&pool, 1, n, 10, 0).unwrap();
    }
    submit(&pool, 2, 5, 5, 5).unwrap();
    assert_eq!((pool.ready_len(), pool.future_len()), (3, 2));
    assert_eq!(pool.senders(), vec![acct(1), acct(2)]);
    // The block included sender 1's nonces 0..=2 (2 came from elsewhere).
    let mut dropped = pool.prune(|who| if *who == acct(1) { 3 } else { 5 });
    dropped.sort();
    let mut expected = vec![hash_of(1, 0, 10), hash_of(1, 1, 10)];
    expected.sort();
    assert_eq!(dropped, expected);
    assert_eq!((pool.ready_len(), pool.future_len()), (3, 0));
    assert_eq!(pool.next_nonce(&acct(1)), Some(5));
    assert_eq!(block_order(&pool), vec![(1, 3), (1, 4), (2, 5)]);
    // Everything included.
    let dropped = pool.prune(|_| 100);
    assert_eq!(dropped.len(), 3);
    assert!(pool.is_empty());
    assert_eq!(pool.bytes(), 0);
    assert!(pool.senders().is_empty());
}

#[test]
fn a_newer_account_nonce_on_submit_drops_stale_transactions() {
    let pool = Pool::new(PoolConfig::default());
    submit(&pool, 1, 0, 10, 0).unwrap();
    submit(&pool, 1, 1, 10, 0).unwrap();
    let s = submit(&pool, 1, 2, 10, 1).unwrap();
    assert_eq!(s.evicted, vec![hash_of(1, 0, 10)]);
    assert!(s.ready);
    assert_eq!(pool.len(), 2);
    assert_eq!(pool.ready_len(), 2);
}

#[test]
fn pending_and_get() {
    let pool = Pool::new(PoolConfig::default());
    let (e, v) = tx(2, 0, 1, 0);
    pool.submit(e.clone(), v).unwrap();
    submit(&pool, 1, 1, 1, 0).unwrap();
    submit(&pool, 1, 0, 1, 0).unwrap();
    assert_eq!(pool.get(&blake3_256(&e)), Some(e.clone()));
    assert_eq!(pool.get(&H256::zero()), None);
    let p = pool.pending();
    assert_eq!(p, vec![tx(1, 0, 1, 0).0, tx(1, 1, 1, 0).0, e]);
}

// ---- model-based property test ----

#[derive(Clone, Debug)]
enum Op {
    Submit {
        sender: u8,
        ahead: u8,
        fee: u8,
        pad: u8,
    },
    Block {
        count: u8,
    },
    Invalid {
        pick: u8,
    },
    Prune {
        sender: u8,
        advance: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..4u8, 0..6u8, 0..20u8, 0..40u8).prop_map(|(sender, ahead, fee, pad)| Op::Submit { sender, ahead, fee, pad }),
        1 => (0..6u8).prop_map(|count| Op::Block { count }),
        1 => any::<u8>().prop_map(|pick| Op::Invalid { pick }),
        1 => (0..4u8, 0..3u8).prop_map(|(sender, advance)| Op::Prune { sender, advance }),
    ]
}

/// Checks the pool's structure against the chain nonces and limits.
fn check_invariants(pool: &Pool, chain: &[Nonce; 4]) -> Result<(), TestCaseError> {
    let cfg = pool.config().clone();
    prop_assert!(pool.len() <= cfg.max_transactions);
    prop_assert!(pool.bytes() <= cfg.max_bytes);
    prop_assert_eq!(pool.len(), pool.ready_len() + pool.future_len());
    let pending = pool.pending();
    prop_assert_eq!(pending.len(), pool.len());
    prop_assert_eq!(pool.bytes(), pending.iter().map(Vec::len).sum::<usize>());
    // Expected ready set from the pending transactions alone.
    let mut nonces: [Vec<Nonce>; 4] = Default::default();
    for e in &pending {
        let n = Nonce::from_le_bytes(e[1..9].try_into().unwrap());
        prop_assert!(n >= chain[e[0] as usize], "stale transaction kept");
        nonces[e[0] as usize].push(n);
    }
    let mut expected_ready = 0;
    for (s, ns) in nonces.iter().enumerate() {
        let mut next = chain[s];
        while ns.contains(&next) {
            next += 1;
        }
        expected_ready += (next - chain[s]) as usize;
        if !ns.is_empty() {
            prop_assert_eq!(pool.next_nonce(&acct(s as u8)), Some(next));
        }
    }
    prop_assert_eq!(pool.ready_len(), expected_ready);
    let order = block_order(pool);
    prop_assert_eq!(order.len(), expected_ready);
    let mut expect_next = *chain;
    for (s, n) in order {
        prop_assert_eq!(
            n,
            expect_next[s as usize],
            "per-sender order broken or stale"
        );
        expect_next[s as usize] += 1;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn pool_matches_model(ops in prop::collection::vec(op(), 1..80)) {
        let pool = Pool::new(PoolConfig { max_transactions: 10, max_bytes: 400, max_future_per_sender: 4 });
        let mut chain = [0 as Nonce; 4];
        for op in ops {
            match op {
                Op::Submit { sender, ahead, fee, pad } => {
                    let nonce = chain[sender as usize] + u64::from(ahead);
                    let (e, v) = tx_sized(sender, nonce, u128::from(fee), chain[sender as usize], pad as usize);
                    let before = pool.len();
                    match pool.submit(e, v) {
                        Ok(s) => {
                            prop_assert!(pool.contains(&s.hash));
                            prop_assert_eq!(pool.len(), before + 1 - usize::from(s.replaced.is_some()) - s.evicted.len());
                            for h in &s.evicted {
                                prop_assert!(!pool.contains(h));
                            }
                        }
                        Err(PoolError::TooFarInFuture { .. }) => prop_assert!(u64::from(ahead) > 4),
                        Err(PoolError::Stale { .. }) => prop_assert!(false, "never stale here"),
                        Err(_) => prop_assert_eq!(pool.len(), before),
                    }
                }
                Op::Block { count } => {
                    // Build a block: take the first `count`, as included; advance the chain.
                    let picked = pool.ready_for_block(count as usize, usize::MAX);
                    let hashes: Vec<H256> = picked.iter().map(|(h, _)| *h).collect();
                    for (_, e) in &picked {
                        chain[e[0] as usize] += 1;
                    }
                    pool.remove_included(&hashes);
                    let c = chain;
                    pool.prune(|who| c[who.0[0] as usize]);
                }
                Op::Invalid { pick } => {
                    let all = pool.ready_for_block(usize::MAX, usize::MAX);
                    if !all.is_empty() {
                        let h = all[pick as usize % all.len()].0;
                        pool.remove_invalid(&[h]);
                        prop_assert!(!pool.contains(&h));
                    }
                }
                Op::Prune { sender, advance } => {
                    // Transactions included elsewhere (another node's block).
                    chain[sender as usize] += u64::from(advance);
                    let c = chain;
                    pool.prune(|who| c[who.0[0] as usize]);
                }
            }
            check_invariants(&pool, &chain)?;
        }
    }
}
