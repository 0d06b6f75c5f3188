#![allow(clippy::unwrap_used)]
use crate::*;
use menara_crypto::fake::{FakeCrypto, FakeSecretKey};
use menara_crypto::{BlsCrypto, BlsSecretKey};
use menara_primitives::H256;
use parity_scale_codec::{Decode, Encode};

type F = FakeCrypto;
const CHAIN: ChainId = [7u8; 32];

fn fake_key(i: u8) -> FakeSecretKey {
    FakeSecretKey([i; 32])
}

/// A fake-crypto set; returns keys in set order.
fn fake_set(stakes: &[u128]) -> (ValidatorSet<F>, Vec<FakeSecretKey>) {
    let vals: Vec<_> = stakes
        .iter()
        .enumerate()
        .map(|(i, s)| Validator::<F> {
            id: [i as u8 + 1; 32],
            bls: F::public(&fake_key(i as u8 + 1)),
            stake: *s,
        })
        .collect();
    let set = ValidatorSet::new(vals).unwrap();
    let keys = (0..stakes.len()).map(|i| fake_key(i as u8 + 1)).collect();
    (set, keys)
}

fn bls_set(stakes: &[u128]) -> (ValidatorSet<BlsCrypto>, Vec<BlsSecretKey>) {
    let keys: Vec<_> = (0..stakes.len())
        .map(|i| BlsSecretKey::from_seed(&[i as u8 + 1; 32]))
        .collect();
    let vals = keys
        .iter()
        .zip(stakes)
        .enumerate()
        .map(|(i, (k, s))| Validator {
            id: [i as u8 + 1; 32],
            bls: k.public_key(),
            stake: *s,
        })
        .collect();
    (ValidatorSet::new(vals).unwrap(), keys)
}

#[test]
fn quorum_arithmetic_is_strictly_more_than_two_thirds() {
    let (set, _) = fake_set(&[1, 1, 1]);
    assert!(!set.is_quorum(2)); // exactly 2/3 is not enough
    assert!(set.is_quorum(3));
    assert!(!set.is_one_third(1)); // exactly 1/3 is not more than 1/3
    assert!(set.is_one_third(2));
    let (set, _) = fake_set(&[1, 1, 1, 1]);
    assert!(!set.is_quorum(2));
    assert!(set.is_quorum(3));
    assert!(set.is_one_third(2));
    let (set, _) = fake_set(&[100, 200, 300, 400]);
    assert!(!set.is_quorum(666));
    assert!(set.is_quorum(667));
    // Huge stakes stay exact (no overflow, no floats).
    let big = MAX_TOTAL_STAKE / 3;
    let (set, _) = fake_set(&[big, big, big]);
    assert!(!set.is_quorum(2 * big));
    assert!(set.is_quorum(2 * big + 1));
}

#[test]
fn validator_set_refuses_bad_input() {
    assert_eq!(ValidatorSet::<F>::new(vec![]).unwrap_err(), SetError::Empty);
    let v = |id: u8, key: u8, stake| Validator::<F> {
        id: [id; 32],
        bls: F::public(&fake_key(key)),
        stake,
    };
    assert_eq!(
        ValidatorSet::new(vec![v(1, 1, 0)]).unwrap_err(),
        SetError::ZeroStake
    );
    assert_eq!(
        ValidatorSet::new(vec![v(1, 1, 1), v(1, 2, 1)]).unwrap_err(),
        SetError::Duplicate
    );
    assert_eq!(
        ValidatorSet::new(vec![v(1, 1, 1), v(2, 1, 1)]).unwrap_err(),
        SetError::Duplicate
    );
    assert_eq!(
        ValidatorSet::new(vec![v(1, 1, MAX_TOTAL_STAKE), v(2, 2, 1)]).unwrap_err(),
        SetError::StakeOverflow
    );
    // Sorted by id whatever the input order; SCALE round trip re-validates.
    let set = ValidatorSet::new(vec![v(3, 3, 5), v(1, 1, 7)]).unwrap();
    assert_eq!(set.validators()[0].id, [1; 32]);
    assert_eq!(set.index_of(&[3; 32]), Some(1));
    let dec = ValidatorSet::<F>::decode(&mut &set.encode()[..]).unwrap();
    assert_eq!(dec, set);
    let bad = vec![v(1, 1, 0)].encode();
    assert!(ValidatorSet::<F>::decode(&mut &bad[..]).is_err());
}

#[test]
fn proposer_rotation_is_proportional_to_stake() {
    for stakes in [
        vec![1u128, 2, 3, 4],
        vec![10, 10, 10, 10, 10, 10, 10],
        vec![1, 1, 97],
        vec![5, 3, 1, 1, 40, 7],
    ] {
        let (set, _) = fake_set(&stakes);
        let total: u128 = stakes.iter().sum();
        let slots = set.schedule_len() as u64 * 3;
        let mut counts = vec![0u64; stakes.len()];
        for h in 0..slots {
            counts[set.proposer(h, 0) as usize] += 1;
        }
        for (i, s) in set.validators().iter().enumerate() {
            let expected = (s.stake * slots as u128 / total) as i128;
            let got = counts[i] as i128;
            // Weights are rounded to 1/10,000 of the stake: within 3 slots per period.
            assert!(
                (got - expected).abs() <= 3 * 3 + 3,
                "stakes {stakes:?}: {i} got {got} expected {expected}"
            );
        }
        // Rounds move to the next slot, and over any window of the period's length every
        // validator proposes (smooth spreading).
        assert_eq!(set.proposer(10, 1), set.proposer(11, 0));
    }
    // Smoothness: with stakes 1:1:1:1 no validator proposes twice in a row.
    let (set, _) = fake_set(&[5, 5, 5, 5]);
    for h in 0..100 {
        assert_ne!(set.proposer(h, 0), set.proposer(h + 1, 0));
    }
}

fn sign_votes<C: VoteCrypto>(
    keys: &[C::SecretKey],
    who: &[u32],
    h: u64,
    r: u32,
    kind: VoteKind,
    block: Option<H256>,
) -> Vec<SignedVote<C>> {
    who.iter()
        .map(|i| {
            SignedVote::<C>::sign(
                &CHAIN,
                Vote {
                    height: h,
                    round: r,
                    kind,
                    block,
                    validator: *i,
                },
                &keys[*i as usize],
            )
        })
        .collect()
}

#[test]
fn quorum_certificate_checks_with_real_bls() {
    let (set, keys) = bls_set(&[10, 20, 30, 40]);
    let b = H256([9; 32]);
    // 30 + 40 = 70 of 100: quorum.
    let votes = sign_votes::<BlsCrypto>(&keys, &[2, 3], 5, 1, VoteKind::Precommit, Some(b));
    let refs: Vec<_> = votes.iter().collect();
    let qc = QuorumCertificate::from_votes(&set, &refs).unwrap();
    qc.verify(&CHAIN, &set).unwrap();
    assert_eq!(qc.signer_indices(), vec![2, 3]);
    let dec = QuorumCertificate::<BlsCrypto>::decode(&mut &qc.encode()[..]).unwrap();
    assert_eq!(dec, qc);
    // Wrong chain.
    assert_eq!(qc.verify(&[0; 32], &set), Err(CertError::BadAggregate));
    // 20 + 40 = 60 of 100 (< 2/3): refused before any pairing.
    let votes = sign_votes::<BlsCrypto>(&keys, &[1, 3], 5, 1, VoteKind::Precommit, Some(b));
    let refs: Vec<_> = votes.iter().collect();
    let low = QuorumCertificate::from_votes(&set, &refs).unwrap();
    assert!(matches!(
        low.verify(&CHAIN, &set),
        Err(CertError::NoQuorum {
            signed: 60,
            total: 100
        })
    ));
    // A bitmap claiming more signers than signed: aggregate fails.
    let mut lie = qc.clone();
    lie.signers[0] |= 1;
    assert_eq!(lie.verify(&CHAIN, &set), Err(CertError::BadAggregate));
    // Out of range bit, wrong length.
    let mut oob = qc.clone();
    oob.signers[0] |= 0x80;
    assert_eq!(oob.verify(&CHAIN, &set), Err(CertError::SignerOutOfRange));
    let mut long = qc.clone();
    long.signers.push(0);
    assert!(matches!(
        long.verify(&CHAIN, &set),
        Err(CertError::BitmapLength { .. })
    ));
    // One bad vote spoils the aggregate; only then look for it.
    let mut votes = sign_votes::<BlsCrypto>(&keys, &[0, 2, 3], 5, 1, VoteKind::Precommit, Some(b));
    votes[1].signature = keys[2].sign(b"something else");
    let refs: Vec<_> = votes.iter().collect();
    let bad = QuorumCertificate::from_votes(&set, &refs).unwrap();
    assert_eq!(bad.verify(&CHAIN, &set), Err(CertError::BadAggregate));
    assert_eq!(
        QuorumCertificate::find_bad_votes(&CHAIN, &set, &refs),
        vec![2]
    );
    // Garbage bytes decode to an error.
    assert!(QuorumCertificate::<BlsCrypto>::decode(&mut &[1u8, 2, 3][..]).is_err());
    assert!(Message::<BlsCrypto>::decode_bounded(&[2u8; 300], 1 << 20).is_err());
    assert!(matches!(
        Message::<BlsCrypto>::decode_bounded(&[0u8; 100], 10),
        Err(DecodeError::TooLarge(100))
    ));
}

fn cfg(start: u64) -> Config {
    let mut c = Config::new(CHAIN, start);
    c.timeouts = Timeouts {
        propose_ms: 100,
        prevote_ms: 50,
        precommit_ms: 50,
        rebroadcast_ms: 200,
        max_backoff_exp: 4,
    };
    c
}

fn broadcasts<C: VoteCrypto>(acts: &[Action<C>]) -> Vec<Message<C>> {
    acts.iter()
        .filter_map(|a| {
            if let Action::Broadcast(m) = a {
                Some(m.clone())
            } else {
                None
            }
        })
        .collect()
}

/// Every broadcast of a signed proposal or vote comes after a PersistSafety that covers it.
fn assert_persist_before_broadcast<C: VoteCrypto>(acts: &[Action<C>]) {
    let mut last: Option<&SafetyRecord<C>> = None;
    for a in acts {
        match a {
            Action::PersistSafety(r) => last = Some(r),
            Action::Broadcast(Message::Vote(v)) if v.vote.validator != u32::MAX => {
                if let Some(r) = last {
                    assert!((r.height, r.round) >= (v.vote.height, v.vote.round));
                }
            }
            _ => {}
        }
    }
}

#[test]
fn single_validator_commits_its_own_blocks() {
    let (set, keys) = fake_set(&[100]);
    let mut c = Consensus::<F>::new(cfg(1), set, Some(keys[0].clone()), SafetyRecord::new());
    let acts = c.handle(Event::Start);
    assert!(acts.contains(&Action::RequestProposal {
        height: 1,
        round: 0
    }));
    let acts = c.handle(Event::ProposalBlock {
        height: 1,
        round: 0,
        block_hash: H256([1; 32]),
        block: vec![1],
    });
    assert_persist_before_broadcast(&acts);
    let commit = acts.iter().find_map(|a| match a {
        Action::Commit {
            height,
            block_hash,
            block,
            certificate,
        } => Some((*height, *block_hash, block.clone(), certificate.clone())),
        _ => None,
    });
    let (h, hash, block, cert) = commit.unwrap();
    assert_eq!((h, hash, block), (1, H256([1; 32]), Some(vec![1])));
    cert.verify(&CHAIN, c.validator_set()).unwrap();
    assert_eq!(c.height(), 2);
    assert!(acts.contains(&Action::RequestProposal {
        height: 2,
        round: 0
    }));
}

/// Four equal validators; we drive validator `me` by hand.
struct Harness {
    set: ValidatorSet<F>,
    keys: Vec<FakeSecretKey>,
}

impl Harness {
    fn new() -> Self {
        let (set, keys) = fake_set(&[10, 10, 10, 10]);
        Harness { set, keys }
    }
    fn node(&self, me: u32, rec: SafetyRecord<F>) -> Consensus<F> {
        Consensus::new(
            cfg(1),
            self.set.clone(),
            Some(self.keys[me as usize].clone()),
            rec,
        )
    }
    fn proposal(&self, h: u64, r: u32, block: u8) -> Message<F> {
        let proposer = self.set.proposer(h, r);
        let header = ProposalHeader {
            height: h,
            round: r,
            block_hash: H256([block; 32]),
            valid_round: None,
            proposer,
        };
        Message::Proposal(Proposal {
            signed: SignedProposalHeader::sign(&CHAIN, header, &self.keys[proposer as usize]),
            block: vec![block],
            pol: None,
            parent_commit: None,
        })
    }
    fn vote(&self, who: u32, h: u64, r: u32, kind: VoteKind, block: Option<u8>) -> Message<F> {
        Message::Vote(SignedVote::sign(
            &CHAIN,
            Vote {
                height: h,
                round: r,
                kind,
                block: block.map(|b| H256([b; 32])),
                validator: who,
            },
            &self.keys[who as usize],
        ))
    }
}

fn msg(m: Message<F>) -> Event<F> {
    Event::Message {
        from: 1,
        message: m,
    }
}

fn own_votes(acts: &[Action<F>]) -> Vec<Vote> {
    broadcasts(acts)
        .into_iter()
        .filter_map(|m| {
            if let Message::Vote(v) = m {
                Some(v.vote)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn safety_record_prevents_conflicting_votes_after_restart() {
    let hs = Harness::new();
    let proposer = hs.set.proposer(1, 0);
    let me = (proposer + 1) % 4;
    let mut c = hs.node(me, SafetyRecord::new());
    c.handle(Event::Start);
    let mut record = None;
    let mut acts = c.handle(msg(hs.proposal(1, 0, 0xaa)));
    acts.extend(c.handle(Event::BlockValidated {
        height: 1,
        block_hash: H256([0xaa; 32]),
        valid: true,
    }));
    assert_persist_before_broadcast(&acts);
    for a in &acts {
        if let Action::PersistSafety(r) = a {
            record = Some(r.clone());
        }
    }
    let votes = own_votes(&acts);
    assert_eq!(votes.len(), 1);
    assert_eq!(votes[0].block, Some(H256([0xaa; 32])));
    // Two others prevote the block: with ours, a quorum: lock and precommit.
    let mut acts = Vec::new();
    for who in (0..4).filter(|w| *w != me).take(2) {
        acts.extend(c.handle(msg(hs.vote(who, 1, 0, VoteKind::Prevote, Some(0xaa)))));
    }
    assert_persist_before_broadcast(&acts);
    for a in &acts {
        if let Action::PersistSafety(r) = a {
            record = Some(r.clone());
        }
    }
    let rec = record.unwrap();
    assert_eq!(rec.step, SignedStep::Precommit);
    assert_eq!(rec.locked, Some((0, H256([0xaa; 32]))));
    // Crash; restart from the SCALE-encoded record.
    let rec = SafetyRecord::<F>::decode(&mut &rec.encode()[..]).unwrap();
    let mut c2 = hs.node(me, rec);
    let acts = c2.handle(Event::Start);
    // It re-sends exactly the votes of this round it had signed, nothing else.
    let v = own_votes(&acts);
    assert_eq!(v.len(), 2);
    assert_eq!(
        (v[0].kind, v[0].block),
        (VoteKind::Prevote, Some(H256([0xaa; 32])))
    );
    assert_eq!(
        (v[1].kind, v[1].block),
        (VoteKind::Precommit, Some(H256([0xaa; 32])))
    );
    assert_eq!(c2.locked(), Some((0, H256([0xaa; 32]))));
    // A conflicting proposal / timeouts in round 0 make it sign nothing new.
    let mut acts = c2.handle(msg(hs.proposal(1, 0, 0xbb)));
    acts.extend(c2.handle(Event::BlockValidated {
        height: 1,
        block_hash: H256([0xbb; 32]),
        valid: true,
    }));
    acts.extend(c2.handle(Event::Timeout {
        height: 1,
        round: 0,
        step: TimeoutStep::Propose,
    }));
    acts.extend(c2.handle(Event::Timeout {
        height: 1,
        round: 0,
        step: TimeoutStep::Prevote,
    }));
    assert!(own_votes(&acts).is_empty(), "{acts:?}");
    // In round 1 it is still locked on 0xaa: a fresh proposal of another block gets nil.
    let mut acts = c2.handle(Event::Timeout {
        height: 1,
        round: 0,
        step: TimeoutStep::Precommit,
    });
    assert_eq!(c2.round(), 1);
    if hs.set.proposer(1, 1) != me {
        acts.extend(c2.handle(msg(hs.proposal(1, 1, 0xcc))));
        acts.extend(c2.handle(Event::BlockValidated {
            height: 1,
            block_hash: H256([0xcc; 32]),
            valid: true,
        }));
        let v = own_votes(&acts);
        assert_eq!(v.len(), 1);
        assert_eq!((v[0].round, v[0].block), (1, None));
    }
    // A record from the same round forbids re-signing a different vote even in a fresh node.
    let rec = c2.safety_record().clone();
    let mut c3 = hs.node(me, rec.clone());
    c3.handle(Event::Start);
    assert!(!c3
        .safety_record()
        .may_sign(rec.height, rec.round, rec.step, b"different bytes"));
}

#[test]
fn equivocation_becomes_evidence_once() {
    let hs = Harness::new();
    let mut c = hs.node(0, SafetyRecord::new());
    c.handle(Event::Start);
    let mut acts = c.handle(msg(hs.vote(2, 1, 0, VoteKind::Prevote, Some(1))));
    acts.extend(c.handle(msg(hs.vote(2, 1, 0, VoteKind::Prevote, Some(2)))));
    acts.extend(c.handle(msg(hs.vote(2, 1, 0, VoteKind::Prevote, None))));
    acts.extend(c.handle(msg(hs.vote(2, 1, 0, VoteKind::Prevote, Some(1))))); // duplicate
    let ev: Vec<_> = acts
        .iter()
        .filter_map(|a| {
            if let Action::Evidence(e) = a {
                Some(e.clone())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(ev.len(), 1, "reported once per offender and round");
    ev[0].verify(&CHAIN, &hs.set).unwrap();
    assert_eq!((ev[0].offender(), ev[0].height(), ev[0].round()), (2, 1, 0));
    let dec = Equivocation::<F>::decode(&mut &ev[0].encode()[..]).unwrap();
    assert_eq!(dec, ev[0]);
    // Forged evidence does not verify.
    if let Equivocation::Votes { a, mut b } = ev[0].clone() {
        b.vote.validator = 3;
        assert!(Equivocation::Votes {
            a: a.clone(),
            b: b.clone()
        }
        .verify(&CHAIN, &hs.set)
        .is_err());
        assert_eq!(
            Equivocation::Votes { a: a.clone(), b: a }.verify(&CHAIN, &hs.set),
            Err(EvidenceError::NoConflict)
        );
    }
    // Two proposals for one round.
    let proposer = hs.set.proposer(1, 0);
    let me = (proposer + 1) % 4;
    let mut c = hs.node(me, SafetyRecord::new());
    let mut acts = c.handle(msg(hs.proposal(1, 0, 5)));
    acts.extend(c.handle(msg(hs.proposal(1, 0, 6))));
    let ev: Vec<_> = acts
        .iter()
        .filter(|a| matches!(a, Action::Evidence(_)))
        .collect();
    assert_eq!(ev.len(), 1);
    if let Action::Evidence(e) = ev[0] {
        e.verify(&CHAIN, &hs.set).unwrap();
    }
}

#[test]
fn bad_input_is_rejected_not_panicking() {
    let hs = Harness::new();
    let mut c = hs.node(0, SafetyRecord::new());
    c.handle(Event::Start);
    let rejected = |acts: &[Action<F>]| {
        acts.iter()
            .filter_map(|a| {
                if let Action::Rejected { reason, .. } = a {
                    Some(reason.clone())
                } else {
                    None
                }
            })
            .collect::<Vec<_>>()
    };
    // Non-validator.
    let acts = c.handle(msg(Message::Vote(SignedVote::sign(
        &CHAIN,
        Vote {
            height: 1,
            round: 0,
            kind: VoteKind::Prevote,
            block: None,
            validator: 9,
        },
        &fake_key(9),
    ))));
    assert_eq!(rejected(&acts), vec![Reject::UnknownValidator]);
    // Round too far.
    let acts = c.handle(msg(hs.vote(1, 1, 10_000, VoteKind::Prevote, None)));
    assert_eq!(rejected(&acts), vec![Reject::RoundTooFar]);
    // Height absurdly far.
    let acts = c.handle(msg(hs.vote(1, 10_000_000, 0, VoteKind::Prevote, None)));
    assert_eq!(rejected(&acts), vec![Reject::FutureHeight]);
    // A nearer future height with a good signature asks for sync once.
    let acts = c.handle(msg(hs.vote(1, 50, 0, VoteKind::Prevote, None)));
    assert!(acts.contains(&Action::RequestSync { from: 1, to: 50 }));
    // Proposal from a non-proposer.
    let wrong = (hs.set.proposer(1, 0) + 1) % 4;
    let header = ProposalHeader {
        height: 1,
        round: 0,
        block_hash: H256([1; 32]),
        valid_round: None,
        proposer: wrong,
    };
    let p = Message::Proposal(Proposal {
        signed: SignedProposalHeader::sign(&CHAIN, header, &hs.keys[wrong as usize]),
        block: vec![],
        pol: None,
        parent_commit: None,
    });
    assert_eq!(rejected(&c.handle(msg(p))), vec![Reject::NotProposer]);
    // Bad signatures: after our nil prevote, forged prevotes sit unverified until they could
    // make a quorum; then the aggregate check fails, each is checked alone and refused.
    c.handle(Event::Timeout {
        height: 1,
        round: 0,
        step: TimeoutStep::Propose,
    });
    assert_eq!(c.step(), Step::Prevote);
    let mut acts = Vec::new();
    for who in 1..4u32 {
        let mut m = hs.vote(who, 1, 0, VoteKind::Prevote, Some(3));
        if let Message::Vote(v) = &mut m {
            v.signature = menara_crypto::fake::FakeSignature([0; 32]);
        }
        acts.extend(c.handle(msg(m)));
    }
    let r = rejected(&acts);
    assert!(
        r.len() >= 2 && r.iter().all(|x| *x == Reject::BadSignature),
        "{r:?}"
    );
    assert!(!acts.iter().any(|a| matches!(
        a,
        Action::ScheduleTimeout {
            step: TimeoutStep::Prevote,
            ..
        }
    )));
    assert_eq!(c.step(), Step::Prevote);
    // A commit certificate below quorum is refused.
    let votes = sign_votes::<F>(
        &hs.keys,
        &[1, 2],
        1,
        0,
        VoteKind::Precommit,
        Some(H256([4; 32])),
    );
    let refs: Vec<_> = votes.iter().collect();
    let qc = QuorumCertificate::from_votes(&hs.set, &refs).unwrap();
    let acts = c.handle(msg(Message::Certificate(qc)));
    assert!(matches!(
        rejected(&acts)[..],
        [Reject::BadCertificate(CertError::NoQuorum { .. })]
    ));
    assert_eq!(c.height(), 1);
    // A valid one commits.
    let votes = sign_votes::<F>(
        &hs.keys,
        &[1, 2, 3],
        1,
        0,
        VoteKind::Precommit,
        Some(H256([4; 32])),
    );
    let refs: Vec<_> = votes.iter().collect();
    let qc = QuorumCertificate::from_votes(&hs.set, &refs).unwrap();
    let acts = c.handle(msg(Message::Certificate(qc)));
    assert!(acts.iter().any(|a| matches!(
        a,
        Action::Commit {
            height: 1,
            block: None,
            ..
        }
    )));
    assert_eq!(c.height(), 2);
}
