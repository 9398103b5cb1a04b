//! Turning core events into JavaScript values (on Node's thread, inside the threadsafe function's
//! callback). Raw N-API calls, each checked: a failed call becomes an error, never a panic.

use std::ffi::c_void;
use std::ptr;

use napi::bindgen_prelude::ToNapiValue;
use napi::{check_status, sys, Result};

use crate::consumer::{Delivery, ErrorInfo, Event};
use crate::message::{Body, Message, Value, HEADER_FIELDS, PROPERTY_FIELDS};

/// A builder of JS values for one environment.
#[derive(Clone, Copy)]
pub struct Js(pub sys::napi_env);

impl Js {
    pub fn object(self) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        check_status!(unsafe { sys::napi_create_object(self.0, &mut out) })?;
        Ok(out)
    }

    pub fn array(self, len: usize) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        check_status!(unsafe { sys::napi_create_array_with_length(self.0, len, &mut out) })?;
        Ok(out)
    }

    pub fn string(self, s: &str) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        check_status!(unsafe {
            sys::napi_create_string_utf8(self.0, s.as_ptr().cast(), s.len() as isize, &mut out)
        })?;
        Ok(out)
    }

    pub fn number(self, n: f64) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        check_status!(unsafe { sys::napi_create_double(self.0, n, &mut out) })?;
        Ok(out)
    }

    pub fn boolean(self, b: bool) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        check_status!(unsafe { sys::napi_get_boolean(self.0, b, &mut out) })?;
        Ok(out)
    }

    pub fn null(self) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        check_status!(unsafe { sys::napi_get_null(self.0, &mut out) })?;
        Ok(out)
    }

    pub fn undefined(self) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        check_status!(unsafe { sys::napi_get_undefined(self.0, &mut out) })?;
        Ok(out)
    }

    pub fn date(self, ms: f64) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        check_status!(unsafe { sys::napi_create_date(self.0, ms, &mut out) })?;
        Ok(out)
    }

    pub fn buffer(self, data: &[u8]) -> Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        let mut copy: *mut c_void = ptr::null_mut();
        check_status!(unsafe {
            sys::napi_create_buffer_copy(
                self.0,
                data.len(),
                data.as_ptr().cast(),
                &mut copy,
                &mut out,
            )
        })?;
        Ok(out)
    }

    /// `obj[key] = value`, with JavaScript's own key conversion (as rhea's `mapify`).
    pub fn set(
        self,
        obj: sys::napi_value,
        key: sys::napi_value,
        value: sys::napi_value,
    ) -> Result<()> {
        check_status!(unsafe { sys::napi_set_property(self.0, obj, key, value) })
    }

    pub fn set_named(self, obj: sys::napi_value, key: &str, value: sys::napi_value) -> Result<()> {
        let key = self.string(key)?;
        self.set(obj, key, value)
    }

    pub fn set_element(self, arr: sys::napi_value, i: u32, value: sys::napi_value) -> Result<()> {
        check_status!(unsafe { sys::napi_set_element(self.0, arr, i, value) })
    }

    pub fn value(self, v: &Value) -> Result<sys::napi_value> {
        match v {
            Value::Null => self.null(),
            Value::Bool(b) => self.boolean(*b),
            Value::Number(n) => self.number(*n),
            Value::Timestamp(ms) => self.date(*ms),
            Value::Binary(b) => self.buffer(b),
            Value::String(s) => self.string(s),
            Value::List(items) => self.list(items),
            Value::Map(pairs) => self.map(pairs),
            Value::Described(d, v) => {
                let obj = self.object()?;
                self.set_named(obj, "descriptor", self.value(d)?)?;
                self.set_named(obj, "value", self.value(v)?)?;
                Ok(obj)
            }
        }
    }

    fn list(self, items: &[Value]) -> Result<sys::napi_value> {
        let arr = self.array(items.len())?;
        for (i, item) in items.iter().enumerate() {
            self.set_element(arr, i as u32, self.value(item)?)?;
        }
        Ok(arr)
    }

    fn map(self, pairs: &[(Value, Value)]) -> Result<sys::napi_value> {
        let obj = self.object()?;
        for (k, v) in pairs {
            self.set(obj, self.value(k)?, self.value(v)?)?;
        }
        Ok(obj)
    }

    /// Copies the non-null fields of a composite section onto the message, flat, as rhea does.
    fn fields(self, msg: sys::napi_value, names: &[&str], values: &[Value]) -> Result<()> {
        for (name, value) in names.iter().zip(values) {
            if *value != Value::Null {
                self.set_named(msg, name, self.value(value)?)?;
            }
        }
        Ok(())
    }

    /// The message in rhea's shape. The JS layer gives it and its body their prototypes.
    pub fn message(self, m: &Message) -> Result<sys::napi_value> {
        let msg = self.object()?;
        if let Some(h) = &m.header {
            self.fields(msg, &HEADER_FIELDS, h)?;
        }
        if let Some(p) = &m.delivery_annotations {
            self.set_named(msg, "delivery_annotations", self.map(p)?)?;
        }
        if let Some(p) = &m.message_annotations {
            self.set_named(msg, "message_annotations", self.map(p)?)?;
        }
        if let Some(p) = &m.properties {
            self.fields(msg, &PROPERTY_FIELDS, p)?;
        }
        if let Some(p) = &m.application_properties {
            self.set_named(msg, "application_properties", self.map(p)?)?;
        }
        match &m.body {
            Body::None => {}
            Body::Data(parts) => {
                let content = if parts.len() == 1 {
                    self.buffer(&parts[0])?
                } else {
                    let arr = self.array(parts.len())?;
                    for (i, p) in parts.iter().enumerate() {
                        self.set_element(arr, i as u32, self.buffer(p)?)?;
                    }
                    arr
                };
                self.set_named(msg, "body", self.section(0x75, content, parts.len() > 1)?)?;
            }
            Body::Sequence(parts) => {
                let content = if parts.len() == 1 {
                    self.list(&parts[0])?
                } else {
                    let arr = self.array(parts.len())?;
                    for (i, p) in parts.iter().enumerate() {
                        self.set_element(arr, i as u32, self.list(p)?)?;
                    }
                    arr
                };
                self.set_named(msg, "body", self.section(0x76, content, parts.len() > 1)?)?;
            }
            Body::Value(v) => self.set_named(msg, "body", self.value(v)?)?,
        }
        if let Some(p) = &m.footer {
            self.set_named(msg, "footer", self.map(p)?)?;
        }
        Ok(msg)
    }

    fn section(
        self,
        typecode: u32,
        content: sys::napi_value,
        multiple: bool,
    ) -> Result<sys::napi_value> {
        let s = self.object()?;
        self.set_named(s, "typecode", self.number(typecode as f64)?)?;
        self.set_named(s, "content", content)?;
        let multiple = if multiple {
            self.boolean(true)?
        } else {
            self.undefined()?
        };
        self.set_named(s, "multiple", multiple)?;
        Ok(s)
    }

    fn delivery(self, d: &Delivery) -> Result<sys::napi_value> {
        let obj = self.object()?;
        self.set_named(obj, "id", self.number(d.id as f64)?)?;
        self.set_named(obj, "tag", self.buffer(&d.tag)?)?;
        self.set_named(obj, "format", self.number(d.format as f64)?)?;
        self.set_named(obj, "settled", self.boolean(d.settled)?)?;
        let section = matches!(d.message.body, Body::Data(_) | Body::Sequence(_));
        self.set_named(obj, "section", self.boolean(section)?)?;
        self.set_named(obj, "message", self.message(&d.message)?)?;
        Ok(obj)
    }

    fn error(self, e: &ErrorInfo) -> Result<sys::napi_value> {
        let obj = self.object()?;
        self.set_named(obj, "condition", self.string(&e.condition)?)?;
        self.set_named(obj, "description", self.string(&e.description)?)?;
        Ok(obj)
    }

    fn opt_error(self, e: &Option<ErrorInfo>) -> Result<sys::napi_value> {
        match e {
            Some(e) => self.error(e),
            None => self.undefined(),
        }
    }

    fn opt_string(self, s: &Option<String>) -> Result<sys::napi_value> {
        match s {
            Some(s) => self.string(s),
            None => self.null(),
        }
    }

    /// `{type, epoch, ...}` for one core event.
    pub fn event(self, ev: &Event) -> Result<sys::napi_value> {
        let obj = self.object()?;
        let (kind, epoch) = match ev {
            Event::ConnectionOpen { epoch, remote } => {
                let r = self.object()?;
                self.set_named(r, "container_id", self.string(&remote.container_id)?)?;
                self.set_named(r, "hostname", self.opt_string(&remote.hostname)?)?;
                let idle = match remote.idle_time_out {
                    Some(ms) => self.number(ms as f64)?,
                    None => self.null()?,
                };
                self.set_named(r, "idle_time_out", idle)?;
                self.set_named(
                    r,
                    "max_frame_size",
                    self.number(remote.max_frame_size as f64)?,
                )?;
                self.set_named(obj, "remote", r)?;
                ("connection_open", *epoch)
            }
            Event::ReceiverOpen {
                epoch,
                remote_source,
            } => {
                self.set_named(obj, "remote_source", self.opt_string(remote_source)?)?;
                ("receiver_open", *epoch)
            }
            Event::Messages { epoch, deliveries } => {
                // The hot path: one packed batch, unpacked into objects by JavaScript. Falls back
                // to the object-by-object conversion below if it cannot run in this environment.
                if let Some(ev) = fast::messages(self.0, *epoch, deliveries) {
                    return Ok(ev);
                }
                let arr = self.array(deliveries.len())?;
                for (i, d) in deliveries.iter().enumerate() {
                    self.set_element(arr, i as u32, self.delivery(d)?)?;
                }
                self.set_named(obj, "deliveries", arr)?;
                ("messages", *epoch)
            }
            Event::ReceiverClose { epoch, error } => {
                self.set_named(obj, "error", self.opt_error(error)?)?;
                ("receiver_close", *epoch)
            }
            Event::ConnectionError { epoch, error } => {
                self.set_named(obj, "error", self.error(error)?)?;
                ("connection_error", *epoch)
            }
            Event::ConnectionClose { epoch } => ("connection_close", *epoch),
            Event::Disconnected {
                epoch,
                error,
                reconnecting,
                delay,
            } => {
                self.set_named(obj, "error", self.opt_error(error)?)?;
                self.set_named(obj, "reconnecting", self.boolean(*reconnecting)?)?;
                self.set_named(obj, "delay", self.number(delay.as_millis() as f64)?)?;
                ("disconnected", *epoch)
            }
            Event::CredentialsNeeded { epoch } => ("credentials_needed", *epoch),
            Event::Closed => ("closed", 0),
        };
        self.set_named(obj, "type", self.string(kind)?)?;
        self.set_named(obj, "epoch", self.number(epoch as f64)?)?;
        Ok(obj)
    }
}

/// An event on its way to JavaScript.
pub struct JsEvent(pub Event);

impl ToNapiValue for JsEvent {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let out = Js(env).event(&val.0);
        graveyard::bury(val.0);
        out
    }
}

/// Freeing a big batch (a few allocations per message, made on the runtime's threads) costs
/// Node's thread ~20 % of its time at high rates, and delays the handlers: big batches are handed
/// to a thread of their own to be dropped there. Small ones are dropped in place (measured: also
/// handing over batches of 8 and more, held and sent 64 deliveries at a time, cost more on 2 cores
/// than it saved, the freeing thread then competing with Node's for a core).
mod graveyard {
    use std::sync::mpsc::{self, Sender};
    use std::sync::OnceLock;

    use crate::consumer::Event;

    /// Batches with fewer deliveries than this are dropped in place.
    const MIN_DELIVERIES: usize = 32;

    fn sender() -> Option<&'static Sender<Event>> {
        static TX: OnceLock<Option<Sender<Event>>> = OnceLock::new();
        TX.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Event>();
            std::thread::Builder::new()
                .name("aliyun-iot-amqp-free".into())
                .spawn(move || {
                    for event in rx {
                        drop(event)
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
    }

    pub(super) fn bury(event: Event) {
        if let Event::Messages { deliveries, .. } = &event {
            if deliveries.len() >= MIN_DELIVERIES {
                if let Some(tx) = sender() {
                    // A failed send hands the event back: it is then dropped here.
                    let _ = tx.send(event);
                    return;
                }
            }
        }
        drop(event);
    }
}

/// The messages hot path. Building every object of every message through N-API costs one call
/// per property, each with a fresh key string to hash; instead a batch is packed into one Buffer
/// (bodies, tags, string bytes) and one Float64Array "tape" (numbers, offsets, opcodes), and a
/// small JavaScript function, compiled once per environment, builds the very same objects with
/// object literals. About ten N-API calls per batch instead of ~50 per message.
///
/// The objects are those `Js::delivery` builds (same keys, same order, same values), except that
/// buffers (the tag, data sections, binary values) are views of the batch Buffer rather than
/// copies of their own, as rhea's are views of the socket chunk they arrived in.
mod fast {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::ffi::c_void;
    use std::ptr;

    use napi::sys;

    use crate::consumer::Delivery;
    use crate::message::{Body, Message, Value, HEADER_FIELDS, PROPERTY_FIELDS};

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

    /// Map keys interned per environment (sent to JavaScript once, then referred to by index),
    /// up to this many, each up to `MAX_KEY_LEN` bytes; others travel as plain strings.
    const MAX_KEYS: usize = 4096;
    const MAX_KEY_LEN: usize = 128;
    /// Binaries (bodies) of this many bytes or more are not staged in `bytes` but copied once,
    /// straight into the Buffer handed to JavaScript.
    const DEFER_MIN: usize = 128;

    /// Std's hasher (randomly keyed SipHash): the keys come from the server, and a table whose
    /// keys all collide would cost every lookup a scan.
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
  return function unpack(buffer, tape, newKeys, n, epoch, bigAt) {
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
    return { deliveries, type: 'messages', epoch };
  };
})"#;

    struct EnvState {
        env: sys::napi_env,
        unpack: sys::napi_ref,
        keys: Keys,
        tape: Vec<f64>,
        bytes: Vec<u8>,
    }

    enum Slot {
        Empty,
        Ready(EnvState),
        /// Setting up failed in this environment: use the generic conversion.
        Unavailable(sys::napi_env),
    }

    thread_local! {
        static SLOT: RefCell<Slot> = const { RefCell::new(Slot::Empty) };
    }

    unsafe extern "C" fn on_env_cleanup(arg: *mut c_void) {
        let env = arg as sys::napi_env;
        let _ = SLOT.try_with(|slot| {
            if let Ok(mut s) = slot.try_borrow_mut() {
                let mine = match &*s {
                    Slot::Ready(st) => st.env == env,
                    Slot::Unavailable(e) => *e == env,
                    Slot::Empty => false,
                };
                if mine {
                    *s = Slot::Empty;
                }
            }
        });
    }

    fn ok(status: sys::napi_status) -> Option<()> {
        (status == sys::Status::napi_ok).then_some(())
    }

    /// Clears an exception left by a failed call, so that the fallback starts clean.
    unsafe fn clear_exception(env: sys::napi_env) {
        let mut pending = false;
        if sys::napi_is_exception_pending(env, &mut pending) == sys::Status::napi_ok && pending {
            let mut e = ptr::null_mut();
            sys::napi_get_and_clear_last_exception(env, &mut e);
        }
    }

    unsafe fn names_array(env: sys::napi_env, names: &[&str]) -> Option<sys::napi_value> {
        let mut arr = ptr::null_mut();
        ok(sys::napi_create_array_with_length(
            env,
            names.len(),
            &mut arr,
        ))?;
        for (i, n) in names.iter().enumerate() {
            let mut s = ptr::null_mut();
            ok(sys::napi_create_string_utf8(
                env,
                n.as_ptr().cast(),
                n.len() as isize,
                &mut s,
            ))?;
            ok(sys::napi_set_element(env, arr, i as u32, s))?;
        }
        Some(arr)
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

    unsafe fn setup(env: sys::napi_env) -> Option<EnvState> {
        let source = unpack_source();
        let mut src = ptr::null_mut();
        ok(sys::napi_create_string_utf8(
            env,
            source.as_ptr().cast(),
            source.len() as isize,
            &mut src,
        ))?;
        let mut factory = ptr::null_mut();
        ok(sys::napi_run_script(env, src, &mut factory))?;
        let args: [sys::napi_value; 0] = [];
        let mut undefined = ptr::null_mut();
        ok(sys::napi_get_undefined(env, &mut undefined))?;
        let mut unpack = ptr::null_mut();
        ok(sys::napi_call_function(
            env,
            undefined,
            factory,
            args.len(),
            args.as_ptr(),
            &mut unpack,
        ))?;
        let mut reference = ptr::null_mut();
        ok(sys::napi_create_reference(env, unpack, 1, &mut reference))?;
        ok(sys::napi_add_env_cleanup_hook(
            env,
            Some(on_env_cleanup),
            env as *mut c_void,
        ))?;
        Some(EnvState {
            env,
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
        /// Binaries of `DEFER_MIN` bytes or more: copied once, straight into the JS Buffer, after
        /// the small things (`bytes`); on the tape at `-1 - offset` within this part.
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

        /// Non-null fields of a composite section, flat, as `Js::fields`.
        fn fields(&mut self, first: usize, count: usize, values: &'a [Value]) {
            for (i, v) in values.iter().take(count).enumerate() {
                if !matches!(v, Value::Null) {
                    self.tape.push((first + i) as f64);
                    self.value(v);
                }
            }
        }

        /// The message's fields in the order `Js::message` sets them.
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

    /// `{deliveries, type: 'messages', epoch}` built by the unpacking function, or `None` where it
    /// is not available (then the caller builds it object by object).
    pub(super) fn messages(
        env: sys::napi_env,
        epoch: u64,
        deliveries: &[Delivery],
    ) -> Option<sys::napi_value> {
        SLOT.with(|slot| {
            let mut slot = slot.try_borrow_mut().ok()?;
            match &*slot {
                Slot::Ready(st) if st.env == env => {}
                Slot::Unavailable(e) if *e == env => return None,
                _ => {
                    *slot = match unsafe { setup(env) } {
                        Some(st) => Slot::Ready(st),
                        None => {
                            unsafe { clear_exception(env) };
                            Slot::Unavailable(env)
                        }
                    };
                }
            }
            let Slot::Ready(st) = &mut *slot else {
                return None;
            };
            let result = unsafe { call(st, env, epoch, deliveries) };
            if result.is_none() {
                // Never half-trust the interned keys after a failure: start over next time.
                unsafe { clear_exception(env) };
                *slot = Slot::Unavailable(env);
            }
            result
        })
    }

    unsafe fn call(
        st: &mut EnvState,
        env: sys::napi_env,
        epoch: u64,
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
            // One Buffer (uninitialised, then filled): the small things, then the big binaries.
            let small = bytes.len();
            let mut buffer = ptr::null_mut();
            let mut data: *mut c_void = ptr::null_mut();
            ok(sys::napi_create_buffer(
                env,
                small + big_len,
                &mut data,
                &mut buffer,
            ))?;
            if small + big_len > 0 {
                if data.is_null() {
                    return None;
                }
                let dst = data.cast::<u8>();
                ptr::copy_nonoverlapping(bytes.as_ptr(), dst, small);
                let mut at = small;
                for b in &big {
                    ptr::copy_nonoverlapping(b.as_ptr(), dst.add(at), b.len());
                    at += b.len();
                }
            }
            let mut data: *mut c_void = ptr::null_mut();
            let mut ab = ptr::null_mut();
            ok(sys::napi_create_arraybuffer(
                env,
                tape.len() * 8,
                &mut data,
                &mut ab,
            ))?;
            if !tape.is_empty() {
                ptr::copy_nonoverlapping(
                    tape.as_ptr().cast::<u8>(),
                    data.cast::<u8>(),
                    tape.len() * 8,
                );
            }
            let mut tape_js = ptr::null_mut();
            ok(sys::napi_create_typedarray(
                env,
                sys::TypedarrayType::float64_array,
                tape.len(),
                ab,
                0,
                &mut tape_js,
            ))?;
            let mut undefined = ptr::null_mut();
            ok(sys::napi_get_undefined(env, &mut undefined))?;
            let keys_js = if new_keys.is_empty() {
                undefined
            } else {
                names_array(env, &new_keys)?
            };
            let mut n = ptr::null_mut();
            ok(sys::napi_create_uint32(
                env,
                deliveries.len() as u32,
                &mut n,
            ))?;
            let mut epoch_js = ptr::null_mut();
            ok(sys::napi_create_double(env, epoch as f64, &mut epoch_js))?;
            let mut unpack = ptr::null_mut();
            ok(sys::napi_get_reference_value(env, st.unpack, &mut unpack))?;
            let mut big_at = ptr::null_mut();
            ok(sys::napi_create_uint32(
                env,
                bytes.len() as u32,
                &mut big_at,
            ))?;
            let args = [buffer, tape_js, keys_js, n, epoch_js, big_at];
            let mut out = ptr::null_mut();
            ok(sys::napi_call_function(
                env,
                undefined,
                unpack,
                args.len(),
                args.as_ptr(),
                &mut out,
            ))?;
            Some(out)
        })();
        // Keep the allocations for the next batch (but not a huge one-off). The packed bytes are
        // copied into a Buffer of Node's: handing the Vec over as an external buffer (no copy) was
        // measured slower (finalizers, and RSS doubled at 4 KiB bodies: external memory is
        // collected late).
        if tape.capacity() <= 1 << 20 {
            st.tape = tape;
        }
        if bytes.capacity() <= 8 << 20 {
            st.bytes = bytes;
        }
        result
    }
}
