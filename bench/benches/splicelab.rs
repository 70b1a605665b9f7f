//! `cargo bench -p splicelab-bench [-- [--quick] [GROUP…]]`: runs the five benchmark groups
//! (sharing, bytes, syscalls, checking, scale) and prints every figure as a ratio against a
//! baseline measured in the same run. See `docs/performance.md`.

fn main() {
    std::process::exit(splicelab_bench::main_with_args(
        std::env::args().skip(1).collect(),
    ));
}
