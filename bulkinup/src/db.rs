//! The database: [`DbKind`] (the one table of URL schemes, each with its dialect), URL
//! checking and [`redact`], and [`Db`], the connection pool. This is the one place that
//! matches on the kind of database: every call is dispatched from here to the generic
//! pipeline with its [`Backend`](crate::dialect::Backend).

use std::str::FromStr;
use std::time::Duration;

use futures::Stream;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::pool::PoolOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{ConnectOptions, Connection, Executor};

use crate::dialect::{Dialect, MySqlDialect, PgDialect, SqliteDialect};
use crate::error::{Error, Result};
use crate::execute;
use crate::item::Item;
use crate::options::{Options, Verb};
use crate::schema::Registry;
use crate::summary::Summary;

mod nodelay;

/// The kinds of database bulkinup connects to, chosen by a URL's scheme.
///
/// ```
/// use bulkinup::DbKind;
/// assert_eq!(DbKind::from_url("postgresql://u@h/db")?, DbKind::Postgres);
/// assert_eq!(DbKind::from_url("mariadb://root@127.0.0.1/test")?, DbKind::MySql);
/// assert_eq!(DbKind::from_url("sqlite::memory:")?, DbKind::Sqlite);
/// assert!(DbKind::from_url("oracle://x").is_err());
/// # Ok::<(), bulkinup::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DbKind {
    /// SQLite (embedded): `sqlite://PATH`, `sqlite::memory:`.
    Sqlite,
    /// PostgreSQL: `postgres://…`, `postgresql://…`.
    Postgres,
    /// MySQL or MariaDB: `mysql://…`, `mariadb://…`.
    MySql,
}

/// The one table of URL schemes: scheme → database.
const URL_SCHEMES: &[(&str, DbKind)] = &[
    ("sqlite", DbKind::Sqlite),
    ("postgres", DbKind::Postgres),
    ("postgresql", DbKind::Postgres),
    ("mysql", DbKind::MySql),
    ("mariadb", DbKind::MySql),
];

/// The URL forms, for messages.
pub const URL_FORMS: &str =
    "sqlite://PATH, sqlite::memory:, postgres://…, postgresql://…, mysql://…, mariadb://…";

impl DbKind {
    /// The database a URL names, by its scheme.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] (`database_url`) for a scheme of no supported database,
    /// naming the valid forms.
    pub fn from_url(url: &str) -> Result<DbKind> {
        let scheme = url.split(':').next().unwrap_or_default();
        URL_SCHEMES
            .iter()
            .find(|(s, _)| scheme.eq_ignore_ascii_case(s))
            .map(|(_, kind)| *kind)
            .ok_or_else(|| {
                Error::option(
                    "database_url",
                    format!("unsupported database URL scheme `{scheme}:`"),
                    Some(URL_FORMS),
                )
            })
    }

    /// The SQL dialect of this kind of database.
    pub fn dialect(self) -> &'static dyn Dialect {
        match self {
            DbKind::Sqlite => &SqliteDialect,
            DbKind::Postgres => &PgDialect,
            DbKind::MySql => &MySqlDialect,
        }
    }
}

/// How plain inserts (no conflict clause, no generated keys to read back) are written on
/// PostgreSQL, chosen by the URL's `bulkinup_copy` parameter (`on`, the default, or `off`),
/// which bulkinup reads and removes before the driver sees the URL.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let e = bulkinup::Db::connect("postgres://u@127.0.0.1:1/x?bulkinup_copy=maybe").await.unwrap_err();
/// assert_eq!(
///     e.to_string(),
///     "invalid option `database_url`: `bulkinup_copy=maybe` is neither `on` nor `off` (valid: on, off)"
/// );
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PgInserts {
    /// One binary `COPY … FROM STDIN` per batch where every column of the table has the type
    /// its values are bound as (else as [`PgInserts::Unnest`]): `bulkinup_copy=on`, and the
    /// default on a server that is PostgreSQL itself ([`PgInserts::for_server`]).
    #[default]
    Copy,
    /// `INSERT … SELECT … FROM unnest(…)`: `bulkinup_copy=off`, and the default on a server
    /// that speaks PostgreSQL's protocol without being PostgreSQL (CockroachDB, YugabyteDB,
    /// Citus), whose `COPY` differs ([`PgInserts::for_server`]).
    Unnest,
}

impl PgInserts {
    /// The URL parameter that chooses it.
    pub const URL_PARAMETER: &'static str = "bulkinup_copy";

    /// The query that tells PostgreSQL from the servers that only speak its protocol: the
    /// version string, and whether the Citus extension is installed in the database.
    const SERVER_SQL: &'static str =
        "SELECT version(), EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus')";

    /// The default for a server whose `SELECT version()` is `version` and that has the Citus
    /// extension or not (`None`: the question failed): binary `COPY` on PostgreSQL itself
    /// (a version starting `PostgreSQL `, without YugabyteDB's `-YB-`, without Citus), the
    /// `unnest` insert anywhere else. Their documentation describes a `COPY` that differs:
    /// YugabyteDB commits every 20,000 rows of a `COPY` by default, CockroachDB's needs the
    /// `admin` role, and Citus distributes it; `bulkinup_copy=on` in the URL uses `COPY` on
    /// them all the same (docs/distributed.md).
    ///
    /// ```
    /// use bulkinup::PgInserts;
    /// let pg = "PostgreSQL 15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu";
    /// assert_eq!(PgInserts::for_server(Some((pg, false))), PgInserts::Copy);
    /// assert_eq!(PgInserts::for_server(Some((pg, true))), PgInserts::Unnest);
    /// let yb = "PostgreSQL 11.2-YB-2.18.0.1-b0 on x86_64-pc-linux-gnu";
    /// assert_eq!(PgInserts::for_server(Some((yb, false))), PgInserts::Unnest);
    /// let crdb = "CockroachDB CCL v23.1.11 (x86_64-pc-linux-gnu, built 2023/09/27)";
    /// assert_eq!(PgInserts::for_server(Some((crdb, false))), PgInserts::Unnest);
    /// assert_eq!(PgInserts::for_server(None), PgInserts::Unnest);
    /// ```
    pub fn for_server(server: Option<(&str, bool)>) -> PgInserts {
        match server {
            Some((version, false))
                if version.starts_with("PostgreSQL ") && !version.contains("-YB-") =>
            {
                PgInserts::Copy
            }
            _ => PgInserts::Unnest,
        }
    }

    /// The default for the server of `conn` ([`PgInserts::for_server`]), asked once when the
    /// pool is made, within the connect timeout.
    async fn of_server(conn: &mut sqlx::PgConnection) -> PgInserts {
        let row: std::result::Result<(String, bool), sqlx::Error> =
            sqlx::query_as(PgInserts::SERVER_SQL).fetch_one(conn).await;
        let choice = PgInserts::for_server(row.as_ref().ok().map(|(v, c)| (v.as_str(), *c)));
        match &row {
            Ok((version, citus)) => {
                tracing::debug!(version, citus, ?choice, "how plain inserts are written")
            }
            Err(error) => {
                tracing::debug!(%error, ?choice, "the server's version could not be read")
            }
        }
        choice
    }

    /// The choice a PostgreSQL URL makes (`None`: it makes none), and the URL without the
    /// parameter.
    fn take_from(url: &str) -> Result<(String, Option<PgInserts>)> {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_string(), None));
        };
        let mut choice = None;
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key != PgInserts::URL_PARAMETER {
                kept.push(pair);
                continue;
            }
            choice = match value {
                "on" => Some(PgInserts::Copy),
                "off" => Some(PgInserts::Unnest),
                other => {
                    return Err(Error::option(
                        "database_url",
                        format!("`{key}={other}` is neither `on` nor `off`"),
                        Some("on, off"),
                    ));
                }
            };
        }
        let url = match kept.is_empty() {
            true => base.to_string(),
            false => format!("{base}?{}", kept.join("&")),
        };
        Ok((url, choice))
    }
}

/// A connection pool to one database: SQLite, PostgreSQL or MySQL/MariaDB.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = bulkinup::Db::connect("sqlite::memory:").await?;
/// assert_eq!(db.dialect().name(), "SQLite");
/// # Ok::<(), bulkinup::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Db {
    /// SQLite (embedded).
    Sqlite(SqlitePool),
    /// PostgreSQL, and how it writes plain inserts (the URL's `bulkinup_copy`).
    Postgres(PgPool, PgInserts),
    /// MySQL or MariaDB.
    MySql(MySqlPool),
}

impl Db {
    /// Connects to `sqlite://PATH` (created if missing; `sqlite::memory:` for an in-memory
    /// database), `postgres://…` or `mysql://…` (also MariaDB), within the default connect
    /// timeout ([`DEFAULT_CONNECT_TIMEOUT`](crate::DEFAULT_CONNECT_TIMEOUT), 10 s): as
    /// [`Db::connect_timeout`].
    ///
    /// # Errors
    /// As [`Db::connect_timeout`].
    pub async fn connect(url: &str) -> Result<Db> {
        Db::connect_timeout(url, crate::options::DEFAULT_CONNECT_TIMEOUT).await
    }

    /// Connects to `sqlite://PATH` (created if missing; `sqlite::memory:` for an in-memory
    /// database), `postgres://…` or `mysql://…` (also MariaDB), giving up after `limit`.
    ///
    /// One connection is opened first, on its own, so that a failure is reported with its
    /// real reason at once (a refused connection is not retried); then the pool is built.
    /// The whole of it is bounded by `limit` on the client's clock, whatever the server does
    /// (one that accepts the connection and never answers included). A `limit` of more than
    /// a day is taken as a day.
    ///
    /// A SQLite URL may attach more databases to every connection with `attach=NAME:FILE`
    /// (repeatable; the file is created if missing), which schema prefixes then name:
    /// `sqlite://main.db?attach=analytics:analytics.db` writes a schema with
    /// `prefix = "analytics"` into `analytics.db`.
    ///
    /// PostgreSQL and MySQL/MariaDB connections use TLS (rustls) as the URL's own parameters
    /// say: PostgreSQL's `sslmode=disable|prefer|require|verify-ca|verify-full` with
    /// `sslrootcert=FILE` (and `sslcert`/`sslkey` for a client certificate), MySQL's
    /// `ssl-mode=DISABLED|PREFERRED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY` with `ssl-ca=FILE`
    /// (and `ssl-cert`/`ssl-key`). Without them, `prefer` / `PREFERRED`: TLS where the server
    /// offers it, its certificate unchecked. The verifying modes trust the system's roots and
    /// the CA file. A failed handshake, or a server without TLS under `require` or stronger,
    /// is an [`Error::Connect`] with the cause.
    ///
    /// On PostgreSQL, the URL's `bulkinup_copy=on|off` (removed before the driver reads the
    /// URL) chooses how plain inserts are written ([`PgInserts`]).
    ///
    /// Every new TCP connection to PostgreSQL or MySQL/MariaDB gets `TCP_NODELAY` (Linux;
    /// sqlx 0.9.0 no longer sets it): found by the ports the server reports for the session,
    /// set on a duplicate of its socket (`pidfd_getfd`). Where that fails the connection is
    /// used as it is, with a `debug` event.
    ///
    /// SQLite connections enforce foreign keys. PostgreSQL sessions use the UTC time zone,
    /// and sqlx sets MySQL sessions to `+00:00`, so timestamps are written in UTC whether a
    /// column is `timestamp` or `timestamptz`.
    ///
    /// TCP keepalive: sqlx 0.9 gives no access to the client's socket, so the client sets
    /// none. PostgreSQL sessions ask the server for keepalive probes on its side
    /// (`tcp_keepalives_idle = 30`, `tcp_keepalives_interval = 10`, `tcp_keepalives_count = 3`,
    /// unless the URL's `options` set them), which ends a session whose client is gone
    /// within about a minute; MySQL/MariaDB have no per-session setting (a MariaDB server
    /// probes with its global `tcp_keepalive_*`, else the system's defaults). Neither bounds
    /// the client: its waits are bounded by the connect timeout and the statement deadlines
    /// ([`Options::statement_timeout`](crate::Options::statement_timeout)).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::time::Duration;
    /// let e = bulkinup::Db::connect_timeout("postgres://u:secret@127.0.0.1:1/x", Duration::from_secs(2))
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(e.to_string(), "cannot connect to postgres://u:***@127.0.0.1:1/x: connection refused");
    /// assert_eq!(e.exit_code(), 1);
    /// # });
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidOption`] (`database_url`) for a URL of no supported database, an
    /// unknown TLS mode, an `ssl…` parameter the driver does not read, or a TLS file that
    /// cannot be read;
    /// [`Error::Connect`] when the connection fails or `limit` runs out, with the reason and
    /// the URL without its password.
    pub async fn connect_timeout(url: &str, limit: Duration) -> Result<Db> {
        Db::open(url, limit, false).await
    }

    /// Connects as [`Db::connect`] to read only, for looking at a database that must exist:
    /// a SQLite file is opened read-only (`mode=ro`) and never created. PostgreSQL and
    /// MySQL/MariaDB connect as with [`Db::connect`].
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let e = bulkinup::Db::connect_read_only("sqlite://no-such-file.db").await.unwrap_err();
    /// assert_eq!(
    ///     e.to_string(),
    ///     "cannot connect to sqlite://no-such-file.db: the SQLite file `no-such-file.db` does not exist (it is opened read-only, never created)"
    /// );
    /// assert!(!std::path::Path::new("no-such-file.db").exists());
    /// # });
    /// ```
    ///
    /// # Errors
    /// As [`Db::connect_timeout`], and [`Error::Connect`] naming the path of a SQLite file
    /// that does not exist.
    pub async fn connect_read_only(url: &str) -> Result<Db> {
        Db::connect_read_only_timeout(url, crate::options::DEFAULT_CONNECT_TIMEOUT).await
    }

    /// Connects as [`Db::connect_read_only`], giving up after `limit` (as
    /// [`Db::connect_timeout`]).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::time::Duration;
    /// let db = bulkinup::Db::connect_read_only_timeout("sqlite::memory:", Duration::from_secs(2)).await?;
    /// assert_eq!(db.kind(), bulkinup::DbKind::Sqlite);
    /// # Ok::<(), bulkinup::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// As [`Db::connect_read_only`].
    pub async fn connect_read_only_timeout(url: &str, limit: Duration) -> Result<Db> {
        Db::open(url, limit, true).await
    }

    /// The file a `sqlite://PATH` URL names (`None` for another database or an in-memory
    /// one), as the driver reads the URL.
    ///
    /// ```
    /// use std::path::Path;
    /// assert_eq!(bulkinup::Db::sqlite_file("sqlite://bulkinup.db").as_deref(), Some(Path::new("bulkinup.db")));
    /// assert_eq!(bulkinup::Db::sqlite_file("sqlite::memory:"), None);
    /// assert_eq!(bulkinup::Db::sqlite_file("postgres://h/db"), None);
    /// ```
    pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
        if DbKind::from_url(url).ok()? != DbKind::Sqlite {
            return None;
        }
        let (sqlite_url, _) = sqlite_attachments(url).ok()?;
        if sqlite_url.contains(":memory:") || sqlite_url.contains("mode=memory") {
            return None;
        }
        let opts = SqliteConnectOptions::from_str(&sqlite_url).ok()?;
        Some(opts.get_filename().to_path_buf())
    }

    /// Connects to `url` within `limit`; `read_only` opens a SQLite file read-only and never
    /// creates it.
    async fn open(url: &str, limit: Duration, read_only: bool) -> Result<Db> {
        let bad_url = |e: sqlx::Error| {
            Error::option(
                "database_url",
                format!("cannot parse the URL: {}", configuration_reason(&e)),
                None,
            )
        };
        let limit = limit.min(MAX_CONNECT_TIMEOUT);
        let kind = DbKind::from_url(url)?;
        if kind == DbKind::Sqlite {
            let (sqlite_url, attach) = sqlite_attachments(url)?;
            let opts = SqliteConnectOptions::from_str(&sqlite_url)
                .map_err(bad_url)?
                .create_if_missing(!read_only)
                .read_only(read_only)
                .foreign_keys(true);
            let memory = sqlite_url.contains(":memory:") || sqlite_url.contains("mode=memory");
            let dir = opts
                .get_filename()
                .parent()
                .filter(|d| !d.as_os_str().is_empty());
            if let Some(dir) = dir.filter(|d| !memory && !d.is_dir()) {
                return Err(not_found(
                    url,
                    format!(
                        "the directory `{}` of the SQLite file does not exist",
                        dir.display()
                    ),
                ));
            }
            if read_only && !memory && !opts.get_filename().exists() {
                return Err(not_found(
                    url,
                    format!(
                        "the SQLite file `{}` does not exist (it is opened read-only, never created)",
                        opts.get_filename().display()
                    ),
                ));
            }
            let pool = if memory {
                // Each connection to `:memory:` is its own database: keep exactly one.
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                SqlitePoolOptions::new().max_connections(4)
            };
            // Every connection of the pool attaches the same databases.
            let attach = std::sync::Arc::new(attach);
            let first = std::sync::Arc::clone(&attach);
            let pool = acquire_within(pool, limit).after_connect(move |conn, _meta| {
                let attach = std::sync::Arc::clone(&attach);
                Box::pin(async move { attach_all(conn, &attach).await })
            });
            let connecting = async {
                // The first connection, on its own: the pool retries a failed `after_connect`
                // until its time runs out, and would report only that.
                let mut conn = opts.connect().await?;
                attach_all(&mut conn, &first).await?;
                conn.close().await?;
                pool.connect_with(opts).await
            };
            within(url, limit, connecting).await.map(Db::Sqlite)
        } else if kind == DbKind::Postgres {
            check_tls_parameters(url, kind)?;
            let (url, given) = PgInserts::take_from(url)?;
            let url = url.as_str();
            let opts = PgConnectOptions::from_str(url)
                .map_err(bad_url)?
                .options([("timezone", "UTC")]);
            let opts = match opts.get_options() {
                // The URL's own keepalive settings are kept.
                Some(given) if given.contains("tcp_keepalives") => opts,
                _ => opts.options(PG_KEEPALIVES),
            };
            let pool = acquire_within(PgPoolOptions::new().max_connections(8), limit)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        nodelay::set_pg(conn).await;
                        Ok(())
                    })
                });
            let connecting = async {
                let mut first = opts.connect().await?;
                let inserts = match given {
                    Some(choice) => choice,
                    None => PgInserts::of_server(&mut first).await,
                };
                first.close().await?;
                Ok((pool.connect_with(opts).await?, inserts))
            };
            within(url, limit, connecting)
                .await
                .map(|(pool, inserts)| Db::Postgres(pool, inserts))
        } else {
            let mysql_url = match url.split_once(':') {
                Some((_, rest)) => format!("mysql:{rest}"),
                None => url.to_string(),
            };
            check_tls_parameters(url, kind)?;
            let opts = MySqlConnectOptions::from_str(&mysql_url).map_err(bad_url)?;
            let pool = acquire_within(MySqlPoolOptions::new().max_connections(8), limit)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        nodelay::set_mysql(conn).await;
                        Ok(())
                    })
                });
            let connecting = async {
                opts.connect().await?.close().await?;
                pool.connect_with(opts).await
            };
            within(url, limit, connecting).await.map(Db::MySql)
        }
    }

    /// The kind of database.
    pub fn kind(&self) -> DbKind {
        match self {
            Db::Sqlite(_) => DbKind::Sqlite,
            Db::Postgres(..) => DbKind::Postgres,
            Db::MySql(_) => DbKind::MySql,
        }
    }

    /// The dialect of this database.
    pub fn dialect(&self) -> &'static dyn Dialect {
        self.kind().dialect()
    }

    /// Runs SQL text as is, several statements allowed (DDL of fixtures, tests,
    /// benchmarks). Never pass it input: it binds nothing.
    ///
    /// It has **no time limit**: on a server or network that stops answering it waits for
    /// good. For a database that may stall, use [`Db::execute_script_within`].
    ///
    /// # Errors
    /// [`Error::Database`] with the database's reason.
    pub async fn execute_script(&self, sql: &str) -> Result<()> {
        let sql = crate::dialect::trusted_sql(sql);
        let r = match self {
            Db::Sqlite(p) => p.execute(sqlx::raw_sql(sql)).await.map(drop),
            Db::Postgres(p, _) => p.execute(sqlx::raw_sql(sql)).await.map(drop),
            Db::MySql(p) => p.execute(sqlx::raw_sql(sql)).await.map(drop),
        };
        r.map_err(|e| Error::database(None, e))
    }

    /// Runs a query and returns its rows as JSON objects (column name → value), decoding
    /// each column by its database type. For reports and tests.
    ///
    /// It has **no time limit**: on a server or network that stops answering it waits for
    /// good. For a database that may stall, use [`Db::fetch_json_within`].
    ///
    /// # Errors
    /// [`Error::Database`] with the database's reason.
    pub async fn fetch_json(
        &self,
        sql: &str,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
        match self {
            Db::Sqlite(p) => crate::dialect::fetch_json::<SqliteDialect>(p, sql).await,
            Db::Postgres(p, _) => crate::dialect::fetch_json::<PgDialect>(p, sql).await,
            Db::MySql(p) => crate::dialect::fetch_json::<MySqlDialect>(p, sql).await,
        }
    }

    /// As [`Db::fetch_json`], within the time limits of `options`: the query may wait at
    /// most `min(statement_timeout, timeout)` ([`Options::statement_timeout`],
    /// [`Options::timeout`]; the library's defaults: 15 s) on the client's clock. On
    /// PostgreSQL and MySQL/MariaDB it runs on a connection of its own; one without an
    /// answer when its limit passes (plus a grace of a tenth of `statement_timeout`, at
    /// most 1 s, when that binds) is abandoned, its connection closed (never returned to
    /// the pool mid-protocol), and the result is an [`Error::Timeout`] naming the option
    /// that set the limit ([`Waited::Query`](crate::Waited::Query)). The database is not
    /// told the limit. SQLite runs in the process and is never abandoned (a lock another
    /// connection holds is waited for up to SQLite's busy timeout, 5 s).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use bulkinup::{Db, Options};
    /// let db = Db::connect("sqlite::memory:").await?;
    /// let rows = db.fetch_json_within("SELECT 1 AS one", &Options::default()).await?;
    /// assert_eq!(rows[0]["one"], 1);
    /// # Ok::<(), bulkinup::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::Database`] with the database's reason; [`Error::Timeout`] when the limit
    /// passes.
    pub async fn fetch_json_within(
        &self,
        sql: &str,
        options: &Options,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
        let deadline = execute::Deadline::queries(options.timeout, options.statement_timeout);
        self.fetch_json_with(sql, &[], &deadline).await
    }

    /// As [`Db::execute_script`], within the time limits of `options`, as
    /// [`Db::fetch_json_within`]: the script runs outside any transaction (each statement
    /// as the database commits it on its own), so what it had done before a stall is as the
    /// server left it.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use bulkinup::{Db, Options};
    /// let db = Db::connect("sqlite::memory:").await?;
    /// db.execute_script_within("CREATE TABLE tags (id INTEGER PRIMARY KEY)", &Options::default())
    ///     .await?;
    /// # Ok::<(), bulkinup::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`Error::Database`] with the database's reason; [`Error::Timeout`] when the limit
    /// passes.
    pub async fn execute_script_within(&self, sql: &str, options: &Options) -> Result<()> {
        let deadline = execute::Deadline::queries(options.timeout, options.statement_timeout);
        match self {
            Db::Sqlite(p) => {
                execute::execute_script_within::<SqliteDialect>(p, sql, &deadline).await
            }
            Db::Postgres(p, _) => {
                execute::execute_script_within::<PgDialect>(p, sql, &deadline).await
            }
            Db::MySql(p) => execute::execute_script_within::<MySqlDialect>(p, sql, &deadline).await,
        }
    }

    /// As [`Db::fetch_json`], binding `params` as text in order (`None` binds `NULL`), on a
    /// connection of its own bounded by `deadline` on the client's clock: a query without
    /// an answer in time is abandoned, its connection closed, and the result is an
    /// [`Error::Timeout`] naming `statement_timeout` or `timeout`, whichever set it.
    pub(crate) async fn fetch_json_with(
        &self,
        sql: &str,
        params: &[Option<&str>],
        deadline: &execute::Deadline,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
        match self {
            Db::Sqlite(p) => {
                execute::fetch_json_within::<SqliteDialect>(p, sql, params, deadline).await
            }
            Db::Postgres(p, _) => {
                execute::fetch_json_within::<PgDialect>(p, sql, params, deadline).await
            }
            Db::MySql(p) => {
                execute::fetch_json_within::<MySqlDialect>(p, sql, params, deadline).await
            }
        }
    }

    /// Closes the pool, waiting at most 5 s for its connections to close: each idle one is
    /// told goodbye (PostgreSQL's `Terminate`, MySQL's `COM_QUIT`) and closed, and one still
    /// in use is waited for until it comes back. What has not closed by then is dropped
    /// (its socket closed) without more waiting, so a server or network that stops
    /// answering cannot hang the close.
    pub async fn close(&self) {
        let closing = async {
            match self {
                Db::Sqlite(p) => p.close().await,
                Db::Postgres(p, _) => p.close().await,
                Db::MySql(p) => p.close().await,
            }
        };
        if tokio::time::timeout(CLOSE_LIMIT, closing).await.is_err() {
            tracing::debug!(
                limit_s = CLOSE_LIMIT.as_secs_f64(),
                "the pool's connections did not close in time: dropped"
            );
        }
    }

    /// An error unless `prefix` is a valid name that exists in the database: an
    /// [`Error::Schema`] of `owner`'s `prefix` when a schema names it, else an
    /// [`Error::InvalidOption`] (`prefix`). The query is bounded by `deadline`, as
    /// [`Db::fetch_json_with`].
    pub(crate) async fn check_prefix(
        &self,
        prefix: &str,
        owner: Option<&str>,
        deadline: &execute::Deadline,
    ) -> Result<()> {
        let error = |message: String| match owner {
            Some(schema) => Error::schema(Some(schema), Some("prefix"), message),
            None => Error::option("prefix", message, None),
        };
        crate::schema::check_identifier(prefix).map_err(error)?;
        if !self.prefix_exists(prefix, deadline).await? {
            return Err(error(format!(
                "prefix `{prefix}` does not exist in the database: a prefix is {}",
                self.dialect().prefix_help()
            )));
        }
        Ok(())
    }

    /// Whether `prefix` exists in the database: a PostgreSQL schema, a MySQL/MariaDB
    /// database, an attached SQLite database. The query is bounded by `deadline`, as
    /// [`Db::fetch_json_with`]; its failure is the error.
    pub(crate) async fn prefix_exists(
        &self,
        prefix: &str,
        deadline: &execute::Deadline,
    ) -> Result<bool> {
        let sql = self.dialect().prefix_exists_sql();
        let found = self.fetch_json_with(sql, &[Some(prefix)], deadline).await?;
        Ok(!found.is_empty())
    }

    /// Checks, before anything is written, that every prefix a call writes in exists: the
    /// prefixes of the schemas reachable from the root (their own, else the call's
    /// `prefix`), each check bounded like a statement of the call. A dry run contacts no
    /// database and checks none.
    async fn check_write_prefixes(
        &self,
        registry: &Registry,
        root: &str,
        options: &Options,
    ) -> Result<()> {
        let limit = execute::statement_limit(options.timeout, options.statement_timeout);
        let mut checked: Vec<&str> = Vec::new();
        for s in registry.reachable_from(root) {
            if s.is_embedded() {
                continue;
            }
            let (prefix, owner) = match (s.prefix(), options.prefix.as_deref()) {
                (Some(p), _) => (p, Some(s.name())),
                (None, Some(p)) => (p, None),
                (None, None) => continue,
            };
            if !checked.contains(&prefix) {
                let deadline = execute::Deadline::of_statement(limit);
                self.check_prefix(prefix, owner, &deadline).await?;
                checked.push(prefix);
            }
        }
        Ok(())
    }

    /// Runs a call on this database: the items of `first`, and those of `again(attempt)` for
    /// each retry of a one-transaction call that hit a deadlock (see
    /// [`write_restartable`](crate::write_restartable)).
    pub(crate) async fn run<S, F>(
        &self,
        registry: &Registry,
        root: &str,
        verb: Verb,
        (first, again): (S, Option<F>),
        options: &Options,
    ) -> Result<Summary>
    where
        S: Stream<Item = Result<Item>>,
        F: FnMut(u32) -> Result<S>,
    {
        if !options.dry_run {
            self.check_write_prefixes(registry, root, options).await?;
        }
        match self {
            Db::Sqlite(p) => {
                execute::run::<SqliteDialect, S, F>(
                    p,
                    registry,
                    root,
                    verb,
                    (first, again),
                    options,
                    false,
                )
                .await
            }
            Db::Postgres(p, inserts) => {
                let copy = *inserts == PgInserts::Copy;
                execute::run::<PgDialect, S, F>(
                    p,
                    registry,
                    root,
                    verb,
                    (first, again),
                    options,
                    copy,
                )
                .await
            }
            Db::MySql(p) => {
                execute::run::<MySqlDialect, S, F>(
                    p,
                    registry,
                    root,
                    verb,
                    (first, again),
                    options,
                    false,
                )
                .await
            }
        }
    }
}

/// The TCP keepalive of every PostgreSQL session, set on the server's side of the
/// connection (the server's `tcp_keepalives_*` settings, given at connect time like the time
/// zone): sqlx 0.9 does not expose the client's socket, so the client cannot set its own.
/// The server probes a silent connection after 30 s and drops it after 3 unanswered probes
/// 10 s apart, so that a transaction whose client went away (an abandoned statement, a
/// broken network) is rolled back and its locks freed in about a minute instead of the
/// system's default of two hours. The client's own waits are bounded by its deadlines, not
/// by this.
const PG_KEEPALIVES: [(&str, &str); 3] = [
    ("tcp_keepalives_idle", "30"),
    ("tcp_keepalives_interval", "10"),
    ("tcp_keepalives_count", "3"),
];

/// The longest [`Db::close`] waits for the pool's connections to close.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);

/// The longest connect timeout: a longer one is taken as this (a day), so that no deadline
/// overflows the clock.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// How long the pool waits for a connection ([`PoolOptions::acquire_timeout`]): at least the
/// connect timeout, so that a first connection is never cut short by the pool (the connect
/// timeout itself is enforced by [`within`]). Never less than sqlx's default of 30 s: once
/// connected, a chunk of a call with `max_concurrency` may wait that long for a connection
/// the other chunks hold, as it always could.
fn acquire_within<DB: sqlx::Database>(pool: PoolOptions<DB>, limit: Duration) -> PoolOptions<DB> {
    pool.acquire_timeout(limit.max(Duration::from_secs(30)))
}

/// `connecting`, bounded by `limit`: its error, or the time running out, as an
/// [`Error::Connect`] naming the redacted `url`.
async fn within<T>(
    url: &str,
    limit: Duration,
    connecting: impl Future<Output = std::result::Result<T, sqlx::Error>>,
) -> Result<T> {
    let timed_out = || Error::Connect {
        url: redact(url),
        reason: format!(
            "no answer within {} s (--connect-timeout)",
            limit.as_secs_f64()
        ),
        timed_out_after: Some(limit.as_secs_f64()),
        source: None,
    };
    match tokio::time::timeout(limit, connecting).await {
        Ok(Ok(connected)) => Ok(connected),
        Ok(Err(sqlx::Error::PoolTimedOut)) | Err(_) => Err(timed_out()),
        Ok(Err(e)) => Err(Error::Connect {
            url: redact(url),
            reason: connect_reason(&e),
            timed_out_after: None,
            source: Some(Box::new(e)),
        }),
    }
}

/// Why a connection failed, in a few words: the operating system's reason when there is an
/// I/O error in the chain (`connection refused`, without the `(os error N)`), else the
/// database's message (`password authentication failed for user "x"`), else the driver's.
fn connect_reason(e: &sqlx::Error) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cause {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return tls_reason(tls);
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            // A failed TLS handshake comes as an I/O error around rustls' own.
            if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                return tls_reason(tls);
            }
            return io_reason(io);
        }
        cause = err.source();
    }
    match e {
        sqlx::Error::Database(db) => db.message().to_string(),
        other => configuration_reason(other),
    }
}

/// An [`Error::Connect`] for a SQLite `url` whose file or directory is missing, found before
/// connecting.
fn not_found(url: &str, reason: String) -> Error {
    Error::Connect {
        url: redact(url),
        reason,
        timed_out_after: None,
        source: None,
    }
}

/// A driver's configuration error without sqlx's repeated `error with configuration: `
/// prefix (a configuration error wrapping another one says it twice).
fn configuration_reason(e: &sqlx::Error) -> String {
    let text = e.to_string();
    let mut reason = text.as_str();
    while let Some(rest) = reason.strip_prefix("error with configuration: ") {
        reason = rest;
    }
    reason.to_string()
}

/// The TLS parameters PostgreSQL's driver reads from a URL (each spelling it takes).
const PG_TLS_PARAMETERS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
];

/// The TLS parameters MySQL's driver reads from a URL (each spelling it takes).
const MYSQL_TLS_PARAMETERS: &[&str] = &[
    "ssl-mode", "sslmode", "ssl-ca", "sslca", "ssl-cert", "sslcert", "ssl-key", "sslkey",
];

/// Of those, the ones that name a file (a CA, a client certificate or its key).
const TLS_FILE_PARAMETERS: &[&str] = &[
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
];

/// The environment variables PostgreSQL's driver reads a TLS file from when the URL names
/// none, with the parameter each stands for.
const PG_TLS_FILE_VARIABLES: &[(&str, &str)] = &[
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
];

/// Checks a PostgreSQL or MySQL URL's TLS parameters before connecting, where the drivers
/// would fail silently or without saying which file: an [`Error::InvalidOption`]
/// (`database_url`) for a parameter that looks like a TLS one (`ssl…`) but that the driver
/// does not read (it would ignore it: `ssl_mode=REQUIRED` would connect without requiring
/// TLS), and for a TLS file that cannot be read — one the URL names or, on PostgreSQL, an
/// environment variable names for a parameter the URL lacks. A value that is PEM text
/// itself (`-----BEGIN …`) is not a file.
fn check_tls_parameters(url: &str, kind: DbKind) -> Result<()> {
    let known = if kind == DbKind::Postgres {
        PG_TLS_PARAMETERS
    } else {
        MYSQL_TLS_PARAMETERS
    };
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let mut files: Vec<(String, String)> = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if !key.to_ascii_lowercase().starts_with("ssl") {
            continue;
        }
        if !known.contains(&key.as_ref()) {
            return Err(Error::option(
                "database_url",
                format!(
                    "unknown TLS parameter `{key}`{}",
                    crate::options::did_you_mean(&key.to_ascii_lowercase(), known)
                ),
                Some(&known.join(", ")),
            ));
        }
        if TLS_FILE_PARAMETERS.contains(&key.as_ref()) {
            files.push((format!("`{key}={value}`"), value.into_owned()));
        }
    }
    if kind == DbKind::Postgres {
        for (var, parameter) in PG_TLS_FILE_VARIABLES {
            let in_url = files
                .iter()
                .any(|(p, _)| p.starts_with(&format!("`{parameter}=")));
            if let (false, Ok(value)) = (in_url, std::env::var(var)) {
                files.push((format!("{var}={value} (environment)"), value));
            }
        }
    }
    for (what, path) in files {
        if path.trim_start().starts_with("-----BEGIN") {
            continue;
        }
        if let Err(e) = std::fs::File::open(&path) {
            return Err(Error::option(
                "database_url",
                format!("{what}: cannot read the file: {}", io_reason(&e)),
                None,
            ));
        }
    }
    Ok(())
}

/// The operating system's reason of an I/O error, in a few words: `connection refused`,
/// without the `(os error N)`.
fn io_reason(io: &std::io::Error) -> String {
    let text = io.to_string();
    let text = match text.find(" (os error ") {
        Some(at) => &text[..at],
        None => text.as_str(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => io.kind().to_string(),
    }
}

/// Why the TLS handshake failed: rustls' reason (`invalid peer certificate: certificate not
/// valid for name "127.0.0.1"; …`), and for a certificate of an unknown CA, where trusted CAs
/// come from.
fn tls_reason(e: &rustls::Error) -> String {
    use rustls::{CertificateError, Error as Tls};
    match e {
        Tls::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "TLS: {e}: no trusted CA signed the server's certificate \
             (trusted: the system's roots and the file of `sslrootcert` / `ssl-ca`)"
        ),
        _ => format!("TLS: {e}"),
    }
}

/// Attaches the databases of a SQLite URL's `attach=NAME:FILE` to a connection.
async fn attach_all(
    conn: &mut sqlx::SqliteConnection,
    attach: &[(String, String)],
) -> std::result::Result<(), sqlx::Error> {
    for (name, path) in attach {
        let sql = SqliteDialect.attach_sql(name);
        sqlx::query(crate::dialect::trusted_sql(sql))
            .bind(path.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Takes the `attach=NAME:FILE` parameters (repeatable) out of a SQLite URL: the databases
/// every connection attaches, so that a schema `prefix` (or the call's) can name them.
fn sqlite_attachments(url: &str) -> Result<(String, Vec<(String, String)>)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), Vec::new()));
    };
    let mut attach = Vec::new();
    let mut rest = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k == "attach" {
            let Some((name, path)) = v
                .split_once(':')
                .filter(|(n, p)| !n.is_empty() && !p.is_empty())
            else {
                return Err(Error::option(
                    "database_url",
                    format!("`attach={v}`: expected `attach=NAME:FILE`"),
                    Some("attach=NAME:FILE, e.g. sqlite://main.db?attach=analytics:analytics.db"),
                ));
            };
            crate::schema::check_identifier(name)
                .map_err(|m| Error::option("database_url", format!("`attach={v}`: {m}"), None))?;
            attach.push((name.to_string(), path.to_string()));
        } else {
            rest.append_pair(&k, &v);
        }
    }
    let rest = rest.finish();
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{rest}")
    };
    Ok((url, attach))
}

/// The URL with its password replaced by `***`, for messages: a password is never
/// printed.
///
/// ```
/// assert_eq!(bulkinup::redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
/// assert_eq!(bulkinup::redact("postgres://postgres@127.0.0.1/test"), "postgres://postgres@127.0.0.1/test");
/// assert_eq!(bulkinup::redact("sqlite://bulkinup.db"), "sqlite://bulkinup.db");
/// assert_eq!(bulkinup::redact("sqlite:"), "sqlite:");
/// ```
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => match parsed.set_password(Some("***")) {
            Ok(()) => parsed.to_string(),
            Err(()) => hide_credentials(url),
        },
        Ok(_) => url.to_string(),
        // Not a URL the parser reads: hide whatever stands before an `@`.
        Err(_) => hide_credentials(url),
    }
}

fn hide_credentials(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_string(),
    }
}
