//! The layering ARCHITECTURE.md documents, checked against every `crate::`
//! path in `src/`.

use std::collections::BTreeMap;
use std::path::Path;

fn layers() -> BTreeMap<String, usize> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md")).unwrap();
    let mut out = BTreeMap::new();
    for line in doc.lines() {
        let Some(rest) = line.strip_prefix("- layer ") else { continue };
        let (n, modules) = rest.split_once(':').expect("`- layer N: a, b`");
        for m in modules.split(',') {
            out.insert(m.trim().to_string(), n.trim().parse::<usize>().unwrap());
        }
    }
    out
}

/// The top-level module a file of `src/` belongs to.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let first = file.strip_prefix(src).ok()?.components().next()?.as_os_str().to_str()?.to_string();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_string();
    (name != "lib" && name != "main").then_some(name)
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::name` in the code (not in comments) of `text`.
fn crate_uses(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            out.push((i + 1, name));
        }
    }
    out
}

#[test]
fn no_module_uses_one_above_or_beside_it() {
    let layers = layers();
    assert!(layers.len() >= 10 && layers.contains_key("run") && layers.contains_key("cli"), "{layers:?}");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else { continue };
        let Some(&own) = layers.get(&module) else {
            violations.push(format!("{}: module `{module}` is in no layer of ARCHITECTURE.md", file.display()));
            continue;
        };
        for (line, used) in crate_uses(&std::fs::read_to_string(file).unwrap()) {
            if used == module {
                continue;
            }
            match layers.get(&used) {
                Some(&l) if l < own => {}
                Some(&l) => violations
                    .push(format!("{}:{line}: `{module}` (layer {own}) uses `{used}` (layer {l})", file.display())),
                None => violations.push(format!("{}:{line}: `{used}` is in no layer", file.display())),
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_check_sees_a_use_and_skips_a_comment() {
    let uses = crate_uses("use crate::run::X; // crate::cli\n    crate::stats::f(crate::plan::Tier::Edge)");
    let names: Vec<_> = uses.iter().map(|(l, n)| (*l, n.as_str())).collect();
    assert_eq!(names, [(1, "run"), (2, "stats"), (2, "plan")]);
}
