//! The threaded CPU engine: rayon over output rows (or columns when there are few rows),
//! with the vectorisable [`dot_i8`] inner loop.
use rayon::prelude::*;

use crate::engine::{check_gemm_shape, Gemm};
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
        check_gemm_shape(x, m, k, w, n, out)?;
        if m == 0 || n == 0 {
            return Ok(());
        }
        if k == 0 {
            out.fill(0);
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
        self.pool
            .install(|| (0..n).into_par_iter().map(f).collect())
    }
}
