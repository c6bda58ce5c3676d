//! Static validation of a workflow (`promptops workflow validate`, and before every run), the
//! rules of research brief §c. Every finding names file:line:col and carries a hint:
//!
//! | rule | module |
//! |---|---|
//! | version, names, fields per node type, state types and reducers, expressions compile and use known names, references exist, branches end in `else`, routers have routes | `shape` |
//! | `START` has an edge, every node has an outgoing edge, reachability from `START` and to `END`, every cycle bounded by `max_visits`, a step bound against `limits.max_steps` | `flow` |
//! | keys read before they are written on some path, concurrent writes to a key without a merging reducer, branches reading keys a sibling writes | `dataflow` |
//! | prompt refs resolve and get their variables, router labels have routes, subgraphs exist and map their keys, `exec` allowed, `human` needs checkpoints | `refs` |
//!
//! Structure checks are synchronous and need nothing but the file; the reference checks load
//! prompts and subgraphs through the caller's [`PromptSource`] and [`Catalog`].

mod dataflow;
mod flow;
mod refs;
mod shape;

use super::error::{Finding, Severity, WorkflowError};
use super::load::Workflow;
use super::source::{Catalog, PromptSource};
use super::tool::ExecPolicy;
use crate::yaml::Location;

/// What reference checks may use. Without a prompt source or catalog, those checks are skipped.
#[derive(Debug, Clone, Copy, Default)]
pub struct References<'a> {
    /// Resolves prompt refs.
    pub prompts: Option<&'a dyn PromptSource>,
    /// Resolves subgraphs.
    pub catalog: Option<&'a Catalog>,
    /// Which commands `exec` tools may run.
    pub exec: Option<&'a ExecPolicy>,
}

/// Every structural finding of `workflow` (no prompt or subgraph is loaded).
pub fn check_structure(workflow: &Workflow) -> Vec<Finding> {
    let mut checker = Checker::new(workflow);
    shape::check(&mut checker);
    // Flow and dataflow rules assume the names resolve; they would only repeat shape errors.
    if !checker.has_errors() {
        flow::check(&mut checker);
        dataflow::check(&mut checker);
    }
    checker.finish()
}

/// Every finding of `workflow`: structure, then prompts, subgraphs and capabilities.
pub async fn validate(workflow: &Workflow, references: References<'_>) -> Vec<Finding> {
    let mut findings = check_structure(workflow);
    let mut checker = Checker::new(workflow);
    refs::check(&mut checker, references, &mut Vec::new()).await;
    findings.extend(checker.finish());
    findings
}

/// `Ok(warnings)` when there is no error, else [`WorkflowError::Invalid`] with every finding.
pub fn ensure_valid(workflow: &Workflow, findings: Vec<Finding>) -> Result<Vec<Finding>, WorkflowError> {
    if findings.iter().any(|f| f.severity == Severity::Error) {
        return Err(WorkflowError::Invalid { name: workflow.name().to_owned(), findings });
    }
    Ok(findings)
}

/// Collects findings for one workflow, locating each key path in the file.
pub(crate) struct Checker<'a> {
    pub workflow: &'a Workflow,
    findings: Vec<Finding>,
}

impl<'a> Checker<'a> {
    fn new(workflow: &'a Workflow) -> Self {
        Self { workflow, findings: Vec::new() }
    }

    /// The file being checked.
    pub fn file(&self) -> &'a super::graph::WorkflowFile {
        &self.workflow.file
    }

    /// Records an error at a key path.
    pub fn error(&mut self, path: &[&str], message: impl Into<String>, hints: Vec<String>) {
        self.push(Severity::Error, path, message.into(), hints);
    }

    /// Records a warning at a key path.
    pub fn warn(&mut self, path: &[&str], message: impl Into<String>, hints: Vec<String>) {
        self.push(Severity::Warning, path, message.into(), hints);
    }

    /// Records a finding that another file produced (a subgraph's).
    pub fn adopt(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    fn push(&mut self, severity: Severity, path: &[&str], message: String, hints: Vec<String>) {
        let location = self.locate(path);
        self.findings.push(Finding { severity, path: self.workflow.origin.clone(), location, message, hints });
    }

    /// Where a key path is written; when it cannot be found (deep flow style), the nearest
    /// enclosing key that can.
    fn locate(&self, path: &[&str]) -> Option<Location> {
        (1..=path.len()).rev().find_map(|n| self.workflow.locate(&path[..n]))
    }

    fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    fn finish(self) -> Vec<Finding> {
        self.findings
    }
}

#[cfg(test)]
mod tests;
