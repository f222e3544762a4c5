//! Problems and changes on the line of the file in a pull request, in the formats forges
//! read: GitHub's workflow commands (`::error file=…,line=…::`, also read by Gitea and
//! Forgejo Actions), GitLab's Code Quality report (JSON) and SARIF 2.1.0 (code-scanning
//! UIs). `validate` and `diff` turn what they found into [`Annotation`]s; this module
//! only writes them.
//!
//! Pure: strings in memory, printing is the caller's.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

/// How serious an annotation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Fails the pipeline.
    Error,
    /// Shown, does not fail.
    Warning,
    /// Information for the reviewer (e.g. what a change does).
    Notice,
}

/// One thing to show at a line of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// The file, relative to the repository root (as given on the command line).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// How serious it is.
    pub level: Level,
    /// What kind of problem or change it is, stable across runs: the rule or field it
    /// concerns (`spec.environments.name`), for grouping and fingerprints.
    pub rule: String,
    /// A short title: the object (and field).
    pub title: String,
    /// The full message.
    pub message: String,
}

/// GitHub workflow commands, one line each: `::error file=F,line=N,title=T::MESSAGE`.
pub fn github(annotations: &[Annotation]) -> String {
    let mut out = String::new();
    for a in annotations {
        let command = match a.level {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        };
        let _ = writeln!(
            out,
            "::{command} file={},line={},title={}::{}",
            escape_property(&relative(&a.file)),
            a.line,
            escape_property(&a.title),
            escape_data(&a.message)
        );
    }
    out
}

/// A GitLab Code Quality report: a JSON array of issues, each with a stable fingerprint.
pub fn gitlab(annotations: &[Annotation]) -> String {
    let issues: Vec<Value> = annotations
        .iter()
        .map(|a| {
            let severity = match a.level {
                Level::Error => "major",
                Level::Warning => "minor",
                Level::Notice => "info",
            };
            let file = relative(&a.file);
            json!({
                "description": format!("{}: {}", a.title, a.message),
                "check_name": a.rule,
                "fingerprint": fingerprint(&[&file, &a.title, &a.rule, &a.message]),
                "severity": severity,
                "location": {"path": file, "lines": {"begin": a.line}},
            })
        })
        .collect();
    pretty(&Value::Array(issues))
}

/// A SARIF 2.1.0 log of one run of `tool` (e.g. `tenant-operator validate`).
pub fn sarif(tool: &str, annotations: &[Annotation]) -> String {
    let mut rules: BTreeMap<&str, Value> = BTreeMap::new();
    let results: Vec<Value> = annotations
        .iter()
        .map(|a| {
            rules
                .entry(a.rule.as_str())
                .or_insert_with(|| json!({"id": a.rule, "shortDescription": {"text": a.rule}}));
            let level = match a.level {
                Level::Error => "error",
                Level::Warning => "warning",
                Level::Notice => "note",
            };
            json!({
                "ruleId": a.rule,
                "level": level,
                "message": {"text": format!("{}: {}", a.title, a.message)},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": relative(&a.file)},
                    "region": {"startLine": a.line},
                }}],
                "partialFingerprints": {
                    "primaryLocationLineHash": fingerprint(&[&relative(&a.file), &a.title, &a.rule, &a.message]),
                },
            })
        })
        .collect();
    pretty(&json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": tool,
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules.into_values().collect::<Vec<_>>(),
            }},
            "results": results,
        }],
    }))
}

fn pretty(value: &Value) -> String {
    // Serialising a JSON value to a string cannot fail.
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

/// The path as forges want it: relative, without a leading `./`.
fn relative(file: &str) -> String {
    file.trim_start_matches("./").to_string()
}

/// The message of a workflow command: `%`, CR and LF escaped as GitHub's toolkit does.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A property of a workflow command: as [`escape_data`], and `:` and `,`, which separate
/// properties.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// A stable fingerprint (FNV-1a, 64 bits, hex) of the parts: the same problem at the same
/// place keeps its fingerprint from one pipeline run to the next, whatever the toolchain.
fn fingerprint(parts: &[&str]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Annotation> {
        vec![
            Annotation {
                file: "./tenants/comune-novara.yaml".into(),
                line: 13,
                level: Level::Error,
                rule: "spec.entity.province".into(),
                title: "TenantService/comune-novara: spec.entity.province".into(),
                message: "NO is read by YAML as the boolean false, not as text; write it in quotes: \"NO\"".into(),
            },
            Annotation {
                file: "tenants/b.yaml".into(),
                line: 2,
                level: Level::Notice,
                rule: "diff".into(),
                title: "a, b".into(),
                message: "100% changed\nsecond line".into(),
            },
        ]
    }

    #[test]
    fn github_workflow_commands_escape_their_parts() {
        assert_eq!(
            github(&sample()),
            "::error file=tenants/comune-novara.yaml,line=13,title=TenantService/comune-novara%3A spec.entity.province::NO is read by YAML as the boolean false, not as text; write it in quotes: \"NO\"\n\
             ::notice file=tenants/b.yaml,line=2,title=a%2C b::100%25 changed%0Asecond line\n"
        );
    }

    #[test]
    fn gitlab_code_quality_issues_have_stable_fingerprints() {
        let report: Value = serde_json::from_str(&gitlab(&sample())).expect("JSON");
        assert_eq!(report[0]["location"]["path"], "tenants/comune-novara.yaml");
        assert_eq!(report[0]["location"]["lines"]["begin"], 13);
        assert_eq!(report[0]["severity"], "major");
        assert_eq!(report[1]["severity"], "info");
        assert_eq!(report[0]["fingerprint"], gitlab_fingerprint_again());
        assert_ne!(report[0]["fingerprint"], report[1]["fingerprint"]);
    }

    fn gitlab_fingerprint_again() -> Value {
        let report: Value = serde_json::from_str(&gitlab(&sample()[..1])).expect("JSON");
        report[0]["fingerprint"].clone()
    }

    #[test]
    fn sarif_has_rules_results_and_locations() {
        let log: Value =
            serde_json::from_str(&sarif("tenant-operator validate", &sample())).expect("JSON");
        assert_eq!(log["version"], "2.1.0");
        let run = &log["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "tenant-operator validate");
        assert_eq!(
            run["tool"]["driver"]["rules"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(run["results"][0]["level"], "error");
        assert_eq!(run["results"][1]["level"], "note");
        assert_eq!(
            run["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"],
            13
        );
    }
}
