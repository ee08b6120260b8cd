//! A private PostgreSQL server on loopback, for tests and `lantern bench nodes`.
//!
//! [`LocalPostgres::start`] runs Debian's `initdb` into a fresh temporary directory and `pg_ctl
//! start` on a free loopback port; dropping it stops the server (`-m immediate`) and deletes the
//! directory. PostgreSQL refuses to run as root, so when this process is root the server runs as
//! the `postgres` user (`runuser -u postgres`), which Debian's package creates. When the binaries
//! are missing the error says to run `scripts/postgres.sh`, which installs them.

use std::io;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Where Debian's packages put the server binaries (`/usr/lib/postgresql/<major>/bin`).
const DEBIAN_POSTGRES_LIB: &str = "/usr/lib/postgresql";

/// A private PostgreSQL server; stopped and deleted when dropped.
#[derive(Debug)]
pub struct LocalPostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    run_as_postgres: bool,
}

/// Why a private server could not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalPostgresError {
    #[error(
        "PostgreSQL's server binaries (initdb, pg_ctl) are not installed under {DEBIAN_POSTGRES_LIB}/*/bin; \
         run `bash scripts/postgres.sh` (it runs `apt-get install -y postgresql`)"
    )]
    NotInstalled,
    #[error("{action} failed: {detail}")]
    Failed { action: &'static str, detail: String },
}

impl LocalPostgres {
    /// Starts a new server with `synchronous_commit = on` and fsync on (the durable default).
    /// `settings` are extra `postgresql.conf` lines (for example `"shared_buffers = 256MB"`).
    pub fn start(label: &str, settings: &[&str]) -> Result<LocalPostgres, LocalPostgresError> {
        let bin = find_bin().ok_or(LocalPostgresError::NotInstalled)?;
        let run_as_postgres = running_as_root();
        let dir = unique_dir(label);
        std::fs::create_dir_all(&dir).map_err(|error| failed("creating the server directory", error))?;
        if run_as_postgres {
            run(
                Command::new("chown").arg("postgres:postgres").arg(&dir),
                "giving the directory to postgres",
            )?;
        }
        let port = free_port().map_err(|error| failed("finding a free port", error))?;
        let mut server = LocalPostgres { bin, dir, port, run_as_postgres };
        // From here on, dropping `server` cleans up whatever was made.
        let data = server.data_dir();
        let mut initdb = server.command("initdb");
        initdb.arg("-D").arg(&data).args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        run(&mut initdb, "initdb")?;
        let mut conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             max_connections = 200\nfsync = on\nsynchronous_commit = on\n",
            server.dir.display()
        );
        for setting in settings {
            conf.push_str(setting);
            conf.push('\n');
        }
        let conf_path = data.join("postgresql.conf");
        let mut existing =
            std::fs::read_to_string(&conf_path).map_err(|error| failed("reading postgresql.conf", error))?;
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing).map_err(|error| failed("writing postgresql.conf", error))?;
        let mut start = server.command("pg_ctl");
        start.arg("-D").arg(&data).arg("-l").arg(server.dir.join("server.log")).args(["-w", "start"]);
        run(&mut start, "pg_ctl start").map_err(|error| {
            let log = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
            LocalPostgresError::Failed {
                action: "pg_ctl start",
                detail: format!("{error}; server log:\n{log}"),
            }
        })?;
        server.port = port;
        Ok(server)
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for `database` (the `postgres` database always exists).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a database and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, LocalPostgresError> {
        let mut client = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .map_err(|error| failed("connecting", error))?;
        // A database name cannot be a bind parameter; the caller's name is quoted as an identifier.
        let quoted = name.replace('"', "\"\"");
        client
            .batch_execute(&format!("CREATE DATABASE \"{quoted}\""))
            .map_err(|error| failed("creating a database", error))?;
        Ok(self.url(name))
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`), keeping its
    /// files; [`LocalPostgres::restart`] starts it again on the same port.
    pub fn crash(&self) -> Result<(), LocalPostgresError> {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D").arg(self.data_dir()).args(["-m", "immediate", "-w", "stop"]);
        run(&mut stop, "pg_ctl stop")
    }

    /// Starts the server again after [`LocalPostgres::crash`].
    pub fn restart(&self) -> Result<(), LocalPostgresError> {
        let mut start = self.command("pg_ctl");
        start.arg("-D").arg(self.data_dir()).arg("-l").arg(self.dir.join("server.log")).args(["-w", "start"]);
        run(&mut start, "pg_ctl start")
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut command = if self.run_as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.stdin(Stdio::null());
        command
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D").arg(self.data_dir()).args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.stdout(Stdio::null()).stderr(Stdio::null()).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest `/usr/lib/postgresql/<major>/bin` holding `initdb` and `pg_ctl`.
fn find_bin() -> Option<PathBuf> {
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir(DEBIAN_POSTGRES_LIB)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((major, bin))
        })
        .collect();
    majors.sort();
    majors.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

fn unique_dir(label: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("lantern-pg-{label}-{}-{nanos}", std::process::id()))
}

/// A port that was free a moment ago. Another process could take it before the server binds;
/// then `pg_ctl start` fails and says so.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

fn run(command: &mut Command, action: &'static str) -> Result<(), LocalPostgresError> {
    let output = command.output().map_err(|error| failed(action, error))?;
    if output.status.success() {
        return Ok(());
    }
    Err(LocalPostgresError::Failed {
        action,
        detail: format!(
            "{}: {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}

fn failed(action: &'static str, error: impl std::fmt::Display) -> LocalPostgresError {
    LocalPostgresError::Failed { action, detail: error.to_string() }
}
