//! Administration of a server from the command line (`promptops admin …`): tenants, projects,
//! users and services, project members, API tokens and Langfuse key pairs, each a thin call of
//! the `/api/v1` route that the console and curl use. The server decides who may do what; a
//! refusal comes back as the server's error with its hint, so the CLI inherits every rule of
//! roles, scopes and token lifetimes without repeating one.

use reqwest::Method;

use super::{Client, RemoteError};
use crate::access::Role;
use crate::api::{
    CreateKeyPair, CreatePrincipal, CreateProject, CreateTenant, CreateToken, CreatedKeyPair, CreatedToken, SetMember,
    TenantCreated,
};
use crate::store::{KeyPairRecord, MemberRecord, PrincipalRecord, ProjectRecord, TenantRecord, TokenRecord};

/// The administration routes of one server, with the token of its remote.
#[derive(Debug, Clone)]
pub struct RemoteAdmin {
    client: Client,
}

impl RemoteAdmin {
    /// Administration through `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The remote's project (members and key pairs default to it).
    pub fn project(&self) -> &str {
        &self.client.remote().project
    }

    /// Every tenant (super-admins).
    pub async fn tenants(&self) -> Result<Vec<TenantRecord>, RemoteError> {
        self.client.get_all(self.client.api_url(&["tenants"]), &[]).await
    }

    /// Creates a tenant and its first administrator, whose token is in the answer (once).
    pub async fn create_tenant(&self, request: &CreateTenant) -> Result<TenantCreated, RemoteError> {
        self.client.send(Method::POST, self.client.api_url(&["tenants"]), Some(request)).await
    }

    /// The caller's projects.
    pub async fn projects(&self) -> Result<Vec<ProjectRecord>, RemoteError> {
        self.client.get_all(self.client.api_url(&["projects"]), &[]).await
    }

    /// Creates a project in the caller's tenant (tenant admins).
    pub async fn create_project(&self, request: &CreateProject) -> Result<ProjectRecord, RemoteError> {
        self.client.send(Method::POST, self.client.api_url(&["projects"]), Some(request)).await
    }

    /// The users and services of the caller's tenant (tenant admins).
    pub async fn principals(&self) -> Result<Vec<PrincipalRecord>, RemoteError> {
        self.client.get_all(self.client.api_url(&["principals"]), &[]).await
    }

    /// Creates a user or service (tenant admins).
    pub async fn create_principal(&self, request: &CreatePrincipal) -> Result<PrincipalRecord, RemoteError> {
        self.client.send(Method::POST, self.client.api_url(&["principals"]), Some(request)).await
    }

    /// The members of `project` and their roles.
    pub async fn members(&self, project: &str) -> Result<Vec<MemberRecord>, RemoteError> {
        self.client.get_all(self.client.api_url(&["projects", project, "members"]), &[]).await
    }

    /// Gives `principal` `role` in `project` (project admins).
    pub async fn set_member(&self, project: &str, principal: &str, role: Role) -> Result<MemberRecord, RemoteError> {
        let url = self.client.api_url(&["projects", project, "members", principal]);
        self.client.send(Method::PUT, url, Some(&SetMember { role })).await
    }

    /// Removes `principal` from `project` (project admins).
    pub async fn remove_member(&self, project: &str, principal: &str) -> Result<(), RemoteError> {
        self.client.delete(self.client.api_url(&["projects", project, "members", principal])).await
    }

    /// The API tokens the caller may see (its own; a tenant admin's, the tenant's).
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>, RemoteError> {
        self.client.get_all(self.client.api_url(&["tokens"]), &[]).await
    }

    /// Creates an API token; its secret is in the answer, once.
    pub async fn create_token(&self, request: &CreateToken) -> Result<CreatedToken, RemoteError> {
        self.client.send(Method::POST, self.client.api_url(&["tokens"]), Some(request)).await
    }

    /// Revokes a token by id.
    pub async fn revoke_token(&self, id: &str) -> Result<(), RemoteError> {
        self.client.delete(self.client.api_url(&["tokens", id])).await
    }

    /// The Langfuse key pairs of `project` (project admins).
    pub async fn key_pairs(&self, project: &str) -> Result<Vec<KeyPairRecord>, RemoteError> {
        self.client.get_all(self.client.api_url(&["projects", project, "keys"]), &[]).await
    }

    /// Creates a key pair for `project`; its secret key is in the answer, once.
    pub async fn create_key_pair(&self, project: &str, request: &CreateKeyPair) -> Result<CreatedKeyPair, RemoteError> {
        self.client.send(Method::POST, self.client.api_url(&["projects", project, "keys"]), Some(request)).await
    }

    /// Revokes a key pair by its public key.
    pub async fn revoke_key_pair(&self, project: &str, public_key: &str) -> Result<(), RemoteError> {
        self.client.delete(self.client.api_url(&["projects", project, "keys", public_key])).await
    }
}
