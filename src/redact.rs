//! URLs as logs and `Debug` show them: without user info, query or fragment, where a password,
//! an API key or a signed parameter may sit.

use url::Url;

/// `url` without user info, query or fragment.
pub(crate) fn redacted(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// A configured URL text for `Debug`: [`redacted`], marked when something was hidden;
/// `<unparsable URL>` for text that is no URL (it is not echoed: it may be a secret pasted
/// into the wrong variable).
pub(crate) fn redacted_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(parsed) => {
            let hidden = parsed.query().is_some()
                || parsed.fragment().is_some()
                || !parsed.username().is_empty()
                || parsed.password().is_some();
            let shown = redacted(&parsed);
            if hidden {
                format!("{shown} (parts redacted)")
            } else {
                shown
            }
        }
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_info_query_and_fragment_are_hidden_and_marked() {
        let shown = redacted_url("redis://user:hunter2@127.0.0.1:6379/0?key=s3cret#frag");
        assert_eq!(shown, "redis://127.0.0.1:6379/0 (parts redacted)");
        assert_eq!(
            redacted_url("https://crm.example/verify"),
            "https://crm.example/verify"
        );
        assert_eq!(redacted_url("hunter2 not a url"), "<unparsable URL>");
    }
}
