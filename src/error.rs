//! One error type for the whole core. Each variant says what went wrong in the user's words and
//! carries the AMQP error condition it is reported with; the bindings turn it into
//! `{condition, description}` for JavaScript, where `ConnectionError` shows it.

use fe2o3_amqp::types::definitions::{self, ErrorCondition};

/// The error conditions this package reports, besides those a server sends. Defined here once;
/// the bindings export them to JavaScript.
pub mod condition {
    /// The server refused the credentials (SASL outcome, or its own close with this condition).
    pub const UNAUTHORIZED_ACCESS: &str = "amqp:unauthorized-access";
    /// An error of our own (the default condition of a `reject()`).
    pub const INTERNAL_ERROR: &str = "amqp:internal-error";
    /// The peer's bytes cannot be cut into frames (a bad frame header, a frame of an unknown type,
    /// another protocol's header).
    pub const FRAMING_ERROR: &str = "amqp:connection:framing-error";
    /// The peer used a frame where the protocol does not allow it (a begin before the open, a new
    /// delivery inside an incomplete one).
    pub const NOT_ALLOWED: &str = "amqp:not-allowed";
    /// A field of the peer's frame makes it unusable (an attach with the wrong role, a transfer
    /// without the delivery-id or tag to settle it by).
    pub const INVALID_FIELD: &str = "amqp:invalid-field";
    /// The server detached our link (the condition for its repeated refusals without an error).
    pub const DETACH_FORCED: &str = "amqp:link:detach-forced";
    /// A frame or message that cannot be decoded.
    pub const DECODE_ERROR: &str = "amqp:decode-error";
    /// The peer went silent for longer than twice our idle time-out.
    pub const RESOURCE_LIMIT_EXCEEDED: &str = "amqp:resource-limit-exceeded";
    /// A message larger than `max_message_size`.
    pub const MESSAGE_SIZE_EXCEEDED: &str = "amqp:link:message-size-exceeded";
    /// The server sent far more transfers than the credit granted.
    pub const TRANSFER_LIMIT_EXCEEDED: &str = "amqp:link:transfer-limit-exceeded";
    /// The server closed the connection without giving an error.
    pub const CONNECTION_FORCED: &str = "amqp:connection:forced";
    /// The transport: DNS, refused, reset, end of stream.
    pub const IO: &str = "aliyun-iot-amqp:io";
    /// TLS: the handshake or the server's certificate.
    pub const TLS: &str = "aliyun-iot-amqp:tls";
    /// A step that did not complete within its bound.
    pub const TIMEOUT: &str = "aliyun-iot-amqp:timeout";
    /// The options, or credentials that could not be obtained or signed.
    pub const CONFIG: &str = "aliyun-iot-amqp:config";
    /// A bug of ours (a caught panic, a frame we could not encode).
    pub const INTERNAL: &str = "aliyun-iot-amqp:internal";
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The server refused who we are: retrying would only trip the platform's rate limit.
    Auth(String),
    /// The transport failed or ended.
    Io(String),
    /// The TLS handshake failed for another reason than the certificate: a reset, an alert, a
    /// server that does not speak TLS there. `code` is Node's where it has one (an alert:
    /// `ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE`, ...).
    Tls {
        code: Option<String>,
        description: String,
        /// The server and this client cannot agree (nothing in common, a client certificate
        /// asked for): final unless retries are asked for, as a refused certificate is.
        lasting: bool,
    },
    /// The server's certificate failed verification (`code` is Node's `err.code`, e.g.
    /// `DEPTH_ZERO_SELF_SIGNED_CERT`, `ERR_TLS_CERT_ALTNAME_INVALID`), or the owner's
    /// `checkServerIdentity` refused it (its code, if it gave one). Reported with the TLS
    /// condition; retrying cannot fix it.
    Certificate {
        code: Option<String>,
        description: String,
    },
    /// A step did not complete within its bound.
    Timeout(String),
    /// Bad options, or credentials that could not be obtained.
    Config(String),
    /// The peer used a frame where the protocol does not allow it (`amqp:not-allowed`).
    Protocol(String),
    /// The peer's bytes cannot be cut into frames (`amqp:connection:framing-error`).
    Framing(String),
    /// A field of the peer's frame makes it unusable (`amqp:invalid-field`).
    InvalidField(String),
    /// A frame or a message could not be decoded.
    Decode(String),
    /// A frame larger than the max-frame-size we advertised (`amqp:connection:framing-error`).
    FrameTooLarge(String),
    /// The peer went silent.
    Idle(String),
    /// A message larger than we allow.
    MessageTooLarge(String),
    /// Transfers far beyond the credit granted.
    TransferLimit(String),
    /// A bug of ours, caught.
    Internal(String),
    /// An error the server sent (in a close, end or detach), with its own condition.
    Remote {
        condition: String,
        description: String,
    },
}

impl Error {
    /// The error a server sent, as it sent it.
    pub fn from_amqp(e: &definitions::Error) -> Self {
        Error::Remote {
            condition: condition_str(&e.condition),
            description: e.description.clone().unwrap_or_default(),
        }
    }

    /// A TLS failure with no code.
    pub fn tls(description: impl Into<String>) -> Self {
        Error::Tls {
            code: None,
            description: description.into(),
            lasting: false,
        }
    }

    /// The AMQP error condition (one of [`condition`], or the server's own).
    pub fn condition(&self) -> &str {
        match self {
            Error::Auth(_) => condition::UNAUTHORIZED_ACCESS,
            Error::Io(_) => condition::IO,
            Error::Tls { .. } | Error::Certificate { .. } => condition::TLS,
            Error::Timeout(_) => condition::TIMEOUT,
            Error::Config(_) => condition::CONFIG,
            Error::Protocol(_) => condition::NOT_ALLOWED,
            Error::Framing(_) => condition::FRAMING_ERROR,
            Error::InvalidField(_) => condition::INVALID_FIELD,
            Error::Decode(_) => condition::DECODE_ERROR,
            Error::FrameTooLarge(_) => condition::FRAMING_ERROR,
            Error::Idle(_) => condition::RESOURCE_LIMIT_EXCEEDED,
            Error::MessageTooLarge(_) => condition::MESSAGE_SIZE_EXCEEDED,
            Error::TransferLimit(_) => condition::TRANSFER_LIMIT_EXCEEDED,
            Error::Internal(_) => condition::INTERNAL,
            Error::Remote { condition, .. } => condition,
        }
    }

    /// What happened, in words.
    pub fn description(&self) -> &str {
        match self {
            Error::Auth(d)
            | Error::Io(d)
            | Error::Timeout(d)
            | Error::Config(d)
            | Error::Protocol(d)
            | Error::Framing(d)
            | Error::InvalidField(d)
            | Error::Decode(d)
            | Error::FrameTooLarge(d)
            | Error::Idle(d)
            | Error::MessageTooLarge(d)
            | Error::TransferLimit(d)
            | Error::Internal(d) => d,
            Error::Remote { description, .. }
            | Error::Certificate { description, .. }
            | Error::Tls { description, .. } => description,
        }
    }

    /// Node's `err.code` for this error, where it has one (certificate failures).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Certificate { code, .. } | Error::Tls { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Whether the server's certificate was refused (by the verifier or the owner's
    /// `checkServerIdentity`), or the handshake found nothing the server and this client both
    /// accept: another attempt cannot succeed while the server stays as it is.
    pub fn is_certificate_failure(&self) -> bool {
        matches!(
            self,
            Error::Certificate { .. } | Error::Tls { lasting: true, .. }
        )
    }

    /// Whether the server refused who we are.
    pub fn is_auth_failure(&self) -> bool {
        self.condition() == condition::UNAUTHORIZED_ACCESS
    }

    /// The error as the AMQP error we send in our own close.
    pub fn to_amqp(&self) -> definitions::Error {
        definitions::Error {
            condition: ErrorCondition::Custom(self.condition().into()),
            description: Some(self.description().to_string()),
            info: None,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.description().is_empty() {
            f.write_str(self.condition())
        } else {
            write!(f, "{}: {}", self.condition(), self.description())
        }
    }
}

impl std::error::Error for Error {}

/// What went wrong reading or writing the wire: a frame (`codec.rs`) or an encoded value
/// (`value.rs`, `message.rs`). Defined here, below both, so that the wire's layers import it
/// from beneath; `Error::from` tells it in the core's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// A frame announced a size below the 8-byte minimum or an invalid data offset.
    BadFrameHeader(String),
    /// A frame is larger than the size we advertised.
    FrameTooLarge { size: u32, max: u32 },
    /// A frame of the wrong layer (SASL frame after SASL, unknown type...).
    UnexpectedFrameType(u8),
    /// An encoded value is malformed or runs past the end of its frame.
    Malformed(String),
    /// Encoding our own frame failed (a bug; reported, never panics).
    Encode(String),
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodecError::BadFrameHeader(s) => write!(f, "bad frame header: {s}"),
            CodecError::FrameTooLarge { size, max } => {
                write!(
                    f,
                    "frame of {size} bytes exceeds the negotiated max-frame-size {max}"
                )
            }
            CodecError::UnexpectedFrameType(t) => write!(f, "unexpected frame type 0x{t:02x}"),
            CodecError::Malformed(s) => write!(f, "malformed frame: {s}"),
            CodecError::Encode(s) => write!(f, "cannot encode frame: {s}"),
        }
    }
}

impl std::error::Error for CodecError {}

impl From<CodecError> for Error {
    /// The error as the core reports it.
    fn from(e: CodecError) -> Self {
        match e {
            CodecError::FrameTooLarge { .. } => Error::FrameTooLarge(e.to_string()),
            CodecError::Malformed(_) => Error::Decode(e.to_string()),
            CodecError::Encode(_) => Error::Internal(e.to_string()),
            CodecError::BadFrameHeader(_) | CodecError::UnexpectedFrameType(_) => {
                Error::Framing(e.to_string())
            }
        }
    }
}

/// A condition as the symbol it is on the wire.
fn condition_str(c: &ErrorCondition) -> String {
    match serde_amqp::to_value(c) {
        Ok(serde_amqp::Value::Symbol(s)) => s.0,
        _ => condition::INTERNAL_ERROR.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_amqp::types::definitions::AmqpError;

    #[test]
    fn conditions_and_words() {
        let e = Error::Auth("authentication failed".into());
        assert!(e.is_auth_failure());
        assert_eq!(
            e.to_string(),
            "amqp:unauthorized-access: authentication failed"
        );
        let remote = Error::from_amqp(&definitions::Error {
            condition: ErrorCondition::AmqpError(AmqpError::UnauthorizedAccess),
            description: None,
            info: None,
        });
        assert!(remote.is_auth_failure());
        assert_eq!(remote.to_string(), "amqp:unauthorized-access");
        let custom = Error::from_amqp(&definitions::Error {
            condition: ErrorCondition::Custom("vendor:busy".into()),
            description: Some("try later".into()),
            info: None,
        });
        assert_eq!(custom.condition(), "vendor:busy");
        assert!(!custom.is_auth_failure());
        assert_eq!(Error::tls("x").to_amqp().description.as_deref(), Some("x"));
        let cert = Error::Certificate {
            code: Some("CERT_HAS_EXPIRED".into()),
            description: "certificate has expired".into(),
        };
        assert_eq!(cert.condition(), condition::TLS);
        // The peer's violations are named for what the peer did, not as an error of ours.
        assert_eq!(
            Error::Framing("x".into()).condition(),
            "amqp:connection:framing-error"
        );
        assert_eq!(Error::Protocol("x".into()).condition(), "amqp:not-allowed");
        assert_eq!(
            Error::InvalidField("x".into()).condition(),
            "amqp:invalid-field"
        );
        assert_eq!(cert.code(), Some("CERT_HAS_EXPIRED"));
        assert!(cert.is_certificate_failure());
        assert!(!Error::tls("reset").is_certificate_failure());
        assert_eq!(Error::tls("reset").code(), None);
    }
}
