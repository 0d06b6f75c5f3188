//! The runtime API as byte-in, byte-out functions; the wasm exports wrap these, and
//! the native build calls them directly (tests, benchmarks).
use crate::{
    executive, Balances, GenesisConfig, Governance, Models, Offences, Session, Staking, System,
};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use menara_primitives::api::{methods, queries};
use menara_primitives::{AccountId, AccountInfo, BlockContext, QueryError, H256};
use menara_support::codec::{DecodeAll, Encode};
use menara_support::PalletError;

/// Query name (for `Query_call`) of `() -> Vec<(OffenceSlot, OffenceRecord)>`: every
/// recorded equivocation, by height, round, step and offender (types in
/// [`pallet_offences`]).
pub const OFFENCES_QUERY: &[u8] = b"offences";

/// Staking queries (types in [`pallet_staking`]):
/// `() -> Vec<ValidatorView>`.
pub const STAKING_VALIDATORS: &[u8] = b"staking_validators";
/// `AccountId -> (Vec<DelegationView>, Vec<UnbondingEntry>)`: an account's delegations
/// (with pending rewards) and unbonding entries.
pub const STAKING_DELEGATIONS: &[u8] = b"staking_delegations";
/// `(AccountId delegator, AccountId validator) -> Balance`: rewards claimable now.
pub const STAKING_REWARDS: &[u8] = b"staking_rewards";
/// `() -> pallet_staking::StakingSummary`.
pub const STAKING_EPOCH: &[u8] = b"staking_epoch";

/// Model registry queries (types in [`pallet_models`]):
/// `H256 model id -> Option<ModelView>`.
pub const MODELS_GET: &[u8] = b"models_get";
/// `(Option<H256> start_after, u32 limit) -> Vec<ModelView>`: a page of at most
/// `min(limit, 100)` models in storage order; pass the last id of a page to get the next.
pub const MODELS_LIST: &[u8] = b"models_list";
/// `(H256 model id, AccountId) -> u64`: shares of the model the account holds (of
/// [`pallet_models::TOTAL_SHARES`]).
pub const MODELS_SHARES: &[u8] = b"models_shares";
/// `(H256 model id, AccountId) -> Balance`: royalties the account can claim now.
pub const MODELS_CLAIMABLE: &[u8] = b"models_claimable";

/// Randomness query: `() -> (BlockNumber, H256)`: the current block and the beacon after it.
pub const RANDOMNESS_BEACON: &[u8] = b"randomness_beacon";

/// Compute market queries (types in [`pallet_compute`]):
/// `(Option<AccountId> start_after, u32 limit) -> Vec<ProviderView>`.
pub const COMPUTE_PROVIDERS: &[u8] = b"compute_providers";
/// `AccountId -> Option<ProviderView>`.
pub const COMPUTE_PROVIDER: &[u8] = b"compute_provider";
/// `(Option<u64> start_after, u32 limit) -> Vec<OrderView>`: open orders with their bids.
pub const COMPUTE_ORDERS: &[u8] = b"compute_orders";
/// `u64 -> Option<OrderView>`.
pub const COMPUTE_ORDER: &[u8] = b"compute_order";
/// `u64 -> Option<LeaseView>`: a lease as settlement now would leave it.
pub const COMPUTE_LEASE: &[u8] = b"compute_lease";
/// `(AccountId, u32 limit) -> Vec<LeaseView>`: leases the account is tenant or provider
/// of, newest first.
pub const COMPUTE_LEASES: &[u8] = b"compute_leases";
/// `AccountId -> Vec<ChallengeView>`: open challenges addressed to a provider.
pub const COMPUTE_CHALLENGES: &[u8] = b"compute_challenges";
/// `u64 -> Option<ChallengeView>`.
pub const COMPUTE_CHALLENGE: &[u8] = b"compute_challenge";
/// `() -> ComputeSummary`.
pub const COMPUTE_SUMMARY: &[u8] = b"compute_summary";
/// `AccountId -> Balance`: payouts kept for the account (withdraw with `Withdraw`).
pub const COMPUTE_PENDING: &[u8] = b"compute_pending";
/// Inference queries (types in [`pallet_inference`]):
/// `JobId -> Option<JobView>`.
pub const INFERENCE_JOB: &[u8] = b"inference_job";
/// `(AccountId, u32) -> Vec<JobView>`: the latest jobs of a client or provider, newest
/// first.
pub const INFERENCE_JOBS: &[u8] = b"inference_jobs";
/// `AccountId -> Vec<JobView>`: jobs waiting for a provider's commitment.
pub const INFERENCE_PROVIDER_JOBS: &[u8] = b"inference_providerJobs";
/// `AccountId -> Vec<JobView>`: sampled jobs waiting for a verifier's answer.
pub const INFERENCE_VERIFIER_JOBS: &[u8] = b"inference_verifierJobs";
/// `AccountId -> Option<VerifierView>`.
pub const INFERENCE_VERIFIER: &[u8] = b"inference_verifier";
/// `ModelId -> Vec<PriceView>`: providers with a price for a model.
pub const INFERENCE_PRICES: &[u8] = b"inference_prices";
/// `() -> InferenceSummary`.
pub const INFERENCE_SUMMARY: &[u8] = b"inference_summary";
/// `AccountId -> Balance`: payouts kept for the account (withdraw with `Withdraw`).
pub const INFERENCE_PENDING: &[u8] = b"inference_pending";
/// Agents queries (types in [`pallet_agents`]):
/// `AccountId -> Option<AgentView>`.
pub const AGENTS_GET: &[u8] = b"agents_get";
/// `() -> Vec<AgentView>`: every agent, by account.
pub const AGENTS_LIST: &[u8] = b"agents_list";
/// `AccountId agent -> Vec<GrantView>`: the grants given to an agent, with what their
/// windows have left now.
pub const AGENTS_GRANTS: &[u8] = b"agents_grants";
/// `(AccountId agent, Option<u64> before, u32 limit) -> Vec<Spend>`: the agent's acts,
/// newest first, at most `min(limit, 100)`, with index below `before`.
pub const AGENTS_SPENDS: &[u8] = b"agents_spends";
/// `AccountId agent -> Vec<OrderView>`: its open and accepted orders.
pub const AGENTS_ORDERS: &[u8] = b"agents_orders";
/// `u64 -> Option<OrderView>`.
pub const AGENTS_ORDER: &[u8] = b"agents_order";

/// Governance queries (types in [`pallet_governance`]):
/// `(Option<u32> before, u32 limit) -> Vec<ReferendumView>`: newest first, at most
/// `min(limit, 100)`, with index below `before`.
pub const GOVERNANCE_REFERENDA: &[u8] = b"governance_referenda";
/// `u32 -> Option<ReferendumView>`.
pub const GOVERNANCE_REFERENDUM: &[u8] = b"governance_referendum";
/// `(u32, AccountId) -> Option<Vote>`.
pub const GOVERNANCE_VOTE: &[u8] = b"governance_vote";
/// `() -> GovernanceSummary`: periods, quorum, and every parameter's value now.
pub const GOVERNANCE_SUMMARY: &[u8] = b"governance_summary";

/// Contracts queries (types in [`pallet_contracts`]):
/// `AccountId -> Option<ContractView>`.
pub const CONTRACTS_INFO: &[u8] = b"contracts_info";
/// `H256 code hash -> Option<(CodeInfo, Vec<u8> code)>`.
pub const CONTRACTS_CODE: &[u8] = b"contracts_code";
/// `(AccountId contract, Vec<u8> key) -> Option<Vec<u8>>`: one storage item's value.
pub const CONTRACTS_STORAGE: &[u8] = b"contracts_storage";
/// `ContractsCallArgs -> ExecOutcome`: a dry run of a call (nothing is kept; no fee).
pub const CONTRACTS_CALL: &[u8] = b"contracts_call";
/// `ContractsInstantiateArgs -> ExecOutcome`: a dry run of an instantiation.
pub const CONTRACTS_INSTANTIATE: &[u8] = b"contracts_instantiate";
/// `Vec<u8> code -> Result<(), DispatchError>`: the chain's check of code for upload.
pub const CONTRACTS_VALIDATE: &[u8] = b"contracts_validate";

/// Arguments of the `contracts_call` dry run.
#[derive(Clone, PartialEq, Eq, Debug, Encode, menara_support::codec::Decode)]
pub struct ContractsCallArgs {
    /// Who calls (pays deposits and value in the dry run).
    pub origin: AccountId,
    /// The contract.
    pub contract: AccountId,
    /// Value sent.
    pub value: menara_primitives::Balance,
    /// Fuel limit (`None`: the most a call may have).
    pub fuel_limit: Option<u64>,
    /// Storage deposit limit.
    pub storage_deposit_limit: Option<menara_primitives::Balance>,
    /// Input.
    pub input: Vec<u8>,
}

/// Arguments of the `contracts_instantiate` dry run.
#[derive(Clone, PartialEq, Eq, Debug, Encode, menara_support::codec::Decode)]
pub struct ContractsInstantiateArgs {
    /// The deployer.
    pub origin: AccountId,
    /// The code.
    pub code: pallet_contracts::CodeSource,
    /// Value sent.
    pub value: menara_primitives::Balance,
    /// Fuel limit (`None`: the most a call may have).
    pub fuel_limit: Option<u64>,
    /// Storage deposit limit.
    pub storage_deposit_limit: Option<menara_primitives::Balance>,
    /// Salt.
    pub salt: Vec<u8>,
    /// Input of `deploy`.
    pub input: Vec<u8>,
    /// Without admin.
    pub immutable: bool,
}

/// Most referenda one `governance_referenda` page returns.
pub const MAX_REFERENDA_PER_PAGE: u32 = 100;

/// The chain's governance settings as the `governance_summary` query returns them.
#[derive(
    Clone, PartialEq, Eq, Debug, menara_support::codec::Encode, menara_support::codec::Decode,
)]
pub struct GovernanceSummary {
    /// Blocks a referendum is open for votes.
    pub voting_period: menara_primitives::BlockNumber,
    /// Blocks between passing and enactment.
    pub enactment_delay: menara_primitives::BlockNumber,
    /// Turnout a referendum needs now.
    pub quorum: menara_primitives::Balance,
    /// Deposits held.
    pub total_held: menara_primitives::Balance,
    /// Every parameter: its value now (governance's or the default) and its range.
    pub parameters: Vec<(pallet_governance::Parameter, u128, (u128, u128))>,
}

/// Most spends one `agents_spends` page returns.
pub const MAX_SPENDS_PER_PAGE: u32 = 100;

/// Calls the runtime API function `method` with SCALE `input`; `None` if unknown.
pub fn call(method: &str, input: &[u8]) -> Option<Vec<u8>> {
    Some(match method {
        methods::VERSION => crate::version().encode(),
        methods::BUILD_GENESIS => build_genesis(input).encode(),
        methods::INITIALIZE_BLOCK => initialize_block(input).encode(),
        methods::APPLY_EXTRINSIC => apply_extrinsic(input).encode(),
        methods::FINALIZE_BLOCK => {
            executive::finalize_block();
            ().encode()
        }
        methods::VALIDATE_TRANSACTION => validate_transaction(input).encode(),
        methods::QUERY => query(input).encode(),
        _ => return None,
    })
}

fn build_genesis(input: &[u8]) -> Result<(), String> {
    let config = GenesisConfig::decode_all(&mut &input[..]).map_err(|e| e.to_string())?;
    System::build_genesis();
    Governance::build_genesis(&config.governance);
    Balances::build_genesis(&config.balances).map_err(|e| alloc::format!("{e:?}"))?;
    Session::build_genesis(&config.session)
        .map_err(|e| alloc::format!("invalid genesis validator set: {e}"))?;
    crate::Compute::build_genesis(&config.compute);
    crate::Inference::build_genesis(&config.inference);
    if config.staking.validators.is_empty() && config.staking.delegations.is_empty() {
        // A set fixed by the session genesis alone (no bonded stake behind it).
        return Ok(());
    }
    crate::Staking::build_genesis(&config.staking)
        .map_err(|e| alloc::format!("invalid genesis staking: {e:?}"))
}

fn initialize_block(input: &[u8]) -> Result<(), String> {
    let ctx = BlockContext::decode_all(&mut &input[..]).map_err(|e| e.to_string())?;
    executive::initialize_block(&ctx).map_err(|e| e.message)
}

fn apply_extrinsic(input: &[u8]) -> menara_primitives::ApplyExtrinsicResult {
    let bytes = Vec::<u8>::decode_all(&mut &input[..])
        .map_err(|_| menara_primitives::InvalidTransaction::Malformed)?;
    executive::apply_extrinsic(&bytes)
}

fn validate_transaction(input: &[u8]) -> menara_primitives::TransactionValidity {
    let (genesis, bytes) = <(H256, Vec<u8>)>::decode_all(&mut &input[..])
        .map_err(|_| menara_primitives::InvalidTransaction::Malformed)?;
    executive::validate_transaction(&genesis, &bytes)
}

fn query(input: &[u8]) -> Result<Vec<u8>, QueryError> {
    let (method, args) =
        <(Vec<u8>, Vec<u8>)>::decode_all(&mut &input[..]).map_err(|_| QueryError::BadArguments)?;
    match method.as_slice() {
        queries::ACCOUNT => {
            let who =
                AccountId::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(AccountInfo {
                nonce: System::account_nonce(&who),
                free: Balances::free_balance(&who),
            }
            .encode())
        }
        queries::TOTAL_ISSUANCE => Ok(Balances::total_issuance().encode()),
        queries::FEE => {
            let bytes =
                Vec::<u8>::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            executive::query_fee(&bytes)
                .map(|f| f.encode())
                .ok_or(QueryError::BadArguments)
        }
        queries::EVENTS => Ok(executive::events().encode()),
        queries::VALIDATORS => Ok(Session::validators().encode()),
        OFFENCES_QUERY => Ok(Offences::offences().encode()),
        STAKING_VALIDATORS => Ok(Staking::validators().encode()),
        STAKING_DELEGATIONS => {
            let who =
                AccountId::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok((Staking::delegations_of(&who), Staking::unbonding_of(&who)).encode())
        }
        STAKING_REWARDS => {
            let (delegator, validator) = <(AccountId, AccountId)>::decode_all(&mut &args[..])
                .map_err(|_| QueryError::BadArguments)?;
            Ok(Staking::pending_rewards(&delegator, &validator).encode())
        }
        STAKING_EPOCH => Ok(pallet_staking::StakingSummary {
            epoch: Staking::epoch(),
            total_bonded: Staking::total_bonded(),
            total_unbonding: Staking::total_unbonding(),
            total_minted: Staking::total_minted(),
            total_burned: Staking::total_burned(),
            total_issuance: Balances::total_issuance(),
            deferred_slashes: Staking::deferred_slashes(),
        }
        .encode()),
        MODELS_GET => {
            let id = H256::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(Models::model_view(&id).encode())
        }
        MODELS_LIST => {
            let (start_after, limit) = <(Option<H256>, u32)>::decode_all(&mut &args[..])
                .map_err(|_| QueryError::BadArguments)?;
            Ok(Models::models(start_after, limit).encode())
        }
        MODELS_SHARES => {
            let (id, who) = <(H256, AccountId)>::decode_all(&mut &args[..])
                .map_err(|_| QueryError::BadArguments)?;
            Ok(Models::shares_of(&id, &who).encode())
        }
        MODELS_CLAIMABLE => {
            let (id, who) = <(H256, AccountId)>::decode_all(&mut &args[..])
                .map_err(|_| QueryError::BadArguments)?;
            Ok(Models::claimable(&id, &who).encode())
        }
        COMPUTE_PROVIDERS => {
            let (start, limit) = <(Option<AccountId>, u32)>::decode_all(&mut &args[..])
                .map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Compute::providers(start, limit).encode())
        }
        COMPUTE_PROVIDER => {
            let who =
                AccountId::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Compute::provider(&who).encode())
        }
        COMPUTE_ORDERS => {
            let (start, limit) = <(Option<u64>, u32)>::decode_all(&mut &args[..])
                .map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Compute::orders(start, limit).encode())
        }
        COMPUTE_ORDER => {
            let id = u64::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Compute::order(id).encode())
        }
        COMPUTE_LEASE => {
            let id = u64::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Compute::lease(id).encode())
        }
        COMPUTE_LEASES => {
            let (who, limit) = <(AccountId, u32)>::decode_all(&mut &args[..])
                .map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Compute::leases_of(&who, limit).encode())
        }
        COMPUTE_CHALLENGES => {
            let who =
                AccountId::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Compute::open_challenges(&who).encode())
        }
        COMPUTE_CHALLENGE => {
            let id = u64::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Compute::challenge(id).encode())
        }
        COMPUTE_SUMMARY => Ok(crate::Compute::summary().encode()),
        COMPUTE_PENDING => {
            let who =
                AccountId::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Compute::pending(&who).encode())
        }
        INFERENCE_JOB => {
            let id = u64::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Inference::job(id).encode())
        }
        INFERENCE_JOBS => {
            let (who, limit) = <(AccountId, u32)>::decode_all(&mut &args[..])
                .map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Inference::jobs_of(&who, limit).encode())
        }
        INFERENCE_PROVIDER_JOBS
        | INFERENCE_VERIFIER_JOBS
        | INFERENCE_VERIFIER
        | INFERENCE_PENDING => {
            let who =
                AccountId::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(match method.as_slice() {
                INFERENCE_PROVIDER_JOBS => crate::Inference::provider_jobs(&who).encode(),
                INFERENCE_VERIFIER_JOBS => crate::Inference::verifier_jobs(&who).encode(),
                INFERENCE_VERIFIER => crate::Inference::verifier(&who).encode(),
                _ => crate::Inference::pending(&who).encode(),
            })
        }
        INFERENCE_PRICES => {
            let model = H256::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Inference::prices(&model).encode())
        }
        INFERENCE_SUMMARY => Ok(crate::Inference::summary().encode()),
        AGENTS_GET | AGENTS_GRANTS | AGENTS_ORDERS => {
            let who =
                AccountId::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(match method.as_slice() {
                AGENTS_GET => crate::Agents::agent(&who).encode(),
                AGENTS_GRANTS => crate::Agents::grants_of(&who).encode(),
                _ => crate::Agents::orders_of(&who).encode(),
            })
        }
        AGENTS_LIST => Ok(crate::Agents::agents().encode()),
        AGENTS_SPENDS => {
            let (who, before, limit) = <(AccountId, Option<u64>, u32)>::decode_all(&mut &args[..])
                .map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Agents::spends(&who, before, limit.min(MAX_SPENDS_PER_PAGE)).encode())
        }
        AGENTS_ORDER => {
            let id = u64::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Agents::order(id).encode())
        }
        RANDOMNESS_BEACON => Ok((System::block_number(), crate::Randomness::beacon()).encode()),
        GOVERNANCE_REFERENDA => {
            let (before, limit) = <(Option<u32>, u32)>::decode_all(&mut &args[..])
                .map_err(|_| QueryError::BadArguments)?;
            Ok(Governance::referenda(before, limit.min(MAX_REFERENDA_PER_PAGE)).encode())
        }
        GOVERNANCE_REFERENDUM => {
            let index = u32::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(Governance::referendum(index).encode())
        }
        GOVERNANCE_VOTE => {
            let (index, who) = <(u32, AccountId)>::decode_all(&mut &args[..])
                .map_err(|_| QueryError::BadArguments)?;
            Ok(Governance::vote_of(index, &who).encode())
        }
        GOVERNANCE_SUMMARY => Ok(GovernanceSummary {
            voting_period: Governance::voting_period(),
            enactment_delay: Governance::enactment_delay(),
            quorum: Governance::quorum(),
            total_held: Governance::total_held(),
            parameters: pallet_governance::Parameter::ALL
                .iter()
                .map(|p| {
                    (
                        *p,
                        executive::fee_parameter(*p),
                        executive::parameter_range(*p),
                    )
                })
                .collect(),
        }
        .encode()),
        CONTRACTS_INFO => {
            let who =
                AccountId::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Contracts::contract(&who).encode())
        }
        CONTRACTS_CODE => {
            let hash = H256::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Contracts::code_info(&hash)
                .zip(crate::Contracts::code(&hash))
                .encode())
        }
        CONTRACTS_STORAGE => {
            let (contract, key) = <(AccountId, Vec<u8>)>::decode_all(&mut &args[..])
                .map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Contracts::storage_value(&contract, &key).encode())
        }
        CONTRACTS_CALL => {
            let a = ContractsCallArgs::decode_all(&mut &args[..])
                .map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Contracts::dry_run_call(
                &a.origin,
                &a.contract,
                a.value,
                a.fuel_limit,
                a.storage_deposit_limit,
                a.input,
            )
            .encode())
        }
        CONTRACTS_INSTANTIATE => {
            let a = ContractsInstantiateArgs::decode_all(&mut &args[..])
                .map_err(|_| QueryError::BadArguments)?;
            Ok(crate::Contracts::dry_run_instantiate(
                &a.origin,
                a.code,
                a.value,
                a.fuel_limit,
                a.storage_deposit_limit,
                &a.salt,
                a.input,
                a.immutable,
            )
            .encode())
        }
        CONTRACTS_VALIDATE => {
            let code =
                Vec::<u8>::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(pallet_contracts::validate_code(&code)
                .map(|_| ())
                .map_err(|(e, detail)| {
                    let mut err = e.into_dispatch_error(
                        <crate::Runtime as pallet_contracts::Config>::PALLET_INDEX,
                    );
                    err.message = alloc::format!("{}: {detail}", err.message);
                    err
                })
                .encode())
        }
        // What the `upgrade-test` runtime adds: the old code does not know this query.
        #[cfg(feature = "upgrade-test")]
        crate::migrations::UPGRADE_TEST_QUERY => {
            Ok(crate::migrations::upgrade_test_runs().encode())
        }
        _ => Err(QueryError::UnknownMethod),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{RuntimeCall, SPEC_VERSION};
    use menara_primitives::{
        EquivocationProof, RuntimeVersion, SignedConsensusMessage, ValidatorRecord,
    };
    use menara_state_machine::{Ext, InMemoryState, OverlayedChanges};
    use menara_support::Origin;

    fn validator(i: u8) -> (ValidatorRecord, [u8; 96]) {
        let sk = menara_crypto::BlsSecretKey::from_seed(&[i; 32]);
        (
            ValidatorRecord {
                account: AccountId([i; 32]),
                bls_public_key: sk.public_key().to_bytes(),
                stake: 10,
            },
            sk.prove_possession().0.to_bytes(),
        )
    }

    fn run_query(name: &[u8], args: Vec<u8>) -> Result<Vec<u8>, QueryError> {
        let out = call(methods::QUERY, &(name.to_vec(), args).encode()).unwrap();
        Result::<Vec<u8>, QueryError>::decode_all(&mut &out[..]).unwrap()
    }

    #[test]
    fn genesis_fills_the_validators_query_and_refuses_an_empty_set() {
        let state = InMemoryState::default();
        let mut overlay = OverlayedChanges::new();
        menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
            let empty = GenesisConfig::default();
            let out = call(methods::BUILD_GENESIS, &empty.encode()).unwrap();
            let err = Result::<(), String>::decode_all(&mut &out[..])
                .unwrap()
                .unwrap_err();
            assert!(err.contains("invalid genesis validator set"), "{err}");
            let config = GenesisConfig {
                balances: Default::default(),
                session: pallet_session::GenesisConfig {
                    validators: vec![validator(2), validator(1)],
                },
                staking: Default::default(),
                compute: Default::default(),
                inference: Default::default(),
                governance: Default::default(),
            };
            let out = call(methods::BUILD_GENESIS, &config.encode()).unwrap();
            assert_eq!(
                Result::<(), String>::decode_all(&mut &out[..]).unwrap(),
                Ok(())
            );
            let set = run_query(queries::VALIDATORS, Vec::new()).unwrap();
            assert_eq!(
                Vec::<ValidatorRecord>::decode_all(&mut &set[..]).unwrap(),
                vec![validator(2).0, validator(1).0]
            );
            let offences = run_query(OFFENCES_QUERY, Vec::new()).unwrap();
            assert_eq!(
                Vec::<(pallet_offences::OffenceSlot, pallet_offences::OffenceRecord)>::decode_all(
                    &mut &offences[..]
                )
                .unwrap(),
                vec![]
            );
            assert_eq!(
                run_query(b"no_such_query", Vec::new()),
                Err(QueryError::UnknownMethod)
            );
        });
    }

    #[test]
    fn version_and_call_layout_are_what_the_node_relies_on() {
        let out = call(methods::VERSION, &[]).unwrap();
        let v = RuntimeVersion::decode_all(&mut &out[..]).unwrap();
        assert_eq!((v.spec_name.as_str(), v.spec_version), ("menara", 9));
        assert_eq!(SPEC_VERSION, 9);
        let message = SignedConsensusMessage {
            signing_bytes: vec![1, 2],
            signature: [3; 96],
        };
        let proof = EquivocationProof {
            offender: [4; 48],
            first: message.clone(),
            second: message,
        };
        let call = RuntimeCall::report_equivocation(proof.clone());
        assert_eq!(
            call,
            RuntimeCall::Offences(pallet_offences::Call::ReportEquivocation {
                proof: proof.clone()
            })
        );
        let encoded = call.encode();
        // Pallet index 3, call index 0, then the proof as SCALE.
        assert_eq!(&encoded[..2], &[3, 0]);
        assert_eq!(&encoded[2..], &proof.encode()[..]);
        assert_eq!(RuntimeCall::decode_all(&mut &encoded[..]).unwrap(), call);
        // The session pallet has no calls: nothing with its index decodes.
        assert!(RuntimeCall::decode_all(&mut &[2u8, 0][..]).is_err());
        // The models pallet is index 5; claim_royalties is its call 7.
        let id = H256([9; 32]);
        let call = RuntimeCall::Models(pallet_models::Call::ClaimRoyalties { id });
        let encoded = call.encode();
        assert_eq!(&encoded[..2], &[5, 7]);
        assert_eq!(&encoded[2..], &id.0[..]);
        assert_eq!(RuntimeCall::decode_all(&mut &encoded[..]).unwrap(), call);
    }

    #[test]
    fn model_registry_is_dispatched_and_queried() {
        use pallet_models::{ModelKind, ModelParams, ModelView, Version, TOTAL_SHARES};
        let state = InMemoryState::default();
        let mut overlay = OverlayedChanges::new();
        menara_support::io::with_externalities(&mut Ext::new(&state, &mut overlay), || {
            let owner = AccountId([1; 32]);
            let holder = AccountId([2; 32]);
            let men = menara_primitives::MEN;
            Balances::build_genesis(&pallet_balances::GenesisConfig {
                balances: vec![(owner, 10 * men), (holder, 10 * men)],
            })
            .unwrap();
            let id = H256([7; 32]);
            let params = ModelParams {
                file_root: H256([8; 32]),
                size: 90_000_000,
                name: b"all-MiniLM-L6-v2".to_vec(),
                version: Version {
                    major: 1,
                    minor: 0,
                    patch: 0,
                },
                kind: ModelKind::Encoder,
                shape: vec![30_522, 384, 6, 12, 1_536, 512, 256],
                numerics_version: 1,
                royalty: 1_000_000,
            };
            let register = RuntimeCall::Models(pallet_models::Call::Register {
                id,
                params: params.clone(),
            });
            executive::dispatch(Origin::Signed(owner), register.clone()).unwrap();
            let err = executive::dispatch(Origin::Signed(owner), register).unwrap_err();
            assert_eq!((err.pallet, err.message.as_str()), (5, "AlreadyRegistered"));
            let deposit = Models::required_deposit(&params, None).unwrap();
            assert!(deposit > men / 10 && deposit < men, "{deposit}");
            assert_eq!(Balances::free_balance(&owner), 10 * men - deposit);
            executive::dispatch(
                Origin::Signed(owner),
                RuntimeCall::Models(pallet_models::Call::TransferShares {
                    id,
                    to: holder,
                    amount: (TOTAL_SHARES / 4).into(),
                }),
            )
            .unwrap();
            Models::pay_royalty(&holder, &id, 4_000_000).unwrap();
            assert_eq!(
                Balances::total_issuance(),
                Balances::free_balance(&owner)
                    + Balances::free_balance(&holder)
                    + Models::total_held()
            );

            let out = run_query(MODELS_GET, id.encode()).unwrap();
            let view = Option::<ModelView>::decode_all(&mut &out[..])
                .unwrap()
                .unwrap();
            assert_eq!(view.id, id);
            assert_eq!(view.info.owner, owner);
            assert_eq!(view.info.deposit, deposit);
            assert_eq!(view.info.royalties_unclaimed, 4_000_000);
            assert_eq!(view.total_shares, TOTAL_SHARES);
            let out = run_query(MODELS_GET, H256([1; 32]).encode()).unwrap();
            assert_eq!(
                Option::<ModelView>::decode_all(&mut &out[..]).unwrap(),
                None
            );
            let out = run_query(MODELS_LIST, (None::<H256>, 10u32).encode()).unwrap();
            assert_eq!(
                Vec::<ModelView>::decode_all(&mut &out[..]).unwrap(),
                vec![view]
            );
            let out = run_query(MODELS_LIST, (Some(id), 10u32).encode()).unwrap();
            assert!(Vec::<ModelView>::decode_all(&mut &out[..])
                .unwrap()
                .is_empty());
            let out = run_query(MODELS_SHARES, (id, holder).encode()).unwrap();
            assert_eq!(u64::decode_all(&mut &out[..]).unwrap(), TOTAL_SHARES / 4);
            let out = run_query(MODELS_CLAIMABLE, (id, holder).encode()).unwrap();
            assert_eq!(
                menara_primitives::Balance::decode_all(&mut &out[..]).unwrap(),
                1_000_000
            );
            let out = run_query(MODELS_CLAIMABLE, (id, owner).encode()).unwrap();
            assert_eq!(
                menara_primitives::Balance::decode_all(&mut &out[..]).unwrap(),
                3_000_000
            );
            assert_eq!(
                run_query(MODELS_SHARES, id.encode()),
                Err(QueryError::BadArguments)
            );
        });
    }
}
