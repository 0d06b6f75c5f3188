//! The agents' authority check at the runtime's one choke point: every call of every
//! pallet, made through an agent, passes only when the grant allows it.
#![allow(clippy::unwrap_used)]
use crate::{calls, executive, Agents, Balances, RuntimeCall};
use alloc::collections::BTreeSet;
use alloc::vec;
use alloc::vec::Vec;
use menara_primitives::{AccountId, Balance, MEN};
use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};
use menara_support::codec::{Decode, Encode};
use menara_support::{io, DispatchError, Origin};
use pallet_agents::CallKind;

const OWNER: AccountId = AccountId([1; 32]);
const AGENT: AccountId = AccountId([2; 32]);
const FRIEND: AccountId = AccountId([3; 32]);
const STRANGER: AccountId = AccountId([4; 32]);
const AGENTS_INDEX: u8 = 9;

fn run<R>(f: impl FnOnce() -> R) -> R {
    let state = InMemoryState::default();
    let mut overlay = OverlayedChanges::new();
    io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
        Balances::build_genesis(&pallet_balances::GenesisConfig {
            balances: vec![
                (OWNER, 1_000 * MEN),
                (AGENT, 10 * MEN),
                (FRIEND, 10 * MEN),
                (STRANGER, 10 * MEN),
            ],
        })
        .unwrap();
        Agents::register(
            &OWNER,
            &AGENT,
            b"bot".to_vec(),
            None,
            Vec::new(),
            10 * MEN,
            100,
        )
        .unwrap();
        f()
    })
}

fn grant(budget: Balance, recipients: Vec<AccountId>, calls: Vec<CallKind>) {
    Agents::grant(&OWNER, &AGENT, budget, 100, budget, recipients, calls, None).unwrap();
}

fn act(call: &RuntimeCall) -> Result<(), DispatchError> {
    // As `apply_extrinsic` runs it: in a storage transaction rolled back on error.
    io::storage::with_transaction(|| executive::act(&AGENT, &OWNER, &call.encode(), None, 0))
}

fn authority_error(e: &DispatchError) -> Option<&str> {
    (e.pallet == AGENTS_INDEX).then_some(e.message.as_str())
}

fn transfer(dest: AccountId, men: Balance) -> RuntimeCall {
    RuntimeCall::Balances(pallet_balances::Call::Transfer {
        dest,
        value: (men * MEN).into(),
    })
}

/// One call of every kind that exists: a pallet index and a call index followed by a run
/// of one repeated byte (zeros: empty vectors, zero numbers, `None`s; ones: enums whose
/// first variant is 1) decodes when the kind exists, and never when it does not.
fn every_call() -> Vec<RuntimeCall> {
    let mut out = Vec::new();
    for pallet in 0..=u8::MAX {
        for call in 0..=u8::MAX {
            let decoded = [0u8, 1, 2, 4, 8].iter().find_map(|fill| {
                let mut bytes = vec![pallet, call];
                bytes.extend_from_slice(&[*fill; 8192]);
                RuntimeCall::decode(&mut &bytes[..]).ok()
            });
            out.extend(decoded);
        }
    }
    // An inference challenge nests an activation (an enum from 1) inside weights (vectors of
    // vectors): no single repeated byte decodes it, so it is built from its parts.
    let mut challenge = vec![8u8, 4];
    challenge.extend_from_slice(&[0; 8 + 1 + 4]); // job, no commitment, layer
    challenge.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0]); // no rows, 0 columns, no tokens
    challenge.extend_from_slice(&[0; 4096]); // empty weights
    out.push(RuntimeCall::decode(&mut &challenge[..]).unwrap());
    out
}

#[test]
fn the_call_table_names_every_call_and_nothing_else() {
    let decodable: BTreeSet<CallKind> = every_call().iter().map(calls::kind_of).collect();
    let named: BTreeSet<CallKind> = calls::CALLS.iter().map(|(_, k)| *k).collect();
    assert_eq!(decodable, named);
    assert_eq!(named.len(), calls::CALLS.len(), "a kind is named twice");
    let names: BTreeSet<&str> = calls::CALLS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names.len(), calls::CALLS.len(), "a name is used twice");
    assert_eq!(
        calls::kind_by_name("balances.transfer"),
        Some(CallKind { pallet: 1, call: 0 })
    );
    assert_eq!(
        calls::kind_by_name("inference.register-verifier"),
        calls::kind_by_name("inference.register_verifier")
    );
    assert_eq!(calls::kind_by_name("balances.mint"), None);
    assert_eq!(
        calls::name_of(CallKind { pallet: 8, call: 1 }),
        Some("inference.submit")
    );
}

#[test]
fn every_call_of_every_pallet_through_an_agent_passes_only_when_allowed() {
    run(|| {
        let allowed = [
            calls::kind_by_name("balances.transfer").unwrap(),
            calls::kind_by_name("system.remark").unwrap(),
            calls::kind_by_name("inference.submit").unwrap(),
        ];
        grant(100 * MEN, Vec::new(), allowed.to_vec());
        let all = every_call();
        assert!(all.len() >= 60, "{}", all.len());
        let mut passed = 0;
        for call in &all {
            let kind = calls::kind_of(call);
            let name = calls::name_of(kind).unwrap();
            let free_before = Balances::free_balance(&OWNER);
            let result = act(call);
            let refusal = result.as_ref().err().and_then(authority_error);
            if kind.pallet == AGENTS_INDEX {
                assert_eq!(refusal, Some("Nested"), "{name}");
            } else if allowed.contains(&kind) {
                // It reached its pallet: whatever it says now is the pallet's own answer.
                assert_eq!(refusal, None, "{name}: {result:?}");
            } else {
                assert_eq!(refusal, Some("CallNotAllowed"), "{name}");
            }
            match result {
                Ok(()) => passed += 1,
                Err(_) => assert_eq!(Balances::free_balance(&OWNER), free_before, "{name}"),
            }
        }
        // Only the empty remark went through (a zero transfer and a job for no model are
        // refused by their pallets); every act that went through is in the log.
        assert_eq!(passed, 1);
        assert_eq!(Agents::spends(&AGENT, None, 100).len(), passed);

        // With no call list, every call but the agents pallet's and those that hand over
        // what the budget cannot measure passes the check.
        grant(100 * MEN, Vec::new(), Vec::new());
        for call in &all {
            let kind = calls::kind_of(call);
            let name = calls::name_of(kind);
            let result = act(call);
            let refusal = result.as_ref().err().and_then(authority_error);
            let explicit_only =
                <crate::Runtime as pallet_agents::Config>::EXPLICIT_ONLY.contains(&kind);
            if kind.pallet == AGENTS_INDEX {
                assert_eq!(refusal, Some("Nested"), "{name:?}");
            } else if explicit_only {
                // Handing over a model's ownership or shares must be granted by name.
                assert_eq!(refusal, Some("CallNotAllowed"), "{name:?}");
            } else {
                // Past the kind check; what it spent is still checked (`transfer_all`
                // would empty the owner: over the cap).
                assert!(
                    matches!(refusal, None | Some("OverPerCallCap") | Some("OverBudget")),
                    "{name:?}: {result:?}"
                );
            }
        }
    })
}

#[test]
fn an_agent_spends_within_its_grant_and_is_refused_past_it() {
    run(|| {
        grant(
            5 * MEN,
            vec![FRIEND],
            vec![calls::kind_by_name("balances.transfer").unwrap()],
        );
        act(&transfer(FRIEND, 2)).unwrap();
        act(&transfer(FRIEND, 2)).unwrap();
        assert_eq!(Balances::free_balance(&FRIEND), 14 * MEN);
        let e = act(&transfer(FRIEND, 2)).unwrap_err();
        assert_eq!(authority_error(&e), Some("OverBudget"));
        let e = act(&transfer(STRANGER, 1)).unwrap_err();
        assert_eq!(authority_error(&e), Some("RecipientNotAllowed"));
        // Paying itself is just another recipient.
        let e = act(&transfer(AGENT, 1)).unwrap_err();
        assert_eq!(authority_error(&e), Some("RecipientNotAllowed"));
        assert_eq!(Balances::free_balance(&FRIEND), 14 * MEN);
        assert_eq!(Balances::free_balance(&OWNER), 986 * MEN);
        let log = Agents::spends(&AGENT, None, 10);
        assert_eq!(log.len(), 2);
        assert_eq!(
            (log[0].index, log[0].amount, log[0].recipient),
            (1, 2 * MEN, Some(FRIEND))
        );

        // An act inside an act, a malformed call, and an act without a grant.
        let inner = RuntimeCall::Agents(pallet_agents::Call::Act {
            owner: OWNER,
            call: transfer(FRIEND, 1).encode(),
            job: None,
        });
        assert_eq!(authority_error(&act(&inner).unwrap_err()), Some("Nested"));
        let e =
            io::storage::with_transaction(|| executive::act(&AGENT, &OWNER, &[1, 0, 7], None, 0))
                .unwrap_err();
        assert_eq!(authority_error(&e), Some("MalformedCall"));
        let e = io::storage::with_transaction(|| {
            executive::act(&AGENT, &FRIEND, &transfer(OWNER, 1).encode(), None, 0)
        })
        .unwrap_err();
        assert_eq!(authority_error(&e), Some("NoGrant"));

        // Revoked: refused in the same block.
        Agents::revoke(&OWNER, &AGENT).unwrap();
        assert_eq!(
            authority_error(&act(&transfer(FRIEND, 1)).unwrap_err()),
            Some("NoGrant")
        );
        assert_eq!(Balances::free_balance(&OWNER), 986 * MEN);
    })
}

#[test]
fn a_call_that_moves_money_without_a_checkable_recipient_is_refused_under_a_recipient_list() {
    run(|| {
        // Delegating to a validator names it; a grant listing only FRIEND refuses it before
        // it runs. `transfer_all` to FRIEND spends more than the cap: undone.
        grant(5 * MEN, vec![FRIEND], Vec::new());
        let delegate = RuntimeCall::Staking(pallet_staking::Call::Delegate {
            validator: STRANGER,
            amount: MEN.into(),
        });
        assert_eq!(
            authority_error(&act(&delegate).unwrap_err()),
            Some("RecipientNotAllowed")
        );
        let all = RuntimeCall::Balances(pallet_balances::Call::TransferAll { dest: FRIEND });
        assert_eq!(
            authority_error(&act(&all).unwrap_err()),
            Some("OverPerCallCap")
        );
        assert_eq!(Balances::free_balance(&OWNER), 990 * MEN);
        assert_eq!(Balances::free_balance(&FRIEND), 10 * MEN);
        // A call that spends nothing needs no recipient.
        let remark = RuntimeCall::System(pallet_system::Call::Remark {
            remark: b"hi".to_vec(),
        });
        act(&remark).unwrap();
    })
}

#[test]
fn acts_dispatched_any_other_way_are_refused() {
    run(|| {
        grant(5 * MEN, Vec::new(), Vec::new());
        let call = RuntimeCall::Agents(pallet_agents::Call::Act {
            owner: OWNER,
            call: transfer(FRIEND, 1).encode(),
            job: None,
        });
        assert!(executive::dispatch(Origin::Root, call.clone()).is_err());
        // The pallet itself never runs an act: only the runtime's check does.
        let e = Agents::dispatch(
            Origin::Signed(AGENT),
            pallet_agents::Call::Act {
                owner: OWNER,
                call: Vec::new(),
                job: None,
            },
        )
        .unwrap_err();
        assert_eq!(authority_error(&e), Some("NotDispatchable"));
    })
}
