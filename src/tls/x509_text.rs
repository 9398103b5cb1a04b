//! The text of certificate fields as OpenSSL reads it: common names, names compared on their
//! canonical form (`X509_NAME_cmp`), and times.

use super::der::{self, Reader};
use super::oid;

pub(super) fn offset(base: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - base.as_ptr() as usize
}

/// A Name's attributes (its contents: RDNs of attribute type and value) as (type, value element)
/// pairs, in order.
pub(super) fn name_attributes(name: &[u8]) -> der::Result<Vec<(&[u8], der::Element<'_>)>> {
    let mut out = Vec::new();
    let mut rdns = Reader::new(name);
    while !rdns.is_empty() {
        let mut set = rdns.nested(der::SET)?;
        while !set.is_empty() {
            let mut ava = set.nested(der::SEQUENCE)?;
            let id = ava.expect(der::OID)?;
            out.push((id, ava.element()?));
        }
    }
    Ok(out)
}

/// The commonName values of a Name's contents.
pub(super) fn common_names(name: &[u8]) -> der::Result<Vec<String>> {
    Ok(name_attributes(name)?
        .into_iter()
        .filter(|(id, _)| *id == oid::COMMON_NAME)
        .map(|(_, value)| string_value(value.tag, value.contents).unwrap_or_default())
        .collect())
}

/// A directory string as text (UTF-8, Latin-1, UCS-2 or UCS-4 as its type says).
fn string_value(tag: u8, contents: &[u8]) -> Option<String> {
    match tag {
        der::UTF8_STRING | der::PRINTABLE_STRING | der::IA5_STRING | der::VISIBLE_STRING => {
            Some(String::from_utf8_lossy(contents).into_owned())
        }
        der::T61_STRING => Some(contents.iter().map(|b| *b as char).collect()),
        der::BMP_STRING => {
            let units: Vec<u16> = contents
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            Some(String::from_utf16_lossy(&units))
        }
        der::UNIVERSAL_STRING => Some(
            contents
                .chunks(4)
                .map(|c| {
                    let mut b = [0u8; 4];
                    b[..c.len()].copy_from_slice(c);
                    char::from_u32(u32::from_be_bytes(b)).unwrap_or('\u{fffd}')
                })
                .collect(),
        ),
        _ => None,
    }
}

/// A Name's contents in OpenSSL's canonical form (`x509_name_canon`): string values as UTF-8,
/// ASCII lowercased, leading and trailing white space dropped and inner runs of it made one
/// space; other values kept as encoded. Two names are equal when their forms are.
pub(super) fn canonical_name(name: &[u8]) -> der::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut rdns = Reader::new(name);
    while !rdns.is_empty() {
        let mut set = rdns.nested(der::SET)?;
        out.push(b'{');
        while !set.is_empty() {
            let mut ava = set.nested(der::SEQUENCE)?;
            let id = ava.expect(der::OID)?;
            let value = ava.element()?;
            out.extend_from_slice(&(id.len() as u32).to_be_bytes());
            out.extend_from_slice(id);
            match string_value(value.tag, value.contents) {
                Some(text) => {
                    let canon = canonical_text(&text);
                    out.push(b's');
                    out.extend_from_slice(&(canon.len() as u32).to_be_bytes());
                    out.extend_from_slice(canon.as_bytes());
                }
                None => {
                    out.push(b'r');
                    out.extend_from_slice(&(value.whole.len() as u32).to_be_bytes());
                    out.extend_from_slice(value.whole);
                }
            }
        }
        out.push(b'}');
    }
    Ok(out)
}

fn canonical_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.trim_matches(|c: char| c.is_ascii_whitespace()).chars() {
        if c.is_ascii_whitespace() {
            space = true;
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// UTCTime or GeneralizedTime as Unix seconds, read as leniently as OpenSSL reads them
/// (seconds optional, `Z` or an offset).
pub(super) fn time(e: der::Element<'_>) -> Option<i64> {
    let s = std::str::from_utf8(e.contents).ok()?;
    let (digits, rest) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let num = |range: std::ops::Range<usize>| digits.get(range)?.parse::<i64>().ok();
    let (year, at) = match e.tag {
        der::UTC_TIME => {
            let yy = num(0..2)?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, 2)
        }
        der::GENERALIZED_TIME => (num(0..4)?, 4),
        _ => return None,
    };
    let month = num(at..at + 2)?;
    let day = num(at + 2..at + 4)?;
    let hour = num(at + 4..at + 6)?;
    let minute = num(at + 6..at + 8)?;
    let second = match digits.len() - at {
        8 => 0,
        10 => num(at + 8..at + 10)?,
        _ => return None,
    };
    // A fraction of a second (GeneralizedTime only) is ignored.
    let rest = if e.tag == der::GENERALIZED_TIME && rest.starts_with('.') {
        rest.trim_start_matches('.')
            .trim_start_matches(|c: char| c.is_ascii_digit())
    } else {
        rest
    };
    let offset = match rest.as_bytes() {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let d = |b: &u8| (*b as char).to_digit(10).map(i64::from);
            let mins = (d(h1)? * 10 + d(h2)?) * 60 + d(m1)? * 10 + d(m2)?;
            if *sign == b'+' {
                mins * 60
            } else {
                -mins * 60
            }
        }
        _ => return None,
    };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elem(tag: u8, s: &str) -> Option<i64> {
        let mut v = vec![tag, s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        let e = Reader::new(&v).element().ok()?;
        time(e)
    }

    #[test]
    fn times_as_openssl_reads_them() {
        assert_eq!(elem(der::UTC_TIME, "700101000000Z"), Some(0));
        assert_eq!(elem(der::UTC_TIME, "491231235959Z"), Some(2_524_607_999));
        assert_eq!(
            elem(der::GENERALIZED_TIME, "20500101000000Z"),
            Some(2_524_608_000)
        );
        assert_eq!(elem(der::UTC_TIME, "7001010100+0100"), Some(0));
        assert_eq!(elem(der::GENERALIZED_TIME, "19700101000001.5Z"), Some(1));
        assert_eq!(elem(der::UTC_TIME, "701301000000Z"), None);
        assert_eq!(elem(der::UTC_TIME, "70010100000Z"), None);
        assert_eq!(elem(der::UTC_TIME, "700101000000"), None);
    }

    #[test]
    fn names_compare_as_openssl_does() {
        // SET { SEQ { CN, PrintableString "  Test   CA " } } vs UTF8String "test ca"
        let name = |tag: u8, v: &str| {
            let mut ava = vec![0x06, 3, 0x55, 0x04, 0x03, tag, v.len() as u8];
            ava.extend_from_slice(v.as_bytes());
            let mut seq = vec![0x30, ava.len() as u8];
            seq.extend(ava);
            let mut set = vec![0x31, seq.len() as u8];
            set.extend(seq);
            set
        };
        let a = canonical_name(&name(der::PRINTABLE_STRING, "  Test   CA ")).unwrap();
        let b = canonical_name(&name(der::UTF8_STRING, "test ca")).unwrap();
        assert_eq!(a, b);
        let c = canonical_name(&name(der::UTF8_STRING, "test-ca")).unwrap();
        assert_ne!(a, c);
        assert_eq!(
            common_names(&name(der::UTF8_STRING, "localhost")).unwrap(),
            vec!["localhost".to_string()]
        );
    }
}
