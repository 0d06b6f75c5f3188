//! The runtime API as byte-in, byte-out functions; the wasm exports wrap these, and
//! the native build calls them directly (tests, benchmarks).
use crate::{executive, Balances, GenesisConfig, System};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use menara_primitives::api::{methods, queries};
use menara_primitives::{AccountId, AccountInfo, BlockContext, QueryError, H256};
use menara_support::codec::{DecodeAll, Encode};

/// Calls the runtime API function `method` with SCALE `input`; `None` if unknown.
pub fn call(method: &str, input: &[u8]) -> Option<Vec<u8>> {
    Some(match method {
        methods::VERSION => crate::version().encode(),
        methods::BUILD_GENESIS => build_genesis(input).encode(),
        methods::INITIALIZE_BLOCK => initialize_block(input).encode(),
        methods::APPLY_EXTRINSIC => apply_extrinsic(input).encode(),
        methods::FINALIZE_BLOCK => {
            executive::finalize_block();
            ().encode()
        }
        methods::VALIDATE_TRANSACTION => validate_transaction(input).encode(),
        methods::QUERY => query(input).encode(),
        _ => return None,
    })
}

fn build_genesis(input: &[u8]) -> Result<(), String> {
    let config = GenesisConfig::decode_all(&mut &input[..]).map_err(|e| e.to_string())?;
    Balances::build_genesis(&config.balances).map_err(|e| alloc::format!("{e:?}"))
}

fn initialize_block(input: &[u8]) -> Result<(), String> {
    let ctx = BlockContext::decode_all(&mut &input[..]).map_err(|e| e.to_string())?;
    executive::initialize_block(&ctx).map_err(|e| e.message)
}

fn apply_extrinsic(input: &[u8]) -> menara_primitives::ApplyExtrinsicResult {
    let bytes = Vec::<u8>::decode_all(&mut &input[..])
        .map_err(|_| menara_primitives::InvalidTransaction::Malformed)?;
    executive::apply_extrinsic(&bytes)
}

fn validate_transaction(input: &[u8]) -> menara_primitives::TransactionValidity {
    let (genesis, bytes) = <(H256, Vec<u8>)>::decode_all(&mut &input[..])
        .map_err(|_| menara_primitives::InvalidTransaction::Malformed)?;
    executive::validate_transaction(&genesis, &bytes)
}

fn query(input: &[u8]) -> Result<Vec<u8>, QueryError> {
    let (method, args) =
        <(Vec<u8>, Vec<u8>)>::decode_all(&mut &input[..]).map_err(|_| QueryError::BadArguments)?;
    match method.as_slice() {
        queries::ACCOUNT => {
            let who =
                AccountId::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            Ok(AccountInfo {
                nonce: System::account_nonce(&who),
                free: Balances::free_balance(&who),
            }
            .encode())
        }
        queries::TOTAL_ISSUANCE => Ok(Balances::total_issuance().encode()),
        queries::FEE => {
            let bytes =
                Vec::<u8>::decode_all(&mut &args[..]).map_err(|_| QueryError::BadArguments)?;
            executive::query_fee(&bytes)
                .map(|f| f.encode())
                .ok_or(QueryError::BadArguments)
        }
        queries::EVENTS => Ok(executive::events().encode()),
        _ => Err(QueryError::UnknownMethod),
    }
}
