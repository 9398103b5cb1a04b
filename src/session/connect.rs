//! The steps of getting connected that wait on the owner or on a deadline: any future raced
//! against the owner's commands (kept for later) within the connect time-out, the credentials of
//! this attempt, and the owner's `checkServerIdentity` verdict on the server's certificate chain,
//! before any credential is sent.

use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

use super::{Ending, Session};
use crate::config::CredentialSource;
use crate::error::Error;
use crate::model::{Command, Event};
use crate::sign::Credentials;

/// Runs `fut` until `deadline`, keeping the commands that arrive meanwhile for later. `None`:
/// the owner asked to close; `Some(Err(_))`: the deadline passed.
pub(super) async fn racing<T>(
    fut: impl std::future::Future<Output = T>,
    rx: &mut mpsc::UnboundedReceiver<Command>,
    deadline: Instant,
    stash: &mut Vec<Command>,
) -> Option<Result<T, tokio::time::error::Elapsed>> {
    tokio::pin!(fut);
    loop {
        tokio::select! {
            r = tokio::time::timeout_at(deadline, &mut fut) => return Some(r),
            cmd = rx.recv() => match cmd {
                None | Some(Command::Close) => return None,
                Some(cmd) => stash.push(cmd),
            },
        }
    }
}

/// A refusal by the owner's `checkServerIdentity`: its message and code, and a hint naming that
/// option (with Node's own name check's advice when it is Node's refusal it returned).
fn identity_refusal(message: String, code: Option<String>, place: &str) -> Error {
    let hint = match code.as_deref() {
        Some(c) if c == crate::tls::errors::x509::ALTNAME_INVALID => format!(
            "refused by the checkServerIdentity option (Node's name check): {}",
            crate::tls::errors::hint(c)
        ),
        _ => "refused by the checkServerIdentity option (its own check, e.g. a pinned certificate the server no longer has)".into(),
    };
    Error::Certificate {
        code,
        description: format!("{message} (server {place}); hint: {hint}"),
    }
}

impl Session<'_> {
    /// The owner's `checkServerIdentity` on the server's chain, before any credential is sent.
    pub(super) async fn identity(
        &mut self,
        chain: Vec<Vec<u8>>,
        rx: &mut mpsc::UnboundedReceiver<Command>,
        deadline: Instant,
        stash: &mut Vec<Command>,
    ) -> Result<(), Ending> {
        self.emit(Event::PeerCertificate {
            epoch: self.epoch,
            chain,
        });
        loop {
            tokio::select! {
                _ = sleep_until(deadline) => {
                    return Err(self.failed(self.timeout_error("checking the server's identity (checkServerIdentity)")));
                }
                cmd = rx.recv() => match cmd {
                    None | Some(Command::Close) => return Err(Ending::Closed),
                    Some(Command::IdentityVerdict { epoch, result }) if epoch == self.epoch => {
                        return result.map_err(|r| {
                            let place = format!("{}:{}", self.cfg.host, self.cfg.port);
                            self.failed(identity_refusal(r.message, r.code, &place))
                        });
                    }
                    Some(Command::IdentityVerdict { .. }) => {}
                    Some(cmd) => stash.push(cmd),
                },
            }
        }
    }

    /// Credentials for this attempt only: signed with a fresh timestamp, or asked of the owner.
    pub(super) async fn credentials(
        &mut self,
        rx: &mut mpsc::UnboundedReceiver<Command>,
        deadline: Instant,
        stash: &mut Vec<Command>,
    ) -> Result<Option<Credentials>, Ending> {
        let source = match &self.cfg.credentials {
            CredentialSource::External => None,
            source => Some(source.resolve()),
        };
        if let Some(resolved) = source {
            return resolved.map_err(|e| self.failed(e));
        }
        self.emit(Event::CredentialsNeeded { epoch: self.epoch });
        loop {
            tokio::select! {
                _ = sleep_until(deadline) => {
                    return Err(self.failed(self.timeout_error("obtaining credentials")));
                }
                cmd = rx.recv() => match cmd {
                    None | Some(Command::Close) => return Err(Ending::Closed),
                    Some(Command::Credentials { epoch, result }) if epoch == self.epoch => {
                        return match result {
                            Ok(c) => Ok(Some(c)),
                            Err(e) => Err(self.failed(e)),
                        };
                    }
                    Some(Command::Credentials { .. }) => {}
                    Some(cmd) => stash.push(cmd),
                },
            }
        }
    }
}
