//! Options of a call (SPEC §4), validated against the registry before anything is written.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::changeset::Changeset;
use crate::error::{Choices, Error, Result};
use crate::item::Item;
use crate::plan::OnConflict;
use crate::schema::{Registry, Schema};
use crate::summary::Summary;

/// A skipped (invalid) item: its changeset, with the error tree, and the item as given.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The invalid changeset (see [`Changeset::errors_json`]).
    pub changeset: Changeset,
    /// The item as it was read, with its origin.
    pub item: Item,
}

/// A handler called with a slice of values once per chunk (`on_skipped`, …) or with the
/// running summary after each chunk (`on_progress`).
pub struct Handler<T: ?Sized>(pub Arc<dyn Fn(&T) + Send + Sync>);

impl<T: ?Sized> Clone for Handler<T> {
    fn clone(&self) -> Self {
        Handler(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> fmt::Debug for Handler<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Handler(..)")
    }
}

/// The two verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Existing rows are updated on conflict.
    Upsert,
    /// A row that already exists is an error.
    Insert,
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verb::Upsert => "upsert",
            Verb::Insert => "insert",
        })
    }
}

/// What a schema's or join table's rows do on a conflict (`on_conflict`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConflictAction {
    /// Keep the existing row.
    Nothing,
    /// Replace every column of the existing row.
    ReplaceAll,
    /// Replace these fields.
    Replace(Vec<String>),
    /// Replace every field except these (and the primary key).
    ReplaceAllExcept(Vec<String>),
    /// No conflict handling: a conflicting row is a database error.
    Raise,
}

/// The valid `on_conflict` actions, for messages.
pub const CONFLICT_ACTIONS: &str =
    "nothing, replace_all, replace:F1,F2, replace_all_except:F1,F2, raise";

/// The options of one call. `Options::default()` gives SPEC §4's defaults.
///
/// ```
/// use bulkinup::{ConflictAction, Options};
/// let opts = Options::default()
///     .chunk_size(500)
///     .on_conflict("Tag", ConflictAction::Nothing)
///     .replace_all_except(["inserted_at"]);
/// assert_eq!(opts.chunk_size, 500);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The changeset used for the root schema's items (default `changeset`).
    pub changeset: String,
    /// Items per chunk, and rows per statement per table (default 1000, ≥ 1).
    pub chunk_size: usize,
    /// Upsert only: fields kept on conflict, in addition to the primary key.
    pub replace_all_except: Vec<String>,
    /// Per schema or join table: the conflict action.
    pub on_conflict: BTreeMap<String, ConflictAction>,
    /// Per schema or join table: the unique columns that conflict.
    pub conflict_target: BTreeMap<String, Vec<String>>,
    /// Validate and plan, count what would be written, write nothing (no connection is
    /// used).
    pub dry_run: bool,
    /// Called once per chunk with the chunk's skipped items.
    pub on_skipped: Option<Handler<[Skipped]>>,
    /// Called after each chunk with the running summary (for progress reports).
    pub on_progress: Option<Handler<Summary>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            changeset: "changeset".into(),
            chunk_size: 1000,
            replace_all_except: Vec::new(),
            on_conflict: BTreeMap::new(),
            conflict_target: BTreeMap::new(),
            dry_run: false,
            on_skipped: None,
            on_progress: None,
        }
    }
}

impl Options {
    /// Sets the root changeset's name.
    pub fn changeset(mut self, name: impl Into<String>) -> Self {
        self.changeset = name.into();
        self
    }

    /// Sets `chunk_size`.
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.chunk_size = n;
        self
    }

    /// Sets `replace_all_except` (upsert only).
    pub fn replace_all_except<I, S>(mut self, fields: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.replace_all_except = fields.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the conflict action of a schema (by name) or join table.
    pub fn on_conflict(mut self, key: impl Into<String>, action: ConflictAction) -> Self {
        self.on_conflict.insert(key.into(), action);
        self
    }

    /// Validate and plan only: nothing is written.
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }

    /// Sets the handler called once per chunk with the chunk's skipped items.
    ///
    /// ```
    /// use bulkinup::Options;
    /// let opts = Options::default().on_skipped(|skipped| {
    ///     for s in skipped {
    ///         eprintln!("{}: {}", s.changeset.primary_key_json(), s.changeset.errors_json());
    ///     }
    /// });
    /// # let _ = opts;
    /// ```
    pub fn on_skipped<F>(mut self, f: F) -> Self
    where
        F: Fn(&[Skipped]) + Send + Sync + 'static,
    {
        self.on_skipped = Some(Handler(Arc::new(f)));
        self
    }

    /// Sets the handler called after each chunk with the running summary.
    pub fn on_progress<F>(mut self, f: F) -> Self
    where
        F: Fn(&Summary) + Send + Sync + 'static,
    {
        self.on_progress = Some(Handler(Arc::new(f)));
        self
    }

    /// Sets the conflict target of a schema (by name) or join table.
    pub fn conflict_target<I, S>(mut self, key: impl Into<String>, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.conflict_target
            .insert(key.into(), columns.into_iter().map(Into::into).collect());
        self
    }

    /// Checks every option against the registry and the verb.
    pub(crate) fn resolve(
        &self,
        registry: &Registry,
        verb: Verb,
        root: &str,
    ) -> Result<ResolvedOptions> {
        if self.chunk_size == 0 {
            return Err(Error::option(
                "chunk_size",
                "must be at least 1",
                Some("a whole number ≥ 1"),
            ));
        }
        let root_schema = registry.get(root)?;
        root_schema.resolved_changeset(&self.changeset)?;
        if verb == Verb::Insert && !self.replace_all_except.is_empty() {
            return Err(Error::option(
                "replace_all_except",
                "only applies to an upsert, not to an insert",
                None,
            ));
        }
        for f in &self.replace_all_except {
            if root_schema.field(f).is_none() && !any_schema_has(registry, f) {
                return Err(Error::option(
                    "replace_all_except",
                    format!("no schema has a field `{f}`"),
                    None,
                ));
            }
        }
        let joins = registry.join_tables();
        let keys_valid = || {
            let mut v: Vec<&str> = registry.schema_names();
            v.extend(joins.iter().copied());
            Choices(&v).to_string()
        };
        for (key, action) in &self.on_conflict {
            let fields = match action {
                ConflictAction::Replace(f) | ConflictAction::ReplaceAllExcept(f) => f.as_slice(),
                _ => &[],
            };
            check_key(registry, &joins, "on_conflict", key, fields, &keys_valid)?;
        }
        for (key, cols) in &self.conflict_target {
            if cols.is_empty() {
                return Err(Error::option(
                    "conflict_target",
                    format!("`{key}`: give at least one column"),
                    None,
                ));
            }
            check_key(registry, &joins, "conflict_target", key, &[], &keys_valid)?;
            if let Ok(s) = registry.get(key) {
                for c in cols {
                    if !s.fields.iter().any(|f| &f.column == c || &f.name == c) {
                        return Err(Error::option(
                            "conflict_target",
                            format!("schema `{key}` has no column `{c}`"),
                            None,
                        ));
                    }
                }
            }
        }
        if verb == Verb::Upsert {
            for name in registry.schema_names() {
                let s = registry.get(name)?;
                if !s.embedded
                    && s.primary_key.is_empty()
                    && !self.conflict_target.contains_key(name)
                {
                    // Only an error if the schema is reachable from the root; checked lazily
                    // would be later than "before anything is written", so check reachability.
                    if reachable(registry, root, name) {
                        return Err(Error::option(
                            "conflict_target",
                            format!(
                                "schema `{name}` has no primary key: an upsert needs a `conflict_target` for it"
                            ),
                            None,
                        ));
                    }
                }
            }
        }
        Ok(ResolvedOptions {
            verb,
            options: Arc::new(self.clone()),
        })
    }
}

fn any_schema_has(registry: &Registry, field: &str) -> bool {
    registry
        .schema_names()
        .iter()
        .filter_map(|n| registry.get(n).ok())
        .any(|s| s.field(field).is_some())
}

fn reachable(registry: &Registry, root: &str, target: &str) -> bool {
    let mut stack = vec![root.to_string()];
    let mut seen = std::collections::HashSet::new();
    while let Some(n) = stack.pop() {
        if n == target {
            return true;
        }
        if !seen.insert(n.clone()) {
            continue;
        }
        if let Ok(s) = registry.get(&n) {
            for a in &s.assocs {
                if a.related != usize::MAX {
                    stack.push(registry.at(a.related).name.clone());
                }
            }
        }
    }
    false
}

fn check_key(
    registry: &Registry,
    joins: &[&str],
    option: &str,
    key: &str,
    fields: &[String],
    valid: &dyn Fn() -> String,
) -> Result<()> {
    if let Ok(s) = registry.get(key) {
        for f in fields {
            if s.field(f).is_none() {
                return Err(Error::option(
                    option,
                    format!("schema `{key}` has no field `{f}`"),
                    None,
                ));
            }
        }
        Ok(())
    } else if joins.contains(&key) {
        Ok(())
    } else {
        Err(Error::option(
            option,
            format!("unknown schema or join table `{key}`"),
            Some(&valid()),
        ))
    }
}

/// Options checked against the registry, for one verb.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedOptions {
    pub(crate) verb: Verb,
    pub(crate) options: Arc<Options>,
}

impl ResolvedOptions {
    /// The conflict clause of a schema's rows, and the fields whose values identify a row
    /// for in-call de-duplication (`None`: rows are not merged).
    pub(crate) fn conflict_for_schema(&self, s: &Schema) -> (OnConflict, Option<Vec<usize>>) {
        let o = &self.options;
        let target_fields: Vec<usize> = match o.conflict_target.get(&s.name) {
            Some(cols) => cols
                .iter()
                .filter_map(|c| s.fields.iter().position(|f| &f.column == c || &f.name == c))
                .collect(),
            None => s.primary_key.clone(),
        };
        let target: Vec<String> = target_fields
            .iter()
            .map(|&i| s.fields[i].column.clone())
            .collect();
        let default = match self.verb {
            Verb::Upsert => ConflictAction::ReplaceAllExcept(o.replace_all_except.clone()),
            Verb::Insert => ConflictAction::Raise,
        };
        let action = o.on_conflict.get(&s.name).unwrap_or(&default);
        let column = |name: &String| s.field(name).map(|f| f.column.clone());
        let set: Vec<String> = match action {
            ConflictAction::Raise => return (OnConflict::Raise, None),
            ConflictAction::Nothing => Vec::new(),
            ConflictAction::ReplaceAll => s.fields.iter().map(|f| f.column.clone()).collect(),
            ConflictAction::Replace(fields) => fields.iter().filter_map(column).collect(),
            ConflictAction::ReplaceAllExcept(except) => s
                .fields
                .iter()
                .enumerate()
                .filter(|(i, f)| {
                    !s.primary_key.contains(i)
                        && !target_fields.contains(i)
                        && !except.contains(&f.name)
                })
                .map(|(_, f)| f.column.clone())
                .collect(),
        };
        let dedup = Some(target_fields).filter(|t| !t.is_empty());
        if target.is_empty() {
            return (OnConflict::Raise, None);
        }
        if set.is_empty() {
            (OnConflict::Nothing { target }, dedup)
        } else {
            (OnConflict::Update { target, set }, dedup)
        }
    }

    /// The conflict clause of a join table's rows.
    pub(crate) fn conflict_for_join(&self, table: &str, keys: &[String; 2]) -> OnConflict {
        let o = &self.options;
        let target = o
            .conflict_target
            .get(table)
            .cloned()
            .unwrap_or_else(|| keys.to_vec());
        let default = match self.verb {
            Verb::Upsert => ConflictAction::Nothing,
            Verb::Insert => ConflictAction::Raise,
        };
        match o.on_conflict.get(table).unwrap_or(&default) {
            ConflictAction::Raise => OnConflict::Raise,
            ConflictAction::Nothing => OnConflict::Nothing { target },
            ConflictAction::ReplaceAll | ConflictAction::ReplaceAllExcept(_) => {
                OnConflict::Update {
                    set: keys.to_vec(),
                    target,
                }
            }
            ConflictAction::Replace(cols) => OnConflict::Update {
                set: cols.clone(),
                target,
            },
        }
    }
}
