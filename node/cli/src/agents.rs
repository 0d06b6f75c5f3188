//! Agents commands: registering a staked agent, granting it bounded authority over an
//! owner's funds, the agent's acts under a grant (a call written as text, or any call
//! encoded), delegation to its pool, paid orders, signed answers and reports of provable
//! misbehaviour, and queries, as lines or as the RPC's JSON.
use crate::cli::RpcArgs;
use crate::inference::{job_input, InputSource};
use crate::show::{decode, print_json, request, show, show_list};
use crate::units::{format_amount, parse_amount};
use crate::wallet::{no_event, parse_account, resolve_secret, submit_with_events};
use anyhow::{anyhow, bail, Context};
use clap::{ArgGroup, Subcommand};
use ed25519_dalek::Signer;
use jsonrpsee::rpc_params;
use menara_chain_spec::keyring;
use menara_primitives::{AccountId, Balance, BlockNumber, H256};
use menara_rpc::client;
use menara_rpc::types::{AgentJson, AgentOrderJson, GrantJson, SpendJson};
use menara_runtime::calls;
use menara_runtime::{Runtime, RuntimeCall, RuntimeEvent};
use pallet_agents::{Call, CallKind, Event, SignedAnswer};
use parity_scale_codec::DecodeAll;
use std::path::PathBuf;

/// Agents transactions; each is signed locally by `--from` and waits for finality.
#[derive(Debug, Subcommand)]
pub enum AgentsTx {
    /// Register an agent (an account with its own key) with the signer as its owner, bonding
    /// `--self-bond` MEN to its pool (at least 10). Stakers may then delegate to it.
    Register {
        /// The agent's account (0x...) or `//Name`.
        #[arg(long, value_name = "ADDRESS")]
        agent: String,
        /// Its name (UTF-8, at most 64 bytes).
        #[arg(long)]
        name: String,
        /// A registered model it runs.
        #[arg(long, value_name = "MODEL ID")]
        model: Option<String>,
        /// Where to reach it (a URI, at most 256 bytes).
        #[arg(long, value_name = "URI")]
        endpoint: Option<String>,
        /// The owner's bond, in MEN.
        #[arg(long, value_name = "MEN")]
        self_bond: String,
        /// Commission on the agent's income, per mill (0-1000).
        #[arg(long, value_name = "C")]
        commission_per_mill: u32,
        /// The owner's secret.
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Grant (or replace) the signer's authority to an agent: at most `--budget` MEN, fees
    /// included, in any `--per` consecutive blocks, at most `--max-per-call` MEN a call,
    /// optionally only to some recipients, only some calls, and until some block. The
    /// agent then acts with `menara tx agents act`.
    Grant {
        /// The agent's account (0x...) or `//Name`.
        #[arg(long, value_name = "ADDRESS")]
        agent: String,
        /// Most spent, fees included, in any window of `--per` blocks, in MEN.
        #[arg(long, value_name = "MEN")]
        budget: String,
        /// The window, in blocks (at most 1,000,000).
        #[arg(long, value_name = "BLOCKS")]
        per: BlockNumber,
        /// Most one call may spend, in MEN (at most the budget).
        #[arg(long, value_name = "MEN")]
        max_per_call: String,
        /// The only accounts calls may pay or hand something to (comma-separated; default:
        /// any).
        #[arg(long, value_name = "ADDRESSES", value_delimiter = ',')]
        recipients: Vec<String>,
        /// The only calls allowed, as `pallet.call` (comma-separated, `-` may stand for
        /// `_`; `menara agents calls` lists them). Default: any but the agents pallet's and
        /// those a grant must list to allow (models.transfer_ownership and
        /// models.transfer_shares: what they hand over is worth more than the budget sees).
        #[arg(long, value_name = "CALLS", value_delimiter = ',')]
        calls: Vec<String>,
        /// Last block the grant may be used in (default: no expiry).
        #[arg(long, value_name = "BLOCK")]
        expires: Option<BlockNumber>,
        /// The owner's secret.
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Revoke the signer's grant to an agent, effective in the block it is included in.
    Revoke {
        /// The agent's account (0x...) or `//Name`.
        #[arg(long, value_name = "ADDRESS")]
        agent: String,
        /// The owner's secret.
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Re-confirm the signer's grant to an agent that a slash froze.
    Confirm {
        /// The agent's account (0x...) or `//Name`.
        #[arg(long, value_name = "ADDRESS")]
        agent: String,
        /// The owner's secret.
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Retire an agent for good (its owner only): no new grants, acts or orders; the owner
    /// may then unbond all of its bond.
    Retire {
        /// The agent's account (0x...) or `//Name`.
        #[arg(long, value_name = "ADDRESS")]
        agent: String,
        /// The owner's secret.
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// As an agent (`--from`), make a call on an owner's behalf under its grant. The call
    /// runs as the owner; what it takes out of the owner's free balance must fit the grant,
    /// or it is undone. The owner pays the fee when the grant can cover it.
    ///
    /// `--call` is `pallet.call` followed by its arguments, separated by spaces (amounts in
    /// MEN, accounts as 0x... or `//Name`): `system.remark <text>`,
    /// `balances.transfer <dest> <MEN>`, `balances.transfer_all <dest>`,
    /// `staking.delegate <validator> <MEN>`, `staking.undelegate <validator> <MEN>`,
    /// `staking.claim_rewards <validator>`, `staking.withdraw_unbonded`,
    /// `inference.submit <model id> <max fee MEN> <text...>` (the text tokenised with the
    /// model's vocabulary; see --model-file, --provider), `compute.top_up <lease> <MEN>`,
    /// `compute.close <lease>`, `models.claim_royalties <model id>`. Any other call: give it
    /// SCALE-encoded with `--call-hex`.
    #[command(group(ArgGroup::new("what").required(true).args(["call", "call_hex"])))]
    Act {
        /// The owner whose grant is used (0x...) or `//Name`.
        #[arg(long, value_name = "ADDRESS")]
        owner: String,
        /// The call, as `pallet.call args...`.
        #[arg(long, value_name = "CALL")]
        call: Option<String>,
        /// Any call, as an encoded `RuntimeCall` (0x...).
        #[arg(long, value_name = "HEX")]
        call_hex: Option<String>,
        /// A verified inference job that justifies the act (logged with it).
        #[arg(long, value_name = "ID")]
        job: Option<u64>,
        /// With `inference.submit`: the provider to use (default: the chain draws one).
        #[arg(long, value_name = "ADDRESS")]
        provider: Option<String>,
        /// With `inference.submit`: the model's `.mvm` file, to tokenise the text (default:
        /// the file in the node's model store under --base-path).
        #[arg(long, value_name = "FILE")]
        model_file: Option<PathBuf>,
        /// With `inference.submit`: the node's base path, whose model store holds the
        /// model file (default: ~/.local/share/menara).
        #[arg(long, short = 'd', value_name = "PATH")]
        base_path: Option<PathBuf>,
        /// The agent's secret.
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Delegate MEN to an agent's pool (its owner's bond grows the same way).
    Delegate {
        /// The agent's account (0x...) or `//Name`.
        #[arg(long, value_name = "ADDRESS")]
        agent: String,
        /// Amount in MEN (at least 1).
        #[arg(long, value_name = "MEN")]
        amount: String,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Move stake out of an agent's pool into unbonding (withdraw it with `withdraw` after
    /// the unbonding period; still slashable until then for earlier offences).
    Undelegate {
        /// The agent's account (0x...) or `//Name`.
        #[arg(long, value_name = "ADDRESS")]
        agent: String,
        /// Amount of stake in MEN.
        #[arg(long, value_name = "MEN")]
        amount: String,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Claim the signer's share of an agent's income (its commission too, for the agent).
    Claim {
        /// The agent's account (0x...) or `//Name`.
        #[arg(long, value_name = "ADDRESS")]
        agent: String,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Withdraw every unbonding entry whose period is over.
    Withdraw {
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Order work from an agent: the payment is escrowed until it delivers (paid into its
    /// pool), you cancel before it accepts, or it misses the deadline (refunded, and the
    /// agent slashed). Prints `order <id>`.
    Order {
        /// The agent's account (0x...) or `//Name`.
        #[arg(long, value_name = "ADDRESS")]
        agent: String,
        /// The payment, in MEN.
        #[arg(long, value_name = "MEN")]
        payment: String,
        /// What is asked: a 32-byte hash (0x + 64 hex digits), or any other text, which is
        /// hashed with BLAKE3 (the chain's hash) and the hash recorded.
        #[arg(long, value_name = "HASH OR TEXT")]
        request: String,
        /// Blocks the agent has to deliver in once it accepts (1 to 100,000).
        #[arg(long, value_name = "BLOCKS")]
        deadline: BlockNumber,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// As the agent, accept an order: the deadline starts.
    AcceptOrder {
        /// The order id.
        id: u64,
        /// The agent's secret.
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// As the agent, deliver an accepted order by its deadline and be paid.
    Deliver {
        /// The order id.
        id: u64,
        /// The output's hash (0x + 64 hex digits).
        #[arg(long, value_name = "HASH")]
        output: String,
        /// The agent's secret.
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// As the client, cancel an order the agent has not accepted: the payment comes back.
    CancelOrder {
        /// The order id.
        id: u64,
        /// The client's secret.
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Report an accepted order past its deadline (anyone): the client is refunded and the
    /// agent slashed.
    ReportMissed {
        /// The order id.
        id: u64,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Prove that an agent signed two different answers to one request (signatures from
    /// `menara agents sign-answer`): its pool is slashed (deferred) and you earn part of it.
    ReportEquivocation {
        /// The agent's account (0x...) or `//Name`.
        #[arg(long, value_name = "ADDRESS")]
        agent: String,
        /// The request both answers are for: a hash, or text hashed as `order --request`.
        #[arg(long, value_name = "HASH OR TEXT")]
        request: String,
        /// The first answer's output hash.
        #[arg(long, value_name = "HASH")]
        first_output: String,
        /// The agent's signature over the first answer (0x + 128 hex digits).
        #[arg(long, value_name = "SIGNATURE")]
        first_signature: String,
        /// The second answer's output hash.
        #[arg(long, value_name = "HASH")]
        second_output: String,
        /// The agent's signature over the second answer.
        #[arg(long, value_name = "SIGNATURE")]
        second_signature: String,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Report an inference job an agent ran as provider that a dispute settled against it:
    /// its pool is slashed (deferred) and you earn part of it.
    ReportWrongOutput {
        /// The job id.
        #[arg(long, value_name = "ID")]
        job: u64,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// Agents' off-chain tools.
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Sign an answer as an agent: prints the ed25519 signature (0x + 128 hex digits) over
    /// (domain, the chain's genesis hash, request, output). Two such signatures over
    /// different outputs for one request prove an equivocation.
    SignAnswer {
        /// The request answered: a hash, or text hashed as `tx agents order --request`.
        #[arg(long, value_name = "HASH OR TEXT")]
        request: String,
        /// The output's hash (0x + 64 hex digits).
        #[arg(long, value_name = "HASH")]
        output: String,
        /// The agent's secret: `//Name`, a 0x seed, or a key file holding one.
        #[arg(long, value_name = "SECRET")]
        key: String,
        /// Node to read the genesis hash from.
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// List the runtime's calls by the names grants and `tx agents act` use.
    Calls,
}

/// Agents queries: human-readable lines, or the RPC's JSON with `--json`.
#[derive(Debug, Subcommand)]
pub enum AgentsQuery {
    /// Every agent: owner, stake, slashes, acts, orders.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// One agent.
    Agent {
        /// Account (0x...) or `//Name`.
        account: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// The grants given to an agent, with what their windows have left now.
    Grants {
        /// The agent (0x...) or `//Name`.
        agent: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// An agent's acts, newest first.
    Spends {
        /// The agent (0x...) or `//Name`.
        agent: String,
        /// Only acts logged before this index (the last of the previous page).
        #[arg(long, value_name = "N")]
        before: Option<u64>,
        /// At most this many acts (1-100).
        #[arg(
            long,
            value_name = "N",
            default_value_t = menara_rpc::DEFAULT_AGENT_SPENDS_PER_PAGE,
            value_parser = clap::value_parser!(u32).range(1..=i64::from(menara_rpc::MAX_AGENT_SPENDS_PER_PAGE))
        )]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// An agent's open and accepted orders.
    Orders {
        /// The agent (0x...) or `//Name`.
        agent: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// One open or accepted order.
    Order {
        id: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// The runtime's limits, checked here too so that a mistake costs no fee.
const MAX_NAME_LEN: u32 = <Runtime as pallet_agents::Config>::MAX_NAME_LEN;
const MAX_ENDPOINT_LEN: u32 = <Runtime as pallet_agents::Config>::MAX_ENDPOINT_LEN;
const MAX_GRANT_LIST: u32 = <Runtime as pallet_agents::Config>::MAX_GRANT_LIST;
const MAX_GRANT_PERIOD: BlockNumber = <Runtime as pallet_agents::Config>::MAX_GRANT_PERIOD;
const MAX_ORDER_BLOCKS: BlockNumber = <Runtime as pallet_agents::Config>::MAX_ORDER_BLOCKS;
const MIN_OWNER_BOND: Balance = <Runtime as pallet_agents::Config>::MIN_OWNER_BOND;
const AGENTS_PALLET: u8 = <Runtime as pallet_agents::Config>::PALLET_INDEX;
const EXPLICIT_ONLY: &[CallKind] = <Runtime as pallet_agents::Config>::EXPLICIT_ONLY;

fn account(s: &str, flag: &str) -> anyhow::Result<AccountId> {
    parse_account(s.trim()).with_context(|| flag.to_string())
}

fn amount(s: &str, flag: &str) -> anyhow::Result<Balance> {
    parse_amount(s).map_err(|e| anyhow!("{flag}: {e}"))
}

/// An amount of MEN that must be more than zero.
fn positive(s: &str, flag: &str) -> anyhow::Result<Balance> {
    let v = amount(s, flag)?;
    if v == 0 {
        bail!("{flag} must be more than 0");
    }
    Ok(v)
}

fn hash(s: &str, flag: &str) -> anyhow::Result<H256> {
    s.trim()
        .parse()
        .map_err(|e| anyhow!("{flag} {s:?} is not a hash (0x + 64 hex digits): {e}"))
}

/// A request: a hash as `0x` + 64 hex digits, or any other text, hashed with BLAKE3 (the
/// chain's hash). Text that starts with `0x` must be a hash (a mistyped hash is never
/// hashed again by accident). Returns the hash and whether the text was hashed.
fn request_hash(s: &str, flag: &str) -> anyhow::Result<(H256, bool)> {
    let t = s.trim();
    if t.starts_with("0x") || t.starts_with("0X") {
        return hash(t, flag).map(|h| (h, false));
    }
    if t.is_empty() {
        bail!("{flag} is empty: give a hash (0x + 64 hex digits) or the request's text");
    }
    Ok((menara_primitives::blake3_256(s.as_bytes()), true))
}

/// An ed25519 signature: `0x` + 128 hex digits.
fn signature(s: &str, flag: &str) -> anyhow::Result<[u8; 64]> {
    let bytes =
        menara_rpc::types::from_hex(s.trim()).map_err(|e| anyhow!("{flag} is not hex: {e}"))?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| {
        anyhow!("{flag}: a signature is 64 bytes (0x + 128 hex digits), got {len} bytes")
    })
}

fn model_id(s: &str, flag: &str) -> anyhow::Result<H256> {
    s.trim()
        .parse()
        .map_err(|e| anyhow!("{flag} {s:?} is not a model id (0x + 64 hex digits): {e}"))
}

/// The call kinds of `--calls`, by name.
fn call_kinds(names: &[String]) -> anyhow::Result<Vec<CallKind>> {
    names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(|n| {
            let kind = calls::kind_by_name(n).ok_or_else(|| {
                anyhow!(
                    "--calls: unknown call {n:?}: names are `pallet.call`, e.g. balances.transfer; `menara agents calls` lists them all"
                )
            })?;
            if kind.pallet == AGENTS_PALLET {
                bail!("--calls: {n} cannot be granted: an agent can never make the agents pallet's calls");
            }
            Ok(kind)
        })
        .collect()
}

/// A call written as text (`--call`), parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TextCall {
    /// Ready to encode.
    Ready(Box<RuntimeCall>),
    /// `inference.submit`: its text is tokenised with the model's vocabulary, which needs
    /// the model file and the node.
    Submit {
        model: H256,
        max_fee: Balance,
        text: String,
    },
}

/// The calls `--call` takes as text, and their arguments.
const TEXT_CALLS: &[(&str, &str)] = &[
    ("system.remark", "<text>"),
    ("balances.transfer", "<dest> <MEN>"),
    ("balances.transfer_all", "<dest>"),
    ("staking.delegate", "<validator> <MEN>"),
    ("staking.undelegate", "<validator> <MEN>"),
    ("staking.claim_rewards", "<validator>"),
    ("staking.withdraw_unbonded", ""),
    ("inference.submit", "<model id> <max fee MEN> <text...>"),
    ("compute.top_up", "<lease> <MEN>"),
    ("compute.close", "<lease>"),
    ("models.claim_royalties", "<model id>"),
];

/// The first word of `s` and the rest, trimmed.
fn split_first(s: &str) -> (&str, &str) {
    let s = s.trim();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// Parses `--call`: `pallet.call` (`-` may stand for `_`) and its arguments.
fn parse_call(text: &str) -> anyhow::Result<TextCall> {
    let (name, rest) = split_first(text);
    if name.is_empty() {
        bail!("--call is empty: give `pallet.call args...`, e.g. \"balances.transfer //Bob 2\"");
    }
    let kind = calls::kind_by_name(name).ok_or_else(|| {
        anyhow!(
            "--call: unknown call {name:?}: names are `pallet.call`, e.g. balances.transfer; `menara agents calls` lists them all"
        )
    })?;
    let name = calls::name_of(kind).unwrap_or(name);
    if kind.pallet == AGENTS_PALLET {
        bail!("--call: {name} cannot be made through an act: an agent can never make the agents pallet's calls");
    }
    let Some(&(_, usage)) = TEXT_CALLS.iter().find(|(n, _)| *n == name) else {
        let known: Vec<&str> = TEXT_CALLS.iter().map(|(n, _)| *n).collect();
        bail!(
            "--call: {name} cannot be written as text (these can: {}); give it SCALE-encoded with --call-hex 0x...",
            known.join(", ")
        );
    };
    let bad = |why: String| anyhow!("--call \"{name} {usage}\": {why}");
    // Exactly `n` arguments.
    let args = |n: usize| -> anyhow::Result<Vec<&str>> {
        let v: Vec<&str> = rest.split_whitespace().collect();
        if v.len() != n {
            return Err(bad(format!("expected {n} argument(s), got {}", v.len())));
        }
        Ok(v)
    };
    let who = |s: &str| parse_account(s).map_err(|e| bad(e.to_string()));
    let men = |s: &str| {
        parse_amount(s).map_err(&bad).and_then(|v| {
            if v == 0 {
                Err(bad("the amount must be more than 0".into()))
            } else {
                Ok(v)
            }
        })
    };
    let id = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| bad(format!("{s:?} is not an id (a whole number)")))
    };
    let model = |s: &str| model_id(s, "the model id").map_err(|e| bad(e.to_string()));
    use menara_runtime::{pallet_balances as balances, pallet_staking as staking};
    let call = match name {
        "system.remark" => RuntimeCall::System(menara_runtime::pallet_system::Call::Remark {
            remark: rest.as_bytes().to_vec(),
        }),
        "balances.transfer" => {
            let a = args(2)?;
            RuntimeCall::Balances(balances::Call::Transfer {
                dest: who(a[0])?,
                value: men(a[1])?.into(),
            })
        }
        "balances.transfer_all" => {
            let a = args(1)?;
            RuntimeCall::Balances(balances::Call::TransferAll { dest: who(a[0])? })
        }
        "staking.delegate" => {
            let a = args(2)?;
            RuntimeCall::Staking(staking::Call::Delegate {
                validator: who(a[0])?,
                amount: men(a[1])?.into(),
            })
        }
        "staking.undelegate" => {
            let a = args(2)?;
            RuntimeCall::Staking(staking::Call::Undelegate {
                validator: who(a[0])?,
                amount: men(a[1])?.into(),
            })
        }
        "staking.claim_rewards" => {
            let a = args(1)?;
            RuntimeCall::Staking(staking::Call::ClaimRewards {
                validator: who(a[0])?,
            })
        }
        "staking.withdraw_unbonded" => {
            args(0)?;
            RuntimeCall::Staking(staking::Call::WithdrawUnbonded)
        }
        "inference.submit" => {
            let (m, rest) = split_first(rest);
            let (fee, text) = split_first(rest);
            if m.is_empty() || fee.is_empty() || text.is_empty() {
                return Err(bad("expected a model id, a maximum fee and the text".into()));
            }
            return Ok(TextCall::Submit {
                model: model(m)?,
                max_fee: men(fee)?,
                text: text.to_string(),
            });
        }
        "compute.top_up" => {
            let a = args(2)?;
            RuntimeCall::Compute(menara_runtime::pallet_compute::Call::TopUp {
                lease: id(a[0])?,
                amount: men(a[1])?.into(),
            })
        }
        "compute.close" => {
            let a = args(1)?;
            RuntimeCall::Compute(menara_runtime::pallet_compute::Call::Close { lease: id(a[0])? })
        }
        "models.claim_royalties" => {
            let a = args(1)?;
            RuntimeCall::Models(menara_runtime::pallet_models::Call::ClaimRoyalties {
                id: model(a[0])?,
            })
        }
        other => bail!("--call: {other} cannot be written as text; give it with --call-hex"),
    };
    Ok(TextCall::Ready(Box::new(call)))
}

/// `--call-hex`: an encoded `RuntimeCall` of this runtime.
fn decode_call_hex(s: &str) -> anyhow::Result<RuntimeCall> {
    let bytes =
        menara_rpc::types::from_hex(s.trim()).map_err(|e| anyhow!("--call-hex is not hex: {e}"))?;
    let call = RuntimeCall::decode_all(&mut &bytes[..]).map_err(|e| {
        anyhow!("--call-hex does not decode as a call of this chain's runtime (a SCALE-encoded RuntimeCall): {e}")
    })?;
    let kind = calls::kind_of(&call);
    if kind.pallet == AGENTS_PALLET {
        bail!("--call-hex is a call of the agents pallet, which an agent can never make through an act");
    }
    Ok(call)
}

/// A call kind by name, or `pallet#call`.
fn call_name(kind: CallKind) -> String {
    menara_rpc::types::call_name(kind)
}

/// What to print once a call is final.
enum Report {
    /// `order <id>` from `OrderPlaced`.
    Order,
    /// The `Spent` event of an act (required), then any other event.
    Spent,
    /// A line per agents or staking event.
    Events,
}

pub async fn tx(cmd: AgentsTx) -> anyhow::Result<()> {
    let (from, rpc, call, report) = match cmd {
        AgentsTx::Register {
            agent,
            name,
            model,
            endpoint,
            self_bond,
            commission_per_mill,
            from,
            rpc,
        } => {
            let endpoint = endpoint.unwrap_or_default();
            if name.len() > MAX_NAME_LEN as usize {
                bail!("--name is {} bytes; at most {MAX_NAME_LEN}", name.len());
            }
            if endpoint.len() > MAX_ENDPOINT_LEN as usize {
                bail!(
                    "--endpoint is {} bytes; at most {MAX_ENDPOINT_LEN}",
                    endpoint.len()
                );
            }
            if commission_per_mill > 1000 {
                bail!("--commission-per-mill must be at most 1000, got {commission_per_mill}");
            }
            let self_bond = amount(&self_bond, "--self-bond")?;
            if self_bond < MIN_OWNER_BOND {
                bail!(
                    "--self-bond must be at least {}",
                    format_amount(MIN_OWNER_BOND)
                );
            }
            let call = Call::Register {
                agent: account(&agent, "--agent")?,
                name: name.into_bytes(),
                model: model.map(|m| model_id(&m, "--model")).transpose()?,
                endpoint: endpoint.into_bytes(),
                self_bond: self_bond.into(),
                commission_per_mill,
            };
            (from, rpc, call, Report::Events)
        }
        AgentsTx::Grant {
            agent,
            budget,
            per,
            max_per_call,
            recipients,
            calls,
            expires,
            from,
            rpc,
        } => {
            let budget = positive(&budget, "--budget")?;
            let max_per_call = positive(&max_per_call, "--max-per-call")?;
            if max_per_call > budget {
                bail!("--max-per-call must be at most --budget");
            }
            if per == 0 || per > MAX_GRANT_PERIOD {
                bail!("--per must be from 1 to {MAX_GRANT_PERIOD} blocks, got {per}");
            }
            let recipients = recipients
                .iter()
                .filter(|r| !r.trim().is_empty())
                .map(|r| account(r, "--recipients"))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let calls = call_kinds(&calls)?;
            for (flag, n) in [("--recipients", recipients.len()), ("--calls", calls.len())] {
                if n > MAX_GRANT_LIST as usize {
                    bail!("{flag}: at most {MAX_GRANT_LIST} entries, got {n}");
                }
            }
            let call = Call::Grant {
                agent: account(&agent, "--agent")?,
                budget: budget.into(),
                per,
                max_per_call: max_per_call.into(),
                recipients,
                calls,
                expires,
            };
            (from, rpc, call, Report::Events)
        }
        AgentsTx::Revoke { agent, from, rpc } => {
            let call = Call::Revoke {
                agent: account(&agent, "--agent")?,
            };
            (from, rpc, call, Report::Events)
        }
        AgentsTx::Confirm { agent, from, rpc } => {
            let call = Call::Confirm {
                agent: account(&agent, "--agent")?,
            };
            (from, rpc, call, Report::Events)
        }
        AgentsTx::Retire { agent, from, rpc } => {
            let call = Call::Retire {
                agent: account(&agent, "--agent")?,
            };
            (from, rpc, call, Report::Events)
        }
        AgentsTx::Act {
            owner,
            call,
            call_hex,
            job,
            provider,
            model_file,
            base_path,
            from,
            rpc,
        } => {
            let owner = account(&owner, "--owner")?;
            let parsed = match (call, call_hex) {
                (Some(text), _) => parse_call(&text)?,
                (None, Some(hex)) => TextCall::Ready(Box::new(decode_call_hex(&hex)?)),
                (None, None) => bail!("give the call with --call or --call-hex"),
            };
            let inner = match parsed {
                TextCall::Ready(inner) => {
                    for (flag, given) in [
                        ("--provider", provider.is_some()),
                        ("--model-file", model_file.is_some()),
                        ("--base-path", base_path.is_some()),
                    ] {
                        if given {
                            bail!("{flag} is only for --call \"inference.submit ...\"");
                        }
                    }
                    *inner
                }
                TextCall::Submit {
                    model,
                    max_fee,
                    text,
                } => {
                    let provider = provider.map(|p| account(&p, "--provider")).transpose()?;
                    let source = InputSource::Text {
                        texts: vec![text],
                        model_file,
                        base_path,
                        given_as: "the text of --call \"inference.submit ...\"",
                        otherwise: "",
                    };
                    let input = job_input(&rpc.rpc, &model, source).await?;
                    RuntimeCall::Inference(pallet_inference::Call::Submit {
                        model,
                        input,
                        max_fee: max_fee.into(),
                        provider,
                    })
                }
            };
            eprintln!("acting for {owner}: {}", call_name(calls::kind_of(&inner)));
            let call = Call::Act {
                owner,
                call: parity_scale_codec::Encode::encode(&inner),
                job,
            };
            (from, rpc, call, Report::Spent)
        }
        AgentsTx::Delegate {
            agent,
            amount: a,
            from,
            rpc,
        } => {
            let call = Call::Delegate {
                agent: account(&agent, "--agent")?,
                amount: positive(&a, "--amount")?.into(),
            };
            (from, rpc, call, Report::Events)
        }
        AgentsTx::Undelegate {
            agent,
            amount: a,
            from,
            rpc,
        } => {
            let call = Call::Undelegate {
                agent: account(&agent, "--agent")?,
                amount: positive(&a, "--amount")?.into(),
            };
            (from, rpc, call, Report::Events)
        }
        AgentsTx::Claim { agent, from, rpc } => {
            let call = Call::Claim {
                agent: account(&agent, "--agent")?,
            };
            (from, rpc, call, Report::Events)
        }
        AgentsTx::Withdraw { from, rpc } => (from, rpc, Call::Withdraw, Report::Events),
        AgentsTx::Order {
            agent,
            payment,
            request,
            deadline,
            from,
            rpc,
        } => {
            if deadline == 0 || deadline > MAX_ORDER_BLOCKS {
                bail!("--deadline must be from 1 to {MAX_ORDER_BLOCKS} blocks, got {deadline}");
            }
            let (request, hashed) = request_hash(&request, "--request")?;
            if hashed {
                println!("request {request} (BLAKE3 of the text)");
            }
            let call = Call::PlaceOrder {
                agent: account(&agent, "--agent")?,
                payment: positive(&payment, "--payment")?.into(),
                request,
                deadline_blocks: deadline,
            };
            (from, rpc, call, Report::Order)
        }
        AgentsTx::AcceptOrder { id, from, rpc } => {
            (from, rpc, Call::AcceptOrder { order: id }, Report::Events)
        }
        AgentsTx::Deliver {
            id,
            output,
            from,
            rpc,
        } => {
            let call = Call::Deliver {
                order: id,
                output: hash(&output, "--output")?,
            };
            (from, rpc, call, Report::Events)
        }
        AgentsTx::CancelOrder { id, from, rpc } => {
            (from, rpc, Call::CancelOrder { order: id }, Report::Events)
        }
        AgentsTx::ReportMissed { id, from, rpc } => (
            from,
            rpc,
            Call::ReportMissedDeadline { order: id },
            Report::Events,
        ),
        AgentsTx::ReportEquivocation {
            agent,
            request,
            first_output,
            first_signature,
            second_output,
            second_signature,
            from,
            rpc,
        } => {
            let first = SignedAnswer {
                output: hash(&first_output, "--first-output")?,
                signature: signature(&first_signature, "--first-signature")?,
            };
            let second = SignedAnswer {
                output: hash(&second_output, "--second-output")?,
                signature: signature(&second_signature, "--second-signature")?,
            };
            if first.output == second.output {
                bail!("--first-output and --second-output are the same: two signatures over one answer are no equivocation");
            }
            let call = Call::ReportEquivocation {
                agent: account(&agent, "--agent")?,
                request: request_hash(&request, "--request")?.0,
                first,
                second,
            };
            (from, rpc, call, Report::Events)
        }
        AgentsTx::ReportWrongOutput { job, from, rpc } => {
            (from, rpc, Call::ReportWrongOutput { job }, Report::Events)
        }
    };
    let events = submit_with_events(&rpc.rpc, &from, RuntimeCall::Agents(call)).await?;
    match report {
        Report::Order => {
            let id = events
                .iter()
                .find_map(|e| match e {
                    RuntimeEvent::Agents(Event::OrderPlaced { order, .. }) => Some(*order),
                    _ => None,
                })
                .ok_or_else(|| no_event("OrderPlaced"))?;
            println!("order {id}");
        }
        Report::Spent => {
            if !events
                .iter()
                .any(|e| matches!(e, RuntimeEvent::Agents(Event::Spent { .. })))
            {
                return Err(no_event("Spent"));
            }
            print_events(&events);
        }
        Report::Events => print_events(&events),
    }
    Ok(())
}

fn print_events(events: &[RuntimeEvent]) {
    for e in events {
        let line = match e {
            RuntimeEvent::Agents(e) => Some(describe(e)),
            RuntimeEvent::Staking(e) => describe_staking(e),
            RuntimeEvent::Inference(pallet_inference::Event::JobSubmitted { job, .. }) => {
                Some(format!("job {job}"))
            }
            _ => None,
        };
        if let Some(line) = line {
            println!("{line}");
        }
    }
}

/// A line about an agents event.
fn describe(e: &Event) -> String {
    match e {
        Event::Registered {
            agent,
            owner,
            self_bond,
        } => format!(
            "agent {agent} registered, owner {owner}, bond {}",
            format_amount(*self_bond)
        ),
        Event::Granted {
            agent,
            owner,
            grant,
            budget,
            per,
        } => format!(
            "grant {grant}: agent {agent} may spend {} of {owner}'s funds per {per} blocks",
            format_amount(*budget)
        ),
        Event::Revoked { agent, owner } => format!("grant of {owner} to agent {agent} revoked"),
        Event::Spent {
            owner,
            grant,
            index,
            kind,
            recipient,
            amount,
            fee,
            job,
            ..
        } => {
            let to = recipient.map_or(String::new(), |r| format!(" to {r}"));
            let fee = if *fee == 0 {
                "the agent paid the fee".to_string()
            } else {
                format!("fee {} paid by the owner", format_amount(*fee))
            };
            let job = job.map_or(String::new(), |j| format!(", citing job {j}"));
            format!(
                "spent {} of {owner}'s funds{to} ({}) under grant {grant}, {fee}{job}; log index {index}",
                format_amount(*amount),
                call_name(*kind)
            )
        }
        Event::Confirmed { agent, owner } => {
            format!("grant of {owner} to agent {agent} confirmed: usable again")
        }
        Event::OffenceReported {
            agent,
            kind,
            slash_id,
            ..
        } => format!(
            "offence {kind:?} of agent {agent} reported: slash {slash_id} is applied {} epochs from now unless cancelled; its grants are frozen until their owners confirm them",
            <Runtime as pallet_staking::Config>::SLASH_DEFER_EPOCHS
        ),
        Event::OrderPlaced {
            order,
            agent,
            payment,
            ..
        } => format!(
            "order {order} placed with agent {agent}, {} escrowed",
            format_amount(*payment)
        ),
        Event::OrderAccepted { order, deadline } => {
            format!("order {order} accepted: due by block #{deadline}")
        }
        Event::OrderDelivered {
            order,
            agent,
            output,
            payment,
        } => format!(
            "order {order} delivered (output {output}): {} paid into agent {agent}'s pool",
            format_amount(*payment)
        ),
        Event::OrderCancelled { order } => format!("order {order} cancelled, payment refunded"),
        Event::OrderMissed { order, refunded } => format!(
            "order {order} missed its deadline: {} refunded to the client",
            format_amount(*refunded)
        ),
        Event::Retired { agent } => format!("agent {agent} retired"),
    }
}

/// A line about a staking event of a delegation to an agent.
fn describe_staking(e: &pallet_staking::Event) -> Option<String> {
    use pallet_staking::Event as S;
    Some(match e {
        S::Bonded {
            validator, amount, ..
        } => format!("bonded {} to agent {validator}", format_amount(*amount)),
        S::Unbonded {
            validator,
            amount,
            withdrawable_at_epoch,
            ..
        } => format!(
            "unbonding {} from agent {validator}: withdrawable from epoch {withdrawable_at_epoch}",
            format_amount(*amount)
        ),
        S::Withdrawn { amount, .. } => format!("withdrew {}", format_amount(*amount)),
        S::RewardsClaimed {
            validator, amount, ..
        } => format!("claimed {} from {validator}", format_amount(*amount)),
        _ => return None,
    })
}

pub async fn command(cmd: AgentsCommand) -> anyhow::Result<()> {
    match cmd {
        AgentsCommand::SignAnswer {
            request,
            output,
            key,
            rpc,
        } => {
            let (request, hashed) = request_hash(&request, "--request")?;
            let output = hash(&output, "--output")?;
            let secret = resolve_secret(&key).context("--key")?;
            let key = keyring::parse_secret(&secret).context("--key")?;
            let c = client::connect(&rpc.rpc).await?;
            let genesis = client::genesis_hash(&c).await?;
            let payload = pallet_agents::answer_payload(&genesis, &request, &output);
            let signature = key.sign(&payload);
            if hashed {
                eprintln!("request {request} (BLAKE3 of the text)");
            }
            eprintln!(
                "signed by {} for request {request}, output {output}",
                keyring::account_of(&key)
            );
            println!("0x{}", hex::encode(signature.to_bytes()));
        }
        AgentsCommand::Calls => {
            for (name, kind) in calls::CALLS {
                println!("{name} ({}#{})", kind.pallet, kind.call);
            }
        }
    }
    Ok(())
}

/// Prints items separated by blank lines, or `empty` when there are none.
pub async fn query(cmd: AgentsQuery) -> anyhow::Result<()> {
    match cmd {
        AgentsQuery::List { json, rpc } => {
            let v = request(&rpc.rpc, "agents_list", rpc_params![]).await?;
            show_list::<AgentJson>(v, json, "agents", "no agents", print_agent)?;
        }
        AgentsQuery::Agent { account, json, rpc } => {
            let who = parse_account(&account)?;
            let v = request(&rpc.rpc, "agents_agent", rpc_params![who]).await?;
            if v.is_null() {
                bail!("{who} is not a registered agent");
            }
            show(v, json, "agent", print_agent)?;
        }
        AgentsQuery::Grants { agent, json, rpc } => {
            let who = parse_account(&agent)?;
            let v = request(&rpc.rpc, "agents_grants", rpc_params![who]).await?;
            show_list::<GrantJson>(
                v,
                json,
                "grants",
                &format!("no grants to {who}"),
                print_grant,
            )?;
        }
        AgentsQuery::Spends {
            agent,
            before,
            limit,
            json,
            rpc,
        } => {
            let who = parse_account(&agent)?;
            let v = request(&rpc.rpc, "agents_spends", rpc_params![who, before, limit]).await?;
            if json {
                return print_json(&v);
            }
            let list: Vec<SpendJson> = decode(v, "spends")?;
            if list.is_empty() {
                println!("no acts of {who}");
            }
            for s in &list {
                print_spend(s);
            }
        }
        AgentsQuery::Orders { agent, json, rpc } => {
            let who = parse_account(&agent)?;
            let v = request(&rpc.rpc, "agents_orders", rpc_params![who]).await?;
            show_list::<AgentOrderJson>(
                v,
                json,
                "orders",
                &format!("no open orders for {who}"),
                print_order,
            )?;
        }
        AgentsQuery::Order { id, json, rpc } => {
            let v = request(&rpc.rpc, "agents_order", rpc_params![id]).await?;
            if v.is_null() {
                bail!("order {id} is not open (never placed, or already delivered, cancelled or missed)");
            }
            show(v, json, "order", print_order)?;
        }
    }
    Ok(())
}

fn print_agent(a: &AgentJson) {
    let state = if a.retired { "retired" } else { "active" };
    println!("agent {}: {} ({state})", a.account, a.name);
    println!("  owner:       {}", a.owner);
    if let Some(m) = &a.model {
        println!("  model:       {m}");
    }
    if !a.endpoint.is_empty() {
        println!("  endpoint:    {}", a.endpoint);
    }
    println!(
        "  stake:       {} (the owner's bond {}), commission {} per mill",
        format_amount(a.total_stake),
        format_amount(a.owner_bond),
        a.commission_per_mill
    );
    println!("  slashes:     {}", a.slashes);
    println!("  acts:        {}", a.spends);
    println!("  orders:      {} open", a.open_orders);
    println!("  registered:  block #{}", a.registered_at);
}

fn print_grant(g: &GrantJson) {
    let state = if g.frozen {
        "frozen by a slash until the owner confirms it"
    } else {
        "usable"
    };
    println!("grant {} of {} to {}: {state}", g.id, g.owner, g.agent);
    println!(
        "  budget:      {} per {} blocks, at most {} a call",
        format_amount(g.budget),
        g.per,
        format_amount(g.max_per_call)
    );
    println!(
        "  window:      {} spent, {} left",
        format_amount(g.spent_in_window),
        format_amount(g.remaining)
    );
    let list = |items: Vec<String>, all: &str| {
        if items.is_empty() {
            all.to_string()
        } else {
            items.join(", ")
        }
    };
    println!(
        "  recipients:  {}",
        list(
            g.recipients.iter().map(AccountId::to_string).collect(),
            "any"
        )
    );
    let unlisted = format!(
        "any but the agents pallet's and {}",
        EXPLICIT_ONLY
            .iter()
            .map(|k| call_name(*k))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  calls:       {}", list(g.calls.clone(), &unlisted));
    match g.expires {
        Some(e) => println!("  expires:     after block #{e}"),
        None => println!("  expires:     never"),
    }
    println!("  granted:     block #{}", g.granted_at);
}

fn print_spend(s: &SpendJson) {
    let to = s.recipient.map_or(String::new(), |r| format!(" to {r}"));
    let fee = if s.fee == 0 {
        "fee paid by the agent".to_string()
    } else {
        format!("fee {} paid by the owner", format_amount(s.fee))
    };
    let job = s.job.as_ref().map_or(String::new(), |j| {
        format!(
            ", citing job {} (model {}, output {})",
            j.job, j.model, j.output_hash
        )
    });
    println!(
        "#{} block #{}: {} {}{to} for {} under grant {}, {fee}{job}",
        s.index,
        s.block,
        s.call,
        format_amount(s.amount),
        s.owner,
        s.grant
    );
}

fn print_order(o: &AgentOrderJson) {
    let state = match (o.state.as_str(), o.deadline) {
        ("accepted", Some(d)) => format!("accepted, due by block #{d}"),
        (other, _) => other.to_string(),
    };
    println!("order {}: {state}", o.id);
    println!("  client:      {}", o.client);
    println!("  agent:       {}", o.agent);
    println!("  payment:     {}", format_amount(o.payment));
    println!("  request:     {}", o.request);
    println!(
        "  deadline:    {} blocks from acceptance",
        o.deadline_blocks
    );
    println!("  placed:      block #{}", o.placed_at);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use menara_primitives::MEN;

    fn bob() -> AccountId {
        parse_account("//Bob").unwrap()
    }

    fn ready(call: RuntimeCall) -> TextCall {
        TextCall::Ready(Box::new(call))
    }

    fn err(text: &str) -> String {
        format!("{:#}", parse_call(text).unwrap_err())
    }

    #[test]
    fn calls_written_as_text() {
        use menara_runtime::{pallet_balances as balances, pallet_staking as staking};
        assert_eq!(
            parse_call("balances.transfer //Bob 2.5").unwrap(),
            ready(RuntimeCall::Balances(balances::Call::Transfer {
                dest: bob(),
                value: (5 * MEN / 2).into()
            }))
        );
        // `-` for `_`, extra spaces.
        assert_eq!(
            parse_call("  balances.transfer-all   //Bob ").unwrap(),
            ready(RuntimeCall::Balances(balances::Call::TransferAll {
                dest: bob()
            }))
        );
        assert_eq!(
            parse_call("system.remark hello  world").unwrap(),
            ready(RuntimeCall::System(
                menara_runtime::pallet_system::Call::Remark {
                    remark: b"hello  world".to_vec()
                }
            ))
        );
        assert_eq!(
            parse_call("staking.withdraw_unbonded").unwrap(),
            ready(RuntimeCall::Staking(staking::Call::WithdrawUnbonded))
        );
        assert_eq!(
            parse_call(&format!("staking.undelegate {} 1", bob())).unwrap(),
            ready(RuntimeCall::Staking(staking::Call::Undelegate {
                validator: bob(),
                amount: MEN.into()
            }))
        );
        assert_eq!(
            parse_call("compute.close 7").unwrap(),
            ready(RuntimeCall::Compute(
                menara_runtime::pallet_compute::Call::Close { lease: 7 }
            ))
        );
        let model = H256([3; 32]);
        assert_eq!(
            parse_call(&format!("inference.submit {model} 0.5 hello world")).unwrap(),
            TextCall::Submit {
                model,
                max_fee: MEN / 2,
                text: "hello world".into()
            }
        );
        assert_eq!(
            parse_call(&format!("models.claim_royalties {model}")).unwrap(),
            ready(RuntimeCall::Models(
                menara_runtime::pallet_models::Call::ClaimRoyalties { id: model }
            ))
        );
    }

    #[test]
    fn bad_calls_say_what_is_wrong() {
        assert!(err("").contains("--call is empty"));
        assert!(err("balances.send //Bob 1").contains("unknown call \"balances.send\""));
        assert!(err("balances.send //Bob 1").contains("menara agents calls"));
        assert!(err("staking.chill").contains("--call-hex"));
        assert!(err("agents.grant x").contains("never make the agents pallet's calls"));
        assert!(err("balances.transfer //Bob").contains("expected 2 argument(s), got 1"));
        assert!(err("balances.transfer //Bob 1 2").contains("expected 2 argument(s), got 3"));
        assert!(err("balances.transfer bob 1").contains("not an account"));
        assert!(err("balances.transfer //Bob lots").contains("not an amount of MEN"));
        assert!(err("balances.transfer //Bob 0").contains("more than 0"));
        assert!(err("compute.close x").contains("not an id"));
        assert!(err("inference.submit 0x12 1 hi").contains("not a model id"));
        assert!(err("inference.submit").contains("expected a model id"));
    }

    #[test]
    fn encoded_calls_are_checked() {
        let call = RuntimeCall::System(menara_runtime::pallet_system::Call::Remark {
            remark: b"x".to_vec(),
        });
        let hex = format!(
            "0x{}",
            hex::encode(parity_scale_codec::Encode::encode(&call))
        );
        assert_eq!(decode_call_hex(&hex).unwrap(), call);
        let e = format!("{:#}", decode_call_hex("0xff00").unwrap_err());
        assert!(e.contains("does not decode"), "{e}");
        let e = format!("{:#}", decode_call_hex("0xzz").unwrap_err());
        assert!(e.contains("not hex"), "{e}");
        let nested = RuntimeCall::Agents(Call::Withdraw);
        let hex = format!(
            "0x{}",
            hex::encode(parity_scale_codec::Encode::encode(&nested))
        );
        let e = format!("{:#}", decode_call_hex(&hex).unwrap_err());
        assert!(e.contains("agents pallet"), "{e}");
    }

    #[test]
    fn grant_call_names_and_requests() {
        let kinds = call_kinds(&["balances.transfer".into(), " inference.submit".into()]).unwrap();
        assert_eq!(
            kinds,
            vec![
                calls::kind_by_name("balances.transfer").unwrap(),
                calls::kind_by_name("inference.submit").unwrap()
            ]
        );
        let e = format!("{:#}", call_kinds(&["balances.pay".into()]).unwrap_err());
        assert!(e.contains("menara agents calls"), "{e}");
        let e = format!("{:#}", call_kinds(&["agents.act".into()]).unwrap_err());
        assert!(e.contains("cannot be granted"), "{e}");

        let h = H256([7; 32]);
        assert_eq!(
            request_hash(&h.to_string(), "--request").unwrap(),
            (h, false)
        );
        assert_eq!(
            request_hash("what is 2+2?", "--request").unwrap(),
            (menara_primitives::blake3_256(b"what is 2+2?"), true)
        );
        assert!(request_hash("0x12", "--request").is_err());
        assert!(request_hash(" ", "--request").is_err());
        assert!(signature("0x12", "--first-signature").is_err());
        assert_eq!(
            signature(&format!("0x{}", "ab".repeat(64)), "s").unwrap(),
            [0xab; 64]
        );
    }
}
