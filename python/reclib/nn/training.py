"""The training loop every neural backbone of reclib shares.

:func:`fit_network` builds a network and trains it with Adam, an exponential learning-rate
decay stepped once per epoch, and early stopping on a monitored loss (the validation loss when
the caller gives validation batches, else the training loss); at the end the weights of the
best epoch are put back.  The model classes only say how to batch their data and how to
compute a batch's loss.

Everything random inside the loop (the network's initialisation, batch order, negative
sampling, dropout, the VAE noise) is drawn from generators seeded by ``settings.seed``:
``numpy.random.default_rng(seed)`` for what the caller samples in numpy, and torch's global
generator reseeded inside :func:`torch.random.fork_rng` (so the caller's own torch random state
is left untouched).  A seeded fit on the CPU is therefore repeatable bit for bit (with the same
torch version and thread settings); on a GPU some kernels are not deterministic.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from reclib._logging import get_logger, progress_disabled
from reclib.exceptions import InvalidParameterError
from reclib.nn import DEVICE_PATTERN

__all__ = ["TrainSettings", "TrainReport", "fit_network", "resolve_device"]

logger = get_logger(__name__)

#: A batch as the caller yields it: numpy arrays, moved to the device by the loop.
Batch = tuple[np.ndarray, ...]
#: ``loss_of(network, tensors) -> (mean loss of the batch, its weight in the epoch mean)``.
LossFn = Callable[[nn.Module, tuple[torch.Tensor, ...]], tuple[torch.Tensor, float]]


@dataclass(frozen=True)
class TrainSettings:
    """How :func:`fit_network` trains.

    Attributes
    ----------
    name : str
        The model's name, for the progress bar, the log and error messages.
    epochs : int
        Maximum number of passes over the training batches.
    learning_rate : float
        Adam's initial step size.
    weight_decay : float
        Adam's L2 penalty on every parameter.
    gamma : float
        The learning rate is multiplied by ``gamma`` after every epoch.
    patience : int, optional
        Stop after this many epochs without a better monitored loss; None trains every epoch
        (the best epoch's weights are still the ones kept).
    seed : int
        Seeds numpy and torch generators used during the fit.
    device : torch.device
        Where the network is trained.
    show_progress : bool
        A tqdm bar over epochs with the current losses.
    """

    name: str
    epochs: int
    learning_rate: float
    weight_decay: float
    gamma: float
    patience: int | None
    seed: int
    device: torch.device
    show_progress: bool = True


@dataclass
class TrainReport:
    """What happened during a fit (kept by the model, JSON-safe).

    Attributes
    ----------
    train_loss : list of float
        Mean training loss of each epoch run.
    valid_loss : list of float
        Mean validation loss of each epoch run (empty without validation batches).
    best_epoch : int
        1-based epoch whose weights were kept.
    seconds : float
        Wall time of the loop.
    """

    train_loss: list[float] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0

    @property
    def epochs_run(self) -> int:
        return len(self.train_loss)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe copy (a non-finite loss becomes None)."""

        def clean(values: list[float]) -> list[float | None]:
            return [v if math.isfinite(v) else None for v in values]

        return {
            "train_loss": clean(self.train_loss),
            "valid_loss": clean(self.valid_loss),
            "best_epoch": self.best_epoch,
            "seconds": self.seconds,
        }


def resolve_device(device: str | None, owner: str) -> torch.device:
    """The torch device named by a model's ``device`` parameter, checked to exist.

    ``None`` and ``"cpu"`` give the CPU; ``"auto"`` the first CUDA device when one is visible,
    else the CPU; ``"cuda"``/``"cuda:<index>"`` and ``"mps"`` must be available.

    Raises
    ------
    InvalidParameterError
        The string is not a device name, or the device is not available here.
    """
    if device is None or device == "cpu":
        return torch.device("cpu")
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise InvalidParameterError(
            f"`device` of {owner} must be None, 'cpu', 'auto', 'cuda', 'cuda:<index>' or 'mps', "
            f"got {device!r}"
        )
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "mps":
        if not torch.backends.mps.is_available():
            raise InvalidParameterError(
                f"`device` of {owner} is 'mps', but no MPS device is available here; "
                "expected 'cpu' or 'auto'"
            )
        return torch.device("mps")

    resolved = torch.device(device)
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = 0 if resolved.index is None else resolved.index
    if index >= count:
        visible = f"{count} CUDA device(s) are visible" if count else "CUDA is not available"
        raise InvalidParameterError(
            f"`device` of {owner} is {device!r}, but {visible} here; expected 'cpu', 'auto'"
            + (f" or 'cuda:0'..'cuda:{count - 1}'" if count else "")
        )
    return resolved


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run the block with torch's generators seeded, restoring the caller's state after."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _to_device(batch: Batch, device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in batch)


def _mean_loss(
    network: nn.Module, loss_of: LossFn, batches: Iterable[Batch], device: torch.device
) -> float:
    """Weighted mean of the batch losses, without gradients."""
    total, weight = 0.0, 0.0
    with torch.no_grad():
        for batch in batches:
            loss, w = loss_of(network, _to_device(batch, device))
            total += float(loss) * w
            weight += w
    return total / weight if weight else math.nan


def fit_network(
    build: Callable[[], nn.Module],
    loss_of: LossFn,
    train_batches: Callable[[np.random.Generator], Iterable[Batch]],
    valid_batches: Sequence[Batch] | None,
    settings: TrainSettings,
) -> tuple[nn.Module, TrainReport]:
    """Build a network and train it; return it (best epoch's weights, eval mode) and a report.

    Parameters
    ----------
    build : callable
        Makes the untrained network (called once, seeded, so its initialisation is repeatable).
    loss_of : callable
        ``loss_of(network, tensors) -> (mean loss, weight)`` for one batch already on the
        device; the network is in train mode for training batches, eval mode for validation.
    train_batches : callable
        ``train_batches(rng)`` yields one epoch of batches (numpy arrays); ``rng`` is the
        fit's seeded numpy generator, for shuffling and sampling.
    valid_batches : sequence of batches, optional
        Fixed validation batches; when given, their loss is monitored, else the training loss.
    settings : TrainSettings
        Epochs, optimiser, schedule, early stopping, seed, device, progress.

    Raises
    ------
    InvalidParameterError
        The loss was not finite from the first epoch on (the learning rate is too high).
    """
    from tqdm.auto import tqdm

    rng = np.random.default_rng(settings.seed)
    report = TrainReport()
    quiet = progress_disabled(settings.show_progress)
    start = time.perf_counter()

    with seeded(settings.seed, settings.device):
        network = build().to(settings.device)
        optimizer = torch.optim.Adam(
            network.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
        )
        schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=settings.gamma)
        best_loss, best_state, stale = math.inf, None, 0

        bar = tqdm(range(settings.epochs), desc=settings.name, disable=quiet, leave=False)
        for epoch in bar:
            epoch_start = time.perf_counter()
            network.train()
            total, weight = 0.0, 0.0
            for batch in train_batches(rng):
                optimizer.zero_grad(set_to_none=True)
                loss, w = loss_of(network, _to_device(batch, settings.device))
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * w
                weight += w
            train_loss = total / weight if weight else math.nan
            report.train_loss.append(train_loss)

            monitored = train_loss
            if valid_batches:
                network.eval()
                monitored = _mean_loss(network, loss_of, valid_batches, settings.device)
                report.valid_loss.append(monitored)
            lr = optimizer.param_groups[0]["lr"]
            schedule.step()

            seconds = time.perf_counter() - epoch_start
            valid_text = f", valid loss {monitored:.5f}" if valid_batches else ""
            (logger.debug if not quiet else logger.info)(
                "%s epoch %d/%d: train loss %.5f%s, lr %.3g, %.2f s",
                settings.name, epoch + 1, settings.epochs, train_loss, valid_text, lr, seconds,
            )
            postfix = {"loss": f"{train_loss:.4f}"}
            if valid_batches:
                postfix["valid"] = f"{monitored:.4f}"
            bar.set_postfix(postfix)

            if not math.isfinite(monitored):
                logger.warning(
                    "%s: the loss is not finite at epoch %d (learning_rate=%g); stopping",
                    settings.name, epoch + 1, settings.learning_rate,
                )
                break
            if monitored < best_loss:
                best_loss, stale = monitored, 0
                best_state = copy.deepcopy(network.state_dict())
                report.best_epoch = epoch + 1
            else:
                stale += 1
                if settings.patience is not None and stale >= settings.patience:
                    logger.debug(
                        "%s: early stop after epoch %d (best epoch %d)",
                        settings.name, epoch + 1, report.best_epoch,
                    )
                    break
        bar.close()

    if best_state is None:
        if settings.epochs == 0:
            best_state = network.state_dict()
        else:
            raise InvalidParameterError(
                f"training of {settings.name} diverged: the loss was not finite from epoch 1 "
                f"(learning_rate={settings.learning_rate}); expected a smaller `learning_rate`"
            )
    network.load_state_dict(best_state)
    network.eval()
    report.seconds = time.perf_counter() - start
    logger.debug(
        "%s: %d epoch(s) in %.2f s, kept epoch %d",
        settings.name, report.epochs_run, report.seconds, report.best_epoch,
    )
    return network, report
