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
//! Here, the `Batch` handed to JavaScript and the glue: `codes.rs` holds the codes the packer and
//! its readers share, `packer.rs` the packer, `unpacker.rs` the unpacker compiled per environment.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{ToNapiValue, TypeName, ValueType};
use napi::sys;

use super::graveyard;
use super::raw::Env;
use crate::model::Delivery;

mod codes;
mod packer;
mod unpacker;

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
