//! What the binary's test files share: running `restock` and reading what it printed.

use std::path::Path;
use std::process::{Command, Output};

/// `restock <args>` in `cwd`, waited for.
pub(crate) fn restock(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_restock"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("runs")
}

/// What it printed on stderr.
pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}
