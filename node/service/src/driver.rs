//! The consensus driver: carries the pure state machine of `menara-consensus` into the
//! world. It feeds the machine network messages (checked before they are forwarded),
//! timeouts and the results of block work, and carries out its actions in order: the safety
//! record is fsynced before any later action, blocks are built, validated and committed by
//! one sequential block worker ([`crate::worker`]), messages are gossiped, equivocations are
//! reported to the runtime, and a node that falls behind syncs.
use crate::worker::{Job, Worker};
use crate::{Client, ValidatorKeys};
use menara_consensus::{
    Action, Config, Consensus, Equivocation, Event, Message, PeerTag, SafetyRecord, Timeouts,
    Validator, ValidatorSet, OWN,
};
use menara_crypto::{BlsCrypto, BlsPublicKey};
use menara_network::{Misbehaviour, NetworkHandle, PeerId, Validation};
use menara_primitives::{EquivocationProof, SignedConsensusMessage, H256};
use parity_scale_codec::{DecodeAll, Encode};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Most proposals remembered for the author check.
const MAX_TRACKED_PROPOSALS: usize = 1_024;

/// Largest consensus message accepted from the network (a proposal carries a whole block).
pub const MAX_CONSENSUS_MESSAGE: usize = 9 << 20;

/// What the driver's helpers (timers, the block worker, the sync task) report back.
#[derive(Debug)]
pub enum Input {
    /// A consensus event produced locally (timeout, validation result, built block...).
    Event(Box<Event<BlsCrypto>>),
    /// The block worker committed a block at this height (or found the chain past it).
    Committed,
    /// A sync finished; the chain may now be past the machine's height.
    Synced,
}

/// Builds the consensus validator set from the runtime's records.
pub fn validator_set(client: &Client) -> Result<ValidatorSet<BlsCrypto>, String> {
    let records = client.validators().map_err(|e| e.to_string())?;
    let mut validators = Vec::with_capacity(records.len());
    for r in records {
        let bls = BlsPublicKey::from_bytes(&r.bls_public_key)
            .map_err(|e| format!("validator {}: {e}", r.account))?;
        validators.push(Validator {
            id: r.account.0,
            bls,
            stake: r.stake,
        });
    }
    ValidatorSet::new(validators).map_err(|e| format!("validator set: {e}"))
}

/// Where the safety record lives and how it is written: a temporary file, fsynced, renamed
/// over the old one, and the directory fsynced, so a crash leaves the old or the new record,
/// never a torn one.
pub struct SafetyStore {
    path: PathBuf,
}

impl SafetyStore {
    /// A store at `path` (its directory is created on first write).
    pub fn new(path: PathBuf) -> Self {
        SafetyStore { path }
    }

    /// The record last written, or a fresh one. A record that does not decode is an error:
    /// signing from scratch could contradict what was signed before.
    pub fn load(&self) -> Result<SafetyRecord<BlsCrypto>, String> {
        match std::fs::read(&self.path) {
            Ok(bytes) => SafetyRecord::decode_all(&mut &bytes[..]).map_err(|e| {
                format!(
                    "the consensus safety record {} is corrupt ({e}); refusing to sign: \
                     restore it, or remove it only if this key never signed on this chain",
                    self.path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SafetyRecord::new()),
            Err(e) => Err(format!("reading {}: {e}", self.path.display())),
        }
    }

    /// Writes `record` durably.
    pub fn store(&self, record: &SafetyRecord<BlsCrypto>) -> std::io::Result<()> {
        use std::io::Write;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = self.path.with_extension("tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&record.encode())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        std::fs::File::open(dir)?.sync_all()
    }
}

/// Everything the driver needs.
pub struct DriverConfig {
    /// Consensus keys and account of this validator, if it is one.
    pub keys: Option<Arc<ValidatorKeys>>,
    /// Target time between blocks.
    pub block_time: Duration,
    /// The safety record's file.
    pub safety_path: PathBuf,
    /// Test-only misbehaviour: also sign a conflicting prevote for every prevote, so that
    /// end-to-end tests can watch an equivocation get reported and slashed.
    pub equivocate: bool,
}

/// Peer ids ↔ the small tags the state machine echoes in rejections.
#[derive(Default)]
struct PeerTags {
    by_peer: HashMap<PeerId, PeerTag>,
    by_tag: BTreeMap<PeerTag, PeerId>,
    next: PeerTag,
}

impl PeerTags {
    fn tag(&mut self, peer: PeerId) -> PeerTag {
        if let Some(t) = self.by_peer.get(&peer) {
            return *t;
        }
        // Never `OWN`, never reused: a late rejection cannot hit another peer.
        let t = self.next;
        self.next = self.next.saturating_add(1).min(OWN - 1);
        self.by_peer.insert(peer, t);
        self.by_tag.insert(t, peer);
        t
    }
    fn forget(&mut self, peer: &PeerId) {
        if let Some(t) = self.by_peer.remove(peer) {
            self.by_tag.remove(&t);
        }
    }
    fn peer(&self, tag: PeerTag) -> Option<PeerId> {
        self.by_tag.get(&tag).copied()
    }
}

/// The running driver.
pub struct Driver {
    client: Arc<Client>,
    network: Option<NetworkHandle>,
    keys: Option<Arc<ValidatorKeys>>,
    block_time: Duration,
    safety: SafetyStore,
    machine: Consensus<BlsCrypto>,
    /// The encoded validator set the machine runs with, to notice a new one.
    set_raw: Option<Vec<u8>>,
    inputs: mpsc::UnboundedSender<Input>,
    jobs: mpsc::UnboundedSender<Job>,
    tags: PeerTags,
    /// Set when the safety record could not be written: the node stops signing.
    halted: bool,
    equivocate: bool,
    /// Round of each proposed block seen at the current height (for the author check).
    proposed_in: BTreeMap<H256, (u64, u32)>,
}

impl Driver {
    /// Creates the machine at the block after the last final one and starts the block
    /// worker. Returns the driver and the receiver of its inputs.
    pub fn start(
        client: Arc<Client>,
        network: Option<NetworkHandle>,
        config: DriverConfig,
    ) -> Result<(Driver, mpsc::UnboundedReceiver<Input>), String> {
        let safety = SafetyStore::new(config.safety_path);
        let (inputs, inputs_rx) = mpsc::unbounded_channel();
        let jobs = Worker::spawn(
            client.clone(),
            network.clone(),
            config
                .keys
                .as_ref()
                .map(|k| (k.account_id(), k.bls.clone())),
            config.block_time,
            inputs.clone(),
        );
        let set_raw = client.validator_set_raw();
        let machine = Self::new_machine(&client, &safety, &config.keys, config.block_time)?;
        Ok((
            Driver {
                client,
                network,
                keys: config.keys,
                block_time: config.block_time,
                safety,
                machine,
                set_raw,
                inputs,
                jobs,
                tags: PeerTags::default(),
                halted: false,
                equivocate: config.equivocate,
                proposed_in: BTreeMap::new(),
            },
            inputs_rx,
        ))
    }

    fn new_machine(
        client: &Client,
        safety: &SafetyStore,
        keys: &Option<Arc<ValidatorKeys>>,
        block_time: Duration,
    ) -> Result<Consensus<BlsCrypto>, String> {
        let set = validator_set(client)?;
        let (finalized, _) = client.finalized();
        let mut config = Config::new(client.genesis_hash().0, finalized + 1);
        let block_ms = block_time.as_millis() as u64;
        config.timeouts = Timeouts {
            // The proposer waits out the block time before proposing.
            propose_ms: block_ms + 2_000,
            prevote_ms: 1_000,
            precommit_ms: 1_000,
            rebroadcast_ms: 1_000,
            max_backoff_exp: 5,
        };
        config.max_block_bytes = MAX_CONSENSUS_MESSAGE - 64 * 1024;
        let record = safety.load()?;
        let signer = keys.as_ref().map(|k| k.bls.clone());
        let machine = Consensus::new(config, set, signer, record);
        if keys.is_some() && machine.own_index().is_none() {
            tracing::warn!(target: "menara", "this node's consensus key is not in the validator set: following only");
        }
        Ok(machine)
    }

    /// A peer left: forget its tag.
    pub fn peer_disconnected(&mut self, peer: &PeerId) {
        self.tags.forget(peer);
    }

    /// Asks peers whether they are ahead and, if so, syncs.
    pub fn sync_with_peers(&self) {
        let _ = self.jobs.send(Job::Sync { to: 0 });
    }

    /// This node's index in the validator set, if it votes.
    pub fn own_index(&self) -> Option<u32> {
        self.machine.own_index()
    }

    /// Feeds the machine `event` and carries out what it asks.
    pub fn handle(&mut self, event: Event<BlsCrypto>) {
        let actions = self.machine.handle(event);
        self.carry_out(actions);
    }

    /// Handles an input from the driver's helpers.
    pub fn on_input(&mut self, input: Input) {
        match input {
            Input::Event(e) => self.handle(*e),
            Input::Committed | Input::Synced => {
                let (finalized, _) = self.client.finalized();
                let set_raw = self.client.validator_set_raw();
                let new_set = set_raw != self.set_raw;
                if finalized >= self.machine.height() || new_set {
                    // The chain moved past the machine (sync, or a commit fetched from peers),
                    // or an epoch ended with a new validator set: start over at the next
                    // height from the persisted safety record (nothing signed is forgotten).
                    match Self::new_machine(&self.client, &self.safety, &self.keys, self.block_time)
                    {
                        Ok(m) => {
                            if new_set {
                                tracing::info!(
                                    target: "menara",
                                    "validator set changed at #{finalized}: {} validators{}",
                                    m.validator_set().len(),
                                    if m.own_index().is_some() { ", this node votes" } else { "" }
                                );
                            }
                            self.machine = m;
                            self.set_raw = set_raw;
                            self.handle(Event::Start);
                        }
                        Err(e) => {
                            tracing::error!(target: "menara", "cannot restart consensus: {e}")
                        }
                    }
                }
            }
        }
    }

    /// Checks a consensus message from the network, tells gossip whether to forward it and
    /// feeds it to the machine. Signatures are checked here, before forwarding, so an
    /// invalid message never travels further than one hop.
    pub fn on_gossip(&mut self, from: PeerId, bytes: &[u8]) -> Validation {
        let message = match Message::<BlsCrypto>::decode_bounded(bytes, MAX_CONSENSUS_MESSAGE) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(target: "menara", "undecodable consensus message from {from}: {e}");
                return Validation::Reject;
            }
        };
        if message.height() < self.machine.height() {
            return Validation::Ignore;
        }
        let chain = self.client.genesis_hash().0;
        let set = self.machine.validator_set();
        let ok = match &message {
            Message::Vote(v) => v.verify(&chain, set),
            Message::Proposal(p) => p.signed.verify(&chain, set),
            Message::Certificate(c) => c.verify(&chain, set).is_ok(),
        };
        if !ok {
            tracing::debug!(target: "menara", "consensus message with a bad signature from {from}");
            return Validation::Reject;
        }
        if let Message::Proposal(p) = &message {
            let h = p.signed.header;
            self.proposed_in
                .retain(|_, (height, _)| *height >= self.machine.height());
            // Only proposals from the round's proposer, and a bounded number of them (a
            // Byzantine proposer could sign any number of blocks for its round).
            let from_proposer = set.proposer(h.height, h.round) == h.proposer;
            if from_proposer && self.proposed_in.len() < MAX_TRACKED_PROPOSALS {
                let round = self
                    .proposed_in
                    .get(&h.block_hash)
                    .map_or(h.round, |(_, r)| (*r).min(h.round));
                self.proposed_in.insert(h.block_hash, (h.height, round));
            }
        }
        let tag = self.tags.tag(from);
        self.handle(Event::Message { from: tag, message });
        Validation::Accept
    }

    fn carry_out(&mut self, actions: Vec<Action<BlsCrypto>>) {
        for action in actions {
            if self.halted {
                return;
            }
            match action {
                Action::PersistSafety(record) => {
                    if let Err(e) = self.safety.store(&record) {
                        // Without a durable record the next signature could contradict one
                        // made before a crash: stop signing, keep following.
                        tracing::error!(target: "menara", "cannot persist the consensus safety record: {e}; this validator stops voting");
                        self.halted = true;
                    }
                }
                Action::Broadcast(message) => {
                    if self.equivocate {
                        self.broadcast_conflicting(&message);
                    }
                    if let Some(net) = &self.network {
                        let net = net.clone();
                        let bytes = message.encode();
                        tokio::spawn(async move {
                            if let Err(e) = net.publish_consensus(bytes).await {
                                tracing::trace!(target: "menara", "gossip: {e}");
                            }
                        });
                    }
                }
                Action::ScheduleTimeout {
                    height,
                    round,
                    step,
                    duration_ms,
                } => {
                    let inputs = self.inputs.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(duration_ms)).await;
                        let _ = inputs.send(Input::Event(Box::new(Event::Timeout {
                            height,
                            round,
                            step,
                        })));
                    });
                }
                Action::RequestProposal { height, round } => {
                    // The worker paces it: after the parent's commit, one block time after
                    // the parent's timestamp.
                    let _ = self.jobs.send(Job::Build { height, round });
                }
                Action::RequestBlock { height, block_hash } => {
                    let _ = self.jobs.send(Job::Fetch { height, block_hash });
                }
                Action::ValidateBlock {
                    height,
                    block_hash,
                    block,
                } => {
                    // The header's author must be the proposer of this round or of an earlier
                    // one at this height (a locked block re-proposed keeps its author), so
                    // authorship, which measures liveness, cannot be handed to someone else.
                    let set = self.machine.validator_set();
                    let allowed_authors = self.proposed_in.get(&block_hash).map(|(_, round)| {
                        let mut ids: Vec<menara_primitives::AccountId> = (0..=*round)
                            .filter_map(|r| set.get(set.proposer(height, r)))
                            .map(|v| menara_primitives::AccountId(v.id))
                            .collect();
                        ids.sort();
                        ids.dedup();
                        ids
                    });
                    let _ = self.jobs.send(Job::Validate {
                        height,
                        block_hash,
                        block,
                        allowed_authors,
                    });
                }
                Action::Commit {
                    height,
                    block_hash,
                    block,
                    certificate,
                } => {
                    tracing::debug!(target: "menara", "commit #{height} ({block_hash}) in round {}", certificate.round);
                    let _ = self.jobs.send(Job::Commit {
                        height,
                        block_hash,
                        block,
                        justification: certificate.encode(),
                    });
                }
                Action::Evidence(e) => self.report_equivocation(e),
                Action::RequestSync { from, to } => {
                    tracing::info!(target: "menara", "peers are at #{to}, this node decides #{from}: syncing");
                    let _ = self.jobs.send(Job::Sync { to });
                }
                Action::Rejected { from, reason } => {
                    tracing::debug!(target: "menara", "consensus input refused: {reason}");
                    if let (Some(net), Some(peer)) = (&self.network, self.tags.peer(from)) {
                        let _ = net.report(peer, Misbehaviour::InvalidMessage);
                    }
                }
            }
        }
    }

    /// Test-only misbehaviour: a second, conflicting prevote, bypassing the safety record.
    fn broadcast_conflicting(&self, message: &Message<BlsCrypto>) {
        let (Message::Vote(sv), Some(keys), Some(net)) = (message, &self.keys, &self.network)
        else {
            return;
        };
        if sv.vote.kind != menara_consensus::VoteKind::Prevote || sv.vote.block.is_none() {
            return;
        }
        let mut vote = sv.vote;
        vote.block = Some(H256([0xEE; 32]));
        let conflicting = menara_consensus::SignedVote::<BlsCrypto>::sign(
            &self.client.genesis_hash().0,
            vote,
            &keys.bls,
        );
        tracing::warn!(target: "menara", "test misbehaviour: signing a conflicting prevote at #{} round {}", vote.height, vote.round);
        let net = net.clone();
        let bytes = Message::Vote(conflicting).encode();
        tokio::spawn(async move {
            let _ = net.publish_consensus(bytes).await;
        });
    }

    /// Turns an equivocation into a transaction of the offences pallet, signed by this
    /// validator's account, so the runtime records it for slashing.
    fn report_equivocation(&self, e: Equivocation<BlsCrypto>) {
        let chain = self.client.genesis_hash().0;
        let Some(offender) = self.machine.validator_set().get(e.offender()) else {
            return;
        };
        let (first, second) = match &e {
            Equivocation::Votes { a, b } => (
                (a.vote.signing_bytes(&chain), a.signature.to_bytes()),
                (b.vote.signing_bytes(&chain), b.signature.to_bytes()),
            ),
            Equivocation::Proposals { a, b } => (
                (a.header.signing_bytes(&chain), a.signature.to_bytes()),
                (b.header.signing_bytes(&chain), b.signature.to_bytes()),
            ),
        };
        let proof = EquivocationProof {
            offender: offender.bls.to_bytes(),
            first: SignedConsensusMessage {
                signing_bytes: first.0,
                signature: first.1,
            },
            second: SignedConsensusMessage {
                signing_bytes: second.0,
                signature: second.1,
            },
        };
        tracing::warn!(target: "menara", "validator {} equivocated at #{} round {}", menara_primitives::AccountId(offender.id), e.height(), e.round());
        let Some(keys) = &self.keys else { return };
        let client = self.client.clone();
        let keys = keys.clone();
        tokio::task::spawn_blocking(move || match client.report_equivocation(&keys, proof) {
            Ok(hash) => {
                tracing::info!(target: "menara", "equivocation reported in transaction {hash}")
            }
            Err(e) => tracing::warn!(target: "menara", "reporting the equivocation failed: {e}"),
        });
    }
}

/// A block as sync serves it: the block and its commit certificate.
pub type SyncedBlock = (menara_primitives::Block, Option<Vec<u8>>);

/// Whether `hash` is the hash the certificate commits at `height`.
pub fn certificate_matches(
    cert: &menara_consensus::QuorumCertificate<BlsCrypto>,
    height: u64,
    hash: &H256,
) -> bool {
    cert.kind == menara_consensus::VoteKind::Precommit
        && cert.height == height
        && cert.block_hash == *hash
}
