//! Configuration, start and stop of the server (HTTP and WebSocket on one port).
use crate::api::NodeApi;
use crate::error::RpcError;
use crate::methods::rpc_module;
use futures::FutureExt;
use hyper::body::Incoming;
use jsonrpsee::server::{
    serve_with_graceful_shutdown, stop_channel, ws, HttpRequest, HttpResponse, Methods, Server,
    ServerConfig, ServerHandle, StopHandle, TowerServiceBuilder,
};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::layer::util::Identity;
use tower::Service;

/// Default RPC port (as Substrate).
pub const DEFAULT_PORT: u16 = 9944;
/// Default cap on simultaneous WebSocket connections (and, separately, HTTP requests).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 100;
/// Default largest request and response body, in bytes (15 MiB).
pub const DEFAULT_MAX_PAYLOAD: u32 = 15 * 1024 * 1024;
/// Default cap on subscriptions per connection.
pub const DEFAULT_MAX_SUBSCRIPTIONS: u32 = 1024;

/// Which methods the server answers (`--rpc-methods`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RpcMethods {
    /// Safe methods only.
    Safe,
    /// All methods, including [`crate::UNSAFE_METHODS`].
    Unsafe,
    /// Unsafe methods only when listening on a loopback address.
    #[default]
    Auto,
}

impl RpcMethods {
    /// Whether unsafe methods are served when listening on `addr`.
    pub fn allows_unsafe(self, addr: &SocketAddr) -> bool {
        match self {
            RpcMethods::Safe => false,
            RpcMethods::Unsafe => true,
            RpcMethods::Auto => addr.ip().is_loopback(),
        }
    }
}

impl std::str::FromStr for RpcMethods {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "safe" => Ok(RpcMethods::Safe),
            "unsafe" => Ok(RpcMethods::Unsafe),
            "auto" => Ok(RpcMethods::Auto),
            other => Err(format!(
                "unknown RPC method set {other:?}: expected safe, unsafe or auto"
            )),
        }
    }
}

/// Cross-origin policy for browser clients.
///
/// Not enforced yet: jsonrpsee has no CORS handling of its own and the HTTP layer for it
/// (`tower-http`'s `CorsLayer`) is not a workspace dependency. Today the server sends no
/// CORS headers, so non-browser clients work and browser pages on other origins cannot
/// read responses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Cors {
    /// Any origin.
    #[default]
    All,
}

/// Default cap on simultaneous connections from one IP address (HTTP and WebSocket).
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: u32 = 32;
/// Default time after which a connection with no traffic in either direction is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Server settings; `Default` gives Substrate's defaults on 127.0.0.1:9944.
///
/// Limits that keep one client from locking the others out:
/// - WebSocket connections and HTTP requests are counted separately
///   (`max_connections` each), so WebSockets cannot take the slots HTTP clients need;
/// - one IP address holds at most `max_connections_per_ip` TCP connections;
/// - a connection with no traffic in either direction for `idle_timeout` is closed (a
///   subscription that delivers notifications is traffic; jsonrpsee also closes a connection
///   that sends no request within 30 s of opening);
/// - subscriptions per WebSocket connection are bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcConfig {
    /// Listening address; port 0 picks a free port (see [`RpcHandle::local_addr`]).
    pub addr: SocketAddr,
    /// Simultaneous WebSocket connections, and separately simultaneous HTTP requests;
    /// more get HTTP status 429.
    pub max_connections: u32,
    /// Simultaneous TCP connections from one IP address; more are closed at once.
    pub max_connections_per_ip: u32,
    /// Connections silent in both directions for this long are closed (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// Largest request body in bytes; larger ones get error -32007 (HTTP: status 413).
    pub max_request_size: u32,
    /// Largest response body in bytes; larger ones get error -32008.
    pub max_response_size: u32,
    /// Subscriptions per WebSocket connection; more get error -32006.
    pub max_subscriptions_per_connection: u32,
    /// Which methods are served.
    pub methods: RpcMethods,
    /// Cross-origin policy (see [`Cors`]).
    pub cors: Cors,
}

impl Default for RpcConfig {
    fn default() -> Self {
        RpcConfig {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            max_request_size: DEFAULT_MAX_PAYLOAD,
            max_response_size: DEFAULT_MAX_PAYLOAD,
            max_subscriptions_per_connection: DEFAULT_MAX_SUBSCRIPTIONS,
            methods: RpcMethods::Auto,
            cors: Cors::All,
        }
    }
}

/// A running server. Dropping it stops the server, as [`RpcHandle::stop`] does.
#[derive(Debug)]
pub struct RpcHandle {
    local_addr: SocketAddr,
    handle: ServerHandle,
}

impl RpcHandle {
    /// The address the server listens on (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Asks the server to stop; open connections are closed. Calling it twice is harmless.
    pub fn stop(&self) {
        let _ = self.handle.stop();
    }

    /// Waits until the server has stopped.
    pub async fn stopped(self) {
        self.handle.stopped().await
    }
}

/// Starts the JSON-RPC server over `api` and returns once it listens.
pub async fn start_server(config: RpcConfig, api: Arc<dyn NodeApi>) -> Result<RpcHandle, RpcError> {
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| RpcError::Bind {
            addr: config.addr,
            source,
        })?;
    let local_addr = listener.local_addr()?;
    let allow_unsafe = config.methods.allows_unsafe(&local_addr);
    let methods: Methods = rpc_module(api, allow_unsafe)?.into();
    let server_config = |limit: u32| {
        ServerConfig::builder()
            .max_connections(limit)
            .max_request_body_size(config.max_request_size)
            .max_response_body_size(config.max_response_size)
            .max_subscriptions_per_connection(config.max_subscriptions_per_connection)
            .build()
    };
    // Two builders, two connection guards: WebSockets and HTTP requests never share slots.
    let services = Services {
        websocket: Server::builder()
            .set_config(server_config(config.max_connections))
            .to_service_builder(),
        http: Server::builder()
            .set_config(server_config(config.max_connections))
            .to_service_builder(),
        methods,
    };
    let (stop_handle, server_handle) = stop_channel();
    let limits = ConnectionLimits {
        // Every WebSocket and every concurrent HTTP request needs a socket, plus room for
        // sockets that have not sent their first request yet.
        max_total: (config.max_connections as usize).saturating_mul(2).max(1),
        max_per_ip: config.max_connections_per_ip.max(1) as usize,
        idle_timeout: config.idle_timeout,
    };
    tokio::spawn(accept_loop(listener, services, limits, stop_handle));
    tracing::info!(target: "rpc", %local_addr, methods = ?config.methods, allow_unsafe, max_connections = config.max_connections, max_connections_per_ip = config.max_connections_per_ip, idle_timeout = ?config.idle_timeout, "JSON-RPC server listening (HTTP and WebSocket)");
    Ok(RpcHandle {
        local_addr,
        handle: server_handle,
    })
}

#[derive(Clone)]
struct Services {
    websocket: TowerServiceBuilder<Identity, Identity>,
    http: TowerServiceBuilder<Identity, Identity>,
    methods: Methods,
}

#[derive(Clone, Copy)]
struct ConnectionLimits {
    max_total: usize,
    max_per_ip: usize,
    idle_timeout: Option<Duration>,
}

/// Open TCP connections, in total and per remote IP.
#[derive(Default)]
struct OpenConnections {
    total: usize,
    per_ip: BTreeMap<IpAddr, usize>,
}

/// Releases a connection's place in [`OpenConnections`] when the connection ends.
struct ConnectionSlot {
    open: Arc<Mutex<OpenConnections>>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.open);
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.per_ip.remove(&self.ip);
            }
        }
    }
}

fn lock(m: &Mutex<OpenConnections>) -> std::sync::MutexGuard<'_, OpenConnections> {
    // The counters stay consistent even if a holder panicked: take them as they are.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn try_open(
    open: &Arc<Mutex<OpenConnections>>,
    ip: IpAddr,
    limits: &ConnectionLimits,
) -> Result<ConnectionSlot, &'static str> {
    let mut guard = lock(open);
    if guard.total >= limits.max_total {
        return Err("server connection limit reached");
    }
    let from_ip = guard.per_ip.get(&ip).copied().unwrap_or(0);
    if from_ip >= limits.max_per_ip {
        return Err("per-IP connection limit reached");
    }
    guard.total += 1;
    guard.per_ip.insert(ip, from_ip + 1);
    Ok(ConnectionSlot {
        open: open.clone(),
        ip,
    })
}

async fn accept_loop(
    listener: TcpListener,
    services: Services,
    limits: ConnectionLimits,
    stop_handle: StopHandle,
) {
    let open = Arc::new(Mutex::new(OpenConnections::default()));
    loop {
        let (socket, remote) = tokio::select! {
            res = listener.accept() => match res {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(target: "rpc", "accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop_handle.clone().shutdown() => break,
        };
        let slot = match try_open(&open, remote.ip(), &limits) {
            Ok(slot) => slot,
            Err(why) => {
                tracing::debug!(target: "rpc", %remote, "refusing connection: {why}");
                drop(socket);
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let io = match ActivityStream::new(socket, slot) {
            Ok(io) => io,
            Err(e) => {
                tracing::debug!(target: "rpc", %remote, "refusing connection: {e}");
                continue;
            }
        };
        if let Some(timeout) = limits.idle_timeout {
            tokio::spawn(close_when_idle(Arc::downgrade(&io.conn), timeout, remote));
        }
        let service = Router {
            services: services.clone(),
            stop: stop_handle.clone(),
        };
        let shutdown = stop_handle.clone().shutdown();
        tokio::spawn(async move {
            // For a WebSocket this ends at the upgrade; the upgraded stream (still this
            // `ActivityStream`, holding the connection's slot) lives on in jsonrpsee's task.
            if let Err(e) = serve_with_graceful_shutdown(io, service, shutdown).await {
                tracing::trace!(target: "rpc", %remote, "connection ended: {e}");
            }
        });
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
type ResponseFuture =
    Pin<Box<dyn std::future::Future<Output = Result<HttpResponse, BoxError>> + Send>>;

/// One connection's service: hands each request to jsonrpsee through the WebSocket or the
/// HTTP service builder, so each kind draws on its own connection guard.
#[derive(Clone)]
struct Router {
    services: Services,
    stop: StopHandle,
}

impl Service<HttpRequest<Incoming>> for Router {
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: HttpRequest<Incoming>) -> Self::Future {
        let builder = if ws::is_upgrade_request(&req) {
            self.services.websocket.clone()
        } else {
            self.services.http.clone()
        };
        let mut svc = builder.build(self.services.methods.clone(), self.stop.clone());
        async move { svc.call(req).await }.boxed()
    }
}

/// Shuts the connection down once it has been silent in both directions for `timeout`;
/// returns early when the connection is gone.
async fn close_when_idle(conn: Weak<Connection>, timeout: Duration, remote: SocketAddr) {
    loop {
        let Some(c) = conn.upgrade() else { return };
        let last = Duration::from_millis(c.activity.load(Ordering::Relaxed));
        let silent_for = c.started.elapsed().saturating_sub(last);
        if silent_for >= timeout {
            tracing::debug!(target: "rpc", %remote, "closing connection idle for {} s", silent_for.as_secs());
            let _ = c.shutdown_handle.shutdown(std::net::Shutdown::Both);
            return;
        }
        drop(c);
        tokio::time::sleep(timeout - silent_for).await;
    }
}

/// What the idle watcher shares with a connection's stream.
struct Connection {
    /// Milliseconds since `started` when bytes last moved in either direction.
    activity: AtomicU64,
    started: Instant,
    /// A second handle on the socket, to shut it down from outside: jsonrpsee owns the
    /// stream once a WebSocket is upgraded.
    shutdown_handle: std::net::TcpStream,
}

/// A TCP stream that records when bytes last moved in either direction, so that idle
/// connections can be told apart from quiet subscribers, and that holds the connection's
/// place in the limits until it is dropped (after a WebSocket upgrade, by jsonrpsee).
struct ActivityStream {
    inner: TcpStream,
    conn: Arc<Connection>,
    _slot: ConnectionSlot,
}

impl ActivityStream {
    fn new(socket: TcpStream, slot: ConnectionSlot) -> std::io::Result<Self> {
        let std_stream = socket.into_std()?;
        let shutdown_handle = std_stream.try_clone()?;
        Ok(ActivityStream {
            inner: TcpStream::from_std(std_stream)?,
            conn: Arc::new(Connection {
                activity: AtomicU64::new(0),
                started: Instant::now(),
                shutdown_handle,
            }),
            _slot: slot,
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.conn.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.conn.activity.store(ms, Ordering::Relaxed);
    }
}

impl Drop for ActivityStream {
    fn drop(&mut self) {
        // The second handle would keep the socket open: close the connection now.
        let _ = self.conn.shutdown_handle.shutdown(std::net::Shutdown::Both);
    }
}

impl AsyncRead for ActivityStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        res
    }
}

impl AsyncWrite for ActivityStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        res
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let res = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        res
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn auto_allows_unsafe_only_on_loopback() {
        let local: SocketAddr = "127.0.0.1:9944".parse().unwrap();
        let local6: SocketAddr = "[::1]:9944".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:9944".parse().unwrap();
        let public: SocketAddr = "192.0.2.1:9944".parse().unwrap();
        assert!(RpcMethods::Auto.allows_unsafe(&local));
        assert!(RpcMethods::Auto.allows_unsafe(&local6));
        assert!(!RpcMethods::Auto.allows_unsafe(&any));
        assert!(!RpcMethods::Auto.allows_unsafe(&public));
        assert!(RpcMethods::Unsafe.allows_unsafe(&any));
        assert!(!RpcMethods::Safe.allows_unsafe(&local));
        assert_eq!("Unsafe".parse::<RpcMethods>().unwrap(), RpcMethods::Unsafe);
        assert!("maybe".parse::<RpcMethods>().is_err());
        let d = RpcConfig::default();
        assert_eq!(d.addr, local);
        assert_eq!(
            (d.max_connections, d.max_request_size),
            (100, 15 * 1024 * 1024)
        );
        assert_eq!(d.max_subscriptions_per_connection, 1024);
    }
}
