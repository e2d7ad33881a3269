//! Where DNS and the API server really are, read from the cluster's Services, EndpointSlices
//! and pods — after DNAT, which is what most CNIs apply egress policy to.
//!
//! - DNS: the pods selected by the DNS Service (default `kube-system/kube-dns`; when it is not in
//!   the view, the first well-known one found), on the **target** ports of its port 53 (53, or
//!   5353 on OpenShift) — never its other ports (metrics) — plus configured extra addresses
//!   (NodeLocal DNSCache) and optionally the ClusterIP, on port 53.
//! - API server: the ClusterIP of `default/kubernetes` on its Service port (443), and every
//!   address of its EndpointSlices on their port (6443 on kubeadm, 443 on EKS); a configured
//!   fallback when there are no EndpointSlices.
//!
//! What cannot be found is a [`Gap`], never a guess: a decision that isolates Ignite's egress
//! while a target is unknown cannot be proven safe.
//!
//! [`Gap`]: super::environment::Gap

use std::{collections::BTreeMap, net::IpAddr};

use k8s_openapi::{
    api::{core::v1::Service, discovery::v1::EndpointSlice},
    apimachinery::pkg::util::intstr::IntOrString,
};

use super::{
    config::{Compiled, ServiceRef, WELL_KNOWN_DNS_SERVICES},
    environment::Gap,
    flows::FlowKind,
};
use crate::policy::{Cluster, PodInfo, Protocol, Selector};

/// A transport port.
pub type PortProto = (u16, Protocol);

/// The DNS servers Ignite pods must reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsTargets {
    /// The DNS Service in use: the configured one, or a well-known one found instead.
    pub service: Option<ServiceRef>,
    /// The namespace of the DNS pods.
    pub namespace: String,
    /// The labels that select the DNS pods (the Service's selector).
    pub pod_labels: BTreeMap<String, String>,
    /// The DNS pods, by name.
    pub pods: Vec<String>,
    /// The ports the DNS pods really answer DNS on (the target ports of Service port 53).
    pub ports: Vec<PortProto>,
    /// The Service's DNS ports (53), used for addresses reached without DNAT.
    pub service_ports: Vec<PortProto>,
    /// Addresses reached on the Service ports: NodeLocal DNSCache, the ClusterIP.
    pub addresses: Vec<IpAddr>,
}

/// The API server addresses Ignite pods must reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiServerTargets {
    /// The ClusterIP and Service port of `default/kubernetes`, when required.
    pub cluster_ip: Option<(IpAddr, u16)>,
    /// The control plane's real addresses and ports.
    pub endpoints: Vec<(IpAddr, u16)>,
}

/// The objects targets are read from: the Services and EndpointSlices of the view.
#[derive(Clone, Copy, Debug)]
pub struct Objects<'a> {
    pub services: &'a [Service],
    pub endpoint_slices: &'a [EndpointSlice],
}

fn service<'a>(objects: Objects<'a>, svc: &ServiceRef) -> Option<&'a Service> {
    objects.services.iter().find(|s| {
        s.metadata.namespace.as_deref() == Some(svc.namespace.as_str())
            && s.metadata.name.as_deref() == Some(svc.name.as_str())
    })
}

fn cluster_ip(svc: &Service) -> Option<IpAddr> {
    svc.spec
        .as_ref()?
        .cluster_ip
        .as_deref()
        .filter(|ip| *ip != "None")?
        .parse()
        .ok()
}

/// The configured DNS Service, else the first well-known one in the view (with a note).
fn find_dns_service<'a>(
    snapshot: Objects<'a>,
    configured: &ServiceRef,
    notes: &mut Vec<String>,
) -> Option<(ServiceRef, &'a Service)> {
    if let Some(svc) = service(snapshot, configured) {
        return Some((configured.clone(), svc));
    }
    let found = WELL_KNOWN_DNS_SERVICES
        .iter()
        .find_map(|(namespace, name)| {
            let candidate = ServiceRef {
                namespace: namespace.to_string(),
                name: name.to_string(),
            };
            service(snapshot, &candidate).map(|svc| (candidate, svc))
        })?;
    notes.push(format!(
        "DNS Service {configured} is not in the cluster view; using {} (set dns.service to choose)",
        found.0
    ));
    Some(found)
}

pub(super) fn resolve_dns(
    snapshot: Objects<'_>,
    cluster: &Cluster,
    config: &Compiled,
    gaps: &mut Vec<Gap>,
    notes: &mut Vec<String>,
) -> DnsTargets {
    let cfg = &config.config.dns;
    let mut t = DnsTargets {
        addresses: cfg
            .extra_addresses
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect(),
        service_ports: vec![(53, Protocol::Udp), (53, Protocol::Tcp)],
        ..DnsTargets::default()
    };
    let gap = |what: String| Gap {
        flow: FlowKind::Dns,
        what,
        key: "dns.service",
    };
    let Some((svc_ref, svc)) = find_dns_service(snapshot, &cfg.service, notes) else {
        let looked: Vec<String> = std::iter::once(cfg.service.to_string())
            .chain(
                WELL_KNOWN_DNS_SERVICES
                    .iter()
                    .map(|(ns, n)| format!("{ns}/{n}")),
            )
            .fold(Vec::new(), |mut v, s| {
                push_unique(&mut v, s);
                v
            });
        gaps.push(gap(format!(
            "no DNS Service in the cluster view (looked for {})",
            looked.join(", ")
        )));
        return t;
    };
    t.namespace = svc_ref.namespace.clone();
    let spec = svc.spec.as_ref();
    t.pod_labels = spec.and_then(|s| s.selector.clone()).unwrap_or_default();
    let pods: Vec<&PodInfo> = if t.pod_labels.is_empty() {
        Vec::new()
    } else {
        let selector = Selector::from_labels(&t.pod_labels.clone().into());
        cluster
            .pods_in(&t.namespace)
            .filter(|p| selector.matches(&p.labels))
            .collect()
    };
    t.pods = pods.iter().map(|p| p.name.clone()).collect();
    if pods.is_empty() {
        gaps.push(gap(format!(
            "no DNS pod behind Service {svc_ref} in the cluster view"
        )));
    }

    // DNS clients only ever use port 53 of the Service: its other ports (CoreDNS's metrics on
    // 9153, OpenShift's on 9154) are not DNS and are never required.
    t.service_ports.clear();
    for p in spec.and_then(|s| s.ports.as_ref()).into_iter().flatten() {
        let Ok(proto) = p.protocol.as_deref().unwrap_or("TCP").parse::<Protocol>() else {
            continue;
        };
        if p.port != 53 || proto == Protocol::Sctp {
            continue;
        }
        push_unique(&mut t.service_ports, (53, proto));
        match &p.target_port {
            None => push_unique(&mut t.ports, (53, proto)),
            Some(IntOrString::Int(n)) => {
                if let Ok(n) = u16::try_from(*n) {
                    push_unique(&mut t.ports, (n, proto));
                }
            }
            Some(IntOrString::String(name)) => {
                for pod in &pods {
                    if let Some(cp) = pod
                        .ports
                        .iter()
                        .find(|cp| cp.name.as_deref() == Some(name) && cp.protocol == proto)
                    {
                        push_unique(&mut t.ports, (cp.port, proto));
                    }
                }
            }
        }
    }
    if t.service_ports.is_empty() {
        gaps.push(gap(format!("Service {svc_ref} has no port 53")));
    } else if t.ports.is_empty() && !pods.is_empty() {
        gaps.push(gap(format!(
            "the named target ports of Service {svc_ref} port 53 match no port of its pods"
        )));
    }
    if cfg.include_cluster_ip
        && let Some(ip) = cluster_ip(svc)
    {
        t.addresses.push(ip);
    }
    t.service = Some(svc_ref);
    t
}

pub(super) fn resolve_api_server(
    snapshot: Objects<'_>,
    config: &Compiled,
    gaps: &mut Vec<Gap>,
) -> ApiServerTargets {
    let cfg = &config.config.api_server;
    let mut t = ApiServerTargets::default();
    let svc = service(snapshot, &cfg.service);
    if cfg.require_cluster_ip {
        let port = svc
            .and_then(|s| s.spec.as_ref()?.ports.as_ref()?.first().map(|p| p.port))
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(443);
        match svc.and_then(cluster_ip) {
            Some(ip) => t.cluster_ip = Some((ip, port)),
            None => gaps.push(Gap {
                flow: FlowKind::Apiserver,
                what: format!(
                    "Service {} (the API server's ClusterIP) is not in the cluster view",
                    cfg.service
                ),
                key: "apiServer.service",
            }),
        }
    }
    for slice in snapshot.endpoint_slices {
        let meta = &slice.metadata;
        let owned = meta.namespace.as_deref() == Some(cfg.service.namespace.as_str())
            && meta
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/service-name"))
                .is_some_and(|n| *n == cfg.service.name);
        if !owned {
            continue;
        }
        let ports: Vec<u16> = slice
            .ports
            .iter()
            .flatten()
            .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
            .filter_map(|p| p.port.and_then(|n| u16::try_from(n).ok()))
            .collect();
        for ep in &slice.endpoints {
            if ep.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                continue;
            }
            for addr in &ep.addresses {
                let Ok(ip) = addr.parse::<IpAddr>() else {
                    continue;
                };
                for port in &ports {
                    push_unique(&mut t.endpoints, (ip, *port));
                }
            }
        }
    }
    if t.endpoints.is_empty() {
        t.endpoints = cfg
            .fallback
            .iter()
            .filter_map(|a| Some((a.address.parse().ok()?, a.port)))
            .collect();
        if t.endpoints.is_empty() {
            gaps.push(Gap {
                flow: FlowKind::Apiserver,
                what: format!(
                    "no EndpointSlice of Service {} in the cluster view: the API server's real address is unknown",
                    cfg.service
                ),
                key: "apiServer.fallback",
            });
        }
    }
    t
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}
