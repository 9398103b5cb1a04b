//! Getting a connection as far as the AMQP layer: dial (TCP, TLS), the SASL layer with PLAIN, the
//! AMQP protocol header; then the performatives that open our side (open, begin). The attach is
//! the link's (`link/`).

use std::sync::Arc;

use fe2o3_amqp::frames::sasl;
use fe2o3_amqp::types::definitions::Handle;
use fe2o3_amqp::types::performatives::{Begin, Open};
use fe2o3_amqp::types::primitives::{Binary, Symbol};
use fe2o3_amqp::types::sasl::{SaslCode, SaslInit};
use tokio_rustls::rustls::ClientConfig;

use crate::codec;
use crate::config::{Config, Transport};
use crate::error::Error;
use crate::reader::FrameReader;
use crate::sign::Credentials;
use crate::trace::Trace;
use crate::transport;
use crate::writer::Outbox;

/// Session incoming window we grant; link credit is the real bound.
pub const INCOMING_WINDOW: u32 = i32::MAX as u32;

/// A protocol header as readable text: printable bytes as they are, others as `\xNN`.
fn header_text(header: &[u8; 8]) -> String {
    header
        .iter()
        .map(|b| {
            if b.is_ascii_graphic() {
                (*b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

fn sasl_name(f: &sasl::Frame) -> &'static str {
    match f {
        sasl::Frame::Mechanisms(_) => "sasl-mechanisms",
        sasl::Frame::Init(_) => "sasl-init",
        sasl::Frame::Challenge(_) => "sasl-challenge",
        sasl::Frame::Response(_) => "sasl-response",
        sasl::Frame::Outcome(_) => "sasl-outcome",
    }
}

fn sasl_code_name(code: &SaslCode) -> &'static str {
    match code {
        SaslCode::Ok => "ok",
        SaslCode::Auth => "auth",
        SaslCode::Sys => "sys",
        SaslCode::SysPerm => "sys-perm",
        SaslCode::SysTemp => "sys-temp",
    }
}

/// Whether bytes a server sent look like TLS: a handshake (0x16) or alert (0x15) record of
/// version 3.x.
fn looks_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [0x15 | 0x16, 0x03, ..])
}

/// The protocol header the server answers with; a server that answers in TLS (a plain TCP
/// connection to a TLS port) is told as such.
async fn read_header(cfg: &Config, reader: &mut FrameReader) -> Result<[u8; 8], Error> {
    let tls_port = || {
        Error::tls(format!(
            "{}:{} answered in TLS: it is a TLS port, use `transport: 'tls'` (or the plain AMQP port)",
            cfg.host, cfg.port
        ))
    };
    match reader.read_header().await {
        Ok(h) if looks_like_tls(&h) => Err(tls_port()),
        Ok(h) => Ok(h),
        Err(_) if looks_like_tls(reader.buffered()) => Err(tls_port()),
        // A TLS server that read our protocol header as a bad handshake closes without a word.
        Err(Error::Io(_)) if reader.buffered().is_empty() && cfg.transport == Transport::Tcp => {
            Err(Error::Io(format!(
                "connection closed by the server ({}:{}) without an answer to the AMQP protocol header (a TLS port? use `transport: 'tls'` there)",
                cfg.host, cfg.port
            )))
        }
        Err(e) => Err(e),
    }
}

/// Dials (TCP, TLS). Returns the stream and the server's certificate chain.
pub async fn dial(
    cfg: &Config,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<transport::Dialed, Error> {
    transport::dial(cfg, tls).await
}

/// Starts the writer on a dialled stream, runs SASL (when there are credentials) and exchanges
/// the AMQP protocol header. Returns the reader, positioned at the server's first AMQP frame.
pub async fn setup(
    cfg: &Config,
    io: Box<dyn transport::Io>,
    wakeups: transport::Wakeups,
    creds: Option<&Credentials>,
    outbox: &mut Outbox,
    trace: &Trace,
) -> Result<FrameReader, Error> {
    let (rd, wr) = tokio::io::split(io);
    outbox.start(wr);
    let mut reader = FrameReader::new(rd, wakeups, cfg.max_frame_size);
    if let Some(creds) = creds {
        sasl_plain(cfg, &mut reader, outbox, trace, creds).await?;
    }
    outbox.raw(&codec::AMQP_HEADER);
    outbox.flush()?;
    let header = read_header(cfg, &mut reader).await?;
    if header != codec::AMQP_HEADER {
        return Err(Error::Framing(format!(
            "server answered with protocol header {}",
            header_text(&header)
        )));
    }
    Ok(reader)
}

async fn read_sasl(reader: &mut FrameReader) -> Result<sasl::Frame, Error> {
    let frame = reader.read_frame().await?;
    codec::decode_sasl(frame).map_err(Error::from)
}

async fn sasl_plain(
    cfg: &Config,
    reader: &mut FrameReader,
    outbox: &mut Outbox,
    trace: &Trace,
    creds: &Credentials,
) -> Result<(), Error> {
    outbox.raw(&codec::SASL_HEADER);
    outbox.flush()?;
    let header = read_header(cfg, reader).await?;
    if header != codec::SASL_HEADER {
        return Err(Error::Framing(
            "server does not offer SASL (it answered the SASL header with another protocol)".into(),
        ));
    }
    let mechanisms = match read_sasl(reader).await? {
        sasl::Frame::Mechanisms(m) => m,
        other => {
            return Err(Error::Protocol(format!(
                "expected sasl-mechanisms, got {}",
                sasl_name(&other)
            )))
        }
    };
    let offered: Vec<&str> = mechanisms
        .sasl_server_mechanisms
        .0
        .iter()
        .map(|s| s.as_str())
        .collect();
    if !offered.contains(&"PLAIN") {
        return Err(Error::Auth(format!(
            "server does not offer SASL PLAIN (offers {})",
            if offered.is_empty() {
                "nothing".to_string()
            } else {
                offered.join(", ")
            }
        )));
    }
    let (username, password) = (&creds.username, creds.password.expose());
    let mut response = Vec::with_capacity(username.len() + password.len() + 2);
    response.push(0);
    response.extend_from_slice(username.as_bytes());
    response.push(0);
    response.extend_from_slice(password.as_bytes());
    trace.frame(
        "<-",
        &format_args!(
            "sasl-mechanisms [{}]; -> sasl-init PLAIN (credentials [redacted])",
            offered.join(", ")
        ),
    );
    let init = sasl::Frame::Init(SaslInit {
        mechanism: Symbol::from("PLAIN"),
        initial_response: Some(Binary::from(response)),
        hostname: Some(cfg.sasl_hostname().to_string()),
    });
    outbox.sasl(&init)?;
    outbox.flush()?;
    let outcome = read_sasl(reader).await?;
    trace.frame("<-", &outcome);
    match outcome {
        sasl::Frame::Outcome(o) => match o.code {
            SaslCode::Ok => Ok(()),
            code => Err(Error::Auth(format!(
                "authentication failed: the server rejected the username/password (SASL outcome: {})",
                sasl_code_name(&code)
            ))),
        },
        other => Err(Error::Protocol(format!(
            "expected sasl-outcome, got {} (only PLAIN without challenge is supported)",
            sasl_name(&other)
        ))),
    }
}

/// Our open: container id, idle time-out, max-frame-size; the hostname only when given (rhea).
pub fn open(cfg: &Config) -> Open {
    Open {
        container_id: cfg.container_id.clone(),
        hostname: cfg.hostname.clone(),
        max_frame_size: cfg.max_frame_size.into(),
        channel_max: 0u16.into(),
        idle_time_out: cfg
            .idle_time_out
            .map(|d| d.as_millis().min(u32::MAX as u128) as u32),
        outgoing_locales: None,
        incoming_locales: None,
        offered_capabilities: None,
        desired_capabilities: None,
        properties: None,
    }
}

/// Our begin for the one session.
pub fn begin() -> Begin {
    Begin {
        remote_channel: None,
        next_outgoing_id: 0,
        incoming_window: INCOMING_WINDOW,
        outgoing_window: INCOMING_WINDOW,
        handle_max: Handle(u32::MAX),
        offered_capabilities: None,
        desired_capabilities: None,
        properties: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_read_as_text() {
        assert_eq!(
            header_text(b"AMQP\x03\x01\x00\x00"),
            "AMQP\\x03\\x01\\x00\\x00"
        );
        assert_eq!(header_text(b"HTTP/1.1"), "HTTP/1.1");
        assert!(looks_like_tls(&[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46]));
        assert!(looks_like_tls(&[0x16, 0x03, 0x03]));
        assert!(!looks_like_tls(b"AMQP\x03\x01\x00\x00"));
    }
}
