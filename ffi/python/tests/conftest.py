import os
import sys
from pathlib import Path

# The package is used from the source tree: no install step.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def default_model() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "secllama" / "models" / "gemma-3-270m-q4_k_m.gguf"
