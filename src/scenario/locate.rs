//! Finds the line and column of a dotted key path in YAML text.
//!
//! serde_yaml reports positions only for errors raised while reading text;
//! checks made later (a missing model file, a sweep key) use this to point
//! at the key. It understands block mappings and one level of flow mapping
//! (`link: { latency: 50ms }`), which is what scenario files use.

/// 1-based `(line, column)` of the last key of `path`, if found.
pub fn locate(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0usize;
    let mut parent_indent: Option<usize> = None;
    let mut found: Option<(usize, usize)> = None;
    for key in path {
        if let Some((line, col)) = found {
            // The parent may hold a flow mapping on its own line.
            if let Some(c) = find_in_flow(lines[line], key, col) {
                return Some((line + 1, c + 1)).filter(|_| *key == path[path.len() - 1]);
            }
        }
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(start) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if parent_indent.is_some_and(|p| indent <= p) {
                break;
            }
            let unquoted = trimmed.trim_start_matches(['"', '\'']);
            if unquoted.starts_with(key) && unquoted[key.len()..].trim_start_matches(['"', '\'']).starts_with(':') {
                hit = Some((i, indent));
                break;
            }
        }
        let (i, indent) = hit?;
        found = Some((i, indent));
        parent_indent = Some(indent);
        start = i + 1;
    }
    found.map(|(line, col)| (line + 1, col + 1))
}

fn find_in_flow(line: &str, key: &str, from: usize) -> Option<usize> {
    let open = line[from..].find('{')? + from;
    let mut pos = open;
    while let Some(off) = line[pos..].find(key) {
        let at = pos + off;
        let before = line[..at].trim_end().chars().last();
        let after = line[at + key.len()..].trim_start().chars().next();
        if matches!(before, Some('{') | Some(',')) && after == Some(':') {
            return Some(at);
        }
        pos = at + key.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::locate;

    const TEXT: &str = "name: x\nload:\n  rate: 5/s\n  # comment\n  duration: 2s\ntiers:\n  edge:\n    model: a.onnx\n    link: { latency: 5ms }\n  cloud:\n    model: b\nsweep:\n  tiers.cloud.link.latency: [1ms]\n";

    #[test]
    fn finds_block_keys() {
        assert_eq!(locate(TEXT, &["name"]), Some((1, 1)));
        assert_eq!(locate(TEXT, &["load", "duration"]), Some((5, 3)));
        assert_eq!(locate(TEXT, &["tiers", "cloud", "model"]), Some((11, 5)));
        assert_eq!(locate(TEXT, &["sweep", "tiers.cloud.link.latency"]), Some((13, 3)));
    }

    #[test]
    fn finds_flow_keys() {
        assert_eq!(locate(TEXT, &["tiers", "edge", "link", "latency"]), Some((9, 13)));
    }

    #[test]
    fn does_not_leave_the_parent_block() {
        assert_eq!(locate(TEXT, &["load", "model"]), None);
        assert_eq!(locate(TEXT, &["tiers", "edge", "duration"]), None);
        assert_eq!(locate(TEXT, &["nope"]), None);
    }
}
