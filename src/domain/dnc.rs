//! Do-not-call lists: one for the whole organisation and one per agent.
//! Numbers are kept in E.164 form, so `+1 (555) 123-4567` and
//! `+15551234567` are the same entry.

use super::AgentId;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Which list an entry is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DncScope {
    /// Never call this number, from any agent.
    Organisation,
    /// Never call this number from this agent.
    Agent(AgentId),
}

impl DncScope {
    pub fn agent(self) -> Option<AgentId> {
        match self {
            DncScope::Organisation => None,
            DncScope::Agent(a) => Some(a),
        }
    }

    /// How the API names the list: `organisation` or the agent's id.
    pub fn name(self) -> String {
        match self {
            DncScope::Organisation => "organisation".to_string(),
            DncScope::Agent(a) => a.to_string(),
        }
    }
}

impl Serialize for DncScope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// The lists in memory, for checks at scheduling and at dial time.
#[derive(Debug, Default, Clone)]
pub struct DncList {
    by_number: HashMap<String, HashSet<DncScope>>,
}

impl DncList {
    pub fn new() -> DncList {
        DncList::default()
    }

    pub fn add(&mut self, number: &str, scope: DncScope) {
        self.by_number
            .entry(number.to_string())
            .or_default()
            .insert(scope);
    }

    /// Remove one entry; false if it was not there.
    pub fn remove(&mut self, number: &str, scope: DncScope) -> bool {
        let Some(scopes) = self.by_number.get_mut(number) else {
            return false;
        };
        let removed = scopes.remove(&scope);
        if scopes.is_empty() {
            self.by_number.remove(number);
        }
        removed
    }

    /// The list that forbids `agent` to call `number`, if any: the
    /// organisation's first, then the agent's own.
    pub fn blocking(&self, number: &str, agent: AgentId) -> Option<DncScope> {
        let scopes = self.by_number.get(number)?;
        [DncScope::Organisation, DncScope::Agent(agent)]
            .into_iter()
            .find(|s| scopes.contains(s))
    }

    /// Every list the number is on, sorted.
    pub fn lists(&self, number: &str) -> Vec<DncScope> {
        let mut v: Vec<DncScope> = self
            .by_number
            .get(number)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        v.sort();
        v
    }

    pub fn len(&self) -> usize {
        self.by_number.values().map(HashSet::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_number.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn organisation_and_agent_lists() {
        let a = AgentId(Uuid::from_u128(1));
        let b = AgentId(Uuid::from_u128(2));
        let mut l = DncList::new();
        l.add("+15551234567", DncScope::Agent(a));
        assert_eq!(l.blocking("+15551234567", a), Some(DncScope::Agent(a)));
        assert_eq!(l.blocking("+15551234567", b), None);
        l.add("+15551234567", DncScope::Organisation);
        assert_eq!(l.blocking("+15551234567", b), Some(DncScope::Organisation));
        assert_eq!(
            l.lists("+15551234567"),
            [DncScope::Organisation, DncScope::Agent(a)]
        );
        assert_eq!(l.len(), 2);
        assert!(l.remove("+15551234567", DncScope::Organisation));
        assert!(!l.remove("+15551234567", DncScope::Organisation));
        assert_eq!(l.blocking("+15551234567", b), None);
        assert!(l.remove("+15551234567", DncScope::Agent(a)));
        assert!(l.is_empty());
    }
}
