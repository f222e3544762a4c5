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
    /// What kind of problem or change it is, stable across runs: the rule it breaks
    /// (`ENTITY-IPA-CODE`) or what it reports (`tenant-operator/diff`), for grouping and
    /// fingerprints.
    pub rule: String,
    /// What the rule is about and what is valid, when `rule` is one of the table of
    /// rules: SARIF's rules table carries it, and the other formats name the rule after
    /// the message.
    pub rule_text: Option<RuleText>,
    /// A short title: the object (and field).
    pub title: String,
    /// The full message.
    pub message: String,
}

/// A rule's description, from the table of rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleText {
    /// What the rule is about.
    pub summary: String,
    /// What would be valid.
    pub valid: String,
}

impl Annotation {
    /// The message as a person reads it in a forge: with `[RULE-ID]` after it when it
    /// breaks a rule of the table, as `validate` prints it.
    fn shown_message(&self) -> String {
        match self.rule_text {
            Some(_) => format!("{} [{}]", self.message, self.rule),
            None => self.message.clone(),
        }
    }
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
            escape_data(&a.shown_message())
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
                "description": format!("{}: {}", a.title, a.shown_message()),
                "check_name": a.rule,
                "fingerprint": fingerprint(&[&file, &a.title, &a.rule, &a.message]),
                "severity": severity,
                "location": {"path": file, "lines": {"begin": a.line}},
            })
        })
        .collect();
    pretty(&Value::Array(issues))
}

/// A SARIF 2.1.0 log of one run of `tool` (e.g. `tenant-operator validate`): the rules
/// the results break, each once in the driver's rules table (what it is about, what is
/// valid), and each result pointing at its rule by id and index.
pub fn sarif(tool: &str, annotations: &[Annotation]) -> String {
    // First-seen order, so that a rule's index is stable for a given input.
    let mut rules: Vec<Value> = Vec::new();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let results: Vec<Value> = annotations
        .iter()
        .map(|a| {
            let rule_index = *index.entry(a.rule.as_str()).or_insert_with(|| {
                rules.push(match &a.rule_text {
                    Some(text) => json!({
                        "id": a.rule,
                        "shortDescription": {"text": text.summary},
                        "fullDescription": {"text": format!("{} Valid: {}", text.summary, text.valid)},
                        "help": {"text": format!("Valid: {}", text.valid)},
                    }),
                    None => json!({"id": a.rule, "shortDescription": {"text": a.rule}}),
                });
                rules.len() - 1
            });
            let level = match a.level {
                Level::Error => "error",
                Level::Warning => "warning",
                Level::Notice => "note",
            };
            json!({
                "ruleId": a.rule,
                "ruleIndex": rule_index,
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
                "rules": rules,
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
                rule: "YAML-UNQUOTED".into(),
                rule_text: Some(RuleText {
                    summary: "A value YAML reads as other than text.".into(),
                    valid: "The text in quotes.".into(),
                }),
                title: "TenantService/comune-novara: spec.entity.province".into(),
                message: "NO is read by YAML as the boolean false, not as text; write it in quotes: \"NO\"".into(),
            },
            Annotation {
                file: "tenants/b.yaml".into(),
                line: 2,
                level: Level::Notice,
                rule: "diff".into(),
                rule_text: None,
                title: "a, b".into(),
                message: "100% changed\nsecond line".into(),
            },
        ]
    }

    #[test]
    fn github_workflow_commands_escape_their_parts() {
        assert_eq!(
            github(&sample()),
            "::error file=tenants/comune-novara.yaml,line=13,title=TenantService/comune-novara%3A spec.entity.province::NO is read by YAML as the boolean false, not as text; write it in quotes: \"NO\" [YAML-UNQUOTED]\n\
             ::notice file=tenants/b.yaml,line=2,title=a%2C b::100%25 changed%0Asecond line\n"
        );
    }

    #[test]
    fn gitlab_code_quality_issues_have_stable_fingerprints() {
        let report: Value = serde_json::from_str(&gitlab(&sample())).expect("JSON");
        assert_eq!(report[0]["location"]["path"], "tenants/comune-novara.yaml");
        assert_eq!(report[0]["location"]["lines"]["begin"], 13);
        assert_eq!(report[0]["severity"], "major");
        assert_eq!(report[0]["check_name"], "YAML-UNQUOTED");
        assert!(
            report[0]["description"]
                .as_str()
                .is_some_and(|d| d.ends_with("[YAML-UNQUOTED]")),
            "{report:#}"
        );
        assert_eq!(report[1]["description"], "a, b: 100% changed\nsecond line");
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
        assert_eq!(run["results"][0]["ruleId"], "YAML-UNQUOTED");
        assert_eq!(run["results"][0]["ruleIndex"], 0);
        assert_eq!(run["results"][1]["ruleIndex"], 1);
        let rule = &run["tool"]["driver"]["rules"][0];
        assert_eq!(rule["id"], "YAML-UNQUOTED");
        assert_eq!(
            rule["shortDescription"]["text"],
            "A value YAML reads as other than text."
        );
        assert_eq!(rule["help"]["text"], "Valid: The text in quotes.");
        assert!(
            !run["results"][0]["message"]["text"]
                .as_str()
                .unwrap_or_default()
                .contains("[YAML-UNQUOTED]"),
            "SARIF names the rule by ruleId, not in the message"
        );
        assert_eq!(run["results"][1]["level"], "note");
        assert_eq!(
            run["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"],
            13
        );
    }
}
