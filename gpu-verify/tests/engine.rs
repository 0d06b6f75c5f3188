//! Engine, commitment and one-layer re-execution tests on random models, under both
//! numerics versions.
#![allow(clippy::unwrap_used)]

use gpu_verify::commit::{activation_hash, check_layer, settle_layer, LayerOpening, Verdict};
use gpu_verify::cpu::CpuEngine;
use gpu_verify::engine::{run, run_layer, ActData, Activation, RefGemm};
use gpu_verify::format::ModelFile;
use gpu_verify::model::Model;
use gpu_verify::random::{
    minilm_config, random_encoder, random_encoder_with, random_mlp, random_tokens,
    tiny_encoder_config, Rng,
};
use gpu_verify::Error;

fn encoder(seed: u64) -> Model {
    random_encoder(seed, tiny_encoder_config()).unwrap()
}

/// A tiny random encoder under each numerics version.
fn encoders(seed: u64) -> [Model; 2] {
    [1, 2].map(|v| random_encoder_with(seed, tiny_encoder_config(), v).unwrap())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Numerics v1 models keep their content ids and their outputs byte for byte: the values
/// were computed by the tree before numerics v2 existed, on the same random models.
#[test]
fn numerics_v1_models_keep_their_ids_and_outputs() {
    let golden = [
        (
            tiny_encoder_config(),
            3u64,
            "5993f206a5574a0cb03de8a5a0a764a4e7d3d6617f786daccb6c2789e77b9e1c",
            "69bb914d6bc97ad5620dcabb7bf3f534f490e779f5aaba04779aa45b9285492d",
        ),
        (
            minilm_config(),
            5,
            "660341b36428980fb6d93b358738c529f57d402b020b6173a7e59d9c3e775205",
            "2d55c35854cbeb0e93af8e8673d70aee3586f19997bfb7a81e42a4d51b0fe7c6",
        ),
    ];
    for (cfg, seed, id, root) in golden {
        let m = random_encoder_with(seed, cfg, 1).unwrap();
        let file = m.to_file().unwrap();
        assert_eq!(file.numerics, 1);
        assert_eq!(hex(&file.content_hash()), id);
        // Through the bytes and back: still v1, same model.
        assert_eq!(Model::from_bytes(&file.to_bytes()).unwrap(), m);
        let x = Activation::tokens(&random_tokens(seed + 1, 2, 1, 40, cfg.vocab));
        let tr = run(&m, &x, &CpuEngine::new(2).unwrap()).unwrap();
        assert_eq!(hex(&tr.commitment.root()), root);
        // The same weights under v2 are another model, with other outputs.
        let v2 = random_encoder_with(seed, cfg, 2).unwrap();
        assert_ne!(hex(&v2.to_file().unwrap().content_hash()), id);
    }
}

fn input(seed: u64) -> Activation {
    Activation::tokens(&random_tokens(seed, 3, 1, 40, 500))
}

#[test]
fn model_roundtrips_through_file_format() {
    for m in encoders(1) {
        let f = m.to_file().unwrap();
        let back = Model::from_bytes(&f.to_bytes()).unwrap();
        assert_eq!(back, m);
    }
    let mlp = random_mlp(2, &[16, 32, 8], 64).unwrap();
    assert_eq!(
        Model::from_bytes(&mlp.to_file().unwrap().to_bytes()).unwrap(),
        mlp
    );
}

#[test]
fn inconsistent_models_are_refused() {
    let f = encoder(1).to_file().unwrap();
    // Drop a tensor.
    let mut g = f.clone();
    g.tensors.remove(3);
    assert!(matches!(
        Model::from_file(&g),
        Err(Error::MissingTensor(_)) | Err(Error::Invalid(_))
    ));
    // Header says more layers than the file has.
    let mut g = f.clone();
    g.params[2] += 1;
    assert!(matches!(Model::from_file(&g), Err(Error::MissingTensor(_))));
    // Heads not dividing hidden.
    let mut g = f.clone();
    g.params[3] = 7;
    assert!(matches!(Model::from_file(&g), Err(Error::Invalid(_))));
    // A requant shift beyond 62.
    let mut g = f.clone();
    let t = g
        .tensors
        .iter_mut()
        .find(|t| t.name == "l000.qkv.s")
        .unwrap();
    t.data[0] = 63;
    assert!(matches!(Model::from_file(&g), Err(Error::Invalid(_))));
    // A tensor with the wrong shape.
    let mut g = f.clone();
    let t = g.tensors.iter_mut().find(|t| t.name == "l001.o.b").unwrap();
    t.shape = vec![t.shape[0] / 2, 2];
    assert!(matches!(
        Model::from_file(&g),
        Err(Error::TensorMismatch { .. })
    ));
    // Truncated bytes of a real model never panic.
    let bytes = f.to_bytes();
    for cut in [0, 7, 80, 81, 1000, bytes.len() / 2, bytes.len() - 1] {
        assert!(ModelFile::from_bytes(&bytes[..cut]).is_err());
    }
}

#[test]
fn single_and_multi_thread_are_byte_identical() {
    for m in encoders(3) {
        single_and_multi_thread_agree(&m);
    }
}

fn single_and_multi_thread_agree(m: &Model) {
    let x = input(4);
    let a = run(m, &x, &RefGemm).unwrap();
    let one = CpuEngine::new(1).unwrap();
    let many = CpuEngine::new(4).unwrap();
    let b = run(m, &x, &one).unwrap();
    let c = run(m, &x, &many).unwrap();
    assert_eq!(a.commitment, b.commitment);
    assert_eq!(a.commitment, c.commitment);
    assert_eq!(a.outputs, c.outputs);
    // The output is a unit vector in Q15 and not degenerate.
    let Some(ActData::I16(v)) = c.output().map(|o| &o.data) else {
        panic!("no embedding")
    };
    let n: i64 = v[..64].iter().map(|&x| x as i64 * x as i64).sum();
    assert!((n - (1i64 << 30)).abs() < (1 << 22), "norm^2 {n}");
    assert!(v.iter().filter(|&&x| x != 0).count() > 100);
    // Different input, different commitment; same input again, same commitment.
    assert_ne!(
        run(m, &input(5), &many).unwrap().commitment.root(),
        c.commitment.root()
    );
    assert_eq!(
        run(m, &x, &many).unwrap().commitment.root(),
        c.commitment.root()
    );
}

#[test]
fn activations_are_not_saturated_everywhere() {
    for m in encoders(3) {
        let tr = run(&m, &input(4), &RefGemm).unwrap();
        for (l, o) in tr.outputs.iter().enumerate().skip(1) {
            if let ActData::I16(v) = &o.data {
                let sat = v.iter().filter(|&&x| x.abs() == 32767).count();
                assert!(
                    sat * 10 < v.len(),
                    "layer {l}: {sat} of {} saturated",
                    v.len()
                );
            }
        }
    }
}

#[test]
fn mlp_runs_identically_on_both_engines() {
    let m = random_mlp(7, &[64, 128, 128, 16], 256).unwrap();
    let mut g = Rng::new(8);
    let rows: Vec<Vec<i8>> = (0..50).map(|_| g.i8s(64)).collect();
    let x = Activation::rows_i8(&rows);
    let a = run(&m, &x, &RefGemm).unwrap();
    let b = run(&m, &x, &CpuEngine::new(3).unwrap()).unwrap();
    assert_eq!(a.commitment, b.commitment);
    assert_eq!(a.outputs.len(), 3);
}

#[test]
fn bad_inputs_are_errors() {
    let m = encoder(1);
    let long = Activation::tokens(&[vec![5; 49]]);
    assert!(matches!(
        run(&m, &long, &RefGemm),
        Err(Error::InputTooLong { len: 49, max: 48 })
    ));
    let oov = Activation::tokens(&[vec![5, 500]]);
    assert!(matches!(run(&m, &oov, &RefGemm), Err(Error::Input(_))));
    let empty = Activation::tokens(&[vec![]]);
    assert!(matches!(run(&m, &empty, &RefGemm), Err(Error::Input(_))));
    let none = Activation::tokens(&[]);
    assert!(matches!(run(&m, &none, &RefGemm), Err(Error::Input(_))));
    let wrong_kind = Activation::rows_i8(&[vec![1; 64]]);
    assert!(matches!(
        run(&m, &wrong_kind, &RefGemm),
        Err(Error::Input(_))
    ));
    let mut bad_len = input(1);
    bad_len.lens[0] += 1;
    assert!(matches!(run(&m, &bad_len, &RefGemm), Err(Error::Input(_))));
    assert!(run_layer(&m, 99, &input(1), &RefGemm).is_err());
    let mlp = random_mlp(2, &[16, 32, 8], 4).unwrap();
    let too_many = Activation::rows_i8(&vec![vec![1i8; 16]; 5]);
    assert!(matches!(
        run(&mlp, &too_many, &RefGemm),
        Err(Error::InputTooLong { .. })
    ));
}

#[test]
fn one_layer_reexecution_catches_a_tampered_layer() {
    for m in encoders(11) {
        reexecution_catches_a_tampered_layer(&m);
    }
}

fn reexecution_catches_a_tampered_layer(m: &Model) {
    let x = input(12);
    let be = CpuEngine::new(2).unwrap();
    let tr = run(m, &x, &be).unwrap();
    let root = tr.commitment.root();
    let layer_input = |l: usize| {
        if l == 0 {
            x.clone()
        } else {
            tr.outputs[l - 1].clone()
        }
    };
    // Honest: every layer settles as matching.
    for l in 0..m.layer_count() {
        let o = LayerOpening::from_trace(&tr.commitment, l, layer_input(l)).unwrap();
        assert_eq!(
            settle_layer(m, &root, &o, &be).unwrap(),
            Verdict::Matches,
            "layer {l}"
        );
    }
    // A cheating provider alters layer 3's output (one value) and commits to the result,
    // computing every later layer honestly from the altered value.
    let mut outs = tr.outputs.clone();
    if let ActData::I16(v) = &mut outs[3].data {
        v[17] = v[17].wrapping_add(1);
    }
    let mut leaves = vec![activation_hash(&x)];
    leaves.extend(outs[..4].iter().map(activation_hash));
    let mut cur = outs[3].clone();
    for l in 4..m.layer_count() {
        cur = run_layer(m, l, &cur, &be).unwrap();
        leaves.push(activation_hash(&cur));
    }
    let cheat = gpu_verify::commit::Commitment { leaves };
    assert_eq!(
        tr.commitment.first_differing_layer(&cheat).unwrap(),
        Some(3)
    );
    let croot = cheat.root();
    let o = LayerOpening::from_trace(&cheat, 3, outs[2].clone()).unwrap();
    assert!(matches!(
        settle_layer(m, &croot, &o, &be).unwrap(),
        Verdict::Differs { .. }
    ));
    // Layer 4 is consistent with the cheat's own (wrong) input: no false accusation there.
    let o4 = LayerOpening::from_trace(&cheat, 4, outs[3].clone()).unwrap();
    assert_eq!(settle_layer(m, &croot, &o4, &be).unwrap(), Verdict::Matches);
    // Openings with a substituted input or forged proofs are errors, never a verdict.
    let mut forged = o.clone();
    forged.input = tr.outputs[3].clone();
    assert!(matches!(
        settle_layer(m, &croot, &forged, &be),
        Err(Error::Proof(_))
    ));
    let mut forged = o.clone();
    forged.output_proof.siblings[0][0] ^= 1;
    assert!(matches!(
        settle_layer(m, &croot, &forged, &be),
        Err(Error::Proof(_))
    ));
    let mut forged = o.clone();
    forged.claimed_output = tr.commitment.leaves[4];
    assert!(matches!(
        settle_layer(m, &croot, &forged, &be),
        Err(Error::Proof(_))
    ));
    // check_layer directly.
    assert_eq!(
        check_layer(m, 3, &outs[2], &tr.commitment.leaves[4], &be).unwrap(),
        Verdict::Matches
    );
}

#[test]
fn a_gemm_whose_sums_could_overflow_is_refused_by_every_backend() {
    use gpu_verify::engine::Gemm;
    let k = gpu_verify::numerics::MAX_DOT_LEN + 1;
    let (x, w) = (vec![1i8; k], vec![1i8; k]);
    let mut out = vec![0i32; 1];
    assert!(matches!(
        RefGemm.gemm(&x, 1, k, &w, 1, &mut out),
        Err(Error::Input(_))
    ));
    let cpu = CpuEngine::new(1).unwrap();
    assert!(matches!(
        cpu.gemm(&x, 1, k, &w, 1, &mut out),
        Err(Error::Input(_))
    ));
    assert_eq!(out, vec![0]);
    let k = gpu_verify::numerics::MAX_DOT_LEN;
    RefGemm
        .gemm(&vec![-127; k], 1, k, &vec![-127; k], 1, &mut out)
        .unwrap();
    assert_eq!(out, vec![(k as i32) * 127 * 127]);
}

#[test]
fn every_cpu_instruction_set_gives_the_reference_sums() {
    use gpu_verify::cpu::Isa;
    use gpu_verify::engine::Gemm;
    let mut g = Rng::new(31);
    // Row-block and few-row paths, ragged column blocks, k off every vector width, extremes.
    let shapes = [
        (1, 384, 1536),
        (3, 33, 70),
        (64, 1536, 384),
        (9, 1, 5),
        (17, 100, 129),
    ];
    for isa in Isa::available() {
        let cpu = CpuEngine::with_isa(2, isa).unwrap();
        for &(m, k, n) in &shapes {
            let (x, w) = (g.i8s(m * k), g.i8s(n * k));
            let (mut want, mut got) = (vec![0i32; m * n], vec![1i32; m * n]);
            RefGemm.gemm(&x, m, k, &w, n, &mut want).unwrap();
            cpu.gemm(&x, m, k, &w, n, &mut got).unwrap();
            assert_eq!(got, want, "{isa:?} {m}x{k}x{n}");
        }
        let k = 4099;
        let (x, w) = (vec![-127i8; 2 * k], vec![-127i8; 3 * k]);
        let mut got = vec![0i32; 6];
        cpu.gemm(&x, 2, k, &w, 3, &mut got).unwrap();
        assert_eq!(got, vec![k as i32 * 127 * 127; 6], "{isa:?}");
    }
}
