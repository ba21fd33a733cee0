//! The baselines: the workload's rows, already flattened per table, written in one
//! transaction by the ways people load such data without bulkinup.
//!
//! - [`Method::Copy`] — PostgreSQL `COPY … FROM STDIN` (text format), the ceiling there.
//! - [`Method::PreparedPerRow`] — SQLite: one prepared `INSERT` per table, reused for every
//!   row, through rusqlite on its own connection to the same file (sqlx would add a hop to its
//!   worker thread per statement), the ceiling there.
//! - [`Method::Insert`] — plain `INSERT … VALUES` with `rows_per_statement` rows: the largest
//!   multi-row statement the bind limit and `max_allowed_packet` allow is the ceiling on
//!   MariaDB/MySQL (sqlx 0.9 cannot send `LOAD DATA LOCAL INFILE`).
//! - [`Method::Upsert`] — `INSERT … VALUES … ON CONFLICT (key) DO UPDATE SET c = EXCLUDED.c`
//!   (MySQL: `ON DUPLICATE KEY UPDATE c = VALUES(c)`), join rows `DO NOTHING`: with 1,000 rows
//!   per statement this is how Ecto's `insert_all` writes; with 1 it is a naive ORM save loop.
//!
//! - [`Method::InsertText`] — MySQL/MariaDB: the same multi-row `INSERT … VALUES` as
//!   [`Method::Insert`], sent as one SQL text with the values written as literals (the text
//!   protocol's `COM_QUERY`) instead of a prepared statement with bound parameters.
//!
//! Identifiers are quoted by the database's rules and every value is a bound parameter,
//! except in [`Method::InsertText`].

use std::io::Write as _;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use bulkinup::Db;
use sqlx::error::BoxDynError;
use sqlx::mysql::MySql;
use sqlx::postgres::{PgPool, Postgres};
use sqlx::sqlite::Sqlite;
use sqlx::types::chrono::NaiveDateTime;
use sqlx::{Arguments, Database, Executor, Pool};

use crate::target::{Kind, KindExt, Target};
use crate::workload::{Cell, Table, TableDef};

/// Bound parameters one PostgreSQL statement may carry (the protocol's i16 count).
const PG_BIND_LIMIT: usize = 65_535;
/// Bound parameters one MySQL/MariaDB prepared statement may carry.
const MYSQL_BIND_LIMIT: usize = 65_535;
/// `SQLITE_MAX_VARIABLE_NUMBER` of SQLite ≥ 3.32 (the version sqlx bundles).
const SQLITE_BIND_LIMIT: usize = 32_766;
/// Bytes of COPY data buffered before each `CopyData` send.
const COPY_BUFFER: usize = 1 << 20;

/// A fresh, empty copy of the blog tables for the method `label` ([`Target::empty`]), with
/// the categories the posts refer to seeded by a plain insert.
///
/// # Errors
/// When the database cannot be reached, the DDL or the seeding fails.
pub async fn fresh(url: &str, label: &str) -> Result<Target> {
    let target = Target::empty(url, label).await?;
    write(
        &target,
        std::slice::from_ref(&crate::workload::Workload::categories()),
        Method::Insert {
            rows_per_statement: usize::MAX,
        },
    )
    .await
    .context("seeding the categories")?;
    Ok(target)
}

/// How a baseline writes the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// PostgreSQL `COPY … FROM STDIN` in text format.
    Copy,
    /// SQLite: one prepared `INSERT` per table reused for every row (rusqlite).
    PreparedPerRow,
    /// `INSERT … VALUES` without a conflict clause.
    Insert {
        /// Rows per statement, capped by the bind limit (and MySQL's packet size).
        rows_per_statement: usize,
    },
    /// MySQL/MariaDB: `INSERT … VALUES` without a conflict clause, the values written into
    /// the SQL text as literals and sent through the text protocol (`COM_QUERY`).
    InsertText {
        /// Rows per statement, capped as [`Method::Insert`]'s are.
        rows_per_statement: usize,
    },
    /// `INSERT … VALUES … ON CONFLICT DO UPDATE` (join rows: do nothing).
    Upsert {
        /// Rows per statement, capped by the bind limit (and MySQL's packet size).
        rows_per_statement: usize,
    },
}

/// What a baseline wrote.
#[derive(Debug, Clone, Default)]
pub struct Written {
    /// Rows written, all tables together.
    pub rows: u64,
    /// Rows per full statement, per table (empty for COPY).
    pub rows_per_statement: Vec<(&'static str, usize)>,
}

/// Writes `tables` (in order, parents first) into `target` in one transaction.
///
/// # Errors
/// The database's error, naming the table; [`Method::Copy`] on a database other than
/// PostgreSQL.
pub async fn write(target: &Target, tables: &[Table], method: Method) -> Result<Written> {
    match (&target.db, method) {
        (Db::Postgres(p, _), Method::Copy) => Ok(Written {
            rows: copy_pg(p, tables).await?,
            rows_per_statement: Vec::new(),
        }),
        (_, Method::Copy) => bail!("COPY is only available on PostgreSQL"),
        (Db::Sqlite(p), Method::PreparedPerRow) => {
            let path = target
                .sqlite_path
                .as_deref()
                .context("the SQLite target has no file")?;
            // Same durability as the pool's connections.
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(p)
                .await?;
            let rows =
                tokio::task::block_in_place(|| sqlite_prepared_per_row(path, tables, synchronous))?;
            Ok(Written {
                rows,
                rows_per_statement: tables.iter().map(|t| (t.def.name, 1)).collect(),
            })
        }
        (_, Method::PreparedPerRow) => bail!("the rusqlite ceiling is SQLite-only"),
        (Db::MySql(p), Method::InsertText { rows_per_statement }) => {
            let packet = max_allowed_packet(p).await?;
            let sql_mode: String = sqlx::query_scalar("SELECT @@sql_mode")
                .fetch_one(p)
                .await
                .context("reading sql_mode")?;
            // The literals escape with backslashes, which this mode turns off.
            if sql_mode.contains("NO_BACKSLASH_ESCAPES") {
                bail!("the text-protocol ceiling needs a sql_mode without NO_BACKSLASH_ESCAPES");
            }
            values_text(p, tables, rows_per_statement, packet).await
        }
        (_, Method::InsertText { .. }) => bail!("the text-protocol ceiling is MySQL-only"),
        (Db::Postgres(p, _), m) => values(p, Kind::Postgres, tables, m, None).await,
        (Db::Sqlite(p), m) => values(p, Kind::Sqlite, tables, m, None).await,
        (Db::MySql(p), m) => {
            let packet = max_allowed_packet(p).await?;
            values(p, Kind::MySql, tables, m, Some(packet)).await
        }
        _ => bail!("unsupported database"),
    }
}

/// The rows per statement a method uses for a table on a database: the requested count,
/// capped by the bind limit (and, on MySQL, half the packet size for the largest row).
pub fn rows_per_statement(kind: Kind, table: &Table, requested: usize, packet: usize) -> usize {
    let bind_limit = match kind {
        Kind::Postgres => PG_BIND_LIMIT,
        Kind::MySql => MYSQL_BIND_LIMIT,
        Kind::Sqlite => SQLITE_BIND_LIMIT,
    };
    let by_binds = bind_limit / table.def.columns.len().max(1);
    let by_packet = match kind {
        Kind::MySql => (packet / 2) / max_row_bytes(table).max(1),
        _ => usize::MAX,
    };
    requested.min(by_binds).min(by_packet).max(1)
}

/// An upper estimate of one row's size in a MySQL `COM_STMT_EXECUTE` packet (values plus
/// per-parameter type and length bytes), over the first rows of the table.
fn max_row_bytes(table: &Table) -> usize {
    table
        .rows
        .iter()
        .take(1_000)
        .map(|row| {
            row.iter()
                .map(|c| {
                    12 + match c {
                        Cell::Int(_) => 8,
                        Cell::Text(s) => s.len(),
                        Cell::Json(j) => j.get().len(),
                        Cell::NullTimestamp => 0,
                    }
                })
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0)
}

/// Binds one cell as a parameter of the database's matching type.
pub trait BindCell: Database {
    /// Appends `cell` to `args`.
    ///
    /// # Errors
    /// When the driver cannot encode the value.
    fn bind_cell(args: &mut Self::Arguments, cell: &Cell) -> Result<(), BoxDynError>;
}

impl BindCell for Postgres {
    fn bind_cell(args: &mut Self::Arguments, cell: &Cell) -> Result<(), BoxDynError> {
        match cell {
            Cell::Int(i) => args.add(*i),
            Cell::Text(s) => args.add(s.as_str()),
            Cell::Json(j) => args.add(&**j),
            Cell::NullTimestamp => args.add(None::<NaiveDateTime>),
        }
    }
}

impl BindCell for MySql {
    fn bind_cell(args: &mut Self::Arguments, cell: &Cell) -> Result<(), BoxDynError> {
        match cell {
            Cell::Int(i) => args.add(*i),
            Cell::Text(s) => args.add(s.as_str()),
            Cell::Json(j) => args.add(j.get()),
            Cell::NullTimestamp => args.add(None::<NaiveDateTime>),
        }
    }
}

impl BindCell for Sqlite {
    fn bind_cell(args: &mut Self::Arguments, cell: &Cell) -> Result<(), BoxDynError> {
        match cell {
            Cell::Int(i) => args.add(*i),
            Cell::Text(s) => args.add(s.as_str()),
            Cell::Json(j) => args.add(j.get()),
            Cell::NullTimestamp => args.add(None::<String>),
        }
    }
}

/// `INSERT INTO t (c, …) VALUES (…), … [conflict clause]` for `rows` rows.
pub fn insert_sql(kind: Kind, def: &TableDef, rows: usize, upsert: bool) -> String {
    let q = |c: &str| kind.quote(c);
    let columns: Vec<String> = def.columns.iter().map(|c| q(c)).collect();
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ",
        q(def.name),
        columns.join(", ")
    );
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns.len() {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            match kind {
                Kind::Postgres => {
                    sql.push('$');
                    sql.push_str(&n.to_string());
                }
                Kind::Sqlite | Kind::MySql => sql.push('?'),
            }
        }
        sql.push(')');
    }
    if upsert {
        let set: Vec<&str> = def.update_columns().collect();
        let key: Vec<String> = def.key.iter().map(|c| q(c)).collect();
        match kind {
            Kind::MySql => {
                let assignments: Vec<String> = if set.is_empty() {
                    vec![format!("{0} = {0}", key[0])]
                } else {
                    set.iter()
                        .map(|c| format!("{0} = VALUES({0})", q(c)))
                        .collect()
                };
                sql.push_str(" ON DUPLICATE KEY UPDATE ");
                sql.push_str(&assignments.join(", "));
            }
            Kind::Postgres | Kind::Sqlite => {
                sql.push_str(&format!(" ON CONFLICT ({}) ", key.join(", ")));
                if set.is_empty() {
                    sql.push_str("DO NOTHING");
                } else {
                    let assignments: Vec<String> = set
                        .iter()
                        .map(|c| format!("{0} = EXCLUDED.{0}", q(c)))
                        .collect();
                    sql.push_str("DO UPDATE SET ");
                    sql.push_str(&assignments.join(", "));
                }
            }
        }
    }
    sql
}

/// Multi-row (or one-row) `INSERT … VALUES` statements in one transaction.
async fn values<DB>(
    pool: &Pool<DB>,
    kind: Kind,
    tables: &[Table],
    method: Method,
    packet: Option<usize>,
) -> Result<Written>
where
    DB: BindCell + sqlx::database::HasStatementCache,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    let (requested, upsert) = match method {
        Method::Insert { rows_per_statement } => (rows_per_statement, false),
        Method::Upsert { rows_per_statement } => (rows_per_statement, true),
        Method::Copy | Method::PreparedPerRow | Method::InsertText { .. } => {
            bail!("not a bound VALUES method")
        }
    };
    let mut tx = pool.begin().await?;
    let mut written = Written::default();
    for table in tables {
        let per = rows_per_statement(kind, table, requested, packet.unwrap_or(usize::MAX));
        written.rows_per_statement.push((table.def.name, per));
        let full: Arc<str> = insert_sql(kind, &table.def, per, upsert).into();
        for rows in table.rows.chunks(per) {
            let sql: Arc<str> = if rows.len() == per {
                Arc::clone(&full)
            } else {
                insert_sql(kind, &table.def, rows.len(), upsert).into()
            };
            let mut args = DB::Arguments::default();
            for row in rows {
                for cell in row {
                    DB::bind_cell(&mut args, cell).map_err(|e| anyhow!(e))?;
                }
            }
            sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
                .persistent(rows.len() == per)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("writing table {}", table.def.name))?;
            written.rows += rows.len() as u64;
        }
    }
    tx.commit().await.context("commit")?;
    Ok(written)
}

/// The server's `max_allowed_packet`, in bytes.
async fn max_allowed_packet(pool: &sqlx::MySqlPool) -> Result<usize> {
    let packet: u64 = sqlx::query_scalar("SELECT @@max_allowed_packet")
        .fetch_one(pool)
        .await
        .context("reading max_allowed_packet")?;
    Ok(usize::try_from(packet).unwrap_or(usize::MAX))
}

/// MySQL/MariaDB: multi-row `INSERT … VALUES` of literal values, each statement one
/// `COM_QUERY` (`sqlx::raw_sql`), in one transaction; rows per statement as
/// [`Method::Insert`] would use, so the two differ only in the protocol.
async fn values_text(
    pool: &sqlx::MySqlPool,
    tables: &[Table],
    requested: usize,
    packet: usize,
) -> Result<Written> {
    let mut tx = pool.begin().await?;
    let mut written = Written::default();
    for table in tables {
        let per = rows_per_statement(Kind::MySql, table, requested, packet);
        written.rows_per_statement.push((table.def.name, per));
        let q = |c: &str| Kind::MySql.quote(c);
        let columns: Vec<String> = table.def.columns.iter().map(|c| q(c)).collect();
        let head = format!(
            "INSERT INTO {} ({}) VALUES ",
            q(table.def.name),
            columns.join(", ")
        );
        let mut sql = String::new();
        for rows in table.rows.chunks(per) {
            sql.clear();
            sql.push_str(&head);
            for (r, row) in rows.iter().enumerate() {
                if r > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                for (c, cell) in row.iter().enumerate() {
                    if c > 0 {
                        sql.push_str(", ");
                    }
                    push_mysql_literal(cell, &mut sql);
                }
                sql.push(')');
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.as_str()))
                .execute(&mut *tx)
                .await
                .with_context(|| format!("writing table {}", table.def.name))?;
            written.rows += rows.len() as u64;
        }
    }
    tx.commit().await.context("commit")?;
    Ok(written)
}

/// Appends `cell` as a MySQL literal: an integer as is, text and JSON as a `_utf8mb4`
/// string with backslash, quote and NUL escaped, `NULL` as the keyword.
fn push_mysql_literal(cell: &Cell, sql: &mut String) {
    let text = |s: &str, sql: &mut String| {
        sql.push_str("_utf8mb4'");
        for ch in s.chars() {
            match ch {
                '\\' => sql.push_str("\\\\"),
                '\'' => sql.push_str("\\'"),
                '\0' => sql.push_str("\\0"),
                _ => sql.push(ch),
            }
        }
        sql.push('\'');
    };
    match cell {
        Cell::Int(i) => sql.push_str(&i.to_string()),
        Cell::Text(s) => text(s, sql),
        Cell::Json(j) => text(j.get(), sql),
        Cell::NullTimestamp => sql.push_str("NULL"),
    }
}

/// Milliseconds per `COPY … FROM STDIN` of `rows` two-column rows, over `commands` commands
/// in one transaction, into a temporary table: the fixed cost of one COPY command.
pub async fn copy_latency_ms(url: &str, commands: u32, rows: usize) -> Result<f64> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let mut tx = conn.begin().await?;
    sqlx::raw_sql("CREATE TEMPORARY TABLE copy_latency (a bigint, b text) ON COMMIT DROP")
        .execute(&mut *tx)
        .await
        .context("creating the temporary table")?;
    let mut data = Vec::new();
    for i in 0..rows {
        writeln!(data, "{i}\trow {i}")?;
    }
    let start = std::time::Instant::now();
    for _ in 0..commands {
        let mut copy = tx
            .copy_in_raw("COPY copy_latency (a, b) FROM STDIN")
            .await
            .context("COPY into copy_latency")?;
        copy.send(data.as_slice()).await?;
        copy.finish().await.context("COPY into copy_latency")?;
    }
    let ms = start.elapsed().as_secs_f64() * 1000.0 / f64::from(commands.max(1));
    tx.rollback().await?;
    Ok(ms)
}

/// `COPY t (c, …) FROM STDIN` per table, text format, in one transaction.
async fn copy_pg(pool: &PgPool, tables: &[Table]) -> Result<u64> {
    let mut tx = pool.begin().await?;
    let mut written = 0u64;
    let mut buf: Vec<u8> = Vec::with_capacity(COPY_BUFFER + 64 * 1024);
    for table in tables {
        let columns: Vec<String> = table
            .def
            .columns
            .iter()
            .map(|c| Kind::Postgres.quote(c))
            .collect();
        let sql = format!(
            "COPY {} ({}) FROM STDIN",
            Kind::Postgres.quote(table.def.name),
            columns.join(", ")
        );
        let mut copy = tx
            .copy_in_raw(&sql)
            .await
            .with_context(|| format!("COPY into {}", table.def.name))?;
        for row in &table.rows {
            encode_copy_text(row, &mut buf);
            if buf.len() >= COPY_BUFFER {
                copy.send(buf.as_slice()).await?;
                buf.clear();
            }
        }
        if !buf.is_empty() {
            copy.send(buf.as_slice()).await?;
            buf.clear();
        }
        written += copy
            .finish()
            .await
            .with_context(|| format!("COPY into {}", table.def.name))?;
    }
    tx.commit().await.context("commit")?;
    Ok(written)
}

/// One prepared `INSERT` per table, reused for every row, in one transaction, on a rusqlite
/// connection to the SQLite file (foreign keys on, the pool's `synchronous`).
fn sqlite_prepared_per_row(
    path: &std::path::Path,
    tables: &[Table],
    synchronous: i64,
) -> Result<u64> {
    let mut conn = rusqlite::Connection::open(path).context("opening the SQLite file")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    let tx = conn.transaction()?;
    let mut written = 0u64;
    for table in tables {
        let sql = insert_sql(Kind::Sqlite, &table.def, 1, false);
        let mut stmt = tx.prepare(&sql)?;
        for row in &table.rows {
            for (i, cell) in row.iter().enumerate() {
                match cell {
                    Cell::Int(v) => stmt.raw_bind_parameter(i + 1, v)?,
                    Cell::Text(s) => stmt.raw_bind_parameter(i + 1, s.as_str())?,
                    Cell::Json(j) => stmt.raw_bind_parameter(i + 1, j.get())?,
                    Cell::NullTimestamp => stmt.raw_bind_parameter(i + 1, rusqlite::types::Null)?,
                }
            }
            written += stmt
                .raw_execute()
                .with_context(|| format!("writing table {}", table.def.name))?
                as u64;
        }
    }
    tx.commit().context("commit")?;
    Ok(written)
}

/// Appends one row in COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
pub fn encode_copy_text(row: &[Cell], buf: &mut Vec<u8>) {
    for (i, cell) in row.iter().enumerate() {
        if i > 0 {
            buf.push(b'\t');
        }
        match cell {
            Cell::Int(v) => {
                let _ = write!(buf, "{v}");
            }
            Cell::Text(s) => escape_copy_text(s, buf),
            Cell::Json(j) => escape_copy_text(j.get(), buf),
            Cell::NullTimestamp => buf.extend_from_slice(b"\\N"),
        }
    }
    buf.push(b'\n');
}

fn escape_copy_text(s: &str, buf: &mut Vec<u8>) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            _ => buf.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::TABLES;

    #[test]
    fn upsert_sql_per_database() {
        let tags = TABLES[4];
        assert_eq!(
            insert_sql(Kind::Postgres, &tags, 2, true),
            r#"INSERT INTO "tags" ("id", "name") VALUES ($1, $2), ($3, $4) ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name""#
        );
        assert_eq!(
            insert_sql(Kind::MySql, &tags, 1, true),
            "INSERT INTO `tags` (`id`, `name`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)"
        );
        let join = TABLES[5];
        assert_eq!(
            insert_sql(Kind::Sqlite, &join, 1, true),
            r#"INSERT INTO "posts_tags" ("post_id", "tag_id") VALUES (?, ?) ON CONFLICT ("post_id", "tag_id") DO NOTHING"#
        );
        assert_eq!(
            insert_sql(Kind::MySql, &join, 1, true),
            "INSERT INTO `posts_tags` (`post_id`, `tag_id`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `post_id` = `post_id`"
        );
        assert_eq!(
            insert_sql(Kind::Postgres, &join, 1, false),
            r#"INSERT INTO "posts_tags" ("post_id", "tag_id") VALUES ($1, $2)"#
        );
    }

    #[test]
    fn mysql_literals_escape_backslash_quote_and_nul() {
        let mut sql = String::new();
        for cell in [
            Cell::Int(-7),
            Cell::Text("a'b\\c\0d".into()),
            Cell::NullTimestamp,
        ] {
            push_mysql_literal(&cell, &mut sql);
            sql.push(' ');
        }
        assert_eq!(sql, "-7 _utf8mb4'a\\'b\\\\c\\0d' NULL ");
    }

    #[test]
    fn copy_text_escapes_and_nulls() {
        let mut buf = Vec::new();
        encode_copy_text(
            &[
                Cell::Int(-7),
                Cell::Text("a\tb\\c\nd".into()),
                Cell::NullTimestamp,
            ],
            &mut buf,
        );
        assert_eq!(buf, b"-7\ta\\tb\\\\c\\nd\t\\N\n");
    }
}
