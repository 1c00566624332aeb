//! How a rejection looks on the wire, and how to change it: [`RejectionResponse`].
//!
//! The guard ([`BearerGuardLayer`](crate::BearerGuardLayer)) and the scope check
//! ([`RequireScopeLayer`](crate::RequireScopeLayer)) answer every rejection themselves. By
//! default ([`DefaultRejection`]) the answer is the JSON body and the headers of the table in
//! [`error`](crate::error). To answer differently — `application/problem+json`, a body of your
//! own — give the layer a [`RejectionResponse`]: every
//! `Fn(&AuthError, &Challenge) -> Response<B>` closure is one. It is called only for
//! rejections, never for a request that gets through.
//!
//! Whatever builds the response, the layer puts the [`AuthError`] into the response's
//! extensions, so an outer layer (logging, metrics) can read why a request was turned away.
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use bearer_guard::rejection::Challenge;
//! use bearer_guard::verify::BoxFuture;
//! use bearer_guard::{AuthError, BearerGuardLayer, BearerToken, Verdict, Verifier};
//! use http::{Request, Response, StatusCode, header};
//! use tower::ServiceExt;
//!
//! struct NoOne;
//! impl Verifier for NoOne {
//!     fn verify<'a>(&'a self, _: &'a BearerToken) -> BoxFuture<'a, Verdict> {
//!         Box::pin(async { Verdict::invalid("no one gets in") })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), bearer_guard::ConfigError> {
//! let problem = |error: &AuthError, challenge: &Challenge| {
//!     let mut response = Response::new(Body::from(format!(r#"{{"title":"{error}"}}"#)));
//!     *response.status_mut() = error.status();
//!     let headers = response.headers_mut();
//!     headers.insert(header::CONTENT_TYPE, "application/problem+json".parse().unwrap());
//!     if let Some(value) = challenge.www_authenticate() {
//!         headers.insert(header::WWW_AUTHENTICATE, value.clone());
//!     }
//!     response
//! };
//! let guard = BearerGuardLayer::builder(NoOne).rejection(problem).build()?;
//! let app = Router::new().route("/", get(|| async { "hello" })).layer(guard);
//!
//! let request = Request::get("/").header(header::AUTHORIZATION, "Bearer x").body(Body::empty());
//! let response = app.oneshot(request.unwrap()).await.unwrap();
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json");
//! assert_eq!(response.extensions().get::<AuthError>(), Some(&AuthError::InvalidToken));
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::IntoResponse;
use http::{HeaderValue, Response};

use crate::error::{AuthError, DEFAULT_REALM, DEFAULT_RETRY_AFTER_SECS};

/// Builds the response for a rejected request. Implemented for every
/// `Fn(&AuthError, &Challenge) -> Response<B>`; [`DefaultRejection`] is the default.
///
/// `B` is the response body type of the service the layer wraps.
pub trait RejectionResponse<B> {
    /// The response for `error`. `challenge` holds what the layer is configured to say:
    /// the `WWW-Authenticate` value, the realm, the `Retry-After`.
    fn response(&self, error: &AuthError, challenge: &Challenge) -> Response<B>;
}

impl<B, F> RejectionResponse<B> for F
where
    F: Fn(&AuthError, &Challenge) -> Response<B>,
{
    fn response(&self, error: &AuthError, challenge: &Challenge) -> Response<B> {
        self(error, challenge)
    }
}

/// The default rejection: the status of the [table](crate::error), `Content-Type:
/// application/json`, the `WWW-Authenticate` challenge (when the table has one), `Retry-After`
/// for 503, and the body `{"error": …, "error_description": …}`. Never the token, a
/// verifier's reason, or an upstream's body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultRejection;

impl<B: From<String>> RejectionResponse<B> for DefaultRejection {
    fn response(&self, error: &AuthError, challenge: &Challenge) -> Response<B> {
        error.default_response(challenge)
    }
}

/// What the layer says to the client besides the status: given to a [`RejectionResponse`].
#[derive(Debug, Clone)]
pub struct Challenge {
    realm: Arc<str>,
    www_authenticate: Option<HeaderValue>,
    retry_after: Option<Duration>,
}

impl Challenge {
    /// The layer's realm (the `realm` of the challenge).
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The whole `WWW-Authenticate` value (`Bearer realm="…", error="…", …`), or `None` for a
    /// rejection that sends no challenge (500 when the guard is missing).
    pub fn www_authenticate(&self) -> Option<&HeaderValue> {
        self.www_authenticate.as_ref()
    }

    /// How long the client should wait before it retries, in whole seconds: `Some` only for a
    /// 503 (verification unavailable), from the guard's `retry_after` setting.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl AuthError {
    /// The [`Challenge`] of this rejection under `realm` and a `Retry-After` of
    /// `retry_after_secs`.
    pub(crate) fn challenge(&self, realm: &Arc<str>, retry_after_secs: u64) -> Challenge {
        let row = self.row();
        Challenge {
            realm: Arc::clone(realm),
            www_authenticate: row.www_authenticate(realm),
            retry_after: row
                .retry_after
                .then(|| Duration::from_secs(retry_after_secs)),
        }
    }

    /// The default answer ([`DefaultRejection`]) under `realm`: status, `WWW-Authenticate`,
    /// `Retry-After` for 503, and the JSON body `{"error": …, "error_description": …}`. The
    /// error itself goes into the response's extensions.
    pub fn to_response<B: From<String>>(&self, realm: &str, retry_after_secs: u64) -> Response<B> {
        reject(
            &DefaultRejection,
            self.clone(),
            &Arc::from(realm),
            retry_after_secs,
        )
    }

    /// The body and status of the default answer; the headers come from `challenge`.
    fn default_response<B: From<String>>(&self, challenge: &Challenge) -> Response<B> {
        use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
        let row = self.row();
        let body = serde_json::json!({
            "error": row.body_error,
            "error_description": row.description,
        })
        .to_string();
        let mut response = Response::new(B::from(body));
        *response.status_mut() = row.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(value) = challenge.www_authenticate() {
            headers.insert(WWW_AUTHENTICATE, value.clone());
        }
        if let Some(after) = challenge.retry_after() {
            headers.insert(RETRY_AFTER, HeaderValue::from(after.as_secs()));
        }
        response
    }
}

/// The response for `error` built by `rejection`, with `error` in its extensions. Called only
/// on the rejection path.
#[cold]
pub(crate) fn reject<B, R>(
    rejection: &R,
    error: AuthError,
    realm: &Arc<str>,
    retry_after_secs: u64,
) -> Response<B>
where
    R: RejectionResponse<B> + ?Sized,
{
    let challenge = error.challenge(realm, retry_after_secs);
    let mut response = rejection.response(&error, &challenge);
    response.extensions_mut().insert(error);
    response
}

impl IntoResponse for AuthError {
    fn into_response(self) -> axum::response::Response {
        reject::<Body, _>(
            &DefaultRejection,
            self,
            &Arc::from(DEFAULT_REALM),
            DEFAULT_RETRY_AFTER_SECS,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::body::Body;
    use http::{Request, StatusCode, header};
    use tower::{Layer, ServiceExt, service_fn};

    use super::*;
    use crate::guard::BearerGuardLayer;
    use crate::principal::{Principal, VerifierKind};
    use crate::scope::RequireScopeLayer;
    use crate::token::BearerToken;
    use crate::verify::{BoxFuture, Verdict, Verifier};

    /// `good` is valid with scope `read`, `down` is unavailable, anything else invalid.
    struct Script;

    impl Verifier for Script {
        fn verify<'a>(&'a self, token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
            Box::pin(async move {
                match token.as_str() {
                    "good" => Verdict::Valid(
                        Principal::builder(VerifierKind::Custom("test"))
                            .scopes(["read"])
                            .build(),
                    ),
                    "down" => Verdict::unavailable("scripted outage"),
                    _ => Verdict::invalid("scripted"),
                }
            })
        }
    }

    fn custom(error: &AuthError, challenge: &Challenge) -> Response<Body> {
        let text = format!(
            "custom {} realm={} challenge={} retry={:?}",
            error.status().as_u16(),
            challenge.realm(),
            challenge.www_authenticate().is_some(),
            challenge.retry_after(),
        );
        let mut response = Response::new(Body::from(text));
        *response.status_mut() = error.status();
        response
    }

    type Route = fn(Request<Body>) -> std::future::Ready<Result<Response<Body>, Infallible>>;

    async fn send<L>(layer: &L, auth: Option<&str>) -> Response<Body>
    where
        L: Layer<
            tower::util::ServiceFn<
                fn(Request<Body>) -> std::future::Ready<Result<Response<Body>, Infallible>>,
            >,
        >,
        L::Service: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    {
        let route: Route = |_| std::future::ready(Ok(Response::new(Body::from("route"))));
        let mut request = Request::get("/");
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let request = request
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        match layer.layer(service_fn(route)).oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    async fn text(response: Response<Body>) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn a_custom_response_answers_401_400_and_503_with_the_error_in_extensions() {
        let guard = BearerGuardLayer::builder(Script)
            .realm("shop")
            .retry_after(Duration::from_secs(7))
            .rejection(custom as fn(&AuthError, &Challenge) -> Response<Body>)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        for (auth, status, error, body) in [
            (
                Some("Bearer bad"),
                StatusCode::UNAUTHORIZED,
                AuthError::InvalidToken,
                "custom 401 realm=shop challenge=true retry=None",
            ),
            // Cached now: the invalid verdict is answered from the negative cache.
            (
                Some("Bearer bad"),
                StatusCode::UNAUTHORIZED,
                AuthError::InvalidToken,
                "custom 401 realm=shop challenge=true retry=None",
            ),
            (
                None,
                StatusCode::UNAUTHORIZED,
                AuthError::MissingCredentials,
                "custom 401 realm=shop challenge=true retry=None",
            ),
            (
                Some("Bearer "),
                StatusCode::BAD_REQUEST,
                AuthError::EmptyToken,
                "custom 400 realm=shop challenge=true retry=None",
            ),
            (
                Some("Bearer down"),
                StatusCode::SERVICE_UNAVAILABLE,
                AuthError::VerifierUnavailable,
                "custom 503 realm=shop challenge=true retry=Some(7s)",
            ),
        ] {
            let response = send(&guard, auth).await;
            assert_eq!(response.status(), status, "{auth:?}");
            assert_eq!(response.extensions().get::<AuthError>(), Some(&error));
            assert_eq!(text(response).await, body, "{auth:?}");
        }
        let passed = send(&guard, Some("Bearer good")).await;
        assert_eq!(passed.status(), StatusCode::OK);
        assert!(passed.extensions().get::<AuthError>().is_none());
    }

    #[tokio::test]
    async fn a_custom_closure_answers_403_and_the_default_carries_the_error_too() {
        let closure = |error: &AuthError, challenge: &Challenge| custom(error, challenge);
        let guard = BearerGuardLayer::builder(Script)
            .rejection(closure)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let scope = guard
            .require_all(["write"])
            .unwrap_or_else(|e| panic!("{e}"));
        let both = tower::layer::util::Stack::new(scope, guard);
        let response = send(&both, Some("Bearer good")).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(matches!(
            response.extensions().get::<AuthError>(),
            Some(AuthError::InsufficientScope(_))
        ));
        assert_eq!(
            text(response).await,
            "custom 403 realm=api challenge=true retry=None"
        );

        // A scope layer without a guard in front: 500, no challenge.
        let alone = RequireScopeLayer::any(["read"])
            .unwrap_or_else(|e| panic!("{e}"))
            .rejection(custom as fn(&AuthError, &Challenge) -> Response<Body>);
        let response = send(&alone, Some("Bearer good")).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.extensions().get::<AuthError>(),
            Some(&AuthError::GuardMissing)
        );
        assert_eq!(
            text(response).await,
            "custom 500 realm=api challenge=false retry=None"
        );

        // The default response also carries the error.
        let plain = BearerGuardLayer::new(Script);
        let scoped = plain
            .require_any(["write"])
            .unwrap_or_else(|e| panic!("{e}"));
        for (layer_response, error) in [
            (
                send(&plain, Some("Bearer bad")).await,
                AuthError::InvalidToken,
            ),
            (
                send(&plain, Some("Bearer down")).await,
                AuthError::VerifierUnavailable,
            ),
            (
                send(&plain, Some("Bearer\tx")).await,
                AuthError::MalformedCredentials,
            ),
        ] {
            assert_eq!(layer_response.extensions().get::<AuthError>(), Some(&error));
            assert_eq!(
                layer_response.headers()[header::CONTENT_TYPE],
                "application/json"
            );
        }
        let stacked = tower::layer::util::Stack::new(scoped, plain);
        let response = send(&stacked, Some("Bearer good")).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(matches!(
            response.extensions().get::<AuthError>(),
            Some(AuthError::InsufficientScope(_))
        ));
    }
}
