//! The block worker: one task that builds, validates, fetches, commits and syncs blocks in
//! the order consensus asked, so a commit at height `h` is written before the blocks of
//! `h + 1` are executed on top of it. Heavy work runs on the blocking thread pool.
use crate::client::{unix_millis, ExecutedBlock};
use crate::driver::{certificate_matches, validator_set, Input, SyncedBlock};
use crate::Client;
use menara_consensus::{Event, QuorumCertificate};
use menara_crypto::{BlsCrypto, BlsSecretKey};
use menara_network::{BlockRequest, BlockResponse, Misbehaviour, NetworkHandle, PeerId};
use menara_primitives::{AccountId, Block, H256};
use parity_scale_codec::{DecodeAll, Encode};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How far ahead of this node's clock a proposed block's timestamp may be.
pub const MAX_FUTURE_DRIFT_MS: u64 = 2_000;
/// Blocks asked for per sync request.
pub const SYNC_BATCH: u32 = 128;

/// Work for the block worker.
#[derive(Debug)]
pub enum Job {
    /// Build a proposal for `(height, round)` on the best block.
    Build {
        /// Height.
        height: u64,
        /// Round.
        round: u32,
    },
    /// Execute a proposed block and report whether it is valid.
    Validate {
        /// Height.
        height: u64,
        /// Hash the proposal claims.
        block_hash: H256,
        /// Encoded block.
        block: Vec<u8>,
        /// Accounts that may have authored it (the proposers of its round and earlier ones);
        /// `None` when unknown.
        allowed_authors: Option<Vec<AccountId>>,
    },
    /// Find the bytes of a block executed earlier (re-proposal of a locked block).
    Fetch {
        /// Height.
        height: u64,
        /// Hash.
        block_hash: H256,
    },
    /// Commit a decided block with its certificate (fetching it from peers if unknown).
    Commit {
        /// Height.
        height: u64,
        /// Hash.
        block_hash: H256,
        /// Its bytes, when consensus has them.
        block: Option<Vec<u8>>,
        /// Encoded commit certificate.
        justification: Vec<u8>,
    },
    /// Catch up to at least `to` from peers.
    Sync {
        /// Height seen on the network.
        to: u64,
    },
}

/// The block worker's state.
pub struct Worker {
    client: Arc<Client>,
    network: Option<NetworkHandle>,
    /// The account blocks are authored as and the consensus key that signs their beacon.
    author: Option<(AccountId, BlsSecretKey)>,
    block_time: Duration,
    inputs: mpsc::UnboundedSender<Input>,
    /// Blocks executed on the best block, by hash, waiting for a decision.
    executed: HashMap<H256, ExecutedBlock>,
    /// Encoded bytes of those blocks.
    bytes: HashMap<H256, Vec<u8>>,
    next_peer: usize,
}

impl Worker {
    /// Spawns the worker; returns where to send it jobs.
    pub fn spawn(
        client: Arc<Client>,
        network: Option<NetworkHandle>,
        author: Option<(AccountId, BlsSecretKey)>,
        block_time: Duration,
        inputs: mpsc::UnboundedSender<Input>,
    ) -> mpsc::UnboundedSender<Job> {
        let (tx, rx) = mpsc::unbounded_channel();
        let worker = Worker {
            client,
            network,
            author,
            block_time,
            inputs,
            executed: HashMap::new(),
            bytes: HashMap::new(),
            next_peer: 0,
        };
        tokio::spawn(worker.run(rx));
        tx
    }

    async fn run(mut self, mut jobs: mpsc::UnboundedReceiver<Job>) {
        let mut stashed: Option<Job> = None;
        loop {
            let job = match stashed.take() {
                Some(job) => job,
                None => match jobs.recv().await {
                    Some(job) => job,
                    None => return,
                },
            };
            if let Job::Sync { mut to } = job {
                // Merge the sync requests queued right behind this one; the first other job
                // runs after the sync (its height may then be stale: each job checks).
                while let Ok(next) = jobs.try_recv() {
                    match next {
                        Job::Sync { to: t } => to = to.max(t),
                        other => {
                            stashed = Some(other);
                            break;
                        }
                    }
                }
                self.sync(to).await;
                let _ = self.inputs.send(Input::Synced);
            } else {
                self.handle(job).await;
            }
        }
    }

    async fn handle(&mut self, job: Job) {
        match job {
            Job::Build { height, round } => self.build(height, round).await,
            Job::Validate {
                height,
                block_hash,
                block,
                allowed_authors,
            } => {
                self.validate(height, block_hash, block, allowed_authors)
                    .await
            }
            Job::Fetch { height, block_hash } => {
                if let Some(block) = self.bytes.get(&block_hash) {
                    self.send(Event::BlockFetched {
                        height,
                        block_hash,
                        block: block.clone(),
                    });
                }
            }
            Job::Commit {
                height,
                block_hash,
                block,
                justification,
            } => {
                self.commit(height, block_hash, block, justification).await;
                let _ = self.inputs.send(Input::Committed);
            }
            Job::Sync { to } => {
                self.sync(to).await;
                let _ = self.inputs.send(Input::Synced);
            }
        }
    }

    fn send(&self, event: Event<BlsCrypto>) {
        let _ = self.inputs.send(Input::Event(Box::new(event)));
    }

    async fn build(&mut self, height: u64, round: u32) {
        let Some((author, bls)) = self.author.clone() else {
            return;
        };
        let (best, best_hash) = self.client.best();
        if best + 1 != height {
            return;
        }
        // Pace blocks: propose no earlier than one block time after the parent. Jobs run in
        // order, so the parent is committed by now.
        let parent_ts = self
            .client
            .database()
            .header(&best_hash)
            .ok()
            .flatten()
            .map(|h| h.timestamp)
            .unwrap_or(0);
        let block_ms = self.block_time.as_millis() as u64;
        let wait = parent_ts
            .saturating_add(block_ms)
            .saturating_sub(unix_millis())
            .min(block_ms);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let client = self.client.clone();
        let deadline = self.block_time / 2;
        match tokio::task::spawn_blocking(move || client.build_block(author, &bls, deadline)).await
        {
            Ok(Ok(executed)) => {
                let hash = executed.block.hash();
                let bytes = executed.block.encode();
                tracing::debug!(target: "menara", "built #{height} round {round} with {} transactions", executed.block.extrinsics.len());
                self.executed.insert(hash, executed);
                self.bytes.insert(hash, bytes.clone());
                self.send(Event::ProposalBlock {
                    height,
                    round,
                    block_hash: hash,
                    block: bytes,
                });
            }
            Ok(Err(e)) => tracing::error!(target: "menara", "building block #{height} failed: {e}"),
            Err(e) => tracing::error!(target: "menara", "block building task failed: {e}"),
        }
    }

    async fn validate(
        &mut self,
        height: u64,
        block_hash: H256,
        bytes: Vec<u8>,
        allowed_authors: Option<Vec<AccountId>>,
    ) {
        let valid = match self
            .check_proposal(height, block_hash, &bytes, allowed_authors.as_deref())
            .await
        {
            Ok(executed) => {
                self.executed.insert(block_hash, executed);
                self.bytes.insert(block_hash, bytes);
                true
            }
            Err(reason) => {
                tracing::info!(target: "menara", "proposed block #{height} ({block_hash}) is invalid: {reason}");
                false
            }
        };
        self.send(Event::BlockValidated {
            height,
            block_hash,
            valid,
        });
    }

    async fn check_proposal(
        &self,
        height: u64,
        block_hash: H256,
        bytes: &[u8],
        allowed_authors: Option<&[AccountId]>,
    ) -> Result<ExecutedBlock, String> {
        let block = Block::decode_all(&mut &bytes[..]).map_err(|e| format!("undecodable: {e}"))?;
        if block.hash() != block_hash {
            return Err("its hash is not the one proposed".into());
        }
        if let Some(allowed) = allowed_authors {
            if !allowed.contains(&block.header.author) {
                return Err(format!(
                    "its author {} is not the proposer of its round",
                    block.header.author
                ));
            }
        }
        if block.header.number != height {
            return Err(format!("it is numbered #{}", block.header.number));
        }
        let parent_ts = self
            .client
            .database()
            .header(&block.header.parent_hash)
            .ok()
            .flatten()
            .map(|h| h.timestamp)
            .unwrap_or(0);
        if block.header.timestamp <= parent_ts {
            return Err("its timestamp is not after its parent's".into());
        }
        if block.header.timestamp > unix_millis().saturating_add(MAX_FUTURE_DRIFT_MS) {
            return Err("its timestamp is in the future".into());
        }
        let client = self.client.clone();
        tokio::task::spawn_blocking(move || client.execute_block(&block))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }

    async fn commit(
        &mut self,
        height: u64,
        block_hash: H256,
        block: Option<Vec<u8>>,
        justification: Vec<u8>,
    ) {
        let db = self.client.database().clone();
        if db.hash_at(height).ok().flatten() == Some(block_hash) {
            // Already imported (by sync).
            self.clear_executed();
            return;
        }
        let (best, _) = self.client.best();
        if best + 1 != height {
            tracing::warn!(target: "menara", "decided #{height} while the chain is at #{best}: syncing");
            self.sync(height).await;
            self.clear_executed();
            return;
        }
        let executed = match self.executed.remove(&block_hash) {
            Some(e) if e.block.header.number == height => Some(e),
            _ => None,
        };
        let result = match executed {
            Some(executed) => {
                let client = self.client.clone();
                tokio::task::spawn_blocking(move || {
                    client.commit_executed(executed, Some(&justification))
                })
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
            }
            None => {
                let block = match block {
                    Some(bytes) => Block::decode_all(&mut &bytes[..]).ok(),
                    None => self.fetch_block(height, block_hash).await,
                };
                match block {
                    Some(block) if block.hash() == block_hash => {
                        let client = self.client.clone();
                        tokio::task::spawn_blocking(move || {
                            client.import_justified(&block, Some(&justification))
                        })
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| r.map_err(|e| e.to_string()))
                    }
                    _ => Err("the decided block could not be obtained from peers".into()),
                }
            }
        };
        match result {
            Ok(()) => tracing::debug!(target: "menara", "✅ finalized #{height} ({block_hash})"),
            Err(e) => {
                tracing::error!(target: "menara", "committing decided block #{height} ({block_hash}) failed: {e}")
            }
        }
        self.clear_executed();
    }

    fn clear_executed(&mut self) {
        self.executed.clear();
        self.bytes.clear();
    }

    async fn peers(&self) -> Vec<PeerId> {
        match &self.network {
            Some(net) => net
                .peers()
                .await
                .map(|ps| ps.into_iter().map(|p| p.peer_id).collect())
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }

    fn pick(&mut self, peers: &[PeerId]) -> Option<PeerId> {
        if peers.is_empty() {
            return None;
        }
        self.next_peer = self.next_peer.wrapping_add(1);
        peers.get(self.next_peer % peers.len()).copied()
    }

    /// Asks peers for the block decided at `height` (consensus saw its certificate, not the
    /// block). Peers commit it at about the same time, so this retries for a while.
    async fn fetch_block(&mut self, height: u64, hash: H256) -> Option<Block> {
        let net = self.network.clone()?;
        for _ in 0..40 {
            let peers = self.peers().await;
            if let Some(peer) = self.pick(&peers) {
                let request = BlockRequest {
                    from: height,
                    max: 1,
                };
                if let Ok(resp) = net.request_blocks(peer, request).await {
                    if let Some(raw) = resp.blocks.first() {
                        match SyncedBlock::decode_all(&mut &raw[..]) {
                            Ok((block, _)) if block.hash() == hash => return Some(block),
                            Ok(_) => {} // the peer has not committed it yet
                            Err(_) => {
                                let _ = net.report(peer, Misbehaviour::BadResponse);
                            }
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        None
    }

    /// Imports blocks with their certificates from peers until the chain reaches `to`, or
    /// the highest final height peers report, whichever is higher (`to = 0` just asks peers
    /// whether they are ahead). Each certificate is checked against the validator set before
    /// its block is executed through the same import path as live blocks. Resumable: it
    /// always starts from the best block in the database.
    async fn sync(&mut self, to: u64) {
        let Some(net) = self.network.clone() else {
            return;
        };
        let start = Instant::now();
        let (start_height, _) = self.client.best();
        let mut target = to;
        let mut asked = false;
        let mut last_report = Instant::now();
        let mut failures = 0u32;
        loop {
            let (best, _) = self.client.best();
            if (asked && best >= target) || failures >= 20 {
                break;
            }
            if target > best {
                self.client.set_syncing(true);
            }
            if last_report.elapsed() > Duration::from_secs(5) {
                last_report = Instant::now();
                let rate = (best - start_height) as f64 / start.elapsed().as_secs_f64().max(1e-3);
                tracing::info!(target: "menara", "⚙️  syncing #{best} / target #{target}, {rate:.1} blocks/s");
            }
            let peers = self.peers().await;
            let Some(peer) = self.pick(&peers) else {
                if target <= best {
                    break; // only asking around: nobody to ask
                }
                failures += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            let request = BlockRequest {
                from: best + 1,
                max: SYNC_BATCH,
            };
            let response = match net.request_blocks(peer, request).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(target: "menara", "sync request to {peer} failed: {e}");
                    if target <= best {
                        // Only asking around: a peer that does not answer must not hold up
                        // the block worker (consensus jobs wait behind it).
                        break;
                    }
                    failures += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            asked = true;
            target = target.max(response.head);
            if response.blocks.is_empty() {
                if best >= target {
                    break;
                }
                failures += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let client = self.client.clone();
            let blocks = response.blocks;
            let imported =
                tokio::task::spawn_blocking(move || import_batch(&client, best + 1, &blocks))
                    .await
                    .unwrap_or(Err((0, "import task failed".into())));
            match imported {
                Ok(_) => failures = 0,
                Err((n, reason)) => {
                    tracing::warn!(target: "menara", "peer {peer} served an invalid block during sync ({reason}); penalised");
                    let _ = net.report(peer, Misbehaviour::InvalidBlock);
                    if n == 0 {
                        failures += 1;
                    }
                }
            }
        }
        let (best, _) = self.client.best();
        if best > start_height {
            let secs = start.elapsed().as_secs_f64();
            tracing::info!(
                target: "menara",
                "sync finished at #{best} ({} blocks in {secs:.1} s, {:.1} blocks/s)",
                best - start_height,
                (best - start_height) as f64 / secs.max(1e-3)
            );
        }
        self.client.set_syncing(false);
    }
}

/// Checks and imports consecutive synced blocks starting at `first`; returns how many were
/// imported, or how many before the first bad one and why it is bad.
pub fn import_batch(
    client: &Client,
    first: u64,
    blocks: &[Vec<u8>],
) -> Result<usize, (usize, String)> {
    let mut set = validator_set(client).map_err(|e| (0, e))?;
    let mut set_raw = client.validator_set_raw();
    let chain = client.genesis_hash().0;
    for (i, raw) in blocks.iter().enumerate() {
        let expected = first + i as u64;
        let (block, justification) =
            SyncedBlock::decode_all(&mut &raw[..]).map_err(|e| (i, format!("undecodable: {e}")))?;
        let hash = block.hash();
        if block.header.number != expected {
            return Err((
                i,
                format!("expected #{expected}, got #{}", block.header.number),
            ));
        }
        let justification =
            justification.ok_or_else(|| (i, format!("#{expected} has no certificate")))?;
        let cert = QuorumCertificate::<BlsCrypto>::decode_all(&mut &justification[..])
            .map_err(|e| (i, format!("undecodable certificate: {e}")))?;
        if !certificate_matches(&cert, expected, &hash) {
            return Err((i, format!("certificate is not for #{expected} ({hash})")));
        }
        cert.verify(&chain, &set)
            .map_err(|e| (i, format!("certificate of #{expected}: {e}")))?;
        client
            .import_justified(&block, Some(&justification))
            .map_err(|e| (i, format!("#{expected}: {e}")))?;
        // An epoch boundary: later blocks are certified by the new set.
        let now = client.validator_set_raw();
        if now != set_raw {
            set = validator_set(client).map_err(|e| (i + 1, e))?;
            set_raw = now;
        }
    }
    Ok(blocks.len())
}

/// Answers a peer's block request from the database: consecutive final blocks from
/// `request.from` with their certificates, at most `max` and about `max_bytes`, and the
/// last final height.
pub fn serve_blocks(client: &Client, request: BlockRequest, max_bytes: usize) -> BlockResponse {
    let db = client.database();
    let (finalized, _) = client.finalized();
    let mut out = Vec::new();
    let mut size = 0usize;
    let last = request
        .from
        .saturating_add(u64::from(request.max))
        .min(finalized.saturating_add(1));
    for n in request.from.max(1)..last {
        let Ok(Some(hash)) = db.hash_at(n) else { break };
        let Ok(Some(block)) = db.block(&hash) else {
            break;
        };
        let justification = db.justification(&hash).ok().flatten();
        let bytes = (block, justification).encode();
        size += bytes.len();
        if size > max_bytes && !out.is_empty() {
            break;
        }
        out.push(bytes);
    }
    BlockResponse {
        blocks: out,
        head: finalized,
    }
}
