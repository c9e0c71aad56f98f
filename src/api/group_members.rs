//! `GET /api/hubs/{hub}/groups/{group}/connections`: the group's connections, page by page.
//!
//! Members are listed in connection-id order and the continuation token is the last id of the
//! page, so following `nextLink` neither repeats nor skips a connection that stayed in the group
//! while others joined or left. `top` bounds the total: each `nextLink` carries what is left of
//! it. `nextLink` is absolute (the public endpoint, else the request's host) and keeps the
//! caller's other query parameters (`application`, `api-version`), so it works when followed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::extract::HubRequest;
use crate::error::ApiError;

/// Largest page Azure serves, and the default page size.
pub const MAX_PAGE_SIZE: usize = 200;

/// The paging query parameters, matched ignoring case (the Management SDK sends `maxPageSize`).
const PAGING_PARAMETERS: [&str; 3] = ["maxpagesize", "top", "continuationToken"];

/// One page: Azure's `GroupMemberPagedValues`.
#[derive(Debug, Serialize)]
pub(super) struct Page {
    value: Vec<Member>,
    #[serde(rename = "nextLink", skip_serializing_if = "Option::is_none")]
    next_link: Option<String>,
}

#[derive(Debug, Serialize)]
struct Member {
    #[serde(rename = "connectionId")]
    connection_id: String,
    /// `null` for anonymous connections.
    #[serde(rename = "userId")]
    user_id: Option<String>,
}

/// Lists one page of the group's connections; in a cluster, those of every node, merged in
/// id order, so `nextLink` works on any node.
pub(super) async fn list(req: &HubRequest) -> Result<Page, ApiError> {
    let group = req.group()?;
    let page_size = number(req, "maxpagesize", 1, MAX_PAGE_SIZE)?.unwrap_or(MAX_PAGE_SIZE);
    let top = number(req, "top", 1, i32::MAX as usize)?;
    let after = continuation(req)?;
    let limit = page_size.min(top.unwrap_or(usize::MAX));
    let mut connections: Vec<Member> = req
        .hub
        .group_page(group, after.as_deref(), limit + 1)
        .iter()
        .map(|c| Member {
            connection_id: c.id().to_string(),
            user_id: c.user_id().map(ToString::to_string),
        })
        .collect();
    if let Some(cluster) = &req.cluster {
        let elsewhere = cluster
            .group_members(req.hub.name(), group, after.as_deref())
            .await?;
        connections.extend(
            elsewhere
                .into_iter()
                .map(|(connection_id, user_id)| Member {
                    connection_id,
                    user_id,
                }),
        );
        connections.sort_by(|a, b| a.connection_id.cmp(&b.connection_id));
    }
    let more = connections.len() > limit;
    connections.truncate(limit);
    let left = top.map(|top| top - connections.len());
    let next_link = match (more, left, connections.last()) {
        (true, None | Some(1..), Some(last)) => Some(next_link(
            req,
            page_size,
            left,
            &URL_SAFE_NO_PAD.encode(&last.connection_id),
        )),
        _ => None,
    };
    Ok(Page {
        value: connections,
        next_link,
    })
}

/// An optional whole-number query parameter in `min..=max`.
fn number(
    req: &HubRequest,
    name: &'static str,
    min: usize,
    max: usize,
) -> Result<Option<usize>, ApiError> {
    let Some(text) = req.query.first_ignore_case(name) else {
        return Ok(None);
    };
    match text.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(ApiError::bad_request(
            name,
            format!("Invalid {name} '{text}': it must be a whole number from {min} to {max}."),
        )),
    }
}

/// The connection id the previous page ended with.
fn continuation(req: &HubRequest) -> Result<Option<String>, ApiError> {
    let Some(token) = req
        .query
        .first_ignore_case("continuationToken")
        .filter(|t| !t.is_empty())
    else {
        return Ok(None);
    };
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(
                "continuationToken",
                format!(
                    "Invalid continuationToken '{token}': use the nextLink of the previous page."
                ),
            )
        })
}

/// The absolute URL of the next page.
fn next_link(req: &HubRequest, page_size: usize, top: Option<usize>, token: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in req.query.pairs() {
        if !PAGING_PARAMETERS
            .iter()
            .any(|p| p.eq_ignore_ascii_case(key))
        {
            query.append_pair(key, value);
        }
    }
    if let Some(top) = top {
        query.append_pair("top", &top.to_string());
    }
    query.append_pair("maxpagesize", &page_size.to_string());
    query.append_pair("continuationToken", token);
    format!("{}{}?{}", req.base_url(), req.uri.path(), query.finish())
}
