//! Link credit, as the receiving end keeps it: how many transfers the sender may still make, and
//! when to grant more. No I/O; the link asks it what to send.
//!
//! Credit is granted up to the window less what is still unsettled, so the deliveries held by the
//! owner never exceed the window however slowly it settles. A flow is sent only when the grant
//! grew by a quarter of the window (or the sender ran dry), to keep flows rare.
//!
//! Liberal in what it takes: a sender that sends beyond its credit (RabbitMQ 3.10 sends one
//! transfer more than the last flow allowed: it reads a flow's credit as fresh, counting again the
//! transfers it already had in flight) loses nothing by it. Such transfers are taken and counted,
//! and since they are held like any other, the next grant is smaller by as many. Only a sender
//! that goes on far past what such readings could explain (four times the largest window granted,
//! held at once) is refused: that is no slip, and memory must stay bounded.
//!
//! Strict in what it sends: a flow that raises the credit goes out only once the sender has used
//! some of the last one (its delivery-count moved) or has none left. RabbitMQ 3.10 adds up flows
//! that arrive while it has transfers in flight, so flows in quick succession with the same
//! delivery-count make it send far more than granted; spaced this way, it does not.

use crate::error::Error;

/// A grant to send as a flow: the sender may make `link_credit` transfers past `delivery_count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub delivery_count: u32,
    pub link_credit: u32,
}

/// How a transfer was paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// With credit we granted.
    Granted,
    /// One the sender had in flight before it saw a lower grant (pause).
    InFlight,
    /// Beyond any credit: the sender's slip, taken all the same. Carries how many so far.
    Beyond(u64),
}

/// The receiver's view of its link credit.
#[derive(Debug, Clone)]
pub struct Credit {
    /// Most deliveries held unsettled at once (0: paused).
    window: u32,
    /// The largest window granted on this link: bounds what a sender's slips may add.
    high_window: u32,
    /// Transfers taken beyond the credit granted, on this link.
    beyond: u64,
    /// The delivery-count of the last flow sent (`None`: none yet).
    last_flow_count: Option<u32>,
    /// The sender's delivery-count as we track it.
    delivery_count: u32,
    /// Credit the sender still has, as we granted it.
    granted: u32,
    /// Deliveries handed over and not yet settled by the owner.
    unsettled: u32,
    /// Transfers the sender may still have in flight after we lowered its credit (pause): how far
    /// the highest limit it may still act on runs past the one we granted last.
    allowance: u32,
}

impl Credit {
    pub fn new(window: u32) -> Self {
        Credit {
            window,
            high_window: window,
            beyond: 0,
            last_flow_count: None,
            delivery_count: 0,
            granted: 0,
            unsettled: 0,
            allowance: 0,
        }
    }

    pub fn window(&self) -> u32 {
        self.window
    }

    /// Credit the sender still has.
    pub fn granted(&self) -> u32 {
        self.granted
    }

    pub fn unsettled(&self) -> u32 {
        self.unsettled
    }

    /// The link is attached: the sender starts at `initial_delivery_count` with no credit.
    pub fn attached(&mut self, initial_delivery_count: u32) {
        self.delivery_count = initial_delivery_count;
        self.granted = 0;
        self.last_flow_count = None;
    }

    /// Transfers taken beyond the credit granted, on this link.
    pub fn beyond(&self) -> u64 {
        self.beyond
    }

    /// The first transfer of a delivery arrived: it takes one credit, or one of the transfers
    /// allowed in flight after a lowered grant, or (a sender's slip) none at all.
    pub fn on_transfer(&mut self) -> Result<Taken, Error> {
        let taken = if self.granted > 0 {
            self.granted -= 1;
            Taken::Granted
        } else if self.allowance > 0 {
            self.allowance -= 1; // sent before the sender saw our lower credit
            Taken::InFlight
        } else {
            let bound = 4 * u64::from(self.high_window.max(2));
            if u64::from(self.unsettled) + 1 > bound {
                return Err(Error::TransferLimit(format!(
                    "the server sent a transfer beyond the credit granted with {} deliveries already held unsettled (four times the largest credit window, {}): {} transfers beyond the credit on this link",
                    self.unsettled,
                    self.high_window,
                    self.beyond + 1
                )));
            }
            self.beyond += 1;
            Taken::Beyond(self.beyond)
        };
        self.delivery_count = self.delivery_count.wrapping_add(1);
        Ok(taken)
    }

    /// A delivery was handed to the owner unsettled.
    pub fn held(&mut self) {
        self.unsettled += 1;
    }

    /// The owner settled `n` deliveries.
    pub fn settled(&mut self, n: u32) {
        self.unsettled = self.unsettled.saturating_sub(n);
    }

    /// The sender's flow: credit is ours to grant, so a sender's flow never raises it. Its
    /// delivery-count may move ahead of ours (drain consumes the remaining credit). Ahead of what
    /// we granted it is a slip: its count is taken (it is the sender's to keep) and the credit
    /// it had is spent; returns how far past the grant it ran, if it did.
    pub fn on_sender_flow(&mut self, delivery_count: Option<u32>) -> Option<u32> {
        let count = delivery_count?;
        let advanced = count.wrapping_sub(self.delivery_count);
        if advanced == 0 || advanced > i32::MAX as u32 {
            return None; // the same count, or one behind ours (a stale flow)
        }
        self.delivery_count = count;
        if advanced > self.granted {
            let past = advanced - self.granted;
            self.granted = 0;
            return Some(past);
        }
        self.granted -= advanced;
        None
    }

    /// Whether the sender has a quarter of the window or less left while deliveries are held.
    pub fn low(&self) -> bool {
        self.unsettled > 0 && self.granted <= (self.window / 4).max(1)
    }

    /// Changes the window; returns whether a flow must go out at once (pausing, or a sender
    /// that has no credit left).
    pub fn set_window(&mut self, window: u32) -> bool {
        self.window = window;
        self.high_window = self.high_window.max(window);
        window == 0 || self.granted == 0
    }

    /// The grant to send now, if any: up to the window less what is unsettled, when it grew by a
    /// quarter of the window (and the sender used some of the last grant) or the sender ran dry,
    /// when the window closed, or `force`.
    pub fn grant(&mut self, force: bool) -> Option<Grant> {
        let target = self.window.saturating_sub(self.unsettled);
        let threshold = (self.window / 4).max(1);
        let used_some = self.last_flow_count != Some(self.delivery_count);
        let grow = target > self.granted
            && ((target - self.granted >= threshold && used_some) || self.granted == 0);
        let shrink = target < self.granted && self.window == 0;
        if !(force || grow || shrink) {
            return None;
        }
        // Transfers the sender may still make under an earlier grant it has not seen replaced:
        // up to the highest limit granted so far (what it still had, and what was allowed in
        // flight), less the new one. A grant that reaches that limit (a resume after a pause)
        // leaves none: from then on a transfer past the credit is a slip, counted and bounded.
        self.allowance = (self.granted + self.allowance).saturating_sub(target);
        self.granted = target;
        self.last_flow_count = Some(self.delivery_count);
        Some(Grant {
            delivery_count: self.delivery_count,
            link_credit: target,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attached(window: u32) -> Credit {
        let mut c = Credit::new(window);
        c.attached(0);
        c
    }

    #[test]
    fn first_grant_is_the_window() {
        let mut c = attached(100);
        assert_eq!(
            c.grant(true),
            Some(Grant {
                delivery_count: 0,
                link_credit: 100
            })
        );
        assert_eq!(c.grant(false), None, "nothing moved");
    }

    #[test]
    fn credit_comes_back_as_deliveries_are_settled_a_quarter_at_a_time() {
        let mut c = attached(8);
        c.grant(true);
        for _ in 0..8 {
            c.on_transfer().unwrap();
            c.held();
        }
        assert_eq!(c.granted(), 0);
        assert_eq!(c.grant(false), None, "all 8 unsettled: nothing to grant");
        c.settled(1);
        assert_eq!(
            c.grant(false),
            Some(Grant {
                delivery_count: 8,
                link_credit: 1
            }),
            "a sender with no credit left gets what there is at once"
        );
        c.settled(1);
        assert_eq!(
            c.grant(false),
            None,
            "one more is below a quarter of the window"
        );
        c.settled(1);
        assert_eq!(
            c.grant(false),
            None,
            "the sender has not used the last grant: no second flow at the same delivery-count"
        );
        // It uses its one credit: now the grant catches up with what was settled.
        c.on_transfer().unwrap();
        c.held();
        assert_eq!(
            c.grant(false),
            Some(Grant {
                delivery_count: 9,
                link_credit: 2
            })
        );
    }

    #[test]
    fn unsettled_deliveries_bound_the_grant() {
        let mut c = attached(10);
        c.grant(true);
        for _ in 0..10 {
            c.on_transfer().unwrap();
            c.held();
        }
        c.settled(9);
        // One held delivery never stops the flow: the rest of the window comes back.
        assert_eq!(c.grant(false).map(|g| g.link_credit), Some(9));
        assert_eq!(c.unsettled(), 1);
    }

    #[test]
    fn a_transfer_beyond_the_credit_is_taken_and_the_next_grant_accounts_for_it() {
        let mut c = attached(4);
        c.grant(true);
        for _ in 0..4 {
            assert_eq!(c.on_transfer(), Ok(Taken::Granted));
            c.held();
        }
        // RabbitMQ's slip: one more than granted.
        assert_eq!(c.on_transfer(), Ok(Taken::Beyond(1)));
        c.held();
        assert_eq!(c.beyond(), 1);
        c.settled(3);
        // 5 were taken, 2 are held: the grant is the window less those 2.
        assert_eq!(
            c.grant(false),
            Some(Grant {
                delivery_count: 5,
                link_credit: 2
            })
        );
    }

    #[test]
    fn a_sender_that_goes_on_past_four_times_the_window_is_refused() {
        let mut c = attached(2);
        c.grant(true);
        for _ in 0..8 {
            c.on_transfer().unwrap();
            c.held();
        }
        let e = c.on_transfer().unwrap_err();
        assert!(e.description().contains("beyond the credit"), "{e}");
        assert_eq!(
            e.condition(),
            crate::error::condition::TRANSFER_LIMIT_EXCEEDED
        );
    }

    #[test]
    fn pre_settled_transfers_beyond_the_credit_hold_nothing() {
        let mut c = attached(1);
        c.grant(true);
        for i in 1..=10 {
            c.on_transfer().unwrap();
            assert_eq!(c.beyond(), i - 1);
        }
    }

    #[test]
    fn pausing_allows_the_transfers_already_in_flight() {
        let mut c = attached(5);
        c.grant(true);
        c.on_transfer().unwrap();
        assert!(c.set_window(0));
        assert_eq!(
            c.grant(true),
            Some(Grant {
                delivery_count: 1,
                link_credit: 0
            })
        );
        for _ in 0..4 {
            assert_eq!(c.on_transfer(), Ok(Taken::InFlight));
        }
        assert_eq!(
            c.on_transfer(),
            Ok(Taken::Beyond(1)),
            "past the allowance: a slip"
        );
    }

    #[test]
    fn after_a_resume_transfers_past_the_credit_are_slips_again() {
        let mut c = attached(5);
        c.grant(true);
        c.on_transfer().unwrap();
        c.held();
        assert!(c.set_window(0));
        c.grant(true); // pause: 4 may still be in flight
        assert_eq!(c.on_transfer(), Ok(Taken::InFlight));
        c.held();
        c.set_window(5);
        c.settled(2);
        // resume: the new grant covers what was in flight (it counts against it on the sender's
        // side), so nothing is allowed beyond it any more.
        assert_eq!(c.grant(true).map(|g| g.link_credit), Some(5));
        for _ in 0..5 {
            assert_eq!(c.on_transfer(), Ok(Taken::Granted));
        }
        assert_eq!(
            c.on_transfer(),
            Ok(Taken::Beyond(1)),
            "past the credit after a resume: counted (and logged) as a slip"
        );
        assert_eq!(c.beyond(), 1);
    }

    #[test]
    fn a_resume_below_what_was_in_flight_allows_only_the_difference() {
        let mut c = attached(10);
        c.grant(true);
        c.set_window(0);
        c.grant(true); // pause: 10 may be in flight
        c.set_window(4);
        assert_eq!(c.grant(true).map(|g| g.link_credit), Some(4));
        for _ in 0..4 {
            assert_eq!(c.on_transfer(), Ok(Taken::Granted));
        }
        for _ in 0..6 {
            assert_eq!(c.on_transfer(), Ok(Taken::InFlight));
        }
        assert_eq!(c.on_transfer(), Ok(Taken::Beyond(1)));
    }

    #[test]
    fn a_sender_flow_never_raises_credit() {
        let mut c = attached(10);
        c.grant(true);
        // drain: the sender says it used up 4 credits without sending.
        assert_eq!(c.on_sender_flow(Some(4)), None);
        assert_eq!(c.granted(), 6);
        // The same flow again changes nothing.
        assert_eq!(c.on_sender_flow(Some(4)), None);
        assert_eq!(c.granted(), 6);
        // A delivery-count behind ours (a stale flow) changes nothing.
        assert_eq!(c.on_sender_flow(Some(2)), None);
        assert_eq!(c.granted(), 6);
        assert_eq!(c.on_sender_flow(None), None);
        // Ahead of the grant: a slip; its count is taken, the credit is spent.
        assert_eq!(c.on_sender_flow(Some(20)), Some(10));
        assert_eq!(c.granted(), 0);
        assert_eq!(c.grant(true).map(|g| g.delivery_count), Some(20));
    }

    #[test]
    fn a_raising_flow_waits_until_the_sender_used_some_of_the_last_one() {
        let mut c = attached(100);
        c.grant(true);
        for _ in 0..60 {
            c.on_transfer().unwrap();
            c.held();
        }
        c.settled(60);
        let g = c.grant(false).expect("the sender used 60: more credit");
        assert_eq!(g.link_credit, 100);
        // More settlements, but no transfer since that flow: no second flow at the same count.
        assert_eq!(c.grant(false), None);
        c.on_transfer().unwrap();
        c.held();
        c.settled(1);
        // Still only a little more room than it has: not a quarter of the window yet.
        assert_eq!(c.grant(false), None);
    }

    #[test]
    fn delivery_count_wraps() {
        let mut c = Credit::new(4);
        c.attached(u32::MAX);
        c.grant(true);
        c.on_transfer().unwrap();
        assert_eq!(c.grant(true).map(|g| g.delivery_count), Some(0));
    }
}
