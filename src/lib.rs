//! aliyun-iot-amqp: a native consumer for Alibaba Cloud IoT Platform AMQP server-side
//! subscriptions. The core knows nothing of Node and is tested with `cargo test`; the N-API
//! bindings (`node`, cargo feature `node`) sit on top. See ARCHITECTURE.md for the data path.
#![deny(clippy::all)]
// Every `unsafe` block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]

// Options and credentials.
pub mod config;
pub mod secret;
pub mod sign;

// What crosses between the owner and the connection task, and how errors are told.
pub mod error;
pub mod model;

// The wire: socket, bytes, frames, values, messages.
pub mod codec;
pub mod message;
pub mod reader;
pub mod tls;
pub mod transport;
pub mod value;
pub mod writer;

// The protocol state, no I/O: link credit, the link, settlements.
pub mod credit;
pub mod link;
pub mod settle;

// The connection task: handshake, session loop, reconnecting supervisor.
pub mod acks;
pub mod backoff;
pub mod handshake;
pub mod session;
pub mod supervisor;
pub mod trace;

#[cfg(feature = "node")]
pub mod node;
