//! The codes the packer and its readers share, written here once: the tape's value opcodes,
//! message field codes, body kinds and a delivery's flags, which are spliced into the unpacker's
//! source as numbers (`SPLICED`); and a packed batch's index (`slot`, `IdKind`, `TimeKind`), whose
//! layout lib/batch.js reads from `batchIndex()` when it loads.

use crate::message::{HEADER_FIELDS, PROPERTY_FIELDS};

// Value opcodes on the tape.
pub(super) const NULL: f64 = 0.0;
pub(super) const TRUE: f64 = 1.0;
pub(super) const FALSE: f64 = 2.0;
pub(super) const NUMBER: f64 = 3.0;
pub(super) const DATE: f64 = 4.0;
pub(super) const BINARY: f64 = 5.0;
pub(super) const ASCII: f64 = 6.0;
pub(super) const UTF8: f64 = 7.0;
pub(super) const KEY: f64 = 8.0;
pub(super) const LIST: f64 = 9.0;
pub(super) const MAP: f64 = 10.0;
pub(super) const DESCRIBED: f64 = 11.0;

// Message field codes: header fields 0..5, then these, then property fields from F_PROPS.
pub(super) const F_DELIVERY_ANNOTATIONS: usize = HEADER_FIELDS.len();
pub(super) const F_MESSAGE_ANNOTATIONS: usize = F_DELIVERY_ANNOTATIONS + 1;
pub(super) const F_PROPS: usize = F_MESSAGE_ANNOTATIONS + 1;
pub(super) const F_APPLICATION_PROPERTIES: usize = F_PROPS + PROPERTY_FIELDS.len();
pub(super) const F_BODY: usize = F_APPLICATION_PROPERTIES + 1;
pub(super) const F_FOOTER: usize = F_BODY + 1;
pub(super) const F_END: f64 = -1.0;

pub(super) const BODY_DATA: f64 = 0.0;
pub(super) const BODY_SEQUENCE: f64 = 1.0;
pub(super) const BODY_VALUE: f64 = 2.0;

/// A delivery's flags, on the tape and in a packed batch's index: settled by the sender; a body
/// of data or sequence sections.
pub(super) const FLAG_SETTLED: u8 = 1;
pub(super) const FLAG_SECTION: u8 = 2;

/// The head of every tape: what the unpacker needs besides the deliveries, which follow it. The
/// tape's positions (a packed batch's index among them) count from the tape's start, head included.
pub(super) mod head {
    /// How many deliveries.
    pub const N: usize = 0;
    /// Where the big binaries start among the batch's bytes.
    pub const BIG_AT: usize = 1;
    /// Where a packed batch's index starts on the tape; -1: not packed (unpack the messages).
    pub const INDEX_AT: usize = 2;
    /// The event's connection attempt and receiver attachment.
    pub const EPOCH: usize = 3;
    pub const ATTACH: usize = 4;
    /// Where the batch's bytes are in the ArrayBuffer handed over with the tape, and how many.
    pub const BASE: usize = 5;
    pub const LEN: usize = 6;
    /// Numbers in the head.
    pub const COUNT: usize = 7;
}

/// The names unpack.js gives these constants (declared by its `/* global */` lines), each
/// replaced by its number before the unpacker is compiled (`unpack_source`).
pub(super) const SPLICED: [(&str, f64); 25] = [
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
    ("H_N", head::N as f64),
    ("H_BIG_AT", head::BIG_AT as f64),
    ("H_INDEX_AT", head::INDEX_AT as f64),
    ("H_EPOCH", head::EPOCH as f64),
    ("H_ATTACH", head::ATTACH as f64),
    ("H_BASE", head::BASE as f64),
    ("H_LEN", head::LEN as f64),
    ("HEAD", head::COUNT as f64),
];

/// A packed batch's index (`append_index`): where each of a delivery's `COUNT` numbers is. Offsets
/// are in the batch Buffer; -1 means none.
pub(super) mod slot {
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
    /// The application properties map's tape position (for `read.value`).
    pub const PROPS_AT: usize = 13;
    /// Numbers per delivery.
    pub const COUNT: usize = 14;
}

/// What the message id slot of the index holds.
#[derive(Clone, Copy)]
pub(super) enum IdKind {
    None = 0,
    Ascii = 1,
    Utf8 = 2,
    Number = 3,
    Value = 4,
}

/// What the generate time slot of the index holds.
#[derive(Clone, Copy)]
pub(super) enum TimeKind {
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
    pub props_at: u32,
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
        props_at: slot::PROPS_AT as u32,
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
