//! Detach is not disconnect: when the server detaches our receiver or ends our session, the
//! detach (or end) is answered and the receiver attached again on the same connection after a
//! backoff (the session begun again first if it ended). A reconnect would count against the
//! platform's connection budget of the whole consumer group.
//!
//! Only refusals count as failures: a detach before, with or right after the attach reply
//! ([`REFUSED_WITHIN`]) with nothing delivered. An attachment that stayed up a while or
//! delivered something was a working one (an idle or paused receiver the server takes away now
//! and then is not a failing one): the count and the backoff start afresh. After
//! [`MAX_FAILED_REATTACHES`] refused re-attaches in a row the connection is made again, as one
//! that did not work (the supervisor's backoff grows); the re-attach backoff itself is kept
//! across connections, so a receiver refused on every connection is retried ever more slowly.
//!
//! A refusal with `amqp:unauthorized-access` (the user may not subscribe) is final for the
//! receiver, as in rhea: it is not attached again (unless `reconnect_on_auth_failure`), and the
//! connection stays open.

use std::time::Duration;

use fe2o3_amqp::types::performatives::{Detach, End};
use tokio::time::Instant;

use super::Session;
use crate::error::{condition, Error};
use crate::handshake;
use crate::link::Detached;
use crate::model::Event;

/// Refused re-attaches in a row after which the connection is closed and made again.
const MAX_FAILED_REATTACHES: u32 = 5;

/// A detach this soon after the attach reply, with nothing delivered, is a refusal (a server
/// refuses in the same write as its reply, or at once after it).
const REFUSED_WITHIN: Duration = Duration::from_millis(500);

impl Session<'_> {
    pub(super) fn on_detach(&mut self, detach: Detach) -> Result<(), Error> {
        let Some(link) = self.link.as_mut() else {
            self.note(&format!(
                "detach for handle {}, with no link of ours: ignored",
                detach.handle.0
            ));
            return Ok(());
        };
        let attach_id = link.attach_id();
        let Some(detached) = link.on_detach(&detach) else {
            return Ok(());
        };
        if let Some(reply) = &detached.reply {
            if self.closing.is_none() {
                self.outbox.frame(reply)?;
            }
        }
        self.link_lost(attach_id, detached)
    }

    /// The server began our session.
    pub(super) fn session_begun(&mut self) {
        self.emit(Event::SessionOpen { epoch: self.epoch });
    }

    /// The server ended our session: answered, reported (as rhea does: `session_error` when it
    /// gave an error, `session_close`), and begun again with the receiver (as after a detach),
    /// on the same connection.
    pub(super) fn on_end(&mut self, end: End) -> Result<(), Error> {
        let error = end.error.as_ref().map(Error::from_amqp);
        if self.closing.is_some() {
            return Ok(());
        }
        self.outbox.frame(&End { error: None })?;
        self.begun = false;
        self.remote_channel = None;
        self.emit(Event::SessionClose {
            epoch: self.epoch,
            error,
        });
        let Some(link) = self.link.as_mut() else {
            // No link was on it: begin again at once, for a later open_receiver().
            return self.outbox.frame(&handshake::begin());
        };
        let attach_id = link.attach_id();
        // The error was the session's, reported with its end.
        match link.session_ended(None) {
            Some(detached) => self.link_lost(attach_id, detached),
            None => self.outbox.frame(&handshake::begin()),
        }
    }

    /// The link is gone on this connection (detached, or its session ended). The deliveries of
    /// that attachment can no longer be settled: the server delivers them again. If the server
    /// took it away, it is attached again after a backoff, unless reconnecting is off or the
    /// server refused us the right to it.
    pub(super) fn link_lost(&mut self, attach_id: u32, detached: Detached) -> Result<(), Error> {
        self.hand_over();
        self.pending_settles.clear();
        self.forget_unreadable(attach_id);
        self.link_open = false;
        self.attach_deadline = None;
        self.beyond_reported = 0;
        let lived = self.attached_at.take().map(|at| at.elapsed());
        let epoch = self.epoch;
        let close = |reattach_in, gone| Event::ReceiverClose {
            epoch,
            attach: attach_id,
            error: detached.error.clone(),
            reattach_in,
            gone,
        };
        if detached.requested {
            let event = close(None, false);
            self.link = None;
            self.emit(event);
            return Ok(());
        }
        let forbidden = detached
            .error
            .as_ref()
            .is_some_and(|e| e.condition() == condition::UNAUTHORIZED_ACCESS);
        if forbidden && !self.cfg.reconnect.on_auth_failure {
            // Retrying cannot give us the right; every attempt would be refused the same way.
            let event = close(None, true);
            self.link = None;
            self.emit(event);
            return Ok(());
        }
        if !self.cfg.reconnect.enabled || self.closing.is_some() {
            let event = close(None, false);
            self.emit(event);
            return Ok(());
        }
        let refused = detached.delivered == 0 && lived.is_none_or(|l| l < REFUSED_WITHIN);
        if refused {
            self.failed_reattaches += 1;
        } else {
            self.failed_reattaches = 0;
            self.reattach_backoff.reset();
        }
        if self.failed_reattaches > MAX_FAILED_REATTACHES {
            let why = detached.error.clone().unwrap_or_else(|| Error::Remote {
                condition: condition::DETACH_FORCED.into(),
                description: format!(
                    "the server refused the receiver {} times in a row (it detached it right after attaching it, without an error)",
                    self.failed_reattaches
                ),
            });
            self.gave_up = true;
            let event = close(None, false);
            self.emit(event);
            return Err(why);
        }
        let delay = self.reattach_backoff.delay();
        self.reattach_at = Some(Instant::now() + delay);
        let event = close(Some(delay), false);
        self.emit(event);
        Ok(())
    }

    /// The re-attach timer fired: begin the session again if it ended, else attach.
    pub(super) fn reattach(&mut self) -> Result<(), Error> {
        self.reattach_at = None;
        if self.closing.is_some() || self.link.is_none() {
            return Ok(());
        }
        if !self.begun {
            // The attach follows the server's begin (on_begin).
            self.attach_deadline = Some(Instant::now() + self.cfg.connect_timeout);
            return self.outbox.frame(&handshake::begin());
        }
        self.send_attach()
    }
}
