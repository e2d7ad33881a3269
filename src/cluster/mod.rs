//! The live cluster view: kube-runtime reflectors feed the objects decisions need into stores;
//! every change rebuilds the engine's [`Environment`] and swaps it into the server, and the
//! reconciler reacts. The only module that knows `kube::Api`.
//!
//! Watched (stripped to the fields the engine reads, to keep memory flat): Namespaces, Pods and
//! NetworkPolicies cluster-wide, the Services of the DNS namespaces (the configured one's and
//! those of the well-known DNS Services), the API server's Service and EndpointSlices, and —
//! where their CRDs are served — ClusterNetworkPolicies, AdminNetworkPolicies,
//! BaselineAdminNetworkPolicies and then Nodes ([`tiers`]).
//! `/readyz` stays false until every reflector has listed once. Watches that fail reconnect with
//! backoff; a lost watch never ends the process.

pub mod pods;
pub mod reconcile;
pub mod slim;
pub mod tiers;
pub mod watch;

use std::{
    future::Future,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use futures::FutureExt;
use k8s_openapi::api::{
    core::v1::{Namespace, Service},
    discovery::v1::EndpointSlice,
    networking::v1::NetworkPolicy,
};
use kube::{Api, Client};
use tokio::sync::Notify;

pub use pods::{PodStore, reflect_pods};
use reconcile::{ReconcileMetrics, ReconcileMode, Reconciler};
pub use slim::SlimPod;
use slim::{strip_meta, strip_policy};
pub use watch::{Stores, is_unchanged, reflect_stream, reflect_stream_revised, start};

use crate::{
    audit::AuditSink,
    ignite::{Compiled, Environment, config::WELL_KNOWN_DNS_SERVICES},
    snapshot::ClusterSnapshot,
};

/// Keeps `set_view` fed with a current environment: once synced, and after every burst of
/// changes (the first change after a quiet spell at once, then coalesced over `settle`). `on_view` runs after each swap (the reconciler).
pub async fn run<F, Fut>(
    client: Client,
    cfg: Compiled,
    settle: Duration,
    set_view: impl Fn(Arc<Environment>),
    mut on_view: F,
    release_memory: impl Fn() + Clone + Send + 'static,
) where
    F: FnMut(Arc<Environment>, reconcile::Policies) -> Fut,
    Fut: Future<Output = ()>,
{
    let changed = Arc::new(Notify::new());
    let stores = start(&client, &cfg, changed.clone());
    let mut discovery = tiers::Discovery::default();
    tiers::discover(&client, &stores.tiers, &mut discovery, &changed).await;
    tokio::spawn(tiers::rediscover(
        client.clone(),
        stores.tiers.clone(),
        discovery,
        changed.clone(),
    ));
    stores.synced().await;
    tracing::info!("Cluster view synced");
    // What changed while listing is in the first view: the wake-up it left is not news.
    let _ = changed.notified().now_or_never();
    let builder = match ViewThread::start(release_memory.clone()) {
        Ok(builder) => builder,
        Err(error) => {
            tracing::error!(%error, "Cannot start the thread that builds the cluster view");
            return;
        }
    };
    // Views swapped out, kept until nobody else holds them so that the last reference — and
    // freeing a whole model — is dropped on the view thread, never on a review's.
    let mut retired: Vec<Arc<Environment>> = Vec::new();
    let mut current: Option<Arc<Environment>> = None;
    // The NetworkPolicies the current view was built from and the store's revision they were
    // read at: while the revision stays, the next view takes them and their compiled form from
    // the current one, without reading 30,000 objects out of the store again.
    let mut built_from: Option<(u64, reconcile::Policies)> = None;
    // Likewise the Namespaces, by the namespace store's revision.
    let mut namespaces_from: Option<(u64, crate::policy::Namespaces)> = None;
    // The pods the last build took from the store (built or not): the next build applies the
    // store's changes since to them.
    let mut pods: Option<crate::policy::PodSet> = None;
    loop {
        // Building a view walks every object but the pods: on the view thread, off the review
        // threads.
        let built = {
            let (stores, cfg, before) = (stores.clone(), cfg.clone(), pods.take());
            let seen_namespaces = namespaces_from.take();
            let previous = built_from
                .take()
                .zip(current.as_ref().map(|env| env.cluster.compiled_policies()));
            let job = move || {
                let pods = stores.pods.pod_set(before.as_ref());
                let namespace_revision = stores.namespace_revision.load(Ordering::Acquire);
                let namespaces = match seen_namespaces {
                    Some((seen, namespaces)) if seen == namespace_revision => namespaces,
                    _ => stores.namespaces(),
                };
                let revision = stores.policy_revision.load(Ordering::Acquire);
                let (policies, compiled) = match previous {
                    Some(((seen, policies), compiled)) if seen == revision => {
                        (policies, Some(compiled))
                    }
                    _ => (stores.policies(), None),
                };
                // Indexing every pod or compiling every policy leaves scratch worth handing
                // back; a view derived from the one before, a few kilobytes.
                let fresh =
                    before.is_none_or(|b| b.base_id() != pods.base_id()) || compiled.is_none();
                let snapshot = stores.snapshot();
                let env = stores.environment(
                    &snapshot,
                    namespaces.clone(),
                    pods.clone(),
                    &policies,
                    compiled,
                    &cfg,
                );
                Built {
                    pods,
                    namespaces: (namespace_revision, namespaces),
                    policies: (revision, policies),
                    env: env.map(Arc::new),
                    fresh,
                }
            };
            builder.run(job, |built| built.fresh).await
        };
        // Lost with a build that panicked: the next one takes every pod anew.
        let fresh = built.as_ref().is_none_or(|built| built.fresh);
        let built = built.map(|built| {
            pods = Some(built.pods);
            namespaces_from = Some(built.namespaces);
            (built.policies, built.env)
        });
        match built {
            Some(((revision, policies), Ok(env))) => {
                set_view(env.clone());
                retired.extend(current.replace(env.clone()));
                built_from = Some((revision, policies.clone()));
                on_view(env, policies).await;
            }
            Some((_, Err(error))) => {
                tracing::error!(%error, "Cannot build the cluster view; keeping the previous one")
            }
            None => {
                tracing::error!("Building the cluster view failed; keeping the previous one")
            }
        }
        retired = builder.retire(retired, current.clone()).await;
        // What the watchers decoded and let go of since (the lists, before a fresh view), on
        // this thread's heap. Not after every view: a forced collect also purges what the
        // view thread freed, and the next view would fault those pages in again, zeroed.
        if fresh {
            release_memory();
        }
        tracing::debug!("View rebuilt");
        let built_at = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = changed.notified() => break,
                // A review still held a retired view: look again shortly.
                () = tokio::time::sleep(settle), if !retired.is_empty() => {
                    retired = builder.retire(retired, current.clone()).await;
                }
            }
        }
        // The first change after a quiet spell is built at once; while changes keep coming,
        // a burst of them is coalesced into one rebuild per `settle`.
        if built_at.elapsed() < settle {
            tokio::time::sleep(settle).await;
        }
    }
}

/// What a build job hands back to the view loop: what it read, for the next build to start
/// from, and the view.
struct Built {
    pods: crate::policy::PodSet,
    /// The namespace store's revision and the namespaces read at it.
    namespaces: (u64, crate::policy::Namespaces),
    /// The policy store's revision and the policies read at it.
    policies: (u64, reconcile::Policies),
    env: Result<Arc<Environment>, crate::policy::ObjectError>,
    /// Whether it indexed every pod or compiled every policy (and left scratch worth handing
    /// back to the system).
    fresh: bool,
}

/// The one thread that builds views and frees them. A view's memory is allocated and freed
/// by the same thread, so the allocator's heap that holds it is the one that hands the pages
/// back (`release_memory`, after every job that built or freed a whole model), and no review's
/// thread ever builds or frees one.
struct ViewThread(std::sync::mpsc::Sender<Box<dyn FnOnce() -> bool + Send>>);

impl ViewThread {
    fn start(release_memory: impl Fn() + Send + 'static) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() -> bool + Send>>();
        std::thread::Builder::new()
            .name("cluster-view".into())
            .spawn(move || {
                for job in rx {
                    // Handing pages back costs zeroing them again on the next job's first
                    // touch: worth it after megabytes of scratch, not after a few kilobytes.
                    if job() {
                        release_memory();
                    }
                }
            })?;
        Ok(Self(tx))
    }

    /// Runs `job` on the view thread; `None` if it panicked. `heavy` tells from its result
    /// whether it left enough garbage to hand memory back to the system (a panic does).
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
        heavy: impl FnOnce(&T) -> bool + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            let release = out.as_ref().map_or(true, heavy);
            let _ = tx.send(out.ok());
            release
        };
        self.0.send(Box::new(job)).ok()?;
        rx.await.ok().flatten()
    }

    /// Drops the views nobody else holds any more; returns the others. Memory goes back to the
    /// system when a dropped view held pods or compiled policies that `current` does not share.
    async fn retire(
        &self,
        views: Vec<Arc<Environment>>,
        current: Option<Arc<Environment>>,
    ) -> Vec<Arc<Environment>> {
        if views.is_empty() {
            return views;
        }
        let job = move || {
            let mut views = views;
            let mut heavy = false;
            // Only the view loop hands out new references to a swapped-out view, so a count
            // of one stays one: the drop here is the last.
            views.retain(|v| {
                let keep = Arc::strong_count(v) > 1;
                heavy |= !keep && !current.as_ref().is_some_and(|c| shares_model(c, v));
                keep
            });
            (views, heavy)
        };
        self.run(job, |(_, heavy)| *heavy)
            .await
            .map(|(views, _)| views)
            .unwrap_or_default()
    }
}

/// Whether two views share their pod base and compiled policies (so dropping one frees only
/// what it changed on top of them).
fn shares_model(a: &Environment, b: &Environment) -> bool {
    a.cluster.pod_set().base_id() == b.cluster.pod_set().base_id()
        && a.cluster
            .compiled_policies()
            .is(&b.cluster.compiled_policies())
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
    release_memory: impl Fn() + Clone + Send + 'static,
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
        move |env, policies| {
            let reconciler = reconciler.clone();
            async move { reconciler.lock().await.on_view(env, policies).await }
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
    for o in Api::<SlimPod>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items
    {
        s.pods.upsert(o.to_pod());
    }
    for mut o in Api::<NetworkPolicy>::all(client.clone())
        .list(&ListParams::default())
        .await?
        .items
    {
        strip_policy(&mut o);
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
        let mut o = o;
        strip_meta(&mut o.metadata, false);
        s.endpoint_slices.upsert(o);
    }
    list_tiers(client, &mut s).await?;
    Ok(s)
}

/// Lists the cluster-wide policies of the kinds the API server serves, and then the Nodes.
async fn list_tiers(client: &Client, s: &mut ClusterSnapshot) -> anyhow::Result<()> {
    use crate::policy::tier::{
        Kind,
        api::{AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy},
    };
    use kube::api::ListParams;
    let served = tiers::served(client).await;
    for kind in Kind::ALL {
        if !served.contains(&kind) {
            let (gv, plural) = tiers::resource_of(kind);
            tracing::info!(
                kind = kind.as_str(),
                group_version = gv,
                resource = plural,
                "Not served by the API server: no {kind} is judged"
            );
        }
    }
    let lp = ListParams::default();
    if served.contains(&Kind::ClusterNetworkPolicy) {
        for o in Api::<ClusterNetworkPolicy>::all(client.clone())
            .list(&lp)
            .await?
            .items
        {
            s.cluster_network_policies.upsert(o);
        }
    }
    if served.contains(&Kind::AdminNetworkPolicy) {
        for o in Api::<AdminNetworkPolicy>::all(client.clone())
            .list(&lp)
            .await?
            .items
        {
            s.admin_network_policies.upsert(o);
        }
    }
    if served.contains(&Kind::BaselineAdminNetworkPolicy) {
        for o in Api::<BaselineAdminNetworkPolicy>::all(client.clone())
            .list(&lp)
            .await?
            .items
        {
            s.baseline_admin_network_policies.upsert(o);
        }
    }
    if !served.is_empty() {
        for mut o in Api::<k8s_openapi::api::core::v1::Node>::all(client.clone())
            .list(&lp)
            .await?
            .items
        {
            tiers::strip_node(&mut o);
            s.nodes.upsert(o);
        }
    }
    Ok(())
}
