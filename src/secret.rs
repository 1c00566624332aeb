//! [`Secret`]: a secret setting, held so that it never prints and does not outlive its holder.

use std::fmt;

use secrecy::zeroize::Zeroize;
use secrecy::{ExposeSecret, SecretString};

/// A secret setting: `GUARD_INTROSPECTION_CLIENT_SECRET`, `GUARD_CACHE_SECRET`,
/// `GUARD_ADMIN_TOKEN`, and `GUARD_REDIS_URL` (it may carry a password) in a
/// [`GuardConfig`](crate::GuardConfig); the client secret of a
/// [`ClientAuth`](crate::verify::ClientAuth) and of the token client's `TokenSource` (feature
/// `client`).
///
/// * `Debug` prints `[redacted]`, and there is no `Display`: the value cannot end up in a log
///   line or a message by formatting.
/// * Its bytes are overwritten with zeros when it is dropped (held in a `secrecy` box), and
///   [`new`](Self::new) wipes the `String` it is given. Clones are wiped in the same way.
/// * The value is read only through [`expose_secret`](Self::expose_secret): no `Deref`,
///   `AsRef` or `Into<String>`, so each place that reads it says so.
/// * Two secrets compare equal in time independent of where they differ (equal lengths).
///
/// ```compile_fail
/// let secret = bearer_guard::Secret::new("s3cret".to_owned());
/// let shown = format!("{secret}"); // no `Display`
/// ```
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Takes `value` over. Its heap buffer becomes the secret's when it has no spare capacity;
    /// otherwise the value is copied into an exact-size one and `value`'s buffer is wiped, so
    /// no unwiped copy is left behind.
    pub fn new(mut value: String) -> Self {
        let boxed: Box<str> = if value.len() == value.capacity() {
            value.into_boxed_str()
        } else {
            let exact = Box::<str>::from(value.as_str());
            value.zeroize();
            exact
        };
        Secret(SecretString::from(boxed))
    }

    /// A secret from the trimmed `value` (a URL read from the environment); `value` is wiped.
    pub(crate) fn trimmed(mut value: String) -> Self {
        let secret = Secret::new(value.trim().to_owned());
        value.zeroize();
        secret
    }

    /// The value, for the one place that uses it. Do not keep a copy longer than that use.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

impl From<&String> for Secret {
    fn from(value: &String) -> Self {
        Secret::new(value.clone())
    }
}

impl From<Box<str>> for Secret {
    fn from(value: Box<str>) -> Self {
        Secret::new(value.into_string())
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            self.expose_secret().as_bytes(),
            other.expose_secret().as_bytes(),
        )
        .is_ok()
    }
}

impl Eq for Secret {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_the_value_is_read_only_by_expose_secret() {
        let mut spare = String::with_capacity(64);
        spare.push_str("s3cret-value with a trailing space ");
        for secret in [
            Secret::new(spare),
            Secret::from("s3cret-value with a trailing space "),
        ] {
            assert_eq!(format!("{secret:?}"), "[redacted]");
            assert_eq!(format!("{:?}", Some(secret.clone())), "Some([redacted])");
            assert_eq!(
                secret.expose_secret(),
                "s3cret-value with a trailing space "
            );
        }
        assert_eq!(
            Secret::trimmed("  redis://:pw@127.0.0.1:6379 \n".to_owned()).expose_secret(),
            "redis://:pw@127.0.0.1:6379"
        );
    }

    #[test]
    fn equal_only_for_the_same_value() {
        assert_eq!(Secret::from("same-value"), Secret::from("same-value"));
        assert_ne!(Secret::from("same-value"), Secret::from("same-valuE"));
        assert_ne!(Secret::from("same-value"), Secret::from("same-valu"));
    }
}
