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
    div_round, dot_i8, gelu_table_q12, i_gelu_q12, isqrt, join_hi_lo, layer_norm_i16, row_shift,
    rshift_round, sat_i16, sat_i8, softmax_q15, split_hi_lo, NUMERICS_V1, PROB_BITS, SAT_LN_IN,
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

    /// Calls `f(i, chunk)` for every `chunk_len`-element chunk of `out` (the last may be
    /// shorter), `i` counting chunks from 0. Each call writes only its own chunk, so backends
    /// may run them in parallel; the result is the same in any order.
    fn for_each_chunk_i8(
        &self,
        out: &mut [i8],
        chunk_len: usize,
        f: &(dyn Fn(usize, &mut [i8]) + Sync),
    ) {
        chunks_in_order(out, chunk_len, f)
    }

    /// A runner that computes whole availability challenges on the device (weights and
    /// activation resident), if the backend has one; [`Challenge::run`] uses it.
    ///
    /// [`Challenge::run`]: crate::challenge::Challenge::run
    fn challenge_runner(&self) -> Option<&dyn crate::challenge::ChallengeRunner> {
        None
    }

    /// [`Gemm::for_each_chunk_i8`] for `i16` outputs.
    fn for_each_chunk_i16(
        &self,
        out: &mut [i16],
        chunk_len: usize,
        f: &(dyn Fn(usize, &mut [i16]) + Sync),
    ) {
        chunks_in_order(out, chunk_len, f)
    }

    /// [`Gemm::map_indexed`] for `i32` results.
    fn map_indexed_i32(&self, n: usize, f: &(dyn Fn(usize) -> Vec<i32> + Sync)) -> Vec<Vec<i32>> {
        (0..n).map(f).collect()
    }

    /// Runs one encoder step whole, if the backend does that itself (a GPU keeping the
    /// layer's intermediate values on the device); `None` runs it through this module's code.
    /// Called after the input has been checked. An answer must be byte-identical to this
    /// module's.
    fn run_encoder_step(
        &self,
        _encoder: &Encoder,
        _step: &EncoderStep<'_>,
        _input: &Activation,
    ) -> Option<Result<Activation, Error>> {
        None
    }

    /// [`Gemm::run_encoder_step`] for an MLP layer (`relu` unless it is the last).
    fn run_mlp_step(
        &self,
        _layer: &Linear,
        _relu: bool,
        _input: &Activation,
    ) -> Option<Result<Activation, Error>> {
        None
    }

    /// [`Gemm::for_each_chunk_i8`] for `i64` outputs.
    fn for_each_chunk_i64(
        &self,
        out: &mut [i64],
        chunk_len: usize,
        f: &(dyn Fn(usize, &mut [i64]) + Sync),
    ) {
        chunks_in_order(out, chunk_len, f)
    }
}

/// The serial reference for the `for_each_chunk_*` methods: chunks in index order.
fn chunks_in_order<T>(out: &mut [T], chunk_len: usize, f: &(dyn Fn(usize, &mut [T]) + Sync)) {
    for (i, c) in out.chunks_mut(chunk_len.max(1)).enumerate() {
        f(i, c);
    }
}

/// Rows per task of the element-wise passes (requantisation, GELU, layer norm): enough
/// work per task to pay for handing it to a thread.
const ROWS_PER_TASK: usize = 64;

/// `out[r][c] = f(c, src[r][c])` over rows of `cols`, in row blocks on the backend's threads.
fn map_rows_i8<T: Copy + Sync>(
    src: &[T],
    cols: usize,
    be: &dyn Gemm,
    f: impl Fn(usize, T) -> i8 + Sync,
) -> Vec<i8> {
    let mut out = vec![0i8; src.len()];
    let cols = cols.max(1);
    be.for_each_chunk_i8(&mut out, ROWS_PER_TASK * cols, &|i, o| {
        let src = &src[i * ROWS_PER_TASK * cols..][..o.len()];
        for (sr, or) in src.chunks_exact(cols).zip(o.chunks_exact_mut(cols)) {
            for (c, (&v, o)) in sr.iter().zip(or.iter_mut()).enumerate() {
                *o = f(c, v);
            }
        }
    });
    out
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

/// Checks a GEMM call's buffers and answers the empty cases (`m` or `n` zero: nothing to
/// write; `k` zero: all sums are 0) itself. `Ok(true)` means nothing is left to compute.
pub fn gemm_prelude(
    x: &[i8],
    m: usize,
    k: usize,
    w: &[i8],
    n: usize,
    out: &mut [i32],
) -> Result<bool, Error> {
    check_gemm_shape(x, m, k, w, n, out)?;
    if m == 0 || n == 0 {
        return Ok(true);
    }
    if k == 0 {
        out.fill(0);
        return Ok(true);
    }
    Ok(false)
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
pub enum EncoderStep<'a> {
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
        EncoderStep::Embed => embed_layer(e, input, be),
        EncoderStep::Attention(b) => {
            let h = expect_i16(input, e.cfg.hidden, e.cfg.max_seq_len)?;
            if let Some(out) = be.run_encoder_step(e, &step, input) {
                return out;
            }
            if e.numerics == NUMERICS_V1 {
                attention_layer(e, b, input, h, be)
            } else {
                attention_layer_v2(e, b, input, h, be)
            }
        }
        EncoderStep::Ffn(b) => {
            let h = expect_i16(input, e.cfg.hidden, e.cfg.max_seq_len)?;
            if let Some(out) = be.run_encoder_step(e, &step, input) {
                return out;
            }
            if e.numerics == NUMERICS_V1 {
                ffn_layer(b, input, h, be)
            } else {
                ffn_layer_v2(b, input, h, be)
            }
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

fn embed_layer(e: &Encoder, input: &Activation, be: &dyn Gemm) -> Result<Activation, Error> {
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
    if let Some(out) = be.run_encoder_step(e, &EncoderStep::Embed, input) {
        return out;
    }
    let h = e.cfg.hidden;
    // Position of every row within its sequence.
    let positions: Vec<usize> = input.lens.iter().flat_map(|&len| 0..len as usize).collect();
    let mut out = vec![0i16; ids.len() * h];
    let lim = |v: i64| v.clamp(-SAT_LN_IN, SAT_LN_IN);
    be.for_each_chunk_i16(&mut out, ROWS_PER_TASK * h, &|i, o| {
        let mut u = vec![0i64; h];
        for (r, orow) in o.chunks_exact_mut(h).enumerate() {
            let row = i * ROWS_PER_TASK + r;
            let (id, p) = (ids[row] as usize, positions[row]);
            let (wr, pr, tr) = (e.word.rq[id], e.pos.rq[p], e.typ.rq[0]);
            let (wq, pq, tq) = (
                &e.word.q[id * h..(id + 1) * h],
                &e.pos.q[p * h..(p + 1) * h],
                &e.typ.q[..h],
            );
            for c in 0..h {
                u[c] = lim(lim(wr.apply(wq[c] as i32))
                    + lim(pr.apply(pq[c] as i32))
                    + lim(tr.apply(tq[c] as i32)));
            }
            let ln = &e.emb_ln;
            layer_norm_i16(&u, &ln.g, &ln.b, ln.eps, ln.shift, orow);
        }
    });
    Ok(Activation {
        lens: input.lens.clone(),
        cols: h as u32,
        data: ActData::I16(out),
    })
}

/// `acc = x W^T`, without the bias: each consumer adds it (saturating) as it reads the
/// accumulator, in its own parallel pass ([`Linear::biased`]).
fn linear_acc(lin: &Linear, x: &[i8], rows: usize, be: &dyn Gemm) -> Result<Vec<i32>, Error> {
    let mut acc = vec![0i32; rows * lin.n];
    be.gemm(x, rows, lin.k, &lin.w, lin.n, &mut acc)?;
    Ok(acc)
}

impl Linear {
    /// Accumulator `a` of output channel `c` plus the bias (saturating).
    #[inline]
    fn biased(&self, c: usize, a: i32) -> i32 {
        a.saturating_add(self.b[c])
    }
}

/// i16 block input to int8 GEMM input, one requantisation factor per channel, saturated.
fn to_i8(h: &[i16], rq: &[crate::numerics::Requant], be: &dyn Gemm) -> Vec<i8> {
    map_rows_i8(h, rq.len(), be, |c, v| sat_i8(rq[c].apply(v as i32)))
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
    let x8 = to_i8(h16, &b.in_qkv, be);
    let acc = linear_acc(&b.qkv, &x8, rows, be)?;
    let qkv = map_rows_i8(&acc, 3 * hd, be, |c, a| {
        sat_i8(b.qkv.rq[c].apply(b.qkv.biased(c, a)))
    });
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
        attend_head(
            qkv_ref,
            r0,
            t,
            hd,
            d,
            head,
            |dot: i32| b.score.apply(dot),
            |c, acc: i32| sat_i8(b.ctx[head * d + c].apply(acc)),
        )
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
    residual_ln(&acc, &b.o, h16, b.res1, &b.ln1, input, be)
}

/// One head of one sequence: context `[t, d]`. v1 runs it on int8 queries, keys and values
/// with i32 sums (`|q . k| <= d 127^2`, `|sum_j p_j v_j| < 2^23`), v2 on int16 ones with
/// i64 sums (`|q . k| <= d 32767^2 < 2^43`, `|sum_j p_j v_j| < 2^31`); `score` maps a dot
/// product to a Q12 score, `context(c, acc)` the probability-weighted sum of channel `c`.
#[allow(clippy::too_many_arguments)]
fn attend_head<T, A, O>(
    qkv: &[T],
    r0: usize,
    t: usize,
    hd: usize,
    d: usize,
    head: usize,
    score: impl Fn(A) -> i64,
    context: impl Fn(usize, A) -> O,
) -> Vec<O>
where
    T: Copy + Into<A>,
    A: Copy + Default + From<i32> + core::ops::Add<Output = A> + core::ops::Mul<Output = A>,
    O: Copy + Default,
{
    let row = |i: usize, part: usize| {
        let o = (r0 + i) * 3 * hd + part * hd + head * d;
        &qkv[o..o + d]
    };
    // K and V transposed (kt[c][j], vt[c][j]) so the inner loops run over keys, contiguous
    // and vectorisable. Integer sums are exact in any order: same scores as a dot per pair.
    let mut kt = vec![A::default(); d * t];
    let mut vt = vec![A::default(); d * t];
    for j in 0..t {
        for (c, (&k, &v)) in row(j, 1).iter().zip(row(j, 2)).enumerate() {
            kt[c * t + j] = k.into();
            vt[c * t + j] = v.into();
        }
    }
    let mut dots = vec![A::default(); t];
    let mut scores = vec![0i64; t];
    let mut p = vec![0i32; t];
    let mut out = vec![O::default(); t * d];
    for i in 0..t {
        let q = row(i, 0);
        dots.fill(A::default());
        for (c, &qc) in q.iter().enumerate() {
            let qc: A = qc.into();
            for (s, &k) in dots.iter_mut().zip(&kt[c * t..(c + 1) * t]) {
                *s = *s + qc * k;
            }
        }
        for (s, &dot) in scores.iter_mut().zip(&dots) {
            *s = score(dot).clamp(-SAT_Q12, SAT_Q12);
        }
        softmax_q15(&scores, &mut p);
        for c in 0..d {
            let acc = p
                .iter()
                .zip(&vt[c * t..(c + 1) * t])
                .fold(A::default(), |acc, (&a, &v)| acc + A::from(a) * v);
            out[i * d + c] = context(c, acc);
        }
    }
    out
}

/// `LN(requant(acc + bias) + requant(residual))` over every row (v1 accumulators).
fn residual_ln(
    acc: &[i32],
    lin: &Linear,
    resid: &[i16],
    res_rq: crate::numerics::Requant,
    ln: &crate::model::LayerNorm,
    input: &Activation,
    be: &dyn Gemm,
) -> Result<Activation, Error> {
    let hd = lin.n;
    residual_ln_with(
        |r, c| lin.rq[c].apply(lin.biased(c, acc[r * hd + c])),
        hd,
        resid,
        res_rq,
        ln,
        input,
        be,
    )
}

/// `LN(projected(row, c) + requant(residual))` over every row; `projected` gives the
/// sublayer's output already at the layer-norm input scale.
fn residual_ln_with(
    projected: impl Fn(usize, usize) -> i64 + Sync,
    hd: usize,
    resid: &[i16],
    res_rq: crate::numerics::Requant,
    ln: &crate::model::LayerNorm,
    input: &Activation,
    be: &dyn Gemm,
) -> Result<Activation, Error> {
    let mut out = vec![0i16; resid.len()];
    let lim = |v: i64| v.clamp(-SAT_LN_IN, SAT_LN_IN);
    be.for_each_chunk_i16(&mut out, ROWS_PER_TASK * hd, &|i, o| {
        let first_row = i * ROWS_PER_TASK;
        let mut u = vec![0i64; hd];
        for (j, (r, o)) in resid[first_row * hd..]
            .chunks_exact(hd)
            .zip(o.chunks_exact_mut(hd))
            .enumerate()
        {
            let row = first_row + j;
            for c in 0..hd {
                u[c] = lim(lim(projected(row, c)) + lim(res_rq.apply(r[c] as i32)));
            }
            layer_norm_i16(&u, &ln.g, &ln.b, ln.eps, ln.shift, o);
        }
    });
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
    let x8 = to_i8(h16, &b.in_f1, be);
    let acc = linear_acc(&b.f1, &x8, rows, be)?;
    let g8 = map_rows_i8(&acc, b.f1.n, be, |c, a| {
        let z = b.f1.rq[c].apply(b.f1.biased(c, a)).clamp(-SAT_Q12, SAT_Q12);
        sat_i8(b.gelu[c].apply(i_gelu_q12(z) as i32))
    });
    let acc2 = linear_acc(&b.f2, &g8, rows, be)?;
    residual_ln(&acc2, &b.f2, h16, b.res2, &b.ln2, input, be)
}

/// Numerics v2: the accumulators of a linear layer over wide rows. Each input row `r` was
/// scaled by `2^-shift[r]` to at most [`crate::numerics::SPLIT_MAX`] and split into an int8
/// high and low half (rows `2r` and `2r + 1` of one GEMM), so the products are exact.
struct WideAcc {
    acc: Vec<i32>,
    shifts: Vec<u32>,
    n: usize,
}

impl WideAcc {
    /// The accumulator of row `r`, channel `c`, back at the input's base scale.
    #[inline]
    fn get(&self, r: usize, c: usize) -> i64 {
        let at = 2 * r * self.n + c;
        join_hi_lo(self.acc[at], self.acc[at + self.n], self.shifts[r])
    }

    /// Output channel `c` of row `r`: bias added at the base scale, then the factor
    /// (128-bit product, exact).
    #[inline]
    fn out(&self, lin: &Linear, r: usize, c: usize) -> i64 {
        lin.rq[c].apply_wide(self.get(r, c) + lin.b[c] as i64)
    }
}

/// v2: `x W^T` for wide input rows `y` (`[rows, lin.k]`, each `|y| < 2^37`): per-row shift,
/// split into int8 halves, one int8 GEMM of `2 rows` rows.
fn wide_linear(lin: &Linear, y: &[i64], rows: usize, be: &dyn Gemm) -> Result<WideAcc, Error> {
    let k = lin.k;
    let shifts: Vec<u32> = y
        .chunks_exact(k.max(1))
        .map(|r| row_shift(r.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0)))
        .collect();
    let mut x = vec![0i8; 2 * rows * k];
    // Chunks of whole row pairs (high then low half of one input row).
    be.for_each_chunk_i8(&mut x, ROWS_PER_TASK * 2 * k, &|i, o| {
        for (j, pair) in o.chunks_exact_mut(2 * k).enumerate() {
            let r = i * ROWS_PER_TASK + j;
            let (hi, lo) = pair.split_at_mut(k);
            let s = shifts[r];
            for ((h, l), &v) in hi.iter_mut().zip(lo.iter_mut()).zip(&y[r * k..(r + 1) * k]) {
                (*h, *l) = split_hi_lo(rshift_round(v, s));
            }
        }
    });
    let mut acc = vec![0i32; 2 * rows * lin.n];
    be.gemm(&x, 2 * rows, k, &lin.w, lin.n, &mut acc)?;
    Ok(WideAcc {
        acc,
        shifts,
        n: lin.n,
    })
}

/// v2: `out[r][c] = f(r, c)` over `[rows, cols]` in row blocks on the backend's threads.
fn map_rows_i64(
    rows: usize,
    cols: usize,
    be: &dyn Gemm,
    f: impl Fn(usize, usize) -> i64 + Sync,
) -> Vec<i64> {
    let mut out = vec![0i64; rows * cols];
    let cols = cols.max(1);
    be.for_each_chunk_i64(&mut out, ROWS_PER_TASK * cols, &|i, o| {
        for (j, row) in o.chunks_exact_mut(cols).enumerate() {
            let r = i * ROWS_PER_TASK + j;
            for (c, o) in row.iter_mut().enumerate() {
                *o = f(r, c);
            }
        }
    });
    out
}

/// v2 self-attention: int16 queries, keys and values; wide context rows into the output
/// projection.
fn attention_layer_v2(
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
    let y: Vec<i64> = h16.iter().map(|&v| v as i64).collect();
    let wa = wide_linear(&b.qkv, &y, rows, be)?;
    let mut qkv = vec![0i16; rows * 3 * hd];
    be.for_each_chunk_i16(&mut qkv, ROWS_PER_TASK * 3 * hd, &|i, o| {
        for (j, row) in o.chunks_exact_mut(3 * hd).enumerate() {
            let r = i * ROWS_PER_TASK + j;
            for (c, o) in row.iter_mut().enumerate() {
                *o = sat_i16(wa.out(&b.qkv, r, c));
            }
        }
    });
    let mut starts = Vec::with_capacity(input.lens.len());
    let mut s0 = 0usize;
    for &l in &input.lens {
        starts.push((s0, l as usize));
        s0 += l as usize;
    }
    let jobs = starts.len() * heads;
    let (qkv_ref, starts_ref) = (&qkv, &starts);
    let per_head = |job: usize| -> Vec<i32> {
        let (r0, t) = starts_ref[job / heads];
        // Context at the values' scale: round(sum_j p_j v_j / 2^15), |.| < 2^16.
        attend_head(
            qkv_ref,
            r0,
            t,
            hd,
            d,
            job % heads,
            |dot: i64| b.score.apply_wide(dot),
            |_, acc: i64| rshift_round(acc, PROB_BITS) as i32,
        )
    };
    let parts = be.map_indexed_i32(jobs, &per_head);
    let mut ctx = vec![0i64; rows * hd];
    for (job, part) in parts.iter().enumerate() {
        let (r0, t) = starts[job / heads];
        let head = job % heads;
        for i in 0..t {
            let dst = &mut ctx[(r0 + i) * hd + head * d..(r0 + i) * hd + head * d + d];
            for (o, &v) in dst.iter_mut().zip(&part[i * d..(i + 1) * d]) {
                *o = v as i64;
            }
        }
    }
    let wo = wide_linear(&b.o, &ctx, rows, be)?;
    residual_ln_with(
        |r, c| wo.out(&b.o, r, c),
        hd,
        h16,
        b.res1,
        &b.ln1,
        input,
        be,
    )
}

/// v2 feed-forward: wide rows into both GEMMs, table GELU in between.
fn ffn_layer_v2(
    b: &Block,
    input: &Activation,
    h16: &[i16],
    be: &dyn Gemm,
) -> Result<Activation, Error> {
    let rows = input.rows();
    let y: Vec<i64> = h16.iter().map(|&v| v as i64).collect();
    let w1 = wide_linear(&b.f1, &y, rows, be)?;
    let g = map_rows_i64(rows, b.f1.n, be, |r, c| {
        gelu_table_q12(w1.out(&b.f1, r, c).clamp(-SAT_Q12, SAT_Q12))
    });
    let w2 = wide_linear(&b.f2, &g, rows, be)?;
    residual_ln_with(
        |r, c| w2.out(&b.f2, r, c),
        b.f2.n,
        h16,
        b.res2,
        &b.ln2,
        input,
        be,
    )
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
    if let Some(out) = be.run_mlp_step(lin, relu, input) {
        return out;
    }
    let acc = linear_acc(lin, x, rows, be)?;
    let out = map_rows_i8(&acc, lin.n, be, |c, a| {
        let v = lin.rq[c].apply(lin.biased(c, a));
        sat_i8(if relu { v.max(0) } else { v })
    });
    Ok(Activation {
        lens: input.lens.clone(),
        cols: lin.n as u32,
        data: ActData::I8(out),
    })
}
