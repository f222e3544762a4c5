//! The documents of a manifest file, each knowing where it came from, so that problems
//! print as `file:line`.
//!
//! A file holds one or more YAML (or JSON) documents separated by `---` lines. Each
//! document is parsed with serde-saphyr (panic-free, reports line and column) into a
//! `serde_json::Value`; its events are walked once more with serde-saphyr's parser to map
//! every field path (`spec.environments[1].name`) to the line where it is written. A
//! syntax error is a [`SyntaxError`] with its line, never a crash, and does not stop the
//! other documents of the file.
//!
//! Pure: [`super::load()`] reads the files.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

/// One document of a manifest file.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The file as given (`<stdin>` for standard input).
    pub file: String,
    /// 1-based line where the document's content starts.
    pub line: usize,
    /// The document's content.
    pub value: Value,
    /// The document's text, from its first line (the `---` line, if any).
    source: String,
    /// 1-based line of `source`'s first line in the file.
    first_line: usize,
    /// Line (and plain text) of each field, by path segments: computed on the first
    /// [`Document::line_of`] or [`Document::plain_scalar`], since most documents have no
    /// problem to locate (this halves the time to load all 7,896 Comuni).
    lines: OnceLock<FieldLines>,
}

/// A document that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct SyntaxError {
    /// The file as given on the command line (`<stdin>` for standard input).
    pub file: String,
    /// 1-based line of the error.
    pub line: usize,
    /// What the parser said.
    pub message: String,
}

/// One step of a field path: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

impl Document {
    /// `apiVersion`, if it is a string.
    pub fn api_version(&self) -> Option<&str> {
        self.value.get("apiVersion").and_then(Value::as_str)
    }

    /// `kind`, if it is a string.
    pub fn kind(&self) -> Option<&str> {
        self.value.get("kind").and_then(Value::as_str)
    }

    /// `metadata.name`, if it is a string.
    pub fn name(&self) -> Option<&str> {
        self.value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
    }

    /// Line of the field at `path` (Kubernetes style: `spec.environments[1].name`,
    /// `metadata.labels[app.kubernetes.io/name]`), or of its nearest ancestor that is
    /// written in the file (a field that is missing points at its parent); the document's
    /// first line for the empty path.
    pub fn line_of(&self, path: &str) -> usize {
        let lines = &self.fields().lines;
        let mut segments = parse_path(path);
        loop {
            if let Some(line) = lines.get(&segments) {
                return self.first_line + line - 1;
            }
            if segments.pop().is_none() {
                return self.line;
            }
        }
    }

    /// The text of the value at `path` as written, if it is a plain (unquoted) scalar:
    /// `NO` for `province: NO`, which YAML reads as the boolean false, or `072034` for
    /// `istatCode: 072034`, which it reads as the number 72034.
    pub fn plain_scalar(&self, path: &str) -> Option<&str> {
        self.fields()
            .plain
            .get(&parse_path(path))
            .map(String::as_str)
    }

    /// The value at `path`, if the document has it.
    pub fn value_at(&self, path: &str) -> Option<&Value> {
        parse_path(path)
            .iter()
            .try_fold(&self.value, |node, segment| match segment {
                Segment::Key(k) => node.get(k.as_str()),
                Segment::Index(i) => node.get(*i),
            })
    }

    fn fields(&self) -> &FieldLines {
        self.lines.get_or_init(|| field_lines(&self.source))
    }
}

/// Splits a Kubernetes-style path into segments. `[n]` with digits is an index, any other
/// bracketed text a key (`labels[app.kubernetes.io/name]`).
pub fn parse_path(path: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut key = String::new();
    let mut chars = path.chars();
    let flush = |key: &mut String, segments: &mut Vec<Segment>| {
        if !key.is_empty() {
            segments.push(Segment::Key(std::mem::take(key)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '.' => flush(&mut key, &mut segments),
            '[' => {
                flush(&mut key, &mut segments);
                let inner: String = chars.by_ref().take_while(|c| *c != ']').collect();
                segments.push(match inner.parse::<usize>() {
                    Ok(i) if inner.bytes().all(|b| b.is_ascii_digit()) => Segment::Index(i),
                    _ => Segment::Key(inner),
                });
            }
            c => key.push(c),
        }
    }
    flush(&mut key, &mut segments);
    segments
}

/// A field path without its list indices and map keys in brackets
/// (`spec.environments[1].name` is `spec.environments.name`): the field as `kubectl
/// explain` names it, the same for every item of a list.
pub fn path_without_indices(path: &str) -> String {
    path.split('.')
        .map(|p| p.split('[').next().unwrap_or(p))
        .collect::<Vec<_>>()
        .join(".")
}

/// Whether a line starts a new document (`---`, optionally followed by content).
fn is_separator(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '#', '\r']))
}

/// Whether a line holds no YAML content (blank, a comment or a directive end marker).
fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#') || is_separator(line)
}

/// Every document of `text`, read from `file`: the documents that parse, and one
/// [`SyntaxError`] per document that does not. Empty documents (only comments) are skipped.
pub fn parse(file: &str, text: &str) -> (Vec<Document>, Vec<SyntaxError>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut documents = Vec::new();
    let mut errors = Vec::new();
    let mut chunks: Vec<(usize, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if is_separator(line) || chunks.is_empty() {
            chunks.push((i, String::new()));
        }
        if let Some((_, chunk)) = chunks.last_mut() {
            chunk.push_str(line);
            chunk.push('\n');
        }
    }
    for (first, chunk) in chunks {
        let Some(content) = chunk.lines().position(|l| !is_blank(l)) else {
            continue;
        };
        match parse_value(&chunk) {
            Ok(value) => documents.push(Document {
                file: file.to_string(),
                line: first + content + 1,
                value,
                source: chunk,
                first_line: first + 1,
                lines: OnceLock::new(),
            }),
            Err((line, message)) => errors.push(SyntaxError {
                file: file.to_string(),
                line: first + line.max(1),
                message,
            }),
        }
    }
    (documents, errors)
}

/// Where each field path of a document is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FieldLines {
    /// The line of each field path.
    lines: HashMap<Vec<Segment>, usize>,
    /// The text of each value written as a plain (unquoted) scalar.
    plain: HashMap<Vec<Segment>, String>,
}

/// One document's value; or the (1-based, chunk-relative) line and text of its syntax
/// error.
fn parse_value(chunk: &str) -> Result<Value, (usize, String)> {
    serde_saphyr::from_str(chunk).map_err(|e| {
        let e = e.without_snippet();
        let line = e
            .location()
            .and_then(|l| usize::try_from(l.line()).ok())
            .unwrap_or(1);
        (line, first_line(&e.to_string()))
    })
}

/// The first line of a (possibly multi-line) message, without a trailing location that
/// `file:line` already gives.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    match line.rfind(" at line ") {
        Some(i) => line[..i].to_string(),
        None => line.to_string(),
    }
}

/// Position while walking the events of a document.
enum Frame {
    Map {
        path: Vec<Segment>,
        /// The key whose value comes next; `None` when a key comes next.
        key: Option<Segment>,
    },
    Seq {
        path: Vec<Segment>,
        next: usize,
    },
}

/// Maps every field path of a document to the line of its key (mappings) or item
/// (lists). The document already parsed, so parser errors cannot occur here; if one did,
/// the map would just be shorter (lines fall back to a parent's).
fn field_lines(chunk: &str) -> FieldLines {
    let mut fields = FieldLines::default();
    let lines = &mut fields.lines;
    let mut stack: Vec<Frame> = Vec::new();
    for item in Parser::new_from_str(chunk) {
        let Ok((event, span)) = item else { break };
        let line = span.start.line();
        let (is_node, opens) = match &event {
            Event::Scalar(..) | Event::Alias(_) => (true, None),
            Event::MappingStart(..) => (true, Some(true)),
            Event::SequenceStart(..) => (true, Some(false)),
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                (false, None)
            }
            _ => (false, None),
        };
        if !is_node {
            continue;
        }
        // The path of this node, or `None` if it is a mapping key.
        let path = match stack.last_mut() {
            None => Some(Vec::new()),
            Some(Frame::Seq { path, next }) => {
                let mut p = path.clone();
                p.push(Segment::Index(*next));
                *next += 1;
                lines.insert(p.clone(), line);
                Some(p)
            }
            Some(Frame::Map { path, key }) => {
                if let Some(k) = key.take() {
                    let mut p = path.clone();
                    p.push(k);
                    Some(p)
                } else {
                    let k = match &event {
                        Event::Scalar(text, ..) => text.to_string(),
                        // A complex key: its own events are skipped below.
                        _ => String::from("?"),
                    };
                    let mut p = path.clone();
                    p.push(Segment::Key(k.clone()));
                    lines.insert(p, line);
                    *key = Some(Segment::Key(k));
                    None
                }
            }
        };
        match (opens, path) {
            (Some(true), Some(path)) => stack.push(Frame::Map { path, key: None }),
            (Some(false), Some(path)) => stack.push(Frame::Seq { path, next: 0 }),
            // A collection used as a mapping key: track it so its end pops correctly.
            (Some(true), None) => stack.push(Frame::Map {
                path: vec![Segment::Key("?".into())],
                key: None,
            }),
            (Some(false), None) => stack.push(Frame::Seq {
                path: vec![Segment::Key("?".into())],
                next: 0,
            }),
            (None, Some(path)) => {
                if let Event::Scalar(text, ScalarStyle::Plain, ..) = &event {
                    fields.plain.insert(path, text.to_string());
                }
            }
            (None, None) => {}
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "# comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    app.kubernetes.io/name: x\ndata:\n  k: v\n---\n\n# second\nkind: List\nitems:\n  - name: one\n  - name: two\n    ports: [80, 443]\n";

    #[test]
    fn documents_with_start_lines() {
        let (docs, errors) = parse("f.yaml", TWO);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].line, 3);
        assert_eq!(docs[0].kind(), Some("ConfigMap"));
        assert_eq!(docs[0].name(), Some("a"));
        assert_eq!(docs[1].line, 14);
        assert_eq!(docs[1].value["items"][1]["ports"][1], 443);
    }

    #[test]
    fn field_paths_map_to_lines() {
        let (docs, _) = parse("f.yaml", TWO);
        assert_eq!(docs[0].line_of("metadata.name"), 6);
        assert_eq!(
            docs[0].line_of("metadata.labels[app.kubernetes.io/name]"),
            8
        );
        assert_eq!(docs[0].line_of("data.k"), 10);
        assert_eq!(docs[0].line_of(""), 3);
        // Missing fields point at their nearest written ancestor.
        assert_eq!(docs[0].line_of("metadata.namespace"), 5);
        assert_eq!(docs[0].line_of("spec.x"), 3);
        assert_eq!(docs[1].line_of("items[0]"), 16);
        assert_eq!(docs[1].line_of("items[1].name"), 17);
        assert_eq!(docs[1].line_of("items[1].ports[1]"), 18);
    }

    #[test]
    fn json_documents() {
        let (docs, errors) = parse(
            "f.json",
            "{\n  \"kind\": \"A\",\n  \"spec\": {\n    \"x\": [1,\n      2]\n  }\n}\n",
        );
        assert!(errors.is_empty());
        assert_eq!(docs[0].line_of("spec.x"), 4);
        assert_eq!(docs[0].line_of("spec.x[1]"), 5);
    }

    #[test]
    fn syntax_errors_have_lines_and_do_not_stop_other_documents() {
        let text = "kind: A\n---\nkind: B\nspec:\n  x: [1, 2\n---\nkind: C\n";
        let (docs, errors) = parse("bad.yaml", text);
        let kinds: Vec<_> = docs.iter().filter_map(Document::kind).collect();
        assert_eq!(kinds, ["A", "C"]);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].file, "bad.yaml");
        assert!((3..=6).contains(&errors[0].line), "{:?}", errors[0]);
        assert!(errors[0].to_string().starts_with("bad.yaml:"));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let (docs, errors) = parse("d.yaml", "kind: A\nkind: B\n");
        assert!(docs.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.to_lowercase().contains("duplicate"),
            "{:?}",
            errors[0]
        );
    }

    #[test]
    fn empty_documents_are_skipped() {
        let (docs, errors) = parse("e.yaml", "---\n# nothing\n---\n\n---\nkind: A\n");
        assert!(errors.is_empty());
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].line, 6);
    }

    #[test]
    fn paths_parse_keys_and_indices() {
        assert_eq!(
            parse_path("spec.environments[1].name"),
            [
                Segment::Key("spec".into()),
                Segment::Key("environments".into()),
                Segment::Index(1),
                Segment::Key("name".into())
            ]
        );
        assert_eq!(
            parse_path("metadata.labels[a.b/c]"),
            [
                Segment::Key("metadata".into()),
                Segment::Key("labels".into()),
                Segment::Key("a.b/c".into())
            ]
        );
        assert!(parse_path("").is_empty());
    }
}
