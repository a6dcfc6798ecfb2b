"""Sampling: the one masked-decoding loop, the transcoder's Bernoulli diffusion sampling, per-sample noise
streams, CUDA-graph replay, the literal reference implementation and the timing model."""
