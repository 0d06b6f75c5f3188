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
