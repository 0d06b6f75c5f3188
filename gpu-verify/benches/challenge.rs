//! Criterion benchmarks of the GPU availability challenge (H100 shape):
//! one step on the threaded CPU engine and on the reference GEMM (the chain's audit cost,
//! natively), weight generation, `audit_step`, and a shortened full run (depth 64) from which
//! the full-depth CPU time extrapolates linearly.
#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gpu_verify::challenge::{audit_step, AuditVerdict, Challenge, ChallengeShape, StepOpening};
use gpu_verify::commit::{merkle_proof, merkle_root};
use gpu_verify::cpu::CpuEngine;
use gpu_verify::engine::RefGemm;

const SEED: [u8; 32] = [0x42; 32];

fn step(c: &mut Criterion) {
    let cpu = CpuEngine::new(0).unwrap();
    let s = ChallengeShape::H100;
    let ch = Challenge::generate(&SEED, s).unwrap();
    let x = ch.input().to_vec();
    let mut g = c.benchmark_group("challenge_h100");
    g.sample_size(10);
    g.throughput(Throughput::Elements(s.macs_per_step()));
    g.bench_function("step_cpu_engine", |b| b.iter(|| ch.step(&x, &cpu).unwrap()));
    g.bench_function("step_ref_gemm", |b| {
        b.iter(|| ch.step(&x, &RefGemm).unwrap())
    });
    g.throughput(Throughput::Elements(s.width as u64 * s.width as u64));
    g.bench_function("generate", |b| {
        b.iter(|| Challenge::generate(&SEED, s).unwrap())
    });

    // An honest opening of step 1 under a root over depth + 1 leaves (only leaves 0 and 1
    // matter for the audit's work, which is the same for every step).
    let y = ch.step(&x, &cpu).unwrap();
    let mut leaves = vec![[0u8; 32]; s.depth as usize + 1];
    leaves[0] = ch.leaf(&x);
    leaves[1] = ch.leaf(&y);
    let root = merkle_root(&leaves);
    let opening = StepOpening {
        input: x.iter().map(|&v| v as u8).collect(),
        input_proof: merkle_proof(&leaves, 0).unwrap(),
        output_proof: merkle_proof(&leaves, 1).unwrap(),
    };
    assert_eq!(
        audit_step(&SEED, s, 1, &root, &opening).unwrap(),
        AuditVerdict::Honest
    );
    g.throughput(Throughput::Elements(s.macs_per_step()));
    g.bench_function("audit_step", |b| {
        b.iter(|| audit_step(&SEED, s, 1, &root, &opening).unwrap())
    });

    let short = ChallengeShape { depth: 64, ..s };
    let ch64 = Challenge::generate(&SEED, short).unwrap();
    g.throughput(Throughput::Elements(short.total_macs()));
    g.bench_function("run_depth64_cpu_engine", |b| {
        b.iter(|| ch64.run(&cpu, 16).unwrap().root())
    });
    g.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
