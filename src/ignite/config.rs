//! The configuration: which pods are Ignite, which namespaces are judged and how, which flows
//! Ignite needs, and where DNS and the API server are. Every key has a default, so an empty file
//! (or none) is a complete configuration; `ignite-netpol config print` shows the effective one.

mod mode;

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::{Deserialize, Serialize};

use crate::policy::{FieldError, Protocol, Selector};

pub use mode::{LeastPrivilege, Mode, Profile};

/// The namespace label that sets a namespace's mode.
pub const DEFAULT_MODE_LABEL: &str = "ignite-netpol.io/mode";

/// The namespace label that sets what excess egress does (`warn` or `enforce`).
pub const LEAST_PRIVILEGE_LABEL: &str = "ignite-netpol.io/least-privilege";

/// A Service named by namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Peer flows between Ignite nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PeersConfig {
    /// Peer ports, overriding the profile's when not empty.
    pub ports: Vec<u16>,
    /// How many consecutive ports from each base port a node may bind (Ignite's
    /// `localPortRange` is 100). 1 — the default — is the base port only: one node per pod binds
    /// exactly the base ports.
    pub port_range: u16,
}

impl Default for PeersConfig {
    fn default() -> Self {
        Self {
            ports: Vec::new(),
            port_range: 1,
        }
    }
}

/// The DNS Services that distributions create, looked for (in this order) when the configured one
/// is not in the cluster view: upstream CoreDNS and kube-dns (kubeadm, kind, EKS, GKE, AKS, k3s),
/// OpenShift's DNS operator, RKE2's CoreDNS chart, and CoreDNS installed under its own name.
pub const WELL_KNOWN_DNS_SERVICES: [(&str, &str); 4] = [
    ("kube-system", "kube-dns"),
    ("openshift-dns", "dns-default"),
    ("kube-system", "rke2-coredns-rke2-coredns"),
    ("kube-system", "coredns"),
];

/// Where DNS is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct DnsConfig {
    /// The DNS Service; its pods, on the Service's **target** ports, are the DNS targets.
    pub service: ServiceRef,
    /// Extra DNS addresses reached on the Service port without DNAT, e.g. NodeLocal DNSCache's
    /// `169.254.20.10`.
    pub extra_addresses: Vec<String>,
    /// Also require the Service's ClusterIP (NodeLocal DNSCache in iptables mode answers there).
    #[serde(rename = "includeClusterIP")]
    pub include_cluster_ip: bool,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            service: ServiceRef {
                namespace: "kube-system".into(),
                name: "kube-dns".into(),
            },
            extra_addresses: Vec::new(),
            include_cluster_ip: false,
        }
    }
}

/// An API server address used when the snapshot has no EndpointSlices for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub address: String,
    pub port: u16,
}

/// Where the API server is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiServerConfig {
    /// The API server's Service: its ClusterIP and port, and the addresses and ports of its
    /// EndpointSlices (the control plane's real addresses, 6443 on kubeadm).
    pub service: ServiceRef,
    /// Used when the snapshot has no EndpointSlice for the Service.
    pub fallback: Vec<Address>,
    /// Also require the ClusterIP on the Service port: CNIs that match before DNAT (the AWS
    /// network-policy agent) need it; a rule allowing both works everywhere.
    #[serde(rename = "requireClusterIP")]
    pub require_cluster_ip: bool,
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        Self {
            service: ServiceRef {
                namespace: "default".into(),
                name: "kubernetes".into(),
            },
            fallback: Vec::new(),
            require_cluster_ip: true,
        }
    }
}

/// Which way an extra flow goes, seen from the Ignite pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowDirection {
    /// Into the Ignite pods (e.g. thin clients).
    Ingress,
    /// Out of the Ignite pods.
    Egress,
}

/// A user-defined flow, e.g. thin clients from namespace `apps` on 10800.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExtraFlow {
    pub name: String,
    pub direction: FlowDirection,
    /// The namespace of the pods at the other end.
    pub namespace: String,
    /// Which of its pods; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    pub port: u16,
    #[serde(default)]
    pub protocol: Protocol,
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// A pod matching any of these selectors is an Ignite pod. The first one also names Ignite
    /// pods in the rules the patch writes, and stands for them where none runs yet.
    pub ignite_pods: Vec<LabelSelector>,
    /// The namespace label that sets the mode.
    pub mode_label: String,
    /// The mode of a namespace that runs Ignite pods but has no mode label.
    pub default_mode: Mode,
    /// What excess egress does where the namespace has no `ignite-netpol.io/least-privilege`
    /// label: `warn` (admit with warnings) or `enforce` (deny).
    pub least_privilege: LeastPrivilege,
    pub profile: Profile,
    pub peers: PeersConfig,
    pub dns: DnsConfig,
    pub api_server: ApiServerConfig,
    pub extra_flows: Vec<ExtraFlow>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            ignite_pods: vec![LabelSelector {
                match_labels: Some([("app".to_string(), "ignite".to_string())].into()),
                match_expressions: None,
            }],
            mode_label: DEFAULT_MODE_LABEL.into(),
            default_mode: Mode::Enforce,
            least_privilege: LeastPrivilege::Warn,
            profile: Profile::default(),
            peers: PeersConfig::default(),
            dns: DnsConfig::default(),
            api_server: ApiServerConfig::default(),
            extra_flows: Vec::new(),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}: invalid YAML: {message}")]
    Syntax { origin: String, message: String },
    #[error("{origin}: {error}")]
    Invalid { origin: String, error: FieldError },
}

/// A configuration with its selectors compiled.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub config: Config,
    pub ignite_pods: Vec<Selector>,
    pub extra_flows: Vec<(ExtraFlow, Selector)>,
}

impl Config {
    /// Reads YAML text; absent keys take their defaults.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Compiled, ConfigError> {
        let config: Config = if text.trim().is_empty() {
            Config::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| {
                let message = e
                    .without_snippet()
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                ConfigError::Syntax {
                    origin: origin.to_string(),
                    message: with_suggestion(message),
                }
            })?
        };
        config.compile().map_err(|error| ConfigError::Invalid {
            origin: origin.to_string(),
            error,
        })
    }

    /// Validates the configuration and compiles its selectors.
    pub fn compile(self) -> Result<Compiled, FieldError> {
        if self.ignite_pods.is_empty() {
            return Err(FieldError::new(
                "ignitePods",
                "must name at least one selector",
            ));
        }
        let ignite_pods = self
            .ignite_pods
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let sel = Selector::compile(s, &format!("ignitePods[{i}]"))?;
                if sel.is_everything() {
                    return Err(FieldError::new(
                        format!("ignitePods[{i}]"),
                        "must not be empty: it would make every pod an Ignite pod",
                    ));
                }
                Ok(sel)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if self.peers.port_range == 0 {
            return Err(FieldError::new("peers.portRange", "must be at least 1"));
        }
        for (i, p) in self.peer_ports().iter().enumerate() {
            if *p == 0 || u32::from(*p) + u32::from(self.peers.port_range) - 1 > 65535 {
                return Err(FieldError::new(
                    format!("peers.ports[{i}]"),
                    format!(
                        "{p} with portRange {} is not a valid port range",
                        self.peers.port_range
                    ),
                ));
            }
        }
        for (i, a) in self.dns.extra_addresses.iter().enumerate() {
            a.parse::<std::net::IpAddr>().map_err(|_| {
                FieldError::new(
                    format!("dns.extraAddresses[{i}]"),
                    format!("invalid IP address {a:?}"),
                )
            })?;
        }
        for (i, a) in self.api_server.fallback.iter().enumerate() {
            a.address.parse::<std::net::IpAddr>().map_err(|_| {
                FieldError::new(
                    format!("apiServer.fallback[{i}].address"),
                    format!("invalid IP address {:?}", a.address),
                )
            })?;
        }
        let extra_flows = self
            .extra_flows
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if f.port == 0 {
                    return Err(FieldError::new(
                        format!("extraFlows[{i}].port"),
                        "must be 1-65535",
                    ));
                }
                let sel = Selector::compile_opt(
                    f.pod_selector.as_ref(),
                    &format!("extraFlows[{i}].podSelector"),
                )?;
                Ok((f.clone(), sel))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Compiled {
            ignite_pods,
            extra_flows,
            config: self,
        })
    }

    /// The peer ports in effect.
    pub fn peer_ports(&self) -> Vec<u16> {
        if self.peers.ports.is_empty() {
            self.profile.peer_ports().to_vec()
        } else {
            self.peers.ports.clone()
        }
    }

    /// The effective configuration as YAML, for `config print`.
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self)
            .unwrap_or_else(|e| format!("# cannot print configuration: {e}\n"))
    }
}

/// serde names an unknown key as ``unknown field `x`, expected one of a, b`` (serde-saphyr drops
/// the quotes around the expected keys and appends the position); this adds the closest expected
/// key, as kubectl and clap do (`includeClusterIp` → `includeClusterIP`).
fn with_suggestion(message: String) -> String {
    let Some((unknown, rest)) = message
        .split_once("unknown field `")
        .and_then(|(_, rest)| rest.split_once('`'))
    else {
        return message;
    };
    let expected = rest
        .split_once("expected one of ")
        .or_else(|| rest.split_once("expected "))
        .map(|(_, keys)| keys.split(" at line ").next().unwrap_or(keys))
        .unwrap_or_default();
    let closest = expected
        .split(", ")
        .map(|key| key.trim_matches('`'))
        .map(|key| {
            (
                strsim::jaro_winkler(&unknown.to_lowercase(), &key.to_lowercase()),
                key,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match closest {
        Some((_, key)) => format!("{message}; did you mean `{key}`?"),
        None => message,
    }
}

impl Default for Compiled {
    fn default() -> Self {
        Config::default()
            .compile()
            .unwrap_or_else(|e| unreachable!("the default configuration is valid: {e}"))
    }
}

#[cfg(test)]
mod tests;
