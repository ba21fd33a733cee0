//! The tables a registry writes, as the [`Dialect`] renders their `CREATE TABLE`: the
//! definitions [`crate::ddl`] builds from the schemas, and the default (PostgreSQL and SQLite)
//! form of each statement. Each database overrides what differs in its own module.

use std::fmt;
use std::fmt::Write;

use super::{Dialect, TableName};
use crate::schema::FieldType;

/// A table to create: its columns, keys and foreign keys.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableDef {
    /// The table's prefix (PostgreSQL schema, MySQL/MariaDB database, attached SQLite
    /// database), if it is in one.
    pub prefix: Option<String>,
    /// The table's name.
    pub name: String,
    /// The columns, in the schema's field order (a join table: its two join keys first).
    pub columns: Vec<ColumnDef>,
    /// The primary-key columns, in key order (empty for none).
    pub primary_key: Vec<String>,
    /// The unique keys besides the primary key, each as its columns.
    pub unique: Vec<Vec<String>>,
    /// The foreign keys created with the table.
    pub foreign_keys: Vec<ForeignKeyDef>,
}

impl TableDef {
    /// The table's name with its prefix.
    pub fn table_name(&self) -> TableName<'_> {
        TableName {
            prefix: self.prefix.as_deref(),
            name: &self.name,
        }
    }
}

/// A column of a [`TableDef`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ColumnDef {
    /// The column's name.
    pub name: String,
    /// The field type of the values written to it.
    pub ty: FieldType,
    /// `NOT NULL`.
    pub not_null: bool,
    /// The database generates its values (the table's one-column primary key).
    pub generated: bool,
    /// Part of a key (primary, unique or foreign, on either side): MySQL/MariaDB need a
    /// bounded type there.
    pub keyed: bool,
}

/// A foreign key of a [`TableDef`]: `columns` refer to `ref_columns` of the table `ref_table`
/// (in `ref_prefix`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForeignKeyDef {
    /// The referring columns.
    pub columns: Vec<String>,
    /// The referenced table's prefix.
    pub ref_prefix: Option<String>,
    /// The referenced table.
    pub ref_table: String,
    /// The referenced columns, one per column.
    pub ref_columns: Vec<String>,
    /// Checked at the commit rather than at each statement, where the dialect
    /// [can](Dialect::deferred_sql).
    pub deferred: bool,
}

impl ForeignKeyDef {
    /// The referenced table's name with its prefix.
    pub fn ref_table_name(&self) -> TableName<'_> {
        TableName {
            prefix: self.ref_prefix.as_deref(),
            name: &self.ref_table,
        }
    }

    /// The constraint's name when it is added after its table: `TABLE_COLUMNS_fkey`.
    pub fn constraint_name(&self, table: &str) -> String {
        format!("{table}_{}_fkey", self.columns.join("_"))
    }
}

/// The standard `CREATE TABLE IF NOT EXISTS` of `table`, each part rendered by `dialect`.
pub(crate) fn create_table_sql(dialect: &(impl Dialect + ?Sized), table: &TableDef) -> String {
    let mut parts: Vec<String> = Vec::new();
    let inline_pk = table.columns.iter().any(|c| c.generated) && dialect.generated_key_inline();
    for c in &table.columns {
        let ty = dialect.column_type_sql(&c.ty, c.keyed).unwrap_or_default();
        let mut part = format!("{} {ty}", dialect.quote(&c.name));
        if c.not_null {
            part.push_str(" NOT NULL");
        }
        if c.generated {
            part.push_str(dialect.generated_key_sql());
        }
        parts.push(part);
    }
    if !table.primary_key.is_empty() && !inline_pk {
        parts.push(format!(
            "PRIMARY KEY ({})",
            quote_list(dialect, &table.primary_key)
        ));
    }
    for u in &table.unique {
        parts.push(format!("UNIQUE ({})", quote_list(dialect, u)));
    }
    for fk in &table.foreign_keys {
        parts.push(foreign_key_sql(dialect, table.table_name(), fk));
    }
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS {} (\n  {}\n)",
        dialect.quote_table(table.table_name()),
        parts.join(",\n  ")
    );
    sql.push_str(dialect.table_options_sql());
    sql
}

/// `FOREIGN KEY (…) REFERENCES t (…)`, deferred where asked and the dialect can.
pub(crate) fn foreign_key_sql(
    dialect: &(impl Dialect + ?Sized),
    from: TableName<'_>,
    fk: &ForeignKeyDef,
) -> String {
    let mut sql = format!(
        "FOREIGN KEY ({}) REFERENCES {} ({})",
        quote_list(dialect, &fk.columns),
        dialect.referenced_table_sql(from, fk.ref_table_name()),
        quote_list(dialect, &fk.ref_columns)
    );
    if fk.deferred
        && let Some(d) = dialect.deferred_sql()
    {
        let _ = write!(sql, " {d}");
    }
    sql
}

/// The quoted columns, comma-separated.
pub(crate) fn quote_list(dialect: &(impl Dialect + ?Sized), columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| dialect.quote(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One statement of [`ddl`](crate::ddl()): what it creates, and its SQL text (without a final `;`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DdlStatement {
    /// What the statement creates: a table (`prefix.table` in a prefix), a prefix
    /// (`prefix NAME`), or a table's foreign key added after it (`table.COLUMNS`). Errors of
    /// [`apply_ddl`](crate::apply_ddl) name it as their table.
    pub object: String,
    /// The SQL text.
    pub sql: String,
    /// The table it creates (prefix, name), for the report of what a run created.
    pub(crate) creates: Option<(Option<String>, String)>,
}

impl DdlStatement {
    /// A statement of `sql` creating `object`, to run with those of [`ddl`](crate::ddl()) (an index, a
    /// grant).
    ///
    /// ```
    /// let s = bulkinup::DdlStatement::new("tags_name", r#"CREATE INDEX "tags_name" ON "tags" ("name")"#);
    /// assert_eq!(s.to_string(), r#"CREATE INDEX "tags_name" ON "tags" ("name");"#);
    /// ```
    pub fn new(object: impl Into<String>, sql: impl Into<String>) -> DdlStatement {
        DdlStatement {
            object: object.into(),
            sql: sql.into(),
            creates: None,
        }
    }
}

impl fmt::Display for DdlStatement {
    /// The SQL text followed by `;`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{};", self.sql)
    }
}
