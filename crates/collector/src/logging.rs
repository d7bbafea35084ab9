//! Logs: JSON lines on stdout through `tracing`. Every outside string is a JSON string value,
//! escaped, so a hostile submission cannot forge a log line.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber with `filter` (already checked by the config).
pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init();
}
