//! The benchmark's baseline: the same stack as `ignite-netpol serve` (tokio, hyper-util's
//! HTTP/1.1 + HTTP/2 server, axum, rustls with the same TLS configuration) answering every
//! AdmissionReview with `allowed: true` — reading and parsing the body, no decision, no audit.
//!
//! `cargo run --release --example baseline -- ADDR CERT KEY`

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use axum::{Router, body::Bytes, http::header, response::IntoResponse, routing::post};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use ignite_netpol::server::{CertFiles, ReloadingResolver, tls};
use serde_json::{Value, json};

async fn echo(body: Bytes) -> impl IntoResponse {
    let uid = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.pointer("/request/uid").cloned())
        .unwrap_or(Value::Null);
    let answer = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": uid, "allowed": true}});
    (
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: baseline ADDR CERT KEY";
    let addr: SocketAddr = args.next().ok_or_else(|| anyhow::anyhow!(usage))?.parse()?;
    let files = CertFiles {
        cert: PathBuf::from(args.next().ok_or_else(|| anyhow::anyhow!(usage))?),
        key: PathBuf::from(args.next().ok_or_else(|| anyhow::anyhow!(usage))?),
    };
    let resolver = ReloadingResolver::load(&files)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls::server_config(resolver, None)?));
    let app = Router::new()
        .route("/validate", post(echo))
        .route("/mutate", post(echo));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("baseline listening on {addr}");
    loop {
        let (tcp, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            if let Ok(tls) = acceptor.accept(tcp).await {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            }
        });
    }
}
