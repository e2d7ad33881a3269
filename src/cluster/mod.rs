//! The live cluster view: kube-runtime reflectors feed the objects decisions need into stores;
//! every change rebuilds the engine's [`Environment`] and swaps it into the server, and the
//! reconciler reacts. The only module that knows `kube::Api`.
//!
//! Watched (stripped to the fields the engine reads, to keep memory flat): Namespaces, Pods and
//! NetworkPolicies cluster-wide, the Services of the DNS namespaces (the configured one's and
//! those of the well-known DNS Services), and the API server's Service and EndpointSlices.
//! `/readyz` stays false until every reflector has listed once. Watches that fail reconnect with
//! backoff; a lost watch never ends the process.

pub mod reconcile;

use std::{future::Future, sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::{
    api::{
        core::v1::{Namespace, Pod, Service},
        discovery::v1::EndpointSlice,
        networking::v1::NetworkPolicy,
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::{
    Api, Client, Resource,
    runtime::{WatchStreamExt, reflector, reflector::Store, watcher},
};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use reconcile::{ReconcileMetrics, ReconcileMode, Reconciler};

use crate::{
    audit::AuditSink,
    ignite::{Compiled, Environment, config::WELL_KNOWN_DNS_SERVICES},
    snapshot::ClusterSnapshot,
};

/// A Pod as the live view keeps it: only what the engine reads. Watching this type instead of
/// the full Pod means the rest of each pod is skipped while decoding and never stored.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct SlimPod {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Option<SlimPodSpec>,
    #[serde(default)]
    pub status: Option<SlimPodStatus>,
}

/// The pod spec fields the engine reads.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimPodSpec {
    #[serde(default)]
    pub containers: Vec<SlimContainer>,
    #[serde(default)]
    pub init_containers: Vec<SlimContainer>,
    #[serde(default)]
    pub host_network: Option<bool>,
}

/// A container's name, ports and restart policy (restartable init containers are sidecars).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimContainer {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub ports: Option<Vec<k8s_openapi::api::core::v1::ContainerPort>>,
    #[serde(default)]
    pub restart_policy: Option<String>,
}

/// The pod status fields the engine reads.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlimPodStatus {
    #[serde(default)]
    pub pod_ip: Option<String>,
    #[serde(default)]
    pub pod_ips: Option<Vec<k8s_openapi::api::core::v1::PodIP>>,
}

impl Resource for SlimPod {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> std::borrow::Cow<'_, str> {
        "Pod".into()
    }
    fn group(_: &()) -> std::borrow::Cow<'_, str> {
        "".into()
    }
    fn version(_: &()) -> std::borrow::Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> std::borrow::Cow<'_, str> {
        "pods".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl SlimPod {
    /// The engine's view of this pod, through the same conversion as snapshot files.
    pub fn info(&self) -> Result<crate::policy::PodInfo, crate::policy::FieldError> {
        use k8s_openapi::api::core::v1::{Container, PodSpec, PodStatus};
        let container = |c: &SlimContainer| Container {
            name: c.name.clone(),
            ports: c.ports.clone(),
            restart_policy: c.restart_policy.clone(),
            ..Container::default()
        };
        let pod = Pod {
            metadata: ObjectMeta {
                name: self.metadata.name.clone(),
                namespace: self.metadata.namespace.clone(),
                labels: self.metadata.labels.clone(),
                ..ObjectMeta::default()
            },
            spec: self.spec.as_ref().map(|s| PodSpec {
                containers: s.containers.iter().map(container).collect(),
                init_containers: Some(s.init_containers.iter().map(container).collect()),
                host_network: s.host_network,
                ..PodSpec::default()
            }),
            status: self.status.as_ref().map(|s| PodStatus {
                pod_ip: s.pod_ip.clone(),
                pod_ips: s.pod_ips.clone(),
                ..PodStatus::default()
            }),
        };
        crate::policy::PodInfo::from_pod(&pod)
    }
}

/// The stores the reflectors fill.
#[derive(Clone)]
pub struct Stores {
    pub namespaces: Store<Namespace>,
    pub pods: Store<SlimPod>,
    pub policies: Store<NetworkPolicy>,
    /// Services of the namespaces where DNS Services live: the configured one's and those of the
    /// well-known ones (kube-system, openshift-dns), so a DNS Service under another name is found.
    pub dns_services: Vec<Store<Service>>,
    pub api_services: Store<Service>,
    pub slices: Store<EndpointSlice>,
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
        );
    }

    /// The pods now in the store, in the engine's form; a pod that cannot be read is skipped
    /// with a warning rather than failing the whole view.
    pub fn pod_infos(&self) -> Vec<crate::policy::PodInfo> {
        self.pods
            .state()
            .iter()
            .filter_map(|p| match p.info() {
                Ok(info) => Some(info),
                Err(error) => {
                    tracing::warn!(namespace = ?p.metadata.namespace, name = ?p.metadata.name, %error, "Skipping unreadable pod");
                    None
                }
            })
            .collect()
    }

    /// The engine's environment from the stores.
    pub fn environment(
        &self,
        snapshot: &ClusterSnapshot,
        cfg: &Compiled,
    ) -> Result<Environment, crate::policy::ObjectError> {
        let cluster = crate::policy::Cluster::from_parts(
            snapshot.namespaces.as_slice(),
            self.pod_infos(),
            snapshot.network_policies.as_slice(),
        )?;
        Ok(Environment::with_cluster(snapshot, cluster, cfg))
    }

    /// The objects now in the stores but pods, as a snapshot.
    pub fn snapshot(&self) -> ClusterSnapshot {
        let mut s = ClusterSnapshot::default();
        for o in self.namespaces.state() {
            s.namespaces.upsert((*o).clone());
        }
        for o in self.policies.state() {
            s.network_policies.upsert((*o).clone());
        }
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
        s
    }
}

/// Drops what the engine never reads: managed fields, most annotations, pod specs beyond
/// ports and hostNetwork, status beyond IPs.
fn strip_meta(meta: &mut ObjectMeta, keep_managed_rules: bool) {
    let annotations = meta
        .annotations
        .take()
        .map(|mut a| {
            a.retain(|k, _| {
                keep_managed_rules && k == crate::ignite::patch::MANAGED_RULES_ANNOTATION
            });
            a
        })
        .filter(|a| !a.is_empty());
    *meta = ObjectMeta {
        name: meta.name.take(),
        namespace: meta.namespace.take(),
        labels: meta.labels.take(),
        // Policies keep theirs: the reconciler's patches test it.
        resource_version: if keep_managed_rules {
            meta.resource_version.take()
        } else {
            None
        },
        annotations,
        ..ObjectMeta::default()
    };
}

fn strip_pod(pod: &mut Pod) {
    strip_meta(&mut pod.metadata, false);
    if let Some(spec) = pod.spec.as_mut() {
        let slim = |c: &mut k8s_openapi::api::core::v1::Container| {
            let (name, ports, restart) = (
                std::mem::take(&mut c.name),
                c.ports.take(),
                c.restart_policy.take(),
            );
            *c = k8s_openapi::api::core::v1::Container {
                name,
                ports,
                restart_policy: restart,
                ..Default::default()
            };
        };
        spec.containers.iter_mut().for_each(slim);
        if let Some(init) = spec.init_containers.as_mut() {
            init.retain(|c| c.restart_policy.as_deref() == Some("Always"));
            init.iter_mut().for_each(slim);
        }
        let host_network = spec.host_network;
        let containers = std::mem::take(&mut spec.containers);
        let init_containers = spec.init_containers.take();
        *spec = k8s_openapi::api::core::v1::PodSpec {
            containers,
            init_containers,
            host_network,
            ..Default::default()
        };
    }
    if let Some(status) = pod.status.as_mut() {
        let (ip, ips, phase) = (
            status.pod_ip.take(),
            status.pod_ips.take(),
            status.phase.take(),
        );
        *status = k8s_openapi::api::core::v1::PodStatus {
            pod_ip: ip,
            pod_ips: ips,
            phase,
            ..Default::default()
        };
    }
}

/// Starts a reflector: list, then watch, reconnecting with backoff; every change pokes `changed`.
fn reflect<K>(
    api: Api<K>,
    config: watcher::Config,
    strip: fn(&mut K),
    changed: Arc<Notify>,
) -> Store<K>
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let kind = K::kind(&()).to_string();
    let stream = watcher(api, config)
        .default_backoff()
        .modify(strip)
        .reflect(writer);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => changed.notify_one(),
                Err(error) => tracing::warn!(%kind, %error, "Watch failed; retrying with backoff"),
            }
        }
    });
    reader
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
    Stores {
        namespaces: reflect(
            Api::all(client.clone()),
            watcher::Config::default(),
            |n: &mut Namespace| strip_meta(&mut n.metadata, false),
            changed.clone(),
        ),
        pods: reflect(
            Api::<SlimPod>::all(client.clone()),
            watcher::Config::default(),
            |p: &mut SlimPod| strip_meta(&mut p.metadata, false),
            changed.clone(),
        ),
        policies: reflect(
            Api::all(client.clone()),
            watcher::Config::default(),
            |p: &mut NetworkPolicy| strip_meta(&mut p.metadata, true),
            changed.clone(),
        ),
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
    }
}

/// Keeps `set_view` fed with a current environment: once synced, and after every burst of
/// changes (coalesced over `settle`). `on_view` runs after each swap (the reconciler).
pub async fn run<F, Fut>(
    client: Client,
    cfg: Compiled,
    settle: Duration,
    set_view: impl Fn(Arc<Environment>),
    mut on_view: F,
    release_memory: impl Fn(),
) where
    F: FnMut(Arc<Environment>, Arc<ClusterSnapshot>) -> Fut,
    Fut: Future<Output = ()>,
{
    let changed = Arc::new(Notify::new());
    let stores = start(&client, &cfg, changed.clone());
    stores.synced().await;
    tracing::info!("Cluster view synced");
    loop {
        let snapshot = Arc::new(stores.snapshot());
        match stores.environment(&snapshot, &cfg) {
            Ok(env) => {
                let env = Arc::new(env);
                set_view(env.clone());
                on_view(env, snapshot).await;
            }
            Err(error) => {
                tracing::error!(%error, "Cannot build the cluster view; keeping the previous one")
            }
        }
        // The previous view and this rebuild's scratch are freed now; hand the pages back.
        release_memory();
        tracing::debug!("View rebuilt");
        changed.notified().await;
        // Coalesce a burst of watch events into one rebuild.
        tokio::time::sleep(settle).await;
    }
}

/// How the live view runs: the decisions' configuration, how long a burst of changes may last,
/// what the reconciler does, and the instance name its Events carry.
#[derive(Clone, Debug)]
pub struct LiveConfig {
    pub cfg: Compiled,
    pub settle: Duration,
    pub reconcile: ReconcileMode,
    pub instance: Option<String>,
}

/// Feeds `set_view` the live cluster view and runs the reconciler — with its own metrics and an
/// audit sink — on every new view.
pub async fn run_live(
    client: Client,
    live: LiveConfig,
    set_view: impl Fn(Arc<Environment>),
    metrics: ReconcileMetrics,
    audit: Arc<dyn AuditSink>,
    release_memory: impl Fn(),
) {
    let LiveConfig {
        cfg,
        settle,
        reconcile,
        instance,
    } = live;
    let reconciler = Arc::new(tokio::sync::Mutex::new(Reconciler::new(
        client.clone(),
        cfg.clone(),
        reconcile,
        metrics,
        audit,
        instance,
    )));
    run(
        client,
        cfg,
        settle,
        set_view,
        move |env, snapshot| {
            let reconciler = reconciler.clone();
            async move { reconciler.lock().await.on_view(&env, &snapshot).await }
        },
        release_memory,
    )
    .await;
}

/// Lists everything once (for `scan`), stripped like the live view.
pub async fn list_once(client: &Client, cfg: &Compiled) -> anyhow::Result<ClusterSnapshot> {
    use kube::api::ListParams;
    let dns = &cfg.config.dns.service;
    let api = &cfg.config.api_server.service;
    let mut s = ClusterSnapshot::default();
    for mut o in Api::<Namespace>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items
    {
        strip_meta(&mut o.metadata, false);
        s.namespaces.upsert(o);
    }
    for mut o in Api::<Pod>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items
    {
        strip_pod(&mut o);
        s.pods.upsert(o);
    }
    for o in Api::<NetworkPolicy>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items
    {
        s.network_policies.upsert(o);
    }
    let candidates = std::iter::once((dns.namespace.as_str(), dns.name.as_str()))
        .chain(WELL_KNOWN_DNS_SERVICES)
        .chain([(api.namespace.as_str(), api.name.as_str())]);
    for (namespace, name) in candidates {
        if let Some(mut o) = Api::<Service>::namespaced(client.clone(), namespace)
            .get_opt(name)
            .await?
        {
            strip_meta(&mut o.metadata, false);
            s.services.upsert(o);
        }
    }
    let slices = ListParams::default().labels(&format!("kubernetes.io/service-name={}", api.name));
    for o in Api::<EndpointSlice>::namespaced(client.clone(), &api.namespace)
        .list(&slices)
        .await?
        .items
    {
        s.endpoint_slices.upsert(o);
    }
    Ok(s)
}
