//! What every handler shares: the cluster view decisions are made on (swapped whole by the live
//! view), the configuration, metrics, readiness, limits, and where audit records go.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use arc_swap::{ArcSwap, ArcSwapOption};

use super::Metrics;
use crate::{
    audit::{AuditRecord, AuditSink},
    ignite::{Compiled, Environment},
};

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
    /// Deadline for the request body (the only wait in a review; the decision is synchronous).
    pub request_timeout: Duration,
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

/// What every handler shares.
#[derive(Debug)]
pub struct AppState {
    pub view: ArcSwap<ClusterView>,
    pub config: Compiled,
    pub metrics: Metrics,
    pub readiness: Readiness,
    pub limits: Limits,
    pub on_unsynced: OnUnsynced,
    /// Where records go; `None` once closed at shutdown (so the writer drains and ends). Read
    /// on every review without a shared lock: the connection threads taking one read lock per
    /// record contend on its counter.
    audit: ArcSwapOption<Arc<dyn AuditSink>>,
    /// What the last view lacked or guessed, as logged (to log a change once).
    view_problems: std::sync::Mutex<Vec<String>>,
}

impl AuditSink for AppState {
    /// Queues an audit record (dropped and counted once the log is closed).
    fn record(&self, record: AuditRecord) {
        // Sent through a guard (a `try_send`, never blocking) rather than a clone of the
        // sender: a clone and its drop are two atomic writes every connection thread contends
        // on. A record sent through a guard taken just before the close still lands: the
        // writer ends only once the last sender is gone, and drains the queue first.
        match &*self.audit.load() {
            Some(s) => s.record(record),
            None => tracing::warn!(uid = %record.uid, "Audit log closed: record dropped"),
        }
    }
}

/// Where the server is in its life: the view synced, ready for probes, draining at shutdown.
#[derive(Debug)]
pub struct Readiness {
    ready: AtomicBool,
    synced: AtomicBool,
    draining: AtomicBool,
}

impl Readiness {
    /// Ready for probes: synced and not shutting down.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The cluster view has been loaded at least once.
    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Shutting down: HTTP/1.1 answers say `Connection: close`.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// SIGTERM: not ready any more, and draining.
    pub fn begin_drain(&self) {
        self.ready.store(false, Ordering::Release);
        self.draining.store(true, Ordering::Release);
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
            readiness: Readiness {
                ready: AtomicBool::new(answering.ready),
                synced: AtomicBool::new(answering.ready),
                draining: AtomicBool::new(false),
            },
            limits: answering.limits,
            on_unsynced: answering.on_unsynced,
            audit: ArcSwapOption::from_pointee(audit),
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

    /// Closes the audit log: the writer drains what is queued, flushes and ends once every
    /// sender is gone; later records are dropped and counted.
    pub(super) fn close_audit(&self) {
        self.audit.store(None);
    }

    /// Replaces the cluster view (the live view does this on every change) and marks the
    /// server ready.
    pub fn set_view(&self, env: Arc<Environment>) {
        self.note_view(&env);
        let compiled = env.cluster.compiled_policies();
        let before = self.view.swap(Arc::new(ClusterView {
            env,
            loaded: Instant::now(),
        }));
        if before.env.cluster.compiled_policies().is(&compiled) {
            self.metrics.views_reusing_policies.inc();
        }
        self.readiness.synced.store(true, Ordering::Release);
        self.readiness.ready.store(true, Ordering::Release);
        self.metrics.views.inc();
    }
}
