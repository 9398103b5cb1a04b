//! Options, checked once, as the core uses them. Built by the bindings from JS options; nothing here
//! depends on Node, so `cargo test` covers it.

use std::time::Duration;

use crate::error::Error;
use crate::secret::Secret;
use crate::sign::{now_ms, Credentials, SignParams};

/// The core's defaults, defined here once: `Config::new`, `Reconnect::default` and
/// `TlsOptions::default` use them, and the bindings export them (`coreDefaults()`), from which
/// lib/options.js builds connect()'s `DEFAULTS` table instead of spelling them again.
pub mod defaults {
    use std::time::Duration;

    /// Advertised idle time-out. The platform accepts 30 000 - 300 000 ms and closes connections
    /// that do not advertise one it accepts (rhea advertises none unless told); 60 s is what the
    /// platform's own sample uses.
    pub const IDLE_TIME_OUT: Duration = Duration::from_secs(60);
    /// Reconnect after a connection is lost.
    pub const RECONNECT: bool = true;
    /// The first reconnect delay, doubled at each failed attempt up to the max.
    pub const INITIAL_RECONNECT_DELAY: Duration = Duration::from_millis(100);
    pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(60);
    /// Off: the platform limits connection attempts per consumer group.
    pub const RECONNECT_ON_AUTH_FAILURE: bool = false;
    /// On, as rhea (which reconnects after TLS errors; each attempt reports the certificate's
    /// problem).
    pub const RECONNECT_ON_CERTIFICATE_FAILURE: bool = true;
    /// Verify the server's certificate chain (Node's `rejectUnauthorized`).
    pub const REJECT_UNAUTHORIZED: bool = true;
    /// OpenSSL 3.0's default security level (the bindings pass the running Node's).
    pub const SECURITY_LEVEL: u8 = 1;
    pub const MAX_FRAME_SIZE: u32 = 1 << 20;
    pub const MAX_MESSAGE_SIZE: u64 = 16 << 20;
    /// Bound on TCP connect, TLS, SASL, open and attach together.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
    /// Bound on waiting for the peer's close.
    pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
    /// Coalescing at low rates (the platform pushes ~1 000 msg/s per connection, one at a time):
    /// acknowledgements wait up to this to go out together (the platform allows 30 s).
    pub const ACK_DELAY: Duration = Duration::from_millis(20);
    /// When messages trickle in, a read waits up to this to bring several (it is woken earlier
    /// by the packet that brings what this is expected to bring).
    pub const READ_DELAY: Duration = Duration::from_millis(8);
    pub const CONTAINER_ID: &str = "aliyun-iot-amqp";
}

/// How the socket is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Tls,
}

/// Where each connection attempt's SASL PLAIN credentials come from.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    /// No SASL layer at all (rhea's behaviour without username and password).
    None,
    /// A fixed username and password, as the doc's script builds them.
    Plain { username: String, password: Secret },
    /// Signed afresh, with the current time, at every attempt.
    Signed(SignParams),
    /// Asked of the owner at every attempt (`Event::CredentialsNeeded`), e.g. to fetch a fresh
    /// STS token first.
    External,
}

impl CredentialSource {
    /// Credentials for one attempt.
    pub fn resolve(&self) -> Result<Option<Credentials>, Error> {
        match self {
            CredentialSource::None => Ok(None),
            CredentialSource::Plain { username, password } => Ok(Some(Credentials {
                username: username.clone(),
                password: password.clone(),
            })),
            // Checked once, by `Config::validate`.
            CredentialSource::Signed(p) => Ok(Some(p.sign(now_ms()))),
            CredentialSource::External => Err(Error::Internal(
                "credentials are provided by the owner for each attempt".into(),
            )),
        }
    }
}

/// rhea's reconnect policy: exponential backoff from `initial` to `max`; `limit` attempts in a row.
#[derive(Debug, Clone)]
pub struct Reconnect {
    pub enabled: bool,
    pub initial: Duration,
    pub max: Duration,
    pub limit: Option<u32>,
    /// Keep retrying after the server refused the credentials (off by default: the platform
    /// limits connection attempts per consumer group).
    pub on_auth_failure: bool,
    /// Keep retrying after the server's certificate failed verification (on by default, as rhea
    /// does; the platform-native consumer turns it off: retrying cannot fix a certificate,
    /// unless it is being rotated).
    pub on_certificate_failure: bool,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            enabled: defaults::RECONNECT,
            initial: defaults::INITIAL_RECONNECT_DELAY,
            max: defaults::MAX_RECONNECT_DELAY,
            limit: None,
            on_auth_failure: defaults::RECONNECT_ON_AUTH_FAILURE,
            on_certificate_failure: defaults::RECONNECT_ON_CERTIFICATE_FAILURE,
        }
    }
}

/// Whom to trust for TLS, as Node builds its trust store (see `tls/mod.rs`).
#[derive(Debug, Clone)]
pub struct TlsOptions {
    /// Name to send (SNI) and to verify the certificate against; the host when `None`.
    pub servername: Option<String>,
    /// The `ca` option (PEM text or DER, each item): when given, even empty, the only
    /// certificates trusted, as in Node.
    pub ca: Option<Vec<Vec<u8>>>,
    /// Node's default CA certificates (PEM or DER, each item), as the running Node reports
    /// them; `None`: the Mozilla roots compiled in. Not used with `ca`.
    pub default_ca: Option<Vec<Vec<u8>>>,
    /// `false` accepts any certificate chain (Node's `rejectUnauthorized: false`); the
    /// handshake signature is still verified.
    pub reject_unauthorized: bool,
    /// Also trust the PEM file named by `NODE_EXTRA_CA_CERTS`, as Node's TLS does (not with
    /// `ca`).
    pub node_extra_ca_certs: Option<String>,
    /// The owner checks the server's identity itself (`checkServerIdentity`): the verifier
    /// checks the chain only, and the connection waits for the owner's verdict
    /// (`Event::PeerCertificate`) before SASL.
    pub external_identity_check: bool,
    /// The OpenSSL security level keys and signatures are held to, as the running Node's
    /// (1 with OpenSSL 3.0; 2 on Node 24), or as `ciphers: '...@SECLEVEL=N'` sets it.
    pub security_level: u8,
    /// The TLS versions allowed (`minVersion`, `maxVersion`), as minor numbers: 2 for TLS 1.2, 3
    /// for TLS 1.3.
    pub versions: (u8, u8),
    /// The protocols offered by ALPN (`ALPNProtocols`); none by default.
    pub alpn_protocols: Vec<Vec<u8>>,
    /// The key exchange groups offered (`ecdhCurve`), in order: `x25519`, `secp256r1`,
    /// `secp384r1`; `None`: all of them (Node's `auto`).
    pub kx_groups: Option<Vec<String>>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            servername: None,
            ca: None,
            default_ca: None,
            reject_unauthorized: defaults::REJECT_UNAUTHORIZED,
            node_extra_ca_certs: None,
            external_identity_check: false,
            security_level: defaults::SECURITY_LEVEL,
            versions: (2, 3),
            alpn_protocols: Vec::new(),
            kx_groups: None,
        }
    }
}

/// The receiver link to keep attached.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub name: String,
    /// Source address; `None` attaches with no source at all, as rhea's `open_receiver()` does.
    pub source: Option<String>,
    /// Most deliveries held unsettled at once; credit is refilled as they are settled.
    pub credit_window: u32,
}

/// A validated connection configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub transport: Transport,
    pub tls: TlsOptions,
    pub credentials: CredentialSource,
    /// Advertised idle time-out; the peer is declared dead after twice this with no frame.
    pub idle_time_out: Option<Duration>,
    pub container_id: String,
    /// Open's hostname field; not sent unless given (as rhea).
    pub hostname: Option<String>,
    /// SASL init's hostname; rhea sends `sasl_init_hostname`, else the TLS servername, else the
    /// host, and so do we.
    pub sasl_init_hostname: Option<String>,
    pub reconnect: Reconnect,
    pub max_frame_size: u32,
    pub max_message_size: u64,
    /// Bound on TCP connect, TLS, SASL, open and attach together.
    pub connect_timeout: Duration,
    /// Bound on waiting for the peer's close.
    pub close_timeout: Duration,
    /// Most time a settlement waits to be sent, gathered with others (0: each at once).
    pub ack_delay: Duration,
    /// When messages trickle in (a read brought little), most time the next read waits so that
    /// it brings several at once (0: read at once). The first message after a quiet spell is
    /// never delayed.
    pub read_delay: Duration,
    /// Log every frame in and out (performatives only; SASL credentials redacted,
    /// message payloads never shown).
    pub debug_frames: bool,
    /// Where frame lines go when `debug_frames` is on; none: stderr.
    pub frame_log: Option<crate::trace::FrameLog>,
}

impl Config {
    /// A configuration with this crate's defaults for everything but the address.
    pub fn new(host: impl Into<String>, port: u16, transport: Transport) -> Self {
        Config {
            host: host.into(),
            port,
            transport,
            tls: TlsOptions::default(),
            credentials: CredentialSource::None,
            idle_time_out: Some(defaults::IDLE_TIME_OUT),
            container_id: defaults::CONTAINER_ID.into(),
            hostname: None,
            sasl_init_hostname: None,
            reconnect: Reconnect::default(),
            max_frame_size: defaults::MAX_FRAME_SIZE,
            max_message_size: defaults::MAX_MESSAGE_SIZE,
            connect_timeout: defaults::CONNECT_TIMEOUT,
            close_timeout: defaults::CLOSE_TIMEOUT,
            ack_delay: defaults::ACK_DELAY,
            read_delay: defaults::READ_DELAY,
            debug_frames: false,
            frame_log: None,
        }
    }

    /// The name Node's TLS checks the certificate against: `servername`, else the host.
    pub fn tls_hostname(&self) -> &str {
        self.tls.servername.as_deref().unwrap_or(&self.host)
    }

    /// The hostname sent in SASL init.
    pub fn sasl_hostname(&self) -> &str {
        self.sasl_init_hostname
            .as_deref()
            .or(self.tls.servername.as_deref())
            .unwrap_or(&self.host)
    }

    /// Checks the values that the bindings cannot check by type alone.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |what: &str| Err(Error::Config(what.to_string()));
        if self.host.is_empty() {
            return bad("host must not be empty");
        }
        if self.port == 0 {
            return bad("port must be between 1 and 65535");
        }
        if self.max_frame_size < crate::codec::MIN_MAX_FRAME_SIZE {
            return bad("max_frame_size must be at least 512");
        }
        if self.reconnect.initial > self.reconnect.max {
            return bad("initial_reconnect_delay must not exceed max_reconnect_delay");
        }
        if let CredentialSource::Signed(p) = &self.credentials {
            p.validate()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_checked() {
        let c = Config::new("localhost", 5671, Transport::Tls);
        assert!(c.validate().is_ok());
        let mut bad = c.clone();
        bad.port = 0;
        assert!(bad.validate().is_err());
        let mut bad = c.clone();
        bad.reconnect.initial = Duration::from_secs(100);
        assert!(bad
            .validate()
            .unwrap_err()
            .description()
            .contains("initial_reconnect_delay"));
        let mut plain = c;
        plain.credentials = CredentialSource::Plain {
            username: "u".into(),
            password: Secret::new("p".into()),
        };
        assert_eq!(plain.sasl_hostname(), "localhost");
        plain.tls.servername = Some("iot-cn-x.amqp.iothub.aliyuncs.com".into());
        assert_eq!(plain.sasl_hostname(), "iot-cn-x.amqp.iothub.aliyuncs.com");
        plain.sasl_init_hostname = Some("explicit".into());
        assert_eq!(plain.sasl_hostname(), "explicit");
        let creds = plain.credentials.resolve().unwrap().unwrap();
        assert_eq!(creds.username, "u");
        assert!(!format!("{plain:?}").contains("\"p\""));
    }
}
