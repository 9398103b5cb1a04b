//! The handshake: SASL PLAIN (any credentials) or none, then open, begin and the client's receiver
//! attach, each answered; what the client said, for the connection's JSON line.

use super::input::{next_frame, read_header};
use crate::*;

#[derive(Default)]
pub(super) struct Setup {
    pub(super) username: Option<String>,
    pub(super) remote_channel: u16,
    pub(super) remote_handle: u32,
    pub(super) remote_container: String,
    pub(super) remote_max_frame: u32,
    pub(super) session_incoming_window: u32,
    pub(super) session_next_incoming: u32,
    pub(super) credit_limit: u32,
    pub(super) attach_ns: u64,
}

/// SASL, open, begin and attach. Leaves any further frames (the client's flow) in `buf`.
pub(super) async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
) -> Res<Setup> {
    let mut setup = Setup::default();
    let mut out = BytesMut::new();
    let mut header = read_header(io, buf).await?;
    if header == codec::SASL_HEADER {
        out.extend_from_slice(&codec::SASL_HEADER);
        let mechs = sasl::Frame::Mechanisms(SaslMechanisms {
            sasl_server_mechanisms: Array(vec![Symbol::from("PLAIN"), Symbol::from("ANONYMOUS")]),
        });
        codec::encode_sasl(&mut out, &mechs).map_err(err("encode"))?;
        io.write_all(&out).await.map_err(err("write"))?;
        out.clear();
        let frame = next_frame(io, buf).await?;
        match codec::decode_sasl(frame).map_err(err("sasl"))? {
            sasl::Frame::Init(init) => {
                if init.mechanism.as_str() == "PLAIN" {
                    let resp = init
                        .initial_response
                        .map(|b| b.to_vec())
                        .unwrap_or_default();
                    let parts: Vec<&[u8]> = resp.split(|b| *b == 0).collect();
                    setup.username = parts.get(1).map(|u| String::from_utf8_lossy(u).into());
                }
            }
            other => return Err(format!("expected sasl-init, got {other:?}")),
        }
        let outcome = sasl::Frame::Outcome(SaslOutcome {
            code: SaslCode::Ok,
            additional_data: None,
        });
        codec::encode_sasl(&mut out, &outcome).map_err(err("encode"))?;
        io.write_all(&out).await.map_err(err("write"))?;
        out.clear();
        header = read_header(io, buf).await?;
    }
    if header != codec::AMQP_HEADER {
        return Err(format!("unexpected protocol header {header:02x?}"));
    }
    // Answer the header at once: a client may wait for it before sending its open.
    io.write_all(&codec::AMQP_HEADER)
        .await
        .map_err(err("write"))?;
    let mut begun = false;
    loop {
        let frame = next_frame(io, buf).await?;
        let channel = frame.channel;
        match codec::decode_amqp(frame).map_err(err("decode"))? {
            Incoming::Empty => {}
            Incoming::Open(open) => {
                setup.remote_container = open.container_id.clone();
                setup.remote_max_frame = open.max_frame_size.0;
                let reply = Open {
                    container_id: "aliyun-iot-amqp-loadgen".into(),
                    hostname: None,
                    max_frame_size: MAX_FRAME.into(),
                    channel_max: 0u16.into(),
                    idle_time_out: None,
                    outgoing_locales: None,
                    incoming_locales: None,
                    offered_capabilities: None,
                    desired_capabilities: None,
                    properties: None,
                };
                codec::encode_amqp(&mut out, 0, &reply).map_err(err("encode"))?;
            }
            Incoming::Begin(b) => {
                setup.remote_channel = channel;
                setup.session_incoming_window = b.incoming_window;
                setup.session_next_incoming = 0;
                let reply = Begin {
                    remote_channel: Some(channel),
                    next_outgoing_id: 0,
                    incoming_window: i32::MAX as u32,
                    outgoing_window: i32::MAX as u32,
                    handle_max: Handle(u32::MAX),
                    offered_capabilities: None,
                    desired_capabilities: None,
                    properties: None,
                };
                codec::encode_amqp(&mut out, OUR_CHANNEL, &reply).map_err(err("encode"))?;
                begun = true;
            }
            Incoming::Attach(a) => {
                if !begun || a.role != Role::Receiver {
                    return Err("expected a receiver attach after begin".into());
                }
                setup.remote_handle = a.handle.0;
                let reply = Attach {
                    name: a.name.clone(),
                    handle: Handle(OUR_HANDLE),
                    role: Role::Sender,
                    snd_settle_mode: SenderSettleMode::Unsettled,
                    rcv_settle_mode: ReceiverSettleMode::First,
                    source: a.source.clone(),
                    target: a.target.clone(),
                    unsettled: None,
                    incomplete_unsettled: false,
                    initial_delivery_count: Some(0),
                    max_message_size: None,
                    offered_capabilities: None,
                    desired_capabilities: None,
                    properties: None,
                };
                codec::encode_amqp(&mut out, OUR_CHANNEL, &reply).map_err(err("encode"))?;
                io.write_all(&out).await.map_err(err("write"))?;
                setup.attach_ns = mono_ns();
                return Ok(setup);
            }
            Incoming::Flow(f) => {
                // A session-level flow before the attach.
                if let Some(n) = f.next_incoming_id {
                    setup.session_next_incoming = n;
                }
                setup.session_incoming_window = f.incoming_window;
            }
            other => return Err(format!("unexpected {} during the handshake", other.name())),
        }
        if !out.is_empty() {
            io.write_all(&out).await.map_err(err("write"))?;
            out.clear();
        }
    }
}
