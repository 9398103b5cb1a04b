//! An X.509 certificate, parsed as far as OpenSSL's verifier looks at one: names (compared the
//! way `X509_NAME_cmp` does, on a canonical form), validity, the public key, and the extensions
//! that decide whether it may issue or serve (basicConstraints, keyUsage, extendedKeyUsage,
//! nsCertType, subject/authority key identifiers, subjectAltName), plus whether it carries a
//! critical extension OpenSSL does not handle.

use std::net::IpAddr;

use super::der::{self, Malformed, Reader};

/// Object identifiers, as their encoded contents.
pub mod oid {
    pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    pub const MD5_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x04];
    pub const SHA1_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05];
    pub const RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
    pub const SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    pub const SHA384_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
    pub const SHA512_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
    pub const SHA224_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0e];
    pub const MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    pub const ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
    pub const ECDSA_SHA224: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x01];
    pub const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    pub const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    pub const ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
    pub const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    pub const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    pub const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
    pub const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    pub const ED448: &[u8] = &[0x2b, 0x65, 0x71];
    pub const SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
    pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    pub const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
    pub const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
    pub const SHA224: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04];
    pub const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
    pub const SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
    pub const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
    pub const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
    pub const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
    pub const NAME_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x1e];
    pub const CRL_DISTRIBUTION_POINTS: &[u8] = &[0x55, 0x1d, 0x1f];
    pub const CERTIFICATE_POLICIES: &[u8] = &[0x55, 0x1d, 0x20];
    pub const POLICY_MAPPINGS: &[u8] = &[0x55, 0x1d, 0x21];
    pub const AUTHORITY_KEY_ID: &[u8] = &[0x55, 0x1d, 0x23];
    pub const POLICY_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x24];
    pub const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
    pub const INHIBIT_ANY_POLICY: &[u8] = &[0x55, 0x1d, 0x36];
    pub const NS_CERT_TYPE: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x86, 0xf8, 0x42, 0x01, 0x01];
    pub const IP_ADDR_BLOCKS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x07];
    pub const AS_IDENTIFIERS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x08];
    pub const PROXY_CERT_INFO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x0e];
    pub const OCSP_NO_CHECK: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x05];
    pub const SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
    pub const NS_SGC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x86, 0xf8, 0x42, 0x04, 0x01];
    pub const MS_SGC: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x0a, 0x03, 0x03];
}

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

/// A digest, as far as signature strength and verification need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    /// Security bits of a signature made with this digest, as OpenSSL 3 rates them.
    pub fn security_bits(self) -> u32 {
        match self {
            Hash::Md5 => 39,
            Hash::Sha1 => 63,
            Hash::Sha224 => 112,
            Hash::Sha256 => 128,
            Hash::Sha384 => 192,
            Hash::Sha512 => 256,
        }
    }

    fn from_oid(o: &[u8]) -> Option<Hash> {
        Some(match o {
            oid::SHA1 => Hash::Sha1,
            oid::SHA224 => Hash::Sha224,
            oid::SHA256 => Hash::Sha256,
            oid::SHA384 => Hash::Sha384,
            oid::SHA512 => Hash::Sha512,
            _ => return None,
        })
    }
}

/// A certificate's signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    RsaPkcs1(Hash),
    /// RSASSA-PSS with this digest (for the message and MGF1) and salt length.
    RsaPss(Hash, usize),
    Ecdsa(Hash),
    Ed25519,
    /// Anything else (DSA, Ed448, GOST, ...): not verifiable here.
    Unsupported,
}

impl SigAlg {
    /// The signature algorithm of an AlgorithmIdentifier's contents.
    pub fn parse(alg_id: &[u8]) -> SigAlg {
        let mut r = Reader::new(alg_id);
        let Ok(o) = r.expect(der::OID) else {
            return SigAlg::Unsupported;
        };
        match o {
            oid::MD5_WITH_RSA => SigAlg::RsaPkcs1(Hash::Md5),
            oid::SHA1_WITH_RSA => SigAlg::RsaPkcs1(Hash::Sha1),
            oid::SHA224_WITH_RSA => SigAlg::RsaPkcs1(Hash::Sha224),
            oid::SHA256_WITH_RSA => SigAlg::RsaPkcs1(Hash::Sha256),
            oid::SHA384_WITH_RSA => SigAlg::RsaPkcs1(Hash::Sha384),
            oid::SHA512_WITH_RSA => SigAlg::RsaPkcs1(Hash::Sha512),
            oid::ECDSA_SHA1 => SigAlg::Ecdsa(Hash::Sha1),
            oid::ECDSA_SHA224 => SigAlg::Ecdsa(Hash::Sha224),
            oid::ECDSA_SHA256 => SigAlg::Ecdsa(Hash::Sha256),
            oid::ECDSA_SHA384 => SigAlg::Ecdsa(Hash::Sha384),
            oid::ECDSA_SHA512 => SigAlg::Ecdsa(Hash::Sha512),
            oid::ED25519 => SigAlg::Ed25519,
            oid::RSASSA_PSS => pss_params(&mut r).unwrap_or(SigAlg::Unsupported),
            _ => SigAlg::Unsupported,
        }
    }

    /// The key type a signature of this kind is made with (OpenSSL's `check_sig_alg_match`).
    pub fn matches_key(self, key: &KeyKind) -> bool {
        matches!(
            (self, key),
            (SigAlg::RsaPkcs1(_), KeyKind::Rsa { .. })
                | (
                    SigAlg::RsaPss(..),
                    KeyKind::Rsa { .. } | KeyKind::RsaPss { .. }
                )
                | (SigAlg::Ecdsa(_), KeyKind::Ec(_))
                | (SigAlg::Ed25519, KeyKind::Ed25519)
        )
    }

    /// Security bits of the signature, or `None` when unknown.
    pub fn security_bits(self) -> Option<u32> {
        match self {
            SigAlg::RsaPkcs1(h) | SigAlg::RsaPss(h, _) | SigAlg::Ecdsa(h) => {
                Some(h.security_bits())
            }
            SigAlg::Ed25519 => Some(128),
            SigAlg::Unsupported => None,
        }
    }
}

/// RSASSA-PSS-params: the digest (default SHA-1), MGF1 with the same digest, the salt length
/// (default 20), trailer field 1.
fn pss_params(r: &mut Reader<'_>) -> der::Result<SigAlg> {
    let mut params = r.nested(der::SEQUENCE)?;
    let mut hash = Hash::Sha1;
    if let Some(h) = params.optional(der::context(0))? {
        let mut alg = Reader::new(h).nested(der::SEQUENCE)?;
        hash = Hash::from_oid(alg.expect(der::OID)?).ok_or(Malformed)?;
    }
    if let Some(m) = params.optional(der::context(1))? {
        let mut mgf = Reader::new(m).nested(der::SEQUENCE)?;
        if mgf.expect(der::OID)? != oid::MGF1 {
            return Err(Malformed);
        }
        let mut mgf_hash = mgf.nested(der::SEQUENCE)?;
        if Hash::from_oid(mgf_hash.expect(der::OID)?) != Some(hash) {
            return Err(Malformed);
        }
    } else if hash != Hash::Sha1 {
        return Err(Malformed);
    }
    let mut salt = 20usize;
    if let Some(s) = params.optional(der::context(2))? {
        let n = der::unsigned(Reader::new(s).expect(der::INTEGER)?)?;
        if n.len() > 2 {
            return Err(Malformed);
        }
        salt = n.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
    }
    if let Some(t) = params.optional(der::context(3))? {
        if der::unsigned(Reader::new(t).expect(der::INTEGER)?)? != [1] {
            return Err(Malformed);
        }
    }
    Ok(SigAlg::RsaPss(hash, salt))
}

/// A named elliptic curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
    Other,
}

/// What kind of public key a certificate holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyKind {
    Rsa {
        bits: usize,
    },
    /// An RSA key restricted to PSS (`id-RSASSA-PSS` in the SubjectPublicKeyInfo).
    RsaPss {
        bits: usize,
    },
    Ec(Curve),
    Ed25519,
    Ed448,
    Other,
}

impl KeyKind {
    /// Security bits of the key, as OpenSSL rates them (`EVP_PKEY_get_security_bits`); 0 when
    /// the key is not understood (OpenSSL then treats it as insecure).
    pub fn security_bits(&self) -> u32 {
        match self {
            KeyKind::Rsa { bits } | KeyKind::RsaPss { bits } => match bits {
                b if *b >= 15360 => 256,
                b if *b >= 7680 => 192,
                b if *b >= 3072 => 128,
                b if *b >= 2048 => 112,
                b if *b >= 1024 => 80,
                // Below 1024 bits OpenSSL's estimate is below 80 bits, the floor of level 1.
                _ => 56,
            },
            KeyKind::Ec(Curve::P256) => 128,
            KeyKind::Ec(Curve::P384) => 192,
            KeyKind::Ec(Curve::P521) => 260,
            KeyKind::Ec(Curve::Other) => 80,
            KeyKind::Ed25519 => 128,
            KeyKind::Ed448 => 224,
            KeyKind::Other => 0,
        }
    }
}

/// A SubjectPublicKeyInfo.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub kind: KeyKind,
    /// The subjectPublicKey bits: an RSAPublicKey, an EC point, a raw Ed25519 key.
    pub key: Vec<u8>,
}

fn public_key(spki: &[u8]) -> der::Result<PublicKey> {
    let mut outer = Reader::new(spki);
    let mut r = outer.nested(der::SEQUENCE)?;
    outer.finish()?;
    let mut alg = r.nested(der::SEQUENCE)?;
    let key = der::bit_string_bytes(r.expect(der::BIT_STRING)?)?.to_vec();
    r.finish()?;
    let kind = match alg.expect(der::OID)? {
        oid::RSA_ENCRYPTION => KeyKind::Rsa {
            bits: rsa_bits(&key)?,
        },
        oid::RSASSA_PSS => KeyKind::RsaPss {
            bits: rsa_bits(&key)?,
        },
        oid::EC_PUBLIC_KEY => KeyKind::Ec(match alg.optional(der::OID)? {
            Some(oid::P256) => Curve::P256,
            Some(oid::P384) => Curve::P384,
            Some(oid::P521) => Curve::P521,
            _ => Curve::Other,
        }),
        oid::ED25519 => KeyKind::Ed25519,
        oid::ED448 => KeyKind::Ed448,
        _ => KeyKind::Other,
    };
    Ok(PublicKey { kind, key })
}

/// The modulus and exponent of an RSAPublicKey.
pub fn rsa_parts(key: &[u8]) -> der::Result<(&[u8], &[u8])> {
    let mut r = Reader::new(key);
    let mut seq = r.nested(der::SEQUENCE)?;
    let n = der::unsigned(seq.expect(der::INTEGER)?)?;
    let e = der::unsigned(seq.expect(der::INTEGER)?)?;
    seq.finish()?;
    Ok((n, e))
}

fn rsa_bits(key: &[u8]) -> der::Result<usize> {
    let (n, _) = rsa_parts(key)?;
    let first = *n.first().ok_or(Malformed)?;
    Ok(n.len() * 8 - first.leading_zeros() as usize)
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
    /// A critical extension OpenSSL does not handle.
    pub unhandled_critical: bool,
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
            unhandled_critical: false,
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
            _ => {}
        }
        Ok(())
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

fn offset(base: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - base.as_ptr() as usize
}

/// The commonName values of a Name's contents.
fn common_names(name: &[u8]) -> der::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut rdns = Reader::new(name);
    while !rdns.is_empty() {
        let mut set = rdns.nested(der::SET)?;
        while !set.is_empty() {
            let mut ava = set.nested(der::SEQUENCE)?;
            let id = ava.expect(der::OID)?;
            let value = ava.element()?;
            if id == oid::COMMON_NAME {
                out.push(string_value(value.tag, value.contents).unwrap_or_default());
            }
        }
    }
    Ok(out)
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
fn canonical_name(name: &[u8]) -> der::Result<Vec<u8>> {
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
fn time(e: der::Element<'_>) -> Option<i64> {
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
