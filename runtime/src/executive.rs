//! Block execution: initialise, apply each transaction, finalise.
//!
//! A transaction goes through: size and decoding → signature over (genesis hash, nonce,
//! tip, call) → nonce → fee. Failing any of these means it is not included and nothing
//! changes. Once included, the fee is burned and the nonce used; the call then runs in a
//! storage transaction that is rolled back if it fails.
use crate::{
    calls, fees, Agents, Balances, Compute, Contracts, Governance, Inference, Models, Offences,
    Randomness, RuntimeCall, Session, Staking, System, Transaction,
};
use alloc::vec::Vec;
use menara_primitives::AccountId;
use menara_primitives::{
    ApplyExtrinsicResult, Balance, BlockContext, InvalidTransaction, Phase, TransactionValidity,
    ValidTransaction, H256,
};
use menara_support::codec::DecodeAll;
use menara_support::{io, storage_item, DispatchResult, Origin, PalletError, StorageValue};

storage_item!(ExtrinsicIndexPrefix: "Executive" / "ExtrinsicIndex");
/// Index of the next transaction in the current block.
type ExtrinsicIndex = StorageValue<ExtrinsicIndexPrefix, u32>;

/// A validator is judged unresponsive only when its stake share gave it at least this many
/// proposer slots in the epoch (and it authored none of them).
pub const MIN_EXPECTED_BLOCKS: u32 = 4;

/// A fee parameter's default ([`fees`]).
fn default_fee(parameter: pallet_governance::Parameter) -> Balance {
    use pallet_governance::Parameter as P;
    match parameter {
        P::BaseFee => fees::BASE_FEE,
        P::ByteFee => fees::BYTE_FEE,
        P::WorkFee => fees::WORK_FEE,
    }
}

/// A fee parameter: governance's value, or the runtime's default.
pub fn fee_parameter(parameter: pallet_governance::Parameter) -> Balance {
    Governance::parameter(parameter).unwrap_or_else(|| default_fee(parameter))
}

/// The values governance may give each parameter: from nothing to a hundred times the
/// default (a fee so high that no transaction could pay it would leave governance itself
/// unable to lower it).
pub fn parameter_range(parameter: pallet_governance::Parameter) -> (u128, u128) {
    (0, default_fee(parameter).saturating_mul(100))
}

/// The fee a transaction of `len` encoded bytes with `tip` pays.
pub fn fee_for(len: usize, tip: Balance) -> Balance {
    use pallet_governance::Parameter as P;
    fee_parameter(P::BaseFee)
        .saturating_add(fee_parameter(P::ByteFee).saturating_mul(len as Balance))
        .saturating_add(tip)
}

/// What a governance proposal's encoded call does: it must decode as a runtime call, and
/// new runtime code must pass `set_code`'s checks now (so a bad upgrade is refused before
/// the vote; it is checked again when enacted).
pub fn inspect_proposal(
    encoded: &[u8],
) -> Result<pallet_governance::ProposalKind, menara_primitives::DispatchError> {
    let call = RuntimeCall::decode_all(&mut &encoded[..]).map_err(|_| {
        pallet_governance::Error::UndecodableCall
            .into_dispatch_error(<crate::Runtime as pallet_governance::Config>::PALLET_INDEX)
    })?;
    if let RuntimeCall::System(pallet_system::Call::SetCode { code }) = &call {
        let version = System::check_code(code).map_err(|e| {
            e.into_dispatch_error(<crate::Runtime as pallet_system::Config>::PALLET_INDEX)
        })?;
        return Ok(pallet_governance::ProposalKind::Upgrade {
            spec_version: version.spec_version,
            code_hash: H256(io::hashing::blake3_256(code)),
        });
    }
    let kind = calls::kind_of(&call);
    Ok(pallet_governance::ProposalKind::Call {
        pallet: kind.pallet,
        call: kind.call,
    })
}

/// The call an agent's act carries, decoded (`None` when it is not an act or does not decode).
fn acted_call(call: &RuntimeCall) -> Option<RuntimeCall> {
    match call {
        RuntimeCall::Agents(pallet_agents::Call::Act { call, .. }) => {
            RuntimeCall::decode_all(&mut &call[..]).ok()
        }
        _ => None,
    }
}

/// Dispute work a call makes the runtime do (see [`fees::WORK_FEE`]); zero for most. An
/// agent's act does the work of the call it carries.
pub fn call_work(call: &RuntimeCall) -> u64 {
    call_work_with(call, acted_call(call).as_ref())
}

/// [`call_work`] with the acted call already decoded.
fn call_work_with(call: &RuntimeCall, acted: Option<&RuntimeCall>) -> u64 {
    let own = |c: &RuntimeCall| match c {
        RuntimeCall::Inference(call) => Inference::call_work(call),
        _ => 0,
    };
    own(call).saturating_add(acted.map_or(0, own))
}

/// Contract fuel a call may use (its fuel limit); zero for calls of other pallets. An
/// agent's act may use the fuel of the call it carries.
pub fn call_fuel(call: &RuntimeCall) -> u64 {
    call_fuel_with(call, acted_call(call).as_ref())
}

/// [`call_fuel`] with the acted call already decoded.
fn call_fuel_with(call: &RuntimeCall, acted: Option<&RuntimeCall>) -> u64 {
    let own = |c: &RuntimeCall| match c {
        RuntimeCall::Contracts(call) => call.fuel_limit(),
        _ => 0,
    };
    own(call).saturating_add(acted.map_or(0, own))
}

/// What `fuel` costs at [`fees::FUEL_FEE`].
pub fn fuel_fee(fuel: u64) -> Balance {
    fees::FUEL_FEE.saturating_mul(Balance::from(fuel))
}

/// Whether a call belongs to the large transaction class (up to
/// [`fees::MAX_LARGE_EXTRINSIC_SIZE`]): inference challenges, which carry a layer's
/// tensors, made directly or by an agent, and governance proposals (a runtime upgrade
/// carries the code).
pub fn is_large_call(call: &RuntimeCall) -> bool {
    is_large_call_with(call, acted_call(call).as_ref())
}

/// [`is_large_call`] with the acted call already decoded.
fn is_large_call_with(call: &RuntimeCall, acted: Option<&RuntimeCall>) -> bool {
    let is_challenge = |c: &RuntimeCall| {
        matches!(
            c,
            RuntimeCall::Inference(pallet_inference::Call::Challenge { .. })
        )
    };
    let is_proposal = matches!(
        call,
        RuntimeCall::Governance(pallet_governance::Call::Propose { .. })
    );
    is_proposal || is_challenge(call) || acted.is_some_and(is_challenge)
}

/// Who pays a transaction's fee: the owner an agent acts for, when the agent's grant
/// allows the call it carries (`acted`) and can cover the fee (it then counts against the
/// grant's budget); otherwise the signer.
fn fee_payer(
    signer: &AccountId,
    call: &RuntimeCall,
    acted: Option<&RuntimeCall>,
    fee: Balance,
) -> AccountId {
    if let (RuntimeCall::Agents(pallet_agents::Call::Act { owner, .. }), Some(inner)) =
        (call, acted)
    {
        let recipient = calls::recipient_of(inner);
        if Agents::fee_covered(
            signer,
            owner,
            calls::kind_of(inner),
            recipient.as_ref(),
            fee,
        ) {
            return *owner;
        }
    }
    *signer
}

/// The fee of a transaction of `len` bytes, `tip`, doing `work` units of dispute work.
pub fn fee_with_work(len: usize, tip: Balance, work: u64) -> Balance {
    if work == 0 {
        // Most transactions: no need to read the work fee.
        return fee_for(len, tip);
    }
    fee_for(len, tip).saturating_add(
        fee_parameter(pallet_governance::Parameter::WorkFee).saturating_mul(work as Balance),
    )
}

/// Starts a block.
pub fn initialize_block(ctx: &BlockContext) -> DispatchResult {
    System::initialize(ctx)?;
    // The first block of a new runtime version runs its storage migrations, once.
    if let Some(from) = System::note_runtime_upgrade() {
        crate::migrations::run(from);
    }
    // The author's beacon signature must be valid, or the block is.
    Randomness::on_initialize(ctx)?;
    Compute::on_initialize();
    // Sampling of the jobs committed in the block before, from this block's beacon.
    Inference::on_initialize(ctx.number);
    Contracts::on_initialize();
    ExtrinsicIndex::kill();
    Ok(())
}

/// Ends a block.
pub fn finalize_block() {
    System::set_phase(Phase::Finalization);
    let number = System::block_number();
    if let Some(author) = pallet_system::storage::Author::get() {
        Session::note_author(&author);
    }
    let epoch_length = <crate::Runtime as pallet_staking::Config>::EPOCH_LENGTH;
    if epoch_length > 0 && number.is_multiple_of(epoch_length) {
        // Liveness: an active validator that proposed none of the blocks its stake share
        // gave it this epoch is reported for downtime (jailed, small deferred slash),
        // before the election below leaves it out.
        let epoch = Staking::epoch().index;
        let blocks = u32::try_from(epoch_length).unwrap_or(u32::MAX);
        for who in Session::unresponsive(blocks, MIN_EXPECTED_BLOCKS) {
            if let Err(e) =
                Staking::report_offence(&who, pallet_staking::OffenceKind::Downtime, epoch, None)
            {
                io::logging::log(
                    io::logging::Level::Warn,
                    "staking",
                    &alloc::format!("downtime of {who} not reported: {e:?}"),
                );
            }
        }
        Session::reset_authored();
    }
    // Votes closing now; passed referenda due now run with Root origin (before the epoch
    // end below, so a cancelled slash is not applied first).
    for (referendum, encoded) in Governance::on_finalize(number) {
        let result = match RuntimeCall::decode_all(&mut &encoded[..]) {
            Ok(call) => io::storage::with_transaction(|| dispatch(Origin::Root, call)),
            // Checked when proposed; a runtime upgrade since may have changed the calls.
            Err(_) => Err(pallet_governance::Error::UndecodableCall
                .into_dispatch_error(<crate::Runtime as pallet_governance::Config>::PALLET_INDEX)),
        };
        Governance::note_enacted(referendum, result);
    }
    // Jobs not committed in time, challenge windows closing now.
    Inference::on_finalize(number);
    // Contracts whose jobs just ended are called back.
    Contracts::on_finalize();
    // Leases ending now, orders due, challenge deadlines, new challenges.
    Compute::on_finalize(number);
    // Epoch ends: rewards, due slashes, the next validator set.
    Staking::on_finalize(number);
    ExtrinsicIndex::kill();
}

struct Checked {
    tx: Transaction,
    /// The call an agent's act carries, decoded once for every use below.
    acted: Option<RuntimeCall>,
    fee: Balance,
    payer: AccountId,
    work: u64,
    fuel: u64,
    account_nonce: u64,
}

fn check(bytes: &[u8], genesis_hash: &H256) -> Result<Checked, InvalidTransaction> {
    if bytes.len() > fees::MAX_LARGE_EXTRINSIC_SIZE {
        return Err(InvalidTransaction::ExhaustsResources);
    }
    let tx = Transaction::decode_all(&mut &bytes[..]).map_err(|_| InvalidTransaction::Malformed)?;
    let acted = acted_call(&tx.call);
    if bytes.len() > fees::MAX_EXTRINSIC_SIZE && !is_large_call_with(&tx.call, acted.as_ref()) {
        return Err(InvalidTransaction::ExhaustsResources);
    }
    let work = call_work_with(&tx.call, acted.as_ref());
    if work > <crate::Runtime as pallet_inference::Config>::MAX_DISPUTE_WORK_PER_BLOCK {
        // Would never fit a block.
        return Err(InvalidTransaction::ExhaustsResources);
    }
    let fuel = call_fuel_with(&tx.call, acted.as_ref());
    if fuel > <crate::Runtime as pallet_contracts::Config>::MAX_FUEL_PER_CALL {
        return Err(InvalidTransaction::ExhaustsResources);
    }
    let payload = tx.payload(genesis_hash);
    if !io::crypto::ed25519_verify(&tx.signature.0, &payload, &tx.signer.0) {
        return Err(InvalidTransaction::BadSignature);
    }
    let account_nonce = System::account_nonce(&tx.signer);
    if tx.nonce < account_nonce {
        return Err(InvalidTransaction::Stale);
    }
    let fee = fee_with_work(bytes.len(), tx.tip, work).saturating_add(fuel_fee(fuel));
    let payer = fee_payer(&tx.signer, &tx.call, acted.as_ref(), fee);
    if !Balances::can_pay_fee(&payer, fee) {
        return Err(InvalidTransaction::CannotPayFees);
    }
    Ok(Checked {
        tx,
        acted,
        fee,
        payer,
        work,
        fuel,
        account_nonce,
    })
}

/// Applies one transaction in the current block.
pub fn apply_extrinsic(bytes: &[u8]) -> ApplyExtrinsicResult {
    let genesis_hash = System::genesis_hash().ok_or(InvalidTransaction::BadSignature)?;
    let Checked {
        tx,
        acted,
        fee,
        payer,
        work,
        fuel,
        account_nonce,
    } = check(bytes, &genesis_hash)?;
    if tx.nonce > account_nonce {
        return Err(InvalidTransaction::Future);
    }
    // The block's dispute work is bounded: a dispute that does not fit waits for the next.
    // Checked before anything is written: a refused transaction leaves no trace.
    if work > 0 && !Inference::work_fits(work) {
        return Err(InvalidTransaction::BlockFull);
    }
    // Likewise the block's contract fuel, so contracts cannot slow block production.
    if fuel > 0 && !Contracts::fuel_fits(fuel) {
        return Err(InvalidTransaction::BlockFull);
    }
    let index = ExtrinsicIndex::get_or_default();
    System::set_phase(Phase::ApplyExtrinsic(index));
    Balances::burn_fee(&payer, fee).map_err(|_| InvalidTransaction::CannotPayFees)?;
    let owner_fee = if payer == tx.signer {
        0
    } else {
        // An owner paid for its agent's act: the fee counts against the grant.
        Agents::charge_fee(&tx.signer, &payer, fee);
        fee
    };
    if work > 0 {
        // Cannot fail now: it fitted above and nothing ran since.
        Inference::reserve_work(work);
    }
    if fuel > 0 {
        Contracts::reserve_fuel(fuel);
    }
    System::inc_account_nonce(&tx.signer);
    let origin = Origin::Signed(tx.signer);
    // Fuel a contract call used (a call through an agent's act is charged its whole limit).
    let mut fuel_used = fuel;
    let outcome = io::storage::with_transaction(|| match tx.call {
        RuntimeCall::Agents(pallet_agents::Call::Act { owner, job, .. }) => {
            act_decoded(&tx.signer, &owner, acted, job, owner_fee)
        }
        RuntimeCall::Contracts(call) => {
            let (result, used) = Contracts::dispatch_metered(origin, call);
            fuel_used = used.min(fuel);
            result
        }
        call => dispatch(origin, call),
    });
    // The fuel not used goes back to whoever paid for it.
    let refund = fuel_fee(fuel - fuel_used);
    let fee = if refund > 0 && Balances::mint(&payer, refund).is_ok() {
        fee - refund
    } else {
        fee
    };
    // Burned fees are paid back to stakers as part of the epoch's rewards.
    Staking::note_fees(fee);
    match &outcome {
        Ok(()) => System::deposit_system_event(pallet_system::Event::ExtrinsicSuccess { fee }),
        Err(error) => System::deposit_system_event(pallet_system::Event::ExtrinsicFailed {
            fee,
            error: error.clone(),
        }),
    }
    ExtrinsicIndex::put(&index.saturating_add(1));
    Ok(outcome)
}

/// An agent's act: the one place every call an agent makes on an owner's behalf goes
/// through. The grant is checked before the call (agent, grant, expiry, freeze, call kind,
/// recipient; never a call of the agents pallet, so no nesting and no granting), the call
/// runs as the owner, and what it took out of the owner's free balance is then checked
/// against the per-call cap and the budget's window and logged; any refusal undoes the call.
pub fn act(
    agent: &AccountId,
    owner: &AccountId,
    encoded: &[u8],
    job: Option<pallet_inference::JobId>,
    owner_fee: Balance,
) -> DispatchResult {
    act_decoded(
        agent,
        owner,
        RuntimeCall::decode_all(&mut &encoded[..]).ok(),
        job,
        owner_fee,
    )
}

/// [`act`] with the carried call already decoded (`None`: it did not decode).
fn act_decoded(
    agent: &AccountId,
    owner: &AccountId,
    call: Option<RuntimeCall>,
    job: Option<pallet_inference::JobId>,
    owner_fee: Balance,
) -> DispatchResult {
    let refuse = |e: pallet_agents::Error| {
        e.into_dispatch_error(<crate::Runtime as pallet_agents::Config>::PALLET_INDEX)
    };
    let call = call.ok_or_else(|| refuse(pallet_agents::Error::MalformedCall))?;
    let kind = calls::kind_of(&call);
    let recipient = calls::recipient_of(&call);
    let grant = Agents::authorize(agent, owner, kind, recipient.as_ref()).map_err(refuse)?;
    let before = Balances::free_balance(owner);
    dispatch(Origin::Signed(*owner), call)?;
    let spent = before.saturating_sub(Balances::free_balance(owner));
    Agents::record_spend(agent, owner, &grant, kind, recipient, spent, owner_fee, job)
        .map_err(refuse)?;
    Ok(())
}

/// Routes a call to its pallet.
pub fn dispatch(origin: Origin, call: RuntimeCall) -> DispatchResult {
    match call {
        RuntimeCall::System(call) => System::dispatch(origin, call),
        RuntimeCall::Balances(call) => Balances::dispatch(origin, call),
        RuntimeCall::Session(call) => Session::dispatch(origin, call),
        RuntimeCall::Offences(call) => {
            // A proven equivocation is handed to staking to slash (deferred, cancellable).
            let slot = match &call {
                pallet_offences::Call::ReportEquivocation { proof } => Offences::check(proof).ok(),
            };
            Offences::dispatch(origin, call)?;
            if let (Some(slot), Origin::Signed(reporter)) = (slot, origin) {
                let epoch = Staking::epoch_of_block(slot.height);
                if let Err(e) = Staking::report_offence(
                    &slot.offender,
                    pallet_staking::OffenceKind::Equivocation,
                    epoch,
                    Some(reporter),
                ) {
                    // Recorded by the offences pallet either way; staking may refuse (e.g.
                    // the offender had no bonded stake in that epoch).
                    io::logging::log(
                        io::logging::Level::Warn,
                        "staking",
                        &alloc::format!("equivocation not slashable: {e:?}"),
                    );
                }
            }
            Ok(())
        }
        RuntimeCall::Staking(call) => Staking::dispatch(origin, call),
        RuntimeCall::Models(call) => Models::dispatch(origin, call),
        RuntimeCall::Randomness(call) => Randomness::dispatch(origin, call),
        RuntimeCall::Compute(call) => Compute::dispatch(origin, call),
        RuntimeCall::Inference(call) => Inference::dispatch(origin, call),
        RuntimeCall::Agents(pallet_agents::Call::Act { owner, call, job }) => match origin {
            // Only from a signed transaction's own dispatch (never nested in an act: the
            // authority check refuses every agents call first).
            Origin::Signed(agent) => act(&agent, &owner, &call, job, 0),
            Origin::Root => Err(menara_support::dispatch::bad_origin()),
        },
        RuntimeCall::Agents(call) => Agents::dispatch(origin, call),
        RuntimeCall::Governance(call) => Governance::dispatch(origin, call),
        RuntimeCall::Contracts(call) => Contracts::dispatch(origin, call),
    }
}

/// Checks a transaction for the pool against the current state, changing nothing.
///
/// `genesis_hash` is used only until the chain has recorded its own (at block 1).
pub fn validate_transaction(genesis_hash: &H256, bytes: &[u8]) -> TransactionValidity {
    let genesis = System::genesis_hash().unwrap_or(*genesis_hash);
    let Checked {
        tx,
        fee,
        account_nonce,
        ..
    } = check(bytes, &genesis)?;
    Ok(ValidTransaction {
        sender: tx.signer,
        nonce: tx.nonce,
        account_nonce,
        fee,
    })
}

/// The fee an encoded transaction would pay, if it decodes.
pub fn query_fee(bytes: &[u8]) -> Option<Balance> {
    let tx = Transaction::decode_all(&mut &bytes[..]).ok()?;
    Some(
        fee_with_work(bytes.len(), tx.tip, call_work(&tx.call))
            .saturating_add(fuel_fee(call_fuel(&tx.call))),
    )
}

/// Encoded events of the current block.
pub fn events() -> Vec<menara_primitives::EventRecord> {
    System::events()
}
