//! A [`ChatModel`] wrapper that answers repeated requests from the response cache.

use std::sync::Arc;

use crate::cache::ResponseCache;
use crate::types::{ChatModel, ChatRequest, ChatResponse, ModelError};

pub struct Cached {
    inner: Arc<dyn ChatModel>,
    cache: ResponseCache,
    /// What the key is computed over besides the request (the client's name plus
    /// anything else that changes answers, e.g. the inference library's version).
    identity: String,
}

impl Cached {
    pub fn new(inner: Arc<dyn ChatModel>, cache: ResponseCache, identity: String) -> Self {
        Cached {
            inner,
            cache,
            identity,
        }
    }
}

#[async_trait::async_trait]
impl ChatModel for Cached {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn chat(&self, req: &ChatRequest) -> Result<ChatResponse, ModelError> {
        let key = ResponseCache::key(&self.identity, req);
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit);
        }
        let resp = self.inner.chat(req).await?;
        // A cache that cannot be written must not fail the call that already succeeded.
        let _ = self.cache.put(&key, &resp);
        Ok(resp)
    }
}
