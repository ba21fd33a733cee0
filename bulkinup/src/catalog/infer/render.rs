//! Rendering: the inferred schemas as the text of a schema file.

use std::fmt::Write;

use super::{EmbeddedSchema, Inference, Inferred};
use crate::error::{Error, Result};
use crate::schema::AssocKind;

impl Inference<'_> {
    pub(super) fn render(&self, database: &str) -> Result<String> {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Schemas inferred by bulkinup from the {database} catalog. Names are guessed from"
        );
        let _ = writeln!(
            out,
            "# table and column names: review them, the field types and the changesets."
        );
        if !self.joins.is_empty() {
            let names: Vec<&str> = self.joins.iter().map(|j| j.table.name.as_str()).collect();
            let _ = writeln!(
                out,
                "# Join tables (many_to_many, no schema of their own): {}.",
                names.join(", ")
            );
        }
        if let Some(p) = self.prefix {
            let _ = writeln!(
                out,
                "# Read from the prefix {}, which every schema names as its `prefix`.",
                string(p)
            );
        }
        let mut rendered: Vec<(&str, String)> = Vec::new();
        for s in &self.schemas {
            let mut text = String::new();
            s.render(&mut text, self.prefix)?;
            rendered.push((&s.name, text));
        }
        for e in &self.embedded {
            rendered.push((&e.name, e.render()));
        }
        rendered.sort_by(|a, b| a.0.cmp(b.0));
        for (_, text) in rendered {
            out.push_str(&text);
        }
        Ok(out)
    }
}

/// One schema of an inferred file, ready to be written: the one rendering of a schema table
/// that inference from the catalog and from data share.
#[derive(Debug, Default)]
pub(super) struct SchemaText {
    pub(super) name: String,
    /// Comment lines right under the schema's header.
    pub(super) notes: Vec<String>,
    pub(super) embedded: bool,
    /// `source`, for a schema with a table.
    pub(super) source: Option<String>,
    pub(super) prefix: Option<String>,
    pub(super) primary_key: Vec<String>,
    pub(super) timestamps: bool,
    pub(super) fields: Vec<FieldText>,
    /// Association name → its inline table, in the order written.
    pub(super) assocs: Vec<(String, String)>,
    /// The default changeset, when the file spells one out.
    pub(super) changeset: Option<ChangesetText>,
}

/// One field of a [`SchemaText`].
#[derive(Debug)]
pub(super) struct FieldText {
    pub(super) name: String,
    pub(super) ty: String,
    /// More keys of the field's table (`autogenerate = true`, `from = "a.b"`), each as
    /// `key = value` text.
    pub(super) keys: Vec<String>,
    pub(super) note: Option<String>,
}

impl FieldText {
    /// A field of this type, with no other key.
    pub(super) fn new(name: impl Into<String>, ty: impl Into<String>) -> FieldText {
        FieldText {
            name: name.into(),
            ty: ty.into(),
            keys: Vec::new(),
            note: None,
        }
    }
}

/// The default changeset of a [`SchemaText`].
#[derive(Debug, Default)]
pub(super) struct ChangesetText {
    pub(super) cast: Vec<String>,
    pub(super) required: Vec<String>,
    pub(super) cast_assoc: Vec<String>,
    pub(super) cast_embed: Vec<String>,
}

impl SchemaText {
    /// Appends the schema's part of the file.
    pub(super) fn render(&self, out: &mut String) {
        let schema = key(&self.name);
        let _ = writeln!(out, "\n[schemas.{schema}]");
        for note in &self.notes {
            let _ = writeln!(out, "# {note}");
        }
        if self.embedded {
            let _ = writeln!(out, "embedded = true");
        }
        if let Some(source) = &self.source {
            let _ = writeln!(out, "source = {}", string(source));
        }
        if let Some(p) = &self.prefix {
            let _ = writeln!(out, "prefix = {}", string(p));
        }
        let _ = writeln!(out, "primary_key = {}", list(&self.primary_key));
        if self.timestamps {
            let _ = writeln!(out, "timestamps = true");
        }
        let _ = writeln!(out, "\n[schemas.{schema}.fields]");
        for f in &self.fields {
            let ty = if f.keys.is_empty() {
                string(&f.ty)
            } else {
                format!("{{ type = {}, {} }}", string(&f.ty), f.keys.join(", "))
            };
            let note = f
                .note
                .as_ref()
                .map(|n| format!("  # {n}"))
                .unwrap_or_default();
            let _ = writeln!(out, "{} = {ty}{note}", key(&f.name));
        }
        if !self.assocs.is_empty() {
            let _ = writeln!(out, "\n[schemas.{schema}.associations]");
            for (name, value) in &self.assocs {
                let _ = writeln!(out, "{} = {value}", key(name));
            }
        }
        let Some(c) = &self.changeset else {
            return;
        };
        let _ = writeln!(out, "\n[schemas.{schema}.changesets.changeset]");
        let _ = writeln!(out, "cast = {}", list(&c.cast));
        for (option, names) in [
            ("required", &c.required),
            ("cast_assoc", &c.cast_assoc),
            ("cast_embed", &c.cast_embed),
        ] {
            if !names.is_empty() {
                let _ = writeln!(out, "{option} = {}", list(names));
            }
        }
    }
}

impl EmbeddedSchema {
    pub(super) fn render(&self) -> String {
        let mut notes = vec![format!(
            "The objects stored in {}: fields inferred from {} stored value(s).",
            self.origin, self.sampled
        )];
        notes.extend(self.notes.iter().cloned());
        let text = SchemaText {
            name: self.name.clone(),
            notes,
            embedded: true,
            fields: self
                .fields
                .iter()
                .map(|(name, ty)| FieldText::new(name, ty.to_string()))
                .collect(),
            changeset: Some(ChangesetText {
                cast: self.fields.iter().map(|(n, _)| n.clone()).collect(),
                ..ChangesetText::default()
            }),
            ..SchemaText::default()
        };
        let mut out = String::new();
        text.render(&mut out);
        out
    }
}

impl Inferred<'_> {
    /// Appends the schema's part of the file; `prefix`, when the tables were read from one,
    /// is the schema's `prefix`.
    pub(super) fn render(&self, out: &mut String, prefix: Option<&str>) -> Result<()> {
        let mut assocs = Vec::new();
        for (name, a) in &self.assocs {
            let value = toml::Value::try_from(a).map_err(|e| {
                Error::schema(
                    Some(&self.name),
                    Some(&format!("associations.{name}")),
                    format!("cannot write the inferred association: {e}"),
                )
            })?;
            assocs.push((name.clone(), value.to_string()));
        }
        let cast = |embeds: bool| -> Vec<String> {
            self.assocs
                .iter()
                .filter(|(_, a)| {
                    let embed = matches!(a.kind, AssocKind::EmbedsOne | AssocKind::EmbedsMany);
                    a.kind != AssocKind::BelongsTo && embed == embeds
                })
                .map(|(n, _)| n.clone())
                .collect()
        };
        let text = SchemaText {
            name: self.name.clone(),
            notes: self.notes.clone(),
            source: Some(self.table.name.clone()),
            prefix: prefix.map(str::to_string),
            primary_key: self.primary_key.clone(),
            timestamps: self.timestamps,
            fields: self
                .fields
                .iter()
                .map(|f| FieldText {
                    keys: if f.autogenerate {
                        vec!["autogenerate = true".to_string()]
                    } else {
                        Vec::new()
                    },
                    note: f.note.clone(),
                    ..FieldText::new(&f.name, f.ty.to_string())
                })
                .collect(),
            assocs,
            changeset: Some(ChangesetText {
                cast: self.fields.iter().map(|f| f.name.clone()).collect(),
                required: self
                    .fields
                    .iter()
                    .filter(|f| f.required)
                    .map(|f| f.name.clone())
                    .collect(),
                cast_assoc: cast(false),
                cast_embed: cast(true),
            }),
            ..SchemaText::default()
        };
        text.render(out);
        Ok(())
    }
}

/// A TOML key: bare when it may be, quoted otherwise.
pub(super) fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { name.to_string() } else { string(name) }
}

/// A TOML basic string, written by hand: it is also a key (see [`key`]), and `toml` may write
/// a string as a literal or multi-line string, which is no valid key.
pub(super) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML array of strings.
pub(super) fn list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| string(i)).collect();
    format!("[{}]", items.join(", "))
}
