//! Keys: development accounts (`//Alice`), secret seeds, and transaction signing.
//!
//! A development key `//Name` has the seed `blake3::derive_key("menara dev account seed v1", Name)`.
//! These keys are public knowledge: use them only on `dev` and `local` chains.
use ed25519_dalek::{Signer, SigningKey};
use menara_crypto::BlsSecretKey;
use menara_primitives::{
    signing_payload, AccountId, Balance, Nonce, Signature, SignedTransaction, H256,
};
use menara_runtime::RuntimeCall;
use parity_scale_codec::Encode;

/// Context string of development seed derivation.
pub const DEV_SEED_CONTEXT: &str = "menara dev account seed v1";

/// Why a secret could not be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// Neither `//Name` nor 0x + 64 hex digits.
    #[error("a secret is `//Name` (development keys) or 0x followed by 64 hex digits (a seed)")]
    BadSecret,
}

/// The 32-byte seed of development key `//name`.
pub fn dev_seed(name: &str) -> [u8; 32] {
    blake3::derive_key(DEV_SEED_CONTEXT, name.as_bytes())
}

/// Context string of development BLS (consensus) seed derivation.
pub const DEV_BLS_SEED_CONTEXT: &str = "menara dev bls seed v1";

/// The 32-byte seed of development consensus key `//name`; public knowledge, dev only.
pub fn dev_bls_seed(name: &str) -> [u8; 32] {
    blake3::derive_key(DEV_BLS_SEED_CONTEXT, name.as_bytes())
}

/// The consensus (BLS12-381) secret key of development validator `//name`, derived from
/// [`dev_bls_seed`] with the IETF `KeyGen`; public knowledge, dev only.
pub fn dev_bls_secret(name: &str) -> BlsSecretKey {
    BlsSecretKey::from_seed(&dev_bls_seed(name))
}

/// The beacon signature development validator `//name` gives as the author of block
/// `number` of the chain with genesis `genesis_hash` (tests and tools that build blocks).
pub fn dev_beacon(
    name: &str,
    genesis_hash: &menara_primitives::H256,
    number: menara_primitives::BlockNumber,
) -> menara_primitives::BeaconSignature {
    menara_primitives::BeaconSignature(
        dev_bls_secret(name)
            .sign(&menara_primitives::beacon_message(genesis_hash, number))
            .to_bytes(),
    )
}

/// Reads a consensus secret: `//Name` (the development key [`dev_bls_secret`]) or a hex
/// 32-byte seed (as `menara key generate --scheme bls` prints), given to `KeyGen`.
pub fn parse_bls_secret(secret: &str) -> Result<BlsSecretKey, KeyError> {
    parse_seed(secret, dev_bls_seed).map(|seed| BlsSecretKey::from_seed(&seed))
}

/// Development validator `//name` at genesis: account [`dev_account`], consensus key
/// [`dev_bls_secret`] with its proof of possession, and `stake`.
pub fn dev_genesis_validator(name: &str, stake: Balance) -> crate::GenesisValidator {
    crate::GenesisValidator::new(dev_account(name), &dev_bls_secret(name), stake)
}

/// The signing key of development account `//name`.
pub fn dev_signing_key(name: &str) -> SigningKey {
    SigningKey::from_bytes(&dev_seed(name))
}

/// The account of development key `//name`.
pub fn dev_account(name: &str) -> AccountId {
    AccountId(dev_signing_key(name).verifying_key().to_bytes())
}

/// Reads a secret: `//Name` or a hex seed.
pub fn parse_secret(secret: &str) -> Result<SigningKey, KeyError> {
    parse_seed(secret, dev_seed).map(|seed| SigningKey::from_bytes(&seed))
}

/// Reads a secret as a 32-byte seed: `//Name` gives `dev(Name)` (e.g. [`dev_seed`] for
/// accounts, [`dev_bls_seed`] for consensus keys), `0x…` is the seed itself.
pub fn parse_seed(secret: &str, dev: fn(&str) -> [u8; 32]) -> Result<[u8; 32], KeyError> {
    let secret = secret.trim();
    if let Some(name) = secret.strip_prefix("//") {
        if name.is_empty() {
            return Err(KeyError::BadSecret);
        }
        return Ok(dev(name));
    }
    let hex_part = secret.strip_prefix("0x").unwrap_or(secret);
    let bytes = hex::decode(hex_part).map_err(|_| KeyError::BadSecret)?;
    bytes.try_into().map_err(|_| KeyError::BadSecret)
}

/// The account of a signing key.
pub fn account_of(key: &SigningKey) -> AccountId {
    AccountId(key.verifying_key().to_bytes())
}

/// Signs `call` and returns the encoded transaction.
pub fn sign(
    key: &SigningKey,
    genesis_hash: &H256,
    nonce: Nonce,
    tip: Balance,
    call: RuntimeCall,
) -> Vec<u8> {
    let payload = signing_payload(genesis_hash, nonce, tip, &call);
    let signature = Signature(key.sign(&payload).to_bytes());
    SignedTransaction {
        signer: account_of(key),
        nonce,
        tip,
        call,
        signature,
    }
    .encode()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dev_keys_are_stable_and_distinct() {
        assert_eq!(
            dev_account("Alice"),
            account_of(&parse_secret("//Alice").unwrap())
        );
        assert_ne!(dev_account("Alice"), dev_account("Bob"));
        let seed = format!("0x{}", hex::encode(dev_seed("Alice")));
        assert_eq!(
            account_of(&parse_secret(&seed).unwrap()),
            dev_account("Alice")
        );
        assert!(parse_secret("//").is_err());
        assert!(parse_secret("0x1234").is_err());
        assert!(parse_secret("alice").is_err());
    }

    #[test]
    fn dev_bls_keys_are_stable_and_parse_from_name_or_seed() {
        let alice = dev_bls_secret("Alice").public_key();
        assert_eq!(parse_bls_secret("//Alice").unwrap().public_key(), alice);
        assert_eq!(
            parse_bls_secret(&format!("0x{}", hex::encode(dev_bls_seed("Alice"))))
                .unwrap()
                .public_key(),
            alice
        );
        assert_eq!(
            parse_bls_secret(&hex::encode(dev_bls_seed("Alice")))
                .unwrap()
                .public_key(),
            alice
        );
        assert_ne!(dev_bls_secret("Bob").public_key(), alice);
        // Not the account seed: the two keys of one name are unrelated.
        assert_ne!(dev_bls_seed("Alice"), dev_seed("Alice"));
        for bad in ["//", "0x1234", "alice", ""] {
            assert_eq!(parse_bls_secret(bad).unwrap_err(), KeyError::BadSecret);
        }
        let sk = dev_bls_secret("Alice");
        assert!(menara_crypto::verify_possession(
            &sk.public_key(),
            &sk.prove_possession()
        ));
    }
}
