//! The evidence for a security audit, per Ignite namespace: does Ignite work, is its egress
//! minimal, which rule allows each required flow, what else is reachable, proof that
//! representative destinations are denied, and the minimal policy. `report` renders it as HTML,
//! Markdown or JSON; the admin port serves it for the live view. Pure.

use std::net::IpAddr;

use serde::Serialize;

use super::{
    config::{Compiled, LeastPrivilege, Mode},
    decision::stand_in,
    environment::Environment,
    excess::{self, Exposure, Finding, INTERNET_PROBES},
    flows::{self, FlowKind, pod_name},
    generate, report, scope,
};
use crate::policy::{Connection, Endpoint, Layer, PodInfo, Protocol, Side, View};

/// One namespace's evidence.
#[derive(Clone, Debug, Serialize)]
pub struct NamespaceEvidence {
    pub namespace: String,
    pub mode: Mode,
    pub least_privilege: LeastPrivilege,
    /// The Ignite pods (`namespace/name`); the stand-in's labels where none runs.
    pub ignite_pods: Vec<String>,
    /// Every required flow is allowed.
    pub works: bool,
    /// No excess egress finding (and the egress was analysed).
    pub minimal: bool,
    /// `Ignite works; egress is minimal`, or what is wrong.
    pub verdict: String,
    pub required: Vec<RequiredFlow>,
    pub excess: Vec<Finding>,
    /// Why the egress was not analysed for excess (too many rules), when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excess_not_analysed: Option<String>,
    pub ingress: Vec<Exposure>,
    pub probes: Vec<Probe>,
    /// The policy `generate` writes (YAML), next to a default-deny.
    pub minimal_policy: String,
    /// How the current set differs from the minimal one: what to remove and what to add.
    pub differences: Vec<String>,
    /// Targets the view lacks (their flows could not be checked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unverified: Vec<String>,
}

/// A required flow and what allows (or cuts) it.
#[derive(Clone, Debug, Serialize)]
pub struct RequiredFlow {
    pub flow: FlowKind,
    pub from: String,
    pub to: String,
    pub port: u16,
    pub protocol: Protocol,
    pub allowed: bool,
    /// A peer flow while fewer than two Ignite pods run: cut, it only stops scaling out.
    pub scaling_only: bool,
    /// What lets it through on each side, e.g. `egress: cache-ns/ignite-egress egress[0]
    /// (NetworkPolicy)`; or why it is cut.
    pub by: Vec<String>,
}

/// A representative destination that should be denied, and whether it is.
#[derive(Clone, Debug, Serialize)]
pub struct Probe {
    pub from: String,
    /// `8.8.8.8 (the internet)`, `every pod of namespace apps`, `node address 192.168.49.2`.
    pub to: String,
    pub port: u16,
    pub protocol: Protocol,
    pub denied: bool,
    /// What denies (or allows) it.
    pub by: String,
}

/// Evidence for every in-scope namespace that runs Ignite (sorted by name).
pub fn gather(env: &Environment, cfg: &Compiled) -> Vec<NamespaceEvidence> {
    report::scan(env, cfg)
        .into_iter()
        .filter(|r| r.ignite_pods > 0)
        .map(|r| namespace(env, cfg, &r.namespace, r.mode))
        .collect()
}

/// One namespace's evidence.
pub fn namespace(env: &Environment, cfg: &Compiled, ns: &str, mode: Mode) -> NamespaceEvidence {
    let view = View::new(&env.cluster);
    let stand_in = stand_in(cfg, ns);
    let mut ignite = scope::ignite_pods(&env.cluster, cfg, ns);
    let names: Vec<String> = if ignite.is_empty() {
        ignite.push(&stand_in);
        vec![format!("{ns} ({})", cfg.ignite_pods[0])]
    } else {
        ignite.iter().map(|p| pod_name(p)).collect()
    };
    let (least_privilege, _) = scope::least_privilege(&env.cluster, cfg, ns);
    let report = flows::check(&view, env, cfg, ns, &ignite);
    let found = excess::analyse_pods(&view, env, cfg, ns, &ignite);
    let required = required(&view, env, cfg, ns, &ignite);
    let works = report.missing.is_empty();
    let minimal = found.egress.is_empty() && found.not_analysed.is_none();
    let mut verdict = if works {
        "Ignite works".to_string()
    } else {
        format!(
            "Ignite is cut off (missing {})",
            super::decision::kinds(&report.missing)
        )
    };
    if let Some(why) = &found.not_analysed {
        verdict.push_str(&format!("; {why}"));
    } else if minimal {
        verdict.push_str("; egress is minimal");
    } else {
        verdict.push_str(&format!(
            "; egress has {} excess finding{}",
            found.egress.len(),
            if found.egress.len() == 1 { "" } else { "s" }
        ));
    }
    let minimal_policy = generate::for_namespace(env, cfg, ns, "ignite-egress", false)
        .map_err(|why| format!("# {why}\n"))
        .and_then(|g| {
            let value = generate::manifest(&g.policy).map_err(|e| format!("# {e}\n"))?;
            let notes: String = g.notes.iter().map(|n| format!("# {n}\n")).collect();
            serde_saphyr::to_string(&value)
                .map(|y| notes + &y)
                .map_err(|e| format!("# {e}\n"))
        })
        .unwrap_or_else(|e| e);
    let mut differences: Vec<String> = found
        .egress
        .iter()
        .map(|f| format!("{}: {}", f.rule, f.instead))
        .collect();
    differences.extend(report.missing.iter().map(|m| {
        format!(
            "add: {} {}/{} to {} ({})",
            m.flow, m.port, m.protocol, m.target, m.reason
        )
    }));
    NamespaceEvidence {
        namespace: ns.to_string(),
        mode,
        least_privilege,
        ignite_pods: names,
        works,
        minimal,
        verdict,
        probes: probes(&view, &ignite),
        required,
        excess: found.egress,
        excess_not_analysed: found.not_analysed,
        ingress: found.ingress,
        minimal_policy,
        differences,
        unverified: env.gaps.iter().map(ToString::to_string).collect(),
    }
}

/// What decided one side, in words.
fn side_words(side: &Side<'_>, dir: &str) -> Option<String> {
    let what = match (side.decided_by, &side.tier_rule, &side.allowed_by) {
        (Layer::None, _, _) => return None,
        (Layer::Admin | Layer::Baseline, Some(rule), _) => format!("{rule}"),
        (Layer::NetworkPolicy, _, Some(rule)) => format!("{rule} (NetworkPolicy)"),
        (Layer::NetworkPolicy, _, None) => {
            let by: Vec<String> = side.isolated_by.iter().map(|p| p.to_name()).collect();
            format!("isolated by {} and no rule allows it", by.join(", "))
        }
        _ => "not isolated (allowed by default)".to_string(),
    };
    Some(format!("{dir}: {what}"))
}

/// Every required flow, as `flows::check` judges them, with what allows or cuts each.
fn required(
    view: &View<'_>,
    env: &Environment,
    cfg: &Compiled,
    ns: &str,
    ignite: &[&PodInfo],
) -> Vec<RequiredFlow> {
    let mut out = Vec::new();
    flows::each_required(view, env, cfg, ns, ignite, |from, r| {
        let v = view.evaluate(&Connection {
            from: Endpoint::Pod(from.pod),
            to: r.to,
            port: r.port,
            protocol: r.protocol,
        });
        let mut by: Vec<String> = Vec::new();
        by.extend(side_words(&v.egress, "egress"));
        by.extend(side_words(&v.ingress, "ingress"));
        out.push(RequiredFlow {
            flow: r.kind,
            from: from.label(),
            to: r.target.render(),
            port: r.port,
            protocol: r.protocol,
            allowed: v.allowed,
            scaling_only: r.warn_only,
            by,
        });
    });
    out
}

/// Representative destinations an audit expects denied: the internet on 443 and 53, a new pod
/// in every other namespace, and the node addresses.
fn probes(view: &View<'_>, ignite: &[&PodInfo]) -> Vec<Probe> {
    let Some(from) = ignite.first() else {
        return Vec::new();
    };
    let cluster = view.cluster;
    let mut targets: Vec<(Endpoint<'_>, String, u16, Protocol)> = Vec::new();
    let internet: Vec<IpAddr> = INTERNET_PROBES
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    for ip in &internet {
        for (port, protocol) in [
            (443, Protocol::Tcp),
            (53, Protocol::Udp),
            (53, Protocol::Tcp),
        ] {
            targets.push((
                Endpoint::Ip(*ip),
                format!("{ip} (the internet)"),
                port,
                protocol,
            ));
        }
    }
    let stand_ins: Vec<PodInfo> = cluster
        .namespaces()
        .filter(|n| n.name != from.namespace)
        .map(|n| excess::unlabelled_pod(&n.name))
        .collect();
    for p in &stand_ins {
        targets.push((
            Endpoint::Pod(p),
            format!("a new pod in namespace {}", p.namespace),
            443,
            Protocol::Tcp,
        ));
    }
    let nodes: Vec<(IpAddr, String)> = cluster
        .nodes()
        .flat_map(|n| n.addresses.iter().map(move |a| (*a, n.name.clone())))
        .collect();
    for (ip, name) in &nodes {
        targets.push((
            Endpoint::Ip(*ip),
            format!("node {name} ({ip}) on the kubelet port"),
            10250,
            Protocol::Tcp,
        ));
    }
    targets
        .into_iter()
        .map(|(to, name, port, protocol)| {
            let v = view.evaluate(&Connection {
                from: Endpoint::Pod(from),
                to,
                port,
                protocol,
            });
            let by = side_words(&v.egress, "egress").unwrap_or_default();
            Probe {
                from: pod_name(from),
                to: name,
                port,
                protocol,
                denied: !v.egress.allows(),
                by,
            }
        })
        .collect()
}
