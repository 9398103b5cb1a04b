//! The data that crosses between the consumer's owner and its connection task: the events it
//! reports, the commands it takes, and the deliveries it hands over. Plain data, no behaviour.

use std::time::Duration;

use bytes::Bytes;

use crate::config::ReceiverConfig;
use crate::error::Error;
use crate::message::Message;
use crate::sign::Credentials;

/// The server's Open, as far as users see it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteOpen {
    pub container_id: String,
    pub hostname: Option<String>,
    pub idle_time_out: Option<u32>,
    pub max_frame_size: u32,
}

/// One complete delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: u32,
    pub tag: Bytes,
    pub format: u32,
    /// Settled by the sender: nothing to acknowledge.
    pub settled: bool,
    pub message: Message,
}

/// What the connection task reports. `epoch` numbers the transport connections of one consumer.
#[derive(Debug, Clone)]
pub enum Event {
    ConnectionOpen {
        epoch: u64,
        remote: RemoteOpen,
        /// The certificate chain the server presented (DER, leaf first); empty without TLS.
        peer_certificates: Vec<Vec<u8>>,
    },
    /// The receiver is attached; `attach` numbers this attachment (settlements name it).
    ReceiverOpen {
        epoch: u64,
        attach: u32,
        /// The source address in the server's attach reply, `None` if it sent none.
        remote_source: Option<String>,
    },
    /// Deliveries of attachment `attach`.
    Messages {
        epoch: u64,
        attach: u32,
        deliveries: Vec<Delivery>,
    },
    /// The server detached our link (with an error, if it gave one), or we did: the deliveries
    /// of attachment `attach` can no longer be settled. `reattach_in` is set when the link will
    /// be attached again on this connection after that delay. `gone`: the receiver is closed for
    /// good (refused with `amqp:unauthorized-access`): not attached again, nor after a reconnect.
    ReceiverClose {
        epoch: u64,
        attach: u32,
        error: Option<Error>,
        reattach_in: Option<Duration>,
        gone: bool,
    },
    /// The server began our session (after the open, and again after it ended it).
    SessionOpen { epoch: u64 },
    /// The server ended our session (with an error, if it gave one). It is begun again, with the
    /// receiver, on the same connection (a `ReceiverClose` for its attachment follows).
    SessionClose { epoch: u64, error: Option<Error> },
    /// Delivery `id` of attachment `attach` cannot be read (it cannot be decoded, or it is over
    /// `max_message_size`): not handed over, never accepted. `held`: it is held unsettled and
    /// released after a while (or comes again when the attachment ends); otherwise the sender
    /// had settled it already.
    Unreadable {
        epoch: u64,
        attach: u32,
        id: u32,
        error: Error,
        held: bool,
    },
    /// `count` more transfers were taken beyond the credit granted (a sender's slip).
    OverCredit { epoch: u64, count: u64 },
    /// The server closed the connection with an error, or refused the credentials.
    ConnectionError { epoch: u64, error: Error },
    /// The connection closed cleanly (after `close()`, or the server's close without error).
    ConnectionClose { epoch: u64 },
    /// The transport is gone. `reconnecting` tells whether another attempt follows, after `delay`.
    Disconnected {
        epoch: u64,
        error: Option<Error>,
        reconnecting: bool,
        delay: Duration,
    },
    /// Credentials for attempt `epoch` are wanted (`CredentialSource::External`): answer with
    /// `Command::Credentials` within the connect time-out.
    CredentialsNeeded { epoch: u64 },
    /// The TLS handshake of attempt `epoch` is done and the chain verified; the owner checks the
    /// server's identity (`checkServerIdentity`) on `chain` (DER, leaf first) and answers with
    /// `Command::IdentityVerdict` within the connect time-out. Nothing is sent before.
    PeerCertificate { epoch: u64, chain: Vec<Vec<u8>> },
    /// The consumer is finished: no event follows.
    Closed,
}

/// The owner's refusal of a server's identity: its `err.code` (if any) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRefusal {
    pub code: Option<String>,
    pub message: String,
}

/// Receives events, on the connection task's thread.
pub trait EventSink: Send + Sync + 'static {
    fn emit(&self, event: Event);
}

/// Commands from the owner to the connection task.
#[derive(Debug)]
pub enum Command {
    OpenReceiver(ReceiverConfig),
    CloseReceiver,
    /// Change the credit window (0 pauses the flow of messages).
    SetCreditWindow(u32),
    /// The answer to `Event::CredentialsNeeded`: SASL PLAIN credentials, or why there are none.
    Credentials {
        epoch: u64,
        result: Result<Credentials, Error>,
    },
    /// The answer to `Event::PeerCertificate`.
    IdentityVerdict {
        epoch: u64,
        result: Result<(), IdentityRefusal>,
    },
    Close,
}
