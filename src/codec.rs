//! AMQP 1.0 framing on fe2o3-amqp's types.
//!
//! fe2o3-amqp's own frame decoder indexes into the buffer without bounds checks and buffers
//! length-prefixed values before checking them against the input, so a hostile peer could make it
//! panic or allocate gigabytes. This module does the framing itself, checks every size against the
//! bytes actually present (the performative is measured by `value::value_len`, which proves its
//! counts), and hands only complete, bounded slices to `serde_amqp`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use fe2o3_amqp::frames::sasl;
use fe2o3_amqp::types::performatives::{
    Attach, Begin, Close, Detach, Disposition, End, Flow, Open, Performative, Transfer,
};
use serde::Serialize;

use crate::error::Error;
use crate::value::value_len;

/// The smallest max-frame-size AMQP 1.0 allows a peer to advertise.
pub const MIN_MAX_FRAME_SIZE: u32 = 512;

/// Protocol header that starts the SASL layer.
pub const SASL_HEADER: [u8; 8] = *b"AMQP\x03\x01\x00\x00";
/// Protocol header that starts the AMQP layer.
pub const AMQP_HEADER: [u8; 8] = *b"AMQP\x00\x01\x00\x00";

pub const FRAME_TYPE_AMQP: u8 = 0x00;
pub const FRAME_TYPE_SASL: u8 = 0x01;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// A frame announced a size below the 8-byte minimum or an invalid data offset.
    BadFrameHeader(String),
    /// A frame is larger than the size we advertised.
    FrameTooLarge { size: u32, max: u32 },
    /// A frame of the wrong layer (SASL frame after SASL, unknown type...).
    UnexpectedFrameType(u8),
    /// An encoded value is malformed or runs past the end of its frame.
    Malformed(String),
    /// Encoding our own frame failed (a bug; reported, never panics).
    Encode(String),
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CodecError::BadFrameHeader(s) => write!(f, "bad frame header: {s}"),
            CodecError::FrameTooLarge { size, max } => {
                write!(
                    f,
                    "frame of {size} bytes exceeds the negotiated max-frame-size {max}"
                )
            }
            CodecError::UnexpectedFrameType(t) => write!(f, "unexpected frame type 0x{t:02x}"),
            CodecError::Malformed(s) => write!(f, "malformed frame: {s}"),
            CodecError::Encode(s) => write!(f, "cannot encode frame: {s}"),
        }
    }
}

impl std::error::Error for CodecError {}

impl CodecError {
    /// The error as the core reports it.
    pub fn into_error(self) -> Error {
        match self {
            CodecError::FrameTooLarge { .. } => Error::FrameTooLarge(self.to_string()),
            CodecError::Malformed(_) => Error::Decode(self.to_string()),
            CodecError::Encode(_) => Error::Internal(self.to_string()),
            CodecError::BadFrameHeader(_) | CodecError::UnexpectedFrameType(_) => {
                Error::Framing(self.to_string())
            }
        }
    }
}

/// `CodecError::into_error`, for `map_err`.
pub fn to_error(e: CodecError) -> Error {
    e.into_error()
}

/// One frame cut from the byte stream: its type, channel and body (past the extended header).
#[derive(Debug, Clone)]
pub struct RawFrame {
    pub frame_type: u8,
    pub channel: u16,
    pub body: Bytes,
}

/// Cuts one complete frame off the front of `buf`, or returns `Ok(None)` if more bytes are needed.
/// Sizes are checked before anything is buffered beyond what the peer already sent.
pub fn take_frame(buf: &mut BytesMut, max_frame_size: u32) -> Result<Option<RawFrame>, CodecError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let size = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if size < 8 {
        return Err(CodecError::BadFrameHeader(format!(
            "size {size} is below 8"
        )));
    }
    if size > max_frame_size {
        return Err(CodecError::FrameTooLarge {
            size,
            max: max_frame_size,
        });
    }
    let size = size as usize;
    if buf.len() < size {
        buf.reserve(size - buf.len());
        return Ok(None);
    }
    let doff = buf[4] as usize * 4;
    if doff < 8 || doff > size {
        return Err(CodecError::BadFrameHeader(format!(
            "data offset {doff} outside frame of {size} bytes"
        )));
    }
    let frame_type = buf[5];
    let channel = u16::from_be_bytes([buf[6], buf[7]]);
    let mut frame = buf.split_to(size).freeze();
    frame.advance(doff);
    Ok(Some(RawFrame {
        frame_type,
        channel,
        body: frame,
    }))
}

/// A decoded AMQP-layer frame body.
#[derive(Debug)]
pub enum Incoming {
    /// Heartbeat.
    Empty,
    Open(Open),
    Begin(Begin),
    Attach(Attach),
    Flow(Flow),
    Transfer(Transfer, Bytes),
    Disposition(Disposition),
    Detach(Detach),
    End(End),
    Close(Close),
}

impl Incoming {
    pub fn name(&self) -> &'static str {
        match self {
            Incoming::Empty => "empty",
            Incoming::Open(_) => "open",
            Incoming::Begin(_) => "begin",
            Incoming::Attach(_) => "attach",
            Incoming::Flow(_) => "flow",
            Incoming::Transfer(..) => "transfer",
            Incoming::Disposition(_) => "disposition",
            Incoming::Detach(_) => "detach",
            Incoming::End(_) => "end",
            Incoming::Close(_) => "close",
        }
    }
}

/// Decodes the body of an AMQP frame.
pub fn decode_amqp(frame: RawFrame) -> Result<Incoming, CodecError> {
    if frame.frame_type != FRAME_TYPE_AMQP {
        return Err(CodecError::UnexpectedFrameType(frame.frame_type));
    }
    let body = frame.body;
    if body.is_empty() {
        return Ok(Incoming::Empty);
    }
    let n = value_len(&body)?;
    let performative: Performative = guarded(|| serde_amqp::from_slice(&body[..n]))
        .map_err(|e| CodecError::Malformed(format!("performative: {e}")))?;
    if n != body.len() && !matches!(performative, Performative::Transfer(_)) {
        return Err(CodecError::Malformed(format!(
            "{} bytes after a performative that carries no payload",
            body.len() - n
        )));
    }
    Ok(match performative {
        Performative::Open(p) => Incoming::Open(p),
        Performative::Begin(p) => Incoming::Begin(p),
        Performative::Attach(p) => Incoming::Attach(p),
        Performative::Flow(p) => Incoming::Flow(p),
        Performative::Transfer(p) => Incoming::Transfer(p, body.slice(n..)),
        Performative::Disposition(p) => Incoming::Disposition(p),
        Performative::Detach(p) => Incoming::Detach(p),
        Performative::End(p) => Incoming::End(p),
        Performative::Close(p) => Incoming::Close(p),
    })
}

/// Decodes the body of a SASL frame.
pub fn decode_sasl(frame: RawFrame) -> Result<sasl::Frame, CodecError> {
    if frame.frame_type != FRAME_TYPE_SASL {
        return Err(CodecError::UnexpectedFrameType(frame.frame_type));
    }
    let n = value_len(&frame.body)?;
    guarded(|| serde_amqp::from_slice(&frame.body[..n]))
        .map_err(|e| CodecError::Malformed(format!("sasl frame: {e}")))
}

/// Runs a third-party decoder so that a panic inside it is a decode error, never a crash.
fn guarded<T>(f: impl FnOnce() -> Result<T, serde_amqp::Error>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("the decoder refused the input".into()),
    }
}

fn encode_with<T: Serialize>(
    dst: &mut BytesMut,
    frame_type: u8,
    channel: u16,
    body: &T,
) -> Result<(), CodecError> {
    let encoded = serde_amqp::to_vec(body).map_err(|e| CodecError::Encode(e.to_string()))?;
    let size = u32::try_from(encoded.len() + 8)
        .map_err(|_| CodecError::Encode("frame larger than 4 GiB".into()))?;
    dst.reserve(size as usize);
    dst.put_u32(size);
    dst.put_u8(2);
    dst.put_u8(frame_type);
    dst.put_u16(channel);
    dst.put_slice(&encoded);
    Ok(())
}

/// Appends one AMQP frame carrying `performative` to `dst`.
pub fn encode_amqp<T: Serialize>(
    dst: &mut BytesMut,
    channel: u16,
    performative: &T,
) -> Result<(), CodecError> {
    encode_with(dst, FRAME_TYPE_AMQP, channel, performative)
}

/// Appends one SASL frame to `dst`.
pub fn encode_sasl(dst: &mut BytesMut, frame: &sasl::Frame) -> Result<(), CodecError> {
    encode_with(dst, FRAME_TYPE_SASL, 0, frame)
}

/// Appends an empty AMQP frame (a heartbeat) to `dst`.
pub fn encode_empty(dst: &mut BytesMut) {
    dst.put_slice(&[0, 0, 0, 8, 2, FRAME_TYPE_AMQP, 0, 0]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_amqp::types::definitions::{Handle, Role};

    #[test]
    fn frames_round_trip_and_split_at_boundaries() {
        let mut out = BytesMut::new();
        let flow = Flow {
            next_incoming_id: Some(1),
            incoming_window: 10,
            next_outgoing_id: 2,
            outgoing_window: 3,
            handle: Some(Handle(0)),
            delivery_count: Some(4),
            link_credit: Some(5),
            available: None,
            drain: false,
            echo: false,
            properties: None,
        };
        encode_amqp(&mut out, 3, &flow).unwrap();
        encode_empty(&mut out);
        let total = out.len();
        let mut buf = BytesMut::new();
        // Fed one byte at a time, the frame appears only once complete.
        let mut frames = Vec::new();
        for i in 0..total {
            buf.put_u8(out[i]);
            while let Some(f) = take_frame(&mut buf, 1 << 16).unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].channel, 3);
        match decode_amqp(frames[0].clone()).unwrap() {
            Incoming::Flow(f) => assert_eq!(f.link_credit, Some(5)),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            decode_amqp(frames[1].clone()).unwrap(),
            Incoming::Empty
        ));
        let _ = Role::Receiver;
    }

    fn vl(b: &[u8]) -> Result<usize, CodecError> {
        value_len(&Bytes::copy_from_slice(b))
    }

    #[test]
    fn hostile_sizes_are_refused_without_buffering() {
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0][..]);
        assert!(matches!(
            take_frame(&mut buf, 65536),
            Err(CodecError::FrameTooLarge { .. })
        ));
        let mut buf = BytesMut::from(&[0, 0, 0, 4][..]);
        assert!(take_frame(&mut buf, 65536).is_err());
        let mut buf = BytesMut::from(&[0, 0, 0, 8, 9, 0, 0, 0][..]);
        assert!(take_frame(&mut buf, 65536).is_err());
        // A length prefix pointing far past the frame is caught before decoding.
        assert!(vl(&[0xb0, 0xff, 0xff, 0xff, 0xff, 1, 2]).is_err());
        assert!(vl(&[0x00; 200]).is_err());
        assert!(vl(&[0xee]).is_err());
        assert_eq!(vl(&[0xa1, 2, b'h', b'i', 0x40]).unwrap(), 4);
        // A list claiming 2^32 - 1 elements in 4 bytes (it made serde_amqp overflow).
        assert!(vl(&[0xd0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(vl(&[0xc0, 1, 5]).is_err());
        assert_eq!(vl(&[0xe0, 2, 200, 0x40, 0x40]).unwrap(), 4);
        assert!(vl(&[0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x40]).is_err());
        assert!(vl(&[0xe0, 2, 9, 0x50]).is_err());
        assert_eq!(vl(&[0xc0, 3, 2, 0x41, 0x42]).unwrap(), 5);
    }

    #[test]
    fn garbage_performatives_are_errors_not_panics() {
        for body in [
            &[0x00, 0x53, 0x99, 0x45][..],
            &[0x00, 0x53, 0x10, 0xc0, 0x01, 0x00][..],
            &[0x40][..],
            &[0x00, 0x53, 0x14, 0xc0, 0x02, 0x01, 0x40][..],
            &[0x00, 0x53, 0x13, 0xd0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff][..],
            // A close followed by stray bytes.
            &[0x00, 0x53, 0x18, 0x45, 0x99][..],
        ] {
            let frame = RawFrame {
                frame_type: FRAME_TYPE_AMQP,
                channel: 0,
                body: Bytes::copy_from_slice(body),
            };
            assert!(decode_amqp(frame).is_err(), "{body:?}");
        }
    }
}
