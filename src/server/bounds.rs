//! What a credential may make: nothing that can do more, or live longer, than itself. A new API
//! token's scopes are within the caller's, a new token or key pair expires no later than the
//! caller's credential, only API tokens make credentials (a JWT is a short-lived handle, and a
//! leaked one must not plant a lasting credential), and only a super-admin makes tokens for a
//! super-admin. Roles are [`crate::access`]'s business; this module owns the narrowing.

use chrono::{DateTime, Utc};

use super::auth::{Caller, CredentialKind};
use super::error::ApiError;
use crate::api::Days;
use crate::store::{PrincipalRecord, Slug, TokenScope};

/// Most scopes one token may carry.
pub const MAX_SCOPES: usize = 64;

/// Refuses callers whose credential is not an API token: they make no credentials.
pub fn only_api_tokens(caller: &Caller, what: &str) -> Result<(), ApiError> {
    if caller.kind == CredentialKind::ApiToken {
        return Ok(());
    }
    Err(ApiError::Forbidden {
        message: format!("only an API token can {what}"),
        hint: Some("send the API token (`pot_…`) itself, not an access token from /api/v1/auth/token".to_owned()),
    })
}

/// Checks the shape of requested scopes: at most [`MAX_SCOPES`], each naming `*` or a project id.
pub fn check_scope_shape(scopes: &[TokenScope]) -> Result<(), ApiError> {
    if scopes.len() > MAX_SCOPES {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            format!("a token carries at most {MAX_SCOPES} scopes, not {}", scopes.len()),
            Some("scopes"),
        ));
    }
    for (index, scope) in scopes.iter().enumerate() {
        if scope.project != "*"
            && let Err(err) = Slug::new(&scope.project)
        {
            let shown: String = err.0.chars().take(64).collect();
            let message = format!("scope project `{shown}` is neither `*` nor a project id");
            return Err(ApiError::bad_request("invalid_id", message, Some(&format!("scopes[{index}].project"))));
        }
    }
    Ok(())
}

/// Refuses scopes wider than the caller's: a scoped caller's new token must be scoped too, each
/// scope within one of the caller's (`*` only within `*`).
pub fn check_scopes_within(caller: &Caller, wanted: &[TokenScope]) -> Result<(), ApiError> {
    if caller.scopes.is_empty() {
        return Ok(());
    }
    let covered = |want: &TokenScope| {
        caller.scopes.iter().any(|have| (have.project == "*" || have.project == want.project) && have.role >= want.role)
    };
    match wanted.iter().find(|want| !covered(want)) {
        None if !wanted.is_empty() => Ok(()),
        wider => Err(ApiError::Forbidden {
            message: match wider {
                Some(scope) => {
                    format!("scope {}:{} is wider than your token's scopes", scope.project, scope.role.as_str())
                }
                None => "a token without scopes has every right of its principal, more than your token".to_owned(),
            },
            hint: Some("ask for scopes within your own token's, or use a token without scopes".to_owned()),
        }),
    }
}

/// Refuses a token for `target` that would have rights the caller lacks: only a super-admin
/// makes tokens for (or revokes those of) a super-admin.
pub fn check_target(caller: &Caller, target: &PrincipalRecord) -> Result<(), ApiError> {
    if target.super_admin && !caller.principal.super_admin {
        return Err(ApiError::Forbidden {
            message: format!("`{}` is a server administrator, and you are not", target.name),
            hint: Some("only a server administrator manages its tokens".to_owned()),
        });
    }
    Ok(())
}

/// When a credential made now by `caller` expires: after `days` if given, never later than the
/// caller's own credential (which is also the default).
pub fn expiry(caller: &Caller, days: Option<Days>) -> Option<DateTime<Utc>> {
    earliest(days.map(|days| Utc::now() + days.duration()), caller.expires_at)
}

/// The earlier of two expiries, where none means never.
pub fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{Principal, Role};

    fn scope(project: &str, role: Role) -> TokenScope {
        TokenScope { project: project.to_owned(), role }
    }

    fn caller(scopes: Vec<TokenScope>, expires_at: Option<DateTime<Utc>>) -> Caller {
        Caller {
            principal: Principal {
                subject: "ada".into(),
                tenant: "acme".into(),
                roles: Default::default(),
                tenant_admin: false,
                super_admin: false,
            },
            credential: "tok_1".into(),
            kind: CredentialKind::ApiToken,
            scopes,
            expires_at,
        }
    }

    #[test]
    fn an_unscoped_caller_may_ask_for_any_scopes() {
        let free = caller(Vec::new(), None);
        assert!(check_scopes_within(&free, &[]).is_ok());
        assert!(check_scopes_within(&free, &[scope("*", Role::Owner)]).is_ok());
    }

    #[test]
    fn a_scoped_caller_gets_only_narrower_scopes() {
        let narrow = caller(vec![scope("web", Role::Editor), scope("*", Role::Viewer)], None);
        for ok in [vec![scope("web", Role::Editor)], vec![scope("docs", Role::Viewer)], vec![scope("*", Role::Viewer)]]
        {
            assert!(check_scopes_within(&narrow, &ok).is_ok(), "{ok:?}");
        }
        for wider in
            [vec![], vec![scope("web", Role::Admin)], vec![scope("docs", Role::Runner)], vec![scope("*", Role::Runner)]]
        {
            assert!(check_scopes_within(&narrow, &wider).is_err(), "{wider:?}");
        }
    }

    #[test]
    fn scopes_name_a_project_or_every_project() {
        assert!(check_scope_shape(&[scope("*", Role::Viewer), scope("web-2", Role::Owner)]).is_ok());
        for bad in ["", "..", "../etc", "Web", "a*"] {
            let err = check_scope_shape(&[scope("web", Role::Viewer), scope(bad, Role::Viewer)]).unwrap_err();
            assert_eq!(err.body().error.path.as_deref(), Some("scopes[1].project"), "{bad}");
        }
        let many: Vec<_> = (0..=MAX_SCOPES).map(|n| scope(&format!("p{n}"), Role::Viewer)).collect();
        assert_eq!(check_scope_shape(&many).unwrap_err().body().error.path.as_deref(), Some("scopes"));
    }

    #[test]
    fn a_new_credential_expires_no_later_than_its_maker() {
        let days = |n| Days::new(n).expect("in range");
        assert_eq!(expiry(&caller(Vec::new(), None), None), None);
        let asked = expiry(&caller(Vec::new(), None), Some(days(2))).expect("expires");
        assert!((asked - Utc::now() - chrono::TimeDelta::days(2)).num_seconds().abs() < 5);
        let limit = Utc::now() + chrono::TimeDelta::hours(5);
        let bounded = caller(Vec::new(), Some(limit));
        assert_eq!(expiry(&bounded, None), Some(limit));
        assert_eq!(expiry(&bounded, Some(days(30))), Some(limit));
    }
}
