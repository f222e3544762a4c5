//! The external tools test suites check their output with (`kubectl`, `helm`,
//! `kubernetes-validate`): the pinned copies `hack/install-tools.sh` puts in
//! `<workspace>/.tools/bin`, else whatever PATH has.

use std::path::{Path, PathBuf};

/// `tool` from `<workspace>/.tools/bin` (the pinned copy CI installs), else from PATH.
/// When it is missing: `None` after printing a skip line, so a developer without the tools
/// can still run the rest; but with `REQUIRE_TOOLS=1` (CI, `hack/test-all.sh`) a missing
/// tool fails the test instead of skipping it.
///
/// # Panics
///
/// When `tool` is missing and `REQUIRE_TOOLS=1`.
#[must_use]
pub fn find(tool: &str) -> Option<PathBuf> {
    let pinned = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.tools/bin")
        .join(tool);
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(tool))
            .find(|p| p.is_file())
    });
    let found = Some(pinned).filter(|p| p.is_file()).or(on_path);
    if found.is_none() {
        assert!(
            std::env::var("REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{tool} is required (REQUIRE_TOOLS=1) but not installed (run hack/install-tools.sh)"
        );
        println!("skipped: {tool} not installed (run hack/install-tools.sh)");
    }
    found
}
