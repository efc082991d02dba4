#!/usr/bin/env python3
"""Writes the committed seed corpora in fuzz/seeds/<target>/ (deterministic; re-run after a
format change). Seeds only need the right shape: the targets seal what they need themselves."""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
PRIMARY, DISABLED, DESTROYED = 0x11111111, 0x22222222, 0x33333333


def put(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def keyset(entries, primary):
    b = b"SLKS" + bytes([1]) + struct.pack(">IH", primary, len(entries))
    for kid, status, fill, seals in entries:
        b += struct.pack(">IBQQ", kid, status, 1763770000, seals)
        if status != 3:
            b += bytes([fill]) * 32
    return b


fixed = [(PRIMARY, 1, 0x11, 0), (DISABLED, 2, 0x22, 0), (DESTROYED, 3, 0, 0)]

# envelope_open: first byte = length of the associated data, then the envelope.
for kid, name in [(PRIMARY, "primary"), (DISABLED, "disabled"), (DESTROYED, "destroyed"), (7, "unknown")]:
    env = b"\x01" + struct.pack(">I", kid) + bytes(range(12)) + b"hello" + bytes(16)
    put("envelope_open", name, b"\x03aad" + env)
put("envelope_open", "password-envelope", b"\x00\x02" + bytes(48))
put("envelope_open", "empty", b"")

# password_envelope: 0x02 | iterations | salt[16] | nonce[12] | ct | tag[16]
for it, name in [(600_000, "default"), (100_000, "min"), (10_000_000, "max"), (99_999, "below"), (0xFFFFFFFF, "huge")]:
    put("password_envelope", name, b"\x02" + struct.pack(">I", it) + bytes(16) + bytes(12) + b"ct" + bytes(16))
put("password_envelope", "keyset-envelope", b"\x01" + bytes(60))

# keyset_bytes
put("keyset_bytes", "fixed", keyset(fixed, PRIMARY))
put("keyset_bytes", "one-key", keyset([(1, 1, 0xAA, 5)], 1))
put("keyset_bytes", "exhausted", keyset([(9, 1, 0xBB, 1 << 30)], 9))
put("keyset_bytes", "count-max", b"SLKS\x01" + struct.pack(">IH", 1, 0xFFFF))

# keystore_index (every keychain record: key, primary, index, format-1 entries)
put("keystore_index", "index", json.dumps(
    {"format": 1, "primary": 2718281828,
     "keys": [[2718281828, "enabled", 1763770000], [31415, "destroyed", 1763700000]]},
    separators=(",", ":")))
put("keystore_index", "index-three", '{"format":1,"primary":7,"keys":[[3,"destroyed",1],[5,"disabled",2],[7,"enabled",3]]}')
put("keystore_index", "format-3", '{"format":3,"primary":1,"keys":[]}')
put("keystore_index", "v2-key", '{"format":2,"kind":"key","service":"secllama","id":7,"created":1765000000,"status":"enabled","changed":1765000000,"seals":65536,"key":"paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaU="}')
put("keystore_index", "v2-primary", '{"format":2,"kind":"primary","service":"secllama","primary":7,"since":1765000000}')
put("keystore_index", "v2-index", '{"format":2,"kind":"index","service":"secllama","keys":[[7,"enabled",1],[5,"destroyed",2],[3,"destroying",3]]}')
put("keystore_index", "v2-duplicate", '{"format":2,"kind":"primary","service":"secllama","primary":7,"primary":8,"since":1}')
put("keystore_index", "key-entry", "paWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaU=")

# sealed_json: first byte = length of the associated data, then the JSON plaintext.
put("sealed_json", "chat", b"\x00" + json.dumps({"role": "user", "content": "hi \u00e9", "images": ["aGk=", ""]}).encode())
put("sealed_json", "no-images", b"\x02ad" + b'{"role":"assistant","content":"ok"}')
put("sealed_json", "bad-image", b"\x00" + b'{"role":"user","content":"x","images":["!!"]}')

# seatbelt_profile / firewall_rules take structured input (arbitrary); any bytes are a seed.
put("seatbelt_profile", "a", b"/opt/runner\x00/usr/lib\x00\x01/tmp/x\x00\x01\x01")
put("seatbelt_profile", "b", bytes(range(64)))
put("firewall_rules", "a", b"runner-1\x08C:\\SecLlama\\runner.exe\x14Rule Name: SecLlama-runner-1\r\nRegelname: SecLlama-x\n")
put("firewall_rules", "b", bytes(range(64)))

# runner_frame (structured: an enum choosing body / JSON / stream); message JSON as payloads.
msgs = [
    b'{"type":"shutdown"}',
    b'{"type":"cancel","id":1}',
    b'{"type":"complete","id":2,"request":{"prompt":"hi","params":{"max_tokens":8,"temperature":0.0,"top_k":40,"top_p":0.9,"min_p":0.05,"seed":1,"stop":["\\n"],"repeat_penalty":1.1,"repeat_last_n":64}}}',
    b'{"type":"chat","id":3,"request":{"messages":[{"role":"user","content":"hi"}],"params":{"max_tokens":8,"temperature":0.7,"top_k":40,"top_p":0.9,"min_p":0.05,"seed":1,"stop":[],"repeat_penalty":1.1,"repeat_last_n":64}}}',
    b'{"type":"load","model_path":"/m.gguf","sha256":null,"context_length":4096,"batch_size":512,"threads":2,"gpu_layers":0}',
    b'{"type":"token","id":1,"text":"x"}',
    b'{"type":"error","id":null,"kind":"protocol","message":"m"}',
    b'{"type":"embed","id":4,"request":{"inputs":["a cat","a dog"],"truncate":true}}',
    b'{"type":"tokenize","id":5,"text":"<|im_start|>hi","add_special":true,"parse_special":true}',
    b'{"type":"detokenize","id":6,"tokens":[1,2,-1,2147483647]}',
    b'{"type":"complete","id":7,"request":{"prompt":"hi","params":{"max_tokens":8,"temperature":0.0,"top_k":40,"top_p":0.9,"min_p":0.05,"seed":1,"stop":[],"repeat_penalty":1.0,"repeat_last_n":64},"format":{"json_schema":{"type":"object","properties":{"a":{"type":"integer"}}}},"num_keep":4}}',
    b'{"type":"chat","id":8,"request":{"messages":[{"role":"user","content":"hi"}],"params":{"max_tokens":8,"temperature":0.0,"top_k":40,"top_p":0.9,"min_p":0.05,"seed":1,"stop":[],"repeat_penalty":1.0,"repeat_last_n":64},"format":"json","num_keep":0}}',
    b'{"type":"embedding","id":4,"index":1,"vector":[0.6,0.8,-0.0,1e-39]}',
    b'{"type":"tokens","id":5,"tokens":[1,2,3]}',
    b'{"type":"text","id":6,"text":"hi"}',
]
for i, m in enumerate(msgs):
    for variant in range(4):
        put("runner_frame", f"msg{i}-v{variant}", bytes([variant, 0, 0, 0, 1, 0, 3]) + m)
put("runner_frame", "clear-frame", b"\x00\x00\x00\x00\x00\x01\x00\x01" + b"\x00" * 8 + msgs[0])

# output_format: JSON schemas, supported and not.
put("output_format", "object", json.dumps({"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}, "tags": {"type": "array", "items": {"enum": ["a", 1, True, None]}, "minItems": 1, "maxItems": 3}}, "required": ["name"], "additionalProperties": False}).encode())
put("output_format", "nested", json.dumps({"type": "array", "items": {"type": "array", "items": {"type": "object", "properties": {"k\"\n": {"const": "v\\"}}}}}).encode())
put("output_format", "refused", json.dumps({"anyOf": [{"$ref": "#"}], "type": ["string"]}).encode())

# key_message: raw (variant 0) and framed (variant 1) messages.
fixed_ks = keyset(fixed, PRIMARY)
put("key_message", "sealed", b"\x00\x00\x00\x00" + b"SLK1\x01" + struct.pack(">I", len(fixed_ks)) + fixed_ks)
put("key_message", "clear", b"\x00\x00\x00\x00" + b"SLK1\x00\x00\x00\x00\x00")
put("key_message", "framed", b"\x01\x00\x00\x00\x01\x00" + fixed_ks)

# text_assembly: stop strings then token pieces (split characters, invalid bytes).
put("text_assembly", "crab", "END\x00hello E\x00N\x00D tail".encode() + "🦀".encode()[:2])
put("text_assembly", "invalid", b"\xe2\x82\x00a\xffb\x00\xe2\x82")
put("text_assembly", "multibyte-stop", "\u2014end\x00x \xe2\x80".encode("utf-8", "surrogateescape"))

# ffi (structured: an enum choosing the entry point).
put("ffi", "keyset", b"\x00\x00\x00\x00" + fixed_ks)
put("ffi", "open", b"\x01\x00\x00\x00" + b"\x01\x11\x11\x11\x11" + bytes(12) + bytes(20))
put("ffi", "config", b"\x04\x00\x00\x00/m.gguf\x00abc\x00/r\xff")
