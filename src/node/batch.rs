//! The messages hot path. Building every object of every message through N-API costs one call
//! per property, each with a fresh key string to hash; instead a batch is packed into one Buffer
//! (bodies, tags, string bytes) and one Float64Array "tape" (numbers, offsets, opcodes), and a
//! small JavaScript function, compiled once per environment, builds the objects with object
//! literals: about ten N-API calls per batch instead of ~50 per message. This is the one encoder
//! of the message shape: the tape carries rhea's field names (from `message.rs`) and values.
//!
//! Buffers (the tag, data sections, binary values) are views of the batch Buffer, as rhea's are
//! views of the socket chunk they arrived in.
//!
//! A receiver opened with `{batch: true}` gets the same Buffer and tape *packed*: nothing is
//! unpacked when the batch arrives. The tape then ends with an index, `slot::COUNT` numbers
//! per delivery (see `append_index`): its id and flags, the byte offsets in the Buffer of its
//! topic, message id and single data section, its generate time, and where its fields start on
//! the tape. `lib/batch.js` reads the platform's fields straight from the index, and builds a
//! whole message, on demand, with the unpacker's `read.message`: the same tape, the same
//! unpacker, so still one encoder of the message shape.
//!
//! The codes the packer and its readers share are written here once: the unpacker's are spliced
//! into its source as numbers (`SPLICED`), and lib/batch.js reads the index's layout from
//! `batchIndex()` when it loads.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{ToNapiValue, TypeName, ValueType};
use napi::sys;

use super::graveyard;
use super::raw::{ok, Env};
use crate::message::{Body, Message, Value, HEADER_FIELDS, PROPERTY_FIELDS};
use crate::model::Delivery;

/// Which shape a connection's batches take in JavaScript: message objects (the default), or
/// packed (its receiver was opened with `{batch: true}`). Set from JavaScript when the receiver is
/// opened and read when a batch is converted, both on Node's thread: a batch always has the shape
/// of the receiver it is handed to.
#[derive(Default)]
pub struct Shape(AtomicBool);

impl Shape {
    pub fn set_packed(&self, packed: bool) {
        self.0.store(packed, Ordering::Release);
    }

    fn packed(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The deliveries of one `messages` event, converted to JavaScript by packing; `shape` is the
/// connection's (none: message objects).
pub struct Batch {
    pub deliveries: Vec<Delivery>,
    pub shape: Option<Arc<Shape>>,
}

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
        let packed = val.shape.as_ref().is_some_and(|s| s.packed());
        let out = deliveries(env, &val.deliveries, packed).ok_or_else(|| {
            napi::Error::new(
                napi::Status::GenericFailure,
                format!(
                    "cannot hand a batch of {} messages to JavaScript",
                    val.deliveries.len()
                ),
            )
        });
        graveyard::bury(val.deliveries);
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

/// A delivery's flags, on the tape and in a packed batch's index: settled by the sender; a body
/// of data or sequence sections.
const FLAG_SETTLED: u8 = 1;
const FLAG_SECTION: u8 = 2;

/// The names unpack.js gives these constants (declared by its `/* global */` lines), each
/// replaced by its number before the unpacker is compiled (`unpack_source`).
const SPLICED: [(&str, f64); 17] = [
    ("OP_NULL", NULL),
    ("OP_TRUE", TRUE),
    ("OP_FALSE", FALSE),
    ("OP_NUMBER", NUMBER),
    ("OP_DATE", DATE),
    ("OP_BINARY", BINARY),
    ("OP_ASCII", ASCII),
    ("OP_UTF8", UTF8),
    ("OP_KEY", KEY),
    ("OP_LIST", LIST),
    ("OP_MAP", MAP),
    ("OP_DESCRIBED", DESCRIBED),
    ("F_END", F_END),
    ("BODY_DATA", BODY_DATA),
    ("BODY_VALUE", BODY_VALUE),
    ("FLAG_SETTLED", FLAG_SETTLED as f64),
    ("FLAG_SECTION", FLAG_SECTION as f64),
];

/// Map keys interned per environment (sent to JavaScript once, then referred to by index), up to
/// this many, each up to `MAX_KEY_LEN` bytes; others travel as plain strings.
const MAX_KEYS: usize = 4096;
const MAX_KEY_LEN: usize = 128;
/// Binaries (bodies) of this many bytes or more are not staged in `bytes` but copied once,
/// straight into the Buffer handed to JavaScript.
const DEFER_MIN: usize = 128;

/// A packed batch's index (`append_index`): where each of a delivery's `COUNT` numbers is. Offsets
/// are in the batch Buffer; -1 means none.
mod slot {
    /// Where its fields start on the tape (for `read.message`).
    pub const FIELDS: usize = 0;
    /// The delivery id.
    pub const ID: usize = 1;
    /// `FLAG_SETTLED`, `FLAG_SECTION`.
    pub const FLAGS: usize = 2;
    /// The topic's offset, length and whether it is ASCII (1) or not (0).
    pub const TOPIC_AT: usize = 3;
    pub const TOPIC_LEN: usize = 4;
    pub const TOPIC_ASCII: usize = 5;
    /// The message id: its kind (`IdKind`), then the string's offset and length, the number, or
    /// the value's tape position (for `read.value`).
    pub const ID_KIND: usize = 6;
    pub const ID_A: usize = 7;
    pub const ID_B: usize = 8;
    /// The generate time: its kind (`TimeKind`), then the number or the value's tape position.
    pub const TIME_KIND: usize = 9;
    pub const TIME_A: usize = 10;
    /// The single data section's offset and length.
    pub const BODY_AT: usize = 11;
    pub const BODY_LEN: usize = 12;
    /// Numbers per delivery.
    pub const COUNT: usize = 13;
}

/// What the message id slot of the index holds.
#[derive(Clone, Copy)]
enum IdKind {
    None = 0,
    Ascii = 1,
    Utf8 = 2,
    Number = 3,
    Value = 4,
}

/// What the generate time slot of the index holds.
#[derive(Clone, Copy)]
enum TimeKind {
    None = 0,
    Number = 1,
    Value = 2,
}

/// A packed batch's index as lib/batch.js reads it (once, when it loads): its slots, the kinds
/// of its message id and generate time, and the flags.
#[napi_derive::napi(object, object_from_js = false)]
pub struct BatchIndex {
    pub slots: u32,
    pub fields: u32,
    pub id: u32,
    pub flags: u32,
    pub topic_at: u32,
    pub topic_len: u32,
    pub topic_ascii: u32,
    pub id_kind: u32,
    pub id_a: u32,
    pub id_b: u32,
    pub time_kind: u32,
    pub time_a: u32,
    pub body_at: u32,
    pub body_len: u32,
    pub id_none: u32,
    pub id_ascii: u32,
    pub id_utf8: u32,
    pub id_number: u32,
    pub id_value: u32,
    pub time_none: u32,
    pub time_number: u32,
    pub time_value: u32,
    pub flag_settled: u32,
    pub flag_section: u32,
}

/// The layout of a packed batch's index.
#[napi_derive::napi]
pub fn batch_index() -> BatchIndex {
    BatchIndex {
        slots: slot::COUNT as u32,
        fields: slot::FIELDS as u32,
        id: slot::ID as u32,
        flags: slot::FLAGS as u32,
        topic_at: slot::TOPIC_AT as u32,
        topic_len: slot::TOPIC_LEN as u32,
        topic_ascii: slot::TOPIC_ASCII as u32,
        id_kind: slot::ID_KIND as u32,
        id_a: slot::ID_A as u32,
        id_b: slot::ID_B as u32,
        time_kind: slot::TIME_KIND as u32,
        time_a: slot::TIME_A as u32,
        body_at: slot::BODY_AT as u32,
        body_len: slot::BODY_LEN as u32,
        id_none: IdKind::None as u32,
        id_ascii: IdKind::Ascii as u32,
        id_utf8: IdKind::Utf8 as u32,
        id_number: IdKind::Number as u32,
        id_value: IdKind::Value as u32,
        time_none: TimeKind::None as u32,
        time_number: TimeKind::Number as u32,
        time_value: TimeKind::Value as u32,
        flag_settled: FLAG_SETTLED as u32,
        flag_section: FLAG_SECTION as u32,
    }
}
/// What `Packer` notes per delivery of a packed batch: where its fields start on the tape, its
/// id, its flags, then the tape positions (-1: none) of the value of its `topic` application
/// property (a string only), of its message id (the `messageId` application property, else the
/// `message_id` property), of its `generateTime` application property, and of its body's single
/// data section.
const MARKS: usize = 7;
const NONE: f64 = -1.0;

/// Std's hasher (randomly keyed SipHash): the keys come from the server, and a table whose keys
/// all collide would cost every lookup a scan.
type Keys = HashMap<Box<str>, u32>;

/// The unpacking function, compiled once per environment. `fill`'s cases (one named store per
/// field, so that each store site stays monomorphic) are generated from `message.rs`'s field
/// names by `unpack_source`, so the field codes cannot drift from the names.
const UNPACK_JS: &str = include_str!("unpack.js");
/// What is kept per environment: the compiled unpacker, the interned keys, reusable buffers.
struct EnvState {
    env: sys::napi_env,
    unpack: sys::napi_ref,
    keys: Keys,
    tape: Vec<f64>,
    bytes: Vec<u8>,
    index: Vec<f64>,
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

fn setup(env: Env) -> Option<EnvState> {
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
    })
}

/// Where the parts a packed batch's index points to are on the tape, for one delivery.
#[derive(Clone, Copy)]
struct Marks {
    topic: f64,
    message_id: f64,
    generate_time: f64,
    body: f64,
}

impl Marks {
    const NONE: Marks = Marks {
        topic: NONE,
        message_id: NONE,
        generate_time: NONE,
        body: NONE,
    };
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
    /// What `append_index` needs (`MARKS` per delivery), when `indexing`.
    index: &'t mut Vec<f64>,
    indexing: bool,
    marks: Marks,
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

    /// The application properties of a packed batch's delivery: a map, noting where the values
    /// of the platform's `topic` (a string), `messageId` and `generateTime` are.
    fn marked_map(&mut self, pairs: &'a [(Value, Value)]) {
        self.tape.push(MAP);
        self.tape.push(pairs.len() as f64);
        for (k, v) in pairs {
            self.key(k);
            let at = self.tape.len() as f64;
            match (k, v) {
                (Value::String(k), Value::String(_)) if k == "topic" => self.marks.topic = at,
                (Value::String(k), _) if k == "messageId" => self.marks.message_id = at,
                (Value::String(k), _) if k == "generateTime" => self.marks.generate_time = at,
                _ => {}
            }
            self.value(v);
        }
    }

    /// Non-null fields of a composite section, flat on the message, as rhea sets them.
    fn fields(&mut self, first: usize, count: usize, values: &'a [Value]) {
        for (i, v) in values.iter().take(count).enumerate() {
            if !matches!(v, Value::Null) {
                self.tape.push((first + i) as f64);
                if self.indexing && first + i == F_PROPS {
                    // `message_id`, the message id unless a `messageId` application property follows.
                    self.marks.message_id = self.tape.len() as f64;
                }
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
            if self.indexing {
                self.marked_map(p);
            } else {
                self.map(p);
            }
        }
        match &m.body {
            Body::None => {}
            Body::Data(parts) => {
                self.tape.push(F_BODY as f64);
                self.tape.push(BODY_DATA);
                self.tape.push(parts.len() as f64);
                if self.indexing && parts.len() == 1 {
                    self.marks.body = self.tape.len() as f64;
                }
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
        let flags = (if d.settled { FLAG_SETTLED } else { 0 }
            | if section { FLAG_SECTION } else { 0 }) as f64;
        self.tape.push(d.id as f64);
        self.tape.push(d.format as f64);
        self.tape.push(flags);
        self.bin(&d.tag);
        if !self.indexing {
            self.message(&d.message);
            return;
        }
        self.marks = Marks::NONE;
        let fields = self.tape.len() as f64;
        self.message(&d.message);
        let m = self.marks;
        self.index.extend_from_slice(&[
            fields,
            d.id as f64,
            flags,
            m.topic,
            m.message_id,
            m.generate_time,
            m.body,
        ]);
    }
}

/// Appends a packed batch's index to the tape, `slot::COUNT` numbers per delivery at the places
/// `slot` names, from what the packer noted (`marks`) and the values on the tape it points to.
/// `small` is where the big binaries start in the batch Buffer.
fn append_index(tape: &mut Vec<f64>, marks: &[f64], small: usize) {
    let at = |o: f64| if o < 0.0 { small as f64 - 1.0 - o } else { o };
    tape.reserve(marks.len() / MARKS * slot::COUNT);
    for m in marks.chunks_exact(MARKS) {
        let mut e = [0.0; slot::COUNT];
        e[slot::FIELDS] = m[0];
        e[slot::ID] = m[1];
        e[slot::FLAGS] = m[2];
        // A position on the tape: a value's opcode, or a binary's offset then length.
        let (topic, id, time, body) = (m[3], m[4], m[5], m[6]);
        if topic >= 0.0 {
            let q = topic as usize;
            e[slot::TOPIC_AT] = at(tape[q + 1]);
            e[slot::TOPIC_LEN] = tape[q + 2];
            e[slot::TOPIC_ASCII] = (tape[q] == ASCII) as u8 as f64;
        } else {
            e[slot::TOPIC_AT] = NONE;
        }
        // Kinds `None` (0) are left as the zeroes they start as.
        if id >= 0.0 {
            let q = id as usize;
            let op = tape[q];
            let kind = if op == ASCII || op == UTF8 {
                e[slot::ID_A] = at(tape[q + 1]);
                e[slot::ID_B] = tape[q + 2];
                if op == ASCII {
                    IdKind::Ascii
                } else {
                    IdKind::Utf8
                }
            } else if op == NUMBER {
                e[slot::ID_A] = tape[q + 1];
                IdKind::Number
            } else {
                e[slot::ID_A] = id;
                IdKind::Value
            };
            e[slot::ID_KIND] = kind as u8 as f64;
        }
        if time >= 0.0 {
            let q = time as usize;
            let kind = if tape[q] == NUMBER {
                e[slot::TIME_A] = tape[q + 1];
                TimeKind::Number
            } else {
                e[slot::TIME_A] = time;
                TimeKind::Value
            };
            e[slot::TIME_KIND] = kind as u8 as f64;
        }
        if body >= 0.0 {
            let q = body as usize;
            e[slot::BODY_AT] = at(tape[q]);
            e[slot::BODY_LEN] = tape[q + 1];
        } else {
            e[slot::BODY_AT] = NONE;
        }
        tape.extend_from_slice(&e);
    }
}

/// The deliveries as JavaScript objects built by the unpacking function, or (`packed`) the
/// packed batch it hands back; `None` when that failed (the caller reports it).
fn deliveries(
    env: sys::napi_env,
    deliveries: &[Delivery],
    packed: bool,
) -> Option<sys::napi_value> {
    let env = Env(env);
    STATE.with(|state| {
        let mut state = state.try_borrow_mut().ok()?;
        if state.as_ref().is_none_or(|st| st.env != env.0) {
            *state = setup(env);
        }
        let st = state.as_mut()?;
        let result = pack_and_unpack(st, env, deliveries, packed);
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
    packed: bool,
) -> Option<sys::napi_value> {
    let mut tape = std::mem::take(&mut st.tape);
    let mut bytes = std::mem::take(&mut st.bytes);
    let mut index = std::mem::take(&mut st.index);
    tape.clear();
    bytes.clear();
    index.clear();
    let mut p = Packer {
        tape: &mut tape,
        bytes: &mut bytes,
        keys: &mut st.keys,
        new_keys: Vec::new(),
        big: Vec::new(),
        big_len: 0,
        index: &mut index,
        indexing: packed,
        marks: Marks::NONE,
    };
    for d in deliveries {
        p.delivery(d);
    }
    let new_keys = std::mem::take(&mut p.new_keys);
    let big = std::mem::take(&mut p.big);
    let big_len = p.big_len;
    // A packed batch's index follows the deliveries on the tape.
    let index_at = tape.len();
    if packed {
        append_index(&mut tape, &index, bytes.len());
    }
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
        if packed {
            let index_at = env.double(index_at as f64)?;
            env.call(unpack, &[buffer, tape_js, keys_js, n, big_at, index_at])
        } else {
            env.call(unpack, &[buffer, tape_js, keys_js, n, big_at])
        }
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
    if index.capacity() <= 1 << 16 {
        st.index = index;
    }
    result
}
