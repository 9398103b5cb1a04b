//! The link state machine, without sockets: attach, credit, multi-frame assembly, settlement,
//! detach, and the slips it takes liberally.

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
    let mut a = l.attach(MAX, 1).expect("first attach");
    a.role = Role::Sender;
    a.handle = Handle(7);
    a.source = None;
    a.initial_delivery_count = Some(0);
    a
}

fn attached(window: u32) -> Link {
    let mut l = link(window);
    let a = reply(&mut l);
    assert_eq!(
        l.on_attach(&a).unwrap(),
        Some(Opened {
            remote_source: None
        })
    );
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
    assert!(l.attach(MAX, 1).is_some());
    assert!(l.attach(MAX, 2).is_none());
    let mut a = Attach {
        role: Role::Sender,
        ..l.attach_for_test()
    };
    a.source = Some(Box::new(Source {
        address: Some("server-side".into()),
        ..Source::default()
    }));
    assert_eq!(
        l.on_attach(&a)
            .unwrap()
            .and_then(|o| o.remote_source)
            .as_deref(),
        Some("server-side")
    );
    assert!(l.is_attached());
    assert_eq!(l.on_attach(&a).unwrap(), None, "a second attach is ignored");
    assert!(l.notes.iter().any(|n| n.contains("second attach")));
    assert_eq!(l.grant(true).map(|g| g.link_credit), Some(10));
}

#[test]
fn transfers_become_deliveries_and_take_credit() {
    let mut l = attached(2);
    l.grant(true);
    let d = l
        .on_transfer(&transfer(Some(0), false), payload("{}"), MAX)
        .unwrap()
        .and_then(Arrived::into_delivery)
        .expect("complete");
    assert_eq!(d.id, 0);
    assert_eq!(&d.tag[..], &[0]);
    assert!(!d.settled);
    assert_eq!(l.unsettled(), 1);
    l.on_transfer(&transfer(Some(1), false), payload("{}"), MAX)
        .unwrap();
    // One beyond the credit (RabbitMQ's slip) is taken and noted.
    assert!(l
        .on_transfer(&transfer(Some(2), false), payload("{}"), MAX)
        .unwrap()
        .is_some());
    assert_eq!(l.beyond_credit(), 1);
    assert!(l.notes.iter().any(|n| n.contains("beyond the credit")));
    for id in 3..8 {
        l.on_transfer(&transfer(Some(id), false), payload("{}"), MAX)
            .unwrap();
    }
    // Four times the window held: the next one is no slip.
    let err = l
        .on_transfer(&transfer(Some(8), false), payload("{}"), MAX)
        .unwrap_err();
    assert_eq!(err.condition(), "amqp:link:transfer-limit-exceeded");
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
        .and_then(Arrived::into_delivery)
        .expect("complete");
    assert_eq!(d.id, 5);
    assert_eq!(
        d.message.single_data().map(|b| b.to_vec()),
        Some(b"hello world".to_vec())
    );
    assert_eq!(l.unsettled(), 1, "one delivery, one credit");
}

#[test]
fn a_delivery_that_grows_past_max_message_size_costs_only_itself() {
    let mut l = attached(10);
    l.grant(true);
    l.on_transfer(&transfer(Some(0), true), Bytes::from(vec![0; 8]), 10)
        .unwrap();
    let mut more = transfer(None, true);
    more.delivery_tag = None;
    // Reported at once, when it grows past the limit, not after its last frame.
    let Some(Arrived::TooLarge { id, error }) =
        l.on_transfer(&more, Bytes::from(vec![0; 8]), 10).unwrap()
    else {
        panic!("reported as too large");
    };
    assert_eq!(id, 0);
    assert!(matches!(error, Error::MessageTooLarge(_)), "{error:?}");
    assert!(
        error.description().contains("more than 16 bytes"),
        "{error}"
    );
    for _ in 0..100 {
        assert!(l
            .on_transfer(&more, Bytes::from(vec![0; 8]), 10)
            .unwrap()
            .is_none());
    }
    let Some(Arrived::Unreadable { id, settled, error }) = l
        .on_transfer(&transfer(None, false), Bytes::from(vec![0; 8]), 10)
        .unwrap()
    else {
        panic!("an unreadable delivery");
    };
    assert_eq!((id, settled), (0, false));
    assert!(error.is_none(), "reported already");
    assert_eq!(
        l.unsettled(),
        1,
        "held: its credit comes back when it is settled"
    );
    // The link goes on: the next delivery is read as usual.
    assert!(l
        .on_transfer(&transfer(Some(1), false), payload("{}"), MAX)
        .unwrap()
        .and_then(Arrived::into_delivery)
        .is_some());
}

#[test]
fn a_single_frame_over_max_message_size_is_reported_when_it_is_complete() {
    let mut l = attached(10);
    l.grant(true);
    let Some(Arrived::Unreadable { error, .. }) = l
        .on_transfer(&transfer(Some(0), false), Bytes::from(vec![0; 30]), 10)
        .unwrap()
    else {
        panic!("an unreadable delivery");
    };
    let error = error.expect("reported");
    assert!(error.description().contains("of 30 bytes"), "{error}");
}

#[test]
fn a_delivery_that_cannot_be_decoded_costs_only_itself() {
    let mut l = attached(10);
    l.grant(true);
    // An amqp-value section announcing a binary of 4 GiB.
    let bad = Bytes::from_static(&[0x00, 0x53, 0x77, 0xb0, 0xff, 0xff, 0xff, 0xff, 1]);
    let Some(Arrived::Unreadable { id, settled, error }) =
        l.on_transfer(&transfer(Some(4), false), bad, MAX).unwrap()
    else {
        panic!("an unreadable delivery");
    };
    assert_eq!((id, settled), (4, false));
    let error = error.expect("reported");
    assert_eq!(error.condition(), "amqp:decode-error");
    assert!(error.description().contains("delivery 4"), "{error}");
    assert_eq!(l.unsettled(), 1);
    assert!(l
        .on_transfer(&transfer(Some(5), false), payload("{}"), MAX)
        .unwrap()
        .and_then(Arrived::into_delivery)
        .is_some());
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
    let d = l
        .on_transfer(&t, payload("x"), MAX)
        .unwrap()
        .and_then(Arrived::into_delivery)
        .unwrap();
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
        .expect("ours");
    assert!(!d.requested);
    assert_eq!(d.delivered, 0, "the partial delivery never completed");
    assert!(d.reply.is_some());
    assert_eq!(
        d.error.as_ref().map(|e| e.condition()),
        Some("amqp:resource-deleted")
    );
    assert!(!l.is_attached());
    assert!(l.attach(MAX, 2).is_some(), "it can attach again");
    assert_eq!(l.attach_id(), 2);
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
        .expect("ours");
    assert!(d.requested);
    assert!(d.reply.is_none());
    assert_eq!(
        link(1).detach(),
        CloseReceiver::Forget,
        "never attached: forget it"
    );
}

#[test]
fn frames_for_another_handle_are_ignored_and_noted() {
    let mut l = attached(4);
    l.grant(true);
    let mut t = transfer(Some(0), false);
    t.handle = Handle(9);
    assert!(l.on_transfer(&t, payload("x"), MAX).unwrap().is_none());
    assert!(!l.on_flow(9, None, true));
    assert!(l
        .on_detach(&Detach {
            handle: Handle(9),
            closed: true,
            error: None
        })
        .is_none());
    assert!(l.is_attached(), "our link is untouched");
    assert_eq!(l.notes.len(), 3, "{:?}", l.notes);
    assert!(l.notes.iter().all(|n| n.ends_with("ignored")));
    // ...and our own frames still work.
    assert!(l
        .on_transfer(&transfer(Some(0), false), payload("x"), MAX)
        .unwrap()
        .is_some());
}

#[test]
fn a_new_delivery_inside_an_incomplete_one_is_an_error_naming_both() {
    let mut l = attached(4);
    l.grant(true);
    l.on_transfer(&transfer(Some(0), true), payload("x"), MAX)
        .unwrap();
    let e = l
        .on_transfer(&transfer(Some(1), false), payload("y"), MAX)
        .unwrap_err();
    assert!(
        e.description().contains("delivery 1 before delivery 0"),
        "{e}"
    );
}

#[test]
fn a_flow_ahead_of_the_grant_is_taken_and_noted() {
    let mut l = attached(4);
    l.grant(true);
    assert!(l.on_flow(7, Some(10), true));
    assert!(l.notes.iter().any(|n| n.contains("past the credit")));
    assert_eq!(l.grant(true).map(|g| g.delivery_count), Some(10));
}

impl Link {
    fn attach_for_test(&self) -> Attach {
        let mut copy = Link::new(self.config.clone());
        copy.attach(MAX, 1).expect("attach")
    }
}
