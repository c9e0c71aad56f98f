//! Group member paging across nodes: a page lists the members of every node in id order, and
//! its `nextLink` works when followed on another node.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use super::sends::two_nodes;
use super::{Node, eventually};

#[tokio::test]
async fn pages_merge_every_nodes_members_and_next_links_work_anywhere() {
    let (_redis, a, b) = two_nodes().await;
    pages_merge_both_nodes_members(&a, &b).await;
}

/// Five members of one group over A and B: pages of two, followed alternately on A and B,
/// list each member once with its user, in connection-id order.
pub(super) async fn pages_merge_both_nodes_members(a: &Node, b: &Node) {
    let mut clients = Vec::new();
    let mut expected = BTreeSet::new();
    for (i, node) in [a, b, a, b, b].into_iter().enumerate() {
        let user = format!("user{i}");
        let (client, id) = node.server.connect("chat", Some(&user)).await;
        let path = format!("/api/hubs/chat/groups/g/connections/{id}");
        assert_eq!(node.server.rest("PUT", &path, None).await.status(), 200);
        expected.insert((id, user));
        clients.push(client);
    }
    let first = "/api/hubs/chat/groups/g/connections?maxpagesize=2";
    let complete = eventually(Duration::from_secs(5), || async {
        let page: Value = a
            .server
            .rest("GET", "/api/hubs/chat/groups/g/connections", None)
            .await
            .json()
            .await
            .unwrap();
        page["value"].as_array().unwrap().len() == expected.len()
    })
    .await;
    assert!(complete, "every node's members are listed");

    let mut seen = Vec::new();
    let mut path = first.to_owned();
    let nodes = [a, b];
    for turn in 0.. {
        assert!(turn < 5, "too many pages");
        let node = nodes[turn % 2];
        let page: Value = node
            .server
            .rest("GET", &path, None)
            .await
            .json()
            .await
            .unwrap();
        for member in page["value"].as_array().unwrap() {
            let id = member["connectionId"].as_str().unwrap().to_owned();
            let user = member["userId"].as_str().unwrap().to_owned();
            seen.push((id, user));
        }
        match page["nextLink"].as_str() {
            Some(link) => {
                let at = link.find("/api/").expect("an absolute link to the API");
                path = link[at..].to_owned();
            }
            None => break,
        }
    }
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no member twice: {seen:?}");
    assert_eq!(unique, expected);
    let ids: Vec<&String> = seen.iter().map(|(id, _)| id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "id order: {ids:?}");
}
