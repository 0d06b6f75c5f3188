//! GPU benchmark driver (`harness = false`), run by `scripts/gpu-check.sh` on a GPU machine:
//!
//! * int8 GEMM throughput of every kernel (cuBLASLt, our tensor-core kernel, our CUDA-core
//!   kernel) on large and MiniLM-at-batch-256 shapes, as a fraction of the card's int8
//!   dense peak, each product checked byte for byte against the others and, on sampled
//!   rows, against the CPU; cuBLASLt autotuned first over its heuristic's candidates (each
//!   timed and checked);
//! * MiniLM sequences/s at 128 tokens, batch 1 and 256, CPU engine vs each GPU kernel in
//!   the same run, each kernel also with whole layers on the device (`+layers`), with the
//!   GPU traces checked against the CPU's commitment;
//! * one availability-challenge step (32 × 1024 × 1024) on the GPU and the CPU.
//!
//! `--out DIR` (default `gpu-report/`) receives `report.json` and `report.txt`; `--model F`
//! runs the MiniLM part on an imported all-MiniLM-L6-v2 (`.mvm`) instead of random weights
//! with its shapes. Without a GPU it writes a report saying so and exits 0.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde_json::{json, Value};

use gpu_verify::challenge::{Challenge, ChallengeShape};
use gpu_verify::cpu::CpuEngine;
use gpu_verify::cuda::{CudaEngine, GemmKernel, DEFAULT_KERNEL};
use gpu_verify::engine::{run, Activation, Gemm};
use gpu_verify::error::Error;
use gpu_verify::model::Model;
use gpu_verify::numerics::dot_i8;
use gpu_verify::random::{minilm_config, random_encoder, random_tokens, Rng};

/// Int8 dense tensor operations per SM per clock on Hopper (sm_90): 1,979 TOPS for
/// 132 SMs at 1.83 GHz.
const HOPPER_INT8_OPS_PER_SM_CLOCK: f64 = 8192.0;

struct Args {
    out: PathBuf,
    model: Option<PathBuf>,
}

fn args() -> Result<Args> {
    let mut out = PathBuf::from("gpu-report");
    let mut model = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--out" => out = it.next().context("--out needs a folder")?.into(),
            "--model" => model = Some(it.next().context("--model needs a file")?.into()),
            // `cargo bench` passes --bench; anything else is a mistake.
            "--bench" => {}
            other => bail!("unknown argument {other:?} (expected --out DIR, --model FILE)"),
        }
    }
    Ok(Args { out, model })
}

/// Wall time spent inside `gemm` calls, to split end-to-end time into GEMM and the rest.
/// Every other backend method goes to the wrapped engine unchanged (its threads, its
/// challenge runner), so the end-to-end figures are the engine's own.
struct TimedGemm<'a> {
    inner: &'a dyn Gemm,
    spent: Mutex<Duration>,
}

impl Gemm for TimedGemm<'_> {
    fn gemm(
        &self,
        x: &[i8],
        m: usize,
        k: usize,
        w: &[i8],
        n: usize,
        out: &mut [i32],
    ) -> Result<(), Error> {
        let t = Instant::now();
        let r = self.inner.gemm(x, m, k, w, n, out);
        *self.spent.lock().unwrap() += t.elapsed();
        r
    }

    fn map_indexed(&self, n: usize, f: &(dyn Fn(usize) -> Vec<i8> + Sync)) -> Vec<Vec<i8>> {
        self.inner.map_indexed(n, f)
    }

    fn for_each_chunk_i8(
        &self,
        out: &mut [i8],
        chunk_len: usize,
        f: &(dyn Fn(usize, &mut [i8]) + Sync),
    ) {
        self.inner.for_each_chunk_i8(out, chunk_len, f)
    }

    fn for_each_chunk_i16(
        &self,
        out: &mut [i16],
        chunk_len: usize,
        f: &(dyn Fn(usize, &mut [i16]) + Sync),
    ) {
        self.inner.for_each_chunk_i16(out, chunk_len, f)
    }

    fn map_indexed_i32(&self, n: usize, f: &(dyn Fn(usize) -> Vec<i32> + Sync)) -> Vec<Vec<i32>> {
        self.inner.map_indexed_i32(n, f)
    }

    fn for_each_chunk_i64(
        &self,
        out: &mut [i64],
        chunk_len: usize,
        f: &(dyn Fn(usize, &mut [i64]) + Sync),
    ) {
        self.inner.for_each_chunk_i64(out, chunk_len, f)
    }

    fn challenge_runner(&self) -> Option<&dyn gpu_verify::challenge::ChallengeRunner> {
        self.inner.challenge_runner()
    }

    // Whole layers on the device: their GEMMs do not pass through `gemm` above.
    fn run_encoder_step(
        &self,
        encoder: &gpu_verify::model::Encoder,
        step: &gpu_verify::engine::EncoderStep<'_>,
        input: &Activation,
    ) -> Option<Result<Activation, Error>> {
        self.inner.run_encoder_step(encoder, step, input)
    }

    fn run_mlp_step(
        &self,
        layer: &gpu_verify::model::Linear,
        relu: bool,
        input: &Activation,
    ) -> Option<Result<Activation, Error>> {
        self.inner.run_mlp_step(layer, relu, input)
    }
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let args = args()?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("create {:?}", args.out))?;
    let mut text = String::new();
    let default = match CudaEngine::new(0) {
        Ok(e) => e,
        Err(e) => {
            let report = json!({ "skipped": format!("no GPU: {e}") });
            write(&args.out, &report, &format!("skipped: no GPU: {e}\n"))?;
            println!("skipped: no GPU: {e}");
            return Ok(());
        }
    };
    let info = default.info().clone();
    let clock_khz = info.clock_khz;
    let peak = (info.compute_capability.0 == 9).then(|| {
        f64::from(info.multiprocessors) * f64::from(clock_khz) * 1e3 * HOPPER_INT8_OPS_PER_SM_CLOCK
    });
    let selected = GemmKernel::selected_for_checks()?;
    let kernels: Vec<GemmKernel> = default
        .available_kernels()
        .into_iter()
        .filter(|k| selected.contains(k))
        .collect();
    let engines: Vec<CudaEngine> = kernels
        .iter()
        .map(|&k| CudaEngine::with_kernel(0, k))
        .collect::<Result<_, _>>()?;
    let cpu = CpuEngine::new(0)?;
    writeln!(
        text,
        "device: {} (compute {}.{}, {} SMs, {:.0} GiB, {} MHz), driver CUDA {}.{}, NVRTC {}.{}",
        info.name,
        info.compute_capability.0,
        info.compute_capability.1,
        info.multiprocessors,
        info.memory_bytes as f64 / (1u64 << 30) as f64,
        clock_khz / 1000,
        info.driver_cuda_version / 1000,
        (info.driver_cuda_version % 1000) / 10,
        info.nvrtc_version.0,
        info.nvrtc_version.1
    )?;
    writeln!(
        text,
        "kernels: {:?}; default: {}; cuBLASLt: {}; CPU threads: {}",
        kernels.iter().map(|k| k.name()).collect::<Vec<_>>(),
        default.kernel().name(),
        info.cublaslt_unavailable.as_deref().unwrap_or("loaded"),
        cpu.threads()
    )?;
    if let Some(p) = peak {
        writeln!(
            text,
            "int8 dense peak: {:.0} TOPS ({} SMs x {} MHz x 8192 ops/clock)",
            p / 1e12,
            info.multiprocessors,
            clock_khz / 1000
        )?;
    }
    print!("{text}");

    let mut report = json!({
        "device": {
            "name": info.name,
            "compute_capability": format!("{}.{}", info.compute_capability.0, info.compute_capability.1),
            "multiprocessors": info.multiprocessors,
            "memory_bytes": info.memory_bytes,
            "clock_mhz": clock_khz / 1000,
            "driver_cuda_version": info.driver_cuda_version,
            "nvrtc_version": format!("{}.{}", info.nvrtc_version.0, info.nvrtc_version.1),
            "cublaslt": info.cublaslt_unavailable.clone().unwrap_or_else(|| "loaded".into()),
            "int8_dense_peak_tops": peak.map(|p| p / 1e12),
        },
        "default_kernel": DEFAULT_KERNEL.name(),
        "cpu_threads": cpu.threads(),
    });
    // Each part is written as soon as it is done, so a run cut short keeps what it measured.
    report["gemm"] = gemm_section(&engines, peak, &mut text)?;
    write(&args.out, &report, &text)?;
    report["challenge"] = challenge_section(&engines, &cpu, &mut text)?;
    write(&args.out, &report, &text)?;
    report["minilm"] = minilm_section(&engines, &cpu, args.model.as_deref(), &mut text)?;
    write(&args.out, &report, &text)?;
    Ok(())
}

fn write(dir: &std::path::Path, report: &Value, text: &str) -> Result<()> {
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    std::fs::write(dir.join("report.txt"), text)?;
    Ok(())
}

fn line(text: &mut String, s: String) {
    println!("{s}");
    text.push_str(&s);
    text.push('\n');
}

fn gemm_section(engines: &[CudaEngine], peak: Option<f64>, text: &mut String) -> Result<Value> {
    let shapes: &[(&str, usize, usize, usize, usize)] = &[
        ("8192^3", 8192, 8192, 8192, 20),
        ("MiniLM b256 attention proj", 32768, 384, 384, 50),
        ("MiniLM b256 FFN up", 32768, 384, 1536, 50),
        ("MiniLM b256 FFN down", 32768, 1536, 384, 50),
        ("MiniLM b1 FFN up", 128, 384, 1536, 200),
        ("challenge step", 32, 1024, 1024, 200),
    ];
    line(
        text,
        "\nint8 GEMM (y = x w^T, int32 out), device-resident operands:".into(),
    );
    let mut rows = Vec::new();
    let mut g = Rng::new(2026);
    for &(name, m, k, n, reps) in shapes {
        let x = g.i8s(m * k);
        let w = g.i8s(n * k);
        // CPU reference on sampled rows.
        let sample: Vec<usize> = (0..8).map(|i| (i * 7919 + 13) % m).collect();
        let want: Vec<Vec<i32>> = sample
            .par_iter()
            .map(|&r| {
                (0..n)
                    .map(|j| dot_i8(&x[r * k..(r + 1) * k], &w[j * k..(j + 1) * k]))
                    .collect()
            })
            .collect();
        let mut first: Option<Vec<i32>> = None;
        for e in engines {
            // cuBLASLt: time each of the heuristic's algorithms, keep the fastest identical
            // one (the timing below then uses it).
            let tuning = if e.kernel() == GemmKernel::CublasLt {
                match e.autotune_cublaslt(&x, m, k, &w, n, reps.div_ceil(4)) {
                    Ok(t) => Some(t),
                    Err(err) => {
                        line(text, format!("  {name}: cuBLASLt autotuning failed: {err}"));
                        None
                    }
                }
            } else {
                None
            };
            if let Some(t) = &tuning {
                let us = |i: usize| {
                    t.get(i)
                        .and_then(|a| a.seconds.as_ref().ok())
                        .map(|s| s * 1e6)
                };
                let best = t
                    .iter()
                    .filter(|a| a.identical)
                    .filter_map(|a| a.seconds.as_ref().ok().map(|s| (a.index, s * 1e6)))
                    .min_by(|a, b| a.1.total_cmp(&b.1));
                line(
                    text,
                    format!(
                        "  {name:<28} cuBLASLt autotune: {} candidates, heuristic's first {} us, best #{} {} us, all identical: {}",
                        t.len(),
                        us(0).map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into()),
                        best.map(|b| b.0).unwrap_or(0),
                        best.map(|b| format!("{:.1}", b.1)).unwrap_or_else(|| "-".into()),
                        t.iter().all(|a| a.seconds.is_err() || a.identical)
                    ),
                );
            }
            let t = e.time_gemm(e.kernel(), &x, m, k, &w, n, reps)?;
            let tops = 2.0 * (m * k * n) as f64 / t.seconds / 1e12;
            let cpu_ok = sample
                .iter()
                .zip(&want)
                .all(|(&r, row)| &t.out[r * n..(r + 1) * n] == row.as_slice());
            let same = match &first {
                None => true,
                Some(f) => *f == t.out,
            };
            if first.is_none() {
                first = Some(t.out.clone());
            }
            let frac = peak.map(|p| tops * 1e12 / p);
            line(
                text,
                format!(
                    "  {name:<28} {m:>6}x{k:>5}x{n:>5}  {:<11} (ran {:<11}) {:>9.1} us  {:>7.1} TOPS{}  identical: {}",
                    e.kernel().name(),
                    t.kernel.name(),
                    t.seconds * 1e6,
                    tops,
                    frac.map(|f| format!(" ({:.1}% of peak)", f * 100.0)).unwrap_or_default(),
                    same && cpu_ok
                ),
            );
            let tuned = tuning.as_ref().map(|t| {
                t.iter()
                    .map(|a| json!({"index": a.index, "us": a.seconds.as_ref().ok().map(|s| s * 1e6), "error": a.seconds.as_ref().err(), "identical": a.seconds.is_ok().then_some(a.identical)}))
                    .collect::<Vec<_>>()
            });
            rows.push(json!({
                "cublaslt_candidates": tuned,
                "identical_cublaslt_candidates": tuning.as_ref().map(|t| t.iter().all(|a| a.seconds.is_err() || a.identical)),
                "shape": name, "m": m, "k": k, "n": n,
                "kernel": e.kernel().name(), "ran": t.kernel.name(),
                "us": t.seconds * 1e6, "tops": tops, "fraction_of_peak": frac,
                "identical_to_first_kernel": same, "identical_to_cpu_on_sampled_rows": cpu_ok,
            }));
        }
    }
    Ok(Value::Array(rows))
}

fn time_run(
    model: &Model,
    input: &Activation,
    be: &dyn Gemm,
    reps: usize,
) -> Result<(f64, f64, gpu_verify::commit::Commitment)> {
    let timed = TimedGemm {
        inner: be,
        spent: Mutex::new(Duration::ZERO),
    };
    let t = Instant::now();
    let mut commitment = None;
    for _ in 0..reps {
        commitment = Some(run(model, input, &timed)?.commitment);
    }
    let total = t.elapsed().as_secs_f64() / reps as f64;
    let gemm = timed.spent.lock().unwrap().as_secs_f64() / reps as f64;
    Ok((total, gemm, commitment.context("no repetition ran")?))
}

fn minilm_section(
    engines: &[CudaEngine],
    cpu: &CpuEngine,
    path: Option<&std::path::Path>,
    text: &mut String,
) -> Result<Value> {
    let (model, which) = match path {
        Some(p) => (
            gpu_verify::io::load_model(p)?.1,
            "imported all-MiniLM-L6-v2",
        ),
        None => (
            random_encoder(7, minilm_config())?,
            "random weights, MiniLM shapes",
        ),
    };
    line(
        text,
        format!("\nMiniLM encoder ({which}), 128 tokens per sequence:"),
    );
    // Each kernel again with whole layers on the device.
    let layered = engines
        .iter()
        .map(|e| Ok(CudaEngine::with_kernel(0, e.kernel())?.with_device_layers(true)))
        .collect::<Result<Vec<_>>>()?;
    let mut rows = Vec::new();
    for &(batch, cpu_reps, gpu_reps) in &[(1usize, 5usize, 10usize), (256, 1, 3)] {
        let input = Activation::tokens(&random_tokens(3, batch, 128, 128, 30522));
        // Warm caches, thread pools and cuBLASLt plans.
        run(
            &model,
            &Activation::tokens(&random_tokens(4, 1, 128, 128, 30522)),
            cpu,
        )?;
        let (cpu_s, cpu_gemm, want) = time_run(&model, &input, cpu, cpu_reps)?;
        let cpu_rate = batch as f64 / cpu_s;
        line(
            text,
            format!(
                "  batch {batch:>3}  cpu ({} threads)   {cpu_rate:>9.1} seq/s  (GEMM {:.0}% of the time)",
                cpu.threads(),
                100.0 * cpu_gemm / cpu_s
            ),
        );
        rows.push(json!({"batch": batch, "engine": "cpu", "seq_per_s": cpu_rate, "gemm_share": cpu_gemm / cpu_s}));
        for e in engines.iter().chain(&layered) {
            let name = if e.device_layers() {
                format!("{}+layers", e.kernel().name())
            } else {
                e.kernel().name().to_string()
            };
            run(&model, &input, e)?;
            let (s, gemm, got) = time_run(&model, &input, e, gpu_reps)?;
            let rate = batch as f64 / s;
            let same = got == want;
            let split = if e.device_layers() {
                let (copied, reused) = e.weight_cache_stats();
                format!("every layer on the device; linear layers copied {copied}, reused {reused}")
            } else {
                format!("GEMM incl. transfers {:.0}% of the time", 100.0 * gemm / s)
            };
            line(
                text,
                format!(
                    "  batch {batch:>3}  gpu {name:<16} {rate:>9.1} seq/s  ({:.1}x cpu; {split})  commitment identical to cpu: {same}",
                    rate / cpu_rate,
                ),
            );
            rows.push(json!({"batch": batch, "engine": name, "seq_per_s": rate, "speedup_vs_cpu": rate / cpu_rate, "gemm_share": gemm / s, "identical_to_cpu": same}));
        }
    }
    Ok(Value::Array(rows))
}

fn challenge_section(engines: &[CudaEngine], cpu: &CpuEngine, text: &mut String) -> Result<Value> {
    let shape = ChallengeShape {
        seq: 32,
        width: 1024,
        depth: 1000,
    };
    let preset = ChallengeShape::H100.depth;
    let c = Challenge::generate(&[5u8; 32], shape)?;
    line(
        text,
        format!("\navailability challenge, 32 x 1024 x 1024 per step ({} steps timed; the H100 preset runs {preset} and must be answered within 10 blocks):", shape.depth),
    );
    let t = Instant::now();
    let want = c.run(cpu, 50)?.root();
    let cpu_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(shape.depth);
    line(
        text,
        format!(
            "  cpu                        {cpu_us:>8.1} us/step  (preset: {:.1} s)",
            cpu_us * f64::from(preset) / 1e6
        ),
    );
    let mut rows = vec![json!({"engine": "cpu", "path": "stepwise", "us_per_step": cpu_us})];
    for (i, e) in engines.iter().enumerate() {
        let mut paths = vec![("resident", true)];
        if i == 0 {
            paths.push(("stepwise", false));
        }
        for (path, resident) in paths {
            let t = Instant::now();
            let root = if resident {
                c.run(e, 50)?
            } else {
                c.run_stepwise(e, 50)?
            }
            .root();
            let us = t.elapsed().as_secs_f64() * 1e6 / f64::from(shape.depth);
            line(
                text,
                format!(
                    "  gpu {:<12} {path:<9} {us:>8.1} us/step  (preset: {:.1} s)  root identical to cpu: {}",
                    e.kernel().name(),
                    us * f64::from(preset) / 1e6,
                    root == want
                ),
            );
            rows.push(json!({"engine": e.kernel().name(), "path": path, "us_per_step": us, "identical_to_cpu": root == want}));
        }
    }
    Ok(Value::Array(rows))
}
