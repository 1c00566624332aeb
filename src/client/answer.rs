//! Reading a token endpoint's answer: the access token answer (RFC 6749 §5.1) and the `error`
//! code of an error answer (§5.2). Nothing read here ever reaches an error message but the
//! name of what is wrong.

use std::time::Duration;

use serde_json::Value;

use crate::extract::is_b64token;
use crate::verify::upstream::{Members, members};

/// A usable token answer.
pub(crate) struct TokenAnswer {
    /// The access token: a non-empty RFC 6750 `b64token`.
    pub(crate) access_token: String,
    /// `expires_in`, when the answer has it (never zero).
    pub(crate) expires_in: Option<Duration>,
    /// `scope`, when the answer has it.
    pub(crate) scope: Option<String>,
}

/// Reads a 2xx answer: one JSON object (member names unique) with a non-empty `b64token`
/// `access_token`, `token_type` `Bearer` in any case (RFC 6749 §5.1 makes it required and
/// case-insensitive), `expires_in` (optional) a positive integer — as a number or, as some
/// servers send it, a string of digits — and `scope` (optional) a string. Other members are
/// ignored.
///
/// # Errors
/// What is wrong, in words that quote nothing from the body.
pub(crate) fn token_answer(body: &[u8]) -> Result<TokenAnswer, &'static str> {
    let object = match members(body) {
        None => return Err("not a JSON object"),
        Some(Members::Repeated) => return Err("a member appears twice"),
        Some(Members::Unique(object)) => object,
    };
    let access_token = match object.get("access_token") {
        None => return Err("access_token is missing"),
        Some(Value::String(token)) if token.is_empty() => return Err("access_token is empty"),
        Some(Value::String(token)) if !is_b64token(token.as_bytes()) => {
            return Err("access_token is not an RFC 6750 b64token");
        }
        Some(Value::String(token)) => token.clone(),
        Some(_) => return Err("access_token is not a string"),
    };
    match object.get("token_type") {
        None => return Err("token_type is missing"),
        Some(Value::String(kind)) if kind.eq_ignore_ascii_case("bearer") => {}
        Some(Value::String(_)) => return Err("token_type is not Bearer"),
        Some(_) => return Err("token_type is not a string"),
    }
    let expires_in = match object.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(number)) => Some(
            number
                .as_u64()
                .ok_or("expires_in is not a whole number of seconds")?,
        ),
        Some(Value::String(text))
            if !text.is_empty() && text.len() <= 12 && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(
                text.parse::<u64>()
                    .map_err(|_| "expires_in is not a number")?,
            )
        }
        Some(_) => return Err("expires_in is not a number"),
    };
    if expires_in == Some(0) {
        return Err("expires_in is 0: the token is already expired");
    }
    let scope = match object.get("scope") {
        None | Some(Value::Null) => None,
        Some(Value::String(scope)) => Some(scope.clone()),
        Some(_) => return Err("scope is not a string"),
    };
    Ok(TokenAnswer {
        access_token,
        expires_in: expires_in.map(Duration::from_secs),
        scope,
    })
}

/// The `error` code of an error answer (RFC 6749 §5.2), if it is a short word of
/// `[A-Za-z0-9_.-]`: anything else (a sentence, markup, a reflected input) is dropped, so an
/// error message never carries text the server chose freely.
pub(crate) fn error_code(body: &[u8]) -> Option<String> {
    let Some(Members::Unique(object)) = members(body) else {
        return None;
    };
    let code = object.get("error")?.as_str()?;
    let plain = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    plain.then(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_answers_are_read() {
        // crm-now, SuiteCRM (no scope), a string expires_in, a lower-case token_type.
        let crm_now = token_answer(
            br#"{"access_token":"eyJ.a-b_c~d+e/f==","expires_in":300,"refresh_expires_in":0,"token_type":"Bearer","scope":"realm profile email"}"#,
        )
        .unwrap();
        assert_eq!(crm_now.access_token, "eyJ.a-b_c~d+e/f==");
        assert_eq!(crm_now.expires_in, Some(Duration::from_secs(300)));
        assert_eq!(crm_now.scope.as_deref(), Some("realm profile email"));
        let suite =
            token_answer(br#"{"token_type":"Bearer","expires_in":3600,"access_token":"t"}"#)
                .unwrap();
        assert_eq!(suite.scope, None);
        let text = token_answer(br#"{"token_type":"bearer","expires_in":"60","access_token":"t"}"#)
            .unwrap();
        assert_eq!(text.expires_in, Some(Duration::from_secs(60)));
        let none = token_answer(br#"{"token_type":"BEARER","access_token":"t"}"#).unwrap();
        assert_eq!(none.expires_in, None);
    }

    #[test]
    fn unusable_answers_say_why_without_quoting_them() {
        let cases: [(&[u8], &str); 13] = [
            (b"<html>secret-abc</html>", "not a JSON object"),
            (br#"{"access_token": "secret-ab"#, "not a JSON object"),
            (br#"["secret-abc"]"#, "not a JSON object"),
            (
                br#"{"access_token":"secret-abc","access_token":"x","token_type":"Bearer"}"#,
                "a member appears twice",
            ),
            (br#"{"token_type":"Bearer"}"#, "access_token is missing"),
            (
                br#"{"access_token":"","token_type":"Bearer"}"#,
                "access_token is empty",
            ),
            (
                br#"{"access_token":"secret abc","token_type":"Bearer"}"#,
                "access_token is not an RFC 6750 b64token",
            ),
            (
                br#"{"access_token":1,"token_type":"Bearer"}"#,
                "access_token is not a string",
            ),
            (
                br#"{"access_token":"secret-abc","token_type":"mac"}"#,
                "token_type is not Bearer",
            ),
            (br#"{"access_token":"secret-abc"}"#, "token_type is missing"),
            (
                br#"{"access_token":"secret-abc","token_type":"Bearer","expires_in":"soon"}"#,
                "expires_in is not a number",
            ),
            (
                br#"{"access_token":"secret-abc","token_type":"Bearer","expires_in":-5}"#,
                "expires_in is not a whole number of seconds",
            ),
            (
                br#"{"access_token":"secret-abc","token_type":"Bearer","expires_in":0}"#,
                "expires_in is 0: the token is already expired",
            ),
        ];
        for (body, expected) in cases {
            let problem = token_answer(body).err().unwrap();
            assert_eq!(problem, expected, "{}", String::from_utf8_lossy(body));
            assert!(!problem.contains("secret"));
        }
    }

    #[test]
    fn only_plain_error_codes_are_kept() {
        assert_eq!(
            error_code(br#"{"error":"invalid_client","error_description":"bad"}"#).as_deref(),
            Some("invalid_client")
        );
        for body in [
            &br#"{"error":"<script>"}"#[..],
            br#"{"error":"wrong secret s3cr3t given"}"#,
            br#"{"error":1}"#,
            b"Unauthorized",
        ] {
            assert_eq!(error_code(body), None);
        }
    }
}
