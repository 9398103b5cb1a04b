//! The server's frames, one by one: open, begin, attach, flow, transfer, disposition, detach,
//! end, close. Harmless slips are noted and ignored; a delivery that cannot be read is reported
//! and held (`unreadable.rs`); a detach or an end of our session is answered and the receiver
//! attached again on the same connection, after a backoff (`reattach.rs`).

use std::time::Duration;

use fe2o3_amqp::types::performatives::Begin;
use tokio::time::Instant;

use super::{Session, Step};
use crate::codec::{self, Incoming};
use crate::error::Error;
use crate::link::Arrived;
use crate::model::{Event, RemoteOpen};
use crate::reader::FrameReader;
use crate::writer::CHANNEL;

impl Session<'_> {
    /// Handles every complete frame in the read buffer, then hands the deliveries over at once.
    pub(super) fn process_frames(&mut self, reader: &mut FrameReader) -> Result<Step, Error> {
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
                .map_err(Error::from)
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
        if self.beyond_unreported > 0 {
            let count = std::mem::take(&mut self.beyond_unreported);
            self.sink.emit(Event::OverCredit {
                epoch: self.epoch,
                count,
            });
        }
        if matches!(result, Ok(Step::Continue)) {
            // Awake anyway: settlements already waiting go out with this, when credit runs low.
            if self.credit_low() && self.acks.any() {
                self.take_acks()?;
            } else {
                self.expect_acks();
            }
            self.outbox.flush()?;
        }
        result
    }

    pub(super) fn trace_incoming(&self, incoming: &Incoming) {
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

    pub(super) fn on_frame(&mut self, channel: u16, incoming: Incoming) -> Result<Step, Error> {
        self.trace_incoming(&incoming);
        // An empty frame (a heartbeat) may come before the server's open, as rhea allows anywhere.
        if !self.opened
            && !matches!(
                incoming,
                Incoming::Open(_) | Incoming::Close(_) | Incoming::Empty
            )
        {
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
            // Not on our session: nothing of ours to lose or settle there.
            self.note(&format!(
                "{} frame on channel {channel}, where no session of ours is: ignored",
                incoming.name()
            ));
            return Ok(Step::Continue);
        }
        let step = self.on_session_frame(channel, incoming);
        self.drain_notes();
        step
    }

    pub(super) fn on_session_frame(
        &mut self,
        channel: u16,
        incoming: Incoming,
    ) -> Result<Step, Error> {
        match incoming {
            Incoming::Empty => {}
            Incoming::Open(open) => {
                if self.opened {
                    self.note("second open frame: ignored");
                    return Ok(Step::Continue);
                }
                self.opened = true;
                self.opened_at = Some(Instant::now());
                // The peer's max-frame-size is not tracked: everything we send (open, begin,
                // attach, flow, disposition, detach, close) stays under the 512 bytes every
                // peer accepts.
                self.remote_idle = open
                    .idle_time_out
                    .filter(|ms| *ms > 0)
                    .map(|ms| Duration::from_millis(ms as u64));
                let peer_certificates = std::mem::take(&mut self.peer_certificates);
                self.emit(Event::ConnectionOpen {
                    epoch: self.epoch,
                    remote: RemoteOpen {
                        container_id: open.container_id,
                        hostname: open.hostname,
                        idle_time_out: open.idle_time_out,
                        max_frame_size: open.max_frame_size.0,
                    },
                    peer_certificates,
                });
            }
            Incoming::Begin(begin) => self.on_begin(channel, begin)?,
            Incoming::Attach(attach) => {
                let Some(link) = self.link.as_mut() else {
                    self.note(&format!(
                        "attach for link {:?}, which we did not open: ignored",
                        attach.name
                    ));
                    return Ok(Step::Continue);
                };
                let Some(opened) = link.on_attach(&attach)? else {
                    return Ok(Step::Continue);
                };
                let attach_id = link.attach_id();
                self.link_open = true;
                self.attached_once = true;
                self.attached_at = Some(Instant::now());
                self.beyond_reported = 0;
                self.attach_deadline = None;
                self.emit(Event::ReceiverOpen {
                    epoch: self.epoch,
                    attach: attach_id,
                    remote_source: opened.remote_source,
                });
                self.refill_credit(true)?;
            }
            Incoming::Flow(flow) => {
                // A session-level flow: our incoming window is effectively unbounded.
                let Some(handle) = flow.handle else {
                    return Ok(Step::Continue);
                };
                let Some(link) = self.link.as_mut() else {
                    self.note(&format!(
                        "flow for handle {}, with no link of ours: ignored",
                        handle.0
                    ));
                    return Ok(Step::Continue);
                };
                let echo = link.on_flow(handle.0, flow.delivery_count, flow.echo);
                self.refill_credit(echo)?;
            }
            Incoming::Transfer(transfer, payload) => {
                self.next_incoming_id = self.next_incoming_id.wrapping_add(1);
                let max_message_size = self.cfg.max_message_size;
                let Some(link) = self.link.as_mut() else {
                    self.note(&format!(
                        "transfer for handle {}, with no link of ours: ignored",
                        transfer.handle.0
                    ));
                    return Ok(Step::Continue);
                };
                let taken = match link.on_transfer(&transfer, payload.clone(), max_message_size) {
                    // Far beyond the credit: count only what the owner really still holds (its
                    // settlements may be waiting here), then judge again.
                    Err(Error::TransferLimit(_)) if self.acks.any() => {
                        self.take_acks()?;
                        match self.link.as_mut() {
                            Some(link) => link.on_transfer(&transfer, payload, max_message_size),
                            None => Ok(None),
                        }
                    }
                    other => other,
                };
                let Some(link) = self.link.as_mut() else {
                    return Ok(Step::Continue);
                };
                let arrived = taken?;
                let attach_id = link.attach_id();
                let beyond = link.beyond_credit();
                if beyond > self.beyond_reported {
                    self.beyond_unreported += beyond - self.beyond_reported;
                    self.beyond_reported = beyond;
                }
                match arrived {
                    Some(Arrived::Delivery(delivery)) => {
                        if attach_id != self.batch_attach && !self.batch.is_empty() {
                            self.hand_over();
                        }
                        self.batch_attach = attach_id;
                        self.settled_any |= delivery.settled;
                        self.batch.push(delivery);
                    }
                    Some(Arrived::Unreadable { id, settled, error }) => {
                        self.on_unreadable(attach_id, id, settled, error);
                    }
                    Some(Arrived::TooLarge { id, error }) => {
                        self.report_unreadable(attach_id, id, false, error);
                    }
                    None => {}
                }
            }
            // The server settling on its side needs nothing from us: we settle first.
            Incoming::Disposition(d) => {
                if self.trace.enabled() {
                    self.note(&format!(
                        "disposition for deliveries {}..={}: ignored (we settle first)",
                        d.first,
                        d.last.unwrap_or(d.first)
                    ));
                }
            }
            Incoming::Detach(detach) => self.on_detach(detach)?,
            Incoming::End(end) => self.on_end(end)?,
            Incoming::Close(close) => return Ok(Step::End(self.on_close(close))),
        }
        Ok(Step::Continue)
    }

    pub(super) fn on_begin(&mut self, channel: u16, begin: Begin) -> Result<(), Error> {
        if self.begun {
            self.note(&format!("second begin (channel {channel}): ignored"));
            return Ok(());
        }
        if begin.remote_channel != Some(CHANNEL) {
            self.note(&format!(
                "begin on channel {channel} that answers no begin of ours: ignored"
            ));
            return Ok(());
        }
        self.begun = true;
        self.remote_channel = Some(channel);
        self.next_incoming_id = begin.next_outgoing_id;
        self.session_begun();
        if self.closing.is_none() && self.reattach_at.is_none() {
            self.send_attach()?;
        }
        Ok(())
    }
}
