//! The N-API bindings (cargo feature `node`): one file per JavaScript-facing thing. Options and
//! outcomes arrive here already checked by the JavaScript layer (which throws `TypeError`s naming
//! the option); they are checked again on the way into the core, so a direct caller gets an
//! error, never a panic.

pub mod batch;
pub mod cleanup;
pub mod conditions;
pub mod connection;
pub mod events;
mod graveyard;
pub mod options;
mod raw;
pub mod settle;
pub mod sign;

use std::sync::OnceLock;

use napi::{Error, Status};

/// A napi error for a bad argument.
fn invalid(msg: impl Into<String>) -> Error {
    Error::new(Status::InvalidArg, msg.into())
}

/// The runtime all connections share: one worker thread, the work is I/O. Measured against two
/// (`bench/tools/ab-rate.sh`): less CPU per message at the platform's rate, where each wake-up
/// costs more than the work it brings, and as fast at full speed.
fn runtime() -> napi::Result<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("aliyun-iot-amqp")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| Error::new(Status::GenericFailure, format!("cannot start runtime: {e}")))
}
