//! The message template: one complete transfer frame, encoded once with the package's own types,
//! and where to patch it per message (delivery id, tag, message id, send time).

use crate::*;

/// A complete transfer frame and where to patch it per message.
pub(crate) struct Template {
    pub(crate) frame: Vec<u8>,
    delivery_id_at: usize,
    tag_at: usize,
    message_id_at: [usize; 2],
    send_ns_at: Option<usize>,
}

/// A JSON document of exactly `size` bytes in the platform's property-post format.
pub(crate) fn json_body(size: usize, generate_time: u64) -> Res<Vec<u8>> {
    let head = format!(
        "{{\"deviceType\":\"CustomCategory\",\"iotId\":\"loadgenA1ProductKeyDevice1\",\"requestId\":\"1\",\
\"productKey\":\"a1ProductKey\",\"gmtCreate\":{t},\"deviceName\":\"device1\",\
\"items\":{{\"Temperature\":{{\"value\":23.6,\"time\":{t}}}}},\"pad\":\"",
        t = generate_time
    );
    let tail = "\"}";
    if head.len() + tail.len() > size {
        return Err(format!(
            "--size must be at least {}",
            head.len() + tail.len()
        ));
    }
    let mut body = head.into_bytes();
    let pad = size - body.len() - tail.len();
    body.extend(std::iter::repeat_n(b'x', pad));
    body.extend_from_slice(tail.as_bytes());
    Ok(body)
}

pub(crate) fn put_str8(out: &mut Vec<u8>, s: &str) {
    out.push(0xa1);
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

/// The message payload, in AMQP encoding: properties (message-id), application-properties and one
/// data section. Sizes are checked against the 8-bit encodings used.
pub(crate) fn payload(size: usize, stamp: bool, generate_time: u64) -> Res<Vec<u8>> {
    let id = MESSAGE_ID_BASE.to_string();
    let mut p = Vec::new();
    // properties: described list8 with one field, message-id as str8.
    p.extend_from_slice(&[0x00, 0x53, 0x73, 0xc0]);
    p.push((1 + 2 + id.len()) as u8);
    p.push(1);
    put_str8(&mut p, &id);
    // application-properties: described map8.
    let mut m = Vec::new();
    let mut pairs = 0u8;
    put_str8(&mut m, "topic");
    put_str8(&mut m, TOPIC);
    put_str8(&mut m, "messageId");
    put_str8(&mut m, &id);
    put_str8(&mut m, "generateTime");
    m.push(0x81);
    m.extend_from_slice(&(generate_time as i64).to_be_bytes());
    pairs += 6;
    if stamp {
        put_str8(&mut m, "sendNs");
        m.push(0x81);
        m.extend_from_slice(&0x5a5a_5a5a_5a5a_5a5au64.to_be_bytes());
        pairs += 2;
    }
    if m.len() + 1 > 255 {
        return Err("application-properties too large for map8".into());
    }
    p.extend_from_slice(&[0x00, 0x53, 0x74, 0xc1]);
    p.push((m.len() + 1) as u8);
    p.push(pairs);
    p.extend_from_slice(&m);
    // data: described binary.
    let body = json_body(size, generate_time)?;
    p.extend_from_slice(&[0x00, 0x53, 0x75]);
    if body.len() <= 255 {
        p.push(0xa0);
        p.push(body.len() as u8);
    } else {
        p.push(0xb0);
        p.extend_from_slice(&(body.len() as u32).to_be_bytes());
    }
    p.extend_from_slice(&body);
    Ok(p)
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Res<usize> {
    let at: Vec<usize> = hay
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect();
    match at.as_slice() {
        [i] => Ok(*i),
        _ => Err(format!("template: {} matches for {needle:02x?}", at.len())),
    }
}

pub(crate) fn template(size: usize, stamp: bool) -> Res<Template> {
    let transfer = Transfer {
        handle: Handle(OUR_HANDLE),
        // Placeholders wide enough that the encoder picks the 4-byte forms we patch in place.
        delivery_id: Some(0x7e7e_7e7e),
        delivery_tag: Some(serde_bytes::ByteBuf::from(vec![0xa5, 0xa5, 0xa5, 0xa5])),
        message_format: Some(0),
        settled: Some(false),
        more: false,
        rcv_settle_mode: None,
        state: None,
        resume: false,
        aborted: false,
        batchable: false,
    };
    let mut frame = BytesMut::new();
    codec::encode_amqp(&mut frame, OUR_CHANNEL, &transfer).map_err(err("encode transfer"))?;
    let mut frame = frame.to_vec();
    let perf_len = frame.len();
    let gen = wall_ms();
    frame.extend_from_slice(&payload(size, stamp, gen)?);
    let total = frame.len() as u32;
    frame[..4].copy_from_slice(&total.to_be_bytes());
    let delivery_id_at = find(&frame[..perf_len], &[0x70, 0x7e, 0x7e, 0x7e, 0x7e])? + 1;
    let tag_at = find(&frame[..perf_len], &[0xa0, 0x04, 0xa5, 0xa5, 0xa5, 0xa5])? + 2;
    let id = MESSAGE_ID_BASE.to_string();
    // The id appears twice (properties and application-properties): find both.
    let mut ids = Vec::new();
    let mut from = 0;
    while let Some(i) = frame[from..]
        .windows(id.len())
        .position(|w| w == id.as_bytes())
    {
        ids.push(from + i);
        from += i + id.len();
    }
    if ids.len() != 2 {
        return Err(format!("template: message id found {} times", ids.len()));
    }
    let send_ns_at = if stamp {
        Some(find(&frame, &0x5a5a_5a5a_5a5a_5a5au64.to_be_bytes())?)
    } else {
        None
    };
    let t = Template {
        frame,
        delivery_id_at,
        tag_at,
        message_id_at: [ids[0], ids[1]],
        send_ns_at,
    };
    t.self_check(size)?;
    Ok(t)
}

impl Template {
    /// Writes message `seq` (delivery id `seq` as u32) into `out`.
    #[inline]
    pub(crate) fn put(
        &self,
        out: &mut BytesMut,
        delivery_id: u32,
        id_digits: &[u8; 19],
        send_ns: u64,
    ) {
        let start = out.len();
        out.extend_from_slice(&self.frame);
        let f = &mut out[start..];
        f[self.delivery_id_at..self.delivery_id_at + 4].copy_from_slice(&delivery_id.to_be_bytes());
        f[self.tag_at..self.tag_at + 4].copy_from_slice(&delivery_id.to_be_bytes());
        for at in self.message_id_at {
            f[at..at + 19].copy_from_slice(id_digits);
        }
        if let Some(at) = self.send_ns_at {
            f[at..at + 8].copy_from_slice(&send_ns.to_be_bytes());
        }
    }

    /// Decodes a patched copy with the package's own codec: the frame must read back as sent.
    fn self_check(&self, size: usize) -> Res<()> {
        let mut digits = [b'0'; 19];
        digits.copy_from_slice(b"1700000000000000042");
        let mut buf = BytesMut::new();
        self.put(&mut buf, 77, &digits, 123_456_789);
        let frame = codec::take_frame(&mut buf, MAX_FRAME)
            .map_err(err("self-check"))?
            .ok_or("self-check: incomplete frame")?;
        let Incoming::Transfer(t, payload) =
            codec::decode_amqp(frame).map_err(err("self-check"))?
        else {
            return Err("self-check: not a transfer".into());
        };
        if t.delivery_id != Some(77)
            || t.delivery_tag.as_ref().map(|b| b.to_vec()) != Some(vec![0, 0, 0, 77])
        {
            return Err(format!("self-check: transfer reads back as {t:?}"));
        }
        let m = aliyun_iot_amqp::message::decode(payload).map_err(err("self-check decode"))?;
        if m.application_property_str("topic") != Some(TOPIC)
            || m.application_property_str("messageId") != Some("1700000000000000042")
            || m.single_data().map(|d| d.len()) != Some(size)
        {
            return Err(format!("self-check: message reads back as {m:?}"));
        }
        Ok(())
    }
}

/// Increments a 19-digit decimal counter in place.
#[inline]
pub(crate) fn bump(d: &mut [u8; 19]) {
    for c in d.iter_mut().rev() {
        if *c == b'9' {
            *c = b'0';
        } else {
            *c += 1;
            return;
        }
    }
}
