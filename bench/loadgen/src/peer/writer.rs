//! The writing half: the transfers, as fast as link credit and the session window allow or paced
//! one at a time on the timerfd (pace.rs), each copied from the template and patched (payload.rs);
//! plus the reader's control frames, and the flush on the client's goodbye.

use super::Shared;
use crate::pace::{Evenness, Pacer};
use crate::payload::{bump, Template};
use crate::*;

pub(super) struct WriterStats {
    pub(super) sent: u64,
    pub(super) bytes: u64,
    pub(super) writes: u64,
    /// Paced runs: the evenness of the sends (JSON fields).
    pub(super) pacing: Option<String>,
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

/// What both writers keep while sending: the counts, the next delivery's number and message id,
/// and the buffer of the next write.
struct Sending {
    st: WriterStats,
    delivery_count: u32,
    digits: [u8; 19],
    /// Most messages put into one write.
    per_write: u64,
    out: BytesMut,
}

impl Sending {
    fn new(tpl: &Template, opts: &Opts) -> Sending {
        let mut digits = [b'0'; 19];
        digits.copy_from_slice(MESSAGE_ID_BASE.to_string().as_bytes());
        let frame_len = tpl.frame.len();
        Sending {
            st: WriterStats {
                sent: 0,
                bytes: 0,
                writes: 0,
                pacing: None,
            },
            delivery_count: 0,
            digits,
            per_write: (opts.batch_bytes / frame_len).max(1) as u64,
            out: BytesMut::with_capacity(opts.batch_bytes + frame_len + 4096),
        }
    }

    /// Puts the next message into the buffer, stamped with `now`.
    fn put(&mut self, tpl: &Template, now: u64) {
        tpl.put(&mut self.out, self.delivery_count, &self.digits, now);
        self.delivery_count = self.delivery_count.wrapping_add(1);
        bump(&mut self.digits);
    }

    /// Writes the buffer (which held `n` new messages); flushes after the last message. False
    /// when the write failed: the run is then finished, with the error unless it was already over.
    async fn write<W: AsyncWrite + Unpin>(
        &mut self,
        wr: &mut W,
        sh: &Shared,
        n: u64,
        opts: &Opts,
    ) -> bool {
        if let Err(e) = wr.write_all(&self.out).await {
            if !sh.finished.get() {
                *sh.error.borrow_mut() = Some(format!("write: {e}"));
            }
            sh.finished.set(true);
            return false;
        }
        if n > 0 {
            sh.last_send_ns.set(mono_ns());
        }
        self.st.bytes += self.out.len() as u64;
        self.st.writes += 1;
        self.out.clear();
        if self.st.sent == opts.count {
            let _ = wr.flush().await;
        }
        true
    }
}

/// Sends the messages (as fast as credit and window allow, or paced one at a time: see pace.rs),
/// plus the reader's control frames.
pub(super) async fn writer<W: AsyncWrite + Unpin>(
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
    let mut s = Sending::new(tpl, opts);
    loop {
        if sh.finished.get() {
            finish(&mut wr, &sh).await;
            return s.st;
        }
        let n = available(&sh, s.delivery_count)
            .min(opts.count - s.st.sent)
            .min(s.per_write);
        take_control(&sh, &mut s.out);
        if n > 0 {
            let now = mono_ns();
            if s.st.sent == 0 {
                sh.first_send_ns.set(now);
            }
            for _ in 0..n {
                s.put(tpl, now);
            }
            s.st.sent += n;
        }
        if s.out.is_empty() {
            sh.wake.notified().await;
            continue;
        }
        s.write(&mut wr, &sh, n, opts).await;
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
    let mut s = Sending::new(tpl, opts);
    let mut pacer: Option<Pacer> = None;
    let mut even = Evenness::new(opts.count);
    loop {
        if sh.finished.get() {
            finish(&mut wr, &sh).await;
            if let Some(p) = &pacer {
                s.st.pacing = Some(even.json(p.interval_ns, p.wakeups));
            }
            return s.st;
        }
        take_control(&sh, &mut s.out);
        let avail = available(&sh, s.delivery_count);
        if pacer.is_none() && avail > 0 && s.st.sent < opts.count {
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
            n = due.saturating_sub(s.st.sent).min(avail).min(s.per_write);
            if n > 0 && s.st.sent == 0 {
                sh.first_send_ns.set(now);
            }
            for k in 0..n {
                even.record(now, p.deadline(s.st.sent + k));
                s.put(tpl, now);
            }
            s.st.sent += n;
        }
        if !s.out.is_empty() {
            s.write(&mut wr, &sh, n, opts).await;
            continue;
        }
        match pacer.as_mut() {
            Some(p) if s.st.sent == opts.count => {
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
                let stalled = p.due_by(t).min(opts.count) > s.st.sent;
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
