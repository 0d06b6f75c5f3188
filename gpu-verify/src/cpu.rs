//! The threaded CPU engine: rayon over output rows (or columns when there are few rows),
//! with the vectorisable [`dot_i8`] inner loop.
use rayon::prelude::*;

use crate::engine::{gemm_prelude, Gemm};
use crate::error::Error;
use crate::numerics::dot_i8;

/// Multi-threaded CPU backend.
pub struct CpuEngine {
    pool: rayon::ThreadPool,
}

impl std::fmt::Debug for CpuEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CpuEngine({} threads)", self.pool.current_num_threads())
    }
}

impl CpuEngine {
    /// A pool of `threads` workers (`0` = one per core).
    pub fn new(threads: usize) -> Result<Self, Error> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Error::Io(format!("thread pool: {e}")))?;
        Ok(CpuEngine { pool })
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
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
        self.pool.install(|| {
            if m >= 4 * self.pool.current_num_threads() {
                // Parallel over row blocks; inside, weights in column blocks.
                let rows_per = 4usize;
                out.par_chunks_mut(rows_per * n)
                    .enumerate()
                    .for_each(|(bi, ob)| {
                        let r0 = bi * rows_per;
                        let nr = ob.len() / n;
                        for j0 in (0..n).step_by(COL_BLOCK) {
                            let j1 = (j0 + COL_BLOCK).min(n);
                            for r in 0..nr {
                                let xr = &x[(r0 + r) * k..(r0 + r + 1) * k];
                                for j in j0..j1 {
                                    ob[r * n + j] = dot_i8(xr, &w[j * k..(j + 1) * k]);
                                }
                            }
                        }
                    });
            } else {
                // Few rows: parallel over output columns of each row.
                for (i, orow) in out.chunks_mut(n).enumerate() {
                    let xr = &x[i * k..(i + 1) * k];
                    orow.par_iter_mut().enumerate().for_each(|(j, o)| {
                        *o = dot_i8(xr, &w[j * k..(j + 1) * k]);
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
}

/// [`Gemm::map_indexed`] on `pool` (shared by the engines that compute on CPU threads).
pub(crate) fn par_map_indexed(
    pool: &rayon::ThreadPool,
    n: usize,
    f: &(dyn Fn(usize) -> Vec<i8> + Sync),
) -> Vec<Vec<i8>> {
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
