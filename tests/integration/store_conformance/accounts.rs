//! Conformance cases of the account rules the store keeps itself, because they must hold under
//! concurrent writes: a project keeps an owner and only an owner changes one; revoking a token
//! revokes exactly the tree made with it; a key pair's grant carries its creator's current role.

use std::collections::BTreeMap;

use chrono::Utc;
use pretty_assertions::assert_eq;
use promptops::access::{Principal, Role, Scope, SystemScope, TenantScope};
use promptops::store::{
    AuditDraft, AuditQuery, KeyPairRecord, MemberChange, MoveReason, PrincipalKind, Slug, Store, StoreError, TokenKey,
    TokenRecord, TokenScope,
};

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

/// A time the backends store exactly (PostgreSQL keeps microseconds, SQLite text).
fn second(offset_s: i64) -> chrono::DateTime<Utc> {
    chrono::DateTime::from_timestamp(Utc::now().timestamp() + offset_s, 0).expect("a time")
}

fn conflict(result: Result<impl std::fmt::Debug, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict { .. }))
}

pub async fn tenants_projects_and_principals_are_created_once_and_listed(b: Backend) {
    let store = b.store.as_ref();
    let (acme, web) = tenant(store).await;
    let tenants = store.tenants(&system()).await.expect("tenants");
    let acme_row = tenants.iter().find(|t| t.id.as_str() == "acme").expect("acme is listed");
    assert_eq!(acme_row.name, "Acme");
    assert!(conflict(store.create_tenant(&system(), &slug("acme"), "Again").await), "a tenant id is taken once");
    store.create_project(&acme, &slug("api"), "API", "bob").await.expect("project");
    assert!(conflict(store.create_project(&acme, &slug("web"), "Again", "bob").await), "a project id is taken once");
    let projects = store.projects(&acme).await.expect("projects");
    let listed: Vec<_> = projects.iter().map(|p| (p.id.as_str(), p.name.as_str(), p.created_by.as_str())).collect();
    assert_eq!(listed, [("api", "API", "bob"), ("web", "Web", "ada")], "by id");
    assert_eq!(owners(store, &web).await, ["ada"], "a project's creator is its owner");
    store.create_principal(&acme, &slug("ci"), PrincipalKind::Service, false, false).await.expect("service");
    assert!(
        conflict(store.create_principal(&acme, &slug("ci"), PrincipalKind::User, true, true).await),
        "a principal's name is taken once"
    );
    let principals = store.principals(&acme).await.expect("principals");
    let listed: Vec<_> = principals.iter().map(|p| (p.name.as_str(), p.kind, p.tenant_admin)).collect();
    assert_eq!(
        listed,
        [
            ("ada", PrincipalKind::User, false),
            ("bob", PrincipalKind::User, false),
            ("ci", PrincipalKind::Service, false),
            ("cy", PrincipalKind::User, false)
        ],
        "by name, the refused duplicate changing nothing"
    );
    store.create_tenant(&system(), &slug("globex"), "Globex").await.expect("tenant");
    let globex = system().tenant("globex");
    assert!(store.projects(&globex).await.expect("projects").is_empty(), "another tenant sees no project");
    assert!(store.principals(&globex).await.expect("principals").is_empty(), "nor any principal");
    store.create_principal(&globex, &slug("ada"), PrincipalKind::User, false, false).await.expect("the same name");
    store.create_project(&globex, &slug("web"), "Globex web", "ada").await.expect("the same id in another tenant");
    assert_eq!(store.projects(&acme).await.expect("projects").len(), 2, "acme's projects are unchanged");
}

pub async fn tokens_keep_their_fields_and_grant_their_principals_roles(b: Backend) {
    let store = b.store.as_ref();
    let (acme, web) = tenant(store).await;
    store.create_project(&acme, &slug("api"), "API", "bob").await.expect("project");
    store.create_principal(&acme, &slug("boss"), PrincipalKind::User, true, false).await.expect("tenant admin");
    store.set_member(&web, &slug("bob"), Some(Role::Viewer), true).await.expect("member");
    let scoped = TokenRecord {
        scopes: vec![TokenScope { project: "web".to_owned(), role: Role::Viewer }],
        created_at: second(-10),
        expires_at: Some(second(3600)),
        ..token("scoped", "bob", None)
    };
    store.create_token(&acme, &scoped).await.expect("token");
    store
        .create_token(&acme, &TokenRecord { created_at: second(-5), ..token("admin", "boss", None) })
        .await
        .expect("token");
    store
        .create_token(&acme, &TokenRecord { created_at: second(0), ..token("newest", "bob", None) })
        .await
        .expect("token");
    let ids = |tokens: Vec<TokenRecord>| tokens.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(store.tokens(&acme, None).await.expect("tokens")), ["newest", "admin", "scoped"], "newest first");
    assert_eq!(ids(store.tokens(&acme, Some("bob")).await.expect("tokens")), ["newest", "scoped"], "one principal's");
    let grant = store.authenticate_token(TokenKey::Hash("hash-of-scoped")).await.expect("read").expect("found");
    assert_eq!(grant.tenant, "acme");
    assert_eq!(TokenRecord { hash: scoped.hash.clone(), ..grant.token.clone() }, scoped, "every field read back");
    assert_eq!(grant.principal.name.as_str(), "bob");
    assert_eq!(grant.roles, BTreeMap::from([("api".to_owned(), Role::Owner), ("web".to_owned(), Role::Viewer)]));
    let admin = store.authenticate_token(TokenKey::Id("admin")).await.expect("read").expect("found");
    assert!(admin.principal.tenant_admin);
    assert_eq!(
        admin.roles,
        BTreeMap::from([("api".to_owned(), Role::Owner), ("web".to_owned(), Role::Owner)]),
        "a tenant admin owns every project"
    );
    assert!(store.authenticate_token(TokenKey::Hash("hash-of-nothing")).await.expect("read").is_none());
    assert!(store.authenticate_token(TokenKey::Id("nothing")).await.expect("read").is_none());
    assert!(conflict(store.create_token(&acme, &token("newest", "cy", None)).await), "a token id is taken once");
}

pub async fn key_pairs_are_listed_and_revoked_in_their_project_only(b: Backend) {
    let store = b.store.as_ref();
    let (acme, web) = tenant(store).await;
    store.create_project(&acme, &slug("api"), "API", "ada").await.expect("project");
    let api = acme.project("api");
    let expiring = KeyPairRecord {
        created_at: second(-1),
        expires_at: Some(second(60)),
        ..key_pair("pk-a", Role::Editor, "ada", None)
    };
    store.create_key_pair(&web, &expiring).await.expect("key");
    store.create_key_pair(&web, &key_pair("pk-b", Role::Viewer, "ada", None)).await.expect("key");
    assert!(conflict(store.create_key_pair(&web, &key_pair("pk-a", Role::Viewer, "ada", None)).await), "taken once");
    let keys = store.key_pairs(&web).await.expect("keys");
    assert_eq!(keys.iter().map(|k| k.public_key.as_str()).collect::<Vec<_>>(), ["pk-a", "pk-b"]);
    assert_eq!(KeyPairRecord { secret_hash: expiring.secret_hash.clone(), ..keys[0].clone() }, expiring);
    assert!(store.key_pairs(&api).await.expect("keys").is_empty(), "another project's keys are not listed");
    assert!(!store.revoke_key_pair(&api, "pk-a").await.expect("revoke"), "nor revoked from there");
    assert!(store.revoke_key_pair(&web, "pk-a").await.expect("revoke"));
    assert!(!store.revoke_key_pair(&web, "pk-none").await.expect("revoke"));
    let grant = store.authenticate_key_pair("pk-a").await.expect("read").expect("found");
    assert_eq!((grant.tenant.as_str(), grant.key.project.as_str()), ("acme", "web"));
    assert!(grant.key.revoked_at.is_some(), "revoked keys are found, marked");
    assert!(store.authenticate_key_pair("pk-b").await.expect("read").expect("found").key.revoked_at.is_none());
}

fn entry(project: Option<&str>, actor: &str, action: &str, status: u16) -> AuditDraft {
    AuditDraft {
        project: project.map(str::to_owned),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: format!("/api/v1/{action}"),
        status,
        client_addr: "127.0.0.1".to_owned(),
    }
}

pub async fn the_audit_log_is_read_newest_first_filtered_and_paged(b: Backend) {
    let store = b.store.as_ref();
    let (acme, _) = tenant(store).await;
    let drafts = [
        entry(Some("web"), "ada", "PUT labels", 200),
        entry(None, "bob", "POST tokens", 201),
        entry(Some("web"), "bob", "PUT labels", 403),
        entry(Some("api"), "ada", "POST prompts", 201),
    ];
    for draft in &drafts {
        store.audit(&acme, draft.clone()).await.expect("audit");
    }
    store.create_tenant(&system(), &slug("globex"), "Globex").await.expect("tenant");
    store.audit(&system().tenant("globex"), entry(Some("web"), "ada", "PUT labels", 200)).await.expect("audit");
    let read = async |query: AuditQuery| store.audit_log(&acme, &query).await.expect("audit log");
    let all = read(AuditQuery { limit: 10, ..AuditQuery::default() }).await;
    let shown: Vec<_> = all.iter().map(|r| (r.actor.as_str(), r.action.as_str(), r.status)).collect();
    assert_eq!(
        shown,
        [
            ("ada", "POST prompts", 201),
            ("bob", "PUT labels", 403),
            ("bob", "POST tokens", 201),
            ("ada", "PUT labels", 200)
        ],
        "newest first, this tenant's only"
    );
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "ids decrease");
    assert_eq!((all[3].project.as_deref(), all[3].target.as_str()), (Some("web"), "/api/v1/PUT labels"));
    let page = read(AuditQuery { limit: 2, before: Some(all[1].id), ..AuditQuery::default() }).await;
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), [all[2].id, all[3].id], "below the cursor");
    let web = read(AuditQuery { limit: 10, project: Some("web".to_owned()), ..AuditQuery::default() }).await;
    assert_eq!(web.len(), 2);
    let bob = read(AuditQuery { limit: 10, actor: Some("bob".to_owned()), ..AuditQuery::default() }).await;
    assert_eq!(bob.len(), 2);
    let labels = read(AuditQuery { limit: 10, action: Some("labels".to_owned()), ..AuditQuery::default() }).await;
    assert_eq!(labels.iter().map(|r| r.actor.as_str()).collect::<Vec<_>>(), ["bob", "ada"], "actions containing it");
    let one = read(AuditQuery { limit: 1, ..AuditQuery::default() }).await;
    assert_eq!(one.len(), 1, "the limit holds");
}

pub async fn the_label_move_mark_grows_with_every_move(b: Backend) {
    let store = b.store.as_ref();
    let scope = super::scope("acme", "web");
    let before = store.label_move_mark().await.expect("mark");
    store.commit(&scope, vec![super::draft("support/triage", "v1")]).await.expect("commit");
    let mark = async || store.label_move_mark().await.expect("mark");
    let production = super::label("production");
    let name = super::name("support/triage");
    let mut last = before;
    for (to, reason) in [(Some(1), MoveReason::Set), (None, MoveReason::Remove), (Some(1), MoveReason::Set)] {
        store.move_label(&scope, &name, &production, to, reason, "ada").await.expect("move");
        let now = mark().await;
        assert!(now > last, "{now} after {last}");
        last = now;
    }
    let other = super::scope("globex", "web");
    store.commit(&other, vec![super::draft("support/triage", "v1")]).await.expect("commit");
    store.move_label(&other, &name, &production, Some(1), MoveReason::Set, "ada").await.expect("move");
    assert!(mark().await > last, "a move in any tenant moves the mark");
}
