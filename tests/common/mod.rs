//! Helpers for tests that talk to a real listening server over TLS.

#![allow(dead_code)]

pub mod fake_api;
pub mod manifests;

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::Path,
    process::ChildStderr,
    sync::{Arc, mpsc},
    time::Duration,
};

use http_body_util::{BodyExt, Full};
use hyper::{Request, body::Bytes};
use hyper_util::rt::{TokioExecutor, TokioIo};
use ignite_netpol::{
    audit::{AuditConfig, Destination},
    certs,
    ignite::{Compiled, Environment},
    server::{CertFiles, Limits, ServeConfig, Server},
    snapshot::ClusterSnapshot,
};
use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, ServerName, pem::PemObject},
};
use tokio::net::TcpStream;
use tokio_rustls::{TlsConnector, client::TlsStream};

/// The lines a spawned binary writes to stderr (`--log-format json`), read on a thread.
pub struct LogLines(mpsc::Receiver<String>);

impl LogLines {
    pub fn follow(stderr: ChildStderr) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self(rx)
    }

    /// Waits up to `within` for a JSON line whose message is `message`; returns it.
    pub fn wait_for(&self, message: &str, within: Duration) -> serde_json::Value {
        loop {
            let line = self
                .0
                .recv_timeout(within)
                .unwrap_or_else(|_| panic!("the server never logged {message:?}"));
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v["message"] == message
            {
                return v;
            }
        }
    }
}

/// Writes a fresh CA and serving certificate for localhost into `dir`.
pub fn write_certs(dir: &Path) -> certs::Issued {
    let issued = certs::issue(
        "ignite-netpol",
        "ignite-netpol",
        &["localhost".into(), "127.0.0.1".into()],
        30,
    )
    .expect("certificates must be issued");
    certs::write(dir, &issued).expect("certificates must be written");
    issued
}

/// A client TLS config trusting `ca_pem`, offering `alpn`.
pub fn client_config(ca_pem: &str, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Writes a client CA (`client-ca.crt`) and a client certificate it issued (`client.crt`,
/// `client.key`) into `dir`, as the API server's would be.
pub fn write_client_certs(dir: &Path) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).expect("CA");
    let issuer = rcgen::Issuer::new(ca, &ca_key);
    let key = rcgen::KeyPair::generate().expect("client key");
    let mut params =
        rcgen::CertificateParams::new(vec!["kube-apiserver".to_string()]).expect("params");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer).expect("client certificate");
    std::fs::write(dir.join("client-ca.crt"), ca_cert.pem()).expect("write");
    std::fs::write(dir.join("client.crt"), cert.pem()).expect("write");
    std::fs::write(dir.join("client.key"), key.serialize_pem()).expect("write");
}

/// A client TLS config trusting `ca_pem` and presenting `client.crt` from `dir`.
pub fn client_config_with_cert(dir: &Path, ca_pem: &str, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.expect("CA PEM")).expect("CA");
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("client.crt"))
        .expect("client.crt")
        .map(|c| c.expect("client certificate PEM"))
        .collect();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(dir.join("client.key"))
        .expect("client key");
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .expect("client auth");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Opens a TLS connection to `addr` as `localhost`.
pub async fn tls(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("server name");
    TlsConnector::from(config).connect(name, tcp).await
}

/// An HTTP/1.1 or HTTP/2 client on one connection.
pub enum Client {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Client {
    pub async fn http1(addr: SocketAddr, ca_pem: &str) -> Self {
        let stream = tls(addr, client_config(ca_pem, &[b"http/1.1"]))
            .await
            .expect("TLS connect");
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(conn);
        Self::H1(send)
    }

    pub async fn http2(addr: SocketAddr, ca_pem: &str) -> Self {
        let stream = tls(addr, client_config(ca_pem, &[b"h2"]))
            .await
            .expect("TLS connect");
        assert_eq!(
            stream.get_ref().1.alpn_protocol(),
            Some(&b"h2"[..]),
            "ALPN must choose h2"
        );
        let (send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .expect("HTTP/2 handshake");
        tokio::spawn(conn);
        Self::H2(send)
    }

    /// Sends a request; returns status, content type and body.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (u16, String, Vec<u8>) {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("https://localhost{path}"));
        if matches!(self, Self::H1(_)) {
            req = req.header("host", "localhost");
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let req = req.body(Full::new(Bytes::from(body))).expect("request");
        let resp = match self {
            Self::H1(s) => {
                s.ready()
                    .await
                    .expect("HTTP/1.1 connection ready for the next request");
                s.send_request(req).await
            }
            Self::H2(s) => {
                s.ready().await.expect("HTTP/2 connection ready");
                s.send_request(req).await
            }
        }
        .expect("response");
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = resp
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        (status, ct, body)
    }

    /// Posts a JSON body to `path`.
    pub async fn post(&mut self, path: &str, body: &str) -> (u16, String, Vec<u8>) {
        self.send(
            "POST",
            path,
            Some("application/json"),
            body.as_bytes().to_vec(),
        )
        .await
    }
}

/// A server on loopback ports with the seed cluster (or `cluster_text`) and its certificates.
pub struct TestServer {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub ca: String,
    pub dir: tempfile::TempDir,
    pub audit_path: std::path::PathBuf,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub done: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub state: Option<std::sync::Arc<ignite_netpol::server::AppState>>,
}

pub fn seed_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/seed/cluster.yaml"
    ))
    .expect("seed cluster")
}

impl TestServer {
    pub async fn start(cluster_text: &str, max_body: usize, reload: Duration) -> Self {
        Self::start_with(cluster_text, max_body, reload, false).await
    }

    /// A server fed by the live view from `client` (the fake API server), reconciling in `mode`.
    pub async fn start_live(
        client: kube::Client,
        mode: ignite_netpol::cluster::reconcile::ReconcileMode,
    ) -> Self {
        let mut s = Self::build("", 64 * 1024, Duration::from_secs(60), false, false).await;
        let state = s.state.take().expect("state");
        let live = ignite_netpol::cluster::LiveConfig {
            cfg: Compiled::default(),
            settle: Duration::from_millis(5),
            reconcile: mode,
            instance: None,
        };
        let view = state.clone();
        tokio::spawn(ignite_netpol::cluster::run_live(
            client,
            live,
            move |env| view.set_view(env),
            state.metrics.reconcile.clone(),
            state,
            || {},
        ));
        s
    }

    /// As `start`; with `client_ca`, clients must present a certificate from the server's CA.
    pub async fn start_with(
        cluster_text: &str,
        max_body: usize,
        reload: Duration,
        client_ca: bool,
    ) -> Self {
        Self::build(cluster_text, max_body, reload, client_ca, true).await
    }

    async fn build(
        cluster_text: &str,
        max_body: usize,
        reload: Duration,
        client_ca: bool,
        ready: bool,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let issued = write_certs(dir.path());
        let mut snapshot = ClusterSnapshot::default();
        snapshot
            .add_text(cluster_text, "test cluster")
            .expect("cluster must load");
        let cfg = Compiled::default();
        let env = Environment::build(&snapshot, &cfg).expect("model");
        let audit_path = dir.path().join("audit.log");
        let config = ServeConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            admin_listen: "127.0.0.1:0".parse().expect("addr"),
            tls: CertFiles {
                cert: dir.path().join("tls.crt"),
                key: dir.path().join("tls.key"),
            },
            client_ca: client_ca.then(|| {
                write_client_certs(dir.path());
                dir.path().join("client-ca.crt")
            }),
            tls_reload_interval: reload,
            limits: Limits {
                max_body,
                request_timeout: Duration::from_secs(5),
            },
            header_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(10),
            audit: AuditConfig {
                destination: Destination::File(audit_path.clone()),
                queue: 10_000,
                max_bytes: 1 << 30,
                keep: 2,
                flush_every: Duration::from_secs(1),
            },
            ready_at_start: ready,
            on_unsynced: ignite_netpol::server::OnUnsynced::Deny,
            pin_threads: ignite_netpol::server::PinThreads::Auto,
        };
        let server = Server::bind(config, env, cfg)
            .await
            .expect("server must bind");
        let addr = server.webhook_addr().expect("addr");
        let admin = server.admin_addr().expect("admin addr");
        let state = Some(server.state());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            admin,
            ca: issued.ca_cert,
            dir,
            audit_path,
            stop: Some(stop),
            done,
            state,
        }
    }

    /// Stops the server and waits for it (audit log flushed).
    pub async fn stop(mut self) -> Vec<serde_json::Value> {
        self.state.take();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.done)
            .await
            .expect("server task")
            .expect("server must shut down cleanly");
        std::fs::read_to_string(&self.audit_path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("audit lines are JSON"))
            .collect()
    }

    /// GETs a path on the admin port.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let tcp = TcpStream::connect(self.admin).await.expect("admin connect");
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let req = Request::builder()
            .uri(path)
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .expect("request");
        let resp = send.send_request(req).await.expect("response");
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&body).to_string())
    }

    /// The value of a metric line (exact series name with labels).
    pub async fn metric(&self, series: &str) -> f64 {
        let (_, text) = self.admin_get("/metrics").await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }
}

/// An AdmissionReview for a NetworkPolicy.
pub fn review(uid: &str, operation: &str, object: serde_json::Value) -> String {
    let name = object["metadata"]["name"].clone();
    let namespace = object["metadata"]["namespace"].clone();
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "networking.k8s.io", "version": "v1", "kind": "NetworkPolicy"},
            "resource": {"group": "networking.k8s.io", "version": "v1", "resource": "networkpolicies"},
            "name": name, "namespace": namespace, "operation": operation,
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": object, "oldObject": null, "dryRun": false
        }
    })
    .to_string()
}

/// The policies of a seed file as JSON.
pub fn seed_policies(file: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(format!(
        "{}/examples/seed/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("seed file");
    text.split("\n---\n")
        .map(|doc| serde_saphyr::from_str::<serde_json::Value>(doc).expect("seed YAML"))
        .collect()
}

/// The generated Ignite egress policy for cache-ns on the seed cluster, as JSON.
pub fn generated_policy() -> serde_json::Value {
    let mut snapshot = ClusterSnapshot::default();
    snapshot.add_text(&seed_text(), "seed").expect("seed");
    let cfg = Compiled::default();
    let env = Environment::build(&snapshot, &cfg).expect("env");
    let mut v = serde_json::to_value(ignite_netpol::ignite::generate::egress_policy(
        &env,
        &cfg,
        "cache-ns",
        "ignite-egress",
        false,
    ))
    .expect("json");
    v["apiVersion"] = serde_json::json!("networking.k8s.io/v1");
    v["kind"] = serde_json::json!("NetworkPolicy");
    v
}

/// The API server's EndpointSlice with its endpoint at `ip` (the seed's is 192.168.49.2).
pub fn moved_slice(ip: &str) -> serde_json::Value {
    serde_json::json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
           "addressType": "IPv4", "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
           "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]})
}

/// Writes a kubeconfig for a plain-HTTP API server at `addr` (the fake) into `dir`.
pub fn write_kubeconfig(dir: &Path, addr: SocketAddr) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: fake, cluster: {{server: 'http://{addr}'}}}}]\n\
             contexts: [{{name: fake, context: {{cluster: fake, user: fake}}}}]\ncurrent-context: fake\nusers: [{{name: fake, user: {{}}}}]\n"
        ),
    )
    .expect("kubeconfig");
    path
}
