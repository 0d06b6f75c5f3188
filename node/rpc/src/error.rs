//! Errors of the server and the JSON-RPC error codes it answers with.
//!
//! | code   | meaning                                                      | source |
//! | ------ | ------------------------------------------------------------ | ------ |
//! | -32700 | parse error (body is not JSON)                                | jsonrpsee |
//! | -32600 | invalid request (not a JSON-RPC 2.0 object)                   | jsonrpsee |
//! | -32601 | method not found; also unsafe methods refused by `--rpc-methods` | jsonrpsee / here |
//! | -32602 | invalid params: bad hex, wrong length, missing or extra params, too many keys; `ApiError::InvalidArgument` | here |
//! | -32603 | internal error (`ApiError::Internal`, a node task failed)      | here |
//! | -32006 | too many subscriptions on the connection                      | jsonrpsee |
//! | -32007 | request too big (over `max_request_size`; HTTP answers 413)   | jsonrpsee |
//! | -32008 | response too big (over `max_response_size`)                   | jsonrpsee |
//! | 1010   | invalid transaction (`ApiError::InvalidTransaction`)          | here, as Substrate |
//! | 1012   | transaction pool refused it, other reasons (`ApiError::Pool`) | here |
//! | 1013   | pool: already imported / duplicate (`ApiError::Pool`, text says "already"/"duplicate") | here, as Substrate |
//! | 1014   | pool: priority too low / replacement too cheap (`ApiError::Pool`, text says "too low"/"cheap"/"underpriced") | here, as Substrate |
//! | 1016   | pool: full, immediately dropped (`ApiError::Pool`, text says "full") | here, as Substrate |
//! | 4003   | unknown block (`ApiError::UnknownBlock`)                      | here |
//! | 4004   | state of that block no longer kept (`ApiError::StateUnavailable`) | here |
//! | 4010   | runtime call failed (`ApiError::Runtime`)                     | here |
//!
//! Every message is the human-readable text of the failure (e.g. `invalid hex in parameter
//! `key`: odd number of hex digits (3)`), so clients can show it as is.
use crate::api::ApiError;
use jsonrpsee::types::error::{
    ErrorObject, ErrorObjectOwned, INTERNAL_ERROR_CODE, INVALID_PARAMS_CODE, METHOD_NOT_FOUND_CODE,
};
use std::net::SocketAddr;

/// `ApiError::InvalidTransaction`.
pub const INVALID_TRANSACTION: i32 = 1010;
/// `ApiError::Pool`, no more specific code.
pub const POOL_REFUSED: i32 = 1012;
/// `ApiError::Pool`: already in the pool.
pub const POOL_ALREADY_IMPORTED: i32 = 1013;
/// `ApiError::Pool`: fee too low (e.g. replacement too cheap).
pub const POOL_TOO_LOW_PRIORITY: i32 = 1014;
/// `ApiError::Pool`: pool full.
pub const POOL_IMMEDIATELY_DROPPED: i32 = 1016;
/// `ApiError::UnknownBlock`.
pub const UNKNOWN_BLOCK: i32 = 4003;
/// `ApiError::StateUnavailable`.
pub const STATE_UNAVAILABLE: i32 = 4004;
/// `ApiError::Runtime`.
pub const RUNTIME_CALL_FAILED: i32 = 4010;
/// Invalid params (JSON-RPC standard).
pub const INVALID_PARAMS: i32 = INVALID_PARAMS_CODE;
/// Internal error (JSON-RPC standard).
pub const INTERNAL_ERROR: i32 = INTERNAL_ERROR_CODE;
/// Method not found (JSON-RPC standard); also used for unsafe methods that are disabled.
pub const METHOD_NOT_FOUND: i32 = METHOD_NOT_FOUND_CODE;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The listening socket could not be opened.
    #[error("cannot listen for RPC on {addr}: {source}")]
    Bind {
        /// The requested address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A method could not be registered (a name used twice: a bug).
    #[error("cannot register RPC method: {0}")]
    Register(String),
    /// Another I/O failure.
    #[error("RPC server I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<jsonrpsee::core::RegisterMethodError> for RpcError {
    fn from(e: jsonrpsee::core::RegisterMethodError) -> Self {
        RpcError::Register(e.to_string())
    }
}

/// The JSON-RPC error code for an [`ApiError`].
pub fn api_error_code(e: &ApiError) -> i32 {
    match e {
        ApiError::InvalidTransaction(_) => INVALID_TRANSACTION,
        ApiError::Pool(msg) => pool_code(msg),
        ApiError::UnknownBlock(_) => UNKNOWN_BLOCK,
        ApiError::StateUnavailable(_) => STATE_UNAVAILABLE,
        ApiError::Runtime(_) => RUNTIME_CALL_FAILED,
        ApiError::InvalidArgument(_) => INVALID_PARAMS,
        ApiError::Internal(_) => INTERNAL_ERROR,
    }
}

fn pool_code(msg: &str) -> i32 {
    let m = msg.to_ascii_lowercase();
    if m.contains("already") || m.contains("duplicate") {
        POOL_ALREADY_IMPORTED
    } else if m.contains("too low") || m.contains("cheap") || m.contains("underpriced") {
        POOL_TOO_LOW_PRIORITY
    } else if m.contains("full") {
        POOL_IMMEDIATELY_DROPPED
    } else {
        POOL_REFUSED
    }
}

/// The JSON-RPC error for an [`ApiError`]: its code and its text.
pub fn api_error(e: ApiError) -> ErrorObjectOwned {
    ErrorObject::owned(api_error_code(&e), e.to_string(), None::<()>)
}

/// An invalid-params error with this message.
pub fn invalid_params(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(INVALID_PARAMS, msg.into(), None::<()>)
}

/// An internal error with this message.
pub fn internal(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(INTERNAL_ERROR, msg.into(), None::<()>)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_error_gets_a_distinct_code() {
        let errors = [
            ApiError::InvalidTransaction("x".into()),
            ApiError::Pool("x".into()),
            ApiError::UnknownBlock("x".into()),
            ApiError::StateUnavailable("x".into()),
            ApiError::Runtime("x".into()),
            ApiError::InvalidArgument("x".into()),
            ApiError::Internal("x".into()),
        ];
        let mut codes: Vec<i32> = errors.iter().map(api_error_code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
        assert_eq!(
            api_error_code(&ApiError::Pool("transaction already imported".into())),
            1013
        );
        assert_eq!(
            api_error_code(&ApiError::Pool("replacement too cheap".into())),
            1014
        );
        assert_eq!(api_error_code(&ApiError::Pool("pool is full".into())), 1016);
        let obj = api_error(ApiError::UnknownBlock("0x12".into()));
        assert_eq!(obj.code(), 4003);
        assert_eq!(obj.message(), "unknown block: 0x12");
    }
}
