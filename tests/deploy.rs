//! deploy/: every kustomization renders with `kubectl kustomize`, every object deserialises into
//! its k8s-openapi type with no unknown field, the webhook configurations keep their safety
//! properties and point at what the server serves, and the webhook's own NetworkPolicy lets it
//! reach DNS and the API server (judged by the project's own decision) and nothing else.

use std::{path::Path, process::Command};

use ignite_netpol::{
    ignite::{Config, Environment, Operation, PolicyRequest, Verdict, decide},
    policy::{Connection, Endpoint, Protocol, View},
    snapshot::ClusterSnapshot,
};
use k8s_openapi::api::{
    admissionregistration::v1::{MutatingWebhookConfiguration, ValidatingWebhookConfiguration},
    apps::v1::Deployment,
    core::v1::{Namespace, Service, ServiceAccount},
    networking::v1::NetworkPolicy,
    policy::v1::PodDisruptionBudget,
    rbac::v1::{ClusterRole, ClusterRoleBinding},
};
use serde::de::DeserializeOwned;
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

/// Deserialises `v` into `T`, failing on any field `T` does not know.
fn strict<T: DeserializeOwned>(v: &Value, what: &str) -> T {
    let mut unknown = Vec::new();
    let t = serde_ignored::deserialize(v.clone(), |path| unknown.push(path.to_string()))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(unknown.is_empty(), "{what}: unknown fields {unknown:?}");
    t
}

fn check_types(dir: &str, objects: &[Value]) {
    for o in objects {
        let kind = o["kind"].as_str().unwrap_or_default();
        let what = format!("{dir}: {kind} {}", o["metadata"]["name"]);
        match kind {
            "Namespace" => drop(strict::<Namespace>(o, &what)),
            "ServiceAccount" => drop(strict::<ServiceAccount>(o, &what)),
            "ClusterRole" => drop(strict::<ClusterRole>(o, &what)),
            "ClusterRoleBinding" => drop(strict::<ClusterRoleBinding>(o, &what)),
            "Deployment" => drop(strict::<Deployment>(o, &what)),
            "PodDisruptionBudget" => drop(strict::<PodDisruptionBudget>(o, &what)),
            "Service" => drop(strict::<Service>(o, &what)),
            "NetworkPolicy" => drop(strict::<NetworkPolicy>(o, &what)),
            "MutatingWebhookConfiguration" => {
                drop(strict::<MutatingWebhookConfiguration>(o, &what))
            }
            "ValidatingWebhookConfiguration" => {
                drop(strict::<ValidatingWebhookConfiguration>(o, &what))
            }
            "Issuer" | "Certificate" => assert_eq!(o["apiVersion"], "cert-manager.io/v1", "{what}"),
            other => panic!("{what}: unexpected kind {other}"),
        }
    }
}

fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("a {kind} must be rendered"))
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
        let service: Service = strict(find(&objects, "Service"), "Service");
        let deployment: Deployment = strict(find(&objects, "Deployment"), "Deployment");
        let namespace = deployment.metadata.namespace.clone().expect("namespaced");
        let pod = deployment
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .expect("pod spec");
        let container = &pod.containers[0];
        let https = container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some("https"))
            .expect("https port");
        assert_eq!(
            https.container_port, 8443,
            "the server's default --listen port"
        );
        let args = container.args.clone().unwrap_or_default();
        assert!(
            !args.iter().any(|a| a.starts_with("--listen")),
            "the listen port is the default 8443"
        );
        assert_eq!(args[0], "serve");

        let v: ValidatingWebhookConfiguration = strict(
            find(&objects, "ValidatingWebhookConfiguration"),
            "validating",
        );
        let m: MutatingWebhookConfiguration =
            strict(find(&objects, "MutatingWebhookConfiguration"), "mutating");
        let hooks: Vec<(&str, _, _, _, _, _, _, _)> = v
            .webhooks
            .iter()
            .flatten()
            .map(|w| {
                (
                    "/validate",
                    &w.client_config,
                    &w.namespace_selector,
                    &w.side_effects,
                    w.timeout_seconds,
                    &w.admission_review_versions,
                    &w.match_policy,
                    &w.failure_policy,
                )
            })
            .chain(m.webhooks.iter().flatten().map(|w| {
                (
                    "/mutate",
                    &w.client_config,
                    &w.namespace_selector,
                    &w.side_effects,
                    w.timeout_seconds,
                    &w.admission_review_versions,
                    &w.match_policy,
                    &w.failure_policy,
                )
            }))
            .collect();
        assert_eq!(hooks.len(), 2, "{dir}");
        for (path, client, selector, side_effects, timeout, versions, match_policy, failure) in
            hooks
        {
            let svc = client.service.as_ref().expect("webhooks call the Service");
            assert_eq!(
                svc.name,
                service.metadata.name.clone().expect("name"),
                "{dir} {path}"
            );
            assert_eq!(svc.namespace, namespace, "{dir} {path}");
            assert_eq!(
                svc.path.as_deref(),
                Some(path),
                "{dir}: the server serves {path}"
            );
            let port = service
                .spec
                .as_ref()
                .and_then(|s| s.ports.as_ref())
                .and_then(|p| p.iter().find(|p| Some(p.port) == svc.port))
                .expect("the Service port the webhook calls");
            assert_eq!(
                port.target_port,
                Some(
                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(
                        "https".into()
                    )
                ),
                "{dir}: Service port {:?} leads to the https container port",
                svc.port
            );
            assert_eq!(side_effects, "None");
            assert!(
                timeout.is_some_and(|t| (1..=5).contains(&t)),
                "{dir}: a short timeout: {timeout:?}"
            );
            assert_eq!(versions, &vec!["v1".to_string()]);
            assert_eq!(match_policy.as_deref(), Some("Equivalent"));
            assert_eq!(
                failure.as_deref(),
                Some("Fail"),
                "safe only with the scoped selector below"
            );
            let exprs = selector
                .as_ref()
                .and_then(|s| s.match_expressions.clone())
                .expect("a namespaceSelector");
            assert!(
                exprs.iter().any(|e| e.key == "ignite-netpol.io/mode"
                    && (e.operator == "In" || e.operator == "Exists")),
                "{dir}: only labelled namespaces"
            );
            let excluded = exprs
                .iter()
                .find(|e| e.key == "kubernetes.io/metadata.name" && e.operator == "NotIn")
                .and_then(|e| e.values.clone())
                .expect("excluded namespaces");
            assert!(
                excluded.contains(&"kube-system".into()) && excluded.contains(&namespace),
                "{dir}: {excluded:?}"
            );
        }
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
    let mut snapshot = ClusterSnapshot::default();
    snapshot
        .add_text(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/examples/seed/cluster.yaml"
            ))
            .expect("seed"),
            "seed",
        )
        .expect("seed");
    let deployment: Deployment = strict(find(&objects, "Deployment"), "Deployment");
    let template = deployment.spec.expect("spec").template;
    let mut pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "ignite-netpol-0", "namespace": "ignite-netpol", "labels": template.metadata.and_then(|m| m.labels)},
        "spec": template.spec, "status": {"podIP": "172.21.9.9"}});
    pod["spec"]["volumes"] = Value::Null;
    let namespace = find(&objects, "Namespace").clone();
    snapshot
        .add_value(
            serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [namespace, pod]}),
            &ignite_netpol::snapshot::Location {
                origin: "webhook".into(),
                document: 1,
                item: None,
            },
        )
        .expect("webhook objects");

    // `check` with the webhook's pods as the workload whose DNS and API server flows must pass.
    let cfg = Config::from_yaml(
        "ignitePods: [{matchLabels: {app.kubernetes.io/name: ignite-netpol}}]\n",
        "webhook-config",
    )
    .expect("config");
    let env = Environment::build(&snapshot, &cfg).expect("model");
    let np: NetworkPolicy = strict(find(&objects, "NetworkPolicy"), "NetworkPolicy");
    let d = decide(
        &env,
        &cfg,
        &PolicyRequest {
            operation: Operation::Create,
            namespace: "ignite-netpol",
            name: "ignite-netpol",
            object: Some(&np),
            mode: None,
        },
    )
    .expect("decided");
    assert_eq!(
        d.verdict,
        Verdict::Allowed,
        "DNS and the API server stay reachable: {:?}",
        d.missing
    );

    let mut with_policy = snapshot.clone();
    with_policy.network_policies.upsert(np);
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
