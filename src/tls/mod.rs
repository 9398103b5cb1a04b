//! TLS exactly as Node's own TLS does it, on rustls (ring provider):
//!
//! - **Whom to trust** (`TrustStore`), as Node builds its store: with a `ca` option, that alone
//!   (Node: "neither the well known nor extra certificates are used when the ca option is
//!   explicitly specified"); without one, Node's default CA certificates (handed over by the
//!   JavaScript layer from the running Node: its bundled Mozilla roots, `NODE_EXTRA_CA_CERTS`,
//!   and the system store where `--use-system-ca` / `NODE_USE_SYSTEM_CA=1` is honoured), or for a
//!   plain Rust caller the Mozilla roots compiled in (webpki-roots) plus `NODE_EXTRA_CA_CERTS`.
//! - **The verdict** (`verify.rs`): OpenSSL 3's chain building and checks, with its error
//!   precedence, as Node's client sees them; then Node's `checkServerIdentity` rules
//!   (`name.rs`), unless the owner checks the identity itself (the `checkServerIdentity` option).
//! - **Signatures** (`algorithms.rs`, `rsa.rs`): what Node's default security level accepts,
//!   RSA from 1024 bits included, for the chain and for the handshake.
//! - **Words** (`errors.rs`): Node's `err.code` and message, with a hint.
//!
//! Verification is never switched off: `rejectUnauthorized: false` still verifies the server's
//! handshake signature with the key in its certificate, as Node does.

mod algorithms;
pub mod cert;
pub mod der;
mod ecdsa;
pub mod errors;
mod keys;
pub mod name;
pub mod ncons;
pub mod oid;
pub mod pem;
mod rsa;
pub mod verify;
mod x509_text;

use std::sync::Arc;

use tokio_rustls::rustls::{
    self,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    pki_types::{CertificateDer, ServerName, UnixTime},
    CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme,
};

use crate::config::TlsOptions;
use crate::error::Error;
use cert::Cert;
pub use errors::Refusal;
pub use verify::TrustStore;

/// The certificates of PEM text (`CERTIFICATE`, `X509 CERTIFICATE`, `TRUSTED CERTIFICATE`
/// blocks) or of a single DER certificate.
pub fn parse_certificates(data: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    pem::ca_certificates(data)
        .map(|certs| {
            certs
                .into_iter()
                .map(|c| CertificateDer::from(c.der))
                .collect()
        })
        .map_err(|e| Error::Config(e.into()))
}

/// A webpki-roots anchor (subject and key only) as a self-signed root certificate.
fn anchor_cert(a: &rustls::pki_types::TrustAnchor<'_>) -> Option<Cert> {
    // A minimal v3 certificate around the anchor's subject and key: enough for chain building
    // (subject, key), never sent or shown. Its validity is unbounded.
    let subject = wrap(der::SEQUENCE, a.subject.as_ref());
    let spki = wrap(der::SEQUENCE, a.subject_public_key_info.as_ref());
    let sig_alg = wrap(
        der::SEQUENCE,
        &[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b,
        ],
    );
    let validity = wrap(
        der::SEQUENCE,
        &[
            wrap(der::GENERALIZED_TIME, b"19700101000000Z"),
            wrap(der::GENERALIZED_TIME, b"99991231235959Z"),
        ]
        .concat(),
    );
    let tbs = wrap(
        der::SEQUENCE,
        &[
            wrap(der::context(0), &[2, 1, 2]),
            vec![2, 1, 1],
            sig_alg.clone(),
            subject.clone(),
            validity,
            subject,
            spki,
        ]
        .concat(),
    );
    let whole = wrap(der::SEQUENCE, &[tbs, sig_alg, vec![3, 1, 0]].concat());
    let mut c = Cert::parse(&whole).ok()?;
    // Self-signed as far as chain building is concerned, whatever its key type.
    c.sig_alg = match c.public_key.as_ref().map(|k| &k.kind) {
        Some(cert::KeyKind::Ec(_)) => cert::SigAlg::Ecdsa(cert::Hash::Sha256),
        Some(cert::KeyKind::Ed25519) => cert::SigAlg::Ed25519,
        _ => cert::SigAlg::RsaPkcs1(cert::Hash::Sha256),
    };
    Some(c)
}

fn wrap(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = contents.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

/// The store Node would verify this connection against.
pub fn trust_store(opts: &TlsOptions) -> Result<TrustStore, Error> {
    let mut store = TrustStore::new();
    if let Some(ca) = &opts.ca {
        for item in ca {
            for cert in pem::ca_certificates(item).map_err(|e| Error::Config(format!("ca: {e}")))? {
                store.add(cert);
            }
        }
        return Ok(store);
    }
    match &opts.default_ca {
        Some(list) => {
            for item in list {
                // Node's own list: anything it holds that we cannot read is skipped.
                for cert in pem::ca_certificates(item).unwrap_or_default() {
                    store.add(cert);
                }
            }
        }
        None => {
            for a in webpki_roots::TLS_SERVER_ROOTS {
                if let Some(c) = anchor_cert(a) {
                    store.add(c);
                }
            }
        }
    }
    if let Some(path) = &opts.node_extra_ca_certs {
        // Node warns and goes on when this file cannot be read; so do we.
        if let Ok(pem) = std::fs::read(path) {
            for cert in pem::extra_certificates(&pem) {
                store.add(cert);
            }
        }
    }
    Ok(store)
}

/// Whether the chain the server sent (DER, leaf first) passes Node's chain verification now,
/// whatever `rejectUnauthorized` says: Node calls `checkServerIdentity` only then.
pub fn chain_verified(opts: &TlsOptions, chain: &[Vec<u8>]) -> bool {
    let Ok(store) = trust_store(opts) else {
        return false;
    };
    let Ok(peer) = chain
        .iter()
        .map(|d| Cert::parse(d))
        .collect::<Result<Vec<_>, _>>()
    else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    verify::verify_chain(&store, &peer, now, opts.security_level).is_ok()
}

/// The server certificate verifier: Node's verdict, carried through rustls as a [`Refusal`].
#[derive(Debug)]
pub struct NodeVerifier {
    store: TrustStore,
    /// `servername || host`, what Node's checkServerIdentity is called with.
    hostname: String,
    /// `false`: `rejectUnauthorized: false`, any chain is taken.
    enforce: bool,
    /// Node's name check here (`true`), or the owner's `checkServerIdentity` after the handshake.
    check_name: bool,
    /// The OpenSSL security level of the running Node.
    security_level: u8,
}

impl NodeVerifier {
    /// The verdict on a chain (leaf first), at `now` (Unix seconds).
    pub fn verdict(&self, chain: &[CertificateDer<'_>], now: i64) -> Result<(), Refusal> {
        let mut peer = Vec::with_capacity(chain.len());
        for der in chain {
            peer.push(Cert::parse(der.as_ref()).map_err(|_| Refusal {
                code: String::new(),
                message: "the server sent a certificate that cannot be decoded".into(),
                reason: String::new(),
            })?);
        }
        verify::verify_chain(&self.store, &peer, now, self.security_level)?;
        if self.check_name {
            name::check_server_identity(&self.hostname, &peer[0])?;
        }
        Ok(())
    }
}

impl ServerCertVerifier for NodeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.enforce {
            return Ok(ServerCertVerified::assertion());
        }
        let mut chain = Vec::with_capacity(intermediates.len() + 1);
        chain.push(end_entity.clone());
        chain.extend(intermediates.iter().cloned());
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        match self.verdict(&chain, now) {
            Ok(()) => Ok(ServerCertVerified::assertion()),
            Err(r) if r.code.is_empty() => Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding,
            )),
            Err(r) => Err(r.into_rustls()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        handshake_signature(message, cert, dss, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        handshake_signature(message, cert, dss, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        algorithms::supported_schemes()
    }
}

fn handshake_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    tls13: bool,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    let bad = || rustls::Error::InvalidCertificate(CertificateError::BadSignature);
    let c = Cert::parse(cert.as_ref()).map_err(|_| bad())?;
    let key = c.public_key.as_ref().ok_or_else(bad)?;
    if tls13 && !algorithms::fits_tls13(&key.kind, dss.scheme) {
        return Err(bad());
    }
    if algorithms::verify_handshake(key, dss.scheme, message, dss.signature()) {
        Ok(HandshakeSignatureValid::assertion())
    } else {
        Err(bad())
    }
}

/// The name handed to rustls for `hostname` (`servername || host`): itself where it is a DNS name
/// (sent as SNI) or an IP address (no SNI, as in Node). A name that is neither (`bad..name`,
/// `-x.example.com`) is not sent at all, where Node sends it as it is: the connection goes on
/// under an IP address placeholder (so rustls sends no SNI) that nothing checks (the verifier
/// checks `hostname` itself, with Node's rules).
pub fn server_name(hostname: &str) -> ServerName<'static> {
    ServerName::try_from(hostname.to_string()).unwrap_or(ServerName::IpAddress(
        std::net::Ipv4Addr::UNSPECIFIED.into(),
    ))
}

/// A key exchange group by the name the options give it.
fn group_name(group: rustls::NamedGroup) -> &'static str {
    match group {
        rustls::NamedGroup::X25519 => "x25519",
        rustls::NamedGroup::secp256r1 => "secp256r1",
        rustls::NamedGroup::secp384r1 => "secp384r1",
        _ => "",
    }
}

/// The TLS client configuration of one connection object. `hostname` is `servername || host`.
pub fn client_config(opts: &TlsOptions, hostname: &str) -> Result<Arc<ClientConfig>, Error> {
    let store = if opts.reject_unauthorized {
        trust_store(opts)?
    } else {
        TrustStore::new()
    };
    let verifier = NodeVerifier {
        store,
        hostname: hostname.to_string(),
        enforce: opts.reject_unauthorized,
        check_name: !opts.external_identity_check,
        security_level: opts.security_level,
    };
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(groups) = &opts.kx_groups {
        let all = std::mem::take(&mut provider.kx_groups);
        for name in groups {
            let group = all.iter().find(|g| group_name(g.name()) == name);
            match group {
                Some(g) => provider.kx_groups.push(*g),
                None => return Err(Error::Config(format!("ecdhCurve: {name} is not supported"))),
            }
        }
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [(2, &rustls::version::TLS12), (3, &rustls::version::TLS13)]
            .into_iter()
            .filter(|(v, _)| (opts.versions.0..=opts.versions.1).contains(v))
            .map(|(_, p)| p)
            .collect();
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&versions)
        .map_err(|e| Error::Config(format!("TLS setup failed: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.alpn_protocols = opts.alpn_protocols.clone();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests;
