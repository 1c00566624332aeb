//! Reading a claims JSON object text without building a map: selected members' raw values,
//! the member names, the object check; and writing a map as that text.
//!
//! A name given twice counts with its last value, as when the text is parsed into a map
//! (serde_json keeps the last), so what is read here agrees with
//! [`Principal::claims`](crate::Principal::claims).

use std::fmt;

use serde::Deserializer as _;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::Claims;

/// `claims` as compact JSON text.
pub(super) fn to_json(claims: &Claims) -> Box<str> {
    // A map with string keys always serializes; `{}` would be the fail-safe text.
    serde_json::to_string(claims)
        .unwrap_or_else(|_| "{}".to_owned())
        .into_boxed_str()
}

/// Checks that `text` is one JSON object (whitespace around it allowed).
#[cfg(feature = "redis")]
pub(super) fn check_object(text: &str) -> Result<(), serde_json::Error> {
    members(text, []).map(|[]| ())
}

/// The raw values of the members of the JSON object `text` named `names` (`None`: absent),
/// each name's last; every other member is skipped unparsed (its syntax is still checked).
///
/// # Errors
/// When `text` is not one JSON object.
pub(super) fn members<'t, const N: usize>(
    text: &'t str,
    names: [&str; N],
) -> Result<[Option<&'t RawValue>; N], serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let found = (&mut deserializer).deserialize_map(FindMembers { names: &names })?;
    deserializer.end()?;
    Ok(found)
}

/// The member names of the JSON object `text`, in text order (empty when it is not one).
pub(super) fn names(text: &str) -> Vec<String> {
    serde_json::Deserializer::from_str(text)
        .deserialize_map(Names)
        .unwrap_or_default()
}

/// Visits a JSON object, keeping the raw values of the members named `names`.
struct FindMembers<'n, const N: usize> {
    names: &'n [&'n str; N],
}

impl<'de, const N: usize> Visitor<'de> for FindMembers<'_, N> {
    type Value = [Option<&'de RawValue>; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = [None; N];
        while let Some(wanted) = map.next_key_seed(WhichName { names: self.names })? {
            match wanted {
                Some(index) => found[index] = Some(map.next_value::<&'de RawValue>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

/// A member name, read as the index of the first of `names` it equals (`None`: none).
struct WhichName<'n, const N: usize> {
    names: &'n [&'n str; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for WhichName<'_, N> {
    type Value = Option<usize>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<const N: usize> Visitor<'_> for WhichName<'_, N> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self.names.iter().position(|wanted| *wanted == name))
    }
}

/// Visits a JSON object, keeping its member names.
struct Names;

impl<'de> Visitor<'de> for Names {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut names = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            names.push(name);
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_texts<const N: usize>(text: &str, names: [&str; N]) -> Option<[Option<String>; N]> {
        let found = members(text, names).ok()?;
        Some(found.map(|raw| raw.map(|raw| raw.get().to_owned())))
    }

    #[test]
    fn members_are_found_by_name_with_their_raw_value_and_the_last_one_counts() {
        let text = r#"{"a": 1, "b": {"x": [1, "y"]}, "c\u0041": "z", "a": "again"}"#;
        assert_eq!(
            raw_texts(text, ["a", "b", "cA", "missing"]),
            Some([
                Some(r#""again""#.to_owned()),
                Some(r#"{"x": [1, "y"]}"#.to_owned()),
                Some(r#""z""#.to_owned()),
                None,
            ])
        );
    }

    #[test]
    fn only_one_json_object_is_accepted() {
        for good in ["{}", " {\"a\":1} ", "{\"a\":[{}]}"] {
            assert!(members(good, []).is_ok(), "{good}");
        }
        for bad in [
            "",
            "[]",
            "1",
            "\"{}\"",
            "null",
            "{",
            "{}{}",
            "{} x",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":\"\\q\"}",
        ] {
            assert!(members(bad, []).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_listed_in_text_order() {
        assert_eq!(names(r#"{"z":1,"a":{"inner":2}}"#), ["z", "a"]);
        assert!(names("[1]").is_empty());
    }
}
