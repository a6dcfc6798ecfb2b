"""Static-shape sampling (bucketed transcoder rows, recorded replays) samples exactly the bits the plain
loop samples. On the CPU the "recording" re-runs the function on the static buffers, which checks the
padding, bucketing and buffer handling; the `cuda` tests check real CUDA graphs against eager on a GPU."""
import copy

import pytest
import torch

from bigr_app import Engine
from bigr_app.sampling.graphs import GraphCache, bucket_rows, pad_rows
from bigr_app.sampling.bernoulli import MIN_ROWS, sample_bits

from ..conftest import FAST


def eager_capture(calls):
    def capture(fn):
        calls.append(fn)
        return fn
    return capture


def test_buckets_cover_every_count_with_little_padding_and_few_sizes():
    sizes = [bucket_rows(n) for n in range(1, 2 * 64 * 256 + 1)]
    assert all(b >= n for n, b in enumerate(sizes, 1))
    assert all(b <= max(n * 1.25, 8) for n, b in enumerate(sizes, 1))
    assert sizes == sorted(sizes) and len(set(sizes)) < 60


def test_pad_rows_appends_zeros_along_a_dimension():
    x = torch.arange(6.0).reshape(2, 3)
    assert torch.equal(pad_rows(x, 4), torch.cat([x, torch.zeros(2, 3)]))
    assert pad_rows(x, 5, dim=1).shape == (2, 5) and pad_rows(x, 2) is x


def drawn_bits(p: torch.Tensor, seed: int) -> torch.Tensor:
    """Bits drawn from probabilities `p` the way the sampler draws them."""
    return torch.rand(p.shape, generator=torch.Generator().manual_seed(seed)) < p


@pytest.mark.parametrize("rows", [1, 7, 9, 17, 37, 100])
@pytest.mark.parametrize("cfg", [None, 1.0, 3.0])
def test_bucketed_transcoder_samples_the_plain_ones_bits(tiny_models, rows, cfg):
    """Padded rows change nothing in the real ones but BLAS rounding: at another row count a probability may
    differ in its last bits (a bit flipped inside the diffusion loop would move it far); the drawn bits agree."""
    transcoder = tiny_models[1].transcoder
    g = torch.Generator().manual_seed(rows)
    cond = torch.randn(rows, 128, generator=g)
    uncond = torch.randn(rows, 128, generator=g) if cfg is not None else None
    cache = GraphCache(eager_capture([]))
    for seed in (0, 1):
        kwargs = dict(cfg_scale=cfg or 1.0, steps=12, temperature=0.9)
        plain = sample_bits(transcoder, cond, uncond, noise=torch.Generator().manual_seed(seed), **kwargs)
        padded = sample_bits(transcoder, cond, uncond, noise=torch.Generator().manual_seed(seed), graphs=cache,
                                   **kwargs)
        assert padded.shape == plain.shape
        torch.testing.assert_close(padded, plain, rtol=0, atol=1e-5)
        assert torch.equal(drawn_bits(padded, seed), drawn_bits(plain, seed))
    (entry,) = cache.entries  # one recording for both seeds, at the bucket size
    assert entry[-1][0][1] == bucket_rows(max(rows, MIN_ROWS))  # the last input: the noise, [steps - 1, rows, K]


def with_replays(engine: Engine, cache: GraphCache) -> Engine:
    """`engine`, its sampling model replaying through `cache`."""
    engine._sampling_models[engine.precision, engine.graphs] = (engine.sampling_model(), cache)
    return engine


def engine_with_graphs(tiny_engine, calls):
    make = lambda: Engine(tiny_engine.tokenizer, tiny_engine.bigr, tiny_engine.class_names,  # noqa: E731
                          device="cpu", precision="fp32")
    return make(), with_replays(make(), GraphCache(eager_capture(calls)))


@pytest.mark.parametrize("cfg_schedule", ["constant", "linear"])
def test_sampling_with_replays_equals_plain_sampling(tiny_engine, cfg_schedule):
    calls = []
    plain, graphed = engine_with_graphs(tiny_engine, calls)
    knobs = dict(iterations=5, diffusion_steps=6, cfg_scale=2.5, cfg_schedule=cfg_schedule)
    classes = torch.tensor([0, 3])
    for seed in (0, 7):
        assert torch.equal(plain.generate_tokens(classes, seed, **knobs), graphed.generate_tokens(classes, seed, **knobs))
    recorded = len(calls)
    assert recorded >= 2  # the backbone and at least one transcoder size
    tokens = plain.generate_tokens(classes, 1, **knobs)
    region = torch.zeros(2, plain.grid, plain.grid, dtype=torch.bool)
    region[0, :5] = True
    region[1, 3:9, 2:] = True
    a = plain.sample_tokens(tokens, region, classes, seed=4, **knobs)
    b = graphed.sample_tokens(tokens, region, classes, seed=4, **knobs)
    assert torch.equal(a, b)
    assert len(calls) > recorded  # new row counts, new recordings; same shapes replayed


def test_a_shape_that_cannot_be_recorded_runs_eagerly(tiny_models, caplog):
    def refuse(fn):
        raise RuntimeError("operation not permitted when stream is capturing")

    transcoder = tiny_models[1].transcoder
    cond = torch.randn(5, 128)
    cache = GraphCache(refuse)
    recorded = sample_bits(transcoder, cond, steps=4, noise=torch.Generator().manual_seed(0),
                                 graphs=GraphCache(eager_capture([])))
    for _ in range(2):
        out = sample_bits(transcoder, cond, steps=4, noise=torch.Generator().manual_seed(0), graphs=cache)
        assert torch.equal(out, recorded)
    assert len(cache.failed) == 1 and "cannot record" in caplog.text


def test_a_recording_that_replays_wrongly_runs_eagerly(tiny_models, caplog):
    def stale(fn):  # stands for a replay that reads memory the recording no longer owns
        out = fn()
        return lambda: out + 1

    transcoder = tiny_models[1].transcoder
    cond = torch.randn(5, 128)
    recorded = sample_bits(transcoder, cond, steps=4, noise=torch.Generator().manual_seed(0),
                                 graphs=GraphCache(eager_capture([])))
    cache = GraphCache(stale)
    out = sample_bits(transcoder, cond, steps=4, noise=torch.Generator().manual_seed(0), graphs=cache)
    assert torch.equal(out, recorded)
    assert len(cache.failed) == 1 and not cache.entries and "differs" in caplog.text


def test_graphs_are_refused_without_a_gpu(tiny_engine):
    with pytest.raises(Exception, match="CUDA device"):
        Engine(tiny_engine.tokenizer, tiny_engine.bigr, device="cpu", graphs="on")
    assert Engine(tiny_engine.tokenizer, tiny_engine.bigr, device="cpu").graphs is False


# ---- on a GPU: real CUDA graphs against eager ------------------------------------------------------
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_graph_replay_equals_eager_bit_for_bit(tiny_engine, precision):
    """Recorded graphs against the same bucketed steps run eagerly (cuBLAS may round a row differently
    at another row count, so the eager side runs the same padded shapes)."""
    tok, bigr = copy.deepcopy(tiny_engine.tokenizer), copy.deepcopy(tiny_engine.bigr)  # moved to the GPU
    options = dict(class_names=tiny_engine.class_names, device="cuda", precision=precision)
    eager = with_replays(Engine(tok, bigr, graphs="off", **options), GraphCache(eager_capture([])))
    graphed = Engine(tok, bigr, graphs="on", **options)
    classes = torch.tensor([0, 1, 2], device="cuda")
    for seed in (0, 1, 2):
        a = eager.generate_tokens(classes, seed, **FAST)
        b = graphed.generate_tokens(classes, seed, **FAST)
        assert torch.equal(a, b), f"seed {seed}: {(a != b).float().mean():.4f} of bits differ"
    region = torch.zeros(3, eager.grid, eager.grid, dtype=torch.bool, device="cuda")
    region[:, :, : eager.grid // 2] = True
    tokens = eager.generate_tokens(classes, 5, **FAST)
    assert torch.equal(eager.sample_tokens(tokens, region, classes, seed=9, **FAST),
                       graphed.sample_tokens(tokens, region, classes, seed=9, **FAST))
    cache = graphed.sampling_graphs()
    assert cache.entries and not cache.failed


@pytest.mark.cuda
@cuda
@pytest.mark.parametrize("rows", [1, 13, 256])
def test_cuda_bucketed_transcoder_equals_plain(tiny_models, rows):
    transcoder = copy.deepcopy(tiny_models[1].transcoder).to("cuda")
    cond, uncond = torch.randn(2, rows, 128, device="cuda").unbind(0)
    plain = sample_bits(transcoder, cond, uncond, 3.0, 20, noise=torch.Generator("cuda").manual_seed(0),
                              graphs=GraphCache(eager_capture([])))
    cache = GraphCache()
    for _ in range(2):
        graphed = sample_bits(transcoder, cond, uncond, 3.0, 20, noise=torch.Generator("cuda").manual_seed(0),
                                    graphs=cache)
        assert torch.equal(plain, graphed)
