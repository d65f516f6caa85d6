#!/bin/sh
# The demo: set-up, build, then the textbook cases one by one, their
# diagrams and step-through pages, your own op, an Elman RNN, an LSTM, an MLP
# and LeNet-5 trained on Fashion-MNIST.
set -eu
cd "$(dirname "$0")/.."
tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j "$(nproc)" > /dev/null
mkdir -p out
for example in one_neuron feedforward_221 alice_gradients train_221 perceptron logistic_regression diagrams \
    backward_page digit_page user_op elman_rnn sequence_lstm residual_model fashion_mnist fashion_cnn; do
    if [ -x "build/$example" ]; then
        printf '\n=== %s ===\n' "$example"
        case $example in
        diagrams) (cd out && ../build/diagrams diagrams) ;;
        backward_page) (cd out && ../build/backward_page pages) ;;
        digit_page) (cd out && ../build/digit_page pages) || true ;; # 77 without Fashion-MNIST
        *) (cd out && "../build/$example") ;;
        esac
    fi
done
printf '\nDiagrams, pages and checkpoints are in out/.\n'
