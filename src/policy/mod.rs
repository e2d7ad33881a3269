//! Pure NetworkPolicy semantics (`networking.k8s.io/v1`): selectors, ipBlocks, ports,
//! compilation with the API's defaults and validation, an indexed cluster model, and evaluation
//! of single connections with an explanation.
//!
//! Nothing here does I/O or knows about admission, Ignite, tokio or kube clients.

mod cluster;
mod compile;
mod eval;
mod ipblock;
pub(crate) mod port;
mod selector;

pub use cluster::{
    Cluster, NAMESPACE_NAME_LABEL, NamespaceInfo, NamespacePolicies, ObjectError, PodInfo,
};
pub use compile::{Direction, NamespaceScope, Peer, Policy, Rule};
pub use eval::{
    Connection, Endpoint, PolicyChange, PolicyRef, RuleRef, Side, SideStatus, Verdict, View,
    peer_matches, rule_allows,
};
pub use ipblock::{IpBlock, parse_cidr};
pub use port::{ContainerPort, PortMatch, Protocol, RulePort, UnknownProtocol, validate_port_name};
pub use selector::{Labels, Selector};

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
