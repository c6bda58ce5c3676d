//! Hostile values shared by the library's and the CLI's security tests, so that both front ends
//! are tried with the same attacks.

/// A workflow whose `shell: true` tool prints the run's input `who` and the model's answer `said`
/// unquoted, inside double quotes and inside single quotes. Its model is the provider `offline`.
pub const SHELL_WORKFLOW: &str = r#"version: 1
name: hostile
input: [who]
state:
  who: { type: string }
  said: { type: string }
  out: { type: string }
nodes:
  ask: { type: prompt, provider: offline, messages: [{ role: user, content: "Name someone" }], output: { said: result.text } }
  greet:
    type: tool
    tool: { exec: ["printf '%s|' {{ state.who }} \"{{ state.said }}\" '{{ state.who }}'"], shell: true }
    output: { out: result.stdout }
edges:
  - { from: START, to: ask }
  - { from: ask, to: greet }
  - { from: greet, to: END }
"#;

/// A run input that tries to end the command and to break out of single quotes.
pub const SHELL_INPUT: &str = "bob; touch from-input '; touch from-input-2; '";

/// A model answer that tries a command substitution and to break out of double quotes.
pub const SHELL_ANSWER: &str = r#"$(touch from-model); \"; touch from-model-2; \""#;

/// What [`SHELL_WORKFLOW`] prints when every value arrives as data.
pub fn shell_output() -> String {
    format!("{SHELL_INPUT}|{SHELL_ANSWER}|{SHELL_INPUT}|")
}
