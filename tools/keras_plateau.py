#!/usr/bin/env python3
"""Keras's own ReduceLROnPlateau on given validation losses: the learning
rate after each epoch, as the unit test
`schedule::tests::reduce_on_plateau_waits_for_patience_then_cools_down`
(cnn-runtime/src/schedule.rs) expects it. Each case calls the callback's
`on_epoch_end` with the losses alone, on a model compiled with SGD, and
prints the optimizer's float32 rate after each epoch as a Python float.

Pinned versions, in a venv of its own:

  python3 -m venv /tmp/anchors
  /tmp/anchors/bin/pip install tensorflow-cpu==2.21.0 keras==3.15.1 scipy==1.16.3
  /tmp/anchors/bin/python tools/keras_plateau.py
"""

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402


def rates(losses, lr=1.0, **kwargs):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    callback = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", **kwargs)
    callback.set_model(model)
    callback.on_train_begin()
    out = []
    for epoch, loss in enumerate(losses):
        callback.on_epoch_end(epoch, {"val_loss": loss})
        out.append(float(model.optimizer.learning_rate.numpy()))
    return out


CASES = [
    ("patience 2, cooldown 1, min_lr 0.1",
     [1.0, 0.9, 0.95, 0.92, 0.91, 0.93, 0.94, 0.99, 0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.9],
     dict(factor=0.5, patience=2, cooldown=1, min_lr=0.1)),
    ("a cooldown of 2 on flat losses", [1.0] * 9, dict(factor=0.5, patience=2, cooldown=2)),
    ("gains below float32's resolution", [1.0, 1.0 - 1e-9, 1.0 - 2e-9],
     dict(factor=0.5, patience=1, min_delta=0.0)),
    ("a first loss of NaN", [math.nan, 1.0, 0.5, 0.25, 0.1, 0.0], dict(factor=0.5, patience=5)),
    ("the ResNet example's factor from 1e-3", [1.0, 2.0, 3.0],
     dict(lr=1e-3, factor=math.sqrt(0.1), patience=1, min_lr=0.5e-6)),
    ("tests/training.rs: patience 2, cooldown 2, min_delta 1e9", [1.0] * 7,
     dict(lr=1e-2, factor=0.5, patience=2, cooldown=2, min_delta=1e9)),
]

if __name__ == "__main__":
    for name, losses, kwargs in CASES:
        print(f"{name}: {rates(losses, **kwargs)}")
