//! Why a VM does not offer an action: the one rule's refusal (`check`, asked again for its
//! reason only), or the person's role. A disabled button says it; a bulk action counts it.

use crate::{check, Action, Refusal, VmRow};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hold {
    /// The lifecycle rules refuse it now.
    Rule(Refusal),
    /// The rules allow it; the person's Kubernetes role does not.
    Role,
}

impl Hold {
    /// Why `row` does not offer `action`; `None` when it does. The server offered what the rules
    /// and the person's roles allow, so an action not offered that the rule allows is the role's.
    pub fn of(action: Action, row: &VmRow) -> Option<Hold> {
        if row.offers(action) {
            return None;
        }
        Some(match check(action, &row.situation()) {
            Err(refusal) => Hold::Rule(refusal),
            Ok(()) => Hold::Role,
        })
    }
}

/// How many of a bulk action's VMs cannot take it, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkHolds {
    /// The VMs looked at.
    pub total: u32,
    /// Each reason with how many VMs it holds back, most first.
    pub held: Vec<(Hold, u32)>,
}

impl BulkHolds {
    pub fn count<'a>(action: Action, rows: impl IntoIterator<Item = &'a VmRow>) -> BulkHolds {
        let mut holds = BulkHolds::default();
        for row in rows {
            holds.total += 1;
            let Some(hold) = Hold::of(action, row) else {
                continue;
            };
            match holds.held.iter_mut().find(|(h, _)| *h == hold) {
                Some((_, n)) => *n += 1,
                None => holds.held.push((hold, 1)),
            }
        }
        // Most first; equal counts keep the order they were met in.
        holds.held.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        holds
    }

    /// How many cannot take the action.
    pub fn held_count(&self) -> u32 {
        self.held.iter().map(|(_, n)| n).sum()
    }

    /// None of them can.
    pub fn none_can(&self) -> bool {
        self.total > 0 && self.held_count() == self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VmState;

    fn row(name: &str, state: VmState, actions: Vec<Action>) -> VmRow {
        crate::test_row(name, state, actions)
    }

    #[test]
    fn a_bulk_start_counts_the_running_and_the_roles_apart() {
        let rows = [
            row("a", VmState::Running, vec![Action::Stop]),
            row("b", VmState::Running, vec![Action::Stop]),
            row("c", VmState::Stopped, vec![]),
            row("d", VmState::Stopped, vec![Action::Start]),
        ];
        let holds = BulkHolds::count(Action::Start, &rows);
        assert_eq!(holds.total, 4);
        assert_eq!(
            holds.held,
            vec![(Hold::Rule(Refusal::AlreadyRunning), 2), (Hold::Role, 1)]
        );
        assert_eq!(holds.held_count(), 3);
        assert!(!holds.none_can());
        assert!(BulkHolds::count(Action::Start, &rows[..3]).none_can());
        assert!(!BulkHolds::count(Action::Start, []).none_can());
    }
}
