//! Raw N-API calls for the hot path, each checked and each with its safety argument, so that
//! the rest of the bindings need no `unsafe`.

use std::ffi::c_void;
use std::ptr;

use napi::sys;

/// Raw N-API calls on one environment, each checked (`None` on failure, never a panic).
#[derive(Clone, Copy)]
pub struct Env(pub sys::napi_env);

pub fn ok(status: sys::napi_status) -> Option<()> {
    (status == sys::Status::napi_ok).then_some(())
}

impl Env {
    pub fn string(self, s: &str) -> Option<sys::napi_value> {
        let mut out = ptr::null_mut();
        // SAFETY: `self.0` is the environment of the current call on Node's thread; N-API copies
        // the `s.len()` bytes at `s.as_ptr()`, which stay valid for the call.
        ok(unsafe {
            sys::napi_create_string_utf8(self.0, s.as_ptr().cast(), s.len() as isize, &mut out)
        })?;
        Some(out)
    }

    pub fn strings(self, items: &[&str]) -> Option<sys::napi_value> {
        let mut arr = ptr::null_mut();
        // SAFETY: as in `string`; `arr` receives the new array.
        ok(unsafe { sys::napi_create_array_with_length(self.0, items.len(), &mut arr) })?;
        for (i, s) in items.iter().enumerate() {
            let v = self.string(s)?;
            // SAFETY: `arr` and `v` are live values of this environment.
            ok(unsafe { sys::napi_set_element(self.0, arr, i as u32, v) })?;
        }
        Some(arr)
    }

    pub fn undefined(self) -> Option<sys::napi_value> {
        let mut out = ptr::null_mut();
        // SAFETY: `self.0` is the live environment; `out` receives the value.
        ok(unsafe { sys::napi_get_undefined(self.0, &mut out) })?;
        Some(out)
    }

    pub fn uint32(self, n: u32) -> Option<sys::napi_value> {
        let mut out = ptr::null_mut();
        // SAFETY: `self.0` is the live environment; `out` receives the value.
        ok(unsafe { sys::napi_create_uint32(self.0, n, &mut out) })?;
        Some(out)
    }

    pub fn double(self, n: f64) -> Option<sys::napi_value> {
        let mut out = ptr::null_mut();
        // SAFETY: `self.0` is the live environment; `out` receives the value.
        ok(unsafe { sys::napi_create_double(self.0, n, &mut out) })?;
        Some(out)
    }

    /// A new Buffer holding `small` then each of `big`, one after the other.
    pub fn buffer(self, small: &[u8], big: &[&[u8]], len: usize) -> Option<sys::napi_value> {
        let mut buffer = ptr::null_mut();
        let mut data: *mut c_void = ptr::null_mut();
        // SAFETY: `self.0` is the live environment; N-API allocates `len` bytes and returns
        // their address in `data`.
        ok(unsafe { sys::napi_create_buffer(self.0, len, &mut data, &mut buffer) })?;
        if len == 0 {
            return Some(buffer);
        }
        if data.is_null() {
            return None;
        }
        let dst = data.cast::<u8>();
        // SAFETY: `dst` points to `len` writable bytes just allocated, and `len` is the sum of
        // `small.len()` and the lengths of `big` (see `Packer::big_len`), so every copy stays in
        // bounds; the sources are live Rust slices that cannot overlap a fresh allocation.
        unsafe {
            ptr::copy_nonoverlapping(small.as_ptr(), dst, small.len());
            let mut at = small.len();
            for b in big {
                ptr::copy_nonoverlapping(b.as_ptr(), dst.add(at), b.len());
                at += b.len();
            }
        }
        Some(buffer)
    }

    /// A new Float64Array holding a copy of `tape`.
    pub fn float64_array(self, tape: &[f64]) -> Option<sys::napi_value> {
        let bytes = std::mem::size_of_val(tape);
        let mut data: *mut c_void = ptr::null_mut();
        let mut ab = ptr::null_mut();
        // SAFETY: `self.0` is the live environment; N-API allocates `bytes` bytes at `data`.
        ok(unsafe { sys::napi_create_arraybuffer(self.0, bytes, &mut data, &mut ab) })?;
        if bytes > 0 {
            if data.is_null() {
                return None;
            }
            // SAFETY: `data` points to `bytes` writable bytes, exactly the size of `tape`.
            unsafe {
                ptr::copy_nonoverlapping(tape.as_ptr().cast::<u8>(), data.cast::<u8>(), bytes)
            };
        }
        let mut out = ptr::null_mut();
        // SAFETY: `ab` is the live ArrayBuffer of `tape.len()` f64s just made.
        ok(unsafe {
            sys::napi_create_typedarray(
                self.0,
                sys::TypedarrayType::float64_array,
                tape.len(),
                ab,
                0,
                &mut out,
            )
        })?;
        Some(out)
    }

    /// `f(...args)` with `this` undefined.
    pub fn call(self, f: sys::napi_value, args: &[sys::napi_value]) -> Option<sys::napi_value> {
        let this = self.undefined()?;
        let mut out = ptr::null_mut();
        // SAFETY: `f` and `args` are live values of this environment; `args.len()` is their count.
        ok(unsafe {
            sys::napi_call_function(self.0, this, f, args.len(), args.as_ptr(), &mut out)
        })?;
        Some(out)
    }

    /// Runs `source` as a script and returns its completion value.
    pub fn run_script(self, source: &str) -> Option<sys::napi_value> {
        let src = self.string(source)?;
        let mut out = ptr::null_mut();
        // SAFETY: `src` is a live string value of this environment.
        ok(unsafe { sys::napi_run_script(self.0, src, &mut out) })?;
        Some(out)
    }

    /// A strong reference to `value`, valid until the environment is torn down.
    pub fn reference(self, value: sys::napi_value) -> Option<sys::napi_ref> {
        let mut out = ptr::null_mut();
        // SAFETY: `value` is a live value of this environment; the reference is never deleted
        // (it lives as long as the environment, see `on_env_cleanup`).
        ok(unsafe { sys::napi_create_reference(self.0, value, 1, &mut out) })?;
        Some(out)
    }

    pub fn reference_value(self, r: sys::napi_ref) -> Option<sys::napi_value> {
        let mut out = ptr::null_mut();
        // SAFETY: `r` was made by `reference` in this very environment (checked by the caller
        // through `EnvState::env`), which is still alive since we are called in it.
        ok(unsafe { sys::napi_get_reference_value(self.0, r, &mut out) })?;
        Some(out)
    }

    /// Clears an exception left by a failed call, so that the caller reports a plain error.
    pub fn clear_exception(self) {
        let mut pending = false;
        // SAFETY: `self.0` is the live environment; both calls only read or clear its state.
        unsafe {
            if sys::napi_is_exception_pending(self.0, &mut pending) == sys::Status::napi_ok
                && pending
            {
                let mut e = ptr::null_mut();
                sys::napi_get_and_clear_last_exception(self.0, &mut e);
            }
        }
    }
}
