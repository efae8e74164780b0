"""Where and how heavy computations run: torch device, thread count, progress."""

import contextlib

import torch
from tqdm.auto import tqdm


def resolve_device(device):
    """Return a ``torch.device``; ``"auto"`` picks CUDA when it is present.

    Asking for CUDA on a machine without it raises a ValueError instead of
    torch's lower-level RuntimeError, so the fix (``device="cpu"``) is named.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device={device!r} is not a torch device; use 'cpu', 'cuda', 'cuda:0' or 'auto'."
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested but CUDA is not available on this machine; "
            "use device='cpu' (or 'auto')."
        )
    return device


@contextlib.contextmanager
def torch_threads(n_jobs):
    """Temporarily set torch's intra-op threads from an sklearn-style ``n_jobs``.

    ``None`` leaves torch as it is; ``-1`` means all cores; ``-2`` all but one.
    """
    if n_jobs is None:
        yield
        return
    if n_jobs == 0 or isinstance(n_jobs, bool):
        raise ValueError(
            f"n_jobs={n_jobs!r} is not a thread count; pass a positive int, -1 for all cores, "
            "or None."
        )
    previous = torch.get_num_threads()
    if n_jobs < 0:
        n_jobs = max(1, (torch.multiprocessing.cpu_count() + 1 + n_jobs))
    torch.set_num_threads(int(n_jobs))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def progress(iterable, *, verbose, desc, total=None, unit="it"):
    """Wrap ``iterable`` in a progress bar when ``verbose`` is truthy.

    The bar shows the elapsed time and tqdm's estimate of the time left.  ``iterable`` may be
    None for a bar driven by hand with ``update(n)`` (e.g. counting images, not batches).
    """
    if not verbose:
        return _NoBar() if iterable is None else iterable
    return tqdm(iterable, desc=desc, total=total, leave=False, unit=unit)


class _NoBar:
    """Stands in for a hand-driven bar when none is shown."""

    def update(self, n=1):
        pass

    def close(self):
        pass
