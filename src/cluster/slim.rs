//! One way objects are slimmed to what the engine reads, for the watchers and for `scan`'s
//! lists alike: pods are decoded into [`SlimPod`] (labels, container ports, hostNetwork, IPs) so
//! the rest of each pod is never allocated, and metadata is cut to name, namespace and labels.

use k8s_openapi::{
    api::{core::v1::Pod, networking::v1::NetworkPolicy},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use kube::Resource;

/// A Pod as the live view keeps it: only what the engine reads. Watching this type instead of
/// the full Pod means the rest of each pod is skipped while decoding and never stored.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default)]
pub struct SlimPod {
    pub metadata: ObjectMeta,
    pub spec: Option<SlimPodSpec>,
    pub status: Option<SlimPodStatus>,
}

/// The pod spec fields the engine reads.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SlimPodSpec {
    pub containers: Vec<SlimContainer>,
    pub init_containers: Vec<SlimContainer>,
    pub host_network: Option<bool>,
}

/// A container's name, ports and restart policy (restartable init containers are sidecars).
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SlimContainer {
    pub name: String,
    pub ports: Option<Vec<k8s_openapi::api::core::v1::ContainerPort>>,
    pub restart_policy: Option<String>,
}

/// The pod status fields the engine reads.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SlimPodStatus {
    /// `podIP`, `podIPs`: the API's spelling, which `camelCase` would miss (`podIp`).
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
    #[serde(rename = "podIPs")]
    pub pod_ips: Option<Vec<k8s_openapi::api::core::v1::PodIP>>,
}

impl Resource for SlimPod {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> std::borrow::Cow<'_, str> {
        "Pod".into()
    }
    fn group(_: &()) -> std::borrow::Cow<'_, str> {
        "".into()
    }
    fn version(_: &()) -> std::borrow::Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> std::borrow::Cow<'_, str> {
        "pods".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl SlimPod {
    /// The engine's view of this pod, through the same conversion as snapshot files.
    pub fn info(&self) -> Result<crate::policy::PodInfo, crate::policy::FieldError> {
        crate::policy::PodInfo::from_pod(&self.to_pod())
    }

    /// The pod with only what the engine reads, as a snapshot keeps it.
    pub fn to_pod(&self) -> Pod {
        use k8s_openapi::api::core::v1::{Container, PodSpec, PodStatus};
        let container = |c: &SlimContainer| Container {
            name: c.name.clone(),
            ports: c.ports.clone(),
            restart_policy: c.restart_policy.clone(),
            ..Container::default()
        };
        Pod {
            metadata: ObjectMeta {
                name: self.metadata.name.clone(),
                namespace: self.metadata.namespace.clone(),
                labels: self.metadata.labels.clone(),
                ..ObjectMeta::default()
            },
            spec: self.spec.as_ref().map(|s| PodSpec {
                containers: s.containers.iter().map(container).collect(),
                init_containers: Some(s.init_containers.iter().map(container).collect()),
                host_network: s.host_network,
                ..PodSpec::default()
            }),
            status: self.status.as_ref().map(|s| PodStatus {
                pod_ip: s.pod_ip.clone(),
                pod_ips: s.pod_ips.clone(),
                ..PodStatus::default()
            }),
        }
    }
}

/// Drops the metadata the engine never reads: managed fields, annotations (policies keep the
/// managed-rules one, and their resourceVersion, which the reconciler's patches test).
pub fn strip_meta(meta: &mut ObjectMeta, keep_managed_rules: bool) {
    let annotations = meta
        .annotations
        .take()
        .map(|mut a| {
            a.retain(|k, _| {
                keep_managed_rules && k == crate::ignite::patch::MANAGED_RULES_ANNOTATION
            });
            a
        })
        .filter(|a| !a.is_empty());
    *meta = ObjectMeta {
        name: meta.name.take(),
        namespace: meta.namespace.take(),
        labels: meta.labels.take(),
        // Policies keep theirs: the reconciler's patches test it.
        resource_version: if keep_managed_rules {
            meta.resource_version.take()
        } else {
            None
        },
        annotations,
        ..ObjectMeta::default()
    };
}

/// A policy as the view keeps it: its spec, name, namespace, labels, resourceVersion and the
/// managed-rules annotation.
pub fn strip_policy(np: &mut NetworkPolicy) {
    strip_meta(&mut np.metadata, true);
}
