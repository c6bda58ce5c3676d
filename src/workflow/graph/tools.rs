//! The `tool:` spec of a tool node: a built-in, a command or an HTTP request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ParseMode;

/// What a `tool` node runs: exactly one of `builtin`, `exec` or `http`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    /// A built-in function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<Builtin>,
    /// The built-in's arguments, each an expression.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    /// A command and its arguments (each a template); run without a shell unless `shell: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<Vec<String>>,
    /// Run `exec` as one `sh -c` command line (its items joined by spaces).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shell: bool,
    /// `exec`: text for the command's standard input (an expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// `exec`, `http`: the most output bytes kept (default 1 MiB); more is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_bytes: Option<u64>,
    /// An HTTP request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSpec>,
    /// `exec`, `http`: read the output as JSON (`result.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse: Option<ParseMode>,
}

/// The built-in tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Builtin {
    /// Returns its arguments as a mapping (for tests and examples).
    Echo,
    /// Joins `parts` (a list) with `sep` (default a blank line) into one string.
    Join,
    /// Parses `text` as JSON.
    Json,
}

impl Builtin {
    /// The name users type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Echo => "echo",
            Self::Join => "join",
            Self::Json => "json",
        }
    }
}

/// An HTTP request made by a `tool` node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// The URL (a template).
    pub url: String,
    /// The method (default GET, or POST when there is a body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Headers (templates).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A JSON body (an expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}
