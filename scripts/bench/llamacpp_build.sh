#!/usr/bin/env bash
# Builds the decode peer (llama.cpp as llama-cpp-python 0.3.36 vendors it) for a machine where `pip install
# llama-cpp-python` cannot run (no network: the GPU hosts) or its native build fails (on the Xeon hosts, a
# GGML_NATIVE build with AMX crashed while loading the vocabulary). Explicit ISA flags instead of -march=native:
# AVX, AVX2, FMA, F16C, BMI2 and, unless AVX512=0, AVX-512 F/CD/VL/DQ/BW, VBMI, VNNI and BF16. On this project's
# Zen 4 such a build decodes and prefills as fast as the natively built wheel, within the machine's noise
# (BENCHMARKS.md, "Session 16 check on an Intel Xeon, 2, 8 and 16 threads").
#
# Usage: scripts/bench/llamacpp_build.sh SDIST.tar.gz OUT_DIR
#   SDIST: `pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36` (76 MB; the vendored llama.cpp's
#   models/ and docs/ can be dropped to carry it). Needs cmake and ninja (`pip install cmake ninja`).
#   OUT_DIR gets lib/ (the shared libraries) and llama_cpp/ (the Python package). Then:
#   PYTHONPATH=OUT_DIR LLAMA_CPP_LIB_PATH=OUT_DIR/lib LD_LIBRARY_PATH=OUT_DIR/lib PEER_PYTHON=python3 scripts/bench/decode.sh
#   (llama_cpp also imports numpy, jinja2, typing_extensions and diskcache.)
set -euo pipefail
SDIST=$(realpath "$1"); OUT=$(mkdir -p "$2" && realpath "$2")
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
tar xzf "$SDIST" -C "$WORK"
SRC=$(echo "$WORK"/llama_cpp_python-*)
avx512=ON; [ "${AVX512:-1}" = 0 ] && avx512=OFF
cmake -S "$SRC/vendor/llama.cpp" -B "$WORK/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
    -DGGML_AVX512=$avx512 -DGGML_AVX512_VBMI=$avx512 -DGGML_AVX512_VNNI=$avx512 -DGGML_AVX512_BF16=$avx512 \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
cmake --build "$WORK/build" --target llama
mkdir -p "$OUT/lib"
cp -a "$WORK"/build/bin/*.so* "$OUT/lib/"
rm -rf "$OUT/llama_cpp" && cp -a "$SRC/llama_cpp" "$OUT/"
echo "built: $OUT/lib ($(ls "$OUT/lib" | tr '\n' ' '))"
