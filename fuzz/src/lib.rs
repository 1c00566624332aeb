//! The fuzz targets' own reading of a JSON answer, independent of the crate's parsers: every
//! top-level member of an object collected in order, duplicates kept, so that a target can
//! check what the crate decides about a repeated name.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// Every top-level member of a JSON object, in order, duplicates kept.
#[derive(Debug)]
pub struct Members(pub Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct All;
        impl<'de> Visitor<'de> for All {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut all = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    all.push(entry);
                }
                Ok(Members(all))
            }
        }
        deserializer.deserialize_map(All)
    }
}

/// The members of `body` when it is a UTF-8 JSON object whose member names are unique.
pub fn unique_members(body: &[u8]) -> Option<Vec<(String, Value)>> {
    let text = std::str::from_utf8(body).ok()?;
    let Members(members) = serde_json::from_str::<Members>(text).ok()?;
    let mut names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return None;
    }
    Some(members)
}
