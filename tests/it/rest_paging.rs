//! `GET /api/hubs/{hub}/groups/{group}/connections`: pages of at most `maxpagesize`, `top` as a
//! total, and absolute `nextLink`s that work when followed.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use signalr_emulator::Config;
use signalr_emulator::config::PublicEndpoint;

use crate::common::{TestServer, WaitUntil, WsClient, now, token};
use crate::rest_support::{expect_bad_request, status};

/// GETs an absolute URL with a token for its path.
async fn get(url: &str) -> Value {
    let path_and_query = url.split_once("://").unwrap().1;
    let path = &path_and_query[path_and_query.find('/').unwrap()..];
    let path = path.split('?').next().unwrap();
    let token = token(json!({"aud": format!("http://localhost{path}"), "exp": now() + 60}));
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap()
}

/// Follows `nextLink`s from `first` and returns every page.
async fn pages(first: &str) -> Vec<Value> {
    let mut pages = vec![get(first).await];
    while let Some(next) = pages.last().unwrap().get("nextLink") {
        let next = next.as_str().expect("nextLink is a string").to_owned();
        assert!(pages.len() < 10, "paging terminates");
        pages.push(get(&next).await);
    }
    pages
}

fn ids(pages: &[Value]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|p| p["value"].as_array().unwrap().clone())
        .map(|m| m["connectionId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn four_hundred_fifty_connections_come_back_in_three_pages() {
    let server = TestServer::start().await;
    // Every connection of the user joins the group as it connects.
    assert_eq!(
        status(&server, "PUT", "/api/hubs/chat/users/pager/groups/big").await,
        200
    );
    let mut clients: Vec<WsClient> = Vec::new();
    let mut expected = BTreeSet::new();
    for _ in 0..450 {
        let (client, id) = server.connect("chat", Some("pager")).await;
        clients.push(client);
        expected.insert(id);
    }
    let (_outsider, outsider) = server.connect("chat", Some("pager2")).await;

    let first = server.url("/api/hubs/chat/groups/big/connections?api-version=2024-12-01");
    let all = pages(&first).await;
    let sizes: Vec<usize> = all
        .iter()
        .map(|p| p["value"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [200, 200, 50]);
    for page in &all[..2] {
        let next = page["nextLink"].as_str().unwrap();
        assert!(
            next.starts_with(&format!(
                "http://{}/api/hubs/chat/groups/big/connections?",
                server.addr
            )),
            "{next}"
        );
        assert!(next.contains("api-version=2024-12-01"), "{next}");
    }
    assert!(all[2].get("nextLink").is_none());
    assert!(all.iter().all(|p| {
        p["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["userId"] == "pager")
    }));
    let listed = ids(&all);
    assert_eq!(listed.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(listed.len(), 450, "no connection listed twice");
    assert!(!listed.contains(&outsider));

    // top bounds the total; the SDK's maxPageSize spelling works.
    let first = server.url("/api/hubs/chat/groups/big/connections?top=250&maxPageSize=100");
    let limited = pages(&first).await;
    let sizes: Vec<usize> = limited
        .iter()
        .map(|p| p["value"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(ids(&limited), listed[..250]);

    // A member leaving between pages is neither repeated nor skipped over.
    let first_page = get(&server.url("/api/hubs/chat/groups/big/connections?maxpagesize=10")).await;
    let gone = first_page["value"][9]["connectionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/hubs/chat/connections/{gone}");
    assert_eq!(status(&server, "DELETE", &path).await, 200);
    let index = listed.iter().position(|id| *id == gone).unwrap();
    let wait = WaitUntil::within(
        std::time::Duration::from_secs(1),
        "the closed connection leaves",
    );
    while status(&server, "HEAD", &path).await == 200 {
        wait.retry().await;
    }
    let second_page = get(first_page["nextLink"].as_str().unwrap()).await;
    assert_eq!(ids(&[second_page]), listed[index + 1..index + 11]);
    server.stop().await;
}

#[tokio::test]
async fn small_groups_anonymous_members_and_the_public_endpoint() {
    let server = TestServer::with_config(Config {
        public_endpoint: Some(PublicEndpoint::parse("http://signalr:8888").unwrap()),
        ..Config::default()
    })
    .await;
    let (_anon, a) = server.connect("chat", None).await;
    let (_named, b) = server.connect("chat", Some("u1")).await;
    for id in [&a, &b] {
        let path = format!("/api/hubs/chat/groups/g/connections/{id}");
        assert_eq!(status(&server, "PUT", &path).await, 200);
    }
    let page =
        get(&server.url("/api/hubs/chat/groups/g/connections?maxpagesize=1&application=")).await;
    let next = page["nextLink"].as_str().unwrap();
    assert!(
        next.starts_with("http://signalr:8888/api/hubs/chat/groups/g/connections?"),
        "{next}"
    );
    // Follow it here: only the host differs.
    let here = next.replacen("http://signalr:8888", &format!("http://{}", server.addr), 1);
    let rest = get(&here).await;
    assert!(rest.get("nextLink").is_none());
    let mut members: Vec<Value> = vec![page["value"][0].clone(), rest["value"][0].clone()];
    members.sort_by_key(|m| m["connectionId"].as_str().unwrap().to_owned());
    let mut expected = vec![
        json!({"connectionId": a, "userId": null}),
        json!({"connectionId": b, "userId": "u1"}),
    ];
    expected.sort_by_key(|m| m["connectionId"].as_str().unwrap().to_owned());
    assert_eq!(members, expected);

    let empty = get(&server.url("/api/hubs/chat/groups/none/connections")).await;
    assert_eq!(empty, json!({"value": []}));
    server.stop().await;
}

#[tokio::test]
async fn bad_paging_parameters_are_400() {
    let server = TestServer::start().await;
    for (query, target) in [
        ("maxpagesize=0", "maxpagesize"),
        ("maxpagesize=201", "maxpagesize"),
        ("maxPageSize=ten", "maxpagesize"),
        ("top=0", "top"),
        ("top=-3", "top"),
        ("continuationToken=%21%21", "continuationToken"),
    ] {
        let path = format!("/api/hubs/chat/groups/g/connections?{query}");
        expect_bad_request(&server, "GET", &path, None, target, "").await;
    }
    expect_bad_request(
        &server,
        "GET",
        "/api/hubs/chat/groups/%20/connections",
        None,
        "group",
        "",
    )
    .await;
    server.stop().await;
}
