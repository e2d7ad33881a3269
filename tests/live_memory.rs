//! Memory of the live view at scale: 10,000 NetworkPolicies and 20,000 pods (with full-size
//! specs, which the view strips) served by the fake API server to the real binary; its
//! anonymous resident set (its heap) after sync must stay under 190 MB, and with the release
//! binary (`IGNITE_NETPOL_BIN`) the whole resident set under 200 MB. Prints the figures
//! (README: "Memory").

mod common;
mod fake_api {
    pub use super::common::fake_api::*;
}

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use fake_api::FakeApi;
use serde_json::{Value, json};

fn pod(ns: &str, i: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("app-{i}"), "namespace": ns,
            "labels": {"app": format!("app-{}", i % 50), "pod-template-hash": format!("h{i}")},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-26T10:00:00Z", "checksum/config": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "app-abc", "uid": "5f0d6c1e-7b1a-4c61-9a55-2c0b2a8a9f10"}]},
        "spec": {"containers": [{"name": "main", "image": "registry.example.com/team/app:1.2.3",
            "ports": [{"name": "http", "containerPort": 8080}, {"name": "grpc", "containerPort": 9090}],
            "env": (0..10).map(|e| json!({"name": format!("ENV_{e}"), "value": "some configuration value"})).collect::<Vec<_>>(),
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}]}],
            "volumes": [{"name": "config", "configMap": {"name": "app-config"}}],
            "serviceAccountName": "app", "nodeName": format!("node-{}", i % 100)},
        "status": {"phase": "Running", "podIP": format!("10.{}.{}.{}", i / 65536, i / 256 % 256, i % 256),
            "podIPs": [{"ip": format!("10.{}.{}.{}", i / 65536, i / 256 % 256, i % 256)}],
            "conditions": [{"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}],
            "containerStatuses": [{"name": "main", "ready": true, "restartCount": 0, "image": "registry.example.com/team/app:1.2.3", "imageID": "sha256:abc", "containerID": "containerd://abc"}]}
    })
}

fn policy(ns: &str, i: usize) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": format!("np-{i}"), "namespace": ns,
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\"}"}},
        "spec": {"podSelector": {"matchLabels": {"app": format!("app-{}", i % 50)}}, "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "a"}}, "podSelector": {"matchLabels": {"app": format!("app-{}", (i * 7) % 50)}}}],
                         "ports": [{"port": "http"}, {"port": 9000, "endPort": 9010}]}],
            "egress": [{"to": [{"ipBlock": {"cidr": format!("172.{}.0.0/16", i % 200), "except": [format!("172.{}.1.0/24", i % 200)]}}], "ports": [{"port": 443}]}]}
    })
}

/// Whether the admin port answers `/readyz` with 200.
fn readyz(admin: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut tcp) = std::net::TcpStream::connect(admin) else {
        return false;
    };
    if tcp
        .write_all(b"GET /readyz HTTP/1.0\r\nHost: x\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).is_ok() && answer.starts_with("HTTP/1.0 200")
        || answer.starts_with("HTTP/1.1 200")
}

fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// A `/proc/PID/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("proc status")
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_policies_and_twenty_thousand_pods_stay_small() {
    let fake = FakeApi::start().await;
    for n in 0..100 {
        let ns = format!("ns-{n}");
        fake.apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        for i in 0..200 {
            fake.apply(pod(&ns, n * 200 + i));
        }
        for i in 0..100 {
            fake.apply(policy(&ns, n * 100 + i));
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    common::write_certs(dir.path());
    let kubeconfig = common::write_kubeconfig(dir.path(), fake.addr);
    // `IGNITE_NETPOL_BIN=target/release/ignite-netpol` measures the release build.
    let bin = std::env::var("IGNITE_NETPOL_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ignite-netpol").to_string());
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--cluster",
            "live",
            "--reconcile",
            "off",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args([
            "--log-format",
            "json",
            "--log",
            "ignite_netpol=debug",
            "--audit-log",
        ])
        .arg(dir.path().join("audit.log"))
        .arg("--tls-cert")
        .arg(dir.path().join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.path().join("tls.key"))
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server starts");
    let lines = common::LogLines::follow(child.stderr.take().expect("stderr"));
    let serving = lines.wait_for("Serving", Duration::from_secs(120));
    let admin = serving["admin"]
        .as_str()
        .expect("admin address")
        .to_string();
    // The first view is built, swapped in, and its scratch handed back.
    lines.wait_for("View rebuilt", Duration::from_secs(120));
    assert!(readyz(&admin), "ready once the view is built");
    let rss = rss_kib(child.id());
    let (anon, file) = (
        status_kib(child.id(), "RssAnon:"),
        status_kib(child.id(), "RssFile:"),
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    println!(
        "live view with 10,000 NetworkPolicies and 20,000 pods: resident set {} MB ({} MB anonymous, {} MB file-backed)",
        rss / 1024,
        anon / 1024,
        file / 1024
    );
    assert!(rss > 0 && anon > 0, "the resident set must be measured");
    // What the view holds is the anonymous part, the same in every build; a debug binary's
    // code adds ~20 MB of file-backed pages that a release binary does not have. 190 MB is
    // the release bound of 200 MB less its ~11 MB of code.
    assert!(
        anon < 190 * 1024,
        "anonymous resident set {} MB must stay under 190 MB",
        anon / 1024
    );
    if std::env::var_os("IGNITE_NETPOL_BIN").is_some() {
        assert!(
            rss < 200 * 1024,
            "resident set {} MB must stay under 200 MB",
            rss / 1024
        );
    }
}
