//! Certificates out of PEM text, read the way Node's OpenSSL reads each source:
//!
//! - the `ca` option (`PEM_read_bio_X509_AUX`): `CERTIFICATE`, `X509 CERTIFICATE` and
//!   `TRUSTED CERTIFICATE` blocks, the last with the trust settings `openssl x509 -trustout`
//!   appends (Fedora's `ca-bundle.trust.crt` is made of them), other blocks skipped;
//! - `NODE_EXTRA_CA_CERTS` (`PEM_read_bio_X509`): `CERTIFICATE` and `X509 CERTIFICATE` blocks
//!   only, up to the first that cannot be read (those before it are kept).

use base64::Engine;

use super::cert::Cert;
use super::der::{self, Malformed, Reader};
use super::oid;

/// One PEM block: its label and its decoded contents (`None`: not base64).
pub struct Block {
    pub label: String,
    pub der: Option<Vec<u8>>,
}

/// The PEM blocks of a text, in order; an unterminated block ends the list.
pub fn blocks(data: &[u8]) -> Vec<Block> {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some(begin) = rest.find("-----BEGIN ") {
        let after = &rest[begin + 11..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = &after[..label_end];
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body_start.find(&end_marker) else {
            break;
        };
        let body = &body_start[..end];
        // Header lines (`Proc-Type: ...`) end with a blank line before the base64.
        let b64: String = match body.find(':') {
            Some(_) => body
                .split_once("\n\n")
                .or_else(|| body.split_once("\r\n\r\n"))
                .map_or("", |(_, b)| b),
            None => body,
        }
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
        out.push(Block {
            label: label.to_string(),
            der: base64::engine::general_purpose::STANDARD.decode(b64).ok(),
        });
        rest = &body_start[end + end_marker.len()..];
    }
    out
}

/// Whether `data` is PEM text (else it is taken as one DER certificate).
pub fn is_pem(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"-----BEGIN ")
}

/// The auxiliary trust settings of a TRUSTED CERTIFICATE (OpenSSL's X509_CERT_AUX): the uses
/// it is trusted for and those it is rejected for, each list present or not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuxTrust {
    pub trust: Option<Vec<Vec<u8>>>,
    pub reject: Option<Vec<Vec<u8>>>,
}

/// What a certificate's trust settings say about a TLS server (OpenSSL's `obj_trust` for
/// serverAuth, anyExtendedKeyUsage counting as every use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    Trusted,
    Rejected,
    /// No settings: a self-signed certificate in the store is an anchor.
    Neutral,
}

impl AuxTrust {
    pub fn verdict(&self) -> Trust {
        let server = |o: &Vec<u8>| o == oid::SERVER_AUTH || o == oid::ANY_EXTENDED_KEY_USAGE;
        if self.reject.iter().flatten().any(server) {
            return Trust::Rejected;
        }
        match &self.trust {
            Some(list) if list.iter().any(server) => Trust::Trusted,
            Some(_) => Trust::Rejected,
            None => Trust::Neutral,
        }
    }
}

fn oids(contents: &[u8]) -> der::Result<Vec<Vec<u8>>> {
    let mut r = Reader::new(contents);
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(r.expect(der::OID)?.to_vec());
    }
    Ok(out)
}

/// A TRUSTED CERTIFICATE's contents: the certificate, then its X509_CERT_AUX (optional).
pub fn trusted_certificate(data: &[u8]) -> der::Result<Cert> {
    let mut r = Reader::new(data);
    let cert = r.element()?;
    let mut c = Cert::parse(cert.whole)?;
    if r.is_empty() {
        return Ok(c);
    }
    let mut aux = r.nested(der::SEQUENCE)?;
    r.finish()?;
    let trust = match aux.optional(der::SEQUENCE)? {
        Some(list) => Some(oids(list)?),
        None => None,
    };
    let reject = match aux.optional(der::context(0))? {
        Some(list) => Some(oids(list)?),
        None => None,
    };
    c.aux_trust = Some(AuxTrust { trust, reject });
    Ok(c)
}

/// The certificates of a `ca` item: PEM text or one DER certificate. `Err` says what is wrong.
pub fn ca_certificates(data: &[u8]) -> Result<Vec<Cert>, &'static str> {
    if !is_pem(data) {
        return Cert::parse(data)
            .map(|c| vec![c])
            .map_err(|_| "not an X.509 certificate");
    }
    let mut out = Vec::new();
    for b in blocks(data) {
        let parse: fn(&[u8]) -> Result<Cert, Malformed> = match b.label.as_str() {
            "CERTIFICATE" | "X509 CERTIFICATE" => Cert::parse,
            "TRUSTED CERTIFICATE" => trusted_certificate,
            _ => continue,
        };
        let der = b
            .der
            .ok_or("invalid PEM certificate (bad base64 or framing)")?;
        out.push(parse(&der).map_err(|_| "not an X.509 certificate")?);
    }
    if out.is_empty() {
        return Err("no certificate found in PEM text");
    }
    Ok(out)
}

/// The certificates of a NODE_EXTRA_CA_CERTS file, as Node's `AddCertsFromFile` reads it.
pub fn extra_certificates(data: &[u8]) -> Vec<Cert> {
    let mut out = Vec::new();
    for b in blocks(data) {
        if b.label != "CERTIFICATE" && b.label != "X509 CERTIFICATE" {
            continue;
        }
        match b.der.as_deref().map(Cert::parse) {
            Some(Ok(c)) => out.push(c),
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_labels() {
        let text = b"junk\n-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\n\
            -----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n\
            -----BEGIN TRUSTED CERTIFICATE-----\n!!\n-----END TRUSTED CERTIFICATE-----\n";
        let b = blocks(text);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].label, "CERTIFICATE");
        assert_eq!(b[0].der.as_deref(), Some(&[0u8, 1, 2, 3][..]));
        assert_eq!(b[1].label, "PRIVATE KEY");
        assert!(b[2].der.is_none());
        assert!(blocks(b"-----BEGIN CERTIFICATE-----\nAAEC\n").is_empty());
        assert!(extra_certificates(text).is_empty());
        assert!(ca_certificates(text).is_err());
    }

    #[test]
    fn trust_settings() {
        let sa = oid::SERVER_AUTH.to_vec();
        let email = vec![0x2b, 6, 1, 5, 5, 7, 3, 4];
        let t = |trust: Option<Vec<Vec<u8>>>, reject: Option<Vec<Vec<u8>>>| {
            AuxTrust { trust, reject }.verdict()
        };
        assert_eq!(t(None, None), Trust::Neutral);
        assert_eq!(t(Some(vec![sa.clone()]), None), Trust::Trusted);
        assert_eq!(t(Some(vec![email.clone()]), None), Trust::Rejected);
        assert_eq!(t(None, Some(vec![sa.clone()])), Trust::Rejected);
        assert_eq!(t(None, Some(vec![email])), Trust::Neutral);
        assert_eq!(
            t(Some(vec![oid::ANY_EXTENDED_KEY_USAGE.to_vec()]), None),
            Trust::Trusted
        );
    }
}
