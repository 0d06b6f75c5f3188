//! End-to-end: verified inference through the real `menara` binary on a dev chain. //Alice
//! publishes a tiny encoder that ships a vocabulary, //Bob serves it as a compute provider
//! and sets a price, //Charlie submits jobs (token ids from a file, text tokenised with the
//! model file, text with the file found in the node's store), mistakes are refused with
//! clear errors, //Dave registers as a verifier, and a job //Bob commits wrong is disputed by
//! //Eve with `tx inference challenge`, which slashes //Bob.
//!
//! This node runs no provider worker: the test commits as //Bob itself, so nothing depends
//! on the worker.
#![allow(clippy::unwrap_used)]
mod support;

use gpu_verify::engine::{ActData, Activation, RefGemm};
use gpu_verify::model::Model;
use jsonrpsee::ws_client::WsClient;
use menara_chain_spec::keyring;
use menara_primitives::H256;
use menara_rpc::client;
use menara_runtime::RuntimeCall;
use std::process::Output;
use std::time::{Duration, Instant};
use support::*;

/// Bad input is refused before anything is sent (no node needed: the RPC address is
/// unreachable, and the error must be about the input, not the connection).
#[test]
fn bad_inference_input_is_refused_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let (_, bytes, id) = tiny_encoder(1);
    let model_file = dir.path().join("tiny.mvm");
    std::fs::write(&model_file, &bytes).unwrap();
    let tokens = dir.path().join("tokens.txt");
    std::fs::write(&tokens, "1 4 5 2\n").unwrap();
    let id = id.to_string();
    let rpc = ["--rpc", "ws://127.0.0.1:1"];
    let submit = |extra: &[&str]| {
        let mut args = vec!["tx", "inference", "submit", "--from", "//Charlie"];
        args.extend_from_slice(extra);
        args.extend(rpc);
        menara(&args)
    };
    let fails = |out: Output, expected: &[&str]| {
        assert!(!out.status.success(), "{}", stdout(&out));
        let err = stderr(&out);
        for e in expected {
            assert!(err.contains(e), "expected {e:?} in:\n{err}");
        }
    };
    let t = tokens.to_str().unwrap();
    // No input, or two.
    fails(submit(&["--model", &id, "--max-fee", "1"]), &["--tokens"]);
    fails(
        submit(&["--model", &id, "--max-fee", "1", "--tokens", t, "--rows", t]),
        &["--rows"],
    );
    fails(
        submit(&["--model", "0x1234", "--max-fee", "1", "--tokens", t]),
        &["--model", "not a model id"],
    );
    fails(
        submit(&["--model", &id, "--max-fee", "one", "--tokens", t]),
        &["--max-fee"],
    );
    fails(
        submit(&["--model", &id, "--max-fee", "0", "--tokens", t]),
        &["--max-fee must be more than 0"],
    );
    fails(
        submit(&[
            "--model",
            &id,
            "--max-fee",
            "1",
            "--provider",
            "0x12",
            "--tokens",
            t,
        ]),
        &["--provider"],
    );
    let missing = dir.path().join("missing.txt");
    fails(
        submit(&[
            "--model",
            &id,
            "--max-fee",
            "1",
            "--tokens",
            missing.to_str().unwrap(),
        ]),
        &["--tokens", "missing.txt"],
    );
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "1 4\n5, x 2\n").unwrap();
    fails(
        submit(&[
            "--model",
            &id,
            "--max-fee",
            "1",
            "--tokens",
            bad.to_str().unwrap(),
        ]),
        &["line 2", "\"x\""],
    );
    std::fs::write(&bad, "1 2 3\n4 5\n").unwrap();
    fails(
        submit(&[
            "--model",
            &id,
            "--max-fee",
            "1",
            "--rows",
            bad.to_str().unwrap(),
        ]),
        &["row 2 has 2 values"],
    );
    // --text needs the model file: none in this (empty) node base path.
    let empty = dir.path().join("no-node");
    fails(
        submit(&[
            "--model",
            &id,
            "--max-fee",
            "1",
            "--text",
            "hello",
            "--base-path",
            empty.to_str().unwrap(),
        ]),
        &["--model-file", "--tokens", "does not hold it"],
    );
    // A file of another model.
    let (_, other, _) = tiny_encoder(2);
    let other_file = dir.path().join("other.mvm");
    std::fs::write(&other_file, other).unwrap();
    fails(
        submit(&[
            "--model",
            &id,
            "--max-fee",
            "1",
            "--text",
            "hello",
            "--model-file",
            other_file.to_str().unwrap(),
        ]),
        &["is model", &format!("not {id}")],
    );
    let mut args = vec![
        "tx",
        "inference",
        "challenge",
        "--job",
        "0",
        "--model-file",
        missing.to_str().unwrap(),
        "--from",
        "//Eve",
    ];
    args.extend(rpc);
    fails(menara(&args), &["missing.txt"]);
    let mut args = vec![
        "tx",
        "inference",
        "attest",
        "--job",
        "0",
        "--root",
        "0x12",
        "--from",
        "//Dave",
    ];
    args.extend(rpc);
    fails(menara(&args), &["--root"]);
    let mut args = vec!["query", "inference", "job", "-1"];
    args.extend(rpc);
    assert!(!menara(&args).status.success());
    let mut args = vec!["query", "inference", "prices", "0x12"];
    args.extend(rpc);
    fails(menara(&args), &["not a model id"]);
}

/// Signs and submits `call` as `who` and waits for it to be final.
async fn submit_as(c: &WsClient, who: &str, call: pallet_inference::Call) {
    let key = keyring::dev_signing_key(who);
    let genesis = client::genesis_hash(c).await.unwrap();
    let nonce = client::account_next_index(c, &keyring::account_of(&key))
        .await
        .unwrap();
    let ext = keyring::sign(&key, &genesis, nonce, 0, RuntimeCall::Inference(call));
    let status = client::submit_and_watch(c, &ext)
        .await
        .unwrap()
        .wait_final()
        .await
        .unwrap();
    assert!(
        matches!(status, menara_rpc::TransactionStatus::Finalized(_)),
        "{status:?}"
    );
    let outcome = client::transaction_outcome(c, &menara_primitives::blake3_256(&ext))
        .await
        .unwrap()
        .unwrap();
    assert!(outcome.success, "{outcome:?}");
}

/// The layer a wrong commitment gets wrong: the first block's attention, whose dispute
/// carries that block's tensors with their proofs.
const WRONG_LAYER: usize = 1;

/// //Bob's commitment of `job` on `input`: right, or with layer [`WRONG_LAYER`]'s output
/// changed and every later layer computed from it (so the chain accepts it and only a
/// dispute can tell).
fn commit_call(model: &Model, job: u64, input: &Activation, wrong: bool) -> pallet_inference::Call {
    let mut leaves = vec![gpu_verify::commit::activation_hash(input)];
    let mut x = input.clone();
    for layer in 0..model.layer_count() {
        x = gpu_verify::engine::run_layer(model, layer, &x, &RefGemm).unwrap();
        if wrong && layer == WRONG_LAYER {
            match &mut x.data {
                ActData::I8(v) => v[0] = if v[0] == 0 { 1 } else { 0 },
                ActData::I16(v) => v[0] = if v[0] == 0 { 1 } else { 0 },
                ActData::Tokens(_) => panic!("a layer outputs numbers"),
            }
        }
        leaves.push(gpu_verify::commit::activation_hash(&x));
    }
    pallet_inference::Call::Commit {
        job,
        commitment: leaves.into_iter().map(H256).collect(),
        output: x,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_are_submitted_queried_and_disputed_on_a_dev_chain() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("node");
    std::fs::create_dir_all(&base).unwrap();
    let mut node = Node::start(&base, 500);
    let c = node.connect().await;
    wait_for_block(&c, 1).await;
    let bob = keyring::dev_account("Bob");
    let eve = keyring::dev_account("Eve");

    // //Alice publishes the model; //Bob serves it at 1 MEN a job.
    let (model, bytes, expected_id) = tiny_encoder(1);
    let model_file = dir.path().join("tiny.mvm");
    std::fs::write(&model_file, &bytes).unwrap();
    let f = model_file.to_str().unwrap();
    let out = node.ok(&[
        "model",
        "publish",
        "--file",
        f,
        "--name",
        "tiny-encoder",
        "--version",
        "1.0.0",
        "--from",
        "//Alice",
    ]);
    assert!(out.contains(&format!("model {expected_id}")), "{out}");
    let id = expected_id.to_string();
    let out = node.serve(&id, "//Bob");
    assert!(
        out.contains(&format!("price for model {id}: 1 MEN per job")),
        "{out}"
    );
    let out = node.ok(&["query", "inference", "prices", &id]);
    assert!(
        out.contains(&format!("{bob}: 1 MEN per job, 0 MEN in open jobs")),
        "{out}"
    );

    // //Charlie submits token ids from a file: `job 0`, pending for //Bob.
    let tokens = dir.path().join("tokens.txt");
    std::fs::write(&tokens, "1, 4, 5, 2\n").unwrap();
    let t = tokens.to_str().unwrap();
    let submit = |extra: &[&str]| {
        let mut args = vec![
            "tx",
            "inference",
            "submit",
            "--model",
            &id,
            "--max-fee",
            "2",
            "--from",
            "//Charlie",
        ];
        args.extend_from_slice(extra);
        node.ok(&args)
    };
    let out = submit(&["--tokens", t]);
    assert_eq!(out.lines().last(), Some("job 0"), "{out}");
    let out = node.ok(&["query", "inference", "job", "0"]);
    assert!(out.contains("job 0: pending"), "{out}");
    assert!(out.contains(&format!("provider:    {bob}")), "{out}");
    assert!(out.contains("fee:         1 MEN"), "{out}");
    assert!(out.contains("1 sequence, 4 token ids"), "{out}");
    let job = node.json(&["inference", "job", "0"]);
    assert_eq!(job["state"], "pending");
    assert_eq!(job["model"], id.as_str());
    assert_eq!(job["input"]["values"], serde_json::json!([1, 4, 5, 2]));
    assert_eq!(job["output"], serde_json::Value::Null);

    // Text, tokenised with the model's vocabulary: from --model-file, then from the file
    // the node's store holds (found through its base path).
    let out = submit(&["--text", "Hello world, MENARA!", "--model-file", f]);
    let job_1 = id_after(&out, "job");
    let job = node.json(&["inference", "job", &job_1]);
    let ids = [
        1,
        word("hello"),
        word("world"),
        word("[UNK]"),
        word("menara"),
        word("!"),
        2,
    ];
    assert_eq!(job["input"]["values"], serde_json::json!(ids));
    let out = submit(&[
        "--text",
        "menara",
        "--text",
        "hello hello",
        "--base-path",
        base.to_str().unwrap(),
    ]);
    let job_2 = id_after(&out, "job");
    let job = node.json(&["inference", "job", &job_2]);
    assert_eq!(job["input"]["lens"], serde_json::json!([3, 4]));
    assert_eq!(
        job["input"]["values"],
        serde_json::json!([1, word("menara"), 2, 1, word("hello"), word("hello"), 2])
    );

    // Mistakes: an unknown model, a token outside the vocabulary, a price above the
    // maximum fee (the runtime's refusal).
    let unknown = H256([7; 32]).to_string();
    node.fails(
        &[
            "tx",
            "inference",
            "submit",
            "--model",
            &unknown,
            "--tokens",
            t,
            "--max-fee",
            "2",
            "--from",
            "//Charlie",
        ],
        &format!("model {unknown} is not registered"),
    );
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "1 99 2\n").unwrap();
    node.fails(
        &[
            "tx",
            "inference",
            "submit",
            "--model",
            &id,
            "--tokens",
            bad.to_str().unwrap(),
            "--max-fee",
            "2",
            "--from",
            "//Charlie",
        ],
        "token id 99 is not in model",
    );
    node.refused(
        &[
            "tx",
            "inference",
            "submit",
            "--model",
            &id,
            "--tokens",
            t,
            "--max-fee",
            "0.5",
            "--provider",
            "//Bob",
            "--from",
            "//Charlie",
        ],
        "PriceAboveMaxFee",
    );

    // Lists.
    let jobs = node.json(&["inference", "jobs", "//Charlie"]);
    let listed: Vec<String> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].to_string())
        .collect();
    assert_eq!(listed, vec![job_2.clone(), job_1.clone(), "0".to_string()]);
    let out = node.ok(&["query", "inference", "jobs", "//Charlie", "--limit", "1"]);
    assert!(out.contains(&format!("job {job_2}: pending")), "{out}");
    assert!(!out.contains("job 0:"), "{out}");
    let open = node.json(&["inference", "provider-jobs", "//Bob"]);
    assert_eq!(open.as_array().unwrap().len(), 3, "{open}");
    let out = node.ok(&["query", "inference", "summary"]);
    assert!(out.contains("jobs:              3"), "{out}");
    assert_eq!(
        node.ok(&["query", "inference", "pending", "//Charlie"])
            .trim(),
        "0 MEN"
    );

    // //Dave becomes a verifier; attesting a job not sampled for him is refused.
    let out = node.ok(&[
        "tx",
        "inference",
        "register-verifier",
        "--bond",
        "100",
        "--from",
        "//Dave",
    ]);
    assert!(out.contains("registered, bond 100 MEN"), "{out}");
    let dave = keyring::dev_account("Dave");
    let out = node.ok(&["query", "inference", "verifier", "//Dave"]);
    assert!(out.contains(&format!("verifier {dave}: active")), "{out}");
    let root = H256([1; 32]).to_string();
    node.refused(
        &[
            "tx",
            "inference",
            "attest",
            "--job",
            "0",
            "--root",
            &root,
            "--from",
            "//Dave",
        ],
        "NotAwaitingVerification",
    );
    let out = node.ok(&["tx", "inference", "leave-verifiers", "--from", "//Dave"]);
    assert!(out.contains("left the verifiers"), "{out}");
    node.fails(
        &["query", "inference", "verifier", "//Eve"],
        "is not a registered verifier",
    );

    // A pending job cannot be disputed; nothing is sent.
    let challenge = |job: &str| {
        node.menara(&[
            "tx",
            "inference",
            "challenge",
            "--job",
            job,
            "--model-file",
            f,
            "--from",
            "//Eve",
        ])
    };
    let out = challenge("0");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not committed yet"),
        "{}",
        stderr(&out)
    );

    // Two fresh jobs, committed by //Bob: one right, one wrong.
    let right = id_after(&submit(&["--tokens", t]), "job");
    let wrong = id_after(&submit(&["--tokens", t]), "job");
    let input = Activation::tokens(&[vec![1, 4, 5, 2]]);
    for (job, is_wrong) in [(&right, false), (&wrong, true)] {
        let call = commit_call(&model, job.parse().unwrap(), &input, is_wrong);
        submit_as(&c, "Bob", call).await;
    }
    let committed = node.json(&["inference", "job", &right]);
    assert_ne!(committed["state"], "pending", "{committed}");
    assert_eq!(committed["output"]["cols"], 32);
    let out = node.ok(&["query", "inference", "job", &right]);
    assert!(
        out.contains("output:      embedding of dimension 32: ["),
        "{out}"
    );

    // //Eve re-runs the right one: nothing to dispute, nothing sent.
    let out = challenge(&right);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("there is nothing to dispute"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&out).contains("submitted"), "{}", stdout(&out));

    // ... and disputes the wrong one: //Bob is slashed, the job settled.
    let out = challenge(&wrong);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("provider {bob} slashed"))
            && stdout(&out).contains(&format!("for a wrong layer {WRONG_LAYER}")),
        "{}",
        stdout(&out)
    );
    let job = node.json(&["inference", "job", &wrong]);
    assert_eq!(job["state"], "settled");
    let slashed = &job["outcome"]["providerSlashed"];
    assert_eq!(slashed["challenger"], eve.to_string().as_str());
    assert_eq!(slashed["layer"], WRONG_LAYER);
    let out = node.ok(&["query", "inference", "job", &wrong]);
    assert!(out.contains(&format!("job {wrong}: settled")), "{out}");
    assert!(
        out.contains(&format!("provider {bob} slashed"))
            && out.contains(&format!("to the challenger {eve}")),
        "{out}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
}

/// The newcomer's tour on one dev node that plays every role (`menara --dev --provider
/// --verifier`): //Alice publishes a model, registers as its provider and sets a price;
/// //Bob submits a text job; the node's provider worker runs it with gpu-verify and
/// commits; the job becomes final with its embedding, and //Alice is paid.
#[tokio::test(flavor = "multi_thread")]
async fn one_dev_node_plays_every_role_and_a_job_becomes_final() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("node");
    std::fs::create_dir_all(&base).unwrap();
    let mut node = Node::start_with(&base, 500, &["--provider", "--verifier"]);
    let c = node.connect().await;
    wait_for_block(&c, 1).await;
    let log = || node.node_log();
    assert!(
        log().contains("CPU"),
        "the log says which engine:\n{}",
        log()
    );

    let (_, bytes, id) = tiny_encoder(9);
    let model_file = dir.path().join("tiny.mvm");
    std::fs::write(&model_file, &bytes).unwrap();
    let id = id.to_string();
    node.ok(&[
        "model",
        "publish",
        "--file",
        model_file.to_str().unwrap(),
        "--name",
        "tour",
        "--version",
        "1.0.0",
        "--royalty",
        "0.01",
        "--from",
        "//Alice",
    ]);
    node.serve(&id, "//Alice");
    node.ok(&[
        "tx",
        "inference",
        "register-verifier",
        "--bond",
        "100",
        "--from",
        "//Alice",
    ]);
    // The model file is found in the node's store (the same base path).
    let out = node.ok(&[
        "tx",
        "inference",
        "submit",
        "--model",
        &id,
        "--text",
        "hello menara world",
        "--max-fee",
        "2",
        "--base-path",
        base.to_str().unwrap(),
        "--from",
        "//Bob",
    ]);
    let job = id_after(&out, "job");

    let deadline = Instant::now() + Duration::from_secs(90);
    let view = loop {
        let v = node.json(&["inference", "job", &job]);
        if v["state"] == "final" {
            break v;
        }
        assert!(Instant::now() < deadline, "job never final: {v}\n{}", log());
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // Paid: the price less the royalty (0.01 MEN) and the verification fee (5%).
    let paid = &view["outcome"]["paid"];
    assert_eq!(paid["provider"], "940000000000", "{view}");
    assert_eq!(paid["royalty"], "10000000000", "{view}");
    let embedding = view["output"]["embedding"].as_array().unwrap();
    assert_eq!(embedding.len(), 32, "{view}");
    let out = node.ok(&["query", "inference", "job", &job]);
    assert!(out.contains("final"), "{out}");
    assert!(
        log().contains(&format!("committed inference job #{job}")),
        "the worker logs the job:\n{}",
        log()
    );
}
