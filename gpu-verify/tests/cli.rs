//! End-to-end tests of the `gpu-verify` binary on random models.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gpu-verify"))
}

#[test]
fn run_check_settle_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.mvm");
    let out = bin()
        .args(["random-model", "--seed", "5", "--out"])
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hash = String::from_utf8(out.stdout).unwrap();
    let out = bin()
        .args(["hash", "--model"])
        .arg(&model)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), hash);

    let input = dir.path().join("in.json");
    std::fs::write(&input, r#"{"tokens": [[1, 7, 9, 2], [1, 300, 2]]}"#).unwrap();
    let com = dir.path().join("c.json");
    let out = bin()
        .args(["run", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(&input)
        .arg("--commitment-out")
        .arg(&com)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["output"]["embedding_q15"].as_array().unwrap().len(), 2);
    assert_eq!(v["commitment"]["leaves"].as_array().unwrap().len(), 7);

    let out = bin()
        .args(["check", "--engine", "ref", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(&input)
        .arg("--commitment")
        .arg(&com)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("verified"));

    // Tamper with layer 2's leaf (and fix the root so the file is self-consistent).
    let mut c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&com).unwrap()).unwrap();
    let leaf = c["leaves"][3].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}",
        if &leaf[..1] == "0" { "1" } else { "0" },
        &leaf[1..]
    );
    c["leaves"][3] = serde_json::Value::String(flipped);
    c.as_object_mut().unwrap().remove("root");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, c.to_string()).unwrap();
    let out = bin()
        .args(["check", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(&input)
        .arg("--commitment")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("layer 2 is the first"));
    let out = bin()
        .args(["settle", "--layer", "2", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(&input)
        .arg("--commitment")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin()
        .args(["settle", "--layer", "1", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(&input)
        .arg("--commitment")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.mvm");
    assert!(bin()
        .args(["random-model", "--kind", "mlp", "--seed", "1", "--out"])
        .arg(&model)
        .status()
        .unwrap()
        .success());
    let input = dir.path().join("in.json");
    std::fs::write(&input, r#"{"rows": [[1, 2, 3]]}"#).unwrap();
    let out = bin()
        .args(["run", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(&input)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid input"));
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() - 10]).unwrap();
    let out = bin()
        .args(["hash", "--model"])
        .arg(&model)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("truncated") && !err.contains("panicked"),
        "{err}"
    );
    for engine in ["cuda", "cuda-layers"] {
        let out = bin()
            .args(["run", "--engine", engine, "--model"])
            .arg(&model)
            .arg("--input")
            .arg(&input)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{engine}");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{engine}"
        );
    }
}

#[test]
fn challenge_prints_root_and_rejects_bad_input() {
    let seed = format!("0x{}", "ab".repeat(32));
    let out = bin()
        .args([
            "challenge",
            "--shape",
            "test",
            "--depth",
            "5",
            "--seed",
            &seed,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let shape = gpu_verify::challenge::ChallengeShape {
        depth: 5,
        ..gpu_verify::challenge::ChallengeShape::TEST
    };
    let root = gpu_verify::challenge::Challenge::generate(&[0xab; 32], shape)
        .unwrap()
        .run(&gpu_verify::engine::RefGemm, 1)
        .unwrap()
        .root();
    assert_eq!(
        v["root"].as_str().unwrap(),
        format!("0x{}", gpu_verify::io::hex(&root))
    );
    assert_eq!(v["shape"]["depth"], 5);
    assert_eq!(v["total_macs"], 5 * 4 * 32 * 32);
    assert!(v["elapsed_ms"].is_u64());
    for (args, msg) in [
        (vec!["--seed", "0x12"], "64 hex digits"),
        (vec!["--seed", &seed, "--shape", "v100"], "unknown --shape"),
        (
            vec!["--seed", &seed, "--width", "5000"],
            "width exceeds 4096",
        ),
        (vec!["--seed", &seed, "--depth", "0"], "non-zero"),
    ] {
        let out = bin().arg("challenge").args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
    }
}
