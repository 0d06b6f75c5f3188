//! CUDA engine: the `i8 × i8 → i32` GEMMs run on the GPU; bias, requantisation, softmax,
//! GELU and layer norm run through the same integer code as the CPU engine (on the CPU,
//! attention heads in parallel). Integer sums are exact in any order, so the bytes match.
//!
//! With [`CudaEngine::with_device_layers`], whole layers run on the GPU instead: the passes
//! between the GEMMs run as the kernels of `layers.cu` ([`crate::device`] orders them), and
//! only each layer's input and output cross to the host. Those kernels are checked
//! bit-for-bit against the CPU engine on the host in CI (`tests/device_layers.rs`); until
//! `scripts/gpu-check.sh` has shown the same on a GPU, the path is off unless asked for.
//!
//! Three GEMMs are available ([`GemmKernel`]): our own tensor-core kernel
//! (`mma.sync` s8 × s8 → s32), cuBLASLt's int8 GEMM with int32 accumulation, and a plain
//! CUDA-core kernel for any shape and any card. A shape a kernel cannot take (k not a
//! multiple of 16 for ours; whatever cuBLASLt declines) runs on the next one down, so the
//! engine always answers and always with the same bytes.
//!
//! The CUDA driver, NVRTC and cuBLASLt are loaded dynamically: a machine without them gets
//! [`Error::Gpu`] from [`CudaEngine::new`], never a panic.
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};

use crate::challenge::{Challenge, ChallengeRunner};
use crate::device::{
    self, DeviceElem, KernelArg, LayerDevice, LayerKernel, WeightCache, WEIGHT_CACHE_BYTES,
};
use crate::engine::{check_gemm_shape, gemm_prelude, Activation, EncoderStep, Gemm};
use crate::error::Error;
use crate::model::{Encoder, Linear};

mod lt;

/// The kernels' CUDA C++ source (compiled by NVRTC when an engine opens a device): the layer
/// kernels and their integer helpers, then the GEMMs and the challenge step.
pub const KERNEL_SRC: &str = concat!(include_str!("layers.cu"), include_str!("kernels.cu"));

/// Threads per block of the layer kernels (one thread per value or row).
const LAYER_THREADS: u32 = 256;

/// Edge of the CUDA-core kernel's tiles (see `kernels.cu`).
const TILED_TILE: u32 = 16;
/// The tensor-core kernel's block tile (rows, columns) and threads per block.
const MMA_TILE: u32 = 128;
const MMA_THREADS: u32 = 128;
/// Challenge steps computed per round trip to the host.
const CHALLENGE_BATCH: usize = 64;
/// The tensor-core kernel loads k in 16-byte chunks.
const MMA_K_ALIGN: usize = 16;

/// Which GPU GEMM computes the products. All give identical bytes; they differ in speed
/// and in the shapes and cards they take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GemmKernel {
    /// cuBLASLt, int8 inputs, int32 accumulation and scale (exact).
    CublasLt,
    /// Our tensor-core kernel (`mma.sync.m16n8k32` s8; compute capability 8.0+, k % 16 = 0).
    TensorCore,
    /// Our CUDA-core kernel: any shape, any card.
    Tiled,
}

impl GemmKernel {
    /// The kernels named in `GPU_CHECK_KERNELS` (comma-separated names), or all of them:
    /// lets `scripts/gpu-check.sh` rerun without a kernel that broke the device context.
    pub fn selected_for_checks() -> Result<Vec<GemmKernel>, Error> {
        match std::env::var("GPU_CHECK_KERNELS") {
            Ok(list) if !list.trim().is_empty() => {
                list.split(',').map(|n| Self::from_name(n.trim())).collect()
            }
            _ => Ok(Self::ALL.to_vec()),
        }
    }

    /// Every kernel, fastest expected first.
    pub const ALL: [GemmKernel; 3] = [
        GemmKernel::CublasLt,
        GemmKernel::TensorCore,
        GemmKernel::Tiled,
    ];

    /// The name the CLI and reports use.
    pub fn name(self) -> &'static str {
        match self {
            GemmKernel::CublasLt => "cublaslt",
            GemmKernel::TensorCore => "tensor-core",
            GemmKernel::Tiled => "tiled",
        }
    }

    /// The kernel called `name` (as [`GemmKernel::name`] spells it).
    pub fn from_name(name: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::Input(format!(
                    "unknown GPU kernel {name:?} (expected cublaslt, tensor-core or tiled)"
                ))
            })
    }
}

/// The kernel [`CudaEngine::new`] uses when the device offers it; the next one down in
/// [`GemmKernel::ALL`] otherwise. Chosen by `scripts/gpu-check.sh`'s measurements (the
/// fastest while byte-identical).
pub const DEFAULT_KERNEL: GemmKernel = GemmKernel::CublasLt;

fn gpu<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> Error {
    move |e| Error::Gpu(format!("{what}: {e}"))
}

/// A GEMM's input, weights and output on the device.
type DeviceOperands = (CudaSlice<i8>, CudaSlice<i8>, CudaSlice<i32>);

/// Device facts for reports.
#[derive(Clone, Debug)]
pub struct DeviceInfo {
    /// The device name (e.g. "NVIDIA H100 80GB HBM3").
    pub name: String,
    /// Compute capability (major, minor).
    pub compute_capability: (i32, i32),
    /// Streaming multiprocessors.
    pub multiprocessors: i32,
    /// Peak SM clock in kHz.
    pub clock_khz: i32,
    /// Device memory in bytes.
    pub memory_bytes: usize,
    /// The driver's CUDA version, e.g. 13000 for 13.0.
    pub driver_cuda_version: i32,
    /// NVRTC's version (major, minor).
    pub nvrtc_version: (i32, i32),
    /// Why cuBLASLt is not available, if it is not.
    pub cublaslt_unavailable: Option<String>,
}

/// One timed GEMM on data already on the device.
#[derive(Clone, Debug)]
pub struct GemmTiming {
    /// The kernel that ran (a shape a kernel cannot take runs on the next one down).
    pub kernel: GemmKernel,
    /// Mean seconds per GEMM over the timed repetitions (CUDA events).
    pub seconds: f64,
    /// The product, copied back after timing.
    pub out: Vec<i32>,
}

/// One of cuBLASLt's candidate algorithms for a shape, timed by
/// [`CudaEngine::autotune_cublaslt`].
#[derive(Clone, Debug)]
pub struct AlgoTiming {
    /// Its place in the heuristic's list (0: the heuristic's first choice, the default).
    pub index: usize,
    /// Mean seconds per GEMM, or why it could not run.
    pub seconds: Result<f64, String>,
    /// Whether its product equals the first candidate's, byte for byte.
    pub identical: bool,
}

/// A CUDA device with the kernels loaded.
pub struct CudaEngine {
    // Held so the context outlives the stream, module and buffers made from it.
    _ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    tiled: CudaFunction,
    tensor_core: Option<CudaFunction>,
    challenge_requant: CudaFunction,
    /// The layer kernels, in [`LayerKernel::ALL`] order.
    layer_kernels: Vec<CudaFunction>,
    /// Whether encoder and MLP steps run whole on the device ([`crate::device`]).
    device_layers: bool,
    /// Linear layers kept on the device between calls of the whole-layer path.
    weights: WeightCache<CudaEngine>,
    cublaslt: Option<Mutex<lt::CublasLt>>,
    kernel: GemmKernel,
    info: DeviceInfo,
    pool: rayon::ThreadPool,
}

impl std::fmt::Debug for CudaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaEngine({}, {})", self.info.name, self.kernel.name())
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

/// Whether NVRTC can be loaded (never panics). NVRTC needs no GPU: this alone is enough to
/// compile the kernels ([`compile_kernels`]).
pub fn nvrtc_available() -> bool {
    // SAFETY: only tries to dlopen the library.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Compiles [`KERNEL_SRC`] with NVRTC for `arch` (e.g. `compute_90`) into PTX.
pub fn compile_kernels(arch: &'static str) -> Result<cudarc::nvrtc::Ptx, Error> {
    if !nvrtc_available() {
        return Err(Error::Gpu("no NVRTC library (libnvrtc) found".into()));
    }
    let opts = cudarc::nvrtc::CompileOptions {
        arch: Some(arch),
        ..Default::default()
    };
    std::panic::catch_unwind(|| cudarc::nvrtc::compile_ptx_with_opts(KERNEL_SRC, opts))
        .map_err(|_| Error::Gpu("NVRTC panicked".into()))?
        .map_err(gpu("NVRTC compile"))
}

/// NVRTC's `--gpu-architecture` for a compute capability (PTX the driver finishes for the
/// exact card). `None` below 7.5, which current NVRTC no longer targets.
fn nvrtc_arch(cc: (i32, i32)) -> Option<&'static str> {
    Some(match cc {
        (9, _) => "compute_90",
        (8, 9) => "compute_89",
        (8, 6..) => "compute_86",
        (8, _) => "compute_80",
        (7, 5..) => "compute_75",
        (major, _) if major >= 10 => "compute_90",
        _ => return None,
    })
}

impl CudaEngine {
    /// Opens device `ordinal` with [`DEFAULT_KERNEL`] (or the best the device offers).
    /// Errors (never panics) when there is no driver, no NVRTC, no such device, or
    /// compilation fails.
    pub fn new(ordinal: usize) -> Result<Self, Error> {
        let mut e = Self::open_catching(ordinal)?;
        e.kernel = e
            .available_kernels()
            .into_iter()
            .find(|&k| {
                GemmKernel::ALL.iter().position(|&a| a == k)
                    >= GemmKernel::ALL.iter().position(|&a| a == DEFAULT_KERNEL)
            })
            .unwrap_or(GemmKernel::Tiled);
        Ok(e)
    }

    /// Opens device `ordinal` with a chosen kernel; an error if the device cannot run it.
    pub fn with_kernel(ordinal: usize, kernel: GemmKernel) -> Result<Self, Error> {
        let mut e = Self::open_catching(ordinal)?;
        if !e.available_kernels().contains(&kernel) {
            let why = match kernel {
                GemmKernel::CublasLt => e
                    .info
                    .cublaslt_unavailable
                    .clone()
                    .unwrap_or_else(|| "unavailable".into()),
                _ => format!(
                    "needs compute capability 8.0, device has {}.{}",
                    e.info.compute_capability.0, e.info.compute_capability.1
                ),
            };
            return Err(Error::Gpu(format!("GPU kernel {}: {why}", kernel.name())));
        }
        e.kernel = kernel;
        Ok(e)
    }

    fn open_catching(ordinal: usize) -> Result<Self, Error> {
        cuda_available()?;
        // cudarc may panic on unusual driver states; turn that into an error too.
        std::panic::catch_unwind(|| Self::open(ordinal))
            .map_err(|_| Error::Gpu("CUDA initialisation panicked".into()))?
    }

    fn open(ordinal: usize) -> Result<Self, Error> {
        use cudarc::driver::sys::CUdevice_attribute as Attr;
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
        let cc = ctx
            .compute_capability()
            .map_err(gpu("compute capability"))?;
        let arch = nvrtc_arch(cc).ok_or_else(|| {
            Error::Gpu(format!("compute capability {}.{} is below 7.5", cc.0, cc.1))
        })?;
        let module = ctx
            .load_module(compile_kernels(arch)?)
            .map_err(gpu("load module"))?;
        let tiled = module
            .load_function("gemm_i8_tiled")
            .map_err(gpu("load kernel gemm_i8_tiled"))?;
        let challenge_requant = module
            .load_function("challenge_requant")
            .map_err(gpu("load kernel challenge_requant"))?;
        let layer_kernels = LayerKernel::ALL
            .iter()
            .map(|k| {
                module
                    .load_function(k.name())
                    .map_err(|e| Error::Gpu(format!("load kernel {}: {e}", k.name())))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let tensor_core = if cc.0 >= 8 {
            Some(
                module
                    .load_function("gemm_i8_mma")
                    .map_err(gpu("load kernel gemm_i8_mma"))?,
            )
        } else {
            None
        };
        let stream = ctx.default_stream();
        let (cublaslt, cublaslt_unavailable) = match lt::CublasLt::new(&stream) {
            Ok(l) => (Some(Mutex::new(l)), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let mut driver = 0i32;
        // SAFETY: writes one int; the driver library is loaded (the context exists).
        unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut driver) };
        let mut nvrtc_version = (0i32, 0i32);
        // SAFETY: writes two ints; NVRTC is loaded (it compiled the kernels above).
        unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut nvrtc_version.0, &mut nvrtc_version.1) };
        let info = DeviceInfo {
            name,
            compute_capability: cc,
            multiprocessors: ctx
                .attribute(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
                .unwrap_or(0),
            clock_khz: ctx
                .attribute(Attr::CU_DEVICE_ATTRIBUTE_CLOCK_RATE)
                .unwrap_or(0),
            memory_bytes: ctx.total_mem().unwrap_or(0),
            driver_cuda_version: driver,
            nvrtc_version,
            cublaslt_unavailable,
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .build()
            .map_err(|e| Error::Io(format!("thread pool: {e}")))?;
        Ok(CudaEngine {
            _ctx: ctx,
            stream,
            tiled,
            tensor_core,
            challenge_requant,
            layer_kernels,
            device_layers: false,
            weights: WeightCache::new(WEIGHT_CACHE_BYTES),
            cublaslt,
            kernel: GemmKernel::Tiled,
            info,
            pool,
        })
    }

    /// Runs encoder and MLP layers whole on the device (`true`), or only their GEMMs
    /// (`false`, the default). Either way the bytes are the CPU engine's.
    pub fn with_device_layers(mut self, on: bool) -> Self {
        self.device_layers = on;
        self
    }

    /// Whether layers run whole on the device.
    pub fn device_layers(&self) -> bool {
        self.device_layers
    }

    /// Linear layers the whole-layer path has copied to the device, and layers it found
    /// there already (its [`WeightCache`]).
    pub fn weight_cache_stats(&self) -> (usize, usize) {
        self.weights.stats()
    }

    /// The device name.
    pub fn device_name(&self) -> &str {
        &self.info.name
    }

    /// Device facts (name, compute capability, driver and NVRTC versions).
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The kernel this engine runs.
    pub fn kernel(&self) -> GemmKernel {
        self.kernel
    }

    /// The kernels this device can run.
    pub fn available_kernels(&self) -> Vec<GemmKernel> {
        GemmKernel::ALL
            .into_iter()
            .filter(|k| match k {
                GemmKernel::CublasLt => self.cublaslt.is_some(),
                GemmKernel::TensorCore => self.tensor_core.is_some(),
                GemmKernel::Tiled => true,
            })
            .collect()
    }

    /// The kernel that runs `kernel`'s GEMM of this shape: the requested one if it takes
    /// the shape, else the next one down.
    pub fn kernel_for(&self, kernel: GemmKernel, m: usize, k: usize, n: usize) -> GemmKernel {
        // cuBLASLt's integer kernels want leading dimensions that are multiples of 4.
        if kernel == GemmKernel::CublasLt && k.is_multiple_of(4) && n.is_multiple_of(4) {
            if let Some(lt) = &self.cublaslt {
                if let Ok(mut lt) = lt.lock() {
                    if lt.supports(m, k, n) {
                        return GemmKernel::CublasLt;
                    }
                }
            }
        }
        if matches!(kernel, GemmKernel::CublasLt | GemmKernel::TensorCore)
            && self.tensor_core.is_some()
            && k.is_multiple_of(MMA_K_ALIGN)
            && (m as u64).div_ceil(MMA_TILE as u64) <= 65_535
        {
            return GemmKernel::TensorCore;
        }
        GemmKernel::Tiled
    }

    /// cuBLASLt's state, locked.
    fn cublaslt(&self) -> Result<std::sync::MutexGuard<'_, lt::CublasLt>, Error> {
        self.cublaslt
            .as_ref()
            .ok_or_else(|| Error::Gpu("cuBLASLt not loaded".into()))?
            .lock()
            .map_err(|_| Error::Gpu("cuBLASLt state poisoned".into()))
    }

    /// Enqueues one GEMM on device buffers; returns the kernel that ran.
    #[allow(clippy::too_many_arguments)]
    fn launch_gemm(
        &self,
        kernel: GemmKernel,
        dx: &CudaSlice<i8>,
        m: usize,
        k: usize,
        dw: &CudaSlice<i8>,
        n: usize,
        dy: &mut CudaSlice<i32>,
    ) -> Result<GemmKernel, Error> {
        let used = self.kernel_for(kernel, m, k, n);
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);
        match used {
            GemmKernel::CublasLt => {
                self.cublaslt()?.matmul(&self.stream, dx, m, k, dw, n, dy)?;
            }
            GemmKernel::TensorCore => {
                let f = self
                    .tensor_core
                    .as_ref()
                    .ok_or_else(|| Error::Gpu("tensor-core kernel not loaded".into()))?;
                let cfg = LaunchConfig {
                    grid_dim: (
                        (n as u32).div_ceil(MMA_TILE),
                        (m as u32).div_ceil(MMA_TILE),
                        1,
                    ),
                    block_dim: (MMA_THREADS, 1, 1),
                    shared_mem_bytes: 0,
                };
                let mut b = self.stream.launch_builder(f);
                b.arg(dx).arg(dw).arg(dy).arg(&mi).arg(&ni).arg(&ki);
                // SAFETY: arguments match the kernel signature; buffers hold m*k, n*k, m*n.
                unsafe { b.launch(cfg) }.map_err(gpu("launch tensor-core GEMM"))?;
            }
            GemmKernel::Tiled => {
                let rows = (m as u32).div_ceil(TILED_TILE);
                if rows > 65_535 {
                    return Err(Error::Gpu(format!("GEMM with {m} rows is too tall")));
                }
                let cfg = LaunchConfig {
                    grid_dim: ((n as u32).div_ceil(TILED_TILE), rows, 1),
                    block_dim: (TILED_TILE, TILED_TILE, 1),
                    shared_mem_bytes: 0,
                };
                let mut b = self.stream.launch_builder(&self.tiled);
                b.arg(dx).arg(dw).arg(dy).arg(&mi).arg(&ni).arg(&ki);
                // SAFETY: as above.
                unsafe { b.launch(cfg) }.map_err(gpu("launch tiled GEMM"))?;
            }
        }
        Ok(used)
    }

    fn upload(&self, x: &[i8], w: &[i8], mn: usize) -> Result<DeviceOperands, Error> {
        let dx = self
            .stream
            .clone_htod(x)
            .map_err(gpu("copy input to device (out of memory?)"))?;
        let dw = self
            .stream
            .clone_htod(w)
            .map_err(gpu("copy weights to device (out of memory?)"))?;
        let dy = self
            .stream
            .alloc_zeros::<i32>(mn)
            .map_err(gpu("allocate output (out of memory?)"))?;
        Ok((dx, dw, dy))
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
        let (dx, dw, mut dy) = self.upload(x, w, m * n)?;
        self.launch_gemm(self.kernel, &dx, m, k, &dw, n, &mut dy)?;
        self.stream
            .memcpy_dtoh(&dy, out)
            .map_err(gpu("copy result to host"))?;
        self.stream.synchronize().map_err(gpu("synchronize"))?;
        Ok(())
    }

    /// Times `kernel` on one GEMM whose operands are already on the device: one warm-up,
    /// then `reps` launches between two CUDA events. Returns the product too, so callers
    /// can check the bytes of what they timed.
    #[allow(clippy::too_many_arguments)]
    pub fn time_gemm(
        &self,
        kernel: GemmKernel,
        x: &[i8],
        m: usize,
        k: usize,
        w: &[i8],
        n: usize,
        reps: usize,
    ) -> Result<GemmTiming, Error> {
        let mut out = vec![0i32; m * n];
        check_gemm_shape(x, m, k, w, n, &out)?;
        if m == 0 || n == 0 || k == 0 || m > i32::MAX as usize || n > i32::MAX as usize {
            return Err(Error::Input(
                "timed GEMMs need non-empty shapes within i32".into(),
            ));
        }
        let timed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let (dx, dw, mut dy) = self.upload(x, w, m * n)?;
            let used = self.launch_gemm(kernel, &dx, m, k, &dw, n, &mut dy)?;
            self.stream.synchronize().map_err(gpu("synchronize"))?;
            let flags = Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT);
            let start = self.stream.record_event(flags).map_err(gpu("event"))?;
            let wall = Instant::now();
            for _ in 0..reps.max(1) {
                self.launch_gemm(kernel, &dx, m, k, &dw, n, &mut dy)?;
            }
            let end = self.stream.record_event(flags).map_err(gpu("event"))?;
            end.synchronize().map_err(gpu("synchronize"))?;
            let ms = start
                .elapsed_ms(&end)
                .map(f64::from)
                .unwrap_or_else(|_| wall.elapsed().as_secs_f64() * 1e3);
            self.stream
                .memcpy_dtoh(&dy, &mut out)
                .map_err(gpu("copy result to host"))?;
            self.stream.synchronize().map_err(gpu("synchronize"))?;
            Ok::<_, Error>((used, ms / 1e3 / reps.max(1) as f64))
        }))
        .map_err(|_| Error::Gpu("CUDA GEMM panicked".into()))??;
        Ok(GemmTiming {
            kernel: timed.0,
            seconds: timed.1,
            out,
        })
    }
}

impl CudaEngine {
    /// Times each algorithm cuBLASLt's heuristic offers for this shape (`reps` GEMMs each,
    /// after one warm-up, on device-resident operands), checks each product against the
    /// first's, and keeps the fastest identical one for this shape from then on. All
    /// int32-accumulating algorithms are exact, so the choice changes speed, never bytes:
    /// this is what `scripts/gpu-check.sh` checks and measures.
    #[allow(clippy::too_many_arguments)]
    pub fn autotune_cublaslt(
        &self,
        x: &[i8],
        m: usize,
        k: usize,
        w: &[i8],
        n: usize,
        reps: usize,
    ) -> Result<Vec<AlgoTiming>, Error> {
        let mut out = vec![0i32; m * n];
        check_gemm_shape(x, m, k, w, n, &out)?;
        if self.kernel_for(GemmKernel::CublasLt, m, k, n) != GemmKernel::CublasLt {
            return Err(Error::Gpu(format!(
                "cuBLASLt does not take {m}x{k}x{n} here"
            )));
        }
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let (dx, dw, mut dy) = self.upload(x, w, m * n)?;
            let mut lt = self.cublaslt()?;
            let flags = Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT);
            let mut first: Option<Vec<i32>> = None;
            let mut timings = Vec::new();
            for index in 0..lt.candidates(m, k, n) {
                lt.select(m, k, n, index)?;
                let timed = (|| {
                    lt.matmul(&self.stream, &dx, m, k, &dw, n, &mut dy)?;
                    self.stream.synchronize().map_err(gpu("synchronize"))?;
                    let start = self.stream.record_event(flags).map_err(gpu("event"))?;
                    for _ in 0..reps.max(1) {
                        lt.matmul(&self.stream, &dx, m, k, &dw, n, &mut dy)?;
                    }
                    let end = self.stream.record_event(flags).map_err(gpu("event"))?;
                    end.synchronize().map_err(gpu("synchronize"))?;
                    let ms = start.elapsed_ms(&end).map_err(gpu("event time"))?;
                    self.stream
                        .memcpy_dtoh(&dy, &mut out)
                        .map_err(gpu("copy result to host"))?;
                    self.stream.synchronize().map_err(gpu("synchronize"))?;
                    Ok::<f64, Error>(f64::from(ms) / 1e3 / reps.max(1) as f64)
                })();
                let identical = match (&timed, &first) {
                    (Err(_), _) => false,
                    (Ok(_), None) => {
                        first = Some(out.clone());
                        true
                    }
                    (Ok(_), Some(f)) => *f == out,
                };
                timings.push(AlgoTiming {
                    index,
                    seconds: timed.map_err(|e| e.to_string()),
                    identical,
                });
            }
            let best = timings
                .iter()
                .filter(|t| t.identical)
                .filter_map(|t| t.seconds.as_ref().ok().map(|s| (t.index, *s)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(i, _)| i);
            lt.select(m, k, n, best.unwrap_or(0))?;
            Ok(timings)
        }))
        .map_err(|_| Error::Gpu("cuBLASLt autotuning panicked".into()))?
    }

    fn challenge_steps(
        &self,
        c: &Challenge,
        emit: &mut dyn FnMut(&[i8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let shape = c.shape();
        let (s, w) = (shape.seq as usize, shape.width as usize);
        let n = s * w;
        let rq = c.requant();
        let dw = self
            .stream
            .clone_htod(c.weights())
            .map_err(gpu("copy challenge weights to device"))?;
        let db = self
            .stream
            .clone_htod(c.bias())
            .map_err(gpu("copy challenge bias to device"))?;
        let mut cur = self
            .stream
            .clone_htod(c.input())
            .map_err(gpu("copy challenge input to device"))?;
        let mut next = self
            .stream
            .alloc_zeros::<i8>(n)
            .map_err(gpu("allocate challenge activation"))?;
        let mut acc = self
            .stream
            .alloc_zeros::<i32>(n)
            .map_err(gpu("allocate challenge accumulator"))?;
        let cfg = LaunchConfig {
            grid_dim: ((n as u32).div_ceil(256), 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let (ni, wi, m, shift) = (n as i32, w as i32, rq.m, u32::from(rq.shift));
        // Steps run in batches of CHALLENGE_BATCH: each activation is also copied into a
        // device ring, the ring comes back in one copy, and the host hashes one batch while
        // the device computes the next.
        let mut rings = [
            self.stream
                .alloc_zeros::<i8>(CHALLENGE_BATCH * n)
                .map_err(gpu("allocate challenge ring"))?,
            self.stream
                .alloc_zeros::<i8>(CHALLENGE_BATCH * n)
                .map_err(gpu("allocate challenge ring"))?,
        ];
        let mut hosts = [
            vec![0i8; CHALLENGE_BATCH * n],
            vec![0i8; CHALLENGE_BATCH * n],
        ];
        let depth = shape.depth as usize;
        // Our tensor-core kernel when the card has it: on these small steps its launch costs
        // less than cuBLASLt's (28 vs 38 us per step on an H200, same bytes).
        let kernel = if self.tensor_core.is_some() && w.is_multiple_of(MMA_K_ALIGN) {
            GemmKernel::TensorCore
        } else {
            self.kernel
        };
        let mut ready: Option<(usize, usize)> = None;
        let (mut done, mut batch) = (0usize, 0usize);
        while done < depth {
            let count = CHALLENGE_BATCH.min(depth - done);
            let r = batch % 2;
            for j in 0..count {
                self.launch_gemm(kernel, &cur, s, w, &dw, w, &mut acc)?;
                let mut b = self.stream.launch_builder(&self.challenge_requant);
                b.arg(&acc)
                    .arg(&db)
                    .arg(&mut next)
                    .arg(&ni)
                    .arg(&wi)
                    .arg(&m)
                    .arg(&shift);
                // SAFETY: arguments match the kernel; acc and next hold n values, bias w.
                unsafe { b.launch(cfg) }.map_err(gpu("launch challenge requantisation"))?;
                self.stream
                    .memcpy_dtod(&next, &mut rings[r].slice_mut(j * n..(j + 1) * n))
                    .map_err(gpu("copy challenge activation into the ring"))?;
                std::mem::swap(&mut cur, &mut next);
            }
            if let Some((h, c)) = ready.take() {
                for x in hosts[h][..c * n].chunks_exact(n) {
                    emit(x)?;
                }
            }
            self.stream
                .memcpy_dtoh(&rings[r].slice(0..count * n), &mut hosts[r][..count * n])
                .map_err(gpu("copy challenge activations to host"))?;
            self.stream.synchronize().map_err(gpu("synchronize"))?;
            ready = Some((r, count));
            done += count;
            batch += 1;
        }
        if let Some((h, c)) = ready {
            for x in hosts[h][..c * n].chunks_exact(n) {
                emit(x)?;
            }
        }
        Ok(())
    }
}

impl ChallengeRunner for CudaEngine {
    fn run_steps(
        &self,
        challenge: &Challenge,
        emit: &mut dyn FnMut(&[i8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.challenge_steps(challenge, emit)
        }))
        .map_err(|_| Error::Gpu("CUDA challenge run panicked".into()))?
    }
}

/// Runs a whole-layer computation, turning a panic inside cudarc into an error.
fn catching(f: impl FnOnce() -> Result<Activation, Error>) -> Result<Activation, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(Error::Gpu("CUDA layer run panicked".into())))
}

impl Gemm for CudaEngine {
    fn challenge_runner(&self) -> Option<&dyn ChallengeRunner> {
        Some(self)
    }

    fn run_encoder_step(
        &self,
        encoder: &Encoder,
        step: &EncoderStep<'_>,
        input: &Activation,
    ) -> Option<Result<Activation, Error>> {
        if !self.device_layers || !device::supports(encoder) {
            return None;
        }
        Some(catching(|| {
            device::encoder_step(self, encoder, step, input)
        }))
    }

    fn run_mlp_step(
        &self,
        layer: &Linear,
        relu: bool,
        input: &Activation,
    ) -> Option<Result<Activation, Error>> {
        if !self.device_layers {
            return None;
        }
        Some(catching(|| device::mlp_step(self, layer, relu, input)))
    }

    fn gemm(
        &self,
        x: &[i8],
        m: usize,
        k: usize,
        w: &[i8],
        n: usize,
        out: &mut [i32],
    ) -> Result<(), Error> {
        if gemm_prelude(x, m, k, w, n, out)? {
            return Ok(());
        }
        if m > i32::MAX as usize || n > i32::MAX as usize || k > i32::MAX as usize {
            return Err(Error::Gpu("GEMM dimensions exceed i32".into()));
        }
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.gemm_inner(x, m, k, w, n, out)
        }))
        .map_err(|_| Error::Gpu("CUDA GEMM panicked".into()))?
    }

    // Attention heads and the element-wise passes run on the CPU cores in parallel while the
    // GEMMs run on the GPU.
    fn map_indexed(&self, n: usize, f: &(dyn Fn(usize) -> Vec<i8> + Sync)) -> Vec<Vec<i8>> {
        crate::cpu::par_map_indexed(&self.pool, n, f)
    }

    fn for_each_chunk_i8(
        &self,
        out: &mut [i8],
        chunk_len: usize,
        f: &(dyn Fn(usize, &mut [i8]) + Sync),
    ) {
        crate::cpu::par_chunks(&self.pool, out, chunk_len, f)
    }

    fn for_each_chunk_i16(
        &self,
        out: &mut [i16],
        chunk_len: usize,
        f: &(dyn Fn(usize, &mut [i16]) + Sync),
    ) {
        crate::cpu::par_chunks(&self.pool, out, chunk_len, f)
    }

    fn map_indexed_i32(&self, n: usize, f: &(dyn Fn(usize) -> Vec<i32> + Sync)) -> Vec<Vec<i32>> {
        crate::cpu::par_map_indexed(&self.pool, n, f)
    }

    fn for_each_chunk_i64(
        &self,
        out: &mut [i64],
        chunk_len: usize,
        f: &(dyn Fn(usize, &mut [i64]) + Sync),
    ) {
        crate::cpu::par_chunks(&self.pool, out, chunk_len, f)
    }
}

impl LayerDevice for CudaEngine {
    type Buf<T: DeviceElem> = CudaSlice<T>;

    fn upload<T: DeviceElem>(&self, data: &[T]) -> Result<CudaSlice<T>, Error> {
        if data.is_empty() {
            return self.alloc(0);
        }
        self.stream
            .clone_htod(data)
            .map_err(gpu("copy to device (out of memory?)"))
    }

    fn alloc<T: DeviceElem>(&self, len: usize) -> Result<CudaSlice<T>, Error> {
        // Zero-length allocations are not portable across drivers: take one element.
        self.stream
            .alloc_zeros::<T>(len.max(1))
            .map_err(gpu("allocate device buffer (out of memory?)"))
    }

    fn download<T: DeviceElem>(&self, buf: &CudaSlice<T>, out: &mut [T]) -> Result<(), Error> {
        if out.is_empty() {
            return Ok(());
        }
        if buf.len() < out.len() {
            return Err(Error::Gpu(format!(
                "copy of {} elements from a device buffer of {}",
                out.len(),
                buf.len()
            )));
        }
        self.stream
            .memcpy_dtoh(&buf.slice(0..out.len()), out)
            .map_err(gpu("copy layer output to host"))?;
        self.stream.synchronize().map_err(gpu("synchronize"))
    }

    fn gemm(
        &self,
        x: &CudaSlice<i8>,
        m: usize,
        k: usize,
        w: &CudaSlice<i8>,
        n: usize,
        y: &mut CudaSlice<i32>,
    ) -> Result<(), Error> {
        if m == 0 || n == 0 {
            return Ok(());
        }
        if k == 0 || k > crate::numerics::MAX_DOT_LEN {
            return Err(Error::Input(format!(
                "device GEMM with inner dimension {k}"
            )));
        }
        if m > i32::MAX as usize || n > i32::MAX as usize || x.len() < m * k || w.len() < n * k {
            return Err(Error::Gpu(format!(
                "device GEMM buffers do not match shape m={m} k={k} n={n}"
            )));
        }
        self.launch_gemm(self.kernel, x, m, k, w, n, y).map(|_| ())
    }

    fn weight_cache(&self) -> Option<&WeightCache<Self>> {
        Some(&self.weights)
    }

    fn launch(
        &self,
        kernel: LayerKernel,
        threads: u64,
        args: &mut [KernelArg<'_, Self>],
    ) -> Result<(), Error> {
        if threads == 0 {
            return Ok(());
        }
        let f = LayerKernel::ALL
            .iter()
            .position(|&k| k == kernel)
            .and_then(|i| self.layer_kernels.get(i))
            .ok_or_else(|| Error::Gpu(format!("kernel {} not loaded", kernel.name())))?;
        let blocks = threads.div_ceil(u64::from(LAYER_THREADS));
        if blocks > i32::MAX as u64 {
            return Err(Error::Gpu(format!(
                "{}: {threads} threads is too many for one launch",
                kernel.name()
            )));
        }
        let cfg = LaunchConfig {
            grid_dim: (blocks as u32, 1, 1),
            block_dim: (LAYER_THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut b = self.stream.launch_builder(f);
        for a in args.iter_mut() {
            match a {
                KernelArg::I8(x) => b.arg(*x),
                KernelArg::I16(x) => b.arg(*x),
                KernelArg::I32(x) => b.arg(*x),
                KernelArg::I64(x) => b.arg(*x),
                KernelArg::OutI8(x) => b.arg(&mut **x),
                KernelArg::OutI16(x) => b.arg(&mut **x),
                KernelArg::OutI32(x) => b.arg(&mut **x),
                KernelArg::OutI64(x) => b.arg(&mut **x),
                KernelArg::Int(v) => b.arg(&*v),
                KernelArg::Long(v) => b.arg(&*v),
            };
        }
        // SAFETY: `crate::device` passes each kernel the arguments `layers.cu` declares for
        // it, in order, with buffers sized for the counts it passes (the same orchestration
        // runs against the host build of these kernels in tests, which checks the types).
        unsafe { b.launch(cfg) }
            .map(|_| ())
            .map_err(|e| Error::Gpu(format!("launch {}: {e}", kernel.name())))
    }
}
