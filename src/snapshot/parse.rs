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
        core::v1::{Namespace, Pod, Service},
        discovery::v1::EndpointSlice,
        networking::v1::NetworkPolicy,
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{Location, SnapshotError, invalid};
use crate::policy::{FieldError, PodInfo, Policy};

/// An object of a kind the snapshot keeps, or the `apiVersion/kind` of one it skips.
pub(super) enum Object {
    Namespace(Box<Namespace>),
    Pod(Box<Pod>),
    Service(Box<Service>),
    EndpointSlice(Box<EndpointSlice>),
    NetworkPolicy(Box<NetworkPolicy>),
    Skipped(String),
}

/// A piece of YAML that parses on its own.
struct Piece<'a> {
    at: Location,
    /// The piece's first line in the file (1-based), to point errors into the file.
    first_line: usize,
    text: &'a str,
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

fn is_list(map: &Map<String, Value>) -> bool {
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
    if let Some(ns) = namespace
        && kind != "Namespace"
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

/// Budgets for YAML parsing: generous enough for a whole cluster in one `v1 List`, still bounded
/// against alias bombs and runaway nesting.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_reader_input_bytes: Some(1 << 30),
            max_events: usize::MAX,
            max_nodes: usize::MAX,
            max_total_scalar_bytes: 1 << 30,
            max_documents: usize::MAX,
        },
    }
}

fn parse_yaml(text: &str, at: &Location, first_line: usize) -> Result<Value, SnapshotError> {
    serde_saphyr::from_str_with_options(text, yaml_options()).map_err(|e| {
        let inner = e.without_snippet();
        let mut message = inner.to_string();
        if let Some(loc) = inner.location() {
            let line = usize::try_from(loc.line()).unwrap_or(0) + first_line - 1;
            message = format!("line {line}, column {}: {message}", loc.column());
        }
        SnapshotError::Syntax {
            at: at.clone(),
            format: "YAML",
            message: message.lines().next().unwrap_or_default().to_string(),
        }
    })
}

/// Cuts a YAML stream into pieces: documents, and the items of block-style `*List` documents.
fn yaml_pieces<'a>(text: &'a str, origin: &str) -> Result<Vec<Piece<'a>>, SnapshotError> {
    let mut pieces = Vec::new();
    for (index, (first_line, doc)) in yaml_documents(text).into_iter().enumerate() {
        let at = Location {
            origin: origin.to_string(),
            document: index + 1,
            item: None,
        };
        if doc.lines().all(|l| {
            let l = l.trim();
            l.is_empty() || l.starts_with('#')
        }) {
            continue;
        }
        match list_items(doc, &at, first_line) {
            Some(items) => pieces.extend(items),
            None => pieces.push(Piece {
                at,
                first_line,
                text: doc,
            }),
        }
    }
    Ok(pieces)
}

/// Splits a block-style `*List` document into its items, each a one-entry YAML sequence that
/// parses alone. `None` when the document is not such a List; it is then parsed whole.
fn list_items<'a>(doc: &'a str, at: &Location, first_line: usize) -> Option<Vec<Piece<'a>>> {
    // Line offsets of the top-level `items:` key and of each column-0 `- ` entry below it.
    let mut offset = 0;
    let mut items_key: Option<(usize, usize)> = None;
    let mut entries: Vec<(usize, usize)> = Vec::new();
    let mut end = doc.len();
    let mut rest = String::new();
    for (n, line) in doc.split_inclusive('\n').enumerate() {
        let bare = line.trim_end();
        match items_key {
            None if bare == "items:" => items_key = Some((offset, n)),
            None => rest.push_str(line),
            Some(_) if end < doc.len() => rest.push_str(line),
            Some(_) => {
                if bare == "-" || bare.starts_with("- ") {
                    entries.push((offset, n));
                } else if !(bare.is_empty()
                    || bare.starts_with(' ')
                    || bare.starts_with('#')
                    || (entries.is_empty() && bare == "[]"))
                {
                    end = offset;
                    rest.push_str(line);
                }
            }
        }
        offset += line.len();
    }
    items_key?;
    if entries.is_empty() {
        return None;
    }
    // The document without its items must itself be a *List with no other `items`.
    let header: Value = serde_saphyr::from_str_with_options(&rest, yaml_options()).ok()?;
    let header = header.as_object()?;
    if !is_list(header) || header.contains_key("items") {
        return None;
    }
    let mut pieces = Vec::with_capacity(entries.len());
    for (i, &(start, line)) in entries.iter().enumerate() {
        let stop = entries.get(i + 1).map_or(end, |&(s, _)| s);
        pieces.push(Piece {
            at: Location {
                item: Some(i),
                ..at.clone()
            },
            first_line: first_line + line,
            text: &doc[start..stop],
        });
    }
    Some(pieces)
}

/// Splits a YAML stream at `---` / `...` document markers, keeping each document's first line
/// number (1-based). Documents are counted from 1, an empty one before a leading `---` aside.
fn yaml_documents(text: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        let starts_doc = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        let ends_doc = bare == "..." || bare.starts_with("... ");
        if starts_doc || ends_doc {
            if n > 0 {
                docs.push((start_line, &text[start..offset]));
            }
            if starts_doc {
                // Content after "--- " on the marker line belongs to the new document.
                start = offset + 3;
                start_line = n + 1;
            } else {
                start = offset + line.len();
                start_line = n + 2;
            }
        }
        offset += line.len();
    }
    if !text[start..].trim().is_empty() {
        docs.push((start_line, &text[start..]));
    }
    docs
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
    let name = format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    );
    invalid(at, kind, name, error)
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
mod tests {
    use super::*;

    #[test]
    fn splits_documents_at_markers() {
        let text = "a: 1\n---\nb: 2\n--- # c\nc: 3\n...\n";
        let docs = yaml_documents(text);
        let bodies: Vec<_> = docs.iter().map(|(_, d)| d.trim()).collect();
        assert_eq!(bodies, vec!["a: 1", "b: 2", "# c\nc: 3"]);
        assert_eq!(
            docs.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            vec![1, 2, 4]
        );
    }

    fn at() -> Location {
        Location {
            origin: "t".into(),
            document: 1,
            item: None,
        }
    }

    #[test]
    fn splits_block_lists_into_items() {
        let doc = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n# note\n- apiVersion: v1\n  kind: Namespace\n  data: |\n    - not an item\n  metadata: {name: b}\nmetadata:\n  resourceVersion: \"\"\n";
        let items = list_items(doc, &at(), 1).expect("a block List splits");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].first_line, 4);
        assert_eq!(items[1].first_line, 8);
        assert!(
            items[1].text.contains("- not an item"),
            "block scalar stays in its item"
        );
        assert!(
            !items[1].text.contains("resourceVersion"),
            "trailing keys are not an item"
        );
        assert_eq!(items[1].at.item, Some(1));
    }

    #[test]
    fn non_lists_and_flow_lists_are_parsed_whole() {
        let cases = [
            "kind: Pod\nitems:\n- a\n",
            "apiVersion: v1\nkind: List\nitems: [{kind: Namespace}]\n",
            "apiVersion: v1\nkind: List\nitems: []\n",
        ];
        for doc in cases {
            assert!(list_items(doc, &at(), 1).is_none(), "{doc:?}");
        }
    }

    #[test]
    fn split_and_whole_parsing_agree() {
        let doc = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: b\n    labels: {x: \"1\"}\nmetadata: {resourceVersion: \"\"}\n";
        let names = |objs: Vec<Object>| -> Vec<String> {
            objs.into_iter()
                .map(|o| match o {
                    Object::Namespace(ns) => ns.metadata.name.unwrap_or_default(),
                    _ => String::from("?"),
                })
                .collect()
        };
        let split = names(parse_text(doc, "t", None).expect("split parse"));
        let value = parse_yaml(doc, &at(), 1).expect("whole parse");
        let whole = names(objects_of_value(value, &at(), None).expect("whole objects"));
        assert_eq!(split, vec!["a", "b"]);
        assert_eq!(split, whole);
    }

    #[test]
    fn parallel_map_keeps_order() {
        let out = parallel_map((0..1000).collect(), |i: i32| i * 2);
        assert_eq!(out, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
    }
}
