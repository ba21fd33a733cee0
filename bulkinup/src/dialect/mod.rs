//! SQL dialects: one [`Dialect`] trait whose default methods render the standard
//! (PostgreSQL/SQLite) form, and one implementation per database that overrides only what
//! differs. Identifiers always go through [`Dialect::quote`]; values are always bound
//! parameters, never part of the SQL text. The write statements (with their conflict and
//! returning clauses), the transaction limits, the catalog queries and the DDL of the tables a
//! registry writes (`CREATE TABLE`, see [`crate::ddl()`]) are rendered here. What
//! only one database has stays in its module — PostgreSQL's catalog queries and its `unnest`
//! fast path are in `dialect/postgres/` — and each database's error codes are named
//! constants there.
//!
//! ```
//! use bulkinup::dialect::{Dialect, MySqlDialect, PgDialect};
//! use bulkinup::plan::OnConflict;
//!
//! let on_conflict = OnConflict::Update { target: vec!["id".into()], set: vec!["name".into()] };
//! assert_eq!(
//!     PgDialect.insert_sql("tags".into(), &["id", "name"], 2, &on_conflict),
//!     r#"INSERT INTO "tags" ("id", "name") VALUES ($1, $2), ($3, $4) ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name""#
//! );
//! assert_eq!(
//!     MySqlDialect.insert_sql("tags".into(), &["id", "name"], 1, &on_conflict),
//!     "INSERT INTO `tags` (`id`, `name`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)"
//! );
//! // A table in a prefix (PostgreSQL schema, MySQL database, attached SQLite database):
//! use bulkinup::dialect::TableName;
//! assert_eq!(
//!     PgDialect.insert_sql(TableName { prefix: Some("analytics"), name: "tags" }, &["id"], 1, &bulkinup::plan::OnConflict::Raise),
//!     r#"INSERT INTO "analytics"."tags" ("id") VALUES ($1)"#
//! );
//! ```

mod ddl;
mod mysql;
mod postgres;
mod sqlite;

use futures::future::BoxFuture;
use std::fmt::Write;

pub(crate) mod catalog_rows;

pub use ddl::{ColumnDef, DdlStatement, ForeignKeyDef, TableDef};
pub use mysql::MySqlDialect;
pub use postgres::PgDialect;
pub use sqlite::SqliteDialect;

use crate::plan::{Column, OnConflict};
use crate::schema::{FieldType, Value};

pub use crate::plan::TableName;

/// A catalog query of a [`Dialect`] ([`Dialect::catalog_columns_sql`] and the like): its
/// text, and how many parameters it has. Each parameter is the prefix whose catalog it reads,
/// or `NULL` for the connection's current schema/database.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CatalogQuery {
    /// The SQL text.
    pub sql: String,
    /// How many parameters the text has, all bound to the prefix (PostgreSQL refers to its
    /// one `$1` several times; MySQL's and SQLite's `?` are bound one by one).
    pub prefix_params: usize,
}

impl CatalogQuery {
    /// A query of `sql` with `prefix_params` parameters, each the prefix.
    ///
    /// ```
    /// let q = bulkinup::dialect::CatalogQuery::new("SELECT 1 WHERE COALESCE(?, 'main') = 'main'", 1);
    /// assert_eq!(q.prefix_params, 1);
    /// ```
    pub fn new(sql: impl Into<String>, prefix_params: usize) -> CatalogQuery {
        CatalogQuery {
            sql: sql.into(),
            prefix_params,
        }
    }
}

/// One column of a returning clause ([`Dialect::returning_sql`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned<'a> {
    /// The column's value as stored, decoded by its database type.
    Stored(&'a str),
    /// The column's value as text ([`Dialect::text_sql`]).
    Text(&'a str),
}

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

    /// A query reading up to `limit` rows of `columns` (aliased `c0`, `c1`, …) of `table`
    /// where any of them is not `NULL`, in `order` (the primary key; none: any order): the
    /// stored values schema inference shapes JSON columns by. It binds nothing.
    ///
    /// ```
    /// use bulkinup::dialect::{Dialect, PgDialect};
    /// assert_eq!(
    ///     PgDialect.sample_columns_sql("posts".into(), &["meta"], &["id"], 100),
    ///     r#"SELECT "meta" AS c0 FROM "posts" WHERE "meta" IS NOT NULL ORDER BY "id" LIMIT 100"#
    /// );
    /// ```
    fn sample_columns_sql(
        &self,
        table: TableName<'_>,
        columns: &[&str],
        order: &[&str],
        limit: usize,
    ) -> String {
        let select: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{} AS c{i}", self.quote(c)))
            .collect();
        let present: Vec<String> = columns
            .iter()
            .map(|c| format!("{} IS NOT NULL", self.quote(c)))
            .collect();
        let mut sql = format!(
            "SELECT {} FROM {} WHERE {}",
            select.join(", "),
            self.quote_table(table),
            present.join(" OR ")
        );
        if !order.is_empty() {
            let order: Vec<String> = order.iter().map(|k| self.quote(k)).collect();
            let _ = write!(sql, " ORDER BY {}", order.join(", "));
        }
        let _ = write!(sql, " LIMIT {limit}");
        sql
    }

    /// Quotes a table's name, qualified by its prefix when it has one (`"analytics"."events"`).
    fn quote_table(&self, table: TableName<'_>) -> String {
        match table.prefix {
            Some(p) => format!("{}.{}", self.quote(p), self.quote(table.name)),
            None => self.quote(table.name),
        }
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

    /// Whether the conflict clause fires on a collision through any unique key of the table
    /// rather than only through its conflict target (MySQL/MariaDB's `ON DUPLICATE KEY
    /// UPDATE`): there a row that collides with a different row through another unique key
    /// would update that row, unless the statement is
    /// [guarded](Dialect::guarded_on_conflict_sql).
    fn conflict_fires_on_any_key(&self) -> bool {
        false
    }

    /// The conflict clause of `on_conflict` for a table with a unique key besides the
    /// conflict target, where the clause [fires on any key](Dialect::conflict_fires_on_any_key):
    /// a row that collides with a row whose conflict-target columns differ from its own (or
    /// are `NULL`) fails the statement with an error [`Dialect::is_guard_failure`] knows,
    /// instead of updating that row. Elsewhere (the clause names its target, and such a row
    /// is a unique violation) it is [`Dialect::on_conflict_sql`].
    fn guarded_on_conflict_sql(&self, on_conflict: &OnConflict) -> String {
        self.on_conflict_sql(on_conflict)
    }

    /// Whether an error code is the failure of a [guarded](Dialect::guarded_on_conflict_sql)
    /// statement (only a guarded statement can raise it).
    fn is_guard_failure(&self, _code: &str) -> bool {
        false
    }

    /// A query reading `columns` of the rows of `table` whose `key` columns equal those of
    /// one of `rows` tuples, bound in order, row by row: how a failed guard finds the row an
    /// input row collided with.
    ///
    /// ```
    /// use bulkinup::dialect::{Dialect, MySqlDialect};
    /// assert_eq!(
    ///     MySqlDialect.rows_by_key_sql("profiles".into(), &["id", "author_id"], &["author_id"], 2),
    ///     "SELECT `id`, `author_id` FROM `profiles` WHERE (`author_id` = ?) OR (`author_id` = ?)"
    /// );
    /// ```
    fn rows_by_key_sql(
        &self,
        table: TableName<'_>,
        columns: &[&str],
        key: &[&str],
        rows: usize,
    ) -> String {
        let select: Vec<String> = columns.iter().map(|c| self.quote(c)).collect();
        let mut sql = format!(
            "SELECT {} FROM {} WHERE ",
            select.join(", "),
            self.quote_table(table)
        );
        let mut n = 0;
        for r in 0..rows {
            if r > 0 {
                sql.push_str(" OR ");
            }
            sql.push('(');
            for (i, k) in key.iter().enumerate() {
                if i > 0 {
                    sql.push_str(" AND ");
                }
                n += 1;
                let _ = write!(sql, "{} = ", self.quote(k));
                self.placeholder(&mut sql, n);
            }
            sql.push(')');
        }
        sql
    }

    /// Whether a numbered placeholder may appear several times in one statement (`$1`,
    /// `?1`), so a value shared by every row is bound once.
    fn reuses_placeholders(&self) -> bool {
        true
    }

    /// A multi-row `INSERT … VALUES` of `rows` rows with its conflict clause.
    fn insert_sql(
        &self,
        table: TableName<'_>,
        columns: &[&str],
        rows: usize,
        on_conflict: &OnConflict,
    ) -> String {
        self.insert_sql_shared(table, columns, &[], rows, on_conflict, false)
    }

    /// As [`Dialect::insert_sql`], where the columns flagged in `shared` have one value for
    /// every row: when the dialect [reuses placeholders](Dialect::reuses_placeholders) they
    /// are bound once, as the first parameters, and each row refers to them; otherwise they
    /// are bound per row like any column. With `guard`, the conflict clause is
    /// [guarded](Dialect::guarded_on_conflict_sql).
    fn insert_sql_shared(
        &self,
        table: TableName<'_>,
        columns: &[&str],
        shared: &[bool],
        rows: usize,
        on_conflict: &OnConflict,
        guard: bool,
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
        let _ = write!(sql, "INSERT INTO {} (", self.quote_table(table));
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
        if guard {
            sql.push_str(&self.guarded_on_conflict_sql(on_conflict));
        } else {
            sql.push_str(&self.on_conflict_sql(on_conflict));
        }
        sql
    }

    /// A column's value as text in a returning clause, whatever the column's type (an enum,
    /// a domain, `CHAR(n)`, a number stored in SQLite): `CAST(c AS TEXT)`.
    fn text_sql(&self, column: &str) -> String {
        format!("CAST({} AS TEXT)", self.quote(column))
    }

    /// ` RETURNING a, b` (PostgreSQL, SQLite 3.35+, MariaDB 10.5+; MySQL has none), each
    /// [`Returned::Text`] column through [`Dialect::text_sql`].
    ///
    /// ```
    /// use bulkinup::dialect::{Dialect, MySqlDialect, PgDialect, Returned};
    ///
    /// let returning = [Returned::Stored("id"), Returned::Text("name")];
    /// assert_eq!(PgDialect.returning_sql(&returning), r#" RETURNING "id", CAST("name" AS TEXT)"#);
    /// assert_eq!(MySqlDialect.returning_sql(&returning), " RETURNING `id`, CAST(`name` AS CHAR)");
    /// ```
    fn returning_sql(&self, columns: &[Returned<'_>]) -> String {
        let cols: Vec<String> = columns
            .iter()
            .map(|c| match c {
                Returned::Stored(c) => self.quote(c),
                Returned::Text(c) => self.text_sql(c),
            })
            .collect();
        format!(" RETURNING {}", cols.join(", "))
    }

    /// [`Dialect::insert_sql`] followed by [`Dialect::returning_sql`]: the rows' `returning`
    /// columns come back, one row per written or updated row, in an order no database
    /// promises (the executor matches them to the rows written by their values). With `guard`, the conflict
    /// clause is [guarded](Dialect::guarded_on_conflict_sql).
    ///
    /// ```
    /// use bulkinup::dialect::{Dialect, Returned, SqliteDialect};
    /// use bulkinup::plan::OnConflict;
    ///
    /// assert_eq!(
    ///     SqliteDialect.insert_returning_sql("posts".into(), &["title"], 1, &OnConflict::Raise, &[Returned::Stored("id"), Returned::Text("title")], false),
    ///     r#"INSERT INTO "posts" ("title") VALUES (?) RETURNING "id", CAST("title" AS TEXT)"#
    /// );
    /// ```
    fn insert_returning_sql(
        &self,
        table: TableName<'_>,
        columns: &[&str],
        rows: usize,
        on_conflict: &OnConflict,
        returning: &[Returned<'_>],
        guard: bool,
    ) -> String {
        let mut sql = self.insert_sql_shared(table, columns, &[], rows, on_conflict, guard);
        sql.push_str(&self.returning_sql(returning));
        sql
    }

    /// Whether an error code means a deadlock or serialization failure (worth a retry).
    fn is_retryable(&self, code: &str) -> bool;

    /// Whether the database's error `code` (with the driver's `error`) means it refused a
    /// row of the statement — a value it does not accept, a constraint the row violates —
    /// rather than the statement, the connection or the session failing. The kinds sqlx
    /// classifies (unique, foreign-key, NOT NULL, CHECK violations) are such errors on every
    /// database; this adds the dialect's own codes.
    fn refuses_row(&self, _code: &str, _error: &sqlx::Error) -> bool {
        false
    }

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

    /// Whether an error code means a wait for a lock held by another writer ended at the
    /// limit [`Dialect::statement_timeout_sql`] set (SQLite's busy wait).
    fn is_lock_timeout(&self, _code: &str) -> bool {
        false
    }

    /// Whether a statement that has not answered when its limit passes is abandoned on the
    /// client's clock (its connection then closed): on a database reached over the network,
    /// which may stop answering. An in-process database is waited for.
    fn abandons_statements(&self) -> bool {
        true
    }

    /// A query that returns a row when the prefix bound as its one parameter exists: a
    /// PostgreSQL schema, a MySQL/MariaDB database, an attached SQLite database.
    fn prefix_exists_sql(&self) -> &'static str;

    /// What a prefix is on this database, and how one comes to exist, for the message when
    /// one does not.
    fn prefix_help(&self) -> &'static str;

    /// The catalog query listing every column of every table of `prefix` (a PostgreSQL
    /// schema, MySQL/MariaDB database or attached SQLite database), else of the connection's
    /// schema (PostgreSQL `current_schema()`, MySQL `DATABASE()`, SQLite `main`), one row per
    /// column, in table and column order. The prefix is never part of the text: it is bound
    /// as each of the query's [parameters](CatalogQuery::prefix_params) (`NULL` without one),
    /// except where SQLite needs it as a schema name, quoted by [`Dialect::quote`].
    ///
    /// Its columns: `table_name`, `column_name`, `data_type` (the type's name, e.g. `int8`,
    /// `varchar`, `json` — also for MariaDB's `LONGTEXT` with a `json_valid` check),
    /// `column_type` (the full declared type, for messages), `not_null`, `has_default`,
    /// `pk_position` (1-based position in the primary key, 0 outside it), `is_identity` (the
    /// database generates its values: identity, serial, `AUTO_INCREMENT`, SQLite's `INTEGER
    /// PRIMARY KEY`) and `is_generated` (a computed column, which cannot be written). Read by
    /// [`crate::catalog`].
    ///
    /// ```
    /// use bulkinup::dialect::{Dialect, MySqlDialect, PgDialect, SqliteDialect};
    ///
    /// // PostgreSQL refers to its one parameter as often as it needs; MySQL's `?` are bound
    /// // one by one.
    /// let pg = PgDialect.catalog_columns_sql(Some("analytics"));
    /// assert!(pg.sql.contains("COALESCE($1::text, current_schema())") && !pg.sql.contains("analytics"));
    /// assert_eq!(pg.prefix_params, 1);
    /// assert!(MySqlDialect.catalog_columns_sql(None).sql.contains("COALESCE(?, DATABASE())"));
    /// // SQLite names the attached database's `sqlite_master` (quoted), and binds the name as
    /// // the schema argument of each table-valued pragma.
    /// let sqlite = SqliteDialect.catalog_columns_sql(Some("a\"b"));
    /// assert!(sqlite.sql.contains(r#"FROM "a""b".sqlite_master"#));
    /// assert!(sqlite.sql.contains("pragma_table_xinfo(m.name, ?)"));
    /// assert_eq!(sqlite.prefix_params, 3);
    /// ```
    fn catalog_columns_sql(&self, prefix: Option<&str>) -> CatalogQuery;

    /// The catalog query listing the keys that can be a conflict target in the tables of
    /// `prefix`, else of the connection's schema: the primary key and every unique index that
    /// is neither partial nor deferrable, one row per key column, with the columns
    /// `table_name`, `key_name`, `position` (1-based) and `column_name` (`NULL` for an
    /// expression). The prefix is bound as in [`Dialect::catalog_columns_sql`].
    fn catalog_unique_keys_sql(&self, prefix: Option<&str>) -> CatalogQuery;

    /// The catalog query listing the foreign keys between tables of `prefix`, else of the
    /// connection's schema, one row per key column, with the columns `table_name`,
    /// `constraint_name`, `position` (1-based), `column_name`, `ref_table` and `ref_column`
    /// (`NULL` on SQLite when the reference names no column: the referenced table's primary
    /// key). The prefix is bound as in [`Dialect::catalog_columns_sql`].
    fn catalog_foreign_keys_sql(&self, prefix: Option<&str>) -> CatalogQuery;

    /// The field type whose values a column of this database type holds, from the
    /// `data_type` and `column_type` of [`Dialect::catalog_columns_sql`]; `None` when no field
    /// type fits (e.g. a PostgreSQL enum).
    ///
    /// ```
    /// use bulkinup::FieldType;
    /// use bulkinup::dialect::{Dialect, MySqlDialect, PgDialect, SqliteDialect};
    ///
    /// assert_eq!(PgDialect.column_field_type("int8", "bigint"), Some(FieldType::Integer));
    /// assert_eq!(PgDialect.column_field_type("_text", "text[]"), Some(FieldType::Array(Box::new(FieldType::String))));
    /// assert_eq!(MySqlDialect.column_field_type("tinyint", "tinyint(1)"), Some(FieldType::Boolean));
    /// // SQLite falls back on the declared type's affinity.
    /// assert_eq!(SqliteDialect.column_field_type("unsigned big int", "UNSIGNED BIG INT"), Some(FieldType::Integer));
    /// ```
    fn column_field_type(&self, data_type: &str, _column_type: &str) -> Option<FieldType> {
        standard_field_type(data_type)
    }

    /// Whether `catalog`, a table (`is_table`) or column name read from the catalog, is the
    /// identifier `name` as the database resolves it in quoted SQL (case-sensitive by
    /// default; SQLite ignores ASCII case, MySQL ignores it in column names).
    ///
    /// ```
    /// use bulkinup::dialect::{Dialect, MySqlDialect, PgDialect, SqliteDialect};
    ///
    /// assert!(!PgDialect.catalog_name_matches("Title", "title", false));
    /// assert!(SqliteDialect.catalog_name_matches("Posts", "posts", true));
    /// assert!(MySqlDialect.catalog_name_matches("Title", "title", false));
    /// assert!(!MySqlDialect.catalog_name_matches("Posts", "posts", true));
    /// ```
    fn catalog_name_matches(&self, catalog: &str, name: &str, _is_table: bool) -> bool {
        catalog == name
    }

    /// The column type [`crate::ddl`] creates for a field type: the type the writer binds its
    /// values as, which [`Dialect::column_field_type`] maps back to a type the schema check
    /// accepts for the field. `keyed` says the column is part of a key (primary, unique or
    /// foreign), where a database may need a bounded type. `None` when the database cannot
    /// store the type (PostgreSQL: an array of arrays).
    ///
    /// ```
    /// use bulkinup::FieldType;
    /// use bulkinup::dialect::{Dialect, MySqlDialect, PgDialect, SqliteDialect};
    ///
    /// let tags = FieldType::Array(Box::new(FieldType::String));
    /// assert_eq!(PgDialect.column_type_sql(&tags, false).as_deref(), Some("text[]"));
    /// assert_eq!(MySqlDialect.column_type_sql(&tags, false).as_deref(), Some("JSON"));
    /// assert_eq!(MySqlDialect.column_type_sql(&FieldType::String, true).as_deref(), Some("VARCHAR(255)"));
    /// assert_eq!(SqliteDialect.column_type_sql(&FieldType::Map, false).as_deref(), Some("TEXT"));
    /// ```
    fn column_type_sql(&self, ty: &FieldType, keyed: bool) -> Option<String>;

    /// What follows the type (and `NOT NULL`) of a one-column primary key the database
    /// generates (`autogenerate = true`): ` GENERATED BY DEFAULT AS IDENTITY`, so that a
    /// row may still bring its own key.
    fn generated_key_sql(&self) -> &'static str {
        " GENERATED BY DEFAULT AS IDENTITY"
    }

    /// Whether [`Dialect::generated_key_sql`] declares the primary key itself (SQLite's
    /// `INTEGER PRIMARY KEY`), so that the table has no `PRIMARY KEY (…)` clause of its own.
    fn generated_key_inline(&self) -> bool {
        false
    }

    /// What makes a foreign key checked at the commit instead of at each statement
    /// (`DEFERRABLE INITIALLY DEFERRED`), or `None` where the database has no deferred
    /// constraints (MySQL/MariaDB): a link-only `many_to_many`'s join rows may then only point
    /// at rows that exist when they are written.
    fn deferred_sql(&self) -> Option<&'static str> {
        Some("DEFERRABLE INITIALLY DEFERRED")
    }

    /// The statement that creates a prefix if it is missing (`CREATE SCHEMA IF NOT EXISTS`),
    /// or `None` where SQL cannot (SQLite: a prefix is a database attached by the URL).
    ///
    /// ```
    /// use bulkinup::dialect::{Dialect, MySqlDialect, PgDialect, SqliteDialect};
    /// assert_eq!(PgDialect.create_prefix_sql("analytics").as_deref(), Some(r#"CREATE SCHEMA IF NOT EXISTS "analytics""#));
    /// assert_eq!(MySqlDialect.create_prefix_sql("analytics").as_deref(), Some("CREATE DATABASE IF NOT EXISTS `analytics`"));
    /// assert_eq!(SqliteDialect.create_prefix_sql("analytics"), None);
    /// ```
    fn create_prefix_sql(&self, prefix: &str) -> Option<String> {
        Some(format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            self.quote(prefix)
        ))
    }

    /// Whether `CREATE TABLE` refuses a foreign key to a table that does not exist yet (so
    /// the tables of a cycle get some of their foreign keys afterwards, through
    /// [`Dialect::add_foreign_key_sql`]). SQLite checks a reference only when rows are
    /// written.
    fn checks_references_at_create(&self) -> bool {
        true
    }

    /// The referenced table of a foreign key of `from`, as a `REFERENCES` clause names it:
    /// with its prefix.
    fn referenced_table_sql(&self, _from: TableName<'_>, to: TableName<'_>) -> String {
        self.quote_table(to)
    }

    /// Whether a foreign key may refer to a table in another prefix. SQLite's cannot (a
    /// reference names a table of its own database): there such a foreign key is left out.
    fn foreign_keys_across_prefixes(&self) -> bool {
        true
    }

    /// What follows the column list of a `CREATE TABLE` (nothing by default).
    fn table_options_sql(&self) -> &'static str {
        ""
    }

    /// `CREATE TABLE IF NOT EXISTS` of a table: its columns (typed by
    /// [`Dialect::column_type_sql`]), its primary key, its unique keys and the foreign keys
    /// it is created with.
    ///
    /// ```
    /// use bulkinup::dialect::{Dialect, PgDialect};
    /// let registry = bulkinup::Registry::from_toml_str(r#"
    ///     [schemas.Tag]
    ///     source = "tags"
    ///     fields = { id = { type = "id", autogenerate = true }, name = "string" }
    ///     changesets.changeset = { cast = ["name"], required = ["name"] }
    /// "#, "tags.toml")?.registry;
    /// let sql = bulkinup::ddl(&registry, bulkinup::DbKind::Postgres, &bulkinup::Options::default())?;
    /// assert_eq!(
    ///     sql[0].sql,
    ///     "CREATE TABLE IF NOT EXISTS \"tags\" (\n  \"id\" int8 NOT NULL GENERATED BY DEFAULT AS IDENTITY,\n  \"name\" text NOT NULL,\n  PRIMARY KEY (\"id\")\n)"
    /// );
    /// # Ok::<(), bulkinup::Error>(())
    /// ```
    fn create_table_sql(&self, table: &TableDef) -> String {
        ddl::create_table_sql(self, table)
    }

    /// The statement that adds a foreign key to an existing table, for the foreign keys of a
    /// cycle of tables: `ALTER TABLE … ADD CONSTRAINT …`.
    fn add_foreign_key_sql(&self, table: &TableDef, fk: &ForeignKeyDef) -> String {
        format!(
            "ALTER TABLE {} ADD CONSTRAINT {} {}",
            self.quote_table(table.table_name()),
            self.quote(&fk.constraint_name(&table.name)),
            ddl::foreign_key_sql(self, table.table_name(), fk)
        )
    }
}

/// The field type of a standard SQL type name, or of a name any of the three databases uses
/// (`int8`, `longtext`, `jsonb`, …). Case, `(…)` modifiers and `unsigned` are ignored.
pub(crate) fn standard_field_type(data_type: &str) -> Option<FieldType> {
    // Each type's names, separated by commas.
    const TYPES: &[(&str, FieldType)] = &[
        (
            "smallint,integer,int,bigint,int2,int4,int8,tinyint,mediumint,serial,bigserial,\
             smallserial,year",
            FieldType::Integer,
        ),
        ("boolean,bool", FieldType::Boolean),
        (
            "real,float,float4,float8,double,double precision",
            FieldType::Float,
        ),
        ("numeric,decimal,dec", FieldType::Decimal),
        (
            "text,varchar,character varying,char,character,bpchar,nchar,nvarchar,\
             national character varying,national character,tinytext,mediumtext,longtext,clob,\
             citext,name,enum,set,string",
            FieldType::String,
        ),
        ("uuid", FieldType::BinaryId),
        ("json,jsonb", FieldType::Map),
        ("date", FieldType::Date),
        (
            "time,time without time zone,timetz,time with time zone",
            FieldType::Time,
        ),
        (
            "timestamp,timestamp without time zone,datetime",
            FieldType::NaiveDatetimeUsec,
        ),
        (
            "timestamptz,timestamp with time zone",
            FieldType::UtcDatetimeUsec,
        ),
        (
            "bytea,blob,tinyblob,mediumblob,longblob,binary,varbinary",
            FieldType::Binary,
        ),
    ];
    let name = normalize_type_name(data_type);
    TYPES
        .iter()
        .find(|(names, _)| names.split(',').any(|n| n == name))
        .map(|(_, ty)| ty.clone())
}

/// `TIMESTAMP(6) Without Time Zone` → `timestamp without time zone`, `INT(10) UNSIGNED` →
/// `int`.
pub(crate) fn normalize_type_name(data_type: &str) -> String {
    let mut out = String::with_capacity(data_type.len());
    let mut depth = 0usize;
    for c in data_type.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.extend(c.to_lowercase()),
            _ => {}
        }
    }
    out.split_whitespace()
        .filter(|w| !matches!(*w, "unsigned" | "signed" | "zerofill"))
        .collect::<Vec<_>>()
        .join(" ")
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

    /// The backend's columnar fast path for plain batches, if it has one (only PostgreSQL:
    /// `unnest`); without one, or where it declines a batch's columns, the executor writes
    /// multi-row `VALUES`.
    fn columnar() -> Option<&'static dyn Columnar<Self::DB>> {
        None
    }

    /// Decodes column `i` of a row to JSON, by the column's database type.
    fn column_json(row: &<Self::DB as sqlx::Database>::Row, i: usize) -> serde_json::Value;

    /// Decodes column `i` of a row as text (`None` for `NULL`): a [`Returned::Text`] column,
    /// never reinterpreted by its content (as [`Backend::column_json`] may do with SQLite's
    /// dynamic types).
    fn column_text(
        row: &<Self::DB as sqlx::Database>::Row,
        i: usize,
    ) -> Result<Option<String>, sqlx::Error>;
}

/// A backend's columnar fast path: one statement that writes any number of rows with one
/// parameter per column (PostgreSQL's `INSERT … SELECT … FROM unnest($1::t[], …)`), offered
/// by [`Backend::columnar`]. Kept apart from [`Backend`], as sqlx keeps `PgCopyIn` in its
/// PostgreSQL crate: the databases without one implement nothing.
pub(crate) trait Columnar<DB: sqlx::Database>: Send + Sync {
    /// The statement for these columns, or `None` when they do not allow it (the executor
    /// then uses multi-row `VALUES`). Columns flagged `shared` are bound once, as scalars,
    /// after the arrays.
    fn sql(
        &self,
        table: TableName<'_>,
        columns: &[Column],
        on_conflict: &OnConflict,
    ) -> Option<String>;

    /// Binds `rows` for [`Columnar::sql`]: one array per non-shared column, then the shared
    /// columns' values from the first row.
    fn bind(
        &self,
        args: &mut DB::Arguments,
        columns: &[Column],
        rows: &[Vec<Value>],
    ) -> Result<(), sqlx::error::BoxDynError>;

    /// The probe of an upsert's batch: a statement, bound like [`Columnar::sql`] with the
    /// batch's `target` columns alone (none shared), that returns the 0-based positions
    /// (`int8`) of the rows whose target values match a row already in `table` (a `NULL`
    /// matches nothing, as for a conflict). `None` when these columns have no probe. None by
    /// default.
    fn probe_sql(&self, table: TableName<'_>, target: &[Column]) -> Option<String> {
        let _ = (table, target);
        None
    }

    /// Runs [`Columnar::probe_sql`]'s statement `sql` with the target values `keys` (one row
    /// of `target` values per row of the batch); returns the positions it found. Only called
    /// with a statement [`Columnar::probe_sql`] gave.
    fn probe<'c>(
        &'c self,
        conn: &'c mut DB::Connection,
        sql: &'c str,
        target: &'c [Column],
        keys: &'c [Vec<Value>],
    ) -> BoxFuture<'c, Result<Vec<i64>, sqlx::Error>> {
        let _ = (conn, target, keys);
        Box::pin(async move {
            Err(sqlx::Error::Protocol(format!(
                "no probe on this database for `{sql}`"
            )))
        })
    }

    /// The backend's bulk-load plan for these columns of `table` (PostgreSQL's binary
    /// `COPY … FROM STDIN` and the binary form each column is sent in), asked of the
    /// database on `conn` where it depends on the table, or `None` when this batch cannot be
    /// loaded that way (the executor then uses [`Columnar::sql`]). None by default.
    fn copy_sql<'c>(
        &'c self,
        conn: &'c mut DB::Connection,
        table: TableName<'c>,
        columns: &'c [Column],
        on_conflict: &'c OnConflict,
    ) -> BoxFuture<'c, Result<Option<CopyPlan>, sqlx::Error>> {
        let _ = (conn, table, columns, on_conflict);
        Box::pin(async { Ok(None) })
    }

    /// Runs [`Columnar::copy_sql`]'s `plan` with `rows`; returns the rows written, or `None`
    /// when a value does not fit the binary form its column is sent in (an integer beyond
    /// an `int4` column's range, say): then nothing was sent, and the executor writes the
    /// batch with [`Columnar::sql`], whose casts let the database decide as it would without
    /// the bulk load. Only called with a plan [`Columnar::copy_sql`] gave.
    fn copy<'c>(
        &'c self,
        conn: &'c mut DB::Connection,
        plan: &'c CopyPlan,
        columns: &'c [Column],
        rows: &'c [Vec<Value>],
    ) -> BoxFuture<'c, Result<Option<u64>, sqlx::Error>> {
        let _ = (conn, columns, rows);
        Box::pin(async move {
            Err(sqlx::Error::Protocol(format!(
                "no bulk load on this database for `{}`",
                plan.sql
            )))
        })
    }
}

/// A bulk-load statement of [`Columnar::copy_sql`] and the binary form each of its columns
/// is sent in, built once per statement shape and call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CopyPlan {
    /// The statement's text.
    pub(crate) sql: String,
    /// Each column's binary form, in the order of the batch's columns.
    pub(crate) wire: Vec<Wire>,
}

/// The binary form a bulk load sends one column's values in. Each narrower form is taken
/// only for a column of that type, and only for a value it holds exactly (else the batch is
/// written with [`Columnar::sql`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// The form of the type the values are bound as (PostgreSQL's `int8`, `float8`, `text`,
    /// `jsonb`, …).
    Bound,
    /// An integer as a 4-byte integer (`int4`, `integer`).
    Int4,
    /// An integer as a 2-byte integer (`int2`, `smallint`).
    Int2,
    /// A float as a single-precision float (`float4`, `real`).
    Float4,
    /// An integer as an arbitrary-precision decimal (`numeric`).
    Numeric,
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
    fetch_json_with::<B, _>(pool, sql, &[]).await
}

/// As [`fetch_json`], on any executor (a pool, or one connection), with text parameters
/// bound in order (`None` binds `NULL`): the catalog's prefix, which is never part of the
/// SQL text.
pub(crate) async fn fetch_json_with<'e, B, E>(
    executor: E,
    sql: &str,
    params: &[Option<&str>],
) -> crate::error::Result<Vec<serde_json::Map<String, serde_json::Value>>>
where
    B: Backend,
    E: sqlx::Executor<'e, Database = B::DB>,
    <B::DB as sqlx::Database>::Arguments: sqlx::IntoArguments<B::DB>,
{
    use sqlx::{Column, Row};
    let mut args = <B::DB as sqlx::Database>::Arguments::default();
    for p in params {
        let value = p.map_or(Value::Null, |p| Value::String(p.to_string()));
        B::bind(&mut args, &value, &FieldType::String)
            .map_err(|e| crate::error::Error::database(None, sqlx::Error::Encode(e)))?;
    }
    let rows = sqlx::query_with(trusted_sql(sql), args)
        .fetch_all(executor)
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

/// Binds a [`Value`] on a database without native UUID, JSON or array types (SQLite, MySQL):
/// UUIDs as hyphenated text, JSON and arrays as JSON text, decimals as `$decimal` gives.
macro_rules! bind_without_native_json {
    ($args:expr, $value:expr, |$d:ident| $decimal:expr) => {{
        let args = $args;
        match $value {
            Value::Null => args.add(None::<i64>),
            Value::Bool(b) => args.add(*b),
            Value::Int(i) => args.add(*i),
            Value::Float(f) => args.add(*f),
            Value::Decimal($d) => args.add($decimal),
            Value::String(s) => args.add(s.as_str()),
            Value::Bytes(b) => args.add(b.as_slice()),
            Value::Uuid(u) => args.add(u.hyphenated().to_string()),
            Value::Date(d) => args.add(*d),
            Value::Time(t) => args.add(*t),
            Value::NaiveDateTime(t) => args.add(*t),
            Value::UtcDateTime(t) => args.add(*t),
            v @ (Value::Json(_) | Value::Array(_)) => args.add($crate::dialect::json_text(v)),
        }
    }};
}
pub(crate) use bind_without_native_json;

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
