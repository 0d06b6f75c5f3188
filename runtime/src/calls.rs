//! Every call of the runtime by name, and what the agents' authority check needs to know
//! about a call: its kind and its recipient.
use crate::RuntimeCall;
use menara_primitives::AccountId;
use menara_support::codec::Encode;
use pallet_agents::CallKind;

const fn kind(pallet: u8, call: u8) -> CallKind {
    CallKind { pallet, call }
}

/// Every call of every pallet, as `pallet.call` (the names grants and the CLI use). A test
/// checks the list against the call enums, both ways.
pub const CALLS: &[(&str, CallKind)] = &[
    ("system.remark", kind(0, 0)),
    ("system.set_code", kind(0, 1)),
    ("balances.transfer", kind(1, 0)),
    ("balances.transfer_all", kind(1, 1)),
    ("offences.report_equivocation", kind(3, 0)),
    ("staking.validate", kind(4, 0)),
    ("staking.bond_more", kind(4, 1)),
    ("staking.delegate", kind(4, 2)),
    ("staking.undelegate", kind(4, 3)),
    ("staking.withdraw_unbonded", kind(4, 4)),
    ("staking.claim_rewards", kind(4, 5)),
    ("staking.chill", kind(4, 6)),
    ("staking.unchill", kind(4, 7)),
    ("staking.unjail", kind(4, 8)),
    ("staking.cancel_deferred_slash", kind(4, 9)),
    ("models.register", kind(5, 0)),
    ("models.publish_version", kind(5, 1)),
    ("models.deprecate", kind(5, 2)),
    ("models.set_royalty", kind(5, 3)),
    ("models.transfer_ownership", kind(5, 4)),
    ("models.remove", kind(5, 5)),
    ("models.transfer_shares", kind(5, 6)),
    ("models.claim_royalties", kind(5, 7)),
    ("compute.register", kind(7, 0)),
    ("compute.add_collateral", kind(7, 1)),
    ("compute.leave", kind(7, 2)),
    ("compute.withdraw_collateral", kind(7, 3)),
    ("compute.order", kind(7, 4)),
    ("compute.cancel_order", kind(7, 5)),
    ("compute.bid", kind(7, 6)),
    ("compute.accept", kind(7, 7)),
    ("compute.top_up", kind(7, 8)),
    ("compute.close", kind(7, 9)),
    ("compute.settle", kind(7, 10)),
    ("compute.withdraw", kind(7, 11)),
    ("compute.answer", kind(7, 12)),
    ("compute.reveal", kind(7, 13)),
    ("inference.set_price", kind(8, 0)),
    ("inference.submit", kind(8, 1)),
    ("inference.commit", kind(8, 2)),
    ("inference.attest", kind(8, 3)),
    ("inference.challenge", kind(8, 4)),
    ("inference.register_verifier", kind(8, 5)),
    ("inference.leave_verifiers", kind(8, 6)),
    ("inference.withdraw_bond", kind(8, 7)),
    ("inference.withdraw", kind(8, 8)),
    ("inference.set_sampling", kind(8, 9)),
    ("agents.register", kind(9, 0)),
    ("agents.grant", kind(9, 1)),
    ("agents.revoke", kind(9, 2)),
    ("agents.act", kind(9, 3)),
    ("agents.confirm", kind(9, 4)),
    ("agents.delegate", kind(9, 5)),
    ("agents.undelegate", kind(9, 6)),
    ("agents.claim", kind(9, 7)),
    ("agents.withdraw", kind(9, 8)),
    ("agents.report_equivocation", kind(9, 9)),
    ("agents.report_wrong_output", kind(9, 10)),
    ("agents.place_order", kind(9, 11)),
    ("agents.accept_order", kind(9, 12)),
    ("agents.deliver", kind(9, 13)),
    ("agents.cancel_order", kind(9, 14)),
    ("agents.report_missed_deadline", kind(9, 15)),
    ("agents.retire", kind(9, 16)),
    ("governance.propose", kind(10, 0)),
    ("governance.vote", kind(10, 1)),
    ("governance.emergency_cancel", kind(10, 2)),
    ("governance.set_parameter", kind(10, 3)),
    ("contracts.upload_code", kind(11, 0)),
    ("contracts.instantiate", kind(11, 1)),
    ("contracts.call", kind(11, 2)),
    ("contracts.migrate", kind(11, 3)),
    ("contracts.set_admin", kind(11, 4)),
    ("contracts.remove_code", kind(11, 5)),
];

/// The kind of `name` (`pallet.call`; `-` may stand for `_`).
pub fn kind_by_name(name: &str) -> Option<CallKind> {
    let name = name.trim();
    CALLS
        .iter()
        .find(|(n, _)| {
            n.len() == name.len()
                && n.bytes()
                    .zip(name.bytes())
                    .all(|(a, b)| a == b || (a == b'_' && b == b'-'))
        })
        .map(|(_, k)| *k)
}

/// The name of a call kind, if it exists.
pub fn name_of(kind: CallKind) -> Option<&'static str> {
    CALLS.iter().find(|(_, k)| *k == kind).map(|(n, _)| *n)
}

/// A call's kind: the first two bytes of its encoding.
pub fn kind_of(call: &RuntimeCall) -> CallKind {
    call.using_encoded(|bytes| CallKind {
        pallet: bytes.first().copied().unwrap_or(0),
        call: bytes.get(1).copied().unwrap_or(0),
    })
}

/// The account a call pays or hands something to, when it names one. A grant that lists
/// recipients allows only calls that name an allowed one (or spend nothing).
pub fn recipient_of(call: &RuntimeCall) -> Option<AccountId> {
    use RuntimeCall as C;
    match call {
        C::Balances(pallet_balances::Call::Transfer { dest, .. })
        | C::Balances(pallet_balances::Call::TransferAll { dest }) => Some(*dest),
        C::Staking(pallet_staking::Call::Delegate { validator, .. }) => Some(*validator),
        C::Models(pallet_models::Call::TransferOwnership { to, .. })
        | C::Models(pallet_models::Call::TransferShares { to, .. }) => Some(*to),
        C::Inference(pallet_inference::Call::Submit { provider, .. }) => *provider,
        C::Contracts(pallet_contracts::Call::Call { contract, .. }) => Some(*contract),
        C::Agents(pallet_agents::Call::Delegate { agent, .. })
        | C::Agents(pallet_agents::Call::PlaceOrder { agent, .. }) => Some(*agent),
        _ => None,
    }
}
