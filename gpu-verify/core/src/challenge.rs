//! GPU availability challenge: a deterministic integer workload derived from a 32-byte seed,
//! answered with a Merkle root over per-step activation hashes, and audited on chain by
//! re-executing ONE step.
//!
//! # Workload (challenge v1, normative)
//!
//! A [`ChallengeShape`] `(seq, width, depth)` and a 32-byte `seed` define:
//!
//! * **Derivation.** Three BLAKE3 XOF streams, each `blake3_keyed(key = seed,
//!   "menara/gpu-verify/challenge/v1" || 0x00 || part || seq u32 LE || width u32 LE ||
//!   depth u32 LE)` read from offset 0, with `part` one of `"weights"`, `"bias"`, `"input"`.
//!   An int8 value is the next stream byte read as `i8`, skipping `0x80` (so values are uniform
//!   in `[-127, 127]`, like every activation). An i32 bias is the next 8 bytes as a u64 LE,
//!   `bias = (u mod (2B + 1)) - B`.
//! * **Weights** `W`: one `width x width` int8 matrix, shared by every step, in the layout of
//!   [`Gemm`]: row `j` holds the weights of output column `j` (`W[j][t]`, row-major).
//! * **Bias**: one i32 per output column in `[-B, B]` with `B = 16 * N`, where
//!   `N = isqrt(width * 5419)` is the standard deviation of a dot product of a uniform int8
//!   weight row (variance `(255^2 - 1) / 12 = 5418.67`) with an int8 vector of RMS 1.
//! * **Input** `x0`: `seq x width` int8, row-major.
//! * **Step** (`i = 0 .. depth - 1`), per row `r` and column `j`:
//!   `acc = sum_t x_i[r][t] * W[j][t] + bias[j]` (exact in i32: `|acc| <= 4096 * 127^2 + 16 N
//!   < 2^27`), `x_{i+1}[r][j] = sat8(rshift_round(acc * m, 24))` with the fixed factor
//!   `m = div_round(5 * 2^24, 4 * N)`: the requantisation gain is `5/4` relative to the RMS
//!   of the input row (see *Requantisation* below).
//! * **Leaves**: leaf 0 = [`activation_hash`] of `x0`, leaf `i` = hash of `x_i` for
//!   `i = 1 ..= depth` (`depth + 1` leaves, the convention of [`crate::commit`]). The
//!   activation is hashed as one sequence of `seq` rows of `width` int8 values
//!   (`lens = [seq]`, `cols = width`, kind I8).
//! * **Answer** = [`merkle_root`] of the leaves.
//!
//! # Requantisation
//!
//! A step maps a row of RMS `s` to pre-saturation values of RMS `~ (5/4) s` (the dot product
//! of a row with a uniform int8 weight row has standard deviation `s N`, and `m / 2^24 =
//! 5 / (4 N)`), then saturates to `[-127, 127]`. There is no ReLU: the map is signed, so
//! nothing collapses to one sign. A gain above 1 keeps the iteration from decaying towards
//! the bias; saturation stops the growth. The mean-field fixed point of
//! `s = RMS(clip(N(0, (5/4 s)^2), 127))` is `s ~ 85`: about a quarter of the values sit at
//! +-127 and the rest spread over the whole range with under 1 % zeros (measured: RMS 84-86,
//! 23-25 % saturated at widths 256 and 1024 over 1000 steps; tested). The gain also puts the
//! iteration in the chaotic regime (`gain^2 * P(unsaturated) ~ 1.2 > 1`): a one-unit change
//! of `x0` spreads to the whole row within a few dozen steps and no activation repeats
//! (tested), so there is no fixed point or short cycle that shortcuts the sequential work.
//! Gain 11/10 saturates less (~13 %) but mixes more slowly; 3/2 saturates ~38 %. Widths
//! below ~128 (the `TEST` preset) can fall into short per-row cycles; the GPU presets use
//! 1024. Integer only, no float anywhere; every engine gives the same bytes.
//!
//! # Shapes and cost
//!
//! A step costs `seq * width^2` multiply-accumulates (MACs). The GPU presets use
//! `seq = 32, width = 1024` (a 32 KiB activation that fits a chain transaction with two
//! Merkle proofs; a 1 MiB weight matrix that sits in any GPU's L2 cache):
//! `33,554,432` MACs per step. Steps are strictly sequential, so a GPU step is bounded by
//! launch latency rather than throughput: with the weights resident, one fused kernel per
//! step (or a CUDA graph) and the 32 KiB activation hashed on the host while the next step
//! runs, an estimate is ~7.5 us per step on an H100 (an estimate, not measured: no GPU was
//! available when the presets were set). The depths below target ~1.5 s with such a kernel.
//! Measured on the CPU (see `README.md`): one step takes ~4 ms on one x86 core (reference
//! GEMM, ~8 G MAC/s), so a 16-core CPU needs ~0.25 ms per step at perfect scaling, ~50 s for
//! `H100`.
//!
//! | preset | seq x width | depth | MACs per step | total MACs |
//! |---|---|---|---|---|
//! | `TEST` | 4 x 32 | 8 | 4,096 | 32,768 |
//! | `H100` | 32 x 1024 | 200,000 | 33,554,432 | 6.71e12 |
//! | `H200` | 32 x 1024 | 220,000 | 33,554,432 | 7.38e12 |
//! | `A100` | 32 x 1024 | 120,000 | 33,554,432 | 4.03e12 |
//! | `L40S` | 32 x 1024 | 140,000 | 33,554,432 | 4.70e12 |
//! | `RTX4090` | 32 x 1024 | 150,000 | 33,554,432 | 5.03e12 |
//!
//! # Audit
//!
//! The chain picks a step with [`audit_step_index`] from its randomness, the provider answers
//! with a [`StepOpening`] (the input activation `x_{step-1}` and Merkle proofs of leaves
//! `step - 1` and `step`), and [`audit_step`] regenerates `W`, re-executes that single step
//! with [`RefGemm`] and checks both proofs against the committed root. It never panics on
//! any opening; anything but [`AuditVerdict::Honest`] is the provider's fault.
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use parity_scale_codec::{Decode, Encode};

use crate::commit::{activation_hash, merkle_proof, merkle_root, Hash, MerkleProof};
use crate::engine::{ActData, Activation, Gemm, RefGemm};
use crate::error::Error;
use crate::numerics::{div_round, isqrt, sat_i8, Requant};

/// Domain tag of every challenge derivation.
pub const DOMAIN: &[u8] = b"menara/gpu-verify/challenge/v1";
/// Largest allowed `width`.
pub const MAX_WIDTH: u32 = 4096;
/// Largest allowed `seq`.
pub const MAX_SEQ: u32 = 1024;
/// Largest allowed `depth`.
pub const MAX_DEPTH: u32 = 1_000_000;
/// Largest allowed activation (`seq * width` bytes): one activation plus two Merkle proofs
/// fit a 64 KiB chain transaction.
pub const MAX_ACTIVATION: u64 = 48 * 1024;
/// Variance of a uniform int8 weight in `[-127, 127]`, rounded: `(255^2 - 1) / 12`.
pub const WEIGHT_VAR: u64 = 5419;
/// Requantisation gain numerator (gain = `GAIN_NUM / GAIN_DEN` = 5/4).
pub const GAIN_NUM: i64 = 5;
/// Requantisation gain denominator.
pub const GAIN_DEN: i64 = 4;
/// Requantisation shift.
pub const RQ_SHIFT: u8 = 24;
/// Bias range in units of `N = isqrt(width * WEIGHT_VAR)`.
pub const BIAS_SPAN: i64 = 16;

/// The size of a challenge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ChallengeShape {
    /// Rows of the activation.
    pub seq: u32,
    /// Columns of the activation (and both dimensions of the weight matrix).
    pub width: u32,
    /// Number of sequential steps.
    pub depth: u32,
}

impl ChallengeShape {
    /// Tiny shape for dev and test chains: a CPU answers in well under a millisecond.
    pub const TEST: ChallengeShape = ChallengeShape {
        seq: 4,
        width: 32,
        depth: 8,
    };
    /// NVIDIA H100: 200,000 steps of 32 x 1024 x 1024 (6.7e12 MACs; ~1.5 s estimated at
    /// ~7.5 us per step with a latency-bound fused kernel; measured with gpu-verify's
    /// device-resident runner on an H200: 28 us per step, 5.6 s).
    pub const H100: ChallengeShape = ChallengeShape {
        seq: 32,
        width: 1024,
        depth: 200_000,
    };
    /// NVIDIA H200: as H100 with ~10 % more steps (same SM, faster memory and clocks).
    pub const H200: ChallengeShape = ChallengeShape {
        seq: 32,
        width: 1024,
        depth: 220_000,
    };
    /// NVIDIA A100: 120,000 steps (4.0e12 MACs; ~1.5 s estimated at ~12 us per step).
    pub const A100: ChallengeShape = ChallengeShape {
        seq: 32,
        width: 1024,
        depth: 120_000,
    };
    /// NVIDIA L40S: 140,000 steps (4.7e12 MACs; ~1.5 s estimated at ~10 us per step).
    pub const L40S: ChallengeShape = ChallengeShape {
        seq: 32,
        width: 1024,
        depth: 140_000,
    };
    /// NVIDIA RTX 4090: 150,000 steps (5.0e12 MACs; ~1.5 s estimated at ~10 us per step).
    pub const RTX4090: ChallengeShape = ChallengeShape {
        seq: 32,
        width: 1024,
        depth: 150_000,
    };

    /// The named presets (lower-case names, as the CLI spells them).
    pub const PRESETS: [(&'static str, ChallengeShape); 6] = [
        ("test", Self::TEST),
        ("h100", Self::H100),
        ("h200", Self::H200),
        ("a100", Self::A100),
        ("l40s", Self::L40S),
        ("rtx4090", Self::RTX4090),
    ];

    /// The preset called `name` (case-insensitive), if any.
    pub fn preset(name: &str) -> Option<ChallengeShape> {
        Self::PRESETS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, s)| s)
    }

    /// Checks the limits: all values non-zero, `width <= 4096`, `seq <= 1024`,
    /// `depth <= 1,000,000` and `seq * width <= 48 KiB`.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |why: &str| Err(Error::Input(format!("challenge shape {self:?}: {why}")));
        if self.seq == 0 || self.width == 0 || self.depth == 0 {
            return bad("seq, width and depth must be non-zero");
        }
        if self.width > MAX_WIDTH {
            return bad("width exceeds 4096");
        }
        if self.seq > MAX_SEQ {
            return bad("seq exceeds 1024");
        }
        if self.depth > MAX_DEPTH {
            return bad("depth exceeds 1,000,000");
        }
        if self.activation_len() as u64 > MAX_ACTIVATION {
            return bad("seq * width exceeds 48 KiB");
        }
        Ok(())
    }

    /// Values in one activation (`seq * width`).
    pub fn activation_len(&self) -> usize {
        self.seq as usize * self.width as usize
    }

    /// Multiply-accumulates of one step (`seq * width^2`).
    pub fn macs_per_step(&self) -> u64 {
        self.seq as u64 * self.width as u64 * self.width as u64
    }

    /// Multiply-accumulates of the whole challenge (`depth * seq * width^2`).
    pub fn total_macs(&self) -> u64 {
        self.macs_per_step() * self.depth as u64
    }

    /// Number of Merkle leaves (`depth + 1`).
    pub fn leaf_count(&self) -> u32 {
        self.depth.saturating_add(1)
    }
}

/// A BLAKE3 XOF stream for one part of a challenge.
struct Stream {
    reader: blake3::OutputReader,
    buf: [u8; STREAM_BUF],
    pos: usize,
}

/// Bytes read from the XOF at a time (only speed depends on it, never the values).
const STREAM_BUF: usize = 4096;

impl Stream {
    fn new(seed: &[u8; 32], shape: &ChallengeShape, part: &[u8]) -> Self {
        let mut h = blake3::Hasher::new_keyed(seed);
        h.update(DOMAIN);
        h.update(&[0]);
        h.update(part);
        h.update(&shape.seq.to_le_bytes());
        h.update(&shape.width.to_le_bytes());
        h.update(&shape.depth.to_le_bytes());
        Stream {
            reader: h.finalize_xof(),
            buf: [0; STREAM_BUF],
            pos: STREAM_BUF,
        }
    }

    fn byte(&mut self) -> u8 {
        if self.pos == self.buf.len() {
            self.reader.fill(&mut self.buf);
            self.pos = 0;
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        b
    }

    /// `n` int8 values uniform in `[-127, 127]` (byte `0x80` is skipped).
    fn i8s(&mut self, n: usize) -> Vec<i8> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if self.pos == self.buf.len() {
                self.reader.fill(&mut self.buf);
                self.pos = 0;
            }
            for &b in &self.buf[self.pos..] {
                self.pos += 1;
                if b != 0x80 {
                    out.push(b as i8);
                    if out.len() == n {
                        break;
                    }
                }
            }
        }
        out
    }

    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in b.iter_mut() {
            *x = self.byte();
        }
        u64::from_le_bytes(b)
    }
}

/// `isqrt(width * WEIGHT_VAR)`: standard deviation of a dot product of a uniform int8 weight
/// row with a vector of RMS 1.
fn dot_scale(width: u32) -> i64 {
    isqrt(width as u64 * WEIGHT_VAR).max(1) as i64
}

/// The fixed requantisation factor of a shape: `m = div_round(5 * 2^24, 4 * N)`, shift 24.
pub fn challenge_requant(width: u32) -> Requant {
    let n = dot_scale(width);
    // n >= 1 and 5 * 2^24 < 2^27: m < 2^31.
    let m = div_round(GAIN_NUM << RQ_SHIFT, GAIN_DEN * n);
    Requant {
        m: m as i32,
        shift: RQ_SHIFT,
    }
}

/// The input activation `x0` of a challenge (cheap: no weights are generated).
pub fn challenge_input(seed: &[u8; 32], shape: ChallengeShape) -> Result<Vec<i8>, Error> {
    shape.validate()?;
    Ok(Stream::new(seed, &shape, b"input").i8s(shape.activation_len()))
}

/// A generated challenge: shape, weights, bias, input and requantisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    shape: ChallengeShape,
    weights: Vec<i8>,
    bias: Vec<i32>,
    input: Vec<i8>,
    rq: Requant,
}

impl Challenge {
    /// Derives the challenge of `seed` and `shape` (see the module docs).
    pub fn generate(seed: &[u8; 32], shape: ChallengeShape) -> Result<Challenge, Error> {
        shape.validate()?;
        let w = shape.width as usize;
        let weights = Stream::new(seed, &shape, b"weights").i8s(w * w);
        let b = BIAS_SPAN * dot_scale(shape.width);
        let mut bs = Stream::new(seed, &shape, b"bias");
        let bias = (0..w)
            .map(|_| ((bs.u64() % (2 * b + 1) as u64) as i64 - b) as i32)
            .collect();
        Ok(Challenge {
            shape,
            weights,
            bias,
            input: challenge_input(seed, shape)?,
            rq: challenge_requant(shape.width),
        })
    }

    /// The shape.
    pub fn shape(&self) -> ChallengeShape {
        self.shape
    }

    /// The weight matrix, `[width (output), width (input)]` row-major.
    pub fn weights(&self) -> &[i8] {
        &self.weights
    }

    /// The bias, one per output column.
    pub fn bias(&self) -> &[i32] {
        &self.bias
    }

    /// The input activation `x0`, `[seq, width]` row-major.
    pub fn input(&self) -> &[i8] {
        &self.input
    }

    /// The requantisation factor.
    pub fn requant(&self) -> Requant {
        self.rq
    }

    /// The Merkle leaf of an activation (`seq x width` values): its [`activation_hash`] as one
    /// sequence of `seq` rows.
    pub fn leaf(&self, x: &[i8]) -> Hash {
        self.leaf_owned(x.to_vec()).0
    }

    fn leaf_owned(&self, x: Vec<i8>) -> (Hash, Vec<i8>) {
        let a = Activation {
            lens: vec![self.shape.seq],
            cols: self.shape.width,
            data: ActData::I8(x),
        };
        let h = activation_hash(&a);
        match a.data {
            ActData::I8(x) => (h, x),
            _ => (h, Vec::new()),
        }
    }

    /// One step: `x_{i+1} = sat8(requant(x_i W^T + bias))` through `gemm`.
    pub fn step(&self, x: &[i8], gemm: &dyn Gemm) -> Result<Vec<i8>, Error> {
        let (s, w) = (self.shape.seq as usize, self.shape.width as usize);
        if x.len() != s * w {
            return Err(Error::Input(format!(
                "challenge activation holds {} values, shape needs {}",
                x.len(),
                s * w
            )));
        }
        let mut acc = vec![0i32; s * w];
        gemm.gemm(x, s, w, &self.weights, w, &mut acc)?;
        let rq = self.rq;
        Ok(acc
            .iter()
            .zip(self.bias.iter().cycle())
            .map(|(&a, &b)| sat_i8(rq.apply(a.saturating_add(b))))
            .collect())
    }

    /// Runs all `depth` steps, hashing every activation and keeping `x_i` for every `i` that
    /// is a multiple of `checkpoint_every` (`x0` included), so that any step can be opened
    /// by re-running fewer than `checkpoint_every` steps. A backend that offers a
    /// [`ChallengeRunner`] (a GPU keeping weights and activation on the device) computes the
    /// steps; otherwise each goes through [`Challenge::step`].
    pub fn run(&self, gemm: &dyn Gemm, checkpoint_every: u32) -> Result<ChallengeRun, Error> {
        match gemm.challenge_runner() {
            Some(runner) => {
                self.run_with(checkpoint_every, &mut |emit| runner.run_steps(self, emit))
            }
            None => self.run_stepwise(gemm, checkpoint_every),
        }
    }

    /// [`Challenge::run`] one [`Challenge::step`] at a time through `gemm`, never through
    /// its [`ChallengeRunner`] (the reference the runners are tested against).
    pub fn run_stepwise(
        &self,
        gemm: &dyn Gemm,
        checkpoint_every: u32,
    ) -> Result<ChallengeRun, Error> {
        self.run_with(checkpoint_every, &mut |emit| {
            let mut x = self.input.clone();
            for _ in 0..self.shape.depth {
                x = self.step(&x, gemm)?;
                emit(&x)?;
            }
            Ok(())
        })
    }

    /// Hashes and checkpoints the activations that `steps` hands to its callback, in order.
    fn run_with(
        &self,
        checkpoint_every: u32,
        steps: &mut dyn FnMut(&mut EmitActivation<'_>) -> Result<(), Error>,
    ) -> Result<ChallengeRun, Error> {
        if checkpoint_every == 0 {
            return Err(Error::Input("checkpoint_every must be at least 1".into()));
        }
        let depth = self.shape.depth;
        let len = self.shape.activation_len();
        let mut leaves = Vec::with_capacity(depth as usize + 1);
        let mut checkpoints = vec![self.input.clone()];
        leaves.push(self.leaf(&self.input));
        let mut i = 0u32;
        steps(&mut |x: &[i8]| {
            if x.len() != len || i >= depth {
                return Err(Error::Input(format!(
                    "challenge runner gave activation {} of {} values (shape: {depth} of {len})",
                    i + 1,
                    x.len()
                )));
            }
            i += 1;
            leaves.push(self.leaf(x));
            if i.is_multiple_of(checkpoint_every) {
                checkpoints.push(x.to_vec());
            }
            Ok(())
        })?;
        if i != depth {
            return Err(Error::Input(format!(
                "challenge runner stopped after {i} of {depth} steps"
            )));
        }
        let root = merkle_root(&leaves);
        Ok(ChallengeRun {
            challenge: self.clone(),
            leaves,
            root,
            checkpoint_every,
            checkpoints,
        })
    }

    /// Audits step `step` of a committed `root` with this (regenerated) challenge, computing
    /// the step with `gemm`; see [`audit_step`].
    pub fn audit(
        &self,
        step: u32,
        root: &Hash,
        opening: &StepOpening,
        gemm: &dyn Gemm,
    ) -> Result<AuditVerdict, Error> {
        check_step(self.shape, step)?;
        if let Some(v) = precheck(self.shape, step, opening) {
            return Ok(v);
        }
        let input: Vec<i8> = opening.input.iter().map(|&b| b as i8).collect();
        if step == 1 && input != self.input {
            return Ok(AuditVerdict::BadInputOpening);
        }
        if !opening.input_proof.verify(root, &self.leaf(&input)) {
            return Ok(AuditVerdict::BadInputOpening);
        }
        let y = self.step(&input, gemm)?;
        Ok(if opening.output_proof.verify(root, &self.leaf(&y)) {
            AuditVerdict::Honest
        } else {
            AuditVerdict::WrongOutput
        })
    }
}

/// The callback a challenge's steps hand each new activation to.
pub type EmitActivation<'a> = dyn FnMut(&[i8]) -> Result<(), Error> + 'a;

/// Computes a challenge's steps on a device that keeps the weights and the activation
/// resident (offered by a backend through [`Gemm::challenge_runner`]). The bytes must be
/// those of [`Challenge::step`]: `x_{i+1} = sat8(requant(x_i W^T + bias))`.
pub trait ChallengeRunner {
    /// Computes `x_1 ..= x_depth` from the challenge's input and hands each to `emit`, in
    /// order.
    fn run_steps(
        &self,
        challenge: &Challenge,
        emit: &mut dyn FnMut(&[i8]) -> Result<(), Error>,
    ) -> Result<(), Error>;
}

/// A finished run: all leaves, the root and activation checkpoints.
#[derive(Clone, Debug)]
pub struct ChallengeRun {
    challenge: Challenge,
    leaves: Vec<Hash>,
    root: Hash,
    checkpoint_every: u32,
    checkpoints: Vec<Vec<i8>>,
}

impl ChallengeRun {
    /// The answer: Merkle root over the `depth + 1` activation hashes.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// The leaves (`leaves[i]` = hash of `x_i`).
    pub fn leaves(&self) -> &[Hash] {
        &self.leaves
    }

    /// The challenge that was run.
    pub fn challenge(&self) -> &Challenge {
        &self.challenge
    }

    /// The activation `x_i` (`0 <= i <= depth`), recomputed from the nearest checkpoint.
    pub fn activation(&self, i: u32, gemm: &dyn Gemm) -> Result<Vec<i8>, Error> {
        if i > self.challenge.shape.depth {
            return Err(Error::Input(format!(
                "activation {i} out of range (depth {})",
                self.challenge.shape.depth
            )));
        }
        let c = i / self.checkpoint_every;
        let mut x = self
            .checkpoints
            .get(c as usize)
            .cloned()
            .ok_or_else(|| Error::Input(format!("no checkpoint {c}")))?;
        for _ in c * self.checkpoint_every..i {
            x = self.challenge.step(&x, gemm)?;
        }
        Ok(x)
    }

    /// The opening of step `step` (`1 ..= depth`): `x_{step-1}` and the proofs of leaves
    /// `step - 1` and `step`.
    pub fn opening(&self, step: u32, gemm: &dyn Gemm) -> Result<StepOpening, Error> {
        check_step(self.challenge.shape, step)?;
        let x = self.activation(step - 1, gemm)?;
        Ok(StepOpening {
            input: x.iter().map(|&v| v as u8).collect(),
            input_proof: merkle_proof(&self.leaves, step as usize - 1)?,
            output_proof: merkle_proof(&self.leaves, step as usize)?,
        })
    }
}

/// What a provider submits to have step `step` audited.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct StepOpening {
    /// The step's input activation `x_{step-1}` (`seq * width` int8 values as bytes).
    pub input: Vec<u8>,
    /// Proof of leaf `step - 1` (the hash of `input`).
    pub input_proof: MerkleProof,
    /// Proof of leaf `step` (the hash of the step's output).
    pub output_proof: MerkleProof,
}

/// The outcome of an audit; the chain slashes on anything but `Honest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum AuditVerdict {
    /// The opened input is committed and the committed output is its correct step.
    Honest,
    /// The committed output of the step is not the step of the committed input.
    WrongOutput,
    /// The input is not the committed one (or, for step 1, not the challenge input).
    BadInputOpening,
    /// The opening has the wrong size, proof positions or an impossible value (-128).
    Malformed,
}

fn check_step(shape: ChallengeShape, step: u32) -> Result<(), Error> {
    shape.validate()?;
    if step == 0 || step > shape.depth {
        return Err(Error::Input(format!(
            "audit step {step} out of range 1..={}",
            shape.depth
        )));
    }
    Ok(())
}

/// Checks that need no weights: sizes, proof positions, value range.
fn precheck(shape: ChallengeShape, step: u32, o: &StepOpening) -> Option<AuditVerdict> {
    let n = shape.leaf_count();
    let (ip, op) = (&o.input_proof, &o.output_proof);
    let ok = o.input.len() == shape.activation_len()
        && !o.input.contains(&0x80)
        && ip.leaf_count == n
        && op.leaf_count == n
        && ip.index == step - 1
        && op.index == step;
    (!ok).then_some(AuditVerdict::Malformed)
}

/// Audits step `step` (`1 ..= depth`) of the answer `root` to the challenge (`seed`,
/// `shape`), with the single-threaded reference GEMM (runs inside the wasm runtime).
///
/// `Err` only for the chain's own mistakes (invalid shape, step out of range); every
/// problem with the opening is a verdict: wrong size, proof positions or a value -128
/// (`Malformed`); for step 1 an input other than `x0`, otherwise an input whose hash is not
/// leaf `step - 1` under `root` (`BadInputOpening`); an output proof that does not open the
/// recomputed output's hash at leaf `step` (`WrongOutput`). Never panics.
pub fn audit_step(
    seed: &[u8; 32],
    shape: ChallengeShape,
    step: u32,
    root: &Hash,
    opening: &StepOpening,
) -> Result<AuditVerdict, Error> {
    audit_step_with(seed, shape, step, root, opening, &RefGemm)
}

/// [`audit_step`] with the step's matrix product on `gemm` (the chain runtime passes one
/// backed by a host function; any correct backend gives the same verdict).
pub fn audit_step_with(
    seed: &[u8; 32],
    shape: ChallengeShape,
    step: u32,
    root: &Hash,
    opening: &StepOpening,
    gemm: &dyn Gemm,
) -> Result<AuditVerdict, Error> {
    check_step(shape, step)?;
    if let Some(v) = precheck(shape, step, opening) {
        return Ok(v);
    }
    Challenge::generate(seed, shape)?.audit(step, root, opening, gemm)
}

/// The step the chain audits, from 32 random bytes: `1 + (u64 mod depth)` where `u64` is
/// the first 8 bytes (LE) of `blake3(DOMAIN || "/audit-index" || randomness)`.
/// Returns 1 for a zero depth (an invalid shape).
pub fn audit_step_index(randomness: &[u8; 32], shape: ChallengeShape) -> u32 {
    let mut h = blake3::Hasher::new();
    h.update(DOMAIN);
    h.update(b"/audit-index");
    h.update(randomness);
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_bytes()[..8]);
    (u64::from_le_bytes(b) % shape.depth.max(1) as u64) as u32 + 1
}
