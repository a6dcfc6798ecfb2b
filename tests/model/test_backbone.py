"""The backbone's 2-D rotary embedding."""
import torch

from bigr_app.model.backbone import apply_rope, rope_2d_table

GRID, HEAD_DIM = 6, 16


def test_rope_rotates_each_pair_by_its_angle_and_zeroes_the_class_token():
    table = rope_2d_table(GRID, HEAD_DIM, 10000.0, prefix_tokens=1)
    x = torch.randn(2, 1 + GRID * GRID, 3, HEAD_DIM)
    out = apply_rope(x, table)
    a, b = x[..., 0::2], x[..., 1::2]
    cos, sin = table[None, :, None, :, 0], table[None, :, None, :, 1]
    torch.testing.assert_close(out[..., 0::2], a * cos - b * sin)
    torch.testing.assert_close(out[..., 1::2], b * cos + a * sin)
    assert torch.all(out[:, 0] == 0)  # the release's zero rows for the class token
    torch.testing.assert_close(out[:, 1:].norm(dim=-1), x[:, 1:].norm(dim=-1))  # rotations keep lengths


def test_rope_attention_scores_depend_only_on_the_offset_between_cells():
    table = rope_2d_table(GRID, HEAD_DIM, 10000.0, prefix_tokens=0)
    q, k = torch.randn(HEAD_DIM), torch.randn(HEAD_DIM)
    rq = apply_rope(q.expand(1, GRID * GRID, 1, HEAD_DIM), table)[0, :, 0].view(GRID, GRID, HEAD_DIM)
    rk = apply_rope(k.expand(1, GRID * GRID, 1, HEAD_DIM), table)[0, :, 0].view(GRID, GRID, HEAD_DIM)

    def score(qi, qj, ki, kj):
        return float(rq[qi, qj] @ rk[ki, kj])

    assert abs(score(0, 0, 1, 2) - score(3, 2, 4, 4)) < 1e-4  # same offset (1, 2)
    assert abs(score(2, 5, 0, 1) - score(4, 4, 2, 0)) < 1e-4  # same offset (-2, -4)
    assert abs(score(0, 0, 1, 2) - score(0, 0, 2, 1)) > 1e-3  # a different offset scores differently
