//! The sampler chain of one request, built from its `GenerationParams`, and the candidate
//! buffer every slot's chain picks from.

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;

use crate::api::GenerationParams;

/// The chain: repeat penalty, then the output-format grammar (so only tokens that keep the
/// output valid remain), then greedy or the filters and the random pick.
pub(super) fn build_sampler(
    model: &LlamaModel,
    params: &GenerationParams,
    grammar: Option<LlamaSampler>,
) -> LlamaSampler {
    let mut chain = Vec::new();
    if (params.repeat_penalty - 1.0).abs() > f32::EPSILON {
        chain.push(LlamaSampler::penalties(
            model.n_vocab(),
            i32::try_from(params.repeat_last_n).unwrap_or(64),
            params.repeat_penalty,
            0.0,
            0.0,
        ));
    }
    chain.extend(grammar);
    if params.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        if params.top_k > 0 {
            chain.push(LlamaSampler::top_k(
                i32::try_from(params.top_k).unwrap_or(40),
            ));
        }
        if params.top_p < 1.0 {
            chain.push(LlamaSampler::top_p(params.top_p, 1));
        }
        if params.min_p > 0.0 {
            chain.push(LlamaSampler::min_p(params.min_p, 1));
        }
        chain.push(LlamaSampler::temp(params.temperature));
        chain.push(LlamaSampler::dist(params.seed));
    }
    LlamaSampler::chain_simple(chain)
}

/// The candidates of one pick: an entry (token, logit) per vocabulary token, refilled from the
/// logits for each pick. One buffer serves every slot, since slots are sampled one after
/// another. (llama.cpp's own `llama_sampler_sample` keeps such a buffer inside each chain: 12
/// bytes per vocabulary token, 576 KiB for a 49k vocabulary, for every request in flight.)
pub(super) struct Candidates(Vec<LlamaTokenData>);

impl Candidates {
    pub(super) fn new() -> Self {
        Candidates(Vec::new())
    }

    /// Runs `sampler` over the logits of batch row `row` and accepts its pick (as
    /// `llama_sampler_sample` does). `None` if the chain selected no token.
    pub(super) fn pick(
        &mut self,
        sampler: &mut LlamaSampler,
        ctx: &LlamaContext<'_>,
        row: i32,
    ) -> Option<LlamaToken> {
        let mut data = std::mem::take(&mut self.0);
        data.clear();
        data.extend(
            ctx.get_logits_ith(row)
                .iter()
                .zip(0..)
                .map(|(&logit, id)| LlamaTokenData::new(LlamaToken(id), logit, 0.0)),
        );
        let mut array = LlamaTokenDataArray::new(data, false);
        sampler.apply(&mut array);
        let token = array.selected_token();
        self.0 = array.data;
        if let Some(token) = token {
            sampler.accept(token);
        }
        token
    }
}
