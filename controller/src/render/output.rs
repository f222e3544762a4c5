//! The printed form of rendered objects (sorted by [`super::sort_objects`]): multi-document
//! YAML and the JSON `v1 List`, written object by object to any [`Write`] (standard output
//! in the CLI), never as one buffer: all of Italy is about 100 MB of YAML.
//!
//! The YAML writer is ours, for throughput: a general serializer (serde-saphyr, which
//! reads our manifests) spends most of its time on what rendered objects never need
//! (anchors, comments, flow styles, checks for every scalar style), and wrote 4.4 MB/s.
//! Rendered objects are JSON values: mappings, sequences and scalars, which need only
//! block style and one quoting rule, written here in kubectl's layout (lists at the
//! indentation of their key, keys in the order of the value). Strings are written plain
//! only when no YAML reader (YAML 1.1 as kubectl reads it, or 1.2) could take them for
//! anything but text; otherwise in JSON's double quotes, which are valid YAML, or as a
//! literal block when they span lines.

use std::io::{self, Write};

use serde::Serialize;
use serde::ser::SerializeSeq;
use serde_json::{Map, Value};

use super::ChildObject;

/// Writes `objects` as multi-document YAML, one document per object, separated by `---`.
pub fn write_yaml<W: Write>(out: &mut W, objects: &[ChildObject]) -> io::Result<()> {
    for (i, object) in objects.iter().enumerate() {
        if i > 0 {
            out.write_all(b"---\n")?;
        }
        write_yaml_document(out, &object.to_json()?)?;
    }
    Ok(())
}

/// Writes one value as a YAML document (without a `---` line).
pub fn write_yaml_document<W: Write>(out: &mut W, value: &Value) -> io::Result<()> {
    match value {
        Value::Object(map) if !map.is_empty() => write_mapping(out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_sequence(out, items, 0, false),
        scalar => {
            write_scalar(out, scalar, 0)?;
            out.write_all(b"\n")
        }
    }
}

/// `value` as a YAML document, in memory (for tests and small outputs).
pub fn to_yaml_string(value: &Value) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_yaml_document(&mut out, value);
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes `objects` as a `v1 List`, pretty-printed as `kubectl get -o json` prints several
/// objects, each object serialised from its type as the list is written.
pub fn write_json_list<W: Write>(out: &mut W, objects: &[ChildObject]) -> io::Result<()> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct List<'a> {
        api_version: &'static str,
        kind: &'static str,
        items: Items<'a>,
    }
    struct Items<'a>(&'a [ChildObject]);
    impl Serialize for Items<'_> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
            for object in self.0 {
                seq.serialize_element(object)?;
            }
            seq.end()
        }
    }
    let list = List {
        api_version: "v1",
        kind: "List",
        items: Items(objects),
    };
    serde_json::to_writer_pretty(&mut *out, &list)?;
    out.write_all(b"\n")
}

const INDENT: &[u8] = &[b' '; 64];

fn write_indent<W: Write>(out: &mut W, indent: usize) -> io::Result<()> {
    let mut left = indent;
    while left > 0 {
        let n = left.min(INDENT.len());
        out.write_all(&INDENT[..n])?;
        left -= n;
    }
    Ok(())
}

/// A block mapping at `indent`; `inline` when its first key follows a `- ` already written.
fn write_mapping<W: Write>(
    out: &mut W,
    map: &Map<String, Value>,
    indent: usize,
    inline: bool,
) -> io::Result<()> {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !inline {
            write_indent(out, indent)?;
        }
        write_string(out, key, indent, false)?;
        out.write_all(b":")?;
        match value {
            Value::Object(child) if !child.is_empty() => {
                out.write_all(b"\n")?;
                write_mapping(out, child, indent + 2, false)?;
            }
            // kubectl's layout: a list's items at the indentation of its key.
            Value::Array(items) if !items.is_empty() => {
                out.write_all(b"\n")?;
                write_sequence(out, items, indent, false)?;
            }
            scalar => {
                out.write_all(b" ")?;
                write_scalar(out, scalar, indent + 2)?;
                out.write_all(b"\n")?;
            }
        }
    }
    Ok(())
}

/// A block sequence at `indent`; `inline` when its first item follows a `- ` already written.
fn write_sequence<W: Write>(
    out: &mut W,
    items: &[Value],
    indent: usize,
    inline: bool,
) -> io::Result<()> {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline {
            write_indent(out, indent)?;
        }
        out.write_all(b"- ")?;
        match item {
            Value::Object(map) if !map.is_empty() => write_mapping(out, map, indent + 2, true)?,
            Value::Array(inner) if !inner.is_empty() => {
                write_sequence(out, inner, indent + 2, true)?;
            }
            scalar => {
                write_scalar(out, scalar, indent + 2)?;
                out.write_all(b"\n")?;
            }
        }
    }
    Ok(())
}

/// A scalar (or an empty collection, in flow style); block lines of a multi-line string go
/// at `indent`.
fn write_scalar<W: Write>(out: &mut W, value: &Value, indent: usize) -> io::Result<()> {
    match value {
        Value::Null => out.write_all(b"null"),
        Value::Bool(b) => out.write_all(if *b { b"true" } else { b"false" }),
        Value::Number(n) => write!(out, "{n}"),
        Value::String(s) => write_string(out, s, indent, true),
        Value::Array(_) => out.write_all(b"[]"),
        Value::Object(_) => out.write_all(b"{}"),
    }
}

/// A string: plain when that reads back as the same text, a literal block when it spans
/// lines (values only), double-quoted otherwise.
fn write_string<W: Write>(out: &mut W, s: &str, indent: usize, value: bool) -> io::Result<()> {
    if is_plain_safe(s) {
        return out.write_all(s.as_bytes());
    }
    if value && fits_literal_block(s) {
        let body = s.strip_suffix('\n').unwrap_or(s);
        out.write_all(if s.ends_with('\n') { b"|" } else { b"|-" })?;
        for line in body.split('\n') {
            out.write_all(b"\n")?;
            if !line.is_empty() {
                write_indent(out, indent)?;
                out.write_all(line.as_bytes())?;
            }
        }
        return Ok(());
    }
    serde_json::to_writer(out, s).map_err(io::Error::from)
}

/// Whether `s` can be written as a literal block (`|`) and read back unchanged: lines
/// without leading spaces or other control characters, ending in at most one newline.
fn fits_literal_block(s: &str) -> bool {
    s.contains('\n')
        && !s.ends_with("\n\n")
        && !s.starts_with([' ', '\n'])
        && s.split('\n').all(|line| {
            !line.starts_with(' ')
                && !line.ends_with(' ')
                && !line.chars().any(|c| {
                    (c.is_control() && c != '\t')
                        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
                })
        })
}

/// Words that YAML 1.1 (kubectl's reader) or 1.2 read as a boolean or null.
const RESERVED_WORDS: [&str; 12] = [
    "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "=", "<<",
];

/// Whether `s` reads back as the same string when written plain: not empty, no character
/// that starts or interrupts YAML syntax, no word YAML reads as a boolean or null, and
/// nothing that could read as a number or a date.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.ends_with(' ') || s.ends_with(':') {
        return false;
    }
    if !(first.is_alphanumeric() || first == '/' || first == '_') {
        return false;
    }
    let mut previous = ' ';
    for c in s.chars() {
        let fine = c.is_alphanumeric()
            || matches!(c, '-' | '_' | '.' | '/' | '@' | '+' | '=' | '(' | ')' | ',')
            || (c == ' ' && previous != ':')
            || (c == ':' && previous != ' ');
        if !fine {
            return false;
        }
        previous = c;
    }
    if s.contains(": ") || RESERVED_WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        return false;
    }
    !may_read_as_number(s)
}

/// Whether `s` starts like a number (a digit, a sign or a dot then a digit) and has only
/// the characters of YAML's numbers, dates and times (`0x1F`, `1e3`, `0o17`, `1_000`,
/// `12:30`, `2026-12-02`): such strings are quoted. `100m`, `16Gi` and `192.0.2.0/27`
/// have other characters and stay plain.
fn may_read_as_number(s: &str) -> bool {
    let starts_numeric = s.chars().next().is_some_and(|c| c.is_ascii_digit())
        || (s.starts_with(['+', '-', '.']) && s.chars().nth(1).is_some_and(|c| c.is_ascii_digit()));
    starts_numeric
        && s.chars().all(|c| {
            c.is_ascii_hexdigit()
                || matches!(
                    c,
                    'x' | 'X'
                        | 'o'
                        | 'O'
                        | '_'
                        | '.'
                        | ':'
                        | '+'
                        | '-'
                        | 'T'
                        | 't'
                        | 'Z'
                        | 'z'
                        | ' '
                )
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn yaml(value: &Value) -> String {
        to_yaml_string(value)
    }

    #[test]
    fn kubectl_layout() {
        let v = json!({
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "q", "labels": {"app.kubernetes.io/name": "x"}},
            "spec": {"hard": {"pods": "20", "limits.cpu": "2", "requests.memory": "16Gi"},
                     "list": [{"a": 1, "b": [true, null]}, "x", [], {}], "empty": {}}
        });
        assert_eq!(
            yaml(&v),
            "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  labels:\n    app.kubernetes.io/name: x\n  name: q\nspec:\n  empty: {}\n  hard:\n    limits.cpu: \"2\"\n    pods: \"20\"\n    requests.memory: 16Gi\n  list:\n  - a: 1\n    b:\n    - true\n    - null\n  - x\n  - []\n  - {}\n"
        );
    }

    #[test]
    fn strings_that_yaml_would_read_otherwise_are_quoted() {
        for s in [
            "",
            "NO",
            "on",
            "Yes",
            "true",
            "null",
            "~",
            "80",
            "0734",
            "1e3",
            "0x1F",
            "-1",
            ".5",
            "12:30",
            "2026-12-02",
            "- x",
            "a: b",
            "a #b",
            "#x",
            "*x",
            "&x",
            "!x",
            "|",
            ">",
            "'q'",
            "\"q\"",
            "%x",
            "@x",
            "`x",
            "{x}",
            "[x]",
            "x:",
            "tab\there",
            " lead",
            "trail ",
            "?x",
            "=",
            "<<",
        ] {
            let out = yaml(&json!({ "k": s }));
            assert!(out.starts_with("k: \""), "{s:?} written as {out:?}");
            let back: Value = serde_saphyr::from_str(&out).expect("parses back");
            assert_eq!(back["k"], json!(s), "{out}");
        }
    }

    #[test]
    fn plain_strings_stay_plain_and_read_back_the_same() {
        for s in [
            "comune-molfetta-prod",
            "Comune di Poggiorsini",
            "192.0.2.0/27",
            "100m",
            "16Gi",
            "tenant-operator:tenant-admin",
            "https://example.it/x",
            "rtd@comune.molfetta.ba.it",
            "Forlì",
            "c_f284",
        ] {
            let out = yaml(&json!({ "k": s }));
            assert_eq!(out, format!("k: {s}\n"));
            let back: Value = serde_saphyr::from_str(&out).expect("parses back");
            assert_eq!(back["k"], json!(s), "{out}");
        }
    }

    #[test]
    fn multi_line_strings_are_literal_blocks() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let v = json!({"data": {"ca.crt": pem, "two": "a\n\nb"}, "list": ["x\ny"]});
        let out = yaml(&v);
        assert_eq!(
            out,
            "data:\n  ca.crt: |\n    -----BEGIN CERTIFICATE-----\n    MIIB\n    -----END CERTIFICATE-----\n  two: |-\n    a\n\n    b\nlist:\n- |-\n  x\n  y\n"
        );
        let back: Value = serde_saphyr::from_str(&out).expect("parses back");
        assert_eq!(back, v);
    }

    #[test]
    fn documents_are_separated_and_json_is_a_v1_list() {
        use k8s_openapi::api::core::v1::Namespace;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
        let ns = |name: &str| {
            ChildObject::Namespace(Namespace {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            })
        };
        let objects = [ns("a-prod"), ns("a-test")];
        let mut out = Vec::new();
        write_yaml(&mut out, &objects).expect("written");
        let text = String::from_utf8(out).expect("UTF-8");
        assert_eq!(
            text,
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a-prod\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a-test\n"
        );
        let mut out = Vec::new();
        write_json_list(&mut out, &objects).expect("written");
        let list: Value = serde_json::from_slice(&out).expect("parses");
        assert_eq!(list["kind"], "List");
        assert_eq!(list["apiVersion"], "v1");
        assert_eq!(list["items"][1]["metadata"]["name"], "a-test");
        assert_eq!(list["items"][1]["kind"], "Namespace");
    }
}
