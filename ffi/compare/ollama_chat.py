import ollama

client = ollama.Client(timeout=300)
chat = [{"role": "user", "content": "Name a primary color, in one word."}]
reply = ""
for chunk in client.chat(model="smollm2-135m-instruct.q4_1", messages=chat, stream=True):
    print(chunk["message"]["content"], end="", flush=True)
    reply += chunk["message"]["content"]
chat += [{"role": "assistant", "content": reply}, {"role": "user", "content": "And another one?"}]
for chunk in client.chat(model="smollm2-135m-instruct.q4_1", messages=chat, stream=True):
    print(chunk["message"]["content"], end="", flush=True)
