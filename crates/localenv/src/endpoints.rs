//! Where the processes this project starts reach SQS and Kinesis: straight at the emulators, or
//! in production shape through proxies (HTTPS with a CA made for the run, AWS's round-trip
//! times, Kinesis' per-shard limits, SigV4 checks; see `docs/production-shape.md`), and the
//! environment a process needs for either. Used by `run-local` and `e2e-bench`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::faults::Service;
use crate::profile::Profile;
use crate::proxy::Proxy;
use crate::shard_limit::ShardLimits;
use crate::signature::{TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY};
use crate::tls::Ca;

/// The proxies of a production-shaped run and the CA file they are trusted through.
#[derive(Debug)]
pub struct Production {
    /// In front of the SQS emulator.
    pub sqs: Proxy,
    /// In front of the Kinesis emulator.
    pub kinesis: Proxy,
    /// The CA certificate (PEM), for `SSL_CERT_FILE`.
    pub ca_file: PathBuf,
}

/// Where SQS and Kinesis are for the processes started.
#[derive(Debug)]
pub struct Endpoints {
    /// SQS's URL.
    pub sqs: String,
    /// Kinesis' URL.
    pub kinesis: String,
    /// The proxies, in production shape.
    pub production: Option<Production>,
    /// The shard limits the Kinesis proxy enforces, if any.
    pub shard_limits: Option<ShardLimits>,
}

impl Endpoints {
    /// Straight at the emulators listening at `sqs` and `kinesis`.
    pub fn direct(sqs: SocketAddr, kinesis: SocketAddr) -> Endpoints {
        Endpoints {
            sqs: format!("http://{sqs}"),
            kinesis: format!("http://{kinesis}"),
            production: None,
            shard_limits: None,
        }
    }

    /// Through production-shaped proxies to the emulators at `sqs` and `kinesis`; the CA's certificate is written to `ca_file`. Kinesis'
    /// shard limits are `shard_limits` (`None`: none, to measure the collector alone).
    pub async fn production(
        sqs: SocketAddr,
        kinesis: SocketAddr,
        ca_file: &Path,
        shard_limits: Option<ShardLimits>,
    ) -> anyhow::Result<Endpoints> {
        let ca = Ca::generate(ca_file)?;
        let sqs_proxy = Proxy::production(sqs, Service::Sqs, &ca).await?;
        let mut profile = Profile::production(Service::Kinesis);
        profile.shard_limits = shard_limits;
        let kinesis_proxy = Proxy::builder(kinesis)
            .tls(&ca)
            .profile(profile)
            .start()
            .await?;
        Ok(Endpoints {
            sqs: sqs_proxy.url(),
            kinesis: kinesis_proxy.url(),
            production: Some(Production {
                sqs: sqs_proxy,
                kinesis: kinesis_proxy,
                ca_file: ca.cert_file().to_owned(),
            }),
            shard_limits,
        })
    }

    /// The environment of every process started: region, the credentials the proxies check
    /// signatures with, the endpoints, and in production shape `SSL_CERT_FILE`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", TEST_SECRET_ACCESS_KEY.to_owned()),
            ("AWS_ENDPOINT_URL_SQS", self.sqs.clone()),
            ("AWS_ENDPOINT_URL_KINESIS", self.kinesis.clone()),
        ];
        if let Some(p) = &self.production {
            // Replaces the system's roots for these processes: they trust the proxies only.
            env.push(("SSL_CERT_FILE", p.ca_file.display().to_string()));
        }
        env
    }

    /// A collector's environment: [`Endpoints::env`], and the shard limits the proxy enforces as
    /// the collector's own (`SHARD_MAX_RECORDS_PER_SEC`, `SHARD_MAX_BYTES_PER_SEC`), so that its
    /// limiter keeps to them as it keeps to Kinesis' in production.
    pub fn collector_env(&self) -> Vec<(&'static str, String)> {
        let mut env = self.env();
        if let Some(limits) = &self.shard_limits {
            // Whole numbers within the collector's ranges (it keeps at most Kinesis' own limits),
            // rounded down so that it never believes in more than the proxy allows.
            let whole = |v: f64, max: u64| (v.floor() as u64).clamp(1, max).to_string();
            let (records, bytes) = (limits.records_per_sec, limits.bytes_per_sec);
            env.push(("SHARD_MAX_RECORDS_PER_SEC", whole(records, 1_000)));
            env.push(("SHARD_MAX_BYTES_PER_SEC", whole(bytes, 1_048_576)));
        }
        env
    }

    /// What the proxies refused: records throttled by the shard limits, and requests refused
    /// by the signature checks.
    pub fn refused(&self) -> Option<(u64, u64)> {
        self.production.as_ref().map(|p| {
            (
                p.kinesis.injected().throttled,
                p.sqs.injected().bad_signatures + p.kinesis.injected().bad_signatures,
            )
        })
    }
}
