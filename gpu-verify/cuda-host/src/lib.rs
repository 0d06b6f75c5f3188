//! gpu-verify's CUDA layer kernels (`gpu-verify/src/cuda/layers.cu`) compiled for the CPU.
//!
//! The kernels use no shared memory and no barriers, and each thread writes only its own
//! outputs, so running a launch's threads one after another is a faithful execution of the
//! very source NVRTC compiles for the GPU. Tests drive gpu-verify's device-resident layer
//! path through these functions and compare every layer with the CPU engine, which checks
//! the kernels' arithmetic and the path's orchestration on machines without a GPU. Only the
//! CUDA plumbing (copies, launches, the device GEMM) is left for a GPU to check.
//!
//! Everything here is `unsafe` FFI: pointers must be valid for the extents the kernel
//! reads and writes (see each kernel in `layers.cu`).
#![allow(unsafe_code)]

use std::os::raw::{c_int, c_longlong, c_short, c_uint, c_ulonglong};

/// Threads per block of [`launch`] (what the GPU path launches too).
pub const BLOCK: u64 = 256;

/// Runs `kernel` once per thread of a launch of `threads` threads, in order, with the
/// thread and block indices the kernel reads set for each call.
pub fn launch(threads: u64, mut kernel: impl FnMut()) {
    for i in 0..threads {
        // SAFETY: sets three thread-local integers.
        unsafe {
            gv_host_set_thread(
                (i / BLOCK) as c_uint,
                (i % BLOCK) as c_uint,
                BLOCK as c_uint,
            )
        };
        kernel();
    }
}

#[allow(missing_docs)]
extern "C" {
    fn gv_host_set_thread(block: c_uint, thread: c_uint, block_dim: c_uint);

    // Integer helpers (the device functions the kernels use).
    pub fn gv_host_rshift_round(x: c_longlong, shift: c_uint) -> c_longlong;
    pub fn gv_host_div_round(a: c_longlong, b: c_longlong) -> c_longlong;
    pub fn gv_host_apply_wide(x: c_longlong, m: c_int, shift: c_int) -> c_longlong;
    pub fn gv_host_i_exp(x: c_longlong) -> c_longlong;
    pub fn gv_host_i_gelu_q12(z: c_longlong) -> c_longlong;
    pub fn gv_host_gelu_table_q12(z: c_longlong, table: *const c_int) -> c_longlong;
    pub fn gv_host_isqrt(n: c_ulonglong) -> c_ulonglong;
    pub fn gv_host_row_shift(amax: c_ulonglong) -> c_uint;

    // Kernels (signatures as in layers.cu).
    pub fn requant_i16_i8(
        h: *const c_short,
        rq_m: *const c_int,
        rq_s: *const c_int,
        out: *mut i8,
        total: c_longlong,
        cols: c_int,
    );
    pub fn bias_requant_i8(
        acc: *const c_int,
        bias: *const c_int,
        rq_m: *const c_int,
        rq_s: *const c_int,
        relu: c_int,
        out: *mut i8,
        total: c_longlong,
        cols: c_int,
    );
    pub fn gelu_v1_i8(
        acc: *const c_int,
        bias: *const c_int,
        rq_m: *const c_int,
        rq_s: *const c_int,
        gelu_m: *const c_int,
        gelu_s: *const c_int,
        out: *mut i8,
        total: c_longlong,
        cols: c_int,
    );
    pub fn residual_v1(
        acc: *const c_int,
        bias: *const c_int,
        rq_m: *const c_int,
        rq_s: *const c_int,
        resid: *const c_short,
        res_m: c_int,
        res_s: c_int,
        u: *mut c_longlong,
        total: c_longlong,
        cols: c_int,
    );
    pub fn wide_out_i16(
        acc: *const c_int,
        shifts: *const c_int,
        bias: *const c_int,
        rq_m: *const c_int,
        rq_s: *const c_int,
        out: *mut c_short,
        total: c_longlong,
        cols: c_int,
    );
    pub fn wide_gelu(
        acc: *const c_int,
        shifts: *const c_int,
        bias: *const c_int,
        rq_m: *const c_int,
        rq_s: *const c_int,
        table: *const c_int,
        out: *mut c_longlong,
        total: c_longlong,
        cols: c_int,
    );
    pub fn residual_v2(
        acc: *const c_int,
        shifts: *const c_int,
        bias: *const c_int,
        rq_m: *const c_int,
        rq_s: *const c_int,
        resid: *const c_short,
        res_m: c_int,
        res_s: c_int,
        u: *mut c_longlong,
        total: c_longlong,
        cols: c_int,
    );
    pub fn embed_sum(
        word_q: *const i8,
        word_m: *const c_int,
        word_s: *const c_int,
        pos_q: *const i8,
        pos_m: *const c_int,
        pos_s: *const c_int,
        positions: *const c_int,
        typ_q: *const i8,
        typ_m: c_int,
        typ_s: c_int,
        u: *mut c_longlong,
        total: c_longlong,
        h: c_int,
    );
    pub fn layer_norm_rows(
        u: *const c_longlong,
        g: *const c_int,
        b: *const c_longlong,
        eps: c_longlong,
        shift: c_int,
        out: *mut c_short,
        rows: c_longlong,
        h: c_int,
    );
    pub fn split_rows_i16(
        y: *const c_short,
        rows: c_longlong,
        k: c_int,
        shifts: *mut c_int,
        x: *mut i8,
    );
    pub fn split_rows_i64(
        y: *const c_longlong,
        rows: c_longlong,
        k: c_int,
        shifts: *mut c_int,
        x: *mut i8,
    );
    #[allow(clippy::too_many_arguments)]
    pub fn attention_v1(
        qkv: *const i8,
        seq_start: *const c_int,
        seq_len: *const c_int,
        rows: c_longlong,
        hd: c_int,
        heads: c_int,
        score_m: c_int,
        score_s: c_int,
        ctx_m: *const c_int,
        ctx_s: *const c_int,
        ctx: *mut i8,
    );
    pub fn attention_v2(
        qkv: *const c_short,
        seq_start: *const c_int,
        seq_len: *const c_int,
        rows: c_longlong,
        hd: c_int,
        heads: c_int,
        score_m: c_int,
        score_s: c_int,
        ctx: *mut c_longlong,
    );
}
