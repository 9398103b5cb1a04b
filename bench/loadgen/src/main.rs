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
//!                [--batch-bytes 262144]
//! `--timeout-s` bounds the wait for each connection and each connection's run.

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
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (us(ru.ru_utime), us(ru.ru_stime))
}

// ------------------------------------------------------------------------------------------------
// The message template

/// A complete transfer frame and where to patch it per message.
struct Template {
    frame: Vec<u8>,
    delivery_id_at: usize,
    tag_at: usize,
    message_id_at: [usize; 2],
    send_ns_at: Option<usize>,
}

/// A JSON document of exactly `size` bytes in the platform's property-post format.
fn json_body(size: usize, generate_time: u64) -> Res<Vec<u8>> {
    let head = format!(
        "{{\"deviceType\":\"CustomCategory\",\"iotId\":\"loadgenA1ProductKeyDevice1\",\"requestId\":\"1\",\
\"productKey\":\"a1ProductKey\",\"gmtCreate\":{t},\"deviceName\":\"device1\",\
\"items\":{{\"Temperature\":{{\"value\":23.6,\"time\":{t}}}}},\"pad\":\"",
        t = generate_time
    );
    let tail = "\"}";
    if head.len() + tail.len() > size {
        return Err(format!(
            "--size must be at least {}",
            head.len() + tail.len()
        ));
    }
    let mut body = head.into_bytes();
    let pad = size - body.len() - tail.len();
    body.extend(std::iter::repeat_n(b'x', pad));
    body.extend_from_slice(tail.as_bytes());
    Ok(body)
}

fn put_str8(out: &mut Vec<u8>, s: &str) {
    out.push(0xa1);
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

/// The message payload, in AMQP encoding: properties (message-id), application-properties and one
/// data section. Sizes are checked against the 8-bit encodings used.
fn payload(size: usize, stamp: bool, generate_time: u64) -> Res<Vec<u8>> {
    let id = MESSAGE_ID_BASE.to_string();
    let mut p = Vec::new();
    // properties: described list8 with one field, message-id as str8.
    p.extend_from_slice(&[0x00, 0x53, 0x73, 0xc0]);
    p.push((1 + 2 + id.len()) as u8);
    p.push(1);
    put_str8(&mut p, &id);
    // application-properties: described map8.
    let mut m = Vec::new();
    let mut pairs = 0u8;
    put_str8(&mut m, "topic");
    put_str8(&mut m, TOPIC);
    put_str8(&mut m, "messageId");
    put_str8(&mut m, &id);
    put_str8(&mut m, "generateTime");
    m.push(0x81);
    m.extend_from_slice(&(generate_time as i64).to_be_bytes());
    pairs += 6;
    if stamp {
        put_str8(&mut m, "sendNs");
        m.push(0x81);
        m.extend_from_slice(&0x5a5a_5a5a_5a5a_5a5au64.to_be_bytes());
        pairs += 2;
    }
    if m.len() + 1 > 255 {
        return Err("application-properties too large for map8".into());
    }
    p.extend_from_slice(&[0x00, 0x53, 0x74, 0xc1]);
    p.push((m.len() + 1) as u8);
    p.push(pairs);
    p.extend_from_slice(&m);
    // data: described binary.
    let body = json_body(size, generate_time)?;
    p.extend_from_slice(&[0x00, 0x53, 0x75]);
    if body.len() <= 255 {
        p.push(0xa0);
        p.push(body.len() as u8);
    } else {
        p.push(0xb0);
        p.extend_from_slice(&(body.len() as u32).to_be_bytes());
    }
    p.extend_from_slice(&body);
    Ok(p)
}

fn find(hay: &[u8], needle: &[u8]) -> Res<usize> {
    let at: Vec<usize> = hay
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    match at.as_slice() {
        [i] => Ok(*i),
        _ => Err(format!("template: {} matches for {needle:02x?}", at.len())),
    }
}

fn template(size: usize, stamp: bool) -> Res<Template> {
    let transfer = Transfer {
        handle: Handle(OUR_HANDLE),
        // Placeholders wide enough that the encoder picks the 4-byte forms we patch in place.
        delivery_id: Some(0x7e7e_7e7e),
        delivery_tag: Some(serde_bytes::ByteBuf::from(vec![0xa5, 0xa5, 0xa5, 0xa5])),
        message_format: Some(0),
        settled: Some(false),
        more: false,
        rcv_settle_mode: None,
        state: None,
        resume: false,
        aborted: false,
        batchable: false,
    };
    let mut frame = BytesMut::new();
    codec::encode_amqp(&mut frame, OUR_CHANNEL, &transfer).map_err(err("encode transfer"))?;
    let mut frame = frame.to_vec();
    let perf_len = frame.len();
    let gen = wall_ms();
    frame.extend_from_slice(&payload(size, stamp, gen)?);
    let total = frame.len() as u32;
    frame[..4].copy_from_slice(&total.to_be_bytes());
    let delivery_id_at = find(&frame[..perf_len], &[0x70, 0x7e, 0x7e, 0x7e, 0x7e])? + 1;
    let tag_at = find(&frame[..perf_len], &[0xa0, 0x04, 0xa5, 0xa5, 0xa5, 0xa5])? + 2;
    let id = MESSAGE_ID_BASE.to_string();
    // The id appears twice (properties and application-properties): find both.
    let mut ids = Vec::new();
    let mut from = 0;
    while let Some(i) = frame[from..]
        .windows(id.len())
        .position(|w| w == id.as_bytes())
    {
        ids.push(from + i);
        from += i + id.len();
    }
    if ids.len() != 2 {
        return Err(format!("template: message id found {} times", ids.len()));
    }
    let send_ns_at = if stamp {
        Some(find(&frame, &0x5a5a_5a5a_5a5a_5a5au64.to_be_bytes())?)
    } else {
        None
    };
    let t = Template {
        frame,
        delivery_id_at,
        tag_at,
        message_id_at: [ids[0], ids[1]],
        send_ns_at,
    };
    t.self_check(size)?;
    Ok(t)
}

impl Template {
    /// Writes message `seq` (delivery id `seq` as u32) into `out`.
    #[inline]
    fn put(&self, out: &mut BytesMut, delivery_id: u32, id_digits: &[u8; 19], send_ns: u64) {
        let start = out.len();
        out.extend_from_slice(&self.frame);
        let f = &mut out[start..];
        f[self.delivery_id_at..self.delivery_id_at + 4].copy_from_slice(&delivery_id.to_be_bytes());
        f[self.tag_at..self.tag_at + 4].copy_from_slice(&delivery_id.to_be_bytes());
        for at in self.message_id_at {
            f[at..at + 19].copy_from_slice(id_digits);
        }
        if let Some(at) = self.send_ns_at {
            f[at..at + 8].copy_from_slice(&send_ns.to_be_bytes());
        }
    }

    /// Decodes a patched copy with the package's own codec: the frame must read back as sent.
    fn self_check(&self, size: usize) -> Res<()> {
        let mut digits = [b'0'; 19];
        digits.copy_from_slice(b"1700000000000000042");
        let mut buf = BytesMut::new();
        self.put(&mut buf, 77, &digits, 123_456_789);
        let frame = codec::take_frame(&mut buf, MAX_FRAME)
            .map_err(err("self-check"))?
            .ok_or("self-check: incomplete frame")?;
        let Incoming::Transfer(t, payload) =
            codec::decode_amqp(frame).map_err(err("self-check"))?
        else {
            return Err("self-check: not a transfer".into());
        };
        if t.delivery_id != Some(77)
            || t.delivery_tag.as_ref().map(|b| b.to_vec()) != Some(vec![0, 0, 0, 77])
        {
            return Err(format!("self-check: transfer reads back as {t:?}"));
        }
        let m = aliyun_iot_amqp::message::decode(payload).map_err(err("self-check decode"))?;
        if m.application_property_str("topic") != Some(TOPIC)
            || m.application_property_str("messageId") != Some("1700000000000000042")
            || m.single_data().map(|d| d.len()) != Some(size)
        {
            return Err(format!("self-check: message reads back as {m:?}"));
        }
        Ok(())
    }
}

/// Increments a 19-digit decimal counter in place.
#[inline]
fn bump(d: &mut [u8; 19]) {
    for c in d.iter_mut().rev() {
        if *c == b'9' {
            *c = b'0';
        } else {
            *c += 1;
            return;
        }
    }
}

// ------------------------------------------------------------------------------------------------
// One connection

/// State shared between the reading and the writing half (one thread: cells).
struct Shared {
    /// The link's delivery-count bound: the receiver's delivery-count plus its link credit.
    credit_limit: Cell<u32>,
    /// The session's transfer-id bound: the receiver's next-incoming-id plus its incoming window.
    session_limit: Cell<u32>,
    /// Frames the reader wants written (flow echo, detach, close replies).
    control: RefCell<BytesMut>,
    accepted: Cell<u64>,
    /// One bit per delivery id settled (a client may settle a delivery twice: count it once).
    settled_bits: RefCell<Vec<u64>>,
    settled_unique: Cell<u64>,
    /// Deliveries named in dispositions, duplicates included.
    settled_total: Cell<u64>,
    other_outcomes: Cell<u64>,
    disposition_frames: Cell<u64>,
    flow_frames: Cell<u64>,
    all_settled_ns: Cell<u64>,
    first_send_ns: Cell<u64>,
    last_send_ns: Cell<u64>,
    first_disposition_ns: Cell<u64>,
    /// The client said goodbye (close, detach or end) or the transport ended.
    finished: Cell<bool>,
    error: RefCell<Option<String>>,
    wake: Notify,
}

#[derive(Default)]
struct Setup {
    username: Option<String>,
    remote_channel: u16,
    remote_handle: u32,
    remote_container: String,
    remote_max_frame: u32,
    session_incoming_window: u32,
    session_next_incoming: u32,
    credit_limit: u32,
    attach_ns: u64,
}

async fn read_more<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut BytesMut) -> Res<()> {
    if buf.capacity() - buf.len() < 16 * 1024 {
        buf.reserve(64 * 1024);
    }
    match rd.read_buf(buf).await {
        Ok(0) => Err("connection closed by the client".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("read: {e}")),
    }
}

async fn next_frame<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut BytesMut) -> Res<codec::RawFrame> {
    loop {
        if let Some(f) = codec::take_frame(buf, MAX_FRAME).map_err(err("frame"))? {
            return Ok(f);
        }
        read_more(rd, buf).await?;
    }
}

async fn read_header<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut BytesMut) -> Res<[u8; 8]> {
    while buf.len() < 8 {
        read_more(rd, buf).await?;
    }
    let mut h = [0u8; 8];
    h.copy_from_slice(&buf.split_to(8));
    Ok(h)
}

/// SASL, open, begin and attach. Leaves any further frames (the client's flow) in `buf`.
async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
) -> Res<Setup> {
    let mut setup = Setup::default();
    let mut out = BytesMut::new();
    let mut header = read_header(io, buf).await?;
    if header == codec::SASL_HEADER {
        out.extend_from_slice(&codec::SASL_HEADER);
        let mechs = sasl::Frame::Mechanisms(SaslMechanisms {
            sasl_server_mechanisms: Array(vec![Symbol::from("PLAIN"), Symbol::from("ANONYMOUS")]),
        });
        codec::encode_sasl(&mut out, &mechs).map_err(err("encode"))?;
        io.write_all(&out).await.map_err(err("write"))?;
        out.clear();
        let frame = next_frame(io, buf).await?;
        match codec::decode_sasl(frame).map_err(err("sasl"))? {
            sasl::Frame::Init(init) => {
                if init.mechanism.as_str() == "PLAIN" {
                    let resp = init
                        .initial_response
                        .map(|b| b.to_vec())
                        .unwrap_or_default();
                    let parts: Vec<&[u8]> = resp.split(|b| *b == 0).collect();
                    setup.username = parts.get(1).map(|u| String::from_utf8_lossy(u).into());
                }
            }
            other => return Err(format!("expected sasl-init, got {other:?}")),
        }
        let outcome = sasl::Frame::Outcome(SaslOutcome {
            code: SaslCode::Ok,
            additional_data: None,
        });
        codec::encode_sasl(&mut out, &outcome).map_err(err("encode"))?;
        io.write_all(&out).await.map_err(err("write"))?;
        out.clear();
        header = read_header(io, buf).await?;
    }
    if header != codec::AMQP_HEADER {
        return Err(format!("unexpected protocol header {header:02x?}"));
    }
    // Answer the header at once: a client may wait for it before sending its open.
    io.write_all(&codec::AMQP_HEADER)
        .await
        .map_err(err("write"))?;
    let mut begun = false;
    loop {
        let frame = next_frame(io, buf).await?;
        let channel = frame.channel;
        match codec::decode_amqp(frame).map_err(err("decode"))? {
            Incoming::Empty => {}
            Incoming::Open(open) => {
                setup.remote_container = open.container_id.clone();
                setup.remote_max_frame = open.max_frame_size.0;
                let reply = Open {
                    container_id: "aliyun-iot-amqp-loadgen".into(),
                    hostname: None,
                    max_frame_size: MAX_FRAME.into(),
                    channel_max: 0u16.into(),
                    idle_time_out: None,
                    outgoing_locales: None,
                    incoming_locales: None,
                    offered_capabilities: None,
                    desired_capabilities: None,
                    properties: None,
                };
                codec::encode_amqp(&mut out, 0, &reply).map_err(err("encode"))?;
            }
            Incoming::Begin(b) => {
                setup.remote_channel = channel;
                setup.session_incoming_window = b.incoming_window;
                setup.session_next_incoming = 0;
                let reply = Begin {
                    remote_channel: Some(channel),
                    next_outgoing_id: 0,
                    incoming_window: i32::MAX as u32,
                    outgoing_window: i32::MAX as u32,
                    handle_max: Handle(u32::MAX),
                    offered_capabilities: None,
                    desired_capabilities: None,
                    properties: None,
                };
                codec::encode_amqp(&mut out, OUR_CHANNEL, &reply).map_err(err("encode"))?;
                begun = true;
            }
            Incoming::Attach(a) => {
                if !begun || a.role != Role::Receiver {
                    return Err("expected a receiver attach after begin".into());
                }
                setup.remote_handle = a.handle.0;
                let reply = Attach {
                    name: a.name.clone(),
                    handle: Handle(OUR_HANDLE),
                    role: Role::Sender,
                    snd_settle_mode: SenderSettleMode::Unsettled,
                    rcv_settle_mode: ReceiverSettleMode::First,
                    source: a.source.clone(),
                    target: a.target.clone(),
                    unsettled: None,
                    incomplete_unsettled: false,
                    initial_delivery_count: Some(0),
                    max_message_size: None,
                    offered_capabilities: None,
                    desired_capabilities: None,
                    properties: None,
                };
                codec::encode_amqp(&mut out, OUR_CHANNEL, &reply).map_err(err("encode"))?;
                io.write_all(&out).await.map_err(err("write"))?;
                setup.attach_ns = mono_ns();
                return Ok(setup);
            }
            Incoming::Flow(f) => {
                // A session-level flow before the attach.
                if let Some(n) = f.next_incoming_id {
                    setup.session_next_incoming = n;
                }
                setup.session_incoming_window = f.incoming_window;
            }
            other => return Err(format!("unexpected {} during the handshake", other.name())),
        }
        if !out.is_empty() {
            io.write_all(&out).await.map_err(err("write"))?;
            out.clear();
        }
    }
}

/// Reads flows, dispositions and goodbyes until the client leaves.
async fn reader<R: AsyncRead + Unpin>(mut rd: R, mut buf: BytesMut, sh: Rc<Shared>, count: u64) {
    let result: Res<()> = async {
        loop {
            while let Some(frame) = codec::take_frame(&mut buf, MAX_FRAME).map_err(err("frame"))? {
                match codec::decode_amqp(frame).map_err(err("decode"))? {
                    Incoming::Empty => {}
                    Incoming::Flow(f) => {
                        sh.flow_frames.set(sh.flow_frames.get() + 1);
                        let next_in = f.next_incoming_id.unwrap_or(0);
                        sh.session_limit
                            .set(next_in.wrapping_add(f.incoming_window));
                        if f.handle.is_some() {
                            if let Some(credit) = f.link_credit {
                                let count = f.delivery_count.unwrap_or(0);
                                sh.credit_limit.set(count.wrapping_add(credit));
                            }
                        }
                        if f.echo {
                            // Not needed by the consumers under test; answer with the session state.
                            let reply = Flow {
                                next_incoming_id: None,
                                incoming_window: i32::MAX as u32,
                                next_outgoing_id: 0,
                                outgoing_window: i32::MAX as u32,
                                handle: None,
                                delivery_count: None,
                                link_credit: None,
                                available: None,
                                drain: false,
                                echo: false,
                                properties: None,
                            };
                            let mut c = sh.control.borrow_mut();
                            codec::encode_amqp(&mut c, OUR_CHANNEL, &reply)
                                .map_err(err("encode"))?;
                        }
                        sh.wake.notify_one();
                    }
                    Incoming::Disposition(d) => {
                        if d.role != Role::Receiver {
                            continue;
                        }
                        let now = mono_ns();
                        if sh.disposition_frames.get() == 0 {
                            sh.first_disposition_ns.set(now);
                        }
                        sh.disposition_frames.set(sh.disposition_frames.get() + 1);
                        let last = d.last.unwrap_or(d.first);
                        let n = last.wrapping_sub(d.first) as u64 + 1;
                        sh.settled_total.set(sh.settled_total.get() + n);
                        let accepted = matches!(d.state, Some(DeliveryState::Accepted(_)));
                        let mut fresh = 0u64;
                        {
                            let mut bits = sh.settled_bits.borrow_mut();
                            let mut id = d.first;
                            loop {
                                let i = id as usize;
                                if i / 64 < bits.len() && bits[i / 64] & (1 << (i % 64)) == 0 {
                                    bits[i / 64] |= 1 << (i % 64);
                                    fresh += 1;
                                }
                                if id == last {
                                    break;
                                }
                                id = id.wrapping_add(1);
                            }
                        }
                        sh.settled_unique.set(sh.settled_unique.get() + fresh);
                        if accepted {
                            sh.accepted.set(sh.accepted.get() + fresh);
                        } else {
                            sh.other_outcomes.set(sh.other_outcomes.get() + fresh);
                        }
                        if sh.all_settled_ns.get() == 0 && sh.settled_unique.get() >= count {
                            sh.all_settled_ns.set(now);
                        }
                    }
                    Incoming::Detach(_) => {
                        let reply = Detach {
                            handle: Handle(OUR_HANDLE),
                            closed: true,
                            error: None,
                        };
                        let mut c = sh.control.borrow_mut();
                        codec::encode_amqp(&mut c, OUR_CHANNEL, &reply).map_err(err("encode"))?;
                        drop(c);
                        sh.wake.notify_one();
                    }
                    Incoming::End(_) => {
                        let mut c = sh.control.borrow_mut();
                        codec::encode_amqp(&mut c, OUR_CHANNEL, &End { error: None })
                            .map_err(err("encode"))?;
                        drop(c);
                        sh.wake.notify_one();
                    }
                    Incoming::Close(_) => {
                        let mut c = sh.control.borrow_mut();
                        codec::encode_amqp(&mut c, 0, &Close { error: None })
                            .map_err(err("encode"))?;
                        drop(c);
                        sh.finished.set(true);
                        sh.wake.notify_one();
                        return Ok(());
                    }
                    other => return Err(format!("unexpected {} frame", other.name())),
                }
            }
            read_more(&mut rd, &mut buf).await?;
        }
    }
    .await;
    if let Err(e) = result {
        if !sh.finished.get() {
            *sh.error.borrow_mut() = Some(e);
        }
    }
    sh.finished.set(true);
    sh.wake.notify_one();
}

struct WriterStats {
    sent: u64,
    bytes: u64,
    writes: u64,
}

/// Sends the messages as credit and window allow (paced if asked), plus the reader's control frames.
async fn writer<W: AsyncWrite + Unpin>(
    mut wr: W,
    sh: Rc<Shared>,
    tpl: &Template,
    opts: &Opts,
) -> WriterStats {
    let mut st = WriterStats {
        sent: 0,
        bytes: 0,
        writes: 0,
    };
    let mut delivery_count: u32 = 0;
    let mut digits = [b'0'; 19];
    digits.copy_from_slice(MESSAGE_ID_BASE.to_string().as_bytes());
    let frame_len = tpl.frame.len();
    let per_write = (opts.batch_bytes / frame_len).max(1) as u64;
    let mut out = BytesMut::with_capacity(opts.batch_bytes + frame_len + 4096);
    let pace_start = tokio::time::Instant::now();
    loop {
        if sh.finished.get() {
            // Flush the goodbye replies, then stop.
            let c = std::mem::take(&mut *sh.control.borrow_mut());
            if !c.is_empty() {
                let _ = wr.write_all(&c).await;
            }
            let _ = wr.flush().await;
            let _ = wr.shutdown().await;
            return st;
        }
        let link_avail = sh.credit_limit.get().wrapping_sub(delivery_count) as i32;
        let sess_avail = sh.session_limit.get().wrapping_sub(delivery_count) as i32;
        let mut n = (link_avail.min(sess_avail).max(0) as u64)
            .min(opts.count - st.sent)
            .min(per_write);
        if opts.rate > 0.0 && n > 0 {
            let due = (pace_start.elapsed().as_secs_f64() * opts.rate) as u64 + 1;
            let due = due.saturating_sub(st.sent);
            if due == 0 {
                let next = pace_start + Duration::from_secs_f64((st.sent) as f64 / opts.rate);
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => {}
                    _ = sh.wake.notified() => {}
                }
                continue;
            }
            n = n.min(due);
        }
        {
            let mut c = sh.control.borrow_mut();
            if !c.is_empty() {
                out.extend_from_slice(&c);
                c.clear();
            }
        }
        if n > 0 {
            let now = mono_ns();
            if st.sent == 0 {
                sh.first_send_ns.set(now);
            }
            for _ in 0..n {
                tpl.put(&mut out, delivery_count, &digits, now);
                delivery_count = delivery_count.wrapping_add(1);
                bump(&mut digits);
            }
            st.sent += n;
        }
        if out.is_empty() {
            sh.wake.notified().await;
            continue;
        }
        if let Err(e) = wr.write_all(&out).await {
            if !sh.finished.get() {
                *sh.error.borrow_mut() = Some(format!("write: {e}"));
            }
            sh.finished.set(true);
            continue;
        }
        if n > 0 {
            sh.last_send_ns.set(mono_ns());
        }
        st.bytes += out.len() as u64;
        st.writes += 1;
        out.clear();
        if st.sent == opts.count {
            let _ = wr.flush().await;
        }
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    tpl: &Template,
    opts: &Opts,
    accept_ns: u64,
    tls_ns: u64,
) -> String {
    let cpu0 = cpu_us();
    let mut buf = BytesMut::with_capacity(256 * 1024);
    let setup = match tokio::time::timeout(opts.timeout, handshake(&mut io, &mut buf)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return format!("{{\"error\":{:?}}}", e),
        Err(_) => return "{\"error\":\"handshake timed out\"}".into(),
    };
    let sh = Rc::new(Shared {
        credit_limit: Cell::new(setup.credit_limit),
        session_limit: Cell::new(
            setup
                .session_next_incoming
                .wrapping_add(setup.session_incoming_window),
        ),
        control: RefCell::new(BytesMut::new()),
        accepted: Cell::new(0),
        settled_bits: RefCell::new(vec![0u64; (opts.count as usize).div_ceil(64)]),
        settled_unique: Cell::new(0),
        settled_total: Cell::new(0),
        other_outcomes: Cell::new(0),
        disposition_frames: Cell::new(0),
        flow_frames: Cell::new(0),
        all_settled_ns: Cell::new(0),
        first_send_ns: Cell::new(0),
        last_send_ns: Cell::new(0),
        first_disposition_ns: Cell::new(0),
        finished: Cell::new(false),
        error: RefCell::new(None),
        wake: Notify::new(),
    });
    let (rd, wr) = tokio::io::split(io);
    let run = async {
        tokio::join!(
            reader(rd, buf, sh.clone(), opts.count),
            writer(wr, sh.clone(), tpl, opts)
        )
        .1
    };
    let ws = match tokio::time::timeout(opts.timeout, run).await {
        Ok(ws) => ws,
        Err(_) => {
            *sh.error.borrow_mut() = Some("timed out".into());
            WriterStats {
                sent: 0,
                bytes: 0,
                writes: 0,
            }
        }
    };
    let cpu1 = cpu_us();
    let first = sh.first_send_ns.get();
    let settled = sh.all_settled_ns.get();
    let secs = if settled > first && first > 0 {
        (settled - first) as f64 / 1e9
    } else {
        0.0
    };
    let rate = if secs > 0.0 {
        opts.count as f64 / secs
    } else {
        0.0
    };
    let error = sh.error.borrow().clone();
    format!(
        concat!(
            "{{\"sent\":{},\"accepted\":{},\"settled_total\":{},\"other_outcomes\":{},\"disposition_frames\":{},",
            "\"flow_frames\":{},\"bytes\":{},\"writes\":{},\"frame_bytes\":{},",
            "\"accept_ns\":{},\"tls_done_ns\":{},\"attach_ns\":{},\"first_send_ns\":{},\"last_send_ns\":{},",
            "\"first_disposition_ns\":{},\"all_settled_ns\":{},\"seconds\":{:.6},\"rate\":{:.1},",
            "\"cpu_user_us\":{},\"cpu_sys_us\":{},\"username\":{:?},\"client_container\":{:?},",
            "\"client_max_frame\":{},\"error\":{}}}"
        ),
        ws.sent,
        sh.accepted.get(),
        sh.settled_total.get(),
        sh.other_outcomes.get(),
        sh.disposition_frames.get(),
        sh.flow_frames.get(),
        ws.bytes,
        ws.writes,
        tpl.frame.len(),
        accept_ns,
        tls_ns,
        setup.attach_ns,
        first,
        sh.last_send_ns.get(),
        sh.first_disposition_ns.get(),
        settled,
        secs,
        rate,
        cpu1.0 - cpu0.0,
        cpu1.1 - cpu0.1,
        setup.username.unwrap_or_default(),
        setup.remote_container,
        setup.remote_max_frame,
        match error {
            Some(e) => format!("{e:?}"),
            None => "null".into(),
        }
    )
}

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

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
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
