// gpu-verify's layer kernels: everything between the GEMMs of a committed layer
// (requantisation, softmax attention, GELU, residual + layer norm, the v2 split and join),
// compiled at run time by NVRTC. Each helper is a line-for-line port of gpu-verify-core's
// `numerics.rs` / `engine.rs`, in plain 64-bit integer C: no floats, no 128-bit types (NVRTC
// needs a flag for those), no shared memory and no barriers. One thread computes one value or
// one row, so the result cannot depend on scheduling, and the same file compiles for the host
// (crate `gpu-verify-cuda-host`), where tests check it bit-for-bit against the CPU engine.
//
// Types: i8 activations are `signed char`, i16 `short`, accumulators `int`, wide values
// `long long`. Requantisation factors arrive as two int arrays (multiplier, shift).
// Negative values are scaled by multiplying, never by `<<` (undefined for them in C++17);
// `>>` on them is arithmetic on every compiler that builds this file (NVRTC, GCC, Clang).

typedef long long i64;
typedef unsigned long long u64;

#define GV_SAT_Q12 (1LL << 24)
#define GV_SAT_LN_IN (1LL << 23)
#define GV_FRAC_BITS 12
#define GV_PROB_BITS 15
#define GV_EXP_OUT_BITS 30
#define GV_LN_NORM_BITS 12
#define GV_LN2_Q12 2839LL
#define GV_EXP_B_Q12 5542LL
#define GV_EXP_A_Q16 23495LL
#define GV_EXP_C_Q30 369367187LL
#define GV_INV_SQRT2_Q15 23170LL
#define GV_ERF_B_Q12 7246LL
#define GV_ERF_A_Q12 1183LL
#define GV_SPLIT_MAX (127LL * 256LL)
// Largest head width the attention kernels take (a thread keeps one context row).
#define GV_ATT_MAX_D 128

__device__ __forceinline__ i64 gv_clamp(i64 x, i64 lo, i64 hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

// numerics::rshift_round: round half away from zero. |x| < 2^62.
__device__ __forceinline__ i64 rshift_round(i64 x, unsigned shift) {
    if (shift == 0) return x;
    if (shift >= 63) return 0;
    const i64 half = 1LL << (shift - 1);
    return x >= 0 ? (x + half) >> shift : -((-x + half) >> shift);
}

// numerics::div_round (b > 0).
__device__ __forceinline__ i64 gv_div_round(i64 a, i64 b) {
    const i64 h = b / 2;
    return a >= 0 ? (a + h) / b : -((-a + h) / b);
}

// Requant::apply.
__device__ __forceinline__ i64 gv_requant(int x, int m, int shift) {
    return rshift_round((i64)x * (i64)m, (unsigned)shift);
}

__device__ __forceinline__ signed char gv_sat_i8(i64 x) { return (signed char)gv_clamp(x, -127, 127); }
__device__ __forceinline__ short gv_sat_i16(i64 x) { return (short)gv_clamp(x, -32767, 32767); }

// i32::saturating_add (the v1 bias add).
__device__ __forceinline__ int gv_sat_add32(int a, int b) {
    return (int)gv_clamp((i64)a + (i64)b, -2147483648LL, 2147483647LL);
}

// Requant::apply_wide: round(x m / 2^shift) of the exact 128-bit product, saturated to
// +-2^62. The product |x| m < 2^94 is formed from 32-bit halves of |x| in two 64-bit words;
// rounding is on the magnitude (half away from zero), as rshift_round_i128 does.
__device__ __forceinline__ i64 gv_apply_wide(i64 x, int m, int shift) {
    const u64 ax = x < 0 ? (u64)0 - (u64)x : (u64)x;
    const u64 um = (u64)(unsigned)m;
    const u64 p0 = (ax & 0xffffffffULL) * um; // < 2^63
    const u64 p1 = (ax >> 32) * um;           // < 2^63
    u64 lo = p0 + (p1 << 32);
    u64 hi = (p1 >> 32) + (lo < p0 ? 1 : 0);
    const unsigned s = (unsigned)shift;
    if (s > 0) {
        const u64 half = 1ULL << (s - 1);
        const u64 l2 = lo + half;
        hi += l2 < lo ? 1 : 0;
        lo = l2;
        lo = (lo >> s) | (hi << (64 - s));
        hi >>= s;
    }
    const u64 cap = 1ULL << 62;
    const u64 mag = (hi != 0 || lo > cap) ? cap : lo;
    return x < 0 ? -(i64)mag : (i64)mag;
}

// numerics::i_exp: Q12 (<= 0) to Q30.
__device__ __forceinline__ i64 gv_i_exp(i64 x) {
    x = gv_clamp(x, -GV_SAT_Q12 * 2, 0);
    const i64 q = (-x) / GV_LN2_Q12;
    const i64 r = x + q * GV_LN2_Q12;
    const i64 t = r + GV_EXP_B_Q12;
    const i64 poly =
        rshift_round(GV_EXP_A_Q16 * t * t, 16 + 2 * GV_FRAC_BITS - GV_EXP_OUT_BITS) + GV_EXP_C_Q30;
    return q >= 62 ? 0 : rshift_round(poly, (unsigned)q);
}

// numerics::i_gelu_q12.
__device__ __forceinline__ i64 gv_i_gelu_q12(i64 z) {
    z = gv_clamp(z, -GV_SAT_Q12, GV_SAT_Q12);
    const i64 w = rshift_round((z < 0 ? -z : z) * GV_INV_SQRT2_Q15, 15);
    const i64 c = gv_clamp(w, 0, GV_ERF_B_Q12) - GV_ERF_B_Q12;
    const i64 e = (1LL << 24) - rshift_round(GV_ERF_A_Q12 * c * c, GV_FRAC_BITS);
    const i64 s = z < 0 ? -e : e;
    return rshift_round(z * ((1LL << 24) + s), 25);
}

// numerics::gelu_table_q12 over the 1025-entry Q16 table.
__device__ __forceinline__ i64 gv_gelu_table_q12(i64 z, const int* __restrict__ table) {
    z = gv_clamp(z, -GV_SAT_Q12, GV_SAT_Q12);
    const i64 edge = 8LL << GV_FRAC_BITS;
    if (z >= edge) return z;
    if (z <= -edge) return 0;
    const i64 u = z + edge;
    const int i = (int)(u >> 6);
    const i64 f = u & 63;
    const i64 a = table[i];
    const i64 b = table[i + 1 < 1024 ? i + 1 : 1024];
    return rshift_round(a * 64 + (b - a) * f, 10);
}

// numerics::isqrt (Newton from above).
__device__ __forceinline__ u64 gv_isqrt(u64 n) {
    if (n < 2) return n;
    unsigned bits = 0;
    for (u64 v = n; v != 0; v >>= 1) ++bits;
    u64 x = 1ULL << ((bits + 1) / 2);
    for (;;) {
        const u64 y = (x + n / x) / 2;
        if (y >= x) return x;
        x = y;
    }
}

// numerics::row_shift.
__device__ __forceinline__ unsigned gv_row_shift(u64 amax) {
    const u64 cap = 1ULL << 62;
    const i64 a = (i64)(amax < cap ? amax : cap);
    unsigned s = 0;
    while (s < 62 && rshift_round(a, s) > GV_SPLIT_MAX) ++s;
    return s;
}

// numerics::join_hi_lo.
__device__ __forceinline__ i64 gv_join_hi_lo(int acc_hi, int acc_lo, unsigned shift) {
    return ((i64)acc_hi * 256 + (i64)acc_lo) * (1LL << (shift < 22 ? shift : 22));
}

// numerics::layer_norm_i16 of one row u[0..h).
__device__ __forceinline__ void gv_layer_norm_row(const i64* __restrict__ u,
                                                  const int* __restrict__ g,
                                                  const i64* __restrict__ b,
                                                  i64 eps, unsigned shift,
                                                  short* __restrict__ out, int h) {
    if (h == 0) return;
    i64 sum = 0;
    for (int c = 0; c < h; ++c) sum += u[c];
    const i64 mean = gv_div_round(sum, (i64)h);
    i64 ss = 0;
    for (int c = 0; c < h; ++c) {
        const i64 d = u[c] - mean;
        ss += d * d;
    }
    const i64 q = ss / (i64)h;
    const i64 e = eps > 0 ? eps : 0;
    const i64 var = q > 9223372036854775807LL - e ? 9223372036854775807LL : q + e;
    const i64 sd = (i64)gv_isqrt((u64)var);
    for (int c = 0; c < h; ++c) {
        const i64 n = sd == 0 ? 0 : gv_div_round((u[c] - mean) * (1LL << GV_LN_NORM_BITS), sd);
        out[c] = gv_sat_i16(rshift_round(n * (i64)g[c] + b[c], shift));
    }
}

// numerics::softmax_q15's pieces for one score (clamped as the CPU clamps it).
__device__ __forceinline__ i64 gv_score_clamp(i64 s) { return gv_clamp(s, -GV_SAT_Q12, GV_SAT_Q12); }

#define GV_INDEX() ((i64)blockIdx.x * (i64)blockDim.x + (i64)threadIdx.x)

// ---- element-wise passes (one thread per value) ------------------------------------------

// v1 `to_i8`: i16 block input to int8 GEMM input, one factor per column.
extern "C" __global__ void requant_i16_i8(const short* __restrict__ h,
                                          const int* __restrict__ rq_m,
                                          const int* __restrict__ rq_s,
                                          signed char* __restrict__ out,
                                          i64 total, int cols) {
    const i64 i = GV_INDEX();
    if (i >= total) return;
    const int c = (int)(i % cols);
    out[i] = gv_sat_i8(gv_requant((int)h[i], rq_m[c], rq_s[c]));
}

// v1 QKV and MLP layers: sat8(requant(acc + bias)), ReLU first when `relu` is set.
extern "C" __global__ void bias_requant_i8(const int* __restrict__ acc,
                                           const int* __restrict__ bias,
                                           const int* __restrict__ rq_m,
                                           const int* __restrict__ rq_s,
                                           int relu,
                                           signed char* __restrict__ out,
                                           i64 total, int cols) {
    const i64 i = GV_INDEX();
    if (i >= total) return;
    const int c = (int)(i % cols);
    i64 v = gv_requant(gv_sat_add32(acc[i], bias[c]), rq_m[c], rq_s[c]);
    if (relu && v < 0) v = 0;
    out[i] = gv_sat_i8(v);
}

// v1 feed-forward: int8 of the i-GELU of the first layer's Q12 output.
extern "C" __global__ void gelu_v1_i8(const int* __restrict__ acc,
                                      const int* __restrict__ bias,
                                      const int* __restrict__ rq_m,
                                      const int* __restrict__ rq_s,
                                      const int* __restrict__ gelu_m,
                                      const int* __restrict__ gelu_s,
                                      signed char* __restrict__ out,
                                      i64 total, int cols) {
    const i64 i = GV_INDEX();
    if (i >= total) return;
    const int c = (int)(i % cols);
    const i64 z = gv_clamp(gv_requant(gv_sat_add32(acc[i], bias[c]), rq_m[c], rq_s[c]),
                           -GV_SAT_Q12, GV_SAT_Q12);
    out[i] = gv_sat_i8(gv_requant((int)gv_i_gelu_q12(z), gelu_m[c], gelu_s[c]));
}

// v1 layer-norm input: u = lim(lim(requant(acc + bias)) + lim(requant(residual))).
extern "C" __global__ void residual_v1(const int* __restrict__ acc,
                                       const int* __restrict__ bias,
                                       const int* __restrict__ rq_m,
                                       const int* __restrict__ rq_s,
                                       const short* __restrict__ resid,
                                       int res_m, int res_s,
                                       i64* __restrict__ u,
                                       i64 total, int cols) {
    const i64 i = GV_INDEX();
    if (i >= total) return;
    const int c = (int)(i % cols);
    const i64 p = gv_clamp(gv_requant(gv_sat_add32(acc[i], bias[c]), rq_m[c], rq_s[c]),
                           -GV_SAT_LN_IN, GV_SAT_LN_IN);
    const i64 r = gv_clamp(gv_requant((int)resid[i], res_m, res_s), -GV_SAT_LN_IN, GV_SAT_LN_IN);
    u[i] = gv_clamp(p + r, -GV_SAT_LN_IN, GV_SAT_LN_IN);
}

// v2: the wide accumulator of (row, c) from the split GEMM's rows 2 row and 2 row + 1, with
// the bias added at the base scale and the factor applied (WideAcc::out).
__device__ __forceinline__ i64 gv_wide_out(const int* __restrict__ acc,
                                           const int* __restrict__ shifts,
                                           const int* __restrict__ bias,
                                           const int* __restrict__ rq_m,
                                           const int* __restrict__ rq_s,
                                           i64 row, int c, int cols) {
    const i64 at = 2 * row * cols + c;
    const i64 v = gv_join_hi_lo(acc[at], acc[at + cols], (unsigned)shifts[row]);
    return gv_apply_wide(v + (i64)bias[c], rq_m[c], rq_s[c]);
}

// v2 QKV: int16 queries, keys and values.
extern "C" __global__ void wide_out_i16(const int* __restrict__ acc,
                                        const int* __restrict__ shifts,
                                        const int* __restrict__ bias,
                                        const int* __restrict__ rq_m,
                                        const int* __restrict__ rq_s,
                                        short* __restrict__ out,
                                        i64 total, int cols) {
    const i64 i = GV_INDEX();
    if (i >= total) return;
    const i64 row = i / cols;
    const int c = (int)(i % cols);
    out[i] = gv_sat_i16(gv_wide_out(acc, shifts, bias, rq_m, rq_s, row, c, cols));
}

// v2 feed-forward: table GELU of the first layer's Q12 output, kept wide.
extern "C" __global__ void wide_gelu(const int* __restrict__ acc,
                                     const int* __restrict__ shifts,
                                     const int* __restrict__ bias,
                                     const int* __restrict__ rq_m,
                                     const int* __restrict__ rq_s,
                                     const int* __restrict__ table,
                                     i64* __restrict__ out,
                                     i64 total, int cols) {
    const i64 i = GV_INDEX();
    if (i >= total) return;
    const i64 row = i / cols;
    const int c = (int)(i % cols);
    const i64 z = gv_wide_out(acc, shifts, bias, rq_m, rq_s, row, c, cols);
    out[i] = gv_gelu_table_q12(gv_clamp(z, -GV_SAT_Q12, GV_SAT_Q12), table);
}

// v2 layer-norm input: u = lim(lim(projected) + lim(requant(residual))).
extern "C" __global__ void residual_v2(const int* __restrict__ acc,
                                       const int* __restrict__ shifts,
                                       const int* __restrict__ bias,
                                       const int* __restrict__ rq_m,
                                       const int* __restrict__ rq_s,
                                       const short* __restrict__ resid,
                                       int res_m, int res_s,
                                       i64* __restrict__ u,
                                       i64 total, int cols) {
    const i64 i = GV_INDEX();
    if (i >= total) return;
    const i64 row = i / cols;
    const int c = (int)(i % cols);
    const i64 p = gv_clamp(gv_wide_out(acc, shifts, bias, rq_m, rq_s, row, c, cols),
                           -GV_SAT_LN_IN, GV_SAT_LN_IN);
    const i64 r = gv_clamp(gv_requant((int)resid[i], res_m, res_s), -GV_SAT_LN_IN, GV_SAT_LN_IN);
    u[i] = gv_clamp(p + r, -GV_SAT_LN_IN, GV_SAT_LN_IN);
}

// Embeddings: u = lim(lim(word) + lim(position) + lim(type)) for one value. The word rows
// were gathered on the host (`word_q` is [rows, h], one factor per row).
extern "C" __global__ void embed_sum(const signed char* __restrict__ word_q,
                                     const int* __restrict__ word_m,
                                     const int* __restrict__ word_s,
                                     const signed char* __restrict__ pos_q,
                                     const int* __restrict__ pos_m,
                                     const int* __restrict__ pos_s,
                                     const int* __restrict__ positions,
                                     const signed char* __restrict__ typ_q,
                                     int typ_m, int typ_s,
                                     i64* __restrict__ u,
                                     i64 total, int h) {
    const i64 i = GV_INDEX();
    if (i >= total) return;
    const i64 row = i / h;
    const int c = (int)(i % h);
    const int p = positions[row];
    const i64 w = gv_clamp(gv_requant((int)word_q[i], word_m[row], word_s[row]),
                           -GV_SAT_LN_IN, GV_SAT_LN_IN);
    const i64 q = gv_clamp(gv_requant((int)pos_q[(i64)p * h + c], pos_m[p], pos_s[p]),
                           -GV_SAT_LN_IN, GV_SAT_LN_IN);
    const i64 t = gv_clamp(gv_requant((int)typ_q[c], typ_m, typ_s), -GV_SAT_LN_IN, GV_SAT_LN_IN);
    u[i] = gv_clamp(w + q + t, -GV_SAT_LN_IN, GV_SAT_LN_IN);
}

// ---- row passes (one thread per row) ------------------------------------------------------

// Layer norm of every row of u [rows, h] into i16.
extern "C" __global__ void layer_norm_rows(const i64* __restrict__ u,
                                           const int* __restrict__ g,
                                           const i64* __restrict__ b,
                                           i64 eps, int shift,
                                           short* __restrict__ out,
                                           i64 rows, int h) {
    const i64 r = GV_INDEX();
    if (r >= rows) return;
    gv_layer_norm_row(u + r * h, g, b, eps, (unsigned)shift, out + r * h, h);
}

// v2 split of one wide row (wide_linear): shift the row to at most SPLIT_MAX, then write the
// int8 high halves to row 2r and the low halves to row 2r + 1 of x.
template <typename T>
__device__ __forceinline__ void gv_split_row(const T* __restrict__ y, i64 r, int k,
                                             int* __restrict__ shifts,
                                             signed char* __restrict__ x) {
    const T* row = y + r * k;
    u64 amax = 0;
    for (int c = 0; c < k; ++c) {
        const i64 v = (i64)row[c];
        const u64 a = v < 0 ? (u64)0 - (u64)v : (u64)v;
        amax = a > amax ? a : amax;
    }
    const unsigned s = gv_row_shift(amax);
    shifts[r] = (int)s;
    signed char* hi = x + 2 * r * k;
    signed char* lo = hi + k;
    for (int c = 0; c < k; ++c) {
        const i64 v = gv_clamp(rshift_round((i64)row[c], s), -GV_SPLIT_MAX, GV_SPLIT_MAX);
        const i64 h = (v + 128) >> 8;
        hi[c] = (signed char)h;
        lo[c] = (signed char)(v - h * 256);
    }
}

extern "C" __global__ void split_rows_i16(const short* __restrict__ y, i64 rows, int k,
                                          int* __restrict__ shifts,
                                          signed char* __restrict__ x) {
    const i64 r = GV_INDEX();
    if (r >= rows) return;
    gv_split_row<short>(y, r, k, shifts, x);
}

extern "C" __global__ void split_rows_i64(const i64* __restrict__ y, i64 rows, int k,
                                          int* __restrict__ shifts,
                                          signed char* __restrict__ x) {
    const i64 r = GV_INDEX();
    if (r >= rows) return;
    gv_split_row<i64>(y, r, k, shifts, x);
}

// ---- attention (one thread per query row and head) ----------------------------------------
//
// qkv holds rows [rows, 3 hd] (queries, keys, values). Thread (row, head) reads its
// sequence's start and length from seq_start / seq_len (per row), computes the Q12 scores
// of its query against every key of the sequence, the Q15 softmax, and the context row
// sum_j p_j v_j. The scores are recomputed in each of the softmax's three passes instead of
// stored: integer, so the same values each time.

template <typename T, bool WIDE>
__device__ __forceinline__ i64 gv_score(const T* __restrict__ q, const T* __restrict__ k, int d,
                                        int score_m, int score_s) {
    // |q k| <= 32767^2 < 2^31: each product in 32 bits, the sum in 64.
    i64 dot = 0;
    for (int c = 0; c < d; ++c) dot += (i64)((int)q[c] * (int)k[c]);
    // v1 dots fit i32 (|q.k| <= d 127^2) and go through Requant::apply; v2 through apply_wide.
    const i64 s = WIDE ? gv_apply_wide(dot, score_m, score_s) : gv_requant((int)dot, score_m, score_s);
    return gv_score_clamp(s);
}

template <typename T, bool WIDE>
__device__ __forceinline__ void gv_attend(const T* __restrict__ qkv,
                                          const int* __restrict__ seq_start,
                                          const int* __restrict__ seq_len,
                                          int hd, int heads, int score_m, int score_s,
                                          i64 job, i64* __restrict__ ctx_acc) {
    const i64 row = job / heads;
    const int head = (int)(job % heads);
    const int d = hd / heads;
    const i64 r0 = seq_start[row];
    const int t = seq_len[row];
    const i64 stride = 3LL * hd;
    const T* q = qkv + row * stride + head * d;
    i64 mx = -GV_SAT_Q12;
    for (int j = 0; j < t; ++j) {
        const i64 s = gv_score<T, WIDE>(q, qkv + (r0 + j) * stride + hd + head * d, d, score_m, score_s);
        mx = s > mx ? s : mx;
    }
    i64 sum = 0;
    for (int j = 0; j < t; ++j) {
        const i64 s = gv_score<T, WIDE>(q, qkv + (r0 + j) * stride + hd + head * d, d, score_m, score_s);
        sum += gv_i_exp(s - mx);
    }
    if (sum < 1) sum = 1;
    for (int c = 0; c < d; ++c) ctx_acc[c] = 0;
    for (int j = 0; j < t; ++j) {
        const i64 s = gv_score<T, WIDE>(q, qkv + (r0 + j) * stride + hd + head * d, d, score_m, score_s);
        // p <= 2^15 and |v| <= 32767: each product fits 32 bits.
        const int p = (int)gv_div_round(gv_i_exp(s - mx) << GV_PROB_BITS, sum);
        const T* v = qkv + (r0 + j) * stride + 2 * hd + head * d;
        for (int c = 0; c < d; ++c) ctx_acc[c] += (i64)(p * (int)v[c]);
    }
}

// v1: int8 queries/keys/values; context requantised to int8 per channel.
extern "C" __global__ void attention_v1(const signed char* __restrict__ qkv,
                                        const int* __restrict__ seq_start,
                                        const int* __restrict__ seq_len,
                                        i64 rows, int hd, int heads,
                                        int score_m, int score_s,
                                        const int* __restrict__ ctx_m,
                                        const int* __restrict__ ctx_s,
                                        signed char* __restrict__ ctx) {
    const i64 job = GV_INDEX();
    if (job >= rows * heads) return;
    i64 acc[GV_ATT_MAX_D];
    gv_attend<signed char, false>(qkv, seq_start, seq_len, hd, heads, score_m, score_s, job, acc);
    const i64 row = job / heads;
    const int head = (int)(job % heads);
    const int d = hd / heads;
    for (int c = 0; c < d; ++c) {
        const int ch = head * d + c;
        ctx[row * hd + ch] = gv_sat_i8(gv_requant((int)acc[c], ctx_m[ch], ctx_s[ch]));
    }
}

// v2: int16 queries/keys/values; context round(sum / 2^15) at the values' scale, kept wide.
extern "C" __global__ void attention_v2(const short* __restrict__ qkv,
                                        const int* __restrict__ seq_start,
                                        const int* __restrict__ seq_len,
                                        i64 rows, int hd, int heads,
                                        int score_m, int score_s,
                                        i64* __restrict__ ctx) {
    const i64 job = GV_INDEX();
    if (job >= rows * heads) return;
    i64 acc[GV_ATT_MAX_D];
    gv_attend<short, true>(qkv, seq_start, seq_len, hd, heads, score_m, score_s, job, acc);
    const i64 row = job / heads;
    const int head = (int)(job % heads);
    const int d = hd / heads;
    for (int c = 0; c < d; ++c) {
        ctx[row * hd + head * d + c] = (i64)(int)rshift_round(acc[c], GV_PROB_BITS);
    }
}
