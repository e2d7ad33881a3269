//! The watchers: one reflector per kind the view reads, each slimming what it stores, and the
//! stores they fill — from which [`Stores::snapshot`] and [`Stores::environment`] build a view.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use futures::{Stream, StreamExt};
use k8s_openapi::api::{
    core::v1::{Namespace, Service},
    discovery::v1::EndpointSlice,
    networking::v1::NetworkPolicy,
};
use kube::{
    Api, Client, Resource,
    runtime::{WatchStreamExt, reflector, reflector::Store, watcher},
};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use super::slim::{SlimPod, strip_meta, strip_policy};
use crate::{
    ignite::{Compiled, Environment, config::WELL_KNOWN_DNS_SERVICES, targets::Objects},
    policy::{Cluster, CompiledPolicies, Namespaces, PodSet},
    snapshot::ClusterSnapshot,
};

/// The stores the reflectors fill.
#[derive(Clone)]
pub struct Stores {
    pub namespaces: Store<Namespace>,
    /// Counts the changes to `namespaces` ([`reflect_stream_revised`]).
    pub namespace_revision: Arc<AtomicU64>,
    pub pods: super::pods::PodStore,
    pub policies: Store<NetworkPolicy>,
    /// Counts the changes to `policies` ([`reflect_stream_revised`]).
    pub policy_revision: Arc<AtomicU64>,
    /// Services of the namespaces where DNS Services live: the configured one's and those of the
    /// well-known ones (kube-system, openshift-dns), so a DNS Service under another name is found.
    pub dns_services: Vec<Store<Service>>,
    pub api_services: Store<Service>,
    pub slices: Store<EndpointSlice>,
    /// The cluster-wide policies and Nodes, as their CRDs are found served.
    pub tiers: super::tiers::TierStores,
}

impl Stores {
    /// Waits until every reflector has listed once.
    pub async fn synced(&self) {
        let _ = tokio::join!(
            self.namespaces.wait_until_ready(),
            self.pods.wait_until_ready(),
            self.policies.wait_until_ready(),
            futures::future::join_all(self.dns_services.iter().map(|s| s.wait_until_ready())),
            self.api_services.wait_until_ready(),
            self.slices.wait_until_ready(),
            self.tiers.synced(),
        );
    }

    /// The engine's environment from the stores, with `namespaces` from [`Stores::namespaces`]
    /// (or the last view's) and `pods` from [`PodStore::pod_set`].
    /// `compiled`, when given, must be what a view built from the same `policies` compiled
    /// ([`Cluster::compiled_policies`]): the policies are then taken as they are, not compiled
    /// again.
    ///
    /// [`PodStore::pod_set`]: super::PodStore::pod_set
    pub fn environment(
        &self,
        snapshot: &ClusterSnapshot,
        namespaces: Namespaces,
        pods: PodSet,
        policies: &[Arc<NetworkPolicy>],
        compiled: Option<CompiledPolicies>,
        cfg: &Compiled,
    ) -> Result<Environment, crate::policy::ObjectError> {
        let mut cluster = match compiled {
            Some(compiled) => Cluster::from_pod_set_compiled(namespaces, pods, compiled),
            None => Cluster::from_pod_set(namespaces, pods, policies.iter().map(|np| &**np))?,
        };
        add_tiers(snapshot, &mut cluster);
        let objects = Objects {
            services: snapshot.services.as_slice(),
            endpoint_slices: snapshot.endpoint_slices.as_slice(),
        };
        Ok(Environment::new(cluster, objects, cfg))
    }

    /// The NetworkPolicies now in the store, shared with it (not copied).
    pub fn policies(&self) -> super::reconcile::Policies {
        self.policies.state().into()
    }

    /// The Namespaces now in the store, in the engine's form.
    pub fn namespaces(&self) -> Namespaces {
        Namespaces::new(self.namespaces.state().iter().map(|ns| &**ns))
    }

    /// The objects now in the stores but Namespaces, pods and NetworkPolicies (see
    /// [`Stores::namespaces`], [`Stores::policies`]), as a snapshot.
    pub fn snapshot(&self) -> ClusterSnapshot {
        let mut s = ClusterSnapshot::default();
        for o in self
            .dns_services
            .iter()
            .flat_map(|s| s.state())
            .chain(self.api_services.state())
        {
            s.services.upsert((*o).clone());
        }
        for o in self.slices.state() {
            s.endpoint_slices.upsert((*o).clone());
        }
        self.tiers.fill(&mut s);
        s
    }
}

/// Adds the snapshot's Nodes and cluster-wide policies to `cluster`; a policy that cannot be
/// compiled is skipped with a warning rather than failing the whole view (the API server's
/// validation makes that rare).
fn add_tiers(snapshot: &ClusterSnapshot, cluster: &mut crate::policy::Cluster) {
    use crate::policy::{NodeInfo, tier::api::Object};
    for node in snapshot.nodes.as_slice() {
        cluster.upsert_node(NodeInfo::from_node(node));
    }
    let objects = snapshot
        .cluster_network_policies
        .as_slice()
        .iter()
        .map(Object::ClusterNetworkPolicy)
        .chain(
            snapshot
                .admin_network_policies
                .as_slice()
                .iter()
                .map(Object::AdminNetworkPolicy),
        )
        .chain(
            snapshot
                .baseline_admin_network_policies
                .as_slice()
                .iter()
                .map(Object::BaselineAdminNetworkPolicy),
        );
    for obj in objects {
        match obj.compile() {
            Ok(p) => cluster.upsert_cluster_policy(p),
            Err(error) => {
                tracing::warn!(kind = obj.kind().as_str(), name = obj.name(), %error, "Skipping a cluster-wide policy that cannot be read")
            }
        }
    }
}

/// Starts a reflector: list, then watch, reconnecting with backoff; every change pokes `changed`.
pub(super) fn reflect<K>(
    api: Api<K>,
    config: watcher::Config,
    strip: fn(&mut K),
    changed: Arc<Notify>,
) -> Store<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + PartialEq
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    reflect_stream(watcher(api, config).default_backoff(), strip, changed)
}

/// Fills a store from a stream of watch events, each object slimmed by `strip` first; every
/// event that changes what is stored pokes `changed`, a failed one is logged (the watcher
/// retries). An update that leaves the slimmed object as it was — a pod's status, its
/// `resourceVersion`, `managedFields` — is stored but pokes nothing, so it costs no view
/// rebuild. The seam tests feed.
pub fn reflect_stream<K, S>(events: S, strip: fn(&mut K), changed: Arc<Notify>) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    reflect_stream_revised(events, strip, changed, Arc::default())
}

/// [`reflect_stream`], adding one to `revision` for every event that changes what is stored,
/// after the store shows it and before `changed` is poked: a reader that sees the same
/// revision twice saw no change between (or one whose poke is still to come).
pub fn reflect_stream_revised<K, S>(
    events: S,
    strip: fn(&mut K),
    changed: Arc<Notify>,
    revision: Arc<AtomicU64>,
) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + PartialEq + std::fmt::Debug + Send + Sync + 'static,
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    let (reader, mut writer) = reflector::store();
    let kind = K::kind(&()).to_string();
    let seen = reader.clone();
    let stream = events.modify(strip);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                // Judged against the store before the event is applied to it (what kube's
                // `reflect` does for a store that is not shared).
                Ok(event) => {
                    let news = !is_unchanged(&seen, &event);
                    writer.apply_watcher_event(&event);
                    if news {
                        revision.fetch_add(1, Ordering::Release);
                        changed.notify_one();
                    }
                }
                Err(error) => tracing::warn!(%kind, %error, "Watch failed; retrying with backoff"),
            }
        }
    });
    reader
}

/// Whether `event` (already slimmed) is an update that leaves the stored object as it is.
/// Listing events always count: the store only shows a relist once it is complete.
pub fn is_unchanged<K>(store: &Store<K>, event: &watcher::Event<K>) -> bool
where
    K: Resource<DynamicType = ()> + Clone + PartialEq,
{
    match event {
        watcher::Event::Apply(obj) => store
            .get(&reflector::ObjectRef::from_obj(obj))
            .is_some_and(|old| *old == *obj),
        _ => false,
    }
}

/// The namespaces whose Services may hold the DNS Service: the configured one's, then the
/// well-known ones'.
fn dns_namespaces(cfg: &Compiled) -> Vec<String> {
    let mut out = vec![cfg.config.dns.service.namespace.clone()];
    for (ns, _) in WELL_KNOWN_DNS_SERVICES {
        if !out.iter().any(|n| n == ns) {
            out.push(ns.to_string());
        }
    }
    out
}

/// Starts every reflector.
pub fn start(client: &Client, cfg: &Compiled, changed: Arc<Notify>) -> Stores {
    let api = &cfg.config.api_server.service;
    let by_name = |name: &str| watcher::Config::default().fields(&format!("metadata.name={name}"));
    let policy_revision = Arc::new(AtomicU64::new(0));
    let namespace_revision = Arc::new(AtomicU64::new(0));
    Stores {
        namespaces: reflect_stream_revised(
            watcher(Api::all(client.clone()), watcher::Config::default()).default_backoff(),
            |n: &mut Namespace| strip_meta(&mut n.metadata, false),
            changed.clone(),
            namespace_revision.clone(),
        ),
        namespace_revision,
        pods: super::pods::reflect_pods(
            watcher(
                Api::<SlimPod>::all(client.clone()),
                watcher::Config::default(),
            )
            .default_backoff(),
            changed.clone(),
        ),
        policies: reflect_stream_revised(
            watcher(Api::all(client.clone()), watcher::Config::default()).default_backoff(),
            strip_policy,
            changed.clone(),
            policy_revision.clone(),
        ),
        policy_revision,
        dns_services: dns_namespaces(cfg)
            .into_iter()
            .map(|ns| {
                reflect(
                    Api::namespaced(client.clone(), &ns),
                    watcher::Config::default(),
                    |s: &mut Service| strip_meta(&mut s.metadata, false),
                    changed.clone(),
                )
            })
            .collect(),
        api_services: reflect(
            Api::namespaced(client.clone(), &api.namespace),
            by_name(&api.name),
            |s: &mut Service| strip_meta(&mut s.metadata, false),
            changed.clone(),
        ),
        slices: reflect(
            Api::namespaced(client.clone(), &api.namespace),
            watcher::Config::default().labels(&format!("kubernetes.io/service-name={}", api.name)),
            |s: &mut EndpointSlice| strip_meta(&mut s.metadata, false),
            changed,
        ),
        tiers: super::tiers::TierStores::default(),
    }
}
