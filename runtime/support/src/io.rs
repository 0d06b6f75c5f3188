//! What the runtime can ask of the node.
//!
//! Under wasm these are host functions imported from the `env` module (the executor
//! implements them); natively they run against the [`Externalities`] installed with
//! [`with_externalities`]. Nothing non-deterministic is offered: no clock, no randomness.
//!
//! Wasm calling convention: byte strings are passed as `(ptr, len)`; a host function
//! returning bytes allocates them in guest memory through the runtime's `alloc` export
//! and returns `(ptr << 32) | len`, or `u64::MAX` for "none".
//!
//! [`Externalities`]: menara_state_machine::Externalities

#[cfg(feature = "std")]
mod native {
    use menara_state_machine::Externalities;

    environmental::environmental!(ext: trait Externalities);

    /// Runs `f` with `externalities` serving the runtime's storage calls.
    pub fn with_externalities<R>(
        externalities: &mut dyn Externalities,
        f: impl FnOnce() -> R,
    ) -> R {
        ext::using(externalities, f)
    }

    /// Runs `f` on the current externalities. Using storage outside
    /// [`with_externalities`] is a bug in the caller (a test or benchmark), so it panics.
    pub(super) fn with<R>(f: impl FnOnce(&mut dyn Externalities) -> R) -> R {
        match ext::with(f) {
            Some(r) => r,
            None => panic!("runtime storage used outside `with_externalities`"),
        }
    }
}

#[cfg(feature = "std")]
pub use native::with_externalities;

#[cfg(not(feature = "std"))]
mod ffi {
    #[link(wasm_import_module = "env")]
    extern "C" {
        pub fn ext_storage_get(key_ptr: u32, key_len: u32) -> u64;
        pub fn ext_storage_set(key_ptr: u32, key_len: u32, value_ptr: u32, value_len: u32);
        pub fn ext_storage_clear(key_ptr: u32, key_len: u32);
        pub fn ext_storage_next_key(key_ptr: u32, key_len: u32) -> u64;
        pub fn ext_storage_clear_prefix(prefix_ptr: u32, prefix_len: u32, limit: u32) -> u64;
        pub fn ext_storage_start_transaction();
        pub fn ext_storage_commit_transaction();
        pub fn ext_storage_rollback_transaction();
        pub fn ext_hashing_blake3_256(data_ptr: u32, data_len: u32, out_ptr: u32);
        pub fn ext_crypto_ed25519_verify(
            sig_ptr: u32,
            msg_ptr: u32,
            msg_len: u32,
            pubkey_ptr: u32,
        ) -> u32;
        pub fn ext_crypto_bls12381_verify(
            pk_ptr: u32,
            msg_ptr: u32,
            msg_len: u32,
            sig_ptr: u32,
        ) -> u32;
        pub fn ext_crypto_bls12381_verify_pop(pk_ptr: u32, pop_ptr: u32) -> u32;
        pub fn ext_compute_gemm_i8(
            x_ptr: u32,
            m: u32,
            k: u32,
            w_ptr: u32,
            n: u32,
            out_ptr: u32,
        ) -> u32;
        pub fn ext_misc_runtime_version(code_ptr: u32, code_len: u32) -> u64;
        pub fn ext_logging_log(
            level: u32,
            target_ptr: u32,
            target_len: u32,
            msg_ptr: u32,
            msg_len: u32,
        );
    }

    /// Takes ownership of bytes the host allocated through the runtime's `alloc` export.
    pub fn take_bytes(packed: u64) -> Option<alloc::vec::Vec<u8>> {
        if packed == u64::MAX {
            return None;
        }
        let ptr = (packed >> 32) as u32;
        let len = (packed & 0xffff_ffff) as usize;
        if len == 0 {
            return Some(alloc::vec::Vec::new());
        }
        // SAFETY: the host allocated exactly `len` bytes at `ptr` with `alloc(len)`,
        // whose layout (size len, align 1) matches a Vec<u8> of capacity `len`.
        Some(unsafe { alloc::vec::Vec::from_raw_parts(ptr as *mut u8, len, len) })
    }
}

/// Storage of the current state (with the block's pending changes).
pub mod storage {
    use alloc::vec::Vec;

    /// The value at `key`.
    pub fn get(key: &[u8]) -> Option<Vec<u8>> {
        #[cfg(feature = "std")]
        {
            super::native::with(|ext| match ext.get(key) {
                Ok(v) => v,
                Err(e) => panic!("state backend failed: {e}"),
            })
        }
        #[cfg(not(feature = "std"))]
        unsafe {
            super::ffi::take_bytes(super::ffi::ext_storage_get(
                key.as_ptr() as u32,
                key.len() as u32,
            ))
        }
    }

    /// Sets `key` to `value`.
    pub fn set(key: &[u8], value: &[u8]) {
        #[cfg(feature = "std")]
        super::native::with(|ext| ext.set(key, value));
        #[cfg(not(feature = "std"))]
        unsafe {
            super::ffi::ext_storage_set(
                key.as_ptr() as u32,
                key.len() as u32,
                value.as_ptr() as u32,
                value.len() as u32,
            )
        }
    }

    /// Deletes `key`.
    pub fn clear(key: &[u8]) {
        #[cfg(feature = "std")]
        super::native::with(|ext| ext.clear(key));
        #[cfg(not(feature = "std"))]
        unsafe {
            super::ffi::ext_storage_clear(key.as_ptr() as u32, key.len() as u32)
        }
    }

    /// The next existing key after `key`.
    pub fn next_key(key: &[u8]) -> Option<Vec<u8>> {
        #[cfg(feature = "std")]
        {
            super::native::with(|ext| match ext.next_key(key) {
                Ok(v) => v,
                Err(e) => panic!("state backend failed: {e}"),
            })
        }
        #[cfg(not(feature = "std"))]
        unsafe {
            super::ffi::take_bytes(super::ffi::ext_storage_next_key(
                key.as_ptr() as u32,
                key.len() as u32,
            ))
        }
    }

    /// Deletes up to `limit` keys starting with `prefix`: (how many, whether some remain).
    pub fn clear_prefix(prefix: &[u8], limit: u32) -> (u32, bool) {
        #[cfg(feature = "std")]
        {
            super::native::with(|ext| match ext.clear_prefix(prefix, limit) {
                Ok(v) => v,
                Err(e) => panic!("state backend failed: {e}"),
            })
        }
        #[cfg(not(feature = "std"))]
        {
            let packed = unsafe {
                super::ffi::ext_storage_clear_prefix(
                    prefix.as_ptr() as u32,
                    prefix.len() as u32,
                    limit,
                )
            };
            ((packed & 0xffff_ffff) as u32, (packed >> 32) != 0)
        }
    }

    /// Opens a nested storage transaction.
    pub fn start_transaction() {
        #[cfg(feature = "std")]
        super::native::with(|ext| ext.start_transaction());
        #[cfg(not(feature = "std"))]
        unsafe {
            super::ffi::ext_storage_start_transaction()
        }
    }

    /// Commits the innermost storage transaction.
    pub fn commit_transaction() {
        #[cfg(feature = "std")]
        super::native::with(|ext| {
            if let Err(e) = ext.commit_transaction() {
                panic!("{e}")
            }
        });
        #[cfg(not(feature = "std"))]
        unsafe {
            super::ffi::ext_storage_commit_transaction()
        }
    }

    /// Discards the innermost storage transaction.
    pub fn rollback_transaction() {
        #[cfg(feature = "std")]
        super::native::with(|ext| {
            if let Err(e) = ext.rollback_transaction() {
                panic!("{e}")
            }
        });
        #[cfg(not(feature = "std"))]
        unsafe {
            super::ffi::ext_storage_rollback_transaction()
        }
    }

    /// Runs `f` in a storage transaction, kept only if it returns `Ok`.
    pub fn with_transaction<T, E>(f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        start_transaction();
        let r = f();
        if r.is_ok() {
            commit_transaction();
        } else {
            rollback_transaction();
        }
        r
    }
}

/// Hashing.
pub mod hashing {
    /// blake3 of `data`.
    pub fn blake3_256(data: &[u8]) -> [u8; 32] {
        #[cfg(feature = "std")]
        {
            *blake3::hash(data).as_bytes()
        }
        #[cfg(not(feature = "std"))]
        {
            let mut out = [0u8; 32];
            unsafe {
                super::ffi::ext_hashing_blake3_256(
                    data.as_ptr() as u32,
                    data.len() as u32,
                    out.as_mut_ptr() as u32,
                )
            };
            out
        }
    }
}

/// Exact integer arithmetic too heavy for wasm, done by the host (like signature checks:
/// integers give the same result everywhere, so this is as deterministic as the runtime).
pub mod compute {
    /// `out[i][j] = sum_t x[i][t] * w[j][t]` for `x: [m, k]`, `w: [n, k]`, `out: [m, n]`
    /// (gpu-verify's reference GEMM). `false`, with `out` untouched, when the buffers do not
    /// match the shape or `k` exceeds gpu-verify's `MAX_DOT_LEN` (where i32 could overflow).
    pub fn gemm_i8(x: &[i8], m: u32, k: u32, w: &[i8], n: u32, out: &mut [i32]) -> bool {
        #[cfg(feature = "std")]
        {
            gemm_i8_native(x, m, k, w, n, out)
        }
        #[cfg(not(feature = "std"))]
        unsafe {
            // The host checks the shape against the buffers it reads.
            if x.len() != (m as usize).saturating_mul(k as usize)
                || w.len() != (n as usize).saturating_mul(k as usize)
                || out.len() != (m as usize).saturating_mul(n as usize)
            {
                return false;
            }
            super::ffi::ext_compute_gemm_i8(
                x.as_ptr() as u32,
                m,
                k,
                w.as_ptr() as u32,
                n,
                out.as_mut_ptr() as u32,
            ) == 1
        }
    }

    /// The host's side of [`gemm_i8`] (also what the executor calls).
    #[cfg(feature = "std")]
    pub fn gemm_i8_native(x: &[i8], m: u32, k: u32, w: &[i8], n: u32, out: &mut [i32]) -> bool {
        use gpu_verify_core::engine::Gemm;
        gpu_verify_core::engine::RefGemm
            .gemm(x, m as usize, k as usize, w, n as usize, out)
            .is_ok()
    }
}

/// Signature checks.
pub mod crypto {
    /// Whether `sig` is `pubkey`'s ed25519 signature of `msg` (strict verification).
    pub fn ed25519_verify(sig: &[u8; 64], msg: &[u8], pubkey: &[u8; 32]) -> bool {
        #[cfg(feature = "std")]
        {
            let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(pubkey) else {
                return false;
            };
            key.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig))
                .is_ok()
        }
        #[cfg(not(feature = "std"))]
        unsafe {
            super::ffi::ext_crypto_ed25519_verify(
                sig.as_ptr() as u32,
                msg.as_ptr() as u32,
                msg.len() as u32,
                pubkey.as_ptr() as u32,
            ) == 1
        }
    }

    /// Whether `sig` is a valid BLS12-381 signature of `msg` by `pk` (`min_pk`,
    /// proof-of-possession ciphersuite, signature domain tag
    /// `BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`). `false` for an undecodable or invalid
    /// key (not on the curve, not in the subgroup, the identity) or signature.
    pub fn bls12381_verify(
        pk: &[u8; menara_primitives::BLS_PUBLIC_KEY_LEN],
        msg: &[u8],
        sig: &[u8; menara_primitives::BLS_SIGNATURE_LEN],
    ) -> bool {
        #[cfg(feature = "std")]
        {
            let Ok(key) = menara_crypto::BlsPublicKey::from_bytes(pk) else {
                return false;
            };
            let Ok(sig) = menara_crypto::BlsSignature::from_bytes(sig) else {
                return false;
            };
            sig.verify(&key, msg)
        }
        #[cfg(not(feature = "std"))]
        unsafe {
            super::ffi::ext_crypto_bls12381_verify(
                pk.as_ptr() as u32,
                msg.as_ptr() as u32,
                msg.len() as u32,
                sig.as_ptr() as u32,
            ) == 1
        }
    }

    /// Whether `pop` is a valid proof of possession of the secret key of `pk` (a signature
    /// over the compressed key under `BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_`), and `pk`
    /// a valid key. A key must pass this once before it enters a validator set.
    pub fn bls12381_verify_pop(
        pk: &[u8; menara_primitives::BLS_PUBLIC_KEY_LEN],
        pop: &[u8; menara_primitives::BLS_SIGNATURE_LEN],
    ) -> bool {
        #[cfg(feature = "std")]
        {
            let Ok(key) = menara_crypto::BlsPublicKey::from_bytes(pk) else {
                return false;
            };
            let Ok(sig) = menara_crypto::BlsSignature::from_bytes(pop) else {
                return false;
            };
            menara_crypto::verify_possession(&key, &menara_crypto::ProofOfPossession(sig))
        }
        #[cfg(not(feature = "std"))]
        unsafe {
            super::ffi::ext_crypto_bls12381_verify_pop(pk.as_ptr() as u32, pop.as_ptr() as u32) == 1
        }
    }
}

pub use crypto::{bls12381_verify, bls12381_verify_pop};

/// Questions about runtime code.
pub mod misc {
    use menara_primitives::RuntimeVersion;
    use parity_scale_codec::DecodeAll;

    /// The version `code` answers when asked `Core_version`, or `None` when it is not a
    /// runtime the node can run: it does not compile, lacks the runtime's exports or
    /// imports something the node does not offer, or fails to answer within a fixed fuel
    /// budget. The answer depends on the code alone (the node runs the question on a fresh
    /// instance with empty state and metered fuel), so it is the same on every node; the
    /// node also compiles accepted code into its cache of runtimes, so that switching to it
    /// later does not stall a block.
    pub fn runtime_version(code: &[u8]) -> Option<RuntimeVersion> {
        #[cfg(feature = "std")]
        let encoded = super::native::with(|ext| ext.runtime_version(code));
        #[cfg(not(feature = "std"))]
        let encoded = unsafe {
            super::ffi::take_bytes(super::ffi::ext_misc_runtime_version(
                code.as_ptr() as u32,
                code.len() as u32,
            ))
        };
        RuntimeVersion::decode_all(&mut &encoded?[..]).ok()
    }
}

/// Logging into the node's log.
pub mod logging {
    /// Log levels, as numbers for the host.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    #[repr(u32)]
    pub enum Level {
        /// Something went wrong.
        Error = 1,
        /// Something looks wrong.
        Warn = 2,
        /// Interesting.
        Info = 3,
        /// For developers.
        Debug = 4,
    }

    /// Logs `msg` under `target`.
    pub fn log(level: Level, target: &str, msg: &str) {
        #[cfg(feature = "std")]
        {
            let _ = (level, target, msg);
        }
        #[cfg(not(feature = "std"))]
        unsafe {
            super::ffi::ext_logging_log(
                level as u32,
                target.as_ptr() as u32,
                target.len() as u32,
                msg.as_ptr() as u32,
                msg.len() as u32,
            )
        }
    }

    /// Logs an error.
    pub fn error(target: &str, msg: &str) {
        log(Level::Error, target, msg)
    }
}
