//! The official `settings.json` (`UpstreamSettings.Templates`), read the way .NET's
//! configuration binder reads it: keys case-insensitive, comments and trailing commas allowed,
//! a missing pattern means `*` and an explicit `null` means "never". Errors name the file and
//! the setting that is wrong.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::env_settings::EnvSettings;
use super::jsonc;
use super::template::{Pattern, Template};

/// What `upstream init` writes: every event of every hub to a local Azure Functions host.
pub const DEFAULT_SETTINGS: &str = r#"{
  "UpstreamSettings": {
    "Templates": [
      {
        "UrlTemplate": "http://localhost:7071/runtime/webhooks/signalr",
        "EventPattern": "*",
        "HubPattern": "*",
        "CategoryPattern": "*"
      }
    ]
  }
}
"#;

/// Largest settings file read; anything bigger is certainly not a settings file.
const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// A settings file that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The file.
    pub file: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid upstream settings file '{}': {}",
            self.file.display(),
            self.reason
        )
    }
}

impl std::error::Error for SettingsError {}

/// Reads `file` (at most 1 MB).
pub fn read(file: &Path) -> Result<Vec<u8>, SettingsError> {
    let error = |reason: String| SettingsError {
        file: file.to_owned(),
        reason,
    };
    let opened =
        std::fs::File::open(file).map_err(|err| error(format!("cannot open it: {err}")))?;
    let mut bytes = Vec::new();
    opened
        .take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| error(format!("cannot read it: {err}")))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(error(format!(
            "it is larger than {MAX_FILE_SIZE} bytes; is it really a settings.json?"
        )));
    }
    Ok(bytes)
}

/// Reads and parses `file`, with the environment's settings laid over it.
pub fn load(file: &Path, env: &EnvSettings) -> Result<(Vec<Template>, Vec<u8>), SettingsError> {
    let bytes = read(file)?;
    let templates = parse(&bytes, env).map_err(|reason| SettingsError {
        file: file.to_owned(),
        reason,
    })?;
    Ok((templates, bytes))
}

/// The templates in a settings document with the environment's settings laid over it, in
/// order. No `UpstreamSettings` or no `Templates` means no templates, as in the official
/// emulator.
pub fn parse(bytes: &[u8], env: &EnvSettings) -> Result<Vec<Template>, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|err| format!("it is not UTF-8 text ({err})"))?
        .trim_start_matches('\u{feff}');
    let root: Value = serde_json::from_str(&jsonc::to_json(text))
        .map_err(|err| format!("it is not valid JSON: {err}"))?;
    templates(env.apply(root))
}

/// The templates of the environment's settings alone (no settings file).
pub fn from_env(env: &EnvSettings) -> Result<Vec<Template>, String> {
    templates(env.apply(Value::Object(Map::new())))
        .map_err(|why| format!("in the UpstreamSettings__… environment variables: {why}"))
}

/// The templates of a parsed settings document.
fn templates(root: Value) -> Result<Vec<Template>, String> {
    let Value::Object(root) = root else {
        return Err("the top level must be a JSON object".into());
    };
    let section = match get(&root, "UpstreamSettings") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(section)) => section,
        Some(_) => return Err("UpstreamSettings must be an object".into()),
    };
    let items = match get(section, "Templates") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("UpstreamSettings.Templates must be an array".into()),
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            template(item).map_err(|why| format!("UpstreamSettings.Templates[{index}]: {why}"))
        })
        .collect()
}

/// One template object.
fn template(item: &Value) -> Result<Template, String> {
    let Value::Object(item) = item else {
        return Err("each template must be an object".into());
    };
    let url = match get(item, "UrlTemplate") {
        Some(Value::String(url)) if !url.trim().is_empty() => url,
        None | Some(Value::Null) | Some(Value::String(_)) => {
            return Err(
                "UrlTemplate is missing or empty (e.g. \"http://localhost:7071/runtime/webhooks/signalr\")"
                    .into(),
            );
        }
        Some(_) => return Err("UrlTemplate must be a string".into()),
    };
    Template::new(
        url,
        pattern(item, "HubPattern")?,
        pattern(item, "CategoryPattern")?,
        pattern(item, "EventPattern")?,
    )
}

/// A pattern setting; scalars count as their text, as the binder converts them.
fn pattern(item: &Map<String, Value>, key: &str) -> Result<Pattern, String> {
    match get(item, key) {
        None => Ok(Pattern::any()),
        Some(Value::Null) => Ok(Pattern::Never),
        Some(Value::String(text)) => Ok(Pattern::parse(text)),
        Some(scalar @ (Value::Number(_) | Value::Bool(_))) => {
            Ok(Pattern::parse(&scalar.to_string()))
        }
        Some(_) => Err(format!(
            "{key} must be a string such as \"*\" or \"chat,news\""
        )),
    }
}

/// The value of `key`, compared case-insensitively as .NET configuration keys are.
fn get<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object
        .iter()
        .rev()
        .find(|(name, _)| name.eq_ignore_ascii_case(key))
        .map(|(_, value)| value)
}

/// The `upstream list` lines: `\t[i]<template>` each, or the hint that there are none.
pub fn describe(templates: &[Template]) -> String {
    if templates.is_empty() {
        return "No upstream is set yet. Use 'upstream init' to create default upstreams.".into();
    }
    let mut text = String::from("Current Upstream Settings:");
    for (index, template) in templates.iter().enumerate() {
        text.push_str(&format!("\n\t[{index}]{template}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Vec<Template>, String> {
        parse(text.as_bytes(), &EnvSettings::default())
    }

    #[test]
    fn the_default_file_is_one_catch_all_template() {
        let templates = parse_str(DEFAULT_SETTINGS).unwrap();
        assert_eq!(
            templates,
            vec![Template::catch_all("http://localhost:7071/runtime/webhooks/signalr").unwrap()]
        );
    }

    #[test]
    fn keys_are_case_insensitive_and_comments_allowed() {
        let templates = parse_str(
            r#"{ // .NET allows comments
              "upstreamsettings": { "TEMPLATES": [
                { "urltemplate": "http://a/{event}", "hubpattern": "chat", "eventPATTERN": "x, y", },
              ] } }"#,
        )
        .unwrap();
        assert_eq!(templates.len(), 1);
        assert!(templates[0].matches("chat", "messages", "y"));
        assert!(!templates[0].matches("chat", "messages", "z"));
        assert!(!templates[0].matches("other", "messages", "x"));
    }

    #[test]
    fn missing_patterns_are_star_and_null_never_matches() {
        let templates = parse_str(
            r#"{"UpstreamSettings":{"Templates":[
                {"UrlTemplate":"http://a/1","CategoryPattern":null},
                {"UrlTemplate":"http://a/2"}]}}"#,
        )
        .unwrap();
        assert!(!templates[0].matches("h", "messages", "e"));
        assert!(templates[1].matches("h", "messages", "e"));
    }

    #[test]
    fn no_section_means_no_templates() {
        assert!(parse_str("{}").unwrap().is_empty());
        assert!(parse_str(r#"{"UpstreamSettings":{}}"#).unwrap().is_empty());
        assert!(
            parse_str(r#"{"Logging":{},"UpstreamSettings":{"Templates":null}}"#)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn errors_name_the_setting() {
        let cases = [
            ("{", "not valid JSON"),
            ("[]", "top level must be a JSON object"),
            (
                r#"{"UpstreamSettings":[]}"#,
                "UpstreamSettings must be an object",
            ),
            (
                r#"{"UpstreamSettings":{"Templates":{}}}"#,
                "Templates must be an array",
            ),
            (
                r#"{"UpstreamSettings":{"Templates":[{"UrlTemplate":"http://a"},{}]}}"#,
                "Templates[1]: UrlTemplate is missing",
            ),
            (
                r#"{"UpstreamSettings":{"Templates":[{"UrlTemplate":"api/x"}]}}"#,
                "Templates[0]: UrlTemplate 'api/x' is not an absolute http URL",
            ),
            (
                r#"{"UpstreamSettings":{"Templates":[{"UrlTemplate":"http://a","HubPattern":["x"]}]}}"#,
                "Templates[0]: HubPattern must be a string",
            ),
        ];
        for (text, expected) in cases {
            let err = parse_str(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn load_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.json");
        let err = load(&file, &EnvSettings::default()).unwrap_err();
        assert!(
            err.to_string().contains("settings.json': cannot open it"),
            "{err}"
        );
        std::fs::write(&file, "{\"UpstreamSettings\": 1}").unwrap();
        let err = load(&file, &EnvSettings::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid upstream settings file '"), "{err}");
        assert!(err.ends_with("UpstreamSettings must be an object"), "{err}");
    }

    #[test]
    fn describe_matches_upstream_list() {
        let templates = parse_str(DEFAULT_SETTINGS).unwrap();
        assert_eq!(
            describe(&templates),
            "Current Upstream Settings:\n\t[0]http://localhost:7071/runtime/webhooks/signalr(event:'*',hub:'*',category:'*')"
        );
        assert!(describe(&[]).starts_with("No upstream is set yet."));
    }
}
