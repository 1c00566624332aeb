//! The remote verifier's answer parser (crm-now `verifytoken`): status + body bytes.
//!
//! Input: `[status lo][status hi][body...]`; status = 100 + u16 % 900. Only a 2xx JSON object
//! with exactly one `result` member, the boolean `true`, may be "valid"; checked with an
//! independent reading (every top-level member collected in order, then counted).
#![no_main]

use bearer_guard::fuzzing::remote_answer;
use bearer_guard_fuzz::Members;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = 100 + u16::from_le_bytes([data[0], data[1]]) % 900;
    let body = &data[2..];
    let verdict = remote_answer(status, body);
    let success = (200..300).contains(&status);
    let client_error = (400..500).contains(&status);
    let result = match serde_json::from_slice::<Members>(body) {
        Ok(Members(members)) => {
            let mut results = members.into_iter().filter(|(name, _)| name == "result");
            match (results.next(), results.next()) {
                (Some((_, value)), None) => Some(value),
                _ => None,
            }
        }
        _ => None,
    };
    let expected = match result {
        Some(Value::Bool(true)) if success => "valid",
        Some(Value::Bool(false)) if success || client_error => "invalid",
        _ => "unavailable",
    };
    assert_eq!(verdict, expected, "status {status}");
});
