//! The house rules of `src/`, checked: the layering ARCHITECTURE.md
//! documents, functions of at most 80 lines, errors that are types rather
//! than strings, and exit codes chosen only where the error types are.

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

/// The uses ARCHITECTURE.md forbids although the layers would allow them:
/// `- never: a, b → c` (module, forbidden module) pairs.
fn forbidden() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md")).unwrap();
    let mut out = Vec::new();
    for line in doc.lines() {
        let Some(rest) = line.strip_prefix("- never: ") else { continue };
        let (users, used) = rest.split_once('→').expect("`- never: a, b → c`");
        for u in users.split(',') {
            out.push((u.trim().to_string(), used.trim().to_string()));
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

fn src_files() -> (std::path::PathBuf, Vec<(std::path::PathBuf, String)>) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let texts = files.into_iter().map(|f| (f.clone(), std::fs::read_to_string(&f).unwrap())).collect();
    (src, texts)
}

/// Each `fn` item of `text` with its first line and length in lines, from
/// its signature to the closing brace at its own indentation.
fn function_lengths(text: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let item = ["fn ", "pub fn ", "async fn ", "pub async fn ", "pub(crate) fn ", "pub(super) fn ", "const fn "]
            .iter()
            .any(|p| trimmed.starts_with(p));
        if !item || trimmed.ends_with(';') {
            continue;
        }
        let indent = &line[..line.len() - trimmed.len()];
        let close = format!("{indent}}}");
        if let Some(end) = (i + 1..lines.len()).find(|&j| lines[j] == close) {
            let name = trimmed.split('(').next().unwrap_or(trimmed).to_string();
            out.push((i + 1, name, end - i + 1));
        }
    }
    out
}

#[test]
fn no_function_is_over_80_lines() {
    let (_, files) = src_files();
    let mut long = Vec::new();
    for (file, text) in &files {
        for (line, name, len) in function_lengths(text) {
            if len > 80 {
                long.push(format!("{}:{line}: {name} has {len} lines", file.display()));
            }
        }
    }
    assert!(long.is_empty(), "split these along their stages:\n{}", long.join("\n"));
}

/// Functions gather just under any one limit: past 60 lines a few may stay
/// (a `Display` that is one arm per variant, a hand-built test report), no more.
#[test]
fn at_most_five_functions_are_over_60_lines() {
    let (_, files) = src_files();
    let mut long = Vec::new();
    for (file, text) in &files {
        for (line, name, len) in function_lengths(text).into_iter().filter(|f| f.2 > 60) {
            long.push(format!("{}:{line}: {name} has {len} lines", file.display()));
        }
    }
    assert!(
        long.len() <= 5,
        "{} functions over 60 lines; split some along their stages:\n{}",
        long.len(),
        long.join("\n")
    );
}

#[test]
fn errors_are_types_and_exit_codes_are_chosen_in_one_place() {
    let (src, files) = src_files();
    let mut found = Vec::new();
    for (file, text) in &files {
        let rel = file.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            // `Result<T, String>` (a map's `String, String>` is not one).
            let string_error =
                code.contains("Result<") && code.contains(", String>") && !code.contains("String, String>");
            if string_error {
                found.push(format!("{rel}:{}: an error as a String: {}", i + 1, line.trim()));
            }
            // Below the command line errors are types; anyhow gathers them only in cli/.
            if code.contains("anyhow") && !rel.starts_with("cli/") && rel != "main.rs" {
                found.push(format!("{rel}:{}: anyhow below the command line: {}", i + 1, line.trim()));
            }
            let chooses_code = code.contains("ExitCode::") && !code.contains("ExitCode::code");
            if chooses_code && rel != "exit_code.rs" && rel != "cli/failure.rs" {
                found.push(format!("{rel}:{}: an exit code chosen outside the error types: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_length_check_measures_a_function() {
    let text = "fn a() {\n    x();\n}\n\n    pub async fn b(\n        y: u8,\n    ) {\n    }\nfn c();\n";
    let got = function_lengths(text);
    assert_eq!(got, [(1, "fn a".to_string(), 3), (5, "pub async fn b".to_string(), 4)]);
}

#[test]
fn no_module_uses_one_above_or_beside_it() {
    let layers = layers();
    assert!(layers.len() >= 10 && layers.contains_key("run") && layers.contains_key("cli"), "{layers:?}");
    let forbidden = forbidden();
    assert!(forbidden.contains(&("report".into(), "run".into())), "{forbidden:?}");
    let (src, files) = src_files();
    let mut violations = Vec::new();
    for (file, text) in &files {
        let Some(module) = module_of(&src, file) else { continue };
        let Some(&own) = layers.get(&module) else {
            violations.push(format!("{}: module `{module}` is in no layer of ARCHITECTURE.md", file.display()));
            continue;
        };
        for (line, used) in crate_uses(text) {
            if used == module {
                continue;
            }
            let never = forbidden.contains(&(module.clone(), used.clone()));
            match layers.get(&used) {
                Some(_) if never => violations.push(format!(
                    "{}:{line}: `{module}` uses `{used}`, which ARCHITECTURE.md forbids",
                    file.display()
                )),
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
