#!/usr/bin/env python3
"""Keras's own cifar10_resnet.py (ResNet-20 v1), run on the same data as
`cargo run --release --example cifar10_resnet`, to put its curve beside ours.

The recipe is the example's: x / 255 less the training set's mean image,
ResNet-20 v1 (he_normal, l2(1e-4), BatchNormalization, 1x1 strided projection
shortcuts, AveragePooling2D(8), softmax Dense), Adam(lr_schedule(0)),
LearningRateScheduler(lr_schedule) and ReduceLROnPlateau(factor=sqrt(0.1),
cooldown=0, patience=5, min_lr=0.5e-6), batch 32, and the example's
ImageDataGenerator(width_shift_range=0.1, height_shift_range=0.1,
horizontal_flip=True), from Keras's legacy module. The example's
ModelCheckpoint (the best epoch by test accuracy) is left out. Every epoch's
test accuracy and the time so far go to --csv.

Pinned versions, in a venv of its own:

  python3 -m venv /tmp/anchors
  /tmp/anchors/bin/pip install tensorflow-cpu==2.21.0 keras==3.15.1 scipy==1.16.3
  /tmp/anchors/bin/python tools/keras_cifar10_resnet.py --data DIR/cifar-10-batches-bin --epochs 10 --csv keras_resnet.csv
"""
import argparse, csv, os, time

p = argparse.ArgumentParser()
p.add_argument("--data", required=True, help="the folder of CIFAR-10's binary batch files")
p.add_argument("--epochs", type=int, default=10)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--csv", required=True)
a = p.parse_args()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))

import numpy as np
import tensorflow as tf
import keras
from keras import layers
from keras.regularizers import l2

tf.config.threading.set_intra_op_parallelism_threads(a.threads)
tf.config.threading.set_inter_op_parallelism_threads(a.threads)
keras.utils.set_random_seed(a.seed)


def load(path):
    rec = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)
    return rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), rec[:, 0]


parts = [load(f"{a.data}/data_batch_{i}.bin") for i in range(1, 6)]
x_train = np.concatenate([x for x, _ in parts]).astype("float32") / 255.0
y_train = keras.utils.to_categorical(np.concatenate([y for _, y in parts]), 10)
x_test, y_test = load(f"{a.data}/test_batch.bin")
x_test = x_test.astype("float32") / 255.0
y_test = keras.utils.to_categorical(y_test, 10)
x_train_mean = np.mean(x_train, axis=0)
x_train -= x_train_mean
x_test -= x_train_mean


def lr_schedule(epoch):
    lr = 1e-3
    if epoch > 180:
        lr *= 0.5e-3
    elif epoch > 160:
        lr *= 1e-3
    elif epoch > 120:
        lr *= 1e-2
    elif epoch > 80:
        lr *= 1e-1
    return lr


def resnet_layer(inputs, num_filters=16, kernel_size=3, strides=1, activation="relu", batch_normalization=True):
    x = layers.Conv2D(num_filters, kernel_size=kernel_size, strides=strides, padding="same",
                      kernel_initializer="he_normal", kernel_regularizer=l2(1e-4))(inputs)
    if batch_normalization:
        x = layers.BatchNormalization()(x)
    if activation is not None:
        x = layers.Activation(activation)(x)
    return x


def resnet_v1(input_shape, depth, num_classes=10):
    num_filters = 16
    num_res_blocks = int((depth - 2) / 6)
    inputs = keras.Input(shape=input_shape)
    x = resnet_layer(inputs=inputs)
    for stack in range(3):
        for res_block in range(num_res_blocks):
            strides = 2 if stack > 0 and res_block == 0 else 1
            y = resnet_layer(inputs=x, num_filters=num_filters, strides=strides)
            y = resnet_layer(inputs=y, num_filters=num_filters, activation=None)
            if stack > 0 and res_block == 0:
                x = resnet_layer(inputs=x, num_filters=num_filters, kernel_size=1, strides=strides,
                                 activation=None, batch_normalization=False)
            x = layers.add([x, y])
            x = layers.Activation("relu")(x)
        num_filters *= 2
    x = layers.AveragePooling2D(pool_size=8)(x)
    y = layers.Flatten()(x)
    outputs = layers.Dense(num_classes, activation="softmax", kernel_initializer="he_normal")(y)
    return keras.Model(inputs=inputs, outputs=outputs)


model = resnet_v1(input_shape=(32, 32, 3), depth=20)
model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.Adam(learning_rate=lr_schedule(0)),
              metrics=["accuracy"])
print(f"ResNet20v1: {model.count_params()} parameters", flush=True)


class Log(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.f = open(a.csv, "w", newline="")
        self.w = csv.writer(self.f)
        self.w.writerow(["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"])
        self.t0 = time.time()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.time() - self.t0
        self.w.writerow([epoch + 1, f"{logs['loss']:.4f}", f"{logs['accuracy']:.4f}",
                         f"{logs['val_loss']:.4f}", f"{logs['val_accuracy']:.4f}", f"{seconds:.0f}"])
        self.f.flush()
        print(f"epoch {epoch + 1}: val_accuracy {logs['val_accuracy']:.4f} ({seconds:.0f} s)", flush=True)


callbacks = [
    keras.callbacks.LearningRateScheduler(lr_schedule),
    keras.callbacks.ReduceLROnPlateau(factor=np.sqrt(0.1), cooldown=0, patience=5, min_lr=0.5e-6),
    Log(),
]
from keras.src.legacy.preprocessing.image import ImageDataGenerator

gen = ImageDataGenerator(width_shift_range=0.1, height_shift_range=0.1, horizontal_flip=True, fill_mode="nearest")
flow = gen.flow(x_train, y_train, batch_size=32, seed=a.seed)
model.fit(flow, epochs=a.epochs, validation_data=(x_test, y_test), verbose=0, callbacks=callbacks)
