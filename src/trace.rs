//! Frame logging (`DEBUG=aliyun-iot-amqp:frames`): the performatives in and out, never a secret
//! and never a message body.

use std::sync::Arc;

/// Where frame lines go when not to stderr: the owner's writer (the N-API layer hands them to
/// JavaScript, whose debug writer timestamps every line and writes each whole).
#[derive(Clone)]
pub struct FrameLog(Arc<dyn Fn(String) + Send + Sync>);

impl FrameLog {
    pub fn new(write: impl Fn(String) + Send + Sync + 'static) -> Self {
        FrameLog(Arc::new(write))
    }
}

impl std::fmt::Debug for FrameLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FrameLog")
    }
}

/// Where frame lines go, and whether they go at all.
#[derive(Debug, Clone)]
pub struct Trace {
    enabled: bool,
    /// `[container-id#epoch]`, naming the connection attempt.
    prefix: String,
    /// The writer; none: stderr.
    log: Option<FrameLog>,
}

impl Trace {
    pub fn new(enabled: bool, container_id: &str, epoch: u64) -> Self {
        Trace {
            enabled,
            prefix: format!("[{container_id}#{epoch}]"),
            log: None,
        }
    }

    /// Frame lines to `log` (one call per line, without a trailing newline) instead of stderr.
    pub fn with_log(mut self, log: Option<FrameLog>) -> Self {
        self.log = log;
        self
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// One line: `[id#epoch] <- Open { ... }` (on stderr, after `aliyun-iot-amqp:frames `).
    pub fn frame(&self, direction: &str, what: &dyn std::fmt::Debug) {
        if !self.enabled {
            return;
        }
        let line = format!("{} {direction} {what:?}", self.prefix);
        match &self.log {
            Some(log) => (log.0)(line),
            None => {
                // Never `eprintln!`: it panics when stderr is closed.
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "aliyun-iot-amqp:frames {line}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn lines_go_to_the_log_when_one_is_given_and_nowhere_when_disabled() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let log = FrameLog::new(move |l| sink.lock().unwrap().push(l));
        Trace::new(true, "c", 2)
            .with_log(Some(log.clone()))
            .frame("->", &"Open");
        Trace::new(false, "c", 3)
            .with_log(Some(log))
            .frame("->", &"Open");
        assert_eq!(
            *lines.lock().unwrap(),
            vec!["[c#2] -> \"Open\"".to_string()]
        );
    }
}
