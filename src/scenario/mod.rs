//! Scenario files: YAML in, a validated `Plan` out. The only user of serde_yaml.

pub mod arrivals;
mod compare;
pub mod data;
pub mod energy;
mod error;
mod files;
mod locate;
mod parse;
pub mod profile;
mod raw;
pub mod trace;
mod units;
mod validate;

pub use compare::{differences, Difference};

/// The JSON Schema of a scenario file, generated from the structs the parser
/// reads it into, so that the two cannot drift (`simrun schema`).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(raw::ScenarioFile);
    let mut value = serde_json::to_value(&schema).unwrap_or_default();
    let sweep = sweep_schema(&value);
    if let Some(slot) = value.pointer_mut("/properties/sweep") {
        *slot = sweep;
    }
    nullable_as_if(&mut value);
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

/// `anyOf: [X, {type: null}]` (serde's `Option<X>`) as `if: {type: null},
/// else: X`: the same instances pass, but a validator's error about a bad X
/// names X's failing key instead of "is not valid under any of the given schemas".
fn nullable_as_if(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let pair = map.get("anyOf").and_then(Value::as_array).filter(|a| a.len() == 2).cloned();
            if let Some(pair) = pair {
                let null = serde_json::json!({ "type": "null" });
                if let Some(other) = pair.iter().position(|v| *v == null).map(|i| pair[1 - i].clone()) {
                    map.remove("anyOf");
                    map.insert("if".into(), null);
                    map.insert("else".into(), other);
                }
            }
            map.values_mut().for_each(nullable_as_if);
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_as_if),
        _ => {}
    }
}

/// The schema of `sweep`: each dotted key a scenario can sweep (every path
/// through the scenario's objects, `tiers.cloud.link.latency`), with a list
/// of values of that key's own schema; `devices.<group>.<key>` for a group's
/// keys, values unchecked (the group's name is the user's); no other key.
fn sweep_schema(root: &serde_json::Value) -> serde_json::Value {
    let mut keys = serde_json::Map::new();
    if let Some(props) = root.get("properties").and_then(|p| p.as_object()) {
        for (name, schema) in props.iter().filter(|(n, _)| !matches!(n.as_str(), "sweep" | "slo" | "name")) {
            sweep_paths(root, name, schema, 0, &mut keys);
        }
    }
    serde_json::json!({
        "description": "Dotted key → the values to sweep it over (docs/scenario.md, Sweeps); with several keys, every combination.",
        "type": "object",
        "properties": keys,
        "patternProperties": { "^devices\\.[^.]+\\..+$": { "type": "array", "minItems": 1 } },
        "additionalProperties": false,
        "default": {}
    })
}

/// Adds `path` and every path under it to `keys`, each as a list of its values.
fn sweep_paths(
    root: &serde_json::Value,
    path: &str,
    schema: &serde_json::Value,
    depth: usize,
    keys: &mut serde_json::Map<String, serde_json::Value>,
) {
    let mut values = schema.clone();
    if let Some(map) = values.as_object_mut() {
        map.remove("default");
        map.remove("description");
    }
    keys.insert(path.to_string(), serde_json::json!({ "type": "array", "minItems": 1, "items": values }));
    if depth >= 4 {
        return;
    }
    for object in objects_of(root, schema, 0) {
        if let Some(props) = object.get("properties").and_then(|p| p.as_object()) {
            for (name, child) in props {
                sweep_paths(root, &format!("{path}.{name}"), child, depth + 1, keys);
            }
        }
    }
}

/// The object schemas `schema` may be, through `$ref`s and `anyOf`s.
fn objects_of<'a>(
    root: &'a serde_json::Value,
    schema: &'a serde_json::Value,
    hops: usize,
) -> Vec<&'a serde_json::Value> {
    if hops > 6 {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(target) =
        schema.get("$ref").and_then(|r| r.as_str()).and_then(|r| root.pointer(r.trim_start_matches('#')))
    {
        out.extend(objects_of(root, target, hops + 1));
    }
    for alt in schema.get("anyOf").and_then(|a| a.as_array()).into_iter().flatten() {
        out.extend(objects_of(root, alt, hops + 1));
    }
    if schema.get("properties").is_some() {
        out.push(schema);
    }
    out
}
pub use error::ScenarioError;
pub use parse::{load, load_str};
pub use units::{parse_bandwidth, parse_duration, parse_rate, Invalid};
pub use validate::{batching_of, broker_from_url, KeyError, MANAGED_BROKER};
