//! Device-resident layers: a committed layer's whole computation (GEMMs and everything
//! between them) on an accelerator, with only the layer's input and output crossing to the
//! host.
//!
//! The arithmetic between the GEMMs runs in the kernels of `cuda/layers.cu`, line-for-line
//! ports of gpu-verify-core's numerics; this module orders them. It is written against
//! [`LayerDevice`], a narrow trait (buffers, copies, one GEMM, one kernel launch), so the same
//! orchestration runs on the CUDA engine and, in tests, on the same kernels compiled for the
//! host (crate `gpu-verify-cuda-host`), where every layer is compared with the CPU engine.
//!
//! A device may keep linear layers' weights between calls ([`WeightCache`]: reused only when
//! byte-identical to the layer being run); the word-embedding rows a batch uses are gathered
//! on the host, so the vocabulary table never crosses.
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::engine::{ActData, Activation, EncoderStep};
use crate::error::Error;
use crate::model::{Block, Encoder, LayerNorm, Linear};
use crate::numerics::{Requant, GELU_TABLE_Q16, NUMERICS_V1};

/// Largest head width the attention kernels take (`GV_ATT_MAX_D` in `layers.cu`).
pub const MAX_HEAD_DIM: usize = 128;

/// An element type that lives in device buffers.
#[cfg(feature = "cuda")]
pub trait DeviceElem:
    Copy
    + Default
    + Send
    + Sync
    + Unpin
    + 'static
    + cudarc::driver::DeviceRepr
    + cudarc::driver::ValidAsZeroBits
{
}
/// An element type that lives in device buffers.
#[cfg(not(feature = "cuda"))]
pub trait DeviceElem: Copy + Default + Send + Sync + Unpin + 'static {}

impl DeviceElem for i8 {}
impl DeviceElem for i16 {}
impl DeviceElem for i32 {}
impl DeviceElem for i64 {}

/// The kernels of `layers.cu`, by the names they have there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerKernel {
    /// v1: i16 rows to int8 GEMM input, one factor per column.
    RequantI16I8,
    /// v1 QKV / MLP: `sat8(requant(acc + bias))`, optionally after ReLU.
    BiasRequantI8,
    /// v1 feed-forward: int8 of the i-GELU of the first layer.
    GeluV1I8,
    /// v1 layer-norm input (projection + residual).
    ResidualV1,
    /// v2 QKV: joined wide accumulators to int16.
    WideOutI16,
    /// v2 feed-forward: table GELU, kept wide.
    WideGelu,
    /// v2 layer-norm input (projection + residual).
    ResidualV2,
    /// Embeddings: word + position + type, at the layer-norm input scale.
    EmbedSum,
    /// Layer norm of every row.
    LayerNormRows,
    /// v2: per-row shift and int8 hi/lo split of i16 rows.
    SplitRowsI16,
    /// v2: the same for wide (i64) rows.
    SplitRowsI64,
    /// v1 attention (int8 Q, K, V; int8 context).
    AttentionV1,
    /// v2 attention (int16 Q, K, V; wide context).
    AttentionV2,
}

impl LayerKernel {
    /// Every kernel.
    pub const ALL: [LayerKernel; 13] = [
        LayerKernel::RequantI16I8,
        LayerKernel::BiasRequantI8,
        LayerKernel::GeluV1I8,
        LayerKernel::ResidualV1,
        LayerKernel::WideOutI16,
        LayerKernel::WideGelu,
        LayerKernel::ResidualV2,
        LayerKernel::EmbedSum,
        LayerKernel::LayerNormRows,
        LayerKernel::SplitRowsI16,
        LayerKernel::SplitRowsI64,
        LayerKernel::AttentionV1,
        LayerKernel::AttentionV2,
    ];

    /// The kernel's name in `layers.cu`.
    pub fn name(self) -> &'static str {
        match self {
            LayerKernel::RequantI16I8 => "requant_i16_i8",
            LayerKernel::BiasRequantI8 => "bias_requant_i8",
            LayerKernel::GeluV1I8 => "gelu_v1_i8",
            LayerKernel::ResidualV1 => "residual_v1",
            LayerKernel::WideOutI16 => "wide_out_i16",
            LayerKernel::WideGelu => "wide_gelu",
            LayerKernel::ResidualV2 => "residual_v2",
            LayerKernel::EmbedSum => "embed_sum",
            LayerKernel::LayerNormRows => "layer_norm_rows",
            LayerKernel::SplitRowsI16 => "split_rows_i16",
            LayerKernel::SplitRowsI64 => "split_rows_i64",
            LayerKernel::AttentionV1 => "attention_v1",
            LayerKernel::AttentionV2 => "attention_v2",
        }
    }
}

/// One kernel argument, in the kernel's parameter order: a device buffer (read, or written
/// by the kernel), an `int` or a `long long`.
pub enum KernelArg<'a, D: LayerDevice + ?Sized> {
    /// An int8 buffer the kernel reads.
    I8(&'a D::Buf<i8>),
    /// An int16 buffer the kernel reads.
    I16(&'a D::Buf<i16>),
    /// An int32 buffer the kernel reads.
    I32(&'a D::Buf<i32>),
    /// An int64 buffer the kernel reads.
    I64(&'a D::Buf<i64>),
    /// An int8 buffer the kernel writes.
    OutI8(&'a mut D::Buf<i8>),
    /// An int16 buffer the kernel writes.
    OutI16(&'a mut D::Buf<i16>),
    /// An int32 buffer the kernel writes.
    OutI32(&'a mut D::Buf<i32>),
    /// An int64 buffer the kernel writes.
    OutI64(&'a mut D::Buf<i64>),
    /// A 32-bit integer.
    Int(i32),
    /// A 64-bit integer.
    Long(i64),
}

/// What the layer orchestration needs from an accelerator.
pub trait LayerDevice {
    /// A device buffer of `T`.
    type Buf<T: DeviceElem>;

    /// A buffer holding a copy of `data`.
    fn upload<T: DeviceElem>(&self, data: &[T]) -> Result<Self::Buf<T>, Error>;

    /// A zeroed buffer of `len` elements.
    fn alloc<T: DeviceElem>(&self, len: usize) -> Result<Self::Buf<T>, Error>;

    /// Copies `buf` (which holds `out.len()` elements) to the host, waiting for every
    /// launch before it.
    fn download<T: DeviceElem>(&self, buf: &Self::Buf<T>, out: &mut [T]) -> Result<(), Error>;

    /// `y = x w^T` for `x [m, k]`, `w [n, k]` (int8) into `y [m, n]` (int32), exactly.
    fn gemm(
        &self,
        x: &Self::Buf<i8>,
        m: usize,
        k: usize,
        w: &Self::Buf<i8>,
        n: usize,
        y: &mut Self::Buf<i32>,
    ) -> Result<(), Error>;

    /// Launches `kernel` with `threads` threads (one per value or row, as the kernel says).
    fn launch(
        &self,
        kernel: LayerKernel,
        threads: u64,
        args: &mut [KernelArg<'_, Self>],
    ) -> Result<(), Error>;

    /// The device's cache of linear layers, if it keeps one; without, weights are copied on
    /// every call.
    fn weight_cache(&self) -> Option<&WeightCache<Self>>
    where
        Self: Sized,
    {
        None
    }
}

/// Largest total of weights a [`WeightCache`] keeps by default: 2 GiB.
pub const WEIGHT_CACHE_BYTES: usize = 2 << 30;

/// Linear layers kept on the device between calls. An entry is reused only for a layer
/// whose weights, bias and factors equal, byte for byte, those it was copied from (compared
/// on the host, far cheaper than the copy it saves), so a changed or another model never runs
/// with stale weights. The oldest entries go first when the total passes the capacity.
pub struct WeightCache<D: LayerDevice> {
    entries: Mutex<VecDeque<CachedLinear<D>>>,
    capacity: usize,
    uploads: AtomicUsize,
    hits: AtomicUsize,
}

struct CachedLinear<D: LayerDevice> {
    host: Linear,
    device: Arc<DeviceLinear<D>>,
    bytes: usize,
}

impl<D: LayerDevice> WeightCache<D> {
    /// A cache keeping at most `capacity_bytes` of weights (host copy and device copy each).
    pub fn new(capacity_bytes: usize) -> Self {
        WeightCache {
            entries: Mutex::new(VecDeque::new()),
            capacity: capacity_bytes,
            uploads: AtomicUsize::new(0),
            hits: AtomicUsize::new(0),
        }
    }

    /// `lin` on the device: the kept copy if one equals it, else a new copy (kept if it fits).
    pub fn linear(&self, dev: &D, lin: &Linear) -> Result<Arc<DeviceLinear<D>>, Error> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| Error::Gpu("weight cache poisoned".into()))?;
        // Equal lengths first, then a byte comparison that stops at the first difference.
        if let Some(e) = entries.iter().find(|e| e.host == *lin) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(e.device.clone());
        }
        let device = Arc::new(DeviceLinear::upload(dev, lin)?);
        self.uploads.fetch_add(1, Ordering::Relaxed);
        let bytes = lin.w.len() + 4 * lin.b.len() + 8 * lin.rq.len();
        if bytes <= self.capacity {
            let mut total: usize = entries.iter().map(|e| e.bytes).sum();
            while total + bytes > self.capacity {
                match entries.pop_front() {
                    Some(old) => total -= old.bytes,
                    None => break,
                }
            }
            entries.push_back(CachedLinear {
                host: lin.clone(),
                device: device.clone(),
                bytes,
            });
        }
        Ok(device)
    }

    /// Layers copied to the device so far, and layers served from the cache.
    pub fn stats(&self) -> (usize, usize) {
        (
            self.uploads.load(Ordering::Relaxed),
            self.hits.load(Ordering::Relaxed),
        )
    }
}

/// `lin` on the device, through the device's cache when it has one.
fn linear<D: LayerDevice>(dev: &D, lin: &Linear) -> Result<Arc<DeviceLinear<D>>, Error> {
    match dev.weight_cache() {
        Some(cache) => cache.linear(dev, lin),
        None => Ok(Arc::new(DeviceLinear::upload(dev, lin)?)),
    }
}

/// Whether the device path takes this encoder: heads no wider than [`MAX_HEAD_DIM`] and
/// sizes within the kernels' `int` parameters. Others run on the host path.
pub fn supports(e: &Encoder) -> bool {
    let c = &e.cfg;
    c.heads > 0
        && c.hidden.is_multiple_of(c.heads)
        && c.hidden / c.heads <= MAX_HEAD_DIM
        && 3 * c.hidden.max(c.intermediate) <= i32::MAX as usize
}

/// Runs one encoder step on the device (`Pool` excepted: it is a reduction per sequence
/// that runs on the host, so it is refused here). The input has been checked by the core.
pub fn encoder_step<D: LayerDevice>(
    dev: &D,
    e: &Encoder,
    step: &EncoderStep<'_>,
    input: &Activation,
) -> Result<Activation, Error> {
    let hd = e.cfg.hidden;
    let out = match step {
        EncoderStep::Embed => embed(dev, e, input)?,
        EncoderStep::Attention(b) => {
            let h = i16_rows(input)?;
            if e.numerics == NUMERICS_V1 {
                attention_v1(dev, e, b, input, h)?
            } else {
                attention_v2(dev, e, b, input, h)?
            }
        }
        EncoderStep::Ffn(b) => {
            let h = i16_rows(input)?;
            if e.numerics == NUMERICS_V1 {
                ffn_v1(dev, b, input.rows(), h)?
            } else {
                ffn_v2(dev, b, input.rows(), h)?
            }
        }
        EncoderStep::Pool => {
            return Err(Error::Input(
                "pooling runs on the host, not the device path".into(),
            ))
        }
    };
    Ok(Activation {
        lens: input.lens.clone(),
        cols: hd as u32,
        data: ActData::I16(out),
    })
}

/// Runs one MLP layer on the device (ReLU unless it is the last).
pub fn mlp_step<D: LayerDevice>(
    dev: &D,
    lin: &Linear,
    relu: bool,
    input: &Activation,
) -> Result<Activation, Error> {
    let x = match &input.data {
        ActData::I8(v) => v,
        _ => return Err(Error::Input("MLP layers take int8 rows".into())),
    };
    let rows = input.rows();
    let l = linear(dev, lin)?;
    let dx = dev.upload(x)?;
    let mut acc = dev.alloc::<i32>(rows * lin.n)?;
    dev.gemm(&dx, rows, lin.k, &l.w, lin.n, &mut acc)?;
    let mut out = dev.alloc::<i8>(rows * lin.n)?;
    let total = rows * lin.n;
    dev.launch(
        LayerKernel::BiasRequantI8,
        total as u64,
        &mut [
            KernelArg::I32(&acc),
            KernelArg::I32(&l.b),
            KernelArg::I32(&l.m),
            KernelArg::I32(&l.s),
            KernelArg::Int(i32::from(relu)),
            KernelArg::OutI8(&mut out),
            KernelArg::Long(total as i64),
            KernelArg::Int(lin.n as i32),
        ],
    )?;
    let mut host = vec![0i8; total];
    dev.download(&out, &mut host)?;
    Ok(Activation {
        lens: input.lens.clone(),
        cols: lin.n as u32,
        data: ActData::I8(host),
    })
}

fn i16_rows(input: &Activation) -> Result<&[i16], Error> {
    match &input.data {
        ActData::I16(v) => Ok(v),
        _ => Err(Error::Input("encoder blocks take i16 rows".into())),
    }
}

/// Multipliers and shifts of a list of factors, as the kernels take them.
fn factors(rq: &[Requant]) -> (Vec<i32>, Vec<i32>) {
    rq.iter().map(|r| (r.m, i32::from(r.shift))).unzip()
}

/// A linear layer's weights, bias and factors on the device.
pub struct DeviceLinear<D: LayerDevice> {
    w: D::Buf<i8>,
    b: D::Buf<i32>,
    m: D::Buf<i32>,
    s: D::Buf<i32>,
}

impl<D: LayerDevice> DeviceLinear<D> {
    fn upload(dev: &D, lin: &Linear) -> Result<Self, Error> {
        let (m, s) = factors(&lin.rq);
        Ok(DeviceLinear {
            w: dev.upload(&lin.w)?,
            b: dev.upload(&lin.b)?,
            m: dev.upload(&m)?,
            s: dev.upload(&s)?,
        })
    }
}

/// Each row's sequence start and length on the device, as the attention kernels take them.
struct SequenceRows<D: LayerDevice> {
    start: D::Buf<i32>,
    len: D::Buf<i32>,
}

fn sequence_rows<D: LayerDevice>(dev: &D, lens: &[u32]) -> Result<SequenceRows<D>, Error> {
    let mut start = Vec::new();
    let mut len = Vec::new();
    let mut s0 = 0i32;
    for &l in lens {
        for _ in 0..l {
            start.push(s0);
            len.push(l as i32);
        }
        s0 += l as i32;
    }
    Ok(SequenceRows {
        start: dev.upload(&start)?,
        len: dev.upload(&len)?,
    })
}

/// Layer norm of `u [rows, h]` on the device, copied back as i16.
fn layer_norm<D: LayerDevice>(
    dev: &D,
    u: &D::Buf<i64>,
    ln: &LayerNorm,
    rows: usize,
    h: usize,
) -> Result<Vec<i16>, Error> {
    let g = dev.upload(&ln.g)?;
    let b = dev.upload(&ln.b)?;
    let mut out = dev.alloc::<i16>(rows * h)?;
    dev.launch(
        LayerKernel::LayerNormRows,
        rows as u64,
        &mut [
            KernelArg::I64(u),
            KernelArg::I32(&g),
            KernelArg::I64(&b),
            KernelArg::Long(ln.eps),
            KernelArg::Int(ln.shift as i32),
            KernelArg::OutI16(&mut out),
            KernelArg::Long(rows as i64),
            KernelArg::Int(h as i32),
        ],
    )?;
    let mut host = vec![0i16; rows * h];
    dev.download(&out, &mut host)?;
    Ok(host)
}

/// v1: `sat8(requant(h))` per column.
fn requant_to_i8<D: LayerDevice>(
    dev: &D,
    h: &D::Buf<i16>,
    rq: &[Requant],
    rows: usize,
) -> Result<D::Buf<i8>, Error> {
    let cols = rq.len();
    let (m, s) = factors(rq);
    let (m, s) = (dev.upload(&m)?, dev.upload(&s)?);
    let mut x = dev.alloc::<i8>(rows * cols)?;
    dev.launch(
        LayerKernel::RequantI16I8,
        (rows * cols) as u64,
        &mut [
            KernelArg::I16(h),
            KernelArg::I32(&m),
            KernelArg::I32(&s),
            KernelArg::OutI8(&mut x),
            KernelArg::Long((rows * cols) as i64),
            KernelArg::Int(cols as i32),
        ],
    )?;
    Ok(x)
}

/// v1: the layer-norm input after an output projection `acc [rows, lin.n]` and the residual.
fn residual_v1<D: LayerDevice>(
    dev: &D,
    acc: &D::Buf<i32>,
    lin: &DeviceLinear<D>,
    cols: usize,
    resid: &D::Buf<i16>,
    res: Requant,
    rows: usize,
) -> Result<D::Buf<i64>, Error> {
    let mut u = dev.alloc::<i64>(rows * cols)?;
    dev.launch(
        LayerKernel::ResidualV1,
        (rows * cols) as u64,
        &mut [
            KernelArg::I32(acc),
            KernelArg::I32(&lin.b),
            KernelArg::I32(&lin.m),
            KernelArg::I32(&lin.s),
            KernelArg::I16(resid),
            KernelArg::Int(res.m),
            KernelArg::Int(i32::from(res.shift)),
            KernelArg::OutI64(&mut u),
            KernelArg::Long((rows * cols) as i64),
            KernelArg::Int(cols as i32),
        ],
    )?;
    Ok(u)
}

/// v2: the accumulators of a split GEMM (rows `2r` and `2r + 1` per input row) and each
/// input row's shift.
struct WideAcc<D: LayerDevice> {
    acc: D::Buf<i32>,
    shifts: D::Buf<i32>,
}

/// v2: the split GEMM of wide rows: per-row shift, int8 halves as rows `2r` and `2r + 1`,
/// one GEMM of `2 rows` rows.
fn wide_gemm<D: LayerDevice>(
    dev: &D,
    y: WideInput<'_, D>,
    rows: usize,
    k: usize,
    w: &D::Buf<i8>,
    n: usize,
) -> Result<WideAcc<D>, Error> {
    let mut shifts = dev.alloc::<i32>(rows)?;
    let mut x = dev.alloc::<i8>(2 * rows * k)?;
    let (kernel, src) = match y {
        WideInput::I16(b) => (LayerKernel::SplitRowsI16, KernelArg::I16(b)),
        WideInput::I64(b) => (LayerKernel::SplitRowsI64, KernelArg::I64(b)),
    };
    dev.launch(
        kernel,
        rows as u64,
        &mut [
            src,
            KernelArg::Long(rows as i64),
            KernelArg::Int(k as i32),
            KernelArg::OutI32(&mut shifts),
            KernelArg::OutI8(&mut x),
        ],
    )?;
    let mut acc = dev.alloc::<i32>(2 * rows * n)?;
    dev.gemm(&x, 2 * rows, k, w, n, &mut acc)?;
    Ok(WideAcc { acc, shifts })
}

/// The rows a v2 split reads.
enum WideInput<'a, D: LayerDevice> {
    I16(&'a D::Buf<i16>),
    I64(&'a D::Buf<i64>),
}

/// v2: the layer-norm input after a split output projection and the residual.
fn residual_v2<D: LayerDevice>(
    dev: &D,
    wide: &WideAcc<D>,
    lin: &DeviceLinear<D>,
    cols: usize,
    resid: &D::Buf<i16>,
    res: Requant,
    rows: usize,
) -> Result<D::Buf<i64>, Error> {
    let mut u = dev.alloc::<i64>(rows * cols)?;
    dev.launch(
        LayerKernel::ResidualV2,
        (rows * cols) as u64,
        &mut [
            KernelArg::I32(&wide.acc),
            KernelArg::I32(&wide.shifts),
            KernelArg::I32(&lin.b),
            KernelArg::I32(&lin.m),
            KernelArg::I32(&lin.s),
            KernelArg::I16(resid),
            KernelArg::Int(res.m),
            KernelArg::Int(i32::from(res.shift)),
            KernelArg::OutI64(&mut u),
            KernelArg::Long((rows * cols) as i64),
            KernelArg::Int(cols as i32),
        ],
    )?;
    Ok(u)
}

fn embed<D: LayerDevice>(dev: &D, e: &Encoder, input: &Activation) -> Result<Vec<i16>, Error> {
    let ids = match &input.data {
        ActData::Tokens(v) => v,
        _ => return Err(Error::Input("the embedding layer takes token ids".into())),
    };
    let h = e.cfg.hidden;
    let rows = ids.len();
    // The rows of the word table this batch uses (ids were range-checked by the core).
    let mut word_q = Vec::with_capacity(rows * h);
    let (mut word_m, mut word_s) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    for &id in ids {
        let id = id as usize;
        word_q.extend_from_slice(&e.word.q[id * h..(id + 1) * h]);
        word_m.push(e.word.rq[id].m);
        word_s.push(i32::from(e.word.rq[id].shift));
    }
    let positions: Vec<i32> = input.lens.iter().flat_map(|&len| 0..len as i32).collect();
    let used = input.lens.iter().copied().max().unwrap_or(0) as usize;
    let (pos_rq, pos_q, typ_q, typ) = match (
        e.pos.rq.get(..used),
        e.pos.q.get(..used * h),
        e.typ.q.get(..h),
        e.typ.rq.first(),
    ) {
        (Some(a), Some(b), Some(c), Some(&d)) => (a, b, c, d),
        _ => {
            return Err(Error::Input(
                "embedding tables shorter than the batch needs".into(),
            ))
        }
    };
    let (pos_m, pos_s) = factors(pos_rq);
    let (wq, wm, ws) = (
        dev.upload(&word_q)?,
        dev.upload(&word_m)?,
        dev.upload(&word_s)?,
    );
    let (pq, pm, ps) = (dev.upload(pos_q)?, dev.upload(&pos_m)?, dev.upload(&pos_s)?);
    let (dpos, tq) = (dev.upload(&positions)?, dev.upload(typ_q)?);
    let mut u = dev.alloc::<i64>(rows * h)?;
    dev.launch(
        LayerKernel::EmbedSum,
        (rows * h) as u64,
        &mut [
            KernelArg::I8(&wq),
            KernelArg::I32(&wm),
            KernelArg::I32(&ws),
            KernelArg::I8(&pq),
            KernelArg::I32(&pm),
            KernelArg::I32(&ps),
            KernelArg::I32(&dpos),
            KernelArg::I8(&tq),
            KernelArg::Int(typ.m),
            KernelArg::Int(i32::from(typ.shift)),
            KernelArg::OutI64(&mut u),
            KernelArg::Long((rows * h) as i64),
            KernelArg::Int(h as i32),
        ],
    )?;
    layer_norm(dev, &u, &e.emb_ln, rows, h)
}

fn attention_v1<D: LayerDevice>(
    dev: &D,
    e: &Encoder,
    b: &Block,
    input: &Activation,
    h16: &[i16],
) -> Result<Vec<i16>, Error> {
    let (hd, heads, rows) = (e.cfg.hidden, e.cfg.heads, input.rows());
    let h = dev.upload(h16)?;
    let x = requant_to_i8(dev, &h, &b.in_qkv, rows)?;
    let qkv = linear(dev, &b.qkv)?;
    let mut acc = dev.alloc::<i32>(rows * 3 * hd)?;
    dev.gemm(&x, rows, hd, &qkv.w, 3 * hd, &mut acc)?;
    let mut q8 = dev.alloc::<i8>(rows * 3 * hd)?;
    dev.launch(
        LayerKernel::BiasRequantI8,
        (rows * 3 * hd) as u64,
        &mut [
            KernelArg::I32(&acc),
            KernelArg::I32(&qkv.b),
            KernelArg::I32(&qkv.m),
            KernelArg::I32(&qkv.s),
            KernelArg::Int(0),
            KernelArg::OutI8(&mut q8),
            KernelArg::Long((rows * 3 * hd) as i64),
            KernelArg::Int((3 * hd) as i32),
        ],
    )?;
    let seqs = sequence_rows(dev, &input.lens)?;
    let (cm, cs) = factors(&b.ctx);
    let (cm, cs) = (dev.upload(&cm)?, dev.upload(&cs)?);
    let mut ctx = dev.alloc::<i8>(rows * hd)?;
    dev.launch(
        LayerKernel::AttentionV1,
        (rows * heads) as u64,
        &mut [
            KernelArg::I8(&q8),
            KernelArg::I32(&seqs.start),
            KernelArg::I32(&seqs.len),
            KernelArg::Long(rows as i64),
            KernelArg::Int(hd as i32),
            KernelArg::Int(heads as i32),
            KernelArg::Int(b.score.m),
            KernelArg::Int(i32::from(b.score.shift)),
            KernelArg::I32(&cm),
            KernelArg::I32(&cs),
            KernelArg::OutI8(&mut ctx),
        ],
    )?;
    let o = linear(dev, &b.o)?;
    let mut acc2 = dev.alloc::<i32>(rows * hd)?;
    dev.gemm(&ctx, rows, hd, &o.w, hd, &mut acc2)?;
    let u = residual_v1(dev, &acc2, &o, hd, &h, b.res1, rows)?;
    layer_norm(dev, &u, &b.ln1, rows, hd)
}

fn ffn_v1<D: LayerDevice>(dev: &D, b: &Block, rows: usize, h16: &[i16]) -> Result<Vec<i16>, Error> {
    let (hd, inter) = (b.f1.k, b.f1.n);
    let h = dev.upload(h16)?;
    let x = requant_to_i8(dev, &h, &b.in_f1, rows)?;
    let f1 = linear(dev, &b.f1)?;
    let mut acc = dev.alloc::<i32>(rows * inter)?;
    dev.gemm(&x, rows, hd, &f1.w, inter, &mut acc)?;
    let (gm, gs) = factors(&b.gelu);
    let (gm, gs) = (dev.upload(&gm)?, dev.upload(&gs)?);
    let mut g8 = dev.alloc::<i8>(rows * inter)?;
    dev.launch(
        LayerKernel::GeluV1I8,
        (rows * inter) as u64,
        &mut [
            KernelArg::I32(&acc),
            KernelArg::I32(&f1.b),
            KernelArg::I32(&f1.m),
            KernelArg::I32(&f1.s),
            KernelArg::I32(&gm),
            KernelArg::I32(&gs),
            KernelArg::OutI8(&mut g8),
            KernelArg::Long((rows * inter) as i64),
            KernelArg::Int(inter as i32),
        ],
    )?;
    let f2 = linear(dev, &b.f2)?;
    let mut acc2 = dev.alloc::<i32>(rows * hd)?;
    dev.gemm(&g8, rows, inter, &f2.w, hd, &mut acc2)?;
    let u = residual_v1(dev, &acc2, &f2, hd, &h, b.res2, rows)?;
    layer_norm(dev, &u, &b.ln2, rows, hd)
}

fn attention_v2<D: LayerDevice>(
    dev: &D,
    e: &Encoder,
    b: &Block,
    input: &Activation,
    h16: &[i16],
) -> Result<Vec<i16>, Error> {
    let (hd, heads, rows) = (e.cfg.hidden, e.cfg.heads, input.rows());
    let h = dev.upload(h16)?;
    let qkv = linear(dev, &b.qkv)?;
    let wa = wide_gemm(dev, WideInput::I16(&h), rows, hd, &qkv.w, 3 * hd)?;
    let mut q16 = dev.alloc::<i16>(rows * 3 * hd)?;
    dev.launch(
        LayerKernel::WideOutI16,
        (rows * 3 * hd) as u64,
        &mut [
            KernelArg::I32(&wa.acc),
            KernelArg::I32(&wa.shifts),
            KernelArg::I32(&qkv.b),
            KernelArg::I32(&qkv.m),
            KernelArg::I32(&qkv.s),
            KernelArg::OutI16(&mut q16),
            KernelArg::Long((rows * 3 * hd) as i64),
            KernelArg::Int((3 * hd) as i32),
        ],
    )?;
    let seqs = sequence_rows(dev, &input.lens)?;
    let mut ctx = dev.alloc::<i64>(rows * hd)?;
    dev.launch(
        LayerKernel::AttentionV2,
        (rows * heads) as u64,
        &mut [
            KernelArg::I16(&q16),
            KernelArg::I32(&seqs.start),
            KernelArg::I32(&seqs.len),
            KernelArg::Long(rows as i64),
            KernelArg::Int(hd as i32),
            KernelArg::Int(heads as i32),
            KernelArg::Int(b.score.m),
            KernelArg::Int(i32::from(b.score.shift)),
            KernelArg::OutI64(&mut ctx),
        ],
    )?;
    let o = linear(dev, &b.o)?;
    let wo = wide_gemm(dev, WideInput::I64(&ctx), rows, hd, &o.w, hd)?;
    let u = residual_v2(dev, &wo, &o, hd, &h, b.res1, rows)?;
    layer_norm(dev, &u, &b.ln1, rows, hd)
}

fn ffn_v2<D: LayerDevice>(dev: &D, b: &Block, rows: usize, h16: &[i16]) -> Result<Vec<i16>, Error> {
    let (hd, inter) = (b.f1.k, b.f1.n);
    let h = dev.upload(h16)?;
    let f1 = linear(dev, &b.f1)?;
    let w1 = wide_gemm(dev, WideInput::I16(&h), rows, hd, &f1.w, inter)?;
    let table = dev.upload(&GELU_TABLE_Q16)?;
    let mut g = dev.alloc::<i64>(rows * inter)?;
    dev.launch(
        LayerKernel::WideGelu,
        (rows * inter) as u64,
        &mut [
            KernelArg::I32(&w1.acc),
            KernelArg::I32(&w1.shifts),
            KernelArg::I32(&f1.b),
            KernelArg::I32(&f1.m),
            KernelArg::I32(&f1.s),
            KernelArg::I32(&table),
            KernelArg::OutI64(&mut g),
            KernelArg::Long((rows * inter) as i64),
            KernelArg::Int(inter as i32),
        ],
    )?;
    let f2 = linear(dev, &b.f2)?;
    let w2 = wide_gemm(dev, WideInput::I64(&g), rows, inter, &f2.w, hd)?;
    let u = residual_v2(dev, &w2, &f2, hd, &h, b.res2, rows)?;
    layer_norm(dev, &u, &b.ln2, rows, hd)
}
