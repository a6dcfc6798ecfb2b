"""The authors' released models on the Hugging Face Hub, fetched with `huggingface_hub`.

Files land in the standard Hugging Face cache (resumable downloads, shared with other tools);
a second load reads the cache. `HF_ENDPOINT`, `HF_HOME` and `HF_HUB_OFFLINE` work as everywhere else.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import BIGR_PRESETS, TOKENIZER_PRESETS
from ..errors import CheckpointError
from ..resources import ASSETS

RELEASE_REPO = "haoosz/BiGR"
IMAGENET_CLASSES = ASSETS / "imagenet_classes.txt"


@dataclass(frozen=True)
class OfficialModel:
    """One released BiGR checkpoint and the B-AE it was trained with (paths inside the Hub repository)."""

    name: str
    bigr: str
    bae: str
    preset: str  # config.BIGR_PRESETS
    bits: int
    tokenizer: str  # config.TOKENIZER_PRESETS
    download_mb: int  # fp32 BiGR state dict + the B-AE's autoencoder part (its file also holds GAN weights)

    @property
    def heads(self) -> int:
        return BIGR_PRESETS[self.preset]["n_head"]

    @property
    def resolution(self) -> int:
        return TOKENIZER_PRESETS[self.tokenizer]["resolution"]


_BAE_D24 = "bae/bae_d24/binaryae_ema_1000000.th"
OFFICIAL_MODELS: dict[str, OfficialModel] = {
    m.name: m
    for m in (
        OfficialModel("BiGR-L-d24", "gpt/bigr_L_d24.pt", _BAE_D24, "BiGR-L", 24, "BAE-d24", 1610),
        OfficialModel("BiGR-XL-d24", "gpt/bigr_XL_d24.pt", _BAE_D24, "BiGR-XL", 24, "BAE-d24", 3514),
        OfficialModel("BiGR-XXL-d24", "gpt/bigr_XXL_d24.pt", _BAE_D24, "BiGR-XXL", 24, "BAE-d24", 6294),
        OfficialModel("BiGR-XXL-d32", "gpt/bigr_XXL_d32.pt", "bae/bae_d32/binaryae_ema_950000.th", "BiGR-XXL", 32,
                      "BAE-d32", 6294),
        OfficialModel("BiGR-L-d32-512", "gpt/bigr_L_d32_512.pt", "bae/bae_d32_512/binaryae_ema_720000.th",
                      "BiGR-L-512", 32, "BAE-d32-512", 1869),
    )
}


def official_model(name: str) -> OfficialModel:
    if name not in OFFICIAL_MODELS:
        raise CheckpointError(f"unknown official model {name!r}; choose from {', '.join(OFFICIAL_MODELS)}")
    return OFFICIAL_MODELS[name]


def file_url(repo_id: str, filename: str, revision: str | None = None) -> str:
    from huggingface_hub import hf_hub_url

    return hf_hub_url(repo_id, filename, revision=revision)


def download(
    repo_id: str,
    filenames: list[str],
    revision: str | None = None,
    cache_dir: str | Path | None = None,
) -> list[Path]:
    """Each file of `repo_id` as a local path: from the cache when there, else downloaded into it.

    A missing network, offline mode or a wrong name ends in a `CheckpointError` that names the
    files and says how to place them by hand."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.constants import is_offline_mode
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    if not is_offline_mode():
        why = unreachable()
        if why is not None:
            cached = [try_to_load_from_cache(repo_id, f, cache_dir=cache_dir, revision=revision) for f in filenames]
            if all(isinstance(c, str) for c in cached):
                return [Path(c) for c in cached]
            raise CheckpointError(_cannot_fetch(repo_id, filenames, revision, "the Hub cannot be reached and the "
                                                "files are not in the local cache", ConnectionError(why)))
    paths = []
    for filename in filenames:
        try:
            paths.append(Path(hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache_dir)))
        except (LocalEntryNotFoundError, OfflineModeIsEnabled) as e:
            raise CheckpointError(_cannot_fetch(repo_id, filenames, revision, "the Hub cannot be reached and the "
                                                "files are not in the local cache", e)) from None
        except HfHubHTTPError as e:
            raise CheckpointError(_cannot_fetch(repo_id, filenames, revision, f"the Hub refused {filename}", e)) from None
    return paths


def unreachable(timeout: float = 5.0) -> str | None:
    """Why the Hub's endpoint (HF_ENDPOINT) cannot be reached, asked once; None when it answers. The Hub client
    retries a refused or reset connection five times, about 24 s, before it gives up."""
    import urllib.error
    import urllib.request

    from huggingface_hub.constants import ENDPOINT

    try:
        urllib.request.urlopen(urllib.request.Request(ENDPOINT, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return None  # it answered
    except (OSError, ValueError) as e:
        return str(getattr(e, "reason", e))
    return None


def _cannot_fetch(repo_id: str, filenames: list[str], revision: str | None, why: str, error: Exception) -> str:
    from huggingface_hub.constants import is_offline_mode

    urls = "\n".join(f"  {file_url(repo_id, f, revision)}" for f in filenames)
    offline = " (or unset HF_HUB_OFFLINE to download here)" if is_offline_mode() else ""
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return (
        f"cannot download from the Hugging Face repository {repo_id!r}: {why} ({first_line}).\n"
        f"On a machine that can reach the Hub, fetch\n{urls}\n"
        f"then pass the files by hand: --bigr FILE.pt --bae FILE.th on the command line, or "
        f"Engine.from_pretrained(bigr=..., bae=...) in Python{offline}."
    )


def default_class_names(n: int) -> list[str]:
    """ImageNet's names for a 1,000-class model (the release's), else "class i"."""
    if n == 1000 and IMAGENET_CLASSES.is_file():
        names = [line.strip() for line in IMAGENET_CLASSES.read_text().splitlines() if line.strip()]
        if len(names) == 1000:
            return names
    return [f"class {i}" for i in range(n)]
