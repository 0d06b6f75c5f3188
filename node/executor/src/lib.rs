//! Runs the runtime's wasm under wasmtime.
//!
//! - Compiled once per code: modules are cached in memory by the code's blake3 hash
//!   (LRU) and, when a cache directory is given, on disk, with a checksum that is
//!   verified before a cached artifact is trusted.
//! - Deterministic: NaN canonicalisation, no threads, no SIMD (relaxed SIMD can differ
//!   between machines), bounded memory and stack. The only imports are the host
//!   functions below; nothing non-deterministic (clock, randomness) is offered.
//! - Safe for the node: a trap, a bad pointer, a missing export or undecodable output
//!   is an [`ExecutorError`], never a panic; the call's storage changes are rolled back.
//!
//! Host functions (module `env`), see `menara_support::io` for the guest side:
//! `ext_storage_{get,set,clear,next_key,clear_prefix,start_transaction,
//! commit_transaction,rollback_transaction}`, `ext_hashing_blake3_256`,
//! `ext_crypto_ed25519_verify`, `ext_crypto_bls12381_verify{,_pop}`, `ext_compute_gemm_i8`,
//! `ext_misc_runtime_version` (which version other code answers: `set_code`'s check, see
//! [`Executor::runtime_version`]), `ext_logging_log`.
mod host;

use lru::LruCache;
use menara_primitives::{blake3_256, methods, RuntimeVersion, H256};
use menara_state_machine::{InMemoryState, OverlayedChanges, StateReader};
use parity_scale_codec::{Decode, DecodeAll, Encode};
use parking_lot::Mutex;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::{
    Engine, InstancePre, Linker, Module, Store, StoreLimits, StoreLimitsBuilder, TypedFunc,
};

pub use host::HostState;

/// Errors of runtime execution.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The code is not a valid runtime module (bad wasm, wrong imports or exports).
    #[error("invalid runtime code: {0}")]
    InvalidCode(String),
    /// The runtime trapped (panic, out of bounds, out of memory, stack overflow...).
    #[error("runtime trapped in {method}: {reason}")]
    Trap {
        /// The API function called.
        method: String,
        /// What happened.
        reason: String,
    },
    /// The runtime has no such export.
    #[error("runtime does not export {0}")]
    MissingExport(String),
    /// The output did not decode as the expected type.
    #[error("runtime returned undecodable output from {0}")]
    BadOutput(String),
    /// A previous call trapped; this instance must not be used again.
    #[error("runtime instance is unusable after a trap")]
    Poisoned,
    /// Engine setup failed.
    #[error("wasm engine: {0}")]
    Engine(String),
}

/// Executor settings.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Largest linear memory a runtime instance may grow to.
    pub max_memory_bytes: usize,
    /// Largest wasm stack.
    pub max_stack_bytes: usize,
    /// Compiled runtimes kept in memory.
    pub cache_size: usize,
    /// Where compiled runtimes are kept on disk (none: compile at every start).
    pub disk_cache: Option<PathBuf>,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            max_memory_bytes: 256 << 20,
            max_stack_bytes: 1 << 20,
            cache_size: 4,
            disk_cache: None,
        }
    }
}

/// A wasm runtime executor; clones share its engines and caches.
#[derive(Clone)]
pub struct Executor {
    shared: Arc<Shared>,
}

/// What instances of every runtime share, including the host functions' way back to the
/// executor (to answer `ext_misc_runtime_version`).
pub(crate) struct Shared {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Mutex<LruCache<H256, Arc<InstancePre<HostState>>>>,
    config: ExecutorConfig,
    inspector: CodeInspector,
}

/// Fuel (about one unit per wasm instruction) a candidate runtime gets to answer
/// `Core_version`: ours needs a few thousand; a loop runs out, deterministically.
pub const VERSION_CHECK_FUEL: u64 = 20_000_000;

/// Answers "which version is this code?" for code that is not running yet (a proposed
/// runtime upgrade), deterministically: a separate engine that meters fuel, a fresh instance
/// over empty state, no further code questions from inside. Answers are cached by code hash.
struct CodeInspector {
    engine: Engine,
    linker: Linker<HostState>,
    answers: Mutex<LruCache<H256, Arc<std::sync::OnceLock<Option<RuntimeVersion>>>>>,
}

fn engine_err(e: impl std::fmt::Display) -> ExecutorError {
    ExecutorError::Engine(e.to_string())
}

/// The deterministic engine configuration; `fuel` adds metering and compiles without
/// optimisation (the code inspector's: it runs one short call per module, so compile time
/// is what counts; fuel is counted per wasm instruction, whatever the optimisation).
fn engine(config: &ExecutorConfig, fuel: bool) -> Result<Engine, ExecutorError> {
    let mut wasm = wasmtime::Config::new();
    // Threads are off: wasmtime is built without its `threads` feature.
    wasm.cranelift_nan_canonicalization(true)
        .wasm_relaxed_simd(false)
        .wasm_simd(false)
        .max_wasm_stack(config.max_stack_bytes)
        .consume_fuel(fuel)
        .cranelift_opt_level(if fuel {
            wasmtime::OptLevel::None
        } else {
            wasmtime::OptLevel::Speed
        });
    Engine::new(&wasm).map_err(engine_err)
}

fn linker(engine: &Engine) -> Result<Linker<HostState>, ExecutorError> {
    let mut linker = Linker::new(engine);
    host::register(&mut linker).map_err(engine_err)?;
    Ok(linker)
}

/// Exports every runtime must have besides its API functions.
const REQUIRED_EXPORTS: [&str; 3] = ["memory", "alloc", "dealloc"];

fn check_exports(module: &Module) -> Result<(), ExecutorError> {
    for export in REQUIRED_EXPORTS {
        if module.get_export(export).is_none() {
            return Err(ExecutorError::InvalidCode(format!(
                "missing export `{export}`"
            )));
        }
    }
    Ok(())
}

impl Executor {
    /// A new executor with a deterministic engine.
    pub fn new(config: ExecutorConfig) -> Result<Self, ExecutorError> {
        let engine = engine(&config, false)?;
        let linker = linker(&engine)?;
        let inspector_engine = self::engine(&config, true)?;
        let inspector = CodeInspector {
            linker: self::linker(&inspector_engine)?,
            engine: inspector_engine,
            answers: Mutex::new(LruCache::new(
                NonZeroUsize::new(16).unwrap_or(NonZeroUsize::MIN),
            )),
        };
        let size = NonZeroUsize::new(config.cache_size.max(1)).unwrap_or(NonZeroUsize::MIN);
        Ok(Executor {
            shared: Arc::new(Shared {
                engine,
                linker,
                cache: Mutex::new(LruCache::new(size)),
                config,
                inspector,
            }),
        })
    }

    /// Instantiates `code` over `backend` with `overlay` holding pending changes.
    pub fn instantiate(
        &self,
        code: &[u8],
        backend: Arc<dyn StateReader>,
        overlay: OverlayedChanges,
    ) -> Result<RuntimeInstance, ExecutorError> {
        Shared::instantiate(&self.shared, code, backend, overlay)
    }

    /// One call on a fresh instance; returns the output and the changes it made.
    pub fn call_once(
        &self,
        code: &[u8],
        backend: Arc<dyn StateReader>,
        method: &str,
        input: &[u8],
    ) -> Result<(Vec<u8>, OverlayedChanges), ExecutorError> {
        let mut instance = self.instantiate(code, backend, OverlayedChanges::new())?;
        let out = instance.call(method, input)?;
        Ok((out, instance.into_overlay()))
    }

    /// The version `code` answers when asked `Core_version`, or `None` when it is not a
    /// runtime this executor can run: what the runtime's `set_code` checks a proposed
    /// upgrade with (host function `ext_misc_runtime_version`). Deterministic (metered with
    /// [`VERSION_CHECK_FUEL`], a fresh instance over empty state) and cached by code hash;
    /// accepted code is then compiled for execution in the background.
    pub fn runtime_version(&self, code: &[u8]) -> Option<RuntimeVersion> {
        Shared::runtime_version(&self.shared, code)
    }

    /// Whether `code` is compiled and in the in-memory cache (a switch to it costs no
    /// compilation).
    pub fn is_compiled(&self, code: &[u8]) -> bool {
        self.shared.cache.lock().contains(&blake3_256(code))
    }
}

impl Shared {
    fn compile(&self, code: &[u8], code_hash: &H256) -> Result<Module, ExecutorError> {
        if let Some(dir) = &self.config.disk_cache {
            if let Some(module) = self.load_cached(dir, code_hash) {
                return Ok(module);
            }
        }
        let started = std::time::Instant::now();
        let module = Module::new(&self.engine, code)
            .map_err(|e| ExecutorError::InvalidCode(format!("{e:#}")))?;
        tracing::info!(target: "executor", code = %code_hash, ms = started.elapsed().as_millis() as u64, "compiled runtime");
        if let Some(dir) = &self.config.disk_cache {
            self.store_cached(dir, code_hash, &module);
        }
        Ok(module)
    }

    fn cache_path(dir: &std::path::Path, code_hash: &H256) -> PathBuf {
        dir.join(format!("{code_hash}-wasmtime{}.cwasm", wasmtime_version()))
    }

    fn load_cached(&self, dir: &std::path::Path, code_hash: &H256) -> Option<Module> {
        let bytes = std::fs::read(Self::cache_path(dir, code_hash)).ok()?;
        if bytes.len() < 32 {
            return None;
        }
        let (sum, artifact) = bytes.split_at(32);
        if blake3_256(artifact).0 != sum {
            tracing::warn!(target: "executor", "ignoring corrupt compiled-runtime cache entry");
            return None;
        }
        // SAFETY: the artifact was produced by `Module::serialize` of this engine
        // configuration and its checksum matches; wasmtime also checks compatibility.
        match unsafe { Module::deserialize(&self.engine, artifact) } {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::debug!(target: "executor", "compiled-runtime cache entry unusable: {e}");
                None
            }
        }
    }

    fn store_cached(&self, dir: &std::path::Path, code_hash: &H256, module: &Module) {
        let Ok(artifact) = module.serialize() else {
            return;
        };
        let mut bytes = blake3_256(&artifact).0.to_vec();
        bytes.extend_from_slice(&artifact);
        let path = Self::cache_path(dir, code_hash);
        let tmp = path.with_extension("tmp");
        let result = std::fs::create_dir_all(dir)
            .and_then(|_| std::fs::write(&tmp, &bytes))
            .and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = result {
            tracing::warn!(target: "executor", "cannot write compiled-runtime cache: {e}");
        }
    }

    /// The pre-linked module for `code`, compiled once per code hash.
    fn prepare(&self, code: &[u8]) -> Result<Arc<InstancePre<HostState>>, ExecutorError> {
        let code_hash = blake3_256(code);
        if let Some(pre) = self.cache.lock().get(&code_hash) {
            return Ok(pre.clone());
        }
        let module = self.compile(code, &code_hash)?;
        check_exports(&module)?;
        let pre = Arc::new(
            self.linker
                .instantiate_pre(&module)
                .map_err(|e| ExecutorError::InvalidCode(format!("{e:#}")))?,
        );
        self.cache.lock().put(code_hash, pre.clone());
        Ok(pre)
    }

    fn instantiate(
        this: &Arc<Shared>,
        code: &[u8],
        backend: Arc<dyn StateReader>,
        overlay: OverlayedChanges,
    ) -> Result<RuntimeInstance, ExecutorError> {
        let pre = this.prepare(code)?;
        let state = HostState::new(backend, overlay, this.limits(), Some(this.clone()));
        RuntimeInstance::new(&this.engine, &pre, state, None)
    }

    fn limits(&self) -> StoreLimits {
        StoreLimitsBuilder::new()
            .memory_size(self.config.max_memory_bytes)
            .instances(1)
            .trap_on_grow_failure(true)
            .build()
    }

    /// The version `code` answers when asked `Core_version`, or `None` when it is not a
    /// runtime this executor can run (it does not compile, lacks an export, imports an
    /// unknown host function, traps, runs out of [`VERSION_CHECK_FUEL`] or answers
    /// something that is not a version). Deterministic: metered, on a fresh instance over
    /// empty state, whose own code questions are answered `None`. Accepted code is then
    /// compiled for execution in the background, into the cache a block will use.
    pub(crate) fn runtime_version(this: &Arc<Shared>, code: &[u8]) -> Option<RuntimeVersion> {
        let code_hash = blake3_256(code);
        // One answer per code: a second asker (a block while the pool's warm-up still
        // compiles, say) waits for the first instead of compiling again.
        let answer = this
            .inspector
            .answers
            .lock()
            .get_or_insert(code_hash, Default::default)
            .clone();
        answer
            .get_or_init(|| {
                let started = std::time::Instant::now();
                let answer = this.inspect(code);
                tracing::info!(
                    target: "executor",
                    code = %code_hash,
                    ms = started.elapsed().as_millis() as u64,
                    version = ?answer.as_ref().map(|v| v.spec_version),
                    "inspected proposed runtime"
                );
                if answer.is_some() && !this.cache.lock().contains(&code_hash) {
                    this.precompile(code);
                }
                answer
            })
            .clone()
    }

    /// Compiles `code` for execution on a background thread, into the module cache.
    fn precompile(self: &Arc<Self>, code: &[u8]) {
        let shared = self.clone();
        let code = code.to_vec();
        let spawned = std::thread::Builder::new()
            .name("runtime-precompile".into())
            .spawn(move || {
                if let Err(e) = shared.prepare(&code) {
                    tracing::warn!(target: "executor", "precompiling proposed runtime failed: {e}");
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(target: "executor", "cannot start precompiling: {e}");
        }
    }

    fn inspect(&self, code: &[u8]) -> Option<RuntimeVersion> {
        let inspector = &self.inspector;
        let module = Module::new(&inspector.engine, code).ok()?;
        check_exports(&module).ok()?;
        let pre = inspector.linker.instantiate_pre(&module).ok()?;
        let state = HostState::new(
            Arc::new(InMemoryState::default()),
            OverlayedChanges::new(),
            self.limits(),
            None,
        );
        let mut instance =
            RuntimeInstance::new(&inspector.engine, &pre, state, Some(VERSION_CHECK_FUEL)).ok()?;
        instance.call_decode(methods::VERSION, &()).ok()
    }
}

impl RuntimeInstance {
    fn new(
        engine: &Engine,
        pre: &InstancePre<HostState>,
        state: HostState,
        fuel: Option<u64>,
    ) -> Result<RuntimeInstance, ExecutorError> {
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limits);
        if let Some(fuel) = fuel {
            store.set_fuel(fuel).map_err(engine_err)?;
        }
        let instance = pre
            .instantiate(&mut store)
            .map_err(|e| ExecutorError::InvalidCode(format!("{e:#}")))?;
        let alloc = instance
            .get_typed_func::<u32, u32>(&mut store, "alloc")
            .map_err(|_| ExecutorError::MissingExport("alloc(u32) -> u32".into()))?;
        let dealloc = instance
            .get_typed_func::<(u32, u32), ()>(&mut store, "dealloc")
            .map_err(|_| ExecutorError::MissingExport("dealloc(u32, u32)".into()))?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| ExecutorError::MissingExport("memory".into()))?;
        Ok(RuntimeInstance {
            store,
            instance,
            memory,
            alloc,
            dealloc,
            poisoned: false,
        })
    }
}

fn wasmtime_version() -> &'static str {
    "48"
}

/// An instantiated runtime with its pending storage changes. One per block (or query).
pub struct RuntimeInstance {
    store: Store<HostState>,
    instance: wasmtime::Instance,
    memory: wasmtime::Memory,
    alloc: TypedFunc<u32, u32>,
    dealloc: TypedFunc<(u32, u32), ()>,
    poisoned: bool,
}

impl RuntimeInstance {
    /// Calls the runtime API function `method` with raw `input`; on error, the call's
    /// storage changes are discarded and the instance is poisoned.
    pub fn call(&mut self, method: &str, input: &[u8]) -> Result<Vec<u8>, ExecutorError> {
        if self.poisoned {
            return Err(ExecutorError::Poisoned);
        }
        let depth = self.store.data().overlay.transaction_depth();
        self.store.data_mut().overlay.start_transaction();
        match self.call_inner(method, input) {
            Ok(out) => {
                let overlay = &mut self.store.data_mut().overlay;
                while overlay.transaction_depth() > depth {
                    let _ = overlay.commit_transaction();
                }
                Ok(out)
            }
            Err(e) => {
                self.poisoned = true;
                let overlay = &mut self.store.data_mut().overlay;
                while overlay.transaction_depth() > depth {
                    let _ = overlay.rollback_transaction();
                }
                Err(e)
            }
        }
    }

    fn trap(method: &str, e: wasmtime::Error, state: &HostState) -> ExecutorError {
        let reason = match (&state.host_error, e.downcast_ref::<wasmtime::Trap>()) {
            (Some(host), _) => host.clone(),
            (None, Some(trap)) => trap.to_string(),
            (None, None) => format!("{e:#}"),
        };
        ExecutorError::Trap {
            method: method.to_string(),
            reason,
        }
    }

    fn call_inner(&mut self, method: &str, input: &[u8]) -> Result<Vec<u8>, ExecutorError> {
        let func = self
            .instance
            .get_typed_func::<(u32, u32), u64>(&mut self.store, method)
            .map_err(|_| ExecutorError::MissingExport(method.to_string()))?;
        let len = u32::try_from(input.len()).map_err(|_| ExecutorError::Trap {
            method: method.into(),
            reason: "input larger than 4 GiB".into(),
        })?;
        let ptr = self
            .alloc
            .call(&mut self.store, len)
            .map_err(|e| Self::trap("alloc", e, self.store.data()))?;
        self.memory
            .write(&mut self.store, ptr as usize, input)
            .map_err(|_| ExecutorError::Trap {
                method: method.into(),
                reason: "alloc returned memory out of bounds".into(),
            })?;
        let packed = func
            .call(&mut self.store, (ptr, len))
            .map_err(|e| Self::trap(method, e, self.store.data()))?;
        let (out_ptr, out_len) = ((packed >> 32) as u32, (packed & 0xffff_ffff) as u32);
        let mut out = vec![0u8; out_len as usize];
        self.memory
            .read(&self.store, out_ptr as usize, &mut out)
            .map_err(|_| ExecutorError::Trap {
                method: method.into(),
                reason: "output pointer out of bounds".into(),
            })?;
        self.dealloc
            .call(&mut self.store, (out_ptr, out_len))
            .map_err(|e| Self::trap("dealloc", e, self.store.data()))?;
        Ok(out)
    }

    /// Calls `method` with SCALE-encoded `input` and decodes its output as `R`.
    pub fn call_decode<R: Decode>(
        &mut self,
        method: &str,
        input: &impl Encode,
    ) -> Result<R, ExecutorError> {
        let out = self.call(method, &input.encode())?;
        R::decode_all(&mut &out[..]).map_err(|_| ExecutorError::BadOutput(method.to_string()))
    }

    /// The pending changes.
    pub fn overlay(&self) -> &OverlayedChanges {
        &self.store.data().overlay
    }

    /// Takes the pending changes.
    pub fn into_overlay(self) -> OverlayedChanges {
        self.store.into_data().overlay
    }

    /// Linear memory currently used, in bytes.
    pub fn memory_size(&self) -> usize {
        self.memory.data_size(&self.store)
    }
}

#[cfg(test)]
mod tests;
