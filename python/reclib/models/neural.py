"""Neural recommenders on PyTorch: NeuroMF (``MODELS.md`` §4.12) and Mult-VAE (§4.13).

Both are ordinary :class:`~reclib.models.base.Recommender` subclasses: the networks live in
:mod:`reclib.nn` and are trained by its shared loop on the driver, from the fit log's dense id
arrays (a Spark log's columns arrive through Arrow, never as Python rows).

Fitted state is the network's ``state_dict`` as float32 numpy arrays (``_state_arrays``, names
``net.<parameter>``), which is what the Spark engine ships to executors as ``.npy`` files and
what saving writes: no pickled code.  Predict rebuilds the network from those arrays, runs it
on the CPU in eval mode without gradients, in float64, over blocks of users, and cuts each
block with the Rust top-k kernel (seen items excluded, candidates masked, ties by item id).
Because the same arrays go through the same code on the driver and on executors, the pandas
and the Spark engine return the same recommendations.

torch is imported only when a model is fitted or predicts, so ``import reclib.models`` works
without it; then those calls raise :class:`~reclib.exceptions.MissingDependencyError`.  Spark
executors need torch installed to predict (they never run the training code).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator

import numpy as np

from reclib import _core
from reclib._logging import get_logger
from reclib._sparse import Csr
from reclib.exceptions import InvalidParameterError
from reclib.models._checks import check_bool, check_float, check_int
from reclib.models.base import DenseLog, PredictBlock, Recommender
from reclib.models.factor import _take_pattern
from reclib.nn import DEVICE_PATTERN, require_torch

if TYPE_CHECKING:
    import torch
    from torch import nn

    from reclib.nn.training import TrainReport, TrainSettings

__all__ = ["NeuroMF", "MultVAE", "TorchRecommender"]

logger = get_logger(__name__)

# Scores per predict step: bounds the dense (users x items) float64 block to 32 MiB.
_PREDICT_FLOATS = 1 << 22
# Pairs per step of NeuroMF's predict_pairs (each pair carries its embeddings through the net).
_PAIRS_PER_STEP = 1 << 15
# Fewer fit units (rows for NeuroMF, users for MultVAE) than this: no validation split.
_MIN_SPLIT = 10


def _check_optional_int(owner: str, name: str, value: Any, low: int) -> None:
    if value is not None:
        check_int(owner, name, value, low=low)


class TorchRecommender(Recommender):
    """Shared plumbing of the torch models: parameters, device, seed, state, inference network.

    Subclasses implement ``_build_network`` (the untrained network for the fitted sizes) and
    ``_train`` (batching and loss for :func:`reclib.nn.training.fit_network`).
    """

    #: Share of the fit units held out to monitor the loss for early stopping.
    valid_fraction: ClassVar[float] = 0.1
    #: ``weight_decay = l2_reg / l2_scale`` (the reference divides by its batch size).
    l2_scale: ClassVar[float] = 1.0

    learning_rate: float
    epochs: int
    l2_reg: float
    gamma: float
    batch_size: int
    patience: int | None
    device: str | None
    seed: int | None
    show_progress: bool

    def __init__(self) -> None:
        super().__init__()
        self._weights: dict[str, np.ndarray] | None = None
        self._net: "nn.Module | None" = None
        self._report: dict[str, Any] = {}

    # ----------------------------------------------------------------------------------------
    # Parameters

    def _validate_common(self) -> None:
        owner = type(self).__name__
        check_float(owner, "learning_rate", self.learning_rate, low=0.0, low_open=True)
        check_int(owner, "epochs", self.epochs, low=1)
        check_float(owner, "l2_reg", self.l2_reg, low=0.0)
        check_float(owner, "gamma", self.gamma, low=0.0, high=1.0, low_open=True)
        check_int(owner, "batch_size", self.batch_size, low=1)
        _check_optional_int(owner, "patience", self.patience, low=1)
        _check_optional_int(owner, "seed", self.seed, low=0)
        check_bool(owner, "show_progress", self.show_progress)
        if self.device is not None and (
            not isinstance(self.device, str) or not DEVICE_PATTERN.fullmatch(self.device)
        ):
            raise InvalidParameterError(
                f"`device` of {owner} must be None, 'cpu', 'auto', 'cuda', 'cuda:<index>' or "
                f"'mps', got {self.device!r}"
            )

    def _needs_relevance(self) -> bool:
        return False

    # ----------------------------------------------------------------------------------------
    # Fit

    def _settings(self) -> "TrainSettings":
        from reclib.nn.training import TrainSettings, resolve_device

        seed = self.seed
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (2**63))
        return TrainSettings(
            name=type(self).__name__,
            epochs=self.epochs,
            learning_rate=float(self.learning_rate),
            weight_decay=float(self.l2_reg) / self.l2_scale,
            gamma=float(self.gamma),
            patience=self.patience,
            seed=seed,
            device=resolve_device(self.device, type(self).__name__),
            show_progress=self.show_progress,
        )

    def _split(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Shuffled ``(train, valid)`` positions of ``n`` units; no validation when too few."""
        order = rng.permutation(n)
        if self.patience is None or n < _MIN_SPLIT:
            return np.sort(order), order[:0]
        n_valid = math.ceil(self.valid_fraction * n)
        return np.sort(order[n_valid:]), np.sort(order[:n_valid])

    def _fit_dense(self, log: DenseLog) -> None:
        require_torch(type(self).__name__)
        settings = self._settings()
        network, report = self._train(log, settings)
        self._weights = {
            name: value.detach().to("cpu").numpy().astype(np.float32, copy=True)
            for name, value in network.state_dict().items()
        }
        self._report = {**report.as_dict(), "seed": settings.seed,
                        "device": str(settings.device)}
        self._net = None

    def _train(
        self, log: DenseLog, settings: "TrainSettings"
    ) -> tuple["nn.Module", "TrainReport"]:
        """Train the network on the fit log (override)."""
        raise NotImplementedError

    def _build_network(self, n_users: int, n_items: int) -> "nn.Module":
        """The untrained network for the fitted sizes (override)."""
        raise NotImplementedError

    @property
    def training_report(self) -> dict[str, Any]:
        """Losses per epoch, the epoch kept, the seed and device of the last fit."""
        self._check_fitted()
        return dict(self._report)

    # ----------------------------------------------------------------------------------------
    # Inference

    def _inference_net(self) -> "nn.Module":
        """The fitted network on the CPU, float64, eval mode (rebuilt once from the arrays)."""
        if self._net is None:
            torch = require_torch(type(self).__name__)
            assert self._weights is not None
            network = self._build_network(self.users_count, self.items_count)
            state = {name: torch.from_numpy(np.array(value, dtype=np.float32))
                     for name, value in self._weights.items()}
            network.load_state_dict(state)
            self._net = network.double().eval()
        return self._net

    def _users_per_step(self) -> int:
        return max(1, _PREDICT_FLOATS // max(self.items_count, 1))

    def _cut(
        self, scores: np.ndarray, block: PredictBlock, part: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-k of the score rows of ``block`` rows ``part`` (exclusions and candidates)."""
        exclude = _take_pattern(block.exclude, part) if block.exclude is not None else None
        rows, items, values = _core.topk_dense(
            np.ascontiguousarray(scores, dtype=np.float64), block.k, exclude, block.candidates
        )
        return part[rows], items, values

    @staticmethod
    def _concat(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[
        np.ndarray, np.ndarray, np.ndarray
    ]:
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
        return tuple(np.concatenate(column) for column in zip(*parts))  # type: ignore[return-value]

    # ----------------------------------------------------------------------------------------
    # State

    def _state_arrays(self) -> dict[str, np.ndarray]:
        assert self._weights is not None
        return {f"net.{name}": value for name, value in self._weights.items()}

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self._weights = {
            name.removeprefix("net."): np.asarray(value)
            for name, value in arrays.items()
            if name.startswith("net.")
        }
        self._net = None

    def _state_meta(self) -> dict[str, Any]:
        return {"report": self._report}

    def _load_state_meta(self, meta: dict[str, Any]) -> None:
        self._report = dict(meta.get("report", {}))


# --------------------------------------------------------------------------------------------
# NeuroMF


class _UnseenSampler:
    """Uniform draws among the items a user has *not* interacted with, vectorised.

    With the user's distinct items ``s_0 < s_1 < ...`` sorted, ``g_j = s_j - j`` counts the
    unseen items below ``s_j`` and is non-decreasing, so the ``r``-th unseen item (0-based) is
    ``r + #{j : g_j <= r}``: one ``searchsorted`` over the keys ``user * n_items + g_j`` of all
    users at once, exact, with no rejection loop.
    """

    def __init__(self, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> None:
        seen = Csr.from_coo(users, items, None, n_users, n_items, "count")
        self.indptr = seen.indptr
        self.n_items = n_items
        self.free = n_items - np.diff(seen.indptr)
        position = np.arange(seen.nnz, dtype=np.int64) - np.repeat(
            seen.indptr[:-1], np.diff(seen.indptr)
        )
        self.keys = seen.row_ids() * n_items + (seen.indices.astype(np.int64) - position)

    def sample(
        self, users: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """One unseen item per entry of ``users``; ``valid`` is False where none exists."""
        free = self.free[users]
        valid = free > 0
        rank = rng.integers(0, np.maximum(free, 1))
        below = np.searchsorted(self.keys, users * self.n_items + rank, side="right")
        return rank + below - self.indptr[users], valid


class NeuroMF(TorchRecommender):
    """Neural matrix factorisation: GMF and/or MLP branches trained with negative sampling.

    Each log row is a positive ``(user, item)`` pair (relevance is not used; duplicated rows
    are separate positives).  For every positive, ``count_negative_sample`` items the user has
    never interacted with are drawn uniformly as negatives; the network is trained with binary
    cross-entropy on the logits.  The score of a pair is ``sigmoid(logit)``.  See
    :mod:`reclib.nn.neuromf` for the architecture.

    Parameters
    ----------
    learning_rate : float, default 0.05
        Adam's initial step size.
    epochs : int, default 20
        Maximum passes over the log.
    embedding_gmf_dim, embedding_mlp_dim : int, optional
        Sizes of the GMF and MLP embeddings; a branch whose size is None or 0 is left out.
        When neither is given both are 128.
    hidden_mlp_dims : list of int, optional
        Hidden layer sizes of the MLP branch (ReLU after each); none by default.
    l2_reg : float, default 0
        L2 penalty; Adam's ``weight_decay`` is ``l2_reg / 100000`` (the reference's scaling).
    gamma : float, default 0.99
        The learning rate is multiplied by ``gamma`` after each epoch.
    count_negative_sample : int, default 1
        Negatives drawn per positive (with replacement; may exceed the unseen items).
    batch_size : int, default 100000
        Positive pairs per optimiser step.
    patience : int or None, default 3
        Early stopping: 10 % of the log rows are held out and training stops after
        ``patience`` epochs without a better validation loss; the best epoch's weights are
        kept (with fewer than 10 rows nothing is held out and the training loss is watched).
        None trains on every row for all epochs.
    device : str, optional
        ``"cpu"`` (default), ``"cuda"``, ``"cuda:<index>"``, ``"mps"`` or ``"auto"`` (a GPU when
        one is available) for training; predict always runs on the CPU.
    seed : int or None, default 42
        Seeds initialisation, the split, batch order and negatives; a seeded CPU fit is
        repeatable bit for bit.  None draws a fresh seed.
    show_progress : bool, default True
        A progress bar over epochs with the losses.

    Notes
    -----
    Differences from the reference (``MODELS.md`` §4.12), all fixes:

    * negatives are drawn among the items the user has not seen (the reference draws any id in
      ``[0, max id]``, so a negative can be a positive of the user or a never-seen id);
    * the validation negatives are drawn once, so the early-stopping criterion is not noise;
    * the best weights are kept in memory (no checkpoint files), and every random draw is
      seeded (the reference seeds only its split);
    * embedding tables have one row per distinct fit user / item, not ``max id + 1``;
    * ``predict_pairs`` does not need a log (the network does not read histories);
    * scores are ``sigmoid`` applied in float64 to the logits, so large logits do not tie at 1.

    Users unseen in fit cannot be scored (they are dropped with a warning), nor can items.
    """

    l2_scale = 100_000.0
    _search_space = {
        "embedding_gmf_dim": {"type": "int", "args": [128, 128]},
        "embedding_mlp_dim": {"type": "int", "args": [128, 128]},
        "learning_rate": {"type": "loguniform", "args": [1e-4, 0.5]},
        "l2_reg": {"type": "loguniform", "args": [1e-9, 5]},
        "gamma": {"type": "uniform", "args": [0.8, 0.99]},
        "count_negative_sample": {"type": "int", "args": [1, 20]},
    }

    def __init__(
        self,
        learning_rate: float = 0.05,
        epochs: int = 20,
        embedding_gmf_dim: int | None = None,
        embedding_mlp_dim: int | None = None,
        hidden_mlp_dims: list[int] | None = None,
        l2_reg: float = 0,
        gamma: float = 0.99,
        count_negative_sample: int = 1,
        batch_size: int = 100_000,
        patience: int | None = 3,
        device: str | None = None,
        seed: int | None = 42,
        show_progress: bool = True,
    ) -> None:
        super().__init__()
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.embedding_gmf_dim = embedding_gmf_dim
        self.embedding_mlp_dim = embedding_mlp_dim
        self.hidden_mlp_dims = list(hidden_mlp_dims) if hidden_mlp_dims is not None else None
        self.l2_reg = l2_reg
        self.gamma = gamma
        self.count_negative_sample = count_negative_sample
        self.batch_size = batch_size
        self.patience = patience
        self.device = device if device is None or isinstance(device, str) else str(device)
        self.seed = seed
        self.show_progress = show_progress
        self._validate_params()

    def _validate_params(self) -> None:
        self._validate_common()
        for name in ("embedding_gmf_dim", "embedding_mlp_dim"):
            value = getattr(self, name)
            if value is not None:
                check_int("NeuroMF", name, value)
                if value < 0:
                    raise InvalidParameterError(
                        "embedding_gmf_dim and embedding_mlp_dim must be positive: "
                        f"`{name}` of NeuroMF got {value}; expected None, 0 (no branch) or > 0"
                    )
        if self.hidden_mlp_dims is not None:
            if not isinstance(self.hidden_mlp_dims, (list, tuple)):
                raise InvalidParameterError(
                    "`hidden_mlp_dims` of NeuroMF must be a list of positive integers or None, "
                    f"got {self.hidden_mlp_dims!r}"
                )
            for value in self.hidden_mlp_dims:
                check_int("NeuroMF", "hidden_mlp_dims", value, low=1)
        check_int("NeuroMF", "count_negative_sample", self.count_negative_sample, low=1)

    def _dims(self) -> tuple[int, int, list[int]]:
        """Effective ``(gmf, mlp, hidden)`` sizes: both branches of 128 when none is set."""
        gmf, mlp = self.embedding_gmf_dim or 0, self.embedding_mlp_dim or 0
        if not gmf and not mlp:
            gmf = mlp = 128
        hidden = list(self.hidden_mlp_dims or [])
        if hidden and not mlp:
            logger.warning(
                "NeuroMF: hidden_mlp_dims=%s is ignored without an MLP branch "
                "(embedding_mlp_dim is %r)", hidden, self.embedding_mlp_dim,
            )
            hidden = []
        return gmf, mlp, hidden

    def _build_network(self, n_users: int, n_items: int) -> "nn.Module":
        from reclib.nn.neuromf import NeuroMFNet

        gmf, mlp, hidden = self._dims()
        return NeuroMFNet(n_users, n_items, gmf, mlp, hidden)

    def _with_negatives(
        self,
        users: np.ndarray,
        items: np.ndarray,
        sampler: _UnseenSampler,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positives followed by their negatives: ``(users, items, labels)``."""
        neg_users = np.repeat(users, self.count_negative_sample)
        neg_items, valid = sampler.sample(neg_users, rng)
        all_users = np.concatenate([users, neg_users[valid]])
        all_items = np.concatenate([items, neg_items[valid]])
        labels = np.concatenate(
            [np.ones(len(users), np.float32), np.zeros(int(valid.sum()), np.float32)]
        )
        return all_users, all_items, labels

    def _train(
        self, log: DenseLog, settings: "TrainSettings"
    ) -> tuple["nn.Module", "TrainReport"]:
        import torch.nn.functional as F

        from reclib.nn.training import fit_network

        # Rows in (user, item) order: a seeded fit does not depend on the log's row order, so a
        # Spark log (whose order follows its partitions) trains the same network as pandas.
        order = np.lexsort((log.items, log.users))
        users, items = log.users[order].astype(np.int64), log.items[order].astype(np.int64)
        sampler = _UnseenSampler(users, items, log.n_users, log.n_items)
        if (sampler.free == 0).any():
            logger.warning(
                "NeuroMF: %d user(s) have interacted with every item; they get no negatives",
                int((sampler.free == 0).sum()),
            )
        split_rng = np.random.default_rng([settings.seed, 1])
        train_rows, valid_rows = self._split(len(users), split_rng)
        size = self.batch_size

        valid_batches = [
            self._with_negatives(users[part], items[part], sampler, split_rng)
            for part in np.array_split(valid_rows, max(1, math.ceil(len(valid_rows) / size)))
            if len(part)
        ]

        def train_batches(rng: np.random.Generator) -> Iterator[tuple[np.ndarray, ...]]:
            order = rng.permutation(train_rows)
            for start in range(0, len(order), size):
                part = order[start:start + size]
                yield self._with_negatives(users[part], items[part], sampler, rng)

        def loss_of(network: "nn.Module", batch: tuple["torch.Tensor", ...]) -> tuple[
            "torch.Tensor", float
        ]:
            batch_users, batch_items, labels = batch
            logits = network(batch_users, batch_items)
            return F.binary_cross_entropy_with_logits(logits, labels), float(len(labels))

        return fit_network(
            lambda: self._build_network(log.n_users, log.n_items),
            loss_of, train_batches, valid_batches or None, settings,
        )

    def _logits(self, function: Callable[..., "torch.Tensor"], *arrays: np.ndarray) -> np.ndarray:
        torch = require_torch("NeuroMF")
        with torch.no_grad():
            return function(*(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)).numpy()

    def _predict_dense(self, block: PredictBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from scipy.special import expit

        network = self._inference_net()
        rows = np.flatnonzero(block.users >= 0)
        step = self._users_per_step()
        parts = []
        for start in range(0, len(rows), step):
            part = rows[start:start + step]
            logits = self._logits(network.score_all, block.users[part].astype(np.int64))
            parts.append(self._cut(expit(logits), block, part))
        return self._concat(parts)

    def _score_pairs_dense(
        self,
        users: np.ndarray,
        history: Csr,
        pair_rows: np.ndarray,
        pair_items: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        from scipy.special import expit

        network = self._inference_net()
        pair_users = users[pair_rows].astype(np.int64)
        valid = pair_users >= 0
        scores = np.zeros(len(pair_rows), dtype=np.float64)
        step = _PAIRS_PER_STEP
        at = np.flatnonzero(valid)
        for start in range(0, len(at), step):
            part = at[start:start + step]
            scores[part] = expit(
                self._logits(network, pair_users[part], pair_items[part].astype(np.int64))
            )
        return scores, valid


# --------------------------------------------------------------------------------------------
# Mult-VAE


class MultVAE(TorchRecommender):
    """Variational auto-encoder over users' item sets (Mult-VAE, Liang et al. 2018).

    Fit learns to reconstruct each fit user's set of items through a latent code; predict
    encodes the user's history *given at predict time* and scores items by the decoder's
    softmax probabilities.  So users unseen in fit are served from their history in the
    predict ``log``; users without history there get no recommendations.  Relevance is not
    used; duplicated rows count once.  See :mod:`reclib.nn.multvae` for the network.

    Parameters
    ----------
    learning_rate : float, default 0.01
        Adam's initial step size.
    epochs : int, default 100
        Maximum passes over the users.
    latent_dim : int, default 200
        Size of the latent code.
    hidden_dim : int, default 600
        Size of the hidden layer of encoder and decoder.
    dropout : float, default 0.3
        Drop probability on the input, in training.
    anneal : float, default 0.1
        Weight of the KL term (constant).
    l2_reg : float, default 0
        L2 penalty; Adam's ``weight_decay`` is ``l2_reg / 5000`` (the reference's scaling).
    gamma : float, default 0.99
        The learning rate is multiplied by ``gamma`` after each epoch.
    batch_size : int, default 5000
        Users per optimiser step.
    patience : int or None, default 10
        Early stopping: 10 % of the users are held out and training stops after ``patience``
        epochs without a better validation loss; the best epoch's weights are kept (with
        fewer than 10 users nothing is held out and the training loss is watched).  None
        trains on every user for all epochs.
    device : str, optional
        ``"cpu"`` (default), ``"cuda"``, ``"cuda:<index>"``, ``"mps"`` or ``"auto"`` for
        training; predict always runs on the CPU.
    seed : int or None, default 42
        Seeds initialisation, split, batch order, dropout and the latent noise; a seeded CPU
        fit is repeatable bit for bit.  None draws a fresh seed.
    show_progress : bool, default True
        A progress bar over epochs with the losses.

    Notes
    -----
    Differences from the reference (``MODELS.md`` §4.13), all fixes:

    * ``gamma`` is used: an exponential learning-rate decay per epoch (the reference stores it,
      searches it, and never uses it, running ReduceLROnPlateau(0.5, 3) instead);
    * the training input is 0/1 like the predict input (the reference trains on row counts,
      so duplicates changed the training data but not the predictions);
    * the best weights are kept in memory (no checkpoint files); every random draw is seeded;
    * the catalogue is the distinct fit items, not ``max id + 1``.
    """

    can_predict_cold_users = True
    l2_scale = 5000.0
    _search_space = {
        "learning_rate": {"type": "loguniform", "args": [1e-4, 0.5]},
        "epochs": {"type": "int", "args": [100, 100]},
        "latent_dim": {"type": "int", "args": [200, 200]},
        "hidden_dim": {"type": "int", "args": [600, 600]},
        "dropout": {"type": "uniform", "args": [0, 0.5]},
        "anneal": {"type": "uniform", "args": [0.2, 1]},
        "l2_reg": {"type": "loguniform", "args": [1e-9, 5]},
        "gamma": {"type": "uniform", "args": [0.8, 0.99]},
    }

    def __init__(
        self,
        learning_rate: float = 0.01,
        epochs: int = 100,
        latent_dim: int = 200,
        hidden_dim: int = 600,
        dropout: float = 0.3,
        anneal: float = 0.1,
        l2_reg: float = 0,
        gamma: float = 0.99,
        batch_size: int = 5000,
        patience: int | None = 10,
        device: str | None = None,
        seed: int | None = 42,
        show_progress: bool = True,
    ) -> None:
        super().__init__()
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.latent_dim = latent_dim
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.anneal = anneal
        self.l2_reg = l2_reg
        self.gamma = gamma
        self.batch_size = batch_size
        self.patience = patience
        self.device = device if device is None or isinstance(device, str) else str(device)
        self.seed = seed
        self.show_progress = show_progress
        self._validate_params()

    def _validate_params(self) -> None:
        self._validate_common()
        check_int("MultVAE", "latent_dim", self.latent_dim, low=1)
        check_int("MultVAE", "hidden_dim", self.hidden_dim, low=1)
        check_float("MultVAE", "dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        check_float("MultVAE", "anneal", self.anneal, low=0.0)

    def _build_network(self, n_users: int, n_items: int) -> "nn.Module":
        from reclib.nn.multvae import MultVAENet

        return MultVAENet(n_items, self.latent_dim, self.hidden_dim, self.dropout)

    def _train(
        self, log: DenseLog, settings: "TrainSettings"
    ) -> tuple["nn.Module", "TrainReport"]:
        import torch

        from reclib.nn.multvae import multvae_loss
        from reclib.nn.training import fit_network

        matrix = Csr.from_coo(log.users, log.items, None, log.n_users, log.n_items, "count")
        split_rng = np.random.default_rng([settings.seed, 1])
        train_users, valid_users = self._split(log.n_users, split_rng)
        size, n_items, anneal = self.batch_size, log.n_items, float(self.anneal)

        def batch_of(rows: np.ndarray) -> tuple[np.ndarray, ...]:
            part = matrix.take_rows(rows)
            size_of = np.array([len(rows)], dtype=np.int64)
            return part.row_ids(), part.indices.astype(np.int64), size_of

        valid_batches = [
            batch_of(valid_users[start:start + size])
            for start in range(0, len(valid_users), size)
        ]

        def train_batches(rng: np.random.Generator) -> Iterator[tuple[np.ndarray, ...]]:
            order = rng.permutation(train_users)
            for start in range(0, len(order), size):
                yield batch_of(order[start:start + size])

        def loss_of(network: "nn.Module", batch: tuple["torch.Tensor", ...]) -> tuple[
            "torch.Tensor", float
        ]:
            rows, cols, size_of = batch
            n_rows = int(size_of[0])
            x = torch.zeros(n_rows, n_items, device=rows.device)
            x[rows, cols] = 1.0
            logits, mu, log_var = network(x)
            return multvae_loss(logits, x, mu, log_var, anneal), float(n_rows)

        return fit_network(
            lambda: self._build_network(log.n_users, n_items),
            loss_of, train_batches, valid_batches or None, settings,
        )

    def _probabilities(self, history: Csr) -> np.ndarray:
        """Softmax over all items of the decoder, one row per history row (all non-empty)."""
        torch = require_torch("MultVAE")
        network = self._inference_net()
        x = np.zeros((history.n_rows, self.items_count), dtype=np.float64)
        x[history.row_ids(), history.indices] = 1.0
        with torch.no_grad():
            logits, _, _ = network(torch.from_numpy(x))
            return torch.softmax(logits, dim=1).numpy()

    def _predict_dense(self, block: PredictBlock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = np.flatnonzero(np.diff(block.history.indptr) > 0)
        step = self._users_per_step()
        parts = []
        for start in range(0, len(rows), step):
            part = rows[start:start + step]
            probabilities = self._probabilities(block.history.take_rows(part))
            parts.append(self._cut(probabilities, block, part))
        return self._concat(parts)

    def _score_pairs_dense(
        self,
        users: np.ndarray,
        history: Csr,
        pair_rows: np.ndarray,
        pair_items: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        rows = np.flatnonzero(np.diff(history.indptr) > 0)
        valid = np.diff(history.indptr)[pair_rows] > 0
        scores = np.zeros(len(pair_rows), dtype=np.float64)
        step = self._users_per_step()
        for start in range(0, len(rows), step):
            part = rows[start:start + step]
            probabilities = self._probabilities(history.take_rows(part))
            position = np.full(len(users), -1, dtype=np.int64)
            position[part] = np.arange(len(part))
            at = position[pair_rows]
            hit = at >= 0
            scores[hit] = probabilities[at[hit], pair_items[hit]]
        return scores, valid
