//! The JSON shapes on the wire, shared by the server and [`crate::client`].
//!
//! Bytes, hashes and accounts are `"0x"`-prefixed lowercase hex strings; `u128` amounts
//! are decimal strings (JSON numbers lose precision above 2^53 in most clients).
use menara_primitives::{AccountId, BlockNumber, Header, H256};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Opaque bytes, serialized as a `"0x..."` hex string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        from_hex(&s).map(Bytes).map_err(serde::de::Error::custom)
    }
}

/// `0x` followed by the lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    s.push_str(&hex::encode(bytes));
    s
}

/// Decodes hex with an optional `0x` prefix; the error says what is wrong.
pub fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    hex::decode(digits).map_err(|e| match e {
        hex::FromHexError::OddLength => format!("odd number of hex digits ({})", digits.len()),
        hex::FromHexError::InvalidHexCharacter { c, index } => {
            format!(
                "invalid character {c:?} at position {}",
                index + (s.len() - digits.len())
            )
        }
        other => other.to_string(),
    })
}

/// `u128` as a decimal string (serde `with` module).
pub mod u128_decimal {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes as a decimal string.
    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    /// Accepts a decimal string (or a JSON integer, for lenient clients).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum StrOrNum {
            Str(String),
            Num(u64),
        }
        match StrOrNum::deserialize(d)? {
            StrOrNum::Str(s) => s.parse::<u128>().map_err(|e| {
                serde::de::Error::custom(format!("expected a decimal u128 string, got {s:?}: {e}"))
            }),
            StrOrNum::Num(n) => Ok(u128::from(n)),
        }
    }
}

/// `chain_getBlock`: a block in Substrate's `SignedBlock` shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedBlock {
    /// The block.
    pub block: BlockJson,
    /// The block's commit certificate (SCALE, hex), when it has one.
    pub justification: Option<Bytes>,
}

/// A block: header as JSON, extrinsics as hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockJson {
    /// The header.
    pub header: Header,
    /// SCALE-encoded extrinsics.
    pub extrinsics: Vec<Bytes>,
}

/// `state_getReadProof`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadProofJson {
    /// Block whose state the proofs are against.
    pub at: H256,
    /// That block's state root.
    pub state_root: H256,
    /// One entry per requested key, in request order.
    pub proof: Vec<ProofEntryJson>,
}

/// One key of a [`ReadProofJson`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofEntryJson {
    /// The storage key.
    pub key: Bytes,
    /// Its value, `null` when absent.
    pub value: Option<Bytes>,
    /// SCALE encoding of `menara_primitives::trie::StateProof`.
    pub proof: Bytes,
}

/// `balances_getAccount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountJson {
    /// Next nonce.
    pub nonce: u64,
    /// Spendable balance, decimal string.
    #[serde(with = "u128_decimal")]
    pub free: u128,
}

/// `rpc_methods`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodsJson {
    /// Names of the methods this server answers, sorted.
    pub methods: Vec<String>,
}

// ---- Compute market (`compute_*`) ----
//
// GPU classes travel by name (`"H100"`), states and reasons by their variant names
// (`"Active"`, `"ClosedByTenant"`), amounts as decimal strings, ids and blocks as numbers.

/// Resources a provider offers or an order asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesJson {
    /// GPU class name, as `GpuClass::name` writes it.
    pub gpu: String,
    /// Number of GPUs.
    pub gpu_count: u32,
    /// Memory per GPU in GiB (an order's is a minimum).
    pub vram_gib: u32,
    /// Region; empty in an order means any.
    pub region: String,
}

/// A provider's track record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderRecordJson {
    /// Leases that ended normally.
    pub leases_completed: u32,
    /// Leases closed because the provider failed a challenge.
    pub leases_failed: u32,
    /// Challenges passed.
    pub challenges_passed: u32,
    /// Slashed from its collateral in total.
    #[serde(with = "u128_decimal")]
    pub slashed: u128,
}

/// `compute_provider`, `compute_providers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderJson {
    /// Its account.
    pub account: AccountId,
    /// What it offers.
    pub offer: ResourcesJson,
    /// Models it serves.
    pub models: Vec<H256>,
    /// Asking price per block for the whole offer.
    #[serde(with = "u128_decimal")]
    pub price_per_block: u128,
    /// Collateral held.
    #[serde(with = "u128_decimal")]
    pub collateral: u128,
    /// Collateral its offer requires.
    #[serde(with = "u128_decimal")]
    pub required_collateral: u128,
    /// Earnings not yet withdrawn.
    #[serde(with = "u128_decimal")]
    pub earnings: u128,
    /// GPUs in running leases.
    pub gpus_leased: u32,
    /// Its running leases.
    pub leases: Vec<u64>,
    /// `Active`, `Jailed` or `Leaving`.
    pub status: String,
    /// With `Jailed`: the first block it may bid again.
    pub jailed_until: Option<BlockNumber>,
    /// With `Leaving`: the block it left at.
    pub leaving_since: Option<BlockNumber>,
    /// Its record.
    pub record: ProviderRecordJson,
    /// Block it registered at.
    pub registered_at: BlockNumber,
}

/// A bid on an open order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BidJson {
    /// The bid's id.
    pub id: u64,
    /// The provider.
    pub provider: AccountId,
    /// Price per block.
    #[serde(with = "u128_decimal")]
    pub price_per_block: u128,
    /// Deposit held.
    #[serde(with = "u128_decimal")]
    pub deposit: u128,
    /// Block it was placed at.
    pub placed_at: BlockNumber,
}

/// `compute_order`, `compute_orders`: an open order with its bids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderJson {
    /// The order's id.
    pub id: u64,
    /// Who pays.
    pub tenant: AccountId,
    /// What it asks for.
    pub resources: ResourcesJson,
    /// A model the provider must serve.
    pub model: Option<H256>,
    /// Highest acceptable price per block.
    #[serde(with = "u128_decimal")]
    pub max_price_per_block: u128,
    /// Lease duration in blocks.
    pub duration: BlockNumber,
    /// Escrow held.
    #[serde(with = "u128_decimal")]
    pub escrow: u128,
    /// Matched to the cheapest bid after the bid window.
    pub auto_match: bool,
    /// Block it was opened at.
    pub opened_at: BlockNumber,
    /// Its bids, in arrival order.
    pub bids: Vec<BidJson>,
}

/// `compute_lease`, `compute_leases`: a lease as settlement at the best block leaves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseJson {
    /// The lease's id.
    pub id: u64,
    /// The order it came from.
    pub order: u64,
    /// Who pays.
    pub tenant: AccountId,
    /// Who serves.
    pub provider: AccountId,
    /// Resources leased.
    pub resources: ResourcesJson,
    /// Price per block.
    #[serde(with = "u128_decimal")]
    pub price_per_block: u128,
    /// Block it started at (paid from the next block on).
    pub start: BlockNumber,
    /// Contracted duration in blocks.
    pub duration: BlockNumber,
    /// Contracted end, earlier once the provider gave notice.
    pub end: BlockNumber,
    /// Block the lease ends at: `min(end, settledAt + escrow / price)`.
    pub dry_at: BlockNumber,
    /// Paid up to this block.
    pub settled_at: BlockNumber,
    /// Escrow left.
    #[serde(with = "u128_decimal")]
    pub escrow: u128,
    /// Escrow deposited in total (order escrow and top-ups).
    #[serde(with = "u128_decimal")]
    pub deposited: u128,
    /// Paid to the provider so far.
    #[serde(with = "u128_decimal")]
    pub paid: u128,
    /// The provider's bid deposit held with the lease.
    #[serde(with = "u128_decimal")]
    pub bid_deposit: u128,
    /// The challenge it has open, if any.
    pub open_challenge: Option<u64>,
    /// `Active` or `Closed`.
    pub state: String,
    /// With `Closed`: the block it closed at.
    pub closed_at: Option<BlockNumber>,
    /// With `Closed`: why (`Completed`, `EscrowExhausted`, `ClosedByTenant`,
    /// `ClosedByProvider`, `ChallengeFailed`).
    pub close_reason: Option<String>,
}

/// The size of a challenge workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeShapeJson {
    /// Rows of the activation.
    pub seq: u32,
    /// Columns of the activation and both dimensions of the weights.
    pub width: u32,
    /// Number of sequential steps.
    pub depth: u32,
}

/// `compute_challenge`, `compute_challenges`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeJson {
    /// The challenge's id.
    pub id: u64,
    /// The lease challenged.
    pub lease: u64,
    /// The provider that must answer.
    pub provider: AccountId,
    /// Seed of the workload.
    pub seed: H256,
    /// Size of the workload.
    pub shape: ChallengeShapeJson,
    /// Block it was issued in.
    pub issued_at: BlockNumber,
    /// Last block for the answer.
    pub answer_by: BlockNumber,
    /// `Issued`, `Answered`, `Passed` or `Failed`.
    pub state: String,
    /// With `Answered`: the Merkle root posted.
    pub root: Option<H256>,
    /// With `Answered`: the block the answer landed in.
    pub answered_at: Option<BlockNumber>,
    /// With `Answered`: the last block for the reveal.
    pub reveal_by: Option<BlockNumber>,
    /// With `Failed`: why (`NoAnswer`, `NoReveal`, `WrongAnswer`).
    pub fail_reason: Option<String>,
    /// The step to reveal, once drawn.
    pub audit_step: Option<u32>,
}

/// `compute_summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComputeSummaryJson {
    /// Running leases.
    pub active_leases: u32,
    /// Held by the compute pallet (collateral, deposits, escrows, earnings).
    #[serde(with = "u128_decimal")]
    pub total_held: u128,
    /// Slashed and burned in total.
    #[serde(with = "u128_decimal")]
    pub total_burned: u128,
}

fn resources_json(r: &pallet_compute::Resources) -> ResourcesJson {
    ResourcesJson {
        gpu: r.gpu.name().to_owned(),
        gpu_count: r.gpu_count,
        vram_gib: r.vram_gib,
        region: String::from_utf8_lossy(&r.region).into_owned(),
    }
}

impl From<&pallet_compute::ProviderView> for ProviderJson {
    fn from(v: &pallet_compute::ProviderView) -> Self {
        use pallet_compute::ProviderStatus;
        let p = &v.provider;
        let (status, jailed_until, leaving_since) = match p.status {
            ProviderStatus::Active => ("Active", None, None),
            ProviderStatus::Jailed { until } => ("Jailed", Some(until), None),
            ProviderStatus::Leaving { since } => ("Leaving", None, Some(since)),
        };
        ProviderJson {
            account: v.account,
            offer: resources_json(&p.offer),
            models: p.models.clone(),
            price_per_block: p.price_per_block,
            collateral: p.collateral,
            required_collateral: v.required_collateral,
            earnings: p.earnings,
            gpus_leased: p.gpus_leased,
            leases: p.leases.clone(),
            status: status.to_owned(),
            jailed_until,
            leaving_since,
            record: ProviderRecordJson {
                leases_completed: p.record.leases_completed,
                leases_failed: p.record.leases_failed,
                challenges_passed: p.record.challenges_passed,
                slashed: p.record.slashed,
            },
            registered_at: p.registered_at,
        }
    }
}

impl From<&pallet_compute::OrderView> for OrderJson {
    fn from(v: &pallet_compute::OrderView) -> Self {
        let o = &v.order;
        OrderJson {
            id: v.id,
            tenant: o.tenant,
            resources: resources_json(&o.resources),
            model: o.model,
            max_price_per_block: o.max_price_per_block,
            duration: o.duration,
            escrow: o.escrow,
            auto_match: o.auto_match,
            opened_at: o.opened_at,
            bids: v
                .bids
                .iter()
                .map(|(id, b)| BidJson {
                    id: *id,
                    provider: b.provider,
                    price_per_block: b.price_per_block,
                    deposit: b.deposit,
                    placed_at: b.placed_at,
                })
                .collect(),
        }
    }
}

impl From<&pallet_compute::LeaseView> for LeaseJson {
    fn from(v: &pallet_compute::LeaseView) -> Self {
        use pallet_compute::LeaseState;
        let l = &v.lease;
        let (state, closed_at, close_reason) = match l.state {
            LeaseState::Active => ("Active", None, None),
            LeaseState::Closed { at, reason } => ("Closed", Some(at), Some(format!("{reason:?}"))),
        };
        LeaseJson {
            id: v.id,
            order: l.order,
            tenant: l.tenant,
            provider: l.provider,
            resources: resources_json(&l.resources),
            price_per_block: l.price_per_block,
            start: l.start,
            duration: l.duration,
            end: l.end,
            dry_at: l.dry_at,
            settled_at: l.settled_at,
            escrow: l.escrow,
            deposited: l.deposited,
            paid: l.paid,
            bid_deposit: l.bid_deposit,
            open_challenge: l.open_challenge,
            state: state.to_owned(),
            closed_at,
            close_reason,
        }
    }
}

impl From<&pallet_compute::ChallengeView> for ChallengeJson {
    fn from(v: &pallet_compute::ChallengeView) -> Self {
        use pallet_compute::ChallengeState;
        let c = &v.challenge;
        let (state, root, answered_at, reveal_by, fail_reason) = match &c.state {
            ChallengeState::Issued => ("Issued", None, None, None, None),
            ChallengeState::Answered {
                root,
                answered_at,
                reveal_by,
            } => (
                "Answered",
                Some(*root),
                Some(*answered_at),
                Some(*reveal_by),
                None,
            ),
            ChallengeState::Passed => ("Passed", None, None, None, None),
            ChallengeState::Failed(why) => ("Failed", None, None, None, Some(format!("{why:?}"))),
        };
        ChallengeJson {
            id: v.id,
            lease: c.lease,
            provider: c.provider,
            seed: c.seed,
            shape: ChallengeShapeJson {
                seq: c.shape.seq,
                width: c.shape.width,
                depth: c.shape.depth,
            },
            issued_at: c.issued_at,
            answer_by: c.answer_by,
            state: state.to_owned(),
            root,
            answered_at,
            reveal_by,
            fail_reason,
            audit_step: v.audit_step,
        }
    }
}

impl From<&pallet_compute::ComputeSummary> for ComputeSummaryJson {
    fn from(s: &pallet_compute::ComputeSummary) -> Self {
        ComputeSummaryJson {
            active_leases: s.active_leases,
            total_held: s.total_held,
            total_burned: s.total_burned,
        }
    }
}

// ---- Verified inference (`inference_*`) ----
//
// Job states, check answers and verifier statuses travel as lower-case names (`"pending"`,
// `"agreed"`, `"active"`), amounts as decimal strings, ids and blocks as numbers, hashes
// as hex.

/// Scale of an encoder's output: the pooled, L2-normalised embedding in Q15, `32767` ~ 1.0.
pub const Q15_ONE: f64 = 32767.0;

/// A job's input or output: `lens[s]` rows belong to sequence `s`, each of `cols` values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivationJson {
    /// `tokens` (encoder input: token ids, `cols` 1), `i8` (MLP rows) or `i16` (an
    /// encoder's output embedding, Q15).
    pub kind: String,
    /// Rows per sequence.
    pub lens: Vec<u32>,
    /// Values per row.
    pub cols: u32,
    /// The values, row-major, as integers.
    pub values: Vec<i64>,
    /// With `i16`: the values as real numbers (`value / 32767`), row-major: one row of
    /// `cols` values per sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f64>>,
}

impl ActivationJson {
    /// Back to the runtime's activation (values out of range for the kind are an error).
    pub fn to_activation(&self) -> Result<gpu_verify_core::engine::Activation, String> {
        use gpu_verify_core::engine::ActData;
        fn convert<T: TryFrom<i64>>(values: &[i64], kind: &str) -> Result<Vec<T>, String> {
            values
                .iter()
                .map(|&v| {
                    T::try_from(v).map_err(|_| format!("{v} is out of range for {kind} values"))
                })
                .collect()
        }
        let data = match self.kind.as_str() {
            "tokens" => ActData::Tokens(convert(&self.values, "token")?),
            "i8" => ActData::I8(convert(&self.values, "i8")?),
            "i16" => ActData::I16(convert(&self.values, "i16")?),
            other => return Err(format!("unknown activation kind {other:?}")),
        };
        Ok(gpu_verify_core::engine::Activation {
            lens: self.lens.clone(),
            cols: self.cols,
            data,
        })
    }
}

impl From<&gpu_verify_core::engine::Activation> for ActivationJson {
    fn from(a: &gpu_verify_core::engine::Activation) -> Self {
        use gpu_verify_core::engine::ActData;
        let (kind, values, embedding) = match &a.data {
            ActData::Tokens(v) => ("tokens", v.iter().map(|&x| i64::from(x)).collect(), None),
            ActData::I8(v) => ("i8", v.iter().map(|&x| i64::from(x)).collect(), None),
            ActData::I16(v) => (
                "i16",
                v.iter().map(|&x| i64::from(x)).collect(),
                Some(v.iter().map(|&x| f64::from(x) / Q15_ONE).collect()),
            ),
        };
        ActivationJson {
            kind: kind.to_owned(),
            lens: a.lens.clone(),
            cols: a.cols,
            values,
            embedding,
        }
    }
}

/// A verifier assigned to a sampled job, and what it answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckJson {
    /// The verifier.
    pub verifier: AccountId,
    /// `waiting`, `agreed`, `challenged` or `missed`.
    pub answer: String,
}

/// How a job ended: who was paid or slashed. One key, the case's name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum OutcomeJson {
    /// The window closed without a proven fault: the provider, the model's share holders,
    /// the verification pool and the job's verifiers were paid.
    Paid {
        /// To the provider.
        #[serde(with = "u128_decimal")]
        provider: u128,
        /// To the model's share holders.
        #[serde(with = "u128_decimal")]
        royalty: u128,
        /// To the verification pool.
        #[serde(with = "u128_decimal")]
        verification_fee: u128,
        /// From the pool to the job's verifiers, in total.
        #[serde(with = "u128_decimal")]
        verifier_reward: u128,
    },
    /// A dispute proved the provider's output wrong.
    ProviderSlashed {
        /// The first wrong layer.
        layer: u32,
        /// Slashed from the provider's collateral.
        #[serde(with = "u128_decimal")]
        slashed: u128,
        /// Who challenged.
        challenger: AccountId,
        /// Paid to the challenger from the slash.
        #[serde(with = "u128_decimal")]
        reward: u128,
        /// Burned.
        #[serde(with = "u128_decimal")]
        burned: u128,
        /// Escrow returned to the client.
        #[serde(with = "u128_decimal")]
        refunded: u128,
    },
    /// The provider did not commit in time.
    Expired {
        /// Escrow returned to the client.
        #[serde(with = "u128_decimal")]
        refunded: u128,
        /// Taken from the provider's collateral and paid to the client.
        #[serde(with = "u128_decimal")]
        penalty: u128,
    },
}

/// `inference_job`, `inference_jobs`, `inference_providerJobs`, `inference_verifierJobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobJson {
    /// The job's id.
    pub id: u64,
    /// Who submitted and pays.
    pub client: AccountId,
    /// Who runs it.
    pub provider: AccountId,
    /// The model id.
    pub model: H256,
    /// `pending`, `committed`, `sampled`, `verified`, `settled`, `final` or `expired`.
    pub state: String,
    /// The provider's price, escrowed.
    #[serde(with = "u128_decimal")]
    pub fee: u128,
    /// The model's royalty (part of the fee).
    #[serde(with = "u128_decimal")]
    pub royalty: u128,
    /// The verification fee (part of the fee).
    #[serde(with = "u128_decimal")]
    pub verification_fee: u128,
    /// Block it was submitted in.
    pub submitted_at: BlockNumber,
    /// Last block for the provider's commitment.
    pub commit_by: BlockNumber,
    /// Block of the commitment (null until committed).
    pub committed_at: Option<BlockNumber>,
    /// Last block of the challenge window (null until committed).
    pub window_ends: Option<BlockNumber>,
    /// Merkle root of the commitment, computed on chain (null until committed).
    pub root: Option<H256>,
    /// The provider's hashes: the input's, then one per layer output (empty until committed).
    pub commitment: Vec<H256>,
    /// The input.
    pub input: ActivationJson,
    /// The output (null until committed).
    pub output: Option<ActivationJson>,
    /// The verifiers drawn for it (sampled jobs).
    pub checks: Vec<CheckJson>,
    /// Challenges the provider won.
    pub challenges_rejected: u32,
    /// How it ended (null while open).
    pub outcome: Option<OutcomeJson>,
}

/// `inference_verifier`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifierJson {
    /// Its account.
    pub account: AccountId,
    /// Bond held.
    #[serde(with = "u128_decimal")]
    pub bond: u128,
    /// `active` (drawn for sampled jobs) or `leaving` (bond unbonding).
    pub status: String,
    /// With `leaving`: the block it left at.
    pub leaving_since: Option<BlockNumber>,
    /// Jobs it attested.
    pub attested: u32,
    /// Answers it missed.
    pub missed: u32,
    /// Slashed from its bond in total.
    #[serde(with = "u128_decimal")]
    pub slashed: u128,
    /// Earned in total.
    #[serde(with = "u128_decimal")]
    pub earned: u128,
    /// Sampled jobs waiting for its answer.
    pub open_checks: Vec<u64>,
}

/// One provider's price for a model (`inference_prices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceJson {
    /// The provider.
    pub provider: AccountId,
    /// Price per job.
    #[serde(with = "u128_decimal")]
    pub price: u128,
    /// Fees of its jobs not yet closed.
    #[serde(with = "u128_decimal")]
    pub unsettled: u128,
    /// The most it may hold in jobs not yet closed (what its collateral secures).
    #[serde(with = "u128_decimal")]
    pub capacity: u128,
}

/// `inference_summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceSummaryJson {
    /// Jobs submitted so far.
    pub jobs: u64,
    /// Active verifiers.
    pub active_verifiers: u32,
    /// Share of committed jobs re-executed by verifiers, per thousand.
    pub sample_per_mill: u32,
    /// Share of sampled jobs given to two verifiers, per thousand.
    pub double_per_mill: u32,
    /// Verification fees collected and not yet paid to verifiers.
    #[serde(with = "u128_decimal")]
    pub verification_pool: u128,
    /// Held by the inference pallet (escrows, bonds, the pool, pending payouts).
    #[serde(with = "u128_decimal")]
    pub total_held: u128,
    /// Burned in total.
    #[serde(with = "u128_decimal")]
    pub total_burned: u128,
}

impl From<&pallet_inference::JobView> for JobJson {
    fn from(v: &pallet_inference::JobView) -> Self {
        use pallet_inference::{CheckAnswer, Outcome};
        let j = &v.job;
        let committed = !j.commitment.is_empty();
        JobJson {
            id: v.id,
            client: j.client,
            provider: j.provider,
            model: j.model,
            state: j.state.name().to_owned(),
            fee: j.fee,
            royalty: j.royalty,
            verification_fee: j.verification_fee,
            submitted_at: j.submitted_at,
            commit_by: j.commit_by,
            committed_at: committed.then_some(j.committed_at),
            window_ends: committed.then_some(j.window_ends),
            root: committed.then_some(j.root),
            commitment: j.commitment.clone(),
            input: ActivationJson::from(&j.input),
            output: j.output.as_ref().map(ActivationJson::from),
            checks: j
                .checks
                .iter()
                .map(|c| CheckJson {
                    verifier: c.verifier,
                    answer: match c.answer {
                        CheckAnswer::Waiting => "waiting",
                        CheckAnswer::Agreed => "agreed",
                        CheckAnswer::Challenged => "challenged",
                        CheckAnswer::Missed => "missed",
                    }
                    .to_owned(),
                })
                .collect(),
            challenges_rejected: j.challenges_rejected,
            outcome: j.outcome.as_ref().map(|o| match *o {
                Outcome::Paid {
                    provider,
                    royalty,
                    verification_fee,
                    verifier_reward,
                } => OutcomeJson::Paid {
                    provider,
                    royalty,
                    verification_fee,
                    verifier_reward,
                },
                Outcome::ProviderSlashed {
                    layer,
                    slashed,
                    challenger,
                    reward,
                    burned,
                    refunded,
                } => OutcomeJson::ProviderSlashed {
                    layer,
                    slashed,
                    challenger,
                    reward,
                    burned,
                    refunded,
                },
                Outcome::Expired { refunded, penalty } => {
                    OutcomeJson::Expired { refunded, penalty }
                }
            }),
        }
    }
}

impl From<&pallet_inference::VerifierView> for VerifierJson {
    fn from(v: &pallet_inference::VerifierView) -> Self {
        use pallet_inference::VerifierStatus;
        let r = &v.verifier;
        let (status, leaving_since) = match r.status {
            VerifierStatus::Active => ("active", None),
            VerifierStatus::Leaving { since } => ("leaving", Some(since)),
        };
        VerifierJson {
            account: v.account,
            bond: r.bond,
            status: status.to_owned(),
            leaving_since,
            attested: r.attested,
            missed: r.missed,
            slashed: r.slashed,
            earned: r.earned,
            open_checks: v.open_checks.clone(),
        }
    }
}

impl From<&pallet_inference::PriceView> for PriceJson {
    fn from(v: &pallet_inference::PriceView) -> Self {
        PriceJson {
            provider: v.provider,
            price: v.price,
            unsettled: v.unsettled,
            capacity: v.capacity,
        }
    }
}

impl From<&pallet_inference::InferenceSummary> for InferenceSummaryJson {
    fn from(s: &pallet_inference::InferenceSummary) -> Self {
        InferenceSummaryJson {
            jobs: s.jobs,
            active_verifiers: s.active_verifiers,
            sample_per_mill: s.sample_per_mill,
            double_per_mill: s.double_per_mill,
            verification_pool: s.verification_pool,
            total_held: s.total_held,
            total_burned: s.total_burned,
        }
    }
}

// ---- Agents (`agents_*`) ----
//
// Amounts travel as decimal strings, ids, blocks and counts as numbers, accounts and hashes
// as hex, call kinds by their `pallet.call` name (`"balances.transfer"`, or
// `"<pallet index>#<call index>"` for a kind this node does not know), order states as
// lower-case names (`"open"`, `"accepted"`).

/// `agents_agent`, `agents_list`: a registered agent and its pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentJson {
    /// Its account (it signs its own transactions).
    pub account: AccountId,
    /// Who registered it and bonded to it.
    pub owner: AccountId,
    /// Its name.
    pub name: String,
    /// The model it runs, if any.
    pub model: Option<H256>,
    /// Where to reach it (empty: not given).
    pub endpoint: String,
    /// Block it was registered in.
    pub registered_at: BlockNumber,
    /// Slashes reported against it so far.
    pub slashes: u32,
    /// Retired by its owner: no new grants, acts or orders.
    pub retired: bool,
    /// Commission on its income, per mill.
    pub commission_per_mill: u32,
    /// Total stake in its pool (the owner's bond and every delegation).
    #[serde(with = "u128_decimal")]
    pub total_stake: u128,
    /// What the owner's shares of the pool are worth.
    #[serde(with = "u128_decimal")]
    pub owner_bond: u128,
    /// Acts it has logged so far.
    pub spends: u64,
    /// Its open and accepted orders.
    pub open_orders: u32,
}

/// `agents_grants`: an owner's grant to an agent and what its window has left now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantJson {
    /// The agent.
    pub agent: AccountId,
    /// The owner whose funds it may spend.
    pub owner: AccountId,
    /// The grant's id (a new grant from the same owner gets a new one).
    pub id: u64,
    /// Most spent, fees included, in any `per` consecutive blocks.
    #[serde(with = "u128_decimal")]
    pub budget: u128,
    /// Window length in blocks.
    pub per: BlockNumber,
    /// Most one call may spend (fees not included).
    #[serde(with = "u128_decimal")]
    pub max_per_call: u128,
    /// Allowed recipients; empty: any.
    pub recipients: Vec<AccountId>,
    /// Allowed calls by name; empty: any but the agents pallet's and the runtime's
    /// explicit-only calls (those a grant must list to allow).
    pub calls: Vec<String>,
    /// Last block it may be used in (null: no expiry).
    pub expires: Option<BlockNumber>,
    /// Block it was granted in.
    pub granted_at: BlockNumber,
    /// The agent's slash count the owner last confirmed the grant at.
    pub confirmed_slashes: u32,
    /// Spent in the current window, fees included.
    #[serde(with = "u128_decimal")]
    pub spent_in_window: u128,
    /// Still spendable now.
    #[serde(with = "u128_decimal")]
    pub remaining: u128,
    /// Frozen by a slash until the owner confirms it.
    pub frozen: bool,
}

/// The verified inference job an act cites.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCitationJson {
    /// The job's id.
    pub job: u64,
    /// Its model.
    pub model: H256,
    /// gpu-verify hash of its input.
    pub input_hash: H256,
    /// gpu-verify hash of its output.
    pub output_hash: H256,
}

/// `agents_spends`: one act of an agent, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpendJson {
    /// Position in the agent's log (from 0).
    pub index: u64,
    /// On whose behalf.
    pub owner: AccountId,
    /// Under which grant.
    pub grant: u64,
    /// The call made, by name.
    pub call: String,
    /// Its recipient, when the call has one.
    pub recipient: Option<AccountId>,
    /// What the call took out of the owner's free balance.
    #[serde(with = "u128_decimal")]
    pub amount: u128,
    /// The fee the owner paid for it (0 when the agent paid its own).
    #[serde(with = "u128_decimal")]
    pub fee: u128,
    /// Block it happened in.
    pub block: BlockNumber,
    /// The verified job it cites, if any.
    pub job: Option<JobCitationJson>,
}

/// `agents_order`, `agents_orders`: paid work ordered from an agent (named apart from
/// the compute market's [`OrderJson`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentOrderJson {
    /// The order's id.
    pub id: u64,
    /// Who pays.
    pub client: AccountId,
    /// Who works.
    pub agent: AccountId,
    /// Escrowed payment.
    #[serde(with = "u128_decimal")]
    pub payment: u128,
    /// What is asked (a hash of the request).
    pub request: H256,
    /// Blocks the agent has to deliver once it accepts.
    pub deadline_blocks: BlockNumber,
    /// Block it was placed in.
    pub placed_at: BlockNumber,
    /// `open` (waiting for the agent) or `accepted`.
    pub state: String,
    /// With `accepted`: the last block to deliver in.
    pub deadline: Option<BlockNumber>,
}

/// A call kind's `pallet.call` name, or `"<pallet>#<call>"` when this node does not know it.
pub fn call_name(kind: pallet_agents::CallKind) -> String {
    menara_runtime::calls::name_of(kind)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{}#{}", kind.pallet, kind.call))
}

impl From<&pallet_agents::AgentView> for AgentJson {
    fn from(v: &pallet_agents::AgentView) -> Self {
        let i = &v.info;
        AgentJson {
            account: v.account,
            owner: i.owner,
            name: String::from_utf8_lossy(&i.name).into_owned(),
            model: i.model,
            endpoint: String::from_utf8_lossy(&i.endpoint).into_owned(),
            registered_at: i.registered_at,
            slashes: i.slashes,
            retired: i.retired,
            commission_per_mill: v.commission_per_mill,
            total_stake: v.total_stake,
            owner_bond: v.owner_bond,
            spends: v.spends,
            open_orders: v.open_orders,
        }
    }
}

impl From<&pallet_agents::GrantView> for GrantJson {
    fn from(v: &pallet_agents::GrantView) -> Self {
        let g = &v.grant;
        GrantJson {
            agent: v.agent,
            owner: v.owner,
            id: g.id,
            budget: g.budget,
            per: g.per,
            max_per_call: g.max_per_call,
            recipients: g.recipients.clone(),
            calls: g.calls.iter().map(|k| call_name(*k)).collect(),
            expires: g.expires,
            granted_at: g.granted_at,
            confirmed_slashes: g.confirmed_slashes,
            spent_in_window: v.spent_in_window,
            remaining: v.remaining,
            frozen: v.frozen,
        }
    }
}

impl From<&pallet_agents::Spend> for SpendJson {
    fn from(s: &pallet_agents::Spend) -> Self {
        SpendJson {
            index: s.index,
            owner: s.owner,
            grant: s.grant,
            call: call_name(s.kind),
            recipient: s.recipient,
            amount: s.amount,
            fee: s.fee,
            block: s.block,
            job: s.job.as_ref().map(|j| JobCitationJson {
                job: j.job,
                model: j.model,
                input_hash: j.input_hash,
                output_hash: j.output_hash,
            }),
        }
    }
}

impl From<&pallet_agents::OrderView> for AgentOrderJson {
    fn from(v: &pallet_agents::OrderView) -> Self {
        use pallet_agents::OrderState;
        let o = &v.order;
        let (state, deadline) = match o.state {
            OrderState::Open => ("open", None),
            OrderState::Accepted { deadline } => ("accepted", Some(deadline)),
        };
        AgentOrderJson {
            id: v.id,
            client: o.client,
            agent: o.agent,
            payment: o.payment,
            request: o.request,
            deadline_blocks: o.deadline_blocks,
            placed_at: o.placed_at,
            state: state.to_owned(),
            deadline,
        }
    }
}
