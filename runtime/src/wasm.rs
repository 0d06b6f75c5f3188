//! The wasm entry points: allocator, panic handler, and the exported runtime API.
use alloc::boxed::Box;
use alloc::vec::Vec;

#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let msg = alloc::format!("{info}");
    menara_support::io::logging::error("runtime", &msg);
    core::arch::wasm32::unreachable()
}

/// Allocates `len` bytes for the host to write into (layout: size `len`, align 1).
#[no_mangle]
pub extern "C" fn alloc(len: u32) -> u32 {
    if len == 0 {
        return 1;
    }
    let Ok(layout) = core::alloc::Layout::from_size_align(len as usize, 1) else {
        core::arch::wasm32::unreachable()
    };
    // SAFETY: non-zero size.
    let ptr = unsafe { alloc::alloc::alloc(layout) };
    if ptr.is_null() {
        core::arch::wasm32::unreachable()
    }
    ptr as u32
}

/// Frees what `alloc(len)` or a returned output of length `len` holds.
#[no_mangle]
pub extern "C" fn dealloc(ptr: u32, len: u32) {
    if len == 0 {
        return;
    }
    // SAFETY: the host passes back exactly a pointer/length pair handed out by `alloc`
    // or by `output`, both allocated with layout (len, 1).
    unsafe {
        drop(Box::from_raw(core::ptr::slice_from_raw_parts_mut(
            ptr as *mut u8,
            len as usize,
        )))
    }
}

fn input(ptr: u32, len: u32) -> Vec<u8> {
    if len == 0 {
        return Vec::new();
    }
    // SAFETY: the host wrote `len` bytes into memory it got from `alloc(len)`.
    unsafe { Vec::from_raw_parts(ptr as *mut u8, len as usize, len as usize) }
}

fn output(bytes: Vec<u8>) -> u64 {
    let boxed: Box<[u8]> = bytes.into_boxed_slice();
    let len = boxed.len() as u64;
    let ptr = Box::into_raw(boxed) as *mut u8 as u32 as u64;
    (ptr << 32) | len
}

fn run(method: &str, ptr: u32, len: u32) -> u64 {
    let data = input(ptr, len);
    match crate::api::call(method, &data) {
        Some(out) => output(out),
        None => core::arch::wasm32::unreachable(),
    }
}

macro_rules! export {
    ($($name:ident => $method:expr),* $(,)?) => {
        $(
            #[export_name = $method]
            pub extern "C" fn $name(ptr: u32, len: u32) -> u64 {
                run($method, ptr, len)
            }
        )*
    };
}

export! {
    core_version => "Core_version",
    genesis_builder_build => "GenesisBuilder_build",
    core_initialize_block => "Core_initialize_block",
    block_builder_apply_extrinsic => "BlockBuilder_apply_extrinsic",
    block_builder_finalize_block => "BlockBuilder_finalize_block",
    tagged_transaction_queue_validate_transaction => "TaggedTransactionQueue_validate_transaction",
    query_call => "Query_call",
}
