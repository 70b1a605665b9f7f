//! Properties 1 and 5 on the basic data operations: random sequences of pwrite, pread,
//! truncate, fpunch, fallocate and fsync agree with the byte-vector reference model, and
//! fsck passes after every step, on every model. Shrunk failures print a replayable script.
//! (`state_machine.rs` adds copies, sharing, namespace changes and faults.)
//!
//! Deeper runs: `PROPTEST_CASES=20000 cargo test --release -p splicelab-tests --test prop_basic`.

use check::harness::run;
use check::ops::{GenConfig, Op, basic_op};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(256),
        // Failures persist in tests/proptest-regressions/ (committed; replayed first).
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/prop_basic.txt",
        ))),
        ..ProptestConfig::default()
    }
}

fn ops() -> impl Strategy<Value = (usize, Vec<Op>)> {
    let cfg = GenConfig::new(4096, 40);
    (
        0..fs_models::spec::MODELS.len(),
        proptest::collection::vec(basic_op(&cfg), 1..40),
    )
        .prop_map(|(model, rest)| {
            let mut v = vec![Op::Create { n: 0 }];
            v.extend(rest);
            (model, v)
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn basic_operations_match_the_reference((model, ops) in ops()) {
        let spec = check::profile::spec_for(fs_models::spec::MODELS[model]);
        if let Err(f) = run(&spec, &ops) {
            prop_assert!(false, "{}", f);
        }
    }
}
