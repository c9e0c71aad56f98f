//! User-to-group memberships: they belong to the user id, not to a connection, so they exist
//! before, after and without any connection, expire after their TTL, and are applied to every
//! connection the user opens. Users may keep at most [`MAX_UNLIMITED_GROUPS`] memberships added
//! without a TTL; adding more drops the oldest, as Azure does.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// How long a membership added without `ttl` lasts (one year, as on Azure).
pub const DEFAULT_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// How many memberships without an explicit TTL one user keeps.
pub const MAX_UNLIMITED_GROUPS: usize = 100;

#[derive(Debug, Clone, Copy)]
struct Membership {
    expires_at: Instant,
    /// Order of insertion for memberships added without a TTL (for the 100-group cap).
    unlimited_seq: Option<u64>,
}

/// Every user's group memberships in one hub.
#[derive(Debug, Default)]
pub(super) struct UserGroups {
    by_user: HashMap<String, HashMap<String, Membership>>,
    next_seq: u64,
}

impl UserGroups {
    /// Adds or refreshes a membership. Returns the groups dropped by the 100-group cap.
    pub(super) fn add(
        &mut self,
        user: &str,
        group: &str,
        ttl: Option<Duration>,
        now: Instant,
    ) -> Vec<String> {
        let membership = Membership {
            expires_at: now + ttl.unwrap_or(DEFAULT_TTL),
            unlimited_seq: ttl.is_none().then(|| {
                self.next_seq += 1;
                self.next_seq
            }),
        };
        let groups = self.by_user.entry(user.to_owned()).or_default();
        groups.insert(group.to_owned(), membership);
        let mut unlimited: Vec<(u64, &String)> = groups
            .iter()
            .filter_map(|(g, m)| m.unlimited_seq.map(|seq| (seq, g)))
            .collect();
        if unlimited.len() <= MAX_UNLIMITED_GROUPS {
            return Vec::new();
        }
        unlimited.sort_unstable();
        let dropped: Vec<String> = unlimited[..unlimited.len() - MAX_UNLIMITED_GROUPS]
            .iter()
            .map(|(_, g)| (*g).clone())
            .collect();
        for group in &dropped {
            groups.remove(group);
        }
        dropped
    }

    /// Removes one membership; returns whether it existed.
    pub(super) fn remove(&mut self, user: &str, group: &str) -> bool {
        let Some(groups) = self.by_user.get_mut(user) else {
            return false;
        };
        let removed = groups.remove(group).is_some();
        if groups.is_empty() {
            self.by_user.remove(user);
        }
        removed
    }

    /// Removes every membership of a user and returns the groups.
    pub(super) fn remove_all(&mut self, user: &str) -> Vec<String> {
        self.by_user
            .remove(user)
            .map(|groups| groups.into_keys().collect())
            .unwrap_or_default()
    }

    /// Whether the user holds an unexpired membership of the group.
    pub(super) fn contains(&self, user: &str, group: &str, now: Instant) -> bool {
        self.by_user
            .get(user)
            .and_then(|groups| groups.get(group))
            .is_some_and(|m| m.expires_at > now)
    }

    /// The user's unexpired groups.
    pub(super) fn groups_of(&self, user: &str, now: Instant) -> Vec<String> {
        self.by_user
            .get(user)
            .map(|groups| {
                groups
                    .iter()
                    .filter(|(_, m)| m.expires_at > now)
                    .map(|(g, _)| g.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Removes expired memberships and returns them as (user, group) pairs.
    pub(super) fn expire(&mut self, now: Instant) -> Vec<(String, String)> {
        let mut expired = Vec::new();
        self.by_user.retain(|user, groups| {
            groups.retain(|group, m| {
                let keep = m.expires_at > now;
                if !keep {
                    expired.push((user.clone(), group.clone()));
                }
                keep
            });
            !groups.is_empty()
        });
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_drops_the_oldest_unlimited_memberships_only() {
        let now = Instant::now();
        let mut ug = UserGroups::default();
        ug.add("u", "timed", Some(Duration::from_secs(60)), now);
        for i in 0..MAX_UNLIMITED_GROUPS {
            assert!(ug.add("u", &format!("g{i}"), None, now).is_empty());
        }
        assert_eq!(ug.add("u", "newest", None, now), vec!["g0".to_owned()]);
        assert!(ug.contains("u", "timed", now));
        assert!(ug.contains("u", "newest", now));
        assert!(!ug.contains("u", "g0", now));
    }

    #[test]
    fn expiry_removes_and_reports_memberships() {
        let now = Instant::now();
        let mut ug = UserGroups::default();
        ug.add("u", "short", Some(Duration::from_secs(1)), now);
        ug.add("u", "long", None, now);
        let later = now + Duration::from_secs(2);
        assert!(!ug.contains("u", "short", later));
        assert_eq!(ug.expire(later), vec![("u".to_owned(), "short".to_owned())]);
        assert_eq!(ug.groups_of("u", later), vec!["long".to_owned()]);
    }
}
