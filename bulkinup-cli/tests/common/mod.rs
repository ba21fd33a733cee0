//! Test harness for the command-line tests: the real `bulkinup` binary, run in a temp dir
//! against one isolated database per test — a fresh SQLite file, PostgreSQL schema or
//! MariaDB/MySQL database (the approach of `bulkinup/tests/common`).
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bulkinup::Db;
use serde_json::{Map, Value as J};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_bulkinup");

/// The example blog schema file.
pub fn blog_schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/blog/schema.toml")
}

/// The kind of database of a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    MySql,
}

const PG_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_DEFAULT: &str = "mysql://root@127.0.0.1:3306/test";

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

fn unique_name() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("bkcli_{}_{}_{n}", std::process::id(), &id[..8])
}

async fn server(var: &str, default: &str) -> Option<(String, Db)> {
    match std::env::var(var) {
        Ok(url) => {
            let db = Db::connect(&url).await.unwrap_or_else(|e| {
                panic!("{var} is set to {url} but the server is not reachable: {e}")
            });
            Some((url, db))
        }
        Err(_) => match Db::connect(default).await {
            Ok(db) => Some((default.to_string(), db)),
            Err(e) => {
                eprintln!("SKIPPED: no server at {default} ({e}); set {var} to run this test");
                None
            }
        },
    }
}

/// One test's database (empty: the binary creates nothing, the tests create the blog tables
/// with its DDL) and its temp dir.
pub struct TestDb {
    pub db: Db,
    pub kind: Kind,
    pub url: String,
    pub dir: Dir,
    admin: Option<Db>,
    name: String,
}

pub fn blog_ddl(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => include_str!("../../../examples/blog/sqlite.sql"),
        Kind::Postgres => include_str!("../../../examples/blog/postgres.sql"),
        Kind::MySql => include_str!("../../../examples/blog/mysql.sql"),
    }
}

impl TestDb {
    /// A fresh database with the blog tables, or `None` (skipped).
    pub async fn blog(kind: Kind) -> Option<TestDb> {
        let t = TestDb::empty(kind).await?;
        t.db.execute_script(blog_ddl(kind)).await.expect("blog DDL");
        Some(t)
    }

    /// A fresh, empty database, or `None` (skipped).
    pub async fn empty(kind: Kind) -> Option<TestDb> {
        let name = unique_name();
        let dir = Dir::new();
        let (url, admin) = match kind {
            Kind::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                (url, None)
            }
            Kind::Postgres => {
                let (base, admin) = server("BULKINUP_TEST_PG_URL", PG_DEFAULT).await?;
                admin
                    .execute_script(&format!("CREATE SCHEMA {name}"))
                    .await
                    .expect("create schema");
                let sep = if base.contains('?') { '&' } else { '?' };
                (
                    format!("{base}{sep}options=-c%20search_path%3D{name}"),
                    Some(admin),
                )
            }
            Kind::MySql => {
                let (base, admin) = server("BULKINUP_TEST_MYSQL_URL", MYSQL_DEFAULT).await?;
                admin
                    .execute_script(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create database");
                let root = base.rsplit_once('/').map(|(r, _)| r).unwrap_or(&base);
                (format!("{root}/{name}"), Some(admin))
            }
        };
        let db = Db::connect(&url).await.expect("the test database connects");
        Some(TestDb {
            db,
            kind,
            url,
            dir,
            admin,
            name,
        })
    }

    /// Drops the schema/database of the test.
    pub async fn cleanup(self) {
        self.db.close().await;
        if let Some(admin) = &self.admin {
            let sql = match self.kind {
                Kind::Postgres => format!("DROP SCHEMA {} CASCADE", self.name),
                _ => format!("DROP DATABASE {}", self.name),
            };
            let _ = admin.execute_script(&sql).await;
            admin.close().await;
        }
    }

    /// The binary in the test's dir, with `DATABASE_URL` set to the test's database.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.dir.command(args);
        cmd.env("DATABASE_URL", &self.url);
        cmd
    }

    /// Runs the binary against the test's database.
    pub fn run(&self, args: &[&str]) -> Out {
        self.dir.run_with(self.command(args), None)
    }

    /// Runs the binary against the test's database, with standard input.
    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Out {
        self.dir
            .run_with(self.command(args), Some(stdin.as_bytes()))
    }

    /// All rows of a query as JSON objects; JSON kept as text (MySQL, SQLite) is parsed so
    /// that every database compares alike.
    pub async fn rows(&self, sql: &str) -> Vec<Map<String, J>> {
        let mut rows = self
            .db
            .fetch_json(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        for row in &mut rows {
            for v in row.values_mut() {
                if let J::String(s) = v
                    && (s.starts_with('{') || s.starts_with('['))
                    && let Ok(parsed) = serde_json::from_str::<J>(s)
                {
                    *v = parsed;
                }
            }
        }
        rows
    }

    /// One column of a query.
    pub async fn column(&self, sql: &str) -> Vec<J> {
        self.rows(sql)
            .await
            .into_iter()
            .map(|r| r.into_iter().next().map(|(_, v)| v).unwrap_or(J::Null))
            .collect()
    }

    /// `SELECT COUNT(*)` of a table.
    pub async fn count(&self, table: &str) -> i64 {
        let v = self
            .column(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .await;
        v.first().and_then(J::as_i64).unwrap_or(-1)
    }
}

/// Declares each listed `async fn NAME(t: &TestDb)` as a test on SQLite, PostgreSQL and
/// MySQL/MariaDB: `sqlite::NAME`, `postgres::NAME`, `mysql::NAME`.
#[macro_export]
macro_rules! on_every_database {
    ($setup:ident: $($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test] async fn $name() {
                if let Some(t) = $crate::common::TestDb::$setup($crate::common::Kind::Sqlite).await {
                    super::$name(&t).await;
                    t.cleanup().await;
                }
            } )*
        }
        mod postgres {
            $( #[tokio::test] async fn $name() {
                if let Some(t) = $crate::common::TestDb::$setup($crate::common::Kind::Postgres).await {
                    super::$name(&t).await;
                    t.cleanup().await;
                }
            } )*
        }
        mod mysql {
            $( #[tokio::test] async fn $name() {
                if let Some(t) = $crate::common::TestDb::$setup($crate::common::Kind::MySql).await {
                    super::$name(&t).await;
                    t.cleanup().await;
                }
            } )*
        }
    };
}
