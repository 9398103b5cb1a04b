//! The floor: what this package's core costs with no JavaScript at all.
//!
//! A pure-Rust consumer on `aliyun_iot_amqp::supervisor::spawn` (same runtime shape as the addon: a
//! multi-thread tokio runtime with one worker) whose `EventSink` does the doc script's
//! work for each message (topic, message id, the content as a UTF-8 string) and accepts, one
//! `ConsumerHandle::settle` per batch. `--null` skips the reading: a null consumer that only accepts.
//!
//! Usage: floor --port P [--host 127.0.0.1] [--tls --ca FILE [--servername localhost]]
//!              --count N [--latency] [--null] [--credit 1000]
//! Prints one JSON line of measurements.
#![deny(clippy::all)]
// Every `unsafe` block says why it is sound (as in the package's src/lib.rs).
#![deny(clippy::undocumented_unsafe_blocks)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use aliyun_iot_amqp::config::{Config, CredentialSource, ReceiverConfig, Transport};
use aliyun_iot_amqp::message::Value;
use aliyun_iot_amqp::model::{Command, Event, EventSink};
use aliyun_iot_amqp::secret::Secret;
use aliyun_iot_amqp::settle::Outcome;
use aliyun_iot_amqp::supervisor::{self, ConsumerHandle};

struct Opts {
    host: String,
    port: u16,
    tls: bool,
    ca: Option<String>,
    servername: String,
    count: u64,
    latency: bool,
    null: bool,
    credit: u32,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        host: "127.0.0.1".into(),
        port: 0,
        tls: false,
        ca: None,
        servername: "localhost".into(),
        count: 100_000,
        latency: false,
        null: false,
        credit: 1000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--host" => o.host = val()?,
            "--port" => o.port = val()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--tls" => o.tls = true,
            "--ca" => o.ca = Some(val()?),
            "--servername" => o.servername = val()?,
            "--count" => o.count = val()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--latency" => o.latency = true,
            "--null" => o.null = true,
            "--credit" => o.credit = val()?.parse().map_err(|e| format!("--credit: {e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// (user µs, system µs) of the whole process, all threads.
fn cpu_us() -> (u64, u64) {
    // SAFETY: rusage is plain integers; all zeroes is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage for the call.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (us(ru.ru_utime), us(ru.ru_stime))
}

fn vm_hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|v| v.parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

#[derive(Default)]
struct State {
    received: u64,
    first_ns: u64,
    last_ns: u64,
    cpu_at_last: (u64, u64),
    /// Readings at the end of the warm-up (the first tenth), for steady-state CPU.
    warm_received: u64,
    warm_ns: u64,
    cpu_at_warm: (u64, u64),
    latencies: Vec<u64>,
    checksum: u64,
    batches: u64,
}

struct Sink {
    handle: OnceLock<ConsumerHandle>,
    count: u64,
    latency: bool,
    null: bool,
    state: Mutex<State>,
    events: Mutex<mpsc::Sender<&'static str>>,
    closing: AtomicU64,
}

impl EventSink for Sink {
    fn emit(&self, event: Event) {
        match event {
            Event::Messages {
                attach, deliveries, ..
            } => {
                let now = if self.latency { mono_ns() } else { 0 };
                let mut settles = Vec::with_capacity(deliveries.len());
                let mut st = self.state.lock().unwrap();
                st.batches += 1;
                if st.first_ns == 0 {
                    st.first_ns = mono_ns();
                }
                for d in &deliveries {
                    if !self.null {
                        // The doc script's reads: topic, message id, the content as a string.
                        let m = &d.message;
                        let topic = m.application_property_str("topic").unwrap_or("");
                        let message_id = match m.properties.as_ref().and_then(|p| p.first()) {
                            Some(Value::String(s)) => s.len(),
                            _ => 0,
                        };
                        let content = m
                            .single_data()
                            .map(|b| String::from_utf8_lossy(b).into_owned())
                            .unwrap_or_default();
                        st.checksum = st
                            .checksum
                            .wrapping_add((topic.len() + message_id + content.len()) as u64);
                        if self.latency {
                            let sent = m.application_properties.as_ref().and_then(|p| {
                                p.iter().find_map(|(k, v)| match (k, v) {
                                    (Value::String(k), Value::Number(n)) if k == "sendNs" => {
                                        Some(*n as u64)
                                    }
                                    _ => None,
                                })
                            });
                            if let Some(s) = sent {
                                st.latencies.push(now.saturating_sub(s));
                            }
                        }
                    }
                    if !d.settled {
                        settles.push((d.id, Outcome::Accepted));
                    }
                }
                if st.warm_ns == 0 && st.received >= self.count / 10 {
                    st.warm_received = st.received;
                    st.warm_ns = mono_ns();
                    st.cpu_at_warm = cpu_us();
                }
                st.received += deliveries.len() as u64;
                let done = st.received >= self.count && st.last_ns == 0;
                if done {
                    st.last_ns = mono_ns();
                    st.cpu_at_last = cpu_us();
                }
                drop(st);
                if let Some(h) = self.handle.get() {
                    h.settle(attach, settles);
                    if done && self.closing.fetch_add(1, Ordering::SeqCst) == 0 {
                        h.send(Command::Close);
                    }
                }
            }
            Event::Disconnected { error: Some(e), .. } => eprintln!("floor: disconnected: {e}"),
            Event::Closed => {
                let _ = self.events.lock().unwrap().send("closed");
            }
            _ => {}
        }
    }
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("floor: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut cfg = Config::new(
        opts.host.clone(),
        opts.port,
        if opts.tls {
            Transport::Tls
        } else {
            Transport::Tcp
        },
    );
    cfg.credentials = CredentialSource::Plain {
        username: "floor|authMode=aksign,signMethod=hmacsha1,timestamp=1573489088171,authId=LTAIbench,iotInstanceId=,consumerGroupId=DEFAULT_GROUP|".into(),
        password: Secret::new("bench".into()),
    };
    cfg.reconnect.enabled = false;
    cfg.debug_frames = std::env::var_os("FLOOR_DEBUG").is_some();
    cfg.connect_timeout = Duration::from_secs(5);
    cfg.container_id = "floor".into();
    if opts.tls {
        cfg.tls.servername = Some(opts.servername.clone());
        if let Some(ca) = &opts.ca {
            cfg.tls.ca = Some(vec![std::fs::read(ca).expect("read --ca")]);
        }
    }
    let (tx, rx) = mpsc::channel();
    let sink = Arc::new(Sink {
        handle: OnceLock::new(),
        count: opts.count,
        latency: opts.latency,
        null: opts.null,
        state: Mutex::new(State {
            latencies: Vec::with_capacity(if opts.latency { opts.count as usize } else { 0 }),
            ..State::default()
        }),
        events: Mutex::new(tx),
        closing: AtomicU64::new(0),
    });
    let cpu0 = cpu_us();
    let connect_ns = mono_ns();
    let receiver = ReceiverConfig {
        name: "floor-receiver".into(),
        source: None,
        credit_window: opts.credit,
    };
    let handle = supervisor::spawn(rt.handle(), cfg, Some(receiver), sink.clone())
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let _ = sink.handle.set(handle);
    let closed = rx.recv_timeout(Duration::from_secs(600)).is_ok();
    let st = sink.state.lock().unwrap();
    // The first tenth of the samples is warm-up (the same rule as the JS consumers).
    let mut lat = st.latencies[st.latencies.len() / 10..].to_vec();
    lat.sort_unstable();
    let skip = &lat[..];
    let cpu = st.cpu_at_last;
    let secs = (st.last_ns.saturating_sub(st.first_ns)) as f64 / 1e9;
    let steady_us = (cpu.0 + cpu.1).saturating_sub(st.cpu_at_warm.0 + st.cpu_at_warm.1) as f64;
    let steady_s = st.last_ns.saturating_sub(st.warm_ns) as f64 / 1e9;
    let steady_n = st.received.saturating_sub(st.warm_received).max(1) as f64;
    println!(
        concat!(
            "{{\"consumer\":\"floor{}\",\"received\":{},\"closed\":{},\"connect_ns\":{},\"first_ns\":{},\"last_ns\":{},",
            "\"seconds\":{:.6},\"rate\":{:.1},\"cpu_user_us\":{},\"cpu_sys_us\":{},\"cpu_steady_us_per_msg\":{:.3},\"cpu_steady_pct\":{:.2},\"vm_hwm_kb\":{},",
            "\"batches\":{},\"lat_n\":{},\"lat_p50_us\":{:.1},\"lat_p99_us\":{:.1},\"lat_p999_us\":{:.1},\"lat_max_us\":{:.1},\"checksum\":{}}}"
        ),
        if opts.null { "-null" } else { "" },
        st.received,
        closed,
        connect_ns,
        st.first_ns,
        st.last_ns,
        secs,
        if secs > 0.0 { (st.received.saturating_sub(1)) as f64 / secs } else { 0.0 },
        cpu.0.saturating_sub(cpu0.0),
        cpu.1.saturating_sub(cpu0.1),
        steady_us / steady_n,
        if steady_s > 0.0 { 100.0 * steady_us / 1e6 / steady_s } else { 0.0 },
        vm_hwm_kb(),
        st.batches,
        skip.len(),
        pct(skip, 0.5),
        pct(skip, 0.99),
        pct(skip, 0.999),
        skip.last().copied().unwrap_or(0) as f64 / 1000.0,
        st.checksum,
    );
    drop(st);
    rt.shutdown_timeout(Duration::from_secs(2));
}
