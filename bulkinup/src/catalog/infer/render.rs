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

impl EmbeddedSchema {
    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        let schema = key(&self.name);
        let _ = writeln!(out, "\n[schemas.{schema}]");
        let _ = writeln!(
            out,
            "# The objects stored in {}: fields inferred from {} stored value(s).",
            self.origin, self.sampled
        );
        for note in &self.notes {
            let _ = writeln!(out, "# {note}");
        }
        let _ = writeln!(out, "embedded = true\nprimary_key = []");
        let _ = writeln!(out, "\n[schemas.{schema}.fields]");
        for (name, ty) in &self.fields {
            let _ = writeln!(out, "{} = {}", key(name), string(&ty.to_string()));
        }
        let _ = writeln!(out, "\n[schemas.{schema}.changesets.changeset]");
        let cast: Vec<String> = self.fields.iter().map(|(n, _)| n.clone()).collect();
        let _ = writeln!(out, "cast = {}", list(&cast));
        out
    }
}

impl Inferred<'_> {
    /// Appends the schema's part of the file; `prefix`, when the tables were read from one,
    /// is the schema's `prefix`.
    pub(super) fn render(&self, out: &mut String, prefix: Option<&str>) -> Result<()> {
        let schema = key(&self.name);
        let _ = writeln!(out, "\n[schemas.{schema}]");
        for note in &self.notes {
            let _ = writeln!(out, "# {note}");
        }
        let _ = writeln!(out, "source = {}", string(&self.table.name));
        if let Some(p) = prefix {
            let _ = writeln!(out, "prefix = {}", string(p));
        }
        let _ = writeln!(out, "primary_key = {}", list(&self.primary_key));
        if self.timestamps {
            let _ = writeln!(out, "timestamps = true");
        }
        let _ = writeln!(out, "\n[schemas.{schema}.fields]");
        for f in &self.fields {
            let ty = if f.autogenerate {
                format!(
                    "{{ type = {}, autogenerate = true }}",
                    string(&f.ty.to_string())
                )
            } else {
                string(&f.ty.to_string())
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
            for (name, a) in &self.assocs {
                let value = toml::Value::try_from(a).map_err(|e| {
                    Error::schema(
                        Some(&self.name),
                        Some(&format!("associations.{name}")),
                        format!("cannot write the inferred association: {e}"),
                    )
                })?;
                let _ = writeln!(out, "{} = {value}", key(name));
            }
        }
        let _ = writeln!(out, "\n[schemas.{schema}.changesets.changeset]");
        let cast: Vec<String> = self.fields.iter().map(|f| f.name.clone()).collect();
        let _ = writeln!(out, "cast = {}", list(&cast));
        let required: Vec<String> = self
            .fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name.clone())
            .collect();
        if !required.is_empty() {
            let _ = writeln!(out, "required = {}", list(&required));
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
        for (option, names) in [("cast_assoc", cast(false)), ("cast_embed", cast(true))] {
            if !names.is_empty() {
                let _ = writeln!(out, "{option} = {}", list(&names));
            }
        }
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
