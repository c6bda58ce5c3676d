//! The `remotes:` block of promptops.yaml: looking a remote up by name, and adding or removing
//! one. Edits replace only that block's lines, so comments and layout elsewhere in the file
//! survive; the result is parsed before it is written (atomically), so a bad edit never lands.

use std::collections::BTreeMap;

use crate::config::{Project, RemoteConfig};
use crate::fsutil::write_atomic;

use super::RemoteError;

/// A remote resolved by name: where it is and which project on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// Its name in promptops.yaml.
    pub name: String,
    /// The server's base URL.
    pub url: reqwest::Url,
    /// The project on the server.
    pub project: String,
}

/// The remote `name` of `project`.
pub fn find(project: &Project, name: &str) -> Result<Remote, RemoteError> {
    let Some(config) = project.config.remotes.get(name) else {
        return Err(RemoteError::UnknownRemote {
            name: name.to_owned(),
            known: project.config.remotes.keys().cloned().collect(),
        });
    };
    let bad = |problem: String| RemoteError::BadRemote { name: name.to_owned(), problem };
    let url = parse_url(&config.url).map_err(bad)?;
    let project = config.project.clone().ok_or_else(|| bad("no `project:` set".to_owned()))?;
    Ok(Remote { name: name.to_owned(), url, project })
}

/// Checks a server URL: absolute, `http` or `https`.
pub fn parse_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|err| format!("`{text}` is not a URL ({err})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("`{text}` is not an http(s) URL with a host"));
    }
    Ok(url)
}

/// Adds (or replaces) remote `name` in promptops.yaml.
pub fn add(project: &Project, name: &str, config: RemoteConfig) -> Result<(), RemoteError> {
    let bad = |problem: String| RemoteError::BadRemote { name: name.to_owned(), problem };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(bad("names are letters, digits, `-` and `_`".to_owned()));
    }
    parse_url(&config.url).map_err(bad)?;
    let mut remotes = project.config.remotes.clone();
    remotes.insert(name.to_owned(), config);
    rewrite(project, &remotes)
}

/// Makes `name` the default remote (and no other).
pub fn set_default(project: &Project, name: &str) -> Result<(), RemoteError> {
    find(project, name)?;
    let mut remotes = project.config.remotes.clone();
    for (other, remote) in &mut remotes {
        remote.default = other == name;
    }
    rewrite(project, &remotes)
}

/// Removes remote `name`; returns whether it was there.
pub fn remove(project: &Project, name: &str) -> Result<bool, RemoteError> {
    let mut remotes = project.config.remotes.clone();
    if remotes.remove(name).is_none() {
        return Ok(false);
    }
    rewrite(project, &remotes)?;
    Ok(true)
}

fn rewrite(project: &Project, remotes: &BTreeMap<String, RemoteConfig>) -> Result<(), RemoteError> {
    let path = project.config_path();
    let text = std::fs::read_to_string(&path).map_err(|source| RemoteError::Write { path: path.clone(), source })?;
    let edited = replace_block(&text, &render(remotes));
    Project::parse(&path, &edited)?;
    write_atomic(&path, edited.as_bytes()).map_err(|source| RemoteError::Write { path, source })
}

/// The `remotes:` block for `remotes` (empty when there are none). Values are JSON strings,
/// which YAML reads as double-quoted scalars.
fn render(remotes: &BTreeMap<String, RemoteConfig>) -> String {
    if remotes.is_empty() {
        return String::new();
    }
    let quote = |text: &str| serde_json::Value::from(text).to_string();
    let mut block = "remotes:\n".to_owned();
    for (name, remote) in remotes {
        let mut fields = vec![format!("url: {}", quote(&remote.url))];
        fields.extend(remote.project.as_deref().map(|p| format!("project: {}", quote(p))));
        fields.extend(remote.tenant.as_deref().map(|t| format!("tenant: {}", quote(t))));
        fields.extend(remote.default.then(|| "default: true".to_owned()));
        block.push_str(&format!("  {name}: {{ {} }}\n", fields.join(", ")));
    }
    block
}

/// `text` with its top-level `remotes:` block (the key line and the indented lines under it)
/// replaced by `block`, or `block` appended when there is none.
fn replace_block(text: &str, block: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("remotes:")) else {
        let separator = if text.is_empty() || text.ends_with('\n') { "" } else { "\n" };
        return format!("{text}{separator}{block}");
    };
    let mut end = start + 1;
    while end < lines.len() && is_nested(lines[end]) {
        end += 1;
    }
    // Blank lines at the end of the block belong to what follows.
    while end > start + 1 && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    format!("{}{block}{}", lines[..start].concat(), lines[end..].concat())
}

fn is_nested(line: &str) -> bool {
    line.trim().is_empty() || line.starts_with(' ') || line.starts_with('\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(url: &str, project: &str) -> RemoteConfig {
        RemoteConfig { url: url.to_owned(), project: Some(project.to_owned()), tenant: None, default: false }
    }

    #[test]
    fn a_new_block_is_appended_and_the_rest_is_kept() {
        let text = "# keep me\nname: demo\n";
        let block = render(&BTreeMap::from([("prod".to_owned(), remote("https://p.example", "support"))]));
        assert_eq!(
            replace_block(text, &block),
            "# keep me\nname: demo\nremotes:\n  prod: { url: \"https://p.example\", project: \"support\" }\n"
        );
    }

    #[test]
    fn an_existing_block_is_replaced_in_place_with_comments_around_it_kept() {
        let text = "name: demo\nremotes:\n  old: { url: http://x }\n  # note\n\n# after\nlabels: {}\n";
        assert_eq!(
            replace_block(text, "remotes:\n  new: {}\n"),
            "name: demo\nremotes:\n  new: {}\n\n# after\nlabels: {}\n"
        );
    }

    #[test]
    fn removing_the_last_remote_removes_the_block() {
        assert_eq!(replace_block("remotes: {}\nname: demo\n", &render(&BTreeMap::new())), "name: demo\n");
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(parse_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_url("ftp://example.com").is_err());
        assert!(parse_url("example.com").is_err());
    }
}
