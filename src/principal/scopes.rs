//! A principal's scopes: kept as one space-separated string, read through [`Scopes`].

use std::fmt;
use std::iter::FusedIterator;

use serde_json::Value;

/// The scopes of a [`Principal`](crate::Principal), in the order the token lists them:
/// [`Principal::scopes`](crate::Principal::scopes).
#[derive(Clone)]
pub struct Scopes<'a> {
    /// What is left: empty, or scopes joined by single spaces, none empty.
    rest: &'a str,
}

impl<'a> Scopes<'a> {
    /// `joined` must come from [`join`] or [`from_claim`].
    pub(super) fn new(joined: &'a str) -> Self {
        Scopes { rest: joined }
    }
}

impl<'a> Iterator for Scopes<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        match self.rest.split_once(' ') {
            Some((first, rest)) => {
                self.rest = rest;
                Some(first)
            }
            None => Some(std::mem::take(&mut self.rest)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Each scope takes at least one byte and all but the last a space.
        let len = self.rest.len();
        (usize::from(len > 0), Some(len.div_ceil(2)))
    }
}

impl<'a> DoubleEndedIterator for Scopes<'a> {
    fn next_back(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() {
            return None;
        }
        match self.rest.rsplit_once(' ') {
            Some((rest, last)) => {
                self.rest = rest;
                Some(last)
            }
            None => Some(std::mem::take(&mut self.rest)),
        }
    }
}

impl FusedIterator for Scopes<'_> {}

impl fmt::Debug for Scopes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// Whether `scope` can be kept: not empty, no space (RFC 6749 §3.3: scope-tokens are
/// separated by spaces and cannot contain one).
fn keepable(scope: &str) -> bool {
    !scope.is_empty() && !scope.contains(' ')
}

/// `scopes` joined with single spaces, without those that are empty or contain a space.
pub(super) fn join<I>(scopes: I) -> Box<str>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    let mut joined = String::new();
    for scope in scopes {
        let scope = scope.as_ref();
        if keepable(scope) {
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(scope);
        }
    }
    joined.into_boxed_str()
}

/// The scopes in a claim's value: a string splits at ASCII whitespace, an array gives its
/// string items (without those [`join`] leaves out); anything else gives none.
pub(super) fn from_claim(value: Option<&Value>) -> Box<str> {
    match value {
        Some(Value::String(list)) => join(list.split_ascii_whitespace()),
        Some(Value::Array(items)) => join(items.iter().filter_map(Value::as_str)),
        _ => "".into(),
    }
}
