//! Criterion benchmarks: int8 GEMM throughput and MiniLM-shaped encoder throughput
//! (random weights with all-MiniLM-L6-v2's shapes, so no download is needed).
#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gpu_verify::cpu::CpuEngine;
use gpu_verify::engine::{run, Activation, Gemm, RefGemm};
use gpu_verify::random::{minilm_config, random_encoder, random_tokens, Rng};

fn gemm(c: &mut Criterion) {
    let cpu = CpuEngine::new(0).unwrap();
    let mut g = c.benchmark_group("gemm_i8");
    for &(m, k, n) in &[(512usize, 512usize, 512usize), (128, 384, 1536)] {
        let mut r = Rng::new(1);
        let x = r.i8s(m * k);
        let w = r.i8s(n * k);
        let mut out = vec![0i32; m * n];
        // Throughput in "elements" = operations (2 per multiply-accumulate).
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        let id = format!("{m}x{k}x{n}");
        g.bench_with_input(BenchmarkId::new("cpu_threads", &id), &(), |b, _| {
            b.iter(|| cpu.gemm(&x, m, k, &w, n, &mut out).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("ref_single", &id), &(), |b, _| {
            b.iter(|| RefGemm.gemm(&x, m, k, &w, n, &mut out).unwrap())
        });
    }
    g.finish();
}

fn encoder(c: &mut Criterion) {
    let cpu = CpuEngine::new(0).unwrap();
    let model = random_encoder(7, minilm_config()).unwrap();
    let mut g = c.benchmark_group("minilm_encoder_seq128");
    g.sample_size(10);
    for &batch in &[1usize, 32] {
        let x = Activation::tokens(&random_tokens(3, batch, 128, 128, 30522));
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_with_input(BenchmarkId::new("cpu_batch", batch), &(), |b, _| {
            b.iter(|| run(&model, &x, &cpu).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, gemm, encoder);
criterion_main!(benches);
