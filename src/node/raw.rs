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

    /// A new ArrayBuffer of `len` bytes and their address (null when `len` is 0).
    pub fn arraybuffer(self, len: usize) -> Option<(sys::napi_value, *mut u8)> {
        let mut data: *mut c_void = ptr::null_mut();
        let mut ab = ptr::null_mut();
        // SAFETY: `self.0` is the live environment; N-API allocates `len` bytes at `data`.
        ok(unsafe { sys::napi_create_arraybuffer(self.0, len, &mut data, &mut ab) })?;
        if len > 0 && data.is_null() {
            return None;
        }
        Some((ab, data.cast()))
    }

    /// The address and length of ArrayBuffer `ab`'s bytes (0 and null once it is detached).
    pub fn arraybuffer_info(self, ab: sys::napi_value) -> Option<(*mut u8, usize)> {
        let mut data: *mut c_void = ptr::null_mut();
        let mut len = 0;
        // SAFETY: `ab` is a live ArrayBuffer of this environment (the caller made it).
        ok(unsafe { sys::napi_get_arraybuffer_info(self.0, ab, &mut data, &mut len) })?;
        Some((data.cast(), len))
    }

    /// A new Float64Array of `len` numbers and the address of the first.
    pub fn float64_array(self, len: usize) -> Option<(sys::napi_value, *mut f64)> {
        let (ab, data) = self.arraybuffer(len * std::mem::size_of::<f64>())?;
        let mut out = ptr::null_mut();
        // SAFETY: `ab` is the live ArrayBuffer of `len` f64s just made.
        ok(unsafe {
            sys::napi_create_typedarray(
                self.0,
                sys::TypedarrayType::float64_array,
                len,
                ab,
                0,
                &mut out,
            )
        })?;
        Some((out, data.cast()))
    }

    /// The address of Float64Array `array`'s first number and how many it holds (0 and null once
    /// its buffer is detached); `None` if it is not a Float64Array.
    pub fn float64_info(self, array: sys::napi_value) -> Option<(*mut f64, usize)> {
        let mut kind = sys::TypedarrayType::int8_array;
        let mut len = 0;
        let mut data: *mut c_void = ptr::null_mut();
        let mut ab = ptr::null_mut();
        let mut offset = 0;
        // SAFETY: `array` is a live typed array of this environment (the caller made it); every
        // out-pointer is a live local.
        ok(unsafe {
            sys::napi_get_typedarray_info(
                self.0,
                array,
                &mut kind,
                &mut len,
                &mut data,
                &mut ab,
                &mut offset,
            )
        })?;
        (kind == sys::TypedarrayType::float64_array).then_some((data.cast(), len))
    }

    /// A new Float64Array holding a copy of `tape`.
    pub fn float64_array_of(self, tape: &[f64]) -> Option<sys::napi_value> {
        let (out, data) = self.float64_array(tape.len())?;
        if !tape.is_empty() {
            // SAFETY: `data` points to `tape.len()` writable f64s just allocated, which cannot
            // overlap the live Rust slice `tape`.
            unsafe { ptr::copy_nonoverlapping(tape.as_ptr(), data, tape.len()) };
        }
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

    /// A strong reference to `value`, valid until `delete_reference` or the environment's end.
    pub fn reference(self, value: sys::napi_value) -> Option<sys::napi_ref> {
        let mut out = ptr::null_mut();
        // SAFETY: `value` is a live value of this environment; the reference is deleted by
        // `delete_reference` or lives as long as the environment (see `on_env_cleanup`).
        ok(unsafe { sys::napi_create_reference(self.0, value, 1, &mut out) })?;
        Some(out)
    }

    /// Lets go of a reference made by `reference` (its value may then be collected).
    pub fn delete_reference(self, r: sys::napi_ref) {
        // SAFETY: `r` was made by `reference` in this environment and is not used after this.
        unsafe { sys::napi_delete_reference(self.0, r) };
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
