//! Building the verifier a [`GuardConfig`]'s mode calls for, each builder's errors put under
//! the variable that holds the refused setting.

use std::sync::Arc;

use super::rename::rename;
use super::{GuardConfig, Mode};
use crate::error::ConfigError;
use crate::outbound;
use crate::verify::{
    AutoVerifier, Bitrix24Verifier, IntrospectionVerifier, JwtVerifier, RemoteVerifier, Verifier,
};

impl GuardConfig {
    /// Builds the verifier the mode calls for.
    ///
    /// # Errors
    /// [`ConfigError`] when no source is configured, or a source's settings are refused.
    pub fn verifier(&self) -> Result<Arc<dyn Verifier>, ConfigError> {
        match self.mode {
            None => Err(ConfigError::invalid(
                "GUARD_MODE",
                "no GUARD_VERIFY_URL, GUARD_JWKS_URL, GUARD_JWT_PUBLIC_KEY, \
                 GUARD_INTROSPECTION_URL or GUARD_BITRIX24_PORTAL is set",
            )),
            Some(Mode::Introspect) => Ok(Arc::new(self.introspection_verifier()?)),
            Some(Mode::Bitrix24) => Ok(Arc::new(self.bitrix24_verifier()?)),
            Some(Mode::Remote) => Ok(Arc::new(self.remote_verifier()?)),
            Some(Mode::Jwt) => Ok(Arc::new(self.jwt_verifier()?)),
            Some(Mode::Auto) => {
                let remote: Arc<dyn Verifier> = Arc::new(self.remote_verifier()?);
                Ok(Arc::new(AutoVerifier::new(self.jwt_verifier()?, remote)))
            }
        }
    }

    /// The client for every outbound call when `GUARD_HTTPS_PROXY` is set; `None` lets each
    /// verifier build its own proxy-less client.
    fn proxied_client(&self) -> Result<Option<reqwest::Client>, ConfigError> {
        self.https_proxy
            .as_deref()
            .map(|proxy| outbound::http_client_via_https_proxy("GUARD_HTTPS_PROXY", proxy))
            .transpose()
    }

    /// The local JWT verifier from `GUARD_JWKS_URL` / `GUARD_JWT_PUBLIC_KEY`, `GUARD_ISSUER`,
    /// `GUARD_AUDIENCE` and `GUARD_REQUIRE_AT_JWT`. With a JWKS URL it must be called inside a
    /// tokio runtime (the key set is fetched and refreshed in the background).
    fn jwt_verifier(&self) -> Result<JwtVerifier, ConfigError> {
        let mut builder = JwtVerifier::builder()
            .allow_plain_http(self.allow_plain_http)
            .require_access_token_typ(self.require_at_jwt);
        if let Some(client) = self.proxied_client()? {
            builder = builder.http_client(client);
        }
        if let Some(url) = &self.jwks_url {
            builder = builder.jwks_url(url.clone());
        }
        if let Some(path) = &self.jwt_public_key {
            // The file's content is never put into an error message: only its path.
            let pem = std::fs::read(path).map_err(|e| ConfigError::Key {
                name: "GUARD_JWT_PUBLIC_KEY".into(),
                problem: format!("cannot read {}: {}", path.display(), e.kind()).into(),
            })?;
            builder = builder.public_key_pem(pem);
        }
        for issuer in &self.issuers {
            builder = builder.issuer(issuer.clone());
        }
        for audience in &self.audiences {
            builder = builder.audience(audience.clone());
        }
        builder.build().map_err(|e| match &e {
            ConfigError::Key { .. } => rename(e, "GUARD_JWT_PUBLIC_KEY"),
            ConfigError::InsecureUrl { .. } => rename(e, "GUARD_JWKS_URL"),
            _ => rename(e, "GUARD_MODE"),
        })
    }

    fn introspection_verifier(&self) -> Result<IntrospectionVerifier, ConfigError> {
        let url = self.introspection_url.as_deref().ok_or_else(|| {
            ConfigError::invalid("GUARD_INTROSPECTION_URL", "required in introspect mode")
        })?;
        let mut builder =
            IntrospectionVerifier::builder(url).allow_plain_http(self.allow_plain_http);
        if let (Some(id), Some(secret)) = (
            &self.introspection_client_id,
            &self.introspection_client_secret,
        ) {
            // The verifier keeps what it needs for every introspection call (the `Basic` header,
            // built once and marked sensitive) for its lifetime; this config keeps the `Secret`.
            builder = builder.client_basic(id.clone(), secret.clone());
        }
        for issuer in &self.issuers {
            builder = builder.issuer(issuer.clone());
        }
        for audience in &self.audiences {
            builder = builder.audience(audience.clone());
        }
        if let Some(client) = self.proxied_client()? {
            builder = builder.http_client(client);
        }
        builder
            .build()
            .map_err(|e| rename(e, "GUARD_INTROSPECTION_URL"))
    }

    fn bitrix24_verifier(&self) -> Result<Bitrix24Verifier, ConfigError> {
        let portal = self.bitrix24_portal.as_deref().ok_or_else(|| {
            ConfigError::invalid("GUARD_BITRIX24_PORTAL", "required in bitrix24 mode")
        })?;
        let mut builder = Bitrix24Verifier::builder(portal).allow_plain_http(self.allow_plain_http);
        if let Some(code) = &self.bitrix24_app_code {
            builder = builder.app_code(code.clone());
        }
        if let Some(client) = self.proxied_client()? {
            builder = builder.http_client(client);
        }
        builder
            .build()
            .map_err(|e| rename(e, "GUARD_BITRIX24_PORTAL"))
    }

    fn remote_verifier(&self) -> Result<RemoteVerifier, ConfigError> {
        let url = self.verify_url.as_deref().ok_or_else(|| {
            ConfigError::invalid("GUARD_VERIFY_URL", "required in remote and auto mode")
        })?;
        let mut builder = RemoteVerifier::builder()
            .url(url)
            .form_encoding(self.verify_encoding)
            .allow_plain_http(self.allow_plain_http);
        if let Some(client) = self.proxied_client()? {
            builder = builder.http_client(client);
        }
        builder.build().map_err(|e| rename(e, "GUARD_VERIFY_URL"))
    }
}
