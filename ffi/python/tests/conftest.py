import os
import sys
from pathlib import Path

# The package is used from the source tree: no install step.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def default_model() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "secllama" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
