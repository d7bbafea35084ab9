//! Collector processes for the benchmarks: the release binary started with an environment,
//! its own metrics port, its log in a file; read while it runs (CPU time, `/metrics`), stopped
//! with SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::child::Child;
use crate::{cpu, scrape};

/// One running collector.
#[derive(Debug)]
pub struct CollectorProcess {
    child: Child,
    /// Its metrics and probes.
    pub addr: SocketAddr,
}

impl CollectorProcess {
    /// Starts `bin` with `env` (and the rest of this process's environment), its metrics on a
    /// free loopback port, its log in `log`.
    pub fn start(bin: &Path, env: &[(&str, String)], log: &Path) -> std::io::Result<Self> {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let mut command = Command::new(bin);
        command
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("HTTP_ADDR", addr.to_string());
        let child = Child::spawn(&mut command, log.to_owned())?;
        Ok(CollectorProcess { child, addr })
    }

    /// Its CPU time so far (user + system).
    pub fn cpu(&self) -> Option<Duration> {
        cpu::cpu_time(self.child.id())
    }

    /// Its peak resident memory so far, in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        cpu::resident(self.child.id()).map(|(_, peak)| peak)
    }

    /// One scrape of its `/metrics`.
    pub async fn metrics(&self) -> Option<String> {
        match scrape::get(self.addr, "/metrics").await {
            Ok((200, text)) => Some(text),
            _ => None,
        }
    }

    /// Sends SIGTERM and waits for it to exit, at most `within` (then it is killed).
    pub async fn stop(mut self, within: Duration) {
        let _ = self.child.signal("-TERM");
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Dropping the guard kills it.
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.child.log()
    }
}
