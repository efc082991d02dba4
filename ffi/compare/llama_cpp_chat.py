from llama_cpp import Llama

llm = Llama(model_path="SmolLM2-135M-Instruct.Q4_1.gguf", verbose=False)
chat = [{"role": "user", "content": "Name a primary color, in one word."}]
reply = ""
for chunk in llm.create_chat_completion(messages=chat, stream=True):
    piece = chunk["choices"][0]["delta"].get("content", "")
    print(piece, end="", flush=True)
    reply += piece
chat += [{"role": "assistant", "content": reply}, {"role": "user", "content": "And another one?"}]
for chunk in llm.create_chat_completion(messages=chat, stream=True):
    print(chunk["choices"][0]["delta"].get("content", ""), end="", flush=True)
