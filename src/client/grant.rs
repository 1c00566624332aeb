//! [`TokenEndpoint`]: where a token is fetched and the shape of the request — crm-now's
//! `getOauthToken.php`, the JSON body of SuiteCRM and 1CRM, the RFC 6749 §4.4 form — and the
//! request itself, prepared once at build.

use std::fmt;

use http::HeaderValue;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::Url;

use crate::credentials::basic_header;
use crate::error::ConfigError;
use crate::outbound;

/// crm-now's central token endpoint.
pub const CRM_NOW_TOKEN_URL: &str = "https://api.i1.crm-now.de/v1/getOauthToken.php";

/// Where and how a [`TokenSource`](super::TokenSource) fetches its token (OAuth 2.0 client
/// credentials, RFC 6749 §4.4, in the shape the endpoint takes).
///
/// ```
/// use bearer_guard::client::{CRM_NOW_TOKEN_URL, TokenEndpoint};
///
/// let crm_now = TokenEndpoint::crm_now(CRM_NOW_TOKEN_URL);
/// let suitecrm = TokenEndpoint::suitecrm("https://crm.example/Api/access_token");
/// let onecrm = TokenEndpoint::onecrm("https://crm.example/api.php").scope("read write profile");
/// let keycloak = TokenEndpoint::client_credentials_form(
///     "https://idp.example/realms/acme/protocol/openid-connect/token",
/// )
/// .client_secret_post()
/// .scope("orders:read");
/// # drop((crm_now, suitecrm, onecrm, keycloak));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TokenEndpoint {
    url: String,
    shape: Shape,
    scope: Option<String>,
    secret_in_body: bool,
}

/// The request shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// crm-now: `POST`, no body, `Authorization: Basic`.
    CrmNow,
    /// RFC 6749 §4.4: a form, client authentication Basic or in the form.
    Form,
    /// league/oauth2-server (SuiteCRM, 1CRM): a JSON object with the credentials, sent with
    /// this media type.
    Json(&'static str),
}

impl TokenEndpoint {
    /// crm-now's `getOauthToken.php` ([`CRM_NOW_TOKEN_URL`]): `POST` with no body and
    /// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`; it takes no scope.
    pub fn crm_now(url: impl Into<String>) -> Self {
        Self::new(url, Shape::CrmNow)
    }

    /// An RFC 6749 §4.4 token endpoint (Keycloak, Ory Hydra, Okta, Auth0, …): `POST` with the
    /// form `grant_type=client_credentials` (plus `scope` when set), client authentication
    /// `Authorization: Basic` (RFC 6749 §2.3.1, id and secret urlencoded), or in the form with
    /// [`client_secret_post`](Self::client_secret_post).
    pub fn client_credentials_form(url: impl Into<String>) -> Self {
        Self::new(url, Shape::Form)
    }

    /// A token endpoint that takes the client credentials grant as a JSON object:
    /// `{"grant_type": "client_credentials", "client_id": …, "client_secret": …}` (plus
    /// `"scope"` when set), `Content-Type: application/json`. 1CRM's client library sends
    /// this; see also [`suitecrm`](Self::suitecrm) and [`onecrm`](Self::onecrm).
    pub fn client_credentials_json(url: impl Into<String>) -> Self {
        Self::new(url, Shape::Json("application/json"))
    }

    /// SuiteCRM 7.10+/8's `POST /Api/access_token` (give the whole URL, e.g.
    /// `https://crm.example/Api/access_token`): the JSON object of
    /// [`client_credentials_json`](Self::client_credentials_json), sent as SuiteCRM's
    /// documentation does, with `Content-Type: application/vnd.api+json`.
    pub fn suitecrm(url: impl Into<String>) -> Self {
        Self::new(url, Shape::Json("application/vnd.api+json"))
    }

    /// 1CRM: its API entry point (the URL ending in `api.php`, e.g.
    /// `https://crm.example/api.php`); the token comes from `<api_url>/auth/user/access_token`
    /// as [`client_credentials_json`](Self::client_credentials_json). Without a
    /// [`scope`](Self::scope), 1CRM grants `profile` only; ask for `read write profile` (or
    /// less) explicitly.
    pub fn onecrm(api_url: impl Into<String>) -> Self {
        let api_url = api_url.into();
        let url = format!("{}/auth/user/access_token", api_url.trim_end_matches('/'));
        Self::new(url, Shape::Json("application/json"))
    }

    fn new(url: impl Into<String>, shape: Shape) -> Self {
        TokenEndpoint {
            url: url.into(),
            shape,
            scope: None,
            secret_in_body: false,
        }
    }

    /// The scope to ask for: space-separated RFC 6749 §3.3 scope tokens. Default: none (the
    /// endpoint's default). crm-now's endpoint takes no scope: setting one there is a build
    /// error.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Sends `client_id` and `client_secret` in the form instead of `Authorization: Basic`
    /// (RFC 6749 §2.3.1 `client_secret_post`). Only for
    /// [`client_credentials_form`](Self::client_credentials_form): elsewhere a build error.
    pub fn client_secret_post(mut self) -> Self {
        self.secret_in_body = true;
        self
    }

    /// The token endpoint's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Checks the settings and builds the request (the credentials encoded once).
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting: a refused URL, a scope crm-now cannot take or that
    /// is not a list of scope tokens, `client_secret_post` off a form endpoint, an empty
    /// client id.
    pub(crate) fn prepare(
        &self,
        client_id: &str,
        client_secret: &str,
        allow_plain_http: bool,
    ) -> Result<PreparedRequest, ConfigError> {
        let url = outbound::checked_url("token endpoint url", &self.url, allow_plain_http)?;
        if client_id.is_empty() {
            return Err(ConfigError::invalid("client_id", "must not be empty"));
        }
        if let Some(scope) = &self.scope {
            if self.shape == Shape::CrmNow {
                return Err(ConfigError::invalid(
                    "scope",
                    "crm-now's token endpoint takes no scope",
                ));
            }
            if !is_scope(scope) {
                return Err(ConfigError::invalid(
                    "scope",
                    "must be scope tokens (printable ASCII without `\"` and `\\`) separated by single spaces",
                ));
            }
        }
        if self.secret_in_body && self.shape != Shape::Form {
            return Err(ConfigError::invalid(
                "client_secret_post",
                "only a client_credentials_form endpoint takes the secret in a form",
            ));
        }
        let basic = || {
            basic_header(client_id, client_secret)
                .ok_or_else(|| ConfigError::invalid("client_secret", "a header cannot carry it"))
        };
        let scope = self.scope.as_deref();
        let (authorization, body) = match self.shape {
            Shape::CrmNow => (Some(basic()?), None),
            Shape::Form => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "client_credentials");
                if let Some(scope) = scope {
                    form.append_pair("scope", scope);
                }
                let authorization = if self.secret_in_body {
                    form.append_pair("client_id", client_id);
                    form.append_pair("client_secret", client_secret);
                    None
                } else {
                    Some(basic()?)
                };
                let body = Body {
                    content_type: HeaderValue::from_static("application/x-www-form-urlencoded"),
                    bytes: form.finish().into_bytes(),
                };
                (authorization, Some(body))
            }
            Shape::Json(media_type) => {
                let mut object = serde_json::Map::new();
                object.insert("grant_type".into(), "client_credentials".into());
                object.insert("client_id".into(), client_id.into());
                object.insert("client_secret".into(), client_secret.into());
                if let Some(scope) = scope {
                    object.insert("scope".into(), scope.into());
                }
                let body = Body {
                    content_type: HeaderValue::from_static(media_type),
                    bytes: serde_json::Value::Object(object).to_string().into_bytes(),
                };
                (None, Some(body))
            }
        };
        let accept = match self.shape {
            Shape::Json("application/vnd.api+json") => "application/vnd.api+json, application/json",
            _ => "application/json",
        };
        Ok(PreparedRequest {
            url,
            authorization,
            body,
            accept: HeaderValue::from_static(accept),
        })
    }
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("url", &without_query(&self.url))
            .field("shape", &self.shape)
            .field("scope", &self.scope)
            .field("client_secret_post", &self.secret_in_body)
            .finish()
    }
}

/// `url` without its query and fragment (a query may hold a key).
pub(crate) fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// RFC 6749 §3.3: `scope-token *( SP scope-token )`, `scope-token = 1*( %x21 / %x23-5B /
/// %x5D-7E )`.
fn is_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope.split(' ').all(|token| {
            !token.is_empty()
                && token
                    .bytes()
                    .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
        })
}

/// A request body with its media type.
struct Body {
    content_type: HeaderValue,
    bytes: Vec<u8>,
}

/// The token request, built once: it holds the encoded credentials, so its `Debug` shows none.
pub(crate) struct PreparedRequest {
    url: Url,
    /// `Basic …`, marked sensitive.
    authorization: Option<HeaderValue>,
    body: Option<Body>,
    accept: HeaderValue,
}

impl PreparedRequest {
    /// The request, ready to send with `client`.
    pub(crate) fn request(&self, client: &reqwest::Client) -> reqwest::RequestBuilder {
        let mut request = client
            .post(self.url.clone())
            .header(ACCEPT, self.accept.clone());
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        match &self.body {
            Some(body) => request
                .header(CONTENT_TYPE, body.content_type.clone())
                .body(body.bytes.clone()),
            None => request.header(CONTENT_LENGTH, "0"),
        }
    }

    /// The endpoint's host, for logs.
    pub(crate) fn host(&self) -> &str {
        self.url.host_str().unwrap_or("")
    }
}

impl fmt::Debug for PreparedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedRequest")
            .field("host", &self.host())
            .field("path", &self.url.path())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::basic_credentials;

    const URL: &str = "http://127.0.0.1:9/token";

    fn built(endpoint: &TokenEndpoint, id: &str, secret: &str) -> reqwest::Request {
        let client = reqwest::Client::new();
        endpoint
            .prepare(id, secret, false)
            .unwrap()
            .request(&client)
            .build()
            .unwrap()
    }

    fn body(request: &reqwest::Request) -> String {
        let bytes = request.body().and_then(|b| b.as_bytes()).unwrap_or(b"");
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn crm_now_is_basic_without_a_body() {
        for (id, secret) in [("a:b", "50%+x y"), ("Müller€", "ü € *"), ("plain", "")] {
            let request = built(&TokenEndpoint::crm_now(URL), id, secret);
            let header = &request.headers()[AUTHORIZATION];
            assert!(header.is_sensitive());
            assert_eq!(header.to_str().unwrap(), basic_credentials(id, secret));
            assert_eq!(request.method(), reqwest::Method::POST);
            assert_eq!(request.headers()[CONTENT_LENGTH], "0");
            assert_eq!(body(&request), "");
        }
    }

    #[test]
    fn the_form_carries_the_grant_scope_and_maybe_the_secret() {
        let basic = built(
            &TokenEndpoint::client_credentials_form(URL).scope("a b:c"),
            "id&1",
            "s=2",
        );
        assert_eq!(body(&basic), "grant_type=client_credentials&scope=a+b%3Ac");
        assert_eq!(
            basic.headers()[AUTHORIZATION].to_str().unwrap(),
            basic_credentials("id&1", "s=2")
        );
        let post = built(
            &TokenEndpoint::client_credentials_form(URL).client_secret_post(),
            "id&1",
            "s=2",
        );
        assert_eq!(
            body(&post),
            "grant_type=client_credentials&client_id=id%261&client_secret=s%3D2"
        );
        assert!(post.headers().get(AUTHORIZATION).is_none());
        assert_eq!(
            post.headers()[CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
    }

    #[test]
    fn json_endpoints_send_the_credentials_in_the_body() {
        let suite = built(&TokenEndpoint::suitecrm(URL), "id\"", "sé\\cret");
        assert_eq!(suite.headers()[CONTENT_TYPE], "application/vnd.api+json");
        let object: serde_json::Value = serde_json::from_str(&body(&suite)).unwrap();
        assert_eq!(
            object,
            serde_json::json!({"grant_type": "client_credentials", "client_id": "id\"", "client_secret": "sé\\cret"})
        );
        assert!(suite.headers().get(AUTHORIZATION).is_none());
        let one = built(
            &TokenEndpoint::onecrm("http://127.0.0.1:9/api.php/").scope("read profile"),
            "i",
            "s",
        );
        assert_eq!(one.url().path(), "/api.php/auth/user/access_token");
        assert_eq!(one.headers()[CONTENT_TYPE], "application/json");
        let object: serde_json::Value = serde_json::from_str(&body(&one)).unwrap();
        assert_eq!(object["scope"], "read profile");
    }

    #[test]
    fn settings_that_do_not_fit_name_themselves() {
        let named = |endpoint: TokenEndpoint, id: &str| match endpoint.prepare(id, "s", false) {
            Err(ConfigError::Invalid { name, .. } | ConfigError::InsecureUrl { name, .. }) => {
                name.into_owned()
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(
            named(TokenEndpoint::crm_now(URL).scope("read"), "i"),
            "scope"
        );
        assert_eq!(
            named(TokenEndpoint::suitecrm(URL).client_secret_post(), "i"),
            "client_secret_post"
        );
        for bad in ["", "a  b", " a", "a\"b", "a\\b", "é"] {
            assert_eq!(
                named(TokenEndpoint::client_credentials_form(URL).scope(bad), "i"),
                "scope",
                "{bad:?}"
            );
        }
        assert_eq!(named(TokenEndpoint::crm_now(URL), ""), "client_id");
        assert_eq!(
            named(TokenEndpoint::crm_now("http://example.com/t"), "i"),
            "token endpoint url"
        );
    }

    #[test]
    fn debug_shows_no_secret_and_no_query() {
        let endpoint = TokenEndpoint::crm_now("https://h.example/t?key=k3y-in-query");
        assert!(!format!("{endpoint:?}").contains("k3y-in-query"));
        let prepared = TokenEndpoint::client_credentials_form(URL)
            .client_secret_post()
            .prepare("id", "s3cret-value", false)
            .unwrap();
        assert!(!format!("{prepared:?}").contains("s3cret-value"));
    }
}
