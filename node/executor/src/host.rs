//! The host functions the runtime imports.
use menara_state_machine::{self as sm, OverlayedChanges, StateReader};
use std::sync::Arc;
use wasmtime::{Caller, Linker, StoreLimits};

/// Per-instance state: the committed state, pending changes and limits.
pub struct HostState {
    backend: Arc<dyn StateReader>,
    pub(crate) overlay: OverlayedChanges,
    pub(crate) limits: StoreLimits,
    /// Why a host function stopped the runtime (reported instead of the bare trap).
    pub(crate) host_error: Option<String>,
    /// The executor, to answer questions about other runtime code; `None` inside such a
    /// question (no nesting).
    executor: Option<Arc<crate::Shared>>,
}

impl HostState {
    pub(crate) fn new(
        backend: Arc<dyn StateReader>,
        overlay: OverlayedChanges,
        limits: StoreLimits,
        executor: Option<Arc<crate::Shared>>,
    ) -> Self {
        HostState {
            backend,
            overlay,
            limits,
            host_error: None,
            executor,
        }
    }
}

type HostResult<T> = wasmtime::Result<T>;

/// Largest key the runtime may use.
const MAX_KEY_LEN: u32 = 4 * 1024;
/// Largest value the runtime may store.
const MAX_VALUE_LEN: u32 = 16 * 1024 * 1024;
/// Largest runtime code the runtime may ask about (`ext_misc_runtime_version`).
const MAX_CODE_LEN: u32 = 16 * 1024 * 1024;

/// Length of a compressed BLS12-381 public key (G1).
const BLS_PK_LEN: u32 = menara_primitives::BLS_PUBLIC_KEY_LEN as u32;
/// Length of a compressed BLS12-381 signature (G2).
const BLS_SIG_LEN: u32 = menara_primitives::BLS_SIGNATURE_LEN as u32;

/// Whether `sig` is `pk`'s BLS12-381 signature of `msg` (`min_pk`, proof-of-possession
/// ciphersuite); `false` for an undecodable or invalid key or signature.
pub(crate) fn bls12381_verify(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(pk) = menara_crypto::BlsPublicKey::from_bytes(pk) else {
        return false;
    };
    let Ok(sig) = menara_crypto::BlsSignature::from_bytes(sig) else {
        return false;
    };
    sig.verify(&pk, msg)
}

/// Whether `pop` proves possession of `pk`'s secret key; `false` for an undecodable or
/// invalid key or proof.
pub(crate) fn bls12381_verify_pop(pk: &[u8], pop: &[u8]) -> bool {
    let Ok(pk) = menara_crypto::BlsPublicKey::from_bytes(pk) else {
        return false;
    };
    let Ok(pop) = menara_crypto::BlsSignature::from_bytes(pop) else {
        return false;
    };
    menara_crypto::verify_possession(&pk, &menara_crypto::ProofOfPossession(pop))
}

fn fail<T>(caller: &mut Caller<'_, HostState>, msg: String) -> HostResult<T> {
    caller.data_mut().host_error = Some(msg.clone());
    Err(wasmtime::format_err!(msg))
}

fn memory(caller: &mut Caller<'_, HostState>) -> HostResult<wasmtime::Memory> {
    match caller.get_export("memory").and_then(|e| e.into_memory()) {
        Some(m) => Ok(m),
        None => fail(caller, "runtime has no exported memory".into()),
    }
}

fn read_bytes(
    caller: &mut Caller<'_, HostState>,
    ptr: u32,
    len: u32,
    max: u32,
) -> HostResult<Vec<u8>> {
    if len > max {
        return fail(
            caller,
            format!("host call argument of {len} bytes exceeds the limit of {max}"),
        );
    }
    let mem = memory(caller)?;
    let mut buf = vec![0u8; len as usize];
    if mem.read(&*caller, ptr as usize, &mut buf).is_err() {
        return fail(
            caller,
            format!("runtime passed out-of-bounds memory ({ptr}+{len})"),
        );
    }
    Ok(buf)
}

fn write_bytes(caller: &mut Caller<'_, HostState>, ptr: u32, data: &[u8]) -> HostResult<()> {
    let mem = memory(caller)?;
    if mem.write(&mut *caller, ptr as usize, data).is_err() {
        return fail(
            caller,
            format!("runtime passed out-of-bounds memory ({ptr}+{})", data.len()),
        );
    }
    Ok(())
}

/// Copies `data` into guest memory obtained from the guest's `alloc`; returns `(ptr << 32) | len`.
fn return_bytes(caller: &mut Caller<'_, HostState>, data: Option<Vec<u8>>) -> HostResult<u64> {
    let Some(data) = data else {
        return Ok(u64::MAX);
    };
    let Ok(len) = u32::try_from(data.len()) else {
        return fail(caller, "value larger than 4 GiB".into());
    };
    let alloc = match caller.get_export("alloc").and_then(|e| e.into_func()) {
        Some(f) => f.typed::<u32, u32>(&*caller)?,
        None => return fail(caller, "runtime has no `alloc` export".into()),
    };
    let ptr = alloc.call(&mut *caller, len)?;
    write_bytes(caller, ptr, &data)?;
    Ok(((ptr as u64) << 32) | len as u64)
}

fn backend_failure<T>(caller: &mut Caller<'_, HostState>, e: sm::StateError) -> HostResult<T> {
    fail(caller, format!("state backend failed: {e}"))
}

/// Adds every host function to `linker`.
pub(crate) fn register(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "ext_misc_runtime_version",
        |mut caller: Caller<'_, HostState>, ptr: u32, len: u32| -> HostResult<u64> {
            let code = read_bytes(&mut caller, ptr, len, MAX_CODE_LEN)?;
            let answer = caller
                .data()
                .executor
                .clone()
                .and_then(|executor| crate::Shared::runtime_version(&executor, &code));
            return_bytes(
                &mut caller,
                answer.map(|v| parity_scale_codec::Encode::encode(&v)),
            )
        },
    )?;
    linker.func_wrap(
        "env",
        "ext_storage_get",
        |mut caller: Caller<'_, HostState>, ptr: u32, len: u32| -> HostResult<u64> {
            let key = read_bytes(&mut caller, ptr, len, MAX_KEY_LEN)?;
            let state = caller.data();
            let value = match sm::read(state.backend.as_ref(), &state.overlay, &key) {
                Ok(v) => v,
                Err(e) => return backend_failure(&mut caller, e),
            };
            return_bytes(&mut caller, value)
        },
    )?;
    linker.func_wrap(
        "env",
        "ext_storage_set",
        |mut caller: Caller<'_, HostState>, kp: u32, kl: u32, vp: u32, vl: u32| -> HostResult<()> {
            let key = read_bytes(&mut caller, kp, kl, MAX_KEY_LEN)?;
            let value = read_bytes(&mut caller, vp, vl, MAX_VALUE_LEN)?;
            caller.data_mut().overlay.set(key, Some(value));
            Ok(())
        },
    )?;
    linker.func_wrap(
        "env",
        "ext_storage_clear",
        |mut caller: Caller<'_, HostState>, ptr: u32, len: u32| -> HostResult<()> {
            let key = read_bytes(&mut caller, ptr, len, MAX_KEY_LEN)?;
            caller.data_mut().overlay.set(key, None);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "env",
        "ext_storage_next_key",
        |mut caller: Caller<'_, HostState>, ptr: u32, len: u32| -> HostResult<u64> {
            let key = read_bytes(&mut caller, ptr, len, MAX_KEY_LEN)?;
            let state = caller.data();
            let next = match sm::next_key(state.backend.as_ref(), &state.overlay, &key) {
                Ok(v) => v,
                Err(e) => return backend_failure(&mut caller, e),
            };
            return_bytes(&mut caller, next)
        },
    )?;
    linker.func_wrap(
        "env",
        "ext_storage_clear_prefix",
        |mut caller: Caller<'_, HostState>, ptr: u32, len: u32, limit: u32| -> HostResult<u64> {
            let prefix = read_bytes(&mut caller, ptr, len, MAX_KEY_LEN)?;
            let state = caller.data_mut();
            let backend = state.backend.clone();
            match sm::clear_prefix(backend.as_ref(), &mut state.overlay, &prefix, limit) {
                Ok((count, more)) => Ok(((more as u64) << 32) | count as u64),
                Err(e) => backend_failure(&mut caller, e),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "ext_storage_start_transaction",
        |mut caller: Caller<'_, HostState>| -> HostResult<()> {
            caller.data_mut().overlay.start_transaction();
            Ok(())
        },
    )?;
    linker.func_wrap(
        "env",
        "ext_storage_commit_transaction",
        |mut caller: Caller<'_, HostState>| -> HostResult<()> {
            match caller.data_mut().overlay.commit_transaction() {
                Ok(()) => Ok(()),
                Err(e) => fail(&mut caller, e.to_string()),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "ext_storage_rollback_transaction",
        |mut caller: Caller<'_, HostState>| -> HostResult<()> {
            match caller.data_mut().overlay.rollback_transaction() {
                Ok(()) => Ok(()),
                Err(e) => fail(&mut caller, e.to_string()),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "ext_hashing_blake3_256",
        |mut caller: Caller<'_, HostState>, ptr: u32, len: u32, out: u32| -> HostResult<()> {
            let data = read_bytes(&mut caller, ptr, len, MAX_VALUE_LEN)?;
            let hash = blake3::hash(&data);
            write_bytes(&mut caller, out, hash.as_bytes())
        },
    )?;
    linker.func_wrap(
        "env",
        "ext_crypto_ed25519_verify",
        |mut caller: Caller<'_, HostState>,
         sig: u32,
         msg: u32,
         msg_len: u32,
         key: u32|
         -> HostResult<u32> {
            let sig = read_bytes(&mut caller, sig, 64, 64)?;
            let msg = read_bytes(&mut caller, msg, msg_len, MAX_VALUE_LEN)?;
            let key = read_bytes(&mut caller, key, 32, 32)?;
            let (Ok(sig), Ok(key)) = (
                <[u8; 64]>::try_from(sig.as_slice()),
                <[u8; 32]>::try_from(key.as_slice()),
            ) else {
                return Ok(0);
            };
            let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&key) else {
                return Ok(0);
            };
            Ok(key
                .verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig))
                .is_ok() as u32)
        },
    )?;
    linker.func_wrap(
        "env",
        "ext_crypto_bls12381_verify",
        |mut caller: Caller<'_, HostState>,
         pk: u32,
         msg: u32,
         msg_len: u32,
         sig: u32|
         -> HostResult<u32> {
            let pk = read_bytes(&mut caller, pk, BLS_PK_LEN, BLS_PK_LEN)?;
            let msg = read_bytes(&mut caller, msg, msg_len, MAX_VALUE_LEN)?;
            let sig = read_bytes(&mut caller, sig, BLS_SIG_LEN, BLS_SIG_LEN)?;
            Ok(bls12381_verify(&pk, &msg, &sig) as u32)
        },
    )?;
    linker.func_wrap(
        "env",
        "ext_crypto_bls12381_verify_pop",
        |mut caller: Caller<'_, HostState>, pk: u32, pop: u32| -> HostResult<u32> {
            let pk = read_bytes(&mut caller, pk, BLS_PK_LEN, BLS_PK_LEN)?;
            let pop = read_bytes(&mut caller, pop, BLS_SIG_LEN, BLS_SIG_LEN)?;
            Ok(bls12381_verify_pop(&pk, &pop) as u32)
        },
    )?;
    linker.func_wrap(
        "env",
        "ext_compute_gemm_i8",
        |mut caller: Caller<'_, HostState>,
         x: u32,
         m: u32,
         k: u32,
         w: u32,
         n: u32,
         out: u32|
         -> HostResult<u32> {
            // At most 16 MiB per operand: a challenge step is 32 KiB × 1 MiB → 128 KiB.
            const MAX: u64 = 16 << 20;
            let (mk, nk, mn4) = (
                m as u64 * k as u64,
                n as u64 * k as u64,
                m as u64 * n as u64 * 4,
            );
            if mk > MAX || nk > MAX || mn4 > MAX {
                return Ok(0);
            }
            let x = read_bytes(&mut caller, x, mk as u32, MAX as u32)?;
            let w = read_bytes(&mut caller, w, nk as u32, MAX as u32)?;
            let x: Vec<i8> = x.into_iter().map(|b| b as i8).collect();
            let w: Vec<i8> = w.into_iter().map(|b| b as i8).collect();
            let mut result = vec![0i32; (m as usize) * (n as usize)];
            if gpu_verify_core::engine::Gemm::gemm(
                &gpu_verify_core::engine::RefGemm,
                &x,
                m as usize,
                k as usize,
                &w,
                n as usize,
                &mut result,
            )
            .is_err()
            {
                return Ok(0);
            }
            let bytes: Vec<u8> = result.iter().flat_map(|v| v.to_le_bytes()).collect();
            write_bytes(&mut caller, out, &bytes)?;
            Ok(1)
        },
    )?;
    linker.func_wrap(
        "env",
        "ext_logging_log",
        |mut caller: Caller<'_, HostState>,
         level: u32,
         tp: u32,
         tl: u32,
         mp: u32,
         ml: u32|
         -> HostResult<()> {
            let target = read_bytes(&mut caller, tp, tl, 256)?;
            let msg = read_bytes(&mut caller, mp, ml, 64 * 1024)?;
            let target = String::from_utf8_lossy(&target);
            let msg = String::from_utf8_lossy(&msg);
            match level {
                1 => tracing::error!(target: "runtime", "{target}: {msg}"),
                2 => tracing::warn!(target: "runtime", "{target}: {msg}"),
                3 => tracing::info!(target: "runtime", "{target}: {msg}"),
                _ => tracing::debug!(target: "runtime", "{target}: {msg}"),
            }
            Ok(())
        },
    )?;
    Ok(())
}
