//! The write side of a connection: frames are encoded into one buffer and handed, a buffer at a
//! time, to a task of their own that writes them to the socket. The session never waits on the
//! socket, and what it produces while the writer is busy goes out in one write.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use fe2o3_amqp::frames::sasl;
use serde::Serialize;
use tokio::io::{AsyncWriteExt, WriteHalf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::codec;
use crate::error::Error;
use crate::trace::Trace;
use crate::transport::Io;

/// Our one session's channel.
pub const CHANNEL: u16 = 0;

/// How long the writer may take to put the last frames on the wire once the connection ends.
const FINISH_TIMEOUT: Duration = Duration::from_millis(500);

/// Frames on their way out.
pub struct Outbox {
    out: BytesMut,
    tx: Option<mpsc::UnboundedSender<Bytes>>,
    task: Option<JoinHandle<Result<(), Error>>>,
    last_write: Instant,
    trace: Trace,
}

impl Outbox {
    pub fn new(trace: Trace) -> Self {
        Outbox {
            out: BytesMut::with_capacity(4096),
            tx: None,
            task: None,
            last_write: Instant::now(),
            trace,
        }
    }

    /// Starts the writer task on the socket's write half.
    pub fn start(&mut self, wr: WriteHalf<Box<dyn Io>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.tx = Some(tx);
        self.task = Some(tokio::spawn(write_loop(wr, rx)));
    }

    /// When we last handed something to the writer (heartbeats are due from then).
    pub fn last_write(&self) -> Instant {
        self.last_write
    }

    /// Appends raw bytes (a protocol header).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Appends one AMQP frame on our channel.
    pub fn frame<T: Serialize + std::fmt::Debug>(&mut self, performative: &T) -> Result<(), Error> {
        self.trace.frame("->", performative);
        codec::encode_amqp(&mut self.out, CHANNEL, performative).map_err(Error::from)
    }

    /// Appends one SASL frame (traced by the caller: it may hold credentials).
    pub fn sasl(&mut self, frame: &sasl::Frame) -> Result<(), Error> {
        codec::encode_sasl(&mut self.out, frame).map_err(Error::from)
    }

    /// Appends an empty frame (a heartbeat).
    pub fn heartbeat(&mut self) {
        codec::encode_empty(&mut self.out);
    }

    /// Hands everything appended so far to the writer task.
    pub fn flush(&mut self) -> Result<(), Error> {
        if self.out.is_empty() {
            return Ok(());
        }
        let bytes = self.out.split().freeze();
        let sent = self.tx.as_ref().is_some_and(|w| w.send(bytes).is_ok());
        self.last_write = Instant::now();
        if sent {
            Ok(())
        } else {
            Err(Error::Io("connection lost while writing".into()))
        }
    }

    /// Bounded goodbye: gives the writer a moment to put the last frames on the wire, then
    /// drops the socket's write half.
    pub async fn finish(&mut self) {
        self.tx = None;
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(FINISH_TIMEOUT, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

async fn write_loop(
    mut wr: WriteHalf<Box<dyn Io>>,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::Io(e.to_string());
    while let Some(first) = rx.recv().await {
        wr.write_all(&first).await.map_err(io)?;
        while let Ok(more) = rx.try_recv() {
            wr.write_all(&more).await.map_err(io)?;
        }
        wr.flush().await.map_err(io)?;
    }
    let _ = wr.shutdown().await;
    Ok(())
}
