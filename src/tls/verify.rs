//! The chain verdict of OpenSSL 3 as Node's TLS client gets it (`X509_verify_cert` with a
//! verify callback that goes on after every error, then `SSL_get_verify_result`): the *last*
//! error reported wins. The steps, in OpenSSL's order:
//!
//! 1. the leaf's key strength (Node's security level: 1, 80 bits and RSA from 1024, with
//!    OpenSSL 3.0; 2, 112 bits, on Node 24);
//! 2. building the chain, trusted store first, then the certificates the server sent; a
//!    certificate in the store is an anchor only when it is self-signed (no partial chains), and
//!    a trusted self-signed leaf is its own anchor whatever its basicConstraints;
//! 3. the extensions of every certificate (CA flags, the TLS server purpose, path lengths,
//!    unhandled critical extensions);
//! 4. key and digest strength of the issuers;
//! 5. signatures and validity periods, from the top of the chain down to the leaf (so a leaf's
//!    expiry is reported over an untrusted issuer);
//! 6. name constraints (`ncons.rs`), of every CA above each certificate.

use super::algorithms;
use super::cert::{self, ku, ns, Cert};
use super::errors::{x509, Refusal};
use super::ncons;
use super::pem::Trust;

/// OpenSSL's default verify depth (100) plus one: chains are built up to this length.
const MAX_DEPTH: usize = 101;

/// The bits of security each OpenSSL security level requires (level 0: none).
const LEVEL_BITS: [u32; 6] = [0, 80, 112, 128, 192, 256];

/// What OpenSSL security `level` requires of keys and signatures, in bits.
pub fn min_security_bits(level: u8) -> u32 {
    LEVEL_BITS[usize::from(level.min(5))]
}

/// The trusted certificates, in the order they were added.
#[derive(Debug, Default, Clone)]
pub struct TrustStore {
    certs: Vec<Cert>,
}

impl TrustStore {
    pub fn new() -> Self {
        TrustStore::default()
    }

    /// Adds a certificate; one already there is not added twice.
    pub fn add(&mut self, cert: Cert) {
        if !self.certs.iter().any(|c| c.der == cert.der) {
            self.certs.push(cert);
        }
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

/// Whether `c` is inside its validity period at `now` (OpenSSL's check with no callback).
fn time_ok(c: &Cert, now: i64) -> bool {
    matches!((c.not_before, c.not_after), (Some(nb), Some(na)) if nb <= now && na > now)
}

/// OpenSSL's `get0_best_issuer_sk`: the first candidate that likely issued `x` and is valid now,
/// else the one of them that expires last.
fn best_issuer<'a>(
    candidates: impl Iterator<Item = &'a Cert>,
    x: &Cert,
    now: i64,
) -> Option<&'a Cert> {
    let mut best: Option<&Cert> = None;
    for c in candidates {
        if !cert::likely_issued(c, x) {
            continue;
        }
        if time_ok(c, now) {
            return Some(c);
        }
        let later = match (best.and_then(|b| b.not_after), c.not_after) {
            (None, _) => best.is_none(),
            (Some(b), Some(n)) => n > b,
            (Some(_), None) => false,
        };
        if later {
            best = Some(c);
        }
    }
    best
}

fn key_bits(c: &Cert) -> u32 {
    c.public_key.as_ref().map_or(0, |k| k.kind.security_bits())
}

/// OpenSSL's `check_purpose_ssl_server` (`X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, ca)`).
fn ssl_server_purpose(c: &Cert, require_ca: bool) -> bool {
    if c.ext_key_usage == Some(false) {
        return false;
    }
    if require_ca {
        let ca = c.ca_kind();
        return ca != 0 && (ca != 5 || c.ns_cert_type.is_some_and(|n| n & ns::SSL_CA != 0));
    }
    if c.ns_cert_type.is_some_and(|n| n & ns::SSL_SERVER == 0) {
        return false;
    }
    if c.key_usage.is_some_and(|k| {
        k & (ku::DIGITAL_SIGNATURE | ku::KEY_ENCIPHERMENT | ku::KEY_AGREEMENT) == 0
    }) {
        return false;
    }
    true
}

/// OpenSSL's `check_trust` over the trusted certificates of the chain, in order: the first one
/// whose trust settings decide (trusted, or rejected for a TLS server), else the first
/// self-signed one (trusted); `None` when none decides.
fn check_trust(trusted: &[&Cert]) -> Option<bool> {
    trusted.iter().find_map(|c| match c.trust() {
        Trust::Trusted => Some(true),
        Trust::Rejected => Some(false),
        Trust::Neutral => c.self_signed().then_some(true),
    })
}

/// Records errors as OpenSSL's callback sees them; the last one is the verdict.
#[derive(Default)]
struct Errors {
    last: Option<&'static str>,
}

impl Errors {
    fn fail(&mut self, code: &'static str) {
        self.last = Some(code);
    }
}

/// The verdict on the chain the server sent (leaf first) against `store`, at Unix time `now`,
/// under OpenSSL security `level` (Node's default: 1 with OpenSSL 3.0, 2 on Node 24).
pub fn verify_chain(store: &TrustStore, peer: &[Cert], now: i64, level: u8) -> Result<(), Refusal> {
    let min_bits = min_security_bits(level);
    let Some(leaf) = peer.first() else {
        return Err(Refusal::x509(x509::UNABLE_TO_VERIFY_LEAF_SIGNATURE));
    };
    let mut errors = Errors::default();

    // 1. The leaf's key.
    if min_bits > 0 && key_bits(leaf) < min_bits {
        errors.fail(x509::EE_KEY_TOO_SMALL);
    }

    // 2. The chain (OpenSSL's build_chain, trusted-first).
    let mut chain: Vec<&Cert> = vec![leaf];
    let mut num_untrusted = 1usize;
    let mut remaining: Vec<&Cert> = peer.iter().collect();
    let mut search_trusted = true;
    let mut search_untrusted = true;
    let mut trusted = false;
    while search_trusted || search_untrusted {
        let num = chain.len();
        if search_trusted {
            let curr = chain[num - 1];
            let issuer = if num > MAX_DEPTH {
                None
            } else {
                best_issuer(store.certs.iter(), curr, now)
            };
            if let Some(issuer) = issuer {
                let curr_self_signed = curr.self_signed();
                let mut ok = true;
                let mut top_self_signed = curr_self_signed;
                if !curr_self_signed {
                    chain.push(issuer);
                    top_self_signed = issuer.self_signed();
                } else if curr.der != issuer.der {
                    // A self-signed certificate that only looks like an anchor.
                    ok = false;
                } else {
                    // The server's self-signed certificate is itself trusted.
                    num_untrusted = num - 1;
                    chain[num - 1] = issuer;
                }
                if ok {
                    search_untrusted = false;
                    match check_trust(&chain[num_untrusted..]) {
                        Some(true) => {
                            trusted = true;
                            break;
                        }
                        Some(false) => errors.fail(x509::CERT_REJECTED),
                        None => {}
                    }
                    if !top_self_signed {
                        continue;
                    }
                }
            }
            if !search_untrusted {
                break;
            }
        }
        if search_untrusted {
            let curr = chain[chain.len() - 1];
            let issuer = if curr.self_signed() || chain.len() > MAX_DEPTH {
                None
            } else {
                let in_chain = |c: &Cert| chain.iter().any(|x| std::ptr::eq(*x, c));
                best_issuer(
                    remaining.iter().copied().filter(|c| !in_chain(c)),
                    curr,
                    now,
                )
            };
            match issuer {
                None => {
                    search_untrusted = false;
                    search_trusted = true;
                }
                Some(i) => {
                    remaining.retain(|c| !std::ptr::eq(*c, i));
                    chain.push(i);
                    num_untrusted += 1;
                }
            }
        }
    }
    let num = chain.len();
    if !trusted {
        if let Some(earlier) = errors.last {
            // "A preliminary error has become final".
            errors.fail(earlier);
        } else {
            if num > MAX_DEPTH {
                errors.fail(x509::CERT_CHAIN_TOO_LONG);
            }
            errors.fail(if chain[num - 1].self_signed() {
                if num == 1 {
                    x509::DEPTH_ZERO_SELF_SIGNED_CERT
                } else {
                    x509::SELF_SIGNED_CERT_IN_CHAIN
                }
            } else if num_untrusted < num {
                x509::UNABLE_TO_GET_ISSUER_CERT
            } else {
                x509::UNABLE_TO_GET_ISSUER_CERT_LOCALLY
            });
        }
    }

    // 3. Extensions (check_extensions).
    let mut path_len = 0u64;
    for (i, c) in chain.iter().enumerate() {
        if c.unhandled_critical {
            errors.fail(x509::UNHANDLED_CRITICAL_EXTENSION);
        }
        if i > 0 {
            let ca = c.ca_kind();
            if ca == 0 || (i + 1 < num && ca != 1) {
                errors.fail(x509::INVALID_CA);
            }
        }
        // A trusted certificate's own trust settings come before its purpose (check_purpose).
        let purpose = match c.trust() {
            Trust::Trusted if i >= num_untrusted => true,
            Trust::Rejected if i >= num_untrusted => false,
            _ => ssl_server_purpose(c, i > 0),
        };
        if !purpose {
            errors.fail(x509::INVALID_PURPOSE);
        }
        if let Some((_, Some(limit))) = c.basic_constraints {
            if i > 1 && path_len > limit {
                errors.fail(x509::PATH_LENGTH_EXCEEDED);
            }
        }
        if i > 0 && !c.self_issued() {
            path_len += 1;
        }
    }

    // 4. Strength of the issuers' keys and of the signatures below the anchor.
    for (i, c) in chain.iter().enumerate() {
        if min_bits == 0 {
            break;
        }
        if i > 0 && key_bits(c) < min_bits {
            errors.fail(x509::CA_KEY_TOO_SMALL);
        }
        if i + 1 < num && c.sig_alg.security_bits().is_some_and(|b| b < min_bits) {
            errors.fail(x509::CA_MD_TOO_WEAK);
        }
    }

    // 5. Signatures and times, top down (internal_verify).
    let mut n = num - 1;
    let mut xi = chain[n];
    let mut xs = xi;
    let mut check_signature = true;
    let mut unverifiable = false;
    if !cert::likely_issued(xi, xi) {
        if n == 0 {
            errors.fail(x509::UNABLE_TO_VERIFY_LEAF_SIGNATURE);
            check_signature = false;
        } else {
            n -= 1;
            xs = chain[n];
        }
    }
    loop {
        if check_signature && !std::ptr::eq(xs, xi) {
            if xi.key_usage.is_some_and(|k| k & ku::KEY_CERT_SIGN == 0) {
                errors.fail(x509::KEYUSAGE_NO_CERTSIGN);
            }
            match &xi.public_key {
                None => errors.fail(x509::UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY),
                // Ed448 cannot be verified here: OpenSSL's verdict is unknown, not a failure.
                Some(_) if xs.sig_alg == cert::SigAlg::Ed448 && xs.sig_algs_agree() => {
                    unverifiable = true;
                }
                Some(key) => {
                    if !xs.sig_algs_agree()
                        || !algorithms::verify_certificate(key, xs.sig_alg, xs.tbs(), &xs.signature)
                    {
                        errors.fail(x509::CERT_SIGNATURE_FAILURE);
                    }
                }
            }
        }
        check_signature = true;
        match xs.not_before {
            None => errors.fail(x509::ERROR_IN_CERT_NOT_BEFORE_FIELD),
            Some(t) if t > now => errors.fail(x509::CERT_NOT_YET_VALID),
            Some(_) => {}
        }
        match xs.not_after {
            None => errors.fail(x509::ERROR_IN_CERT_NOT_AFTER_FIELD),
            Some(t) if t <= now => errors.fail(x509::CERT_HAS_EXPIRED),
            Some(_) => {}
        }
        if n == 0 {
            break;
        }
        n -= 1;
        xi = xs;
        xs = chain[n];
    }

    // 6. Name constraints (check_name_constraints), after the signatures in OpenSSL 3.
    for code in ncons::violations(&chain) {
        errors.fail(code);
    }

    match errors.last {
        // Where OpenSSL's verdict hangs on a signature this build cannot check, say so.
        None if unverifiable => Err(Refusal::unsupported_algorithm("Ed448")),
        None => Ok(()),
        Some(code) => Err(Refusal::x509(code)),
    }
}
