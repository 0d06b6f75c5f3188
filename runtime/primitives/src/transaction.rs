//! Signed transactions.
//!
//! The signature covers the genesis hash (no replay on another chain), the sender's
//! nonce (no replay on this one), the tip and the call.
use crate::{AccountId, Balance, Nonce, Signature, H256};
use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};

/// Domain separator prepended to every signing payload.
pub const SIGNING_CONTEXT: &[u8] = b"menara/tx/v1";

/// A signed transaction carrying a runtime call `C`.
#[derive(Clone, PartialEq, Eq, Debug, Encode, Decode)]
pub struct SignedTransaction<C> {
    /// The sender, whose key signed `signature`.
    pub signer: AccountId,
    /// The sender's nonce this transaction uses.
    pub nonce: Nonce,
    /// Extra fee offered for priority in the pool.
    pub tip: Balance,
    /// What to do.
    pub call: C,
    /// ed25519 signature over [`signing_payload`].
    pub signature: Signature,
}

impl<C: Encode> SignedTransaction<C> {
    /// The bytes the signer signs for this transaction on the chain with `genesis_hash`.
    pub fn payload(&self, genesis_hash: &H256) -> Vec<u8> {
        signing_payload(genesis_hash, self.nonce, self.tip, &self.call)
    }
}

/// The bytes signed for a transaction: context, genesis hash, nonce, tip and call.
pub fn signing_payload<C: Encode>(
    genesis_hash: &H256,
    nonce: Nonce,
    tip: Balance,
    call: &C,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(SIGNING_CONTEXT.len() + 32 + 8 + 16 + 64);
    out.extend_from_slice(SIGNING_CONTEXT);
    genesis_hash.encode_to(&mut out);
    nonce.encode_to(&mut out);
    tip.encode_to(&mut out);
    call.encode_to(&mut out);
    out
}
