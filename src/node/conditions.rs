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
/// A frame larger than the max-frame-size advertised.
#[napi]
pub const CONDITION_FRAME_SIZE_TOO_SMALL: &str = condition::FRAME_SIZE_TOO_SMALL;
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
