//! Dialling: TCP with TCP_NODELAY, then TLS with rustls on the ring provider, trusting what Node
//! trusts (the Mozilla roots, `NODE_EXTRA_CA_CERTS`, and the `ca` option).

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{
    self,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    pki_types::{pem::PemObject, CertificateDer, ServerName, UnixTime},
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_rustls::TlsConnector;

use crate::config::{Config, TlsOptions, Transport};
use crate::error::Error;

/// A connected byte stream.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Parses PEM text (one or more certificates) or a single DER certificate.
pub fn parse_certificates(data: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    if data.windows(11).any(|w| w == b"-----BEGIN ") {
        let certs = CertificateDer::pem_slice_iter(data)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Config(format!("invalid PEM certificate: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Config("no certificate found in PEM text".into()));
        }
        Ok(certs)
    } else {
        Ok(vec![CertificateDer::from(data.to_vec())])
    }
}

/// Builds the TLS client configuration once per connection object.
pub fn tls_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS setup failed: {e}")))?;
    let config = if opts.reject_unauthorized {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &opts.node_extra_ca_certs {
            // Node warns and goes on when this file cannot be read; so do we.
            if let Ok(pem) = std::fs::read(path) {
                if let Ok(certs) = parse_certificates(&pem) {
                    roots.add_parsable_certificates(certs);
                }
            }
        }
        for ca in &opts.ca {
            let certs = parse_certificates(ca)
                .map_err(|e| Error::Config(format!("ca: {}", e.description())))?;
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    Error::Config(format!("ca: certificate not usable as a trust anchor: {e}"))
                })?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// `rejectUnauthorized: false`: the handshake still proves possession of the key, nothing more.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The socket's readiness wake-ups, which can be held back while the reader does not want to
/// read (see `FrameReader::pause`): on Linux, by the socket's receive low-water mark, so that a
/// trickle of small packets does not wake the runtime's thread for each one while reading waits.
#[derive(Debug, Clone, Copy)]
pub struct Wakeups {
    #[cfg(target_os = "linux")]
    fd: std::os::fd::RawFd,
}

impl Wakeups {
    fn of(tcp: &TcpStream) -> Self {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            Wakeups {
                fd: tcp.as_raw_fd(),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = tcp;
            Wakeups {}
        }
    }

    /// No readiness wake-up until `bytes` are waiting (1: the default, every packet). The
    /// kernel signals readiness at once when lowering it finds enough data waiting. Must be
    /// called only while the socket lives (the reader that owns it calls it).
    pub fn set_low_water(&self, bytes: u32) {
        #[cfg(target_os = "linux")]
        {
            let value: libc::c_int = bytes.min(i32::MAX as u32) as libc::c_int;
            // SAFETY: `fd` is the connected socket owned by the live stream of the reader that
            // calls this; `value` is a c_int on the stack and its size is passed with it. A
            // failure only leaves the default (every packet wakes), so the result is ignored.
            unsafe {
                libc::setsockopt(
                    self.fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVLOWAT,
                    (&value as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = bytes;
    }
}

/// Opens the byte stream: TCP, then TLS when configured.
pub async fn dial(
    cfg: &Config,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<(Box<dyn Io>, Wakeups), Error> {
    let tcp = TcpStream::connect((cfg.host.as_str(), cfg.port))
        .await
        .map_err(|e| Error::Io(format!("cannot connect to {}:{}: {e}", cfg.host, cfg.port)))?;
    // Per-message acknowledgements are small writes: never let Nagle hold them back.
    tcp.set_nodelay(true)
        .map_err(|e| Error::Io(format!("cannot set TCP_NODELAY: {e}")))?;
    let wakeups = Wakeups::of(&tcp);
    let io: Box<dyn Io> = match (cfg.transport, tls) {
        (Transport::Tcp, _) => Box::new(tcp),
        (Transport::Tls, Some(tls)) => {
            let name = cfg.tls.servername.as_deref().unwrap_or(&cfg.host);
            let server_name = ServerName::try_from(name.to_string())
                .map_err(|e| Error::Tls(format!("invalid TLS server name {name:?}: {e}")))?;
            let stream = TlsConnector::from(tls.clone())
                .connect(server_name, tcp)
                .await
                .map_err(|e| Error::Tls(format!("TLS handshake with {name} failed: {e}")))?;
            Box::new(stream)
        }
        (Transport::Tls, None) => return Err(Error::Internal("TLS is not configured".into())),
    };
    Ok((io, wakeups))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ca_is_reported() {
        let opts = TlsOptions {
            ca: vec![
                b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".to_vec(),
            ],
            ..TlsOptions::default()
        };
        assert!(tls_config(&opts)
            .unwrap_err()
            .description()
            .starts_with("ca:"));
        assert!(tls_config(&TlsOptions::default()).is_ok());
        let lax = TlsOptions {
            reject_unauthorized: false,
            ..TlsOptions::default()
        };
        assert!(tls_config(&lax).is_ok());
    }
}
