//! Schema checks: every difference between a registry and the live catalog that would make
//! a write fail or misbehave.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use super::{Catalog, Table};
use crate::db::Db;
use crate::dialect::{Dialect, TableName};
use crate::error::Result;
use crate::execute::Deadline;
use crate::options::Options;
use crate::schema::{FieldType, Link, Registry, Schema};

/// One difference between a schema and the database, found by [`check`]. Its `Display` says
/// what is wrong and where; serialized (serde), it is an object with a `kind` in snake case
/// and the fields of its variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Mismatch {
    /// The schema's table does not exist.
    MissingTable {
        /// The schema.
        schema: String,
        /// Its table (`source`). Here and in every mismatch, a table in a prefix is named
        /// `prefix.table`.
        table: String,
    },
    /// A field's column does not exist.
    MissingColumn {
        /// The schema.
        schema: String,
        /// The field (an embed's JSON column is a field too).
        field: String,
        /// The table.
        table: String,
        /// The field's column.
        column: String,
    },
    /// A field's values cannot be written to its column's type.
    TypeMismatch {
        /// The schema.
        schema: String,
        /// The field.
        field: String,
        /// The field's type (`embed` for the JSON column of an embed).
        field_type: String,
        /// The table.
        table: String,
        /// The field's column.
        column: String,
        /// The column's declared type.
        column_type: String,
    },
    /// A field's column is computed by the database and cannot be written.
    GeneratedColumn {
        /// The schema.
        schema: String,
        /// The field.
        field: String,
        /// The table.
        table: String,
        /// The generated column.
        column: String,
    },
    /// A field declared `autogenerate = true` whose column the database does not fill: no
    /// identity, serial, auto-increment or default.
    NotGenerated {
        /// The schema.
        schema: String,
        /// The field.
        field: String,
        /// The table.
        table: String,
        /// The field's column.
        column: String,
    },
    /// A `NOT NULL` column without a default that no field (or, in a join table, no join
    /// key) writes: every insert fails.
    UnwrittenRequiredColumn {
        /// The schema.
        schema: String,
        /// The `many_to_many` association, when the table is its join table.
        association: Option<String>,
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// No primary key or unique index covers exactly the schema's primary-key columns, which
    /// an upsert conflicts on.
    PrimaryKeyNotUnique {
        /// The schema.
        schema: String,
        /// The table.
        table: String,
        /// The columns of the schema's primary key.
        columns: Vec<String>,
    },
    /// A `many_to_many` join table does not exist.
    MissingJoinTable {
        /// The schema owning the association.
        schema: String,
        /// The `many_to_many` association.
        association: String,
        /// The join table (`join_through`).
        table: String,
    },
    /// A join key column does not exist in the join table.
    MissingJoinColumn {
        /// The schema owning the association.
        schema: String,
        /// The `many_to_many` association.
        association: String,
        /// The join table.
        table: String,
        /// The missing join key column.
        column: String,
    },
    /// No primary key or unique index covers exactly the two join key columns: an upsert
    /// cannot skip the links that exist.
    JoinTableNotUnique {
        /// The schema owning the association (the first, by name, of those sharing the join
        /// table).
        schema: String,
        /// The `many_to_many` association.
        association: String,
        /// The join table.
        table: String,
        /// The two join key columns.
        columns: Vec<String>,
    },
}

impl Mismatch {
    /// The schema the mismatch is in.
    ///
    /// ```
    /// use bulkinup::Mismatch;
    ///
    /// let m = Mismatch::MissingTable { schema: "Post".into(), table: "posts".into() };
    /// assert_eq!((m.schema(), m.table()), ("Post", "posts"));
    /// ```
    pub fn schema(&self) -> &str {
        match self {
            Mismatch::MissingTable { schema, .. }
            | Mismatch::MissingColumn { schema, .. }
            | Mismatch::TypeMismatch { schema, .. }
            | Mismatch::GeneratedColumn { schema, .. }
            | Mismatch::NotGenerated { schema, .. }
            | Mismatch::UnwrittenRequiredColumn { schema, .. }
            | Mismatch::PrimaryKeyNotUnique { schema, .. }
            | Mismatch::MissingJoinTable { schema, .. }
            | Mismatch::MissingJoinColumn { schema, .. }
            | Mismatch::JoinTableNotUnique { schema, .. } => schema,
        }
    }

    /// The table the mismatch is in (a join table for the `many_to_many` ones).
    ///
    /// ```
    /// use bulkinup::Mismatch;
    ///
    /// let m = Mismatch::JoinTableNotUnique {
    ///     schema: "Post".into(),
    ///     association: "tags".into(),
    ///     table: "posts_tags".into(),
    ///     columns: vec!["post_id".into(), "tag_id".into()],
    /// };
    /// assert_eq!(m.table(), "posts_tags");
    /// assert!(m.to_string().ends_with("the upsert needs a unique index on (post_id, tag_id) to skip the links that exist"));
    /// ```
    pub fn table(&self) -> &str {
        match self {
            Mismatch::MissingTable { table, .. }
            | Mismatch::MissingColumn { table, .. }
            | Mismatch::TypeMismatch { table, .. }
            | Mismatch::GeneratedColumn { table, .. }
            | Mismatch::NotGenerated { table, .. }
            | Mismatch::UnwrittenRequiredColumn { table, .. }
            | Mismatch::PrimaryKeyNotUnique { table, .. }
            | Mismatch::MissingJoinTable { table, .. }
            | Mismatch::MissingJoinColumn { table, .. }
            | Mismatch::JoinTableNotUnique { table, .. } => table,
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::MissingTable { schema, table } => write!(
                f,
                "schema `{schema}`: table `{table}` does not exist (create it, or fix the schema's `source`)"
            ),
            Mismatch::MissingColumn {
                schema,
                field,
                table,
                column,
            } => write!(
                f,
                "schema `{schema}`: field `{field}` has no column: table `{table}` has no column `{column}` (add the column, or fix the field's `source`)"
            ),
            Mismatch::TypeMismatch {
                schema,
                field,
                field_type,
                table,
                column,
                column_type,
            } => write!(
                f,
                "schema `{schema}`: field `{field}` of type `{field_type}` cannot be written to column `{column}` of table `{table}`, of type `{column_type}`"
            ),
            Mismatch::GeneratedColumn {
                schema,
                field,
                table,
                column,
            } => write!(
                f,
                "schema `{schema}`: field `{field}` is stored in column `{column}` of table `{table}`, which the database computes and cannot be written (remove the field)"
            ),
            Mismatch::NotGenerated {
                schema,
                field,
                table,
                column,
            } => write!(
                f,
                "schema `{schema}`: field `{field}` is `autogenerate = true`, but column `{column}` of table `{table}` has no identity, serial, auto-increment or default: rows without it cannot be inserted"
            ),
            Mismatch::UnwrittenRequiredColumn {
                schema,
                association: None,
                table,
                column,
            } => write!(
                f,
                "schema `{schema}`: column `{column}` of table `{table}` is NOT NULL without a default, and no field writes it: every insert fails (add a field, or a default)"
            ),
            Mismatch::UnwrittenRequiredColumn {
                schema,
                association: Some(assoc),
                table,
                column,
            } => write!(
                f,
                "schema `{schema}`, many_to_many `{assoc}`: column `{column}` of join table `{table}` is NOT NULL without a default, and join rows write only their join keys: every link fails (give it a default)"
            ),
            Mismatch::PrimaryKeyNotUnique {
                schema,
                table,
                columns,
            } => write!(
                f,
                "schema `{schema}`: table `{table}` has no primary key or unique index on exactly ({}), the schema's primary key: an upsert needs one to find the rows that exist",
                columns.join(", ")
            ),
            Mismatch::MissingJoinTable {
                schema,
                association,
                table,
            } => write!(
                f,
                "schema `{schema}`, many_to_many `{association}`: join table `{table}` does not exist"
            ),
            Mismatch::MissingJoinColumn {
                schema,
                association,
                table,
                column,
            } => write!(
                f,
                "schema `{schema}`, many_to_many `{association}`: join table `{table}` has no column `{column}` (fix `join_keys`, or add the column)"
            ),
            Mismatch::JoinTableNotUnique {
                schema,
                association,
                table,
                columns,
            } => write!(
                f,
                "schema `{schema}`, many_to_many `{association}`: join table `{table}` has no primary key or unique index on exactly ({cols}): the upsert needs a unique index on ({cols}) to skip the links that exist",
                cols = columns.join(", ")
            ),
        }
    }
}

/// Checks a registry against the tables of the connected database, before any data is
/// loaded, and returns every mismatch (none when the schemas fit): a missing table or
/// column, a field whose type cannot be written to its column (the check is lenient where
/// writes work: any integer column for an integer field, text or JSON columns for maps and
/// embeds, see the [module docs](crate::catalog)), a generated column written by a field, an
/// `autogenerate` field the database does not fill, a `NOT NULL` column no field writes, a
/// primary key without a unique index, and for each `many_to_many`: a missing join table or
/// join column, or a join table without the unique index on its two join keys that the
/// upsert's join rows need.
///
/// Embedded schemas have no table: an embed is checked as the JSON column of its owner.
/// `belongs_to` foreign keys are fields like any other. The mismatches come in schema order
/// (sorted by name), then field order.
///
/// Each schema is checked against the catalog of the place a write puts its table in: its
/// own `prefix` (a PostgreSQL schema, MySQL/MariaDB database or attached SQLite database),
/// else the given `prefix` (the write option of the same name), else the connection's
/// current schema; a `many_to_many` join table against its owner's. Each place's catalog is
/// read once, and the mismatches of a table in a prefix name it `prefix.table`.
///
/// ```
/// use bulkinup::{Db, Registry};
/// use bulkinup::catalog::Mismatch;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let registry = Registry::from_toml_str(r#"
///     [schemas.Tag]
///     source = "tags"
///     fields = { id = "integer", name = "string", color = "string" }
///     changesets.changeset = { cast = ["id", "name", "color"] }
/// "#, "tags.toml")?.registry;
///
/// let db = Db::connect("sqlite::memory:").await?;
/// db.execute_script("CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL)").await?;
///
/// let mismatches = bulkinup::catalog::check(&db, &registry, None).await?;
/// assert_eq!(mismatches, [Mismatch::MissingColumn {
///     schema: "Tag".into(), field: "color".into(), table: "tags".into(), column: "color".into(),
/// }]);
/// assert_eq!(
///     mismatches[0].to_string(),
///     "schema `Tag`: field `color` has no column: table `tags` has no column `color` (add the column, or fix the field's `source`)"
/// );
///
/// db.execute_script("ALTER TABLE tags ADD COLUMN color TEXT").await?;
/// assert!(bulkinup::catalog::check(&db, &registry, None).await?.is_empty());
/// # Ok::<(), bulkinup::Error>(())
/// # }).unwrap();
/// ```
///
/// The tables of a prefix, here an attached SQLite database:
///
/// ```
/// use bulkinup::{Db, Registry};
/// use bulkinup::catalog::Mismatch;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let registry = Registry::from_toml_str(r#"
///     [schemas.Event]
///     source = "events"
///     fields = { id = "integer", name = "string" }
///     changesets.changeset = { cast = ["id", "name"] }
/// "#, "events.toml")?.registry;
///
/// let db = Db::connect("sqlite::memory:?attach=analytics::memory:").await?;
/// db.execute_script("CREATE TABLE analytics.events (id INTEGER PRIMARY KEY, name TEXT)").await?;
///
/// assert_eq!(
///     bulkinup::catalog::check(&db, &registry, None).await?,
///     [Mismatch::MissingTable { schema: "Event".into(), table: "events".into() }]
/// );
/// assert!(bulkinup::catalog::check(&db, &registry, Some("analytics")).await?.is_empty());
/// # Ok::<(), bulkinup::Error>(())
/// # }).unwrap();
/// ```
///
/// # Errors
/// [`Error::InvalidOption`](crate::Error::InvalidOption) (`prefix`) when the given prefix
/// does not exist (or is no valid name), [`Error::Schema`](crate::Error::Schema) (`prefix`)
/// when a schema's own prefix does not; [`Error::Database`](crate::Error::Database) when a
/// catalog query fails; [`Error::Timeout`](crate::Error::Timeout) when its queries take
/// more than 15 s together: it is [`check_with`] with [`Options::default()`], whose time
/// limits are the library's defaults. Mismatches are data, not errors.
pub async fn check(db: &Db, registry: &Registry, prefix: Option<&str>) -> Result<Vec<Mismatch>> {
    check_with(db, registry, prefix, &Options::default()).await
}

/// As [`check`], within the time limits of `options`: all the catalog queries (of every
/// place read, prefix checks included) together within [`Options::timeout`], each within
/// [`Options::statement_timeout`] (and what remains of the timeout), on the client's clock
/// ([the catalog's time limits](crate::catalog#time-limits)). Its other options are not
/// read: the place of the schemas without a `prefix` is the `prefix` argument.
///
/// ```
/// use std::time::Duration;
/// use bulkinup::{Db, Options, Registry};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let registry = Registry::from_toml_str(r#"
///     [schemas.Tag]
///     source = "tags"
///     fields = { id = "integer", name = "string" }
///     changesets.changeset = { cast = ["id", "name"] }
/// "#, "tags.toml")?.registry;
/// let db = Db::connect("sqlite::memory:").await?;
/// db.execute_script("CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL)").await?;
///
/// let options = Options::default().statement_timeout(Some(Duration::from_secs(5)));
/// assert!(bulkinup::catalog::check_with(&db, &registry, None, &options).await?.is_empty());
/// # Ok::<(), bulkinup::Error>(())
/// # }).unwrap();
/// ```
///
/// # Errors
/// As [`check`], and [`Error::Timeout`](crate::Error::Timeout) (naming `timeout` or
/// `statement_timeout`) when a query does not answer in time.
pub async fn check_with(
    db: &Db,
    registry: &Registry,
    prefix: Option<&str>,
    options: &Options,
) -> Result<Vec<Mismatch>> {
    let deadline = Deadline::queries(options.timeout, options.statement_timeout);
    let schemas: Vec<&Schema> = registry
        .schema_names()
        .into_iter()
        .filter_map(|name| registry.get(name).ok())
        .filter(|s| !s.is_embedded())
        .collect();
    // The catalog of each place a schema is in, read once.
    let mut catalogs: Vec<(Option<&str>, Catalog)> = Vec::new();
    for s in &schemas {
        let place = s.prefix().or(prefix);
        if catalogs.iter().all(|(p, _)| *p != place) {
            let owner = s.prefix().map(|_| s.name());
            catalogs.push((place, Catalog::read(db, place, owner, &deadline).await?));
        }
    }
    let mut checker = Checker {
        dialect: db.dialect(),
        out: Vec::new(),
        join_tables_seen: BTreeSet::new(),
    };
    for s in schemas {
        let place = s.prefix().or(prefix);
        if let Some((_, catalog)) = catalogs.iter().find(|(p, _)| *p == place) {
            checker.schema(
                &Place {
                    catalog,
                    prefix: place,
                },
                s,
            );
        }
    }
    Ok(checker.out)
}

/// The catalog a schema is checked against, and the prefix it was read from.
struct Place<'a> {
    catalog: &'a Catalog,
    prefix: Option<&'a str>,
}

impl Place<'_> {
    /// A table as mismatches name it: `prefix.table` in a prefix, else `table`.
    fn name(&self, table: &str) -> String {
        TableName {
            prefix: self.prefix,
            name: table,
        }
        .to_string()
    }
}

struct Checker<'a> {
    dialect: &'a dyn Dialect,
    out: Vec<Mismatch>,
    /// Join tables already reported (several associations may share one), by prefix, table
    /// and join keys.
    join_tables_seen: BTreeSet<(Option<String>, String, String, String)>,
}

impl Checker<'_> {
    /// Checks one schema against the catalog of its place.
    fn schema(&mut self, place: &Place<'_>, s: &Schema) {
        let table_name = s.table();
        let Some(table) = place.catalog.table(self.dialect, table_name) else {
            self.out.push(Mismatch::MissingTable {
                schema: s.name().to_string(),
                table: place.name(table_name),
            });
            self.join_tables(place, s);
            return;
        };
        let mut written = BTreeSet::new();
        for f in s.fields() {
            let Some(column) = table.column(self.dialect, f.column()) else {
                self.out.push(Mismatch::MissingColumn {
                    schema: s.name().to_string(),
                    field: f.name().to_string(),
                    table: place.name(&table.name),
                    column: f.column().to_string(),
                });
                continue;
            };
            written.insert(column.name.as_str());
            let at = |field: &str| {
                (
                    s.name().to_string(),
                    field.to_string(),
                    place.name(&table.name),
                )
            };
            if column.generated {
                let (schema, field, table) = at(f.name());
                self.out.push(Mismatch::GeneratedColumn {
                    schema,
                    field,
                    table,
                    column: column.name.clone(),
                });
            } else if let Some(col_ty) = &column.field_type
                && !writable(f.ty(), col_ty)
            {
                let (schema, field, table) = at(f.name());
                self.out.push(Mismatch::TypeMismatch {
                    schema,
                    field,
                    field_type: f.ty().to_string(),
                    table,
                    column: column.name.clone(),
                    column_type: column.column_type.clone(),
                });
            }
            if f.is_autogenerated() && !column.identity && !column.has_default {
                let (schema, field, table) = at(f.name());
                self.out.push(Mismatch::NotGenerated {
                    schema,
                    field,
                    table,
                    column: column.name.clone(),
                });
            }
        }
        for c in &table.columns {
            if c.not_null
                && !c.has_default
                && !c.identity
                && !c.generated
                && !written.contains(c.name.as_str())
            {
                self.out.push(Mismatch::UnwrittenRequiredColumn {
                    schema: s.name().to_string(),
                    association: None,
                    table: place.name(&table.name),
                    column: c.name.clone(),
                });
            }
        }
        let pk: Vec<&str> = s
            .primary_key
            .iter()
            .filter_map(|&i| s.fields().get(i))
            .map(|f| f.column())
            .collect();
        if !pk.is_empty() {
            let resolved: Option<Vec<&str>> = pk
                .iter()
                .map(|c| table.column(self.dialect, c).map(|c| c.name.as_str()))
                .collect();
            // A missing column is reported above.
            if let Some(resolved) = resolved
                && !table.has_unique_key_on(&resolved)
            {
                self.out.push(Mismatch::PrimaryKeyNotUnique {
                    schema: s.name().to_string(),
                    table: place.name(&table.name),
                    columns: pk.iter().map(|c| c.to_string()).collect(),
                });
            }
        }
        self.join_tables(place, s);
    }

    /// The join tables of the schema's `many_to_many` associations, each checked once.
    /// A join table follows its owner's place.
    fn join_tables(&mut self, place: &Place<'_>, s: &Schema) {
        let mut assocs: Vec<_> = s.associations().iter().collect();
        assocs.sort_by(|a, b| a.name().cmp(b.name()));
        for a in assocs {
            let Link::Join {
                table,
                owner_column,
                related_column,
                ..
            } = &a.link
            else {
                continue;
            };
            let mut key = [owner_column.clone(), related_column.clone()];
            key.sort();
            let [first, second] = key;
            let seen = (
                place.prefix.map(str::to_string),
                table.clone(),
                first,
                second,
            );
            if !self.join_tables_seen.insert(seen) {
                continue;
            }
            let at = || (s.name().to_string(), a.name().to_string());
            let Some(t) = place.catalog.table(self.dialect, table) else {
                let (schema, association) = at();
                self.out.push(Mismatch::MissingJoinTable {
                    schema,
                    association,
                    table: place.name(table),
                });
                continue;
            };
            let mut resolved = Vec::new();
            for column in [owner_column, related_column] {
                match t.column(self.dialect, column) {
                    Some(c) => resolved.push(c.name.as_str()),
                    None => {
                        let (schema, association) = at();
                        self.out.push(Mismatch::MissingJoinColumn {
                            schema,
                            association,
                            table: place.name(&t.name),
                            column: column.clone(),
                        });
                    }
                }
            }
            if resolved.len() == 2 && !t.has_unique_key_on(&resolved) {
                let (schema, association) = at();
                self.out.push(Mismatch::JoinTableNotUnique {
                    schema,
                    association,
                    table: place.name(&t.name),
                    columns: vec![owner_column.clone(), related_column.clone()],
                });
            }
            self.unwritten_join_columns(place, s, a.name(), t, &resolved);
        }
    }

    fn unwritten_join_columns(
        &mut self,
        place: &Place<'_>,
        s: &Schema,
        assoc: &str,
        t: &Table,
        keys: &[&str],
    ) {
        for c in &t.columns {
            if c.not_null
                && !c.has_default
                && !c.identity
                && !c.generated
                && !keys.contains(&c.name.as_str())
            {
                self.out.push(Mismatch::UnwrittenRequiredColumn {
                    schema: s.name().to_string(),
                    association: Some(assoc.to_string()),
                    table: place.name(&t.name),
                    column: c.name.clone(),
                });
            }
        }
    }
}

/// Whether values of a field type can be written to a column whose values map to
/// `column`: lenient where the write works (any integer size, text columns for values
/// stored as text, JSON or text columns for maps, embeds and arrays).
fn writable(field: &FieldType, column: &FieldType) -> bool {
    use FieldType as F;
    match field {
        F::Id | F::Integer => matches!(column, F::Id | F::Integer | F::Decimal),
        F::Float => matches!(column, F::Float | F::Decimal),
        // Stored as its digits in a text column (SQLite's, by `schema ddl`: exact).
        F::Decimal => matches!(column, F::Float | F::Decimal | F::String),
        F::Boolean => matches!(column, F::Boolean),
        F::String => matches!(column, F::String),
        F::Binary => matches!(column, F::Binary),
        F::BinaryId => matches!(column, F::BinaryId | F::String),
        F::Map | F::Embed => matches!(column, F::Map | F::String),
        F::Array(inner) => match column {
            F::Array(col_inner) => writable(inner, col_inner),
            F::Map | F::String => true,
            _ => false,
        },
        F::Date => matches!(column, F::Date | F::String),
        F::Time => matches!(column, F::Time | F::String),
        F::NaiveDatetime | F::NaiveDatetimeUsec | F::UtcDatetime | F::UtcDatetimeUsec => matches!(
            column,
            F::NaiveDatetime
                | F::NaiveDatetimeUsec
                | F::UtcDatetime
                | F::UtcDatetimeUsec
                | F::String
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_that_work_are_accepted() {
        use FieldType as F;
        assert!(writable(&F::Id, &F::Integer));
        assert!(writable(&F::Integer, &F::Decimal));
        assert!(writable(&F::Embed, &F::Map));
        assert!(writable(&F::Embed, &F::String));
        assert!(writable(&F::UtcDatetimeUsec, &F::NaiveDatetimeUsec));
        assert!(writable(&F::UtcDatetimeUsec, &F::String));
        assert!(writable(
            &F::Array(Box::new(F::Id)),
            &F::Array(Box::new(F::Integer))
        ));
        assert!(!writable(&F::Integer, &F::String));
        assert!(!writable(&F::String, &F::Map));
        assert!(!writable(&F::Map, &F::Integer));
        assert!(!writable(
            &F::Array(Box::new(F::String)),
            &F::Array(Box::new(F::Integer))
        ));
    }
}
