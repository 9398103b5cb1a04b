//! The message as JavaScript sees it, decoded straight from the transfer payload: its sections
//! taken apart as rhea takes them apart, each value read by `value::Cursor` into rhea's shape.

use bytes::Bytes;

use crate::error::CodecError;
use crate::value::Cursor;
pub use crate::value::Value;

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
    let mut r = Cursor::new(payload);
    let mut msg = Message::default();
    while r.remaining() > 0 {
        let section = r.value()?;
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
