//! The content-addressed model store on disk.
//!
//! Layout of the store's directory (the node uses `<base>/chains/<chain>/models`):
//!
//! ```text
//! <hex id>.mvm    the model file, exactly as registered (its content hash is the id)
//! <hex id>.obao   its BLAKE3 outboard: hash pairs in pre order (16 KiB chunk groups),
//!                 then an 80-byte trailer: magic "MNRAOB01", id, file root, size (u64 LE)
//! .tmp-*          files being written (imports, downloads); removed on open
//! ```
//!
//! Every entry is written to a temporary file, fsynced and renamed into place (outboard
//! first, then the model), and the directory is fsynced: a crash leaves either the complete
//! entry or nothing under the id. An outboard without its model is removed on open; a model
//! whose outboard is missing or damaged is re-checked and its outboard rebuilt (or the model
//! removed if its content hash does not match its name).
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use bao_tree::io::sync::ReadAt;
use gpu_verify::format::ModelFile;
use gpu_verify::model::Model;
use tempfile::NamedTempFile;

use crate::download::Download;
use crate::error::{Error, Result};
use crate::protocol::{ChunkRequest, ChunkResponse};
use crate::slice::{self, DEFAULT_REQUEST_BYTES};
use crate::{Hash, MAX_MODEL_BYTES};

const MODEL_EXT: &str = "mvm";
const OUTBOARD_EXT: &str = "obao";
const TMP_PREFIX: &str = ".tmp-";
const TRAILER_MAGIC: [u8; 8] = *b"MNRAOB01";
const TRAILER_LEN: u64 = 8 + 32 + 32 + 8;

/// What the chain's model registry records for a model, and what the store keeps for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelMeta {
    /// Content id: gpu-verify's content hash of the model (a Merkle root over its tensors).
    pub id: Hash,
    /// BLAKE3 hash of the whole file, the root of its verified-streaming tree.
    pub file_root: Hash,
    /// File size in bytes.
    pub size: u64,
}

/// A model held by the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredModel {
    /// Its id, file root and size.
    pub meta: ModelMeta,
    /// Path of the `.mvm` file (read-only by convention: never modify it in place).
    pub path: PathBuf,
}

/// Parses `bytes` as a `.mvm` model with gpu-verify, checks that it is a model gpu-verify
/// can run (encoder or MLP with consistent tensors), and returns its content id.
pub fn content_id(bytes: &[u8]) -> Result<Hash> {
    parse_model(bytes).map(|(id, _)| id)
}

/// [`content_id`] and the parsed file, for callers that also need its header (kind,
/// shape): one parse instead of two.
pub fn parse_model(bytes: &[u8]) -> Result<(Hash, ModelFile)> {
    let file = ModelFile::from_bytes(bytes)?;
    Model::from_file(&file)?;
    Ok((file.content_hash(), file))
}

/// The content-addressed store of model files: one directory, files named by content id,
/// each with the outboard used to serve verified slices of it.
///
/// All methods take `&self`; the store can be shared between threads (clone it: it is a
/// path). One process should own a directory: [`ModelStore::open`] deletes temporary files
/// left in it, including those of downloads in progress.
#[derive(Clone, Debug)]
pub struct ModelStore {
    dir: PathBuf,
}

impl ModelStore {
    /// Opens (creating it if needed) the store in `dir`, and brings it to a consistent
    /// state: leftover temporary files and orphan outboards are removed, missing or damaged
    /// outboards are rebuilt, and models whose content hash does not match their file name
    /// are removed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let store = ModelStore { dir };
        store.recover()?;
        Ok(store)
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file_path(&self, id: &Hash, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", hex::encode(id)))
    }
}

/// The name of model `id`'s file in a store's directory (`<hex id>.mvm`), for readers that
/// must not open the store (opening it tidies up downloads in progress).
pub fn model_file_name(id: &Hash) -> String {
    format!("{}.{MODEL_EXT}", hex::encode(id))
}

impl ModelStore {
    fn outboard_path(&self, id: &Hash) -> PathBuf {
        self.file_path(id, OUTBOARD_EXT)
    }

    /// Path of the model's file, if the store holds it.
    pub fn path(&self, id: &Hash) -> Option<PathBuf> {
        self.has(id).then(|| self.file_path(id, MODEL_EXT))
    }

    /// Whether the store holds the model (its file and its outboard).
    pub fn has(&self, id: &Hash) -> bool {
        self.file_path(id, MODEL_EXT).is_file() && self.outboard_path(id).is_file()
    }

    /// Size in bytes of a stored model.
    pub fn size(&self, id: &Hash) -> Result<u64> {
        Ok(self.meta(id)?.size)
    }

    /// Id, file root and size of a stored model (read from its outboard's trailer and
    /// checked against the file's size; see [`ModelStore::verify`] for a full check).
    pub fn meta(&self, id: &Hash) -> Result<ModelMeta> {
        let (meta, _, _) = self.open_entry(id)?;
        Ok(meta)
    }

    /// Opens a stored model and its outboard, checking the outboard's trailer.
    fn open_entry(&self, id: &Hash) -> Result<(ModelMeta, File, File)> {
        let path = self.file_path(id, MODEL_EXT);
        let data = File::open(&path).map_err(|e| not_found_or_io(id, &path, e))?;
        let ob_path = self.outboard_path(id);
        let ob = File::open(&ob_path).map_err(|e| not_found_or_io(id, &ob_path, e))?;
        let size = data.metadata().map_err(|e| Error::io(&path, e))?.len();
        let ob_len = ob.metadata().map_err(|e| Error::io(&ob_path, e))?.len();
        let corrupt = |reason: String| Error::Corrupt { id: *id, reason };
        if ob_len != slice::outboard_len(size) + TRAILER_LEN {
            return Err(corrupt(format!(
                "outboard has {ob_len} bytes, a {size}-byte file needs {}",
                slice::outboard_len(size) + TRAILER_LEN
            )));
        }
        let mut t = [0u8; TRAILER_LEN as usize];
        ob.read_exact_at(ob_len - TRAILER_LEN, &mut t)
            .map_err(|e| Error::io(&ob_path, e))?;
        let (magic, rest) = t.split_at(8);
        let (t_id, rest) = rest.split_at(32);
        let (t_root, t_size) = rest.split_at(32);
        let mut size_bytes = [0u8; 8];
        size_bytes.copy_from_slice(t_size);
        if magic != TRAILER_MAGIC || t_id != id || u64::from_le_bytes(size_bytes) != size {
            return Err(corrupt("outboard trailer does not match the file".into()));
        }
        let mut file_root = [0u8; 32];
        file_root.copy_from_slice(t_root);
        let meta = ModelMeta {
            id: *id,
            file_root,
            size,
        };
        Ok((meta, data, ob))
    }

    /// All models in the store, sorted by id. Damaged entries are skipped (and logged).
    pub fn list(&self) -> Result<Vec<ModelMeta>> {
        let mut out = Vec::new();
        for (id, ext) in self.entries()? {
            if ext != MODEL_EXT {
                continue;
            }
            match self.meta(&id) {
                Ok(m) => out.push(m),
                Err(Error::NotFound(_)) => {}
                Err(e) => tracing::warn!(target: "model-store", "skipping model: {e}"),
            }
        }
        out.sort_by_key(|m| m.id);
        Ok(out)
    }

    /// Removes a model and its outboard. Returns whether it was present.
    pub fn remove(&self, id: &Hash) -> Result<bool> {
        let path = self.file_path(id, MODEL_EXT);
        let present = match fs::remove_file(&path) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(Error::io(&path, e)),
        };
        let ob = self.outboard_path(id);
        match fs::remove_file(&ob) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&ob, e)),
        }
        sync_dir(&self.dir)?;
        Ok(present)
    }

    /// Re-reads a stored model and checks everything: it parses, its content hash is its
    /// id, and its outboard is exactly the one its bytes produce.
    pub fn verify(&self, id: &Hash) -> Result<ModelMeta> {
        let (meta, mut data, mut ob) = self.open_entry(id)?;
        let path = self.file_path(id, MODEL_EXT);
        let bytes = read_bounded(&mut data, &path, MAX_MODEL_BYTES)?;
        let found = content_id(&bytes)?;
        if found != meta.id {
            return Err(Error::IdMismatch {
                expected: meta.id,
                found,
            });
        }
        let (root, outboard) = slice::outboard(&bytes);
        let ob_path = self.outboard_path(id);
        let mut stored = Vec::new();
        ob.read_to_end(&mut stored)
            .map_err(|e| Error::io(&ob_path, e))?;
        stored.truncate(outboard.len());
        if root != meta.file_root || stored != outboard {
            return Err(Error::Corrupt {
                id: *id,
                reason: "outboard does not match the file".into(),
            });
        }
        Ok(meta)
    }

    /// Imports a model from its bytes: parses it with gpu-verify (malformed or truncated
    /// files are refused), computes its id and file root, checks them and the size against
    /// `expected` (the registry's record) if given, and stores it atomically.
    pub fn import_bytes(&self, bytes: &[u8], expected: Option<&ModelMeta>) -> Result<StoredModel> {
        let size = bytes.len() as u64;
        if size > MAX_MODEL_BYTES {
            return Err(Error::TooLarge {
                size,
                limit: MAX_MODEL_BYTES,
            });
        }
        if let Some(e) = expected {
            if e.size != size {
                return Err(Error::SizeMismatch {
                    expected: e.size,
                    found: size,
                });
            }
        }
        let id = content_id(bytes)?;
        let (file_root, outboard) = slice::outboard(bytes);
        let meta = ModelMeta {
            id,
            file_root,
            size,
        };
        if let Some(e) = expected {
            check_expected(e, &meta)?;
        }
        let mut tmp = self.temp_file()?;
        let tmp_path = tmp.path().to_path_buf();
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| Error::io(&tmp_path, e))?;
        self.install(tmp, &meta, &outboard)
    }

    /// Imports a model file from `path` (size checked before reading); see
    /// [`ModelStore::import_bytes`].
    pub fn import_file(&self, path: &Path, expected: Option<&ModelMeta>) -> Result<StoredModel> {
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        if let Some(e) = expected {
            let found = file.metadata().map_err(|err| Error::io(path, err))?.len();
            if found != e.size {
                return Err(Error::SizeMismatch {
                    expected: e.size,
                    found,
                });
            }
        }
        let bytes = read_bounded(&mut file, path, MAX_MODEL_BYTES)?;
        self.import_bytes(&bytes, expected)
    }

    /// Starts downloading a registered model (see [`Download`]), refusing models larger
    /// than `max_size` bytes. Ranges of [`DEFAULT_REQUEST_BYTES`] are requested.
    pub fn download(&self, meta: ModelMeta, max_size: u64) -> Result<Download> {
        Download::new(self.clone(), meta, max_size, DEFAULT_REQUEST_BYTES)
    }

    /// Like [`ModelStore::download`] with ranges of `request_bytes` (a multiple of
    /// [`crate::CHUNK_GROUP_BYTES`], at most [`crate::MAX_SLICE`]).
    pub fn download_with_request_size(
        &self,
        meta: ModelMeta,
        max_size: u64,
        request_bytes: u32,
    ) -> Result<Download> {
        Download::new(self.clone(), meta, max_size, request_bytes)
    }

    /// Encodes the verified slice `[offset, offset + len)` of a stored model: its data plus
    /// the hash pairs that prove it against the model's file root (see [`crate::slice`]).
    /// The range must be aligned to chunk groups, inside the file, and at most
    /// [`crate::MAX_SLICE`] long. The stored data is checked while encoding: a damaged
    /// entry yields [`Error::Corrupt`], never a bad slice.
    pub fn read_slice(&self, id: &Hash, offset: u64, len: u32) -> Result<Vec<u8>> {
        let (meta, data, ob) = self.open_entry(id)?;
        slice::encode_slice(&data, &ob, &meta.file_root, meta.size, offset, len).map_err(
            |e| match e {
                Error::InvalidSlice(reason) => Error::Corrupt { id: *id, reason },
                Error::Io { source, .. } => Error::io(self.file_path(id, MODEL_EXT), source),
                other => other,
            },
        )
    }

    /// Answers a peer's [`ChunkRequest`]: the slice, `NotFound` (the model is absent, or
    /// damaged or unreadable here, which is logged), or `BadRequest` (invalid range).
    pub fn serve(&self, req: &ChunkRequest) -> ChunkResponse {
        match self.read_slice(&req.id, req.offset, req.len) {
            Ok(bytes) => ChunkResponse::Slice(bytes),
            Err(Error::NotFound(_)) => ChunkResponse::NotFound,
            Err(Error::BadRequest(_)) => ChunkResponse::BadRequest,
            Err(e) => {
                tracing::warn!(target: "model-store", "cannot serve slice: {e}");
                ChunkResponse::NotFound
            }
        }
    }

    /// A new temporary file in the store's directory (deleted when dropped unless it is
    /// installed, and removed by [`ModelStore::open`] if the process dies).
    pub(crate) fn temp_file(&self) -> Result<NamedTempFile> {
        tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .tempfile_in(&self.dir)
            .map_err(|e| Error::io(&self.dir, e))
    }

    /// Installs a model whose bytes are in `data` (already fsynced, checked to match
    /// `meta`): writes the outboard, renames both into place, fsyncs the directory.
    pub(crate) fn install(
        &self,
        data: NamedTempFile,
        meta: &ModelMeta,
        outboard: &[u8],
    ) -> Result<StoredModel> {
        self.write_outboard(meta, outboard)?;
        let path = self.file_path(&meta.id, MODEL_EXT);
        data.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        sync_dir(&self.dir)?;
        tracing::debug!(
            target: "model-store",
            "stored model {} ({} bytes)",
            hex::encode(meta.id),
            meta.size
        );
        Ok(StoredModel { meta: *meta, path })
    }

    /// Writes a model's outboard and trailer to a temporary file, fsyncs it and renames it
    /// into place.
    fn write_outboard(&self, meta: &ModelMeta, outboard: &[u8]) -> Result<()> {
        let mut ob = self.temp_file()?;
        let ob_tmp = ob.path().to_path_buf();
        let mut trailer = Vec::with_capacity(TRAILER_LEN as usize);
        trailer.extend_from_slice(&TRAILER_MAGIC);
        trailer.extend_from_slice(&meta.id);
        trailer.extend_from_slice(&meta.file_root);
        trailer.extend_from_slice(&meta.size.to_le_bytes());
        ob.write_all(outboard)
            .and_then(|()| ob.write_all(&trailer))
            .and_then(|()| ob.as_file().sync_all())
            .map_err(|e| Error::io(&ob_tmp, e))?;
        let ob_path = self.outboard_path(&meta.id);
        ob.persist(&ob_path)
            .map_err(|e| Error::io(&ob_path, e.error))?;
        Ok(())
    }

    /// Directory entries named `<64 hex digits>.<ext>`, with their id and extension.
    fn entries(&self) -> Result<Vec<(Hash, String)>> {
        let mut out = Vec::new();
        let rd = fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((stem, ext)) = name.split_once('.') else {
                continue;
            };
            let mut id = [0u8; 32];
            if stem.len() == 64 && hex::decode_to_slice(stem, &mut id).is_ok() {
                out.push((id, ext.to_string()));
            }
        }
        Ok(out)
    }

    fn recover(&self) -> Result<()> {
        let rd = fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let is_tmp = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(TMP_PREFIX));
            if is_tmp {
                let path = entry.path();
                tracing::info!(target: "model-store", "removing leftover {}", path.display());
                fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        for (id, ext) in self.entries()? {
            let model = self.file_path(&id, MODEL_EXT);
            if ext == OUTBOARD_EXT && !model.exists() {
                let path = self.outboard_path(&id);
                tracing::info!(target: "model-store", "removing orphan {}", path.display());
                fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            } else if ext == MODEL_EXT {
                if let Err(e) = self.meta(&id) {
                    tracing::warn!(target: "model-store", "checking {}: {e}", model.display());
                    self.repair(&id)?;
                }
            }
        }
        sync_dir(&self.dir)
    }

    /// Rebuilds a model's outboard from its file, or removes the model if it is not a
    /// valid model with the id its name claims.
    fn repair(&self, id: &Hash) -> Result<()> {
        let path = self.file_path(id, MODEL_EXT);
        let mut file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let checked = read_bounded(&mut file, &path, MAX_MODEL_BYTES).and_then(|bytes| {
            let found = content_id(&bytes)?;
            if found != *id {
                return Err(Error::IdMismatch {
                    expected: *id,
                    found,
                });
            }
            Ok(bytes)
        });
        drop(file);
        match checked {
            Ok(bytes) => {
                tracing::warn!(target: "model-store", "rebuilding the outboard of {}", path.display());
                let (file_root, outboard) = slice::outboard(&bytes);
                let meta = ModelMeta {
                    id: *id,
                    file_root,
                    size: bytes.len() as u64,
                };
                self.write_outboard(&meta, &outboard)
            }
            Err(e @ Error::Io { .. }) => Err(e),
            Err(e) => {
                tracing::warn!(target: "model-store", "removing invalid {}: {e}", path.display());
                self.remove(id).map(|_| ())
            }
        }
    }
}

fn check_expected(expected: &ModelMeta, found: &ModelMeta) -> Result<()> {
    if expected.size != found.size {
        return Err(Error::SizeMismatch {
            expected: expected.size,
            found: found.size,
        });
    }
    if expected.id != found.id {
        return Err(Error::IdMismatch {
            expected: expected.id,
            found: found.id,
        });
    }
    if expected.file_root != found.file_root {
        return Err(Error::FileRootMismatch {
            expected: expected.file_root,
            found: found.file_root,
        });
    }
    Ok(())
}

fn not_found_or_io(id: &Hash, path: &Path, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::NotFound {
        Error::NotFound(*id)
    } else {
        Error::io(path, e)
    }
}

/// Reads all of `file`, refusing more than `limit` bytes (checked before and while reading).
pub(crate) fn read_bounded(file: &mut File, path: &Path, limit: u64) -> Result<Vec<u8>> {
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if len > limit {
        return Err(Error::TooLarge { size: len, limit });
    }
    let mut buf = Vec::with_capacity(len as usize);
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    if buf.len() as u64 > limit {
        return Err(Error::TooLarge {
            size: buf.len() as u64,
            limit,
        });
    }
    Ok(buf)
}

/// Makes renames and removals in `dir` durable (a no-op where directories cannot be
/// opened, e.g. Windows).
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
