//! An X.509 certificate, parsed as far as OpenSSL's verifier looks at one: names (compared the
//! way `X509_NAME_cmp` does, on a canonical form), validity, the public key, and the extensions
//! that decide whether it may issue or serve (basicConstraints, keyUsage, extendedKeyUsage,
//! nsCertType, subject/authority key identifiers, subjectAltName), plus whether it carries a
//! critical extension OpenSSL does not handle.

use std::net::IpAddr;

use super::der::{self, Malformed, Reader};
use super::keys::public_key;
pub use super::keys::{rsa_parts, Curve, Hash, KeyKind, PublicKey, SigAlg};
use super::ncons::{GeneralName, NameConstraints};
pub use super::oid;
use super::pem::{AuxTrust, Trust};
use super::x509_text::{canonical_name, common_names, offset, time};

/// The critical extensions OpenSSL knows (`X509_supported_extension`); any other critical
/// extension makes a certificate unusable ("unhandled critical extension").
const SUPPORTED_EXTENSIONS: &[&[u8]] = &[
    oid::NS_CERT_TYPE,
    oid::KEY_USAGE,
    oid::SUBJECT_ALT_NAME,
    oid::BASIC_CONSTRAINTS,
    oid::CERTIFICATE_POLICIES,
    oid::CRL_DISTRIBUTION_POINTS,
    oid::EXT_KEY_USAGE,
    oid::IP_ADDR_BLOCKS,
    oid::AS_IDENTIFIERS,
    oid::OCSP_NO_CHECK,
    oid::POLICY_CONSTRAINTS,
    oid::PROXY_CERT_INFO,
    oid::NAME_CONSTRAINTS,
    oid::POLICY_MAPPINGS,
    oid::INHIBIT_ANY_POLICY,
];

/// keyUsage bits (bit n is the named bit n of RFC 5280).
pub mod ku {
    pub const DIGITAL_SIGNATURE: u32 = 1 << 0;
    pub const KEY_ENCIPHERMENT: u32 = 1 << 2;
    pub const KEY_AGREEMENT: u32 = 1 << 4;
    pub const KEY_CERT_SIGN: u32 = 1 << 5;
}

/// nsCertType bits.
pub mod ns {
    pub const SSL_SERVER: u32 = 1 << 1;
    pub const SSL_CA: u32 = 1 << 5;
    pub const ANY_CA: u32 = (1 << 5) | (1 << 6) | (1 << 7);
}

/// A name in the subjectAltName extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AltName {
    Dns(String),
    Ip(IpAddr),
    /// An iPAddress that is neither 4 nor 16 bytes (a constraint, or junk).
    OtherIp(Vec<u8>),
    Email(String),
    Uri(String),
    Other,
}

/// The authorityKeyIdentifier extension.
#[derive(Debug, Clone, Default)]
pub struct AuthorityKeyId {
    pub key_id: Option<Vec<u8>>,
    /// The first directoryName of authorityCertIssuer, canonical.
    pub issuer: Option<Vec<u8>>,
    pub serial: Option<Vec<u8>>,
}

/// A parsed certificate.
#[derive(Debug, Clone)]
pub struct Cert {
    pub der: Vec<u8>,
    /// 0 for v1, 2 for v3.
    pub version: u8,
    pub serial: Vec<u8>,
    /// The TBSCertificate, as signed.
    tbs: std::ops::Range<usize>,
    /// The signature algorithm inside the TBSCertificate, and the outer one (whole encodings).
    tbs_sig_alg: Vec<u8>,
    outer_sig_alg: Vec<u8>,
    pub sig_alg: SigAlg,
    pub signature: Vec<u8>,
    pub issuer: Vec<u8>,
    pub subject: Vec<u8>,
    /// The subject Name's contents, as encoded.
    subject_raw: std::ops::Range<usize>,
    /// The subject's commonName values, as text.
    pub common_names: Vec<String>,
    /// Unix seconds; `None` when the field cannot be read (OpenSSL: "format error").
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    /// `None` when the key cannot be decoded.
    pub public_key: Option<PublicKey>,
    /// basicConstraints: present, cA, pathLenConstraint.
    pub basic_constraints: Option<(bool, Option<u64>)>,
    pub key_usage: Option<u32>,
    /// extendedKeyUsage present, and whether it allows a TLS server (serverAuth or an SGC).
    pub ext_key_usage: Option<bool>,
    pub ns_cert_type: Option<u32>,
    pub subject_key_id: Option<Vec<u8>>,
    pub authority_key_id: Option<AuthorityKeyId>,
    pub alt_names: Option<Vec<AltName>>,
    /// The subjectAltName entries, as name constraints compare them.
    pub general_names: Vec<GeneralName>,
    /// The nameConstraints extension.
    pub name_constraints: Option<NameConstraints>,
    /// A critical extension OpenSSL does not handle.
    pub unhandled_critical: bool,
    /// The trust settings of a TRUSTED CERTIFICATE given as `ca`.
    pub aux_trust: Option<AuxTrust>,
}

impl Cert {
    /// Parses a DER certificate.
    pub fn parse(der: &[u8]) -> Result<Cert, Malformed> {
        let mut outer = Reader::new(der);
        let cert = outer.element()?;
        if cert.tag != der::SEQUENCE {
            return Err(Malformed);
        }
        outer.finish()?;
        let mut c = Reader::new(cert.contents);
        let tbs = c.element()?;
        if tbs.tag != der::SEQUENCE {
            return Err(Malformed);
        }
        let outer_sig = c.element()?;
        let signature = der::bit_string_bytes(c.expect(der::BIT_STRING)?)?.to_vec();
        c.finish()?;
        let tbs_start = offset(der, tbs.whole);
        let mut t = Reader::new(tbs.contents);
        let version = match t.optional(der::context(0))? {
            Some(v) => {
                let n = der::unsigned(Reader::new(v).expect(der::INTEGER)?)?;
                match n {
                    [] => 0,
                    [v] if *v <= 2 => *v,
                    _ => return Err(Malformed),
                }
            }
            None => 0,
        };
        let serial = t.expect(der::INTEGER)?.to_vec();
        let tbs_sig = t.element()?;
        let issuer = t.element()?;
        let mut validity = t.nested(der::SEQUENCE)?;
        let not_before = time(validity.element()?);
        let not_after = time(validity.element()?);
        let subject = t.element()?;
        let spki = t.element()?;
        if tbs_sig.tag != der::SEQUENCE
            || outer_sig.tag != der::SEQUENCE
            || issuer.tag != der::SEQUENCE
            || subject.tag != der::SEQUENCE
            || spki.tag != der::SEQUENCE
        {
            return Err(Malformed);
        }
        let mut cert = Cert {
            der: der.to_vec(),
            version,
            serial,
            tbs: tbs_start..tbs_start + tbs.whole.len(),
            tbs_sig_alg: tbs_sig.whole.to_vec(),
            outer_sig_alg: outer_sig.whole.to_vec(),
            sig_alg: SigAlg::parse(tbs_sig.contents),
            signature,
            issuer: canonical_name(issuer.contents)?,
            subject: canonical_name(subject.contents)?,
            subject_raw: offset(der, subject.contents)
                ..offset(der, subject.contents) + subject.contents.len(),
            common_names: common_names(subject.contents)?,
            not_before,
            not_after,
            public_key: public_key(spki.whole).ok(),
            basic_constraints: None,
            key_usage: None,
            ext_key_usage: None,
            ns_cert_type: None,
            subject_key_id: None,
            authority_key_id: None,
            alt_names: None,
            general_names: Vec::new(),
            name_constraints: None,
            unhandled_critical: false,
            aux_trust: None,
        };
        // issuerUniqueID [1], subjectUniqueID [2]: skipped.
        let _ = t.optional(der::context_primitive(1))?;
        let _ = t.optional(der::context_primitive(2))?;
        if let Some(exts) = t.optional(der::context(3))? {
            let mut list = Reader::new(exts).nested(der::SEQUENCE)?;
            while !list.is_empty() {
                let mut ext = list.nested(der::SEQUENCE)?;
                let id = ext.expect(der::OID)?;
                let critical = match ext.optional(der::BOOLEAN)? {
                    Some(b) => der::boolean(b)?,
                    None => false,
                };
                let value = ext.expect(der::OCTET_STRING)?;
                cert.extension(id, value)?;
                if critical && !SUPPORTED_EXTENSIONS.contains(&id) {
                    cert.unhandled_critical = true;
                }
            }
        }
        Ok(cert)
    }

    fn extension(&mut self, id: &[u8], value: &[u8]) -> der::Result<()> {
        let mut r = Reader::new(value);
        match id {
            oid::BASIC_CONSTRAINTS => {
                let mut bc = r.nested(der::SEQUENCE)?;
                let ca = match bc.optional(der::BOOLEAN)? {
                    Some(b) => der::boolean(b)?,
                    None => false,
                };
                let path_len = match bc.optional(der::INTEGER)? {
                    Some(n) => {
                        let n = der::unsigned(n)?;
                        Some(if n.len() > 8 {
                            u64::MAX
                        } else {
                            n.iter().fold(0u64, |acc, b| (acc << 8) | *b as u64)
                        })
                    }
                    None => None,
                };
                // OpenSSL ignores a path length on a certificate that is not a CA.
                self.basic_constraints = Some((ca, path_len.filter(|_| ca)));
            }
            oid::KEY_USAGE => self.key_usage = Some(der::named_bits(r.expect(der::BIT_STRING)?)?),
            oid::NS_CERT_TYPE => {
                self.ns_cert_type = Some(der::named_bits(r.expect(der::BIT_STRING)?)?)
            }
            oid::EXT_KEY_USAGE => {
                let mut list = r.nested(der::SEQUENCE)?;
                let mut server = false;
                while !list.is_empty() {
                    let o = list.expect(der::OID)?;
                    server |= o == oid::SERVER_AUTH || o == oid::NS_SGC || o == oid::MS_SGC;
                }
                self.ext_key_usage = Some(server);
            }
            oid::SUBJECT_KEY_ID => {
                self.subject_key_id = Some(r.expect(der::OCTET_STRING)?.to_vec())
            }
            oid::AUTHORITY_KEY_ID => {
                let mut aki = r.nested(der::SEQUENCE)?;
                let mut out = AuthorityKeyId {
                    key_id: aki.optional(der::context_primitive(0))?.map(<[u8]>::to_vec),
                    ..AuthorityKeyId::default()
                };
                if let Some(names) = aki.optional(der::context(1))? {
                    let mut names = Reader::new(names);
                    while !names.is_empty() {
                        let e = names.element()?;
                        if e.tag == der::context(4) && out.issuer.is_none() {
                            let name = Reader::new(e.contents).expect(der::SEQUENCE)?;
                            out.issuer = Some(canonical_name(name)?);
                        }
                    }
                }
                out.serial = aki.optional(der::context_primitive(2))?.map(<[u8]>::to_vec);
                self.authority_key_id = Some(out);
            }
            oid::SUBJECT_ALT_NAME => {
                let mut list = r.nested(der::SEQUENCE)?;
                let mut names = Vec::new();
                while !list.is_empty() {
                    let e = list.element()?;
                    self.general_names.push(GeneralName::parse(e)?);
                    let text = || String::from_utf8_lossy(e.contents).into_owned();
                    names.push(match e.tag {
                        t if t == der::context_primitive(2) => AltName::Dns(text()),
                        t if t == der::context_primitive(1) => AltName::Email(text()),
                        t if t == der::context_primitive(6) => AltName::Uri(text()),
                        t if t == der::context_primitive(7) => match e.contents.len() {
                            4 => AltName::Ip(IpAddr::from(
                                <[u8; 4]>::try_from(e.contents).map_err(|_| Malformed)?,
                            )),
                            16 => AltName::Ip(IpAddr::from(
                                <[u8; 16]>::try_from(e.contents).map_err(|_| Malformed)?,
                            )),
                            _ => AltName::OtherIp(e.contents.to_vec()),
                        },
                        _ => AltName::Other,
                    });
                }
                self.alt_names = Some(names);
            }
            oid::NAME_CONSTRAINTS => self.name_constraints = Some(NameConstraints::parse(value)?),
            _ => {}
        }
        Ok(())
    }

    /// What its trust settings say about a TLS server (none: neutral).
    pub fn trust(&self) -> Trust {
        self.aux_trust
            .as_ref()
            .map_or(Trust::Neutral, AuxTrust::verdict)
    }

    /// The subject Name's contents.
    pub fn subject_name(&self) -> &[u8] {
        &self.der[self.subject_raw.clone()]
    }

    /// The signed part.
    pub fn tbs(&self) -> &[u8] {
        &self.der[self.tbs.clone()]
    }

    /// Subject and issuer are the same name (OpenSSL's EXFLAG_SI).
    pub fn self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// Self-issued, its authority key identifier (if any) names itself, and its signature
    /// algorithm fits its own key: OpenSSL's EXFLAG_SS, decided without checking the signature.
    pub fn self_signed(&self) -> bool {
        self.self_issued() && likely_issued(self, self)
    }

    /// Whether the signature algorithms inside and outside the TBSCertificate agree.
    pub fn sig_algs_agree(&self) -> bool {
        self.tbs_sig_alg == self.outer_sig_alg
    }

    /// OpenSSL's `check_ca`: 0 not a CA; 1 basicConstraints CA:TRUE; 3 a v1 self-signed root; 4
    /// keyUsage alone; 5 an old Netscape CA type.
    pub fn ca_kind(&self) -> u8 {
        if self.key_usage.is_some_and(|k| k & ku::KEY_CERT_SIGN == 0) {
            return 0;
        }
        match self.basic_constraints {
            Some((ca, _)) => u8::from(ca),
            None if self.version == 0 && self.self_signed() => 3,
            None if self.key_usage.is_some() => 4,
            None if self.ns_cert_type.is_some_and(|n| n & ns::ANY_CA != 0) => 5,
            None => 0,
        }
    }

    pub fn is_ca_flagged(&self) -> bool {
        matches!(self.basic_constraints, Some((true, _)))
    }

    /// Whether this certificate has any dNSName in its subjectAltName.
    pub fn dns_names(&self) -> Vec<&str> {
        self.alt_names
            .iter()
            .flatten()
            .filter_map(|n| match n {
                AltName::Dns(d) => Some(d.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// OpenSSL's `ossl_x509_likely_issued`: the names match, the subject's authority key identifier
/// (if any) fits the issuer, and the subject's signature algorithm fits the issuer's key.
pub fn likely_issued(issuer: &Cert, subject: &Cert) -> bool {
    if issuer.subject != subject.issuer {
        return false;
    }
    if let Some(aki) = &subject.authority_key_id {
        if let (Some(k), Some(ski)) = (&aki.key_id, &issuer.subject_key_id) {
            if k != ski {
                return false;
            }
        }
        if let Some(serial) = &aki.serial {
            if serial != &issuer.serial {
                return false;
            }
        }
        if let Some(name) = &aki.issuer {
            if name != &issuer.issuer {
                return false;
            }
        }
    }
    match &issuer.public_key {
        Some(k) => subject.sig_alg.matches_key(&k.kind),
        None => false,
    }
}
