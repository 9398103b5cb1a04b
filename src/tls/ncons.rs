//! Name constraints as OpenSSL 3 checks them (`check_name_constraints` in x509_vfy.c over
//! `NAME_CONSTRAINTS_check` and `NAME_CONSTRAINTS_check_CN` in v3_ncons.c): every certificate of
//! the chain (self-issued ones skipped, but for the leaf) against the constraints of every
//! certificate above it, the trust anchor included. The subject's directory name and email
//! attributes and every subjectAltName are checked; the leaf's commonNames too when it has no DNS
//! subjectAltName, each one that looks like a DNS name of two labels or more.

use super::cert::Cert;
use super::der::{self, Malformed, Reader};
use super::errors::x509;
use super::oid;
use super::x509_text::{canonical_name, name_attributes};

/// OpenSSL's bound on names × constraints (NAME_CHECK_MAX).
const NAME_CHECK_MAX: usize = 1 << 20;

/// GeneralName tags ([n] of RFC 5280).
const OTHER_NAME: u8 = 0;
const EMAIL: u8 = 1;
const DNS: u8 = 2;
const DIRECTORY_NAME: u8 = 4;
const URI: u8 = 6;
const IP: u8 = 7;

/// A GeneralName, as far as name constraints compare one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneralName {
    /// otherName: its type id and its value (the element inside the [0] EXPLICIT wrapper).
    Other { type_id: Vec<u8>, value: Vec<u8> },
    /// rfc822Name, dNSName, uniformResourceIdentifier, iPAddress: their bytes, by tag.
    Text(u8, Vec<u8>),
    /// directoryName, in the canonical form names are compared in.
    Directory(Vec<u8>),
    /// x400Address, ediPartyName, registeredID: never compared (their tag).
    Unhandled(u8),
}

impl GeneralName {
    /// One GeneralName element of a subjectAltName or of a GeneralSubtree.
    pub fn parse(e: der::Element<'_>) -> der::Result<GeneralName> {
        let n = e.tag & 0x1f;
        Ok(match (e.tag & 0xe0, n) {
            (0xa0, OTHER_NAME) => {
                let mut r = Reader::new(e.contents);
                let type_id = r.expect(der::OID)?.to_vec();
                let value = Reader::new(r.expect(der::context(0))?).element()?;
                GeneralName::Other {
                    type_id,
                    value: value.whole.to_vec(),
                }
            }
            (0x80, EMAIL | DNS | URI | IP) => GeneralName::Text(n, e.contents.to_vec()),
            (0xa0, DIRECTORY_NAME) => GeneralName::Directory(canonical_name(
                Reader::new(e.contents).expect(der::SEQUENCE)?,
            )?),
            (0x80 | 0xa0, 3 | 5 | 8) => GeneralName::Unhandled(n),
            _ => return Err(Malformed),
        })
    }

    /// Its type, as constraints are matched on: an SmtpUTF8Mailbox otherName counts as an email.
    fn kind(&self) -> u8 {
        match self {
            GeneralName::Other { type_id, .. } if type_id == oid::SMTP_UTF8_MAILBOX => EMAIL,
            GeneralName::Other { .. } => OTHER_NAME,
            GeneralName::Text(n, _) => *n,
            GeneralName::Directory(_) => DIRECTORY_NAME,
            GeneralName::Unhandled(n) => *n,
        }
    }
}

/// One GeneralSubtree: its base, and whether it carries a minimum other than 0 or a maximum
/// (which OpenSSL does not support).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subtree {
    base: GeneralName,
    min_max: bool,
}

/// The nameConstraints extension.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameConstraints {
    permitted: Vec<Subtree>,
    excluded: Vec<Subtree>,
}

fn subtrees(contents: &[u8]) -> der::Result<Vec<Subtree>> {
    let mut list = Reader::new(contents);
    let mut out = Vec::new();
    while !list.is_empty() {
        let mut sub = list.nested(der::SEQUENCE)?;
        let base = GeneralName::parse(sub.element()?)?;
        let minimum = sub.optional(der::context_primitive(0))?;
        let maximum = sub.optional(der::context_primitive(1))?;
        sub.finish()?;
        let min_max = maximum.is_some() || minimum.is_some_and(|m| m.iter().any(|b| *b != 0));
        out.push(Subtree { base, min_max });
    }
    Ok(out)
}

impl NameConstraints {
    /// The extension's value (a NameConstraints SEQUENCE).
    pub fn parse(value: &[u8]) -> der::Result<NameConstraints> {
        let mut outer = Reader::new(value);
        let mut r = outer.nested(der::SEQUENCE)?;
        outer.finish()?;
        let permitted = match r.optional(der::context(0))? {
            Some(c) => subtrees(c)?,
            None => Vec::new(),
        };
        let excluded = match r.optional(der::context(1))? {
            Some(c) => subtrees(c)?,
            None => Vec::new(),
        };
        r.finish()?;
        Ok(NameConstraints {
            permitted,
            excluded,
        })
    }
}

/// A name checked against one set of constraints; `Err` is OpenSSL's verification error.
type Check = Result<(), &'static str>;

/// ASCII case-insensitive equality (OpenSSL's `ia5ncasecmp`).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn rposition(s: &[u8], c: u8) -> Option<usize> {
    s.iter().rposition(|b| *b == c)
}

/// `nc_dns`: empty matches all; else the name ends with the base, at a label boundary.
fn dns(name: &[u8], base: &[u8]) -> Check {
    if base.is_empty() {
        return Ok(());
    }
    if name.len() < base.len() {
        return Err(x509::PERMITTED_VIOLATION);
    }
    let tail = &name[name.len() - base.len()..];
    if name.len() > base.len() && base[0] != b'.' && name[name.len() - base.len() - 1] != b'.' {
        return Err(x509::PERMITTED_VIOLATION);
    }
    if same(base, tail) {
        Ok(())
    } else {
        Err(x509::PERMITTED_VIOLATION)
    }
}

/// `nc_email`: a base with a local part matches that mailbox (local part case-sensitive); a
/// host alone matches any mailbox there; `.host` any mailbox below it.
fn email(name: &[u8], base: &[u8]) -> Check {
    let Some(at) = rposition(name, b'@') else {
        return Err(x509::UNSUPPORTED_NAME_SYNTAX);
    };
    let base_at = rposition(base, b'@');
    if base_at.is_none() && base.first() == Some(&b'.') {
        return if name.len() > base.len() && same(base, &name[name.len() - base.len()..]) {
            Ok(())
        } else {
            Err(x509::PERMITTED_VIOLATION)
        };
    }
    let mut base_host = base;
    if let Some(ba) = base_at {
        if ba != 0 {
            if ba != at {
                return Err(x509::PERMITTED_VIOLATION);
            }
            if base[..ba].contains(&0) || name[..at].contains(&0) {
                return Err(x509::UNSUPPORTED_NAME_SYNTAX);
            }
            if base[..ba] != name[..at] {
                return Err(x509::PERMITTED_VIOLATION);
            }
        }
        base_host = &base[ba + 1..];
    }
    if same(base_host, &name[at + 1..]) {
        Ok(())
    } else {
        Err(x509::PERMITTED_VIOLATION)
    }
}

/// `nc_email_eai` for an SmtpUTF8Mailbox (a UTF8String): its host against the base's host.
/// Bases are compared as given (ASCII); an IDNA base (`xn--`) is compared in its A-label form.
fn email_utf8(value: &[u8], base: &[u8]) -> Check {
    if base.contains(&0) {
        return Err(x509::UNSUPPORTED_NAME_SYNTAX);
    }
    let Ok(e) = Reader::new(value).element() else {
        return Err(x509::UNSUPPORTED_NAME_SYNTAX);
    };
    if e.tag != der::UTF8_STRING {
        return Err(x509::UNSUPPORTED_NAME_SYNTAX);
    }
    let name = e.contents;
    let Some(at) = rposition(name, b'@') else {
        return Err(x509::UNSUPPORTED_NAME_SYNTAX);
    };
    if base.first() == Some(&b'.') {
        return if name.len() > base.len() && same(base, &name[name.len() - base.len()..]) {
            Ok(())
        } else {
            Err(x509::PERMITTED_VIOLATION)
        };
    }
    if same(base, &name[at + 1..]) {
        Ok(())
    } else {
        Err(x509::PERMITTED_VIOLATION)
    }
}

/// `nc_uri`: the host of `scheme://host[:port][/...]` against the base (`.base`: below it).
fn uri(name: &[u8], base: &[u8]) -> Check {
    let Some(colon) = name.iter().position(|b| *b == b':') else {
        return Err(x509::UNSUPPORTED_NAME_SYNTAX);
    };
    if name.len() - colon < 3 || name[colon + 1] != b'/' || name[colon + 2] != b'/' {
        return Err(x509::UNSUPPORTED_NAME_SYNTAX);
    }
    let rest = &name[colon + 3..];
    let end = rest
        .iter()
        .position(|b| *b == b':')
        .or_else(|| rest.iter().position(|b| *b == b'/'))
        .unwrap_or(rest.len());
    let host = &rest[..end];
    if host.is_empty() {
        return Err(x509::UNSUPPORTED_NAME_SYNTAX);
    }
    if base.first() == Some(&b'.') {
        return if host.len() > base.len() && same(&host[host.len() - base.len()..], base) {
            Ok(())
        } else {
            Err(x509::PERMITTED_VIOLATION)
        };
    }
    if same(host, base) {
        Ok(())
    } else {
        Err(x509::PERMITTED_VIOLATION)
    }
}

/// `nc_ip`: an address (4 or 16 bytes) inside a base of address and mask (8 or 32 bytes).
fn ip(name: &[u8], base: &[u8]) -> Check {
    if !matches!(name.len(), 4 | 16) || !matches!(base.len(), 8 | 32) {
        return Err(x509::UNSUPPORTED_NAME_SYNTAX);
    }
    if name.len() * 2 != base.len() {
        return Err(x509::PERMITTED_VIOLATION);
    }
    let (addr, mask) = base.split_at(name.len());
    if name
        .iter()
        .zip(addr)
        .zip(mask)
        .all(|((n, a), m)| n & m == a & m)
    {
        Ok(())
    } else {
        Err(x509::PERMITTED_VIOLATION)
    }
}

/// `nc_dn`: the base's RDNs begin the name's.
fn directory(name: &[u8], base: &[u8]) -> Check {
    if name.starts_with(base) {
        Ok(())
    } else {
        Err(x509::PERMITTED_VIOLATION)
    }
}

/// `nc_match_single`: a name against a base of its type.
fn single(name: &GeneralName, base: &GeneralName) -> Check {
    match (name, base) {
        (GeneralName::Directory(n), GeneralName::Directory(b)) => directory(n, b),
        (GeneralName::Text(DNS, n), GeneralName::Text(DNS, b)) => dns(n, b),
        (GeneralName::Text(EMAIL, n), GeneralName::Text(EMAIL, b)) => email(n, b),
        (GeneralName::Other { value, .. }, GeneralName::Text(EMAIL, b)) => email_utf8(value, b),
        (GeneralName::Text(URI, n), GeneralName::Text(URI, b)) => uri(n, b),
        (GeneralName::Text(IP, n), GeneralName::Text(IP, b)) => ip(n, b),
        _ => Err(x509::UNSUPPORTED_CONSTRAINT_TYPE),
    }
}

/// Whether a subtree applies to a name: the name's type (an SmtpUTF8Mailbox counting as an
/// email) is the base's; for otherNames, the same type id.
fn applies(name: &GeneralName, sub: &Subtree) -> bool {
    let base_kind = match &sub.base {
        GeneralName::Other { .. } => OTHER_NAME,
        b => b.kind(),
    };
    if name.kind() != base_kind {
        return false;
    }
    match (name, &sub.base) {
        (GeneralName::Other { type_id: a, .. }, GeneralName::Other { type_id: b, .. }) => a == b,
        _ => true,
    }
}

/// `nc_match`: some permitted subtree of the name's type (if any) matches it, and no excluded
/// one does.
fn name_matches(name: &GeneralName, nc: &NameConstraints) -> Check {
    // 0: no permitted subtree of this type; 1: some, none matched yet; 2: one matched.
    let mut state = 0;
    for sub in nc.permitted.iter().filter(|s| applies(name, s)) {
        if sub.min_max {
            return Err(x509::SUBTREE_MINMAX);
        }
        if state == 2 {
            continue;
        }
        state = 1;
        match single(name, &sub.base) {
            Ok(()) => state = 2,
            Err(x509::PERMITTED_VIOLATION) => {}
            Err(e) => return Err(e),
        }
    }
    if state == 1 {
        return Err(x509::PERMITTED_VIOLATION);
    }
    for sub in nc.excluded.iter().filter(|s| applies(name, s)) {
        if sub.min_max {
            return Err(x509::SUBTREE_MINMAX);
        }
        match single(name, &sub.base) {
            Ok(()) => return Err(x509::EXCLUDED_VIOLATION),
            Err(x509::PERMITTED_VIOLATION) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `NAME_CONSTRAINTS_check`: the subject (its directory name and email attributes) and every
/// subjectAltName of `x`.
fn check(x: &Cert, nc: &NameConstraints) -> Check {
    let attrs = name_attributes(x.subject_name()).map_err(|_| x509::UNSPECIFIED)?;
    let names = attrs.len() + x.general_names.len();
    let constraints = nc.permitted.len() + nc.excluded.len();
    if names > 0 && constraints > NAME_CHECK_MAX / names {
        return Err(x509::UNSPECIFIED);
    }
    if !attrs.is_empty() {
        name_matches(&GeneralName::Directory(x.subject.clone()), nc)?;
        for (id, value) in &attrs {
            if *id == oid::EMAIL_ADDRESS {
                if value.tag != der::IA5_STRING {
                    return Err(x509::UNSUPPORTED_NAME_SYNTAX);
                }
                name_matches(&GeneralName::Text(EMAIL, value.contents.to_vec()), nc)?;
            }
        }
    }
    for g in &x.general_names {
        name_matches(g, nc)?;
    }
    Ok(())
}

/// `cn2dnsid`: a commonName that looks like a DNS name of two labels or more, else `None`
/// (`Err` for an embedded NUL).
fn cn_as_dns(cn: &str) -> Result<Option<&[u8]>, &'static str> {
    let v = cn.trim_end_matches('\0').as_bytes();
    if v.contains(&0) {
        return Err(x509::UNSUPPORTED_NAME_SYNTAX);
    }
    let mut dns = false;
    for (i, &c) in v.iter().enumerate() {
        if c.is_ascii_alphanumeric() || c == b'_' {
            continue;
        }
        if i > 0 && i + 1 < v.len() {
            if c == b'-' {
                continue;
            }
            if c == b'.' && v[i + 1] != b'.' && v[i - 1] != b'-' && v[i + 1] != b'-' {
                dns = true;
                continue;
            }
        }
        dns = false;
        break;
    }
    Ok(dns.then_some(v))
}

/// `NAME_CONSTRAINTS_check_CN`: the leaf's commonNames that look like DNS names.
fn check_cn(x: &Cert, nc: &NameConstraints) -> Check {
    for cn in &x.common_names {
        if let Some(name) = cn_as_dns(cn)? {
            name_matches(&GeneralName::Text(DNS, name.to_vec()), nc)?;
        }
    }
    Ok(())
}

/// `check_name_constraints` over a chain (leaf first): every violation, in OpenSSL's order
/// (from the top of the chain down, each certificate against the constraints above it, nearest
/// the top first), for the verify callback that reports each one.
pub fn violations(chain: &[&Cert]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for i in (0..chain.len()).rev() {
        let x = chain[i];
        if i != 0 && x.self_issued() {
            continue;
        }
        for j in (i + 1..chain.len()).rev() {
            let Some(nc) = &chain[j].name_constraints else {
                continue;
            };
            let mut r = check(x, nc);
            if r.is_ok() && i == 0 && !x.general_names.iter().any(|g| g.kind() == DNS) {
                r = check_cn(x, nc);
            }
            if let Err(e) = r {
                out.push(e);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_constraints() {
        assert_eq!(dns(b"a.example.com", b"example.com"), Ok(()));
        assert_eq!(dns(b"EXAMPLE.com", b"example.COM"), Ok(()));
        assert_eq!(
            dns(b"badexample.com", b"example.com"),
            Err(x509::PERMITTED_VIOLATION)
        );
        assert_eq!(dns(b"a.example.com", b".example.com"), Ok(()));
        assert_eq!(
            dns(b"example.com", b".example.com"),
            Err(x509::PERMITTED_VIOLATION)
        );
        assert_eq!(dns(b"localhost", b""), Ok(()));
        assert_eq!(dns(b"com", b"example.com"), Err(x509::PERMITTED_VIOLATION));
    }

    #[test]
    fn ip_email_uri_constraints() {
        let net10 = [10, 0, 0, 0, 255, 0, 0, 0];
        assert_eq!(ip(&[10, 1, 2, 3], &net10), Ok(()));
        assert_eq!(ip(&[127, 0, 0, 1], &net10), Err(x509::PERMITTED_VIOLATION));
        assert_eq!(ip(&[0; 16], &net10), Err(x509::PERMITTED_VIOLATION));
        assert_eq!(ip(&[1, 2, 3], &net10), Err(x509::UNSUPPORTED_NAME_SYNTAX));
        assert_eq!(email(b"a@example.com", b"example.com"), Ok(()));
        assert_eq!(email(b"a@x.example.com", b".example.com"), Ok(()));
        assert_eq!(
            email(b"a@example.com", b"b@example.com"),
            Err(x509::PERMITTED_VIOLATION)
        );
        assert_eq!(email(b"a@EXAMPLE.com", b"a@example.com"), Ok(()));
        assert_eq!(
            email(b"nobody", b"example.com"),
            Err(x509::UNSUPPORTED_NAME_SYNTAX)
        );
        assert_eq!(uri(b"https://a.example.com:443/x", b".example.com"), Ok(()));
        assert_eq!(uri(b"https://example.com/x", b"example.com"), Ok(()));
        assert_eq!(
            uri(b"urn:x", b"example.com"),
            Err(x509::UNSUPPORTED_NAME_SYNTAX)
        );
    }

    #[test]
    fn common_names_that_look_like_dns_names() {
        assert_eq!(cn_as_dns("a.example"), Ok(Some(&b"a.example"[..])));
        assert_eq!(cn_as_dns("localhost"), Ok(None));
        assert_eq!(cn_as_dns("-a.example"), Ok(None));
        assert_eq!(cn_as_dns("a..example"), Ok(None));
        assert_eq!(cn_as_dns("Root CA"), Ok(None));
        assert_eq!(cn_as_dns("a\0.b"), Err(x509::UNSUPPORTED_NAME_SYNTAX));
    }
}
