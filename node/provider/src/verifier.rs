//! The verifier's worker: re-executes the sampled inference jobs the chain assigned to its
//! account and attests or disputes them.
//!
//! On every new block the worker asks the chain for the sampled jobs waiting for its answer
//! (`inference_verifierJobs`). It runs each job itself (the model from the node's store,
//! see [`crate::models`]) and compares the Merkle root of its per-layer hashes with the
//! provider's: the same root is attested (`Attest`); a different one is disputed
//! (`Challenge`) at the first layer where the hashes differ, with that layer's input
//! activation and its weights opened against the model id, which the runtime re-executes
//! to settle the dispute in one step. Before sending a dispute the worker settles it
//! itself with the same code, so it never posts a bond on a dispute it would lose.
//!
//! An account that is not a registered verifier is reminded once how to register, and
//! the worker keeps watching.
use crate::models::{LoadedModel, Models};
use crate::tx::{Sent, Signer};
use crate::{next_head, Chain, Engine, ProviderError};
use gpu_verify::commit::merkle_root;
use gpu_verify::engine::{run, Gemm};
use gpu_verify_core::layer::{first_disagreement, settle_dispute, LayerWeights};
use menara_primitives::{BlockNumber, H256};
use menara_runtime::RuntimeCall;
use pallet_inference::{Call, Job, JobId, JobState, JobView, VerifierStatus, VerifierView};
use parity_scale_codec::{DecodeAll, Encode};
use std::collections::HashMap;
use std::sync::Arc;

/// What re-executing a job found: the call to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The roots agree: attest.
    Attest(Call),
    /// The provider's commitment is wrong from `layer` on: dispute.
    Challenge {
        /// The first wrong layer.
        layer: usize,
        /// The `Challenge` call.
        call: Call,
    },
}

impl Answer {
    /// The call to send.
    pub fn call(&self) -> &Call {
        match self {
            Answer::Attest(call) | Answer::Challenge { call, .. } => call,
        }
    }
}

/// Re-executes job `id` (`job`, committed with `model`) on `gemm` and builds the answer:
/// `Attest` with the root when the Merkle root of the re-executed hashes equals the
/// provider's, else a `Challenge` of the first differing layer, checked beforehand with
/// [`settle_dispute`] (the runtime's own settlement) to go against the provider.
pub fn check_job(
    model: &LoadedModel,
    id: JobId,
    job: &Job,
    gemm: &dyn Gemm,
) -> Result<Answer, ProviderError> {
    let trace = run(&model.model, &job.input, gemm)?;
    let leaves = trace.commitment.leaves;
    let root = H256(merkle_root(&leaves));
    if root == job.root {
        return Ok(Answer::Attest(Call::Attest { job: id, root }));
    }
    let provider: Vec<[u8; 32]> = job.commitment.iter().map(|h| h.0).collect();
    let layer = first_disagreement(&provider, &leaves)
        .map_err(|e| ProviderError::Dispute(format!("job #{id}: {e}")))?;
    let input = match layer {
        0 => job.input.clone(),
        l => trace.outputs[l - 1].clone(),
    };
    // An encoder's embeddings are opened at the input's token rows only.
    let weights = LayerWeights::open_for_input(&model.file, layer, &input)?;
    let verdict = settle_dispute(
        &model.id.0,
        &provider,
        &leaves,
        layer as u32,
        &input,
        &weights,
        gemm,
    )
    .map_err(|e| ProviderError::Dispute(format!("job #{id}, layer {layer}: {e:?}")))?;
    if verdict.provider_right || !verdict.challenger_right {
        return Err(ProviderError::Dispute(format!(
            "job #{id}, layer {layer}: re-executing the layer alone does not confirm this \
             node's result (provider right: {}, this node right: {}); not disputing",
            verdict.provider_right, verdict.challenger_right
        )));
    }
    Ok(Answer::Challenge {
        layer,
        call: Call::Challenge {
            job: id,
            commitment: leaves.into_iter().map(H256).collect(),
            layer: layer as u32,
            input,
            weights,
        },
    })
}

/// Where the worker stands with one job.
#[derive(Default)]
struct Progress {
    answer: Option<Arc<Answer>>,
    sent: Option<Sent>,
    /// The job could not be answered (no dispute possible): said once.
    gave_up: bool,
}

/// The verifier worker.
pub struct Verifier<C: Chain> {
    signer: Arc<Signer<C>>,
    models: Arc<Models<C>>,
    engine: Engine,
    progress: HashMap<JobId, Progress>,
    /// Whether the account was a registered, active verifier at the last block (`None`:
    /// not yet known); the hints are logged when this changes.
    registered: Option<bool>,
}

impl<C: Chain> Verifier<C> {
    /// A worker answering the checks of `signer`'s account, computing with `engine`.
    pub fn new(signer: Arc<Signer<C>>, models: Arc<Models<C>>, engine: Engine) -> Self {
        Verifier {
            signer,
            models,
            engine,
            progress: HashMap::new(),
            registered: None,
        }
    }

    /// Follows new blocks until the node's head stream closes.
    pub async fn run(mut self) {
        let mut heads = self.signer.chain().new_heads();
        while let Some(head) = next_head(&mut heads).await {
            if let Err(e) = self.on_block(head.number).await {
                tracing::warn!(target: "verifier", "sampled jobs at #{}: {e}", head.number);
            }
        }
    }

    fn query<T: parity_scale_codec::Decode>(
        &self,
        method: &'static [u8],
        name: &'static str,
    ) -> Result<T, ProviderError> {
        let out = self
            .signer
            .chain()
            .query(method, &self.signer.account().encode())
            .map_err(ProviderError::Node)?;
        T::decode_all(&mut &out[..]).map_err(|_| ProviderError::Decode(name))
    }

    /// Handles the sampled jobs waiting for this verifier as of block `number`.
    pub async fn on_block(&mut self, number: BlockNumber) -> Result<(), ProviderError> {
        let record: Option<VerifierView> = self.query(
            menara_runtime::api::INFERENCE_VERIFIER,
            "inference_verifier",
        )?;
        let active = record
            .as_ref()
            .is_some_and(|v| v.verifier.status == VerifierStatus::Active);
        if self.registered != Some(active) {
            let account = self.signer.account();
            match &record {
                None => {
                    tracing::warn!(target: "verifier", "{account} is not a registered verifier: register with `menara tx inference register-verifier --bond <amount>` (signed by this account) to be drawn for sampled jobs; watching meanwhile")
                }
                Some(v) if !active => {
                    tracing::warn!(target: "verifier", "verifier {account} is leaving ({:?}): it is drawn for no new jobs, and answers the {} it still has", v.verifier.status, v.open_checks.len())
                }
                Some(v) => {
                    tracing::info!(target: "verifier", "verifier {account} is registered (bond {}): checking the sampled jobs it is drawn for", v.verifier.bond)
                }
            }
            self.registered = Some(active);
        }
        if record.as_ref().is_none_or(|v| v.open_checks.is_empty()) {
            self.progress.clear();
            return Ok(());
        }
        let jobs: Vec<JobView> = self.query(
            menara_runtime::api::INFERENCE_VERIFIER_JOBS,
            "inference_verifierJobs",
        )?;
        self.progress
            .retain(|id, _| jobs.iter().any(|j| j.id == *id));
        for view in jobs {
            match self.handle(number, &view).await {
                Ok(()) => {}
                Err(e @ ProviderError::GaveUp(_)) => {
                    tracing::error!(target: "verifier", "sampled job #{}: {e}", view.id)
                }
                Err(e) => tracing::warn!(target: "verifier", "sampled job #{}: {e}", view.id),
            }
        }
        Ok(())
    }

    async fn handle(&mut self, number: BlockNumber, view: &JobView) -> Result<(), ProviderError> {
        let job = &view.job;
        if !matches!(job.state, JobState::Sampled | JobState::Verified) || number > job.window_ends
        {
            return Ok(());
        }
        let progress = self.progress.entry(view.id).or_default();
        if progress.gave_up || !self.signer.due(progress.sent.as_ref(), number)? {
            return Ok(());
        }
        let answer = match progress.answer.clone() {
            Some(a) => a,
            None => {
                let Some(model) = self.models.get(job.model, number).await? else {
                    return Ok(()); // Being fetched: a later block checks it.
                };
                let checked = self.check(view.id, model, job.clone()).await;
                let Some(p) = self.progress.get_mut(&view.id) else {
                    return Ok(());
                };
                match checked {
                    Ok(a) => p.answer.insert(Arc::new(a)).clone(),
                    Err(e) => {
                        // Deterministic: the same run gives the same failure.
                        p.gave_up = true;
                        return Err(ProviderError::GaveUp(format!(
                            "cannot answer it ({e}); this verifier will miss it"
                        )));
                    }
                }
            }
        };
        let sent = match self
            .signer
            .submit(number, RuntimeCall::Inference(answer.call().clone()))
        {
            Ok(sent) => sent,
            Err(e @ ProviderError::TooLarge { .. }) => {
                if let Some(p) = self.progress.get_mut(&view.id) {
                    p.gave_up = true;
                }
                return Err(ProviderError::GaveUp(format!(
                    "cannot send it ({e}); this verifier will miss it"
                )));
            }
            Err(e) => return Err(e),
        };
        match answer.as_ref() {
            Answer::Attest(_) => {
                tracing::info!(target: "verifier", "attested inference job #{} at #{number}: root {}", view.id, job.root)
            }
            Answer::Challenge { layer, .. } => {
                tracing::warn!(target: "verifier", "challenged inference job #{} at #{number}: provider {} committed a wrong output at layer {layer}", view.id, job.provider)
            }
        }
        if let Some(p) = self.progress.get_mut(&view.id) {
            p.sent = Some(sent);
        }
        Ok(())
    }

    /// Re-executes a job on the blocking pool.
    async fn check(
        &self,
        id: JobId,
        model: Arc<LoadedModel>,
        job: Job,
    ) -> Result<Answer, ProviderError> {
        let gemm = self.engine.gemm();
        let started = std::time::Instant::now();
        let answer =
            tokio::task::spawn_blocking(move || check_job(&model, id, &job, gemm.as_ref()))
                .await
                .map_err(|e| ProviderError::Task(e.to_string()))??;
        tracing::info!(target: "verifier", "re-executed inference job #{id} in {:.2?}", started.elapsed());
        Ok(answer)
    }
}
