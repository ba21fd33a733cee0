//! SQL dialects: one [`Dialect`] trait whose default methods render the standard
//! (PostgreSQL/SQLite) form, and one implementation per database that overrides only what
//! differs. Identifiers always go through [`Dialect::quote`]; values are always bound
//! parameters, never part of the SQL text.
//!
//! ```
//! use bulkinup::dialect::{Dialect, MySqlDialect, PgDialect};
//! use bulkinup::plan::OnConflict;
//!
//! let on_conflict = OnConflict::Update { target: vec!["id".into()], set: vec!["name".into()] };
//! assert_eq!(
//!     PgDialect.insert_sql("tags", &["id", "name"], 2, &on_conflict),
//!     r#"INSERT INTO "tags" ("id", "name") VALUES ($1, $2), ($3, $4) ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name""#
//! );
//! assert_eq!(
//!     MySqlDialect.insert_sql("tags", &["id", "name"], 1, &on_conflict),
//!     "INSERT INTO `tags` (`id`, `name`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)"
//! );
//! ```

mod mysql;
mod postgres;
mod sqlite;

use std::fmt::Write;

pub use mysql::MySqlDialect;
pub use postgres::PgDialect;
pub use sqlite::SqliteDialect;

use crate::plan::{Column, OnConflict};
use crate::schema::{FieldType, Value};

/// How one database spells SQL. Defaults are the standard form shared by PostgreSQL and
/// SQLite; each database overrides only what differs.
pub trait Dialect: Send + Sync {
    /// The database's name, for messages.
    fn name(&self) -> &'static str;

    /// The most bound parameters one statement may carry.
    fn bind_limit(&self) -> usize;

    /// Quotes an identifier, doubling embedded quote characters.
    fn quote(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }

    /// Appends the placeholder of the `n`-th (1-based) bound parameter.
    fn placeholder(&self, out: &mut String, n: usize) {
        let _ = write!(out, "${n}");
    }

    /// Renders the conflict clause (empty for [`OnConflict::Raise`]).
    fn on_conflict_sql(&self, on_conflict: &OnConflict) -> String {
        let cols = |c: &[String]| {
            c.iter()
                .map(|c| self.quote(c))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match on_conflict {
            OnConflict::Raise => String::new(),
            OnConflict::Nothing { target } => format!(" ON CONFLICT ({}) DO NOTHING", cols(target)),
            OnConflict::Update { target, set } => {
                let sets = set
                    .iter()
                    .map(|c| {
                        let q = self.quote(c);
                        format!("{q} = EXCLUDED.{q}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(" ON CONFLICT ({}) DO UPDATE SET {sets}", cols(target))
            }
        }
    }

    /// Whether a numbered placeholder may appear several times in one statement (`$1`,
    /// `?1`), so a value shared by every row is bound once.
    fn reuses_placeholders(&self) -> bool {
        true
    }

    /// A multi-row `INSERT … VALUES` of `rows` rows with its conflict clause.
    fn insert_sql(
        &self,
        table: &str,
        columns: &[&str],
        rows: usize,
        on_conflict: &OnConflict,
    ) -> String {
        self.insert_sql_shared(table, columns, &[], rows, on_conflict)
    }

    /// As [`Dialect::insert_sql`], where the columns flagged in `shared` have one value for
    /// every row: when the dialect [reuses placeholders](Dialect::reuses_placeholders) they
    /// are bound once, as the first parameters, and each row refers to them; otherwise they
    /// are bound per row like any column.
    fn insert_sql_shared(
        &self,
        table: &str,
        columns: &[&str],
        shared: &[bool],
        rows: usize,
        on_conflict: &OnConflict,
    ) -> String {
        let reuse = self.reuses_placeholders();
        let is_shared = |c: usize| reuse && shared.get(c).copied().unwrap_or(false);
        let mut shared_no = vec![0; columns.len()];
        let mut n = 0;
        for (c, no) in shared_no.iter_mut().enumerate() {
            if is_shared(c) {
                n += 1;
                *no = n;
            }
        }
        let mut sql = String::with_capacity(64 + rows * columns.len() * 5);
        let _ = write!(sql, "INSERT INTO {} (", self.quote(table));
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&self.quote(c));
        }
        sql.push_str(") VALUES ");
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for (c, &no) in shared_no.iter().enumerate() {
                if c > 0 {
                    sql.push_str(", ");
                }
                if no > 0 {
                    self.placeholder(&mut sql, no);
                } else {
                    n += 1;
                    self.placeholder(&mut sql, n);
                }
            }
            sql.push(')');
        }
        sql.push_str(&self.on_conflict_sql(on_conflict));
        sql
    }

    /// Whether an error code means a deadlock or serialization failure (worth a retry).
    fn is_retryable(&self, code: &str) -> bool;

    /// The statement that bounds each statement of the current transaction by `limit`
    /// (`None` for no limit), where the database has one.
    fn statement_timeout_sql(&self, _limit: Option<std::time::Duration>) -> Option<String> {
        None
    }

    /// Whether a failure of [`Dialect::statement_timeout_sql`] is ignored (the database may
    /// not support it).
    fn statement_timeout_optional(&self) -> bool {
        false
    }

    /// Whether an error code means a statement was cancelled by that limit.
    fn is_statement_timeout(&self, _code: &str) -> bool {
        false
    }
}

/// A dialect bound to its sqlx driver: how each [`Value`] of each [`FieldType`] is bound.
pub(crate) trait Backend: Dialect + Default + 'static {
    /// The sqlx database.
    type DB: sqlx::Database;

    /// Binds one value as a parameter of the field's type.
    fn bind(
        args: &mut <Self::DB as sqlx::Database>::Arguments,
        value: &Value,
        ty: &FieldType,
    ) -> Result<(), sqlx::error::BoxDynError>;

    /// A statement that writes any number of rows with one parameter per column (PostgreSQL's
    /// `INSERT … SELECT … FROM unnest($1::t[], …)`), or `None` when the backend has none or the
    /// columns do not allow it; the executor then uses multi-row `VALUES`. Columns flagged
    /// `shared` are bound once, as scalars, after the arrays.
    fn columnar_sql(
        &self,
        _table: &str,
        _columns: &[Column],
        _on_conflict: &OnConflict,
    ) -> Option<String> {
        None
    }

    /// Binds `rows` for [`Backend::columnar_sql`]: one array per non-shared column, then the
    /// shared columns' values from the first row.
    fn bind_columns(
        _args: &mut <Self::DB as sqlx::Database>::Arguments,
        _columns: &[Column],
        _rows: &[Vec<Value>],
    ) -> Result<(), sqlx::error::BoxDynError> {
        Err("this database has no columnar statement".into())
    }

    /// Decodes column `i` of a row to JSON, by the column's database type.
    fn column_json(row: &<Self::DB as sqlx::Database>::Row, i: usize) -> serde_json::Value;
}

/// The single point where SQL text enters sqlx. Every caller passes text rendered by a
/// [`Dialect`] (identifiers quoted, values bound as parameters) or fixed DDL that the caller
/// owns; input is never part of it.
pub(crate) fn trusted_sql(sql: impl Into<String>) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql.into())
}

/// Runs a query and decodes every row to a JSON object.
pub(crate) async fn fetch_json<B: Backend>(
    pool: &sqlx::Pool<B::DB>,
    sql: &str,
) -> crate::error::Result<Vec<serde_json::Map<String, serde_json::Value>>>
where
    for<'c> &'c sqlx::Pool<B::DB>: sqlx::Executor<'c, Database = B::DB>,
    <B::DB as sqlx::Database>::Arguments: sqlx::IntoArguments<B::DB>,
{
    use sqlx::{Column, Row};
    let rows = sqlx::query(trusted_sql(sql))
        .fetch_all(pool)
        .await
        .map_err(|e| crate::error::Error::database(None, e))?;
    Ok(rows
        .iter()
        .map(|row| {
            row.columns()
                .iter()
                .enumerate()
                .map(|(i, c)| (c.name().to_string(), B::column_json(row, i)))
                .collect()
        })
        .collect())
}

/// Tries to decode a column as each listed type in turn, converting the first that fits.
macro_rules! decode_first {
    ($row:expr, $i:expr, $( $t:ty => $conv:expr ),+ $(,)?) => {{
        use sqlx::Row as _;
        $(
            if let Ok(v) = $row.try_get::<Option<$t>, _>($i) {
                return match v {
                    None => serde_json::Value::Null,
                    Some(x) => ($conv)(x),
                };
            }
        )+
        serde_json::Value::String("<undecodable>".into())
    }};
}
pub(crate) use decode_first;

/// JSON text of a value stored as JSON where the database has no native type for it
/// (arrays and maps on SQLite and MySQL).
pub(crate) fn json_text(value: &Value) -> String {
    match value {
        Value::Json(j) => j.to_string(),
        other => other.to_json().to_string(),
    }
}

#[cfg(test)]
mod tests;
