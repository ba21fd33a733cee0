//! PostgreSQL: the standard form, `$n` placeholders, native arrays, `jsonb` and `uuid`. Its
//! catalog queries are in [`catalog`], its columnar fast path (`unnest`), which only
//! PostgreSQL has, in [`unnest`], and its bulk loader for plain inserts (binary `COPY`) in
//! [`copy`].

use sqlx::Arguments;
use sqlx::postgres::{PgArguments, Postgres};
use sqlx::types::Json;

mod catalog;
mod copy;
mod unnest;

use super::{Backend, CatalogQuery, Columnar, Dialect, ForeignKeyDef, TableDef};
use crate::schema::{FieldType, Value};

/// PostgreSQL's dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct PgDialect;

/// PostgreSQL accepts at most 65535 bound parameters per statement (the protocol's
/// parameter count is an `Int16`; see sqlx's `QueryBuilder::push_bind` docs).
pub const PG_BIND_LIMIT: usize = 65_535;

// The SQLSTATE codes bulkinup matches, from PostgreSQL's table of error codes
// (<https://www.postgresql.org/docs/current/errcodes-appendix.html>).

/// `40P01` deadlock_detected: a chunk that hits it is retried.
pub(crate) const DEADLOCK_DETECTED: &str = "40P01";
/// `40001` serialization_failure: a chunk that hits it is retried.
pub(crate) const SERIALIZATION_FAILURE: &str = "40001";
/// `57014` query_canceled: what `statement_timeout` raises, reported as a timeout.
pub(crate) const QUERY_CANCELED: &str = "57014";

impl Dialect for PgDialect {
    fn name(&self) -> &'static str {
        "PostgreSQL"
    }

    fn bind_limit(&self) -> usize {
        PG_BIND_LIMIT
    }

    fn prefix_exists_sql(&self) -> &'static str {
        catalog::PREFIX_EXISTS
    }

    fn prefix_help(&self) -> &'static str {
        "a PostgreSQL schema: create it with `CREATE SCHEMA`"
    }

    /// `40P01` deadlock_detected, `40001` serialization_failure.
    fn is_retryable(&self, code: &str) -> bool {
        matches!(code, DEADLOCK_DETECTED | SERIALIZATION_FAILURE)
    }

    /// SQLSTATE classes 22 (data exception: a value too long, out of range, not valid in
    /// the encoding — a NUL in text —, not a valid date) and 23 (integrity constraint
    /// violation).
    fn refuses_row(&self, code: &str, _error: &sqlx::Error) -> bool {
        code.starts_with("22") || code.starts_with("23")
    }

    /// `SET LOCAL statement_timeout` (milliseconds; 0 is no limit; at most PostgreSQL's
    /// largest, about 24.8 days): ends with the transaction.
    fn statement_timeout_sql(&self, limit: Option<std::time::Duration>) -> Option<String> {
        let ms = limit.map_or(0, |l| l.as_millis().clamp(1, i32::MAX as u128));
        Some(format!("SET LOCAL statement_timeout = {ms}"))
    }

    /// `57014` query_canceled.
    fn is_statement_timeout(&self, code: &str) -> bool {
        code == QUERY_CANCELED
    }

    /// `pg_attribute` of the ordinary and partitioned tables of the schema `$1`, else of
    /// `current_schema()` (partitions left out). `data_type` is the `pg_type` name (`int8`,
    /// `_text` for `text[]`), a domain's base type for a domain.
    fn catalog_columns_sql(&self, _prefix: Option<&str>) -> CatalogQuery {
        CatalogQuery::new(catalog::COLUMNS, 1)
    }

    /// `pg_index`: unique, immediate (`ON CONFLICT` cannot use a deferrable constraint), not
    /// partial, not on expressions; key columns only (no `INCLUDE` columns).
    fn catalog_unique_keys_sql(&self, _prefix: Option<&str>) -> CatalogQuery {
        CatalogQuery::new(catalog::UNIQUE_KEYS, 1)
    }

    /// `pg_constraint` foreign keys between tables of the schema `$1`, else of
    /// `current_schema()` (the copies a partitioned table makes for its partitions left out).
    fn catalog_foreign_keys_sql(&self, _prefix: Option<&str>) -> CatalogQuery {
        CatalogQuery::new(catalog::FOREIGN_KEYS, 1)
    }

    /// The type values are bound as (`int8`, `jsonb`, `timestamptz`, …); an array is a PostgreSQL array of its
    /// element's type (`int8[]`), an array of arrays has none.
    fn column_type_sql(&self, ty: &FieldType, _keyed: bool) -> Option<String> {
        match ty {
            FieldType::Array(inner) => pg_type(inner).map(|t| format!("{t}[]")),
            ty => pg_type(ty).map(str::to_string),
        }
    }

    /// PostgreSQL has no `ADD CONSTRAINT IF NOT EXISTS`: the `ALTER TABLE` runs in a `DO`
    /// block that ignores `duplicate_object` (`42710`), so that a second run succeeds.
    ///
    /// ```
    /// use bulkinup::dialect::{Dialect, PgDialect};
    /// let registry = bulkinup::Registry::from_toml_str(r#"
    ///     [schemas.A]
    ///     source = "a"
    ///     fields = { id = "id" }
    ///     associations.b = { kind = "belongs_to", related = "B" }
    ///     [schemas.B]
    ///     source = "b"
    ///     fields = { id = "id" }
    ///     associations.a = { kind = "belongs_to", related = "A" }
    /// "#, "cycle.toml")?.registry;
    /// let sql = bulkinup::ddl(&registry, bulkinup::DbKind::Postgres, &bulkinup::Options::default())?;
    /// assert_eq!(
    ///     sql.last().map(|s| s.sql.as_str()),
    ///     Some(r#"DO $$ BEGIN ALTER TABLE "a" ADD CONSTRAINT "a_b_id_fkey" FOREIGN KEY ("b_id") REFERENCES "b" ("id"); EXCEPTION WHEN duplicate_object THEN NULL; END $$"#)
    /// );
    /// # Ok::<(), bulkinup::Error>(())
    /// ```
    fn add_foreign_key_sql(&self, table: &TableDef, fk: &ForeignKeyDef) -> String {
        format!(
            "DO $$ BEGIN ALTER TABLE {} ADD CONSTRAINT {} {}; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
            self.quote_table(table.table_name()),
            self.quote(&fk.constraint_name(&table.name)),
            super::ddl::foreign_key_sql(self, table.table_name(), fk)
        )
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

/// The PostgreSQL type a field's values are bound as, and the type of the column created
/// for it (`None` for arrays, which [`unnest`] would flatten; a column of an array is of its
/// element's type, `[]`).
pub(super) fn pg_type(ty: &FieldType) -> Option<&'static str> {
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

impl Backend for PgDialect {
    type DB = Postgres;

    /// PostgreSQL writes plain batches with [`unnest::Unnest`].
    fn columnar() -> Option<&'static dyn Columnar<Postgres>> {
        Some(&unnest::Unnest)
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

    fn column_text(row: &sqlx::postgres::PgRow, i: usize) -> Result<Option<String>, sqlx::Error> {
        sqlx::Row::try_get(row, i)
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
