//! splicelab library: script runner, tour, cp, check.
