"""`secllama serve --gpu-layers 99` with the Vulkan runner: a generation through /api/generate,
then /api/ps must say the model runs on lavapipe through Vulkan with layers offloaded.

    python3 .ci/vulkan-serve-check.py SECLLAMA_BINARY

The environment names the runner (SECLLAMA_RUNNER_PATH) and the device (GGML_VK_VISIBLE_DEVICES).
Loopback only.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

TOKEN = "vulkan-check-token-0123456789"


def main() -> int:
    secllama = sys.argv[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as models:
        env = dict(os.environ, SECLLAMA_API_TOKEN=TOKEN, SECLLAMA_MODELS=models)
        env.pop("SECLLAMA_HOST", None)
        server = subprocess.Popen(
            [secllama, "serve", "--listen", f"127.0.0.1:{port}", "--gpu-layers", "99",
             "--threads", "2", "--context-length", "256", "--parallel", "1"],
            env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            banner = ""
            while "serving" not in banner:
                line = server.stderr.readline()
                if not line:
                    print(f"secllama serve ended before serving:\n{banner}", file=sys.stderr)
                    return 1
                banner += line

            def call(path: str, body: dict | None = None) -> dict:
                data = None if body is None else json.dumps(body).encode()
                req = urllib.request.Request(base + path, data=data, headers={
                    "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=300) as r:
                        return json.load(r)
                except urllib.error.HTTPError as e:
                    raise SystemExit(f"{path}: HTTP {e.code}: {e.read().decode(errors='replace')}")

            model = call("/api/tags")["models"][0]["name"]
            answer = call("/api/generate", {
                "model": model, "prompt": "The capital of France is",
                "raw": True, "stream": False, "options": {"temperature": 0, "num_predict": 4}})
            ps = call("/api/ps")
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    loaded = ps["models"][0]["secllama"]
    print(f"/api/generate: {answer['response']!r}; /api/ps: backend {loaded['backend']}, "
          f"device {loaded['device']}, {loaded['gpu_layers']} layers offloaded", file=sys.stderr)
    ok = (loaded["backend"] == "Vulkan" and loaded["device"].startswith("llvmpipe")
          and loaded["gpu_layers"] > 0 and loaded["sandbox"] == "enforced"
          and answer["eval_count"] > 0)
    if not ok:
        print(f"/api/ps does not show a Vulkan model in an enforced sandbox: {ps}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
