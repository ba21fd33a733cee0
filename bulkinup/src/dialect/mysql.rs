//! MySQL and MariaDB: backquoted identifiers, `?` placeholders and
//! `ON DUPLICATE KEY UPDATE`. There is no conflict target: the update fires on whichever
//! unique key the row collides with. For a table with a unique key besides the conflict
//! target, the executor asks for the [guarded](Dialect::guarded_on_conflict_sql) clause,
//! whose first assignment fails the statement when the row it would update is not the one
//! the conflict target names (see [`GUARD_FAILURE`]). "Do nothing" is an update of the first
//! target column to itself. UUIDs are bound as hyphenated text; maps, embeds and arrays as
//! JSON text.

use sqlx::Arguments;
use sqlx::mysql::{MySql, MySqlArguments};

use super::{Backend, CatalogQuery, Dialect, ForeignKeyDef, TableDef};
use crate::plan::OnConflict;
use crate::schema::{FieldType, Value};

/// MySQL's and MariaDB's dialect.
#[derive(Debug, Clone, Copy, Default)]
pub struct MySqlDialect;

/// MySQL and MariaDB accept at most 65535 placeholders per prepared statement
/// (<https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html>, error 1390).
pub const MYSQL_BIND_LIMIT: usize = 65_535;

// The error codes bulkinup matches, from MariaDB's error code reference
// (<https://mariadb.com/kb/en/mariadb-error-code-reference/>; MySQL's:
// <https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html>).

/// SQLSTATE `40001`, the state of a deadlock (`ER_LOCK_DEADLOCK`): a chunk that hits it is
/// retried.
pub(crate) const SQLSTATE_DEADLOCK: &str = "40001";
/// Error `1213` `ER_LOCK_DEADLOCK`: a chunk that hits it is retried.
pub(crate) const ER_LOCK_DEADLOCK: &str = "1213";
/// Error `1205` `ER_LOCK_WAIT_TIMEOUT`: a chunk that hits it is retried.
pub(crate) const ER_LOCK_WAIT_TIMEOUT: &str = "1205";
/// SQLSTATE `70100` of MariaDB's `ER_STATEMENT_TIMEOUT`: `max_statement_time` ended the
/// statement, reported as a timeout.
pub(crate) const SQLSTATE_STATEMENT_TIMEOUT: &str = "70100";
/// MariaDB error `1969` `ER_STATEMENT_TIMEOUT`, reported as a timeout.
pub(crate) const ER_STATEMENT_TIMEOUT: &str = "1969";
/// SQLSTATE `21000` of `ER_SUBQUERY_NO_1_ROW`: what [`GUARD_FAILURE`] raises.
pub(crate) const SQLSTATE_SUBQUERY_NO_1_ROW: &str = "21000";
/// Error `1242` `ER_SUBQUERY_NO_1_ROW` (`Subquery returns more than 1 row`).
pub(crate) const ER_SUBQUERY_NO_1_ROW: &str = "1242";

/// The expression a guarded conflict clause evaluates when a row collides with a row it
/// does not match by the conflict target: a scalar subquery of two rows, which fails the
/// statement with `ER_SUBQUERY_NO_1_ROW` whatever the `sql_mode` and whatever the columns'
/// types and nullability (`IF` evaluates only the branch it takes). Bulkinup's statements
/// have no other subquery, so that error from a guarded statement is the guard's.
pub(crate) const GUARD_FAILURE: &str = "(SELECT 1 UNION ALL SELECT 2)";

impl MySqlDialect {
    /// `` `c` = VALUES(`c`) `` for each column, joined by `sep`: an assignment of the new
    /// row's value (`, `), or a comparison with it (` AND `).
    fn new_values(&self, columns: &[String], sep: &str) -> String {
        columns
            .iter()
            .map(|c| {
                let q = self.quote(c);
                format!("{q} = VALUES({q})")
            })
            .collect::<Vec<_>>()
            .join(sep)
    }
}

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

    fn conflict_fires_on_any_key(&self) -> bool {
        true
    }

    /// The first assignment keeps the first target column as it is when every target column
    /// of the existing row equals the new row's (`=`, so a `NULL` never matches: a row whose
    /// target is `NULL` cannot collide through it), and otherwise evaluates
    /// [`GUARD_FAILURE`]. MySQL evaluates the assignments left to right, each seeing the
    /// values assigned before it, so the guard, first, sees the existing row.
    ///
    /// ```
    /// use bulkinup::dialect::{Dialect, MySqlDialect};
    /// use bulkinup::plan::OnConflict;
    /// let on_conflict = OnConflict::Update { target: vec!["id".into()], set: vec!["bio".into()] };
    /// assert_eq!(
    ///     MySqlDialect.guarded_on_conflict_sql(&on_conflict),
    ///     " ON DUPLICATE KEY UPDATE `id` = IF(`id` = VALUES(`id`), `id`, (SELECT 1 UNION ALL SELECT 2)), `bio` = VALUES(`bio`)"
    /// );
    /// ```
    fn guarded_on_conflict_sql(&self, on_conflict: &OnConflict) -> String {
        let (target, set): (&[String], &[String]) = match on_conflict {
            OnConflict::Raise => return String::new(),
            OnConflict::Nothing { target } => (target, &[]),
            OnConflict::Update { target, set } => (target, set),
        };
        let Some(first) = target.first() else {
            return self.on_conflict_sql(on_conflict);
        };
        let same = self.new_values(target, " AND ");
        let first = self.quote(first);
        let mut sql =
            format!(" ON DUPLICATE KEY UPDATE {first} = IF({same}, {first}, {GUARD_FAILURE})");
        if !set.is_empty() {
            sql.push_str(", ");
            sql.push_str(&self.new_values(set, ", "));
        }
        sql
    }

    /// SQLSTATE `21000` or error `1242` (`ER_SUBQUERY_NO_1_ROW`), raised by [`GUARD_FAILURE`].
    fn is_guard_failure(&self, code: &str) -> bool {
        matches!(code, SQLSTATE_SUBQUERY_NO_1_ROW | ER_SUBQUERY_NO_1_ROW)
    }

    /// The types the values are bound as: `BIGINT`, `DOUBLE`, `DECIMAL(65, 30)`, `BOOLEAN`,
    /// `LONGTEXT` (`VARCHAR(255)` in a key, which cannot hold an unbounded text),
    /// `LONGBLOB` (`VARBINARY(255)` in a key), `CHAR(36)` for hyphenated UUIDs, `JSON` for
    /// maps, embeds and arrays, `DATE`, `TIME`, `DATETIME` (`DATETIME(6)` with
    /// microseconds).
    fn column_type_sql(&self, ty: &FieldType, keyed: bool) -> Option<String> {
        Some(
            match ty {
                FieldType::Id | FieldType::Integer => "BIGINT",
                FieldType::Float => "DOUBLE",
                FieldType::Decimal => "DECIMAL(65, 30)",
                FieldType::Boolean => "BOOLEAN",
                FieldType::String if keyed => "VARCHAR(255)",
                FieldType::String => "LONGTEXT",
                FieldType::Binary if keyed => "VARBINARY(255)",
                FieldType::Binary => "LONGBLOB",
                FieldType::BinaryId => "CHAR(36)",
                FieldType::Map | FieldType::Embed | FieldType::Array(_) => "JSON",
                FieldType::Date => "DATE",
                FieldType::Time => "TIME",
                FieldType::NaiveDatetime | FieldType::UtcDatetime => "DATETIME",
                FieldType::NaiveDatetimeUsec | FieldType::UtcDatetimeUsec => "DATETIME(6)",
            }
            .to_string(),
        )
    }

    fn generated_key_sql(&self) -> &'static str {
        " AUTO_INCREMENT"
    }

    /// MySQL and MariaDB check every foreign key at once.
    fn deferred_sql(&self) -> Option<&'static str> {
        None
    }

    /// A prefix is a database.
    fn create_prefix_sql(&self, prefix: &str) -> Option<String> {
        Some(format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            self.quote(prefix)
        ))
    }

    /// `ADD CONSTRAINT … FOREIGN KEY IF NOT EXISTS` (MariaDB 10.0.2+), so that a second run
    /// succeeds.
    fn add_foreign_key_sql(&self, table: &TableDef, fk: &ForeignKeyDef) -> String {
        let plain = super::ddl::foreign_key_sql(self, table.table_name(), fk);
        format!(
            "ALTER TABLE {} ADD CONSTRAINT {} {}",
            self.quote_table(table.table_name()),
            self.quote(&fk.constraint_name(&table.name)),
            plain.replacen("FOREIGN KEY ", "FOREIGN KEY IF NOT EXISTS ", 1)
        )
    }

    /// `CAST(c AS CHAR)`: MySQL and MariaDB have no `CAST(… AS TEXT)`.
    fn text_sql(&self, column: &str) -> String {
        format!("CAST({} AS CHAR)", self.quote(column))
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
                format!(" ON DUPLICATE KEY UPDATE {}", self.new_values(set, ", "))
            }
        }
    }

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
        matches!(code, SQLSTATE_STATEMENT_TIMEOUT | ER_STATEMENT_TIMEOUT)
    }

    fn prefix_exists_sql(&self) -> &'static str {
        "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?"
    }

    fn prefix_help(&self) -> &'static str {
        "a MySQL/MariaDB database: create it with `CREATE DATABASE`"
    }

    /// SQLSTATE `40001` (a deadlock), `1213` ER_LOCK_DEADLOCK, `1205` ER_LOCK_WAIT_TIMEOUT.
    /// sqlx reports MySQL's SQLSTATE as the code; the error numbers are matched too.
    /// SQLSTATE classes 22 (a value too long or out of range, a date not valid) and 23
    /// (integrity constraint violations), and the errors MySQL and MariaDB report as
    /// `HY000` for a value they do not accept: 1366 (an incorrect string or number value),
    /// 1292 (an incorrect date or number), 1364 (a field without a value or default),
    /// 3819 and 4025 (a CHECK constraint).
    fn refuses_row(&self, code: &str, error: &sqlx::Error) -> bool {
        let number = error
            .as_database_error()
            .and_then(|e| e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
            .map(|e| e.number());
        code.starts_with("22")
            || code.starts_with("23")
            || matches!(number, Some(1366 | 1292 | 1364 | 3819 | 4025))
    }

    fn is_retryable(&self, code: &str) -> bool {
        matches!(
            code,
            SQLSTATE_DEADLOCK | ER_LOCK_DEADLOCK | ER_LOCK_WAIT_TIMEOUT
        )
    }

    /// `information_schema.COLUMNS` of the base tables of the database `?` (the prefix), else
    /// of `DATABASE()`. MariaDB's `JSON` is a `LONGTEXT` with the check `json_valid(col)`: such
    /// a column's `data_type` is `json`.
    fn catalog_columns_sql(&self, _prefix: Option<&str>) -> CatalogQuery {
        CatalogQuery::new(
            r#"SELECT CAST(c.TABLE_NAME AS CHAR) AS table_name, CAST(c.COLUMN_NAME AS CHAR) AS column_name,
       CAST(CASE WHEN EXISTS (
              SELECT 1 FROM information_schema.TABLE_CONSTRAINTS tc
              JOIN information_schema.CHECK_CONSTRAINTS cc
                ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME
              WHERE tc.CONSTRAINT_TYPE = 'CHECK' AND tc.TABLE_SCHEMA = c.TABLE_SCHEMA
                AND tc.TABLE_NAME = c.TABLE_NAME
                AND cc.CHECK_CLAUSE = CONCAT('json_valid(`', REPLACE(c.COLUMN_NAME, '`', '``'), '`)'))
            THEN 'json' ELSE LOWER(c.DATA_TYPE) END AS CHAR) AS data_type,
       CAST(LOWER(c.COLUMN_TYPE) AS CHAR) AS column_type,
       CAST(c.IS_NULLABLE = 'NO' AS SIGNED) AS not_null,
       CAST(c.COLUMN_DEFAULT IS NOT NULL AS SIGNED) AS has_default,
       CAST(COALESCE(k.ORDINAL_POSITION, 0) AS SIGNED) AS pk_position,
       CAST(c.EXTRA LIKE '%auto_increment%' AS SIGNED) AS is_identity,
       CAST((c.EXTRA LIKE '%VIRTUAL GENERATED%' OR c.EXTRA LIKE '%STORED GENERATED%'
             OR c.EXTRA LIKE '%PERSISTENT GENERATED%') AS SIGNED) AS is_generated
FROM information_schema.COLUMNS c
JOIN information_schema.TABLES t
  ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME AND t.TABLE_TYPE = 'BASE TABLE'
LEFT JOIN information_schema.KEY_COLUMN_USAGE k
  ON k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME
 AND k.COLUMN_NAME = c.COLUMN_NAME AND k.CONSTRAINT_NAME = 'PRIMARY'
WHERE c.TABLE_SCHEMA = COALESCE(?, DATABASE())
ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION"#,
            1,
        )
    }

    /// `information_schema.STATISTICS` of the database `?` (the prefix), else of `DATABASE()`,
    /// with `NON_UNIQUE = 0` (the primary key is `PRIMARY`).
    fn catalog_unique_keys_sql(&self, _prefix: Option<&str>) -> CatalogQuery {
        CatalogQuery::new(
            r#"SELECT CAST(s.TABLE_NAME AS CHAR) AS table_name, CAST(s.INDEX_NAME AS CHAR) AS key_name,
       CAST(s.SEQ_IN_INDEX AS SIGNED) AS position, CAST(s.COLUMN_NAME AS CHAR) AS column_name
FROM information_schema.STATISTICS s
WHERE s.TABLE_SCHEMA = COALESCE(?, DATABASE()) AND s.NON_UNIQUE = 0
ORDER BY s.TABLE_NAME, s.INDEX_NAME, s.SEQ_IN_INDEX"#,
            1,
        )
    }

    /// `information_schema.KEY_COLUMN_USAGE` rows of the tables of the database `?` (the
    /// prefix), else of `DATABASE()`, that reference a table of the same database.
    fn catalog_foreign_keys_sql(&self, _prefix: Option<&str>) -> CatalogQuery {
        CatalogQuery::new(
            r#"SELECT CAST(k.TABLE_NAME AS CHAR) AS table_name, CAST(k.CONSTRAINT_NAME AS CHAR) AS constraint_name,
       CAST(k.ORDINAL_POSITION AS SIGNED) AS position, CAST(k.COLUMN_NAME AS CHAR) AS column_name,
       CAST(k.REFERENCED_TABLE_NAME AS CHAR) AS ref_table, CAST(k.REFERENCED_COLUMN_NAME AS CHAR) AS ref_column
FROM information_schema.KEY_COLUMN_USAGE k
WHERE k.TABLE_SCHEMA = COALESCE(?, DATABASE()) AND k.REFERENCED_TABLE_SCHEMA = k.TABLE_SCHEMA
  AND k.REFERENCED_TABLE_NAME IS NOT NULL
ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"#,
            1,
        )
    }

    /// `BOOLEAN` is `TINYINT(1)`.
    fn column_field_type(&self, data_type: &str, column_type: &str) -> Option<FieldType> {
        if column_type.to_ascii_lowercase().starts_with("tinyint(1)") {
            return Some(FieldType::Boolean);
        }
        super::standard_field_type(data_type)
    }

    /// Column names ignore case; table names follow the file system (case-sensitive on
    /// Linux by default), so they are compared exactly.
    fn catalog_name_matches(&self, catalog: &str, name: &str, is_table: bool) -> bool {
        if is_table {
            catalog == name
        } else {
            catalog.eq_ignore_ascii_case(name)
        }
    }
}

impl Backend for MySqlDialect {
    type DB = MySql;

    fn bind(
        args: &mut MySqlArguments,
        value: &Value,
        _ty: &FieldType,
    ) -> Result<(), sqlx::error::BoxDynError> {
        super::bind_without_native_json!(args, value, |d| *d)
    }

    fn column_json(row: &<Self::DB as sqlx::Database>::Row, i: usize) -> serde_json::Value {
        use serde_json::Value as J;
        super::decode_first!(row, i,
            i64 => J::from,
            // `BIGINT UNSIGNED` (the usual AUTO_INCREMENT key) does not decode as i64.
            u64 => J::from,
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

    fn column_text(
        row: &<Self::DB as sqlx::Database>::Row,
        i: usize,
    ) -> Result<Option<String>, sqlx::Error> {
        sqlx::Row::try_get(row, i)
    }
}
