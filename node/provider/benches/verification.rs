//! What checking a job costs next to running it: the provider's run of a MiniLM-shaped
//! encoder on 128 tokens (every layer hashed, the commitment built) and a verifier's check
//! of the same committed job (re-execution, Merkle root, comparison), on the CPU engine,
//! in one run. Times the chain's sampling rate (and the share checked twice), this is the
//! share of network compute spent on verification.
//! Run: `cargo bench -p menara-provider --bench verification`.
#![allow(clippy::unwrap_used)]
use criterion::{criterion_group, criterion_main, Criterion};
use gpu_verify::commit::merkle_root;
use gpu_verify::engine::Activation;
use gpu_verify::random::{minilm_config, random_encoder};
use menara_chain_spec::keyring;
use menara_primitives::H256;
use menara_provider::inference::run_job;
use menara_provider::models::LoadedModel;
use menara_provider::verifier::{check_job, Answer};
use pallet_inference::{Check, CheckAnswer, Job, JobState};

fn bench(c: &mut Criterion) {
    let cfg = minilm_config();
    let file = random_encoder(3, cfg).unwrap().to_file().unwrap();
    let id = H256(file.content_hash());
    let model = LoadedModel::parse(id, &file.to_bytes()).unwrap();
    let ids: Vec<u32> = (0..128u32)
        .map(|i| i.wrapping_mul(2654435761) % cfg.vocab as u32)
        .collect();
    let input = Activation::tokens(&[ids]);
    let cpu = gpu_verify::cpu::CpuEngine::new(0).unwrap();
    println!("CPU engine, {} threads", cpu.threads());
    let result = run_job(&model, 0, &input, &cpu, 0).unwrap();
    let leaves: Vec<[u8; 32]> = result.commitment.iter().map(|h| h.0).collect();
    let job = Job {
        client: keyring::dev_account("Alice"),
        provider: keyring::dev_account("Bob"),
        model: id,
        input: input.clone(),
        fee: 1,
        royalty: 0,
        verification_fee: 0,
        submitted_at: 1,
        commit_by: 21,
        state: JobState::Sampled,
        commitment: result.commitment.clone(),
        root: H256(merkle_root(&leaves)),
        output: Some(result.output.clone()),
        committed_at: 2,
        window_ends: 32,
        checks: vec![Check {
            verifier: keyring::dev_account("Charlie"),
            answer: CheckAnswer::Waiting,
        }],
        challenges_rejected: 0,
        outcome: None,
        closed_at: 0,
    };
    assert!(matches!(
        check_job(&model, 0, &job, &cpu).unwrap(),
        Answer::Attest(_)
    ));
    let mut group = c.benchmark_group("minilm_seq128_cpu");
    group.sample_size(10);
    group.bench_function("provider_runs_and_commits", |b| {
        b.iter(|| run_job(&model, 0, &input, &cpu, 0).unwrap())
    });
    group.bench_function("verifier_checks", |b| {
        b.iter(|| check_job(&model, 0, &job, &cpu).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
