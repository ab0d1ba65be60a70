//! Listener rule priorities and host/path claims on a shared listener. Pure.
//!
//! Priorities are allocated by the operator, deterministically and without collisions: all of our
//! rules on a listener are ordered most-specific first and numbered upwards, skipping priorities
//! held by rules we do not own. Reordering uses two `SetRulePriorities` phases (first to free
//! temporary slots, then to the targets), so no target is ever in use when it is claimed.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet},
};

/// ALB's highest rule priority.
pub const MAX_PRIORITY: u32 = 50_000;

/// A route one service wants (or has) on a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// `namespace/name` of the owning service.
    pub owner: String,
    pub hosts: Vec<String>,
    pub paths: Vec<String>,
}

fn literal_len(path: &str) -> usize {
    path.find(['*', '?']).unwrap_or(path.len())
}

/// Ordering key: smaller sorts first (is more specific).
fn specificity(claim: &Claim) -> impl Ord + use<'_> {
    let class = match (claim.hosts.is_empty(), claim.paths.is_empty()) {
        (false, false) => 0,
        (false, true) => 1,
        _ => 2,
    };
    let wildcard_host = claim.hosts.iter().any(|h| h.contains('*'));
    let longest_literal = claim.paths.iter().map(|p| literal_len(p)).max().unwrap_or(0);
    let wildcard_path = claim.paths.iter().any(|p| p.contains(['*', '?']));
    (class, wildcard_host, Reverse(longest_literal), wildcard_path, &claim.owner)
}

/// Target priority of every claim, by owner. `reserved` are priorities held by rules we do not own.
pub fn allocate(claims: &[Claim], reserved: &BTreeSet<u32>) -> BTreeMap<String, u32> {
    let mut ordered: Vec<&Claim> = claims.iter().collect();
    ordered.sort_by(|a, b| specificity(a).cmp(&specificity(b)));
    let mut next = 1;
    let mut out = BTreeMap::new();
    for claim in ordered {
        while reserved.contains(&next) {
            next += 1;
        }
        out.insert(claim.owner.clone(), next);
        next += 1;
    }
    out
}

/// The `(host, path)` pairs a claim matches; a missing side matches anything (`*`).
fn pairs(claim: &Claim) -> BTreeSet<(&str, &str)> {
    let hosts: Vec<&str> = if claim.hosts.is_empty() {
        vec!["*"]
    } else {
        claim.hosts.iter().map(String::as_str).collect()
    };
    let paths: Vec<&str> = if claim.paths.is_empty() {
        vec!["*"]
    } else {
        claim.paths.iter().map(String::as_str).collect()
    };
    hosts.iter().flat_map(|h| paths.iter().map(move |p| (*h, *p))).collect()
}

/// The first of `others` (in the given order, i.e. by seniority) whose claim matches the same
/// host and path as `claim`.
pub fn conflicting_owner<'a>(
    claim: &Claim,
    others: impl IntoIterator<Item = &'a Claim>,
) -> Option<&'a Claim> {
    let mine = pairs(claim);
    others.into_iter().find(|o| o.owner != claim.owner && !pairs(o).is_disjoint(&mine))
}

/// One `SetRulePriorities` call: rule ARN → priority.
pub type Moves = Vec<(String, u32)>;

/// The two `SetRulePriorities` phases that move rules from `current` to `target` priorities
/// (by rule ARN), given every priority in use on the listener. Empty phases mean no call.
pub fn moves(
    current: &BTreeMap<String, u32>,
    target: &BTreeMap<String, u32>,
    in_use: &BTreeSet<u32>,
) -> (Moves, Moves) {
    let movers: Vec<(&String, u32)> = target
        .iter()
        .filter(|(arn, p)| current.get(*arn) != Some(*p))
        .map(|(arn, p)| (arn, *p))
        .collect();
    if movers.is_empty() {
        return (vec![], vec![]);
    }
    let direct: Vec<(String, u32)> = movers.iter().map(|(arn, p)| ((*arn).clone(), *p)).collect();
    if movers.iter().all(|(_, p)| !in_use.contains(p)) {
        return (direct, vec![]);
    }
    // Some target is occupied (possibly by another mover): park every mover on a free temporary
    // slot first, then move all of them to their targets, which are then all free.
    let mut taken: BTreeSet<u32> = in_use.clone();
    taken.extend(target.values().copied());
    let temporary = (1..=MAX_PRIORITY).rev().filter(|p| !taken.contains(p));
    let phase1 = movers.iter().zip(temporary).map(|((arn, _), t)| ((*arn).clone(), t)).collect();
    (phase1, direct)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(owner: &str, hosts: &[&str], paths: &[&str]) -> Claim {
        Claim {
            owner: owner.into(),
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            paths: paths.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_most_specific_route_gets_the_lowest_priority() {
        let claims = [
            claim("a/catch-all", &[], &["/*"]),
            claim("a/site", &["shop.example.com"], &[]),
            claim("a/api", &["shop.example.com"], &["/api/*"]),
            claim("a/api-v2", &["shop.example.com"], &["/api/v2/*"]),
            claim("a/wild", &["*.example.com"], &[]),
        ];
        let p = allocate(&claims, &BTreeSet::new());
        assert!(p["a/api-v2"] < p["a/api"], "longer path first");
        assert!(p["a/api"] < p["a/site"], "host+path before host only");
        assert!(p["a/site"] < p["a/wild"], "exact host before wildcard host");
        assert!(p["a/wild"] < p["a/catch-all"], "host before path only");
    }

    #[test]
    fn allocation_is_deterministic_collision_free_and_skips_foreign_priorities() {
        let claims: Vec<Claim> = (0..50)
            .map(|i| claim(&format!("ns/svc-{i:02}"), &[&format!("s{i}.example.com")], &[]))
            .collect();
        let reserved = BTreeSet::from([1, 2, 10]);
        let p = allocate(&claims, &reserved);
        let mut reversed = claims.clone();
        reversed.reverse();
        assert_eq!(p, allocate(&reversed, &reserved), "input order does not matter");
        let values: BTreeSet<u32> = p.values().copied().collect();
        assert_eq!(values.len(), 50, "no two rules share a priority");
        assert!(values.is_disjoint(&reserved));
    }

    #[test]
    fn overlapping_host_and_path_is_a_conflict_and_other_paths_are_not() {
        let senior = claim("a/web", &["shop.example.com"], &["/*"]);
        assert!(
            conflicting_owner(&claim("b/web", &["shop.example.com"], &["/*"]), [&senior]).is_some()
        );
        assert!(
            conflicting_owner(&claim("b/api", &["shop.example.com"], &["/api/*"]), [&senior])
                .is_none()
        );
        assert!(
            conflicting_owner(&claim("b/web", &["other.example.com"], &["/*"]), [&senior])
                .is_none()
        );
        assert!(
            conflicting_owner(&claim("a/web", &["shop.example.com"], &["/*"]), [&senior]).is_none(),
            "not with itself"
        );
    }

    #[test]
    fn swapping_two_rules_goes_through_temporary_priorities() {
        let current = BTreeMap::from([("r1".to_string(), 1), ("r2".to_string(), 2)]);
        let target = BTreeMap::from([("r1".to_string(), 2), ("r2".to_string(), 1)]);
        let in_use = BTreeSet::from([1, 2, 3]);
        let (phase1, phase2) = moves(&current, &target, &in_use);
        assert_eq!(phase1.len(), 2);
        assert!(phase1.iter().all(|(_, p)| *p > 3));
        assert_eq!(phase2, vec![("r1".to_string(), 2), ("r2".to_string(), 1)]);
    }

    #[test]
    fn a_move_to_a_free_priority_takes_one_call() {
        let current = BTreeMap::from([("r1".to_string(), 5)]);
        let target = BTreeMap::from([("r1".to_string(), 1)]);
        let (phase1, phase2) = moves(&current, &target, &BTreeSet::from([5]));
        assert_eq!(phase1, vec![("r1".to_string(), 1)]);
        assert!(phase2.is_empty());
    }
}
