"""The Mult-VAE network (Liang et al. 2018), one hidden layer each side, as ``MODELS.md`` §4.13.

A user is the 0/1 vector ``x`` of the items in their history.  The encoder reads
``dropout(x / ||x||)`` through ``Linear(I, hidden) -> ReLU -> Linear(hidden, 2 * latent)``
and splits the result into the mean ``mu`` and log-variance ``log s2`` of the
latent code; the decoder maps a code through ``Linear(latent, hidden) -> ReLU -> Linear(hidden,
I)`` to item logits.  Training samples ``z = mu + exp(log s2 / 2) * eps``; evaluation uses
``z = mu``.  The loss of a batch is the mean over users of the multinomial negative
log-likelihood ``-sum_i x_i log softmax(logits)_i`` plus ``anneal`` times the mean KL divergence
of ``N(mu, s2)`` from ``N(0, 1)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MultVAENet", "multvae_loss"]


def _linear(fan_in: int, fan_out: int) -> nn.Linear:
    layer = nn.Linear(fan_in, fan_out)
    nn.init.xavier_normal_(layer.weight)
    nn.init.normal_(layer.bias, 0.0, 0.001)
    return layer


class MultVAENet(nn.Module):
    """Variational auto-encoder from a user's item vector to logits over the items.

    Parameters
    ----------
    n_items : int
        Catalogue size ``I`` (dense item ids ``0..I-1``).
    latent_dim : int
        Size of the latent code.
    hidden_dim : int
        Size of the hidden layer of the encoder and of the decoder.
    dropout : float
        Drop probability on the normalised input, in training only.
    """

    def __init__(self, n_items: int, latent_dim: int, hidden_dim: int, dropout: float) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder_hidden = _linear(n_items, hidden_dim)
        self.encoder_out = _linear(hidden_dim, 2 * latent_dim)
        self.decoder_hidden = _linear(latent_dim, hidden_dim)
        self.decoder_out = _linear(hidden_dim, n_items)
        self.dropout = nn.Dropout(dropout)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, log s2)`` of the latent code of each row of ``x``."""
        h = self.dropout(F.normalize(x, p=2.0, dim=1))
        h = self.encoder_out(torch.relu(self.encoder_hidden(h)))
        return h[:, : self.latent_dim], h[:, self.latent_dim:]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Item logits of each latent code."""
        return self.decoder_out(torch.relu(self.decoder_hidden(z)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(logits, mu, log s2)``; the code is sampled in train mode, ``mu`` in eval mode."""
        mu, log_var = self.encode(x)
        z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu) if self.training else mu
        return self.decode(z), mu, log_var


def multvae_loss(
    logits: torch.Tensor,
    x: torch.Tensor,
    mu: torch.Tensor,
    log_var: torch.Tensor,
    anneal: float,
) -> torch.Tensor:
    """Mean multinomial negative log-likelihood plus ``anneal`` times the mean KL term."""
    nll = -(F.log_softmax(logits, dim=1) * x).sum(dim=1).mean()
    kl = -0.5 * (1.0 + log_var - mu.pow(2) - log_var.exp()).sum(dim=1).mean()
    return nll + anneal * kl
