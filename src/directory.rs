//! The business directory in memory: which business answers each number,
//! with its settings, so call setup never waits on the database.
//!
//! Loaded at start and refreshed every [`REFRESH`] with the rows changed
//! since the last look, so a change made through another instance (or the
//! CLI) is seen within seconds; a change made through this instance goes
//! through [`Directory::update`] and is seen at once. A number the
//! directory does not know is looked up in the database before it is
//! called unknown (a business created elsewhere moments ago), and kept.
//! When the database is away the directory keeps answering with what it
//! last knew: a stale greeting is better than a caller sent to voicemail.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::db::Db;
use crate::db::business::{self, Business, WriteError};
use crate::domain::Timestamp;
use crate::domain::settings::AdminChange;

/// How often the directory asks the database what changed: the most a
/// change made elsewhere stays unseen here.
pub const REFRESH: Duration = Duration::from_secs(2);

/// Rows changed this long before the newest one seen are read again: a
/// change committed late (a slow transaction) or stamped by an instance
/// whose clock runs behind is still picked up.
const OVERLAP_SECS: time::Duration = time::Duration::seconds(60);

/// The businesses by number and by id. Cheap to clone; clones share.
#[derive(Clone, Default)]
pub struct Directory {
    inner: Arc<RwLock<Inner>>,
}

#[derive(Default)]
struct Inner {
    by_phone: HashMap<String, Arc<Business>>,
    by_id: HashMap<i64, Arc<Business>>,
    /// The newest `updated_at` a refresh read; `None` until the first load.
    newest: Option<String>,
}

impl Inner {
    fn put(&mut self, business: Business) -> Arc<Business> {
        // A refresh may have read its rows before an update through this
        // instance committed: the older row must not undo the change.
        // (Stamps are fixed-width UTC text, so they compare as times.)
        if let Some(known) = self.by_id.get(&business.id)
            && known.updated_at > business.updated_at
        {
            return known.clone();
        }
        let business = Arc::new(business);
        if let Some(old) = self.by_id.insert(business.id, business.clone())
            && old.phone_number != business.phone_number
            && self
                .by_phone
                .get(old.phone_number.as_str())
                .is_some_and(|b| b.id == old.id)
        {
            self.by_phone.remove(old.phone_number.as_str());
        }
        self.by_phone
            .insert(business.phone_number.to_string(), business.clone());
        business
    }
}

impl Directory {
    /// The business that owns `phone` (E.164), active or not: from memory,
    /// else from the database. `Err` only when the number is not in memory
    /// and the database did not answer.
    pub async fn by_phone(
        &self,
        db: &Db,
        phone: &str,
    ) -> Result<Option<Arc<Business>>, sqlx::Error> {
        if let Some(b) = self.read().by_phone.get(phone) {
            return Ok(Some(b.clone()));
        }
        Ok(business::find_by_phone(db, phone)
            .await?
            .map(|b| self.write().put(b)))
    }

    /// The business `id`: from memory, else from the database.
    pub async fn by_id(&self, db: &Db, id: i64) -> Result<Option<Arc<Business>>, sqlx::Error> {
        if let Some(b) = self.read().by_id.get(&id) {
            return Ok(Some(b.clone()));
        }
        Ok(business::get(db, id).await?.map(|b| self.write().put(b)))
    }

    /// Applies `change` to business `id` in the database and here at once.
    pub async fn update(
        &self,
        db: &Db,
        id: i64,
        change: &AdminChange,
    ) -> Result<Option<Business>, WriteError> {
        let updated = business::update(db, id, change).await?;
        if let Some(b) = &updated {
            self.write().put(b.clone());
        }
        Ok(updated)
    }

    /// Reads what changed since the last look (everything, the first time).
    /// Returns how many rows were read.
    pub async fn refresh(&self, db: &Db) -> Result<usize, sqlx::Error> {
        let since = self.read().newest.as_deref().and_then(|newest| {
            // A stamp this service did not write reads everything.
            Timestamp::parse(newest)
                .ok()
                .map(|t| t.shifted(-OVERLAP_SECS))
        });
        let changed = business::changed_since(db, since.as_ref()).await?;
        let mut inner = self.write();
        let n = changed.len();
        // Only a refresh moves the mark, never a single lookup: a business
        // read on its own before the first full load must not make that
        // load look done.
        let newest = changed.iter().filter_map(|b| b.updated_at.clone()).max();
        for b in changed {
            inner.put(b);
        }
        inner.newest = match (inner.newest.take(), newest) {
            (Some(old), Some(new)) => Some(old.max(new)),
            (old, new) => old.or(new),
        };
        if inner.newest.is_none() {
            // An empty table: later looks still read only what changes.
            inner.newest = Some(Timestamp::now().to_string());
        }
        Ok(n)
    }

    /// Refreshes every [`REFRESH`] until `stop`. A failed refresh is logged
    /// once per outage; the directory answers from what it knows meanwhile.
    pub async fn refresh_loop(&self, db: Db, stop: CancellationToken) {
        let mut failing = false;
        loop {
            match self.refresh(&db).await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!("business directory refreshed again");
                }
                Ok(_) => {}
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "business directory cannot refresh; calls are answered with the settings last read");
                }
                Err(_) => {}
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(REFRESH) => {}
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}
