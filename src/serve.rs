//! Serving until asked to stop: the shutdown signals every long-running command of the
//! binary shares (the API, the Chief of Staff, the Telegram webhook).

use anyhow::Context;

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight work");
}

/// Serves `app` on `listener` until Ctrl-C, SIGTERM or `stop`, then cancels `stop` so the
/// background work tied to it winds down too.
pub(crate) async fn serve_until_stopped(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    stop: agentops_sdk::CancellationToken,
) -> anyhow::Result<()> {
    let shutdown = {
        let stop = stop.clone();
        async move {
            tokio::select! {
                () = shutdown_signal() => {}
                () = stop.cancelled() => {}
            }
            stop.cancel();
        }
    };
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("the HTTP server failed");
    stop.cancel();
    served
}
