//! A scenario error that names the file, line and column, and the key.

use std::fmt;
use std::path::PathBuf;

/// What is wrong with a scenario, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: PathBuf,
    /// 1-based line and column, where known.
    pub location: Option<(usize, usize)>,
    /// Dotted key path, where known.
    pub key: Option<String>,
    /// Where the bad value came from when it was not the file itself
    /// (`--set load.rate=x`, `sweep point 3`).
    pub origin: Option<String>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.location {
            write!(f, ":{line}:{col}")?;
        }
        if let Some(origin) = &self.origin {
            write!(f, ": {origin}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

impl ScenarioError {
    /// An error at dotted `key` of the scenario file at `file`, located in
    /// `text`, what was read from it (for checks made after parsing, such as
    /// model loading).
    pub fn at_key(file: &std::path::Path, text: &str, key: &str, origin: Option<String>, message: String) -> Self {
        let location = match origin {
            Some(_) => None,
            None => super::locate::locate(text, &key.split('.').collect::<Vec<_>>()),
        };
        ScenarioError { file: file.to_path_buf(), location, key: Some(key.to_string()), origin, message }
    }
}
