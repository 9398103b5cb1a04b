//! Link credit, as the receiving end keeps it: how many transfers the sender may still make, and
//! when to grant more. No I/O; the link asks it what to send.
//!
//! Credit is granted up to the window less what is still unsettled, so the deliveries held by the
//! owner never exceed the window however slowly it settles. A flow is sent only when the grant
//! grew by a quarter of the window (or the sender ran dry), to keep flows rare.

/// A grant to send as a flow: the sender may make `link_credit` transfers past `delivery_count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub delivery_count: u32,
    pub link_credit: u32,
}

/// The receiver's view of its link credit.
#[derive(Debug, Clone)]
pub struct Credit {
    /// Most deliveries held unsettled at once (0: paused).
    window: u32,
    /// The sender's delivery-count as we track it.
    delivery_count: u32,
    /// Credit the sender still has, as we granted it.
    granted: u32,
    /// Deliveries handed over and not yet settled by the owner.
    unsettled: u32,
    /// Transfers the sender may still have in flight after we lowered its credit (pause).
    allowance: u32,
}

impl Credit {
    pub fn new(window: u32) -> Self {
        Credit {
            window,
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
    }

    /// The first transfer of a delivery arrived: it takes one credit (or one of the transfers
    /// allowed in flight after a lowered grant).
    pub fn on_transfer(&mut self) -> Result<(), String> {
        if self.granted > 0 {
            self.granted -= 1;
        } else if self.allowance > 0 {
            self.allowance -= 1; // sent before the sender saw our lower credit
        } else {
            return Err("transfer received without link credit".into());
        }
        self.delivery_count = self.delivery_count.wrapping_add(1);
        Ok(())
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
    /// delivery-count may move ahead of ours (drain consumes the remaining credit), never past
    /// what we granted.
    pub fn on_sender_flow(&mut self, delivery_count: Option<u32>) -> Result<(), String> {
        let Some(count) = delivery_count else {
            return Ok(());
        };
        let advanced = count.wrapping_sub(self.delivery_count);
        if advanced != 0 && advanced <= i32::MAX as u32 {
            if advanced > self.granted {
                return Err(format!(
                    "sender's delivery-count moved {advanced} past the {} credits granted",
                    self.granted
                ));
            }
            self.granted -= advanced;
            self.delivery_count = count;
        }
        Ok(())
    }

    /// Changes the window; returns whether a flow must go out at once (pausing, or a sender
    /// that has no credit left).
    pub fn set_window(&mut self, window: u32) -> bool {
        self.window = window;
        window == 0 || self.granted == 0
    }

    /// The grant to send now, if any: up to the window less what is unsettled, when it grew by a
    /// quarter of the window, the sender ran dry, the window closed, or `force`.
    pub fn grant(&mut self, force: bool) -> Option<Grant> {
        let target = self.window.saturating_sub(self.unsettled);
        let threshold = (self.window / 4).max(1);
        let grow =
            target > self.granted && (target - self.granted >= threshold || self.granted == 0);
        let shrink = target < self.granted && self.window == 0;
        if !(force || grow || shrink) {
            return None;
        }
        if target < self.granted {
            // Transfers already on their way may still arrive; never more than were granted.
            self.allowance = self.allowance.max(self.granted - target);
        }
        self.granted = target;
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
            Some(Grant {
                delivery_count: 8,
                link_credit: 3
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
    fn transfers_beyond_the_credit_are_refused() {
        let mut c = attached(1);
        c.grant(true);
        c.on_transfer().unwrap();
        assert!(c.on_transfer().is_err());
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
            c.on_transfer().unwrap();
        }
        assert!(c.on_transfer().is_err(), "never more than were granted");
    }

    #[test]
    fn a_sender_flow_never_raises_credit() {
        let mut c = attached(10);
        c.grant(true);
        // drain: the sender says it used up 4 credits without sending.
        c.on_sender_flow(Some(4)).unwrap();
        assert_eq!(c.granted(), 6);
        assert!(c.on_sender_flow(Some(20)).is_err());
        // A delivery-count behind ours (a stale flow) changes nothing.
        c.on_sender_flow(Some(2)).unwrap();
        assert_eq!(c.granted(), 6);
        c.on_sender_flow(None).unwrap();
        assert_eq!(c.granted(), 6);
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
