//! Credentials → [`Caller`]. Three kinds are accepted: API tokens (`pot_…`, random, shown
//! once, stored as SHA-256 hashes, with scopes, expiry and revocation), short-lived JWTs that
//! `POST /api/v1/auth/token` issues for an API token ([`super::jwt`]; each request checks the
//! token behind it too), and Langfuse key pairs (`pk-lf-…` / `sk-lf-…`, HTTP Basic; bounded by
//! their creator's current role). Hashes are compared in constant time; the [`GrantCache`] keeps
//! the store out of busy paths. What a principal may then do is [`crate::access`]'s business,
//! and what a credential may make is [`super::bounds`]'.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
pub use super::jwt::{Claims, JwtKeyError, JwtKeys, JwtSettings};
use crate::access::{Principal, Role};
use crate::secret::SecretString;
use crate::store::{Store, TokenGrant, TokenKey, TokenScope};

/// Prefix of API tokens, so that they are recognisable in a leak scanner.
pub const TOKEN_PREFIX: &str = "pot_";
/// Prefix of Langfuse public keys.
pub const PUBLIC_KEY_PREFIX: &str = "pk-lf-";
/// Prefix of Langfuse secret keys.
pub const SECRET_KEY_PREFIX: &str = "sk-lf-";
/// How long an authenticated credential is remembered before the store is asked again; bounds how
/// late another replica's revocation or role change takes effect here (this process forgets at
/// once).
pub const GRANT_TTL: Duration = Duration::from_secs(2);

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

/// Which kind of credential a caller presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// An API token (`pot_…`).
    ApiToken,
    /// An access token from `POST /api/v1/auth/token`.
    Jwt,
    /// A Langfuse key pair.
    KeyPair,
}

/// An authenticated caller: the principal, the credential it used (the rate-limit key) and the
/// limits that credential carries, which bound anything made with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who, with which rights (already capped by the credential's scopes).
    pub principal: Principal,
    /// The token id (for a JWT, its API token's), or the key pair's public key.
    pub credential: String,
    /// What the credential is.
    pub kind: CredentialKind,
    /// The scopes of the API token behind the credential (empty: none, the principal's rights).
    pub scopes: Vec<TokenScope>,
    /// When the credential stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
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

/// The caller an API token makes, with its scopes and expiry.
fn caller_of(grant: TokenGrant) -> Caller {
    let (credential, scopes, expires_at) = (grant.token.id.clone(), grant.token.scopes.clone(), grant.token.expires_at);
    Caller { principal: principal_of(grant), credential, kind: CredentialKind::ApiToken, scopes, expires_at }
}

/// The role left on `project` once `scopes` apply (none if no scope names the project).
fn cap(scopes: &[TokenScope], project: &str, role: Role) -> Option<Role> {
    if scopes.is_empty() {
        return Some(role);
    }
    scopes.iter().filter(|s| s.project == project || s.project == "*").map(|s| s.role.min(role)).max()
}

/// Recently authenticated credentials, so that a busy client costs no query per request: API
/// tokens by the hash of their secret and by id (for their JWTs), key pairs by the hash of the
/// pair. An entry lives [`GRANT_TTL`], or until this process changes any account.
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

    fn get(&self, key: &str) -> Option<Caller> {
        let entries = self.entries.lock().ok()?;
        let (caller, at) = entries.get(key)?;
        let live = at.elapsed() < GRANT_TTL && caller.expires_at.is_none_or(|at| at > Utc::now());
        live.then(|| caller.clone())
    }

    fn put(&self, key: String, caller: Caller) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(key, (caller, Instant::now()));
        }
    }
}

/// Checks an API token: known, hash equal, not revoked, not expired.
pub async fn api_token(store: &dyn Store, cache: &GrantCache, token: &str) -> Result<Caller, ApiError> {
    let hash = hash_secret(token);
    let unknown = || ApiError::Unauthenticated { message: "unknown API token".to_owned() };
    token_grant(store, cache, TokenKey::Hash(&hash)).await?.ok_or_else(unknown)
}

/// Checks a JWT: its signature and claims, then the API token it was exchanged for (not revoked,
/// not expired, same principal), and narrows its rights to the lesser of both.
pub async fn jwt(
    store: &dyn Store,
    cache: &GrantCache,
    settings: &JwtSettings,
    token: &str,
) -> Result<Caller, ApiError> {
    let claims = settings.verify(token)?;
    let invalid = || ApiError::Unauthenticated { message: "invalid access token".to_owned() };
    let issuer = token_grant(store, cache, TokenKey::Id(&claims.jti)).await?.ok_or_else(invalid)?;
    let principal = claims.narrow(&issuer.principal).ok_or_else(invalid)?;
    let expires_at = super::bounds::earliest(claims.expires_at(), issuer.expires_at);
    Ok(Caller { principal, kind: CredentialKind::Jwt, expires_at, ..issuer })
}

/// The caller of the API token found by `key`, from the cache or the store: `None` if there is
/// no such token, an error if it was revoked or has expired.
async fn token_grant(store: &dyn Store, cache: &GrantCache, key: TokenKey<'_>) -> Result<Option<Caller>, ApiError> {
    let cache_key = match key {
        TokenKey::Hash(hash) => format!("hash:{hash}"),
        TokenKey::Id(id) => format!("id:{id}"),
    };
    if let Some(caller) = cache.get(&cache_key) {
        return Ok(Some(caller));
    }
    let Some(grant) = store.authenticate_token(key).await? else { return Ok(None) };
    if let TokenKey::Hash(hash) = key
        && !hashes_equal(&grant.token.hash, hash)
    {
        return Ok(None);
    }
    if grant.token.revoked_at.is_some() {
        return Err(ApiError::Unauthenticated { message: format!("API token `{}` was revoked", grant.token.id) });
    }
    if grant.token.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::Unauthenticated { message: format!("API token `{}` has expired", grant.token.id) });
    }
    let caller = caller_of(grant);
    cache.put(cache_key, caller.clone());
    Ok(Some(caller))
}

/// Checks a Langfuse key pair from an HTTP Basic header value (`base64(pk:sk)`): known, secret
/// equal, not revoked, not expired, and its creator still a member of its project. The key acts
/// with its own role or its creator's current one, whichever is weaker.
pub async fn key_pair(store: &dyn Store, cache: &GrantCache, basic: &str) -> Result<Caller, ApiError> {
    let unknown = || ApiError::Unauthenticated { message: "invalid public key or secret key".to_owned() };
    let decoded = base64::engine::general_purpose::STANDARD.decode(basic.trim()).map_err(|_| unknown())?;
    let text = String::from_utf8(decoded).map_err(|_| unknown())?;
    let (public_key, secret_key) = text.split_once(':').ok_or_else(unknown)?;
    let cache_key = format!("pair:{}", hash_secret(&text));
    if let Some(caller) = cache.get(&cache_key) {
        return Ok(caller);
    }
    let grant = store.authenticate_key_pair(public_key).await?.ok_or_else(unknown)?;
    if !hashes_equal(&grant.key.secret_hash, &hash_secret(secret_key)) || grant.key.revoked_at.is_some() {
        return Err(unknown());
    }
    let key = grant.key;
    if key.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::Unauthenticated { message: format!("key pair `{}` has expired", key.public_key) });
    }
    let creator_role = grant.creator_role.ok_or_else(|| ApiError::Unauthenticated {
        message: format!("key pair `{}` no longer works: its creator has no role on its project", key.public_key),
    })?;
    let caller = Caller {
        principal: Principal {
            subject: format!("key:{}", key.public_key),
            tenant: grant.tenant,
            roles: BTreeMap::from([(key.project.to_string(), key.role.min(creator_role))]),
            tenant_admin: false,
            super_admin: false,
        },
        credential: key.public_key,
        kind: CredentialKind::KeyPair,
        scopes: Vec::new(),
        expires_at: key.expires_at,
    };
    cache.put(cache_key, caller.clone());
    Ok(caller)
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
}
