//! User-to-group memberships: they belong to the user id, not to a connection, so they exist
//! before, after and without any connection, expire after their TTL, and are applied to every
//! connection the user opens. Users may keep at most [`MAX_UNLIMITED_GROUPS`] memberships added
//! without a TTL; adding more drops the oldest, as Azure does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::expiries::{Deadline, Expiries};

/// How long a membership added without `ttl` lasts (one year, as on Azure).
pub const DEFAULT_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// How many memberships without an explicit TTL one user keeps.
pub const MAX_UNLIMITED_GROUPS: usize = 100;

/// One user-group membership as a cluster persists and restores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGroupEntry {
    /// The user id.
    pub user: String,
    /// The group.
    pub group: String,
    /// When it ends.
    pub expires_at: Instant,
    /// Added without a TTL, so it counts towards the [`MAX_UNLIMITED_GROUPS`] cap.
    pub unlimited: bool,
}

#[derive(Debug, Clone, Copy)]
struct Membership {
    expires_at: Instant,
    /// Order of insertion for memberships added without a TTL (for the 100-group cap).
    unlimited_seq: Option<u64>,
}

/// Every user's group memberships in one hub, each with its deadline in the registry's
/// [`Expiries`]: every change here moves that deadline too.
#[derive(Debug)]
pub(super) struct UserGroups {
    by_user: HashMap<String, HashMap<String, Membership>>,
    next_seq: u64,
    hub: Arc<str>,
    expiries: Arc<Expiries>,
}

impl UserGroups {
    /// No memberships yet, for the hub named `hub`, with deadlines kept in `expiries`.
    pub(super) fn new(hub: Arc<str>, expiries: Arc<Expiries>) -> Self {
        UserGroups {
            by_user: HashMap::new(),
            next_seq: 0,
            hub,
            expiries,
        }
    }

    fn deadline(&self, user: &str, group: &str, at: Instant) -> Deadline {
        Deadline {
            at,
            hub: self.hub.clone(),
            user: user.to_owned(),
            group: group.to_owned(),
        }
    }

    /// Takes a removed membership's deadline out of the index.
    fn forget(&self, user: &str, group: &str, removed: Membership) {
        let old = self.deadline(user, group, removed.expires_at);
        self.expiries.replace(Some(old), None);
    }

    /// Adds or refreshes a membership. Returns the groups dropped by the 100-group cap.
    pub(super) fn add(
        &mut self,
        user: &str,
        group: &str,
        ttl: Option<Duration>,
        now: Instant,
    ) -> Vec<String> {
        self.insert(user, group, now + ttl.unwrap_or(DEFAULT_TTL), ttl.is_none())
    }

    /// Sets a membership to end at `expires_at` (one another node made); returns the groups
    /// dropped by the 100-group cap, the oldest ending first.
    pub(super) fn restore(&mut self, entry: &UserGroupEntry) -> Vec<String> {
        let UserGroupEntry {
            user,
            group,
            expires_at,
            unlimited,
        } = entry;
        self.insert(user, group, *expires_at, *unlimited)
    }

    fn insert(
        &mut self,
        user: &str,
        group: &str,
        expires_at: Instant,
        unlimited: bool,
    ) -> Vec<String> {
        let membership = Membership {
            expires_at,
            unlimited_seq: unlimited.then(|| {
                self.next_seq += 1;
                self.next_seq
            }),
        };
        let groups = self.by_user.entry(user.to_owned()).or_default();
        let replaced = groups.insert(group.to_owned(), membership);
        let dropped: Vec<(String, Membership)> = oldest_over_cap(groups)
            .into_iter()
            .filter_map(|g| groups.remove(&g).map(|m| (g, m)))
            .collect();
        let old = replaced.map(|m| self.deadline(user, group, m.expires_at));
        let new = self.deadline(user, group, membership.expires_at);
        self.expiries.replace(old, Some(new));
        for (g, m) in &dropped {
            self.forget(user, g, *m);
        }
        dropped.into_iter().map(|(g, _)| g).collect()
    }

    /// The user's membership of the group, unexpired by `now`.
    pub(super) fn get(&self, user: &str, group: &str, now: Instant) -> Option<UserGroupEntry> {
        let membership = self.by_user.get(user)?.get(group)?;
        (membership.expires_at > now).then(|| entry(user, group, membership))
    }

    /// Every membership unexpired by `now`.
    pub(super) fn all(&self, now: Instant) -> Vec<UserGroupEntry> {
        self.by_user
            .iter()
            .flat_map(|(user, groups)| groups.iter().map(move |(group, m)| (user, group, m)))
            .filter(|(_, _, m)| m.expires_at > now)
            .map(|(user, group, m)| entry(user, group, m))
            .collect()
    }

    /// Removes one membership; returns whether it existed.
    pub(super) fn remove(&mut self, user: &str, group: &str) -> bool {
        let Some(groups) = self.by_user.get_mut(user) else {
            return false;
        };
        let removed = groups.remove(group);
        if groups.is_empty() {
            self.by_user.remove(user);
        }
        removed.inspect(|m| self.forget(user, group, *m)).is_some()
    }

    /// Removes every membership of a user and returns the groups.
    pub(super) fn remove_all(&mut self, user: &str) -> Vec<String> {
        let groups = self.by_user.remove(user).unwrap_or_default();
        for (group, m) in &groups {
            self.forget(user, group, *m);
        }
        groups.into_keys().collect()
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

    /// Removes the membership when it has expired by `now` (its deadline was taken out of the
    /// index as due); returns whether it did. A membership refreshed since then has a later
    /// deadline and stays.
    pub(super) fn expire(&mut self, user: &str, group: &str, now: Instant) -> bool {
        let Some(groups) = self.by_user.get_mut(user) else {
            return false;
        };
        if groups.get(group).is_none_or(|m| m.expires_at > now) {
            return false;
        }
        groups.remove(group);
        if groups.is_empty() {
            self.by_user.remove(user);
        }
        true
    }
}

fn entry(user: &str, group: &str, membership: &Membership) -> UserGroupEntry {
    UserGroupEntry {
        user: user.to_owned(),
        group: group.to_owned(),
        expires_at: membership.expires_at,
        unlimited: membership.unlimited_seq.is_some(),
    }
}

/// The groups over the cap of memberships without a TTL, oldest first.
fn oldest_over_cap(groups: &HashMap<String, Membership>) -> Vec<String> {
    let mut unlimited: Vec<(u64, &String)> = groups
        .iter()
        .filter_map(|(g, m)| m.unlimited_seq.map(|seq| (seq, g)))
        .collect();
    if unlimited.len() <= MAX_UNLIMITED_GROUPS {
        return Vec::new();
    }
    unlimited.sort_unstable();
    unlimited[..unlimited.len() - MAX_UNLIMITED_GROUPS]
        .iter()
        .map(|(_, g)| (*g).clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_groups() -> (UserGroups, Arc<Expiries>) {
        let expiries = Arc::new(Expiries::default());
        (
            UserGroups::new(Arc::from("hub"), expiries.clone()),
            expiries,
        )
    }

    /// Expires what the index says is due, as the registry does.
    fn expire(ug: &mut UserGroups, expiries: &Expiries, now: Instant) -> Vec<(String, String)> {
        expiries
            .take_due(now)
            .into_iter()
            .filter(|d| ug.expire(&d.user, &d.group, now))
            .map(|d| (d.user, d.group))
            .collect()
    }

    #[test]
    fn cap_drops_the_oldest_unlimited_memberships_only() {
        let now = Instant::now();
        let (mut ug, expiries) = user_groups();
        ug.add("u", "timed", Some(Duration::from_secs(60)), now);
        for i in 0..MAX_UNLIMITED_GROUPS {
            assert!(ug.add("u", &format!("g{i}"), None, now).is_empty());
        }
        assert_eq!(ug.add("u", "newest", None, now), vec!["g0".to_owned()]);
        assert!(ug.contains("u", "timed", now));
        assert!(ug.contains("u", "newest", now));
        assert!(!ug.contains("u", "g0", now));
        assert_eq!(expiries.len(), MAX_UNLIMITED_GROUPS + 1);
    }

    #[test]
    fn expiry_removes_and_reports_memberships() {
        let now = Instant::now();
        let (mut ug, expiries) = user_groups();
        ug.add("u", "short", Some(Duration::from_secs(1)), now);
        ug.add("u", "long", None, now);
        let later = now + Duration::from_secs(2);
        assert!(!ug.contains("u", "short", later));
        assert_eq!(
            expire(&mut ug, &expiries, later),
            vec![("u".to_owned(), "short".to_owned())]
        );
        assert_eq!(ug.groups_of("u", later), vec!["long".to_owned()]);
    }

    #[test]
    fn a_membership_renewed_with_a_later_ttl_outlives_its_first_deadline() {
        let now = Instant::now();
        let (mut ug, expiries) = user_groups();
        ug.add("u", "g", Some(Duration::from_secs(1)), now);
        assert_eq!(expiries.next(), Some(now + Duration::from_secs(1)));
        ug.add("u", "g", Some(Duration::from_secs(10)), now);
        assert_eq!(expiries.len(), 1);
        assert_eq!(expiries.next(), Some(now + Duration::from_secs(10)));
        let after_first = now + Duration::from_secs(2);
        assert!(expire(&mut ug, &expiries, after_first).is_empty());
        assert!(ug.contains("u", "g", after_first));
        let after_second = now + Duration::from_secs(11);
        assert_eq!(expire(&mut ug, &expiries, after_second).len(), 1);
        assert!(expiries.next().is_none());
    }

    #[test]
    fn a_deadline_taken_before_a_renewal_does_not_drop_the_renewed_membership() {
        let now = Instant::now();
        let (mut ug, expiries) = user_groups();
        ug.add("u", "g", Some(Duration::from_secs(1)), now);
        let due_at = now + Duration::from_secs(1);
        let due = expiries.take_due(due_at);
        // Renewed between the index handing out the deadline and the hub acting on it.
        ug.add("u", "g", Some(Duration::from_secs(10)), due_at);
        assert!(!ug.expire(&due[0].user, &due[0].group, due_at));
        assert!(ug.contains("u", "g", due_at));
    }

    #[test]
    fn a_restored_membership_keeps_its_deadline_and_its_place_in_the_cap() {
        let now = Instant::now();
        let (mut ug, expiries) = user_groups();
        let entry = UserGroupEntry {
            user: "u".into(),
            group: "g".into(),
            expires_at: now + Duration::from_secs(3),
            unlimited: false,
        };
        assert!(ug.restore(&entry).is_empty());
        assert_eq!(ug.get("u", "g", now), Some(entry.clone()));
        assert_eq!(ug.all(now), vec![entry]);
        assert_eq!(expiries.next(), Some(now + Duration::from_secs(3)));
        assert!(ug.get("u", "g", now + Duration::from_secs(3)).is_none());
        for i in 0..=MAX_UNLIMITED_GROUPS {
            let unlimited = UserGroupEntry {
                user: "u".into(),
                group: format!("g{i}"),
                expires_at: now + DEFAULT_TTL,
                unlimited: true,
            };
            let dropped = ug.restore(&unlimited);
            assert_eq!(dropped.is_empty(), i < MAX_UNLIMITED_GROUPS, "{i}");
        }
        assert!(ug.get("u", "g", now).is_some(), "a timed one is not capped");
    }

    #[test]
    fn removed_memberships_leave_the_index() {
        let now = Instant::now();
        let (mut ug, expiries) = user_groups();
        ug.add("u", "a", Some(Duration::from_secs(5)), now);
        ug.add("u", "b", None, now);
        ug.add("v", "a", None, now);
        assert!(ug.remove("u", "a"));
        assert_eq!(expiries.len(), 2);
        assert_eq!(ug.remove_all("v"), vec!["a".to_owned()]);
        assert_eq!(expiries.len(), 1);
    }
}
