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

pub mod reconcile;
pub mod slim;
pub mod tiers;
pub mod watch;

use std::{future::Future, sync::Arc, time::Duration};

use k8s_openapi::api::{
    core::v1::{Namespace, Service},
    discovery::v1::EndpointSlice,
    networking::v1::NetworkPolicy,
};
use kube::{Api, Client};
use tokio::sync::Notify;

use reconcile::{ReconcileMetrics, ReconcileMode, Reconciler};
pub use slim::SlimPod;
use slim::{strip_meta, strip_policy};
pub use watch::{Stores, is_unchanged, reflect_stream, start};

use crate::{
    audit::AuditSink,
    ignite::{Compiled, Environment, config::WELL_KNOWN_DNS_SERVICES},
    snapshot::ClusterSnapshot,
};

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
