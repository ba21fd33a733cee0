//! Where each method writes: a fresh, empty copy of the blog tables on the database of the
//! given URL — a new PostgreSQL schema, a new MariaDB/MySQL database, or a new SQLite file
//! in a temporary directory — dropped after the method.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use bulkinup::Db;
use sqlx::Row;

/// The kind of database, from the URL's scheme (the library's one table of schemes).
pub use bulkinup::DbKind as Kind;

/// What the harness needs of each kind of database.
pub trait KindExt {
    /// The blog DDL of `examples/blog/` for this database.
    fn ddl(self) -> &'static str;
    /// Quotes an identifier by the database's rules (its dialect's).
    fn quote(self, ident: &str) -> String;
}

impl KindExt for Kind {
    fn ddl(self) -> &'static str {
        match self {
            Kind::Sqlite => include_str!("../../examples/blog/sqlite.sql"),
            Kind::Postgres => include_str!("../../examples/blog/postgres.sql"),
            Kind::MySql => include_str!("../../examples/blog/mysql.sql"),
        }
    }

    fn quote(self, ident: &str) -> String {
        self.dialect().quote(ident)
    }
}

/// A fresh, empty set of blog tables (categories seeded) on one database.
pub struct Target {
    /// The bulkinup handle on it; the baselines use its pool, so both sides run with the
    /// same connection settings.
    pub db: Db,
    /// The kind of database.
    pub kind: Kind,
    /// The URL of the fresh tables (the scratch schema's `search_path`, database or file),
    /// for the external tools of `--loaders`.
    pub url: String,
    /// The SQLite file, for the ceiling's own connection.
    pub sqlite_path: Option<std::path::PathBuf>,
    /// The schema/database of a server, dropped by [`Target::drop_all`].
    scratch: Option<(Db, String)>,
    _dir: Option<tempfile::TempDir>,
}

fn scratch_name(label: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("bulkinup_bench_{}_{n}_{label}", std::process::id())
}

impl Target {
    /// Creates a fresh, empty copy of the blog tables for the method `label` (the categories
    /// are seeded by [`baseline::fresh`](crate::baseline::fresh)).
    ///
    /// # Errors
    /// When the database cannot be reached or the DDL fails.
    pub async fn empty(url: &str, label: &str) -> Result<Target> {
        let kind = Kind::from_url(url)?;
        let name = scratch_name(label);
        let mut sqlite_path = None;
        let (target_url, scratch, dir) = match kind {
            Kind::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("bulkinup-bench-")
                    .tempdir()
                    .context("creating a temporary directory for SQLite")?;
                let path = dir.path().join(format!("{name}.db"));
                let url = format!("sqlite://{}", path.display());
                sqlite_path = Some(path);
                (url, None, Some(dir))
            }
            Kind::Postgres => {
                let admin = Db::connect(url).await.context("connecting to PostgreSQL")?;
                admin
                    .execute_script(&format!("CREATE SCHEMA {}", kind.quote(&name)))
                    .await
                    .context("creating the scratch schema")?;
                let sep = if url.contains('?') { '&' } else { '?' };
                let target = format!("{url}{sep}options=-c%20search_path%3D{name}");
                (target, Some((admin, name)), None)
            }
            Kind::MySql => {
                let admin = Db::connect(url)
                    .await
                    .context("connecting to MariaDB/MySQL")?;
                admin
                    .execute_script(&format!("CREATE DATABASE {}", kind.quote(&name)))
                    .await
                    .context("creating the scratch database")?;
                let base = url.split('?').next().unwrap_or(url);
                let root = base.rsplit_once('/').map_or(base, |(r, _)| r);
                (format!("{root}/{name}"), Some((admin, name)), None)
            }
        };
        let db = Db::connect(&target_url)
            .await
            .context("connecting to the scratch database")?;
        let target = Target {
            db,
            url: target_url,
            kind,
            sqlite_path,
            scratch,
            _dir: dir,
        };
        target
            .db
            .execute_script(kind.ddl())
            .await
            .context("creating the blog tables")?;
        Ok(target)
    }

    /// Asks the server to write its dirty pages now (PostgreSQL `CHECKPOINT`), so that one
    /// method's checkpoint does not land in the next one's timing. A no-op elsewhere.
    ///
    /// # Errors
    /// When the statement fails.
    pub async fn checkpoint(&self) -> Result<()> {
        if let Some((admin, _)) = &self.scratch
            && self.kind == Kind::Postgres
        {
            admin.execute_script("CHECKPOINT").await?;
        }
        Ok(())
    }

    /// `SELECT COUNT(*)` of a table.
    ///
    /// # Errors
    /// When the query fails.
    pub async fn count(&self, table: &str) -> Result<u64> {
        self.count_sql(format!("SELECT COUNT(*) FROM {}", self.kind.quote(table)))
            .await
    }

    /// `SELECT COUNT(*) FROM table WHERE condition` (a condition written by the harness).
    ///
    /// # Errors
    /// When the query fails.
    pub async fn count_where(&self, table: &str, condition: &str) -> Result<u64> {
        self.count_sql(format!(
            "SELECT COUNT(*) FROM {} WHERE {condition}",
            self.kind.quote(table)
        ))
        .await
    }

    /// The one integer a `SELECT COUNT(*) …` returns.
    async fn count_sql(&self, sql: String) -> Result<u64> {
        let sql = sqlx::AssertSqlSafe(sql);
        let n: i64 = match &self.db {
            Db::Sqlite(p) => sqlx::query(sql).fetch_one(p).await?.try_get(0)?,
            Db::Postgres(p, _) => sqlx::query(sql).fetch_one(p).await?.try_get(0)?,
            Db::MySql(p) => sqlx::query(sql).fetch_one(p).await?.try_get(0)?,
            _ => bail!("unsupported database"),
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Checks that every table holds exactly the expected number of rows.
    ///
    /// # Errors
    /// Names every table whose count differs: the method did not write what it claims.
    pub async fn verify(&self, method: &str, expected: &BTreeMap<&'static str, u64>) -> Result<()> {
        let mut wrong = Vec::new();
        for (table, &want) in expected {
            let got = self.count(table).await?;
            if got != want {
                wrong.push(format!("{table}: {got} rows, expected {want}"));
            }
        }
        if !wrong.is_empty() {
            bail!(
                "method {method}: the database does not hold the expected rows: {}",
                wrong.join("; ")
            );
        }
        Ok(())
    }

    /// The database's name and version, for the report.
    ///
    /// # Errors
    /// When the query fails.
    pub async fn version(&self) -> Result<String> {
        Ok(match &self.db {
            Db::Sqlite(p) => {
                let v: String = sqlx::query("SELECT sqlite_version()")
                    .fetch_one(p)
                    .await?
                    .try_get(0)?;
                let journal: String = sqlx::query("PRAGMA journal_mode")
                    .fetch_one(p)
                    .await?
                    .try_get(0)?;
                let sync: i64 = sqlx::query("PRAGMA synchronous")
                    .fetch_one(p)
                    .await?
                    .try_get(0)?;
                format!("SQLite {v} (journal_mode={journal}, synchronous={sync})")
            }
            Db::Postgres(p, _) => {
                let v: String = sqlx::query("SHOW server_version")
                    .fetch_one(p)
                    .await?
                    .try_get(0)?;
                format!("PostgreSQL {v}")
            }
            Db::MySql(p) => {
                let v: String = sqlx::query("SELECT VERSION()")
                    .fetch_one(p)
                    .await?
                    .try_get(0)?;
                format!("MySQL/MariaDB {v}")
            }
            _ => bail!("unsupported database"),
        })
    }

    /// Closes the pool and drops the scratch schema, database or file.
    pub async fn drop_all(self) {
        self.db.close().await;
        if let Some((admin, name)) = &self.scratch {
            let sql = match self.kind {
                Kind::Postgres => format!("DROP SCHEMA {} CASCADE", self.kind.quote(name)),
                _ => format!("DROP DATABASE {}", self.kind.quote(name)),
            };
            if let Err(e) = admin.execute_script(&sql).await {
                eprintln!("warning: could not drop {name}: {e}");
            }
            admin.close().await;
        }
    }
}
