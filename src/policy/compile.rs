//! NetworkPolicy objects compiled into the engine's model.
//!
//! Compiling applies the API's defaults and validation once: `policyTypes` defaulting (Ingress
//! always; Egress only when there are egress rules), protocols, port names and ranges, CIDRs and
//! selectors. Every error names the field that holds the problem, e.g.
//! `spec.egress[1].ports[0].endPort`.

use std::fmt;

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};

use super::{FieldError, IpBlock, RulePort, Selector, Sub};

/// A direction of traffic, as seen from the pods a policy selects.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ingress => "ingress",
            Self::Egress => "egress",
        })
    }
}

/// A compiled NetworkPolicy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub namespace: String,
    pub name: String,
    pub pod_selector: Selector,
    /// `None` when the policy does not affect ingress; `Some(vec![])` isolates and allows nothing.
    pub ingress: Option<Vec<Rule>>,
    /// `None` when the policy does not affect egress; `Some(vec![])` isolates and allows nothing.
    pub egress: Option<Vec<Rule>>,
}

/// One ingress or egress rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Empty means every peer.
    pub peers: Vec<Peer>,
    /// Empty means every port and protocol.
    pub ports: Vec<RulePort>,
}

/// One entry of a rule's `from` / `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Pods chosen by namespace and pod selectors (ANDed).
    Pods {
        namespaces: NamespaceScope,
        pods: Selector,
    },
    /// Addresses in a CIDR, minus exceptions.
    Block(IpBlock),
}

/// Which namespaces a pod peer ranges over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamespaceScope {
    /// No `namespaceSelector`: only the policy's own namespace.
    Own,
    /// Namespaces whose labels match (`{}` matches all namespaces).
    Matching(Selector),
}

impl Policy {
    /// Compiles a NetworkPolicy; errors name the offending field.
    pub fn compile(np: &NetworkPolicy) -> Result<Self, FieldError> {
        let namespace = np
            .metadata
            .namespace
            .as_deref()
            .ok_or_else(|| FieldError::new("metadata.namespace", "must be set"))?;
        let name = np
            .metadata
            .name
            .as_deref()
            .ok_or_else(|| FieldError::new("metadata.name", "must be set"))?;
        Self::compile_as(np, namespace, name)
    }

    /// Compiles a NetworkPolicy as `namespace/name`, whatever its metadata says — an
    /// AdmissionReview's object may lack both; the request carries them.
    pub fn compile_as(np: &NetworkPolicy, namespace: &str, name: &str) -> Result<Self, FieldError> {
        let (namespace, name) = (namespace.to_string(), name.to_string());
        let spec = np
            .spec
            .as_ref()
            .ok_or_else(|| FieldError::new("spec", "must be set"))?;
        let pod_selector = Selector::compile_opt(spec.pod_selector.as_ref(), &"spec.podSelector")?;

        let (mut affects_ingress, mut affects_egress) = (false, false);
        match &spec.policy_types {
            Some(types) if !types.is_empty() => {
                for (i, t) in types.iter().enumerate() {
                    match t.as_str() {
                        "Ingress" => affects_ingress = true,
                        "Egress" => affects_egress = true,
                        other => {
                            return Err(FieldError::new(
                                format!("spec.policyTypes[{i}]"),
                                format!(
                                    "unknown policy type {other:?} (expected Ingress or Egress)"
                                ),
                            ));
                        }
                    }
                }
            }
            _ => {
                affects_ingress = true;
                affects_egress = spec.egress.as_ref().is_some_and(|e| !e.is_empty());
            }
        }

        let ingress = spec
            .ingress
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, r)| {
                Rule::compile(
                    r.from.as_deref(),
                    r.ports.as_deref(),
                    &Sub::new(&"spec", "ingress", Some(i)),
                    "from",
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let egress = spec
            .egress
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, r)| {
                Rule::compile(
                    r.to.as_deref(),
                    r.ports.as_deref(),
                    &Sub::new(&"spec", "egress", Some(i)),
                    "to",
                )
            })
            .collect::<Result<Vec<_>, _>>()?;

        Ok(Self {
            namespace,
            name,
            pod_selector,
            ingress: affects_ingress.then_some(ingress),
            egress: affects_egress.then_some(egress),
        })
    }

    /// The rules of one direction, `None` when the policy does not affect it.
    pub fn rules(&self, direction: Direction) -> Option<&[Rule]> {
        match direction {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
    }
}

impl Rule {
    fn compile(
        peers: Option<&[NetworkPolicyPeer]>,
        ports: Option<&[NetworkPolicyPort]>,
        field: &dyn fmt::Display,
        peer_key: &str,
    ) -> Result<Self, FieldError> {
        let peers = peers
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, p)| Peer::compile(p, &Sub::new(field, peer_key, Some(i))))
            .collect::<Result<_, _>>()?;
        let ports = ports
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(i, p)| RulePort::compile(p, &Sub::new(field, "ports", Some(i))))
            .collect::<Result<_, _>>()?;
        Ok(Self { peers, ports })
    }
}

impl Peer {
    fn compile(raw: &NetworkPolicyPeer, field: &dyn fmt::Display) -> Result<Self, FieldError> {
        match (&raw.ip_block, &raw.namespace_selector, &raw.pod_selector) {
            (Some(block), None, None) => Ok(Self::Block(IpBlock::compile(
                block,
                &Sub::new(field, "ipBlock", None),
            )?)),
            (Some(_), _, _) => Err(FieldError::new(
                field.to_string(),
                "ipBlock may not be combined with namespaceSelector or podSelector",
            )),
            (None, None, None) => Err(FieldError::new(
                field.to_string(),
                "must specify one of ipBlock, namespaceSelector or podSelector",
            )),
            (None, ns, pods) => Ok(Self::Pods {
                namespaces: match ns {
                    None => NamespaceScope::Own,
                    Some(s) => NamespaceScope::Matching(Selector::compile(
                        s,
                        &Sub::new(field, "namespaceSelector", None),
                    )?),
                },
                pods: Selector::compile_opt(pods.as_ref(), &Sub::new(field, "podSelector", None))?,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(spec: serde_json::Value) -> Result<Policy, FieldError> {
        let np: NetworkPolicy = serde_json::from_value(json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": spec,
        }))
        .expect("test policy must deserialize");
        Policy::compile(&np)
    }

    #[test]
    fn policy_types_default_like_the_api_server() {
        let cases = [
            (
                "no types, no rules",
                json!({"podSelector": {}}),
                true,
                false,
            ),
            (
                "no types, egress rules",
                json!({"podSelector": {}, "egress": [{}]}),
                true,
                true,
            ),
            (
                "no types, empty egress list",
                json!({"podSelector": {}, "egress": []}),
                true,
                false,
            ),
            (
                "explicit Egress only",
                json!({"podSelector": {}, "policyTypes": ["Egress"]}),
                false,
                true,
            ),
            (
                "both explicit",
                json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
                true,
                true,
            ),
        ];
        for (name, spec, ingress, egress) in cases {
            let p = policy(spec).expect(name);
            assert_eq!(p.ingress.is_some(), ingress, "{name}: ingress");
            assert_eq!(p.egress.is_some(), egress, "{name}: egress");
        }
    }

    #[test]
    fn peers_compile_to_scopes() {
        let p = policy(json!({
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [
                {"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}},
                {"namespaceSelector": {}},
                {"ipBlock": {"cidr": "10.0.0.0/8"}}
            ]}]
        }))
        .expect("valid");
        let peers = &p.egress.expect("egress")[0].peers;
        assert!(matches!(
            &peers[0],
            Peer::Pods {
                namespaces: NamespaceScope::Own,
                ..
            }
        ));
        assert!(
            matches!(&peers[1], Peer::Pods { namespaces: NamespaceScope::Matching(s), pods } if s.is_everything() && pods.is_everything())
        );
        assert!(matches!(&peers[2], Peer::Block(_)));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                json!({"podSelector": {}, "policyTypes": ["Sideways"]}),
                "spec.policyTypes[0]",
            ),
            (
                json!({"podSelector": {}, "egress": [{"to": [{}]}]}),
                "spec.egress[0].to[0]",
            ),
            (
                json!({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]}),
                "spec.ingress[0].from[0]",
            ),
            (
                json!({"podSelector": {}, "egress": [{}, {"ports": [{"port": "abc", "endPort": 90}]}]}),
                "spec.egress[1].ports[0].endPort",
            ),
            (
                json!({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Like", "values": ["x"]}]}}),
                "spec.podSelector.matchExpressions[0].operator",
            ),
            (
                json!({"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "300.0.0.0/8"}}]}]}),
                "spec.egress[0].to[0].ipBlock.cidr",
            ),
        ];
        for (spec, field) in cases {
            let err = policy(spec.clone()).expect_err("must be rejected");
            assert_eq!(err.field, field, "{spec}: {err}");
        }
    }
}
