//! CUDA engine: the `i8 x i8 -> i32` GEMMs run on the GPU (kernel compiled with NVRTC at
//! run time); bias, requantisation, softmax, GELU and layer norm run through the same
//! integer code as the CPU engine. Integer sums are exact in any order, so the bytes match.
//!
//! The CUDA driver and NVRTC are loaded dynamically: a machine without them gets
//! [`Error::Gpu`] from [`CudaEngine::new`], never a panic.
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaStream, LaunchConfig, PushKernelArg};

use crate::engine::{check_gemm_shape, Gemm};
use crate::error::Error;

/// Tile edge of the GEMM kernel.
const TILE: u32 = 16;

/// The GEMM kernel: `y[i][j] = sum_t x[i][t] * w[j][t]` (x `[m,k]`, w `[n,k]`, y `[m,n]`).
pub const KERNEL_SRC: &str = r#"
extern "C" __global__ void gemm_i8_i32(const signed char* __restrict__ x,
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
"#;

fn gpu<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> Error {
    move |e| Error::Gpu(format!("{what}: {e}"))
}

/// A CUDA device with the GEMM kernel loaded.
pub struct CudaEngine {
    _ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    func: CudaFunction,
    name: String,
}

impl std::fmt::Debug for CudaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaEngine({})", self.name)
    }
}

/// Whether the CUDA driver and NVRTC libraries can be loaded (never panics).
pub fn cuda_available() -> Result<(), Error> {
    // SAFETY: these only try to dlopen the libraries; no other cudarc call happens first.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(Error::Gpu("no CUDA driver (libcuda) found".into()));
    }
    // SAFETY: as above.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(Error::Gpu("no NVRTC library (libnvrtc) found".into()));
    }
    Ok(())
}

impl CudaEngine {
    /// Opens device `ordinal` and compiles the kernel. Errors (never panics) when there is
    /// no driver, no NVRTC, no such device, or compilation fails.
    pub fn new(ordinal: usize) -> Result<Self, Error> {
        cuda_available()?;
        // cudarc may panic on unusual driver states; turn that into an error too.
        std::panic::catch_unwind(|| Self::open(ordinal))
            .map_err(|_| Error::Gpu("CUDA initialisation panicked".into()))?
    }

    fn open(ordinal: usize) -> Result<Self, Error> {
        let n = CudaContext::device_count().map_err(gpu("device count"))?;
        if n <= 0 {
            return Err(Error::Gpu("no CUDA device present".into()));
        }
        if ordinal >= n as usize {
            return Err(Error::Gpu(format!(
                "device {ordinal} requested, {n} present"
            )));
        }
        let ctx = CudaContext::new(ordinal).map_err(gpu("create context"))?;
        let name = ctx.name().unwrap_or_else(|_| "CUDA device".into());
        let ptx = cudarc::nvrtc::compile_ptx(KERNEL_SRC).map_err(gpu("NVRTC compile"))?;
        let module = ctx.load_module(ptx).map_err(gpu("load module"))?;
        let func = module
            .load_function("gemm_i8_i32")
            .map_err(gpu("load kernel"))?;
        let stream = ctx.default_stream();
        Ok(CudaEngine {
            _ctx: ctx,
            stream,
            func,
            name,
        })
    }

    /// The device name.
    pub fn device_name(&self) -> &str {
        &self.name
    }

    fn gemm_inner(
        &self,
        x: &[i8],
        m: usize,
        k: usize,
        w: &[i8],
        n: usize,
        out: &mut [i32],
    ) -> Result<(), Error> {
        let dx = self
            .stream
            .clone_htod(x)
            .map_err(gpu("copy input to device (out of memory?)"))?;
        let dw = self
            .stream
            .clone_htod(w)
            .map_err(gpu("copy weights to device (out of memory?)"))?;
        let mut dy = self
            .stream
            .alloc_zeros::<i32>(m * n)
            .map_err(gpu("allocate output (out of memory?)"))?;
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);
        let cfg = LaunchConfig {
            grid_dim: ((n as u32).div_ceil(TILE), (m as u32).div_ceil(TILE), 1),
            block_dim: (TILE, TILE, 1),
            shared_mem_bytes: 0,
        };
        let mut b = self.stream.launch_builder(&self.func);
        b.arg(&dx).arg(&dw).arg(&mut dy).arg(&mi).arg(&ni).arg(&ki);
        // SAFETY: argument list matches the kernel signature; buffers are sized m*k, n*k, m*n.
        unsafe { b.launch(cfg) }.map_err(gpu("launch GEMM kernel"))?;
        self.stream
            .memcpy_dtoh(&dy, out)
            .map_err(gpu("copy result to host"))?;
        self.stream.synchronize().map_err(gpu("synchronize"))?;
        Ok(())
    }
}

impl Gemm for CudaEngine {
    fn gemm(
        &self,
        x: &[i8],
        m: usize,
        k: usize,
        w: &[i8],
        n: usize,
        out: &mut [i32],
    ) -> Result<(), Error> {
        check_gemm_shape(x, m, k, w, n, out)?;
        if m == 0 || n == 0 {
            return Ok(());
        }
        if m > i32::MAX as usize || n > i32::MAX as usize || k > i32::MAX as usize {
            return Err(Error::Gpu("GEMM dimensions exceed i32".into()));
        }
        if k == 0 {
            out.fill(0);
            return Ok(());
        }
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.gemm_inner(x, m, k, w, n, out)
        }))
        .map_err(|_| Error::Gpu("CUDA GEMM panicked".into()))?
    }
}
