"""The judge classifier used for class faithfulness: trained once, cached, reloaded identically."""
from pathlib import Path

import numpy as np

from bigr_app.data.folder import ImageFolder
from bigr_app.metrics import load_or_train_classifier, predict

FIXTURE = Path(__file__).parent / "fixtures" / "emoji_tiny"


def test_judge_is_cached_and_reloaded(tmp_path):
    train = ImageFolder(FIXTURE / "train", 32)
    path = tmp_path / "judge.pt"
    messages = []
    judge = load_or_train_classifier(path, train, epochs=1, log=messages.append)
    assert path.is_file()
    again = load_or_train_classifier(path, train, epochs=1, log=messages.append)
    assert np.array_equal(predict(judge, train.pixels), predict(again, train.pixels))
    assert not any("other classes" in m for m in messages)
    load_or_train_classifier(path, train, epochs=2, log=messages.append)  # other settings: trained anew
    assert any("other classes or settings" in m for m in messages)
