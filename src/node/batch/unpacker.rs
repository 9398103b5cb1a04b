//! The unpacker: the JavaScript function of `unpack.js` (in this folder), which builds the
//! messages from the tape or hands a packed batch back, compiled once per environment with its
//! cases generated from `message.rs`'s field names and the shared codes spliced in as numbers;
//! and what else is kept per environment (`EnvState`): the interned keys and the buffers reused
//! from batch to batch.

use std::cell::RefCell;
use std::ffi::c_void;

use napi::sys;

use super::codes::{F_APPLICATION_PROPERTIES, F_BODY, F_DELIVERY_ANNOTATIONS, F_FOOTER, SPLICED};
use super::packer::Keys;
use super::pool::{Pool, Scratch};
use crate::message::{HEADER_FIELDS, PROPERTY_FIELDS};
use crate::node::raw::{ok, Env};

/// The unpacking function, compiled once per environment. `fill`'s cases (one named store per
/// field, so that each store site stays monomorphic) are generated from `message.rs`'s field
/// names by `unpack_source`, so the field codes cannot drift from the names.
const UNPACK_JS: &str = include_str!("unpack.js");
/// What is kept per environment: the compiled unpacker, the interned keys, reusable buffers.
/// Its references are not deleted when it is dropped: they die with their environment.
pub(super) struct EnvState {
    pub(super) env: sys::napi_env,
    pub(super) unpack: sys::napi_ref,
    pub(super) keys: Keys,
    pub(super) tape: Vec<f64>,
    pub(super) bytes: Vec<u8>,
    pub(super) index: Vec<f64>,
    /// Where the batches' bytes and tapes go in JavaScript's memory.
    pub(super) pool: Pool,
    pub(super) scratch: Scratch,
}

thread_local! {
    pub(super) static STATE: RefCell<Option<EnvState>> = const { RefCell::new(None) };
}

/// Forgets the state of an environment that is going away (a worker thread ending).
// SAFETY: called by Node with the pointer given to `napi_add_env_cleanup_hook`, which is only
// compared with the stored environment, never dereferenced.
unsafe extern "C" fn on_env_cleanup(arg: *mut c_void) {
    let env = arg as sys::napi_env;
    let _ = STATE.try_with(|state| {
        if let Ok(mut s) = state.try_borrow_mut() {
            if s.as_ref().is_some_and(|st| st.env == env) {
                *s = None;
            }
        }
    });
}

/// The field name for each field code, in code order.
fn field_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = HEADER_FIELDS.to_vec();
    names.push("delivery_annotations");
    names.push("message_annotations");
    names.extend_from_slice(&PROPERTY_FIELDS);
    names.push("application_properties");
    names.push("body");
    names.push("footer");
    debug_assert_eq!(names[F_DELIVERY_ANNOTATIONS], "delivery_annotations");
    debug_assert_eq!(names[F_APPLICATION_PROPERTIES], "application_properties");
    debug_assert_eq!(names[F_BODY], "body");
    debug_assert_eq!(names[F_FOOTER], "footer");
    names
}

/// `UNPACK_JS` with `fill`'s cases (`case 7: m.message_id = value(); break;` and so on) and the
/// numbers of `SPLICED`; `None` if unpack.js declares other names than those.
fn unpack_source() -> Option<String> {
    let mut cases = String::new();
    for (code, name) in field_names().iter().enumerate() {
        // The names are identifiers of our own (message.rs): safe to splice in as they are.
        debug_assert!(name.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'));
        let read = if code == F_BODY { "body()" } else { "value()" };
        cases.push_str(&format!("        case {code}: m.{name} = {read}; break;\n"));
    }
    splice(&UNPACK_JS.replace("/*FILL_CASES*/\n", &cases), &SPLICED)
}

/// `src` with each of `names` (a whole identifier) replaced by its number, and without the
/// `/* global */` lines that declare them; `None` unless they declare exactly these names.
fn splice(src: &str, names: &[(&str, f64)]) -> Option<String> {
    const GLOBAL: &str = "/* global ";
    let declared: Vec<&str> = src
        .lines()
        .filter_map(|l| l.strip_prefix(GLOBAL)?.strip_suffix(" */"))
        .flat_map(|l| l.split(", "))
        .collect();
    if declared.len() != names.len() || !names.iter().all(|(n, _)| declared.contains(n)) {
        return None;
    }
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    let mut out = String::with_capacity(src.len());
    for line in src.lines().filter(|l| !l.starts_with(GLOBAL)) {
        let mut rest = line;
        while let Some(start) = rest.find(is_ident) {
            out.push_str(&rest[..start]);
            let len = rest[start..]
                .find(|c| !is_ident(c))
                .unwrap_or(rest.len() - start);
            let word = &rest[start..start + len];
            match names.iter().find(|(n, _)| *n == word) {
                Some((_, v)) => out.push_str(&v.to_string()),
                None => out.push_str(word),
            }
            rest = &rest[start + len..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    Some(out)
}

pub(super) fn setup(env: Env) -> Option<EnvState> {
    let factory = env.run_script(&unpack_source()?)?;
    let unpack = env.call(factory, &[])?;
    let reference = env.reference(unpack)?;
    // SAFETY: the hook runs when this environment is torn down; its argument is the environment
    // pointer itself, only compared, never dereferenced.
    ok(unsafe {
        sys::napi_add_env_cleanup_hook(env.0, Some(on_env_cleanup), env.0 as *mut c_void)
    })?;
    Some(EnvState {
        env: env.0,
        unpack: reference,
        keys: Keys::default(),
        tape: Vec::new(),
        bytes: Vec::new(),
        index: Vec::new(),
        pool: Pool::default(),
        scratch: Scratch::default(),
    })
}
