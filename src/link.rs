//! Our one receiver link as a state machine: attach, credit, transfers assembled into deliveries,
//! detach. No I/O: it takes the server's performatives and says what to send and what to hand
//! over; the session does the sending.

use bytes::{Bytes, BytesMut};
use fe2o3_amqp::types::definitions::{Handle, ReceiverSettleMode, Role, SenderSettleMode};
use fe2o3_amqp::types::messaging::{Source, Target, TargetArchetype};
use fe2o3_amqp::types::performatives::{Attach, Detach, Transfer};

use crate::config::ReceiverConfig;
use crate::credit::{Credit, Grant};
use crate::error::Error;
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
}

/// How a detach from the server ended the link.
#[derive(Debug, PartialEq)]
pub struct Detached {
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
        }
    }

    /// Whether both attaches are through.
    pub fn is_attached(&self) -> bool {
        matches!(self.state, State::Attached { .. })
    }

    /// Whether our attach went out on this connection.
    pub fn attach_sent(&self) -> bool {
        self.state != State::Idle
    }

    /// Deliveries handed over and not settled yet.
    pub fn unsettled(&self) -> u32 {
        self.credit.unsettled()
    }

    /// Our attach, the first time it is asked for on this connection.
    pub fn attach(&mut self, max_message_size: u64) -> Option<Attach> {
        if self.state != State::Idle {
            return None;
        }
        self.state = State::Attaching;
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

    /// The server's attach. Returns the source address it gave (`None` when it sent none).
    /// The source may be echoed, replaced or null (a rhea server sends none): all attach. A
    /// refusal is a null source followed by a detach with an error, handled there.
    pub fn on_attach(&mut self, attach: &Attach) -> Result<Option<String>, Error> {
        if attach.name != self.config.name || self.state == State::Idle {
            return Err(protocol(format!(
                "attach for unknown link {:?}",
                attach.name
            )));
        }
        if self.remote_handle().is_some() {
            return Err(protocol("second attach for our link"));
        }
        if attach.role != Role::Sender {
            return Err(protocol("server attached as receiver to our receiver"));
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
        Ok(attach.source.as_ref().and_then(|s| s.address.clone()))
    }

    /// The server's handle for our link, once it attached.
    fn remote_handle(&self) -> Option<u32> {
        match self.state {
            State::Attached { remote_handle } => Some(remote_handle),
            State::Detaching { remote_handle } => remote_handle,
            State::Idle | State::Attaching => None,
        }
    }

    fn check_handle(&self, handle: u32, what: &str) -> Result<(), Error> {
        if self.remote_handle() == Some(handle) {
            Ok(())
        } else {
            Err(protocol(format!("{what} for unknown handle {handle}")))
        }
    }

    /// The server's flow for our link. Returns whether it asked for an answer (echo).
    pub fn on_flow(
        &mut self,
        handle: u32,
        delivery_count: Option<u32>,
        echo: bool,
    ) -> Result<bool, Error> {
        self.check_handle(handle, "flow")?;
        self.credit
            .on_sender_flow(delivery_count)
            .map_err(protocol)?;
        Ok(echo)
    }

    /// One transfer frame. Returns the delivery once its last frame is in.
    pub fn on_transfer(
        &mut self,
        transfer: &Transfer,
        payload: Bytes,
        max_message_size: u64,
    ) -> Result<Option<Delivery>, Error> {
        self.check_handle(transfer.handle.0, "transfer")?;
        if !self.is_attached() {
            return Ok(None); // in flight while we detach: it comes again
        }
        let mut partial = match self.partial.take() {
            Some(p) => {
                if transfer.delivery_id.is_some_and(|id| id != p.id) {
                    return Err(protocol(
                        "new delivery started before the previous one completed",
                    ));
                }
                p
            }
            None => {
                let (Some(id), Some(tag)) = (transfer.delivery_id, transfer.delivery_tag.as_ref())
                else {
                    return Err(protocol(
                        "first transfer of a delivery without delivery-id or tag",
                    ));
                };
                self.credit.on_transfer().map_err(protocol)?;
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
            return Ok(None); // dropped; the sender does not count it as delivered
        }
        partial.size += payload.len() as u64;
        if partial.size > max_message_size {
            return Err(Error::MessageTooLarge(format!(
                "message of more than {} bytes exceeds max_message_size {}",
                partial.size, max_message_size
            )));
        }
        if !payload.is_empty() {
            partial.parts.push(payload);
        }
        if transfer.more {
            self.partial = Some(partial);
            return Ok(None);
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
            Error::Decode(format!(
                "cannot decode message of delivery {}: {e}",
                partial.id
            ))
        })?;
        if !partial.settled {
            self.credit.held();
        }
        Ok(Some(Delivery {
            id: partial.id,
            tag: partial.tag,
            format: partial.format,
            settled: partial.settled,
            message,
        }))
    }

    /// The server's detach. The link is gone on this connection either way: deliveries not yet
    /// settled will be redelivered by the server.
    pub fn on_detach(&mut self, detach: &Detach) -> Result<Detached, Error> {
        if self.remote_handle().is_some_and(|h| h != detach.handle.0) {
            return Err(protocol(format!(
                "detach for unknown handle {}",
                detach.handle.0
            )));
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
        Ok(Detached {
            requested,
            error: detach.error.as_ref().map(Error::from_amqp),
            reply,
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
mod tests {
    use super::*;
    use fe2o3_amqp::types::definitions::{self, AmqpError, ErrorCondition};
    use fe2o3_amqp::types::primitives::Binary;

    const MAX: u64 = 1 << 20;

    fn link(window: u32) -> Link {
        Link::new(ReceiverConfig {
            name: "r".into(),
            source: None,
            credit_window: window,
        })
    }

    fn reply(l: &mut Link) -> Attach {
        let mut a = l.attach(MAX).expect("first attach");
        a.role = Role::Sender;
        a.handle = Handle(7);
        a.source = None;
        a.initial_delivery_count = Some(0);
        a
    }

    fn attached(window: u32) -> Link {
        let mut l = link(window);
        let a = reply(&mut l);
        assert_eq!(l.on_attach(&a).unwrap(), None);
        l
    }

    /// A platform message: one data section.
    fn payload(text: &str) -> Bytes {
        let mut v = vec![0x00, 0x53, 0x75, 0xa0, text.len() as u8];
        v.extend_from_slice(text.as_bytes());
        Bytes::from(v)
    }

    fn transfer(id: Option<u32>, more: bool) -> Transfer {
        Transfer {
            handle: Handle(7),
            delivery_id: id,
            delivery_tag: id.map(|i| Binary::from(vec![i as u8])),
            message_format: Some(0),
            settled: None,
            more,
            rcv_settle_mode: None,
            state: None,
            resume: false,
            aborted: false,
            batchable: false,
        }
    }

    #[test]
    fn attach_is_sent_once_and_any_source_in_the_reply_attaches() {
        let mut l = link(10);
        assert!(l.attach(MAX).is_some());
        assert!(l.attach(MAX).is_none());
        let mut a = Attach {
            role: Role::Sender,
            ..l.attach_for_test()
        };
        a.source = Some(Box::new(Source {
            address: Some("server-side".into()),
            ..Source::default()
        }));
        assert_eq!(l.on_attach(&a).unwrap().as_deref(), Some("server-side"));
        assert!(l.is_attached());
        assert!(l.on_attach(&a).is_err(), "a second attach is refused");
        assert_eq!(l.grant(true).map(|g| g.link_credit), Some(10));
    }

    #[test]
    fn transfers_become_deliveries_and_take_credit() {
        let mut l = attached(2);
        l.grant(true);
        let d = l
            .on_transfer(&transfer(Some(0), false), payload("{}"), MAX)
            .unwrap()
            .expect("complete");
        assert_eq!(d.id, 0);
        assert_eq!(&d.tag[..], &[0]);
        assert!(!d.settled);
        assert_eq!(l.unsettled(), 1);
        l.on_transfer(&transfer(Some(1), false), payload("{}"), MAX)
            .unwrap();
        assert!(
            l.on_transfer(&transfer(Some(2), false), payload("{}"), MAX)
                .is_err(),
            "no credit left"
        );
    }

    #[test]
    fn a_delivery_in_many_frames_is_assembled() {
        let mut l = attached(10);
        l.grant(true);
        let whole = payload("hello world");
        let (a, b) = whole.split_at(4);
        let first = l
            .on_transfer(&transfer(Some(5), true), Bytes::copy_from_slice(a), MAX)
            .unwrap();
        assert!(first.is_none());
        let mut cont = transfer(None, false);
        cont.delivery_tag = None;
        let d = l
            .on_transfer(&cont, Bytes::copy_from_slice(b), MAX)
            .unwrap()
            .expect("complete");
        assert_eq!(d.id, 5);
        assert_eq!(
            d.message.single_data().map(|b| b.to_vec()),
            Some(b"hello world".to_vec())
        );
        assert_eq!(l.unsettled(), 1, "one delivery, one credit");
    }

    #[test]
    fn a_delivery_that_grows_past_max_message_size_is_refused() {
        let mut l = attached(10);
        l.grant(true);
        l.on_transfer(&transfer(Some(0), true), Bytes::from(vec![0; 8]), 10)
            .unwrap();
        let err = l
            .on_transfer(&transfer(None, false), Bytes::from(vec![0; 8]), 10)
            .unwrap_err();
        assert!(matches!(err, Error::MessageTooLarge(_)), "{err:?}");
    }

    #[test]
    fn settling_brings_credit_back() {
        let mut l = attached(4);
        l.grant(true);
        for id in 0..4 {
            l.on_transfer(&transfer(Some(id), false), payload("x"), MAX)
                .unwrap();
        }
        assert_eq!(l.grant(false), None);
        l.settled(4);
        assert_eq!(l.grant(false).map(|g| g.link_credit), Some(4));
    }

    #[test]
    fn pre_settled_deliveries_hold_no_credit() {
        let mut l = attached(4);
        l.grant(true);
        let mut t = transfer(Some(0), false);
        t.settled = Some(true);
        let d = l.on_transfer(&t, payload("x"), MAX).unwrap().unwrap();
        assert!(d.settled);
        assert_eq!(l.unsettled(), 0);
    }

    #[test]
    fn the_server_taking_the_link_away_is_answered_and_resets_it() {
        let mut l = attached(4);
        l.grant(true);
        l.on_transfer(&transfer(Some(0), true), payload("x"), MAX)
            .unwrap();
        let d = l
            .on_detach(&Detach {
                handle: Handle(7),
                closed: true,
                error: Some(definitions::Error {
                    condition: ErrorCondition::AmqpError(AmqpError::ResourceDeleted),
                    description: Some("queue gone".into()),
                    info: None,
                }),
            })
            .unwrap();
        assert!(!d.requested);
        assert!(d.reply.is_some());
        assert_eq!(
            d.error.as_ref().map(|e| e.condition()),
            Some("amqp:resource-deleted")
        );
        assert!(!l.is_attached());
        assert!(l.attach(MAX).is_some(), "it can attach again");
    }

    #[test]
    fn our_own_detach_needs_no_answer_and_drops_what_is_in_flight() {
        let mut l = attached(4);
        l.grant(true);
        assert!(matches!(l.detach(), CloseReceiver::Send(_)));
        assert!(l
            .on_transfer(&transfer(Some(0), false), payload("x"), MAX)
            .unwrap()
            .is_none());
        let d = l
            .on_detach(&Detach {
                handle: Handle(7),
                closed: true,
                error: None,
            })
            .unwrap();
        assert!(d.requested);
        assert!(d.reply.is_none());
        assert_eq!(
            link(1).detach(),
            CloseReceiver::Forget,
            "never attached: forget it"
        );
    }

    #[test]
    fn frames_for_another_handle_are_refused() {
        let mut l = attached(4);
        let mut t = transfer(Some(0), false);
        t.handle = Handle(9);
        assert!(l.on_transfer(&t, payload("x"), MAX).is_err());
        assert!(l.on_flow(9, None, false).is_err());
    }

    impl Link {
        fn attach_for_test(&self) -> Attach {
            let mut copy = Link::new(self.config.clone());
            copy.attach(MAX).expect("attach")
        }
    }
}
