//! The contract runtime (feature `runtime`, wasm32 only): a global bump allocator and a
//! panic handler.
//!
//! A contract call is short-lived and its memory is thrown away afterwards, so the
//! allocator never reuses freed memory, except that freeing or resizing the most recent
//! allocation moves the bump pointer (so a temporary buffer that is shrunk or dropped
//! straight away costs nothing). It allocates from the end of the module's initial memory
//! and grows memory with `memory.grow`; when the chain refuses to grow it (the limit is 16
//! pages, 1 MiB), it sends a debug message and traps.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::UnsafeCell;

const PAGE_SIZE: usize = 64 * 1024;

struct BumpAllocator {
    /// `(next free address, end of memory)`; `(0, 0)` until the first allocation.
    state: UnsafeCell<(usize, usize)>,
}

// SAFETY: wasm32 contracts are single-threaded (the chain refuses threads).
unsafe impl Sync for BumpAllocator {}

#[global_allocator]
static ALLOCATOR: BumpAllocator = BumpAllocator {
    state: UnsafeCell::new((0, 0)),
};

#[cold]
fn out_of_memory() -> ! {
    crate::env::debug_message("menara-contract: out of memory");
    wasm32::unreachable()
}

impl BumpAllocator {
    /// Makes sure memory reaches `new_next`, growing it if needed; traps if it cannot.
    ///
    /// # Safety
    /// Only call from the allocator (single-threaded, no other borrow of `state`).
    unsafe fn reserve_to(state: &mut (usize, usize), new_next: usize) {
        if new_next > state.1 {
            let pages = (new_next - state.1).div_ceil(PAGE_SIZE);
            if wasm32::memory_grow(0, pages) == usize::MAX {
                out_of_memory();
            }
            state.1 += pages * PAGE_SIZE;
        }
    }
}

unsafe impl GlobalAlloc for BumpAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded; no other reference to the state exists.
        let state = unsafe { &mut *self.state.get() };
        if state.1 == 0 {
            let end = wasm32::memory_size(0) * PAGE_SIZE;
            *state = (end, end);
        }
        let align = layout.align();
        let Some(start) = state.0.checked_add(align - 1).map(|a| a & !(align - 1)) else {
            out_of_memory()
        };
        let Some(new_next) = start.checked_add(layout.size()) else {
            out_of_memory()
        };
        // SAFETY: as above.
        unsafe { Self::reserve_to(state, new_next) };
        state.0 = new_next;
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: single-threaded; no other reference to the state exists.
        let state = unsafe { &mut *self.state.get() };
        if ptr as usize + layout.size() == state.0 {
            state.0 = ptr as usize;
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: single-threaded; no other reference to the state exists.
        let state = unsafe { &mut *self.state.get() };
        if ptr as usize + layout.size() == state.0 {
            // The latest allocation: resize in place.
            let Some(new_next) = (ptr as usize).checked_add(new_size) else {
                out_of_memory()
            };
            // SAFETY: as above.
            unsafe { Self::reserve_to(state, new_next) };
            state.0 = new_next;
            return ptr;
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: `layout.align()` is a valid alignment and `new_size` is non-zero.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: forwarded from the caller's contract.
        let new_ptr = unsafe { self.alloc(new_layout) };
        // SAFETY: both regions are valid for `layout.size()` bytes and do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size()) };
        new_ptr
    }
}

/// Writes formatted text into a fixed buffer, dropping what does not fit.
struct FixedWriter {
    buf: [u8; 512],
    len: usize,
}

impl core::fmt::Write for FixedWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.buf.len() - self.len;
        // Cut at a character boundary so the buffer stays valid UTF-8.
        let mut take = core::cmp::min(room, s.len());
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    let mut w = FixedWriter {
        buf: [0; 512],
        len: 0,
    };
    let _ = write!(w, "panicked");
    if let Some(location) = info.location() {
        let _ = write!(w, " at {}:{}", location.file(), location.line());
    }
    let _ = write!(w, ": {}", info.message());
    // The writer only ever cuts at character boundaries.
    if let Ok(text) = core::str::from_utf8(&w.buf[..w.len]) {
        crate::env::debug_message(text);
    }
    wasm32::unreachable()
}
