//! Signature verification as Node's OpenSSL accepts it, for certificates and for the TLS
//! handshake: ECDSA (P-256, P-384), Ed25519, and RSA from 1024 bits (PKCS #1 v1.5 with SHA-1 to
//! SHA-512, PSS), on ring's algorithms (its `*_FOR_LEGACY_USE_ONLY` ones for keys under 2048
//! bits and for SHA-1) and on `rsa.rs` where ring has none (PSS or SHA-384 under 2048 bits).
//!
//! Each algorithm is a rustls `SignatureVerificationAlgorithm`, chosen by the certificate's
//! signature algorithm or by the TLS `SignatureScheme`.

use rustls::pki_types::{
    alg_id, AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm,
};
use rustls::SignatureScheme;
use tokio_rustls::rustls;

use ring::signature as rs;

use super::cert::{rsa_parts, Curve, Hash, KeyKind, PublicKey, SigAlg};
use super::rsa;

/// The key a signature algorithm works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

/// One signature algorithm over one kind of key.
#[derive(Debug)]
pub struct Algorithm {
    family: Family,
    sig: SigAlg,
    public_key_alg_id: AlgorithmIdentifier,
    signature_alg_id: AlgorithmIdentifier,
}

impl SignatureVerificationAlgorithm for Algorithm {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        if verify_raw(self.family, self.sig, public_key, message, signature) {
            Ok(())
        } else {
            Err(InvalidSignature)
        }
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.public_key_alg_id
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg_id
    }

    fn fips(&self) -> bool {
        false
    }
}

const fn alg(
    family: Family,
    sig: SigAlg,
    public_key_alg_id: AlgorithmIdentifier,
    signature_alg_id: AlgorithmIdentifier,
) -> Algorithm {
    Algorithm {
        family,
        sig,
        public_key_alg_id,
        signature_alg_id,
    }
}

static ECDSA_P256_SHA256: Algorithm = alg(
    Family::EcP256,
    SigAlg::Ecdsa(Hash::Sha256),
    alg_id::ECDSA_P256,
    alg_id::ECDSA_SHA256,
);
static ECDSA_P256_SHA384: Algorithm = alg(
    Family::EcP256,
    SigAlg::Ecdsa(Hash::Sha384),
    alg_id::ECDSA_P256,
    alg_id::ECDSA_SHA384,
);
static ECDSA_P384_SHA256: Algorithm = alg(
    Family::EcP384,
    SigAlg::Ecdsa(Hash::Sha256),
    alg_id::ECDSA_P384,
    alg_id::ECDSA_SHA256,
);
static ECDSA_P384_SHA384: Algorithm = alg(
    Family::EcP384,
    SigAlg::Ecdsa(Hash::Sha384),
    alg_id::ECDSA_P384,
    alg_id::ECDSA_SHA384,
);
static ED25519: Algorithm = alg(
    Family::Ed25519,
    SigAlg::Ed25519,
    alg_id::ED25519,
    alg_id::ED25519,
);
static RSA_PKCS1_SHA256: Algorithm = alg(
    Family::Rsa,
    SigAlg::RsaPkcs1(Hash::Sha256),
    alg_id::RSA_ENCRYPTION,
    alg_id::RSA_PKCS1_SHA256,
);
static RSA_PKCS1_SHA384: Algorithm = alg(
    Family::Rsa,
    SigAlg::RsaPkcs1(Hash::Sha384),
    alg_id::RSA_ENCRYPTION,
    alg_id::RSA_PKCS1_SHA384,
);
static RSA_PKCS1_SHA512: Algorithm = alg(
    Family::Rsa,
    SigAlg::RsaPkcs1(Hash::Sha512),
    alg_id::RSA_ENCRYPTION,
    alg_id::RSA_PKCS1_SHA512,
);
static RSA_PSS_SHA256: Algorithm = alg(
    Family::Rsa,
    SigAlg::RsaPss(Hash::Sha256, 32),
    alg_id::RSA_ENCRYPTION,
    alg_id::RSA_PSS_SHA256,
);
static RSA_PSS_SHA384: Algorithm = alg(
    Family::Rsa,
    SigAlg::RsaPss(Hash::Sha384, 48),
    alg_id::RSA_ENCRYPTION,
    alg_id::RSA_PSS_SHA384,
);
static RSA_PSS_SHA512: Algorithm = alg(
    Family::Rsa,
    SigAlg::RsaPss(Hash::Sha512, 64),
    alg_id::RSA_ENCRYPTION,
    alg_id::RSA_PSS_SHA512,
);

/// The TLS signature schemes offered, best first, and the algorithms each may be verified with
/// (in TLS 1.2 an ECDSA scheme does not fix the curve).
static SCHEMES: &[(SignatureScheme, &[&Algorithm])] = &[
    (
        SignatureScheme::ECDSA_NISTP384_SHA384,
        &[&ECDSA_P384_SHA384, &ECDSA_P256_SHA384],
    ),
    (
        SignatureScheme::ECDSA_NISTP256_SHA256,
        &[&ECDSA_P256_SHA256, &ECDSA_P384_SHA256],
    ),
    (SignatureScheme::ED25519, &[&ED25519]),
    (SignatureScheme::RSA_PSS_SHA512, &[&RSA_PSS_SHA512]),
    (SignatureScheme::RSA_PSS_SHA384, &[&RSA_PSS_SHA384]),
    (SignatureScheme::RSA_PSS_SHA256, &[&RSA_PSS_SHA256]),
    (SignatureScheme::RSA_PKCS1_SHA512, &[&RSA_PKCS1_SHA512]),
    (SignatureScheme::RSA_PKCS1_SHA384, &[&RSA_PKCS1_SHA384]),
    (SignatureScheme::RSA_PKCS1_SHA256, &[&RSA_PKCS1_SHA256]),
];

/// The schemes we offer the server for its handshake signature.
pub fn supported_schemes() -> Vec<SignatureScheme> {
    SCHEMES.iter().map(|(s, _)| *s).collect()
}

fn family(kind: &KeyKind) -> Option<Family> {
    match kind {
        KeyKind::Rsa { .. } => Some(Family::Rsa),
        KeyKind::Ec(Curve::P256) => Some(Family::EcP256),
        KeyKind::Ec(Curve::P384) => Some(Family::EcP384),
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
        .filter(|(s, _)| *s == scheme)
        .flat_map(|(_, algs)| algs.iter())
        .find(|a| a.family == fam)
        .is_some_and(|a| a.verify_signature(&key.key, message, signature).is_ok())
}

/// Verifies a certificate's signature (`sig` over `message`) with its issuer's key.
pub fn verify_certificate(key: &PublicKey, sig: SigAlg, message: &[u8], signature: &[u8]) -> bool {
    if !sig.matches_key(&key.kind) {
        return false;
    }
    let fam = match &key.kind {
        // A PSS-only RSA key verifies PSS signatures like any RSA key.
        KeyKind::RsaPss { .. } => Family::Rsa,
        other => match family(other) {
            Some(f) => f,
            None => return false,
        },
    };
    verify_raw(fam, sig, &key.key, message, signature)
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
        (Family::EcP256, SigAlg::Ecdsa(Hash::Sha256)) => {
            ring_verify(&rs::ECDSA_P256_SHA256_ASN1, key, message, signature)
        }
        (Family::EcP256, SigAlg::Ecdsa(Hash::Sha384)) => {
            ring_verify(&rs::ECDSA_P256_SHA384_ASN1, key, message, signature)
        }
        (Family::EcP384, SigAlg::Ecdsa(Hash::Sha256)) => {
            ring_verify(&rs::ECDSA_P384_SHA256_ASN1, key, message, signature)
        }
        (Family::EcP384, SigAlg::Ecdsa(Hash::Sha384)) => {
            ring_verify(&rs::ECDSA_P384_SHA384_ASN1, key, message, signature)
        }
        (Family::Ed25519, SigAlg::Ed25519) => ring_verify(&rs::ED25519, key, message, signature),
        (Family::Rsa, SigAlg::RsaPkcs1(hash)) => verify_rsa_pkcs1(key, hash, message, signature),
        (Family::Rsa, SigAlg::RsaPss(hash, salt)) => {
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
