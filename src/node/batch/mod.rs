//! The messages hot path. Building every object of every message through N-API costs one call
//! per property, each with a fresh key string to hash; instead a batch is packed into one Buffer
//! (bodies, tags, string bytes) and one Float64Array "tape" (numbers, offsets, opcodes), and a
//! small JavaScript function, compiled once per environment, builds the objects with object
//! literals: about ten N-API calls per batch instead of ~50 per message. This is the one encoder
//! of the message shape: the tape carries rhea's field names (from `message.rs`) and values.
//!
//! Buffers (the tag, data sections, binary values) are views of the batch's bytes, as rhea's are
//! views of the socket chunk they arrived in. The bytes go into a shared ArrayBuffer and the tape
//! into a reused Float64Array (`pool.rs`), and the unpacker builds the whole `messages` event:
//! a batch costs no new Buffer and no object built through N-API.
//!
//! A receiver opened with `{batch: true}` gets the same Buffer and tape *packed*: nothing is
//! unpacked when the batch arrives. The tape then ends with an index, `slot::COUNT` numbers
//! per delivery (see `append_index`): its id and flags, the byte offsets in the Buffer of its
//! topic, message id and single data section, its generate time, and where its fields start on
//! the tape. `lib/batch.js` reads the platform's fields straight from the index, and builds a
//! whole message, on demand, with the unpacker's `read.message`: the same tape, the same
//! unpacker, so still one encoder of the message shape.
//!
//! Here, the `Batch` handed to JavaScript and the glue: `codes.rs` holds the codes the packer and
//! its readers share (the tape's head among them), `packer.rs` the packer, `pool.rs` where a
//! batch goes in JavaScript's memory, `unpacker.rs` the unpacker compiled per environment.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{ToNapiValue, TypeName, ValueType};
use napi::sys;

use super::graveyard;
use super::raw::Env;
use crate::model::Delivery;

mod codes;
mod packer;
mod pool;
mod unpacker;

use codes::head;
pub use codes::{batch_index, BatchIndex};
use packer::{append_index, Marks, Packer};
use unpacker::{setup, EnvState, STATE};

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

impl Batch {
    /// The `messages` event of attachment `attach` of attempt `epoch`: `{type, epoch, attach,
    /// deliveries}`, built by the unpacker (one object literal, not one N-API call per property).
    pub fn into_event(
        self,
        env: sys::napi_env,
        epoch: u32,
        attach: u32,
    ) -> napi::Result<sys::napi_value> {
        let packed = self.shape.as_ref().is_some_and(|s| s.packed());
        let out = event(env, &self.deliveries, packed, epoch, attach).ok_or_else(|| {
            napi::Error::new(
                napi::Status::GenericFailure,
                format!(
                    "cannot hand a batch of {} messages to JavaScript",
                    self.deliveries.len()
                ),
            )
        });
        graveyard::bury(self.deliveries);
        out
    }
}

impl ToNapiValue for Batch {
    /// Never called: `NativeEvent`'s derived conversion needs its fields to convert, but a batch
    /// reaches JavaScript only as its whole event, built by the unpacker (`JsEvent` calls
    /// `into_event`). Should that change, the event comes to JavaScript as an error, not half-built.
    // SAFETY: nothing here touches `env`; the batch is only let go of.
    unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        graveyard::bury(val.deliveries);
        Err(napi::Error::new(
            napi::Status::GenericFailure,
            "a batch of messages is converted with its event only",
        ))
    }
}

/// The event built by the unpacking function; `None` when that failed (the caller reports it).
fn event(
    env: sys::napi_env,
    deliveries: &[Delivery],
    packed: bool,
    epoch: u32,
    attach: u32,
) -> Option<sys::napi_value> {
    let env = Env(env);
    STATE.with(|state| {
        let mut state = state.try_borrow_mut().ok()?;
        if state.as_ref().is_none_or(|st| st.env != env.0) {
            *state = setup(env);
        }
        let st = state.as_mut()?;
        let result = pack_and_unpack(st, env, deliveries, packed, [epoch, attach]);
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
    [epoch, attach]: [u32; 2],
) -> Option<sys::napi_value> {
    let mut tape = std::mem::take(&mut st.tape);
    let mut bytes = std::mem::take(&mut st.bytes);
    let mut index = std::mem::take(&mut st.index);
    tape.clear();
    bytes.clear();
    index.clear();
    // The head, filled in once the deliveries are packed.
    tape.resize(head::COUNT, 0.0);
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
        let len = bytes.len() + big_len;
        let (buffer, base) = st.pool.place(env, &bytes, &big, len)?;
        tape[head::N] = deliveries.len() as f64;
        tape[head::BIG_AT] = bytes.len() as f64;
        tape[head::INDEX_AT] = if packed { index_at as f64 } else { -1.0 };
        tape[head::EPOCH] = f64::from(epoch);
        tape[head::ATTACH] = f64::from(attach);
        tape[head::BASE] = base as f64;
        tape[head::LEN] = len as f64;
        // A packed batch keeps its tape; an unpacked one's is read during the call only.
        let tape_js = if packed {
            env.float64_array_of(&tape)?
        } else {
            st.scratch.tape(env, &tape)?
        };
        let keys_js = if new_keys.is_empty() {
            env.undefined()?
        } else {
            env.strings(&new_keys)?
        };
        let unpack = env.reference_value(st.unpack)?;
        env.call(unpack, &[buffer, tape_js, keys_js])
    })();
    // Keep the allocations for the next batch (but not a huge one-off).
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
