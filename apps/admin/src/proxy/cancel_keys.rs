//! The cancel keys the proxy hands its clients. A client keeps seeing the server's own process
//! id (it is how libpq and psycopg tell their own NOTIFY messages from others'); only the
//! secret is the proxy's, so that a cancel request must come through the proxy, which passes
//! it on with the server's secret.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct CancelKeys {
    /// (server process id, our secret) → the server's secret.
    keys: Mutex<HashMap<(i32, i32), i32>>,
}

impl CancelKeys {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<(i32, i32), i32>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Our key for the server's `(process_id, secret)`; given back when the guard drops.
    pub fn issue(self: &Arc<Self>, (process_id, server_secret): (i32, i32)) -> IssuedKey {
        let mut table = self.table();
        loop {
            let ours = rand::random::<i32>();
            if let std::collections::hash_map::Entry::Vacant(slot) = table.entry((process_id, ours))
            {
                slot.insert(server_secret);
                return IssuedKey {
                    keys: self.clone(),
                    key: (process_id, ours),
                };
            }
        }
    }

    /// The server's key for one of ours.
    pub fn server_key(&self, process_id: i32, ours: i32) -> Option<(i32, i32)> {
        self.table()
            .get(&(process_id, ours))
            .map(|secret| (process_id, *secret))
    }
}

/// A key in the table for as long as its session lasts, however the session ends.
pub struct IssuedKey {
    keys: Arc<CancelKeys>,
    pub key: (i32, i32),
}

impl Drop for IssuedKey {
    fn drop(&mut self) {
        self.keys.table().remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_maps_to_the_servers_secret_until_its_session_ends() {
        let keys = Arc::new(CancelKeys::default());
        let issued = keys.issue((42, 7));
        let (pid, ours) = issued.key;
        assert_eq!(pid, 42, "the server's process id");
        assert_eq!(keys.server_key(42, ours), Some((42, 7)));
        assert_eq!(
            keys.server_key(42, ours.wrapping_add(1)),
            None,
            "a guessed secret"
        );
        drop(issued);
        assert_eq!(keys.server_key(42, ours), None);
    }
}
