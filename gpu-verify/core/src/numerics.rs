//! Numerics v1: the integer kernels every engine shares.
//!
//! Nothing here uses floating point. All rounding is **round half away from zero**;
//! all saturation is symmetric (`i8` to `[-127, 127]`, `i16` to `[-32767, 32767]`).
//! The overflow bounds of each function are stated on it and proved in `README.md`.

/// The numerics version implemented by this module (stored in every model file).
pub const NUMERICS_VERSION: u32 = 1;

/// Fractional bits of the fixed-point format used for attention scores and GELU input/output.
pub const FRAC_BITS: u32 = 12;
/// Fractional bits of attention probabilities (`2^15` = probability 1).
pub const PROB_BITS: u32 = 15;
/// Fractional bits of `i_exp` output (`2^30` = 1.0).
pub const EXP_OUT_BITS: u32 = 30;
/// Fractional bits of the normalised value inside layer norm.
pub const LN_NORM_BITS: u32 = 12;
/// Fixed-point scores and GELU inputs are clamped to `[-SAT_Q12, SAT_Q12]`.
pub const SAT_Q12: i64 = 1 << 24;
/// Layer-norm inputs (residual sums) are clamped to `[-SAT_LN_IN, SAT_LN_IN]`.
pub const SAT_LN_IN: i64 = 1 << 23;
/// Largest allowed requantisation shift.
pub const MAX_SHIFT: u32 = 62;
/// Largest allowed reduction length `K` of an `i8 x i8 -> i32` dot product.
pub const MAX_DOT_LEN: usize = 1 << 16;
/// Largest allowed magnitude of a GEMM bias (keeps `|acc + bias| < 2^31`).
pub const MAX_BIAS: i64 = 1 << 30;

/// `ln 2` in Q12.
pub const LN2_Q12: i64 = 2839;
/// I-BERT i-exp polynomial `a (r + b)^2 + c`: `b = 1.353` in Q12.
pub const EXP_B_Q12: i64 = 5542;
/// `a = 0.3585` in Q16.
pub const EXP_A_Q16: i64 = 23495;
/// `c = 0.344` in Q30.
pub const EXP_C_Q30: i64 = 369_367_187;
/// `1/sqrt(2)` in Q15.
pub const INV_SQRT2_Q15: i64 = 23170;
/// I-BERT i-erf clip point `-b = 1.769` in Q12.
pub const ERF_B_Q12: i64 = 7246;
/// I-BERT i-erf `-a = 0.2888` in Q12.
pub const ERF_A_Q12: i64 = 1183;

/// Arithmetic right shift by `shift` bits rounding half away from zero.
///
/// Precondition: `|x| < 2^62` (so `|x| + 2^(shift-1)` cannot overflow for `shift <= 62`).
#[inline]
pub fn rshift_round(x: i64, shift: u32) -> i64 {
    if shift == 0 {
        return x;
    }
    if shift >= 63 {
        return 0;
    }
    let half = 1i64 << (shift - 1);
    if x >= 0 {
        (x + half) >> shift
    } else {
        -((-x + half) >> shift)
    }
}

/// Integer division `a / b` (`b > 0`) rounding half away from zero.
///
/// Precondition: `|a| + b/2 < 2^63`.
#[inline]
pub fn div_round(a: i64, b: i64) -> i64 {
    debug_assert!(b > 0);
    let h = b / 2;
    if a >= 0 {
        (a + h) / b
    } else {
        -((-a + h) / b)
    }
}

/// A fixed-point requantisation factor: `x -> round(x * m / 2^shift)`.
///
/// Valid factors have `0 <= m < 2^31` and `shift <= 62` (checked by the model loader).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Requant {
    /// Multiplier, `0 <= m < 2^31`.
    pub m: i32,
    /// Right shift, `<= 62`.
    pub shift: u8,
}

impl Requant {
    /// Applies the factor to a 32-bit value: `|x * m| < 2^62`, so the product cannot overflow.
    #[inline]
    pub fn apply(self, x: i32) -> i64 {
        rshift_round(x as i64 * self.m as i64, self.shift as u32)
    }

    /// Whether the factor is within the allowed ranges.
    pub fn is_valid(self) -> bool {
        self.m >= 0 && (self.shift as u32) <= MAX_SHIFT
    }
}

/// Saturates to `[-127, 127]`.
#[inline]
pub fn sat_i8(x: i64) -> i8 {
    x.clamp(-127, 127) as i8
}

/// Saturates to `[-32767, 32767]`.
#[inline]
pub fn sat_i16(x: i64) -> i16 {
    x.clamp(-32767, 32767) as i16
}

/// `i8 x i8 -> i32` dot product, written in fixed-width chunks so the compiler vectorises it.
///
/// With `len <= MAX_DOT_LEN` the sum is at most `2^16 * 127^2 < 2^30`: no overflow.
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    const L: usize = 32;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0i32; L];
    let mut ca = a.chunks_exact(L);
    let mut cb = b.chunks_exact(L);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..L {
            acc[i] += x[i] as i32 * y[i] as i32;
        }
    }
    let mut s: i32 = acc.iter().sum();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += *x as i32 * *y as i32;
    }
    s
}

/// Integer exponential (I-BERT i-exp) of a non-positive Q12 value; result in Q30.
///
/// `x = -q ln2 + r` with `r` in `(-ln2, 0]`; `exp(r) ~ 0.3585 (r + 1.353)^2 + 0.344`;
/// `exp(x) = exp(r) >> q`. Inputs above 0 are treated as 0. Error at most `5e-3 exp(x) + 2^-28` for `x >= -20` (tested).
pub fn i_exp(x: i64) -> i64 {
    let x = x.clamp(-SAT_Q12 * 2, 0);
    let q = (-x) / LN2_Q12;
    let r = x + q * LN2_Q12;
    let t = r + EXP_B_Q12; // in (2703, 5542]
    let poly = rshift_round(EXP_A_Q16 * t * t, 16 + 2 * FRAC_BITS - EXP_OUT_BITS) + EXP_C_Q30;
    if q >= 62 {
        0
    } else {
        rshift_round(poly, q as u32)
    }
}

/// Integer softmax over one row of Q12 scores; probabilities in Q15 (`2^15` = 1).
///
/// Each score is clamped to `+-2^24`; the maximum is subtracted; `e_i = i_exp(s_i - max)`
/// (`<= 2^30 + 2^20`); `p_i = round(e_i 2^15 / sum e)`. The row maximum contributes
/// `e >= 2^30`, so the sum is never zero; with at most `2^16` entries the sum stays below
/// `2^47` and `e_i 2^15 < 2^46`.
pub fn softmax_q15(scores: &[i64], out: &mut [i32]) {
    let mut max = i64::MIN;
    for &s in scores {
        max = max.max(s.clamp(-SAT_Q12, SAT_Q12));
    }
    let mut sum: i64 = 0;
    for &s in scores {
        sum += i_exp(s.clamp(-SAT_Q12, SAT_Q12) - max);
    }
    // Second pass recomputes e_i (cheap) to avoid a temporary buffer.
    for (o, &s) in out.iter_mut().zip(scores) {
        let e = i_exp(s.clamp(-SAT_Q12, SAT_Q12) - max);
        *o = div_round(e << PROB_BITS, sum.max(1)) as i32;
    }
}

/// Integer erf (I-BERT i-erf) of a non-negative Q12 value; result in Q24, in `[0, 2^24]`.
///
/// `erf(w) ~ 1 + a (min(w, -b) + b)^2` with `a = -0.2888`, `b = -1.769`.
#[inline]
pub fn i_erf_pos_q24(w: i64) -> i64 {
    let c = w.clamp(0, ERF_B_Q12) - ERF_B_Q12; // in [-7246, 0]
    (1i64 << 24) - rshift_round(ERF_A_Q12 * c * c, FRAC_BITS)
}

/// Integer GELU (I-BERT i-GELU) of a Q12 value; result in Q12.
///
/// `gelu(x) = x/2 (1 + erf(x / sqrt 2))`. Input clamped to `+-2^24`, so
/// `|z (2^24 + erf)| <= 2^24 2^25 = 2^49`. Absolute error below `0.02 + 2^-11`.
#[inline]
pub fn i_gelu_q12(z: i64) -> i64 {
    let z = z.clamp(-SAT_Q12, SAT_Q12);
    let w = rshift_round(z.abs() * INV_SQRT2_Q15, 15);
    let e = i_erf_pos_q24(w);
    let s = if z < 0 { -e } else { e };
    rshift_round(z * ((1i64 << 24) + s), 25)
}

/// Integer square root: the largest `r` with `r^2 <= n` (Newton iteration from above).
pub fn isqrt(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let bits = 64 - n.leading_zeros();
    let mut x: u64 = 1u64 << bits.div_ceil(2); // >= sqrt(n)
    loop {
        let y = (x + n / x) / 2;
        if y >= x {
            return x;
        }
        x = y;
    }
}

/// Integer layer normalisation of one row.
///
/// * `u`: inputs, each already clamped to `+-2^23`; `g`: gains (i32); `b`: biases (i64, `|b| <= 2^60`);
/// * `eps`: epsilon in units of the input scale squared; `shift`: output shift (`<= 62`).
///
/// `mean = round(sum u / H)`, `d = u - mean` (`|d| <= 2^24`), `var = floor(sum d^2 / H) + eps`
/// (`sum d^2 <= 2^48 H < 2^62` for `H <= 2^13`), `std = isqrt(var)`,
/// `n = round(d 2^12 / std)` (`|n| <= 2^12 (sqrt(H) + 1)`), `y = round((n g + b) / 2^shift)`
/// saturated to i16. When `std = 0`, `n = 0`.
pub fn layer_norm_i16(u: &[i64], g: &[i32], b: &[i64], eps: i64, shift: u32, out: &mut [i16]) {
    let h = u.len() as i64;
    if h == 0 {
        return;
    }
    let sum: i64 = u.iter().sum();
    let mean = div_round(sum, h);
    let mut ss: i64 = 0;
    for &x in u {
        let d = x - mean;
        ss += d * d;
    }
    let var = (ss / h).saturating_add(eps.max(0));
    let std = isqrt(var as u64) as i64;
    for (((o, &x), &gi), &bi) in out.iter_mut().zip(u).zip(g).zip(b) {
        let n = if std == 0 {
            0
        } else {
            div_round((x - mean) << LN_NORM_BITS, std)
        };
        *o = sat_i16(rshift_round(n * gi as i64 + bi, shift));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn exp_f(x: f64) -> f64 {
        x.exp()
    }

    fn erf_ref(x: f64) -> f64 {
        // Abramowitz-Stegun 7.1.26 (|err| < 1.5e-7).
        let s = if x < 0.0 { -1.0 } else { 1.0 };
        let x = x.abs();
        let t = 1.0 / (1.0 + 0.3275911 * x);
        let y = 1.0
            - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
                + 0.254829592)
                * t
                * (-x * x).exp();
        s * y
    }

    #[test]
    fn rshift_round_half_away_from_zero() {
        assert_eq!(rshift_round(5, 1), 3); // 2.5 -> 3
        assert_eq!(rshift_round(-5, 1), -3); // -2.5 -> -3
        assert_eq!(rshift_round(3, 1), 2); // 1.5 -> 2
        assert_eq!(rshift_round(-3, 1), -2);
        assert_eq!(rshift_round(6, 2), 2); // 1.5 -> 2
        assert_eq!(rshift_round(5, 2), 1); // 1.25 -> 1
        assert_eq!(rshift_round(-6, 2), -2);
        assert_eq!(rshift_round(-5, 2), -1);
        assert_eq!(rshift_round(7, 0), 7);
        assert_eq!(div_round(7, 2), 4);
        assert_eq!(div_round(-7, 2), -4);
        assert_eq!(div_round(-5, 3), -2);
    }

    #[test]
    fn requant_matches_rational_rounding() {
        // m / 2^s = 3/4: exact rational rounding half away from zero.
        let r = Requant {
            m: 3 << 20,
            shift: 22,
        };
        for x in -1000i32..1000 {
            let num = x as i64 * 3;
            let want = div_round(num, 4);
            assert_eq!(r.apply(x), want, "x={x}");
        }
        // Extremes cannot overflow.
        let big = Requant {
            m: i32::MAX,
            shift: 62,
        };
        assert_eq!(big.apply(i32::MAX), 1);
        assert_eq!(big.apply(i32::MIN), -1);
        assert_eq!(sat_i8(300), 127);
        assert_eq!(sat_i8(-300), -127);
        assert_eq!(sat_i16(-40000), -32767);
    }

    #[test]
    fn dot_matches_naive() {
        let a: alloc::vec::Vec<i8> = (0..1000).map(|i| ((i * 37) % 255 - 127) as i8).collect();
        let b: alloc::vec::Vec<i8> = (0..1000).map(|i| ((i * 91) % 255 - 127) as i8).collect();
        for len in [0, 1, 31, 32, 33, 100, 1000] {
            let naive: i32 = a[..len]
                .iter()
                .zip(&b[..len])
                .map(|(x, y)| *x as i32 * *y as i32)
                .sum();
            assert_eq!(dot_i8(&a[..len], &b[..len]), naive);
        }
        let max = alloc::vec![-127i8; MAX_DOT_LEN];
        assert_eq!(dot_i8(&max, &max), (MAX_DOT_LEN as i32) * 127 * 127);
    }

    #[test]
    fn i_exp_within_bound() {
        let mut worst: f64 = 0.0;
        for x in (-(20 << FRAC_BITS)..=0).step_by(7) {
            let got = i_exp(x) as f64 / (1u64 << EXP_OUT_BITS) as f64;
            let want = exp_f(x as f64 / 4096.0);
            let err = (got - want).abs();
            assert!(
                err <= 5e-3 * want + 1.0 / (1u64 << 28) as f64,
                "x={x} got={got} want={want}"
            );
            worst = worst.max(err / want.max(1e-9));
        }
        assert!(worst > 0.0);
        assert_eq!(i_exp(1 << 20), i_exp(0));
        assert_eq!(i_exp(-(1 << 40)), 0);
    }

    #[test]
    fn softmax_sums_to_one_and_tracks_float() {
        let scores: alloc::vec::Vec<i64> = (0..100).map(|i| ((i * 7919) % 20000) - 10000).collect();
        let mut p = alloc::vec![0i32; 100];
        softmax_q15(&scores, &mut p);
        let total: i64 = p.iter().map(|&x| x as i64).sum();
        assert!((total - 32768).abs() <= 50, "total {total}");
        let m = scores.iter().copied().max().unwrap() as f64 / 4096.0;
        let z: f64 = scores.iter().map(|&s| (s as f64 / 4096.0 - m).exp()).sum();
        for (i, &s) in scores.iter().enumerate() {
            let want = (s as f64 / 4096.0 - m).exp() / z;
            let got = p[i] as f64 / 32768.0;
            assert!((got - want).abs() < 3e-3 * want + 2.0 / 32768.0, "i={i}");
        }
    }

    #[test]
    fn i_gelu_within_bound() {
        for z in (-(8 << FRAC_BITS)..=(8 << FRAC_BITS)).step_by(3) {
            let x = z as f64 / 4096.0;
            let want = 0.5 * x * (1.0 + erf_ref(x / core::f64::consts::SQRT_2));
            let got = i_gelu_q12(z) as f64 / 4096.0;
            assert!(
                (got - want).abs() <= 0.02 + 1.0 / 2048.0,
                "x={x} got={got} want={want}"
            );
        }
        // Large inputs: identity for positive, zero for negative.
        assert_eq!(i_gelu_q12(100 << FRAC_BITS), 100 << FRAC_BITS);
        assert_eq!(i_gelu_q12(-(100 << FRAC_BITS)), 0);
    }

    #[test]
    fn isqrt_is_floor_sqrt() {
        for n in 0u64..100_000 {
            let r = isqrt(n);
            assert!(r * r <= n && (r + 1) * (r + 1) > n, "n={n}");
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let r = isqrt(x) as u128;
            assert!(r * r <= x as u128 && (r + 1) * (r + 1) > x as u128, "n={x}");
        }
        assert_eq!(isqrt(u64::MAX), u32::MAX as u64);
    }

    #[test]
    fn layer_norm_tracks_float() {
        let u: alloc::vec::Vec<i64> = (0..384)
            .map(|i| ((i * 7919) % 4001) as i64 * 37 - 70000)
            .collect();
        let g = alloc::vec![1i32 << 16; 384]; // gamma = 1 with output scale 2^-8 and shift 20
        let b = alloc::vec![0i64; 384];
        let mut out = alloc::vec![0i16; 384];
        layer_norm_i16(&u, &g, &b, 0, 20, &mut out);
        let mean = u.iter().sum::<i64>() as f64 / 384.0;
        let var = u.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / 384.0;
        for (i, &x) in u.iter().enumerate() {
            let want = (x as f64 - mean) / var.sqrt() * 256.0;
            assert!(
                (out[i] as f64 - want).abs() <= 1.0 + want.abs() * 1e-3,
                "i={i}"
            );
        }
        // Constant rows normalise to the bias.
        let c = alloc::vec![5i64; 8];
        let mut o = alloc::vec![0i16; 8];
        layer_norm_i16(&c, &[1 << 16; 8], &[3 << 20; 8], 0, 20, &mut o);
        assert_eq!(o, alloc::vec![3i16; 8]);
    }
}
