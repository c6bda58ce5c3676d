//! Edge entries: plain edges, branches with a mandatory `else`, and map fan-outs.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// One edge entry: from a node (or `START`), exactly one of `to`, `branch` or `map`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// The node the edge leaves (or `START`).
    pub from: String,
    /// The node(s) that run next; several run in the same step (a static fan-out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Targets>,
    /// Conditions tried in order on the state after the step; the first true one is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<Vec<BranchCase>>,
    /// One task of a node per item of a list (LangGraph's `Send`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map: Option<MapSpec>,
}

/// One case of a branch: `{ when, to }`, or the final `{ else }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BranchCase {
    /// The condition (an expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Where to go when it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Targets>,
    /// Where to go when no condition holds; mandatory, and last.
    #[serde(default, rename = "else", skip_serializing_if = "Option::is_none")]
    pub otherwise: Option<Targets>,
}

/// A map fan-out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MapSpec {
    /// The list to map over (an expression on the state after the step).
    pub over: String,
    /// The name each item has in the task's expressions (default `item`).
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// The node that runs once per item.
    pub to: String,
}

impl MapSpec {
    /// The item's name in expressions.
    pub fn alias(&self) -> &str {
        self.alias.as_deref().unwrap_or("item")
    }
}

/// One target or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Targets {
    /// A single node (or `END`).
    One(String),
    /// Several nodes, run in the same step.
    Many(Vec<String>),
}

impl Targets {
    /// The targets as a list.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Self::One(name) => vec![name.as_str()],
            Self::Many(names) => names.iter().map(String::as_str).collect(),
        }
    }
}

impl<'de> Deserialize<'de> for Targets {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TargetsVisitor;
        impl<'de> Visitor<'de> for TargetsVisitor {
            type Value = Targets;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a node name, `END`, or a list of node names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Targets, E> {
                Ok(Targets::One(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Targets, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                if names.is_empty() {
                    return Err(de::Error::invalid_length(0, &"at least one target"));
                }
                Ok(Targets::Many(names))
            }
        }
        deserializer.deserialize_any(TargetsVisitor)
    }
}
