//! `ignite-netpol report` end to end, on the seed case (deny-all + the egress attempt) with an
//! audit log that `serve` wrote: the HTML opened in headless Chromium and its rendered DOM read,
//! the JSON against its documented schema, and the Markdown tables against the JSON.
//!
//! Chromium is Debian's `chromium` (`make test` installs it when missing). Without it the HTML
//! test says why it skipped, unless `IGNITE_NETPOL_REQUIRE_CHROMIUM` is set (CI sets it): then
//! a missing browser fails the test.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `report` on the seed cluster with the seed's blocking attempt and the sample audit log.
fn report(format: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ignite-netpol"))
        .arg("report")
        .arg("--cluster")
        .arg(repo("examples/seed/cluster.yaml"))
        .arg("--cluster")
        .arg(repo("examples/seed/deny-all-traffic.yaml"))
        .arg("--cluster")
        .arg(repo("examples/seed/egress-attempt.yaml"))
        .arg("--audit-log")
        .arg(repo("tests/fixtures/excess/audit-sample.jsonl"))
        .args(["-o", format])
        .output()
        .expect("the binary must start");
    assert!(
        out.status.success(),
        "report -o {format} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn json() -> Value {
    serde_json::from_str(&report("json")).expect("report -o json prints JSON")
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium on a file with extra arguments; returns stdout.
fn run_chromium(browser: &Path, profile: &Path, args: &[String], page: &Path) -> Vec<u8> {
    let out = Command::new("timeout")
        .arg("120")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium must start");
    assert!(
        out.status.success(),
        "chromium failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The text of the element with this id in a serialized DOM, tags stripped.
fn element_text(dom: &str, id: &str) -> String {
    let marker = format!("id=\"{id}\"");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("the rendered DOM has no element {id}"));
    let start = dom[..at]
        .rfind('<')
        .expect("an element starts before its id");
    let tag: String = dom[start + 1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let close = format!("</{tag}>");
    let end = dom[start..]
        .find(&close)
        .map(|e| start + e + close.len())
        .unwrap_or_else(|| panic!("element {id} (<{tag}>) is not closed"));
    strip_tags(&dom[start..end])
}

/// Text without its tags (each tag becomes a space).
fn strip_tags(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&amp;", "&")
}

/// An attribute's value in one tag's text.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    tag[at..].split('"').next()
}

/// A line's (stroke, dash array).
type Style = (String, String);

/// The (class, stroke, dash array) of each `<line>` drawn in an SVG, and the styles in its legend.
fn line_styles(svg: &str) -> (Vec<(String, String, String)>, Vec<Style>) {
    let legend_at = svg.find("class=\"legend\"").unwrap_or(svg.len());
    let mut drawn = Vec::new();
    let mut legend = Vec::new();
    for (at, _) in svg.match_indices("<line") {
        let tag = &svg[at..at + svg[at..].find('>').expect("a tag ends")];
        let style = (
            attr(tag, "stroke").unwrap_or_default().to_string(),
            attr(tag, "stroke-dasharray")
                .unwrap_or_default()
                .to_string(),
        );
        if at > legend_at {
            legend.push(style);
        } else if let Some(class) = attr(tag, "class") {
            drawn.push((class.to_string(), style.0, style.1));
        }
    }
    (drawn, legend)
}

#[test]
fn the_html_report_renders_in_chromium_with_every_flow_the_finding_and_the_picture() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("IGNITE_NETPOL_REQUIRE_CHROMIUM").is_none(),
            "IGNITE_NETPOL_REQUIRE_CHROMIUM is set but no chromium is on PATH"
        );
        eprintln!(
            "SKIPPED: no chromium or chromium-browser on PATH; `make test` installs Debian's \
             chromium (apt-get install chromium), which this test needs to render the report"
        );
        return;
    };
    let evidence = json();
    let ns = &evidence["namespaces"][0];
    assert_eq!(ns["namespace"], "cache-ns");

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report");
    std::fs::create_dir_all(&dir).expect("a directory under target/");
    let page = dir.join("report.html");
    let html = report("html");
    assert!(
        !html.contains("<script") && !html.contains("src=\"http") && !html.contains("@import"),
        "the page is self-contained: no scripts, no resources from outside"
    );
    std::fs::write(&page, &html).expect("write the page");
    let profile = dir.join("profile");

    let dom = String::from_utf8(run_chromium(
        &browser,
        &profile,
        &["--dump-dom".into()],
        &page,
    ))
    .expect("the DOM is UTF-8");
    assert!(
        dom.contains("<body"),
        "Chromium dumped a rendered DOM: {dom:.200}"
    );

    // The verdict: the seed attempt cuts the API server off and its egress is not minimal.
    let verdict = element_text(&dom, "verdict-cache-ns");
    assert!(verdict.contains("cut off"), "{verdict}");
    assert!(verdict.contains("apiserver"), "{verdict}");
    assert!(verdict.contains("excess"), "{verdict}");

    // Every required flow, as the JSON lists it, is a row with its port and answer.
    let required = element_text(&dom, "required-cache-ns");
    let table = &dom[dom
        .find("id=\"required-cache-ns\"")
        .expect("the flows table")..];
    let table = &table[..table.find("</table>").expect("the table ends")];
    let rows: Vec<String> = table
        .split("<tr class=\"flow\">")
        .skip(1)
        .map(strip_tags)
        .collect();
    let flows = ns["required"].as_array().expect("required flows");
    assert!(
        flows.len() >= 6,
        "DNS ×2, API server ×2, peers ×2: {flows:?}"
    );
    assert_eq!(rows.len(), flows.len(), "one row per required flow");
    for flow in flows {
        let to = flow["to"].as_str().expect("to");
        let port = format!(
            "{}/{}",
            flow["port"],
            flow["protocol"].as_str().unwrap_or("")
        );
        let answer = match (flow["allowed"] == true, flow["scaling_only"] == true) {
            (true, _) => "allowed",
            (false, true) => "cut (blocks scaling out)",
            (false, false) => "CUT",
        };
        assert!(
            rows.iter()
                .any(|r| r.contains(to) && r.contains(&port) && r.contains(answer)),
            "the flow to {to} on {port} is a row saying {answer}: {rows:?}"
        );
    }
    assert!(required.contains("CUT"), "the cut API server flows say so");

    // The excess finding for "allow DNS in general": DNS to any address.
    let excess = element_text(&dom, "excess-cache-ns");
    assert!(
        excess.contains("cache-ns/netpol-cache-ns-egress egress[1]")
            && excess
                .contains("any address (the internet, every node, every pod of every namespace)")
            && excess.contains("53/UDP"),
        "{excess}"
    );

    // The picture with its legend, inline: allowed, cut, excess and denied lines are told apart
    // by colour and line style, and each style is explained in the legend.
    let picture = element_text(&dom, "picture-cache-ns");
    assert!(
        picture.contains("ignite-0"),
        "the Ignite pod is drawn: {picture}"
    );
    let svg_at = dom.find("id=\"picture-cache-ns\"").expect("the picture");
    let svg = &dom[svg_at..svg_at + dom[svg_at..].find("</svg>").expect("the svg ends")];
    let legend = element_text(&dom, "legend-cache-ns");
    for entry in [
        "required flow, allowed",
        "required flow, cut",
        "excess",
        "denied",
    ] {
        assert!(legend.contains(entry), "legend has {entry:?}: {legend}");
    }
    let (drawn, legend_styles) = line_styles(svg);
    let mut styles = std::collections::BTreeMap::new();
    for (class, stroke, dash) in &drawn {
        let style = styles.entry(class.as_str()).or_insert((stroke, dash));
        assert_eq!(*style, (stroke, dash), "every {class} line is drawn alike");
    }
    for class in ["required", "cut", "excess", "denied"] {
        let style = styles
            .get(class)
            .unwrap_or_else(|| panic!("the seed attempt draws a {class} line: {drawn:?}"));
        assert!(
            legend_styles.contains(&(style.0.clone(), style.1.clone())),
            "the {class} style is in the legend"
        );
    }
    let distinct: BTreeSet<_> = styles.values().collect();
    assert_eq!(
        distinct.len(),
        styles.len(),
        "each kind of line has its own style"
    );

    // The history from the audit log.
    let by_user = element_text(&dom, "by-user");
    for user in ["alice", "bob", "carol"] {
        assert!(by_user.contains(user), "{by_user}");
    }

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    run_chromium(
        &browser,
        &profile,
        &[
            "--window-size=1100,2400".into(),
            format!("--screenshot={}", shot.display()),
        ],
        &page,
    );
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    assert_eq!(width, 1100, "the window's width");
    // A blank page of this size compresses to a few kilobytes; a rendered report does not.
    assert!(
        png.len() > 30_000,
        "the screenshot shows a page: {} bytes",
        png.len()
    );
    eprintln!("screenshot: {}", shot.display());
}

/// Every object key of a JSON value, as `a.b.c` paths (array items share their parent's path).
fn key_paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(path.clone());
                key_paths(v, &path, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| key_paths(v, prefix, out)),
        _ => {}
    }
}

#[test]
fn every_json_field_is_in_the_documented_schema() {
    let report = json();
    assert_eq!(report["schema_version"], 1);
    let mut paths = BTreeSet::new();
    key_paths(&report, "", &mut paths);
    let doc = std::fs::read_to_string(repo("docs/report.md")).expect("docs/report.md");
    // The schema table names each field by its full path, e.g. `namespaces.required.by`.
    let undocumented: Vec<&String> = paths
        .iter()
        .filter(|p| !doc.contains(&format!("`{p}`")))
        .filter(|p| !p.starts_with("history.by_verdict.") && !p.contains(".counts."))
        .filter(|p| !p.starts_with("history.by_user."))
        .collect();
    assert!(
        undocumented.is_empty(),
        "fields missing from docs/report.md: {undocumented:?}"
    );
    assert!(paths.len() > 40, "the report has its fields: {paths:?}");
}

/// The rows of the Markdown table under a heading.
fn table_rows<'a>(md: &'a str, heading: &str) -> Vec<Vec<&'a str>> {
    let at = md
        .find(heading)
        .unwrap_or_else(|| panic!("no heading {heading:?}"));
    let lines: Vec<&str> = md[at..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(lines.len() >= 2, "a header and a separator under {heading}");
    let columns = |l: &'a str| -> Vec<&'a str> {
        l.trim_matches('|')
            .split(" | ")
            .map(str::trim)
            .collect::<Vec<_>>()
    };
    let width = columns(lines[0]).len();
    assert!(
        lines[1].split('|').filter(|c| c.contains("---")).count() == width,
        "the separator matches the header under {heading}"
    );
    let rows: Vec<Vec<&str>> = lines[2..].iter().map(|l| columns(l)).collect();
    for row in &rows {
        assert_eq!(row.len(), width, "a row as wide as its header: {row:?}");
    }
    rows
}

#[test]
fn the_markdown_is_tables_that_agree_with_the_json() {
    let md = report("md");
    let evidence = json();
    let ns = &evidence["namespaces"][0];

    let summary = table_rows(&md, "# ignite-netpol report");
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0][0], "cache-ns");
    assert_eq!(summary[0][1], ns["verdict"].as_str().expect("verdict"));

    let required = table_rows(&md, "### Required flows");
    assert_eq!(
        required.len(),
        ns["required"].as_array().expect("required").len()
    );
    let cut: Vec<&str> = required
        .iter()
        .filter(|r| r[4] == "**no**")
        .map(|r| r[0])
        .collect();
    assert_eq!(cut, ["apiserver", "apiserver"], "{required:?}");

    let excess = table_rows(&md, "### Excess egress");
    assert_eq!(excess.len(), ns["excess"].as_array().expect("excess").len());
    assert!(
        excess
            .iter()
            .any(|r| r[0] == "cache-ns/netpol-cache-ns-egress egress[1]"
                && r[1] == "any destination"),
        "{excess:?}"
    );

    let probes = table_rows(&md, "### Denied destinations");
    assert!(
        probes
            .iter()
            .any(|r| r[0] == "8.8.8.8 (the internet)" && r[1] == "443/TCP" && r[2] == "yes"),
        "the internet on 443 is denied: {probes:?}"
    );
    assert!(
        probes
            .iter()
            .any(|r| r[0] == "8.8.8.8 (the internet)" && r[1] == "53/UDP" && r[2] == "**no**"),
        "DNS to the internet is not: {probes:?}"
    );

    let verdicts = table_rows(&md, "## Decision history");
    let count = |v: &str| {
        verdicts
            .iter()
            .find(|r| r[0] == v)
            .map(|r| r[1].to_string())
    };
    // tests/fixtures/excess/audit-sample.jsonl: four denials and one admission.
    assert_eq!(count("denied").as_deref(), Some("4"));
    assert_eq!(count("allowed").as_deref(), Some("1"));
    let recent = table_rows(&md, "### Recent denials");
    assert_eq!(recent.len(), 4, "the denials, newest first: {recent:?}");
    assert!(recent[0][0] > recent[3][0], "{recent:?}");
}
