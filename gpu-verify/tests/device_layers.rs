//! The device-resident layer path (`gpu_verify::device` and the kernels of `cuda/layers.cu`)
//! gives the CPU engine's bytes: the kernels' integer helpers against gpu-verify-core's
//! numerics on edge and random values, and whole models of every kind layer by layer.
//!
//! The kernels run here compiled for the host (crate `gpu-verify-cuda-host`), one thread
//! after another: the same source NVRTC compiles for the GPU, so these tests run in CI and
//! `scripts/gpu-check.sh` only has the CUDA side left to check.
#![cfg(feature = "std")]
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;

use common::host_device::HostLayersEngine;
use gpu_verify::cpu::CpuEngine;
use gpu_verify::engine::{run, Activation, Trace};
use gpu_verify::model::Model;
use gpu_verify::numerics::{
    div_round, gelu_table_q12, i_exp, i_gelu_q12, isqrt, row_shift, rshift_round, Requant,
    GELU_TABLE_Q16, SAT_Q12,
};
use gpu_verify::random::{
    minilm_config, random_encoder_with, random_mlp, random_tokens, tiny_encoder_config, Rng,
};
use gpu_verify_cuda_host as host;
use proptest::prelude::*;

fn first_differing_layer(cpu: &Trace, dev: &Trace) -> Option<usize> {
    (0..cpu.outputs.len().max(dev.outputs.len()))
        .find(|&l| cpu.outputs.get(l) != dev.outputs.get(l))
}

/// Runs `model` on the CPU engine and on the device path; panics naming the first layer
/// that differs.
fn assert_same_layers(what: &str, model: &Model, input: &Activation) {
    let cpu = CpuEngine::new(0).unwrap();
    let want = run(model, input, &cpu).unwrap();
    let dev = HostLayersEngine::default();
    let got = run(model, input, &dev).unwrap();
    assert!(
        dev.steps.load(Ordering::Relaxed) > 0,
        "{what}: the device path was not taken"
    );
    if let Some(l) = first_differing_layer(&want, &got) {
        panic!(
            "{what}: the device path differs from the CPU first at layer {l} (of {})",
            want.outputs.len()
        );
    }
    assert_eq!(want.commitment, got.commitment, "{what}");
}

#[test]
fn encoders_under_both_numerics_match_the_cpu_layer_by_layer() {
    for numerics in [1, 2] {
        for seed in 0..3u64 {
            let model = random_encoder_with(seed, tiny_encoder_config(), numerics).unwrap();
            // Several sequences of different lengths, including a single token.
            let mut seqs = random_tokens(seed + 50, 5, 1, 48, 500);
            seqs.push(vec![7]);
            assert_same_layers(
                &format!("tiny encoder, numerics v{numerics}, seed {seed}"),
                &model,
                &Activation::tokens(&seqs),
            );
        }
    }
}

#[test]
fn a_minilm_shaped_encoder_matches_the_cpu_layer_by_layer() {
    // MiniLM's widths and head count (12 heads of 32), two sequences.
    let model = random_encoder_with(11, minilm_config(), 2).unwrap();
    let seqs = random_tokens(12, 2, 40, 128, 30522);
    assert_same_layers(
        "MiniLM-shaped encoder, v2",
        &model,
        &Activation::tokens(&seqs),
    );
}

#[test]
fn mlps_match_the_cpu_layer_by_layer() {
    let mut g = Rng::new(5);
    for (dims, rows) in [(&[256usize, 512, 10][..], 300usize), (&[100, 37, 3][..], 5)] {
        let model = random_mlp(9, dims, 1024).unwrap();
        let input = Activation::rows_i8(&(0..rows).map(|_| g.i8s(dims[0])).collect::<Vec<_>>());
        assert_same_layers(&format!("MLP {dims:?}, {rows} rows"), &model, &input);
    }
}

#[test]
fn kept_weights_are_reused_only_while_they_are_byte_identical() {
    let mut model = random_encoder_with(21, tiny_encoder_config(), 2).unwrap();
    let input = Activation::tokens(&random_tokens(22, 3, 4, 30, 500));
    let cpu = CpuEngine::new(0).unwrap();
    let dev = HostLayersEngine::default();
    let first = run(&model, &input, &dev).unwrap();
    let (uploads, hits) = dev.device.cache.stats();
    let Model::Encoder(e) = &model else {
        panic!("an encoder")
    };
    let linears = 4 * e.blocks.len();
    assert_eq!(
        (uploads, hits),
        (linears, 0),
        "first run copies every linear layer once"
    );
    // Second run: every layer from the cache, same bytes.
    let again = run(&model, &input, &dev).unwrap();
    assert_eq!(again.commitment, first.commitment);
    assert_eq!(dev.device.cache.stats(), (linears, linears));
    // Change one weight of the model in place (same allocation, same address): that layer
    // must be copied again, and the result must be the changed model's.
    let Model::Encoder(e) = &mut model else {
        panic!("an encoder")
    };
    e.blocks[0].f1.w[5] = e.blocks[0].f1.w[5].wrapping_add(1).max(-127);
    let changed = run(&model, &input, &dev).unwrap();
    assert_eq!(dev.device.cache.stats(), (linears + 1, 2 * linears - 1));
    let want = run(&model, &input, &cpu).unwrap();
    assert_eq!(changed.commitment, want.commitment);
    assert_ne!(changed.commitment, first.commitment);
}

#[test]
fn the_kernels_integer_helpers_match_the_numerics_at_the_edges() {
    let xs: Vec<i64> = vec![
        0,
        1,
        -1,
        2,
        -2,
        (1 << 31) - 1,
        -(1 << 31),
        (1 << 62) - 1,
        -(1 << 62) + 1,
        i64::MAX,
        i64::MIN + 1,
        i64::MIN,
        123_456_789_012,
        -987_654_321_098,
    ];
    let ms = [0, 1, 2, 3, 255, 46_341, (1 << 30) + 7, i32::MAX];
    for &x in &xs {
        for &m in &ms {
            for shift in 0..=62u8 {
                let want = Requant { m, shift }.apply_wide(x);
                // SAFETY: pure integer function.
                let got = unsafe { host::gv_host_apply_wide(x, m, i32::from(shift)) };
                assert_eq!(got, want, "apply_wide({x}, {m}, {shift})");
            }
        }
    }
    for &n in &[
        0u64,
        1,
        2,
        3,
        4,
        15,
        16,
        17,
        (1 << 32) - 1,
        1 << 32,
        (1 << 62) + 12345,
        u64::MAX / 4,
    ] {
        // SAFETY: pure integer function.
        assert_eq!(unsafe { host::gv_host_isqrt(n) }, isqrt(n), "isqrt({n})");
    }
    for a in [
        0u64,
        1,
        32_512,
        32_513,
        65_024,
        65_025,
        1 << 40,
        1 << 62,
        u64::MAX,
    ] {
        // SAFETY: pure integer function.
        assert_eq!(
            unsafe { host::gv_host_row_shift(a) },
            row_shift(a),
            "row_shift({a})"
        );
    }
    for z in [
        -SAT_Q12 - 5,
        -SAT_Q12,
        -32_769,
        -32_768,
        -1,
        0,
        1,
        32_767,
        32_768,
        SAT_Q12,
        SAT_Q12 + 9,
    ] {
        // SAFETY: pure integer functions; the table has 1,025 entries.
        unsafe {
            assert_eq!(host::gv_host_i_gelu_q12(z), i_gelu_q12(z), "i_gelu({z})");
            assert_eq!(
                host::gv_host_gelu_table_q12(z, GELU_TABLE_Q16.as_ptr()),
                gelu_table_q12(z),
                "gelu_table({z})"
            );
            assert_eq!(
                host::gv_host_i_exp(-z.abs()),
                i_exp(-z.abs()),
                "i_exp({})",
                -z.abs()
            );
        }
    }
}

proptest! {
    #[test]
    fn the_kernels_integer_helpers_match_the_numerics_on_random_values(
        x in -(1i64 << 62)..(1i64 << 62),
        m in 0i32..i32::MAX,
        shift in 0u8..=62,
        z in -(SAT_Q12 * 3)..(SAT_Q12 * 3),
        ex in -(40i64 << 12)..=0,
        b in 1i64..(1i64 << 40),
        n in any::<u64>(),
    ) {
        // SAFETY: pure integer functions; the table has 1,025 entries.
        unsafe {
            prop_assert_eq!(host::gv_host_apply_wide(x, m, i32::from(shift)), Requant { m, shift }.apply_wide(x));
            prop_assert_eq!(host::gv_host_rshift_round(x, u32::from(shift)), rshift_round(x, u32::from(shift)));
            prop_assert_eq!(host::gv_host_div_round(x >> 2, b), div_round(x >> 2, b));
            prop_assert_eq!(host::gv_host_i_exp(ex), i_exp(ex));
            prop_assert_eq!(host::gv_host_i_gelu_q12(z), i_gelu_q12(z));
            prop_assert_eq!(host::gv_host_gelu_table_q12(z, GELU_TABLE_Q16.as_ptr()), gelu_table_q12(z));
            prop_assert_eq!(host::gv_host_isqrt(n >> 2), isqrt(n >> 2));
            prop_assert_eq!(host::gv_host_row_shift(n), row_shift(n));
        }
    }
}
