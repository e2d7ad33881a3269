//! AdmissionReview in, AdmissionReview out — the one path `review` and the webhook share.
//!
//! Reviewed kinds: NetworkPolicy (`networking.k8s.io/v1`, in any namespace), and the cluster-wide
//! ClusterNetworkPolicy (`policy.networking.k8s.io/v1alpha2`), AdminNetworkPolicy and
//! BaselineAdminNetworkPolicy (`v1alpha1`).
//!
//! Every review that can be read gets HTTP 200 and an answer with its uid echoed: allowed,
//! allowed with warnings, patched (`patchType: JSONPatch`, base64 patch), or denied
//! (`status.code` 403 and the explanation). A review that cannot be read gets an answer without
//! uid (`InvalidRequest`) — or with it, when the uid at least can be read. The
//! verdict also goes to `auditAnnotations` (`verdict`, `missing`; the API server prefixes them
//! with the webhook's name) so it lands in the Kubernetes audit log.

pub mod audit;
pub mod response;
mod wire;

pub use response::{Answer, to_bytes, to_json};
use response::{allowed, deny, respond};

use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::core::{
    DynamicObject,
    admission::{AdmissionRequest, AdmissionReview, Operation as KubeOperation},
};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

use crate::{
    audit::AuditOperation,
    ignite::{
        ClusterPolicyRequest, Compiled, Decision, Environment, Mode, Operation, PolicyRequest,
        decide, decide_cluster_policy,
    },
    policy::{
        ClusterPolicy,
        tier::{Kind, api},
    },
};

/// The outcome of one review: the response to send, and what to audit.
#[derive(Debug)]
pub struct Reviewed {
    /// The answer to send (see [`to_bytes`]).
    pub answer: Answer,
    /// Who asked what, when the request could be read.
    pub request: Option<RequestInfo>,
    /// The decision, when one was made.
    pub decision: Option<Decision>,
    /// Why the review could not be decided, when it could not.
    pub error: Option<String>,
}

/// The request facts the audit log records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    pub uid: String,
    pub operation: AuditOperation,
    pub dry_run: bool,
    pub username: Option<String>,
    pub groups: Vec<String>,
    pub namespace: String,
    pub name: String,
}

/// The request's facts from either parse — the typed fast path's request and kube-core's
/// `AdmissionRequest` carry the API's field names — through the one [`RequestInfo::new`].
macro_rules! request_info {
    ($req:expr) => {
        RequestInfo::new(
            &$req.uid,
            &$req.operation,
            $req.dry_run,
            $req.user_info.username.as_deref(),
            $req.user_info.groups.iter().flatten().map(|g| g.as_ref()),
            $req.namespace.as_deref(),
            &$req.name,
        )
    };
}

/// How a review is answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReviewOptions {
    /// A mode that overrides the namespace's.
    pub mode: Option<Mode>,
    /// Validating webhooks may not patch: a decision to patch becomes a denial (the mutating
    /// webhook runs first and should have added the rules).
    pub validating: bool,
}

/// The well-formed NetworkPolicy review, read in one typed pass (no intermediate JSON tree).
/// Its strings borrow from the body where they hold no escapes; only the object is owned.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypedReview<'a> {
    #[serde(borrow)]
    api_version: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    request: TypedRequest<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypedRequest<'a> {
    #[serde(borrow)]
    uid: Cow<'a, str>,
    #[serde(borrow)]
    kind: TypedKind<'a>,
    #[serde(borrow, default)]
    name: Cow<'a, str>,
    #[serde(borrow, default)]
    namespace: Option<Cow<'a, str>>,
    operation: KubeOperation,
    #[serde(borrow, default)]
    user_info: TypedUser<'a>,
    /// Decoded slim: what the decision reads (see [`wire`]).
    #[serde(default, deserialize_with = "wire::slim_policy")]
    object: Option<NetworkPolicy>,
    #[serde(default)]
    dry_run: bool,
}

/// The request's `kind` (group, version, kind).
#[derive(Deserialize)]
struct TypedKind<'a> {
    #[serde(borrow)]
    group: Cow<'a, str>,
    #[serde(borrow)]
    version: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
}

/// Who asked: the two fields the audit log records (`uid` and `extra` are skipped unread).
#[derive(Default, Deserialize)]
#[serde(default)]
struct TypedUser<'a> {
    #[serde(borrow)]
    username: Option<Cow<'a, str>>,
    #[serde(borrow)]
    groups: Option<Vec<Cow<'a, str>>>,
}

/// Reviews a raw AdmissionReview body. A well-formed NetworkPolicy review is read in one typed
/// pass; anything else takes the careful path that says exactly what is wrong.
pub fn review(env: &Environment, cfg: &Compiled, body: &[u8], options: ReviewOptions) -> Reviewed {
    // JSON is UTF-8 (RFC 8259): checked once over the whole body, the parser then reads each
    // string without validating it again — 15 % of the parse of a 3.5 KB review. A body that is
    // not UTF-8 takes the careful path, which says where it breaks.
    let typed = std::str::from_utf8(body)
        .ok()
        .and_then(|text| serde_json::from_str::<TypedReview>(text).ok());
    if let Some(typed) = typed {
        let r = &typed.request;
        let well_formed = typed.kind == "AdmissionReview"
            && typed.api_version == "admission.k8s.io/v1"
            && !r.uid.is_empty()
            && r.kind.group == "networking.k8s.io"
            && r.kind.version == "v1"
            && r.kind.kind == "NetworkPolicy"
            && r.namespace.as_deref().is_some_and(|n| !n.is_empty())
            && (r.object.is_some() || matches!(r.operation, KubeOperation::Delete));
        if well_formed {
            return decide_typed(env, cfg, typed.request, options);
        }
    }
    review_careful(env, cfg, body, options)
}

fn decide_typed(
    env: &Environment,
    cfg: &Compiled,
    req: TypedRequest<'_>,
    options: ReviewOptions,
) -> Reviewed {
    let info = request_info!(req);
    let Some(operation) = operation(&req.operation) else {
        return answer(info, allowed(&req.uid), None, None);
    };
    let object = if operation == Operation::Delete {
        None
    } else {
        req.object
    };
    decide_and_answer(
        env,
        cfg,
        info,
        operation,
        req.namespace.as_deref().unwrap_or_default(),
        &req.name,
        object.as_ref(),
        options,
    )
}

fn answer(
    info: RequestInfo,
    answer: Answer,
    decision: Option<Decision>,
    error: Option<String>,
) -> Reviewed {
    Reviewed {
        answer,
        request: Some(info),
        decision,
        error,
    }
}

/// The operation decided on; `CONNECT` is not a change and is admitted as it is.
fn operation(op: &KubeOperation) -> Option<Operation> {
    match op {
        KubeOperation::Create => Some(Operation::Create),
        KubeOperation::Update => Some(Operation::Update),
        KubeOperation::Delete => Some(Operation::Delete),
        KubeOperation::Connect => None,
    }
}

/// Decides a read request and builds its answer.
#[allow(clippy::too_many_arguments)]
fn decide_and_answer(
    env: &Environment,
    cfg: &Compiled,
    info: RequestInfo,
    operation: Operation,
    namespace: &str,
    request_name: &str,
    object: Option<&NetworkPolicy>,
    options: ReviewOptions,
) -> Reviewed {
    let name = object
        .and_then(|o| o.metadata.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| request_name.to_string());
    let request = PolicyRequest {
        operation,
        namespace,
        name: &name,
        object,
        mode: options.mode,
        validating: options.validating,
    };
    match decide(env, cfg, &request) {
        Ok(decision) => {
            let response = respond(&info.uid, &decision);
            answer(info, response, Some(decision), None)
        }
        Err(e) => {
            let msg = e.to_string();
            let response = deny(&info.uid, &msg, 422);
            answer(info, response, None, Some(msg))
        }
    }
}

fn review_careful(
    env: &Environment,
    cfg: &Compiled,
    body: &[u8],
    options: ReviewOptions,
) -> Reviewed {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return invalid(None, format!("request body is not JSON: {e}")),
    };
    let uid = value
        .pointer("/request/uid")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind != "AdmissionReview" || api_version != "admission.k8s.io/v1" {
        return invalid(
            uid,
            format!(
                "expected kind AdmissionReview of admission.k8s.io/v1, got {kind:?} of {api_version:?}"
            ),
        );
    }
    if value.get("request").is_none_or(Value::is_null) {
        return invalid(uid, "the AdmissionReview has no request".into());
    }
    let Some(uid) = uid else {
        return invalid(None, "the AdmissionReview request has no uid".into());
    };
    let review: AdmissionReview<DynamicObject> = match serde_path_to_error::deserialize(value) {
        Ok(r) => r,
        Err(e) => {
            return invalid(
                Some(uid),
                format!("malformed AdmissionReview at {}: {}", e.path(), e.inner()),
            );
        }
    };
    let req: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(r) => r,
        Err(_) => return invalid(Some(uid), "the AdmissionReview has no request".into()),
    };
    let info = request_info!(req);
    let uid = req.uid.clone();
    let refuse =
        |msg: String, code: u16| answer(info.clone(), deny(&uid, &msg, code), None, Some(msg));

    let gvk = &req.kind;
    let cluster_kind = match (gvk.group.as_str(), gvk.version.as_str(), gvk.kind.as_str()) {
        ("networking.k8s.io", "v1", "NetworkPolicy") => None,
        (api::GROUP, "v1alpha2", "ClusterNetworkPolicy") => Some(Kind::ClusterNetworkPolicy),
        (api::GROUP, "v1alpha1", "AdminNetworkPolicy") => Some(Kind::AdminNetworkPolicy),
        (api::GROUP, "v1alpha1", "BaselineAdminNetworkPolicy") => {
            Some(Kind::BaselineAdminNetworkPolicy)
        }
        _ => {
            return refuse(
                format!(
                    "ignite-netpol reviews networking.k8s.io/v1 NetworkPolicy, policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicy and v1alpha1 AdminNetworkPolicy/BaselineAdminNetworkPolicy; got {}/{} {}",
                    gvk.group, gvk.version, gvk.kind
                ),
                400,
            );
        }
    };
    let Some(operation) = operation(&req.operation) else {
        return answer(info.clone(), allowed(&uid), None, None);
    };
    if let Some(kind) = cluster_kind {
        return decide_cluster_object(env, cfg, info.clone(), operation, kind, &req, options);
    }
    let Some(namespace) = req.namespace.clone().filter(|n| !n.is_empty()) else {
        return refuse(
            "the request has no namespace: NetworkPolicies are namespaced".into(),
            400,
        );
    };
    let object = match operation {
        Operation::Delete => None,
        _ => match req.object.as_ref().map(to_policy) {
            Some(Ok(np)) => Some(np),
            Some(Err(msg)) => return refuse(msg, 422),
            None => {
                return refuse(
                    format!(
                        "a {} request must carry the object",
                        info.operation.as_str()
                    ),
                    400,
                );
            }
        },
    };
    decide_and_answer(
        env,
        cfg,
        info.clone(),
        operation,
        &namespace,
        &req.name,
        object.as_ref(),
        options,
    )
}

/// Decides a write of a cluster-wide policy: what it cuts from every Ignite namespace.
fn decide_cluster_object(
    env: &Environment,
    cfg: &Compiled,
    info: RequestInfo,
    operation: Operation,
    kind: Kind,
    req: &AdmissionRequest<DynamicObject>,
    options: ReviewOptions,
) -> Reviewed {
    let uid = req.uid.clone();
    let refuse =
        |msg: String, code: u16| answer(info.clone(), deny(&uid, &msg, code), None, Some(msg));
    let name = req
        .object
        .as_ref()
        .and_then(|o| o.metadata.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| req.name.clone());
    let compiled = match (operation, req.object.as_ref()) {
        (Operation::Delete, _) => None,
        (_, None) => {
            return refuse(
                format!(
                    "a {} request must carry the object",
                    info.operation.as_str()
                ),
                400,
            );
        }
        (_, Some(obj)) => match compile_cluster_object(kind, obj) {
            Ok(p) => Some(p),
            Err(msg) => return refuse(msg, 422),
        },
    };
    let decision = decide_cluster_policy(
        env,
        cfg,
        &ClusterPolicyRequest {
            operation,
            kind,
            name: &name,
            object: compiled.as_ref(),
            mode: options.mode,
        },
    );
    let response = respond(&uid, &decision);
    answer(info, response, Some(decision), None)
}

/// Reads and compiles the object of a cluster-wide policy review; the error names the field.
fn compile_cluster_object(kind: Kind, obj: &DynamicObject) -> Result<ClusterPolicy, String> {
    fn typed<T: serde::de::DeserializeOwned>(value: Value, kind: Kind) -> Result<T, String> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            format!(
                "the object is not a valid {kind} at {}: {}",
                e.path(),
                e.inner()
            )
        })
    }
    let value = serde_json::to_value(obj).map_err(|e| format!("the object cannot be read: {e}"))?;
    let compiled = match kind {
        Kind::ClusterNetworkPolicy => {
            ClusterPolicy::compile_cnp(&typed::<api::ClusterNetworkPolicy>(value, kind)?)
        }
        Kind::AdminNetworkPolicy => {
            ClusterPolicy::compile_anp(&typed::<api::AdminNetworkPolicy>(value, kind)?)
        }
        Kind::BaselineAdminNetworkPolicy => {
            ClusterPolicy::compile_banp(&typed::<api::BaselineAdminNetworkPolicy>(value, kind)?)
        }
    };
    compiled.map_err(|e| {
        format!(
            "{kind} {} is invalid: {e}",
            obj.metadata.name.as_deref().unwrap_or_default()
        )
    })
}

fn invalid(uid: Option<String>, msg: String) -> Reviewed {
    Reviewed {
        answer: response::invalid(uid, &msg),
        request: None,
        decision: None,
        error: Some(msg),
    }
}

fn to_policy(obj: &DynamicObject) -> Result<NetworkPolicy, String> {
    let value = serde_json::to_value(obj).map_err(|e| format!("the object cannot be read: {e}"))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        format!(
            "the object is not a valid NetworkPolicy at {}: {}",
            e.path(),
            e.inner()
        )
    })
}

impl RequestInfo {
    /// The one place a request's facts are read, for both parse paths.
    fn new<'a>(
        uid: &str,
        operation: &KubeOperation,
        dry_run: bool,
        username: Option<&str>,
        groups: impl Iterator<Item = &'a str>,
        namespace: Option<&str>,
        name: &str,
    ) -> Self {
        Self {
            uid: uid.to_string(),
            operation: match operation {
                KubeOperation::Create => AuditOperation::Create,
                KubeOperation::Update => AuditOperation::Update,
                KubeOperation::Delete => AuditOperation::Delete,
                KubeOperation::Connect => AuditOperation::Connect,
            },
            dry_run,
            username: username.map(str::to_string),
            groups: groups.map(str::to_string).collect(),
            namespace: namespace.unwrap_or_default().to_string(),
            name: name.to_string(),
        }
    }
}
