//! The HTTPS admission webhook (axum on tokio, TLS by rustls) and its plain-HTTP admin port.
//!
//! Start-up loads the TLS pair and binds both ports before serving, so a bad certificate or a
//! taken port fails fast. Connections speak HTTP/1.1 (keep-alive) or HTTP/2 (ALPN), with a
//! handshake and header read timeout. On shutdown (SIGTERM) the listener closes and no review
//! that reached the server goes unanswered: HTTP/2 clients get a GOAWAY and their open streams
//! finish; an HTTP/1.1 connection is closed only after an answer that says `Connection: close`
//! (or, for one left idle, after a short wait), since closing a keep-alive connection under a
//! request the client has just sent fails that request. Then the audit log is drained and flushed
//! before the process exits.
//!
//! Each accepted connection is served on one of the connection threads, one per core, each
//! with its own single-threaded runtime ([`threads`]).

mod admin;
pub mod metrics;
mod state;
mod threads;
pub mod tls;
pub mod webhook;

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::{
    audit::{self, AuditConfig},
    ignite::{Compiled, Environment},
};

pub use metrics::Metrics;
pub use state::{Answering, AppState, ClusterView, Limits, OnUnsynced};
pub use threads::PinThreads;
pub use tls::{CertFiles, ReloadingResolver};
pub use webhook::router;

/// How long, at shutdown, an HTTP/1.1 connection may stay open for one more request (answered
/// with `Connection: close`) before it is closed; a connection busy under load gets its next
/// request within milliseconds.
const IDLE_HTTP1_WAIT: Duration = Duration::from_secs(1);

/// Everything `serve` is configured with.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub tls: CertFiles,
    pub client_ca: Option<PathBuf>,
    pub tls_reload_interval: Duration,
    pub limits: Limits,
    pub header_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub audit: AuditConfig,
    /// Ready as soon as serving (a snapshot file); the live view sets readiness once synced.
    pub ready_at_start: bool,
    /// How reviews are answered while the view is not synced.
    pub on_unsynced: OnUnsynced,
    /// Whether the connection threads are pinned to cores.
    pub pin_threads: PinThreads,
}

/// A bound, not yet serving, server.
pub struct Server {
    webhook: TcpListener,
    admin: TcpListener,
    acceptor: TlsAcceptor,
    resolver: Arc<ReloadingResolver>,
    state: Arc<AppState>,
    audit_thread: std::thread::JoinHandle<()>,
    config: ServeConfig,
}

impl Server {
    /// Loads TLS, starts the audit writer and binds both ports; errors name what is wrong.
    pub async fn bind(
        config: ServeConfig,
        env: Environment,
        decisions: Compiled,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        let resolver = ReloadingResolver::load(&config.tls)?;
        let tls = tls::server_config(resolver.clone(), config.client_ca.as_deref())?;
        let (sender, audit_thread) =
            audit::spawn(config.audit.clone()).context("opening the audit log")?;
        let metrics = Metrics::new(sender.counters().clone());
        let answering = Answering {
            limits: config.limits,
            on_unsynced: config.on_unsynced,
            ready: config.ready_at_start,
        };
        let state = Arc::new(AppState::new(
            env,
            decisions,
            metrics,
            answering,
            Arc::new(sender),
        ));
        let webhook = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("--listen {}: cannot bind", config.listen))?;
        let admin = TcpListener::bind(config.admin_listen)
            .await
            .with_context(|| format!("--admin-listen {}: cannot bind", config.admin_listen))?;
        Ok(Self {
            webhook,
            admin,
            acceptor: TlsAcceptor::from(Arc::new(tls)),
            resolver,
            state,
            audit_thread,
            config,
        })
    }

    /// The webhook's bound address.
    pub fn webhook_addr(&self) -> std::io::Result<SocketAddr> {
        self.webhook.local_addr()
    }

    /// The admin port's bound address.
    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.admin.local_addr()
    }

    /// The shared state (for the live view to swap in new cluster views).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then drains connections and the audit log.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let Self {
            webhook,
            admin,
            acceptor,
            resolver,
            state,
            audit_thread,
            config,
        } = self;
        let reload_state = state.clone();
        let reloader = tokio::spawn(resolver.watch(
            config.tls.clone(),
            config.tls_reload_interval,
            move |ok| {
                reload_state.metrics.cert_reload(ok);
            },
        ));

        let admin_addr = admin
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut admin_stop = stop_rx.clone();
        let admin_app = admin::router(state.clone());
        let admin_task = tokio::spawn(async move {
            let serve = axum::serve(admin, admin_app).with_graceful_shutdown(async move {
                let _ = admin_stop.wait_for(|s| *s).await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "Admin server failed");
            }
        });

        let app = webhook::router(state.clone());
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_timeout)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(20));
        // HTTP/1.1 and HTTP/2 connections are shut down differently (see the module docs).
        let h1 = GracefulShutdown::new();
        let h2 = GracefulShutdown::new();
        let (h1_open, mut h1_closed) = tokio::sync::mpsc::channel::<()>(1);
        let bound = |l: &TcpListener| l.local_addr().map(|a| a.to_string()).unwrap_or_default();
        tracing::info!(listen = %bound(&webhook), admin = %admin_addr, "Serving");
        let mut connections = threads::ConnectionThreads::start(config.pin_threads)?;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = webhook.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(a) => a,
                        Err(error) => {
                            tracing::warn!(%error, "Accept failed");
                            continue;
                        }
                    };
                    // An answer is one small write: send it now, not after Nagle's delay.
                    if let Err(error) = tcp.set_nodelay(true) {
                        tracing::debug!(%error, %peer, "Cannot set TCP_NODELAY");
                    }
                    let tcp = match tcp.into_std() {
                        Ok(tcp) => tcp,
                        Err(error) => {
                            tracing::warn!(%error, %peer, "Cannot hand the connection over");
                            continue;
                        }
                    };
                    let acceptor = acceptor.clone();
                    let service = TowerToHyperService::new(app.clone());
                    let builder = builder.clone();
                    let (h1, h2, h1_open) = (h1.watcher(), h2.watcher(), h1_open.clone());
                    let handshake_timeout = config.header_timeout;
                    connections.hand(Box::new(move || {
                        tokio::spawn(async move {
                            let tcp = match tokio::net::TcpStream::from_std(tcp) {
                                Ok(tcp) => tcp,
                                Err(error) => {
                                    tracing::warn!(%error, %peer, "Cannot serve the connection");
                                    return;
                                }
                            };
                            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                                Ok(Ok(tls)) => tls,
                                Ok(Err(error)) => {
                                    tracing::debug!(%peer, %error, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(%peer, "TLS handshake timed out");
                                    return;
                                }
                            };
                            let is_h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                            let conn = builder.serve_connection(TokioIo::new(tls), service);
                            let ended = if is_h2 {
                                drop(h1_open);
                                h2.watch(conn).await
                            } else {
                                let _open = h1_open;
                                h1.watch(conn).await
                            };
                            if let Err(error) = ended {
                                tracing::debug!(%peer, %error, "Connection ended with an error");
                            }
                        });
                    }));
                }
                () = &mut shutdown => break,
            }
        }
        tracing::info!("Shutting down: no new connections; finishing in-flight reviews");
        drop(webhook);
        state.readiness.begin_drain();
        drop(h1_open);
        let h1_done = async move {
            // Busy connections end after their next answer; idle ones get a moment to be used.
            let _ = tokio::time::timeout(IDLE_HTTP1_WAIT, h1_closed.recv()).await;
            h1.shutdown().await;
        };
        if tokio::time::timeout(
            config.shutdown_timeout,
            futures::future::join(h1_done, h2.shutdown()),
        )
        .await
        .is_err()
        {
            tracing::warn!(timeout = ?config.shutdown_timeout, "Connections still open at the shutdown deadline");
        }
        connections.stop().await;
        let _ = stop_tx.send(true);
        let _ = admin_task.await;
        reloader.abort();
        // Close the audit log: the writer drains what is queued, flushes and ends.
        state.close_audit();
        tokio::task::spawn_blocking(move || audit_thread.join())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| anyhow::anyhow!("the audit writer did not end cleanly"))?;
        tracing::info!("Audit log flushed; bye");
        Ok(())
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "Cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
