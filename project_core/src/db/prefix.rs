//! Environment prefixes held by open targets, so that two targets open in one process never
//! read each other's variables.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::DbError;

/// Prefixes of targets open in this process, so that two never share one: for each prefix,
/// the target holding it and how many of that target's connections are open.
static OPEN_PREFIXES: Mutex<Option<HashMap<String, (String, usize)>>> = Mutex::new(None);

/// One open connection's hold on its environment prefix, released exactly once, when dropped.
/// The same target may be open more than once (a module's `db()` and a tool's `open`); the
/// prefix is free again only when the last of them is gone.
#[derive(Debug)]
pub(crate) struct PrefixClaim {
    target: String,
    prefix: String,
}

impl PrefixClaim {
    pub(crate) fn claim(target: &str, prefix: &str) -> Result<Self, DbError> {
        let mut guard = OPEN_PREFIXES.lock().unwrap_or_else(|p| p.into_inner());
        let open = guard.get_or_insert_with(HashMap::new);
        match open.get_mut(prefix) {
            Some((first, _)) if first != target => Err(DbError::SharedPrefix {
                first: first.clone(),
                second: target.to_owned(),
                prefix: prefix.to_owned(),
            }),
            Some((_, count)) => {
                *count += 1;
                Ok(Self::held(target, prefix))
            }
            None => {
                open.insert(prefix.to_owned(), (target.to_owned(), 1));
                Ok(Self::held(target, prefix))
            }
        }
    }

    fn held(target: &str, prefix: &str) -> Self {
        Self {
            target: target.to_owned(),
            prefix: prefix.to_owned(),
        }
    }
}

impl Drop for PrefixClaim {
    fn drop(&mut self) {
        let mut guard = OPEN_PREFIXES.lock().unwrap_or_else(|p| p.into_inner());
        let Some(open) = guard.as_mut() else { return };
        if let Some((target, count)) = open.get_mut(&self.prefix)
            && *target == self.target
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.prefix);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_claimed_twice_by_one_target_is_free_only_when_both_claims_are_gone() {
        let prefix = "PROJECT_DB_UNIT_CLAIM_TWICE";
        let first = PrefixClaim::claim("twice", prefix).unwrap();
        let second = PrefixClaim::claim("twice", prefix).unwrap();
        drop(first);
        assert!(
            matches!(
                PrefixClaim::claim("rival", prefix),
                Err(DbError::SharedPrefix { .. })
            ),
            "one claim of two released must not free the prefix"
        );
        drop(second);
        let rival = PrefixClaim::claim("rival", prefix).expect("free once both are gone");
        drop(rival);
        PrefixClaim::claim("twice", prefix).expect("free again");
    }
}
