//! The inference provider and verifier workers against a scripted chain: the provider
//! commits the true per-layer hashes of small random models (fetching a missing model
//! first), a cheating provider's commitment is wrong from exactly the layer it corrupted,
//! and the verifier attests honest jobs and disputes cheated ones with a dispute the
//! runtime's settlement decides against the provider.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use gpu_verify::commit::{activation_hash, merkle_root};
use gpu_verify::engine::{run, Activation, RefGemm};
use gpu_verify::format::ModelFile;
use gpu_verify::model::Model;
use gpu_verify::random::{random_encoder, random_mlp, random_tokens, tiny_encoder_config, Rng};
use gpu_verify_core::layer::{first_disagreement, layer_count, settle_dispute};
use menara_chain_spec::keyring;
use menara_primitives::{AccountId, Header, SignedTransaction, H256};
use menara_provider::inference::{cheat_layer, InferenceConfig, InferenceProvider};
use menara_provider::models::Models;
use menara_provider::tx::Signer;
use menara_provider::verifier::Verifier;
use menara_provider::{Chain, Engine};
use menara_runtime::pallet_inference::{
    Call, Check, CheckAnswer, Job, JobId, JobState, JobView, Verifier as VerifierRecord,
    VerifierStatus, VerifierView,
};
use menara_runtime::RuntimeCall;
use parity_scale_codec::{DecodeAll, Encode};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::broadcast;

#[derive(Default)]
struct FakeChain {
    provider_jobs: Mutex<Vec<JobView>>,
    verifier_jobs: Mutex<Vec<JobView>>,
    verifier: Mutex<Option<VerifierView>>,
    store: Mutex<HashMap<H256, Vec<u8>>>,
    requested: Mutex<Vec<H256>>,
    /// Transactions in the pool or included, in order.
    submitted: Mutex<Vec<SignedTransaction<RuntimeCall>>>,
    heads: Mutex<Option<broadcast::Sender<Header>>>,
}

impl FakeChain {
    fn calls(&self) -> Vec<RuntimeCall> {
        self.submitted
            .lock()
            .iter()
            .map(|t| t.call.clone())
            .collect()
    }
}

impl Chain for FakeChain {
    fn genesis_hash(&self) -> H256 {
        H256([1; 32])
    }
    fn query(&self, method: &[u8], args: &[u8]) -> Result<Vec<u8>, String> {
        let who = AccountId::decode_all(&mut &args[..]).map_err(|e| e.to_string())?;
        match method {
            b"inference_providerJobs" => {
                assert_eq!(who, keyring::dev_account("Bob"));
                Ok(self.provider_jobs.lock().encode())
            }
            b"inference_verifierJobs" => {
                assert_eq!(who, keyring::dev_account("Charlie"));
                Ok(self.verifier_jobs.lock().encode())
            }
            b"inference_verifier" => {
                assert_eq!(who, keyring::dev_account("Charlie"));
                Ok(self.verifier.lock().encode())
            }
            other => Err(format!(
                "unexpected query {}",
                String::from_utf8_lossy(other)
            )),
        }
    }
    fn next_nonce(&self, who: &AccountId) -> Result<u64, String> {
        Ok(self
            .submitted
            .lock()
            .iter()
            .filter(|t| t.signer == *who)
            .count() as u64)
    }
    fn submit(&self, tx: Vec<u8>) -> Result<H256, String> {
        let tx = SignedTransaction::<RuntimeCall>::decode_all(&mut &tx[..])
            .map_err(|e| e.to_string())?;
        let expected = self.next_nonce(&tx.signer)?;
        assert_eq!(tx.nonce, expected, "nonces follow the pool");
        self.submitted.lock().push(tx);
        Ok(H256::zero())
    }
    fn new_heads(&self) -> broadcast::Receiver<Header> {
        self.heads
            .lock()
            .get_or_insert_with(|| broadcast::channel(4).0)
            .subscribe()
    }
    fn model_file(&self, id: &H256) -> Result<Option<Vec<u8>>, String> {
        Ok(self.store.lock().get(id).cloned())
    }
    fn request_model(&self, id: &H256) -> Result<(), String> {
        self.requested.lock().push(*id);
        Ok(())
    }
}

/// A small random model of each kind gpu-verify runs, with an input for it.
fn models() -> Vec<(ModelFile, Model, Activation)> {
    let mlp = random_mlp(7, &[16, 24, 24, 12, 8], 8).unwrap();
    let mut g = Rng::new(9);
    let rows: Vec<Vec<i8>> = (0..3).map(|_| g.i8s(16)).collect();
    let cfg = tiny_encoder_config();
    let encoder = random_encoder(11, cfg).unwrap();
    let tokens = random_tokens(13, 2, 4, 12, cfg.vocab);
    vec![
        (mlp.to_file().unwrap(), mlp, Activation::rows_i8(&rows)),
        (
            encoder.to_file().unwrap(),
            encoder,
            Activation::tokens(&tokens),
        ),
    ]
}

fn pending_job(id: JobId, model: H256, input: &Activation) -> JobView {
    JobView {
        id,
        job: Job {
            client: keyring::dev_account("Alice"),
            provider: keyring::dev_account("Bob"),
            model,
            input: input.clone(),
            fee: 1_000,
            royalty: 0,
            verification_fee: 50,
            submitted_at: 10,
            commit_by: 30,
            state: JobState::Pending,
            commitment: Vec::new(),
            root: H256::default(),
            output: None,
            committed_at: 0,
            window_ends: 0,
            checks: Vec::new(),
            challenges_rejected: 0,
            outcome: None,
            closed_at: 0,
        },
    }
}

/// `view` as the chain holds it once committed with `commitment` and `output`, then
/// sampled for Charlie.
fn sampled(mut view: JobView, commitment: Vec<H256>, output: Activation) -> JobView {
    let leaves: Vec<[u8; 32]> = commitment.iter().map(|h| h.0).collect();
    view.job.root = H256(merkle_root(&leaves));
    view.job.commitment = commitment;
    view.job.output = Some(output);
    view.job.state = JobState::Sampled;
    view.job.committed_at = 12;
    view.job.window_ends = 42;
    view.job.checks = vec![Check {
        verifier: keyring::dev_account("Charlie"),
        answer: CheckAnswer::Waiting,
    }];
    view
}

fn provider(chain: &Arc<FakeChain>, cheat_per_mill: u32) -> InferenceProvider<FakeChain> {
    InferenceProvider::new(
        Signer::new(chain.clone(), keyring::dev_signing_key("Bob"), 3),
        Models::new(chain.clone()),
        Engine::cpu(2).unwrap(),
        InferenceConfig { cheat_per_mill },
    )
}

fn verifier(chain: &Arc<FakeChain>) -> Verifier<FakeChain> {
    Verifier::new(
        Signer::new(chain.clone(), keyring::dev_signing_key("Charlie"), 3),
        Models::new(chain.clone()),
        Engine::cpu(2).unwrap(),
    )
}

fn commit_of(call: &RuntimeCall) -> (JobId, Vec<H256>, Activation) {
    match call {
        RuntimeCall::Inference(Call::Commit {
            job,
            commitment,
            output,
        }) => (*job, commitment.clone(), output.clone()),
        other => panic!("expected a commitment, got {other:?}"),
    }
}

#[tokio::test]
async fn provider_fetches_the_model_then_commits_the_true_hashes() {
    for (file, model, input) in models() {
        let id = H256(file.content_hash());
        let chain = Arc::new(FakeChain::default());
        *chain.provider_jobs.lock() = vec![pending_job(5, id, &input)];
        let mut worker = provider(&chain, 0);

        // The node does not hold the model: the worker asks for it and waits.
        worker.on_block(11).await.unwrap();
        assert!(chain.submitted.lock().is_empty());
        assert_eq!(*chain.requested.lock(), vec![id]);
        // Not asked again at once.
        worker.on_block(12).await.unwrap();
        assert_eq!(chain.requested.lock().len(), 1);

        chain.store.lock().insert(id, file.to_bytes());
        worker.on_block(13).await.unwrap();
        let calls = chain.calls();
        assert_eq!(calls.len(), 1);
        let (job, commitment, output) = commit_of(&calls[0]);
        let trace = run(&model, &input, &RefGemm).unwrap();
        assert_eq!(job, 5);
        assert_eq!(
            commitment,
            trace
                .commitment
                .leaves
                .iter()
                .map(|l| H256(*l))
                .collect::<Vec<_>>()
        );
        assert_eq!(Some(&output), trace.output());
        // What the runtime checks on `Commit`.
        assert_eq!(
            commitment.len(),
            layer_count(file.kind, &file.params).unwrap() + 1
        );
        assert_eq!(commitment[0].0, activation_hash(&input));
        assert_eq!(commitment.last().unwrap().0, activation_hash(&output));

        // Not committed twice while the commitment is on its way (nonce used).
        worker.on_block(14).await.unwrap();
        worker.on_block(17).await.unwrap();
        assert_eq!(chain.submitted.lock().len(), 1);
        // A commitment that left the pool unincluded is sent again, with the freed nonce.
        chain.submitted.lock().clear();
        worker.on_block(17).await.unwrap();
        assert_eq!(chain.submitted.lock().len(), 1);
        assert_eq!(chain.submitted.lock()[0].nonce, 0);
        assert_eq!(commit_of(&chain.calls()[0]).1, commitment);
        // Committed jobs leave the list; nothing more is sent.
        chain.provider_jobs.lock().clear();
        worker.on_block(30).await.unwrap();
        assert_eq!(chain.submitted.lock().len(), 1);
    }
}

#[test]
fn the_cheating_switch_picks_jobs_and_layers_from_the_job_id() {
    assert!((0..1000).all(|j| cheat_layer(j, 0, 6).is_none()));
    let cheated = (0..1000)
        .filter(|&j| cheat_layer(j, 200, 6).is_some())
        .count();
    assert!(
        (120..280).contains(&cheated),
        "{cheated} of 1000 at 200 per mill"
    );
    for j in 0..200 {
        let layer = cheat_layer(j, 1000, 6).unwrap();
        assert!((0..6).contains(&layer));
        assert_eq!(cheat_layer(j, 1000, 6), Some(layer), "deterministic");
        assert_eq!(cheat_layer(j, 1000, 1), Some(0));
    }
    let layers: std::collections::BTreeSet<_> =
        (0..200).filter_map(|j| cheat_layer(j, 1000, 6)).collect();
    assert_eq!(layers.len(), 6, "every layer is picked: {layers:?}");
}

#[tokio::test]
async fn a_cheating_provider_is_disputed_at_its_corrupted_layer_and_slashed() {
    for (file, model, input) in models() {
        let id = H256(file.content_hash());
        let n = model.layer_count();
        let honest: Vec<[u8; 32]> = run(&model, &input, &RefGemm).unwrap().commitment.leaves;
        // Jobs that corrupt different layers, the last one included.
        let mut ids: Vec<JobId> = Vec::new();
        for j in 0..400u64 {
            let layer = cheat_layer(j, 1000, n).unwrap();
            if !ids.iter().any(|&i| cheat_layer(i, 1000, n) == Some(layer)) {
                ids.push(j);
            }
        }
        assert_eq!(ids.len(), n);
        for job_id in ids {
            let layer = cheat_layer(job_id, 1000, n).unwrap();
            let chain = Arc::new(FakeChain::default());
            chain.store.lock().insert(id, file.to_bytes());
            let pending = pending_job(job_id, id, &input);
            *chain.provider_jobs.lock() = vec![pending.clone()];
            provider(&chain, 1000).on_block(11).await.unwrap();
            let (_, commitment, output) = commit_of(&chain.calls()[0]);
            let cheat: Vec<[u8; 32]> = commitment.iter().map(|h| h.0).collect();

            // Consistent with the runtime's checks, wrong from exactly that layer.
            assert_eq!(cheat.len(), honest.len());
            assert_eq!(cheat[0], activation_hash(&input));
            assert_eq!(*cheat.last().unwrap(), activation_hash(&output));
            assert_eq!(first_disagreement(&cheat, &honest).unwrap(), layer);
            assert_eq!(cheat[..=layer], honest[..=layer]);

            // The verifier drawn for it disputes that layer ...
            *chain.verifier.lock() = Some(VerifierView {
                account: keyring::dev_account("Charlie"),
                verifier: VerifierRecord {
                    bond: 100,
                    status: VerifierStatus::Active,
                    attested: 0,
                    missed: 0,
                    slashed: 0,
                    earned: 0,
                },
                open_checks: vec![job_id],
            });
            *chain.verifier_jobs.lock() = vec![sampled(pending, commitment.clone(), output)];
            verifier(&chain).on_block(13).await.unwrap();
            let tx = chain.submitted.lock().last().cloned().unwrap();
            assert_eq!(tx.signer, keyring::dev_account("Charlie"));
            assert!(tx.encode().len() <= menara_runtime::fees::MAX_LARGE_EXTRINSIC_SIZE);
            let RuntimeCall::Inference(Call::Challenge {
                job,
                commitment: theirs,
                layer: disputed,
                input: layer_input,
                weights,
            }) = tx.call
            else {
                panic!("expected a challenge, got {:?}", tx.call);
            };
            assert_eq!((job, disputed as usize), (job_id, layer));
            // ... and the runtime's one-step settlement goes against the provider.
            let theirs: Vec<[u8; 32]> = theirs.iter().map(|h| h.0).collect();
            assert_eq!(theirs, honest);
            let verdict = settle_dispute(
                &id.0,
                &cheat,
                &theirs,
                disputed,
                &layer_input,
                &weights,
                &RefGemm,
            )
            .unwrap();
            assert!(!verdict.provider_right && verdict.challenger_right);
        }
    }
}

#[tokio::test]
async fn verifier_attests_honest_jobs_and_challenges_cheated_ones() {
    let (file, model, input) = models().swap_remove(1);
    let id = H256(file.content_hash());
    let chain = Arc::new(FakeChain::default());
    let mut worker = verifier(&chain);

    // Not a registered verifier: nothing to do, and it keeps watching.
    worker.on_block(10).await.unwrap();
    worker.on_block(11).await.unwrap();
    assert!(chain.submitted.lock().is_empty());

    let trace = run(&model, &input, &RefGemm).unwrap();
    let honest: Vec<H256> = trace.commitment.leaves.iter().map(|l| H256(*l)).collect();
    let output = trace.output().cloned().unwrap();
    let mut wrong = honest.clone();
    let n = wrong.len();
    wrong[n - 1] = H256([9; 32]);
    // A commitment for another input cannot be disputed layer by layer (the chain never
    // accepts one): the verifier gives up on it and sends nothing.
    let mut other_input = honest.clone();
    other_input[0] = H256([7; 32]);
    // Wrong embeddings: disputed at layer 0, whose word table is opened at the input's
    // token rows only.
    let mut wrong_embeddings = honest.clone();
    wrong_embeddings[1] = H256([5; 32]);
    let jobs = vec![
        sampled(pending_job(1, id, &input), honest.clone(), output.clone()),
        sampled(pending_job(2, id, &input), wrong.clone(), output.clone()),
        sampled(pending_job(3, id, &input), other_input, output.clone()),
        sampled(pending_job(4, id, &input), wrong_embeddings.clone(), output),
    ];
    *chain.verifier.lock() = Some(VerifierView {
        account: keyring::dev_account("Charlie"),
        verifier: VerifierRecord {
            bond: 100,
            status: VerifierStatus::Active,
            attested: 0,
            missed: 0,
            slashed: 0,
            earned: 0,
        },
        open_checks: vec![1, 2, 3, 4],
    });
    *chain.verifier_jobs.lock() = jobs.clone();
    // The model is fetched first.
    worker.on_block(12).await.unwrap();
    assert!(chain.submitted.lock().is_empty());
    assert_eq!(*chain.requested.lock(), vec![id]);
    chain.store.lock().insert(id, file.to_bytes());
    worker.on_block(13).await.unwrap();
    let calls = chain.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(
        calls[0],
        RuntimeCall::Inference(Call::Attest {
            job: 1,
            root: jobs[0].job.root
        })
    );
    match &calls[1] {
        RuntimeCall::Inference(Call::Challenge {
            job: 2,
            commitment,
            layer,
            input: layer_input,
            weights,
        }) => {
            assert_eq!(*layer as usize, n - 2);
            assert_eq!(commitment, &honest);
            assert_eq!(layer_input, &trace.outputs[n - 3]);
            let provider: Vec<[u8; 32]> = wrong.iter().map(|h| h.0).collect();
            let mine: Vec<[u8; 32]> = commitment.iter().map(|h| h.0).collect();
            let verdict = settle_dispute(
                &id.0,
                &provider,
                &mine,
                *layer,
                layer_input,
                weights,
                &RefGemm,
            )
            .unwrap();
            assert!(!verdict.provider_right && verdict.challenger_right);
        }
        other => panic!("expected a challenge, got {other:?}"),
    }
    match &calls[2] {
        RuntimeCall::Inference(Call::Challenge {
            job: 4,
            commitment,
            layer: 0,
            input: layer_input,
            weights,
        }) => {
            assert_eq!(layer_input, &input);
            assert_eq!(weights.slices.len(), 1, "the word table is sliced");
            let provider: Vec<[u8; 32]> = wrong_embeddings.iter().map(|h| h.0).collect();
            let mine: Vec<[u8; 32]> = commitment.iter().map(|h| h.0).collect();
            let verdict =
                settle_dispute(&id.0, &provider, &mine, 0, layer_input, weights, &RefGemm).unwrap();
            assert!(!verdict.provider_right && verdict.challenger_right);
        }
        other => panic!("expected a challenge of layer 0, got {other:?}"),
    }
    // Nonces follow each other; nothing is sent twice while on its way, and the job it
    // gave up on is not tried again.
    let nonces: Vec<u64> = chain.submitted.lock().iter().map(|t| t.nonce).collect();
    assert_eq!(nonces, vec![0, 1, 2]);
    worker.on_block(14).await.unwrap();
    worker.on_block(20).await.unwrap();
    assert_eq!(chain.submitted.lock().len(), 3);
}
