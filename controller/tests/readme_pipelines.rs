//! The pipeline files of the README (GitHub Actions, GitLab CI) are real: each parses as
//! YAML, and each `tenant-operator` command in them runs, as the pipeline runs it, in a
//! checkout laid out as the pipeline lays it out (the pull request's `tenants/` and
//! `policies/`, the base branch beside it as `base/`), and succeeds. A flag that the CLI
//! renames, an output format it drops, or an exit status that the pipeline does not expect
//! fails this test. The image step copies the binary from where the Dockerfile puts it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The YAML code blocks of the README that follow a line naming `file`.
fn pipeline_file(readme: &str, file: &str) -> Value {
    let start = readme
        .find(file)
        .unwrap_or_else(|| panic!("the README names {file}"));
    let rest = &readme[start..];
    let open = rest.find("```yaml\n").expect("a YAML block follows") + "```yaml\n".len();
    let body = &rest[open..];
    let close = body.find("```").expect("the block closes");
    // The block is indented with the list item it belongs to.
    let lines: Vec<&str> = body[..close].lines().collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let text: String = lines
        .iter()
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
        .collect();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{file} in the README: {e}\n{text}"))
}

/// The shell lines of a pipeline that run `tenant-operator`.
fn tenant_operator_lines(scripts: &[&Value]) -> Vec<String> {
    scripts
        .iter()
        .filter_map(|v| v.as_str())
        .flat_map(str::lines)
        .map(str::trim)
        .filter(|l| l.starts_with("tenant-operator "))
        .map(str::to_string)
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("directory");
    for entry in std::fs::read_dir(from).expect("fixture directory") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copied");
        }
    }
}

/// A checkout as the pipelines see it: the pull request of the `diff` fixtures (a class
/// change, a tenant added, one removed, two edited) with its base beside it.
fn checkout(forge: &str) -> PathBuf {
    let fixtures = root().join("controller/tests/fixtures/diff");
    let dir = std::env::temp_dir().join(format!("readme-pipeline-{forge}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_tree(&fixtures.join("new/tenants"), &dir.join("tenants"));
    copy_tree(&fixtures.join("new/classes"), &dir.join("policies"));
    copy_tree(&fixtures.join("base/tenants"), &dir.join("base/tenants"));
    copy_tree(&fixtures.join("base/classes"), &dir.join("base/policies"));
    dir
}

/// Runs a pipeline's shell line as the job does (`sh -e`), with the binary on the PATH.
fn run_line(dir: &Path, line: &str) {
    let bin = Path::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .parent()
        .expect("the binary's directory")
        .to_path_buf();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let out = Command::new("sh")
        .args(["-ec", line])
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "the README's pipeline line fails ({}): {line}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_github_actions_workflow_runs() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let workflow = pipeline_file(&readme, ".github/workflows/tenancy.yaml");
    let steps = workflow["jobs"]["review"]["steps"]
        .as_array()
        .expect("steps");
    let runs: Vec<&Value> = steps.iter().map(|s| &s["run"]).collect();
    let lines = tenant_operator_lines(&runs);
    for command in ["validate", "render", "diff", "audit"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("tenant-operator {command} "))),
            "the workflow runs {command}: {lines:#?}"
        );
    }
    // The binary is copied from where the operator image holds it.
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let binary = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ENTRYPOINT [\""))
        .and_then(|l| l.split('"').next())
        .expect("the Dockerfile's entrypoint");
    assert!(
        runs.iter()
            .filter_map(|r| r.as_str())
            .any(|r| r.contains(&format!(":{binary} "))),
        "the workflow copies {binary} from the image"
    );
    let dir = checkout("github");
    for line in &lines {
        run_line(&dir, line);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_gitlab_ci_job_runs() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let pipeline = pipeline_file(&readme, ".gitlab-ci.yml");
    let script: Vec<&Value> = pipeline["tenancy"]["script"]
        .as_array()
        .expect("script")
        .iter()
        .collect();
    let lines = tenant_operator_lines(&script);
    for command in ["validate", "render", "diff", "audit"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("tenant-operator {command} "))),
            "the job runs {command}: {lines:#?}"
        );
    }
    // Every report the job declares is a file a line of it writes.
    let reports = pipeline["tenancy"]["artifacts"]["reports"]["codequality"]
        .as_array()
        .expect("code quality reports");
    for report in reports.iter().filter_map(Value::as_str) {
        assert!(
            lines.iter().any(|l| l.contains(&format!("> {report}"))),
            "no line writes {report}"
        );
    }
    let dir = checkout("gitlab");
    for line in &lines {
        run_line(&dir, line);
    }
    for report in reports.iter().filter_map(Value::as_str) {
        let text = std::fs::read_to_string(dir.join(report)).expect("report written");
        let issues: Value = serde_json::from_str(&text).expect("Code Quality JSON");
        assert!(issues.is_array(), "{report}: {text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
