//! Progress on stderr, fed by run events: indicatif bars on a terminal, plain
//! lines otherwise (CI logs), nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::run::RunEvent;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Bars,
    Lines,
    Quiet,
}

impl ProgressMode {
    /// Bars when stderr is a terminal, lines otherwise.
    pub fn detect(quiet: bool) -> Self {
        if quiet {
            ProgressMode::Quiet
        } else if std::io::stderr().is_terminal() {
            ProgressMode::Bars
        } else {
            ProgressMode::Lines
        }
    }
}

/// Consumes run events until the sender is dropped.
pub fn spawn(mut rx: UnboundedReceiver<RunEvent>, executions: usize, mode: ProgressMode) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut view = View::new(executions, mode);
        while let Some(event) = rx.recv().await {
            view.show(&event);
        }
        view.finish();
    })
}

struct View {
    mode: ProgressMode,
    executions: usize,
    done: usize,
    points: Option<ProgressBar>,
    requests: Option<ProgressBar>,
    _multi: Option<MultiProgress>,
}

impl View {
    fn new(executions: usize, mode: ProgressMode) -> Self {
        let (points, requests, multi) = if mode == ProgressMode::Bars {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let points = multi.add(ProgressBar::new(executions as u64));
            points.set_style(
                ProgressStyle::with_template("points   [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let requests = multi.add(ProgressBar::new(0));
            requests.set_style(
                ProgressStyle::with_template("requests [{bar:30}] {pos}/{len} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            points.enable_steady_tick(Duration::from_millis(200));
            (Some(points), Some(requests), Some(multi))
        } else {
            (None, None, None)
        };
        View { mode, executions, done: 0, points, requests, _multi: multi }
    }

    fn show(&mut self, event: &RunEvent) {
        match (self.mode, event) {
            (ProgressMode::Quiet, _) => {}
            (ProgressMode::Bars, RunEvent::PointStarted { label, requests, .. }) => {
                if let (Some(p), Some(r)) = (&self.points, &self.requests) {
                    p.set_message(label.clone());
                    r.set_length(*requests);
                    r.set_position(0);
                    r.reset_eta();
                }
            }
            (ProgressMode::Bars, RunEvent::Progress { sent, .. }) => {
                if let Some(r) = &self.requests {
                    r.set_position(*sent);
                }
            }
            (ProgressMode::Bars, RunEvent::PointFinished { .. }) => {
                self.done += 1;
                if let Some(p) = &self.points {
                    p.set_position(self.done as u64);
                }
            }
            (ProgressMode::Lines, RunEvent::PointStarted { index, repetition, label, requests, tiers }) => {
                let load = if *requests > 0 { format!("{requests} requests") } else { "closed loop".to_string() };
                eprintln!(
                    "[{}/{}] point {index} rep {repetition} ({label}): {load} to {tiers} tier(s)",
                    self.done + 1,
                    self.executions
                );
            }
            (ProgressMode::Lines, RunEvent::PointFinished { index, repetition, ok, timeouts, errors }) => {
                self.done += 1;
                eprintln!(
                    "[{}/{}] point {index} rep {repetition} done: {ok} ok, {timeouts} timeouts, {errors} errors over all tiers",
                    self.done, self.executions
                );
            }
            (ProgressMode::Lines, RunEvent::Progress { .. }) => {}
        }
    }

    fn finish(&self) {
        if let Some(r) = &self.requests {
            r.finish_and_clear();
        }
        if let Some(p) = &self.points {
            p.finish_and_clear();
        }
    }
}
