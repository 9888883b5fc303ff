//! Output caching: a task's key is a hash of its operator and version, its
//! resolved config, the digests of its input artifacts and the operator's
//! own fingerprint of anything else it reads.

use std::collections::BTreeMap;

use hangar_sdk::{ArtifactRef, OperatorInfo};
use serde_json::Value;

/// JSON with object keys sorted, so equal configs hash equally whatever
/// order the YAML wrote them in.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The cache key of a task. Input ports are represented by their artifacts'
/// digests, not by where the artifacts are stored, so a rerun whose inputs
/// hold the same bytes hits the cache.
pub fn cache_key(
    info: &OperatorInfo,
    config: &Value,
    inputs: &BTreeMap<String, ArtifactRef>,
    fingerprint: Option<&str>,
    owner_scope: Option<&str>,
) -> String {
    let mut config = config.clone();
    if let Value::Object(map) = &mut config {
        for port in inputs.keys() {
            map.remove(port);
        }
    }
    let mut text = String::new();
    canonical(&config, &mut text);
    let mut hasher = blake3::Hasher::new();
    for part in ["hangar-cache-v1", &info.name, &info.version, &text] {
        hasher.update(part.as_bytes());
        hasher.update(&[0]);
    }
    for (port, artifact) in inputs {
        hasher.update(port.as_bytes());
        hasher.update(&[0]);
        hasher.update(artifact.digest.as_bytes());
        hasher.update(&[0]);
    }
    if let Some(fingerprint) = fingerprint {
        hasher.update(fingerprint.as_bytes());
    }
    if let Some(owner) = owner_scope {
        hasher.update(&[0]);
        hasher.update(b"owner:");
        hasher.update(owner.as_bytes());
    }
    format!("blake3:{}", hasher.finalize().to_hex())
}

/// What besides config and inputs decides a task's outputs: the operator's
/// fingerprint (files it reads), and for a seeded operator the task's seed.
pub fn fingerprint_with_seed(fingerprint: Option<String>, info: &OperatorInfo, seed: u64) -> Option<String> {
    if !info.seeded {
        return fingerprint;
    }
    Some(format!("{}\u{0}seed:{seed}", fingerprint.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use hangar_sdk::ArtifactKind;
    use serde_json::json;

    use super::*;

    fn artifact(digest: &str, uri: &str) -> ArtifactRef {
        ArtifactRef {
            kind: ArtifactKind::Documents,
            uri: uri.into(),
            key: uri.into(),
            digest: digest.into(),
            size: 1,
            dir: false,
            values: Default::default(),
        }
    }

    #[test]
    fn the_key_follows_content_not_location_or_key_order() {
        let info = OperatorInfo::new("clean", "1", "d");
        let inputs_a = BTreeMap::from([("documents".to_owned(), artifact("blake3:aa", "runs/1/x"))]);
        let inputs_b = BTreeMap::from([("documents".to_owned(), artifact("blake3:aa", "runs/2/x"))]);
        let a = cache_key(&info, &json!({"documents": "runs/1/x", "nfkc": true, "pii": false}), &inputs_a, None, None);
        let b = cache_key(&info, &json!({"pii": false, "nfkc": true, "documents": "runs/2/x"}), &inputs_b, None, None);
        assert_eq!(a, b);
        let changed =
            cache_key(&info, &json!({"documents": "runs/1/x", "nfkc": false, "pii": false}), &inputs_a, None, None);
        assert_ne!(a, changed);
        let other_input = BTreeMap::from([("documents".to_owned(), artifact("blake3:bb", "runs/1/x"))]);
        assert_ne!(a, cache_key(&info, &json!({"nfkc": true, "pii": false}), &other_input, None, None));
        assert_ne!(a, cache_key(&info, &json!({"nfkc": true, "pii": false}), &inputs_a, Some("files changed"), None));
        assert_ne!(
            a,
            cache_key(
                &OperatorInfo::new("clean", "2", "d"),
                &json!({"nfkc": true, "pii": false}),
                &inputs_a,
                None,
                None
            )
        );
    }

    #[test]
    fn confined_owners_never_share_keys() {
        let info = OperatorInfo::new("ingest", "1", "d");
        let config = json!({"path": "data://corpus"});
        let trusted = cache_key(&info, &config, &BTreeMap::new(), Some("files"), None);
        let alice = cache_key(&info, &config, &BTreeMap::new(), Some("files"), Some("alice"));
        let bob = cache_key(&info, &config, &BTreeMap::new(), Some("files"), Some("bob"));
        assert_ne!(alice, bob);
        assert_ne!(alice, trusted);
        assert_eq!(alice, cache_key(&info, &config, &BTreeMap::new(), Some("files"), Some("alice")));
    }

    #[test]
    fn a_seeded_operator_is_cached_per_seed_and_others_are_not() {
        let config = json!({"steps": 50});
        let inputs = BTreeMap::new();
        let key = |info: &OperatorInfo, seed: u64| {
            cache_key(info, &config, &inputs, fingerprint_with_seed(None, info, seed).as_deref(), None)
        };
        let train = OperatorInfo::new("train", "1", "d").seeded();
        assert_ne!(key(&train, 1), key(&train, 2), "another seed trains another model");
        assert_eq!(key(&train, 1), key(&train, 1));
        let clean = OperatorInfo::new("clean", "1", "d");
        assert_eq!(key(&clean, 1), key(&clean, 2), "an operator that draws nothing ignores the seed");
    }
}
