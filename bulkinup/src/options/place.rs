//! Where an option value came from — a command-line flag, or a key of the schema file with
//! its position — and the errors named by that place.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::error::Error;

/// Where an option value came from: a flag, or a key of the schema file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// `--chunk-size`, or the key path `options.upsert.chunk_size`.
    name: String,
    /// The schema file, for a key of it.
    file: Option<String>,
    /// `FILE:LINE:COLUMN` of a key of the schema file, when known.
    location: Option<String>,
    /// The positions of every key of the file's `[options]`, for the places inside this one.
    locations: Option<Arc<BTreeMap<String, String>>>,
}

impl Place {
    /// A command-line flag (`--chunk-size`).
    pub fn flag(name: &str) -> Place {
        Place {
            name: name.to_string(),
            file: None,
            location: None,
            locations: None,
        }
    }

    /// A key (path) of the schema file, with its `FILE:LINE:COLUMN` when known.
    pub fn key(file: &str, path: &str, location: Option<String>) -> Place {
        Place {
            name: path.to_string(),
            file: Some(file.to_string()),
            location,
            locations: None,
        }
    }

    /// A key (path) of the schema file, its position (and those of the keys inside it) read
    /// from `locations`.
    pub fn key_in(file: &str, path: &str, locations: &Arc<BTreeMap<String, String>>) -> Place {
        Place {
            location: locations.get(path).cloned(),
            locations: Some(Arc::clone(locations)),
            ..Place::key(file, path, None)
        }
    }

    /// The name the place is known by: the flag, or the key path.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The place of `key` inside this one (a sub-key of a file table; a flag stays itself).
    /// Its position is its own when the file's positions have it, else the parent's.
    pub(crate) fn child(&self, key: &str) -> Place {
        match &self.file {
            Some(_) => {
                let name = format!("{}.{key}", self.name);
                let location = self
                    .locations
                    .as_ref()
                    .and_then(|l| l.get(&name).cloned())
                    .or_else(|| self.location.clone());
                Place {
                    name,
                    file: self.file.clone(),
                    location,
                    locations: self.locations.clone(),
                }
            }
            None => self.clone(),
        }
    }

    /// An option error at this place: [`Error::InvalidOption`] named by the flag or the key,
    /// with the file and position of a key.
    pub fn error(&self, message: impl fmt::Display, valid: Option<&str>) -> Error {
        let message = match (&self.file, &self.location) {
            (Some(_), Some(at)) => format!("{message} (at {at} in the schema file)"),
            (Some(file), None) => format!("{message} (in the schema file `{file}`)"),
            _ => message.to_string(),
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
