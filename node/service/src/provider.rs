//! The node's side of the provider and verifier workers (`menara --provider`,
//! `--verifier`): the workers live in `menara-provider`; this adapts the client to its
//! [`menara_provider::Chain`] trait and starts them.
use crate::Client;
use menara_primitives::{AccountId, Header, H256};
use menara_rpc::{ModelFetchState, NodeApi};
use std::sync::Arc;
use tokio::sync::broadcast;

/// The client as the workers see it.
pub struct ClientChain(pub Arc<Client>);

impl menara_provider::Chain for ClientChain {
    fn genesis_hash(&self) -> H256 {
        self.0.genesis_hash()
    }

    fn query(&self, method: &[u8], args: &[u8]) -> Result<Vec<u8>, String> {
        let method = std::str::from_utf8(method).map_err(|e| e.to_string())?;
        NodeApi::query(self.0.as_ref(), method, args, None).map_err(|e| e.to_string())
    }

    fn next_nonce(&self, who: &AccountId) -> Result<u64, String> {
        self.0.account_next_index(who).map_err(|e| e.to_string())
    }

    fn submit(&self, tx: Vec<u8>) -> Result<H256, String> {
        self.0.submit_transaction(tx).map_err(|e| e.to_string())
    }

    fn new_heads(&self) -> broadcast::Receiver<Header> {
        self.0.subscribe_new_heads()
    }

    fn model_file(&self, id: &H256) -> Result<Option<Vec<u8>>, String> {
        let files = self.0.model_files();
        if !files.held(id) {
            return Ok(None);
        }
        // The store's file, as the node reports it; a download of it that failed earlier
        // shadows a file imported since, which the fetch call reports without fetching.
        let path = match files.status(id) {
            Some(s) if s.state == ModelFetchState::Done && s.path.is_some() => s.path,
            _ => {
                NodeApi::fetch_model(self.0.as_ref(), id)
                    .map_err(|e| e.to_string())?
                    .path
            }
        };
        let Some(path) = path else {
            return Ok(None);
        };
        let size = std::fs::metadata(&path)
            .map_err(|e| format!("{path}: {e}"))?
            .len();
        if size > menara_model_store::MAX_MODEL_BYTES {
            return Err(format!(
                "{path}: {size} bytes is more than the largest model ({} bytes)",
                menara_model_store::MAX_MODEL_BYTES
            ));
        }
        std::fs::read(&path)
            .map(Some)
            .map_err(|e| format!("{path}: {e}"))
    }

    fn request_model(&self, id: &H256) -> Result<(), String> {
        NodeApi::fetch_model(self.0.as_ref(), id)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Starts the workers `config` asks for (`--provider`, `--verifier`) on `client`; they log
/// once which engine they compute with.
pub fn start(client: Arc<Client>, config: &crate::NodeConfig) -> Result<(), String> {
    if config.provider.is_none() && config.verifier.is_none() {
        return Ok(());
    }
    let engine = menara_provider::Engine::detect().map_err(|e| e.to_string())?;
    menara_provider::start(
        Arc::new(ClientChain(client)),
        engine,
        menara_provider::WorkersConfig {
            provider: config.provider.clone(),
            verifier: config.verifier.clone(),
            cheat_per_mill: config.test_cheat_per_mill,
            resubmit_after: 3,
        },
    );
    Ok(())
}
