//! asrs-emulator's .NET-style environment configuration of the upstream settings, e.g.
//! `UpstreamSettings__Templates__0__UrlTemplate=http://host/api` and
//! `UpstreamSettings__Templates__0__EventPattern=*`. As .NET's configuration builder does, the
//! variables are laid over settings.json key by key (`__` or `:` separates the levels, keys
//! compare case-insensitively, numeric keys are array indices), so a variable can change one
//! field of a template from the file or add templates when there is no file.

use serde_json::{Map, Value};

/// The section every variable must start with to be read.
const SECTION: &str = "UpstreamSettings";

/// The `UpstreamSettings…` variables of the environment, split into their key paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvSettings {
    entries: Vec<(Vec<String>, String)>,
}

impl EnvSettings {
    /// The variables among `vars` whose name starts with the `UpstreamSettings` section, in
    /// name order (so the result does not depend on the environment's order).
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut entries: Vec<(Vec<String>, String)> = vars
            .into_iter()
            .filter_map(|(name, value)| {
                let path: Vec<String> = name
                    .replace("__", ":")
                    .split(':')
                    .map(str::to_owned)
                    .collect();
                let in_section = path.len() > 1 && path[0].eq_ignore_ascii_case(SECTION);
                (in_section && path.iter().all(|key| !key.is_empty())).then_some((path, value))
            })
            .collect();
        entries.sort();
        EnvSettings { entries }
    }

    /// No variable configures the upstream.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Lays the variables over `root`, a parsed settings document.
    pub fn apply(&self, root: Value) -> Value {
        if self.is_empty() {
            return root;
        }
        let mut keyed = to_keyed(root);
        for (path, value) in &self.entries {
            set(&mut keyed, path, value);
        }
        from_keyed(keyed)
    }
}

/// Arrays become objects keyed by index, the shape .NET configuration sees them in.
fn to_keyed(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Object(
            items
                .into_iter()
                .enumerate()
                .map(|(index, item)| (index.to_string(), to_keyed(item)))
                .collect(),
        ),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, to_keyed(v))).collect())
        }
        other => other,
    }
}

/// Objects whose keys are all indices become arrays again, ordered by index, as the .NET binder
/// fills a list.
fn from_keyed(value: Value) -> Value {
    match value {
        Value::Object(map) if !map.is_empty() && map.keys().all(|k| k.parse::<usize>().is_ok()) => {
            let mut items: Vec<(usize, Value)> = map
                .into_iter()
                .filter_map(|(k, v)| Some((k.parse().ok()?, from_keyed(v))))
                .collect();
            items.sort_by_key(|(index, _)| *index);
            Value::Array(items.into_iter().map(|(_, v)| v).collect())
        }
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, from_keyed(v))).collect())
        }
        other => other,
    }
}

/// Sets `path` to `value`, creating objects on the way and replacing non-objects in it.
fn set(node: &mut Value, path: &[String], value: &str) {
    let Some((key, rest)) = path.split_first() else {
        *node = Value::String(value.to_owned());
        return;
    };
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    let Value::Object(map) = node else { return };
    let existing = map
        .keys()
        .find(|name| name.eq_ignore_ascii_case(key))
        .cloned()
        .unwrap_or_else(|| key.clone());
    set(map.entry(existing).or_insert(Value::Null), rest, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(vars: &[(&str, &str)]) -> EnvSettings {
        EnvSettings::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn variables_build_templates_without_a_file() {
        let env = env(&[
            (
                "UpstreamSettings__Templates__1__UrlTemplate",
                "http://b/{hub}",
            ),
            (
                "UpstreamSettings__Templates__0__UrlTemplate",
                "http://a/{event}",
            ),
            ("UpstreamSettings__Templates__0__EventPattern", "connected"),
            ("PATH", "/usr/bin"),
            ("SIGNALR_EMULATOR_PORT", "1"),
        ]);
        assert_eq!(
            env.apply(json!({})),
            json!({"UpstreamSettings": {"Templates": [
                {"UrlTemplate": "http://a/{event}", "EventPattern": "connected"},
                {"UrlTemplate": "http://b/{hub}"}
            ]}})
        );
    }

    #[test]
    fn variables_override_the_file_key_by_key_case_insensitively() {
        let env = env(&[
            ("upstreamsettings:templates:0:hubpattern", "news"),
            ("UpstreamSettings__Templates__2__UrlTemplate", "http://c"),
        ]);
        let file = json!({"UpstreamSettings": {"Templates": [
            {"UrlTemplate": "http://a", "HubPattern": "chat"},
            {"UrlTemplate": "http://b"}
        ]}});
        assert_eq!(
            env.apply(file),
            json!({"UpstreamSettings": {"Templates": [
                {"UrlTemplate": "http://a", "HubPattern": "news"},
                {"UrlTemplate": "http://b"},
                {"UrlTemplate": "http://c"}
            ]}})
        );
    }

    #[test]
    fn no_variables_leave_the_document_alone() {
        let env = env(&[
            ("UpstreamSettings", "x"),
            ("Other__Templates__0__UrlTemplate", "y"),
        ]);
        assert!(env.is_empty());
        assert_eq!(env.apply(json!({"a": [1]})), json!({"a": [1]}));
    }
}
