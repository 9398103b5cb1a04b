//! AMQP 1.0 encoded values: the one walker of the type system. It knows every constructor and
//! its size, and proves each length and count by the bytes actually present before it trusts
//! them. Framing uses it to measure (and so bound) a performative before `serde_amqp` sees it;
//! message decoding uses it to read values straight into the shape rhea gives its users.
//!
//! The model follows what rhea 3 gives its users: timestamps become dates, longs within rhea's
//! range become numbers and 8-byte buffers beyond it, uuids, decimals and binaries become
//! buffers, symbols become strings, lists and arrays become arrays, maps keep their pairs (the JS
//! side turns keys into property names exactly as rhea's `mapify` does). Binary values are slices
//! of the received frame: nothing is copied until JavaScript needs it.

use bytes::Bytes;

use crate::error::CodecError;

/// Nesting deeper than this is refused rather than followed (stack safety).
const MAX_DEPTH: usize = 64;
/// Elements of zero width (nulls, empty lists...) cost no bytes on the wire; their count is
/// capped so that a few bytes cannot ask for gigabytes, or for minutes of walking.
const MAX_ZERO_WIDTH_ELEMENTS: usize = 65_536;

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
    /// A described value (other than a message section, which the message decoder takes apart).
    Described(Box<Value>, Box<Value>),
}

/// How the data after a constructor is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A fixed number of bytes.
    Fixed(usize),
    /// A length prefix of this width, then that many bytes (binary, string, symbol).
    Variable(usize),
    /// A size and a count of this width, then the elements (list, map).
    Compound { width: usize, map: bool },
    /// A size and a count of this width, one element constructor, then the elements' data.
    Array(usize),
}

fn shape(code: u8) -> Option<Shape> {
    Some(match code {
        0x40..=0x45 => Shape::Fixed(0),
        0x50..=0x56 => Shape::Fixed(1),
        0x60 | 0x61 => Shape::Fixed(2),
        0x70..=0x74 => Shape::Fixed(4),
        0x80..=0x84 => Shape::Fixed(8),
        0x94 | 0x98 => Shape::Fixed(16),
        0xa0 | 0xa1 | 0xa3 => Shape::Variable(1),
        0xb0 | 0xb1 | 0xb3 => Shape::Variable(4),
        0xc0 => Shape::Compound {
            width: 1,
            map: false,
        },
        0xc1 => Shape::Compound {
            width: 1,
            map: true,
        },
        0xd0 => Shape::Compound {
            width: 4,
            map: false,
        },
        0xd1 => Shape::Compound {
            width: 4,
            map: true,
        },
        0xe0 => Shape::Array(1),
        0xf0 => Shape::Array(4),
        _ => return None,
    })
}

fn malformed(what: &str) -> CodecError {
    CodecError::Malformed(what.to_string())
}

/// Number of bytes taken by the encoded value (constructor included) at the start of `b`.
/// Fails if the value is malformed or does not fit in `b`.
pub fn value_len(b: &Bytes) -> Result<usize, CodecError> {
    let mut c = Cursor::new(b.clone());
    c.skip()?;
    Ok(c.pos)
}

/// A reading position in encoded values.
pub struct Cursor {
    buf: Bytes,
    pos: usize,
    /// Values still allowed: nested arrays of empty elements must not turn a few kilobytes into
    /// millions of values.
    budget: usize,
}

impl Cursor {
    pub fn new(buf: Bytes) -> Self {
        let budget = buf.len() + MAX_ZERO_WIDTH_ELEMENTS;
        Cursor {
            buf,
            pos: 0,
            budget,
        }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<Bytes, CodecError> {
        if n > self.remaining() {
            return Err(malformed("value runs past the end of its frame"));
        }
        let out = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }

    fn advance(&mut self, n: usize) -> Result<(), CodecError> {
        if n > self.remaining() {
            return Err(malformed("value runs past the end of its frame"));
        }
        self.pos += n;
        Ok(())
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
        let b = self
            .buf
            .get(self.pos..self.pos + N)
            .ok_or_else(|| malformed("value runs past the end of its frame"))?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        self.pos += N;
        Ok(out)
    }

    fn size(&mut self, width: usize) -> Result<usize, CodecError> {
        Ok(if width == 1 {
            self.u8()? as usize
        } else {
            u32::from_be_bytes(self.array::<4>()?) as usize
        })
    }

    fn spend(&mut self) -> Result<(), CodecError> {
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or_else(|| malformed("too many values for the size of the frame"))?;
        Ok(())
    }

    fn shape(code: u8) -> Result<Shape, CodecError> {
        shape(code).ok_or_else(|| malformed(&format!("unknown constructor 0x{code:02x}")))
    }

    /// Reads a compound's size and count; returns the count and where the compound ends.
    fn compound(&mut self, width: usize, map: bool) -> Result<(usize, usize), CodecError> {
        let size = self.size(width)?;
        if size > self.remaining() || size < width {
            return Err(malformed("compound size runs past the end of its frame"));
        }
        let end = self.pos + size;
        let count = self.size(width)?;
        if count > size {
            return Err(malformed("compound count larger than its size"));
        }
        if map && count % 2 != 0 {
            return Err(malformed("map with an odd number of elements"));
        }
        Ok((count, end))
    }

    /// Reads an array's size, count and element constructor code (its descriptor, if any, is
    /// next); returns the count, where the array ends, the element code and whether described.
    fn array_header(&mut self, width: usize) -> Result<(usize, usize, u8), CodecError> {
        let size = self.size(width)?;
        if size > self.remaining() || size < width + 1 {
            return Err(malformed("array size runs past the end of its frame"));
        }
        let end = self.pos + size;
        let count = self.size(width)?;
        let element = self.u8()?;
        Ok((count, end, element))
    }

    /// Checks an array's count once its element constructor is known.
    fn check_array_count(&self, count: usize, element: u8, end: usize) -> Result<(), CodecError> {
        let zero_width = shape(element) == Some(Shape::Fixed(0));
        let room = end.saturating_sub(self.pos);
        if (zero_width && count > MAX_ZERO_WIDTH_ELEMENTS) || (!zero_width && count > room) {
            return Err(malformed("array count larger than its size"));
        }
        Ok(())
    }

    fn expect_end(&self, end: usize, what: &str) -> Result<(), CodecError> {
        if self.pos != end {
            return Err(malformed(&format!(
                "{what} size does not match its elements"
            )));
        }
        Ok(())
    }

    /// Walks past one value (a constructor, possibly described, and its data), proving it.
    pub fn skip(&mut self) -> Result<(), CodecError> {
        self.skip_at(0)
    }

    fn skip_at(&mut self, depth: usize) -> Result<(), CodecError> {
        if depth > MAX_DEPTH {
            return Err(malformed("values nested too deeply"));
        }
        let code = self.u8()?;
        if code == 0x00 {
            self.skip_at(depth + 1)?;
            return self.skip_at(depth + 1);
        }
        self.skip_data(code, depth)
    }

    fn skip_data(&mut self, code: u8, depth: usize) -> Result<(), CodecError> {
        self.spend()?;
        match Self::shape(code)? {
            Shape::Fixed(w) => self.advance(w),
            Shape::Variable(w) => {
                let n = self.size(w)?;
                self.advance(n)
            }
            Shape::Compound { width, map } => {
                let (count, end) = self.compound(width, map)?;
                for _ in 0..count {
                    if self.pos >= end {
                        return Err(malformed("compound count larger than its size"));
                    }
                    self.skip_at(depth + 1)?;
                }
                self.expect_end(end, "compound")
            }
            Shape::Array(width) => {
                let (count, end, mut element) = self.array_header(width)?;
                if element == 0x00 {
                    self.skip_at(depth + 1)?;
                    element = self.u8()?;
                }
                self.check_array_count(count, element, end)?;
                for _ in 0..count {
                    self.skip_data(element, depth + 1)?;
                }
                self.expect_end(end, "array")
            }
        }
    }

    /// Reads one value into rhea's shape.
    pub fn value(&mut self) -> Result<Value, CodecError> {
        self.value_at(0)
    }

    fn value_at(&mut self, depth: usize) -> Result<Value, CodecError> {
        if depth > MAX_DEPTH {
            return Err(malformed("values nested too deeply"));
        }
        let code = self.u8()?;
        if code == 0x00 {
            let descriptor = self.value_at(depth + 1)?;
            let value = self.value_at(depth + 1)?;
            return Ok(Value::Described(Box::new(descriptor), Box::new(value)));
        }
        self.data(code, depth)
    }

    /// Reads the data of a value whose constructor `code` was already read.
    fn data(&mut self, code: u8, depth: usize) -> Result<Value, CodecError> {
        self.spend()?;
        let shape = Self::shape(code)?;
        Ok(match code {
            0x40 => Value::Null,
            0x41 => Value::Bool(true),
            0x42 => Value::Bool(false),
            // rhea reads the one-byte boolean form as its byte value (0 or 1); a drop-in matches.
            0x56 => Value::Number(self.u8()? as f64),
            0x43 | 0x44 => Value::Number(0.0),
            0x45 => Value::List(Vec::new()),
            0x50 | 0x52 | 0x53 => Value::Number(self.u8()? as f64),
            0x51 | 0x54 | 0x55 => Value::Number(self.u8()? as i8 as f64),
            0x60 => Value::Number(u16::from_be_bytes(self.array()?) as f64),
            0x61 => Value::Number(i16::from_be_bytes(self.array()?) as f64),
            0x70 | 0x73 => Value::Number(u32::from_be_bytes(self.array()?) as f64),
            0x71 => Value::Number(i32::from_be_bytes(self.array()?) as f64),
            0x72 => Value::Number(f32::from_be_bytes(self.array()?) as f64),
            0x82 => Value::Number(f64::from_be_bytes(self.array()?)),
            0x80 => {
                let raw = self.array::<8>()?;
                rhea_ulong(raw).map_or_else(|| Value::Binary(self.last(8)), Value::Number)
            }
            0x81 => {
                let raw = self.array::<8>()?;
                rhea_long(raw).map_or_else(|| Value::Binary(self.last(8)), Value::Number)
            }
            0x83 => Value::Timestamp(rhea_long(self.array::<8>()?).unwrap_or(f64::NAN)),
            // decimal32/64/128, char-free fixed binaries and uuid
            0x74 | 0x84 | 0x94 | 0x98 => match shape {
                Shape::Fixed(w) => Value::Binary(self.take(w)?),
                _ => return Err(malformed("bad fixed-width constructor")),
            },
            0xa0 | 0xb0 => {
                let n = self.size(if code == 0xa0 { 1 } else { 4 })?;
                Value::Binary(self.take(n)?)
            }
            0xa1 | 0xb1 | 0xa3 | 0xb3 => {
                let n = self.size(if code & 0xf0 == 0xa0 { 1 } else { 4 })?;
                let raw = self.take(n)?;
                Value::String(String::from_utf8_lossy(&raw).into_owned())
            }
            _ => match shape {
                Shape::Compound { width, map } => self.compound_data(width, map, depth)?,
                Shape::Array(width) => self.array_data(width, depth)?,
                _ => return Err(malformed(&format!("unknown constructor 0x{code:02x}"))),
            },
        })
    }

    /// The `n` bytes just read, as a slice of the frame.
    fn last(&self, n: usize) -> Bytes {
        self.buf.slice(self.pos - n..self.pos)
    }

    fn compound_data(
        &mut self,
        width: usize,
        map: bool,
        depth: usize,
    ) -> Result<Value, CodecError> {
        let (count, end) = self.compound(width, map)?;
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            items.push(self.value_at(depth + 1)?);
        }
        self.expect_end(end, "compound")?;
        if !map {
            return Ok(Value::List(items));
        }
        let mut pairs = Vec::with_capacity(count / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            pairs.push((k, v));
        }
        Ok(Value::Map(pairs))
    }

    fn array_data(&mut self, width: usize, depth: usize) -> Result<Value, CodecError> {
        let (count, end, mut element) = self.array_header(width)?;
        let mut descriptor = None;
        if element == 0x00 {
            descriptor = Some(self.value_at(depth + 1)?);
            element = self.u8()?;
        }
        self.check_array_count(count, element, end)?;
        let mut items = Vec::with_capacity(count.min(MAX_ZERO_WIDTH_ELEMENTS));
        for _ in 0..count {
            let v = self.data(element, depth + 1)?;
            items.push(match &descriptor {
                Some(d) => Value::Described(Box::new(d.clone()), Box::new(v)),
                None => v,
            });
        }
        self.expect_end(end, "array")?;
        Ok(Value::List(items))
    }
}

/// rhea's reading of a ulong: a number while the high word is below 2^21 + 1, else the raw bytes.
fn rhea_ulong(raw: [u8; 8]) -> Option<f64> {
    let hi = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
    let lo = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
    (hi < 2_097_153).then_some(hi as f64 * 4_294_967_296.0 + lo as f64)
}

/// rhea's reading of a long: a number while |high word| < 2^21 + 1, else the raw bytes.
fn rhea_long(raw: [u8; 8]) -> Option<f64> {
    let hi = i32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
    let lo = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
    (hi < 2_097_153 && hi > -2_097_153).then_some(hi as f64 * 4_294_967_296.0 + lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(b: &[u8]) -> Result<Value, CodecError> {
        Cursor::new(Bytes::copy_from_slice(b)).value()
    }

    fn len(b: &[u8]) -> Result<usize, CodecError> {
        value_len(&Bytes::copy_from_slice(b))
    }

    #[test]
    fn longs_follow_rhea() {
        assert_eq!(rhea_long([0, 0, 0, 0, 0, 0, 0, 7]), Some(7.0));
        assert_eq!(rhea_long([0xff; 8]), Some(-1.0));
        assert_eq!(rhea_ulong([0xff; 8]), None);
        assert_eq!(rhea_long([0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0]), None);
        assert_eq!(
            read(&[0x80, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1]).unwrap(),
            Value::Binary(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1]))
        );
    }

    #[test]
    fn measuring_and_reading_agree() {
        let cases: Vec<Vec<u8>> = vec![
            vec![0x40],
            vec![0x56, 1],
            vec![0xa1, 3, b'a', b'b', b'c'],
            // list [1, "x"]
            vec![0xc0, 6, 2, 0x52, 1, 0xa1, 1, b'x'],
            // map {"k": true}
            vec![0xc1, 5, 2, 0xa1, 1, b'k', 0x41],
            // array of 2 ubytes
            vec![0xe0, 4, 2, 0x50, 7, 8],
            // described: descriptor ulong 0x75, binary "hi"
            vec![0x00, 0x53, 0x75, 0xa0, 2, b'h', b'i'],
        ];
        for c in cases {
            let mut tail = c.clone();
            tail.extend_from_slice(&[0xde, 0xad]);
            assert_eq!(len(&tail).unwrap(), c.len(), "{c:?}");
            let mut r = Cursor::new(Bytes::from(tail));
            r.value().unwrap();
            assert_eq!(r.remaining(), 2, "{c:?}");
        }
        assert_eq!(
            read(&[0xc1, 5, 2, 0xa1, 1, b'k', 0x41]).unwrap(),
            Value::Map(vec![(Value::String("k".into()), Value::Bool(true))])
        );
    }

    #[test]
    fn hostile_values_fail_cleanly_in_both_walks() {
        let mut cases: Vec<Vec<u8>> = vec![
            vec![0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x40],
            vec![0xf0, 0, 0, 0, 5, 0xff, 0xff, 0xff, 0xff, 0x40],
            vec![0xd0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff],
            vec![0xc1, 1, 1, 0x40],
            vec![0xb0, 0xff, 0xff, 0xff, 0xff],
            vec![0x00; 300],
            vec![0x77],
            vec![],
        ];
        // 600 arrays of 65 536 nulls each: 5 kB asking for 39 million values.
        let one = [0u8, 0, 0, 5, 0, 1, 0, 0, 0x40];
        let mut nested = vec![0xf0];
        nested.extend_from_slice(&((4 + 1 + one.len() * 600) as u32).to_be_bytes());
        nested.extend_from_slice(&600u32.to_be_bytes());
        nested.push(0xf0);
        for _ in 0..600 {
            nested.extend_from_slice(&one);
        }
        match read(&nested) {
            Err(CodecError::Malformed(m)) => assert!(m.contains("too many values"), "{m}"),
            other => panic!("expected the value budget to stop it, got {other:?}"),
        }
        cases.push(nested);
        for c in cases {
            assert!(read(&c).is_err(), "read {c:?}");
            assert!(len(&c).is_err(), "len {c:?}");
        }
    }
}
