"""The NeuroMF network (He et al. 2017, "Neural Collaborative Filtering"), as ``MODELS.md`` §4.12.

Two optional branches over (user, item) pairs, joined by one linear head:

* GMF (dimension ``d_g``): ``(P_u + b_u) * (Q_i + c_i)``, element-wise, where ``b_u`` and
  ``c_i`` are scalar biases added to every coordinate;
* MLP (dimension ``d_m``): ``h = [P'_u + b'_u, Q'_i + c'_i]``, then ``h <- ReLU(W h + a)`` for
  each hidden layer (no hidden layer: ``h`` itself);
* head: ``logit = w . [gmf, mlp] + a_0``; the model's score is ``sigmoid(logit)``.

:meth:`NeuroMFNet.forward` scores a batch of pairs (training, ``predict_pairs``);
:meth:`NeuroMFNet.score_all` scores users against the whole catalogue without materialising
the pairs: the GMF branch and the head are linear in it, so it is one matrix product, and the
first MLP layer splits into a user part and an item part that are added per pair.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["NeuroMFNet"]

# Floats of the (users x items x hidden) tensor of one score_all step.
_PAIR_FLOATS = 1 << 23


def _embedding(count: int, dim: int, init: str) -> nn.Embedding:
    layer = nn.Embedding(count, dim)
    if init == "xavier":
        nn.init.xavier_normal_(layer.weight)
    else:
        nn.init.zeros_(layer.weight)
    return layer


def _linear(fan_in: int, fan_out: int) -> nn.Linear:
    layer = nn.Linear(fan_in, fan_out)
    nn.init.xavier_normal_(layer.weight)
    nn.init.normal_(layer.bias, 0.0, 0.001)
    return layer


class _Branch(nn.Module):
    """User and item embeddings plus a scalar bias each (registration order of the reference)."""

    def __init__(self, n_users: int, n_items: int, dim: int) -> None:
        super().__init__()
        self.user_embedding = _embedding(n_users, dim, "xavier")
        self.item_embedding = _embedding(n_items, dim, "xavier")
        self.item_bias = _embedding(n_items, 1, "zeros")
        self.user_bias = _embedding(n_users, 1, "zeros")

    def users(self, index: torch.Tensor | None = None) -> torch.Tensor:
        """``P_u + b_u`` for the given users (all when None)."""
        if index is None:
            return self.user_embedding.weight + self.user_bias.weight
        return self.user_embedding(index) + self.user_bias(index)

    def items(self, index: torch.Tensor | None = None) -> torch.Tensor:
        """``Q_i + c_i`` for the given items (all when None)."""
        if index is None:
            return self.item_embedding.weight + self.item_bias.weight
        return self.item_embedding(index) + self.item_bias(index)


class NeuroMFNet(nn.Module):
    """GMF and/or MLP over user and item embeddings, a logit per (user, item) pair.

    Parameters
    ----------
    n_users, n_items : int
        Sizes of the embedding tables (dense ids ``0..n-1``).
    gmf_dim : int
        Dimension of the GMF branch; 0 leaves the branch out.
    mlp_dim : int
        Dimension of the MLP branch's embeddings; 0 leaves the branch out.
    hidden_dims : sequence of int
        Sizes of the MLP's hidden layers (ReLU after each); may be empty.
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        gmf_dim: int,
        mlp_dim: int,
        hidden_dims: tuple[int, ...] | list[int] = (),
    ) -> None:
        super().__init__()
        if gmf_dim <= 0 and mlp_dim <= 0:
            raise ValueError("NeuroMFNet needs gmf_dim > 0 or mlp_dim > 0")
        self.gmf = _Branch(n_users, n_items, gmf_dim) if gmf_dim > 0 else None
        self.mlp = _Branch(n_users, n_items, mlp_dim) if mlp_dim > 0 else None
        hidden_dims = list(hidden_dims) if mlp_dim > 0 else []
        sizes = [2 * mlp_dim, *hidden_dims]
        self.hidden = nn.ModuleList(_linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.gmf_dim = max(gmf_dim, 0)
        self.mlp_out = sizes[-1] if mlp_dim > 0 else 0
        self.head = _linear(self.gmf_dim + self.mlp_out, 1)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits of the pairs ``(users[j], items[j])``, shape ``(len(users),)``."""
        parts = []
        if self.gmf is not None:
            parts.append(self.gmf.users(users) * self.gmf.items(items))
        if self.mlp is not None:
            hidden = torch.cat([self.mlp.users(users), self.mlp.items(items)], dim=1)
            for layer in self.hidden:
                hidden = torch.relu(layer(hidden))
            parts.append(hidden)
        return self.head(torch.cat(parts, dim=1)).squeeze(1)

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """Logits of the given users against every item, shape ``(len(users), n_items)``.

        Equal (up to rounding) to :meth:`forward` on every pair, without building the pairs.
        """
        weight = self.head.weight[0]
        logits = self.head.bias.expand(len(users), 1)
        if self.gmf is not None:
            scaled = self.gmf.users(users) * weight[: self.gmf_dim]
            logits = logits + scaled @ self.gmf.items().T
        if self.mlp is not None:
            logits = logits + self._mlp_all(users, weight[self.gmf_dim:])
        return logits

    def _mlp_all(self, users: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The MLP branch's share of every user x item logit."""
        assert self.mlp is not None
        user_part, item_part = self.mlp.users(users), self.mlp.items()
        dim = user_part.shape[1]
        if not len(self.hidden):
            # Linear in [user, item]: a user term plus an item term.
            return (user_part @ weight[:dim])[:, None] + (item_part @ weight[dim:])[None, :]

        # First hidden layer: W [u, i] + a = (W_u u + a) + W_i i, computed once per side.
        first = self.hidden[0]
        user_first = user_part @ first.weight[:, :dim].T + first.bias
        item_first = item_part @ first.weight[:, dim:].T
        n_items, width = item_first.shape
        step = max(1, _PAIR_FLOATS // max(n_items * width, 1))
        out = []
        for start in range(0, len(users), step):
            hidden = torch.relu(user_first[start:start + step, None, :] + item_first[None, :, :])
            for layer in self.hidden[1:]:
                hidden = torch.relu(layer(hidden))
            out.append(hidden @ weight)
        return torch.cat(out, dim=0)
