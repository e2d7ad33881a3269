//! `ClusterSnapshot`: the Kubernetes objects the engine reads, loaded from files.
//!
//! Files hold what `kubectl get ... -o yaml` (or `-o json`) prints: a `v1 List` (or any
//! `*List` with `items`), a multi-document YAML stream, or single objects. Namespaces, Pods,
//! Services, EndpointSlices (`discovery.k8s.io/v1`), NetworkPolicies, Nodes and the cluster-wide
//! policies of `policy.networking.k8s.io` (ClusterNetworkPolicy `v1alpha2`, AdminNetworkPolicy
//! and BaselineAdminNetworkPolicy `v1alpha1`) are kept; other kinds are skipped and counted. Files are applied in order: an object replaces an earlier one of the same
//! kind, namespace and name, as `kubectl apply` would.
//!
//! Every error names the file, the document (1-based) and, inside a List, the item, plus the
//! field; loading never panics on bad input.

use std::{collections::BTreeMap, collections::HashMap, fmt, path::Path};

use k8s_openapi::{
    Metadata,
    api::{
        core::v1::{Namespace, Node, Pod, Service},
        discovery::v1::EndpointSlice,
        networking::v1::NetworkPolicy,
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde_json::Value;

use crate::policy::{
    Cluster, ClusterPolicy, FieldError, NodeInfo, ObjectError,
    tier::api::{AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy},
};

mod parse;
mod yaml;

/// Where an object came from: file (or other origin), document, and item inside a List.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub origin: String,
    pub document: usize,
    pub item: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {}", self.origin, self.document)?;
        if let Some(i) = self.item {
            write!(f, ", items[{i}]")?;
        }
        Ok(())
    }
}

/// A snapshot that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{at}: invalid {format}: {message}")]
    Syntax {
        at: Location,
        format: &'static str,
        message: String,
    },
    #[error(transparent)]
    Object(Box<InvalidObject>),
}

/// An object that is not valid: where it is, what it is, and which field is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{at}: {kind} {name}: {error}")]
pub struct InvalidObject {
    pub at: Location,
    pub kind: String,
    pub name: String,
    pub error: FieldError,
}

pub(crate) fn invalid(
    at: &Location,
    kind: impl Into<String>,
    name: impl Into<String>,
    error: FieldError,
) -> SnapshotError {
    SnapshotError::Object(Box::new(InvalidObject {
        at: at.clone(),
        kind: kind.into(),
        name: name.into(),
        error,
    }))
}

/// Objects kept by kind, in load order, each replaceable by namespace and name.
#[derive(Clone, Debug)]
pub struct Objects<T> {
    items: Vec<T>,
    keys: HashMap<(String, String), usize>,
}

impl<T> Default for Objects<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            keys: HashMap::new(),
        }
    }
}

impl<T: Metadata<Ty = ObjectMeta>> Objects<T> {
    /// Adds `obj`, replacing one with the same namespace and name.
    pub fn upsert(&mut self, obj: T) {
        let meta = obj.metadata();
        let key = (
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        );
        match self.keys.get(&key) {
            Some(&i) => self.items[i] = obj,
            None => {
                self.keys.insert(key, self.items.len());
                self.items.push(obj);
            }
        }
    }

    /// The object with this namespace and name.
    pub fn get(&self, namespace: &str, name: &str) -> Option<&T> {
        self.keys
            .get(&(namespace.to_string(), name.to_string()))
            .map(|&i| &self.items[i])
    }

    /// All objects, in load order.
    pub fn as_slice(&self) -> &[T] {
        &self.items
    }

    /// How many objects there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// The objects of a cluster that the engine reads.
#[derive(Clone, Debug, Default)]
pub struct ClusterSnapshot {
    pub namespaces: Objects<Namespace>,
    pub pods: Objects<Pod>,
    pub services: Objects<Service>,
    pub endpoint_slices: Objects<EndpointSlice>,
    pub network_policies: Objects<NetworkPolicy>,
    pub nodes: Objects<Node>,
    pub cluster_network_policies: Objects<ClusterNetworkPolicy>,
    pub admin_network_policies: Objects<AdminNetworkPolicy>,
    pub baseline_admin_network_policies: Objects<BaselineAdminNetworkPolicy>,
    /// Objects of other kinds, counted by `apiVersion/kind`.
    pub skipped: BTreeMap<String, usize>,
}

impl ClusterSnapshot {
    /// Loads files in order, later objects replacing earlier ones.
    pub fn load_files<P: AsRef<Path>>(paths: &[P]) -> Result<Self, SnapshotError> {
        let mut snapshot = Self::default();
        for path in paths {
            snapshot.add_file(path.as_ref())?;
        }
        Ok(snapshot)
    }

    /// Loads one file onto the snapshot.
    pub fn add_file(&mut self, path: &Path) -> Result<(), SnapshotError> {
        self.add_file_in(path, None)
    }

    /// Loads YAML or JSON text; `origin` names it in errors.
    pub fn add_text(&mut self, text: &str, origin: &str) -> Result<(), SnapshotError> {
        self.add_text_in(text, origin, None)
    }

    /// Loads one file, giving namespaced objects without `metadata.namespace` the namespace
    /// `namespace` (as `kubectl apply -n`).
    pub fn add_file_in(
        &mut self,
        path: &Path,
        namespace: Option<&str>,
    ) -> Result<(), SnapshotError> {
        let text = std::fs::read_to_string(path).map_err(|source| SnapshotError::Read {
            path: path.display().to_string(),
            source,
        })?;
        self.add_text_in(&text, &path.display().to_string(), namespace)
    }

    fn add_text_in(
        &mut self,
        text: &str,
        origin: &str,
        namespace: Option<&str>,
    ) -> Result<(), SnapshotError> {
        for obj in parse::parse_text(text, origin, namespace)? {
            self.insert(obj);
        }
        Ok(())
    }

    /// Adds an already parsed object, List or JSON array of objects.
    pub fn add_value(&mut self, value: Value, at: &Location) -> Result<(), SnapshotError> {
        for obj in parse::objects_of_value(value, at, None)? {
            self.insert(obj);
        }
        Ok(())
    }

    fn insert(&mut self, obj: parse::Object) {
        match obj {
            parse::Object::Namespace(o) => self.namespaces.upsert(*o),
            parse::Object::Pod(o) => self.pods.upsert(*o),
            parse::Object::Service(o) => self.services.upsert(*o),
            parse::Object::EndpointSlice(o) => self.endpoint_slices.upsert(*o),
            parse::Object::NetworkPolicy(o) => self.network_policies.upsert(*o),
            parse::Object::Node(o) => self.nodes.upsert(*o),
            parse::Object::ClusterNetworkPolicy(o) => self.cluster_network_policies.upsert(*o),
            parse::Object::AdminNetworkPolicy(o) => self.admin_network_policies.upsert(*o),
            parse::Object::BaselineAdminNetworkPolicy(o) => {
                self.baseline_admin_network_policies.upsert(*o)
            }
            parse::Object::Skipped(kind) => *self.skipped.entry(kind).or_default() += 1,
        }
    }

    /// How many objects were kept.
    pub fn object_count(&self) -> usize {
        self.namespaces.len()
            + self.pods.len()
            + self.services.len()
            + self.endpoint_slices.len()
            + self.network_policies.len()
            + self.nodes.len()
            + self.cluster_network_policies.len()
            + self.admin_network_policies.len()
            + self.baseline_admin_network_policies.len()
    }

    /// Builds the engine's indexed model of namespaces, pods, nodes and policies.
    pub fn cluster(&self) -> Result<Cluster, ObjectError> {
        let mut cluster = Cluster::build(
            self.namespaces.as_slice(),
            self.pods.as_slice(),
            self.network_policies.as_slice(),
        )?;
        self.add_tiers(&mut cluster)?;
        Ok(cluster)
    }

    /// Adds the snapshot's nodes and cluster-wide policies to `cluster`.
    pub fn add_tiers(&self, cluster: &mut Cluster) -> Result<(), ObjectError> {
        for node in self.nodes.as_slice() {
            cluster.upsert_node(NodeInfo::from_node(node));
        }
        fn fail(kind: &'static str, name: &Option<String>, error: FieldError) -> ObjectError {
            ObjectError {
                kind,
                namespace: String::new(),
                name: name.clone().unwrap_or_default(),
                error,
            }
        }
        for o in self.cluster_network_policies.as_slice() {
            let p = ClusterPolicy::compile_cnp(o)
                .map_err(|e| fail("ClusterNetworkPolicy", &o.metadata.name, e))?;
            cluster.upsert_cluster_policy(p);
        }
        for o in self.admin_network_policies.as_slice() {
            let p = ClusterPolicy::compile_anp(o)
                .map_err(|e| fail("AdminNetworkPolicy", &o.metadata.name, e))?;
            cluster.upsert_cluster_policy(p);
        }
        for o in self.baseline_admin_network_policies.as_slice() {
            let p = ClusterPolicy::compile_banp(o)
                .map_err(|e| fail("BaselineAdminNetworkPolicy", &o.metadata.name, e))?;
            cluster.upsert_cluster_policy(p);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_objects_replace_earlier_ones_and_unknown_kinds_are_counted() {
        let mut s = ClusterSnapshot::default();
        let yaml = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {x: '1'}}\n---\n\
                    apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {x: '2'}}\n---\n\
                    apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n";
        s.add_text(yaml, "t.yaml").expect("valid snapshot");
        assert_eq!(s.namespaces.len(), 1);
        let labels = s.namespaces.as_slice()[0]
            .metadata
            .labels
            .as_ref()
            .expect("labels");
        assert_eq!(labels.get("x").map(String::as_str), Some("2"));
        assert_eq!(s.skipped.get("apps/v1/Deployment"), Some(&1));
    }

    #[test]
    fn errors_name_file_document_item_and_field() {
        let cases = [
            (
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p, namespace: a}\n  spec: {containers: [{name: c, ports: [{containerPort: \"x\"}]}]}\n",
                "t.yaml: document 2, items[0]: Pod a/p: spec.containers[0].ports[0].containerPort",
            ),
            (
                "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: a}\nspec:\n  podSelector: {}\n  egress: [{ports: [{port: abc, endPort: 90}]}]\n",
                "t.yaml: document 1: NetworkPolicy a/p: spec.egress[0].ports[0].endPort",
            ),
            (
                "kind: Pod\nmetadata: {name: p}\n",
                "t.yaml: document 1: Pod p: apiVersion: must be set",
            ),
            ("a: [1, 2\n", "t.yaml: document 1: invalid YAML: line"),
            (
                "- 1\n- 2\n",
                "t.yaml: document 1, items[0]: object : (root): expected a Kubernetes object",
            ),
        ];
        for (text, want) in cases {
            let err = ClusterSnapshot::default()
                .add_text(text, "t.yaml")
                .expect_err("must be rejected");
            assert!(
                err.to_string().starts_with(want),
                "want {want:?}, got {err}"
            );
        }
    }
}
