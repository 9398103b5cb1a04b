//! Settlements on their way from the owner (Node's thread) to the connection task, gathered
//! without waking the task for each one.
//!
//! At the platform's own rate (about 1 000 messages a second, each arriving alone) waking the
//! connection task for every acknowledgement costs more than the message itself: a thread wake-up,
//! then a write. Instead settlements wait here, and the task takes them all at once, at most
//! `ack_delay` after the first (the platform allows 30 s), or at once when they are needed: the
//! sender is running low on credit, the connection is closing, or `ack_delay` is 0.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::settle::Outcome;

/// Settlements of one attachment: `(delivery id, outcome)`.
pub type Settles = Vec<(u32, Outcome)>;

#[derive(Default)]
struct Pending {
    /// In the order given, each with the attachment it is for.
    items: Vec<(u32, Settles)>,
    /// The connection task knows there are settlements (it was told, or it will look at a
    /// timer it set): further ones need not tell it again.
    expected: bool,
}

/// The queue between the owner and the connection task.
#[derive(Default)]
pub struct Acks {
    pending: Mutex<Pending>,
    notify: Notify,
    /// Tell the task at once (no gathering): `ack_delay` is 0, or credit runs low.
    urgent: AtomicBool,
}

impl Acks {
    pub fn new(gather: bool) -> Self {
        let acks = Acks::default();
        acks.urgent.store(!gather, Ordering::Relaxed);
        acks
    }

    /// Queues settlements for attachment `attach`. Wakes the connection task only when it does
    /// not expect settlements yet, or when they are urgent.
    pub fn push(&self, attach: u32, settles: Settles) {
        if settles.is_empty() {
            return;
        }
        let wake = match self.pending.lock() {
            Ok(mut p) => {
                p.items.push((attach, settles));
                let wake = !p.expected || self.urgent.load(Ordering::Relaxed);
                p.expected = true;
                wake
            }
            Err(_) => true,
        };
        if wake {
            self.notify.notify_one();
        }
    }

    /// Resolves when settlements were pushed that the task did not expect (or urgent ones).
    pub async fn notified(&self) {
        self.notify.notified().await
    }

    /// Whether settlements are waiting.
    pub fn any(&self) -> bool {
        self.pending
            .lock()
            .map(|p| !p.items.is_empty())
            .unwrap_or(false)
    }

    /// The task will look again (at a timer it set): pushes need not wake it meanwhile.
    pub fn expect(&self) {
        if let Ok(mut p) = self.pending.lock() {
            p.expected = true;
        }
    }

    /// Takes everything waiting. Afterwards the next push wakes the task again, unless it
    /// `expect`s more.
    pub fn take(&self) -> Vec<(u32, Settles)> {
        match self.pending.lock() {
            Ok(mut p) => {
                p.expected = false;
                std::mem::take(&mut p.items)
            }
            Err(_) => Vec::new(),
        }
    }

    /// Settlements are needed at once (credit runs low, or closing) or may be gathered again.
    pub fn set_urgent(&self, urgent: bool) {
        self.urgent.store(urgent, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn accept(id: u32) -> Settles {
        vec![(id, Outcome::Accepted)]
    }

    #[tokio::test]
    async fn only_the_first_unexpected_push_wakes_the_task() {
        let acks = Acks::new(true);
        acks.push(1, accept(0));
        // The first push woke it.
        tokio::time::timeout(Duration::from_millis(100), acks.notified())
            .await
            .expect("woken");
        // Later pushes, while expected, do not.
        acks.push(1, accept(1));
        acks.push(1, accept(2));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), acks.notified())
                .await
                .is_err(),
            "woken again"
        );
        let taken = acks.take();
        assert_eq!(taken.len(), 3);
        assert!(!acks.any());
        // After a take, the next push wakes it again.
        acks.push(1, accept(3));
        tokio::time::timeout(Duration::from_millis(100), acks.notified())
            .await
            .expect("woken after take");
    }

    #[tokio::test]
    async fn expecting_settlements_spares_the_wake_up() {
        let acks = Acks::new(true);
        acks.expect();
        acks.push(2, accept(0));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), acks.notified())
                .await
                .is_err()
        );
        assert!(acks.any());
    }

    #[tokio::test]
    async fn urgent_settlements_always_wake_the_task() {
        let acks = Acks::new(false);
        for id in 0..3 {
            acks.push(1, accept(id));
            tokio::time::timeout(Duration::from_millis(100), acks.notified())
                .await
                .expect("woken every time");
        }
        assert_eq!(acks.take().len(), 3);
    }
}
