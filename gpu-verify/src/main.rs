//! `gpu-verify`: run, check and import integer models from the command line.
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use gpu_verify::challenge::{Challenge, ChallengeShape};
use gpu_verify::commit::{settle_layer, LayerOpening, Verdict};
use gpu_verify::cpu::CpuEngine;
use gpu_verify::engine::{run, Activation, Gemm, RefGemm};
use gpu_verify::io::{
    commitment_json, hex, load_model, output_json, parse_commitment, parse_input, save_model,
};
use gpu_verify::model::Model;
use gpu_verify::random::{random_encoder_with, random_mlp, tiny_encoder_config};
use gpu_verify::tokenizer::Tokenizer;

#[derive(Parser)]
#[command(
    name = "gpu-verify",
    version,
    about = "Bit-exact integer inference with per-layer commitments"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum EngineKind {
    /// Threaded CPU engine.
    Cpu,
    /// Single-threaded reference.
    Ref,
    /// CUDA (GEMMs on the GPU) with the default kernel (cuBLASLt where it loads).
    Cuda,
    /// CUDA with cuBLASLt's int8 GEMM (int32 accumulation).
    CudaCublaslt,
    /// CUDA with gpu-verify's tensor-core kernel (compute capability 8.0+).
    CudaTensorCore,
    /// CUDA with gpu-verify's CUDA-core kernel (any card).
    CudaTiled,
    /// CUDA with whole layers on the device (the default GEMM kernel; everything between
    /// the GEMMs in gpu-verify's layer kernels).
    CudaLayers,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Encoder,
    Minilm,
    Mlp,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a job: prints the output and the commitment (JSON).
    Run {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        input: PathBuf,
        #[arg(long, value_enum, default_value = "cpu")]
        engine: EngineKind,
        /// Also write the commitment to this file.
        #[arg(long)]
        commitment_out: Option<PathBuf>,
    },
    /// Re-execute a job and compare with a commitment; reports the first differing layer.
    Check {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        commitment: PathBuf,
        #[arg(long, value_enum, default_value = "cpu")]
        engine: EngineKind,
    },
    /// Open one layer of a committed job and settle it by re-executing only that layer.
    Settle {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        commitment: PathBuf,
        #[arg(long)]
        layer: usize,
    },
    /// Embed text with an encoder model that carries a vocabulary.
    Embed {
        #[arg(long)]
        model: PathBuf,
        #[arg(long, value_enum, default_value = "cpu")]
        engine: EngineKind,
        /// Text to embed (truncated to the model's maximum length, like sentence-transformers).
        text: Vec<String>,
    },
    /// Import sentence-transformers all-MiniLM-L6-v2 (folder with config.json,
    /// model.safetensors, vocab.txt; see scripts/fetch-minilm.sh).
    ImportMinilm {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 300)]
        calib: usize,
        #[arg(long, default_value_t = 200)]
        eval: usize,
        /// Numerics version of the written model: 2 (default; wide activations) or 1
        /// (static int8 activations, for comparison and for chains that registered v1).
        #[arg(long, default_value_t = gpu_verify::numerics::NUMERICS_VERSION)]
        numerics: u32,
    },
    /// Write a random model (for tests and benchmarks).
    RandomModel {
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// Numerics version of an encoder (1 or 2).
        #[arg(long, default_value_t = gpu_verify::numerics::NUMERICS_VERSION)]
        numerics: u32,
        #[arg(long, value_enum, default_value = "encoder")]
        kind: Kind,
        /// Layer widths of an MLP (`--kind mlp`), e.g. `8192,8192,8192` (default
        /// `64,128,128,16`); 16 layers of 8192 make a 1 GiB model.
        #[arg(long, value_delimiter = ',')]
        dims: Vec<usize>,
    },
    /// Print a model's content hash (Merkle root over its tensors).
    Hash {
        #[arg(long)]
        model: PathBuf,
    },
    /// Answer a GPU availability challenge: prints the Merkle root over the per-step
    /// activation hashes, the shape, the total MACs and the elapsed time (JSON).
    Challenge {
        /// The 32-byte challenge seed: 64 hex digits, optionally prefixed with 0x.
        #[arg(long)]
        seed: String,
        /// Shape preset: test, h100, h200, a100, l40s, rtx4090.
        #[arg(long, default_value = "test")]
        shape: String,
        /// Override the preset's rows per activation.
        #[arg(long)]
        seq: Option<u32>,
        /// Override the preset's width.
        #[arg(long)]
        width: Option<u32>,
        /// Override the preset's number of steps.
        #[arg(long)]
        depth: Option<u32>,
        #[arg(long, value_enum, default_value = "cpu")]
        engine: EngineKind,
    },
}

/// Parses a 32-byte seed written as 64 hex digits (optional `0x`).
fn parse_seed(s: &str) -> Result<[u8; 32]> {
    let t = s.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("--seed must be 64 hex digits (32 bytes), optionally prefixed with 0x; got `{s}`");
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&t[2 * i..2 * i + 2], 16)?;
    }
    Ok(out)
}

fn challenge_shape(
    name: &str,
    seq: Option<u32>,
    width: Option<u32>,
    depth: Option<u32>,
) -> Result<ChallengeShape> {
    let Some(mut shape) = ChallengeShape::preset(name) else {
        let names: Vec<&str> = ChallengeShape::PRESETS.iter().map(|(n, _)| *n).collect();
        bail!(
            "unknown --shape `{name}` (expected one of {})",
            names.join(", ")
        );
    };
    shape.seq = seq.unwrap_or(shape.seq);
    shape.width = width.unwrap_or(shape.width);
    shape.depth = depth.unwrap_or(shape.depth);
    shape.validate()?;
    Ok(shape)
}

fn engine(kind: EngineKind) -> Result<Box<dyn Gemm>> {
    Ok(match kind {
        EngineKind::Cpu => Box::new(CpuEngine::new(0)?),
        EngineKind::Ref => Box::new(RefGemm),
        #[cfg(feature = "cuda")]
        EngineKind::Cuda => Box::new(gpu_verify::cuda::CudaEngine::new(0)?),
        #[cfg(feature = "cuda")]
        EngineKind::CudaLayers => {
            Box::new(gpu_verify::cuda::CudaEngine::new(0)?.with_device_layers(true))
        }
        #[cfg(feature = "cuda")]
        EngineKind::CudaCublaslt | EngineKind::CudaTensorCore | EngineKind::CudaTiled => {
            use gpu_verify::cuda::{CudaEngine, GemmKernel};
            let kernel = match kind {
                EngineKind::CudaCublaslt => GemmKernel::CublasLt,
                EngineKind::CudaTensorCore => GemmKernel::TensorCore,
                _ => GemmKernel::Tiled,
            };
            Box::new(CudaEngine::with_kernel(0, kernel)?)
        }
        #[cfg(not(feature = "cuda"))]
        EngineKind::Cuda
        | EngineKind::CudaCublaslt
        | EngineKind::CudaTensorCore
        | EngineKind::CudaTiled
        | EngineKind::CudaLayers => bail!("built without the `cuda` feature"),
    })
}

fn read_input(path: &PathBuf, model: &Model) -> Result<Activation> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse_input(&text, model)?)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run {
            model,
            input,
            engine: ek,
            commitment_out,
        } => {
            let (_, m) = load_model(&model)?;
            let a = read_input(&input, &m)?;
            let be = engine(ek)?;
            let tr = run(&m, &a, be.as_ref())?;
            let c = commitment_json(&tr.commitment);
            if let Some(p) = commitment_out {
                std::fs::write(&p, serde_json::to_string_pretty(&c)?)?;
            }
            let out = tr
                .output()
                .map(output_json)
                .unwrap_or(serde_json::Value::Null);
            println!(
                "{}",
                serde_json::to_string(&json!({ "output": out, "commitment": c }))?
            );
        }
        Cmd::Check {
            model,
            input,
            commitment,
            engine: ek,
        } => {
            let (_, m) = load_model(&model)?;
            let a = read_input(&input, &m)?;
            let claimed = parse_commitment(&std::fs::read_to_string(&commitment)?)?;
            let tr = run(&m, &a, engine(ek)?.as_ref())?;
            match tr.commitment.first_differing_layer(&claimed)? {
                None => println!(
                    "verified: all {} layers match (root {})",
                    m.layer_count(),
                    hex(&claimed.root())
                ),
                Some(l) => {
                    println!(
                        "MISMATCH: layer {l} is the first that differs (expected {}, committed {})",
                        hex(&tr.commitment.leaves[l + 1]),
                        hex(&claimed.leaves[l + 1])
                    );
                    std::process::exit(2);
                }
            }
        }
        Cmd::Settle {
            model,
            input,
            commitment,
            layer,
        } => {
            let (_, m) = load_model(&model)?;
            let a = read_input(&input, &m)?;
            let claimed = parse_commitment(&std::fs::read_to_string(&commitment)?)?;
            // The verifier recomputes the honest input of `layer` (in a dispute it is opened
            // by the provider); the output hash comes from the commitment.
            let be = CpuEngine::new(0)?;
            let tr = run(&m, &a, &be)?;
            let layer_input = if layer == 0 {
                a
            } else {
                tr.outputs
                    .get(layer - 1)
                    .cloned()
                    .context("layer out of range")?
            };
            let opening = LayerOpening::from_trace(&claimed, layer, layer_input)?;
            match settle_layer(&m, &claimed.root(), &opening, &be) {
                Ok(Verdict::Matches) => println!("layer {layer}: committed output is correct"),
                Ok(Verdict::Differs { recomputed }) => {
                    println!(
                        "layer {layer}: committed output is WRONG (correct hash {})",
                        hex(&recomputed)
                    );
                    std::process::exit(2);
                }
                Err(e) => bail!("cannot settle layer {layer}: {e}"),
            }
        }
        Cmd::Embed {
            model,
            engine: ek,
            text,
        } => {
            let (_, m) = load_model(&model)?;
            let Model::Encoder(e) = &m else {
                bail!("embed needs an encoder model")
            };
            let tok = Tokenizer::from_encoder(e)?;
            let seqs: Vec<Vec<u32>> = text
                .iter()
                .map(|t| tok.encode(t, e.cfg.max_seq_len))
                .collect::<Result<_, _>>()?;
            if seqs.is_empty() {
                bail!("no text given");
            }
            let tr = run(&m, &Activation::tokens(&seqs), engine(ek)?.as_ref())?;
            let out = tr
                .output()
                .map(output_json)
                .unwrap_or(serde_json::Value::Null);
            println!(
                "{}",
                serde_json::to_string(
                    &json!({ "output": out, "commitment": commitment_json(&tr.commitment) })
                )?
            );
        }
        Cmd::ImportMinilm {
            from,
            out,
            calib,
            eval,
            numerics,
        } => {
            let be = CpuEngine::new(0)?;
            let (m, rep) =
                gpu_verify::import::import_minilm_with(&from, calib, eval, numerics, &be)?;
            let f = save_model(&out, &m)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "out": out.display().to_string(),
                    "content_hash": hex(&f.content_hash()),
                    "numerics": f.numerics,
                    "calibration_sentences": rep.n_calib,
                    "held_out_sentences": rep.n_eval,
                    "mean_cosine_vs_float": rep.mean_cosine,
                    "min_cosine_vs_float": rep.min_cosine,
                }))?
            );
        }
        Cmd::RandomModel {
            seed,
            out,
            numerics,
            kind,
            dims,
        } => {
            let m = match kind {
                Kind::Encoder => random_encoder_with(seed, tiny_encoder_config(), numerics)?,
                Kind::Minilm => {
                    random_encoder_with(seed, gpu_verify::random::minilm_config(), numerics)?
                }
                Kind::Mlp if dims.is_empty() => random_mlp(seed, &[64, 128, 128, 16], 1024)?,
                Kind::Mlp => random_mlp(seed, &dims, 1024)?,
            };
            let f = save_model(&out, &m)?;
            println!("{}", hex(&f.content_hash()));
        }
        Cmd::Hash { model } => {
            let (f, _) = load_model(&model)?;
            println!("{}", hex(&f.content_hash()));
        }
        Cmd::Challenge {
            seed,
            shape,
            seq,
            width,
            depth,
            engine: ek,
        } => {
            let seed = parse_seed(&seed)?;
            let shape = challenge_shape(&shape, seq, width, depth)?;
            let be = engine(ek)?;
            let t0 = std::time::Instant::now();
            let ch = Challenge::generate(&seed, shape)?;
            // Only the root is printed: keep no checkpoint beyond x0.
            let r = ch.run(be.as_ref(), u32::MAX)?;
            let dt = t0.elapsed();
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "root": format!("0x{}", hex(&r.root())),
                    "shape": { "seq": shape.seq, "width": shape.width, "depth": shape.depth },
                    "macs_per_step": shape.macs_per_step(),
                    "total_macs": shape.total_macs(),
                    "elapsed_ms": dt.as_millis() as u64,
                    "elapsed": format!("{dt:.3?}"),
                }))?
            );
        }
    }
    Ok(())
}
