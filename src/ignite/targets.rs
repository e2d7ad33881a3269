//! Where DNS and the API server really are, read from the cluster's Services, EndpointSlices
//! and pods — after DNAT, which is what most CNIs apply egress policy to.
//!
//! - DNS: the pods selected by the DNS Service (default `kube-system/kube-dns`), on the Service's
//!   **target** ports (53, or 5353 on OpenShift), plus configured extra addresses (NodeLocal
//!   DNSCache) and optionally the ClusterIP, on the Service ports.
//! - API server: the ClusterIP of `default/kubernetes` on its Service port (443), and every
//!   address of its EndpointSlices on their port (6443 on kubeadm, 443 on EKS); a configured
//!   fallback when there are no EndpointSlices.

use std::{collections::BTreeMap, net::IpAddr};

use k8s_openapi::{api::core::v1::Service, apimachinery::pkg::util::intstr::IntOrString};

use super::config::Compiled;
use crate::{
    policy::{Cluster, PodInfo, Protocol, Selector},
    snapshot::ClusterSnapshot,
};

/// A transport port.
pub type PortProto = (u16, Protocol);

/// The DNS servers Ignite pods must reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsTargets {
    /// The namespace of the DNS pods.
    pub namespace: String,
    /// The labels that select the DNS pods (the Service's selector).
    pub pod_labels: BTreeMap<String, String>,
    /// The DNS pods, by name.
    pub pods: Vec<String>,
    /// The ports the DNS pods really listen on (after DNAT).
    pub ports: Vec<PortProto>,
    /// The Service ports (53), used for addresses reached without DNAT.
    pub service_ports: Vec<PortProto>,
    /// Addresses reached on the Service ports: NodeLocal DNSCache, the ClusterIP.
    pub addresses: Vec<IpAddr>,
    /// What could not be found, for messages.
    pub problems: Vec<String>,
}

/// The API server addresses Ignite pods must reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiServerTargets {
    /// The ClusterIP and Service port of `default/kubernetes`, when required.
    pub cluster_ip: Option<(IpAddr, u16)>,
    /// The control plane's real addresses and ports.
    pub endpoints: Vec<(IpAddr, u16)>,
    /// What could not be found, for messages.
    pub problems: Vec<String>,
}

/// Everything a decision reads: the engine's model and the resolved targets.
#[derive(Debug)]
pub struct Environment {
    pub cluster: Cluster,
    pub dns: DnsTargets,
    pub api_server: ApiServerTargets,
}

impl Environment {
    /// Builds the model and resolves targets.
    pub fn build(
        snapshot: &ClusterSnapshot,
        config: &Compiled,
    ) -> Result<Self, crate::policy::ObjectError> {
        Ok(Self::with_cluster(snapshot, snapshot.cluster()?, config))
    }

    /// Resolves targets for a model built elsewhere (the live view's).
    pub fn with_cluster(snapshot: &ClusterSnapshot, cluster: Cluster, config: &Compiled) -> Self {
        let dns = resolve_dns(snapshot, &cluster, config);
        let api_server = resolve_api_server(snapshot, config);
        Self {
            cluster,
            dns,
            api_server,
        }
    }

    /// The DNS pods as the engine sees them.
    pub fn dns_pods(&self) -> impl Iterator<Item = &PodInfo> {
        self.dns
            .pods
            .iter()
            .filter_map(|name| self.cluster.pod(&self.dns.namespace, name))
    }
}

fn service<'a>(snapshot: &'a ClusterSnapshot, ns: &str, name: &str) -> Option<&'a Service> {
    snapshot.services.get(ns, name)
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

fn resolve_dns(snapshot: &ClusterSnapshot, cluster: &Cluster, config: &Compiled) -> DnsTargets {
    let cfg = &config.config.dns;
    let mut t = DnsTargets {
        namespace: cfg.service.namespace.clone(),
        ..DnsTargets::default()
    };
    let svc = service(snapshot, &cfg.service.namespace, &cfg.service.name);
    let spec = svc.and_then(|s| s.spec.as_ref());
    t.pod_labels = spec
        .and_then(|s| s.selector.clone())
        .unwrap_or_else(|| BTreeMap::from([("k8s-app".to_string(), "kube-dns".to_string())]));
    if svc.is_none() {
        t.problems.push(format!(
            "Service {} is not in the cluster view; assuming DNS pods k8s-app=kube-dns on 53",
            cfg.service
        ));
    }
    let selector = Selector::from_labels(&t.pod_labels);
    let pods: Vec<&PodInfo> = cluster
        .pods_in(&t.namespace)
        .filter(|p| selector.matches(&p.labels))
        .collect();
    t.pods = pods.iter().map(|p| p.name.clone()).collect();
    if t.pods.is_empty() {
        t.problems.push(format!(
            "no DNS pod ({selector}) runs in namespace {}",
            t.namespace
        ));
    }

    let service_ports: Vec<(u16, Protocol, Option<IntOrString>)> =
        match spec.and_then(|s| s.ports.as_ref()) {
            Some(ports) => ports
                .iter()
                .filter_map(|p| {
                    let proto = p.protocol.as_deref().unwrap_or("TCP").parse().ok()?;
                    Some((u16::try_from(p.port).ok()?, proto, p.target_port.clone()))
                })
                .collect(),
            None => vec![(53, Protocol::Udp, None), (53, Protocol::Tcp, None)],
        };
    for (port, proto, target) in &service_ports {
        push_unique(&mut t.service_ports, (*port, *proto));
        match target {
            None => push_unique(&mut t.ports, (*port, *proto)),
            Some(IntOrString::Int(n)) => {
                if let Ok(n) = u16::try_from(*n) {
                    push_unique(&mut t.ports, (n, *proto));
                }
            }
            Some(IntOrString::String(name)) => {
                for pod in &pods {
                    if let Some(cp) = pod
                        .ports
                        .iter()
                        .find(|cp| cp.name.as_deref() == Some(name) && cp.protocol == *proto)
                    {
                        push_unique(&mut t.ports, (cp.port, *proto));
                    }
                }
            }
        }
    }
    t.addresses = cfg
        .extra_addresses
        .iter()
        .filter_map(|a| a.parse().ok())
        .collect();
    if cfg.include_cluster_ip
        && let Some(ip) = svc.and_then(cluster_ip)
    {
        t.addresses.push(ip);
    }
    t
}

fn resolve_api_server(snapshot: &ClusterSnapshot, config: &Compiled) -> ApiServerTargets {
    let cfg = &config.config.api_server;
    let mut t = ApiServerTargets::default();
    let svc = service(snapshot, &cfg.service.namespace, &cfg.service.name);
    if cfg.require_cluster_ip {
        let port = svc
            .and_then(|s| s.spec.as_ref()?.ports.as_ref()?.first().map(|p| p.port))
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(443);
        match svc.and_then(cluster_ip) {
            Some(ip) => t.cluster_ip = Some((ip, port)),
            None => t.problems.push(format!(
                "Service {} (the API server's ClusterIP) is not in the cluster view",
                cfg.service
            )),
        }
    }
    for slice in snapshot.endpoint_slices.as_slice() {
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
            t.problems.push(format!(
                "no EndpointSlice of Service {} and no apiServer.fallback: the API server's real address is unknown",
                cfg.service
            ));
        }
    }
    t
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}
