//! [`Environment`]: everything a decision reads — the engine's model of the cluster and where
//! DNS and the API server really are — and the [`Gap`]s where the view could not say.
//!
//! The names, from the outside in: a [`ClusterSnapshot`] is objects as loaded (files, or the
//! live stores); [`Cluster`] is the engine's indexed model of them; an `Environment` adds the
//! resolved targets; a [`View`](crate::policy::View) is a what-if over a `Cluster` (one policy
//! added, replaced or deleted); the server's `ClusterView` is the `Environment` it answers on.

use std::fmt;

use serde::Serialize;

use super::{
    config::Compiled,
    flows::FlowKind,
    rules::Prepared,
    targets::{ApiServerTargets, DnsTargets, Objects, resolve_api_server, resolve_dns},
};
use crate::{
    policy::{Cluster, PodInfo},
    snapshot::ClusterSnapshot,
};

/// A target the cluster view does not show, so the flows to it cannot be checked: a change
/// that isolates Ignite's egress cannot be proven safe until the configuration names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub flow: FlowKind,
    /// What is missing, e.g. `no DNS Service in the cluster view (…)`.
    pub what: String,
    /// The configuration key that fixes it.
    pub key: &'static str,
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: set {}", self.what, self.key)
    }
}

/// Everything a decision reads: the engine's model and the resolved targets.
#[derive(Debug)]
pub struct Environment {
    pub cluster: Cluster,
    pub dns: DnsTargets,
    pub api_server: ApiServerTargets,
    /// Targets that could not be found (decisions that isolate egress cannot be proven safe).
    pub gaps: Vec<Gap>,
    /// What was guessed to fill the view, e.g. a well-known DNS Service used instead of the
    /// configured one: said once in a warning.
    pub notes: Vec<String>,
    /// The rules that give Ignite its flows here, built and printed once for every denial.
    pub prepared: Prepared,
}

impl Environment {
    /// Builds the model from a loaded snapshot and resolves targets.
    pub fn build(
        snapshot: &ClusterSnapshot,
        config: &Compiled,
    ) -> Result<Self, crate::policy::ObjectError> {
        let objects = Objects {
            services: snapshot.services.as_slice(),
            endpoint_slices: snapshot.endpoint_slices.as_slice(),
        };
        Ok(Self::new(snapshot.cluster()?, objects, config))
    }

    /// Resolves targets from the view's Services and EndpointSlices for a model built from
    /// plain objects (the live view's stores, a snapshot's files).
    pub fn new(cluster: Cluster, objects: Objects<'_>, config: &Compiled) -> Self {
        let (mut gaps, mut notes) = (Vec::new(), Vec::new());
        let dns = resolve_dns(objects, &cluster, config, &mut gaps, &mut notes);
        let api_server = if config.config.profile.needs_api_server() {
            resolve_api_server(objects, config, &mut gaps)
        } else {
            ApiServerTargets::default()
        };
        let prepared = Prepared::new(&dns, &api_server, config);
        Self {
            cluster,
            dns,
            api_server,
            gaps,
            notes,
            prepared,
        }
    }

    /// The DNS pods as the engine sees them.
    pub fn dns_pods(&self) -> impl Iterator<Item = &PodInfo> {
        self.dns
            .pods
            .iter()
            .filter_map(|name| self.cluster.pod(&self.dns.namespace, name))
    }

    /// Whether some target could not be found.
    pub fn is_incomplete(&self) -> bool {
        !self.gaps.is_empty()
    }
}
