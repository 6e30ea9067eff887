//! Token usage, normalised across providers.
//!
//! Conventions (every provider converts into these, so nothing is counted twice):
//! - `input` is every prompt token, cached ones included (OpenAI's `prompt_tokens`;
//!   Anthropic's `input_tokens + cache_read + cache_creation`).
//! - `cache_read` and `cache_write` are the parts of `input` read from or written to a cache.
//! - `output` is every generated token, reasoning included; `reasoning` is the part of `output`
//!   spent thinking.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub reasoning: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input.saturating_add(self.output)
    }

    /// Input tokens billed at the plain input rate (neither read from nor written to a cache).
    pub fn uncached_input(&self) -> u64 {
        self.input
            .saturating_sub(self.cache_read)
            .saturating_sub(self.cache_write)
    }

    /// Output tokens that are not reasoning tokens.
    pub fn visible_output(&self) -> u64 {
        self.output.saturating_sub(self.reasoning)
    }

    /// Field-wise maximum: streams report usage in pieces (Anthropic's `message_start` has the
    /// input, `message_delta` the output) and a later event never means "fewer tokens".
    pub fn merge_max(&mut self, other: &Usage) {
        self.input = self.input.max(other.input);
        self.output = self.output.max(other.output);
        self.cache_read = self.cache_read.max(other.cache_read);
        self.cache_write = self.cache_write.max(other.cache_write);
        self.reasoning = self.reasoning.max(other.reasoning);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncached_input_never_underflows() {
        let u = Usage {
            input: 10,
            cache_read: 8,
            cache_write: 5,
            ..Usage::default()
        };
        assert_eq!(u.uncached_input(), 0);
    }

    #[test]
    fn merge_keeps_both_halves() {
        let mut u = Usage {
            input: 25,
            output: 1,
            ..Usage::default()
        };
        u.merge_max(&Usage {
            output: 15,
            ..Usage::default()
        });
        assert_eq!((u.input, u.output, u.total()), (25, 15, 40));
    }
}
