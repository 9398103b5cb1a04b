//! Frame logging (`DEBUG=aliyun-iot-amqp:frames`): the performatives in and out, never a secret
//! and never a message body.

/// Where frame lines go, and whether they go at all.
#[derive(Debug, Clone)]
pub struct Trace {
    enabled: bool,
    /// `[container-id#epoch]`, naming the connection attempt.
    prefix: String,
}

impl Trace {
    pub fn new(enabled: bool, container_id: &str, epoch: u64) -> Self {
        Trace {
            enabled,
            prefix: format!("[{container_id}#{epoch}]"),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// One line: `aliyun-iot-amqp:frames [id#epoch] <- Open { ... }`.
    pub fn frame(&self, direction: &str, what: &dyn std::fmt::Debug) {
        if self.enabled {
            // Never `eprintln!`: it panics when stderr is closed.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "aliyun-iot-amqp:frames {} {direction} {what:?}",
                self.prefix
            );
        }
    }
}
