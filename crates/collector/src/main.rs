//! `telemetry-collector`: configuration, logs, AWS clients, run until SIGTERM or SIGINT.

use std::process::ExitCode;

use telemetry_collector::{app, config::Config, logging, shutdown};
use tokio_util::sync::CancellationToken;

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
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("telemetry-collector: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let clients = telemetry_aws::Clients::from_env().await;
        let token = CancellationToken::new();
        let signal_token = token.clone();
        tokio::spawn(async move {
            shutdown::signal().await;
            signal_token.cancel();
        });
        app::run(config, clients, token).await;
    });
    ExitCode::SUCCESS
}
