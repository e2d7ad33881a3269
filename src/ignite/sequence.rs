//! A sequence of NetworkPolicy writes, each judged on the cluster as the ones before it left it:
//! what `check` does with the policies of its files in order, and what the API server sees over
//! time. Each write goes through [`decide`] exactly as a review does (CREATE, or UPDATE when a
//! policy of that name is stored), and what the API server would store is stored: the policy as
//! written, the patched policy, or nothing when it is denied. Pure.

use k8s_openapi::api::networking::v1::NetworkPolicy;

use super::{
    config::{Compiled, Mode},
    decision::{Decision, InvalidPolicy, Operation, PolicyRequest, Verdict, decide},
    environment::Environment,
    patch,
};
use crate::{policy::ObjectError, snapshot::ClusterSnapshot};

/// Why a write could not be judged or stored.
#[derive(Debug, thiserror::Error)]
pub enum SequenceError {
    #[error(transparent)]
    Invalid(#[from] InvalidPolicy),
    #[error("NetworkPolicy {0}: {1}")]
    Patch(String, String),
    #[error("rebuilding the cluster model: {0}")]
    Model(#[from] ObjectError),
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
}
