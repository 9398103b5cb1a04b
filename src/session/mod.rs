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
//! delivery that cannot be read costs only itself (`unreadable.rs`); a detach of our receiver,
//! or the end of our session, is answered and the receiver attached again on the same
//! connection after a backoff (`reattach.rs`). Only a closed connection, a failure that would
//! lose or corrupt data, or a re-attach that keeps failing ends it; and a connection that ends
//! tells the supervisor whether it worked, so that a failure that recurs on every connection
//! never resets the backoff.

use std::sync::Arc;
use std::time::Duration;

use fe2o3_amqp::types::definitions::Handle;
use fe2o3_amqp::types::performatives::Flow;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_rustls::rustls::ClientConfig;

use crate::acks::Acks;
use crate::backoff::Backoff;
use crate::config::{Config, ReceiverConfig};
use crate::credit::Grant;
use crate::error::Error;
use crate::handshake::{self, INCOMING_WINDOW};
use crate::link::{Link, HANDLE};
use crate::model::{Command, Delivery, Event, EventSink};
use crate::reader::{eof_error, FrameReader};
use crate::settle::{coalesce, Outcome};
use crate::trace::Trace;
use crate::writer::Outbox;

mod closing;
mod commands;
mod connect;
mod frames;
mod pacing;
mod reattach;
mod unreadable;

use connect::racing;

/// Bounds of `max_reconnect_delay` as the pace of retrying what keeps failing ([`Session::retry_pace`]).
const PACE_MIN: Duration = Duration::from_secs(1);
const PACE_MAX: Duration = Duration::from_secs(60);

/// How one transport connection ended.
pub enum Ending {
    /// `close()` was asked for and done.
    Closed,
    /// The transport failed or the server ended it.
    Failed {
        error: Option<Error>,
        /// The connection did useful work (a delivery settled) or stayed open a while (see
        /// `Session::retry_pace`), and did not end because re-attaching kept failing: the
        /// backoff starts afresh.
        worked: bool,
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
    /// A paced read (data trickles in) waits at most until then: `read_delay`.
    read_resume_at: Option<Instant>,
    /// When the last read that brought deliveries was.
    delivered_read_at: Option<Instant>,
    /// The coming read is the first after a paced read's timer ran out.
    resumed: bool,
    /// The paced read's bound passed with the sender seemingly waiting for an acknowledgement;
    /// one was sent, and the read waits a little longer for what it releases (`pacing.rs`).
    nudged: bool,
    /// The sender waits for acknowledgements before it sends more (`pacing.rs`): paced reads
    /// acknowledge early enough for what that releases to come within `read_delay`.
    ack_clocked: bool,
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
    /// The receiver was attached once on this connection (the handshake is over).
    attached_once: bool,
    /// When the server's open came.
    opened_at: Option<Instant>,
    /// A delivery was settled on this connection (by us, or by the sender before sending it).
    settled_any: bool,
    /// The connection ends because re-attaching kept failing: it did not work, however long it
    /// was open.
    gave_up: bool,
    /// When the current attachment was answered by the server.
    attached_at: Option<Instant>,
    /// The last attachment number used (across the connections of a consumer).
    attach_seq: u32,
    /// When to attach the receiver again after the server took it away.
    reattach_at: Option<Instant>,
    /// Until when an attach sent after the handshake may wait for its answer.
    attach_deadline: Option<Instant>,
    /// The backoff between re-attaches, kept by the supervisor across connections: a receiver
    /// refused on every connection is not tried afresh on each.
    reattach_backoff: &'a mut Backoff,
    /// Attachments in a row refused by the server (detached before, with or right after its
    /// attach reply, nothing delivered).
    failed_reattaches: u32,
    /// Deliveries that could not be read, held unsettled until their release (oldest first).
    unreadable: std::collections::VecDeque<unreadable::Held>,
    /// Transfers beyond the credit on the current attachment, as reported to the owner.
    beyond_reported: u64,
    /// Transfers beyond the credit not reported yet.
    beyond_unreported: u64,
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
        reattach_backoff: &'a mut Backoff,
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
            nudged: false,
            ack_clocked: false,
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
            opened_at: None,
            settled_any: false,
            gave_up: false,
            attached_at: None,
            attach_seq,
            reattach_at: None,
            attach_deadline: None,
            reattach_backoff,
            failed_reattaches: 0,
            unreadable: std::collections::VecDeque::new(),
            beyond_reported: 0,
            beyond_unreported: 0,
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
            worked: self.worked(),
        }
    }

    /// The pace of retrying what keeps failing: `max_reconnect_delay`, within 1 and 60 s. A
    /// connection open this long counts as having worked, so that a failure that recurs on every
    /// connection costs at most one attempt per this time, however late in the connection it
    /// comes; a delivery that cannot be read is held this long before it is released.
    fn retry_pace(&self) -> Duration {
        self.cfg.reconnect.max.clamp(PACE_MIN, PACE_MAX)
    }

    /// Whether this connection worked: it settled a delivery, or stayed open at least
    /// [`Session::retry_pace`]; and it does not end because re-attaching kept failing. Getting as
    /// far as an attach is not enough: a failure that recurs on every connection right after it
    /// would reconnect at the initial delay forever.
    fn worked(&self) -> bool {
        let pace = self.retry_pace();
        !self.gave_up && (self.settled_any || self.opened_at.is_some_and(|t| t.elapsed() >= pace))
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

    /// Sends what the owner settled, as ranged dispositions, then tops up credit.
    fn flush_settles(&mut self) -> Result<(), Error> {
        self.write_settles()?;
        if self.closing.is_none() {
            self.refill_credit(false)?;
        }
        self.outbox.flush()
    }

    /// Writes what the owner settled as ranged dispositions (not flushed), unless closing.
    fn write_settles(&mut self) -> Result<(), Error> {
        if self.pending_settles.is_empty() {
            return Ok(());
        }
        let settles = std::mem::take(&mut self.pending_settles);
        if let Some(link) = self.link.as_mut() {
            link.settled(settles.len() as u32);
        }
        if self.closing.is_none() {
            self.settled_any = true;
            for d in coalesce(settles) {
                self.outbox.frame(&d)?;
            }
        }
        Ok(())
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
                    self.settle_before_close(&e);
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
            let release_at = self.unreadable.front().map_or(far, |u| u.release_at);
            let read_at = self.read_resume_at.unwrap_or(far);
            let next_timer = heartbeat_at
                .min(dead_at)
                .min(handshake_at)
                .min(close_at)
                .min(reattach_at)
                .min(attach_deadline)
                .min(ack_at)
                .min(release_at)
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
                more = reader.fill() => match more {
                    Ok(0) => Err(eof_error()),
                    Ok(n) => {
                        self.last_read = Instant::now();
                        // A paced read woken by its low-water mark: the sender sent the whole
                        // window unprompted.
                        if self.read_resume_at.is_some() && !self.nudged {
                            self.ack_clocked = false;
                        }
                        self.nudged = false;
                        let handed = self.handed;
                        let r = self.process_frames(reader);
                        // A paced read (woken by its low-water mark or after its timer) keeps
                        // pacing while the deliveries keep coming.
                        let resumed =
                            std::mem::take(&mut self.resumed) || self.read_resume_at.is_some();
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
                    } else if now >= release_at {
                        self.release_unreadable().map(|_| Step::Continue)
                    } else if now >= read_at {
                        self.nudge_sender(reader, now).map(|nudged| {
                            if !nudged {
                                self.read_resume_at = None;
                                self.resumed = true;
                                reader.resume();
                            }
                            Step::Continue
                        })
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
