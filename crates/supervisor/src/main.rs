//! `shard-supervisor`: settings, logs, the Kinesis client, supervise until SIGTERM or SIGINT.

use std::process::ExitCode;

use telemetry_supervisor::config::{Config, NotRun};
use telemetry_supervisor::{logging, supervisor};

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args_os()) {
        Ok(config) => config,
        Err(NotRun::Info(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(NotRun::Invalid(e)) => {
            eprintln!("shard-supervisor: {e}");
            return ExitCode::from(2);
        }
    };
    logging::init(&config.log_level);
    // One thread: a call per shard per second and a decision per minute.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shard-supervisor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let clients = telemetry_aws::Clients::from_env().await;
        supervisor::run(config, clients.kinesis, telemetry_aws::shutdown::signal()).await;
    });
    ExitCode::SUCCESS
}
