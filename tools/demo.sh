#!/bin/sh
# The demo: set-up, build, then the textbook cases one by one, their
# diagrams, and an MLP trained on Fashion-MNIST.
set -eu
cd "$(dirname "$0")/.."
tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j "$(nproc)" > /dev/null
for example in one_neuron feedforward_221 alice_gradients train_221 perceptron logistic_regression diagrams fashion_mnist; do
    if [ -x "build/$example" ]; then
        printf '\n=== %s ===\n' "$example"
        "build/$example"
    fi
done
