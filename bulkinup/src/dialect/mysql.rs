//! MySQL and MariaDB: backquoted identifiers, `?` placeholders and
//! `ON DUPLICATE KEY UPDATE`. There is no conflict target: the update fires on whichever
//! unique key the row collides with, so a table written by upsert should have no unique key
//! other than the conflict target. "Do nothing" is an update of the first target column to
//! itself. UUIDs are bound as hyphenated text; maps, embeds and arrays as JSON text.

use sqlx::Arguments;
use sqlx::mysql::{MySql, MySqlArguments};

use super::{Backend, Dialect, json_text};
use crate::plan::OnConflict;
use crate::schema::{FieldType, Value};

/// MySQL's and MariaDB's dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct MySqlDialect;

/// MySQL and MariaDB accept at most 65535 placeholders per prepared statement
/// (<https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html>, error 1390).
pub const MYSQL_BIND_LIMIT: usize = 65_535;

impl Dialect for MySqlDialect {
    fn name(&self) -> &'static str {
        "MySQL"
    }

    fn bind_limit(&self) -> usize {
        MYSQL_BIND_LIMIT
    }

    fn quote(&self, ident: &str) -> String {
        format!("`{}`", ident.replace('`', "``"))
    }

    fn placeholder(&self, out: &mut String, _n: usize) {
        out.push('?');
    }

    /// `?` cannot be referred to twice: shared values are bound per row.
    fn reuses_placeholders(&self) -> bool {
        false
    }

    fn on_conflict_sql(&self, on_conflict: &OnConflict) -> String {
        match on_conflict {
            OnConflict::Raise => String::new(),
            OnConflict::Nothing { target } => match target.first() {
                Some(c) => {
                    let q = self.quote(c);
                    format!(" ON DUPLICATE KEY UPDATE {q} = {q}")
                }
                None => String::new(),
            },
            OnConflict::Update { set, .. } => {
                let sets = set
                    .iter()
                    .map(|c| {
                        let q = self.quote(c);
                        format!("{q} = VALUES({q})")
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(" ON DUPLICATE KEY UPDATE {sets}")
            }
        }
    }

    /// `1213` ER_LOCK_DEADLOCK, `1205` ER_LOCK_WAIT_TIMEOUT
    /// (<https://mariadb.com/kb/en/mariadb-error-code-reference/>).
    /// MariaDB's `max_statement_time` (seconds; 0 is no limit), for the session: every
    /// transaction sets it anew. MySQL has no such variable for writes: there the statement
    /// fails and is ignored (see [`Dialect::statement_timeout_optional`]), and only the
    /// between-statement checks bound the call.
    fn statement_timeout_sql(&self, limit: Option<std::time::Duration>) -> Option<String> {
        let secs = limit.map_or(0.0, |l| l.as_secs_f64());
        Some(format!("SET SESSION max_statement_time = {secs}"))
    }

    fn statement_timeout_optional(&self) -> bool {
        true
    }

    /// MariaDB `1969` ER_STATEMENT_TIMEOUT (SQLSTATE `70100`).
    fn is_statement_timeout(&self, code: &str) -> bool {
        matches!(code, "70100" | "1969")
    }

    fn is_retryable(&self, code: &str) -> bool {
        // sqlx reports MySQL's SQLSTATE as the code; 40001 is the state of a deadlock.
        matches!(code, "40001" | "1213" | "1205")
    }
}

impl Backend for MySqlDialect {
    type DB = MySql;

    fn bind(
        args: &mut MySqlArguments,
        value: &Value,
        _ty: &FieldType,
    ) -> Result<(), sqlx::error::BoxDynError> {
        match value {
            Value::Null => args.add(None::<i64>),
            Value::Bool(b) => args.add(*b),
            Value::Int(i) => args.add(*i),
            Value::Float(f) => args.add(*f),
            Value::Decimal(d) => args.add(*d),
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
            rust_decimal::Decimal => |d: rust_decimal::Decimal| J::String(d.to_string()),
            chrono::DateTime<chrono::Utc> => |t| Value::UtcDateTime(t).to_json(),
            chrono::NaiveDateTime => |t| Value::NaiveDateTime(t).to_json(),
            chrono::NaiveDate => |t| Value::Date(t).to_json(),
            chrono::NaiveTime => |t| Value::Time(t).to_json(),
            String => J::String,
            Vec<u8> => |b: Vec<u8>| J::String(String::from_utf8_lossy(&b).into_owned()),
        )
    }
}
