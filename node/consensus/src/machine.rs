//! The consensus state machine (Tendermint, "The latest gossip on BFT consensus",
//! Buchman, Kwon, Milosevic 2018, Algorithm 1), driven by [`Event`]s, answering with
//! [`Action`]s. Comments `L22` etc. name the lines of the paper's algorithm.
use crate::cert::{CertError, QuorumCertificate};
use crate::evidence::Equivocation;
use crate::safety::{SafetyRecord, SignedStep, KEPT_ROUNDS};
use crate::types::{
    vote_signing_bytes, ChainId, Height, Message, Proposal, ProposalHeader, Round,
    SignedProposalHeader, SignedVote, ValidatorIndex, Vote, VoteKind,
};
use crate::validators::ValidatorSet;
use menara_crypto::{BlsCrypto, VoteCrypto};
use menara_primitives::H256;
use std::collections::{BTreeMap, BTreeSet};

/// Opaque tag of the peer a message came from, echoed in [`Action::Rejected`] so the driver
/// can penalise it.
pub type PeerTag = u64;

/// Tag used for this node's own votes.
pub const OWN: PeerTag = u64::MAX;

/// Base timeouts in milliseconds of logical time; each doubles per round up to
/// `2^max_backoff_exp` times the base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Wait for a proposal.
    pub propose_ms: u64,
    /// Wait for more prevotes after a quorum of any prevotes.
    pub prevote_ms: u64,
    /// Wait for more precommits after a quorum of any precommits.
    pub precommit_ms: u64,
    /// Re-send this round's own messages (and the last commit) while stuck, so that progress
    /// resumes after message loss without a reliable gossip layer.
    pub rebroadcast_ms: u64,
    /// Cap of the exponent of the backoff.
    pub max_backoff_exp: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            propose_ms: 1_000,
            prevote_ms: 500,
            precommit_ms: 500,
            rebroadcast_ms: 1_000,
            max_backoff_exp: 6,
        }
    }
}

/// Configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Genesis hash: every signature covers it.
    pub chain_id: ChainId,
    /// The height to decide next (last finalised height + 1).
    pub start_height: Height,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Largest block accepted in a proposal.
    pub max_block_bytes: usize,
    /// Messages for rounds further ahead than this are refused.
    pub max_rounds_ahead: u32,
    /// Messages for heights further ahead than this are refused (nearer ones ask for sync).
    pub max_future_heights: u64,
    /// Messages for the next height kept until this node gets there.
    pub max_buffered: usize,
}

impl Config {
    /// A configuration with defaults for everything but the chain and start height.
    pub fn new(chain_id: ChainId, start_height: Height) -> Self {
        Config {
            chain_id,
            start_height,
            timeouts: Timeouts::default(),
            max_block_bytes: 8 << 20,
            max_rounds_ahead: 100,
            max_future_heights: 1_000_000,
            max_buffered: 1_024,
        }
    }
}

/// Which timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeoutStep {
    /// No proposal in time: prevote nil.
    Propose,
    /// No prevote quorum for one value: precommit nil.
    Prevote,
    /// No commit in this round: next round.
    Precommit,
    /// Still in this round: re-send own messages.
    Rebroadcast,
}

/// Input of the state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<C: VoteCrypto = BlsCrypto> {
    /// Start (also implied by the first other event).
    Start,
    /// A message from the network (already decoded, e.g. by [`Message::decode_bounded`]).
    Message {
        /// Who sent it.
        from: PeerTag,
        /// The message.
        message: Message<C>,
    },
    /// A timeout scheduled by [`Action::ScheduleTimeout`] expired.
    Timeout {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
        /// Which.
        step: TimeoutStep,
    },
    /// Answer to [`Action::ValidateBlock`].
    BlockValidated {
        /// Height.
        height: Height,
        /// Block.
        block_hash: H256,
        /// Whether the block executes correctly on the committed parent.
        valid: bool,
    },
    /// Answer to [`Action::RequestBlock`].
    BlockFetched {
        /// Height.
        height: Height,
        /// Hash of the block.
        block_hash: H256,
        /// The block.
        block: Vec<u8>,
    },
    /// Answer to [`Action::RequestProposal`]: a block this node built.
    ProposalBlock {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
        /// Hash of the block.
        block_hash: H256,
        /// The block.
        block: Vec<u8>,
    },
}

/// Why input was refused (the driver may penalise the peer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// Signed by an index outside the validator set.
    #[error("not a validator")]
    UnknownValidator,
    /// A signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// A proposal from someone who is not the proposer of its round.
    #[error("proposal from a validator that is not the proposer")]
    NotProposer,
    /// Round too far ahead.
    #[error("round too far ahead")]
    RoundTooFar,
    /// Height too far ahead.
    #[error("height too far ahead")]
    FutureHeight,
    /// Proposal whose valid round is not below its round.
    #[error("proposal with a bad valid round")]
    BadValidRound,
    /// Block over the size limit.
    #[error("block too large")]
    BlockTooLarge,
    /// A certificate that does not verify or does not fit.
    #[error("bad certificate: {0}")]
    BadCertificate(CertError),
}

/// Output of the state machine, to be carried out in order. In particular a
/// [`Action::PersistSafety`] must be durable (fsynced) before any later action is carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<C: VoteCrypto = BlsCrypto> {
    /// Write the safety record durably before carrying out the next action.
    PersistSafety(SafetyRecord<C>),
    /// Send to all validators (gossip).
    Broadcast(Message<C>),
    /// Deliver [`Event::Timeout`] after `duration_ms`.
    ScheduleTimeout {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
        /// Which.
        step: TimeoutStep,
        /// Delay in milliseconds.
        duration_ms: u64,
    },
    /// This node proposes: build a block on the last committed one and answer with
    /// [`Event::ProposalBlock`].
    RequestProposal {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
    },
    /// This node must re-propose the block it is locked on but lost its bytes (restart):
    /// fetch it (local store or peers) and answer with [`Event::BlockFetched`].
    RequestBlock {
        /// Height.
        height: Height,
        /// Block.
        block_hash: H256,
    },
    /// Execute a proposed block and answer with [`Event::BlockValidated`].
    ValidateBlock {
        /// Height.
        height: Height,
        /// Hash claimed by the proposal (check it).
        block_hash: H256,
        /// The block.
        block: Vec<u8>,
    },
    /// The block is final. `block` is `None` when this node never saw it (it committed by
    /// certificate): fetch it by hash from peers.
    Commit {
        /// Height.
        height: Height,
        /// Block.
        block_hash: H256,
        /// The block, when known.
        block: Option<Vec<u8>>,
        /// The commit certificate to store with it.
        certificate: QuorumCertificate<C>,
    },
    /// A validator equivocated; include it in a block for slashing.
    Evidence(Equivocation<C>),
    /// Peers are ahead: fetch blocks with their commit certificates from `from` up to `to`
    /// and feed the certificates back as [`Message::Certificate`] in height order.
    RequestSync {
        /// First height missing.
        from: Height,
        /// Height seen.
        to: Height,
    },
    /// Input refused.
    Rejected {
        /// Who sent it.
        from: PeerTag,
        /// Why.
        reason: Reject,
    },
}

/// The step within a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// Waiting for a proposal.
    Propose,
    /// Prevoted.
    Prevote,
    /// Precommitted.
    Precommit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Validity {
    Pending,
    Valid,
    Invalid,
}

#[derive(Clone, Debug)]
struct BlockEntry {
    bytes: Vec<u8>,
    validity: Validity,
}

#[derive(Clone, Debug)]
struct VoteEntry<C: VoteCrypto> {
    vote: SignedVote<C>,
    verified: bool,
    from: PeerTag,
}

#[derive(Clone, Copy, Debug)]
enum Filter {
    Any,
    Value(Option<H256>),
}

impl Filter {
    fn matches(&self, v: &Option<H256>) -> bool {
        match self {
            Filter::Any => true,
            Filter::Value(x) => x == v,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Threshold {
    Quorum,
    OneThird,
}

const FIRED_PREVOTE_TIMEOUT: u8 = 0;
const FIRED_LOCK: u8 = 1;
const FIRED_PRECOMMIT_TIMEOUT: u8 = 2;

/// The consensus state machine of one node. Pure: no clock, no I/O, no randomness.
#[derive(Debug)]
pub struct Consensus<C: VoteCrypto = BlsCrypto> {
    cfg: Config,
    set: ValidatorSet<C>,
    signer: Option<(ValidatorIndex, C::SecretKey)>,
    safety: SafetyRecord<C>,
    started: bool,
    height: Height,
    round: Round,
    step: Step,
    locked: Option<(Round, H256)>,
    lock_pol: Option<QuorumCertificate<C>>,
    valid: Option<(Round, H256)>,
    valid_pol: Option<QuorumCertificate<C>>,
    blocks: BTreeMap<H256, BlockEntry>,
    proposals: BTreeMap<Round, SignedProposalHeader<C>>,
    polkas: BTreeMap<(Round, H256), QuorumCertificate<C>>,
    votes: BTreeMap<(Round, VoteKind), BTreeMap<ValidatorIndex, VoteEntry<C>>>,
    reported: BTreeSet<(ValidatorIndex, Round)>,
    fired: BTreeSet<(Round, u8)>,
    own: BTreeMap<Round, Vec<Message<C>>>,
    last_commit: Option<QuorumCertificate<C>>,
    future: Vec<(PeerTag, Message<C>)>,
    sync_requested_to: Height,
}

impl<C: VoteCrypto> Consensus<C> {
    /// A state machine at `config.start_height`. `signer` is this node's consensus key (a
    /// node whose key is not in the set, or without a key, only follows). `safety` is the
    /// record last persisted (or [`SafetyRecord::new`]); nothing conflicting with it is ever
    /// signed.
    pub fn new(
        config: Config,
        validator_set: ValidatorSet<C>,
        signer: Option<C::SecretKey>,
        safety: SafetyRecord<C>,
    ) -> Self {
        let signer = signer.and_then(|sk| {
            let pk = C::public(&sk);
            validator_set
                .validators()
                .iter()
                .position(|v| v.bls == pk)
                .and_then(|i| u32::try_from(i).ok())
                .map(|i| (i, sk))
        });
        let height = config.start_height;
        let (round, locked, lock_pol) = if safety.height == height {
            (safety.round, safety.locked, safety.lock_certificate.clone())
        } else {
            (0, None, None)
        };
        // A locked validator keeps the lock as its valid value (validRound >= lockedRound).
        let (valid, valid_pol) = match (&locked, &lock_pol) {
            (Some(l), Some(c)) => (Some(*l), Some(c.clone())),
            _ => (None, None),
        };
        Consensus {
            cfg: config,
            set: validator_set,
            signer,
            safety,
            started: false,
            height,
            round,
            step: Step::Propose,
            locked,
            lock_pol,
            valid,
            valid_pol,
            blocks: BTreeMap::new(),
            proposals: BTreeMap::new(),
            polkas: BTreeMap::new(),
            votes: BTreeMap::new(),
            reported: BTreeSet::new(),
            fired: BTreeSet::new(),
            own: BTreeMap::new(),
            last_commit: None,
            future: Vec::new(),
            sync_requested_to: 0,
        }
    }

    /// Height being decided.
    pub fn height(&self) -> Height {
        self.height
    }
    /// Current round.
    pub fn round(&self) -> Round {
        self.round
    }
    /// Current step.
    pub fn step(&self) -> Step {
        self.step
    }
    /// Current lock (round, block).
    pub fn locked(&self) -> Option<(Round, H256)> {
        self.locked
    }
    /// The validator set.
    pub fn validator_set(&self) -> &ValidatorSet<C> {
        &self.set
    }
    /// This node's index, if it is a validator.
    pub fn own_index(&self) -> Option<ValidatorIndex> {
        self.signer.as_ref().map(|s| s.0)
    }
    /// The safety record as last emitted.
    pub fn safety_record(&self) -> &SafetyRecord<C> {
        &self.safety
    }
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// A one-line-per-round description of the state, for logs and debugging.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "h={} r={} step={:?} locked={:?} valid={:?} proposals={:?}\n",
            self.height,
            self.round,
            self.step,
            self.locked.map(|(r, b)| (r, b.0[0])),
            self.valid.map(|(r, b)| (r, b.0[0])),
            self.proposals
                .iter()
                .map(|(r, p)| (*r, p.header.block_hash.0[0]))
                .collect::<Vec<_>>()
        );
        for ((r, k), book) in &self.votes {
            let entries: Vec<String> = book
                .iter()
                .map(|(i, e)| {
                    format!(
                        "{i}:{}{}",
                        e.vote
                            .vote
                            .block
                            .map_or("nil".into(), |b| format!("{:02x}", b.0[0])),
                        if e.verified { "" } else { "?" }
                    )
                })
                .collect();
            s.push_str(&format!("  r{r} {k:?}: {}\n", entries.join(" ")));
        }
        s
    }

    /// Feeds one event; returns the actions to carry out, in order.
    pub fn handle(&mut self, event: Event<C>) -> Vec<Action<C>> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            self.start_round(self.round, &mut out);
            self.restore(&mut out);
        }
        match event {
            Event::Start => {}
            Event::Message { from, message } => self.on_message(from, message, &mut out),
            Event::Timeout {
                height,
                round,
                step,
            } => self.on_timeout(height, round, step, &mut out),
            Event::BlockValidated {
                height,
                block_hash,
                valid,
            } => {
                if height == self.height {
                    if let Some(b) = self.blocks.get_mut(&block_hash) {
                        if b.validity == Validity::Pending {
                            b.validity = if valid {
                                Validity::Valid
                            } else {
                                Validity::Invalid
                            };
                        }
                    }
                }
            }
            Event::BlockFetched {
                height,
                block_hash,
                block,
            } => {
                // Only the block this node is locked on (hence validated before the restart).
                if let Some((vr, v)) = self.valid {
                    if height == self.height && v == block_hash && !self.blocks.contains_key(&v) {
                        let entry = BlockEntry {
                            bytes: block,
                            validity: Validity::Valid,
                        };
                        self.blocks.insert(v, entry);
                        if self.step == Step::Propose
                            && self.is_proposer(self.round)
                            && !self.proposals.contains_key(&self.round)
                        {
                            self.send_proposal(v, Some(vr), &mut out);
                        }
                    }
                }
            }
            Event::ProposalBlock {
                height,
                round,
                block_hash,
                block,
            } => {
                if height == self.height
                    && round == self.round
                    && self.step == Step::Propose
                    && self.is_proposer(round)
                    && !self.proposals.contains_key(&round)
                {
                    self.blocks.insert(
                        block_hash,
                        BlockEntry {
                            bytes: block,
                            validity: Validity::Valid,
                        },
                    );
                    self.send_proposal(block_hash, None, &mut out);
                }
            }
        }
        self.progress(&mut out);
        out
    }

    /// After a restart in the middle of a round: do not step back, re-send this round's votes.
    fn restore(&mut self, out: &mut Vec<Action<C>>) {
        if self.safety.height != self.height || self.safety.round != self.round {
            return;
        }
        self.step = match self.safety.step {
            SignedStep::Prevote => Step::Prevote,
            SignedStep::Precommit => Step::Precommit,
            _ => Step::Propose,
        };
        for sv in self.safety.votes.clone() {
            if sv.vote.height == self.height {
                self.insert_own_vote(sv.clone());
                let m = Message::Vote(sv.clone());
                self.own.entry(sv.vote.round).or_default().push(m.clone());
                out.push(Action::Broadcast(m));
            }
        }
    }

    fn is_proposer(&self, round: Round) -> bool {
        self.signer
            .as_ref()
            .is_some_and(|(i, _)| *i == self.set.proposer(self.height, round))
    }

    fn backoff(&self, base: u64, round: Round) -> u64 {
        let exp = round.min(self.cfg.timeouts.max_backoff_exp).min(32);
        base.saturating_mul(1u64 << exp)
    }

    fn schedule(&self, step: TimeoutStep, out: &mut Vec<Action<C>>) {
        let t = &self.cfg.timeouts;
        let base = match step {
            TimeoutStep::Propose => t.propose_ms,
            TimeoutStep::Prevote => t.prevote_ms,
            TimeoutStep::Precommit => t.precommit_ms,
            TimeoutStep::Rebroadcast => t.rebroadcast_ms,
        };
        out.push(Action::ScheduleTimeout {
            height: self.height,
            round: self.round,
            step,
            duration_ms: self.backoff(base, self.round),
        });
    }

    /// StartRound (L11).
    fn start_round(&mut self, round: Round, out: &mut Vec<Action<C>>) {
        self.round = round;
        self.step = Step::Propose;
        // Keep own messages of recent rounds: validators still there may need them.
        self.own
            .retain(|r, _| r.saturating_add(KEPT_ROUNDS) > round);
        self.schedule(TimeoutStep::Propose, out);
        self.schedule(TimeoutStep::Rebroadcast, out);
        if self.is_proposer(round) {
            if let (Some((vr, v)), Some(_)) = (self.valid, &self.valid_pol) {
                if self.blocks.contains_key(&v) {
                    self.send_proposal(v, Some(vr), out);
                } else {
                    out.push(Action::RequestBlock {
                        height: self.height,
                        block_hash: v,
                    });
                }
                return;
            }
            out.push(Action::RequestProposal {
                height: self.height,
                round,
            });
        }
    }

    fn send_proposal(
        &mut self,
        block_hash: H256,
        valid_round: Option<Round>,
        out: &mut Vec<Action<C>>,
    ) {
        let Some((idx, sk)) = self.signer.as_ref() else {
            return;
        };
        let Some(block) = self.blocks.get(&block_hash).map(|b| b.bytes.clone()) else {
            return;
        };
        let header = ProposalHeader {
            height: self.height,
            round: self.round,
            block_hash,
            valid_round,
            proposer: *idx,
        };
        let bytes = header.signing_bytes(&self.cfg.chain_id);
        if !self
            .safety
            .may_sign(self.height, self.round, SignedStep::Proposal, &bytes)
        {
            return;
        }
        let signed = SignedProposalHeader::<C>::sign(&self.cfg.chain_id, header, sk);
        self.safety
            .record(self.height, self.round, SignedStep::Proposal, &bytes);
        self.safety.locked = self.locked;
        self.safety.lock_certificate = self.lock_pol.clone();
        out.push(Action::PersistSafety(self.safety.clone()));
        self.proposals.insert(self.round, signed.clone());
        let pol = if valid_round.is_some() {
            self.valid_pol.clone()
        } else {
            None
        };
        let m = Message::Proposal(Proposal {
            signed,
            block,
            pol,
            parent_commit: self.last_commit.clone(),
        });
        self.own.entry(self.round).or_default().push(m.clone());
        out.push(Action::Broadcast(m));
    }

    fn insert_own_vote(&mut self, sv: SignedVote<C>) {
        let key = (sv.vote.round, sv.vote.kind);
        self.votes
            .entry(key)
            .or_default()
            .entry(sv.vote.validator)
            .or_insert(VoteEntry {
                vote: sv,
                verified: true,
                from: OWN,
            });
    }

    /// Signs and sends a vote, persisting the safety record first. Returns whether it did.
    fn vote(&mut self, kind: VoteKind, block: Option<H256>, out: &mut Vec<Action<C>>) -> bool {
        let Some((idx, sk)) = self.signer.as_ref() else {
            return false;
        };
        let vote = Vote {
            height: self.height,
            round: self.round,
            kind,
            block,
            validator: *idx,
        };
        let step = match kind {
            VoteKind::Prevote => SignedStep::Prevote,
            VoteKind::Precommit => SignedStep::Precommit,
        };
        let bytes = vote.signing_bytes(&self.cfg.chain_id);
        if !self.safety.may_sign(self.height, self.round, step, &bytes) {
            return false;
        }
        let sv = SignedVote::<C>::sign(&self.cfg.chain_id, vote, sk);
        self.safety.record(self.height, self.round, step, &bytes);
        self.safety.locked = self.locked;
        self.safety.lock_certificate = self.lock_pol.clone();
        self.safety.votes.push(sv.clone());
        out.push(Action::PersistSafety(self.safety.clone()));
        self.insert_own_vote(sv.clone());
        let m = Message::Vote(sv);
        self.own.entry(self.round).or_default().push(m.clone());
        out.push(Action::Broadcast(m));
        true
    }

    fn prevote(&mut self, block: Option<H256>, out: &mut Vec<Action<C>>) {
        self.vote(VoteKind::Prevote, block, out);
        self.step = Step::Prevote;
    }

    fn precommit(&mut self, block: Option<H256>, out: &mut Vec<Action<C>>) {
        self.vote(VoteKind::Precommit, block, out);
        self.step = Step::Precommit;
    }

    fn reject(out: &mut Vec<Action<C>>, from: PeerTag, reason: Reject) {
        out.push(Action::Rejected { from, reason });
    }

    fn on_timeout(
        &mut self,
        height: Height,
        round: Round,
        step: TimeoutStep,
        out: &mut Vec<Action<C>>,
    ) {
        if height != self.height || round != self.round {
            return;
        }
        match step {
            // L57
            TimeoutStep::Propose => {
                if self.step == Step::Propose {
                    self.prevote(None, out);
                }
            }
            // L61
            TimeoutStep::Prevote => {
                if self.step == Step::Prevote {
                    self.precommit(None, out);
                }
            }
            // L65
            TimeoutStep::Precommit => self.start_round(round.saturating_add(1), out),
            TimeoutStep::Rebroadcast => {
                for m in self.own.values().flatten() {
                    out.push(Action::Broadcast(m.clone()));
                }
                if let Some(c) = &self.last_commit {
                    out.push(Action::Broadcast(Message::Certificate(c.clone())));
                }
                // Allow a new sync request if peers are still ahead.
                self.sync_requested_to = self.height;
                self.schedule(TimeoutStep::Rebroadcast, out);
            }
        }
    }

    fn on_message(&mut self, from: PeerTag, message: Message<C>, out: &mut Vec<Action<C>>) {
        let h = message.height();
        if h < self.height {
            return; // stale: that height is decided
        }
        if h > self.height {
            if h == self.height.saturating_add(1) {
                if let Message::Proposal(p) = &message {
                    if let Some(c) = &p.parent_commit {
                        if c.height == self.height {
                            let c = c.clone();
                            self.on_certificate(from, c, out);
                        }
                    }
                }
                if h != self.height {
                    if self.future.len() < self.cfg.max_buffered {
                        self.future.push((from, message));
                    }
                    return;
                }
            } else {
                self.future_hint(from, &message, out);
                return;
            }
        }
        match message {
            Message::Proposal(p) => self.on_proposal(from, p, out),
            Message::Vote(v) => self.on_vote(from, v, out),
            Message::Certificate(c) => self.on_certificate(from, c, out),
        }
    }

    fn future_hint(&mut self, from: PeerTag, m: &Message<C>, out: &mut Vec<Action<C>>) {
        let h = m.height();
        if h > self.height.saturating_add(self.cfg.max_future_heights) {
            return Self::reject(out, from, Reject::FutureHeight);
        }
        if h <= self.sync_requested_to {
            return;
        }
        // Only signed input from validators may trigger a sync (the validator set is taken
        // to be the current one; it changes only at epochs).
        let chain = &self.cfg.chain_id;
        let ok = match m {
            Message::Vote(v) => v.verify(chain, &self.set),
            Message::Proposal(p) => p.signed.verify(chain, &self.set),
            Message::Certificate(c) => c.verify(chain, &self.set).is_ok(),
        };
        if !ok {
            return Self::reject(out, from, Reject::BadSignature);
        }
        self.sync_requested_to = h;
        out.push(Action::RequestSync {
            from: self.height,
            to: h,
        });
    }

    fn report(&mut self, e: Equivocation<C>, out: &mut Vec<Action<C>>) {
        if self.reported.insert((e.offender(), e.round())) {
            tracing::warn!(
                offender = e.offender(),
                height = e.height(),
                round = e.round(),
                "equivocation"
            );
            out.push(Action::Evidence(e));
        }
    }

    fn on_vote(&mut self, from: PeerTag, sv: SignedVote<C>, out: &mut Vec<Action<C>>) {
        let v = sv.vote;
        if self.set.get(v.validator).is_none() {
            return Self::reject(out, from, Reject::UnknownValidator);
        }
        if v.round > self.round.saturating_add(self.cfg.max_rounds_ahead) {
            return Self::reject(out, from, Reject::RoundTooFar);
        }
        let chain = self.cfg.chain_id;
        let book = self.votes.entry((v.round, v.kind)).or_default();
        let Some(existing) = book.get(&v.validator).cloned() else {
            book.insert(
                v.validator,
                VoteEntry {
                    vote: sv,
                    verified: false,
                    from,
                },
            );
            return;
        };
        if existing.vote == sv {
            return; // duplicate
        }
        // A second, different vote: check both signatures individually.
        if !sv.verify(&chain, &self.set) {
            return Self::reject(out, from, Reject::BadSignature);
        }
        let old_ok = existing.verified || existing.vote.verify(&chain, &self.set);
        let book = self.votes.entry((v.round, v.kind)).or_default();
        if !old_ok {
            book.insert(
                v.validator,
                VoteEntry {
                    vote: sv,
                    verified: true,
                    from,
                },
            );
            return Self::reject(out, existing.from, Reject::BadSignature);
        }
        if let Some(e) = book.get_mut(&v.validator) {
            e.verified = true;
        }
        if existing.vote.vote.block != v.block {
            self.report(
                Equivocation::Votes {
                    a: existing.vote,
                    b: sv,
                },
                out,
            );
        }
    }

    fn on_proposal(&mut self, from: PeerTag, p: Proposal<C>, out: &mut Vec<Action<C>>) {
        let hd = p.signed.header;
        let chain = self.cfg.chain_id;
        if self.set.get(hd.proposer).is_none() {
            return Self::reject(out, from, Reject::UnknownValidator);
        }
        if hd.proposer != self.set.proposer(hd.height, hd.round) {
            return Self::reject(out, from, Reject::NotProposer);
        }
        if hd.round > self.round.saturating_add(self.cfg.max_rounds_ahead) {
            return Self::reject(out, from, Reject::RoundTooFar);
        }
        if p.block.len() > self.cfg.max_block_bytes {
            return Self::reject(out, from, Reject::BlockTooLarge);
        }
        if hd.valid_round.is_some_and(|vr| vr >= hd.round) {
            return Self::reject(out, from, Reject::BadValidRound);
        }
        if let Some(existing) = self.proposals.get(&hd.round) {
            if *existing == p.signed {
                return; // duplicate
            }
            if !p.signed.verify(&chain, &self.set) {
                return Self::reject(out, from, Reject::BadSignature);
            }
            let a = existing.clone();
            return self.report(Equivocation::Proposals { a, b: p.signed }, out);
        }
        if !p.signed.verify(&chain, &self.set) {
            return Self::reject(out, from, Reject::BadSignature);
        }
        if let Some(pol) = &p.pol {
            if pol.kind != VoteKind::Prevote
                || pol.height != hd.height
                || Some(pol.round) != hd.valid_round
                || pol.block_hash != hd.block_hash
            {
                return Self::reject(out, from, Reject::BadCertificate(CertError::Unexpected));
            }
            if !self.polkas.contains_key(&(pol.round, pol.block_hash)) {
                if let Err(e) = pol.verify(&chain, &self.set) {
                    return Self::reject(out, from, Reject::BadCertificate(e));
                }
                self.polkas.insert((pol.round, pol.block_hash), pol.clone());
            }
        }
        self.proposals.insert(hd.round, p.signed);
        if !self.blocks.contains_key(&hd.block_hash) {
            out.push(Action::ValidateBlock {
                height: self.height,
                block_hash: hd.block_hash,
                block: p.block.clone(),
            });
            self.blocks.insert(
                hd.block_hash,
                BlockEntry {
                    bytes: p.block,
                    validity: Validity::Pending,
                },
            );
        }
    }

    fn on_certificate(&mut self, from: PeerTag, c: QuorumCertificate<C>, out: &mut Vec<Action<C>>) {
        let chain = self.cfg.chain_id;
        match c.kind {
            VoteKind::Precommit => {
                if let Err(e) = c.verify(&chain, &self.set) {
                    return Self::reject(out, from, Reject::BadCertificate(e));
                }
                self.commit(c, out);
            }
            VoteKind::Prevote => {
                if c.round > self.round.saturating_add(self.cfg.max_rounds_ahead) {
                    return Self::reject(out, from, Reject::RoundTooFar);
                }
                if self.polkas.contains_key(&(c.round, c.block_hash)) {
                    return;
                }
                if let Err(e) = c.verify(&chain, &self.set) {
                    return Self::reject(out, from, Reject::BadCertificate(e));
                }
                self.polkas.insert((c.round, c.block_hash), c);
            }
        }
    }

    /// Decide (L49): emit the commit, move to the next height, replay buffered messages.
    fn commit(&mut self, cert: QuorumCertificate<C>, out: &mut Vec<Action<C>>) {
        let block = self.blocks.get(&cert.block_hash).map(|b| b.bytes.clone());
        tracing::debug!(height = self.height, round = cert.round, "commit");
        out.push(Action::Commit {
            height: self.height,
            block_hash: cert.block_hash,
            block,
            certificate: cert.clone(),
        });
        self.last_commit = Some(cert);
        self.height = self.height.saturating_add(1);
        self.locked = None;
        self.lock_pol = None;
        self.valid = None;
        self.valid_pol = None;
        self.blocks.clear();
        self.proposals.clear();
        self.polkas.clear();
        self.votes.clear();
        self.reported.clear();
        self.fired.clear();
        self.own.clear();
        self.start_round(0, out);
        let buffered = std::mem::take(&mut self.future);
        for (from, m) in buffered {
            self.on_message(from, m, out);
        }
    }

    // ---- tallies -------------------------------------------------------------------------

    fn met(&self, t: Threshold, stake: u128) -> bool {
        match t {
            Threshold::Quorum => self.set.is_quorum(stake),
            Threshold::OneThird => self.set.is_one_third(stake),
        }
    }

    fn stake_of(&self, round: Round, kind: VoteKind, f: Filter, verified_only: bool) -> u128 {
        self.votes.get(&(round, kind)).map_or(0, |book| {
            book.values()
                .filter(|e| (!verified_only || e.verified) && f.matches(&e.vote.vote.block))
                .map(|e| self.set.stake(e.vote.vote.validator))
                .sum()
        })
    }

    /// Verifies the pending votes that match `f`: one aggregate check per block value; only
    /// if that fails, each vote alone, dropping (and reporting) the bad ones.
    fn verify_pending(
        &mut self,
        round: Round,
        kind: VoteKind,
        f: Filter,
        out: &mut Vec<Action<C>>,
    ) {
        let Some(book) = self.votes.get(&(round, kind)) else {
            return;
        };
        type Group<C> = Vec<(
            ValidatorIndex,
            <C as VoteCrypto>::PublicKey,
            <C as VoteCrypto>::Signature,
        )>;
        let mut groups: BTreeMap<Option<H256>, Group<C>> = BTreeMap::new();
        for (i, e) in book {
            if !e.verified && f.matches(&e.vote.vote.block) {
                if let Some(v) = self.set.get(*i) {
                    groups.entry(e.vote.vote.block).or_default().push((
                        *i,
                        v.bls.clone(),
                        e.vote.signature.clone(),
                    ));
                }
            }
        }
        for (value, group) in groups {
            let bytes = vote_signing_bytes(&self.cfg.chain_id, self.height, round, kind, &value);
            let pks: Vec<&C::PublicKey> = group.iter().map(|g| &g.1).collect();
            let sigs: Vec<&C::Signature> = group.iter().map(|g| &g.2).collect();
            // One aggregate check for the whole group ...
            let all_ok = match C::aggregate(&sigs) {
                Some(agg) => C::verify_aggregate(&pks, &bytes, &agg),
                None => false,
            };
            let Some(book) = self.votes.get_mut(&(round, kind)) else {
                return;
            };
            for (i, pk, sig) in &group {
                // ... and each vote alone only when the aggregate failed.
                if all_ok || C::verify(pk, &bytes, sig) {
                    if let Some(e) = book.get_mut(i) {
                        e.verified = true;
                    }
                } else if let Some(e) = book.remove(i) {
                    out.push(Action::Rejected {
                        from: e.from,
                        reason: Reject::BadSignature,
                    });
                }
            }
        }
    }

    /// Whether the votes matching `f` reach `t`, counting only verified votes (pending ones
    /// are verified, in aggregate, only once they could make the difference).
    fn has(
        &mut self,
        round: Round,
        kind: VoteKind,
        f: Filter,
        t: Threshold,
        out: &mut Vec<Action<C>>,
    ) -> bool {
        if !self.met(t, self.stake_of(round, kind, f, false)) {
            return false;
        }
        self.verify_pending(round, kind, f, out);
        self.met(t, self.stake_of(round, kind, f, true))
    }

    fn polka(&mut self, round: Round, v: H256, out: &mut Vec<Action<C>>) -> bool {
        self.polkas.contains_key(&(round, v))
            || self.has(
                round,
                VoteKind::Prevote,
                Filter::Value(Some(v)),
                Threshold::Quorum,
                out,
            )
    }

    fn cert_from_votes(
        &self,
        round: Round,
        kind: VoteKind,
        v: H256,
    ) -> Option<QuorumCertificate<C>> {
        let book = self.votes.get(&(round, kind))?;
        let votes: Vec<&SignedVote<C>> = book
            .values()
            .filter(|e| e.verified && e.vote.vote.block == Some(v))
            .map(|e| &e.vote)
            .collect();
        QuorumCertificate::from_votes(&self.set, &votes).ok()
    }

    fn distinct_stake(&self, round: Round, verified_only: bool) -> u128 {
        let mut who = BTreeSet::new();
        for kind in [VoteKind::Prevote, VoteKind::Precommit] {
            if let Some(book) = self.votes.get(&(round, kind)) {
                for (i, e) in book {
                    if !verified_only || e.verified {
                        who.insert(*i);
                    }
                }
            }
        }
        who.iter().map(|i| self.set.stake(*i)).sum()
    }

    // ---- rules ---------------------------------------------------------------------------

    fn progress(&mut self, out: &mut Vec<Action<C>>) {
        // Each pass either changes the state (and loops) or stops; the number of changes per
        // event is bounded by rounds and steps.
        for _ in 0..10_000 {
            if self.try_commit(out) || self.try_skip(out) || self.try_round_rules(out) {
                continue;
            }
            break;
        }
    }

    /// L49: a precommit quorum for a block in any round decides it.
    fn try_commit(&mut self, out: &mut Vec<Action<C>>) -> bool {
        let mut candidates = Vec::new();
        for ((r, kind), book) in &self.votes {
            if *kind != VoteKind::Precommit {
                continue;
            }
            let values: BTreeSet<H256> = book.values().filter_map(|e| e.vote.vote.block).collect();
            for v in values {
                candidates.push((*r, v));
            }
        }
        for (r, v) in candidates {
            if self.has(
                r,
                VoteKind::Precommit,
                Filter::Value(Some(v)),
                Threshold::Quorum,
                out,
            ) {
                if let Some(cert) = self.cert_from_votes(r, VoteKind::Precommit, v) {
                    self.commit(cert, out);
                    return true;
                }
            }
        }
        false
    }

    /// L55: more than 1/3 of the stake is in a later round: join it.
    fn try_skip(&mut self, out: &mut Vec<Action<C>>) -> bool {
        let rounds: BTreeSet<Round> = self
            .votes
            .keys()
            .map(|k| k.0)
            .filter(|r| *r > self.round)
            .collect();
        for r in rounds.into_iter().rev() {
            if !self.met(Threshold::OneThird, self.distinct_stake(r, false)) {
                continue;
            }
            self.verify_pending(r, VoteKind::Prevote, Filter::Any, out);
            self.verify_pending(r, VoteKind::Precommit, Filter::Any, out);
            if self.met(Threshold::OneThird, self.distinct_stake(r, true)) {
                self.start_round(r, out);
                return true;
            }
        }
        false
    }

    fn try_round_rules(&mut self, out: &mut Vec<Action<C>>) -> bool {
        let r = self.round;
        let prop = self.proposals.get(&r).map(|p| p.header);
        let validity = prop.and_then(|hd| self.blocks.get(&hd.block_hash).map(|b| b.validity));

        // L22 / L28: prevote on the proposal.
        if self.step == Step::Propose {
            if let (Some(hd), Some(val)) = (prop, validity) {
                if val != Validity::Pending {
                    let v = hd.block_hash;
                    let valid = val == Validity::Valid;
                    match hd.valid_round {
                        None => {
                            let ok = valid && self.locked.is_none_or(|(_, lv)| lv == v);
                            self.prevote(ok.then_some(v), out);
                            return true;
                        }
                        Some(vr) => {
                            if !valid {
                                self.prevote(None, out);
                                return true;
                            }
                            if self.polka(vr, v, out) {
                                let ok = self.locked.is_none_or(|(lr, lv)| lr <= vr || lv == v);
                                self.prevote(ok.then_some(v), out);
                                return true;
                            }
                        }
                    }
                }
            }
        }

        // L34: a quorum of any prevotes: start the prevote timeout.
        if self.step == Step::Prevote
            && !self.fired.contains(&(r, FIRED_PREVOTE_TIMEOUT))
            && self.has(r, VoteKind::Prevote, Filter::Any, Threshold::Quorum, out)
        {
            self.fired.insert((r, FIRED_PREVOTE_TIMEOUT));
            self.schedule(TimeoutStep::Prevote, out);
            return true;
        }

        // L36: proposal + prevote quorum for it: lock and precommit (or just remember it).
        if let (Some(hd), Some(Validity::Valid)) = (prop, validity) {
            let v = hd.block_hash;
            if self.step >= Step::Prevote
                && !self.fired.contains(&(r, FIRED_LOCK))
                && self.polka(r, v, out)
            {
                self.fired.insert((r, FIRED_LOCK));
                let pol = match self.polkas.get(&(r, v)) {
                    Some(c) => Some(c.clone()),
                    None => self.cert_from_votes(r, VoteKind::Prevote, v),
                };
                self.valid = Some((r, v));
                self.valid_pol = pol.clone();
                if self.step == Step::Prevote {
                    self.locked = Some((r, v));
                    self.lock_pol = pol;
                    self.precommit(Some(v), out);
                }
                return true;
            }
        }

        // L44: a prevote quorum for nil.
        if self.step == Step::Prevote
            && self.has(
                r,
                VoteKind::Prevote,
                Filter::Value(None),
                Threshold::Quorum,
                out,
            )
        {
            self.precommit(None, out);
            return true;
        }

        // L47: a quorum of any precommits: start the precommit timeout.
        if !self.fired.contains(&(r, FIRED_PRECOMMIT_TIMEOUT))
            && self.has(r, VoteKind::Precommit, Filter::Any, Threshold::Quorum, out)
        {
            self.fired.insert((r, FIRED_PRECOMMIT_TIMEOUT));
            self.schedule(TimeoutStep::Precommit, out);
            return true;
        }
        false
    }
}
