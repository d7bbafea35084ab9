//! The collector as one value, the one way to build and run it (zero2prod's `Application`):
//! [`Collector::build`] binds the HTTP listener (so a bad or busy `HTTP_ADDR` stops the start
//! before any message is taken) and [`Collector::run_until_stopped`] waits for the queue and
//! the stream, starts the [`Pipeline`], runs it until the shutdown future resolves, then drains
//! it ([`crate::drain`]). `main.rs` parses, builds and runs; tests build one on port 0 and
//! stop it with a token.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use telemetry_aws::Clients;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{AwsClient, Config};
use crate::dead_letter::{LetterSink, SqsLetterSink};
use crate::http::{self, Observed};
use crate::pipeline::{Parts, Pipeline};
use crate::put_records::{KinesisSink, LeanKinesisSink, RecordSink};
use crate::queue::{LeanQueue, Queue, SqsQueue};
use crate::readiness::{Phase, Status};
use crate::startup;
use crate::stats::{Snapshot, Stats};

/// A collector, built and not yet running.
#[derive(Debug)]
pub struct Collector {
    config: Config,
    clients: Clients,
    /// The lean clients of the hot calls, with `AWS_CLIENT=lean`.
    lean: Option<telemetry_aws_lean::LeanClients>,
    address: SocketAddr,
    stats: Arc<Stats>,
    status: Arc<Status>,
    /// Serves `/metrics`, `/healthz` and `/readyz` from the build to the end of the drain.
    http: JoinHandle<()>,
}

impl Collector {
    /// Sets up the lean clients (with `AWS_CLIENT=lean`), binds `HTTP_ADDR` and starts serving
    /// the probes and metrics (not ready until the queue and the stream are found). The error
    /// is one line naming the setting.
    pub async fn build(config: Config, clients: Clients) -> Result<Collector, String> {
        let lean = match config.aws_client {
            AwsClient::Sdk => None,
            AwsClient::Lean => Some(
                telemetry_aws_lean::LeanClients::from_sdk_configs(
                    &clients.sqs_config,
                    &clients.kinesis_config,
                )
                .await
                .map_err(|e| format!("AWS_CLIENT=lean: {e}"))?,
            ),
        };
        let listener = http::bind(config.http_addr).await?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("HTTP_ADDR {}: {e}", config.http_addr))?;
        let stats = Arc::new(Stats::default());
        let status = Arc::new(Status::default());
        let observed = Observed {
            stats: Arc::clone(&stats),
            status: Arc::clone(&status),
        };
        let http = tokio::spawn(http::serve(listener, observed));
        Ok(Collector {
            config,
            clients,
            lean,
            address,
            stats,
            status,
            http,
        })
    }

    /// Where the HTTP listener listens (the port the system chose, for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The counters, as `/metrics` and the summary line read them.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// The phase, reachability and holdings, as `/readyz` reads them.
    pub fn status(&self) -> Arc<Status> {
        Arc::clone(&self.status)
    }

    /// Runs until `shutdown` resolves, then drains and returns the final counters. Transient
    /// AWS errors never end it.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> Snapshot {
        let stopping = CancellationToken::new();
        let run = self.run(stopping.clone());
        tokio::pin!(run);
        tokio::select! {
            total = &mut run => return total,
            () = shutdown => stopping.cancel(),
        }
        run.await
    }

    /// Waits for the queue and the stream, runs the pipeline until `shutdown` fires, drains it.
    async fn run(&self, shutdown: CancellationToken) -> Snapshot {
        let config = &self.config;
        tracing::info!(
            queue = %config.queue_name,
            stream = %config.stream_name,
            version = env!("CARGO_PKG_VERSION"),
            "telemetry-collector starting"
        );
        let Some(found) = startup::wait_for_resources(config, &self.clients, &shutdown).await
        else {
            return self.stats.snapshot();
        };
        let (sqs, kinesis) = (&self.clients.sqs, &self.clients.kinesis);
        // The dead-letter queue takes a message now and then: the SDK on both paths.
        let letters = found
            .dead_letter_url
            .map(|url| SqsLetterSink::new(sqs.clone(), url));
        let stream = config.stream_name.clone();
        match &self.lean {
            Some(lean) => {
                let parts = Parts {
                    queue: LeanQueue::new(lean.sqs.clone(), found.queue_url),
                    sink: LeanKinesisSink::new(lean.kinesis.clone(), kinesis.clone(), stream),
                    letters,
                };
                self.run_pipeline(parts, &shutdown).await;
            }
            None => {
                let parts = Parts {
                    queue: SqsQueue::new(sqs.clone(), found.queue_url),
                    sink: KinesisSink::new(kinesis.clone(), stream),
                    letters,
                };
                self.run_pipeline(parts, &shutdown).await;
            }
        }
        self.stats.snapshot()
    }

    /// Runs the pipeline on `parts` until `shutdown` fires, then drains it.
    async fn run_pipeline<Q: Queue, S: RecordSink, L: LetterSink>(
        &self,
        parts: Parts<Q, S, L>,
        shutdown: &CancellationToken,
    ) {
        let config = &self.config;
        let pipeline = Pipeline::start(config, parts, &self.stats, &self.status, shutdown);
        self.status.set_phase(Phase::Running);
        shutdown.cancelled().await;
        self.status.set_phase(Phase::Stopping);
        pipeline.drain(config.shutdown_grace).await;
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.http.abort();
    }
}
