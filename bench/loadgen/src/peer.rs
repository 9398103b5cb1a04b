//! One connection served: the handshake (handshake.rs: SASL PLAIN, open, begin, attach), then the
//! reader (reader.rs: flows, dispositions, goodbyes) and the writer (writer.rs: transfers as credit
//! allows, or paced) on the two halves of the socket, sharing [`Shared`]; at the end, the
//! connection's JSON line.

mod handshake;
mod input;
mod reader;
mod writer;

use crate::payload::Template;
use crate::*;
use handshake::handshake;
use reader::reader;
use writer::{writer, WriterStats};

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

/// Serves one connection: returns its JSON line (or `{"error":…}` if the handshake failed).
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
