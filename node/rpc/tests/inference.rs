//! The `inference_*` methods: the real runtime's queries over an in-memory state (a
//! registered tiny encoder, two providers with prices, a verifier, and jobs in every state
//! a query shows: pending, sampled, final, settled by a dispute, expired) rendered to JSON,
//! and their parameter checks.
#![allow(clippy::unwrap_used)]

mod fixture;

use fixture::runtime::{http, rpc_err, serve_runtime, set_block, Chain};
use gpu_verify::engine::{ActData, Activation, RefGemm};
use gpu_verify::model::{EncoderConfig, Model};
use gpu_verify_core::layer::LayerWeights;
use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use menara_primitives::{AccountId, H256, MEN};
use menara_rpc::types::{JobJson, OutcomeJson, VerifierJson};
use menara_rpc::RpcMethods;
use menara_runtime::{Inference, RuntimeCall};
use menara_support::Origin;
use pallet_inference::Call;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const ALICE: AccountId = AccountId([1; 32]);
const BOB: AccountId = AccountId([2; 32]);
const CHARLIE: AccountId = AccountId([3; 32]);
const DAVE: AccountId = AccountId([4; 32]);
const EVE: AccountId = AccountId([5; 32]);
const FERDIE: AccountId = AccountId([6; 32]);

fn dispatch(who: AccountId, call: RuntimeCall) {
    menara_runtime::executive::dispatch(Origin::Signed(who), call).unwrap();
}

fn inference(who: AccountId, call: Call) {
    dispatch(who, RuntimeCall::Inference(call));
}

/// A tiny random encoder: one block, hidden width 32.
fn tiny_encoder() -> (Model, gpu_verify::format::ModelFile, H256) {
    let cfg = EncoderConfig {
        vocab: 64,
        hidden: 32,
        layers: 1,
        heads: 2,
        intermediate: 64,
        max_positions: 16,
        max_seq_len: 16,
        cls: 1,
        sep: 2,
        unk: 3,
    };
    let model = gpu_verify::random::random_encoder(7, cfg).unwrap();
    let file = model.to_file().unwrap();
    let id = H256(file.content_hash());
    (model, file, id)
}

fn register_provider(who: AccountId, model: H256) {
    dispatch(
        who,
        RuntimeCall::Compute(pallet_compute::Call::Register {
            offer: pallet_compute::Resources {
                gpu: pallet_compute::GpuClass::H100,
                gpu_count: 1,
                vram_gib: 80,
                region: b"eu".to_vec(),
            },
            models: vec![model],
            price_per_block: MEN.into(),
            collateral: (400 * MEN).into(),
        }),
    );
    inference(
        who,
        Call::SetPrice {
            model,
            price: MEN.into(),
        },
    );
}

fn submit(input: &Activation, model: H256, provider: AccountId) {
    inference(
        CHARLIE,
        Call::Submit {
            model,
            input: input.clone(),
            max_fee: (2 * MEN).into(),
            provider: Some(provider),
        },
    );
}

/// What the tests compare the views with.
struct Fixture {
    model: H256,
    /// Layers of the model.
    layers: usize,
    /// Job 1's input and its correct output.
    input_1: Activation,
    output_1: Activation,
    /// The per-layer hashes of job 1 and of job 4.
    commitment_1: Vec<H256>,
    commitment_4: Vec<H256>,
}

fn commitment_of(trace: &gpu_verify::engine::Trace) -> Vec<H256> {
    trace.commitment.leaves.iter().map(|l| H256(*l)).collect()
}

/// A market for a tiny encoder registered by //Alice: //Bob and //Ferdie serve it at 1 MEN
/// a job, //Dave is a verifier, //Charlie submitted five jobs:
///
/// * 0 (block 4, //Bob): never committed, expired at block 24;
/// * 1 (block 5, //Bob): committed correctly at 6, a wrong challenge by //Eve rejected at 7,
///   final at 36;
/// * 2 (block 5, //Ferdie): committed with a wrong output at 6, //Eve's challenge at 7 slashed
///   //Ferdie;
/// * 3 (block 30, //Bob): pending;
/// * 4 (block 30, //Bob): committed at 31, sampled for //Dave and //Eve; //Dave attested.
fn market() -> (Arc<Mutex<Chain>>, Fixture) {
    let (model, file, id) = tiny_encoder();
    let layers = model.layer_count();
    let rt = Arc::new(Mutex::new(Chain::default()));
    let fixture = rt.lock().unwrap().exec(|| {
        menara_runtime::Balances::build_genesis(&menara_runtime::pallet_balances::GenesisConfig {
            balances: [ALICE, BOB, CHARLIE, DAVE, EVE, FERDIE]
                .iter()
                .map(|a| (*a, 1_000_000 * MEN))
                .collect(),
        })
        .unwrap();
        menara_runtime::Compute::build_genesis(&pallet_compute::GenesisConfig {
            test_challenges: true,
        });
        Inference::build_genesis(&pallet_inference::GenesisConfig {
            sample_per_mill: Some(500),
            double_per_mill: Some(500),
        });
        set_block(2);
        dispatch(
            ALICE,
            RuntimeCall::Models(pallet_models::Call::Register {
                id,
                params: pallet_models::ModelParams {
                    file_root: H256([8; 32]),
                    size: file.to_bytes().len() as u64,
                    name: b"tiny-encoder".to_vec(),
                    version: pallet_models::Version {
                        major: 1,
                        minor: 0,
                        patch: 0,
                    },
                    kind: pallet_models::ModelKind::Encoder,
                    shape: file.params.to_vec(),
                    numerics_version: 1,
                    royalty: MEN / 1000,
                },
            }),
        );
        set_block(3);
        register_provider(BOB, id);
        register_provider(FERDIE, id);
        inference(
            DAVE,
            Call::RegisterVerifier {
                bond: (100 * MEN).into(),
            },
        );

        set_block(4);
        submit(&Activation::tokens(&[vec![1, 2]]), id, BOB);
        set_block(5);
        let input_1 = Activation::tokens(&[vec![1, 7, 2], vec![1, 8, 9, 10, 2]]);
        submit(&input_1, id, BOB);
        let input_2 = Activation::tokens(&[vec![1, 5, 6, 2]]);
        submit(&input_2, id, FERDIE);

        // Job 1 committed correctly, job 2 with a wrong output (its hash in the last leaf).
        set_block(6);
        let trace_1 = gpu_verify::engine::run(&model, &input_1, &RefGemm).unwrap();
        let output_1 = trace_1.output().unwrap().clone();
        let commitment_1 = commitment_of(&trace_1);
        inference(
            BOB,
            Call::Commit {
                job: 1,
                commitment: commitment_1.clone(),
                output: output_1.clone(),
            },
        );
        let trace_2 = gpu_verify::engine::run(&model, &input_2, &RefGemm).unwrap();
        let mut wrong = trace_2.output().unwrap().clone();
        let ActData::I16(v) = &mut wrong.data else {
            panic!("an encoder's output is i16")
        };
        v[0] = if v[0] == 0 { 1 } else { 0 };
        let mut wrong_commitment = commitment_of(&trace_2);
        *wrong_commitment.last_mut().unwrap() = H256(gpu_verify::commit::activation_hash(&wrong));
        inference(
            FERDIE,
            Call::Commit {
                job: 2,
                commitment: wrong_commitment,
                output: wrong,
            },
        );

        // //Eve disputes the last layer of both: wrongly for job 1, rightly for job 2.
        set_block(7);
        let last = layers - 1;
        let weights = LayerWeights::open(&file, last).unwrap();
        let mut claim_1 = commitment_1.clone();
        *claim_1.last_mut().unwrap() = H256([0xaa; 32]);
        inference(
            EVE,
            Call::Challenge {
                job: 1,
                commitment: claim_1,
                layer: last as u32,
                input: trace_1.outputs[last - 1].clone(),
                weights: weights.clone(),
            },
        );
        inference(
            EVE,
            Call::Challenge {
                job: 2,
                commitment: commitment_of(&trace_2),
                layer: last as u32,
                input: trace_2.outputs[last - 1].clone(),
                weights,
            },
        );

        // Job 0 is never committed.
        set_block(24);
        Inference::on_finalize(24);

        set_block(30);
        submit(&Activation::tokens(&[vec![1, 11, 12, 2]]), id, BOB);
        let input_4 = Activation::tokens(&[vec![1, 13, 2]]);
        submit(&input_4, id, BOB);
        set_block(31);
        let trace_4 = gpu_verify::engine::run(&model, &input_4, &RefGemm).unwrap();
        let commitment_4 = commitment_of(&trace_4);
        inference(
            BOB,
            Call::Commit {
                job: 4,
                commitment: commitment_4.clone(),
                output: trace_4.output().unwrap().clone(),
            },
        );
        // Sampled for //Dave and //Eve (as the beacon of block 32 would draw them).
        let mut job = pallet_inference::storage::Jobs::get(&4).unwrap();
        job.state = pallet_inference::JobState::Sampled;
        for v in [DAVE, EVE] {
            job.checks.push(pallet_inference::Check {
                verifier: v,
                answer: pallet_inference::CheckAnswer::Waiting,
            });
            pallet_inference::storage::VerifierJobs::insert(&v, &vec![4u64]);
        }
        pallet_inference::storage::Jobs::insert(&4, &job);
        set_block(32);
        let root = job.root;
        inference(DAVE, Call::Attest { job: 4, root });

        // Job 1's window closes.
        set_block(36);
        Inference::on_finalize(36);
        Fixture {
            model: id,
            layers,
            input_1,
            output_1,
            commitment_1,
            commitment_4,
        }
    });
    (rt, fixture)
}

fn ids(jobs: &Value) -> Vec<u64> {
    jobs.as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn inference_queries_render_the_runtime_views() {
    let (rt, f) = market();
    let (h, _node) = serve_runtime(rt.clone(), RpcMethods::Safe).await;
    let c = http(&h);
    let fee = MEN;
    let royalty = MEN / 1000;
    let verification_fee = fee / 20;

    // Job 1: final, paid; its input, output (with the embedding as reals) and commitment.
    let job: Value = c.request("inference_job", rpc_params![1]).await.unwrap();
    assert_eq!(job["id"], 1);
    assert_eq!(job["client"], CHARLIE.to_string());
    assert_eq!(job["provider"], BOB.to_string());
    assert_eq!(job["model"], f.model.to_string());
    assert_eq!(job["state"], "final");
    assert_eq!(job["fee"], fee.to_string());
    assert_eq!(job["royalty"], royalty.to_string());
    assert_eq!(job["verificationFee"], verification_fee.to_string());
    assert_eq!(
        (
            &job["submittedAt"],
            &job["commitBy"],
            &job["committedAt"],
            &job["windowEnds"]
        ),
        (&json!(5), &json!(25), &json!(6), &json!(36))
    );
    assert_eq!(
        job["input"],
        json!({"kind": "tokens", "lens": [3, 5], "cols": 1, "values": [1, 7, 2, 1, 8, 9, 10, 2]})
    );
    let leaves: Vec<[u8; 32]> = f.commitment_1.iter().map(|h| h.0).collect();
    assert_eq!(
        job["root"],
        H256(gpu_verify::commit::merkle_root(&leaves)).to_string()
    );
    assert_eq!(job["commitment"], json!(f.commitment_1));
    assert_eq!(f.commitment_1.len(), f.layers + 1);
    let output = &job["output"];
    assert_eq!(output["kind"], "i16");
    assert_eq!(output["cols"], 32);
    let ActData::I16(q15) = &f.output_1.data else {
        panic!("an encoder's output is i16")
    };
    assert_eq!(output["values"], json!(q15));
    let embedding: Vec<f64> = serde_json::from_value(output["embedding"].clone()).unwrap();
    assert_eq!(embedding.len(), q15.len());
    for (x, q) in embedding.iter().zip(q15) {
        // JSON carries the shortest decimal; parsing it back may be one ulp off.
        assert!((x - f64::from(*q) / 32767.0).abs() < 1e-12, "{x} vs {q}");
    }
    // Normalised: each sequence's embedding has length about 1.
    for row in embedding.chunks(32) {
        let norm: f64 = row.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 0.01, "norm {norm}");
    }
    assert_eq!(job["checks"], json!([]));
    assert_eq!(job["challengesRejected"], 1);
    assert_eq!(
        job["outcome"],
        json!({"paid": {
            "provider": (fee - royalty - verification_fee).to_string(),
            "royalty": royalty.to_string(),
            "verificationFee": verification_fee.to_string(),
            "verifierReward": "0",
        }})
    );
    // The typed form reads back, and its input is the job's activation.
    let typed: JobJson = serde_json::from_value(job.clone()).unwrap();
    assert_eq!(typed.input.to_activation().unwrap(), f.input_1);
    assert_eq!(
        typed.output.as_ref().unwrap().to_activation().unwrap(),
        f.output_1
    );
    assert!(matches!(typed.outcome, Some(OutcomeJson::Paid { .. })));

    // Job 2: //Ferdie slashed by //Eve's dispute at the last layer.
    let job: Value = c.request("inference_job", rpc_params![2]).await.unwrap();
    assert_eq!(job["state"], "settled");
    assert_eq!(job["provider"], FERDIE.to_string());
    let slashed = 200 * MEN;
    let reward = slashed / 5;
    assert_eq!(
        job["outcome"],
        json!({"providerSlashed": {
            "layer": f.layers - 1,
            "slashed": slashed.to_string(),
            "challenger": EVE.to_string(),
            "reward": reward.to_string(),
            "burned": (slashed - reward).to_string(),
            "refunded": fee.to_string(),
        }})
    );

    // Job 0: expired, refunded, //Bob penalised 1% of his collateral.
    let job: Value = c.request("inference_job", rpc_params![0]).await.unwrap();
    assert_eq!(job["state"], "expired");
    assert_eq!(
        job["outcome"],
        json!({"expired": {"refunded": fee.to_string(), "penalty": (4 * MEN).to_string()}})
    );
    assert_eq!(
        (
            &job["committedAt"],
            &job["windowEnds"],
            &job["root"],
            &job["output"]
        ),
        (&Value::Null, &Value::Null, &Value::Null, &Value::Null)
    );
    assert_eq!(job["commitment"], json!([]));

    // Job 3: pending, and what //Bob's node must run.
    let job: Value = c.request("inference_job", rpc_params![3]).await.unwrap();
    assert_eq!(job["state"], "pending");
    assert_eq!(job["outcome"], Value::Null);
    let open: Value = c
        .request("inference_providerJobs", rpc_params![BOB])
        .await
        .unwrap();
    assert_eq!(open, json!([job]));
    let none: Value = c
        .request("inference_providerJobs", rpc_params![FERDIE])
        .await
        .unwrap();
    assert_eq!(none, json!([]));

    // Job 4: sampled; //Dave agreed, //Eve still owes her answer.
    let job: Value = c.request("inference_job", rpc_params![4]).await.unwrap();
    assert_eq!(job["state"], "sampled");
    assert_eq!(
        job["checks"],
        json!([
            {"verifier": DAVE.to_string(), "answer": "agreed"},
            {"verifier": EVE.to_string(), "answer": "waiting"},
        ])
    );
    assert_eq!(job["commitment"], json!(f.commitment_4));
    let waiting: Value = c
        .request("inference_verifierJobs", rpc_params![EVE])
        .await
        .unwrap();
    assert_eq!(ids(&waiting), vec![4]);
    let waiting: Value = c
        .request("inference_verifierJobs", rpc_params![DAVE])
        .await
        .unwrap();
    assert_eq!(waiting, json!([]));

    // Unknown job: null.
    let none: Option<Value> = c.request("inference_job", rpc_params![99]).await.unwrap();
    assert_eq!(none, None);

    // An account's jobs, newest first, as client or provider.
    let all: Value = c
        .request("inference_jobs", rpc_params![CHARLIE])
        .await
        .unwrap();
    assert_eq!(ids(&all), vec![4, 3, 2, 1, 0]);
    let two: Value = c
        .request("inference_jobs", rpc_params![CHARLIE, 2])
        .await
        .unwrap();
    assert_eq!(ids(&two), vec![4, 3]);
    let of_bob: Vec<JobJson> = c.request("inference_jobs", rpc_params![BOB]).await.unwrap();
    assert_eq!(
        of_bob.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![4, 3, 1, 0]
    );
    let none: Value = c
        .request("inference_jobs", rpc_params![ALICE])
        .await
        .unwrap();
    assert_eq!(none, json!([]));

    // The verifier.
    let dave: Value = c
        .request("inference_verifier", rpc_params![DAVE])
        .await
        .unwrap();
    assert_eq!(
        dave,
        json!({
            "account": DAVE.to_string(),
            "bond": (100 * MEN).to_string(),
            "status": "active",
            "leavingSince": null,
            "attested": 1,
            "missed": 0,
            "slashed": "0",
            "earned": "0",
            "openChecks": [],
        })
    );
    let typed: VerifierJson = serde_json::from_value(dave).unwrap();
    assert_eq!(typed.account, DAVE);
    let none: Option<Value> = c
        .request("inference_verifier", rpc_params![EVE])
        .await
        .unwrap();
    assert_eq!(none, None);

    // Prices: both providers; //Bob holds jobs 3 and 4 unsettled.
    let prices: Value = c
        .request("inference_prices", rpc_params![f.model])
        .await
        .unwrap();
    let (bob_capacity, ferdie_capacity) = rt.lock().unwrap().exec(|| {
        let collateral = |who| {
            pallet_compute::storage::Providers::get(&who)
                .unwrap()
                .collateral
        };
        (
            Inference::capacity(collateral(BOB)),
            Inference::capacity(collateral(FERDIE)),
        )
    });
    assert_eq!(
        prices,
        json!([
            {"provider": BOB.to_string(), "price": MEN.to_string(), "unsettled": (2 * MEN).to_string(), "capacity": bob_capacity.to_string()},
            {"provider": FERDIE.to_string(), "price": MEN.to_string(), "unsettled": "0", "capacity": ferdie_capacity.to_string()},
        ])
    );
    let none: Value = c
        .request("inference_prices", rpc_params![H256([1; 32])])
        .await
        .unwrap();
    assert_eq!(none, json!([]));

    // Totals and payouts.
    let summary: Value = c.request("inference_summary", rpc_params![]).await.unwrap();
    let (held, burned, pool) = rt.lock().unwrap().exec(|| {
        let s = Inference::summary();
        (s.total_held, s.total_burned, s.verification_pool)
    });
    assert_eq!(pool, verification_fee);
    assert_eq!(burned, slashed - reward + MEN / 2);
    assert_eq!(
        summary,
        json!({
            "jobs": 5,
            "activeVerifiers": 1,
            "samplePerMill": 500,
            "doublePerMill": 500,
            "verificationPool": pool.to_string(),
            "totalHeld": held.to_string(),
            "totalBurned": burned.to_string(),
        })
    );
    let pending: String = c
        .request("inference_pending", rpc_params![CHARLIE])
        .await
        .unwrap();
    assert_eq!(pending, "0");

    // //Dave leaves: his status and the block he left at.
    rt.lock().unwrap().exec(|| {
        set_block(40);
        inference(DAVE, Call::LeaveVerifiers);
    });
    let dave: VerifierJson = c
        .request("inference_verifier", rpc_params![DAVE])
        .await
        .unwrap();
    assert_eq!(
        (dave.status.as_str(), dave.leaving_since),
        ("leaving", Some(40))
    );
    h.stop();
}

#[tokio::test]
async fn inference_methods_are_listed_safe_and_check_their_parameters() {
    let (rt, _) = market();
    let (h, _node) = serve_runtime(rt, RpcMethods::Safe).await;
    let c = http(&h);
    #[derive(serde::Deserialize)]
    struct Methods {
        methods: Vec<String>,
    }
    let listed: Methods = c.request("rpc_methods", rpc_params![]).await.unwrap();
    for name in [
        "inference_job",
        "inference_jobs",
        "inference_providerJobs",
        "inference_verifierJobs",
        "inference_verifier",
        "inference_prices",
        "inference_summary",
        "inference_pending",
    ] {
        assert!(listed.methods.iter().any(|m| m == name), "{name} missing");
        assert!(!menara_rpc::UNSAFE_METHODS.contains(&name), "{name}");
    }

    let cases: Vec<(&str, jsonrpsee::core::params::ArrayParams, &str)> = vec![
        ("inference_job", rpc_params![], "missing parameter `id`"),
        (
            "inference_job",
            rpc_params!["0x01"],
            "invalid parameter `id`: expected an id",
        ),
        (
            "inference_job",
            rpc_params![-1],
            "invalid parameter `id`: expected an id",
        ),
        (
            "inference_jobs",
            rpc_params![],
            "missing parameter `account`",
        ),
        (
            "inference_jobs",
            rpc_params![BOB, 0],
            "invalid parameter `limit`: expected 1 to 25, got 0",
        ),
        (
            "inference_jobs",
            rpc_params![BOB, 26],
            "invalid parameter `limit`: expected 1 to 25, got 26",
        ),
        (
            "inference_jobs",
            rpc_params!["//Bob"],
            "invalid hex in parameter `account`",
        ),
        (
            "inference_providerJobs",
            rpc_params!["0x1234"],
            "wrong length for parameter `account`: an account id is 32 bytes",
        ),
        (
            "inference_verifierJobs",
            rpc_params![7],
            "invalid parameter `account`: expected a 0x-prefixed hex string, got a number",
        ),
        (
            "inference_verifier",
            rpc_params![],
            "missing parameter `account`",
        ),
        (
            "inference_prices",
            rpc_params!["0x12"],
            "wrong length for parameter `model`: a model id is 32 bytes",
        ),
        (
            "inference_prices",
            rpc_params![],
            "missing parameter `model`",
        ),
        ("inference_summary", rpc_params![1], "too many parameters"),
        (
            "inference_pending",
            rpc_params![BOB, 1],
            "too many parameters",
        ),
    ];
    for (method, params, expected) in cases {
        let (code, msg) = rpc_err(c.request::<Value, _>(method, params).await);
        assert_eq!(code, -32602, "{method}: {msg}");
        assert!(msg.starts_with(expected), "{method}: {msg}");
    }
    // Named parameters work too.
    let mut named = jsonrpsee::core::params::ObjectParams::new();
    named.insert("account", CHARLIE).unwrap();
    named.insert("limit", 1).unwrap();
    let jobs: Value = c.request("inference_jobs", named).await.unwrap();
    assert_eq!(ids(&jobs), vec![4]);
    h.stop();
}
