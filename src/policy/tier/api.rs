//! The objects of `policy.networking.k8s.io` as they are stored: ClusterNetworkPolicy
//! (`v1alpha2`, network-policy-api v0.2) and its predecessors AdminNetworkPolicy and
//! BaselineAdminNetworkPolicy (`v1alpha1`).
//!
//! k8s-openapi has no types for these CRDs, so they are written here, field for field after
//! `apis/v1alpha2/clusternetworkpolicy_types.go` and `apis/v1alpha1/*_types.go`. Fields are
//! read leniently (every one optional, enums as strings): compiling them checks what the CRD's
//! schema checks and names the field that is wrong. A peer or protocol with none of the fields
//! known here comes from a newer CRD; compiling keeps it as such, so that evaluation can fail
//! closed as the API asks.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::Deserialize;

/// The API group of all three kinds.
pub const GROUP: &str = "policy.networking.k8s.io";

/// The spec shared by the three kinds; which fields a kind may use is checked when compiling.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// `Admin` or `Baseline` (ClusterNetworkPolicy only).
    pub tier: Option<String>,
    /// 0-1000; not on a BaselineAdminNetworkPolicy.
    pub priority: Option<i64>,
    pub subject: Option<Subject>,
    pub ingress: Option<Vec<Rule>>,
    pub egress: Option<Vec<Rule>>,
}

/// Exactly one of `namespaces` and `pods`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Subject {
    pub namespaces: Option<LabelSelector>,
    pub pods: Option<NamespacedPod>,
}

/// Pods by namespace and pod selector.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedPod {
    pub namespace_selector: Option<LabelSelector>,
    pub pod_selector: Option<LabelSelector>,
}

/// An ingress (`from`) or egress (`to`) rule.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Rule {
    pub name: Option<String>,
    /// `Accept`/`Deny`/`Pass` (v1alpha2); `Allow`/`Deny`/`Pass` (v1alpha1).
    pub action: Option<String>,
    pub from: Option<Vec<Peer>>,
    pub to: Option<Vec<Peer>>,
    /// v1alpha2.
    pub protocols: Option<Vec<ProtocolMatch>>,
    /// v1alpha1.
    pub ports: Option<Vec<AdminPort>>,
}

/// Exactly one field set; ingress peers only have `namespaces` and `pods`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Peer {
    pub namespaces: Option<LabelSelector>,
    pub pods: Option<NamespacedPod>,
    pub nodes: Option<LabelSelector>,
    pub networks: Option<Vec<String>>,
    pub domain_names: Option<Vec<String>>,
}

/// A v1alpha2 `protocols` entry: exactly one of `tcp`, `udp`, `sctp`, `destinationNamedPort`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolMatch {
    pub tcp: Option<ProtocolPort>,
    pub udp: Option<ProtocolPort>,
    pub sctp: Option<ProtocolPort>,
    pub destination_named_port: Option<String>,
}

/// `destinationPort` of a protocol.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolPort {
    pub destination_port: Option<PortOrRange>,
}

/// Exactly one of `number` and `range`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct PortOrRange {
    pub number: Option<i64>,
    pub range: Option<PortRange>,
}

/// An inclusive range, `start` < `end`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct PortRange {
    pub protocol: Option<String>,
    pub start: Option<i64>,
    pub end: Option<i64>,
}

/// A v1alpha1 `ports` entry: exactly one of `portNumber`, `namedPort`, `portRange`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AdminPort {
    pub port_number: Option<PortNumber>,
    pub named_port: Option<String>,
    pub port_range: Option<PortRange>,
}

/// A v1alpha1 `portNumber`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct PortNumber {
    pub protocol: Option<String>,
    pub port: Option<i64>,
}

macro_rules! cluster_scoped {
    ($(#[$doc:meta])* $ty:ident, $version:literal, $plural:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, Deserialize, PartialEq)]
        pub struct $ty {
            #[serde(default)]
            pub metadata: ObjectMeta,
            pub spec: Option<Spec>,
        }

        impl k8s_openapi::Resource for $ty {
            const API_VERSION: &'static str = concat!("policy.networking.k8s.io/", $version);
            const GROUP: &'static str = GROUP;
            const KIND: &'static str = stringify!($ty);
            const VERSION: &'static str = $version;
            const URL_PATH_SEGMENT: &'static str = $plural;
            type Scope = k8s_openapi::ClusterResourceScope;
        }

        impl k8s_openapi::ListableResource for $ty {
            const LIST_KIND: &'static str = concat!(stringify!($ty), "List");
        }

        impl k8s_openapi::Metadata for $ty {
            type Ty = ObjectMeta;

            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }

            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

cluster_scoped!(
    /// `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicy, Admin or Baseline tier.
    ClusterNetworkPolicy,
    "v1alpha2",
    "clusternetworkpolicies"
);
cluster_scoped!(
    /// `policy.networking.k8s.io/v1alpha1` AdminNetworkPolicy: the Admin tier.
    AdminNetworkPolicy,
    "v1alpha1",
    "adminnetworkpolicies"
);
cluster_scoped!(
    /// `policy.networking.k8s.io/v1alpha1` BaselineAdminNetworkPolicy: the Baseline tier, a
    /// singleton named `default`.
    BaselineAdminNetworkPolicy,
    "v1alpha1",
    "baselineadminnetworkpolicies"
);

/// One stored object of the three kinds.
#[derive(Clone, Copy, Debug)]
pub enum Object<'a> {
    ClusterNetworkPolicy(&'a ClusterNetworkPolicy),
    AdminNetworkPolicy(&'a AdminNetworkPolicy),
    BaselineAdminNetworkPolicy(&'a BaselineAdminNetworkPolicy),
}

impl Object<'_> {
    /// Which kind it is.
    pub fn kind(&self) -> super::Kind {
        match self {
            Self::ClusterNetworkPolicy(_) => super::Kind::ClusterNetworkPolicy,
            Self::AdminNetworkPolicy(_) => super::Kind::AdminNetworkPolicy,
            Self::BaselineAdminNetworkPolicy(_) => super::Kind::BaselineAdminNetworkPolicy,
        }
    }

    /// Its `metadata.name`, empty when unset.
    pub fn name(&self) -> &str {
        let meta = match self {
            Self::ClusterNetworkPolicy(o) => &o.metadata,
            Self::AdminNetworkPolicy(o) => &o.metadata,
            Self::BaselineAdminNetworkPolicy(o) => &o.metadata,
        };
        meta.name.as_deref().unwrap_or_default()
    }

    /// Compiles it; errors name the offending field.
    pub fn compile(&self) -> Result<super::ClusterPolicy, crate::policy::FieldError> {
        match self {
            Self::ClusterNetworkPolicy(o) => super::ClusterPolicy::compile_cnp(o),
            Self::AdminNetworkPolicy(o) => super::ClusterPolicy::compile_anp(o),
            Self::BaselineAdminNetworkPolicy(o) => super::ClusterPolicy::compile_banp(o),
        }
    }
}
