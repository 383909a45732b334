//! Finds and loads the ONNX Runtime shared library once per process.
//!
//! `ort` is built with `load-dynamic`: nothing is downloaded at build time. The
//! library comes from the PyPI wheel `onnxruntime`, installed by `scripts/setup`
//! into `.deps/onnxruntime/`. Search order: `SIMRUN_ORT_DYLIB`, `ORT_DYLIB_PATH`,
//! `.deps/` under the working directory, beside the executable's project, or the
//! source tree it was built from, then an `onnxruntime` package of `python3`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::BackendError;

const LIB_NAME: &str = "libonnxruntime.so.1.31.1";
const DEPS_SUBDIR: &str = ".deps/onnxruntime/onnxruntime/capi";

/// Why ONNX Runtime could not be loaded, kept to answer every later call.
#[derive(Debug, Clone)]
struct LoadFailure(String);

static ENVIRONMENT: OnceLock<Result<(PathBuf, ort::environment::Environment), LoadFailure>> = OnceLock::new();

fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for var in ["SIMRUN_ORT_DYLIB", "ORT_DYLIB_PATH"] {
        if let Some(p) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            out.push(PathBuf::from(p));
        }
    }
    if let Ok(cwd) = std::env::current_dir() {
        out.push(cwd.join(DEPS_SUBDIR).join(LIB_NAME));
    }
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/simrun or target/<profile>/deps/test-binary
        for up in exe.ancestors().skip(1).take(4) {
            out.push(up.join(DEPS_SUBDIR).join(LIB_NAME));
        }
    }
    out.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(DEPS_SUBDIR).join(LIB_NAME));
    if let Some(dir) = python_capi_dir() {
        out.push(dir.join(LIB_NAME));
    }
    out
}

fn python_capi_dir() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = String::from_utf8(out.stdout).ok()?;
    Some(PathBuf::from(dir.trim()).join("capi"))
}

fn init() -> Result<(PathBuf, ort::environment::Environment), LoadFailure> {
    let tried = candidates();
    // An explicit setting wins even when it is wrong, so a typo is reported, not skipped.
    let explicit =
        ["SIMRUN_ORT_DYLIB", "ORT_DYLIB_PATH"].iter().any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    let path = if explicit {
        tried[0].clone()
    } else {
        tried.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
            let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
            LoadFailure(format!(
                "{LIB_NAME} not found; run scripts/setup or set SIMRUN_ORT_DYLIB (looked in: {})",
                list.join(", ")
            ))
        })?
    };
    let builder = ort::init_from(&path).map_err(|e| LoadFailure(format!("cannot load {}: {e}", path.display())))?;
    let env = builder
        .with_name("simrun")
        .build()
        .map_err(|e| LoadFailure(format!("cannot start ONNX Runtime from {}: {e}", path.display())))?;
    Ok((path, env))
}

/// The process-wide ONNX Runtime environment, loading the library on first use.
pub(super) fn environment() -> Result<&'static ort::environment::Environment, BackendError> {
    match ENVIRONMENT.get_or_init(init) {
        Ok((_, env)) => Ok(env),
        Err(e) => Err(BackendError::Runtime(e.0.clone())),
    }
}

/// The path of the loaded ONNX Runtime library.
pub fn onnxruntime_library() -> Result<PathBuf, BackendError> {
    environment()?;
    match ENVIRONMENT.get() {
        Some(Ok((p, _))) => Ok(p.clone()),
        _ => Err(BackendError::Runtime("not loaded".into())),
    }
}

/// ONNX Runtime's version: from the library's file name (`libonnxruntime.so.1.31.1`),
/// with the build's git commit from its build information.
pub fn onnxruntime_version() -> Result<String, BackendError> {
    let path = onnxruntime_library()?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let version = name.split_once(".so.").map(|(_, v)| v.to_string());
    let info = ort::info();
    let commit = info.split([',', ' ']).find_map(|part| part.strip_prefix("git-commit-id=")).map(str::to_string);
    Ok(match (version, commit) {
        (Some(v), Some(c)) => format!("{v} (git {c})"),
        (Some(v), None) => v,
        (None, _) => info.to_string(),
    })
}
