//! Prompt composition: `@@@langfusePrompt:name=N|label=L@@@` (or `|version=V`) in a template is
//! replaced by the referenced text prompt's template, itself composed. One resolution for the
//! server's Langfuse route and for the CLI's render step; the caller's [`ReferenceSource`] says
//! where referenced versions come from.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::LazyLock;

use futures::future::BoxFuture;
use regex::Regex;

use super::{Content, LoadedPrompt, PartialSet, PromptName, Selector, VariableSpec};
use crate::error::{Diagnostic, ErrorClass};

/// How deep references may nest.
pub const MAX_DEPTH: usize = 10;

static REFERENCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"@@@langfusePrompt:(.*?)@@@").expect("invariant: valid regex"));

/// Whether `text` holds a composition reference.
pub fn has_references(text: &str) -> bool {
    REFERENCE.is_match(text)
}

/// One parsed reference.
struct Reference {
    name: PromptName,
    selector: Selector,
    shown: String,
}

fn parse(inner: &str) -> Result<Reference, ComposeError> {
    let shown = format!("@@@langfusePrompt:{inner}@@@");
    let malformed = |why: String| ComposeError::Malformed { reference: shown.clone(), why };
    let mut fields = BTreeMap::new();
    for pair in inner.split('|') {
        let (key, value) = pair.split_once('=').ok_or_else(|| malformed(format!(": `{pair}` is not key=value")))?;
        fields.insert(key.trim(), value.trim());
    }
    let name = fields.get("name").ok_or_else(|| malformed(" names no prompt (name=…)".to_owned()))?;
    let name = PromptName::new(name).map_err(|err| malformed(format!(": {err}")))?;
    let selector = match (fields.get("label"), fields.get("version")) {
        (Some(_), Some(_)) => return Err(malformed(" gives both a label and a version".to_owned())),
        (Some(label), None) => Selector::Named((*label).to_owned()),
        (None, Some(version)) => {
            Selector::Version(version.parse().map_err(|_| malformed(format!(": version `{version}` is not a number")))?)
        }
        (None, None) => return Err(malformed(" needs label=… or version=…".to_owned())),
    };
    Ok(Reference { name, selector, shown })
}

/// A referenced version as the source found it.
#[derive(Debug, Clone)]
pub struct Referenced {
    /// Its version number.
    pub number: u32,
    /// Its template as spliced in; `None` for a chat prompt (which cannot be composed).
    pub text: Option<String>,
    /// The partials its template includes (the CLI renders them with the composing prompt).
    pub partials: PartialSet,
    /// Its declared variables, which the composing prompt then takes (its own declarations win).
    pub variables: BTreeMap<String, VariableSpec>,
}

impl Referenced {
    /// A stored version (its YAML `source` and `partials`) as a reference splices it in.
    pub fn from_stored(
        name: &PromptName,
        number: u32,
        source: String,
        partials: PartialSet,
    ) -> Result<Self, FetchError> {
        let origin = PathBuf::from(format!("{name}@{number}"));
        let loaded = LoadedPrompt::parse(name.clone(), origin, source, partials)
            .map_err(|err| FetchError::Unusable(format!("cannot be read as a prompt file: {err}")))?;
        let text = match (loaded.file.kind(), loaded.file.text()) {
            (super::PromptKind::Text, Some(text)) => Some(text.to_owned()),
            _ => None,
        };
        Ok(Self { number, text, partials: loaded.partials, variables: loaded.file.variables })
    }
}

/// Why a source could not give a referenced version.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No such prompt, label or version (or no access to it).
    #[error("{0}")]
    Missing(Box<dyn std::error::Error + Send + Sync>),
    /// It exists but cannot be spliced in (the source says why, as "a prompt that …").
    #[error("{0}")]
    Unusable(String),
}

/// Where referenced versions come from: the server's project registry, or the CLI's.
pub trait ReferenceSource: Sync {
    /// The version `selector` names of `name`.
    fn fetch<'a>(
        &'a self,
        name: &'a PromptName,
        selector: &'a Selector,
    ) -> BoxFuture<'a, Result<Referenced, FetchError>>;
}

/// Why a template cannot be composed, naming the reference.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// Not `name=…|label=…` or `name=…|version=N`.
    #[error("`{reference}`{why}")]
    Malformed {
        /// The reference as written.
        reference: String,
        /// What is wrong with it.
        why: String,
    },
    /// The referenced prompt, label or version does not exist.
    #[error("`{reference}` does not resolve: {source}")]
    Missing {
        /// The reference as written.
        reference: String,
        /// The source's error.
        source: FetchError,
    },
    /// The referenced version cannot be spliced in.
    #[error("`{reference}` points at a prompt that {why}")]
    Unusable {
        /// The reference as written.
        reference: String,
        /// Why.
        why: String,
    },
    /// The reference points at a chat prompt.
    #[error("`{reference}` points at a chat prompt; only text prompts can be composed")]
    Chat {
        /// The reference as written.
        reference: String,
    },
    /// The reference leads back to a prompt being composed.
    #[error("`{reference}` closes a cycle: {chain}")]
    Cycle {
        /// The reference as written.
        reference: String,
        /// `a → b → a`.
        chain: String,
    },
    /// References nest deeper than [`MAX_DEPTH`].
    #[error("references nest more than {MAX_DEPTH} deep at `{reference}`")]
    TooDeep {
        /// The reference as written.
        reference: String,
    },
}

impl ComposeError {
    /// The reference as written.
    pub fn reference(&self) -> &str {
        match self {
            Self::Malformed { reference, .. }
            | Self::Missing { reference, .. }
            | Self::Unusable { reference, .. }
            | Self::Chat { reference }
            | Self::Cycle { reference, .. }
            | Self::TooDeep { reference } => reference,
        }
    }

    fn hint(&self) -> String {
        match self {
            Self::Malformed { .. } => {
                "write it as @@@langfusePrompt:name=NAME|label=LABEL@@@ or @@@langfusePrompt:name=NAME|version=N@@@"
                    .to_owned()
            }
            Self::Missing { .. } => {
                "commit the referenced prompt and point the label at it (`promptops label`), or reference an existing version"
                    .to_owned()
            }
            Self::Unusable { .. } => "fix the referenced prompt, or reference another version".to_owned(),
            Self::Chat { .. } => "reference a text prompt (a single user message)".to_owned(),
            Self::Cycle { .. } => "remove the reference that leads back to a prompt already composing it".to_owned(),
            Self::TooDeep { .. } => format!("flatten the references to at most {MAX_DEPTH} levels"),
        }
    }
}

/// A reference that was resolved: `parent` (`None`: the composed prompt itself) to `name`
/// version `version`. The server builds Langfuse's `resolutionGraph` from these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The referencing version, `None` for the root.
    pub parent: Option<(PromptName, u32)>,
    /// The referenced prompt.
    pub name: PromptName,
    /// Its version.
    pub version: u32,
}

/// Composes templates against one source, collecting what was resolved.
pub struct Composer<'a> {
    source: &'a dyn ReferenceSource,
    /// Every resolved reference, in order.
    pub edges: Vec<Edge>,
    /// The partials of every referenced version.
    pub partials: PartialSet,
    /// The declared variables of every referenced version (the first declaration wins).
    pub variables: BTreeMap<String, VariableSpec>,
}

impl std::fmt::Debug for Composer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Composer")
    }
}

impl<'a> Composer<'a> {
    /// A composer over `source`.
    pub fn new(source: &'a dyn ReferenceSource) -> Self {
        Self { source, edges: Vec::new(), partials: PartialSet::new(), variables: BTreeMap::new() }
    }

    /// `text` of prompt `root` with every reference replaced.
    pub async fn compose(&mut self, text: &str, root: &PromptName) -> Result<String, ComposeError> {
        if !has_references(text) {
            return Ok(text.to_owned());
        }
        self.text(text.to_owned(), None, vec![root.clone()]).await
    }

    fn text(
        &mut self,
        text: String,
        parent: Option<(PromptName, u32)>,
        stack: Vec<PromptName>,
    ) -> BoxFuture<'_, Result<String, ComposeError>> {
        Box::pin(async move {
            let mut out = String::with_capacity(text.len());
            let mut rest = text.as_str();
            while let Some(found) = REFERENCE.captures(rest) {
                let whole = found.get(0).expect("invariant: group 0");
                let reference = parse(&found[1])?;
                if stack.contains(&reference.name) {
                    let chain: Vec<String> = stack.iter().map(ToString::to_string).collect();
                    let chain = format!("{} → {}", chain.join(" → "), reference.name);
                    return Err(ComposeError::Cycle { reference: reference.shown, chain });
                }
                if stack.len() > MAX_DEPTH {
                    return Err(ComposeError::TooDeep { reference: reference.shown });
                }
                let fetched = match self.source.fetch(&reference.name, &reference.selector).await {
                    Ok(fetched) => fetched,
                    Err(FetchError::Unusable(why)) => {
                        return Err(ComposeError::Unusable { reference: reference.shown, why });
                    }
                    Err(source) => return Err(ComposeError::Missing { reference: reference.shown, source }),
                };
                let Some(child) = fetched.text else {
                    return Err(ComposeError::Chat { reference: reference.shown });
                };
                for (include, partial) in fetched.partials {
                    self.partials.entry(include).or_insert(partial);
                }
                for (variable, spec) in fetched.variables {
                    self.variables.entry(variable).or_insert(spec);
                }
                self.edges.push(Edge { parent: parent.clone(), name: reference.name.clone(), version: fetched.number });
                let mut deeper = stack.clone();
                deeper.push(reference.name.clone());
                let child = self.text(child, Some((reference.name, fetched.number)), deeper).await?;
                out.push_str(&rest[..whole.start()]);
                out.push_str(&child);
                rest = &rest[whole.end()..];
            }
            out.push_str(rest);
            Ok(out)
        })
    }
}

/// A prompt file that cannot be composed: where (the reference in the file, or the file) and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", self.at())]
pub struct ComposePromptError {
    /// The prompt file (or `name@3`).
    pub origin: PathBuf,
    /// 1-based line and column of the reference in the file, when it is written there.
    pub position: Option<(usize, usize)>,
    /// What failed.
    pub source: ComposeError,
}

impl ComposePromptError {
    fn at(&self) -> String {
        match self.position {
            Some((line, col)) => format!("{}:{line}:{col}", self.origin.display()),
            None => self.origin.display().to_string(),
        }
    }
}

impl Diagnostic for ComposePromptError {
    fn class(&self) -> ErrorClass {
        match self.source {
            ComposeError::Missing { .. } => ErrorClass::Usage,
            _ => ErrorClass::Config,
        }
    }
    fn hints(&self) -> Vec<String> {
        let mut hints = vec![self.source.hint()];
        if self.position.is_none() {
            hints.push("the reference is inside a referenced prompt; the cycle or chain above names it".to_owned());
        }
        hints
    }
}

/// The step between load and render: `prompt` with the references in its messages replaced by
/// the referenced text prompts, whose partials and declared variables join its own. A prompt without references is
/// left as it is (and nothing is fetched).
pub async fn compose_prompt(
    mut prompt: LoadedPrompt,
    source: &dyn ReferenceSource,
) -> Result<LoadedPrompt, ComposePromptError> {
    let mut composer = Composer::new(source);
    for message in &mut prompt.file.messages {
        let texts: Vec<&mut String> = match &mut message.content {
            Content::Text(text) => vec![text],
            Content::Parts(parts) => parts
                .iter_mut()
                .filter_map(|part| match part {
                    super::Part::Text(text) => Some(text),
                    super::Part::Image(_) => None,
                })
                .collect(),
        };
        for text in texts {
            if !has_references(text) {
                continue;
            }
            *text = composer.compose(text, &prompt.name).await.map_err(|source| {
                let position = locate(prompt.source.text(), source.reference());
                ComposePromptError { origin: prompt.origin.clone(), position, source }
            })?;
        }
    }
    for (include, partial) in composer.partials {
        prompt.partials.entry(include).or_insert(partial);
    }
    for (variable, spec) in composer.variables {
        prompt.file.variables.entry(variable).or_insert(spec);
    }
    Ok(prompt)
}

/// 1-based line and column (in characters) of `needle` in `text`.
fn locate(text: &str, needle: &str) -> Option<(usize, usize)> {
    let at = text.find(needle)?;
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    Some((line, col))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prompts by name: `(version, text or None for chat)`, served for any selector but
    /// `label=missing`.
    struct Fixed(BTreeMap<&'static str, (u32, Option<&'static str>)>);

    impl ReferenceSource for Fixed {
        fn fetch<'a>(
            &'a self,
            name: &'a PromptName,
            selector: &'a Selector,
        ) -> BoxFuture<'a, Result<Referenced, FetchError>> {
            Box::pin(async move {
                let found = self.0.get(name.as_str()).filter(|_| *selector != Selector::Named("missing".to_owned()));
                let (number, text) = found.ok_or_else(|| FetchError::Missing(format!("no `{name}`").into()))?;
                Ok(Referenced {
                    number: *number,
                    text: text.map(str::to_owned),
                    partials: PartialSet::new(),
                    variables: BTreeMap::new(),
                })
            })
        }
    }

    fn name(text: &str) -> PromptName {
        PromptName::new(text).expect("valid name")
    }

    async fn compose(source: &Fixed, text: &str) -> Result<(String, Vec<Edge>), ComposeError> {
        let mut composer = Composer::new(source);
        let out = composer.compose(text, &name("root")).await?;
        Ok((out, composer.edges))
    }

    #[tokio::test]
    async fn references_are_replaced_recursively_and_recorded() {
        let source = Fixed(BTreeMap::from([
            ("outer", (3, Some("[@@@langfusePrompt:name=inner|version=1@@@]"))),
            ("inner", (1, Some("core {{ x }}"))),
        ]));
        let (text, edges) =
            compose(&source, "a @@@langfusePrompt:name=outer|label=production@@@ b").await.expect("composes");
        assert_eq!(text, "a [core {{ x }}] b");
        assert_eq!(
            edges,
            vec![
                Edge { parent: None, name: name("outer"), version: 3 },
                Edge { parent: Some((name("outer"), 3)), name: name("inner"), version: 1 },
            ]
        );
    }

    #[tokio::test]
    async fn a_cycle_is_refused_with_its_chain() {
        let source = Fixed(BTreeMap::from([
            ("a", (1, Some("@@@langfusePrompt:name=b|version=1@@@"))),
            ("b", (1, Some("@@@langfusePrompt:name=a|version=1@@@"))),
        ]));
        let err = compose(&source, "@@@langfusePrompt:name=a|version=1@@@").await.expect_err("cycle");
        assert!(matches!(err, ComposeError::Cycle { .. }), "{err}");
        assert_eq!(err.to_string(), "`@@@langfusePrompt:name=a|version=1@@@` closes a cycle: root → a → b → a");
    }

    #[tokio::test]
    async fn a_missing_reference_and_a_chat_target_are_refused() {
        let source = Fixed(BTreeMap::from([("chat", (2, None))]));
        let err = compose(&source, "x @@@langfusePrompt:name=gone|label=production@@@").await.expect_err("missing");
        assert_eq!(err.to_string(), "`@@@langfusePrompt:name=gone|label=production@@@` does not resolve: no `gone`");
        let err = compose(&source, "@@@langfusePrompt:name=chat|version=2@@@").await.expect_err("chat");
        assert!(matches!(err, ComposeError::Chat { .. }), "{err}");
        let err = compose(&source, "@@@langfusePrompt:name=chat@@@").await.expect_err("malformed");
        assert_eq!(err.to_string(), "`@@@langfusePrompt:name=chat@@@` needs label=… or version=…");
    }

    #[tokio::test]
    async fn nesting_deeper_than_the_bound_is_refused() {
        let names: Vec<&'static str> = (0..=MAX_DEPTH + 1).map(|i| &*format!("p{i}").leak()).collect();
        let mut prompts = BTreeMap::new();
        for pair in names.windows(2) {
            let text = format!("@@@langfusePrompt:name={}|version=1@@@", pair[1]).leak();
            prompts.insert(pair[0], (1, Some(&*text)));
        }
        prompts.insert(names[MAX_DEPTH + 1], (1, Some("leaf")));
        let source = Fixed(prompts);
        let err = compose(&source, "@@@langfusePrompt:name=p0|version=1@@@").await.expect_err("too deep");
        assert!(matches!(err, ComposeError::TooDeep { .. }), "{err}");
        // One level less composes.
        let (text, _) = compose(&source, "@@@langfusePrompt:name=p2|version=1@@@").await.expect("within the bound");
        assert_eq!(text, "leaf");
    }

    #[tokio::test]
    async fn a_prompt_file_is_composed_or_refused_at_its_reference() {
        struct Persona;
        impl ReferenceSource for Persona {
            fn fetch<'a>(
                &'a self,
                n: &'a PromptName,
                _: &'a Selector,
            ) -> BoxFuture<'a, Result<Referenced, FetchError>> {
                let source =
                    "variables:\n  tone: { type: string }\nmessages:\n  - role: user\n    content: 'Be {{ tone }}.'\n";
                Box::pin(async move { Referenced::from_stored(n, 4, source.to_owned(), PartialSet::new()) })
            }
        }
        let parse = |text: &str| {
            LoadedPrompt::parse(name("root"), PathBuf::from("prompts/root.yaml"), text.to_owned(), PartialSet::new())
                .expect("valid prompt")
        };
        let ok = parse("messages:\n  - role: user\n    content: '@@@langfusePrompt:name=persona|version=4@@@ Go.'\n");
        let composed = compose_prompt(ok, &Persona).await.expect("composes");
        assert_eq!(composed.file.text(), Some("Be {{ tone }}. Go."));
        assert!(composed.file.variables.contains_key("tone"), "the referenced prompt's variables join");
        let cycle = parse("messages:\n  - role: user\n    content: 'x @@@langfusePrompt:name=root|version=1@@@'\n");
        let err = compose_prompt(cycle, &Persona).await.expect_err("cycle");
        assert!(err.to_string().starts_with("prompts/root.yaml:3:17: `@@@langfusePrompt:name=root"), "{err}");
        assert!(err.hints()[0].contains("remove the reference"), "{:?}", err.hints());
    }

    #[test]
    fn a_reference_is_located_by_line_and_column() {
        assert_eq!(locate("a: 1\nb: x @@@r@@@\n", "@@@r@@@"), Some((2, 6)));
        assert_eq!(locate("a", "@@@r@@@"), None);
    }
}
