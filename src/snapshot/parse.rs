//! Snapshot text to typed objects.
//!
//! JSON is parsed whole. YAML is cut into pieces that parse on their own: the documents of a
//! stream (split at `---` / `...` markers), and — for a `*List` document in the block style
//! kubectl prints — each entry of its top-level `items:` sequence. Pieces are parsed, typed and
//! validated on all cores, then returned in file order, so the first error in the file is the
//! one reported. Every error carries the file, document, item and field.

use std::num::NonZeroUsize;

use k8s_openapi::{
    api::{
        core::v1::{Namespace, Node, Pod, Service},
        discovery::v1::EndpointSlice,
        networking::v1::NetworkPolicy,
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

#[cfg(test)]
use super::yaml::{list_items, yaml_documents};
use super::{
    Location, SnapshotError, invalid,
    yaml::{parse_yaml, yaml_pieces},
};
use crate::policy::{
    ClusterPolicy, FieldError, PodInfo, Policy,
    tier::api::{AdminNetworkPolicy, BaselineAdminNetworkPolicy, ClusterNetworkPolicy},
};

/// An object of a kind the snapshot keeps, or the `apiVersion/kind` of one it skips.
pub(super) enum Object {
    Namespace(Box<Namespace>),
    Pod(Box<Pod>),
    Service(Box<Service>),
    EndpointSlice(Box<EndpointSlice>),
    NetworkPolicy(Box<NetworkPolicy>),
    Node(Box<Node>),
    ClusterNetworkPolicy(Box<ClusterNetworkPolicy>),
    AdminNetworkPolicy(Box<AdminNetworkPolicy>),
    BaselineAdminNetworkPolicy(Box<BaselineAdminNetworkPolicy>),
    Skipped(String),
}

/// Parses a file's text (YAML or JSON) into objects, in file order. Namespaced objects without
/// `metadata.namespace` get `namespace` when given (as `kubectl apply -n` does).
pub(super) fn parse_text(
    text: &str,
    origin: &str,
    namespace: Option<&str>,
) -> Result<Vec<Object>, SnapshotError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let at = Location {
            origin: origin.to_string(),
            document: 1,
            item: None,
        };
        let value: Value = serde_json::from_str(text).map_err(|e| SnapshotError::Syntax {
            at: at.clone(),
            format: "JSON",
            message: e.to_string(),
        })?;
        return objects_of_value(value, &at, namespace);
    }
    let pieces = yaml_pieces(text, origin)?;
    let parsed = parallel_map(pieces, |piece| {
        let value = parse_yaml(piece.text, &piece.at, piece.first_line)?;
        objects_of_value(value, &piece.at, namespace)
    });
    let mut out = Vec::new();
    for objects in parsed {
        out.extend(objects?);
    }
    Ok(out)
}

/// Turns a parsed document into objects: null is nothing, a list or a `*List` gives its items.
pub(super) fn objects_of_value(
    value: Value,
    at: &Location,
    namespace: Option<&str>,
) -> Result<Vec<Object>, SnapshotError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        Value::Object(mut map) if is_list(&map) => match map.remove("items") {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => return Ok(Vec::new()),
            Some(_) => {
                return Err(map_error(
                    at,
                    &map,
                    FieldError::new("items", "must be a list"),
                ));
            }
        },
        Value::Object(map) => return Ok(vec![object(map, at, namespace)?]),
        other => return Err(not_an_object(at, &other)),
    };
    let base = at.item.unwrap_or(0);
    let items: Vec<(usize, Value)> = items.into_iter().enumerate().collect();
    parallel_map(items, |(i, item)| {
        let at = Location {
            item: Some(base + i),
            ..at.clone()
        };
        match item {
            Value::Object(map) => object(map, &at, namespace),
            other => Err(not_an_object(&at, &other)),
        }
    })
    .into_iter()
    .collect()
}

pub(super) fn is_list(map: &Map<String, Value>) -> bool {
    map.get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
}

/// Types and validates one object.
fn object(
    mut map: Map<String, Value>,
    at: &Location,
    namespace: Option<&str>,
) -> Result<Object, SnapshotError> {
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind.is_empty() || api_version.is_empty() {
        let field = if kind.is_empty() {
            "kind"
        } else {
            "apiVersion"
        };
        return Err(map_error(at, &map, FieldError::new(field, "must be set")));
    }
    let cluster_scoped = matches!(
        kind,
        "Namespace"
            | "Node"
            | "ClusterNetworkPolicy"
            | "AdminNetworkPolicy"
            | "BaselineAdminNetworkPolicy"
    );
    if let Some(ns) = namespace
        && !cluster_scoped
        && let Some(Value::Object(meta)) = map.get_mut("metadata")
        && !meta.contains_key("namespace")
    {
        meta.insert("namespace".into(), ns.into());
    }
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    Ok(match (api_version, kind) {
        ("v1", "Namespace") => Object::Namespace(Box::new(typed(map, at)?)),
        ("v1", "Pod") => {
            let pod: Pod = typed(map, at)?;
            PodInfo::from_pod(&pod).map_err(|e| meta_error(at, "Pod", &pod.metadata, e))?;
            Object::Pod(Box::new(pod))
        }
        ("v1", "Service") => Object::Service(Box::new(typed(map, at)?)),
        ("discovery.k8s.io/v1", "EndpointSlice") => {
            Object::EndpointSlice(Box::new(typed(map, at)?))
        }
        ("networking.k8s.io/v1", "NetworkPolicy") => {
            let np: NetworkPolicy = typed(map, at)?;
            Policy::compile(&np).map_err(|e| meta_error(at, "NetworkPolicy", &np.metadata, e))?;
            Object::NetworkPolicy(Box::new(np))
        }
        ("v1", "Node") => Object::Node(Box::new(typed(map, at)?)),
        ("policy.networking.k8s.io/v1alpha2", "ClusterNetworkPolicy") => {
            let cnp: ClusterNetworkPolicy = typed(map, at)?;
            ClusterPolicy::compile_cnp(&cnp)
                .map_err(|e| meta_error(at, kind_of(&cnp), &cnp.metadata, e))?;
            Object::ClusterNetworkPolicy(Box::new(cnp))
        }
        ("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy") => {
            let anp: AdminNetworkPolicy = typed(map, at)?;
            ClusterPolicy::compile_anp(&anp)
                .map_err(|e| meta_error(at, kind_of(&anp), &anp.metadata, e))?;
            Object::AdminNetworkPolicy(Box::new(anp))
        }
        ("policy.networking.k8s.io/v1alpha1", "BaselineAdminNetworkPolicy") => {
            let banp: BaselineAdminNetworkPolicy = typed(map, at)?;
            ClusterPolicy::compile_banp(&banp)
                .map_err(|e| meta_error(at, kind_of(&banp), &banp.metadata, e))?;
            Object::BaselineAdminNetworkPolicy(Box::new(banp))
        }
        _ => Object::Skipped(format!("{api_version}/{kind}")),
    })
}

fn typed<T: DeserializeOwned>(map: Map<String, Value>, at: &Location) -> Result<T, SnapshotError> {
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let name = object_name(&map);
    serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "(root)".into() } else { path };
        invalid(
            at,
            kind,
            name,
            FieldError::new(field, e.into_inner().to_string()),
        )
    })
}

/// Maps `f` over `items` on all cores, keeping order; small inputs stay on this thread.
fn parallel_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    const MIN_PER_THREAD: usize = 64;
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let threads = cores.min(items.len() / MIN_PER_THREAD).max(1);
    if threads == 1 {
        return items.into_iter().map(f).collect();
    }
    let per_thread = items.len().div_ceil(threads);
    let mut batches: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        batches.push(items.by_ref().take(per_thread).collect());
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = batches
            .into_iter()
            .map(|batch| scope.spawn(move || batch.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

fn meta_error(at: &Location, kind: &str, meta: &ObjectMeta, error: FieldError) -> SnapshotError {
    let name = meta.name.as_deref().unwrap_or_default();
    let name = match meta.namespace.as_deref() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    };
    invalid(at, kind, name, error)
}

fn kind_of<T: k8s_openapi::Resource>(_: &T) -> &'static str {
    T::KIND
}

fn map_error(at: &Location, map: &Map<String, Value>, error: FieldError) -> SnapshotError {
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("object");
    invalid(at, kind, object_name(map), error)
}

fn object_name(map: &Map<String, Value>) -> String {
    let meta = map.get("metadata");
    let get = |k: &str| {
        meta.and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    match get("namespace") {
        "" => get("name").to_string(),
        ns => format!("{ns}/{}", get("name")),
    }
}

fn not_an_object(at: &Location, v: &Value) -> SnapshotError {
    let found = match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    let error = FieldError::new(
        "(root)",
        format!("expected a Kubernetes object, found {found}"),
    );
    invalid(at, "object", "", error)
}

#[cfg(test)]
mod tests;
