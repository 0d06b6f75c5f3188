//! What the CLI end-to-end tests share: a dev node started from the real `menara` binary,
//! the wallet run against it, and a tiny model to publish and serve. A test file says
//! `mod support; use support::*;`.
// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]
use gpu_verify::model::{EncoderConfig, Model};
use jsonrpsee::ws_client::WsClient;
use menara_primitives::H256;
use menara_rpc::client;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_menara");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `menara --dev` node, killed when dropped.
pub struct Node {
    child: Child,
    rpc_port: u16,
    log: PathBuf,
}

impl Node {
    /// A dev node producing a block every `block_ms` milliseconds.
    pub fn start(base: &Path, block_ms: u32) -> Node {
        Self::start_with(base, block_ms, &[])
    }

    /// A dev node producing a block every `block_ms` milliseconds, with `extra` flags
    /// (e.g. the workers): `menara --dev --base-path BASE` on a free RPC port, without
    /// Prometheus, logging at `info` to `BASE/node.log`.
    pub fn start_with(base: &Path, block_ms: u32, extra: &[&str]) -> Node {
        let rpc_port = free_port();
        let log = base.join("node.log");
        let child = Command::new(BIN)
            .args([
                "--dev",
                "--block-time-ms",
                &block_ms.to_string(),
                "--base-path",
            ])
            .arg(base)
            .args(["--rpc-port", &rpc_port.to_string(), "--no-prometheus"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Node {
            child,
            rpc_port,
            log,
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.rpc_port)
    }

    /// What the node logged so far.
    pub fn node_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Connects to the node's RPC once it is open (within 60 s); panics with its log if
    /// it exited.
    pub async fn connect(&mut self) -> WsClient {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("node exited early ({status}):\n{}", self.node_log());
            }
            if let Ok(c) = client::connect(&self.url()).await {
                return c;
            }
            assert!(
                Instant::now() < deadline,
                "node did not open RPC:\n{}",
                self.node_log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Runs `menara ARGS --rpc <this node>`.
    pub fn menara(&self, args: &[&str]) -> Output {
        let url = self.url();
        let mut all = args.to_vec();
        all.extend(["--rpc", &url]);
        menara(&all)
    }

    /// Runs a command that must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.menara(args);
        assert!(
            out.status.success(),
            "`menara {}` failed:\n{}{}",
            args.join(" "),
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// Runs a command that must fail with `error` in its message; returns its message.
    pub fn fails(&self, args: &[&str], error: &str) -> String {
        let out = self.menara(args);
        assert!(
            !out.status.success(),
            "`menara {}` should fail:\n{}",
            args.join(" "),
            stdout(&out)
        );
        let err = stderr(&out);
        assert!(
            err.contains(error),
            "`menara {}`: expected {error:?}, got:\n{err}",
            args.join(" ")
        );
        err
    }

    /// Runs a transaction the runtime must refuse with `error`.
    pub fn refused(&self, args: &[&str], error: &str) {
        let err = self.fails(args, error);
        assert!(err.contains("the call failed"), "{err}");
    }

    /// `query ARGS --json`, e.g. `json(&["agents", "grants", "//Dave"])`.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["query"];
        all.extend_from_slice(args);
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).unwrap()
    }

    /// `from` registers as a compute provider of model `id` (one H100, 400 MEN collateral)
    /// and serves it at 1 MEN a job; returns what `set-price` printed.
    pub fn serve(&self, id: &str, from: &str) -> String {
        self.ok(&[
            "tx",
            "compute",
            "register",
            "--gpu",
            "H100",
            "--gpu-count",
            "1",
            "--vram-gib",
            "80",
            "--region",
            "eu",
            "--models",
            id,
            "--price-per-block",
            "1",
            "--collateral",
            "400",
            "--from",
            from,
        ]);
        self.ok(&[
            "tx",
            "inference",
            "set-price",
            "--model",
            id,
            "--price",
            "1",
            "--from",
            from,
        ])
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (at most 30 s) until the best block is `number` or later.
pub async fn wait_for_block(c: &WsClient, number: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let header = client::header(c, None).await.unwrap().unwrap();
        if header.number >= number {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "chain stuck at #{}",
            header.number
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `menara ARGS`.
pub fn menara(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The id in the last line of a command's output, e.g. `order 3`.
pub fn id_after(out: &str, what: &str) -> String {
    let last = out.lines().last().unwrap_or_default();
    let id = last
        .strip_prefix(what)
        .and_then(|s| s.strip_prefix(' '))
        .unwrap_or_else(|| panic!("expected `{what} <id>` last, got:\n{out}"));
    assert!(id.parse::<u64>().is_ok(), "{out}");
    id.to_string()
}

/// The vocabulary of the test model: the special tokens, a few words, filler.
pub const WORDS: [&str; 8] = [
    "[PAD]", "[CLS]", "[SEP]", "[UNK]", "hello", "world", "menara", "!",
];

/// The id of `w` in the test model's vocabulary.
pub fn word(w: &str) -> u32 {
    WORDS.iter().position(|x| *x == w).unwrap() as u32
}

/// A tiny random encoder (one block, hidden width 32) that ships a 64-token vocabulary:
/// the model, its file's bytes and its id.
pub fn tiny_encoder(seed: u64) -> (Model, Vec<u8>, H256) {
    let cfg = EncoderConfig {
        vocab: 64,
        hidden: 32,
        layers: 1,
        heads: 2,
        intermediate: 64,
        max_positions: 16,
        max_seq_len: 16,
        cls: 1,
        sep: 2,
        unk: 3,
    };
    let mut model = gpu_verify::random::random_encoder(seed, cfg).unwrap();
    let mut vocab: Vec<String> = WORDS.iter().map(|w| w.to_string()).collect();
    vocab.extend((WORDS.len()..64).map(|i| format!("filler{i}")));
    let Model::Encoder(e) = &mut model else {
        unreachable!()
    };
    e.vocab_text = Some(vocab.join("\n").into_bytes());
    let file = model.to_file().unwrap();
    let id = H256(file.content_hash());
    (model, file.to_bytes(), id)
}
