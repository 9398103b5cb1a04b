//! `NativeConnection`: one consumer connection, driven by the JavaScript `Connection`. Commands go
//! to the core's connection task; its events come back through one threadsafe function.

use std::sync::{Arc, Mutex};

use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Status;
use napi_derive::napi;

use super::batch::Shape;
use super::events::{log_event, native_event, JsEvent};
use super::options::{NativeOptions, NativeReceiverOptions};
use super::settle::{NativeOutcome, SettleCode};
use super::{invalid, runtime};
use crate::config::Config;
use crate::error::Error;
use crate::model::{Command, Event, EventSink, IdentityRefusal};
use crate::secret::Secret;
use crate::sign::Credentials;
use crate::supervisor::{self, ConsumerHandle};
use crate::trace::FrameLog;

/// The callback: `(err, event)`; `err` is set only when an event could not be converted.
type EventCallback = ThreadsafeFunction<JsEvent, (), JsEvent, Status, true>;

/// Feeds events to JavaScript. Holding the threadsafe function keeps Node running, as an open
/// socket does; it is dropped after the final `closed` event so that Node can exit.
struct JsSink {
    callback: Mutex<Option<Arc<EventCallback>>>,
    shape: Arc<Shape>,
}

impl JsSink {
    /// A frame line for JavaScript's debug writer (`DEBUG=aliyun-iot-amqp:frames`), in order
    /// with the events; dropped once the connection is finished.
    fn log(&self, line: String) {
        let callback = self.callback.lock().ok().and_then(|g| g.clone());
        if let Some(cb) = callback {
            cb.call(Ok(log_event(line)), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

impl EventSink for JsSink {
    fn emit(&self, event: Event) {
        let last = matches!(event, Event::Closed);
        let callback = match self.callback.lock() {
            Ok(mut guard) => {
                if last {
                    guard.take()
                } else {
                    guard.clone()
                }
            }
            Err(_) => None,
        };
        if let Some(cb) = callback {
            cb.call(
                Ok(native_event(event, &self.shape)),
                ThreadsafeFunctionCallMode::NonBlocking,
            );
        }
    }
}

/// One consumer connection.
#[napi]
pub struct NativeConnection {
    handle: ConsumerHandle,
    /// Whether the receiver takes packed batches (`batch: true`), shared with the sink.
    shape: Arc<Shape>,
}

#[napi]
impl NativeConnection {
    /// Starts connecting at once; events arrive through `callback(err, event)`.
    #[napi(
        factory,
        catch_unwind,
        ts_args_type = "options: NativeOptions, receiver: NativeReceiverOptions | undefined | null, callback: (err: Error | null, event: NativeEvent) => void"
    )]
    pub fn connect(
        options: NativeOptions,
        receiver: Option<NativeReceiverOptions>,
        callback: EventCallback,
    ) -> napi::Result<Self> {
        let mut cfg = Config::try_from(options)?;
        let shape = Arc::new(Shape::default());
        if let Some(r) = &receiver {
            shape.set_packed(r.batch == Some(true));
        }
        let sink = Arc::new(JsSink {
            callback: Mutex::new(Some(Arc::new(callback))),
            shape: shape.clone(),
        });
        if cfg.debug_frames {
            // Frame lines go to JavaScript, which writes every debug line (timestamped, whole).
            let log = Arc::downgrade(&sink);
            cfg.frame_log = Some(FrameLog::new(move |line| {
                if let Some(sink) = log.upgrade() {
                    sink.log(line);
                }
            }));
        }
        let handle = supervisor::spawn(runtime()?.handle(), cfg, receiver.map(Into::into), sink)
            .map_err(|e| invalid(e.description()))?;
        Ok(NativeConnection { handle, shape })
    }

    /// Attaches the receiver (now, and again after every reconnect). Its batches come packed
    /// from now on if `options.batch`, as message objects otherwise.
    #[napi(catch_unwind)]
    pub fn open_receiver(&self, options: NativeReceiverOptions) -> bool {
        self.shape.set_packed(options.batch == Some(true));
        self.handle.send(Command::OpenReceiver(options.into()))
    }

    /// Detaches the receiver; it is not re-attached after a reconnect.
    #[napi(catch_unwind)]
    pub fn close_receiver(&self) -> bool {
        self.handle.send(Command::CloseReceiver)
    }

    /// Settles deliveries of attachment `attach` (from their `messages` event): `codes[i]` is a
    /// `SettleCode`. The arrays are read during the call only (borrowed: no reference is made).
    #[napi(catch_unwind)]
    pub fn settle(&self, attach: u32, ids: &[u32], codes: &[u8]) -> napi::Result<bool> {
        if ids.len() != codes.len() {
            return Err(invalid("ids and codes differ in length"));
        }
        let settles = ids
            .iter()
            .zip(codes.iter())
            .map(|(id, code)| Ok((*id, SettleCode::outcome(*code)?)))
            .collect::<napi::Result<Vec<_>>>()?;
        Ok(self.handle.settle(attach, settles))
    }

    /// Settles one delivery of attachment `attach` with a parameterised outcome.
    #[napi(catch_unwind)]
    pub fn settle_with(&self, attach: u32, id: u32, outcome: NativeOutcome) -> bool {
        self.handle.settle(attach, vec![(id, outcome.into())])
    }

    /// Changes how many deliveries may be outstanding; 0 stops the flow.
    #[napi(catch_unwind)]
    pub fn set_credit_window(&self, credit_window: u32) -> bool {
        self.handle.send(Command::SetCreditWindow(credit_window))
    }

    /// Answers `credentials_needed` for attempt `epoch`: a username and password, or an error.
    #[napi(catch_unwind)]
    pub fn provide_credentials(
        &self,
        epoch: u32,
        username: Option<String>,
        password: Option<String>,
        error: Option<String>,
    ) -> bool {
        let result = match (username, password, error) {
            (Some(username), Some(password), None) => Ok(Credentials {
                username,
                password: Secret::new(password),
            }),
            (_, _, Some(e)) => Err(Error::Config(format!("credentials: {e}"))),
            _ => Err(Error::Config(
                "credentials: no username and password given".into(),
            )),
        };
        self.handle.send(Command::Credentials {
            epoch: epoch as u64,
            result,
        })
    }

    /// Answers `peer_certificate` for attempt `epoch`: no message accepts the server's identity;
    /// a message (and Node's `err.code`, if any) refuses it.
    #[napi(catch_unwind)]
    pub fn provide_identity_verdict(
        &self,
        epoch: u32,
        message: Option<String>,
        code: Option<String>,
    ) -> bool {
        let result = match message {
            None => Ok(()),
            Some(message) => Err(IdentityRefusal { code, message }),
        };
        self.handle.send(Command::IdentityVerdict {
            epoch: epoch as u64,
            result,
        })
    }

    /// Closes the connection (bounded by `close_timeout`) and stops reconnecting.
    #[napi(catch_unwind)]
    pub fn close(&self) -> bool {
        self.handle.send(Command::Close)
    }
}
