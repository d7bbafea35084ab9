//! The AWS emulators, started per test on free loopback ports and killed when dropped:
//! moto server for SQS, kinesalite for Kinesis (moto loses Kinesis records under concurrent
//! PutRecords, so the no-loss guarantee is never judged on it). Both are installed, pinned,
//! into `.tools/` by `scripts/install-emulators.sh`, which the test command runs first.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running emulator process.
pub struct Emulator {
    child: Child,
    pub addr: SocketAddr,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tool(env: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(default));
    assert!(
        path.exists(),
        "{} not found: run scripts/install-emulators.sh (or set {env})",
        path.display()
    );
    path
}

/// A free loopback port (bound, read, released; the emulator binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_listening(addr: SocketAddr, child: &mut Child, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{name} exited before listening: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not listen on {addr} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start(name: &str, mut cmd: Command, port: u16) -> Emulator {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    wait_listening(addr, &mut child, name);
    Emulator { child, addr }
}

/// moto server (SQS) on a free port.
pub fn moto() -> Emulator {
    let port = free_port();
    let mut cmd = Command::new(tool("TC_MOTO_SERVER", ".tools/venv/bin/moto_server"));
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    start("moto_server", cmd, port)
}

/// kinesalite (Kinesis) on `port` (a free one if `None`), streams created at once.
pub fn kinesalite(port: Option<u16>) -> Emulator {
    let port = port.unwrap_or_else(free_port);
    let mut cmd = Command::new(tool(
        "TC_KINESALITE",
        ".tools/node/node_modules/.bin/kinesalite",
    ));
    cmd.args([
        "--port",
        &port.to_string(),
        "--shardLimit",
        "1000",
        "--createStreamMs",
        "0",
        "--deleteStreamMs",
        "0",
        "--updateStreamMs",
        "0",
    ]);
    start("kinesalite", cmd, port)
}
