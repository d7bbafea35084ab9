//! The shutdown signal: SIGTERM (what Kubernetes and docker send) or SIGINT (Ctrl-C), logged.

/// Resolves when the process receives SIGTERM or SIGINT.
pub async fn signal() {
    let name = telemetry_aws::shutdown::signal().await;
    tracing::info!(signal = name, "shutdown requested");
}
