//! One upstream template: the hub, category and event patterns that select it, and the URL
//! template it renders into the address of a call.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Url;

/// What `Uri.EscapeDataString` leaves alone: the RFC 3986 unreserved characters.
const ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The placeholders a URL template may hold, lowercase as the official emulator requires.
const PLACEHOLDERS: [&str; 3] = ["hub", "category", "event"];

/// Which hubs, categories or events a template applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// The setting was an explicit `null`: nothing matches.
    Never,
    /// `*`, one exact value, or a comma-separated list (items trimmed, compared case-sensitively).
    Values {
        /// The setting as written, for display.
        source: String,
        /// The trimmed items.
        items: Vec<String>,
    },
}

impl Pattern {
    /// `*`: matches everything (the value of a missing setting).
    pub fn any() -> Self {
        Self::parse("*")
    }

    /// Parses `*`, `value` or `a, b, c`.
    pub fn parse(source: &str) -> Self {
        Pattern::Values {
            source: source.to_owned(),
            items: source
                .split(',')
                .map(|item| item.trim().to_owned())
                .collect(),
        }
    }

    /// Whether `value` is selected.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Never => false,
            Pattern::Values { items, .. } => items.iter().any(|item| item == "*" || item == value),
        }
    }
}

impl fmt::Display for Pattern {
    /// `'<as written>'`, or `null`, as `upstream list` shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Never => f.write_str("null"),
            Pattern::Values { source, .. } => write!(f, "'{source}'"),
        }
    }
}

/// A validated template: its URL renders to an absolute http or https URL for any event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    url: String,
    hub: Pattern,
    category: Pattern,
    event: Pattern,
}

impl Template {
    /// Checks `url` (known placeholders only; absolute `http://` or `https://` once rendered).
    /// The error says what is wrong.
    pub fn new(url: &str, hub: Pattern, category: Pattern, event: Pattern) -> Result<Self, String> {
        let template = Template {
            url: url.trim().to_owned(),
            hub,
            category,
            event,
        };
        template.render("hub", "category", "event")?;
        Ok(template)
    }

    /// A template for every hub, category and event (what `--upstream URL` adds).
    pub fn catch_all(url: &str) -> Result<Self, String> {
        Self::new(url, Pattern::any(), Pattern::any(), Pattern::any())
    }

    /// The URL template as written.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether all three patterns select this event.
    pub fn matches(&self, hub: &str, category: &str, event: &str) -> bool {
        self.hub.matches(hub) && self.category.matches(category) && self.event.matches(event)
    }

    /// The URL for one event: placeholders replaced by the URL-escaped values.
    pub fn render(&self, hub: &str, category: &str, event: &str) -> Result<Url, String> {
        let mut rendered = String::with_capacity(self.url.len() + hub.len() + event.len());
        let mut rest = self.url.as_str();
        while let Some(open) = rest.find('{') {
            rendered.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(format!(
                    "UrlTemplate '{}' has a '{{' without a closing '}}'",
                    self.url
                ));
            };
            let name = &after[..close];
            let value = match name {
                "hub" => hub,
                "category" => category,
                "event" => event,
                _ => {
                    return Err(format!(
                        "UrlTemplate '{}' has an unknown placeholder '{{{name}}}': only {} are replaced",
                        self.url,
                        PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                    ));
                }
            };
            rendered.extend(utf8_percent_encode(value, ESCAPE));
            rest = &after[close + 1..];
        }
        rendered.push_str(rest);
        let not_absolute = || {
            format!(
                "UrlTemplate '{}' is not an absolute http URL (http:// or https://, e.g. http://localhost:7071/runtime/webhooks/signalr)",
                self.url
            )
        };
        let url = Url::parse(&rendered).map_err(|_| not_absolute())?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(not_absolute());
        }
        Ok(url)
    }
}

impl fmt::Display for Template {
    /// `<UrlTemplate>(event:'<E>',hub:'<H>',category:'<C>')`, the asrs-emulator listing form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}(event:{},hub:{},category:{})",
            self.url, self.event, self.hub, self.category
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_star_exact_or_trimmed_lists_and_case_sensitive() {
        assert!(Pattern::any().matches("anything"));
        let list = Pattern::parse(" chat , news,*x ");
        assert!(list.matches("chat"));
        assert!(list.matches("news"));
        assert!(list.matches("*x"));
        assert!(!list.matches("Chat"));
        assert!(!list.matches("x"));
        assert!(Pattern::parse("a, *").matches("zzz"));
        assert!(!Pattern::Never.matches(""));
        assert!(!Pattern::parse("").matches("a"));
    }

    #[test]
    fn all_three_patterns_must_match() {
        let t = Template::new(
            "http://h/x",
            Pattern::parse("chat"),
            Pattern::parse("messages"),
            Pattern::any(),
        )
        .unwrap();
        assert!(t.matches("chat", "messages", "send"));
        assert!(!t.matches("chat", "connections", "connected"));
        assert!(!t.matches("other", "messages", "send"));
    }

    #[test]
    fn placeholders_are_replaced_escaped_like_escape_data_string() {
        let t = Template::catch_all("http://localhost:7071/api/{hub}/{category}/{event}?h={hub}")
            .unwrap();
        let url = t.render("app_chat", "messages", "a b/c?d&é~.-_").unwrap();
        assert_eq!(
            url.as_str(),
            "http://localhost:7071/api/app_chat/messages/a%20b%2Fc%3Fd%26%C3%A9~.-_?h=app_chat"
        );
    }

    #[test]
    fn only_absolute_http_and_https_urls_are_accepted() {
        for bad in [
            "/runtime/webhooks/signalr",
            "localhost:7071/api",
            "ftp://host/x",
            "{hub}",
            "http://",
            "",
        ] {
            let err = Template::catch_all(bad).unwrap_err();
            assert!(err.contains("not an absolute http URL"), "{bad}: {err}");
        }
        assert!(Template::catch_all("http://{hub}.example.com/api?code=k").is_ok());
        let url = Template::catch_all("https://app.azurewebsites.net/runtime/webhooks/signalr")
            .unwrap()
            .render("chat", "messages", "send")
            .unwrap();
        assert_eq!(url.scheme(), "https");
    }

    #[test]
    fn unknown_placeholders_are_named() {
        let err = Template::catch_all("http://h/{Hub}").unwrap_err();
        assert!(err.contains("unknown placeholder '{Hub}'"), "{err}");
        let err = Template::catch_all("http://h/{hub").unwrap_err();
        assert!(err.contains("without a closing"), "{err}");
    }

    #[test]
    fn display_is_the_asrs_listing_form() {
        let t = Template::new(
            "http://h/x",
            Pattern::parse("chat"),
            Pattern::Never,
            Pattern::any(),
        )
        .unwrap();
        assert_eq!(
            t.to_string(),
            "http://h/x(event:'*',hub:'chat',category:null)"
        );
    }
}
