//! Criterion benchmarks: int8 GEMM throughput, MiniLM-shaped encoder throughput under
//! numerics v1 and v2 in one run (random weights with all-MiniLM-L6-v2's shapes, so no
//! download is needed), and the tokenizer's throughput on the accuracy test's 234 texts
//! (when `MINILM_DIR` points at the published model, for its tokenizer.json).
#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gpu_verify::cpu::{CpuEngine, Isa};
use gpu_verify::engine::{run, Activation, Gemm, RefGemm};
use gpu_verify::random::{minilm_config, random_encoder_with, random_tokens, Rng};
use gpu_verify::tokenizer::Tokenizer;

fn gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("gemm_i8");
    for &(m, k, n) in &[(512usize, 512usize, 512usize), (128, 384, 1536)] {
        let mut r = Rng::new(1);
        let x = r.i8s(m * k);
        let w = r.i8s(n * k);
        let mut out = vec![0i32; m * n];
        // Throughput in "elements" = operations (2 per multiply-accumulate).
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        let id = format!("{m}x{k}x{n}");
        for isa in Isa::available() {
            let cpu = CpuEngine::with_isa(0, isa).unwrap();
            let name = format!("cpu_threads_{isa:?}");
            g.bench_with_input(BenchmarkId::new(name, &id), &(), |b, _| {
                b.iter(|| cpu.gemm(&x, m, k, &w, n, &mut out).unwrap())
            });
        }
        g.bench_with_input(BenchmarkId::new("ref_single", &id), &(), |b, _| {
            b.iter(|| RefGemm.gemm(&x, m, k, &w, n, &mut out).unwrap())
        });
    }
    g.finish();
}

fn encoder(c: &mut Criterion) {
    let mut g = c.benchmark_group("minilm_encoder_seq128");
    g.sample_size(10);
    // The build's baseline and the widest the CPU has, each under both numerics.
    let mut isas = vec![Isa::Baseline];
    isas.extend(Isa::available().last().filter(|&&i| i != Isa::Baseline));
    for isa in isas {
        let cpu = CpuEngine::with_isa(0, isa).unwrap();
        for numerics in [1u32, 2] {
            let model = random_encoder_with(7, minilm_config(), numerics).unwrap();
            for &batch in &[1usize, 32] {
                let x = Activation::tokens(&random_tokens(3, batch, 128, 128, 30522));
                g.throughput(Throughput::Elements(batch as u64));
                let id = format!("v{numerics}_{isa:?}_batch");
                g.bench_with_input(BenchmarkId::new(id, batch), &(), |b, _| {
                    b.iter(|| run(&model, &x, &cpu).unwrap())
                });
            }
        }
    }
    g.finish();
}

fn tokenizer(c: &mut Criterion) {
    let Some(dir) = std::env::var_os("MINILM_DIR") else {
        eprintln!("tokenizer benchmark skipped: MINILM_DIR not set (scripts/fetch-minilm.sh)");
        return;
    };
    let json = std::fs::read(std::path::Path::new(&dir).join("tokenizer.json")).unwrap();
    let tok = Tokenizer::from_json(&json).unwrap();
    let data: serde_json::Value =
        serde_json::from_str(include_str!("../tests/data/minilm-reference.json")).unwrap();
    let texts: Vec<String> = data["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].as_str().unwrap().to_owned())
        .collect();
    let tokens: usize = texts
        .iter()
        .map(|t| tok.encode(t, 256).unwrap().len())
        .sum();
    let mut g = c.benchmark_group("tokenizer");
    g.throughput(Throughput::Elements(texts.len() as u64));
    g.bench_function(format!("{}_texts_{tokens}_tokens", texts.len()), |b| {
        b.iter(|| {
            for t in &texts {
                tok.encode(t, 256).unwrap();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, gemm, encoder, tokenizer);
criterion_main!(benches);
