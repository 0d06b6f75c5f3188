//! Layer-by-layer execution of a model over a pluggable GEMM backend.
//!
//! Every engine (single-threaded reference, threaded CPU, CUDA) shares this code; only the
//! `i8 x i8 -> i32` matrix products and the attention fan-out go through [`Gemm`]. Integer
//! products are exact in any order, so every backend yields the same bytes.
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use parity_scale_codec::{Decode, Encode};

use crate::commit::{activation_hash, Commitment};
use crate::error::Error;
use crate::model::{Block, Encoder, Linear, Mlp, Model};
use crate::numerics::{
    div_round, dot_i8, i_gelu_q12, isqrt, layer_norm_i16, sat_i16, sat_i8, softmax_q15, SAT_LN_IN,
    SAT_Q12,
};

/// Largest number of sequences (encoder) or rows (MLP) in one job.
pub const MAX_BATCH: usize = 4096;

/// The payload of an activation.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum ActData {
    /// Token ids (encoder input; `cols == 1`).
    #[codec(index = 1)]
    Tokens(Vec<u32>),
    /// int8 values, row-major.
    #[codec(index = 2)]
    I8(Vec<i8>),
    /// int16 values, row-major.
    #[codec(index = 3)]
    I16(Vec<i16>),
}

/// A batch of rows: `lens[s]` rows belong to sequence `s`; each row has `cols` values.
/// SCALE-encodable so a dispute can carry a layer's input; decoded values are untrusted
/// until [`Activation::check_shape`] passes.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Activation {
    /// Rows per sequence.
    pub lens: Vec<u32>,
    /// Values per row.
    pub cols: u32,
    /// The values.
    pub data: ActData,
}

impl Activation {
    /// Encoder input from token-id sequences.
    pub fn tokens(seqs: &[Vec<u32>]) -> Self {
        Activation {
            lens: seqs.iter().map(|s| s.len() as u32).collect(),
            cols: 1,
            data: ActData::Tokens(seqs.concat()),
        }
    }

    /// MLP input from int8 rows (one sequence holding all rows).
    pub fn rows_i8(rows: &[Vec<i8>]) -> Self {
        Activation {
            lens: vec![rows.len() as u32],
            cols: rows.first().map(|r| r.len() as u32).unwrap_or(0),
            data: ActData::I8(rows.concat()),
        }
    }

    /// Total rows.
    pub fn rows(&self) -> usize {
        self.lens.iter().map(|&l| l as usize).sum()
    }

    fn data_len(&self) -> usize {
        match &self.data {
            ActData::Tokens(v) => v.len(),
            ActData::I8(v) => v.len(),
            ActData::I16(v) => v.len(),
        }
    }

    /// Checks that the data length matches `lens` and `cols`.
    pub fn check_shape(&self) -> Result<(), Error> {
        if self.lens.is_empty() || self.lens.len() > MAX_BATCH || self.lens.contains(&0) {
            return Err(Error::Input(format!(
                "need 1..={MAX_BATCH} non-empty sequences, got {} (lens {:?})",
                self.lens.len(),
                &self.lens[..self.lens.len().min(8)]
            )));
        }
        let want = (self.rows() as u64) * self.cols as u64;
        if self.data_len() as u64 != want {
            return Err(Error::Input(format!(
                "activation holds {} values, shape needs {want}",
                self.data_len()
            )));
        }
        Ok(())
    }
}

/// The backend interface: int8 matrix products and a parallel map.
pub trait Gemm: Sync {
    /// `out[i][j] = sum_t x[i][t] * w[j][t]` for `x: [m, k]`, `w: [n, k]`, `out: [m, n]`.
    /// Callers guarantee `k <= MAX_DOT_LEN`, so nothing overflows.
    fn gemm(
        &self,
        x: &[i8],
        m: usize,
        k: usize,
        w: &[i8],
        n: usize,
        out: &mut [i32],
    ) -> Result<(), Error>;

    /// Runs `f(0..n)` and collects the results in index order (backends may parallelise).
    fn map_indexed(&self, n: usize, f: &(dyn Fn(usize) -> Vec<i8> + Sync)) -> Vec<Vec<i8>> {
        (0..n).map(f).collect()
    }
}

/// The single-threaded reference backend (also what `no_std` builds use).
#[derive(Clone, Copy, Debug, Default)]
pub struct RefGemm;

impl Gemm for RefGemm {
    fn gemm(
        &self,
        x: &[i8],
        m: usize,
        k: usize,
        w: &[i8],
        n: usize,
        out: &mut [i32],
    ) -> Result<(), Error> {
        check_gemm_shape(x, m, k, w, n, out)?;
        for i in 0..m {
            let xr = &x[i * k..(i + 1) * k];
            for j in 0..n {
                out[i * n + j] = dot_i8(xr, &w[j * k..(j + 1) * k]);
            }
        }
        Ok(())
    }
}

/// Checks buffer sizes for a GEMM call.
pub fn check_gemm_shape(
    x: &[i8],
    m: usize,
    k: usize,
    w: &[i8],
    n: usize,
    out: &[i32],
) -> Result<(), Error> {
    if k > crate::numerics::MAX_DOT_LEN {
        return Err(Error::Input(format!(
            "GEMM inner dimension {k} exceeds {} (i32 sums could overflow)",
            crate::numerics::MAX_DOT_LEN
        )));
    }
    if x.len() != m * k || w.len() != n * k || out.len() != m * n {
        return Err(Error::Input(format!(
            "GEMM buffers do not match shape m={m} k={k} n={n}"
        )));
    }
    Ok(())
}

/// All layer outputs of a job and their commitment.
#[derive(Clone, Debug)]
pub struct Trace {
    /// Output of each layer, in order.
    pub outputs: Vec<Activation>,
    /// Input hash followed by one hash per layer output.
    pub commitment: Commitment,
}

impl Trace {
    /// The final output.
    pub fn output(&self) -> Option<&Activation> {
        self.outputs.last()
    }
}

/// Runs the whole model, hashing every layer output.
pub fn run(model: &Model, input: &Activation, be: &dyn Gemm) -> Result<Trace, Error> {
    let mut leaves = vec![activation_hash(input)];
    let mut outputs: Vec<Activation> = Vec::with_capacity(model.layer_count());
    for l in 0..model.layer_count() {
        let out = run_layer(model, l, outputs.last().unwrap_or(input), be)?;
        leaves.push(activation_hash(&out));
        outputs.push(out);
    }
    Ok(Trace {
        outputs,
        commitment: Commitment { leaves },
    })
}

/// Runs exactly one layer (`0..model.layer_count()`) on its input.
pub fn run_layer(
    model: &Model,
    layer: usize,
    input: &Activation,
    be: &dyn Gemm,
) -> Result<Activation, Error> {
    input.check_shape()?;
    if layer >= model.layer_count() {
        return Err(Error::Input(format!(
            "layer {layer} out of range (model has {})",
            model.layer_count()
        )));
    }
    match model {
        Model::Encoder(e) => {
            let nb = e.blocks.len();
            let step = if layer == 0 {
                EncoderStep::Embed
            } else if layer <= 2 * nb {
                let b = &e.blocks[(layer - 1) / 2];
                if layer % 2 == 1 {
                    EncoderStep::Attention(b)
                } else {
                    EncoderStep::Ffn(b)
                }
            } else {
                EncoderStep::Pool
            };
            encoder_step(e, step, input, be)
        }
        Model::Mlp(m) => mlp_layer(m, layer, input, be),
    }
}

/// One committed layer of an encoder, with the block it runs (if any).
pub(crate) enum EncoderStep<'a> {
    /// Layer 0: embeddings and their layer norm.
    Embed,
    /// Self-attention half of a block.
    Attention(&'a crate::model::Block),
    /// Feed-forward half of a block.
    Ffn(&'a crate::model::Block),
    /// Mean pooling and normalisation.
    Pool,
}

/// Runs one encoder step. Only the parts of `e` the step reads need to be real: the
/// embedding tables for [`EncoderStep::Embed`], the configuration otherwise.
pub(crate) fn encoder_step(
    e: &Encoder,
    step: EncoderStep<'_>,
    input: &Activation,
    be: &dyn Gemm,
) -> Result<Activation, Error> {
    input.check_shape()?;
    match step {
        EncoderStep::Embed => embed_layer(e, input),
        EncoderStep::Attention(b) => {
            let h = expect_i16(input, e.cfg.hidden, e.cfg.max_seq_len)?;
            attention_layer(e, b, input, h, be)
        }
        EncoderStep::Ffn(b) => {
            let h = expect_i16(input, e.cfg.hidden, e.cfg.max_seq_len)?;
            ffn_layer(b, input, h, be)
        }
        EncoderStep::Pool => {
            let h = expect_i16(input, e.cfg.hidden, e.cfg.max_seq_len)?;
            Ok(pool_layer(input, h, e.cfg.hidden))
        }
    }
}

fn expect_i16(a: &Activation, cols: usize, max_len: usize) -> Result<&[i16], Error> {
    if let Some(&l) = a.lens.iter().find(|&&l| l as usize > max_len) {
        return Err(Error::InputTooLong {
            len: l as usize,
            max: max_len,
        });
    }
    match &a.data {
        ActData::I16(v) if a.cols as usize == cols => Ok(v),
        _ => Err(Error::Input(format!(
            "layer expects i16 rows of width {cols}"
        ))),
    }
}

fn embed_layer(e: &Encoder, input: &Activation) -> Result<Activation, Error> {
    let ids = match &input.data {
        ActData::Tokens(v) if input.cols == 1 => v,
        _ => {
            return Err(Error::Input(
                "the encoder's first layer expects token ids".into(),
            ))
        }
    };
    if let Some(&l) = input.lens.iter().find(|&&l| l as usize > e.cfg.max_seq_len) {
        return Err(Error::InputTooLong {
            len: l as usize,
            max: e.cfg.max_seq_len,
        });
    }
    if let Some(&bad) = ids.iter().find(|&&t| t as usize >= e.cfg.vocab) {
        return Err(Error::Input(format!(
            "token id {bad} >= vocabulary size {}",
            e.cfg.vocab
        )));
    }
    let h = e.cfg.hidden;
    let mut out = vec![0i16; ids.len() * h];
    let mut u = vec![0i64; h];
    let mut row = 0;
    for &len in &input.lens {
        for p in 0..len as usize {
            let id = ids[row] as usize;
            let (wr, pr, tr) = (e.word.rq[id], e.pos.rq[p], e.typ.rq[0]);
            let (wq, pq, tq) = (
                &e.word.q[id * h..(id + 1) * h],
                &e.pos.q[p * h..(p + 1) * h],
                &e.typ.q[..h],
            );
            for c in 0..h {
                let lim = |v: i64| v.clamp(-SAT_LN_IN, SAT_LN_IN);
                u[c] = lim(lim(wr.apply(wq[c] as i32))
                    + lim(pr.apply(pq[c] as i32))
                    + lim(tr.apply(tq[c] as i32)));
            }
            let ln = &e.emb_ln;
            layer_norm_i16(
                &u,
                &ln.g,
                &ln.b,
                ln.eps,
                ln.shift,
                &mut out[row * h..(row + 1) * h],
            );
            row += 1;
        }
    }
    Ok(Activation {
        lens: input.lens.clone(),
        cols: h as u32,
        data: ActData::I16(out),
    })
}

/// `acc = x W^T + b` (saturating bias add).
fn linear_acc(lin: &Linear, x: &[i8], rows: usize, be: &dyn Gemm) -> Result<Vec<i32>, Error> {
    let mut acc = vec![0i32; rows * lin.n];
    be.gemm(x, rows, lin.k, &lin.w, lin.n, &mut acc)?;
    for r in acc.chunks_exact_mut(lin.n) {
        for (a, &b) in r.iter_mut().zip(&lin.b) {
            *a = a.saturating_add(b);
        }
    }
    Ok(acc)
}

/// i16 block input to int8 GEMM input, one requantisation factor per channel, saturated.
fn to_i8(h: &[i16], rq: &[crate::numerics::Requant]) -> Vec<i8> {
    let cols = rq.len().max(1);
    h.chunks_exact(cols)
        .flat_map(|r| r.iter().zip(rq).map(|(&v, &q)| sat_i8(q.apply(v as i32))))
        .collect()
}

fn attention_layer(
    e: &Encoder,
    b: &Block,
    input: &Activation,
    h16: &[i16],
    be: &dyn Gemm,
) -> Result<Activation, Error> {
    let hd = e.cfg.hidden;
    let heads = e.cfg.heads;
    let d = hd / heads;
    let rows = input.rows();
    let x8 = to_i8(h16, &b.in_qkv);
    let acc = linear_acc(&b.qkv, &x8, rows, be)?;
    let qkv: Vec<i8> = acc
        .chunks_exact(3 * hd)
        .flat_map(|r| r.iter().zip(&b.qkv.rq).map(|(&a, &q)| sat_i8(q.apply(a))))
        .collect();
    let mut starts = Vec::with_capacity(input.lens.len());
    let mut s0 = 0usize;
    for &l in &input.lens {
        starts.push((s0, l as usize));
        s0 += l as usize;
    }
    let jobs = starts.len() * heads;
    let qkv_ref = &qkv;
    let starts_ref = &starts;
    let per_head = |job: usize| -> Vec<i8> {
        let (r0, t) = starts_ref[job / heads];
        let head = job % heads;
        attend_head(qkv_ref, r0, t, hd, d, head, b)
    };
    let parts = be.map_indexed(jobs, &per_head);
    let mut ctx = vec![0i8; rows * hd];
    for (job, part) in parts.iter().enumerate() {
        let (r0, t) = starts[job / heads];
        let head = job % heads;
        for i in 0..t {
            ctx[(r0 + i) * hd + head * d..(r0 + i) * hd + head * d + d]
                .copy_from_slice(&part[i * d..(i + 1) * d]);
        }
    }
    let acc = linear_acc(&b.o, &ctx, rows, be)?;
    residual_ln(&acc, &b.o, h16, b.res1, &b.ln1, input)
}

/// One head of one sequence: int8 context `[t, d]`.
fn attend_head(
    qkv: &[i8],
    r0: usize,
    t: usize,
    hd: usize,
    d: usize,
    head: usize,
    b: &Block,
) -> Vec<i8> {
    let row = |i: usize, part: usize| {
        let o = (r0 + i) * 3 * hd + part * hd + head * d;
        &qkv[o..o + d]
    };
    // V transposed: vt[c][j].
    let mut vt = vec![0i32; d * t];
    for j in 0..t {
        for (c, &v) in row(j, 2).iter().enumerate() {
            vt[c * t + j] = v as i32;
        }
    }
    let mut scores = vec![0i64; t];
    let mut p = vec![0i32; t];
    let mut out = vec![0i8; t * d];
    for i in 0..t {
        let q = row(i, 0);
        for (j, s) in scores.iter_mut().enumerate() {
            *s = b.score.apply(dot_i8(q, row(j, 1))).clamp(-SAT_Q12, SAT_Q12);
        }
        softmax_q15(&scores, &mut p);
        for c in 0..d {
            // sum p <= 2^15 + t/2 and |v| <= 127: |acc| < 2^23.
            let acc: i32 = p
                .iter()
                .zip(&vt[c * t..(c + 1) * t])
                .map(|(&a, &v)| a * v)
                .sum();
            out[i * d + c] = sat_i8(b.ctx[head * d + c].apply(acc));
        }
    }
    out
}

/// `LN(requant(acc) + requant(residual))` over every row.
fn residual_ln(
    acc: &[i32],
    lin: &Linear,
    resid: &[i16],
    res_rq: crate::numerics::Requant,
    ln: &crate::model::LayerNorm,
    input: &Activation,
) -> Result<Activation, Error> {
    let hd = lin.n;
    let mut out = vec![0i16; acc.len()];
    let mut u = vec![0i64; hd];
    let lim = |v: i64| v.clamp(-SAT_LN_IN, SAT_LN_IN);
    for ((a, r), o) in acc
        .chunks_exact(hd)
        .zip(resid.chunks_exact(hd))
        .zip(out.chunks_exact_mut(hd))
    {
        for c in 0..hd {
            u[c] = lim(lim(lin.rq[c].apply(a[c])) + lim(res_rq.apply(r[c] as i32)));
        }
        layer_norm_i16(&u, &ln.g, &ln.b, ln.eps, ln.shift, o);
    }
    Ok(Activation {
        lens: input.lens.clone(),
        cols: hd as u32,
        data: ActData::I16(out),
    })
}

fn ffn_layer(
    b: &Block,
    input: &Activation,
    h16: &[i16],
    be: &dyn Gemm,
) -> Result<Activation, Error> {
    let rows = input.rows();
    let x8 = to_i8(h16, &b.in_f1);
    let acc = linear_acc(&b.f1, &x8, rows, be)?;
    let n1 = b.f1.n;
    let g8: Vec<i8> = acc
        .chunks_exact(n1)
        .flat_map(|r| {
            r.iter().zip(&b.f1.rq).zip(&b.gelu).map(|((&a, &q), &gq)| {
                let z = q.apply(a).clamp(-SAT_Q12, SAT_Q12);
                sat_i8(gq.apply(i_gelu_q12(z) as i32))
            })
        })
        .collect();
    let acc2 = linear_acc(&b.f2, &g8, rows, be)?;
    residual_ln(&acc2, &b.f2, h16, b.res2, &b.ln2, input)
}

/// Mean pooling over each sequence then L2 normalisation to Q15 (`32767` ~ 1.0).
fn pool_layer(input: &Activation, h16: &[i16], hd: usize) -> Activation {
    let mut out = vec![0i16; input.lens.len() * hd];
    let mut r0 = 0usize;
    for (s, &len) in input.lens.iter().enumerate() {
        let t = len as usize;
        let mut mean = vec![0i64; hd];
        for i in 0..t {
            for (m, &v) in mean.iter_mut().zip(&h16[(r0 + i) * hd..(r0 + i + 1) * hd]) {
                *m += v as i64;
            }
        }
        for m in mean.iter_mut() {
            *m = div_round(*m, t as i64);
        }
        // |mean| <= 2^15, H <= 2^13: sum of squares < 2^43.
        let norm = isqrt(mean.iter().map(|&m| (m * m) as u64).sum()) as i64;
        for (o, &m) in out[s * hd..(s + 1) * hd].iter_mut().zip(&mean) {
            *o = if norm == 0 {
                0
            } else {
                sat_i16(div_round(m << 15, norm))
            };
        }
        r0 += t;
    }
    Activation {
        lens: vec![1; input.lens.len()],
        cols: hd as u32,
        data: ActData::I16(out),
    }
}

fn mlp_layer(
    m: &Mlp,
    layer: usize,
    input: &Activation,
    be: &dyn Gemm,
) -> Result<Activation, Error> {
    let relu = layer + 1 < m.layers.len();
    mlp_step(&m.layers[layer], relu, m.max_rows, layer, input, be)
}

/// Runs MLP layer `layer` (weights `lin`, ReLU unless it is the last) on its input.
pub(crate) fn mlp_step(
    lin: &crate::model::Linear,
    relu: bool,
    max_rows: usize,
    layer: usize,
    input: &Activation,
    be: &dyn Gemm,
) -> Result<Activation, Error> {
    input.check_shape()?;
    let x = match &input.data {
        ActData::I8(v) if input.cols as usize == lin.k => v,
        _ => {
            return Err(Error::Input(format!(
                "MLP layer {layer} expects i8 rows of width {}",
                lin.k
            )))
        }
    };
    let rows = input.rows();
    if rows > max_rows {
        return Err(Error::InputTooLong {
            len: rows,
            max: max_rows,
        });
    }
    let acc = linear_acc(lin, x, rows, be)?;
    let out: Vec<i8> = acc
        .chunks_exact(lin.n)
        .flat_map(|r| {
            r.iter().zip(&lin.rq).map(move |(&a, &q)| {
                let v = q.apply(a);
                sat_i8(if relu { v.max(0) } else { v })
            })
        })
        .collect();
    Ok(Activation {
        lens: input.lens.clone(),
        cols: lin.n as u32,
        data: ActData::I8(out),
    })
}
