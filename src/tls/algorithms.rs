//! Signature verification as Node's OpenSSL accepts it, for certificates and for the TLS
//! handshake: ECDSA (P-256, P-384, P-521, any SHA-2 or SHA-3 digest), Ed25519, and RSA from 1024
//! bits (PKCS #1 v1.5 with SHA-1 to SHA-512 and SHA-3, PSS, keys restricted to PSS included), on
//! ring's algorithms (its `*_FOR_LEGACY_USE_ONLY` ones for keys under 2048 bits and for SHA-1),
//! on `ecdsa.rs` (RustCrypto's curves) and on `rsa.rs` where ring has none.

use rustls::SignatureScheme;
use tokio_rustls::rustls;

use ring::signature as rs;

use super::cert::{rsa_parts, Curve, Hash, KeyKind, PublicKey, SigAlg};
use super::{ecdsa, rsa};

/// The key a signature algorithm works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    /// An RSA key restricted to PSS (id-RSASSA-PSS): TLS's rsa_pss_pss_* schemes.
    RsaPss,
    Ec(Curve),
    Ed25519,
}

/// TLS 1.3's rsa_pss_pss_sha256, _sha384, _sha512 (RFC 8446), which rustls does not name.
const RSA_PSS_PSS_SHA256: SignatureScheme = SignatureScheme::Unknown(0x0809);
const RSA_PSS_PSS_SHA384: SignatureScheme = SignatureScheme::Unknown(0x080a);
const RSA_PSS_PSS_SHA512: SignatureScheme = SignatureScheme::Unknown(0x080b);

const EC: &[Family] = &[
    Family::Ec(Curve::P256),
    Family::Ec(Curve::P384),
    Family::Ec(Curve::P521),
];

/// The TLS signature schemes offered, best first: the signature each stands for, and the keys
/// that may make it (in TLS 1.2 an ECDSA scheme names the digest, not the curve).
static SCHEMES: &[(SignatureScheme, SigAlg, &[Family])] = &[
    (
        SignatureScheme::ECDSA_NISTP384_SHA384,
        SigAlg::Ecdsa(Hash::Sha384),
        EC,
    ),
    (
        SignatureScheme::ECDSA_NISTP256_SHA256,
        SigAlg::Ecdsa(Hash::Sha256),
        EC,
    ),
    (
        SignatureScheme::ECDSA_NISTP521_SHA512,
        SigAlg::Ecdsa(Hash::Sha512),
        EC,
    ),
    (
        SignatureScheme::ED25519,
        SigAlg::Ed25519,
        &[Family::Ed25519],
    ),
    (
        SignatureScheme::RSA_PSS_SHA512,
        SigAlg::RsaPss(Hash::Sha512, 64),
        &[Family::Rsa],
    ),
    (
        SignatureScheme::RSA_PSS_SHA384,
        SigAlg::RsaPss(Hash::Sha384, 48),
        &[Family::Rsa],
    ),
    (
        SignatureScheme::RSA_PSS_SHA256,
        SigAlg::RsaPss(Hash::Sha256, 32),
        &[Family::Rsa],
    ),
    (
        RSA_PSS_PSS_SHA512,
        SigAlg::RsaPss(Hash::Sha512, 64),
        &[Family::RsaPss],
    ),
    (
        RSA_PSS_PSS_SHA384,
        SigAlg::RsaPss(Hash::Sha384, 48),
        &[Family::RsaPss],
    ),
    (
        RSA_PSS_PSS_SHA256,
        SigAlg::RsaPss(Hash::Sha256, 32),
        &[Family::RsaPss],
    ),
    (
        SignatureScheme::RSA_PKCS1_SHA512,
        SigAlg::RsaPkcs1(Hash::Sha512),
        &[Family::Rsa],
    ),
    (
        SignatureScheme::RSA_PKCS1_SHA384,
        SigAlg::RsaPkcs1(Hash::Sha384),
        &[Family::Rsa],
    ),
    (
        SignatureScheme::RSA_PKCS1_SHA256,
        SigAlg::RsaPkcs1(Hash::Sha256),
        &[Family::Rsa],
    ),
];

/// The schemes we offer the server for its handshake signature.
pub fn supported_schemes() -> Vec<SignatureScheme> {
    SCHEMES.iter().map(|(s, _, _)| *s).collect()
}

fn family(kind: &KeyKind) -> Option<Family> {
    match kind {
        KeyKind::Rsa { .. } => Some(Family::Rsa),
        KeyKind::RsaPss { .. } => Some(Family::RsaPss),
        KeyKind::Ec(c @ (Curve::P256 | Curve::P384 | Curve::P521)) => Some(Family::Ec(*c)),
        KeyKind::Ed25519 => Some(Family::Ed25519),
        _ => None,
    }
}

/// Verifies a TLS handshake signature made with `scheme` by the holder of `key`.
pub fn verify_handshake(
    key: &PublicKey,
    scheme: SignatureScheme,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let Some(fam) = family(&key.kind) else {
        return false;
    };
    SCHEMES
        .iter()
        .find(|(s, _, fams)| *s == scheme && fams.contains(&fam))
        .is_some_and(|(_, sig, _)| verify_raw(fam, *sig, &key.key, message, signature))
}

/// Whether a TLS 1.3 CertificateVerify `scheme` fits `key` (TLS 1.3 ties ECDSA to its curve).
pub fn fits_tls13(key: &KeyKind, scheme: SignatureScheme) -> bool {
    match scheme {
        SignatureScheme::ECDSA_NISTP256_SHA256 => *key == KeyKind::Ec(Curve::P256),
        SignatureScheme::ECDSA_NISTP384_SHA384 => *key == KeyKind::Ec(Curve::P384),
        SignatureScheme::ECDSA_NISTP521_SHA512 => *key == KeyKind::Ec(Curve::P521),
        SignatureScheme::ED25519
        | SignatureScheme::RSA_PSS_SHA256
        | SignatureScheme::RSA_PSS_SHA384
        | SignatureScheme::RSA_PSS_SHA512
        | RSA_PSS_PSS_SHA256
        | RSA_PSS_PSS_SHA384
        | RSA_PSS_PSS_SHA512 => true,
        _ => false,
    }
}

/// Verifies a certificate's signature (`sig` over `message`) with its issuer's key.
pub fn verify_certificate(key: &PublicKey, sig: SigAlg, message: &[u8], signature: &[u8]) -> bool {
    if !sig.matches_key(&key.kind) {
        return false;
    }
    family(&key.kind).is_some_and(|fam| verify_raw(fam, sig, &key.key, message, signature))
}

fn ring_verify(
    alg: &'static dyn rs::VerificationAlgorithm,
    key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    rs::UnparsedPublicKey::new(alg, key)
        .verify(message, signature)
        .is_ok()
}

/// `key` is the subjectPublicKey bits of a key of `family`.
fn verify_raw(family: Family, sig: SigAlg, key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    match (family, sig) {
        (Family::Ec(Curve::P256), SigAlg::Ecdsa(Hash::Sha256)) => {
            ring_verify(&rs::ECDSA_P256_SHA256_ASN1, key, message, signature)
        }
        (Family::Ec(Curve::P256), SigAlg::Ecdsa(Hash::Sha384)) => {
            ring_verify(&rs::ECDSA_P256_SHA384_ASN1, key, message, signature)
        }
        (Family::Ec(Curve::P384), SigAlg::Ecdsa(Hash::Sha256)) => {
            ring_verify(&rs::ECDSA_P384_SHA256_ASN1, key, message, signature)
        }
        (Family::Ec(Curve::P384), SigAlg::Ecdsa(Hash::Sha384)) => {
            ring_verify(&rs::ECDSA_P384_SHA384_ASN1, key, message, signature)
        }
        (Family::Ec(curve), SigAlg::Ecdsa(hash)) => {
            ecdsa::verify(curve, hash, key, message, signature)
        }
        (Family::Ed25519, SigAlg::Ed25519) => ring_verify(&rs::ED25519, key, message, signature),
        (Family::Rsa, SigAlg::RsaPkcs1(hash)) => verify_rsa_pkcs1(key, hash, message, signature),
        (Family::Rsa | Family::RsaPss, SigAlg::RsaPss(hash, salt)) => {
            verify_rsa_pss(key, hash, salt, message, signature)
        }
        _ => false,
    }
}

fn rsa_bits(key: &[u8]) -> Option<usize> {
    let (n, _) = rsa_parts(key).ok()?;
    let first = *n.first()?;
    Some(n.len() * 8 - first.leading_zeros() as usize)
}

fn verify_rsa_pkcs1(key: &[u8], hash: Hash, message: &[u8], signature: &[u8]) -> bool {
    let Some(bits) = rsa_bits(key) else {
        return false;
    };
    let ring_alg: Option<&'static dyn rs::VerificationAlgorithm> = match hash {
        Hash::Sha1 if (1024..=8192).contains(&bits) => {
            Some(&rs::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY)
        }
        Hash::Sha256 if (1024..=8192).contains(&bits) => {
            Some(&rs::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY)
        }
        Hash::Sha512 if (1024..=8192).contains(&bits) => {
            Some(&rs::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY)
        }
        Hash::Sha384 if (2048..=8192).contains(&bits) => Some(&rs::RSA_PKCS1_2048_8192_SHA384),
        _ => None,
    };
    match ring_alg {
        Some(a) => ring_verify(a, key, message, signature),
        None => {
            rsa_parts(key).is_ok_and(|(n, e)| rsa::verify_pkcs1(n, e, hash, message, signature))
        }
    }
}

fn verify_rsa_pss(key: &[u8], hash: Hash, salt: usize, message: &[u8], signature: &[u8]) -> bool {
    let Some(bits) = rsa_bits(key) else {
        return false;
    };
    let ring_alg: Option<&'static dyn rs::VerificationAlgorithm> = match hash {
        Hash::Sha256 if salt == 32 => Some(&rs::RSA_PSS_2048_8192_SHA256),
        Hash::Sha384 if salt == 48 => Some(&rs::RSA_PSS_2048_8192_SHA384),
        Hash::Sha512 if salt == 64 => Some(&rs::RSA_PSS_2048_8192_SHA512),
        _ => None,
    };
    match ring_alg {
        Some(a) if (2048..=8192).contains(&bits) => ring_verify(a, key, message, signature),
        _ => rsa_parts(key)
            .is_ok_and(|(n, e)| rsa::verify_pss(n, e, hash, Some(salt), message, signature)),
    }
}
