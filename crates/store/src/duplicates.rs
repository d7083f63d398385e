//! The duplicate rule of [`crate::Store`] (`Device::duplicate_of`) as a pure function, so that
//! every backend decides duplicates alike: the backend loads the console's present devices,
//! calls [`duplicate_links`], and writes the links that changed.

use std::collections::HashMap;

/// One present device, as far as duplicate detection is concerned. `T` is the backend's
/// timestamp representation; it only has to order like time (a missing value is oldest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateCandidate<T> {
    pub agent_id: String,
    /// The computer name as returned by [`duplicate_name`] (trimmed, lower-cased).
    pub name: String,
    /// The serial number as returned by [`duplicate_serial`] (trimmed, upper-cased, `None` when
    /// empty).
    pub serial: Option<String>,
    /// MAC addresses as stored (normalised by the rule itself; all-zero ones are ignored).
    pub macs: Vec<String>,
    pub last_active_at: Option<T>,
    pub registered_at: Option<T>,
}

/// The grouping key of a computer name: trimmed and lower-cased (empty names are never grouped).
pub fn duplicate_name(computer_name: &str) -> String {
    computer_name.trim().to_lowercase()
}

/// A serial number as compared by the rule: trimmed, upper-cased, `None` when empty.
pub fn duplicate_serial(serial: Option<&str>) -> Option<String> {
    serial
        .map(|s| s.trim().to_uppercase())
        .filter(|s| !s.is_empty())
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        parent[rb] = ra;
    }
}

/// Order of agent ids for the "newest wins" tie-break: numerically for all-digit ids (the
/// console's 19-digit ids), else as text.
pub fn agent_id_key(id: &str) -> (bool, usize, &str) {
    let numeric = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    let trimmed = if numeric {
        id.trim_start_matches('0')
    } else {
        id
    };
    (numeric, if numeric { trimmed.len() } else { 0 }, trimmed)
}

/// A MAC address as compared by the rule (upper case, colons), `None` when empty or all zero.
pub fn normalize_mac(mac: &str) -> Option<String> {
    let m = mac.trim().to_ascii_uppercase().replace('-', ":");
    let all_zero = m.bytes().all(|b| b == b'0' || b == b':');
    (!m.is_empty() && !all_zero).then_some(m)
}

/// `duplicate_of` of every row, as an index into `rows` (see the rule on [`crate::Store`]).
pub fn duplicate_links<T: Ord>(rows: &[DuplicateCandidate<T>]) -> Vec<Option<usize>> {
    let mut links = vec![None; rows.len()];
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        if !r.name.is_empty() {
            by_name.entry(r.name.as_str()).or_default().push(i);
        }
    }
    for members in by_name.values().filter(|m| m.len() >= 2) {
        // Union-find over the positions inside this name group.
        let mut parent: Vec<usize> = (0..members.len()).collect();
        let mut by_serial: HashMap<&str, usize> = HashMap::new();
        let mut by_mac: HashMap<String, usize> = HashMap::new();
        let mut no_serial: Option<usize> = None;
        for (pos, &i) in members.iter().enumerate() {
            let r = &rows[i];
            match r.serial.as_deref() {
                Some(serial) => match by_serial.get(serial) {
                    Some(&other) => union(&mut parent, other, pos),
                    None => {
                        by_serial.insert(serial, pos);
                    }
                },
                None => match no_serial {
                    Some(other) => union(&mut parent, other, pos),
                    None => no_serial = Some(pos),
                },
            }
            for mac in r.macs.iter().filter_map(|m| normalize_mac(m)) {
                match by_mac.get(&mac) {
                    Some(&other) => union(&mut parent, other, pos),
                    None => {
                        by_mac.insert(mac, pos);
                    }
                }
            }
        }
        let mut clusters: HashMap<usize, Vec<usize>> = HashMap::new();
        for (pos, &i) in members.iter().enumerate() {
            let root = find(&mut parent, pos);
            clusters.entry(root).or_default().push(i);
        }
        for cluster in clusters.values().filter(|c| c.len() >= 2) {
            let newest = cluster.iter().copied().max_by(|&a, &b| {
                let (ra, rb) = (&rows[a], &rows[b]);
                ra.last_active_at
                    .cmp(&rb.last_active_at)
                    .then_with(|| ra.registered_at.cmp(&rb.registered_at))
                    .then_with(|| agent_id_key(&ra.agent_id).cmp(&agent_id_key(&rb.agent_id)))
            });
            if let Some(newest) = newest {
                for &i in cluster.iter().filter(|&&i| i != newest) {
                    links[i] = Some(newest);
                }
            }
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_agent_ids_compare_by_value() {
        assert!(agent_id_key("10") > agent_id_key("9"));
        assert!(agent_id_key("b") > agent_id_key("a"));
    }

    #[test]
    fn same_serial_links_to_the_newest() {
        let row = |id: &str, serial: &str, active: i32| DuplicateCandidate {
            agent_id: id.to_string(),
            name: duplicate_name(" Host "),
            serial: duplicate_serial(Some(serial)),
            macs: vec!["00:00:00:00:00:00".to_string()],
            last_active_at: Some(active),
            registered_at: None,
        };
        let rows = [row("1", "abc", 1), row("2", "ABC ", 3), row("3", "x", 9)];
        assert_eq!(duplicate_links(&rows), vec![Some(1), None, None]);
    }
}
