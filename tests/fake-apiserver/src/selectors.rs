//! Label and field selectors (spec §5.2), as kube-rs and kubectl render them.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::errors::ApiError;

/// One label requirement.
#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Eq(String, String),
    NotEq(String, String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed `labelSelector` (requirements are ANDed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelReq>);

fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn valid_value(v: &str) -> bool {
    v.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn set_of(s: &str, whole: &str) -> Result<BTreeSet<String>, ApiError> {
    let inner = s
        .trim()
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to parse requirement: found '{s}', expected: '('"
            ))
        })?;
    let vals: BTreeSet<String> = inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if vals.iter().any(|v| !valid_value(v)) {
        return Err(ApiError::bad_request(format!(
            "unable to parse requirement: invalid label value in \"{whole}\""
        )));
    }
    Ok(vals)
}

impl LabelSelector {
    /// Parses a selector; errors are 400 BadRequest.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(LabelSelector(reqs));
        }
        for part in split_top(s) {
            let p = part.trim();
            let bad = || {
                ApiError::bad_request(format!(
                    "unable to parse requirement: invalid label selector \"{p}\""
                ))
            };
            let req = if let Some(k) = p.strip_prefix('!') {
                LabelReq::NotExists(k.trim().to_string())
            } else if let Some((k, v)) = p.split_once("!=") {
                LabelReq::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once("==") {
                LabelReq::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once('=') {
                LabelReq::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, rest)) = p.split_once(" notin ") {
                LabelReq::NotIn(k.trim().into(), set_of(rest, p)?)
            } else if let Some((k, rest)) = p.split_once(" in ") {
                LabelReq::In(k.trim().into(), set_of(rest, p)?)
            } else {
                LabelReq::Exists(p.to_string())
            };
            let (key, val) = match &req {
                LabelReq::Eq(k, v) | LabelReq::NotEq(k, v) => (k, Some(v)),
                LabelReq::In(k, _)
                | LabelReq::NotIn(k, _)
                | LabelReq::Exists(k)
                | LabelReq::NotExists(k) => (k, None),
            };
            if !valid_key(key) || val.is_some_and(|v| !valid_value(v)) {
                return Err(bad());
            }
            reqs.push(req);
        }
        Ok(LabelSelector(reqs))
    }

    /// A `metav1.LabelSelector` object (`matchLabels` and `matchExpressions` with `In`,
    /// `NotIn`, `Exists`, `DoesNotExist`), as admission policies, quota scope selectors and
    /// paramRefs carry it. An absent or empty selector matches everything (the API server
    /// defaults an unset admission selector to `{}`). Errors name the wrong part.
    pub fn from_json(selector: &Value) -> Result<Self, String> {
        let mut reqs = Vec::new();
        if selector.is_null() {
            return Ok(LabelSelector(reqs));
        }
        for (k, v) in selector["matchLabels"].as_object().into_iter().flatten() {
            let v = v
                .as_str()
                .ok_or_else(|| format!("matchLabels[{k}]: must be a string"))?;
            reqs.push(LabelReq::Eq(k.clone(), v.to_string()));
        }
        for (i, e) in selector["matchExpressions"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let key = e["key"].as_str().unwrap_or("").to_string();
            let values: BTreeSet<String> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(String::from))
                .collect();
            let op = e["operator"].as_str().unwrap_or("");
            reqs.push(match op {
                "In" if !values.is_empty() => LabelReq::In(key, values),
                "NotIn" if !values.is_empty() => LabelReq::NotIn(key, values),
                "Exists" if values.is_empty() => LabelReq::Exists(key),
                "DoesNotExist" if values.is_empty() => LabelReq::NotExists(key),
                "In" | "NotIn" => {
                    return Err(format!(
                        "matchExpressions[{i}].values: must be non-empty for operator {op}"
                    ));
                }
                "Exists" | "DoesNotExist" => {
                    return Err(format!(
                        "matchExpressions[{i}].values: must be empty for operator {op}"
                    ));
                }
                other => {
                    return Err(format!(
                        "matchExpressions[{i}].operator: \"{other}\" is not a valid label selector operator (In, NotIn, Exists, DoesNotExist)"
                    ));
                }
            });
        }
        Ok(LabelSelector(reqs))
    }

    /// Whether the selector is empty (matches everything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an object's labels match.
    pub fn matches(&self, obj: &Value) -> bool {
        let labels = &obj["metadata"]["labels"];
        self.matches_with(|k| labels.get(k).and_then(Value::as_str))
    }

    /// Whether labels read through `get` match.
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|r| match r {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEq(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.contains(x)),
            LabelReq::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed `fieldSelector`: (field, wanted value, equal?) ANDed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, String, bool)>);

impl FieldSelector {
    /// Parses a selector, allowing `metadata.name`, `metadata.namespace` and `extra` fields.
    pub fn parse(s: &str, extra: &[&str]) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(FieldSelector(reqs));
        }
        for part in s.split(',') {
            let p = part.trim();
            let (f, v, eq) = if let Some((f, v)) = p.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = p.split_once("==") {
                (f, v, true)
            } else if let Some((f, v)) = p.split_once('=') {
                (f, v, true)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{p}'"
                )));
            };
            let f = f.trim();
            if f != "metadata.name" && f != "metadata.namespace" && !extra.contains(&f) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {f}"
                )));
            }
            reqs.push((f.to_string(), v.trim().to_string(), eq));
        }
        Ok(FieldSelector(reqs))
    }

    /// Whether the selector is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the selector only reads metadata.name and metadata.namespace.
    pub fn only_identity(&self) -> bool {
        self.0
            .iter()
            .all(|(f, _, _)| f == "metadata.name" || f == "metadata.namespace")
    }

    /// Matching on name and namespace alone (valid when [`Self::only_identity`]).
    pub fn matches_identity(&self, namespace: &str, name: &str) -> bool {
        self.0.iter().all(|(f, want, eq)| {
            let have = if f == "metadata.name" {
                name
            } else {
                namespace
            };
            (have == want) == *eq
        })
    }

    /// The same selector with each field label replaced by `relabel(label)`: the label of
    /// the stored object's field that another API's label names.
    #[must_use]
    pub fn relabel(self, relabel: impl Fn(&str) -> &str) -> Self {
        FieldSelector(
            self.0
                .into_iter()
                .map(|(f, v, eq)| (relabel(&f).to_string(), v, eq))
                .collect(),
        )
    }

    /// Whether an object matches.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(f, want, eq)| {
            if f == "source" {
                // The one label that is not a path: only Events have it (see `event_api`).
                return (crate::event_api::source_label(obj) == *want) == *eq;
            }
            let mut cur = obj;
            for seg in f.split('.') {
                cur = &cur[seg];
            }
            let have = match cur {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (have == *want) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_forms() {
        let s = LabelSelector::parse("app in (a,b),!skip").unwrap();
        assert!(s.matches(&json!({"metadata": {"labels": {"app": "a"}}})));
        assert!(!s.matches(&json!({"metadata": {"labels": {"app": "a", "skip": "1"}}})));
        assert!(!s.matches(&json!({"metadata": {"labels": {"app": "c"}}})));
        let t = LabelSelector::parse("tier!=x,env,k==v").unwrap();
        assert!(t.matches(&json!({"metadata": {"labels": {"env": "p", "k": "v"}}})));
        assert!(LabelSelector::parse("a in b").is_err());
    }

    #[test]
    fn label_selector_objects() {
        let s = LabelSelector::from_json(&json!({"matchLabels": {"app": "a"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]},
                {"key": "env", "operator": "Exists"}]}))
        .unwrap();
        assert!(s.matches(&json!({"metadata": {"labels": {"app": "a", "env": "p"}}})));
        assert!(
            !s.matches(&json!({"metadata": {"labels": {"app": "a", "env": "p", "tier": "x"}}}))
        );
        assert!(!s.matches(&json!({"metadata": {"labels": {"app": "a"}}})));
        assert!(LabelSelector::from_json(&json!({})).unwrap().is_empty());
        assert!(LabelSelector::from_json(&Value::Null).unwrap().is_empty());
        let e = LabelSelector::from_json(
            &json!({"matchExpressions": [{"key": "k", "operator": "Is"}]}),
        )
        .unwrap_err();
        assert!(e.contains("matchExpressions[0].operator"), "{e}");
    }

    #[test]
    fn field_selector_forms() {
        let s = FieldSelector::parse("metadata.name=w1", &[]).unwrap();
        assert!(s.matches(&json!({"metadata": {"name": "w1"}})));
        let e = FieldSelector::parse("spec.size=3", &[]).unwrap_err();
        assert_eq!(e.message, "field label not supported: spec.size");
    }
}
