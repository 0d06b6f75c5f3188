//! The AI host API (module `menara_ai_v1`): registered models, verified inference jobs paid
//! from the contract's balance with a callback when they end, and compute leases. The
//! records are [`menara_contract_abi`]'s, SCALE-encoded by the chain.
//!
//! A job's callback is a message of the contract taking `(job: u64, state: u8, output:
//! Option<Vec<i16>>)`; the chain calls it once the job is over, as caller
//! [`CALLBACK_CALLER`], which no transaction can be signed by: check [`is_callback`] in it.
//! ```ignore
//! let job = ai::submit(&AiRequest {
//!     model: MODEL.get_or_default(),
//!     input: AiInput::Tokens(tokens),
//!     max_fee: 10_000_000_000,
//!     provider: None,
//!     callback: Some(Callback { selector: selector("on_result"), fuel: 1_000_000 }),
//! });
//! ```
pub use menara_contract_abi::{
    job_state, AiInput, AiJob, AiLease, AiModel, AiRequest, Callback, AI_MODULE, CALLBACK_CALLER,
};

use crate::AccountId;
#[cfg(target_arch = "wasm32")]
use parity_scale_codec::{DecodeAll, Encode};

/// Capacity of the buffer records are read into (a MiniLM embedding is 768 bytes).
pub const RECORD_CAPACITY: usize = 16 * 1024;

#[cfg(target_arch = "wasm32")]
mod sys {
    #[link(wasm_import_module = "menara_ai_v1")]
    unsafe extern "C" {
        pub fn model(id_ptr: *const u8, out_ptr: *mut u8, out_len_ptr: *mut u32) -> u32;
        pub fn submit(request_ptr: *const u8, request_len: u32, job_out_ptr: *mut u8) -> u32;
        pub fn job(id: u64, out_ptr: *mut u8, out_len_ptr: *mut u32) -> u32;
        pub fn lease(id: u64, out_ptr: *mut u8, out_len_ptr: *mut u32) -> u32;
    }
}

/// Reads a record with `f` (a host function filling a buffer) and decodes it; `None` when
/// the host has none. A record that does not decode traps (the chain and the SDK disagree
/// on the ABI, which a version bump prevents).
#[cfg(target_arch = "wasm32")]
fn record<T: parity_scale_codec::Decode>(f: impl FnOnce(*mut u8, *mut u32) -> u32) -> Option<T> {
    let (rc, bytes) = crate::env::with_out_buffer(RECORD_CAPACITY, f);
    if rc != crate::env::code::SUCCESS {
        return None;
    }
    match T::decode_all(&mut &bytes[..]) {
        Ok(value) => Some(value),
        Err(_) => panic!("an AI host API record does not decode"),
    }
}

#[cfg(not(target_arch = "wasm32"))]
#[cold]
fn off_chain() -> ! {
    panic!("menara-contract host functions exist only inside the chain")
}

/// The model registered under `id`.
pub fn model(id: &[u8; 32]) -> Option<AiModel> {
    #[cfg(target_arch = "wasm32")]
    {
        // SAFETY: `id` is 32 readable bytes; the buffer is what `record` hands out.
        record(|out, out_len| unsafe { sys::model(id.as_ptr(), out, out_len) })
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = id;
        off_chain()
    }
}

/// Submits an inference job paid from this contract's balance; returns its id. The chain
/// refuses (and the call traps with its reason) an unknown or deprecated model, an input
/// the model cannot take, a fee above `max_fee`, a balance that cannot pay, or too much
/// callback fuel.
pub fn submit(request: &AiRequest) -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        let bytes = request.encode();
        let mut job = [0u8; 8];
        // SAFETY: `bytes` is readable, `job` has the 8 bytes the host writes.
        unsafe {
            sys::submit(
                bytes.as_ptr(),
                crate::env::len32(bytes.len()),
                job.as_mut_ptr(),
            )
        };
        u64::from_le_bytes(job)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = request;
        off_chain()
    }
}

/// The job with id `id`.
pub fn job(id: u64) -> Option<AiJob> {
    #[cfg(target_arch = "wasm32")]
    {
        // SAFETY: the buffer is what `record` hands out.
        record(|out, out_len| unsafe { sys::job(id, out, out_len) })
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = id;
        off_chain()
    }
}

/// The compute lease with id `id`.
pub fn lease(id: u64) -> Option<AiLease> {
    #[cfg(target_arch = "wasm32")]
    {
        // SAFETY: the buffer is what `record` hands out.
        record(|out, out_len| unsafe { sys::lease(id, out, out_len) })
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = id;
        off_chain()
    }
}

/// Whether the running call is a job's callback made by the chain.
pub fn is_callback() -> bool {
    crate::env::caller() == AccountId(CALLBACK_CALLER)
}
