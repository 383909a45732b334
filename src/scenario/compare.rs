//! Comparing two resolved scenarios key by key, for `merge` (same scenario?)
//! and `diff` (different in more than swept values?).

use std::collections::BTreeMap;

use serde_yaml::Value;

/// A key whose value differs; `None` where one scenario lacks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub key: String,
    pub a: Option<String>,
    pub b: Option<String>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".into());
        write!(f, "{}: {} vs {}", self.key, show(&self.a), show(&self.b))
    }
}

fn flatten_into(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Mapping(map) => {
            for (k, v) in map {
                let k = match k {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
                };
                let key = if prefix.is_empty() { k } else { format!("{prefix}.{k}") };
                flatten_into(&key, v, out);
            }
        }
        Value::Sequence(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten_into(&format!("{prefix}[{i}]"), v, out);
            }
            if items.is_empty() {
                out.insert(prefix.to_string(), "[]".into());
            }
        }
        Value::Tagged(t) => flatten_into(prefix, &t.value, out),
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), serde_yaml::to_string(other).unwrap_or_default().trim().to_string());
        }
    }
}

fn ignored(key: &str, ignore: &[String]) -> bool {
    ignore.iter().any(|p| {
        key == p || key.strip_prefix(p.as_str()).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    })
}

/// The keys at which scenario texts `a` and `b` differ, skipping `ignore`d keys
/// and everything under them.
pub fn differences(a: &str, b: &str, ignore: &[String]) -> Result<Vec<Difference>, super::Invalid> {
    let parse = |text: &str| -> Result<BTreeMap<String, String>, super::Invalid> {
        let v: Value =
            serde_yaml::from_str(text).map_err(|e| super::Invalid(format!("scenario.yaml is not valid YAML: {e}")))?;
        let mut out = BTreeMap::new();
        flatten_into("", &v, &mut out);
        Ok(out)
    };
    let (a, b) = (parse(a)?, parse(b)?);
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    Ok(keys
        .into_iter()
        .filter(|k| !ignored(k, ignore) && a.get(*k) != b.get(*k))
        .map(|k| Difference { key: k.clone(), a: a.get(k).cloned(), b: b.get(k).cloned() })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_differing_key_and_skips_ignored_ones() {
        let a = "name: x\nbroker: { url: mqtt://a:1, qos: 0 }\ntiers:\n  cloud: { workers: 2, link: { latency: 20ms } }\nslo:\n  - { metric: p99, max: 5ms }\nsweep:\n  load.rate: [1/s, 2/s]\n";
        let b = "name: x\nbroker: { url: mqtt://b:2, qos: 1 }\ntiers:\n  cloud: { workers: 2, link: { latency: 24ms } }\nslo:\n  - { metric: p99, max: 6ms }\nsweep:\n  load.rate: [1/s, 3/s]\n";
        let ignore = vec!["broker.url".to_string(), "sweep".to_string()];
        let d = differences(a, b, &ignore).unwrap();
        let shown: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert_eq!(shown, ["broker.qos: 0 vs 1", "slo[0].max: 5ms vs 6ms", "tiers.cloud.link.latency: 20ms vs 24ms"]);
        let ignore_link = vec!["tiers.cloud.link".to_string(), "broker".to_string(), "slo".into(), "sweep".into()];
        assert!(differences(a, b, &ignore_link).unwrap().is_empty());
        assert!(differences(a, "name: [", &ignore).is_err());
    }
}
