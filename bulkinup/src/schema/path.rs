//! Field paths (`from = "name.common"`): where in an item's attrs a field's value is read.
//!
//! Two spellings, both resolved to one JSON Pointer (RFC 6901) when the registry is built:
//!
//! - a **dot path**, `name.common` or `latlng.0`: the segments are object keys, and a segment
//!   of digits is also an array index (`0` is the first element). A key that itself holds a
//!   `.` needs the pointer spelling.
//! - a **JSON Pointer**, when the path starts with `/`: `/name/common`, `/latlng/0`, with `~1`
//!   for a `/` and `~0` for a `~` inside a key (`/a~1b` is the key `a/b`).
//!
//! The value is looked up with [`serde_json::Value::pointer`]; a path that leads nowhere (a
//! missing key, an index past the end, a scalar on the way) gives no value: the field is
//! absent from the attrs, as a missing key is.

/// A field path resolved to a JSON Pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldPath {
    pointer: String,
}

impl FieldPath {
    /// Parses a dot path or a JSON Pointer.
    ///
    /// # Errors
    /// A message saying what is wrong: an empty path, an empty segment of a dot path
    /// (`a..b`, `.a`, `a.`), or a `~` in a pointer not followed by `0` or `1`.
    pub(crate) fn parse(path: &str) -> Result<FieldPath, String> {
        if path.is_empty() {
            return Err("a field path may not be empty (a dot path such as `name.common`, or a JSON Pointer such as `/name/common`)".into());
        }
        if path.starts_with('/') {
            let mut chars = path.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                if c == '~' && !matches!(chars.peek(), Some((_, '0' | '1'))) {
                    return Err(format!(
                        "invalid JSON Pointer `{path}`: `~` at byte {i} must be followed by `0` (for `~`) or `1` (for `/`)"
                    ));
                }
            }
            return Ok(FieldPath {
                pointer: path.to_string(),
            });
        }
        let mut pointer = String::with_capacity(path.len() + 1);
        for (n, segment) in path.split('.').enumerate() {
            if segment.is_empty() {
                return Err(format!(
                    "invalid field path `{path}`: segment {} is empty (write `a.b.0`; a key holding a `.` needs a JSON Pointer, `/a.b`)",
                    n + 1
                ));
            }
            pointer.push('/');
            for c in segment.chars() {
                match c {
                    '~' => pointer.push_str("~0"),
                    '/' => pointer.push_str("~1"),
                    c => pointer.push(c),
                }
            }
        }
        Ok(FieldPath { pointer })
    }

    /// The value at this path of `attrs`, if there is one.
    pub(crate) fn read<'a>(&self, attrs: &'a serde_json::Value) -> Option<&'a serde_json::Value> {
        attrs.pointer(&self.pointer)
    }

    /// The path as a JSON Pointer.
    pub(crate) fn pointer(&self) -> &str {
        &self.pointer
    }
}

#[cfg(test)]
mod tests {
    use super::FieldPath;
    use serde_json::json;

    fn read(path: &str, attrs: &serde_json::Value) -> Option<serde_json::Value> {
        FieldPath::parse(path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .read(attrs)
            .cloned()
    }

    #[test]
    fn dot_paths_read_nested_keys_and_array_indexes() {
        let attrs =
            json!({"name": {"common": "Aruba"}, "latlng": [12.5, -69.96], "a/b": {"~c": 1}});
        assert_eq!(read("name.common", &attrs), Some(json!("Aruba")));
        assert_eq!(read("latlng.0", &attrs), Some(json!(12.5)));
        assert_eq!(read("latlng.1", &attrs), Some(json!(-69.96)));
        assert_eq!(read("a/b.~c", &attrs), Some(json!(1)));
        assert_eq!(read("name", &attrs), Some(json!({"common": "Aruba"})));
    }

    #[test]
    fn a_digit_segment_is_a_key_of_an_object() {
        assert_eq!(
            read("codes.0", &json!({"codes": {"0": "x"}})),
            Some(json!("x"))
        );
    }

    #[test]
    fn json_pointers_read_with_their_escapes() {
        let attrs = json!({"name": {"common": "Aruba"}, "a/b": 1, "a.b": 2, "m~n": 3});
        assert_eq!(read("/name/common", &attrs), Some(json!("Aruba")));
        assert_eq!(read("/a~1b", &attrs), Some(json!(1)));
        assert_eq!(read("/a.b", &attrs), Some(json!(2)));
        assert_eq!(read("/m~0n", &attrs), Some(json!(3)));
    }

    #[test]
    fn a_path_that_leads_nowhere_gives_no_value() {
        let attrs = json!({"name": "Aruba", "latlng": [1.0]});
        assert_eq!(read("name.common", &attrs), None);
        assert_eq!(read("latlng.5", &attrs), None);
        assert_eq!(read("latlng.01", &attrs), None);
        assert_eq!(read("missing", &attrs), None);
        assert_eq!(read("/missing/x", &attrs), None);
    }

    #[test]
    fn invalid_paths_say_what_is_wrong() {
        for (path, says) in [
            ("", "may not be empty"),
            ("a..b", "segment 2 is empty"),
            (".a", "segment 1 is empty"),
            ("a.", "segment 2 is empty"),
            ("/a~2", "must be followed by `0`"),
            ("/a~", "must be followed by `0`"),
        ] {
            let e = FieldPath::parse(path).expect_err(path);
            assert!(e.contains(says), "{path}: {e}");
        }
    }
}
