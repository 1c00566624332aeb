//! The Bitrix24 answer parsers (`app.info`, `batch`): status + body bytes.
//!
//! Input: `[selector][status lo][status hi][body...]`; status = 100 + u16 % 900; selector bit 0
//! picks `batch` over `app.info`, bit 1 requires the application code `"acme"`. Checked against
//! an independent reading (every top-level member collected in order, duplicates kept): an
//! `error` of `expired_token` / `invalid_token` / `NO_AUTH_FOUND` with 2xx or 401 is "invalid",
//! any other `error` or a non-2xx status is "unavailable"; `app.info` is valid only with a
//! `result` object (and `CODE` equal to the code when required).
#![no_main]

use bearer_guard::fuzzing::{bitrix24_app_info, bitrix24_batch};
use bearer_guard_fuzz::unique_members;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The members after the `error` rule: `Err(verdict)` when the answer is decided already.
fn judged(status: u16, body: &[u8]) -> Result<Vec<(String, Value)>, &'static str> {
    let Some(members) = unique_members(body) else {
        return Err("unavailable");
    };
    let success = (200..300).contains(&status);
    if let Some((_, error)) = members.iter().find(|(n, _)| n == "error") {
        let token_error = matches!(
            error.as_str(),
            Some("expired_token" | "invalid_token" | "NO_AUTH_FOUND")
        );
        return Err(if token_error && (success || status == 401) {
            "invalid"
        } else {
            "unavailable"
        });
    }
    if !success {
        return Err("unavailable");
    }
    Ok(members)
}

fn result_of(members: Vec<(String, Value)>) -> Option<serde_json::Map<String, Value>> {
    match members.into_iter().find(|(n, _)| n == "result") {
        Some((_, Value::Object(result))) => Some(result),
        _ => None,
    }
}

fn expected_app_info(status: u16, body: &[u8], code: Option<&str>) -> &'static str {
    let members = match judged(status, body) {
        Ok(members) => members,
        Err(verdict) => return verdict,
    };
    let Some(result) = result_of(members) else {
        return "unavailable";
    };
    match code {
        Some(code) if result.get("CODE").and_then(Value::as_str) != Some(code) => "invalid",
        _ => "valid",
    }
}

fn expected_batch(status: u16, body: &[u8]) -> Result<(String, Vec<String>), &'static str> {
    let members = judged(status, body)?;
    let outer = result_of(members).ok_or("unavailable")?;
    let errors_empty = match outer.get("result_error") {
        None => true,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    };
    if !errors_empty {
        return Err("unavailable");
    }
    let Some(Value::Object(inner)) = outer.get("result") else {
        return Err("unavailable");
    };
    let id = match inner.get("profile").and_then(|p| p.get("ID")) {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        _ => return Err("unavailable"),
    };
    let Some(Value::Array(items)) = inner.get("scope") else {
        return Err("unavailable");
    };
    let scopes: Option<Vec<String>> = items
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect();
    scopes.map(|s| (id, s)).ok_or("unavailable")
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let selector = data[0];
    let status = 100 + u16::from_le_bytes([data[1], data[2]]) % 900;
    let body = &data[3..];
    if selector & 1 == 1 {
        assert_eq!(
            bitrix24_batch(status, body),
            expected_batch(status, body),
            "status {status}"
        );
    } else {
        let code = (selector & 2 == 2).then_some("acme");
        assert_eq!(
            bitrix24_app_info(status, body, code),
            expected_app_info(status, body, code),
            "status {status}"
        );
    }
});
