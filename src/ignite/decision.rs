//! The admission decision for a CREATE, UPDATE or DELETE of a NetworkPolicy.
//!
//! The namespace's whole policy set *after* the change is judged — policies are additive, so
//! every one counts — for every Ignite pod (or, where none runs yet, a stand-in with the
//! configured Ignite labels). Missing required flows lead, by the namespace's mode, to a denial,
//! a patch of the incoming policy, or warnings. Pure: no I/O, no clock.

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyEgressRule};
use serde::Serialize;

use super::{
    config::{Compiled, LeastPrivilege, Mode},
    environment::Environment,
    excess::{self, Finding},
    flows::{self, AdminDenial, FlowKind, MissingFlow},
    generate, hints,
    impact::{self, Impact},
    patch,
    rules::{self, Additions},
    scope,
};
use crate::policy::{
    ClusterPolicy, ClusterPolicyChange, Labels, PodInfo, Policy, PolicyChange, View, tier::Kind,
};

/// What is being done to the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    Create,
    Update,
    Delete,
}

/// A change to judge.
#[derive(Clone, Copy, Debug)]
pub struct PolicyRequest<'a> {
    pub operation: Operation,
    pub namespace: &'a str,
    pub name: &'a str,
    /// The policy after the change; `None` for DELETE.
    pub object: Option<&'a NetworkPolicy>,
    /// A mode that overrides the namespace's.
    pub mode: Option<Mode>,
    /// Judged for a validating webhook, which may not patch: what patch mode would add is
    /// denied instead (the mutating webhook runs first and should have added it).
    pub validating: bool,
}

/// The outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Admitted unchanged (possibly with warnings that need no action now).
    Allowed,
    /// Rejected: required flows would be cut.
    Denied,
    /// Admitted with the missing rules added.
    Patched,
    /// Admitted although required flows are cut (mode `warn`).
    Warned,
}

impl Verdict {
    /// The name the wire and the audit log use (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Denied => "denied",
            Self::Patched => "patched",
            Self::Warned => "warned",
        }
    }
}

/// A decision with everything needed to explain it.
#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    /// The kind of the object written: `NetworkPolicy`, or a cluster-wide kind (then
    /// `namespace` is empty and only `affected` is judged).
    #[serde(skip_serializing_if = "is_network_policy")]
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub operation: Operation,
    pub mode: Mode,
    pub verdict: Verdict,
    /// The Ignite pods judged (`namespace/name`), or the stand-in's labels.
    pub ignite_pods: Vec<String>,
    pub missing: Vec<MissingFlow>,
    /// The classic mistakes behind what is missing or unverified (none when nothing is).
    pub hints: Vec<String>,
    /// Short (≤ 120 characters) warnings for the client.
    pub warnings: Vec<String>,
    /// The JSON Patch (when patched).
    pub patch: Option<json_patch::Patch>,
    /// The rules that would fix the missing flows, with where they must go.
    #[serde(skip)]
    pub fix: Option<Fix>,
    /// Why the patch could not be applied, when the mode is `patch` but the verdict is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpatchable: Option<String>,
    /// Targets the cluster view lacks while the change isolates Ignite's egress: the flows to
    /// them could not be checked (each names the configuration key to set).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unverified: Vec<String>,
    /// Ignite namespaces other than the policy's own that the change cuts off (flows that work
    /// now and would not after it); their modes take part in the verdict.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub affected: Vec<Impact>,
    /// For a NetworkPolicy outside the Ignite namespaces: the rules that would give each
    /// affected namespace its flows back, to add to the incoming policy.
    #[serde(skip)]
    pub foreign_fix: Vec<(String, Additions)>,
    /// What the Ignite pods' egress allows beyond the flows they need, after the change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excess: Vec<Finding>,
    /// Whether excess egress denies the change (`ignite-netpol.io/least-privilege=enforce`).
    pub least_privilege: LeastPrivilege,
    /// For a change denied for excess: the minimal egress rules (what `generate` writes).
    #[serde(skip)]
    pub least_fix: Vec<NetworkPolicyEgressRule>,
}

impl Decision {
    /// An admission of `kind` `namespace/name` with nothing found yet: what a decision starts as.
    fn admitted(
        kind: &'static str,
        namespace: String,
        name: &str,
        operation: Operation,
        mode: Mode,
    ) -> Self {
        Decision {
            kind,
            namespace,
            name: name.to_string(),
            operation,
            mode,
            verdict: Verdict::Allowed,
            ignite_pods: Vec::new(),
            missing: Vec::new(),
            hints: Vec::new(),
            warnings: Vec::new(),
            patch: None,
            fix: None,
            unpatchable: None,
            unverified: Vec::new(),
            affected: Vec::new(),
            foreign_fix: Vec::new(),
            excess: Vec::new(),
            least_privilege: LeastPrivilege::Warn,
            least_fix: Vec::new(),
        }
    }
}

fn is_network_policy(kind: &&'static str) -> bool {
    *kind == "NetworkPolicy"
}

/// A write of a cluster-wide policy to judge.
#[derive(Clone, Copy, Debug)]
pub struct ClusterPolicyRequest<'a> {
    pub operation: Operation,
    pub kind: Kind,
    pub name: &'a str,
    /// The policy after the change; `None` for DELETE.
    pub object: Option<&'a ClusterPolicy>,
    /// A mode that overrides the namespaces'.
    pub mode: Option<Mode>,
}

/// The rules to add, and whether the incoming policy can take them.
#[derive(Clone, Debug)]
pub struct Fix {
    pub additions: Additions,
    /// The incoming policy selects the Ignite pods and affects the needed directions.
    pub fits_incoming: bool,
    /// The Ignite selector, for "add to a policy that selects …".
    pub ignite_selector: String,
}

/// An invalid incoming policy.
#[derive(Debug, thiserror::Error)]
#[error("NetworkPolicy {namespace}/{name} is invalid: {error}")]
pub struct InvalidPolicy {
    pub namespace: String,
    pub name: String,
    pub error: crate::policy::FieldError,
}

/// The longest warning the API server passes on untruncated.
pub const MAX_WARNING: usize = 120;

/// Judges a change. An invalid incoming policy is an error, not a verdict.
pub fn decide(
    env: &Environment,
    cfg: &Compiled,
    req: &PolicyRequest<'_>,
) -> Result<Decision, InvalidPolicy> {
    let compiled = req
        .object
        .map(|np| {
            let name = np.metadata.name.as_deref().unwrap_or(req.name);
            Policy::compile_as(np, req.namespace, name)
        })
        .transpose()
        .map_err(|error| InvalidPolicy {
            namespace: req.namespace.to_string(),
            name: req.name.to_string(),
            error,
        })?;
    // The Ignite pods judged in the namespace, found once: a stand-in where none runs yet.
    let ignite = scope::ignite_pods(&env.cluster, cfg, req.namespace);
    let running = !ignite.is_empty();
    let stand_in = (!running).then(|| stand_in(cfg, req.namespace));
    let judged: Vec<&PodInfo> = match &stand_in {
        Some(pod) => vec![pod],
        None => ignite,
    };
    let change = PolicyChange {
        namespace: req.namespace,
        name: req.name,
        policy: compiled.as_ref(),
    };
    let view = View::with_change(&env.cluster, change);
    let mut decision = own_namespace(env, cfg, req, compiled.as_ref(), &view, running, &judged);
    least_privilege(
        env,
        cfg,
        req,
        compiled.as_ref(),
        &view,
        &judged,
        &mut decision,
    );
    // A policy elsewhere can cut other namespaces' Ignite off (the DNS pods' ingress, an
    // `extraFlows` peer); for the rest, judging them would only cost time.
    if impact::reaches_other_namespaces(env, cfg, req.namespace) {
        let found = impact::impacts(env, cfg, &view, Some(req.namespace), req.mode);
        if !found.is_empty() {
            decision.foreign_fix = found
                .iter()
                .map(|i| {
                    (
                        i.namespace.clone(),
                        rules::for_foreign(&i.cut, &i.namespace, cfg),
                    )
                })
                .filter(|(_, a)| !a.is_empty())
                .collect();
        }
        apply_impacts(&mut decision, found);
    }
    Ok(decision)
}

/// How many excess findings a warning names; the rest are counted.
pub const EXCESS_WARNINGS: usize = 3;

/// The other bound: what the Ignite pods' egress allows beyond their flows after the change.
/// Worked out where it can matter — the incoming policy isolates the Ignite pods' egress, or the
/// namespace enforces least privilege — and never for a namespace that is off. Excess warns in
/// every mode; with `ignite-netpol.io/least-privilege=enforce` it denies.
///
/// Where it only warns, it is judged on what is admitted: a change already denied for the flows
/// it cuts is stored nowhere, and must change (by the rules its denial names) before it is; its
/// excess is found on the corrected policy. Where least privilege is enforced, excess is a
/// reason to deny as well, so a denial names both at once.
fn least_privilege(
    env: &Environment,
    cfg: &Compiled,
    req: &PolicyRequest<'_>,
    compiled: Option<&Policy>,
    view: &View<'_>,
    ignite: &[&PodInfo],
    decision: &mut Decision,
) {
    if decision.mode == Mode::Off || decision.ignite_pods.is_empty() {
        return;
    }
    let (lp, label_warning) = scope::least_privilege(&env.cluster, cfg, req.namespace);
    decision.least_privilege = lp;
    decision.warnings.extend(label_warning);
    let touches_egress = compiled.is_some_and(|p| {
        p.egress.is_some() && ignite.iter().any(|pod| p.pod_selector.matches(&pod.labels))
    });
    let denied = decision.verdict == Verdict::Denied;
    if lp == LeastPrivilege::Warn && (!touches_egress || denied) {
        return;
    }
    decision.excess = match excess::egress(view, env, cfg, req.namespace, ignite) {
        Ok(found) => found,
        Err(too_large) => {
            // Unproven: enforce denies (there is no minimal replacement to compute from so
            // many rules short of `generate`'s), warn says so.
            decision.warnings.push(short(&too_large.to_string()));
            if lp == LeastPrivilege::Enforce && req.operation != Operation::Delete {
                decision.verdict = Verdict::Denied;
                decision.patch = None;
                decision
                    .unpatchable
                    .get_or_insert_with(|| too_large.to_string());
            }
            return;
        }
    };
    if decision.excess.is_empty() {
        return;
    }
    for f in decision.excess.iter().take(EXCESS_WARNINGS) {
        decision.warnings.push(f.warning());
    }
    if decision.excess.len() > EXCESS_WARNINGS {
        decision.warnings.push(format!(
            "excess egress: {} more finding(s); `ignite-netpol report` lists them all",
            decision.excess.len() - EXCESS_WARNINGS
        ));
    }
    if lp == LeastPrivilege::Enforce && req.operation != Operation::Delete {
        decision.verdict = Verdict::Denied;
        decision.patch = None;
        let minimal = generate::egress_policy(env, cfg, req.namespace, "ignite-egress", false);
        decision.least_fix = minimal.spec.and_then(|s| s.egress).unwrap_or_default();
    }
}

/// Judges a write of a ClusterNetworkPolicy, AdminNetworkPolicy or BaselineAdminNetworkPolicy:
/// what it cuts from every Ignite namespace.
pub fn decide_cluster_policy(
    env: &Environment,
    cfg: &Compiled,
    req: &ClusterPolicyRequest<'_>,
) -> Decision {
    let view = View::with_cluster_policy_change(
        &env.cluster,
        ClusterPolicyChange {
            kind: req.kind,
            name: req.name,
            policy: req.object,
        },
    );
    let found = impact::impacts(env, cfg, &view, None, req.mode);
    let mut decision = Decision::admitted(
        req.kind.as_str(),
        String::new(),
        req.name,
        req.operation,
        Mode::Off,
    );
    apply_impacts(&mut decision, found);
    decision
}

/// Folds what a change cuts from other Ignite namespaces into its decision: the strictest of
/// their modes decides (a change outside the Ignite namespace is never patched, so `patch`
/// denies as `enforce` does), and each cut flow is said in a warning where the mode warns.
fn apply_impacts(decision: &mut Decision, found: Vec<Impact>) {
    if found.is_empty() {
        return;
    }
    for imp in &found {
        if imp.mode.strictness() > decision.mode.strictness() {
            decision.mode = imp.mode;
        }
        match imp.mode {
            Mode::Enforce | Mode::Patch => decision.verdict = Verdict::Denied,
            Mode::Warn => {
                if decision.verdict == Verdict::Allowed {
                    decision.verdict = Verdict::Warned;
                }
                for m in &imp.cut {
                    decision.warnings.push(short(&format!(
                        "Ignite in {} loses {} to {} {}/{}",
                        imp.namespace, m.flow, m.target, m.port, m.protocol
                    )));
                }
            }
            Mode::Off => {}
        }
        for denial in admin_rules(&imp.cut) {
            decision.warnings.push(short(&format!(
                "an Admin-tier rule cuts Ignite off in {}: {}",
                imp.namespace, denial.short
            )));
        }
    }
    if decision.verdict == Verdict::Denied && decision.patch.take().is_some() {
        decision.unpatchable = Some(
            "the change also cuts Ignite off in other namespaces, which a patch of it does not fix"
                .into(),
        );
    }
    decision.affected = found;
}

/// The decision for the policy's own namespace: its Ignite pods (or a stand-in) judged under
/// the namespace's whole policy set after the change.
fn own_namespace(
    env: &Environment,
    cfg: &Compiled,
    req: &PolicyRequest<'_>,
    compiled: Option<&Policy>,
    view: &View<'_>,
    running: bool,
    judged: &[&PodInfo],
) -> Decision {
    let (mode, label_warning) =
        scope::namespace_mode(&env.cluster, cfg, req.namespace, req.mode, running);
    let mut warnings: Vec<String> = label_warning.into_iter().collect();
    // Ignite under other labels is never judged silently, whatever the mode resolved to — unless
    // the namespace was turned off on purpose.
    if !scope::turned_off(&env.cluster, cfg, req.namespace, req.mode) {
        warnings.extend(scope::suspect_warning(
            cfg,
            &scope::suspect_pods(&env.cluster, cfg, req.namespace),
        ));
    }
    let mut decision = Decision::admitted(
        "NetworkPolicy",
        req.namespace.to_string(),
        req.name,
        req.operation,
        mode,
    );
    if mode == Mode::Off {
        decision.warnings = warnings;
        return decision;
    }

    decision.ignite_pods = if !running {
        vec![format!(
            "{}/{STAND_IN} ({})",
            req.namespace,
            cfg.ignite_pods[0].to_string()
        )]
    } else {
        judged
            .iter()
            .map(|p| [p.namespace.as_str(), "/", p.name.as_str()].concat())
            .collect()
    };
    let report = flows::check(view, env, cfg, req.namespace, judged);

    if !report.peer_warnings.is_empty() {
        let mut ports: Vec<String> = report
            .peer_warnings
            .iter()
            .map(|w| format!("{}/{}", w.port, w.protocol))
            .collect();
        ports.dedup();
        warnings.push(short(&format!(
            "scaling beyond one node will fail: Ignite peers cannot reach each other on {}",
            ports.join(", ")
        )));
    }
    warnings.extend(env.notes.iter().map(|n| short(n)));
    // A target the view lacks cannot be checked: once egress is isolated, safety is unproven.
    let egress_isolated = judged.iter().any(|p| {
        view.selecting(p)
            .iter()
            .any(|policy| policy.egress.is_some())
    });
    if egress_isolated {
        decision.unverified = env.gaps.iter().map(ToString::to_string).collect();
    }
    // Hints explain a cut: worked out only when there is something to explain (the walk over
    // the rules and, for an ipBlock, the cluster's pods is not paid by an admitted review).
    // Flows an Admin-tier rule denies have no NetworkPolicy mistake behind them.
    if !report.missing.is_empty() || !decision.unverified.is_empty() {
        decision.hints = if report.missing.iter().all(MissingFlow::fixable) {
            hints::find(view, env, judged[0], &report.missing)
        } else {
            let fixable: Vec<MissingFlow> = report
                .missing
                .iter()
                .filter(|m| m.fixable())
                .cloned()
                .collect();
            hints::find(view, env, judged[0], &fixable)
        };
    }
    decision.missing = report.missing;
    decision.warnings = warnings;
    if mode != Mode::Enforce {
        let gaps = decision.unverified.iter();
        let said = gaps.map(|gap| short(&format!("cannot check Ignite's flows: {gap}")));
        decision.warnings.extend(said);
    }
    if decision.missing.is_empty() {
        // Unproven only: enforce denies (the message names the key to set), the others warn.
        if !decision.unverified.is_empty() {
            decision.verdict = match mode {
                Mode::Enforce => Verdict::Denied,
                _ => Verdict::Warned,
            };
        }
        return decision;
    }

    // An Admin-tier Deny comes before every NetworkPolicy: rules for those flows would change
    // nothing, so only the others get rules, and no patch can make the change safe.
    let admin_rules = admin_rules(&decision.missing);
    let additions = if admin_rules.is_empty() {
        rules::for_missing(&decision.missing, env, cfg)
    } else {
        let fixable: Vec<MissingFlow> = decision
            .missing
            .iter()
            .filter(|m| m.fixable())
            .cloned()
            .collect();
        for denial in &admin_rules {
            decision.warnings.push(short(&format!(
                "an Admin-tier rule cuts Ignite off, no NetworkPolicy can re-open it: {}",
                denial.short
            )));
        }
        rules::for_missing(&fixable, env, cfg)
    };
    let fits_incoming = compiled.is_some_and(|p| patch::fits(p, judged[0], &additions));
    let fix = Fix {
        additions,
        fits_incoming,
        ignite_selector: cfg.ignite_pods[0].to_string(),
    };
    let additions = &fix.additions;

    match mode {
        Mode::Off => unreachable!("handled above"),
        Mode::Enforce => decision.verdict = Verdict::Denied,
        Mode::Warn => {
            decision.verdict = Verdict::Warned;
            for m in &decision.missing {
                decision.warnings.push(short(&format!(
                    "Ignite loses {} to {} {}/{}",
                    m.flow, m.target, m.port, m.protocol
                )));
            }
        }
        Mode::Patch if !admin_rules.is_empty() => {
            decision.verdict = Verdict::Denied;
            decision.unpatchable = Some(format!(
                "an Admin-tier rule denies {} of the flows, and Admin-tier rules are evaluated before every NetworkPolicy, so no NetworkPolicy patch can re-open them; change {}",
                decision.missing.iter().filter(|m| !m.fixable()).count(),
                admin_rules
                    .iter()
                    .map(|d| d.rule.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        Mode::Patch => match patch::for_request(env, cfg, req, additions, fits_incoming, judged) {
            Ok(_) if req.validating => {
                decision.verdict = Verdict::Denied;
                decision.unpatchable = Some(
                    "this is the validating webhook; the mutating webhook should have added the rules".into(),
                );
            }
            Ok(patch) => {
                decision.verdict = Verdict::Patched;
                let others = compiled.is_some_and(|p| {
                    env.cluster.pods_in(req.namespace).any(|pod| {
                        p.pod_selector.matches(&pod.labels) && !scope::is_ignite(cfg, pod)
                    })
                });
                if others {
                    decision.warnings.push(short(&format!(
                        "{} also selects non-Ignite pods: they get the added Ignite rules too",
                        req.name
                    )));
                }
                decision.warnings.push(short(&format!(
                    "ignite-netpol added {} rule(s) for {}",
                    additions.egress.len() + additions.ingress.len(),
                    kinds(&decision.missing)
                )));
                decision.patch = Some(patch);
            }
            Err(why) => {
                decision.verdict = Verdict::Denied;
                decision.unpatchable = Some(why);
            }
        },
    }
    decision.fix = Some(fix);
    decision
}

/// The distinct Admin-tier rules that deny missing flows, in order of first appearance.
pub fn admin_rules(missing: &[MissingFlow]) -> Vec<&AdminDenial> {
    let mut out: Vec<&AdminDenial> = Vec::new();
    for rule in missing.iter().filter_map(|m| m.admin_denied_by.as_ref()) {
        if !out.contains(&rule) {
            out.push(rule);
        }
    }
    out
}

/// The name of the stand-in pod judged where no Ignite pod runs yet.
pub const STAND_IN: &str = "<next ignite pod>";

/// The pod judged where no Ignite pod runs yet: the first `ignitePods` labels, the peer ports.
pub fn stand_in(cfg: &Compiled, namespace: &str) -> PodInfo {
    let labels: Labels = cfg.config.ignite_pods[0]
        .match_labels
        .clone()
        .unwrap_or_default()
        .into();
    let mut ports = Vec::new();
    for port in cfg.config.peer_ports() {
        ports.push(crate::policy::ContainerPort {
            name: None,
            port,
            protocol: crate::policy::Protocol::Tcp,
        });
    }
    PodInfo {
        namespace: namespace.to_string(),
        name: STAND_IN.to_string(),
        labels,
        ips: Vec::new(),
        host_network: false,
        ports,
    }
}

/// The flow kinds in `missing`, e.g. `dns, apiserver`.
pub fn kinds(missing: &[MissingFlow]) -> String {
    let mut kinds: Vec<FlowKind> = missing.iter().map(|m| m.flow).collect();
    kinds.sort();
    kinds.dedup();
    kinds
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Truncates a warning to what the API server passes on.
pub fn short(s: &str) -> String {
    if s.chars().count() <= MAX_WARNING {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX_WARNING - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::Verdict;

    #[test]
    fn verdict_names_are_the_serialised_ones() {
        for v in [
            Verdict::Allowed,
            Verdict::Denied,
            Verdict::Patched,
            Verdict::Warned,
        ] {
            assert_eq!(serde_json::to_value(v).ok(), Some(v.as_str().into()));
        }
    }
}
