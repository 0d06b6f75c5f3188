//! Numerics v1 and v2: the integer kernels every engine shares.
//!
//! v1 feeds every GEMM int8 activations at a calibrated per-tensor scale (per-channel
//! smoothing folded into the requantisation) and uses I-BERT's polynomial GELU. v2 (see
//! `README.md`) feeds each GEMM *wide* activations: every row gets its own power-of-two
//! scale and 15 significant bits, split into two int8 halves that run through the same
//! int8 GEMM ([`row_shift`], [`split_hi_lo`], [`join_hi_lo`]); queries, keys and values are
//! int16; GELU is a table with linear interpolation ([`gelu_table_q12`]). A model file
//! names its version and keeps the meaning it was built with.
//!
//! Nothing here uses floating point. All rounding is **round half away from zero**;
//! all saturation is symmetric (`i8` to `[-127, 127]`, `i16` to `[-32767, 32767]`).
//! The overflow bounds of each function are stated on it and proved in `README.md`.

/// Numerics v1: static int8 activations, polynomial GELU.
pub const NUMERICS_V1: u32 = 1;
/// Numerics v2: per-row wide activations split into int8 halves, int16 attention, table GELU.
pub const NUMERICS_V2: u32 = 2;
/// The numerics version new model files are written with.
pub const NUMERICS_VERSION: u32 = NUMERICS_V2;

/// Whether this build runs models of numerics version `v` (v1 and v2).
pub const fn numerics_supported(v: u32) -> bool {
    matches!(v, NUMERICS_V1 | NUMERICS_V2)
}

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
/// Always inlined, so callers compiled for wider vector instructions vectorise it with them.
#[inline(always)]
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

/// Largest magnitude of a v2 GEMM-input value before its split: `127 * 256`.
pub const SPLIT_MAX: i64 = 127 * 256;

/// v2: the row shift `s`, the smallest with `rshift_round(amax, s) <= SPLIT_MAX`, where
/// `amax` is the largest magnitude in the row (`< 2^62`). Every value of the row is then
/// `rshift_round(x, s)`: at least 14 significant bits for the row's largest.
pub fn row_shift(amax: u64) -> u32 {
    let mut s = 0u32;
    while s < 62 && rshift_round(amax.min(1 << 62) as i64, s) > SPLIT_MAX {
        s += 1;
    }
    s
}

/// v2: splits `x` (`|x| <= SPLIT_MAX`) into `x = 256 hi + lo` with `hi` in `[-127, 127]`
/// and `lo` in `[-128, 127]` (floor division, so both halves fit int8).
#[inline]
pub fn split_hi_lo(x: i64) -> (i8, i8) {
    let x = x.clamp(-SPLIT_MAX, SPLIT_MAX);
    let hi = (x + 128) >> 8;
    (hi as i8, (x - (hi << 8)) as i8)
}

/// v2: the accumulator of a split row back at the row's base scale:
/// `(256 acc_hi + acc_lo) << s`. With `k <= 2^16`, `|256 acc_hi + acc_lo| < 2^39`; callers
/// keep `s <= 22` (their inputs are below `2^37`), so the result stays below `2^61`.
#[inline]
pub fn join_hi_lo(acc_hi: i32, acc_lo: i32, shift: u32) -> i64 {
    ((acc_hi as i64) * 256 + acc_lo as i64) << shift.min(22)
}

/// [`rshift_round`] on 128-bit values (`|x| < 2^126`).
#[inline]
pub fn rshift_round_i128(x: i128, shift: u32) -> i128 {
    if shift == 0 {
        return x;
    }
    if shift >= 127 {
        return 0;
    }
    let half = 1i128 << (shift - 1);
    if x >= 0 {
        (x + half) >> shift
    } else {
        -((-x + half) >> shift)
    }
}

impl Requant {
    /// v2: applies the factor to a wide value (`|x| < 2^94`): the product is computed in
    /// 128 bits, so it cannot overflow; the result saturates to `+-2^62`.
    #[inline]
    pub fn apply_wide(self, x: i64) -> i64 {
        let v = rshift_round_i128(x as i128 * self.m as i128, self.shift as u32);
        v.clamp(-(1i128 << 62), 1i128 << 62) as i64
    }
}

/// v2 GELU table: `round(gelu(k / 64) * 2^16)` for `k` in `[-512, 512]` (`x` in `[-8, 8]`),
/// with `gelu(x) = x/2 (1 + erf(x / sqrt 2))` computed in float64 when the table was made
/// (`scripts/gelu-table.py`); checked against a float erf by a unit test.
pub const GELU_TABLE_Q16: [i32; 1025] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -2, -2, -2, -2, -2, -2, -2, -2, -3, -3, -3, -3, -3, -4, -4,
    -4, -4, -5, -5, -5, -6, -6, -6, -7, -7, -8, -8, -9, -9, -10, -11, -11, -12, -13, -14, -14, -15,
    -16, -17, -18, -19, -20, -22, -23, -24, -26, -27, -29, -31, -32, -34, -36, -38, -41, -43, -45,
    -48, -51, -53, -56, -59, -63, -66, -70, -74, -77, -82, -86, -91, -95, -100, -106, -111, -117,
    -123, -129, -136, -143, -150, -157, -165, -173, -182, -191, -200, -210, -220, -231, -242, -253,
    -265, -278, -291, -304, -318, -333, -348, -364, -381, -398, -415, -434, -453, -473, -494, -515,
    -537, -560, -584, -608, -634, -660, -688, -716, -745, -776, -807, -839, -873, -907, -943, -979,
    -1017, -1057, -1097, -1138, -1181, -1225, -1271, -1318, -1366, -1415, -1466, -1519, -1572,
    -1628, -1684, -1743, -1803, -1864, -1927, -1991, -2058, -2125, -2195, -2266, -2339, -2413,
    -2489, -2567, -2647, -2728, -2811, -2895, -2982, -3070, -3160, -3252, -3345, -3440, -3537,
    -3635, -3735, -3837, -3940, -4045, -4152, -4260, -4370, -4481, -4594, -4709, -4824, -4942,
    -5060, -5180, -5301, -5423, -5546, -5671, -5796, -5923, -6050, -6179, -6308, -6437, -6567,
    -6698, -6829, -6961, -7093, -7225, -7357, -7489, -7620, -7752, -7883, -8014, -8144, -8273,
    -8401, -8529, -8655, -8780, -8903, -9025, -9146, -9264, -9380, -9494, -9606, -9716, -9822,
    -9926, -10027, -10125, -10219, -10310, -10398, -10481, -10560, -10635, -10706, -10772, -10833,
    -10889, -10940, -10986, -11026, -11061, -11089, -11111, -11127, -11137, -11139, -11135, -11123,
    -11105, -11079, -11045, -11003, -10953, -10895, -10828, -10753, -10669, -10576, -10474, -10362,
    -10241, -10110, -9970, -9819, -9658, -9487, -9305, -9113, -8910, -8696, -8471, -8234, -7987,
    -7728, -7457, -7175, -6881, -6575, -6257, -5927, -5585, -5230, -4863, -4484, -4093, -3689,
    -3272, -2843, -2401, -1946, -1479, -998, -506, 0, 518, 1050, 1593, 2150, 2719, 3301, 3896,
    4503, 5123, 5756, 6401, 7058, 7727, 8409, 9103, 9809, 10527, 11257, 11999, 12752, 13517, 14294,
    15081, 15880, 16690, 17511, 18343, 19185, 20038, 20901, 21774, 22658, 23551, 24454, 25366,
    26288, 27219, 28159, 29108, 30065, 31031, 32005, 32987, 33977, 34975, 35981, 36993, 38013,
    39039, 40073, 41113, 42159, 43211, 44270, 45334, 46404, 47479, 48559, 49644, 50734, 51829,
    52928, 54031, 55138, 56250, 57365, 58483, 59605, 60730, 61858, 62988, 64122, 65258, 66396,
    67536, 68678, 69823, 70969, 72116, 73265, 74415, 75567, 76719, 77872, 79026, 80181, 81336,
    82492, 83647, 84803, 85959, 87115, 88271, 89427, 90582, 91737, 92891, 94044, 95197, 96350,
    97501, 98652, 99801, 100950, 102097, 103243, 104388, 105532, 106674, 107816, 108955, 110094,
    111231, 112366, 113500, 114632, 115763, 116892, 118019, 119145, 120269, 121391, 122512, 123631,
    124748, 125864, 126978, 128090, 129201, 130309, 131416, 132521, 133625, 134727, 135827, 136925,
    138022, 139117, 140211, 141302, 142393, 143481, 144568, 145653, 146737, 147820, 148900, 149980,
    151057, 152134, 153209, 154282, 155354, 156425, 157495, 158563, 159630, 160695, 161759, 162823,
    163885, 164945, 166005, 167063, 168121, 169177, 170232, 171287, 172340, 173392, 174444, 175494,
    176544, 177592, 178640, 179687, 180733, 181778, 182823, 183867, 184910, 185953, 186994, 188035,
    189076, 190116, 191155, 192194, 193232, 194269, 195306, 196343, 197379, 198414, 199449, 200484,
    201518, 202552, 203585, 204618, 205651, 206683, 207715, 208746, 209777, 210808, 211839, 212869,
    213899, 214929, 215958, 216988, 218017, 219045, 220074, 221102, 222131, 223158, 224186, 225214,
    226241, 227269, 228296, 229323, 230349, 231376, 232403, 233429, 234455, 235482, 236508, 237534,
    238560, 239585, 240611, 241637, 242662, 243688, 244713, 245738, 246764, 247789, 248814, 249839,
    250864, 251889, 252914, 253938, 254963, 255988, 257013, 258037, 259062, 260087, 261111, 262136,
    263160, 264185, 265209, 266234, 267258, 268282, 269307, 270331, 271355, 272380, 273404, 274428,
    275452, 276477, 277501, 278525, 279549, 280573, 281598, 282622, 283646, 284670, 285694, 286718,
    287742, 288766, 289791, 290815, 291839, 292863, 293887, 294911, 295935, 296959, 297983, 299007,
    300031, 301055, 302079, 303103, 304127, 305152, 306176, 307200, 308224, 309248, 310272, 311296,
    312320, 313344, 314368, 315392, 316416, 317440, 318464, 319488, 320512, 321536, 322560, 323584,
    324608, 325632, 326656, 327680, 328704, 329728, 330752, 331776, 332800, 333824, 334848, 335872,
    336896, 337920, 338944, 339968, 340992, 342016, 343040, 344064, 345088, 346112, 347136, 348160,
    349184, 350208, 351232, 352256, 353280, 354304, 355328, 356352, 357376, 358400, 359424, 360448,
    361472, 362496, 363520, 364544, 365568, 366592, 367616, 368640, 369664, 370688, 371712, 372736,
    373760, 374784, 375808, 376832, 377856, 378880, 379904, 380928, 381952, 382976, 384000, 385024,
    386048, 387072, 388096, 389120, 390144, 391168, 392192, 393216, 394240, 395264, 396288, 397312,
    398336, 399360, 400384, 401408, 402432, 403456, 404480, 405504, 406528, 407552, 408576, 409600,
    410624, 411648, 412672, 413696, 414720, 415744, 416768, 417792, 418816, 419840, 420864, 421888,
    422912, 423936, 424960, 425984, 427008, 428032, 429056, 430080, 431104, 432128, 433152, 434176,
    435200, 436224, 437248, 438272, 439296, 440320, 441344, 442368, 443392, 444416, 445440, 446464,
    447488, 448512, 449536, 450560, 451584, 452608, 453632, 454656, 455680, 456704, 457728, 458752,
    459776, 460800, 461824, 462848, 463872, 464896, 465920, 466944, 467968, 468992, 470016, 471040,
    472064, 473088, 474112, 475136, 476160, 477184, 478208, 479232, 480256, 481280, 482304, 483328,
    484352, 485376, 486400, 487424, 488448, 489472, 490496, 491520, 492544, 493568, 494592, 495616,
    496640, 497664, 498688, 499712, 500736, 501760, 502784, 503808, 504832, 505856, 506880, 507904,
    508928, 509952, 510976, 512000, 513024, 514048, 515072, 516096, 517120, 518144, 519168, 520192,
    521216, 522240, 523264, 524288,
];

/// v2 integer GELU of a Q12 value; result in Q12. Linear interpolation in
/// [`GELU_TABLE_Q16`] inside `[-8, 8]`; `x` above and `0` below (the exact GELU differs from
/// them there by less than `2^-40`). Absolute error below `2^-12` (tested).
#[inline]
pub fn gelu_table_q12(z: i64) -> i64 {
    let z = z.clamp(-SAT_Q12, SAT_Q12);
    const EDGE: i64 = 8 << FRAC_BITS;
    if z >= EDGE {
        return z;
    }
    if z <= -EDGE {
        return 0;
    }
    // Position in table steps of 1/64 (64 Q12 units each).
    let u = z + EDGE; // in (0, 2^16)
    let (i, f) = ((u >> 6) as usize, u & 63);
    let (a, b) = (
        GELU_TABLE_Q16[i] as i64,
        GELU_TABLE_Q16[(i + 1).min(1024)] as i64,
    );
    // (a * 64 + (b - a) f) is Q22; to Q12.
    rshift_round(a * 64 + (b - a) * f, 10)
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
    fn gelu_table_within_one_q12_unit() {
        for (k, &t) in GELU_TABLE_Q16.iter().enumerate() {
            let x = (k as f64 - 512.0) / 64.0;
            let want = 0.5 * x * (1.0 + erf_ref(x / core::f64::consts::SQRT_2)) * 65536.0;
            assert!(
                (t as f64 - want).abs() <= 1.0,
                "k={k} table {t} float {want}"
            );
        }
        let mut worst: f64 = 0.0;
        for z in (-(10 << FRAC_BITS)..=(10 << FRAC_BITS)).step_by(5) {
            let x = z as f64 / 4096.0;
            let want = 0.5 * x * (1.0 + erf_ref(x / core::f64::consts::SQRT_2));
            let got = gelu_table_q12(z) as f64 / 4096.0;
            worst = worst.max((got - want).abs());
        }
        assert!(worst < 1.0 / 4096.0, "worst {worst}");
        assert_eq!(gelu_table_q12(100 << FRAC_BITS), 100 << FRAC_BITS);
        assert_eq!(gelu_table_q12(-(100 << FRAC_BITS)), 0);
        assert_eq!(gelu_table_q12(0), 0);
    }

    #[test]
    fn wide_rows_split_and_join_exactly() {
        assert_eq!(row_shift(0), 0);
        assert_eq!(row_shift(SPLIT_MAX as u64), 0);
        assert_eq!(row_shift(SPLIT_MAX as u64 + 1), 1);
        assert_eq!(row_shift(1 << 40), 26);
        assert!(rshift_round(1 << 40, 26) <= SPLIT_MAX);
        for x in -SPLIT_MAX..=SPLIT_MAX {
            let (hi, lo) = split_hi_lo(x);
            assert!((-127..=127).contains(&hi));
            assert_eq!(256 * hi as i64 + lo as i64, x, "x={x}");
        }
        // The two halves through a dot product give the wide dot product.
        let xs: alloc::vec::Vec<i64> = (0..300).map(|i| (i * 7919 % 65025) - 32512).collect();
        let w: alloc::vec::Vec<i8> = (0..300).map(|i| ((i * 31) % 255 - 127) as i8).collect();
        let (hi, lo): (alloc::vec::Vec<i8>, alloc::vec::Vec<i8>) =
            xs.iter().map(|&x| split_hi_lo(x)).unzip();
        let want: i64 = xs.iter().zip(&w).map(|(&x, &w)| x * w as i64).sum();
        assert_eq!(join_hi_lo(dot_i8(&hi, &w), dot_i8(&lo, &w), 0), want);
        assert_eq!(join_hi_lo(dot_i8(&hi, &w), dot_i8(&lo, &w), 3), want << 3);
        // Wide requantisation agrees with the 32-bit one where both apply, and does not overflow.
        let r = Requant {
            m: 3 << 20,
            shift: 22,
        };
        for x in -1000i32..1000 {
            assert_eq!(r.apply_wide(x as i64), r.apply(x));
        }
        let big = Requant {
            m: i32::MAX,
            shift: 0,
        };
        assert_eq!(big.apply_wide(1 << 61), 1 << 62);
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
