//! Forged and doctored JWTs over HTTP: `alg: none`, algorithm swaps (HS256 signed with the RS256
//! public key, HS384 with the HS256 secret), a wrong key, missing claims, expired and not-yet-valid
//! tokens, a wrong audience or issuer, and validly signed tokens that claim more than their API
//! token grants or name another principal's token. Every one is a 401 with the same message, or
//! (claims inflated by someone holding the key) gets no more than the API token behind it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{Backend, TestServer};
use promptops::server::auth::JwtKeys;

const PROMPTS: &str = "/api/v1/projects/web/prompts";
const PRIVATE_PEM: &[u8] = include_bytes!("../../data/jwt/test-rsa-private.pem");
const PUBLIC_PEM: &[u8] = include_bytes!("../../data/jwt/test-rsa-public.pem");

/// The claims of a JWT, read without checking it.
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

fn sign(algorithm: Algorithm, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, key).expect("signs")
}

fn hs256(claims: &Value) -> String {
    sign(Algorithm::HS256, claims, &EncodingKey::from_secret(super::JWT_SECRET.as_bytes()))
}

/// `header.claims.` with no signature.
fn unsigned(header: Value, claims: &Value) -> String {
    let part = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());
    format!("{}.{}.", part(&header), part(claims))
}

/// Asserts that `jwt` is refused as a credential, with no detail of why.
async fn refused(server: &TestServer, jwt: &str, why: &str) {
    let (status, err) = server.get(PROMPTS, jwt).await;
    assert_eq!(status, 401, "{why}: {err}");
    let message = err["error"]["message"].as_str().unwrap_or_default();
    assert!(message == "invalid access token" || message == "the access token has expired", "{why}: {err}");
}

pub async fn forged_hs256_jwts_are_refused(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let real = super::credentials::exchange(&server, acme.token("editor")).await;
    assert_eq!(server.get(PROMPTS, &real).await.0, 200);
    let claims = claims_of(&real);
    let now = chrono::Utc::now().timestamp();

    refused(&server, &unsigned(json!({"alg": "none", "typ": "JWT"}), &claims), "alg none").await;
    refused(&server, &unsigned(json!({"alg": "HS256", "typ": "JWT"}), &claims), "no signature").await;
    let wrong_key = EncodingKey::from_secret(b"another-secret-of-32-bytes-or-more!!");
    refused(&server, &sign(Algorithm::HS256, &claims, &wrong_key), "wrong key").await;
    let same_secret = EncodingKey::from_secret(super::JWT_SECRET.as_bytes());
    refused(&server, &sign(Algorithm::HS384, &claims, &same_secret), "HS384 with the secret").await;
    refused(&server, &sign(Algorithm::HS512, &claims, &same_secret), "HS512 with the secret").await;
    for claim in ["sub", "tenant", "roles", "jti", "exp", "nbf", "iss", "aud"] {
        let mut missing = claims.clone();
        missing.as_object_mut().expect("object").remove(claim);
        refused(&server, &hs256(&missing), &format!("missing {claim}")).await;
    }
    for (claim, value) in [
        ("exp", json!(now - 60)),
        ("nbf", json!(now + 600)),
        ("aud", json!("someone-else")),
        ("iss", json!("someone-else")),
        ("jti", json!("tok_000000000000")),
        ("tenant", json!("beta")),
        ("sub", json!("acme-owner")),
        ("exp", json!("tomorrow")),
    ] {
        let mut doctored = claims.clone();
        doctored[claim] = value.clone();
        refused(&server, &hs256(&doctored), &format!("{claim} = {value}")).await;
    }
}

pub async fn a_validly_signed_jwt_gets_no_more_than_its_api_token(b: Backend) {
    let server = TestServer::on(b).await;
    let acme = server.tenant("acme", "web").await;
    let real = super::credentials::exchange(&server, acme.token("editor")).await;
    let mut inflated = claims_of(&real);
    inflated["roles"] = json!({"web": "owner", "other": "owner"});
    inflated["tenant_admin"] = json!(true);
    inflated["super_admin"] = json!(true);
    inflated["extra"] = json!({"anything": 1});
    let jwt = hs256(&inflated);
    assert_eq!(server.get(PROMPTS, &jwt).await.0, 200, "still the editor's JWT");
    let (status, _) = server.put(&format!("{PROMPTS}/p/labels/production"), &jwt, json!({"version": 1})).await;
    assert_eq!(status, 403, "an editor, whatever the claims say");
    assert_eq!(server.get("/api/v1/tenants", &jwt).await.0, 403, "no super-admin");
    assert_eq!(server.get("/api/v1/principals", &jwt).await.0, 403, "no tenant admin");
    let (status, _) = server.put("/api/v1/projects/web/members/acme-editor", &jwt, json!({"role": "owner"})).await;
    assert_eq!(status, 403);
}

pub async fn forged_rs256_jwts_are_refused(b: Backend) {
    let mut config = super::config();
    config.jwt.keys = JwtKeys::rs256(PRIVATE_PEM, PUBLIC_PEM).expect("test keys");
    let server = TestServer::on_with(b, config).await;
    let acme = server.tenant("acme", "web").await;
    let real = super::credentials::exchange(&server, acme.token("viewer")).await;
    assert_eq!(server.get(PROMPTS, &real).await.0, 200);
    let claims = claims_of(&real);
    let public_as_secret = EncodingKey::from_secret(PUBLIC_PEM);
    refused(&server, &sign(Algorithm::HS256, &claims, &public_as_secret), "HS256 with the public key").await;
    refused(&server, &unsigned(json!({"alg": "none"}), &claims), "alg none").await;
    refused(&server, &hs256(&claims), "HS256 with an HS secret").await;
    let signer = EncodingKey::from_rsa_pem(PRIVATE_PEM).expect("key");
    let mut expired = claims.clone();
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 60);
    refused(&server, &sign(Algorithm::RS256, &expired, &signer), "expired").await;
    let mut wrong = claims.clone();
    wrong["aud"] = json!("someone-else");
    refused(&server, &sign(Algorithm::RS256, &wrong, &signer), "wrong audience").await;
    refused(&server, &sign(Algorithm::RS384, &claims, &signer), "RS384").await;
    assert_eq!(server.get(PROMPTS, &sign(Algorithm::RS256, &claims, &signer)).await.0, 200, "re-signed as is");
}
