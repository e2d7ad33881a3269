//! The engine's view of a cluster: namespaces, pods and compiled policies, indexed for queries.
//!
//! Built once from Kubernetes objects. Pods are found by namespace and name; the policies that
//! select a pod are found through an index of each namespace's policies by one label their
//! `podSelector` requires, so a query never scans the policies of other namespaces, nor those of
//! its own namespace that cannot select the pod. Pods are also indexed by address and by label
//! pair, so what an `ipBlock` or a selector reaches is found without walking every pod.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, OnceLock},
};

use k8s_openapi::api::{
    core::v1::{Namespace, Node, Pod},
    networking::v1::NetworkPolicy,
};

use super::{
    ClusterPolicy, ContainerPort, FieldError, Labels, Policy, Protocol, Sub, Tier, podset::PodSet,
};

/// The label the API server sets on every namespace (GA in 1.22).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A namespace as the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceInfo {
    pub name: String,
    pub labels: Labels,
}

/// A pod as the engine sees it: what selectors, ipBlocks and named ports need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub ips: Vec<IpAddr>,
    pub host_network: bool,
    pub ports: Vec<ContainerPort>,
}

/// A Node as the engine sees it: what a `nodes` peer of a cluster policy needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub labels: Labels,
    /// The addresses of `status.addresses` that are IP addresses (`InternalIP`, `ExternalIP`;
    /// a `Hostname` entry is a name and is left out).
    pub addresses: Vec<IpAddr>,
}

impl NodeInfo {
    /// The engine's view of a Node.
    pub fn from_node(node: &Node) -> Self {
        let addresses = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|a| a.address.parse().ok())
            .collect();
        Self {
            name: node.metadata.name.clone().unwrap_or_default(),
            labels: node.metadata.labels.clone().unwrap_or_default().into(),
            addresses,
        }
    }
}

/// An object that could not be turned into the engine's model; `namespace` is empty for a
/// cluster-scoped object.
#[derive(Debug, thiserror::Error)]
#[error("{kind} {}{}{name}: {error}", namespace, if namespace.is_empty() { "" } else { "/" })]
pub struct ObjectError {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    #[source]
    pub error: FieldError,
}

/// Namespaces, pods and policies, indexed.
#[derive(Debug, Default)]
pub struct Cluster {
    /// The listed namespaces, shared with the views built from the same objects.
    namespaces: Namespaces,
    /// The namespaces of pods whose namespace is not listed.
    unlisted: HashMap<String, NamespaceInfo>,
    /// Shared with the live view's pod store and, by layers, with the views before: a view
    /// costs what changed since, not a pointer per pod ([`PodSet`]).
    pods: PodSet,
    policies: CompiledPolicies,
    /// Admin and Baseline tier policies, in evaluation order ([`ClusterPolicy::order_key`]).
    cluster_policies: Vec<ClusterPolicy>,
    nodes: Vec<NodeInfo>,
    /// Every node address, sorted; built on first use (nodes are added one by one).
    node_ips: OnceLock<Vec<IpAddr>>,
}

/// The namespaces listed, in the engine's form: shared by the views built while the listed
/// Namespaces stay the same, so a view does not copy thousands of them again.
#[derive(Clone, Debug, Default)]
pub struct Namespaces(Arc<HashMap<String, NamespaceInfo>>);

impl Namespaces {
    /// The engine's form of `namespaces`.
    pub fn new<'a>(namespaces: impl IntoIterator<Item = &'a Namespace>) -> Self {
        let map = namespaces
            .into_iter()
            .map(|ns| {
                let info = namespace_info(ns);
                (info.name.clone(), info)
            })
            .collect();
        Self(Arc::new(map))
    }

    /// Whether both are the same namespaces (shared, not equal copies).
    pub fn is(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Every namespace's compiled NetworkPolicies, shared by the views built from the same objects:
/// a view rebuilt for other changes (pods, Services, namespaces) takes them as they are instead
/// of compiling and indexing every policy again, and it shares their memory with the view it
/// replaces.
#[derive(Clone, Debug, Default)]
pub struct CompiledPolicies(Arc<HashMap<String, NamespacePolicies>>);

impl CompiledPolicies {
    /// Whether both are the same compiled policies (shared, not equal copies).
    pub fn is(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// The policies of one namespace with an index from a required label to the policies that
/// require it.
#[derive(Clone, Debug, Default)]
pub struct NamespacePolicies {
    policies: Vec<Policy>,
    by_name: HashMap<String, usize>,
    by_label: HashMap<String, HashMap<String, Vec<usize>>>,
    unindexed: Vec<usize>,
}

impl Cluster {
    /// Builds the model from Kubernetes objects; the first object that cannot be read is the
    /// error. A pod whose namespace is not listed gets a namespace with only the automatic
    /// `kubernetes.io/metadata.name` label.
    pub fn build(
        namespaces: &[Namespace],
        pods: &[Pod],
        policies: &[NetworkPolicy],
    ) -> Result<Self, ObjectError> {
        let infos = pods
            .iter()
            .map(|pod| {
                PodInfo::from_pod(pod).map_err(|error| ObjectError {
                    kind: "Pod",
                    namespace: pod.metadata.namespace.clone().unwrap_or_default(),
                    name: pod.metadata.name.clone().unwrap_or_default(),
                    error,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_parts(namespaces, infos, policies)
    }

    /// Builds the model from pods already in the engine's form (the live view converts them as
    /// it goes, so full Pod objects never pile up, and shares them: `Arc<PodInfo>`).
    pub fn from_parts<'a, P: Into<Arc<PodInfo>>>(
        namespaces: &[Namespace],
        pods: impl IntoIterator<Item = P>,
        policies: impl IntoIterator<Item = &'a NetworkPolicy>,
    ) -> Result<Self, ObjectError> {
        Self::from_pod_set(Namespaces::new(namespaces), pod_set(pods), policies)
    }

    /// [`Cluster::from_parts`] with the pods already indexed (the live view derives each
    /// view's from the one before, [`PodSet::changed`]).
    pub fn from_pod_set<'a>(
        namespaces: Namespaces,
        pods: PodSet,
        policies: impl IntoIterator<Item = &'a NetworkPolicy>,
    ) -> Result<Self, ObjectError> {
        let mut cluster = Self::without_policies(namespaces, pods);
        for np in policies {
            let policy = Policy::compile(np).map_err(|error| ObjectError {
                kind: "NetworkPolicy",
                namespace: np.metadata.namespace.clone().unwrap_or_default(),
                name: np.metadata.name.clone().unwrap_or_default(),
                error,
            })?;
            cluster.upsert_policy(policy);
        }
        Ok(cluster)
    }

    /// [`Cluster::from_parts`] with the NetworkPolicies another view compiled from the same
    /// objects ([`Cluster::compiled_policies`]).
    pub fn from_parts_compiled<P: Into<Arc<PodInfo>>>(
        namespaces: &[Namespace],
        pods: impl IntoIterator<Item = P>,
        policies: CompiledPolicies,
    ) -> Self {
        Self::from_pod_set_compiled(Namespaces::new(namespaces), pod_set(pods), policies)
    }

    /// [`Cluster::from_pod_set`] with compiled NetworkPolicies, as [`Cluster::from_parts_compiled`].
    pub fn from_pod_set_compiled(
        namespaces: Namespaces,
        pods: PodSet,
        policies: CompiledPolicies,
    ) -> Self {
        let mut cluster = Self::without_policies(namespaces, pods);
        cluster.policies = policies;
        cluster
    }

    fn without_policies(namespaces: Namespaces, pods: PodSet) -> Self {
        let mut cluster = Self {
            namespaces,
            ..Self::default()
        };
        // A pod's namespace is a namespace even when it is not listed.
        for namespace in pods.namespaces() {
            // Looked up before inserting: a namespace's name is copied once, not once per pod.
            if cluster.namespace(namespace).is_none() {
                let info = NamespaceInfo::named(namespace);
                cluster.unlisted.insert(namespace.to_string(), info);
            }
        }
        cluster.pods = pods;
        cluster
    }

    /// The listed namespaces, to build another view from the same objects.
    pub fn namespace_set(&self) -> Namespaces {
        self.namespaces.clone()
    }

    /// The compiled NetworkPolicies, to build another view from the same objects with
    /// [`Cluster::from_parts_compiled`].
    pub fn compiled_policies(&self) -> CompiledPolicies {
        self.policies.clone()
    }

    /// The pods, to derive the next view's from ([`PodSet::changed`]).
    pub fn pod_set(&self) -> &PodSet {
        &self.pods
    }

    /// Adds a policy, replacing one of the same namespace and name.
    pub fn upsert_policy(&mut self, policy: Policy) {
        // Copied only when shared with another view (never while a view is being built).
        Arc::make_mut(&mut self.policies.0)
            .entry(policy.namespace.clone())
            .or_default()
            .upsert(policy);
    }

    /// Adds a cluster policy, replacing one of the same kind and name, keeping the evaluation
    /// order.
    pub fn upsert_cluster_policy(&mut self, policy: ClusterPolicy) {
        self.cluster_policies
            .retain(|p| (p.kind, p.name.as_str()) != (policy.kind, policy.name.as_str()));
        let at = self
            .cluster_policies
            .partition_point(|p| p.order_key() < policy.order_key());
        self.cluster_policies.insert(at, policy);
    }

    /// Adds a node, replacing one of the same name.
    pub fn upsert_node(&mut self, node: NodeInfo) {
        match self.nodes.iter_mut().find(|n| n.name == node.name) {
            Some(n) => *n = node,
            None => self.nodes.push(node),
        }
        self.node_ips = OnceLock::new();
    }

    fn node_ips(&self) -> &[IpAddr] {
        self.node_ips.get_or_init(|| {
            let mut ips: Vec<IpAddr> = self
                .nodes
                .iter()
                .flat_map(|n| n.addresses.iter().copied())
                .collect();
            ips.sort_unstable();
            ips.dedup();
            ips
        })
    }

    /// Whether `ip` is a node's address.
    pub fn is_node_ip(&self, ip: &IpAddr) -> bool {
        self.node_ips().binary_search(ip).is_ok()
    }

    /// The node addresses from `first` to `last`, in order.
    pub fn node_ips_between(&self, first: IpAddr, last: IpAddr) -> &[IpAddr] {
        let ips = self.node_ips();
        let lo = ips.partition_point(|ip| *ip < first);
        let hi = ips.partition_point(|ip| *ip <= last);
        &ips[lo..hi.max(lo)]
    }

    /// Whether `ip` is a pod's address.
    pub fn is_pod_ip(&self, ip: &IpAddr) -> bool {
        self.pods.has_ip(*ip)
    }

    /// The positions ([`Cluster::pod_at`]) of the pods with an address from `first` to
    /// `last`; a pod with two such addresses comes twice.
    pub fn pods_between(&self, first: IpAddr, last: IpAddr) -> impl Iterator<Item = usize> + '_ {
        self.pods.between(first, last)
    }

    /// The positions of the pods labelled `key=value`.
    pub fn pods_labelled<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
    ) -> impl Iterator<Item = usize> + 'a {
        self.pods.labelled(key, value)
    }

    /// The positions of the pods of a namespace, in no particular order.
    pub fn pod_indexes_in(&self, namespace: &str) -> impl Iterator<Item = usize> + '_ {
        self.pods.in_namespace(namespace)
    }

    /// The pod at a position from one of the queries above.
    pub fn pod_at(&self, position: usize) -> &PodInfo {
        self.pods.at(position)
    }

    /// The cluster policies of a tier, in evaluation order.
    pub fn cluster_policies(&self, tier: Tier) -> impl Iterator<Item = &ClusterPolicy> {
        self.cluster_policies.iter().filter(move |p| p.tier == tier)
    }

    /// Every cluster policy, Admin tier first, each tier in evaluation order.
    pub fn all_cluster_policies(&self) -> &[ClusterPolicy] {
        &self.cluster_policies
    }

    /// The nodes.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.iter()
    }

    /// A namespace by name.
    pub fn namespace(&self, name: &str) -> Option<&NamespaceInfo> {
        self.namespaces
            .0
            .get(name)
            .or_else(|| self.unlisted.get(name))
    }

    /// All namespaces, in no particular order.
    pub fn namespaces(&self) -> impl Iterator<Item = &NamespaceInfo> {
        self.namespaces.0.values().chain(self.unlisted.values())
    }

    /// A pod by namespace and name.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<&PodInfo> {
        self.pods.get(namespace, name)
    }

    /// The pods of a namespace, in the order they were loaded (a view derived by changes
    /// lists the pods changed since its base last).
    pub fn pods_in(&self, namespace: &str) -> impl Iterator<Item = &PodInfo> + '_ {
        self.pods.in_namespace(namespace).map(|i| self.pods.at(i))
    }

    /// All pods.
    pub fn pods(&self) -> impl Iterator<Item = &PodInfo> {
        self.pods.iter().map(|p| &**p)
    }

    /// How many pods the model holds.
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// The policies of a namespace.
    pub fn policies_in(&self, namespace: &str) -> Option<&NamespacePolicies> {
        self.policies.0.get(namespace)
    }

    /// The number of policies in the whole cluster.
    pub fn policy_count(&self) -> usize {
        self.policies.0.values().map(|p| p.policies.len()).sum()
    }
}

fn pod_set<P: Into<Arc<PodInfo>>>(pods: impl IntoIterator<Item = P>) -> PodSet {
    PodSet::new(pods.into_iter().map(Into::into).collect())
}

impl NamespaceInfo {
    /// A namespace with only the automatic name label.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_string(),
            labels: Labels::from([(NAMESPACE_NAME_LABEL.to_string(), name.to_string())]),
        }
    }
}

impl NamespacePolicies {
    fn upsert(&mut self, policy: Policy) {
        if let Some(&i) = self.by_name.get(&policy.name) {
            self.unindex(i);
            self.policies[i] = policy;
            self.index(i);
        } else {
            let i = self.policies.len();
            self.by_name.insert(policy.name.clone(), i);
            self.policies.push(policy);
            self.index(i);
        }
    }

    fn index(&mut self, i: usize) {
        match self.policies[i].pod_selector.match_labels().next() {
            Some((k, v)) => self
                .by_label
                .entry(k.to_string())
                .or_default()
                .entry(v.to_string())
                .or_default()
                .push(i),
            None => self.unindexed.push(i),
        }
    }

    fn unindex(&mut self, i: usize) {
        match self.policies[i].pod_selector.match_labels().next() {
            Some((k, v)) => {
                if let Some(list) = self.by_label.get_mut(k).and_then(|m| m.get_mut(v)) {
                    list.retain(|&j| j != i);
                }
            }
            None => self.unindexed.retain(|&j| j != i),
        }
    }

    /// A policy by name.
    pub fn get(&self, name: &str) -> Option<&Policy> {
        self.by_name.get(name).map(|&i| &self.policies[i])
    }

    /// Every policy of the namespace, in load order.
    pub fn all(&self) -> &[Policy] {
        &self.policies
    }

    /// The policies whose `podSelector` selects a pod with `labels`, in load order.
    pub fn selecting(&self, labels: &Labels) -> Vec<&Policy> {
        let mut idx: Vec<usize> = self.unindexed.clone();
        for (k, v) in labels {
            if let Some(list) = self.by_label.get(k).and_then(|m| m.get(v)) {
                idx.extend_from_slice(list);
            }
        }
        idx.sort_unstable();
        idx.into_iter()
            .map(|i| &self.policies[i])
            .filter(|p| p.pod_selector.matches(labels))
            .collect()
    }
}

fn namespace_info(ns: &Namespace) -> NamespaceInfo {
    let name = ns.metadata.name.clone().unwrap_or_default();
    let mut labels = ns.metadata.labels.clone().unwrap_or_default();
    // The API server sets it to the name on every namespace and refuses any other value, so a
    // file that says otherwise is not what the cluster holds.
    labels.insert(NAMESPACE_NAME_LABEL.to_string(), name.clone());
    NamespaceInfo {
        name,
        labels: labels.into(),
    }
}

impl PodInfo {
    /// The engine's view of a Pod; errors name the invalid field.
    pub fn from_pod(pod: &Pod) -> Result<Self, FieldError> {
        let namespace = pod
            .metadata
            .namespace
            .clone()
            .ok_or_else(|| FieldError::new("metadata.namespace", "must be set"))?;
        let name = pod
            .metadata
            .name
            .clone()
            .ok_or_else(|| FieldError::new("metadata.name", "must be set"))?;
        let status = pod.status.as_ref();
        let mut ips: Vec<IpAddr> = Vec::new();
        for (i, entry) in status
            .and_then(|s| s.pod_ips.as_ref())
            .into_iter()
            .flatten()
            .enumerate()
        {
            ips.push(parse_ip(
                &entry.ip,
                &Sub::new(&Sub::new(&"status", "podIPs", Some(i)), "ip", None),
            )?);
        }
        if let Some(ip) = status.and_then(|s| s.pod_ip.as_deref()) {
            let ip = parse_ip(ip, &"status.podIP")?;
            if !ips.contains(&ip) {
                ips.insert(0, ip);
            }
        }
        let spec = pod.spec.as_ref();
        let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
        let mut ports = Vec::new();
        if let Some(spec) = spec {
            let containers = spec
                .containers
                .iter()
                .enumerate()
                .map(|(i, c)| ("containers", i, c));
            let sidecars = spec
                .init_containers
                .iter()
                .flatten()
                .enumerate()
                .filter(|(_, c)| c.restart_policy.as_deref() == Some("Always"))
                .map(|(i, c)| ("initContainers", i, c));
            for (list, ci, c) in containers.chain(sidecars) {
                let container = Sub::new(&"spec", list, Some(ci));
                for (i, p) in c.ports.iter().flatten().enumerate() {
                    let field = Sub::new(&container, "ports", Some(i));
                    ports.push(ContainerPort {
                        name: p.name.clone(),
                        port: super::port::port_number(
                            i64::from(p.container_port),
                            &Sub::new(&field, "containerPort", None),
                        )?,
                        protocol: Protocol::parse_field(
                            p.protocol.as_deref(),
                            &Sub::new(&field, "protocol", None),
                        )?,
                    });
                }
            }
        }
        Ok(PodInfo {
            namespace,
            name,
            labels: pod.metadata.labels.clone().unwrap_or_default().into(),
            ips,
            host_network,
            ports,
        })
    }
}

fn parse_ip(text: &str, field: &dyn std::fmt::Display) -> Result<IpAddr, FieldError> {
    text.parse()
        .map_err(|_| FieldError::new(field.to_string(), format!("invalid IP address {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(namespace: &str, name: &str, app: &str) -> NetworkPolicy {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"podSelector": {"matchLabels": {"app": app}}, "policyTypes": ["Egress"]}
        }))
        .expect("policy")
    }

    fn pod(namespace: &str, name: &str, app: &str) -> PodInfo {
        PodInfo {
            namespace: namespace.into(),
            name: name.into(),
            labels: Labels::from([("app".to_string(), app.to_string())]),
            ips: vec!["10.0.0.9".parse().expect("ip")],
            host_network: false,
            ports: Vec::new(),
        }
    }

    #[test]
    fn a_view_built_from_compiled_policies_shares_them_and_judges_alike() {
        let policies = [
            policy("grid", "ignite", "ignite"),
            policy("web", "deny", "web"),
        ];
        let first = Cluster::from_parts(&[], [pod("grid", "ignite-0", "ignite")], &policies)
            .expect("model");
        // The pods changed (one more), the policies did not.
        let pods = [
            pod("grid", "ignite-0", "ignite"),
            pod("web", "web-0", "web"),
        ];
        let reused = Cluster::from_parts_compiled(&[], pods.clone(), first.compiled_policies());
        let compiled = Cluster::from_parts(&[], pods, &policies).expect("model");
        assert!(reused.compiled_policies().is(&first.compiled_policies()));
        assert!(!compiled.compiled_policies().is(&first.compiled_policies()));
        for (namespace, name) in [("grid", "ignite-0"), ("web", "web-0")] {
            let of = |c: &Cluster| {
                let pod = c.pod(namespace, name).expect("pod");
                let policies = c.policies_in(namespace).expect("policies");
                policies
                    .selecting(&pod.labels)
                    .iter()
                    .map(|p| p.name.clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(of(&reused), of(&compiled), "{namespace}/{name}");
            assert_eq!(of(&reused).len(), 1, "{namespace}/{name} is selected");
        }
        assert_eq!(reused.policy_count(), 2);
    }

    /// A view built from another's namespaces shares them; a pod's namespace that is not
    /// listed is the view's own, with only the name label.
    #[test]
    fn listed_namespaces_are_shared_and_an_unlisted_one_is_the_views_own() {
        let grid: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "grid", "labels": {"zone": "a"}}
        }))
        .expect("namespace");
        let first =
            Cluster::from_parts(&[grid], [pod("grid", "ignite-0", "ignite")], &[]).expect("model");
        let web = super::super::PodChange {
            namespace: "web".into(),
            name: "web-0".into(),
            pod: Some(Arc::new(pod("web", "web-0", "web"))),
        };
        let pods = first.pod_set().changed([web]);
        let next = Cluster::from_pod_set(first.namespace_set(), pods, &[]).expect("model");
        assert!(next.namespace_set().is(&first.namespace_set()));
        let zone = |c: &Cluster| {
            c.namespace("grid")
                .and_then(|n| n.labels.get("zone").cloned())
        };
        assert_eq!(zone(&next), Some("a".to_string()));
        assert_eq!(next.namespace("web"), Some(&NamespaceInfo::named("web")));
        assert!(first.namespace("web").is_none());
        let mut names: Vec<&str> = next.namespaces().map(|n| n.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["grid", "web"]);
    }

    #[test]
    fn a_pod_listed_twice_takes_the_place_of_the_first() {
        let mut again = pod("grid", "ignite-0", "ignite");
        again.ips = vec!["10.0.0.10".parse().expect("ip")];
        let pods = [
            pod("grid", "ignite-0", "ignite"),
            pod("web", "web-0", "web"),
            pod("grid", "ignite-1", "ignite"),
            again,
        ];
        let cluster = Cluster::from_parts(&[], pods, &[]).expect("model");
        let names: Vec<String> = cluster
            .pods()
            .map(|p| format!("{}/{} {:?}", p.namespace, p.name, p.ips))
            .collect();
        assert_eq!(
            names,
            [
                "grid/ignite-0 [10.0.0.10]",
                "web/web-0 [10.0.0.9]",
                "grid/ignite-1 [10.0.0.9]"
            ]
        );
        let ip = |p: &str| p.parse().expect("ip");
        assert_eq!(
            cluster.pod("grid", "ignite-0").map(|p| p.ips.clone()),
            Some(vec![ip("10.0.0.10")])
        );
        assert!(cluster.pod("grid", "ignite-1").is_some());
        assert!(cluster.pod("grid", "ignite-2").is_none());
        assert!(cluster.is_pod_ip(&ip("10.0.0.10")));
    }
}
