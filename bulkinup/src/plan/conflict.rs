//! Conflict policy: what each schema's and join table's rows do when they collide with a
//! row already in the table (`on_conflict`, `conflict_target`, `replace_all_except`), turned
//! into the clause of its statements.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use super::Verb;
use crate::schema::Schema;

/// What a batch's statements do on a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OnConflict {
    /// No conflict clause: a conflicting row is a database error (insert, `raise`).
    Raise,
    /// `ON CONFLICT (target) DO NOTHING` (MySQL: an update of the key to itself).
    Nothing {
        /// The conflict target columns.
        target: Vec<String>,
    },
    /// `ON CONFLICT (target) DO UPDATE SET c = EXCLUDED.c` for each column of `set`.
    Update {
        /// The conflict target columns.
        target: Vec<String>,
        /// The columns replaced from the new row.
        set: Vec<String>,
    },
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

impl FromStr for ConflictAction {
    type Err = String;

    /// `nothing`, `replace_all`, `replace:F1,F2`, `replace_all_except:F1,F2` or `raise`; the
    /// error is the message (the caller names the option).
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || format!("unknown action `{text}`");
        let list = |fields: &str| -> Result<Vec<String>, String> {
            let items: Vec<String> = fields.split(',').map(|s| s.trim().to_string()).collect();
            if items.iter().any(String::is_empty) {
                Err(format!("`{text}` has an empty name"))
            } else {
                Ok(items)
            }
        };
        match text.split_once(':') {
            None => match text {
                "nothing" => Ok(ConflictAction::Nothing),
                "replace_all" => Ok(ConflictAction::ReplaceAll),
                "raise" => Ok(ConflictAction::Raise),
                _ => Err(bad()),
            },
            Some(("replace", fields)) => Ok(ConflictAction::Replace(list(fields)?)),
            Some(("replace_all_except", fields)) => {
                Ok(ConflictAction::ReplaceAllExcept(list(fields)?))
            }
            Some(_) => Err(bad()),
        }
    }
}

impl fmt::Display for ConflictAction {
    /// The action in the form [`ConflictAction::from_str`] reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConflictAction::Nothing => f.write_str("nothing"),
            ConflictAction::ReplaceAll => f.write_str("replace_all"),
            ConflictAction::Raise => f.write_str("raise"),
            ConflictAction::Replace(fields) => write!(f, "replace:{}", fields.join(",")),
            ConflictAction::ReplaceAllExcept(fields) => {
                write!(f, "replace_all_except:{}", fields.join(","))
            }
        }
    }
}

/// The conflict options of one call, for one verb: a plain value the planner reads.
#[derive(Debug, Clone)]
pub(crate) struct ConflictPolicy {
    pub(crate) verb: Verb,
    pub(crate) replace_all_except: Vec<String>,
    pub(crate) on_conflict: BTreeMap<String, ConflictAction>,
    pub(crate) conflict_target: BTreeMap<String, Vec<String>>,
}

impl ConflictPolicy {
    /// The conflict clause of a schema's rows, and the fields whose values identify a row
    /// for in-call de-duplication (`None`: rows are not merged).
    pub(crate) fn for_schema(&self, s: &Schema) -> (OnConflict, Option<Vec<usize>>) {
        let o = self;
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
                        && s.timestamps
                            .is_none_or(|(inserted_at, _)| inserted_at != *i)
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
    pub(crate) fn for_join(&self, table: &str, keys: &[String; 2]) -> OnConflict {
        let o = self;
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
