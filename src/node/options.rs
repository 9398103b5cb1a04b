//! Connection and receiver options: their JavaScript shape, and their conversion into the core's
//! `Config`.

use std::time::Duration;

use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

use super::invalid;
use super::sign::{sign_params, AuthMode, SignMethod, SignOptions};
use crate::config::{self, defaults, Config, CredentialSource, ReceiverConfig, Reconnect};
use crate::secret::Secret;
use crate::sign;

/// How the socket is carried (`'ssl'` is rhea's other name for TLS).
#[napi(string_enum = "lowercase")]
pub enum Transport {
    Tcp,
    Tls,
    Ssl,
}

/// The core's defaults (`config::defaults`, `sign::SignMethod::default()`,
/// `sign::AuthMode::default()`), durations in ms: lib/options.js builds connect()'s `DEFAULTS`
/// from them, so that each is written once.
#[napi(object, object_from_js = false)]
pub struct CoreDefaults {
    pub idle_time_out: f64,
    pub reconnect: bool,
    pub initial_reconnect_delay: f64,
    pub max_reconnect_delay: f64,
    pub reconnect_on_auth_failure: bool,
    pub reconnect_on_certificate_failure: bool,
    pub reject_unauthorized: bool,
    pub max_frame_size: u32,
    pub max_message_size: f64,
    pub connect_timeout: f64,
    pub close_timeout: f64,
    pub ack_delay: f64,
    pub read_delay: f64,
    pub sign_method: SignMethod,
    pub auth_mode: AuthMode,
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The core's defaults, read once by lib/options.js.
#[napi]
pub fn core_defaults() -> CoreDefaults {
    CoreDefaults {
        idle_time_out: millis(defaults::IDLE_TIME_OUT),
        reconnect: defaults::RECONNECT,
        initial_reconnect_delay: millis(defaults::INITIAL_RECONNECT_DELAY),
        max_reconnect_delay: millis(defaults::MAX_RECONNECT_DELAY),
        reconnect_on_auth_failure: defaults::RECONNECT_ON_AUTH_FAILURE,
        reconnect_on_certificate_failure: defaults::RECONNECT_ON_CERTIFICATE_FAILURE,
        reject_unauthorized: defaults::REJECT_UNAUTHORIZED,
        max_frame_size: defaults::MAX_FRAME_SIZE,
        max_message_size: defaults::MAX_MESSAGE_SIZE as f64,
        connect_timeout: millis(defaults::CONNECT_TIMEOUT),
        close_timeout: millis(defaults::CLOSE_TIMEOUT),
        ack_delay: millis(defaults::ACK_DELAY),
        read_delay: millis(defaults::READ_DELAY),
        sign_method: sign::SignMethod::default().into(),
        auth_mode: sign::AuthMode::default().into(),
    }
}

/// The smallest `max_frame_size` AMQP 1.0 allows.
#[napi]
pub const MIN_MAX_FRAME_SIZE: u32 = crate::codec::MIN_MAX_FRAME_SIZE;

/// Connection options, already validated and defaulted by the JavaScript layer (lib/options.js);
/// checked once more by `Config::validate` on the way in.
#[napi(object)]
pub struct NativeOptions {
    pub host: String,
    pub port: u32,
    pub transport: Transport,
    pub username: Option<String>,
    pub password: Option<String>,
    pub sign: Option<SignOptions>,
    /// Ask for credentials at every attempt (`credentials_needed` event → `provideCredentials`).
    pub external_credentials: Option<bool>,
    pub idle_time_out: Option<f64>,
    pub container_id: String,
    pub hostname: Option<String>,
    pub sasl_init_hostname: Option<String>,
    pub reconnect: bool,
    pub initial_reconnect_delay: f64,
    pub max_reconnect_delay: f64,
    pub reconnect_limit: Option<u32>,
    pub reconnect_on_auth_failure: bool,
    /// Keep reconnecting after the server's certificate was refused (default
    /// `defaults::RECONNECT_ON_CERTIFICATE_FAILURE`, as rhea).
    pub reconnect_on_certificate_failure: Option<bool>,
    pub servername: Option<String>,
    /// The `ca` option: when given (even empty), the only certificates trusted.
    pub ca: Option<Vec<Buffer>>,
    /// Node's default CA certificates, as the running Node reports them (unused with `ca`).
    pub default_ca: Option<Vec<Buffer>>,
    pub reject_unauthorized: bool,
    pub node_extra_ca_certs: Option<String>,
    /// The owner checks the server's identity (`peer_certificate` event → `provideIdentityVerdict`).
    pub external_identity_check: Option<bool>,
    /// The running Node's OpenSSL security level (0-5; default `defaults::SECURITY_LEVEL`).
    pub security_level: Option<u32>,
    /// The lowest and highest TLS version (2: TLS 1.2, 3: TLS 1.3; default 2 and 3).
    pub tls_min_version: Option<u32>,
    pub tls_max_version: Option<u32>,
    /// ALPN protocols offered, in order.
    pub alpn_protocols: Option<Vec<Buffer>>,
    /// Key exchange groups offered (`x25519`, `secp256r1`, `secp384r1`); all by default.
    pub kx_groups: Option<Vec<String>>,
    pub max_frame_size: u32,
    pub max_message_size: f64,
    pub connect_timeout: f64,
    pub close_timeout: f64,
    /// Most time an acknowledgement waits to go out with others (ms; 0: at once).
    pub ack_delay: Option<f64>,
    /// When messages trickle in, most time a read waits to bring several (ms; 0: at once).
    pub read_delay: Option<f64>,
    /// Log frames (DEBUG=aliyun-iot-amqp:frames), secrets redacted: handed to JavaScript as `log` events.
    pub debug_frames: Option<bool>,
}

/// The receiver to attach (now, and again after every reconnect).
#[napi(object)]
pub struct NativeReceiverOptions {
    pub name: String,
    pub source: Option<String>,
    pub credit_window: u32,
    /// Hand its batches to JavaScript packed, read on demand (lib/batch.js), instead of as
    /// message objects. Only the bindings look at it: the core's link is the same.
    pub batch: Option<bool>,
}

impl From<NativeReceiverOptions> for ReceiverConfig {
    fn from(o: NativeReceiverOptions) -> Self {
        ReceiverConfig {
            name: o.name,
            source: o.source,
            credit_window: o.credit_window,
        }
    }
}

fn ms(v: f64, name: &str) -> napi::Result<Duration> {
    if v.is_finite() && (0.0..=1e12).contains(&v) {
        Ok(Duration::from_secs_f64(v / 1000.0))
    } else {
        Err(invalid(format!(
            "{name} must be a non-negative number of milliseconds"
        )))
    }
}

impl TryFrom<NativeOptions> for Config {
    type Error = napi::Error;

    fn try_from(o: NativeOptions) -> napi::Result<Config> {
        let transport = match o.transport {
            Transport::Tcp => config::Transport::Tcp,
            Transport::Tls | Transport::Ssl => config::Transport::Tls,
        };
        // Out of range: 0, which `Config::validate` refuses.
        let port = u16::try_from(o.port).unwrap_or(0);
        let mut cfg = Config::new(o.host, port, transport);
        cfg.credentials = match (o.sign, o.username, o.password) {
            _ if o.external_credentials == Some(true) => CredentialSource::External,
            (Some(s), _, _) => CredentialSource::Signed(sign_params(s)),
            (None, Some(username), Some(password)) => CredentialSource::Plain {
                username,
                password: Secret::new(password),
            },
            (None, None, None) => CredentialSource::None,
            _ => return Err(invalid("username and password must be given together")),
        };
        cfg.idle_time_out = match o.idle_time_out {
            Some(v) if v > 0.0 => Some(ms(v, "idle_time_out")?),
            Some(v) => {
                ms(v, "idle_time_out")?;
                None
            }
            None => None,
        };
        cfg.container_id = o.container_id;
        cfg.hostname = o.hostname;
        cfg.sasl_init_hostname = o.sasl_init_hostname;
        cfg.reconnect = Reconnect {
            enabled: o.reconnect,
            initial: ms(o.initial_reconnect_delay, "initial_reconnect_delay")?,
            max: ms(o.max_reconnect_delay, "max_reconnect_delay")?,
            limit: o.reconnect_limit,
            on_auth_failure: o.reconnect_on_auth_failure,
            on_certificate_failure: o
                .reconnect_on_certificate_failure
                .unwrap_or(defaults::RECONNECT_ON_CERTIFICATE_FAILURE),
        };
        cfg.tls.servername = o.servername;
        cfg.tls.ca = o.ca.map(|list| list.iter().map(|b| b.to_vec()).collect());
        cfg.tls.default_ca = o
            .default_ca
            .map(|list| list.iter().map(|b| b.to_vec()).collect());
        cfg.tls.external_identity_check = o.external_identity_check.unwrap_or(false);
        cfg.tls.security_level = match o.security_level {
            None => defaults::SECURITY_LEVEL,
            Some(l @ 0..=5) => l as u8,
            Some(_) => return Err(invalid("securityLevel must be from 0 to 5")),
        };
        cfg.tls.reject_unauthorized = o.reject_unauthorized;
        cfg.tls.versions = match (
            o.tls_min_version.unwrap_or(2),
            o.tls_max_version.unwrap_or(3),
        ) {
            (min @ 2..=3, max @ 2..=3) if min <= max => (min as u8, max as u8),
            _ => {
                return Err(invalid(
                    "TLS versions must be 2 (TLS 1.2) or 3 (TLS 1.3), min <= max",
                ))
            }
        };
        cfg.tls.alpn_protocols = o
            .alpn_protocols
            .map(|list| list.iter().map(|b| b.to_vec()).collect())
            .unwrap_or_default();
        cfg.tls.kx_groups = o.kx_groups;
        cfg.tls.node_extra_ca_certs = o.node_extra_ca_certs;
        cfg.max_frame_size = o.max_frame_size;
        if !(o.max_message_size.is_finite() && o.max_message_size >= 1.0) {
            return Err(invalid(
                "max_message_size must be a positive number of bytes",
            ));
        }
        cfg.max_message_size = o.max_message_size as u64;
        cfg.connect_timeout = ms(o.connect_timeout, "connect_timeout")?;
        cfg.close_timeout = ms(o.close_timeout, "close_timeout")?;
        if let Some(v) = o.ack_delay {
            cfg.ack_delay = ms(v, "ack_delay")?;
        }
        if let Some(v) = o.read_delay {
            cfg.read_delay = ms(v, "read_delay")?;
        }
        cfg.debug_frames = o.debug_frames.unwrap_or(false);
        cfg.validate().map_err(|e| invalid(e.description()))?;
        Ok(cfg)
    }
}
