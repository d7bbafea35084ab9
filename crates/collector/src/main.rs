//! `telemetry-collector`: parse the settings, build the collector, run it until SIGTERM or
//! SIGINT.

use std::process::ExitCode;

use telemetry_collector::{Collector, Config};
use telemetry_process::{logging, shutdown};

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
        let clients = telemetry_aws::Clients::from_env().await;
        let collector = match Collector::build(config, clients).await {
            Ok(collector) => collector,
            Err(e) => {
                eprintln!("telemetry-collector: {e}");
                return ExitCode::from(2);
            }
        };
        collector.run_until_stopped(shutdown::requested()).await;
        ExitCode::SUCCESS
    })
}
