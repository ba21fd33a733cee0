//! Stage two of the command line: every option value — from the flags, the schema file's
//! `[options.upsert]`/`[options.insert]` and its `[options]` — is checked and turned into the
//! library's [`Options`] before anything connects to a database. Every error here is an
//! [`Error::InvalidOption`] or [`Error::Schema`] (exit status 2) that names the flag or the
//! key of the schema file, and the valid choices.
//!
//! Precedence is flags > per-verb table > shared table. For the options that are maps
//! (`on_conflict`, `conflict_target`, `placeholders`, `recover_changeset_errors`) the
//! precedence applies per key: `--on-conflict Post=raise` replaces the file's action for
//! `Post` and keeps the file's action for `Tag`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use bulkinup::{CONFLICT_ACTIONS, ConflictAction, DbKind, Error, Options, Registry, Result, Verb};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value as J;

use crate::args::WriteArgs;
use crate::input::Source;

/// The option names of the schema file's `[options]` tables (SPEC §4 in snake_case).
pub const OPTION_KEYS: &[&str] = &[
    "changeset",
    "chunk_size",
    "max_concurrency",
    "timeout",
    "placeholders",
    "recover_changeset_errors",
    "replace_all_except",
    "on_conflict",
    "conflict_target",
    "infer_foreign_keys",
    "write_belongs_to",
    "prefix",
];

/// The database `url` names, checked by the library; its error names `--database-url`.
///
/// # Errors
/// [`Error::InvalidOption`] for a scheme of no supported database.
pub fn database_kind(url: &str) -> Result<DbKind> {
    DbKind::from_url(url).map_err(|e| match e {
        Error::InvalidOption { message, valid, .. } => {
            Place::flag("--database-url").error(message, valid.as_deref())
        }
        other => other,
    })
}

/// Where an option value came from: a flag, or a key of the schema file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// `--chunk-size`, or the key path `options.upsert.chunk_size`.
    name: String,
    /// The schema file, for a key of it.
    file: Option<String>,
}

impl Place {
    /// A command-line flag.
    fn flag(name: &str) -> Place {
        Place {
            name: name.to_string(),
            file: None,
        }
    }

    /// A key (path) of the schema file.
    fn key(file: &str, path: &str) -> Place {
        Place {
            name: path.to_string(),
            file: Some(file.to_string()),
        }
    }

    /// The place of `key` inside this one (a sub-key of a file table; a flag stays itself).
    fn child(&self, key: &str) -> Place {
        match &self.file {
            Some(_) => Place {
                name: format!("{}.{key}", self.name),
                file: self.file.clone(),
            },
            None => self.clone(),
        }
    }

    /// An option error at this place.
    fn error(&self, message: impl fmt::Display, valid: Option<&str>) -> Error {
        let message = match &self.file {
            Some(file) => format!("{message} (in the schema file `{file}`)"),
            None => message.to_string(),
        };
        Error::option(&self.name, message, valid)
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "`{}` in `{file}`", self.name),
            None => write!(f, "`{}`", self.name),
        }
    }
}

/// An option value and where it was given.
#[derive(Debug, Clone, PartialEq)]
pub struct Given<T> {
    /// The checked value.
    pub value: T,
    /// Where it came from.
    pub place: Place,
}

/// The value of a placeholder: JSON, or `now()` (the call's start time).
#[derive(Debug, Clone, PartialEq)]
pub enum Placeholder {
    /// A JSON value, cast like any input value.
    Value(J),
    /// The call's start time (UTC).
    Now,
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
        self.placeholders.extend(higher.placeholders);
        self.recover.extend(higher.recover);
        self.replace_all_except = pick(self.replace_all_except, higher.replace_all_except);
        self.on_conflict.extend(higher.on_conflict);
        self.conflict_target.extend(higher.conflict_target);
        self.infer_foreign_keys = pick(self.infer_foreign_keys, higher.infer_foreign_keys);
        self.write_belongs_to = pick(self.write_belongs_to, higher.write_belongs_to);
        self.prefix = pick(self.prefix, higher.prefix);
        self
    }

    /// `error` from the library, naming the flag or schema-file key the option came from
    /// instead of the bare option name, when it is a single-valued option.
    pub fn locate(&self, error: Error) -> Error {
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
            "replace_all_except" => self.replace_all_except.as_ref().map(|g| &g.place),
            "prefix" => self.prefix.as_ref().map(|g| &g.place),
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
        o.dry_run = dry_run;
        Ok(o)
    }
}

/// Everything one `upsert`/`insert` run needs, checked.
#[derive(Debug)]
pub struct Settings {
    /// The verb.
    pub verb: Verb,
    /// The schemas of the schema file.
    pub registry: Registry,
    /// The root schema.
    pub root: String,
    /// The database URL.
    pub database_url: String,
    /// The library options (without handlers; the runner adds them).
    pub options: Options,
    /// The inputs, in order.
    pub inputs: Vec<Source>,
    /// The rejects file.
    pub rejects: Option<PathBuf>,
    /// `--dry-run`
    pub dry_run: bool,
    /// `--quiet`
    pub quiet: bool,
    /// `--verbose`
    pub verbose: bool,
    /// Where each option came from, to name it in the library's errors.
    pub given: Layer,
}

impl Settings {
    /// Checks the arguments of `upsert`/`insert`, the schema file and its options, and the
    /// inputs; then lets the library check the options against the schemas — without
    /// connecting to the database.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] or [`Error::Schema`] (exit status 2).
    pub async fn from_args(verb: Verb, args: WriteArgs) -> Result<Settings> {
        database_kind(&args.db.database_url)?;
        let schema_path = args.schema.display().to_string();
        let file = Registry::from_file(&args.schema).map_err(|e| match e {
            Error::Io { source, .. } => Error::Schema {
                schema: None,
                key: None,
                location: Some(schema_path.clone()),
                message: format!("cannot read the schema file (--schema): {source}"),
            },
            other => other,
        })?;
        let registry = file.registry;
        registry.get(&args.root).map_err(|e| match e {
            Error::Schema { message, .. } => {
                Error::option("--root", message, Some(&registry.schema_names().join(", ")))
            }
            other => other,
        })?;
        let ctx = Ctx {
            registry: &registry,
            joins: registry.join_tables(),
        };
        let (shared, per_verb) = match &file.options {
            Some(table) => file_layers(&ctx, table, &schema_path, verb)?,
            None => (Layer::default(), Layer::default()),
        };
        let flags = flag_layer(&ctx, &args, verb)?;
        let merged = shared.overlay(per_verb).overlay(flags);
        let options = merged.to_options(args.dry_run, Utc::now())?;
        check_with_library(&registry, &args.root, verb, &options).map_err(|e| merged.locate(e))?;
        let inputs = Source::from_args(&args.inputs)?;
        Ok(Settings {
            verb,
            registry,
            root: args.root,
            database_url: args.db.database_url,
            options,
            inputs,
            rejects: args.rejects,
            dry_run: args.dry_run,
            quiet: args.quiet,
            verbose: args.verbose,
            given: merged,
        })
    }
}

/// Lets the library check `options` against the registry, the root and the verb, without
/// the target database.
fn check_with_library(
    registry: &Registry,
    root: &str,
    verb: Verb,
    options: &Options,
) -> Result<()> {
    options.validate(registry, verb, root)
}

/// The registry, for checking the schema and join-table names options refer to.
struct Ctx<'a> {
    registry: &'a Registry,
    joins: Vec<&'a str>,
}

impl Ctx<'_> {
    /// Checks that `key` names a schema (or a join table, when `join_ok`).
    fn check_key(&self, place: &Place, key: &str, join_ok: bool) -> Result<()> {
        if self.registry.get(key).is_ok() || (join_ok && self.joins.contains(&key)) {
            return Ok(());
        }
        let mut valid: Vec<&str> = self.registry.schema_names();
        if join_ok {
            valid.extend(self.joins.iter().copied());
        }
        let what = if join_ok {
            "schema or join table"
        } else {
            "schema"
        };
        Err(place.error(format!("unknown {what} `{key}`"), Some(&valid.join(", "))))
    }

    /// Checks that each of `fields` is a field of the schema `key` (join tables: unchecked).
    fn check_fields(&self, place: &Place, key: &str, fields: &[String]) -> Result<()> {
        let Ok(schema) = self.registry.get(key) else {
            return Ok(());
        };
        for f in fields {
            if schema.field(f).is_none() {
                let valid: Vec<&str> = schema.fields().iter().map(|f| f.name()).collect();
                return Err(place.error(
                    format!("schema `{key}` has no field `{f}`"),
                    Some(&valid.join(", ")),
                ));
            }
        }
        Ok(())
    }

    /// Checks a `recover_changeset_errors` entry: a field, never an association or embed.
    fn check_recover(&self, place: &Place, schema: &str, field: &str) -> Result<()> {
        self.check_key(place, schema, false)?;
        if let Ok(s) = self.registry.get(schema)
            && s.associations().iter().any(|a| a.name() == field)
        {
            return Err(place.error(
                format!(
                    "`{schema}.{field}` is an association or embed: errors on it are never recoverable"
                ),
                None,
            ));
        }
        self.check_fields(place, schema, &[field.to_string()])
    }

    /// Checks an `on_conflict` entry.
    fn check_conflict(&self, place: &Place, key: &str, action: &ConflictAction) -> Result<()> {
        self.check_key(place, key, true)?;
        match action {
            ConflictAction::Replace(f) | ConflictAction::ReplaceAllExcept(f) => {
                self.check_fields(place, key, f)
            }
            _ => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Value forms shared by the flags and the schema file.

/// A whole number ≥ 1.
fn parse_positive(place: &Place, text: &str) -> Result<usize> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        Ok(_) => Err(place.error("must be at least 1", Some("a whole number ≥ 1"))),
        Err(_) => Err(place.error(
            format!("`{text}` is not a whole number"),
            Some("a whole number ≥ 1"),
        )),
    }
}

/// The valid values of `timeout`, for messages.
const TIMEOUT_VALUES: &str = "a number of seconds > 0, e.g. 15 or 2.5, or `infinity` for no limit";

/// A timeout: a number of seconds > 0, or `infinity` (no limit, `None`).
fn parse_seconds(place: &Place, text: &str) -> Result<Option<Duration>> {
    let text = text.trim();
    if text == "infinity" {
        return Ok(None);
    }
    match text.parse::<f64>().map(Duration::try_from_secs_f64) {
        Ok(Ok(limit)) if !limit.is_zero() => Ok(Some(limit)),
        _ => Err(place.error(
            format!("`{text}` is not a positive number of seconds"),
            Some(TIMEOUT_VALUES),
        )),
    }
}

/// `F1,F2` → `["F1", "F2"]`; no empty names.
fn parse_list(place: &Place, text: &str) -> Result<Vec<String>> {
    let items: Vec<String> = text.split(',').map(|s| s.trim().to_string()).collect();
    if items.iter().any(String::is_empty) {
        return Err(place.error(
            format!("`{text}` has an empty name"),
            Some("a comma-separated list of names, e.g. F1,F2"),
        ));
    }
    Ok(items)
}

/// An `on_conflict` action: `nothing`, `replace_all`, `replace:F1,F2`,
/// `replace_all_except:F1,F2` or `raise`.
pub fn parse_action(place: &Place, text: &str) -> Result<ConflictAction> {
    let text = text.trim();
    let bad = || place.error(format!("unknown action `{text}`"), Some(CONFLICT_ACTIONS));
    match text.split_once(':') {
        None => match text {
            "nothing" => Ok(ConflictAction::Nothing),
            "replace_all" => Ok(ConflictAction::ReplaceAll),
            "raise" => Ok(ConflictAction::Raise),
            _ => Err(bad()),
        },
        Some(("replace", fields)) => Ok(ConflictAction::Replace(parse_list(place, fields)?)),
        Some(("replace_all_except", fields)) => {
            Ok(ConflictAction::ReplaceAllExcept(parse_list(place, fields)?))
        }
        Some(_) => Err(bad()),
    }
}

/// `KEY=VALUE` → (`KEY`, `VALUE`), split at the first `=`.
fn split_assignment<'t>(place: &Place, text: &'t str, form: &str) -> Result<(&'t str, &'t str)> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim(), v)),
        _ => Err(place.error(format!("`{text}` is not of the form {form}"), Some(form))),
    }
}

/// `KEY.FIELD` → (`KEY`, `FIELD`), split at the last `.`.
fn split_key_field<'t>(place: &Place, text: &'t str, form: &str) -> Result<(&'t str, &'t str)> {
    match text.rsplit_once('.') {
        Some((k, f)) if !k.is_empty() && !f.is_empty() => Ok((k, f)),
        _ => Err(place.error(format!("`{text}` is not of the form {form}"), Some(form))),
    }
}

/// A JSON value given on the command line.
fn parse_json(place: &Place, text: &str) -> Result<J> {
    serde_json::from_str(text.trim()).map_err(|e| {
        place.error(
            format!("`{text}` is not a JSON value ({e})"),
            Some("a JSON value: a string needs its quotes, e.g. '\"Anonymous\"'"),
        )
    })
}

/// A placeholder value given on the command line: `now()` or JSON.
fn parse_placeholder(place: &Place, text: &str) -> Result<Placeholder> {
    if text.trim() == "now()" {
        Ok(Placeholder::Now)
    } else {
        parse_json(place, text).map(Placeholder::Value)
    }
}

// ---------------------------------------------------------------------------------------
// The flags.

/// The layer of the command-line flags.
fn flag_layer(ctx: &Ctx<'_>, args: &WriteArgs, verb: Verb) -> Result<Layer> {
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
    for text in &args.placeholders {
        let place = given("--placeholder");
        let form = "KEY.FIELD=JSON";
        let (target, value) = split_assignment(&place, text, form)?;
        let (key, field) = split_key_field(&place, target, form)?;
        ctx.check_key(&place, key, true)?;
        ctx.check_fields(&place, key, &[field.to_string()])?;
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
        ctx.check_recover(&place, schema, field)?;
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
        ctx.check_conflict(&place, key, &action)?;
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
        ctx.check_key(&place, key, true)?;
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
    Ok(layer)
}

// ---------------------------------------------------------------------------------------
// The schema file's `[options]`.

/// The shared layer (`[options]`) and the layer of `verb` (`[options.upsert]` or
/// `[options.insert]`). Both per-verb tables are checked whatever the verb.
fn file_layers(
    ctx: &Ctx<'_>,
    table: &toml::Table,
    file: &str,
    verb: Verb,
) -> Result<(Layer, Layer)> {
    let mut shared = toml::Table::new();
    let mut upsert = None;
    let mut insert = None;
    for (key, value) in table {
        let place = Place::key(file, &format!("options.{key}"));
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
    let mut shared_layer = table_layer(ctx, &shared, file, "options", &["upsert", "insert"])?;
    let upsert_layer = match upsert {
        Some(t) => table_layer(ctx, t, file, "options.upsert", &[])?,
        None => Layer::default(),
    };
    let insert_layer = match insert {
        Some(t) => table_layer(ctx, t, file, "options.insert", &[])?,
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
    ctx: &Ctx<'_>,
    table: &toml::Table,
    file: &str,
    path: &str,
    subtables: &[&str],
) -> Result<Layer> {
    let mut layer = Layer::default();
    for (key, value) in table {
        let place = Place::key(file, &format!("{path}.{key}"));
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
                let limit = match value {
                    toml::Value::Integer(n) => parse_seconds(&place, &n.to_string())?,
                    toml::Value::Float(f) => parse_seconds(&place, &f.to_string())?,
                    toml::Value::String(s) if s == "infinity" => None,
                    other => return Err(type_error(&place, TIMEOUT_VALUES, other)),
                };
                layer.timeout = Some(Given {
                    value: limit,
                    place,
                });
            }
            "placeholders" => {
                for (k, field, v, place) in toml_nested(&place, value)? {
                    ctx.check_key(&place, &k, true)?;
                    ctx.check_fields(&place, &k, std::slice::from_ref(&field))?;
                    let value = match v {
                        toml::Value::String(s) if s.trim() == "now()" => Placeholder::Now,
                        other => Placeholder::Value(toml_to_json(other)),
                    };
                    layer
                        .placeholders
                        .insert((k, field), Given { value, place });
                }
            }
            "recover_changeset_errors" => {
                for (schema, field, v, place) in toml_nested(&place, value)? {
                    ctx.check_recover(&place, &schema, &field)?;
                    let value = toml_to_json(v);
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
                    ctx.check_conflict(&place, k, &action)?;
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
                    ctx.check_key(&place, k, true)?;
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
            _ => {
                let mut valid: Vec<&str> = OPTION_KEYS.to_vec();
                valid.extend(subtables);
                return Err(place.error(
                    format!("unknown key in `[{path}]`"),
                    Some(&valid.join(", ")),
                ));
            }
        }
    }
    Ok(layer)
}

fn type_error(place: &Place, expected: &str, value: &toml::Value) -> Error {
    place.error(
        format!("expected {expected}, got {} `{value}`", value.type_str()),
        None,
    )
}

fn toml_str<'v>(place: &Place, value: &'v toml::Value) -> Result<&'v str> {
    value
        .as_str()
        .ok_or_else(|| type_error(place, "a string", value))
}

fn toml_bool(place: &Place, value: &toml::Value) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| type_error(place, "true or false", value))
}

fn toml_positive(place: &Place, value: &toml::Value) -> Result<usize> {
    match value {
        toml::Value::Integer(n) => parse_positive(place, &n.to_string()),
        other => Err(type_error(place, "a whole number ≥ 1", other)),
    }
}

fn toml_table<'v>(place: &Place, value: &'v toml::Value) -> Result<&'v toml::Table> {
    value
        .as_table()
        .ok_or_else(|| type_error(place, "a table", value))
}

/// A list of names: an array of strings, or the CLI's `"F1,F2"`.
fn toml_list(place: &Place, value: &toml::Value) -> Result<Vec<String>> {
    match value {
        toml::Value::String(s) => parse_list(place, s),
        toml::Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| match v.as_str() {
                Some(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
                _ => Err(type_error(place, "an array of non-empty names", value)),
            })
            .collect(),
        other => Err(type_error(place, "a non-empty array of names", other)),
    }
}

/// `{ KEY = { FIELD = value } }` → (KEY, FIELD, value, place of the value).
fn toml_nested<'v>(
    place: &Place,
    value: &'v toml::Value,
) -> Result<Vec<(String, String, &'v toml::Value, Place)>> {
    let mut out = Vec::new();
    for (key, fields) in toml_table(place, value)? {
        let key_place = place.child(key);
        for (field, v) in toml_table(&key_place, fields)? {
            out.push((key.clone(), field.clone(), v, key_place.child(field)));
        }
    }
    Ok(out)
}

/// A TOML value as JSON (dates and times become their ISO 8601 text).
pub fn toml_to_json(value: &toml::Value) -> J {
    match value {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(n) => J::from(*n),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(items) => J::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag() -> Place {
        Place::flag("--on-conflict")
    }

    #[test]
    fn conflict_actions_parse_in_the_cli_form() {
        assert_eq!(
            parse_action(&flag(), "nothing").ok(),
            Some(ConflictAction::Nothing)
        );
        assert_eq!(
            parse_action(&flag(), "replace:title, body").ok(),
            Some(ConflictAction::Replace(vec!["title".into(), "body".into()]))
        );
        assert_eq!(
            parse_action(&flag(), "replace_all_except:inserted_at").ok(),
            Some(ConflictAction::ReplaceAllExcept(vec!["inserted_at".into()]))
        );
        let e = parse_action(&flag(), "update").unwrap_err().to_string();
        assert!(
            e.contains("`--on-conflict`") && e.contains("replace_all"),
            "{e}"
        );
        assert!(parse_action(&flag(), "replace:").is_err());
    }

    #[test]
    fn chunk_size_must_be_a_whole_number_of_at_least_one() {
        let p = Place::flag("--chunk-size");
        assert_eq!(parse_positive(&p, "500").ok(), Some(500));
        for bad in ["0", "-1", "ten", ""] {
            let e = parse_positive(&p, bad).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains("`--chunk-size`"), "{e}");
        }
    }

    #[test]
    fn a_higher_layer_wins_per_option_and_per_key() {
        let p = Place::flag("x");
        let given = |a: ConflictAction| Given {
            value: a,
            place: p.clone(),
        };
        let mut low = Layer {
            chunk_size: Some(Given {
                value: 10,
                place: p.clone(),
            }),
            ..Layer::default()
        };
        low.on_conflict
            .insert("Tag".into(), given(ConflictAction::Nothing));
        low.on_conflict
            .insert("Post".into(), given(ConflictAction::Raise));
        let mut high = Layer::default();
        high.on_conflict
            .insert("Post".into(), given(ConflictAction::ReplaceAll));
        let merged = low.overlay(high);
        assert_eq!(merged.chunk_size.map(|g| g.value), Some(10));
        assert_eq!(merged.on_conflict["Tag"].value, ConflictAction::Nothing);
        assert_eq!(merged.on_conflict["Post"].value, ConflictAction::ReplaceAll);
    }

    #[test]
    fn toml_dates_become_iso_text() {
        let v: toml::Table = toml::from_str("d = 2024-01-02T03:04:05Z\nn = [1, 2.5]").unwrap();
        assert_eq!(
            toml_to_json(&toml::Value::Table(v)),
            serde_json::json!({"d": "2024-01-02T03:04:05Z", "n": [1, 2.5]})
        );
    }
}
