//! The inference provider's worker: the off-chain half of `pallet_inference`'s jobs.
//!
//! On every new block the worker asks the chain for the jobs waiting for its account's
//! commitment (`inference_providerJobs`). For a new job it gets the model from the node's
//! store (fetching it from peers first when missing, see [`crate::models`]), runs it with
//! gpu-verify on the node's engine and commits the output with every layer's output hash
//! (`Commit`); the chain checks the commitment's shape, and a sampled job is re-executed
//! by a verifier ([`crate::verifier`]) that disputes a wrong layer.
//!
//! TEST ONLY: with `cheat_per_mill > 0` the worker commits a wrong result for that share
//! of its jobs, as a real cheater would: one layer's output is corrupted and every later
//! layer recomputed from it, so the commitment is consistent except at that layer
//! ([`run_job`]). It exists to exercise disputes and slashing end to end.
use crate::models::{LoadedModel, Models};
use crate::tx::{Sent, Signer};
use crate::{next_head, Chain, Engine, ProviderError};
use gpu_verify::engine::{run, run_layer, ActData, Activation, Gemm};
use gpu_verify_core::commit::activation_hash;
use menara_primitives::{BlockNumber, H256};
use menara_runtime::RuntimeCall;
use pallet_inference::{JobId, JobState, JobView};
use parity_scale_codec::{DecodeAll, Encode};
use std::collections::HashMap;
use std::sync::Arc;

/// The inference provider's settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct InferenceConfig {
    /// TEST ONLY: per thousand of jobs committed wrong on purpose (0: never).
    pub cheat_per_mill: u32,
}

/// What a provider commits for a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobResult {
    /// Input hash, then one hash per layer output.
    pub commitment: Vec<H256>,
    /// The last layer's output.
    pub output: Activation,
    /// TEST ONLY: the layer whose output was corrupted on purpose.
    pub cheated_layer: Option<usize>,
}

/// A hash of the job id for the cheating switch's choices.
fn cheat_seed(job: JobId) -> [u8; 32] {
    let mut data = b"menara/provider/test-cheat".to_vec();
    data.extend_from_slice(&job.to_le_bytes());
    menara_primitives::blake3_256(&data).0
}

fn u32_at(r: &[u8; 32], at: usize) -> u32 {
    u32::from_le_bytes([r[at], r[at + 1], r[at + 2], r[at + 3]])
}

/// TEST ONLY: the layer a provider cheating on `per_mill` of its jobs corrupts on job
/// `job` of a model with `layer_count` layers, if it cheats on that job. Decided from the
/// job id alone; any layer, the embeddings included (their dispute opens only the rows the
/// input reads).
pub fn cheat_layer(job: JobId, per_mill: u32, layer_count: usize) -> Option<usize> {
    let seed = cheat_seed(job);
    if layer_count == 0 || u32_at(&seed, 0) % 1000 >= per_mill.min(1000) {
        return None;
    }
    Some(u32_at(&seed, 4) as usize % layer_count)
}

/// Flips the lowest bit of one value of `a`, chosen from `seed`.
fn corrupt(a: &mut Activation, seed: &[u8; 32]) {
    let pick = |len: usize| (len > 0).then(|| u32_at(seed, 8) as usize % len);
    match &mut a.data {
        ActData::Tokens(v) => {
            if let Some(i) = pick(v.len()) {
                v[i] ^= 1;
            }
        }
        ActData::I8(v) => {
            if let Some(i) = pick(v.len()) {
                v[i] ^= 1;
            }
        }
        ActData::I16(v) => {
            if let Some(i) = pick(v.len()) {
                v[i] ^= 1;
            }
        }
    }
}

/// Runs job `job` of `model` on `input`: every layer's output hash and the output. With
/// `cheat_per_mill > 0` (TEST ONLY) that share of jobs gets one corrupted layer (see
/// [`cheat_layer`]) and every later layer recomputed from it.
pub fn run_job(
    model: &LoadedModel,
    job: JobId,
    input: &Activation,
    gemm: &dyn Gemm,
    cheat_per_mill: u32,
) -> Result<JobResult, ProviderError> {
    let trace = run(&model.model, input, gemm)?;
    let mut leaves = trace.commitment.leaves;
    let mut outputs = trace.outputs;
    let cheated_layer = cheat_layer(job, cheat_per_mill, outputs.len());
    if let Some(layer) = cheated_layer {
        corrupt(&mut outputs[layer], &cheat_seed(job));
        leaves[layer + 1] = activation_hash(&outputs[layer]);
        for next in layer + 1..outputs.len() {
            let out = run_layer(&model.model, next, &outputs[next - 1], gemm)?;
            leaves[next + 1] = activation_hash(&out);
            outputs[next] = out;
        }
    }
    let output = outputs
        .pop()
        .ok_or_else(|| ProviderError::Model(format!("model {} has no layers", model.id)))?;
    Ok(JobResult {
        commitment: leaves.into_iter().map(H256).collect(),
        output,
        cheated_layer,
    })
}

/// Where the worker stands with one job.
#[derive(Default)]
struct Progress {
    result: Option<Arc<JobResult>>,
    sent: Option<Sent>,
    /// The job did not run (a deterministic failure): said once, not tried again.
    failed: bool,
}

/// The inference provider worker.
pub struct InferenceProvider<C: Chain> {
    signer: Arc<Signer<C>>,
    models: Arc<Models<C>>,
    engine: Engine,
    config: InferenceConfig,
    progress: HashMap<JobId, Progress>,
}

impl<C: Chain> InferenceProvider<C> {
    /// A worker committing the jobs of `signer`'s account, computing with `engine`.
    pub fn new(
        signer: Arc<Signer<C>>,
        models: Arc<Models<C>>,
        engine: Engine,
        config: InferenceConfig,
    ) -> Self {
        InferenceProvider {
            signer,
            models,
            engine,
            config,
            progress: HashMap::new(),
        }
    }

    /// Follows new blocks until the node's head stream closes.
    pub async fn run(mut self) {
        let mut heads = self.signer.chain().new_heads();
        while let Some(head) = next_head(&mut heads).await {
            if let Err(e) = self.on_block(head.number).await {
                tracing::warn!(target: "provider", "inference jobs at #{}: {e}", head.number);
            }
        }
    }

    /// Handles the jobs waiting for a commitment as of block `number`.
    pub async fn on_block(&mut self, number: BlockNumber) -> Result<(), ProviderError> {
        let account = self.signer.account();
        let out = self
            .signer
            .chain()
            .query(
                menara_runtime::api::INFERENCE_PROVIDER_JOBS,
                &account.encode(),
            )
            .map_err(ProviderError::Node)?;
        let jobs = Vec::<JobView>::decode_all(&mut &out[..])
            .map_err(|_| ProviderError::Decode("inference_providerJobs"))?;
        self.progress
            .retain(|id, _| jobs.iter().any(|j| j.id == *id));
        for view in jobs {
            match self.handle(number, &view).await {
                Ok(()) => {}
                Err(e @ ProviderError::GaveUp(_)) => {
                    tracing::error!(target: "provider", "inference job #{}: {e}", view.id)
                }
                Err(e) => tracing::warn!(target: "provider", "inference job #{}: {e}", view.id),
            }
        }
        Ok(())
    }

    async fn handle(&mut self, number: BlockNumber, view: &JobView) -> Result<(), ProviderError> {
        let job = &view.job;
        if job.state != JobState::Pending
            || job.provider != self.signer.account()
            || number > job.commit_by
        {
            return Ok(());
        }
        let progress = self.progress.entry(view.id).or_default();
        if progress.failed || !self.signer.due(progress.sent.as_ref(), number)? {
            return Ok(());
        }
        let result = match progress.result.clone() {
            Some(r) => r,
            None => {
                let Some(model) = self.models.get(job.model, number).await? else {
                    return Ok(()); // Being fetched: a later block runs it.
                };
                let computed = self.compute(view.id, model, job.input.clone()).await;
                let Some(p) = self.progress.get_mut(&view.id) else {
                    return Ok(());
                };
                match computed {
                    Ok(r) => p.result.insert(Arc::new(r)).clone(),
                    Err(e) => {
                        p.failed = true;
                        return Err(ProviderError::GaveUp(format!(
                            "cannot run it ({e}); it will expire uncommitted"
                        )));
                    }
                }
            }
        };
        let sent = self.signer.submit(
            number,
            RuntimeCall::Inference(pallet_inference::Call::Commit {
                job: view.id,
                commitment: result.commitment.clone(),
                output: result.output.clone(),
            }),
        )?;
        let leaves: Vec<[u8; 32]> = result.commitment.iter().map(|h| h.0).collect();
        let root = H256(gpu_verify::commit::merkle_root(&leaves));
        tracing::info!(target: "provider", "committed inference job #{} at #{number} (deadline #{}): {} layers, root {root}", view.id, job.commit_by, leaves.len().saturating_sub(1));
        if let Some(p) = self.progress.get_mut(&view.id) {
            p.sent = Some(sent);
        }
        Ok(())
    }

    /// Runs a job on the blocking pool.
    async fn compute(
        &self,
        id: JobId,
        model: Arc<LoadedModel>,
        input: Activation,
    ) -> Result<JobResult, ProviderError> {
        let gemm = self.engine.gemm();
        let cheat = self.config.cheat_per_mill;
        let started = std::time::Instant::now();
        let result =
            tokio::task::spawn_blocking(move || run_job(&model, id, &input, gemm.as_ref(), cheat))
                .await
                .map_err(|e| ProviderError::Task(e.to_string()))??;
        tracing::info!(target: "provider", "ran inference job #{id} in {:.2?}", started.elapsed());
        if let Some(layer) = result.cheated_layer {
            tracing::warn!(target: "provider", "TEST ONLY (--unsafe-test-cheat-per-mill): cheated on inference job #{id}: corrupted the output of layer {layer}");
        }
        Ok(result)
    }
}
