//! CPU vs GPU: every GEMM kernel the device offers (cuBLASLt, our tensor-core kernel, our
//! CUDA-core kernel) gives the CPU engine's bytes, GEMM by GEMM and layer by layer, on
//! random models of every kind, the availability challenge and, when `MINILM_MVM` names an
//! imported all-MiniLM-L6-v2, the real model; the model tests run each kernel again with
//! whole layers on the device (the kernels of `layers.cu`).
//!
//! Without a CUDA device every test prints `skipped: ...` and passes: CI has no GPU. The
//! kernels' compilation and assembly for every target GPU needs only NVRTC and ptxas.
//! `scripts/gpu-check.sh` runs these on a GPU machine, with `--test-threads=1`.
#![cfg(feature = "cuda")]
#![allow(clippy::unwrap_used)]

use gpu_verify::challenge::{Challenge, ChallengeShape};
use gpu_verify::cpu::CpuEngine;
use gpu_verify::cuda::{CudaEngine, GemmKernel};
use gpu_verify::device::LayerKernel;
use gpu_verify::engine::{run, Activation, Gemm, RefGemm, Trace};
use gpu_verify::model::Model;
use gpu_verify::numerics::MAX_DOT_LEN;
use gpu_verify::random::{
    minilm_config, random_encoder, random_encoder_with, random_mlp, random_tokens,
    tiny_encoder_config, Rng,
};

/// One engine per kernel the device offers, or `None` (and a `skipped:` line) without one.
fn engines(test: &str) -> Option<Vec<CudaEngine>> {
    let first = match CudaEngine::new(0) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("skipped: {test}: no GPU ({e})");
            return None;
        }
    };
    let info = first.info().clone();
    let selected = GemmKernel::selected_for_checks().unwrap();
    let kernels: Vec<GemmKernel> = first
        .available_kernels()
        .into_iter()
        .filter(|k| selected.contains(k))
        .collect();
    eprintln!(
        "{test}: {} (compute {}.{}), kernels {:?}{}",
        info.name,
        info.compute_capability.0,
        info.compute_capability.1,
        kernels.iter().map(|k| k.name()).collect::<Vec<_>>(),
        info.cublaslt_unavailable
            .map(|w| format!(" (cuBLASLt: {w})"))
            .unwrap_or_default()
    );
    Some(
        kernels
            .into_iter()
            .map(|k| CudaEngine::with_kernel(0, k).unwrap())
            .collect(),
    )
}

/// [`engines`], and each of them again with whole layers on the device
/// ([`CudaEngine::with_device_layers`]).
fn engines_with_layers(test: &str) -> Option<Vec<CudaEngine>> {
    let plain = engines(test)?;
    let mut all = Vec::with_capacity(2 * plain.len());
    for e in plain {
        let layered = CudaEngine::with_kernel(0, e.kernel())
            .unwrap()
            .with_device_layers(true);
        all.push(e);
        all.push(layered);
    }
    Some(all)
}

/// The engine's name in messages: its GEMM kernel, `+layers` with whole layers on the device.
fn label(e: &CudaEngine) -> String {
    if e.device_layers() {
        format!("{}+layers", e.kernel().name())
    } else {
        e.kernel().name().to_string()
    }
}

fn first_difference(a: &[i32], b: &[i32]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y)
}

/// The first layer whose output differs, if any.
fn first_differing_layer(cpu: &Trace, gpu: &Trace) -> Option<usize> {
    (0..cpu.outputs.len().max(gpu.outputs.len()))
        .find(|&l| cpu.outputs.get(l) != gpu.outputs.get(l))
}

fn assert_same_trace(what: &str, engine: &CudaEngine, cpu: &Trace, gpu: &Trace) {
    if let Some(l) = first_differing_layer(cpu, gpu) {
        panic!(
            "{what}: GPU engine {} differs from the CPU first at layer {l} (of {})",
            label(engine),
            cpu.outputs.len()
        );
    }
    assert_eq!(cpu.commitment, gpu.commitment, "{what}: {}", label(engine));
}

fn seed() -> u64 {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(42);
    eprintln!("seed {s}");
    s
}

#[test]
fn every_gpu_kernel_gives_the_cpu_bytes_on_random_gemms() {
    let Some(gpus) = engines("random GEMMs") else {
        return;
    };
    let mut g = Rng::new(seed());
    // Edges of every tile size, k not a multiple of 16 (the fallbacks), MiniLM's shapes,
    // and the tallest rows the engine allows.
    let shapes: &[(usize, usize, usize)] = &[
        (1, 1, 1),
        (1, 16, 1),
        (3, 7, 5),
        (17, 33, 9),
        (16, 32, 8),
        (127, 64, 129),
        (129, 400, 130),
        (128, 384, 1536),
        (300, 1536, 384),
        (257, 100, 77),
        (64, 4096, 64),
        (1000, 48, 1000),
    ];
    for &(m, k, n) in shapes {
        let x = g.i8s(m * k);
        let w = g.i8s(n * k);
        let mut want = vec![0i32; m * n];
        RefGemm.gemm(&x, m, k, &w, n, &mut want).unwrap();
        for gpu in &gpus {
            let mut got = vec![7i32; m * n];
            gpu.gemm(&x, m, k, &w, n, &mut got).unwrap();
            if let Some(i) = first_difference(&want, &got) {
                panic!(
                    "GEMM {m}x{k}x{n} on {} (ran {}): first difference at ({}, {}): cpu {} gpu {}",
                    gpu.kernel().name(),
                    gpu.kernel_for(gpu.kernel(), m, k, n).name(),
                    i / n,
                    i % n,
                    want[i],
                    got[i]
                );
            }
        }
    }
}

#[test]
fn every_gpu_kernel_sums_the_extremes_exactly() {
    let Some(gpus) = engines("extreme GEMMs") else {
        return;
    };
    // The largest k the engines accept, with the largest products: sums reach ±2^30 and
    // must neither saturate nor wrap.
    let (m, k, n) = (5, MAX_DOT_LEN, 8);
    let x: Vec<i8> = (0..m * k)
        .map(|i| if (i / k) % 2 == 0 { -128 } else { 127 })
        .collect();
    let w: Vec<i8> = (0..n * k)
        .map(|i| if (i / k) % 3 == 0 { -128 } else { -127 })
        .collect();
    let mut want = vec![0i32; m * n];
    RefGemm.gemm(&x, m, k, &w, n, &mut want).unwrap();
    assert_eq!(want[0], 1 << 30);
    for gpu in &gpus {
        let mut got = vec![0i32; m * n];
        gpu.gemm(&x, m, k, &w, n, &mut got).unwrap();
        assert_eq!(got, want, "kernel {}", gpu.kernel().name());
    }
}

#[test]
fn every_layer_matches_the_cpu_for_every_model_kind() {
    let Some(gpus) = engines_with_layers("random models") else {
        return;
    };
    let s = seed();
    let cpu = CpuEngine::new(0).unwrap();
    let mut cases: Vec<(String, Model, Activation)> = Vec::new();
    for i in 0..3 {
        cases.push((
            format!("tiny encoder seed {}", s + i),
            random_encoder(s + i, tiny_encoder_config()).unwrap(),
            Activation::tokens(&random_tokens(s + 100 + i, 4, 1, 48, 500)),
        ));
    }
    cases.push((
        format!("tiny encoder seed {} under numerics v1", s + 3),
        random_encoder_with(s + 3, tiny_encoder_config(), 1).unwrap(),
        Activation::tokens(&random_tokens(s + 103, 4, 1, 48, 500)),
    ));
    cases.push((
        "MiniLM-shaped encoder, 8 x 128 tokens".into(),
        random_encoder(s + 7, minilm_config()).unwrap(),
        Activation::tokens(&random_tokens(s + 8, 8, 128, 128, 30522)),
    ));
    let mut g = Rng::new(s + 9);
    cases.push((
        "MLP 256-512-10, 300 rows".into(),
        random_mlp(s + 10, &[256, 512, 10], 1024).unwrap(),
        Activation::rows_i8(&(0..300).map(|_| g.i8s(256)).collect::<Vec<_>>()),
    ));
    cases.push((
        "MLP 100-37-3, 5 rows".into(),
        random_mlp(s + 11, &[100, 37, 3], 16).unwrap(),
        Activation::rows_i8(&(0..5).map(|_| g.i8s(100)).collect::<Vec<_>>()),
    ));
    for (what, model, input) in &cases {
        let want = run(model, input, &cpu).unwrap();
        for gpu in &gpus {
            let got = run(model, input, gpu).unwrap();
            assert_same_trace(what, gpu, &want, &got);
        }
        eprintln!(
            "{what}: {} layers identical on every kernel, with and without whole layers on the device",
            want.outputs.len()
        );
    }
}

#[test]
fn the_availability_challenge_gives_the_cpu_root_on_the_gpu() {
    let Some(gpus) = engines("challenge") else {
        return;
    };
    let cpu = CpuEngine::new(0).unwrap();
    // More steps than two of the device runner's batches of 64, and a partial last batch.
    let shape = ChallengeShape {
        seq: 32,
        width: 1024,
        depth: 150,
    };
    let c = Challenge::generate(&[9u8; 32], shape).unwrap();
    let want = c.run(&cpu, 4).unwrap().root();
    for gpu in &gpus {
        assert_eq!(
            c.run(gpu, 4).unwrap().root(),
            want,
            "{}",
            gpu.kernel().name()
        );
    }
}

#[test]
fn the_real_minilm_matches_the_cpu_layer_by_layer() {
    let Some(path) = std::env::var_os("MINILM_MVM") else {
        eprintln!("skipped: real MiniLM: MINILM_MVM not set (gpu-verify import-minilm)");
        return;
    };
    let Some(gpus) = engines_with_layers("real MiniLM") else {
        return;
    };
    let (_, model) = gpu_verify::io::load_model(std::path::Path::new(&path)).unwrap();
    let Model::Encoder(e) = &model else {
        panic!("MINILM_MVM is not an encoder")
    };
    let tok = gpu_verify::tokenizer::Tokenizer::from_encoder(e).unwrap();
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(20);
    let texts = [
        "A man is playing a guitar on the street.",
        "Thanks!",
        "Le chat dort sur le canapé depuis ce matin.",
        "fn main() { println!(\"{}\", 1 + 2); }",
        "How many GPUs does it take to verify one embedding?",
        "Ночью шёл снег, и утром город был белым.",
        "1, 2, 3... 42 -- 3.14159 & 2.71828!",
        long.as_str(),
    ];
    let seqs: Vec<Vec<u32>> = texts.iter().map(|t| tok.encode(t, 256).unwrap()).collect();
    let input = Activation::tokens(&seqs);
    let cpu = CpuEngine::new(0).unwrap();
    let want = run(&model, &input, &cpu).unwrap();
    for gpu in &gpus {
        let got = run(&model, &input, gpu).unwrap();
        assert_same_trace("real MiniLM", gpu, &want, &got);
    }
    eprintln!(
        "real MiniLM: {} sentences, {} layers identical on every kernel, with and without whole layers on the device",
        texts.len(),
        want.outputs.len()
    );
}

#[test]
fn every_cublaslt_candidate_algorithm_gives_the_same_bytes() {
    // Autotuning may pick any of the heuristic's algorithms: all must be exact.
    let Some(gpus) = engines("cuBLASLt candidates") else {
        return;
    };
    let Some(lt) = gpus.iter().find(|e| e.kernel() == GemmKernel::CublasLt) else {
        eprintln!("skipped: cuBLASLt candidates: cuBLASLt not selected or not loaded");
        return;
    };
    let mut g = Rng::new(seed());
    for &(m, k, n) in &[
        (32, 1024, 1024),
        (128, 384, 1536),
        (300, 1536, 384),
        (1024, 1024, 1024),
    ] {
        let x = g.i8s(m * k);
        let w = g.i8s(n * k);
        let mut want = vec![0i32; m * n];
        RefGemm.gemm(&x, m, k, &w, n, &mut want).unwrap();
        let timings = lt.autotune_cublaslt(&x, m, k, &w, n, 3).unwrap();
        assert!(!timings.is_empty(), "{m}x{k}x{n}: no candidates");
        for t in &timings {
            assert!(
                t.seconds.is_err() || t.identical,
                "{m}x{k}x{n}: cuBLASLt candidate {} gives other bytes",
                t.index
            );
        }
        // The product after tuning (the chosen candidate) equals the CPU's.
        let mut got = vec![0i32; m * n];
        lt.gemm(&x, m, k, &w, n, &mut got).unwrap();
        assert_eq!(
            first_difference(&want, &got),
            None,
            "{m}x{k}x{n} after tuning"
        );
        eprintln!(
            "{m}x{k}x{n}: {} candidates, {} ran, all identical",
            timings.len(),
            timings.iter().filter(|t| t.seconds.is_ok()).count()
        );
    }
}

#[test]
fn every_kernel_compiles_and_assembles_for_every_target_gpu() {
    // NVRTC and ptxas need no GPU: with `scripts/fetch-cuda-compilers.sh`'s NVRTC on the
    // loader path and its ptxas in GPU_VERIFY_PTXAS (CI sets both) this runs anywhere.
    if !gpu_verify::cuda::nvrtc_available() {
        eprintln!("skipped: no NVRTC library (scripts/fetch-cuda-compilers.sh fetches one; no GPU needed)");
        return;
    }
    let ptxas = std::env::var_os("GPU_VERIFY_PTXAS");
    if ptxas.is_none() {
        eprintln!("GPU_VERIFY_PTXAS not set: PTX is compiled but not assembled");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut names: Vec<&str> = vec!["gemm_i8_tiled", "gemm_i8_mma", "challenge_requant"];
    names.extend(LayerKernel::ALL.iter().map(|k| k.name()));
    // Each architecture the engine compiles for; compute_90 PTX also runs on later cards
    // (the driver finishes it), so it is assembled for sm_100 too.
    let targets: &[(&'static str, &[&str])] = &[
        ("compute_75", &["sm_75"]),
        ("compute_80", &["sm_80"]),
        ("compute_86", &["sm_86"]),
        ("compute_89", &["sm_89"]),
        ("compute_90", &["sm_90", "sm_100"]),
    ];
    for &(arch, sms) in targets {
        let ptx = gpu_verify::cuda::compile_kernels(arch)
            .unwrap_or_else(|e| panic!("{arch}: {e}"))
            .to_src();
        for name in &names {
            assert!(
                ptx.contains(&format!(".entry {name}(")),
                "{arch}: no kernel {name} in the PTX"
            );
        }
        // Integer code only: a float instruction in the kernels would be a bug.
        assert!(
            !ptx.contains(".f32") && !ptx.contains(".f64"),
            "{arch}: float instructions in the PTX"
        );
        let Some(ptxas) = &ptxas else {
            eprintln!("{arch}: {} kernels compiled", names.len());
            continue;
        };
        let file = dir.path().join(format!("{arch}.ptx"));
        std::fs::write(&file, &ptx).unwrap();
        for sm in sms {
            let out = std::process::Command::new(ptxas)
                .arg(format!("-arch={sm}"))
                .arg("-v")
                .arg(&file)
                .arg("-o")
                .arg(dir.path().join(format!("{sm}.cubin")))
                .output()
                .unwrap();
            let log = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "ptxas {sm} ({arch} PTX) failed:\n{log}"
            );
            let spills = log
                .lines()
                .filter(|l| l.contains("spill") && !l.contains(" 0 bytes spill stores"))
                .count();
            eprintln!(
                "{arch} -> {sm}: {} kernels assembled, {spills} with register spills",
                names.len()
            );
        }
    }
}
