//! What a runtime upgrade costs the node, on the runtime this tree embeds: the check a
//! proposal runs in its block (`set_code`'s question "which version is this code?": a
//! fuel-metered compile and one call), the compile for execution that follows in the
//! background, and instantiating the code once it is cached (what the first block on the
//! new code pays). Run: `cargo bench -p menara-executor --bench code_check`.
#![allow(clippy::unwrap_used)]
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use menara_executor::{Executor, ExecutorConfig};
use menara_runtime::WASM_BINARY;
use menara_state_machine::{InMemoryState, OverlayedChanges};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn bench(c: &mut Criterion) {
    let code = WASM_BINARY.unwrap();
    let fresh = || Executor::new(ExecutorConfig::default()).unwrap();
    let mut g = c.benchmark_group("runtime_upgrade");
    g.sample_size(10);
    g.bench_function("check proposed code (cold)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let exec = fresh();
                let started = Instant::now();
                assert!(exec.runtime_version(code).is_some());
                total += started.elapsed();
                // The compile for execution it starts runs in the background; let it finish
                // outside the measurement, so that it does not slow the next check.
                while !exec.is_compiled(code) {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            total
        })
    });
    g.bench_function("compile for execution (cold)", |b| {
        b.iter_batched(
            fresh,
            |exec| {
                exec.instantiate(
                    code,
                    Arc::new(InMemoryState::default()),
                    OverlayedChanges::new(),
                )
                .unwrap()
            },
            BatchSize::PerIteration,
        )
    });
    let warm = fresh();
    warm.instantiate(
        code,
        Arc::new(InMemoryState::default()),
        OverlayedChanges::new(),
    )
    .unwrap();
    g.bench_function("instantiate (cached)", |b| {
        b.iter(|| {
            warm.instantiate(
                code,
                Arc::new(InMemoryState::default()),
                OverlayedChanges::new(),
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
