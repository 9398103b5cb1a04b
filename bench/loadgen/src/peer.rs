//! One connection served: the handshake (SASL PLAIN, open, begin, attach), the reader (flows,
//! dispositions, goodbyes) and the writer (transfers as credit allows, or paced).

use crate::pace::{Evenness, Pacer};
use crate::payload::*;
use crate::*;

/// State shared between the reading and the writing half (one thread: cells).
pub(crate) struct Shared {
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
pub(crate) struct Setup {
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

pub(crate) async fn read_more<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut BytesMut) -> Res<()> {
    if buf.capacity() - buf.len() < 16 * 1024 {
        buf.reserve(64 * 1024);
    }
    match rd.read_buf(buf).await {
        Ok(0) => Err("connection closed by the client".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("read: {e}")),
    }
}

pub(crate) async fn next_frame<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
) -> Res<codec::RawFrame> {
    loop {
        if let Some(f) = codec::take_frame(buf, MAX_FRAME).map_err(err("frame"))? {
            return Ok(f);
        }
        read_more(rd, buf).await?;
    }
}

pub(crate) async fn read_header<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
) -> Res<[u8; 8]> {
    while buf.len() < 8 {
        read_more(rd, buf).await?;
    }
    let mut h = [0u8; 8];
    h.copy_from_slice(&buf.split_to(8));
    Ok(h)
}

/// SASL, open, begin and attach. Leaves any further frames (the client's flow) in `buf`.
pub(crate) async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
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
pub(crate) async fn reader<R: AsyncRead + Unpin>(
    mut rd: R,
    mut buf: BytesMut,
    sh: Rc<Shared>,
    count: u64,
) {
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

pub(crate) struct WriterStats {
    sent: u64,
    bytes: u64,
    writes: u64,
    /// Paced runs: the evenness of the sends (JSON fields).
    pacing: Option<String>,
}

/// Moves the reader's control frames (flow echo, goodbyes) into `out`.
fn take_control(sh: &Shared, out: &mut BytesMut) {
    let mut c = sh.control.borrow_mut();
    if !c.is_empty() {
        out.extend_from_slice(&c);
        c.clear();
    }
}

/// Deliveries the link credit and the session window allow now.
fn available(sh: &Shared, delivery_count: u32) -> u64 {
    let link_avail = sh.credit_limit.get().wrapping_sub(delivery_count) as i32;
    let sess_avail = sh.session_limit.get().wrapping_sub(delivery_count) as i32;
    link_avail.min(sess_avail).max(0) as u64
}

/// The client said goodbye: flush the replies, then stop.
async fn finish<W: AsyncWrite + Unpin>(wr: &mut W, sh: &Shared) {
    let c = std::mem::take(&mut *sh.control.borrow_mut());
    if !c.is_empty() {
        let _ = wr.write_all(&c).await;
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
}

/// Sends the messages (as fast as credit and window allow, or paced one at a time: see pace.rs),
/// plus the reader's control frames.
pub(crate) async fn writer<W: AsyncWrite + Unpin>(
    wr: W,
    sh: Rc<Shared>,
    tpl: &Template,
    opts: &Opts,
) -> WriterStats {
    if opts.rate > 0.0 {
        writer_paced(wr, sh, tpl, opts).await
    } else {
        writer_unpaced(wr, sh, tpl, opts).await
    }
}

async fn writer_unpaced<W: AsyncWrite + Unpin>(
    mut wr: W,
    sh: Rc<Shared>,
    tpl: &Template,
    opts: &Opts,
) -> WriterStats {
    let mut st = WriterStats {
        sent: 0,
        bytes: 0,
        writes: 0,
        pacing: None,
    };
    let mut delivery_count: u32 = 0;
    let mut digits = [b'0'; 19];
    digits.copy_from_slice(MESSAGE_ID_BASE.to_string().as_bytes());
    let frame_len = tpl.frame.len();
    let per_write = (opts.batch_bytes / frame_len).max(1) as u64;
    let mut out = BytesMut::with_capacity(opts.batch_bytes + frame_len + 4096);
    loop {
        if sh.finished.get() {
            finish(&mut wr, &sh).await;
            return st;
        }
        let n = available(&sh, delivery_count)
            .min(opts.count - st.sent)
            .min(per_write);
        take_control(&sh, &mut out);
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

/// Paced: one message per interval, on a timerfd's absolute schedule, starting when the client
/// first gives credit. Each expiry sends the messages due by then (normally exactly one), each
/// stamped with its send time; messages that are due while credit is short go out when credit
/// comes (recorded as bursts in the evenness).
async fn writer_paced<W: AsyncWrite + Unpin>(
    mut wr: W,
    sh: Rc<Shared>,
    tpl: &Template,
    opts: &Opts,
) -> WriterStats {
    let mut st = WriterStats {
        sent: 0,
        bytes: 0,
        writes: 0,
        pacing: None,
    };
    let mut delivery_count: u32 = 0;
    let mut digits = [b'0'; 19];
    digits.copy_from_slice(MESSAGE_ID_BASE.to_string().as_bytes());
    let frame_len = tpl.frame.len();
    let per_write = (opts.batch_bytes / frame_len).max(1) as u64;
    let mut out = BytesMut::with_capacity(opts.batch_bytes + frame_len + 4096);
    let mut pacer: Option<Pacer> = None;
    let mut even = Evenness::new(opts.count);
    loop {
        if sh.finished.get() {
            finish(&mut wr, &sh).await;
            if let Some(p) = &pacer {
                st.pacing = Some(even.json(p.interval_ns, p.wakeups));
            }
            return st;
        }
        take_control(&sh, &mut out);
        let avail = available(&sh, delivery_count);
        if pacer.is_none() && avail > 0 && st.sent < opts.count {
            match Pacer::new(opts.rate, 0) {
                Ok(p) => pacer = Some(p),
                Err(e) => {
                    *sh.error.borrow_mut() = Some(format!("timerfd: {e}"));
                    sh.finished.set(true);
                    continue;
                }
            }
        }
        let mut n = 0;
        if let Some(p) = &pacer {
            let now = mono_ns();
            let due = p.due_by(now).min(opts.count);
            n = due.saturating_sub(st.sent).min(avail).min(per_write);
            if n > 0 && st.sent == 0 {
                sh.first_send_ns.set(now);
            }
            for k in 0..n {
                even.record(now, p.deadline(st.sent + k));
                tpl.put(&mut out, delivery_count, &digits, now);
                delivery_count = delivery_count.wrapping_add(1);
                bump(&mut digits);
            }
            st.sent += n;
        }
        if !out.is_empty() {
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
            continue;
        }
        match pacer.as_mut() {
            Some(p) if st.sent == opts.count => {
                p.stop();
                sh.wake.notified().await;
            }
            // Waiting for the next deadline (or a control frame to send).
            Some(p) if avail > 0 => {
                tokio::select! {
                    r = p.tick() => {
                        if let Err(e) = r {
                            *sh.error.borrow_mut() = Some(format!("timerfd: {e}"));
                            sh.finished.set(true);
                        }
                    }
                    _ = sh.wake.notified() => {}
                }
            }
            // Waiting for credit (or the client's goodbye): a stall the consumer caused, counted
            // apart from the pacing's own unevenness.
            Some(p) => {
                let t = mono_ns();
                let stalled = p.due_by(t).min(opts.count) > st.sent;
                sh.wake.notified().await;
                if stalled {
                    even.credit_stalls += 1;
                    even.credit_stall_ns += mono_ns() - t;
                }
            }
            None => sh.wake.notified().await,
        }
    }
}

pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
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
                pacing: None,
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
            "\"client_max_frame\":{},\"rate_asked\":{},\"sched\":{:?},{}\"error\":{}}}"
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
        opts.rate,
        opts.sched,
        ws.pacing.map(|p| format!("{p},")).unwrap_or_default(),
        match error {
            Some(e) => format!("{e:?}"),
            None => "null".into(),
        }
    )
}
