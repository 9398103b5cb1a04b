//! What a refused certificate is called: Node's `err.code` (OpenSSL's `X509_V_ERR_*` name without
//! its prefix, or `ERR_TLS_CERT_ALTNAME_INVALID`), OpenSSL's words for it, and a hint naming the
//! option or variable that fixes it. Also readable words for every other TLS failure: no Debug
//! names, no crate documentation addresses.

use std::fmt;
use std::io;

use tokio_rustls::rustls::{self, CertificateError, OtherError};

/// A certificate the verifier refuses, as Node reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Node's `err.code`.
    pub code: String,
    /// Node's `err.message`.
    pub message: String,
    /// What OpenSSL calls the problem (`X509_V_ERR_*` without the prefix), or the code of a
    /// refusal that is not OpenSSL's: it picks the hint.
    pub reason: String,
}

impl Refusal {
    /// A chain verdict: one of OpenSSL's errors in [`x509`], with OpenSSL's words and Node's code
    /// for it (`UNSPECIFIED` where Node has none, as for `CA_MD_TOO_WEAK`).
    pub fn x509(reason: &'static str) -> Self {
        Refusal {
            code: node_code(reason).to_string(),
            message: x509_message(reason).to_string(),
            reason: reason.to_string(),
        }
    }

    /// A chain whose verdict hangs on a signature algorithm this package cannot verify (where
    /// Node can): final, with a code of this package's own.
    pub fn unsupported_algorithm(algorithm: &str) -> Self {
        Refusal {
            code: x509::UNSUPPORTED_ALGORITHM.to_string(),
            message: format!(
                "the server's certificate chain is signed with {algorithm}, which aliyun-iot-amqp cannot verify"
            ),
            reason: x509::UNSUPPORTED_ALGORITHM.to_string(),
        }
    }

    /// Into the rustls error that carries it through the handshake.
    pub fn into_rustls(self) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(std::sync::Arc::new(
            self,
        ))))
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

/// OpenSSL's verification errors this package reports (their `X509_V_ERR_` names).
pub mod x509 {
    pub const DEPTH_ZERO_SELF_SIGNED_CERT: &str = "DEPTH_ZERO_SELF_SIGNED_CERT";
    pub const SELF_SIGNED_CERT_IN_CHAIN: &str = "SELF_SIGNED_CERT_IN_CHAIN";
    pub const UNABLE_TO_GET_ISSUER_CERT: &str = "UNABLE_TO_GET_ISSUER_CERT";
    pub const UNABLE_TO_GET_ISSUER_CERT_LOCALLY: &str = "UNABLE_TO_GET_ISSUER_CERT_LOCALLY";
    pub const UNABLE_TO_VERIFY_LEAF_SIGNATURE: &str = "UNABLE_TO_VERIFY_LEAF_SIGNATURE";
    pub const UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: &str = "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY";
    pub const CERT_SIGNATURE_FAILURE: &str = "CERT_SIGNATURE_FAILURE";
    pub const CERT_NOT_YET_VALID: &str = "CERT_NOT_YET_VALID";
    pub const CERT_HAS_EXPIRED: &str = "CERT_HAS_EXPIRED";
    pub const ERROR_IN_CERT_NOT_BEFORE_FIELD: &str = "ERROR_IN_CERT_NOT_BEFORE_FIELD";
    pub const ERROR_IN_CERT_NOT_AFTER_FIELD: &str = "ERROR_IN_CERT_NOT_AFTER_FIELD";
    pub const CERT_CHAIN_TOO_LONG: &str = "CERT_CHAIN_TOO_LONG";
    pub const INVALID_CA: &str = "INVALID_CA";
    pub const PATH_LENGTH_EXCEEDED: &str = "PATH_LENGTH_EXCEEDED";
    pub const INVALID_PURPOSE: &str = "INVALID_PURPOSE";
    pub const KEYUSAGE_NO_CERTSIGN: &str = "KEYUSAGE_NO_CERTSIGN";
    pub const UNHANDLED_CRITICAL_EXTENSION: &str = "UNHANDLED_CRITICAL_EXTENSION";
    pub const EE_KEY_TOO_SMALL: &str = "EE_KEY_TOO_SMALL";
    pub const CA_KEY_TOO_SMALL: &str = "CA_KEY_TOO_SMALL";
    pub const CA_MD_TOO_WEAK: &str = "CA_MD_TOO_WEAK";
    pub const CERT_REJECTED: &str = "CERT_REJECTED";
    pub const PERMITTED_VIOLATION: &str = "PERMITTED_VIOLATION";
    pub const EXCLUDED_VIOLATION: &str = "EXCLUDED_VIOLATION";
    pub const SUBTREE_MINMAX: &str = "SUBTREE_MINMAX";
    pub const UNSUPPORTED_CONSTRAINT_TYPE: &str = "UNSUPPORTED_CONSTRAINT_TYPE";
    pub const UNSUPPORTED_NAME_SYNTAX: &str = "UNSUPPORTED_NAME_SYNTAX";
    /// Node's code for a certificate that does not name the host.
    pub const ALTNAME_INVALID: &str = "ERR_TLS_CERT_ALTNAME_INVALID";
    /// This package's code for a signature it cannot verify where Node can (Ed448).
    pub const UNSUPPORTED_ALGORITHM: &str = "ERR_ALIYUN_IOT_AMQP_UNSUPPORTED_ALGORITHM";
    /// Node's code for an OpenSSL error it has no name for.
    pub const UNSPECIFIED: &str = "UNSPECIFIED";
}

/// Node's `err.code` for an OpenSSL verification error: its name where Node's `X509ErrorCode`
/// lists it, else `UNSPECIFIED` (Node gives e.g. a SHA-1-signed certificate the code
/// `UNSPECIFIED` and the message "CA signature digest algorithm too weak").
pub fn node_code(reason: &'static str) -> &'static str {
    match reason {
        x509::UNABLE_TO_GET_ISSUER_CERT
        | x509::UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY
        | x509::CERT_SIGNATURE_FAILURE
        | x509::CERT_NOT_YET_VALID
        | x509::CERT_HAS_EXPIRED
        | x509::ERROR_IN_CERT_NOT_BEFORE_FIELD
        | x509::ERROR_IN_CERT_NOT_AFTER_FIELD
        | x509::DEPTH_ZERO_SELF_SIGNED_CERT
        | x509::SELF_SIGNED_CERT_IN_CHAIN
        | x509::UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        | x509::UNABLE_TO_VERIFY_LEAF_SIGNATURE
        | x509::CERT_CHAIN_TOO_LONG
        | x509::INVALID_CA
        | x509::PATH_LENGTH_EXCEEDED
        | x509::INVALID_PURPOSE
        | x509::CERT_REJECTED
        | x509::ALTNAME_INVALID => reason,
        _ => x509::UNSPECIFIED,
    }
}

/// OpenSSL's words for a code (`X509_verify_cert_error_string`, as Node's `err.message`).
pub fn x509_message(code: &str) -> &'static str {
    match code {
        x509::DEPTH_ZERO_SELF_SIGNED_CERT => "self-signed certificate",
        x509::SELF_SIGNED_CERT_IN_CHAIN => "self-signed certificate in certificate chain",
        x509::UNABLE_TO_GET_ISSUER_CERT => "unable to get issuer certificate",
        x509::UNABLE_TO_GET_ISSUER_CERT_LOCALLY => "unable to get local issuer certificate",
        x509::UNABLE_TO_VERIFY_LEAF_SIGNATURE => "unable to verify the first certificate",
        x509::UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY => "unable to decode issuer public key",
        x509::CERT_SIGNATURE_FAILURE => "certificate signature failure",
        x509::CERT_NOT_YET_VALID => "certificate is not yet valid",
        x509::CERT_HAS_EXPIRED => "certificate has expired",
        x509::ERROR_IN_CERT_NOT_BEFORE_FIELD => "format error in certificate's notBefore field",
        x509::ERROR_IN_CERT_NOT_AFTER_FIELD => "format error in certificate's notAfter field",
        x509::CERT_CHAIN_TOO_LONG => "certificate chain too long",
        x509::INVALID_CA => "invalid CA certificate",
        x509::PATH_LENGTH_EXCEEDED => "path length constraint exceeded",
        x509::INVALID_PURPOSE => "unsuitable certificate purpose",
        x509::KEYUSAGE_NO_CERTSIGN => "key usage does not include certificate signing",
        x509::UNHANDLED_CRITICAL_EXTENSION => "unhandled critical extension",
        x509::EE_KEY_TOO_SMALL => "EE certificate key too weak",
        x509::CA_KEY_TOO_SMALL => "CA certificate key too weak",
        x509::CA_MD_TOO_WEAK => "CA signature digest algorithm too weak",
        x509::CERT_REJECTED => "certificate rejected",
        x509::PERMITTED_VIOLATION => "permitted subtree violation",
        x509::EXCLUDED_VIOLATION => "excluded subtree violation",
        x509::SUBTREE_MINMAX => "name constraints minimum and maximum not supported",
        x509::UNSUPPORTED_CONSTRAINT_TYPE => "unsupported name constraint type",
        x509::UNSUPPORTED_NAME_SYNTAX => "unsupported or invalid name syntax",
        x509::UNSPECIFIED => "unspecified certificate verification error",
        _ => "certificate verify error",
    }
}

const TRUST: &str =
    "give the CA that issued it with the `ca` option or in the file named by NODE_EXTRA_CA_CERTS";

/// What to do about a refused certificate (by its `reason`): the option or variable that fixes it.
pub fn hint(reason: &str) -> String {
    match reason {
        x509::DEPTH_ZERO_SELF_SIGNED_CERT => "the server's certificate is self-signed and not trusted: give that certificate with the `ca` option or in the file named by NODE_EXTRA_CA_CERTS, or pin it with `checkServerIdentity`".into(),
        x509::SELF_SIGNED_CERT_IN_CHAIN => format!("the root CA the server sent is not trusted: {TRUST}"),
        x509::UNABLE_TO_GET_ISSUER_CERT => "a certificate of the chain is trusted but not the root CA above it: give the root CA with the `ca` option or in NODE_EXTRA_CA_CERTS (Node accepts no partial chain)".into(),
        x509::UNABLE_TO_GET_ISSUER_CERT_LOCALLY => format!("the chain leads to a CA that is not trusted: {TRUST} (or NODE_USE_SYSTEM_CA=1 for the system's store, where Node supports it)"),
        x509::UNABLE_TO_VERIFY_LEAF_SIGNATURE => format!("no trusted CA issued the server's certificate and the server sent no chain to one: {TRUST}, or have the server send its intermediate certificates"),
        x509::CERT_HAS_EXPIRED | x509::CERT_NOT_YET_VALID | x509::ERROR_IN_CERT_NOT_BEFORE_FIELD | x509::ERROR_IN_CERT_NOT_AFTER_FIELD => "check the validity dates of the server's certificates and this machine's clock; a server whose certificate is being renewed can be waited for with `reconnect_on_certificate_failure: true`".into(),
        x509::UNSUPPORTED_ALGORITHM => "the server needs a certificate chain signed with RSA, ECDSA or Ed25519 (Node's OpenSSL verifies Ed448, rustls and this package do not)".into(),
        x509::ALTNAME_INVALID => "connect with a name the certificate lists (`host`, or `servername` when `host` is an IP address), or allow the name with `checkServerIdentity`".into(),
        x509::EE_KEY_TOO_SMALL | x509::CA_KEY_TOO_SMALL | x509::CA_MD_TOO_WEAK => "the server's certificates use a key or digest weaker than Node's security level accepts: they must be reissued".into(),
        x509::PERMITTED_VIOLATION | x509::EXCLUDED_VIOLATION | x509::SUBTREE_MINMAX | x509::UNSUPPORTED_CONSTRAINT_TYPE | x509::UNSUPPORTED_NAME_SYNTAX => "a CA of the chain may only issue certificates for the names its nameConstraints allow, and the server's certificate names others: the server needs a certificate within those names (or trust a CA without the constraint, with `ca` or NODE_EXTRA_CA_CERTS)".into(),
        x509::INVALID_PURPOSE | x509::INVALID_CA | x509::KEYUSAGE_NO_CERTSIGN | x509::PATH_LENGTH_EXCEEDED => "a certificate of the chain is not meant for this use (its keyUsage, extendedKeyUsage or basicConstraints, or the trust settings of a TRUSTED CERTIFICATE given as `ca`): it must be reissued, or trusted for TLS servers".into(),
        _ => "the server's certificate chain must be fixed; `rejectUnauthorized: false` skips verification (tests only)".into(),
    }
}

/// A name made of a rustls enum's Debug form, as words: `HandshakeFailure` → "handshake failure".
fn words(debug: impl fmt::Debug) -> String {
    let text = format!("{debug:?}");
    let base = text.split('(').next().unwrap_or(&text);
    let mut out = String::new();
    for (i, c) in base.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// How a TLS handshake failed, for a user: either a certificate refusal (its code, Node's words)
/// or words for the handshake failure. `place` names the server (`host:port`).
pub enum Failure {
    Certificate(Refusal),
    Handshake(Handshake),
}

/// A handshake that failed for another reason than the certificate.
pub struct Handshake {
    /// Words, ending with a hint.
    pub text: String,
    /// Node's `err.code` for the same failure, where it has one.
    pub code: Option<String>,
    /// The server and this client cannot agree (no version, suite, group or signature
    /// algorithm in common, a client certificate asked for): another attempt fails the same way.
    pub lasting: bool,
}

fn failed(text: String, code: Option<&str>, lasting: bool) -> Failure {
    Failure::Handshake(Handshake {
        text,
        code: code.map(str::to_string),
        lasting,
    })
}

/// What this client speaks, for the hint of a handshake that found nothing in common.
pub const SPEAKS: &str = "aliyun-iot-amqp speaks TLS 1.2 and 1.3 with ECDHE key exchange (X25519, P-256, P-384) and AES-GCM or ChaCha20-Poly1305 only (no CBC suite, no DHE or RSA key exchange, no TLS 1.0/1.1), and takes server keys of RSA, RSA-PSS (TLS 1.3), ECDSA (P-256, P-384, P-521) and Ed25519 (not Ed448) signing with SHA-256 or stronger; the server must offer one of these (minVersion, maxVersion and ecdhCurve narrow them further)";

const PLAIN_PORT: &str =
    "is it a plain AMQP port? use `transport: 'tcp'` there, or the TLS port (5671 on the platform)";

/// The hint for an alert the server sent, and whether another attempt would fail the same way.
fn alert_hint(alert: rustls::AlertDescription) -> (String, bool) {
    use rustls::AlertDescription as A;
    match alert {
        A::HandshakeFailure | A::InsufficientSecurity | A::ProtocolVersion => (
            format!("the server found nothing it accepts in what this client offered: {SPEAKS}"),
            true,
        ),
        A::CertificateRequired | A::NoCertificate => (
            "the server asks for a client certificate, which aliyun-iot-amqp does not send".into(),
            true,
        ),
        A::UnrecognisedName => (
            "the server does not know the name sent (`servername`, else `host`): connect with the name it serves".into(),
            true,
        ),
        A::NoApplicationProtocol => (
            "the server accepts none of the ALPNProtocols offered".into(),
            true,
        ),
        _ => (
            "the server refused the TLS handshake; its own log says why".into(),
            false,
        ),
    }
}

/// OpenSSL's reason for a TLS alert received, as Node's code: `ERR_SSL_` and the reason, e.g.
/// `ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE`, with the reason's words.
fn alert_code(alert: rustls::AlertDescription) -> Option<(String, String)> {
    use rustls::AlertDescription as A;
    let reason = match alert {
        A::UnexpectedMessage => "SSLV3_ALERT_UNEXPECTED_MESSAGE",
        A::BadRecordMac => "SSLV3_ALERT_BAD_RECORD_MAC",
        A::DecryptionFailed => "TLSV1_ALERT_DECRYPTION_FAILED",
        A::RecordOverflow => "TLSV1_ALERT_RECORD_OVERFLOW",
        A::DecompressionFailure => "SSLV3_ALERT_DECOMPRESSION_FAILURE",
        A::HandshakeFailure => "SSLV3_ALERT_HANDSHAKE_FAILURE",
        A::NoCertificate => "SSLV3_ALERT_NO_CERTIFICATE",
        A::BadCertificate => "SSLV3_ALERT_BAD_CERTIFICATE",
        A::UnsupportedCertificate => "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        A::CertificateRevoked => "SSLV3_ALERT_CERTIFICATE_REVOKED",
        A::CertificateExpired => "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        A::CertificateUnknown => "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        A::IllegalParameter => "SSLV3_ALERT_ILLEGAL_PARAMETER",
        A::UnknownCA => "TLSV1_ALERT_UNKNOWN_CA",
        A::AccessDenied => "TLSV1_ALERT_ACCESS_DENIED",
        A::DecodeError => "TLSV1_ALERT_DECODE_ERROR",
        A::DecryptError => "TLSV1_ALERT_DECRYPT_ERROR",
        A::ExportRestriction => "TLSV1_ALERT_EXPORT_RESTRICTION",
        A::ProtocolVersion => "TLSV1_ALERT_PROTOCOL_VERSION",
        A::InsufficientSecurity => "TLSV1_ALERT_INSUFFICIENT_SECURITY",
        A::InternalError => "TLSV1_ALERT_INTERNAL_ERROR",
        A::InappropriateFallback => "TLSV1_ALERT_INAPPROPRIATE_FALLBACK",
        A::UserCanceled => "TLSV1_ALERT_USER_CANCELLED",
        A::NoRenegotiation => "TLSV1_ALERT_NO_RENEGOTIATION",
        A::MissingExtension => "TLS13_ALERT_MISSING_EXTENSION",
        A::UnsupportedExtension => "TLSV1_ALERT_UNSUPPORTED_EXTENSION",
        A::UnrecognisedName => "TLSV1_UNRECOGNIZED_NAME",
        A::BadCertificateStatusResponse => "TLSV1_BAD_CERTIFICATE_STATUS_RESPONSE",
        A::BadCertificateHashValue => "TLSV1_BAD_CERTIFICATE_HASH_VALUE",
        A::UnknownPSKIdentity => "TLSV1_ALERT_UNKNOWN_PSK_IDENTITY",
        A::CertificateRequired => "TLS13_ALERT_CERTIFICATE_REQUIRED",
        A::NoApplicationProtocol => "TLSV1_ALERT_NO_APPLICATION_PROTOCOL",
        _ => return None,
    };
    Some((
        format!("ERR_SSL_{reason}"),
        reason.to_ascii_lowercase().replace('_', " "),
    ))
}

/// Reads the failure of a TLS handshake out of the I/O error tokio-rustls returns.
pub fn handshake_failure(e: &io::Error, place: &str) -> Failure {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return rustls_failure(tls, place);
    }
    match e.kind() {
        // Node: "Client network socket disconnected before secure TLS connection was
        // established", ECONNRESET (a plain AMQP server drops a TLS hello at once).
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => failed(
            format!("{place} closed the connection before the TLS handshake completed; hint: {PLAIN_PORT}"),
            Some("ECONNRESET"),
            false,
        ),
        kind => failed(
            format!("the TLS handshake with {place} failed: {}", io_words(kind)),
            None,
            false,
        ),
    }
}

fn rustls_failure(e: &rustls::Error, place: &str) -> Failure {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(CertificateError::Other(OtherError(inner))) => {
            match inner.downcast_ref::<Refusal>() {
                Some(r) => Failure::Certificate(r.clone()),
                None => failed(format!("the certificate of {place} is not usable"), None, false),
            }
        }
        E::InvalidCertificate(CertificateError::BadSignature) => failed(
            format!("the TLS handshake signature of {place} does not match its certificate"),
            None,
            false,
        ),
        E::InvalidCertificate(other) => failed(
            format!("the certificate of {place} is not usable ({})", words(other)),
            None,
            false,
        ),
        // OpenSSL reads the first bytes of a server that does not speak TLS as a record of an
        // unknown version: Node's ERR_SSL_WRONG_VERSION_NUMBER (RabbitMQ's plain port answers so).
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => failed(
            format!("{place} did not answer in TLS (wrong version number); hint: {PLAIN_PORT}"),
            Some("ERR_SSL_WRONG_VERSION_NUMBER"),
            false,
        ),
        E::AlertReceived(alert) => {
            let (hint, lasting) = alert_hint(*alert);
            match alert_code(*alert) {
                Some((code, reason)) => failed(
                    format!("{place} ended the TLS handshake with an alert ({reason}); hint: {hint}"),
                    Some(&code),
                    lasting,
                ),
                None => failed(
                    format!("{place} ended the TLS handshake with an alert ({}); hint: {hint}", words(alert)),
                    None,
                    lasting,
                ),
            }
        }
        E::PeerIncompatible(why) => failed(
            format!(
                "{place} and this client have no TLS version, cipher suite or signature algorithm in common ({}); hint: {SPEAKS}",
                words(why)
            ),
            None,
            true,
        ),
        // rustls takes no rsa_pss_pss_* scheme in TLS 1.2 (OpenSSL does): an RSA-PSS-only key.
        E::PeerMisbehaved(rustls::PeerMisbehaved::SignedKxWithWrongAlgorithm) => failed(
            format!("{place} signed its TLS 1.2 key exchange with a scheme this client's TLS library (rustls) refuses in TLS 1.2, such as an RSA-PSS-only key's rsa_pss_pss; hint: have the server offer TLS 1.3 (where such keys work here) or use an rsaEncryption RSA key"),
            None,
            true,
        ),
        E::PeerMisbehaved(why) => failed(
            format!("{place} broke the TLS protocol ({})", words(why)),
            None,
            false,
        ),
        E::NoCertificatesPresented => failed(format!("{place} presented no certificate"), None, false),
        E::DecryptError => failed(format!("a TLS record from {place} could not be decrypted"), None, false),
        E::PeerSentOversizedRecord => failed(
            format!("{place} sent an oversized TLS record; hint: {PLAIN_PORT}"),
            Some("ERR_SSL_WRONG_VERSION_NUMBER"),
            false,
        ),
        other => failed(
            format!("the TLS handshake with {place} failed ({})", words(other)),
            None,
            false,
        ),
    }
}

/// An I/O error's kind in words.
pub fn io_words(kind: io::ErrorKind) -> String {
    words(kind)
}

/// Words for an I/O error on an established connection: TLS errors read as TLS, the rest as
/// the system says them (minus any address of documentation).
pub fn io_error_words(e: &io::Error) -> String {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return match rustls_failure(tls, "the server") {
            Failure::Certificate(r) => r.message,
            Failure::Handshake(h) => h.text,
        };
    }
    match e.kind() {
        // rustls reports a close without close_notify as UnexpectedEof, with a URL in its text.
        io::ErrorKind::UnexpectedEof => "the server closed the connection".into(),
        _ => {
            let text = e.to_string();
            match text.find("https://").or_else(|| text.find("http://")) {
                Some(i) => text[..i].trim_end_matches([':', ' ']).to_string(),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_messages() {
        assert_eq!(
            words(rustls::AlertDescription::HandshakeFailure),
            "handshake failure"
        );
        assert_eq!(
            Refusal::x509(x509::DEPTH_ZERO_SELF_SIGNED_CERT).message,
            "self-signed certificate"
        );
        let eof = io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "peer closed connection without sending TLS close_notify: https://docs.rs/rustls/latest/rustls/manual/_03_howto/index.html#unexpected-eof",
        );
        assert_eq!(io_error_words(&eof), "the server closed the connection");
        let other = io::Error::other("broken: https://example.invalid/x");
        assert_eq!(io_error_words(&other), "broken");
    }

    #[test]
    fn node_codes_where_node_has_them() {
        let weak = Refusal::x509(x509::CA_MD_TOO_WEAK);
        assert_eq!(weak.code, "UNSPECIFIED");
        assert_eq!(weak.message, "CA signature digest algorithm too weak");
        assert!(hint(&weak.reason).contains("weaker"));
        assert_eq!(Refusal::x509(x509::INVALID_PURPOSE).code, "INVALID_PURPOSE");
        assert_eq!(
            Refusal::x509(x509::INVALID_PURPOSE).message,
            "unsuitable certificate purpose"
        );
        assert_eq!(
            alert_code(rustls::AlertDescription::HandshakeFailure),
            Some((
                "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE".to_string(),
                "sslv3 alert handshake failure".to_string()
            ))
        );
    }

    #[test]
    fn refusals_come_back_out_of_rustls() {
        let err = io::Error::new(
            io::ErrorKind::InvalidData,
            Refusal::x509(x509::CERT_HAS_EXPIRED).into_rustls(),
        );
        match handshake_failure(&err, "h:1") {
            Failure::Certificate(r) => assert_eq!(r.code, "CERT_HAS_EXPIRED"),
            Failure::Handshake(h) => panic!("{}", h.text),
        }
        let corrupt = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        match handshake_failure(&corrupt, "h:1") {
            Failure::Handshake(h) => {
                assert!(h.text.contains("transport: 'tcp'"), "{}", h.text);
                assert_eq!(h.code.as_deref(), Some("ERR_SSL_WRONG_VERSION_NUMBER"));
            }
            Failure::Certificate(_) => panic!(),
        }
    }
}
