package secllama

/*
#include <stdlib.h>
#include "secllama.h"
*/
import "C"

import "unsafe"

// Limits of Embed, Tokenize and Detokenize (the header's SECLLAMA_MAX_*).
const (
	MaxEmbedInputs      = C.SECLLAMA_MAX_EMBED_INPUTS
	MaxTokenizeBytes    = C.SECLLAMA_MAX_TOKENIZE_BYTES
	MaxDetokenizeTokens = C.SECLLAMA_MAX_DETOKENIZE_TOKENS
	MaxDetokenizeBytes  = C.SECLLAMA_MAX_DETOKENIZE_BYTES
)

// Embed returns one unit-length vector per text (576 floats for the default model), in
// order, like Ollama's /api/embed. At most MaxEmbedInputs texts, none empty, together at most
// 2 MiB. A text over the context is cut when truncate is true, and refused
// (ErrRunnerPromptTooLong) otherwise. It may run while other goroutines run requests.
func (r *Runner) Embed(texts []string, truncate bool) ([][]float32, error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	defer r.exit()
	list, err := newCStrings(texts)
	if err != nil {
		return nil, err
	}
	defer list.free()
	var out C.secllama_embeddings
	err = call(func() C.secllama_status {
		return C.secllama_runner_embed(r.ptr, list.ptr(), C.size_t(len(texts)), C.bool(truncate), &out)
	})
	defer C.secllama_embeddings_free(&out)
	if err != nil {
		return nil, err
	}
	n, d := int(out.count), int(out.dimensions)
	flat := unsafe.Slice((*float32)(unsafe.Pointer(out.data)), n*d)
	vectors := make([][]float32, n)
	for i := range vectors {
		vectors[i] = append([]float32(nil), flat[i*d:(i+1)*d]...)
	}
	return vectors, nil
}

// Tokenize returns the model's token ids for text (at most MaxTokenizeBytes bytes of UTF-8):
// addSpecial adds the start-of-sequence token, parseSpecial reads spellings like
// <|im_start|> as special tokens.
func (r *Runner) Tokenize(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	defer r.exit()
	ct, err := cString(text)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(ct))
	var out C.secllama_tokens
	err = call(func() C.secllama_status {
		return C.secllama_runner_tokenize(r.ptr, ct, C.bool(addSpecial), C.bool(parseSpecial), &out)
	})
	defer C.secllama_tokens_free(&out)
	if err != nil {
		return nil, err
	}
	return append([]int32{}, unsafe.Slice((*int32)(unsafe.Pointer(out.ptr)), int(out.len))...), nil
}

// Detokenize returns the text of tokens (at most MaxDetokenizeTokens, each in the vocabulary;
// a text of at most MaxDetokenizeBytes bytes).
func (r *Runner) Detokenize(tokens []int32) (string, error) {
	if err := r.enter(); err != nil {
		return "", err
	}
	defer r.exit()
	var ptr *C.int32_t
	if len(tokens) > 0 {
		// int32 values hold no pointers: C may read the Go slice during the call.
		ptr = (*C.int32_t)(unsafe.Pointer(&tokens[0]))
	}
	var out C.secllama_buf
	if err := call(func() C.secllama_status {
		return C.secllama_runner_detokenize(r.ptr, ptr, C.size_t(len(tokens)), &out)
	}); err != nil {
		return "", err
	}
	return string(takeBuf(&out)), nil
}

// ContextLength is the number of tokens one request may use (one slot's context).
func (r *Runner) ContextLength() (uint32, error) {
	if err := r.enter(); err != nil {
		return 0, err
	}
	defer r.exit()
	var n C.uint32_t
	err := call(func() C.secllama_status { return C.secllama_runner_context_length(r.ptr, &n) })
	return uint32(n), err
}
