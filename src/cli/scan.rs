//! `scan`: every in-scope namespace judged, from a live cluster or snapshot files.

use std::{
    io::{self, Write},
    process::ExitCode,
};

use anyhow::Context;

use super::{
    args::{OutputFormat, ScanArgs},
    load_config,
};
use crate::{
    cluster,
    ignite::{Environment, report},
    snapshot::ClusterSnapshot,
};

/// Runs `scan`.
pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let ScanArgs {
        cluster,
        kubeconfig,
        config,
        output,
    } = args;
    let cfg = load_config(config.as_deref())?;
    let snapshot = if cluster.is_empty() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        runtime.block_on(async {
            let client = match kubeconfig {
                Some(path) => {
                    let kc = kube::config::Kubeconfig::read_from(&path)
                        .with_context(|| format!("--kubeconfig {}: cannot read", path.display()))?;
                    let config =
                        kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
                    kube::Client::try_from(config)?
                }
                None => kube::Client::try_default()
                    .await
                    .context("connecting to the cluster")?,
            };
            cluster::list_once(&client, &cfg).await
        })?
    } else {
        ClusterSnapshot::load_files(&cluster)?
    };
    let env = Environment::build(&snapshot, &cfg).context("building the cluster model")?;
    let reports = report::scan(&env, &cfg);
    let broken = reports.iter().filter(|r| r.broken()).count();
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
            writeln!(out, "{} namespaces judged, {broken} cut off", reports.len())?;
        }
    }
    Ok(if broken > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
