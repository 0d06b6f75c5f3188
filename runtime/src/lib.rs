//! The Menara runtime: the state-transition function.
//!
//! Built twice: to `wasm32-unknown-unknown` (what the chain runs; embedded in the node
//! as [`WASM_BINARY`] and stored on chain under `:code`), and natively (pallet tests and
//! the wasm-vs-native benchmark). The wasm build exports the runtime API (see
//! [`menara_primitives::api::methods`]) plus `alloc`/`dealloc` for the host.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[cfg(test)]
mod agent_authority_tests;
pub mod api;
pub mod calls;
pub mod executive;
pub mod migrations;
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
mod wasm;

use menara_primitives::{Balance, RuntimeVersion};
use menara_support::codec::{Decode, Encode};

#[cfg(feature = "std")]
include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));

/// Name of this chain logic; an upgrade must keep it.
pub const SPEC_NAME: &str = "menara";
/// Raised with every change of behaviour. The `upgrade-test` build (the runtime a test
/// upgrades a live chain to) is one above.
pub const SPEC_VERSION: u32 = if cfg!(feature = "upgrade-test") {
    10
} else {
    9
};

/// This runtime's version.
pub fn version() -> RuntimeVersion {
    RuntimeVersion {
        spec_name: SPEC_NAME.into(),
        spec_version: SPEC_VERSION,
        impl_version: 1,
        transaction_version: 1,
    }
}

/// Fee and size parameters.
pub mod fees {
    use super::Balance;
    /// Fee every transaction pays (0.0001 MEN).
    pub const BASE_FEE: Balance = 100_000_000;
    /// Fee per byte of the encoded transaction.
    pub const BYTE_FEE: Balance = 1_000_000;
    /// Largest accepted encoded transaction.
    pub const MAX_EXTRINSIC_SIZE: usize = 64 * 1024;
    /// Largest accepted encoded transaction of the large class (inference disputes,
    /// which carry one layer's tensors): fits a block (4 MiB) and an RPC request (hex).
    pub const MAX_LARGE_EXTRINSIC_SIZE: usize = 3 * 1024 * 1024;
    /// Fee per unit of dispute work (one multiply-accumulate or one byte hashed while
    /// re-executing a layer; the inference pallet's `call_work`). A block's whole work
    /// budget (`MAX_DISPUTE_WORK_PER_BLOCK`) costs what a block full of bytes (4 MiB at
    /// `BYTE_FEE`) costs: both scarce resources are priced alike at capacity.
    pub const WORK_FEE: Balance = 4_000;
    /// Fee per unit of contract fuel (a call pays for its whole fuel limit up front and
    /// gets the unused part back).
    pub const FUEL_FEE: Balance = 10;
}

/// The runtime's configuration of its pallets.
pub struct Runtime;

impl pallet_system::Config for Runtime {
    const PALLET_INDEX: u8 = 0;
    const MAX_EVENTS_PER_BLOCK: u32 = 100_000;
    const SPEC_NAME: &'static str = SPEC_NAME;
    const SPEC_VERSION: u32 = SPEC_VERSION;
    /// What a proposal in a large transaction can carry.
    const MAX_CODE_SIZE: u32 = MAX_PROPOSAL_SIZE;
}

/// Largest encoded call a governance proposal carries (a runtime upgrade's code, with the
/// call's few bytes of framing): a large-class transaction's limit less room for the rest.
pub const MAX_PROPOSAL_SIZE: u32 = fees::MAX_LARGE_EXTRINSIC_SIZE as u32 - 4 * 1024;

impl pallet_balances::Config for Runtime {
    const PALLET_INDEX: u8 = 1;
    /// 0.001 MEN.
    const EXISTENTIAL_DEPOSIT: Balance = 1_000_000_000;
}

impl pallet_session::Config for Runtime {
    const PALLET_INDEX: u8 = 2;
}

impl pallet_offences::Config for Runtime {
    const PALLET_INDEX: u8 = 3;
}

impl pallet_staking::Config for Runtime {
    const PALLET_INDEX: u8 = 4;
    /// 50 blocks (50 s at the default block time).
    const EPOCH_LENGTH: menara_primitives::BlockNumber = 50;
    const MAX_VALIDATORS: u32 = 100;
    /// 1,000 MEN.
    const MIN_SELF_BOND: Balance = 1_000 * menara_primitives::MEN;
    /// 1 MEN.
    const MIN_DELEGATION: Balance = menara_primitives::MEN;
    const UNBONDING_EPOCHS: pallet_staking::EpochIndex = 3;
    const SLASH_DEFER_EPOCHS: pallet_staking::EpochIndex = 2;
    /// 5% for signing conflicting consensus messages (and tombstoned).
    const EQUIVOCATION_SLASH: u32 = 50;
    /// 0.1% for missing too many votes (and jailed).
    const DOWNTIME_SLASH: u32 = 1;
    const DOWNTIME_JAIL_EPOCHS: pallet_staking::EpochIndex = 2;
    /// 10% of a slash goes to whoever reported it.
    const REPORTER_REWARD: u32 = 100;
    /// 80 per billion per 50-block epoch: about 5% a year at one block a second.
    const INFLATION_PER_EPOCH: u64 = 80;
}

impl pallet_models::Config for Runtime {
    const PALLET_INDEX: u8 = 5;
    /// 0.1 MEN per registered model.
    const DEPOSIT_BASE: Balance = menara_primitives::MEN / 10;
    /// 0.001 MEN per byte of the stored record (about 0.35 MEN for a typical model).
    const DEPOSIT_PER_BYTE: Balance = menara_primitives::MEN / 1_000;
    /// 8 GiB.
    const MAX_MODEL_SIZE: u64 = 8 << 30;
}

impl pallet_randomness::Config for Runtime {
    const PALLET_INDEX: u8 = 6;
}

impl pallet_compute::Config for Runtime {
    const PALLET_INDEX: u8 = 7;
    /// 100 MEN per GPU of weight 1: 400 MEN per H100, 3,200 MEN for eight.
    const COLLATERAL_PER_GPU: Balance = 100 * menara_primitives::MEN;
    /// 1 MEN.
    const BID_DEPOSIT: Balance = menara_primitives::MEN;
    const MAX_BIDS_PER_ORDER: u32 = 16;
    /// One minute at one block a second.
    const MIN_ESCROW_BLOCKS: menara_primitives::BlockNumber = 60;
    /// About 115 days.
    const MAX_LEASE_BLOCKS: menara_primitives::BlockNumber = 10_000_000;
    const BID_WINDOW: menara_primitives::BlockNumber = 10;
    const ORDER_TTL: menara_primitives::BlockNumber = 600;
    const NOTICE_BLOCKS: menara_primitives::BlockNumber = 60;
    /// As long as staked funds take to unbond (three 50-block epochs), and far longer
    /// than a challenge takes to resolve (answer, draw, reveal: 21 blocks).
    const UNBONDING_BLOCKS: menara_primitives::BlockNumber = 150;
    /// About once every 100 blocks per lease (every 10 on chains with test challenges).
    const CHALLENGE_PERIOD: menara_primitives::BlockNumber = 100;
    /// Half the audit capacity, so every answered challenge finds room for its audit.
    const MAX_CHALLENGES_PER_BLOCK: u32 = 8;
    /// The deadline that separates the declared GPU from a CPU: about 10 s.
    const ANSWER_BLOCKS: menara_primitives::BlockNumber = 10;
    const REVEAL_BLOCKS: menara_primitives::BlockNumber = 10;
    /// One audit re-executes one step (33.5 M multiply-adds for an H100 challenge, the
    /// product on the host): about 8.5 ms (`challenge_audit` benchmark), so at most
    /// ~0.14 s of a block.
    const MAX_AUDITS_PER_BLOCK: u32 = 16;
    /// 10% of the collateral per failed challenge.
    const CHALLENGE_SLASH_PER_MILL: u32 = 100;
    const JAIL_BLOCKS: menara_primitives::BlockNumber = 600;
}

impl pallet_inference::Config for Runtime {
    const PALLET_INDEX: u8 = 8;
    /// 512 token ids, or 16 KiB of MLP rows.
    const MAX_INPUT_BYTES: u32 = 16 * 1024;
    /// 20 s for the provider to run and commit a job.
    const COMMIT_BLOCKS: menara_primitives::BlockNumber = 20;
    /// Time for sampling (1 block), the verifiers and any other challenger.
    const CHALLENGE_WINDOW: menara_primitives::BlockNumber = 30;
    /// One job in ten is re-executed.
    const DEFAULT_SAMPLE_PER_MILL: u32 = 100;
    /// A quarter of the sampled jobs go to two verifiers (lazy verifiers get caught).
    const DEFAULT_DOUBLE_PER_MILL: u32 = 250;
    /// 5% of the price pays for verification.
    const VERIFY_FEE_PER_MILL: u32 = 50;
    /// Half the collateral for a proven wrong output.
    const CHEAT_SLASH_PER_MILL: u32 = 500;
    /// 1% of the collateral, to the client, for a missed commitment.
    const MISS_SLASH_PER_MILL: u32 = 10;
    /// 1 MEN.
    const CHALLENGE_BOND: Balance = menara_primitives::MEN;
    /// A right challenger earns a fifth of the slash.
    const CHALLENGER_SHARE_PER_MILL: u32 = 200;
    /// 100 MEN.
    const MIN_VERIFIER_BOND: Balance = 100 * menara_primitives::MEN;
    const VERIFIER_MISS_PER_MILL: u32 = 10;
    const VERIFIER_WRONG_PER_MILL: u32 = 200;
    const VERIFIER_UNBONDING: menara_primitives::BlockNumber = 150;
    /// At most 0.52 s of a block at the 0.52 ns per unit the `dispute` benchmark measured
    /// in wasm for numerics v1 (less since the host GEMM uses AVX2 / AVX-512). Numerics v2
    /// runs every GEMM on twice the rows, so MiniLM's largest layer costs 303 M units at 128
    /// tokens and 606 M at its 256-token maximum: one full-length sequence must fit a block,
    /// or a job of it could never be disputed.
    const MAX_DISPUTE_WORK_PER_BLOCK: u64 = 1_000_000_000;
    fn on_job_closed(job: pallet_inference::JobId) {
        Contracts::note_job_closed(job);
    }
}

impl pallet_agents::Config for Runtime {
    const PALLET_INDEX: u8 = 9;
    /// 10 MEN.
    const MIN_OWNER_BOND: Balance = 10 * menara_primitives::MEN;
    const MAX_NAME_LEN: u32 = 64;
    const MAX_ENDPOINT_LEN: u32 = 256;
    const MAX_GRANT_LIST: u32 = 32;
    /// About 11.5 days at one block a second.
    const MAX_GRANT_PERIOD: menara_primitives::BlockNumber = 1_000_000;
    const MAX_WINDOW_ENTRIES: u32 = 64;
    const MAX_SPENDS_KEPT: u64 = 1_000;
    const MAX_GRANTS_PER_AGENT: u32 = 1_024;
    const MAX_OPEN_ORDERS: u32 = 64;
    /// About 28 hours.
    const MAX_ORDER_BLOCKS: menara_primitives::BlockNumber = 100_000;
    /// 10% of the pool for an output a dispute proved wrong.
    const WRONG_OUTPUT_SLASH_PER_MILL: u32 = 100;
    /// 5%, as for a validator's equivocation.
    const EQUIVOCATION_SLASH_PER_MILL: u32 = 50;
    /// 1% for a missed order.
    const MISSED_DEADLINE_SLASH_PER_MILL: u32 = 10;
    /// A model's ownership and royalty shares are worth more than the budget can see.
    const EXPLICIT_ONLY: &'static [pallet_agents::CallKind] = &[
        pallet_agents::CallKind { pallet: 5, call: 4 },
        pallet_agents::CallKind { pallet: 5, call: 6 },
    ];
}

impl pallet_governance::Config for Runtime {
    const PALLET_INDEX: u8 = 10;
    /// 100 MEN, back when the referendum ends unless the validators cancel it.
    const PROPOSAL_DEPOSIT: Balance = 100 * menara_primitives::MEN;
    /// 0.00001 MEN per byte: about 9 MEN more for this tree's 0.9 MB runtime.
    const DEPOSIT_PER_BYTE: Balance = menara_primitives::MEN / 100_000;
    const MAX_CALL_SIZE: u32 = MAX_PROPOSAL_SIZE;
    const MAX_LIVE: u32 = 16;
    /// 100 blocks: no longer than the shortest unbonding (stake unbonding in an epoch's
    /// last block is withdrawable two epochs and one block later, 101 blocks), so stake
    /// that voted cannot be moved to another account and vote again.
    const VOTING_PERIOD: menara_primitives::BlockNumber = 100;
    /// Half a minute for the validators' emergency cancel.
    const ENACTMENT_DELAY: menara_primitives::BlockNumber = 30;
    /// A fifth of all bonded stake must vote.
    const QUORUM_PER_MILL: u32 = 200;
    /// Two thirds of the active set's stake, as for finality.
    const EMERGENCY_CANCEL_PER_MILL: u32 = 667;
    fn inspect_call(
        call: &[u8],
    ) -> Result<pallet_governance::ProposalKind, menara_primitives::DispatchError> {
        executive::inspect_proposal(call)
    }
    fn parameter_range(parameter: pallet_governance::Parameter) -> (u128, u128) {
        executive::parameter_range(parameter)
    }
}

/// What contracts' AI host API reaches: the model registry, verified inference and the
/// compute market, in the ABI's own records.
pub struct ContractsAi;

impl pallet_contracts::AiHost for ContractsAi {
    fn model(id: [u8; 32]) -> Option<pallet_contracts::abi::AiModel> {
        let m = Models::model(&menara_primitives::H256(id))?;
        Some(pallet_contracts::abi::AiModel {
            owner: m.owner.0,
            kind: m.kind.encode().first().copied().unwrap_or(0),
            royalty_per_inference: m.royalty_per_inference,
            deprecated: m.deprecated,
            numerics_version: m.numerics_version,
            next: m.next.map(|n| n.0),
        })
    }

    fn submit(
        payer: &menara_primitives::AccountId,
        request: &pallet_contracts::abi::AiRequest,
    ) -> Result<u64, menara_primitives::DispatchError> {
        use gpu_verify_core::engine::{ActData, Activation};
        use menara_support::PalletError;
        let input = match &request.input {
            pallet_contracts::abi::AiInput::Tokens(ids) => {
                Activation::tokens(core::slice::from_ref(ids))
            }
            pallet_contracts::abi::AiInput::Rows { cols, data } => Activation {
                lens: alloc::vec![data.len().checked_div(*cols as usize).unwrap_or(0) as u32],
                cols: *cols,
                data: ActData::I8(data.clone()),
            },
        };
        Inference::submit(
            payer,
            menara_primitives::H256(request.model),
            input,
            request.max_fee,
            request.provider.map(menara_primitives::AccountId),
        )
        .map_err(|e| e.into_dispatch_error(<Runtime as pallet_inference::Config>::PALLET_INDEX))
    }

    fn job(id: u64) -> Option<pallet_contracts::abi::AiJob> {
        use gpu_verify_core::engine::ActData;
        let job = Inference::job(id)?.job;
        let output = job.output.and_then(|o| match o.data {
            ActData::I16(values) => Some(values),
            ActData::I8(values) => Some(values.into_iter().map(i16::from).collect()),
            ActData::Tokens(_) => None,
        });
        Some(pallet_contracts::abi::AiJob {
            client: job.client.0,
            provider: job.provider.0,
            model: job.model.0,
            fee: job.fee,
            state: job.state.encode().first().copied().unwrap_or(0),
            output,
        })
    }

    fn lease(id: u64) -> Option<pallet_contracts::abi::AiLease> {
        let lease = Compute::lease(id)?.lease;
        Some(pallet_contracts::abi::AiLease {
            tenant: lease.tenant.0,
            provider: lease.provider.0,
            gpus: lease.resources.gpu_count,
            price_per_block: lease.price_per_block,
            start: lease.start,
            end: lease.end,
            escrow: lease.escrow,
        })
    }
}

impl pallet_contracts::Config for Runtime {
    const PALLET_INDEX: u8 = 11;
    type Ai = ContractsAi;
    const FUEL_PRICE: Balance = fees::FUEL_FEE;
    const MAX_CALLBACK_FUEL: u64 = 5_000_000;
    const MAX_CALLBACKS_PER_BLOCK: u32 = 4;
    const MAX_PENDING_CALLBACKS: u32 = 4_096;
    const CODE_DEPOSIT_BASE: Balance = menara_primitives::MEN / 10;
    const CODE_DEPOSIT_PER_BYTE: Balance = menara_primitives::MEN / 10_000;
    const ITEM_DEPOSIT: Balance = menara_primitives::MEN / 1_000;
    const BYTE_DEPOSIT: Balance = menara_primitives::MEN / 100_000;
    // The interpreter runs about 230 million fuel a second inside the wasm runtime (bench
    // `contracts`, 2-core test machine): a block's contracts take at most ~0.2 s of a 1 s
    // block.
    const MAX_FUEL_PER_CALL: u64 = 25_000_000;
    const MAX_FUEL_PER_BLOCK: u64 = 50_000_000;
}

// Stake that voted cannot vote again through another account: moving it takes at least
// the shortest unbonding (from an epoch's last block to the start of the epoch
// `UNBONDING_EPOCHS` later), which must outlast voting.
const _: () = {
    use pallet_staking::Config as S;
    let shortest_unbonding =
        (<Runtime as S>::UNBONDING_EPOCHS - 1) * <Runtime as S>::EPOCH_LENGTH + 1;
    assert!(<Runtime as pallet_governance::Config>::VOTING_PERIOD < shortest_unbonding);
};

// An agent's slash must land while the stake that backed the offence is still unbonding.
const _: () = {
    use pallet_staking::Config as S;
    assert!(<Runtime as S>::SLASH_DEFER_EPOCHS < <Runtime as S>::UNBONDING_EPOCHS);
};

// A provider or verifier must stay slashable for as long as a job it took part in can
// still be disputed: their unbonding outlasts a job's whole life.
const _: () = {
    use pallet_inference::Config as I;
    let job_life = <Runtime as I>::COMMIT_BLOCKS + <Runtime as I>::CHALLENGE_WINDOW;
    assert!(<Runtime as pallet_compute::Config>::UNBONDING_BLOCKS > job_life);
    assert!(<Runtime as I>::VERIFIER_UNBONDING > <Runtime as I>::CHALLENGE_WINDOW);
};

/// The system pallet of this runtime.
pub type System = pallet_system::Pallet<Runtime>;
/// The balances pallet of this runtime.
pub type Balances = pallet_balances::Pallet<Runtime>;
/// The session pallet (validator set) of this runtime.
pub type Session = pallet_session::Pallet<Runtime>;
/// The offences pallet (equivocation reports) of this runtime.
pub type Offences = pallet_offences::Pallet<Runtime>;
/// The staking pallet (bonds, delegations, rewards, slashing, elections) of this runtime.
pub type Staking = pallet_staking::Pallet<Runtime>;
/// The models pallet (model registry, versions, royalties) of this runtime.
pub type Models = pallet_models::Pallet<Runtime>;
/// The randomness pallet (the beacon) of this runtime.
pub type Randomness = pallet_randomness::Pallet<Runtime>;
/// The compute pallet (GPU market, leases, availability challenges) of this runtime.
pub type Compute = pallet_compute::Pallet<Runtime>;
/// The inference pallet (jobs, verifiers, one-layer disputes) of this runtime.
pub type Inference = pallet_inference::Pallet<Runtime>;
/// The agents pallet (staked agents, grants, orders) of this runtime.
pub type Agents = pallet_agents::Pallet<Runtime>;
/// The governance pallet (referenda, Root calls, parameters) of this runtime.
pub type Governance = pallet_governance::Pallet<Runtime>;
pub type Contracts = pallet_contracts::Pallet<Runtime>;

pub use {
    pallet_agents, pallet_balances, pallet_compute, pallet_contracts, pallet_governance,
    pallet_inference, pallet_models, pallet_offences, pallet_randomness, pallet_session,
    pallet_staking, pallet_system,
};

/// Every call of every pallet; the first byte selects the pallet.
// An equivocation report (two messages of ~100 bytes) is larger than other calls; calls
// are short-lived values decoded from at most 64 KiB transactions, so boxing it would only
// make building one clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum RuntimeCall {
    /// System pallet.
    #[codec(index = 0)]
    System(pallet_system::Call),
    /// Balances pallet.
    #[codec(index = 1)]
    Balances(pallet_balances::Call),
    /// Session pallet (no calls yet).
    #[codec(index = 2)]
    Session(pallet_session::Call),
    /// Offences pallet.
    #[codec(index = 3)]
    Offences(pallet_offences::Call),
    /// Staking pallet.
    #[codec(index = 4)]
    Staking(pallet_staking::Call),
    /// Models pallet (model registry).
    #[codec(index = 5)]
    Models(pallet_models::Call),
    /// Randomness pallet (no calls).
    #[codec(index = 6)]
    Randomness(pallet_randomness::Call),
    /// Compute pallet (GPU market).
    #[codec(index = 7)]
    Compute(pallet_compute::Call),
    /// Inference pallet (verified inference jobs).
    #[codec(index = 8)]
    Inference(pallet_inference::Call),
    /// Agents pallet (staked agents, grants, orders).
    #[codec(index = 9)]
    Agents(pallet_agents::Call),
    /// Governance pallet (referenda).
    #[codec(index = 10)]
    Governance(pallet_governance::Call),
    #[codec(index = 11)]
    Contracts(pallet_contracts::Call),
}

impl RuntimeCall {
    /// The call reporting an equivocation (pallet `Offences`, call 0), for any signed
    /// account to submit.
    pub fn report_equivocation(proof: menara_primitives::EquivocationProof) -> Self {
        RuntimeCall::Offences(pallet_offences::Call::ReportEquivocation { proof })
    }
}

/// Every event of every pallet, for decoding [`menara_primitives::EventRecord`]s.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub enum RuntimeEvent {
    /// System pallet.
    #[codec(index = 0)]
    System(pallet_system::Event),
    /// Balances pallet.
    #[codec(index = 1)]
    Balances(pallet_balances::Event),
    /// Session pallet (no events yet).
    #[codec(index = 2)]
    Session(pallet_session::Event),
    /// Offences pallet.
    #[codec(index = 3)]
    Offences(pallet_offences::Event),
    /// Staking pallet.
    #[codec(index = 4)]
    Staking(pallet_staking::Event),
    /// Models pallet.
    #[codec(index = 5)]
    Models(pallet_models::Event),
    /// Randomness pallet (no events).
    #[codec(index = 6)]
    Randomness(pallet_randomness::Event),
    /// Compute pallet.
    #[codec(index = 7)]
    Compute(pallet_compute::Event),
    /// Inference pallet.
    #[codec(index = 8)]
    Inference(pallet_inference::Event),
    /// Agents pallet.
    #[codec(index = 9)]
    Agents(pallet_agents::Event),
    /// Governance pallet.
    #[codec(index = 10)]
    Governance(pallet_governance::Event),
    #[codec(index = 11)]
    Contracts(pallet_contracts::Event),
}

impl RuntimeEvent {
    /// Decodes a stored event record's payload.
    pub fn from_record(record: &menara_primitives::EventRecord) -> Option<Self> {
        let mut bytes = alloc::vec::Vec::with_capacity(record.event.len() + 1);
        bytes.push(record.pallet);
        bytes.extend_from_slice(&record.event);
        menara_support::codec::DecodeAll::decode_all(&mut &bytes[..]).ok()
    }
}

/// A transaction of this runtime.
pub type Transaction = menara_primitives::SignedTransaction<RuntimeCall>;

/// Genesis configuration of every pallet.
#[derive(Clone, PartialEq, Eq, Debug, Default, Encode, Decode)]
pub struct GenesisConfig {
    /// Initial balances.
    pub balances: pallet_balances::GenesisConfig,
    /// Initial validator set (with proofs of possession).
    pub session: pallet_session::GenesisConfig,
    /// Initial bonds and delegations (the genesis validators' self-bonds).
    pub staking: pallet_staking::GenesisConfig,
    /// Compute market parameters (test challenges on development chains).
    pub compute: pallet_compute::GenesisConfig,
    /// Inference parameters (sampling rates).
    pub inference: pallet_inference::GenesisConfig,
    /// Governance periods (shorter on test chains).
    pub governance: pallet_governance::GenesisConfig,
}
