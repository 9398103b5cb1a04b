//! The message as JavaScript sees it, decoded straight from the transfer payload.
//!
//! The model follows what rhea gives its users (`rhea-behaviour.md`): timestamps become dates,
//! longs within rhea's range become numbers and 8-byte buffers beyond it, uuids, decimals and
//! binaries become buffers, symbols become strings, lists and arrays become arrays, maps keep their
//! pairs (the JS side turns keys into property names exactly as rhea's `mapify` does).
//! Binary values are slices of the received frame: nothing is copied until JavaScript needs it.

use bytes::Bytes;

use crate::codec::{fixed_width, size_width, CodecError};

const MAX_DEPTH: usize = 64;
/// Elements of zero width (nulls, empty lists...) cost no bytes on the wire; cap their count so a
/// few bytes cannot ask for gigabytes.
const MAX_ZERO_WIDTH_COUNT: usize = 65_536;

/// An AMQP value in the shape rhea presents it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Every numeric type rhea turns into a JS number (including char, as its code point).
    Number(f64),
    /// Milliseconds since the epoch (a JS `Date`); NaN where rhea would produce an invalid date.
    Timestamp(f64),
    /// binary, uuid, decimal32/64/128, and longs beyond rhea's number range.
    Binary(Bytes),
    /// string and symbol.
    String(String),
    /// list and array.
    List(Vec<Value>),
    /// map, as its key/value pairs in wire order.
    Map(Vec<(Value, Value)>),
    /// A described value other than a message section.
    Described(Box<Value>, Box<Value>),
}

/// The body sections of a message, as rhea groups them.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Body {
    #[default]
    None,
    /// One or more data sections.
    Data(Vec<Bytes>),
    /// One or more amqp-sequence sections.
    Sequence(Vec<Vec<Value>>),
    /// An amqp-value section.
    Value(Value),
}

/// A decoded message. Composite sections keep their positional fields; `None` where absent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Message {
    pub header: Option<Vec<Value>>,
    pub delivery_annotations: Option<Vec<(Value, Value)>>,
    pub message_annotations: Option<Vec<(Value, Value)>>,
    pub properties: Option<Vec<Value>>,
    pub application_properties: Option<Vec<(Value, Value)>>,
    pub body: Body,
    pub footer: Option<Vec<(Value, Value)>>,
}

/// Field names of the header section, in wire order.
pub const HEADER_FIELDS: [&str; 5] = [
    "durable",
    "priority",
    "ttl",
    "first_acquirer",
    "delivery_count",
];

/// Field names of the properties section, in wire order.
pub const PROPERTY_FIELDS: [&str; 13] = [
    "message_id",
    "user_id",
    "to",
    "subject",
    "reply_to",
    "correlation_id",
    "content_type",
    "content_encoding",
    "absolute_expiry_time",
    "creation_time",
    "group_id",
    "group_sequence",
    "reply_to_group_id",
];

impl Message {
    /// The application property `key` if it is present as a string.
    pub fn application_property_str(&self, key: &str) -> Option<&str> {
        self.application_properties
            .as_ref()?
            .iter()
            .find_map(|(k, v)| match (k, v) {
                (Value::String(k), Value::String(v)) if k == key => Some(v.as_str()),
                _ => None,
            })
    }

    /// The body if it is exactly one data section.
    pub fn single_data(&self) -> Option<&Bytes> {
        match &self.body {
            Body::Data(d) if d.len() == 1 => d.first(),
            _ => None,
        }
    }
}

fn malformed(what: &str) -> CodecError {
    CodecError::Malformed(what.to_string())
}

struct Reader {
    buf: Bytes,
    pos: usize,
    /// Values still allowed for this message: nested arrays of empty elements must not turn a
    /// few kilobytes into millions of values.
    budget: usize,
}

impl Reader {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<Bytes, CodecError> {
        if n > self.remaining() {
            return Err(malformed("value runs past the end of the message"));
        }
        let out = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| malformed("truncated value"))?;
        self.pos += 1;
        Ok(b)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let b = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&b);
        Ok(out)
    }

    fn size(&mut self, width: usize) -> Result<usize, CodecError> {
        Ok(if width == 1 {
            self.u8()? as usize
        } else {
            u32::from_be_bytes(self.array::<4>()?) as usize
        })
    }

    /// Reads one value: a constructor (possibly described) and its data.
    fn value(&mut self, depth: usize) -> Result<Value, CodecError> {
        if depth > MAX_DEPTH {
            return Err(malformed("values nested too deeply"));
        }
        let code = self.u8()?;
        if code == 0x00 {
            let descriptor = self.value(depth + 1)?;
            let value = self.value(depth + 1)?;
            return Ok(Value::Described(Box::new(descriptor), Box::new(value)));
        }
        self.data(code, depth)
    }

    /// Reads the data of a value whose constructor `code` was already read.
    fn data(&mut self, code: u8, depth: usize) -> Result<Value, CodecError> {
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or_else(|| malformed("too many values for the size of the message"))?;
        Ok(match code {
            0x40 => Value::Null,
            0x41 => Value::Bool(true),
            0x42 => Value::Bool(false),
            // rhea reads the one-byte boolean form as its byte value (0 or 1); a drop-in matches.
            0x56 => Value::Number(self.u8()? as f64),
            0x43 | 0x44 => Value::Number(0.0),
            0x50 | 0x52 | 0x53 => Value::Number(self.u8()? as f64),
            0x51 | 0x54 | 0x55 => Value::Number(self.u8()? as i8 as f64),
            0x60 => Value::Number(u16::from_be_bytes(self.array()?) as f64),
            0x61 => Value::Number(i16::from_be_bytes(self.array()?) as f64),
            0x70 | 0x73 => Value::Number(u32::from_be_bytes(self.array()?) as f64),
            0x71 => Value::Number(i32::from_be_bytes(self.array()?) as f64),
            0x72 => Value::Number(f32::from_be_bytes(self.array()?) as f64),
            0x82 => Value::Number(f64::from_be_bytes(self.array()?)),
            0x80 => {
                let raw = self.take(8)?;
                rhea_ulong(&raw).map_or(Value::Binary(raw), Value::Number)
            }
            0x81 => {
                let raw = self.take(8)?;
                rhea_long(&raw).map_or(Value::Binary(raw), Value::Number)
            }
            0x83 => {
                let raw = self.take(8)?;
                Value::Timestamp(rhea_long(&raw).unwrap_or(f64::NAN))
            }
            0x74 | 0x84 | 0x94 | 0x98 => {
                let width = fixed_width(code).unwrap_or(0);
                Value::Binary(self.take(width)?)
            }
            0xa0 | 0xb0 => {
                let n = self.size(size_width(code).unwrap_or(4))?;
                Value::Binary(self.take(n)?)
            }
            0xa1 | 0xb1 | 0xa3 | 0xb3 => {
                let n = self.size(size_width(code).unwrap_or(4))?;
                let raw = self.take(n)?;
                Value::String(String::from_utf8_lossy(&raw).into_owned())
            }
            0x45 => Value::List(Vec::new()),
            0xc0 | 0xd0 | 0xc1 | 0xd1 => {
                let w = size_width(code).unwrap_or(4);
                let size = self.size(w)?;
                if size > self.remaining() || size < w {
                    return Err(malformed("compound size runs past the end of the message"));
                }
                let end = self.pos + size;
                let count = self.size(w)?;
                if count > size {
                    return Err(malformed("compound count larger than its size"));
                }
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                if self.pos != end {
                    return Err(malformed("compound size does not match its elements"));
                }
                if code == 0xc1 || code == 0xd1 {
                    if count % 2 != 0 {
                        return Err(malformed("map with an odd number of elements"));
                    }
                    let mut pairs = Vec::with_capacity(count / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Value::Map(pairs)
                } else {
                    Value::List(items)
                }
            }
            0xe0 | 0xf0 => self.array_data(code, depth)?,
            _ => return Err(malformed(&format!("unknown constructor 0x{code:02x}"))),
        })
    }

    fn array_data(&mut self, code: u8, depth: usize) -> Result<Value, CodecError> {
        let w = size_width(code).unwrap_or(4);
        let size = self.size(w)?;
        if size > self.remaining() || size < w {
            return Err(malformed("array size runs past the end of the message"));
        }
        let end = self.pos + size;
        let count = self.size(w)?;
        let mut element = self.u8()?;
        let mut descriptor = None;
        if element == 0x00 {
            descriptor = Some(self.value(depth + 1)?);
            element = self.u8()?;
        }
        let zero_width = fixed_width(element) == Some(0);
        if (zero_width && count > MAX_ZERO_WIDTH_COUNT) || (!zero_width && count > size) {
            return Err(malformed("array count larger than its size"));
        }
        let mut items = Vec::with_capacity(count.min(MAX_ZERO_WIDTH_COUNT));
        for _ in 0..count {
            let v = self.data(element, depth + 1)?;
            items.push(match &descriptor {
                Some(d) => Value::Described(Box::new(d.clone()), Box::new(v)),
                None => v,
            });
        }
        if self.pos != end {
            return Err(malformed("array size does not match its elements"));
        }
        Ok(Value::List(items))
    }
}

/// rhea's reading of a ulong: a number while the high word is below 2^21 + 1, else the raw bytes.
fn rhea_ulong(raw: &[u8]) -> Option<f64> {
    let hi = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
    let lo = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
    (hi < 2_097_153).then_some(hi as f64 * 4_294_967_296.0 + lo as f64)
}

/// rhea's reading of a long: a number while |high word| < 2^21 + 1, else the raw bytes.
fn rhea_long(raw: &[u8]) -> Option<f64> {
    let hi = i32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
    let lo = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
    (hi < 2_097_153 && hi > -2_097_153).then_some(hi as f64 * 4_294_967_296.0 + lo as f64)
}

fn section_code(descriptor: &Value) -> Option<u64> {
    match descriptor {
        Value::Number(n) => Some(*n as u64),
        Value::String(s) => Some(match s.as_str() {
            "amqp:header:list" => 0x70,
            "amqp:delivery-annotations:map" => 0x71,
            "amqp:message-annotations:map" => 0x72,
            "amqp:properties:list" => 0x73,
            "amqp:application-properties:map" => 0x74,
            "amqp:data:binary" => 0x75,
            "amqp:amqp-sequence:list" => 0x76,
            "amqp:value:*" => 0x77,
            "amqp:footer:map" => 0x78,
            _ => return None,
        }),
        _ => None,
    }
}

fn expect_list(v: Value, what: &str) -> Result<Vec<Value>, CodecError> {
    match v {
        Value::List(items) => Ok(items),
        Value::Null => Ok(Vec::new()),
        _ => Err(malformed(&format!("{what} section is not a list"))),
    }
}

fn expect_map(v: Value, what: &str) -> Result<Vec<(Value, Value)>, CodecError> {
    match v {
        Value::Map(pairs) => Ok(pairs),
        Value::Null => Ok(Vec::new()),
        _ => Err(malformed(&format!("{what} section is not a map"))),
    }
}

/// Decodes a complete message payload (the concatenated transfer payloads of one delivery).
/// Sections rhea does not know are skipped, as rhea skips them.
pub fn decode(payload: Bytes) -> Result<Message, CodecError> {
    let budget = payload.len() + MAX_ZERO_WIDTH_COUNT;
    let mut r = Reader {
        buf: payload,
        pos: 0,
        budget,
    };
    let mut msg = Message::default();
    while r.remaining() > 0 {
        let section = r.value(0)?;
        let Value::Described(descriptor, value) = section else {
            return Err(malformed("message section is not described"));
        };
        let value = *value;
        match section_code(&descriptor) {
            Some(0x70) => msg.header = Some(expect_list(value, "header")?),
            Some(0x71) => {
                msg.delivery_annotations = Some(expect_map(value, "delivery-annotations")?)
            }
            Some(0x72) => msg.message_annotations = Some(expect_map(value, "message-annotations")?),
            Some(0x73) => msg.properties = Some(expect_list(value, "properties")?),
            Some(0x74) => {
                msg.application_properties = Some(expect_map(value, "application-properties")?)
            }
            Some(0x75) => {
                let Value::Binary(data) = value else {
                    return Err(malformed("data section is not binary"));
                };
                match &mut msg.body {
                    Body::None => msg.body = Body::Data(vec![data]),
                    Body::Data(parts) => parts.push(data),
                    _ => {}
                }
            }
            Some(0x76) => {
                let items = expect_list(value, "amqp-sequence")?;
                match &mut msg.body {
                    Body::None => msg.body = Body::Sequence(vec![items]),
                    Body::Sequence(parts) => parts.push(items),
                    _ => {}
                }
            }
            Some(0x77) => msg.body = Body::Value(value),
            Some(0x78) => msg.footer = Some(expect_map(value, "footer")?),
            _ => {}
        }
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(code: u8, rest: &[u8]) -> Vec<u8> {
        let mut v = vec![0x00, 0x53, code];
        v.extend_from_slice(rest);
        v
    }

    #[test]
    fn platform_message_decodes() {
        // application-properties {topic: "/a/b", messageId: "1", generateTime: long 5}
        let mut ap = vec![0xc1, 0, 6];
        ap.extend_from_slice(&[0xa1, 5]);
        ap.extend_from_slice(b"topic");
        ap.extend_from_slice(&[0xa1, 4]);
        ap.extend_from_slice(b"/a/b");
        ap.extend_from_slice(&[0xa1, 9]);
        ap.extend_from_slice(b"messageId");
        ap.extend_from_slice(&[0xa1, 1, b'1']);
        ap.extend_from_slice(&[0xa1, 12]);
        ap.extend_from_slice(b"generateTime");
        ap.extend_from_slice(&[0x55, 5]);
        ap[1] = (ap.len() - 2) as u8;
        let mut payload = described(0x74, &ap);
        payload.extend(described(0x75, &[0xa0, 2, b'{', b'}']));
        let msg = decode(Bytes::from(payload)).unwrap();
        assert_eq!(msg.application_property_str("topic"), Some("/a/b"));
        assert_eq!(msg.single_data().map(|b| &b[..]), Some(&b"{}"[..]));
    }

    #[test]
    fn longs_follow_rhea() {
        assert_eq!(rhea_long(&[0, 0, 0, 0, 0, 0, 0, 7]), Some(7.0));
        assert_eq!(rhea_long(&[0xff; 8]), Some(-1.0));
        assert_eq!(rhea_ulong(&[0xff; 8]), None);
        assert_eq!(rhea_long(&[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]), None);
    }

    #[test]
    fn hostile_payloads_fail_cleanly() {
        let cases: Vec<Vec<u8>> = vec![
            vec![0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x40],
            vec![0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x40],
            vec![0xe0, 2, 0xff, 0x40],
            vec![0xd0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff],
            vec![0x00; 300],
            vec![0x40],
            described(0x75, &[0xb0, 0xff, 0xff, 0xff, 0xff]),
            described(0x74, &[0xc1, 1, 1, 0x40]),
        ];
        // 600 arrays of 65 536 nulls each: 5 kB asking for 39 million values.
        let one = [0u8, 0, 0, 5, 0, 1, 0, 0, 0x40]; // array32 data: size 5, count 65 536, null
        let mut nested = vec![0x00, 0x53, 0x77, 0xf0];
        nested.extend_from_slice(&((4 + 1 + one.len() * 600) as u32).to_be_bytes());
        nested.extend_from_slice(&600u32.to_be_bytes());
        nested.push(0xf0);
        for _ in 0..600 {
            nested.extend_from_slice(&one);
        }
        match decode(Bytes::from(nested)) {
            Err(CodecError::Malformed(m)) => assert!(m.contains("too many values"), "{m}"),
            other => panic!("expected the value budget to stop it, got {other:?}"),
        }
        for c in cases {
            assert!(decode(Bytes::from(c.clone())).is_err(), "{c:?}");
        }
    }
}
