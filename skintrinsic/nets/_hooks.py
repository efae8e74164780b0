"""Read the output of any named module of a torch model: forward hooks, eval mode, no grad.

Every feature that reads hidden layers (RepresentationDimension, DiffeoSensitivity)
goes through :func:`extract_features`, so the rules live in one place:
the model is put in eval mode and restored afterwards, inputs are fed in
batches without building a graph, and each layer's output is flattened per sample.
"""

import contextlib
import numbers

import numpy as np
import torch

from .._compute import resolve_device
from .._validation import check_real


def as_module(model):
    """The torch module of ``model`` (a module, or a fitted skorch net), or a TypeError."""
    module = getattr(model, "module_", model)
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module or a fitted skorch net, got "
                        f"{type(model).__name__}.")
    return module


def layer_names(model):
    """Names of all sub-modules of ``model`` that a user can ask for."""
    return [name for name, _ in as_module(model).named_modules() if name]


def resolve_layers(model, layers):
    """Layer names from ``"penultimate"``, ``"profile"``, one name or a list of them; each checked.

    ``"penultimate"`` is the paper's representation layer
    (:func:`~skintrinsic.nets.penultimate_layer`) and ``"profile"`` the layers
    that trace the network over depth (:func:`~skintrinsic.nets.profile_layers`).
    Duplicates are dropped, the order is kept.

    Examples
    --------
    >>> from skintrinsic.nets import build_model, resolve_layers
    >>> resolve_layers(build_model("vgg13", width=0.125, input_size=32), ["penultimate", "fc"])
    Traceback (most recent call last):
    ...
    ValueError: VGG has no layer named 'fc'. Valid layer names: ...
    """
    from .models import penultimate_layer, profile_layers

    if isinstance(layers, str):
        layers = [layers]
    try:
        layers = list(layers)
    except TypeError:
        raise TypeError(
            f"layers must be a layer name or a list of names, got {type(layers).__name__}."
        ) from None
    if not layers:
        raise ValueError("layers is empty; name at least one layer (or 'penultimate').")
    names = []
    for layer in layers:
        if not isinstance(layer, str):
            raise TypeError(f"Layer names must be strings, got {layer!r}.")
        if layer == "penultimate":
            expanded = [penultimate_layer(model)]
        elif layer == "profile":
            expanded = profile_layers(model)
        else:
            expanded = [layer]
        for name in expanded:
            get_layer(model, name)
            if name not in names:
                names.append(name)
    return names


def layer_depth(model, name):
    """Position of layer ``name`` among ``layer_names(model)`` (registration order).

    Examples
    --------
    >>> import torch
    >>> from skintrinsic.nets import layer_depth
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> [layer_depth(net, name) for name in ("0", "2")]
    [0, 2]
    """
    get_layer(model, name)
    return layer_names(model).index(name)


def get_layer(model, name):
    """Return the sub-module called ``name``; a ValueError lists the valid names."""
    modules = dict(as_module(model).named_modules())
    if name not in modules or name == "":
        valid = layer_names(model)
        shown = ", ".join(repr(v) for v in valid[:60])
        more = f" ... ({len(valid)} in all)" if len(valid) > 60 else ""
        raise ValueError(
            f"{type(model).__name__} has no layer named {name!r}. Valid layer names: {shown}{more}."
        )
    return modules[name]


@contextlib.contextmanager
def capture_outputs(model, names):
    """Within the block, ``store[name]`` collects the flattened outputs of each named layer.

    Each output is copied when captured, so that in-place operations later in
    the forward pass (``ReLU(inplace=True)``) do not change what was stored.
    """
    store = {name: [] for name in names}
    handles = []

    def make_hook(name):
        def hook(module, inputs, output):
            if isinstance(output, (tuple, list)):
                output = output[0]
            # a copy: the next module may be an in-place ReLU (VGG, ResNet) that would
            # otherwise overwrite the stored pre-activation values through a shared view
            store[name].append(output.detach().reshape(output.shape[0], -1).clone())

        return hook

    try:
        for name in names:
            handles.append(get_layer(model, name).register_forward_hook(make_hook(name)))
        yield store
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def eval_mode(model):
    """Put ``model`` in eval mode and restore each module's training flag afterwards."""
    flags = {m: m.training for m in as_module(model).modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, flag in flags.items():
            module.train(flag)


def extract_features(model, X, layers, *, batch_size=256, device=None, dtype=torch.float32,
                     include_output=False):
    """Outputs of the named ``layers`` of ``model`` on inputs ``X``, each as ``(n, features)``.

    Parameters
    ----------
    model : torch.nn.Module
        The network; it is run in eval mode under ``torch.no_grad`` and its
        training flags are restored afterwards.
    X : array-like or torch.Tensor of shape (n, ...)
        Inputs in the shape the model takes.
    layers : list of str
        Names from ``model.named_modules()``.
    batch_size : int, default=256
    device : str or torch.device, default=None
        Where to run; defaults to the device of the model's first parameter.
    dtype : torch.dtype, default=torch.float32
    include_output : bool, default=False
        Also return the model's output under the key ``"output"``.

    Returns
    -------
    features : dict of str to ndarray of shape (n, n_features)

    Examples
    --------
    >>> import torch
    >>> from skintrinsic.nets import extract_features
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> feats = extract_features(net, torch.ones(5, 3), ["1"])
    >>> feats["1"].shape
    (5, 4)
    """
    model = as_module(model)
    layers = [layers] if isinstance(layers, str) else list(layers)
    for name in layers:
        get_layer(model, name)
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    if device is None:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
    device = resolve_device(device)
    check_real(X, "X")
    X = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X)
    outputs = []
    with eval_mode(model), torch.no_grad(), capture_outputs(model, layers) as store:
        for start in range(0, X.shape[0], batch_size):
            batch = X[start:start + batch_size].to(device=device, dtype=dtype)
            out = model(batch)
            if include_output:
                outputs.append(out.detach().reshape(out.shape[0], -1))
        result = {name: torch.cat(store[name]).cpu().numpy() for name in layers}
    if include_output:
        result["output"] = torch.cat(outputs).cpu().numpy()
    return result
