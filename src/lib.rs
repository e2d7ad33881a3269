//! # ignite-netpol
//!
//! Keeps Kubernetes NetworkPolicies from cutting Apache Ignite off from the API server, DNS and
//! its peers.
//!
//! How a question flows through:
//! 1. [`snapshot`] loads the objects of a cluster (files now; a live view later) into a
//!    [`snapshot::ClusterSnapshot`].
//! 2. [`policy`] compiles NetworkPolicies with the API's defaults and validation, indexes them
//!    in a [`policy::Cluster`], and judges single connections with an explanation. It is pure:
//!    no I/O, no async.
//! 3. [`query`] reads `eval` queries (JSON lines) against a cluster and writes the answers.
//! 4. [`cli`] wires these together for the `ignite-netpol` binary.

pub mod admission;
pub mod audit;
pub mod certs;
pub mod cli;
pub mod cluster;
pub mod ignite;
pub mod policy;
pub mod query;
pub mod server;
pub mod snapshot;
