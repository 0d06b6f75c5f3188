//! The `.mvm` model file: magic, header, numerics version, named tensors, content hash.
//!
//! Layout (all integers little-endian; see `README.md` for the full table):
//!
//! ```text
//! magic            8 bytes  "MENARAVM"
//! format_version   u32      = 1
//! numerics_version u32      1 or 2 (see `numerics`)
//! kind             u32      1 = encoder, 2 = MLP
//! params           15 x u32 architecture parameters (meaning depends on kind)
//! tensor_count     u32
//! tensor*          name_len u16, name (UTF-8), dtype u8, ndim u8, dims ndim x u32,
//!                  byte_len u64, data (byte_len bytes)
//! ```
//!
//! Tensor names are strictly increasing (byte order), so a file has one canonical encoding.
//! No bytes may follow the last tensor.
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::commit::{merkle_root, Hash};
use crate::error::Error;
use crate::numerics::{numerics_supported, NUMERICS_VERSION};

/// The first eight bytes of every model file.
pub const MAGIC: [u8; 8] = *b"MENARAVM";
/// The file layout version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Number of `u32` architecture parameters in the header.
pub const N_PARAMS: usize = 15;
/// Size of the fixed part of the file (magic to tensor count).
pub const FIXED_LEN: usize = 8 + 4 + 4 + 4 + 4 * N_PARAMS + 4;
/// Largest model file accepted (2 GiB).
pub const MAX_FILE_BYTES: u64 = 2 << 30;
/// Largest number of tensors.
pub const MAX_TENSORS: u64 = 4096;
/// Longest tensor name.
pub const MAX_NAME_LEN: u64 = 256;
/// Most dimensions of a tensor.
pub const MAX_NDIM: u64 = 4;

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DType {
    /// Signed 8-bit.
    I8 = 1,
    /// Unsigned 8-bit (also raw bytes).
    U8 = 2,
    /// Signed 16-bit.
    I16 = 3,
    /// Signed 32-bit.
    I32 = 4,
    /// Signed 64-bit.
    I64 = 5,
}

impl DType {
    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 => 1,
            DType::I16 => 2,
            DType::I32 => 4,
            DType::I64 => 8,
        }
    }

    /// The element type with wire code `v`.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => DType::I8,
            2 => DType::U8,
            3 => DType::I16,
            4 => DType::I32,
            5 => DType::I64,
            _ => return None,
        })
    }
}

/// One named tensor: dtype, shape and little-endian element bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    /// Name, unique within the file.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first.
    pub shape: Vec<u32>,
    /// Raw little-endian element bytes, `product(shape) * dtype.size()` long.
    pub data: Vec<u8>,
}

impl Tensor {
    /// An i8 tensor.
    pub fn from_i8(name: &str, shape: &[u32], v: &[i8]) -> Self {
        Self::raw(name, DType::I8, shape, v.iter().map(|&x| x as u8).collect())
    }
    /// A u8 tensor.
    pub fn from_u8(name: &str, shape: &[u32], v: &[u8]) -> Self {
        Self::raw(name, DType::U8, shape, v.to_vec())
    }
    /// An i32 tensor.
    pub fn from_i32(name: &str, shape: &[u32], v: &[i32]) -> Self {
        Self::raw(
            name,
            DType::I32,
            shape,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }
    /// An i64 tensor.
    pub fn from_i64(name: &str, shape: &[u32], v: &[i64]) -> Self {
        Self::raw(
            name,
            DType::I64,
            shape,
            v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        )
    }
    fn raw(name: &str, dtype: DType, shape: &[u32], data: Vec<u8>) -> Self {
        Tensor {
            name: name.to_string(),
            dtype,
            shape: shape.to_vec(),
            data,
        }
    }

    /// Number of elements.
    pub fn numel(&self) -> u64 {
        self.shape.iter().map(|&d| d as u64).product()
    }

    /// Decodes as i8 (caller checked the dtype).
    pub fn to_i8(&self) -> Vec<i8> {
        self.data.iter().map(|&b| b as i8).collect()
    }
    /// Decodes as i32 (caller checked the dtype).
    pub fn to_i32(&self) -> Vec<i32> {
        self.data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }
    /// Decodes as i64 (caller checked the dtype).
    pub fn to_i64(&self) -> Vec<i64> {
        self.data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()
    }

    /// Hash of the tensor's descriptor and data (a Merkle leaf of the content hash): the
    /// BLAKE3 hash of [`tensor_hash_prefix`] followed by the data.
    pub fn hash(&self) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(&tensor_hash_prefix(
            self.name.as_bytes(),
            self.dtype as u8,
            &self.shape,
            self.data.len() as u64,
        ));
        h.update(&self.data);
        *h.finalize().as_bytes()
    }
}

/// What a tensor's hash input holds before its data: domain tag, name, dtype, shape and
/// data length. Row openings ([`crate::layer::SlicedTensor`]) locate rows after it.
pub fn tensor_hash_prefix(name: &[u8], dtype: u8, shape: &[u32], data_len: u64) -> Vec<u8> {
    let mut p = Vec::with_capacity(27 + 8 + name.len() + 2 + 4 * shape.len() + 8);
    p.extend_from_slice(b"menara/gpu-verify/tensor/v1");
    p.extend_from_slice(&(name.len() as u64).to_le_bytes());
    p.extend_from_slice(name);
    p.extend_from_slice(&[dtype, shape.len() as u8]);
    for d in shape {
        p.extend_from_slice(&d.to_le_bytes());
    }
    p.extend_from_slice(&data_len.to_le_bytes());
    p
}

/// Leaf 0 of a model's content hash: the format and numerics versions, kind and parameters
/// (so a model id fixes the numerics its outputs are computed with).
pub fn header_leaf(numerics: u32, kind: u32, params: &[u32; N_PARAMS]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"menara/gpu-verify/header/v1");
    h.update(&FORMAT_VERSION.to_le_bytes());
    h.update(&numerics.to_le_bytes());
    h.update(&kind.to_le_bytes());
    for p in params {
        h.update(&p.to_le_bytes());
    }
    *h.finalize().as_bytes()
}

/// A parsed model file: architecture header plus tensors sorted by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFile {
    /// Numerics version the model's outputs are defined by (1 or 2).
    pub numerics: u32,
    /// Architecture kind (1 = encoder, 2 = MLP).
    pub kind: u32,
    /// Architecture parameters.
    pub params: [u32; N_PARAMS],
    /// Tensors, strictly increasing by name.
    pub tensors: Vec<Tensor>,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).ok_or(Error::Truncated(what))?;
        let s = self.buf.get(self.pos..end).ok_or(Error::Truncated(what))?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, Error> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, Error> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, Error> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

fn limit(what: &'static str, value: u64, limit: u64) -> Result<(), Error> {
    if value > limit {
        Err(Error::TooLarge { what, value, limit })
    } else {
        Ok(())
    }
}

impl ModelFile {
    /// Sorts tensors by name (the canonical order) and checks names are unique. The file
    /// gets the current numerics version ([`NUMERICS_VERSION`]); see [`ModelFile::with_numerics`].
    pub fn new(
        kind: u32,
        params: [u32; N_PARAMS],
        mut tensors: Vec<Tensor>,
    ) -> Result<Self, Error> {
        tensors.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        for w in tensors.windows(2) {
            if w[0].name == w[1].name {
                return Err(Error::Invalid(format!(
                    "duplicate tensor name `{}`",
                    w[0].name
                )));
            }
        }
        Ok(ModelFile {
            numerics: NUMERICS_VERSION,
            kind,
            params,
            tensors,
        })
    }

    /// The same file under numerics version `v` (one this build supports).
    pub fn with_numerics(mut self, v: u32) -> Result<Self, Error> {
        if !numerics_supported(v) {
            return Err(Error::UnsupportedNumerics(v));
        }
        self.numerics = v;
        Ok(self)
    }

    /// Finds a tensor by name (binary search; names are sorted).
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors
            .binary_search_by(|t| t.name.as_bytes().cmp(name.as_bytes()))
            .ok()
            .map(|i| &self.tensors[i])
    }

    /// Serialises to the canonical byte encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&self.numerics.to_le_bytes());
        out.extend_from_slice(&self.kind.to_le_bytes());
        for p in &self.params {
            out.extend_from_slice(&p.to_le_bytes());
        }
        out.extend_from_slice(&(self.tensors.len() as u32).to_le_bytes());
        for t in &self.tensors {
            out.extend_from_slice(&(t.name.len() as u16).to_le_bytes());
            out.extend_from_slice(t.name.as_bytes());
            out.push(t.dtype as u8);
            out.push(t.shape.len() as u8);
            for d in &t.shape {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&(t.data.len() as u64).to_le_bytes());
            out.extend_from_slice(&t.data);
        }
        out
    }

    /// Parses and validates a model file. Refuses truncated, oversized or inconsistent input.
    pub fn from_bytes(buf: &[u8]) -> Result<Self, Error> {
        limit("file bytes", buf.len() as u64, MAX_FILE_BYTES)?;
        let mut r = Reader { buf, pos: 0 };
        if r.take(8, "magic")? != MAGIC {
            return Err(Error::BadMagic);
        }
        let fv = r.u32("format version")?;
        if fv != FORMAT_VERSION {
            return Err(Error::UnsupportedFormat(fv));
        }
        let nv = r.u32("numerics version")?;
        if !numerics_supported(nv) {
            return Err(Error::UnsupportedNumerics(nv));
        }
        let kind = r.u32("header")?;
        let mut params = [0u32; N_PARAMS];
        for p in params.iter_mut() {
            *p = r.u32("header")?;
        }
        let count = r.u32("tensor count")? as u64;
        limit("tensor count", count, MAX_TENSORS)?;
        let mut tensors: Vec<Tensor> = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let nl = r.u16("tensor name length")? as u64;
            limit("tensor name length", nl, MAX_NAME_LEN)?;
            if nl == 0 {
                return Err(Error::Invalid("empty tensor name".into()));
            }
            let name = core::str::from_utf8(r.take(nl as usize, "tensor name")?)
                .map_err(|_| Error::Invalid("tensor name is not UTF-8".into()))?
                .to_string();
            if let Some(prev) = tensors.last() {
                if prev.name.as_bytes() >= name.as_bytes() {
                    return Err(Error::Invalid(format!(
                        "tensor names not strictly increasing at `{name}`"
                    )));
                }
            }
            let dt = r.u8("tensor dtype")?;
            let dtype = DType::from_u8(dt)
                .ok_or_else(|| Error::Invalid(format!("tensor `{name}`: unknown dtype {dt}")))?;
            let ndim = r.u8("tensor rank")? as u64;
            limit("tensor rank", ndim, MAX_NDIM)?;
            let mut shape = Vec::with_capacity(ndim as usize);
            let mut numel: u64 = 1;
            for _ in 0..ndim {
                let d = r.u32("tensor shape")?;
                numel = numel.checked_mul(d as u64).ok_or_else(|| {
                    Error::Invalid(format!("tensor `{name}`: element count overflows"))
                })?;
                limit("tensor elements", numel, MAX_FILE_BYTES)?;
                shape.push(d);
            }
            let byte_len = r.u64("tensor byte length")?;
            let want = numel * dtype.size() as u64;
            if byte_len != want {
                return Err(Error::Invalid(format!(
                    "tensor `{name}`: {byte_len} data bytes, shape and dtype need {want}"
                )));
            }
            limit("tensor bytes", byte_len, MAX_FILE_BYTES)?;
            let data = r.take(byte_len as usize, "tensor data")?.to_vec();
            tensors.push(Tensor {
                name,
                dtype,
                shape,
                data,
            });
        }
        if r.pos != buf.len() {
            return Err(Error::Invalid(format!(
                "{} trailing bytes after the last tensor",
                buf.len() - r.pos
            )));
        }
        Ok(ModelFile {
            numerics: nv,
            kind,
            params,
            tensors,
        })
    }

    /// The model's content hash: a Merkle root (see [`crate::commit`]) over the header leaf
    /// followed by one leaf per tensor in name order. The chain's model registry stores it.
    pub fn content_hash(&self) -> Hash {
        let mut leaves = Vec::with_capacity(self.tensors.len() + 1);
        leaves.push(header_leaf(self.numerics, self.kind, &self.params));
        leaves.extend(self.tensors.iter().map(Tensor::hash));
        merkle_root(&leaves)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alloc::vec;

    fn sample() -> ModelFile {
        ModelFile::new(
            2,
            [7; N_PARAMS],
            vec![
                Tensor::from_i8("b", &[2, 3], &[1, -2, 3, -4, 5, -6]),
                Tensor::from_i32("a", &[2], &[1, -1]),
                Tensor::from_i64("c", &[1], &[-9]),
            ],
        )
        .unwrap()
    }

    #[test]
    fn roundtrip_and_hash() {
        let m = sample();
        let bytes = m.to_bytes();
        let back = ModelFile::from_bytes(&bytes).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.content_hash(), m.content_hash());
        assert_eq!(back.get("b").unwrap().to_i8(), vec![1, -2, 3, -4, 5, -6]);
        assert!(back.get("zz").is_none());
    }

    #[test]
    fn rejects_every_truncation() {
        let bytes = sample().to_bytes();
        for n in 0..bytes.len() {
            let e = ModelFile::from_bytes(&bytes[..n]).unwrap_err();
            assert!(
                matches!(e, Error::Truncated(_) | Error::BadMagic),
                "len {n}: {e:?}"
            );
        }
    }

    #[test]
    fn rejects_corruption() {
        let good = sample().to_bytes();
        let mut b = good.clone();
        b[0] ^= 1;
        assert_eq!(ModelFile::from_bytes(&b), Err(Error::BadMagic));
        let mut b = good.clone();
        b[8] = 9;
        assert_eq!(ModelFile::from_bytes(&b), Err(Error::UnsupportedFormat(9)));
        let mut b = good.clone();
        b[12] = 3;
        assert_eq!(
            ModelFile::from_bytes(&b),
            Err(Error::UnsupportedNumerics(3))
        );
        // Both numerics versions load; the version is part of the content id.
        for v in [1u8, 2] {
            let mut b = good.clone();
            b[12] = v;
            let f = ModelFile::from_bytes(&b).unwrap();
            assert_eq!(f.numerics, v as u32);
            assert_eq!(f.to_bytes(), b);
        }
        let v1 = sample().with_numerics(1).unwrap();
        let v2 = sample().with_numerics(2).unwrap();
        assert_ne!(v1.content_hash(), v2.content_hash());
        assert!(sample().with_numerics(0).is_err());
        let mut b = good.clone();
        b.push(0);
        assert!(matches!(ModelFile::from_bytes(&b), Err(Error::Invalid(_))));
        // First tensor is "a": name_len(2) name(1) dtype(1) ...
        let mut b = good.clone();
        b[FIXED_LEN + 3] = 77; // dtype
        assert!(matches!(ModelFile::from_bytes(&b), Err(Error::Invalid(_))));
        let mut b = good.clone();
        b[FIXED_LEN + 2] = b'z'; // name order broken
        assert!(matches!(ModelFile::from_bytes(&b), Err(Error::Invalid(_))));
        let mut b = good.clone();
        b[FIXED_LEN + 5] = 3; // shape [3] but 8 data bytes
        assert!(matches!(ModelFile::from_bytes(&b), Err(Error::Invalid(_))));
        // A flipped data byte parses but changes the content hash.
        let mut b = good.clone();
        let last = b.len() - 1;
        b[last] ^= 0x40;
        let m = ModelFile::from_bytes(&b).unwrap();
        assert_ne!(m.content_hash(), sample().content_hash());
    }

    #[test]
    fn rejects_oversized_claims() {
        let mut b = sample().to_bytes();
        b[FIXED_LEN - 4..FIXED_LEN].copy_from_slice(&100_000u32.to_le_bytes());
        assert!(matches!(
            ModelFile::from_bytes(&b),
            Err(Error::TooLarge { .. })
        ));
        // A tensor announcing 2^40 elements is refused before any allocation.
        let t = ModelFile::new(1, [0; N_PARAMS], vec![Tensor::from_u8("x", &[1], &[0])]).unwrap();
        let mut b = t.to_bytes();
        let dims_at = FIXED_LEN + 2 + 1 + 1 + 1;
        b[dims_at..dims_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = ModelFile::from_bytes(&b).unwrap_err();
        assert!(
            matches!(e, Error::TooLarge { .. } | Error::Invalid(_)),
            "{e:?}"
        );
        let e = ModelFile::new(1, [0; N_PARAMS], vec![Tensor::from_u8("x", &[1], &[0]); 2]);
        assert!(e.is_err());
    }
}
