//! Importer for sentence-transformers all-MiniLM-L6-v2 (a BERT encoder with mean pooling),
//! with a float reference forward pass used for calibration and for measuring accuracy.
//!
//! Floats are used here only: the importer computes integer quantisation parameters once,
//! and the run-time path never sees a float.
use std::path::Path;

use rayon::prelude::*;
use safetensors::{Dtype, SafeTensors};

use crate::engine::{run, Activation, Gemm};
use crate::error::Error;
use crate::model::{Block, Embedding, Encoder, EncoderConfig, LayerNorm, Linear, Model};
use crate::numerics::{Requant, MAX_BIAS, NUMERICS_V1, NUMERICS_V2, NUMERICS_VERSION};
use crate::random::{requant_from_f64, Rng};
use crate::tokenizer::Tokenizer;

fn imp(m: impl std::fmt::Display) -> Error {
    Error::Import(m.to_string())
}

/// One float transformer block.
#[derive(Clone, Debug)]
pub struct FloatBlock {
    wq: Vec<f32>,
    bq: Vec<f32>,
    wk: Vec<f32>,
    bk: Vec<f32>,
    wv: Vec<f32>,
    bv: Vec<f32>,
    wo: Vec<f32>,
    bo: Vec<f32>,
    ln1g: Vec<f32>,
    ln1b: Vec<f32>,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
    ln2g: Vec<f32>,
    ln2b: Vec<f32>,
}

/// The float BERT encoder read from `model.safetensors` (the reference for accuracy).
#[derive(Clone, Debug)]
pub struct FloatBert {
    /// Shapes and special tokens.
    pub cfg: EncoderConfig,
    eps: f32,
    word: Vec<f32>,
    pos: Vec<f32>,
    typ: Vec<f32>,
    ln_g: Vec<f32>,
    ln_b: Vec<f32>,
    blocks: Vec<FloatBlock>,
    /// The model's tokenizer (its `tokenizer.json`, else BERT's over `vocab.txt`).
    pub tokenizer: Tokenizer,
    vocab_text: Vec<u8>,
    tokenizer_json: Option<Vec<u8>>,
}

/// Largest absolute value seen at each quantisation point during calibration.
#[derive(Clone, Debug, Default)]
pub struct Calib {
    u0: f32,
    h0: Vec<f32>,
    blocks: Vec<BlockCal>,
}

/// Per-block calibration ranges (per channel where the value feeds a GEMM).
#[derive(Clone, Debug, Default)]
struct BlockCal {
    q: f32,
    k: f32,
    v: f32,
    u1: f32,
    u2: f32,
    ctx: Vec<f32>,
    h1: Vec<f32>,
    g: Vec<f32>,
    h2: Vec<f32>,
}

fn amax_cols(acc: &mut Vec<f32>, x: &[f32], cols: usize) {
    if acc.len() != cols {
        *acc = vec![0.0; cols];
    }
    for r in x.chunks_exact(cols) {
        for (a, &v) in acc.iter_mut().zip(r) {
            *a = a.max(v.abs());
        }
    }
}

fn amax(v: &[f32]) -> f32 {
    v.iter().fold(0f32, |a, &x| a.max(x.abs()))
}

fn tensor(st: &SafeTensors, name: &str, shape: &[usize]) -> Result<Vec<f32>, Error> {
    let t = st.tensor(name).map_err(|e| imp(format!("{name}: {e}")))?;
    if t.shape() != shape {
        return Err(imp(format!(
            "{name}: shape {:?}, expected {shape:?}",
            t.shape()
        )));
    }
    let d = t.data();
    let v: Vec<f32> = match t.dtype() {
        Dtype::F32 => d
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => d
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => d
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        other => return Err(imp(format!("{name}: unsupported dtype {other:?}"))),
    };
    if v.iter().any(|x| !x.is_finite()) {
        return Err(imp(format!("{name}: non-finite weights")));
    }
    Ok(v)
}

fn cfg_usize(v: &serde_json::Value, key: &str) -> Result<usize, Error> {
    v.get(key)
        .and_then(serde_json::Value::as_u64)
        .map(|x| x as usize)
        .ok_or_else(|| imp(format!("config.json: missing `{key}`")))
}

/// `y[t][j] = sum_k x[t][k] w[j][k] + b[j]` (float reference).
fn matmul(x: &[f32], k: usize, w: &[f32], b: &[f32]) -> Vec<f32> {
    let n = b.len();
    let rows = x.len() / k;
    let mut y = vec![0f32; rows * n];
    y.par_chunks_mut(n).enumerate().for_each(|(t, yr)| {
        let xr = &x[t * k..(t + 1) * k];
        for (j, o) in yr.iter_mut().enumerate() {
            let wr = &w[j * k..(j + 1) * k];
            let mut acc = [0f32; 8];
            for (xc, wc) in xr.chunks_exact(8).zip(wr.chunks_exact(8)) {
                for i in 0..8 {
                    acc[i] += xc[i] * wc[i];
                }
            }
            let mut s: f32 = acc.iter().sum();
            for i in (k / 8) * 8..k {
                s += xr[i] * wr[i];
            }
            *o = s + b[j];
        }
    });
    y
}

fn layer_norm(x: &mut [f32], h: usize, g: &[f32], b: &[f32], eps: f32) {
    for r in x.chunks_exact_mut(h) {
        let mean = r.iter().map(|&v| v as f64).sum::<f64>() / h as f64;
        let var = r.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / h as f64;
        let inv = 1.0 / (var + eps as f64).sqrt();
        for (i, v) in r.iter_mut().enumerate() {
            *v = ((*v as f64 - mean) * inv) as f32 * g[i] + b[i];
        }
    }
}

/// erf with |error| < 1.5e-7 (Abramowitz and Stegun 7.1.26).
pub fn erf(x: f64) -> f64 {
    let s = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let p = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t
        + 0.254829592)
        * t;
    s * (1.0 - p * (-x * x).exp())
}

fn gelu(x: f32) -> f32 {
    let x = x as f64;
    (0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))) as f32
}

impl FloatBert {
    /// Loads `config.json`, `model.safetensors` and `vocab.txt` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let read = |f: &str| {
            std::fs::read(dir.join(f))
                .map_err(|e| Error::Io(format!("{}: {e}", dir.join(f).display())))
        };
        let config: serde_json::Value = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| imp(format!("config.json: {e}")))?;
        let max_seq_len = std::fs::read(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("max_seq_length").and_then(serde_json::Value::as_u64))
            .unwrap_or(256) as usize;
        let vocab_text = read("vocab.txt")?;
        let (h, v) = (
            cfg_usize(&config, "hidden_size")?,
            cfg_usize(&config, "vocab_size")?,
        );
        let tok0 = Tokenizer::from_vocab_text(&vocab_text, 0, 0, 0)?;
        let sid = |s: &str| {
            tok0.id(s)
                .ok_or_else(|| imp(format!("vocab.txt has no {s}")))
        };
        let cfg = EncoderConfig {
            vocab: v,
            hidden: h,
            layers: cfg_usize(&config, "num_hidden_layers")?,
            heads: cfg_usize(&config, "num_attention_heads")?,
            intermediate: cfg_usize(&config, "intermediate_size")?,
            max_positions: cfg_usize(&config, "max_position_embeddings")?,
            max_seq_len: max_seq_len.min(cfg_usize(&config, "max_position_embeddings")?),
            cls: sid("[CLS]")?,
            sep: sid("[SEP]")?,
            unk: sid("[UNK]")?,
        };
        let eps = config
            .get("layer_norm_eps")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(1e-12) as f32;
        let bytes = read("model.safetensors")?;
        let st =
            SafeTensors::deserialize(&bytes).map_err(|e| imp(format!("model.safetensors: {e}")))?;
        let names = st.names();
        let prefix = if names.iter().any(|n| n.starts_with("bert.")) {
            "bert."
        } else {
            ""
        };
        let t = |n: &str, s: &[usize]| tensor(&st, &format!("{prefix}{n}"), s);
        let i = cfg.intermediate;
        let mut blocks = Vec::new();
        for l in 0..cfg.layers {
            let p = format!("encoder.layer.{l}.");
            let a = |n: &str, s: &[usize]| t(&format!("{p}{n}"), s);
            blocks.push(FloatBlock {
                wq: a("attention.self.query.weight", &[h, h])?,
                bq: a("attention.self.query.bias", &[h])?,
                wk: a("attention.self.key.weight", &[h, h])?,
                bk: a("attention.self.key.bias", &[h])?,
                wv: a("attention.self.value.weight", &[h, h])?,
                bv: a("attention.self.value.bias", &[h])?,
                wo: a("attention.output.dense.weight", &[h, h])?,
                bo: a("attention.output.dense.bias", &[h])?,
                ln1g: a("attention.output.LayerNorm.weight", &[h])?,
                ln1b: a("attention.output.LayerNorm.bias", &[h])?,
                w1: a("intermediate.dense.weight", &[i, h])?,
                b1: a("intermediate.dense.bias", &[i])?,
                w2: a("output.dense.weight", &[h, i])?,
                b2: a("output.dense.bias", &[h])?,
                ln2g: a("output.LayerNorm.weight", &[h])?,
                ln2b: a("output.LayerNorm.bias", &[h])?,
            });
        }
        let typ_all = t(
            "embeddings.token_type_embeddings.weight",
            &[cfg_usize(&config, "type_vocab_size").unwrap_or(2), h],
        )?;
        // The published tokenizer when the folder has it (sentence-transformers ships
        // tokenizer.json): the model file then carries it.
        let tokenizer_json = match std::fs::read(dir.join("tokenizer.json")) {
            Ok(j) => Some(j),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::Io(format!("tokenizer.json: {e}"))),
        };
        let tokenizer = match &tokenizer_json {
            Some(j) => Tokenizer::from_json(j)?,
            None => Tokenizer::from_vocab_text(&vocab_text, cfg.cls, cfg.sep, cfg.unk)?,
        };
        Ok(FloatBert {
            eps,
            word: t("embeddings.word_embeddings.weight", &[v, h])?,
            pos: t(
                "embeddings.position_embeddings.weight",
                &[cfg.max_positions, h],
            )?,
            typ: typ_all[..h].to_vec(),
            ln_g: t("embeddings.LayerNorm.weight", &[h])?,
            ln_b: t("embeddings.LayerNorm.bias", &[h])?,
            blocks,
            tokenizer,
            vocab_text,
            tokenizer_json,
            cfg,
        })
    }

    /// Token ids for a sentence (truncated to the model's maximum length).
    pub fn tokenize(&self, s: &str) -> Result<Vec<u32>, Error> {
        self.tokenizer.encode(s, self.cfg.max_seq_len)
    }

    /// Float forward pass: mean-pooled, L2-normalised embedding. Records ranges into `cal`.
    pub fn embed(&self, ids: &[u32], mut cal: Option<&mut Calib>) -> Result<Vec<f32>, Error> {
        let (h, t) = (self.cfg.hidden, ids.len());
        let heads = self.cfg.heads;
        let d = h / heads;
        if t == 0 || t > self.cfg.max_positions {
            return Err(Error::InputTooLong {
                len: t,
                max: self.cfg.max_positions,
            });
        }
        let mut x = vec![0f32; t * h];
        for (p, &id) in ids.iter().enumerate() {
            let id = id as usize;
            if id >= self.cfg.vocab {
                return Err(Error::Input(format!("token id {id} out of range")));
            }
            for c in 0..h {
                x[p * h + c] = self.word[id * h + c] + self.pos[p * h + c] + self.typ[c];
            }
        }
        if let Some(c) = cal.as_deref_mut() {
            c.u0 = c.u0.max(amax(&x));
        }
        layer_norm(&mut x, h, &self.ln_g, &self.ln_b, self.eps);
        if let Some(c) = cal.as_deref_mut() {
            amax_cols(&mut c.h0, &x, h);
        }
        for (l, b) in self.blocks.iter().enumerate() {
            let q = matmul(&x, h, &b.wq, &b.bq);
            let k = matmul(&x, h, &b.wk, &b.bk);
            let v = matmul(&x, h, &b.wv, &b.bv);
            let mut ctx = vec![0f32; t * h];
            let scale = 1.0 / (d as f32).sqrt();
            for hh in 0..heads {
                for i in 0..t {
                    let mut s: Vec<f32> = (0..t)
                        .map(|j| {
                            (0..d)
                                .map(|c| q[i * h + hh * d + c] * k[j * h + hh * d + c])
                                .sum::<f32>()
                                * scale
                        })
                        .collect();
                    let m = s.iter().cloned().fold(f32::MIN, f32::max);
                    let mut z = 0f32;
                    for e in s.iter_mut() {
                        *e = (*e - m).exp();
                        z += *e;
                    }
                    for c in 0..d {
                        ctx[i * h + hh * d + c] =
                            (0..t).map(|j| s[j] / z * v[j * h + hh * d + c]).sum();
                    }
                }
            }
            let mut u1 = matmul(&ctx, h, &b.wo, &b.bo);
            for (a, r) in u1.iter_mut().zip(&x) {
                *a += r;
            }
            let u1_max = amax(&u1);
            layer_norm(&mut u1, h, &b.ln1g, &b.ln1b, self.eps);
            let h1 = u1;
            let mut g = matmul(&h1, h, &b.w1, &b.b1);
            for e in g.iter_mut() {
                *e = gelu(*e);
            }
            let mut u2 = matmul(&g, self.cfg.intermediate, &b.w2, &b.b2);
            for (a, r) in u2.iter_mut().zip(&h1) {
                *a += r;
            }
            let u2_max = amax(&u2);
            layer_norm(&mut u2, h, &b.ln2g, &b.ln2b, self.eps);
            if let Some(c) = cal.as_deref_mut() {
                if c.blocks.len() <= l {
                    c.blocks.push(BlockCal::default());
                }
                let bc = &mut c.blocks[l];
                bc.q = bc.q.max(amax(&q));
                bc.k = bc.k.max(amax(&k));
                bc.v = bc.v.max(amax(&v));
                bc.u1 = bc.u1.max(u1_max);
                bc.u2 = bc.u2.max(u2_max);
                amax_cols(&mut bc.ctx, &ctx, h);
                amax_cols(&mut bc.h1, &h1, h);
                amax_cols(&mut bc.g, &g, self.cfg.intermediate);
                amax_cols(&mut bc.h2, &u2, h);
            }
            x = u2;
        }
        let mut mean = vec![0f32; h];
        for r in x.chunks_exact(h) {
            for (m, &v) in mean.iter_mut().zip(r) {
                *m += v / t as f32;
            }
        }
        let n = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        Ok(mean.into_iter().map(|v| v / n).collect())
    }
}

fn per_row_quant(w: &[f32], k: usize) -> (Vec<i8>, Vec<f64>) {
    let mut q = Vec::with_capacity(w.len());
    let mut s = Vec::new();
    for r in w.chunks_exact(k) {
        let m = amax(r) as f64;
        let sc = if m > 0.0 { m / 127.0 } else { 1.0 };
        q.extend(
            r.iter()
                .map(|&x| (x as f64 / sc).round().clamp(-127.0, 127.0) as i8),
        );
        s.push(sc);
    }
    (q, s)
}

/// Quantises a linear layer: per-output-channel int8 weights; output factors `s_in s_w[j] / s_out[j]`.
fn quant_linear(
    w: &[f32],
    b: &[f32],
    k: usize,
    s_in: f64,
    s_out: &dyn Fn(usize) -> f64,
) -> Result<Linear, Error> {
    let (wq, sw) = per_row_quant(w, k);
    let n = b.len();
    let mut bq = Vec::with_capacity(n);
    let mut rq = Vec::with_capacity(n);
    for j in 0..n {
        let acc_scale = s_in * sw[j];
        let v = (b[j] as f64 / acc_scale).round();
        if v.abs() > MAX_BIAS as f64 {
            return Err(imp(format!(
                "bias {j} does not fit in 2^30 accumulator units"
            )));
        }
        bq.push(v as i32);
        rq.push(requant_from_f64(acc_scale / s_out(j))?);
    }
    Ok(Linear {
        n,
        k,
        w: wq,
        b: bq,
        rq,
    })
}

/// Integer layer norm with output scale `s_out` (value per i16 unit) and input scale `s_in`.
fn quant_ln(g: &[f32], b: &[f32], eps: f32, s_in: f64, s_out: f64) -> Result<LayerNorm, Error> {
    let gmax = g.iter().fold(0f64, |a, &x| a.max((x as f64 / s_out).abs()));
    let mut extra = 0u32;
    while extra < 40
        && gmax * (2f64).powi(extra as i32 + 1) < 2147483647.0
        && (12 + extra + 1) <= 60
    {
        extra += 1;
    }
    let shift = 12 + extra;
    let gq: Vec<i32> = g
        .iter()
        .map(|&x| (x as f64 / s_out * (2f64).powi(extra as i32)).round() as i32)
        .collect();
    let bq: Vec<i64> = b
        .iter()
        .map(|&x| {
            (x as f64 / s_out * (2f64).powi(shift as i32))
                .round()
                .clamp(-(2f64.powi(60)), 2f64.powi(60)) as i64
        })
        .collect();
    let eps_q = (eps as f64 / (s_in * s_in)).round().min(2f64.powi(62)) as i64;
    Ok(LayerNorm {
        g: gq,
        b: bq,
        eps: eps_q,
        shift,
    })
}

fn quant_embedding(w: &[f32], cols: usize, s_out: f64) -> Result<Embedding, Error> {
    let (q, s) = per_row_quant(w, cols);
    let rq = s
        .iter()
        .map(|&sc| requant_from_f64(sc / s_out))
        .collect::<Result<Vec<Requant>, _>>()?;
    Ok(Embedding {
        rows: s.len(),
        cols,
        q,
        rq,
    })
}

/// Migration strength of [`smooth`] (0.5, 0.8, 0.9, 1.0 measured 0.963, 0.997, 0.996, 0.994 mean cosine).
pub const SMOOTH_ALPHA: f64 = 0.8;

/// SmoothQuant-style migration: input channel `c` is divided by
/// `f_c = amax_x[c]^alpha / amax_w[c]^(1 - alpha)` and weight column `c` multiplied by it. Returns the
/// scaled weights, the factors and the per-tensor int8 scale of the scaled input.
fn smooth(w: &[f32], k: usize, a: &[f32]) -> (Vec<f32>, Vec<f64>, f64) {
    let mut wmax = vec![0f64; k];
    for r in w.chunks_exact(k) {
        for (m, &x) in wmax.iter_mut().zip(r) {
            *m = m.max((x as f64).abs());
        }
    }
    let f: Vec<f64> = a
        .iter()
        .zip(&wmax)
        .map(|(&x, &m)| {
            ((x as f64).max(1e-5).powf(SMOOTH_ALPHA) / m.max(1e-5).powf(1.0 - SMOOTH_ALPHA))
                .clamp(1e-3, 1e3)
        })
        .collect();
    let ws: Vec<f32> = w
        .chunks_exact(k)
        .flat_map(|r| r.iter().zip(&f).map(|(&x, &fc)| (x as f64 * fc) as f32))
        .collect();
    let s_x = a
        .iter()
        .zip(&f)
        .fold(0f64, |m, (&x, &fc)| m.max(x as f64 / fc))
        .max(1e-6)
        / 127.0;
    (ws, f, s_x)
}

/// Per-channel factors from an input scale `s_in` to the smoothed int8 input.
fn input_requants(s_in: f64, f: &[f64], s_x: f64) -> Result<Vec<Requant>, Error> {
    f.iter()
        .map(|&fc| requant_from_f64(s_in / (s_x * fc)))
        .collect()
}

/// i16 boundary scale for per-channel ranges `a`.
fn i16_scale(a: &[f32]) -> f64 {
    (amax(a) as f64).max(1e-6) / 32000.0
}

/// Layer-norm input scale (`2^20` units at the calibrated maximum; clamp at `2^23`).
const LN_IN_UNITS: f64 = (1u64 << 20) as f64;

/// Converts the float model into the integer format of numerics version `numerics` (1 or 2)
/// using calibration ranges.
///
/// v1: SmoothQuant-style smoothing of every GEMM input (folded into per-channel input
/// factors and the weights) and static int8 activations. v2: plain per-output-channel int8
/// weights (each GEMM input row gets its own scale at run time, so nothing is smoothed),
/// int16 queries, keys and values, and biases at each linear layer's input base scale.
pub fn quantize(fb: &FloatBert, cal: &Calib, numerics: u32) -> Result<Encoder, Error> {
    if numerics != NUMERICS_V1 && numerics != NUMERICS_V2 {
        return Err(Error::UnsupportedNumerics(numerics));
    }
    let v1 = numerics == NUMERICS_V1;
    let (h, heads) = (fb.cfg.hidden, fb.cfg.heads);
    let d = (h / heads) as f64;
    let pos = |x: f32| (x as f64).max(1e-6);
    let s_u0 = pos(cal.u0) / LN_IN_UNITS;
    let word = quant_embedding(&fb.word, h, s_u0)?;
    let posq = quant_embedding(&fb.pos, h, s_u0)?;
    let typ = quant_embedding(&fb.typ, h, s_u0)?;
    let mut h_in = cal.h0.clone();
    let mut s_h = i16_scale(&h_in);
    let emb_ln = quant_ln(&fb.ln_g, &fb.ln_b, fb.eps, s_u0, s_h)?;
    // q/k/v levels: int8 (v1) or int16 (v2).
    let qkv_levels = if v1 { 127.0 } else { 32767.0 };
    let mut blocks = Vec::new();
    for (l, b) in fb.blocks.iter().enumerate() {
        let c = cal
            .blocks
            .get(l)
            .ok_or_else(|| imp("calibration missed a block"))?;
        let (s_q, s_k, s_v) = (
            pos(c.q) / qkv_levels,
            pos(c.k) / qkv_levels,
            pos(c.v) / qkv_levels,
        );
        let s_u1 = pos(c.u1) / LN_IN_UNITS;
        let s_h1 = i16_scale(&c.h1);
        let s_u2 = pos(c.u2) / LN_IN_UNITS;
        let s_h2 = i16_scale(&c.h2);
        let w_qkv: Vec<f32> = [&b.wq[..], &b.wk[..], &b.wv[..]].concat();
        let b_qkv: Vec<f32> = [&b.bq[..], &b.bk[..], &b.bv[..]].concat();
        let qkv_out = |j: usize| {
            if j < h {
                s_q
            } else if j < 2 * h {
                s_k
            } else {
                s_v
            }
        };
        // (weights, input factors, GEMM input scale) of one linear layer whose input has
        // scale `s_in` and per-channel calibrated ranges `a`.
        let input = |w: &[f32], k: usize, s_in: f64, a: &[f32]| {
            if v1 {
                let (ws, f, s_x) = smooth(w, k, a);
                Ok::<_, Error>((ws, input_requants(s_in, &f, s_x)?, s_x))
            } else {
                Ok((w.to_vec(), Vec::new(), s_in))
            }
        };
        let (w_qkv, in_qkv, s_x) = input(&w_qkv, h, s_h, &h_in)?;
        let qkv = quant_linear(&w_qkv, &b_qkv, h, s_x, &qkv_out)?;
        // v1's context arrives as Q15 x int8 sums, v2's at the values' scale.
        let s_ctx = if v1 { s_v / 32768.0 } else { s_v };
        let (wo, ctx, s_c) = input(&b.wo, h, s_ctx, &c.ctx)?;
        let o = quant_linear(&wo, &b.bo, h, s_c, &|_| s_u1)?;
        let ln1 = quant_ln(&b.ln1g, &b.ln1b, fb.eps, s_u1, s_h1)?;
        let (w1, in_f1, s_x1) = input(&b.w1, h, s_h1, &c.h1)?;
        let f1 = quant_linear(&w1, &b.b1, h, s_x1, &|_| 1.0 / 4096.0)?;
        let (w2, gelu, s_g) = input(&b.w2, fb.cfg.intermediate, 1.0 / 4096.0, &c.g)?;
        let f2 = quant_linear(&w2, &b.b2, fb.cfg.intermediate, s_g, &|_| s_u2)?;
        let ln2 = quant_ln(&b.ln2g, &b.ln2b, fb.eps, s_u2, s_h2)?;
        blocks.push(Block {
            in_qkv,
            ctx,
            in_f1,
            gelu,
            qkv,
            o,
            f1,
            f2,
            ln1,
            ln2,
            score: requant_from_f64(s_q * s_k / d.sqrt() * 4096.0)?,
            res1: requant_from_f64(s_h / s_u1)?,
            res2: requant_from_f64(s_h1 / s_u2)?,
        });
        s_h = s_h2;
        h_in = c.h2.clone();
    }
    Ok(Encoder {
        numerics,
        cfg: fb.cfg,
        word,
        pos: posq,
        typ,
        emb_ln,
        blocks,
        vocab_text: Some(fb.vocab_text.clone()),
        tokenizer_json: fb.tokenizer_json.clone(),
    })
}

const SUBJECTS: &[&str] = &[
    "the old farmer",
    "a young doctor",
    "my sister",
    "the committee",
    "our neighbour",
    "the small dog",
    "a tired student",
    "the engineer",
    "the city council",
    "an elderly woman",
    "the pilot",
    "my best friend",
    "the new manager",
    "a famous singer",
    "the children",
    "the scientist",
    "a local baker",
    "the team captain",
    "the museum guide",
    "a curious cat",
];
const VERBS: &[&str] = &[
    "repaired",
    "painted",
    "discussed",
    "ignored",
    "bought",
    "sold",
    "photographed",
    "described",
    "carried",
    "cleaned",
    "found",
    "lost",
    "borrowed",
    "designed",
    "tested",
    "visited",
    "ordered",
    "studied",
    "measured",
    "cooked",
];
const OBJECTS: &[&str] = &[
    "a red bicycle",
    "the broken window",
    "an ancient map",
    "the quarterly budget",
    "a wooden boat",
    "the garden fence",
    "a spicy soup",
    "the train schedule",
    "a silver ring",
    "the heavy boxes",
    "a new laptop",
    "the river bridge",
    "an old violin",
    "the election results",
    "a chocolate cake",
    "the solar panels",
    "a rare coin",
    "the school library",
    "a mountain cabin",
    "the football match",
];
const TAILS: &[&str] = &[
    "before sunrise",
    "in the rain",
    "after a long meeting",
    "near the harbour",
    "without any help",
    "for the first time",
    "during the holidays",
    "with great care",
    "at the market",
    "late at night",
    "because it was cheap",
    "while everyone watched",
    "in less than an hour",
    "on a quiet Sunday",
    "despite the noise",
    "at the request of the mayor",
    "to everyone's surprise",
    "in the north of the country",
    "using only simple tools",
    "as the storm approached",
];
const QUESTIONS: &[&str] = &[
    "How do I reset my password?",
    "What is the capital of Australia?",
    "Why is the sky blue?",
    "Where can I buy fresh bread?",
    "When does the museum open?",
    "Which laptop is best for programming?",
    "How long does it take to learn Spanish?",
    "Is coffee bad for your health?",
];

/// `n` deterministic English sentences drawn from templates with `seed`.
pub fn sentences(seed: u64, n: usize) -> Vec<String> {
    let mut g = Rng::new(seed);
    let mut pick = |v: &[&str]| v[(g.next_u64() % v.len() as u64) as usize].to_string();
    (0..n)
        .map(|i| match i % 5 {
            4 => format!("{} {}", pick(QUESTIONS), pick(QUESTIONS)),
            3 => format!("{} {} {}.", pick(SUBJECTS), pick(VERBS), pick(OBJECTS)),
            _ => {
                let s = format!(
                    "{} {} {} {}.",
                    pick(SUBJECTS),
                    pick(VERBS),
                    pick(OBJECTS),
                    pick(TAILS)
                );
                let mut c = s.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or(s)
            }
        })
        .collect()
}

/// Hand-written held-out sentences (not produced by the templates).
pub const HELD_OUT_EXTRA: &[&str] = &[
    "A man is playing a guitar on the street corner.",
    "The stock market fell sharply after the announcement.",
    "Photosynthesis converts light energy into chemical energy.",
    "She forgot her umbrella, so she got soaked walking home.",
    "Validators re-execute sampled inference jobs to catch cheaters.",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "Quantum computers may one day break today's public-key cryptography.",
    "Our flight was delayed by three hours because of fog.",
    "He scored the winning goal in the last minute of extra time.",
    "Integer arithmetic gives the same bytes on every machine.",
];

/// The calibration corpus: articles of the Universal Declaration of Human Rights in 64
/// languages (one paragraph per line), written by `scripts/minilm-reference.py`. The
/// accuracy test's held-out texts never occur in it.
pub const CALIBRATION_CORPUS: &str = include_str!("calibration.txt");

/// `n` calibration texts: every k-th line of [`CALIBRATION_CORPUS`] (so all languages are
/// represented), then English template sentences (seed 1) for the rest when `n` exceeds it.
pub fn calibration_texts(n: usize) -> Vec<String> {
    let lines: Vec<&str> = CALIBRATION_CORPUS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    let take = n.min(lines.len());
    let mut out: Vec<String> = (0..take)
        .map(|i| lines[i * lines.len() / take.max(1)].to_owned())
        .collect();
    out.extend(sentences(1, n - take));
    out
}

/// Calibration texts (see [`calibration_texts`]) and a disjoint held-out set of English
/// sentences (seed 2 plus hand-written ones) for the importer's quick self-check.
pub fn calibration_and_held_out(n_calib: usize, n_eval: usize) -> (Vec<String>, Vec<String>) {
    let calib = calibration_texts(n_calib);
    let set: std::collections::BTreeSet<&String> = calib.iter().collect();
    let mut eval: Vec<String> = HELD_OUT_EXTRA.iter().map(|s| s.to_string()).collect();
    eval.extend(
        sentences(2, n_eval * 2)
            .into_iter()
            .filter(|s| !set.contains(s)),
    );
    eval.truncate(n_eval.max(HELD_OUT_EXTRA.len()));
    (calib, eval)
}

/// Summary of an import.
#[derive(Clone, Debug)]
pub struct ImportReport {
    /// Calibration sentences used.
    pub n_calib: usize,
    /// Held-out sentences evaluated.
    pub n_eval: usize,
    /// Mean cosine similarity between integer and float embeddings on the held-out set.
    pub mean_cosine: f64,
    /// Worst cosine similarity on the held-out set.
    pub min_cosine: f64,
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// Integer embedding of one token sequence, as floats (`q15 / 32768`).
pub fn int_embed(model: &Model, ids: &[u32], be: &dyn Gemm) -> Result<Vec<f64>, Error> {
    let tr = run(model, &Activation::tokens(&[ids.to_vec()]), be)?;
    match tr.output().map(|a| &a.data) {
        Some(crate::engine::ActData::I16(v)) => Ok(v.iter().map(|&x| x as f64 / 32768.0).collect()),
        _ => Err(Error::Input("model does not produce an embedding".into())),
    }
}

/// Mean and minimum cosine between integer and float embeddings over `sents`.
pub fn evaluate(
    fb: &FloatBert,
    model: &Model,
    sents: &[String],
    be: &dyn Gemm,
) -> Result<(f64, f64), Error> {
    let mut sum = 0.0;
    let mut min = f64::MAX;
    for s in sents {
        let ids = fb.tokenize(s)?;
        let f: Vec<f64> = fb
            .embed(&ids, None)?
            .into_iter()
            .map(|x| x as f64)
            .collect();
        let q = int_embed(model, &ids, be)?;
        let c = cosine(&f, &q);
        sum += c;
        min = min.min(c);
    }
    Ok((sum / sents.len().max(1) as f64, min))
}

/// Imports all-MiniLM-L6-v2 from `dir` under the current numerics ([`NUMERICS_VERSION`]):
/// calibrates on `n_calib` texts and measures the cosine similarity to the float model on
/// `n_eval` held-out sentences.
pub fn import_minilm(
    dir: &Path,
    n_calib: usize,
    n_eval: usize,
    be: &dyn Gemm,
) -> Result<(Model, ImportReport), Error> {
    import_minilm_with(dir, n_calib, n_eval, NUMERICS_VERSION, be)
}

/// [`import_minilm`] under numerics version `numerics` (1 or 2).
pub fn import_minilm_with(
    dir: &Path,
    n_calib: usize,
    n_eval: usize,
    numerics: u32,
    be: &dyn Gemm,
) -> Result<(Model, ImportReport), Error> {
    let fb = FloatBert::load(dir)?;
    let (calib, eval) = calibration_and_held_out(n_calib, n_eval);
    let mut cal = Calib::default();
    for s in &calib {
        fb.embed(&fb.tokenize(s)?, Some(&mut cal))?;
    }
    if std::env::var_os("GPU_VERIFY_DEBUG").is_some() {
        eprintln!("calibration ranges: {cal:?}");
    }
    let enc = quantize(&fb, &cal, numerics)?;
    let model = Model::Encoder(enc);
    // Round-trip through the file format so the check covers what is written.
    let model = Model::from_file(&model.to_file()?)?;
    let (mean, min) = evaluate(&fb, &model, &eval, be)?;
    Ok((
        model,
        ImportReport {
            n_calib: calib.len(),
            n_eval: eval.len(),
            mean_cosine: mean,
            min_cosine: min,
        },
    ))
}
