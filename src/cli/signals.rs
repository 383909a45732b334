//! SIGINT and SIGTERM during a run: the first stops it after writing what
//! finished; a second SIGINT exits at once.

use tokio::sync::watch;

use super::failure::{Failure, Signal};

/// Waits for SIGINT or SIGTERM; the first one sets `stop`, a second SIGINT
/// exits at once (files are written atomically, so nothing is left torn).
pub fn watch() -> watch::Receiver<Option<Signal>> {
    let (tx, rx) = watch::channel(None);
    let listen = || -> std::io::Result<_> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok((signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?))
    };
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

/// The signal that stopped the run, once one has.
pub async fn stopped(rx: &mut watch::Receiver<Option<Signal>>) -> Signal {
    match rx.wait_for(Option::is_some).await {
        Ok(signal) => signal.unwrap_or(Signal::Interrupt),
        // The watcher is gone: never stop.
        Err(_) => std::future::pending().await,
    }
}
