//! Dev-only helpers for pipewise's tests (never a dependency of a shipped
//! crate): a PostgreSQL server a test starts in a folder of its own.
//!
//! Needs PostgreSQL's server binaries (Debian: `apt-get install postgresql`;
//! `.ci/run` installs them). Set PIPEWISE_PG_BIN to their folder to choose one.
//! Without them [`pg_bin`] says the test is skipped, except when
//! `PIPEWISE_REQUIRE_POSTGRES=1` (`.ci/run` sets it): then it panics.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // test code: panics are failures

use std::path::{Path, PathBuf};
use std::process::Command;

/// PostgreSQL's server binaries, if this machine has them.
pub fn find_pg_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PIPEWISE_PG_BIN") {
        return Some(PathBuf::from(p));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop()
}

/// The server binaries, or `None` (the test says it is skipped) on a
/// machine without them. CI sets `PIPEWISE_REQUIRE_POSTGRES=1`: there a
/// missing server fails the test instead.
pub fn pg_bin() -> Option<PathBuf> {
    let found = find_pg_bin();
    if found.is_none() {
        let how = "install them (apt-get install postgresql) or set PIPEWISE_PG_BIN";
        if std::env::var_os("PIPEWISE_REQUIRE_POSTGRES").is_some_and(|v| v == "1") {
            panic!("PostgreSQL server binaries not found and PIPEWISE_REQUIRE_POSTGRES=1: {how}");
        }
        eprintln!("skipped: this test needs PostgreSQL's server binaries: {how}");
    }
    found
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command run as the `postgres` user when we are root (initdb refuses root).
fn as_pg(bin: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    }
}

pub struct Server {
    bin: PathBuf,
    data: PathBuf,
    socket: PathBuf,
    port: u16,
}

impl Server {
    /// A server of its own; `slot` tells the port apart from other tests'.
    pub fn start(bin: PathBuf, root: &Path, slot: u16) -> Server {
        let data = root.join("pgdata");
        let socket = root.join("sock");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&socket).unwrap();
        if is_root() {
            for p in [root, &data, &socket] {
                let ok = Command::new("chown")
                    .args(["postgres"])
                    .arg(p)
                    .status()
                    .unwrap();
                assert!(ok.success());
            }
        }
        let out = as_pg(&bin.join("initdb"))
            .args(["--auth=trust", "-U", "postgres", "-E", "UTF8", "-D"])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = 20_000 + (std::process::id() % 10_000) as u16 * 2 + slot;
        let out = as_pg(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(format!(
                "-k {} -p {port} -c listen_addresses='' -c fsync=off",
                socket.display()
            ))
            .arg("-l")
            .arg(data.join("log"))
            .args(["-w", "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {} {}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(data.join("log")).unwrap_or_default()
        );
        Server {
            bin,
            data,
            socket,
            port,
        }
    }

    pub fn psql(&self, dir: &Path, args: &[&str]) -> String {
        let out = Command::new(self.bin.join("psql"))
            .current_dir(dir)
            .env("PGTZ", "UTC")
            .arg("-h")
            .arg(&self.socket)
            .args(["-p", &self.port.to_string(), "-U", "postgres"])
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = as_pg(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

impl Server {
    /// A URL for clients (sqlx, libpq) that reach it over its Unix socket.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgres://postgres@localhost:{}/{db}?host={}",
            self.port,
            self.socket.display()
        )
    }
}
