//! Cutting YAML into pieces that parse on their own — the documents of a stream, and each item
//! of a block-style `*List` — so they can be parsed on all cores; and the parse itself, with
//! budgets and errors pointed into the file.

use serde_json::Value;

use super::{Location, SnapshotError, parse::is_list};

/// A piece of YAML that parses on its own.
pub(super) struct Piece<'a> {
    pub at: Location,
    /// The piece's first line in the file (1-based), to point errors into the file.
    pub first_line: usize,
    pub text: &'a str,
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

pub(super) fn parse_yaml(
    text: &str,
    at: &Location,
    first_line: usize,
) -> Result<Value, SnapshotError> {
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
pub(super) fn yaml_pieces<'a>(
    text: &'a str,
    origin: &str,
) -> Result<Vec<Piece<'a>>, SnapshotError> {
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
pub(super) fn list_items<'a>(
    doc: &'a str,
    at: &Location,
    first_line: usize,
) -> Option<Vec<Piece<'a>>> {
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
pub(super) fn yaml_documents(text: &str) -> Vec<(usize, &str)> {
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
