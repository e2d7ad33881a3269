//! Least privilege: what the egress of the Ignite pods allows beyond the flows Ignite needs,
//! on the seed cluster and on recipes people apply.

use std::path::{Path, PathBuf};

use ignite_netpol::{
    ignite::{
        Compiled, Environment,
        excess::{self, Finding, FindingKind},
        generate,
    },
    policy::View,
    snapshot::ClusterSnapshot,
};

fn path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn load(files: &[&str]) -> (Environment, Compiled) {
    let files: Vec<PathBuf> = files.iter().map(|f| path(f)).collect();
    let snapshot = ClusterSnapshot::load_files(&files).expect("snapshot must load");
    let cfg = Compiled::default();
    let env = Environment::build(&snapshot, &cfg).expect("model must build");
    (env, cfg)
}

fn findings(env: &Environment, cfg: &Compiled) -> Vec<Finding> {
    excess::analyse(&View::new(&env.cluster), env, cfg, "cache-ns").egress
}

fn rule<'a>(found: &'a [Finding], rule: &str) -> &'a Finding {
    found
        .iter()
        .find(|f| f.rule == rule)
        .unwrap_or_else(|| panic!("no finding for {rule}: {found:#?}"))
}

const ATTEMPT: &str = "cache-ns/netpol-cache-ns-egress";

#[test]
fn the_seed_attempt_opens_dns_to_the_internet_and_every_other_finding_is_justified() {
    let (env, cfg) = load(&[
        "examples/seed/cluster.yaml",
        "examples/seed/deny-all-traffic.yaml",
        "examples/seed/egress-attempt.yaml",
    ]);
    let found = findings(&env, &cfg);

    // Rule 1, `ports: 53 UDP/TCP` with no `to`: DNS to any address, the internet included —
    // said as one opening, not as every namespace, pod and address of the cluster.
    let dns = rule(&found, &format!("{ATTEMPT} egress[1]"));
    assert_eq!(dns.kind, FindingKind::AnyDestination);
    assert!(dns.reaches_internet(), "{dns:#?}");
    assert_eq!(dns.opens.len(), 1, "{dns:#?}");
    assert_eq!(dns.opens[0].to, excess::ANY_ADDRESS);
    assert_eq!(dns.opens[0].ports, ["53/TCP", "53/UDP"]);
    // It is what lets DNS to CoreDNS work today, so the fix is the exact DNS rule.
    assert!(
        dns.needed_for
            .iter()
            .any(|n| n.starts_with("dns 53/UDP to kube-system/coredns"))
    );
    assert!(dns.instead.contains("dns"), "{}", dns.instead);
    assert!(dns.warning().chars().count() <= 120, "{}", dns.warning());
    assert!(dns.warning().contains("53/TCP,53/UDP"), "{}", dns.warning());

    // Rule 0: every pod of cache-ns (zone=cache-zone) on 10800/47100/47500. Peers need
    // 47100/47500 of the Ignite pods only; any other pod of the namespace, and 10800 (a client
    // port), are excess.
    let zone = rule(&found, &format!("{ATTEMPT} egress[0]"));
    assert_eq!(zone.kind, FindingKind::WideSelector);
    let any = zone
        .opens
        .iter()
        .find(|o| o.to == "every pod of namespace cache-ns")
        .expect("the namespace's every pod");
    assert_eq!(any.ports, ["10800/TCP", "47100/TCP", "47500/TCP"]);
    assert!(!zone.reaches_internet());

    // Rule 3: the Ignite pods on every port, where peers need two.
    let all_ports = rule(&found, &format!("{ATTEMPT} egress[3]"));
    assert_eq!(all_ports.kind, FindingKind::ExtraPorts);
    assert!(
        all_ports
            .opens
            .iter()
            .all(|o| o.to == "Ignite pod cache-ns/ignite-0")
    );
    for p in ["8080/TCP", "10800/TCP", "11211/TCP", "443/TCP", "4444/UDP"] {
        assert!(
            all_ports.opens[0].ports.contains(&p.to_string()),
            "{p}: {all_ports:#?}"
        );
    }

    // Rule 4: ignite-0's own address on client ports (10800, 11211, 8080, …) beyond the peer
    // ports. Rule 2 (`zone: kube-system`) matches no namespace: it opens nothing.
    let block = rule(&found, &format!("{ATTEMPT} egress[4]"));
    assert_eq!(block.kind, FindingKind::ExtraPorts);
    assert_eq!(
        block.opens[0].ports,
        [
            "8080/TCP",
            "10800/TCP",
            "10900/TCP",
            "11211/TCP",
            "49112/TCP"
        ]
    );
    assert!(!found.iter().any(|f| f.rule.ends_with("egress[2]")));
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn the_generated_policy_next_to_deny_all_has_no_excess() {
    let (env, cfg) = load(&[
        "examples/seed/cluster.yaml",
        "examples/seed/deny-all-traffic.yaml",
    ]);
    let generated =
        generate::for_namespace(&env, &cfg, "cache-ns", "ignite-egress", false).expect("generate");
    let mut env = env;
    env.cluster.upsert_policy(
        ignite_netpol::policy::Policy::compile(&generated.policy).expect("compiles"),
    );
    let found = findings(&env, &cfg);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn no_egress_policy_at_all_is_a_finding() {
    let (env, cfg) = load(&["examples/seed/cluster.yaml"]);
    let found = findings(&env, &cfg);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].kind, FindingKind::NotIsolated);
    assert!(found[0].reaches_internet());
    assert_eq!(found[0].opens.len(), 1, "{:#?}", found[0]);
    assert_eq!(found[0].opens[0].to, excess::ANY_ADDRESS);
    assert_eq!(found[0].opens[0].ports, ["every port"]);
    // Everything Ignite needs goes through the lack of isolation today.
    for flow in [
        "dns 53/UDP to kube-system/coredns",
        "apiserver 6443/TCP to 192.168.49.2",
    ] {
        assert!(
            found[0].needed_for.iter().any(|n| n.starts_with(flow)),
            "{flow}: {:#?}",
            found[0].needed_for
        );
    }
}

#[test]
fn a_rule_without_to_on_a_named_port_opens_only_the_pods_that_declare_it() {
    // `ports: [{port: dns}]` without `to` reaches the pods with a container port named `dns`:
    // in the seed cluster, CoreDNS alone, which Ignite needs. Nothing to report; a rule on a
    // numbered port (any address) would be a finding.
    let (env, cfg) = load(&[
        "examples/seed/cluster.yaml",
        "examples/seed/deny-all-traffic.yaml",
    ]);
    let named = |port: serde_json::Value| {
        let np: k8s_openapi::api::networking::v1::NetworkPolicy =
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "dns-by-port", "namespace": "cache-ns"},
                "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                         "egress": [{"ports": [{"protocol": "UDP", "port": port}]}]}
            }))
            .expect("policy");
        ignite_netpol::policy::Policy::compile(&np).expect("compiles")
    };
    let mut by_name = env;
    by_name
        .cluster
        .upsert_policy(named(serde_json::json!("dns")));
    let found = findings(&by_name, &cfg);
    assert!(
        !found
            .iter()
            .any(|f| f.rule.starts_with("cache-ns/dns-by-port")),
        "{found:#?}"
    );
    let mut by_number = by_name;
    by_number
        .cluster
        .upsert_policy(named(serde_json::json!(53)));
    let found = findings(&by_number, &cfg);
    let f = rule(&found, "cache-ns/dns-by-port egress[0]");
    assert_eq!(f.kind, FindingKind::AnyDestination);
    assert_eq!(f.opens[0].to, excess::ANY_ADDRESS);
    assert_eq!(f.opens[0].ports, ["53/UDP"]);
}

#[test]
fn an_egress_rule_to_0_0_0_0_slash_0_says_what_it_opens() {
    let (env, cfg) = load(&[
        "examples/seed/cluster.yaml",
        "examples/seed/deny-all-traffic.yaml",
        "tests/fixtures/excess/allow-all-egress.yaml",
    ]);
    let found = findings(&env, &cfg);
    let wide = rule(&found, "cache-ns/allow-egress-anywhere egress[0]");
    assert_eq!(wide.kind, FindingKind::WideIpBlock);
    let internet = wide
        .opens
        .iter()
        .find(|o| o.internet)
        .expect("the internet");
    assert_eq!(internet.ports, ["53/TCP", "53/UDP", "443/TCP", "6443/TCP"]);
    // Pods of other namespaces are reachable through their addresses, and the API server's
    // endpoint on 443 is not needed (6443 is).
    assert!(
        wide.opens.iter().any(|o| o.to == "pod apps/some-pod-7c9d"),
        "{wide:#?}"
    );
    assert!(
        wide.needed_for
            .iter()
            .any(|n| n == "apiserver 6443/TCP to 192.168.49.2")
    );
}

#[test]
fn ingress_exposure_names_who_reaches_the_client_ports() {
    // deny-all isolates ingress: nobody reaches 10800. Without any policy: everybody.
    let (env, cfg) = load(&[
        "examples/seed/cluster.yaml",
        "examples/seed/deny-all-traffic.yaml",
    ]);
    let closed = excess::analyse(&View::new(&env.cluster), &env, &cfg, "cache-ns").ingress;
    let thin = closed.iter().find(|e| e.port == 10800).expect("10800");
    assert!(
        thin.from_namespaces.is_empty() && !thin.from_internet,
        "{thin:#?}"
    );

    let (env, cfg) = load(&["examples/seed/cluster.yaml"]);
    let open = excess::analyse(&View::new(&env.cluster), &env, &cfg, "cache-ns").ingress;
    let thin = open.iter().find(|e| e.port == 10800).expect("10800");
    assert!(thin.from_internet);
    assert!(
        thin.from_namespaces.contains(&"apps (any pod)".to_string()),
        "{thin:#?}"
    );
}

mod admission {
    use super::*;
    use ignite_netpol::ignite::{
        Config, Decision, Operation, PolicyRequest, Verdict, decide, message,
    };
    use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyEgressRule};

    fn policy(file: &str) -> NetworkPolicy {
        ClusterSnapshot::load_files(&[path(file)])
            .expect("policy file must load")
            .network_policies
            .as_slice()[0]
            .clone()
    }

    /// Appends `rules` to the policy's egress rules.
    fn add_egress(
        np: &mut NetworkPolicy,
        rules: impl IntoIterator<Item = NetworkPolicyEgressRule>,
    ) {
        np.spec
            .as_mut()
            .expect("spec")
            .egress
            .as_mut()
            .expect("egress")
            .extend(rules);
    }

    fn judge(env: &Environment, cfg: &Compiled, np: &NetworkPolicy) -> Decision {
        let ns = np.metadata.namespace.clone().expect("namespace");
        let name = np.metadata.name.clone().expect("name");
        decide(
            env,
            cfg,
            &PolicyRequest {
                operation: Operation::Create,
                namespace: &ns,
                name: &name,
                object: Some(np),
                mode: None,
                validating: true,
            },
        )
        .expect("valid policy")
    }

    const CLUSTER: [&str; 2] = [
        "examples/seed/cluster.yaml",
        "examples/seed/deny-all-traffic.yaml",
    ];

    #[test]
    fn excess_is_judged_on_what_is_admitted_and_warns_there() {
        let (env, cfg) = load(&CLUSTER);
        let mut attempt = policy("examples/seed/egress-attempt.yaml");
        let d = judge(&env, &cfg, &attempt);
        assert_eq!(
            d.verdict,
            Verdict::Denied,
            "the attempt cuts the API server"
        );
        // Least privilege only warns here, and the denied attempt is stored nowhere: its excess
        // is found on the policy that comes back with the rules its denial names.
        assert!(d.excess.is_empty(), "{:#?}", d.excess);
        assert!(
            !d.warnings.iter().any(|w| w.starts_with("excess egress")),
            "{:#?}",
            d.warnings
        );
        let fix = d.fix.expect("the denial names the rules that fix it");
        assert!(fix.fits_incoming, "the rules go into the attempt itself");
        add_egress(
            &mut attempt,
            fix.additions.egress.into_iter().map(|a| (*a.rule).clone()),
        );
        // Admitted, with a warning per finding (at most three, the rest counted), each ≤ 120
        // characters.
        let mut d = judge(&env, &cfg, &attempt);
        assert_eq!(d.verdict, Verdict::Allowed, "{}", message::explain(&d));
        assert_eq!(d.excess.len(), 4, "{:#?}", d.excess);
        let excess: Vec<&String> = d
            .warnings
            .iter()
            .filter(|w| w.starts_with("excess egress"))
            .collect();
        assert_eq!(excess.len(), 4, "{:#?}", d.warnings);
        assert!(excess.iter().all(|w| w.chars().count() <= 120));
        assert!(
            excess
                .iter()
                .any(|w| w.contains("egress[1]") && w.contains("the internet")),
            "{excess:#?}"
        );
        assert!(excess[3].contains("1 more finding"), "{}", excess[3]);
        // In the summary line `check` prints.
        d.warnings.clear();
        assert!(message::summary(&d).contains("4 excess egress finding(s)"));
    }

    #[test]
    fn least_privilege_enforce_denies_the_seed_attempt_and_admits_the_generated_policy() {
        let (env, cfg) = load(&[
            CLUSTER[0],
            CLUSTER[1],
            "tests/fixtures/excess/least-privilege-enforce.yaml",
        ]);
        // Enforced, excess is a reason to deny too: the attempt's denial names both at once.
        let d = judge(&env, &cfg, &policy("examples/seed/egress-attempt.yaml"));
        assert_eq!(d.verdict, Verdict::Denied);
        assert!(!d.missing.is_empty(), "the attempt cuts the API server");
        assert_eq!(d.excess.len(), 4, "{:#?}", d.excess);
        assert!(
            message::explain(&d).contains("wider than Ignite needs"),
            "{}",
            message::explain(&d)
        );
        // The seed's attempt with the API server fixed is no longer cut off, but still too wide.
        let mut fixed = policy("examples/seed/egress-attempt.yaml");
        let generated = generate::for_namespace(&env, &cfg, "cache-ns", "ignite-egress", false)
            .expect("generate")
            .policy;
        let api: Vec<_> = generated
            .spec
            .as_ref()
            .and_then(|s| s.egress.clone())
            .unwrap_or_default();
        add_egress(&mut fixed, api);
        let d = judge(&env, &cfg, &fixed);
        assert!(d.missing.is_empty(), "{:#?}", d.missing);
        assert_eq!(d.verdict, Verdict::Denied);
        let text = message::explain(&d);
        assert!(text.contains("wider than Ignite needs"), "{text}");
        assert!(text.contains("netpol-cache-ns-egress egress[1] (any destination): opens 53/TCP,53/UDP to any address"), "{text}");
        assert!(text.contains("The minimal egress rules"), "{text}");
        assert!(text.contains("k8s-app: kube-dns"), "{text}");
        assert!(text.contains("192.168.49.2/32"), "{text}");

        let d = judge(&env, &cfg, &generated);
        assert_eq!(d.verdict, Verdict::Allowed, "{}", message::explain(&d));
        assert!(d.excess.is_empty());
    }

    #[test]
    fn least_privilege_can_be_enforced_by_the_configuration_default_and_a_bad_label_enforces() {
        let files: Vec<PathBuf> = CLUSTER.iter().map(|f| path(f)).collect();
        let snapshot = ClusterSnapshot::load_files(&files).expect("snapshot");
        let cfg = Config::from_yaml("leastPrivilege: enforce\n", "test").expect("config");
        let env = Environment::build(&snapshot, &cfg).expect("model");
        let wide = policy("tests/fixtures/excess/allow-all-egress.yaml");
        assert_eq!(judge(&env, &cfg, &wide).verdict, Verdict::Denied);
        let cfg_warn = Compiled::default();
        let d = judge(&env, &cfg_warn, &wide);
        assert_ne!(d.verdict, Verdict::Denied, "{}", message::explain(&d));
        assert!(!d.excess.is_empty());
        assert!(Config::from_yaml("leastPrivilege: strict\n", "test").is_err());
    }
}

#[test]
fn a_dns_rule_without_ports_opens_the_metrics_port_and_says_which_ports_to_keep() {
    let (env, cfg) = load(&[
        "tests/fixtures/platforms/kubeadm/cluster.yaml",
        "examples/seed/deny-all-traffic.yaml",
        "tests/fixtures/excess/dns-any-port.yaml",
    ]);
    let found = findings(&env, &cfg);
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = rule(&found, "cache-ns/dns-any-port egress[0]");
    assert_eq!(
        f.kind,
        FindingKind::ExtraPorts,
        "the destinations are the ones Ignite needs: {f:#?}"
    );
    assert_eq!(f.opens.len(), 1, "{f:#?}");
    assert!(
        f.opens[0].to.starts_with("pod kube-system/coredns-"),
        "{f:#?}"
    );
    assert!(f.opens[0].ports.contains(&"9153/TCP".to_string()), "{f:#?}");
    assert!(
        !f.opens[0].ports.iter().any(|p| p.starts_with("53/")),
        "DNS itself is needed, not excess: {f:#?}"
    );
    assert!(f.instead.ends_with("53/TCP, 53/UDP"), "{}", f.instead);
}
