//! The typed readers of the schema-file loader: a parsed TOML value as a string, a list,
//! a number, JSON or a [`toml::Value`], each failure an error naming the key path and the
//! position.

use std::collections::BTreeMap;

use toml::de::{DeArray, DeTable, DeValue};

use super::{Loader, Val, join, key_str};
use crate::error::{Error, Result};
use crate::schema::FieldType;

impl Loader<'_> {
    pub(super) fn table<'v, 'i>(&self, path: &str, value: &'v Val<'i>) -> Result<&'v DeTable<'i>> {
        value
            .get_ref()
            .as_table()
            .ok_or_else(|| self.wrong_type(path, value, "a table"))
    }

    pub(super) fn array<'v, 'i>(&self, path: &str, value: &'v Val<'i>) -> Result<&'v DeArray<'i>> {
        value
            .get_ref()
            .as_array()
            .ok_or_else(|| self.wrong_type(path, value, "an array"))
    }

    pub(super) fn string<'v>(&self, path: &str, value: &'v Val<'_>) -> Result<&'v str> {
        value
            .get_ref()
            .as_str()
            .ok_or_else(|| self.wrong_type(path, value, "a string"))
    }

    pub(super) fn boolean(&self, path: &str, value: &Val<'_>) -> Result<bool> {
        value
            .get_ref()
            .as_bool()
            .ok_or_else(|| self.wrong_type(path, value, "a boolean"))
    }

    pub(super) fn strings(&self, path: &str, value: &Val<'_>) -> Result<Vec<String>> {
        self.array(path, value)?
            .iter()
            .enumerate()
            .map(|(i, v)| self.string(&format!("{path}[{i}]"), v).map(str::to_string))
            .collect()
    }

    pub(super) fn integer(&self, path: &str, value: &Val<'_>) -> Result<i64> {
        match value.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
                .map_err(|_| {
                    self.error(path, &value.span(), format!("integer {i} is out of range"))
                }),
            _ => Err(self.wrong_type(path, value, "an integer")),
        }
    }

    pub(super) fn float(&self, path: &str, value: &Val<'_>) -> Result<f64> {
        match value.get_ref() {
            DeValue::Float(f) => f
                .as_str()
                .replace('_', "")
                .parse()
                .map_err(|_| self.error(path, &value.span(), format!("invalid float {f}"))),
            _ => Err(self.wrong_type(path, value, "a float")),
        }
    }

    /// An integer or a float, as `f64`.
    pub(super) fn number(&self, path: &str, value: &Val<'_>) -> Result<f64> {
        match value.get_ref() {
            DeValue::Integer(_) => Ok(self.integer(path, value)? as f64),
            DeValue::Float(_) => self.float(path, value),
            _ => Err(self.wrong_type(path, value, "a number")),
        }
    }

    pub(super) fn field_type(&self, path: &str, value: &Val<'_>) -> Result<FieldType> {
        self.string(path, value)?.parse().map_err(|e| match e {
            Error::Schema { message, .. } => self.error(path, &value.span(), message),
            other => other,
        })
    }

    /// A TOML value as JSON (defaults, inclusion lists). Datetimes become their RFC 3339
    /// text.
    pub(super) fn json(&self, path: &str, value: &Val<'_>) -> Result<serde_json::Value> {
        crate::schema::toml_to_json(&self.toml_value(path, value)?).map_err(|f| {
            self.error(
                path,
                &value.span(),
                format!("{f} cannot be represented in JSON"),
            )
        })
    }

    /// A parsed TOML value as a [`toml::Value`] (the options table).
    pub(super) fn toml_value(&self, path: &str, value: &Val<'_>) -> Result<toml::Value> {
        use toml::Value as T;
        Ok(match value.get_ref() {
            DeValue::String(s) => T::String(s.to_string()),
            DeValue::Integer(_) => T::Integer(self.integer(path, value)?),
            DeValue::Float(_) => T::Float(self.float(path, value)?),
            DeValue::Boolean(b) => T::Boolean(*b),
            DeValue::Datetime(d) => T::Datetime(*d),
            DeValue::Array(a) => T::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, v)| self.toml_value(&format!("{path}[{i}]"), v))
                    .collect::<Result<_>>()?,
            ),
            DeValue::Table(t) => T::Table(self.toml_table(path, t)?),
        })
    }

    pub(super) fn toml_table(&self, path: &str, table: &DeTable<'_>) -> Result<toml::Table> {
        table
            .iter()
            .map(|(k, v)| {
                let key = key_str(k);
                Ok((key.to_string(), self.toml_value(&join(path, key), v)?))
            })
            .collect()
    }

    /// Records the position of every key under `path`, at any depth (arrays by index:
    /// `path[0].key`), into `out`.
    pub(super) fn key_locations(
        &self,
        path: &str,
        table: &DeTable<'_>,
        out: &mut BTreeMap<String, String>,
    ) {
        for (k, v) in table {
            let kpath = join(path, key_str(k));
            out.insert(kpath.clone(), self.location(&k.span()));
            self.value_key_locations(&kpath, v, out);
        }
    }

    fn value_key_locations(&self, path: &str, value: &Val<'_>, out: &mut BTreeMap<String, String>) {
        match value.get_ref() {
            DeValue::Table(t) => self.key_locations(path, t, out),
            DeValue::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    self.value_key_locations(&format!("{path}[{i}]"), v, out);
                }
            }
            _ => {}
        }
    }
}
