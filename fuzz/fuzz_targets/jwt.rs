//! JWT verification: any string offered as an access token is refused with an error unless it
//! is a token the server signed, and nothing panics. Seeds hold signed tokens to mutate.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use promptops::access::Principal;
use promptops::secret::SecretString;
use promptops::server::auth::{Caller, CredentialKind};
use promptops::server::jwt::{JwtKeys, JwtSettings};

/// The secret the seed tokens in `fuzz/seeds/jwt` are signed with.
pub const SECRET: &str = "promptops-fuzz-secret-0123456789abcdef";

static SETTINGS: LazyLock<JwtSettings> = LazyLock::new(|| JwtSettings {
    keys: JwtKeys::hs256(SecretString::new(SECRET)).expect("a long enough secret"),
    issuer: "promptops".to_owned(),
    audience: "promptops-api".to_owned(),
    lifetime: Duration::from_secs(900),
});

fuzz_target!(|token: &str| {
    let Ok(claims) = SETTINGS.verify(token) else { return };
    // Only a correctly signed token gets here: re-signing its claims must verify the same.
    let caller = Caller {
        principal: Principal {
            subject: claims.sub.clone(),
            tenant: claims.tenant.clone(),
            roles: claims.roles.clone(),
            tenant_admin: claims.tenant_admin,
            super_admin: claims.super_admin,
        },
        credential: claims.jti.clone(),
        kind: CredentialKind::ApiToken,
        scopes: Vec::new(),
        expires_at: claims.expires_at(),
    };
    let again = SETTINGS.verify(&SETTINGS.issue(&caller).expect("signs").token).expect("verifies");
    assert_eq!(
        (again.sub, again.tenant, again.roles, again.jti),
        (claims.sub, claims.tenant, claims.roles, claims.jti)
    );
});
