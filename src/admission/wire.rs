//! The incoming NetworkPolicy as the decision reads it, decoded in one pass from the review.
//!
//! An object in an AdmissionReview carries much the decision never reads: `managedFields`
//! (often larger than the policy), `kubectl.kubernetes.io/last-applied-configuration` (the
//! whole object again, as an escaped string), labels, uid, versions, timestamps. Those are
//! skipped by the parser — scanned, never unescaped or allocated; of the metadata only the
//! name and namespace are kept (a patch touches the spec and our annotation alone). Annotations are cut to ignite-netpol's own, but
//! whether the object has annotations at all is kept: a patch adds its annotation under an
//! existing `/metadata/annotations` and creates the map only when there is none, so keeping the
//! presence is what keeps a patch from replacing the user's annotations.

use std::{collections::BTreeMap, fmt};

use k8s_openapi::{
    api::networking::v1::{NetworkPolicy, NetworkPolicySpec},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::{
    Deserialize, Deserializer,
    de::{IgnoredAny, MapAccess, Visitor},
};

/// The prefix of the annotations ignite-netpol reads and writes.
pub const OWN_ANNOTATION_PREFIX: &str = "ignite-netpol.io/";

/// Decodes an optional NetworkPolicy keeping only what the decision reads (see the module).
pub fn slim_policy<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NetworkPolicy>, D::Error> {
    Ok(Option::<WirePolicy>::deserialize(d)?.map(WirePolicy::into_policy))
}

#[derive(Deserialize)]
struct WirePolicy {
    #[serde(default)]
    metadata: Option<WireMeta>,
    #[serde(default)]
    spec: Option<NetworkPolicySpec>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WireMeta {
    name: Option<String>,
    namespace: Option<String>,
    annotations: Option<OwnAnnotations>,
}

impl WirePolicy {
    fn into_policy(self) -> NetworkPolicy {
        let m = self.metadata.unwrap_or_default();
        NetworkPolicy {
            metadata: ObjectMeta {
                name: m.name,
                namespace: m.namespace,
                annotations: m.annotations.map(|a| a.0),
                ..ObjectMeta::default()
            },
            spec: self.spec,
        }
    }
}

/// An annotation map with only ignite-netpol's entries; the other values are skipped unread.
struct OwnAnnotations(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for OwnAnnotations {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Own;
        impl<'de> Visitor<'de> for Own {
            type Value = OwnAnnotations;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of string annotations")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut own = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key.starts_with(OWN_ANNOTATION_PREFIX) {
                        let value = map.next_value::<String>()?;
                        own.insert(key, value);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(OwnAnnotations(own))
            }
        }
        d.deserialize_map(Own)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "slim_policy")]
        object: Option<NetworkPolicy>,
    }

    fn slim(object: serde_json::Value) -> Option<NetworkPolicy> {
        serde_json::from_value::<Holder>(json!({ "object": object }))
            .expect("decodes")
            .object
    }

    #[test]
    fn keeps_what_the_decision_reads_and_our_annotations() {
        let np = slim(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {
                "name": "p", "namespace": "cache-ns", "resourceVersion": "7", "labels": {"a": "b"},
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"big\": \"\\u0041\"}",
                    "ignite-netpol.io/managed-rules": "[]"
                },
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                "creationTimestamp": "2026-12-01T00:00:00Z"
            },
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53}]}]}
        }))
        .expect("object");
        let full: NetworkPolicy = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "cache-ns",
                         "annotations": {"ignite-netpol.io/managed-rules": "[]"}},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53}]}]}
        }))
        .expect("full");
        assert_eq!(np, full);
    }

    #[test]
    fn annotations_present_stay_present_when_none_are_ours() {
        let np =
            slim(json!({"metadata": {"name": "p", "annotations": {"team": "x"}}})).expect("object");
        assert_eq!(np.metadata.annotations, Some(BTreeMap::new()));
        let np = slim(json!({"metadata": {"name": "p"}})).expect("object");
        assert_eq!(np.metadata.annotations, None);
    }

    #[test]
    fn null_object_and_bad_values_are_told_apart() {
        assert!(slim(serde_json::Value::Null).is_none());
        let bad = serde_json::from_value::<Holder>(
            json!({"object": {"metadata": {"annotations": {"ignite-netpol.io/managed-rules": 3}}}}),
        );
        assert!(bad.is_err(), "our annotation must be a string");
        let bad = serde_json::from_value::<Holder>(json!({"object": {"spec": {"podSelector": 3}}}));
        assert!(bad.is_err(), "the spec is decoded strictly");
    }
}
