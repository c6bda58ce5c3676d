//! Conformance cases of the account rules the store keeps itself, because they must hold under
//! concurrent writes: a project keeps an owner and only an owner changes one; revoking a token
//! revokes exactly the tree made with it; a key pair's grant carries its creator's current role.

use std::collections::BTreeMap;

use chrono::Utc;
use pretty_assertions::assert_eq;
use promptops::access::{Principal, Role, Scope, SystemScope, TenantScope};
use promptops::store::{KeyPairRecord, MemberChange, PrincipalKind, Slug, Store, TokenKey, TokenRecord};

use super::Backend;

fn slug(text: &str) -> Slug {
    Slug::new(text).expect("valid id")
}

fn system() -> SystemScope {
    let root = Principal {
        subject: "root".into(),
        tenant: "system".into(),
        roles: BTreeMap::new(),
        tenant_admin: true,
        super_admin: true,
    };
    root.authorize_system().expect("super-admin")
}

/// Tenant `acme` with project `web` owned by `ada`, and principals `bob` and `cy`; the scopes.
async fn tenant(store: &dyn Store) -> (TenantScope, Scope) {
    let system = system();
    store.create_tenant(&system, &slug("acme"), "Acme").await.expect("tenant");
    let acme = system.tenant("acme");
    for name in ["ada", "bob", "cy"] {
        store.create_principal(&acme, &slug(name), PrincipalKind::User, false, false).await.expect("principal");
    }
    store.create_project(&acme, &slug("web"), "Web", "ada").await.expect("project");
    let project = acme.project("web");
    (acme, project)
}

async fn owners(store: &dyn Store, scope: &Scope) -> Vec<String> {
    let members = store.members(scope).await.expect("members");
    members.into_iter().filter(|m| m.role == Role::Owner).map(|m| m.principal.to_string()).collect()
}

pub async fn only_owners_change_owners_and_one_always_remains(b: Backend) {
    let store = b.store.as_ref();
    let (_, web) = tenant(store).await;
    let ada = slug("ada");
    assert_eq!(store.set_member(&web, &ada, None, true).await.expect("remove"), MemberChange::LastOwner);
    assert_eq!(store.set_member(&web, &ada, Some(Role::Admin), true).await.expect("demote"), MemberChange::LastOwner);
    let bob = slug("bob");
    assert_eq!(
        store.set_member(&web, &bob, Some(Role::Owner), false).await.expect("promote"),
        MemberChange::OwnerProtected
    );
    assert_eq!(
        store.set_member(&web, &bob, Some(Role::Owner), true).await.expect("promote"),
        MemberChange::Changed { before: None }
    );
    assert_eq!(store.set_member(&web, &ada, None, false).await.expect("remove"), MemberChange::OwnerProtected);
    assert_eq!(owners(store, &web).await, ["ada", "bob"], "refusals wrote nothing");
    assert_eq!(
        store.set_member(&web, &ada, None, true).await.expect("remove"),
        MemberChange::Changed { before: Some(Role::Owner) }
    );
    assert_eq!(owners(store, &web).await, ["bob"]);
}

pub async fn concurrent_demotions_leave_an_owner(b: Backend) {
    let (_, web) = tenant(b.store.as_ref()).await;
    // Two processes: one demotes ada while the other removes bob, again and again.
    let (first, second) = (b.reopen().await, b.reopen().await);
    for round in 0..30 {
        for owner in ["ada", "bob"] {
            b.store.set_member(&web, &slug(owner), Some(Role::Owner), true).await.expect("promote");
        }
        let (ada, bob) = (slug("ada"), slug("bob"));
        let (demoted, removed) = tokio::join!(
            first.set_member(&web, &ada, Some(Role::Admin), true),
            second.set_member(&web, &bob, None, true),
        );
        let outcomes = [demoted.expect("demote"), removed.expect("remove")];
        let refused = outcomes.iter().filter(|o| **o == MemberChange::LastOwner).count();
        assert_eq!(refused, 1, "round {round}: {outcomes:?}");
        assert_eq!(owners(b.store.as_ref(), &web).await.len(), 1, "round {round}");
    }
}

fn token(id: &str, principal: &str, created_with: Option<&str>) -> TokenRecord {
    TokenRecord {
        id: id.to_owned(),
        principal: slug(principal),
        name: id.to_owned(),
        scopes: Vec::new(),
        created_at: Utc::now(),
        expires_at: None,
        revoked_at: None,
        created_with: created_with.map(str::to_owned),
        hash: format!("hash-of-{id}"),
    }
}

fn key_pair(public_key: &str, role: Role, created_by: &str, created_with: Option<&str>) -> KeyPairRecord {
    KeyPairRecord {
        public_key: public_key.to_owned(),
        project: slug("web"),
        role,
        created_by: created_by.to_owned(),
        created_at: Utc::now(),
        expires_at: None,
        revoked_at: None,
        created_with: created_with.map(str::to_owned),
        secret_hash: format!("hash-of-{public_key}"),
    }
}

async fn revoked(store: &dyn Store, id: &str) -> bool {
    let grant = store.authenticate_token(TokenKey::Id(id)).await.expect("read").expect("exists");
    grant.token.revoked_at.is_some()
}

pub async fn revoking_a_token_revokes_exactly_what_was_made_with_it(b: Backend) {
    let store = b.store.as_ref();
    let (acme, web) = tenant(store).await;
    for (id, principal, parent) in [
        ("root", "ada", None),
        ("child", "ada", Some("root")),
        ("grandchild", "bob", Some("child")),
        ("sibling", "ada", Some("root")),
        ("stranger", "cy", None),
    ] {
        store.create_token(&acme, &token(id, principal, parent)).await.expect("token");
    }
    store.create_key_pair(&web, &key_pair("pk-child", Role::Viewer, "ada", Some("child"))).await.expect("key");
    store.create_key_pair(&web, &key_pair("pk-root", Role::Viewer, "ada", Some("root"))).await.expect("key");
    assert!(store.revoke_token(&acme, "child").await.expect("revoke"));
    for (id, gone) in [("root", false), ("child", true), ("grandchild", true), ("sibling", false), ("stranger", false)]
    {
        assert_eq!(revoked(store, id).await, gone, "{id}");
    }
    let keys = store.key_pairs(&web).await.expect("keys");
    let gone: Vec<_> = keys.iter().map(|k| (k.public_key.as_str(), k.revoked_at.is_some())).collect();
    assert_eq!(gone, [("pk-child", true), ("pk-root", false)]);
    let found = store.authenticate_token(TokenKey::Hash("hash-of-sibling")).await.expect("read").expect("exists");
    assert_eq!(found.token.created_with.as_deref(), Some("root"), "by hash, with its maker");
    store.create_tenant(&system(), &slug("globex"), "Globex").await.expect("tenant");
    let globex = system().tenant("globex");
    assert!(!store.revoke_token(&globex, "root").await.expect("revoke"), "another tenant's token is not found");
    assert!(!revoked(store, "root").await);
}

pub async fn a_key_pair_grant_carries_its_creators_current_role(b: Backend) {
    let store = b.store.as_ref();
    let (acme, web) = tenant(store).await;
    store.create_principal(&acme, &slug("boss"), PrincipalKind::User, true, false).await.expect("tenant admin");
    store.set_member(&web, &slug("bob"), Some(Role::Admin), true).await.expect("member");
    store.create_key_pair(&web, &key_pair("pk-bob", Role::Admin, "bob", None)).await.expect("key");
    store.create_key_pair(&web, &key_pair("pk-boss", Role::Editor, "boss", None)).await.expect("key");
    let creator_role = async |key: &str| {
        let grant = store.authenticate_key_pair(key).await.expect("read").expect("exists");
        (grant.creator_role, grant.key.revoked_at.is_some())
    };
    assert_eq!(creator_role("pk-bob").await, (Some(Role::Admin), false));
    assert_eq!(creator_role("pk-boss").await, (Some(Role::Owner), false), "a tenant admin owns every project");
    store.set_member(&web, &slug("bob"), Some(Role::Viewer), true).await.expect("demote");
    assert_eq!(creator_role("pk-bob").await, (Some(Role::Viewer), false));
    store.set_member(&web, &slug("bob"), None, true).await.expect("remove");
    assert_eq!(creator_role("pk-bob").await, (None, true), "removed: no role, and the key is revoked");
    store.set_member(&web, &slug("bob"), Some(Role::Admin), true).await.expect("back");
    assert_eq!(creator_role("pk-bob").await, (Some(Role::Admin), true), "still revoked");
    assert!(store.authenticate_key_pair("pk-nobody").await.expect("read").is_none());
}
