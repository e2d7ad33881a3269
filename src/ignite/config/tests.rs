use super::*;

#[test]
fn empty_file_is_the_default() {
    let c = Config::from_yaml("", "c.yaml").expect("empty config is valid");
    assert_eq!(c.config, Config::default());
    assert_eq!(c.config.peer_ports(), vec![47500, 47100]);
}

#[test]
fn printed_default_reads_back_the_same() {
    let printed = Config::default().to_yaml();
    let back = Config::from_yaml(&printed, "printed").expect("printed config must read back");
    assert_eq!(back.config, Config::default(), "{printed}");
}

#[test]
fn unknown_keys_suggest_the_closest() {
    let cases = [
        (
            "dns: {includeClusterIp: true}\n",
            "did you mean `includeClusterIP`?",
        ),
        (
            "apiServer: {requireClusterIp: false}\n",
            "did you mean `requireClusterIP`?",
        ),
        ("ignitePod: []\n", "did you mean `ignitePods`?"),
        ("defaultmode: warn\n", "did you mean `defaultMode`?"),
    ];
    for (text, want) in cases {
        let err = Config::from_yaml(text, "c.yaml").expect_err("unknown key must be rejected");
        assert!(err.to_string().contains(want), "{text:?}: {err}");
    }
    let err = Config::from_yaml("zzz: 1\n", "c.yaml").expect_err("unknown key");
    assert!(!err.to_string().contains("did you mean"), "{err}");
}

#[test]
fn kubernetes_spelling_of_cluster_ip() {
    let c = Config::from_yaml(
        "dns: {includeClusterIP: true}\napiServer: {requireClusterIP: false}\n",
        "c.yaml",
    )
    .expect("Kubernetes' spelling is accepted");
    assert!(c.config.dns.include_cluster_ip);
    assert!(!c.config.api_server.require_cluster_ip);
    let printed = Config::default().to_yaml();
    assert!(printed.contains("includeClusterIP"), "{printed}");
    assert!(printed.contains("requireClusterIP"), "{printed}");
}

#[test]
fn partial_file_keeps_other_defaults() {
    let c = Config::from_yaml(
        "profile: ignite3\ndns:\n  extraAddresses: [169.254.20.10]\nextraFlows:\n- {name: thin-clients, direction: ingress, namespace: apps, port: 10800}\n",
        "c.yaml",
    )
    .expect("valid config");
    assert_eq!(c.config.peer_ports(), vec![3344]);
    assert!(!c.config.profile.needs_api_server());
    assert_eq!(c.config.dns.service.name, "kube-dns");
    assert_eq!(c.extra_flows.len(), 1);
    assert_eq!(c.extra_flows[0].0.protocol, Protocol::Tcp);
}

#[test]
fn bad_configs_name_the_key() {
    let cases = [
        ("profile: ignite4\n", "invalid YAML"),
        ("defaultMode: sometimes\n", "invalid YAML"),
        ("unknownKey: 1\n", "invalid YAML"),
        (
            "dns: {includeClusterIp: true}\n",
            "unknown field `includeClusterIp`",
        ),
        ("ignitePods: []\n", "ignitePods: must name"),
        ("ignitePods: [{}]\n", "ignitePods[0]: must not be empty"),
        ("peers: {portRange: 0}\n", "peers.portRange"),
        (
            "peers: {ports: [65500], portRange: 100}\n",
            "peers.ports[0]",
        ),
        (
            "dns: {extraAddresses: [nodelocal]}\n",
            "dns.extraAddresses[0]",
        ),
        (
            "apiServer: {fallback: [{address: x, port: 6443}]}\n",
            "apiServer.fallback[0].address",
        ),
    ];
    for (text, want) in cases {
        let err = Config::from_yaml(text, "c.yaml").expect_err("must be rejected");
        assert!(err.to_string().contains(want), "{text:?}: {err}");
    }
}
