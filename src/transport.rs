//! Dialling: TCP with TCP_NODELAY, then TLS with rustls (`tls/`: Node's trust store, Node's
//! verdict, Node's words).

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::TlsConnector;

use crate::config::{Config, Transport};
use crate::error::Error;
use crate::tls::errors::{self, Failure, Refusal};

pub use crate::tls::parse_certificates;

/// A connected byte stream.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// Builds the TLS client configuration once per connection object.
pub fn tls_config(cfg: &Config) -> Result<Arc<ClientConfig>, Error> {
    crate::tls::client_config(&cfg.tls, cfg.tls_hostname())
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

    /// Bytes waiting in the socket's receive queue, where the OS tells (Linux); `None` elsewhere.
    pub fn waiting(&self) -> Option<usize> {
        #[cfg(target_os = "linux")]
        {
            let mut n: libc::c_int = 0;
            // SAFETY: `fd` is the connected socket owned by the live stream of the reader that
            // calls this; FIONREAD writes one c_int to the pointer, which points at `n`.
            let r = unsafe { libc::ioctl(self.fd, libc::FIONREAD, &mut n as *mut libc::c_int) };
            (r == 0 && n >= 0).then_some(n as usize)
        }
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// No readiness wake-up until `bytes` are waiting (1: the default, every packet). The
    /// kernel signals readiness at once when lowering it finds enough data waiting. Must be
    /// called only while the socket lives (the reader that owns it calls it). A failure only
    /// leaves the default (every packet wakes).
    pub fn set_low_water(&self, bytes: u32) {
        #[cfg(target_os = "linux")]
        self.set_int(
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            bytes.min(i32::MAX as u32) as libc::c_int,
        );
        #[cfg(not(target_os = "linux"))]
        let _ = bytes;
    }

    /// Acknowledges at once, at the TCP level, what has been read (Linux: `TCP_QUICKACK`, after
    /// a read that emptied the socket). The kernel otherwise waits for data of ours to carry the
    /// acknowledgement, or up to 40 ms, and a sender with Nagle's algorithm on sends nothing
    /// more meanwhile. A failure only leaves the kernel's delayed acknowledgement.
    pub fn ack_now(&self) {
        #[cfg(target_os = "linux")]
        self.set_int(libc::IPPROTO_TCP, libc::TCP_QUICKACK, 1);
    }

    /// Sets an integer socket option; the result is ignored (each caller says why it may be).
    #[cfg(target_os = "linux")]
    fn set_int(&self, level: libc::c_int, name: libc::c_int, value: libc::c_int) {
        // SAFETY: `fd` is the connected socket owned by the live stream of the reader that
        // calls this; `value` is a c_int on the stack and its size is passed with it.
        unsafe {
            libc::setsockopt(
                self.fd,
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// A dialled connection: the stream, its wake-ups, and the certificate chain the server
/// presented (DER, leaf first; empty without TLS).
pub struct Dialed {
    pub io: Box<dyn Io>,
    pub wakeups: Wakeups,
    pub peer_certificates: Vec<Vec<u8>>,
}

/// The error of a failed TLS handshake with `place` (`host:port`): a refused certificate with
/// Node's code, words and a hint; anything else in words.
pub fn handshake_error(e: &std::io::Error, place: &str) -> Error {
    match errors::handshake_failure(e, place) {
        Failure::Certificate(r) => certificate_error(&r, place),
        Failure::Handshake(h) => Error::Tls {
            code: h.code,
            description: h.text,
            lasting: h.lasting,
        },
    }
}

/// A refused certificate as the error users see: Node's code and message, where, and what fixes
/// it.
pub fn certificate_error(r: &Refusal, place: &str) -> Error {
    let hint = errors::hint(&r.reason);
    Error::Certificate {
        description: format!("{} (server {place}); hint: {hint}", r.message),
        code: Some(r.code.clone()),
    }
}

/// Opens the byte stream: TCP, then TLS when configured.
pub async fn dial(cfg: &Config, tls: Option<&Arc<ClientConfig>>) -> Result<Dialed, Error> {
    let place = format!("{}:{}", cfg.host, cfg.port);
    let tcp = TcpStream::connect((cfg.host.as_str(), cfg.port))
        .await
        .map_err(|e| {
            Error::Io(format!(
                "cannot connect to {place}: {}",
                errors::io_error_words(&e)
            ))
        })?;
    // Per-message acknowledgements are small writes: never let Nagle hold them back.
    tcp.set_nodelay(true)
        .map_err(|e| Error::Io(format!("cannot set TCP_NODELAY: {e}")))?;
    let wakeups = Wakeups::of(&tcp);
    match (cfg.transport, tls) {
        (Transport::Tcp, _) => Ok(Dialed {
            io: Box::new(tcp),
            wakeups,
            peer_certificates: Vec::new(),
        }),
        (Transport::Tls, Some(tls)) => {
            let server_name = crate::tls::server_name(cfg.tls_hostname());
            let stream = TlsConnector::from(tls.clone())
                .connect(server_name, tcp)
                .await
                .map_err(|e| handshake_error(&e, &place))?;
            let peer_certificates = stream
                .get_ref()
                .1
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.as_ref().to_vec()).collect())
                .unwrap_or_default();
            Ok(Dialed {
                io: Box::new(stream),
                wakeups,
                peer_certificates,
            })
        }
        (Transport::Tls, None) => Err(Error::Internal("TLS is not configured".into())),
    }
}
