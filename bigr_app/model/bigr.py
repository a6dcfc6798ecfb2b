"""BiGR = backbone + binary transcoder, and its masked-modelling training loss."""
from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn

from .backbone import Backbone
from .config import BiGRConfig
from .draws import Draws
from .transcoder import Transcoder


def cosine_mask_count(seq_len: int, draws: Draws) -> int:
    """The release's training mask ratio: cos(pi/2 * u) with u uniform on {0, 1/N, ...}; one per step."""
    step = min(seq_len - 1, int(draws.shared(1).item() * seq_len))
    return max(1, math.floor(seq_len * math.cos(math.pi / 2 * step / seq_len)))


def random_mask(batch: int, seq_len: int, count: int, draws: Draws) -> torch.Tensor:
    """[batch, seq_len] bool with exactly `count` True per row, uniformly placed."""
    ranks = draws.rows(batch, seq_len).argsort(dim=1).argsort(dim=1)
    return ranks < count


class BiGR(nn.Module):
    """The backbone, which reads the token grid, and the transcoder, which turns each output into bits;
    `forward` is the masked-modelling training loss (sampling is `sampling.masked_decoding`)."""

    def __init__(self, cfg: BiGRConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg)
        self.transcoder = Transcoder(cfg)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """The release's initialisation: N(0, 0.02) linears, zeroed adaLN outputs and final layer."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
        nn.init.zeros_(self.backbone.modulation[1].weight)
        nn.init.zeros_(self.backbone.modulation[1].bias)
        nn.init.normal_(self.backbone.pos_embed, std=0.02)
        net = self.transcoder.net
        for layer in [blk.modulation[1] for blk in net.blocks] + [net.final.modulation[1], net.final.linear]:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(
        self, bits: torch.Tensor, class_ids: torch.Tensor, draws: Draws | None = None
    ) -> dict[str, torch.Tensor]:
        """Masked modelling: mask a cosine-sampled share of tokens, predict their bits.

        bits [B, N, K] in {0, 1}; class_ids [B]. Class labels are dropped to the null class with
        probability cfg.class_dropout so that the model learns classifier-free guidance. `draws`: the step's
        random numbers (see `draws`; default: unseeded).
        """
        b, n, _ = bits.shape
        draws = draws or Draws(bits.device)
        count = cosine_mask_count(n, draws)
        masked = random_mask(b, n, count, draws)
        drop = draws.rows(b) < self.cfg.class_dropout
        classes = torch.where(drop, torch.full_like(class_ids, self.cfg.num_classes), class_ids)
        cond = self.backbone(bits, masked, self.backbone.class_condition(classes), draws)
        # every row has `count` masked tokens, so row i's come i-th: the draws for them are row i's
        per_bit = self.transcoder.loss(bits[masked].float(), cond[masked],
                                       lambda *shape: draws.rows(b, count, *shape).flatten(0, 1))
        return {"loss": per_bit.mean(), "mask_ratio": masked.float().mean()}


def with_linear_weights_in(model: BiGR, dtype: torch.dtype) -> BiGR:
    """A copy of `model` whose linear layers keep their weight matrices in `dtype`.

    Under autocast to `dtype` it computes exactly what `model` does, but autocast does not cache its
    weight casts in inference mode: with fp32 weights every linear layer is cast again at every call,
    ten times per image for the backbone alone. Biases stay fp32 (they are small, and the transcoder
    adds adaLN's "+ 1" to some of them before rounding).
    """
    clone = copy.deepcopy(model)
    for module in clone.modules():
        if isinstance(module, nn.Linear):
            module.weight = nn.Parameter(module.weight.detach().to(dtype), requires_grad=False)
    return clone


