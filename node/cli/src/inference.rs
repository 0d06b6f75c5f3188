//! Verified inference commands: submitting jobs (inputs tokenised with the model's own
//! vocabulary), providers' prices, verifiers, attestations and one-step disputes computed
//! locally with gpu-verify, and queries, as lines or as the RPC's JSON.
use crate::cli::RpcArgs;
use crate::show::{decode, print_json, request, show, show_list};
use crate::units::{format_amount, parse_amount};
use crate::wallet::{no_event, parse_account, submit_for_events};
use anyhow::{anyhow, bail, Context};
use clap::{ArgGroup, Subcommand};
use gpu_verify::engine::{ActData, Activation};
use gpu_verify::format::ModelFile;
use gpu_verify::model::{Model, KIND_ENCODER, KIND_MLP};
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClient;
use menara_primitives::{Balance, BlockNumber, H256};
use menara_rpc::client;
use menara_rpc::types::{
    ActivationJson, CheckJson, InferenceSummaryJson, JobJson, OutcomeJson, PriceJson, VerifierJson,
};
use menara_runtime::{Runtime, RuntimeCall, RuntimeEvent};
use pallet_inference::{Call, Event, JobState, JobView, ModelId};
use parity_scale_codec::{Decode, Encode};
use std::path::{Path, PathBuf};

/// Verified inference transactions; each is signed locally by `--from` and waits for
/// finality.
#[derive(Debug, Subcommand)]
pub enum InferenceTx {
    /// Submit an inference job to a provider of the model; its price is escrowed until the
    /// job is final. Prints `job <id>`.
    #[command(group(ArgGroup::new("input").required(true).args(["text", "tokens", "rows"])))]
    Submit {
        /// The registered model's id.
        #[arg(long, value_name = "MODEL ID")]
        model: String,
        /// Text for an encoder, tokenised with the model's own vocabulary (`[CLS] ... [SEP]`,
        /// truncated to the model's maximum length); repeat for a batch of sequences.
        #[arg(long, value_name = "TEXT")]
        text: Vec<String>,
        /// Token ids for an encoder: one sequence per line, ids separated by spaces or commas.
        #[arg(long, value_name = "FILE")]
        tokens: Option<PathBuf>,
        /// int8 rows for an MLP: one row per line, values (-127 to 127) separated by spaces
        /// or commas.
        #[arg(long, value_name = "FILE")]
        rows: Option<PathBuf>,
        /// The model's `.mvm` file, for --text (default: the file in the node's model store
        /// under --base-path).
        #[arg(long, value_name = "FILE")]
        model_file: Option<PathBuf>,
        /// The node's base path, whose model store --text reads the model file from
        /// (default: ~/.local/share/menara, as the node).
        #[arg(long, short = 'd', value_name = "PATH")]
        base_path: Option<PathBuf>,
        /// The most you pay, in MEN (the provider's price is what is escrowed).
        #[arg(long, value_name = "MEN")]
        max_fee: String,
        /// The provider to use (default: the chain draws one, weighted by collateral, among
        /// those whose price is within --max-fee).
        #[arg(long, value_name = "ADDRESS")]
        provider: Option<String>,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Set your price per job for a model you serve as a compute provider (0 withdraws it).
    SetPrice {
        /// The model's id (declared with `menara tx compute register --models`).
        #[arg(long, value_name = "MODEL ID")]
        model: String,
        /// Price per job, in MEN.
        #[arg(long, value_name = "MEN")]
        price: String,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Register as a verifier: re-execute the sampled jobs you are drawn for (run the node
    /// with --verifier), holding a bond that missed or wrong answers cost.
    RegisterVerifier {
        /// Bond, in MEN (at least 100).
        #[arg(long, value_name = "MEN")]
        bond: String,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Stop being drawn as a verifier; the bond unbonds.
    LeaveVerifiers {
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Take back the bond of a verifier that left, once unbonded and without open checks.
    WithdrawBond {
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Withdraw payouts the chain kept for you (`menara query inference pending`).
    Withdraw {
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Attest a sampled job you were drawn for: the Merkle root you computed equals the
    /// provider's.
    Attest {
        #[arg(long, value_name = "ID")]
        job: u64,
        /// The root you computed (0x + 64 hex digits).
        #[arg(long, value_name = "HASH")]
        root: String,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Re-run a committed job locally and, if the provider's output is wrong, dispute the
    /// first wrong layer (posting a 1 MEN bond): the runtime re-executes that layer and
    /// slashes the provider, or rejects the challenge. Exits with an error, sending nothing,
    /// when the provider's output is right.
    Challenge {
        #[arg(long, value_name = "ID")]
        job: u64,
        /// The model's `.mvm` file.
        #[arg(long, value_name = "FILE")]
        model_file: PathBuf,
        #[arg(long, value_name = "SECRET")]
        from: String,
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

/// Verified inference queries: human-readable lines, or the RPC's JSON with `--json`.
#[derive(Debug, Subcommand)]
pub enum InferenceQuery {
    /// One job: state, input, output (an embedding's first values), who was paid or slashed.
    Job {
        id: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// The latest jobs an account is client or provider of, newest first.
    Jobs {
        /// Account (0x...) or `//Name`.
        account: String,
        /// At most this many jobs (1-25).
        #[arg(long, default_value_t = menara_rpc::MAX_INFERENCE_PER_PAGE)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Jobs waiting for a provider's commitment.
    ProviderJobs {
        /// Account (0x...) or `//Name`.
        account: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Sampled jobs waiting for a verifier's answer.
    VerifierJobs {
        /// Account (0x...) or `//Name`.
        account: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// A verifier: bond, status, record, open checks.
    Verifier {
        /// Account (0x...) or `//Name`.
        account: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// The providers with a price for a model, with what they hold and may hold.
    Prices {
        /// The model's id.
        model: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Jobs so far, verifiers, sampling rates, verification pool, funds held and burned.
    Summary {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
    /// Payouts kept for an account (withdraw with `menara tx inference withdraw`).
    Pending {
        /// Account (0x...) or `//Name`.
        account: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        rpc: RpcArgs,
    },
}

fn model_id(s: &str, flag: &str) -> anyhow::Result<ModelId> {
    s.trim()
        .parse()
        .map_err(|e| anyhow!("{flag} {s:?} is not a model id (0x + 64 hex digits): {e}"))
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

/// The file of model `id` in a node's model store (`<base>/chains/<chain>/models`), for
/// any chain the base path holds: files are named by their content id, so any of them is
/// the model. The store is only read (opening it would tidy up the node's downloads).
fn stored_model_file(base: &Path, id: &ModelId) -> Option<PathBuf> {
    let name = menara_model_store::model_file_name(&id.0);
    std::fs::read_dir(base.join("chains"))
        .ok()?
        .filter_map(Result::ok)
        .map(|chain| chain.path().join("models").join(&name))
        .find(|p| p.is_file())
}

/// Loads a model file and checks that it is model `id`.
fn load_model(path: &Path, id: Option<&ModelId>) -> anyhow::Result<(ModelFile, Model)> {
    let (file, model) = gpu_verify::io::load_model(path)
        .with_context(|| format!("{} is not a model file gpu-verify can run", path.display()))?;
    if let Some(id) = id {
        let actual = H256(file.content_hash());
        if actual != *id {
            bail!("{} is model {actual}, not {id}", path.display());
        }
    }
    Ok((file, model))
}

/// Integers in a text file: one list per non-empty line, separated by spaces or commas,
/// each within `lo..=hi`.
fn read_lines(path: &Path, flag: &str, lo: i64, hi: i64) -> anyhow::Result<Vec<Vec<i64>>> {
    const MAX_FILE: u64 = 4 << 20;
    let what = || format!("{flag} {}", path.display());
    let size = std::fs::metadata(path).with_context(what)?.len();
    if size > MAX_FILE {
        bail!("{}: {size} bytes, more than any job input", what());
    }
    let text = std::fs::read_to_string(path).with_context(what)?;
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let values = line
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.parse::<i64>()
                    .ok()
                    .filter(|v| (lo..=hi).contains(v))
                    .ok_or_else(|| {
                        anyhow!(
                            "{}: line {}: {t:?} is not an integer from {lo} to {hi}",
                            what(),
                            n + 1
                        )
                    })
            })
            .collect::<anyhow::Result<Vec<i64>>>()?;
        if !values.is_empty() {
            lines.push(values);
        }
    }
    if lines.is_empty() {
        bail!("{}: no values", what());
    }
    Ok(lines)
}

/// Token-id sequences from a `--tokens` file.
fn tokens_file(path: &Path) -> anyhow::Result<Activation> {
    let seqs = read_lines(path, "--tokens", 0, i64::from(u32::MAX))?;
    let seqs: Vec<Vec<u32>> = seqs
        .into_iter()
        .map(|s| {
            s.into_iter()
                .filter_map(|t| u32::try_from(t).ok())
                .collect()
        })
        .collect();
    Ok(Activation::tokens(&seqs))
}

/// int8 rows from a `--rows` file.
fn rows_file(path: &Path) -> anyhow::Result<Activation> {
    let rows = read_lines(path, "--rows", -127, 127)?;
    let cols = rows.first().map_or(0, Vec::len);
    if let Some((n, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != cols) {
        bail!(
            "--rows {}: row {} has {} values, the first has {cols}: every row must have the same length",
            path.display(),
            n + 1,
            r.len()
        );
    }
    let rows: Vec<Vec<i8>> = rows
        .into_iter()
        .map(|r| r.into_iter().filter_map(|v| i8::try_from(v).ok()).collect())
        .collect();
    Ok(Activation::rows_i8(&rows))
}

/// `--text` tokenised with the model's own tokenizer, each sequence `[CLS] ... [SEP]` and at
/// most the model's maximum length (longer text is truncated, with a warning).
fn tokenize(model: &Model, id: &ModelId, texts: &[String]) -> anyhow::Result<Activation> {
    let Model::Encoder(e) = model else {
        bail!("--text needs an encoder, and model {id} is an MLP: give its input with --rows");
    };
    let tokenizer = gpu_verify::tokenizer::Tokenizer::from_encoder(e).map_err(|e| {
        anyhow!("cannot tokenise --text with model {id}'s file ({e}): give token ids with --tokens")
    })?;
    let max = e.cfg.max_seq_len;
    let mut seqs = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        let encode = |max: usize| {
            tokenizer
                .encode(text, max)
                .map_err(|e| anyhow!("cannot tokenise --text #{}: {e}", i + 1))
        };
        let full = encode(usize::MAX)?.len();
        if full > max {
            eprintln!(
                "warning: --text #{} is {full} tokens, truncated to the model's maximum of {max}",
                i + 1
            );
        }
        seqs.push(encode(max)?);
    }
    Ok(Activation::tokens(&seqs))
}

/// Checks an input against the registered model as the runtime will, so a mistake costs
/// no fee: kind, vocabulary, lengths, size.
fn check_input(view: &pallet_models::ModelView, input: &Activation) -> anyhow::Result<()> {
    let id = view.id;
    let info = &view.info;
    if info.deprecated {
        bail!("model {id} is deprecated: it takes no new jobs");
    }
    input
        .check_shape()
        .map_err(|e| anyhow!("the input is malformed: {e}"))?;
    let param = |i: usize| info.shape.get(i).copied().unwrap_or(0);
    match (info.kind.code(), &input.data) {
        (KIND_ENCODER, ActData::Tokens(ids)) => {
            let (vocab, max_len) = (param(0), param(6));
            if let Some(t) = ids.iter().find(|&&t| t >= vocab) {
                bail!("token id {t} is not in model {id}'s vocabulary of {vocab}");
            }
            if let Some(l) = input.lens.iter().find(|&&l| l > max_len) {
                bail!("a sequence of {l} tokens is longer than model {id} takes ({max_len})");
            }
        }
        (KIND_ENCODER, _) => {
            bail!("model {id} is an encoder: give its input with --text or --tokens")
        }
        (KIND_MLP, ActData::I8(_)) => {
            let (width, max_rows) = (param(1), param(2));
            if input.cols != width {
                bail!(
                    "model {id} takes rows of {width} values, the rows given have {}",
                    input.cols
                );
            }
            if input.rows() > max_rows as usize {
                bail!(
                    "model {id} takes at most {max_rows} rows per job, {} given",
                    input.rows()
                );
            }
        }
        (KIND_MLP, _) => bail!("model {id} is an MLP: give its input with --rows"),
        (kind, _) => bail!("model {id} is of kind {kind}, which the inference market does not run"),
    }
    let max = <Runtime as pallet_inference::Config>::MAX_INPUT_BYTES as usize;
    let size = input.encoded_size();
    if size > max {
        bail!("the input is {size} bytes encoded; a job takes at most {max}");
    }
    Ok(())
}

/// Where a job's input comes from.
pub(crate) enum InputSource {
    /// A `--tokens` file: token ids for an encoder.
    Tokens(PathBuf),
    /// A `--rows` file: int8 rows for an MLP.
    Rows(PathBuf),
    /// Text for an encoder, one sequence per entry, tokenised with the model's vocabulary
    /// read from `model_file`, else from the node's model store under `base_path`.
    Text {
        /// The sequences.
        texts: Vec<String>,
        /// The model's `.mvm` file.
        model_file: Option<PathBuf>,
        /// The node's base path (default: the node's default).
        base_path: Option<PathBuf>,
        /// What the text was given as, for messages (e.g. `--text`).
        given_as: &'static str,
        /// Another way to give the input, when the model file cannot be found (e.g. `, or
        /// give token ids with --tokens FILE`); may be empty.
        otherwise: &'static str,
    },
}

/// The input of a job of `model`: read from a file or tokenised, then checked against the
/// registered model (fetched from the node at `rpc`) as the runtime will check it, so a
/// mistake costs no fee. Says on standard error what the input is.
pub(crate) async fn job_input(
    rpc: &str,
    model: &ModelId,
    source: InputSource,
) -> anyhow::Result<Activation> {
    let input = match source {
        InputSource::Tokens(path) => tokens_file(&path)?,
        InputSource::Rows(path) => rows_file(&path)?,
        InputSource::Text {
            texts,
            model_file,
            base_path,
            given_as,
            otherwise,
        } => {
            let path = match model_file {
                Some(p) => p,
                None => {
                    let base = base_path.unwrap_or_else(crate::node::default_base_path);
                    stored_model_file(&base, model).ok_or_else(|| {
                        anyhow!(
                            "{given_as} needs model {model}'s file to tokenise with its vocabulary, and the node's model store under {} does not hold it: pass --model-file PATH (or the node's --base-path){otherwise}",
                            base.display()
                        )
                    })?
                }
            };
            let (_, m) = load_model(&path, Some(model))?;
            tokenize(&m, model, &texts)?
        }
    };
    let c = client::connect(rpc).await?;
    let view: Option<pallet_models::ModelView> =
        runtime_query(&c, menara_runtime::api::MODELS_GET, &model.encode()).await?;
    let view = view.ok_or_else(|| anyhow!("model {model} is not registered on this chain"))?;
    check_input(&view, &input)?;
    eprintln!("input: {}", describe_input(&ActivationJson::from(&input)));
    Ok(input)
}

/// Runs a runtime query (`state_call`) on the best block and decodes its SCALE answer:
/// exactly the runtime's values, for computing with them.
async fn runtime_query<T: Decode>(c: &WsClient, method: &[u8], args: &[u8]) -> anyhow::Result<T> {
    let name = String::from_utf8_lossy(method);
    let raw = client::query(c, &name, args, None)
        .await
        .with_context(|| format!("{name}"))?;
    T::decode(&mut &raw[..]).map_err(|e| anyhow!("unexpected answer to {name} from the node: {e}"))
}

/// What to print once a call is final.
enum Report {
    /// `job <id>` from `JobSubmitted`.
    Job,
    /// The dispute's verdict.
    Dispute,
    /// A line per inference event.
    Events,
}

pub async fn tx(cmd: InferenceTx) -> anyhow::Result<()> {
    let (from, rpc, call, report) = match cmd {
        InferenceTx::Submit {
            model,
            text,
            tokens,
            rows,
            model_file,
            base_path,
            max_fee,
            provider,
            from,
            rpc,
        } => {
            let model = model_id(&model, "--model")?;
            let max_fee = positive(&max_fee, "--max-fee")?;
            let provider = provider
                .map(|p| parse_account(&p).context("--provider"))
                .transpose()?;
            let source = if let Some(path) = tokens {
                InputSource::Tokens(path)
            } else if let Some(path) = rows {
                InputSource::Rows(path)
            } else {
                InputSource::Text {
                    texts: text,
                    model_file,
                    base_path,
                    given_as: "--text",
                    otherwise: ", or give token ids with --tokens FILE",
                }
            };
            let input = job_input(&rpc.rpc, &model, source).await?;
            let call = Call::Submit {
                model,
                input,
                max_fee: max_fee.into(),
                provider,
            };
            (from, rpc, call, Report::Job)
        }
        InferenceTx::SetPrice {
            model,
            price,
            from,
            rpc,
        } => {
            let call = Call::SetPrice {
                model: model_id(&model, "--model")?,
                price: amount(&price, "--price")?.into(),
            };
            (from, rpc, call, Report::Events)
        }
        InferenceTx::RegisterVerifier { bond, from, rpc } => {
            let call = Call::RegisterVerifier {
                bond: positive(&bond, "--bond")?.into(),
            };
            (from, rpc, call, Report::Events)
        }
        InferenceTx::LeaveVerifiers { from, rpc } => {
            (from, rpc, Call::LeaveVerifiers, Report::Events)
        }
        InferenceTx::WithdrawBond { from, rpc } => (from, rpc, Call::WithdrawBond, Report::Events),
        InferenceTx::Withdraw { from, rpc } => (from, rpc, Call::Withdraw, Report::Events),
        InferenceTx::Attest {
            job,
            root,
            from,
            rpc,
        } => {
            let root: H256 = root
                .trim()
                .parse()
                .map_err(|e| anyhow!("--root {root:?} is not a hash (0x + 64 hex digits): {e}"))?;
            (from, rpc, Call::Attest { job, root }, Report::Events)
        }
        InferenceTx::Challenge {
            job,
            model_file,
            from,
            rpc,
        } => {
            let call = challenge_call(job, &model_file, &rpc.rpc).await?;
            (from, rpc, call, Report::Dispute)
        }
    };
    let events: Vec<Event> =
        submit_for_events(&rpc.rpc, &from, RuntimeCall::Inference(call), |e| match e {
            RuntimeEvent::Inference(e) => Some(e),
            _ => None,
        })
        .await?;
    match report {
        Report::Job => {
            let id = events
                .iter()
                .find_map(|e| match e {
                    Event::JobSubmitted { job, .. } => Some(*job),
                    _ => None,
                })
                .ok_or_else(|| no_event("JobSubmitted"))?;
            println!("job {id}");
        }
        Report::Dispute => {
            let verdict = events.iter().find_map(|e| match e {
                Event::ProviderSlashed {
                    provider,
                    layer,
                    amount,
                    reward,
                    burned,
                    ..
                } => Some(Ok(format!(
                    "provider {provider} slashed {} for a wrong layer {layer}: {} to you (and your bond back), {} burned; the client is refunded",
                    format_amount(*amount),
                    format_amount(*reward),
                    format_amount(*burned)
                ))),
                Event::ChallengeRejected {
                    layer, forfeited, ..
                } => Some(Err(format!(
                    "challenge rejected: the runtime re-executed layer {layer} and the provider's output is right; your bond of {} is forfeited",
                    format_amount(*forfeited)
                ))),
                _ => None,
            });
            match verdict {
                Some(Ok(line)) => println!("{line}"),
                Some(Err(line)) => {
                    println!("{line}");
                    bail!("the challenge was rejected");
                }
                None => return Err(no_event("ProviderSlashed or ChallengeRejected")),
            }
        }
        Report::Events => {
            for e in &events {
                if let Some(line) = describe(e) {
                    println!("{line}");
                }
            }
        }
    }
    Ok(())
}

/// The dispute of job `id`: re-runs it with the model in `model_file` on this machine's
/// CPU, and opens the first layer whose output differs from the provider's.
async fn challenge_call(id: u64, model_file: &Path, rpc: &str) -> anyhow::Result<Call> {
    let (file, model) = load_model(model_file, None)?;
    let c = client::connect(rpc).await?;
    let view: Option<JobView> =
        runtime_query(&c, menara_runtime::api::INFERENCE_JOB, &id.encode()).await?;
    let job = view.ok_or_else(|| anyhow!("there is no job {id}"))?.job;
    let file_id = H256(file.content_hash());
    if file_id != job.model {
        bail!(
            "{} is model {file_id}, but job {id} ran model {}",
            model_file.display(),
            job.model
        );
    }
    match job.state {
        JobState::Pending => bail!("job {id} is not committed yet: there is nothing to dispute"),
        JobState::Settled => bail!("job {id} was already settled against its provider"),
        JobState::Final | JobState::Expired => {
            bail!(
                "job {id} is {}: its challenge window is closed",
                job.state.name()
            )
        }
        JobState::Committed | JobState::Sampled | JobState::Verified => {}
    }
    if let Some(head) = client::header(&c, None).await? {
        if head.number > job.window_ends {
            bail!(
                "job {id}'s challenge window closed at block #{}",
                job.window_ends
            );
        }
    }
    eprintln!(
        "re-running job {id} ({} layers) on this machine's CPU...",
        model.layer_count()
    );
    let engine = gpu_verify::cpu::CpuEngine::new(0)?;
    let trace = gpu_verify::engine::run(&model, &job.input, &engine)
        .with_context(|| format!("running job {id}'s input through the model"))?;
    let ours = &trace.commitment.leaves;
    let root = H256(gpu_verify::commit::merkle_root(ours));
    if root == job.root {
        bail!(
            "job {id}: this machine computes the provider's result exactly (root {root}): there is nothing to dispute, nothing was sent"
        );
    }
    let theirs: Vec<[u8; 32]> = job.commitment.iter().map(|h| h.0).collect();
    let layer = gpu_verify::layer::first_disagreement(&theirs, ours)
        .map_err(|e| anyhow!("job {id}'s commitment cannot be disputed: {e}"))?;
    let input = match layer.checked_sub(1) {
        None => job.input.clone(),
        Some(prev) => trace
            .outputs
            .get(prev)
            .cloned()
            .ok_or_else(|| anyhow!("the local run has no output for layer {prev}"))?,
    };
    let weights = gpu_verify::layer::LayerWeights::open_for_input(&file, layer, &input)
        .with_context(|| format!("opening layer {layer}'s weights"))?;
    let call = Call::Challenge {
        job: id,
        commitment: ours.iter().map(|l| H256(*l)).collect(),
        layer: u32::try_from(layer).map_err(|_| anyhow!("layer {layer} out of range"))?,
        input,
        weights,
    };
    // A signed transaction adds its signer, nonce, tip and signature (about 140 bytes).
    let size = RuntimeCall::Inference(call.clone()).encoded_size() + 256;
    let max = menara_runtime::fees::MAX_LARGE_EXTRINSIC_SIZE;
    if size > max {
        bail!(
            "the dispute of layer {layer} needs {size} bytes, more than a transaction may carry ({max})"
        );
    }
    eprintln!(
        "layer {layer} is the first whose output differs from the provider's: disputing it ({size} bytes)"
    );
    Ok(call)
}

/// A line about an event of a provider, verifier or client call.
fn describe(e: &Event) -> Option<String> {
    Some(match e {
        Event::PriceSet { model, price, .. } if *price == 0 => {
            format!("price for model {model} withdrawn")
        }
        Event::PriceSet { model, price, .. } => {
            format!("price for model {model}: {} per job", format_amount(*price))
        }
        Event::Attested { job, .. } => format!("attested job {job}"),
        Event::VerifierRegistered { verifier, bond } => format!(
            "verifier {verifier} registered, bond {}",
            format_amount(*bond)
        ),
        Event::VerifierLeft { .. } => format!(
            "left the verifiers: the bond can be withdrawn {} blocks from now, once no check is open",
            <Runtime as pallet_inference::Config>::VERIFIER_UNBONDING
        ),
        Event::BondWithdrawn { amount, .. } => {
            format!("bond of {} returned", format_amount(*amount))
        }
        Event::Withdrawn { amount, .. } => format!("withdrew {}", format_amount(*amount)),
        Event::VerifierRewarded { job, amount, .. } => format!(
            "verifier reward for job {job}: {}",
            format_amount(*amount)
        ),
        Event::VerifierSlashed { job, amount, .. } => format!(
            "verifier slashed {} over job {job}",
            format_amount(*amount)
        ),
        _ => return None,
    })
}

pub async fn query(cmd: InferenceQuery) -> anyhow::Result<()> {
    match cmd {
        InferenceQuery::Job { id, json, rpc } => {
            let v = request(&rpc.rpc, "inference_job", rpc_params![id]).await?;
            if v.is_null() {
                bail!("there is no job {id}");
            }
            show(v, json, "job", print_job)?;
        }
        InferenceQuery::Jobs {
            account,
            limit,
            json,
            rpc,
        } => {
            let who = parse_account(&account)?;
            let v = request(&rpc.rpc, "inference_jobs", rpc_params![who, limit]).await?;
            show_list::<JobJson>(v, json, "jobs", &format!("no jobs of {who}"), print_job)?;
        }
        InferenceQuery::ProviderJobs { account, json, rpc } => {
            let who = parse_account(&account)?;
            let v = request(&rpc.rpc, "inference_providerJobs", rpc_params![who]).await?;
            show_list::<JobJson>(
                v,
                json,
                "jobs",
                &format!("no jobs waiting for {who}'s commitment"),
                print_job,
            )?;
        }
        InferenceQuery::VerifierJobs { account, json, rpc } => {
            let who = parse_account(&account)?;
            let v = request(&rpc.rpc, "inference_verifierJobs", rpc_params![who]).await?;
            show_list::<JobJson>(
                v,
                json,
                "jobs",
                &format!("no jobs waiting for {who}'s answer"),
                print_job,
            )?;
        }
        InferenceQuery::Verifier { account, json, rpc } => {
            let who = parse_account(&account)?;
            let v = request(&rpc.rpc, "inference_verifier", rpc_params![who]).await?;
            if v.is_null() {
                bail!("{who} is not a registered verifier");
            }
            show(v, json, "verifier", print_verifier)?;
        }
        InferenceQuery::Prices { model, json, rpc } => {
            let id = model_id(&model, "model")?;
            let v = request(&rpc.rpc, "inference_prices", rpc_params![id]).await?;
            if json {
                return print_json(&v);
            }
            let list: Vec<PriceJson> = decode(v, "prices")?;
            if list.is_empty() {
                println!("no provider has a price for model {id}");
            }
            for p in &list {
                println!(
                    "{}: {} per job, {} in open jobs of at most {}",
                    p.provider,
                    format_amount(p.price),
                    format_amount(p.unsettled),
                    format_amount(p.capacity)
                );
            }
        }
        InferenceQuery::Summary { json, rpc } => {
            let v = request(&rpc.rpc, "inference_summary", rpc_params![]).await?;
            if json {
                return print_json(&v);
            }
            let s: InferenceSummaryJson = decode(v, "summary")?;
            println!("jobs:              {}", s.jobs);
            println!("active verifiers:  {}", s.active_verifiers);
            println!(
                "sampled:           {} per mill of the jobs, {} per mill of those twice",
                s.sample_per_mill, s.double_per_mill
            );
            println!("verification pool: {}", format_amount(s.verification_pool));
            println!("held:              {}", format_amount(s.total_held));
            println!("burned:            {}", format_amount(s.total_burned));
        }
        InferenceQuery::Pending { account, json, rpc } => {
            let who = parse_account(&account)?;
            let v = request(&rpc.rpc, "inference_pending", rpc_params![who]).await?;
            if json {
                return print_json(&v);
            }
            let amount: Balance = v
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| anyhow!("unexpected answer to inference_pending: {v}"))?;
            println!("{}", format_amount(amount));
        }
    }
    Ok(())
}

/// `pending (the provider must commit by block #25)` and the like.
fn job_state(j: &JobJson) -> String {
    let window = |w: Option<BlockNumber>| w.map_or("?".to_string(), |w| format!("#{w}"));
    match j.state.as_str() {
        "pending" => format!(
            "pending (the provider must commit by block #{})",
            j.commit_by
        ),
        "committed" => format!(
            "committed (open to challenges until block {})",
            window(j.window_ends)
        ),
        "sampled" => format!(
            "sampled (re-executed by its verifiers; open to challenges until block {})",
            window(j.window_ends)
        ),
        "verified" => format!(
            "verified (its verifiers agreed; open to challenges until block {})",
            window(j.window_ends)
        ),
        other => other.to_string(),
    }
}

/// `2 sequences, 9 token ids` / `4 rows of 16 int8 values`.
fn describe_input(a: &ActivationJson) -> String {
    let seqs = match a.lens.len() {
        1 => "1 sequence".to_string(),
        n => format!("{n} sequences"),
    };
    match a.kind.as_str() {
        "tokens" => format!("{seqs}, {} token ids", a.values.len()),
        kind => {
            let rows: u64 = a.lens.iter().map(|&l| u64::from(l)).sum();
            let rows = if rows == 1 {
                "1 row".to_string()
            } else {
                format!("{rows} rows")
            };
            format!("{rows} of {} {kind} values", a.cols)
        }
    }
}

/// An embedding's dimension and first values, or an MLP's first row.
fn describe_output(a: &ActivationJson) -> String {
    const SHOWN: usize = 8;
    let first = |values: Vec<String>, total: usize| {
        let more = if total > SHOWN { ", ..." } else { "" };
        format!("[{}{more}]", values.join(", "))
    };
    let cols = a.cols.max(1) as usize;
    match &a.embedding {
        Some(e) => {
            let n = e.len() / cols;
            let row: Vec<String> = e
                .iter()
                .take(SHOWN.min(cols))
                .map(|x| format!("{x:.4}"))
                .collect();
            let of = if n == 1 {
                String::new()
            } else {
                format!(" x {n} sequences; the first")
            };
            format!("embedding of dimension {cols}{of}: {}", first(row, cols))
        }
        None => {
            let rows = match a.values.len() / cols {
                1 => "1 row".to_string(),
                n => format!("{n} rows"),
            };
            let row: Vec<String> = a
                .values
                .iter()
                .take(SHOWN.min(cols))
                .map(i64::to_string)
                .collect();
            format!(
                "{rows} of {cols} {} values; the first: {}",
                a.kind,
                first(row, cols)
            )
        }
    }
}

fn describe_checks(checks: &[CheckJson]) -> String {
    checks
        .iter()
        .map(|c| format!("{} {}", c.verifier, c.answer))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Who was paid or slashed.
fn describe_outcome(j: &JobJson, o: &OutcomeJson) -> String {
    match o {
        OutcomeJson::Paid {
            provider,
            royalty,
            verification_fee,
            verifier_reward,
        } => format!(
            "paid: {} to the provider {}, {} royalty to the model's share holders, {} to the verification pool, {} to the verifiers",
            format_amount(*provider),
            j.provider,
            format_amount(*royalty),
            format_amount(*verification_fee),
            format_amount(*verifier_reward)
        ),
        OutcomeJson::ProviderSlashed {
            layer,
            slashed,
            challenger,
            reward,
            burned,
            refunded,
        } => format!(
            "provider {} slashed {} (layer {layer} was wrong): {} to the challenger {challenger}, {} burned, {} refunded to the client",
            j.provider,
            format_amount(*slashed),
            format_amount(*reward),
            format_amount(*burned),
            format_amount(*refunded)
        ),
        OutcomeJson::Expired { refunded, penalty } => format!(
            "expired: {} refunded to the client, {} penalty from the provider {} to the client",
            format_amount(*refunded),
            format_amount(*penalty),
            j.provider
        ),
    }
}

fn print_job(j: &JobJson) {
    println!("job {}: {}", j.id, job_state(j));
    println!("  model:       {}", j.model);
    println!("  client:      {}", j.client);
    println!("  provider:    {}", j.provider);
    println!(
        "  fee:         {} (royalty {}, verification fee {})",
        format_amount(j.fee),
        format_amount(j.royalty),
        format_amount(j.verification_fee)
    );
    println!("  submitted:   block #{}", j.submitted_at);
    println!("  input:       {}", describe_input(&j.input));
    if let (Some(at), Some(root)) = (j.committed_at, &j.root) {
        println!("  committed:   block #{at}, root {root}");
    }
    if let Some(o) = &j.output {
        println!("  output:      {}", describe_output(o));
    }
    if !j.checks.is_empty() {
        println!("  verifiers:   {}", describe_checks(&j.checks));
    }
    if j.challenges_rejected > 0 {
        println!("  challenges:  {} rejected", j.challenges_rejected);
    }
    if let Some(o) = &j.outcome {
        println!("  outcome:     {}", describe_outcome(j, o));
    }
}

fn print_verifier(v: &VerifierJson) {
    let status = match (v.status.as_str(), v.leaving_since) {
        ("leaving", Some(since)) => format!("leaving (since block #{since})"),
        (other, _) => other.to_string(),
    };
    println!("verifier {}: {status}", v.account);
    println!("  bond:        {}", format_amount(v.bond));
    println!(
        "  record:      {} attested, {} missed, {} slashed, {} earned",
        v.attested,
        v.missed,
        format_amount(v.slashed),
        format_amount(v.earned)
    );
    if v.open_checks.is_empty() {
        println!("  open checks: none");
    } else {
        let ids: Vec<String> = v.open_checks.iter().map(u64::to_string).collect();
        println!("  open checks: {}", ids.join(", "));
    }
}
