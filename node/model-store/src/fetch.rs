//! Fetching a model from several peers at once: the loop that drives a [`Download`] over a
//! [`ChunkSource`] (the node's network), penalises peers that serve bad slices and asks
//! others for their ranges.
use crate::{ChunkRequest, ChunkResponse, Download, Error, Progress, Result, StoredModel};
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

/// Where chunks come from. The node implements it over its libp2p network; tests over
/// in-process peers.
pub trait ChunkSource: Send + Sync {
    /// A peer's identity.
    type Peer: Clone + Ord + Debug + Send + Sync;

    /// Peers that may hold the model (connected now).
    fn peers(&self) -> impl Future<Output = Vec<Self::Peer>> + Send;

    /// Asks `peer` for a range; `Err` for a transport failure (timeout, disconnection,
    /// refusal), with a reason for the log.
    fn request(
        &self,
        peer: Self::Peer,
        request: ChunkRequest,
    ) -> impl Future<Output = std::result::Result<ChunkResponse, String>> + Send;

    /// `peer` served a slice that failed verification: penalise it.
    fn penalise(&self, peer: &Self::Peer, error: &Error);
}

/// Limits of one fetch.
#[derive(Debug, Clone, Copy)]
pub struct FetchConfig {
    /// Requests in flight to one peer.
    pub per_peer: usize,
    /// Requests in flight in all.
    pub max_in_flight: usize,
    /// Transport failures after which a peer is not asked again in this fetch.
    pub max_peer_failures: u32,
    /// Give up when no range was verified for this long.
    pub stall_timeout: Duration,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            per_peer: 4,
            max_in_flight: 16,
            max_peer_failures: 3,
            stall_timeout: Duration::from_secs(60),
        }
    }
}

/// What a peer did in this fetch.
#[derive(Debug, Default, Clone, Copy)]
struct PeerState {
    in_flight: usize,
    failures: u32,
    /// Served a bad slice, or said it does not hold the model: not asked again.
    excluded: bool,
}

/// Downloads every range of `download` from the peers of `source` and finishes it (content
/// id checked, file moved into the store; on tokio's blocking pool, so it must run inside a
/// tokio runtime). `on_progress` is called after every verified
/// range. Each range is verified before it is written; a peer that serves a bad slice is
/// penalised and not asked again, and its range goes to another peer.
pub async fn fetch<S: ChunkSource>(
    mut download: Download,
    source: &S,
    config: FetchConfig,
    mut on_progress: impl FnMut(Progress) + Send,
) -> Result<StoredModel> {
    let mut peers: BTreeMap<S::Peer, PeerState> = BTreeMap::new();
    let mut pending = FuturesUnordered::new();
    let mut last_progress = Instant::now();
    on_progress(download.progress());
    while !download.is_complete() {
        // Hand out ranges to peers with room, least busy first.
        for p in source.peers().await {
            peers.entry(p).or_default();
        }
        while pending.len() < config.max_in_flight {
            let Some(peer) = peers
                .iter()
                .filter(|(_, s)| !s.excluded && s.in_flight < config.per_peer)
                .min_by_key(|(_, s)| s.in_flight)
                .map(|(p, _)| p.clone())
            else {
                break;
            };
            let Some(request) = download.next_request() else {
                break;
            };
            if let Some(state) = peers.get_mut(&peer) {
                state.in_flight += 1;
            }
            let answer = source.request(peer.clone(), request);
            pending.push(async move { (peer, request, answer.await) });
        }
        if pending.is_empty() {
            // Nobody to ask right now: wait for peers to (re)connect, within the limit.
            if last_progress.elapsed() > config.stall_timeout {
                let progress = download.progress();
                return Err(Error::Message(format!(
                    "no peer served the missing {} of {} bytes within {} s",
                    progress.total - progress.verified,
                    progress.total,
                    config.stall_timeout.as_secs()
                )));
            }
            // Peers excluded for transport failures get another chance later.
            for state in peers.values_mut() {
                if !state.excluded {
                    state.failures = 0;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        let Some((peer, request, answer)) = pending.next().await else {
            continue;
        };
        let state = peers.entry(peer.clone()).or_default();
        state.in_flight = state.in_flight.saturating_sub(1);
        match answer {
            Ok(ChunkResponse::Slice(encoded)) => match download.accept(&request, &encoded) {
                Ok(_) => {
                    last_progress = Instant::now();
                    on_progress(download.progress());
                }
                Err(e) if e.is_peer_fault() => {
                    // Answers already in flight from the same peer are refused too, but the
                    // peer is penalised once per fetch.
                    if !state.excluded {
                        tracing::warn!(
                            ?peer,
                            offset = request.offset,
                            "peer served a bad model slice: {e}"
                        );
                        state.excluded = true;
                        source.penalise(&peer, &e);
                    }
                }
                Err(e) => return Err(e),
            },
            Ok(ChunkResponse::NotFound) | Ok(ChunkResponse::BadRequest) => {
                tracing::debug!(?peer, "peer does not serve the model");
                state.excluded = true;
                download.release(&request);
            }
            Err(reason) => {
                tracing::debug!(
                    ?peer,
                    offset = request.offset,
                    "chunk request failed: {reason}"
                );
                state.failures += 1;
                if state.failures >= config.max_peer_failures {
                    state.excluded = true;
                }
                download.release(&request);
            }
        }
        if last_progress.elapsed() > config.stall_timeout {
            return Err(Error::Message(format!(
                "no range verified for {} s",
                config.stall_timeout.as_secs()
            )));
        }
    }
    // Answers still in flight are for ranges already verified elsewhere: drop them.
    drop(pending);
    // Re-parsing and hashing a large file takes seconds: off the async workers.
    tokio::task::spawn_blocking(move || download.finish())
        .await
        .map_err(|e| Error::Message(format!("finishing the download: {e}")))?
}
