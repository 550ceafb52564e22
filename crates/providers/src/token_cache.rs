//! A cached OAuth access token shared by Google TTS and PayPal: callers read
//! it without waiting, and when it is missing or close to expiry exactly one
//! of them refreshes while the others wait for that result.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use secrecy::SecretString;
use tokio::time::Instant;

use crate::error::ProviderError;

/// Refresh this long before the provider's expiry, so a token never expires
/// in the middle of a request (and clock skew does not bite).
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// A fresh token and how long the provider says it lives.
pub(crate) struct Fresh {
    pub token: SecretString,
    pub expires_in: Duration,
}

#[derive(Clone)]
struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

#[derive(Default)]
pub(crate) struct TokenCache {
    current: Mutex<Option<Cached>>,
    /// Held across the refresh request on purpose: it is what makes
    /// concurrent callers share one refresh instead of stampeding the
    /// token endpoint. Nothing else is awaited under it.
    refresh: tokio::sync::Mutex<()>,
}

impl TokenCache {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The cached token, or a new one from `fetch` when it is missing or due.
    pub(crate) async fn get<F, Fut>(&self, fetch: F) -> Result<SecretString, ProviderError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fresh, ProviderError>>,
    {
        if let Some(t) = self.valid() {
            return Ok(t);
        }
        let _guard = self.refresh.lock().await;
        // Someone else may have refreshed while we waited for the lock.
        if let Some(t) = self.valid() {
            return Ok(t);
        }
        let fresh = fetch().await?;
        let refresh_at = Instant::now() + fresh.expires_in.saturating_sub(REFRESH_MARGIN);
        let cached = Cached {
            token: fresh.token,
            refresh_at,
        };
        let token = cached.token.clone();
        *self.lock() = Some(cached);
        Ok(token)
    }

    /// Forgets the token, e.g. after the API answered 401 with it.
    pub(crate) fn invalidate(&self) {
        *self.lock() = None;
    }

    fn valid(&self) -> Option<SecretString> {
        self.lock()
            .as_ref()
            .filter(|c| Instant::now() < c.refresh_at)
            .map(|c| c.token.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Cached>> {
        // The guarded value is replaced whole, so a poisoned lock still holds
        // a consistent value.
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn fresh(secs: u64) -> Fresh {
        Fresh {
            token: SecretString::from("tok"),
            expires_in: Duration::from_secs(secs),
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_refresh() {
        let cache = Arc::new(TokenCache::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get(|| async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        Ok(fresh(3600))
                    })
                    .await
                    .map(|t| t.expose_secret().to_owned())
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), "tok");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_is_refreshed_five_minutes_before_it_expires() {
        let cache = TokenCache::new();
        let calls = AtomicUsize::new(0);
        let fetch = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(fresh(3600))
        };
        cache.get(fetch).await.unwrap();
        tokio::time::advance(Duration::from_secs(3600 - 301)).await;
        cache.get(fetch).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        cache.get(fetch).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_invalidated_token_is_fetched_again() {
        let cache = TokenCache::new();
        let calls = AtomicUsize::new(0);
        let fetch = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(fresh(3600))
        };
        cache.get(fetch).await.unwrap();
        cache.invalidate();
        cache.get(fetch).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
