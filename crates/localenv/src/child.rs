//! A program a test runs as a child process (the collector, the shard supervisor): stdin
//! closed, its stdout (the JSON log) in a file, stderr the test's. Killed when dropped, so a
//! failing test leaves no process behind; its log is kept then, for whoever reads the failure,
//! and removed otherwise.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// A running child process with its log file; killed and reaped when dropped.
#[derive(Debug)]
pub struct Child {
    child: std::process::Child,
    log: PathBuf,
}

impl Child {
    /// Starts `command`, its stdout written to a new file at `log`.
    pub fn spawn(command: &mut Command, log: PathBuf) -> io::Result<Child> {
        let out = std::fs::File::create(&log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Child { child, log })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Where its log is.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Its log so far (empty when unreadable).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (`-TERM`, `-INT`, `-KILL`) with `kill`.
    pub fn signal(&self, signal: &str) -> io::Result<()> {
        let status = Command::new("kill")
            .args([signal, &self.id().to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("kill {signal}: {status}")))
        }
    }

    /// Its exit status if it has exited, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Waits for it to exit (reaps it).
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("log kept: {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
