//! The rules file (`GUARD_RULES`): which routes are public, which need which scopes, and what
//! happens to a route no rule names.
//!
//! ```toml
//! default = "deny"            # no rule matched: 403 (or "authenticated": any valid token)
//!
//! [[rule]]
//! path = "/health"            # a prefix that matches at a `/` boundary
//! public = true               # 200 without a token, no X-Auth-* headers
//!
//! [[rule]]
//! name = "read records"       # optional, shown in the decision log (else the rule's number)
//! path = "/records"
//! methods = ["GET", "HEAD"]   # upper case; leave out for every method
//! scopes_any = ["read"]       # or scopes_all = [...]; neither: any valid token
//!
//! [[rule]]
//! path = "/records/export"
//! exact = true                # only this path, not /records/export/x
//! scopes_all = ["read", "export"]
//! ```
//!
//! `default = "deny"` is the safer choice: a path spelling or a method no rule names is then
//! refused instead of open to any valid token (under `"authenticated"`, `OPTIONS` or
//! `PROPFIND` on a read-only route pass with a read-only token).
//!
//! Rules are tried in file order; the first whose path and methods match decides. Every key is
//! checked when the file is read: an unknown key, a value of the wrong type, a path not in
//! [normal form](crate::normalize), a method that is not an upper-case HTTP method, a scope
//! that is not an RFC 6749 `scope-token`, `public` together with scopes, or both `scopes_any`
//! and `scopes_all` stop startup with a [`RulesError`] naming the file, the line and the key.

use std::borrow::Cow;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bearer_guard::ScopeRequirement;
use http::Method;
use serde::Deserialize;
use toml::Spanned;

use crate::normalize::normalize_path;

/// Largest rules file read: 1 MiB.
pub const MAX_RULES_FILE_LEN: u64 = 1024 * 1024;

/// What a request needs to be let through.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// Nothing: 200 without a token (`public = true`).
    Public,
    /// Any valid token.
    Authenticated,
    /// A valid token with these scopes (`scopes_any` / `scopes_all`).
    Scopes(ScopeRequirement),
    /// Nothing lets it through: 403 (`default = "deny"`).
    Deny,
}

/// `default` of the rules file: what a request no rule matches needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DefaultAccess {
    /// Any valid token (the default).
    #[default]
    Authenticated,
    /// 403 for every request no rule matches.
    Deny,
}

/// One `[[rule]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub(crate) number: usize,
    pub(crate) name: Option<String>,
    pub(crate) path: String,
    pub(crate) exact: bool,
    pub(crate) methods: Option<Vec<Method>>,
    pub(crate) access: Access,
}

impl Rule {
    /// Its position in the file, from 1.
    pub fn number(&self) -> usize {
        self.number
    }

    /// Its `name`, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// What it requires.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// Whether the rule covers `method` on the normalised `path`: `path` equals the rule's
    /// path, or (unless `exact`) continues it after a `/` (`/records` covers `/records/7`,
    /// not `/recordsX`).
    pub fn matches(&self, method: &Method, path: &str) -> bool {
        let path_matches = match path.strip_prefix(self.path.as_str()) {
            None => false,
            Some("") => true,
            Some(_) if self.exact => false,
            Some(rest) => self.path.ends_with('/') || rest.starts_with('/'),
        };
        path_matches
            && self
                .methods
                .as_ref()
                .is_none_or(|methods| methods.contains(method))
    }
}

/// The parsed rules. [`Rules::default`]: no rules, any valid token for every route (no
/// `GUARD_RULES`).
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub(crate) default: DefaultAccess,
    pub(crate) rules: Vec<Rule>,
}

impl Rules {
    /// Reads and checks the rules file at `file`.
    ///
    /// # Errors
    /// [`RulesError`] when the file cannot be read, is larger than [`MAX_RULES_FILE_LEN`],
    /// does not parse, or a rule is not allowed (see the [module docs](self)).
    pub fn from_file(file: &Path) -> Result<Self, RulesError> {
        let read_error = |problem: Cow<'static, str>| RulesError::Read {
            file: file.to_owned(),
            problem,
        };
        let size = std::fs::metadata(file)
            .map_err(|e| read_error(e.to_string().into()))?
            .len();
        if size > MAX_RULES_FILE_LEN {
            return Err(read_error(
                format!("larger than {MAX_RULES_FILE_LEN} bytes").into(),
            ));
        }
        let text = std::fs::read_to_string(file).map_err(|e| read_error(e.to_string().into()))?;
        Self::parse(file, &text)
    }

    /// Checks the rules in `text`; `file` names it in errors.
    ///
    /// # Errors
    /// As [`from_file`](Self::from_file), except for reading.
    pub fn parse(file: &Path, text: &str) -> Result<Self, RulesError> {
        let raw: RawRules = toml::from_str(text).map_err(|e| {
            let at = Position::of(text, e.span().map_or(0, |span| span.start));
            RulesError::Syntax {
                file: file.to_owned(),
                line: at.line,
                column: at.column,
                key: at.key,
                problem: e.message().trim_end().to_owned().into(),
            }
        })?;
        let rules = raw
            .rule
            .into_iter()
            .enumerate()
            .map(|(index, rule)| rule.into_inner().check(index + 1, file, text))
            .collect::<Result<_, _>>()?;
        Ok(Rules {
            default: raw.default,
            rules,
        })
    }

    /// The `default`.
    pub fn default_access(&self) -> DefaultAccess {
        self.default
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

/// A rules file that cannot be used. The message names the file, and the line and key where
/// there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// The file could not be read.
    #[error("GUARD_RULES: cannot read {}: {problem}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why not.
        problem: Cow<'static, str>,
    },
    /// The file is not TOML, or not the rules' shape (an unknown key, a wrong type).
    #[error(
        "GUARD_RULES: {}, line {line}, column {column}{}: {problem}",
        file.display(),
        key.as_ref().map(|k| format!(", key `{k}`")).unwrap_or_default()
    )]
    Syntax {
        /// The file.
        file: PathBuf,
        /// Line of the error, from 1.
        line: usize,
        /// Column of the error, from 1.
        column: usize,
        /// The key on that line, when the line is `key = value`.
        key: Option<String>,
        /// What the TOML reader said.
        problem: Cow<'static, str>,
    },
    /// A rule parsed but is not allowed.
    #[error("GUARD_RULES: {}, line {line}, key `{key}`: {problem}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Line of the key, from 1.
        line: usize,
        /// The key.
        key: &'static str,
        /// What is wrong with its value.
        problem: Cow<'static, str>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    #[serde(default)]
    default: DefaultAccess,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    path: Spanned<String>,
    #[serde(default)]
    exact: bool,
    methods: Option<Spanned<Vec<Spanned<String>>>>,
    public: Option<Spanned<bool>>,
    scopes_any: Option<Spanned<Vec<String>>>,
    scopes_all: Option<Spanned<Vec<String>>>,
}

impl RawRule {
    fn check(self, number: usize, file: &Path, text: &str) -> Result<Rule, RulesError> {
        let invalid = |span: Range<usize>, key: &'static str, problem: Cow<'static, str>| {
            RulesError::Invalid {
                file: file.to_owned(),
                line: Position::of(text, span.start).line,
                key,
                problem,
            }
        };
        let path =
            check_path(self.path.get_ref()).map_err(|p| invalid(self.path.span(), "path", p))?;
        let methods = match self.methods {
            None => None,
            Some(list) => {
                let span = list.span();
                let list = list.into_inner();
                if list.is_empty() {
                    return Err(invalid(
                        span,
                        "methods",
                        "list at least one method, or leave `methods` out for every method".into(),
                    ));
                }
                let methods = list
                    .iter()
                    .map(|m| check_method(m.get_ref()).map_err(|p| invalid(m.span(), "methods", p)))
                    .collect::<Result<Vec<_>, _>>()?;
                Some(methods)
            }
        };
        let public = self.public.as_ref().is_some_and(|p| *p.get_ref());
        let access = match (public, self.scopes_any, self.scopes_all) {
            (_, Some(any), Some(_)) => {
                return Err(invalid(
                    any.span(),
                    "scopes_any",
                    "a rule has `scopes_any` or `scopes_all`, not both".into(),
                ));
            }
            (true, Some(_), None) | (true, None, Some(_)) => {
                let span = self.public.as_ref().map_or(0..0, Spanned::span);
                return Err(invalid(
                    span,
                    "public",
                    "a public rule cannot require scopes (remove `public` or the scopes)".into(),
                ));
            }
            (true, None, None) => Access::Public,
            (false, Some(any), None) => Access::Scopes(
                ScopeRequirement::any(any.get_ref().iter().cloned())
                    .map_err(|e| invalid(any.span(), "scopes_any", scope_problem(&e)))?,
            ),
            (false, None, Some(all)) => Access::Scopes(
                ScopeRequirement::all(all.get_ref().iter().cloned())
                    .map_err(|e| invalid(all.span(), "scopes_all", scope_problem(&e)))?,
            ),
            (false, None, None) => Access::Authenticated,
        };
        Ok(Rule {
            number,
            name: self.name,
            path,
            exact: self.exact,
            methods,
            access,
        })
    }
}

fn scope_problem(error: &bearer_guard::ConfigError) -> Cow<'static, str> {
    match error {
        bearer_guard::ConfigError::Invalid { problem, .. } => problem.clone(),
        other => other.to_string().into(),
    }
}

/// A rule's path must be in normal form already, so that what the file says is what matches.
fn check_path(path: &str) -> Result<String, Cow<'static, str>> {
    match normalize_path(path.as_bytes()) {
        Ok(normal) if normal == path => Ok(normal),
        Ok(normal) => Err(format!("`{path}` is not in normal form: write `{normal}`").into()),
        Err(error) => Err(format!("`{path}`: {error}").into()),
    }
}

/// An HTTP method token in upper case (`GET`, `PROPFIND`, `M-SEARCH`).
fn check_method(method: &str) -> Result<Method, Cow<'static, str>> {
    let upper = !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_uppercase() || matches!(b, b'-' | b'_'));
    if !upper {
        return Err(format!("`{method}` is not an upper-case HTTP method like `GET`").into());
    }
    Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("`{method}` is not an HTTP method").into())
}

/// Line, column and key of a byte offset in the file.
struct Position {
    line: usize,
    column: usize,
    key: Option<String>,
}

impl Position {
    fn of(text: &str, offset: usize) -> Position {
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        let line_text = text[line_start..].lines().next().unwrap_or_default();
        let key = line_text
            .split_once('=')
            .map(|(key, _)| key.trim())
            .filter(|key| {
                !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            })
            .map(str::to_owned);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE_EXAMPLE: &str = r#"
default = "deny"                 # no rule matched: 403 (or "authenticated": any valid token)
[[rule]]
path = "/health"
public = true
[[rule]]
path = "/records"
methods = ["GET", "HEAD"]
scopes_any = ["read"]
[[rule]]
path = "/records"
methods = ["POST", "PUT", "PATCH", "DELETE"]
scopes_all = ["write"]
"#;

    fn parse(text: &str) -> Result<Rules, RulesError> {
        Rules::parse(Path::new("/etc/rules.toml"), text)
    }

    fn error(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_issue_example_parses_in_order() {
        let rules = parse(ISSUE_EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rules.default_access(), DefaultAccess::Deny);
        let list = rules.rules();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].access(), &Access::Public);
        assert_eq!(list[1].number(), 2);
        assert!(matches!(list[1].access(), Access::Scopes(s) if s.scope_list() == "read"));
        assert_eq!(
            list[2].methods.as_deref(),
            Some(&[Method::POST, Method::PUT, Method::PATCH, Method::DELETE][..])
        );
        let deny = parse("default = \"deny\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(deny.default_access(), DefaultAccess::Deny);
        assert!(deny.rules().is_empty());
        let open = parse("default = \"authenticated\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(open.default_access(), DefaultAccess::Authenticated);
    }

    #[test]
    fn a_prefix_matches_at_a_slash_boundary_and_exact_only_itself() {
        let rules = parse(
            "[[rule]]\npath = \"/records\"\n[[rule]]\npath = \"/export\"\nexact = true\n\
             [[rule]]\npath = \"/dir/\"\n[[rule]]\npath = \"/\"\nmethods = [\"OPTIONS\"]",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let [records, export, dir, root] = rules.rules() else {
            panic!("four rules")
        };
        let get = Method::GET;
        for path in ["/records", "/records/", "/records/7", "/records/7/notes"] {
            assert!(records.matches(&get, path), "{path}");
        }
        for path in ["/recordsX", "/record", "/records%2Fx", "/", "/x/records"] {
            assert!(!records.matches(&get, path), "{path}");
        }
        assert!(export.matches(&get, "/export"));
        assert!(!export.matches(&get, "/export/"));
        assert!(!export.matches(&get, "/export/x"));
        assert!(dir.matches(&get, "/dir/"));
        assert!(dir.matches(&get, "/dir/x"));
        assert!(!dir.matches(&get, "/dir"));
        assert!(root.matches(&Method::OPTIONS, "/anything/at/all"));
        assert!(!root.matches(&get, "/anything"));
    }

    #[test]
    fn a_syntax_error_names_file_line_and_key() {
        let message = error("[[rule]]\npath = \"/records\"\nscopes_any = [\"read\"\n");
        assert!(
            message.starts_with("GUARD_RULES: /etc/rules.toml, line 3"),
            "{message}"
        );
        assert!(message.contains("key `scopes_any`"), "{message}");
    }

    #[test]
    fn an_unknown_key_names_file_line_and_key() {
        let message = error("[[rule]]\npath = \"/records\"\nscope_any = [\"read\"]\n");
        assert!(
            message.starts_with("GUARD_RULES: /etc/rules.toml, line 3, column 1, key `scope_any`"),
            "{message}"
        );
        assert!(message.contains("unknown field `scope_any`"), "{message}");
        let top = error("defaults = \"deny\"\n");
        assert!(
            top.contains("line 1") && top.contains("`defaults`"),
            "{top}"
        );
    }

    #[test]
    fn a_wrong_value_names_its_key() {
        for (text, line, key) in [
            ("default = \"allow\"", 1, "default"),
            ("[[rule]]\npath = \"/a\"\npublic = \"yes\"", 3, "public"),
            ("[[rule]]\npath = \"/a\"\nexact = 1", 3, "exact"),
            ("[[rule]]\npath = \"/a\"\nmethods = \"GET\"", 3, "methods"),
        ] {
            let message = error(text);
            assert!(
                message.contains(&format!("line {line}")) && message.contains(&format!("`{key}`")),
                "{text}: {message}"
            );
        }
        let missing = error("[[rule]]\npublic = true\n");
        assert!(missing.contains("missing field `path`"), "{missing}");
    }

    #[test]
    fn a_rule_that_is_not_allowed_names_line_and_key() {
        for (text, line, key, says) in [
            (
                "\n[[rule]]\npath = \"/a\"\npublic = true\nscopes_any = [\"read\"]",
                4,
                "public",
                "public rule cannot require scopes",
            ),
            (
                "[[rule]]\npath = \"/a\"\nscopes_any = [\"read\"]\nscopes_all = [\"write\"]",
                3,
                "scopes_any",
                "not both",
            ),
            (
                "[[rule]]\npath = \"/a\"\nscopes_all = []",
                3,
                "scopes_all",
                "at least one scope",
            ),
            (
                "[[rule]]\npath = \"/a\"\nscopes_any = [\"two words\"]",
                3,
                "scopes_any",
                "printable ASCII",
            ),
            (
                "[[rule]]\npath = \"/a\"\nmethods = [\"GET\",\n  \"get\"]",
                4,
                "methods",
                "`get` is not an upper-case HTTP method",
            ),
            (
                "[[rule]]\npath = \"/a\"\nmethods = []",
                3,
                "methods",
                "at least one method",
            ),
            (
                "[[rule]]\npath = \"/a/../b\"",
                2,
                "path",
                "not in normal form: write `/b`",
            ),
            (
                "[[rule]]\npath = \"a\"",
                2,
                "path",
                "does not start with `/`",
            ),
            (
                "[[rule]]\npath = \"/a?x=1\"",
                2,
                "path",
                "not in normal form: write `/a`",
            ),
            ("[[rule]]\npath = \"/%7Ea\"", 2, "path", "write `/~a`"),
        ] {
            let message = error(text);
            let want = format!("GUARD_RULES: /etc/rules.toml, line {line}, key `{key}`: ");
            assert!(message.starts_with(&want), "{text}: {message}");
            assert!(message.contains(says), "{text}: {message}");
        }
    }

    #[test]
    fn a_missing_file_is_a_read_error_naming_it() {
        let message = match Rules::from_file(Path::new("/nonexistent/rules.toml")) {
            Ok(_) => panic!("read a missing file"),
            Err(e) => e.to_string(),
        };
        assert!(
            message.starts_with("GUARD_RULES: cannot read /nonexistent/rules.toml"),
            "{message}"
        );
    }
}
