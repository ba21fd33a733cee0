//! PostgreSQL: the standard form, `$n` placeholders, native arrays, `jsonb` and `uuid`.

use sqlx::Arguments;
use sqlx::postgres::{PgArguments, Postgres};
use sqlx::types::Json;

use std::fmt::Write;

use super::{Backend, CatalogQuery, Dialect, TableName};
use crate::plan::{Column, OnConflict};
use crate::schema::{FieldType, Value};

/// PostgreSQL's dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct PgDialect;

/// PostgreSQL accepts at most 65535 bound parameters per statement (the protocol's
/// parameter count is an `Int16`; see sqlx's `QueryBuilder::push_bind` docs).
pub const PG_BIND_LIMIT: usize = 65_535;

impl Dialect for PgDialect {
    fn name(&self) -> &'static str {
        "PostgreSQL"
    }

    fn bind_limit(&self) -> usize {
        PG_BIND_LIMIT
    }

    fn prefix_exists_sql(&self) -> &'static str {
        "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1"
    }

    fn prefix_help(&self) -> &'static str {
        "a PostgreSQL schema: create it with `CREATE SCHEMA`"
    }

    /// `40P01` deadlock_detected, `40001` serialization_failure
    /// (<https://www.postgresql.org/docs/current/errcodes-appendix.html>).
    fn is_retryable(&self, code: &str) -> bool {
        matches!(code, "40P01" | "40001")
    }

    /// `SET LOCAL statement_timeout` (milliseconds; 0 is no limit): ends with the transaction.
    fn statement_timeout_sql(&self, limit: Option<std::time::Duration>) -> Option<String> {
        let ms = limit.map_or(0, |l| l.as_millis().max(1));
        Some(format!("SET LOCAL statement_timeout = {ms}"))
    }

    /// `57014` query_canceled.
    fn is_statement_timeout(&self, code: &str) -> bool {
        code == "57014"
    }

    /// `pg_attribute` of the ordinary and partitioned tables of the schema `$1`, else of
    /// `current_schema()` (partitions left out). `data_type` is the `pg_type` name (`int8`,
    /// `_text` for `text[]`), a domain's base type for a domain.
    fn catalog_columns_sql(&self, _prefix: Option<&str>) -> CatalogQuery {
        CatalogQuery::new(CATALOG_COLUMNS, 1)
    }

    /// `pg_index`: unique, immediate (`ON CONFLICT` cannot use a deferrable constraint), not
    /// partial, not on expressions; key columns only (no `INCLUDE` columns).
    fn catalog_unique_keys_sql(&self, _prefix: Option<&str>) -> CatalogQuery {
        CatalogQuery::new(CATALOG_UNIQUE_KEYS, 1)
    }

    /// `pg_constraint` foreign keys between tables of the schema `$1`, else of
    /// `current_schema()` (the copies a partitioned table makes for its partitions left out).
    fn catalog_foreign_keys_sql(&self, _prefix: Option<&str>) -> CatalogQuery {
        CatalogQuery::new(CATALOG_FOREIGN_KEYS, 1)
    }

    /// Arrays (`_int8`) are `array:<element type>`.
    fn column_field_type(&self, data_type: &str, _column_type: &str) -> Option<FieldType> {
        match data_type.strip_prefix('_') {
            Some(element) => {
                super::standard_field_type(element).map(|t| FieldType::Array(Box::new(t)))
            }
            None => super::standard_field_type(data_type),
        }
    }
}

/// [`Dialect::catalog_columns_sql`]. Each catalog query reads the schema `$1` (the prefix),
/// else `current_schema()` when `$1` is `NULL`.
const CATALOG_COLUMNS: &str = r#"SELECT c.relname::text AS table_name, a.attname::text AS column_name,
       (CASE WHEN t.typtype = 'd' THEN bt.typname ELSE t.typname END)::text AS data_type,
       format_type(a.atttypid, a.atttypmod) AS column_type,
       a.attnotnull AS not_null,
       (a.atthasdef OR a.attidentity <> '') AS has_default,
       COALESCE(array_position(pk.conkey, a.attnum), 0)::int8 AS pk_position,
       (a.attidentity <> '' OR COALESCE(pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%', false)) AS is_identity,
       (a.attgenerated <> '') AS is_generated
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
LEFT JOIN pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p'
WHERE n.nspname = COALESCE($1::text, current_schema()) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname, a.attnum"#;

/// [`Dialect::catalog_unique_keys_sql`].
const CATALOG_UNIQUE_KEYS: &str = r#"SELECT c.relname::text AS table_name, i.relname::text AS key_name, k.ord::int8 AS position,
       a.attname::text AS column_name
FROM pg_index x
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class i ON i.oid = x.indexrelid
CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE n.nspname = COALESCE($1::text, current_schema()) AND x.indisunique AND x.indimmediate
  AND x.indpred IS NULL AND x.indexprs IS NULL AND k.ord <= x.indnkeyatts
ORDER BY 1, 2, 3"#;

/// [`Dialect::catalog_foreign_keys_sql`].
const CATALOG_FOREIGN_KEYS: &str = r#"SELECT c.relname::text AS table_name, con.conname::text AS constraint_name, k.ord::int8 AS position,
       a.attname::text AS column_name, rc.relname::text AS ref_table, ra.attname::text AS ref_column
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class rc ON rc.oid = con.confrelid
JOIN pg_namespace rn ON rn.oid = rc.relnamespace
CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refnum, ord)
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.refnum
WHERE con.contype = 'f' AND con.conparentid = 0
  AND n.nspname = COALESCE($1::text, current_schema()) AND rn.nspname = COALESCE($1::text, current_schema())
ORDER BY 1, 2, 3"#;

macro_rules! bind_array {
    ($args:expr, $items:expr, $t:ty, $pat:pat => $e:expr) => {{
        let v: Vec<Option<$t>> = $items
            .iter()
            .map(|x| match x {
                $pat => Some($e),
                _ => None,
            })
            .collect();
        $args.add(v)
    }};
}

/// The PostgreSQL type a field is bound as in a columnar statement (`None` for arrays, which
/// `unnest` would flatten).
fn pg_type(ty: &FieldType) -> Option<&'static str> {
    Some(match ty {
        FieldType::Id | FieldType::Integer => "int8",
        FieldType::Float => "float8",
        FieldType::Decimal => "numeric",
        FieldType::Boolean => "bool",
        FieldType::String => "text",
        FieldType::Binary => "bytea",
        FieldType::BinaryId => "uuid",
        FieldType::Map | FieldType::Embed => "jsonb",
        FieldType::Date => "date",
        FieldType::Time => "time",
        FieldType::NaiveDatetime | FieldType::NaiveDatetimeUsec => "timestamp",
        FieldType::UtcDatetime | FieldType::UtcDatetimeUsec => "timestamptz",
        FieldType::Array(_) => return None,
    })
}

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

impl Backend for PgDialect {
    type DB = Postgres;

    fn columnar_sql(
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
        for (i, c) in columns.iter().enumerate().filter(|(_, c)| !c.shared) {
            n += 1;
            let sep = if n > 1 { ", " } else { "" };
            let _ = write!(arrays, "{sep}${n}::{}[]", types[i]);
            let _ = write!(aliases, "{sep}c{i}");
            let _ = c;
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
            .map(|c| self.quote(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        Some(format!(
            "INSERT INTO {} ({cols}) SELECT {select} FROM unnest({arrays}) AS u({aliases}){}",
            self.quote_table(table),
            self.on_conflict_sql(on_conflict)
        ))
    }

    fn bind_columns(
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
                Self::bind(args, &first[i], &c.ty)?;
            }
        }
        Ok(())
    }

    fn bind(
        args: &mut PgArguments,
        value: &Value,
        ty: &FieldType,
    ) -> Result<(), sqlx::error::BoxDynError> {
        match (value, ty) {
            (Value::Null, ty) => bind_null(args, ty),
            (Value::Bool(b), _) => args.add(*b),
            (Value::Int(i), _) => args.add(*i),
            (Value::Float(f), _) => args.add(*f),
            (Value::Decimal(d), _) => args.add(*d),
            (Value::String(s), _) => args.add(s.as_str()),
            (Value::Bytes(b), _) => args.add(b.as_slice()),
            (Value::Uuid(u), _) => args.add(*u),
            (Value::Json(j), _) => args.add(Json(j)),
            (Value::Date(d), _) => args.add(*d),
            (Value::Time(t), _) => args.add(*t),
            (Value::NaiveDateTime(t), _) => args.add(*t),
            (Value::UtcDateTime(t), _) => args.add(*t),
            (Value::Array(items), FieldType::Array(inner)) => match inner.as_ref() {
                FieldType::Id | FieldType::Integer => {
                    bind_array!(args, items, i64, Value::Int(i) => *i)
                }
                FieldType::Float => bind_array!(args, items, f64, Value::Float(f) => *f),
                FieldType::Boolean => bind_array!(args, items, bool, Value::Bool(b) => *b),
                FieldType::Decimal => {
                    bind_array!(args, items, rust_decimal::Decimal, Value::Decimal(d) => *d)
                }
                FieldType::BinaryId => bind_array!(args, items, uuid::Uuid, Value::Uuid(u) => *u),
                FieldType::Date => {
                    bind_array!(args, items, chrono::NaiveDate, Value::Date(d) => *d)
                }
                FieldType::Time => {
                    bind_array!(args, items, chrono::NaiveTime, Value::Time(d) => *d)
                }
                FieldType::NaiveDatetime | FieldType::NaiveDatetimeUsec => {
                    bind_array!(args, items, chrono::NaiveDateTime, Value::NaiveDateTime(d) => *d)
                }
                FieldType::UtcDatetime | FieldType::UtcDatetimeUsec => {
                    bind_array!(args, items, chrono::DateTime<chrono::Utc>, Value::UtcDateTime(d) => *d)
                }
                FieldType::Map | FieldType::Embed => {
                    bind_array!(args, items, Json<serde_json::Value>, Value::Json(j) => Json(j.clone()))
                }
                FieldType::Binary => {
                    bind_array!(args, items, Vec<u8>, Value::Bytes(b) => b.clone())
                }
                FieldType::String | FieldType::Array(_) => {
                    bind_array!(args, items, String, Value::String(s) => s.clone())
                }
            },
            (Value::Array(items), _) => args.add(Json(Value::Array(items.clone()).to_json())),
        }
    }

    fn column_json(row: &sqlx::postgres::PgRow, i: usize) -> serde_json::Value {
        use serde_json::Value as J;
        super::decode_first!(row, i,
            i64 => J::from,
            i32 => J::from,
            i16 => J::from,
            bool => J::Bool,
            String => J::String,
            f64 => J::from,
            f32 => |x: f32| J::from(f64::from(x)),
            rust_decimal::Decimal => |d: rust_decimal::Decimal| J::String(d.to_string()),
            uuid::Uuid => |u: uuid::Uuid| J::String(u.to_string()),
            serde_json::Value => |j| j,
            chrono::DateTime<chrono::Utc> => |t| Value::UtcDateTime(t).to_json(),
            chrono::NaiveDateTime => |t| Value::NaiveDateTime(t).to_json(),
            chrono::NaiveDate => |t| Value::Date(t).to_json(),
            chrono::NaiveTime => |t| Value::Time(t).to_json(),
            Vec<i64> => |v: Vec<i64>| J::from(v),
            Vec<String> => |v: Vec<String>| J::from(v),
            Vec<u8> => |b: Vec<u8>| J::String(String::from_utf8_lossy(&b).into_owned()),
        )
    }
}

/// A `NULL` typed as the column's field type, so PostgreSQL accepts it without a cast.
fn bind_null(args: &mut PgArguments, ty: &FieldType) -> Result<(), sqlx::error::BoxDynError> {
    match ty {
        FieldType::Id | FieldType::Integer => args.add(None::<i64>),
        FieldType::Float => args.add(None::<f64>),
        FieldType::Decimal => args.add(None::<rust_decimal::Decimal>),
        FieldType::Boolean => args.add(None::<bool>),
        FieldType::String => args.add(None::<String>),
        FieldType::Binary => args.add(None::<Vec<u8>>),
        FieldType::BinaryId => args.add(None::<uuid::Uuid>),
        FieldType::Map | FieldType::Embed => args.add(None::<Json<serde_json::Value>>),
        FieldType::Date => args.add(None::<chrono::NaiveDate>),
        FieldType::Time => args.add(None::<chrono::NaiveTime>),
        FieldType::NaiveDatetime | FieldType::NaiveDatetimeUsec => {
            args.add(None::<chrono::NaiveDateTime>)
        }
        FieldType::UtcDatetime | FieldType::UtcDatetimeUsec => {
            args.add(None::<chrono::DateTime<chrono::Utc>>)
        }
        FieldType::Array(inner) => match inner.as_ref() {
            FieldType::Id | FieldType::Integer => args.add(None::<Vec<i64>>),
            FieldType::Float => args.add(None::<Vec<f64>>),
            FieldType::Boolean => args.add(None::<Vec<bool>>),
            FieldType::BinaryId => args.add(None::<Vec<uuid::Uuid>>),
            _ => args.add(None::<Vec<String>>),
        },
    }
}
