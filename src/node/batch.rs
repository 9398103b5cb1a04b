//! The messages hot path. Building every object of every message through N-API costs one call
//! per property, each with a fresh key string to hash; instead a batch is packed into one Buffer
//! (bodies, tags, string bytes) and one Float64Array "tape" (numbers, offsets, opcodes), and a
//! small JavaScript function, compiled once per environment, builds the objects with object
//! literals: about ten N-API calls per batch instead of ~50 per message. This is the one encoder
//! of the message shape: the tape carries rhea's field names (from `message.rs`) and values.
//!
//! Buffers (the tag, data sections, binary values) are views of the batch Buffer, as rhea's are
//! views of the socket chunk they arrived in.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;

use napi::bindgen_prelude::{ToNapiValue, TypeName, ValueType};
use napi::sys;

use super::graveyard;
use super::raw::{ok, Env};
use crate::message::{Body, Message, Value, HEADER_FIELDS, PROPERTY_FIELDS};
use crate::model::Delivery;

/// The deliveries of one `messages` event, converted to JavaScript by packing.
pub struct Batch(pub Vec<Delivery>);

impl TypeName for Batch {
    fn type_name() -> &'static str {
        "Array"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for Batch {
    // SAFETY: napi calls this on Node's thread with the environment of the current callback; every
    // raw call below goes through `raw::Env`, which checks each status.
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let out = deliveries(env, &val.0).ok_or_else(|| {
            napi::Error::new(
                napi::Status::GenericFailure,
                format!(
                    "cannot hand a batch of {} messages to JavaScript",
                    val.0.len()
                ),
            )
        });
        graveyard::bury(val.0);
        out
    }
}

// Value opcodes on the tape.
const NULL: f64 = 0.0;
const TRUE: f64 = 1.0;
const FALSE: f64 = 2.0;
const NUMBER: f64 = 3.0;
const DATE: f64 = 4.0;
const BINARY: f64 = 5.0;
const ASCII: f64 = 6.0;
const UTF8: f64 = 7.0;
const KEY: f64 = 8.0;
const LIST: f64 = 9.0;
const MAP: f64 = 10.0;
const DESCRIBED: f64 = 11.0;

// Message field codes: header fields 0..5, then these, then property fields from F_PROPS.
const F_DELIVERY_ANNOTATIONS: usize = HEADER_FIELDS.len();
const F_MESSAGE_ANNOTATIONS: usize = F_DELIVERY_ANNOTATIONS + 1;
const F_PROPS: usize = F_MESSAGE_ANNOTATIONS + 1;
const F_APPLICATION_PROPERTIES: usize = F_PROPS + PROPERTY_FIELDS.len();
const F_BODY: usize = F_APPLICATION_PROPERTIES + 1;
const F_FOOTER: usize = F_BODY + 1;
const F_END: f64 = -1.0;

const BODY_DATA: f64 = 0.0;
const BODY_SEQUENCE: f64 = 1.0;
const BODY_VALUE: f64 = 2.0;

/// Map keys interned per environment (sent to JavaScript once, then referred to by index), up to
/// this many, each up to `MAX_KEY_LEN` bytes; others travel as plain strings.
const MAX_KEYS: usize = 4096;
const MAX_KEY_LEN: usize = 128;
/// Binaries (bodies) of this many bytes or more are not staged in `bytes` but copied once,
/// straight into the Buffer handed to JavaScript.
const DEFER_MIN: usize = 128;

/// Std's hasher (randomly keyed SipHash): the keys come from the server, and a table whose keys
/// all collide would cost every lookup a scan.
type Keys = HashMap<Box<str>, u32>;

/// The unpacking function, compiled once per environment. `fill`'s cases (one named store per
/// field, so that each store site stays monomorphic) are generated from `message.rs`'s field
/// names by `unpack_source`, so the field codes cannot drift from the names.
const UNPACK_JS: &str = r#"(function () {
  'use strict';
  const from = typeof Buffer === 'function' && typeof Buffer.from === 'function' ? Buffer.from : null;
  // The message classes, registered by lib/message.js (when loaded): messages are then built with
  // their prototypes at once, which spares adopt() two slow Object.setPrototypeOf calls each.
  const CLASSES = Symbol.for('aliyun-iot-amqp.message-classes');
  let M = null;
  let S = null;
  const keys = [];
  let b = null;
  let ab = null;
  let base = 0;
  // Big binaries sit after the small things; their offsets on the tape are -1 - offset in that part.
  let big = 0;
  let t = null;
  let p = 0;
  // An internalized copy of a key, so that stores with it take V8's fast path.
  // (A computed key: even '__proto__' becomes an own property, so the copy is the key itself.)
  function internal(s) {
    const o = { [s]: 0 };
    return Object.keys(o)[0];
  }
  function bin() {
    const o = t[p] < 0 ? big - 1 - t[p] : t[p];
    const l = t[p + 1];
    p += 2;
    return from !== null ? from(ab, base + o, l) : b.subarray(o, o + l);
  }
  function value() {
    switch (t[p++]) {
      case 0: return null;
      case 1: return true;
      case 2: return false;
      case 3: return t[p++];
      case 4: return new Date(t[p++]);
      case 5: return bin();
      case 6: { const o = t[p] < 0 ? big - 1 - t[p] : t[p]; const l = t[p + 1]; p += 2; return b.latin1Slice(o, o + l); }
      case 7: { const o = t[p] < 0 ? big - 1 - t[p] : t[p]; const l = t[p + 1]; p += 2; return b.utf8Slice(o, o + l); }
      case 8: return keys[t[p++]];
      case 9: {
        const n = t[p++];
        const a = new Array(n);
        for (let i = 0; i < n; i++) a[i] = value();
        return a;
      }
      case 10: {
        const n = t[p++];
        const m = {};
        for (let i = 0; i < n; i++) {
          const k = value();
          m[k] = value();
        }
        return m;
      }
      case 11: {
        const d = value();
        return { descriptor: d, value: value() };
      }
      default: throw new Error('aliyun-iot-amqp: bad message tape');
    }
  }
  function body() {
    const kind = t[p++];
    if (kind === 2) return value();
    const n = t[p++];
    let content;
    if (n === 1) content = kind === 0 ? bin() : value();
    else {
      content = new Array(n);
      for (let i = 0; i < n; i++) content[i] = kind === 0 ? bin() : value();
    }
    const typecode = kind === 0 ? 0x75 : 0x76;
    const multiple = n > 1 ? true : undefined;
    return S !== null ? new S(typecode, content, multiple) : { typecode, content, multiple };
  }
  function fill(m) {
    for (;;) {
      switch (t[p++]) {
        case -1: return;
/*FILL_CASES*/
        default: throw new Error('aliyun-iot-amqp: bad message tape');
      }
    }
  }
  return function unpack(buffer, tape, newKeys, n, bigAt) {
    if (newKeys !== undefined) for (let i = 0; i < newKeys.length; i++) keys.push(internal(newKeys[i]));
    const classes = globalThis[CLASSES];
    M = classes !== undefined && typeof classes.Message === 'function' ? classes.Message : null;
    S = classes !== undefined && typeof classes.Section === 'function' ? classes.Section : null;
    b = buffer;
    ab = buffer.buffer;
    base = buffer.byteOffset;
    big = bigAt;
    t = tape;
    p = 0;
    const deliveries = new Array(n);
    for (let i = 0; i < n; i++) {
      const id = t[p];
      const format = t[p + 1];
      const flags = t[p + 2];
      p += 3;
      const tag = bin();
      const message = M !== null ? new M() : {};
      deliveries[i] = { id, tag, format, settled: (flags & 1) !== 0, section: (flags & 2) !== 0, message };
      fill(message);
    }
    b = null;
    ab = null;
    t = null;
    return deliveries;
  };
})"#;
/// What is kept per environment: the compiled unpacker, the interned keys, reusable buffers.
struct EnvState {
    env: sys::napi_env,
    unpack: sys::napi_ref,
    keys: Keys,
    tape: Vec<f64>,
    bytes: Vec<u8>,
}

thread_local! {
    static STATE: RefCell<Option<EnvState>> = const { RefCell::new(None) };
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

/// `UNPACK_JS` with `fill`'s cases: `case 7: m.message_id = value(); break;` and so on.
fn unpack_source() -> String {
    let mut cases = String::new();
    for (code, name) in field_names().iter().enumerate() {
        // The names are identifiers of our own (message.rs): safe to splice in as they are.
        debug_assert!(name.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'));
        let read = if code == F_BODY { "body()" } else { "value()" };
        cases.push_str(&format!("        case {code}: m.{name} = {read}; break;\n"));
    }
    UNPACK_JS.replace("/*FILL_CASES*/\n", &cases)
}

fn setup(env: Env) -> Option<EnvState> {
    let factory = env.run_script(&unpack_source())?;
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
    })
}

struct Packer<'t, 'a> {
    tape: &'t mut Vec<f64>,
    bytes: &'t mut Vec<u8>,
    keys: &'t mut Keys,
    new_keys: Vec<&'a str>,
    /// Binaries of `DEFER_MIN` bytes or more: copied once, straight into the JS Buffer, after the
    /// small things (`bytes`); on the tape at `-1 - offset` within this part.
    big: Vec<&'a [u8]>,
    big_len: usize,
}

impl<'a> Packer<'_, 'a> {
    fn bin(&mut self, b: &'a [u8]) {
        if b.len() >= DEFER_MIN {
            self.tape.push(-1.0 - self.big_len as f64);
            self.tape.push(b.len() as f64);
            self.big.push(b);
            self.big_len += b.len();
        } else {
            self.tape.push(self.bytes.len() as f64);
            self.tape.push(b.len() as f64);
            self.bytes.extend_from_slice(b);
        }
    }

    fn string(&mut self, s: &'a str) {
        self.tape.push(if s.is_ascii() { ASCII } else { UTF8 });
        self.bin(s.as_bytes());
    }

    fn key(&mut self, k: &'a Value) {
        if let Value::String(s) = k {
            if let Some(i) = self.keys.get(s.as_str()) {
                self.tape.push(KEY);
                self.tape.push(*i as f64);
                return;
            }
            if self.keys.len() < MAX_KEYS && s.len() <= MAX_KEY_LEN {
                let i = self.keys.len() as u32;
                self.keys.insert(s.as_str().into(), i);
                self.new_keys.push(s);
                self.tape.push(KEY);
                self.tape.push(i as f64);
                return;
            }
        }
        self.value(k);
    }

    fn value(&mut self, v: &'a Value) {
        match v {
            Value::Null => self.tape.push(NULL),
            Value::Bool(true) => self.tape.push(TRUE),
            Value::Bool(false) => self.tape.push(FALSE),
            Value::Number(n) => {
                self.tape.push(NUMBER);
                self.tape.push(*n);
            }
            Value::Timestamp(ms) => {
                self.tape.push(DATE);
                self.tape.push(*ms);
            }
            Value::Binary(b) => {
                self.tape.push(BINARY);
                self.bin(b);
            }
            Value::String(s) => self.string(s),
            Value::List(items) => self.list(items),
            Value::Map(pairs) => self.map(pairs),
            Value::Described(d, v) => {
                self.tape.push(DESCRIBED);
                self.value(d);
                self.value(v);
            }
        }
    }

    fn list(&mut self, items: &'a [Value]) {
        self.tape.push(LIST);
        self.tape.push(items.len() as f64);
        for item in items {
            self.value(item);
        }
    }

    fn map(&mut self, pairs: &'a [(Value, Value)]) {
        self.tape.push(MAP);
        self.tape.push(pairs.len() as f64);
        for (k, v) in pairs {
            self.key(k);
            self.value(v);
        }
    }

    /// Non-null fields of a composite section, flat on the message, as rhea sets them.
    fn fields(&mut self, first: usize, count: usize, values: &'a [Value]) {
        for (i, v) in values.iter().take(count).enumerate() {
            if !matches!(v, Value::Null) {
                self.tape.push((first + i) as f64);
                self.value(v);
            }
        }
    }

    /// The message's fields, in the order rhea sets them.
    fn message(&mut self, m: &'a Message) {
        if let Some(h) = &m.header {
            self.fields(0, HEADER_FIELDS.len(), h);
        }
        if let Some(p) = &m.delivery_annotations {
            self.tape.push(F_DELIVERY_ANNOTATIONS as f64);
            self.map(p);
        }
        if let Some(p) = &m.message_annotations {
            self.tape.push(F_MESSAGE_ANNOTATIONS as f64);
            self.map(p);
        }
        if let Some(p) = &m.properties {
            self.fields(F_PROPS, PROPERTY_FIELDS.len(), p);
        }
        if let Some(p) = &m.application_properties {
            self.tape.push(F_APPLICATION_PROPERTIES as f64);
            self.map(p);
        }
        match &m.body {
            Body::None => {}
            Body::Data(parts) => {
                self.tape.push(F_BODY as f64);
                self.tape.push(BODY_DATA);
                self.tape.push(parts.len() as f64);
                for part in parts {
                    self.bin(part);
                }
            }
            Body::Sequence(parts) => {
                self.tape.push(F_BODY as f64);
                self.tape.push(BODY_SEQUENCE);
                self.tape.push(parts.len() as f64);
                for part in parts {
                    self.list(part);
                }
            }
            Body::Value(v) => {
                self.tape.push(F_BODY as f64);
                self.tape.push(BODY_VALUE);
                self.value(v);
            }
        }
        if let Some(p) = &m.footer {
            self.tape.push(F_FOOTER as f64);
            self.map(p);
        }
        self.tape.push(F_END);
    }

    fn delivery(&mut self, d: &'a Delivery) {
        let section = matches!(d.message.body, Body::Data(_) | Body::Sequence(_));
        self.tape.push(d.id as f64);
        self.tape.push(d.format as f64);
        self.tape
            .push((d.settled as u8 | (section as u8) << 1) as f64);
        self.bin(&d.tag);
        self.message(&d.message);
    }
}

/// The deliveries as JavaScript objects, built by the unpacking function; `None` when that
/// failed (the caller reports it).
fn deliveries(env: sys::napi_env, deliveries: &[Delivery]) -> Option<sys::napi_value> {
    let env = Env(env);
    STATE.with(|state| {
        let mut state = state.try_borrow_mut().ok()?;
        if state.as_ref().is_none_or(|st| st.env != env.0) {
            *state = setup(env);
        }
        let st = state.as_mut()?;
        let result = pack_and_unpack(st, env, deliveries);
        if result.is_none() {
            // Never half-trust the interned keys after a failure: start over next time.
            env.clear_exception();
            *state = None;
        }
        result
    })
}

fn pack_and_unpack(
    st: &mut EnvState,
    env: Env,
    deliveries: &[Delivery],
) -> Option<sys::napi_value> {
    let mut tape = std::mem::take(&mut st.tape);
    let mut bytes = std::mem::take(&mut st.bytes);
    tape.clear();
    bytes.clear();
    let mut p = Packer {
        tape: &mut tape,
        bytes: &mut bytes,
        keys: &mut st.keys,
        new_keys: Vec::new(),
        big: Vec::new(),
        big_len: 0,
    };
    for d in deliveries {
        p.delivery(d);
    }
    let new_keys = std::mem::take(&mut p.new_keys);
    let big = std::mem::take(&mut p.big);
    let big_len = p.big_len;
    let result = (|| {
        let buffer = env.buffer(&bytes, &big, bytes.len() + big_len)?;
        let tape_js = env.float64_array(&tape)?;
        let keys_js = if new_keys.is_empty() {
            env.undefined()?
        } else {
            env.strings(&new_keys)?
        };
        let n = env.uint32(deliveries.len() as u32)?;
        let big_at = env.uint32(bytes.len() as u32)?;
        let unpack = env.reference_value(st.unpack)?;
        env.call(unpack, &[buffer, tape_js, keys_js, n, big_at])
    })();
    // Keep the allocations for the next batch (but not a huge one-off). The packed bytes are
    // copied into a Buffer of Node's: handing the Vec over as an external buffer (no copy) was
    // measured slower (finalizers, and RSS doubled at 4 KiB bodies: external memory is collected
    // late).
    if tape.capacity() <= 1 << 20 {
        st.tape = tape;
    }
    if bytes.capacity() <= 8 << 20 {
        st.bytes = bytes;
    }
    result
}
