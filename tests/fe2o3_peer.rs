//! The core against a real AMQP 1.0 peer nobody here wrote: fe2o3-amqp's acceptor (connection,
//! SASL PLAIN, session and a sending link), over TCP on loopback. No Node involved.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aliyun_iot_amqp::config::{Config, CredentialSource, ReceiverConfig, Transport};
use aliyun_iot_amqp::message::Body;
use aliyun_iot_amqp::model::{Command, Event, EventSink};
use aliyun_iot_amqp::secret::Secret;
use aliyun_iot_amqp::settle::Outcome;
use aliyun_iot_amqp::supervisor::{self, ConsumerHandle};
use fe2o3_amqp::acceptor::{
    ConnectionAcceptor, LinkAcceptor, LinkEndpoint, SaslPlainMechanism, SessionAcceptor,
};
use fe2o3_amqp::types::messaging::{Message, Outcome as Fe2o3Outcome};
use fe2o3_amqp::types::primitives::Binary;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Forwards events to the test; accepts every delivery at once, as a consumer would.
struct Forward {
    tx: mpsc::UnboundedSender<Event>,
    handle: Mutex<Option<ConsumerHandle>>,
}

impl EventSink for Forward {
    fn emit(&self, event: Event) {
        if let Event::Messages {
            attach, deliveries, ..
        } = &event
        {
            let settles = deliveries
                .iter()
                .map(|d| (d.id, Outcome::Accepted))
                .collect();
            if let Ok(guard) = self.handle.lock() {
                if let Some(h) = guard.as_ref() {
                    h.settle(*attach, settles);
                }
            }
        }
        let _ = self.tx.send(event);
    }
}

fn config(port: u16, password: &str) -> Config {
    let mut cfg = Config::new("127.0.0.1", port, Transport::Tcp);
    cfg.credentials = CredentialSource::Plain {
        username: "client-0|authMode=aksign|".into(),
        password: Secret::new(password.into()),
    };
    cfg.reconnect.initial = Duration::from_millis(10);
    cfg.connect_timeout = Duration::from_secs(10);
    cfg
}

fn start(cfg: Config) -> (ConsumerHandle, mpsc::UnboundedReceiver<Event>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let sink = Arc::new(Forward {
        tx,
        handle: Mutex::new(None),
    });
    let receiver = ReceiverConfig {
        name: "receiver-1".into(),
        source: Some("queue-1".into()),
        credit_window: 10,
    };
    let handle = supervisor::spawn(
        &tokio::runtime::Handle::current(),
        cfg,
        Some(receiver),
        sink.clone(),
    )
    .expect("valid config");
    if let Ok(mut guard) = sink.handle.lock() {
        *guard = Some(handle.clone());
    }
    (handle, rx)
}

async fn next_event(rx: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10 s")
        .expect("event channel open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumes_and_accepts_from_fe2o3_sender() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let acceptor = ConnectionAcceptor::builder()
            .container_id("fe2o3-server")
            .sasl_acceptor(SaslPlainMechanism::new(
                "client-0|authMode=aksign|",
                "right-password",
            ))
            .build();
        let mut connection = acceptor.accept(stream).await.unwrap();
        let mut session = SessionAcceptor::new()
            .accept(&mut connection)
            .await
            .unwrap();
        let link = LinkAcceptor::new().accept(&mut session).await.unwrap();
        let LinkEndpoint::Sender(mut sender) = link else {
            panic!("the client should attach a receiver");
        };
        let mut outcomes = Vec::new();
        for i in 0..25u32 {
            let body = format!("{{\"n\":{i}}}");
            let msg = Message::builder()
                .data(Binary::from(body.into_bytes()))
                .build();
            let outcome = sender.send(msg).await.unwrap();
            outcomes.push(matches!(outcome, Fe2o3Outcome::Accepted(_)));
        }
        // Keep the connection until the client closes it.
        let _ = tokio::time::timeout(Duration::from_secs(10), sender.close()).await;
        outcomes
    });

    let (handle, mut rx) = start(config(port, "right-password"));
    let mut bodies = Vec::new();
    let mut saw_open = false;
    while bodies.len() < 25 {
        match next_event(&mut rx).await {
            Event::ReceiverOpen { remote_source, .. } => {
                saw_open = true;
                assert_eq!(remote_source.as_deref(), Some("queue-1"));
            }
            Event::Messages { deliveries, .. } => {
                for d in deliveries {
                    match d.message.body {
                        Body::Data(parts) => {
                            bodies.push(String::from_utf8(parts[0].to_vec()).unwrap())
                        }
                        other => panic!("unexpected body {other:?}"),
                    }
                }
            }
            Event::Disconnected { error, .. } => panic!("disconnected: {error:?}"),
            _ => {}
        }
    }
    assert!(saw_open);
    let expected: Vec<String> = (0..25).map(|i| format!("{{\"n\":{i}}}")).collect();
    assert_eq!(bodies, expected);
    handle.send(Command::Close);
    loop {
        if let Event::Closed = next_event(&mut rx).await {
            break;
        }
    }
    let outcomes = server.await.unwrap();
    assert_eq!(outcomes.len(), 25);
    assert!(
        outcomes.iter().all(|accepted| *accepted),
        "every send was accepted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_login_is_fatal_and_named() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let attempts = Arc::new(Mutex::new(0u32));
    let counted = attempts.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            if let Ok(mut n) = counted.lock() {
                *n += 1;
            }
            let acceptor = ConnectionAcceptor::builder()
                .container_id("fe2o3-server")
                .sasl_acceptor(SaslPlainMechanism::new(
                    "client-0|authMode=aksign|",
                    "right",
                ))
                .build();
            tokio::spawn(async move {
                let _ = acceptor.accept(stream).await;
            });
        }
    });

    let (_handle, mut rx) = start(config(port, "wrong"));
    let mut saw_connection_error = false;
    loop {
        match next_event(&mut rx).await {
            Event::ConnectionError { error, .. } => {
                assert!(error.is_auth_failure());
                assert!(error.description().contains("authentication failed"));
                assert!(!error.description().contains("wrong"));
                saw_connection_error = true;
            }
            Event::Disconnected {
                error,
                reconnecting,
                ..
            } => {
                assert!(!reconnecting, "no retry after a refused login");
                assert!(error.expect("an error").is_auth_failure());
            }
            Event::Closed => break,
            _ => {}
        }
    }
    assert!(saw_connection_error);
    assert_eq!(*attempts.lock().unwrap(), 1);
}
