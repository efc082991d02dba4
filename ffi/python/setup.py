"""Builds the wheel: cargo builds libsecllama_ffi.so and the secllama-runner executable from
this source tree, and both are copied into the `secllama` package, so an installed package
needs no environment variable.

The cargo profile is `release` unless SECLLAMA_CARGO_PROFILE says otherwise (`dev` reuses a
debug build). Building needs cargo and a C/C++ toolchain (llama.cpp). With SECLLAMA_PREBUILT=1
nothing is built: the files named by SECLLAMA_LIB and SECLLAMA_RUNNER_PATH are packaged (CI,
whose test build already made them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ARTIFACTS = ("libsecllama_ffi.so", "secllama-runner")


def cargo_build() -> Path:
    """Runs cargo and returns the directory holding the artifacts."""
    if not (REPO / "Cargo.toml").is_file() or not (REPO / "ffi" / "Cargo.toml").is_file():
        raise SystemExit(f"secllama: {REPO} is not the SecLlama source tree; build from a checkout")
    profile = os.environ.get("SECLLAMA_CARGO_PROFILE", "release")
    cargo = os.environ.get("CARGO", "cargo")
    subprocess.run(
        [cargo, "build", "--locked", "--profile", profile, "-p", "secllama-ffi", "-p", "secllama-runner"],
        cwd=REPO,
        check=True,
    )
    meta = subprocess.run(
        [cargo, "metadata", "--format-version", "1", "--no-deps"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )
    target = Path(json.loads(meta.stdout)["target_directory"])
    return target / ("debug" if profile in ("dev", "test") else profile)


class BuildWithCargo(build_py):
    """build_py that also puts the cargo artifacts into the package."""

    def run(self) -> None:
        super().run()
        if os.environ.get("SECLLAMA_PREBUILT") == "1":
            sources = [Path(os.environ["SECLLAMA_LIB"]), Path(os.environ["SECLLAMA_RUNNER_PATH"])]
        else:
            out = cargo_build()
            sources = [out / name for name in ARTIFACTS]
        dest = Path(self.build_lib) / "secllama"
        dest.mkdir(parents=True, exist_ok=True)
        for src, name in zip(sources, ARTIFACTS):
            if not src.is_file():
                raise SystemExit(f"secllama: {src} does not exist")
            shutil.copy2(src, dest / name)


class BinaryDistribution(Distribution):
    """The wheel holds native code: tag it for this platform."""

    def has_ext_modules(self) -> bool:
        return True


setup(cmdclass={"build_py": BuildWithCargo}, distclass=BinaryDistribution)
