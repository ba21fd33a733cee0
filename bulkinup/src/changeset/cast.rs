//! Ecto's cast rules: from a JSON value to a typed [`Value`], or `Err(())` for `is invalid`.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SubsecRound, Timelike, Utc};
use rust_decimal::Decimal;
use serde_json::Value as J;
use uuid::Uuid;

use crate::schema::{FieldType, Value};

/// Casts one JSON value to `ty` following Ecto's rules. JSON `null` casts to
/// [`Value::Null`] for every type. The empty string is *not* turned into null here: that is
/// the changeset's job (it applies only to top-level attrs, as Ecto's `empty_values`).
pub(crate) fn cast_value(ty: &FieldType, v: &J) -> Result<Value, ()> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    match ty {
        FieldType::Id | FieldType::Integer => match v {
            J::Number(n) => n.as_i64().map(Value::Int).ok_or(()),
            J::String(s) => s.parse::<i64>().map(Value::Int).map_err(|_| ()),
            _ => Err(()),
        },
        FieldType::Float => match v {
            J::Number(n) => n.as_f64().map(Value::Float).ok_or(()),
            J::String(s) => match s.parse::<f64>() {
                Ok(f)
                    if f.is_finite()
                        && !s.contains(|c: char| {
                            c.is_ascii_alphabetic() && c != 'e' && c != 'E'
                        }) =>
                {
                    Ok(Value::Float(f))
                }
                _ => Err(()),
            },
            _ => Err(()),
        },
        FieldType::Decimal => match v {
            J::Number(n) => parse_decimal(&n.to_string()),
            J::String(s) => parse_decimal(s),
            _ => Err(()),
        },
        FieldType::Boolean => match v {
            J::Bool(b) => Ok(Value::Bool(*b)),
            J::String(s) => match s.as_str() {
                "true" | "1" => Ok(Value::Bool(true)),
                "false" | "0" => Ok(Value::Bool(false)),
                _ => Err(()),
            },
            _ => Err(()),
        },
        FieldType::String => match v {
            J::String(s) => Ok(Value::String(s.clone())),
            _ => Err(()),
        },
        FieldType::Binary => match v {
            J::String(s) => Ok(Value::Bytes(s.as_bytes().to_vec())),
            _ => Err(()),
        },
        FieldType::BinaryId => match v {
            J::String(s) if s.len() == 36 || s.len() == 32 => {
                Uuid::parse_str(s).map(Value::Uuid).map_err(|_| ())
            }
            _ => Err(()),
        },
        FieldType::Map => match v {
            J::Object(_) => Ok(Value::Json(v.clone())),
            _ => Err(()),
        },
        FieldType::Embed => Ok(Value::Json(v.clone())),
        FieldType::Array(inner) => match v {
            J::Array(items) => items
                .iter()
                .map(|item| cast_value(inner, item))
                .collect::<Result<Vec<_>, ()>>()
                .map(Value::Array),
            _ => Err(()),
        },
        FieldType::Date => match v {
            J::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Value::Date)
                .map_err(|_| ()),
            _ => Err(()),
        },
        FieldType::Time => match v {
            J::String(s) => NaiveTime::from_str(s)
                .map(|t| Value::Time(t.trunc_subsecs(0)))
                .map_err(|_| ()),
            _ => Err(()),
        },
        FieldType::NaiveDatetime | FieldType::NaiveDatetimeUsec => match v {
            J::String(s) => {
                let dt = parse_naive(s).ok_or(())?;
                Ok(Value::NaiveDateTime(truncate(
                    dt,
                    ty == &FieldType::NaiveDatetime,
                )))
            }
            _ => Err(()),
        },
        FieldType::UtcDatetime | FieldType::UtcDatetimeUsec => match v {
            J::String(s) => {
                let dt = match DateTime::parse_from_rfc3339(s) {
                    Ok(dt) => dt.with_timezone(&Utc),
                    // Ecto casts a date-time without offset to UTC as given.
                    Err(_) => parse_naive(s).ok_or(())?.and_utc(),
                };
                let secs = ty == &FieldType::UtcDatetime;
                Ok(Value::UtcDateTime(truncate(dt.naive_utc(), secs).and_utc()))
            }
            _ => Err(()),
        },
    }
}

fn parse_decimal(s: &str) -> Result<Value, ()> {
    Decimal::from_str(s)
        .or_else(|_| Decimal::from_scientific(s))
        .map(Value::Decimal)
        .map_err(|_| ())
}

/// ISO 8601 date-time with `T` or a space; an offset, if any, is ignored (as Elixir's
/// `NaiveDateTime.from_iso8601`).
fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.naive_local());
    }
    let s = s.replacen(' ', "T", 1);
    NaiveDateTime::from_str(&s).ok()
}

/// Seconds precision, or microseconds (the databases' own precision).
fn truncate(dt: NaiveDateTime, to_seconds: bool) -> NaiveDateTime {
    if to_seconds {
        dt.trunc_subsecs(0)
    } else {
        let micros = dt.nanosecond() / 1_000 * 1_000;
        dt.with_nanosecond(micros).unwrap_or(dt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(ty: &str, v: J) -> Value {
        cast_value(&ty.parse().unwrap(), &v).unwrap()
    }
    fn bad(ty: &str, v: J) {
        assert!(
            cast_value(&ty.parse().unwrap(), &v).is_err(),
            "{ty} {v} should be invalid"
        );
    }

    #[test]
    fn integers_accept_json_integers_and_integer_strings_only() {
        assert_eq!(ok("integer", json!(42)), Value::Int(42));
        assert_eq!(ok("id", json!("42")), Value::Int(42));
        bad("integer", json!(1.5));
        bad("integer", json!("4x"));
        bad("integer", json!(true));
    }

    #[test]
    fn floats_accept_numbers_and_numeric_strings() {
        assert_eq!(ok("float", json!(2)), Value::Float(2.0));
        assert_eq!(ok("float", json!("2.5")), Value::Float(2.5));
        bad("float", json!("NaN"));
        bad("float", json!("inf"));
        bad("float", json!([]));
    }

    #[test]
    fn booleans_accept_true_false_and_their_strings() {
        assert_eq!(ok("boolean", json!("1")), Value::Bool(true));
        assert_eq!(ok("boolean", json!("false")), Value::Bool(false));
        bad("boolean", json!("yes"));
        bad("boolean", json!(1));
    }

    #[test]
    fn strings_accept_strings_only() {
        assert_eq!(ok("string", json!("a")), Value::String("a".into()));
        bad("string", json!(1));
    }

    #[test]
    fn decimals_keep_exact_digits() {
        assert_eq!(ok("decimal", json!("1.10")).to_json(), json!("1.10"));
        assert_eq!(ok("decimal", json!(3)).to_json(), json!("3"));
        bad("decimal", json!("x"));
    }

    #[test]
    fn datetimes_follow_ecto_precision() {
        assert_eq!(
            ok("utc_datetime", json!("2024-01-02T03:04:05.678+01:00")).to_json(),
            json!("2024-01-02T02:04:05Z")
        );
        assert_eq!(
            ok("utc_datetime_usec", json!("2024-01-02 03:04:05.678901234")).to_json(),
            json!("2024-01-02T03:04:05.678901Z")
        );
        assert_eq!(
            ok("naive_datetime", json!("2024-01-02T03:04:05.5")).to_json(),
            json!("2024-01-02T03:04:05")
        );
        assert_eq!(
            ok("date", json!("2024-02-29")).to_json(),
            json!("2024-02-29")
        );
        assert_eq!(ok("time", json!("10:11:12.5")).to_json(), json!("10:11:12"));
        bad("date", json!("2023-02-29"));
        bad("utc_datetime", json!("yesterday"));
    }

    #[test]
    fn uuids_maps_and_arrays() {
        let u = "6f9619ff-8b86-d011-b42d-00cf4fc964ff";
        assert_eq!(ok("binary_id", json!(u)).to_json(), json!(u));
        bad("binary_id", json!("xyz"));
        assert_eq!(ok("map", json!({"a": 1})), Value::Json(json!({"a": 1})));
        bad("map", json!([1]));
        assert_eq!(
            ok("array:integer", json!([1, "2", null])),
            Value::Array(vec![Value::Int(1), Value::Int(2), Value::Null])
        );
        bad("array:integer", json!([1, "x"]));
    }
}
