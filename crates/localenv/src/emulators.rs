//! The AWS emulators: moto server for SQS, kinesalite for Kinesis. moto loses Kinesis records
//! under concurrent PutRecords, so the no-loss guarantee is never judged on it; kinesalite is
//! Kinesis only. Both are installed, pinned, into `.tools/` by `scripts/install-emulators.sh`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Why an emulator could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The program is not installed.
    #[error("{0} not found: run scripts/install-emulators.sh (or set {1})")]
    NotInstalled(String, &'static str),
    /// It could not be spawned.
    #[error("cannot start {0}: {1}")]
    Spawn(&'static str, std::io::Error),
    /// It exited, or did not listen in time.
    #[error("{0} did not start listening on {1}: {2}")]
    NotListening(&'static str, SocketAddr, String),
}

/// A running emulator process, killed when dropped.
#[derive(Debug)]
pub struct Emulator {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Emulator {
    /// Its endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its process id, for its CPU time.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workspace root (where `.tools/` is).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tool(env: &'static str, default: &str) -> Result<PathBuf, StartError> {
    let path = std::env::var_os(env).map_or_else(|| workspace_root().join(default), PathBuf::from);
    if path.exists() {
        Ok(path)
    } else {
        Err(StartError::NotInstalled(path.display().to_string(), env))
    }
}

/// A free loopback port (bound, read, released; the emulator binds it right after).
pub fn free_port() -> std::io::Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
}

fn start(name: &'static str, mut cmd: Command, port: u16) -> Result<Emulator, StartError> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // A process group of its own: a Ctrl-C at the terminal reaches the collector (which then
    // drains through the emulators) but not the emulators, which are stopped after it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| StartError::Spawn(name, e))?;
    // From here the Emulator owns the child, so every error path below kills it.
    let mut emulator = Emulator { child, addr };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = emulator.child.try_wait() {
            return Err(StartError::NotListening(
                name,
                addr,
                format!("exited with {status}"),
            ));
        }
        if Instant::now() > deadline {
            return Err(StartError::NotListening(
                name,
                addr,
                "timed out after 30 s".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(emulator)
}

/// moto server (used for SQS) on a free port, listening on 127.0.0.1 only. Started through
/// `crates/localenv/moto_server.py`, which closes a race of moto's DeleteMessage (concurrent
/// batches could bring a deleted message back); `TC_MOTO_PYTHON` names the Python that has
/// moto installed when it is not `.tools/venv/bin/python`.
pub fn moto() -> Result<Emulator, StartError> {
    let port = free_port().map_err(|e| StartError::Spawn("moto_server", e))?;
    let mut cmd = Command::new(tool("TC_MOTO_PYTHON", ".tools/venv/bin/python")?);
    cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("moto_server.py"));
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    start("moto_server", cmd, port)
}

/// kinesalite (Kinesis) on a free port; streams are created, deleted and updated at once.
/// Started through `crates/localenv/kinesalite.js`, which listens on 127.0.0.1 only (the
/// kinesalite command line listens on every interface). `TC_KINESALITE` names the installed
/// kinesalite package directory when it is not `.tools/node/node_modules/kinesalite`.
pub fn kinesalite() -> Result<Emulator, StartError> {
    let port = free_port().map_err(|e| StartError::Spawn("kinesalite", e))?;
    let module = tool("TC_KINESALITE", ".tools/node/node_modules/kinesalite")?;
    let mut cmd = Command::new("node");
    cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("kinesalite.js"))
        .arg(module);
    cmd.args(["--port", &port.to_string(), "--shardLimit", "1000"]);
    cmd.args([
        "--createStreamMs",
        "0",
        "--deleteStreamMs",
        "0",
        "--updateStreamMs",
        "0",
    ]);
    start("kinesalite", cmd, port)
}

/// LocalStack community in host mode, SQS only, on a free port of 127.0.0.1 only (installed by
/// `scripts/install-emulators.sh --localstack`). Its state lives under `.tools/localstack-root`.
pub fn localstack_sqs() -> Result<Emulator, StartError> {
    let port = free_port().map_err(|e| StartError::Spawn("localstack", e))?;
    let python = tool("TC_LOCALSTACK_PYTHON", ".tools/localstack/bin/python")?;
    let root = workspace_root().join(".tools/localstack-root");
    let mut cmd = Command::new(python);
    cmd.args(["-m", "localstack.runtime.main"])
        .env("OVERRIDE_IN_DOCKER", "0")
        .env("FILESYSTEM_ROOT", root)
        .env("SQS_ENDPOINT_STRATEGY", "path")
        .env("SERVICES", "sqs")
        .env("GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
        // LocalStack's default gateway server (twisted) ignores the host of GATEWAY_LISTEN and
        // listens on every interface; hypercorn binds the address given.
        .env("GATEWAY_SERVER", "hypercorn")
        // No DNS server (it would listen on 0.0.0.0:53), no certificate download, no analytics:
        // nothing but the loopback gateway.
        .env("DNS_ADDRESS", "0")
        .env("SKIP_SSL_CERT_DOWNLOAD", "1")
        .env("DISABLE_EVENTS", "1");
    start("localstack", cmd, port)
}
