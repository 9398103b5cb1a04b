//! The owner's commands while the connection runs: close, open or close the receiver, change its
//! credit window (pause, resume).

use super::{Session, Step};
use crate::error::Error;
use crate::link::{CloseReceiver, Link};
use crate::model::Command;

impl Session<'_> {
    pub(super) fn on_command(&mut self, cmd: Option<Command>) -> Result<Step, Error> {
        match cmd {
            None | Some(Command::Close) => {
                // What the owner settled before closing goes out first.
                self.acks.set_urgent(true);
                self.take_acks()?;
                if let Some(link) = self.link.as_mut() {
                    // Closing the connection closes the link; forget it so no reconnect attaches it.
                    link.closing();
                }
                self.send_close(None)?;
            }
            Some(Command::OpenReceiver(rc)) => {
                if self.link.is_none() {
                    self.link = Some(Link::new(rc));
                    if self.begun && self.closing.is_none() {
                        self.send_attach()?;
                    }
                }
            }
            Some(Command::CloseReceiver) => {
                // What the owner settled before closing the receiver goes out first.
                self.take_acks()?;
                if let Some(link) = self.link.as_mut() {
                    match link.detach() {
                        CloseReceiver::Send(detach) => self.outbox.frame(&detach)?,
                        CloseReceiver::Wait => {}
                        CloseReceiver::Forget => self.link = None,
                    }
                }
            }
            // Late answers for an attempt already made.
            Some(Command::Credentials { .. } | Command::IdentityVerdict { .. }) => {}
            Some(Command::SetCreditWindow(n)) => {
                let grant = self.link.as_mut().and_then(|l| l.set_window(n));
                self.send_grant(grant)?;
            }
        }
        Ok(Step::Continue)
    }
}
