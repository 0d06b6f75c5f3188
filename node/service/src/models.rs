//! The node's model files: the store under `<chain path>/models`, chunks served to peers,
//! and downloads from peers. The store and the download logic live in
//! `menara-model-store`; this module connects them to the network and to the registry.
use menara_model_store::fetch::{fetch, ChunkSource, FetchConfig};
use menara_model_store::{
    ChunkRequest, ChunkResponse, ModelMeta, ModelStore, StoredModel, MAX_MODEL_BYTES,
};
use menara_network::{Misbehaviour, ModelChunkRequest, ModelChunkResponse, NetworkHandle, PeerId};
use menara_primitives::H256;
use menara_rpc::{ApiError, ModelFetchState, ModelFetchStatus};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

/// Model files held by this node and the downloads it runs.
pub struct ModelFiles {
    store: ModelStore,
    network: Mutex<Option<NetworkHandle>>,
    fetches: Arc<Mutex<BTreeMap<H256, ModelFetchStatus>>>,
    /// TEST ONLY: corrupt every served chunk (to exercise peer penalties end to end).
    corrupt_served_chunks: bool,
}

impl ModelFiles {
    /// Opens (or creates) the store in `dir`.
    pub fn open(
        dir: &Path,
        corrupt_served_chunks: bool,
    ) -> Result<Self, menara_model_store::Error> {
        Ok(ModelFiles {
            store: ModelStore::open(dir)?,
            network: Mutex::new(None),
            fetches: Arc::new(Mutex::new(BTreeMap::new())),
            corrupt_served_chunks,
        })
    }

    /// The network that downloads use (set when networking runs).
    pub fn set_network(&self, network: NetworkHandle) {
        *self.network.lock() = Some(network);
    }

    /// Whether the store holds model `id`.
    pub fn held(&self, id: &H256) -> bool {
        self.store.has(&id.0)
    }

    /// Imports `bytes` as the registered model `meta` (checked against it).
    pub fn import(&self, bytes: &[u8], meta: &ModelMeta) -> Result<StoredModel, ApiError> {
        self.store
            .import_bytes(bytes, Some(meta))
            .map_err(|e| ApiError::InvalidArgument(e.to_string()))
    }

    /// Answers a peer's chunk request from the store (blocking: reads the file).
    pub fn serve(&self, request: ModelChunkRequest) -> ModelChunkResponse {
        let request = ChunkRequest {
            id: request.model,
            offset: request.offset,
            len: request.len,
        };
        match self.store.serve(&request) {
            ChunkResponse::Slice(mut encoded) => {
                if self.corrupt_served_chunks && !encoded.is_empty() {
                    let middle = encoded.len() / 2;
                    encoded[middle] ^= 0x55;
                }
                ModelChunkResponse::Data(encoded)
            }
            ChunkResponse::NotFound | ChunkResponse::BadRequest => ModelChunkResponse::NotFound,
        }
    }

    /// The latest download of `id`, or `done` when the store holds it.
    pub fn status(&self, id: &H256) -> Option<ModelFetchStatus> {
        if let Some(s) = self.fetches.lock().get(id) {
            return Some(s.clone());
        }
        self.stored_status(id)
    }

    /// `done`, when the store holds `id`.
    fn stored_status(&self, id: &H256) -> Option<ModelFetchStatus> {
        self.store.meta(&id.0).ok().map(|meta| ModelFetchStatus {
            id: *id,
            state: ModelFetchState::Done,
            verified: meta.size,
            total: meta.size,
            path: self.store.path(&id.0).map(|p| p.display().to_string()),
            error: None,
        })
    }

    /// Starts downloading the registered model `meta` from peers, unless the store holds it
    /// or a download of it is running; returns where it stands.
    pub fn start_fetch(&self, meta: ModelMeta) -> Result<ModelFetchStatus, ApiError> {
        let id = H256(meta.id);
        if let Some(done) = self.stored_status(&id) {
            return Ok(done);
        }
        let network = self.network.lock().clone().ok_or_else(|| {
            ApiError::InvalidArgument("this node has no network to fetch models from".into())
        })?;
        let mut fetches = self.fetches.lock();
        if let Some(s) = fetches.get(&id) {
            if s.state == ModelFetchState::Downloading {
                return Ok(s.clone());
            }
        }
        let download = self
            .store
            .download(meta, MAX_MODEL_BYTES)
            .map_err(|e| ApiError::InvalidArgument(e.to_string()))?;
        let status = ModelFetchStatus {
            id,
            state: ModelFetchState::Downloading,
            verified: 0,
            total: meta.size,
            path: None,
            error: None,
        };
        fetches.insert(id, status.clone());
        drop(fetches);
        let table = self.fetches.clone();
        tokio::spawn(async move {
            let source = NetworkSource { network };
            let progress_table = table.clone();
            let result = fetch(download, &source, FetchConfig::default(), move |p| {
                if let Some(s) = progress_table.lock().get_mut(&id) {
                    s.verified = p.verified;
                }
            })
            .await;
            let mut table = table.lock();
            let Some(s) = table.get_mut(&id) else { return };
            match result {
                Ok(stored) => {
                    tracing::info!(target: "menara", "📦 model {id} fetched and verified ({} bytes)", stored.meta.size);
                    s.state = ModelFetchState::Done;
                    s.verified = stored.meta.size;
                    s.path = Some(stored.path.display().to_string());
                }
                Err(e) => {
                    tracing::warn!(target: "menara", "fetching model {id} failed: {e}");
                    s.state = ModelFetchState::Failed;
                    s.error = Some(e.to_string());
                }
            }
        });
        tracing::info!(target: "menara", "fetching model {id} ({} bytes) from peers", meta.size);
        Ok(status)
    }
}

/// The libp2p network as a source of model chunks.
struct NetworkSource {
    network: NetworkHandle,
}

impl ChunkSource for NetworkSource {
    type Peer = PeerId;

    fn peers(&self) -> impl Future<Output = Vec<PeerId>> + Send {
        let network = self.network.clone();
        async move {
            network
                .peers()
                .await
                .map(|peers| peers.into_iter().map(|p| p.peer_id).collect())
                .unwrap_or_default()
        }
    }

    fn request(
        &self,
        peer: PeerId,
        request: ChunkRequest,
    ) -> impl Future<Output = Result<ChunkResponse, String>> + Send {
        let network = self.network.clone();
        async move {
            let request = ModelChunkRequest {
                model: request.id,
                offset: request.offset,
                len: request.len,
            };
            match network.request_model_chunk(peer, request).await {
                Ok(ModelChunkResponse::Data(encoded)) => Ok(ChunkResponse::Slice(encoded)),
                Ok(ModelChunkResponse::NotFound) => Ok(ChunkResponse::NotFound),
                Ok(ModelChunkResponse::Refused(reason)) => Err(format!("refused: {reason:?}")),
                Err(e) => Err(e.to_string()),
            }
        }
    }

    fn penalise(&self, peer: &PeerId, _error: &menara_model_store::Error) {
        let _ = self.network.report(*peer, Misbehaviour::BadModelChunk);
    }
}
