//! Builds the runtime crate (`menara-runtime`) for `wasm32-unknown-unknown` from a build
//! script and writes `wasm_binary.rs` into its `OUT_DIR`, defining `WASM_BINARY`.
//!
//! The nested build uses its own target directory beside the outer one, so it never waits
//! on the outer build's lock. Builds with different runtime features (the embedded runtime,
//! and the `upgrade-test` one a test upgrades a live chain to) share that directory and its
//! compiled dependencies; a file lock around each build and the copy of its output keeps
//! one from taking the other's `.wasm`. Skipped when the calling crate is itself being
//! built for wasm (or without `std`), or when `MENARA_SKIP_WASM_BUILD=1` (`WASM_BINARY` is
//! then `None`).
use std::path::{Path, PathBuf};
use std::process::Command;

fn write_binary_rs(out_dir: &Path, wasm: Option<&Path>) {
    let body = match wasm {
        Some(p) => format!(
            "/// The runtime compiled to wasm, as embedded at build time.\npub const WASM_BINARY: Option<&[u8]> = Some(include_bytes!({:?}));\n",
            p.display().to_string()
        ),
        None => "/// The runtime compiled to wasm (not built in this configuration).\npub const WASM_BINARY: Option<&[u8]> = None;\n".to_string(),
    };
    if let Err(e) = std::fs::write(out_dir.join("wasm_binary.rs"), body) {
        panic!("cannot write wasm_binary.rs: {e}");
    }
}

/// Builds `menara-runtime` with `features` (besides `no-default-features`) and embeds it.
/// Call from a build script; panics (failing the build) with the reason when it cannot.
pub fn build(features: &[&str]) {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rerun-if-env-changed=MENARA_SKIP_WASM_BUILD");
    if target.starts_with("wasm32") || std::env::var("CARGO_FEATURE_STD").is_err() {
        write_binary_rs(&out_dir, None);
        return;
    }
    if std::env::var("MENARA_SKIP_WASM_BUILD").is_ok_and(|v| !v.is_empty() && v != "0") {
        write_binary_rs(&out_dir, None);
        return;
    }
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    // The workspace root: the nearest ancestor with the runtime crate in it.
    let workspace = manifest_dir
        .ancestors()
        .find(|dir| dir.join("runtime/Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest_dir.clone());
    for watched in [
        "runtime/src",
        "runtime/Cargo.toml",
        "runtime/primitives",
        "runtime/support",
        "pallets",
        // The wasm links gpu-verify's no_std core (challenge audits, disputes).
        "gpu-verify/core",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    // OUT_DIR is <target-dir>[/<triple>]/<profile>/build/<pkg>/out.
    let target_root = out_dir
        .ancestors()
        .nth(4)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| out_dir.clone());
    let wasm_target_dir = target_root.join("wasm-runtime");
    if let Err(e) = std::fs::create_dir_all(&wasm_target_dir) {
        panic!("cannot create {}: {e}", wasm_target_dir.display());
    }
    let lock = match std::fs::File::create(wasm_target_dir.join(".menara-wasm-build.lock")) {
        Ok(f) => f,
        Err(e) => panic!("cannot create the wasm build lock: {e}"),
    };
    if let Err(e) = lock.lock() {
        panic!("cannot take the wasm build lock: {e}");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--package",
            "menara-runtime",
            "--lib",
            "--release",
            "--no-default-features",
        ])
        .args(["--target", "wasm32-unknown-unknown", "--target-dir"])
        .arg(&wasm_target_dir)
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "3")
        .env("CARGO_PROFILE_RELEASE_PANIC", "abort");
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) => panic!("cannot run cargo to build the wasm runtime: {e}"),
    };
    if !status.success() {
        panic!(
            "building the wasm runtime failed ({status}); is the target installed? `rustup target add wasm32-unknown-unknown`"
        );
    }
    let built = wasm_target_dir.join("wasm32-unknown-unknown/release/menara_runtime.wasm");
    let dest = out_dir.join("menara_runtime.wasm");
    if let Err(e) = std::fs::copy(&built, &dest) {
        panic!("cannot copy {}: {e}", built.display());
    }
    drop(lock);
    write_binary_rs(&out_dir, Some(&dest));
}
