//! Property 1 and 5 on the basic data operations: random sequences of pwrite, pread,
//! truncate, fpunch, fallocate and fsync agree with the byte-vector reference model, and
//! fsck passes after every step. Shrunk failures print a replayable script.
//!
//! Deeper runs: `PROPTEST_CASES=20000 cargo test -p splicelab-tests --test prop_basic`.

use proptest::prelude::*;
use check::harness::{Op, basic_op, run};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(256),
        // Failures persist in tests/proptest-regressions/ (committed; replayed first).
        ..ProptestConfig::default()
    }
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    (
        Just(Op::Create { n: 0 }),
        proptest::collection::vec(basic_op(), 1..40),
    )
        .prop_map(|(first, mut rest)| {
            rest.insert(0, first);
            rest
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn plain_matches_reference(ops in ops()) {
        if let Err(e) = run("plain:size=16m", &ops) {
            prop_assert!(false, "{}", e);
        }
    }
}
