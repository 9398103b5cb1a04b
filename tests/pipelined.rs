//! A server that pipelines: its SASL outcome, its AMQP protocol header and its Open in one write,
//! then its Begin, Attach, a transfer and a detach of the receiver in another. Every header is
//! read through the same buffer as the frames, so nothing is misread; the detach is answered and
//! the receiver attached again on the same connection. No Node involved.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aliyun_iot_amqp::codec::{self, Incoming, AMQP_HEADER, SASL_HEADER};
use aliyun_iot_amqp::config::{Config, CredentialSource, ReceiverConfig, Transport};
use aliyun_iot_amqp::model::{Event, EventSink};
use aliyun_iot_amqp::secret::Secret;
use aliyun_iot_amqp::supervisor;
use bytes::BytesMut;
use fe2o3_amqp::frames::sasl;
use fe2o3_amqp::types::definitions::{Handle, ReceiverSettleMode, Role, SenderSettleMode};
use fe2o3_amqp::types::performatives::{Attach, Begin, Detach, Open, Transfer};
use fe2o3_amqp::types::primitives::{Array, Binary, Symbol};
use fe2o3_amqp::types::sasl::{SaslCode, SaslMechanisms, SaslOutcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

struct Forward(Mutex<mpsc::UnboundedSender<Event>>);

impl EventSink for Forward {
    fn emit(&self, event: Event) {
        if let Ok(tx) = self.0.lock() {
            let _ = tx.send(event);
        }
    }
}

/// Reads until `n` more bytes are in `buf`.
async fn read_at_least(s: &mut TcpStream, buf: &mut BytesMut, n: usize) {
    let want = buf.len() + n;
    while buf.len() < want {
        let r = s.read_buf(buf).await.expect("read");
        assert!(r > 0, "client closed early");
    }
}

/// Reads frames until one satisfies `pred`; returns it.
async fn until_frame(
    s: &mut TcpStream,
    buf: &mut BytesMut,
    pred: impl Fn(&Incoming) -> bool,
) -> Incoming {
    loop {
        while let Some(f) = codec::take_frame(buf, 1 << 20).expect("frame") {
            let inc = codec::decode_amqp(f).expect("decode");
            if pred(&inc) {
                return inc;
            }
        }
        let r = s.read_buf(buf).await.expect("read");
        assert!(r > 0, "client closed early");
    }
}

fn amqp(out: &mut BytesMut, channel: u16, p: &impl serde::Serialize) {
    codec::encode_amqp(out, channel, p).expect("encode");
}

fn attach_reply(name: String) -> Attach {
    Attach {
        name,
        handle: Handle(5),
        role: Role::Sender,
        snd_settle_mode: SenderSettleMode::Mixed,
        rcv_settle_mode: ReceiverSettleMode::First,
        source: None,
        target: None,
        unsettled: None,
        incomplete_unsettled: false,
        initial_delivery_count: Some(0),
        max_message_size: None,
        offered_capabilities: None,
        desired_capabilities: None,
        properties: None,
    }
}

async fn serve(mut s: TcpStream) -> u32 {
    let mut buf = BytesMut::new();
    read_at_least(&mut s, &mut buf, 8).await;
    assert_eq!(&buf.split_to(8)[..], &SASL_HEADER);
    let mut out = BytesMut::new();
    out.extend_from_slice(&SASL_HEADER);
    let mechanisms = sasl::Frame::Mechanisms(SaslMechanisms {
        sasl_server_mechanisms: Array(vec![Symbol::from("PLAIN")]),
    });
    codec::encode_sasl(&mut out, &mechanisms).expect("encode");
    s.write_all(&out).await.expect("write");
    // sasl-init
    loop {
        if let Some(f) = codec::take_frame(&mut buf, 1 << 20).expect("frame") {
            assert!(matches!(codec::decode_sasl(f), Ok(sasl::Frame::Init(_))));
            break;
        }
        read_at_least(&mut s, &mut buf, 1).await;
    }
    // Outcome, AMQP header and Open in one write: the client must read all three from one read.
    let mut out = BytesMut::new();
    let outcome = sasl::Frame::Outcome(SaslOutcome {
        code: SaslCode::Ok,
        additional_data: None,
    });
    codec::encode_sasl(&mut out, &outcome).expect("encode");
    out.extend_from_slice(&AMQP_HEADER);
    let open = Open {
        container_id: "pipelining-server".into(),
        hostname: None,
        max_frame_size: 65536.into(),
        channel_max: 0u16.into(),
        idle_time_out: None,
        outgoing_locales: None,
        incoming_locales: None,
        offered_capabilities: None,
        desired_capabilities: None,
        properties: None,
    };
    amqp(&mut out, 0, &open);
    s.write_all(&out).await.expect("write");
    // The client's AMQP header, then its open, begin and attach.
    read_at_least(&mut s, &mut buf, 8).await;
    assert_eq!(&buf.split_to(8)[..], &AMQP_HEADER);
    let Incoming::Attach(attach) =
        until_frame(&mut s, &mut buf, |f| matches!(f, Incoming::Attach(_))).await
    else {
        unreachable!()
    };
    let mut attaches = 1;
    // Begin, the attach reply, and a detach with an error, in one write.
    let mut out = BytesMut::new();
    amqp(
        &mut out,
        0,
        &Begin {
            remote_channel: Some(0),
            next_outgoing_id: 0,
            incoming_window: 1000,
            outgoing_window: 1000,
            handle_max: Handle(10),
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        },
    );
    amqp(&mut out, 0, &attach_reply(attach.name.clone()));
    amqp(
        &mut out,
        0,
        &Detach {
            handle: Handle(5),
            closed: true,
            error: None,
        },
    );
    s.write_all(&out).await.expect("write");
    // Our detach's answer, then the client attaches again on this connection.
    let Incoming::Attach(again) =
        until_frame(&mut s, &mut buf, |f| matches!(f, Incoming::Attach(_))).await
    else {
        unreachable!()
    };
    attaches += 1;
    let mut out = BytesMut::new();
    amqp(&mut out, 0, &attach_reply(again.name.clone()));
    // One platform message on the new attachment.
    let transfer = Transfer {
        handle: Handle(5),
        delivery_id: Some(0),
        delivery_tag: Some(Binary::from(vec![1])),
        message_format: Some(0),
        settled: None,
        more: false,
        rcv_settle_mode: None,
        state: None,
        resume: false,
        aborted: false,
        batchable: false,
    };
    let mut body = serde_amqp::to_vec(&transfer).expect("encode");
    body.extend_from_slice(&[0x00, 0x53, 0x75, 0xa0, 2, b'{', b'}']);
    out.extend_from_slice(&((body.len() + 8) as u32).to_be_bytes());
    out.extend_from_slice(&[2, 0, 0, 0]);
    out.extend_from_slice(&body);
    s.write_all(&out).await.expect("write");
    // Hold the connection until the client goes.
    let mut rest = [0u8; 1024];
    while let Ok(n) = s.read(&mut rest).await {
        if n == 0 {
            break;
        }
    }
    attaches
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_headers_and_a_detach_are_read_right_on_one_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.expect("accept");
        let served = serve(s).await;
        // No second connection is made.
        let second = tokio::time::timeout(Duration::from_millis(300), listener.accept()).await;
        (served, second.is_err())
    });
    let mut cfg = Config::new("127.0.0.1", port, Transport::Tcp);
    cfg.credentials = CredentialSource::Plain {
        username: "u".into(),
        password: Secret::new("p".into()),
    };
    cfg.reconnect.initial = Duration::from_millis(10);
    cfg.close_timeout = Duration::from_millis(100);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handle = supervisor::spawn(
        &tokio::runtime::Handle::current(),
        cfg,
        Some(ReceiverConfig {
            name: "r".into(),
            source: None,
            credit_window: 10,
        }),
        Arc::new(Forward(Mutex::new(tx))),
    )
    .expect("spawn");
    let mut seen = Vec::new();
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(ev) = rx.recv().await {
            let done = matches!(ev, Event::Messages { .. });
            seen.push(match &ev {
                Event::ConnectionOpen { remote, .. } => format!("open:{}", remote.container_id),
                Event::ReceiverOpen { attach, .. } => format!("receiver_open:{attach}"),
                Event::ReceiverClose {
                    attach,
                    reattach_in,
                    ..
                } => format!("receiver_close:{attach}:{}", reattach_in.is_some()),
                Event::Messages {
                    attach, deliveries, ..
                } => format!("messages:{attach}:{}", deliveries.len()),
                Event::Disconnected { error, .. } => format!("disconnected:{error:?}"),
                other => format!("{other:?}"),
            });
            if done {
                break;
            }
        }
    })
    .await;
    assert!(got.is_ok(), "timed out; events: {seen:?}");
    assert_eq!(
        seen,
        vec![
            "open:pipelining-server",
            "SessionOpen { epoch: 1 }",
            "receiver_open:1",
            "receiver_close:1:true",
            "receiver_open:2",
            "messages:2:1",
        ]
    );
    handle.send(aliyun_iot_amqp::model::Command::Close);
    let (attaches, one_connection) = server.await.expect("server");
    assert_eq!(attaches, 2);
    assert!(one_connection, "the client connected a second time");
}
