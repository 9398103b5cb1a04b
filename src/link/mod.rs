//! Our one receiver link as a state machine: attach, credit, transfers assembled into deliveries,
//! detach. No I/O: it takes the server's performatives and says what to send and what to hand
//! over; the session does the sending.
//!
//! Liberal in what it takes: a frame for a handle that is not ours, a second attach, a flow that
//! runs ahead of our grant are noted (`notes`, shown under `DEBUG=aliyun-iot-amqp:frames`) and
//! ignored, since nothing is lost by it. A delivery that cannot be read (it cannot be decoded, or
//! it is over `max_message_size`: its bytes are dropped as they come) costs only itself: it is
//! reported as `Arrived::Unreadable`, holding its credit like any unsettled delivery until the
//! session releases it. What would lose or corrupt a delivery (a new delivery starting inside
//! another, a first transfer with no id to settle it by) is an error.

use bytes::{Bytes, BytesMut};
use fe2o3_amqp::types::definitions::{Handle, ReceiverSettleMode, Role, SenderSettleMode};
use fe2o3_amqp::types::messaging::{Source, Target, TargetArchetype};
use fe2o3_amqp::types::performatives::{Attach, Detach, Transfer};

use crate::config::ReceiverConfig;
use crate::credit::{Credit, Grant, Taken};
use crate::error::{CodecError, Error};
use crate::message;
use crate::model::Delivery;

/// Our link's handle (we have one link).
pub const HANDLE: u32 = 0;

/// Where the link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not asked for yet on this connection.
    Idle,
    /// Our attach went out; the server's has not come.
    Attaching,
    /// Both attaches are through: transfers flow on the server's handle.
    Attached { remote_handle: u32 },
    /// We detached (or are closing): what still arrives comes again later.
    Detaching { remote_handle: Option<u32> },
}

/// A delivery whose transfer frames are still arriving.
#[derive(Debug)]
struct Partial {
    id: u32,
    tag: Bytes,
    format: u32,
    settled: bool,
    parts: Vec<Bytes>,
    size: u64,
    /// Over `max_message_size`: its bytes are dropped as they come.
    too_large: bool,
    /// Reported as too large before its last frame came (`Arrived::TooLarge`).
    reported: bool,
}

/// A delivery whose last frame came.
#[derive(Debug)]
pub enum Arrived {
    /// A message to hand over.
    Delivery(Delivery),
    /// A delivery that cannot be read: not handed over, never accepted. Unless the sender
    /// settled it (`settled`), it holds its credit until the session settles it. `error` is
    /// `None` when it was reported already (`TooLarge`).
    Unreadable {
        id: u32,
        settled: bool,
        error: Option<Error>,
    },
    /// A delivery grew past `max_message_size` and has more frames to come (their bytes are
    /// dropped): reported at once, not when its last frame comes (`Unreadable` then).
    TooLarge { id: u32, error: Error },
}

impl Arrived {
    /// The message, if it is one.
    pub fn into_delivery(self) -> Option<Delivery> {
        match self {
            Arrived::Delivery(d) => Some(d),
            Arrived::Unreadable { .. } | Arrived::TooLarge { .. } => None,
        }
    }
}

/// The server's attach, taken.
#[derive(Debug, PartialEq)]
pub struct Opened {
    /// The source address it gave (`None` when it sent none).
    pub remote_source: Option<String>,
}

/// How a detach from the server ended the link.
#[derive(Debug, PartialEq)]
pub struct Detached {
    /// Messages delivered on the attachment that ended (0: the attach itself failed).
    pub delivered: u64,
    /// We had asked for it (`close_receiver()`); otherwise the server took the link away.
    pub requested: bool,
    /// The error the server gave, if any.
    pub error: Option<Error>,
    /// The detach to answer with (when the server started it).
    pub reply: Option<Detach>,
}

/// What closing the receiver takes.
#[derive(Debug, PartialEq)]
pub enum CloseReceiver {
    /// Send this detach; the link ends when the server answers.
    Send(Detach),
    /// Not attached yet on this connection: simply forget the link.
    Forget,
    /// Nothing to send now.
    Wait,
}

/// Our receiver link on one connection.
#[derive(Debug)]
pub struct Link {
    pub config: ReceiverConfig,
    state: State,
    credit: Credit,
    partial: Option<Partial>,
    /// Numbers this attachment (unique across the connections of a consumer): settlements name
    /// the attachment they are for, and those of an ended one are dropped.
    attach_id: u32,
    /// Messages delivered on this attachment.
    delivered: u64,
    /// What the peer did that was taken liberally, for the frames log (drained by the session).
    pub notes: Vec<String>,
}

fn protocol(description: impl Into<String>) -> Error {
    Error::Protocol(description.into())
}

impl Link {
    pub fn new(config: ReceiverConfig) -> Self {
        let credit = Credit::new(config.credit_window);
        Link {
            config,
            state: State::Idle,
            credit,
            partial: None,
            attach_id: 0,
            delivered: 0,
            notes: Vec::new(),
        }
    }

    /// The number of the current (or last) attachment.
    pub fn attach_id(&self) -> u32 {
        self.attach_id
    }

    /// Transfers taken beyond the credit granted, on this attachment.
    pub fn beyond_credit(&self) -> u64 {
        self.credit.beyond()
    }

    /// Whether both attaches are through.
    pub fn is_attached(&self) -> bool {
        matches!(self.state, State::Attached { .. })
    }

    /// Whether deliveries of the current attachment can still be settled: it is attached, or we
    /// are detaching it (the server has not answered yet).
    pub fn settleable(&self) -> bool {
        self.remote_handle().is_some()
    }

    /// Whether our attach went out on this connection.
    pub fn attach_sent(&self) -> bool {
        self.state != State::Idle
    }

    /// Deliveries handed over and not settled yet.
    pub fn unsettled(&self) -> u32 {
        self.credit.unsettled()
    }

    /// Our attach, numbered `attach_id`, when the link is not attached or attaching.
    pub fn attach(&mut self, max_message_size: u64, attach_id: u32) -> Option<Attach> {
        if self.state != State::Idle {
            return None;
        }
        self.state = State::Attaching;
        self.attach_id = attach_id;
        self.delivered = 0;
        let source = self.config.source.clone().map(|address| {
            Box::new(Source {
                address: Some(address),
                ..Source::default()
            })
        });
        Some(Attach {
            name: self.config.name.clone(),
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
        })
    }

    /// The server's attach. The source may be echoed, replaced or null (a rhea server sends
    /// none): all attach. A refusal is a null source followed by a detach with an error, handled
    /// there. An attach for another link, or a second one, is ignored (`None`).
    pub fn on_attach(&mut self, attach: &Attach) -> Result<Option<Opened>, Error> {
        if attach.name != self.config.name || self.state == State::Idle {
            self.notes.push(format!(
                "attach for unknown link {:?}: ignored",
                attach.name
            ));
            return Ok(None);
        }
        if self.remote_handle().is_some() {
            self.notes
                .push("second attach for our link: ignored".to_string());
            return Ok(None);
        }
        if attach.role != Role::Sender {
            return Err(Error::InvalidField(
                "the server attached as a receiver to our receiver: no messages can flow".into(),
            ));
        }
        let remote_handle = attach.handle.0;
        self.state = match self.state {
            State::Detaching { .. } => State::Detaching {
                remote_handle: Some(remote_handle),
            },
            _ => State::Attached { remote_handle },
        };
        self.credit
            .attached(attach.initial_delivery_count.unwrap_or(0));
        Ok(Some(Opened {
            remote_source: attach.source.as_ref().and_then(|s| s.address.clone()),
        }))
    }

    /// The server's handle for our link, once it attached.
    fn remote_handle(&self) -> Option<u32> {
        match self.state {
            State::Attached { remote_handle } => Some(remote_handle),
            State::Detaching { remote_handle } => remote_handle,
            State::Idle | State::Attaching => None,
        }
    }

    /// Whether a frame's handle is our link's; notes it when not.
    fn ours(&mut self, handle: u32, what: &str) -> bool {
        let ours = self.remote_handle() == Some(handle);
        if !ours {
            self.notes
                .push(format!("{what} for unknown handle {handle}: ignored"));
        }
        ours
    }

    /// The server's flow for a link. Returns whether it asked for an answer (echo).
    pub fn on_flow(&mut self, handle: u32, delivery_count: Option<u32>, echo: bool) -> bool {
        if !self.ours(handle, "flow") {
            return false;
        }
        if let Some(past) = self.credit.on_sender_flow(delivery_count) {
            self.notes.push(format!(
                "flow with a delivery-count {past} past the credit granted: its count taken"
            ));
        }
        echo
    }

    /// One transfer frame. Returns the delivery once its last frame is in.
    pub fn on_transfer(
        &mut self,
        transfer: &Transfer,
        payload: Bytes,
        max_message_size: u64,
    ) -> Result<Option<Arrived>, Error> {
        if !self.ours(transfer.handle.0, "transfer") {
            return Ok(None); // not ours to settle: the server keeps it and sends it again
        }
        if !self.is_attached() {
            return Ok(None); // in flight while we detach: it comes again
        }
        let mut partial = match self.partial.take() {
            Some(p) => {
                if let Some(id) = transfer.delivery_id.filter(|id| *id != p.id) {
                    return Err(protocol(format!(
                        "the server started delivery {id} before delivery {} was complete (more frames were announced)",
                        p.id
                    )));
                }
                p
            }
            None => {
                let (Some(id), Some(tag)) = (transfer.delivery_id, transfer.delivery_tag.as_ref())
                else {
                    return Err(Error::InvalidField(
                        "the server sent the first transfer of a delivery without a delivery-id or tag: it could never be settled".into(),
                    ));
                };
                if let Taken::Beyond(n) = self.credit.on_transfer()? {
                    self.notes.push(format!(
                        "transfer {id} beyond the credit granted: taken ({n} on this link)"
                    ));
                }
                Partial {
                    id,
                    tag: Bytes::copy_from_slice(tag.as_ref()),
                    format: transfer.message_format.unwrap_or(0),
                    settled: false,
                    parts: Vec::new(),
                    size: 0,
                    too_large: false,
                    reported: false,
                }
            }
        };
        if transfer.settled == Some(true) {
            partial.settled = true;
        }
        if transfer.aborted {
            return Ok(None); // dropped; the sender does not count it as delivered
        }
        partial.size += payload.len() as u64;
        if partial.size > max_message_size {
            // Nothing of it is kept: memory stays bounded however long it goes on.
            partial.too_large = true;
            partial.parts = Vec::new();
        } else if !payload.is_empty() {
            partial.parts.push(payload);
        }
        if transfer.more {
            let report = partial.too_large && !partial.reported;
            partial.reported |= report;
            let (id, size) = (partial.id, partial.size);
            self.partial = Some(partial);
            return Ok(report.then(|| Arrived::TooLarge {
                id,
                error: Error::MessageTooLarge(format!(
                    "the server sent a message of more than {size} bytes (delivery {id}), over the max_message_size of {max_message_size} bytes we announced"
                )),
            }));
        }
        self.delivered += 1;
        if !partial.settled {
            self.credit.held();
        }
        if partial.too_large {
            return Ok(Some(Arrived::Unreadable {
                id: partial.id,
                settled: partial.settled,
                error: (!partial.reported).then(|| {
                    Error::MessageTooLarge(format!(
                        "the server sent a message of {} bytes (delivery {}), over the max_message_size of {} bytes we announced",
                        partial.size, partial.id, max_message_size
                    ))
                }),
            }));
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
        let message = match message::decode(body) {
            Ok(m) => m,
            Err(e) => {
                // What is wrong with the message's bytes, not "malformed frame": the frames were fine.
                let why = match e {
                    CodecError::Malformed(what) => what,
                    other => other.to_string(),
                };
                return Ok(Some(Arrived::Unreadable {
                    id: partial.id,
                    settled: partial.settled,
                    error: Some(Error::Decode(format!(
                        "the server sent a message that cannot be decoded (delivery {}): {why}",
                        partial.id
                    ))),
                }));
            }
        };
        Ok(Some(Arrived::Delivery(Delivery {
            id: partial.id,
            tag: partial.tag,
            format: partial.format,
            settled: partial.settled,
            message,
        })))
    }

    /// The server's detach. The link is gone on this connection either way: deliveries not yet
    /// settled will be redelivered by the server. A detach for another handle is ignored (`None`).
    pub fn on_detach(&mut self, detach: &Detach) -> Option<Detached> {
        let ours = match self.remote_handle() {
            Some(h) => h == detach.handle.0,
            // Refused before its attach reply, or never attached here.
            None => self.state != State::Idle,
        };
        if !ours {
            self.notes.push(format!(
                "detach for unknown handle {}: ignored",
                detach.handle.0
            ));
            return None;
        }
        let requested = matches!(self.state, State::Detaching { .. });
        let reply = (!requested).then_some(Detach {
            handle: Handle(HANDLE),
            closed: true,
            error: None,
        });
        self.state = State::Idle;
        self.partial = None;
        self.credit = Credit::new(self.config.credit_window);
        Some(Detached {
            delivered: self.delivered,
            requested,
            error: detach.error.as_ref().map(Error::from_amqp),
            reply,
        })
    }

    /// Our session ended (the server's end): the link with it, as if detached. `None` when the
    /// link was not attached or attaching.
    pub fn session_ended(&mut self, error: Option<Error>) -> Option<Detached> {
        if self.state == State::Idle {
            return None;
        }
        let requested = matches!(self.state, State::Detaching { .. });
        self.state = State::Idle;
        self.partial = None;
        self.credit = Credit::new(self.config.credit_window);
        Some(Detached {
            delivered: self.delivered,
            requested,
            error,
            reply: None,
        })
    }

    /// Our detach (`close_receiver()`).
    pub fn detach(&mut self) -> CloseReceiver {
        match self.state {
            State::Attached { remote_handle } => {
                self.state = State::Detaching {
                    remote_handle: Some(remote_handle),
                };
                CloseReceiver::Send(Detach {
                    handle: Handle(HANDLE),
                    closed: true,
                    error: None,
                })
            }
            State::Idle => CloseReceiver::Forget,
            State::Attaching | State::Detaching { .. } => CloseReceiver::Wait,
        }
    }

    /// The connection is closing: nothing more is sent for the link, nothing re-attaches it.
    pub fn closing(&mut self) {
        self.state = State::Detaching {
            remote_handle: self.remote_handle(),
        };
    }

    /// The owner settled `n` deliveries.
    pub fn settled(&mut self, n: u32) {
        self.credit.settled(n);
    }

    /// The credit the sender still has (0 when not attached).
    pub fn credit_left(&self) -> u32 {
        if self.is_attached() {
            self.credit.granted()
        } else {
            0
        }
    }

    /// Whether the sender runs low on credit (a quarter of the window or less left) while
    /// deliveries are held: their settlements are what brings more.
    pub fn credit_low(&self) -> bool {
        self.is_attached() && self.credit.low()
    }

    /// Changes the credit window; returns the flow to send at once, if any.
    pub fn set_window(&mut self, window: u32) -> Option<Grant> {
        self.config.credit_window = window;
        let force = self.credit.set_window(window);
        self.grant(force)
    }

    /// The credit to grant now, if any (only while attached).
    pub fn grant(&mut self, force: bool) -> Option<Grant> {
        if !self.is_attached() {
            return None;
        }
        self.credit.grant(force)
    }
}

#[cfg(test)]
mod tests;
