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

mod admin;
pub mod metrics;
pub mod tls;
pub mod webhook;

use std::{
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use arc_swap::ArcSwap;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::{
    audit::{self, AuditConfig, AuditRecord, AuditSink},
    ignite::{Compiled, Environment},
};

pub use metrics::Metrics;
pub use tls::{CertFiles, ReloadingResolver};
pub use webhook::router;

/// The cluster view decisions are made on, and when it was loaded.
#[derive(Debug)]
pub struct ClusterView {
    pub env: Arc<Environment>,
    pub loaded: Instant,
}

/// Limits on each request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_body: usize,
    pub body_timeout: Duration,
    pub request_timeout: Duration,
}

/// How long, at shutdown, an HTTP/1.1 connection may stay open for one more request (answered
/// with `Connection: close`) before it is closed; a connection busy under load gets its next
/// request within milliseconds.
const IDLE_HTTP1_WAIT: Duration = Duration::from_secs(1);

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub view: ArcSwap<ClusterView>,
    pub config: Compiled,
    pub metrics: Metrics,
    /// Readiness for probes: synced and not shutting down.
    pub ready: AtomicBool,
    /// The cluster view has been loaded at least once.
    pub synced: AtomicBool,
    /// Shutting down: HTTP/1.1 answers say `Connection: close`.
    pub draining: AtomicBool,
    pub limits: Limits,
    pub on_unsynced: OnUnsynced,
    /// Where records go; `None` once closed at shutdown (so the writer drains and ends).
    audit: RwLock<Option<Arc<dyn AuditSink>>>,
    /// What the last view lacked or guessed, as logged (to log a change once).
    view_problems: std::sync::Mutex<Vec<String>>,
}

impl AuditSink for AppState {
    /// Queues an audit record (dropped and counted once the log is closed).
    fn record(&self, record: AuditRecord) {
        let sender = self.audit.read().ok().and_then(|g| g.clone());
        match sender {
            Some(s) => s.record(record),
            None => tracing::warn!(uid = %record.uid, "Audit log closed: record dropped"),
        }
    }
}

/// How the handlers answer: request limits, the answer while unsynced, and whether the view
/// given at start is already the one to decide on (snapshot files) or the live view's first is
/// awaited.
#[derive(Clone, Copy, Debug)]
pub struct Answering {
    pub limits: Limits,
    pub on_unsynced: OnUnsynced,
    pub ready: bool,
}

impl AppState {
    /// The state handlers share, deciding on `env` with `config`, recording to `audit`.
    pub fn new(
        env: Environment,
        config: Compiled,
        metrics: Metrics,
        answering: Answering,
        audit: Arc<dyn AuditSink>,
    ) -> Self {
        let state = Self {
            view: ArcSwap::from_pointee(ClusterView {
                env: Arc::new(env),
                loaded: Instant::now(),
            }),
            config,
            metrics,
            ready: AtomicBool::new(answering.ready),
            synced: AtomicBool::new(answering.ready),
            draining: AtomicBool::new(false),
            limits: answering.limits,
            on_unsynced: answering.on_unsynced,
            audit: RwLock::new(Some(audit)),
            view_problems: std::sync::Mutex::new(Vec::new()),
        };
        if answering.ready {
            let view = state.view.load();
            state.note_view(&view.env);
        }
        state
    }

    /// Says what a new view lacks or had to guess — once, not on every rebuild — and exposes the
    /// gaps as a gauge.
    fn note_view(&self, env: &Environment) {
        self.metrics.set_view_gaps(&env.gaps);
        let said: Vec<String> = env
            .gaps
            .iter()
            .map(|g| format!("not checked: {g}"))
            .chain(env.notes.iter().cloned())
            .collect();
        let Ok(mut last) = self.view_problems.lock() else {
            return;
        };
        if *last != said {
            for gap in &env.gaps {
                tracing::warn!(flow = %gap.flow, key = gap.key, "Cannot check Ignite's flows: {gap}");
            }
            for note in &env.notes {
                tracing::warn!("{note}");
            }
            *last = said;
        }
    }

    /// Replaces the cluster view (the live view does this on every change) and marks the
    /// server ready.
    pub fn set_view(&self, env: Arc<Environment>) {
        self.note_view(&env);
        self.view.store(Arc::new(ClusterView {
            env,
            loaded: Instant::now(),
        }));
        self.synced.store(true, Ordering::Release);
        self.ready.store(true, Ordering::Release);
    }
}

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
}

/// The answer while the cluster view is not synced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnUnsynced {
    /// Refuse: better a retried `kubectl apply` than a decision on a partial view.
    #[default]
    Deny,
    /// Admit, with a warning.
    Allow,
}

impl std::str::FromStr for OnUnsynced {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "deny" => Ok(Self::Deny),
            "allow" => Ok(Self::Allow),
            other => Err(format!("unknown value {other:?} (expected deny or allow)")),
        }
    }
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
                    let acceptor = acceptor.clone();
                    let service = TowerToHyperService::new(app.clone());
                    let builder = builder.clone();
                    let (h1, h2, h1_open) = (h1.watcher(), h2.watcher(), h1_open.clone());
                    let handshake_timeout = config.header_timeout;
                    tokio::spawn(async move {
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
                }
                () = &mut shutdown => break,
            }
        }
        tracing::info!("Shutting down: no new connections; finishing in-flight reviews");
        drop(webhook);
        state.ready.store(false, Ordering::Release);
        state.draining.store(true, Ordering::Release);
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
        let _ = stop_tx.send(true);
        let _ = admin_task.await;
        reloader.abort();
        // Close the audit log: the writer drains what is queued, flushes and ends.
        if let Ok(mut sender) = state.audit.write() {
            sender.take();
        }
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
