//! One transport connection, from dial to goodbye: the handshake, then the loop that reads
//! frames, hands deliveries over in batches, sends what the owner settled as ranged
//! dispositions, keeps the connection alive and bounds every wait. The link's own logic is in
//! `link/` (no I/O); this loop routes frames to it (`frames.rs`) and sends what it asks for. The
//! waits of getting connected are in `connect.rs`, the pacing of reads and settlements at the
//! platform's rate in `pacing.rs`.
//!
//! A connection is worth keeping: the platform counts every connection attempt of a consumer
//! group against one budget. A peer's harmless slip (a frame for a handle or channel that is not
//! ours, a second open or begin) is noted under `DEBUG=aliyun-iot-amqp:frames` and ignored; a
//! detach of our receiver, or the end of our session, is answered and the receiver attached
//! again on the same connection after a backoff. Only a closed connection, a failure that would
//! lose or corrupt data, or a re-attach that keeps failing ends it.

use std::sync::Arc;
use std::time::Duration;

use fe2o3_amqp::types::definitions::Handle;
use fe2o3_amqp::types::performatives::{Close, Flow};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_rustls::rustls::ClientConfig;

use crate::acks::Acks;
use crate::backoff::Backoff;
use crate::codec::{self, Incoming};
use crate::config::{Config, CredentialSource, ReceiverConfig};
use crate::credit::Grant;
use crate::error::Error;
use crate::handshake::{self, INCOMING_WINDOW};
use crate::link::{CloseReceiver, Link, HANDLE};
use crate::model::{Command, Delivery, Event, EventSink};
use crate::reader::{eof_error, FrameReader};
use crate::settle::{coalesce, Outcome};
use crate::sign::Credentials;
use crate::trace::Trace;
use crate::writer::Outbox;

mod connect;
mod frames;
mod pacing;

use connect::racing;

/// The longest wait for the server's close after ours with an error.
const LINGER: Duration = Duration::from_secs(2);

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
    /// Settlements from the owner (taken at `ack_flush_at`, or at once when needed).
    acks: &'a Acks,
    ack_flush_at: Option<Instant>,
    /// Reading waits until then (data trickles in: `read_delay`).
    read_resume_at: Option<Instant>,
    /// When the last read that brought deliveries was.
    delivered_read_at: Option<Instant>,
    /// The coming read is the first after a pause of reading.
    resumed: bool,
    /// Deliveries handed over on this connection.
    handed: u64,
    trace: Trace,
    pub link: Option<Link>,
    outbox: Outbox,
    last_read: Instant,
    remote_idle: Option<Duration>,
    opened: bool,
    begun: bool,
    /// The channel the server's half of our session speaks on (from its Begin).
    remote_channel: Option<u16>,
    /// The receiver is attached now.
    link_open: bool,
    /// The receiver was attached once on this connection (the handshake is over; the backoff
    /// of the supervisor starts afresh).
    attached_once: bool,
    /// The last attachment number used (across the connections of a consumer).
    attach_seq: u32,
    /// When to attach the receiver again after the server took it away.
    reattach_at: Option<Instant>,
    /// Until when an attach sent after the handshake may wait for its answer.
    attach_deadline: Option<Instant>,
    reattach_backoff: Backoff,
    /// Re-attaches in a row that ended before any message arrived.
    failed_reattaches: u32,
    next_incoming_id: u32,
    pending_settles: Vec<(u32, Outcome)>,
    closing: Option<Instant>,
    batch: Vec<Delivery>,
    /// The attachment the deliveries in `batch` came on.
    batch_attach: u32,
    /// The server's certificate chain (DER, leaf first), reported with the connection's open.
    peer_certificates: Vec<Vec<u8>>,
}

impl<'a> Session<'a> {
    pub fn new(
        cfg: &'a Config,
        epoch: u64,
        receiver: Option<ReceiverConfig>,
        sink: &'a dyn EventSink,
        acks: &'a Acks,
        attach_seq: u32,
    ) -> Self {
        let trace =
            Trace::new(cfg.debug_frames, &cfg.container_id, epoch).with_log(cfg.frame_log.clone());
        Session {
            cfg,
            epoch,
            sink,
            acks,
            ack_flush_at: None,
            read_resume_at: None,
            delivered_read_at: None,
            resumed: false,
            handed: 0,
            outbox: Outbox::new(trace.clone()),
            trace,
            link: receiver.map(Link::new),
            last_read: Instant::now(),
            remote_idle: None,
            opened: false,
            begun: false,
            remote_channel: None,
            link_open: false,
            attached_once: false,
            attach_seq,
            reattach_at: None,
            attach_deadline: None,
            reattach_backoff: Backoff::new(&cfg.reconnect),
            failed_reattaches: 0,
            next_incoming_id: 0,
            pending_settles: Vec::new(),
            closing: None,
            batch: Vec::new(),
            batch_attach: 0,
            peer_certificates: Vec::new(),
        }
    }

    /// The last attachment number used: the next connection goes on from it.
    pub fn attach_seq(&self) -> u32 {
        self.attach_seq
    }

    /// A liberally taken slip of the peer's, for the frames log.
    fn note(&self, what: &str) {
        self.trace.frame("<-", &format_args!("{what}"));
    }

    /// Writes out (and clears) the link's notes.
    fn drain_notes(&mut self) {
        if let Some(link) = self.link.as_mut() {
            if !link.notes.is_empty() {
                let notes = std::mem::take(&mut link.notes);
                for n in &notes {
                    self.trace.frame("<-", &format_args!("{n}"));
                }
            }
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
            self.handed += deliveries.len() as u64;
            self.sink.emit(Event::Messages {
                epoch: self.epoch,
                attach: self.batch_attach,
                deliveries,
            });
        }
    }

    fn failed(&self, error: Error) -> Ending {
        Ending::Failed {
            error: Some(error),
            was_open: self.attached_once,
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
        let dialed = match racing(handshake::dial(self.cfg, tls), rx, deadline, &mut stash).await {
            None => return Ending::Closed,
            Some(Ok(Ok(d))) => d,
            Some(Ok(Err(e))) => return self.failed(e),
            Some(Err(_)) => return self.failed(self.timeout_error("connecting and TLS")),
        };
        // Node calls checkServerIdentity once the chain is verified, under rejectUnauthorized:
        // false too (the owner then ignores its verdict).
        if tls.is_some()
            && self.cfg.tls.external_identity_check
            && (self.cfg.tls.reject_unauthorized
                || crate::tls::chain_verified(&self.cfg.tls, &dialed.peer_certificates))
        {
            if let Err(end) = self
                .identity(dialed.peer_certificates.clone(), rx, deadline, &mut stash)
                .await
            {
                return end;
            }
        }
        self.peer_certificates = dialed.peer_certificates;
        let connected = {
            let trace = self.trace.clone();
            let setup = handshake::setup(
                self.cfg,
                dialed.io,
                dialed.wakeups,
                creds.as_ref(),
                &mut self.outbox,
                &trace,
            );
            racing(setup, rx, deadline, &mut stash).await
        };
        let mut reader = match connected {
            None => return Ending::Closed,
            Some(Ok(Ok(reader))) => reader,
            Some(Ok(Err(e))) => {
                if e.is_auth_failure() {
                    self.emit(Event::ConnectionError {
                        epoch: self.epoch,
                        error: e.clone(),
                    });
                }
                return self.failed(e);
            }
            Some(Err(_)) => return self.failed(self.timeout_error("connecting, TLS and SASL")),
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
                            Err(e) => Err(self.failed(e)),
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
        let next = self.attach_seq.wrapping_add(1);
        if let Some(attach) = self
            .link
            .as_mut()
            .and_then(|l| l.attach(max_message_size, next))
        {
            self.attach_seq = next;
            self.outbox.frame(&attach)?;
            if self.attached_once {
                // A re-attach: its answer is bounded as the first one was by the handshake.
                self.attach_deadline = Some(Instant::now() + self.cfg.connect_timeout);
            }
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
                // What the owner settled before closing goes out first.
                self.acks.set_urgent(true);
                self.take_acks()?;
                if let Some(link) = self.link.as_mut() {
                    // Closing the connection closes the link; forget it so no reconnect attaches it.
                    link.closing();
                }
                self.send_close(None)?;
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
                // What the owner settled before closing the receiver goes out first.
                self.take_acks()?;
                if let Some(link) = self.link.as_mut() {
                    match link.detach() {
                        CloseReceiver::Send(detach) => self.outbox.frame(&detach)?,
                        CloseReceiver::Wait => {}
                        CloseReceiver::Forget => self.link = None,
                    }
                }
            }
            // Late answers for an attempt already made.
            Some(Command::Credentials { .. } | Command::IdentityVerdict { .. }) => {}
            Some(Command::SetCreditWindow(n)) => {
                let grant = self.link.as_mut().and_then(|l| l.set_window(n));
                self.send_grant(grant)?;
            }
        }
        Ok(Step::Continue)
    }

    /// After our close with an error, while the server may still be sending: reads on, and
    /// discards, until the server's close, the end of its stream, or `close_timeout` (at most
    /// [`LINGER`]). A socket dropped with unread data in it resets the connection, and the reset
    /// can cost the server the close that says why.
    async fn linger(&mut self, reader: &mut FrameReader) {
        self.read_resume_at = None;
        reader.resume();
        let deadline = Instant::now() + self.cfg.close_timeout.min(LINGER);
        loop {
            loop {
                match reader.take_frame() {
                    Ok(Some(frame)) => {
                        if matches!(codec::decode_amqp(frame), Ok(Incoming::Close(_))) {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
            match tokio::time::timeout_at(deadline, reader.fill()).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
        }
    }

    async fn main_loop(
        &mut self,
        reader: &mut FrameReader,
        rx: &mut mpsc::UnboundedReceiver<Command>,
        handshake_deadline: Instant,
    ) -> Ending {
        self.last_read = Instant::now();
        let local_idle = self.cfg.idle_time_out;
        let acks = self.acks;
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
                    if !matches!(e, Error::Io(_) | Error::Idle(_) | Error::Timeout(_)) {
                        self.linger(reader).await;
                    }
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
            let handshake_at = if self.attached_once || (self.link.is_none() && self.begun) {
                far
            } else {
                handshake_deadline
            };
            let close_at = self.closing.unwrap_or(far);
            let reattach_at = self.reattach_at.unwrap_or(far);
            let attach_deadline = self.attach_deadline.unwrap_or(far);
            let ack_at = self.ack_flush_at.unwrap_or(far);
            let read_at = self.read_resume_at.unwrap_or(far);
            let reading = self.read_resume_at.is_none();
            let next_timer = heartbeat_at
                .min(dead_at)
                .min(handshake_at)
                .min(close_at)
                .min(reattach_at)
                .min(attach_deadline)
                .min(ack_at)
                .min(read_at);

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
                _ = acks.notified() => self.on_acks_notified(),
                more = reader.fill(), if reading => match more {
                    Ok(0) => Err(eof_error()),
                    Ok(n) => {
                        self.last_read = Instant::now();
                        let handed = self.handed;
                        let r = self.process_frames(reader);
                        let resumed = std::mem::take(&mut self.resumed);
                        if self.handed > handed {
                            let delivered = self.handed - handed;
                            r.and_then(|s| {
                                self.pace_reads(reader, n, delivered, resumed).map(|_| s)
                            })
                        } else {
                            r
                        }
                    }
                    Err(e) => Err(e),
                },
                _ = sleep_until(next_timer) => {
                    let now = Instant::now();
                    if now >= close_at {
                        return Ending::Closed;
                    } else if now >= handshake_at {
                        Err(self.timeout_error("opening the connection and attaching the receiver"))
                    } else if now >= attach_deadline {
                        Err(self.timeout_error("attaching the receiver again"))
                    } else if now >= reattach_at {
                        self.reattach().and_then(|_| self.outbox.flush()).map(|_| Step::Continue)
                    } else if now >= dead_at {
                        Err(Error::Idle(format!(
                            "no frame from the server for {} ms (twice the idle time-out): connection presumed dead",
                            self.last_read.elapsed().as_millis()
                        )))
                    } else if now >= ack_at {
                        self.take_acks().map(|_| Step::Continue)
                    } else if now >= read_at {
                        self.read_resume_at = None;
                        self.resumed = true;
                        reader.resume();
                        Ok(Step::Continue)
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
}
