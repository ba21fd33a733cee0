//! SQLite (3.24+ for `ON CONFLICT`): the standard form with anonymous `?` placeholders. Types
//! SQLite does not have are stored as text: UUIDs hyphenated, decimals as their digits,
//! maps, embeds and arrays as JSON.

use sqlx::Arguments;
use sqlx::sqlite::{Sqlite, SqliteArguments};

use super::{Backend, Dialect, json_text};
use crate::schema::{FieldType, Value};

/// SQLite's dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteDialect;

/// SQLite's `SQLITE_MAX_VARIABLE_NUMBER` is 32766 since 3.32 (999 before); the bundled
/// SQLite of sqlx is newer (<https://www.sqlite.org/limits.html>).
pub const SQLITE_BIND_LIMIT: usize = 32_766;

impl Dialect for SqliteDialect {
    fn name(&self) -> &'static str {
        "SQLite"
    }

    fn bind_limit(&self) -> usize {
        SQLITE_BIND_LIMIT
    }

    /// Anonymous `?`: sqlx looks up the name of every numbered parameter (`?NNN`) on each
    /// execution, and SQLite finds a name by a linear scan, which made large statements
    /// quadratic in their parameter count (measured: 67 % of the time of a bulk insert).
    fn placeholder(&self, out: &mut String, _n: usize) {
        out.push('?');
    }

    /// Anonymous parameters cannot be referred to twice: shared values are bound per row.
    fn reuses_placeholders(&self) -> bool {
        false
    }

    /// SQLite reports busy/locked, not deadlocks; a chunk is not retried.
    fn is_retryable(&self, _code: &str) -> bool {
        false
    }
}

impl Backend for SqliteDialect {
    type DB = Sqlite;

    fn bind(
        args: &mut SqliteArguments,
        value: &Value,
        _ty: &FieldType,
    ) -> Result<(), sqlx::error::BoxDynError> {
        match value {
            Value::Null => args.add(None::<i64>),
            Value::Bool(b) => args.add(*b),
            Value::Int(i) => args.add(*i),
            Value::Float(f) => args.add(*f),
            Value::Decimal(d) => args.add(d.to_string()),
            Value::String(s) => args.add(s.as_str()),
            Value::Bytes(b) => args.add(b.as_slice()),
            Value::Uuid(u) => args.add(u.hyphenated().to_string()),
            Value::Date(d) => args.add(*d),
            Value::Time(t) => args.add(*t),
            Value::NaiveDateTime(t) => args.add(*t),
            Value::UtcDateTime(t) => args.add(*t),
            Value::Json(_) | Value::Array(_) => args.add(json_text(value)),
        }
    }

    fn column_json(row: &<Self::DB as sqlx::Database>::Row, i: usize) -> serde_json::Value {
        use serde_json::Value as J;
        super::decode_first!(row, i,
            i64 => J::from,
            f64 => J::from,
            chrono::DateTime<chrono::Utc> => |t| Value::UtcDateTime(t).to_json(),
            chrono::NaiveDateTime => |t| Value::NaiveDateTime(t).to_json(),
            chrono::NaiveDate => |t| Value::Date(t).to_json(),
            chrono::NaiveTime => |t| Value::Time(t).to_json(),
            String => J::String,
            Vec<u8> => |b: Vec<u8>| J::String(String::from_utf8_lossy(&b).into_owned()),
        )
    }
}
