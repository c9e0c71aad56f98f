//! Validation of the names REST callers and clients use: hub, application, group, user and
//! connection id. Each failure names the parameter and the rule it broke, so it can become a 400.

/// Longest group or user name Azure accepts.
pub const MAX_NAME_LEN: usize = 1024;

/// A name that breaks its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid {parameter} '{value}'. {rule}")]
pub struct InvalidName {
    /// The parameter that was wrong (`hub`, `group`, ...).
    pub parameter: &'static str,
    /// The value received (truncated for display).
    pub value: String,
    /// The rule, in words.
    pub rule: &'static str,
}

fn invalid(parameter: &'static str, value: &str, rule: &'static str) -> InvalidName {
    let value = if value.chars().count() > 64 {
        format!("{}…", value.chars().take(64).collect::<String>())
    } else {
        value.to_owned()
    };
    InvalidName {
        parameter,
        value,
        rule,
    }
}

const HUB_RULE: &str = "It must be 1 to 128 characters long, start with a letter, and contain only letters, digits and the symbols _`,.[] (regex ^[A-Za-z][A-Za-z0-9_`,.[\\]]{0,127}$).";

fn is_hub_like(value: &str) -> bool {
    let mut chars = value.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && value.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || "_`,.[]".contains(c))
}

/// Checks a hub name and an optional application name, and returns the internal hub name:
/// lowercased, prefixed with `application_` when an application is given.
pub fn internal_hub_name(hub: &str, application: Option<&str>) -> Result<String, InvalidName> {
    if !is_hub_like(hub) {
        return Err(invalid("hub", hub, HUB_RULE));
    }
    match application.filter(|a| !a.is_empty()) {
        None => Ok(hub.to_ascii_lowercase()),
        Some(app) if is_hub_like(app) => Ok(format!(
            "{}_{}",
            app.to_ascii_lowercase(),
            hub.to_ascii_lowercase()
        )),
        Some(app) => Err(invalid("application", app, HUB_RULE)),
    }
}

/// Checks a group name: 1 to 1024 characters, not only white space.
pub fn check_group(group: &str) -> Result<(), InvalidName> {
    check_text("group", group)
}

/// Checks a user id: 1 to 1024 characters, not only white space.
pub fn check_user(user: &str) -> Result<(), InvalidName> {
    check_text("user", user)
}

/// Checks a connection id: not empty, at most 1024 characters.
pub fn check_connection_id(id: &str) -> Result<(), InvalidName> {
    if id.is_empty() || id.chars().count() > MAX_NAME_LEN {
        return Err(invalid(
            "connectionId",
            id,
            "It must be 1 to 1024 characters long.",
        ));
    }
    Ok(())
}

fn check_text(parameter: &'static str, value: &str) -> Result<(), InvalidName> {
    if value.is_empty() || value.chars().count() > MAX_NAME_LEN || value.trim().is_empty() {
        return Err(invalid(
            parameter,
            value,
            "It must be 1 to 1024 characters long and not only white space.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_names_are_lowercased_and_prefixed() {
        assert_eq!(internal_hub_name("Chat", None).unwrap(), "chat");
        assert_eq!(
            internal_hub_name("Chat", Some("App1")).unwrap(),
            "app1_chat"
        );
        assert_eq!(
            internal_hub_name("a.b[c]_d`e,f", None).unwrap(),
            "a.b[c]_d`e,f"
        );
    }

    #[test]
    fn bad_hub_names_name_the_rule() {
        for bad in ["", "1chat", "chat room", "chat/x", &"a".repeat(129)] {
            let err = internal_hub_name(bad, None).unwrap_err();
            assert_eq!(err.parameter, "hub");
            assert!(err.to_string().contains("start with a letter"));
        }
        assert_eq!(
            internal_hub_name("chat", Some("9app"))
                .unwrap_err()
                .parameter,
            "application"
        );
    }

    #[test]
    fn groups_and_users_need_visible_text() {
        assert!(check_group("g 1").is_ok());
        assert!(check_group("   ").is_err());
        assert!(check_group("").is_err());
        assert!(check_group(&"g".repeat(1025)).is_err());
        assert!(check_user("alice").is_ok());
        assert!(check_connection_id("").is_err());
    }
}
