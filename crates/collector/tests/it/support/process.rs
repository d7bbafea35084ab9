//! The collector binary as a child process: talking to the emulators through the test's
//! proxies, its JSON log in a file (kept when the test fails); stopped with SIGTERM, killed
//! with SIGKILL, its memory read from `/proc`.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use telemetry_localenv::child::Child;

use super::TestEnv;

/// The binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_telemetry-collector");

/// A running collector process; killed when dropped.
pub struct Process {
    child: Child,
}

/// Starts the collector against `env`'s queue and stream through its proxies, with test
/// timings; `extra` environment variables override them.
pub fn spawn(env: &TestEnv, extra: &[(&str, &str)]) -> Process {
    let log = std::env::temp_dir().join(format!("collector-{}.log", uuid::Uuid::new_v4()));
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_ENDPOINT_URL_SQS", env.sqs_proxy.url())
        .env("AWS_ENDPOINT_URL_KINESIS", env.kinesis_proxy.url())
        .env("SUBMISSIONS_QUEUE_NAME", &env.queue_name)
        .env("EVENTS_DATA_STREAM_NAME", &env.stream_name)
        .env("QUEUE_WAIT_TIME_SEC", "1")
        .env("QUEUE_RECEIPTS_TO_DELETE_INTERVAL_SEC", "0.1")
        .env("QUEUE_VISIBILITY_TIMEOUT_SEC", "300")
        .env("SUMMARY_INTERVAL_SEC", "1")
        .env("HTTP_ADDR", "127.0.0.1:0")
        // One receive loop: see the note on moto in support::TestEnv::config.
        .env("QUEUE_RECEIVERS", "1");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let child = Child::spawn(&mut cmd, log).expect("spawn collector");
    Process { child }
}

impl Process {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        self.signal("-TERM");
    }

    /// Sends SIGKILL and reaps the process: it ends where it stands, with no drain.
    pub fn sigkill(&mut self) {
        self.signal("-KILL");
        let _ = self.child.wait();
    }

    fn signal(&self, which: &str) {
        self.child
            .signal(which)
            .unwrap_or_else(|e| panic!("kill {which}: {e}"));
    }

    /// Waits for the exit, failing after `within`; returns the exit code and the log.
    pub async fn exit_within(&mut self, within: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status.code(), self.log());
            }
            assert!(
                Instant::now() < deadline,
                "the collector did not exit within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The address of its HTTP listener, from its log (the tests bind port 0).
    pub async fn http_addr(&self) -> std::net::SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = self.log().lines().find_map(|line| {
                let v: Value = serde_json::from_str(line).ok()?;
                v["addr"].as_str()?.parse().ok()
            });
            if let Some(addr) = found {
                return addr;
            }
            assert!(Instant::now() < deadline, "no HTTP listener in the log");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        self.child.log()
    }

    /// The resident set size now and its peak, in bytes (`VmRSS`, `VmHWM` from `/proc`).
    pub fn rss(&self) -> Option<(u64, u64)> {
        telemetry_localenv::cpu::resident(self.pid())
    }
}

/// What a collector's log says it did: the sums of its summary lines (the last one is written
/// at shutdown; a killed process loses its last interval) and its closing line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Logged {
    /// Messages received and decoded (valid + dropped).
    pub received: u64,
    /// Messages deleted (from the closing line when there is one).
    pub deleted: u64,
    /// Messages handed back at shutdown (from the closing line).
    pub handed_back: u64,
    /// True when the closing line is there.
    pub stopped: bool,
}

/// Reads a collector's JSON log.
pub fn logged(log: &str) -> Logged {
    let mut out = Logged::default();
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let field = |name: &str| v.get(name).and_then(Value::as_u64).unwrap_or(0);
        match v.get("message").and_then(Value::as_str) {
            Some(m) if m.starts_with("collected ") => {
                out.received += field("valid") + field("dropped");
                out.deleted += field("deleted");
            }
            Some("telemetry-collector stopped") => {
                out.deleted = field("messages_deleted");
                out.handed_back = field("handed_back");
                out.stopped = true;
            }
            _ => {}
        }
    }
    out
}
