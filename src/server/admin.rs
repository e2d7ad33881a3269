//! The plain-HTTP admin port: `/healthz` (the process answers), `/readyz` (the cluster view is
//! loaded), `/metrics` (Prometheus text format), and `/report` (`/report.json`): the evidence for
//! the security team, on the live view, read-only.

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

use super::AppState;
use crate::{
    ignite::evidence,
    report::{Report, SCHEMA_VERSION},
};

/// The admin router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/report", get(report_html))
        .route("/report.json", get(report_json))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the cluster view is not loaded\n",
        )
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let loaded = state.view.load().loaded;
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(loaded),
    )
}

/// The report of the live view, or why there is none yet.
async fn report(state: Arc<AppState>) -> Result<Report, (StatusCode, &'static str)> {
    if !state.readiness.is_ready() {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the cluster view is not loaded\n",
        ));
    }
    // The analysis walks every pod class; keep it off the threads that answer reviews.
    tokio::task::spawn_blocking(move || {
        let env = state.view.load().env.clone();
        Report {
            schema_version: SCHEMA_VERSION,
            generated_at: crate::audit::now(),
            source: "the live view".into(),
            namespaces: evidence::gather(&env, &state.config),
            history: None,
        }
    })
    .await
    .map_err(|_| (StatusCode::INTERNAL_SERVER_ERROR, "the report failed\n"))
}

async fn report_html(State(state): State<Arc<AppState>>) -> Response {
    match report(state).await {
        Ok(r) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            r.html(),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn report_json(State(state): State<Arc<AppState>>) -> Response {
    match report(state).await {
        Ok(r) => match serde_json::to_string_pretty(&r) {
            Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text + "\n").into_response(),
            Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "the report failed\n").into_response(),
        },
        Err(e) => e.into_response(),
    }
}
