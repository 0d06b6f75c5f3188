//! The node's side of the compute provider worker (`menara --provider`): the worker lives
//! in `menara-provider`; this adapts the client to its [`menara_provider::Chain`] trait.
use crate::Client;
use menara_primitives::{AccountId, Header, H256};
use menara_rpc::NodeApi;
use std::sync::Arc;
use tokio::sync::broadcast;

/// The client as the provider worker sees it.
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
}

/// Starts the provider worker for `key` on `client`, logging which engine it computes with.
pub fn start(client: Arc<Client>, key: ed25519_dalek::SigningKey) -> Result<(), String> {
    let engine = menara_provider::Engine::detect().map_err(|e| e.to_string())?;
    let description = engine.description().to_string();
    let worker = menara_provider::Provider::new(
        Arc::new(ClientChain(client)),
        menara_provider::ProviderConfig {
            key,
            engine,
            resubmit_after: 3,
        },
    );
    tracing::info!(target: "menara", "compute provider {}: answering availability challenges with {description}", worker.account());
    tokio::spawn(worker.run());
    Ok(())
}
