//! AdmissionReview parsing, the decision and response encoding, on arbitrary bytes: the
//! webhook's whole request path minus HTTP and TLS. It must never panic or hang.
#![no_main]

use std::sync::LazyLock;

use ignite_netpol::{
    admission,
    ignite::{Compiled, Environment},
    snapshot::ClusterSnapshot,
};
use libfuzzer_sys::fuzz_target;

static VIEW: LazyLock<(Environment, Compiled)> = LazyLock::new(|| {
    let mut snapshot = ClusterSnapshot::default();
    snapshot
        .add_text(include_str!("../../../examples/seed/cluster.yaml"), "seed")
        .expect("the seed cluster loads");
    let cfg = Compiled::default();
    let env = Environment::build(&snapshot, &cfg).expect("the seed model builds");
    (env, cfg)
});

fuzz_target!(|data: &[u8]| {
    let (env, cfg) = &*VIEW;
    for validating in [false, true] {
        let options = admission::ReviewOptions {
            mode: None,
            validating,
        };
        let reviewed = admission::review(env, cfg, data, options);
        let _ = admission::to_bytes(&reviewed.answer);
    }
});
