//! Building the genesis state and block from a chain spec.
use crate::ClientError;
use menara_chain_spec::ChainSpec;
use menara_executor::Executor;
use menara_primitives::{methods, well_known_keys, AccountId, Block, Header, H256};
use menara_state_machine::InMemoryState;
use parity_scale_codec::{Decode, Encode};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The genesis storage of `spec`: its raw storage, or the state the runtime builds from
/// its `runtimeGenesis` plus the embedded runtime code under `:code`.
pub fn build_genesis_storage(
    spec: &ChainSpec,
    executor: &Executor,
) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, ClientError> {
    if let Some(raw) = spec
        .raw_storage()
        .map_err(|e| ClientError::Genesis(e.to_string()))?
    {
        if !raw.contains_key(well_known_keys::CODE) {
            return Err(ClientError::Genesis(
                "raw genesis storage has no runtime code under `:code`".into(),
            ));
        }
        return Ok(raw);
    }
    let code = menara_runtime::WASM_BINARY.ok_or_else(|| {
        ClientError::Genesis("this binary was built without the wasm runtime".into())
    })?;
    let config = spec
        .runtime_genesis_config()
        .map_err(|e| ClientError::Genesis(e.to_string()))?;
    let (out, overlay) = executor
        .call_once(
            code,
            Arc::new(InMemoryState::default()),
            methods::BUILD_GENESIS,
            &config.encode(),
        )
        .map_err(|e| ClientError::Genesis(e.to_string()))?;
    let result = <Result<(), String>>::decode(&mut &out[..])
        .map_err(|e| ClientError::Genesis(e.to_string()))?;
    result.map_err(|e| {
        ClientError::Genesis(format!("runtime refused the genesis configuration: {e}"))
    })?;
    let mut storage: BTreeMap<Vec<u8>, Vec<u8>> = overlay
        .into_changes()
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    storage.insert(well_known_keys::CODE.to_vec(), code.to_vec());
    Ok(storage)
}

/// The genesis block over a state with root `state_root`.
pub fn genesis_block(state_root: H256) -> Block {
    Block {
        header: Header {
            parent_hash: H256::zero(),
            number: 0,
            state_root,
            extrinsics_root: H256::zero(),
            timestamp: 0,
            author: AccountId::default(),
            beacon: Default::default(),
        },
        extrinsics: Vec::new(),
    }
}
