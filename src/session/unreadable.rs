//! Deliveries that cannot be read (a message that cannot be decoded, or one over
//! `max_message_size`) cost only themselves, never the connection: each is reported to the owner
//! at once (`Event::Unreadable`), never handed over and never accepted, and held unsettled for a
//! while, then released for the server to send again. Released at once, it would come straight
//! back from a server that redelivers at once (RabbitMQ puts it back at the head of the queue):
//! a tight loop. Rejected, it would be lost; `modified` makes RabbitMQ 3.x close the connection.
//! Held, it waits on the server's side (the platform counts an unsettled delivery as unacknowledged
//! after 30 s and pushes it again later); and if the link ends first, the server has it again
//! anyway. The hold is `max_reconnect_delay`, within 1 and 60 s (`Session::retry_pace`): the same
//! pace as that of retrying a failing connection.

use tokio::time::Instant;

use super::Session;
use crate::error::Error;
use crate::model::Event;
use crate::settle::{coalesce, Outcome};

/// A delivery that could not be read, held unsettled.
#[derive(Debug)]
pub(super) struct Held {
    attach: u32,
    id: u32,
    pub(super) release_at: Instant,
}

impl Session<'_> {
    /// Delivery `id` of attachment `attach` could not be read: held unless the sender settled
    /// it already, and reported (unless `error` is `None`: it was, as it grew too large).
    pub(super) fn on_unreadable(
        &mut self,
        attach: u32,
        id: u32,
        settled: bool,
        error: Option<Error>,
    ) {
        if !settled {
            self.unreadable.push_back(Held {
                attach,
                id,
                release_at: Instant::now() + self.retry_pace(),
            });
        }
        if let Some(error) = error {
            self.report_unreadable(attach, id, settled, error);
        }
    }

    /// Tells the owner (and the frames log) of delivery `id`, which cannot be read.
    pub(super) fn report_unreadable(&mut self, attach: u32, id: u32, settled: bool, error: Error) {
        let what = if settled {
            "not delivered (the server had settled it: it does not send it again)".to_string()
        } else {
            format!(
                "not delivered: held unsettled, then released after {} ms (or when the link ends) for the server to send again",
                self.retry_pace().as_millis()
            )
        };
        let description = format!("{}; {what}", error.description());
        self.note(&description);
        let error = match error {
            Error::MessageTooLarge(_) => Error::MessageTooLarge(description),
            _ => Error::Decode(description),
        };
        self.emit(Event::Unreadable {
            epoch: self.epoch,
            attach,
            id,
            error,
            held: !settled,
        });
    }

    /// Releases the held deliveries whose time came (those of the current attachment: those of
    /// an ended one the server has again already).
    pub(super) fn release_unreadable(&mut self) -> Result<(), Error> {
        let now = Instant::now();
        let current = self
            .link
            .as_ref()
            .filter(|l| l.settleable())
            .map(|l| l.attach_id());
        let mut due = Vec::new();
        while let Some(held) = self.unreadable.front() {
            if held.release_at > now {
                break;
            }
            if Some(held.attach) == current {
                due.push((held.id, Outcome::Released));
            }
            self.unreadable.pop_front();
        }
        if due.is_empty() || self.closing.is_some() {
            return Ok(());
        }
        if let Some(link) = self.link.as_mut() {
            link.settled(due.len() as u32);
        }
        for d in coalesce(due) {
            self.outbox.frame(&d)?;
        }
        self.refill_credit(false)?;
        self.outbox.flush()
    }

    /// Attachment `attach` ended: what it held is the server's again.
    pub(super) fn forget_unreadable(&mut self, attach: u32) {
        self.unreadable.retain(|held| held.attach != attach);
    }
}
