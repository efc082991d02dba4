//! Sequence slots: one per request that can run at the same time in the one llama.cpp context.
//! Each slot remembers the tokens whose KV cache it holds, so a new request evaluates only the
//! tokens after the longest common prefix with what a free slot already has (llama.cpp's
//! `cache_prompt`). Pure bookkeeping; the KV cache calls are made by the scheduler.

use std::time::{Duration, Instant};

use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use super::text::TextStream;

/// Where a slot's request stands.
pub(super) enum Phase {
    /// Prompt tokens from `next` on are still to be evaluated.
    Prompt { next: usize },
    /// Generating: `pending` was sampled and still has to be evaluated.
    Generate { pending: LlamaToken },
}

/// A request running in a slot.
pub(super) struct Active {
    pub(super) id: u64,
    pub(super) prompt: Vec<LlamaToken>,
    pub(super) phase: Phase,
    pub(super) sampler: LlamaSampler,
    pub(super) text: TextStream,
    pub(super) max_tokens: u64,
    pub(super) generated: u64,
    /// Prompt tokens actually evaluated (after the reused prefix).
    pub(super) prompt_evaluated: u64,
    pub(super) started: Instant,
    pub(super) prompt_time: Duration,
    pub(super) eval_started: Option<Instant>,
    /// Index of this slot's logits in the batch just decoded.
    pub(super) logits_at: Option<i32>,
}

/// One sequence of the context.
pub(super) struct Slot {
    pub(super) seq: i32,
    /// The tokens whose KV cache this sequence holds, position by position.
    pub(super) cached: Vec<LlamaToken>,
    pub(super) active: Option<Active>,
}

impl Slot {
    pub(super) fn new(seq: i32) -> Self {
        Slot {
            seq,
            cached: Vec::new(),
            active: None,
        }
    }
}

/// Length of the longest common prefix of two token sequences.
pub(super) fn common_prefix<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// How many cached tokens a request for `prompt` may reuse: the common prefix, but at least
/// one prompt token is always evaluated (the first sampled token needs its logits).
pub(super) fn reusable(cached: &[LlamaToken], prompt: &[LlamaToken]) -> usize {
    common_prefix(cached, prompt).min(prompt.len().saturating_sub(1))
}

/// The free slot for `prompt`: the one whose cache shares the longest prefix with it (ties:
/// the lowest index, so an idle runner keeps using slot 0). `None` when every slot is busy.
pub(super) fn choose_slot(slots: &[Slot], prompt: &[LlamaToken]) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (i, slot) in slots.iter().enumerate() {
        if slot.active.is_some() {
            continue;
        }
        let reuse = reusable(&slot.cached, prompt);
        if best.is_none_or(|(_, b)| reuse > b) {
            best = Some((i, reuse));
        }
    }
    best.map(|(i, _)| i)
}

/// Cuts a prompt that does not fit a `context` of tokens from the front, as Ollama does: the
/// first `num_keep` tokens stay (at most half of what is kept), then the end of the prompt, so
/// that the prompt takes `context - min(max_tokens, context / 2)` tokens and leaves room for
/// the answer.
pub(super) fn truncate_front<T: Copy>(
    tokens: Vec<T>,
    context: usize,
    num_keep: usize,
    max_tokens: usize,
) -> Vec<T> {
    let limit = context.saturating_sub(max_tokens.min(context / 2)).max(1);
    if tokens.len() <= limit {
        return tokens;
    }
    let keep = num_keep.min(limit / 2);
    let tail = limit - keep;
    let mut out = Vec::with_capacity(limit);
    out.extend_from_slice(&tokens[..keep]);
    out.extend_from_slice(&tokens[tokens.len() - tail..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(v: &[i32]) -> Vec<LlamaToken> {
        v.iter().map(|&t| LlamaToken::new(t)).collect()
    }

    #[test]
    fn the_common_prefix_stops_at_the_first_difference() {
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2, 4, 5]), 2);
        assert_eq!(common_prefix::<i32>(&[], &[1]), 0);
        assert_eq!(common_prefix(&[1, 2], &[1, 2]), 2);
    }

    #[test]
    fn a_prompt_equal_to_the_cache_still_evaluates_its_last_token() {
        let cached = toks(&[5, 6, 7, 8]);
        assert_eq!(reusable(&cached, &toks(&[5, 6, 7, 8])), 3);
        assert_eq!(reusable(&cached, &toks(&[5, 6, 7, 8, 9, 10])), 4);
        assert_eq!(reusable(&cached, &toks(&[5, 6])), 1);
        assert_eq!(reusable(&cached, &toks(&[9])), 0);
        assert_eq!(reusable(&[], &toks(&[1])), 0);
    }

    #[test]
    fn a_long_prompt_keeps_its_first_num_keep_tokens_and_its_end() {
        let prompt: Vec<u32> = (0..100).collect();
        // Context 40, 8 tokens of answer: 32 prompt tokens, 4 from the start, 28 from the end.
        let cut = truncate_front(prompt.clone(), 40, 4, 8);
        assert_eq!(cut.len(), 32);
        assert_eq!(&cut[..4], &[0, 1, 2, 3]);
        assert_eq!(&cut[4..], &(72..100).collect::<Vec<_>>()[..]);
        // A huge max_tokens still leaves half the context to the prompt; num_keep at most
        // half of that; nothing to cut is left alone.
        let cut = truncate_front(prompt.clone(), 40, usize::MAX, usize::MAX);
        assert_eq!(cut.len(), 20);
        assert_eq!(&cut[..10], &(0..10).collect::<Vec<_>>()[..]);
        assert_eq!(&cut[10..], &(90..100).collect::<Vec<_>>()[..]);
        assert_eq!(truncate_front(prompt.clone(), 400, 4, 8), prompt);
        assert_eq!(truncate_front(vec![1, 2, 3], 1, 0, 0), vec![3]);
    }

    #[test]
    fn the_free_slot_with_the_longest_shared_prefix_is_chosen() {
        let mut slots: Vec<Slot> = (0..3).map(Slot::new).collect();
        slots[1].cached = toks(&[1, 2, 3, 4]);
        slots[2].cached = toks(&[1, 2]);
        assert_eq!(choose_slot(&slots, &toks(&[1, 2, 3, 9])), Some(1));
        assert_eq!(choose_slot(&slots, &toks(&[7])), Some(0));
        slots[0].cached = toks(&[7, 7]);
        assert_eq!(choose_slot(&slots, &toks(&[8])), Some(0));
    }
}
