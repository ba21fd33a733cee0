//! PostgreSQL's columnar fast path: a batch of any number of rows as one
//! `INSERT … SELECT … FROM unnest($1::t[], …)` with one array parameter per column, instead
//! of multi-row `VALUES` with one parameter per value. Only PostgreSQL has it; the executor
//! finds it through [`Backend::columnar`].

use std::fmt::Write;

use futures::future::BoxFuture;
use sqlx::Arguments;
use sqlx::postgres::{PgArguments, PgConnection, Postgres};
use sqlx::types::Json;

use super::{PgDialect, pg_type};
use crate::dialect::{Backend, Columnar, CopyPlan, Dialect, TableName, trusted_sql};
use crate::plan::{Column, OnConflict};
use crate::schema::{FieldType, Value};

/// The `unnest` statement and its array binding.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Unnest;

/// Collects one column of `rows` as an array parameter of `T`.
macro_rules! column_array {
    ($args:expr, $rows:expr, $i:expr, $table_ty:literal, $t:ty, $pat:pat => $e:expr) => {{
        let mut v: Vec<Option<$t>> = Vec::with_capacity($rows.len());
        for row in $rows {
            v.push(match &row[$i] {
                Value::Null => None,
                $pat => Some($e),
                other => {
                    return Err(format!(
                        "value {} does not fit a `{}` column",
                        other.to_json(),
                        $table_ty
                    )
                    .into());
                }
            });
        }
        $args.add(v)
    }};
}

impl Columnar<Postgres> for Unnest {
    fn sql(
        &self,
        table: TableName<'_>,
        columns: &[Column],
        on_conflict: &OnConflict,
    ) -> Option<String> {
        let types: Vec<&str> = columns
            .iter()
            .map(|c| pg_type(&c.ty))
            .collect::<Option<_>>()?;
        let mut arrays = String::new();
        let mut aliases = String::new();
        let mut select = String::new();
        let mut n = 0;
        for (i, _) in columns.iter().enumerate().filter(|(_, c)| !c.shared) {
            n += 1;
            let sep = if n > 1 { ", " } else { "" };
            let _ = write!(arrays, "{sep}${n}::{}[]", types[i]);
            let _ = write!(aliases, "{sep}c{i}");
        }
        let mut shared_no = n;
        for (i, c) in columns.iter().enumerate() {
            if i > 0 {
                select.push_str(", ");
            }
            if c.shared {
                shared_no += 1;
                let _ = write!(select, "${shared_no}::{}", types[i]);
            } else {
                let _ = write!(select, "u.c{i}");
            }
        }
        let cols = columns
            .iter()
            .map(|c| PgDialect.quote(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        Some(format!(
            "INSERT INTO {} ({cols}) SELECT {select} FROM unnest({arrays}) AS u({aliases}){}",
            PgDialect.quote_table(table),
            PgDialect.on_conflict_sql(on_conflict)
        ))
    }

    fn bind(
        &self,
        args: &mut PgArguments,
        columns: &[Column],
        rows: &[Vec<Value>],
    ) -> Result<(), sqlx::error::BoxDynError> {
        for (i, c) in columns.iter().enumerate().filter(|(_, c)| !c.shared) {
            match &c.ty {
                FieldType::Id | FieldType::Integer => {
                    column_array!(args, rows, i, "int8", i64, Value::Int(x) => *x)
                }
                FieldType::Float => {
                    column_array!(args, rows, i, "float8", f64, Value::Float(x) => *x)
                }
                FieldType::Decimal => {
                    column_array!(args, rows, i, "numeric", rust_decimal::Decimal, Value::Decimal(x) => *x)
                }
                FieldType::Boolean => {
                    column_array!(args, rows, i, "bool", bool, Value::Bool(x) => *x)
                }
                FieldType::String => {
                    column_array!(args, rows, i, "text", &str, Value::String(x) => x.as_str())
                }
                FieldType::Binary => {
                    column_array!(args, rows, i, "bytea", &[u8], Value::Bytes(x) => x.as_slice())
                }
                FieldType::BinaryId => {
                    column_array!(args, rows, i, "uuid", uuid::Uuid, Value::Uuid(x) => *x)
                }
                FieldType::Map | FieldType::Embed => {
                    column_array!(args, rows, i, "jsonb", Json<&serde_json::Value>, Value::Json(x) => Json(x))
                }
                FieldType::Date => {
                    column_array!(args, rows, i, "date", chrono::NaiveDate, Value::Date(x) => *x)
                }
                FieldType::Time => {
                    column_array!(args, rows, i, "time", chrono::NaiveTime, Value::Time(x) => *x)
                }
                FieldType::NaiveDatetime | FieldType::NaiveDatetimeUsec => {
                    column_array!(args, rows, i, "timestamp", chrono::NaiveDateTime, Value::NaiveDateTime(x) => *x)
                }
                FieldType::UtcDatetime | FieldType::UtcDatetimeUsec => {
                    column_array!(args, rows, i, "timestamptz", chrono::DateTime<chrono::Utc>, Value::UtcDateTime(x) => *x)
                }
                FieldType::Array(_) => Err("array columns have no columnar form".into()),
            }?;
        }
        if let Some(first) = rows.first() {
            for (i, c) in columns.iter().enumerate().filter(|(_, c)| c.shared) {
                PgDialect::bind(args, &first[i], &c.ty)?;
            }
        }
        Ok(())
    }

    /// `SELECT u.n - 1 FROM unnest($1::t[], …) WITH ORDINALITY AS u(c0, …, n) WHERE EXISTS
    /// (SELECT 1 FROM table AS x WHERE x.a = u.c0 AND …)`: one index lookup per row on the
    /// conflict target's unique index.
    fn probe_sql(&self, table: TableName<'_>, target: &[Column]) -> Option<String> {
        if target.is_empty() || target.iter().any(|c| c.shared) {
            return None;
        }
        let mut arrays = String::new();
        let mut aliases = String::new();
        let mut matches = String::new();
        for (i, c) in target.iter().enumerate() {
            let sep = if i > 0 { ", " } else { "" };
            let _ = write!(arrays, "{sep}${}::{}[]", i + 1, pg_type(&c.ty)?);
            let _ = write!(aliases, "{sep}c{i}");
            let and = if i > 0 { " AND " } else { "" };
            let _ = write!(matches, "{and}x.{} = u.c{i}", PgDialect.quote(&c.name));
        }
        Some(format!(
            "SELECT u.n - 1 FROM unnest({arrays}) WITH ORDINALITY AS u({aliases}, n) \
             WHERE EXISTS (SELECT 1 FROM {} AS x WHERE {matches})",
            PgDialect.quote_table(table)
        ))
    }

    fn probe<'c>(
        &'c self,
        conn: &'c mut PgConnection,
        sql: &'c str,
        target: &'c [Column],
        keys: &'c [Vec<Value>],
    ) -> BoxFuture<'c, Result<Vec<i64>, sqlx::Error>> {
        Box::pin(async move {
            let mut args = PgArguments::default();
            self.bind(&mut args, target, keys)
                .map_err(sqlx::Error::Encode)?;
            sqlx::query_scalar_with(trusted_sql(sql), args)
                .fetch_all(conn)
                .await
        })
    }

    /// Binary `COPY` for a batch without a conflict clause into a table whose column types
    /// allow it ([`copy`](super::copy)).
    fn copy_sql<'c>(
        &'c self,
        conn: &'c mut PgConnection,
        table: TableName<'c>,
        columns: &'c [Column],
        on_conflict: &'c OnConflict,
    ) -> BoxFuture<'c, Result<Option<CopyPlan>, sqlx::Error>> {
        super::copy::copy_sql(conn, table, columns, on_conflict)
    }

    fn copy<'c>(
        &'c self,
        conn: &'c mut PgConnection,
        plan: &'c CopyPlan,
        columns: &'c [Column],
        rows: &'c [Vec<Value>],
    ) -> BoxFuture<'c, Result<Option<u64>, sqlx::Error>> {
        super::copy::copy(conn, plan, columns, rows)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A column of a batch, for statement tests.
    pub(in crate::dialect::postgres) fn column(name: &str, ty: FieldType, shared: bool) -> Column {
        Column {
            name: name.into(),
            ty,
            shared,
        }
    }

    #[test]
    fn one_array_per_column_and_shared_columns_as_scalars_after_them() {
        let columns = [
            column("id", FieldType::Integer, false),
            column("inserted_at", FieldType::UtcDatetimeUsec, true),
            column("name", FieldType::String, false),
        ];
        let on_conflict = OnConflict::Update {
            target: vec!["id".into()],
            set: vec!["name".into()],
        };
        assert_eq!(
            Unnest.sql("tags".into(), &columns, &on_conflict).as_deref(),
            Some(
                r#"INSERT INTO "tags" ("id", "inserted_at", "name") SELECT u.c0, $3::timestamptz, u.c2 FROM unnest($1::int8[], $2::text[]) AS u(c0, c2) ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name""#
            )
        );
    }

    #[test]
    fn the_probe_returns_the_positions_of_rows_whose_target_exists() {
        let target = [
            column("post_id", FieldType::Integer, false),
            column("tag", FieldType::String, false),
        ];
        assert_eq!(
            Unnest.probe_sql("posts_tags".into(), &target).as_deref(),
            Some(
                r#"SELECT u.n - 1 FROM unnest($1::int8[], $2::text[]) WITH ORDINALITY AS u(c0, c1, n) WHERE EXISTS (SELECT 1 FROM "posts_tags" AS x WHERE x."post_id" = u.c0 AND x."tag" = u.c1)"#
            )
        );
        let arrays = [column(
            "tags",
            FieldType::Array(Box::new(FieldType::String)),
            false,
        )];
        assert_eq!(Unnest.probe_sql("posts".into(), &arrays), None);
    }

    #[test]
    fn array_columns_have_no_columnar_statement() {
        let columns = [column(
            "tags",
            FieldType::Array(Box::new(FieldType::String)),
            false,
        )];
        assert_eq!(
            Unnest.sql("posts".into(), &columns, &OnConflict::Raise),
            None
        );
    }
}
