//! What JavaScript receives: each core event as one typed object, `{type, epoch, ...}`, built by
//! `From` (`native_event` adds the connection's batch shape). A batch of messages is converted by
//! `batch/`, the hot path.

use std::sync::Arc;

use napi::bindgen_prelude::{Buffer, ToNapiValue, TypeName, ValueType};
use napi::sys;
use napi_derive::napi;

use super::batch::{Batch, Shape};
use crate::error::Error;
use crate::model::{Event, RemoteOpen};

/// An error reported by the core: `condition` is the AMQP error condition; `code` Node's
/// `err.code` where there is one (a refused certificate).
#[napi(object, object_from_js = false)]
pub struct NativeError {
    pub condition: String,
    pub description: String,
    pub code: Option<String>,
    /// The server's certificate was refused (retrying cannot help).
    pub certificate: bool,
}

impl From<Error> for NativeError {
    fn from(e: Error) -> Self {
        NativeError {
            condition: e.condition().to_string(),
            description: e.description().to_string(),
            code: e.code().map(str::to_string),
            certificate: e.is_certificate_failure(),
        }
    }
}

fn buffers(chain: Vec<Vec<u8>>) -> Vec<Buffer> {
    chain.into_iter().map(Buffer::from).collect()
}

/// The server's Open.
#[napi(object, object_from_js = false)]
pub struct NativeRemoteOpen {
    pub container_id: String,
    pub hostname: Option<String>,
    pub idle_time_out: Option<u32>,
    pub max_frame_size: u32,
}

impl From<RemoteOpen> for NativeRemoteOpen {
    fn from(r: RemoteOpen) -> Self {
        NativeRemoteOpen {
            container_id: r.container_id,
            hostname: r.hostname,
            idle_time_out: r.idle_time_out,
            max_frame_size: r.max_frame_size,
        }
    }
}

/// One event of a connection. `epoch` numbers its transport connections (attempts), from 1.
#[napi(discriminant_case = "snake_case", object_from_js = false)]
pub enum NativeEvent {
    ConnectionOpen {
        epoch: u32,
        remote: NativeRemoteOpen,
        /// The server's certificate chain (DER, leaf first); empty without TLS.
        peer_certificates: Vec<Buffer>,
    },
    /// The receiver is attached; `attach` numbers this attachment (settlements name it).
    ReceiverOpen {
        epoch: u32,
        attach: u32,
        /// The source address in the server's attach reply; absent if it sent none.
        remote_source: Option<String>,
    },
    /// Deliveries of attachment `attach`: as objects, or packed (the receiver was opened with
    /// `batch: true`), the packed Buffer and tape with an index, read by lib/batch.js.
    Messages {
        epoch: u32,
        attach: u32,
        #[napi(
            ts_type = "Array<{ id: number; tag: Buffer; format: number; settled: boolean; section: boolean; message: Record<string, unknown> }> | { length: number; buffer: Buffer; tape: Float64Array; bigAt: number; indexAt: number; read: { value(batch: unknown, at: number): unknown; message(batch: unknown, at: number): Record<string, unknown> } }"
        )]
        deliveries: Batch,
    },
    /// Attachment `attach` ended: its deliveries can no longer be settled. `reattachIn` (ms) is
    /// set when the receiver will be attached again on this connection; `gone`: the receiver is
    /// closed for good (refused with `amqp:unauthorized-access`).
    ReceiverClose {
        epoch: u32,
        attach: u32,
        error: Option<NativeError>,
        reattach_in: Option<f64>,
        gone: bool,
    },
    /// The server began the session.
    SessionOpen {
        epoch: u32,
    },
    /// The server ended the session (it is begun again on the same connection).
    SessionClose {
        epoch: u32,
        error: Option<NativeError>,
    },
    /// Delivery `id` of attachment `attach` cannot be read (not decodable, or over
    /// `max_message_size`): not delivered; `held` unsettled, to be released later.
    Unreadable {
        epoch: u32,
        attach: u32,
        id: u32,
        error: NativeError,
        held: bool,
    },
    /// `count` more transfers were taken beyond the credit granted.
    OverCredit {
        epoch: u32,
        count: f64,
    },
    ConnectionError {
        epoch: u32,
        error: NativeError,
    },
    ConnectionClose {
        epoch: u32,
    },
    Disconnected {
        epoch: u32,
        error: Option<NativeError>,
        reconnecting: bool,
        /// Milliseconds until the next attempt.
        delay: f64,
    },
    CredentialsNeeded {
        epoch: u32,
    },
    /// The chain is verified; check the server's identity (`checkServerIdentity`) and answer
    /// with `provideIdentityVerdict`.
    PeerCertificate {
        epoch: u32,
        chain: Vec<Buffer>,
    },
    /// The connection is finished: no event follows.
    Closed {
        epoch: u32,
    },
    /// A debug line (`DEBUG=aliyun-iot-amqp:frames`: one frame in or out), for JavaScript's
    /// debug writer; sent only while frame debugging is on.
    Log {
        epoch: u32,
        line: String,
    },
}

/// An event on its way to JavaScript: converted as `NativeEvent`'s derived conversion builds it,
/// but for a batch of messages, whose event object the unpacker builds (`Batch::into_event`): the
/// same object, from an object literal rather than one N-API call per property, each with its
/// name to make (a twelfth of Node's thread at 1 000 msg/s, one event per 8 messages).
pub struct JsEvent(NativeEvent);

impl TypeName for JsEvent {
    fn type_name() -> &'static str {
        "NativeEvent"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for JsEvent {
    // SAFETY: napi calls this on Node's thread with the environment of the current callback.
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        match val.0 {
            NativeEvent::Messages {
                epoch,
                attach,
                deliveries,
            } => deliveries.into_event(env, epoch, attach),
            // SAFETY: as above.
            ev => unsafe { NativeEvent::to_napi_value(env, ev) },
        }
    }
}

/// The event as JavaScript receives it on a connection of batch shape `shape`.
pub fn native_event(event: Event, shape: &Arc<Shape>) -> JsEvent {
    let mut ev = NativeEvent::from(event);
    if let NativeEvent::Messages { deliveries, .. } = &mut ev {
        deliveries.shape = Some(shape.clone());
    }
    JsEvent(ev)
}

/// A debug line for JavaScript's debug writer.
pub fn log_event(line: String) -> JsEvent {
    JsEvent(NativeEvent::Log { epoch: 0, line })
}

fn epoch(e: u64) -> u32 {
    u32::try_from(e).unwrap_or(u32::MAX)
}

impl From<Event> for NativeEvent {
    fn from(ev: Event) -> Self {
        match ev {
            Event::ConnectionOpen {
                epoch: e,
                remote,
                peer_certificates,
            } => NativeEvent::ConnectionOpen {
                epoch: epoch(e),
                remote: remote.into(),
                peer_certificates: buffers(peer_certificates),
            },
            Event::ReceiverOpen {
                epoch: e,
                attach,
                remote_source,
            } => NativeEvent::ReceiverOpen {
                epoch: epoch(e),
                attach,
                remote_source,
            },
            Event::Messages {
                epoch: e,
                attach,
                deliveries,
            } => NativeEvent::Messages {
                epoch: epoch(e),
                attach,
                deliveries: Batch {
                    deliveries,
                    shape: None,
                },
            },
            Event::ReceiverClose {
                epoch: e,
                attach,
                error,
                reattach_in,
                gone,
            } => NativeEvent::ReceiverClose {
                epoch: epoch(e),
                attach,
                error: error.map(Into::into),
                reattach_in: reattach_in.map(|d| d.as_millis() as f64),
                gone,
            },
            Event::SessionOpen { epoch: e } => NativeEvent::SessionOpen { epoch: epoch(e) },
            Event::SessionClose { epoch: e, error } => NativeEvent::SessionClose {
                epoch: epoch(e),
                error: error.map(Into::into),
            },
            Event::Unreadable {
                epoch: e,
                attach,
                id,
                error,
                held,
            } => NativeEvent::Unreadable {
                epoch: epoch(e),
                attach,
                id,
                error: error.into(),
                held,
            },
            Event::OverCredit { epoch: e, count } => NativeEvent::OverCredit {
                epoch: epoch(e),
                count: count as f64,
            },
            Event::ConnectionError { epoch: e, error } => NativeEvent::ConnectionError {
                epoch: epoch(e),
                error: error.into(),
            },
            Event::ConnectionClose { epoch: e } => NativeEvent::ConnectionClose { epoch: epoch(e) },
            Event::Disconnected {
                epoch: e,
                error,
                reconnecting,
                delay,
            } => NativeEvent::Disconnected {
                epoch: epoch(e),
                error: error.map(Into::into),
                reconnecting,
                delay: delay.as_millis() as f64,
            },
            Event::CredentialsNeeded { epoch: e } => {
                NativeEvent::CredentialsNeeded { epoch: epoch(e) }
            }
            Event::PeerCertificate { epoch: e, chain } => NativeEvent::PeerCertificate {
                epoch: epoch(e),
                chain: buffers(chain),
            },
            Event::Closed => NativeEvent::Closed { epoch: 0 },
        }
    }
}
