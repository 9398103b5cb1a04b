//! Goodbyes: our close (once, with what the owner accepted sent before it when we close on an
//! error), the linger for the server's answer after a close with an error, and the server's own
//! close.

use std::time::Duration;

use fe2o3_amqp::types::performatives::Close;
use tokio::time::Instant;

use super::{Ending, Session};
use crate::codec::{self, Incoming};
use crate::error::Error;
use crate::model::Event;
use crate::reader::FrameReader;

/// The longest wait for the server's close after ours with an error.
const LINGER: Duration = Duration::from_secs(2);

impl Session<'_> {
    pub(super) fn send_close(&mut self, error: Option<Error>) -> Result<(), Error> {
        if self.closing.is_some() {
            return Ok(());
        }
        self.closing = Some(Instant::now() + self.cfg.close_timeout);
        self.outbox.frame(&Close {
            error: error.map(|e| e.to_amqp()),
        })?;
        self.outbox.flush()
    }

    /// Before a close of ours on an error: what the owner accepted goes out first, so that it
    /// need not come again (not on a transport that failed).
    pub(super) fn settle_before_close(&mut self, error: &Error) {
        if !matches!(error, Error::Io(_)) && self.closing.is_none() {
            self.collect_acks();
            let _ = self.write_settles();
        }
    }

    /// After our close with an error, while the server may still be sending: reads on, and
    /// discards, until the server's close, the end of its stream, or `close_timeout` (at most
    /// [`LINGER`]). A socket dropped with unread data in it resets the connection, and the reset
    /// can cost the server the close that says why.
    pub(super) async fn linger(&mut self, reader: &mut FrameReader) {
        self.read_resume_at = None;
        reader.resume();
        let deadline = Instant::now() + self.cfg.close_timeout.min(LINGER);
        loop {
            loop {
                match reader.take_frame() {
                    Ok(Some(frame)) => {
                        if matches!(codec::decode_amqp(frame), Ok(Incoming::Close(_))) {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
            match tokio::time::timeout_at(deadline, reader.fill()).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return,
            }
        }
    }

    pub(super) fn on_close(&mut self, close: Close) -> Ending {
        let error = close.error.as_ref().map(Error::from_amqp);
        if self.closing.is_none() {
            let _ = self.outbox.frame(&Close { error: None });
            let _ = self.outbox.flush();
        }
        if let Some(e) = &error {
            self.emit(Event::ConnectionError {
                epoch: self.epoch,
                error: e.clone(),
            });
        }
        if self.closing.is_some() {
            self.emit(Event::ConnectionClose { epoch: self.epoch });
            return Ending::Closed;
        }
        Ending::Failed {
            error: Some(error.unwrap_or_else(|| Error::Remote {
                condition: crate::error::condition::CONNECTION_FORCED.into(),
                description: "the server closed the connection".into(),
            })),
            worked: self.worked(),
        }
    }
}
