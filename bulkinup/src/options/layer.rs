//! Layers of options with their provenance: each option value with the place it was given
//! (a command-line flag, or a key of the schema file with its position), and the one
//! precedence rule (a higher layer wins, key by key for the map options) that the
//! command-line tool and [`Repo`](crate::Repo) apply: flags (or the call) > per-verb defaults
//! > shared defaults.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value as J;

pub use super::place::Place;
pub use super::value::Placeholder;
use super::value::*;
use super::{MaxSkipped, ON_ERROR_CHOICES, OnError, Options, Shard};
use crate::error::{Error, Result};
use crate::plan::{ConflictAction, Verb};
use crate::schema::{Registry, SchemaFile};

/// The option names of the schema file's `[options]` tables.
pub const OPTION_KEYS: &[&str] = &[
    "changeset",
    "chunk_size",
    "max_concurrency",
    "timeout",
    "statement_timeout",
    "connect_timeout",
    "max_item_bytes",
    "placeholders",
    "recover_changeset_errors",
    "replace_all_except",
    "on_conflict",
    "conflict_target",
    "infer_foreign_keys",
    "write_belongs_to",
    "prefix",
    "any_unique_key",
    "max_skipped",
    "on_error",
];

/// `: did you mean `x`?` when one of `valid` is close to `given` (edit distance), else
/// nothing: the one suggestion for every unknown name (option key, schema, field, table).
///
/// ```
/// use bulkinup::options::did_you_mean;
/// assert_eq!(did_you_mean("Autor", &["Author", "Post"]), ": did you mean `Author`?");
/// assert_eq!(did_you_mean("Zebra", &["Author", "Post"]), "");
/// ```
pub fn did_you_mean(given: &str, valid: &[&str]) -> String {
    valid
        .iter()
        .map(|v| (strsim::levenshtein(given, v), *v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 4))
        .min()
        .map(|(_, v)| format!(": did you mean `{v}`?"))
        .unwrap_or_default()
}

/// An option value and where it was given.
#[derive(Debug, Clone, PartialEq)]
pub struct Given<T> {
    /// The checked value.
    pub value: T,
    /// Where it came from.
    pub place: Place,
}

/// The options given at one level (flags, per-verb table or shared table), checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layer {
    /// `changeset`
    pub changeset: Option<Given<String>>,
    /// `chunk_size`
    pub chunk_size: Option<Given<usize>>,
    /// `max_concurrency`
    pub max_concurrency: Option<Given<usize>>,
    /// `timeout` (`None` inside: `infinity`, no limit)
    pub timeout: Option<Given<Option<Duration>>>,
    /// `statement_timeout` (`None` inside: `infinity`, no limit of its own)
    pub statement_timeout: Option<Given<Option<Duration>>>,
    /// `connect_timeout` (always finite)
    pub connect_timeout: Option<Given<Duration>>,
    /// `max_item_bytes`
    pub max_item_bytes: Option<Given<usize>>,
    /// `placeholders`: (schema or join table, field) → value
    pub placeholders: BTreeMap<(String, String), Given<Placeholder>>,
    /// `recover_changeset_errors`: (schema, field) → fallback
    pub recover: BTreeMap<(String, String), Given<J>>,
    /// `replace_all_except` (upsert only)
    pub replace_all_except: Option<Given<Vec<String>>>,
    /// `on_conflict`: schema or join table → action
    pub on_conflict: BTreeMap<String, Given<ConflictAction>>,
    /// `conflict_target`: schema or join table → columns
    pub conflict_target: BTreeMap<String, Given<Vec<String>>>,
    /// `infer_foreign_keys`
    pub infer_foreign_keys: Option<Given<bool>>,
    /// `write_belongs_to`
    pub write_belongs_to: Option<Given<bool>>,
    /// `prefix`
    pub prefix: Option<Given<String>>,
    /// `any_unique_key`
    pub any_unique_key: Option<Given<bool>>,
    /// `max_skipped`
    pub max_skipped: Option<Given<MaxSkipped>>,
    /// `on_error`
    pub on_error: Option<Given<OnError>>,
    /// `shard` (a flag only: the schema file is the same for every part)
    pub shard: Option<Given<Shard>>,
}

impl Layer {
    /// This layer with `higher` laid over it: each option `higher` gives wins, key by key for
    /// the map-valued ones.
    pub fn overlay(mut self, higher: Layer) -> Layer {
        fn pick<T>(low: Option<T>, high: Option<T>) -> Option<T> {
            high.or(low)
        }
        self.changeset = pick(self.changeset, higher.changeset);
        self.chunk_size = pick(self.chunk_size, higher.chunk_size);
        self.max_concurrency = pick(self.max_concurrency, higher.max_concurrency);
        self.timeout = pick(self.timeout, higher.timeout);
        self.statement_timeout = pick(self.statement_timeout, higher.statement_timeout);
        self.connect_timeout = pick(self.connect_timeout, higher.connect_timeout);
        self.max_item_bytes = pick(self.max_item_bytes, higher.max_item_bytes);
        self.placeholders.extend(higher.placeholders);
        self.recover.extend(higher.recover);
        self.replace_all_except = pick(self.replace_all_except, higher.replace_all_except);
        self.on_conflict.extend(higher.on_conflict);
        self.conflict_target.extend(higher.conflict_target);
        self.infer_foreign_keys = pick(self.infer_foreign_keys, higher.infer_foreign_keys);
        self.write_belongs_to = pick(self.write_belongs_to, higher.write_belongs_to);
        self.prefix = pick(self.prefix, higher.prefix);
        self.any_unique_key = pick(self.any_unique_key, higher.any_unique_key);
        self.max_skipped = pick(self.max_skipped, higher.max_skipped);
        self.on_error = pick(self.on_error, higher.on_error);
        self.shard = pick(self.shard, higher.shard);
        self
    }

    /// `error` from the library, naming the flag or schema-file key the option came from
    /// instead of the bare option name: for a single-valued option by its name, for a map
    /// option by the entry `at` (key, and field for the maps of fields) the check was at.
    pub fn locate(&self, error: Error, at: Option<&(String, Option<String>)>) -> Error {
        let Error::InvalidOption {
            name,
            message,
            valid,
        } = &error
        else {
            return error;
        };
        let place = match name.as_str() {
            "changeset" => self.changeset.as_ref().map(|g| &g.place),
            "chunk_size" => self.chunk_size.as_ref().map(|g| &g.place),
            "max_concurrency" => self.max_concurrency.as_ref().map(|g| &g.place),
            "timeout" => self.timeout.as_ref().map(|g| &g.place),
            "statement_timeout" => self.statement_timeout.as_ref().map(|g| &g.place),
            "connect_timeout" => self.connect_timeout.as_ref().map(|g| &g.place),
            "max_item_bytes" => self.max_item_bytes.as_ref().map(|g| &g.place),
            "replace_all_except" => self.replace_all_except.as_ref().map(|g| &g.place),
            "prefix" => self.prefix.as_ref().map(|g| &g.place),
            "max_skipped" => self.max_skipped.as_ref().map(|g| &g.place),
            "on_error" => self.on_error.as_ref().map(|g| &g.place),
            "shard" => self.shard.as_ref().map(|g| &g.place),
            "on_conflict" => at
                .and_then(|(k, _)| self.on_conflict.get(k))
                .map(|g| &g.place),
            "conflict_target" => at
                .and_then(|(k, _)| self.conflict_target.get(k))
                .map(|g| &g.place),
            "placeholders" => at
                .and_then(|(k, f)| self.placeholders.get(&(k.clone(), f.clone()?)))
                .map(|g| &g.place),
            "recover_changeset_errors" => at
                .and_then(|(k, f)| self.recover.get(&(k.clone(), f.clone()?)))
                .map(|g| &g.place),
            _ => None,
        };
        match place {
            Some(place) => place.error(message, valid.as_deref()),
            None => error,
        }
    }

    /// The library [`Options`] of this (merged) layer: the one place where each option meets
    /// its `Options` field. `now` is the call's start time, the value of `now()`
    /// placeholders.
    ///
    /// # Errors
    /// None at present; an option the library does not support would be refused here rather
    /// than ignored.
    pub fn to_options(&self, dry_run: bool, now: DateTime<Utc>) -> Result<Options> {
        let mut o = Options::default();
        if let Some(g) = &self.changeset {
            o.changeset = g.value.clone();
        }
        if let Some(g) = &self.chunk_size {
            o.chunk_size = g.value;
        }
        if let Some(g) = &self.max_concurrency {
            o.max_concurrency = Some(g.value);
        }
        if let Some(g) = &self.timeout {
            o.timeout = g.value;
        }
        if let Some(g) = &self.statement_timeout {
            o.statement_timeout = g.value;
        }
        if let Some(g) = &self.connect_timeout {
            o.connect_timeout = g.value;
        }
        if let Some(g) = &self.max_item_bytes {
            o.max_item_bytes = g.value;
        }
        // One clock reading per call: `now()` placeholders, association defaults, timestamps.
        o.now = Some(now);
        let now = J::String(now.to_rfc3339_opts(SecondsFormat::Micros, true));
        for ((key, field), g) in &self.placeholders {
            let value = match &g.value {
                Placeholder::Value(v) => v.clone(),
                Placeholder::Now => now.clone(),
            };
            o.placeholders
                .entry(key.clone())
                .or_default()
                .insert(field.clone(), value);
        }
        for ((schema, field), g) in &self.recover {
            o.recover_changeset_errors
                .entry(schema.clone())
                .or_default()
                .insert(field.clone(), g.value.clone());
        }
        if let Some(g) = &self.replace_all_except {
            o.replace_all_except = g.value.clone();
        }
        for (key, g) in &self.on_conflict {
            o.on_conflict.insert(key.clone(), g.value.clone());
        }
        for (key, g) in &self.conflict_target {
            o.conflict_target.insert(key.clone(), g.value.clone());
        }
        if let Some(g) = &self.infer_foreign_keys {
            o.infer_foreign_keys = g.value;
        }
        if let Some(g) = &self.write_belongs_to {
            o.write_belongs_to = g.value;
        }
        if let Some(g) = &self.prefix {
            o.prefix = Some(g.value.clone());
        }
        if let Some(g) = &self.any_unique_key {
            o.any_unique_key = g.value;
        }
        if let Some(g) = &self.max_skipped {
            o.max_skipped = Some(g.value);
        }
        if let Some(g) = &self.on_error {
            o.on_error = g.value;
        }
        if let Some(g) = &self.shard {
            o.shard = Some(g.value);
        }
        o.dry_run = dry_run;
        Ok(o)
    }
}

/// Resolving layers: the merged options, checked against the registry.
impl Layer {
    /// The library [`Options`] of this (merged) layer, checked against the registry, the root
    /// schema and the verb as a call does, with every error named by the flag or file key
    /// (and position) the offending value came from. `now` is the call's clock reading.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] or [`Error::Schema`], naming the place and the valid choices.
    pub fn resolve(
        &self,
        registry: &Registry,
        verb: Verb,
        root: &str,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> Result<Options> {
        let options = self.to_options(dry_run, now)?;
        let at = std::cell::RefCell::new(None);
        options
            .resolve_at(registry, verb, root, &at)
            .map_err(|e| self.locate(e, at.borrow().as_ref()))?;
        Ok(options)
    }
}

// ---------------------------------------------------------------------------------------
// The flags.

/// The option flags of a command line, as the user typed them: each value is text, parsed
/// and checked by [`Layer::from_flags`]. The command-line tool fills it from its argument
/// parser; each field documents its flag.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Flags {
    /// `--changeset NAME`
    pub changeset: Option<String>,
    /// `--chunk-size N`
    pub chunk_size: Option<String>,
    /// `--max-concurrency N`
    pub max_concurrency: Option<String>,
    /// `--timeout SECONDS|infinity`
    pub timeout: Option<String>,
    /// `--statement-timeout SECONDS|infinity`
    pub statement_timeout: Option<String>,
    /// `--connect-timeout SECONDS`
    pub connect_timeout: Option<String>,
    /// `--max-item-bytes N` (bytes, or with a unit: `64MiB`)
    pub max_item_bytes: Option<String>,
    /// `--placeholder KEY.FIELD=JSON|now()`, repeatable
    pub placeholders: Vec<String>,
    /// `--recover SCHEMA.FIELD=JSON`, repeatable
    pub recover: Vec<String>,
    /// `--replace-all-except F1,F2`
    pub replace_all_except: Option<String>,
    /// `--on-conflict KEY=ACTION`, repeatable
    pub on_conflict: Vec<String>,
    /// `--conflict-target KEY=C1,C2`, repeatable
    pub conflict_target: Vec<String>,
    /// `--infer-foreign-keys`
    pub infer_foreign_keys: bool,
    /// `--write-belongs-to`
    pub write_belongs_to: bool,
    /// `--prefix NAME`
    pub prefix: Option<String>,
    /// `--any-unique-key`
    pub any_unique_key: bool,
    /// `--max-skipped N|N%`
    pub max_skipped: Option<String>,
    /// `--on-error rollback|reject`
    pub on_error: Option<String>,
    /// `--shard K/N`
    pub shard: Option<String>,
}

impl Layer {
    /// The command-line tool's own defaults, where they differ from the library's: the
    /// lowest layer, under the schema file's `[options]` and the flags. Two options:
    /// - `timeout`: none (`infinity`), where the library has 15 s
    ///   ([`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT)): a bulk load from the command line
    ///   takes as long as its input, as `psql \copy` or `mysqlimport` do;
    /// - `statement_timeout`: 60 s ([`CLI_DEFAULT_STATEMENT_TIMEOUT`](super::CLI_DEFAULT_STATEMENT_TIMEOUT)),
    ///   where the library has none of its own, so that no wait of a run with default flags
    ///   is unbounded.
    ///
    /// ```
    /// use std::time::Duration;
    /// use bulkinup::options::Layer;
    ///
    /// let defaults = Layer::command_line_defaults();
    /// assert_eq!(defaults.timeout.map(|g| g.value), Some(None));
    /// assert_eq!(
    ///     defaults.statement_timeout.map(|g| g.value),
    ///     Some(Some(Duration::from_secs(60)))
    /// );
    /// ```
    pub fn command_line_defaults() -> Layer {
        Layer {
            timeout: Some(Given {
                value: None,
                place: Place::flag("--timeout"),
            }),
            statement_timeout: Some(Given {
                value: Some(super::CLI_DEFAULT_STATEMENT_TIMEOUT),
                place: Place::flag("--statement-timeout"),
            }),
            ..Layer::default()
        }
    }

    /// The layer of the command-line flags, each value parsed in its text form. Whether the
    /// values fit the schemas is checked when the layers are resolved ([`Layer::resolve`]).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] named by the flag, with the valid forms.
    pub fn from_flags(args: &Flags, verb: Verb) -> Result<Layer> {
        let mut layer = Layer::default();
        let given = |name: &str| Place::flag(name);
        if let Some(name) = &args.changeset {
            layer.changeset = Some(Given {
                value: name.clone(),
                place: given("--changeset"),
            });
        }
        if let Some(text) = &args.chunk_size {
            let place = given("--chunk-size");
            layer.chunk_size = Some(Given {
                value: parse_positive(&place, text)?,
                place,
            });
        }
        if let Some(text) = &args.max_concurrency {
            let place = given("--max-concurrency");
            layer.max_concurrency = Some(Given {
                value: parse_positive(&place, text)?,
                place,
            });
        }
        if let Some(text) = &args.timeout {
            let place = given("--timeout");
            layer.timeout = Some(Given {
                value: parse_seconds(&place, text)?,
                place,
            });
        }
        if let Some(text) = &args.statement_timeout {
            let place = given("--statement-timeout");
            layer.statement_timeout = Some(Given {
                value: parse_seconds(&place, text)?,
                place,
            });
        }
        if let Some(text) = &args.connect_timeout {
            let place = given("--connect-timeout");
            layer.connect_timeout = Some(Given {
                value: parse_finite_seconds(&place, text)?,
                place,
            });
        }
        if let Some(text) = &args.max_item_bytes {
            let place = given("--max-item-bytes");
            layer.max_item_bytes = Some(Given {
                value: parse_bytes(&place, text)?,
                place,
            });
        }
        for text in &args.placeholders {
            let place = given("--placeholder");
            let form = "KEY.FIELD=JSON";
            let (target, value) = split_assignment(&place, text, form)?;
            let (key, field) = split_key_field(&place, target, form)?;
            let value = parse_placeholder(&place, value)?;
            layer
                .placeholders
                .insert((key.into(), field.into()), Given { value, place });
        }
        for text in &args.recover {
            let place = given("--recover");
            let form = "SCHEMA.FIELD=JSON";
            let (target, value) = split_assignment(&place, text, form)?;
            let (schema, field) = split_key_field(&place, target, form)?;
            let value = parse_json(&place, value)?;
            layer
                .recover
                .insert((schema.into(), field.into()), Given { value, place });
        }
        if let Some(text) = &args.replace_all_except {
            let place = given("--replace-all-except");
            if verb == Verb::Insert {
                return Err(place.error("only applies to an upsert, not to an insert", None));
            }
            layer.replace_all_except = Some(Given {
                value: parse_list(&place, text)?,
                place,
            });
        }
        for text in &args.on_conflict {
            let place = given("--on-conflict");
            let (key, action) = split_assignment(&place, text, "KEY=ACTION")?;
            let action = parse_action(&place, action)?;
            layer.on_conflict.insert(
                key.into(),
                Given {
                    value: action,
                    place,
                },
            );
        }
        for text in &args.conflict_target {
            let place = given("--conflict-target");
            let (key, cols) = split_assignment(&place, text, "KEY=C1,C2")?;
            let value = parse_list(&place, cols)?;
            layer
                .conflict_target
                .insert(key.into(), Given { value, place });
        }
        if args.infer_foreign_keys {
            layer.infer_foreign_keys = Some(Given {
                value: true,
                place: given("--infer-foreign-keys"),
            });
        }
        if args.write_belongs_to {
            layer.write_belongs_to = Some(Given {
                value: true,
                place: given("--write-belongs-to"),
            });
        }
        if let Some(prefix) = &args.prefix {
            layer.prefix = Some(Given {
                value: prefix.clone(),
                place: given("--prefix"),
            });
        }
        if args.any_unique_key {
            layer.any_unique_key = Some(Given {
                value: true,
                place: given("--any-unique-key"),
            });
        }
        if let Some(text) = &args.max_skipped {
            let place = given("--max-skipped");
            layer.max_skipped = Some(Given {
                value: parse_max_skipped(&place, text)?,
                place,
            });
        }
        if let Some(text) = &args.on_error {
            let place = given("--on-error");
            layer.on_error = Some(Given {
                value: parse_on_error(&place, text)?,
                place,
            });
        }
        if let Some(text) = &args.shard {
            let place = given("--shard");
            layer.shard = Some(Given {
                value: parse_shard(&place, text)?,
                place,
            });
        }
        Ok(layer)
    }
}

/// `rollback` or `reject` (`on_error`).
fn parse_on_error(place: &Place, text: &str) -> Result<OnError> {
    text.parse()
        .map_err(|m: String| place.error(m, Some(ON_ERROR_CHOICES)))
}

// ---------------------------------------------------------------------------------------
// The schema file's `[options]`.

/// The shared layer (`[options]`) and the layer of `verb` (`[options.upsert]` or
/// `[options.insert]`). Both per-verb tables are checked whatever the verb.
/// The layers of a loaded schema file's `[options]` tables for `verb`: (shared, per-verb),
/// each value named in errors by its key path and `FILE:LINE:COLUMN`. `file` names the file
/// in messages.
///
/// # Errors
/// As [`file_layers`].
pub fn schema_file_layers(
    schema_file: &SchemaFile,
    file: &str,
    verb: Verb,
) -> Result<(Layer, Layer)> {
    match &schema_file.options {
        Some(table) => file_layers(table, file, &schema_file.option_locations, verb),
        None => Ok((Layer::default(), Layer::default())),
    }
}

/// The layers of a schema file's `[options]` table for `verb`: (shared `[options]`,
/// `[options.VERB]`). `locations` gives each key path's `FILE:LINE:COLUMN`.
///
/// # Errors
/// [`Error::InvalidOption`] named by the key path with its position: an unknown key (with
/// the closest valid one), a value of the wrong type or form, `replace_all_except` under
/// `[options.insert]`.
pub fn file_layers(
    table: &toml::Table,
    file: &str,
    locations: &BTreeMap<String, String>,
    verb: Verb,
) -> Result<(Layer, Layer)> {
    let locations = Arc::new(locations.clone());
    let at = |path: &str| Place::key_in(file, path, &locations);
    let mut shared = toml::Table::new();
    let mut upsert = None;
    let mut insert = None;
    for (key, value) in table {
        let place = at(&format!("options.{key}"));
        match (key.as_str(), value) {
            ("upsert", toml::Value::Table(t)) => upsert = Some(t),
            ("insert", toml::Value::Table(t)) => insert = Some(t),
            ("upsert" | "insert", _) => {
                return Err(place.error(
                    format!("expected a table of options, like `[options.{key}]`"),
                    None,
                ));
            }
            _ => {
                shared.insert(key.clone(), value.clone());
            }
        }
    }
    let mut shared_layer = table_layer(&shared, &at, "options", &["upsert", "insert"])?;
    let upsert_layer = match upsert {
        Some(t) => table_layer(t, &at, "options.upsert", &[])?,
        None => Layer::default(),
    };
    let insert_layer = match insert {
        Some(t) => table_layer(t, &at, "options.insert", &[])?,
        None => Layer::default(),
    };
    if let Some(g) = &insert_layer.replace_all_except {
        return Err(g.place.error(
            "only applies to an upsert, not to an insert: move it to `[options.upsert]` or `[options]`",
            None,
        ));
    }
    Ok(match verb {
        Verb::Upsert => (shared_layer, upsert_layer),
        Verb::Insert => {
            // An upsert-only shared default applies to upserts only.
            shared_layer.replace_all_except = None;
            (shared_layer, insert_layer)
        }
    })
}

/// The layer of one options table at `path` (`options`, `options.upsert`, …).
fn table_layer(
    table: &toml::Table,
    at: &dyn Fn(&str) -> Place,
    path: &str,
    subtables: &[&str],
) -> Result<Layer> {
    let mut layer = Layer::default();
    for (key, value) in table {
        let place = at(&format!("{path}.{key}"));
        match key.as_str() {
            "changeset" => {
                layer.changeset = Some(Given {
                    value: toml_str(&place, value)?.to_string(),
                    place,
                });
            }
            "chunk_size" => {
                layer.chunk_size = Some(Given {
                    value: toml_positive(&place, value)?,
                    place,
                });
            }
            "max_concurrency" => {
                layer.max_concurrency = Some(Given {
                    value: toml_positive(&place, value)?,
                    place,
                });
            }
            "timeout" => {
                layer.timeout = Some(Given {
                    value: toml_seconds(&place, value)?,
                    place,
                });
            }
            "statement_timeout" => {
                layer.statement_timeout = Some(Given {
                    value: toml_seconds(&place, value)?,
                    place,
                });
            }
            "connect_timeout" => {
                layer.connect_timeout = Some(Given {
                    value: toml_finite_seconds(&place, value)?,
                    place,
                });
            }
            "max_item_bytes" => {
                layer.max_item_bytes = Some(Given {
                    value: toml_bytes(&place, value)?,
                    place,
                });
            }
            "placeholders" => {
                for (k, field, v, place) in toml_nested(&place, value)? {
                    let value = match v {
                        toml::Value::String(s) if s.trim() == "now()" => Placeholder::Now,
                        other => Placeholder::Value(toml_to_json(&place, other)?),
                    };
                    layer
                        .placeholders
                        .insert((k, field), Given { value, place });
                }
            }
            "recover_changeset_errors" => {
                for (schema, field, v, place) in toml_nested(&place, value)? {
                    let value = toml_to_json(&place, v)?;
                    layer
                        .recover
                        .insert((schema, field), Given { value, place });
                }
            }
            "replace_all_except" => {
                layer.replace_all_except = Some(Given {
                    value: toml_list(&place, value)?,
                    place,
                });
            }
            "on_conflict" => {
                for (k, v) in toml_table(&place, value)? {
                    let place = place.child(k);
                    let action = parse_action(&place, toml_str(&place, v)?)?;
                    layer.on_conflict.insert(
                        k.clone(),
                        Given {
                            value: action,
                            place,
                        },
                    );
                }
            }
            "conflict_target" => {
                for (k, v) in toml_table(&place, value)? {
                    let place = place.child(k);
                    let value = toml_list(&place, v)?;
                    layer
                        .conflict_target
                        .insert(k.clone(), Given { value, place });
                }
            }
            "infer_foreign_keys" => {
                layer.infer_foreign_keys = Some(Given {
                    value: toml_bool(&place, value)?,
                    place,
                });
            }
            "write_belongs_to" => {
                layer.write_belongs_to = Some(Given {
                    value: toml_bool(&place, value)?,
                    place,
                });
            }
            "prefix" => {
                layer.prefix = Some(Given {
                    value: toml_str(&place, value)?.to_string(),
                    place,
                });
            }
            "any_unique_key" => {
                layer.any_unique_key = Some(Given {
                    value: toml_bool(&place, value)?,
                    place,
                });
            }
            "max_skipped" => {
                layer.max_skipped = Some(Given {
                    value: toml_max_skipped(&place, value)?,
                    place,
                });
            }
            "on_error" => {
                layer.on_error = Some(Given {
                    value: parse_on_error(&place, toml_str(&place, value)?)?,
                    place,
                });
            }
            _ => {
                let mut valid: Vec<&str> = OPTION_KEYS.to_vec();
                valid.extend(subtables);
                return Err(place.error(
                    format!("unknown key in `[{path}]`{}", did_you_mean(key, &valid)),
                    Some(&valid.join(", ")),
                ));
            }
        }
    }
    Ok(layer)
}
