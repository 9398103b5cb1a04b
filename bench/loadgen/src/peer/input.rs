//! Reading the client's bytes: more of them, the next whole frame, the protocol header.

use crate::*;

pub(super) async fn read_more<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut BytesMut) -> Res<()> {
    if buf.capacity() - buf.len() < 16 * 1024 {
        buf.reserve(64 * 1024);
    }
    match rd.read_buf(buf).await {
        Ok(0) => Err("connection closed by the client".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("read: {e}")),
    }
}

pub(super) async fn next_frame<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
) -> Res<codec::RawFrame> {
    loop {
        if let Some(f) = codec::take_frame(buf, MAX_FRAME).map_err(err("frame"))? {
            return Ok(f);
        }
        read_more(rd, buf).await?;
    }
}

pub(super) async fn read_header<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
) -> Res<[u8; 8]> {
    while buf.len() < 8 {
        read_more(rd, buf).await?;
    }
    let mut h = [0u8; 8];
    h.copy_from_slice(&buf.split_to(8));
    Ok(h)
}
