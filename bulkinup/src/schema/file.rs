//! The TOML schema file (`docs/schema-file.md`).
//!
//! A schema file holds `[schemas.NAME]` tables — `source`, `embedded`, `primary_key`,
//! `timestamps`, `fields`, `associations` and `changesets.NAME` — and, optionally, default
//! options under `[options]` (with `[options.insert]` / `[options.upsert]`). The schemas are
//! turned into [`SchemaDef`]s and resolved by [`RegistryBuilder::build`](super::RegistryBuilder::build);
//! the options table is handed back untouched for the command-line layer to check.
//!
//! Every key is checked here: an unknown key or a value of the wrong type is an
//! [`Error::Schema`] naming the key path (e.g. `schemas.Author.changesets.changeset.casts`)
//! and its position `FILE:LINE:COLUMN`. Broken references found later by the registry builder
//! (an unknown related schema, an unknown field in `cast`, …) carry the position of the key
//! they were read from.

// `Error` is large crate-wide (its database variant); boxing it is a decision for
// `error.rs`, not for this loader.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

use super::{
    AssocDef, AssocKind, ChangesetDef, FieldDef, LengthRule, NumberRule, Registry, SchemaDef,
};
use crate::error::{Error, Result};

/// A loaded schema file: the resolved registry, and the raw default options.
#[derive(Debug, Clone)]
pub struct SchemaFile {
    /// The schemas of the file, resolved and checked.
    pub registry: Registry,
    /// The raw `[options]` table (with its `[options.insert]` / `[options.upsert]`
    /// sub-tables), when the file has one. Only its being a table is checked here; the option
    /// names and values are checked by whoever applies them.
    pub options: Option<toml::Table>,
    /// The position (`FILE:LINE:COLUMN`, as in schema errors) of every key under `[options]`,
    /// at any depth, by key path: `options`, `options.chunk_size`,
    /// `options.upsert.replace_all_except`, `options.placeholders.Post.inserted_at`; an
    /// array's tables by index (`options.KEY[0].SUB`). Empty without `[options]`.
    pub option_locations: BTreeMap<String, String>,
}

impl Registry {
    /// Builds a registry from the text of a TOML schema file (`docs/schema-file.md`).
    /// `origin` names the file in error positions (`ORIGIN:LINE:COLUMN`).
    ///
    /// ```
    /// use bulkinup::Registry;
    ///
    /// let file = Registry::from_toml_str(
    ///     r#"
    /// [schemas.Tag]
    /// source = "tags"
    /// fields = { id = "integer", name = "string" }
    /// [schemas.Tag.changesets.changeset]
    /// cast = ["id", "name"]
    /// required = ["id", "name"]
    /// "#,
    ///     "tags.toml",
    /// )?;
    /// assert_eq!(file.registry.get("Tag")?.source(), Some("tags"));
    /// assert!(file.options.is_none());
    /// # Ok::<(), bulkinup::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Schema`] with the key path and position of the first problem: a TOML syntax
    /// error, an unknown key, a value of the wrong type, an unknown field type or association
    /// kind, or any error of [`RegistryBuilder::build`](super::RegistryBuilder::build).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<SchemaFile> {
        Loader::new(text, origin).load()
    }

    /// Reads a TOML schema file (`docs/schema-file.md`) and builds its registry, see
    /// [`Registry::from_toml_str`]. Error positions name the file by `path`.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; otherwise as [`Registry::from_toml_str`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<SchemaFile> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: Some(origin.clone()),
            source,
        })?;
        Self::from_toml_str(&text, &origin)
    }
}

type Val<'i> = Spanned<DeValue<'i>>;
type Key<'i> = Spanned<DeString<'i>>;

const TOP_KEYS: &[&str] = &["schemas", "options"];
const SCHEMA_KEYS: &[&str] = &[
    "source",
    "embedded",
    "prefix",
    "primary_key",
    "timestamps",
    "fields",
    "associations",
    "changesets",
];
const FIELD_KEYS: &[&str] = &["type", "source", "default", "autogenerate", "from"];
const ASSOC_KEYS: &[&str] = &[
    "kind",
    "related",
    "foreign_key",
    "references",
    "join_through",
    "join_keys",
    "source",
    "type",
    "through",
    "defaults",
    "join_defaults",
    "keyed_by",
    "value_field",
    "write_related",
];
const ASSOC_KINDS: &str = "has_many, has_one, many_to_many, belongs_to, embeds_one, embeds_many";
const CHANGESET_KEYS: &[&str] = &[
    "cast",
    "required",
    "format",
    "length",
    "number",
    "inclusion",
    "exclusion",
    "cast_assoc",
    "cast_embed",
];
const LENGTH_KEYS: &[&str] = &["min", "max", "is"];
const NUMBER_KEYS: &[&str] = &[
    "greater_than",
    "greater_than_or_equal_to",
    "less_than",
    "less_than_or_equal_to",
    "equal_to",
    "not_equal_to",
];
const CAST_ENTRY_KEYS: &[&str] = &["name", "with"];

/// The keys an association of this kind accepts (besides `through`, handled apart).
fn assoc_keys_for(kind: AssocKind) -> &'static [&'static str] {
    match kind {
        AssocKind::HasMany => &[
            "kind",
            "related",
            "foreign_key",
            "references",
            "through",
            "defaults",
            "keyed_by",
            "value_field",
        ],
        AssocKind::HasOne => &[
            "kind",
            "related",
            "foreign_key",
            "references",
            "through",
            "defaults",
        ],
        AssocKind::BelongsTo => &["kind", "related", "foreign_key", "references", "type"],
        AssocKind::ManyToMany => &[
            "kind",
            "related",
            "join_through",
            "join_keys",
            "defaults",
            "join_defaults",
            "keyed_by",
            "value_field",
            "write_related",
        ],
        AssocKind::EmbedsOne => &["kind", "related", "source"],
        AssocKind::EmbedsMany => &["kind", "related", "source", "keyed_by", "value_field"],
    }
}

/// `a.b` (or `b` at the top).
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn key_str<'k>(key: &'k Key<'_>) -> &'k str {
    key.get_ref().as_ref()
}

/// Walks the parsed document, keeping the text to turn byte spans into positions.
struct Loader<'a> {
    text: &'a str,
    origin: &'a str,
    /// Byte offset of the start of each line.
    line_starts: Vec<usize>,
}

impl<'a> Loader<'a> {
    fn new(text: &'a str, origin: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Loader {
            text,
            origin,
            line_starts,
        }
    }

    /// `ORIGIN:LINE:COLUMN` (1-based; the column counts characters) of a span's start.
    fn location(&self, span: &Range<usize>) -> String {
        let offset = span.start.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        format!("{}:{line}:{column}", self.origin)
    }

    fn error(&self, path: &str, span: &Range<usize>, message: impl Into<String>) -> Error {
        Error::Schema {
            schema: None,
            key: (!path.is_empty()).then(|| path.to_string()),
            location: Some(self.location(span)),
            message: message.into(),
        }
    }

    fn unknown_key(&self, path: &str, key: &Key<'_>, valid: &[&str]) -> Error {
        let name = key_str(key);
        self.error(
            &join(path, name),
            &key.span(),
            format!(
                "unknown key `{name}`{} (valid: {})",
                crate::options::did_you_mean(name, valid),
                valid.join(", ")
            ),
        )
    }

    fn wrong_type(&self, path: &str, value: &Val<'_>, expected: &str) -> Error {
        self.error(
            path,
            &value.span(),
            format!("expected {expected}, found {}", value.get_ref().type_str()),
        )
    }

    fn load(&self) -> Result<SchemaFile> {
        let root = DeTable::parse(self.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            self.error("", &span, format!("invalid TOML: {}", e.message()))
        })?;
        let mut builder = Registry::builder();
        let mut options = None;
        let mut option_locations = BTreeMap::new();
        let mut has_schemas = false;
        for (k, v) in root.get_ref() {
            match key_str(k) {
                "schemas" => {
                    for (name, schema) in self.table("schemas", v)? {
                        builder = builder.schema(self.schema(name, schema)?);
                        has_schemas = true;
                    }
                }
                "options" => {
                    let table = self.table("options", v)?;
                    options = Some(self.toml_table("options", table)?);
                    option_locations.insert("options".into(), self.location(&k.span()));
                    self.key_locations("options", table, &mut option_locations);
                }
                _ => return Err(self.unknown_key("", k, TOP_KEYS)),
            }
        }
        if !has_schemas {
            return Err(self.error(
                "schemas",
                &(0..0),
                "the file defines no schema: add a `[schemas.NAME]` table",
            ));
        }
        Ok(SchemaFile {
            registry: builder.build()?,
            options,
            option_locations,
        })
    }

    fn schema(&self, name_key: &Key<'_>, value: &Val<'_>) -> Result<SchemaDef> {
        let name = key_str(name_key);
        let path = join("schemas", name);
        let table = self.table(&path, value)?;
        let mut def = SchemaDef::new(name);
        def.set_location(String::new(), self.location(&name_key.span()));
        for (k, v) in table {
            let key = key_str(k);
            let kpath = join(&path, key);
            def.set_location(key.to_string(), self.location(&k.span()));
            match key {
                "source" => def = def.source(self.string(&kpath, v)?),
                "prefix" => def = def.prefix(self.string(&kpath, v)?),
                "embedded" => def.embedded = self.boolean(&kpath, v)?,
                "primary_key" => def = def.primary_key(self.strings(&kpath, v)?),
                "timestamps" => def = def.timestamps(self.boolean(&kpath, v)?),
                "fields" => {
                    for (fk, fv) in self.table(&kpath, v)? {
                        let fname = key_str(fk);
                        def.set_location(join("fields", fname), self.location(&fk.span()));
                        let field = self.field(&join(&kpath, fname), fname, fv, &mut def)?;
                        def = def.field_def(field);
                    }
                }
                "associations" => {
                    for (ak, av) in self.table(&kpath, v)? {
                        let aname = key_str(ak);
                        let rel = join("associations", aname);
                        def.set_location(rel.clone(), self.location(&ak.span()));
                        let assoc =
                            self.association(&join(&kpath, aname), &rel, aname, av, &mut def)?;
                        def = def.assoc(assoc);
                    }
                }
                "changesets" => {
                    for (ck, cv) in self.table(&kpath, v)? {
                        let cname = key_str(ck);
                        let rel = join("changesets", cname);
                        def.set_location(rel.clone(), self.location(&ck.span()));
                        let changeset = self.changeset(&join(&kpath, cname), &rel, cv, &mut def)?;
                        def = def.changeset(cname, changeset);
                    }
                }
                _ => return Err(self.unknown_key(&path, k, SCHEMA_KEYS)),
            }
        }
        Ok(def)
    }

    fn field(
        &self,
        path: &str,
        name: &str,
        value: &Val<'_>,
        def: &mut SchemaDef,
    ) -> Result<FieldDef> {
        let table = match value.get_ref() {
            DeValue::String(_) => return Ok(FieldDef::new(name, self.field_type(path, value)?)),
            DeValue::Table(table) => table,
            _ => {
                return Err(self.wrong_type(
                    path,
                    value,
                    "a type name or a table `{ type = \"...\", source = \"...\" }`",
                ));
            }
        };
        let mut ty = None;
        let mut source = None;
        let mut default = None;
        let mut autogenerate = false;
        let mut from = None;
        for (k, v) in table {
            let key = key_str(k);
            let kpath = join(path, key);
            def.set_location(join(&join("fields", name), key), self.location(&k.span()));
            match key {
                "from" => from = Some(self.string(&kpath, v)?),
                "type" => ty = Some(self.field_type(&kpath, v)?),
                "source" => source = Some(self.string(&kpath, v)?),
                "default" => default = Some(self.json(&kpath, v)?),
                "autogenerate" => autogenerate = self.boolean(&kpath, v)?,
                _ => return Err(self.unknown_key(path, k, FIELD_KEYS)),
            }
        }
        let ty = ty.ok_or_else(|| self.error(path, &value.span(), "missing key `type`"))?;
        let mut field = FieldDef::new(name, ty).autogenerate(autogenerate);
        if let Some(source) = source {
            field = field.source(source);
        }
        if let Some(default) = default {
            field = field.default_value(default);
        }
        if let Some(from) = from {
            field = field.from(from);
        }
        Ok(field)
    }

    /// One association; `rel` is its key path relative to the schema (`associations.NAME`).
    fn association(
        &self,
        path: &str,
        rel: &str,
        name: &str,
        value: &Val<'_>,
        def: &mut SchemaDef,
    ) -> Result<AssocDef> {
        let table = self.table(path, value)?;
        let (kind_key, kind_value) = table.get_key_value("kind").ok_or_else(|| {
            self.error(
                path,
                &value.span(),
                format!("missing key `kind` (one of {ASSOC_KINDS})"),
            )
        })?;
        let kind_path = join(path, key_str(kind_key));
        let kind_name = self.string(&kind_path, kind_value)?;
        let kind = AssocKind::parse(kind_name).ok_or_else(|| {
            self.error(
                &kind_path,
                &kind_value.span(),
                format!("unknown association kind `{kind_name}` (valid: {ASSOC_KINDS})"),
            )
        })?;
        let through_given = table.contains_key("through");
        if through_given && !matches!(kind, AssocKind::HasMany | AssocKind::HasOne) {
            return Err(self.error(
                &kind_path,
                &kind_value.span(),
                format!("`through` applies to `has_many` and `has_one` associations, not `{kind}`"),
            ));
        }
        let valid: &[&str] = if through_given {
            &["kind", "through", "related"]
        } else {
            assoc_keys_for(kind)
        };

        let mut related = None;
        let mut foreign_key = None;
        let mut references = None;
        let mut join_through = None;
        let mut join_keys = None;
        let mut source = None;
        let mut fk_type = None;
        let mut through = None;
        let mut defaults = Vec::new();
        let mut join_defaults = Vec::new();
        let mut keyed_by = None;
        let mut value_field = None;
        let mut write_related = None;
        for (k, v) in table {
            let key = key_str(k);
            let kpath = join(path, key);
            def.set_location(join(rel, key), self.location(&k.span()));
            if !valid.contains(&key) {
                if !ASSOC_KEYS.contains(&key) {
                    return Err(self.unknown_key(path, k, ASSOC_KEYS));
                }
                let what = if through_given {
                    "a `through` association".to_string()
                } else {
                    format!("a `{kind}` association")
                };
                return Err(self.error(
                    &kpath,
                    &k.span(),
                    format!(
                        "key `{key}` does not apply to {what} (valid: {})",
                        valid.join(", ")
                    ),
                ));
            }
            match key {
                "related" => related = Some(self.string(&kpath, v)?),
                "foreign_key" => foreign_key = Some(self.string(&kpath, v)?),
                "references" => references = Some(self.string(&kpath, v)?),
                "join_through" => join_through = Some(self.string(&kpath, v)?),
                "join_keys" => join_keys = Some(self.join_keys(&kpath, v)?),
                "source" => source = Some(self.string(&kpath, v)?),
                "type" => fk_type = Some(self.field_type(&kpath, v)?),
                "keyed_by" => keyed_by = Some(self.string(&kpath, v)?),
                "value_field" => value_field = Some(self.string(&kpath, v)?),
                "write_related" => write_related = Some(self.boolean(&kpath, v)?),
                "defaults" | "join_defaults" => {
                    let mut values = Vec::new();
                    for (dk, dv) in self.table(&kpath, v)? {
                        let dname = key_str(dk);
                        def.set_location(join(&join(rel, key), dname), self.location(&dk.span()));
                        values.push((dname.to_string(), self.json(&join(&kpath, dname), dv)?));
                    }
                    if key == "defaults" {
                        defaults = values;
                    } else {
                        join_defaults = values;
                    }
                }
                "through" => {
                    let hops = self.strings(&kpath, v)?;
                    if hops.is_empty() {
                        return Err(self.error(
                            &kpath,
                            &v.span(),
                            "`through` needs at least one association name",
                        ));
                    }
                    through = Some(hops);
                }
                _ => {} // `kind`, read above
            }
        }

        if let Some(hops) = through {
            let mut assoc = AssocDef::through(name, kind, hops);
            if let Some(related) = related {
                assoc.related = related.to_string();
            }
            return Ok(assoc);
        }
        let related = related.ok_or_else(|| {
            self.error(
                path,
                &value.span(),
                "missing key `related` (the related schema's name)",
            )
        })?;
        let mut assoc = AssocDef::new(name, kind, related);
        if let Some(fk) = foreign_key {
            assoc = assoc.foreign_key(fk);
        }
        if let Some(r) = references {
            assoc = assoc.references(r);
        }
        if let Some(t) = join_through {
            assoc = assoc.join_through(t);
        }
        if let Some([owner, related]) = join_keys {
            assoc = assoc.join_keys(owner, related);
        }
        if let Some(s) = source {
            assoc = assoc.source(s);
        }
        if let Some(ty) = fk_type {
            assoc = assoc.fk_type(ty);
        }
        if !defaults.is_empty() {
            assoc = assoc.defaults(defaults);
        }
        if !join_defaults.is_empty() {
            assoc = assoc.join_defaults(join_defaults);
        }
        assoc.keyed_by = keyed_by.map(str::to_string);
        assoc.value_field = value_field.map(str::to_string);
        assoc.write_related = write_related;
        Ok(assoc)
    }

    /// `[[join column, owner field], [join column, related field]]`.
    fn join_keys(&self, path: &str, value: &Val<'_>) -> Result<[(String, String); 2]> {
        const SHAPE: &str =
            "`[[join column, owner field], [join column, related field]]` (two pairs of strings)";
        let pairs = self.array(path, value)?;
        let [owner, related] = &pairs[..] else {
            return Err(self.error(path, &value.span(), format!("expected {SHAPE}")));
        };
        let pair = |i: usize, v: &Val<'_>| -> Result<(String, String)> {
            let ipath = format!("{path}[{i}]");
            let items = self.strings(&ipath, v)?;
            match <[String; 2]>::try_from(items) {
                Ok([column, field]) => Ok((column, field)),
                Err(_) => Err(self.error(&ipath, &v.span(), format!("expected {SHAPE}"))),
            }
        };
        Ok([pair(0, owner)?, pair(1, related)?])
    }

    /// One named changeset; `rel` is its key path relative to the schema
    /// (`changesets.NAME`).
    fn changeset(
        &self,
        path: &str,
        rel: &str,
        value: &Val<'_>,
        def: &mut SchemaDef,
    ) -> Result<ChangesetDef> {
        let table = self.table(path, value)?;
        let mut cs = ChangesetDef::new();
        for (k, v) in table {
            let key = key_str(k);
            let kpath = join(path, key);
            let krel = join(rel, key);
            def.set_location(krel.clone(), self.location(&k.span()));
            match key {
                "cast" => {
                    cs = match v.get_ref() {
                        DeValue::String(all) if all.as_ref() == "*" => cs.cast_all(),
                        _ => cs.cast(self.strings(&kpath, v)?),
                    }
                }
                "required" => cs = cs.required(self.strings(&kpath, v)?),
                "format" | "length" | "number" | "inclusion" | "exclusion" => {
                    for (fk, fv) in self.table(&kpath, v)? {
                        let field = key_str(fk);
                        let fpath = join(&kpath, field);
                        def.set_location(join(&krel, field), self.location(&fk.span()));
                        cs = match key {
                            "format" => cs.format(field, self.string(&fpath, fv)?),
                            "length" => cs.length(field, self.length_rule(&fpath, fv)?),
                            "number" => cs.number(field, self.number_rule(&fpath, fv)?),
                            "inclusion" => cs.inclusion(field, self.values(&fpath, fv)?),
                            _ => cs.exclusion(field, self.values(&fpath, fv)?),
                        };
                    }
                }
                "cast_assoc" | "cast_embed" => {
                    for (i, entry) in self.array(&kpath, v)?.iter().enumerate() {
                        let (name, with) = self.cast_entry(&format!("{kpath}[{i}]"), entry)?;
                        cs = match (key, with) {
                            ("cast_assoc", None) => cs.cast_assoc(name),
                            ("cast_assoc", Some(with)) => cs.cast_assoc_with(name, with),
                            (_, None) => cs.cast_embed(name),
                            (_, Some(with)) => cs.cast_embed_with(name, with),
                        };
                    }
                }
                _ => return Err(self.unknown_key(path, k, CHANGESET_KEYS)),
            }
        }
        Ok(cs)
    }

    /// A `cast_assoc`/`cast_embed` entry: `"name"` or `{ name = "...", with = "changeset" }`.
    fn cast_entry<'v>(&self, path: &str, entry: &'v Val<'_>) -> Result<(&'v str, Option<&'v str>)> {
        let table = match entry.get_ref() {
            DeValue::String(name) => return Ok((name.as_ref(), None)),
            DeValue::Table(table) => table,
            _ => {
                return Err(self.wrong_type(
                    path,
                    entry,
                    "an association name or a table `{ name = \"...\", with = \"...\" }`",
                ));
            }
        };
        let mut name = None;
        let mut with = None;
        for (k, v) in table {
            let key = key_str(k);
            let kpath = join(path, key);
            match key {
                "name" => name = Some(self.string(&kpath, v)?),
                "with" => with = Some(self.string(&kpath, v)?),
                _ => return Err(self.unknown_key(path, k, CAST_ENTRY_KEYS)),
            }
        }
        let name = name.ok_or_else(|| self.error(path, &entry.span(), "missing key `name`"))?;
        Ok((name, with))
    }

    fn length_rule(&self, path: &str, value: &Val<'_>) -> Result<LengthRule> {
        let mut rule = LengthRule::default();
        let table = self.table(path, value)?;
        for (k, v) in table {
            let key = key_str(k);
            let kpath = join(path, key);
            let slot = match key {
                "min" => &mut rule.min,
                "max" => &mut rule.max,
                "is" => &mut rule.is,
                _ => return Err(self.unknown_key(path, k, LENGTH_KEYS)),
            };
            let n = self.integer(&kpath, v)?;
            *slot = Some(usize::try_from(n).map_err(|_| {
                self.error(
                    &kpath,
                    &v.span(),
                    format!("expected a count (0 or more), found {n}"),
                )
            })?);
        }
        if table.is_empty() {
            return Err(self.error(
                path,
                &value.span(),
                format!("give at least one of {}", LENGTH_KEYS.join(", ")),
            ));
        }
        Ok(rule)
    }

    fn number_rule(&self, path: &str, value: &Val<'_>) -> Result<NumberRule> {
        let mut rule = NumberRule::default();
        let table = self.table(path, value)?;
        for (k, v) in table {
            let key = key_str(k);
            let slot = match key {
                "greater_than" => &mut rule.greater_than,
                "greater_than_or_equal_to" => &mut rule.greater_than_or_equal_to,
                "less_than" => &mut rule.less_than,
                "less_than_or_equal_to" => &mut rule.less_than_or_equal_to,
                "equal_to" => &mut rule.equal_to,
                "not_equal_to" => &mut rule.not_equal_to,
                _ => return Err(self.unknown_key(path, k, NUMBER_KEYS)),
            };
            *slot = Some(self.number(&join(path, key), v)?);
        }
        if table.is_empty() {
            return Err(self.error(
                path,
                &value.span(),
                format!("give at least one of {}", NUMBER_KEYS.join(", ")),
            ));
        }
        Ok(rule)
    }

    /// An `inclusion`/`exclusion` list, as JSON values.
    fn values(&self, path: &str, value: &Val<'_>) -> Result<Vec<serde_json::Value>> {
        self.array(path, value)?
            .iter()
            .enumerate()
            .map(|(i, v)| self.json(&format!("{path}[{i}]"), v))
            .collect()
    }
}

#[cfg(test)]
mod tests;
mod values;
