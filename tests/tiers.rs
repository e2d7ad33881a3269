//! Decisions through the cluster-wide tiers: a NetworkPolicy write in the Ignite namespace is
//! judged with the cluster's ClusterNetworkPolicies (or AdminNetworkPolicies) around it. An
//! Admin-tier Deny is named as the cause and, since no NetworkPolicy can re-open it, patch mode
//! denies instead of patching; a Baseline-tier Deny is overridden where a NetworkPolicy isolates
//! the Ignite pods and decides where none does.

use std::path::{Path, PathBuf};

use ignite_netpol::{
    ignite::{
        Compiled, Decision, Environment, Mode, Operation, PolicyRequest, Verdict, decide,
        flows::FlowKind, generate, message,
    },
    snapshot::ClusterSnapshot,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;

fn path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn env(extra: &[&str]) -> (Environment, Compiled) {
    let mut files = vec![path("examples/seed/cluster.yaml")];
    files.extend(
        extra
            .iter()
            .map(|f| path(&format!("tests/fixtures/tiers/{f}"))),
    );
    let snapshot = ClusterSnapshot::load_files(&files).expect("snapshot must load");
    let cfg = Compiled::default();
    let env = Environment::build(&snapshot, &cfg).expect("model must build");
    (env, cfg)
}

fn decide_on(
    env: &Environment,
    cfg: &Compiled,
    np: &NetworkPolicy,
    mode: Option<Mode>,
) -> Decision {
    let ns = np.metadata.namespace.as_deref().expect("namespace");
    let name = np.metadata.name.as_deref().expect("name");
    decide(
        env,
        cfg,
        &PolicyRequest {
            operation: Operation::Create,
            namespace: ns,
            name,
            object: Some(np),
            mode,
            validating: false,
        },
    )
    .expect("valid policy must be decided")
}

/// The policy `generate` writes for cache-ns: fine on its own.
fn generated(env: &Environment, cfg: &Compiled) -> NetworkPolicy {
    generate::egress_policy(env, cfg, "cache-ns", "ignite-egress", false)
}

fn policy(file: &str) -> NetworkPolicy {
    ClusterSnapshot::load_files(&[path(&format!("tests/fixtures/tiers/{file}"))])
        .expect("policy file must load")
        .network_policies
        .as_slice()[0]
        .clone()
}

fn kinds(d: &Decision) -> Vec<FlowKind> {
    let mut k: Vec<_> = d.missing.iter().map(|m| m.flow).collect();
    k.sort();
    k.dedup();
    k
}

#[test]
fn a_policy_fine_alone_is_denied_when_an_admin_deny_cuts_ignite_and_the_rule_is_named() {
    let (alone, cfg) = env(&[]);
    let np = generated(&alone, &cfg);
    assert_eq!(decide_on(&alone, &cfg, &np, None).verdict, Verdict::Allowed);

    for fixture in [
        "admin-deny-egress-everywhere.yaml",
        "admin-deny-egress-everywhere-v1alpha1.yaml",
    ] {
        let (env, cfg) = env(&[fixture]);
        let d = decide_on(&env, &cfg, &np, None);
        assert_eq!(d.verdict, Verdict::Denied, "{fixture}");
        assert_eq!(
            kinds(&d),
            vec![FlowKind::Dns, FlowKind::Apiserver],
            "{fixture}"
        );
        let kind = if fixture.contains("v1alpha1") {
            "AdminNetworkPolicy"
        } else {
            "ClusterNetworkPolicy"
        };
        for m in &d.missing {
            let denial = m
                .admin_denied_by
                .as_ref()
                .unwrap_or_else(|| panic!("{fixture}: {} must name the Admin rule", m.target));
            assert_eq!(
                denial.short,
                format!("{kind}/deny-egress-everywhere egress[0]")
            );
            assert!(
                m.reason.contains("\"deny-all-egress\": Deny"),
                "{}",
                m.reason
            );
            assert_eq!(m.blocked_by, vec![format!("{kind}/deny-egress-everywhere")]);
        }
        let text = message::explain(&d);
        assert!(
            text.contains("No NetworkPolicy can fix 4 of these"),
            "{fixture}: {text}"
        );
        assert!(
            !text.contains("Add to spec.egress"),
            "{fixture}: rules that change nothing must not be offered: {text}"
        );
        assert!(
            d.hints.is_empty(),
            "{fixture}: no NetworkPolicy mistake to hint at: {:?}",
            d.hints
        );
    }
}

#[test]
fn patch_mode_denies_what_only_the_admin_rule_can_fix_and_warn_mode_says_so() {
    let (env, cfg) = env(&["admin-protect-kube-system.yaml"]);
    let np = generated(&env, &cfg);

    let patched = decide_on(&env, &cfg, &np, Some(Mode::Patch));
    assert_eq!(patched.verdict, Verdict::Denied);
    assert!(patched.patch.is_none());
    assert_eq!(kinds(&patched), vec![FlowKind::Dns]);
    let why = patched
        .unpatchable
        .as_deref()
        .expect("says why it did not patch");
    assert!(
        why.contains("no NetworkPolicy patch can re-open them")
            && why.contains("ClusterNetworkPolicy protect-kube-system (Admin tier, priority 20) egress[0] \"no-egress-to-kube-system\": Deny"),
        "{why}"
    );

    let warned = decide_on(&env, &cfg, &np, Some(Mode::Warn));
    assert_eq!(warned.verdict, Verdict::Warned);
    assert!(
        warned.warnings.iter().any(|w| w
            == "an Admin-tier rule cuts Ignite off, no NetworkPolicy can re-open it: ClusterNetworkPolicy/protect-kube-system egress[0]"),
        "{:?}",
        warned.warnings
    );
    assert!(warned.warnings.iter().all(|w| w.chars().count() <= 120));
}

#[test]
fn an_admin_pass_hands_dns_back_to_the_networkpolicy() {
    let (env, cfg) = env(&[
        "admin-protect-kube-system.yaml",
        "admin-pass-kube-system-dns.yaml",
    ]);
    let np = generated(&env, &cfg);
    let d = decide_on(&env, &cfg, &np, None);
    assert_eq!(d.verdict, Verdict::Allowed, "{:?}", d.missing);

    // Without a NetworkPolicy allowance the passed flow is decided by the NetworkPolicy tier:
    // a default-deny then cuts it, and a NetworkPolicy rule can fix it.
    let deny_all: NetworkPolicy = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "deny-all", "namespace": "cache-ns"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    }))
    .expect("policy");
    let d = decide_on(&env, &cfg, &deny_all, None);
    assert_eq!(d.verdict, Verdict::Denied);
    let dns: Vec<_> = d
        .missing
        .iter()
        .filter(|m| m.flow == FlowKind::Dns)
        .collect();
    assert!(!dns.is_empty());
    assert!(dns.iter().all(|m| m.fixable()), "{dns:?}");
    assert!(message::explain(&d).contains("Add to spec.egress"));
}

#[test]
fn a_baseline_deny_is_harmless_where_a_networkpolicy_isolates_ignite_and_harmful_where_none_does() {
    let (env, cfg) = env(&["baseline-deny-egress.yaml"]);
    let np = generated(&env, &cfg);
    let d = decide_on(&env, &cfg, &np, None);
    assert_eq!(d.verdict, Verdict::Allowed, "{:?}", d.missing);

    // A policy for other pods leaves Ignite's egress to the Baseline tier, which denies it.
    let web = policy("web-ingress.yaml");
    let d = decide_on(&env, &cfg, &web, None);
    assert_eq!(d.verdict, Verdict::Denied);
    assert_eq!(kinds(&d), vec![FlowKind::Dns, FlowKind::Apiserver]);
    for m in &d.missing {
        assert!(
            m.fixable(),
            "a NetworkPolicy overrides the Baseline tier: {m:?}"
        );
        assert!(
            m.reason
                .contains("ClusterNetworkPolicy default (Baseline tier, priority 10)"),
            "{}",
            m.reason
        );
    }
    let text = message::explain(&d);
    assert!(
        text.contains(
            "Add to spec.egress of a NetworkPolicy in cache-ns that selects the Ignite pods"
        ),
        "{text}"
    );

    // Without the Baseline policy, the same write is harmless.
    let (plain, cfg) = self::env(&[]);
    assert_eq!(
        decide_on(&plain, &cfg, &web, None).verdict,
        Verdict::Allowed
    );
}

#[test]
fn a_domain_names_rule_ahead_of_a_cut_is_said_not_evaluated() {
    let (env, cfg) = env(&["admin-allow-registry-by-name.yaml"]);
    let np = generated(&env, &cfg);
    let d = decide_on(&env, &cfg, &np, None);
    assert_eq!(d.verdict, Verdict::Denied);
    // 443/TCP to the API Service's ClusterIP passes the registry rule, which cannot be judged.
    let api = d
        .missing
        .iter()
        .find(|m| m.port == 443)
        .expect("the ClusterIP flow is cut");
    assert!(
        api.reason.contains("unless the destination is one of the domainNames of ClusterNetworkPolicy egress-allowlist (Admin tier, priority 5) egress[0] \"registry\": Accept"),
        "{}",
        api.reason
    );
    // DNS on 53 does not reach that rule's port: nothing to hedge.
    let dns = d.missing.iter().find(|m| m.port == 53).expect("DNS is cut");
    assert!(!dns.reason.contains("domainNames"), "{}", dns.reason);
}
