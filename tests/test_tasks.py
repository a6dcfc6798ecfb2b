"""One typed request per task: what the page, the CLI and the API build, what a PNG records and restore reads back.
PNGs written before the requests existed (tests/fixtures/pngs_v1) still read."""
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bigr_app.app.saving import read_params
from bigr_app.errors import InputError
from bigr_app.sampling.params import SamplingParams
from bigr_app.tasks import (REQUESTS, EditRequest, EnrichRequest, GenerateRequest, InpaintRequest, InterpolateRequest,
                            OutpaintRequest, Sampling, VaryRequest, request_from_params)

V1 = Path(__file__).parent / "fixtures" / "pngs_v1"
QUICK = Sampling(cfg_scale=2.5, iterations=2, diffusion_steps=2)
PICTURE = Image.new("RGB", (48, 40), "orange")
MASK = np.zeros((40, 48), bool)
MASK[10:30, 12:36] = True


def every_request() -> list:
    return [GenerateRequest(class_id="c1", num_samples=2, seed=7, sampling=QUICK),
            InpaintRequest(picture=PICTURE, mask=MASK, class_id="c2", num_samples=2, seed=11, feather_radius=3.0,
                           region="whole", grow=1, strength=0.75, sampling=QUICK, source_sha256="ab" * 8),
            EditRequest(picture=PICTURE, mask=MASK, class_id="c3", seed=12, sampling=QUICK),
            OutpaintRequest(picture=PICTURE, mask=MASK, seed=13, sampling=QUICK),
            OutpaintRequest(picture=PICTURE, expand=(16, 0, 8, 0), seed=14, sampling=QUICK),
            InterpolateRequest(class_a="c0", class_b="c1", ratios=(0.0, 0.5, 1.0), seed=15, sampling=QUICK),
            EnrichRequest(picture=PICTURE, rounds=2, seed=16, sampling=QUICK),
            VaryRequest(picture=PICTURE, strength=0.4, num_samples=2, seed=17, sampling=QUICK)]


def without_pictures(request):
    return dataclasses.replace(request, **{f.name: None for f in dataclasses.fields(request)
                                           if f.metadata.get("picture")})


def test_every_task_has_a_request_and_the_knobs_are_the_samplers():
    assert set(REQUESTS) == {"generate", "inpaint", "edit", "outpaint", "interpolate", "enrich", "vary"}
    assert [f.name for f in dataclasses.fields(Sampling)] == [f.name for f in dataclasses.fields(SamplingParams)]


@pytest.mark.parametrize("request_", every_request(), ids=lambda r: r.task)
def test_a_request_reads_back_from_its_params_json_included(request_):
    params = json.loads(json.dumps(request_.to_params()))  # as a PNG stores them
    assert params["task"] == request_.task and "picture" not in params and "mask" not in params
    assert request_from_params(params) == without_pictures(request_)


@pytest.mark.parametrize("request_", every_request(), ids=lambda r: r.task)
def test_a_result_records_its_request_and_reads_back_as_it(tiny_engine, request_):
    result = request_.run(tiny_engine)
    assert result.params["task"] == request_.task  # edit and outpaint say so themselves
    assert result.params.get("source_sha256") == request_.source_sha256
    again = request_from_params(result.params)
    assert type(again) is type(request_) and again.seed == request_.seed
    own = {k: v for k, v in without_pictures(request_).to_params().items() if k != "padding"}
    assert {k: again.to_params()[k] for k in own} == own  # what the result adds (resolved padding...) aside


def test_pngs_of_the_previous_version_read_as_requests():
    expected = {"generate": GenerateRequest, "inpaint": InpaintRequest, "edit": EditRequest,
                "outpaint_frame": OutpaintRequest, "outpaint_expand": OutpaintRequest,
                "interpolate": InterpolateRequest, "enrich": EnrichRequest, "vary": VaryRequest}
    for name, kind in expected.items():
        request = request_from_params(read_params(V1 / f"{name}.png"))
        assert type(request) is kind
    inpaint = request_from_params(read_params(V1 / "inpaint.png"))
    assert inpaint.blend_mode == "feather" and inpaint.feather_radius == 3.0 and inpaint.strength == 0.75
    assert request_from_params(read_params(V1 / "outpaint_expand.png")).expand == (16, 0, 8, 0)


def test_a_request_that_lacks_what_it_needs_says_so(tiny_engine):
    with pytest.raises(InputError, match="edit needs class_id"):
        request_from_params({"task": "edit", "seed": 1})
    with pytest.raises(InputError, match="no task 'paint'"):
        request_from_params({"task": "paint"})
    with pytest.raises(InputError, match="no mask"):
        InpaintRequest(picture=PICTURE, sampling=QUICK).run(tiny_engine)
    with pytest.raises(InputError, match="no picture"):
        VaryRequest(sampling=QUICK).run(tiny_engine)
