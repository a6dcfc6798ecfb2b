"""Six users batched by the server in bf16 each get the picture their request makes alone."""
import re
from pathlib import Path

import numpy as np
from PIL import Image

from bigr_app.engine import DEFAULT_WEIGHTS


def test_six_users_batched_in_bf16_get_their_pictures_alone(app_servers):
    from gradio_client import Client

    server = app_servers("--precision", "bf16", "--log-batches", "--no-outputs", weights=DEFAULT_WEIGHTS)
    try:
        def job(seed):
            return Client(server.url, verbose=False).submit("mammals", 1, seed, 8.0, 10, 0.01, 25, api_name="/generate")

        together = [job(seed) for seed in range(1, 7)]
        batched = [j.result(timeout=300)[1] for j in together]
        alone = [job(seed).result(timeout=300)[1] for seed in range(1, 7)]
    finally:
        server.stop()
    log = Path(server.log.name).read_text()
    assert "sampling on cpu in bf16" in log
    sizes = [int(n) for n in re.findall(r"batch of (\d+) rows from \d+ requests", log)]
    assert max(sizes) > 1, sizes  # the six did share batches
    for a, b in zip(batched, alone):
        assert np.array_equal(np.asarray(Image.open(a[0])), np.asarray(Image.open(b[0])))
