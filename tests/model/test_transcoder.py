"""The transcoder's sampling step (`sampling.fused_transcoder`) computes what the network's own forward does."""
import torch

from bigr_app.tiny import TINY_BIGR, randomize
from bigr_app.model.transcoder import Transcoder
from bigr_app.sampling.fused_transcoder import forward_modulated, modulations


def test_guided_step_equals_mixing_the_conditional_and_unconditional_logits():
    net = randomize(Transcoder(TINY_BIGR)).net
    g = torch.Generator().manual_seed(0)
    m, hidden = 7, TINY_BIGR.transcoder_dim
    spins = torch.randint(0, 2, (m, TINY_BIGR.bits), generator=g).float() * 2 - 1
    mods = modulations(net, torch.randn(2, m, hidden, generator=g), torch.randn(1, 1, hidden, generator=g))
    cond, uncond = forward_modulated(net, spins, mods[0]), forward_modulated(net, spins, mods[1])
    for cfg in (1.0, 3.0, 0.0):
        guided = forward_modulated(net, spins, mods, cfg_scale=cfg)
        assert guided.shape == (m, TINY_BIGR.bits)
        torch.testing.assert_close(guided, uncond + cfg * (cond - uncond), atol=1e-4, rtol=1e-4)


def test_the_fused_sampling_form_is_the_training_forward():
    net = randomize(Transcoder(TINY_BIGR)).net
    g = torch.Generator().manual_seed(1)
    x_t = torch.randint(0, 2, (5, TINY_BIGR.bits), generator=g).float()
    t = torch.randint(0, 256, (5,), generator=g)
    cond = torch.randn(5, TINY_BIGR.dim, generator=g)
    fused = forward_modulated(net, x_t * 2 - 1, modulations(net, net.cond_proj(cond), net.time_embed(t)))
    torch.testing.assert_close(fused, net(x_t, t, cond), atol=1e-5, rtol=1e-5)
