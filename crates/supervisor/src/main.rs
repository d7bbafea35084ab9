//! `shard-supervisor`: settings, logs, the Kinesis and CloudWatch clients, supervise until
//! SIGTERM or SIGINT.

use std::process::ExitCode;

use telemetry_process::logging;
use telemetry_supervisor::config::Config;
use telemetry_supervisor::{cloudwatch, supervisor};

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args_os()) {
        Ok(config) => config,
        Err(not_run) => return not_run.report("shard-supervisor"),
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
        // One SDK configuration for both clients (what `Clients::from_env` loads), so the
        // standard chain and the `AWS_ENDPOINT_URL*` variables apply to CloudWatch too.
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let clients = telemetry_aws::Clients::from_sdk_config(&sdk);
        let cloudwatch = cloudwatch::client(&sdk);
        let shutdown = telemetry_process::shutdown::signal();
        supervisor::run(config, clients.kinesis, cloudwatch, shutdown).await;
    });
    ExitCode::SUCCESS
}
