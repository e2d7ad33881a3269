//! The reconciler: after every change of the cluster view, judge every in-scope namespace.
//!
//! - `report`: a gauge of namespaces cut off per missing flow kind, and a Kubernetes Event
//!   (`Warning IgniteCutOff`) on each offending NetworkPolicy — once per distinct problem, not
//!   once per loop.
//! - `update`: also rewrite the rules recorded in `ignite-netpol.io/managed-rules` when the API
//!   server's or DNS's addresses moved, with a JSON patch that first tests the resourceVersion;
//!   a conflict re-reads the policy and tries again, so nobody's edit is clobbered. A view that
//!   still shows a version the API has moved past (its watch event trails our write) does not
//!   write the policy again. Every change is audited.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    str::FromStr,
    sync::Arc,
};

use k8s_openapi::api::{core::v1::ObjectReference, networking::v1::NetworkPolicy};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
    runtime::events::{Event, EventType, Recorder, Reporter},
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use crate::{
    audit::{AuditRecord, AuditSink},
    ignite::{Compiled, Environment, Mode, flows::FlowKind, refresh, report, scope},
    policy::{GoneMark, PodInfo, PodSet},
};

/// The NetworkPolicies a view was built from, shared with the watcher's store.
pub type Policies = Arc<[Arc<NetworkPolicy>]>;

/// What the reconciler does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReconcileMode {
    Off,
    #[default]
    Report,
    Update,
}

impl FromStr for ReconcileMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Self::Off),
            "report" => Ok(Self::Report),
            "update" => Ok(Self::Update),
            other => Err(format!(
                "unknown reconcile mode {other:?} (expected off, report or update)"
            )),
        }
    }
}

/// The label of a flow kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlowLabels {
    pub flow: String,
}

/// What the reconciler counts: registered by the server's metrics, updated here.
#[derive(Clone, Debug, Default)]
pub struct ReconcileMetrics {
    cut_off: Family<FlowLabels, Gauge>,
    runs: Counter,
    skipped: Counter,
}

impl ReconcileMetrics {
    /// Registers the gauge and the counter.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "namespaces_cut_off",
            "In-scope namespaces whose Ignite pods miss a required flow, by flow kind (reconciler)",
            self.cut_off.clone(),
        );
        registry.register(
            "reconcile_runs",
            "Views the reconciler has judged",
            self.runs.clone(),
        );
        registry.register(
            "reconcile_skipped",
            "Views not judged: nothing an Ignite namespace's verdicts read had changed",
            self.skipped.clone(),
        );
    }

    /// Sets the cut-off gauge for every flow kind (0 where none is cut).
    fn set_cut_off(&self, counts: &BTreeMap<FlowKind, usize>) {
        for kind in [
            FlowKind::Dns,
            FlowKind::Apiserver,
            FlowKind::Peer,
            FlowKind::Extra,
        ] {
            let n = counts.get(&kind).copied().unwrap_or(0);
            self.cut_off
                .get_or_create(&FlowLabels {
                    flow: kind.to_string(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

/// Attempts per policy when its resourceVersion keeps changing under us.
const ATTEMPTS: usize = 3;

/// The reconciler's state between views.
pub struct Reconciler {
    client: Client,
    cfg: Compiled,
    mode: ReconcileMode,
    recorder: Recorder,
    metrics: ReconcileMetrics,
    audit: Arc<dyn AuditSink>,
    /// The problem last reported per offending policy, so an Event is sent once per problem.
    reported: HashMap<(String, String), String>,
    /// The [`relevance`] of the last view judged in full.
    judged: Option<u64>,
    /// What [`relevance`] keeps between views.
    carried: Carried,
    /// Per policy rewritten (or found current on a re-read), the resourceVersions that the API
    /// has since moved past: a view still showing one lags behind our own write, and the
    /// policy is left to the view that brings it (compared for equality only, as the API
    /// conventions ask of resourceVersions).
    superseded: HashMap<(String, String), Vec<String>>,
}

impl Reconciler {
    /// A reconciler publishing Events as `instance` of the `ignite-netpol` controller.
    pub fn new(
        client: Client,
        cfg: Compiled,
        mode: ReconcileMode,
        metrics: ReconcileMetrics,
        audit: Arc<dyn AuditSink>,
        instance: Option<String>,
    ) -> Self {
        let reporter = Reporter {
            controller: "ignite-netpol".into(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            cfg,
            mode,
            metrics,
            audit,
            reported: HashMap::new(),
            judged: None,
            carried: Carried::default(),
            superseded: HashMap::new(),
        }
    }

    /// Reacts to a new view — unless nothing that an Ignite namespace's verdicts read has
    /// changed since the last view judged in full ([`relevance`]). The judging runs on a
    /// blocking thread, off the threads that answer reviews.
    pub async fn on_view(&mut self, env: Arc<Environment>, policies: Policies) {
        if self.mode == ReconcileMode::Off {
            return;
        }
        let judged = {
            let (env, policies, cfg, mode, last) = (
                env.clone(),
                policies.clone(),
                self.cfg.clone(),
                self.mode,
                self.judged,
            );
            let mut carried = std::mem::take(&mut self.carried);
            tokio::task::spawn_blocking(move || {
                let digest = relevance(&env, &policies, &cfg, &mut carried);
                if last == Some(digest) {
                    return (carried, digest, None);
                }
                let stale = if mode == ReconcileMode::Update {
                    stale_managed(&env, &policies, &cfg)
                } else {
                    Vec::new()
                };
                (carried, digest, Some((stale, report::scan(&env, &cfg))))
            })
            .await
        };
        let Ok((carried, digest, verdicts)) = judged else {
            tracing::error!("The reconciler's judging failed; trying again on the next view");
            return;
        };
        self.carried = carried;
        let Some((stale, mut reports)) = verdicts else {
            tracing::debug!("No change that matters to an Ignite namespace; not reconciled");
            self.metrics.skipped.inc();
            return;
        };
        // What the API has moved past is kept only while a view still shows it.
        self.superseded.retain(|(namespace, name), versions| {
            policies.iter().any(|np| {
                np.metadata.namespace.as_deref() == Some(namespace)
                    && np.metadata.name.as_deref() == Some(name)
                    && np
                        .metadata
                        .resource_version
                        .as_ref()
                        .is_some_and(|rv| versions.contains(rv))
            })
        });
        let mut settled = true;
        let mut rewritten = BTreeSet::new();
        for np in stale {
            let namespace = np.metadata.namespace.clone().unwrap_or_default();
            let key = (
                namespace.clone(),
                np.metadata.name.clone().unwrap_or_default(),
            );
            let lagging = np.metadata.resource_version.as_ref().is_some_and(|rv| {
                self.superseded
                    .get(&key)
                    .is_some_and(|versions| versions.contains(rv))
            });
            if lagging {
                tracing::debug!(namespace = %key.0, name = %key.1, "The view lags behind our rewrite; not rewritten again");
                rewritten.insert(namespace);
                continue;
            }
            let (done, moved_past) = self.update_one(&env, np).await;
            if done {
                rewritten.insert(namespace);
                self.superseded.entry(key).or_default().extend(moved_past);
            } else {
                settled = false;
            }
        }
        // A namespace whose rules were just rewritten, or found current in the API on a re-read,
        // is judged on the next view (the change brings one), not reported cut off for the
        // problem already fixed: this view lags behind the API.
        reports.retain(|r| !rewritten.contains(&r.namespace));
        self.metrics.set_cut_off(&report::cut_off_by_flow(&reports));
        self.publish_events(&reports, &policies).await;
        self.metrics.runs.inc();
        // A rewrite that did not land is tried again on the next view, whatever it changes.
        self.judged = settled.then_some(digest);
    }

    /// One Event per namespace and problem, on the policy to look at: the one whose managed
    /// rules went stale if any, else the first that blocks.
    async fn publish_events(
        &mut self,
        reports: &[report::NamespaceReport],
        policies: &[Arc<NetworkPolicy>],
    ) {
        let mut current: HashMap<(String, String), String> = HashMap::new();
        for r in reports.iter().filter(|r| r.broken()) {
            let mut flows: Vec<String> = r
                .missing
                .iter()
                .map(|m| format!("{} {} {}/{}", m.flow, m.target, m.port, m.protocol))
                .collect();
            flows.sort();
            flows.dedup();
            let problem = flows.join("; ");
            let offending = r.offending_policies();
            let name_of = |p: &String| p.rsplit('/').next().unwrap_or(p).to_string();
            let managed = offending.iter().map(name_of).find(|name| {
                policies
                    .iter()
                    .find(|np| {
                        np.metadata.namespace.as_deref() == Some(r.namespace.as_str())
                            && np.metadata.name.as_deref() == Some(name.as_str())
                    })
                    .and_then(|np| np.metadata.annotations.as_ref())
                    .is_some_and(|a| a.contains_key(crate::ignite::patch::MANAGED_RULES_ANNOTATION))
            });
            if let Some(name) = managed.or_else(|| offending.first().map(name_of)) {
                current.insert((r.namespace.clone(), name), problem);
            }
        }
        for ((namespace, name), problem) in &current {
            if self.reported.get(&(namespace.clone(), name.clone())) == Some(problem) {
                continue;
            }
            let note: String = format!("Ignite pods in {namespace} are cut off: {problem}")
                .chars()
                .take(1000)
                .collect();
            let event = Event {
                type_: EventType::Warning,
                reason: "IgniteCutOff".into(),
                note: Some(note),
                action: "Evaluate".into(),
                secondary: None,
            };
            let reference = ObjectReference {
                api_version: Some("networking.k8s.io/v1".into()),
                kind: Some("NetworkPolicy".into()),
                namespace: Some(namespace.clone()),
                name: Some(name.clone()),
                ..ObjectReference::default()
            };
            match self.recorder.publish(&event, &reference).await {
                Ok(()) => {
                    tracing::warn!(%namespace, policy = %name, %problem, "Ignite is cut off; Event published")
                }
                Err(error) => {
                    tracing::error!(%namespace, policy = %name, %error, "Cannot publish Event")
                }
            }
        }
        self.reported = current;
    }

    /// Rewrites one policy's stale managed rules. Returns whether they are current in the API
    /// now (a rewrite landed, or the policy re-read after a conflict needs none: another writer,
    /// or our own rewrite of a view before, got there first), and the resourceVersions read
    /// here that the API has moved past (the one a landed patch was based on, and each one a
    /// re-read replaced; never a re-read found current).
    async fn update_one(&self, env: &Environment, mut np: NetworkPolicy) -> (bool, Vec<String>) {
        let namespace = np.metadata.namespace.clone().unwrap_or_default();
        let name = np.metadata.name.clone().unwrap_or_default();
        let api: Api<NetworkPolicy> = Api::namespaced(self.client.clone(), &namespace);
        // The resourceVersions of the versions read here that the API has moved past.
        let mut moved_past: Vec<String> = Vec::new();
        for attempt in 1..=ATTEMPTS {
            let Some(patch) = refresh::refresh_managed(&np, env, &self.cfg) else {
                if attempt > 1 {
                    tracing::info!(%namespace, %name, "Managed rules already current");
                }
                return (attempt > 1, moved_past);
            };
            let started = std::time::Instant::now();
            match api
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Json::<()>(patch.clone()),
                )
                .await
            {
                Ok(_) => {
                    tracing::info!(%namespace, %name, "Rewrote managed rules");
                    let latency_us =
                        u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    self.audit.record(AuditRecord::reconciled(
                        &namespace, &name, patch, latency_us,
                    ));
                    moved_past.extend(np.metadata.resource_version.take());
                    return (true, moved_past);
                }
                Err(kube::Error::Api(e))
                    if (e.code == 409 || e.code == 422) && attempt < ATTEMPTS =>
                {
                    tracing::info!(%namespace, %name, attempt, "Policy changed meanwhile; re-reading");
                    match api.get(&name).await {
                        Ok(fresh) => {
                            moved_past.extend(np.metadata.resource_version.take());
                            np = fresh;
                        }
                        Err(error) => {
                            tracing::error!(%namespace, %name, %error, "Cannot re-read policy");
                            return (false, moved_past);
                        }
                    }
                }
                Err(error) => {
                    tracing::error!(%namespace, %name, %error, "Cannot rewrite managed rules");
                    return (false, moved_past);
                }
            }
        }
        (false, moved_past)
    }
}

/// The managed policies of in-scope namespaces whose rules went stale; none while the view is
/// incomplete (rules rebuilt from a view that lacks a target would drop what it lacks).
fn stale_managed(
    env: &Environment,
    policies: &[Arc<NetworkPolicy>],
    cfg: &Compiled,
) -> Vec<NetworkPolicy> {
    if env.is_incomplete() {
        tracing::warn!(gaps = ?env.gaps.iter().map(ToString::to_string).collect::<Vec<_>>(), "Not updating managed rules: the cluster view is incomplete");
        return Vec::new();
    }
    let mut in_scope: HashMap<&str, bool> = HashMap::new();
    let mut out = Vec::new();
    for np in policies {
        let namespace = np.metadata.namespace.as_deref().unwrap_or_default();
        let judged = *in_scope.entry(namespace).or_insert_with(|| {
            let has_ignite = !scope::ignite_pods(&env.cluster, cfg, namespace).is_empty();
            let (mode, _) = scope::namespace_mode(&env.cluster, cfg, namespace, None, has_ignite);
            mode != Mode::Off
        });
        if judged && refresh::refresh_managed(np, env, cfg).is_some() {
            out.push((**np).clone());
        }
    }
    out
}

/// A digest of what the reconciler's verdicts read: every namespace's labels (selectors range
/// over them); the pods and NetworkPolicies of the namespaces that matter to Ignite — those
/// with Ignite pods or pods that look like Ignite, the DNS and API server Services'
/// namespaces, the `extraFlows` peers' namespaces and those of host-network pods (whose
/// addresses are nodes'); the resolved API server and DNS targets; the cluster-wide policies
/// and Nodes. A change elsewhere — a pod or a policy of an application namespace — leaves it
/// as it was, and the reconciler does not judge the view again.
///
/// `carried` holds what the last call counted for the next (a fresh one for a first call).
pub fn relevance(
    env: &Environment,
    policies: &Policies,
    cfg: &Compiled,
    carried: &mut Carried,
) -> u64 {
    use std::hash::{BuildHasher, DefaultHasher, Hash, Hasher};
    let cluster = &env.cluster;
    let mut h = DefaultHasher::new();
    let mut relevant: BTreeSet<&str> = BTreeSet::new();
    relevant.insert(env.dns.namespace.as_str());
    relevant.insert(cfg.config.api_server.service.namespace.as_str());
    relevant.extend(cfg.extra_flows.iter().map(|(f, _)| f.namespace.as_str()));
    let peer_ports = cfg.config.peer_ports();
    let flags = |p: &PodInfo| {
        p.host_network || scope::is_ignite(cfg, p) || scope::declares_port(p, &peer_ports)
    };
    let flagged_namespaces = carried.flagged.namespaces(cluster.pod_set(), flags);
    relevant.extend(
        flagged_namespaces
            .iter()
            .filter_map(|ns| cluster.namespace(ns))
            .map(|ns| ns.name.as_str()),
    );
    // Every namespace's labels, in no particular order: hashed one by one (with a fast hash:
    // thousands of them on every view) and added up.
    let fast = foldhash::fast::FixedState::with_seed(0x7265_6c65_7661);
    let labels = cluster.namespaces().fold(0u64, |sum, ns| {
        sum.wrapping_add(fast.hash_one((&ns.name, &ns.labels)))
    });
    labels.hash(&mut h);
    // Stores list in no particular order: every part is sorted before it is hashed.
    let mut parts: Vec<String> = Vec::new();
    for ns in &relevant {
        parts.extend(cluster.pods_in(ns).map(|pod| format!("{pod:?}")));
    }
    let by_namespace = carried.policies(policies);
    for ns in &relevant {
        parts.extend(by_namespace.get(*ns).into_iter().flatten().cloned());
    }
    parts.extend(cluster.nodes().map(|node| format!("{node:?}")));
    parts.extend(
        cluster
            .all_cluster_policies()
            .iter()
            .map(|p| format!("{p:?}")),
    );
    parts.sort_unstable();
    parts.hash(&mut h);
    let (mut dns, mut api) = (env.dns.clone(), env.api_server.clone());
    dns.pods.sort_unstable();
    dns.ports.sort_unstable();
    dns.service_ports.sort_unstable();
    dns.addresses.sort_unstable();
    api.endpoints.sort_unstable();
    let mut gaps: Vec<String> = env.gaps.iter().map(|g| format!("{g:?}")).collect();
    gaps.sort_unstable();
    format!("{api:?} {dns:?} {gaps:?}").hash(&mut h);
    h.finish()
}

/// What [`relevance`] keeps from one view to the next (a fresh one for a first call).
#[derive(Debug, Default)]
pub struct Carried {
    flagged: Flagged,
    /// The policy list last read (held, so its address is not reused while noted) and its
    /// policies' parts of the digest by namespace: the view loop hands over the same list
    /// while no NetworkPolicy changed, and 30,000 policies are not read again.
    policies: Option<(Policies, HashMap<String, Vec<String>>)>,
}

impl Carried {
    /// Each namespace's policies, as the digest names them: by resourceVersion (the API
    /// server changes it on every write), or whole where there is none (snapshot files).
    fn policies(&mut self, policies: &Policies) -> &HashMap<String, Vec<String>> {
        let noted = self
            .policies
            .take()
            .filter(|(list, _)| Arc::ptr_eq(list, policies));
        let (_, parts) = self.policies.insert(noted.unwrap_or_else(|| {
            let mut parts: HashMap<String, Vec<String>> = HashMap::new();
            for np in policies.iter() {
                let namespace = np.metadata.namespace.clone().unwrap_or_default();
                let part = match &np.metadata.resource_version {
                    Some(version) => format!(
                        "{namespace}/{} {version}",
                        np.metadata.name.as_deref().unwrap_or_default()
                    ),
                    None => serde_json::to_string(&**np).unwrap_or_default(),
                };
                parts.entry(namespace).or_default().push(part);
            }
            (policies.clone(), parts)
        }));
        parts
    }
}

/// The namespaces of the pods that make their namespace matter to Ignite — host-network pods
/// (whose addresses are nodes'), Ignite pods and pods that look like Ignite
/// ([`scope::ignite_pods`], [`scope::suspect_pods`]) — counted once over a view's shared pod
/// base, then kept up to date by what each view changed since the last ([`PodSet`]): a view
/// that changed a hundred pods looks at a hundred pods, not at every pod of the cluster nor at
/// everything changed since the base.
#[derive(Debug, Default)]
pub struct Flagged {
    /// The base counted.
    base: Option<u64>,
    /// Flagged pods per namespace in the set last counted.
    counts: HashMap<String, usize>,
    /// Which base pods were gone in that set.
    gone: GoneMark,
    /// That set's added pods by address (held, so no address is reused while noted): whether
    /// each is flagged, and the count that last saw it.
    added: HashMap<usize, (Arc<PodInfo>, bool, u64)>,
    /// Counts made.
    generation: u64,
}

impl Flagged {
    /// The namespaces with at least one pod of `pods` that `flags`, sorted. `flags` must be
    /// the same on every call.
    fn namespaces(&mut self, pods: &PodSet, flags: impl Fn(&PodInfo) -> bool) -> Vec<String> {
        if self.base != Some(pods.base_id()) {
            *self = Self {
                base: Some(pods.base_id()),
                ..Self::default()
            };
            for pod in pods.base_pods() {
                if flags(pod) {
                    self.count(&pod.namespace, true);
                }
            }
        }
        // Base pods gone since the last count, and any back.
        let flagged: Vec<(&PodInfo, bool)> = pods
            .gone_since(&self.gone)
            .filter(|(pod, _)| flags(pod))
            .collect();
        for (pod, gone) in flagged {
            self.count(&pod.namespace, !gone);
        }
        self.gone = pods.gone_mark();
        // Pods added since the last count, and those no longer there.
        self.generation += 1;
        let generation = self.generation;
        for pod in pods.added_to_base() {
            let key = Arc::as_ptr(pod) as usize;
            if let Some(noted) = self.added.get_mut(&key) {
                noted.2 = generation;
                continue;
            }
            let flagged = flags(pod);
            if flagged {
                self.count(&pod.namespace, true);
            }
            self.added.insert(key, (pod.clone(), flagged, generation));
        }
        let mut left = Vec::new();
        self.added.retain(|_, (pod, flagged, seen)| {
            let keep = *seen == generation;
            if !keep && *flagged {
                left.push(pod.clone());
            }
            keep
        });
        for pod in left {
            self.count(&pod.namespace, false);
        }
        let mut out: Vec<String> = self
            .counts
            .iter()
            .filter(|&(_, &n)| n > 0)
            .map(|(ns, _)| ns.clone())
            .collect();
        out.sort_unstable();
        out
    }

    /// One flagged pod more (or less) in `namespace`.
    fn count(&mut self, namespace: &str, more: bool) {
        match self.counts.get_mut(namespace) {
            Some(n) if more => *n += 1,
            Some(n) => *n = n.saturating_sub(1),
            None if more => {
                self.counts.insert(namespace.to_string(), 1);
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::ClusterSnapshot;

    /// The seed cluster plus `extra` (YAML documents): the objects, their model and their
    /// NetworkPolicies.
    fn seed(extra: &str) -> (ClusterSnapshot, Environment, Policies) {
        let mut snapshot = ClusterSnapshot::default();
        snapshot
            .add_text(include_str!("../../examples/seed/cluster.yaml"), "seed")
            .expect("seed");
        if !extra.is_empty() {
            snapshot.add_text(extra, "extra").expect("extra");
        }
        let env = Environment::build(&snapshot, &Compiled::default()).expect("model");
        let policies: Policies = snapshot
            .network_policies
            .as_slice()
            .iter()
            .cloned()
            .map(Arc::new)
            .collect();
        (snapshot, env, policies)
    }

    /// The digest of what the reconciler reads in the seed cluster plus `extra`.
    fn digest(extra: &str) -> u64 {
        let (_, env, policies) = seed(extra);
        relevance(
            &env,
            &policies,
            &Compiled::default(),
            &mut Carried::default(),
        )
    }

    /// The flagged namespaces carried from view to view — counted over the shared base once,
    /// then over each view's changes — give the digest a fresh count gives.
    #[test]
    fn relevance_carried_across_derived_views_matches_a_fresh_count() {
        use crate::{
            ignite::targets::Objects,
            policy::{Cluster, PodChange},
        };
        // A policy in cache-ns and in grid: hashed while the namespace matters, not otherwise.
        let extra: Vec<String> = ["cache-ns", "grid"]
            .iter()
            .map(|namespace| {
                format!(
                    "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n---\n\
                     apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n\
                     metadata: {{name: deny, namespace: {namespace}}}\n\
                     spec: {{podSelector: {{}}, policyTypes: [Egress]}}\n"
                )
            })
            .collect();
        let (snapshot, env, policies) = seed(&extra.join("---\n"));
        let cfg = Compiled::default();
        let mut carried = Carried::default();
        let first = relevance(&env, &policies, &cfg, &mut carried);
        assert_eq!(
            first,
            relevance(&env, &policies, &cfg, &mut Carried::default())
        );

        // The Ignite pod moves from cache-ns (which keeps its policies) to a new namespace.
        let ignite = env.cluster.pod("cache-ns", "ignite-0").expect("seed pod");
        let moved = PodInfo {
            namespace: "grid".into(),
            ..ignite.clone()
        };
        let change = |namespace: &str, pod: Option<PodInfo>| PodChange {
            namespace: namespace.into(),
            name: "ignite-0".into(),
            pod: pod.map(Arc::new),
        };
        let pods = env
            .cluster
            .pod_set()
            .changed([change("cache-ns", None), change("grid", Some(moved))]);
        assert_eq!(pods.base_id(), env.cluster.pod_set().base_id());
        let cluster = Cluster::from_pod_set(
            env.cluster.namespace_set(),
            pods,
            snapshot.network_policies.as_slice(),
        )
        .expect("model");
        let objects = Objects {
            services: snapshot.services.as_slice(),
            endpoint_slices: snapshot.endpoint_slices.as_slice(),
        };
        let next = Environment::new(cluster, objects, &cfg);
        // The same pods indexed afresh, in one layer.
        let afresh = Cluster::from_parts(
            snapshot.namespaces.as_slice(),
            next.cluster.pods().cloned().collect::<Vec<_>>(),
            snapshot.network_policies.as_slice(),
        )
        .expect("model");
        let afresh = Environment::new(afresh, objects, &cfg);
        let second = relevance(&next, &policies, &cfg, &mut carried);
        assert_eq!(
            second,
            relevance(&afresh, &policies, &cfg, &mut Carried::default())
        );
        assert_ne!(second, first, "the Ignite pod moved");
        // And back again, from the same base.
        let third = relevance(&env, &policies, &cfg, &mut carried);
        assert_eq!(third, first);
        // The same policies in a new list read the same; a changed one in cache-ns does not.
        let copied: Policies = policies.iter().cloned().collect();
        assert_eq!(relevance(&env, &copied, &cfg, &mut carried), first);
        let changed: Policies = policies
            .iter()
            .map(|np| {
                let mut np = (**np).clone();
                np.metadata.resource_version = Some("8".into());
                Arc::new(np)
            })
            .collect();
        assert_ne!(relevance(&env, &changed, &cfg, &mut carried), first);
    }

    fn apps_pod(name: &str, spec: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: apps, labels: {{app: web}}}}\n\
             spec: {spec}\nstatus: {{podIP: 172.21.33.9, podIPs: [{{ip: 172.21.33.9}}]}}\n"
        )
    }

    #[test]
    fn only_pods_that_matter_to_ignite_change_the_digest() {
        let seed = digest("");
        let plain = "{containers: [{name: web, image: nginx}]}";
        assert_eq!(
            digest(&apps_pod("web-1", plain)),
            seed,
            "an application pod"
        );
        // Ignite's discovery port without Ignite's labels: a suspect, its namespace matters.
        let listens = "{containers: [{name: grid, image: x, ports: [{containerPort: 47500}]}]}";
        assert_ne!(
            digest(&apps_pod("grid-0", listens)),
            seed,
            "a pod on a peer port"
        );
        // On the host's network its address is a node's.
        let host = "{hostNetwork: true, containers: [{name: agent, image: x}]}";
        assert_ne!(
            digest(&apps_pod("agent-0", host)),
            seed,
            "a host-network pod"
        );
        let ignite = "apiVersion: v1\nkind: Pod\nmetadata: {name: ignite-1, namespace: cache-ns, labels: {app: ignite}}\n\
                      spec: {containers: [{name: ignite, image: x}]}\n";
        assert_ne!(digest(ignite), seed, "an Ignite pod");
    }
}
