//! Who may do what: a [`Principal`] (the local user, or an authenticated caller of the server)
//! passes [`Principal::authorize`] to obtain the [`Scope`] that every store call needs. There is
//! no other way to build a `Scope`, so a store query without a tenant cannot be written.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Diagnostic, ErrorClass};

/// The tenant every local project lives in.
pub const LOCAL_TENANT: &str = "local";
/// The project id of the local store (the store belongs to one project directory).
pub const LOCAL_PROJECT: &str = "default";

/// The tenant and project a store operation is confined to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    tenant: String,
    project: String,
}

impl Scope {
    pub(crate) fn new(tenant: &str, project: &str) -> Self {
        Self { tenant: tenant.to_owned(), project: project.to_owned() }
    }

    /// The tenant id.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The project id.
    pub fn project(&self) -> &str {
        &self.project
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tenant, self.project)
    }
}

/// The tenant a tenant-wide operation (projects, principals, tokens, audit) is confined to.
/// Like [`Scope`], only [`Principal::authorize_tenant`] builds one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantScope {
    tenant: String,
}

impl TenantScope {
    pub(crate) fn new(tenant: &str) -> Self {
        Self { tenant: tenant.to_owned() }
    }

    /// The tenant id.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The scope of one project of this tenant, for a caller already allowed tenant-wide.
    pub fn project(&self, project: &str) -> Scope {
        Scope::new(&self.tenant, project)
    }
}

/// The right to manage tenants themselves: only a super-admin gets one from
/// [`Principal::authorize_system`] (and the server, once, to bootstrap the first admin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemScope(());

impl SystemScope {
    pub(crate) fn new() -> Self {
        Self(())
    }

    /// The tenant-wide scope of any tenant.
    pub fn tenant(&self, tenant: &str) -> TenantScope {
        TenantScope::new(tenant)
    }
}

/// A role on a project, weakest first; each includes the rights of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads prompts, runs and experiments.
    Viewer,
    /// Also runs evaluations and uploads runs; cannot edit prompts.
    Runner,
    /// Also creates versions and moves unprotected labels.
    Editor,
    /// Also moves protected labels and manages members and tokens.
    Admin,
    /// Everything, including deleting the project.
    Owner,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Self; 5] = [Self::Viewer, Self::Runner, Self::Editor, Self::Admin, Self::Owner];

    /// The name users type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Runner => "runner",
            Self::Editor => "editor",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// Parses the name users type.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// Something a principal wants to do to a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read prompts, versions, labels, runs, experiments.
    Read,
    /// Run evaluations and record runs, experiments, cache entries and spend.
    Run,
    /// Create prompt versions and move unprotected labels.
    Write,
    /// Move a protected label.
    MoveProtectedLabel,
    /// Manage members, tokens and project settings.
    Admin,
}

impl Action {
    /// The weakest role allowed to do this.
    pub fn required_role(self) -> Role {
        match self {
            Self::Read => Role::Viewer,
            Self::Run => Role::Runner,
            Self::Write => Role::Editor,
            Self::MoveProtectedLabel | Self::Admin => Role::Admin,
        }
    }
}

/// An authenticated actor with roles on the projects of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who it is (user name, token id), recorded in audit trails.
    pub subject: String,
    /// The tenant it belongs to.
    pub tenant: String,
    /// Its role on each project of the tenant.
    pub roles: BTreeMap<String, Role>,
    /// Manages the tenant: projects, principals, every token, the audit log.
    pub tenant_admin: bool,
    /// Manages tenants (the first admin of a server).
    pub super_admin: bool,
}

/// A refused action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// The principal has no role on the project (reported like a missing project).
    #[error("project `{project}` not found")]
    UnknownProject {
        /// The project asked for.
        project: String,
    },
    /// The action needs a tenant administrator.
    #[error("`{subject}` is not an administrator of tenant `{tenant}`")]
    NotTenantAdmin {
        /// Who asked.
        subject: String,
        /// The tenant.
        tenant: String,
    },
    /// The action needs a super-admin.
    #[error("`{subject}` is not a server administrator")]
    NotSuperAdmin {
        /// Who asked.
        subject: String,
    },
    /// The principal's role is too weak.
    #[error("`{subject}` has role {} on `{project}`, but this needs {}", have.as_str(), need.as_str())]
    Forbidden {
        /// Who asked.
        subject: String,
        /// The project.
        project: String,
        /// The role it has.
        have: Role,
        /// The role it would need.
        need: Role,
    },
}

impl Diagnostic for AccessError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Usage
    }
    fn hints(&self) -> Vec<String> {
        match self {
            Self::UnknownProject { .. } => {
                vec!["check the project name and that your token belongs to its tenant".to_owned()]
            }
            Self::Forbidden { need, .. } => vec![format!("ask a project admin for the {} role", need.as_str())],
            Self::NotTenantAdmin { .. } => vec!["ask a tenant administrator to do this".to_owned()],
            Self::NotSuperAdmin { .. } => {
                vec!["use the server's admin token (`promptops serve --init-admin`)".to_owned()]
            }
        }
    }
}

impl Principal {
    /// The user of a local project: owner of the one implicit tenant and project.
    pub fn local(subject: &str) -> Self {
        Self {
            subject: subject.to_owned(),
            tenant: LOCAL_TENANT.to_owned(),
            roles: BTreeMap::from([(LOCAL_PROJECT.to_owned(), Role::Owner)]),
            tenant_admin: true,
            super_admin: false,
        }
    }

    /// The tenant-wide scope, if this principal administers its tenant.
    pub fn authorize_tenant(&self) -> Result<TenantScope, AccessError> {
        if !self.tenant_admin {
            return Err(AccessError::NotTenantAdmin { subject: self.subject.clone(), tenant: self.tenant.clone() });
        }
        Ok(TenantScope::new(&self.tenant))
    }

    /// The right to manage tenants, if this principal is a super-admin.
    pub fn authorize_system(&self) -> Result<SystemScope, AccessError> {
        if !self.super_admin {
            return Err(AccessError::NotSuperAdmin { subject: self.subject.clone() });
        }
        Ok(SystemScope::new())
    }

    /// The scope of `project` if this principal may do `action` there.
    pub fn authorize(&self, action: Action, project: &str) -> Result<Scope, AccessError> {
        let Some(&have) = self.roles.get(project) else {
            return Err(AccessError::UnknownProject { project: project.to_owned() });
        };
        let need = action.required_role();
        if have < need {
            return Err(AccessError::Forbidden {
                subject: self.subject.clone(),
                project: project.to_owned(),
                have,
                need,
            });
        }
        Ok(Scope::new(&self.tenant, project))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role) -> Principal {
        Principal {
            subject: "u".into(),
            tenant: "t".into(),
            roles: BTreeMap::from([("p".to_owned(), role)]),
            tenant_admin: false,
            super_admin: false,
        }
    }

    #[test]
    fn roles_include_weaker_rights() {
        assert!(principal(Role::Editor).authorize(Action::Write, "p").is_ok());
        assert!(principal(Role::Editor).authorize(Action::Run, "p").is_ok());
        assert!(principal(Role::Runner).authorize(Action::Write, "p").is_err());
        assert!(principal(Role::Editor).authorize(Action::MoveProtectedLabel, "p").is_err());
        assert!(principal(Role::Admin).authorize(Action::MoveProtectedLabel, "p").is_ok());
    }

    #[test]
    fn tenant_and_system_rights_are_separate_flags() {
        let mut p = principal(Role::Owner);
        assert!(p.authorize_tenant().is_err());
        assert!(p.authorize_system().is_err());
        p.tenant_admin = true;
        assert_eq!(p.authorize_tenant().expect("admin").tenant(), "t");
        assert!(p.authorize_system().is_err());
    }

    #[test]
    fn other_projects_look_missing() {
        let err = principal(Role::Owner).authorize(Action::Read, "q").unwrap_err();
        assert_eq!(err, AccessError::UnknownProject { project: "q".into() });
    }

    #[test]
    fn scope_carries_tenant_and_project() {
        let scope = principal(Role::Viewer).authorize(Action::Read, "p").expect("allowed");
        assert_eq!((scope.tenant(), scope.project()), ("t", "p"));
    }
}
