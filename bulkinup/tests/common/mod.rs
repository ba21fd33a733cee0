//! Test harness: one isolated database per test on SQLite (a temp file), PostgreSQL (a fresh
//! schema) and MariaDB/MySQL (a fresh database).
//!
//! Server URLs come from `BULKINUP_TEST_PG_URL` and `BULKINUP_TEST_MYSQL_URL`. When a variable
//! is set, its server must be reachable: the test fails otherwise (this is what `.ci/run`
//! does). When it is unset, the local default (`postgres://postgres@127.0.0.1:5432/test`,
//! `mysql://root@127.0.0.1:3306/test`) is tried, and the test is skipped with a message on
//! standard error when nothing answers there.
#![allow(dead_code)]

pub mod contention;

use std::sync::atomic::{AtomicU64, Ordering};

use bulkinup::{Db, Registry};
use serde_json::{Map, Value as J};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
    MySql,
}

pub struct TestDb {
    pub db: Db,
    pub kind: Kind,
    pub url: String,
    admin: Option<Db>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

const PG_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_DEFAULT: &str = "mysql://root@127.0.0.1:3306/test";

fn unique_name() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!(
        "bk_{}_{}_{n}",
        std::process::id(),
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .get(..8)
            .unwrap_or("x")
    )
}

/// The blog schema, as shipped in `examples/blog/schema.toml`.
pub fn blog() -> Registry {
    Registry::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/blog/schema.toml"
    ))
    .expect("the example blog schema loads")
    .registry
}

/// `authors` blog authors (ids 1…), each with a profile, an address, two posts with two
/// comments each and two different tags of a pool of `tags` (≥ 2) shared by all posts.
#[allow(dead_code)] // each test file uses some of them
pub fn blog_feed(authors: i64, tags: i64) -> Vec<J> {
    let tag = |id: i64| serde_json::json!({"id": id, "name": format!("tag {id}")});
    (1..=authors)
        .map(|a| {
            let posts: Vec<J> = (0..2)
                .map(|p| {
                    let id = a * 10 + p;
                    serde_json::json!({"id": id, "author_id": a, "title": format!("post {id}"),
                        "comments": [
                            {"id": id * 10 + 1, "post_id": id, "body": "first"},
                            {"id": id * 10 + 2, "post_id": id, "body": "second"}],
                        "tags": [tag(id % tags + 1), tag((id + 1) % tags + 1)]})
                })
                .collect();
            serde_json::json!({"id": a, "name": format!("author {a}"),
                "address": {"street": format!("{a} Main St"), "city": "Lyon"},
                "profile": {"id": a, "author_id": a, "bio": format!("bio {a}")},
                "posts": posts})
        })
        .collect()
}

/// The blog tables, parents first.
pub const BLOG_TABLES: [&str; 7] = [
    "categories",
    "authors",
    "profiles",
    "posts",
    "comments",
    "tags",
    "posts_tags",
];

pub fn blog_ddl(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => include_str!("../../../examples/blog/sqlite.sql"),
        Kind::Postgres => include_str!("../../../examples/blog/postgres.sql"),
        Kind::MySql => include_str!("../../../examples/blog/mysql.sql"),
    }
}

/// Tables for a second prefix, none of them a blog table but `tags` (with other columns):
/// `events` (a JSON column holding one array of objects) with `attendees`, and `tags` linked
/// to events through `event_tags`. SQLite's foreign keys cannot name another database, so
/// there they stay unqualified (they resolve inside the attached database).
pub fn events_ddl(kind: Kind, prefix: &str) -> String {
    let r = |t: &str| match kind {
        Kind::Sqlite => format!("REFERENCES {t} (id)"),
        _ => format!("REFERENCES {prefix}.{t} (id)"),
    };
    format!(
        "CREATE TABLE {prefix}.events (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL, payload JSON);
         CREATE TABLE {prefix}.attendees (id BIGINT PRIMARY KEY, event_id BIGINT NOT NULL {events},
             name VARCHAR(50) NOT NULL);
         CREATE TABLE {prefix}.tags (id BIGINT PRIMARY KEY, label VARCHAR(50) NOT NULL);
         CREATE TABLE {prefix}.event_tags (event_id BIGINT NOT NULL {events},
             tag_id BIGINT NOT NULL {tags}, PRIMARY KEY (event_id, tag_id));
         INSERT INTO {prefix}.events (id, name, payload) VALUES (1, 'launch', '[{{\"k\": 1}}]');",
        events = r("events"),
        tags = r("tags"),
    )
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

impl TestDb {
    /// A fresh, empty database with the blog tables, or `None` (skipped) when the server of
    /// an unset URL variable is not running.
    pub async fn blog(kind: Kind) -> Option<TestDb> {
        let t = TestDb::empty(kind).await?;
        t.db.execute_script(blog_ddl(kind)).await.expect("blog DDL");
        Some(t)
    }

    /// A fresh, empty database.
    pub async fn empty(kind: Kind) -> Option<TestDb> {
        let name = unique_name();
        match kind {
            Kind::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                let db = Db::connect(&url).await.expect("sqlite connects");
                Some(TestDb {
                    db,
                    kind,
                    url,
                    admin: None,
                    name,
                    _dir: Some(dir),
                })
            }
            Kind::Postgres | Kind::MySql => {
                let (var, default) = if kind == Kind::Postgres {
                    ("BULKINUP_TEST_PG_URL", PG_DEFAULT)
                } else {
                    ("BULKINUP_TEST_MYSQL_URL", MYSQL_DEFAULT)
                };
                let (base, admin) = server(var, default).await?;
                Some(TestDb::fresh_on(kind, &base, admin, name).await)
            }
        }
    }

    /// A fresh database with the blog tables on the PostgreSQL or MySQL/MariaDB server at
    /// `server_url` (a throwaway one, say), whose query parameters (TLS ones, say) every
    /// connection keeps.
    pub async fn blog_on(kind: Kind, server_url: &str) -> TestDb {
        let t = TestDb::empty_on(kind, server_url).await;
        t.db.execute_script(blog_ddl(kind)).await.expect("blog DDL");
        t
    }

    /// A fresh, empty database on the PostgreSQL or MySQL/MariaDB server at `server_url`, as
    /// [`TestDb::blog_on`].
    pub async fn empty_on(kind: Kind, server_url: &str) -> TestDb {
        assert_ne!(
            kind,
            Kind::Sqlite,
            "a server URL is PostgreSQL's or MySQL's"
        );
        let admin = Db::connect(server_url)
            .await
            .unwrap_or_else(|e| panic!("{server_url} connects: {e}"));
        TestDb::fresh_on(kind, server_url, admin, unique_name()).await
    }

    /// Creates the schema (PostgreSQL) or database (MySQL) `name` through `admin`, a
    /// connection to `base`, and connects to it with `base`'s query parameters.
    async fn fresh_on(kind: Kind, base: &str, admin: Db, name: String) -> TestDb {
        let create = if kind == Kind::Postgres {
            "SCHEMA"
        } else {
            "DATABASE"
        };
        admin
            .execute_script(&format!("CREATE {create} {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE {create} {name}: {e}"));
        let url = if kind == Kind::Postgres {
            // The schema is the connection's search path.
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}options=-c%20search_path%3D{name}")
        } else {
            let (path, query) = match base.split_once('?') {
                Some((path, query)) => (path, format!("?{query}")),
                None => (base, String::new()),
            };
            let root = path.rsplit_once('/').map(|(r, _)| r).unwrap_or(path);
            format!("{root}/{name}{query}")
        };
        let db = Db::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{url} connects: {e}"));
        TestDb {
            db,
            kind,
            url,
            admin: Some(admin),
            name,
            _dir: None,
        }
    }

    /// A second, empty place for tables beside the test's own — a PostgreSQL schema, a
    /// MySQL database, an attached SQLite database — and a connection to the test's own
    /// database on which that prefix exists (on SQLite, the test's database with
    /// `attach=PREFIX:FILE`). Dropped by [`TestDb::cleanup`].
    pub async fn second_prefix(&self) -> (String, Db) {
        let (prefix, db, _) = self.second_prefix_with_url().await;
        (prefix, db)
    }

    /// As [`TestDb::second_prefix`], with the URL of the connection (for the command line).
    pub async fn second_prefix_with_url(&self) -> (String, Db, String) {
        let prefix = format!("{}_x", self.name);
        match self.kind {
            Kind::Sqlite => {
                let url = self.url_with_prefix(&prefix);
                let db = Db::connect(&url)
                    .await
                    .unwrap_or_else(|e| panic!("{url} connects: {e}"));
                (prefix, db, url)
            }
            Kind::Postgres | Kind::MySql => {
                let create = if self.kind == Kind::Postgres {
                    "SCHEMA"
                } else {
                    "DATABASE"
                };
                let admin = self.admin.as_ref().expect("server admin connection");
                admin
                    .execute_script(&format!("CREATE {create} {prefix}"))
                    .await
                    .unwrap_or_else(|e| panic!("CREATE {create} {prefix}: {e}"));
                let db = Db::connect(&self.url)
                    .await
                    .unwrap_or_else(|e| panic!("{} connects: {e}", self.url));
                (prefix, db, self.url.clone())
            }
        }
    }

    /// The test database's URL, on which the second prefix exists (SQLite: attached).
    pub fn url_with_prefix(&self, prefix: &str) -> String {
        match self.kind {
            Kind::Sqlite => format!("{}?attach={prefix}:{}", self.url, self.second_file()),
            _ => self.url.clone(),
        }
    }

    /// A URL whose default place is the second prefix itself (PostgreSQL: its search path;
    /// MySQL: its database; SQLite: its file), to create tables there with unqualified DDL.
    pub fn url_inside(&self, prefix: &str) -> String {
        match self.kind {
            Kind::Sqlite => format!("sqlite://{}", self.second_file()),
            _ => self.url.replace(&self.name, prefix),
        }
    }

    /// The name of the test's own place as a prefix: its PostgreSQL schema, its MySQL
    /// database, SQLite's `main`.
    pub fn default_prefix(&self) -> &str {
        match self.kind {
            Kind::Sqlite => "main",
            _ => &self.name,
        }
    }

    fn second_file(&self) -> String {
        let dir = self._dir.as_ref().expect("sqlite temp dir");
        dir.path().join("second.db").display().to_string()
    }

    /// Drops the schema/database of the test (and its second prefix, if it made one).
    pub async fn cleanup(self) {
        self.db.close().await;
        if let Some(admin) = &self.admin {
            let sql = match self.kind {
                Kind::Postgres => format!(
                    "DROP SCHEMA {0} CASCADE; DROP SCHEMA IF EXISTS {0}_x CASCADE",
                    self.name
                ),
                _ => format!(
                    "DROP DATABASE {0}; DROP DATABASE IF EXISTS {0}_x",
                    self.name
                ),
            };
            let _ = admin.execute_script(&sql).await;
            admin.close().await;
        }
    }

    /// All rows of a query as JSON objects; JSON text columns (MySQL, SQLite) are parsed so
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

    /// One column of a query, as JSON values.
    pub async fn column(&self, sql: &str) -> Vec<J> {
        self.rows(sql)
            .await
            .into_iter()
            .map(|r| r.into_iter().next().map(|(_, v)| v).unwrap_or(J::Null))
            .collect()
    }

    /// Every blog table's rows in key order, without the clock's columns (`inserted_at`): the
    /// state two ways of writing one input are compared by.
    #[allow(dead_code)] // each test file uses some of them
    pub async fn blog_state(&self) -> Vec<(String, Vec<Map<String, J>>)> {
        let mut out = Vec::new();
        for table in BLOG_TABLES {
            let order = match table {
                "posts_tags" => "post_id, tag_id",
                _ => "id",
            };
            let mut rows = self
                .rows(&format!("SELECT * FROM {table} ORDER BY {order}"))
                .await;
            for row in &mut rows {
                row.remove("inserted_at");
            }
            out.push((table.to_string(), rows));
        }
        out
    }

    /// Deletes every row of the blog tables, children first.
    pub async fn empty_blog_tables(&self) {
        for table in BLOG_TABLES.iter().rev() {
            self.db
                .execute_script(&format!("DELETE FROM {table}"))
                .await
                .unwrap_or_else(|e| panic!("DELETE FROM {table}: {e}"));
        }
    }

    /// The blog's `posts_tags` rows as `[post_id, tag_id]` pairs, in order.
    pub async fn post_tag_links(&self) -> Vec<J> {
        self.rows("SELECT post_id, tag_id FROM posts_tags ORDER BY post_id, tag_id")
            .await
            .into_iter()
            .map(|r| serde_json::json!([r["post_id"], r["tag_id"]]))
            .collect()
    }

    /// Blog authors 1 and 2, each with its profile (profile `n` of author `n`, bios `first`
    /// and `second`): a unique `profiles.author_id` taken by two rows.
    pub async fn seed_two_profiles(&self) {
        self.db
            .execute_script(
                "INSERT INTO authors (id, name) VALUES (1, 'Ann'), (2, 'Bo');
                 INSERT INTO profiles (id, author_id, bio) VALUES (1, 1, 'first'), (2, 2, 'second');",
            )
            .await
            .expect("seed two profiles");
    }

    /// `SELECT COUNT(*)` of a table.
    pub async fn count(&self, table: &str) -> i64 {
        let v = self
            .column(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .await;
        v.first().and_then(J::as_i64).unwrap_or(-1)
    }
}

/// `SELECT COUNT(*)` of a table, on any connection (e.g. `prefix.table` on one where the
/// prefix exists).
pub async fn count_in(db: &Db, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) AS n FROM {table}");
    let rows = db
        .fetch_json(&sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.first()
        .and_then(|r| r.get("n"))
        .and_then(J::as_i64)
        .unwrap_or(-1)
}

/// Declares each listed `async fn NAME(t: &TestDb)` as a test on SQLite, PostgreSQL and
/// MySQL/MariaDB: `sqlite::NAME`, `postgres::NAME`, `mysql::NAME`.
#[macro_export]
macro_rules! on_every_database {
    ($setup:ident: $($name:ident),* $(,)?) => {
        $crate::on_every_database!(@on sqlite, Sqlite, $setup: $($name),*);
        $crate::on_every_database!(@on postgres, Postgres, $setup: $($name),*);
        $crate::on_every_database!(@on mysql, MySql, $setup: $($name),*);
    };
    (@on $module:ident, $kind:ident, $setup:ident: $($name:ident),*) => {
        mod $module {
            $( #[tokio::test] async fn $name() {
                if let Some(t) = $crate::common::TestDb::$setup($crate::common::Kind::$kind).await {
                    super::$name(&t).await;
                    t.cleanup().await;
                }
            } )*
        }
    };
}

/// Declares each listed `async fn NAME(scheme: &str)` as a test per network driver, for what
/// needs no server (a closed port, a silent listener): `postgres_driver::NAME` with
/// `"postgres"`, `mysql_driver::NAME` with `"mysql"`.
#[macro_export]
macro_rules! on_network_drivers {
    ($($name:ident),* $(,)?) => {
        mod postgres_driver {
            $( #[tokio::test] async fn $name() { super::$name("postgres").await; } )*
        }
        mod mysql_driver {
            $( #[tokio::test] async fn $name() { super::$name("mysql").await; } )*
        }
    };
}

/// A TCP server on a free port of 127.0.0.1 that accepts every connection and never writes a
/// byte (each connection is held open): a database that does not answer. Its thread ends with
/// the test process.
pub fn silent_server() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let addr = listener.local_addr().expect("local address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    addr
}

/// Declares each listed `async fn NAME(t: &TestDb)` as a test on the database servers,
/// PostgreSQL and MySQL/MariaDB (what needs a network connection): `postgres::NAME`,
/// `mysql::NAME`.
#[macro_export]
macro_rules! on_database_servers {
    ($setup:ident: $($name:ident),* $(,)?) => {
        $crate::on_every_database!(@on postgres, Postgres, $setup: $($name),*);
        $crate::on_every_database!(@on mysql, MySql, $setup: $($name),*);
    };
}

/// `future`, failing the test instead of hanging it when it does not end within 20 s (what
/// a regression of a deadline would do).
pub async fn ends<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(20), future)
        .await
        .expect("ended within 20 s")
}

/// The error of `failing` (shown), within [`ends`], and how long it took.
pub async fn timed_error<T: std::fmt::Debug>(
    failing: impl std::future::Future<Output = bulkinup::Result<T>>,
) -> (bulkinup::Error, std::time::Duration) {
    let started = std::time::Instant::now();
    let err = ends(failing).await.unwrap_err();
    let elapsed = started.elapsed();
    eprintln!("{err} after {elapsed:?}");
    (err, elapsed)
}

mod proxy;
#[allow(unused_imports)] // the tests of deadlines use it
pub use proxy::StallProxy;
