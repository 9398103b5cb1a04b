//! The packer: a batch's deliveries onto the tape (numbers, offsets, opcodes) and into the bytes
//! of the batch Buffer (tags, string bytes, bodies), map keys interned per environment; for a
//! packed batch, what its index needs noted per delivery (`Marks`), and the index appended to the
//! tape after the deliveries (`append_index`).

use std::collections::HashMap;

use super::codes::{
    slot, IdKind, TimeKind, ASCII, BINARY, BODY_DATA, BODY_SEQUENCE, BODY_VALUE, DATE, DESCRIBED,
    FALSE, FLAG_SECTION, FLAG_SETTLED, F_APPLICATION_PROPERTIES, F_BODY, F_DELIVERY_ANNOTATIONS,
    F_END, F_FOOTER, F_MESSAGE_ANNOTATIONS, F_PROPS, KEY, LIST, MAP, NULL, NUMBER, TRUE, UTF8,
};
use crate::message::{Body, Message, Value, HEADER_FIELDS, PROPERTY_FIELDS};
use crate::model::Delivery;

/// Map keys interned per environment (sent to JavaScript once, then referred to by index), up to
/// this many, each up to `MAX_KEY_LEN` bytes; others travel as plain strings.
const MAX_KEYS: usize = 4096;
const MAX_KEY_LEN: usize = 128;
/// Binaries (bodies) of this many bytes or more are not staged in `bytes` but copied once,
/// straight into the Buffer handed to JavaScript.
const DEFER_MIN: usize = 128;

/// What `Packer` notes per delivery of a packed batch: where its fields start on the tape, its
/// id, its flags, then the tape positions (-1: none) of the value of its `topic` application
/// property (a string only), of its message id (the `messageId` application property, else the
/// `message_id` property), of its `generateTime` application property, of its body's single
/// data section, and of its application properties map.
const MARKS: usize = 8;
const NONE: f64 = -1.0;

/// Std's hasher (randomly keyed SipHash): the keys come from the server, and a table whose keys
/// all collide would cost every lookup a scan.
pub(super) type Keys = HashMap<Box<str>, u32>;

/// Where the parts a packed batch's index points to are on the tape, for one delivery.
#[derive(Clone, Copy)]
pub(super) struct Marks {
    topic: f64,
    message_id: f64,
    generate_time: f64,
    body: f64,
    props: f64,
}

impl Marks {
    pub(super) const NONE: Marks = Marks {
        topic: NONE,
        message_id: NONE,
        generate_time: NONE,
        body: NONE,
        props: NONE,
    };
}

pub(super) struct Packer<'t, 'a> {
    pub(super) tape: &'t mut Vec<f64>,
    pub(super) bytes: &'t mut Vec<u8>,
    pub(super) keys: &'t mut Keys,
    pub(super) new_keys: Vec<&'a str>,
    /// Binaries of `DEFER_MIN` bytes or more: copied once, straight into the JS Buffer, after the
    /// small things (`bytes`); on the tape at `-1 - offset` within this part.
    pub(super) big: Vec<&'a [u8]>,
    pub(super) big_len: usize,
    /// What `append_index` needs (`MARKS` per delivery), when `indexing`.
    pub(super) index: &'t mut Vec<f64>,
    pub(super) indexing: bool,
    pub(super) marks: Marks,
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
        self.marks.props = self.tape.len() as f64;
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

    pub(super) fn delivery(&mut self, d: &'a Delivery) {
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
            m.props,
        ]);
    }
}

/// Appends a packed batch's index to the tape, `slot::COUNT` numbers per delivery at the places
/// `slot` names, from what the packer noted (`marks`) and the values on the tape it points to.
/// `small` is where the big binaries start in the batch Buffer.
pub(super) fn append_index(tape: &mut Vec<f64>, marks: &[f64], small: usize) {
    let at = |o: f64| if o < 0.0 { small as f64 - 1.0 - o } else { o };
    tape.reserve(marks.len() / MARKS * slot::COUNT);
    for m in marks.chunks_exact(MARKS) {
        let mut e = [0.0; slot::COUNT];
        e[slot::FIELDS] = m[0];
        e[slot::ID] = m[1];
        e[slot::FLAGS] = m[2];
        // A position on the tape: a value's opcode, or a binary's offset then length.
        let (topic, id, time, body) = (m[3], m[4], m[5], m[6]);
        // The map's opcode: a tape position as it is (-1: none).
        e[slot::PROPS_AT] = m[7];
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
