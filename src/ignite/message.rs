//! Decisions as text a person can act on: the denial message `kubectl apply` prints (one summary
//! line, one line per missing flow with its reason, the hints, then the YAML of the rules to
//! add), and one-line summaries for `check`.

use std::fmt::Write;

use super::{
    decision::{Decision, Verdict, kinds},
    rules::Added,
};

/// The one-line summary, e.g. `cache-ns/allow-dns (CREATE): denied, missing dns`.
pub fn summary(d: &Decision) -> String {
    let op = serde_json::to_value(d.operation)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut s = format!(
        "{} ({op}, mode {}): {}",
        object_name(d),
        d.mode,
        verdict_word(d.verdict)
    );
    if !d.missing.is_empty() {
        let _ = write!(s, ", missing {}", kinds(&d.missing));
    }
    for imp in &d.affected {
        let _ = write!(s, ", cuts {} in {}", kinds(&imp.cut), imp.namespace);
    }
    if !d.excess.is_empty() {
        let _ = write!(s, ", {} excess egress finding(s)", d.excess.len());
    }
    s
}

/// `namespace/name` of a NetworkPolicy, `Kind name` of a cluster-wide policy.
fn object_name(d: &Decision) -> String {
    if d.namespace.is_empty() {
        format!("{} {}", d.kind, d.name)
    } else {
        format!("{}/{}", d.namespace, d.name)
    }
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
    // Sized for the usual denial, so that the text is not copied as it grows: the summary, a
    // line of about 200 bytes per missing flow, the hints, the rules' YAML.
    let hints: usize = d.hints.iter().map(|h| h.len() + 9).sum();
    let mut s = String::with_capacity(768 + 256 * d.missing.len() + hints);
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
    let admin = super::decision::admin_rules(&d.missing);
    if !admin.is_empty() {
        let n = d.missing.iter().filter(|m| !m.fixable()).count();
        let _ = writeln!(
            s,
            "No NetworkPolicy can fix {n} of these: Admin-tier rules are evaluated before every NetworkPolicy. Change the rule that denies {} (an Accept or Pass rule before it for these flows, or a narrower match):",
            if n == 1 { "it" } else { "them" }
        );
        for denial in admin {
            let _ = writeln!(s, "  - {}", denial.rule);
        }
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
    explain_affected(&mut s, d, what);
    explain_excess(&mut s, d, what);
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
            let _ = writeln!(s, "Add to spec.egress of {target}:");
            push_rules(&mut s, &fix.additions.egress);
        }
        if !fix.additions.ingress.is_empty() {
            let _ = writeln!(s, "Add to spec.ingress of {target}:");
            push_rules(&mut s, &fix.additions.ingress);
        }
        if d.operation != super::decision::Operation::Delete {
            s.push_str("(Applying several policies at once? Apply the allowances before the default-deny.)\n");
        }
    }
    s
}

/// Why least privilege denies: every finding, what to do instead, and the minimal rules.
fn explain_excess(s: &mut String, d: &Decision, what: &str) {
    if d.least_fix.is_empty() || d.excess.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "ignite-netpol: {what} NetworkPolicy {}/{} leaves the Ignite pods' egress wider than Ignite needs ({} finding{}; least privilege is enforced in {} by {}=enforce):",
        d.namespace,
        d.name,
        d.excess.len(),
        if d.excess.len() == 1 { "" } else { "s" },
        d.namespace,
        super::config::LEAST_PRIVILEGE_LABEL,
    );
    for f in &d.excess {
        let _ = writeln!(
            s,
            "- {} ({}): opens {}; {}",
            f.rule,
            f.kind.as_str(),
            f.opens_text(","),
            f.instead
        );
    }
    let _ = writeln!(
        s,
        "The minimal egress rules for {} (next to a default-deny; `ignite-netpol generate` writes the whole policy):",
        d.namespace
    );
    push_yaml(s, &d.least_fix);
}

/// What the change cuts from other Ignite namespaces, each with its flows, and what would give
/// them back.
fn explain_affected(s: &mut String, d: &Decision, what: &str) {
    for imp in &d.affected {
        let n = imp.cut.len();
        let _ = writeln!(
            s,
            "ignite-netpol: {what} {} would cut Ignite off in namespace {}: {n} required flow{} that work{} now would be blocked (mode {}, Ignite pods: {}).",
            if d.namespace.is_empty() {
                object_name(d)
            } else {
                format!("NetworkPolicy {}", object_name(d))
            },
            imp.namespace,
            if n == 1 { "" } else { "s" },
            if n == 1 { "s" } else { "" },
            imp.mode,
            imp.ignite_pods.join(", ")
        );
        for m in &imp.cut {
            let _ = writeln!(
                s,
                "- {}: {} -> {} {}/{}: {}",
                m.flow, m.from, m.target, m.port, m.protocol, m.reason
            );
        }
        let admin = super::decision::admin_rules(&imp.cut);
        if !admin.is_empty() {
            let _ = writeln!(
                s,
                "No NetworkPolicy can re-open these: Admin-tier rules are evaluated before every NetworkPolicy. Change:"
            );
            for denial in admin {
                let _ = writeln!(s, "  - {}", denial.rule);
            }
        } else if d.namespace.is_empty() {
            let _ = writeln!(
                s,
                "A NetworkPolicy in {} that isolates the Ignite pods and allows these flows overrides a Baseline-tier rule (`ignite-netpol generate --namespace {}` writes one); or change the policy.",
                imp.namespace, imp.namespace
            );
        }
        if let Some((_, add)) = d.foreign_fix.iter().find(|(ns, _)| *ns == imp.namespace) {
            let target = object_name(d);
            if !add.ingress.is_empty() {
                let _ = writeln!(s, "Add to spec.ingress of {target}:");
                push_rules(s, &add.ingress);
            }
            if !add.egress.is_empty() {
                let _ = writeln!(s, "Add to spec.egress of {target}:");
                push_rules(s, &add.egress);
            }
        }
    }
}

/// Appends rules to add as block YAML indented by two spaces, the way manifests are written, so
/// the lines paste into `spec.egress` / `spec.ingress` as they are. A rule printed when the view
/// was built is copied.
fn push_rules<R: serde::Serialize>(out: &mut String, rules: &[Added<R>]) {
    for added in rules {
        match &added.yaml {
            Some(yaml) => out.push_str(yaml),
            None => push_yaml(out, &[&*added.rule]),
        }
    }
}

/// A rule as one item of the sequence [`push_rules`] prints (`  - ports:…`, ending with a
/// newline).
pub(crate) fn rule_yaml(rule: &impl serde::Serialize) -> String {
    let mut out = String::with_capacity(256);
    push_yaml(&mut out, &[rule]);
    out
}

/// Appends `rules` as block YAML indented by two spaces.
fn push_yaml(out: &mut String, rules: &impl serde::Serialize) {
    match yaml::tree(rules) {
        Ok(tree) => yaml::block(out, &tree, 2),
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
    use std::{borrow::Cow, fmt::Write};

    use serde::{
        Serialize,
        ser::{self, Impossible},
    };

    /// What a value serialises to, in the order it serialises: struct field names stay static
    /// and no map is hashed (a `serde_json::Value` would copy every key and hash it into an
    /// index map, and a denial prints several rules).
    #[derive(Clone, Debug, PartialEq)]
    pub enum Tree {
        Str(String),
        /// A number, a boolean or null, printed as JSON prints it (which YAML reads alike).
        Plain(String),
        Seq(Vec<Tree>),
        Map(Vec<(Cow<'static, str>, Tree)>),
    }

    /// The tree of `value`.
    pub fn tree(value: &impl Serialize) -> Result<Tree, Error> {
        value.serialize(TreeSerializer)
    }

    /// Appends `tree` at `indent` spaces, ending with a newline.
    pub fn block(out: &mut String, tree: &Tree, indent: usize) {
        match tree {
            Tree::Seq(items) if !items.is_empty() => sequence(out, items, indent),
            Tree::Map(map) if !map.is_empty() => mapping(out, map, indent, false),
            scalar => {
                pad(out, indent);
                inline(out, scalar);
                out.push('\n');
            }
        }
    }

    fn sequence(out: &mut String, items: &[Tree], indent: usize) {
        for item in items {
            pad(out, indent);
            out.push_str("- ");
            match item {
                Tree::Map(map) if !map.is_empty() => mapping(out, map, indent + 2, true),
                Tree::Seq(inner) if !inner.is_empty() => {
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
        map: &[(Cow<'static, str>, Tree)],
        indent: usize,
        continued: bool,
    ) {
        for (i, (key, value)) in map.iter().enumerate() {
            if i > 0 || !continued {
                pad(out, indent);
            }
            match key {
                // A struct's field name (`ipBlock`, `matchLabels`): an identifier, plain.
                Cow::Borrowed(name) => out.push_str(name),
                Cow::Owned(key) => string(out, key),
            }
            out.push(':');
            match value {
                Tree::Map(inner) if !inner.is_empty() => {
                    out.push('\n');
                    mapping(out, inner, indent + 2, false);
                }
                Tree::Seq(items) if !items.is_empty() => {
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

    fn inline(out: &mut String, tree: &Tree) {
        match tree {
            Tree::Str(s) => string(out, s),
            Tree::Plain(p) => out.push_str(p),
            Tree::Seq(_) => out.push_str("[]"),
            Tree::Map(_) => out.push_str("{}"),
        }
    }

    fn string(out: &mut String, s: &str) {
        if is_plain(s) {
            out.push_str(s);
        } else {
            // JSON's escapes, which a double-quoted YAML scalar reads alike.
            let _ = write!(out, "{}", serde_json::Value::String(s.to_string()));
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
        const SPACES: &str = "                                ";
        match SPACES.get(..n) {
            Some(spaces) => out.push_str(spaces),
            None => out.extend(std::iter::repeat_n(' ', n)),
        }
    }

    /// Why a value has no tree: a shape rules never have (enum variants with data, map keys
    /// that are not strings or numbers).
    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    pub struct Error(String);

    impl ser::Error for Error {
        fn custom<T: std::fmt::Display>(msg: T) -> Self {
            Self(msg.to_string())
        }
    }

    fn unsupported(what: &str) -> Error {
        Error(format!("{what} cannot be printed as a rule"))
    }

    struct TreeSerializer;

    /// A sequence or tuple being collected.
    pub struct SeqTree(Vec<Tree>);

    /// A map or struct being collected; `key` holds a map key until its value arrives.
    pub struct MapTree {
        entries: Vec<(Cow<'static, str>, Tree)>,
        key: Option<Cow<'static, str>>,
    }

    fn plain(v: impl std::fmt::Display) -> Result<Tree, Error> {
        Ok(Tree::Plain(v.to_string()))
    }

    /// `serialize_*` methods that print their value as it displays.
    macro_rules! plain_scalars {
        ($($method:ident: $ty:ty),* $(,)?) => {
            $(fn $method(self, v: $ty) -> Result<Tree, Error> {
                plain(v)
            })*
        };
    }

    impl ser::Serializer for TreeSerializer {
        type Ok = Tree;
        type Error = Error;
        type SerializeSeq = SeqTree;
        type SerializeTuple = SeqTree;
        type SerializeTupleStruct = SeqTree;
        type SerializeTupleVariant = Impossible<Tree, Error>;
        type SerializeMap = MapTree;
        type SerializeStruct = MapTree;
        type SerializeStructVariant = Impossible<Tree, Error>;

        // Booleans and integers print as JSON prints them.
        plain_scalars!(
            serialize_bool: bool,
            serialize_i8: i8,
            serialize_i16: i16,
            serialize_i32: i32,
            serialize_i64: i64,
            serialize_u8: u8,
            serialize_u16: u16,
            serialize_u32: u32,
            serialize_u64: u64,
        );
        fn serialize_f32(self, v: f32) -> Result<Tree, Error> {
            self.serialize_f64(f64::from(v))
        }
        fn serialize_f64(self, v: f64) -> Result<Tree, Error> {
            // As JSON prints it (a non-finite float is null there).
            plain(serde_json::Value::from(v))
        }
        fn serialize_char(self, v: char) -> Result<Tree, Error> {
            Ok(Tree::Str(v.to_string()))
        }
        fn serialize_str(self, v: &str) -> Result<Tree, Error> {
            Ok(Tree::Str(v.to_string()))
        }
        fn serialize_bytes(self, v: &[u8]) -> Result<Tree, Error> {
            Ok(Tree::Seq(
                v.iter().map(|b| Tree::Plain(b.to_string())).collect(),
            ))
        }
        fn serialize_none(self) -> Result<Tree, Error> {
            plain("null")
        }
        fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<Tree, Error> {
            v.serialize(self)
        }
        fn serialize_unit(self) -> Result<Tree, Error> {
            plain("null")
        }
        fn serialize_unit_struct(self, _: &'static str) -> Result<Tree, Error> {
            plain("null")
        }
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
        ) -> Result<Tree, Error> {
            Ok(Tree::Str(variant.to_string()))
        }
        fn serialize_newtype_struct<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            v: &T,
        ) -> Result<Tree, Error> {
            v.serialize(self)
        }
        fn serialize_newtype_variant<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            _: u32,
            variant: &'static str,
            v: &T,
        ) -> Result<Tree, Error> {
            Ok(Tree::Map(vec![(
                Cow::Borrowed(variant),
                v.serialize(self)?,
            )]))
        }
        fn serialize_seq(self, len: Option<usize>) -> Result<SeqTree, Error> {
            Ok(SeqTree(Vec::with_capacity(len.unwrap_or(0))))
        }
        fn serialize_tuple(self, len: usize) -> Result<SeqTree, Error> {
            self.serialize_seq(Some(len))
        }
        fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<SeqTree, Error> {
            self.serialize_seq(Some(len))
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleVariant, Error> {
            Err(unsupported("a tuple variant"))
        }
        fn serialize_map(self, len: Option<usize>) -> Result<MapTree, Error> {
            Ok(MapTree {
                entries: Vec::with_capacity(len.unwrap_or(0)),
                key: None,
            })
        }
        fn serialize_struct(self, _: &'static str, len: usize) -> Result<MapTree, Error> {
            self.serialize_map(Some(len))
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStructVariant, Error> {
            Err(unsupported("a struct variant"))
        }
    }

    impl ser::SerializeSeq for SeqTree {
        type Ok = Tree;
        type Error = Error;
        fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Error> {
            self.0.push(v.serialize(TreeSerializer)?);
            Ok(())
        }
        fn end(self) -> Result<Tree, Error> {
            Ok(Tree::Seq(self.0))
        }
    }

    impl ser::SerializeTuple for SeqTree {
        type Ok = Tree;
        type Error = Error;
        fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Error> {
            ser::SerializeSeq::serialize_element(self, v)
        }
        fn end(self) -> Result<Tree, Error> {
            ser::SerializeSeq::end(self)
        }
    }

    impl ser::SerializeTupleStruct for SeqTree {
        type Ok = Tree;
        type Error = Error;
        fn serialize_field<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Error> {
            ser::SerializeSeq::serialize_element(self, v)
        }
        fn end(self) -> Result<Tree, Error> {
            ser::SerializeSeq::end(self)
        }
    }

    impl ser::SerializeMap for MapTree {
        type Ok = Tree;
        type Error = Error;
        fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Error> {
            self.key = Some(match key.serialize(TreeSerializer)? {
                Tree::Str(s) | Tree::Plain(s) => Cow::Owned(s),
                _ => return Err(unsupported("a map key that is not a string")),
            });
            Ok(())
        }
        fn serialize_value<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Error> {
            let key = self
                .key
                .take()
                .ok_or_else(|| unsupported("a map value without its key"))?;
            self.entries.push((key, v.serialize(TreeSerializer)?));
            Ok(())
        }
        fn end(self) -> Result<Tree, Error> {
            Ok(Tree::Map(self.entries))
        }
    }

    impl ser::SerializeStruct for MapTree {
        type Ok = Tree;
        type Error = Error;
        fn serialize_field<T: ?Sized + Serialize>(
            &mut self,
            key: &'static str,
            v: &T,
        ) -> Result<(), Error> {
            self.entries
                .push((Cow::Borrowed(key), v.serialize(TreeSerializer)?));
            Ok(())
        }
        fn end(self) -> Result<Tree, Error> {
            Ok(Tree::Map(self.entries))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::yaml;

    fn printed(value: &Value) -> String {
        let mut out = String::new();
        let tree = yaml::tree(value).expect("a JSON tree has a tree");
        yaml::block(&mut out, &tree, 2);
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

    /// The typed rules a denial prints go through the same tree their JSON gives: same keys, same
    /// order, empty selectors kept.
    #[test]
    fn typed_rules_print_as_their_json() {
        use k8s_openapi::api::networking::v1::NetworkPolicyEgressRule;
        let rule: NetworkPolicyEgressRule = serde_json::from_value(json!({
            "to": [
                {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                {"namespaceSelector": {}, "podSelector": {"matchExpressions": [
                    {"key": "app", "operator": "In", "values": ["ignite", "true"]}]}}
            ],
            "ports": [{"port": 47500, "endPort": 47509, "protocol": "TCP"}, {"port": "dns-tcp"}]
        }))
        .expect("a rule");
        let typed = {
            let mut out = String::new();
            yaml::block(&mut out, &yaml::tree(&[&rule]).expect("tree"), 2);
            out
        };
        let json = printed(&serde_json::to_value([&rule]).expect("JSON"));
        assert_eq!(typed, json);
        assert!(typed.contains("namespaceSelector: {}"), "{typed}");
        assert!(typed.contains("- \"true\""), "{typed}");
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
