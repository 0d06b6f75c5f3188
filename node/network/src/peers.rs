//! Peer scores, bans and request quotas.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use libp2p::{Multiaddr, PeerId};

/// A peer whose score falls below this is disconnected and banned.
pub const BAN_THRESHOLD: f64 = -100.0;
/// Penalties fade: a score halves every this long.
const SCORE_HALF_LIFE: Duration = Duration::from_secs(120);
/// Good behaviour (accepted gossip) earns this much, up to [`MAX_SCORE`].
const REWARD: f64 = 0.5;
const MAX_SCORE: f64 = 20.0;
/// Addresses remembered per peer.
const MAX_ADDRESSES: usize = 8;
/// Disconnected peers remembered (for their negative scores).
const MAX_REMEMBERED: usize = 4096;

/// What a peer did wrong; each costs a fixed amount of score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// A gossip message the node rejected (applied by `validate(.., Reject)` itself).
    InvalidMessage,
    /// A block or certificate that does not verify.
    InvalidBlock,
    /// A malformed or inconsistent response (e.g. more blocks than asked for).
    BadResponse,
    /// A request it did not answer in time.
    Timeout,
    /// More requests than its quota.
    ExceededQuota,
    /// A frame over the size limit.
    OversizedMessage,
    /// A model chunk that failed verification against the model's id (reported by the node);
    /// weighted like an invalid block: three in quick succession ban the peer.
    BadModelChunk,
    /// Something that warrants an immediate ban (e.g. provable equivocation).
    Fatal,
}

impl Misbehaviour {
    /// The score lost.
    pub fn penalty(self) -> f64 {
        match self {
            Misbehaviour::InvalidMessage => 20.0,
            Misbehaviour::InvalidBlock => 50.0,
            Misbehaviour::BadResponse => 20.0,
            Misbehaviour::Timeout => 5.0,
            Misbehaviour::ExceededQuota => 5.0,
            Misbehaviour::OversizedMessage => 50.0,
            Misbehaviour::BadModelChunk => 50.0,
            Misbehaviour::Fatal => 1000.0,
        }
    }
}

#[derive(Debug)]
struct PeerState {
    score: f64,
    scored_at: Instant,
    addresses: Vec<Multiaddr>,
    tokens: f64,
    tokens_at: Instant,
    connected: bool,
}

impl PeerState {
    fn new(now: Instant, burst: f64) -> Self {
        PeerState {
            score: 0.0,
            scored_at: now,
            addresses: Vec::new(),
            tokens: burst,
            tokens_at: now,
            connected: false,
        }
    }

    fn decayed_score(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.scored_at).as_secs_f64();
        self.score * 0.5f64.powf(elapsed / SCORE_HALF_LIFE.as_secs_f64())
    }

    fn refresh(&mut self, now: Instant) {
        self.score = self.decayed_score(now);
        self.scored_at = now;
    }
}

/// What the network knows about peers.
#[derive(Debug)]
pub(crate) struct PeerBook {
    peers: HashMap<PeerId, PeerState>,
    banned: HashMap<PeerId, Instant>,
    requests_per_second: f64,
}

impl PeerBook {
    pub(crate) fn new(requests_per_second: u32) -> Self {
        PeerBook {
            peers: HashMap::new(),
            banned: HashMap::new(),
            requests_per_second: f64::from(requests_per_second),
        }
    }

    fn burst(&self) -> f64 {
        self.requests_per_second.max(1.0)
    }

    fn entry(&mut self, peer: PeerId, now: Instant) -> &mut PeerState {
        let burst = self.burst();
        self.peers
            .entry(peer)
            .or_insert_with(|| PeerState::new(now, burst))
    }

    pub(crate) fn set_connected(&mut self, peer: PeerId, connected: bool, now: Instant) {
        self.entry(peer, now).connected = connected;
        if !connected {
            self.forget_idle(now);
        }
    }

    pub(crate) fn add_address(&mut self, peer: PeerId, address: Multiaddr, now: Instant) {
        let state = self.entry(peer, now);
        if !state.addresses.contains(&address) {
            if state.addresses.len() >= MAX_ADDRESSES {
                state.addresses.remove(0);
            }
            state.addresses.push(address);
        }
    }

    pub(crate) fn addresses(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.peers
            .get(peer)
            .map(|s| s.addresses.clone())
            .unwrap_or_default()
    }

    pub(crate) fn score(&self, peer: &PeerId, now: Instant) -> f64 {
        self.peers
            .get(peer)
            .map(|s| s.decayed_score(now))
            .unwrap_or(0.0)
    }

    /// Lowers the score; returns true when the peer has just crossed the ban threshold.
    pub(crate) fn penalise(&mut self, peer: PeerId, m: Misbehaviour, now: Instant) -> bool {
        if self.is_banned(&peer, now) {
            return false;
        }
        let state = self.entry(peer, now);
        state.refresh(now);
        state.score -= m.penalty();
        state.score < BAN_THRESHOLD
    }

    pub(crate) fn reward(&mut self, peer: PeerId, now: Instant) {
        let state = self.entry(peer, now);
        state.refresh(now);
        state.score = (state.score + REWARD).min(MAX_SCORE);
    }

    pub(crate) fn ban(&mut self, peer: PeerId, until: Instant) {
        self.banned.insert(peer, until);
    }

    pub(crate) fn is_banned(&self, peer: &PeerId, now: Instant) -> bool {
        self.banned.get(peer).is_some_and(|until| *until > now)
    }

    /// Removes and returns the bans that have run out; their peers start again from a
    /// neutral score.
    pub(crate) fn expired_bans(&mut self, now: Instant) -> Vec<PeerId> {
        let expired: Vec<PeerId> = self
            .banned
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in &expired {
            self.banned.remove(peer);
            self.peers.remove(peer);
        }
        expired
    }

    /// Takes one request token from the peer's bucket; false when it has none left.
    pub(crate) fn allow_request(&mut self, peer: PeerId, now: Instant) -> bool {
        let rate = self.requests_per_second;
        let burst = self.burst();
        let state = self.entry(peer, now);
        let elapsed = now.saturating_duration_since(state.tokens_at).as_secs_f64();
        state.tokens = (state.tokens + elapsed * rate).min(burst);
        state.tokens_at = now;
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Drops disconnected peers whose score has faded back to neutral, and bounds the book.
    fn forget_idle(&mut self, now: Instant) {
        self.peers
            .retain(|_, s| s.connected || s.decayed_score(now) < -1.0);
        if self.peers.len() > MAX_REMEMBERED {
            let mut idle: Vec<(PeerId, f64)> = self
                .peers
                .iter()
                .filter(|(_, s)| !s.connected)
                .map(|(p, s)| (*p, s.decayed_score(now)))
                .collect();
            // Forget the least penalised first.
            idle.sort_by(|a, b| b.1.total_cmp(&a.1));
            let excess = self.peers.len() - MAX_REMEMBERED;
            for (peer, _) in idle.into_iter().take(excess) {
                self.peers.remove(&peer);
            }
        }
    }
}

/// Why [`InflightQuota::try_acquire`] said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuotaExceeded {
    /// The peer already has its share in flight.
    Peer,
    /// Every peer together has the global share in flight.
    Global,
}

/// Bounds the inbound requests in flight (handed to the node, not yet answered), per peer and
/// in all. Every successful [`try_acquire`](Self::try_acquire) is matched by one
/// [`release`](Self::release).
#[derive(Debug)]
pub(crate) struct InflightQuota {
    per_peer: usize,
    global: usize,
    by_peer: HashMap<PeerId, usize>,
    total: usize,
}

impl InflightQuota {
    pub(crate) fn new(per_peer: usize, global: usize) -> Self {
        InflightQuota {
            per_peer,
            global,
            by_peer: HashMap::new(),
            total: 0,
        }
    }

    pub(crate) fn try_acquire(&mut self, peer: PeerId) -> Result<(), QuotaExceeded> {
        let count = self.by_peer.entry(peer).or_default();
        if *count >= self.per_peer {
            return Err(QuotaExceeded::Peer);
        }
        if self.total >= self.global {
            if *count == 0 {
                self.by_peer.remove(&peer);
            }
            return Err(QuotaExceeded::Global);
        }
        *count += 1;
        self.total += 1;
        Ok(())
    }

    pub(crate) fn release(&mut self, peer: PeerId) {
        if let Some(count) = self.by_peer.get_mut(&peer) {
            *count -= 1;
            self.total -= 1;
            if *count == 0 {
                self.by_peer.remove(&peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn penalties_accumulate_to_a_ban_and_decay() {
        let mut book = PeerBook::new(10);
        let peer = PeerId::random();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(!book.penalise(peer, Misbehaviour::InvalidMessage, t0));
        }
        assert_eq!(book.score(&peer, t0), -100.0);
        assert!(book.penalise(peer, Misbehaviour::Timeout, t0));
        // Half as bad after one half-life.
        let later = t0 + SCORE_HALF_LIFE;
        assert!((book.score(&peer, later) + 52.5).abs() < 1e-6);
    }

    #[test]
    fn quota_refills() {
        let mut book = PeerBook::new(2);
        let peer = PeerId::random();
        let t0 = Instant::now();
        assert!(book.allow_request(peer, t0));
        assert!(book.allow_request(peer, t0));
        assert!(!book.allow_request(peer, t0));
        assert!(book.allow_request(peer, t0 + Duration::from_millis(600)));
        assert!(!book.allow_request(peer, t0 + Duration::from_millis(600)));
    }

    #[test]
    fn bans_expire() {
        let mut book = PeerBook::new(1);
        let peer = PeerId::random();
        let t0 = Instant::now();
        book.ban(peer, t0 + Duration::from_secs(1));
        assert!(book.is_banned(&peer, t0));
        assert!(book.expired_bans(t0).is_empty());
        assert_eq!(book.expired_bans(t0 + Duration::from_secs(2)), vec![peer]);
        assert!(!book.is_banned(&peer, t0 + Duration::from_secs(2)));
    }

    #[test]
    fn inflight_quota_per_peer_and_global() {
        let mut quota = InflightQuota::new(2, 3);
        let (a, b) = (PeerId::random(), PeerId::random());
        assert_eq!(quota.try_acquire(a), Ok(()));
        assert_eq!(quota.try_acquire(a), Ok(()));
        assert_eq!(quota.try_acquire(a), Err(QuotaExceeded::Peer));
        assert_eq!(quota.try_acquire(b), Ok(()));
        assert_eq!(quota.try_acquire(b), Err(QuotaExceeded::Global));
        quota.release(a);
        assert_eq!(quota.try_acquire(b), Ok(()));
        for peer in [a, b, b] {
            quota.release(peer);
        }
        assert!(quota.by_peer.is_empty());
        assert_eq!(quota.total, 0);
        // A release without an acquire is ignored.
        quota.release(a);
        assert_eq!(quota.total, 0);
    }
}
