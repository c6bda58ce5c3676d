//! What authenticating a request costs, per credential kind, with the grant cache warm (a busy
//! client) and cold (the first request, or one every 2 s per credential): an API token, a JWT
//! (signature, then the API token behind it) and a Langfuse key pair (with its creator's current
//! role), against a SQLite store holding 1,000, 10,000 and 100,000 of each.
//!
//! `cargo bench --bench auth` prints medians per call. Nothing here asserts a timing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use chrono::Utc;
use promptops::access::{Principal, Role};
use promptops::secret::SecretString;
use promptops::server::auth::{self, Caller, CredentialKind, GrantCache, JwtKeys, JwtSettings};
use promptops::store::{KeyPairRecord, PrincipalKind, Slug, Store, TokenRecord};
use promptops_test_support::bench::measure;

const CALLS: u32 = 1_000;

fn slug(text: &str) -> Slug {
    Slug::new(text).expect("valid id")
}

/// A store with tenant `acme`, project `web`, principal `ada` (admin of `web`), and `count`
/// tokens and key pairs of hers; returns the secrets of the tokens and the Basic values of the keys.
async fn populated(store: &dyn Store, count: usize) -> (Vec<String>, Vec<String>) {
    let root = Principal {
        subject: "root".into(),
        tenant: "system".into(),
        roles: BTreeMap::new(),
        tenant_admin: true,
        super_admin: true,
    };
    let system = root.authorize_system().expect("super-admin");
    store.create_tenant(&system, &slug("acme"), "Acme").await.expect("tenant");
    let acme = system.tenant("acme");
    for name in ["owner", "ada"] {
        store.create_principal(&acme, &slug(name), PrincipalKind::User, false, false).await.expect("principal");
    }
    store.create_project(&acme, &slug("web"), "Web", "owner").await.expect("project");
    let web = acme.project("web");
    store.set_member(&web, &slug("ada"), Some(Role::Admin), true).await.expect("member");
    let (mut tokens, mut keys) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for n in 0..count {
        let secret = format!("pot_bench{n:08}");
        let token = TokenRecord {
            id: format!("tok_{n:08}"),
            principal: slug("ada"),
            name: String::new(),
            scopes: Vec::new(),
            created_at: Utc::now(),
            expires_at: None,
            revoked_at: None,
            created_with: None,
            hash: auth::hash_secret(&secret),
        };
        store.create_token(&acme, &token).await.expect("token");
        let (public, private) = (format!("pk-lf-bench{n:08}"), format!("sk-lf-bench{n:08}"));
        let key = KeyPairRecord {
            public_key: public.clone(),
            project: slug("web"),
            role: Role::Editor,
            created_by: "ada".to_owned(),
            created_at: Utc::now(),
            expires_at: None,
            revoked_at: None,
            created_with: None,
            secret_hash: auth::hash_secret(&private),
        };
        store.create_key_pair(&web, &key).await.expect("key pair");
        tokens.push(secret);
        keys.push(base64::engine::general_purpose::STANDARD.encode(format!("{public}:{private}")));
    }
    (tokens, keys)
}

fn jwt_settings() -> JwtSettings {
    JwtSettings {
        keys: JwtKeys::hs256(SecretString::new("bench-secret-of-at-least-thirty-two-bytes")).expect("long enough"),
        issuer: "promptops".into(),
        audience: "promptops-api".into(),
        lifetime: Duration::from_secs(3600),
    }
}

/// Times `CALLS` authentications spread over the credentials, warm (one cache throughout) or
/// cold (a fresh cache per call); prints the median per call.
fn per_call<F>(runtime: &tokio::runtime::Runtime, name: &str, warm: bool, count: usize, check: F)
where
    F: AsyncFn(&GrantCache, usize) -> Caller,
{
    let shared = GrantCache::default();
    let mut next = 0_usize;
    let m = measure(name, 9, || {
        runtime.block_on(async {
            for _ in 0..CALLS {
                // Warm: the same 100 credentials again and again; cold: each call a new one.
                let index = if warm { next % 100 } else { next % count };
                next += 1;
                let fresh = GrantCache::default();
                let cache = if warm { &shared } else { &fresh };
                std::hint::black_box(check(cache, index).await);
            }
        });
    });
    println!("{:<60} {:>10.2?} per call", "", m.median() / CALLS);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let jwt = jwt_settings();
    for count in [1_000, 10_000, 100_000] {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("auth.db").display());
        let store: Arc<dyn Store> = runtime.block_on(promptops::store::open(&url)).expect("store");
        let (tokens, keys) = runtime.block_on(populated(store.as_ref(), count));
        let jwts: Vec<String> = (0..count.min(1_000))
            .map(|n| {
                let caller = Caller {
                    principal: Principal {
                        subject: "ada".into(),
                        tenant: "acme".into(),
                        roles: BTreeMap::from([("web".to_owned(), Role::Admin)]),
                        tenant_admin: false,
                        super_admin: false,
                    },
                    credential: format!("tok_{n:08}"),
                    kind: CredentialKind::ApiToken,
                    scopes: Vec::new(),
                    expires_at: None,
                };
                jwt.issue(&caller).expect("signs").token
            })
            .collect();
        println!("\n# {count} tokens and {count} key pairs in a SQLite store");
        let store = store.as_ref();
        for warm in [true, false] {
            let state = if warm { "warm cache" } else { "cold cache" };
            per_call(&runtime, &format!("API token, {state}"), warm, count, async |cache, i| {
                auth::api_token(store, cache, &tokens[i]).await.expect("valid")
            });
            per_call(
                &runtime,
                &format!("JWT (signature + its API token), {state}"),
                warm,
                jwts.len(),
                async |cache, i| auth::jwt(store, cache, &jwt, &jwts[i]).await.expect("valid"),
            );
            per_call(&runtime, &format!("key pair (+ creator's role), {state}"), warm, count, async |cache, i| {
                auth::key_pair(store, cache, &keys[i]).await.expect("valid")
            });
        }
    }
}
