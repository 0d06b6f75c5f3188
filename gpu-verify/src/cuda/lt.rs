//! cuBLASLt's int8 GEMM with int32 accumulation and an int32 scale (alpha 1, beta 0): exact
//! integer sums, so it is an engine like the others, not only a yardstick.
//!
//! Our `y[m,n] = x[m,k] · w[n,k]ᵀ` (row-major) is, in cuBLAS's column-major terms,
//! `Y (n×m) = op_T(W: k×n) · X (k×m)`: the "TN" layout the integer tensor-core kernels
//! want, with every leading dimension `k` or `n`.
use std::ffi::c_void;
use std::sync::Arc;

use cudarc::cublaslt::{result, sys};
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut};

use crate::error::Error;

/// Bytes of scratch memory offered to cuBLASLt (what NVIDIA recommends for Hopper).
const WORKSPACE_BYTES: usize = 32 << 20;
/// Shapes whose plans are kept (a model uses a handful).
const MAX_PLANS: usize = 32;
/// Algorithms asked of the heuristic per shape; [`CublasLt::select`] picks among them
/// (every one accumulates in int32, so every one is exact).
const MAX_CANDIDATES: usize = 8;

fn lt_err(what: &'static str) -> impl Fn(result::CublasError) -> Error {
    move |e| Error::Gpu(format!("cuBLASLt {what}: {e:?}"))
}

/// Descriptors and the chosen algorithm for one `(m, k, n)`.
struct Plan {
    shape: (usize, usize, usize),
    desc: sys::cublasLtMatmulDesc_t,
    a: sys::cublasLtMatrixLayout_t,
    b: sys::cublasLtMatrixLayout_t,
    c: sys::cublasLtMatrixLayout_t,
    /// The heuristic's algorithms for this shape, its first choice first.
    candidates: Vec<sys::cublasLtMatmulAlgo_t>,
    /// Index into `candidates` of the algorithm in use.
    chosen: usize,
}

impl Drop for Plan {
    fn drop(&mut self) {
        // SAFETY: each descriptor was created once in `Plan::new` and is destroyed once here.
        unsafe {
            let _ = result::destroy_matrix_layout(self.a);
            let _ = result::destroy_matrix_layout(self.b);
            let _ = result::destroy_matrix_layout(self.c);
            let _ = result::destroy_matmul_desc(self.desc);
        }
    }
}

impl Plan {
    fn new(handle: sys::cublasLtHandle_t, m: usize, k: usize, n: usize) -> Result<Self, Error> {
        let desc = result::create_matmul_desc(
            sys::cublasComputeType_t::CUBLAS_COMPUTE_32I,
            sys::cudaDataType::CUDA_R_32I,
        )
        .map_err(lt_err("matmul descriptor"))?;
        // From here on `plan` owns what exists, so an error drops (destroys) it.
        let mut plan = Plan {
            shape: (m, k, n),
            desc,
            a: std::ptr::null_mut(),
            b: std::ptr::null_mut(),
            c: std::ptr::null_mut(),
            candidates: Vec::new(),
            chosen: 0,
        };
        // cublasOperation_t::CUBLAS_OP_T (a C enum, int-sized; that type lives in cuBLAS's
        // bindings, which this crate does not load).
        let op_t: i32 = 1;
        // SAFETY: `desc` is live; the buffer is one int-sized `cublasOperation_t`.
        unsafe {
            result::set_matmul_desc_attribute(
                plan.desc,
                sys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSA,
                (&op_t as *const i32).cast::<c_void>(),
                std::mem::size_of::<i32>(),
            )
        }
        .map_err(lt_err("set transpose"))?;
        let (m64, k64, n64) = (m as u64, k as u64, n as u64);
        plan.a = result::create_matrix_layout(sys::cudaDataType::CUDA_R_8I, k64, n64, k as i64)
            .map_err(lt_err("layout of w"))?;
        plan.b = result::create_matrix_layout(sys::cudaDataType::CUDA_R_8I, k64, m64, k as i64)
            .map_err(lt_err("layout of x"))?;
        plan.c = result::create_matrix_layout(sys::cudaDataType::CUDA_R_32I, n64, m64, n as i64)
            .map_err(lt_err("layout of y"))?;
        let pref = result::create_matmul_pref().map_err(lt_err("preference"))?;
        let ws = WORKSPACE_BYTES as u64;
        // SAFETY: a plain-data struct of integers and floats; written by the heuristic.
        let mut found: Vec<sys::cublasLtMatmulHeuristicResult_t> =
            vec![unsafe { std::mem::zeroed() }; MAX_CANDIDATES];
        let mut count: i32 = 0;
        // SAFETY: `pref` and every descriptor are live; the workspace attribute is a u64;
        // `found` holds MAX_CANDIDATES results and `count` receives how many were written.
        let heuristic = unsafe {
            let set = result::set_matmul_pref_attribute(
                pref,
                sys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                (&ws as *const u64).cast::<c_void>(),
                std::mem::size_of::<u64>(),
            );
            let h = set.and_then(|()| {
                sys::cublasLtMatmulAlgoGetHeuristic(
                    handle,
                    plan.desc,
                    plan.a,
                    plan.b,
                    plan.c,
                    plan.c,
                    pref,
                    MAX_CANDIDATES as i32,
                    found.as_mut_ptr(),
                    &mut count,
                )
                .result()
            });
            let _ = result::destroy_matmul_pref(pref);
            h
        };
        heuristic.map_err(lt_err("algorithm heuristic"))?;
        plan.candidates = found
            .iter()
            .take(count.clamp(0, MAX_CANDIDATES as i32) as usize)
            .filter(|r| r.state == sys::cublasStatus_t::CUBLAS_STATUS_SUCCESS)
            .map(|r| r.algo)
            .collect();
        if plan.candidates.is_empty() {
            return Err(Error::Gpu(format!(
                "cuBLASLt: no int8 algorithm for {m}x{k}x{n}"
            )));
        }
        Ok(plan)
    }
}

/// A cuBLASLt handle, its workspace and the plans made so far. Used behind a mutex.
pub(super) struct CublasLt {
    handle: sys::cublasLtHandle_t,
    workspace: CudaSlice<u8>,
    plans: Vec<Plan>,
    /// Shapes cuBLASLt had no exact algorithm for (not asked again).
    declined: Vec<(usize, usize, usize)>,
}

// SAFETY: the handle and descriptors are plain pointers owned by this value; cuBLASLt
// allows using them from any thread, one call at a time, which the engine's mutex ensures.
unsafe impl Send for CublasLt {}

impl Drop for CublasLt {
    fn drop(&mut self) {
        self.plans.clear();
        // SAFETY: created once in `new`, destroyed once here, after its plans.
        let _ = unsafe { result::destroy_handle(self.handle) };
    }
}

impl CublasLt {
    /// Loads cuBLASLt and allocates its workspace on `stream`'s device.
    pub(super) fn new(stream: &Arc<CudaStream>) -> Result<Self, Error> {
        // SAFETY: only tries to dlopen the library.
        if !unsafe { sys::is_culib_present() } {
            return Err(Error::Gpu("no cuBLASLt library (libcublasLt) found".into()));
        }
        let handle = result::create_handle().map_err(lt_err("create handle"))?;
        // SAFETY: scratch memory, never read before cuBLASLt writes it.
        let workspace = match unsafe { stream.alloc::<u8>(WORKSPACE_BYTES) } {
            Ok(w) => w,
            Err(e) => {
                // SAFETY: the handle was just created and is not used again.
                let _ = unsafe { result::destroy_handle(handle) };
                return Err(Error::Gpu(format!("cuBLASLt workspace: {e}")));
            }
        };
        Ok(CublasLt {
            handle,
            workspace,
            plans: Vec::new(),
            declined: Vec::new(),
        })
    }

    /// Whether cuBLASLt has an exact int8 algorithm for this shape (plans it if so).
    pub(super) fn supports(&mut self, m: usize, k: usize, n: usize) -> bool {
        self.plan_index(m, k, n).is_ok()
    }

    fn plan_index(&mut self, m: usize, k: usize, n: usize) -> Result<usize, Error> {
        if let Some(i) = self.plans.iter().position(|p| p.shape == (m, k, n)) {
            return Ok(i);
        }
        if self.declined.contains(&(m, k, n)) {
            return Err(Error::Gpu(format!(
                "cuBLASLt: no int8 algorithm for {m}x{k}x{n}"
            )));
        }
        let plan = match Plan::new(self.handle, m, k, n) {
            Ok(p) => p,
            Err(e) => {
                if self.declined.len() >= MAX_PLANS {
                    self.declined.remove(0);
                }
                self.declined.push((m, k, n));
                return Err(e);
            }
        };
        if self.plans.len() >= MAX_PLANS {
            self.plans.remove(0);
        }
        self.plans.push(plan);
        Ok(self.plans.len() - 1)
    }

    /// How many algorithms the heuristic offered for this shape (0 if none).
    pub(super) fn candidates(&mut self, m: usize, k: usize, n: usize) -> usize {
        self.plan_index(m, k, n)
            .map(|i| self.plans[i].candidates.len())
            .unwrap_or(0)
    }

    /// Uses candidate `which` for this shape from now on (the heuristic's first is the
    /// default); `select` after timing each is how the engine autotunes.
    pub(super) fn select(
        &mut self,
        m: usize,
        k: usize,
        n: usize,
        which: usize,
    ) -> Result<(), Error> {
        let i = self.plan_index(m, k, n)?;
        let plan = &mut self.plans[i];
        if which >= plan.candidates.len() {
            return Err(Error::Input(format!(
                "cuBLASLt candidate {which} of {} for {m}x{k}x{n}",
                plan.candidates.len()
            )));
        }
        plan.chosen = which;
        Ok(())
    }

    /// Enqueues `y = x · wᵀ` on `stream`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn matmul(
        &mut self,
        stream: &CudaStream,
        x: &CudaSlice<i8>,
        m: usize,
        k: usize,
        w: &CudaSlice<i8>,
        n: usize,
        y: &mut CudaSlice<i32>,
    ) -> Result<(), Error> {
        let i = self.plan_index(m, k, n)?;
        let (alpha, beta) = (1i32, 0i32);
        let (px, _gx) = x.device_ptr(stream);
        let (pw, _gw) = w.device_ptr(stream);
        let (py, _gy) = y.device_ptr_mut(stream);
        let (pws, _gws) = self.workspace.device_ptr_mut(stream);
        let plan = &self.plans[i];
        // SAFETY: the plan describes exactly these buffers (w: k×n, x: k×m, y: n×m, leading
        // dimensions k, k, n); alpha and beta are int32 as the descriptor's scale type says;
        // the workspace holds WORKSPACE_BYTES.
        unsafe {
            result::matmul(
                self.handle,
                plan.desc,
                (&alpha as *const i32).cast::<c_void>(),
                (&beta as *const i32).cast::<c_void>(),
                pw as *const c_void,
                plan.a,
                px as *const c_void,
                plan.b,
                py as *const c_void,
                plan.c,
                py as *mut c_void,
                plan.c,
                &plan.candidates[plan.chosen],
                pws as *mut c_void,
                WORKSPACE_BYTES,
                stream.cu_stream() as sys::cudaStream_t,
            )
        }
        .map_err(lt_err("matmul"))
    }
}
