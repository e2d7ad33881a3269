//! Checks shared by the deploy/ and Helm chart tests: strict typing of rendered manifests and
//! the safety properties of the webhook configurations.

#![allow(dead_code)]

use k8s_openapi::api::{
    admissionregistration::v1::{MutatingWebhookConfiguration, ValidatingWebhookConfiguration},
    apps::v1::Deployment,
    core::v1::{ConfigMap, Namespace, Secret, Service, ServiceAccount},
    networking::v1::NetworkPolicy,
    policy::v1::PodDisruptionBudget,
    rbac::v1::{ClusterRole, ClusterRoleBinding},
};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Parses a multi-document YAML rendering.
pub fn documents(yaml: &str, what: &str) -> Vec<Value> {
    yaml.split("\n---")
        .map(|doc| doc.trim_start_matches("---").trim())
        .filter(|doc| {
            doc.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|doc| {
            serde_saphyr::from_str(doc).unwrap_or_else(|e| panic!("{what}: rendered YAML: {e}"))
        })
        .collect()
}

/// Deserialises `v` into `T`, failing on any field `T` does not know.
pub fn strict<T: DeserializeOwned>(v: &Value, what: &str) -> T {
    let mut unknown = Vec::new();
    let t = serde_ignored::deserialize(v.clone(), |path| unknown.push(path.to_string()))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(unknown.is_empty(), "{what}: unknown fields {unknown:?}");
    t
}

pub fn check_types(dir: &str, objects: &[Value]) {
    for o in objects {
        let kind = o["kind"].as_str().unwrap_or_default();
        let what = format!("{dir}: {kind} {}", o["metadata"]["name"]);
        match kind {
            "Namespace" => drop(strict::<Namespace>(o, &what)),
            "ConfigMap" => drop(strict::<ConfigMap>(o, &what)),
            "Secret" => drop(strict::<Secret>(o, &what)),
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

pub fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("a {kind} must be rendered"))
}

/// The webhook configurations of a rendering are safe and call what the server serves;
/// returns the container's args.
pub fn check_webhooks(dir: &str, objects: &[Value]) -> Vec<String> {
    let service: Service = strict(find(objects, "Service"), "Service");
    let deployment: Deployment = strict(find(objects, "Deployment"), "Deployment");
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
        find(objects, "ValidatingWebhookConfiguration"),
        "validating",
    );
    let m: MutatingWebhookConfiguration =
        strict(find(objects, "MutatingWebhookConfiguration"), "mutating");
    // (entry name, path, client, namespaceSelector, sideEffects, timeout, versions, matchPolicy,
    // failurePolicy, rules)
    let hooks: Vec<(&str, &str, _, _, _, _, _, _, _, _)> = v
        .webhooks
        .iter()
        .flatten()
        .map(|w| {
            (
                w.name.as_str(),
                "/validate",
                &w.client_config,
                &w.namespace_selector,
                &w.side_effects,
                w.timeout_seconds,
                &w.admission_review_versions,
                &w.match_policy,
                &w.failure_policy,
                &w.rules,
            )
        })
        .chain(m.webhooks.iter().flatten().map(|w| {
            (
                w.name.as_str(),
                "/mutate",
                &w.client_config,
                &w.namespace_selector,
                &w.side_effects,
                w.timeout_seconds,
                &w.admission_review_versions,
                &w.match_policy,
                &w.failure_policy,
                &w.rules,
            )
        }))
        .collect();
    let names: Vec<&str> = hooks.iter().map(|h| h.0).collect();
    for main in ["validate.ignite-netpol.io", "mutate.ignite-netpol.io"] {
        assert!(names.contains(&main), "{dir}: {names:?}");
    }
    assert!(
        m.webhooks.iter().flatten().count() == 1,
        "{dir}: only the Ignite namespaces are ever patched"
    );
    for (
        name,
        path,
        client,
        selector,
        side_effects,
        timeout,
        versions,
        match_policy,
        failure,
        rules,
    ) in hooks
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
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("https".into())),
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
        let exprs = selector
            .as_ref()
            .and_then(|s| s.match_expressions.clone())
            .unwrap_or_default();
        let excluded = exprs
            .iter()
            .find(|e| e.key == "kubernetes.io/metadata.name" && e.operator == "NotIn")
            .and_then(|e| e.values.clone())
            .unwrap_or_default();
        let rules = rules.clone().unwrap_or_default();
        let resources: Vec<String> = rules
            .iter()
            .flat_map(|r| r.resources.clone().unwrap_or_default())
            .collect();
        match name {
            "validate.ignite-netpol.io" | "mutate.ignite-netpol.io" => {
                assert_eq!(
                    failure.as_deref(),
                    Some("Fail"),
                    "safe only with the scoped selector below"
                );
                assert!(
                    exprs.iter().any(|e| e.key == "ignite-netpol.io/mode"
                        && (e.operator == "In" || e.operator == "Exists")),
                    "{dir}: only labelled namespaces"
                );
                assert!(
                    excluded.contains(&"kube-system".into()) && excluded.contains(&namespace),
                    "{dir}: {excluded:?}"
                );
                assert_eq!(resources, vec!["networkpolicies".to_string()]);
            }
            "validate-others.ignite-netpol.io" => {
                assert_eq!(
                    failure.as_deref(),
                    Some("Ignore"),
                    "{dir}: an outage must never block unrelated namespaces"
                );
                assert!(
                    exprs
                        .iter()
                        .any(|e| e.key == "ignite-netpol.io/mode" && e.operator == "NotIn"),
                    "{dir}: the namespaces the main entries do not send"
                );
                assert!(
                    excluded.contains(&namespace) && !excluded.contains(&"kube-system".into()),
                    "{dir}: the webhook's own namespace never, the DNS namespace always: {excluded:?}"
                );
                assert_eq!(resources, vec!["networkpolicies".to_string()]);
            }
            "validate-cluster.ignite-netpol.io" => {
                assert_eq!(failure.as_deref(), Some("Ignore"), "{dir}");
                assert!(rules.iter().all(|r| r.scope.as_deref() == Some("Cluster")
                    && r.api_groups == Some(vec!["policy.networking.k8s.io".to_string()])));
                assert_eq!(
                    resources,
                    vec![
                        "clusternetworkpolicies".to_string(),
                        "adminnetworkpolicies".to_string(),
                        "baselineadminnetworkpolicies".to_string()
                    ]
                );
            }
            other => panic!("{dir}: unexpected webhook entry {other}"),
        }
    }
    args
}

/// The rendered webhook's own pod and namespace added to the cluster of `cluster_text`, and the
/// decision on its own NetworkPolicy — with the webhook's pods as the workload whose DNS and API
/// server flows must pass, under the configuration its ConfigMap holds.
pub fn judge_own_policy(
    objects: &[Value],
    cluster_text: &str,
) -> (
    ignite_netpol::ignite::Decision,
    ignite_netpol::snapshot::ClusterSnapshot,
    ignite_netpol::ignite::Compiled,
) {
    use ignite_netpol::{
        ignite::{Config, Environment, Operation, PolicyRequest, decide},
        snapshot::{ClusterSnapshot, Location},
    };
    let mut snapshot = ClusterSnapshot::default();
    snapshot
        .add_text(cluster_text, "cluster")
        .expect("cluster must load");
    let deployment: Deployment = strict(find(objects, "Deployment"), "Deployment");
    let template = deployment.spec.expect("spec").template;
    let mut pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "ignite-netpol-0", "namespace": "ignite-netpol", "labels": template.metadata.and_then(|m| m.labels)},
        "spec": template.spec, "status": {"podIP": "172.21.9.9"}});
    pod["spec"]["volumes"] = Value::Null;
    // The chart leaves the namespace to `helm install --create-namespace`; the base renders one.
    let namespace = objects
        .iter()
        .find(|o| o["kind"] == "Namespace")
        .cloned()
        .unwrap_or_else(|| {
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ignite-netpol"}})
        });
    snapshot
        .add_value(
            serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [namespace, pod]}),
            &Location {
                origin: "webhook".into(),
                document: 1,
                item: None,
            },
        )
        .expect("webhook objects");
    let config_map: ConfigMap = strict(find(objects, "ConfigMap"), "ConfigMap");
    let shipped = config_map
        .data
        .and_then(|d| d.get("config.yaml").cloned())
        .expect("the ConfigMap holds config.yaml");
    let cfg = Config::from_yaml(
        &format!(
            "{shipped}\nignitePods: [{{matchLabels: {{app.kubernetes.io/name: ignite-netpol}}}}]\n"
        ),
        "webhook-config",
    )
    .expect("the shipped configuration is valid");
    let env = Environment::build(&snapshot, &cfg).expect("model");
    let np: NetworkPolicy = strict(find(objects, "NetworkPolicy"), "NetworkPolicy");
    let d = decide(
        &env,
        &cfg,
        &PolicyRequest {
            operation: Operation::Create,
            namespace: "ignite-netpol",
            name: "ignite-netpol",
            object: Some(&np),
            mode: None,
            validating: false,
        },
    )
    .expect("decided");
    snapshot.network_policies.upsert(np);
    (d, snapshot, cfg)
}
