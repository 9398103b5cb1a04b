//! The connection task: dial, SASL, open, begin, attach one receiver, consume, settle, and
//! reconnect. A receiver-only AMQP 1.0 client on fe2o3-amqp's types and our own framing, so that
//! it attaches whatever the server's attach reply carries as source, keeps the link alive at half
//! the smaller idle time-out, grants credit as deliveries are settled, and bounds every wait.
//!
//! JavaScript (or a Rust caller) talks to it through [`ConsumerHandle`] commands and receives
//! [`Event`]s through an [`EventSink`].

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use fe2o3_amqp::frames::sasl;
use fe2o3_amqp::types::definitions::{
    self, ErrorCondition, Handle, ReceiverSettleMode, Role, SenderSettleMode,
};
use fe2o3_amqp::types::messaging::{Source, Target, TargetArchetype};
use fe2o3_amqp::types::performatives::{Attach, Begin, Close, Detach, End, Flow, Open};
use fe2o3_amqp::types::primitives::{Binary, Symbol};
use fe2o3_amqp::types::sasl::{SaslCode, SaslInit};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};
use tokio_rustls::rustls::ClientConfig;

use crate::codec::{self, CodecError, Incoming, RawFrame};
use crate::config::{Config, CredentialSource, ReceiverConfig, Transport};
use crate::delivery::{coalesce, Outcome};
use crate::message::{self, Message};
use crate::transport::{self, Io};

/// Our one session's channel and our one link's handle.
const CHANNEL: u16 = 0;
const HANDLE: u32 = 0;
/// Spare room kept in the read buffer before each read (see `main_loop`).
const READ_CHUNK: usize = 256 * 1024;
/// Session incoming window we grant; link credit is the real bound.
const INCOMING_WINDOW: u32 = i32::MAX as u32;

/// What went wrong, in a form the bindings can turn into a JS error.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorInfo {
    /// AMQP error condition, or one of ours (`aliyun-iot-amqp:...`).
    pub condition: String,
    pub description: String,
}

impl ErrorInfo {
    pub fn new(condition: &str, description: impl Into<String>) -> Self {
        ErrorInfo {
            condition: condition.to_string(),
            description: description.into(),
        }
    }

    fn from_amqp(e: &definitions::Error) -> Self {
        ErrorInfo {
            condition: condition_str(&e.condition),
            description: e.description.clone().unwrap_or_default(),
        }
    }

    /// Whether the server refused who we are: retrying would only trip the platform's rate limit.
    pub fn is_auth_failure(&self) -> bool {
        self.condition == COND_AUTH || self.condition == "amqp:unauthorized-access"
    }
}

impl std::fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.description.is_empty() {
            f.write_str(&self.condition)
        } else {
            write!(f, "{}: {}", self.condition, self.description)
        }
    }
}

pub const COND_AUTH: &str = "amqp:unauthorized-access";
pub const COND_IO: &str = "aliyun-iot-amqp:io";
pub const COND_TLS: &str = "aliyun-iot-amqp:tls";
pub const COND_TIMEOUT: &str = "aliyun-iot-amqp:timeout";
pub const COND_PROTOCOL: &str = "amqp:internal-error";
pub const COND_DECODE: &str = "amqp:decode-error";
pub const COND_FRAME_SIZE: &str = "amqp:frame-size-too-small";
pub const COND_IDLE: &str = "amqp:resource-limit-exceeded";
pub const COND_MESSAGE_SIZE: &str = "amqp:link:message-size-exceeded";
pub const COND_INTERNAL: &str = "aliyun-iot-amqp:internal";
pub const COND_CONFIG: &str = "aliyun-iot-amqp:config";

fn condition_str(c: &ErrorCondition) -> String {
    match serde_amqp::to_value(c) {
        Ok(serde_amqp::Value::Symbol(s)) => s.0,
        Ok(other) => format!("{other:?}"),
        Err(_) => "amqp:internal-error".into(),
    }
}

/// The remote peer's Open, as far as users see it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteOpen {
    pub container_id: String,
    pub hostname: Option<String>,
    pub idle_time_out: Option<u32>,
    pub max_frame_size: u32,
}

/// One complete delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: u32,
    pub tag: Bytes,
    pub format: u32,
    /// Settled by the sender: nothing to acknowledge.
    pub settled: bool,
    pub message: Message,
}

/// What the connection task reports. `epoch` numbers the transport connections of one consumer.
#[derive(Debug, Clone)]
pub enum Event {
    ConnectionOpen {
        epoch: u64,
        remote: RemoteOpen,
    },
    ReceiverOpen {
        epoch: u64,
        /// The source address in the server's attach reply, `None` if it sent none.
        remote_source: Option<String>,
    },
    Messages {
        epoch: u64,
        deliveries: Vec<Delivery>,
    },
    /// The server detached our link (with an error, if it gave one).
    ReceiverClose {
        epoch: u64,
        error: Option<ErrorInfo>,
    },
    /// The server closed the connection with an error.
    ConnectionError {
        epoch: u64,
        error: ErrorInfo,
    },
    /// The connection closed cleanly (after `close()`, or the server's close without error).
    ConnectionClose {
        epoch: u64,
    },
    /// The transport is gone. `reconnecting` tells whether another attempt follows, after `delay`.
    Disconnected {
        epoch: u64,
        error: Option<ErrorInfo>,
        reconnecting: bool,
        delay: Duration,
    },
    /// Credentials for attempt `epoch` are wanted (`CredentialSource::External`): answer with
    /// `Command::Credentials` within the connect time-out.
    CredentialsNeeded {
        epoch: u64,
    },
    /// The consumer is finished: no event follows.
    Closed,
}

/// Receives events, on the connection task's thread.
pub trait EventSink: Send + Sync + 'static {
    fn emit(&self, event: Event);
}

/// Commands from the owner to the connection task.
#[derive(Debug)]
pub enum Command {
    OpenReceiver(ReceiverConfig),
    CloseReceiver,
    /// Settle deliveries of transport connection `epoch`.
    Settle {
        epoch: u64,
        settles: Vec<(u32, Outcome)>,
    },
    /// Change the credit window (0 pauses the flow of messages).
    SetCreditWindow(u32),
    /// The answer to `Event::CredentialsNeeded`: SASL PLAIN credentials, or why there are none.
    Credentials {
        epoch: u64,
        result: Result<crate::sign::Credentials, String>,
    },
    Close,
}

/// The owner's end: send commands; dropping it closes the consumer.
#[derive(Debug, Clone)]
pub struct ConsumerHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl ConsumerHandle {
    /// Queues a command; `false` when the consumer has finished.
    pub fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).is_ok()
    }
}

/// Starts a consumer on the given runtime. A panic anywhere in it ends in `Disconnected` (with
/// the panic as error) and `Closed`, never in an abort.
pub fn spawn(
    rt: &tokio::runtime::Handle,
    cfg: Config,
    receiver: Option<ReceiverConfig>,
    sink: Arc<dyn EventSink>,
) -> Result<ConsumerHandle, ErrorInfo> {
    cfg.validate().map_err(|e| ErrorInfo::new(COND_CONFIG, e))?;
    let tls = match cfg.transport {
        Transport::Tls => {
            Some(transport::tls_config(&cfg.tls).map_err(|e| ErrorInfo::new(COND_CONFIG, e))?)
        }
        Transport::Tcp => None,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let task_sink = sink.clone();
    let task = rt.spawn(run(cfg, tls, receiver, task_sink, rx));
    rt.spawn(async move {
        if let Err(e) = task.await {
            let description = if e.is_panic() {
                panic_message(e.into_panic())
            } else {
                "connection task cancelled".to_string()
            };
            sink.emit(Event::Disconnected {
                epoch: 0,
                error: Some(ErrorInfo::new(COND_INTERNAL, description)),
                reconnecting: false,
                delay: Duration::ZERO,
            });
            sink.emit(Event::Closed);
        }
    });
    Ok(ConsumerHandle { tx })
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    let text = if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    };
    format!("internal error (panic): {text}")
}

/// How one transport connection ended.
enum SessionEnd {
    /// `close()` was asked for and done.
    Closed,
    /// The transport failed or the server ended it.
    Failed {
        error: Option<ErrorInfo>,
        /// The connection got as far as an open link (resets the backoff).
        was_open: bool,
    },
}

/// A tiny xorshift for backoff jitter: no need for a cryptographic source here.
struct Jitter(u64);

impl Jitter {
    fn new() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Jitter(seed | 1)
    }

    /// A factor in [0.5, 1.0).
    fn factor(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        0.5 + (self.0 >> 11) as f64 / (1u64 << 53) as f64 / 2.0
    }
}

async fn run(
    cfg: Config,
    tls: Option<Arc<ClientConfig>>,
    mut receiver: Option<ReceiverConfig>,
    sink: Arc<dyn EventSink>,
    mut rx: mpsc::UnboundedReceiver<Command>,
) {
    let mut epoch = 0u64;
    let mut failures = 0u32;
    let mut delay = cfg.reconnect.initial;
    let mut jitter = Jitter::new();
    'outer: loop {
        epoch += 1;
        // Fault injection for the test suite: proves that a panic in the connection task ends in
        // an error event, not in an abort of the process.
        if std::env::var_os("ALIYUN_IOT_AMQP_INJECT_PANIC").is_some() {
            panic!("injected panic (ALIYUN_IOT_AMQP_INJECT_PANIC is set)");
        }
        let end = {
            let mut conn = Conn::new(&cfg, epoch, receiver.take(), sink.as_ref());
            let end = conn.run(tls.as_ref(), &mut rx).await;
            receiver = conn.link.map(|l| l.config);
            end
        };
        let (error, was_open) = match end {
            SessionEnd::Closed => break,
            SessionEnd::Failed { error, was_open } => (error, was_open),
        };
        if was_open {
            failures = 0;
            delay = cfg.reconnect.initial;
        }
        failures += 1;
        let auth_failed = error.as_ref().is_some_and(ErrorInfo::is_auth_failure);
        let reconnecting = cfg.reconnect.enabled
            && (!auth_failed || cfg.reconnect.on_auth_failure)
            && cfg.reconnect.limit.is_none_or(|limit| failures <= limit);
        let wait = if reconnecting {
            delay.mul_f64(jitter.factor())
        } else {
            Duration::ZERO
        };
        sink.emit(Event::Disconnected {
            epoch,
            error,
            reconnecting,
            delay: wait,
        });
        if !reconnecting {
            break;
        }
        delay = (delay * 2).min(cfg.reconnect.max);
        let until = Instant::now() + wait;
        loop {
            tokio::select! {
                _ = sleep_until(until) => break,
                cmd = rx.recv() => match cmd {
                    None | Some(Command::Close) => break 'outer,
                    Some(Command::OpenReceiver(rc)) => receiver = Some(rc),
                    Some(Command::CloseReceiver) => receiver = None,
                    Some(Command::SetCreditWindow(n)) => {
                        if let Some(r) = receiver.as_mut() {
                            r.credit_window = n;
                        }
                    }
                    // Deliveries of a gone connection come again; nothing to send.
                    Some(Command::Settle { .. } | Command::Credentials { .. }) => {}
                },
            }
        }
    }
    sink.emit(Event::Closed);
}

/// Link state for our one receiver.
struct Link {
    config: ReceiverConfig,
    attach_sent: bool,
    remote_handle: Option<u32>,
    /// The sender's delivery-count as we track it.
    delivery_count: u32,
    /// Credit the sender still has, as we granted it.
    credit: u32,
    /// Deliveries handed over and not yet settled by the owner.
    unsettled: u32,
    /// Transfers the sender may still have in flight after we lowered its credit (pause).
    allowance: u32,
    partial: Option<Partial>,
    detach_sent: bool,
}

impl Link {
    fn new(config: ReceiverConfig) -> Self {
        Link {
            config,
            attach_sent: false,
            remote_handle: None,
            delivery_count: 0,
            credit: 0,
            unsettled: 0,
            allowance: 0,
            partial: None,
            detach_sent: false,
        }
    }
}

/// A delivery whose transfer frames are still arriving.
struct Partial {
    id: u32,
    tag: Bytes,
    format: u32,
    settled: bool,
    parts: Vec<Bytes>,
    size: u64,
}

enum Flow2 {
    Continue,
    End(SessionEnd),
}

/// One transport connection.
struct Conn<'a> {
    cfg: &'a Config,
    epoch: u64,
    sink: &'a dyn EventSink,
    link: Option<Link>,
    out: BytesMut,
    rbuf: BytesMut,
    writer: Option<mpsc::UnboundedSender<Bytes>>,
    writer_task: Option<JoinHandle<Result<(), String>>>,
    last_write: Instant,
    last_read: Instant,
    remote_idle: Option<Duration>,
    opened: bool,
    begun: bool,
    /// The channel the server's half of our session speaks on (from its Begin).
    remote_channel: Option<u16>,
    link_open: bool,
    next_incoming_id: u32,
    pending_settles: Vec<(u32, Outcome)>,
    closing: Option<Instant>,
    batch: Vec<Delivery>,
}

impl<'a> Conn<'a> {
    fn new(
        cfg: &'a Config,
        epoch: u64,
        receiver: Option<ReceiverConfig>,
        sink: &'a dyn EventSink,
    ) -> Self {
        let now = Instant::now();
        Conn {
            cfg,
            epoch,
            sink,
            link: receiver.map(Link::new),
            out: BytesMut::with_capacity(4096),
            rbuf: BytesMut::with_capacity(64 * 1024),
            writer: None,
            writer_task: None,
            last_write: now,
            last_read: now,
            remote_idle: None,
            opened: false,
            begun: false,
            remote_channel: None,
            link_open: false,
            next_incoming_id: 0,
            pending_settles: Vec::new(),
            closing: None,
            batch: Vec::new(),
        }
    }

    /// Reports an event after the deliveries that arrived before it.
    fn emit(&mut self, event: Event) {
        if !self.batch.is_empty() {
            let deliveries = std::mem::take(&mut self.batch);
            self.sink.emit(Event::Messages {
                epoch: self.epoch,
                deliveries,
            });
        }
        self.sink.emit(event);
    }

    fn failed(&self, error: ErrorInfo) -> SessionEnd {
        SessionEnd::Failed {
            error: Some(error),
            was_open: self.link_open,
        }
    }

    /// Hands everything buffered in `out` to the writer task.
    fn flush(&mut self) -> Result<(), ErrorInfo> {
        if self.out.is_empty() {
            return Ok(());
        }
        let bytes = self.out.split().freeze();
        let sent = self.writer.as_ref().is_some_and(|w| w.send(bytes).is_ok());
        self.last_write = Instant::now();
        if sent {
            Ok(())
        } else {
            Err(ErrorInfo::new(COND_IO, "connection lost while writing"))
        }
    }

    fn trace(&self, direction: &str, what: &dyn std::fmt::Debug) {
        if self.cfg.debug_frames {
            // Never `eprintln!`: it panics when stderr is closed.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "aliyun-iot-amqp:frames [{}#{}] {direction} {what:?}",
                self.cfg.container_id,
                self.epoch
            );
        }
    }

    fn encode<T: serde::Serialize + std::fmt::Debug>(
        &mut self,
        performative: &T,
    ) -> Result<(), ErrorInfo> {
        self.trace("->", performative);
        codec::encode_amqp(&mut self.out, CHANNEL, performative)
            .map_err(|e| ErrorInfo::new(COND_INTERNAL, e.to_string()))
    }

    async fn run(
        &mut self,
        tls: Option<&Arc<ClientConfig>>,
        rx: &mut mpsc::UnboundedReceiver<Command>,
    ) -> SessionEnd {
        let end = self.run_inner(tls, rx).await;
        // Bounded goodbye: give the writer a moment to put the last frames on the wire.
        self.writer = None;
        if let Some(task) = self.writer_task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_millis(500), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        end
    }

    async fn run_inner(
        &mut self,
        tls: Option<&Arc<ClientConfig>>,
        rx: &mut mpsc::UnboundedReceiver<Command>,
    ) -> SessionEnd {
        let deadline = Instant::now() + self.cfg.connect_timeout;
        // Commands that arrive while connecting wait here; `close()` ends the attempt at once.
        let mut stash = Vec::new();
        // Credentials are resolved (signed with a fresh timestamp, or asked of the owner) for this
        // attempt only.
        let creds = match &self.cfg.credentials {
            CredentialSource::External => {
                self.emit(Event::CredentialsNeeded { epoch: self.epoch });
                loop {
                    tokio::select! {
                        _ = sleep_until(deadline) => {
                            return self.failed(self.timeout_error("obtaining credentials"));
                        }
                        cmd = rx.recv() => match cmd {
                            None | Some(Command::Close) => return SessionEnd::Closed,
                            Some(Command::Credentials { epoch, result }) if epoch == self.epoch => {
                                match result {
                                    Ok(c) => break Some(c),
                                    Err(e) => return self.failed(ErrorInfo::new(COND_CONFIG, format!("credentials: {e}"))),
                                }
                            }
                            Some(Command::Credentials { .. }) => {}
                            Some(cmd) => stash.push(cmd),
                        },
                    }
                }
            }
            source => match source.resolve() {
                Ok(c) => c,
                Err(e) => return self.failed(ErrorInfo::new(COND_CONFIG, e.0)),
            },
        };
        let setup = {
            let setup = self.setup(tls, creds);
            tokio::pin!(setup);
            loop {
                tokio::select! {
                    r = tokio::time::timeout_at(deadline, &mut setup) => break r,
                    cmd = rx.recv() => match cmd {
                        None | Some(Command::Close) => return SessionEnd::Closed,
                        Some(cmd) => stash.push(cmd),
                    },
                }
            }
        };
        let mut rd = match setup {
            Ok(Ok(rd)) => rd,
            Ok(Err(e)) => {
                if e.is_auth_failure() {
                    self.emit(Event::ConnectionError {
                        epoch: self.epoch,
                        error: e.clone(),
                    });
                }
                return self.failed(e);
            }
            Err(_) => return self.failed(self.timeout_error("connecting, TLS and SASL")),
        };
        for cmd in stash {
            if let Err(e) = self.handle_command(Some(cmd)) {
                return self.failed(e);
            }
        }
        if let Err(e) = self.flush_settles() {
            return self.failed(e);
        }
        self.main_loop(&mut rd, rx, deadline).await
    }

    /// Dial, TLS, SASL and the AMQP header; sends open, begin and attach. Returns the read half.
    async fn setup(
        &mut self,
        tls: Option<&Arc<ClientConfig>>,
        creds: Option<crate::sign::Credentials>,
    ) -> Result<ReadHalf<Box<dyn Io>>, ErrorInfo> {
        let io = transport::dial(self.cfg, tls).await.map_err(|e| {
            let cond = if e.starts_with("TLS") {
                COND_TLS
            } else {
                COND_IO
            };
            ErrorInfo::new(cond, e)
        })?;
        let (mut rd, wr) = tokio::io::split(io);
        let (wtx, wrx) = mpsc::unbounded_channel();
        self.writer = Some(wtx);
        self.writer_task = Some(tokio::spawn(write_loop(wr, wrx)));
        if let Some(creds) = &creds {
            self.sasl(&mut rd, &creds.username, creds.password.expose())
                .await?;
        }
        self.out.extend_from_slice(&codec::AMQP_HEADER);
        self.flush()?;
        let header = read_header(&mut rd).await?;
        if header != codec::AMQP_HEADER {
            return Err(ErrorInfo::new(
                COND_PROTOCOL,
                format!("server answered with protocol header {header:?}"),
            ));
        }
        self.send_open()?;
        Ok(rd)
    }

    fn timeout_error(&self, what: &str) -> ErrorInfo {
        ErrorInfo::new(
            COND_TIMEOUT,
            format!(
                "{what} with {}:{} did not complete within {} ms",
                self.cfg.host,
                self.cfg.port,
                self.cfg.connect_timeout.as_millis()
            ),
        )
    }

    async fn sasl(
        &mut self,
        rd: &mut ReadHalf<Box<dyn Io>>,
        username: &str,
        password: &str,
    ) -> Result<(), ErrorInfo> {
        self.out.extend_from_slice(&codec::SASL_HEADER);
        self.flush()?;
        let header = read_header(rd).await?;
        if header != codec::SASL_HEADER {
            return Err(ErrorInfo::new(
                COND_PROTOCOL,
                "server does not offer SASL (it answered the SASL header with another protocol)",
            ));
        }
        let mechanisms = match self.read_sasl(rd).await? {
            sasl::Frame::Mechanisms(m) => m,
            other => {
                return Err(ErrorInfo::new(
                    COND_PROTOCOL,
                    format!("expected sasl-mechanisms, got {}", sasl_name(&other)),
                ))
            }
        };
        let offered: Vec<&str> = mechanisms
            .sasl_server_mechanisms
            .0
            .iter()
            .map(|s| s.as_str())
            .collect();
        if !offered.contains(&"PLAIN") {
            return Err(ErrorInfo::new(
                COND_AUTH,
                format!("server does not offer SASL PLAIN (offers {offered:?})"),
            ));
        }
        let mut response = Vec::with_capacity(username.len() + password.len() + 2);
        response.push(0);
        response.extend_from_slice(username.as_bytes());
        response.push(0);
        response.extend_from_slice(password.as_bytes());
        self.trace(
            "<-",
            &format_args!(
                "sasl-mechanisms {offered:?}; -> sasl-init PLAIN (credentials [redacted])"
            ),
        );
        let init = sasl::Frame::Init(SaslInit {
            mechanism: Symbol::from("PLAIN"),
            initial_response: Some(Binary::from(response)),
            hostname: Some(self.cfg.sasl_hostname().to_string()),
        });
        codec::encode_sasl(&mut self.out, &init)
            .map_err(|e| ErrorInfo::new(COND_INTERNAL, e.to_string()))?;
        self.flush()?;
        let outcome = self.read_sasl(rd).await?;
        self.trace("<-", &outcome);
        match outcome {
            sasl::Frame::Outcome(o) => match o.code {
                SaslCode::Ok => Ok(()),
                code => Err(ErrorInfo::new(
                    COND_AUTH,
                    format!(
                        "authentication failed: the server rejected the username/password (SASL outcome {:?})",
                        code
                    ),
                )),
            },
            other => Err(ErrorInfo::new(
                COND_PROTOCOL,
                format!(
                    "expected sasl-outcome, got {} (only PLAIN without challenge is supported)",
                    sasl_name(&other)
                ),
            )),
        }
    }

    async fn read_frame(&mut self, rd: &mut ReadHalf<Box<dyn Io>>) -> Result<RawFrame, ErrorInfo> {
        loop {
            if let Some(f) =
                codec::take_frame(&mut self.rbuf, self.cfg.max_frame_size).map_err(codec_error)?
            {
                return Ok(f);
            }
            let n = rd.read_buf(&mut self.rbuf).await.map_err(io_error)?;
            if n == 0 {
                return Err(eof_error());
            }
        }
    }

    async fn read_sasl(
        &mut self,
        rd: &mut ReadHalf<Box<dyn Io>>,
    ) -> Result<sasl::Frame, ErrorInfo> {
        let frame = self.read_frame(rd).await?;
        codec::decode_sasl(frame).map_err(codec_error)
    }

    fn send_open(&mut self) -> Result<(), ErrorInfo> {
        let open = Open {
            container_id: self.cfg.container_id.clone(),
            hostname: self.cfg.hostname.clone(),
            max_frame_size: self.cfg.max_frame_size.into(),
            channel_max: 0u16.into(),
            idle_time_out: self
                .cfg
                .idle_time_out
                .map(|d| d.as_millis().min(u32::MAX as u128) as u32),
            outgoing_locales: None,
            incoming_locales: None,
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        };
        self.encode(&open)?;
        let begin = Begin {
            remote_channel: None,
            next_outgoing_id: 0,
            incoming_window: INCOMING_WINDOW,
            outgoing_window: INCOMING_WINDOW,
            handle_max: Handle(u32::MAX),
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        };
        self.encode(&begin)?;
        self.send_attach()?;
        self.flush()
    }

    fn send_attach(&mut self) -> Result<(), ErrorInfo> {
        let max_message_size = self.cfg.max_message_size;
        let Some(link) = self.link.as_mut() else {
            return Ok(());
        };
        if link.attach_sent {
            return Ok(());
        }
        link.attach_sent = true;
        let source = link.config.source.clone().map(|address| {
            Box::new(Source {
                address: Some(address),
                ..Source::default()
            })
        });
        let attach = Attach {
            name: link.config.name.clone(),
            handle: Handle(HANDLE),
            role: Role::Receiver,
            snd_settle_mode: SenderSettleMode::Mixed,
            rcv_settle_mode: ReceiverSettleMode::First,
            source,
            target: Some(Box::new(TargetArchetype::Target(Target::default()))),
            unsettled: None,
            incomplete_unsettled: false,
            initial_delivery_count: None,
            max_message_size: Some(max_message_size),
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        };
        self.encode(&attach)
    }

    /// Grants credit up to the window, minus what is still unsettled. Sends a flow only when the
    /// grant moved by a quarter of the window (or the sender ran dry), to keep flows rare.
    fn refill_credit(&mut self, force: bool) -> Result<(), ErrorInfo> {
        let next_incoming_id = self.next_incoming_id;
        let Some(link) = self.link.as_mut() else {
            return Ok(());
        };
        if link.remote_handle.is_none() || link.detach_sent {
            return Ok(());
        }
        let window = link.config.credit_window;
        let target = window.saturating_sub(link.unsettled);
        let threshold = (window / 4).max(1);
        let grow = target > link.credit && (target - link.credit >= threshold || link.credit == 0);
        let shrink = target < link.credit && window == 0;
        if !(force || grow || shrink) {
            return Ok(());
        }
        if target < link.credit {
            // Transfers already on their way may still arrive; never more than were granted.
            link.allowance = link.allowance.max(link.credit - target);
        }
        link.credit = target;
        let flow = Flow {
            next_incoming_id: Some(next_incoming_id),
            incoming_window: INCOMING_WINDOW,
            next_outgoing_id: 0,
            outgoing_window: INCOMING_WINDOW,
            handle: Some(Handle(HANDLE)),
            delivery_count: Some(link.delivery_count),
            link_credit: Some(target),
            available: None,
            drain: false,
            echo: false,
            properties: None,
        };
        self.encode(&flow)
    }

    fn send_close(&mut self, error: Option<ErrorInfo>) -> Result<(), ErrorInfo> {
        if self.closing.is_some() {
            return Ok(());
        }
        self.closing = Some(Instant::now() + self.cfg.close_timeout);
        let error = error.map(|e| definitions::Error {
            condition: ErrorCondition::Custom(Symbol::from(e.condition.as_str())),
            description: Some(e.description),
            info: None,
        });
        self.encode(&Close { error })?;
        self.flush()
    }

    /// Sends what the owner settled, as ranged dispositions, then tops up credit.
    fn flush_settles(&mut self) -> Result<(), ErrorInfo> {
        if !self.pending_settles.is_empty() {
            let settles = std::mem::take(&mut self.pending_settles);
            if let Some(link) = self.link.as_mut() {
                link.unsettled = link.unsettled.saturating_sub(settles.len() as u32);
            }
            if self.closing.is_none() {
                for d in coalesce(settles) {
                    self.encode(&d)?;
                }
            }
        }
        if self.closing.is_none() {
            self.refill_credit(false)?;
        }
        self.flush()
    }

    fn handle_command(&mut self, cmd: Option<Command>) -> Result<Flow2, ErrorInfo> {
        match cmd {
            None | Some(Command::Close) => {
                self.flush_settles()?;
                if let Some(link) = self.link.as_mut() {
                    // Closing the connection closes the link; forget it so no reconnect attaches it.
                    link.detach_sent = true;
                }
                self.send_close(None)?;
            }
            Some(Command::Settle { epoch, settles }) => {
                if epoch == self.epoch {
                    self.pending_settles.extend(settles);
                }
            }
            Some(Command::OpenReceiver(rc)) => {
                if self.link.is_none() {
                    self.link = Some(Link::new(rc));
                    if self.begun && self.closing.is_none() {
                        self.send_attach()?;
                    }
                }
            }
            Some(Command::CloseReceiver) => {
                if let Some(link) = self.link.as_mut() {
                    if link.remote_handle.is_some() && !link.detach_sent {
                        link.detach_sent = true;
                        self.encode(&Detach {
                            handle: Handle(HANDLE),
                            closed: true,
                            error: None,
                        })?;
                    } else if !link.attach_sent {
                        self.link = None;
                    }
                }
            }
            Some(Command::Credentials { .. }) => {} // a late answer for an attempt already made
            Some(Command::SetCreditWindow(n)) => {
                if let Some(link) = self.link.as_mut() {
                    link.config.credit_window = n;
                    let force = n == 0 || link.credit == 0;
                    self.refill_credit(force)?;
                }
            }
        }
        Ok(Flow2::Continue)
    }

    async fn main_loop(
        &mut self,
        rd: &mut ReadHalf<Box<dyn Io>>,
        rx: &mut mpsc::UnboundedReceiver<Command>,
        handshake_deadline: Instant,
    ) -> SessionEnd {
        self.last_read = Instant::now();
        let local_idle = self.cfg.idle_time_out;
        loop {
            // Timers: heartbeat at half the smaller idle time-out, dead peer after twice ours,
            // the handshake deadline until the link is open, and the close deadline.
            let heartbeat_every = match (local_idle, self.remote_idle) {
                (Some(l), Some(r)) => Some(l.min(r) / 2),
                (Some(l), None) => Some(l / 2),
                (None, Some(r)) => Some(r / 2),
                (None, None) => None,
            };
            let far = Instant::now() + Duration::from_secs(86_400);
            let heartbeat_at = heartbeat_every.map_or(far, |h| self.last_write + h);
            let dead_at = local_idle.map_or(far, |l| self.last_read + l * 2);
            let handshake_at = if self.link_open || (self.link.is_none() && self.begun) {
                far
            } else {
                handshake_deadline
            };
            let close_at = self.closing.unwrap_or(far);
            let next_timer = heartbeat_at.min(dead_at).min(handshake_at).min(close_at);

            let step = tokio::select! {
                biased;
                cmd = rx.recv() => {
                    let mut r = self.handle_command(cmd);
                    // Drain whatever else is queued, so settles coalesce into few frames.
                    while let (Ok(Flow2::Continue), Ok(cmd)) = (&r, rx.try_recv()) {
                        r = self.handle_command(Some(cmd));
                    }
                    r.and_then(|f| self.flush_settles().map(|_| f))
                }
                n = {
                    // Read in big chunks: one read (one batch, one threadsafe-function call, one
                    // settle round trip) per 256 KiB rather than per 64 KiB.
                    if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
                        self.rbuf.reserve(READ_CHUNK);
                    }
                    rd.read_buf(&mut self.rbuf)
                } => match n {
                    Ok(0) => Err(eof_error()),
                    Ok(_) => {
                        self.last_read = Instant::now();
                        self.process_frames()
                    }
                    Err(e) => Err(io_error(e)),
                },
                _ = sleep_until(next_timer) => {
                    let now = Instant::now();
                    if now >= close_at {
                        return SessionEnd::Closed;
                    } else if now >= handshake_at {
                        Err(self.timeout_error("opening the connection and attaching the receiver"))
                    } else if now >= dead_at {
                        Err(ErrorInfo::new(
                            COND_IDLE,
                            format!(
                                "no frame from the server for {} ms (twice the idle time-out): connection presumed dead",
                                (self.last_read.elapsed()).as_millis()
                            ),
                        ))
                    } else if now >= heartbeat_at {
                        codec::encode_empty(&mut self.out);
                        self.flush().map(|_| Flow2::Continue)
                    } else {
                        Ok(Flow2::Continue)
                    }
                }
            };
            match step {
                Ok(Flow2::Continue) => {}
                Ok(Flow2::End(end)) => return end,
                Err(e) => {
                    if self.closing.is_some() {
                        // Already saying goodbye: a dropped transport completes the close.
                        return SessionEnd::Closed;
                    }
                    // Tell the server why, where the transport still allows it.
                    let _ = self.send_close(Some(e.clone()));
                    return self.failed(e);
                }
            }
        }
    }

    /// Handles every complete frame in the read buffer, then hands the deliveries over at once.
    fn process_frames(&mut self) -> Result<Flow2, ErrorInfo> {
        let mut result = Ok(Flow2::Continue);
        loop {
            let frame = match codec::take_frame(&mut self.rbuf, self.cfg.max_frame_size) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    result = Err(codec_error(e));
                    break;
                }
            };
            let channel = frame.channel;
            match codec::decode_amqp(frame)
                .map_err(codec_error)
                .and_then(|incoming| self.on_frame(channel, incoming))
            {
                Ok(Flow2::Continue) => {}
                other => {
                    result = other;
                    break;
                }
            }
        }
        if !self.batch.is_empty() {
            let deliveries = std::mem::take(&mut self.batch);
            self.sink.emit(Event::Messages {
                epoch: self.epoch,
                deliveries,
            });
        }
        if matches!(result, Ok(Flow2::Continue)) {
            self.flush()?;
        }
        result
    }

    fn on_frame(&mut self, channel: u16, incoming: Incoming) -> Result<Flow2, ErrorInfo> {
        if self.cfg.debug_frames {
            match &incoming {
                Incoming::Transfer(t, payload) => self.trace(
                    "<-",
                    &format_args!(
                        "Transfer {{ delivery_id: {:?}, more: {}, settled: {:?}, payload: {} bytes }}",
                        t.delivery_id,
                        t.more,
                        t.settled,
                        payload.len()
                    ),
                ),
                other => self.trace("<-", other),
            }
        }
        if !self.opened && !matches!(incoming, Incoming::Open(_) | Incoming::Close(_)) {
            return Err(protocol_error(format!(
                "{} frame before the server's open",
                incoming.name()
            )));
        }
        let session_frame = !matches!(
            incoming,
            Incoming::Empty | Incoming::Open(_) | Incoming::Close(_) | Incoming::Begin(_)
        );
        if session_frame && self.remote_channel != Some(channel) {
            return Err(protocol_error(format!(
                "{} frame on channel {channel}, where the server began no session of ours",
                incoming.name()
            )));
        }
        match incoming {
            Incoming::Empty => {}
            Incoming::Open(open) => {
                if self.opened {
                    return Err(protocol_error("second open frame".into()));
                }
                self.opened = true;
                // The peer's max-frame-size is not tracked: everything we send (open, begin, attach,
                // flow, disposition, detach, close) stays under the 512 bytes every peer accepts.
                self.remote_idle = open
                    .idle_time_out
                    .filter(|ms| *ms > 0)
                    .map(|ms| Duration::from_millis(ms as u64));
                self.emit(Event::ConnectionOpen {
                    epoch: self.epoch,
                    remote: RemoteOpen {
                        container_id: open.container_id,
                        hostname: open.hostname,
                        idle_time_out: open.idle_time_out,
                        max_frame_size: open.max_frame_size.0,
                    },
                });
            }
            Incoming::Begin(begin) => {
                if self.begun {
                    return Err(protocol_error("second begin frame".into()));
                }
                if begin.remote_channel != Some(CHANNEL) {
                    return Err(protocol_error(
                        "server began a session we did not ask for".into(),
                    ));
                }
                self.begun = true;
                self.remote_channel = Some(channel);
                self.next_incoming_id = begin.next_outgoing_id;
                if let Some(link) = &self.link {
                    if !link.attach_sent && self.closing.is_none() {
                        self.send_attach()?;
                    }
                }
            }
            Incoming::Attach(attach) => self.on_attach(attach)?,
            Incoming::Flow(flow) => self.on_flow(flow)?,
            Incoming::Transfer(transfer, payload) => self.on_transfer(transfer, payload)?,
            // The server settling on its side needs nothing from us: we settle first.
            Incoming::Disposition(_) => {}
            Incoming::Detach(detach) => self.on_detach(detach)?,
            Incoming::End(end) => {
                let error = end.error.as_ref().map(ErrorInfo::from_amqp);
                if self.closing.is_none() {
                    self.encode(&End { error: None })?;
                }
                let e = error.unwrap_or_else(|| {
                    ErrorInfo::new(COND_PROTOCOL, "the server ended the session")
                });
                return Err(e);
            }
            Incoming::Close(close) => return Ok(Flow2::End(self.on_close(close))),
        }
        Ok(Flow2::Continue)
    }

    fn on_attach(&mut self, attach: Attach) -> Result<(), ErrorInfo> {
        let Some(link) = self.link.as_mut() else {
            return Err(protocol_error("attach for a link we did not open".into()));
        };
        if attach.name != link.config.name || !link.attach_sent {
            return Err(protocol_error(format!(
                "attach for unknown link {:?}",
                attach.name
            )));
        }
        if link.remote_handle.is_some() {
            return Err(protocol_error("second attach for our link".into()));
        }
        if attach.role != Role::Sender {
            return Err(protocol_error(
                "server attached as receiver to our receiver".into(),
            ));
        }
        // The source may be echoed, replaced or null (a rhea server sends none): all attach.
        // A refusal is a null source followed by a detach with an error, handled there.
        let remote_source = attach.source.as_ref().and_then(|s| s.address.clone());
        link.remote_handle = Some(attach.handle.0);
        link.delivery_count = attach.initial_delivery_count.unwrap_or(0);
        link.credit = 0;
        self.link_open = true;
        self.emit(Event::ReceiverOpen {
            epoch: self.epoch,
            remote_source,
        });
        self.refill_credit(true)
    }

    fn on_flow(&mut self, flow: Flow) -> Result<(), ErrorInfo> {
        let Some(handle) = flow.handle else {
            return Ok(()); // session-level flow: our incoming window is effectively unbounded
        };
        let echo = flow.echo;
        let Some(link) = self.link.as_mut() else {
            return Err(protocol_error("flow for a link we do not have".into()));
        };
        if link.remote_handle != Some(handle.0) {
            return Err(protocol_error(format!(
                "flow for unknown handle {}",
                handle.0
            )));
        }
        // Credit is ours to grant: a sender's flow never raises it. Its delivery-count may move
        // ahead of ours (drain consumes the remaining credit), never past what we granted.
        if let Some(count) = flow.delivery_count {
            let advanced = count.wrapping_sub(link.delivery_count);
            if advanced != 0 && advanced <= i32::MAX as u32 {
                if advanced > link.credit {
                    return Err(protocol_error(format!(
                        "sender's delivery-count moved {advanced} past the {} credits granted",
                        link.credit
                    )));
                }
                link.credit -= advanced;
                link.delivery_count = count;
            }
        }
        self.refill_credit(echo)
    }

    fn on_transfer(
        &mut self,
        transfer: fe2o3_amqp::types::performatives::Transfer,
        payload: Bytes,
    ) -> Result<(), ErrorInfo> {
        let max_message_size = self.cfg.max_message_size;
        self.next_incoming_id = self.next_incoming_id.wrapping_add(1);
        let Some(link) = self.link.as_mut() else {
            return Err(protocol_error("transfer with no link attached".into()));
        };
        if link.remote_handle != Some(transfer.handle.0) {
            return Err(protocol_error(format!(
                "transfer for unknown handle {}",
                transfer.handle.0
            )));
        }
        if link.detach_sent {
            return Ok(()); // in flight while we detach: it comes again
        }
        let mut partial = match link.partial.take() {
            Some(p) => {
                if transfer.delivery_id.is_some_and(|id| id != p.id) {
                    return Err(protocol_error(
                        "new delivery started before the previous one completed".into(),
                    ));
                }
                p
            }
            None => {
                let (Some(id), Some(tag)) = (transfer.delivery_id, transfer.delivery_tag.as_ref())
                else {
                    return Err(protocol_error(
                        "first transfer of a delivery without delivery-id or tag".into(),
                    ));
                };
                if link.credit > 0 {
                    link.credit -= 1;
                } else if link.allowance > 0 {
                    link.allowance -= 1; // sent before the sender saw our lower credit
                } else {
                    return Err(protocol_error(
                        "transfer received without link credit".into(),
                    ));
                }
                link.delivery_count = link.delivery_count.wrapping_add(1);
                Partial {
                    id,
                    tag: Bytes::copy_from_slice(tag.as_ref()),
                    format: transfer.message_format.unwrap_or(0),
                    settled: false,
                    parts: Vec::new(),
                    size: 0,
                }
            }
        };
        if transfer.settled == Some(true) {
            partial.settled = true;
        }
        if transfer.aborted {
            return Ok(()); // dropped; the sender does not count it as delivered
        }
        partial.size += payload.len() as u64;
        if partial.size > max_message_size {
            return Err(ErrorInfo::new(
                COND_MESSAGE_SIZE,
                format!(
                    "message of more than {} bytes exceeds max_message_size {}",
                    partial.size, max_message_size
                ),
            ));
        }
        if !payload.is_empty() {
            partial.parts.push(payload);
        }
        if transfer.more {
            link.partial = Some(partial);
            return Ok(());
        }
        let body = if partial.parts.len() == 1 {
            partial.parts.pop().unwrap_or_default()
        } else {
            let mut all = BytesMut::with_capacity(partial.size as usize);
            for p in &partial.parts {
                all.extend_from_slice(p);
            }
            all.freeze()
        };
        let message = message::decode(body).map_err(|e| {
            ErrorInfo::new(
                COND_DECODE,
                format!("cannot decode message of delivery {}: {e}", partial.id),
            )
        })?;
        if !partial.settled {
            link.unsettled += 1;
        }
        self.batch.push(Delivery {
            id: partial.id,
            tag: partial.tag,
            format: partial.format,
            settled: partial.settled,
            message,
        });
        Ok(())
    }

    fn on_detach(&mut self, detach: Detach) -> Result<(), ErrorInfo> {
        let Some(link) = self.link.as_mut() else {
            return Err(protocol_error("detach for a link we do not have".into()));
        };
        if link.remote_handle.is_some() && link.remote_handle != Some(detach.handle.0) {
            return Err(protocol_error(format!(
                "detach for unknown handle {}",
                detach.handle.0
            )));
        }
        let we_asked = link.detach_sent;
        let error = detach.error.as_ref().map(ErrorInfo::from_amqp);
        if !we_asked && self.closing.is_none() {
            self.encode(&Detach {
                handle: Handle(HANDLE),
                closed: true,
                error: None,
            })?;
        }
        // The link is gone: deliveries not yet settled will be redelivered by the server. If the
        // server took it away, keep its configuration so that the next connection re-attaches it.
        let config = self.link.take().map(|l| l.config);
        if !we_asked {
            self.link = config.map(Link::new);
        }
        self.link_open = false;
        self.emit(Event::ReceiverClose {
            epoch: self.epoch,
            error: error.clone(),
        });
        if !we_asked {
            // The server took the link away: a new connection re-attaches it.
            return Err(error.unwrap_or_else(|| {
                ErrorInfo::new(COND_PROTOCOL, "the server detached the receiver")
            }));
        }
        Ok(())
    }

    fn on_close(&mut self, close: Close) -> SessionEnd {
        let error = close.error.as_ref().map(ErrorInfo::from_amqp);
        if self.closing.is_none() {
            let _ = self.encode(&Close { error: None });
            let _ = self.flush();
        }
        if let Some(e) = &error {
            self.emit(Event::ConnectionError {
                epoch: self.epoch,
                error: e.clone(),
            });
        }
        if self.closing.is_some() {
            self.emit(Event::ConnectionClose { epoch: self.epoch });
            return SessionEnd::Closed;
        }
        SessionEnd::Failed {
            error: Some(error.unwrap_or_else(|| {
                ErrorInfo::new("amqp:connection:forced", "the server closed the connection")
            })),
            was_open: self.link_open,
        }
    }
}

fn protocol_error(description: String) -> ErrorInfo {
    ErrorInfo::new(COND_PROTOCOL, description)
}

fn codec_error(e: CodecError) -> ErrorInfo {
    let cond = match e {
        CodecError::FrameTooLarge { .. } => COND_FRAME_SIZE,
        CodecError::Malformed(_) => COND_DECODE,
        _ => COND_PROTOCOL,
    };
    ErrorInfo::new(cond, e.to_string())
}

fn io_error(e: std::io::Error) -> ErrorInfo {
    ErrorInfo::new(COND_IO, format!("connection lost: {e}"))
}

fn eof_error() -> ErrorInfo {
    ErrorInfo::new(COND_IO, "connection closed by the server")
}

fn sasl_name(f: &sasl::Frame) -> &'static str {
    match f {
        sasl::Frame::Mechanisms(_) => "sasl-mechanisms",
        sasl::Frame::Init(_) => "sasl-init",
        sasl::Frame::Challenge(_) => "sasl-challenge",
        sasl::Frame::Response(_) => "sasl-response",
        sasl::Frame::Outcome(_) => "sasl-outcome",
    }
}

async fn read_header(rd: &mut ReadHalf<Box<dyn Io>>) -> Result<[u8; 8], ErrorInfo> {
    let mut header = [0u8; 8];
    rd.read_exact(&mut header).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            eof_error()
        } else {
            io_error(e)
        }
    })?;
    Ok(header)
}

async fn write_loop(
    mut wr: tokio::io::WriteHalf<Box<dyn Io>>,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
) -> Result<(), String> {
    while let Some(first) = rx.recv().await {
        wr.write_all(&first).await.map_err(|e| e.to_string())?;
        while let Ok(more) = rx.try_recv() {
            wr.write_all(&more).await.map_err(|e| e.to_string())?;
        }
        wr.flush().await.map_err(|e| e.to_string())?;
    }
    let _ = wr.shutdown().await;
    Ok(())
}
