//! Prometheus metrics of the webhook, served as text on the admin port's `/metrics`.

use std::{
    sync::{Arc, OnceLock, atomic::Ordering},
    time::Instant,
};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::{
    audit::{AuditCounters, AuditOperation, AuditVerdict},
    cluster::reconcile::{FlowLabels, ReconcileMetrics},
};

/// The labels of a review.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    pub path: &'static str,
    pub operation: &'static str,
    pub verdict: &'static str,
}

/// The labels of a certificate reload.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    pub result: String,
}

/// Everything the webhook counts.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub reviews: Family<ReviewLabels, Counter>,
    /// Handles on `reviews`' counters of the webhook's two paths, taken on a label set's first
    /// review: `Family::get_or_create` takes a lock the connection threads share and hashes the
    /// labels on every call, a handle is one atomic add.
    review_counters: [OnceLock<Counter>; REVIEW_LABEL_SETS],
    pub latency: Histogram,
    pub cert_reloads: Family<ReloadLabels, Counter>,
    audit_written: Counter,
    audit_dropped: Counter,
    audit_errors: Counter,
    audit_lost: Counter,
    snapshot_age: Gauge<f64, std::sync::atomic::AtomicU64>,
    view_gaps: Family<FlowLabels, Gauge>,
    /// Cluster views swapped in.
    pub views: Counter,
    /// Of those, the views that share the compiled NetworkPolicies of the view they replace.
    pub views_reusing_policies: Counter,
    /// The reconciler's own metrics, registered here and handed to it.
    pub reconcile: ReconcileMetrics,
    audit: Arc<AuditCounters>,
}

/// How many operations and verdicts a review is counted by (`operation_index`, `verdict_index`).
const OPERATION_COUNT: usize = 6;
const VERDICT_COUNT: usize = 5;

/// The label sets of the webhook's paths (`/validate`, `/mutate`): 2 paths × the operations ×
/// the verdicts.
const REVIEW_LABEL_SETS: usize = 2 * OPERATION_COUNT * VERDICT_COUNT;

/// Where an operation's counter sits among a path's (a new operation fails to compile here).
fn operation_index(operation: AuditOperation) -> usize {
    match operation {
        AuditOperation::Create => 0,
        AuditOperation::Update => 1,
        AuditOperation::Delete => 2,
        AuditOperation::Connect => 3,
        AuditOperation::Patch => 4,
        AuditOperation::Unknown => 5,
    }
}

/// Where a verdict's counter sits among an operation's (a new verdict fails to compile here).
fn verdict_index(verdict: AuditVerdict) -> usize {
    match verdict {
        AuditVerdict::Allowed => 0,
        AuditVerdict::Denied => 1,
        AuditVerdict::Patched => 2,
        AuditVerdict::Warned => 3,
        AuditVerdict::Invalid => 4,
    }
}

/// Latency buckets, most of them below a millisecond.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.000_75, 0.001, 0.002, 0.005, 0.01, 0.05, 0.25, 1.0,
];

impl Metrics {
    /// Registers every metric; audit counters are read from the writer's counters at scrape time.
    pub fn new(audit: Arc<AuditCounters>) -> Self {
        let mut registry = Registry::with_prefix("ignite_netpol");
        let reviews = registered(
            &mut registry,
            "reviews",
            "Admission reviews answered, by path, operation and verdict",
            Family::<ReviewLabels, Counter>::default(),
        );
        let latency = registered(
            &mut registry,
            "review_duration_seconds",
            "Time from request to answer",
            Histogram::new(LATENCY_BUCKETS),
        );
        let cert_reloads = registered(
            &mut registry,
            "tls_certificate_reloads",
            "Serving certificate reloads, by result",
            Family::<ReloadLabels, Counter>::default(),
        );
        let audit_written = registered(
            &mut registry,
            "audit_records_written",
            "Audit records written",
            Counter::default(),
        );
        let audit_dropped = registered(
            &mut registry,
            "audit_records_dropped",
            "Audit records dropped because the queue was full",
            Counter::default(),
        );
        let audit_lost = registered(
            &mut registry,
            "audit_records_lost",
            "Audit records that could not be written (a full disk, an I/O error)",
            Counter::default(),
        );
        let audit_errors = registered(
            &mut registry,
            "audit_write_errors",
            "Errors writing or flushing the audit log",
            Counter::default(),
        );
        let snapshot_age = registered(
            &mut registry,
            "snapshot_age_seconds",
            "Age of the cluster view decisions are made on",
            Gauge::<f64, std::sync::atomic::AtomicU64>::default(),
        );
        let view_gaps = registered(
            &mut registry,
            "view_gaps",
            "Targets the cluster view lacks, by flow kind: changes that isolate Ignite's egress cannot be proven safe until the configuration names them",
            Family::<FlowLabels, Gauge>::default(),
        );
        let views = registered(
            &mut registry,
            "cluster_views",
            "Cluster views swapped in (the live view builds one per burst of changes)",
            Counter::default(),
        );
        let views_reusing_policies = registered(
            &mut registry,
            "cluster_views_reusing_policies",
            "Cluster views that took the compiled NetworkPolicies of the view before (no NetworkPolicy changed in the burst)",
            Counter::default(),
        );
        let reconcile = ReconcileMetrics::default();
        reconcile.register(&mut registry);
        Self {
            review_counters: std::array::from_fn(|_| OnceLock::new()),
            reconcile,
            views,
            views_reusing_policies,
            view_gaps,
            registry,
            reviews,
            latency,
            cert_reloads,
            audit_written,
            audit_dropped,
            audit_errors,
            audit_lost,
            snapshot_age,
            audit,
        }
    }

    /// Counts one review.
    pub fn review(
        &self,
        path: &'static str,
        operation: AuditOperation,
        verdict: AuditVerdict,
        started: Instant,
    ) {
        let labels = || ReviewLabels {
            path,
            operation: operation.as_str(),
            verdict: verdict.as_str(),
        };
        let slot = match path {
            "/validate" => Some(0),
            "/mutate" => Some(1),
            _ => None,
        }
        .map(|p| {
            (p * OPERATION_COUNT + operation_index(operation)) * VERDICT_COUNT
                + verdict_index(verdict)
        })
        .and_then(|i| self.review_counters.get(i));
        match slot {
            Some(slot) => {
                slot.get_or_init(|| self.reviews.get_or_create(&labels()).clone())
                    .inc();
            }
            None => {
                self.reviews.get_or_create(&labels()).inc();
            }
        }
        self.latency.observe(started.elapsed().as_secs_f64());
    }

    /// Sets the view-gap gauge for DNS and the API server from a new view.
    pub fn set_view_gaps(&self, gaps: &[crate::ignite::environment::Gap]) {
        use crate::ignite::flows::FlowKind;
        for kind in [FlowKind::Dns, FlowKind::Apiserver] {
            let n = gaps.iter().filter(|g| g.flow == kind).count();
            self.view_gaps
                .get_or_create(&FlowLabels {
                    flow: kind.to_string(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Counts a certificate reload.
    pub fn cert_reload(&self, ok: bool) {
        let result = if ok { "success" } else { "failure" };
        self.cert_reloads
            .get_or_create(&ReloadLabels {
                result: result.into(),
            })
            .inc();
    }

    /// The text exposition, with gauges brought up to date.
    pub fn encode(&self, snapshot_loaded: Instant) -> String {
        sync_counter(
            &self.audit_written,
            self.audit.written.load(Ordering::Relaxed),
        );
        sync_counter(
            &self.audit_dropped,
            self.audit.dropped.load(Ordering::Relaxed),
        );
        sync_counter(&self.audit_lost, self.audit.lost.load(Ordering::Relaxed));
        sync_counter(
            &self.audit_errors,
            self.audit.write_errors.load(Ordering::Relaxed),
        );
        self.snapshot_age
            .set(snapshot_loaded.elapsed().as_secs_f64());
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out = "# metrics could not be encoded\n".into();
        }
        out
    }
}

/// Registers `metric` under `name` and hands it back (the registry keeps a clone).
fn registered<M>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M
where
    M: prometheus_client::registry::Metric + Clone,
{
    registry.register(name, help, metric.clone());
    metric
}

/// Raises a counter to a total kept elsewhere.
fn sync_counter(counter: &Counter, total: u64) {
    let current = counter.get();
    if total > current {
        counter.inc_by(total - current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPERATIONS: [AuditOperation; OPERATION_COUNT] = [
        AuditOperation::Create,
        AuditOperation::Update,
        AuditOperation::Delete,
        AuditOperation::Connect,
        AuditOperation::Patch,
        AuditOperation::Unknown,
    ];
    const VERDICTS: [AuditVerdict; VERDICT_COUNT] = [
        AuditVerdict::Allowed,
        AuditVerdict::Denied,
        AuditVerdict::Patched,
        AuditVerdict::Warned,
        AuditVerdict::Invalid,
    ];

    /// Every label set counts into its own series, through a cached handle or (another path)
    /// the family: a different number of reviews per set, and each series reads its own.
    #[test]
    fn every_review_label_set_counts_apart() {
        let metrics = Metrics::new(Arc::default());
        let started = Instant::now();
        let mut expected = Vec::new();
        let mut n = 0;
        for path in ["/validate", "/mutate", "/elsewhere"] {
            for operation in OPERATIONS {
                for verdict in VERDICTS {
                    n += 1;
                    for _ in 0..n {
                        metrics.review(path, operation, verdict, started);
                    }
                    expected.push(format!(
                        "ignite_netpol_reviews_total{{path=\"{path}\",operation=\"{}\",verdict=\"{}\"}} {n}",
                        operation.as_str(),
                        verdict.as_str()
                    ));
                }
            }
        }
        let text = metrics.encode(started);
        for line in &expected {
            assert!(text.lines().any(|l| l == line), "missing {line:?}");
        }
        let series = text
            .lines()
            .filter(|l| l.starts_with("ignite_netpol_reviews_total{"))
            .count();
        assert_eq!(series, expected.len(), "one series per label set");
    }
}
