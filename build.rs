//! Records the git commit and the versions of the inference crates for the manifest.

use std::process::Command;

fn locked_version(lock: &str, name: &str) -> String {
    let needle = format!("name = \"{name}\"\nversion = \"");
    lock.find(&needle).and_then(|i| lock[i + needle.len()..].split('"').next()).unwrap_or("unknown").to_string()
}

fn main() {
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    for (var, name) in [
        ("SIMRUN_CANDLE_VERSION", "candle-core"),
        ("SIMRUN_ORT_CRATE_VERSION", "ort"),
        ("SIMRUN_RUMQTTC_VERSION", "rumqttc"),
    ] {
        println!("cargo:rustc-env={var}={}", locked_version(&lock, name));
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    // `--no-optional-locks`: a plain `git status` rewrites .git/index in a
    // fresh clone (it refreshes racily clean entries), which the line below
    // watches, so the next build (the README's second command after the
    // first) would run this script again and recompile simrun for nothing.
    let dirty = Command::new("git")
        .args(["--no-optional-locks", "status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success() && !o.stdout.is_empty())
        .is_some();
    println!("cargo:rustc-env=SIMRUN_GIT_COMMIT={commit}{}", if dirty { "-dirty" } else { "" });
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}
