//! A real PostgreSQL server for tests and benchmarks, started in a temporary
//! directory on a free loopback port: `initdb`, then `pg_ctl start`, as the
//! `postgres` user when the tests run as root (PostgreSQL refuses root).
//!
//! The binaries are looked up in `/usr/lib/postgresql/*/bin` (Debian's
//! `postgresql` package), then on `PATH`. A watchdog process stops the server and
//! deletes its directory when the test process ends, however it ends.
//!
//! Where no server can be started: under CI (`CI` set) that is a failure with
//! the reason; elsewhere the PostgreSQL tests print `SKIPPED` with the reason.

#![allow(dead_code)] // each test binary uses a different part

use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// A running PostgreSQL server owned by this test process.
pub struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    pgdata: String,
    port: u16,
    settings: String,
    /// The user the server runs as, when the tests run as root.
    run_as: Option<(u32, u32)>,
}

/// The server every test of this process shares (each test gets its own database).
/// `None` only outside CI, after printing why.
pub fn shared() -> Option<&'static PgServer> {
    static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
    match SERVER.get_or_init(PgServer::start) {
        Ok(server) => Some(server),
        Err(why) => {
            if std::env::var_os("CI").is_some() {
                panic!("CI needs a PostgreSQL server and none could be started: {why}");
            }
            eprintln!("SKIPPED: no PostgreSQL server could be started ({why}); install Debian's `postgresql` package");
            None
        }
    }
}

/// A directory with every program the tests run: Debian's own first (it has them all).
fn find_bin_dir() -> Result<PathBuf, String> {
    let complete = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres", "psql"]
            .iter()
            .all(|p| dir.join(p).is_file())
    };
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|d| d.ok().map(|d| d.path().join("bin")))
        .filter(|bin| complete(bin))
        .collect();
    debian.sort();
    if let Some(newest) = debian.pop() {
        return Ok(newest);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|dir| complete(dir))
        .ok_or_else(|| "no initdb, pg_ctl, postgres and psql in /usr/lib/postgresql/*/bin or on PATH".into())
}

/// The uid and gid of `postgres` (or `nobody`) from /etc/passwd.
fn unprivileged_user() -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|e| format!("reading /etc/passwd: {e}"))?;
    for name in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 3 && fields[0] == name {
                if let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse()) {
                    return Ok((uid, gid));
                }
            }
        }
    }
    Err("running as root and there is no postgres or nobody user to run the server as".into())
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PgServer {
    /// Starts a new server (its own directory and port) for tests: `fsync=off`,
    /// which only matters if the machine itself crashes.
    pub fn start() -> Result<PgServer, String> {
        Self::start_with(&["fsync=off"])
    }

    /// Starts a new server with these `-c` settings (`name=value`) beside the
    /// port, socket directory and `max_connections=200`.
    pub fn start_with(settings: &[&str]) -> Result<PgServer, String> {
        let bin = find_bin_dir()?;
        let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
        let run_as = if root { Some(unprivileged_user()?) } else { None };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let data = std::env::temp_dir().join(format!(
            "telemetry-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).map_err(|e| format!("creating {}: {e}", data.display()))?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&data, Some(uid), Some(gid)).map_err(|e| format!("chown: {e}"))?;
        }
        let server = PgServer {
            bin,
            pgdata: data.join("data").to_string_lossy().into_owned(),
            data,
            port: free_port(),
            run_as,
            settings: settings.iter().map(|s| format!(" -c {s}")).collect(),
        };
        server.watch();
        server.run(
            "initdb",
            &[
                "-D",
                server.pgdata(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        server.pg_ctl(&["start"])?;
        Ok(server)
    }

    /// The cluster's directory (inside `data`, which also holds the log and the socket).
    fn pgdata(&self) -> &str {
        &self.pgdata
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command.current_dir(&self.data).stdin(Stdio::null());
        command
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let out = self
            .command(program)
            .args(args)
            .output()
            .map_err(|e| format!("{program}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} {}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// `pg_ctl ACTION`, waiting for it to finish.
    fn pg_ctl(&self, action: &[&str]) -> Result<(), String> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200{}",
            self.port,
            self.data.display(),
            self.settings
        );
        let log = self.data.join("server.log");
        let mut args = vec![
            "-D",
            self.pgdata(),
            "-w",
            "-t",
            "60",
            "-l",
            log.to_str().unwrap(),
            "-o",
            &options,
        ];
        args.extend_from_slice(action);
        self.run("pg_ctl", &args).map_err(|e| {
            format!(
                "{e}\nserver log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
    }

    /// Stops the server with `pg_ctl ... -m fast` and starts it again.
    pub fn restart(&self) {
        self.pg_ctl(&["-m", "fast", "restart"]).unwrap();
    }

    /// Stops the server (fast: running transactions are rolled back).
    pub fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "stop"]).unwrap();
    }

    /// Starts a stopped server.
    pub fn start_again(&self) {
        self.pg_ctl(&["start"]).unwrap();
    }

    /// A process that waits for this one to end, then stops the server and deletes its directory.
    // It is meant to outlive this process, so it is never waited for.
    #[allow(clippy::zombie_processes)]
    fn watch(&self) {
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 1; done; \
             '{pg_ctl}' -D '{data}/data' -m immediate stop >/dev/null 2>&1; rm -rf '{data}'",
            pid = std::process::id(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data.display(),
        );
        let mut command = Command::new("sh");
        command
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        // Its own process group: a Ctrl-C of the tests does not stop it before it cleans up.
        command.process_group(0);
        command.spawn().expect("starting the PostgreSQL watchdog");
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs SQL with psql against database `db`; its output (unaligned, tuples only).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self
            .command("psql")
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
            ])
            .args(["-p", &self.port.to_string(), "-d", db, "-c", sql])
            .output()
            .expect("running psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A new empty database; its URL.
    pub fn fresh_database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("t{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.data
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-D", self.pgdata(), "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.data);
    }
}
