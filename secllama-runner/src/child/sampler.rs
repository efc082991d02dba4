//! The sampler chain of one request, built from its `GenerationParams`.

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;

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
