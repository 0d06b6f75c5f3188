//! The JSON-RPC methods: each parses its parameters, calls [`NodeApi`] and shapes the answer.
use crate::api::{NodeApi, TransactionStatus};
use crate::error::{api_error, internal, invalid_params, RpcError, METHOD_NOT_FOUND};
use crate::params::Args;
use crate::types::{
    AccountJson, AgentJson, AgentOrderJson, BlockJson, Bytes, ChallengeJson, ComputeSummaryJson,
    GrantJson, InferenceSummaryJson, JobJson, LeaseJson, MethodsJson, OrderJson, PriceJson,
    ProofEntryJson, ProviderJson, ReadProofJson, SignedBlock, SpendJson, VerifierJson,
};
use jsonrpsee::server::{PendingSubscriptionSink, RpcModule, SubscriptionSink};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned};
use menara_primitives::Header;
use menara_runtime::api as agents_api;
use parity_scale_codec::Encode;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::broadcast::{error::RecvError, Receiver};

/// Methods that reveal or change node internals; refused unless unsafe methods are allowed.
///
/// `author_pendingExtrinsics` is here (Substrate lists it as safe): on a public node it
/// hands out the whole pool in one response, which is both a cheap amplification and a
/// front-running feed. `--rpc-methods auto` (the default) keeps it on loopback.
///
/// `models_importFile` reads a path on the node's machine and `models_fetch` makes the node
/// download files from peers: both only for the node's operator.
pub const UNSAFE_METHODS: &[&str] = &[
    "author_pendingExtrinsics",
    "models_importFile",
    "models_fetch",
];

/// Most models one `models_list` call returns.
pub const MAX_MODELS_PER_PAGE: u32 = 100;

/// Most items one `compute_providers`, `compute_orders` or `compute_leases` call returns
/// (the runtime's page size).
pub const MAX_COMPUTE_PER_PAGE: u32 = pallet_compute::MAX_LIST;

/// Most jobs one `inference_jobs` call returns: a job's JSON can reach ~250 KB (16 KiB of
/// input and of output, each value written out), so 25 keep a page within the response
/// limit. The runtime keeps the latest 100 per account.
pub const MAX_INFERENCE_PER_PAGE: u32 = 25;

/// Most spends one `agents_spends` call returns (the runtime's page size).
pub const MAX_AGENT_SPENDS_PER_PAGE: u32 = menara_runtime::api::MAX_SPENDS_PER_PAGE;

/// Spends one `agents_spends` call returns when no `limit` is given.
pub const DEFAULT_AGENT_SPENDS_PER_PAGE: u32 = 25;

/// Most referenda one `governance_referenda` call returns (the runtime's page size).
pub const MAX_REFERENDA_PER_PAGE: u32 = menara_runtime::api::MAX_REFERENDA_PER_PAGE;

/// Most keys one `state_getReadProof` call may ask for.
pub const MAX_READ_PROOF_KEYS: usize = 1_000;

type Ctx = Arc<dyn NodeApi>;
type Res<T> = Result<T, ErrorObjectOwned>;

/// Registers a method that runs on the blocking pool (node calls may touch disk or wasm).
fn blocking<R, F>(
    m: &mut RpcModule<Ctx>,
    name: &'static str,
    params: &'static [&'static str],
    f: F,
) -> Result<(), RpcError>
where
    R: Serialize + Clone + Send + 'static,
    F: Fn(&dyn NodeApi, &Args) -> Res<R> + Clone + Send + Sync + 'static,
{
    m.register_blocking_method(name, move |raw, ctx, _| {
        let args = Args::parse(&raw, params)?;
        f(&**ctx, &args)
    })?;
    Ok(())
}

/// Runs a runtime query on the best block and decodes its answer.
fn runtime_query<T: parity_scale_codec::Decode>(
    api: &dyn NodeApi,
    name: &[u8],
    args: &[u8],
) -> Res<T> {
    let method = std::str::from_utf8(name).map_err(|e| internal(e.to_string()))?;
    let raw = api.query(method, args, None).map_err(api_error)?;
    T::decode(&mut &raw[..]).map_err(|e| internal(e.to_string()))
}

/// JSON shapes of contract records and dry-run outcomes (amounts as decimal strings,
/// bytes as hex).
mod contracts_json {
    use crate::types::to_hex as hex;
    use pallet_contracts::{ContractView, ExecOutcome};
    use serde_json::{json, Value};

    pub fn outcome(o: &ExecOutcome) -> Value {
        let result = match &o.result {
            Ok(r) if r.reverted => json!({"revert": hex(&r.data)}),
            Ok(r) => json!({"ok": hex(&r.data)}),
            Err(e) => {
                json!({"error": {"pallet": e.pallet, "error": e.error, "message": e.message}})
            }
        };
        json!({
            "result": result,
            "fuelUsed": o.fuel_used,
            "storageDeposit": o.storage_deposit.to_string(),
            "address": o.address.map(|a| a.to_string()),
            "debug": o.debug,
            "events": o.events.iter().map(|e| json!({
                "contract": e.contract.to_string(),
                "topics": e.topics.iter().map(|t| hex(&t.0)).collect::<Vec<_>>(),
                "data": hex(&e.data),
            })).collect::<Vec<_>>(),
        })
    }

    pub fn contract(v: &ContractView) -> Value {
        let i = &v.info;
        json!({
            "address": v.address.to_string(),
            "codeHash": hex(&i.code_hash.0),
            "deployer": i.deployer.to_string(),
            "admin": i.admin.map(|a| a.to_string()),
            "balance": v.balance.to_string(),
            "items": i.items,
            "bytes": i.bytes,
            "storageDeposit": i.storage_deposit.to_string(),
            "baseDeposit": i.base_deposit.to_string(),
            "reentrant": v.code.as_ref().is_some_and(|c| c.reentrant),
        })
    }

    pub fn code(info: &pallet_contracts::CodeInfo, code: &[u8]) -> Value {
        json!({
            "owner": info.owner.to_string(),
            "deposit": info.deposit.to_string(),
            "refcount": info.refcount,
            "size": info.size,
            "reentrant": info.reentrant,
            "code": hex(code),
        })
    }
}

/// JSON shapes of the governance views (amounts as decimal strings, keys as hex).
mod governance_json {
    use menara_runtime::api::GovernanceSummary;
    use pallet_governance::{ProposalKind, ReferendumView, Status, Vote};
    use serde_json::{json, Value};

    pub fn referendum(v: &ReferendumView) -> Value {
        let r = &v.referendum;
        let (status, enact_at, ok) = match r.status {
            Status::Ongoing => ("ongoing", None, None),
            Status::Passed { enact_at } => ("passed", Some(enact_at), None),
            Status::Rejected => ("rejected", None, None),
            Status::Cancelled => ("cancelled", None, None),
            Status::Enacted { ok } => ("enacted", None, Some(ok)),
        };
        let call = match &r.kind {
            ProposalKind::Upgrade {
                spec_version,
                code_hash,
            } => json!({
                "kind": "upgrade",
                "specVersion": spec_version,
                "codeHash": code_hash.to_string(),
            }),
            ProposalKind::Call { pallet, call } => json!({
                "kind": "call",
                "name": menara_runtime::calls::name_of(pallet_agents::CallKind {
                    pallet: *pallet,
                    call: *call,
                }),
                "pallet": pallet,
                "call": call,
            }),
        };
        json!({
            "index": v.index,
            "proposer": r.proposer.to_string(),
            "deposit": r.deposit.to_string(),
            "call": call,
            "callHash": r.call_hash.to_string(),
            "callLen": r.call_len,
            "submitted": r.submitted,
            "end": r.end,
            "status": status,
            "enactAt": enact_at,
            "succeeded": ok,
            "ayes": r.tally.ayes.to_string(),
            "nays": r.tally.nays.to_string(),
            "turnout": r.tally.turnout().to_string(),
            "quorum": v.quorum.to_string(),
            "cancelVotes": v.cancel_votes.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            "cancelPerMill": v.cancel_per_mill,
        })
    }

    pub fn vote(v: &Vote) -> Value {
        json!({
            "aye": v.aye,
            "own": v.own.to_string(),
            "carried": v.carried.to_string(),
            "weight": v.weight().to_string(),
            "pulled": v.pulled.iter().map(|(validator, amount)| json!({
                "validator": validator.to_string(),
                "amount": amount.to_string(),
            })).collect::<Vec<_>>(),
        })
    }

    pub fn summary(s: &GovernanceSummary) -> Value {
        json!({
            "votingPeriod": s.voting_period,
            "enactmentDelay": s.enactment_delay,
            "quorum": s.quorum.to_string(),
            "totalHeld": s.total_held.to_string(),
            "parameters": s.parameters.iter().map(|(p, value, (min, max))| json!({
                "name": p.name(),
                "value": value.to_string(),
                "min": min.to_string(),
                "max": max.to_string(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// A referendum index parameter.
fn referendum_index(a: &Args, i: usize) -> Res<u32> {
    let id = a.id(i)?;
    u32::try_from(id).map_err(|_| invalid_params(format!("no referendum {id}")))
}

/// JSON shapes of the staking views (amounts as decimal strings, keys as hex).
mod staking_json {
    use pallet_staking::{DelegationView, StakingSummary, UnbondingEntry, ValidatorView};
    use serde_json::{json, Value};

    pub fn validator(v: &ValidatorView) -> Value {
        json!({
            "account": v.account.to_string(),
            "blsPublicKey": format!("0x{}", hex::encode(v.bls_public_key)),
            "commissionPerMill": v.commission_per_mill,
            "totalStake": v.total_stake.to_string(),
            "selfBond": v.self_bond.to_string(),
            "jailedUntilEpoch": v.jailed_until,
            "tombstoned": v.tombstoned,
            "chilled": v.chilled,
            "active": v.active,
        })
    }

    pub fn delegation(d: &DelegationView) -> Value {
        json!({
            "validator": d.validator.to_string(),
            "shares": d.shares.to_string(),
            "value": d.value.to_string(),
            "pendingRewards": d.pending_rewards.to_string(),
        })
    }

    pub fn unbonding(u: &UnbondingEntry) -> Value {
        json!({
            "validator": u.validator.to_string(),
            "amount": u.amount.to_string(),
            "unbondedInEpoch": u.unbonded_in_epoch,
            "withdrawableAtEpoch": u.withdrawable_at_epoch,
        })
    }

    pub fn summary(s: &StakingSummary) -> Value {
        json!({
            "epoch": s.epoch.index,
            "epochStartBlock": s.epoch.start_block,
            "epochLength": s.epoch.length,
            "totalBonded": s.total_bonded.to_string(),
            "totalUnbonding": s.total_unbonding.to_string(),
            "totalMinted": s.total_minted.to_string(),
            "totalBurned": s.total_burned.to_string(),
            "totalIssuance": s.total_issuance.to_string(),
            "deferredSlashes": s.deferred_slashes.iter().map(|(id, d)| json!({
                "id": id,
                "offender": d.offender.to_string(),
                "kind": format!("{:?}", d.kind),
                "offenceEpoch": d.offence_epoch,
                "applyAtEpoch": d.apply_at_epoch,
                "perMill": d.per_mill,
                "exposure": d.exposure.to_string(),
            })).collect::<Vec<_>>(),
        })
    }
}

/// The optional page size at `i`: 1 to `max`, `max` when not given.
fn limit(a: &Args, i: usize, max: u32) -> Res<u32> {
    let limit = a.opt_u32(i)?.unwrap_or(max);
    if limit == 0 || limit > max {
        return Err(invalid_params(format!(
            "invalid parameter `limit`: expected 1 to {max}, got {limit}"
        )));
    }
    Ok(limit)
}

/// JSON shape of a registered model (amounts as decimal strings, hashes as hex).
fn model_json(v: &pallet_models::ModelView, held_locally: bool) -> serde_json::Value {
    let i = &v.info;
    serde_json::json!({
        "id": v.id,
        "name": String::from_utf8_lossy(&i.name),
        "version": format!("{}.{}.{}", i.version.major, i.version.minor, i.version.patch),
        "owner": i.owner.to_string(),
        "kind": format!("{:?}", i.kind).to_lowercase(),
        "shape": i.shape,
        "numericsVersion": i.numerics_version,
        "size": i.size,
        "fileRoot": i.file_root,
        "royaltyPerInference": i.royalty_per_inference.to_string(),
        "royaltyChangedAt": i.royalty_changed_at,
        "previous": i.previous,
        "next": i.next,
        "deprecated": i.deprecated,
        "registeredAt": i.registered_at,
        "deposit": i.deposit.to_string(),
        "depositor": i.depositor.to_string(),
        "royaltiesPaid": i.royalties_paid.to_string(),
        "royaltiesUnclaimed": i.royalties_unclaimed.to_string(),
        "holders": i.holders,
        "totalShares": v.total_shares,
        "heldLocally": held_locally,
    })
}

/// All methods, over `api`. With `allow_unsafe` false, the [`UNSAFE_METHODS`] answer with
/// an error that says why.
pub fn rpc_module(
    api: Arc<dyn NodeApi>,
    allow_unsafe: bool,
) -> Result<RpcModule<Arc<dyn NodeApi>>, RpcError> {
    let mut m = RpcModule::new(api);

    // system_*
    blocking(&mut m, "system_health", &[], |api, _| Ok(api.health()))?;
    blocking(&mut m, "system_name", &[], |api, _| {
        Ok(api.system_info().implementation)
    })?;
    blocking(&mut m, "system_version", &[], |api, _| {
        Ok(api.system_info().version)
    })?;
    blocking(&mut m, "system_chain", &[], |api, _| {
        Ok(api.system_info().chain)
    })?;
    blocking(&mut m, "system_peers", &[], |api, _| Ok(api.peers()))?;
    blocking(&mut m, "system_accountNextIndex", &["account"], |api, a| {
        api.account_next_index(&a.account(0)?).map_err(api_error)
    })?;

    // chain_*
    blocking(&mut m, "chain_getHeader", &["at"], |api, a| {
        api.header(a.opt_hash(0)?).map_err(api_error)
    })?;
    blocking(&mut m, "chain_getBlock", &["at"], |api, a| {
        let Some(b) = api.block(a.opt_hash(0)?).map_err(api_error)? else {
            return Ok(None);
        };
        let justification = api.justification(&b.hash()).map_err(api_error)?;
        Ok(Some(SignedBlock {
            block: BlockJson {
                header: b.header,
                extrinsics: b.extrinsics.into_iter().map(Bytes).collect(),
            },
            justification: justification.map(Bytes),
        }))
    })?;
    blocking(&mut m, "chain_getBlockHash", &["number"], |api, a| {
        api.block_hash(a.opt_block_number(0)?).map_err(api_error)
    })?;
    blocking(&mut m, "chain_getFinalizedHead", &[], |api, _| {
        api.finalized_head().map_err(api_error)
    })?;

    // state_*
    blocking(&mut m, "state_getStorage", &["key", "at"], |api, a| {
        let key = a.bytes(0)?;
        Ok(api
            .storage(&key, a.opt_hash(1)?)
            .map_err(api_error)?
            .map(Bytes))
    })?;
    blocking(&mut m, "state_getReadProof", &["keys", "at"], |api, a| {
        let keys = a.bytes_list(0, MAX_READ_PROOF_KEYS)?;
        let proof = api.read_proof(&keys, a.opt_hash(1)?).map_err(api_error)?;
        if proof.entries.len() != keys.len() {
            return Err(internal(format!(
                "node returned {} proof entries for {} keys",
                proof.entries.len(),
                keys.len()
            )));
        }
        Ok(ReadProofJson {
            at: proof.at,
            state_root: proof.state_root,
            proof: proof
                .entries
                .into_iter()
                .map(|(key, value, p)| ProofEntryJson {
                    key: Bytes(key),
                    value: value.map(Bytes),
                    proof: Bytes(p.encode()),
                })
                .collect(),
        })
    })?;
    blocking(&mut m, "state_getRuntimeVersion", &["at"], |api, a| {
        api.runtime_version(a.opt_hash(0)?).map_err(api_error)
    })?;
    m.register_alias("chain_getRuntimeVersion", "state_getRuntimeVersion")?;
    blocking(&mut m, "state_call", &["method", "data", "at"], |api, a| {
        let method = a.string(0)?;
        if method.is_empty() {
            return Err(invalid_params(
                "invalid parameter `method`: empty method name",
            ));
        }
        let data = a.bytes(1)?;
        api.query(&method, &data, a.opt_hash(2)?)
            .map(Bytes)
            .map_err(api_error)
    })?;

    // author_*
    blocking(
        &mut m,
        "author_submitExtrinsic",
        &["extrinsic"],
        |api, a| api.submit_transaction(a.bytes(0)?).map_err(api_error),
    )?;
    blocking(&mut m, "author_transactionOutcome", &["hash"], |api, a| {
        api.transaction_outcome(&a.hash(0)?).map_err(api_error)
    })?;
    blocking(&mut m, "author_pendingExtrinsics", &[], |api, _| {
        Ok(api
            .pending_transactions()
            .into_iter()
            .map(Bytes)
            .collect::<Vec<_>>())
    })?;

    // balances_*
    blocking(&mut m, "balances_getAccount", &["account"], |api, a| {
        let info = api.account(&a.account(0)?).map_err(api_error)?;
        Ok(AccountJson {
            nonce: info.nonce,
            free: info.free,
        })
    })?;
    blocking(&mut m, "balances_totalIssuance", &[], |api, _| {
        api.total_issuance()
            .map(|t| t.to_string())
            .map_err(api_error)
    })?;

    // staking_*: the staking pallet's read-only queries, as JSON.
    blocking(&mut m, "staking_validators", &[], |api, _| {
        let views: Vec<pallet_staking::ValidatorView> =
            runtime_query(api, b"staking_validators", &[])?;
        Ok(views
            .iter()
            .map(staking_json::validator)
            .collect::<Vec<_>>())
    })?;
    blocking(&mut m, "staking_delegations", &["account"], |api, a| {
        let who = a.account(0)?;
        let (delegations, unbonding): (
            Vec<pallet_staking::DelegationView>,
            Vec<pallet_staking::UnbondingEntry>,
        ) = runtime_query(api, b"staking_delegations", &who.encode())?;
        Ok(serde_json::json!({
            "account": who.to_string(),
            "delegations": delegations.iter().map(staking_json::delegation).collect::<Vec<_>>(),
            "unbonding": unbonding.iter().map(staking_json::unbonding).collect::<Vec<_>>(),
        }))
    })?;
    blocking(
        &mut m,
        "staking_rewards",
        &["delegator", "validator"],
        |api, a| {
            let (delegator, validator) = (a.account(0)?, a.account(1)?);
            let pending: u128 =
                runtime_query(api, b"staking_rewards", &(delegator, validator).encode())?;
            Ok(pending.to_string())
        },
    )?;
    blocking(&mut m, "staking_epoch", &[], |api, _| {
        let s: pallet_staking::StakingSummary = runtime_query(api, b"staking_epoch", &[])?;
        Ok(staking_json::summary(&s))
    })?;

    // models_*: the model registry (runtime queries) and this node's model files.
    blocking(&mut m, "models_list", &["startAfter", "limit"], |api, a| {
        let start_after = a.opt_hash(0)?;
        let limit = a.opt_u32(1)?.unwrap_or(MAX_MODELS_PER_PAGE);
        if limit == 0 || limit > MAX_MODELS_PER_PAGE {
            return Err(invalid_params(format!(
                "invalid parameter `limit`: expected 1 to {MAX_MODELS_PER_PAGE}, got {limit}"
            )));
        }
        let views: Vec<pallet_models::ModelView> =
            runtime_query(api, b"models_list", &(start_after, limit).encode())?;
        Ok(views
            .iter()
            .map(|v| model_json(v, api.model_file_held(&v.id)))
            .collect::<Vec<_>>())
    })?;
    blocking(&mut m, "models_get", &["id"], |api, a| {
        let id = a.hash(0)?;
        let view: Option<pallet_models::ModelView> =
            runtime_query(api, b"models_get", &id.encode())?;
        Ok(view.map(|v| model_json(&v, api.model_file_held(&v.id))))
    })?;
    blocking(&mut m, "models_shares", &["id", "account"], |api, a| {
        let (id, who) = (a.hash(0)?, a.account(1)?);
        runtime_query::<u64>(api, b"models_shares", &(id, who).encode())
    })?;
    blocking(&mut m, "models_claimable", &["id", "account"], |api, a| {
        let (id, who) = (a.hash(0)?, a.account(1)?);
        let amount: u128 = runtime_query(api, b"models_claimable", &(id, who).encode())?;
        Ok(amount.to_string())
    })?;
    blocking(&mut m, "models_importFile", &["path"], |api, a| {
        api.import_model_file(&a.string(0)?).map_err(api_error)
    })?;
    blocking(&mut m, "models_fetch", &["id"], |api, a| {
        api.fetch_model(&a.hash(0)?).map_err(api_error)
    })?;
    blocking(&mut m, "models_fetchStatus", &["id"], |api, a| {
        Ok(api.model_fetch_status(&a.hash(0)?))
    })?;

    // compute_*: the compute market (runtime queries; types in `crate::types`).
    blocking(
        &mut m,
        "compute_providers",
        &["startAfter", "limit"],
        |api, a| {
            let start_after = a.opt_account(0)?;
            let limit = limit(a, 1, MAX_COMPUTE_PER_PAGE)?;
            let views: Vec<pallet_compute::ProviderView> =
                runtime_query(api, b"compute_providers", &(start_after, limit).encode())?;
            Ok(views.iter().map(ProviderJson::from).collect::<Vec<_>>())
        },
    )?;
    blocking(&mut m, "compute_provider", &["account"], |api, a| {
        let who = a.account(0)?;
        let view: Option<pallet_compute::ProviderView> =
            runtime_query(api, b"compute_provider", &who.encode())?;
        Ok(view.as_ref().map(ProviderJson::from))
    })?;
    blocking(
        &mut m,
        "compute_orders",
        &["startAfter", "limit"],
        |api, a| {
            let start_after = a.opt_id(0)?;
            let limit = limit(a, 1, MAX_COMPUTE_PER_PAGE)?;
            let views: Vec<pallet_compute::OrderView> =
                runtime_query(api, b"compute_orders", &(start_after, limit).encode())?;
            Ok(views.iter().map(OrderJson::from).collect::<Vec<_>>())
        },
    )?;
    blocking(&mut m, "compute_order", &["id"], |api, a| {
        let id = a.id(0)?;
        let view: Option<pallet_compute::OrderView> =
            runtime_query(api, b"compute_order", &id.encode())?;
        Ok(view.as_ref().map(OrderJson::from))
    })?;
    blocking(&mut m, "compute_leases", &["account", "limit"], |api, a| {
        let who = a.account(0)?;
        let limit = limit(a, 1, MAX_COMPUTE_PER_PAGE)?;
        let views: Vec<pallet_compute::LeaseView> =
            runtime_query(api, b"compute_leases", &(who, limit).encode())?;
        Ok(views.iter().map(LeaseJson::from).collect::<Vec<_>>())
    })?;
    blocking(&mut m, "compute_lease", &["id"], |api, a| {
        let id = a.id(0)?;
        let view: Option<pallet_compute::LeaseView> =
            runtime_query(api, b"compute_lease", &id.encode())?;
        Ok(view.as_ref().map(LeaseJson::from))
    })?;
    blocking(&mut m, "compute_challenges", &["account"], |api, a| {
        let who = a.account(0)?;
        let views: Vec<pallet_compute::ChallengeView> =
            runtime_query(api, b"compute_challenges", &who.encode())?;
        Ok(views.iter().map(ChallengeJson::from).collect::<Vec<_>>())
    })?;
    blocking(&mut m, "compute_challenge", &["id"], |api, a| {
        let id = a.id(0)?;
        let view: Option<pallet_compute::ChallengeView> =
            runtime_query(api, b"compute_challenge", &id.encode())?;
        Ok(view.as_ref().map(ChallengeJson::from))
    })?;
    blocking(&mut m, "compute_summary", &[], |api, _| {
        let s: pallet_compute::ComputeSummary = runtime_query(api, b"compute_summary", &[])?;
        Ok(ComputeSummaryJson::from(&s))
    })?;
    blocking(&mut m, "compute_pending", &["account"], |api, a| {
        let who = a.account(0)?;
        let amount: u128 = runtime_query(api, b"compute_pending", &who.encode())?;
        Ok(amount.to_string())
    })?;

    // inference_*: verified inference jobs (runtime queries; types in `crate::types`).
    blocking(&mut m, "inference_job", &["id"], |api, a| {
        let id = a.id(0)?;
        let view: Option<pallet_inference::JobView> =
            runtime_query(api, b"inference_job", &id.encode())?;
        Ok(view.as_ref().map(JobJson::from))
    })?;
    blocking(&mut m, "inference_jobs", &["account", "limit"], |api, a| {
        let who = a.account(0)?;
        let limit = limit(a, 1, MAX_INFERENCE_PER_PAGE)?;
        let views: Vec<pallet_inference::JobView> =
            runtime_query(api, b"inference_jobs", &(who, limit).encode())?;
        Ok(views.iter().map(JobJson::from).collect::<Vec<_>>())
    })?;
    blocking(&mut m, "inference_providerJobs", &["account"], |api, a| {
        let who = a.account(0)?;
        let views: Vec<pallet_inference::JobView> =
            runtime_query(api, b"inference_providerJobs", &who.encode())?;
        Ok(views.iter().map(JobJson::from).collect::<Vec<_>>())
    })?;
    blocking(&mut m, "inference_verifierJobs", &["account"], |api, a| {
        let who = a.account(0)?;
        let views: Vec<pallet_inference::JobView> =
            runtime_query(api, b"inference_verifierJobs", &who.encode())?;
        Ok(views.iter().map(JobJson::from).collect::<Vec<_>>())
    })?;
    blocking(&mut m, "inference_verifier", &["account"], |api, a| {
        let who = a.account(0)?;
        let view: Option<pallet_inference::VerifierView> =
            runtime_query(api, b"inference_verifier", &who.encode())?;
        Ok(view.as_ref().map(VerifierJson::from))
    })?;
    blocking(&mut m, "inference_prices", &["model"], |api, a| {
        let model = a.model_id(0)?;
        let views: Vec<pallet_inference::PriceView> =
            runtime_query(api, b"inference_prices", &model.encode())?;
        Ok(views.iter().map(PriceJson::from).collect::<Vec<_>>())
    })?;
    blocking(&mut m, "inference_summary", &[], |api, _| {
        let s: pallet_inference::InferenceSummary = runtime_query(api, b"inference_summary", &[])?;
        Ok(InferenceSummaryJson::from(&s))
    })?;
    blocking(&mut m, "inference_pending", &["account"], |api, a| {
        let who = a.account(0)?;
        let amount: u128 = runtime_query(api, b"inference_pending", &who.encode())?;
        Ok(amount.to_string())
    })?;

    // agents_*: staked agents, their grants, audit logs and orders (runtime queries; types
    // in `crate::types`).
    blocking(&mut m, "agents_agent", &["account"], |api, a| {
        let who = a.account(0)?;
        let view: Option<pallet_agents::AgentView> =
            runtime_query(api, agents_api::AGENTS_GET, &who.encode())?;
        Ok(view.as_ref().map(AgentJson::from))
    })?;
    blocking(&mut m, "agents_list", &[], |api, _| {
        let views: Vec<pallet_agents::AgentView> =
            runtime_query(api, agents_api::AGENTS_LIST, &[])?;
        Ok(views.iter().map(AgentJson::from).collect::<Vec<_>>())
    })?;
    blocking(&mut m, "agents_grants", &["agent"], |api, a| {
        let agent = a.account(0)?;
        let views: Vec<pallet_agents::GrantView> =
            runtime_query(api, agents_api::AGENTS_GRANTS, &agent.encode())?;
        Ok(views.iter().map(GrantJson::from).collect::<Vec<_>>())
    })?;
    blocking(
        &mut m,
        "agents_spends",
        &["agent", "before", "limit"],
        |api, a| {
            let agent = a.account(0)?;
            let before = a.opt_id(1)?;
            let limit = a.opt_u32(2)?.unwrap_or(DEFAULT_AGENT_SPENDS_PER_PAGE);
            if limit == 0 || limit > MAX_AGENT_SPENDS_PER_PAGE {
                return Err(invalid_params(format!(
                    "invalid parameter `limit`: expected 1 to {MAX_AGENT_SPENDS_PER_PAGE}, got {limit}"
                )));
            }
            let spends: Vec<pallet_agents::Spend> = runtime_query(
                api,
                agents_api::AGENTS_SPENDS,
                &(agent, before, limit).encode(),
            )?;
            Ok(spends.iter().map(SpendJson::from).collect::<Vec<_>>())
        },
    )?;
    blocking(&mut m, "agents_orders", &["agent"], |api, a| {
        let agent = a.account(0)?;
        let views: Vec<pallet_agents::OrderView> =
            runtime_query(api, agents_api::AGENTS_ORDERS, &agent.encode())?;
        Ok(views.iter().map(AgentOrderJson::from).collect::<Vec<_>>())
    })?;
    blocking(&mut m, "agents_order", &["id"], |api, a| {
        let id = a.id(0)?;
        let view: Option<pallet_agents::OrderView> =
            runtime_query(api, agents_api::AGENTS_ORDER, &id.encode())?;
        Ok(view.as_ref().map(AgentOrderJson::from))
    })?;

    // governance_*: referenda, votes and governable parameters (runtime queries; types in
    // `pallet_governance`).
    blocking(
        &mut m,
        "governance_referenda",
        &["before", "limit"],
        |api, a| {
            let before = a.opt_u32(0)?;
            let limit = a.opt_u32(1)?.unwrap_or(MAX_REFERENDA_PER_PAGE);
            if limit == 0 || limit > MAX_REFERENDA_PER_PAGE {
                return Err(invalid_params(format!(
                "invalid parameter `limit`: expected 1 to {MAX_REFERENDA_PER_PAGE}, got {limit}"
            )));
            }
            let views: Vec<pallet_governance::ReferendumView> = runtime_query(
                api,
                agents_api::GOVERNANCE_REFERENDA,
                &(before, limit).encode(),
            )?;
            Ok(views
                .iter()
                .map(governance_json::referendum)
                .collect::<Vec<_>>())
        },
    )?;
    blocking(&mut m, "governance_referendum", &["index"], |api, a| {
        let index = referendum_index(a, 0)?;
        let view: Option<pallet_governance::ReferendumView> =
            runtime_query(api, agents_api::GOVERNANCE_REFERENDUM, &index.encode())?;
        Ok(view.as_ref().map(governance_json::referendum))
    })?;
    blocking(
        &mut m,
        "governance_vote",
        &["index", "account"],
        |api, a| {
            let (index, who) = (referendum_index(a, 0)?, a.account(1)?);
            let vote: Option<pallet_governance::Vote> =
                runtime_query(api, agents_api::GOVERNANCE_VOTE, &(index, who).encode())?;
            Ok(vote.as_ref().map(governance_json::vote))
        },
    )?;
    blocking(&mut m, "governance_summary", &[], |api, _| {
        let s: menara_runtime::api::GovernanceSummary =
            runtime_query(api, agents_api::GOVERNANCE_SUMMARY, &[])?;
        Ok(governance_json::summary(&s))
    })?;

    // contracts_*: contract records, code, storage, and dry runs of calls and
    // instantiations (runtime queries; types in `pallet_contracts`). A dry run keeps
    // nothing and pays no fee.
    blocking(&mut m, "contracts_info", &["address"], |api, a| {
        let who = a.account(0)?;
        let view: Option<pallet_contracts::ContractView> =
            runtime_query(api, agents_api::CONTRACTS_INFO, &who.encode())?;
        Ok(view.as_ref().map(contracts_json::contract))
    })?;
    blocking(&mut m, "contracts_code", &["codeHash"], |api, a| {
        let hash = a.hash(0)?;
        let code: Option<(pallet_contracts::CodeInfo, Vec<u8>)> =
            runtime_query(api, agents_api::CONTRACTS_CODE, &hash.encode())?;
        Ok(code.map(|(info, code)| contracts_json::code(&info, &code)))
    })?;
    blocking(
        &mut m,
        "contracts_storage",
        &["address", "key"],
        |api, a| {
            let (who, key) = (a.account(0)?, a.bytes(1)?);
            let value: Option<Vec<u8>> =
                runtime_query(api, agents_api::CONTRACTS_STORAGE, &(who, key).encode())?;
            Ok(value.map(Bytes))
        },
    )?;
    blocking(
        &mut m,
        "contracts_call",
        &[
            "origin",
            "address",
            "input",
            "value",
            "fuelLimit",
            "storageDepositLimit",
        ],
        |api, a| {
            let args = menara_runtime::api::ContractsCallArgs {
                origin: a.account(0)?,
                contract: a.account(1)?,
                input: a.bytes(2)?,
                value: a.opt_amount(3)?.unwrap_or(0),
                fuel_limit: a.opt_id(4)?,
                storage_deposit_limit: a.opt_amount(5)?,
            };
            let outcome: pallet_contracts::ExecOutcome =
                runtime_query(api, agents_api::CONTRACTS_CALL, &args.encode())?;
            Ok(contracts_json::outcome(&outcome))
        },
    )?;
    blocking(
        &mut m,
        "contracts_instantiate",
        &[
            "origin",
            "code",
            "codeHash",
            "input",
            "value",
            "fuelLimit",
            "storageDepositLimit",
            "salt",
            "immutable",
        ],
        |api, a| {
            let code = match (a.opt_bytes(1)?, a.opt_hash(2)?) {
                (Some(code), None) => pallet_contracts::CodeSource::Upload(code),
                (None, Some(hash)) => pallet_contracts::CodeSource::Existing(hash),
                _ => {
                    return Err(invalid_params(
                        "give exactly one of `code` (the wasm, hex) and `codeHash`",
                    ))
                }
            };
            let args = menara_runtime::api::ContractsInstantiateArgs {
                origin: a.account(0)?,
                code,
                input: a.opt_bytes(3)?.unwrap_or_default(),
                value: a.opt_amount(4)?.unwrap_or(0),
                fuel_limit: a.opt_id(5)?,
                storage_deposit_limit: a.opt_amount(6)?,
                salt: a.opt_bytes(7)?.unwrap_or_default(),
                immutable: a.opt_bool(8)?.unwrap_or(false),
            };
            let outcome: pallet_contracts::ExecOutcome =
                runtime_query(api, agents_api::CONTRACTS_INSTANTIATE, &args.encode())?;
            Ok(contracts_json::outcome(&outcome))
        },
    )?;

    // Subscriptions.
    m.register_subscription(
        "chain_subscribeNewHeads",
        "chain_newHead",
        "chain_unsubscribeNewHeads",
        |params, pending, ctx, _| async move {
            if let Err(e) = Args::parse(&params, &[]) {
                pending.reject(e).await;
                return;
            }
            let rx = ctx.subscribe_new_heads();
            let api = Arc::clone(&ctx);
            let first = tokio::task::spawn_blocking(move || api.header(None).ok().flatten())
                .await
                .ok()
                .flatten();
            forward_heads(pending, rx, first).await
        },
    )?;
    m.register_subscription(
        "chain_subscribeFinalizedHeads",
        "chain_finalizedHead",
        "chain_unsubscribeFinalizedHeads",
        |params, pending, ctx, _| async move {
            if let Err(e) = Args::parse(&params, &[]) {
                pending.reject(e).await;
                return;
            }
            let rx = ctx.subscribe_finalized_heads();
            let api = Arc::clone(&ctx);
            let first = tokio::task::spawn_blocking(move || {
                let hash = api.finalized_head().ok()?;
                api.header(Some(hash)).ok().flatten()
            })
            .await
            .ok()
            .flatten();
            forward_heads(pending, rx, first).await
        },
    )?;
    m.register_subscription(
        "author_submitAndWatchExtrinsic",
        "author_extrinsicUpdate",
        "author_unwatchExtrinsic",
        |params, pending, ctx, _| async move {
            let ext = match Args::parse(&params, &["extrinsic"]).and_then(|a| a.bytes(0)) {
                Ok(ext) => ext,
                Err(e) => return pending.reject(e).await,
            };
            let api = Arc::clone(&ctx);
            let rx = match tokio::task::spawn_blocking(move || api.submit_and_watch(ext)).await {
                Ok(Ok((_hash, rx))) => rx,
                Ok(Err(e)) => return pending.reject(api_error(e)).await,
                Err(e) => {
                    return pending
                        .reject(internal(format!("submission task failed: {e}")))
                        .await
                }
            };
            if let Ok(sink) = pending.accept().await {
                forward_statuses(sink, rx).await;
            }
        },
    )?;

    if !allow_unsafe {
        for &name in UNSAFE_METHODS {
            m.remove_method(name);
            m.register_method(name, move |_, _, _| Err::<(), _>(unsafe_refused(name)))?;
        }
    }

    let mut names: Vec<String> = m.method_names().map(str::to_owned).collect();
    names.push("rpc_methods".to_owned());
    names.sort();
    let listing = MethodsJson { methods: names };
    m.register_method("rpc_methods", move |_, _, _| {
        Ok::<_, ErrorObjectOwned>(listing.clone())
    })?;
    Ok(m)
}

fn unsafe_refused(name: &str) -> ErrorObjectOwned {
    ErrorObject::owned(
        METHOD_NOT_FOUND,
        format!(
            "RPC call `{name}` is unsafe to be called externally: this node serves safe methods only \
             (start it with --rpc-methods unsafe, or bind RPC to localhost)"
        ),
        None::<()>,
    )
}

/// Sends `first` (if any), then every header from `rx` until the client leaves or the
/// channel closes. A lagging receiver skips what it missed.
async fn forward_heads(
    pending: PendingSubscriptionSink,
    mut rx: Receiver<Header>,
    first: Option<Header>,
) {
    let Ok(sink) = pending.accept().await else {
        return;
    };
    if let Some(h) = first {
        if !send(&sink, &h).await {
            return;
        }
    }
    loop {
        tokio::select! {
            _ = sink.closed() => return,
            r = rx.recv() => match r {
                Ok(h) => if !send(&sink, &h).await { return },
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!(target: "rpc", skipped = n, method = sink.method_name(), "subscriber lagged; skipping headers");
                }
                Err(RecvError::Closed) => return,
            }
        }
    }
}

/// Sends status updates until a final one (then the subscription ends), the client
/// leaves, or the node drops the channel.
async fn forward_statuses(sink: SubscriptionSink, mut rx: Receiver<TransactionStatus>) {
    loop {
        tokio::select! {
            _ = sink.closed() => return,
            r = rx.recv() => match r {
                Ok(status) => {
                    if !send(&sink, &status).await || status.is_final() {
                        return;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::debug!(target: "rpc", skipped = n, "extrinsic watcher lagged; skipping statuses");
                }
                Err(RecvError::Closed) => return,
            }
        }
    }
}

/// Whether the message went out (false: the client is gone).
async fn send<T: Serialize>(sink: &SubscriptionSink, item: &T) -> bool {
    match serde_json::value::to_raw_value(item) {
        Ok(raw) => sink.send(raw).await.is_ok(),
        Err(e) => {
            tracing::warn!(target: "rpc", "cannot serialize subscription item: {e}");
            true
        }
    }
}
