//! `report`: the evidence for the security team, from snapshot files or a live cluster, with
//! the decision history from audit log files.

use std::{
    fs::File,
    io::{self, BufReader, Write},
    process::ExitCode,
};

use anyhow::Context;

use super::{
    args::{ReportArgs, ReportFormat},
    scan,
};
use crate::{
    ignite::{Environment, evidence},
    report::{History, Report, SCHEMA_VERSION},
};

/// Runs `report`.
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let ReportArgs {
        source,
        audit_log,
        output,
        namespace,
    } = args;
    let (snapshot, cfg, source) = scan::load(source)?;
    let env = Environment::build(&snapshot, &cfg).context("building the cluster model")?;
    let mut namespaces = evidence::gather(&env, &cfg);
    if let Some(ns) = &namespace {
        namespaces.retain(|e| &e.namespace == ns);
        if namespaces.is_empty() {
            anyhow::bail!("namespace {ns} runs no Ignite pods in scope (or is not in the view)");
        }
    }
    let history = if audit_log.is_empty() {
        None
    } else {
        let mut history = History::default();
        for path in &audit_log {
            let file = File::open(path)
                .with_context(|| format!("--audit-log {}: cannot open", path.display()))?;
            history
                .read(&path.display().to_string(), BufReader::new(file))
                .with_context(|| format!("--audit-log {}: cannot read", path.display()))?;
        }
        Some(history.finish())
    };
    let report = Report {
        schema_version: SCHEMA_VERSION,
        generated_at: crate::audit::now(),
        source,
        namespaces,
        history,
    };
    let text = match output {
        ReportFormat::Html => report.html(),
        ReportFormat::Md => report.markdown(),
        ReportFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
    };
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
