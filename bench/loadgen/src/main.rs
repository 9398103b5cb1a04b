//! loadgen: the server side of the IoT Platform's AMQP subscription, written for speed.
//!
//! Listens on TCP (or TLS with a certificate and key from files), does SASL PLAIN (any
//! credentials), Open, Begin, and accepts the client's receiver attach (echoing its source and
//! target). Then it sends platform-shaped messages (properties.message-id, application-properties
//! topic / messageId / generateTime (long), one data section of JSON) as fast as the link credit and
//! the session window allow, or paced at a fixed rate with the send time embedded (an extra
//! application property `sendNs`: CLOCK_MONOTONIC nanoseconds, the clock of Node's
//! `process.hrtime.bigint()`). Dispositions are counted by range. Frames are pre-encoded once with
//! the package's own codec and fe2o3 types, then copied and patched per message (delivery id, tag,
//! message id, send time): no per-message encoding.
//!
//! Runs on one thread (a current-thread runtime): on a 2-core machine it takes at most one core
//! from the consumer under test. Prints `listening <port>` on start and one JSON line of
//! statistics per connection served, then exits after `--connections` connections.
//!
//! Usage: loadgen [--host 127.0.0.1] [--port 0] [--tls-cert FILE --tls-key FILE] --count N
//!                [--size 256] [--rate MSG_PER_S] [--stamp] [--connections 1] [--timeout-s 300]
//!                [--batch-bytes 262144] [--rt]
//! `--timeout-s` bounds the wait for each connection and each connection's run.
//! `--rate R` paces one message at a time on a timerfd (see pace.rs); `--rt` runs the thread under
//! SCHED_FIFO when paced, so that the schedule holds on a busy machine (it never spins: it sleeps in
//! epoll between deadlines).
#![deny(clippy::all)]
// Every `unsafe` block says why it is sound (as in the package's src/lib.rs).
#![deny(clippy::undocumented_unsafe_blocks)]

use std::cell::{Cell, RefCell};
use std::io::Write as _;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use aliyun_iot_amqp::codec::{self, Incoming};
use bytes::BytesMut;
use fe2o3_amqp::frames::sasl;
use fe2o3_amqp::types::definitions::{Handle, ReceiverSettleMode, Role, SenderSettleMode};
use fe2o3_amqp::types::messaging::DeliveryState;
use fe2o3_amqp::types::performatives::{Attach, Begin, Close, Detach, End, Flow, Open, Transfer};
use fe2o3_amqp::types::primitives::{Array, Symbol};
use fe2o3_amqp::types::sasl::{SaslCode, SaslMechanisms, SaslOutcome};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

const OUR_CHANNEL: u16 = 0;
const OUR_HANDLE: u32 = 0;
const MAX_FRAME: u32 = 1 << 20;
const TOPIC: &str = "/a1ProductKey/device1/thing/event/property/post";
/// The first message id: 19 digits, like the platform's.
const MESSAGE_ID_BASE: u64 = 1_700_000_000_000_000_000;

type Res<T> = Result<T, String>;

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

#[derive(Clone, Debug)]
struct Opts {
    host: String,
    port: u16,
    tls: Option<(String, String)>,
    count: u64,
    size: usize,
    rate: f64,
    stamp: bool,
    connections: u32,
    timeout: Duration,
    batch_bytes: usize,
    /// Paced runs: run the (one) thread under SCHED_FIFO, so that its wake-ups are on time even
    /// when other processes keep both cores busy.
    rt: bool,
    /// The scheduling policy the thread runs under: "fifo" or "other".
    sched: &'static str,
}

fn parse_args() -> Res<Opts> {
    let mut o = Opts {
        host: "127.0.0.1".into(),
        port: 0,
        tls: None,
        count: 100_000,
        size: 256,
        rate: 0.0,
        stamp: false,
        connections: 1,
        timeout: Duration::from_secs(300),
        batch_bytes: 256 * 1024,
        rt: false,
        sched: "other",
    };
    let mut cert = None;
    let mut key = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--host" => o.host = val()?,
            "--port" => o.port = val()?.parse().map_err(err("--port"))?,
            "--tls-cert" => cert = Some(val()?),
            "--tls-key" => key = Some(val()?),
            "--count" => o.count = val()?.parse().map_err(err("--count"))?,
            "--size" => o.size = val()?.parse().map_err(err("--size"))?,
            "--rate" => o.rate = val()?.parse().map_err(err("--rate"))?,
            "--stamp" => o.stamp = true,
            "--connections" => o.connections = val()?.parse().map_err(err("--connections"))?,
            "--timeout-s" => {
                o.timeout = Duration::from_secs_f64(val()?.parse().map_err(err("--timeout-s"))?)
            }
            "--batch-bytes" => o.batch_bytes = val()?.parse().map_err(err("--batch-bytes"))?,
            "--rt" => o.rt = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    match (cert, key) {
        (Some(c), Some(k)) => o.tls = Some((c, k)),
        (None, None) => {}
        _ => return Err("--tls-cert and --tls-key go together".into()),
    }
    if o.rate > 0.0 {
        o.stamp = true;
    }
    Ok(o)
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of Node's `process.hrtime.bigint()`.
fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// (user µs, system µs) of this process.
fn cpu_us() -> (u64, u64) {
    // SAFETY: rusage is plain integers; all zeroes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage for the call.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (us(ru.ru_utime), us(ru.ru_stime))
}

mod pace;
mod payload;
mod peer;

use payload::template;
use peer::serve;

fn tls_acceptor(cert: &str, key: &str) -> Res<tokio_rustls::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(err("certificate file"))?
        .collect::<Result<_, _>>()
        .map_err(err("certificate"))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(err("key file"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(err("tls"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(err("tls"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

async fn main_async(opts: Opts) -> Res<()> {
    let tpl = template(opts.size, opts.stamp)?;
    let acceptor = match &opts.tls {
        Some((c, k)) => Some(tls_acceptor(c, k)?),
        None => None,
    };
    let listener = TcpListener::bind((opts.host.as_str(), opts.port))
        .await
        .map_err(err("bind"))?;
    let port = listener.local_addr().map_err(err("bind"))?.port();
    {
        let mut so = std::io::stdout().lock();
        let _ = writeln!(so, "listening {port} frame_bytes={}", tpl.frame.len());
        let _ = so.flush();
    }
    for _ in 0..opts.connections {
        // Bounded: a loadgen whose client never came must not linger.
        let (sock, _) = tokio::time::timeout(opts.timeout, listener.accept())
            .await
            .map_err(|_| format!("no connection within {} s", opts.timeout.as_secs()))?
            .map_err(err("accept"))?;
        let accept_ns = mono_ns();
        let _ = sock.set_nodelay(true);
        let line = match &acceptor {
            Some(acc) => match acc.accept(sock).await {
                Ok(tls) => {
                    let tls_ns = mono_ns();
                    serve(tls, &tpl, &opts, accept_ns, tls_ns).await
                }
                Err(e) => format!("{{\"error\":{:?}}}", format!("tls: {e}")),
            },
            None => serve(sock, &tpl, &opts, accept_ns, 0).await,
        };
        let mut so = std::io::stdout().lock();
        let _ = writeln!(so, "{line}");
        let _ = so.flush();
    }
    Ok(())
}

/// SCHED_FIFO for this thread (the runtime's only one); what the thread runs under, for the JSON.
fn realtime() -> &'static str {
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: `param` outlives the call; 0 names this thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } == 0 {
        "fifo"
    } else {
        eprintln!(
            "loadgen: --rt: SCHED_FIFO refused ({}); running as a normal thread",
            std::io::Error::last_os_error()
        );
        "other"
    }
}

fn main() {
    let mut opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    opts.sched = if opts.rt && opts.rate > 0.0 {
        realtime()
    } else {
        "other"
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let Err(e) = rt.block_on(main_async(opts)) {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}
