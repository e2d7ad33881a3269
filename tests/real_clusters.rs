//! What a user meets on a real cluster, through the binary: a view that lacks the DNS Service or
//! the API server's EndpointSlices is never admitted silently, Ignite pods under other labels are
//! named, the CLI behaves like kubectl's neighbours (a closed stdout, `--namespace`, quiet logs),
//! the README's configuration is the accepted one, and hints fit the rule they are on.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use ignite_netpol::ignite::Config;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn seed(file: &str) -> PathBuf {
    root().join("examples/seed").join(file)
}

fn kubeadm() -> PathBuf {
    root().join("tests/fixtures/platforms/kubeadm/cluster.yaml")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ignite-netpol"))
        .args(args)
        .output()
        .expect("the binary must run")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The kubeadm snapshot without the objects `drop` picks, written to `dir` as JSON.
fn kubeadm_without(dir: &Path, drop: impl Fn(&Value) -> bool) -> PathBuf {
    let yaml = std::fs::read_to_string(kubeadm()).expect("fixture readable");
    let mut list: Value = serde_saphyr::from_str(&yaml).expect("fixture is YAML");
    let items = list["items"].as_array_mut().expect("a v1 List");
    let before = items.len();
    items.retain(|o| !drop(o));
    assert!(items.len() < before, "the filter must drop something");
    let file = dir.join("cluster.json");
    std::fs::write(&file, list.to_string()).expect("snapshot written");
    file
}

fn is(kind: &str, name: &str) -> impl Fn(&Value) -> bool {
    let (kind, name) = (kind.to_string(), name.to_string());
    move |o: &Value| o["kind"] == kind.as_str() && o["metadata"]["name"] == name.as_str()
}

fn check_json(args: &[&str]) -> (Option<i32>, Vec<Value>) {
    let mut all = vec!["check", "-o", "json"];
    all.extend_from_slice(args);
    let out = run(&all);
    let v: Value = serde_json::from_str(&text(&out.stdout))
        .unwrap_or_else(|e| panic!("check prints JSON ({e}): {}", text(&out.stderr)));
    (
        out.status.code(),
        v["results"].as_array().cloned().unwrap_or_default(),
    )
}

/// The strings of a result's `key` list (`warnings`, `hints`).
fn strings(r: &Value, key: &str) -> Vec<String> {
    r[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w.as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_view_without_the_dns_service_denies_in_enforce_and_warns_otherwise() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = kubeadm_without(dir.path(), is("Service", "kube-dns"));
    let allow = root().join("tests/fixtures/platforms/kubeadm/allow-ignite.yaml");

    // Even the correct policy cannot be proven safe: where DNS is, the view does not say.
    let (code, results) = check_json(&["--cluster", p(&cluster), p(&allow)]);
    assert_eq!(code, Some(1), "{results:?}");
    assert_eq!(results[0]["verdict"], "denied", "{}", results[0]);
    let unverified = results[0]["unverified"].to_string();
    assert!(
        unverified.contains("no DNS Service in the cluster view")
            && unverified.contains("set dns.service"),
        "{unverified}"
    );

    // The text a person reads names the key to set.
    let out = run(&[
        "check",
        "--cluster",
        p(&cluster),
        p(&seed("deny-all-traffic.yaml")),
    ]);
    let said = text(&out.stdout);
    assert!(
        said.contains("not checked: no DNS Service in the cluster view (looked for kube-system/kube-dns, openshift-dns/dns-default, kube-system/rke2-coredns-rke2-coredns, kube-system/coredns): set dns.service"),
        "{said}"
    );

    for mode in ["warn", "patch"] {
        let (_, results) = check_json(&["--cluster", p(&cluster), "--mode", mode, p(&allow)]);
        assert_eq!(results[0]["verdict"], "warned", "{mode}: {}", results[0]);
        assert!(
            strings(&results[0], "warnings")
                .iter()
                .any(|w| w.starts_with("cannot check Ignite's flows: no DNS Service")),
            "{mode}: {}",
            results[0]
        );
    }

    // A change that leaves egress open cannot cut DNS off: admitted without a word about it.
    let (code, results) = check_json(&["--cluster", p(&cluster), p(&seed("ingress-only.yaml"))]);
    assert_eq!(code, Some(0), "{results:?}");
    for r in &results {
        assert_eq!(r["verdict"], "allowed", "{r}");
        assert!(r.get("unverified").is_none(), "{r}");
    }
}

#[test]
fn a_view_without_the_api_servers_endpoints_names_the_fallback_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = kubeadm_without(dir.path(), is("EndpointSlice", "kubernetes"));
    let allow = root().join("tests/fixtures/platforms/kubeadm/allow-ignite.yaml");
    let (_, results) = check_json(&["--cluster", p(&cluster), p(&allow)]);
    assert_eq!(results[0]["verdict"], "denied", "{}", results[0]);
    assert!(
        results[0]["unverified"]
            .to_string()
            .contains("the API server's real address is unknown: set apiServer.fallback"),
        "{}",
        results[0]
    );

    // Naming the address in the configuration is enough.
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "apiServer:\n  fallback: [{address: 192.168.122.10, port: 6443}]\n",
    )
    .expect("config written");
    let (code, results) =
        check_json(&["--cluster", p(&cluster), "--config", p(&config), p(&allow)]);
    assert_eq!(code, Some(0), "{results:?}");
    assert_eq!(results[0]["verdict"], "allowed", "{}", results[0]);
}

#[test]
fn generate_refuses_to_write_rules_for_targets_it_cannot_see() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = kubeadm_without(dir.path(), is("Service", "kube-dns"));
    let out = run(&["generate", "-n", "cache-ns", "--cluster", p(&cluster)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("set dns.service"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "no policy printed");
}

/// The kubeadm cluster with the Ignite pod labelled as GridGain's templates label it.
fn gridgain(dir: &Path, namespace_label: Option<&str>) -> PathBuf {
    let yaml = std::fs::read_to_string(kubeadm()).expect("fixture readable");
    let mut list: Value = serde_saphyr::from_str(&yaml).expect("fixture is YAML");
    for o in list["items"].as_array_mut().expect("a v1 List") {
        if o["kind"] == "Pod" && o["metadata"]["name"] == "ignite-0" {
            o["metadata"]["name"] = "gridgain-0".into();
            o["metadata"]["labels"] = serde_json::json!({"app": "gridgain"});
        }
        if let Some(label) = namespace_label
            && o["kind"] == "Namespace"
            && o["metadata"]["name"] == "cache-ns"
        {
            o["metadata"]["labels"] = serde_json::json!({"ignite-netpol.io/mode": label});
        }
    }
    let file = dir.join(format!(
        "gridgain-{}.json",
        namespace_label.unwrap_or("none")
    ));
    std::fs::write(&file, list.to_string()).expect("snapshot written");
    file
}

#[test]
fn ignite_pods_under_other_labels_are_named_on_every_verdict() {
    let dir = tempfile::tempdir().expect("temp dir");
    let want = "gridgain-0 in cache-ns listen on 47500/47100 but match no ignitePods: add {matchLabels: {app: gridgain}} to ignitePods";
    for label in [None, Some("enforce"), Some("warn")] {
        let cluster = gridgain(dir.path(), label);
        let (_, results) = check_json(&[
            "--cluster",
            p(&cluster),
            p(&seed("ingress-only.yaml")),
            p(&seed("deny-all-traffic.yaml")),
        ]);
        assert_eq!(results.len(), 3);
        for r in &results {
            assert!(
                strings(r, "warnings").iter().any(|w| w == want),
                "{label:?}: every verdict names the pod: {r}"
            );
        }
    }
    // A namespace turned off on purpose stays quiet.
    let cluster = gridgain(dir.path(), Some("off"));
    let (_, results) = check_json(&["--cluster", p(&cluster), p(&seed("deny-all-traffic.yaml"))]);
    assert_eq!(results[0]["verdict"], "allowed");
    assert!(
        strings(&results[0], "warnings").is_empty(),
        "{}",
        results[0]
    );

    // scan lists them.
    let cluster = gridgain(dir.path(), None);
    let out = run(&["scan", "--cluster", p(&cluster), "-o", "json"]);
    let v: Value = serde_json::from_str(&text(&out.stdout)).expect("scan prints JSON");
    let ns = v["namespaces"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["namespace"] == "cache-ns")
        .unwrap_or_else(|| panic!("cache-ns is listed: {v}"));
    assert_eq!(
        ns["unmatched_pods"],
        serde_json::json!(["cache-ns/gridgain-0"])
    );
    let out = run(&["scan", "--cluster", p(&cluster)]);
    assert!(
        text(&out.stdout).contains("not judged: cache-ns/gridgain-0 listen on an Ignite peer port"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let cluster = seed("cluster.yaml");
    let deny = seed("deny-all-traffic.yaml");
    for args in [
        vec!["check", "--cluster", p(&cluster), p(&deny)],
        vec!["check", "-o", "json", "--cluster", p(&cluster), p(&deny)],
        vec!["generate", "-n", "cache-ns", "--cluster", p(&cluster)],
        vec!["config", "print"],
    ] {
        // As `… | head -1` once head has gone: the read end is closed before anything is written.
        let mut child = Command::new(env!("CARGO_BIN_EXE_ignite-netpol"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary must start");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("the binary must finish");
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{args:?}: {:?} {stderr}",
            out.status
        );
    }
    // And through a real pipe into head.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' check --cluster '{}' '{}' '{}' | head -1",
            env!("CARGO_BIN_EXE_ignite-netpol"),
            p(&cluster),
            p(&seed("ingress-only.yaml")),
            p(&deny)
        ))
        .output()
        .expect("sh must run");
    assert_eq!(
        text(&out.stdout),
        "cache-ns/deny-all-ingress-in-cache-ns (CREATE, mode enforce): allowed\n"
    );
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn commands_other_than_serve_log_only_warnings_by_default() {
    let out = run(&[
        "check",
        "--cluster",
        p(&seed("cluster.yaml")),
        p(&seed("ingress-only.yaml")),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stderr), "", "no info logs by default");
    let out = run(&[
        "--log",
        "info",
        "eval",
        "--cluster",
        p(&seed("cluster.yaml")),
        "--queries",
        "/dev/null",
    ]);
    assert!(
        text(&out.stderr).contains("Answered queries"),
        "--log info shows them: {}",
        text(&out.stderr)
    );
}

#[test]
fn check_namespace_sets_the_namespace_of_files_that_have_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("deny-all.yaml");
    let mut f = std::fs::File::create(&file).expect("file");
    writeln!(
        f,
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: deny-all}}\nspec:\n  podSelector: {{}}\n  policyTypes: [Ingress, Egress]"
    )
    .expect("written");
    let cluster = seed("cluster.yaml");
    let (code, results) = check_json(&[
        "--cluster",
        p(&cluster),
        "--namespace",
        "cache-ns",
        p(&file),
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(results[0]["namespace"], "cache-ns");
    assert_eq!(results[0]["verdict"], "denied", "{}", results[0]);

    let out = run(&["check", "--cluster", p(&cluster), p(&file)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("has no metadata.namespace: pass --namespace"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&[
        "check",
        "--cluster",
        p(&cluster),
        "-n",
        "apps",
        p(&seed("deny-all-traffic.yaml")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("is in namespace cache-ns, which does not match --namespace apps"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_readmes_configuration_is_the_default_the_parser_accepts() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README readable");
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .expect("README has a Configuration section");
    let block = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the section has a yaml block");
    let parsed = Config::from_yaml(block, "README.md").expect("the README's block is accepted");
    assert_eq!(parsed.config, Config::default(), "{block}");
}

#[test]
fn generate_admits_the_peers_where_ingress_is_isolated_and_says_so() {
    let cluster = seed("cluster.yaml");
    let out = run(&["generate", "-n", "cache-ns", "--cluster", p(&cluster)]);
    let plain = text(&out.stdout);
    assert!(
        !plain.contains("ingress:"),
        "no ingress isolation, no ingress rule: {plain}"
    );

    let out = run(&[
        "generate",
        "-n",
        "cache-ns",
        "--cluster",
        p(&cluster),
        "--cluster",
        p(&seed("ingress-only.yaml")),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml = text(&out.stdout);
    let note = "ingress of the Ignite pods is isolated by cache-ns/deny-all-ingress-in-cache-ns, cache-ns/netpol-cache-ns and does not admit their peers: this policy admits them on 47500/TCP, 47100/TCP too";
    assert!(yaml.starts_with(&format!("# {note}\n")), "{yaml}");
    assert!(text(&out.stderr).contains(note), "{}", text(&out.stderr));
    let policy: Value = serde_saphyr::from_str(&yaml).expect("generated YAML");
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    assert_eq!(
        policy["spec"]["ingress"][0]["from"][0]["podSelector"],
        serde_json::json!({"matchLabels": {"app": "ignite"}})
    );
}

#[test]
fn hints_fit_the_rule_they_are_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("attempt.yaml");
    std::fs::write(
        &file,
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: attempt, namespace: cache-ns}
spec:
  podSelector: {matchLabels: {app: ignite}}
  policyTypes: [Egress]
  egress:
  # 0: the canonical DNS rule: no API-server hint here.
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
  # 1: aimed at the API server by its port: the hint belongs here.
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
    ports: [{protocol: TCP, port: 6443}]
  # 2: the ClusterIP is allowed, so the hint must not ask for it.
  - to: [{ipBlock: {cidr: 10.96.0.1/32}}]
    ports: [{protocol: TCP, port: 443}]
",
    )
    .expect("written");
    let (_, results) = check_json(&["--cluster", p(&seed("cluster.yaml")), p(&file)]);
    let h = strings(&results[0], "hints");
    assert!(
        !h.iter().any(|h| h.contains("egress[0]")),
        "nothing to say about the canonical DNS rule: {h:?}"
    );
    assert!(
        h.iter()
            .any(|h| h.contains("egress[1].to[0]: a selector cannot match the API server")),
        "{h:?}"
    );
    let global = h
        .iter()
        .find(|h| h.starts_with("the API server is not a pod"))
        .unwrap_or_else(|| panic!("{h:?}"));
    assert!(
        global.contains("allow 192.168.49.2:6443 with ipBlock"),
        "{global}"
    );
    assert!(!global.contains("10.96.0.1"), "already allowed: {global}");
}
