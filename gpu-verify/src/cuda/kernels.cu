// gpu-verify's CUDA kernels, compiled at run time by NVRTC. Every kernel computes
// y[i][j] = sum_t x[i][t] * w[j][t] for x [m,k] and w [n,k] (int8, row-major) into
// y [m,n] (int32, row-major). Integer sums are exact in any order, so all kernels, the CPU
// engine and cuBLASLt (int32 accumulation) give the same bytes. NVRTC compiles this file
// after `layers.cu`, whose integer helpers (`rshift_round`) it uses.

// CUDA cores, any k and any compute capability: 16x16 tiles through shared memory.
extern "C" __global__ void gemm_i8_tiled(const signed char* __restrict__ x,
                                         const signed char* __restrict__ w,
                                         int* __restrict__ y,
                                         int m, int n, int k) {
    __shared__ int xs[16][17];
    __shared__ int ws[16][17];
    const int tx = threadIdx.x;
    const int ty = threadIdx.y;
    const int row = blockIdx.y * 16 + ty;
    const int col = blockIdx.x * 16 + tx;
    const int wrow = blockIdx.x * 16 + ty;
    int acc = 0;
    for (int t0 = 0; t0 < k; t0 += 16) {
        const int kk = t0 + tx;
        xs[ty][tx] = (row < m && kk < k) ? (int)x[(long long)row * k + kk] : 0;
        ws[ty][tx] = (wrow < n && kk < k) ? (int)w[(long long)wrow * k + kk] : 0;
        __syncthreads();
        #pragma unroll
        for (int i = 0; i < 16; ++i) {
            acc += xs[ty][i] * ws[tx][i];
        }
        __syncthreads();
    }
    if (row < m && col < n) {
        y[(long long)row * n + col] = acc;
    }
}

// Tensor cores (sm_80 and later), k a multiple of 16: mma.sync m16n8k32 s8 x s8 -> s32.
// A block computes a 128x128 tile of y with four warps (2x2, 64x64 each); k advances in
// steps of 64 bytes through a two-stage cp.async pipeline. Rows of the shared tiles are
// padded to 80 bytes so the fragment loads of a warp hit 32 different banks.
#define MMA_BM 128
#define MMA_BN 128
#define MMA_BK 64
#define MMA_LDS 80

__device__ __forceinline__ unsigned smem_addr(const void* p) {
    unsigned a;
    asm volatile("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }"
                 : "=r"(a) : "l"(p));
    return a;
}

// Copies 16 bytes, or zero-fills them when `valid` is false (rows or k past the edge).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
    const int bytes = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                 :: "r"(smem_addr(dst)), "l"(src), "r"(bytes));
}

__device__ __forceinline__ void mma_s8(int* d, const int* a, const int* b) {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 "
        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

// Loads one 128x64-byte tile of `src` (rows r0.., bytes k0..) into shared memory.
__device__ __forceinline__ void load_tile(signed char* dst, const signed char* src,
                                          int rows, int k, int r0, int k0, int tid) {
    #pragma unroll
    for (int i = 0; i < 4; ++i) {
        const int c = tid + i * 128;       // 512 chunks of 16 bytes
        const int r = c >> 2;
        const int kc = (c & 3) * 16;
        const int gr = r0 + r;
        const int gk = k0 + kc;
        const bool valid = gr < rows && gk < k;
        const signed char* p = valid ? src + (long long)gr * k + gk : src;
        cp_async16(dst + r * MMA_LDS + kc, p, valid);
    }
}

extern "C" __global__ void __launch_bounds__(128)
gemm_i8_mma(const signed char* __restrict__ x,
            const signed char* __restrict__ w,
            int* __restrict__ y,
            int m, int n, int k) {
// cp.async and mma.sync s8 need sm_80: on older targets the kernel is empty (the engine
// launches it only on compute capability 8.0 and later), so the module still loads there.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    __shared__ __align__(16) signed char as[2][MMA_BM * MMA_LDS];
    __shared__ __align__(16) signed char bs[2][MMA_BN * MMA_LDS];
    const int tid = threadIdx.x;
    const int warp = tid >> 5;
    const int lane = tid & 31;
    const int g = lane >> 2;
    const int t = lane & 3;
    const int wm = (warp >> 1) * 64;
    const int wn = (warp & 1) * 64;
    const int bm0 = blockIdx.y * MMA_BM;
    const int bn0 = blockIdx.x * MMA_BN;

    int acc[4][8][4];
    #pragma unroll
    for (int i = 0; i < 4; ++i)
        #pragma unroll
        for (int j = 0; j < 8; ++j)
            #pragma unroll
            for (int r = 0; r < 4; ++r) acc[i][j][r] = 0;

    const int tiles = (k + MMA_BK - 1) / MMA_BK;
    load_tile(as[0], x, m, k, bm0, 0, tid);
    load_tile(bs[0], w, n, k, bn0, 0, tid);
    asm volatile("cp.async.commit_group;\n" ::);
    for (int kt = 0; kt < tiles; ++kt) {
        const int s = kt & 1;
        if (kt + 1 < tiles) {
            load_tile(as[s ^ 1], x, m, k, bm0, (kt + 1) * MMA_BK, tid);
            load_tile(bs[s ^ 1], w, n, k, bn0, (kt + 1) * MMA_BK, tid);
        }
        asm volatile("cp.async.commit_group;\n" ::);
        asm volatile("cp.async.wait_group 1;\n" ::);
        __syncthreads();
        #pragma unroll
        for (int kk = 0; kk < MMA_BK; kk += 32) {
            int af[4][4];
            int bf[8][2];
            #pragma unroll
            for (int i = 0; i < 4; ++i) {
                const signed char* p = as[s] + (wm + i * 16 + g) * MMA_LDS + kk + t * 4;
                af[i][0] = *(const int*)(p);
                af[i][1] = *(const int*)(p + 8 * MMA_LDS);
                af[i][2] = *(const int*)(p + 16);
                af[i][3] = *(const int*)(p + 8 * MMA_LDS + 16);
            }
            #pragma unroll
            for (int j = 0; j < 8; ++j) {
                const signed char* p = bs[s] + (wn + j * 8 + g) * MMA_LDS + kk + t * 4;
                bf[j][0] = *(const int*)(p);
                bf[j][1] = *(const int*)(p + 16);
            }
            #pragma unroll
            for (int i = 0; i < 4; ++i)
                #pragma unroll
                for (int j = 0; j < 8; ++j) mma_s8(acc[i][j], af[i], bf[j]);
        }
        __syncthreads();
    }
    asm volatile("cp.async.wait_group 0;\n" ::);

    #pragma unroll
    for (int i = 0; i < 4; ++i) {
        #pragma unroll
        for (int j = 0; j < 8; ++j) {
            const int r = bm0 + wm + i * 16 + g;
            const int c = bn0 + wn + j * 8 + t * 2;
            if (r < m) {
                if (c < n) y[(long long)r * n + c] = acc[i][j][0];
                if (c + 1 < n) y[(long long)r * n + c + 1] = acc[i][j][1];
            }
            if (r + 8 < m) {
                if (c < n) y[(long long)(r + 8) * n + c] = acc[i][j][2];
                if (c + 1 < n) y[(long long)(r + 8) * n + c + 1] = acc[i][j][3];
            }
        }
    }
#endif
}

// One availability-challenge step after its GEMM, on the device:
// out[i] = sat8(round(sat32(acc[i] + bias[i % width]) * m / 2^shift)), as
// Challenge::step computes it on the CPU.
extern "C" __global__ void challenge_requant(const int* __restrict__ acc,
                                             const int* __restrict__ bias,
                                             signed char* __restrict__ out,
                                             int n, int width, int m, unsigned shift) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    long long s = (long long)acc[i] + (long long)bias[i % width];
    s = s > 2147483647LL ? 2147483647LL : (s < -2147483648LL ? -2147483648LL : s);
    long long v = rshift_round(s * (long long)m, shift);
    v = v > 127 ? 127 : (v < -127 ? -127 : v);
    out[i] = (signed char)v;
}
