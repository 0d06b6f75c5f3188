//! The runtime's cost of settling an inference dispute over the largest MiniLM layer
//! (block 0's feed-forward, 128 tokens: 151 M multiply-adds, 1.8 MB of weights to hash
//! against the model id): the whole `Challenge` transaction in wasm (wasmtime, the matrix
//! products on the host through `ext_compute_gemm_i8`) and natively, next to the bare
//! layer re-execution natively, in one run.
//! Run: `cargo bench -p menara-executor --bench dispute`.
#![allow(clippy::unwrap_used)]

#[path = "../tests/fixture/dispute.rs"]
mod fixture;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use gpu_verify::engine::RefGemm;
use menara_executor::{Executor, ExecutorConfig};
use menara_primitives::methods;
use menara_runtime::WASM_BINARY;
use menara_state_machine::{Ext, OverlayedChanges};
use parity_scale_codec::Encode;

fn bench(c: &mut Criterion) {
    let exec = Executor::new(ExecutorConfig::default()).unwrap();
    let code = WASM_BINARY.unwrap();
    let f = fixture::build(&exec, true);
    let work = f.weights.work(fixture::LAYER, &f.input.lens);
    println!(
        "challenge transaction: {} bytes, work {} units",
        f.challenge.len(),
        work
    );
    let mut group = c.benchmark_group("dispute_minilm_ffn_seq128");
    group.sample_size(10);
    group.bench_function("wasm_runtime_host_gemm", |b| {
        b.iter_batched(
            || {
                let mut inst = exec
                    .instantiate(code, f.state.clone(), OverlayedChanges::new())
                    .unwrap();
                inst.call(methods::INITIALIZE_BLOCK, &f.ctx.encode())
                    .unwrap();
                inst
            },
            |mut inst| {
                inst.call(methods::APPLY_EXTRINSIC, &f.challenge).unwrap();
                inst
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("native_runtime", |b| {
        b.iter_batched(
            || {
                let mut overlay = OverlayedChanges::new();
                menara_support::io::with_externalities(
                    &mut Ext::new(f.state.as_ref(), &mut overlay),
                    || {
                        menara_runtime::api::call(methods::INITIALIZE_BLOCK, &f.ctx.encode())
                            .unwrap();
                    },
                );
                overlay
            },
            |mut overlay| {
                menara_support::io::with_externalities(
                    &mut Ext::new(f.state.as_ref(), &mut overlay),
                    || {
                        menara_runtime::api::call(methods::APPLY_EXTRINSIC, &f.challenge).unwrap();
                    },
                );
                overlay
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("native_layer_only", |b| {
        b.iter(|| {
            f.weights
                .run(&f.model_id, fixture::LAYER, &f.input, &RefGemm)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
