//! The workflow file format (`workflows/<name>.yaml`, `version: 1`) as plain data: typed state
//! with a reducer per key, nodes of five types, edges with branches and map fan-out, limits and
//! checkpoint settings. Field names are the ones users type (FORMATS.md, research brief §b).
//!
//! A node is one flat struct with a `type` rather than a serde-tagged enum: serde buffers a tagged
//! enum before deserialising it, which loses serde_yaml's line and column for unknown keys and
//! wrong types. Which fields a type allows is checked after parsing, with the key's location
//! (see `load.rs`). Meaning (what runs, what is checked) lives in `validate`, `exec` and `node`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

mod edges;
mod tools;

pub use edges::{BranchCase, Edge, MapSpec, Targets};
pub use tools::{Builtin, HttpSpec, ToolSpec};

use crate::prompt::{Message, ModelParams};

/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// The entry of every graph; edges leave it.
pub const START: &str = "START";
/// The exit of every graph; edges lead to it.
pub const END: &str = "END";
/// `limits.max_steps` when the file does not set it.
pub const DEFAULT_MAX_STEPS: u32 = 100;
/// How often a full state snapshot is stored between per-step deltas, by default.
pub const DEFAULT_SNAPSHOT_EVERY: u32 = 25;

/// One workflow file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "promptops workflow")]
pub struct WorkflowFile {
    /// The format version; must be 1.
    pub version: u32,
    /// The workflow's name: its path under `workflows/` without `.yaml`.
    pub name: String,
    /// What the workflow does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The state keys a run takes as input (`--input` must give each one without a default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input: Vec<String>,
    /// The state keys a run returns (all keys when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<String>,
    /// The state: every key a node may read or write, with its type and reducer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub state: BTreeMap<String, StateKey>,
    /// Limits of one run.
    #[serde(default)]
    pub limits: Limits,
    /// How runs are checkpointed.
    #[serde(default)]
    pub checkpoint: CheckpointSettings,
    /// The nodes, by name.
    pub nodes: BTreeMap<String, Node>,
    /// How control moves between nodes.
    pub edges: Vec<Edge>,
}

/// One state key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateKey {
    /// The value's JSON type (`any` when unset).
    #[serde(default, rename = "type")]
    pub kind: ValueType,
    /// How the writes of one step combine with the current value.
    #[serde(default)]
    pub reducer: Reducer,
    /// The value before anything writes it; a key with a default counts as written from the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    /// A JSON Schema for the items of an array key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<serde_json::Value>,
    /// What the key holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The JSON type of a state key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// Text.
    String,
    /// Any number.
    Number,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Boolean,
    /// A list.
    Array,
    /// A mapping.
    Object,
    /// Anything (the default).
    #[default]
    Any,
}

impl ValueType {
    /// Whether `value` has this type. `null` is accepted by every type: it means "unset".
    pub fn accepts(self, value: &serde_json::Value) -> bool {
        use serde_json::Value as V;
        match self {
            _ if value.is_null() => true,
            Self::String => value.is_string(),
            Self::Number => value.is_number(),
            Self::Integer => value.is_i64() || value.is_u64(),
            Self::Boolean => value.is_boolean(),
            Self::Array => matches!(value, V::Array(_)),
            Self::Object => matches!(value, V::Object(_)),
            Self::Any => true,
        }
    }

    /// The name users type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Integer => "integer",
            Self::Boolean => "boolean",
            Self::Array => "array",
            Self::Object => "object",
            Self::Any => "any",
        }
    }
}

/// How the writes to a key in one step are combined with its value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Reducer {
    /// The write replaces the value; two writes in one step are an error (the default).
    #[default]
    Replace,
    /// Lists are concatenated (a single value is appended as one item).
    Append,
    /// Objects are merged shallowly; later writes win per key.
    Merge,
    /// Numbers are added.
    Add,
    /// The largest value is kept.
    Max,
    /// The smallest value is kept.
    Min,
    /// Chat messages are appended; a message with the `id` of an earlier one replaces it.
    Messages,
}

impl Reducer {
    /// The name users type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replace => "replace",
            Self::Append => "append",
            Self::Merge => "merge",
            Self::Add => "add",
            Self::Max => "max",
            Self::Min => "min",
            Self::Messages => "messages",
        }
    }

    /// Whether several writes in one step can be combined.
    pub fn merges(self) -> bool {
        self != Self::Replace
    }

    /// The value types this reducer works on (`None`: any).
    pub fn fits(self) -> Option<&'static [ValueType]> {
        match self {
            Self::Replace => None,
            Self::Append | Self::Messages => Some(&[ValueType::Array, ValueType::Any]),
            Self::Merge => Some(&[ValueType::Object, ValueType::Any]),
            Self::Add => Some(&[ValueType::Number, ValueType::Integer, ValueType::Any]),
            Self::Max | Self::Min => Some(&[ValueType::Number, ValueType::Integer, ValueType::String, ValueType::Any]),
        }
    }
}

/// Limits of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The most supersteps a run may take (default 100): the global safety net behind `max_visits`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u32>,
}

impl Limits {
    /// `max_steps`, or its default.
    pub fn max_steps(&self) -> u32 {
        self.max_steps.unwrap_or(DEFAULT_MAX_STEPS)
    }
}

/// How runs are checkpointed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointSettings {
    /// When checkpoints reach the store.
    #[serde(default)]
    pub durability: Durability,
    /// A full state snapshot every this many steps (default 25); other steps store their writes only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_every: Option<u32>,
}

impl CheckpointSettings {
    /// `snapshot_every`, or its default (at least 1).
    pub fn snapshot_every(&self) -> u32 {
        self.snapshot_every.unwrap_or(DEFAULT_SNAPSHOT_EVERY).max(1)
    }
}

/// When checkpoints are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Each finished task and step is stored before the run goes on (the default).
    #[default]
    Sync,
    /// Writes go to the store in the background while the next step runs; the run waits for
    /// them before it returns.
    Async,
    /// Everything is stored once, when the run stops (finishes, pauses or fails).
    Exit,
    /// Nothing is stored: no resume, no history, no `human` nodes.
    None,
}

impl Durability {
    /// The name users type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::Async => "async",
            Self::Exit => "exit",
            Self::None => "none",
        }
    }
}

/// The five node types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// Renders a prompt and calls a model.
    Prompt,
    /// Runs a command, an HTTP request or a built-in function.
    Tool,
    /// Picks one label of a closed set (by expression or by prompt) and goes to its route.
    Router,
    /// Pauses the run until a person answers.
    Human,
    /// Runs another workflow with explicit input and output mappings.
    Subgraph,
}

impl NodeKind {
    /// The name users type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prompt => "prompt",
            Self::Tool => "tool",
            Self::Router => "router",
            Self::Human => "human",
            Self::Subgraph => "subgraph",
        }
    }
}

/// One node. Which fields apply depends on `type` (checked after parsing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// What the node does.
    #[serde(rename = "type")]
    pub kind: NodeKind,
    /// What the node is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `prompt`, `router`: a registry prompt ref (`name`, `name@production`, `name@3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// `prompt`, `router`: an inline prompt's messages (templates over `vars`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<Message>>,
    /// `prompt`, `router`: the provider (an id from promptops.yaml or `kind:model`); default: the prompt's `model`, then the project default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `prompt`, `router`: model parameters over the prompt's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<ModelParams>,
    /// `prompt`, `router`: template variables, each an expression.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
    /// `prompt`, `router`: how to read the answer: `text` (default) or `json` (then `result.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse: Option<ParseMode>,
    /// `prompt`, `router`: a JSON Schema the parsed answer must match; `human`: the answer's schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    /// `router`: the expression giving the label (over `result` when the router has a prompt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `router`: each label and the node (or `END`) it leads to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, String>,
    /// `tool`: what to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<ToolSpec>,
    /// `human`: what to ask (a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `subgraph`: the workflow to run: a name under `workflows/`, or a path relative to this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// `subgraph`: the child's input keys, each an expression over this workflow's state.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub input: BTreeMap<String, String>,
    /// State keys this node writes, each an expression (usually over `result`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub output: BTreeMap<String, String>,
    /// Retries of the whole node (a failed call, invalid JSON, a schema mismatch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// The most one attempt may take, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
    /// `prompt`, `router`: whether model answers may come from (and go to) the provider layer's
    /// response cache (default true; `--no-cache` turns it off for a whole run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    /// What to do when the node still fails after its retries (default: fail the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<Fallback>,
    /// The most times this node may run in one thread; every cycle needs one such bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_visits: Option<u32>,
    /// What to do when the node is triggered past `max_visits` (default: fail the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_limit: Option<Fallback>,
    /// Run only once every listed node has run since this node last ran (a join).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wait_for: Vec<String>,
    /// Run only when nothing else is pending.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub defer: bool,
}

impl Node {
    /// A node of `kind` with nothing else set (a starting point for tests and builders).
    pub fn of(kind: NodeKind) -> Self {
        Self {
            kind,
            description: None,
            prompt: None,
            messages: None,
            provider: None,
            params: None,
            vars: BTreeMap::new(),
            parse: None,
            schema: None,
            label: None,
            routes: BTreeMap::new(),
            tool: None,
            message: None,
            workflow: None,
            input: BTreeMap::new(),
            output: BTreeMap::new(),
            retry: None,
            timeout_s: None,
            cache: None,
            on_error: None,
            max_visits: None,
            on_limit: None,
            wait_for: Vec::new(),
            defer: false,
        }
    }

    /// Whether the node calls a model.
    pub fn calls_model(&self) -> bool {
        matches!(self.kind, NodeKind::Prompt | NodeKind::Router) && (self.prompt.is_some() || self.messages.is_some())
    }
}

/// How a prompt's answer is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParseMode {
    /// As text: `result.text`.
    #[default]
    Text,
    /// As JSON (code fences are stripped): `result.json`, checked against `schema`.
    Json,
}

/// Retries of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the second attempt, in milliseconds; doubles after each (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_ms: Option<u64>,
}

/// What happens when a node fails or hits its visit limit: `fail` (the default), or go to
/// another node (or `END`), optionally writing state keys (`error` holds the message).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Fallback {
    /// Stop the run with an error (`fail`).
    Fail(FailWord),
    /// Go elsewhere instead.
    Goto(GotoSpec),
}

/// The word `fail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FailWord {
    /// Stop the run with an error.
    Fail,
}

/// Where to go instead, and what to write on the way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GotoSpec {
    /// The node (or `END`) to go to.
    pub goto: String,
    /// State keys to write, each an expression (`error` is the failure's message).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub output: BTreeMap<String, String>,
}

impl Fallback {
    /// The node to go to, if any.
    pub fn goto(&self) -> Option<&GotoSpec> {
        match self {
            Self::Fail(_) => None,
            Self::Goto(spec) => Some(spec),
        }
    }
}

// Hand-written: `fail` or a mapping, with serde_yaml's locations kept for mistakes inside the
// mapping (an untagged enum would only say "did not match any variant").
impl<'de> Deserialize<'de> for Fallback {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FallbackVisitor;
        impl<'de> Visitor<'de> for FallbackVisitor {
            type Value = Fallback;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`fail`, or a mapping such as `{ goto: END }`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Fallback, E> {
                if v == "fail" {
                    Ok(Fallback::Fail(FailWord::Fail))
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Fallback, A::Error> {
                GotoSpec::deserialize(de::value::MapAccessDeserializer::new(map)).map(Fallback::Goto)
            }
        }
        deserializer.deserialize_any(FallbackVisitor)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::yaml;

    #[test]
    fn fallbacks_read_fail_or_a_goto() {
        let node: Node = yaml::from_str(
            Path::new("w.yaml"),
            "type: tool\non_error: fail\non_limit: { goto: END, output: { why: error } }\n",
        )
        .expect("parses");
        assert_eq!(node.on_error, Some(Fallback::Fail(FailWord::Fail)));
        assert_eq!(node.on_limit.as_ref().and_then(Fallback::goto).map(|g| g.goto.as_str()), Some("END"));
    }

    #[test]
    fn a_mistake_inside_a_goto_keeps_its_location() {
        let err = yaml::from_str::<Node>(Path::new("w.yaml"), "type: tool\non_error:\n  goto: END\n  outptu: {}\n")
            .expect_err("unknown key");
        assert_eq!(err.location.map(|l| (l.line, l.column)), Some((4, 3)));
        assert!(err.message.contains("unknown field `outptu`"), "{}", err.message);
    }

    #[test]
    fn targets_read_one_or_many() {
        let edge: Edge = yaml::from_str(Path::new("w.yaml"), "{ from: a, to: [b, c] }").expect("parses");
        assert_eq!(edge.to.map(|t| t.names().len()), Some(2));
        let edge: Edge = yaml::from_str(Path::new("w.yaml"), "{ from: a, to: END }").expect("parses");
        assert_eq!(edge.to, Some(Targets::One("END".into())));
    }

    #[test]
    fn value_types_accept_null_as_unset() {
        assert!(ValueType::Number.accepts(&serde_json::Value::Null));
        assert!(!ValueType::Number.accepts(&serde_json::json!("x")));
        assert!(ValueType::Integer.accepts(&serde_json::json!(3)));
        assert!(!ValueType::Integer.accepts(&serde_json::json!(3.5)));
    }
}
