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

/// One token of the next batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Planned {
    pub(super) slot: usize,
    pub(super) token: LlamaToken,
    /// Its position in the slot's sequence.
    pub(super) pos: usize,
    /// Whether the decode must produce its logits (a token will be sampled from them).
    pub(super) logits: bool,
}

/// What one step decodes, in one batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Plan {
    pub(super) tokens: Vec<Planned>,
    /// Generating slots whose sequence is full: they end (`ContextFull`) instead.
    pub(super) full: Vec<usize>,
}

/// The next batch, at most `cap` tokens: first the pending token of every generating slot
/// (one each, so every stream advances by one token per decode), then the prompt tokens of
/// slots still evaluating their prompt, in slot order, as many as fit; logits only where a
/// token will be sampled (a pending token, a prompt's last token).
pub(super) fn plan_step(slots: &[Slot], cap: usize, seq_context: usize) -> Plan {
    let mut plan = Plan::default();
    for (i, slot) in slots.iter().enumerate() {
        let Some(Phase::Generate { pending }) = slot.active.as_ref().map(|a| &a.phase) else {
            continue;
        };
        if slot.cached.len() >= seq_context {
            plan.full.push(i);
        } else if plan.tokens.len() < cap {
            plan.tokens.push(Planned {
                slot: i,
                token: *pending,
                pos: slot.cached.len(),
                logits: true,
            });
        }
    }
    for (i, slot) in slots.iter().enumerate() {
        let Some(active) = slot.active.as_ref() else {
            continue;
        };
        let Phase::Prompt { next } = active.phase else {
            continue;
        };
        let take = cap
            .saturating_sub(plan.tokens.len())
            .min(active.prompt.len().saturating_sub(next));
        for j in next..next + take {
            plan.tokens.push(Planned {
                slot: i,
                token: active.prompt[j],
                pos: j,
                logits: j + 1 == active.prompt.len(),
            });
        }
    }
    plan
}

/// Records that the plan's tokens are now in their slots' caches (after a successful decode);
/// returns the slots that evaluated prompt tokens.
pub(super) fn commit(slots: &mut [Slot], plan: &Plan) -> Vec<usize> {
    let mut prompt_slots: Vec<usize> = Vec::new();
    for p in &plan.tokens {
        let slot = &mut slots[p.slot];
        slot.cached.push(p.token);
        if let Some(active) = slot.active.as_mut()
            && let Phase::Prompt { next } = active.phase
        {
            active.phase = Phase::Prompt { next: next + 1 };
            active.prompt_evaluated += 1;
            if !prompt_slots.contains(&p.slot) {
                prompt_slots.push(p.slot);
            }
        }
    }
    prompt_slots
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

    fn running(seq: i32, prompt: &[i32], next: usize) -> Slot {
        let mut slot = Slot::new(seq);
        slot.cached = toks(&prompt[..next]);
        slot.active = Some(Active {
            id: u64::try_from(seq).unwrap(),
            prompt: toks(prompt),
            phase: Phase::Prompt { next },
            sampler: LlamaSampler::greedy(),
            text: TextStream::new(Vec::new()),
            max_tokens: 16,
            generated: 0,
            prompt_evaluated: 0,
            started: Instant::now(),
            prompt_time: Duration::ZERO,
            eval_started: None,
            logits_at: None,
        });
        slot
    }

    /// What sampling does to a slot whose logits were decoded: a token becomes pending.
    fn sampled(slot: &mut Slot, token: i32) {
        let active = slot.active.as_mut().unwrap();
        active.phase = Phase::Generate {
            pending: LlamaToken::new(token),
        };
        active.generated += 1;
    }

    #[test]
    fn four_streams_advance_together_one_decode_per_token() {
        // Four prompts of different lengths, 16 tokens each: the first decode evaluates every
        // prompt, then each decode carries one token of every stream — 16 decodes, not 64.
        let prompts: [&[i32]; 4] = [&[1, 2, 3, 4, 5], &[1, 7], &[9, 9, 9], &[4; 40]];
        let mut slots: Vec<Slot> = (0..4).map(|s| running(s, prompts[s as usize], 0)).collect();
        let mut decodes = 0;
        let mut batch_sizes = Vec::new();
        while slots.iter().any(|s| s.active.is_some()) {
            let plan = plan_step(&slots, 512, 256);
            assert!(plan.full.is_empty());
            decodes += 1;
            batch_sizes.push(plan.tokens.len());
            commit(&mut slots, &plan);
            for p in plan.tokens.iter().filter(|p| p.logits) {
                let slot = &mut slots[p.slot];
                sampled(slot, 100 + decodes);
                if slot.active.as_ref().unwrap().generated == 16 {
                    slot.active = None;
                }
            }
        }
        assert_eq!(decodes, 16);
        assert_eq!(batch_sizes[0], 5 + 2 + 3 + 40);
        assert!(batch_sizes[1..].iter().all(|&n| n == 4), "{batch_sizes:?}");
        // Every sequence holds its prompt and the 15 tokens fed back (the 16th is not).
        for (s, slot) in slots.iter().enumerate() {
            assert_eq!(slot.cached.len(), prompts[s].len() + 15);
        }
    }

    #[test]
    fn pending_tokens_go_first_and_a_long_prompt_fills_the_rest_of_the_batch() {
        let long: Vec<i32> = (0..1000).collect();
        let mut slots = vec![
            running(0, &[1, 2], 2),
            running(1, &long, 0),
            running(2, &[5, 6, 7], 3),
        ];
        sampled(&mut slots[0], 50);
        sampled(&mut slots[2], 60);
        let plan = plan_step(&slots, 512, 2048);
        assert_eq!(plan.tokens.len(), 512);
        assert_eq!(
            plan.tokens[..2],
            [
                Planned {
                    slot: 0,
                    token: LlamaToken::new(50),
                    pos: 2,
                    logits: true
                },
                Planned {
                    slot: 2,
                    token: LlamaToken::new(60),
                    pos: 3,
                    logits: true
                },
            ]
        );
        // 510 prompt tokens, none sampled from: the prompt's last token comes later.
        assert!(plan.tokens[2..].iter().all(|p| p.slot == 1 && !p.logits));
        assert_eq!(plan.tokens[511].pos, 509);
        assert_eq!(commit(&mut slots, &plan), vec![1]);
        let active = slots[1].active.as_ref().unwrap();
        assert!(matches!(active.phase, Phase::Prompt { next: 510 }));
        assert_eq!(active.prompt_evaluated, 510);
        assert_eq!(slots[1].cached.len(), 510);
        assert_eq!(slots[0].cached, toks(&[1, 2, 50]));

        // The next step ends the prompt with logits on its last token.
        let plan = plan_step(&slots, 512, 2048);
        let last = plan.tokens.last().unwrap();
        assert_eq!((last.slot, last.pos, last.logits), (1, 999, true));
        assert_eq!(plan.tokens.len(), 2 + 490);
    }

    #[test]
    fn a_generating_slot_whose_sequence_is_full_is_ended_not_decoded() {
        let mut slots = vec![running(0, &[1, 2, 3, 4], 4), running(1, &[1, 2], 2)];
        sampled(&mut slots[0], 9);
        sampled(&mut slots[1], 9);
        let plan = plan_step(&slots, 512, 4);
        assert_eq!(plan.full, vec![0]);
        assert_eq!(plan.tokens.len(), 1);
        assert_eq!(plan.tokens[0].slot, 1);
        // A batch with room for one token: the other pending token waits for the next step.
        let plan = plan_step(&slots, 1, 8);
        assert!(plan.full.is_empty());
        assert_eq!(plan.tokens.len(), 1);
        assert_eq!(plan.tokens[0].slot, 0);
    }

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
