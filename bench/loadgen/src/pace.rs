//! Pacing one message at a time: a `timerfd` on CLOCK_MONOTONIC, periodic from an absolute start
//! (deadline i = start + i × interval, kept by the kernel: no drift), driven through tokio's
//! `AsyncFd` on the current-thread runtime. The writer sleeps in epoll until the next expiry, then
//! sends exactly the messages whose deadlines have passed (normally one). It never spins.
//!
//! Evenness is recorded: every send's CLOCK_MONOTONIC time, so that the inter-send gaps
//! (p50/p99/max), the share of messages sent in bursts, and the lateness behind the schedule can
//! be reported in the loadgen's JSON line.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A non-blocking timerfd (CLOCK_MONOTONIC), closed on drop.
pub(crate) struct TimerFd(RawFd);

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl Drop for TimerFd {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once, here.
        unsafe { libc::close(self.0) };
    }
}

fn timespec(ns: u64) -> libc::timespec {
    libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    }
}

impl TimerFd {
    fn new() -> io::Result<TimerFd> {
        // SAFETY: timerfd_create takes no pointers; the descriptor it returns is checked below.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(TimerFd(fd))
    }

    /// Expires at CLOCK_MONOTONIC `start_ns`, then every `interval_ns`.
    fn arm_periodic(&self, start_ns: u64, interval_ns: u64) -> io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: timespec(interval_ns),
            it_value: timespec(start_ns.max(1)),
        };
        // SAFETY: the descriptor is ours and open; `spec` outlives the call.
        let r = unsafe {
            libc::timerfd_settime(self.0, libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut())
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Disarms the timer.
    fn disarm(&self) {
        let spec = libc::itimerspec {
            it_interval: timespec(0),
            it_value: timespec(0),
        };
        // SAFETY: the descriptor is ours and open; `spec` outlives the call.
        unsafe { libc::timerfd_settime(self.0, 0, &spec, std::ptr::null_mut()) };
    }

    /// Expirations since the last read; `WouldBlock` when none.
    fn read(&self) -> io::Result<u64> {
        let mut n = 0u64;
        // SAFETY: the descriptor is ours and open; `n` is 8 writable bytes.
        let r = unsafe { libc::read(self.0, &mut n as *mut u64 as *mut libc::c_void, 8) };
        if r == 8 {
            Ok(n)
        } else if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "short timerfd read",
            ))
        }
    }
}

/// The schedule: deadline i = `start_ns` + i × `interval_ns`, i from 0.
pub(crate) struct Pacer {
    fd: AsyncFd<TimerFd>,
    pub(crate) start_ns: u64,
    pub(crate) interval_ns: u64,
    /// Wake-ups of the timer seen (reads that returned expirations).
    pub(crate) wakeups: u64,
    armed: bool,
}

impl Pacer {
    /// Starts the schedule `lead_ns` from now (the first deadline).
    pub(crate) fn new(rate: f64, lead_ns: u64) -> io::Result<Pacer> {
        let interval_ns = ((1e9 / rate).round() as u64).max(1);
        // SAFETY: the TimerFd owns its descriptor and closes it only when dropped, with the AsyncFd.
        let fd = unsafe { AsyncFd::register_with_interest(TimerFd::new()?, Interest::READABLE)? };
        let start_ns = crate::mono_ns() + lead_ns;
        fd.get_ref().arm_periodic(start_ns, interval_ns)?;
        Ok(Pacer {
            fd,
            start_ns,
            interval_ns,
            wakeups: 0,
            armed: true,
        })
    }

    /// How many messages are due by `now_ns` (deadlines passed), in all since the start.
    #[inline]
    pub(crate) fn due_by(&self, now_ns: u64) -> u64 {
        if now_ns < self.start_ns {
            0
        } else {
            (now_ns - self.start_ns) / self.interval_ns + 1
        }
    }

    /// The deadline of message `i`.
    #[inline]
    pub(crate) fn deadline(&self, i: u64) -> u64 {
        self.start_ns + i * self.interval_ns
    }

    /// Waits for the next expiry (returns at once if one is pending).
    pub(crate) async fn tick(&mut self) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.get_inner().read() {
                Ok(_) => {
                    // The read took every expiry: the fd is not readable until the next one, and
                    // the next one raises a fresh edge in epoll. Clearing saves a read per tick.
                    guard.clear_ready();
                    self.wakeups += 1;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                Err(e) => return Err(e),
            }
        }
    }

    /// No more ticks (everything is sent).
    pub(crate) fn stop(&mut self) {
        if self.armed {
            self.fd.get_ref().disarm();
            self.armed = false;
        }
    }
}

/// Send times, to describe the evenness of the pacing.
pub(crate) struct Evenness {
    /// Every message's send time (CLOCK_MONOTONIC ns), in order.
    sends: Vec<u64>,
    /// Every message's lateness behind its deadline (ns).
    late: Vec<u64>,
    /// Waits for credit while messages were due (the consumer held the sender back), and their time.
    pub(crate) credit_stalls: u64,
    pub(crate) credit_stall_ns: u64,
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

impl Evenness {
    pub(crate) fn new(count: u64) -> Evenness {
        Evenness {
            sends: Vec::with_capacity(count as usize),
            late: Vec::with_capacity(count as usize),
            credit_stalls: 0,
            credit_stall_ns: 0,
        }
    }

    #[inline]
    pub(crate) fn record(&mut self, send_ns: u64, deadline_ns: u64) {
        self.sends.push(send_ns);
        self.late.push(send_ns.saturating_sub(deadline_ns));
    }

    /// JSON fields (no braces): gaps, bursts, lateness, each over all messages and after the
    /// first tenth (the consumers' warm-up).
    pub(crate) fn json(&self, interval_ns: u64, wakeups: u64) -> String {
        // A burst: consecutive sends less than this apart. 20 µs, or half the interval when that is
        // shorter (at 50 000 msg/s the interval itself is 20 µs).
        let burst_ns = 20_000.min(interval_ns / 2);
        let part = |from: usize| -> String {
            let s = &self.sends[from.min(self.sends.len())..];
            let mut gaps: Vec<u64> = s.windows(2).map(|w| w[1] - w[0]).collect();
            // Messages in a burst of 2+: a send whose gap to the previous or the next is short.
            let n = s.len();
            let mut in_burst = 0u64;
            for i in 0..n {
                let prev = i > 0 && s[i] - s[i - 1] < burst_ns;
                let next = i + 1 < n && s[i + 1] - s[i] < burst_ns;
                if prev || next {
                    in_burst += 1;
                }
            }
            let mut late: Vec<u64> = self.late[from.min(self.late.len())..].to_vec();
            gaps.sort_unstable();
            late.sort_unstable();
            let us = |ns: u64| ns as f64 / 1000.0;
            format!(
                concat!(
                    "{{\"n\":{},\"gap_p1_us\":{:.1},\"gap_p50_us\":{:.1},\"gap_p99_us\":{:.1},\"gap_max_us\":{:.1},",
                    "\"burst_share\":{:.5},\"late_p50_us\":{:.1},\"late_p99_us\":{:.1},\"late_max_us\":{:.1}}}"
                ),
                n,
                us(pct(&gaps, 0.01)),
                us(pct(&gaps, 0.5)),
                us(pct(&gaps, 0.99)),
                us(gaps.last().copied().unwrap_or(0)),
                if n > 0 { in_burst as f64 / n as f64 } else { 0.0 },
                us(pct(&late, 0.5)),
                us(pct(&late, 0.99)),
                us(late.last().copied().unwrap_or(0)),
            )
        };
        format!(
            concat!(
                "\"pacing\":{{\"interval_us\":{:.3},\"burst_under_us\":{:.1},\"timer_wakeups\":{},",
                "\"credit_stalls\":{},\"credit_stall_ms\":{:.3},\"all\":{},\"steady\":{}}}"
            ),
            interval_ns as f64 / 1000.0,
            burst_ns as f64 / 1000.0,
            wakeups,
            self.credit_stalls,
            self.credit_stall_ns as f64 / 1e6,
            part(0),
            part(self.sends.len() / 10),
        )
    }
}
