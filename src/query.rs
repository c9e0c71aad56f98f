//! Raw query-string access with the rules SignalR clients need: repeated keys are allowed (the
//! .NET client may repeat `useStatefulReconnect`), the first value wins unless said otherwise,
//! and values are form-decoded.

use crate::error::ApiError;
use crate::hub::names::internal_hub_name;

/// A decoded query string, keys in order.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes a raw query string (without the `?`).
    pub fn parse(raw: Option<&str>) -> Self {
        Query {
            pairs: raw
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        }
    }

    /// The first value of `key`.
    pub fn first(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key`, its name matched ignoring ASCII case (SDKs disagree on
    /// spellings such as `maxpagesize` and `maxPageSize`).
    pub fn first_ignore_case(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every (key, value) pair, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The `hub` parameter of a request to the client or server endpoint (`endpoint`, e.g.
    /// `/client/`): required exactly once, validated and lowercased.
    pub fn hub(&self, endpoint: &str) -> Result<String, ApiError> {
        match self.count("hub") {
            0 => Err(ApiError::bad_request(
                "hub",
                format!("The 'hub' query parameter is required, e.g. {endpoint}?hub=chat."),
            )),
            1 => Ok(internal_hub_name(
                self.first("hub").unwrap_or_default(),
                None,
            )?),
            n => Err(ApiError::bad_request(
                "hub",
                format!("The 'hub' query parameter must appear once; it appears {n} times."),
            )),
        }
    }

    /// How many times `key` appears.
    pub fn count(&self, key: &str) -> usize {
        self.pairs.iter().filter(|(k, _)| k == key).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_and_decoding() {
        let q = Query::parse(Some("hub=chat&excluded=a%20b&excluded=c&x=1&x=2"));
        assert_eq!(q.first("hub"), Some("chat"));
        assert_eq!(q.all("excluded").collect::<Vec<_>>(), ["a b", "c"]);
        assert_eq!(q.first("x"), Some("1"));
        assert_eq!(q.count("x"), 2);
        assert_eq!(Query::parse(None).first("hub"), None);
        assert_eq!(q.first_ignore_case("HUB"), Some("chat"));
        assert_eq!(q.pairs().nth(1), Some(("excluded", "a b")));
    }
}
