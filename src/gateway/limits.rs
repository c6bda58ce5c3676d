//! What limits a gateway request: the key's own ([`KeyLimits`]: rates, calls in flight, a budget,
//! the models and prompts it may use) and the budgets of its project and tenant
//! ([`GatewaySettings`]). [`meter_scopes`] turns them into the meter scopes one admission checks
//! together.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::money::Micros;
use crate::store::MeterScope;

/// A spending limit per UTC day and month, in USD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// Most spent per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_usd: Option<f64>,
    /// Most spent per UTC month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_usd: Option<f64>,
}

impl BudgetSpec {
    /// Whether a limit is set.
    pub fn any(&self) -> bool {
        self.daily_usd.is_some() || self.monthly_usd.is_some()
    }

    fn limits(&self) -> (Option<Micros>, Option<Micros>) {
        (self.daily_usd.and_then(Micros::from_usd), self.monthly_usd.and_then(Micros::from_usd))
    }

    /// Checks the figures (finite, not negative).
    pub fn check(&self) -> Result<(), String> {
        let bad = [self.daily_usd, self.monthly_usd].into_iter().flatten().any(|v| !v.is_finite() || v < 0.0);
        if bad { Err("budgets are non-negative amounts of USD".to_owned()) } else { Ok(()) }
    }
}

/// The limits of one gateway key (the `gateway:invoke` scope of an API token).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyLimits {
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u32>,
    /// Tokens per minute (estimated before the call, corrected after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Calls in flight at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallel: Option<u32>,
    /// The key's own budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetSpec>,
    /// The budget of each end user of the key, named by a request's `user` field (OpenAI's):
    /// with it, a request without `user` is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_budget: Option<BudgetSpec>,
    /// Budgets of named end users, each in place of `user_budget` for that user (a larger one
    /// for a known heavy user, a smaller one for a trial account).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_budgets: BTreeMap<String, BudgetSpec>,
    /// Connections it may call (empty: all of the project's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// Managed prompts it may use (`support/triage`, or a prefix ending in `*`; empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<String>,
}

impl KeyLimits {
    /// The most connections or prompts a key may name: each call scans them.
    pub const MAX_NAMES: usize = 64;
    /// The longest name in those lists, in characters.
    pub const MAX_NAME_CHARS: usize = 200;
    /// The most end users with a budget of their own (each call looks its user up among them).
    pub const MAX_USER_BUDGETS: usize = 10_000;

    /// Checks what a request may set: budgets, and the allowed names (bounded, since every
    /// `/v1` call scans them). The error names the JSON path.
    pub fn check(&self) -> Result<(), (String, &'static str)> {
        for (budget, path) in [(&self.budget, "limits.budget"), (&self.user_budget, "limits.user_budget")] {
            if let Some(budget) = budget {
                budget.check().map_err(|message| (message, path))?;
            }
        }
        self.check_user_budgets()?;
        for (names, path) in [(&self.models, "limits.models"), (&self.prompts, "limits.prompts")] {
            if names.len() > Self::MAX_NAMES {
                return Err((format!("at most {} names", Self::MAX_NAMES), path));
            }
            if names.iter().any(|n| n.is_empty() || n.chars().count() > Self::MAX_NAME_CHARS) {
                return Err((format!("names are 1 to {} characters", Self::MAX_NAME_CHARS), path));
            }
        }
        Ok(())
    }

    fn check_user_budgets(&self) -> Result<(), (String, &'static str)> {
        let path = "limits.user_budgets";
        if self.user_budgets.len() > Self::MAX_USER_BUDGETS {
            return Err((format!("at most {} end users", Self::MAX_USER_BUDGETS), path));
        }
        for (user, budget) in &self.user_budgets {
            if user.is_empty() || user.chars().count() > MAX_USER_CHARS {
                return Err((format!("end users are named by 1 to {MAX_USER_CHARS} characters"), path));
            }
            budget.check().map_err(|message| (format!("`{user}`: {message}"), path))?;
        }
        Ok(())
    }

    /// The budget of end user `user`: their own, else every user's.
    fn budget_of(&self, user: &str) -> Option<&BudgetSpec> {
        self.user_budgets.get(user).or(self.user_budget.as_ref())
    }

    /// Whether the key may call connection `model`.
    pub fn allows_model(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m == model)
    }

    /// Whether the key may use prompt `name`.
    pub fn allows_prompt(&self, name: &str) -> bool {
        self.prompts.is_empty()
            || self.prompts.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => p == name,
            })
    }
}

/// A project's or a tenant's gateway settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// The budget of every key of the project (or tenant) together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetSpec>,
    /// Whether traces keep prompt variables and answers (projects only; off by default).
    #[serde(default)]
    pub keep_content: bool,
}

/// The longest end-user name a request may send in `user`, in characters.
pub const MAX_USER_CHARS: usize = 256;

/// The meter scopes of one request: the key, then its end user, its project and its tenant. The
/// key's scope is always there (it counts calls in flight); the others only when they have a
/// budget (the end user's, only when the request names one).
pub fn meter_scopes(
    key_id: &str,
    key: &KeyLimits,
    user: Option<&str>,
    project: &str,
    project_settings: &GatewaySettings,
    tenant_settings: &GatewaySettings,
) -> Vec<MeterScope> {
    let budget = |b: Option<&BudgetSpec>| b.map(BudgetSpec::limits).unwrap_or_default();
    let (daily, monthly) = budget(key.budget.as_ref());
    let mut scopes = vec![MeterScope {
        key: format!("key:{key_id}"),
        rpm: key.rpm,
        tpm: key.tpm,
        max_parallel: key.max_parallel,
        daily,
        monthly,
    }];
    let budgets = [
        (user.map(|user| format!("user:{key_id}:{user}")), user.and_then(|user| key.budget_of(user))),
        (Some(format!("project:{project}")), project_settings.budget.as_ref()),
        (Some("tenant".to_owned()), tenant_settings.budget.as_ref()),
    ];
    for (name, spec) in budgets {
        let (daily, monthly) = budget(spec);
        if let Some(key) = name
            && (daily.is_some() || monthly.is_some())
        {
            scopes.push(MeterScope { key, rpm: None, tpm: None, max_parallel: None, daily, monthly });
        }
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_patterns_match_names_and_prefixes() {
        let limits = KeyLimits { prompts: vec!["support/*".into(), "greet".into()], ..KeyLimits::default() };
        assert!(limits.allows_prompt("support/triage"));
        assert!(limits.allows_prompt("greet"));
        assert!(!limits.allows_prompt("greeting"));
        assert!(KeyLimits::default().allows_prompt("anything"));
    }

    #[test]
    fn only_scopes_with_budgets_join_the_key() {
        let budget = GatewaySettings {
            budget: Some(BudgetSpec { daily_usd: Some(1.0), monthly_usd: None }),
            ..GatewaySettings::default()
        };
        let scopes =
            meter_scopes("tok_1", &KeyLimits::default(), Some("ada"), "web", &GatewaySettings::default(), &budget);
        let keys: Vec<&str> = scopes.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, vec!["key:tok_1", "tenant"], "no end-user budget: no end-user scope");
        assert_eq!(scopes[1].daily, Some(Micros(1_000_000)));
    }

    #[test]
    fn an_end_user_budget_meters_each_user_of_the_key_apart() {
        let per_user = BudgetSpec { daily_usd: Some(0.5), monthly_usd: None };
        let key = KeyLimits { user_budget: Some(per_user), ..KeyLimits::default() };
        let none = GatewaySettings::default();
        let keys = |user| -> Vec<String> {
            meter_scopes("tok_1", &key, user, "web", &none, &none).into_iter().map(|s| s.key).collect()
        };
        assert_eq!(keys(Some("ada")), vec!["key:tok_1", "user:tok_1:ada"]);
        assert_eq!(keys(Some("bob")), vec!["key:tok_1", "user:tok_1:bob"]);
        assert_eq!(meter_scopes("tok_1", &key, Some("ada"), "web", &none, &none)[1].daily, Some(Micros(500_000)));
    }

    #[test]
    fn a_named_end_user_has_their_own_budget_in_place_of_everyones() {
        let budget = |usd| BudgetSpec { daily_usd: Some(usd), monthly_usd: None };
        let key = KeyLimits {
            user_budget: Some(budget(0.5)),
            user_budgets: BTreeMap::from([("vip".to_owned(), budget(5.0))]),
            ..KeyLimits::default()
        };
        let none = GatewaySettings::default();
        let daily = |user| meter_scopes("tok_1", &key, Some(user), "web", &none, &none)[1].daily;
        assert_eq!((daily("vip"), daily("ada")), (Some(Micros(5_000_000)), Some(Micros(500_000))));
        let only_named = KeyLimits { user_budget: None, ..key };
        let scopes = |user| meter_scopes("tok_1", &only_named, Some(user), "web", &none, &none).len();
        assert_eq!((scopes("vip"), scopes("ada")), (2, 1), "an unnamed user has no budget when no default is set");
    }

    #[test]
    fn end_user_budgets_are_checked_with_the_path_and_the_user() {
        let budget = BudgetSpec { daily_usd: Some(-1.0), monthly_usd: None };
        let negative = KeyLimits { user_budgets: BTreeMap::from([("ada".to_owned(), budget)]), ..KeyLimits::default() };
        let (message, path) = negative.check().expect_err("negative");
        assert_eq!((message.as_str(), path), ("`ada`: budgets are non-negative amounts of USD", "limits.user_budgets"));
        let unnamed = KeyLimits {
            user_budgets: BTreeMap::from([(String::new(), BudgetSpec::default())]),
            ..KeyLimits::default()
        };
        assert_eq!(unnamed.check().expect_err("empty name").1, "limits.user_budgets");
    }
}
