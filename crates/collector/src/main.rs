//! `telemetry-collector`: configuration, logs, the HTTP listener, AWS clients, run until
//! SIGTERM or SIGINT.

use std::process::ExitCode;
use std::sync::Arc;

use telemetry_collector::http::{self, Observed};
use telemetry_collector::{app, config::Config, logging, shutdown};
use tokio_util::sync::CancellationToken;

// mimalloc instead of glibc malloc: the collector allocates many small, short-lived buffers
// across threads (requests, records, responses); measured in scripts/bench-e2e.sh.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args_os()) {
        Ok(config) => config,
        Err(Ok(help)) => {
            print!("{help}");
            return ExitCode::SUCCESS;
        }
        Err(Err(e)) => {
            eprintln!("telemetry-collector: {e}");
            return ExitCode::from(2);
        }
    };
    logging::init(&config.log_level);
    let runtime = match config.worker_threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::try_from(n).unwrap_or(1))
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("telemetry-collector: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        // First, so that a bad or busy address stops the collector before it takes any message.
        let listener = match http::bind(config.http_addr).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("telemetry-collector: {e}");
                return ExitCode::from(2);
            }
        };
        let observed = Observed {
            stats: Arc::default(),
            status: Arc::default(),
        };
        tokio::spawn(http::serve(listener, observed.clone()));
        let clients = telemetry_aws::Clients::from_env().await;
        let token = CancellationToken::new();
        let signal_token = token.clone();
        tokio::spawn(async move {
            shutdown::signal().await;
            signal_token.cancel();
        });
        app::run_observed(config, clients, token, observed.stats, observed.status).await;
        ExitCode::SUCCESS
    })
}
