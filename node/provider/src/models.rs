//! The models the workers run: read from the node's model store through [`Chain`],
//! fetched from peers when missing, parsed once and kept per model id.
use crate::{Chain, ProviderError};
use gpu_verify::format::ModelFile;
use gpu_verify::model::Model;
use menara_primitives::{BlockNumber, H256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most parsed models kept at once (the least recently used is dropped first).
pub const MAX_CACHED_MODELS: usize = 4;
/// Blocks between two requests to fetch a missing model, or two tries to load a model
/// whose file did not parse.
pub const RETRY_BLOCKS: BlockNumber = 10;

/// A model file and the typed model built from it.
pub struct LoadedModel {
    /// Its content id.
    pub id: H256,
    /// The file (its tensors open a layer for a dispute).
    pub file: ModelFile,
    /// The typed model the engine runs.
    pub model: Model,
}

impl LoadedModel {
    /// Parses model file `bytes` and checks that they are model `id`.
    pub fn parse(id: H256, bytes: &[u8]) -> Result<Self, ProviderError> {
        let file = ModelFile::from_bytes(bytes)
            .map_err(|e| ProviderError::Model(format!("model {id}: {e}")))?;
        let actual = H256(file.content_hash());
        if actual != id {
            return Err(ProviderError::Model(format!(
                "the store's file for model {id} has content id {actual}"
            )));
        }
        let model = Model::from_file(&file)
            .map_err(|e| ProviderError::Model(format!("model {id}: {e}")))?;
        Ok(LoadedModel { id, file, model })
    }

    /// Number of committed layers.
    pub fn layer_count(&self) -> usize {
        self.model.layer_count()
    }
}

#[derive(Default)]
struct Cache {
    loaded: HashMap<H256, (Arc<LoadedModel>, u64)>,
    /// Block of the last fetch request, per missing model.
    requested: HashMap<H256, BlockNumber>,
    /// Block of the last failed load, per model.
    failed: HashMap<H256, BlockNumber>,
    tick: u64,
}

/// The parsed models, shared by the workers of one node.
pub struct Models<C: Chain> {
    chain: Arc<C>,
    cache: Mutex<Cache>,
}

impl<C: Chain> Models<C> {
    /// An empty cache reading from `chain`'s model store.
    pub fn new(chain: Arc<C>) -> Arc<Self> {
        Arc::new(Models {
            chain,
            cache: Mutex::new(Cache::default()),
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Model `id`, parsed, if the node holds its file. When it does not, asks the node to
    /// fetch it from peers (at most every [`RETRY_BLOCKS`] blocks) and returns `None`: the
    /// caller tries again on a later block. A file that does not load is an error once,
    /// then `None` until it is tried again [`RETRY_BLOCKS`] blocks later.
    pub async fn get(
        &self,
        id: H256,
        number: BlockNumber,
    ) -> Result<Option<Arc<LoadedModel>>, ProviderError> {
        {
            let mut cache = self.cache();
            cache.tick += 1;
            let tick = cache.tick;
            if let Some((model, used)) = cache.loaded.get_mut(&id) {
                *used = tick;
                return Ok(Some(model.clone()));
            }
            if let Some(&at) = cache.failed.get(&id) {
                if number < at.saturating_add(RETRY_BLOCKS) {
                    return Ok(None); // Said when it failed; tried again later.
                }
            }
        }
        let chain = self.chain.clone();
        let loaded = tokio::task::spawn_blocking(move || -> Result<_, ProviderError> {
            match chain.model_file(&id).map_err(ProviderError::Node)? {
                Some(bytes) => LoadedModel::parse(id, &bytes).map(Some),
                None => Ok(None),
            }
        })
        .await
        .map_err(|e| ProviderError::Task(e.to_string()))?;
        let mut cache = self.cache();
        match loaded {
            Ok(Some(model)) => {
                let model = Arc::new(model);
                cache.requested.remove(&id);
                cache.failed.remove(&id);
                if cache.loaded.len() >= MAX_CACHED_MODELS {
                    let oldest = cache
                        .loaded
                        .iter()
                        .min_by_key(|(_, (_, used))| *used)
                        .map(|(k, _)| *k);
                    if let Some(oldest) = oldest {
                        cache.loaded.remove(&oldest);
                    }
                }
                let tick = cache.tick;
                cache.loaded.insert(id, (model.clone(), tick));
                tracing::info!(target: "provider", "model {id} loaded: {} layers", model.layer_count());
                Ok(Some(model))
            }
            Ok(None) => {
                let due = cache
                    .requested
                    .get(&id)
                    .is_none_or(|&at| number >= at.saturating_add(RETRY_BLOCKS));
                if due {
                    cache.requested.insert(id, number);
                    drop(cache);
                    match self.chain.request_model(&id) {
                        Ok(()) => {
                            tracing::info!(target: "provider", "model {id} is not in the node's store: fetching it from peers")
                        }
                        Err(e) => {
                            tracing::warn!(target: "provider", "model {id} is not in the node's store and cannot be fetched: {e}")
                        }
                    }
                }
                Ok(None)
            }
            Err(e) => {
                cache.failed.insert(id, number);
                Err(e)
            }
        }
    }
}
