// C side of the Go callbacks: the library calls these, they call the exported Go functions.
// user_data carries a runtime/cgo.Handle, never a Go pointer.
#include <stdint.h>
#include "_cgo_export.h"

int32_t secllama_go_piece_trampoline(void *user_data, const char *piece, size_t piece_len) {
    return secllamaGoPiece((uintptr_t)user_data, (char *)piece, piece_len);
}

void *secllama_go_handle_ptr(uintptr_t handle) { return (void *)handle; }

void secllama_go_progress_trampoline(void *user_data, secllama_load_stage stage, float fraction) {
    secllamaGoProgress((uintptr_t)user_data, stage, fraction);
}
