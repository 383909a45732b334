//! `simrun diff BASELINE CANDIDATE`: exit 1 when any verdict is `regressed`.

use super::{DiffArgs, DiffFormat, Failure};
use crate::diff;
use crate::exit_code::ExitCode;
use crate::export::RunFolder;

pub fn diff(args: DiffArgs) -> Result<ExitCode, Failure> {
    let bad = |e: anyhow::Error| Failure::new(ExitCode::BadInput, e);
    let baseline = RunFolder::open(&args.baseline).map_err(bad)?;
    let candidate = RunFolder::open(&args.candidate).map_err(bad)?;
    let c = diff::compare(&baseline, &candidate, args.threshold, args.resolution, args.force).map_err(bad)?;
    let text = match args.format {
        DiffFormat::Table => diff::render_table(&c),
        DiffFormat::Markdown => diff::render_markdown(&c),
        DiffFormat::Json => diff::render_json(&c),
    };
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(text.as_bytes());
    Ok(if c.regressions > 0 { ExitCode::CheckFailed } else { ExitCode::Success })
}
