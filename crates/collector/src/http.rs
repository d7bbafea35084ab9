//! The HTTP listener (`HTTP_ADDR`, loopback by default; `0.0.0.0:9898` in a container):
//!
//! - `GET /metrics`: Prometheus exposition ([`crate::metrics`]);
//! - `GET /healthz`: 200 while no loop is stalled ([`crate::liveness`]), else 503 naming it;
//!   for a liveness probe: a restart helps only a stuck process, never an outage;
//! - `GET /readyz`: 200 when started, not stopping and SQS and Kinesis answer
//!   ([`crate::readiness`]), else 503 with the reasons; for a readiness probe.
//!
//! The listener is bound before anything else, so a bad or busy address stops the collector at
//! start with one line; it serves until the process exits, through the drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::liveness::STALLED_AFTER;
use crate::readiness::{Phase, Status};
use crate::stats::Stats;

/// What the handlers read.
#[derive(Debug, Clone)]
pub(crate) struct Observed {
    /// The counters.
    pub stats: Arc<Stats>,
    /// The phase, reachability and what is held.
    pub status: Arc<Status>,
}

/// Binds `addr`. The error names the address.
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("HTTP_ADDR {addr}: cannot listen: {e}"))
}

/// Serves the three endpoints on `listener` until the process ends.
pub(crate) async fn serve(listener: TcpListener, observed: Observed) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(addr = %addr, "serving /metrics, /healthz and /readyz");
    }
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(observed);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the HTTP listener stopped");
    }
}

async fn metrics(State(o): State<Observed>) -> Response {
    match crate::metrics::encode(&o.stats, &o.status) {
        Ok(text) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode the metrics\n",
        )
            .into_response(),
    }
}

async fn healthz(State(o): State<Observed>) -> Response {
    match liveness(&o, STALLED_AFTER) {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why).into_response(),
    }
}

/// Alive, or which loops have been silent for longer than `after`. After a shutdown signal
/// the loops end one by one as their work is done: silence is expected then, not a stall.
fn liveness(o: &Observed, after: Duration) -> Result<(), String> {
    if o.status.phase() == Phase::Stopping {
        return Ok(());
    }
    let stalled = o.stats.heartbeats.stalled(after);
    if stalled.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "stalled for over {} s: {}\n",
            after.as_secs_f64(),
            stalled.join(", ")
        ))
    }
}

async fn readyz(State(o): State<Observed>) -> Response {
    match o.status.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(reasons) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", reasons.join("; ")),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_loop_fails_liveness_until_a_shutdown_signal() {
        let o = Observed {
            stats: Arc::default(),
            status: Arc::default(),
        };
        assert_eq!(liveness(&o, Duration::ZERO), Ok(()), "no loop started yet");
        o.stats.heartbeats.deleter.beat();
        std::thread::sleep(Duration::from_millis(5));
        let err = liveness(&o, Duration::from_millis(1)).expect_err("the deleter is silent");
        assert!(err.contains("deleter"), "{err}");
        assert_eq!(liveness(&o, Duration::from_secs(60)), Ok(()));
        o.status.set_phase(Phase::Stopping);
        assert_eq!(liveness(&o, Duration::from_millis(1)), Ok(()), "stopping");
    }
}
