//! aliyun-iot-amqp: a native consumer for Alibaba Cloud IoT Platform AMQP server-side
//! subscriptions.
//!
//! The core (`codec`, `config`, `consumer`, `delivery`, `message`, `sign`, `transport`) knows
//! nothing of Node and is tested with `cargo test`. This file holds the N-API bindings only; the
//! rhea-shaped API is written in JavaScript (`index.js`) over them. Options arrive here already
//! checked by `index.js` (which throws `TypeError`s naming the option); they are checked again
//! here, so a direct caller gets an error, never a panic.

pub mod codec;
pub mod config;
pub mod consumer;
pub mod delivery;
pub mod message;
pub mod secret;
pub mod sign;
pub mod transport;

#[cfg(feature = "node")]
mod js;

#[cfg(feature = "node")]
pub mod binding {
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::Duration;

    use napi::bindgen_prelude::{Buffer, Uint32Array, Uint8Array};
    use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
    use napi::{Error, Result, Status};
    use napi_derive::napi;

    use crate::config::{Config, CredentialSource, ReceiverConfig, Reconnect, Transport};
    use crate::consumer::{self, Command, ConsumerHandle, Event, EventSink};
    use crate::delivery::{Annotation, Outcome};
    use crate::js::JsEvent;
    use crate::secret::Secret;
    use crate::sign::{AuthMode, SignMethod, SignParams};

    fn invalid(msg: impl Into<String>) -> Error {
        Error::new(Status::InvalidArg, msg.into())
    }

    /// The runtime all connections share: a small one, the work is I/O.
    fn runtime() -> Result<&'static tokio::runtime::Runtime> {
        static RT: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
        RT.get_or_init(|| {
            let threads = std::thread::available_parallelism()
                .map(|n| n.get().min(2))
                .unwrap_or(1);
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("aliyun-iot-amqp")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::new(Status::GenericFailure, format!("cannot start runtime: {e}")))
    }

    /// Signing parameters, as `sign()` and credential-based connections take them.
    #[napi(object)]
    pub struct SignOptions {
        pub access_key_id: String,
        pub access_key_secret: String,
        pub consumer_group_id: String,
        pub client_id: String,
        pub iot_instance_id: Option<String>,
        pub auth_mode: Option<String>,
        pub sign_method: Option<String>,
        pub security_token: Option<String>,
        pub timestamp: Option<f64>,
    }

    #[napi(object)]
    pub struct SignedCredentials {
        pub username: String,
        pub password: String,
    }

    fn sign_params(o: &SignOptions) -> Result<SignParams> {
        let auth_mode = match o.auth_mode.as_deref() {
            None => AuthMode::AkSign,
            Some(m) => AuthMode::parse(m)
                .ok_or_else(|| invalid("authMode must be 'aksign' or 'ststoken'"))?,
        };
        let sign_method = match o.sign_method.as_deref() {
            None => SignMethod::HmacSha1,
            Some(m) => SignMethod::parse(m).ok_or_else(|| {
                invalid("signMethod must be 'hmacmd5', 'hmacsha1' or 'hmacsha256'")
            })?,
        };
        let p = SignParams {
            access_key_id: o.access_key_id.clone(),
            access_key_secret: Secret::new(o.access_key_secret.clone()),
            consumer_group_id: o.consumer_group_id.clone(),
            client_id: o.client_id.clone(),
            iot_instance_id: o.iot_instance_id.clone(),
            auth_mode,
            sign_method,
            security_token: o.security_token.clone().map(Secret::new),
        };
        p.validate().map_err(|e| invalid(e.0))?;
        Ok(p)
    }

    /// Signs the platform's SASL PLAIN credentials.
    #[napi(catch_unwind)]
    pub fn sign(options: SignOptions) -> Result<SignedCredentials> {
        let params = sign_params(&options)?;
        let timestamp = match options.timestamp {
            None => crate::sign::now_ms(),
            Some(t)
                if t.is_finite()
                    && t >= 0.0
                    && t.fract() == 0.0
                    && t <= 9.007_199_254_740_991e15 =>
            {
                t as u64
            }
            Some(_) => return Err(invalid("timestamp must be a non-negative integer (ms)")),
        };
        let c = params.sign(timestamp).map_err(|e| invalid(e.0))?;
        Ok(SignedCredentials {
            username: c.username,
            password: c.password.expose().to_string(),
        })
    }

    /// Connection options, already validated and defaulted by `index.js`.
    #[napi(object)]
    pub struct NativeOptions {
        pub host: String,
        pub port: u32,
        pub transport: String,
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
        pub servername: Option<String>,
        pub ca: Vec<Buffer>,
        pub reject_unauthorized: bool,
        pub node_extra_ca_certs: Option<String>,
        pub max_frame_size: u32,
        pub max_message_size: f64,
        pub connect_timeout: f64,
        pub close_timeout: f64,
        /// Print frames to stderr (DEBUG=aliyun-iot-amqp:frames), secrets redacted.
        pub debug_frames: Option<bool>,
    }

    #[napi(object)]
    pub struct NativeReceiverOptions {
        pub name: String,
        pub source: Option<String>,
        pub credit_window: u32,
    }

    fn ms(v: f64, name: &str) -> Result<Duration> {
        if v.is_finite() && (0.0..=1e12).contains(&v) {
            Ok(Duration::from_secs_f64(v / 1000.0))
        } else {
            Err(invalid(format!(
                "{name} must be a non-negative number of milliseconds"
            )))
        }
    }

    fn config(o: NativeOptions) -> Result<Config> {
        let transport = match o.transport.as_str() {
            "tcp" => Transport::Tcp,
            "tls" | "ssl" => Transport::Tls,
            _ => return Err(invalid("transport must be 'tcp', 'tls' or 'ssl'")),
        };
        let port = u16::try_from(o.port)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| invalid("port must be between 1 and 65535"))?;
        let mut cfg = Config::new(o.host, port, transport);
        cfg.credentials = match (&o.sign, o.username, o.password) {
            _ if o.external_credentials == Some(true) => CredentialSource::External,
            (Some(s), _, _) => CredentialSource::Signed(sign_params(s)?),
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
        };
        cfg.tls.servername = o.servername;
        cfg.tls.ca = o.ca.iter().map(|b| b.to_vec()).collect();
        cfg.tls.reject_unauthorized = o.reject_unauthorized;
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
        cfg.debug_frames = o.debug_frames.unwrap_or(false);
        cfg.validate().map_err(invalid)?;
        Ok(cfg)
    }

    fn receiver_config(o: NativeReceiverOptions) -> ReceiverConfig {
        ReceiverConfig {
            name: o.name,
            source: o.source,
            credit_window: o.credit_window,
        }
    }

    type EventCallback = ThreadsafeFunction<JsEvent, (), JsEvent, Status, false>;

    /// Feeds events to JavaScript. Holding the threadsafe function keeps Node running, as an open
    /// socket does; it is dropped after the final `closed` event so that Node can exit.
    struct JsSink {
        callback: Mutex<Option<Arc<EventCallback>>>,
    }

    impl EventSink for JsSink {
        fn emit(&self, event: Event) {
            let last = matches!(event, Event::Closed);
            let callback = match self.callback.lock() {
                Ok(mut guard) => {
                    if last {
                        guard.take()
                    } else {
                        guard.clone()
                    }
                }
                Err(_) => None,
            };
            if let Some(cb) = callback {
                cb.call(JsEvent(event), ThreadsafeFunctionCallMode::NonBlocking);
            }
        }
    }

    /// One consumer connection; driven from `index.js`.
    #[napi]
    pub struct NativeConnection {
        handle: ConsumerHandle,
    }

    fn outcome_for(code: u8) -> Result<Outcome> {
        match code {
            0 => Ok(Outcome::Accepted),
            1 => Ok(Outcome::Released),
            _ => Err(invalid("unknown settlement code")),
        }
    }

    /// A settlement with parameters (`reject(error)`, `modified(params)`).
    #[napi(object, object_to_js = false)]
    pub struct NativeOutcome {
        /// 'accepted' | 'released' | 'rejected' | 'modified'
        pub kind: String,
        pub condition: Option<String>,
        pub description: Option<String>,
        pub delivery_failed: Option<bool>,
        pub undeliverable_here: Option<bool>,
        /// Keys of `message_annotations`; values in `annotation_values` (string, number,
        /// boolean or null).
        pub annotation_keys: Option<Vec<String>>,
        pub annotation_values: Option<Vec<serde_json_like::Scalar>>,
    }

    mod serde_json_like {
        use napi::bindgen_prelude::{FromNapiValue, TypeName, ValidateNapiValue};
        use napi::{sys, ValueType};

        /// A JS scalar as an annotation value.
        pub enum Scalar {
            Null,
            Bool(bool),
            Number(f64),
            String(String),
        }

        impl TypeName for Scalar {
            fn type_name() -> &'static str {
                "string | number | boolean | null"
            }
            fn value_type() -> ValueType {
                ValueType::Unknown
            }
        }

        impl ValidateNapiValue for Scalar {}

        impl FromNapiValue for Scalar {
            unsafe fn from_napi_value(
                env: sys::napi_env,
                v: sys::napi_value,
            ) -> napi::Result<Self> {
                let mut t = 0;
                napi::check_status!(sys::napi_typeof(env, v, &mut t))?;
                Ok(match t {
                    sys::ValueType::napi_boolean => Scalar::Bool(bool::from_napi_value(env, v)?),
                    sys::ValueType::napi_number => Scalar::Number(f64::from_napi_value(env, v)?),
                    sys::ValueType::napi_string => Scalar::String(String::from_napi_value(env, v)?),
                    _ => Scalar::Null,
                })
            }
        }
    }

    fn outcome_from(o: NativeOutcome) -> Result<Outcome> {
        use serde_json_like::Scalar;
        Ok(match o.kind.as_str() {
            "accepted" => Outcome::Accepted,
            "released" => Outcome::Released,
            "rejected" => Outcome::Rejected {
                condition: o
                    .condition
                    .unwrap_or_else(|| "amqp:internal-error".to_string()),
                description: o.description,
            },
            "modified" => {
                let keys = o.annotation_keys.unwrap_or_default();
                let values = o.annotation_values.unwrap_or_default();
                let message_annotations = keys
                    .into_iter()
                    .zip(values)
                    .map(|(k, v)| {
                        let v = match v {
                            Scalar::Null => Annotation::Null,
                            Scalar::Bool(b) => Annotation::Bool(b),
                            Scalar::Number(n)
                                if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 =>
                            {
                                Annotation::Long(n as i64)
                            }
                            Scalar::Number(n) => Annotation::Double(n),
                            Scalar::String(s) => Annotation::String(s),
                        };
                        (k, v)
                    })
                    .collect();
                Outcome::Modified {
                    delivery_failed: o.delivery_failed.unwrap_or(false),
                    undeliverable_here: o.undeliverable_here.unwrap_or(false),
                    message_annotations,
                }
            }
            _ => return Err(invalid("unknown outcome kind")),
        })
    }

    #[napi]
    impl NativeConnection {
        /// Starts connecting at once; events arrive through `callback`.
        #[napi(factory, catch_unwind)]
        pub fn connect(
            options: NativeOptions,
            receiver: Option<NativeReceiverOptions>,
            callback: EventCallback,
        ) -> Result<Self> {
            let cfg = config(options)?;
            let sink = Arc::new(JsSink {
                callback: Mutex::new(Some(Arc::new(callback))),
            });
            let handle = consumer::spawn(
                runtime()?.handle(),
                cfg,
                receiver.map(receiver_config),
                sink,
            )
            .map_err(|e| invalid(e.description))?;
            Ok(NativeConnection { handle })
        }

        /// Attaches the receiver (now, and again after every reconnect).
        #[napi(catch_unwind)]
        pub fn open_receiver(&self, options: NativeReceiverOptions) -> bool {
            self.handle
                .send(Command::OpenReceiver(receiver_config(options)))
        }

        #[napi(catch_unwind)]
        pub fn close_receiver(&self) -> bool {
            self.handle.send(Command::CloseReceiver)
        }

        /// Settles deliveries of connection `epoch`: `codes[i]` is 0 (accept) or 1 (release).
        #[napi(catch_unwind)]
        pub fn settle(&self, epoch: u32, ids: Uint32Array, codes: Uint8Array) -> Result<bool> {
            if ids.len() != codes.len() {
                return Err(invalid("ids and codes differ in length"));
            }
            let settles = ids
                .iter()
                .zip(codes.iter())
                .map(|(id, code)| Ok((*id, outcome_for(*code)?)))
                .collect::<Result<Vec<_>>>()?;
            Ok(self.handle.send(Command::Settle {
                epoch: epoch as u64,
                settles,
            }))
        }

        /// Settles one delivery with a parameterised outcome.
        #[napi(catch_unwind)]
        pub fn settle_with(&self, epoch: u32, id: u32, outcome: NativeOutcome) -> Result<bool> {
            let outcome = outcome_from(outcome)?;
            Ok(self.handle.send(Command::Settle {
                epoch: epoch as u64,
                settles: vec![(id, outcome)],
            }))
        }

        /// Changes how many deliveries may be outstanding; 0 stops the flow.
        #[napi(catch_unwind)]
        pub fn set_credit_window(&self, credit_window: u32) -> bool {
            self.handle.send(Command::SetCreditWindow(credit_window))
        }

        /// Answers `credentials_needed` for attempt `epoch`: a username and password, or an error.
        #[napi(catch_unwind)]
        pub fn provide_credentials(
            &self,
            epoch: u32,
            username: Option<String>,
            password: Option<String>,
            error: Option<String>,
        ) -> bool {
            let result = match (username, password, error) {
                (Some(username), Some(password), None) => Ok(crate::sign::Credentials {
                    username,
                    password: Secret::new(password),
                }),
                (_, _, Some(e)) => Err(e),
                _ => Err("no username and password given".to_string()),
            };
            self.handle.send(Command::Credentials {
                epoch: epoch as u64,
                result,
            })
        }

        /// Closes the connection (bounded by `close_timeout`) and stops reconnecting.
        #[napi(catch_unwind)]
        pub fn close(&self) -> bool {
            self.handle.send(Command::Close)
        }
    }
}
