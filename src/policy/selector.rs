//! Label selectors with the semantics of `metav1.LabelSelector`.
//!
//! `matchLabels` and every `matchExpressions` entry are ANDed; an empty selector matches every
//! object. A selector is compiled once, when its policy is compiled, so an unknown operator or a
//! malformed expression is reported with the field that holds it and never reaches evaluation.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use std::fmt;

use super::{FieldError, Sub};

pub use super::labels::Labels;

/// A compiled label selector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    match_labels: Vec<(String, String)>,
    expressions: Vec<Expression>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Expression {
    key: String,
    operator: Operator,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Operator {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

impl Selector {
    /// A selector that matches everything (`{}`).
    pub fn everything() -> Self {
        Self::default()
    }

    /// Compiles `selector`; `field` names it in errors (e.g. `spec.podSelector`).
    pub fn compile(selector: &LabelSelector, field: &dyn fmt::Display) -> Result<Self, FieldError> {
        let match_labels = selector
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let expressions = selector
            .match_expressions
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, expr)| {
                let field = Sub::new(field, "matchExpressions", Some(i));
                let values = expr.values.clone().unwrap_or_default();
                let operator = match expr.operator.as_str() {
                    "In" | "NotIn" if values.is_empty() => {
                        return Err(FieldError::new(
                            format!("{field}.values"),
                            format!("must be non-empty when operator is {}", expr.operator),
                        ));
                    }
                    "Exists" | "DoesNotExist" if !values.is_empty() => {
                        return Err(FieldError::new(
                            format!("{field}.values"),
                            format!("must be empty when operator is {}", expr.operator),
                        ));
                    }
                    "In" => Operator::In(values),
                    "NotIn" => Operator::NotIn(values),
                    "Exists" => Operator::Exists,
                    "DoesNotExist" => Operator::DoesNotExist,
                    other => {
                        return Err(FieldError::new(
                            format!("{field}.operator"),
                            format!(
                                "unknown operator {other:?} (expected In, NotIn, Exists or DoesNotExist)"
                            ),
                        ));
                    }
                };
                if expr.key.is_empty() {
                    return Err(FieldError::new(format!("{field}.key"), "must not be empty"));
                }
                Ok(Expression {
                    key: expr.key.clone(),
                    operator,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            match_labels,
            expressions,
        })
    }

    /// A selector requiring exactly these labels (a Service's `selector`).
    pub fn from_labels(labels: &Labels) -> Self {
        Self {
            match_labels: labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            expressions: Vec::new(),
        }
    }

    /// Compiles an optional selector, where absence means "everything".
    pub fn compile_opt(
        selector: Option<&LabelSelector>,
        field: &dyn fmt::Display,
    ) -> Result<Self, FieldError> {
        selector.map_or_else(|| Ok(Self::everything()), |s| Self::compile(s, field))
    }

    /// Whether the selector is `{}` and so matches every object.
    pub fn is_everything(&self) -> bool {
        self.match_labels.is_empty() && self.expressions.is_empty()
    }

    /// Whether `labels` satisfy every requirement of the selector.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.expressions.iter().all(|e| e.matches(labels))
    }

    /// The `matchLabels` pairs, which the index uses to find candidate policies quickly.
    pub fn match_labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.match_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl Selector {
    /// Label pairs of which every matching label set holds at least one: the first
    /// `matchLabels` pair, else the values of the first `In` expression. `None` when the
    /// selector requires no particular pair (`{}`, `NotIn`, `Exists`, `DoesNotExist`), so
    /// candidates cannot be looked up by label.
    pub fn anchor(&self) -> Option<Vec<(&str, &str)>> {
        if let Some((k, v)) = self.match_labels.first() {
            return Some(vec![(k.as_str(), v.as_str())]);
        }
        self.expressions.iter().find_map(|e| match &e.operator {
            Operator::In(values) => Some(
                values
                    .iter()
                    .map(|v| (e.key.as_str(), v.as_str()))
                    .collect(),
            ),
            _ => None,
        })
    }

    /// Every label key the selector looks at.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.match_labels
            .iter()
            .map(|(k, _)| k.as_str())
            .chain(self.expressions.iter().map(|e| e.key.as_str()))
    }
}

/// Kubernetes' string form (`app=ignite,tier in (a,b),!legacy`); `{}` for the empty selector.
impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_everything() {
            return f.write_str("{}");
        }
        let mut parts: Vec<String> = self
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for e in &self.expressions {
            parts.push(match &e.operator {
                Operator::In(v) => format!("{} in ({})", e.key, v.join(",")),
                Operator::NotIn(v) => format!("{} notin ({})", e.key, v.join(",")),
                Operator::Exists => e.key.clone(),
                Operator::DoesNotExist => format!("!{}", e.key),
            });
        }
        f.write_str(&parts.join(","))
    }
}

impl Expression {
    fn matches(&self, labels: &Labels) -> bool {
        let value = labels.get(&self.key);
        match &self.operator {
            Operator::In(values) => value.is_some_and(|v| values.contains(v)),
            Operator::NotIn(values) => value.is_none_or(|v| !values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn selector(ml: &[(&str, &str)], exprs: Vec<LabelSelectorRequirement>) -> Selector {
        let raw = LabelSelector {
            match_labels: (!ml.is_empty()).then(|| labels(ml).into_iter().collect()),
            match_expressions: (!exprs.is_empty()).then_some(exprs),
        };
        Selector::compile(&raw, &"spec.podSelector").expect("test selector must compile")
    }

    #[test]
    fn matches_like_label_selector() {
        let app = labels(&[("app", "ignite"), ("tier", "cache")]);
        let none = labels(&[]);
        let cases: Vec<(&str, Selector, &Labels, bool)> = vec![
            ("empty selects all", selector(&[], vec![]), &none, true),
            (
                "matchLabels hit",
                selector(&[("app", "ignite")], vec![]),
                &app,
                true,
            ),
            (
                "matchLabels miss",
                selector(&[("app", "web")], vec![]),
                &app,
                false,
            ),
            (
                "matchLabels absent key",
                selector(&[("x", "y")], vec![]),
                &app,
                false,
            ),
            (
                "In hit",
                selector(&[], vec![expr("app", "In", &["a", "ignite"])]),
                &app,
                true,
            ),
            (
                "In absent key",
                selector(&[], vec![expr("zz", "In", &["a"])]),
                &app,
                false,
            ),
            (
                "NotIn absent key",
                selector(&[], vec![expr("zz", "NotIn", &["a"])]),
                &app,
                true,
            ),
            (
                "NotIn hit",
                selector(&[], vec![expr("app", "NotIn", &["ignite"])]),
                &app,
                false,
            ),
            (
                "Exists",
                selector(&[], vec![expr("tier", "Exists", &[])]),
                &app,
                true,
            ),
            (
                "Exists miss",
                selector(&[], vec![expr("zone", "Exists", &[])]),
                &app,
                false,
            ),
            (
                "DoesNotExist",
                selector(&[], vec![expr("zone", "DoesNotExist", &[])]),
                &app,
                true,
            ),
            (
                "AND of labels and expressions",
                selector(&[("app", "ignite")], vec![expr("tier", "In", &["web"])]),
                &app,
                false,
            ),
        ];
        for (name, sel, l, want) in cases {
            assert_eq!(sel.matches(l), want, "case {name}");
        }
    }

    #[test]
    fn rejects_malformed_expressions() {
        let cases = [
            (
                expr("app", "Equals", &["x"]),
                "matchExpressions[0].operator",
            ),
            (expr("app", "In", &[]), "matchExpressions[0].values"),
            (expr("app", "Exists", &["x"]), "matchExpressions[0].values"),
            (expr("", "Exists", &[]), "matchExpressions[0].key"),
        ];
        for (e, field) in cases {
            let raw = LabelSelector {
                match_labels: None,
                match_expressions: Some(vec![e.clone()]),
            };
            let err = Selector::compile(&raw, &"spec.podSelector").expect_err("must be rejected");
            assert_eq!(err.field, format!("spec.podSelector.{field}"), "{e:?}");
        }
    }

    #[test]
    fn displays_like_kubectl() {
        let s = selector(
            &[("app", "ignite")],
            vec![
                expr("tier", "In", &["a", "b"]),
                expr("legacy", "DoesNotExist", &[]),
            ],
        );
        assert_eq!(s.to_string(), "app=ignite,tier in (a,b),!legacy");
        assert_eq!(Selector::everything().to_string(), "{}");
        assert_eq!(s.keys().collect::<Vec<_>>(), vec!["app", "tier", "legacy"]);
    }
}
