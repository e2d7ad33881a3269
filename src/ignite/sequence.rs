//! A sequence of NetworkPolicy (and cluster-wide policy) writes, each judged on the cluster as the ones before it left it:
//! what `check` does with the policies of its files in order, and what the API server sees over
//! time. Each write goes through [`decide`] exactly as a review does (CREATE, or UPDATE when a
//! policy of that name is stored), and what the API server would store is stored: the policy as
//! written, the patched policy, or nothing when it is denied. Pure.

use k8s_openapi::api::networking::v1::NetworkPolicy;

use super::{
    config::{Compiled, Mode},
    decision::{
        ClusterPolicyRequest, Decision, InvalidPolicy, Operation, PolicyRequest, Verdict, decide,
        decide_cluster_policy,
    },
    environment::Environment,
    patch,
};
use crate::{
    policy::{FieldError, ObjectError, tier::api},
    snapshot::ClusterSnapshot,
};

/// Why a write could not be judged or stored.
#[derive(Debug, thiserror::Error)]
pub enum SequenceError {
    #[error(transparent)]
    Invalid(#[from] InvalidPolicy),
    #[error("NetworkPolicy {0}: {1}")]
    Patch(String, String),
    #[error("rebuilding the cluster model: {0}")]
    Model(#[from] ObjectError),
    #[error("{0} {1} is invalid: {2}")]
    InvalidClusterPolicy(&'static str, String, FieldError),
}

/// The cluster as the writes so far have left it.
#[derive(Debug)]
pub struct Sequence {
    snapshot: ClusterSnapshot,
    cfg: Compiled,
    env: Environment,
}

impl Sequence {
    /// Starts from `snapshot`.
    pub fn new(snapshot: ClusterSnapshot, cfg: Compiled) -> Result<Self, ObjectError> {
        let env = Environment::build(&snapshot, &cfg)?;
        Ok(Self { snapshot, cfg, env })
    }

    /// The current environment.
    pub fn environment(&self) -> &Environment {
        &self.env
    }

    /// Judges a write of `np` (with its namespace set) in `mode` (or the namespace's), and
    /// stores what the API server would store.
    pub fn write(
        &mut self,
        np: &NetworkPolicy,
        mode: Option<Mode>,
    ) -> Result<Decision, SequenceError> {
        let namespace = np.metadata.namespace.clone().unwrap_or_default();
        let name = np.metadata.name.clone().unwrap_or_default();
        let stored = self.snapshot.network_policies.get(&namespace, &name);
        let request = PolicyRequest {
            operation: if stored.is_some() {
                Operation::Update
            } else {
                Operation::Create
            },
            namespace: &namespace,
            name: &name,
            object: Some(np),
            mode,
            validating: false,
        };
        let decision = decide(&self.env, &self.cfg, &request)?;
        let kept = match (decision.verdict, decision.patch.as_ref()) {
            (Verdict::Denied, _) => None,
            (Verdict::Patched, Some(p)) => Some(
                patch::apply(np, p)
                    .map_err(|e| SequenceError::Patch(format!("{namespace}/{name}"), e))?,
            ),
            _ => Some(np.clone()),
        };
        if let Some(kept) = kept {
            self.snapshot.network_policies.upsert(kept);
            self.env = Environment::build(&self.snapshot, &self.cfg)?;
        }
        Ok(decision)
    }

    /// Judges a write of a cluster-wide policy and stores it unless it is denied.
    pub fn write_cluster_policy(
        &mut self,
        obj: api::Object<'_>,
        mode: Option<Mode>,
    ) -> Result<Decision, SequenceError> {
        let kind = obj.kind();
        let name = obj.name().to_string();
        let compiled = obj
            .compile()
            .map_err(|e| SequenceError::InvalidClusterPolicy(kind.as_str(), name.clone(), e))?;
        let stored = match obj {
            api::Object::ClusterNetworkPolicy(_) => self
                .snapshot
                .cluster_network_policies
                .get("", &name)
                .is_some(),
            api::Object::AdminNetworkPolicy(_) => self
                .snapshot
                .admin_network_policies
                .get("", &name)
                .is_some(),
            api::Object::BaselineAdminNetworkPolicy(_) => self
                .snapshot
                .baseline_admin_network_policies
                .get("", &name)
                .is_some(),
        };
        let decision = decide_cluster_policy(
            &self.env,
            &self.cfg,
            &ClusterPolicyRequest {
                operation: if stored {
                    Operation::Update
                } else {
                    Operation::Create
                },
                kind,
                name: &name,
                object: Some(&compiled),
                mode,
            },
        );
        if decision.verdict != Verdict::Denied {
            match obj {
                api::Object::ClusterNetworkPolicy(o) => {
                    self.snapshot.cluster_network_policies.upsert(o.clone())
                }
                api::Object::AdminNetworkPolicy(o) => {
                    self.snapshot.admin_network_policies.upsert(o.clone())
                }
                api::Object::BaselineAdminNetworkPolicy(o) => self
                    .snapshot
                    .baseline_admin_network_policies
                    .upsert(o.clone()),
            }
            self.env = Environment::build(&self.snapshot, &self.cfg)?;
        }
        Ok(decision)
    }
}
