//! Downloading a registered model from peers, range by range, verifying every byte.
use std::collections::VecDeque;
use std::io::{Seek, SeekFrom, Write};

use gpu_verify::format::FIXED_LEN;
use tempfile::NamedTempFile;

use crate::error::{Error, Result};
use crate::protocol::ChunkRequest;
use crate::slice::{self, CHUNK_GROUP_BYTES, MAX_SLICE};
use crate::store::{content_id, read_bounded, ModelMeta, ModelStore, StoredModel};
use crate::MAX_MODEL_BYTES;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Missing,
    InFlight,
    Done,
}

/// How far a download is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes verified and written.
    pub verified: u64,
    /// Size of the model.
    pub total: u64,
    /// Ranges handed out by [`Download::next_request`] and not yet answered.
    pub in_flight: usize,
    /// Ranges waiting to be handed out.
    pub missing: usize,
}

/// The state machine of one model download: no networking, its only I/O is its temporary
/// file in the store's directory.
///
/// Created from the registry's record ([`ModelStore::download`]), it splits the file into
/// ranges and hands them out with [`Download::next_request`] (several may be in flight, to
/// several peers). A peer's answer goes to [`Download::accept`], which verifies it against
/// the registered file root before writing a byte; on any error the range goes back to the
/// missing set, and [`Error::is_peer_fault`] says whether to penalise the peer. A peer that
/// answers `NotFound` or times out: [`Download::release`]. When [`Download::is_complete`],
/// [`Download::finish`] re-parses the file, checks its content id, and moves it into the
/// store. Dropping a download deletes its temporary file.
#[derive(Debug)]
pub struct Download {
    store: ModelStore,
    meta: ModelMeta,
    file: NamedTempFile,
    request_bytes: u32,
    slots: Vec<Slot>,
    queue: VecDeque<usize>,
    in_flight: usize,
    verified: u64,
}

impl Download {
    pub(crate) fn new(
        store: ModelStore,
        meta: ModelMeta,
        max_size: u64,
        request_bytes: u32,
    ) -> Result<Self> {
        let limit = max_size.min(MAX_MODEL_BYTES);
        if meta.size > limit {
            return Err(Error::TooLarge {
                size: meta.size,
                limit,
            });
        }
        if meta.size < FIXED_LEN as u64 {
            return Err(Error::Model(gpu_verify::Error::Truncated("header")));
        }
        if request_bytes == 0
            || !request_bytes.is_multiple_of(CHUNK_GROUP_BYTES)
            || request_bytes > MAX_SLICE
        {
            return Err(Error::BadRequest(format!(
                "request size {request_bytes} is not a multiple of {CHUNK_GROUP_BYTES} up to {MAX_SLICE}"
            )));
        }
        let file = store.temp_file()?;
        file.as_file()
            .set_len(meta.size)
            .map_err(|e| Error::io(file.path(), e))?;
        let n = meta.size.div_ceil(request_bytes as u64) as usize;
        Ok(Download {
            store,
            meta,
            file,
            request_bytes,
            slots: vec![Slot::Missing; n],
            queue: (0..n).collect(),
            in_flight: 0,
            verified: 0,
        })
    }

    /// The registry's record of the model being downloaded.
    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }

    fn request(&self, i: usize) -> ChunkRequest {
        let offset = i as u64 * self.request_bytes as u64;
        let len = (self.meta.size - offset).min(self.request_bytes as u64) as u32;
        ChunkRequest {
            id: self.meta.id,
            offset,
            len,
        }
    }

    /// The next missing range to ask a peer for (marked in flight), or `None` if every
    /// range is verified or in flight.
    pub fn next_request(&mut self) -> Option<ChunkRequest> {
        while let Some(i) = self.queue.pop_front() {
            if self.slots[i] == Slot::Missing {
                self.slots[i] = Slot::InFlight;
                self.in_flight += 1;
                return Some(self.request(i));
            }
        }
        None
    }

    /// Index of the range `req` names, if it is one this download hands out.
    fn slot(&self, req: &ChunkRequest) -> Result<usize> {
        let unexpected = Error::UnexpectedRange {
            offset: req.offset,
            len: req.len,
        };
        if req.id != self.meta.id || !req.offset.is_multiple_of(self.request_bytes as u64) {
            return Err(unexpected);
        }
        let i = (req.offset / self.request_bytes as u64) as usize;
        if i >= self.slots.len() || self.request(i) != *req {
            return Err(unexpected);
        }
        Ok(i)
    }

    fn set_missing(&mut self, i: usize) {
        if self.slots[i] == Slot::InFlight {
            self.slots[i] = Slot::Missing;
            self.in_flight -= 1;
            self.queue.push_back(i);
        }
    }

    /// Puts an in-flight range back to the missing set without an answer (the peer does
    /// not have the model, timed out, or disconnected).
    pub fn release(&mut self, req: &ChunkRequest) {
        if let Ok(i) = self.slot(req) {
            self.set_missing(i);
        }
    }

    /// Accepts a peer's encoded slice for the range `req`: verifies it against the file
    /// root and size of the registry's record, then writes its data to the temporary file.
    /// Returns the number of newly verified bytes (0 if the range was already done).
    ///
    /// On error nothing is written and the range goes back to the missing set, so another
    /// peer can be asked. Errors for which [`Error::is_peer_fault`] holds (a corrupt,
    /// truncated, oversized slice, or one of another file) mean the peer misbehaved;
    /// [`Error::UnexpectedRange`] means `req` was not handed out by this download.
    pub fn accept(&mut self, req: &ChunkRequest, encoded: &[u8]) -> Result<u64> {
        let i = self.slot(req)?;
        let res = self.verify_and_write(i, req, encoded);
        if res.is_err() {
            self.set_missing(i);
        }
        res
    }

    fn verify_and_write(&mut self, i: usize, req: &ChunkRequest, encoded: &[u8]) -> Result<u64> {
        let data = slice::verify_slice(
            &self.meta.file_root,
            self.meta.size,
            req.offset,
            req.len,
            encoded,
        )?;
        if self.slots[i] == Slot::Done {
            return Ok(0);
        }
        let path = self.file.path().to_path_buf();
        let f = self.file.as_file_mut();
        f.seek(SeekFrom::Start(req.offset))
            .and_then(|_| f.write_all(&data))
            .map_err(|e| Error::io(path, e))?;
        if self.slots[i] == Slot::InFlight {
            self.in_flight -= 1;
        }
        self.slots[i] = Slot::Done;
        self.verified += data.len() as u64;
        Ok(data.len() as u64)
    }

    /// Bytes verified so far, out of the total, and the number of ranges in flight and
    /// missing.
    pub fn progress(&self) -> Progress {
        Progress {
            verified: self.verified,
            total: self.meta.size,
            in_flight: self.in_flight,
            missing: self.slots.iter().filter(|s| **s == Slot::Missing).count(),
        }
    }

    /// Whether every range is verified (then call [`Download::finish`]).
    pub fn is_complete(&self) -> bool {
        self.verified == self.meta.size
    }

    /// Completes the download: fsyncs the file, re-parses it with gpu-verify, checks that
    /// its content hash is the registered id (and its BLAKE3 root the registered file
    /// root), and moves it atomically into the store.
    ///
    /// Refused with [`Error::Incomplete`] before every range is verified, and with the
    /// check's error if the file is not the registered model; in every error case the
    /// temporary file is deleted and nothing is stored under the id.
    pub fn finish(self) -> Result<StoredModel> {
        if !self.is_complete() {
            return Err(Error::Incomplete {
                missing: self.meta.size - self.verified,
                total: self.meta.size,
            });
        }
        let Download {
            store,
            meta,
            mut file,
            ..
        } = self;
        let path = file.path().to_path_buf();
        file.as_file().sync_all().map_err(|e| Error::io(&path, e))?;
        let f = file.as_file_mut();
        f.rewind().map_err(|e| Error::io(&path, e))?;
        let bytes = read_bounded(f, &path, meta.size)?;
        if bytes.len() as u64 != meta.size {
            return Err(Error::SizeMismatch {
                expected: meta.size,
                found: bytes.len() as u64,
            });
        }
        let found = content_id(&bytes)?;
        if found != meta.id {
            return Err(Error::IdMismatch {
                expected: meta.id,
                found,
            });
        }
        let (root, outboard) = slice::outboard(&bytes);
        if root != meta.file_root {
            return Err(Error::FileRootMismatch {
                expected: meta.file_root,
                found: root,
            });
        }
        store.install(file, &meta, &outboard)
    }
}
