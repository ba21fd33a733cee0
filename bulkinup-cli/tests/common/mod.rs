//! Test harness for the command-line tests: the real `bulkinup` binary, run in a temp dir
//! against one isolated database per test — a fresh SQLite file, PostgreSQL schema or
//! MariaDB/MySQL database, made by the library's own test harness (`bulkinup/tests/common`,
//! included here as `db`, with its `on_every_database!` macro).
//!
//! Server URLs come from `BULKINUP_TEST_PG_URL` and `BULKINUP_TEST_MYSQL_URL`. When a variable
//! is set, its server must answer (the test fails otherwise; `.ci/run` sets both). When it is
//! unset, the local default (`postgres://postgres@127.0.0.1:5432/test`,
//! `mysql://root@127.0.0.1:3306/test`) is tried, and the test is skipped with a message on
//! standard error when nothing answers there.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as J;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_bulkinup");

/// The example blog schema file.
pub fn blog_schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/blog/schema.toml")
}

/// `upsert --schema SCHEMA --root Author` followed by `rest`.
pub fn upsert_authors<'a>(schema: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["upsert", "--schema", schema, "--root", "Author"];
    args.extend_from_slice(rest);
    args
}

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// The one JSON line of standard output.
    pub fn json(&self) -> J {
        let lines: Vec<&str> = self.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stdout, got {:?}", self.stdout);
        serde_json::from_str(lines[0]).expect("stdout is JSON")
    }

    /// Asserts the exit status, showing the output when it differs.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit status; {self:#?}");
        self
    }

    /// Asserts that standard error contains each fragment.
    pub fn assert_stderr(&self, fragments: &[&str]) -> &Self {
        for f in fragments {
            assert!(
                self.stderr.contains(f),
                "stderr lacks {f:?}: {:?}",
                self.stderr
            );
        }
        self
    }
}

/// A temp dir to run the binary in.
pub struct Dir {
    pub dir: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file in the dir and returns its name (relative to the dir).
    pub fn write(&self, name: &str, contents: &str) -> String {
        std::fs::write(self.path().join(name), contents).expect("write test file");
        name.to_string()
    }

    /// Reads a file of the dir.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).expect("read test file")
    }

    /// The JSON values of an NDJSON file of the dir (a rejects file), one per line.
    pub fn read_ndjson(&self, name: &str) -> Vec<J> {
        self.read(name)
            .lines()
            .map(|l| serde_json::from_str(l).expect("an NDJSON line is JSON"))
            .collect()
    }

    /// The binary, in this dir, without `DATABASE_URL` from the environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("DATABASE_URL");
        cmd
    }

    /// Runs the binary with `args` and standard input `stdin` (empty when `None`).
    pub fn run_with(&self, mut cmd: Command, stdin: Option<&[u8]>) -> Out {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("the binary starts");
        let input = stdin.map(<[u8]>::to_vec).unwrap_or_default();
        let mut pipe = child.stdin.take().expect("stdin");
        let feeder = std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
        let output = wait_with_deadline(child, RUN_LIMIT);
        feeder.join().expect("stdin feeder");
        Out {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs the binary with `args` and no standard input.
    pub fn run(&self, args: &[&str]) -> Out {
        self.run_with(self.command(args), None)
    }
}

/// The longest a run of the binary may take before the test kills it and fails (a hang must
/// fail the test, not stall the suite).
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Waits for a started binary (bounded by [`RUN_LIMIT`], on a blocking thread) and collects
/// what it gave.
#[allow(dead_code)] // each test file uses some of them
pub async fn finish(child: Child) -> Out {
    let output = tokio::task::spawn_blocking(move || wait_with_deadline(child, RUN_LIMIT))
        .await
        .expect("the waiting thread ends");
    Out {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Waits for `child` and collects its output; kills it and panics after `limit`.
pub fn wait_with_deadline(mut child: Child, limit: Duration) -> Output {
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the binary") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr.join().unwrap_or_default();
            panic!(
                "the binary did not finish within {limit:?}; stderr: {}",
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

#[path = "../../../bulkinup/tests/common/mod.rs"]
mod db;

#[allow(unused_imports)] // each test file uses some of them
pub use db::{
    BLOG_TABLES, Kind, StallProxy, blog_ddl, blog_feed, contention, count_in, events_ddl,
    silent_server,
};

/// One test's database (from the library's harness) and the temp dir the binary runs in.
pub struct TestDb {
    db: db::TestDb,
    pub dir: Dir,
}

impl std::ops::Deref for TestDb {
    type Target = db::TestDb;

    fn deref(&self) -> &db::TestDb {
        &self.db
    }
}

impl TestDb {
    /// A fresh database with the blog tables, or `None` (skipped).
    pub async fn blog(kind: Kind) -> Option<TestDb> {
        Some(TestDb {
            db: db::TestDb::blog(kind).await?,
            dir: Dir::new(),
        })
    }

    /// A fresh database with the blog tables on the server at `server_url` (a throwaway
    /// one), whose query parameters every connection keeps.
    pub async fn blog_on(kind: Kind, server_url: &str) -> TestDb {
        TestDb {
            db: db::TestDb::blog_on(kind, server_url).await,
            dir: Dir::new(),
        }
    }

    /// A fresh, empty database, or `None` (skipped).
    pub async fn empty(kind: Kind) -> Option<TestDb> {
        Some(TestDb {
            db: db::TestDb::empty(kind).await?,
            dir: Dir::new(),
        })
    }

    /// Drops the schema/database of the test.
    pub async fn cleanup(self) {
        self.db.cleanup().await;
    }

    /// The binary in the test's dir, with `DATABASE_URL` set to the test's database.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.dir.command(args);
        cmd.env("DATABASE_URL", &self.db.url);
        cmd
    }

    /// Runs the binary against the test's database.
    pub fn run(&self, args: &[&str]) -> Out {
        self.dir.run_with(self.command(args), None)
    }

    /// Runs the binary against another URL of the test's database (e.g. one that attaches a
    /// second SQLite database).
    pub fn run_at(&self, url: &str, args: &[&str]) -> Out {
        let mut cmd = self.command(args);
        cmd.env("DATABASE_URL", url);
        self.dir.run_with(cmd, None)
    }

    /// Runs the binary against the test's database, with standard input.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Out {
        self.dir
            .run_with(self.command(args), Some(stdin.as_bytes()))
    }
}
