//! Finds the line and column of a dotted key path in YAML text.
//!
//! serde_yaml reports positions only for errors raised while reading text;
//! checks made later (a missing model file, a sweep key) use this to point
//! at the key. It understands block mappings and one level of flow mapping
//! (`link: { latency: 50ms }`), which is what scenario files use, and list
//! items named `key[i]` (`slo[0].max`).

/// 1-based `(line, column)` of the last key of `path`, if found.
pub fn locate(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    // An empty key (`slo[1].` from a damaged file) names nothing.
    if path.is_empty() || path.iter().any(|k| split_index(k).0.is_empty()) {
        return None;
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0usize;
    let mut parent_indent: Option<usize> = None;
    let mut found: Option<(usize, usize)> = None;
    for (n, full_key) in path.iter().enumerate() {
        let last = n + 1 == path.len();
        let (key, item) = split_index(full_key);
        if let Some((line, col)) = found {
            // The parent may hold a flow mapping on its own line.
            if let Some(c) = find_in_flow(lines[line], key, col) {
                return Some((line + 1, c + 1)).filter(|_| last && item.is_none());
            }
            // A list item's first key shares the dash's line: `- tier: edge`.
            if lines[line][col..].starts_with("- ") && key_at(&lines[line][col + 2..], key) {
                if last && item.is_none() {
                    return Some((line + 1, col + 3));
                }
                found = Some((line, col + 2));
                parent_indent = Some(col + 2);
                start = line + 1;
                continue;
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
            if key_at(trimmed, key) {
                hit = Some((i, indent));
                break;
            }
        }
        let (mut i, mut indent) = hit?;
        if let Some(wanted) = item {
            // The wanted'th `-` line below the key, deeper than it.
            let mut seen = 0;
            let mut at = None;
            for (j, line) in lines.iter().enumerate().skip(i + 1) {
                let trimmed = line.trim_start();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    continue;
                }
                let ind = line.len() - trimmed.len();
                if ind <= indent && !(ind == indent && trimmed.starts_with('-')) {
                    break;
                }
                if trimmed.starts_with('-') {
                    if seen == wanted {
                        at = Some((j, ind));
                        break;
                    }
                    seen += 1;
                }
            }
            (i, indent) = at?;
        }
        found = Some((i, indent));
        parent_indent = Some(indent);
        start = i + 1;
    }
    found.map(|(line, col)| (line + 1, col + 1))
}

/// `slo[2]` → (`slo`, Some(2)).
fn split_index(key: &str) -> (&str, Option<usize>) {
    match key.strip_suffix(']').and_then(|k| k.split_once('[')) {
        Some((name, i)) => match i.parse() {
            Ok(i) => (name, Some(i)),
            Err(_) => (key, None),
        },
        None => (key, None),
    }
}

/// True when `text` (a line without its indent) starts with `key:`, quoted or not.
fn key_at(text: &str, key: &str) -> bool {
    let unquoted = text.trim_start_matches(['"', '\'']);
    unquoted.starts_with(key) && unquoted[key.len()..].trim_start_matches(['"', '\'']).starts_with(':')
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
        pos = at + key.len().max(1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::locate;

    const TEXT: &str = "name: x\nload:\n  rate: 5/s\n  # comment\n  duration: 2s\ntiers:\n  edge:\n    model: a.onnx\n    link: { latency: 5ms }\n  cloud:\n    model: b\nsweep:\n  tiers.cloud.link.latency: [1ms]\n";

    #[test]
    fn an_empty_key_names_nothing() {
        // From a fuzzed file whose error path ended in `slo[1].`; this used to loop.
        let text = "slo:\n  - { tier: edge, metric: p99, max: 20ms }\n  - { tier: cloud,\n";
        assert_eq!(locate(text, &["slo[1]", ""]), None);
        assert_eq!(locate(text, &[]), None);
    }

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
    fn finds_list_items() {
        let text = "name: x\nslo:\n  - { tier: edge, metric: p99, max: 20ms }\n  - tier: cloud\n    metric: p50\n    max: 5ms\nload: {}\n";
        assert_eq!(locate(text, &["slo[0]", "max"]), Some((3, 32)));
        assert_eq!(locate(text, &["slo[1]", "tier"]), Some((4, 5)));
        assert_eq!(locate(text, &["slo[1]", "max"]), Some((6, 5)));
        assert_eq!(locate(text, &["slo[2]", "max"]), None);
        let dash_at_parent_indent = "slo:\n- metric: p99\n  max: 1ms\n";
        assert_eq!(locate(dash_at_parent_indent, &["slo[0]", "max"]), Some((3, 3)));
    }

    #[test]
    fn does_not_leave_the_parent_block() {
        assert_eq!(locate(TEXT, &["load", "model"]), None);
        assert_eq!(locate(TEXT, &["tiers", "edge", "duration"]), None);
        assert_eq!(locate(TEXT, &["nope"]), None);
    }
}
