#!/bin/sh
# The live page (docs/live.html) in headless chromium: tapegrad built for
# wasm32 by tools/wasm/build.sh gives, for numbers set through the page's
# address, the native library's ∂L/∂w1 and the δ on two edges to 1e-9
# (tests/live_reference.c computes them natively); a value changed through
# its control redraws the diagram (two screenshots differ); errors of the
# expression box point at their character and the page keeps working; the
# page is ready in under a second and the module is under 500 KB.
#
#   tests/live_page.sh SOURCE_DIR BUILD_DIR LIVE_REFERENCE
# Exit 77 (ctest: skipped) without chromium or the wasm toolchain
# (tools/setup.sh installs both).
set -u
src=$1 build=$2 reference=$3
out="$build/wasm"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/tg_live.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
failures=0

if ! command -v chromium > /dev/null; then
    echo "SKIPPED: chromium is not installed (tools/setup.sh installs it)"
    exit 77
fi
"$src/tools/wasm/build.sh" "$out" > "$scratch/build.log" 2>&1
rc=$?
if [ "$rc" -eq 77 ]; then
    echo "SKIPPED: $(tail -n 1 "$scratch/build.log")"
    exit 77
elif [ "$rc" -ne 0 ]; then
    cat "$scratch/build.log"
    echo "FAIL: tools/wasm/build.sh failed"
    exit 1
fi

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
pass() { echo "ok: $*"; }

size=$(wc -c < "$out/live.wasm")
if [ "$size" -lt 512000 ]; then pass "live.wasm is $size bytes (< 500 KB)"; else fail "live.wasm is $size bytes (>= 500 KB)"; fi

# chromium ARGS FRAGMENT OUT: the page with that fragment, DOM or screenshot
chromium_run() {
    (cd "$scratch" && timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$scratch/profile" --window-size=1400,1000 $1 "file://$out/live.html#$2" > "$3" \
        2>> "$scratch/chromium.log")
}

# attribute DOM SELECTOR_REGEX ATTRIBUTE: the attribute of the first tag matching
attribute() {
    grep -o "<[^>]*$2[^>]*>" "$1" | head -n 1 | sed -n "s/.* $3=\"\([^\"]*\)\".*/\1/p"
}

# close NAME PAGE NATIVE: |page - native| <= 1e-9 (and both are numbers)
close() {
    if awk -v a="$2" -v b="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= 1e-9) }'; then
        pass "$1: page $2, native $3"
    else
        fail "$1: page '$2', native '$3' (differ by more than 1e-9)"
    fi
}

native() { "$reference" "$@" > "$scratch/native.txt" || fail "live_reference $*"; }
native_value() { awk -v k="$1 " 'substr($0, 1, length(k)) == k { print substr($0, length(k) + 1) }' "$scratch/native.txt"; }

# ---- Alice's network with edited numbers: ∂L/∂w1 and the δ on two edges ----
values="w1=0.7&w2=-0.3&w3=1.1&b1=0.1&x1=-1.5&x2=0.25&w5=1.3&w6=-0.4&b3=0.2&y=0.8"
native alice $(echo "$values" | tr '&' ' ')
chromium_run --dump-dom "case=alice&$values" "$scratch/alice.html"
dom="$scratch/alice.html"
close "Alice: dL/dw1" "$(attribute "$dom" 'id="grad-w1"' data-exact)" "$(native_value dL/dw1)"
close "Alice: delta on x1 -> w1*x1" "$(attribute "$dom" 'data-from="x1" data-to="w1\*x1"' data-delta)" \
    "$(native_value 'delta x1->w1*x1')"
close "Alice: delta on h1 -> w5*h1" "$(attribute "$dom" 'data-from="h1" data-to="w5\*h1"' data-delta)" \
    "$(native_value 'delta h1->w5*h1')"
close "Alice: L" "$(attribute "$dom" 'data-key="L"' data-value)" "$(native_value L)"
ready=$(attribute "$dom" 'body data-ready' data-ready-ms)
if awk -v t="$ready" 'BEGIN { exit !(t != "" && t + 0 < 1000) }'; then
    pass "the page was ready $ready ms after navigation (< 1000)"
else
    fail "the page was ready after '$ready' ms (want < 1000)"
fi

# ---- the seed case's own numbers, as the page opens ----
native alice
chromium_run --dump-dom "case=alice" "$scratch/seed.html"
close "seed case 3: dL/dw1 (textbook 0.0214695)" "$(attribute "$scratch/seed.html" 'id="grad-w1"' data-exact)" \
    "$(native_value dL/dw1)"
chromium_run --dump-dom "case=neuron" "$scratch/neuron.html"
y=$(attribute "$scratch/neuron.html" 'data-key="y"' data-value)
close "seed case 1: sigma(7)" "$y" "$(awk 'BEGIN { printf "%.17g", 1 / (1 + exp(-7)) }')"

# ---- a value used twice: two contributions, summed by the library ----
native shared w1=0.7 b=-0.2
chromium_run --dump-dom "case=expr&w1=0.7&b=-0.2" "$scratch/shared.html"
dom="$scratch/shared.html"
close "shared: delta on w1 -> w1*x1" "$(attribute "$dom" 'data-from="w1" data-to="w1\*x1"' data-delta)" \
    "$(native_value 'delta w1->w1*x1')"
close "shared: delta on w1 -> w1^2" "$(attribute "$dom" 'data-from="w1" data-to="w1^2"' data-delta)" \
    "$(native_value 'delta w1->w1^2')"
close "shared: the sum shown in the accumulation view" "$(attribute "$dom" 'class="sum"' data-exact)" \
    "$(native_value dL/dw1)"
close "shared: dL/dw1" "$(attribute "$dom" 'id="grad-w1"' data-exact)" "$(native_value dL/dw1)"

# ---- errors point at their character; the page keeps working ----
# expect_error NAME FRAGMENT MESSAGE_PART CARET_POSITION
expect_error() {
    chromium_run --dump-dom "$2" "$scratch/error.html"
    message=$(grep -o '<span id="error-message">[^<]*' "$scratch/error.html" | sed 's/.*>//')
    caret=$(attribute "$scratch/error.html" 'id="caret"' data-pos)
    case "$message" in
    *"$3"*) if [ "$caret" = "$4" ]; then pass "$1: \"$message\" at character $caret"; else fail "$1: caret at '$caret', want $4"; fi ;;
    *) fail "$1: message '$message' does not say '$3'" ;;
    esac
}
expect_error "unclosed parenthesis" "expr=L%20%3D%20(a%20%2B%20b" "expected ')'" 10
expect_error "unknown function" "expr=L%20%3D%20a%20*%20foo(b)" "unknown function 'foo'" 8
expect_error "log of a negative number" "expr=L%20%3D%20a%20*%20log(b)&b=-1" "log produced NaN" 8
expect_error "division by zero" "expr=L%20%3D%20a%20%2F%20(b%20-%201)&b=1" "div produced +Inf" 4
big=$(awk 'BEGIN { s = "a"; for (i = 0; i < 44; i++) s = s "%20*%20a"; print s }') # 45 nodes
expect_error "a graph over 40 nodes" "expr=L%20%3D%20$big" "more than 40 nodes" 4
# the same log, then b set to 2 through its field: no error, the library's gradient
chromium_run --dump-dom "expr=L%20%3D%20a%20*%20log(b)&b=-1&a=3&edit=b:2" "$scratch/recovered.html"
if grep -q 'id="error" style="display: none' "$scratch/recovered.html"; then
    pass "after the error, setting b = 2 clears it"
else
    fail "the error is still shown after b = 2"
fi
close "after the error: dL/db = a/b" "$(attribute "$scratch/recovered.html" 'id="grad-b"' data-exact)" 1.5

# ---- the diagram redraws after a change made through a control ----
chromium_run "--screenshot=$scratch/before.png" "case=alice" /dev/null
chromium_run "--screenshot=$scratch/after.png" "case=alice&edit=w5:-3" /dev/null
chromium_run --dump-dom "case=alice&edit=w5:-3" "$scratch/after.html"
renders=$(attribute "$scratch/after.html" 'body data-ready' data-renders)
if [ "$renders" = 2 ]; then pass "the edit ran the library a second time"; else fail "renders: '$renders', want 2"; fi
if [ -s "$scratch/before.png" ] && [ -s "$scratch/after.png" ] && ! cmp -s "$scratch/before.png" "$scratch/after.png"; then
    pass "the screenshot after w5 = -3 differs from the one before"
else
    fail "the screenshots before and after the change are the same (or missing)"
fi
w5_edge=$(attribute "$scratch/after.html" 'data-from="h1" data-to="w5\*h1"' data-local)
close "after the change, the edge h1 -> w5*h1 carries the new local derivative" "$w5_edge" -3

if [ "$failures" -gt 0 ]; then
    echo "$failures check(s) failed; chromium's log:"
    tail -n 5 "$scratch/chromium.log"
    exit 1
fi
echo "all checks passed"
