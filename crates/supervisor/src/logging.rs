//! Logs: JSON lines on stdout through `tracing`, one object per event with its fields at the
//! top level, as the collector writes them, so one log pipeline reads both.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber with `filter` (already checked by the config).
pub fn init(filter: &str) {
    let json = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_writer(std::io::stdout);
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .try_init();
}
