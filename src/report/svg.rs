//! The pictures the report draws itself: a namespace's flows (the Ignite pods on the left, what
//! they reach on the right) and the decisions over time.

use std::{collections::BTreeMap, fmt::Write};

use super::{esc, history::History};
use crate::ignite::evidence::NamespaceEvidence;

const ROW: i32 = 40;
const WIDTH: i32 = 960;

/// How a line is drawn.
#[derive(Clone, Copy)]
enum Line {
    Required,
    Cut,
    Excess,
    Denied,
}

impl Line {
    fn style(self) -> (&'static str, &'static str, &'static str) {
        // (colour, dash array, label)
        match self {
            Self::Required => ("#2e7d32", "", "required flow, allowed"),
            Self::Cut => ("#c62828", "", "required flow, cut"),
            Self::Excess => ("#ef6c00", "8 5", "excess: allowed, not needed"),
            Self::Denied => ("#9e9e9e", "2 4", "probe, denied"),
        }
    }
}

/// The flows of one namespace.
pub fn picture(ns: &NamespaceEvidence) -> String {
    // Right-hand boxes: required targets (grouped with their ports), excess openings, probes.
    let mut rows: Vec<(String, String, Line)> = Vec::new();
    let mut required: BTreeMap<(String, String), (Vec<String>, bool)> = BTreeMap::new();
    for r in &ns.required {
        let kind = match r.flow.to_string().as_str() {
            "dns" => "DNS",
            "apiserver" => "API server",
            "peer" => "Ignite peer",
            _ => "extra",
        };
        let entry = required
            .entry((kind.to_string(), r.to.clone()))
            .or_insert((Vec::new(), true));
        let port = format!("{}/{}", r.port, r.protocol);
        if !entry.0.contains(&port) {
            entry.0.push(port);
        }
        entry.1 &= r.allowed;
    }
    for ((kind, to), (ports, allowed)) in required {
        let line = if allowed { Line::Required } else { Line::Cut };
        rows.push((format!("{kind}: {to}"), ports.join(", "), line));
    }
    for f in &ns.excess {
        for o in f.opens.iter().take(3) {
            rows.push((
                o.to.clone(),
                format!("{} via {}", o.ports.join(","), f.rule),
                Line::Excess,
            ));
        }
    }
    let mut denied: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in ns.probes.iter().filter(|p| p.denied) {
        denied
            .entry(p.to.clone())
            .or_default()
            .push(format!("{}/{}", p.port, p.protocol));
    }
    for (to, ports) in denied {
        rows.push((to, format!("{} denied", ports.join(",")), Line::Denied));
    }

    let legend_y = ROW * (rows.len() as i32) + 30;
    let height = legend_y + 60;
    let mut s = String::new();
    let id = esc(&ns.namespace);
    let _ = write!(
        s,
        "<svg id=\"picture-{id}\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\" font-family=\"sans-serif\" font-size=\"12\"><title>Flows of the Ignite pods in {id}</title>"
    );
    // The Ignite pods.
    let pods_y = (legend_y - 30) / 2 - 10;
    let _ = write!(
        s,
        "<rect x=\"10\" y=\"{pods_y}\" width=\"220\" height=\"50\" rx=\"6\" fill=\"#e3f2fd\" stroke=\"#1565c0\"/><text x=\"20\" y=\"{}\" font-weight=\"bold\">Ignite pods ({id})</text><text x=\"20\" y=\"{}\">{}</text>",
        pods_y + 20,
        pods_y + 38,
        esc(&short(&ns.ignite_pods.join(", "), 32))
    );
    for (i, (to, ports, line)) in rows.iter().enumerate() {
        let y = 20 + ROW * i as i32;
        let (colour, dash, _) = line.style();
        let _ = write!(
            s,
            "<line class=\"{}\" x1=\"230\" y1=\"{}\" x2=\"560\" y2=\"{}\" stroke=\"{colour}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"/>",
            class(*line),
            pods_y + 25,
            y + 12
        );
        let _ = write!(
            s,
            "<rect x=\"560\" y=\"{y}\" width=\"390\" height=\"30\" rx=\"4\" fill=\"#fafafa\" stroke=\"{colour}\"/><text x=\"568\" y=\"{}\">{}</text><text x=\"568\" y=\"{}\" fill=\"#555\" font-size=\"10\">{}</text>",
            y + 13,
            esc(&short(to, 60)),
            y + 26,
            esc(&short(ports, 70))
        );
    }
    // The legend.
    let _ = write!(s, "<g id=\"legend-{id}\" class=\"legend\">");
    for (i, line) in [Line::Required, Line::Cut, Line::Excess, Line::Denied]
        .iter()
        .enumerate()
    {
        let x = 10 + 235 * i as i32;
        let (colour, dash, label) = line.style();
        let _ = write!(
            s,
            "<line x1=\"{x}\" y1=\"{legend_y}\" x2=\"{}\" y2=\"{legend_y}\" stroke=\"{colour}\" stroke-width=\"3\" stroke-dasharray=\"{dash}\"/><text x=\"{}\" y=\"{}\">{label}</text>",
            x + 40,
            x + 48,
            legend_y + 4
        );
    }
    s.push_str("</g></svg>");
    s
}

fn class(line: Line) -> &'static str {
    match line {
        Line::Required => "required",
        Line::Cut => "cut",
        Line::Excess => "excess",
        Line::Denied => "denied",
    }
}

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Decisions over time: one stacked bar per period.
pub fn chart(h: &History) -> String {
    const COLOURS: [(&str, &str); 5] = [
        ("allowed", "#2e7d32"),
        ("patched", "#1565c0"),
        ("warned", "#ef6c00"),
        ("denied", "#c62828"),
        ("invalid", "#6a1b9a"),
    ];
    let max = h
        .over_time
        .iter()
        .map(|b| b.counts.values().sum::<usize>())
        .max()
        .unwrap_or(0)
        .max(1);
    let bars = h.over_time.len().max(1) as i32;
    let bar = ((WIDTH - 80) / bars).clamp(6, 60);
    let (top, plot) = (20, 160);
    let height = top + plot + 70;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" width=\"{WIDTH}\" height=\"{height}\" role=\"img\" font-family=\"sans-serif\" font-size=\"11\"><title>Decisions over time</title><text x=\"10\" y=\"14\">decisions per period (max {max})</text>"
    );
    for (i, b) in h.over_time.iter().enumerate() {
        let x = 60 + bar * i as i32;
        let mut y = top + plot;
        for (verdict, colour) in COLOURS {
            let n = b.counts.get(verdict).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let hgt = ((n as f64 / max as f64) * f64::from(plot)).ceil() as i32;
            y -= hgt;
            let _ = write!(
                s,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{hgt}\" fill=\"{colour}\"><title>{} {verdict}: {n}</title></rect>",
                bar - 2,
                esc(&b.period)
            );
        }
        if i == 0 || i + 1 == h.over_time.len() {
            let _ = write!(
                s,
                "<text x=\"{x}\" y=\"{}\" font-size=\"10\">{}</text>",
                top + plot + 14,
                esc(&b.period)
            );
        }
    }
    let legend_y = top + plot + 40;
    let _ = write!(s, "<g class=\"legend\">");
    for (i, (verdict, colour)) in COLOURS.iter().enumerate() {
        let x = 10 + 120 * i as i32;
        let _ = write!(
            s,
            "<rect x=\"{x}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{colour}\"/><text x=\"{}\" y=\"{}\">{verdict}</text>",
            legend_y - 11,
            x + 20,
            legend_y
        );
    }
    s.push_str("</g></svg>");
    s
}
