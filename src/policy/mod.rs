//! Pure NetworkPolicy semantics (`networking.k8s.io/v1`) and the cluster-wide tiers around it
//! (ClusterNetworkPolicy, AdminNetworkPolicy, BaselineAdminNetworkPolicy): selectors, ipBlocks,
//! ports, compilation with the APIs' defaults and validation, an indexed cluster model, and
//! evaluation of single connections with an explanation.
//!
//! Nothing here does I/O or knows about admission, Ignite, tokio or kube clients.

mod cluster;
mod compile;
mod eval;
mod ipblock;
mod labels;
mod podset;
pub(crate) mod port;
mod selector;
pub mod tier;

pub use cluster::{
    Cluster, CompiledPolicies, NAMESPACE_NAME_LABEL, NamespaceInfo, NamespacePolicies, Namespaces,
    NodeInfo, ObjectError, PodInfo,
};
pub use compile::{Direction, NamespaceScope, Peer, Policy, Rule};
pub use eval::{
    ClusterPolicyChange, Connection, Endpoint, Layer, PolicyChange, PolicyRef, RuleRef, Side,
    SideStatus, TierRuleRef, Verdict, View, peer_matches, rule_admits, rule_allows,
    rule_allows_port,
};
pub use ipblock::{IpBlock, parse_cidr};
pub use labels::Labels;
pub use podset::{GoneMark, PodChange, PodSet};
pub use port::{ContainerPort, PortMatch, Protocol, RulePort, UnknownProtocol, validate_port_name};
pub use selector::Selector;
pub use tier::{Action, ClusterPolicy, Tier};

/// A field path built lazily, so compiling a valid object formats nothing:
/// `Sub::new(&"spec", "egress", Some(0))` displays as `spec.egress[0]`.
#[derive(Clone, Copy)]
pub struct Sub<'a> {
    parent: &'a dyn std::fmt::Display,
    key: &'a str,
    index: Option<usize>,
}

impl<'a> Sub<'a> {
    /// `parent.key` or `parent.key[index]`.
    pub fn new(parent: &'a dyn std::fmt::Display, key: &'a str, index: Option<usize>) -> Self {
        Self { parent, key, index }
    }
}

impl std::fmt::Display for Sub<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.parent, self.key)?;
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        Ok(())
    }
}

/// A field of an object that is invalid, named by its path (`spec.egress[0].ports[1].port`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
