//! The Helm chart (deploy/helm/ignite-netpol), rendered and linted by Helm's own engine through
//! helm-python-sdk (`make test` installs it into `.tools/venv`): lint passes; every rendering —
//! self-signed (the default), cert-manager, provided — gives objects of their Kubernetes types
//! with no unknown field and safe webhooks; a values file that breaks the schema is refused;
//! and deploy/base is exactly the chart's rendering (one source of truth).

mod common;

use std::process::{Command, Output};

use common::manifests::{self, check_types, documents, find};
use serde_json::Value;

fn helm(args: &[&str]) -> Output {
    let python = std::env::var("HELM_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.tools/venv/bin/python").into());
    Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/helm/render.py"
        ))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{python} must run (make test installs helm-python-sdk): {e}"))
}

fn render(values: &str) -> Vec<Value> {
    let out = helm(&["render", values]);
    assert!(
        out.status.success(),
        "{values}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    documents(&String::from_utf8_lossy(&out.stdout), values)
}

#[test]
fn lint_passes() {
    let out = helm(&["lint"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("lint report JSON");
    assert_eq!(out.status.code(), Some(0), "lint errors: {report}");
    assert_eq!(report["total_charts_linted"], 1);
}

#[test]
fn every_certificate_mode_renders_safe_typed_objects() {
    for (name, values) in [
        ("self-signed", "{}"),
        (
            "cert-manager",
            r#"{"certificates": {"mode": "cert-manager"}}"#,
        ),
        (
            "provided",
            r#"{"certificates": {"mode": "provided", "caBundle": "Y2E="}}"#,
        ),
        (
            "update, audit file, extra selector",
            r#"{"reconcile": "update", "auditLog": "/var/log/ignite-netpol/audit.log", "namespaceSelectorExpressions": [{"key": "team", "operator": "In", "values": ["cache"]}]}"#,
        ),
    ] {
        let objects = render(values);
        check_types(name, &objects);
        let args = manifests::check_webhooks(name, &objects);
        assert_eq!(args[0], "serve", "{name}");
        let hook = &find(&objects, "ValidatingWebhookConfiguration")["webhooks"][0];
        let bundle = hook["clientConfig"]["caBundle"]
            .as_str()
            .unwrap_or_default();
        match name {
            "self-signed" => {
                let secret = find(&objects, "Secret");
                assert_eq!(secret["type"], "kubernetes.io/tls");
                assert_eq!(
                    secret["data"]["ca.crt"].as_str(),
                    Some(bundle),
                    "the caBundle is the Secret's CA"
                );
                assert!(!bundle.is_empty());
            }
            "cert-manager" => {
                assert_eq!(
                    find(&objects, "Certificate")["spec"]["secretName"],
                    "ignite-netpol-tls"
                );
                assert_eq!(
                    find(&objects, "MutatingWebhookConfiguration")["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
                    "ignite-netpol/ignite-netpol"
                );
            }
            "provided" => {
                assert_eq!(bundle, "Y2E=");
                assert!(
                    !objects.iter().any(|o| o["kind"] == "Secret"),
                    "provided: the Secret is the user's"
                );
            }
            _ => {
                assert!(args.contains(&"--reconcile=update".to_string()));
                assert!(
                    find(&objects, "ClusterRole")
                        .to_string()
                        .contains("\"patch\"")
                );
                let deployment = find(&objects, "Deployment").to_string();
                assert!(
                    deployment.contains("emptyDir"),
                    "a writable volume for the audit file"
                );
                assert!(
                    hook["namespaceSelector"]["matchExpressions"]
                        .to_string()
                        .contains("\"team\"")
                );
            }
        }
    }
}

#[test]
fn values_that_break_the_schema_are_refused() {
    for (values, want) in [
        (r#"{"replicas": 0}"#, "/replicas"),
        (
            r#"{"certificates": {"mode": "letsencrypt"}}"#,
            "/certificates/mode",
        ),
        (r#"{"timeoutSeconds": 30}"#, "/timeoutSeconds"),
        (r#"{"failurePolicy": "Sometimes"}"#, "/failurePolicy"),
        (r#"{"unknownValue": 1}"#, "unknownValue"),
        (r#"{"leastPrivilege": "strict"}"#, "/leastPrivilege"),
    ] {
        let out = helm(&["render", values]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{values} must be refused");
        assert!(
            stderr.contains("HelmValuesError") && stderr.contains(want),
            "{values}: {stderr}"
        );
    }
}

/// The chart's `dns` values on OpenShift and on GKE with NodeLocal DNSCache: the webhook's own
/// NetworkPolicy and its configuration keep its DNS working on the platform's snapshot, where the
/// defaults would not.
#[test]
fn the_dns_values_fit_the_platforms_that_need_them() {
    use ignite_netpol::{
        ignite::Environment,
        policy::{Connection, Endpoint, Protocol, View},
    };
    // The platform, its values, and where the webhook's DNS queries go there (after DNAT).
    enum Dns {
        Pod(&'static str, &'static str, u16),
        Ip(&'static str),
    }
    for (platform, values, dns) in [
        (
            "openshift",
            r#"{"dns": {"service": {"namespace": "openshift-dns", "name": "dns-default"}, "podLabels": {"dns.operator.openshift.io/daemonset-dns": "default"}, "port": 5353}}"#,
            Dns::Pod("openshift-dns", "dns-default-h5fzq", 5353),
        ),
        (
            "gke",
            r#"{"dns": {"extraAddresses": ["169.254.20.10"]}}"#,
            Dns::Ip("169.254.20.10"),
        ),
    ] {
        let cluster = std::fs::read_to_string(format!(
            "{}/tests/fixtures/platforms/{platform}/cluster.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("platform snapshot");
        let reaches_dns = |values: &str| {
            let objects = render(values);
            check_types(platform, &objects);
            let (d, snapshot, cfg) = manifests::judge_own_policy(&objects, &cluster);
            let env = Environment::build(&snapshot, &cfg).expect("model");
            let me = env
                .cluster
                .pod("ignite-netpol", "ignite-netpol-0")
                .expect("webhook pod");
            let to = match dns {
                Dns::Pod(ns, name, _) => Endpoint::Pod(env.cluster.pod(ns, name).expect("DNS pod")),
                Dns::Ip(ip) => Endpoint::Ip(ip.parse().expect("ip")),
            };
            let port = match dns {
                Dns::Pod(_, _, port) => port,
                Dns::Ip(_) => 53,
            };
            let allowed = [Protocol::Udp, Protocol::Tcp].iter().all(|&protocol| {
                View::new(&env.cluster)
                    .evaluate(&Connection {
                        from: Endpoint::Pod(me),
                        to,
                        port,
                        protocol,
                    })
                    .allowed
            });
            (d, allowed)
        };
        let (d, allowed) = reaches_dns(values);
        assert!(allowed, "{platform}: the webhook reaches DNS with {values}");
        assert_eq!(
            serde_json::to_value(d.verdict).expect("verdict"),
            "allowed",
            "{platform}: {:?} {:?}",
            d.missing,
            d.unverified
        );
        // (The webhook stands in for Ignite here, so it also hears about Ignite's peer ports.)
        assert!(
            !d.warnings
                .iter()
                .any(|w| w.contains("DNS") || w.contains("cannot check")),
            "{platform}: {:?}",
            d.warnings
        );
        let (_, allowed) = reaches_dns("{}");
        assert!(!allowed, "{platform}: the defaults do not fit");
    }
}

#[test]
fn deploy_base_is_the_charts_rendering() {
    let rendered = render(r#"{"certificates": {"mode": "provided"}}"#);
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/base/ignite-netpol.yaml"
    ))
    .expect("deploy/base/ignite-netpol.yaml");
    let committed = documents(&committed, "deploy/base/ignite-netpol.yaml");
    assert_eq!(
        rendered, committed,
        "deploy/base drifted from the chart: run `make base` and commit"
    );
}

/// The names of the validating webhook entries of a rendering, with their failure policies.
fn validating_entries(objects: &[Value]) -> Vec<(String, String)> {
    find(objects, "ValidatingWebhookConfiguration")["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .map(|w| {
            (
                w["name"].as_str().unwrap_or_default().to_string(),
                w["failurePolicy"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_entries_beyond_the_ignite_namespaces_default_to_ignore_and_can_be_turned_off() {
    let entry = |n: &str, f: &str| (n.to_string(), f.to_string());
    assert_eq!(
        validating_entries(&render("{}")),
        vec![
            entry("validate.ignite-netpol.io", "Fail"),
            entry("validate-others.ignite-netpol.io", "Ignore"),
            entry("validate-cluster.ignite-netpol.io", "Ignore"),
        ]
    );
    assert_eq!(
        validating_entries(&render(
            r#"{"otherNamespaces": {"enabled": false}, "clusterPolicies": {"failurePolicy": "Fail"}}"#
        )),
        vec![
            entry("validate.ignite-netpol.io", "Fail"),
            entry("validate-cluster.ignite-netpol.io", "Fail"),
        ]
    );
    assert_eq!(
        validating_entries(&render(r#"{"clusterPolicies": {"enabled": false}}"#)),
        vec![
            entry("validate.ignite-netpol.io", "Fail"),
            entry("validate-others.ignite-netpol.io", "Ignore"),
        ]
    );
    let others = render(r#"{"otherNamespaces": {"excludedNamespaces": ["batch"]}}"#);
    let hook = find(&others, "ValidatingWebhookConfiguration")["webhooks"][1].clone();
    let names = hook["namespaceSelector"]["matchExpressions"][1]["values"].clone();
    assert_eq!(names, serde_json::json!(["batch", "ignite-netpol"]));
}

/// `leastPrivilege` reaches the webhook's configuration, which the webhook parses.
#[test]
fn the_least_privilege_value_is_the_webhooks_configuration() {
    use ignite_netpol::ignite::{Config, LeastPrivilege};
    for (values, want) in [
        ("{}", LeastPrivilege::Warn),
        (r#"{"leastPrivilege": "enforce"}"#, LeastPrivilege::Enforce),
    ] {
        let objects = render(values);
        let config = objects
            .iter()
            .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "ignite-netpol-config")
            .and_then(|o| o["data"]["config.yaml"].as_str())
            .unwrap_or_else(|| panic!("{values}: a ConfigMap with config.yaml"));
        let compiled = Config::from_yaml(config, "config.yaml")
            .unwrap_or_else(|e| panic!("{values}: the webhook reads its config: {e}"));
        assert_eq!(compiled.config.least_privilege, want, "{values}");
    }
}
