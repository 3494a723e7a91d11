"""``gc.summary.scalar``/``histogram``/``image``/``text``: TensorFlow 2's summaries, in its on-disk
format: each is a tensor with its TensorBoard plugin's metadata (scalars: a float32 scalar; histograms:
a float64 ``[k, 3]`` tensor of ``(left edge, right edge, count)`` rows; images: a string vector of
width, height and one PNG per image; text: a string tensor). The tensors and metadata are built by
TensorBoard's own plugin code; only the PNG encoding is graphc's (``png``)."""
from __future__ import annotations

import numpy as np

from graphc.ir.errors import ArgumentTypeError, DTypeError, InvalidArgumentError

from ..tensor import TensorLike
from .png import encode_png
from .tensorboard_package import tensorboard_api
from .writer import summary_tag, write_summary

DEFAULT_BUCKET_COUNT = 30  # TensorBoard's histogram default


def as_array(data, what: str) -> np.ndarray:
    """A summary's data (tensor, variable, array, list, Python scalar) as a NumPy array."""
    if isinstance(data, TensorLike):
        return np.asarray(data.numpy())
    try:
        return np.asarray(data)
    except (TypeError, ValueError) as error:
        raise InvalidArgumentError(f"{what}: data is not a tensor or array ({error})") from None


def _numeric(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise DTypeError(f"{what}: data must be numeric (bool, integer or float), got {array.dtype.name}")
    return array


def _value(summary_pb, tag: str):
    """The one ``Summary.Value`` of a summary made by a TensorBoard ``*_pb`` helper, under ``tag``."""
    value = summary_pb.value[0]
    value.tag = tag
    return value


def scalar(name, data, step=None, description=None) -> bool:
    """Writes a scalar (any real number; written as float32) to the default writer under ``name``
    at ``step`` (default: ``gc.summary.experimental.get_step()``). Returns whether it was written."""

    def make(tag, data):
        array = _numeric(as_array(data, "scalar"), "scalar")
        if array.shape != ():
            raise InvalidArgumentError(f"scalar: data must be a scalar, got shape {array.shape}")
        return _value(tensorboard_api().scalar.scalar_pb(tag, array, description), tag)

    return write_summary(summary_tag(name), step, data, make)


def histogram(name, data, step=None, buckets=None, description=None) -> bool:
    """Writes the histogram of ``data`` (any shape, flattened): ``buckets`` (default 30) equal-width
    buckets from its least to its greatest value, as TensorBoard draws them (finite values only:
    TensorFlow writes meaningless buckets for NaN and infinities, graphc raises)."""

    def make(tag, data):
        array = _numeric(as_array(data, "histogram"), "histogram")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise InvalidArgumentError(
                "histogram: data holds NaN or infinite values; the buckets span the least to the greatest value"
            )
        return _value(tensorboard_api().histogram.histogram_pb(tag, array, _bucket_count(buckets), description), tag)

    return write_summary(summary_tag(name), step, data, make)


def _bucket_count(buckets) -> int:
    if buckets is None:
        return DEFAULT_BUCKET_COUNT
    if isinstance(buckets, bool) or not isinstance(buckets, (int, np.integer)):
        raise ArgumentTypeError(f"histogram: buckets must be an int, got {type(buckets).__name__}")
    return max(int(buckets), 0)  # TensorFlow treats a negative count as zero


def image(name, data, step=None, max_outputs=3, description=None) -> bool:
    """Writes up to ``max_outputs`` images of ``data``, shaped ``[k, height, width, channels]`` with 1
    (grey), 2 (grey and alpha), 3 (RGB) or 4 (RGBA) channels: floats are clipped to [0, 1], integers
    scaled to 8 bits as ``tf.image.convert_image_dtype`` does."""

    def make(tag, data):
        array = as_array(data, "image")
        if array.ndim != 4:
            raise InvalidArgumentError(f"image: data must have rank 4 [k, height, width, channels], got shape {array.shape}")
        if not 1 <= array.shape[3] <= 4:
            raise InvalidArgumentError(f"image: images must have 1, 2, 3 or 4 channels, got {array.shape[3]} (shape {array.shape})")
        count = _max_outputs(max_outputs)
        pixels = to_uint8(array[:count])
        if pixels.shape[0] and 0 in pixels.shape[1:3]:
            raise InvalidArgumentError(f"image: images must be at least 1x1 pixels, got shape {array.shape}")
        api = tensorboard_api()
        strings = [str(array.shape[2]).encode(), str(array.shape[1]).encode(), *map(encode_png, pixels)]
        tensor = api.tensor_util.make_tensor_proto(np.array(strings, dtype=object))
        metadata = api.image_metadata.create_summary_metadata(display_name=None, description=description)
        return api.summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)

    return write_summary(summary_tag(name), step, data, make)


def _max_outputs(max_outputs) -> int:
    value = np.asarray(max_outputs.numpy() if isinstance(max_outputs, TensorLike) else max_outputs)
    if value.shape != () or value.dtype.kind not in "iu":
        raise ArgumentTypeError(f"image: max_outputs must be an int, got {max_outputs!r}")
    if value < 0:
        raise InvalidArgumentError(f"image: max_outputs must be non-negative, got {int(value)}")
    return int(value)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Pixels as 8-bit values, as ``tf.image.convert_image_dtype(images, tf.uint8, saturate=True)``:
    floats scaled by 255.5 and clipped, wider integers shifted down to their 8 high bits."""
    kind = images.dtype.kind
    if kind == "f":
        scaled = images * images.dtype.type(255.5)  # in the images' own precision, as TensorFlow
        return np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255).astype(np.uint8)
    if kind == "u" and images.dtype.itemsize == 1:
        return images
    if kind in "iu":
        scale = (int(np.iinfo(images.dtype).max) + 1) // 256  # TensorFlow's (in.max + 1) // (out.max + 1)
        return np.clip(np.floor_divide(images, max(scale, 1)), 0, 255).astype(np.uint8)
    raise DTypeError(f"image: pixels must be floats or integers, got {images.dtype.name}")


def text(name, data, step=None, description=None) -> bool:
    """Writes text: a string (or bytes), or an array or nested list of them (TensorBoard shows a
    table); Markdown is rendered."""

    def make(tag, data):
        array = np.asarray(data.numpy() if isinstance(data, TensorLike) else data, dtype=object)
        flat = array.reshape(-1)
        wrong = next((x for x in flat if not isinstance(x, (str, bytes, np.str_, np.bytes_))), None)
        if wrong is not None or (array.size == 0 and np.asarray(data).dtype.kind not in "SUO"):
            found = type(wrong).__name__ if wrong is not None else np.asarray(data).dtype.name
            raise DTypeError(f"text: data must be strings, got {found}")
        return _value(tensorboard_api().text.text_pb(tag, array, description), tag)

    return write_summary(summary_tag(name), step, data, make)
