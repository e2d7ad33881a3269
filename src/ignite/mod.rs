//! What Apache Ignite needs from the network, and the admission decision. Pure: no I/O.
//!
//! - [`config`]: which pods are Ignite, modes, profiles of required flows, DNS and API server.
//! - [`scope`]: which namespaces are judged and in which mode, which pods are Ignite.
//! - [`environment`]: what a decision reads — the engine's model and the resolved targets.
//! - [`targets`]: where DNS and the API server really are (after DNAT), from the cluster view.
//! - [`flows`]: which required flows a policy set cuts, judged once per class of alike pods.
//! - [`hints`]: the classic mistakes behind a cut.
//! - [`rules`] and [`patch`]: the smallest rules that fix it, as a JSON Patch on the incoming policy.
//! - [`refresh`]: managed rules rewritten in place when the addresses they name move.
//! - [`report`]: every in-scope namespace judged, for `scan` and the reconciler.
//! - [`impact`]: what a change outside an Ignite namespace (a NetworkPolicy elsewhere, a
//!   cluster-wide policy) cuts from the Ignite namespaces.
//! - [`decision`]: CREATE/UPDATE/DELETE → allowed, denied, patched or warned.
//! - [`message`]: the text a person reads.
//! - [`generate`]: the most restrictive egress policy that lets Ignite work.
//! - [`sequence`]: writes judged one after another, each on what the ones before stored (`check`).

mod classes;
pub mod config;
pub mod decision;
pub mod environment;
pub mod evidence;
pub mod excess;
pub mod flows;
pub mod generate;
pub mod hints;
pub mod impact;
pub mod message;
pub mod patch;
pub mod refresh;
pub mod report;
pub mod rules;
pub mod scope;
pub mod sequence;
pub mod targets;

pub use config::{Compiled, Config, LeastPrivilege, Mode};
pub use decision::{
    ClusterPolicyRequest, Decision, Operation, PolicyRequest, Verdict, decide,
    decide_cluster_policy,
};
pub use environment::Environment;
