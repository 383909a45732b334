//! `simrun trace`: recorded network traces into link traces.

use super::failure::Failure;
use super::TraceCommand;
use crate::exit_code::Outcome;

/// `simrun trace mahimahi FILE`: the converted trace on stdout.
pub fn trace(command: TraceCommand) -> Result<Outcome, Failure> {
    let TraceCommand::Mahimahi { file, window, delay } = command;
    let duration = |text: &str, flag: &str| {
        crate::scenario::parse_duration(text).map_err(|e| Failure::input(anyhow::anyhow!("--{flag}: {e}")))
    };
    let (window, delay) = (duration(&window, "window")?, duration(&delay, "delay")?);
    if window.as_millis() == 0 {
        return Err(Failure::input(anyhow::anyhow!("--window must be at least 1ms")));
    }
    let shown = file.display().to_string();
    let text =
        std::fs::read_to_string(&file).map_err(|e| Failure::input(anyhow::anyhow!("cannot read {shown}: {e}")))?;
    let csv = crate::scenario::trace::from_mahimahi(&text, &shown, window, delay).map_err(Failure::input)?;
    super::print_text(&csv);
    Ok(Outcome::Passed)
}
