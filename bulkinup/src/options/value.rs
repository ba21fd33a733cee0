//! The text forms of option values, shared by the command line's flags and the schema file's
//! `[options]` tables: whole numbers, seconds or `infinity`, lists `F1,F2`, `KEY=VALUE` and
//! `KEY.FIELD` assignments, JSON values and `now()`, and the TOML shapes of the same values.
//! Each error names the place the value came from ([`Place`]) and the valid forms.

use std::time::Duration;

use serde_json::Value as J;

use super::place::Place;
use super::{MaxSkipped, Shard};
use crate::error::{Error, Result};
use crate::plan::{CONFLICT_ACTIONS, ConflictAction};

/// The value of a placeholder: JSON, or `now()` (the call's start time).
#[derive(Debug, Clone, PartialEq)]
pub enum Placeholder {
    /// A JSON value, cast like any input value.
    Value(J),
    /// The call's start time (UTC).
    Now,
}

/// A whole number ≥ 1.
pub(crate) fn parse_positive(place: &Place, text: &str) -> Result<usize> {
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
pub(crate) const TIMEOUT_VALUES: &str =
    "a number of seconds > 0, e.g. 15 or 2.5, or `infinity` for no limit";

/// The valid values of `connect_timeout`, for messages.
pub(crate) const CONNECT_TIMEOUT_VALUES: &str = "a number of seconds > 0, e.g. 10 or 2.5";

/// The valid values of `max_item_bytes`, for messages.
pub(crate) const BYTES_VALUES: &str = "a number of bytes ≥ 1, or with a unit: KB, MB, GB (powers of 1000), KiB, MiB, GiB (powers of 1024), e.g. 1048576, 64MiB or 1GB";

/// A size in bytes ≥ 1: a number, or a number with a unit (`64MiB`, `1GB`, `512 kib`), as the
/// `parse-size` crate reads it (`KB` = 1000, `KiB` = 1024, case-insensitive, `B` optional).
pub(crate) fn parse_bytes(place: &Place, text: &str) -> Result<usize> {
    match parse_size::parse_size(text.trim()).map(usize::try_from) {
        Ok(Ok(n)) if n >= 1 => Ok(n),
        Ok(Ok(_)) => Err(place.error("must be at least 1 byte", Some(BYTES_VALUES))),
        Ok(Err(_)) => Err(place.error(format!("`{text}` is too large"), Some(BYTES_VALUES))),
        Err(e) => Err(place.error(
            format!("`{text}` is not a size in bytes ({e})"),
            Some(BYTES_VALUES),
        )),
    }
}

/// The valid values of `max_skipped`, for messages.
pub(crate) const MAX_SKIPPED_VALUES: &str =
    "a whole number of items ≥ 0, e.g. 10, or a percentage of the items read, e.g. 5% or 0.5%";

/// A limit on invalid items: `N` (a whole number ≥ 0) or `N%` (0 to 100, of the items read).
pub(crate) fn parse_max_skipped(place: &Place, text: &str) -> Result<MaxSkipped> {
    let text = text.trim();
    let parsed = match text.strip_suffix('%') {
        Some(percent) => percent
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|p| (0.0..=100.0).contains(p))
            .map(MaxSkipped::Percent),
        None => text.parse::<u64>().ok().map(MaxSkipped::Items),
    };
    parsed.ok_or_else(|| {
        place.error(
            format!("`{text}` is not a number of items or a percentage from 0% to 100%"),
            Some(MAX_SKIPPED_VALUES),
        )
    })
}

/// A shard, `K/N` ([`Shard`]), its error named by `place`.
pub(crate) fn parse_shard(place: &Place, text: &str) -> Result<Shard> {
    text.parse::<Shard>().map_err(|e| match e {
        Error::InvalidOption { message, valid, .. } => place.error(message, valid.as_deref()),
        other => other,
    })
}

/// A limit on invalid items in TOML: a whole number, or a string `"N"` / `"N%"`.
pub(crate) fn toml_max_skipped(place: &Place, value: &toml::Value) -> Result<MaxSkipped> {
    match value {
        toml::Value::Integer(n) => parse_max_skipped(place, &n.to_string()),
        toml::Value::String(s) => parse_max_skipped(place, s),
        other => Err(type_error(place, MAX_SKIPPED_VALUES, other)),
    }
}

/// A timeout: a number of seconds > 0, or `infinity` (no limit, `None`).
pub(crate) fn parse_seconds(place: &Place, text: &str) -> Result<Option<Duration>> {
    seconds_or_infinity(place, text, TIMEOUT_VALUES)
}

/// A connect timeout: a number of seconds > 0. `infinity` is refused: a server that accepts
/// the connection and never answers would hang the call for good.
pub(crate) fn parse_finite_seconds(place: &Place, text: &str) -> Result<Duration> {
    seconds_or_infinity(place, text, CONNECT_TIMEOUT_VALUES)?.ok_or_else(|| {
        place.error(
            "cannot be `infinity`: connecting always has a limit",
            Some(CONNECT_TIMEOUT_VALUES),
        )
    })
}

/// A number of seconds > 0, or `infinity` (`None`); `valid` lists the forms in an error.
fn seconds_or_infinity(place: &Place, text: &str, valid: &str) -> Result<Option<Duration>> {
    let text = text.trim();
    if text == "infinity" {
        return Ok(None);
    }
    match text.parse::<f64>().map(Duration::try_from_secs_f64) {
        Ok(Ok(limit)) if !limit.is_zero() => Ok(Some(limit)),
        _ => Err(place.error(
            format!("`{text}` is not a positive number of seconds"),
            Some(valid),
        )),
    }
}

/// `F1,F2` → `["F1", "F2"]`; no empty names.
pub(crate) fn parse_list(place: &Place, text: &str) -> Result<Vec<String>> {
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
pub(crate) fn parse_action(place: &Place, text: &str) -> Result<ConflictAction> {
    text.parse()
        .map_err(|m: String| place.error(m, Some(CONFLICT_ACTIONS)))
}

/// `KEY=VALUE` → (`KEY`, `VALUE`), split at the first `=`.
pub(crate) fn split_assignment<'t>(
    place: &Place,
    text: &'t str,
    form: &str,
) -> Result<(&'t str, &'t str)> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim(), v)),
        _ => Err(place.error(format!("`{text}` is not of the form {form}"), Some(form))),
    }
}

/// `KEY.FIELD` → (`KEY`, `FIELD`), split at the last `.`.
pub(crate) fn split_key_field<'t>(
    place: &Place,
    text: &'t str,
    form: &str,
) -> Result<(&'t str, &'t str)> {
    match text.rsplit_once('.') {
        Some((k, f)) if !k.is_empty() && !f.is_empty() => Ok((k, f)),
        _ => Err(place.error(format!("`{text}` is not of the form {form}"), Some(form))),
    }
}

/// A JSON value given on the command line.
pub(crate) fn parse_json(place: &Place, text: &str) -> Result<J> {
    serde_json::from_str(text.trim()).map_err(|e| {
        place.error(
            format!("`{text}` is not a JSON value ({e})"),
            Some("a JSON value: a string needs its quotes, e.g. '\"Anonymous\"'"),
        )
    })
}

/// A placeholder value given on the command line: `now()` or JSON.
pub(crate) fn parse_placeholder(place: &Place, text: &str) -> Result<Placeholder> {
    if text.trim() == "now()" {
        Ok(Placeholder::Now)
    } else {
        parse_json(place, text).map(Placeholder::Value)
    }
}

// ---------------------------------------------------------------------------------------
// TOML shapes of the same values (the schema file).

pub(crate) fn type_error(place: &Place, expected: &str, value: &toml::Value) -> Error {
    place.error(
        format!("expected {expected}, got {} `{value}`", value.type_str()),
        None,
    )
}

pub(crate) fn toml_str<'v>(place: &Place, value: &'v toml::Value) -> Result<&'v str> {
    value
        .as_str()
        .ok_or_else(|| type_error(place, "a string", value))
}

pub(crate) fn toml_bool(place: &Place, value: &toml::Value) -> Result<bool> {
    value
        .as_bool()
        .ok_or_else(|| type_error(place, "true or false", value))
}

pub(crate) fn toml_positive(place: &Place, value: &toml::Value) -> Result<usize> {
    match value {
        toml::Value::Integer(n) => parse_positive(place, &n.to_string()),
        other => Err(type_error(place, "a whole number ≥ 1", other)),
    }
}

/// A timeout in TOML: a number of seconds (integer or float), or the string `"infinity"`.
pub(crate) fn toml_seconds(place: &Place, value: &toml::Value) -> Result<Option<Duration>> {
    match value {
        toml::Value::Integer(n) => parse_seconds(place, &n.to_string()),
        toml::Value::Float(f) => parse_seconds(place, &f.to_string()),
        toml::Value::String(s) if s == "infinity" => Ok(None),
        other => Err(type_error(place, TIMEOUT_VALUES, other)),
    }
}

/// A connect timeout in TOML: a number of seconds (integer or float); `"infinity"` is refused.
pub(crate) fn toml_finite_seconds(place: &Place, value: &toml::Value) -> Result<Duration> {
    match value {
        toml::Value::Integer(n) => parse_finite_seconds(place, &n.to_string()),
        toml::Value::Float(f) => parse_finite_seconds(place, &f.to_string()),
        toml::Value::String(s) if s == "infinity" => parse_finite_seconds(place, s),
        other => Err(type_error(place, CONNECT_TIMEOUT_VALUES, other)),
    }
}

/// A size in TOML: a whole number of bytes, or a string with a unit (`"64MiB"`).
pub(crate) fn toml_bytes(place: &Place, value: &toml::Value) -> Result<usize> {
    match value {
        toml::Value::Integer(n) => parse_bytes(place, &n.to_string()),
        toml::Value::String(s) => parse_bytes(place, s),
        other => Err(type_error(place, BYTES_VALUES, other)),
    }
}

pub(crate) fn toml_table<'v>(place: &Place, value: &'v toml::Value) -> Result<&'v toml::Table> {
    value
        .as_table()
        .ok_or_else(|| type_error(place, "a table", value))
}

/// A list of names: an array of strings, or the CLI's `"F1,F2"`.
pub(crate) fn toml_list(place: &Place, value: &toml::Value) -> Result<Vec<String>> {
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
pub(crate) fn toml_nested<'v>(
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

/// A TOML value as JSON (dates and times become their ISO 8601 text); a float that JSON cannot
/// hold (NaN, infinity) is an error at `place`, as it is in the schema file's values.
pub(crate) fn toml_to_json(place: &Place, value: &toml::Value) -> Result<J> {
    crate::schema::toml_to_json(value)
        .map_err(|f| place.error(format!("{f} cannot be represented in JSON"), None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::layer::{Given, Layer};
    use crate::plan::ConflictAction;

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
    fn max_skipped_is_a_count_or_a_percentage() {
        let p = Place::flag("--max-skipped");
        assert_eq!(parse_max_skipped(&p, "0").ok(), Some(MaxSkipped::Items(0)));
        assert_eq!(
            parse_max_skipped(&p, "12").ok(),
            Some(MaxSkipped::Items(12))
        );
        assert_eq!(
            parse_max_skipped(&p, "2.5%").ok(),
            Some(MaxSkipped::Percent(2.5))
        );
        for bad in ["-1", "ten", "", "101%", "1.5", "%"] {
            let e = parse_max_skipped(&p, bad).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains("`--max-skipped`"), "{e}");
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
            toml_to_json(&Place::flag("x"), &toml::Value::Table(v)).ok(),
            Some(serde_json::json!({"d": "2024-01-02T03:04:05Z", "n": [1, 2.5]}))
        );
    }
}
