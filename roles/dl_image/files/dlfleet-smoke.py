#!/usr/bin/env python3
"""dlfleet-smoke: does every framework in this image import, and compute on a GPU if one is visible?

In gpu images the ``cuda`` check also loads the CUDA line's runtime, cuBLAS and cuDNN from the
image's nvidia-* wheels and asks CUDA for devices: "no device" is a clean answer on a host
without a GPU (or a container without one attached); a visible GPU gets a real allocation.

    dlfleet-smoke                      # the frameworks listed in /etc/dlfleet/image.json
    dlfleet-smoke torch jax sklearn    # these ones
    dlfleet-smoke --json               # one JSON document, for scripts

Exit status 0 only when every check passed. A GPU check runs where the framework sees a GPU
and is reported as skipped (not failed) where none is visible.
"""

import ctypes
import glob
import json
import os
import sys
import sysconfig
import time

# cudaGetDeviceCount's answers where no GPU can be used: cudaErrorInsufficientDriver (no
# libcuda in the container: no GPU was attached) and cudaErrorNoDevice
NO_DEVICE = {35: "no NVIDIA driver in this container (no GPU attached)", 100: "no CUDA device"}


def check_numpy():
    import numpy as np

    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    assert float((a @ a.T).trace()) == 506.0
    return np.__version__, None


def check_scipy():
    import scipy
    from scipy import linalg

    assert abs(linalg.det([[2.0, 0.0], [0.0, 3.0]]) - 6.0) < 1e-9
    return scipy.__version__, None


def check_pandas():
    import pandas as pd

    assert pd.DataFrame({"a": [1, 2, 3]})["a"].sum() == 6
    return pd.__version__, None


def check_matplotlib():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    plt.plot([0, 1], [1, 0])
    plt.close(fig)
    return matplotlib.__version__, None


def check_sklearn():
    import sklearn
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])
    assert abs(model.coef_[0] - 2.0) < 1e-6
    return sklearn.__version__, None


def check_opencv():
    import cv2
    import numpy as np

    img = np.zeros((8, 8, 3), dtype=np.uint8)
    assert cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).shape == (8, 8)
    return cv2.__version__, None


def check_torch():
    import torch

    x = torch.arange(16.0).reshape(4, 4)
    assert float((x @ x).sum()) == 3920.0
    if not torch.cuda.is_available():
        return torch.__version__, None
    dev = torch.device("cuda")
    a = torch.randn(2048, 2048, device=dev)
    b = (a @ a.T).sum()
    torch.cuda.synchronize()
    assert torch.isfinite(b)
    return torch.__version__, torch.cuda.get_device_name(0)


def check_tensorflow():
    import tensorflow as tf

    x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    assert float(tf.reduce_sum(tf.matmul(x, x))) == 54.0
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return tf.__version__, None
    with tf.device("/GPU:0"):
        y = tf.reduce_sum(tf.matmul(tf.random.normal((1024, 1024)), tf.random.normal((1024, 1024))))
    assert bool(tf.math.is_finite(y))
    return tf.__version__, gpus[0].name


def check_keras():
    import keras

    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    assert model.predict(__import__("numpy").ones((1, 3)), verbose=0).shape == (1, 2)
    return keras.__version__, None


def check_jax():
    import jax
    import jax.numpy as jnp

    x = jnp.arange(16.0).reshape(4, 4)
    # GPUs multiply float32 in TF32 by default: compare with a tolerance
    assert abs(float((x @ x).sum()) - 3920.0) < 1.0
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        return jax.__version__, None
    y = jax.device_put(jnp.ones((2048, 2048)), gpus[0])
    assert abs(float((y @ y).sum()) / 2048.0**3 - 1.0) < 1e-3
    return jax.__version__, str(gpus[0])


def _wheel_library(pattern):
    """A CUDA library from the nvidia-* wheels (nvidia/<pkg>/lib, or nvidia/cu13/lib)."""
    roots = [sysconfig.get_paths()["purelib"], *sys.path]
    found = [
        hit
        for root in dict.fromkeys(roots)
        for hit in sorted(glob.glob(os.path.join(root, "nvidia", "*", "lib", pattern)))
    ]
    if not found:
        raise RuntimeError(f"no {pattern} in the image's nvidia-* wheels")
    return ctypes.CDLL(found[0])


def check_cuda():
    """The line's CUDA runtime, cuBLAS and cuDNN load; CUDA answers (devices, or none)."""
    cudart = _wheel_library("libcudart.so.[0-9]*")
    _wheel_library("libcublas.so.[0-9]*")
    cudnn = _wheel_library("libcudnn.so.[0-9]*")
    runtime = ctypes.c_int()
    assert cudart.cudaRuntimeGetVersion(ctypes.byref(runtime)) == 0
    cudnn.cudnnGetVersion.restype = ctypes.c_size_t
    dnn = cudnn.cudnnGetVersion()
    major_unit = 10000 if dnn >= 90000 else 1000  # cuDNN 9 counts minors in hundreds
    cudart_version = f"{runtime.value // 1000}.{runtime.value % 1000 // 10}"
    cudnn_version = f"{dnn // major_unit}.{dnn % major_unit // 100}.{dnn % 100}"
    version = f"cudart {cudart_version}, cudnn {cudnn_version}"
    count = ctypes.c_int()
    err = cudart.cudaGetDeviceCount(ctypes.byref(count))
    if err in NO_DEVICE:
        return f"{version} ({NO_DEVICE[err]})", None
    if err != 0:
        raise RuntimeError(f"cudaGetDeviceCount failed with CUDA error {err}")
    # a real allocation on the first device proves the driver runs this line
    ptr = ctypes.c_void_p()
    assert cudart.cudaMalloc(ctypes.byref(ptr), ctypes.c_size_t(1 << 20)) == 0
    assert cudart.cudaFree(ptr) == 0
    return version, f"{count.value} CUDA device(s)"


def check_jupyterlab():
    import jupyterlab

    return jupyterlab.__version__, None


def check_tensorboard():
    import tensorboard

    return tensorboard.__version__, None


CHECKS = {
    name[len("check_") :]: fn for name, fn in sorted(globals().items()) if name.startswith("check_")
}


# always in a dlfleet image, whatever frameworks were selected
BASE = ["numpy", "scipy", "pandas", "matplotlib", "jupyterlab", "tensorboard"]


def frameworks_from_label():
    try:
        with open("/etc/dlfleet/image.json") as fh:
            image = json.load(fh)
        # gpu images (a CUDA line) carry the line's CUDA libraries whatever their frameworks
        return BASE + (["cuda"] if image.get("cuda") else []) + image["frameworks"]
    except (OSError, KeyError, ValueError):
        return sorted(CHECKS)


def main(argv):
    as_json = "--json" in argv
    names = [a for a in argv if not a.startswith("--")] or frameworks_from_label()
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        print(f"unknown framework(s): {', '.join(unknown)}; known: {', '.join(CHECKS)}")
        return 2
    results = []
    for name in names:
        started = time.monotonic()
        try:
            version, gpu = CHECKS[name]()
            results.append({"framework": name, "ok": True, "version": version, "gpu": gpu})
        except Exception as exc:  # noqa: BLE001 - report every failure, keep checking
            error = f"{type(exc).__name__}: {exc}"
            results.append({"framework": name, "ok": False, "error": error})
        results[-1]["seconds"] = round(time.monotonic() - started, 2)
    ok = all(r["ok"] for r in results)
    if as_json:
        visible = os.environ.get("NVIDIA_VISIBLE_DEVICES")
        print(json.dumps({"ok": ok, "results": results, "nvidia_visible_devices": visible}))
    else:
        for r in results:
            where = f"computed on {r['gpu']}" if r.get("gpu") else ""
            detail = r.get("version") if r["ok"] else r["error"]
            status = "ok  " if r["ok"] else "FAIL"
            print(f"{status} {r['framework']:<11} {detail}  {where}  {r['seconds']}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
