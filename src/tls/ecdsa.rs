//! ECDSA where ring has no algorithm, on RustCrypto's curves: P-521, and any digest on any of
//! P-256, P-384 and P-521 (OpenSSL verifies each digest on each curve; ring only SHA-256 and
//! SHA-384 on P-256 and P-384). Public data only: nothing here is secret.

use p256::ecdsa::signature::hazmat::PrehashVerifier;

use super::der::{self, Reader};
use super::keys::{digest, Curve, Hash};

/// The r and s of a DER ECDSA-Sig-Value, each left-padded to `size` bytes and joined.
fn fixed(signature: &[u8], size: usize) -> Option<Vec<u8>> {
    let mut outer = Reader::new(signature);
    let mut seq = outer.nested(der::SEQUENCE).ok()?;
    outer.finish().ok()?;
    let mut out = Vec::with_capacity(2 * size);
    for _ in 0..2 {
        let n = der::unsigned(seq.expect(der::INTEGER).ok()?).ok()?;
        if n.len() > size {
            return None;
        }
        out.resize(out.len() + size - n.len(), 0);
        out.extend_from_slice(n);
    }
    seq.finish().ok()?;
    Some(out)
}

/// Verifies a fixed-size (r || s) signature over `prehash` by the SEC1 point `key`, on the curve
/// of the RustCrypto crate `$curve`.
macro_rules! verify_on {
    ($curve:ident, $key:expr, $prehash:expr, $sig:expr) => {
        match (
            $curve::ecdsa::VerifyingKey::from_sec1_bytes($key),
            $curve::ecdsa::Signature::from_slice($sig),
        ) {
            (Ok(k), Ok(s)) => k.verify_prehash($prehash, &s).is_ok(),
            _ => false,
        }
    };
}

/// Verifies a DER ECDSA `signature` over `message` hashed with `hash`, by the SEC1 point `key`.
pub fn verify(curve: Curve, hash: Hash, key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let prehash = digest(hash, message);
    match curve {
        Curve::P256 => {
            fixed(signature, 32).is_some_and(|sig| verify_on!(p256, key, &prehash, &sig))
        }
        Curve::P384 => {
            fixed(signature, 48).is_some_and(|sig| verify_on!(p384, key, &prehash, &sig))
        }
        Curve::P521 => {
            fixed(signature, 66).is_some_and(|sig| verify_on!(p521, key, &prehash, &sig))
        }
        Curve::Other => false,
    }
}
