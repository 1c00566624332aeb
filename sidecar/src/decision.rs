//! From a rule to what answers the request: public, the guard (any valid token), the guard and
//! a scope check, or a refusal.
//!
//! The guard and the scope checks are the library's own ([`BearerGuardLayer`],
//! [`RequireScopeLayer`]), built once at startup: one guarded service per rule that needs a
//! token, all sharing the guard's verdict cache. Their rejections (400/401/403/503, the
//! `WWW-Authenticate` challenges, the JSON bodies, `Retry-After`) are the library's, unchanged.

use std::convert::Infallible;

use axum::body::Body;
use bearer_guard::{BearerGuardLayer, Principal, RequireScopeLayer};
use http::{Method, Request, Response};
use tower::util::BoxCloneSyncService;
use tower::{Layer, service_fn};

use crate::answer;
use crate::rules::{Access, DefaultAccess, Rule, Rules};

/// A service that answers an `/auth` request (the request carries only the `Authorization`
/// header of the original).
pub type GuardedService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// What answers a request.
#[derive(Clone)]
pub enum Gate {
    /// 200 without looking at the token.
    Public,
    /// 403 without looking at the token.
    Deny,
    /// The guard (and the rule's scope check, if any).
    Guarded(GuardedService),
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Gate::Public => "Public",
            Gate::Deny => "Deny",
            Gate::Guarded(_) => "Guarded",
        })
    }
}

/// Which rule decided: one from the file, or the `default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched<'a> {
    /// A `[[rule]]`.
    Rule(&'a Rule),
    /// No rule matched.
    Default,
}

/// The rules with a [`Gate`] for each, built once.
#[derive(Debug, Clone)]
pub struct Gates {
    rules: Rules,
    per_rule: Vec<Gate>,
    default: Gate,
}

impl Gates {
    /// Builds every rule's gate around `guard`; scope rejections use `realm`. The guard counts
    /// every request's outcome (a scope refusal included) with the handles it registered when
    /// it was built.
    pub fn build(rules: Rules, guard: &BearerGuardLayer, realm: &str) -> Self {
        let gate = |access: &Access| match access {
            Access::Public => Gate::Public,
            Access::Deny => Gate::Deny,
            Access::Authenticated => {
                Gate::Guarded(BoxCloneSyncService::new(guard.layer(service_fn(grant))))
            }
            Access::Scopes(requirement) => {
                let scope = RequireScopeLayer::new(requirement.clone()).realm(realm.to_owned());
                Gate::Guarded(BoxCloneSyncService::new(
                    guard.layer(scope.layer(service_fn(grant))),
                ))
            }
        };
        let per_rule = rules
            .rules()
            .iter()
            .map(|rule| gate(rule.access()))
            .collect();
        let default = gate(&match rules.default_access() {
            DefaultAccess::Authenticated => Access::Authenticated,
            DefaultAccess::Deny => Access::Deny,
        });
        Gates {
            rules,
            per_rule,
            default,
        }
    }

    /// The first rule that covers `method` on the normalised `path`, and its gate; the
    /// default's gate when none does.
    pub fn decide(&self, method: &Method, path: &str) -> (Matched<'_>, &Gate) {
        self.rules
            .rules()
            .iter()
            .zip(&self.per_rule)
            .find(|(rule, _)| rule.matches(method, path))
            .map_or((Matched::Default, &self.default), |(rule, gate)| {
                (Matched::Rule(rule), gate)
            })
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }
}

/// The innermost service: the guard (and scope check) let the request through.
async fn grant(request: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(match request.extensions().get::<Principal>() {
        Some(principal) => answer::granted(principal),
        // Unreachable behind the guard; fail closed all the same.
        None => answer::guard_missing(),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_first_matching_rule_decides_and_the_default_catches_the_rest() {
        let rules = Rules::parse(
            Path::new("rules.toml"),
            "default = \"deny\"\n\
             [[rule]]\npath = \"/health\"\npublic = true\n\
             [[rule]]\npath = \"/records\"\nmethods = [\"GET\"]\nscopes_any = [\"read\"]\n\
             [[rule]]\npath = \"/records\"\nscopes_all = [\"write\"]\n\
             [[rule]]\npath = \"/me\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let guard = BearerGuardLayer::new(NoVerifier);
        let gates = Gates::build(rules, &guard, "api");
        let number = |method: Method, path: &str| match gates.decide(&method, path) {
            (Matched::Rule(rule), _) => Some(rule.number()),
            (Matched::Default, gate) => {
                assert!(matches!(gate, Gate::Deny));
                None
            }
        };
        assert_eq!(number(Method::GET, "/health"), Some(1));
        assert_eq!(number(Method::POST, "/health/x"), Some(1));
        assert_eq!(number(Method::GET, "/records/7"), Some(2));
        assert_eq!(number(Method::POST, "/records"), Some(3));
        assert_eq!(number(Method::GET, "/me"), Some(4));
        assert_eq!(number(Method::GET, "/recordsX"), None);
        assert_eq!(number(Method::GET, "/"), None);
        assert!(matches!(
            gates.decide(&Method::GET, "/health").1,
            Gate::Public
        ));
        assert!(matches!(
            gates.decide(&Method::GET, "/me").1,
            Gate::Guarded(_)
        ));
    }

    struct NoVerifier;

    impl bearer_guard::Verifier for NoVerifier {
        fn verify<'a>(
            &'a self,
            _: &'a bearer_guard::BearerToken,
        ) -> bearer_guard::verify::BoxFuture<'a, bearer_guard::Verdict> {
            Box::pin(async { bearer_guard::Verdict::invalid("no") })
        }
    }
}
