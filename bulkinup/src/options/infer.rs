//! The options of schema inference from data ([`infer_from_data`](crate::catalog::infer_from_data)).

use super::value::parse_positive;
use super::{DEFAULT_MAX_ITEM_BYTES, Place};
use crate::error::{Error, Result};

/// How [`infer_from_data`](crate::catalog::infer_from_data) reads the items and shapes the
/// schema file it writes.
///
/// ```
/// use bulkinup::InferOptions;
/// let options = InferOptions::from_flags(Some("Feed".into()), Some("500"), true, false)?;
/// assert_eq!(options.sample, Some(500));
/// assert!(options.flatten && !options.keyed);
/// let err = InferOptions::from_flags(None, Some("0"), false, false).unwrap_err();
/// assert!(err.to_string().contains("--sample"), "{err}");
/// # Ok::<(), bulkinup::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InferOptions {
    /// The root schema's name; `None`: the CamelCase singular of the first file's stem
    /// (`countries.ndjson` → `Country`), `Item` for standard input.
    pub root: Option<String>,
    /// Read only the first N items (`None`: every item).
    pub sample: Option<usize>,
    /// Nested objects become flattened columns (`name_common` with `from = "name.common"`)
    /// rather than embedded schemas.
    pub flatten: bool,
    /// Code-keyed objects become keyed children (`has_many` with `keyed_by`) rather than
    /// `map` fields.
    pub keyed: bool,
    /// The longest item read, in bytes (as the `max_item_bytes` option of a write).
    pub max_item_bytes: usize,
}

impl Default for InferOptions {
    fn default() -> Self {
        InferOptions {
            root: None,
            sample: None,
            flatten: false,
            keyed: false,
            max_item_bytes: DEFAULT_MAX_ITEM_BYTES,
        }
    }
}

impl InferOptions {
    /// The options of the command line's `schema infer --from-data`: `sample` is the text of
    /// `--sample` (a whole number ≥ 1).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `--sample`, or `--root` when it is empty.
    pub fn from_flags(
        root: Option<String>,
        sample: Option<&str>,
        flatten: bool,
        keyed: bool,
    ) -> Result<InferOptions> {
        if root.as_deref().is_some_and(|r| r.trim().is_empty()) {
            return Err(Error::option(
                "--root",
                "the root schema's name is empty",
                None,
            ));
        }
        let sample = sample
            .map(|text| parse_positive(&Place::flag("--sample"), text))
            .transpose()?;
        Ok(InferOptions {
            root,
            sample,
            flatten,
            keyed,
            ..InferOptions::default()
        })
    }
}
