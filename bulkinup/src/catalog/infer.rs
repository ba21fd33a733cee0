//! Schema inference: the text of a schema file (`docs/schema-file.md`) from the live catalog.

use std::collections::{BTreeMap, BTreeSet};

use super::{Catalog, Table};
use crate::db::Db;
use crate::dialect::{Dialect, TableName};
use crate::error::{Choices, Error, Result};
use crate::execute::Deadline;
use crate::options::Options;
use crate::schema::{AssocDef, AssocKind, FieldType};

mod data;
mod names;
mod render;

pub use data::{MANY_CODE_KEYS, MAX_CODE_LEN, MAX_CODE_PART, MAX_KEY_CANDIDATES, infer_from_data};

#[cfg(test)]
use names::snake;
use names::{camel, claim, plural, singular, singular_table};

/// The columns of `timestamps = true`.
const TIMESTAMPS: [&str; 2] = ["inserted_at", "updated_at"];

/// Columns a join table may have besides its two foreign keys.
const JOIN_TABLE_EXTRAS: &[&str] = &["inserted_at", "updated_at", "created_at"];

/// Infers a schema file (`docs/schema-file.md`) from the tables of the connected database,
/// or of the listed `tables` only, and returns its text.
///
/// With a `prefix` (a PostgreSQL schema, MySQL/MariaDB database or attached SQLite
/// database), the tables are those of that prefix rather than the connection's current
/// schema, the stored JSON values are read from there, and every schema of the file gets
/// `prefix = "…"`, so the file writes back into the tables it was inferred from.
///
/// - Each table becomes a schema named by the CamelCase singular of the table (`posts` →
///   `Post`, `blog_categories` → `BlogCategory`), with one field per column (generated
///   columns left out) typed as in the [module docs](crate::catalog), and its primary key
///   (`primary_key = []` when there is none). A one-column integer primary key is an `id`
///   field, declared `autogenerate = true` when the database generates it (identity, serial,
///   `AUTO_INCREMENT`, SQLite's `INTEGER PRIMARY KEY`).
/// - A one-column foreign key `T.x_id → R` gives `T` a `belongs_to` named `x` and `R` a
///   `has_many` named after `T` (a `has_one` named after its singular when the foreign key
///   column is unique). Several foreign keys from `T` to `R` name the `has_many` after the
///   column too (`sender_messages`). Composite foreign keys are listed as comments.
/// - A table made of exactly two such foreign keys (besides `inserted_at`, `updated_at`,
///   `created_at`) is a join table: it gets no schema, and both sides get a `many_to_many`
///   named after the other side's table, with `join_through` and `join_keys`. When both
///   keys point at the same table (`country_borders(country_code → countries,
///   neighbour_code → countries)`), that schema gets one link-only `many_to_many`
///   (`write_related = false`: it writes the join rows only) from the first column to the
///   second, named after the second column without a trailing `_id` or `_<referenced
///   column>`, in the plural (`neighbour_code` → `neighbour_codes`, `followee_id` →
///   `followees`).
/// - A JSON column (`map`) is shaped by up to 100 stored values: when they are all arrays
///   of objects, it becomes an `embeds_many` of an embedded schema named after the column
///   (`social_links` → `SocialLink`) whose fields are the objects' keys, typed from their
///   values; otherwise (and in an empty table) it stays a `map`, with a comment when the
///   stored values are not objects. Only this step reads table rows.
/// - A table with both `inserted_at` and `updated_at` columns gets `timestamps = true`: the
///   engine sets them on every row.
/// - Each schema has a `changeset` that casts every field, requires the `NOT NULL` and
///   primary-key columns without a default (not those the database generates, nor automatic
///   timestamps), and casts every `has_many`, `has_one` and `many_to_many` association.
///
/// A name that is taken (by a field, or another association) gets a suffix. The output is
/// deterministic: schemas and associations sorted by name, fields in column order.
///
/// ```
/// use bulkinup::{Db, Registry};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:").await?;
/// db.execute_script(
///     "CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL, bio TEXT);
///      CREATE TABLE posts (id INTEGER PRIMARY KEY,
///                          author_id INTEGER NOT NULL REFERENCES authors (id),
///                          title TEXT NOT NULL, published BOOLEAN NOT NULL DEFAULT false);",
/// )
/// .await?;
///
/// let text = bulkinup::catalog::infer(&db, None, None).await?;
/// assert!(text.contains(r#"posts = { kind = "has_many", related = "Post", foreign_key = "author_id" }"#));
/// assert!(text.contains(r#"author = { kind = "belongs_to", related = "Author", foreign_key = "author_id" }"#));
/// assert!(text.contains(r#"required = ["author_id", "title"]"#));
///
/// // The text is a schema file, ready to load.
/// let registry = Registry::from_toml_str(&text, "inferred.toml")?.registry;
/// assert_eq!(registry.schema_names(), ["Author", "Post"]);
///
/// // Only some tables:
/// let text = bulkinup::catalog::infer(&db, Some(&["authors".to_string()]), None).await?;
/// assert!(!text.contains("[schemas.Post]"));
/// # Ok::<(), bulkinup::Error>(())
/// # }).unwrap();
/// ```
///
/// The tables of a prefix, here an attached SQLite database:
///
/// ```
/// use bulkinup::{Db, Registry};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:?attach=analytics::memory:").await?;
/// db.execute_script(
///     "CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
///      CREATE TABLE analytics.events (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
/// )
/// .await?;
///
/// let text = bulkinup::catalog::infer(&db, None, Some("analytics")).await?;
/// assert!(text.contains("[schemas.Event]\nsource = \"events\"\nprefix = \"analytics\"\n"));
/// assert!(!text.contains("[schemas.Author]"));
/// let registry = Registry::from_toml_str(&text, "analytics.toml")?.registry;
/// assert_eq!(registry.get("Event")?.prefix(), Some("analytics"));
///
/// // A prefix that does not exist is an error naming it.
/// let err = bulkinup::catalog::infer(&db, None, Some("nowhere")).await.unwrap_err();
/// assert!(err.to_string().contains("prefix `nowhere` does not exist"), "{err}");
/// # Ok::<(), bulkinup::Error>(())
/// # }).unwrap();
/// ```
///
/// # Errors
/// [`Error::InvalidOption`] (`prefix`) when the prefix does not exist (or is no valid name);
/// [`Error::InvalidOption`] (`tables`) naming a listed table the database (or the prefix)
/// does not have; [`Error::Schema`] when it has no table (or an inferred association
/// cannot be written as TOML); [`Error::Database`] when a catalog query, or the read of a
/// JSON column's stored values, fails; [`Error::Timeout`] when its queries take more than
/// 15 s together: it is [`infer_with`] with [`Options::default()`], whose time limits are
/// the library's defaults.
pub async fn infer(db: &Db, tables: Option<&[String]>, prefix: Option<&str>) -> Result<String> {
    infer_with(db, tables, prefix, &Options::default()).await
}

/// As [`infer`], within the time limits of `options`: all the queries (the prefix's check,
/// the catalog's, the samples of JSON columns) together within [`Options::timeout`], each
/// within [`Options::statement_timeout`] (and what remains of the timeout), on the client's
/// clock ([the catalog's time limits](crate::catalog#time-limits)). Its other options are
/// not read.
///
/// ```
/// use std::time::Duration;
/// use bulkinup::{Db, Options};
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let db = Db::connect("sqlite::memory:").await?;
/// db.execute_script("CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT NOT NULL)").await?;
///
/// // No limit on the whole, 5 s for each query (the command line's `--timeout infinity
/// // --statement-timeout 5`).
/// let options = Options::default().timeout(None).statement_timeout(Some(Duration::from_secs(5)));
/// let text = bulkinup::catalog::infer_with(&db, None, None, &options).await?;
/// assert!(text.contains("[schemas.Tag]"));
/// # Ok::<(), bulkinup::Error>(())
/// # }).unwrap();
/// ```
///
/// # Errors
/// As [`infer`], and [`Error::Timeout`] (naming `timeout` or `statement_timeout`) when a
/// query does not answer in time.
pub async fn infer_with(
    db: &Db,
    tables: Option<&[String]>,
    prefix: Option<&str>,
    options: &Options,
) -> Result<String> {
    let deadline = Deadline::queries(options.timeout, options.statement_timeout);
    let catalog = Catalog::read(db, prefix, None, &deadline).await?;
    let dialect = db.dialect();
    let selected = select(&catalog, dialect, tables, prefix)?;
    let mut inference = Inference::new(&catalog, &selected);
    inference.prefix = prefix;
    inference.shape_json_columns(db, &deadline).await?;
    inference.render(dialect.name())
}

/// The tables to infer schemas for.
fn select<'c>(
    catalog: &'c Catalog,
    dialect: &dyn Dialect,
    tables: Option<&[String]>,
    prefix: Option<&str>,
) -> Result<BTreeSet<&'c str>> {
    let place = prefix.map_or("the database".to_string(), |p| format!("prefix `{p}`"));
    if catalog.tables.is_empty() {
        return Err(Error::schema(
            None,
            None,
            format!("{place} has no table to infer schemas from"),
        ));
    }
    let Some(list) = tables else {
        return Ok(catalog.tables.keys().map(String::as_str).collect());
    };
    if list.is_empty() {
        return Err(Error::option("tables", "the list of tables is empty", None));
    }
    list.iter()
        .map(|name| {
            catalog
                .table(dialect, name)
                .map(|t| t.name.as_str())
                .ok_or_else(|| {
                    let known: Vec<&str> = catalog.tables.keys().map(String::as_str).collect();
                    Error::option(
                        "tables",
                        format!(
                            "{place} has no table `{name}`{}",
                            crate::options::did_you_mean(name, &known)
                        ),
                        Some(&Choices(&known).to_string()),
                    )
                })
        })
        .collect()
}

/// One inferred schema.
#[derive(Debug)]
struct Inferred<'c> {
    name: String,
    table: &'c Table,
    primary_key: Vec<String>,
    /// `timestamps = true`: the table has both `inserted_at` and `updated_at`.
    timestamps: bool,
    fields: Vec<InferredField>,
    /// By name, so they come out sorted.
    assocs: BTreeMap<String, AssocDef>,
    /// Field and association names, which must differ.
    taken: BTreeSet<String>,
    notes: Vec<String>,
}

#[derive(Debug)]
struct InferredField {
    name: String,
    ty: FieldType,
    autogenerate: bool,
    required: bool,
    note: Option<String>,
}

/// An association waiting for its name: `candidates` are tried in order, then the first
/// with a numeric suffix.
struct Proposal {
    schema: usize,
    /// Sort key: the order in which proposals claim names.
    order: (u8, String, String),
    candidates: Vec<String>,
    /// Named when it claims its name.
    assoc: AssocDef,
}

/// A join table: its two foreign keys, in column order.
struct JoinTable<'c> {
    table: &'c Table,
    keys: [JoinKey<'c>; 2],
}

/// One side of a join table: its column and the column it references.
#[derive(Debug, Clone, Copy)]
struct JoinKey<'c> {
    column: &'c str,
    ref_table: &'c str,
    ref_column: &'c str,
}

struct Inference<'c> {
    /// The prefix the tables were read from: every schema gets `prefix = "…"`.
    prefix: Option<&'c str>,
    schemas: Vec<Inferred<'c>>,
    /// Embedded schemas inferred from the JSON stored in a column.
    embedded: Vec<EmbeddedSchema>,
    joins: Vec<JoinTable<'c>>,
    /// Schema names, taken.
    names: BTreeSet<String>,
}

/// An embedded schema inferred from the JSON objects stored in a column.
#[derive(Debug)]
struct EmbeddedSchema {
    name: String,
    /// `table.column` it was inferred from.
    origin: String,
    sampled: usize,
    fields: Vec<(String, FieldType)>,
    notes: Vec<String>,
}

/// How many rows [`Inference::shape_json_columns`] reads per table.
const JSON_SAMPLE_ROWS: usize = 100;

impl<'c> Inference<'c> {
    fn new(catalog: &'c Catalog, selected: &BTreeSet<&'c str>) -> Inference<'c> {
        let writable =
            |t: &Table, c: &str| t.columns.iter().any(|col| col.name == c && !col.generated);
        // Join tables: two one-column foreign keys to selected tables that are not join-shaped.
        let mut joins = Vec::new();
        for &name in selected {
            let Some(t) = catalog.tables.get(name) else {
                continue;
            };
            let Some(keys) = join_shape(t) else {
                continue;
            };
            let ends_ok = keys.iter().all(|k| {
                selected.contains(k.ref_table)
                    && catalog
                        .tables
                        .get(k.ref_table)
                        .is_some_and(|r| join_shape(r).is_none() && writable(r, k.ref_column))
            });
            if ends_ok {
                joins.push(JoinTable { table: t, keys });
            }
        }
        let is_join = |name: &str| joins.iter().any(|j| j.table.name == name);

        // Schemas, named in table order.
        let mut schemas: Vec<Inferred<'c>> = Vec::new();
        let mut names = BTreeSet::new();
        for &name in selected {
            let Some(table) = catalog.tables.get(name) else {
                continue;
            };
            if is_join(name) {
                continue;
            }
            let base = camel(&singular_table(name));
            let schema_name = claim(&mut names, &[base, camel(name)]);
            schemas.push(Inferred::new(schema_name, table));
        }
        let index: BTreeMap<&str, usize> = schemas
            .iter()
            .enumerate()
            .map(|(i, s)| (s.table.name.as_str(), i))
            .collect();

        // Associations from foreign keys and join tables.
        let mut proposals = Vec::new();
        let mut notes: Vec<(usize, String)> = Vec::new();
        for (si, s) in schemas.iter().enumerate() {
            let t = s.table;
            for fk in &t.foreign_keys {
                let describe = || {
                    format!(
                        "foreign key ({}) -> {} ({})",
                        fk.columns.join(", "),
                        fk.ref_table,
                        fk.ref_columns.join(", ")
                    )
                };
                let ([column], [ref_column]) = (fk.columns.as_slice(), fk.ref_columns.as_slice())
                else {
                    notes.push((
                        si,
                        format!(
                            "{}: not inferred, associations have one-column keys",
                            describe()
                        ),
                    ));
                    continue;
                };
                let Some(&ri) = index.get(fk.ref_table.as_str()) else {
                    let why = if is_join(&fk.ref_table) {
                        "is a join table"
                    } else {
                        "is not among the inferred tables"
                    };
                    notes.push((
                        si,
                        format!("{}: not inferred, `{}` {why}", describe(), fk.ref_table),
                    ));
                    continue;
                };
                let related = &schemas[ri];
                if !writable(t, column) || !writable(related.table, ref_column) {
                    continue;
                }
                let siblings = t
                    .foreign_keys
                    .iter()
                    .filter(|other| other.ref_table == fk.ref_table && other.columns.len() == 1)
                    .count();
                let stem = column
                    .strip_suffix("_id")
                    .filter(|s| !s.is_empty())
                    .map(str::to_string);
                let references =
                    (related.primary_key != [ref_column.clone()]).then(|| ref_column.clone());
                // belongs_to on the referencing side.
                let mut candidates: Vec<String> = stem.iter().cloned().collect();
                candidates.push(singular_table(&fk.ref_table));
                candidates.push(format!("{column}_ref"));
                proposals.push(Proposal {
                    schema: si,
                    order: (0, column.clone(), String::new()),
                    candidates,
                    assoc: AssocDef {
                        references: references.clone(),
                        ..AssocDef::new("", AssocKind::BelongsTo, &related.name).foreign_key(column)
                    },
                });
                // has_many (has_one when the foreign key is unique) on the referenced side.
                let one = t.has_unique_key_on(&[column.as_str()]);
                let kind = if one {
                    AssocKind::HasOne
                } else {
                    AssocKind::HasMany
                };
                let base = if one {
                    singular_table(&t.name)
                } else {
                    t.name.clone()
                };
                let prefixed = stem
                    .as_ref()
                    .map(|stem| format!("{stem}_{base}"))
                    .unwrap_or_else(|| format!("{column}_{base}"));
                let candidates = if siblings > 1 {
                    vec![prefixed]
                } else {
                    vec![base, prefixed]
                };
                proposals.push(Proposal {
                    schema: ri,
                    order: (1, t.name.clone(), column.clone()),
                    candidates,
                    assoc: AssocDef {
                        references,
                        ..AssocDef::new("", kind, &s.name).foreign_key(column)
                    },
                });
            }
        }
        for j in &joins {
            let [a, b] = j.keys;
            let (Some(&ai), Some(&bi)) = (index.get(a.ref_table), index.get(b.ref_table)) else {
                continue;
            };
            if ai == bi {
                // Both keys point at one table: one link-only association, from the first
                // column to the second, named after the second.
                proposals.push(Proposal {
                    schema: ai,
                    order: (2, j.table.name.clone(), a.column.to_string()),
                    candidates: vec![self_join_name(b), format!("{}_{}", j.table.name, b.column)],
                    assoc: AssocDef::new("", AssocKind::ManyToMany, &schemas[ai].name)
                        .join_through(&j.table.name)
                        .join_keys((a.column, a.ref_column), (b.column, b.ref_column))
                        .write_related(false),
                });
                continue;
            }
            for (owner, oi, related, ri) in [(a, ai, b, bi), (b, bi, a, ai)] {
                proposals.push(Proposal {
                    schema: oi,
                    order: (2, j.table.name.clone(), owner.column.to_string()),
                    candidates: vec![
                        related.ref_table.to_string(),
                        format!("{}_{}", j.table.name, related.ref_table),
                    ],
                    assoc: AssocDef::new("", AssocKind::ManyToMany, &schemas[ri].name)
                        .join_through(&j.table.name)
                        .join_keys(
                            (owner.column, owner.ref_column),
                            (related.column, related.ref_column),
                        ),
                });
            }
        }
        proposals.sort_by(|a, b| (a.schema, &a.order).cmp(&(b.schema, &b.order)));
        for p in proposals {
            let s = &mut schemas[p.schema];
            let name = claim(&mut s.taken, &p.candidates);
            let assoc = AssocDef {
                name: name.clone(),
                ..p.assoc
            };
            s.assocs.insert(name, assoc);
        }
        for (si, note) in notes {
            schemas[si].notes.push(note);
        }
        Inference {
            prefix: None,
            schemas,
            embedded: Vec::new(),
            joins,
            names,
        }
    }

    /// Reads up to [`JSON_SAMPLE_ROWS`] stored values of each JSON (`map`) column: a column
    /// whose values are all arrays of objects becomes an `embeds_many` of an embedded schema
    /// with the objects' keys as fields; a column holding anything but objects stays a `map`
    /// with a note saying so. Without stored values, the column stays a `map`.
    /// Each read is bounded by `deadline`.
    async fn shape_json_columns(&mut self, db: &Db, deadline: &Deadline) -> Result<()> {
        let dialect = db.dialect();
        for si in 0..self.schemas.len() {
            let s = &self.schemas[si];
            let columns: Vec<String> = s
                .fields
                .iter()
                .filter(|f| f.ty == FieldType::Map)
                .map(|f| f.name.clone())
                .collect();
            if columns.is_empty() {
                continue;
            }
            let names: Vec<&str> = columns.iter().map(String::as_str).collect();
            let order: Vec<&str> = s.primary_key.iter().map(String::as_str).collect();
            let sql = dialect.sample_columns_sql(
                TableName {
                    prefix: self.prefix,
                    name: &s.table.name,
                },
                &names,
                &order,
                JSON_SAMPLE_ROWS,
            );
            let rows = db.fetch_json_with(&sql, &[], deadline).await?;
            for (i, column) in columns.iter().enumerate() {
                let values: Vec<serde_json::Value> = rows
                    .iter()
                    .filter_map(|row| match row.get(&format!("c{i}")) {
                        None | Some(serde_json::Value::Null) => None,
                        // JSON kept as text (SQLite, MariaDB) is parsed.
                        Some(serde_json::Value::String(text)) => Some(
                            serde_json::from_str(text)
                                .unwrap_or_else(|_| serde_json::Value::String(text.clone())),
                        ),
                        Some(v) => Some(v.clone()),
                    })
                    .collect();
                self.shape_json_column(si, column, &values);
            }
        }
        Ok(())
    }

    /// Shapes one JSON column from its stored `values` (see [`Self::shape_json_columns`]).
    fn shape_json_column(&mut self, si: usize, column: &str, values: &[serde_json::Value]) {
        use serde_json::Value as J;
        let table = self.schemas[si].table.name.clone();
        let origin = format!("{table}.{column}");
        let kinds: BTreeSet<&str> = values.iter().map(json_kind).collect();
        let elements: Option<Vec<&serde_json::Map<String, J>>> = values
            .iter()
            .map(|v| v.as_array())
            .collect::<Option<Vec<_>>>()
            .and_then(|arrays| arrays.into_iter().flatten().map(J::as_object).collect());
        let Some(objects) = elements.filter(|o| !o.is_empty()) else {
            if kinds.iter().any(|k| *k != "object") {
                let kinds: Vec<&str> = kinds.into_iter().collect();
                let note = format!(
                    "stored values are JSON {}; a `map` takes objects only",
                    kinds.join(", ")
                );
                if let Some(f) = self.schemas[si]
                    .fields
                    .iter_mut()
                    .find(|f| f.name == column)
                {
                    f.note = Some(note);
                }
            }
            return;
        };
        let mut keys: BTreeMap<&str, Vec<&J>> = BTreeMap::new();
        for object in &objects {
            for (k, v) in *object {
                keys.entry(k.as_str()).or_default().push(v);
            }
        }
        let mut fields = Vec::new();
        let mut notes = Vec::new();
        for (k, vs) in keys {
            match json_field_type(&vs) {
                Some(ty) => fields.push((k.to_string(), ty)),
                None => notes.push(format!(
                    "key `{k}` left out: its values have no one field type"
                )),
            }
        }
        if fields.is_empty() {
            return;
        }
        let base = camel(&singular(column));
        let name = claim(
            &mut self.names,
            &[base.clone(), format!("{}{base}", self.schemas[si].name)],
        );
        let s = &mut self.schemas[si];
        s.fields.retain(|f| f.name != column);
        s.assocs.insert(
            column.to_string(),
            AssocDef::new(column, AssocKind::EmbedsMany, &name),
        );
        self.embedded.push(EmbeddedSchema {
            name,
            origin,
            sampled: values.len(),
            fields,
            notes,
        });
    }
}

/// The JSON kind of a value, as the notes name it.
fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// The one field type that casts every non-null value of a key (`None` when there is none,
/// or no value): strings, integers, numbers, booleans, objects (`map`) and arrays of one
/// scalar kind (`array:<type>`).
fn json_field_type(values: &[&serde_json::Value]) -> Option<FieldType> {
    use serde_json::Value as J;
    let present: Vec<&J> = values.iter().copied().filter(|v| !v.is_null()).collect();
    let scalar = |vs: &[&J]| -> Option<FieldType> {
        let first = vs.first()?;
        let all = |f: fn(&J) -> bool| vs.iter().all(|v| f(v));
        Some(match first {
            J::String(_) if all(J::is_string) => FieldType::String,
            J::Bool(_) if all(J::is_boolean) => FieldType::Boolean,
            J::Number(_) if all(|v| v.is_i64() || v.is_u64()) => FieldType::Integer,
            J::Number(_) if all(J::is_number) => FieldType::Float,
            J::Object(_) if all(J::is_object) => FieldType::Map,
            _ => return None,
        })
    };
    if present.iter().all(|v| v.is_array()) && !present.is_empty() {
        let items: Vec<&J> = present
            .iter()
            .filter_map(|v| v.as_array())
            .flatten()
            .filter(|v| !v.is_null())
            .collect();
        return scalar(&items).map(|t| FieldType::Array(Box::new(t)));
    }
    scalar(&present)
}

impl<'c> Inferred<'c> {
    fn new(name: String, table: &'c Table) -> Inferred<'c> {
        let single_pk = table.primary_key.len() == 1;
        let mut fields = Vec::new();
        for c in table.columns.iter().filter(|c| !c.generated) {
            let in_pk = table.primary_key.contains(&c.name);
            let (ty, note) = match &c.field_type {
                Some(FieldType::Integer) if in_pk && single_pk => (FieldType::Id, None),
                Some(ty) => (ty.clone(), None),
                None => (
                    FieldType::String,
                    Some(format!(
                        "column type `{}`: no field type matches it",
                        c.column_type
                    )),
                ),
            };
            let autogenerate =
                in_pk && c.identity && matches!(ty, FieldType::Id | FieldType::Integer);
            fields.push(InferredField {
                name: c.name.clone(),
                ty,
                autogenerate,
                // SQLite lets a primary key that is not the rowid hold NULL; the key is required.
                required: (c.not_null || in_pk) && !c.has_default && !c.identity,
                note,
            });
        }
        let primary_key = table
            .primary_key
            .iter()
            .filter(|p| fields.iter().any(|f| &f.name == *p))
            .cloned()
            .collect();
        let timestamps = TIMESTAMPS
            .iter()
            .all(|ts| fields.iter().any(|f| f.name == *ts));
        if timestamps {
            // Set by the engine on every row.
            for f in fields
                .iter_mut()
                .filter(|f| TIMESTAMPS.contains(&f.name.as_str()))
            {
                f.required = false;
            }
        }
        let taken = fields.iter().map(|f| f.name.clone()).collect();
        Inferred {
            name,
            table,
            primary_key,
            timestamps,
            fields,
            assocs: BTreeMap::new(),
            taken,
            notes: Vec::new(),
        }
    }
}

/// The name of a self-referencing join table's association: its second column without a
/// trailing `_id` or `_<referenced column>`, in the plural (`followee_id` → `followees`,
/// `neighbour_cca3` → `neighbours`, `neighbour_code` → `neighbour_codes`).
fn self_join_name(key: JoinKey<'_>) -> String {
    let stem = [String::from("_id"), format!("_{}", key.ref_column)]
        .iter()
        .find_map(|suffix| key.column.strip_suffix(suffix.as_str()))
        .filter(|s| !s.is_empty())
        .unwrap_or(key.column);
    plural(stem)
}

/// The two foreign keys of a join-shaped table: exactly two writable columns besides
/// timestamps, each with its own one-column foreign key.
fn join_shape(t: &Table) -> Option<[JoinKey<'_>; 2]> {
    let keys: Vec<&str> = t
        .columns
        .iter()
        .filter(|c| !c.generated && !JOIN_TABLE_EXTRAS.contains(&c.name.as_str()))
        .map(|c| c.name.as_str())
        .collect();
    let [a, b] = keys.as_slice() else {
        return None;
    };
    let key_of = |col: &str| {
        t.foreign_keys.iter().find_map(|fk| {
            match (fk.columns.as_slice(), fk.ref_columns.as_slice()) {
                ([c], [r]) if c == col => Some(JoinKey {
                    column: c,
                    ref_table: &fk.ref_table,
                    ref_column: r,
                }),
                _ => None,
            }
        })
    };
    Some([key_of(a)?, key_of(b)?])
}

#[cfg(test)]
mod tests;
