//! One transport connection, from dial to goodbye: the handshake, then the loop that reads
//! frames, hands deliveries over in batches, sends what the owner settled as ranged
//! dispositions, keeps the connection alive and bounds every wait. The link's own logic is in
//! `link.rs`; this file routes frames to it and sends what it asks for.

use std::sync::Arc;
use std::time::Duration;

use fe2o3_amqp::types::definitions::Handle;
use fe2o3_amqp::types::performatives::{Begin, Close, End, Flow};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_rustls::rustls::ClientConfig;

use crate::codec::{self, Incoming};
use crate::config::{Config, CredentialSource, ReceiverConfig};
use crate::credit::Grant;
use crate::error::Error;
use crate::handshake::{self, INCOMING_WINDOW};
use crate::link::{CloseReceiver, Link, HANDLE};
use crate::model::{Command, Delivery, Event, EventSink, RemoteOpen};
use crate::reader::{eof_error, FrameReader};
use crate::settle::{coalesce, Outcome};
use crate::sign::Credentials;
use crate::trace::Trace;
use crate::writer::{Outbox, CHANNEL};

/// How one transport connection ended.
pub enum Ending {
    /// `close()` was asked for and done.
    Closed,
    /// The transport failed or the server ended it.
    Failed {
        error: Option<Error>,
        /// The connection got as far as an open link (resets the backoff).
        was_open: bool,
    },
}

/// Whether to go on after a frame or a command.
enum Step {
    Continue,
    End(Ending),
}

/// One transport connection and the session and link on it.
pub struct Session<'a> {
    cfg: &'a Config,
    epoch: u64,
    sink: &'a dyn EventSink,
    trace: Trace,
    pub link: Option<Link>,
    outbox: Outbox,
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

impl<'a> Session<'a> {
    pub fn new(
        cfg: &'a Config,
        epoch: u64,
        receiver: Option<ReceiverConfig>,
        sink: &'a dyn EventSink,
    ) -> Self {
        let trace = Trace::new(cfg.debug_frames, &cfg.container_id, epoch).with_log(cfg.frame_log.clone());
        Session {
            cfg,
            epoch,
            sink,
            outbox: Outbox::new(trace.clone()),
            trace,
            link: receiver.map(Link::new),
            last_read: Instant::now(),
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
        self.hand_over();
        self.sink.emit(event);
    }

    /// Hands the deliveries read so far to the owner, in one batch.
    fn hand_over(&mut self) {
        if !self.batch.is_empty() {
            let deliveries = std::mem::take(&mut self.batch);
            self.sink.emit(Event::Messages {
                epoch: self.epoch,
                deliveries,
            });
        }
    }

    fn failed(&self, error: Error) -> Ending {
        Ending::Failed {
            error: Some(error),
            was_open: self.link_open,
        }
    }

    fn timeout_error(&self, what: &str) -> Error {
        Error::Timeout(format!(
            "{what} with {}:{} did not complete within {} ms",
            self.cfg.host,
            self.cfg.port,
            self.cfg.connect_timeout.as_millis()
        ))
    }

    /// Runs the connection to its end. Commands that arrive while connecting wait; `close()`
    /// ends the attempt at once.
    pub async fn run(
        &mut self,
        tls: Option<&Arc<ClientConfig>>,
        rx: &mut mpsc::UnboundedReceiver<Command>,
    ) -> Ending {
        let end = self.run_inner(tls, rx).await;
        self.outbox.finish().await;
        end
    }

    async fn run_inner(
        &mut self,
        tls: Option<&Arc<ClientConfig>>,
        rx: &mut mpsc::UnboundedReceiver<Command>,
    ) -> Ending {
        let deadline = Instant::now() + self.cfg.connect_timeout;
        let mut stash = Vec::new();
        let creds = match self.credentials(rx, deadline, &mut stash).await {
            Ok(c) => c,
            Err(end) => return end,
        };
        let connected = {
            let trace = self.trace.clone();
            let setup = handshake::connect(self.cfg, tls, creds.as_ref(), &mut self.outbox, &trace);
            tokio::pin!(setup);
            loop {
                tokio::select! {
                    r = tokio::time::timeout_at(deadline, &mut setup) => break r,
                    cmd = rx.recv() => match cmd {
                        None | Some(Command::Close) => return Ending::Closed,
                        Some(cmd) => stash.push(cmd),
                    },
                }
            }
        };
        let mut reader = match connected {
            Ok(Ok(reader)) => reader,
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
        if let Err(e) = self.send_open() {
            return self.failed(e);
        }
        for cmd in stash {
            if let Err(e) = self.on_command(Some(cmd)) {
                return self.failed(e);
            }
        }
        if let Err(e) = self.flush_settles() {
            return self.failed(e);
        }
        self.main_loop(&mut reader, rx, deadline).await
    }

    /// Credentials for this attempt only: signed with a fresh timestamp, or asked of the owner.
    async fn credentials(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Command>,
        deadline: Instant,
        stash: &mut Vec<Command>,
    ) -> Result<Option<Credentials>, Ending> {
        let source = match &self.cfg.credentials {
            CredentialSource::External => None,
            source => Some(source.resolve()),
        };
        if let Some(resolved) = source {
            return resolved.map_err(|e| self.failed(e));
        }
        self.emit(Event::CredentialsNeeded { epoch: self.epoch });
        loop {
            tokio::select! {
                _ = sleep_until(deadline) => {
                    return Err(self.failed(self.timeout_error("obtaining credentials")));
                }
                cmd = rx.recv() => match cmd {
                    None | Some(Command::Close) => return Err(Ending::Closed),
                    Some(Command::Credentials { epoch, result }) if epoch == self.epoch => {
                        return match result {
                            Ok(c) => Ok(Some(c)),
                            Err(e) => Err(self.failed(Error::Config(format!("credentials: {e}")))),
                        };
                    }
                    Some(Command::Credentials { .. }) => {}
                    Some(cmd) => stash.push(cmd),
                },
            }
        }
    }

    /// Open, begin and (if a receiver is wanted) attach, in one write.
    fn send_open(&mut self) -> Result<(), Error> {
        self.outbox.frame(&handshake::open(self.cfg))?;
        self.outbox.frame(&handshake::begin())?;
        self.send_attach()?;
        self.outbox.flush()
    }

    fn send_attach(&mut self) -> Result<(), Error> {
        let max_message_size = self.cfg.max_message_size;
        if let Some(attach) = self.link.as_mut().and_then(|l| l.attach(max_message_size)) {
            self.outbox.frame(&attach)?;
        }
        Ok(())
    }

    /// Sends a grant of the link's as a flow.
    fn send_grant(&mut self, grant: Option<Grant>) -> Result<(), Error> {
        let Some(g) = grant else {
            return Ok(());
        };
        self.outbox.frame(&Flow {
            next_incoming_id: Some(self.next_incoming_id),
            incoming_window: INCOMING_WINDOW,
            next_outgoing_id: 0,
            outgoing_window: INCOMING_WINDOW,
            handle: Some(Handle(HANDLE)),
            delivery_count: Some(g.delivery_count),
            link_credit: Some(g.link_credit),
            available: None,
            drain: false,
            echo: false,
            properties: None,
        })
    }

    fn refill_credit(&mut self, force: bool) -> Result<(), Error> {
        let grant = self.link.as_mut().and_then(|l| l.grant(force));
        self.send_grant(grant)
    }

    fn send_close(&mut self, error: Option<Error>) -> Result<(), Error> {
        if self.closing.is_some() {
            return Ok(());
        }
        self.closing = Some(Instant::now() + self.cfg.close_timeout);
        self.outbox.frame(&Close {
            error: error.map(|e| e.to_amqp()),
        })?;
        self.outbox.flush()
    }

    /// Sends what the owner settled, as ranged dispositions, then tops up credit.
    fn flush_settles(&mut self) -> Result<(), Error> {
        if !self.pending_settles.is_empty() {
            let settles = std::mem::take(&mut self.pending_settles);
            if let Some(link) = self.link.as_mut() {
                link.settled(settles.len() as u32);
            }
            if self.closing.is_none() {
                for d in coalesce(settles) {
                    self.outbox.frame(&d)?;
                }
            }
        }
        if self.closing.is_none() {
            self.refill_credit(false)?;
        }
        self.outbox.flush()
    }

    fn on_command(&mut self, cmd: Option<Command>) -> Result<Step, Error> {
        match cmd {
            None | Some(Command::Close) => {
                self.flush_settles()?;
                if let Some(link) = self.link.as_mut() {
                    // Closing the connection closes the link; forget it so no reconnect attaches it.
                    link.closing();
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
                    match link.detach() {
                        CloseReceiver::Send(detach) => self.outbox.frame(&detach)?,
                        CloseReceiver::Wait => {}
                        CloseReceiver::Forget => self.link = None,
                    }
                }
            }
            Some(Command::Credentials { .. }) => {} // a late answer for an attempt already made
            Some(Command::SetCreditWindow(n)) => {
                let grant = self.link.as_mut().and_then(|l| l.set_window(n));
                self.send_grant(grant)?;
            }
        }
        Ok(Step::Continue)
    }

    async fn main_loop(
        &mut self,
        reader: &mut FrameReader,
        rx: &mut mpsc::UnboundedReceiver<Command>,
        handshake_deadline: Instant,
    ) -> Ending {
        self.last_read = Instant::now();
        let local_idle = self.cfg.idle_time_out;
        // The server's first frames may have come with its protocol header.
        let mut step = self.process_frames(reader);
        loop {
            match step {
                Ok(Step::Continue) => {}
                Ok(Step::End(end)) => return end,
                Err(e) => {
                    if self.closing.is_some() {
                        // Already saying goodbye: a dropped transport completes the close.
                        return Ending::Closed;
                    }
                    // Tell the server why, where the transport still allows it.
                    let _ = self.send_close(Some(e.clone()));
                    return self.failed(e);
                }
            }
            // Timers: heartbeat at half the smaller idle time-out, dead peer after twice ours,
            // the handshake deadline until the link is open, and the close deadline.
            let heartbeat_every = match (local_idle, self.remote_idle) {
                (Some(l), Some(r)) => Some(l.min(r) / 2),
                (Some(l), None) => Some(l / 2),
                (None, Some(r)) => Some(r / 2),
                (None, None) => None,
            };
            let far = Instant::now() + Duration::from_secs(86_400);
            let heartbeat_at = heartbeat_every.map_or(far, |h| self.outbox.last_write() + h);
            let dead_at = local_idle.map_or(far, |l| self.last_read + l * 2);
            let handshake_at = if self.link_open || (self.link.is_none() && self.begun) {
                far
            } else {
                handshake_deadline
            };
            let close_at = self.closing.unwrap_or(far);
            let next_timer = heartbeat_at.min(dead_at).min(handshake_at).min(close_at);

            step = tokio::select! {
                biased;
                cmd = rx.recv() => {
                    let mut r = self.on_command(cmd);
                    // Drain whatever else is queued, so settles coalesce into few frames.
                    while let (Ok(Step::Continue), Ok(cmd)) = (&r, rx.try_recv()) {
                        r = self.on_command(Some(cmd));
                    }
                    r.and_then(|f| self.flush_settles().map(|_| f))
                }
                more = reader.fill() => match more {
                    Ok(true) => {
                        self.last_read = Instant::now();
                        self.process_frames(reader)
                    }
                    Ok(false) => Err(eof_error()),
                    Err(e) => Err(e),
                },
                _ = sleep_until(next_timer) => {
                    let now = Instant::now();
                    if now >= close_at {
                        return Ending::Closed;
                    } else if now >= handshake_at {
                        Err(self.timeout_error("opening the connection and attaching the receiver"))
                    } else if now >= dead_at {
                        Err(Error::Idle(format!(
                            "no frame from the server for {} ms (twice the idle time-out): connection presumed dead",
                            self.last_read.elapsed().as_millis()
                        )))
                    } else if now >= heartbeat_at {
                        self.outbox.heartbeat();
                        self.outbox.flush().map(|_| Step::Continue)
                    } else {
                        Ok(Step::Continue)
                    }
                }
            };
        }
    }

    /// Handles every complete frame in the read buffer, then hands the deliveries over at once.
    fn process_frames(&mut self, reader: &mut FrameReader) -> Result<Step, Error> {
        let mut result = Ok(Step::Continue);
        loop {
            let frame = match reader.take_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let channel = frame.channel;
            match codec::decode_amqp(frame)
                .map_err(codec::to_error)
                .and_then(|incoming| self.on_frame(channel, incoming))
            {
                Ok(Step::Continue) => {}
                other => {
                    result = other;
                    break;
                }
            }
        }
        self.hand_over();
        if matches!(result, Ok(Step::Continue)) {
            self.outbox.flush()?;
        }
        result
    }

    fn trace_incoming(&self, incoming: &Incoming) {
        if !self.trace.enabled() {
            return;
        }
        match incoming {
            Incoming::Transfer(t, payload) => self.trace.frame(
                "<-",
                &format_args!(
                    "Transfer {{ delivery_id: {:?}, more: {}, settled: {:?}, payload: {} bytes }}",
                    t.delivery_id,
                    t.more,
                    t.settled,
                    payload.len()
                ),
            ),
            other => self.trace.frame("<-", other),
        }
    }

    fn on_frame(&mut self, channel: u16, incoming: Incoming) -> Result<Step, Error> {
        self.trace_incoming(&incoming);
        if !self.opened && !matches!(incoming, Incoming::Open(_) | Incoming::Close(_)) {
            return Err(Error::Protocol(format!(
                "{} frame before the server's open",
                incoming.name()
            )));
        }
        let session_frame = !matches!(
            incoming,
            Incoming::Empty | Incoming::Open(_) | Incoming::Close(_) | Incoming::Begin(_)
        );
        if session_frame && self.remote_channel != Some(channel) {
            return Err(Error::Protocol(format!(
                "{} frame on channel {channel}, where the server began no session of ours",
                incoming.name()
            )));
        }
        match incoming {
            Incoming::Empty => {}
            Incoming::Open(open) => {
                if self.opened {
                    return Err(Error::Protocol("second open frame".into()));
                }
                self.opened = true;
                // The peer's max-frame-size is not tracked: everything we send (open, begin,
                // attach, flow, disposition, detach, close) stays under the 512 bytes every
                // peer accepts.
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
            Incoming::Begin(begin) => self.on_begin(channel, begin)?,
            Incoming::Attach(attach) => {
                let Some(link) = self.link.as_mut() else {
                    return Err(Error::Protocol("attach for a link we did not open".into()));
                };
                let remote_source = link.on_attach(&attach)?;
                self.link_open = true;
                self.emit(Event::ReceiverOpen {
                    epoch: self.epoch,
                    remote_source,
                });
                self.refill_credit(true)?;
            }
            Incoming::Flow(flow) => {
                // A session-level flow: our incoming window is effectively unbounded.
                let Some(handle) = flow.handle else {
                    return Ok(Step::Continue);
                };
                let Some(link) = self.link.as_mut() else {
                    return Err(Error::Protocol("flow for a link we do not have".into()));
                };
                let echo = link.on_flow(handle.0, flow.delivery_count, flow.echo)?;
                self.refill_credit(echo)?;
            }
            Incoming::Transfer(transfer, payload) => {
                self.next_incoming_id = self.next_incoming_id.wrapping_add(1);
                let max_message_size = self.cfg.max_message_size;
                let Some(link) = self.link.as_mut() else {
                    return Err(Error::Protocol("transfer with no link attached".into()));
                };
                if let Some(delivery) = link.on_transfer(&transfer, payload, max_message_size)? {
                    self.batch.push(delivery);
                }
            }
            // The server settling on its side needs nothing from us: we settle first.
            Incoming::Disposition(_) => {}
            Incoming::Detach(detach) => self.on_detach(detach)?,
            Incoming::End(end) => {
                let error = end.error.as_ref().map(Error::from_amqp);
                if self.closing.is_none() {
                    self.outbox.frame(&End { error: None })?;
                }
                return Err(
                    error.unwrap_or_else(|| Error::Protocol("the server ended the session".into()))
                );
            }
            Incoming::Close(close) => return Ok(Step::End(self.on_close(close))),
        }
        Ok(Step::Continue)
    }

    fn on_begin(&mut self, channel: u16, begin: Begin) -> Result<(), Error> {
        if self.begun {
            return Err(Error::Protocol("second begin frame".into()));
        }
        if begin.remote_channel != Some(CHANNEL) {
            return Err(Error::Protocol(
                "server began a session we did not ask for".into(),
            ));
        }
        self.begun = true;
        self.remote_channel = Some(channel);
        self.next_incoming_id = begin.next_outgoing_id;
        if self.closing.is_none() {
            self.send_attach()?;
        }
        Ok(())
    }

    fn on_detach(&mut self, detach: fe2o3_amqp::types::performatives::Detach) -> Result<(), Error> {
        let Some(link) = self.link.as_mut() else {
            return Err(Error::Protocol("detach for a link we do not have".into()));
        };
        let detached = link.on_detach(&detach)?;
        if let Some(reply) = &detached.reply {
            if self.closing.is_none() {
                self.outbox.frame(reply)?;
            }
        }
        // The link is gone: deliveries not yet settled will be redelivered by the server. If the
        // server took it away, keep its configuration so that the next connection re-attaches it.
        if detached.requested {
            self.link = None;
        }
        self.link_open = false;
        self.emit(Event::ReceiverClose {
            epoch: self.epoch,
            error: detached.error.clone(),
        });
        if !detached.requested {
            // The server took the link away: a new connection re-attaches it.
            return Err(detached
                .error
                .unwrap_or_else(|| Error::Protocol("the server detached the receiver".into())));
        }
        Ok(())
    }

    fn on_close(&mut self, close: Close) -> Ending {
        let error = close.error.as_ref().map(Error::from_amqp);
        if self.closing.is_none() {
            let _ = self.outbox.frame(&Close { error: None });
            let _ = self.outbox.flush();
        }
        if let Some(e) = &error {
            self.emit(Event::ConnectionError {
                epoch: self.epoch,
                error: e.clone(),
            });
        }
        if self.closing.is_some() {
            self.emit(Event::ConnectionClose { epoch: self.epoch });
            return Ending::Closed;
        }
        Ending::Failed {
            error: Some(error.unwrap_or_else(|| Error::Remote {
                condition: crate::error::condition::CONNECTION_FORCED.into(),
                description: "the server closed the connection".into(),
            })),
            was_open: self.link_open,
        }
    }
}
