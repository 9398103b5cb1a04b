//! Keys and signature algorithms of certificates, as far as signature strength and verification
//! need them (OpenSSL 3's security bits).

use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

use super::der::{self, Malformed, Reader};
use super::oid;

/// A digest, as far as signature strength and verification need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha3_224,
    Sha3_256,
    Sha3_384,
    Sha3_512,
}

/// The digest of `data`.
pub fn digest(hash: Hash, data: &[u8]) -> Vec<u8> {
    use sha3::Digest as _;
    match hash {
        Hash::Md5 => <md5::Md5 as Digest>::digest(data).to_vec(),
        Hash::Sha1 => Sha1::digest(data).to_vec(),
        Hash::Sha224 => Sha224::digest(data).to_vec(),
        Hash::Sha256 => Sha256::digest(data).to_vec(),
        Hash::Sha384 => Sha384::digest(data).to_vec(),
        Hash::Sha512 => Sha512::digest(data).to_vec(),
        Hash::Sha3_224 => sha3::Sha3_224::digest(data).to_vec(),
        Hash::Sha3_256 => sha3::Sha3_256::digest(data).to_vec(),
        Hash::Sha3_384 => sha3::Sha3_384::digest(data).to_vec(),
        Hash::Sha3_512 => sha3::Sha3_512::digest(data).to_vec(),
    }
}

impl Hash {
    /// Security bits of a signature made with this digest, as OpenSSL 3 rates them.
    pub fn security_bits(self) -> u32 {
        match self {
            Hash::Md5 => 39,
            Hash::Sha1 => 63,
            Hash::Sha224 | Hash::Sha3_224 => 112,
            Hash::Sha256 | Hash::Sha3_256 => 128,
            Hash::Sha384 | Hash::Sha3_384 => 192,
            Hash::Sha512 | Hash::Sha3_512 => 256,
        }
    }

    fn from_oid(o: &[u8]) -> Option<Hash> {
        Some(match o {
            oid::SHA1 => Hash::Sha1,
            oid::SHA224 => Hash::Sha224,
            oid::SHA256 => Hash::Sha256,
            oid::SHA384 => Hash::Sha384,
            oid::SHA512 => Hash::Sha512,
            oid::SHA3_224 => Hash::Sha3_224,
            oid::SHA3_256 => Hash::Sha3_256,
            oid::SHA3_384 => Hash::Sha3_384,
            oid::SHA3_512 => Hash::Sha3_512,
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
    /// Ed448: recognised (for chain building, as OpenSSL builds it) but not verifiable here.
    Ed448,
    /// Anything else (DSA, GOST, ...): not verifiable here.
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
            oid::ED448 => SigAlg::Ed448,
            oid::RSASSA_PSS => pss_params(&mut r).unwrap_or(SigAlg::Unsupported),
            o if o.len() == 9 && o.starts_with(oid::SIG_SHA3_PREFIX) => {
                let hash = [
                    Hash::Sha3_224,
                    Hash::Sha3_256,
                    Hash::Sha3_384,
                    Hash::Sha3_512,
                ];
                match o[8] {
                    n @ 9..=12 => SigAlg::Ecdsa(hash[usize::from(n - 9)]),
                    n @ 13..=16 => SigAlg::RsaPkcs1(hash[usize::from(n - 13)]),
                    _ => SigAlg::Unsupported,
                }
            }
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
                | (SigAlg::Ed448, KeyKind::Ed448)
        )
    }

    /// Security bits of the signature, or `None` when unknown.
    pub fn security_bits(self) -> Option<u32> {
        match self {
            SigAlg::RsaPkcs1(h) | SigAlg::RsaPss(h, _) | SigAlg::Ecdsa(h) => {
                Some(h.security_bits())
            }
            SigAlg::Ed25519 => Some(128),
            SigAlg::Ed448 => Some(224),
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

pub(super) fn public_key(spki: &[u8]) -> der::Result<PublicKey> {
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
