// gpu-verify's layer kernels (`../src/cuda/layers.cu`) built for the host, plus the thread
// index the kernels read and C entry points for their integer helpers.
#include "shim.h"

thread_local gv_dim3 threadIdx = {0, 0, 0};
thread_local gv_dim3 blockIdx = {0, 0, 0};
thread_local gv_dim3 blockDim = {1, 1, 1};

#include "../src/cuda/layers.cu"

extern "C" {

void gv_host_set_thread(unsigned block, unsigned thread, unsigned block_dim) {
    blockIdx.x = block;
    threadIdx.x = thread;
    blockDim.x = block_dim;
}

long long gv_host_rshift_round(long long x, unsigned shift) { return rshift_round(x, shift); }
long long gv_host_div_round(long long a, long long b) { return gv_div_round(a, b); }
long long gv_host_apply_wide(long long x, int m, int shift) { return gv_apply_wide(x, m, shift); }
long long gv_host_i_exp(long long x) { return gv_i_exp(x); }
long long gv_host_i_gelu_q12(long long z) { return gv_i_gelu_q12(z); }
long long gv_host_gelu_table_q12(long long z, const int* table) {
    return gv_gelu_table_q12(z, table);
}
unsigned long long gv_host_isqrt(unsigned long long n) { return gv_isqrt(n); }
unsigned gv_host_row_shift(unsigned long long amax) { return gv_row_shift(amax); }

}
