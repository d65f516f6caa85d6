#!/bin/sh
# Builds tapegrad's core (autograd/ and ops/) and the live page's engine
# (tools/wasm/live.c) for wasm32 with Debian's clang, lld (wasm-ld) and
# wasi-libc: single-threaded (TG_NO_THREADS: the thread pool runs every task
# on the caller), no filesystem (the core opens no file). Then writes the page:
# tools/wasm/live.html with the module inlined as base64, so that it works
# opened from the file system, with no network.
#
#   tools/wasm/build.sh [OUT_DIR]     live.wasm and live.html into OUT_DIR (default build-wasm)
#   tools/wasm/build.sh --docs        the same, then copies live.html to docs/live.html
#
# Exit status 77 when the toolchain is missing (tools/setup.sh installs it:
# clang, lld, wasi-libc, libclang-rt-14-dev-wasm32).
set -eu
cd "$(dirname "$0")/../.."
docs=0
if [ "${1:-}" = "--docs" ]; then
    docs=1
    shift
fi
out=${1:-build-wasm}
cc=${WASM_CC:-clang}
if ! command -v "$cc" > /dev/null || ! command -v wasm-ld > /dev/null; then
    echo "build.sh: clang or wasm-ld (lld) is not installed; tools/setup.sh installs them" >&2
    exit 77
fi
if ! echo 'int main(void){return 0;}' | "$cc" --target=wasm32-wasi -x c - -o /dev/null 2> /dev/null; then
    echo "build.sh: $cc cannot link for wasm32-wasi (wasi-libc and libclang-rt-14-dev-wasm32 missing?);" \
        "tools/setup.sh installs them" >&2
    exit 77
fi
mkdir -p "$out/obj"
flags="--target=wasm32-wasi -std=c11 -Oz -DNDEBUG -DTG_NO_THREADS -fno-math-errno -fvisibility=hidden
       -Wall -Wextra -Wpedantic -Werror -Iinclude -I."
objects=""
for src in autograd/*.c ops/*.c tools/wasm/live.c tools/wasm/live_parse.c tools/wasm/layered_layout.c; do
    obj="$out/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')"
    # shellcheck disable=SC2086
    "$cc" $flags -c "$src" -o "$obj"
    objects="$objects $obj"
done
# A reactor: no main; the page calls _initialize, then the exports.
# shellcheck disable=SC2086
"$cc" --target=wasm32-wasi -mexec-model=reactor -Oz $objects -o "$out/live.wasm" \
    -Wl,--export=live_run -Wl,--export=live_program_buffer -Wl,--export=live_values_buffer \
    -Wl,--export=live_text_max -Wl,--strip-all -Wl,--gc-sections -Wl,-z,stack-size=262144 -lm
size=$(wc -c < "$out/live.wasm")
# The page: the template with the module inlined.
python3 - "$out/live.wasm" tools/wasm/live.html.in "$out/live.html" <<'PY'
import base64, sys
wasm, template, page = sys.argv[1:4]
code = base64.b64encode(open(wasm, "rb").read()).decode()
text = open(template, encoding="utf-8").read()
assert text.count("@LIVE_WASM_BASE64@") == 1
open(page, "w", encoding="utf-8").write(text.replace("@LIVE_WASM_BASE64@", code))
PY
echo "build.sh: $out/live.wasm ($size bytes), $out/live.html"
if [ "$docs" -eq 1 ]; then
    cp "$out/live.html" docs/live.html
    echo "build.sh: docs/live.html updated"
fi
