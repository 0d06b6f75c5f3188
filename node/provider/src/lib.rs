//! The compute provider's worker: the off-chain half of `pallet_compute`'s availability
//! challenges.
//!
//! On every new block the worker asks the chain for the open challenges addressed to its
//! account. A new challenge is run with gpu-verify (the CUDA engine when a GPU and driver
//! are present, else the threaded CPU engine) and answered with the Merkle root over its
//! step outputs; once the chain has drawn the step to audit (from the beacon of the block
//! after the answer), the worker reveals that step's input with its Merkle openings. Runs
//! keep checkpoints so an opening costs at most `checkpoint_every` steps to rebuild.
//!
//! The worker talks to its node through the narrow [`Chain`] trait, so it does not depend
//! on the node's service crate and can be tested against a fake chain.
#![warn(missing_docs)]

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
}

/// What the worker needs from its node.
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
}

/// The engine the worker computes with, and a description for the log.
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
struct Progress {
    run: Option<Arc<ChallengeRun>>,
    answered_at: Option<BlockNumber>,
    revealed_at: Option<BlockNumber>,
}

/// The provider worker.
pub struct Provider<C: Chain> {
    chain: Arc<C>,
    key: SigningKey,
    account: AccountId,
    engine: Arc<dyn Gemm + Send + Sync>,
    resubmit_after: BlockNumber,
    progress: HashMap<ChallengeId, Progress>,
}

impl<C: Chain> Provider<C> {
    /// A worker for `config.key`'s account on `chain`.
    pub fn new(chain: Arc<C>, config: ProviderConfig) -> Self {
        let account = AccountId(config.key.verifying_key().to_bytes());
        Provider {
            chain,
            key: config.key,
            account,
            engine: config.engine.gemm,
            resubmit_after: config.resubmit_after.max(1),
            progress: HashMap::new(),
        }
    }

    /// The provider's account.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// Follows new blocks until the node's head stream closes.
    pub async fn run(mut self) {
        let mut heads = self.chain.new_heads();
        loop {
            let head = match heads.recv().await {
                Ok(h) => h,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if let Err(e) = self.on_block(head.number).await {
                tracing::warn!(target: "provider", "block #{}: {e}", head.number);
            }
        }
    }

    /// Handles the open challenges as of block `number`.
    pub async fn on_block(&mut self, number: BlockNumber) -> Result<(), ProviderError> {
        let out = self
            .chain
            .query(b"compute_challenges", &self.account.encode())
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
        let resubmit_after = self.resubmit_after;
        let due = |at: Option<BlockNumber>| at.is_none_or(|at| number >= at + resubmit_after);
        let progress = self.progress.entry(view.id).or_insert(Progress {
            run: None,
            answered_at: None,
            revealed_at: None,
        });
        match (&view.challenge.state, view.audit_step) {
            (ChallengeState::Issued, _) if due(progress.answered_at) => {
                let run = self.workload(view).await?;
                let root = H256(run.root());
                let (id, answer_by) = (view.id, view.challenge.answer_by);
                self.submit(RuntimeCall::Compute(pallet_compute::Call::Answer {
                    challenge: id,
                    root,
                }))?;
                tracing::info!(target: "provider", "answered challenge #{id} at #{number} (deadline #{answer_by}): root {root}");
                if let Some(p) = self.progress.get_mut(&id) {
                    p.answered_at = Some(number);
                }
            }
            (ChallengeState::Answered { .. }, Some(step)) if due(progress.revealed_at) => {
                let run = self.workload(view).await?;
                let engine = self.engine.clone();
                let opening =
                    tokio::task::spawn_blocking(move || run.opening(step, engine.as_ref()))
                        .await
                        .map_err(|e| ProviderError::Task(e.to_string()))??;
                let id = view.id;
                self.submit(RuntimeCall::Compute(pallet_compute::Call::Reveal {
                    challenge: id,
                    opening,
                }))?;
                tracing::info!(target: "provider", "revealed step {step} of challenge #{id}");
                if let Some(p) = self.progress.get_mut(&id) {
                    p.revealed_at = Some(number);
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

    fn submit(&self, call: RuntimeCall) -> Result<H256, ProviderError> {
        let nonce = self
            .chain
            .next_nonce(&self.account)
            .map_err(ProviderError::Node)?;
        let tx =
            menara_chain_spec::keyring::sign(&self.key, &self.chain.genesis_hash(), nonce, 0, call);
        self.chain.submit(tx).map_err(ProviderError::Node)
    }
}
