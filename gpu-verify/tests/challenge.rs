//! GPU availability challenge: determinism, engine agreement, audits and robustness.
#![allow(clippy::unwrap_used)]

use gpu_verify::challenge::{
    audit_step, audit_step_index, challenge_input, AuditVerdict, Challenge, ChallengeShape,
    StepOpening,
};
use gpu_verify::commit::{merkle_proof, merkle_root, Hash, MerkleProof};
use gpu_verify::cpu::CpuEngine;
use gpu_verify::engine::RefGemm;
use parity_scale_codec::{Decode, Encode};
use proptest::prelude::*;

const SEED: [u8; 32] = [7; 32];

fn shape(seq: u32, width: u32, depth: u32) -> ChallengeShape {
    ChallengeShape { seq, width, depth }
}

fn root(seed: &[u8; 32], s: ChallengeShape) -> Hash {
    Challenge::generate(seed, s)
        .unwrap()
        .run(&RefGemm, 1)
        .unwrap()
        .root()
}

/// All activations `x_0 ..= x_depth`.
fn trajectory(c: &Challenge) -> Vec<Vec<i8>> {
    let mut xs = vec![c.input().to_vec()];
    for _ in 0..c.shape().depth {
        let y = c.step(xs.last().unwrap(), &RefGemm).unwrap();
        xs.push(y);
    }
    xs
}

fn opening_from(leaves: &[Hash], input: &[i8], step: u32) -> StepOpening {
    StepOpening {
        input: input.iter().map(|&v| v as u8).collect(),
        input_proof: merkle_proof(leaves, step as usize - 1).unwrap(),
        output_proof: merkle_proof(leaves, step as usize).unwrap(),
    }
}

/// Pins challenge v1: any change to derivation, step or hashing changes this root.
#[test]
fn test_vector() {
    let mut seed = [0u8; 32];
    seed[31] = 1;
    assert_eq!(
        gpu_verify::io::hex(&root(&seed, ChallengeShape::TEST)),
        "f09d12db89acdd67fd0dc3daa65701ad89beb69126fbd7f179c4c4a338478121"
    );
}

#[test]
fn shapes_validate() {
    for (name, s) in ChallengeShape::PRESETS {
        s.validate().unwrap();
        assert_eq!(ChallengeShape::preset(name), Some(s));
        assert_eq!(ChallengeShape::preset(&name.to_uppercase()), Some(s));
    }
    assert_eq!(ChallengeShape::preset("h800"), None);
    assert_eq!(ChallengeShape::H100.macs_per_step(), 32 * 1024 * 1024);
    assert_eq!(
        ChallengeShape::H100.total_macs(),
        32 * 1024 * 1024 * ChallengeShape::H100.depth as u64
    );
    for bad in [
        shape(0, 32, 8),
        shape(4, 0, 8),
        shape(4, 32, 0),
        shape(1, 4097, 1),
        shape(1025, 16, 1),
        shape(1, 16, 1_000_001),
        shape(13, 4096, 1),
        shape(49, 1024, 1),
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
        assert!(Challenge::generate(&SEED, bad).is_err());
    }
    shape(12, 4096, 1).validate().unwrap();
    shape(48, 1024, 1_000_000).validate().unwrap();
}

#[test]
fn deterministic_and_seed_dependent() {
    let s = ChallengeShape::TEST;
    let a = Challenge::generate(&SEED, s).unwrap();
    assert_eq!(a, Challenge::generate(&SEED, s).unwrap());
    assert_eq!(a.input(), challenge_input(&SEED, s).unwrap());
    assert!(a.weights().iter().chain(a.input()).all(|&v| v != -128));
    assert_eq!(a.weights().len(), 32 * 32);
    assert_eq!(a.bias().len(), 32);
    assert_eq!(root(&SEED, s), root(&SEED, s));
    let mut other = SEED;
    other[31] ^= 1;
    assert_ne!(root(&SEED, s), root(&other, s));
    // The shape is part of the derivation.
    assert_ne!(root(&SEED, s), root(&SEED, shape(4, 32, 9)));
    let r = a.run(&RefGemm, 3).unwrap();
    assert_eq!(r.leaves().len(), 9);
    assert_eq!(r.root(), merkle_root(r.leaves()));
    assert_eq!(r.leaves()[0], a.leaf(a.input()));
    assert!(a.run(&RefGemm, 0).is_err());
    assert!(a.step(&[0; 5], &RefGemm).is_err());
}

#[test]
fn engines_agree() {
    let s = shape(8, 256, 40);
    let c = Challenge::generate(&SEED, s).unwrap();
    let a = c.run(&RefGemm, 10).unwrap();
    for threads in [1, 3] {
        let b = c.run(&CpuEngine::new(threads).unwrap(), 7).unwrap();
        assert_eq!(a.leaves(), b.leaves());
        assert_eq!(a.root(), b.root());
    }
}

#[test]
fn honest_openings_pass_everywhere() {
    let s = shape(4, 64, 21);
    let c = Challenge::generate(&SEED, s).unwrap();
    let xs = trajectory(&c);
    let cpu = CpuEngine::new(2).unwrap();
    for every in [1, 4, 100] {
        let r = c.run(&cpu, every).unwrap();
        for step in 1..=s.depth {
            let o = r.opening(step, &cpu).unwrap();
            assert_eq!(
                o.input,
                xs[step as usize - 1]
                    .iter()
                    .map(|&v| v as u8)
                    .collect::<Vec<_>>()
            );
            assert_eq!(
                audit_step(&SEED, s, step, &r.root(), &o).unwrap(),
                AuditVerdict::Honest,
                "step {step}"
            );
            // The opening survives a SCALE round trip.
            let back = StepOpening::decode(&mut &o.encode()[..]).unwrap();
            assert_eq!(back, o);
        }
        assert!(r.opening(0, &cpu).is_err());
        assert!(r.opening(s.depth + 1, &cpu).is_err());
        assert_eq!(r.activation(s.depth, &cpu).unwrap(), xs[s.depth as usize]);
    }
    // The chain's own mistakes are errors, not verdicts.
    let r = c.run(&RefGemm, 5).unwrap();
    let o = r.opening(1, &RefGemm).unwrap();
    assert!(audit_step(&SEED, s, 0, &r.root(), &o).is_err());
    assert!(audit_step(&SEED, s, s.depth + 1, &r.root(), &o).is_err());
    assert!(audit_step(&SEED, shape(0, 64, 21), 1, &r.root(), &o).is_err());
}

#[test]
fn corrupted_output_is_caught() {
    let s = shape(4, 64, 12);
    let c = Challenge::generate(&SEED, s).unwrap();
    let xs = trajectory(&c);
    let k = 6usize;
    // A cheater whose step k is off by one value, but who continues honestly from it.
    let mut bad = xs.clone();
    bad[k][3] = if bad[k][3] == 127 { 126 } else { bad[k][3] + 1 };
    for i in k + 1..bad.len() {
        bad[i] = c.step(&bad[i - 1], &RefGemm).unwrap();
    }
    let leaves: Vec<Hash> = bad.iter().map(|x| c.leaf(x)).collect();
    let root = merkle_root(&leaves);
    let audit = |step: u32| {
        let o = opening_from(&leaves, &bad[step as usize - 1], step);
        audit_step(&SEED, s, step, &root, &o).unwrap()
    };
    assert_eq!(audit(k as u32), AuditVerdict::WrongOutput);
    // A single-step audit only sees the step it opens.
    assert_eq!(audit(k as u32 + 1), AuditVerdict::Honest);
    assert_eq!(audit(1), AuditVerdict::Honest);

    // A cheater who only replaced leaf k: steps k and k + 1 both fail.
    let mut leaves2: Vec<Hash> = xs.iter().map(|x| c.leaf(x)).collect();
    leaves2[k] = c.leaf(&bad[k]);
    let root2 = merkle_root(&leaves2);
    let o = opening_from(&leaves2, &xs[k - 1], k as u32);
    assert_eq!(
        audit_step(&SEED, s, k as u32, &root2, &o).unwrap(),
        AuditVerdict::WrongOutput
    );
    let o = opening_from(&leaves2, &bad[k], k as u32 + 1);
    assert_eq!(
        audit_step(&SEED, s, k as u32 + 1, &root2, &o).unwrap(),
        AuditVerdict::WrongOutput
    );
    // ... and opening the honest x_k instead is a bad input opening.
    let o = opening_from(&leaves2, &xs[k], k as u32 + 1);
    assert_eq!(
        audit_step(&SEED, s, k as u32 + 1, &root2, &o).unwrap(),
        AuditVerdict::BadInputOpening
    );

    // The last step, wrong.
    let mut leaves3: Vec<Hash> = xs.iter().map(|x| c.leaf(x)).collect();
    leaves3[s.depth as usize] = [0; 32];
    let root3 = merkle_root(&leaves3);
    let o = opening_from(&leaves3, &xs[s.depth as usize - 1], s.depth);
    assert_eq!(
        audit_step(&SEED, s, s.depth, &root3, &o).unwrap(),
        AuditVerdict::WrongOutput
    );
}

#[test]
fn forged_inputs_are_caught() {
    let s = shape(4, 64, 10);
    let c = Challenge::generate(&SEED, s).unwrap();
    let r = c.run(&RefGemm, 3).unwrap();
    let root = r.root();
    let honest = r.opening(5, &RefGemm).unwrap();

    // A different input with a proof taken from another tree in which it is leaf 4.
    let mut forged_x: Vec<i8> = honest.input.iter().map(|&b| b as i8).collect();
    forged_x[0] = forged_x[0].wrapping_neg();
    let mut fake_leaves = r.leaves().to_vec();
    fake_leaves[4] = c.leaf(&forged_x);
    let mut o = opening_from(&fake_leaves, &forged_x, 5);
    o.output_proof = honest.output_proof.clone();
    assert_eq!(
        audit_step(&SEED, s, 5, &root, &o).unwrap(),
        AuditVerdict::BadInputOpening
    );
    // The honest input with a tampered sibling.
    let mut o = honest.clone();
    o.input_proof.siblings[0][0] ^= 1;
    assert_eq!(
        audit_step(&SEED, s, 5, &root, &o).unwrap(),
        AuditVerdict::BadInputOpening
    );
    // Step 1 must start from the challenge input, even with a proof that verifies.
    let mut fake_leaves = r.leaves().to_vec();
    let mut x = c.input().to_vec();
    x[1] = if x[1] == 0 { 1 } else { 0 };
    fake_leaves[0] = c.leaf(&x);
    fake_leaves[1] = c.leaf(&c.step(&x, &RefGemm).unwrap());
    let o = opening_from(&fake_leaves, &x, 1);
    assert_eq!(
        audit_step(&SEED, s, 1, &merkle_root(&fake_leaves), &o).unwrap(),
        AuditVerdict::BadInputOpening
    );
    // Malformed: wrong length, -128, wrong proof positions or tree size.
    let mut o = honest.clone();
    o.input.pop();
    assert_eq!(
        audit_step(&SEED, s, 5, &root, &o).unwrap(),
        AuditVerdict::Malformed
    );
    let mut o = honest.clone();
    o.input[2] = 0x80;
    assert_eq!(
        audit_step(&SEED, s, 5, &root, &o).unwrap(),
        AuditVerdict::Malformed
    );
    let mut o = honest.clone();
    o.output_proof.index = 6;
    assert_eq!(
        audit_step(&SEED, s, 5, &root, &o).unwrap(),
        AuditVerdict::Malformed
    );
    let mut o = honest.clone();
    o.input_proof.leaf_count += 1;
    assert_eq!(
        audit_step(&SEED, s, 5, &root, &o).unwrap(),
        AuditVerdict::Malformed
    );
    // The opening of another step, or against another seed.
    let o4 = r.opening(4, &RefGemm).unwrap();
    assert_eq!(
        audit_step(&SEED, s, 5, &root, &o4).unwrap(),
        AuditVerdict::Malformed
    );
    assert_ne!(
        audit_step(&[8; 32], s, 5, &root, &honest).unwrap(),
        AuditVerdict::Honest
    );
}

#[test]
fn audit_index_is_in_range_and_spread() {
    let s = shape(4, 32, 10);
    let mut counts = [0u32; 10];
    for i in 0..5000u32 {
        let mut r = [0u8; 32];
        r[..4].copy_from_slice(&i.to_le_bytes());
        let k = audit_step_index(&r, s);
        assert!((1..=10).contains(&k));
        counts[k as usize - 1] += 1;
    }
    assert!(
        counts.iter().all(|&c| (400..600).contains(&c)),
        "{counts:?}"
    );
    assert_eq!(audit_step_index(&[0; 32], shape(4, 32, 1)), 1);
    assert_eq!(audit_step_index(&[0; 32], shape(4, 32, 0)), 1);
    let big = ChallengeShape::H100;
    assert!((1..=big.depth).contains(&audit_step_index(&[9; 32], big)));
}

/// Over 1000 steps the activations neither collapse to zero nor pin to the rails, never
/// repeat, and a one-unit change of `x0` spreads to the whole row (chaotic, no shortcut).
#[test]
fn activations_stay_spread() {
    let s = shape(8, 256, 1000);
    let c = Challenge::generate(&[3; 32], s).unwrap();
    let cpu = CpuEngine::new(0).unwrap();
    let w = s.width as usize;
    let mut x = c.input().to_vec();
    let mut xp = x.clone();
    xp[0] = if xp[0] == 127 { 126 } else { xp[0] + 1 };
    let mut seen = std::collections::HashSet::new();
    let mut hist = [0u64; 255];
    let mut total = 0u64;
    for i in 1..=s.depth {
        x = c.step(&x, &cpu).unwrap();
        xp = c.step(&xp, &cpu).unwrap();
        assert!(seen.insert(x.clone()), "activation repeats at step {i}");
        if i >= 50 {
            for &v in &x {
                hist[(v as i32 + 127) as usize] += 1;
            }
            total += x.len() as u64;
        }
        if i % 100 == 0 {
            let n = x.len() as f64;
            let rms = (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / n).sqrt();
            let sat = x.iter().filter(|&&v| v.abs() == 127).count() as f64 / n;
            let zero = x.iter().filter(|&&v| v == 0).count() as f64 / n;
            assert!((60.0..=100.0).contains(&rms), "step {i}: rms {rms}");
            assert!(sat < 0.35, "step {i}: {sat} saturated");
            assert!(zero < 0.02, "step {i}: {zero} zero");
        }
    }
    // Every value in [-127, 127] occurs; the interior is roughly flat-to-bell shaped.
    assert!(hist.iter().all(|&h| h > 0));
    let interior: u64 = hist[1..254].iter().sum();
    assert!(
        interior * 100 > total * 65,
        "interior {interior} of {total}"
    );
    let (lo, hi) = (hist[1..254].iter().min(), hist[1..254].iter().max());
    assert!(*hi.unwrap() < 8 * *lo.unwrap(), "{lo:?} {hi:?}");
    // Row 0 diverged from the perturbed run; the other rows are independent and equal.
    let diff0 = x[..w].iter().zip(&xp[..w]).filter(|(a, b)| a != b).count();
    assert!(diff0 * 10 > w * 8, "only {diff0} of {w} values differ");
    assert_eq!(x[w..], xp[w..]);
}

fn arb_proof() -> impl Strategy<Value = MerkleProof> {
    (
        prop_oneof![0u32..12, any::<u32>()],
        prop_oneof![0u32..12, any::<u32>()],
        prop::collection::vec(any::<[u8; 32]>(), 0..40),
    )
        .prop_map(|(index, leaf_count, siblings)| MerkleProof {
            index,
            leaf_count,
            siblings,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Arbitrary openings, steps and roots: a verdict or an error, never a panic, and never
    /// `Honest` for garbage.
    #[test]
    fn audit_never_panics(
        input in prop_oneof![
            prop::collection::vec(any::<u8>(), 128..=128),
            prop::collection::vec(any::<u8>(), 0..300),
        ],
        ip in arb_proof(),
        op in arb_proof(),
        step in prop_oneof![0u32..12, any::<u32>()],
        root in any::<[u8; 32]>(),
        seed in any::<[u8; 32]>(),
    ) {
        let s = ChallengeShape::TEST;
        let o = StepOpening { input, input_proof: ip, output_proof: op };
        if let Ok(v) = audit_step(&seed, s, step, &root, &o) {
            prop_assert_ne!(v, AuditVerdict::Honest);
        }
        let _ = audit_step_index(&root, s);
    }

    /// Honest openings with one mutated byte of their SCALE encoding: decoding and auditing
    /// never panic, and a successful audit only says `Honest` for the unchanged opening.
    #[test]
    fn mutated_encodings_never_panic(pos in any::<usize>(), byte in any::<u8>(), step in 1u32..=8) {
        let s = ChallengeShape::TEST;
        let r = Challenge::generate(&SEED, s).unwrap().run(&RefGemm, 2).unwrap();
        let o = r.opening(step, &RefGemm).unwrap();
        let mut bytes = o.encode();
        let i = pos % bytes.len();
        bytes[i] = byte;
        if let Ok(d) = StepOpening::decode(&mut &bytes[..]) {
            let v = audit_step(&SEED, s, step, &r.root(), &d).unwrap();
            prop_assert_eq!(v == AuditVerdict::Honest, d == o);
        }
    }

    #[test]
    fn decoding_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = StepOpening::decode(&mut &bytes[..]);
        let _ = MerkleProof::decode(&mut &bytes[..]);
    }
}

/// A backend with its own challenge runner (as a GPU keeps weights and activations on the
/// device), here computing on the CPU; `broken` makes it misbehave.
struct Resident {
    cpu: CpuEngine,
    broken: Option<&'static str>,
}

impl gpu_verify::engine::Gemm for Resident {
    fn gemm(
        &self,
        x: &[i8],
        m: usize,
        k: usize,
        w: &[i8],
        n: usize,
        out: &mut [i32],
    ) -> Result<(), gpu_verify::Error> {
        self.cpu.gemm(x, m, k, w, n, out)
    }

    fn challenge_runner(&self) -> Option<&dyn gpu_verify::challenge::ChallengeRunner> {
        Some(self)
    }
}

impl gpu_verify::challenge::ChallengeRunner for Resident {
    fn run_steps(
        &self,
        c: &Challenge,
        emit: &mut dyn FnMut(&[i8]) -> Result<(), gpu_verify::Error>,
    ) -> Result<(), gpu_verify::Error> {
        let mut x = c.input().to_vec();
        for i in 0..c.shape().depth {
            x = c.step(&x, &self.cpu)?;
            match self.broken {
                Some("short") if i + 1 == c.shape().depth => return Ok(()),
                Some("long") => emit(&x)?,
                Some("width") => x.pop().map(|_| ()).unwrap_or(()),
                _ => {}
            }
            emit(&x)?;
        }
        Ok(())
    }
}

#[test]
fn a_backends_own_challenge_runner_gives_the_stepwise_root_and_checkpoints() {
    let shape = ChallengeShape {
        seq: 8,
        width: 64,
        depth: 30,
    };
    let c = Challenge::generate(&[4u8; 32], shape).unwrap();
    let cpu = CpuEngine::new(1).unwrap();
    let want = c.run(&cpu, 7).unwrap();
    let resident = Resident {
        cpu: CpuEngine::new(1).unwrap(),
        broken: None,
    };
    let got = c.run(&resident, 7).unwrap();
    assert_eq!(got.root(), want.root());
    for step in [1, 7, 8, 30] {
        assert_eq!(
            got.opening(step, &cpu).unwrap(),
            want.opening(step, &cpu).unwrap()
        );
    }
    assert_eq!(c.run_stepwise(&resident, 7).unwrap().root(), want.root());
    // A runner that gives too few or too many activations, or wrong-sized ones, is an
    // error, never a root.
    for broken in ["short", "long", "width"] {
        let bad = Resident {
            cpu: CpuEngine::new(1).unwrap(),
            broken: Some(broken),
        };
        assert!(
            matches!(c.run(&bad, 7), Err(gpu_verify::Error::Input(_))),
            "{broken}"
        );
    }
}
