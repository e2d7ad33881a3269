//! `scan`: every in-scope namespace judged, from a live cluster or snapshot files.

use std::{
    io::{self, Write},
    process::ExitCode,
};

use anyhow::Context;

use super::{
    args::{FailOn, OutputFormat, ScanArgs, SourceArgs},
    load_config,
};
use crate::{
    cluster,
    ignite::{Compiled, Environment, report},
    snapshot::ClusterSnapshot,
};

/// Loads the cluster view: snapshot files, else the live cluster.
pub(super) fn load(source: SourceArgs) -> anyhow::Result<(ClusterSnapshot, Compiled, String)> {
    let SourceArgs {
        cluster,
        kubeconfig,
        config,
    } = source;
    let cfg = load_config(config.as_deref())?;
    if !cluster.is_empty() {
        let names: Vec<String> = cluster.iter().map(|p| p.display().to_string()).collect();
        let snapshot = ClusterSnapshot::load_files(&cluster)?;
        return Ok((snapshot, cfg, format!("snapshot {}", names.join(", "))));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let snapshot = runtime.block_on(async {
        let client = match &kubeconfig {
            Some(path) => {
                let kc = kube::config::Kubeconfig::read_from(path)
                    .with_context(|| format!("--kubeconfig {}: cannot read", path.display()))?;
                let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
                kube::Client::try_from(config)?
            }
            None => kube::Client::try_default()
                .await
                .context("connecting to the cluster")?,
        };
        cluster::list_once(&client, &cfg).await
    })?;
    let source = match kubeconfig {
        Some(path) => format!("the cluster of {}", path.display()),
        None => "the live cluster".to_string(),
    };
    Ok((snapshot, cfg, source))
}

/// Runs `scan`.
pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let ScanArgs {
        source,
        fail_on,
        output,
    } = args;
    let (snapshot, cfg, _) = load(source)?;
    let env = Environment::build(&snapshot, &cfg).context("building the cluster model")?;
    let mut reports = report::scan(&env, &cfg);
    report::count_excess(&env, &cfg, &mut reports);
    let broken = reports.iter().filter(|r| r.broken()).count();
    let excessive = reports
        .iter()
        .filter(|r| r.excess > 0 || r.excess_not_analysed.is_some())
        .count();
    let mut out = io::stdout().lock();
    match output {
        OutputFormat::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "namespaces": reports }))?
        )?,
        OutputFormat::Text => {
            for r in &reports {
                let state = if r.broken() {
                    format!(
                        "CUT OFF: missing {}",
                        crate::ignite::decision::kinds(&r.missing)
                    )
                } else {
                    "ok".into()
                };
                let state = match (r.excess, &r.excess_not_analysed) {
                    (_, Some(why)) => format!("{state}; {why}"),
                    (0, None) => state,
                    (n, None) => format!("{state}; {n} excess egress finding(s)"),
                };
                writeln!(
                    out,
                    "{} (mode {}, {} Ignite pods): {state}",
                    r.namespace, r.mode, r.ignite_pods
                )?;
                for m in &r.missing {
                    writeln!(
                        out,
                        "  - {}: {} -> {} {}/{}: {}",
                        m.flow, m.from, m.target, m.port, m.protocol, m.reason
                    )?;
                }
                if !r.unmatched_pods.is_empty() {
                    writeln!(
                        out,
                        "  ! not judged: {} listen on an Ignite peer port but match no ignitePods",
                        r.unmatched_pods.join(", ")
                    )?;
                }
            }
            for gap in &env.gaps {
                writeln!(out, "! not checked: {gap} in the configuration (--config)")?;
            }
            writeln!(
                out,
                "{} namespaces judged, {broken} cut off, {excessive} with excess egress",
                reports.len()
            )?;
        }
    }
    let fail_excess = fail_on.contains(&FailOn::Excess) && excessive > 0;
    Ok(if broken > 0 || fail_excess {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
