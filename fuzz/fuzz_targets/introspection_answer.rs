//! The RFC 7662 introspection answer parser: status + body bytes.
//!
//! Input: `[status lo][status hi][body...]`; status = 100 + u16 % 900. Checked against an
//! independent reading (every top-level member collected in order, duplicates kept): only a
//! 2xx UTF-8 JSON object with unique member names, `active` the boolean `true`, `sub` (if
//! present) a string, `username` and `scope` (if present) strings or `null`, `exp` (if present) a number after "now", and
//! `token_type` (if present) `access_token` / `Bearer` in any case may be "valid"; its subject
//! is `sub` else `username`, its scopes `scope` split.
#![no_main]

use bearer_guard::fuzzing::{INTROSPECTION_NOW, introspection_answer};
use bearer_guard_fuzz::unique_members;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn expected(status: u16, body: &[u8]) -> (&'static str, Option<(Option<String>, Vec<String>)>) {
    const NO: (&str, Option<(Option<String>, Vec<String>)>) = ("unavailable", None);
    if !(200..300).contains(&status) {
        return NO;
    }
    let Some(members) = unique_members(body) else {
        return NO;
    };
    let get = |name: &str| members.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    match get("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return ("invalid", None),
        _ => return NO,
    }
    if matches!(get("sub"), Some(value) if !value.is_string()) {
        return NO;
    }
    for name in ["username", "scope"] {
        if matches!(get(name), Some(value) if !value.is_string() && !value.is_null()) {
            return NO;
        }
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
