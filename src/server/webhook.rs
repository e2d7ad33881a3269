//! The webhook's routes: `POST /validate` and `POST /mutate`.
//!
//! Each request is read with limits (content type, size, time), answered by the same
//! [`admission::review`] the `review` command uses, counted, and
//! audited. A review with a readable uid is answered `200` with an AdmissionReview even when it
//! is denied or malformed; one without gets `400` with a plain message; a wrong content type
//! `415`, a body over the limit `413`, a body that does not arrive in time `408`.
//!
//! The request deadline bounds the body read, the only wait in a review: the decision itself is
//! synchronous, so a timer around it could never fire before it ends. One timer per request,
//! not two.

use std::{sync::Arc, time::Instant};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, Version, header},
    response::{IntoResponse, Response},
    routing::post,
};

use super::AppState;
use crate::{
    admission::{self, ReviewOptions, Reviewed, audit::Sent},
    audit::AuditSink,
};

/// The webhook router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .with_state(state)
}

async fn validate(State(state): State<Arc<AppState>>, req: Request) -> Response {
    handle(&state, "/validate", true, req).await
}

async fn mutate(State(state): State<Arc<AppState>>, req: Request) -> Response {
    handle(&state, "/mutate", false, req).await
}

/// A finished HTTP reply: what to send and what to audit.
struct Reply {
    status: StatusCode,
    json: bool,
    body: Vec<u8>,
    reviewed: Option<Reviewed>,
    error: Option<String>,
    /// The request's uid when it was read without a full review.
    uid: Option<String>,
}

impl Reply {
    fn plain(status: StatusCode, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            status,
            json: false,
            body: format!("{message}\n").into_bytes(),
            reviewed: None,
            error: Some(message),
            uid: None,
        }
    }
}

/// One review in its span: `uid`, `namespace`, `name`, `operation` and `verdict` are recorded
/// once known, so every event of the review carries them.
async fn handle(state: &AppState, path: &'static str, validating: bool, req: Request) -> Response {
    use tracing::{Instrument, field::Empty};
    let span = tracing::info_span!(
        "review",
        path,
        uid = Empty,
        namespace = Empty,
        name = Empty,
        operation = Empty,
        verdict = Empty
    );
    serve_review(state, path, validating, req)
        .instrument(span)
        .await
}

async fn serve_review(
    state: &AppState,
    path: &'static str,
    validating: bool,
    req: Request,
) -> Response {
    let started = Instant::now();
    let http1 = req.version() < Version::HTTP_2;
    let reply = reply(state, validating, req).await;
    let status = reply.status;
    let mut response = if reply.json {
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            reply.body,
        )
            .into_response()
    } else {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            reply.body,
        )
            .into_response()
    };
    // While shutting down, an HTTP/1.1 answer closes its connection, so the client sends nothing
    // more on it and no request is lost when the server closes it.
    if http1 && state.readiness.is_draining() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    account(
        state,
        path,
        started,
        reply.reviewed,
        reply.uid,
        reply.error,
        status.as_u16(),
    );
    response
}

async fn reply(state: &AppState, validating: bool, req: Request) -> Reply {
    tracing::debug!(path = %req.uri().path(), "Review started");
    if !is_json(req.headers()) {
        return Reply::plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "ignite-netpol: Content-Type must be application/json",
        );
    }
    let limit = state.limits.max_body;
    let read = tokio::time::timeout(
        state.limits.request_timeout,
        axum::body::to_bytes(req.into_body(), limit),
    );
    let body = match read.await {
        Err(_) => {
            return Reply::plain(
                StatusCode::REQUEST_TIMEOUT,
                "ignite-netpol: the request body did not arrive in time",
            );
        }
        Ok(Err(e)) if is_length_limit(&e) => {
            return Reply::plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("ignite-netpol: the request body exceeds the limit of {limit} bytes"),
            );
        }
        Ok(Err(e)) => {
            return Reply::plain(
                StatusCode::BAD_REQUEST,
                format!("ignite-netpol: cannot read the request body: {e}"),
            );
        }
        Ok(Ok(body)) => body,
    };
    if !state.readiness.is_synced() {
        return unsynced(state, &body);
    }
    // A guard, not a clone of the `Arc`: the decision is synchronous, and a clone and its drop
    // are two atomic writes on a count every connection thread shares.
    let view = state.view.load();
    let options = ReviewOptions {
        mode: None,
        validating,
    };
    let reviewed = admission::review(&view.env, &state.config, &body, options);
    if !reviewed.answer.has_uid() {
        let msg = reviewed
            .error
            .clone()
            .unwrap_or_else(|| "the AdmissionReview cannot be read".into());
        let mut a = Reply::plain(StatusCode::BAD_REQUEST, format!("ignite-netpol: {msg}"));
        a.reviewed = Some(reviewed);
        return a;
    }
    Reply {
        status: StatusCode::OK,
        json: true,
        body: admission::to_bytes(&reviewed.answer),
        error: reviewed.error.clone(),
        reviewed: Some(reviewed),
        uid: None,
    }
}

/// The answer while the cluster view is not synced (`--on-unsynced`).
fn unsynced(state: &AppState, body: &[u8]) -> Reply {
    #[derive(serde::Deserialize)]
    struct UidOnly {
        request: Option<Uid>,
    }
    #[derive(serde::Deserialize)]
    struct Uid {
        uid: String,
    }
    let uid = serde_json::from_slice::<UidOnly>(body)
        .ok()
        .and_then(|r| r.request)
        .map(|r| r.uid)
        .filter(|u| !u.is_empty());
    let Some(uid) = uid else {
        return Reply::plain(
            StatusCode::BAD_REQUEST,
            "ignite-netpol: the AdmissionReview request has no uid",
        );
    };
    let message = "ignite-netpol: the cluster view is not synced yet; retry shortly";
    let allow = state.on_unsynced == super::OnUnsynced::Allow;
    let review = admission::response::unsynced(&uid, allow, message);
    Reply {
        status: StatusCode::OK,
        json: true,
        body: admission::to_bytes(&review),
        reviewed: None,
        error: Some("cluster view not synced".into()),
        uid: Some(uid),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Counts and audits one answered request.
fn account(
    state: &AppState,
    path: &'static str,
    started: Instant,
    reviewed: Option<Reviewed>,
    uid: Option<String>,
    error: Option<String>,
    status: u16,
) {
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let sent = Sent {
        status,
        error,
        uid,
        latency_us,
    };
    let record = admission::audit::record(path, reviewed, sent);
    state
        .metrics
        .review(path, record.operation, record.verdict, started);
    let span = tracing::Span::current();
    span.record("uid", record.uid.as_str());
    span.record("namespace", record.namespace.as_str());
    span.record("name", record.name.as_str());
    span.record("operation", record.operation.as_str());
    span.record("verdict", record.verdict.as_str());
    tracing::info!(dry_run = record.dry_run, latency_us, "Review");
    state.record(record);
}
