//! Decisions as text a person can act on: the denial message `kubectl apply` prints (one summary
//! line, one line per missing flow with its reason, the hints, then the YAML of the rules to
//! add), and one-line summaries for `check`.

use std::fmt::Write;

use super::decision::{Decision, Verdict, kinds};

/// The one-line summary, e.g. `cache-ns/allow-dns (CREATE): denied, missing dns`.
pub fn summary(d: &Decision) -> String {
    let op = serde_json::to_value(d.operation)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut s = format!(
        "{}/{} ({op}, mode {}): {}",
        d.namespace,
        d.name,
        d.mode,
        verdict_word(d.verdict)
    );
    if !d.missing.is_empty() {
        let _ = write!(s, ", missing {}", kinds(&d.missing));
    }
    s
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Allowed => "allowed",
        Verdict::Denied => "denied",
        Verdict::Patched => "patched",
        Verdict::Warned => "allowed with warnings",
    }
}

/// The full explanation: what is cut and why, hints, and the rules that fix it.
pub fn explain(d: &Decision) -> String {
    let mut s = String::new();
    let n = d.missing.len();
    let what = match d.operation {
        super::decision::Operation::Delete => "deleting",
        _ => "applying",
    };
    if n > 0 {
        let _ = writeln!(
            s,
            "ignite-netpol: {what} NetworkPolicy {}/{} would cut Ignite off: {n} required flow{} blocked (mode {}, Ignite pods: {}).",
            d.namespace,
            d.name,
            if n == 1 { " is" } else { "s are" },
            d.mode,
            d.ignite_pods.join(", ")
        );
    } else if !d.unverified.is_empty() {
        let _ = writeln!(
            s,
            "ignite-netpol: {what} NetworkPolicy {}/{} isolates Ignite's egress, and the cluster view lacks what is needed to prove it keeps Ignite working (mode {}, Ignite pods: {}).",
            d.namespace,
            d.name,
            d.mode,
            d.ignite_pods.join(", ")
        );
    }
    for m in &d.missing {
        let _ = writeln!(
            s,
            "- {}{}: {} -> {} {}/{}: {}",
            m.flow,
            m.name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default(),
            m.from,
            m.target,
            m.port,
            m.protocol,
            m.reason
        );
    }
    for gap in &d.unverified {
        let _ = writeln!(s, "- not checked: {gap} in the configuration (--config)");
    }
    for h in &d.hints {
        let _ = writeln!(s, "  hint: {h}");
    }
    if let Some(why) = &d.unpatchable {
        let _ = writeln!(s, "Not patched: {why}.");
    }
    if let Some(fix) = d.fix.as_ref().filter(|f| !f.additions.is_empty()) {
        let target = if fix.fits_incoming {
            format!("{}/{}", d.namespace, d.name)
        } else {
            format!(
                "a NetworkPolicy in {} that selects the Ignite pods ({})",
                d.namespace, fix.ignite_selector
            )
        };
        if !fix.additions.egress.is_empty() {
            let rules: Vec<_> = fix.additions.egress.iter().map(|(_, r)| r).collect();
            let _ = writeln!(s, "Add to spec.egress of {target}:");
            push_yaml(&mut s, &rules);
        }
        if !fix.additions.ingress.is_empty() {
            let rules: Vec<_> = fix.additions.ingress.iter().map(|(_, r)| r).collect();
            let _ = writeln!(s, "Add to spec.ingress of {target}:");
            push_yaml(&mut s, &rules);
        }
        if d.operation != super::decision::Operation::Delete {
            s.push_str("(Applying several policies at once? Apply the allowances before the default-deny.)\n");
        }
    }
    s
}

/// Appends `rules` as block YAML indented by two spaces, the way manifests are written, so the
/// lines paste into `spec.egress` / `spec.ingress` as they are.
fn push_yaml(out: &mut String, rules: &impl serde::Serialize) {
    match serde_json::to_value(rules) {
        Ok(value) => yaml::block(out, &value, 2),
        Err(e) => {
            let _ = writeln!(out, "  # cannot print the rules: {e}");
        }
    }
}

/// A block-style YAML printer for the small JSON trees of NetworkPolicy rules. A general YAML
/// serialiser spends most of a denial's time deciding how to quote each scalar; these trees
/// hold ports, protocols, CIDRs, label keys and values, so a string is printed plain when it
/// cannot be read back as anything else and double-quoted (JSON escapes, which YAML reads)
/// otherwise. Sequences inside a mapping sit at the mapping's indentation, as `kubectl` prints.
pub(crate) mod yaml {
    use std::fmt::Write;

    use serde_json::Value;

    /// Appends `value` at `indent` spaces, ending with a newline.
    pub fn block(out: &mut String, value: &Value, indent: usize) {
        match value {
            Value::Array(items) if !items.is_empty() => sequence(out, items, indent),
            Value::Object(map) if !map.is_empty() => mapping(out, map, indent, false),
            scalar => {
                pad(out, indent);
                inline(out, scalar);
                out.push('\n');
            }
        }
    }

    fn sequence(out: &mut String, items: &[Value], indent: usize) {
        for item in items {
            pad(out, indent);
            out.push_str("- ");
            match item {
                Value::Object(map) if !map.is_empty() => mapping(out, map, indent + 2, true),
                Value::Array(inner) if !inner.is_empty() => {
                    out.push('\n');
                    sequence(out, inner, indent + 2);
                }
                scalar => {
                    inline(out, scalar);
                    out.push('\n');
                }
            }
        }
    }

    /// A mapping at `indent`; with `continued`, its first key goes on the current line (after
    /// a sequence's `- `).
    fn mapping(
        out: &mut String,
        map: &serde_json::Map<String, Value>,
        indent: usize,
        continued: bool,
    ) {
        for (i, (key, value)) in map.iter().enumerate() {
            if i > 0 || !continued {
                pad(out, indent);
            }
            string(out, key);
            out.push(':');
            match value {
                Value::Object(inner) if !inner.is_empty() => {
                    out.push('\n');
                    mapping(out, inner, indent + 2, false);
                }
                Value::Array(items) if !items.is_empty() => {
                    out.push('\n');
                    sequence(out, items, indent);
                }
                scalar => {
                    out.push(' ');
                    inline(out, scalar);
                    out.push('\n');
                }
            }
        }
    }

    fn inline(out: &mut String, value: &Value) {
        match value {
            Value::String(s) => string(out, s),
            Value::Array(_) => out.push_str("[]"),
            Value::Object(_) => out.push_str("{}"),
            // null, booleans and numbers print the same in JSON and YAML.
            other => {
                let _ = write!(out, "{other}");
            }
        }
    }

    fn string(out: &mut String, s: &str) {
        if is_plain(s) {
            out.push_str(s);
        } else {
            let _ = write!(out, "{}", Value::String(s.to_string()));
        }
    }

    /// Whether `s` reads back as this same string when printed unquoted: letters, digits and
    /// `._/:-` only; starting with a letter, `_` or `/` — or a digit when it holds a `/` (a
    /// CIDR; a number or a date never does); not ending in `:`; and none of the words YAML
    /// 1.1 reads as booleans or null.
    pub(crate) fn is_plain(s: &str) -> bool {
        let Some(first) = s.chars().next() else {
            return false;
        };
        let chars_ok = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | ':' | '-'));
        let start_ok = first.is_ascii_alphabetic()
            || matches!(first, '_' | '/')
            || (first.is_ascii_digit() && s.contains('/'));
        const WORDS: [&str; 9] = ["true", "false", "yes", "no", "on", "off", "y", "n", "null"];
        chars_ok
            && start_ok
            && !s.ends_with(':')
            && !WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
    }

    fn pad(out: &mut String, n: usize) {
        out.extend(std::iter::repeat_n(' ', n));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::yaml;

    fn printed(value: &Value) -> String {
        let mut out = String::new();
        yaml::block(&mut out, value, 2);
        out
    }

    /// The layout serde-saphyr (and `kubectl`) give these rules, which earlier denial
    /// messages carried.
    #[test]
    fn rules_print_as_a_manifest_would() {
        let rules = json!([
            {"ports": [{"port": 443, "protocol": "TCP"}], "to": [{"ipBlock": {"cidr": "10.96.0.1/32"}}]},
            {"ports": [{"port": 53, "protocol": "UDP"}], "to": [{
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]}
        ]);
        let expected = "  - ports:\n    - port: 443\n      protocol: TCP\n    to:\n    - ipBlock:\n        cidr: 10.96.0.1/32\n  - ports:\n    - port: 53\n      protocol: UDP\n    to:\n    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: kube-system\n      podSelector:\n        matchLabels:\n          k8s-app: kube-dns\n";
        assert_eq!(printed(&rules), expected);
    }

    /// Whatever is printed reads back, with a YAML parser, as the same tree — strings that
    /// look like numbers, booleans, nulls, dates or carry YAML's indicators included.
    #[test]
    fn printed_yaml_reads_back_as_the_same_tree() {
        let tricky = [
            "",
            "true",
            "False",
            "yes",
            "NO",
            "on",
            "off",
            "y",
            "n",
            "null",
            "~",
            "123",
            "0.5",
            "1e3",
            "0x1F",
            "-1",
            "+1",
            ".inf",
            ".nan",
            "2001-12-14",
            "1:20",
            "a: b",
            "a b",
            "#x",
            "x #y",
            "-x",
            "- x",
            "*ref",
            "&anchor",
            "!tag",
            "@x",
            "`x",
            "'x'",
            "\"x\"",
            "x:",
            "fd00::/8",
            "10.0.0.0/8",
            "kubernetes.io/metadata.name",
            "ü",
            "a\nb",
            "tab\t",
            "{x}",
            "[x]",
            "%x",
            "|",
            ">",
            "?",
            ",",
            "dns-tcp",
        ];
        for s in tricky {
            let tree = json!([
                {s: s, "list": [s, {s: [s]}], "empty": {}, "none": [], "n": 5, "b": true}
            ]);
            let text = printed(&tree);
            let back: Value = serde_saphyr::from_str(&text)
                .unwrap_or_else(|e| panic!("{s:?} printed as {text:?} does not parse: {e}"));
            assert_eq!(back, tree, "{s:?} printed as {text:?}");
        }
    }

    #[test]
    fn only_unambiguous_strings_print_plain() {
        for s in [
            "TCP",
            "kube-system",
            "10.96.0.1/32",
            "fd00::/8",
            "app.kubernetes.io/name",
        ] {
            assert!(yaml::is_plain(s), "{s}");
        }
        for s in [
            "",
            "true",
            "Null",
            "8080",
            "1.5",
            "2001-12-14",
            "x:",
            "-x",
            "a b",
            ".inf",
        ] {
            assert!(!yaml::is_plain(s), "{s}");
        }
    }
}
