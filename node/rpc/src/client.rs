//! A typed client for the wallet and tools: each function makes one call and parses the
//! answer back into the primitives' types. Errors read as sentences, e.g.
//! `invalid transaction: bad signature ... (RPC error 1010)`.
//!
//! Works over any jsonrpsee client ([`connect`] gives a WebSocket one; an
//! `HttpClient` works for everything but [`submit_and_watch`]).
use crate::api::{ReadProof, TransactionStatus};
use crate::types::{to_hex, AccountJson, Bytes, ReadProofJson};
use futures::Stream;
use jsonrpsee::core::client::{
    ClientT, Subscription, SubscriptionClientT, SubscriptionCloseReason,
};
use jsonrpsee::core::ClientError as JsonRpcError;
use jsonrpsee::http_client::transport::Error as HttpTransportError;
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use menara_primitives::trie::{verify_proof, StateProof};
use menara_primitives::{
    AccountId, AccountInfo, Balance, BlockNumber, Header, RuntimeVersion, H256,
};
use parity_scale_codec::Decode;

/// Why a client call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The node answered with an error (see [`crate::error`] for the codes).
    #[error("{message} (RPC error {code})")]
    Rpc {
        /// JSON-RPC error code.
        code: i32,
        /// The node's explanation.
        message: String,
    },
    /// The node could not be reached or the connection failed.
    #[error("cannot talk to the node: {0}")]
    Transport(String),
    /// The node answered something this client does not understand.
    #[error("unexpected answer from the node: {0}")]
    InvalidResponse(String),
    /// The node has no such item (e.g. no genesis block).
    #[error("not found: {0}")]
    NotFound(String),
}

impl From<JsonRpcError> for ClientError {
    fn from(e: JsonRpcError) -> Self {
        match e {
            JsonRpcError::Call(obj) => {
                let mut message = obj.message().to_owned();
                if let Some(data) = obj.data() {
                    message = format!("{message}: {}", data.get());
                }
                ClientError::Rpc { code: obj.code(), message }
            }
            JsonRpcError::ParseError(e) => ClientError::InvalidResponse(e.to_string()),
            JsonRpcError::RequestTimeout => ClientError::Transport("request timed out".into()),
            JsonRpcError::Transport(e) => match e.downcast_ref::<HttpTransportError>() {
                Some(HttpTransportError::Rejected { status_code: 413 }) => ClientError::Transport(
                    "the node refused the request as too large (HTTP 413, over its request size limit)".into(),
                ),
                Some(HttpTransportError::Rejected { status_code: 429 }) => {
                    ClientError::Transport("the node has too many connections (HTTP 429); try again later".into())
                }
                _ => ClientError::Transport(e.to_string()),
            },
            JsonRpcError::RestartNeeded(inner) => match &*inner {
                // The server answered with a null id: it could not read the request at all,
                // most often because it was over the node's request size limit.
                JsonRpcError::InvalidRequestId(_) => ClientError::Transport(
                    "the node refused a request it could not read (most likely over its request size \
                     limit) and the connection was closed"
                        .into(),
                ),
                other => ClientError::Transport(format!("connection lost: {other}")),
            },
            other => ClientError::Transport(other.to_string()),
        }
    }
}

type Res<T> = Result<T, ClientError>;

/// Opens a WebSocket connection (`ws://host:port`) with the server's default size limits.
pub async fn connect(url: &str) -> Res<WsClient> {
    WsClientBuilder::default()
        .max_request_size(crate::server::DEFAULT_MAX_PAYLOAD)
        .max_response_size(crate::server::DEFAULT_MAX_PAYLOAD)
        .build(url)
        .await
        .map_err(|e| ClientError::Transport(format!("{url}: {e}")))
}

/// Hash of the block at `number` (`None`: best block); `None` if there is none.
pub async fn block_hash<C: ClientT + Sync>(
    c: &C,
    number: Option<BlockNumber>,
) -> Res<Option<H256>> {
    Ok(c.request("chain_getBlockHash", rpc_params![number]).await?)
}

/// The chain's genesis hash (which transactions sign).
pub async fn genesis_hash<C: ClientT + Sync>(c: &C) -> Res<H256> {
    block_hash(c, Some(0))
        .await?
        .ok_or_else(|| ClientError::NotFound("the node has no genesis block".into()))
}

/// Hash of the last final block.
pub async fn finalized_head<C: ClientT + Sync>(c: &C) -> Res<H256> {
    Ok(c.request("chain_getFinalizedHead", rpc_params![]).await?)
}

/// Header of `at` (`None`: best block).
pub async fn header<C: ClientT + Sync>(c: &C, at: Option<H256>) -> Res<Option<Header>> {
    Ok(c.request("chain_getHeader", rpc_params![at]).await?)
}

/// Next nonce of `account`, counting its pooled transactions.
pub async fn account_next_index<C: ClientT + Sync>(c: &C, account: &AccountId) -> Res<u64> {
    Ok(c.request("system_accountNextIndex", rpc_params![account])
        .await?)
}

/// Nonce and free balance of `account` at the best block.
pub async fn account<C: ClientT + Sync>(c: &C, account: &AccountId) -> Res<AccountInfo> {
    let a: AccountJson = c
        .request("balances_getAccount", rpc_params![account])
        .await?;
    Ok(AccountInfo {
        nonce: a.nonce,
        free: a.free,
    })
}

/// Total issuance at the best block.
pub async fn total_issuance<C: ClientT + Sync>(c: &C) -> Res<Balance> {
    let s: String = c.request("balances_totalIssuance", rpc_params![]).await?;
    s.parse().map_err(|e| {
        ClientError::InvalidResponse(format!("total issuance {s:?} is not a decimal u128: {e}"))
    })
}

/// Runtime version at `at` (`None`: best block).
pub async fn runtime_version<C: ClientT + Sync>(c: &C, at: Option<H256>) -> Res<RuntimeVersion> {
    Ok(c.request("state_getRuntimeVersion", rpc_params![at])
        .await?)
}

/// Raw storage value of `key` at `at`.
pub async fn storage<C: ClientT + Sync>(
    c: &C,
    key: &[u8],
    at: Option<H256>,
) -> Res<Option<Vec<u8>>> {
    let v: Option<Bytes> = c
        .request("state_getStorage", rpc_params![to_hex(key), at])
        .await?;
    Ok(v.map(|b| b.0))
}

/// A read-only runtime query (`state_call`): SCALE args in, SCALE result out.
pub async fn query<C: ClientT + Sync>(
    c: &C,
    method: &str,
    args: &[u8],
    at: Option<H256>,
) -> Res<Vec<u8>> {
    let v: Bytes = c
        .request("state_call", rpc_params![method, to_hex(args), at])
        .await?;
    Ok(v.0)
}

/// Values and proofs for `keys` at `at`. Each proof is checked against the state root the
/// node names; compare that root with a header you trust to trust the values.
pub async fn read_proof<C: ClientT + Sync>(
    c: &C,
    keys: &[Vec<u8>],
    at: Option<H256>,
) -> Res<ReadProof> {
    let hex_keys: Vec<String> = keys.iter().map(|k| to_hex(k)).collect();
    let json: ReadProofJson = c
        .request("state_getReadProof", rpc_params![hex_keys, at])
        .await?;
    if json.proof.len() != keys.len() {
        return Err(ClientError::InvalidResponse(format!(
            "{} proof entries for {} keys",
            json.proof.len(),
            keys.len()
        )));
    }
    let mut entries = Vec::with_capacity(json.proof.len());
    for (entry, asked) in json.proof.into_iter().zip(keys) {
        if entry.key.0 != *asked {
            return Err(ClientError::InvalidResponse(format!(
                "proof for key {} out of order",
                to_hex(&entry.key.0)
            )));
        }
        let proof = StateProof::decode(&mut &entry.proof.0[..]).map_err(|e| {
            ClientError::InvalidResponse(format!(
                "proof for key {} does not decode: {e}",
                to_hex(asked)
            ))
        })?;
        let value = entry.value.map(|v| v.0);
        verify_proof(&json.state_root, asked, value.as_deref(), &proof).map_err(|e| {
            ClientError::InvalidResponse(format!(
                "proof for key {} does not verify: {e}",
                to_hex(asked)
            ))
        })?;
        entries.push((entry.key.0, value, proof));
    }
    Ok(ReadProof {
        at: json.at,
        state_root: json.state_root,
        entries,
    })
}

/// The outcome of an included transaction (`None` if the node does not know it).
pub async fn transaction_outcome<C: ClientT + Sync>(
    c: &C,
    hash: &H256,
) -> Res<Option<crate::TransactionOutcome>> {
    Ok(c.request("author_transactionOutcome", rpc_params![hash])
        .await?)
}

/// Submits an encoded transaction; returns its hash.
pub async fn submit<C: ClientT + Sync>(c: &C, extrinsic: &[u8]) -> Res<H256> {
    Ok(
        c.request("author_submitExtrinsic", rpc_params![to_hex(extrinsic)])
            .await?,
    )
}

/// Submits an encoded transaction and watches it. An invalid transaction fails here,
/// with the node's reason.
pub async fn submit_and_watch<C: SubscriptionClientT + Sync>(
    c: &C,
    extrinsic: &[u8],
) -> Res<TransactionWatch> {
    let sub = c
        .subscribe(
            "author_submitAndWatchExtrinsic",
            rpc_params![to_hex(extrinsic)],
            "author_unwatchExtrinsic",
        )
        .await?;
    Ok(TransactionWatch { sub: Some(sub) })
}

/// Status updates of a watched transaction; ends after a final status.
pub struct TransactionWatch {
    sub: Option<Subscription<TransactionStatus>>,
}

impl std::fmt::Debug for TransactionWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionWatch")
            .field("done", &self.sub.is_none())
            .finish()
    }
}

impl TransactionWatch {
    /// The next status; `None` after a final one or when the connection closes.
    pub async fn next(&mut self) -> Option<Res<TransactionStatus>> {
        let sub = self.sub.as_mut()?;
        match sub.next().await {
            Some(Ok(status)) => {
                if status.is_final() {
                    self.sub = None;
                }
                Some(Ok(status))
            }
            Some(Err(e)) => Some(Err(ClientError::InvalidResponse(format!(
                "transaction status: {e}"
            )))),
            None => {
                let reason = match sub.close_reason() {
                    Some(SubscriptionCloseReason::Lagged) => "this client fell behind",
                    _ => "the connection or subscription was closed",
                };
                self.sub = None;
                Some(Err(ClientError::Transport(format!(
                    "watch ended before a final status: {reason}"
                ))))
            }
        }
    }

    /// Waits for the final status (`Finalized`, `Usurped`, `Dropped` or `Invalid`).
    pub async fn wait_final(mut self) -> Res<TransactionStatus> {
        let mut last = None;
        while let Some(status) = self.next().await {
            last = Some(status?);
        }
        match last {
            Some(s) if s.is_final() => Ok(s),
            _ => Err(ClientError::Transport(
                "connection closed before a final status".into(),
            )),
        }
    }

    /// As a stream.
    pub fn into_stream(self) -> impl Stream<Item = Res<TransactionStatus>> + Send {
        futures::stream::unfold(self, |mut w| async move { w.next().await.map(|s| (s, w)) })
    }
}
