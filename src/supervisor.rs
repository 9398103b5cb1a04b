//! The consumer's supervisor: starts the connection task, reconnects with backoff (rhea's
//! defaults, plus jitter: `backoff.rs`) after every failure but a refused login, and turns a panic
//! anywhere in the task into events instead of an abort.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_rustls::rustls::ClientConfig;

use crate::acks::{Acks, Settles};
use crate::backoff::Backoff;
use crate::config::{Config, ReceiverConfig, Reconnect, Transport};
use crate::error::Error;
use crate::model::{Command, Event, EventSink};
use crate::session::{Ending, Session};
use crate::transport;

/// The owner's end: send commands and settlements; dropping it closes the consumer.
#[derive(Clone)]
pub struct ConsumerHandle {
    tx: mpsc::UnboundedSender<Command>,
    acks: Arc<Acks>,
}

impl ConsumerHandle {
    /// Queues a command; `false` when the consumer has finished.
    pub fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).is_ok()
    }

    /// Settles deliveries of attachment `attach` (from their `Messages` event). Those of an
    /// attachment that ended are dropped: the server delivers them again. `false` when the
    /// consumer has finished.
    pub fn settle(&self, attach: u32, settles: Settles) -> bool {
        if self.tx.is_closed() {
            return false;
        }
        self.acks.push(attach, settles);
        true
    }
}

/// Starts a consumer on the given runtime, with a configuration checked by `Config::validate`.
/// A panic anywhere in it ends in `Disconnected` (with the panic as error) and `Closed`, never in
/// an abort.
pub fn spawn(
    rt: &tokio::runtime::Handle,
    cfg: Config,
    receiver: Option<ReceiverConfig>,
    sink: Arc<dyn EventSink>,
) -> Result<ConsumerHandle, Error> {
    let tls = match cfg.transport {
        Transport::Tls => Some(transport::tls_config(&cfg)?),
        Transport::Tcp => None,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let acks = Arc::new(Acks::new(!cfg.ack_delay.is_zero()));
    guarded(
        rt,
        run(cfg, tls, receiver, sink.clone(), rx, acks.clone()),
        sink,
    );
    Ok(ConsumerHandle { tx, acks })
}

/// Runs `task`, and reports its panic (or cancellation) as a final `Disconnected` + `Closed`.
fn guarded(
    rt: &tokio::runtime::Handle,
    task: impl Future<Output = ()> + Send + 'static,
    sink: Arc<dyn EventSink>,
) {
    let task = rt.spawn(task);
    rt.spawn(async move {
        if let Err(e) = task.await {
            let description = if e.is_panic() {
                panic_message(e.into_panic())
            } else {
                "connection task cancelled".to_string()
            };
            sink.emit(Event::Disconnected {
                epoch: 0,
                error: Some(Error::Internal(description)),
                reconnecting: false,
                delay: Duration::ZERO,
            });
            sink.emit(Event::Closed);
        }
    });
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

/// Fault injection for the test suite (cargo feature `fault-injection`, never in a release
/// build): proves that a panic in the connection task ends in an error event, not in an abort.
#[cfg(feature = "fault-injection")]
fn inject_faults() {
    if std::env::var_os("ALIYUN_IOT_AMQP_INJECT_PANIC").is_some() {
        panic!("injected panic (ALIYUN_IOT_AMQP_INJECT_PANIC is set)");
    }
}

#[cfg(not(feature = "fault-injection"))]
fn inject_faults() {}

/// Whether another attempt follows a failure: not after a refused login or a refused server
/// certificate (retrying cannot fix either) unless asked for, nor past the limit.
fn should_reconnect(policy: &Reconnect, error: Option<&Error>, failures: u32) -> bool {
    let auth_failed = error.is_some_and(Error::is_auth_failure);
    let certificate_failed = error.is_some_and(Error::is_certificate_failure);
    policy.enabled
        && (!auth_failed || policy.on_auth_failure)
        && (!certificate_failed || policy.on_certificate_failure)
        && policy.limit.is_none_or(|limit| failures <= limit)
}

async fn run(
    cfg: Config,
    tls: Option<Arc<ClientConfig>>,
    mut receiver: Option<ReceiverConfig>,
    sink: Arc<dyn EventSink>,
    mut rx: mpsc::UnboundedReceiver<Command>,
    acks: Arc<Acks>,
) {
    let mut epoch = 0u64;
    let mut failures = 0u32;
    let mut backoff = Backoff::new(&cfg.reconnect);
    // The receiver's re-attach backoff, kept across connections (session/reattach.rs).
    let mut reattach_backoff = Backoff::new(&cfg.reconnect);
    // Numbers the receiver's attachments across connections (settlements name theirs).
    let mut attach_seq = 0u32;
    'outer: loop {
        epoch += 1;
        inject_faults();
        let end = {
            let mut session = Session::new(
                &cfg,
                epoch,
                receiver.take(),
                sink.as_ref(),
                &acks,
                attach_seq,
                &mut reattach_backoff,
            );
            let end = session.run(tls.as_ref(), &mut rx).await;
            attach_seq = session.attach_seq();
            receiver = session.link.map(|l| l.config);
            end
        };
        let (error, worked) = match end {
            Ending::Closed => break,
            Ending::Failed { error, worked } => (error, worked),
        };
        // Only a connection that worked starts the backoff (and reconnect_limit's count) afresh:
        // one that merely got as far as an attach would let a failure that recurs on every
        // connection retry at the initial delay forever.
        if worked {
            failures = 0;
            backoff.reset();
        }
        failures += 1;
        let reconnecting = should_reconnect(&cfg.reconnect, error.as_ref(), failures);
        let wait = if reconnecting {
            backoff.delay()
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
                    // A late answer for an attempt already made.
                    Some(Command::Credentials { .. } | Command::IdentityVerdict { .. }) => {}
                },
            }
        }
    }
    sink.emit(Event::Closed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<Event>>);

    impl EventSink for Recorder {
        fn emit(&self, event: Event) {
            if let Ok(mut v) = self.0.lock() {
                v.push(event);
            }
        }
    }

    #[test]
    fn refused_logins_and_certificates_end_reconnecting_unless_asked() {
        let cert = Error::Certificate {
            code: Some("DEPTH_ZERO_SELF_SIGNED_CERT".into()),
            description: "self-signed certificate".into(),
        };
        let auth = Error::Auth("authentication failed".into());
        let reset = Error::tls("the server reset the connection during the TLS handshake");
        let mut p = Reconnect::default();
        assert!(
            should_reconnect(&p, Some(&cert), 1),
            "rhea's default: retried"
        );
        assert!(!should_reconnect(&p, Some(&auth), 1));
        assert!(should_reconnect(&p, Some(&reset), 1));
        p.on_certificate_failure = false;
        assert!(
            !should_reconnect(&p, Some(&cert), 1),
            "final for the consumer"
        );
        assert!(
            should_reconnect(&p, Some(&reset), 1),
            "only verification failures are final"
        );
        assert!(should_reconnect(&p, None, 1));
        p.limit = Some(2);
        assert!(!should_reconnect(&p, None, 3));
    }

    /// The test build's hook (cargo feature `fault-injection`): with
    /// `ALIYUN_IOT_AMQP_INJECT_PANIC` set, the connection task panics before it dials, and the
    /// guard reports it. (No other test of this binary starts a connection task.)
    #[cfg(feature = "fault-injection")]
    #[test]
    fn an_injected_panic_ends_in_an_error_event_and_closed() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let sink = Arc::new(Recorder::default());
        std::env::set_var("ALIYUN_IOT_AMQP_INJECT_PANIC", "1");
        let events = rt.block_on(async {
            let cfg = Config::new("127.0.0.1", 1, Transport::Tcp);
            let handle = spawn(&tokio::runtime::Handle::current(), cfg, None, sink.clone());
            assert!(handle.is_ok());
            for _ in 0..100 {
                if sink.0.lock().map(|v| v.len() >= 2).unwrap_or(false) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            sink.0.lock().map(|v| v.clone()).unwrap_or_default()
        });
        std::env::remove_var("ALIYUN_IOT_AMQP_INJECT_PANIC");
        assert_eq!(events.len(), 2, "{events:?}");
        match &events[0] {
            Event::Disconnected {
                error: Some(e),
                reconnecting: false,
                ..
            } => assert!(e.description().contains("injected panic"), "{e}"),
            other => panic!("expected Disconnected, got {other:?}"),
        }
        assert!(matches!(events[1], Event::Closed));
    }

    #[test]
    fn a_panicking_task_ends_in_an_error_event_and_closed() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let sink = Arc::new(Recorder::default());
        let events = rt.block_on(async {
            guarded(
                &tokio::runtime::Handle::current(),
                async { panic!("boom") },
                sink.clone(),
            );
            for _ in 0..100 {
                if sink.0.lock().map(|v| v.len() >= 2).unwrap_or(false) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            sink.0.lock().map(|v| v.clone()).unwrap_or_default()
        });
        assert_eq!(events.len(), 2, "{events:?}");
        match &events[0] {
            Event::Disconnected {
                error: Some(e),
                reconnecting: false,
                ..
            } => {
                assert_eq!(e.condition(), "aliyun-iot-amqp:internal");
                assert!(e.description().contains("boom"), "{e}");
            }
            other => panic!("expected Disconnected, got {other:?}"),
        }
        assert!(matches!(events[1], Event::Closed));
    }
}
