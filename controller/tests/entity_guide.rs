//! `docs/guida-enti.md`, the guide for entities (in Italian), checked against the program it
//! describes: its complete example passes `tenant-operator validate` with the repository's
//! trusted policy folder; every common error it lists, made in that example as the guide
//! says, is reported by `validate` on the field and under the rule the guide names; every
//! field the guide names is a field of the TenantService CRD; and every rule it names is in
//! the table of rules. A guide that drifts from the program fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tenant_operator::api::validation::Rule;

const GUIDE: &str = include_str!("../../docs/guida-enti.md");

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The first YAML block of the section `## Esempio completo`.
fn example() -> &'static str {
    let section = GUIDE
        .split("\n## Esempio completo\n")
        .nth(1)
        .expect("the guide has a section '## Esempio completo'");
    let block = section
        .split("```yaml\n")
        .nth(1)
        .expect("the example section has a ```yaml block");
    block
        .split("\n```")
        .next()
        .expect("the YAML block is closed")
}

/// One entry of `## Errori comuni`: the field (the heading's first code span), the rule
/// (the heading's code span that is a rule identifier), the line as the mistake writes it,
/// and the example's line it replaces.
#[derive(Debug)]
struct Mistake {
    field: String,
    rule: String,
    wrong: String,
    right: String,
}

/// Whether a code span looks like a rule identifier: upper-case words joined by `-`.
fn looks_like_rule(span: &str) -> bool {
    let words: Vec<&str> = span.split('-').collect();
    words.len() >= 2
        && words.iter().all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
}

fn code_spans(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

fn mistakes() -> Vec<Mistake> {
    let section = GUIDE
        .split("\n## Errori comuni\n")
        .nth(1)
        .expect("the guide has a section '## Errori comuni'");
    let mut field = None;
    let mut rule = None;
    let mut found = Vec::new();
    for line in section.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            let spans = code_spans(heading);
            field = spans.first().map(|s| (*s).to_string());
            rule = spans
                .iter()
                .find(|s| looks_like_rule(s))
                .map(|s| (*s).to_string());
        } else if line.starts_with("Sbagliato: ") {
            let spans = code_spans(line);
            assert_eq!(spans.len(), 2, "Sbagliato: `...` — Corretto: `...`: {line}");
            found.push(Mistake {
                field: field
                    .clone()
                    .unwrap_or_else(|| panic!("{line}: under a heading naming its field")),
                rule: rule
                    .clone()
                    .unwrap_or_else(|| panic!("{line}: under a heading naming its rule")),
                wrong: spans[0].to_string(),
                right: spans[1].to_string(),
            });
        }
    }
    found
}

/// The example with its line `right` (comment aside) written as `wrong`.
fn with_mistake(mistake: &Mistake) -> String {
    let mut replaced = 0;
    let lines: Vec<String> = example()
        .lines()
        .map(|line| {
            let code = line.split(" #").next().unwrap_or(line);
            if code.trim() == mistake.right {
                replaced += 1;
                let indent = &line[..line.len() - line.trim_start().len()];
                format!("{indent}{}", mistake.wrong)
            } else {
                line.to_string()
            }
        })
        .collect();
    assert_eq!(
        replaced, 1,
        "the example has exactly one line `{}` for the mistake of {}",
        mistake.right, mistake.field
    );
    lines.join("\n") + "\n"
}

/// `validate` of one file with the repository's trusted policy folder: (exit code, stdout).
fn validate(name: &str, text: &str) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!("guida-enti-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tenant.yaml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tenant-operator"))
        .arg("validate")
        .arg("-f")
        .arg(&file)
        .arg("--classes")
        .arg(repository().join("policies"))
        .output()
        .expect("the binary runs");
    std::fs::remove_dir_all(&dir).unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// A problem's field with its list indices left out: `spec.environments[0].quota.cpu` →
/// `spec.environments[].quota.cpu`, as the guide names fields.
fn without_indices(path: &str) -> String {
    let mut out = String::new();
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push('[');
            }
            ']' => {
                in_index = false;
                out.push(']');
            }
            _ if in_index => {}
            _ => out.push(c),
        }
    }
    out
}

#[test]
fn the_complete_example_is_valid() {
    let (code, out) = validate("example", example());
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("valid: 1 TenantService"), "{out}");
}

#[test]
fn every_common_error_is_reported_on_the_field_and_under_the_rule_the_guide_names() {
    let mistakes = mistakes();
    assert!(mistakes.len() >= 10, "{mistakes:?}");
    for (index, mistake) in mistakes.iter().enumerate() {
        let (code, out) = validate(&index.to_string(), &with_mistake(mistake));
        assert_eq!(code, Some(1), "{mistake:?} is refused:\n{out}");
        // `file:line: TenantService/name: field: message [RULE-ID]`.
        let reported: Vec<(String, &str)> = out
            .lines()
            .filter_map(|l| {
                let field = l.split(": ").nth(2)?;
                let rule = l.rsplit_once(" [")?.1.strip_suffix(']')?;
                Some((without_indices(field), rule))
            })
            .collect();
        assert!(
            reported.iter().any(|(f, rule)| {
                (f == &mistake.field || f.starts_with(&format!("{}.", mistake.field)))
                    && *rule == mistake.rule
            }),
            "{mistake:?}: validate reports {reported:?}:\n{out}"
        );
    }
}

#[test]
fn every_rule_the_guide_names_is_in_the_table() {
    let named: Vec<&str> = GUIDE
        .lines()
        .flat_map(code_spans)
        .filter(|s| looks_like_rule(s))
        .collect();
    assert!(
        named.len() >= 15,
        "the guide explains errors by rule: {named:?}"
    );
    for id in named {
        assert!(
            Rule::from_id(id).is_some(),
            "the guide names {id}, which is not a rule (controller/src/api/validation/rules.rs)"
        );
    }
}

/// The schema node of `path` (`spec.environments[].quota`) in the TenantService CRD.
fn schema_of<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut node = root;
    for segment in path.split('.') {
        let (name, list) = match segment.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (segment, false),
        };
        node = node.get("properties")?.get(name)?;
        if list {
            node = node.get("items")?;
        }
    }
    Some(node)
}

#[test]
fn every_field_the_guide_names_is_a_field_of_a_tenant_service() {
    let crd: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(
            repository().join("crds/tenantservices.tenancy.innova.puglia.it.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let mut fields: Vec<String> = mistakes().into_iter().map(|m| m.field).collect();
    fields.dedup();
    for field in fields {
        let known = field == "metadata.name" || schema_of(schema, &field).is_some();
        assert!(
            known,
            "the guide names {field}, which a TenantService does not have"
        );
    }
}
