//! The node's workers for the compute and inference markets: the off-chain halves of
//! `pallet_compute`'s availability challenges and of `pallet_inference`'s jobs.
//!
//! * [`Provider`] (`menara --provider`): on every new block the worker asks the chain for
//!   the open challenges addressed to its account. A new challenge is run with gpu-verify
//!   and answered with the Merkle root over its step outputs; once the chain has drawn the
//!   step to audit (from the beacon of the block after the answer), the worker reveals that
//!   step's input with its Merkle openings. Runs keep checkpoints so an opening costs at
//!   most `checkpoint_every` steps to rebuild.
//! * [`inference::InferenceProvider`] (also `--provider`): runs the inference jobs
//!   assigned to the account and commits their per-layer hashes and output.
//! * [`verifier::Verifier`] (`--verifier`): re-executes the sampled jobs assigned to the
//!   account and attests or disputes them.
//!
//! All compute with the node's [`Engine`] (the CUDA engine when a GPU and driver are
//! present, else the threaded CPU engine), send transactions through one [`tx::Signer`]
//! per account, and share the parsed models ([`models::Models`]). [`start`] starts the
//! workers a node runs.
//!
//! The workers talk to their node through the narrow [`Chain`] trait, so they do not
//! depend on the node's service crate and can be tested against a fake chain.
#![warn(missing_docs)]

pub mod inference;
pub mod models;
pub mod tx;
pub mod verifier;

use ed25519_dalek::SigningKey;
use gpu_verify::challenge::{Challenge as Workload, ChallengeRun};
use gpu_verify::engine::Gemm;
use menara_primitives::{AccountId, BlockNumber, Header, H256};
use menara_runtime::RuntimeCall;
use pallet_compute::{ChallengeId, ChallengeState, ChallengeView};
use parity_scale_codec::{DecodeAll, Encode};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast;
use tx::{Sent, Signer};

/// Why a step of the worker failed (it logs and retries on a later block).
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The node refused or failed a query or a submission.
    #[error("node: {0}")]
    Node(String),
    /// The runtime's answer did not decode.
    #[error("undecodable answer to {0}")]
    Decode(&'static str),
    /// gpu-verify refused the workload.
    #[error("workload: {0}")]
    Workload(#[from] gpu_verify::Error),
    /// The blocking task running the workload failed.
    #[error("workload task: {0}")]
    Task(String),
    /// A model file is missing its tensors, does not parse or is not the model its id says.
    #[error("{0}")]
    Model(String),
    /// A dispute could not be built, or would not go against the provider.
    #[error("dispute: {0}")]
    Dispute(String),
    /// The worker gave up on an item (a job it cannot run, answer or dispute): said once.
    #[error("{0}")]
    GaveUp(String),
    /// A transaction is larger than the chain accepts.
    #[error("the transaction is {size} bytes, more than the largest the chain accepts ({max})")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The largest accepted.
        max: usize,
    },
}

/// What the workers need from their node.
pub trait Chain: Send + Sync + 'static {
    /// The chain's genesis hash (transactions sign it).
    fn genesis_hash(&self) -> H256;
    /// A read-only runtime query at the best block (`method` as in `runtime/src/api.rs`).
    fn query(&self, method: &[u8], args: &[u8]) -> Result<Vec<u8>, String>;
    /// The next nonce of `who`, counting its transactions in the pool.
    fn next_nonce(&self, who: &AccountId) -> Result<u64, String>;
    /// Hands a signed transaction to the pool (and the network).
    fn submit(&self, tx: Vec<u8>) -> Result<H256, String>;
    /// New best blocks.
    fn new_heads(&self) -> broadcast::Receiver<Header>;
    /// The bytes of model `id`'s file when the node's model store holds it, `None` when it
    /// does not (blocking: reads the file; call it off the async runtime).
    fn model_file(&self, id: &H256) -> Result<Option<Vec<u8>>, String>;
    /// Starts fetching the registered model `id` from peers into the node's model store
    /// (nothing happens when the store holds it or a download of it is running).
    fn request_model(&self, id: &H256) -> Result<(), String>;
}

/// The newest head from `heads`, skipping those that queued up meanwhile (a worker busy
/// computing acts on the chain as it is now); `None` once the stream closed.
pub async fn next_head(heads: &mut broadcast::Receiver<Header>) -> Option<Header> {
    let mut head = loop {
        match heads.recv().await {
            Ok(h) => break h,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    };
    loop {
        match heads.try_recv() {
            Ok(h) => head = h,
            Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
            Err(_) => return Some(head),
        }
    }
}

/// The engine the workers compute with, and a description for the log.
#[derive(Clone)]
pub struct Engine {
    gemm: Arc<dyn Gemm + Send + Sync>,
    description: String,
}

impl Engine {
    /// The CUDA engine on device 0 when a GPU and driver are present, else the CPU engine
    /// on all cores.
    pub fn detect() -> Result<Engine, ProviderError> {
        match gpu_verify::cuda::cuda_available().and_then(|()| gpu_verify::cuda::CudaEngine::new(0))
        {
            Ok(cuda) => Ok(Engine {
                description: format!("CUDA on {}", cuda.device_name()),
                gemm: Arc::new(cuda),
            }),
            Err(why) => {
                let cpu = gpu_verify::cpu::CpuEngine::new(0)?;
                Ok(Engine {
                    description: format!("CPU, {} threads (no GPU: {why})", cpu.threads()),
                    gemm: Arc::new(cpu),
                })
            }
        }
    }

    /// The CPU engine with `threads` threads (0: all cores).
    pub fn cpu(threads: usize) -> Result<Engine, ProviderError> {
        let cpu = gpu_verify::cpu::CpuEngine::new(threads)?;
        Ok(Engine {
            description: format!("CPU, {} threads", cpu.threads()),
            gemm: Arc::new(cpu),
        })
    }

    /// What the engine is, for the log.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The GEMM backend.
    pub fn gemm(&self) -> Arc<dyn Gemm + Send + Sync> {
        self.gemm.clone()
    }
}

/// The worker's settings.
pub struct ProviderConfig {
    /// The provider's account key (signs answers and reveals).
    pub key: SigningKey,
    /// The engine.
    pub engine: Engine,
    /// Blocks after which a submission that left no trace is sent again.
    pub resubmit_after: BlockNumber,
}

/// Where the worker stands with one challenge.
#[derive(Default)]
struct Progress {
    run: Option<Arc<ChallengeRun>>,
    answered: Option<Sent>,
    revealed: Option<Sent>,
}

/// The compute provider worker: answers availability challenges.
pub struct Provider<C: Chain> {
    signer: Arc<Signer<C>>,
    engine: Arc<dyn Gemm + Send + Sync>,
    progress: HashMap<ChallengeId, Progress>,
}

impl<C: Chain> Provider<C> {
    /// A worker for `config.key`'s account on `chain`.
    pub fn new(chain: Arc<C>, config: ProviderConfig) -> Self {
        Self::with_signer(
            Signer::new(chain, config.key, config.resubmit_after),
            config.engine,
        )
    }

    /// A worker sending its transactions through `signer` (shared with the account's other
    /// workers).
    pub fn with_signer(signer: Arc<Signer<C>>, engine: Engine) -> Self {
        Provider {
            signer,
            engine: engine.gemm,
            progress: HashMap::new(),
        }
    }

    /// The provider's account.
    pub fn account(&self) -> AccountId {
        self.signer.account()
    }

    /// Follows new blocks until the node's head stream closes.
    pub async fn run(mut self) {
        let mut heads = self.signer.chain().new_heads();
        while let Some(head) = next_head(&mut heads).await {
            if let Err(e) = self.on_block(head.number).await {
                tracing::warn!(target: "provider", "block #{}: {e}", head.number);
            }
        }
    }

    /// Handles the open challenges as of block `number`.
    pub async fn on_block(&mut self, number: BlockNumber) -> Result<(), ProviderError> {
        let out = self
            .signer
            .chain()
            .query(
                menara_runtime::api::COMPUTE_CHALLENGES,
                &self.account().encode(),
            )
            .map_err(ProviderError::Node)?;
        let open = Vec::<ChallengeView>::decode_all(&mut &out[..])
            .map_err(|_| ProviderError::Decode("compute_challenges"))?;
        self.progress
            .retain(|id, _| open.iter().any(|c| c.id == *id));
        for view in open {
            if let Err(e) = self.handle(number, &view).await {
                tracing::warn!(target: "provider", "challenge #{}: {e}", view.id);
            }
        }
        Ok(())
    }

    async fn handle(
        &mut self,
        number: BlockNumber,
        view: &ChallengeView,
    ) -> Result<(), ProviderError> {
        let progress = self.progress.entry(view.id).or_default();
        let (answered, revealed) = (progress.answered, progress.revealed);
        match (&view.challenge.state, view.audit_step) {
            (ChallengeState::Issued, _) if self.signer.due(answered.as_ref(), number)? => {
                let run = self.workload(view).await?;
                let root = H256(run.root());
                let (id, answer_by) = (view.id, view.challenge.answer_by);
                let sent = self.signer.submit(
                    number,
                    RuntimeCall::Compute(pallet_compute::Call::Answer {
                        challenge: id,
                        root,
                    }),
                )?;
                tracing::info!(target: "provider", "answered challenge #{id} at #{number} (deadline #{answer_by}): root {root}");
                if let Some(p) = self.progress.get_mut(&id) {
                    p.answered = Some(sent);
                }
            }
            (ChallengeState::Answered { .. }, Some(step))
                if self.signer.due(revealed.as_ref(), number)? =>
            {
                let run = self.workload(view).await?;
                let engine = self.engine.clone();
                let opening =
                    tokio::task::spawn_blocking(move || run.opening(step, engine.as_ref()))
                        .await
                        .map_err(|e| ProviderError::Task(e.to_string()))??;
                let id = view.id;
                let sent = self.signer.submit(
                    number,
                    RuntimeCall::Compute(pallet_compute::Call::Reveal {
                        challenge: id,
                        opening,
                    }),
                )?;
                tracing::info!(target: "provider", "revealed step {step} of challenge #{id}");
                if let Some(p) = self.progress.get_mut(&id) {
                    p.revealed = Some(sent);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The run of a challenge's workload, computed once (on the blocking pool).
    async fn workload(&mut self, view: &ChallengeView) -> Result<Arc<ChallengeRun>, ProviderError> {
        if let Some(run) = self.progress.get(&view.id).and_then(|p| p.run.clone()) {
            return Ok(run);
        }
        let (seed, shape) = (view.challenge.seed.0, view.challenge.shape);
        let engine = self.engine.clone();
        let started = std::time::Instant::now();
        let run = tokio::task::spawn_blocking(move || {
            let workload = Workload::generate(&seed, shape)?;
            // About sqrt(depth) checkpoints: memory and the cost of an opening balance.
            let every = (u64::from(shape.depth).isqrt() as u32).max(1);
            workload.run(engine.as_ref(), every)
        })
        .await
        .map_err(|e| ProviderError::Task(e.to_string()))??;
        tracing::info!(target: "provider", "ran challenge #{} ({} steps of {}x{}) in {:.2?}", view.id, shape.depth, shape.seq, shape.width, started.elapsed());
        let run = Arc::new(run);
        if let Some(p) = self.progress.get_mut(&view.id) {
            p.run = Some(run.clone());
        }
        Ok(run)
    }
}

/// What a node runs: the provider's workers, the verifier's, or both.
pub struct WorkersConfig {
    /// The provider's account key: answers its availability challenges and runs and
    /// commits its inference jobs (`--provider`).
    pub provider: Option<SigningKey>,
    /// The verifier's account key: re-executes the sampled jobs it is drawn for
    /// (`--verifier`). It may be the provider's.
    pub verifier: Option<SigningKey>,
    /// TEST ONLY: per thousand of inference jobs the provider commits wrong on purpose.
    pub cheat_per_mill: u32,
    /// Blocks after which a transaction that left the pool unincluded is sent again.
    pub resubmit_after: BlockNumber,
}

/// Starts the workers `config` names on `chain`, all computing with `engine` (called from
/// within a tokio runtime). Workers of the same account share one [`Signer`], so their
/// transactions never reuse a nonce.
pub fn start<C: Chain>(
    chain: Arc<C>,
    engine: Engine,
    config: WorkersConfig,
) -> Vec<tokio::task::JoinHandle<()>> {
    let models = models::Models::new(chain.clone());
    let mut tasks = Vec::new();
    if config.provider.is_some() || config.verifier.is_some() {
        tracing::info!(target: "provider", "computing with {}", engine.description());
    }
    let provider = config
        .provider
        .map(|key| Signer::new(chain.clone(), key, config.resubmit_after));
    if let Some(signer) = &provider {
        tracing::info!(target: "provider", "compute provider {}: answering availability challenges and running inference jobs", signer.account());
        tasks.push(tokio::spawn(
            Provider::with_signer(signer.clone(), engine.clone()).run(),
        ));
        tasks.push(tokio::spawn(
            inference::InferenceProvider::new(
                signer.clone(),
                models.clone(),
                engine.clone(),
                inference::InferenceConfig {
                    cheat_per_mill: config.cheat_per_mill,
                },
            )
            .run(),
        ));
    }
    if let Some(key) = config.verifier {
        let account = AccountId(key.verifying_key().to_bytes());
        let signer = match &provider {
            Some(p) if p.account() == account => p.clone(),
            _ => Signer::new(chain.clone(), key, config.resubmit_after),
        };
        tracing::info!(target: "verifier", "verifier {account}: re-executing the sampled inference jobs it is drawn for");
        tasks.push(tokio::spawn(
            verifier::Verifier::new(signer, models, engine).run(),
        ));
    }
    tasks
}
