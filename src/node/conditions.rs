//! The error conditions (`err.condition`) the package reports, exported from the core's one
//! definition (`crate::error::condition`) so that JavaScript never spells them itself.

use napi_derive::napi;

use crate::error::condition;

/// The server refused the credentials.
#[napi]
pub const CONDITION_UNAUTHORIZED_ACCESS: &str = condition::UNAUTHORIZED_ACCESS;
/// An error of one's own (the default condition of `delivery.reject()`).
#[napi]
pub const CONDITION_INTERNAL_ERROR: &str = condition::INTERNAL_ERROR;
/// A frame or message that cannot be decoded.
#[napi]
pub const CONDITION_DECODE_ERROR: &str = condition::DECODE_ERROR;
/// The peer's bytes are no frame, or a frame over the max-frame-size we advertised.
#[napi]
pub const CONDITION_FRAMING_ERROR: &str = condition::FRAMING_ERROR;
/// The peer sent a frame where the protocol allows none.
#[napi]
pub const CONDITION_NOT_ALLOWED: &str = condition::NOT_ALLOWED;
/// The peer sent a frame with a field the protocol does not allow (a wrong role, a transfer
/// without delivery-id or tag).
#[napi]
pub const CONDITION_INVALID_FIELD: &str = condition::INVALID_FIELD;
/// The condition of the server's repeated refusals of the receiver when it gave none.
#[napi]
pub const CONDITION_DETACH_FORCED: &str = condition::DETACH_FORCED;
/// The server went silent for twice the idle time-out.
#[napi]
pub const CONDITION_RESOURCE_LIMIT_EXCEEDED: &str = condition::RESOURCE_LIMIT_EXCEEDED;
/// A message larger than `max_message_size`.
#[napi]
pub const CONDITION_MESSAGE_SIZE_EXCEEDED: &str = condition::MESSAGE_SIZE_EXCEEDED;
/// The server sent far more transfers than the credit granted.
#[napi]
pub const CONDITION_TRANSFER_LIMIT_EXCEEDED: &str = condition::TRANSFER_LIMIT_EXCEEDED;
/// The server closed the connection without an error.
#[napi]
pub const CONDITION_CONNECTION_FORCED: &str = condition::CONNECTION_FORCED;
/// The transport failed or ended.
#[napi]
pub const CONDITION_IO: &str = condition::IO;
/// TLS failed.
#[napi]
pub const CONDITION_TLS: &str = condition::TLS;
/// A step did not complete within its bound.
#[napi]
pub const CONDITION_TIMEOUT: &str = condition::TIMEOUT;
/// Bad options, or credentials that could not be obtained.
#[napi]
pub const CONDITION_CONFIG: &str = condition::CONFIG;
/// A bug of ours, caught.
#[napi]
pub const CONDITION_INTERNAL: &str = condition::INTERNAL;
