//! SIGINT and SIGTERM during a run: the first stops it after writing what
//! finished; a second SIGINT exits at once.

use tokio::sync::watch;

use super::failure::{Failure, Signal};

/// Waits for SIGINT or SIGTERM; the first one sets `stop`, a second SIGINT
/// exits at once (files are written atomically, so nothing is left torn).
pub fn watch() -> watch::Receiver<Option<Signal>> {
    let (tx, rx) = watch::channel(None);
    match listen() {
        Ok((mut int, mut term)) => {
            tokio::spawn(async move {
                loop {
                    let signal = tokio::select! {
                        Some(()) = int.recv() => Signal::Interrupt,
                        Some(()) = term.recv() => Signal::Terminate,
                        else => return,
                    };
                    if tx.borrow().is_some() {
                        if signal == Signal::Interrupt {
                            eprintln!("simrun: second interrupt, exiting now");
                            let code = Failure::Stopped(signal, anyhow::anyhow!("second interrupt")).exit_code();
                            std::process::exit(code.code());
                        }
                        continue;
                    }
                    eprintln!("simrun: stopping: writing the finished points (interrupt again to quit at once)");
                    let _ = tx.send(Some(signal));
                }
            });
        }
        Err(e) => eprintln!("simrun: cannot watch for interrupts ({e}); Ctrl-C will stop the run without a report"),
    }
    rx
}

/// Streams of SIGINT and SIGTERM.
fn listen() -> std::io::Result<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)> {
    use tokio::signal::unix::{signal, SignalKind};
    Ok((signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?))
}

/// Counts SIGINT and SIGTERM together (`simrun worker`: the first drains,
/// the second stops at once).
pub fn count() -> watch::Receiver<u32> {
    let (tx, rx) = watch::channel(0);
    match listen() {
        Ok((mut int, mut term)) => {
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        Some(()) = int.recv() => {}
                        Some(()) = term.recv() => {}
                        else => return,
                    }
                    tx.send_modify(|n| *n += 1);
                }
            });
        }
        Err(e) => eprintln!("simrun worker: cannot watch for signals ({e}); SIGTERM will not drain"),
    }
    rx
}

/// The signal that stopped the run, once one has.
pub async fn stopped(rx: &mut watch::Receiver<Option<Signal>>) -> Signal {
    match rx.wait_for(Option::is_some).await {
        Ok(signal) => signal.unwrap_or(Signal::Interrupt),
        // The watcher is gone: never stop.
        Err(_) => std::future::pending().await,
    }
}
