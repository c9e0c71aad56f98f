//! User-group memberships kept in Redis as well as on every node, so that a node which starts
//! later, or resyncs after an outage, applies the memberships made before: the node that took
//! a change writes it into Redis before it answers (and before the other live nodes apply it),
//! and a node adopts what Redis holds when it joins and whenever it resyncs.
//!
//! Per hub (its name as hash tag, so a hub's entries share one slot on a Redis Cluster):
//! `{p}:ug:{hub}:users` (the users with memberships) and `{p}:ug:{hub}:u:{user}` (a hash
//! group → [`Stored`], the absolute expiry in wall-clock milliseconds, so every node ends it at
//! the same moment). `{p}:ug:hubs` lists the hubs; `{p}:ug:kept` tells a resyncing node that
//! Redis kept its data. When Redis comes back empty (no `kept`), each resyncing node writes back
//! what it holds, then marks it kept; every node then adopts exactly what Redis holds: its
//! memberships, refreshed deadlines, and none that Redis no longer has. A change made during
//! the outage was answered 503 and may have reached only some nodes; it must be made again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::connection::RedisConnection;
use super::envelope::UserGroupChange;
use super::keys::Keys;
use super::metrics::ClusterMetrics;
use crate::hub::{Hub, Hubs, UserGroupEntry};

/// How often a sync reads Redis again when a change here raced with its read.
const SYNC_ATTEMPTS: usize = 5;
/// Deadlines closer than this count as the same (clocks and rounding differ by milliseconds).
const SAME_DEADLINE: Duration = Duration::from_secs(1);

/// One membership's value in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Stored {
    /// When it ends, in milliseconds since the Unix epoch.
    expires_ms: u64,
    /// Added without a TTL (it counts towards the per-user cap).
    unlimited: bool,
}

impl Stored {
    /// The value of `entry`, with `now` as both clocks read it.
    fn of(entry: &UserGroupEntry, now: (Instant, SystemTime)) -> Self {
        let left = entry.expires_at.saturating_duration_since(now.0);
        Stored {
            expires_ms: millis(now.1 + left),
            unlimited: entry.unlimited,
        }
    }

    /// The entry it describes, unless it ended by `now`.
    fn entry(self, user: &str, group: &str, now: (Instant, SystemTime)) -> Option<UserGroupEntry> {
        let left = self
            .expires_ms
            .checked_sub(millis(now.1))
            .filter(|&ms| ms > 0)?;
        Some(UserGroupEntry {
            user: user.to_owned(),
            group: group.to_owned(),
            expires_at: now.0 + Duration::from_millis(left),
            unlimited: self.unlimited,
        })
    }
}

fn millis(at: SystemTime) -> u64 {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

fn clocks() -> (Instant, SystemTime) {
    (Instant::now(), SystemTime::now())
}

/// Local user-group changes between their start and their write into Redis, so a sync never
/// adopts a read of Redis older than a change it would then undo.
#[derive(Debug, Default)]
struct Writes {
    /// Changes applied here and not yet written.
    pending: u64,
    /// Changes finished since the node started.
    finished: u64,
}

/// This node's side of the memberships in Redis.
#[derive(Debug)]
pub(super) struct UserGroupStore {
    keys: Keys,
    writes: Mutex<Writes>,
}

/// A change in progress (see [`UserGroupStore::begin`]); finished when dropped.
#[derive(Debug)]
pub(super) struct Writing(Arc<UserGroupStore>);

impl Drop for Writing {
    fn drop(&mut self) {
        let mut writes = self.0.lock();
        writes.pending -= 1;
        writes.finished += 1;
    }
}

/// What a sync found in Redis: per hub, the unexpired memberships.
type Found = HashMap<String, Vec<UserGroupEntry>>;

impl UserGroupStore {
    /// The store under `keys`' prefix.
    pub(super) fn new(keys: Keys) -> Self {
        UserGroupStore {
            keys,
            writes: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Writes> {
        self.writes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks a change as started: call before applying it here, keep until it is in Redis.
    pub(super) fn begin(self: &Arc<Self>) -> Writing {
        self.lock().pending += 1;
        Writing(self.clone())
    }

    /// Writes a change this node applied to `hub` (`dropped`: the groups the per-user cap
    /// took out with it) into Redis.
    pub(super) async fn persist(
        &self,
        redis: &mut RedisConnection,
        metrics: &ClusterMetrics,
        hub: &Hub,
        user: &str,
        change: &UserGroupChange,
        dropped: &[String],
    ) -> redis::RedisResult<()> {
        let (keys, name) = (&self.keys, hub.name());
        let key = keys.user_groups(name, user);
        let mut pipes = Vec::new();
        match change {
            UserGroupChange::Add { group, .. } => {
                // A TTL of 0 keeps no membership: nothing to write.
                let Some(entry) = hub.user_group(user, group) else {
                    return Ok(());
                };
                let mut pipe = redis::pipe();
                if !dropped.is_empty() {
                    pipe.hdel(&key, dropped);
                }
                self.add_entry(&mut pipe, name, &entry, clocks());
                let mut hubs = redis::pipe();
                hubs.sadd(keys.user_group_hubs(), &**name);
                pipes.extend([hubs, pipe]);
            }
            UserGroupChange::Remove { group } => {
                let mut pipe = redis::pipe();
                pipe.hdel(&key, group);
                pipes.push(pipe);
            }
            UserGroupChange::RemoveAll => {
                let mut pipe = redis::pipe();
                pipe.del(&key).srem(keys.user_group_users(name), user);
                pipes.push(pipe);
            }
        }
        ClusterMetrics::count(&metrics.round_trips);
        redis
            .query_each(pipes)
            .await
            .inspect_err(|_| ClusterMetrics::count(&metrics.redis_errors))
            .map(drop)
    }

    /// Adds the commands that write `entry` of `hub` to `pipe`.
    fn add_entry(
        &self,
        pipe: &mut redis::Pipeline,
        hub: &str,
        entry: &UserGroupEntry,
        now: (Instant, SystemTime),
    ) {
        let key = self.keys.user_groups(hub, &entry.user);
        let stored = Stored::of(entry, now);
        let value = serde_json::to_string(&stored).expect("a membership serializes");
        pipe.sadd(self.keys.user_group_users(hub), &entry.user)
            .hset(&key, &entry.group, value);
        // The key lives as long as its latest membership (fields ended before are skipped
        // when read, and pruned).
        for condition in ["NX", "GT"] {
            pipe.cmd("PEXPIREAT")
                .arg(&key)
                .arg(stored.expires_ms)
                .arg(condition);
        }
    }

    /// Brings this node's memberships in line with Redis (see the module docs): writes them
    /// back first when Redis lost its data, then adopts what Redis holds.
    pub(super) async fn sync(
        &self,
        redis: &mut RedisConnection,
        metrics: &ClusterMetrics,
        hubs: &Hubs,
    ) -> redis::RedisResult<()> {
        ClusterMetrics::count(&metrics.round_trips);
        let kept: bool = redis::cmd("EXISTS")
            .arg(self.keys.user_groups_kept())
            .query_async(redis)
            .await?;
        if !kept {
            self.write_back(redis, metrics, hubs).await?;
        }
        for _ in 0..SYNC_ATTEMPTS {
            let before = self.lock().finished;
            let found = self.read(redis, metrics).await?;
            let writes = self.lock();
            if writes.pending == 0 && writes.finished == before {
                adopt(hubs, &found);
                return Ok(());
            }
        }
        tracing::warn!(
            "cluster: user-group memberships changed during every sync attempt; resyncing later"
        );
        Err(redis::RedisError::from((
            redis::ErrorKind::Io,
            "user-group memberships kept changing during the sync",
        )))
    }

    /// Writes every membership this node holds into Redis, then marks Redis as kept.
    async fn write_back(
        &self,
        redis: &mut RedisConnection,
        metrics: &ClusterMetrics,
        hubs: &Hubs,
    ) -> redis::RedisResult<()> {
        let now = clocks();
        let keys = &self.keys;
        let mut pipes = Vec::new();
        let mut names = redis::pipe();
        for hub in hubs.all() {
            let entries = hub.user_group_entries();
            if entries.is_empty() {
                continue;
            }
            names.sadd(keys.user_group_hubs(), &**hub.name());
            let mut pipe = redis::pipe();
            for entry in &entries {
                self.add_entry(&mut pipe, hub.name(), entry, now);
            }
            pipes.push(pipe);
        }
        pipes.push(names);
        let mut kept = redis::pipe();
        kept.set(keys.user_groups_kept(), 1);
        ClusterMetrics::count(&metrics.round_trips);
        redis.query_each(pipes).await?;
        ClusterMetrics::count(&metrics.round_trips);
        redis.query_each(vec![kept]).await.map(drop)
    }

    /// Every unexpired membership in Redis, pruning the ended ones and empty users.
    async fn read(
        &self,
        redis: &mut RedisConnection,
        metrics: &ClusterMetrics,
    ) -> redis::RedisResult<Found> {
        let keys = &self.keys;
        ClusterMetrics::count(&metrics.round_trips);
        let names: Vec<String> = redis::cmd("SMEMBERS")
            .arg(keys.user_group_hubs())
            .query_async(redis)
            .await?;
        let reads = names
            .iter()
            .map(|hub| {
                let mut pipe = redis::pipe();
                pipe.smembers(keys.user_group_users(hub));
                pipe
            })
            .collect();
        ClusterMetrics::count(&metrics.round_trips);
        let users: Vec<Vec<String>> = redis
            .query_each(reads)
            .await?
            .iter()
            .map(redis::from_redis_value_ref)
            .collect::<Result<_, _>>()?;
        let reads = names
            .iter()
            .zip(&users)
            .map(|(hub, users)| {
                let mut pipe = redis::pipe();
                for user in users {
                    pipe.hgetall(keys.user_groups(hub, user));
                }
                pipe
            })
            .collect();
        ClusterMetrics::count(&metrics.round_trips);
        let mut values = redis.query_each(reads).await?.into_iter();
        let now = clocks();
        let mut found = Found::new();
        let mut prune = Vec::new();
        for (hub, users) in names.iter().zip(&users) {
            let mut pipe = redis::pipe();
            let entries = found.entry(hub.clone()).or_default();
            for user in users {
                let Some(value) = values.next() else { break };
                let groups: HashMap<String, String> = redis::from_redis_value(value)?;
                if groups.is_empty() {
                    pipe.srem(keys.user_group_users(hub), user);
                }
                for (group, value) in groups {
                    let stored = serde_json::from_str::<Stored>(&value).ok();
                    match stored.and_then(|s| s.entry(user, &group, now)) {
                        Some(entry) => entries.push(entry),
                        None => {
                            pipe.hdel(keys.user_groups(hub, user), &group);
                        }
                    }
                }
            }
            prune.push(pipe);
        }
        ClusterMetrics::count(&metrics.round_trips);
        redis.query_each(prune).await?;
        Ok(found)
    }
}

/// Makes every hub's memberships those `found` in Redis: adds or refreshes what differs, and
/// removes (with the user's connections from the group) what Redis no longer has.
fn adopt(hubs: &Hubs, found: &Found) {
    let mut names: HashSet<String> = found.keys().cloned().collect();
    names.extend(hubs.all().iter().map(|hub| hub.name().to_string()));
    let none = Vec::new();
    for name in names {
        let wanted = found.get(&name).unwrap_or(&none);
        let Some(hub) = (if wanted.is_empty() {
            hubs.get(&name)
        } else {
            Some(hubs.get_or_create(&name))
        }) else {
            continue;
        };
        let held: HashMap<(String, String), UserGroupEntry> = hub
            .user_group_entries()
            .into_iter()
            .map(|entry| ((entry.user.clone(), entry.group.clone()), entry))
            .collect();
        let wanted_keys: HashSet<(&str, &str)> = wanted
            .iter()
            .map(|e| (e.user.as_str(), e.group.as_str()))
            .collect();
        for (user, group) in held.keys() {
            if !wanted_keys.contains(&(user.as_str(), group.as_str())) {
                hub.remove_user_from_group(user, group);
            }
        }
        for entry in wanted {
            let same = held
                .get(&(entry.user.clone(), entry.group.clone()))
                .is_some_and(|held| same_membership(held, entry));
            if !same {
                hub.restore_user_group(entry);
            }
        }
    }
}

fn same_membership(a: &UserGroupEntry, b: &UserGroupEntry) -> bool {
    let apart = if a.expires_at > b.expires_at {
        a.expires_at - b.expires_at
    } else {
        b.expires_at - a.expires_at
    };
    a.unlimited == b.unlimited && apart < SAME_DEADLINE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(expires_at: Instant, unlimited: bool) -> UserGroupEntry {
        UserGroupEntry {
            user: "u".into(),
            group: "g".into(),
            expires_at,
            unlimited,
        }
    }

    #[test]
    fn a_stored_membership_ends_when_it_did_on_the_node_that_wrote_it() {
        let now = clocks();
        let written = entry(now.0 + Duration::from_secs(30), true);
        let stored = Stored::of(&written, now);
        let read = stored.entry("u", "g", now).unwrap();
        assert!(same_membership(&read, &written));
        assert!(read.unlimited);
        let later = (
            now.0 + Duration::from_secs(31),
            now.1 + Duration::from_secs(31),
        );
        assert_eq!(stored.entry("u", "g", later), None, "ended: never restored");
    }

    #[test]
    fn adopting_removes_what_redis_lost_and_adds_what_it_has() {
        let hubs = Hubs::default();
        let hub = hubs.get_or_create("chat");
        hub.add_user_to_group("u", "removed", None);
        hub.add_user_to_group("u", "kept", Some(Duration::from_secs(60)));
        let kept = hub.user_group("u", "kept").unwrap();
        let mut added = entry(Instant::now() + Duration::from_secs(5), false);
        added.group = "added".into();
        let found = Found::from([
            ("chat".to_owned(), vec![kept.clone(), added.clone()]),
            ("other".to_owned(), vec![added.clone()]),
        ]);
        adopt(&hubs, &found);
        assert_eq!(hub.user_group("u", "removed"), None);
        assert_eq!(hub.user_group("u", "kept"), Some(kept));
        assert_eq!(hub.user_group("u", "added"), Some(added.clone()));
        let other = hubs.get("other").expect("created for its memberships");
        assert_eq!(other.user_group("u", "added"), Some(added));
    }
}
