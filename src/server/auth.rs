//! Credentials → [`Principal`]. Three kinds are accepted: API tokens (`pot_…`, random, shown
//! once, stored as SHA-256 hashes, with scopes, expiry and revocation), short-lived JWTs that
//! `POST /api/v1/auth/token` issues for an API token (HS256 or RS256; exp, nbf, iss and aud are
//! checked), and Langfuse key pairs (`pk-lf-…` / `sk-lf-…`, HTTP Basic). Hashes are compared in
//! constant time. What a principal may then do is [`crate::access`]'s business.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use crate::access::{Principal, Role};
use crate::secret::SecretString;
use crate::store::{Store, TokenGrant, TokenScope};

/// Prefix of API tokens, so that they are recognisable in a leak scanner.
pub const TOKEN_PREFIX: &str = "pot_";
/// Prefix of Langfuse public keys.
pub const PUBLIC_KEY_PREFIX: &str = "pk-lf-";
/// Prefix of Langfuse secret keys.
pub const SECRET_KEY_PREFIX: &str = "sk-lf-";
/// How long an authenticated API token is remembered before the store is asked again; bounds how
/// late another replica's revocation takes effect here (this process forgets at once).
const GRANT_TTL: Duration = Duration::from_secs(2);

/// `prefix` + 32 random bytes in hex.
pub fn random_secret(prefix: &str) -> SecretString {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::new(format!("{prefix}{}", hex::encode(bytes)))
}

/// A short random id (`tok_3fa9c1d2e4b5`), not secret.
pub fn random_id(prefix: &str) -> String {
    let mut bytes = [0_u8; 6];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// Hex SHA-256 of a secret: the only form in which secrets are stored.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether two hashes are equal, in time independent of where they differ.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// How JWTs are signed and checked.
pub enum JwtKeys {
    /// HMAC-SHA256 with a shared secret (`PROMPTOPS_JWT_SECRET`).
    Hs256(SecretString),
    /// RSA-SHA256 with a PEM key pair.
    Rs256 {
        /// The private key (signs).
        encoding: EncodingKey,
        /// The public key (checks).
        decoding: DecodingKey,
    },
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Hs256(_) => "JwtKeys::Hs256(****)",
            Self::Rs256 { .. } => "JwtKeys::Rs256(****)",
        })
    }
}

impl JwtKeys {
    /// RS256 keys from PEM texts.
    pub fn rs256(private_pem: &[u8], public_pem: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self::Rs256 {
            encoding: EncodingKey::from_rsa_pem(private_pem)?,
            decoding: DecodingKey::from_rsa_pem(public_pem)?,
        })
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            Self::Hs256(_) => Algorithm::HS256,
            Self::Rs256 { .. } => Algorithm::RS256,
        }
    }
}

/// The JWT settings: keys, issuer, audience and lifetime.
#[derive(Debug)]
pub struct JwtSettings {
    /// Signing keys.
    pub keys: JwtKeys,
    /// `iss`, set and checked.
    pub issuer: String,
    /// `aud`, set and checked.
    pub audience: String,
    /// How long an access token lives.
    pub lifetime: Duration,
}

/// The claims of an access token: who, in which tenant, with which roles, and when it is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The principal.
    pub sub: String,
    /// Its tenant.
    pub tenant: String,
    /// Its roles by project when the token was issued.
    pub roles: BTreeMap<String, Role>,
    /// Tenant administrator.
    #[serde(default)]
    pub tenant_admin: bool,
    /// Server administrator.
    #[serde(default)]
    pub super_admin: bool,
    /// The API token it was exchanged for.
    pub jti: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Not before.
    pub nbf: i64,
    /// Issued at.
    pub iat: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
}

impl JwtSettings {
    /// Signs an access token for `caller`.
    pub fn issue(&self, caller: &Caller) -> Result<String, ApiError> {
        let now = Utc::now().timestamp();
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX);
        let principal = &caller.principal;
        let claims = Claims {
            sub: principal.subject.clone(),
            tenant: principal.tenant.clone(),
            roles: principal.roles.clone(),
            tenant_admin: principal.tenant_admin,
            super_admin: principal.super_admin,
            jti: caller.credential.clone(),
            exp: now.saturating_add(lifetime),
            nbf: now,
            iat: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let header = Header::new(self.keys.algorithm());
        let signed = match &self.keys {
            JwtKeys::Hs256(secret) => {
                jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret.expose().as_bytes()))
            }
            JwtKeys::Rs256 { encoding, .. } => jsonwebtoken::encode(&header, &claims, encoding),
        };
        signed.map_err(|err| ApiError::Internal(Box::new(err)))
    }

    /// Checks a JWT's signature, exp, nbf, iss and aud.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let mut validation = Validation::new(self.keys.algorithm());
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let decoded = match &self.keys {
            JwtKeys::Hs256(secret) => jsonwebtoken::decode::<Claims>(
                token,
                &DecodingKey::from_secret(secret.expose().as_bytes()),
                &validation,
            ),
            JwtKeys::Rs256 { decoding, .. } => jsonwebtoken::decode::<Claims>(token, decoding, &validation),
        }
        .map_err(|err| ApiError::Unauthenticated { message: format!("invalid access token: {err}") })?;
        let claims = decoded.claims;
        Ok(Caller {
            principal: Principal {
                subject: claims.sub,
                tenant: claims.tenant,
                roles: claims.roles,
                tenant_admin: claims.tenant_admin,
                super_admin: claims.super_admin,
            },
            credential: claims.jti,
        })
    }
}

/// An authenticated caller: the principal and the credential it used (the rate-limit key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who, with which rights.
    pub principal: Principal,
    /// The token id, or the key pair's public key.
    pub credential: String,
}

/// The principal an API token grants: its principal's roles, capped by the token's scopes.
pub fn principal_of(grant: TokenGrant) -> Principal {
    let TokenGrant { tenant, token, principal, roles } = grant;
    let restricted = !token.scopes.is_empty();
    let roles = roles
        .into_iter()
        .filter_map(|(project, role)| cap(&token.scopes, &project, role).map(|role| (project, role)))
        .collect();
    Principal {
        subject: principal.name.to_string(),
        tenant,
        roles,
        tenant_admin: principal.tenant_admin && !restricted,
        super_admin: principal.super_admin && !restricted,
    }
}

/// The role left on `project` once `scopes` apply (none if no scope names the project).
fn cap(scopes: &[TokenScope], project: &str, role: Role) -> Option<Role> {
    if scopes.is_empty() {
        return Some(role);
    }
    scopes.iter().filter(|s| s.project == project || s.project == "*").map(|s| s.role.min(role)).max()
}

/// Recently authenticated API tokens, by hash, so that a busy client costs no query per request.
#[derive(Debug, Default)]
pub struct GrantCache {
    entries: Mutex<HashMap<String, (Caller, Instant)>>,
}

impl GrantCache {
    /// Forgets everything (after any change to accounts made by this process).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    fn get(&self, hash: &str) -> Option<Caller> {
        let entries = self.entries.lock().ok()?;
        entries.get(hash).filter(|(_, at)| at.elapsed() < GRANT_TTL).map(|(caller, _)| caller.clone())
    }

    fn put(&self, hash: String, caller: Caller) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(hash, (caller, Instant::now()));
        }
    }
}

/// Checks an API token: known, hash equal, not revoked, not expired.
pub async fn api_token(store: &dyn Store, cache: &GrantCache, token: &str) -> Result<Caller, ApiError> {
    let hash = hash_secret(token);
    if let Some(caller) = cache.get(&hash) {
        return Ok(caller);
    }
    let unknown = || ApiError::Unauthenticated { message: "unknown API token".to_owned() };
    let grant = store.authenticate_token(&hash).await?.ok_or_else(unknown)?;
    if !hashes_equal(&grant.token.hash, &hash) {
        return Err(unknown());
    }
    if grant.token.revoked_at.is_some() {
        return Err(ApiError::Unauthenticated { message: format!("API token `{}` was revoked", grant.token.id) });
    }
    if grant.token.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::Unauthenticated { message: format!("API token `{}` has expired", grant.token.id) });
    }
    let credential = grant.token.id.clone();
    let caller = Caller { principal: principal_of(grant), credential };
    cache.put(hash, caller.clone());
    Ok(caller)
}

/// Checks a Langfuse key pair from an HTTP Basic header value (`base64(pk:sk)`).
pub async fn key_pair(store: &dyn Store, basic: &str) -> Result<Caller, ApiError> {
    let unknown = || ApiError::Unauthenticated { message: "invalid public key or secret key".to_owned() };
    let decoded = base64::engine::general_purpose::STANDARD.decode(basic.trim()).map_err(|_| unknown())?;
    let text = String::from_utf8(decoded).map_err(|_| unknown())?;
    let (public_key, secret_key) = text.split_once(':').ok_or_else(unknown)?;
    let grant = store.authenticate_key_pair(public_key).await?.ok_or_else(unknown)?;
    if !hashes_equal(&grant.key.secret_hash, &hash_secret(secret_key)) || grant.key.revoked_at.is_some() {
        return Err(unknown());
    }
    let key = grant.key;
    Ok(Caller {
        principal: Principal {
            subject: format!("key:{}", key.public_key),
            tenant: grant.tenant,
            roles: BTreeMap::from([(key.project.to_string(), key.role)]),
            tenant_admin: false,
            super_admin: false,
        },
        credential: key.public_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(project: &str, role: Role) -> TokenScope {
        TokenScope { project: project.to_owned(), role }
    }

    #[test]
    fn scopes_cap_roles_and_hide_other_projects() {
        assert_eq!(cap(&[], "p", Role::Admin), Some(Role::Admin));
        assert_eq!(cap(&[scope("p", Role::Viewer)], "p", Role::Admin), Some(Role::Viewer));
        assert_eq!(cap(&[scope("p", Role::Owner)], "p", Role::Editor), Some(Role::Editor));
        assert_eq!(cap(&[scope("p", Role::Viewer)], "q", Role::Admin), None);
        assert_eq!(cap(&[scope("*", Role::Runner)], "q", Role::Admin), Some(Role::Runner));
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let (a, b) = (random_secret(TOKEN_PREFIX), random_secret(TOKEN_PREFIX));
        assert_ne!(a, b);
        assert!(a.expose().starts_with(TOKEN_PREFIX));
        assert_eq!(hash_secret(a.expose()).len(), 64);
        assert!(hashes_equal(&hash_secret(a.expose()), &hash_secret(a.expose())));
        assert!(!hashes_equal(&hash_secret(a.expose()), &hash_secret(b.expose())));
    }

    fn settings(keys: JwtKeys) -> JwtSettings {
        JwtSettings {
            keys,
            issuer: "promptops".into(),
            audience: "promptops-api".into(),
            lifetime: Duration::from_secs(60),
        }
    }

    fn caller() -> Caller {
        Caller {
            principal: Principal {
                subject: "ada".into(),
                tenant: "acme".into(),
                roles: BTreeMap::from([("web".to_owned(), Role::Editor)]),
                tenant_admin: false,
                super_admin: false,
            },
            credential: "tok_1".into(),
        }
    }

    #[test]
    fn jwt_round_trips_and_checks_signature_issuer_and_audience() {
        let jwt = settings(JwtKeys::Hs256(SecretString::new("s3cret")));
        let token = jwt.issue(&caller()).expect("signs");
        assert_eq!(jwt.verify(&token).expect("valid"), caller());
        assert!(settings(JwtKeys::Hs256(SecretString::new("other"))).verify(&token).is_err());
        let mut wrong_aud = settings(JwtKeys::Hs256(SecretString::new("s3cret")));
        wrong_aud.audience = "else".into();
        assert!(wrong_aud.verify(&token).is_err());
        let mut wrong_iss = settings(JwtKeys::Hs256(SecretString::new("s3cret")));
        wrong_iss.issuer = "else".into();
        assert!(wrong_iss.verify(&token).is_err());
    }

    #[test]
    fn expired_and_not_yet_valid_jwts_are_refused() {
        let jwt = settings(JwtKeys::Hs256(SecretString::new("s3cret")));
        let now = Utc::now().timestamp();
        for (nbf, exp) in [(now - 600, now - 300), (now + 300, now + 600)] {
            let claims = Claims {
                sub: "ada".into(),
                tenant: "acme".into(),
                roles: BTreeMap::new(),
                tenant_admin: false,
                super_admin: false,
                jti: "tok_1".into(),
                exp,
                nbf,
                iat: nbf,
                iss: "promptops".into(),
                aud: "promptops-api".into(),
            };
            let token =
                jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(b"s3cret"))
                    .expect("signs");
            assert!(jwt.verify(&token).is_err(), "nbf {nbf} exp {exp} accepted");
        }
    }
}
