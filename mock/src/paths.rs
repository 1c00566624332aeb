//! The paths the mock serves, and the largest request body it reads.

/// Largest request body the mock reads (64 KiB); larger bodies get `413`.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Path of the crm-now token and verifytoken endpoint.
pub const TOKEN_PATH: &str = "/v1/getOauthToken.php";

/// Path of SuiteCRM's token endpoint (client credentials in a JSON body).
pub const SUITECRM_TOKEN_PATH: &str = "/Api/access_token";

/// Path of 1CRM's token endpoint for users (client credentials in a JSON body), below its
/// API entry point `/api.php`.
pub const ONECRM_TOKEN_PATH: &str = "/api.php/auth/user/access_token";

/// Path of the RFC 6749 form token endpoint.
pub const FORM_TOKEN_PATH: &str = "/oauth2/token";

/// Path of the JSON Web Key Set.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Path of the discovery document.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Path of the RFC 7662 introspection endpoint.
pub const INTROSPECTION_PATH: &str = "/oauth2/introspect";

/// Route of the Bitrix24 REST methods (`/rest/app.info`, `/rest/profile`, `/rest/scope`,
/// `/rest/batch`); the portal's base URL is the issuer's [`base_url`](crate::MockIssuer::base_url).
pub const BITRIX24_PATH: &str = "/rest/{method}";
