//! A DER reader, as far as X.509 certificates need one: definite lengths, one-byte tags. Lenient
//! where OpenSSL's parser is (a long-form length that could have been short), strict elsewhere;
//! every read is bounds-checked and fails with `Malformed`, never panics.

/// The input is not the DER that was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

pub type Result<T> = std::result::Result<T, Malformed>;

pub const BOOLEAN: u8 = 0x01;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const UTF8_STRING: u8 = 0x0c;
pub const PRINTABLE_STRING: u8 = 0x13;
pub const T61_STRING: u8 = 0x14;
pub const IA5_STRING: u8 = 0x16;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;
pub const VISIBLE_STRING: u8 = 0x1a;
pub const UNIVERSAL_STRING: u8 = 0x1c;
pub const BMP_STRING: u8 = 0x1e;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;

/// A context-specific constructed tag `[n]` (EXPLICIT, or IMPLICIT over a constructed type).
pub const fn context(n: u8) -> u8 {
    0xa0 | n
}

/// A context-specific primitive tag `[n]` (IMPLICIT over a primitive type).
pub const fn context_primitive(n: u8) -> u8 {
    0x80 | n
}

/// One element: its tag, its contents, and its whole encoding (tag and length included).
#[derive(Debug, Clone, Copy)]
pub struct Element<'a> {
    pub tag: u8,
    pub contents: &'a [u8],
    pub whole: &'a [u8],
}

/// Reads elements one after another from a slice.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The tag of the next element, if any.
    pub fn peek(&self) -> Option<u8> {
        self.data.first().copied()
    }

    /// The next element, whatever its tag.
    pub fn element(&mut self) -> Result<Element<'a>> {
        let data = self.data;
        let tag = *data.first().ok_or(Malformed)?;
        if tag & 0x1f == 0x1f {
            // High tag numbers never occur in what we parse.
            return Err(Malformed);
        }
        let first = *data.get(1).ok_or(Malformed)?;
        let (len, header) = if first < 0x80 {
            (first as usize, 2)
        } else {
            let n = (first & 0x7f) as usize;
            // 0x80 is the indefinite length of BER: not DER.
            if n == 0 || n > 4 {
                return Err(Malformed);
            }
            let bytes = data.get(2..2 + n).ok_or(Malformed)?;
            let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (len, 2 + n)
        };
        let end = header.checked_add(len).ok_or(Malformed)?;
        let whole = data.get(..end).ok_or(Malformed)?;
        let contents = &whole[header..];
        self.data = &data[end..];
        Ok(Element {
            tag,
            contents,
            whole,
        })
    }

    /// The next element, which must have `tag`; its contents.
    pub fn expect(&mut self, tag: u8) -> Result<&'a [u8]> {
        let e = self.element()?;
        if e.tag == tag {
            Ok(e.contents)
        } else {
            Err(Malformed)
        }
    }

    /// The next element's contents if it has `tag`; nothing is consumed otherwise.
    pub fn optional(&mut self, tag: u8) -> Result<Option<&'a [u8]>> {
        if self.peek() == Some(tag) {
            self.expect(tag).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A reader over the contents of the next element, which must have `tag`.
    pub fn nested(&mut self, tag: u8) -> Result<Reader<'a>> {
        self.expect(tag).map(Reader::new)
    }

    /// Fails unless everything was read.
    pub fn finish(&self) -> Result<()> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(Malformed)
        }
    }
}

/// A BIT STRING's bytes, which must hold whole bytes (no unused bits), as keys and signatures do.
pub fn bit_string_bytes(contents: &[u8]) -> Result<&[u8]> {
    match contents.split_first() {
        Some((0, rest)) => Ok(rest),
        _ => Err(Malformed),
    }
}

/// A named-bit BIT STRING (keyUsage, nsCertType) as a number: bit 0 is the most significant bit
/// of the first byte.
pub fn named_bits(contents: &[u8]) -> Result<u32> {
    let (unused, bytes) = contents.split_first().ok_or(Malformed)?;
    if *unused > 7 || (bytes.is_empty() && *unused != 0) {
        return Err(Malformed);
    }
    let mut out = 0u32;
    for (i, byte) in bytes.iter().take(4).enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                out |= 1 << (i * 8 + bit);
            }
        }
    }
    Ok(out)
}

/// A non-negative INTEGER's magnitude, big-endian, without leading zeros.
pub fn unsigned(contents: &[u8]) -> Result<&[u8]> {
    match contents {
        [] => Err(Malformed),
        [first, ..] if first & 0x80 != 0 => Err(Malformed),
        _ => {
            let start = contents
                .iter()
                .position(|b| *b != 0)
                .unwrap_or(contents.len());
            Ok(&contents[start..])
        }
    }
}

/// A BOOLEAN's value (any non-zero byte is true, as OpenSSL reads it).
pub fn boolean(contents: &[u8]) -> Result<bool> {
    match contents {
        [b] => Ok(*b != 0),
        _ => Err(Malformed),
    }
}

/// An OBJECT IDENTIFIER's encoded contents, as dotted text (for messages and tests).
pub fn oid_text(contents: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut value = 0u64;
    for (i, b) in contents.iter().enumerate() {
        value = (value << 7) | (b & 0x7f) as u64;
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let first = (value / 40).min(2);
                parts.push(first);
                parts.push(value - first * 40);
            } else {
                parts.push(value);
            }
            value = 0;
        } else if i == contents.len() - 1 {
            parts.push(value);
        }
    }
    parts
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths() {
        let mut long = vec![0x04, 0x81, 200];
        long.extend(std::iter::repeat_n(7u8, 200));
        let mut r = Reader::new(&long);
        assert_eq!(r.expect(OCTET_STRING).map(|c| c.len()), Ok(200));
        assert!(r.finish().is_ok());
        let mut r = Reader::new(&[0x30, 0x03, 0x02, 0x01, 0x05]);
        let mut inner = r.nested(SEQUENCE).unwrap();
        assert_eq!(inner.expect(INTEGER), Ok(&[5u8][..]));
    }

    #[test]
    fn refuses_what_is_not_der() {
        assert!(Reader::new(&[0x30, 0x80, 0, 0]).element().is_err());
        assert!(Reader::new(&[0x30, 0x05, 0]).element().is_err());
        assert!(Reader::new(&[0x1f, 0x01, 0]).element().is_err());
        assert!(Reader::new(&[]).element().is_err());
        assert!(unsigned(&[0x80]).is_err());
        assert_eq!(unsigned(&[0, 0x80]), Ok(&[0x80u8][..]));
    }

    #[test]
    fn named_bits_and_oids() {
        // keyUsage digitalSignature (bit 0) and keyCertSign (bit 5): 0b1000_0100, 2 unused.
        assert_eq!(named_bits(&[2, 0x84]), Ok(1 | 1 << 5));
        assert_eq!(oid_text(&[0x55, 0x1d, 0x13]), "2.5.29.19");
        assert_eq!(
            oid_text(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b]),
            "1.2.840.113549.1.1.11"
        );
    }
}
