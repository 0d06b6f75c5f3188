//! Typed models built from a [`ModelFile`], with every shape and quantisation parameter
//! checked against the architecture and the numerics bounds.
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use crate::error::Error;
use crate::format::{DType, ModelFile, Tensor, N_PARAMS};
use crate::numerics::{Requant, MAX_BIAS, MAX_DOT_LEN, MAX_SHIFT, NUMERICS_V1};

/// Header `kind` of a BERT-style encoder.
pub const KIND_ENCODER: u32 = 1;
/// Header `kind` of a plain MLP.
pub const KIND_MLP: u32 = 2;
/// Largest hidden width of an encoder (layer-norm overflow bound).
pub const MAX_HIDDEN: usize = 8192;
/// Largest sequence length an encoder may allow (softmax bound).
pub const MAX_SEQ: usize = 4096;
/// Largest |LN bias|.
pub const MAX_LN_BIAS: i64 = 1 << 60;
/// Number of i64 scalars per encoder block (`l{i}.rq`).
pub const BLOCK_SCALARS: usize = 10;

/// A quantised linear layer `y = x W^T + b`, with per-output-channel requantisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Linear {
    /// Output features.
    pub n: usize,
    /// Input features.
    pub k: usize,
    /// Weights, `[n, k]` row-major (int8, symmetric per output channel).
    pub w: Vec<i8>,
    /// Bias in accumulator units, `|b| <= 2^30`.
    pub b: Vec<i32>,
    /// One requantisation factor per output channel.
    pub rq: Vec<Requant>,
}

/// Integer layer-norm parameters (see [`crate::numerics::layer_norm_i16`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerNorm {
    /// Gains.
    pub g: Vec<i32>,
    /// Biases, `|b| <= 2^60`.
    pub b: Vec<i64>,
    /// Epsilon in squared input units.
    pub eps: i64,
    /// Output shift.
    pub shift: u32,
}

/// An int8 embedding table with one requantisation factor per row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Embedding {
    /// Rows.
    pub rows: usize,
    /// Row width (hidden size).
    pub cols: usize,
    /// Values, `[rows, cols]`.
    pub q: Vec<i8>,
    /// Per-row factor into the layer-norm input scale.
    pub rq: Vec<Requant>,
}

/// One transformer block (post-LN BERT).
///
/// Numerics v2 feeds its GEMMs wide per-row activations and has no per-channel input
/// factors: `in_qkv`, `ctx`, `in_f1` and `gelu` are empty there, and the linear layers'
/// biases are in units of their input's base scale (see `README.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Fused query/key/value projection, `[3H, H]`, outputs int8 (v1) or int16 (v2).
    pub qkv: Linear,
    /// Attention output projection, `[H, H]`, outputs the LN1 input scale.
    pub o: Linear,
    /// First feed-forward layer, `[I, H]`, outputs Q12.
    pub f1: Linear,
    /// Second feed-forward layer, `[H, I]`, outputs the LN2 input scale.
    pub f2: Linear,
    /// Layer norm after attention.
    pub ln1: LayerNorm,
    /// Layer norm after the feed-forward.
    pub ln2: LayerNorm,
    /// Block input (i16) to the QKV GEMM input (int8), per input channel (smoothing folded in).
    pub in_qkv: Vec<Requant>,
    /// Q15-probability x int8 V accumulator to int8 context, per channel.
    pub ctx: Vec<Requant>,
    /// LN1 output (i16) to the first feed-forward GEMM input (int8), per channel.
    pub in_f1: Vec<Requant>,
    /// Q12 GELU output to int8, per channel.
    pub gelu: Vec<Requant>,
    /// `q.k` accumulator to Q12 score (includes `1/sqrt(d)`).
    pub score: Requant,
    /// Block input (i16) to LN1 input scale.
    pub res1: Requant,
    /// LN1 output (i16) to LN2 input scale.
    pub res2: Requant,
}

/// Encoder hyper-parameters (header params of kind 1, in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Vocabulary size.
    pub vocab: usize,
    /// Hidden width `H`.
    pub hidden: usize,
    /// Number of blocks.
    pub layers: usize,
    /// Attention heads (divides `H`).
    pub heads: usize,
    /// Feed-forward width `I`.
    pub intermediate: usize,
    /// Rows of the position table.
    pub max_positions: usize,
    /// Longest accepted sequence (`<= max_positions`, `<= 4096`).
    pub max_seq_len: usize,
    /// `[CLS]` id.
    pub cls: u32,
    /// `[SEP]` id.
    pub sep: u32,
    /// `[UNK]` id.
    pub unk: u32,
}

/// A BERT-style encoder with mean pooling and L2 normalisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoder {
    /// Numerics version (1 or 2) its layers run with.
    pub numerics: u32,
    /// Hyper-parameters.
    pub cfg: EncoderConfig,
    /// Word embeddings `[vocab, H]`.
    pub word: Embedding,
    /// Position embeddings `[max_positions, H]`.
    pub pos: Embedding,
    /// Token-type embedding (type 0 only) `[1, H]`.
    pub typ: Embedding,
    /// Embedding layer norm.
    pub emb_ln: LayerNorm,
    /// Transformer blocks.
    pub blocks: Vec<Block>,
    /// WordPiece vocabulary (`vocab.txt` bytes), if the model ships a tokenizer.
    pub vocab_text: Option<Vec<u8>>,
    /// The model's own tokenizer (Hugging Face `tokenizer.json` bytes), if it ships one;
    /// it takes precedence over `vocab_text`.
    pub tokenizer_json: Option<Vec<u8>>,
}

/// A plain MLP on int8 rows: `Linear -> ReLU -> ... -> Linear`, each output requantised to int8.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mlp {
    /// Largest number of rows per job.
    pub max_rows: usize,
    /// Layers; ReLU after every layer but the last.
    pub layers: Vec<Linear>,
}

/// A model of any supported architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one per job; boxing buys nothing
pub enum Model {
    /// BERT-style encoder.
    Encoder(Encoder),
    /// Plain MLP.
    Mlp(Mlp),
}

fn mismatch(name: &str, expected: String, t: &Tensor) -> Error {
    Error::TensorMismatch {
        name: name.to_string(),
        expected,
        found: format!("{:?} {:?}", t.dtype, t.shape),
    }
}

fn tensor<'a>(
    f: &'a ModelFile,
    name: &str,
    dtype: DType,
    shape: &[usize],
) -> Result<&'a Tensor, Error> {
    let t = f
        .get(name)
        .ok_or_else(|| Error::MissingTensor(name.to_string()))?;
    let ok = t.dtype == dtype
        && t.shape.len() == shape.len()
        && t.shape.iter().zip(shape).all(|(a, b)| *a as usize == *b);
    if !ok {
        return Err(mismatch(name, format!("{dtype:?} {shape:?}"), t));
    }
    Ok(t)
}

fn requants(name: &str, m: &[i32], s: &[u8]) -> Result<Vec<Requant>, Error> {
    m.iter()
        .zip(s)
        .map(|(&m, &shift)| {
            let r = Requant { m, shift };
            if r.is_valid() {
                Ok(r)
            } else {
                Err(Error::Invalid(format!(
                    "`{name}`: requant factor ({m}, {shift}) out of range"
                )))
            }
        })
        .collect()
}

fn load_rq(f: &ModelFile, p: &str, n: usize) -> Result<Vec<Requant>, Error> {
    let m = tensor(f, &format!("{p}.m"), DType::I32, &[n])?.to_i32();
    let s = &tensor(f, &format!("{p}.s"), DType::U8, &[n])?.data;
    requants(p, &m, s)
}

fn store_rq(p: &str, rq: &[Requant], out: &mut Vec<Tensor>) {
    let m: Vec<i32> = rq.iter().map(|r| r.m).collect();
    let s: Vec<u8> = rq.iter().map(|r| r.shift).collect();
    out.push(Tensor::from_i32(&format!("{p}.m"), &[rq.len() as u32], &m));
    out.push(Tensor::from_u8(&format!("{p}.s"), &[rq.len() as u32], &s));
}

fn scalar_requant(name: &str, m: i64, s: i64) -> Result<Requant, Error> {
    if !(0..(1i64 << 31)).contains(&m) || !(0..=MAX_SHIFT as i64).contains(&s) {
        return Err(Error::Invalid(format!(
            "`{name}`: requant factor ({m}, {s}) out of range"
        )));
    }
    Ok(Requant {
        m: m as i32,
        shift: s as u8,
    })
}

impl Linear {
    pub(crate) fn load(f: &ModelFile, p: &str, n: usize, k: usize) -> Result<Self, Error> {
        if k == 0 || k > MAX_DOT_LEN || n == 0 {
            return Err(Error::Invalid(format!(
                "`{p}`: bad linear shape [{n}, {k}]"
            )));
        }
        let w = tensor(f, &format!("{p}.w"), DType::I8, &[n, k])?.to_i8();
        let b = tensor(f, &format!("{p}.b"), DType::I32, &[n])?.to_i32();
        if b.iter().any(|&x| (x as i64).abs() > MAX_BIAS) {
            return Err(Error::Invalid(format!("`{p}.b`: bias beyond 2^30")));
        }
        let m = tensor(f, &format!("{p}.m"), DType::I32, &[n])?.to_i32();
        let s = &tensor(f, &format!("{p}.s"), DType::U8, &[n])?.data;
        let rq = requants(p, &m, s)?;
        Ok(Linear { n, k, w, b, rq })
    }

    fn store(&self, p: &str, out: &mut Vec<Tensor>) {
        let (n, k) = (self.n as u32, self.k as u32);
        out.push(Tensor::from_i8(&format!("{p}.w"), &[n, k], &self.w));
        out.push(Tensor::from_i32(&format!("{p}.b"), &[n], &self.b));
        let m: Vec<i32> = self.rq.iter().map(|r| r.m).collect();
        let s: Vec<u8> = self.rq.iter().map(|r| r.shift).collect();
        out.push(Tensor::from_i32(&format!("{p}.m"), &[n], &m));
        out.push(Tensor::from_u8(&format!("{p}.s"), &[n], &s));
    }
}

impl LayerNorm {
    fn load(f: &ModelFile, p: &str, h: usize, eps: i64, shift: i64) -> Result<Self, Error> {
        let g = tensor(f, &format!("{p}.g"), DType::I32, &[h])?.to_i32();
        let b = tensor(f, &format!("{p}.b"), DType::I64, &[h])?.to_i64();
        if b.iter().any(|x| x.unsigned_abs() > MAX_LN_BIAS as u64) {
            return Err(Error::Invalid(format!("`{p}.b`: bias beyond 2^60")));
        }
        if !(0..=MAX_SHIFT as i64).contains(&shift) || !(0..=(1i64 << 62)).contains(&eps) {
            return Err(Error::Invalid(format!(
                "`{p}`: eps {eps} or shift {shift} out of range"
            )));
        }
        Ok(LayerNorm {
            g,
            b,
            eps,
            shift: shift as u32,
        })
    }

    fn store(&self, p: &str, out: &mut Vec<Tensor>) {
        let h = self.g.len() as u32;
        out.push(Tensor::from_i32(&format!("{p}.g"), &[h], &self.g));
        out.push(Tensor::from_i64(&format!("{p}.b"), &[h], &self.b));
    }
}

impl Embedding {
    fn load(f: &ModelFile, p: &str, rows: usize, cols: usize) -> Result<Self, Error> {
        let q = tensor(f, &format!("{p}.q"), DType::I8, &[rows, cols])?.to_i8();
        let m = tensor(f, &format!("{p}.m"), DType::I32, &[rows])?.to_i32();
        let s = &tensor(f, &format!("{p}.s"), DType::U8, &[rows])?.data;
        Ok(Embedding {
            rows,
            cols,
            q,
            rq: requants(p, &m, s)?,
        })
    }

    fn store(&self, p: &str, out: &mut Vec<Tensor>) {
        let (r, c) = (self.rows as u32, self.cols as u32);
        out.push(Tensor::from_i8(&format!("{p}.q"), &[r, c], &self.q));
        let m: Vec<i32> = self.rq.iter().map(|r| r.m).collect();
        let s: Vec<u8> = self.rq.iter().map(|r| r.shift).collect();
        out.push(Tensor::from_i32(&format!("{p}.m"), &[r], &m));
        out.push(Tensor::from_u8(&format!("{p}.s"), &[r], &s));
    }
}

fn block_prefix(i: usize) -> String {
    format!("l{i:03}")
}

impl Model {
    /// Builds and checks a typed model from a parsed file.
    pub fn from_file(f: &ModelFile) -> Result<Self, Error> {
        match f.kind {
            KIND_ENCODER => Encoder::from_file(f).map(Model::Encoder),
            KIND_MLP => Mlp::from_file(f).map(Model::Mlp),
            k => Err(Error::Invalid(format!("unknown model kind {k}"))),
        }
    }

    /// Parses and checks model bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Error> {
        Self::from_file(&ModelFile::from_bytes(b)?)
    }

    /// Converts back into the file representation.
    pub fn to_file(&self) -> Result<ModelFile, Error> {
        match self {
            Model::Encoder(e) => e.to_file(),
            Model::Mlp(m) => m.to_file(),
        }
    }

    /// Number of committed layers (encoder: embeddings, 2 per block, pooling; MLP: one per linear).
    pub fn layer_count(&self) -> usize {
        match self {
            Model::Encoder(e) => 2 * e.blocks.len() + 2,
            Model::Mlp(m) => m.layers.len(),
        }
    }
}

impl EncoderConfig {
    /// Reads and checks the encoder hyper-parameters from a header's parameters.
    pub fn from_params(p: &[u32; N_PARAMS]) -> Result<Self, Error> {
        let cfg = EncoderConfig {
            vocab: p[0] as usize,
            hidden: p[1] as usize,
            layers: p[2] as usize,
            heads: p[3] as usize,
            intermediate: p[4] as usize,
            max_positions: p[5] as usize,
            max_seq_len: p[6] as usize,
            cls: p[7],
            sep: p[8],
            unk: p[9],
        };
        let bad = |m: &str| Err(Error::Invalid(format!("encoder header: {m}")));
        if cfg.hidden == 0 || cfg.hidden > MAX_HIDDEN {
            return bad("hidden size must be in 1..=8192");
        }
        if cfg.heads == 0 || !cfg.hidden.is_multiple_of(cfg.heads) {
            return bad("heads must divide hidden size");
        }
        if cfg.layers > 999 || cfg.intermediate == 0 || cfg.intermediate > MAX_DOT_LEN {
            return bad("layers or intermediate size out of range");
        }
        if cfg.max_seq_len == 0 || cfg.max_seq_len > cfg.max_positions || cfg.max_seq_len > MAX_SEQ
        {
            return bad("max_seq_len must be in 1..=min(max_positions, 4096)");
        }
        if cfg.vocab == 0
            || [cfg.cls, cfg.sep, cfg.unk]
                .iter()
                .any(|&t| t as usize >= cfg.vocab)
        {
            return bad("special token ids must be below the vocabulary size");
        }
        if p[10..].iter().any(|&x| x != 0) {
            return bad("reserved parameters must be zero");
        }
        Ok(cfg)
    }
}

/// Per-channel input factors of a v1 block (absent in v2).
const V1_INPUT_FACTORS: [&str; 8] = [
    "ctx.m", "ctx.s", "gelu.m", "gelu.s", "inf.m", "inf.s", "inq.m", "inq.s",
];

/// Names of the tensors of encoder block `l` (29 in numerics v1, 21 in v2, sorted), as
/// [`Block::load`] reads them.
pub fn block_tensor_names(numerics: u32, l: usize) -> Vec<String> {
    let b = block_prefix(l);
    let common = [
        "f1.b", "f1.m", "f1.s", "f1.w", "f2.b", "f2.m", "f2.s", "f2.w", "ln1.b", "ln1.g", "ln2.b",
        "ln2.g", "o.b", "o.m", "o.s", "o.w", "qkv.b", "qkv.m", "qkv.s", "qkv.w", "rq",
    ];
    let v1 = if numerics == NUMERICS_V1 {
        &V1_INPUT_FACTORS[..]
    } else {
        &[]
    };
    let mut names: Vec<String> = common
        .iter()
        .chain(v1)
        .map(|s| format!("{b}.{s}"))
        .collect();
    names.sort();
    names
}

/// Names of the encoder's embedding tensors (12, sorted).
pub fn embedding_tensor_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "emb.word.q",
        "emb.word.m",
        "emb.word.s",
        "emb.pos.q",
        "emb.pos.m",
        "emb.pos.s",
        "emb.type.q",
        "emb.type.m",
        "emb.type.s",
        "emb.ln.g",
        "emb.ln.b",
        "emb.ln.p",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.sort();
    names
}

/// The embedding half of an encoder (word, position and type tables and their layer norm).
pub(crate) struct Embeddings {
    pub(crate) word: Embedding,
    pub(crate) pos: Embedding,
    pub(crate) typ: Embedding,
    pub(crate) emb_ln: LayerNorm,
}

impl Embeddings {
    /// Loads the embedding tensors (from a whole or a partial file).
    pub(crate) fn load(f: &ModelFile, cfg: &EncoderConfig) -> Result<Self, Error> {
        let h = cfg.hidden;
        let word = Embedding::load(f, "emb.word", cfg.vocab, h)?;
        let pos = Embedding::load(f, "emb.pos", cfg.max_positions, h)?;
        let typ = Embedding::load(f, "emb.type", 1, h)?;
        let ep = tensor(f, "emb.ln.p", DType::I64, &[2])?.to_i64();
        let emb_ln = LayerNorm::load(f, "emb.ln", h, ep[0], ep[1])?;
        Ok(Embeddings {
            word,
            pos,
            typ,
            emb_ln,
        })
    }
}

impl Block {
    /// Loads block `l` of an encoder (from a whole or a partial file) under the file's
    /// numerics version.
    pub(crate) fn load(f: &ModelFile, l: usize, cfg: &EncoderConfig) -> Result<Self, Error> {
        let (h, i) = (cfg.hidden, cfg.intermediate);
        let b = block_prefix(l);
        let s = tensor(f, &format!("{b}.rq"), DType::I64, &[BLOCK_SCALARS])?.to_i64();
        let rq = |j: usize, what: &str| scalar_requant(&format!("{b}.rq.{what}"), s[j], s[j + 1]);
        let v1 = f.numerics == NUMERICS_V1;
        let factors = |p: &str, n: usize| {
            if v1 {
                load_rq(f, &format!("{b}.{p}"), n)
            } else {
                Ok(Vec::new())
            }
        };
        Ok(Block {
            in_qkv: factors("inq", h)?,
            ctx: factors("ctx", h)?,
            in_f1: factors("inf", h)?,
            gelu: factors("gelu", i)?,
            qkv: Linear::load(f, &format!("{b}.qkv"), 3 * h, h)?,
            o: Linear::load(f, &format!("{b}.o"), h, h)?,
            f1: Linear::load(f, &format!("{b}.f1"), i, h)?,
            f2: Linear::load(f, &format!("{b}.f2"), h, i)?,
            score: rq(0, "score")?,
            res1: rq(2, "res1")?,
            res2: rq(4, "res2")?,
            ln1: LayerNorm::load(f, &format!("{b}.ln1"), h, s[6], s[7])?,
            ln2: LayerNorm::load(f, &format!("{b}.ln2"), h, s[8], s[9])?,
        })
    }
}

impl Encoder {
    fn from_file(f: &ModelFile) -> Result<Self, Error> {
        let cfg = EncoderConfig::from_params(&f.params)?;
        let Embeddings {
            word,
            pos,
            typ,
            emb_ln,
        } = Embeddings::load(f, &cfg)?;
        let mut blocks = Vec::with_capacity(cfg.layers);
        for l in 0..cfg.layers {
            blocks.push(Block::load(f, l, &cfg)?);
        }
        let vocab_text = match f.get("tokenizer.vocab") {
            Some(t) if t.dtype == DType::U8 && t.shape.len() == 1 => Some(t.data.clone()),
            Some(t) => return Err(mismatch("tokenizer.vocab", "U8 [n]".into(), t)),
            None => None,
        };
        let tokenizer_json = match f.get("tokenizer.json") {
            Some(t) if t.dtype == DType::U8 && t.shape.len() == 1 => Some(t.data.clone()),
            Some(t) => return Err(mismatch("tokenizer.json", "U8 [n]".into(), t)),
            None => None,
        };
        let expected = 12
            + block_tensor_names(f.numerics, 0).len() * cfg.layers
            + usize::from(vocab_text.is_some())
            + usize::from(tokenizer_json.is_some());
        if f.tensors.len() != expected {
            return Err(Error::Invalid(format!(
                "encoder has {} tensors, expected {expected}",
                f.tensors.len()
            )));
        }
        Ok(Encoder {
            numerics: f.numerics,
            cfg,
            word,
            pos,
            typ,
            emb_ln,
            blocks,
            vocab_text,
            tokenizer_json,
        })
    }

    fn to_file(&self) -> Result<ModelFile, Error> {
        let c = &self.cfg;
        let mut params = [0u32; N_PARAMS];
        let vals = [
            c.vocab as u32,
            c.hidden as u32,
            c.layers as u32,
            c.heads as u32,
            c.intermediate as u32,
            c.max_positions as u32,
            c.max_seq_len as u32,
            c.cls,
            c.sep,
            c.unk,
        ];
        params[..vals.len()].copy_from_slice(&vals);
        let mut t = Vec::new();
        self.word.store("emb.word", &mut t);
        self.pos.store("emb.pos", &mut t);
        self.typ.store("emb.type", &mut t);
        self.emb_ln.store("emb.ln", &mut t);
        t.push(Tensor::from_i64(
            "emb.ln.p",
            &[2],
            &[self.emb_ln.eps, self.emb_ln.shift as i64],
        ));
        for (l, b) in self.blocks.iter().enumerate() {
            let p = block_prefix(l);
            b.qkv.store(&format!("{p}.qkv"), &mut t);
            b.o.store(&format!("{p}.o"), &mut t);
            b.f1.store(&format!("{p}.f1"), &mut t);
            b.f2.store(&format!("{p}.f2"), &mut t);
            b.ln1.store(&format!("{p}.ln1"), &mut t);
            b.ln2.store(&format!("{p}.ln2"), &mut t);
            if self.numerics == NUMERICS_V1 {
                store_rq(&format!("{p}.inq"), &b.in_qkv, &mut t);
                store_rq(&format!("{p}.ctx"), &b.ctx, &mut t);
                store_rq(&format!("{p}.inf"), &b.in_f1, &mut t);
                store_rq(&format!("{p}.gelu"), &b.gelu, &mut t);
            }
            let r = |q: Requant| [q.m as i64, q.shift as i64];
            let mut s = Vec::with_capacity(BLOCK_SCALARS);
            for q in [b.score, b.res1, b.res2] {
                s.extend_from_slice(&r(q));
            }
            s.extend_from_slice(&[b.ln1.eps, b.ln1.shift as i64, b.ln2.eps, b.ln2.shift as i64]);
            t.push(Tensor::from_i64(
                &format!("{p}.rq"),
                &[BLOCK_SCALARS as u32],
                &s,
            ));
        }
        if let Some(v) = &self.vocab_text {
            t.push(Tensor::from_u8("tokenizer.vocab", &[v.len() as u32], v));
        }
        if let Some(j) = &self.tokenizer_json {
            t.push(Tensor::from_u8("tokenizer.json", &[j.len() as u32], j));
        }
        ModelFile::new(KIND_ENCODER, params, t)?.with_numerics(self.numerics)
    }
}

impl Mlp {
    fn from_file(f: &ModelFile) -> Result<Self, Error> {
        let n_layers = f.params[0] as usize;
        let input = f.params[1] as usize;
        let max_rows = f.params[2] as usize;
        if n_layers == 0 || n_layers > 999 || max_rows == 0 || f.params[3..].iter().any(|&x| x != 0)
        {
            return Err(Error::Invalid(
                "MLP header: bad layer count, max_rows or reserved field".into(),
            ));
        }
        let mut layers = Vec::with_capacity(n_layers);
        let mut k = input;
        for l in 0..n_layers {
            let p = format!("mlp{l:03}");
            let w = f
                .get(&format!("{p}.w"))
                .ok_or_else(|| Error::MissingTensor(format!("{p}.w")))?;
            let n = match w.shape.as_slice() {
                [n, _] => *n as usize,
                _ => return Err(mismatch(&format!("{p}.w"), "I8 [n, k]".into(), w)),
            };
            let lin = Linear::load(f, &p, n, k)?;
            k = n;
            layers.push(lin);
        }
        if f.tensors.len() != 4 * n_layers {
            return Err(Error::Invalid("MLP has unexpected extra tensors".into()));
        }
        Ok(Mlp { max_rows, layers })
    }

    fn to_file(&self) -> Result<ModelFile, Error> {
        let mut params = [0u32; N_PARAMS];
        params[0] = self.layers.len() as u32;
        params[1] = self.layers.first().map(|l| l.k as u32).unwrap_or(0);
        params[2] = self.max_rows as u32;
        let mut t = Vec::new();
        for (l, lin) in self.layers.iter().enumerate() {
            lin.store(&format!("mlp{l:03}"), &mut t);
        }
        ModelFile::new(KIND_MLP, params, t)
    }
}

/// An all-zero linear layer (helper for builders).
pub fn zero_linear(n: usize, k: usize) -> Linear {
    Linear {
        n,
        k,
        w: vec![0; n * k],
        b: vec![0; n],
        rq: vec![Requant::default(); n],
    }
}
