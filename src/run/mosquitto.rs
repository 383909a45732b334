//! The private Mosquitto that simrun starts when `broker.url` is `auto`: on a
//! free loopback port, with `set_tcp_nodelay true` (without it Mosquitto runs
//! Nagle's algorithm and a QoS 1 round trip takes tens of milliseconds), and
//! stopped when the `ManagedBroker` is dropped.
//!
//! Mosquitto runs under a small `sh` keeper that holds the read end of a pipe
//! from simrun: when simrun exits by any road (its end, SIGINT, a panic, even
//! SIGKILL) the pipe closes, the keeper's `read` returns and it stops
//! Mosquitto. The keeper has a process group of its own, so a Ctrl-C on the
//! terminal reaches simrun (which then writes what finished) and not the broker.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

/// What the keeper runs: Mosquitto in the background, its PID on stdout, and
/// once stdin closes Mosquitto stopped and its folder removed.
const KEEPER: &str = r#"mosquitto="$1"; conf="$2"; log="$3"
"$mosquitto" -c "$conf" >>"$log" 2>&1 &
pid=$!
echo "$pid"
read -r _ || true
kill "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
rm -f "$conf" "$log"
rmdir "$(dirname "$conf")" 2>/dev/null
exit 0"#;

/// Where Mosquitto is looked for beyond `PATH` (Debian installs it in sbin).
const SBIN: [&str; 3] = ["/usr/sbin", "/usr/local/sbin", "/opt/homebrew/sbin"];

/// How long a started Mosquitto may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// Ports tried before giving up (another process can take a free port
/// between the check and Mosquitto's bind).
const ATTEMPTS: usize = 3;

/// Names the Mosquitto to start, instead of looking for one.
pub const MOSQUITTO_ENV: &str = "SIMRUN_MOSQUITTO";

#[derive(Debug, Error)]
pub enum ManagedError {
    #[error(
        "broker.url is auto, so simrun starts its own Mosquitto, but found none ({0}): install it (`apt-get install \
         mosquitto`, `brew install mosquitto`, or scripts/setup), or set broker.url to a broker you run \
         (--set broker.url=mqtt://HOST:PORT)"
    )]
    NotInstalled(String),
    #[error("cannot start the private Mosquitto ({path}): {message}")]
    Start { path: String, message: String },
}

impl ManagedError {
    fn start(path: &Path, message: impl Into<String>) -> Self {
        ManagedError::Start { path: path.display().to_string(), message: message.into() }
    }
}

/// A running private Mosquitto; dropping it stops it and removes its folder.
#[derive(Debug)]
pub struct ManagedBroker {
    keeper: Child,
    /// The keeper's end of the pipe: closing it stops Mosquitto.
    stdin: Option<ChildStdin>,
    mosquitto_pid: u32,
    port: u16,
    dir: PathBuf,
    version: String,
}

impl ManagedBroker {
    /// Finds Mosquitto, starts it on a free loopback port and waits until it
    /// accepts connections.
    pub fn start() -> Result<Self, ManagedError> {
        let binary = find_mosquitto()?;
        let version = version_of(&binary);
        let mut last = None;
        for _ in 0..ATTEMPTS {
            match Self::start_once(&binary, &version) {
                Ok(broker) => return Ok(broker),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ManagedError::start(&binary, "no attempt made")))
    }

    fn start_once(binary: &Path, version: &str) -> Result<Self, ManagedError> {
        let fail = |m: String| ManagedError::start(binary, m);
        let port = free_port().map_err(|e| fail(format!("no free loopback port: {e}")))?;
        let dir = private_dir().map_err(|e| fail(format!("cannot create its folder: {e}")))?;
        let conf = dir.join("mosquitto.conf");
        let log = dir.join("mosquitto.log");
        let text = format!(
            "# written by simrun for one run; removed when it ends\nlistener {port} 127.0.0.1\nallow_anonymous true\n\
             set_tcp_nodelay true\npersistence false\n"
        );
        if let Err(e) = std::fs::write(&conf, text) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(fail(format!("cannot write {}: {e}", conf.display())));
        }
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(KEEPER)
            .arg("simrun-broker")
            .arg(binary)
            .arg(&conf)
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        let mut keeper = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(fail(format!("cannot run sh: {e}")));
            }
        };
        let stdin = keeper.stdin.take();
        let pid = keeper.stdout.take().and_then(|out| {
            let mut line = String::new();
            BufReader::new(out).read_line(&mut line).ok()?;
            line.trim().parse::<u32>().ok()
        });
        let broker =
            ManagedBroker { keeper, stdin, mosquitto_pid: pid.unwrap_or(0), port, dir, version: version.to_string() };
        if pid.is_none() {
            return Err(fail("its keeper did not report Mosquitto's PID".into()));
        }
        broker.wait_ready(binary)?;
        Ok(broker)
    }

    /// Waits until the port accepts connections, or Mosquitto has exited.
    fn wait_ready(&self, binary: &Path) -> Result<(), ManagedError> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if !alive(self.mosquitto_pid) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default();
        let last = log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
        Err(ManagedError::start(
            binary,
            format!("it did not accept connections on 127.0.0.1:{} (its log: {last})", self.port),
        ))
    }

    /// `mqtt://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Mosquitto's PID (what a test looks for once the broker should be gone).
    pub fn pid(&self) -> u32 {
        self.mosquitto_pid
    }

    /// `a private Mosquitto 2.0.11 on 127.0.0.1:40123 (broker.url: auto, set_tcp_nodelay true), stopped when simrun ends`
    pub fn describe(&self) -> String {
        format!(
            "a private {} on 127.0.0.1:{} (broker.url: auto, set_tcp_nodelay true), stopped when simrun ends",
            self.version, self.port
        )
    }
}

impl Drop for ManagedBroker {
    fn drop(&mut self) {
        // Closing the pipe lets the keeper stop Mosquitto and wait for it.
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.keeper.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    // The keeper is stuck: stop both by PID.
                    let _ = Command::new("kill").arg("-9").arg(self.mosquitto_pid.to_string()).status();
                    let _ = self.keeper.kill();
                    let _ = self.keeper.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether `pid` runs. A process that exited stays a zombie until its parent
/// reaps it, and the keeper reaps Mosquitto only once simrun lets it go, so a
/// Mosquitto that failed to start (its port taken meanwhile) is a zombie:
/// alive by its /proc entry, dead by its state, `Z`.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

/// `$SIMRUN_MOSQUITTO`, else `mosquitto` on `PATH`, else in the usual sbin folders.
fn find_mosquitto() -> Result<PathBuf, ManagedError> {
    if let Some(named) = std::env::var_os(MOSQUITTO_ENV) {
        let named = PathBuf::from(named);
        return match named.is_file() {
            true => Ok(named),
            false => Err(ManagedError::NotInstalled(format!("{MOSQUITTO_ENV}={} is not a file", named.display()))),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|dir| dir.join("mosquitto"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| ManagedError::NotInstalled(format!("looked in PATH and {}", SBIN.join(", "))))
}

/// `Mosquitto 2.0.11`, from the first line of `mosquitto -h`.
fn version_of(binary: &Path) -> String {
    let out = Command::new(binary).arg("-h").stdin(Stdio::null()).output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix("mosquitto version "))
        .map(|v| format!("Mosquitto {}", v.trim()))
        .unwrap_or_else(|| "Mosquitto (version unknown)".into())
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// A new folder under the temporary directory, named for this process.
fn private_dir() -> std::io::Result<PathBuf> {
    let base = std::env::temp_dir();
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    for n in 0..100u32 {
        let dir = base.join(format!("simrun-broker-{}-{:08x}", std::process::id(), nanos.wrapping_add(n)));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("every candidate name was taken"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zombie_is_not_alive() {
        // The shell becomes `sleep 30`, which never reaps: its background child
        // stays a zombie once it exits, as a Mosquitto that failed to start
        // does under the keeper. The child outlives the exec by a second, so
        // the shell cannot have reaped it first (it did, under load, when the
        // child was `true` and the shell waited in `read`).
        let mut sh =
            Command::new("sh").args(["-c", "sleep 1 & echo $!; exec sleep 30"]).stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(sh.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let pid: u32 = line.trim().parse().unwrap();
        let gone = Instant::now() + Duration::from_secs(10);
        while alive(pid) && Instant::now() < gone {
            std::thread::sleep(Duration::from_millis(10));
        }
        let (zombie, shell) = (Path::new(&format!("/proc/{pid}")).exists(), alive(sh.id()));
        let _ = sh.kill();
        let _ = sh.wait();
        assert!(!alive(pid) && zombie, "an exited child with its /proc entry left is not alive");
        assert!(shell, "a running process is alive");
    }

    #[test]
    fn starts_answers_and_is_gone_after_drop() {
        let broker = ManagedBroker::start().expect("mosquitto is installed by scripts/setup");
        let pid = broker.pid();
        let dir = broker.dir.clone();
        assert!(alive(pid));
        assert!(broker.url().starts_with("mqtt://127.0.0.1:"));
        assert!(broker.describe().starts_with("a private Mosquitto "), "{}", broker.describe());
        let conf = std::fs::read_to_string(dir.join("mosquitto.conf")).unwrap();
        assert!(conf.contains("set_tcp_nodelay true"), "{conf}");
        TcpStream::connect((Ipv4Addr::LOCALHOST, broker.port())).expect("it accepts connections");
        drop(broker);
        let gone = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < gone {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(pid), "mosquitto {pid} outlived its ManagedBroker");
        assert!(!dir.exists(), "{} was left behind", dir.display());
    }
}
