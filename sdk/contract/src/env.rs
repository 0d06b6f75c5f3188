//! Safe wrappers over the host functions of module `menara_v1` (see the SDK's `ABI.md`).
//!
//! The functions only do something inside the chain, i.e. when the contract is compiled
//! for `wasm32`. On any other target they compile, so that host-side tests and tooling
//! build, but panic when called.
//!
//! # Output buffers
//! The ABI writes variable-length outputs into a buffer the contract supplies and traps
//! if that buffer is too small; it has no call that asks for a size first. The wrappers
//! therefore allocate a buffer of a fixed capacity, let the host fill it, and shrink it to
//! the written length (with the SDK's bump allocator, shrinking the latest allocation gives
//! the memory back at once):
//! - [`input`]: [`INPUT_CAPACITY`] (64 KiB);
//! - [`call`] output: [`CALL_OUTPUT_CAPACITY`] (64 KiB);
//! - storage values: [`MAX_VALUE_SIZE`] (16 KiB, the chain's limit on a value).
//!
//! An input or a callee's output larger than 64 KiB makes the host trap the call.

use alloc::vec::Vec;

use crate::{AccountId, Balance};

/// The capacity of the buffer [`input`] reads the call's input into.
pub const INPUT_CAPACITY: usize = 64 * 1024;
/// The capacity of the buffer [`call`] reads the callee's output into.
pub const CALL_OUTPUT_CAPACITY: usize = 64 * 1024;
/// The largest storage value the chain accepts (16 KiB).
pub const MAX_VALUE_SIZE: usize = 16 * 1024;
/// The longest storage key the chain accepts.
pub const MAX_KEY_SIZE: usize = 128;
/// The most topics an event may have.
pub const MAX_TOPICS: usize = 4;
/// The largest event data the chain accepts (1 KiB).
pub const MAX_EVENT_DATA: usize = 1024;

/// Return codes of the host functions, and the `flags` bit of [`return_value`] that
/// reverts the call (shared with the chain).
pub use menara_contract_abi::{code, REVERT};

/// Why [`transfer`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The contract's balance is too low, or the transfer would leave a balance below the
    /// existential deposit (a balance of exactly 0 is allowed).
    TransferFailed,
    /// The host returned a code this SDK version does not know.
    UnknownCode(u32),
}

/// Why [`call`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The callee reverted; these are its error bytes. Its state changes were undone.
    Reverted(Vec<u8>),
    /// The callee trapped; its state changes were undone.
    Trapped,
    /// The value could not be transferred to the callee.
    TransferFailed,
    /// The callee is not a contract.
    NotAContract,
    /// The host returned a code this SDK version does not know.
    UnknownCode(u32),
}

#[cfg(target_arch = "wasm32")]
mod sys {
    #[link(wasm_import_module = "menara_v1")]
    unsafe extern "C" {
        pub fn input(out_ptr: *mut u8, out_len_ptr: *mut u32);
        pub fn return_value(flags: u32, data_ptr: *const u8, data_len: u32) -> !;
        pub fn storage_get(
            key_ptr: *const u8,
            key_len: u32,
            out_ptr: *mut u8,
            out_len_ptr: *mut u32,
        ) -> u32;
        pub fn storage_set(
            key_ptr: *const u8,
            key_len: u32,
            value_ptr: *const u8,
            value_len: u32,
        ) -> u32;
        pub fn storage_clear(key_ptr: *const u8, key_len: u32) -> u32;
        pub fn storage_contains(key_ptr: *const u8, key_len: u32) -> u32;
        pub fn caller(out_ptr: *mut u8);
        pub fn origin(out_ptr: *mut u8);
        pub fn address(out_ptr: *mut u8);
        pub fn value_transferred(out_ptr: *mut u8);
        pub fn balance(out_ptr: *mut u8);
        pub fn block_number() -> u64;
        pub fn transfer(to_ptr: *const u8, value_ptr: *const u8) -> u32;
        pub fn call(
            callee_ptr: *const u8,
            value_ptr: *const u8,
            input_ptr: *const u8,
            input_len: u32,
            fuel_limit: u64,
            out_ptr: *mut u8,
            out_len_ptr: *mut u32,
        ) -> u32;
        pub fn deposit_event(
            topics_ptr: *const u8,
            topic_count: u32,
            data_ptr: *const u8,
            data_len: u32,
        );
        pub fn hash_blake3(in_ptr: *const u8, in_len: u32, out_ptr: *mut u8);
        pub fn debug_message(ptr: *const u8, len: u32);
        pub fn terminate(beneficiary_ptr: *const u8) -> !;
    }
}

#[cfg(not(target_arch = "wasm32"))]
#[cold]
#[inline(never)]
fn off_chain() -> ! {
    panic!("menara-contract host functions exist only inside the chain")
}

/// Lengths and pointers are 32-bit in wasm32; slices there never exceed `u32::MAX`.
#[cfg(target_arch = "wasm32")]
#[inline(always)]
pub(crate) fn len32(len: usize) -> u32 {
    len as u32
}

/// Calls a host function that fills a buffer of `capacity` bytes, then trims the buffer to
/// the length the host wrote. `f` gets the buffer pointer and the capacity-in/length-out
/// cell, and returns the host's return code.
#[cfg(target_arch = "wasm32")]
pub(crate) fn with_out_buffer(
    capacity: usize,
    f: impl FnOnce(*mut u8, *mut u32) -> u32,
) -> (u32, Vec<u8>) {
    let mut buf: Vec<u8> = Vec::with_capacity(capacity);
    let mut len = len32(capacity);
    let rc = f(buf.as_mut_ptr(), &mut len);
    // The host never writes more than the capacity it was given; clamp anyway.
    let written = core::cmp::min(len as usize, capacity);
    // SAFETY: the host initialised the first `written` bytes of the buffer (or, on an
    // error code, `written` bytes of whatever it reports, which are bytes in our buffer).
    unsafe {
        buf.set_len(if rc == code::SUCCESS || rc == code::CALLEE_REVERTED {
            written
        } else {
            0
        })
    };
    buf.shrink_to_fit();
    (rc, buf)
}

/// The call's input: for a constructor or message, its selector then its SCALE-encoded
/// arguments. At most [`INPUT_CAPACITY`] bytes (a larger input traps).
pub fn input() -> Vec<u8> {
    #[cfg(target_arch = "wasm32")]
    {
        with_out_buffer(INPUT_CAPACITY, |out, out_len| {
            // SAFETY: `out` points at `*out_len` writable bytes.
            unsafe { sys::input(out, out_len) };
            code::SUCCESS
        })
        .1
    }
    #[cfg(not(target_arch = "wasm32"))]
    off_chain()
}

/// Ends execution with `data` as the output. With `flags & REVERT` the call reverts: its
/// state changes are undone and `data` goes back to the caller as the contract's error.
pub fn return_value(flags: u32, data: &[u8]) -> ! {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: `data` is a valid slice.
    unsafe {
        sys::return_value(flags, data.as_ptr(), len32(data.len()))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (flags, data);
        off_chain()
    }
}

/// The raw value stored under `key`, if any. Keys are at most [`MAX_KEY_SIZE`] bytes.
pub fn storage_get(key: &[u8]) -> Option<Vec<u8>> {
    #[cfg(target_arch = "wasm32")]
    {
        let (rc, value) = with_out_buffer(MAX_VALUE_SIZE, |out, out_len| {
            // SAFETY: `key` is a valid slice; `out` points at `*out_len` writable bytes.
            unsafe { sys::storage_get(key.as_ptr(), len32(key.len()), out, out_len) }
        });
        (rc == code::SUCCESS).then_some(value)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = key;
        off_chain()
    }
}

/// Stores `value` under `key`, returning the previous value's length if there was one.
/// Keys are at most [`MAX_KEY_SIZE`] bytes, values at most [`MAX_VALUE_SIZE`].
pub fn storage_set(key: &[u8], value: &[u8]) -> Option<u32> {
    #[cfg(target_arch = "wasm32")]
    {
        // SAFETY: both are valid slices.
        let rc = unsafe {
            sys::storage_set(
                key.as_ptr(),
                len32(key.len()),
                value.as_ptr(),
                len32(value.len()),
            )
        };
        (rc != code::NO_VALUE).then_some(rc)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (key, value);
        off_chain()
    }
}

/// Removes the value under `key`, returning its length if there was one.
pub fn storage_clear(key: &[u8]) -> Option<u32> {
    #[cfg(target_arch = "wasm32")]
    {
        // SAFETY: `key` is a valid slice.
        let rc = unsafe { sys::storage_clear(key.as_ptr(), len32(key.len())) };
        (rc != code::NO_VALUE).then_some(rc)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = key;
        off_chain()
    }
}

/// The length of the value under `key`, if there is one.
pub fn storage_contains(key: &[u8]) -> Option<u32> {
    #[cfg(target_arch = "wasm32")]
    {
        // SAFETY: `key` is a valid slice.
        let rc = unsafe { sys::storage_contains(key.as_ptr(), len32(key.len())) };
        (rc != code::NO_VALUE).then_some(rc)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = key;
        off_chain()
    }
}

/// Reads a fixed-size output of a host function that takes only an output pointer.
#[cfg(target_arch = "wasm32")]
macro_rules! read_fixed {
    ($f:ident, $len:literal) => {{
        let mut out = [0u8; $len];
        // SAFETY: `out` has the bytes the host writes.
        unsafe { sys::$f(out.as_mut_ptr()) };
        out
    }};
}

/// The account or contract calling this contract.
pub fn caller() -> AccountId {
    #[cfg(target_arch = "wasm32")]
    {
        AccountId(read_fixed!(caller, 32))
    }
    #[cfg(not(target_arch = "wasm32"))]
    off_chain()
}

/// The account that signed the transaction.
pub fn origin() -> AccountId {
    #[cfg(target_arch = "wasm32")]
    {
        AccountId(read_fixed!(origin, 32))
    }
    #[cfg(not(target_arch = "wasm32"))]
    off_chain()
}

/// This contract's own account.
pub fn address() -> AccountId {
    #[cfg(target_arch = "wasm32")]
    {
        AccountId(read_fixed!(address, 32))
    }
    #[cfg(not(target_arch = "wasm32"))]
    off_chain()
}

/// The value sent with this call (for a constructor, with the deployment).
pub fn value_transferred() -> Balance {
    #[cfg(target_arch = "wasm32")]
    {
        u128::from_le_bytes(read_fixed!(value_transferred, 16))
    }
    #[cfg(not(target_arch = "wasm32"))]
    off_chain()
}

/// This contract's free balance (including the value sent with this call).
pub fn balance() -> Balance {
    #[cfg(target_arch = "wasm32")]
    {
        u128::from_le_bytes(read_fixed!(balance, 16))
    }
    #[cfg(not(target_arch = "wasm32"))]
    off_chain()
}

/// The current block number.
pub fn block_number() -> u64 {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the function takes no arguments.
    unsafe {
        sys::block_number()
    }
    #[cfg(not(target_arch = "wasm32"))]
    off_chain()
}

/// Transfers `value` from this contract to `to`. Sending the whole balance (leaving 0)
/// is allowed; leaving a balance below the existential deposit is not.
pub fn transfer(to: &AccountId, value: Balance) -> Result<(), Error> {
    #[cfg(target_arch = "wasm32")]
    {
        let value = value.to_le_bytes();
        // SAFETY: both point at buffers of the sizes the host reads (32 and 16 bytes).
        let rc = unsafe { sys::transfer(to.0.as_ptr(), value.as_ptr()) };
        match rc {
            code::SUCCESS => Ok(()),
            code::TRANSFER_FAILED => Err(Error::TransferFailed),
            other => Err(Error::UnknownCode(other)),
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (to, value);
        off_chain()
    }
}

/// Calls the contract `callee` with `input` (selector + SCALE arguments, see
/// [`crate::selector`]) and `value`, giving it at most `fuel_limit` fuel (0 = all fuel
/// left). Returns the callee's output, at most [`CALL_OUTPUT_CAPACITY`] bytes (a larger
/// output traps). Re-entering a contract that does not allow it, or passing the call depth
/// limit (8), traps this contract.
pub fn call(
    callee: &AccountId,
    value: Balance,
    input: &[u8],
    fuel_limit: u64,
) -> Result<Vec<u8>, CallError> {
    #[cfg(target_arch = "wasm32")]
    {
        let value = value.to_le_bytes();
        let (rc, output) = with_out_buffer(CALL_OUTPUT_CAPACITY, |out, out_len| {
            // SAFETY: all pointers are valid for the sizes passed or required by the ABI.
            unsafe {
                sys::call(
                    callee.0.as_ptr(),
                    value.as_ptr(),
                    input.as_ptr(),
                    len32(input.len()),
                    fuel_limit,
                    out,
                    out_len,
                )
            }
        });
        match rc {
            code::SUCCESS => Ok(output),
            code::CALLEE_REVERTED => Err(CallError::Reverted(output)),
            code::CALLEE_TRAPPED => Err(CallError::Trapped),
            code::TRANSFER_FAILED => Err(CallError::TransferFailed),
            code::NOT_A_CONTRACT => Err(CallError::NotAContract),
            other => Err(CallError::UnknownCode(other)),
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (callee, value, input, fuel_limit);
        off_chain()
    }
}

/// Emits an event with up to [`MAX_TOPICS`] 32-byte topics and at most
/// [`MAX_EVENT_DATA`] bytes of data. Contracts normally use the event structs the
/// [`crate::contract!`] macro generates instead.
pub fn deposit_event(topics: &[[u8; 32]], data: &[u8]) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: `topics` is `topics.len() * 32` contiguous bytes; `data` a valid slice.
    unsafe {
        sys::deposit_event(
            topics.as_ptr().cast::<u8>(),
            len32(topics.len()),
            data.as_ptr(),
            len32(data.len()),
        )
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (topics, data);
        off_chain()
    }
}

/// The BLAKE3 hash of `data`, computed by the host. (For constants, use the compile-time
/// [`crate::hash::blake3`].)
pub fn hash_blake3(data: &[u8]) -> [u8; 32] {
    #[cfg(target_arch = "wasm32")]
    {
        let mut out = [0u8; 32];
        // SAFETY: `data` is a valid slice; `out` has the 32 bytes the host writes.
        unsafe { sys::hash_blake3(data.as_ptr(), len32(data.len()), out.as_mut_ptr()) };
        out
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = data;
        off_chain()
    }
}

/// Sends a debug message. It is kept in dry runs (`menara contract query`, the
/// `contracts_call` RPC) and dropped in transactions.
pub fn debug_message(message: &str) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: `message` is a valid slice.
    unsafe {
        sys::debug_message(message.as_ptr(), len32(message.len()))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = message;
        off_chain()
    }
}

/// Removes this contract: its storage deposits go back to those who paid them, its
/// balance to `beneficiary`. Execution ends here.
pub fn terminate(beneficiary: &AccountId) -> ! {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: `beneficiary` is the 32 bytes the host reads.
    unsafe {
        sys::terminate(beneficiary.0.as_ptr())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = beneficiary;
        off_chain()
    }
}
