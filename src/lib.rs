//! # ignite-netpol
//!
//! Keeps Kubernetes NetworkPolicies from cutting Apache Ignite off from the API server, DNS and
//! its peers.
//!
//! How a review flows through (dependencies point from the edges inward to the pure core):
//!
//! 1. [`server`] accepts the API server's HTTPS request (axum on hyper-util, rustls), checks
//!    content type, size and time, and hands the body to [`admission`] inside a span per review.
//! 2. [`admission`] reads the AdmissionReview (one typed pass, or a careful one that says what is
//!    wrong), builds the request's facts once, calls the decision, and answers
//!    ([`admission::response`]): allowed, denied with the explanation, or patched (base64 JSON
//!    Patch). It also builds the review's audit record ([`admission::audit`]).
//! 3. [`ignite`] decides, purely: which namespaces and pods are in scope ([`ignite::scope`]),
//!    where DNS and the API server really are ([`ignite::environment`]), which required flows the
//!    namespace's policy set after the change cuts ([`ignite::flows`]), and what follows by mode —
//!    a denial with hints and the rules that fix it, a patch, or warnings ([`ignite::decision`]).
//! 4. [`policy`] is the NetworkPolicy engine the decision asks: selectors, ipBlocks, ports,
//!    evaluation of single connections with an explanation, and what-if views. Pure.
//! 5. [`audit`] writes the record off the request path; the server counts the answer in its
//!    metrics.
//!
//! Where the view comes from: [`snapshot`] loads objects from files (YAML or JSON, as kubectl
//! prints them); [`cluster`] watches a live cluster (slimmed reflectors, rebuilt after each burst
//! of changes) and runs the reconciler, which keeps managed rules current and reports namespaces
//! that are cut off. [`cli`] wires it all for the binary; `check` judges a sequence of writes
//! through [`ignite::sequence`], the same decision a review gets; [`query`] answers `eval`'s
//! connectivity queries.

pub mod admission;
pub mod audit;
pub mod certs;
pub mod cli;
pub mod cluster;
pub mod ignite;
mod json;
pub mod policy;
pub mod query;
pub mod report;
pub mod server;
pub mod snapshot;
