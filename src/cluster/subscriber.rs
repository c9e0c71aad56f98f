//! The node's subscription: the channel every node hears, the group and user channels, and
//! its own point-to-point channel. It reconnects with backoff when Redis goes away and asks
//! for a resync when it is back, since Redis may have restarted empty.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::Cluster;
use super::envelope::Envelope;
use super::metrics::ClusterMetrics;

/// First wait before reconnecting; doubled per failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long connecting and subscribing may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Receives and applies what other nodes publish until `stop`.
pub(super) async fn run(cluster: Arc<Cluster>, client: redis::Client, stop: CancellationToken) {
    let mut backoff = MIN_BACKOFF;
    let mut first = true;
    loop {
        let subscribed = tokio::select! {
            subscribed = tokio::time::timeout(CONNECT_TIMEOUT, subscribe(&cluster, &client)) => subscribed,
            () = stop.cancelled() => return,
        };
        match subscribed {
            Ok(Ok(pubsub)) => {
                backoff = MIN_BACKOFF;
                cluster.subscribed.store(true, Ordering::Release);
                if !first {
                    tracing::info!("cluster: subscription restored; resyncing");
                    cluster.resync.request();
                }
                first = false;
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(message) => receive(&cluster, message.get_payload_bytes()),
                            None => break,
                        },
                        () = stop.cancelled() => return,
                    }
                }
                cluster.subscribed.store(false, Ordering::Release);
                tracing::warn!("cluster: subscription to Redis lost; reconnecting");
            }
            Ok(Err(err)) => tracing::debug!(%err, "cluster: cannot subscribe yet"),
            Err(_) => tracing::debug!("cluster: subscribing timed out"),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn subscribe(
    cluster: &Cluster,
    client: &redis::Client,
) -> redis::RedisResult<redis::aio::PubSub> {
    let keys = &cluster.keys;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub
        .subscribe(&[keys.all_channel(), keys.node(&cluster.node.id)])
        .await?;
    pubsub
        .psubscribe(&[keys.group_channels(), keys.user_channels()])
        .await?;
    Ok(pubsub)
}

/// Decodes and applies one published message; ours and unreadable ones are skipped.
fn receive(cluster: &Arc<Cluster>, payload: &[u8]) {
    match Envelope::decode(bytes::Bytes::copy_from_slice(payload)) {
        Ok(envelope) if envelope.origin == cluster.node.id => {}
        Ok(envelope) => {
            ClusterMetrics::count(&cluster.metrics.received);
            cluster.apply(envelope);
        }
        Err(err) => tracing::warn!(%err, "cluster: skipped a message"),
    }
}
