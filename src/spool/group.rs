//! Call rows landed in groups: the rows answered while one transaction is
//! being written go into the next, so a burst of calls costs the database
//! one commit per group instead of one per call.

use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{Applied, Inner, Landing, Spool, Write};
use crate::db::Db;

/// The most rows one transaction takes.
const MAX_GROUP: usize = 64;
/// Rows waiting for their group; past this, callers wait to queue.
const QUEUE: usize = 4096;

pub(super) struct Queued {
    write: Write,
    deadline: Instant,
    reply: oneshot::Sender<Landing>,
}

pub(super) type Queue = mpsc::Sender<Queued>;

async fn land_groups(spool: Weak<Inner>, db: Db, mut rows: mpsc::Receiver<Queued>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rows.recv_many(&mut group, MAX_GROUP).await > 0 {
        let Some(inner) = spool.upgrade() else { return };
        Spool { inner }
            .land_group(&db, std::mem::take(&mut group))
            .await;
    }
}

impl Spool {
    /// [`Spool::land`] for a write that may share a transaction with others
    /// of its kind ([`Write::groups`]); any other write lands alone.
    pub async fn land_grouped(&self, db: &Db, deadline: Instant, write: Write) -> Landing {
        if !write.groups() {
            return self.land(db, deadline, write).await;
        }
        let queue = self.inner.group.get_or_init(|| {
            let (queue, rows) = mpsc::channel(QUEUE);
            // The task holds the spool weakly: the queue lives in the spool,
            // and a strong hold would keep both (and the segment's lock)
            // alive after the last handle is gone.
            tokio::spawn(land_groups(Arc::downgrade(&self.inner), db.clone(), rows));
            queue
        });
        let (reply, landing) = oneshot::channel();
        let queued = Queued {
            write: write.clone(),
            deadline,
            reply,
        };
        if queue.send(queued).await.is_ok()
            && let Ok(landing) = landing.await
        {
            return landing;
        }
        // The group task is gone (the runtime is shutting down): alone, then.
        self.land(db, deadline, write).await
    }

    async fn land_group(&self, db: &Db, group: Vec<Queued>) {
        if group.len() > 1 && self.waiting() == 0 {
            let deadline = group.iter().map(|q| q.deadline).min();
            let writes: Vec<&Write> = group.iter().map(|q| &q.write).collect();
            let applied = tokio::time::timeout_at(deadline.unwrap_or_else(Instant::now), async {
                Write::apply_group(db, &writes).await
            })
            .await;
            if let Ok(Ok(())) = applied {
                for q in group {
                    let _ = q.reply.send(Landing::Written(Applied::Updated(true)));
                }
                return;
            }
        }
        // One at a time: a row the database refuses must not take the
        // others with it, and the spool keeps what the database cannot take
        // before each row's own deadline.
        for q in group {
            let landing = self.land(db, q.deadline, q.write).await;
            let _ = q.reply.send(landing);
        }
    }
}
