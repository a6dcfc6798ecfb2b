"""The transcoder's sampling step: the fused guided form computes what the plain network does."""
import torch

from bigr_app.tiny import TINY_BIGR, randomize
from bigr_app.model.transcoder import Transcoder


def test_guided_step_equals_mixing_the_conditional_and_unconditional_logits():
    net = randomize(Transcoder(TINY_BIGR)).net
    g = torch.Generator().manual_seed(0)
    m, hidden = 7, TINY_BIGR.transcoder_dim
    spins = torch.randint(0, 2, (m, TINY_BIGR.bits), generator=g).float() * 2 - 1
    mods = net.modulations(torch.randn(2, m, hidden, generator=g), torch.randn(1, 1, hidden, generator=g))
    cond, uncond = net.forward_modulated(spins, mods[0]), net.forward_modulated(spins, mods[1])
    for cfg in (1.0, 3.0, 0.0):
        guided = net.forward_modulated(spins, mods, cfg_scale=cfg)
        assert guided.shape == (m, TINY_BIGR.bits)
        torch.testing.assert_close(guided, uncond + cfg * (cond - uncond), atol=1e-4, rtol=1e-4)


def test_the_modulated_form_is_the_training_forward():
    net = randomize(Transcoder(TINY_BIGR)).net
    g = torch.Generator().manual_seed(1)
    x_t = torch.randint(0, 2, (5, TINY_BIGR.bits), generator=g).float()
    t = torch.randint(0, 256, (5,), generator=g)
    cond = torch.randn(5, TINY_BIGR.dim, generator=g)
    by_module = torch.stack([blk.modulation(net.cond_proj(cond) + net.time_embed(t)) for blk in net.blocks])
    x = net.in_proj(x_t * 2 - 1)
    for blk, mod in zip(net.blocks, by_module):
        x = blk(x, mod)
    expected = net.final(x, net.final.modulation(net.cond_proj(cond) + net.time_embed(t)))
    torch.testing.assert_close(net(x_t, t, cond), expected, atol=1e-5, rtol=1e-5)
