//! The crate's error type.
use alloc::string::String;

/// Everything that can go wrong, from a corrupt model file to an absent GPU.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// The model file ends before a field it announces.
    #[error("model file truncated while reading {0}")]
    Truncated(&'static str),
    /// The file does not start with the `.mvm` magic bytes.
    #[error("not a gpu-verify model file (bad magic)")]
    BadMagic,
    /// The file format version is not one this build reads.
    #[error("unsupported model format version {0}")]
    UnsupportedFormat(u32),
    /// The numerics version is not one this build implements.
    #[error("unsupported numerics version {0} (this build implements numerics v1 and v2)")]
    UnsupportedNumerics(u32),
    /// The file or one of its fields exceeds a hard limit.
    #[error("model file exceeds limit: {what} = {value} > {limit}")]
    TooLarge {
        /// Which quantity.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// The file is structurally invalid (bad dtype, unsorted names, trailing bytes, ...).
    #[error("invalid model file: {0}")]
    Invalid(String),
    /// A tensor the architecture needs is absent.
    #[error("model is missing tensor `{0}`")]
    MissingTensor(String),
    /// A tensor has the wrong dtype or shape for the architecture.
    #[error("tensor `{name}`: expected {expected}, found {found}")]
    TensorMismatch {
        /// Tensor name.
        name: String,
        /// What the architecture requires.
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// The job input does not fit the model (wrong kind, width, token id out of range, ...).
    #[error("invalid input: {0}")]
    Input(String),
    /// A sequence is longer than the model allows.
    #[error("input too long: sequence of {len} tokens, the model allows at most {max}")]
    InputTooLong {
        /// Length given.
        len: usize,
        /// Maximum the model allows.
        max: usize,
    },
    /// A Merkle proof or commitment is malformed or does not verify.
    #[error("invalid proof or commitment: {0}")]
    Proof(String),
    /// The GPU engine is unavailable or failed (no driver, no device, out of memory, ...).
    #[error("GPU engine: {0}")]
    Gpu(String),
    /// File system or parse error at the edge (std only).
    #[error("I/O: {0}")]
    Io(String),
    /// The importer could not convert a float model.
    #[error("import: {0}")]
    Import(String),
}
