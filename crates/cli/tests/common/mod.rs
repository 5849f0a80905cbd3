//! What the binary's test files share: running `restock`, reading what it printed, and checking
//! that it refused bad input.

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

/// A command refused bad input: it failed, its error names each of `needles`, and it wrote
/// nothing at `output`.
#[allow(dead_code)] // not every test file refuses input
pub(crate) fn assert_refused(o: &Output, needles: &[&str], output: &Path) {
    assert!(!o.status.success());
    let err = stderr(o);
    assert!(needles.iter().all(|n| err.contains(n)), "{err}");
    assert!(!output.exists());
}
