//! The node's subscription: the channel every node hears, the group and user channels, and
//! its own point-to-point channel. It reconnects with backoff when Redis goes away and asks
//! for a resync when it is back, since Redis may have restarted empty.
//!
//! On a Redis Cluster the subscription is sharded (`SSUBSCRIBE`, each channel on the shard
//! of its slot), which has no patterns: just the channel every node hears and the node's own
//! (see [`Keys::channel_for`]). redis-rs's cluster client keeps it across resharding; when it
//! reports a lost shard connection, this node subscribes to its channels again (which only
//! confirms those still subscribed) until that succeeds, then resyncs.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use redis::cluster::ClusterClientBuilder;
use redis::{ProtocolVersion, PushInfo, PushKind, Value};
use tokio_util::sync::CancellationToken;

use super::Cluster;
use super::connection::{REDIS_TIMEOUT, seeds};
use super::envelope::Envelope;
#[cfg(doc)]
use super::keys::Keys;
use super::metrics::ClusterMetrics;
use crate::config::ClusterConfig;

/// First wait before reconnecting; doubled per failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long connecting and subscribing may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the sharded subscription is checked while it is up.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// Receives and applies what other nodes publish until `stop`.
pub(super) async fn run(cluster: Arc<Cluster>, config: ClusterConfig, stop: CancellationToken) {
    if config.redis_cluster {
        return run_sharded(cluster, &config, stop).await;
    }
    match redis::Client::open(config.redis_url.as_str()) {
        Ok(client) => run_single(cluster, client, stop).await,
        // Not reached: the command connection opened with the same URL.
        Err(err) => tracing::error!(%err, "cluster: cannot subscribe"),
    }
}

/// Sleeps `backoff` (unless stopped) and answers the next one; false when stopped.
async fn back_off(backoff: &mut Duration, stop: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(*backoff) => {}
        () = stop.cancelled() => return false,
    }
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    true
}

/// The subscription to one Redis server, on its own connection.
async fn run_single(cluster: Arc<Cluster>, client: redis::Client, stop: CancellationToken) {
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
                    cluster.restored();
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
        if !back_off(&mut backoff, &stop).await {
            return;
        }
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

/// The sharded subscription to a Redis Cluster: messages arrive as pushes, applied as they
/// come (applying never waits: deliveries go to bounded per-connection queues).
async fn run_sharded(cluster: Arc<Cluster>, config: &ClusterConfig, stop: CancellationToken) {
    let pushed = cluster.clone();
    let client = ClusterClientBuilder::new(seeds(config))
        .use_protocol(ProtocolVersion::RESP3)
        .connection_timeout(REDIS_TIMEOUT)
        .response_timeout(REDIS_TIMEOUT)
        .push_sender(move |push: PushInfo| {
            on_push(&pushed, push);
            Ok::<(), std::convert::Infallible>(())
        })
        .build();
    let client = match client {
        Ok(client) => client,
        // Not reached: the command connection was built from the same seeds.
        Err(err) => return tracing::error!(%err, "cluster: cannot subscribe"),
    };
    let channels = [
        cluster.keys.all_channel(),
        cluster.keys.node(&cluster.node.id),
    ];
    let mut connection = None;
    let mut backoff = MIN_BACKOFF;
    loop {
        if !cluster.subscribed.load(Ordering::Acquire) {
            let subscribing = ssubscribe(&client, &mut connection, &channels);
            let subscribed = tokio::select! {
                subscribed = tokio::time::timeout(CONNECT_TIMEOUT, subscribing) => subscribed,
                () = stop.cancelled() => return,
            };
            match subscribed {
                Ok(Ok(())) => {
                    backoff = MIN_BACKOFF;
                    cluster.subscribed.store(true, Ordering::Release);
                    tracing::info!("cluster: sharded subscription up; resyncing");
                    cluster.restored();
                }
                // A fresh connection next time, in case this one cannot recover.
                Ok(Err(err)) => {
                    connection = None;
                    tracing::debug!(%err, "cluster: cannot subscribe yet");
                }
                Err(_) => {
                    connection = None;
                    tracing::debug!("cluster: subscribing timed out");
                }
            }
        }
        let wait = if cluster.subscribed.load(Ordering::Acquire) {
            WATCH_INTERVAL
        } else {
            let wait = backoff;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            wait
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Subscribes to `channels` on the connection, made first if there is none. Subscribing
/// again to a subscribed channel only confirms it, so after a lost shard connection this
/// makes sure of every channel, whichever shard was lost (the client reports the loss of a
/// shard that carries none of them too, and no resubscription follows that one).
async fn ssubscribe(
    client: &redis::cluster::ClusterClient,
    connection: &mut Option<redis::cluster_async::ClusterConnection>,
    channels: &[String],
) -> redis::RedisResult<()> {
    let connection = match connection {
        Some(connection) => connection,
        None => connection.insert(client.get_async_connection().await?),
    };
    // One at a time: the channels are in different slots.
    for channel in channels {
        connection.ssubscribe(channel).await?;
    }
    Ok(())
}

/// One push of the cluster client: a message, or a lost shard connection (the subscription
/// task then subscribes again).
fn on_push(cluster: &Arc<Cluster>, push: PushInfo) {
    match push.kind {
        PushKind::SMessage => match push.data.get(1) {
            Some(Value::BulkString(payload)) => receive(cluster, payload),
            _ => tracing::warn!("cluster: skipped a sharded message without a payload"),
        },
        PushKind::Disconnection => shard_lost(cluster),
        _ => {}
    }
}

/// Marks the subscription down, for the subscription task to make it again.
fn shard_lost(cluster: &Cluster) {
    if cluster.subscribed.swap(false, Ordering::AcqRel) {
        tracing::warn!("cluster: a Redis Cluster shard connection was lost; reconnecting");
    }
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
