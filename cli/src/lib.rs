//! splicelab, the command-line laboratory: the script runner (the xfs_io command language
//! plus `splice` and lab commands), the tour, `cp`, `check` and `conform`.
//!
//! The binary (`src/main.rs`) only parses arguments; every subcommand lives here so that
//! tests and other binaries can call it. To run a script from code, see [`script`]:
//!
//! ```
//! let out = splicelab::script::run_str("open -f a\npwrite 0 4k\nstat\n", "plain", false).unwrap();
//! assert!(out.contains("stat.size = 4096"));
//! ```

pub mod check;
pub mod conform;
pub mod cp;
pub mod cp_real;
pub mod out;
pub mod pictures;
pub mod race;
pub mod race_compare;
pub mod race_real;
pub mod script;
pub mod tour;
