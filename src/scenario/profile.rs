//! Device profiles (`compute.profile`): a slowdown per model class from
//! published per-device benchmark figures, read from `profiles/devices.yaml`
//! (shipped inside the binary) or from a file of the user's in its layout.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use thiserror::Error;

use crate::plan::ProfileChoice;

/// The shipped table, as a data file: figures change there, not in code.
const SHIPPED: &str = include_str!("../../profiles/devices.yaml");

/// A profile that cannot be used, with what would be.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{message}")]
pub struct ProfileError {
    /// The model class is at fault (`compute.class`), not the profile.
    pub class: bool,
    message: String,
}

impl ProfileError {
    /// A fault of the profile (or its file), not of the class.
    fn new(message: String) -> ProfileError {
        ProfileError { class: false, message }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    /// Where the figures come from, for the report.
    source: String,
    reference: Device,
    profiles: BTreeMap<String, Device>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Device {
    device: String,
    /// Where in the source this device's figures are (a heading): for the
    /// reader of the file.
    #[serde(default, rename = "section")]
    _section: Option<String>,
    /// The board's power draw, with its source, when the table gives it.
    #[serde(default)]
    power: Option<PowerEntry>,
    /// Milliseconds per inference, per model class.
    ms: BTreeMap<String, f64>,
}

/// A profile's `power`: watts idle and with all cores busy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PowerEntry {
    idle_w: f64,
    active_w: f64,
    cores: u32,
    source: String,
}

impl PowerEntry {
    fn checked(&self) -> Result<crate::plan::Power, ProfileError> {
        let ok = |w: f64| w.is_finite() && (0.0..=crate::plan::MAX_FIGURE).contains(&w);
        if !ok(self.idle_w) || !ok(self.active_w) || self.active_w < self.idle_w || self.cores == 0 {
            return Err(ProfileError::new(format!(
                "power: idle_w and active_w are watts from 0 to {}, active at least idle, cores at least 1; \
                 got {} W, {} W, {} cores",
                crate::plan::MAX_FIGURE,
                self.idle_w,
                self.active_w,
                self.cores
            )));
        }
        Ok(crate::plan::Power {
            idle_w: self.idle_w,
            active_w: self.active_w,
            cores: self.cores,
            source: self.source.clone(),
        })
    }
}

/// The names of the shipped profiles.
pub fn shipped_names() -> Vec<String> {
    shipped().map(|t| t.profiles.into_keys().collect()).unwrap_or_default()
}

fn shipped() -> Result<Table, ProfileError> {
    serde_yaml::from_str(SHIPPED).map_err(|e| ProfileError::new(format!("the shipped profiles/devices.yaml: {e}")))
}

/// Resolves `spec` (`raspberry-pi-4`, or `FILE.yaml#NAME` relative to the
/// scenario) and `class` (a model class of the profile, or the median of all
/// of them) to a slowdown.
pub fn resolve(spec: &str, class: Option<&str>, scenario_path: &Path) -> Result<ProfileChoice, ProfileError> {
    let (table, name, file) = match spec.split_once('#') {
        Some((file, name)) => {
            let path = scenario_path.parent().unwrap_or(Path::new(".")).join(file);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ProfileError::new(format!("cannot read profile file {}: {e}", path.display())))?;
            let table: Table = serde_yaml::from_str(&text)
                .map_err(|e| ProfileError::new(format!("profile file {}: {e}", path.display())))?;
            (table, name, Some(file))
        }
        None => (shipped()?, spec, None),
    };
    let Some(device) = table.profiles.get(name) else {
        let known: Vec<&str> = table.profiles.keys().map(String::as_str).collect();
        let place = file.map_or("simrun's profiles (profiles/devices.yaml)".to_string(), |f| f.to_string());
        return Err(ProfileError::new(format!("unknown profile {name:?}; {place} has: {}", known.join(", "))));
    };
    let ratios =
        ratios(device, &table.reference).map_err(|m| ProfileError::new(format!("profile {name:?}: {}", m.message)))?;
    let slowdown = match class {
        Some(c) => *ratios.get(c).ok_or_else(|| {
            let known: Vec<&str> = ratios.keys().map(String::as_str).collect();
            let message = format!("profile {name:?} has no figure for class {c:?}; it has: {}", known.join(", "));
            ProfileError { class: true, message }
        })?,
        // `ratios` has at least one class (it refuses none in common).
        None => crate::math::median(&ratios.values().copied().collect::<Vec<_>>()).unwrap_or(1.0),
    };
    let source = format!("{} against {}; {}", device.device, table.reference.device, table.source);
    let power = match &device.power {
        Some(p) => Some(p.checked().map_err(|e| ProfileError::new(format!("profile {name:?}: {}", e.message)))?),
        None => None,
    };
    Ok(ProfileChoice { name: spec.to_string(), class: class.map(str::to_string), slowdown, source, power })
}

/// Device time ÷ reference time for every class both have; each must be at
/// least 1, since this host cannot be made faster.
fn ratios(device: &Device, reference: &Device) -> Result<BTreeMap<String, f64>, ProfileError> {
    let mut out = BTreeMap::new();
    for (class, ms) in &device.ms {
        let Some(base) = reference.ms.get(class) else { continue };
        if !(ms.is_finite() && base.is_finite() && *ms > 0.0 && *base > 0.0) {
            return Err(ProfileError::new(format!("class {class:?}: times must be positive, got {ms} and {base}")));
        }
        let k = ms / base;
        if k < 1.0 {
            return Err(ProfileError::new(format!(
                "class {class:?}: the device ({ms} ms) is faster than the reference ({base} ms); a slowdown is at least 1"
            )));
        }
        out.insert(class.clone(), k);
    }
    if out.is_empty() {
        return Err(ProfileError::new("no model class in common with the reference".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_gives_the_published_ratios() {
        let here = Path::new("scenario.yaml");
        // Raspberry Pi 4 against the Ryzen 5700G, one thread (REFERENCES.md): squeezenet 10.9×, efficientnet_b0 5.7×.
        let pi = resolve("raspberry-pi-4", Some("squeezenet"), here).unwrap();
        assert!((pi.slowdown - 10.92).abs() < 0.01, "{pi:?}");
        let eff = resolve("raspberry-pi-4", Some("efficientnet_b0"), here).unwrap();
        assert!((eff.slowdown - 5.66).abs() < 0.01, "{eff:?}");
        let median = resolve("raspberry-pi-4", None, here).unwrap();
        assert!(median.slowdown > 8.0 && median.slowdown < 11.0, "{median:?}");
        assert!(median.source.contains("Raspberry Pi 4") && median.source.contains("Tencent/ncnn"), "{median:?}");
        for name in shipped_names() {
            let p = resolve(&name, None, here).unwrap();
            assert!(p.slowdown >= 1.0, "{p:?}");
        }
        assert!(shipped_names().len() >= 6);
    }

    #[test]
    fn unknown_profiles_and_classes_list_the_known_ones() {
        let here = Path::new("scenario.yaml");
        let e = resolve("raspberry-pi-9", None, here).unwrap_err().message;
        assert!(
            e.contains("unknown profile \"raspberry-pi-9\"") && e.contains("raspberry-pi-4, raspberry-pi-5"),
            "{e}"
        );
        let e = resolve("raspberry-pi-4", Some("bert"), here).unwrap_err().message;
        assert!(e.contains("no figure for class \"bert\"") && e.contains("squeezenet"), "{e}");
        let e = resolve("nowhere.yaml#pi", None, here).unwrap_err().message;
        assert!(e.contains("cannot read profile file nowhere.yaml"), "{e}");
    }

    #[test]
    fn a_users_own_profile_file_is_read_relative_to_the_scenario() {
        let dir = tempfile::tempdir().unwrap();
        let text = "source: \"simrun bench model, 10 s\"\nreference:\n  device: \"lab VM\"\n  ms: { my_model: 0.25 }\n\
                    profiles:\n  field-pi:\n    device: \"Pi 4 in the enclosure\"\n    ms: { my_model: 2.0 }\n";
        std::fs::write(dir.path().join("mine.yaml"), text).unwrap();
        let scenario = dir.path().join("scenario.yaml");
        let p = resolve("mine.yaml#field-pi", Some("my_model"), &scenario).unwrap();
        assert!((p.slowdown - 8.0).abs() < 1e-9, "{p:?}");
        assert_eq!(p.source, "Pi 4 in the enclosure against lab VM; simrun bench model, 10 s");
        let e = resolve("mine.yaml#other", None, &scenario).unwrap_err().message;
        assert!(e.contains("unknown profile \"other\"; mine.yaml has: field-pi"), "{e}");
    }

    #[test]
    fn a_device_faster_than_the_reference_is_refused() {
        let reference =
            Device { device: "host".into(), _section: None, power: None, ms: [("m".to_string(), 2.0)].into() };
        let device = Device { device: "fast".into(), _section: None, power: None, ms: [("m".to_string(), 1.0)].into() };
        assert!(ratios(&device, &reference).unwrap_err().message.contains("faster than the reference"));
    }
}
