//! The RFC 7662 introspection answer parser: status + body bytes.
//!
//! Input: `[status lo][status hi][body...]`; status = 100 + u16 % 900. Checked against an
//! independent reading (every top-level member collected in order, duplicates kept): only a
//! 2xx UTF-8 JSON object with unique member names, `active` the boolean `true`, `exp` (if
//! present) a number after "now", and `token_type` (if present) `access_token` / `Bearer` in
//! any case may be "valid"; its subject is `sub` else `username`, its scopes `scope` split.
#![no_main]

use bearer_guard::fuzzing::{INTROSPECTION_NOW, introspection_answer};
use libfuzzer_sys::fuzz_target;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// Every top-level member of a JSON object, in order, duplicates kept.
struct Members(Vec<(String, Value)>);

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

fn expected(status: u16, body: &[u8]) -> (&'static str, Option<(Option<String>, Vec<String>)>) {
    const NO: (&str, Option<(Option<String>, Vec<String>)>) = ("unavailable", None);
    if !(200..300).contains(&status) || std::str::from_utf8(body).is_err() {
        return NO;
    }
    let Ok(Members(members)) = serde_json::from_slice::<Members>(body) else {
        return NO;
    };
    let mut names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return NO;
    }
    let get = |name: &str| members.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    match get("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return ("invalid", None),
        _ => return NO,
    }
    match get("exp") {
        None => {}
        Some(Value::Number(n)) => match n.as_f64() {
            Some(exp) if exp > INTROSPECTION_NOW => {}
            Some(_) => return ("invalid", None),
            None => return NO,
        },
        Some(_) => return NO,
    }
    match get("token_type") {
        None => {}
        Some(Value::String(t)) => {
            let t = t.to_ascii_lowercase();
            if t != "access_token" && t != "bearer" {
                return ("invalid", None);
            }
        }
        Some(_) => return NO,
    }
    let subject = match (get("sub"), get("username")) {
        (Some(Value::String(s)), _) => Some(s.clone()),
        (_, Some(Value::String(u))) => Some(u.clone()),
        _ => None,
    };
    let scopes = match get("scope") {
        Some(Value::String(s)) => s.split_ascii_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    ("valid", Some((subject, scopes)))
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = 100 + u16::from_le_bytes([data[0], data[1]]) % 900;
    let body = &data[2..];
    assert_eq!(
        introspection_answer(status, body),
        expected(status, body),
        "status {status}"
    );
});
