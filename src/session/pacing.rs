//! Pacing at the platform's own rate: when messages trickle in, reads wait `read_delay` so that
//! each brings several; settlements are taken from `acks.rs` at most `ack_delay` after the first,
//! with a read when one comes first, or at once when the sender runs low on credit.
//!
//! Messages trickle in when a read that brought deliveries came less than `read_delay` after the
//! last one that brought any (or right after a paced read timed out), left the socket (nearly)
//! empty, and came at a rate at which twice what arrives in `read_delay` fits in what the sender
//! still has of its credit: the sender, not this client (nor its credit), sets the pace, and
//! waiting cannot run it out of credit. Only then is the next read paced (at the platform's
//! ~1 000 msg/s, about one message per millisecond): the socket's low-water mark is raised to
//! what is expected in `read_delay`, so that the sender's own packet wakes the runtime once for
//! several messages, and a timer bounds the wait at `read_delay` (the timer's millisecond
//! included) when fewer come. Above `TRICKLE_COUNT` expected, the read is held for `HELD`
//! (at most `read_delay`) unless `BURST` piles up first. A wake-up by a timer costs several
//! times one by a packet where timers are dear (virtual machines), and Node's thread is woken
//! once per read too. Slower than two deliveries per `read_delay`, faster than the credit allows
//! to gather, or when this client is the bottleneck, reads are not held back.
//!
//! A sender with Nagle's algorithm on sends one small packet and then waits for it to be
//! acknowledged, and the kernel acknowledges unread data only with data of ours (or after 40 ms):
//! a held-back read would wait for the next settlements. Each read acknowledges at once (the
//! reader's `TCP_QUICKACK`), and a paced read that finds far fewer bytes than expected near its
//! bound nudges the sender (`nudge_sender`).

use super::{Session, Step};
use crate::error::Error;
use crate::reader::FrameReader;
use std::time::Duration;

use tokio::time::Instant;

/// Fewer bytes than this waiting after a read: the socket is nearly empty.
const NEARLY_EMPTY: usize = 32 * 1024;
/// The highest low-water mark: a paced read never waits for more than this.
const BURST: f64 = 256.0 * 1024.0;
/// The most deliveries expected in `read_delay` for which the packet that brings the last of them
/// wakes the read: a trickle (the platform's ~1 000 msg/s brings 8 in the default 8 ms).
const TRICKLE_COUNT: f64 = 32.0;
/// Faster than a trickle, the longest a read is held (`read_delay` when that is shorter).
const HELD: Duration = Duration::from_millis(5);
/// How long a paced read waits, after its bound, for what an acknowledgement sent then releases
/// from a sender that waits for one (`nudge_sender`): a near network's round trip.
const NUDGE_WAIT: Duration = Duration::from_millis(2);

impl Session<'_> {
    /// After a read of `n` bytes that brought `delivered` deliveries: when they trickle in (see
    /// the module's comment), the next read waits until what is expected in `read_delay` has
    /// come, or `read_delay` has passed, so that it brings several at once, with one wake-up of
    /// this thread and one of Node's for all of them. Settlements due before then go out now, in
    /// this wake-up.
    pub(super) fn pace_reads(
        &mut self,
        reader: &mut FrameReader,
        n: usize,
        delivered: u64,
        resumed: bool,
    ) -> Result<(), Error> {
        let now = self.last_read;
        let delay = self.cfg.read_delay;
        let since = self.delivered_read_at.map(|at| now.duration_since(at));
        self.delivered_read_at = Some(now);
        let steady = resumed || since.is_some_and(|s| s < delay);
        let paced = if delay.is_zero() || !steady || delivered == 0 {
            None
        } else {
            // Deliveries a second, at the rate of this read, and how many would arrive while
            // reading waits `read_delay`.
            let elapsed = since.unwrap_or(delay).max(Duration::from_micros(100));
            let rate = delivered as f64 / elapsed.as_secs_f64();
            let expected = rate * delay.as_secs_f64();
            // At a trickle, woken by the packet that completes the last expected delivery (half
            // of one less, so that a slightly smaller one counts). Faster, the read is held for
            // `HELD` at most (or until `BURST` piled up): there the estimate swings with the
            // sender's credit, reads woken by it would come often and small, and a longer hold
            // runs the credit low before the acknowledgements go.
            let each = n as f64 / delivered as f64;
            let (mark, hold) = if expected <= TRICKLE_COUNT {
                ((expected - 0.5) * each, delay)
            } else {
                (BURST, delay.min(HELD))
            };
            let arriving = rate * hold.as_secs_f64();
            let room = self
                .link
                .as_ref()
                .map_or(0.0, |l| f64::from(l.credit_left()) / 2.0);
            // Where the OS does not tell what is waiting, a small read stands for an empty socket.
            let drained = reader.waiting().unwrap_or(n) < NEARLY_EMPTY;
            // One or none expected: every packet.
            (drained && arriving <= room && arriving >= 2.0)
                .then_some((mark.clamp(1.0, BURST) as u32, hold))
        };
        let Some((mark, hold)) = paced else {
            self.read_resume_at = None;
            reader.resume();
            return Ok(());
        };
        // A sender that waits for acknowledgements is nudged before the bound, so that what the
        // nudge releases still comes within it.
        let until = if self.ack_clocked {
            hold.saturating_sub(self.nudge_wait())
        } else {
            hold
        };
        self.read_resume_at = Some(now + until);
        reader.pace(mark);
        if self.ack_flush_at.is_some_and(|at| at <= now + hold) {
            self.take_acks()?;
        }
        Ok(())
    }

    /// A paced read's bound passed with far fewer bytes waiting than expected, but some: the
    /// sender may be holding the rest until what it sent is acknowledged (Nagle's algorithm, on
    /// by default in most TCP stacks, sends one small packet and waits; the kernel here delays
    /// its acknowledgement while nothing is read or sent, up to 40 ms, and acknowledges unread
    /// data only with data of ours). Something is sent now, to carry the acknowledgement: the
    /// settlements due, else an empty frame; and the read waits `NUDGE_WAIT` more (a quarter of
    /// `read_delay` at most) for what that releases, so that one read takes the whole window's
    /// messages. Once per paced read: false when it is not due (read now).
    pub(super) fn nudge_sender(
        &mut self,
        reader: &mut FrameReader,
        now: Instant,
    ) -> Result<bool, Error> {
        if std::mem::take(&mut self.nudged) {
            return Ok(false);
        }
        // Only at a trickle (a mark below `BURST`): faster, the sender's packets fill up and are
        // acknowledged as they come (the kernel acknowledges every second full-sized one).
        let mark = u64::from(reader.low_water());
        let waiting = reader.waiting().unwrap_or(0);
        let trickle = mark < BURST as u64;
        if !trickle || waiting == 0 || (waiting as u64).saturating_mul(2) >= mark {
            // Most of the window came unprompted (or nothing did, or faster than a trickle): the
            // sender is not waiting for an acknowledgement.
            self.ack_clocked = false;
            return Ok(false);
        }
        self.collect_acks();
        if self.pending_settles.is_empty() {
            self.outbox.heartbeat();
        }
        self.flush_settles()?;
        self.expect_acks();
        // What it releases comes at once, in one packet: that packet wakes the read.
        reader.wake_on_more(waiting);
        self.nudged = true;
        self.ack_clocked = true;
        self.read_resume_at = Some(now + self.nudge_wait());
        Ok(true)
    }

    /// How long a nudged read waits for what the nudge releases.
    fn nudge_wait(&self) -> Duration {
        NUDGE_WAIT.min(self.cfg.read_delay / 4)
    }

    /// Whether the sender runs low on credit: settlements are then needed at once to grant more.
    pub(super) fn credit_low(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.credit_low())
    }

    /// The owner settled deliveries the task did not expect: take them at once when needed,
    /// else at most `ack_delay` from now, with whatever else comes meanwhile.
    pub(super) fn on_acks_notified(&mut self) -> Result<Step, Error> {
        if self.cfg.ack_delay.is_zero() || self.closing.is_some() || self.credit_low() {
            self.take_acks()?;
        } else if self.ack_flush_at.is_none() {
            self.ack_flush_at = Some(Instant::now() + self.cfg.ack_delay);
        }
        Ok(Step::Continue)
    }

    /// Takes the owner's settlements and sends them (ranged dispositions, then more credit).
    /// Those of an attachment that ended are dropped: the server delivers them again.
    pub(super) fn take_acks(&mut self) -> Result<(), Error> {
        self.collect_acks();
        self.flush_settles()?;
        self.expect_acks();
        Ok(())
    }

    /// Takes the owner's settlements of the current attachment into `pending_settles`.
    pub(super) fn collect_acks(&mut self) {
        self.ack_flush_at = None;
        let current = self
            .link
            .as_ref()
            .filter(|l| l.settleable())
            .map(|l| l.attach_id());
        for (attach, settles) in self.acks.take() {
            if Some(attach) == current {
                self.pending_settles.extend(settles);
            }
        }
    }

    /// While deliveries are out with the owner, look for their settlements every `ack_delay`
    /// instead of being woken for each; when credit runs low, be woken at once.
    pub(super) fn expect_acks(&mut self) {
        let urgent = self.cfg.ack_delay.is_zero() || self.closing.is_some() || self.credit_low();
        self.acks.set_urgent(urgent);
        if urgent || self.ack_flush_at.is_some() {
            return;
        }
        if self.link.as_ref().is_some_and(|l| l.unsettled() > 0) {
            self.acks.expect();
            self.ack_flush_at = Some(Instant::now() + self.cfg.ack_delay);
        }
    }
}
