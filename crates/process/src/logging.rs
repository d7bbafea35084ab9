//! Logs: JSON lines on stdout through `tracing`, one object per event with its fields at the
//! top level, the same for every binary, so one log pipeline reads them all. Every outside
//! string is a JSON string value, escaped, so a hostile submission cannot forge a log line.

use tracing_subscriber::EnvFilter;

use crate::config::ConfigError;

/// Installs the JSON subscriber with `filter` (already checked with [`check_filter`]); a
/// filter that does not parse falls back to `info`. A second call changes nothing.
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

/// Checks a `LOG_LEVEL` value (e.g. `info` or `telemetry_collector=debug,info`), for a
/// binary's `validate`: one line naming the variable, the value and why it does not parse.
pub fn check_filter(filter: &str) -> Result<(), ConfigError> {
    filter
        .parse::<EnvFilter>()
        .map(drop)
        .map_err(|e| ConfigError(format!("invalid LOG_LEVEL={filter:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_is_checked_in_one_line_naming_log_level() {
        assert!(check_filter("info").is_ok());
        assert!(check_filter("telemetry_collector=debug,info").is_ok());
        let err = check_filter("info,=x=y").expect_err("bad filter").0;
        assert!(
            err.starts_with("invalid LOG_LEVEL=\"info,=x=y\": "),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }
}
