//! Signing and sending the workers' transactions, one implementation for all of them.
//!
//! A [`Signer`] signs calls with an account key and hands them to the node; it takes the
//! nonce from the node (which counts the account's transactions in the pool) and sends
//! one transaction at a time, so workers sharing an account (a node that is both provider
//! and verifier) never sign two transactions with the same nonce.
//!
//! A worker remembers what it [`Sent`] for each item (a challenge, a job) and asks
//! [`Signer::due`] on each block whether to send it again: only once `resubmit_after`
//! blocks passed *and* the nonce is free again, i.e. the transaction left the pool without
//! being included (dropped, or evicted). A transaction that is still in the pool (a full
//! block, a busy dispute budget) or was included is never sent twice; resending a
//! dispute would cost its megabytes' fee again.
use crate::{Chain, ProviderError};
use ed25519_dalek::SigningKey;
use menara_primitives::{AccountId, BlockNumber, H256};
use menara_runtime::RuntimeCall;
use std::sync::{Arc, Mutex};

/// A transaction a worker sent: when, with which nonce, and its hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Block the worker sent it at.
    pub at: BlockNumber,
    /// Its nonce.
    pub nonce: u64,
    /// Its hash.
    pub hash: H256,
}

/// Signs and sends transactions for one account.
pub struct Signer<C: Chain> {
    chain: Arc<C>,
    key: SigningKey,
    account: AccountId,
    resubmit_after: BlockNumber,
    /// Held from reading the nonce to handing the transaction to the pool.
    sending: Mutex<()>,
}

impl<C: Chain> Signer<C> {
    /// A signer for `key`'s account on `chain`; a transaction that left the pool without a
    /// trace is sent again after `resubmit_after` blocks (at least 1).
    pub fn new(chain: Arc<C>, key: SigningKey, resubmit_after: BlockNumber) -> Arc<Self> {
        let account = AccountId(key.verifying_key().to_bytes());
        Arc::new(Signer {
            chain,
            key,
            account,
            resubmit_after: resubmit_after.max(1),
            sending: Mutex::new(()),
        })
    }

    /// The account.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// The chain.
    pub fn chain(&self) -> &Arc<C> {
        &self.chain
    }

    /// Signs `call` with the account's next nonce and hands it to the node, at block
    /// `number`. Refuses a transaction larger than the chain's large class
    /// (`MAX_LARGE_EXTRINSIC_SIZE`, 3 MiB: a dispute); the node refuses one larger than
    /// the normal class unless it is a dispute.
    pub fn submit(&self, number: BlockNumber, call: RuntimeCall) -> Result<Sent, ProviderError> {
        let _one_at_a_time = self.sending.lock().unwrap_or_else(|e| e.into_inner());
        let nonce = self
            .chain
            .next_nonce(&self.account)
            .map_err(ProviderError::Node)?;
        let tx =
            menara_chain_spec::keyring::sign(&self.key, &self.chain.genesis_hash(), nonce, 0, call);
        // Disputes carry a layer's tensors: the large class is the most the chain takes.
        let max = menara_runtime::fees::MAX_LARGE_EXTRINSIC_SIZE;
        if tx.len() > max {
            return Err(ProviderError::TooLarge {
                size: tx.len(),
                max,
            });
        }
        let hash = self.chain.submit(tx).map_err(ProviderError::Node)?;
        Ok(Sent {
            at: number,
            nonce,
            hash,
        })
    }

    /// Whether an item whose last transaction is `sent` should be sent (again) at block
    /// `number`: never sent, or sent at least `resubmit_after` blocks ago and its nonce is
    /// free again (it left the pool without being included).
    pub fn due(&self, sent: Option<&Sent>, number: BlockNumber) -> Result<bool, ProviderError> {
        let Some(sent) = sent else {
            return Ok(true);
        };
        if number < sent.at.saturating_add(self.resubmit_after) {
            return Ok(false);
        }
        let next = self
            .chain
            .next_nonce(&self.account)
            .map_err(ProviderError::Node)?;
        Ok(next <= sent.nonce)
    }
}
