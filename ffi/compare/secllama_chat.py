import secllama

with secllama.Runner() as llm:
    chat = [{"role": "user", "content": "Name a primary color, in one word."}]
    reply = llm.chat(chat, on_piece=lambda p: print(p, end="", flush=True), timeout=300)
    chat += [reply.message, {"role": "user", "content": "And another one?"}]
    for piece in llm.stream(chat, timeout=300):
        print(piece, end="", flush=True)
