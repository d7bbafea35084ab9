//! The shutdown signal every long-running binary of the workspace waits for: SIGTERM (what
//! Kubernetes and docker send) or SIGINT (Ctrl-C). A binary takes it as a future and hands it
//! to its library, so tests can stop the same code with a future of their own.

/// Resolves when the process receives SIGTERM or SIGINT, with the signal's name.
pub async fn signal() -> &'static str {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => "SIGINT",
        () = term => "SIGTERM",
    }
}

/// [`signal`], logged: resolves after the line `shutdown requested` with the signal's name.
pub async fn requested() {
    let name = signal().await;
    tracing::info!(signal = name, "shutdown requested");
}
