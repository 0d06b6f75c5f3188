//! The swarm task: owns the libp2p swarm, turns its events into [`Event`]s and the handle's
//! commands into swarm calls.

use std::{
    collections::{HashMap, HashSet},
    sync::{atomic::Ordering, Arc, RwLock},
    time::{Duration, Instant},
};

use futures::{future::BoxFuture, stream::FuturesUnordered, FutureExt, StreamExt};
use libp2p::{
    allow_block_list, connection_limits,
    gossipsub::{self, IdentTopic, MessageAcceptance},
    identify, kad,
    multiaddr::Protocol,
    request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel},
    swarm::{dial_opts::DialOpts, NetworkBehaviour, SwarmEvent},
    Multiaddr, PeerId, StreamProtocol, Swarm,
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    codec::{self, ModelCodec, SyncCodec, SyncResponse},
    peers::{InflightQuota, QuotaExceeded},
    BlockRequest, BlockResponse, Command, Event, GossipKind, Misbehaviour, ModelChunkRequest,
    ModelChunkResponse, NetworkConfig, NetworkError, NetworkEvents, NetworkHandle, PeerInfo,
    RefusalReason, Shared, Validation,
};

/// Room for protobuf framing around a gossip payload.
const GOSSIP_FRAME_OVERHEAD: usize = 64 * 1024;
/// How long the first listen address may take to appear.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections stay open this long without traffic.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(3600);

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    block_list: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    limits: connection_limits::Behaviour,
    identify: identify::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
    models: request_response::Behaviour<ModelCodec>,
}

/// An outbound request waiting for its response; `context` is what the response is checked
/// against.
struct PendingRequest<T, C = ()> {
    peer: PeerId,
    context: C,
    reply: oneshot::Sender<Result<T, NetworkError>>,
}

type PendingRequests<T, C = ()> = HashMap<OutboundRequestId, PendingRequest<T, C>>;

/// An inbound request handed to the node, with the node's answer (`None`: it dropped the
/// responder or did not answer in time).
enum NodeAnswer {
    Blocks {
        peer: PeerId,
        channel: ResponseChannel<SyncResponse>,
        max: u32,
        answer: Option<BlockResponse>,
    },
    ModelChunk {
        peer: PeerId,
        channel: ResponseChannel<ModelChunkResponse>,
        answer: Option<ModelChunkResponse>,
    },
}

/// A request-response event as the protocol's own handler sees it: failures are already
/// logged and penalised.
enum RrOutcome<Req, Resp> {
    Request {
        peer: PeerId,
        request: Req,
        channel: ResponseChannel<Resp>,
    },
    Response {
        peer: PeerId,
        request_id: OutboundRequestId,
        response: Resp,
    },
    Failed {
        request_id: OutboundRequestId,
        error: NetworkError,
    },
    Nothing,
}

struct Worker {
    swarm: Swarm<Behaviour>,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<Event>,
    shared: Arc<Shared>,
    config: NetworkConfig,
    tx_topic: IdentTopic,
    consensus_topic: IdentTopic,
    identify_protocol: String,
    kad_protocol: StreamProtocol,
    bootnodes: Vec<(PeerId, Multiaddr)>,
    book: crate::peers::PeerBook,
    connected: HashSet<PeerId>,
    pending_requests: PendingRequests<BlockResponse, u32>,
    pending_models: PendingRequests<ModelChunkResponse>,
    model_quota: InflightQuota,
    node_answers: FuturesUnordered<BoxFuture<'static, NodeAnswer>>,
}

/// Resolves the pending request `id`, if the caller is still there.
fn complete<T, C>(
    pending: &mut PendingRequests<T, C>,
    id: OutboundRequestId,
    result: Result<T, NetworkError>,
) {
    if let Some(p) = pending.remove(&id) {
        let _ = p.reply.send(result);
    }
}

/// Forgets the requests whose caller gave up (its own timeout fired first).
fn drop_abandoned<T, C>(pending: &mut PendingRequests<T, C>, protocol: &str) {
    pending.retain(|_, p| {
        let keep = !p.reply.is_closed();
        if !keep {
            tracing::debug!(peer = %p.peer, protocol, "request abandoned by the caller");
        }
        keep
    });
}

fn fail_all<T, C>(pending: &mut PendingRequests<T, C>) {
    for (_, p) in pending.drain() {
        let _ = p.reply.send(Err(NetworkError::ServiceStopped));
    }
}

fn send_response<C>(
    behaviour: &mut request_response::Behaviour<C>,
    channel: ResponseChannel<C::Response>,
    response: C::Response,
) where
    C: request_response::Codec + Clone + Send + 'static,
{
    if behaviour.send_response(channel, response).is_err() {
        tracing::debug!("response channel already closed");
    }
}

fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Some(peer),
        _ => None,
    }
}

pub(crate) async fn start(
    config: NetworkConfig,
) -> Result<(NetworkHandle, NetworkEvents), NetworkError> {
    config.check()?;
    let mut bootnodes = Vec::new();
    for addr in &config.bootnodes {
        let peer = peer_of(addr).ok_or_else(|| NetworkError::InvalidBootnode(addr.clone()))?;
        bootnodes.push((peer, addr.clone()));
    }

    let keypair = crate::key::load_or_create_node_key(&config.node_key_path)?;
    let local_peer_id = keypair.public().to_peer_id();
    tracing::info!("🏷  local peer id {local_peer_id}");

    let tx_topic = IdentTopic::new(config.tx_topic());
    let consensus_topic = IdentTopic::new(config.consensus_topic());
    let bad_protocol = |p: String| NetworkError::InvalidConfig(format!("bad protocol name {p}"));
    let kad_protocol = StreamProtocol::try_from_owned(config.kad_protocol())
        .map_err(|_| bad_protocol(config.kad_protocol()))?;
    let sync_protocol = StreamProtocol::try_from_owned(config.sync_protocol())
        .map_err(|_| bad_protocol(config.sync_protocol()))?;
    let models_protocol = StreamProtocol::try_from_owned(config.models_protocol())
        .map_err(|_| bad_protocol(config.models_protocol()))?;

    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .max_transmit_size(
            config
                .max_message_size
                .saturating_add(GOSSIP_FRAME_OVERHEAD),
        )
        .build()
        .map_err(|e| NetworkError::InvalidConfig(format!("gossipsub: {e}")))?;
    let mut gossipsub = gossipsub::Behaviour::new(
        gossipsub::MessageAuthenticity::Signed(keypair.clone()),
        gossip_config,
    )
    .map_err(|e| NetworkError::InvalidConfig(format!("gossipsub: {e}")))?;
    for topic in [&tx_topic, &consensus_topic] {
        gossipsub
            .subscribe(topic)
            .map_err(|e| NetworkError::InvalidConfig(format!("subscribe: {e}")))?;
    }

    let identify_protocol = config.identify_protocol();
    let identify = identify::Behaviour::new(
        identify::Config::new(identify_protocol.clone(), keypair.public())
            .with_agent_version(format!("menara/{}", env!("CARGO_PKG_VERSION"))),
    );

    let mut kad_config = kad::Config::new(kad_protocol.clone());
    kad_config.set_query_timeout(Duration::from_secs(30));
    let mut kad = kad::Behaviour::with_config(
        local_peer_id,
        kad::store::MemoryStore::new(local_peer_id),
        kad_config,
    );
    // Serve the DHT even without a confirmed external address (loopback, private networks).
    kad.set_mode(Some(kad::Mode::Server));

    let rr_config = request_response::Config::default()
        .with_request_timeout(config.request_timeout)
        .with_max_concurrent_streams(100);
    let sync = request_response::Behaviour::with_codec(
        SyncCodec::new(codec::MAX_REQUEST_SIZE, config.max_response_size),
        [(sync_protocol, ProtocolSupport::Full)],
        rr_config.clone(),
    );
    let models = request_response::Behaviour::with_codec(
        ModelCodec::new(codec::MAX_REQUEST_SIZE, codec::MAX_MODEL_RESPONSE_SIZE),
        [(models_protocol, ProtocolSupport::Full)],
        rr_config,
    );

    let max_peers = u32::try_from(config.max_peers).unwrap_or(u32::MAX);
    let limits = connection_limits::Behaviour::new(
        connection_limits::ConnectionLimits::default()
            .with_max_established_per_peer(Some(2))
            .with_max_established(Some(max_peers.saturating_mul(2)))
            .with_max_pending_incoming(Some(max_peers.clamp(8, 128))),
    );

    let behaviour = Behaviour {
        block_list: allow_block_list::Behaviour::default(),
        limits,
        identify,
        kad,
        gossipsub,
        sync,
        models,
    };

    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();

    swarm
        .listen_on(config.listen_addr.clone())
        .map_err(|e| NetworkError::Listen {
            addr: config.listen_addr.clone(),
            reason: e.to_string(),
        })?;

    // Wait for the listener so that `listen_addrs()` is meaningful as soon as we return.
    let mut first_addrs = Vec::new();
    let deadline = tokio::time::Instant::now() + LISTEN_TIMEOUT;
    while first_addrs.is_empty() {
        let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .map_err(|_| NetworkError::Listen {
                addr: config.listen_addr.clone(),
                reason: "timed out waiting for the listener".into(),
            })?;
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                first_addrs.push(address);
            }
            SwarmEvent::ListenerClosed { reason, .. } => {
                return Err(NetworkError::Listen {
                    addr: config.listen_addr.clone(),
                    reason: match reason {
                        Ok(()) => "listener closed".into(),
                        Err(e) => e.to_string(),
                    },
                });
            }
            SwarmEvent::ListenerError { error, .. } => {
                return Err(NetworkError::Listen {
                    addr: config.listen_addr.clone(),
                    reason: error.to_string(),
                });
            }
            other => tracing::trace!(?other, "swarm event before listening"),
        }
    }

    for (peer, addr) in &bootnodes {
        if *peer == local_peer_id {
            continue;
        }
        swarm.add_peer_address(*peer, addr.clone());
        swarm.behaviour_mut().kad.add_address(peer, addr.clone());
        if let Err(e) = swarm.dial(addr.clone()) {
            tracing::warn!(%addr, error = %e, "cannot dial bootnode");
        }
    }

    let shared = Arc::new(Shared {
        local_peer_id,
        listen_addrs: RwLock::new(first_addrs),
        peer_count: Default::default(),
    });
    let (command_tx, command_rx) = mpsc::unbounded_channel();
    let (event_tx, event_rx) = mpsc::channel(config.event_buffer);
    let handle = NetworkHandle {
        commands: command_tx,
        shared: shared.clone(),
        max_message_size: config.max_message_size,
        request_timeout: config.request_timeout,
    };
    let worker = Worker {
        swarm,
        commands: command_rx,
        events: event_tx,
        shared,
        book: crate::peers::PeerBook::new(config.requests_per_second),
        tx_topic,
        consensus_topic,
        identify_protocol,
        kad_protocol,
        bootnodes,
        connected: HashSet::new(),
        pending_requests: HashMap::new(),
        pending_models: HashMap::new(),
        model_quota: InflightQuota::new(
            config.max_model_requests_per_peer,
            config.max_model_requests,
        ),
        node_answers: FuturesUnordered::new(),
        config,
    };
    tokio::spawn(worker.run());
    Ok((handle, event_rx))
}

impl Worker {
    async fn run(mut self) {
        let mut maintenance = tokio::time::interval(self.config.maintenance_interval);
        maintenance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown) | None => break,
                    Some(command) => self.on_command(command),
                },
                Some(answer) = self.node_answers.next(), if !self.node_answers.is_empty() => {
                    self.on_node_answer(answer)
                }
                _ = maintenance.tick() => self.maintenance(),
            }
        }
        tracing::info!("network service stopped");
        fail_all(&mut self.pending_requests);
        fail_all(&mut self.pending_models);
    }

    fn emit(&self, event: Event) -> bool {
        match self.events.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(event)) => {
                tracing::warn!(?event, "event channel full, dropping event");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    fn penalise(&mut self, peer: PeerId, misbehaviour: Misbehaviour) {
        let now = Instant::now();
        if peer == self.shared.local_peer_id {
            return;
        }
        let crossed = self.book.penalise(peer, misbehaviour, now);
        tracing::debug!(%peer, ?misbehaviour, score = self.book.score(&peer, now), "peer penalised");
        if crossed {
            tracing::warn!(%peer, ?misbehaviour, "peer banned");
            self.book.ban(peer, now + self.config.ban_duration);
            let behaviour = self.swarm.behaviour_mut();
            // Closes its connections and refuses new ones until the ban expires.
            behaviour.block_list.block_peer(peer);
            behaviour.kad.remove_peer(&peer);
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                if let Ok(mut addrs) = self.shared.listen_addrs.write() {
                    if !addrs.contains(&address) {
                        addrs.push(address);
                    }
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                if let Ok(mut addrs) = self.shared.listen_addrs.write() {
                    addrs.retain(|a| *a != address);
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                let now = Instant::now();
                if endpoint.is_dialer() {
                    self.book
                        .add_address(peer_id, endpoint.get_remote_address().clone(), now);
                }
                if num_established.get() != 1 {
                    return;
                }
                let is_bootnode = self.bootnodes.iter().any(|(p, _)| *p == peer_id);
                if self.connected.len() >= self.config.max_peers && !is_bootnode {
                    tracing::debug!(peer = %peer_id, "too many peers, disconnecting");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                self.connected.insert(peer_id);
                self.book.set_connected(peer_id, true, now);
                self.shared
                    .peer_count
                    .store(self.connected.len(), Ordering::Relaxed);
                tracing::debug!(peer = %peer_id, "peer connected");
                if is_bootnode && self.config.discovery {
                    let _ = self.swarm.behaviour_mut().kad.bootstrap();
                }
                self.emit(Event::PeerConnected(peer_id));
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } if self.connected.remove(&peer_id) => {
                self.book.set_connected(peer_id, false, Instant::now());
                self.shared
                    .peer_count
                    .store(self.connected.len(), Ordering::Relaxed);
                tracing::debug!(peer = %peer_id, "peer disconnected");
                self.emit(Event::PeerDisconnected(peer_id));
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, %error, "dial failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.on_gossip(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(event)) => self.on_identify(event),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.on_kad(event),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync(event),
            SwarmEvent::Behaviour(BehaviourEvent::Models(event)) => self.on_models(event),
            _ => {}
        }
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        let gossipsub::Event::Message {
            propagation_source: from,
            message_id: msg_id,
            message,
        } = event
        else {
            return;
        };
        let gossip = self.swarm.behaviour_mut();
        if message.data.len() > self.config.max_message_size {
            gossip.gossipsub.report_message_validation_result(
                &msg_id,
                &from,
                MessageAcceptance::Reject,
            );
            self.penalise(from, Misbehaviour::OversizedMessage);
            return;
        }
        let bytes = message.data;
        let event = if message.topic == self.tx_topic.hash() {
            Event::Transaction {
                from,
                bytes,
                msg_id: msg_id.clone(),
            }
        } else if message.topic == self.consensus_topic.hash() {
            Event::Consensus {
                from,
                bytes,
                msg_id: msg_id.clone(),
            }
        } else {
            gossip.gossipsub.report_message_validation_result(
                &msg_id,
                &from,
                MessageAcceptance::Ignore,
            );
            return;
        };
        if !self.emit(event) {
            // Nobody will validate it: drop it from the cache without blaming the sender.
            self.swarm
                .behaviour_mut()
                .gossipsub
                .report_message_validation_result(&msg_id, &from, MessageAcceptance::Ignore);
        }
    }

    fn on_identify(&mut self, event: identify::Event) {
        let identify::Event::Received { peer_id, info, .. } = event else {
            return;
        };
        if info.protocol_version != self.identify_protocol {
            tracing::debug!(
                peer = %peer_id,
                theirs = %info.protocol_version,
                ours = %self.identify_protocol,
                "peer of another chain, disconnecting"
            );
            let behaviour = self.swarm.behaviour_mut();
            behaviour.kad.remove_peer(&peer_id);
            let _ = self.swarm.disconnect_peer_id(peer_id);
            return;
        }
        let now = Instant::now();
        let serves_kad = info.protocols.contains(&self.kad_protocol);
        for addr in info.listen_addrs.into_iter().take(8) {
            self.book.add_address(peer_id, addr.clone(), now);
            if serves_kad && self.config.discovery {
                self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
            }
        }
    }

    fn on_kad(&mut self, event: kad::Event) {
        if let kad::Event::RoutingUpdated {
            peer, addresses, ..
        } = event
        {
            if !self.config.discovery
                || peer == self.shared.local_peer_id
                || self.connected.contains(&peer)
                || self.connected.len() >= self.config.max_peers
                || self.book.is_banned(&peer, Instant::now())
            {
                return;
            }
            let opts = DialOpts::peer_id(peer)
                .addresses(addresses.into_vec())
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::trace!(%peer, error = %e, "not dialling discovered peer");
            }
        }
    }

    /// The parts of a request-response event that do not depend on the protocol: failures are
    /// mapped to errors, and the peer penalised when the failure is its fault.
    fn on_rr_event<Req, Resp>(
        &mut self,
        event: request_response::Event<Req, Resp>,
        protocol: &'static str,
    ) -> RrOutcome<Req, Resp> {
        use request_response::{Event as RrEvent, Message};
        match event {
            RrEvent::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => RrOutcome::Request {
                peer,
                request,
                channel,
            },
            RrEvent::Message {
                peer,
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => RrOutcome::Response {
                peer,
                request_id,
                response,
            },
            RrEvent::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => RrOutcome::Failed {
                request_id,
                error: self.outbound_failure(peer, error),
            },
            RrEvent::InboundFailure { peer, error, .. } => {
                self.inbound_failure(peer, error, protocol);
                RrOutcome::Nothing
            }
            RrEvent::ResponseSent { .. } => RrOutcome::Nothing,
        }
    }

    fn outbound_failure(
        &mut self,
        peer: PeerId,
        error: request_response::OutboundFailure,
    ) -> NetworkError {
        use request_response::OutboundFailure;
        match error {
            OutboundFailure::Io(e) => {
                if let Some(too_large) = codec::frame_too_large(&e) {
                    let err = NetworkError::MessageTooLarge {
                        size: usize::try_from(too_large.size).unwrap_or(usize::MAX),
                        limit: usize::try_from(too_large.limit).unwrap_or(usize::MAX),
                    };
                    // Our own request over the limit is not the peer's fault.
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        self.penalise(peer, Misbehaviour::OversizedMessage);
                    }
                    err
                } else if e.kind() == std::io::ErrorKind::InvalidData {
                    self.penalise(peer, Misbehaviour::BadResponse);
                    NetworkError::InvalidResponse {
                        peer,
                        reason: e.to_string(),
                    }
                } else {
                    NetworkError::RequestFailed {
                        peer,
                        reason: e.to_string(),
                    }
                }
            }
            OutboundFailure::Timeout => {
                self.penalise(peer, Misbehaviour::Timeout);
                NetworkError::Timeout { peer }
            }
            other => NetworkError::RequestFailed {
                peer,
                reason: other.to_string(),
            },
        }
    }

    fn inbound_failure(
        &mut self,
        peer: PeerId,
        error: request_response::InboundFailure,
        protocol: &'static str,
    ) {
        use request_response::InboundFailure;
        match error {
            InboundFailure::Io(e) if codec::frame_too_large(&e).is_some() => {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    self.penalise(peer, Misbehaviour::OversizedMessage);
                }
            }
            InboundFailure::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                self.penalise(peer, Misbehaviour::BadResponse);
            }
            other => tracing::debug!(%peer, protocol, error = %other, "inbound request failed"),
        }
    }

    fn on_sync(&mut self, event: request_response::Event<BlockRequest, SyncResponse>) {
        match self.on_rr_event(event, "sync") {
            RrOutcome::Request {
                peer,
                request,
                channel,
            } => self.on_block_request(peer, request, channel),
            RrOutcome::Response {
                peer,
                request_id,
                response,
            } => {
                let Some(max) = self.pending_requests.get(&request_id).map(|p| p.context) else {
                    return;
                };
                let result = match response {
                    SyncResponse::Blocks(response) if response.blocks.len() > max as usize => {
                        self.penalise(peer, Misbehaviour::BadResponse);
                        Err(NetworkError::InvalidResponse {
                            peer,
                            reason: format!(
                                "{} blocks for a request of at most {max}",
                                response.blocks.len(),
                            ),
                        })
                    }
                    SyncResponse::Blocks(response) => Ok(response),
                    SyncResponse::Refused(reason) => Err(NetworkError::Refused { peer, reason }),
                };
                complete(&mut self.pending_requests, request_id, result);
            }
            RrOutcome::Failed { request_id, error } => {
                complete(&mut self.pending_requests, request_id, Err(error))
            }
            RrOutcome::Nothing => {}
        }
    }

    fn on_models(&mut self, event: request_response::Event<ModelChunkRequest, ModelChunkResponse>) {
        match self.on_rr_event(event, "models") {
            RrOutcome::Request {
                peer,
                request,
                channel,
            } => self.on_model_request(peer, request, channel),
            // Opaque to the network: the node verifies it and reports a bad chunk.
            RrOutcome::Response {
                request_id,
                response,
                ..
            } => complete(&mut self.pending_models, request_id, Ok(response)),
            RrOutcome::Failed { request_id, error } => {
                complete(&mut self.pending_models, request_id, Err(error))
            }
            RrOutcome::Nothing => {}
        }
    }

    /// Waits for the node's answer to an inbound request. The inbound stream itself is closed
    /// after the request timeout, so the node gets three quarters of it: the rest is left for
    /// sending the answer, or the `Unavailable` refusal.
    fn node_answer<T: Send + 'static>(
        &self,
        answer: oneshot::Receiver<T>,
    ) -> impl std::future::Future<Output = Option<T>> + Send + 'static {
        let timeout = self.config.request_timeout * 3 / 4;
        async move {
            tokio::time::timeout(timeout, answer)
                .await
                .ok()
                .and_then(Result::ok)
        }
    }

    fn on_block_request(
        &mut self,
        peer: PeerId,
        request: BlockRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        if !self.book.allow_request(peer, Instant::now()) {
            tracing::debug!(%peer, "sync request over quota");
            self.penalise(peer, Misbehaviour::ExceededQuota);
            self.respond(channel, SyncResponse::Refused(RefusalReason::RateLimited));
            return;
        }
        let max = request.max.min(self.config.max_blocks_per_request);
        if max == 0 {
            self.respond(channel, SyncResponse::Blocks(BlockResponse::default()));
            return;
        }
        let (respond, answer) = oneshot::channel();
        let event = Event::BlockRequest {
            peer,
            request: BlockRequest {
                from: request.from,
                max,
            },
            respond,
        };
        if !self.emit(event) {
            self.respond(channel, SyncResponse::Refused(RefusalReason::Busy));
            return;
        }
        let answer = self.node_answer(answer);
        self.node_answers.push(
            async move {
                NodeAnswer::Blocks {
                    peer,
                    channel,
                    max,
                    answer: answer.await,
                }
            }
            .boxed(),
        );
    }

    fn on_model_request(
        &mut self,
        peer: PeerId,
        request: ModelChunkRequest,
        channel: ResponseChannel<ModelChunkResponse>,
    ) {
        let refusal = if request.len > codec::MAX_MODEL_CHUNK {
            Some(RefusalReason::TooLarge)
        } else {
            match self.model_quota.try_acquire(peer) {
                Ok(()) => None,
                Err(QuotaExceeded::Peer) => {
                    self.penalise(peer, Misbehaviour::ExceededQuota);
                    Some(RefusalReason::RateLimited)
                }
                Err(QuotaExceeded::Global) => Some(RefusalReason::Busy),
            }
        };
        if let Some(reason) = refusal {
            tracing::debug!(%peer, ?reason, len = request.len, "model chunk request refused");
            self.respond_model(channel, ModelChunkResponse::Refused(reason));
            return;
        }
        let (respond, answer) = oneshot::channel();
        let event = Event::ModelChunkRequest {
            peer,
            request,
            respond,
        };
        if !self.emit(event) {
            self.model_quota.release(peer);
            self.respond_model(channel, ModelChunkResponse::Refused(RefusalReason::Busy));
            return;
        }
        let answer = self.node_answer(answer);
        self.node_answers.push(
            async move {
                NodeAnswer::ModelChunk {
                    peer,
                    channel,
                    answer: answer.await,
                }
            }
            .boxed(),
        );
    }

    fn on_node_answer(&mut self, answer: NodeAnswer) {
        match answer {
            NodeAnswer::Blocks {
                peer,
                channel,
                max,
                answer,
            } => self.on_blocks_answer(peer, channel, max, answer),
            NodeAnswer::ModelChunk {
                peer,
                channel,
                answer,
            } => self.on_model_answer(peer, channel, answer),
        }
    }

    fn on_model_answer(
        &mut self,
        peer: PeerId,
        channel: ResponseChannel<ModelChunkResponse>,
        answer: Option<ModelChunkResponse>,
    ) {
        use parity_scale_codec::Encode;
        self.model_quota.release(peer);
        let response = match answer {
            Some(response) if response.encoded_size() > codec::MAX_MODEL_RESPONSE_SIZE => {
                tracing::warn!(
                    %peer,
                    size = response.encoded_size(),
                    limit = codec::MAX_MODEL_RESPONSE_SIZE,
                    "model chunk answer over the response limit, not sent"
                );
                ModelChunkResponse::Refused(RefusalReason::Unavailable)
            }
            Some(response) => response,
            None => {
                tracing::debug!(%peer, "node did not answer a model chunk request");
                ModelChunkResponse::Refused(RefusalReason::Unavailable)
            }
        };
        self.respond_model(channel, response);
    }

    fn on_blocks_answer(
        &mut self,
        peer: PeerId,
        channel: ResponseChannel<SyncResponse>,
        max: u32,
        answer: Option<BlockResponse>,
    ) {
        let response = match answer {
            Some(mut response) => {
                // Serve what fits: at most `max` blocks and within the frame limit.
                response.blocks.truncate(max as usize);
                while !response.blocks.is_empty()
                    && codec::blocks_response_size(&response.blocks) > self.config.max_response_size
                {
                    response.blocks.pop();
                }
                SyncResponse::Blocks(response)
            }
            None => {
                tracing::debug!(%peer, "node did not answer a sync request");
                SyncResponse::Refused(RefusalReason::Unavailable)
            }
        };
        self.respond(channel, response);
    }

    fn respond(&mut self, channel: ResponseChannel<SyncResponse>, response: SyncResponse) {
        send_response(&mut self.swarm.behaviour_mut().sync, channel, response);
    }

    fn respond_model(
        &mut self,
        channel: ResponseChannel<ModelChunkResponse>,
        response: ModelChunkResponse,
    ) {
        send_response(&mut self.swarm.behaviour_mut().models, channel, response);
    }

    /// Gives `reply` back unless `peer` is banned, in which case the request fails at once.
    fn unless_banned<T>(
        &self,
        peer: PeerId,
        reply: oneshot::Sender<Result<T, NetworkError>>,
    ) -> Option<oneshot::Sender<Result<T, NetworkError>>> {
        if self.book.is_banned(&peer, Instant::now()) {
            let _ = reply.send(Err(NetworkError::RequestFailed {
                peer,
                reason: "peer is banned".into(),
            }));
            return None;
        }
        Some(reply)
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish { kind, bytes, reply } => {
                let topic = match kind {
                    GossipKind::Transaction => self.tx_topic.clone(),
                    GossipKind::Consensus => self.consensus_topic.clone(),
                };
                let size = bytes.len();
                let result = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(topic, bytes)
                    .map_err(|e| match e {
                        gossipsub::PublishError::NoPeersSubscribedToTopic => NetworkError::NoPeers,
                        gossipsub::PublishError::Duplicate => NetworkError::Duplicate,
                        gossipsub::PublishError::MessageTooLarge => NetworkError::MessageTooLarge {
                            size,
                            limit: self.config.max_message_size,
                        },
                        other => NetworkError::Publish(other.to_string()),
                    });
                let _ = reply.send(result);
            }
            Command::Validate {
                msg_id,
                from,
                result,
            } => {
                let acceptance = match result {
                    Validation::Accept => MessageAcceptance::Accept,
                    Validation::Reject => MessageAcceptance::Reject,
                    Validation::Ignore => MessageAcceptance::Ignore,
                };
                self.swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&msg_id, &from, acceptance);
                match result {
                    Validation::Accept => self.book.reward(from, Instant::now()),
                    Validation::Reject => self.penalise(from, Misbehaviour::InvalidMessage),
                    Validation::Ignore => {}
                }
            }
            Command::Report { peer, misbehaviour } => self.penalise(peer, misbehaviour),
            Command::RequestBlocks {
                peer,
                request,
                reply,
            } => {
                let Some(reply) = self.unless_banned(peer, reply) else {
                    return;
                };
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                self.pending_requests.insert(
                    id,
                    PendingRequest {
                        peer,
                        context: request.max,
                        reply,
                    },
                );
            }
            Command::RequestModelChunk {
                peer,
                request,
                reply,
            } => {
                let Some(reply) = self.unless_banned(peer, reply) else {
                    return;
                };
                let id = self
                    .swarm
                    .behaviour_mut()
                    .models
                    .send_request(&peer, request);
                self.pending_models.insert(
                    id,
                    PendingRequest {
                        peer,
                        context: (),
                        reply,
                    },
                );
            }
            Command::Peers { reply } => {
                let now = Instant::now();
                let mut topics: HashMap<PeerId, Vec<String>> = HashMap::new();
                for (peer, hashes) in self.swarm.behaviour().gossipsub.all_peers() {
                    topics.insert(*peer, hashes.iter().map(|h| h.to_string()).collect());
                }
                let peers = self
                    .connected
                    .iter()
                    .map(|peer| PeerInfo {
                        peer_id: *peer,
                        addresses: self.book.addresses(peer),
                        score: self.book.score(peer, now),
                        topics: topics.remove(peer).unwrap_or_default(),
                    })
                    .collect();
                let _ = reply.send(peers);
            }
            Command::Dial { address } => {
                if let Err(e) = self.swarm.dial(address.clone()) {
                    tracing::warn!(%address, error = %e, "dial failed");
                }
            }
            Command::Shutdown => {}
        }
    }

    fn maintenance(&mut self) {
        let now = Instant::now();
        for peer in self.book.expired_bans(now) {
            tracing::debug!(%peer, "ban expired");
            self.swarm.behaviour_mut().block_list.unblock_peer(peer);
        }
        drop_abandoned(&mut self.pending_requests, "sync");
        drop_abandoned(&mut self.pending_models, "models");
        if self.connected.is_empty() {
            for (peer, addr) in self.bootnodes.clone() {
                if peer == self.shared.local_peer_id || self.book.is_banned(&peer, now) {
                    continue;
                }
                tracing::debug!(%addr, "no peers left, redialling bootnode");
                if let Err(e) = self.swarm.dial(addr.clone()) {
                    tracing::debug!(%addr, error = %e, "cannot redial bootnode");
                }
            }
        } else if self.config.discovery && self.connected.len() < self.config.max_peers {
            let local = self.shared.local_peer_id;
            self.swarm.behaviour_mut().kad.get_closest_peers(local);
        }
    }
}
