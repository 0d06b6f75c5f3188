//! The threaded CPU engine: rayon over output rows (or columns when there are few rows),
//! with the vectorisable [`dot_i8`] inner loop compiled for the widest vector instructions the
//! machine has ([`Isa`], picked at start-up: integer sums are exact, so every choice gives the
//! same bytes and only the speed differs).
use rayon::prelude::*;

use crate::engine::{gemm_prelude, Gemm};
use crate::error::Error;
use crate::numerics::dot_i8;

/// The vector instructions the GEMM kernel is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// Whatever the build targets (SSE2 on a plain x86-64 build).
    Baseline,
    /// x86-64 AVX2 (256-bit integer vectors).
    Avx2,
    /// x86-64 AVX-512 F + BW (512-bit integer vectors).
    Avx512,
}

impl Isa {
    /// The widest the running CPU supports, unless the environment variable
    /// `GPU_VERIFY_CPU_ISA` (`baseline`, `avx2`, `avx512`) asks for a narrower one (for
    /// benchmarks); a wider one than the CPU has is never used.
    pub fn detect() -> Self {
        let best = Self::widest();
        match std::env::var("GPU_VERIFY_CPU_ISA").as_deref() {
            Ok("baseline") => Isa::Baseline,
            Ok("avx2") if best != Isa::Baseline => Isa::Avx2,
            _ => best,
        }
    }

    /// Every instruction set the running CPU can run, narrowest first.
    pub fn available() -> Vec<Self> {
        let best = Self::widest();
        [Isa::Baseline, Isa::Avx2, Isa::Avx512]
            .into_iter()
            .filter(|&i| i as u8 <= best as u8)
            .collect()
    }

    fn widest() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
            {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }
}

/// Multi-threaded CPU backend.
pub struct CpuEngine {
    pool: rayon::ThreadPool,
    isa: Isa,
}

impl std::fmt::Debug for CpuEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CpuEngine({} threads, {:?})",
            self.pool.current_num_threads(),
            self.isa
        )
    }
}

impl CpuEngine {
    /// A pool of `threads` workers (`0` = one per core), GEMM kernel for [`Isa::detect`].
    pub fn new(threads: usize) -> Result<Self, Error> {
        Self::with_isa(threads, Isa::detect())
    }

    /// [`CpuEngine::new`] with the GEMM kernel for `isa`, if the CPU can run it.
    pub fn with_isa(threads: usize, isa: Isa) -> Result<Self, Error> {
        if !Isa::available().contains(&isa) {
            return Err(Error::Input(format!("this CPU cannot run {isa:?} code")));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::Io(format!("thread pool: {e}")))?;
        Ok(CpuEngine { pool, isa })
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// The instruction set the GEMM kernel runs with.
    pub fn isa(&self) -> Isa {
        self.isa
    }
}

/// `out[r][j] = x[r] . w[j]` for the `out.len() / n` rows of `x` and the columns `j0..j1`.
#[inline(always)]
fn dot_block(x: &[i8], k: usize, w: &[i8], n: usize, j0: usize, j1: usize, out: &mut [i32]) {
    for (xr, orow) in x.chunks_exact(k).zip(out.chunks_exact_mut(n)) {
        for j in j0..j1 {
            orow[j] = dot_i8(xr, &w[j * k..(j + 1) * k]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_block_avx2(x: &[i8], k: usize, w: &[i8], n: usize, j0: usize, j1: usize, out: &mut [i32]) {
    dot_block(x, k, w, n, j0, j1, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
fn dot_block_avx512(x: &[i8], k: usize, w: &[i8], n: usize, j0: usize, j1: usize, out: &mut [i32]) {
    dot_block(x, k, w, n, j0, j1, out)
}

/// [`dot_block`] compiled for `isa`.
#[allow(clippy::too_many_arguments)]
fn dot_block_for(
    isa: Isa,
    x: &[i8],
    k: usize,
    w: &[i8],
    n: usize,
    j0: usize,
    j1: usize,
    out: &mut [i32],
) {
    match isa {
        // SAFETY: `Isa::detect` picks these only when the CPU reports the features.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => unsafe { dot_block_avx512(x, k, w, n, j0, j1, out) },
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { dot_block_avx2(x, k, w, n, j0, j1, out) },
        _ => dot_block(x, k, w, n, j0, j1, out),
    }
}

/// Rows of `w` handled together so a block of weights stays in cache across input rows.
const COL_BLOCK: usize = 64;

impl Gemm for CpuEngine {
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
        let isa = self.isa;
        self.pool.install(|| {
            if m >= 4 * self.pool.current_num_threads() {
                // Parallel over row blocks; inside, weights in column blocks.
                let rows_per = 4usize;
                out.par_chunks_mut(rows_per * n)
                    .enumerate()
                    .for_each(|(bi, ob)| {
                        let r0 = bi * rows_per;
                        let nr = ob.len() / n;
                        let xb = &x[r0 * k..(r0 + nr) * k];
                        for j0 in (0..n).step_by(COL_BLOCK) {
                            dot_block_for(isa, xb, k, w, n, j0, (j0 + COL_BLOCK).min(n), ob);
                        }
                    });
            } else {
                // Few rows: parallel over column blocks of each row.
                for (i, orow) in out.chunks_mut(n).enumerate() {
                    let xr = &x[i * k..(i + 1) * k];
                    orow.par_chunks_mut(COL_BLOCK)
                        .enumerate()
                        .for_each(|(b, o)| {
                            let j0 = b * COL_BLOCK;
                            let wb = &w[j0 * k..(j0 + o.len()) * k];
                            dot_block_for(isa, xr, k, wb, o.len(), 0, o.len(), o);
                        });
                }
            }
        });
        Ok(())
    }

    fn map_indexed(&self, n: usize, f: &(dyn Fn(usize) -> Vec<i8> + Sync)) -> Vec<Vec<i8>> {
        par_map_indexed(&self.pool, n, f)
    }

    fn for_each_chunk_i8(
        &self,
        out: &mut [i8],
        chunk_len: usize,
        f: &(dyn Fn(usize, &mut [i8]) + Sync),
    ) {
        par_chunks(&self.pool, out, chunk_len, f)
    }

    fn for_each_chunk_i16(
        &self,
        out: &mut [i16],
        chunk_len: usize,
        f: &(dyn Fn(usize, &mut [i16]) + Sync),
    ) {
        par_chunks(&self.pool, out, chunk_len, f)
    }

    fn map_indexed_i32(&self, n: usize, f: &(dyn Fn(usize) -> Vec<i32> + Sync)) -> Vec<Vec<i32>> {
        par_map_indexed(&self.pool, n, f)
    }

    fn for_each_chunk_i64(
        &self,
        out: &mut [i64],
        chunk_len: usize,
        f: &(dyn Fn(usize, &mut [i64]) + Sync),
    ) {
        par_chunks(&self.pool, out, chunk_len, f)
    }
}

/// [`Gemm::map_indexed`] on `pool` (shared by the engines that compute on CPU threads).
pub(crate) fn par_map_indexed<T: Send>(
    pool: &rayon::ThreadPool,
    n: usize,
    f: &(dyn Fn(usize) -> Vec<T> + Sync),
) -> Vec<Vec<T>> {
    pool.install(|| (0..n).into_par_iter().map(f).collect())
}

/// [`Gemm::for_each_chunk_i8`] and `_i16` on `pool`.
pub(crate) fn par_chunks<T: Send>(
    pool: &rayon::ThreadPool,
    out: &mut [T],
    chunk_len: usize,
    f: &(dyn Fn(usize, &mut [T]) + Sync),
) {
    pool.install(|| {
        out.par_chunks_mut(chunk_len.max(1))
            .enumerate()
            .for_each(|(i, c)| f(i, c))
    });
}
