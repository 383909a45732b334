//! Whether two runs' scenarios and models may be compared at all.

use super::*;

/// What differs between the runs beyond swept values and where they ran.
pub fn scenario_differences(a: &RunFolder, b: &RunFolder) -> Result<Vec<String>, DiffError> {
    let mut out = Vec::new();
    let (ka, kb) = (&a.report.swept_keys, &b.report.swept_keys);
    if ka != kb {
        out.push(format!("swept keys: [{}] vs [{}]", ka.join(", "), kb.join(", ")));
    }
    let mut ignore: Vec<String> = PER_RUN_KEYS.iter().map(|k| k.to_string()).collect();
    ignore.push("sweep".into());
    ignore.push("repetitions".into());
    ignore.extend(ka.iter().chain(kb).cloned());
    out.extend(differences(a, b, &ignore)?);
    Ok(out)
}

/// What differs between two runs' scenarios, key by key (skipping `ignore`d
/// keys and everything under them), and between their model files. `diff`
/// and `merge` both refuse runs that differ where it matters to them.
pub fn differences(a: &RunFolder, b: &RunFolder, ignore: &[String]) -> Result<Vec<String>, DiffError> {
    let diffs = crate::scenario::differences(&a.scenario_yaml, &b.scenario_yaml, ignore)
        .map_err(|e| DiffError::Scenario { a: a.path.clone(), b: b.path.clone(), error: e.to_string() })?;
    let mut out: Vec<String> = diffs.iter().map(|d| d.to_string()).collect();
    for tier in Tier::ALL {
        let hash = |f: &RunFolder| f.report.manifest.models.iter().find(|m| m.tier == tier).map(|m| m.sha256.clone());
        if let (Some(x), Some(y)) = (hash(a), hash(b)) {
            if x != y {
                out.push(format!("{tier} model SHA-256: {}… vs {}…", &x[..12.min(x.len())], &y[..12.min(y.len())]));
            }
        }
    }
    // The input's description holds its data file's digest: the same path with other rows is another input.
    if let (Some(x), Some(y)) = (&a.report.manifest.input, &b.report.manifest.input) {
        if x != y {
            out.push(format!("devices' input: {x} vs {y}"));
        }
    }
    Ok(out)
}
