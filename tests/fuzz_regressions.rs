//! Replays every input the fuzzer ever found (and the seed inputs) through the fuzz target's
//! path: parse, decide, encode — for the mutating and the validating webhook. None may panic,
//! and every one must get an answer.

use ignite_netpol::{
    admission,
    ignite::{Compiled, Environment},
    snapshot::ClusterSnapshot,
};

#[test]
fn every_fuzz_regression_is_answered() {
    let mut snapshot = ClusterSnapshot::default();
    snapshot
        .add_text(include_str!("../examples/seed/cluster.yaml"), "seed")
        .expect("seed");
    let cfg = Compiled::default();
    let env = Environment::build(&snapshot, &cfg).expect("model");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz/regressions");
    let mut replayed = 0;
    for entry in std::fs::read_dir(dir).expect("regressions directory") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let data = std::fs::read(&path).expect("input");
        for validating in [false, true] {
            let reviewed = admission::review(
                &env,
                &cfg,
                &data,
                admission::ReviewOptions {
                    mode: None,
                    validating,
                },
            );
            let bytes = admission::to_bytes(&reviewed.answer);
            // Whatever the input, the answer is JSON that names the request it answers.
            let answer: serde_json::Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{}: the answer is not JSON: {e}", path.display()));
            assert_eq!(answer["kind"], "AdmissionReview", "{}", path.display());
            assert_eq!(
                answer["response"]["uid"],
                reviewed.answer.uid.as_str(),
                "{}",
                path.display()
            );
        }
        replayed += 1;
    }
    println!("fuzz regressions: {replayed} inputs replayed");
    assert!(replayed >= 3, "the seed inputs are there");
}
