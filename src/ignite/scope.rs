//! Which namespaces are judged, how, and which of their pods are Ignite — one home for these
//! rules, used by the decision, `scan` and the reconciler.
//!
//! - The mode: a mode given by the caller, else the namespace's mode label, else `defaultMode`
//!   where Ignite pods run, else off. An unknown label value enforces, with a warning.
//! - Ignite pods: pods matching any `ignitePods` selector.
//! - Suspects: pods that listen on an Ignite peer port (47500 discovery, 47100 communication; 3344
//!   for Ignite 3) by container port but match no `ignitePods` selector — Ignite under other
//!   labels (the community Helm chart, GridGain's templates use `app=gridgain`), whose flows would
//!   otherwise go unjudged.

use super::{
    config::{Compiled, LEAST_PRIVILEGE_LABEL, LeastPrivilege, Mode},
    decision::short,
};
use crate::policy::{Cluster, PodInfo};

/// Whether a pod is an Ignite pod.
pub fn is_ignite(cfg: &Compiled, pod: &PodInfo) -> bool {
    cfg.ignite_pods.iter().any(|s| s.matches(&pod.labels))
}

/// The Ignite pods of a namespace.
pub fn ignite_pods<'a>(cluster: &'a Cluster, cfg: &Compiled, namespace: &str) -> Vec<&'a PodInfo> {
    cluster
        .pods_in(namespace)
        .filter(|p| is_ignite(cfg, p))
        .collect()
}

/// Pods of a namespace that listen on an Ignite peer port but are not Ignite pods.
pub fn suspect_pods<'a>(cluster: &'a Cluster, cfg: &Compiled, namespace: &str) -> Vec<&'a PodInfo> {
    let ports = cfg.config.peer_ports();
    cluster
        .pods_in(namespace)
        .filter(|p| !p.host_network && !is_ignite(cfg, p))
        .filter(|p| declares_port(p, &ports))
        .collect()
}

/// Whether a pod declares one of `ports` (Ignite's peer ports: [`suspect_pods`]).
pub fn declares_port(pod: &PodInfo, ports: &[u16]) -> bool {
    pod.ports.iter().any(|cp| ports.contains(&cp.port))
}

/// The warning for suspects, naming them and the `ignitePods` value that would include them.
pub fn suspect_warning(cfg: &Compiled, suspects: &[&PodInfo]) -> Option<String> {
    let first = suspects.first()?;
    let names: Vec<&str> = suspects.iter().take(3).map(|p| p.name.as_str()).collect();
    let more = suspects.len().saturating_sub(names.len());
    let label = ["app.kubernetes.io/name", "app", "k8s-app", "name"]
        .iter()
        .find_map(|k| first.labels.get_key_value(*k))
        .or_else(|| first.labels.iter().next());
    let set = match label {
        Some((k, v)) => format!("add {{matchLabels: {{{k}: {v}}}}} to ignitePods"),
        None => "label them and add the labels to ignitePods".to_string(),
    };
    Some(short(&format!(
        "{}{} in {} listen on {} but match no ignitePods: {set}",
        names.join(", "),
        if more > 0 {
            format!(" (+{more})")
        } else {
            String::new()
        },
        first.namespace,
        ports_text(cfg),
    )))
}

fn ports_text(cfg: &Compiled) -> String {
    cfg.config
        .peer_ports()
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join("/")
}

/// A namespace's mode, and a warning when its label cannot be read.
pub fn namespace_mode(
    cluster: &Cluster,
    cfg: &Compiled,
    namespace: &str,
    requested: Option<Mode>,
    has_ignite: bool,
) -> (Mode, Option<String>) {
    if let Some(mode) = requested {
        return (mode, None);
    }
    match mode_label(cluster, cfg, namespace) {
        Some(value) => match value.parse() {
            Ok(mode) => (mode, None),
            Err(_) => (
                Mode::Enforce,
                Some(short(&format!(
                    "unknown {}={value:?} on namespace {namespace}: enforcing",
                    cfg.config.mode_label
                ))),
            ),
        },
        None if has_ignite => (cfg.config.default_mode, None),
        None => (Mode::Off, None),
    }
}

/// Whether the namespace was turned off on purpose — by the caller or by its label — rather than
/// being off for want of Ignite pods (where pods that look like Ignite are still worth a word).
pub fn turned_off(
    cluster: &Cluster,
    cfg: &Compiled,
    namespace: &str,
    requested: Option<Mode>,
) -> bool {
    match requested {
        Some(mode) => mode == Mode::Off,
        None => mode_label(cluster, cfg, namespace)
            .and_then(|value| value.parse().ok())
            .is_some_and(|mode: Mode| mode == Mode::Off),
    }
}

/// What excess egress does in a namespace (its label, else the configured default), and a
/// warning when the label cannot be read (then: enforce, the safer reading).
pub fn least_privilege(
    cluster: &Cluster,
    cfg: &Compiled,
    namespace: &str,
) -> (LeastPrivilege, Option<String>) {
    let label = cluster
        .namespace(namespace)
        .and_then(|ns| ns.labels.get(LEAST_PRIVILEGE_LABEL));
    match label {
        None => (cfg.config.least_privilege, None),
        Some(value) => match value.parse() {
            Ok(lp) => (lp, None),
            Err(_) => (
                LeastPrivilege::Enforce,
                Some(short(&format!(
                    "unknown {LEAST_PRIVILEGE_LABEL}={value:?} on namespace {namespace}: enforcing"
                ))),
            ),
        },
    }
}

fn mode_label<'a>(cluster: &'a Cluster, cfg: &Compiled, namespace: &str) -> Option<&'a String> {
    cluster
        .namespace(namespace)
        .and_then(|ns| ns.labels.get(&cfg.config.mode_label))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ContainerPort;

    fn pod(name: &str, labels: &[(&str, &str)], port: u16) -> PodInfo {
        PodInfo {
            namespace: "grid".into(),
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ips: Vec::new(),
            host_network: false,
            ports: vec![ContainerPort {
                name: None,
                port,
                protocol: crate::policy::Protocol::Tcp,
            }],
        }
    }

    #[test]
    fn suspects_are_named_with_the_selector_to_set() {
        let cfg = Compiled::default();
        let g = pod("gridgain-0", &[("app", "gridgain")], 47500);
        let w = suspect_warning(&cfg, &[&g]).expect("one suspect gives a warning");
        assert_eq!(
            w,
            "gridgain-0 in grid listen on 47500/47100 but match no ignitePods: add {matchLabels: {app: gridgain}} to ignitePods"
        );
        assert!(suspect_warning(&cfg, &[]).is_none());
    }
}
