//! Decoding of the Kubernetes protobuf envelope for the few built-in kinds that
//! `kubectl create <kind>` generators send as protobuf (namespace, configmap,
//! secret, serviceaccount). The server otherwise speaks JSON only; any other
//! protobuf body is refused with 415 rather than misread.
//!
//! Wire format: the magic `k8s\0`, then a `runtime.Unknown` message
//! (1: typeMeta{1: apiVersion, 2: kind}, 2: raw object bytes), the raw bytes
//! being the object's own message as in `k8s.io/api/core/v1/generated.proto`.

use base64::Engine;
use serde_json::{Map, Value, json};

/// Content-Type of protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bytes,
    Int,
    Bool,
    Time,
    Msg(&'static [Field]),
    /// map<string, string> (false) or map<string, bytes> (true, base64 in JSON).
    Map(bool),
}

#[derive(Clone, Copy)]
struct Field {
    num: u64,
    name: &'static str,
    kind: Kind,
    repeated: bool,
}

const fn f(num: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        num,
        name,
        kind,
        repeated: false,
    }
}

const fn r(num: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        num,
        name,
        kind,
        repeated: true,
    }
}

const OWNER_REF: &[Field] = &[
    f(5, "apiVersion", Kind::Str),
    f(1, "kind", Kind::Str),
    f(3, "name", Kind::Str),
    f(4, "uid", Kind::Str),
    f(6, "controller", Kind::Bool),
    f(7, "blockOwnerDeletion", Kind::Bool),
];

const OBJECT_META: &[Field] = &[
    f(1, "name", Kind::Str),
    f(2, "generateName", Kind::Str),
    f(3, "namespace", Kind::Str),
    f(5, "uid", Kind::Str),
    f(6, "resourceVersion", Kind::Str),
    f(7, "generation", Kind::Int),
    f(8, "creationTimestamp", Kind::Time),
    f(11, "labels", Kind::Map(false)),
    f(12, "annotations", Kind::Map(false)),
    r(13, "ownerReferences", Kind::Msg(OWNER_REF)),
    r(14, "finalizers", Kind::Str),
];

const OBJECT_REF: &[Field] = &[
    f(1, "kind", Kind::Str),
    f(2, "namespace", Kind::Str),
    f(3, "name", Kind::Str),
    f(4, "uid", Kind::Str),
    f(5, "apiVersion", Kind::Str),
];

const LOCAL_REF: &[Field] = &[f(1, "name", Kind::Str)];

const NAMESPACE: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "spec", Kind::Msg(&[r(1, "finalizers", Kind::Str)])),
];

const CONFIG_MAP: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "data", Kind::Map(false)),
    f(3, "binaryData", Kind::Map(true)),
    f(4, "immutable", Kind::Bool),
];

const SECRET: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "data", Kind::Map(true)),
    f(3, "type", Kind::Str),
    f(4, "stringData", Kind::Map(false)),
    f(5, "immutable", Kind::Bool),
];

const SERVICE_ACCOUNT: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    r(2, "secrets", Kind::Msg(OBJECT_REF)),
    r(3, "imagePullSecrets", Kind::Msg(LOCAL_REF)),
    f(4, "automountServiceAccountToken", Kind::Bool),
];

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let s = self.b.get(self.pos..self.pos.checked_add(len)?)?;
        self.pos += len;
        Some(s)
    }

    /// Next (field number, wire type), or None at the end.
    fn tag(&mut self) -> Option<(u64, u64)> {
        if self.pos >= self.b.len() {
            return None;
        }
        let t = self.varint()?;
        Some((t >> 3, t & 7))
    }

    fn skip(&mut self, wire: u64) -> Option<()> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => {
                self.pos = self.pos.checked_add(8)?;
                Some(())
            }
            2 => self.bytes().map(|_| ()),
            5 => {
                self.pos = self.pos.checked_add(4)?;
                Some(())
            }
            _ => None,
        }
    }
}

fn string(b: &[u8]) -> Option<Value> {
    std::str::from_utf8(b).ok().map(|s| json!(s))
}

fn decode(b: &[u8], schema: &[Field]) -> Option<Value> {
    let mut rd = Reader { b, pos: 0 };
    let mut out = Map::new();
    while let Some((num, wire)) = rd.tag() {
        let Some(field) = schema.iter().find(|x| x.num == num) else {
            rd.skip(wire)?;
            continue;
        };
        let v = match field.kind {
            Kind::Int => json!(rd.varint()? as i64),
            Kind::Bool => json!(rd.varint()? != 0),
            Kind::Str => string(rd.bytes()?)?,
            Kind::Bytes => json!(base64::engine::general_purpose::STANDARD.encode(rd.bytes()?)),
            Kind::Time => {
                let t = decode(rd.bytes()?, &[f(1, "s", Kind::Int)])?;
                match t["s"].as_i64() {
                    Some(s) if s != 0 => json!(crate::clock::format_seconds(s)),
                    _ => continue,
                }
            }
            Kind::Msg(sub) => decode(rd.bytes()?, sub)?,
            Kind::Map(binary) => {
                let value_kind = if binary { Kind::Bytes } else { Kind::Str };
                let e = decode(rd.bytes()?, &[f(1, "k", Kind::Str), f(2, "v", value_kind)])?;
                let m = out.entry(field.name).or_insert_with(|| json!({}));
                let key = e["k"].as_str().unwrap_or("").to_string();
                m[key] = e.get("v").cloned().unwrap_or_else(|| json!(""));
                continue;
            }
        };
        if field.repeated {
            if let Some(a) = out
                .entry(field.name)
                .or_insert_with(|| json!([]))
                .as_array_mut()
            {
                a.push(v);
            }
        } else {
            out.insert(field.name.into(), v);
        }
    }
    Some(Value::Object(out))
}

/// Decodes a protobuf request body into the JSON object it encodes, for the
/// supported kinds; None when the kind is unsupported or the bytes are malformed.
pub fn decode_object(body: &[u8]) -> Option<Value> {
    let envelope = body.strip_prefix(b"k8s\0")?;
    let unknown = {
        let mut rd = Reader {
            b: envelope,
            pos: 0,
        };
        let (mut type_meta, mut raw) = (None, None);
        while let Some((num, wire)) = rd.tag() {
            match (num, wire) {
                (1, 2) => type_meta = Some(rd.bytes()?),
                (2, 2) => raw = Some(rd.bytes()?),
                _ => rd.skip(wire)?,
            }
        }
        (
            decode(
                type_meta?,
                &[f(1, "apiVersion", Kind::Str), f(2, "kind", Kind::Str)],
            )?,
            raw?,
        )
    };
    let (tm, raw) = unknown;
    let schema = match (tm["apiVersion"].as_str()?, tm["kind"].as_str()?) {
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        _ => return None,
    };
    let mut obj = decode(raw, schema)?;
    obj["apiVersion"] = tm["apiVersion"].clone();
    obj["kind"] = tm["kind"].clone();
    Some(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(num: u64, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![((num << 3) | 2) as u8, payload.len() as u8];
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn decodes_a_configmap() {
        let entry = [field(1, b"a"), field(2, b"b")].concat();
        let meta = [field(1, b"c1"), field(3, b"demo"), field(8, &[])].concat();
        let raw = [field(1, &meta), field(2, &entry)].concat();
        let tm = [field(1, b"v1"), field(2, b"ConfigMap")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &tm), field(2, &raw)].concat();
        let obj = decode_object(&body).unwrap();
        assert_eq!(
            obj,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1", "namespace": "demo"}, "data": {"a": "b"}})
        );
        let tm = [field(1, b"v1"), field(2, b"Pod")].concat();
        assert!(
            decode_object(&[b"k8s\0".to_vec(), field(1, &tm), field(2, &raw)].concat()).is_none()
        );
    }
}
