//! One-layer openings and one-step disputes on encoders: every layer of a random encoder
//! (tiny, and MiniLM-shaped) re-runs bit for bit from its opening alone, a cheated layer is
//! blamed on the cheater (under both numerics versions; a v1 opening is refused as the v2
//! model's), and the dispute code never panics on any byte string.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gpu_verify::commit::activation_hash;
use gpu_verify::engine::{run, run_layer, ActData, Activation, RefGemm};
use gpu_verify::layer::{settle_dispute, DisputeError, LayerWeights};
use gpu_verify::random::{minilm_config, random_encoder, random_encoder_with, tiny_encoder_config};
use parity_scale_codec::{Decode, Encode};
use proptest::prelude::*;

fn tokens(n: usize, vocab: u32, seed: u32) -> Activation {
    let ids: Vec<u32> = (0..n as u32)
        .map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed)) % vocab)
        .collect();
    Activation::tokens(&[ids])
}

/// What a cheating provider commits: layer `bad`'s output flipped, later layers re-run.
fn cheated_leaves(
    model: &gpu_verify::model::Model,
    input: &Activation,
    bad: usize,
) -> Vec<[u8; 32]> {
    let trace = run(model, input, &RefGemm).unwrap();
    let mut leaves = trace.commitment.leaves.clone();
    let mut act = trace.outputs[bad].clone();
    match &mut act.data {
        ActData::I16(v) => v[0] = v[0].wrapping_add(1),
        ActData::I8(v) => v[0] = v[0].wrapping_add(1),
        ActData::Tokens(v) => v[0] ^= 1,
    }
    leaves[bad + 1] = activation_hash(&act);
    for l in bad + 1..model.layer_count() {
        act = run_layer(model, l, &act, &RefGemm).unwrap();
        leaves[l + 1] = activation_hash(&act);
    }
    leaves
}

#[test]
fn every_encoder_layer_reruns_from_its_opening_and_a_cheat_is_blamed() {
    for numerics in [1, 2] {
        every_layer_reruns_and_a_cheat_is_blamed(numerics);
    }
    // An opening of the v1 model does not pass as the v2 model's (the numerics version is
    // under the content id), although the weights are the same bytes.
    let v1 = random_encoder_with(7, tiny_encoder_config(), 1).unwrap();
    let v2 = random_encoder_with(7, tiny_encoder_config(), 2).unwrap();
    let v2_id = v2.to_file().unwrap().content_hash();
    let opened = LayerWeights::open(&v1.to_file().unwrap(), 2).unwrap();
    assert!(opened.verify(&v2_id, 2).is_err());
    let mut relabelled = opened.clone();
    relabelled.numerics = 2;
    assert!(relabelled.verify(&v2_id, 2).is_err());
}

fn every_layer_reruns_and_a_cheat_is_blamed(numerics: u32) {
    let model = random_encoder_with(7, tiny_encoder_config(), numerics).unwrap();
    let file = model.to_file().unwrap();
    let id = file.content_hash();
    let input = tokens(9, tiny_encoder_config().vocab as u32, 3);
    let trace = run(&model, &input, &RefGemm).unwrap();
    let honest = trace.commitment.leaves.clone();
    for layer in 0..model.layer_count() {
        let weights = LayerWeights::open_for_input(
            &file,
            layer,
            if layer == 0 {
                &input
            } else {
                &trace.outputs[layer - 1]
            },
        )
        .unwrap();
        assert_eq!(weights.slices.len(), usize::from(layer == 0));
        // Through SCALE, as the chain receives it.
        let weights = LayerWeights::decode(&mut &weights.encode()[..]).unwrap();
        let layer_input = if layer == 0 {
            &input
        } else {
            &trace.outputs[layer - 1]
        };
        assert_eq!(
            weights.run(&id, layer, layer_input, &RefGemm).unwrap(),
            trace.outputs[layer],
            "layer {layer}"
        );
        let cheat = cheated_leaves(&model, &input, layer);
        let v = settle_dispute(
            &id,
            &cheat,
            &honest,
            layer as u32,
            layer_input,
            &weights,
            &RefGemm,
        )
        .unwrap();
        assert!(!v.provider_right && v.challenger_right, "layer {layer}");
        let v = settle_dispute(
            &id,
            &honest,
            &cheat,
            layer as u32,
            layer_input,
            &weights,
            &RefGemm,
        )
        .unwrap();
        assert!(v.provider_right && !v.challenger_right, "layer {layer}");
    }
}

#[test]
fn minilm_shaped_block_layers_open_within_the_large_transaction_class() {
    let cfg = minilm_config();
    let model = random_encoder(11, cfg).unwrap();
    let file = model.to_file().unwrap();
    let id = file.content_hash();
    let input = tokens(128, cfg.vocab as u32, 5);
    // Layers 1 and 2 (block 0's attention and feed-forward), run from their openings.
    let out0 = run_layer(&model, 0, &input, &RefGemm).unwrap();
    let out1 = run_layer(&model, 1, &out0, &RefGemm).unwrap();
    let attention = LayerWeights::open(&file, 1).unwrap();
    let bytes = attention.encode().len() + out0.encode().len();
    // 3 MiB is the runtime's large transaction class.
    assert!(bytes < 3 * 1024 * 1024, "{bytes} bytes");
    assert_eq!(attention.run(&id, 1, &out0, &RefGemm).unwrap(), out1);
    // Layer 0: the 30,522-row word table is opened at the job's rows only.
    let emb = LayerWeights::open_for_input(&file, 0, &input).unwrap();
    let bytes = emb.encode().len();
    assert!(bytes < 1024 * 1024, "embedding opening: {bytes} bytes");
    assert_eq!(emb.run(&id, 0, &input, &RefGemm).unwrap(), out0);
    // A row the input does not read is not there; a tampered chunk fails the proof.
    let other = tokens(4, cfg.vocab as u32, 99);
    assert!(emb.run(&id, 0, &other, &RefGemm).is_err());
    let mut bad = emb.clone();
    bad.slices[0].chunks[3].1[5] ^= 1;
    assert!(bad.run(&id, 0, &input, &RefGemm).is_err());
    let mut bad = emb.clone();
    bad.slices[0].subtrees[2][0] ^= 1;
    assert!(bad.run(&id, 0, &input, &RefGemm).is_err());
    let ffn = LayerWeights::open(&file, 2).unwrap();
    let out2 = run_layer(&model, 2, &out1, &RefGemm).unwrap();
    assert_eq!(ffn.run(&id, 2, &out1, &RefGemm).unwrap(), out2);
    // The work a dispute is priced by: numerics v2 runs the GEMMs on twice the rows.
    let macs = |numerics: u32, layer: usize| {
        let m = random_encoder_with(11, cfg, numerics).unwrap();
        let w = LayerWeights::open(&m.to_file().unwrap(), layer).unwrap();
        w.work(layer, &input.lens) - w.data_bytes()
    };
    let (h, i) = (cfg.hidden as u64, cfg.intermediate as u64);
    assert_eq!(macs(1, 2), 128 * 2 * h * i);
    assert_eq!(macs(2, 2), 2 * 128 * 2 * h * i);
    assert_eq!(macs(2, 1) - macs(1, 1), 128 * 4 * h * h);
}

/// Model id, cheating and honest commitments, layer 1's input and weights.
type Fixture = (
    [u8; 32],
    Vec<[u8; 32]>,
    Vec<[u8; 32]>,
    Activation,
    LayerWeights,
);

fn fixture() -> Fixture {
    let model = random_encoder(3, tiny_encoder_config()).unwrap();
    let file = model.to_file().unwrap();
    let input = tokens(5, tiny_encoder_config().vocab as u32, 1);
    let trace = run(&model, &input, &RefGemm).unwrap();
    let cheat = cheated_leaves(&model, &input, 1);
    (
        file.content_hash(),
        cheat,
        trace.commitment.leaves.clone(),
        trace.outputs[0].clone(),
        LayerWeights::open(&file, 1).unwrap(),
    )
}

fn file0() -> gpu_verify::format::ModelFile {
    random_encoder(3, tiny_encoder_config())
        .unwrap()
        .to_file()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes decoded as an opening, or a valid opening with bytes overwritten:
    /// the dispute code returns an error or a verdict, never panics, and a corrupted
    /// opening never convicts the honest side.
    #[test]
    fn dispute_code_never_panics_on_any_bytes(
        raw in proptest::collection::vec(any::<u8>(), 0..4096),
        pos in any::<usize>(),
        patch in proptest::collection::vec(any::<u8>(), 1..16),
    ) {
        let (id, cheat, honest, input, weights) = fixture();
        if let Ok(w) = LayerWeights::decode(&mut &raw[..]) {
            let _ = settle_dispute(&id, &cheat, &honest, 1, &input, &w, &RefGemm);
        }
        if let Ok(a) = Activation::decode(&mut &raw[..]) {
            let _ = settle_dispute(&id, &cheat, &honest, 1, &a, &weights, &RefGemm);
        }
        let mut bytes = weights.encode();
        let at = pos % bytes.len();
        for (i, b) in patch.iter().enumerate() {
            if let Some(x) = bytes.get_mut(at + i) {
                *x ^= b | 1;
            }
        }
        let emb = LayerWeights::open_for_input(&file0(), 0, &tokens(5, tiny_encoder_config().vocab as u32, 1)).unwrap();
        let mut eb = emb.encode();
        let at0 = pos % eb.len();
        for (i, b) in patch.iter().enumerate() {
            if let Some(x) = eb.get_mut(at0 + i) {
                *x ^= b | 1;
            }
        }
        if let Ok(w) = LayerWeights::decode(&mut &eb[..]) {
            let _ = w.run(&file0().content_hash(), 0, &tokens(5, tiny_encoder_config().vocab as u32, 1), &RefGemm);
        }
        if let Ok(w) = LayerWeights::decode(&mut &bytes[..]) {
            match settle_dispute(&id, &cheat, &honest, 1, &input, &w, &RefGemm) {
                // A tampered opening that still decodes can only be refused, or, if
                // the change did not touch what is hashed, give the true verdict.
                Ok(v) => prop_assert!(!v.provider_right && v.challenger_right),
                Err(e) => prop_assert!(!matches!(e, DisputeError::Activation)),
            }
        }
    }
}
