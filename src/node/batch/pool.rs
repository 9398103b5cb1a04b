//! Where a batch goes in JavaScript's memory, without a new Buffer per batch: making a Buffer in
//! native code (an ArrayBuffer, a Uint8Array, then Buffer's prototype set on it) was a tenth of
//! Node's thread at 1 000 msg/s.
//!
//! - `Pool`: a batch's bytes are copied into a shared ArrayBuffer of `SHARED` bytes, one batch
//!   after the other, as Node's Buffer pool shares 8 KiB among small Buffers (and as rhea's
//!   messages are views of the socket's chunk); a batch bigger than a quarter of it gets one of
//!   its own. The message Buffers are views of it, so a kept message keeps its ArrayBuffer alive.
//!   A user may detach it (`body.buffer.transfer()`): its length then reads 0 and a new one is
//!   made; nothing is written where a view was handed out.
//! - `Scratch`: the tape of a batch unpacked into messages is read once, at once, by the
//!   unpacker, and never handed to anyone, so one Float64Array serves every batch. A packed batch
//!   keeps its tape: it gets a new one each time.
//!
//! The bytes are copied: handing the packer's Vec over as an external buffer (no copy) was
//! measured slower (finalizers, and RSS doubled at 4 KiB bodies: external memory is collected
//! late).

use std::ptr;

use napi::sys;

use crate::node::raw::Env;

/// The shared ArrayBuffer's size.
const SHARED: usize = 64 * 1024;
/// The most bytes a batch may take from the shared ArrayBuffer.
const SHARED_MAX: usize = SHARED / 4;
/// The reused tape's least and greatest length (a bigger one is not kept).
const TAPE_MIN: usize = 4096;
const TAPE_MAX: usize = 1 << 17;

/// Copies `small` then each of `big` to `dst`.
///
/// # Safety
/// `dst` must point to at least `small.len()` plus the lengths of `big` writable bytes that no
/// Rust slice overlaps.
unsafe fn copy_to(dst: *mut u8, small: &[u8], big: &[&[u8]]) {
    // SAFETY: the caller's promise: each copy stays within the bytes at `dst`, which cannot
    // overlap the live Rust slices read.
    unsafe {
        ptr::copy_nonoverlapping(small.as_ptr(), dst, small.len());
        let mut at = small.len();
        for b in big {
            ptr::copy_nonoverlapping(b.as_ptr(), dst.add(at), b.len());
            at += b.len();
        }
    }
}

/// The shared ArrayBuffer (a reference to it, and how many of its bytes are taken).
#[derive(Default)]
pub(super) struct Pool {
    shared: Option<(sys::napi_ref, usize)>,
}

impl Pool {
    /// Copies `small` then each of `big` (`len` bytes in all: `Packer::big_len` counts them) into
    /// JavaScript's memory: the ArrayBuffer that holds them and where they start in it.
    pub(super) fn place(
        &mut self,
        env: Env,
        small: &[u8],
        big: &[&[u8]],
        len: usize,
    ) -> Option<(sys::napi_value, usize)> {
        debug_assert_eq!(
            small.len() + big.iter().map(|b| b.len()).sum::<usize>(),
            len
        );
        if len > SHARED_MAX {
            let (ab, data) = env.arraybuffer(len)?;
            // SAFETY: `data` points to the `len` bytes just allocated (non-null, as `len` > 0).
            unsafe { copy_to(data, small, big) };
            return Some((ab, 0));
        }
        if let Some((r, used)) = self.shared {
            let ab = env.reference_value(r)?;
            let (data, size) = env.arraybuffer_info(ab)?;
            if !data.is_null() && size >= used + len {
                // SAFETY: `used + len` is within the buffer's `size`; no JavaScript runs during
                // this call (Node's thread is in it), and the bytes from `used` on belong to no
                // view made so far (each is of bytes before `used`).
                unsafe { copy_to(data.add(used), small, big) };
                self.shared = Some((r, used + len));
                return Some((ab, used));
            }
            // Full, or detached: the views already made keep it alive as long as they need it.
            env.delete_reference(r);
            self.shared = None;
        }
        let (ab, data) = env.arraybuffer(SHARED)?;
        // SAFETY: `data` points to the `SHARED` bytes just allocated, and `len` <= `SHARED_MAX`.
        unsafe { copy_to(data, small, big) };
        self.shared = Some((env.reference(ab)?, len));
        Some((ab, 0))
    }
}

/// The Float64Array reused for the tapes of batches unpacked into messages, and its length.
#[derive(Default)]
pub(super) struct Scratch {
    tape: Option<(sys::napi_ref, usize)>,
}

impl Scratch {
    /// A Float64Array that starts with `tape`: the reused one when it is long enough.
    pub(super) fn tape(&mut self, env: Env, tape: &[f64]) -> Option<sys::napi_value> {
        if let Some((r, len)) = self.tape {
            if len >= tape.len() {
                let array = env.reference_value(r)?;
                let (data, n) = env.float64_info(array)?;
                if !data.is_null() && n >= tape.len() {
                    // SAFETY: `data` points to `n` >= `tape.len()` f64s of an array only the
                    // unpacker reads, and only during its call: nothing reads them now.
                    unsafe { ptr::copy_nonoverlapping(tape.as_ptr(), data, tape.len()) };
                    return Some(array);
                }
            }
            env.delete_reference(r);
            self.tape = None;
        }
        let len = tape.len().next_power_of_two().max(TAPE_MIN);
        if len > TAPE_MAX {
            return env.float64_array_of(tape);
        }
        let (array, data) = env.float64_array(len)?;
        // SAFETY: `data` points to the `len` >= `tape.len()` f64s just allocated.
        unsafe { ptr::copy_nonoverlapping(tape.as_ptr(), data, tape.len()) };
        self.tape = Some((env.reference(array)?, len));
        Some(array)
    }
}
