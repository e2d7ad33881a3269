//! The least a webhook on `serve`'s stack can do per review: the yardstick `bench/webhook.sh`
//! measures `ignite-netpol serve` against.
//!
//! What `serve` does around a decision and nothing more: the same TLS (this crate's
//! [`tls::server_config`] with the certificate files `serve` would load, ALPN `h2` and
//! `http/1.1`, ring), TCP_NODELAY on every accepted socket, hyper-util's HTTP/1.1 + HTTP/2
//! server with an axum router, and a typed parse of the AdmissionReview that borrows the uid
//! and skips over the object without building it. Every review is answered `allowed: true`
//! with its uid — no decision, no audit, no metrics. Built with the release profile (fat LTO,
//! one codegen unit), as `serve` is.
//!
//! `cargo run --release --example ceiling -- ADDR CERT KEY`

use std::{borrow::Cow, net::SocketAddr, path::PathBuf, sync::Arc};

use axum::{
    Router,
    body::Bytes,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use ignite_netpol::server::{CertFiles, ReloadingResolver, tls};
use serde::{Deserialize, Serialize, de::IgnoredAny};

/// The part of an AdmissionReview a webhook must read to answer: the uid. The object is
/// still scanned (and so validated as JSON), as any real handler's parse would.
#[derive(Deserialize)]
struct Review<'a> {
    #[serde(borrow)]
    request: Option<Request<'a>>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    uid: Cow<'a, str>,
    #[serde(default, rename = "object")]
    _object: Option<IgnoredAny>,
}

#[derive(Serialize)]
struct Answer<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    response: Allowed<'a>,
}

#[derive(Serialize)]
struct Allowed<'a> {
    uid: &'a str,
    allowed: bool,
}

async fn admit(body: Bytes) -> Response {
    let uid = match serde_json::from_slice::<Review>(&body) {
        Ok(Review { request: Some(r) }) => r.uid,
        Ok(_) => return (StatusCode::BAD_REQUEST, "no request\n").into_response(),
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let answer = Answer {
        api_version: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        response: Allowed {
            uid: &uid,
            allowed: true,
        },
    };
    match serde_json::to_vec(&answer) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let usage = || anyhow::anyhow!("usage: ceiling ADDR CERT KEY");
    let addr: SocketAddr = args.next().ok_or_else(usage)?.parse()?;
    let files = CertFiles {
        cert: PathBuf::from(args.next().ok_or_else(usage)?),
        key: PathBuf::from(args.next().ok_or_else(usage)?),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(addr, files))
}

async fn serve(addr: SocketAddr, files: CertFiles) -> anyhow::Result<()> {
    let resolver = ReloadingResolver::load(&files)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls::server_config(resolver, None)?));
    let app = Router::new()
        .route("/validate", post(admit))
        .route("/mutate", post(admit));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!("ceiling listening on https://{addr}");
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
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
