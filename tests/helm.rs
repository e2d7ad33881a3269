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
