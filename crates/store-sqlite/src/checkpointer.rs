//! Background WAL checkpoints.
//!
//! In WAL mode every commit appends pages to the `-wal` file, and a *checkpoint* copies them
//! back into the database file. SQLite's automatic checkpoint runs inside the commit that crosses
//! the threshold, on the writer's thread: during a findings pass that was a fifth of the single
//! writer's time, the one resource every sync waits on. The checkpointer runs the copy on its own
//! thread and connection instead, woken after writes (`PASSIVE`: it never blocks the writer or a
//! reader, and copies what it can). The writer keeps a far larger automatic threshold as a
//! backstop, so the WAL stays bounded even if this thread falls behind.

use std::path::Path;
use std::sync::Mutex;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags};

/// The writer's own automatic checkpoint threshold (pages) while a checkpointer runs: 1 GiB of
/// WAL with 4 KiB pages.
pub(crate) const WRITER_BACKSTOP_PAGES: i64 = 262_144;

pub(crate) struct Checkpointer {
    wake: Mutex<Option<SyncSender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    /// Start the checkpoint thread for the database at `path`. `None` (and a debug log) when its
    /// connection cannot be opened: the writer's automatic checkpoints still work.
    pub(crate) fn start(path: &Path) -> Option<Checkpointer> {
        let conn = match Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| c.busy_timeout(super::BUSY_TIMEOUT).map(|()| c))
        {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "no background checkpointer; the writer checkpoints");
                return None;
            }
        };
        // One pending wake-up is enough: writes that happen while a checkpoint runs are copied
        // by the next one.
        let (wake, rx) = sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("s1bridge-checkpoint".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                        r.get::<_, i64>(0)
                    }) {
                        tracing::debug!(error = %e, "background checkpoint failed; retried on the next write");
                    }
                }
            })
            .ok()?;
        Some(Checkpointer {
            wake: Mutex::new(Some(wake)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Ask for a checkpoint (never blocks; coalesces with one already asked for).
    pub(crate) fn wake(&self) {
        if let Ok(guard) = self.wake.lock()
            && let Some(tx) = guard.as_ref()
        {
            match tx.try_send(()) {
                Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Closing the channel ends the thread after its current checkpoint.
        if let Ok(mut guard) = self.wake.lock() {
            guard.take();
        }
        if let Ok(mut guard) = self.thread.lock()
            && let Some(t) = guard.take()
        {
            let _ = t.join();
        }
    }
}
