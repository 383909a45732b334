//! Reads a scenario: YAML text, `--set` overrides, sweep expansion, validation.

use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::error::ScenarioError;
use super::locate::locate;
use super::raw::ScenarioFile;
use super::validate::{point_config, slos, KeyError};
use crate::plan::{Plan, SweepPoint, Tier};

/// Keys that describe the run as a whole and cannot vary between points.
const UNSWEEPABLE: [&str; 6] = ["name", "sweep", "repetitions", "output", "seed", "slo"];
/// A grid larger than this is almost certainly a mistake.
const MAX_POINTS: usize = 10_000;

/// Reads and validates the scenario at `path`, applying `--set KEY=VALUE` overrides.
pub fn load(path: &Path, overrides: &[String]) -> Result<Plan, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.to_path_buf(),
        location: None,
        key: None,
        origin: None,
        message: format!("cannot read scenario: {e}"),
    })?;
    load_str(path, &text, overrides)
}

/// As `load`, with the file's text already in hand (`path` is used for messages
/// and to resolve relative model paths).
pub fn load_str(path: &Path, text: &str, overrides: &[String]) -> Result<Plan, ScenarioError> {
    let mut source = Source { path, text, overridden: Vec::new() };
    // First from text, so that every type error carries a line and column.
    let _: ScenarioFile = source.deserialize_text()?;
    let mut value: Value = serde_yaml::from_str(text).map_err(|e| source.yaml_error(None, e))?;
    for item in overrides {
        source.apply_override(&mut value, item)?;
    }
    let base: ScenarioFile = source.deserialize_value(&value, None)?;
    // The base scenario is checked on its own, so that an error in an unswept
    // key points at the file (or the override) and not at a sweep point.
    // Each data and trace file is read once, whatever the number of points.
    let files = super::files::Files::default();
    point_config(&base, path, &files).map_err(|e| source.key_error(e, None))?;
    let resolved_yaml = serde_yaml::to_string(&base).map_err(|e| source.error(None, None, e.to_string()))?;

    let axes = source.sweep_axes(&base.sweep)?;
    let mut points = Vec::new();
    for (index, combo) in grid(&axes).into_iter().enumerate() {
        let mut point_value = value.clone();
        let mut params = Vec::new();
        for (axis, &choice) in axes.iter().zip(&combo) {
            let v = axis.values[choice].clone();
            set_path(&mut point_value, &axis.key, v).map_err(|m| source.sweep_error(&axis.key, m.0))?;
            params.push((axis.key.clone(), scalar_text(&axis.values[choice])));
        }
        let origin = if params.is_empty() {
            None
        } else {
            let label: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            Some(format!("sweep point {index} ({})", label.join(", ")))
        };
        let file: ScenarioFile = source.deserialize_value(&point_value, origin.as_deref())?;
        let config = point_config(&file, path, &files).map_err(|e| source.key_error(e, origin.as_deref()))?;
        points.push(SweepPoint { index, params, config });
    }
    unused_tiers(&source, &axes, &points)?;
    let costed = (
        points.iter().any(|p| p.config.energy.is_some()),
        points.iter().any(|p| p.config.cost.cloud.is_some() || p.config.cost.edge.is_some()),
    );
    let groups: Vec<String> = base.devices.groups.iter().map(|g| g.name.clone()).collect();
    let slos = slos(&base.slo, &placed(&points), costed, &groups).map_err(|e| source.key_error(e, None))?;

    if base.repetitions == 0 {
        let origin = source.set_origin("repetitions");
        return Err(source.error(Some("repetitions"), origin.as_deref(), "must be at least 1".into()));
    }
    if !valid_name(&base.name) {
        let origin = source.set_origin("name");
        return Err(source.error(
            Some("name"),
            origin.as_deref(),
            format!(
                "invalid name {:?} (use letters, digits, '.', '_' and '-'; it names the results folder)",
                base.name
            ),
        ));
    }
    Ok(Plan {
        name: base.name,
        description: base.description,
        scenario_path: path.to_path_buf(),
        scenario_text: text.to_string(),
        resolved_yaml,
        seed: base.seed,
        repetitions: base.repetitions,
        output: PathBuf::from(base.output),
        swept_keys: axes.into_iter().map(|a| a.key).collect(),
        plan_points: points.len(),
        points,
        slos,
        shard: None,
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

struct Axis {
    key: String,
    values: Vec<Value>,
}

/// Every combination of axis indices, the first axis outermost.
fn grid(axes: &[Axis]) -> Vec<Vec<usize>> {
    let mut combos = vec![Vec::new()];
    for axis in axes {
        let mut next = Vec::with_capacity(combos.len() * axis.values.len());
        for combo in &combos {
            for i in 0..axis.values.len() {
                let mut c = combo.clone();
                c.push(i);
                next.push(c);
            }
        }
        combos = next;
    }
    combos
}

/// The tiers that get summary rows at some point: a policy's point gets one `policy` row.
fn placed(points: &[SweepPoint]) -> Vec<Tier> {
    let mut placed: Vec<Tier> = Vec::new();
    for p in points {
        let tiers = p.config.groups.iter().flat_map(|g| match g.policy {
            Some(_) => vec![Tier::Policy],
            None => g.tiers.clone(),
        });
        for t in tiers {
            if !placed.contains(&t) {
                placed.push(t);
            }
        }
    }
    placed
}

/// Refuses a swept key of a tier that no point sends requests to: every
/// value would run the same point.
fn unused_tiers(source: &Source, axes: &[Axis], points: &[SweepPoint]) -> Result<(), ScenarioError> {
    for axis in axes {
        let Some(tier) = [Tier::Edge, Tier::Cloud].into_iter().find(|t| axis.key.starts_with(&format!("tiers.{t}.")))
        else {
            continue;
        };
        if !points.iter().any(|p| p.config.tiers.iter().any(|t| t.tier == tier)) {
            let placed: Vec<&str> = points[0].config.tiers.iter().map(|t| t.tier.as_str()).collect();
            return Err(source.sweep_error(
                &axis.key,
                format!(
                    "no point sends requests to the {tier} tier (the placement sends them to the {} only), so \
                     every value of {} would run the same point; sweep a key the placement uses, or set \
                     placement: both",
                    placed.join(" and "),
                    axis.key
                ),
            ));
        }
    }
    Ok(())
}

/// A value as written, on one line: scalars bare, lists and mappings in flow style.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Sequence(items) => format!("[{}]", items.iter().map(scalar_text).collect::<Vec<_>>().join(", ")),
        Value::Mapping(map) => {
            let pairs: Vec<String> =
                map.iter().map(|(k, v)| format!("{}: {}", scalar_text(k), scalar_text(v))).collect();
            format!("{{{}}}", pairs.join(", "))
        }
        Value::Tagged(t) => scalar_text(&t.value),
    }
}

/// Writes `new` at the dotted `key`, creating mappings on the way.
fn set_path(root: &mut Value, key: &str, new: Value) -> Result<(), super::Invalid> {
    // Sweep keys are dotted paths themselves: `sweep.tiers.cloud.link.latency`
    // names the entry `tiers.cloud.link.latency` of `sweep`.
    let parts: Vec<&str> = match key.strip_prefix("sweep.") {
        Some(rest) => vec!["sweep", rest],
        None => key.split('.').collect(),
    };
    if parts.iter().any(|p| p.is_empty()) {
        return Err(super::Invalid(format!("invalid key {key:?} (expected a dotted path such as load.rate)")));
    }
    let mut node = root;
    for (i, part) in parts.iter().enumerate() {
        if node.is_null() {
            *node = Value::Mapping(Mapping::new());
        }
        // A list of named items (device groups): `devices.cameras.count`.
        if let Value::Sequence(items) = node {
            let name = Value::String(part.to_string());
            let Some(item) = items.iter_mut().find(|v| v.get("name") == Some(&name)) else {
                return Err(super::Invalid(format!("{} has no item named {part:?}", parts[..i].join("."))));
            };
            if i + 1 == parts.len() {
                return Err(super::Invalid(format!("{key} names a whole group: set one of its keys")));
            }
            node = item;
            continue;
        }
        let Value::Mapping(map) = node else {
            return Err(super::Invalid(format!("{} is not a mapping", parts[..i].join("."))));
        };
        let k = Value::String(part.to_string());
        if i + 1 == parts.len() {
            map.insert(k, new);
            return Ok(());
        }
        node = map.entry(k).or_insert(Value::Null);
    }
    Ok(())
}

struct Source<'a> {
    path: &'a Path,
    text: &'a str,
    /// `(key, "KEY=VALUE")` of each `--set`, to name it in errors.
    overridden: Vec<(String, String)>,
}

impl Source<'_> {
    fn error(&self, key: Option<&str>, origin: Option<&str>, message: String) -> ScenarioError {
        let location = match (key, origin) {
            (Some(k), None) => locate_nearest(self.text, k),
            // A sweep point's bad value: point at the sweep entry that produced it.
            (Some(k), Some(o)) if o.starts_with("sweep point") && o.contains(&format!("{k}=")) => {
                locate(self.text, &["sweep", k])
            }
            _ => None,
        };
        ScenarioError {
            file: self.path.to_path_buf(),
            location,
            key: key.map(str::to_string),
            origin: origin.map(str::to_string),
            message,
        }
    }

    fn yaml_error(&self, key: Option<String>, e: serde_yaml::Error) -> ScenarioError {
        let key = key.filter(|k| !k.is_empty() && k != "." && k != "?");
        // serde_yaml points at a bad value, but at the start of the block
        // mapping that holds it for some (a duration, say): the key's own
        // line then, where the file has the key.
        let reported = e.location().map(|l| (l.line(), l.column()));
        let exact = key.as_deref().and_then(|k| locate(self.text, &split_key(k)));
        let location = match (reported, exact) {
            (Some(r), Some(k)) if r.0 != k.0 => Some(k),
            (r, k) => r.or(k),
        };
        ScenarioError {
            file: self.path.to_path_buf(),
            location,
            message: clean_message(&e.to_string(), key.as_deref()),
            key,
            origin: None,
        }
    }

    fn deserialize_text(&self) -> Result<ScenarioFile, ScenarioError> {
        let de = serde_yaml::Deserializer::from_str(self.text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            self.yaml_error(Some(key), e.into_inner())
        })
    }

    fn deserialize_value(&self, value: &Value, origin: Option<&str>) -> Result<ScenarioFile, ScenarioError> {
        serde_path_to_error::deserialize(value.clone()).map_err(|e| {
            let key = e.path().to_string();
            let key = (!key.is_empty() && key != "." && key != "?").then_some(key);
            let message = clean_message(&e.into_inner().to_string(), key.as_deref());
            self.error(key.as_deref(), origin, message)
        })
    }

    fn apply_override(&mut self, value: &mut Value, item: &str) -> Result<(), ScenarioError> {
        let origin = format!("--set {item}");
        let Some((key, raw)) = item.split_once('=') else {
            return Err(self.error(None, Some(&origin), "expected KEY=VALUE".into()));
        };
        if raw.trim().is_empty() {
            return Err(self.error(
                Some(key),
                Some(&origin),
                "no value after `=` (e.g. --set load.duration=2s)".into(),
            ));
        }
        let new: Value = serde_yaml::from_str(raw)
            .map_err(|e| self.error(Some(key), Some(&origin), clean_message(&e.to_string(), Some(key))))?;
        set_path(value, key, new).map_err(|m| self.error(Some(key), Some(&origin), m.0))?;
        // Check now, so the message names the override rather than the file.
        self.deserialize_value(value, Some(&origin))?;
        self.overridden.push((key.to_string(), item.to_string()));
        Ok(())
    }

    fn sweep_axes(&self, sweep: &Mapping) -> Result<Vec<Axis>, ScenarioError> {
        let mut axes = Vec::new();
        let mut total = 1usize;
        for (k, v) in sweep {
            let Value::String(key) = k else {
                return Err(self.error(Some("sweep"), None, "sweep keys must be dotted key paths".into()));
            };
            if UNSWEEPABLE.contains(&key.split('.').next().unwrap_or_default()) {
                return Err(self.sweep_error(key, format!("{key} cannot be swept")));
            }
            let values = match v {
                Value::Sequence(seq) if !seq.is_empty() => seq.clone(),
                Value::Sequence(_) => return Err(self.sweep_error(key, "needs at least one value".into())),
                _ => return Err(self.sweep_error(key, "expected a list of values, e.g. [10ms, 50ms]".into())),
            };
            total = total.saturating_mul(values.len());
            axes.push(Axis { key: key.clone(), values });
        }
        if total > MAX_POINTS {
            return Err(self.error(
                Some("sweep"),
                None,
                format!("the sweep has {total} points (at most {MAX_POINTS})"),
            ));
        }
        Ok(axes)
    }

    fn sweep_error(&self, key: &str, message: String) -> ScenarioError {
        let mut e = self.error(None, None, message);
        e.location = locate(self.text, &["sweep", key]);
        e.key = Some(format!("sweep.{key}"));
        e
    }

    /// `--set KEY=VALUE` of the last override that set `key` or a key above it.
    fn set_origin(&self, key: &str) -> Option<String> {
        self.overridden
            .iter()
            .rev()
            .find(|(k, _)| key == *k || key.starts_with(&format!("{k}.")))
            .map(|(_, item)| format!("--set {item}"))
    }

    fn key_error(&self, e: KeyError, origin: Option<&str>) -> ScenarioError {
        let set = self.set_origin(&e.key);
        self.error(Some(&e.key), origin.or(set.as_deref()), e.problem.to_string())
    }
}

/// The location of `key`, or of its nearest enclosing key that the file has.
fn locate_nearest(text: &str, key: &str) -> Option<(usize, usize)> {
    let key = group_indexed(text, key);
    let parts = split_key(&key);
    (1..=parts.len()).rev().find_map(|n| locate(text, &parts[..n]))
}

/// A device group's key by its place in the list, as `locate` finds it:
/// `devices.cameras.count` → `devices[1].count`.
fn group_indexed(text: &str, key: &str) -> String {
    let Some(rest) = key.strip_prefix("devices.") else { return key.to_string() };
    let (name, tail) = rest.split_once('.').unwrap_or((rest, ""));
    let Ok(value) = serde_yaml::from_str::<Value>(text) else { return key.to_string() };
    let Some(Value::Sequence(groups)) = value.get("devices") else { return key.to_string() };
    match groups.iter().position(|g| g.get("name").and_then(Value::as_str) == Some(name)) {
        Some(i) if tail.is_empty() => format!("devices[{i}]"),
        Some(i) => format!("devices[{i}].{tail}"),
        None => key.to_string(),
    }
}

fn split_key(key: &str) -> Vec<&str> {
    key.split('.').collect()
}

/// serde_yaml appends "at line L column C" and may prefix the key path; the
/// error prints both up front instead.
fn clean_message(message: &str, key: Option<&str>) -> String {
    let mut m = match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    if let (Some(key), Some((prefix, rest))) = (key, m.split_once(": ")) {
        if key == prefix || key.starts_with(&format!("{prefix}.")) {
            m = rest;
        }
    }
    // serde's words for an empty value.
    let unit = m.replace("invalid type: unit value", "no value");
    let m = unit.as_str();
    // "expected struct LoadFile" names our types, not the user's file.
    let m = match m.find("expected struct ") {
        Some(i) => format!("{}expected a mapping", &m[..i]),
        None => m.to_string(),
    };
    match near_miss(&m) {
        Some(name) => format!("{m}; did you mean `{name}`?"),
        None => m,
    }
}

/// For serde's "unknown field `X`, expected one of `a`, `b`…" (or
/// "expected `a`"), the expected name at most two edits from `X`.
fn near_miss(message: &str) -> Option<&str> {
    let rest = message.split_once("unknown field `")?.1;
    let (unknown, expected) = rest.split_once("`, expected ")?;
    let names = expected.split('`').skip(1).step_by(2);
    let (best, distance) = names.map(|n| (n, crate::math::edit_distance(unknown, n))).min_by_key(|(_, d)| *d)?;
    (distance <= 2).then_some(best)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unknown_key_near_a_known_one_is_suggested() {
        let m = "unknown field `durtion`, expected one of `rate`, `duration`, `warmup`";
        assert_eq!(super::near_miss(m), Some("duration"));
        assert_eq!(super::near_miss("unknown field `tier`, expected `tiers`"), Some("tiers"));
        assert_eq!(super::near_miss("unknown field `xyz`, expected one of `rate`, `duration`"), None);
        assert_eq!(super::near_miss("invalid type: string, expected a duration"), None);
    }
}
