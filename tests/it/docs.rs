//! The docs a newcomer reads: a README of a few screens that links every page
//! under docs/, and relative links that lead somewhere.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    crate::common::root()
}

/// The targets of markdown links and images in `text`: `](target)`.
fn link_targets(text: &str) -> Vec<String> {
    text.split("](").skip(1).filter_map(|rest| rest.split_once(')')).map(|(t, _)| t.to_string()).collect()
}

/// Relative targets without their `#anchor`, resolved against `base`.
fn local_files(base: &Path, text: &str) -> Vec<(String, PathBuf)> {
    link_targets(text)
        .into_iter()
        .filter(|t| !t.contains("://") && !t.starts_with('#') && !t.starts_with("mailto:"))
        .map(|t| {
            let file = t.split('#').next().unwrap_or_default().to_string();
            let path = base.join(&file);
            (t, path)
        })
        .collect()
}

#[test]
fn the_readme_is_a_few_screens_and_links_every_page_of_the_docs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.len() < 10 * 1024, "README.md is {} bytes; keep it under 10 KB", readme.len());
    let linked: Vec<String> = link_targets(&readme);
    assert!(linked.len() > 10, "the link reader reads links: {linked:?}");
    for entry in std::fs::read_dir(root().join("docs")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(".md") || name.ends_with(".json")) {
            continue;
        }
        let target = format!("docs/{name}");
        assert!(
            linked.iter().any(|l| l.split('#').next() == Some(target.as_str())),
            "README.md does not link {target}"
        );
    }
}

#[test]
fn every_relative_link_in_the_docs_leads_to_a_file() {
    let mut pages = vec![root().join("README.md"), root().join("ARCHITECTURE.md"), root().join("CHANGELOG.md")];
    for entry in std::fs::read_dir(root().join("docs")).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "md") {
            pages.push(entry.path());
        }
    }
    let (mut broken, mut checked) = (Vec::new(), 0);
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for (target, path) in local_files(page.parent().unwrap(), &text) {
            // Placeholders in prose (`](target)`, `](plots/….svg)`) are not links to check.
            if target.is_empty() || target.contains('…') || target.contains('<') || target == "target" {
                continue;
            }
            checked += 1;
            if !path.exists() {
                broken.push(format!("{}: {target}", page.strip_prefix(root()).unwrap().display()));
            }
        }
    }
    assert!(checked > 30, "only {checked} relative links found: the reader is broken");
    assert!(broken.is_empty(), "links to nothing:\n{}", broken.join("\n"));
}
