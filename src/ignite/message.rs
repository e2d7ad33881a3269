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
            s.push_str(&indent(
                &serde_saphyr::to_string(&rules).unwrap_or_default(),
            ));
        }
        if !fix.additions.ingress.is_empty() {
            let rules: Vec<_> = fix.additions.ingress.iter().map(|(_, r)| r).collect();
            let _ = writeln!(s, "Add to spec.ingress of {target}:");
            s.push_str(&indent(
                &serde_saphyr::to_string(&rules).unwrap_or_default(),
            ));
        }
        if d.operation != super::decision::Operation::Delete {
            s.push_str("(Applying several policies at once? Apply the allowances before the default-deny.)\n");
        }
    }
    s
}

fn indent(yaml: &str) -> String {
    yaml.lines().map(|l| format!("  {l}\n")).collect()
}
