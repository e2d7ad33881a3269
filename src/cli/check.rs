//! `check`: the policies of the files judged in order, as the webhook would judge them written
//! one after another ([`Sequence`]), and the verdicts printed.

use std::{
    io::{self, Write},
    process::ExitCode,
};

use anyhow::Context;

use super::args::{CheckArgs, OutputFormat};
use crate::{
    ignite::{Decision, Verdict, message, sequence::Sequence},
    policy::tier::api::Object,
    snapshot::ClusterSnapshot,
};

/// Runs `check`.
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let CheckArgs {
        decision,
        output,
        mode,
        namespace: default_namespace,
        policies,
    } = args;
    let cfg = super::load_config(decision.config.as_deref())?;
    let snapshot = ClusterSnapshot::load_files(&decision.snapshot.cluster)?;
    let mut sequence = Sequence::new(snapshot, cfg).context("building the cluster model")?;
    let mut results = Vec::new();
    for path in &policies {
        let mut file = ClusterSnapshot::default();
        match file.add_file_in(path, default_namespace.as_deref()) {
            Err(crate::snapshot::SnapshotError::Object(invalid))
                if invalid.error.field == "metadata.namespace" =>
            {
                anyhow::bail!(
                    "{}: {} {} has no metadata.namespace: pass --namespace (as kubectl apply -n)",
                    invalid.at,
                    invalid.kind,
                    invalid.name.trim_start_matches('/')
                )
            }
            other => other?,
        }
        let cluster_wide = file.cluster_network_policies.len()
            + file.admin_network_policies.len()
            + file.baseline_admin_network_policies.len();
        let others = file.object_count() - file.network_policies.len() - cluster_wide
            + file.skipped.values().sum::<usize>();
        if others > 0 {
            tracing::warn!(file = %path.display(), others, "Ignoring objects that are not NetworkPolicies or cluster-wide policies");
        }
        for np in file.network_policies.as_slice() {
            let name = np.metadata.name.clone().unwrap_or_default();
            let namespace = np.metadata.namespace.clone().unwrap_or_default();
            if let Some(given) = default_namespace.as_deref()
                && namespace != given
            {
                anyhow::bail!(
                    "{}: NetworkPolicy {name} is in namespace {namespace}, which does not match --namespace {given}",
                    path.display()
                );
            }
            results.push(sequence.write(np, mode)?);
        }
        // Then the file's cluster-wide policies, in the order of their kinds.
        let cluster_wide = file
            .cluster_network_policies
            .as_slice()
            .iter()
            .map(Object::ClusterNetworkPolicy)
            .chain(
                file.admin_network_policies
                    .as_slice()
                    .iter()
                    .map(Object::AdminNetworkPolicy),
            )
            .chain(
                file.baseline_admin_network_policies
                    .as_slice()
                    .iter()
                    .map(Object::BaselineAdminNetworkPolicy),
            );
        for obj in cluster_wide {
            results.push(sequence.write_cluster_policy(obj, mode)?);
        }
    }
    let changed = results
        .iter()
        .any(|d| matches!(d.verdict, Verdict::Denied | Verdict::Patched));
    render(&results, output)?;
    Ok(if changed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints the verdicts: JSON, or a summary line per policy with its explanation and warnings.
fn render(results: &[Decision], output: OutputFormat) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match output {
        OutputFormat::Json => {
            let json = serde_json::json!({ "results": results });
            writeln!(out, "{json:#}")?;
        }
        OutputFormat::Text => {
            for d in results {
                writeln!(out, "{}", message::summary(d))?;
                if !d.missing.is_empty() || !d.unverified.is_empty() || !d.affected.is_empty() {
                    for line in message::explain(d).lines() {
                        writeln!(out, "    {line}")?;
                    }
                }
                for w in &d.warnings {
                    writeln!(out, "    warning: {w}")?;
                }
            }
        }
    }
    out.flush()
}
