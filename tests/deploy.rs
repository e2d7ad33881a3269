//! deploy/: every kustomization renders with `kubectl kustomize`, every object deserialises into
//! its k8s-openapi type with no unknown field, the webhook configurations keep their safety
//! properties and point at what the server serves, and the webhook's own NetworkPolicy lets it
//! reach DNS and the API server (judged by the project's own decision) and nothing else.

mod common;

use std::{path::Path, process::Command};

use common::manifests::{self, check_types, find, strict};

use ignite_netpol::{
    ignite::{Environment, Verdict},
    policy::{Connection, Endpoint, Protocol, View},
};
use k8s_openapi::api::rbac::v1::ClusterRole;
use serde_json::Value;

const KUSTOMIZATIONS: [&str; 3] = [
    "deploy/base",
    "deploy/overlays/cert-manager",
    "deploy/overlays/update",
];

fn render(dir: &str) -> Vec<Value> {
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let out = Command::new(&kubectl)
        .args([
            "kustomize",
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(dir)
                .display()
                .to_string(),
        ])
        .output()
        .unwrap_or_else(|e| panic!("{kubectl} must run (make test installs it when missing): {e}"));
    assert!(
        out.status.success(),
        "{dir} must render: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split("\n---\n")
        .map(|doc| {
            serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("{dir}: rendered YAML: {e}"))
        })
        .collect()
}

#[test]
fn every_kustomization_renders_into_known_types() {
    for dir in KUSTOMIZATIONS {
        let objects = render(dir);
        assert!(objects.len() >= 10, "{dir}: {} objects", objects.len());
        check_types(dir, &objects);
    }
}

#[test]
fn webhooks_are_safe_and_point_at_what_the_server_serves() {
    for dir in KUSTOMIZATIONS {
        let objects = render(dir);
        let args = manifests::check_webhooks(dir, &objects);
        if dir.ends_with("cert-manager") {
            for kind in [
                "MutatingWebhookConfiguration",
                "ValidatingWebhookConfiguration",
            ] {
                assert_eq!(
                    find(&objects, kind)["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
                    "ignite-netpol/ignite-netpol"
                );
            }
            assert_eq!(
                find(&objects, "Certificate")["spec"]["dnsNames"][0],
                "ignite-netpol.ignite-netpol.svc"
            );
        }
        let role_text = find(&objects, "ClusterRole").to_string();
        for resource in [
            "clusternetworkpolicies",
            "adminnetworkpolicies",
            "baselineadminnetworkpolicies",
            "nodes",
        ] {
            assert!(
                role_text.contains(&format!("\"{resource}\"")),
                "{dir}: the live view reads {resource}: {role_text}"
            );
        }
        if dir.ends_with("update") {
            assert!(args.contains(&"--reconcile=update".to_string()), "{args:?}");
            let role = find(&objects, "ClusterRole").to_string();
            assert!(
                role.contains("\"patch\""),
                "update mode may patch networkpolicies"
            );
        } else {
            let role: ClusterRole = strict(find(&objects, "ClusterRole"), "ClusterRole");
            for rule in role.rules.iter().flatten() {
                if rule
                    .api_groups
                    .iter()
                    .flatten()
                    .any(|g| g != "events.k8s.io")
                {
                    assert!(
                        rule.verbs
                            .iter()
                            .all(|v| ["get", "list", "watch"].contains(&v.as_str())),
                        "{dir}: read-only: {rule:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_webhooks_own_policy_lets_it_reach_dns_and_the_api_server_only() {
    let objects = render("deploy/base");
    let seed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/seed/cluster.yaml"
    ))
    .expect("seed");
    let (d, with_policy, cfg) = manifests::judge_own_policy(&objects, &seed);
    assert_eq!(
        d.verdict,
        Verdict::Allowed,
        "DNS and the API server stay reachable: {:?}",
        d.missing
    );

    let env = Environment::build(&with_policy, &cfg).expect("model");
    let view = View::new(&env.cluster);
    let me = Endpoint::Pod(
        env.cluster
            .pod("ignite-netpol", "ignite-netpol-0")
            .expect("webhook pod"),
    );
    let other = Endpoint::Pod(
        env.cluster
            .pod("apps", "some-pod-7c9d")
            .expect("another pod"),
    );
    let ip = |s: &str| Endpoint::Ip(s.parse().expect("ip"));
    let cases = [
        (
            "API server to the serving port",
            ip("192.168.49.2"),
            me,
            8443,
            true,
        ),
        ("a pod to the serving port", other, me, 8443, true),
        ("a pod to the admin port", other, me, 8080, false),
        (
            "the Service port is not what the pod sees",
            other,
            me,
            443,
            false,
        ),
        ("webhook to the internet", me, ip("8.8.8.8"), 80, false),
        ("webhook to another app", me, other, 8080, false),
    ];
    for (name, from, to, port, want) in cases {
        let v = view.evaluate(&Connection {
            from,
            to,
            port,
            protocol: Protocol::Tcp,
        });
        assert_eq!(v.allowed, want, "{name}: {v:?}");
    }
}
