//! The cluster-wide policies in the live view: ClusterNetworkPolicy, AdminNetworkPolicy and
//! BaselineAdminNetworkPolicy, reflected once the API server serves their CRDs, and Nodes (for
//! `nodes` peers) once any of them is served.
//!
//! Whether a kind is served is asked at start — before the view counts as synced, so the first
//! view already holds them — and again on a slow timer, so a CRD installed later is picked up.
//! A kind that is not served is a fact, not an error: it is logged once, and its policies simply
//! do not exist.

use std::{
    collections::BTreeSet,
    sync::{Arc, OnceLock},
};

use k8s_openapi::api::core::v1::Node;
use kube::{Api, Client, runtime::reflector::Store, runtime::watcher};
use tokio::sync::Notify;

use super::slim::strip_meta;
use crate::policy::tier::{
    Kind,
    api::{AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy, GROUP},
};

/// How often kinds that were not served are asked for again.
pub const REDISCOVER: std::time::Duration = std::time::Duration::from_secs(300);

/// The stores of the cluster-wide kinds, each set once its kind is found served.
#[derive(Clone, Default)]
pub struct TierStores {
    pub cluster_network_policies: Arc<OnceLock<Store<ClusterNetworkPolicy>>>,
    pub admin_network_policies: Arc<OnceLock<Store<AdminNetworkPolicy>>>,
    pub baseline_admin_network_policies: Arc<OnceLock<Store<BaselineAdminNetworkPolicy>>>,
    pub nodes: Arc<OnceLock<Store<Node>>>,
}

/// `group/version` and plural of each kind.
pub fn resource_of(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::ClusterNetworkPolicy => (
            "policy.networking.k8s.io/v1alpha2",
            "clusternetworkpolicies",
        ),
        Kind::AdminNetworkPolicy => ("policy.networking.k8s.io/v1alpha1", "adminnetworkpolicies"),
        Kind::BaselineAdminNetworkPolicy => (
            "policy.networking.k8s.io/v1alpha1",
            "baselineadminnetworkpolicies",
        ),
    }
}

const KINDS: [Kind; 3] = Kind::ALL;

/// Which of the kinds the API server serves, by discovery of their group versions. A group
/// version it does not know (404) serves none; any other failure is logged and counts as not
/// served this time (asked again later).
pub async fn served(client: &Client) -> BTreeSet<Kind> {
    let mut out = BTreeSet::new();
    let mut asked: Vec<(&str, Option<Vec<String>>)> = Vec::new();
    for kind in KINDS {
        let (gv, plural) = resource_of(kind);
        let names = match asked.iter().find(|(g, _)| *g == gv) {
            Some((_, names)) => names.clone(),
            None => {
                let names = match client.list_api_group_resources(gv).await {
                    Ok(list) => Some(list.resources.into_iter().map(|r| r.name).collect()),
                    Err(kube::Error::Api(e)) if e.code == 404 => None,
                    Err(error) => {
                        tracing::warn!(group_version = gv, %error, "Cannot discover cluster-wide policies; asking again later");
                        None
                    }
                };
                asked.push((gv, names.clone()));
                names
            }
        };
        if names.is_some_and(|n: Vec<String>| n.iter().any(|r| r == plural)) {
            out.insert(kind);
        }
    }
    out
}

/// What one round of discovery has to say: the kinds found served for the first time, and —
/// on the first round only — the kinds not served. Pure, so "said once" is tested.
#[derive(Debug, Default)]
pub struct Discovery {
    started: BTreeSet<Kind>,
    rounds: usize,
}

/// One round's news.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub start: Vec<Kind>,
    pub absent: Vec<Kind>,
}

impl Discovery {
    /// Takes a round's answer; returns what to start and what to say is absent.
    pub fn round(&mut self, served: &BTreeSet<Kind>) -> Round {
        let first = self.rounds == 0;
        self.rounds += 1;
        let start: Vec<Kind> = served.difference(&self.started).copied().collect();
        self.started.extend(start.iter().copied());
        let absent = if first {
            KINDS.into_iter().filter(|k| !served.contains(k)).collect()
        } else {
            Vec::new()
        };
        Round { start, absent }
    }

    /// Whether every kind is reflected (no need to ask again).
    pub fn complete(&self) -> bool {
        self.started.len() == KINDS.len()
    }
}

/// Runs one round: starts the reflectors of newly served kinds (and the Nodes' with the
/// first), logs the absent ones on the first round; true when something was started.
pub async fn discover(
    client: &Client,
    stores: &TierStores,
    discovery: &mut Discovery,
    changed: &Arc<Notify>,
) -> bool {
    let round = discovery.round(&served(client).await);
    for kind in &round.absent {
        let (gv, plural) = resource_of(*kind);
        tracing::info!(
            kind = kind.as_str(),
            resource = format!("{plural}.{GROUP}"),
            group_version = gv,
            "Not served by the API server (its CRD is not installed): no {kind} is judged; asking again every {} s",
            REDISCOVER.as_secs()
        );
    }
    for kind in &round.start {
        tracing::info!(kind = kind.as_str(), "Watching cluster-wide policies");
        let cfg = watcher::Config::default();
        match kind {
            Kind::ClusterNetworkPolicy => {
                let _ = stores.cluster_network_policies.set(super::watch::reflect(
                    Api::all(client.clone()),
                    cfg,
                    |o: &mut ClusterNetworkPolicy| strip_meta(&mut o.metadata, false),
                    changed.clone(),
                ));
            }
            Kind::AdminNetworkPolicy => {
                let _ = stores.admin_network_policies.set(super::watch::reflect(
                    Api::all(client.clone()),
                    cfg,
                    |o: &mut AdminNetworkPolicy| strip_meta(&mut o.metadata, false),
                    changed.clone(),
                ));
            }
            Kind::BaselineAdminNetworkPolicy => {
                let _ = stores
                    .baseline_admin_network_policies
                    .set(super::watch::reflect(
                        Api::all(client.clone()),
                        cfg,
                        |o: &mut BaselineAdminNetworkPolicy| strip_meta(&mut o.metadata, false),
                        changed.clone(),
                    ));
            }
        }
    }
    if !round.start.is_empty() && stores.nodes.get().is_none() {
        let _ = stores.nodes.set(super::watch::reflect(
            Api::all(client.clone()),
            watcher::Config::default(),
            strip_node,
            changed.clone(),
        ));
    }
    !round.start.is_empty()
}

/// A Node cut to what a `nodes` peer reads: name, labels and addresses.
pub fn strip_node(node: &mut Node) {
    strip_meta(&mut node.metadata, false);
    node.spec = None;
    if let Some(status) = node.status.as_mut() {
        *status = k8s_openapi::api::core::v1::NodeStatus {
            addresses: status.addresses.take(),
            ..Default::default()
        };
    }
}

impl TierStores {
    /// Waits until every reflector started so far has listed once.
    pub async fn synced(&self) {
        let _ = tokio::join!(
            async {
                if let Some(s) = self.cluster_network_policies.get() {
                    let _ = s.wait_until_ready().await;
                }
            },
            async {
                if let Some(s) = self.admin_network_policies.get() {
                    let _ = s.wait_until_ready().await;
                }
            },
            async {
                if let Some(s) = self.baseline_admin_network_policies.get() {
                    let _ = s.wait_until_ready().await;
                }
            },
            async {
                if let Some(s) = self.nodes.get() {
                    let _ = s.wait_until_ready().await;
                }
            },
        );
    }

    /// Copies what the stores hold into `snapshot`.
    pub fn fill(&self, snapshot: &mut crate::snapshot::ClusterSnapshot) {
        for o in self
            .cluster_network_policies
            .get()
            .map(Store::state)
            .into_iter()
            .flatten()
        {
            snapshot.cluster_network_policies.upsert((*o).clone());
        }
        for o in self
            .admin_network_policies
            .get()
            .map(Store::state)
            .into_iter()
            .flatten()
        {
            snapshot.admin_network_policies.upsert((*o).clone());
        }
        for o in self
            .baseline_admin_network_policies
            .get()
            .map(Store::state)
            .into_iter()
            .flatten()
        {
            snapshot
                .baseline_admin_network_policies
                .upsert((*o).clone());
        }
        for o in self.nodes.get().map(Store::state).into_iter().flatten() {
            snapshot.nodes.upsert((*o).clone());
        }
    }
}

/// Asks again every [`REDISCOVER`] until every kind is reflected; a kind found late pokes a
/// rebuild of the view.
pub async fn rediscover(
    client: Client,
    stores: TierStores,
    mut discovery: Discovery,
    changed: Arc<Notify>,
) {
    while !discovery.complete() {
        tokio::time::sleep(REDISCOVER).await;
        if discover(&client, &stores, &mut discovery, &changed).await {
            stores.synced().await;
            changed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_kinds_are_said_once_and_late_ones_started_once() {
        let mut d = Discovery::default();
        let none = BTreeSet::new();
        assert_eq!(
            d.round(&none),
            Round {
                start: vec![],
                absent: KINDS.to_vec()
            }
        );
        assert_eq!(d.round(&none), Round::default(), "said once only");
        let cnp = BTreeSet::from([Kind::ClusterNetworkPolicy]);
        assert_eq!(d.round(&cnp).start, vec![Kind::ClusterNetworkPolicy]);
        assert_eq!(d.round(&cnp), Round::default(), "started once only");
        assert!(!d.complete());
        let all = BTreeSet::from(KINDS);
        assert_eq!(
            d.round(&all).start,
            vec![Kind::AdminNetworkPolicy, Kind::BaselineAdminNetworkPolicy]
        );
        assert!(d.complete());
    }
}
