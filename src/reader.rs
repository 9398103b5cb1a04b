//! The read side of a connection: bytes from the socket into one buffer, cut into protocol
//! headers and frames there. Everything read goes through that buffer, so a server that sends
//! its header and its first frames in one packet is read exactly as one that sends them apart.

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, ReadHalf};

use crate::codec::{self, RawFrame};
use crate::error::Error;
use crate::transport::{Io, Wakeups};

/// Spare room kept in the read buffer before each read: one read (one batch, one hand-over to
/// the owner, one settle round trip) per 256 KiB rather than per 64 KiB.
const READ_CHUNK: usize = 256 * 1024;

/// Reads frames from the socket.
pub struct FrameReader {
    rd: ReadHalf<Box<dyn Io>>,
    wakeups: Wakeups,
    buf: BytesMut,
    max_frame_size: u32,
    /// The socket's low-water mark as last set (1: the kernel's default, every packet wakes).
    low_water: u32,
}

pub fn io_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        // rustls: the server closed without TLS close_notify; to a user, a close.
        return eof_error();
    }
    Error::Io(format!(
        "connection lost: {}",
        crate::tls::errors::io_error_words(&e)
    ))
}

pub fn eof_error() -> Error {
    Error::Io("connection closed by the server".into())
}

impl FrameReader {
    pub fn new(rd: ReadHalf<Box<dyn Io>>, wakeups: Wakeups, max_frame_size: u32) -> Self {
        FrameReader {
            rd,
            wakeups,
            buf: BytesMut::with_capacity(64 * 1024),
            max_frame_size,
            low_water: 1,
        }
    }

    /// Reads are paced: the socket wakes the runtime only once `bytes` are waiting, so that one
    /// wake-up reads several messages, brought by the sender's own packet (no timer fires).
    /// A mark within an eighth of the one set is left as it is: a steady stream changes nothing.
    pub fn pace(&mut self, bytes: u32) {
        let bytes = bytes.max(1);
        let now = self.low_water;
        if bytes == now || (bytes > 1 && now > 1 && bytes.abs_diff(now) <= now / 8) {
            return;
        }
        self.low_water = bytes;
        self.wakeups.set_low_water(bytes);
    }

    /// The next packet wakes the runtime, whatever its size: `waiting` bytes are in the socket.
    pub fn wake_on_more(&mut self, waiting: usize) {
        let bytes = u32::try_from(waiting).unwrap_or(u32::MAX).saturating_add(1);
        self.low_water = bytes;
        self.wakeups.set_low_water(bytes);
    }

    /// Bytes waiting in the socket, not read yet (where the OS tells).
    pub fn waiting(&self) -> Option<usize> {
        self.wakeups.waiting()
    }

    /// The low-water mark set: the bytes a paced read waits for (1 when not paced).
    pub fn low_water(&self) -> u32 {
        self.low_water
    }

    /// Every packet wakes the runtime again; the kernel then signals what is waiting at once.
    pub fn resume(&mut self) {
        self.pace(1);
    }

    /// Reads more bytes into the buffer; how many (0 at the end of the stream).
    pub async fn fill(&mut self) -> Result<usize, Error> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        let n = self.rd.read_buf(&mut self.buf).await.map_err(io_error)?;
        if n > 0 {
            self.wakeups.ack_now();
        }
        Ok(n)
    }

    /// The 8-byte protocol header the server sends at the start of a layer.
    pub async fn read_header(&mut self) -> Result<[u8; 8], Error> {
        while self.buf.len() < 8 {
            if self.fill().await? == 0 {
                return Err(eof_error());
            }
        }
        let bytes = self.buf.split_to(8);
        let mut header = [0u8; 8];
        header.copy_from_slice(&bytes);
        Ok(header)
    }

    /// What is read but not yet taken (a server's bytes before it closed).
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// The next complete frame, reading as needed.
    pub async fn read_frame(&mut self) -> Result<RawFrame, Error> {
        loop {
            if let Some(f) = self.take_frame()? {
                return Ok(f);
            }
            if self.fill().await? == 0 {
                return Err(eof_error());
            }
        }
    }

    /// The next complete frame already buffered, if there is one.
    pub fn take_frame(&mut self) -> Result<Option<RawFrame>, Error> {
        codec::take_frame(&mut self.buf, self.max_frame_size).map_err(Error::from)
    }
}
