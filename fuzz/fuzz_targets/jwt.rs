//! JWT verification: any string offered as an access token is refused with an error unless it
//! is a token the server signed, and nothing panics. Seeds hold signed tokens to mutate.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use promptops::secret::SecretString;
use promptops::server::auth::{JwtKeys, JwtSettings};

/// The secret the seed tokens in `fuzz/seeds/jwt` are signed with.
pub const SECRET: &str = "promptops-fuzz-secret-0123456789abcdef";

static SETTINGS: LazyLock<JwtSettings> = LazyLock::new(|| JwtSettings {
    keys: JwtKeys::Hs256(SecretString::new(SECRET)),
    issuer: "promptops".to_owned(),
    audience: "promptops-api".to_owned(),
    lifetime: Duration::from_secs(900),
});

fuzz_target!(|token: &str| {
    if let Ok(caller) = SETTINGS.verify(token) {
        // Only a correctly signed token gets here: re-signing its claims must verify the same.
        let again = SETTINGS.issue(&caller).expect("signs");
        assert_eq!(SETTINGS.verify(&again).expect("verifies").principal, caller.principal);
    }
});
