//! `report`: the evidence for the security team, rendered. [`Report`] holds the evidence of every
//! Ignite namespace ([`crate::ignite::evidence`]) and, from audit log files, the decision
//! history ([`history`]); it prints as one self-contained HTML file (inline CSS and SVG, no
//! scripts, no fonts or images from outside, readable printed), as Markdown tables, or as JSON
//! (the schema is in `docs/report.md`). Pure: the caller reads the files and the clock.

pub mod history;
mod svg;

use std::fmt::Write;

use serde::Serialize;

pub use history::History;

use crate::ignite::evidence::NamespaceEvidence;

/// The version of the JSON layout; bumped when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything `report` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    /// RFC 3339, UTC.
    pub generated_at: String,
    /// Where the cluster view came from: snapshot files, a kubeconfig context, the live view.
    pub source: String,
    pub namespaces: Vec<NamespaceEvidence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<History>,
}

/// Escapes text for HTML and SVG.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:70rem;color:#1a1a1a;line-height:1.4;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.5rem;border-bottom:2px solid #ddd;padding-bottom:.2rem}
h3{margin-top:1.5rem;font-size:1.1rem}
.meta{color:#555;font-size:.9rem}
.verdict{font-size:1.15rem;font-weight:600;padding:.6rem .9rem;border-radius:6px;border-left:6px solid}
.verdict.good{background:#e8f5e9;border-color:#2e7d32}.verdict.warn{background:#fff8e1;border-color:#ef6c00}
.verdict.bad{background:#ffebee;border-color:#c62828}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.88rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}
td.yes{color:#2e7d32;font-weight:600}td.no{color:#c62828;font-weight:600}
pre{background:#f6f8fa;border:1px solid #ddd;padding:.8rem;overflow-x:auto;font-size:.8rem}
svg{max-width:100%;height:auto;border:1px solid #eee;background:#fff}
.note{color:#555;font-size:.85rem}
@media print{body{margin:0;max-width:none}h2{page-break-before:always}pre,svg,table{page-break-inside:avoid}}
";

impl Report {
    /// One self-contained HTML page.
    pub fn html(&self) -> String {
        let mut s = String::new();
        s.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        s.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        let _ = write!(
            s,
            "<title>ignite-netpol report</title><style>{CSS}</style></head><body>"
        );
        let _ = write!(
            s,
            "<h1>ignite-netpol: NetworkPolicy evidence for Apache Ignite</h1><p class=\"meta\">Generated {} from {} &middot; {} Ignite namespace(s)</p>",
            esc(&self.generated_at),
            esc(&self.source),
            self.namespaces.len()
        );
        s.push_str("<table id=\"summary\"><tr><th>Namespace</th><th>Verdict</th><th>Mode</th><th>Least privilege</th></tr>");
        for ns in &self.namespaces {
            let _ = write!(
                s,
                "<tr><td><a href=\"#ns-{0}\">{0}</a></td><td class=\"{1}\">{2}</td><td>{3}</td><td>{4}</td></tr>",
                esc(&ns.namespace),
                if ns.works && ns.minimal { "yes" } else { "no" },
                esc(&ns.verdict),
                ns.mode,
                ns.least_privilege
            );
        }
        s.push_str("</table>");
        if self.namespaces.is_empty() {
            s.push_str("<p>No namespace in scope runs Ignite pods.</p>");
        }
        for ns in &self.namespaces {
            namespace_html(&mut s, ns);
        }
        if let Some(h) = &self.history {
            history_html(&mut s, h);
        }
        s.push_str("<h2>What this report proves, and what it cannot</h2><p class=\"note\">Every answer comes from evaluating the NetworkPolicies, ClusterNetworkPolicies and (Baseline)AdminNetworkPolicies of the cluster view with the semantics of the Kubernetes API, through all tiers. It shows what the policies allow; it cannot show CNI bugs or CNIs that do not enforce a kind, hostNetwork pods (NetworkPolicy does not apply to them), traffic from the node itself, or names a <code>domainNames</code> rule would match. Excess is found with probes: every pod, an unlabelled pod per namespace, node addresses, addresses drawn from every ipBlock and the internet (8.8.8.8, 2001:4860:4860::8888) on the ports the rules and pods name plus 53, 80, 443 and 4444.</p>");
        s.push_str("</body></html>\n");
        s
    }

    /// Markdown: the verdicts and findings as tables.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# ignite-netpol report\n\nGenerated {} from {}.\n\n| Namespace | Verdict | Mode | Least privilege |\n|---|---|---|---|",
            self.generated_at, self.source
        );
        for ns in &self.namespaces {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                cell(&ns.namespace),
                cell(&ns.verdict),
                ns.mode,
                ns.least_privilege
            );
        }
        for ns in &self.namespaces {
            let _ = writeln!(
                s,
                "\n## {}\n\n**{}** (Ignite pods: {})\n\n### Required flows\n\n| Flow | From | To | Port | Allowed | By |\n|---|---|---|---|---|---|",
                ns.namespace,
                ns.verdict,
                ns.ignite_pods.join(", ")
            );
            for r in &ns.required {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {}/{} | {} | {} |",
                    r.flow,
                    cell(&r.from),
                    cell(&r.to),
                    r.port,
                    r.protocol,
                    match (r.allowed, r.scaling_only) {
                        (true, _) => "yes",
                        (false, false) => "**no**",
                        (false, true) => "no (blocks scaling out)",
                    },
                    cell(&r.by.join("; "))
                );
            }
            let _ = writeln!(
                s,
                "\n### Excess egress\n\n| Rule | Kind | Opens | Needed for | Instead |\n|---|---|---|---|---|"
            );
            if let Some(why) = &ns.excess_not_analysed {
                let _ = writeln!(s, "| (not analysed) | {} | | | |", cell(why));
            } else if ns.excess.is_empty() {
                s.push_str("| (none) | | | | |\n");
            }
            for f in &ns.excess {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} |",
                    cell(&f.rule),
                    f.kind.as_str(),
                    cell(&f.opens_text(",")),
                    cell(&f.needed_for.join("; ")),
                    cell(&f.instead)
                );
            }
            let _ = writeln!(
                s,
                "\n### Denied destinations\n\n| To | Port | Denied | By |\n|---|---|---|---|"
            );
            for p in &ns.probes {
                let _ = writeln!(
                    s,
                    "| {} | {}/{} | {} | {} |",
                    cell(&p.to),
                    p.port,
                    p.protocol,
                    if p.denied { "yes" } else { "**no**" },
                    cell(&p.by)
                );
            }
            let _ = writeln!(
                s,
                "\n### Ingress to Ignite\n\n| Port | Purpose | From namespaces | Internet | Nodes |\n|---|---|---|---|---|"
            );
            for e in &ns.ingress {
                let _ = writeln!(
                    s,
                    "| {}/{} | {} | {} | {} | {} |",
                    e.port,
                    e.protocol,
                    e.purpose,
                    cell(&e.from_namespaces.join(", ")),
                    yes_no(e.from_internet),
                    yes_no(e.from_nodes)
                );
            }
            let _ = writeln!(
                s,
                "\n### Minimal policy\n\n```yaml\n{}```",
                ns.minimal_policy
            );
        }
        if let Some(h) = &self.history {
            let _ = writeln!(
                s,
                "\n## Decision history\n\n{} records from {} ({} unreadable lines).\n\n| Verdict | Count |\n|---|---|",
                h.records,
                h.files.join(", "),
                h.unreadable
            );
            for (v, n) in &h.by_verdict {
                let _ = writeln!(s, "| {v} | {n} |");
            }
            let _ = writeln!(s, "\n| User | Decisions |\n|---|---|");
            for (user, counts) in &h.by_user {
                let _ = writeln!(s, "| {} | {} |", cell(user), counts_text(counts));
            }
            let _ = writeln!(s, "\n| Period | Decisions |\n|---|---|");
            for b in &h.over_time {
                let _ = writeln!(s, "| {} | {} |", b.period, counts_text(&b.counts));
            }
            let _ = writeln!(
                s,
                "\n### Recent denials, patches and warnings\n\n| Time | User | Object | Verdict | Why |\n|---|---|---|---|---|"
            );
            for e in &h.recent {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} |",
                    cell(&e.time),
                    cell(&e.user),
                    cell(&e.object),
                    e.verdict,
                    cell(&e.why)
                );
            }
        }
        s
    }
}

/// `allowed 1, denied 4`.
fn counts_text(counts: &std::collections::BTreeMap<String, usize>) -> String {
    let parts: Vec<String> = counts.iter().map(|(v, n)| format!("{v} {n}")).collect();
    parts.join(", ")
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn namespace_html(s: &mut String, ns: &NamespaceEvidence) {
    let class = match (ns.works, ns.minimal) {
        (true, true) => "good",
        (true, false) => "warn",
        (false, _) => "bad",
    };
    let id = esc(&ns.namespace);
    let _ = write!(
        s,
        "<h2 id=\"ns-{id}\">Namespace {id}</h2><p class=\"verdict {class}\" id=\"verdict-{id}\">{}</p><p class=\"meta\">Ignite pods: {} &middot; mode {} &middot; least privilege {}</p>",
        esc(&ns.verdict),
        esc(&ns.ignite_pods.join(", ")),
        ns.mode,
        ns.least_privilege
    );
    s.push_str(&svg::picture(ns));
    let _ = write!(
        s,
        "<h3>Required flows</h3><table id=\"required-{id}\"><tr><th>Flow</th><th>From</th><th>To</th><th>Port</th><th>Allowed</th><th>By</th></tr>"
    );
    for r in &ns.required {
        let _ = write!(
            s,
            "<tr class=\"flow\"><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            r.flow,
            esc(&r.from),
            esc(&r.to),
            r.port,
            r.protocol,
            if r.allowed { "yes" } else { "no" },
            match (r.allowed, r.scaling_only) {
                (true, _) => "allowed",
                (false, false) => "CUT",
                (false, true) => "cut (blocks scaling out)",
            },
            esc(&r.by.join("; "))
        );
    }
    s.push_str("</table>");
    let _ = write!(
        s,
        "<h3>Excess egress: what else is reachable</h3><table id=\"excess-{id}\"><tr><th>Rule</th><th>Kind</th><th>Opens</th><th>Needed for</th><th>Instead</th></tr>"
    );
    if let Some(why) = &ns.excess_not_analysed {
        let _ = write!(
            s,
            "<tr><td colspan=\"5\" class=\"no\">{}</td></tr>",
            esc(why)
        );
    } else if ns.excess.is_empty() {
        s.push_str(
            "<tr><td colspan=\"5\">None: the egress allows only what Ignite needs.</td></tr>",
        );
    }
    for f in &ns.excess {
        let _ = write!(
            s,
            "<tr class=\"finding\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&f.rule),
            f.kind.as_str(),
            esc(&f.opens_text(", ")),
            esc(&f.needed_for.join("; ")),
            esc(&f.instead)
        );
    }
    s.push_str("</table>");
    let _ = write!(
        s,
        "<h3>Denied destinations (probes)</h3><table id=\"probes-{id}\"><tr><th>From</th><th>To</th><th>Port</th><th>Denied</th><th>By</th></tr>"
    );
    for p in &ns.probes {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}/{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            esc(&p.from),
            esc(&p.to),
            p.port,
            p.protocol,
            if p.denied { "yes" } else { "no" },
            if p.denied { "denied" } else { "OPEN" },
            esc(&p.by)
        );
    }
    s.push_str("</table>");
    let _ = write!(
        s,
        "<h3>Ingress to Ignite</h3><table id=\"ingress-{id}\"><tr><th>Port</th><th>Purpose</th><th>From namespaces</th><th>From the internet</th><th>From nodes</th></tr>"
    );
    for e in &ns.ingress {
        let _ = write!(
            s,
            "<tr><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            e.port,
            e.protocol,
            esc(&e.purpose),
            esc(&e.from_namespaces.join(", ")),
            yes_no(e.from_internet),
            yes_no(e.from_nodes)
        );
    }
    s.push_str("</table>");
    if !ns.unverified.is_empty() {
        let _ = write!(
            s,
            "<p class=\"note\">Not checked: {}</p>",
            esc(&ns.unverified.join("; "))
        );
    }
    let _ = write!(
        s,
        "<h3>The minimal policy, and how the current set differs</h3><ul id=\"differences-{id}\">"
    );
    if ns.differences.is_empty() {
        s.push_str(
            "<li>No difference that matters: nothing is missing and nothing is excess.</li>",
        );
    }
    for d in &ns.differences {
        let _ = write!(s, "<li>{}</li>", esc(d));
    }
    let _ = write!(
        s,
        "</ul><pre id=\"minimal-{id}\">{}</pre>",
        esc(&ns.minimal_policy)
    );
}

fn history_html(s: &mut String, h: &History) {
    let _ = write!(
        s,
        "<h2 id=\"history\">Decision history</h2><p class=\"meta\">{} records from {} ({} unreadable lines)</p>",
        h.records,
        esc(&h.files.join(", ")),
        h.unreadable
    );
    s.push_str(&svg::chart(h));
    s.push_str(
        "<h3>Per verdict</h3><table id=\"by-verdict\"><tr><th>Verdict</th><th>Count</th></tr>",
    );
    for (v, n) in &h.by_verdict {
        let _ = write!(s, "<tr><td>{}</td><td>{n}</td></tr>", esc(v));
    }
    s.push_str(
        "</table><h3>Per user</h3><table id=\"by-user\"><tr><th>User</th><th>Decisions</th></tr>",
    );
    for (user, counts) in &h.by_user {
        let counts: Vec<String> = counts.iter().map(|(v, n)| format!("{v} {n}")).collect();
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(user),
            esc(&counts.join(", "))
        );
    }
    s.push_str("</table><h3>Recent denials, patches and warnings</h3><table id=\"recent\"><tr><th>Time</th><th>User</th><th>Operation</th><th>Object</th><th>Verdict</th><th>Why</th></tr>");
    for e in &h.recent {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&e.time),
            esc(&e.user),
            esc(&e.operation),
            esc(&e.object),
            esc(&e.verdict),
            esc(&e.why)
        );
    }
    s.push_str("</table>");
}
