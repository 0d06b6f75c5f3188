//! Builds Menara smart contracts (what `menara contract build DIR` runs).
//!
//! [`build`] compiles a contract crate (a `cdylib` using `menara-contract`) with
//!
//! ```text
//! cargo build --release --target wasm32-unknown-unknown
//! ```
//!
//! in the contract's directory, with the chain's settings applied through the environment
//! so contracts need nothing in their manifest:
//! - rustflags (`CARGO_ENCODED_RUSTFLAGS`, replacing any inherited `RUSTFLAGS` and
//!   configured target rustflags): `-C target-cpu=mvp` (no post-MVP features in generated
//!   code; with fat LTO `core` and `alloc` are compiled from bitcode with it too), a stack
//!   of [`BuildOptions::stack_size`] bytes and a memory maximum of 16 pages (1 MiB);
//! - the release profile (`CARGO_PROFILE_RELEASE_*`): `opt-level = "z"`, `lto = "fat"`,
//!   `panic = "abort"`, `codegen-units = 1`, no debug info.
//!
//! It then post-processes the module: every custom section except `menara:metadata` is
//! dropped (names, producers, target features, debug info) and the instructions are
//! re-encoded canonically (see [`strip_custom_sections`]), and the result is checked
//! against host ABI v1 ([`check_abi`]): the same rules the chain applies at upload, so a
//! bad module fails at build rather than at deploy. The module and its metadata are written
//! to `<target>/menara/<name>.wasm` and `<name>.json`.
//!
//! Optimisation beyond cargo's and LLVM's (for example `wasm-opt`) is out of scope: the
//! module is used as the compiler leaves it, apart from the section stripping.

use std::convert::Infallible;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use menara_contract::metadata::{Metadata, MetadataError};
use menara_contract::METADATA_SECTION;
use wasm_encoder::reencode::Reencode;

/// The wasm target contracts are built for.
pub const TARGET: &str = "wasm32-unknown-unknown";
/// The limits contracts live under (the chain's; see `ABI.md`).
pub use pallet_contracts::limits;
/// The host module contracts may import from.
pub use pallet_contracts::HOST_MODULE;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The directory has no `Cargo.toml`.
    #[error("no Cargo.toml in {0}")]
    ManifestNotFound(PathBuf),
    /// Cargo could not be started.
    #[error("cannot run {cargo:?}: {source}")]
    Spawn {
        /// The cargo binary.
        cargo: OsString,
        /// The error.
        source: std::io::Error,
    },
    /// Cargo failed (its diagnostics went to standard error).
    #[error("cargo build failed ({status}); see the compiler output above")]
    CargoFailed {
        /// Cargo's exit status.
        status: std::process::ExitStatus,
    },
    /// Cargo built no `cdylib` for the contract's package.
    #[error("cargo produced no .wasm for {manifest} (is the crate's `crate-type` [\"cdylib\"]?)")]
    NoArtifact {
        /// The contract's manifest.
        manifest: PathBuf,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The module is not valid wasm, or does not re-encode.
    #[error("invalid wasm: {0}")]
    InvalidWasm(String),
    /// The module breaks the host ABI's rules.
    #[error("the contract breaks the host ABI (see ABI.md):\n  - {}", .0.join("\n  - "))]
    Abi(Vec<String>),
    /// The contract's metadata is missing or invalid.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Cargo's target directory; default `<contract_dir>/target`.
    pub target_dir: Option<PathBuf>,
    /// The cargo binary; default the `CARGO` environment variable, else `cargo`.
    pub cargo: Option<PathBuf>,
    /// The contract's stack size in bytes (default 64 KiB). Stack and static data come out
    /// of the 1 MiB of memory the chain allows; the heap gets the rest.
    pub stack_size: u32,
    /// Further rustflags, after the SDK's.
    pub extra_rustflags: Vec<String>,
    /// Pass `--offline` to cargo.
    pub offline: bool,
    /// Pass `--locked` to cargo (the contract's `Cargo.lock` must be up to date).
    pub locked: bool,
    /// Pass `--quiet` to cargo.
    pub quiet: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            target_dir: None,
            cargo: None,
            stack_size: 64 * 1024,
            extra_rustflags: Vec::new(),
            offline: false,
            locked: false,
            quiet: false,
        }
    }
}

/// A built contract.
#[derive(Debug, Clone)]
pub struct BuiltContract {
    /// The contract crate's library name (the file stem of its outputs).
    pub name: String,
    /// The final module: `<target>/menara/<name>.wasm`.
    pub wasm_path: PathBuf,
    /// Its metadata.
    pub metadata: Metadata,
    /// The metadata as JSON: `<target>/menara/<name>.json`.
    pub metadata_path: PathBuf,
    /// BLAKE3 of the final module (the chain's code hash).
    pub code_hash: [u8; 32],
    /// The final module's size in bytes.
    pub size: usize,
}

/// The rustflags the SDK builds contracts with.
pub fn rustflags(opts: &BuildOptions) -> Vec<String> {
    let mut flags: Vec<String> = [
        "-C".to_owned(),
        "target-cpu=mvp".to_owned(),
        "-C".to_owned(),
        format!("link-arg=-zstack-size={}", opts.stack_size),
        "-C".to_owned(),
        format!("link-arg=--max-memory={}", limits::MEMORY_PAGES * 64 * 1024),
    ]
    .into();
    flags.extend(opts.extra_rustflags.iter().cloned());
    flags
}

/// Path remappings that keep this machine's paths out of the code (panic messages name
/// source files), so the same source builds to the same code hash wherever it is checked
/// out: the contract's folder, the cargo home (registry and git dependencies), and this
/// SDK's repository (path dependencies on it).
fn remap_paths(manifest: &Path) -> Vec<String> {
    let mut remaps: Vec<(PathBuf, &str)> = Vec::new();
    if let Some(dir) = manifest.parent() {
        remaps.push((dir.to_owned(), "/contract"));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(home) = cargo_home {
        remaps.push((home, "/cargo"));
    }
    // This crate sits in `<repository>/sdk/build`.
    if let Some(repo) = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2) {
        remaps.push((repo.to_owned(), "/menara"));
    }
    remaps
        .into_iter()
        .filter_map(|(from, to)| {
            let from = from.canonicalize().unwrap_or(from);
            from.to_str()
                .map(|f| format!("--remap-path-prefix={f}={to}"))
        })
        .collect()
}

/// The release-profile settings the SDK builds contracts with, as cargo environment
/// variables.
pub const PROFILE_ENV: &[(&str, &str)] = &[
    ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "z"),
    ("CARGO_PROFILE_RELEASE_LTO", "fat"),
    ("CARGO_PROFILE_RELEASE_PANIC", "abort"),
    ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1"),
    ("CARGO_PROFILE_RELEASE_DEBUG", "false"),
    ("CARGO_PROFILE_RELEASE_INCREMENTAL", "false"),
];

/// Environment variables removed before running cargo: other sources of rustflags (the
/// SDK sets `CARGO_ENCODED_RUSTFLAGS`, which takes precedence anyway), target and target
/// directory overrides (passed on the command line instead) and inherited release-profile
/// settings (a parent's `CARGO_PROFILE_RELEASE_STRIP`, say).
fn should_clear(key: &str) -> bool {
    matches!(
        key,
        "RUSTFLAGS"
            | "CARGO_ENCODED_RUSTFLAGS"
            | "CARGO_BUILD_RUSTFLAGS"
            | "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS"
            | "CARGO_TARGET_DIR"
            | "CARGO_BUILD_TARGET_DIR"
            | "CARGO_BUILD_TARGET"
    ) || key.starts_with("CARGO_PROFILE_RELEASE_")
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Builds the contract crate in `contract_dir` (see the crate docs).
pub fn build(contract_dir: &Path, opts: &BuildOptions) -> Result<BuiltContract, BuildError> {
    let manifest = contract_dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(BuildError::ManifestNotFound(contract_dir.to_owned()));
    }
    let manifest = manifest.canonicalize().map_err(io_error(&manifest))?;
    let target_dir = match &opts.target_dir {
        Some(dir) => dir.clone(),
        None => contract_dir.join("target"),
    };

    let cargo: OsString = match &opts.cargo {
        Some(path) => path.clone().into_os_string(),
        None => std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
    };
    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(contract_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if opts.offline {
        cmd.arg("--offline");
    }
    if opts.locked {
        cmd.arg("--locked");
    }
    if opts.quiet {
        cmd.arg("--quiet");
    }
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(should_clear) {
            cmd.env_remove(&key);
        }
    }
    let mut flags = rustflags(opts);
    flags.extend(remap_paths(&manifest));
    cmd.env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"));
    for (key, value) in PROFILE_ENV {
        cmd.env(key, value);
    }

    let output = cmd.output().map_err(|source| BuildError::Spawn {
        cargo: cargo.clone(),
        source,
    })?;
    if !output.status.success() {
        return Err(BuildError::CargoFailed {
            status: output.status,
        });
    }
    let (name, artifact) =
        find_artifact(&output.stdout, &manifest).ok_or_else(|| BuildError::NoArtifact {
            manifest: manifest.clone(),
        })?;

    let raw = std::fs::read(&artifact).map_err(io_error(&artifact))?;
    let wasm = strip_custom_sections(&raw)?;
    check_abi(&wasm)?;
    let metadata = Metadata::from_wasm(&wasm)?;

    let out_dir = target_dir.join("menara");
    std::fs::create_dir_all(&out_dir).map_err(io_error(&out_dir))?;
    let wasm_path = out_dir.join(format!("{name}.wasm"));
    std::fs::write(&wasm_path, &wasm).map_err(io_error(&wasm_path))?;
    let metadata_path = out_dir.join(format!("{name}.json"));
    std::fs::write(&metadata_path, metadata.to_json_pretty() + "\n")
        .map_err(io_error(&metadata_path))?;

    Ok(BuiltContract {
        name,
        wasm_path,
        metadata,
        metadata_path,
        code_hash: *blake3::hash(&wasm).as_bytes(),
        size: wasm.len(),
    })
}

/// Finds the `.wasm` of the package at `manifest` among cargo's JSON messages; returns
/// the library's name and the file.
fn find_artifact(stdout: &[u8], manifest: &Path) -> Option<(String, PathBuf)> {
    let mut found = None;
    for line in stdout.split(|b| *b == b'\n') {
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let same_manifest = message["manifest_path"]
            .as_str()
            .and_then(|p| Path::new(p).canonicalize().ok())
            .is_some_and(|p| p == manifest);
        let is_cdylib = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"));
        if !same_manifest || !is_cdylib {
            continue;
        }
        let Some(name) = message["target"]["name"].as_str() else {
            continue;
        };
        let wasm = message["filenames"].as_array().and_then(|files| {
            files
                .iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".wasm"))
        });
        if let Some(wasm) = wasm {
            found = Some((name.replace('-', "_"), PathBuf::from(wasm)));
        }
    }
    found
}

/// A re-encoder that drops every custom section except `menara:metadata`.
struct Stripper;

impl Reencode for Stripper {
    type Error = Infallible;

    fn parse_custom_section(
        &mut self,
        module: &mut wasm_encoder::Module,
        section: wasmparser::CustomSectionReader<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<Infallible>> {
        if section.name() == METADATA_SECTION {
            module.section(&wasm_encoder::CustomSection {
                name: METADATA_SECTION.into(),
                data: section.data().into(),
            });
        }
        Ok(())
    }
}

/// Re-encodes `wasm` without any custom section except `menara:metadata`.
///
/// Everything else is decoded and encoded again, which also writes every instruction in
/// its canonical (MVP) encoding. That matters for Rust's precompiled `core`/`alloc`: they
/// are built with the reference-types feature, and LLVM keeps it for their functions even
/// under `-C target-cpu=mvp` with fat LTO, so their `call_indirect` instructions carry the
/// table index as a 5-byte LEB128 (`80 80 80 80 00`), which MVP validators (the chain's
/// included) refuse; re-encoded it is the single byte `00`. No reference-types construct
/// is introduced or kept: the result is checked with reference types off.
pub fn strip_custom_sections(wasm: &[u8]) -> Result<Vec<u8>, BuildError> {
    if !wasmparser::Parser::is_core_wasm(wasm) {
        return Err(BuildError::InvalidWasm("not a core wasm module".to_owned()));
    }
    let mut module = wasm_encoder::Module::new();
    Stripper
        .parse_core_module(&mut module, wasmparser::Parser::new(0), wasm)
        .map_err(|e| BuildError::InvalidWasm(e.to_string()))?;
    Ok(module.finish())
}

/// Checks `wasm` the way the chain checks uploads: this is the contracts pallet's own
/// [`pallet_contracts::validate_code`] (features, the one memory, table, function and
/// global limits, imports of `menara_v1` host functions with their types, the `deploy` /
/// `call` / `migrate` exports, no start function, the size limit), so a module the chain
/// would refuse fails here, with the chain's reason.
pub fn check_abi(wasm: &[u8]) -> Result<(), BuildError> {
    pallet_contracts::validate_code(wasm)
        .map(|_| ())
        .map_err(|(error, detail)| BuildError::Abi(vec![format!("{error:?}: {detail}")]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleared_variables() {
        assert!(should_clear("RUSTFLAGS"));
        assert!(should_clear("CARGO_PROFILE_RELEASE_STRIP"));
        assert!(!should_clear("CARGO_HOME"));
        assert!(!should_clear("CARGO_PROFILE_DEV_OPT_LEVEL"));
    }

    #[test]
    fn rustflags_carry_the_limits() {
        let flags = rustflags(&BuildOptions::default()).join(" ");
        assert_eq!(
            flags,
            "-C target-cpu=mvp -C link-arg=-zstack-size=65536 -C link-arg=--max-memory=1048576"
        );
    }

    #[test]
    fn finds_the_cdylib_of_the_package() {
        let dir = tempfile::tempdir().expect("temp dir");
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(&manifest, "").expect("write a scratch manifest");
        let canonical = manifest.canonicalize().expect("canonical");
        let stdout = format!(
            "{}\n{}\n{{\"reason\":\"build-finished\",\"success\":true}}\n",
            serde_json::json!({"reason":"compiler-artifact","manifest_path":"/elsewhere/Cargo.toml",
                "target":{"kind":["lib"],"name":"dep"},"filenames":["/t/libdep.rlib"]}),
            serde_json::json!({"reason":"compiler-artifact","manifest_path":manifest.display().to_string(),
                "target":{"kind":["cdylib"],"name":"my-token"},"filenames":["/t/my_token.wasm"]}),
        );
        assert_eq!(
            find_artifact(stdout.as_bytes(), &canonical),
            Some(("my_token".to_owned(), PathBuf::from("/t/my_token.wasm")))
        );
        assert_eq!(find_artifact(b"not json\n", &canonical), None);
    }
}
