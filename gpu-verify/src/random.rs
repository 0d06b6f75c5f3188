//! Deterministic random models and inputs (for tests, benchmarks and the CLI's
//! `random-model`). Floats are used only here, to pick plausible quantisation factors.
use crate::error::Error;
use crate::model::{Block, Embedding, Encoder, EncoderConfig, LayerNorm, Linear, Mlp, Model};
use crate::numerics::{Requant, NUMERICS_V1, NUMERICS_VERSION};

/// SplitMix64: a tiny deterministic generator.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[lo, hi]`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }
    /// Uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// `n` int8 values in `[-127, 127]`.
    pub fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.range(-127, 127) as i8).collect()
    }
}

/// The fixed-point factor `(m, shift)` closest to the real ratio `r` with the largest shift
/// that keeps `m < 2^31` (used by the importer and the random generator, never at run time).
pub fn requant_from_f64(r: f64) -> Result<Requant, Error> {
    if !r.is_finite() || r < 0.0 {
        return Err(Error::Import(format!(
            "requantisation ratio {r} is not a finite non-negative number"
        )));
    }
    for shift in (0..=62u8).rev() {
        let m = (r * (2f64).powi(shift as i32)).round();
        if m < 2147483648.0 {
            return Ok(Requant { m: m as i32, shift });
        }
    }
    Err(Error::Import(format!("requantisation ratio {r} >= 2^31")))
}

fn rq(rng: &mut Rng, r: f64) -> Result<Requant, Error> {
    requant_from_f64(r * (0.75 + 0.5 * rng.unit()))
}

fn linear(rng: &mut Rng, n: usize, k: usize, r: f64, bias: i64) -> Result<Linear, Error> {
    let w = rng.i8s(n * k);
    let b = (0..n).map(|_| rng.range(-bias, bias) as i32).collect();
    let rq = (0..n).map(|_| rq(rng, r)).collect::<Result<_, _>>()?;
    Ok(Linear { n, k, w, b, rq })
}

fn layer_norm(rng: &mut Rng, h: usize) -> LayerNorm {
    LayerNorm {
        g: (0..h).map(|_| rng.range(1 << 19, 3 << 19) as i32).collect(),
        b: (0..h).map(|_| rng.range(-500, 500) << 20).collect(),
        eps: rng.range(0, 16),
        shift: 20,
    }
}

fn embedding(rng: &mut Rng, rows: usize, cols: usize) -> Result<Embedding, Error> {
    let q = rng.i8s(rows * cols);
    let rq = (0..rows)
        .map(|_| rq(rng, 16384.0 / 127.0 / 2.0))
        .collect::<Result<_, _>>()?;
    Ok(Embedding { rows, cols, q, rq })
}

/// A random encoder with plausible activation ranges, under the current numerics.
pub fn random_encoder(seed: u64, cfg: EncoderConfig) -> Result<Model, Error> {
    random_encoder_with(seed, cfg, NUMERICS_VERSION)
}

/// A random encoder under numerics version `numerics` (1 or 2).
pub fn random_encoder_with(seed: u64, cfg: EncoderConfig, numerics: u32) -> Result<Model, Error> {
    if !crate::numerics::numerics_supported(numerics) {
        return Err(Error::UnsupportedNumerics(numerics));
    }
    let v1 = numerics == NUMERICS_V1;
    // v2 feeds its GEMMs wide rows (int16 block inputs, values-scale context, Q12 GELU
    // output) and makes int16 queries, keys and values: the factors shrink accordingly.
    let (in_x, qk, ctx_x, gelu_x) = if v1 {
        (1.0, 1.0, 1.0, 1.0)
    } else {
        (256.0, 65536.0, 85.0, 129.0)
    };
    let mut g = Rng::new(seed);
    let (h, i) = (cfg.hidden, cfg.intermediate);
    let d = (h / cfg.heads.max(1)) as f64;
    let sh = (h as f64).sqrt();
    let word = embedding(&mut g, cfg.vocab, h)?;
    let pos = embedding(&mut g, cfg.max_positions, h)?;
    let typ = embedding(&mut g, 1, h)?;
    let emb_ln = layer_norm(&mut g, h);
    let mut blocks = Vec::new();
    for _ in 0..cfg.layers {
        let vrq =
            |g: &mut Rng, n: usize, r: f64| (0..n).map(|_| rq(g, r)).collect::<Result<Vec<_>, _>>();
        let factors = |g: &mut Rng, n: usize, r: f64| {
            if v1 {
                vrq(g, n, r)
            } else {
                Ok(Vec::new())
            }
        };
        blocks.push(Block {
            in_qkv: factors(&mut g, h, 1.0 / 256.0)?,
            ctx: factors(&mut g, h, 3.0 / 32768.0)?,
            in_f1: factors(&mut g, h, 1.0 / 256.0)?,
            gelu: factors(&mut g, i, 127.0 / (4.0 * 4096.0))?,
            qkv: linear(&mut g, 3 * h, h, 30.0 / (1168.0 * sh), 2000)?,
            o: linear(&mut g, h, h, 16384.0 / (2190.0 * sh) / ctx_x, 2000)?,
            f1: linear(&mut g, i, h, 6144.0 / (1168.0 * sh) / in_x, 2000)?,
            f2: linear(
                &mut g,
                h,
                i,
                16384.0 / (2920.0 * (i as f64).sqrt()) / gelu_x,
                2000,
            )?,
            ln1: layer_norm(&mut g, h),
            ln2: layer_norm(&mut g, h),
            score: rq(&mut g, 6144.0 / (900.0 * d.sqrt()) / qk)?,
            res1: rq(&mut g, 4.0)?,
            res2: rq(&mut g, 4.0)?,
        });
    }
    Ok(Model::Encoder(Encoder {
        numerics,
        cfg,
        word,
        pos,
        typ,
        emb_ln,
        blocks,
        vocab_text: None,
        tokenizer_json: None,
    }))
}

/// A small encoder configuration for tests.
pub fn tiny_encoder_config() -> EncoderConfig {
    EncoderConfig {
        vocab: 500,
        hidden: 64,
        layers: 2,
        heads: 4,
        intermediate: 128,
        max_positions: 64,
        max_seq_len: 48,
        cls: 1,
        sep: 2,
        unk: 3,
    }
}

/// all-MiniLM-L6-v2's shapes.
pub fn minilm_config() -> EncoderConfig {
    EncoderConfig {
        vocab: 30522,
        hidden: 384,
        layers: 6,
        heads: 12,
        intermediate: 1536,
        max_positions: 512,
        max_seq_len: 256,
        cls: 101,
        sep: 102,
        unk: 100,
    }
}

/// A random MLP with the given widths (`dims[0]` inputs).
pub fn random_mlp(seed: u64, dims: &[usize], max_rows: usize) -> Result<Model, Error> {
    let mut g = Rng::new(seed);
    let mut layers = Vec::new();
    for w in dims.windows(2) {
        let r = 40.0 / (50.0 * 73.0 * (w[0] as f64).sqrt());
        layers.push(linear(&mut g, w[1], w[0], r, 5000)?);
    }
    if layers.is_empty() {
        return Err(Error::Invalid("an MLP needs at least two widths".into()));
    }
    Ok(Model::Mlp(Mlp { max_rows, layers }))
}

/// Random token sequences: `n` sequences of lengths in `[min_len, max_len]`.
pub fn random_tokens(
    seed: u64,
    n: usize,
    min_len: usize,
    max_len: usize,
    vocab: usize,
) -> Vec<Vec<u32>> {
    let mut g = Rng::new(seed);
    (0..n)
        .map(|_| {
            let len = g.range(min_len as i64, max_len as i64) as usize;
            (0..len)
                .map(|_| g.range(0, vocab as i64 - 1) as u32)
                .collect()
        })
        .collect()
}
