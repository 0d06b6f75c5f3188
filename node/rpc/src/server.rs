//! Configuration, start and stop of the server (HTTP and WebSocket on one port).
use crate::api::NodeApi;
use crate::error::RpcError;
use crate::methods::rpc_module;
use jsonrpsee::server::{Server, ServerConfig, ServerHandle};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// Default RPC port (as Substrate).
pub const DEFAULT_PORT: u16 = 9944;
/// Default cap on simultaneous connections (HTTP and WebSocket together).
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

/// Server settings; `Default` gives Substrate's defaults on 127.0.0.1:9944.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcConfig {
    /// Listening address; port 0 picks a free port (see [`RpcHandle::local_addr`]).
    pub addr: SocketAddr,
    /// Simultaneous connections; more are refused.
    pub max_connections: u32,
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
    let server_config = ServerConfig::builder()
        .max_connections(config.max_connections)
        .max_request_body_size(config.max_request_size)
        .max_response_body_size(config.max_response_size)
        .max_subscriptions_per_connection(config.max_subscriptions_per_connection)
        .build();
    let server = Server::builder()
        .set_config(server_config)
        .build(config.addr)
        .await
        .map_err(|source| RpcError::Bind {
            addr: config.addr,
            source,
        })?;
    let local_addr = server.local_addr()?;
    let allow_unsafe = config.methods.allows_unsafe(&local_addr);
    let module = rpc_module(api, allow_unsafe)?;
    let handle = server.start(module);
    tracing::info!(target: "rpc", %local_addr, methods = ?config.methods, allow_unsafe, "JSON-RPC server listening (HTTP and WebSocket)");
    Ok(RpcHandle { local_addr, handle })
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
