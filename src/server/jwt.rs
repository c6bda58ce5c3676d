//! Access tokens (JWTs): `POST /api/v1/auth/token` signs one for an API token (HS256 with a
//! secret of at least 32 bytes, or RS256), never for longer than that token lives. A JWT is only
//! a signed, short-lived handle on its API token: [`super::auth::jwt`] checks the signature here,
//! then the token behind it in the store, so a JWT dies with its token and never grants more than
//! the token grants now, nor more than it said when it was issued.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::ApiError;
use crate::access::{Principal, Role};
use crate::secret::SecretString;

/// How JWTs are signed and checked. Built only through [`JwtKeys::hs256`], [`JwtKeys::rs256`]
/// or [`JwtKeys::random`], so a short HMAC secret cannot be used.
pub struct JwtKeys(Keys);

enum Keys {
    Hs256 { encoding: EncodingKey, decoding: DecodingKey },
    Rs256 { encoding: EncodingKey, decoding: DecodingKey },
}

/// Why JWT keys were refused.
#[derive(Debug, thiserror::Error)]
pub enum JwtKeyError {
    /// The HS256 secret is shorter than the hash (RFC 7518 §3.2).
    #[error("the JWT secret is {length} bytes long, but HS256 needs at least {} bytes", JwtKeys::MIN_SECRET_BYTES)]
    ShortSecret {
        /// Its length in bytes.
        length: usize,
    },
    /// A PEM file is not an RSA key.
    #[error("invalid RSA key")]
    Rsa(#[source] jsonwebtoken::errors::Error),
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Keys::Hs256 { .. } => "JwtKeys::Hs256(****)",
            Keys::Rs256 { .. } => "JwtKeys::Rs256(****)",
        })
    }
}

impl JwtKeys {
    /// The shortest HS256 secret accepted: as long as the SHA-256 output.
    pub const MIN_SECRET_BYTES: usize = 32;

    /// HMAC-SHA256 with a shared secret of at least [`Self::MIN_SECRET_BYTES`] bytes.
    pub fn hs256(secret: SecretString) -> Result<Self, JwtKeyError> {
        let bytes = secret.expose().as_bytes();
        if bytes.len() < Self::MIN_SECRET_BYTES {
            return Err(JwtKeyError::ShortSecret { length: bytes.len() });
        }
        Ok(Self(Keys::Hs256 { encoding: EncodingKey::from_secret(bytes), decoding: DecodingKey::from_secret(bytes) }))
    }

    /// RSA-SHA256 with a PEM key pair.
    pub fn rs256(private_pem: &[u8], public_pem: &[u8]) -> Result<Self, JwtKeyError> {
        Ok(Self(Keys::Rs256 {
            encoding: EncodingKey::from_rsa_pem(private_pem).map_err(JwtKeyError::Rsa)?,
            decoding: DecodingKey::from_rsa_pem(public_pem).map_err(JwtKeyError::Rsa)?,
        }))
    }

    /// HS256 with a random secret: access tokens then die with the process.
    pub fn random() -> Self {
        Self::hs256(super::auth::random_secret("")).expect("invariant: 64 hex digits are long enough")
    }

    fn algorithm(&self) -> Algorithm {
        match self.0 {
            Keys::Hs256 { .. } => Algorithm::HS256,
            Keys::Rs256 { .. } => Algorithm::RS256,
        }
    }

    fn encoding(&self) -> &EncodingKey {
        match &self.0 {
            Keys::Hs256 { encoding, .. } | Keys::Rs256 { encoding, .. } => encoding,
        }
    }

    fn decoding(&self) -> &DecodingKey {
        match &self.0 {
            Keys::Hs256 { decoding, .. } | Keys::Rs256 { decoding, .. } => decoding,
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
    /// How long an access token lives (less if its API token expires sooner).
    pub lifetime: Duration,
}

/// The claims of an access token: who, in which tenant, with which roles, and when it is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The principal.
    pub sub: String,
    /// Its tenant.
    pub tenant: String,
    /// Its roles by project when the token was issued: the most it may ever use.
    pub roles: BTreeMap<String, Role>,
    /// Tenant administrator.
    #[serde(default)]
    pub tenant_admin: bool,
    /// Server administrator.
    #[serde(default)]
    pub super_admin: bool,
    /// The id of the API token it was exchanged for.
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

/// A signed access token and how many seconds it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl JwtSettings {
    /// Signs an access token for `caller` (an API token), expiring at the server's lifetime or
    /// at the token's own expiry, whichever comes first.
    pub fn issue(&self, caller: &Caller) -> Result<Issued, ApiError> {
        let now = Utc::now().timestamp();
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX);
        let exp = caller.expires_at.map_or(i64::MAX, |at| at.timestamp()).min(now.saturating_add(lifetime));
        let principal = &caller.principal;
        let claims = Claims {
            sub: principal.subject.clone(),
            tenant: principal.tenant.clone(),
            roles: principal.roles.clone(),
            tenant_admin: principal.tenant_admin,
            super_admin: principal.super_admin,
            jti: caller.credential.clone(),
            exp,
            nbf: now,
            iat: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let token = jsonwebtoken::encode(&Header::new(self.keys.algorithm()), &claims, self.keys.encoding())
            .map_err(|err| ApiError::Internal(Box::new(err)))?;
        Ok(Issued { token, expires_in: u64::try_from(exp.saturating_sub(now)).unwrap_or(0) })
    }

    /// Checks a JWT's algorithm, signature, exp, nbf, iss and aud, and reads its claims. A
    /// refusal says only "invalid" or "expired": what the parser found stays in the debug log.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(self.keys.algorithm());
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let decoded = jsonwebtoken::decode::<Claims>(token, self.keys.decoding(), &validation).map_err(|err| {
            tracing::debug!(error = %err, "access token refused");
            let message = match err.kind() {
                ErrorKind::ExpiredSignature => "the access token has expired",
                _ => "invalid access token",
            };
            ApiError::Unauthenticated { message: message.to_owned() }
        })?;
        Ok(decoded.claims)
    }
}

impl Claims {
    /// When the access token expires.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.exp, 0)
    }

    /// What the access token may do now: what its API token grants now (`issuer`), never more
    /// than the claims said at issue. `None` if the claims do not name the issuer's principal.
    pub fn narrow(&self, issuer: &Principal) -> Option<Principal> {
        if issuer.subject != self.sub || issuer.tenant != self.tenant {
            return None;
        }
        let roles = self
            .roles
            .iter()
            .filter_map(|(project, role)| issuer.roles.get(project).map(|now| (project.clone(), (*role).min(*now))))
            .collect();
        Some(Principal {
            subject: self.sub.clone(),
            tenant: self.tenant.clone(),
            roles,
            tenant_admin: self.tenant_admin && issuer.tenant_admin,
            super_admin: self.super_admin && issuer.super_admin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::auth::CredentialKind;

    const SECRET: &str = "a-test-secret-of-thirty-two-bytes!";

    fn settings(secret: &str) -> JwtSettings {
        JwtSettings {
            keys: JwtKeys::hs256(SecretString::new(secret)).expect("long enough"),
            issuer: "promptops".into(),
            audience: "promptops-api".into(),
            lifetime: Duration::from_secs(60),
        }
    }

    fn principal(roles: &[(&str, Role)], admin: bool) -> Principal {
        Principal {
            subject: "ada".into(),
            tenant: "acme".into(),
            roles: roles.iter().map(|(p, r)| ((*p).to_owned(), *r)).collect(),
            tenant_admin: admin,
            super_admin: admin,
        }
    }

    fn caller(expires_at: Option<DateTime<Utc>>) -> Caller {
        Caller {
            principal: principal(&[("web", Role::Editor)], false),
            credential: "tok_1".into(),
            kind: CredentialKind::ApiToken,
            scopes: Vec::new(),
            expires_at,
        }
    }

    #[test]
    fn a_short_hs256_secret_is_refused() {
        let err = JwtKeys::hs256(SecretString::new("short")).unwrap_err();
        assert_eq!(err.to_string(), "the JWT secret is 5 bytes long, but HS256 needs at least 32 bytes");
        assert!(JwtKeys::hs256(SecretString::new("x".repeat(32))).is_ok());
    }

    #[test]
    fn a_jwt_round_trips_and_checks_signature_issuer_and_audience() {
        let jwt = settings(SECRET);
        let issued = jwt.issue(&caller(None)).expect("signs");
        assert_eq!(issued.expires_in, 60);
        let claims = jwt.verify(&issued.token).expect("valid");
        assert_eq!((claims.sub.as_str(), claims.jti.as_str()), ("ada", "tok_1"));
        assert!(settings("another-secret-also-thirty-two-b!").verify(&issued.token).is_err());
        let mut wrong_aud = settings(SECRET);
        wrong_aud.audience = "else".into();
        assert!(wrong_aud.verify(&issued.token).is_err());
        let mut wrong_iss = settings(SECRET);
        wrong_iss.issuer = "else".into();
        assert!(wrong_iss.verify(&issued.token).is_err());
    }

    #[test]
    fn a_jwt_expires_with_its_api_token_if_that_comes_first() {
        let soon = Utc::now() + chrono::TimeDelta::seconds(20);
        let issued = settings(SECRET).issue(&caller(Some(soon))).expect("signs");
        assert!((19..=20).contains(&issued.expires_in), "{}", issued.expires_in);
        let claims = settings(SECRET).verify(&issued.token).expect("valid");
        assert_eq!(claims.exp, soon.timestamp());
    }

    #[test]
    fn refusals_name_no_parser_detail() {
        let jwt = settings(SECRET);
        let now = Utc::now().timestamp();
        let expired = Claims {
            sub: "ada".into(),
            tenant: "acme".into(),
            roles: BTreeMap::new(),
            tenant_admin: false,
            super_admin: false,
            jti: "tok_1".into(),
            exp: now - 300,
            nbf: now - 600,
            iat: now - 600,
            iss: "promptops".into(),
            aud: "promptops-api".into(),
        };
        let key = EncodingKey::from_secret(SECRET.as_bytes());
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &expired, &key).expect("signs");
        assert_eq!(jwt.verify(&token).unwrap_err().to_string(), "the access token has expired");
        let early = Claims { nbf: now + 300, exp: now + 600, ..expired };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &early, &key).expect("signs");
        assert_eq!(jwt.verify(&token).unwrap_err().to_string(), "invalid access token");
        for garbage in ["", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
            assert_eq!(jwt.verify(garbage).unwrap_err().to_string(), "invalid access token", "{garbage}");
        }
    }

    #[test]
    fn a_jwt_gets_the_lesser_of_its_claims_and_its_token_now() {
        let issued = settings(SECRET).issue(&Caller {
            principal: principal(&[("web", Role::Admin), ("docs", Role::Viewer)], true),
            ..caller(None)
        });
        let claims = settings(SECRET).verify(&issued.expect("signs").token).expect("valid");
        let now = principal(&[("web", Role::Editor), ("docs", Role::Owner), ("new", Role::Owner)], false);
        let narrowed = claims.narrow(&now).expect("same principal");
        assert_eq!(narrowed.roles, BTreeMap::from([("docs".into(), Role::Viewer), ("web".into(), Role::Editor)]));
        assert!(!narrowed.tenant_admin && !narrowed.super_admin);
        let stranger = Principal { subject: "bob".into(), ..now };
        assert_eq!(claims.narrow(&stranger), None);
    }
}
