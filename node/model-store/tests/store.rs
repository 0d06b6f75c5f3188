//! Store and transfer tests with gpu-verify's random models and in-process peers.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;

use gpu_verify::format::ModelFile;
use gpu_verify::random::{random_encoder, random_mlp, tiny_encoder_config};
use menara_model_store::{
    content_id, ChunkRequest, ChunkResponse, Download, Error, ModelMeta, ModelStore,
    CHUNK_GROUP_BYTES, MAX_SLICE,
};
use parity_scale_codec::Encode;

/// A tiny random encoder (about 100 KB, several 16 KiB chunk groups).
fn tiny(seed: u64) -> Vec<u8> {
    random_encoder(seed, tiny_encoder_config())
        .unwrap()
        .to_file()
        .unwrap()
        .to_bytes()
}

/// A random MLP of about 3 MB.
fn multi_mb(seed: u64) -> Vec<u8> {
    random_mlp(seed, &[1024, 1024, 1024, 1024], 64)
        .unwrap()
        .to_file()
        .unwrap()
        .to_bytes()
}

fn meta_of(bytes: &[u8]) -> ModelMeta {
    ModelMeta {
        id: ModelFile::from_bytes(bytes).unwrap().content_hash(),
        file_root: *blake3::hash(bytes).as_bytes(),
        size: bytes.len() as u64,
    }
}

fn store() -> (tempfile::TempDir, ModelStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = ModelStore::open(dir.path().join("models")).unwrap();
    (dir, s)
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn no_temp_files(dir: &Path) -> bool {
    dir_names(dir).iter().all(|n| !n.starts_with(".tmp"))
}

/// How a simulated peer answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Behaviour {
    Honest,
    /// Flips one data byte in every slice.
    FlipByte,
    /// Appends a byte to every slice.
    ExtraByte,
    /// Drops the last byte of every slice.
    Truncate,
    /// Serves the same range of another (valid, stored) model.
    OtherModel(menara_model_store::Hash),
    /// Answers `NotFound`.
    Absent,
}

struct Peer {
    store: ModelStore,
    behaviour: Behaviour,
    /// Serve this id whatever the request asks for (a peer holding the "real" file).
    serve_as: Option<menara_model_store::Hash>,
}

impl Peer {
    /// Answers a request as encoded bytes on the wire.
    fn answer(&self, req: &ChunkRequest) -> Vec<u8> {
        let mut r = *req;
        if let Some(id) = self.serve_as {
            r.id = id;
        }
        let resp = match self.behaviour {
            Behaviour::Absent => ChunkResponse::NotFound,
            Behaviour::OtherModel(other) => {
                r.id = other;
                self.store.serve(&r)
            }
            b => match self.store.serve(&r) {
                ChunkResponse::Slice(mut s) => {
                    match b {
                        Behaviour::FlipByte => {
                            let n = s.len();
                            s[n - 100] ^= 0x01;
                        }
                        Behaviour::ExtraByte => s.push(0),
                        Behaviour::Truncate => {
                            s.pop();
                        }
                        _ => {}
                    }
                    ChunkResponse::Slice(s)
                }
                other => other,
            },
        };
        resp.encode()
    }
}

/// Runs a download against `peers`, round robin, dropping a peer at its first fault.
/// Returns the faults seen (peer index, error).
fn run(dl: &mut Download, peers: &[Peer]) -> Vec<(usize, Error)> {
    let mut faults = Vec::new();
    let mut banned = vec![false; peers.len()];
    let mut p = 0;
    let mut rounds = 0;
    while let Some(req) = dl.next_request() {
        rounds += 1;
        assert!(rounds < 10_000, "download does not progress");
        while banned[p % peers.len()] {
            p += 1;
        }
        let i = p % peers.len();
        p += 1;
        let wire = peers[i].answer(&req);
        match ChunkResponse::decode_limited(&wire).unwrap() {
            ChunkResponse::Slice(s) => {
                if let Err(e) = dl.accept(&req, &s) {
                    assert!(e.is_peer_fault(), "{e}");
                    banned[i] = true;
                    faults.push((i, e));
                }
            }
            ChunkResponse::NotFound | ChunkResponse::BadRequest => {
                dl.release(&req);
                banned[i] = true;
            }
        }
    }
    faults
}

#[test]
fn import_round_trip() {
    let (_d, s) = store();
    let bytes = tiny(1);
    let m = meta_of(&bytes);
    let stored = s.import_bytes(&bytes, None).unwrap();
    assert_eq!(stored.meta, m);
    assert_eq!(content_id(&bytes).unwrap(), m.id);
    assert!(s.has(&m.id));
    assert_eq!(s.path(&m.id).unwrap(), stored.path);
    assert_eq!(fs::read(&stored.path).unwrap(), bytes);
    assert_eq!(s.size(&m.id).unwrap(), bytes.len() as u64);
    assert_eq!(s.meta(&m.id).unwrap(), m);
    assert_eq!(s.verify(&m.id).unwrap(), m);

    // Import from a path, with the registry's expectation.
    let other = tiny(2);
    let om = meta_of(&other);
    let src = s.dir().parent().unwrap().join("in.mvm");
    fs::write(&src, &other).unwrap();
    assert_eq!(s.import_file(&src, Some(&om)).unwrap().meta, om);
    // Importing again is harmless.
    s.import_bytes(&bytes, Some(&m)).unwrap();

    let mut want = vec![m, om];
    want.sort_by_key(|m| m.id);
    assert_eq!(s.list().unwrap(), want);
    assert!(no_temp_files(s.dir()));

    // Reopening keeps everything.
    let s2 = ModelStore::open(s.dir()).unwrap();
    assert_eq!(s2.list().unwrap(), want);

    assert!(s.remove(&m.id).unwrap());
    assert!(!s.remove(&m.id).unwrap());
    assert!(!s.has(&m.id));
    assert!(s.path(&m.id).is_none());
    assert!(matches!(s.meta(&m.id), Err(Error::NotFound(_))));
    assert_eq!(s.list().unwrap(), vec![om]);
}

#[test]
fn malformed_models_are_refused() {
    let (_d, s) = store();
    let bytes = tiny(3);
    for n in [0, 7, 8, 50, bytes.len() / 2, bytes.len() - 1] {
        let e = s.import_bytes(&bytes[..n], None).unwrap_err();
        assert!(matches!(e, Error::Model(_)), "len {n}: {e}");
        assert!(e.to_string().starts_with("invalid model file"), "{e}");
    }
    let mut b = bytes.clone();
    b[0] ^= 1;
    assert!(matches!(s.import_bytes(&b, None), Err(Error::Model(_))));
    let mut b = bytes.clone();
    b.push(0);
    assert!(matches!(s.import_bytes(&b, None), Err(Error::Model(_))));
    // A well-formed file that is not a runnable model (an MLP without layers).
    let f = ModelFile::new(2, [0; 15], vec![]).unwrap().to_bytes();
    assert!(matches!(s.import_bytes(&f, None), Err(Error::Model(_))));
    // A truncated file given by path.
    let p = s.dir().parent().unwrap().join("cut.mvm");
    fs::write(&p, &bytes[..1000]).unwrap();
    assert!(matches!(s.import_file(&p, None), Err(Error::Model(_))));
    assert!(dir_names(s.dir()).is_empty());
}

#[test]
fn wrong_expectations_are_refused() {
    let (_d, s) = store();
    let bytes = tiny(4);
    let m = meta_of(&bytes);
    let other = meta_of(&tiny(5));
    let e = s
        .import_bytes(&bytes, Some(&ModelMeta { id: other.id, ..m }))
        .unwrap_err();
    assert!(matches!(e, Error::IdMismatch { .. }), "{e}");
    let e = s
        .import_bytes(
            &bytes,
            Some(&ModelMeta {
                file_root: other.file_root,
                ..m
            }),
        )
        .unwrap_err();
    assert!(matches!(e, Error::FileRootMismatch { .. }), "{e}");
    // Larger than registered: refused (from bytes and from a path).
    let small = ModelMeta {
        size: m.size - 1,
        ..m
    };
    let e = s.import_bytes(&bytes, Some(&small)).unwrap_err();
    assert!(matches!(e, Error::SizeMismatch { .. }), "{e}");
    let p = s.dir().parent().unwrap().join("m.mvm");
    fs::write(&p, &bytes).unwrap();
    let e = s.import_file(&p, Some(&small)).unwrap_err();
    assert!(matches!(e, Error::SizeMismatch { .. }), "{e}");
    assert!(dir_names(s.dir()).is_empty());
    assert!(!s.has(&m.id) && !s.has(&other.id));
}

#[test]
fn open_recovers_a_damaged_directory() {
    let (_d, s) = store();
    let a = tiny(6);
    let b = tiny(7);
    let c = tiny(8);
    let (ma, mb, mc) = (meta_of(&a), meta_of(&b), meta_of(&c));
    for x in [&a, &b, &c] {
        s.import_bytes(x, None).unwrap();
    }
    let dir = s.dir().to_path_buf();
    let name = |m: &ModelMeta, ext: &str| dir.join(format!("{}.{ext}", hex::encode(m.id)));
    // A leftover temporary file, an orphan outboard, a model without outboard, a damaged
    // outboard trailer, and a model stored under the wrong name (without outboard: open
    // only re-hashes models whose outboard is missing or damaged).
    fs::write(dir.join(".tmp-leftover"), b"partial").unwrap();
    fs::remove_file(name(&mb, "obao")).unwrap();
    let orphan = ModelMeta { id: [9; 32], ..ma };
    fs::copy(name(&ma, "obao"), name(&orphan, "obao")).unwrap();
    let ob = name(&ma, "obao");
    let mut t = fs::read(&ob).unwrap();
    let n = t.len();
    t[n - 1] ^= 1;
    fs::write(&ob, t).unwrap();
    fs::copy(name(&ma, "mvm"), name(&mc, "mvm")).unwrap();
    fs::remove_file(name(&mc, "obao")).unwrap();

    let s = ModelStore::open(&dir).unwrap();
    assert!(no_temp_files(&dir));
    assert!(!name(&orphan, "obao").exists());
    assert_eq!(s.verify(&ma.id).unwrap(), ma);
    assert_eq!(s.verify(&mb.id).unwrap(), mb);
    assert!(!s.has(&mc.id));
    assert_eq!(dir_names(&dir).len(), 4);
}

#[test]
fn serving_checks_bounds_and_integrity() {
    let (_d, s) = store();
    let bytes = tiny(10);
    let m = meta_of(&bytes);
    s.import_bytes(&bytes, None).unwrap();
    let g = CHUNK_GROUP_BYTES;
    let req = |offset: u64, len: u32| ChunkRequest {
        id: m.id,
        offset,
        len,
    };
    assert!(matches!(
        s.serve(&req(0, g)),
        ChunkResponse::Slice(ref v) if v.len() > g as usize
    ));
    for (o, l) in [
        (m.size, 1),
        (0, 0),
        (1, g),
        (0, g + 1),
        (0, MAX_SLICE + g),
        (0, m.size as u32 + 1),
        (u64::MAX - 5, g),
    ] {
        assert!(
            matches!(s.read_slice(&m.id, o, l), Err(Error::BadRequest(_))),
            "{o} {l}"
        );
        assert_eq!(s.serve(&req(o, l)), ChunkResponse::BadRequest, "{o} {l}");
    }
    let unknown = ChunkRequest {
        id: [1; 32],
        offset: 0,
        len: g,
    };
    assert_eq!(s.serve(&unknown), ChunkResponse::NotFound);

    // Bit rot in the stored file: detected while encoding, never served.
    let mut b = fs::read(s.path(&m.id).unwrap()).unwrap();
    b[20_000] ^= 4;
    fs::write(s.path(&m.id).unwrap(), b).unwrap();
    assert!(matches!(
        s.read_slice(&m.id, g as u64, g),
        Err(Error::Corrupt { .. })
    ));
    assert_eq!(s.serve(&req(g as u64, g)), ChunkResponse::NotFound);
    assert!(s.read_slice(&m.id, 2 * g as u64, g).is_ok());
    assert!(s.verify(&m.id).is_err());
}

#[test]
fn download_survives_a_corrupting_peer() {
    let (_d1, honest) = store();
    let (_d2, target) = store();
    let bytes = tiny(11);
    let m = meta_of(&bytes);
    honest.import_bytes(&bytes, None).unwrap();
    let mut dl = target
        .download_with_request_size(m, 1 << 30, CHUNK_GROUP_BYTES)
        .unwrap();
    assert_eq!(dl.progress().total, m.size);
    let peers = [
        Peer {
            store: honest.clone(),
            behaviour: Behaviour::FlipByte,
            serve_as: None,
        },
        Peer {
            store: honest.clone(),
            behaviour: Behaviour::ExtraByte,
            serve_as: None,
        },
        Peer {
            store: honest.clone(),
            behaviour: Behaviour::Absent,
            serve_as: None,
        },
        Peer {
            store: honest.clone(),
            behaviour: Behaviour::Truncate,
            serve_as: None,
        },
        Peer {
            store: honest.clone(),
            behaviour: Behaviour::Honest,
            serve_as: None,
        },
    ];
    let faults = run(&mut dl, &peers);
    let who: Vec<usize> = faults.iter().map(|f| f.0).collect();
    assert_eq!(who, vec![0, 1, 3]);
    for (_, e) in &faults {
        assert!(matches!(e, Error::InvalidSlice(_)), "{e}");
    }
    assert!(dl.is_complete());
    let p = dl.progress();
    assert_eq!((p.verified, p.in_flight, p.missing), (m.size, 0, 0));
    let stored = dl.finish().unwrap();
    assert_eq!(stored.meta, m);
    assert_eq!(fs::read(&stored.path).unwrap(), bytes);
    assert_eq!(target.verify(&m.id).unwrap(), m);
    assert!(no_temp_files(target.dir()));
}

#[test]
fn bad_responses_are_refused_and_requeued() {
    let (_d1, src) = store();
    let (_d2, target) = store();
    let bytes = tiny(12);
    let m = meta_of(&bytes);
    src.import_bytes(&bytes, None).unwrap();
    let mut dl = target
        .download_with_request_size(m, u64::MAX, 2 * CHUNK_GROUP_BYTES)
        .unwrap();
    let req = dl.next_request().unwrap();
    let good = src.read_slice(&m.id, req.offset, req.len).unwrap();
    let missing = dl.progress().missing;

    let mut longer = good.clone();
    longer.push(0);
    let mut huge = good.clone();
    huge.resize(good.len() * 3, 0);
    let short = &good[..good.len() - 1];
    let data_only = &bytes[..req.len as usize];
    for (what, bad) in [
        ("longer", &longer[..]),
        ("huge", &huge[..]),
        ("short", short),
        ("data only", data_only),
        ("empty", &[][..]),
    ] {
        let e = dl.accept(&req, bad).unwrap_err();
        assert!(e.is_peer_fault(), "{what}: {e}");
        if what == "huge" {
            assert!(matches!(e, Error::SliceTooLarge { .. }), "{e}");
        }
        // The range is missing again, nothing was verified.
        assert_eq!(dl.progress().missing, missing + 1, "{what}");
        assert_eq!(dl.progress().verified, 0);
    }
    // A response for a range that was never handed out.
    let wrong = ChunkRequest {
        offset: req.offset + CHUNK_GROUP_BYTES as u64,
        ..req
    };
    assert!(matches!(
        dl.accept(&wrong, &good),
        Err(Error::UnexpectedRange { .. })
    ));
    assert_eq!(dl.accept(&req, &good).unwrap(), req.len as u64);
    // A duplicate is verified but adds nothing.
    assert_eq!(dl.accept(&req, &good).unwrap(), 0);
    assert!(matches!(dl.finish(), Err(Error::Incomplete { .. })));
    assert!(dir_names(target.dir()).is_empty());
}

#[test]
fn another_models_valid_slice_is_refused() {
    let (_d1, src) = store();
    let (_d2, target) = store();
    let a = tiny(13);
    let b = tiny(14);
    assert_eq!(a.len(), b.len());
    let (ma, mb) = (meta_of(&a), meta_of(&b));
    src.import_bytes(&a, None).unwrap();
    src.import_bytes(&b, None).unwrap();
    // A different-size model too.
    let c = multi_mb(15);
    let mc = meta_of(&c);
    src.import_bytes(&c, None).unwrap();
    for other in [mb.id, mc.id] {
        let mut dl = target
            .download_with_request_size(ma, u64::MAX, CHUNK_GROUP_BYTES)
            .unwrap();
        let peers = [
            Peer {
                store: src.clone(),
                behaviour: Behaviour::OtherModel(other),
                serve_as: None,
            },
            Peer {
                store: src.clone(),
                behaviour: Behaviour::Honest,
                serve_as: None,
            },
        ];
        let faults = run(&mut dl, &peers);
        assert_eq!(faults.len(), 1);
        assert!(faults[0].1.is_peer_fault());
        assert_eq!(dl.finish().unwrap().meta, ma);
        assert!(target.remove(&ma.id).unwrap());
    }
}

#[test]
fn finish_refuses_a_file_that_is_not_the_registered_model() {
    let (_d1, src) = store();
    let (_d2, target) = store();
    let real = tiny(16);
    let mr = meta_of(&real);
    src.import_bytes(&real, None).unwrap();
    // The registry's record claims another id for these bytes' root and size.
    let fake = ModelMeta {
        id: meta_of(&tiny(17)).id,
        ..mr
    };
    let mut dl = target
        .download_with_request_size(fake, u64::MAX, 4 * CHUNK_GROUP_BYTES)
        .unwrap();
    let peers = [Peer {
        store: src.clone(),
        behaviour: Behaviour::Honest,
        serve_as: Some(mr.id),
    }];
    assert!(run(&mut dl, &peers).is_empty());
    assert!(dl.is_complete());
    let e = dl.finish().unwrap_err();
    assert!(matches!(e, Error::IdMismatch { .. }), "{e}");
    assert!(!target.has(&fake.id) && !target.has(&mr.id));
    assert!(dir_names(target.dir()).is_empty());
}

#[test]
fn download_limits() {
    let (_d, s) = store();
    let bytes = tiny(18);
    let m = meta_of(&bytes);
    assert!(matches!(
        s.download(m, m.size - 1),
        Err(Error::TooLarge { .. })
    ));
    let huge = ModelMeta { size: 3 << 30, ..m };
    assert!(matches!(
        s.download(huge, u64::MAX),
        Err(Error::TooLarge { .. })
    ));
    assert!(s.download(ModelMeta { size: 10, ..m }, u64::MAX).is_err());
    assert!(s.download_with_request_size(m, u64::MAX, 1000).is_err());
    assert!(s
        .download_with_request_size(m, u64::MAX, MAX_SLICE + CHUNK_GROUP_BYTES)
        .is_err());
    // Dropping a download removes its temporary file.
    let dl = s.download(m, u64::MAX).unwrap();
    assert_eq!(dir_names(s.dir()).len(), 1);
    drop(dl);
    assert!(dir_names(s.dir()).is_empty());
}

#[test]
fn multi_mb_model_from_several_peers_in_parallel() {
    let (_d1, src) = store();
    let (_d2, target) = store();
    let bytes = multi_mb(19);
    assert!(bytes.len() > 3_000_000, "{}", bytes.len());
    let m = meta_of(&bytes);
    src.import_bytes(&bytes, Some(&m)).unwrap();
    let mut dl = target.download(m, u64::MAX).unwrap();
    // Hand out every range at once, answer in reverse order, one range twice.
    let mut reqs = Vec::new();
    while let Some(r) = dl.next_request() {
        reqs.push(r);
    }
    assert_eq!(reqs.len(), bytes.len().div_ceil(1 << 20));
    assert_eq!(dl.progress().in_flight, reqs.len());
    for (k, r) in reqs.iter().rev().enumerate() {
        let s = src.read_slice(&r.id, r.offset, r.len).unwrap();
        assert!(s.len() < r.len as usize + r.len as usize / 100);
        let wire = ChunkResponse::Slice(s).encode();
        let ChunkResponse::Slice(s) = ChunkResponse::decode_limited(&wire).unwrap() else {
            panic!()
        };
        assert_eq!(dl.accept(r, &s).unwrap(), r.len as u64);
        if k == 0 {
            assert_eq!(dl.accept(r, &s).unwrap(), 0);
        }
    }
    let stored = dl.finish().unwrap();
    assert_eq!(fs::read(&stored.path).unwrap(), bytes);
    assert_eq!(
        ModelFile::from_bytes(&fs::read(&stored.path).unwrap())
            .unwrap()
            .content_hash(),
        m.id
    );
    assert_eq!(target.list().unwrap(), vec![m]);
}

/// In-process peers behind the [`fetch::ChunkSource`] trait, as the node's network is.
struct Swarm {
    peers: Vec<Peer>,
    penalised: std::sync::Mutex<Vec<usize>>,
}

impl menara_model_store::fetch::ChunkSource for Swarm {
    type Peer = usize;

    fn peers(&self) -> impl std::future::Future<Output = Vec<usize>> + Send {
        std::future::ready((0..self.peers.len()).collect())
    }

    fn request(
        &self,
        peer: usize,
        request: ChunkRequest,
    ) -> impl std::future::Future<Output = Result<ChunkResponse, String>> + Send {
        let wire = self.peers[peer].answer(&request);
        async move { ChunkResponse::decode_limited(&wire).map_err(|e| e.to_string()) }
    }

    fn penalise(&self, peer: &usize, error: &Error) {
        assert!(error.is_peer_fault(), "{error}");
        self.penalised.lock().unwrap().push(*peer);
    }
}

/// The fetch loop asks several peers at once; the one serving corrupted slices is
/// penalised once and dropped, and the model completes from the honest ones.
#[tokio::test]
async fn fetch_completes_from_honest_peers_and_penalises_a_corrupting_one() {
    use menara_model_store::fetch::{fetch, FetchConfig};
    let bytes = multi_mb(7);
    let meta = meta_of(&bytes);
    let mut peers = Vec::new();
    let mut dirs = Vec::new();
    for behaviour in [
        Behaviour::FlipByte,
        Behaviour::Honest,
        Behaviour::Absent,
        Behaviour::Honest,
    ] {
        let (dir, s) = store();
        s.import_bytes(&bytes, Some(&meta)).unwrap();
        dirs.push(dir);
        peers.push(Peer {
            store: s,
            behaviour,
            serve_as: None,
        });
    }
    let swarm = Swarm {
        peers,
        penalised: std::sync::Mutex::new(Vec::new()),
    };
    let (_dir, local) = store();
    let download = local
        .download_with_request_size(meta, menara_model_store::MAX_MODEL_BYTES, 256 * 1024)
        .unwrap();
    let mut reports = 0;
    let stored = fetch(download, &swarm, FetchConfig::default(), |p| {
        assert!(p.verified <= p.total);
        reports += 1;
    })
    .await
    .unwrap();
    assert_eq!(fs::read(&stored.path).unwrap(), bytes);
    assert_eq!(stored.meta, meta);
    assert_eq!(
        *swarm.penalised.lock().unwrap(),
        vec![0],
        "the corrupting peer, once"
    );
    assert!(reports > 1, "progress is reported");
}
