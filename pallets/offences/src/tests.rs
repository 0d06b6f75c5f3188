#![allow(clippy::unwrap_used)]
//! Every check with real BLS signatures made by the consensus crate's own signing code.
use super::*;
use menara_consensus::{
    vote_signing_bytes, BlsCrypto, ProposalHeader, SignedProposalHeader, SignedVote, Vote,
    VoteKind as ConsensusVoteKind,
};
use menara_crypto::BlsSecretKey;
use menara_primitives::{BlockContext, ValidatorRecord};
use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};

struct Test;
impl pallet_system::Config for Test {
    const PALLET_INDEX: u8 = 0;
    const MAX_EVENTS_PER_BLOCK: u32 = 100;
    const SPEC_NAME: &'static str = "menara";
    const SPEC_VERSION: u32 = 1;
    const MAX_CODE_SIZE: u32 = 1 << 20;
}
impl pallet_session::Config for Test {
    const PALLET_INDEX: u8 = 2;
}
impl Config for Test {
    const PALLET_INDEX: u8 = 3;
}
type Offences = Pallet<Test>;
type System = pallet_system::Pallet<Test>;

const GENESIS: [u8; 32] = [42; 32];
const OTHER_CHAIN: [u8; 32] = [7; 32];

fn sk(i: u8) -> BlsSecretKey {
    BlsSecretKey::from_seed(&[i; 32])
}

fn key(i: u8) -> [u8; 48] {
    sk(i).public_key().to_bytes()
}

fn acc(i: u8) -> AccountId {
    AccountId([i; 32])
}

/// A chain at block 5 whose validators are 1..=4.
fn with_chain<R>(f: impl FnOnce() -> R) -> R {
    let state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        let validators = (1..=4u8)
            .map(|i| {
                (
                    ValidatorRecord {
                        account: acc(i),
                        bls_public_key: key(i),
                        stake: 100,
                    },
                    sk(i).prove_possession().0.to_bytes(),
                )
            })
            .collect();
        pallet_session::Pallet::<Test>::build_genesis(&pallet_session::GenesisConfig {
            validators,
        })
        .unwrap();
        let genesis = H256(GENESIS);
        for number in 1..=5u64 {
            System::initialize(&BlockContext {
                number,
                parent_hash: if number == 1 {
                    genesis
                } else {
                    H256([number as u8; 32])
                },
                timestamp: number * 1000,
                author: acc(1),
                genesis_hash: genesis,
                beacon: Default::default(),
            })
            .unwrap();
        }
        f()
    })
}

fn block(i: u8) -> Option<H256> {
    Some(H256([i; 32]))
}

fn vote(
    signer: u8,
    chain: [u8; 32],
    height: u64,
    round: u32,
    kind: ConsensusVoteKind,
    block: Option<H256>,
) -> SignedConsensusMessage {
    let v = Vote {
        height,
        round,
        kind,
        block,
        validator: 0,
    };
    let signed = SignedVote::<BlsCrypto>::sign(&chain, v, &sk(signer));
    let signing_bytes = v.signing_bytes(&chain);
    assert_eq!(
        signing_bytes,
        vote_signing_bytes(&chain, height, round, kind, &block)
    );
    SignedConsensusMessage {
        signing_bytes,
        signature: signed.signature.to_bytes(),
    }
}

fn prevote(signer: u8, height: u64, round: u32, b: Option<H256>) -> SignedConsensusMessage {
    vote(
        signer,
        GENESIS,
        height,
        round,
        ConsensusVoteKind::Prevote,
        b,
    )
}

fn precommit(signer: u8, height: u64, round: u32, b: Option<H256>) -> SignedConsensusMessage {
    vote(
        signer,
        GENESIS,
        height,
        round,
        ConsensusVoteKind::Precommit,
        b,
    )
}

fn proposal_on(
    signer: u8,
    chain: [u8; 32],
    height: u64,
    round: u32,
    block_hash: H256,
    valid_round: Option<u32>,
) -> SignedConsensusMessage {
    let header = ProposalHeader {
        height,
        round,
        block_hash,
        valid_round,
        proposer: 0,
    };
    let signed = SignedProposalHeader::<BlsCrypto>::sign(&chain, header, &sk(signer));
    SignedConsensusMessage {
        signing_bytes: header.signing_bytes(&chain),
        signature: signed.signature.to_bytes(),
    }
}

fn proposal(
    signer: u8,
    height: u64,
    round: u32,
    block_hash: H256,
    valid_round: Option<u32>,
) -> SignedConsensusMessage {
    proposal_on(signer, GENESIS, height, round, block_hash, valid_round)
}

fn proof(
    offender: u8,
    first: SignedConsensusMessage,
    second: SignedConsensusMessage,
) -> EquivocationProof {
    EquivocationProof {
        offender: key(offender),
        first,
        second,
    }
}

fn report(p: &EquivocationProof) -> Result<(), Error> {
    Offences::report_equivocation(acc(9), p)
}

fn offence_events() -> Vec<Event> {
    System::events()
        .into_iter()
        .filter(|r| r.pallet == <Test as Config>::PALLET_INDEX)
        .map(|r| Event::decode_all(&mut &r.event[..]).unwrap())
        .collect()
}

#[test]
fn conflicting_votes_are_recorded_once_with_an_event() {
    with_chain(|| {
        let p = proof(2, prevote(2, 10, 1, block(1)), prevote(2, 10, 1, block(2)));
        assert_eq!(report(&p), Ok(()));
        let slot = OffenceSlot {
            offender: acc(2),
            height: 10,
            round: 1,
            step: Step::Prevote,
        };
        let record = OffenceRecord {
            offender: acc(2),
            reporter: acc(9),
            reported_in: 5,
        };
        assert_eq!(Offences::offence(&slot), Some(record.clone()));
        assert_eq!(Offences::offences(), vec![(slot, record)]);
        assert_eq!(
            offence_events(),
            vec![Event::EquivocationReported {
                offender: acc(2),
                height: 10,
                round: 1,
                reporter: acc(9),
            }]
        );
        // Precommits for a block and for nil conflict too; another step is another slot.
        let p = proof(2, precommit(2, 10, 1, block(1)), precommit(2, 10, 1, None));
        assert_eq!(report(&p), Ok(()));
        assert_eq!(Offences::offences().len(), 2);
        assert_eq!(Offences::offences()[1].0.step, Step::Precommit);
    });
}

#[test]
fn conflicting_proposals_are_recorded() {
    with_chain(|| {
        let p = proof(
            3,
            proposal(3, 7, 0, H256([1; 32]), None),
            proposal(3, 7, 0, H256([2; 32]), None),
        );
        assert_eq!(report(&p), Ok(()));
        // The same block with another proof-of-lock round is a different proposal.
        let p = proof(
            3,
            proposal(3, 7, 2, H256([1; 32]), None),
            proposal(3, 7, 2, H256([1; 32]), Some(1)),
        );
        assert_eq!(report(&p), Ok(()));
        let all = Offences::offences();
        assert_eq!(all.len(), 2);
        assert!(all
            .iter()
            .all(|(s, r)| s.step == Step::Propose && s.offender == acc(3) && r.offender == acc(3)));
        assert_eq!((all[0].0.round, all[1].0.round), (0, 2));
    });
}

#[test]
fn the_runtime_agrees_with_the_consensus_crate_on_evidence() {
    use menara_consensus::{Equivocation, Validator, ValidatorSet};
    with_chain(|| {
        let set = ValidatorSet::<BlsCrypto>::new(vec![Validator {
            id: [2; 32],
            bls: sk(2).public_key(),
            stake: 1,
        }])
        .unwrap();
        let v = |b| Vote {
            height: 3,
            round: 0,
            kind: ConsensusVoteKind::Precommit,
            block: b,
            validator: 0,
        };
        let a = SignedVote::<BlsCrypto>::sign(&GENESIS, v(block(1)), &sk(2));
        let b = SignedVote::<BlsCrypto>::sign(&GENESIS, v(block(2)), &sk(2));
        let evidence = Equivocation::Votes {
            a: a.clone(),
            b: b.clone(),
        };
        assert_eq!(evidence.verify(&GENESIS, &set), Ok(()));
        let to_msg = |s: &SignedVote<BlsCrypto>| SignedConsensusMessage {
            signing_bytes: s.vote.signing_bytes(&GENESIS),
            signature: s.signature.to_bytes(),
        };
        assert_eq!(report(&proof(2, to_msg(&a), to_msg(&b))), Ok(()));
    });
}

#[test]
fn unknown_offender_is_refused() {
    with_chain(|| {
        let p = proof(5, prevote(5, 10, 1, block(1)), prevote(5, 10, 1, block(2)));
        assert_eq!(report(&p), Err(Error::UnknownOffender));
        let mut p = proof(2, prevote(2, 10, 1, block(1)), prevote(2, 10, 1, block(2)));
        p.offender = [0xff; 48];
        assert_eq!(report(&p), Err(Error::UnknownOffender));
        assert!(Offences::offences().is_empty());
    });
}

#[test]
fn malformed_messages_are_refused() {
    with_chain(|| {
        let good = prevote(2, 10, 1, block(1));
        let other = prevote(2, 10, 1, block(2));
        let mut cases: Vec<Vec<u8>> = Vec::new();
        // Trailing byte.
        let mut t = good.signing_bytes.clone();
        t.push(0);
        cases.push(t);
        // Truncated.
        cases.push(good.signing_bytes[..good.signing_bytes.len() - 1].to_vec());
        // Unknown domain tag.
        let mut t = good.signing_bytes.clone();
        t[11] = b'9';
        cases.push(t);
        // A vote kind that is neither prevote nor precommit (the kind byte follows the
        // 12-byte tag, 32-byte chain, 8-byte height and 4-byte round).
        for kind in [0u8, 3] {
            let mut t = good.signing_bytes.clone();
            t[56] = kind;
            cases.push(t);
        }
        // An option tag that is neither None nor Some.
        let mut t = good.signing_bytes.clone();
        t[57] = 2;
        cases.push(t);
        // Nothing, and a bare tag.
        cases.push(Vec::new());
        cases.push(VOTE_DOMAIN.to_vec());
        for bytes in cases {
            let bad = SignedConsensusMessage {
                signing_bytes: bytes.clone(),
                signature: good.signature,
            };
            assert_eq!(
                report(&proof(2, bad.clone(), other.clone())),
                Err(Error::MalformedMessage),
                "{bytes:?}"
            );
            assert_eq!(
                report(&proof(2, other.clone(), bad)),
                Err(Error::MalformedMessage),
                "{bytes:?}"
            );
        }
        // Proposal with a trailing byte.
        let mut p = proposal(2, 10, 1, H256([1; 32]), None);
        p.signing_bytes.push(1);
        assert_eq!(
            report(&proof(2, p, proposal(2, 10, 1, H256([2; 32]), None))),
            Err(Error::MalformedMessage)
        );
        assert!(Offences::offences().is_empty());
    });
}

#[test]
fn messages_of_another_chain_are_refused() {
    with_chain(|| {
        let on = |chain, b| vote(2, chain, 10, 1, ConsensusVoteKind::Prevote, b);
        for (a, b) in [
            (on(OTHER_CHAIN, block(1)), on(OTHER_CHAIN, block(2))),
            (on(GENESIS, block(1)), on(OTHER_CHAIN, block(2))),
            (on(OTHER_CHAIN, block(1)), on(GENESIS, block(2))),
        ] {
            assert_eq!(report(&proof(2, a, b)), Err(Error::DifferentChain));
        }
        let p = proof(
            2,
            proposal_on(2, OTHER_CHAIN, 10, 1, H256([1; 32]), None),
            proposal_on(2, OTHER_CHAIN, 10, 1, H256([2; 32]), None),
        );
        assert_eq!(report(&p), Err(Error::DifferentChain));
        assert!(Offences::offences().is_empty());
    });
}

#[test]
fn messages_that_do_not_conflict_are_refused() {
    with_chain(|| {
        let a = prevote(2, 10, 1, block(1));
        let cases = [
            // The same vote twice.
            (a.clone(), a.clone()),
            // Another height, another round, another step.
            (a.clone(), prevote(2, 11, 1, block(2))),
            (a.clone(), prevote(2, 10, 2, block(2))),
            (a.clone(), precommit(2, 10, 1, block(2))),
            // A vote and a proposal of one height and round.
            (a.clone(), proposal(2, 10, 1, H256([2; 32]), None)),
            (proposal(2, 10, 1, H256([2; 32]), None), a.clone()),
            // The same proposal twice; proposals of different rounds.
            (
                proposal(2, 10, 1, H256([2; 32]), None),
                proposal(2, 10, 1, H256([2; 32]), None),
            ),
            (
                proposal(2, 10, 1, H256([2; 32]), None),
                proposal(2, 10, 0, H256([3; 32]), None),
            ),
        ];
        for (x, y) in cases {
            assert_eq!(report(&proof(2, x, y)), Err(Error::NotConflicting));
        }
        assert!(Offences::offences().is_empty());
    });
}

#[test]
fn bad_signatures_are_refused() {
    with_chain(|| {
        let a = prevote(2, 10, 1, block(1));
        let b = prevote(2, 10, 1, block(2));
        // Signed by another validator (in the set), blamed on 2.
        let by_3 = prevote(3, 10, 1, block(2));
        assert_eq!(
            report(&proof(2, a.clone(), by_3.clone())),
            Err(Error::BadSignature)
        );
        assert_eq!(report(&proof(3, a.clone(), by_3)), Err(Error::BadSignature));
        // Signatures swapped between the two messages.
        let mut x = a.clone();
        let mut y = b.clone();
        core::mem::swap(&mut x.signature, &mut y.signature);
        assert_eq!(report(&proof(2, x, y)), Err(Error::BadSignature));
        // Not a curve point at all.
        let mut x = a.clone();
        x.signature = [0; 96];
        assert_eq!(report(&proof(2, x, b.clone())), Err(Error::BadSignature));
        let mut y = b.clone();
        y.signature = [0xff; 96];
        assert_eq!(report(&proof(2, a.clone(), y)), Err(Error::BadSignature));
        // A signature over the same bytes under the proof-of-possession tag instead.
        let mut x = a.clone();
        x.signature = sk(2).prove_possession().0.to_bytes();
        assert_eq!(report(&proof(2, x, b)), Err(Error::BadSignature));
        assert!(Offences::offences().is_empty());
    });
}

#[test]
fn a_second_report_of_one_slot_is_a_duplicate() {
    with_chain(|| {
        assert_eq!(
            report(&proof(
                2,
                prevote(2, 10, 1, block(1)),
                prevote(2, 10, 1, block(2))
            )),
            Ok(())
        );
        // Another pair for the same slot, and the same pair reversed.
        for p in [
            proof(2, prevote(2, 10, 1, block(1)), prevote(2, 10, 1, None)),
            proof(2, prevote(2, 10, 1, block(2)), prevote(2, 10, 1, block(1))),
        ] {
            assert_eq!(
                Offences::report_equivocation(acc(8), &p),
                Err(Error::DuplicateReport)
            );
        }
        assert_eq!(Offences::offences().len(), 1);
        assert_eq!(Offences::offences()[0].1.reporter, acc(9));
        assert_eq!(offence_events().len(), 1);
        // Another validator at the same slot is another offence.
        assert_eq!(
            report(&proof(
                3,
                prevote(3, 10, 1, block(1)),
                prevote(3, 10, 1, block(2))
            )),
            Ok(())
        );
        assert_eq!(Offences::offences().len(), 2);
    });
}

#[test]
fn dispatch_needs_a_signed_origin_and_reports_errors_of_this_pallet() {
    with_chain(|| {
        let p = proof(2, prevote(2, 10, 1, block(1)), prevote(2, 10, 1, block(2)));
        let err = Offences::dispatch(Origin::Root, Call::ReportEquivocation { proof: p.clone() })
            .unwrap_err();
        assert_eq!(err.message, "BadOrigin");
        Offences::dispatch(
            Origin::Signed(acc(9)),
            Call::ReportEquivocation { proof: p.clone() },
        )
        .unwrap();
        let err = Offences::dispatch(
            Origin::Signed(acc(9)),
            Call::ReportEquivocation { proof: p },
        )
        .unwrap_err();
        assert_eq!(
            (err.pallet, err.error, err.message.as_str()),
            (3, 5, "DuplicateReport")
        );
    });
}

#[test]
fn every_error_has_its_index_and_name() {
    for (i, (e, name)) in [
        (Error::UnknownOffender, "UnknownOffender"),
        (Error::MalformedMessage, "MalformedMessage"),
        (Error::DifferentChain, "DifferentChain"),
        (Error::NotConflicting, "NotConflicting"),
        (Error::BadSignature, "BadSignature"),
        (Error::DuplicateReport, "DuplicateReport"),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(e.index() as usize, i);
        assert_eq!(e.name(), name);
        assert_eq!(e.encode(), vec![i as u8]);
    }
}

#[test]
fn constants_match_the_consensus_crate() {
    assert_eq!(VOTE_DOMAIN, menara_consensus::VOTE_DOMAIN);
    assert_eq!(PROPOSAL_DOMAIN, menara_consensus::PROPOSAL_DOMAIN);
    assert_eq!(
        pallet_session::MAX_TOTAL_STAKE,
        menara_consensus::MAX_TOTAL_STAKE
    );
    assert_eq!(
        VoteKind::Prevote.encode(),
        ConsensusVoteKind::Prevote.encode()
    );
    assert_eq!(
        VoteKind::Precommit.encode(),
        ConsensusVoteKind::Precommit.encode()
    );
}
