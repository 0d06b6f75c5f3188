//! gpu-verify's device-resident layer path on the CPU: [`HostDevice`] runs the kernels of
//! `cuda/layers.cu` built for the host (crate `gpu-verify-cuda-host`) and the reference
//! GEMM, and [`HostLayersEngine`] routes every encoder and MLP step through it. Comparing
//! its traces with the CPU engine's checks the kernels' arithmetic and the orchestration
//! without a GPU; a GPU run then only has the CUDA plumbing left to prove.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use gpu_verify::device::{
    self, DeviceElem, KernelArg, LayerDevice, LayerKernel, WeightCache, WEIGHT_CACHE_BYTES,
};
use gpu_verify::engine::{Activation, EncoderStep, Gemm, RefGemm};
use gpu_verify::model::{Encoder, Linear};
use gpu_verify::Error;
use gpu_verify_cuda_host as host;

/// Device buffers are host vectors; launches run each thread in turn. Keeps linear layers
/// in a [`WeightCache`] as the CUDA engine does.
pub struct HostDevice {
    pub cache: WeightCache<HostDevice>,
}

impl Default for HostDevice {
    fn default() -> Self {
        HostDevice {
            cache: WeightCache::new(WEIGHT_CACHE_BYTES),
        }
    }
}

fn bad(kernel: LayerKernel, i: usize, want: &str) -> Error {
    Error::Input(format!("{}: argument {i} is not {want}", kernel.name()))
}

macro_rules! reader {
    ($name:ident, $variant:ident, $t:ty) => {
        fn $name(
            k: LayerKernel,
            a: &mut [KernelArg<'_, HostDevice>],
            i: usize,
        ) -> Result<*const $t, Error> {
            match a.get(i) {
                Some(KernelArg::$variant(b)) => Ok(b.as_ptr()),
                _ => Err(bad(k, i, stringify!($variant))),
            }
        }
    };
}
macro_rules! writer {
    ($name:ident, $variant:ident, $t:ty) => {
        fn $name(
            k: LayerKernel,
            a: &mut [KernelArg<'_, HostDevice>],
            i: usize,
        ) -> Result<*mut $t, Error> {
            match a.get_mut(i) {
                Some(KernelArg::$variant(b)) => Ok(b.as_mut_ptr()),
                _ => Err(bad(k, i, stringify!($variant))),
            }
        }
    };
}
reader!(r8, I8, i8);
reader!(r16, I16, i16);
reader!(r32, I32, i32);
reader!(r64, I64, i64);
writer!(w8, OutI8, i8);
writer!(w16, OutI16, i16);
writer!(w32, OutI32, i32);
writer!(w64, OutI64, i64);

fn int(k: LayerKernel, a: &mut [KernelArg<'_, HostDevice>], i: usize) -> Result<i32, Error> {
    match a.get(i) {
        Some(KernelArg::Int(v)) => Ok(*v),
        _ => Err(bad(k, i, "Int")),
    }
}

fn long(k: LayerKernel, a: &mut [KernelArg<'_, HostDevice>], i: usize) -> Result<i64, Error> {
    match a.get(i) {
        Some(KernelArg::Long(v)) => Ok(*v),
        _ => Err(bad(k, i, "Long")),
    }
}

fn arity(k: LayerKernel, a: &[KernelArg<'_, HostDevice>], n: usize) -> Result<(), Error> {
    if a.len() == n {
        Ok(())
    } else {
        Err(Error::Input(format!(
            "{}: {} arguments, kernel takes {n}",
            k.name(),
            a.len()
        )))
    }
}

impl LayerDevice for HostDevice {
    type Buf<T: DeviceElem> = Vec<T>;

    fn upload<T: DeviceElem>(&self, data: &[T]) -> Result<Vec<T>, Error> {
        Ok(data.to_vec())
    }

    fn alloc<T: DeviceElem>(&self, len: usize) -> Result<Vec<T>, Error> {
        Ok(vec![T::default(); len])
    }

    fn download<T: DeviceElem>(&self, buf: &Vec<T>, out: &mut [T]) -> Result<(), Error> {
        if buf.len() != out.len() {
            return Err(Error::Input(format!(
                "download of {} elements into {}",
                buf.len(),
                out.len()
            )));
        }
        out.copy_from_slice(buf);
        Ok(())
    }

    fn gemm(
        &self,
        x: &Vec<i8>,
        m: usize,
        k: usize,
        w: &Vec<i8>,
        n: usize,
        y: &mut Vec<i32>,
    ) -> Result<(), Error> {
        RefGemm.gemm(x, m, k, w, n, y)
    }

    fn weight_cache(&self) -> Option<&WeightCache<Self>> {
        Some(&self.cache)
    }

    fn launch(
        &self,
        k: LayerKernel,
        threads: u64,
        a: &mut [KernelArg<'_, HostDevice>],
    ) -> Result<(), Error> {
        use LayerKernel as K;
        // Every pointer is taken before the threads run; the kernels bound their own
        // indices by the counts passed with them.
        // SAFETY (all arms): the pointers come from live vectors of the argument types the
        // kernel declares; the orchestration sizes them for the counts it passes.
        match k {
            K::RequantI16I8 => {
                arity(k, a, 6)?;
                let (h, m, s, o) = (r16(k, a, 0)?, r32(k, a, 1)?, r32(k, a, 2)?, w8(k, a, 3)?);
                let (t, c) = (long(k, a, 4)?, int(k, a, 5)?);
                host::launch(threads, || unsafe {
                    host::requant_i16_i8(h, m, s, o, t, c)
                });
            }
            K::BiasRequantI8 => {
                arity(k, a, 8)?;
                let (acc, b, m, s) = (r32(k, a, 0)?, r32(k, a, 1)?, r32(k, a, 2)?, r32(k, a, 3)?);
                let (relu, o, t, c) = (int(k, a, 4)?, w8(k, a, 5)?, long(k, a, 6)?, int(k, a, 7)?);
                host::launch(threads, || unsafe {
                    host::bias_requant_i8(acc, b, m, s, relu, o, t, c)
                });
            }
            K::GeluV1I8 => {
                arity(k, a, 9)?;
                let (acc, b, m, s) = (r32(k, a, 0)?, r32(k, a, 1)?, r32(k, a, 2)?, r32(k, a, 3)?);
                let (gm, gs, o) = (r32(k, a, 4)?, r32(k, a, 5)?, w8(k, a, 6)?);
                let (t, c) = (long(k, a, 7)?, int(k, a, 8)?);
                host::launch(threads, || unsafe {
                    host::gelu_v1_i8(acc, b, m, s, gm, gs, o, t, c)
                });
            }
            K::ResidualV1 => {
                arity(k, a, 10)?;
                let (acc, b, m, s) = (r32(k, a, 0)?, r32(k, a, 1)?, r32(k, a, 2)?, r32(k, a, 3)?);
                let (res, rm, rs) = (r16(k, a, 4)?, int(k, a, 5)?, int(k, a, 6)?);
                let (u, t, c) = (w64(k, a, 7)?, long(k, a, 8)?, int(k, a, 9)?);
                host::launch(threads, || unsafe {
                    host::residual_v1(acc, b, m, s, res, rm, rs, u, t, c)
                });
            }
            K::WideOutI16 => {
                arity(k, a, 8)?;
                let (acc, sh, b, m) = (r32(k, a, 0)?, r32(k, a, 1)?, r32(k, a, 2)?, r32(k, a, 3)?);
                let (s, o, t, c) = (r32(k, a, 4)?, w16(k, a, 5)?, long(k, a, 6)?, int(k, a, 7)?);
                host::launch(threads, || unsafe {
                    host::wide_out_i16(acc, sh, b, m, s, o, t, c)
                });
            }
            K::WideGelu => {
                arity(k, a, 9)?;
                let (acc, sh, b, m) = (r32(k, a, 0)?, r32(k, a, 1)?, r32(k, a, 2)?, r32(k, a, 3)?);
                let (s, tab, o) = (r32(k, a, 4)?, r32(k, a, 5)?, w64(k, a, 6)?);
                let (t, c) = (long(k, a, 7)?, int(k, a, 8)?);
                host::launch(threads, || unsafe {
                    host::wide_gelu(acc, sh, b, m, s, tab, o, t, c)
                });
            }
            K::ResidualV2 => {
                arity(k, a, 11)?;
                let (acc, sh, b, m) = (r32(k, a, 0)?, r32(k, a, 1)?, r32(k, a, 2)?, r32(k, a, 3)?);
                let (s, res, rm, rs) = (r32(k, a, 4)?, r16(k, a, 5)?, int(k, a, 6)?, int(k, a, 7)?);
                let (u, t, c) = (w64(k, a, 8)?, long(k, a, 9)?, int(k, a, 10)?);
                host::launch(threads, || unsafe {
                    host::residual_v2(acc, sh, b, m, s, res, rm, rs, u, t, c)
                });
            }
            K::EmbedSum => {
                arity(k, a, 13)?;
                let (wq, wm, ws) = (r8(k, a, 0)?, r32(k, a, 1)?, r32(k, a, 2)?);
                let (pq, pm, ps, pos) = (r8(k, a, 3)?, r32(k, a, 4)?, r32(k, a, 5)?, r32(k, a, 6)?);
                let (tq, tm, ts) = (r8(k, a, 7)?, int(k, a, 8)?, int(k, a, 9)?);
                let (u, t, h) = (w64(k, a, 10)?, long(k, a, 11)?, int(k, a, 12)?);
                host::launch(threads, || unsafe {
                    host::embed_sum(wq, wm, ws, pq, pm, ps, pos, tq, tm, ts, u, t, h)
                });
            }
            K::LayerNormRows => {
                arity(k, a, 8)?;
                let (u, g, b) = (r64(k, a, 0)?, r32(k, a, 1)?, r64(k, a, 2)?);
                let (eps, sh, o) = (long(k, a, 3)?, int(k, a, 4)?, w16(k, a, 5)?);
                let (rows, h) = (long(k, a, 6)?, int(k, a, 7)?);
                host::launch(threads, || unsafe {
                    host::layer_norm_rows(u, g, b, eps, sh, o, rows, h)
                });
            }
            K::SplitRowsI16 => {
                arity(k, a, 5)?;
                let (y, rows, kk) = (r16(k, a, 0)?, long(k, a, 1)?, int(k, a, 2)?);
                let (sh, x) = (w32(k, a, 3)?, w8(k, a, 4)?);
                host::launch(threads, || unsafe {
                    host::split_rows_i16(y, rows, kk, sh, x)
                });
            }
            K::SplitRowsI64 => {
                arity(k, a, 5)?;
                let (y, rows, kk) = (r64(k, a, 0)?, long(k, a, 1)?, int(k, a, 2)?);
                let (sh, x) = (w32(k, a, 3)?, w8(k, a, 4)?);
                host::launch(threads, || unsafe {
                    host::split_rows_i64(y, rows, kk, sh, x)
                });
            }
            K::AttentionV1 => {
                arity(k, a, 11)?;
                let (q, st, ln) = (r8(k, a, 0)?, r32(k, a, 1)?, r32(k, a, 2)?);
                let (rows, hd, heads) = (long(k, a, 3)?, int(k, a, 4)?, int(k, a, 5)?);
                let (sm, ss, cm, cs) = (int(k, a, 6)?, int(k, a, 7)?, r32(k, a, 8)?, r32(k, a, 9)?);
                let o = w8(k, a, 10)?;
                host::launch(threads, || unsafe {
                    host::attention_v1(q, st, ln, rows, hd, heads, sm, ss, cm, cs, o)
                });
            }
            K::AttentionV2 => {
                arity(k, a, 9)?;
                let (q, st, ln) = (r16(k, a, 0)?, r32(k, a, 1)?, r32(k, a, 2)?);
                let (rows, hd, heads) = (long(k, a, 3)?, int(k, a, 4)?, int(k, a, 5)?);
                let (sm, ss, o) = (int(k, a, 6)?, int(k, a, 7)?, w64(k, a, 8)?);
                host::launch(threads, || unsafe {
                    host::attention_v2(q, st, ln, rows, hd, heads, sm, ss, o)
                });
            }
        }
        Ok(())
    }
}

/// The reference GEMM, with every encoder and MLP step run whole on [`HostDevice`]; counts
/// the steps it ran that way, so a test can tell the path was taken.
#[derive(Default)]
pub struct HostLayersEngine {
    pub steps: AtomicUsize,
    pub device: HostDevice,
}

impl Gemm for HostLayersEngine {
    fn gemm(
        &self,
        x: &[i8],
        m: usize,
        k: usize,
        w: &[i8],
        n: usize,
        out: &mut [i32],
    ) -> Result<(), Error> {
        RefGemm.gemm(x, m, k, w, n, out)
    }

    fn run_encoder_step(
        &self,
        e: &Encoder,
        step: &EncoderStep<'_>,
        input: &Activation,
    ) -> Option<Result<Activation, Error>> {
        if !device::supports(e) {
            return None;
        }
        self.steps.fetch_add(1, Ordering::Relaxed);
        Some(device::encoder_step(&self.device, e, step, input))
    }

    fn run_mlp_step(
        &self,
        layer: &Linear,
        relu: bool,
        input: &Activation,
    ) -> Option<Result<Activation, Error>> {
        self.steps.fetch_add(1, Ordering::Relaxed);
        Some(device::mlp_step(&self.device, layer, relu, input))
    }
}
