# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 49 class 7: a tampered manifest is refused before any model is built.

The manifest's hash protects the weights file, not the manifest: these
manifests keep the weights' true SHA-256 and change only the network they
describe. Each must end in one sentence, with no gigabyte allocation first
(the absurd case runs in a child process whose peak memory is measured).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from core.errors import FaceFromPhotoError
from core.predict import load_model, write_untrained_weights
from core.weights_manifest import (
    MAX_PARAMETERS,
    check_state,
    config_from_manifest,
    expected_state,
    state_size,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "core" / "weights" / "manifest.json"


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small untrained weights (the default NetConfig) with their true manifest."""
    return write_untrained_weights(tmp_path_factory.mktemp("weights"))


def tampered(weights: Path, folder: Path, **config: object) -> Path:
    """A copy of ``weights`` whose manifest keeps the true hash but changes ``config`` entries."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(weights, folder / "face_net.pt")
    manifest = json.loads((weights.parent / "manifest.json").read_text())
    manifest["config"].update(config)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder / "face_net.pt"


def test_the_shipped_manifests_pass_and_count_their_weights() -> None:
    for manifest_path in (SHIPPED, SHIPPED.parent / "large" / "manifest.json"):
        manifest = json.loads(manifest_path.read_text())
        shapes = expected_state(config_from_manifest(manifest))
        # float16 file: 2 bytes per value plus the zip's names and headers
        n = state_size(shapes)
        assert 2 * n <= manifest["bytes"] < 2 * n + 400_000, (manifest_path, n)


BAD = {
    "absurd widths": ({"widths": [100_000, 200_000, 400_000, 800_000, 1_600_000]}, "widths[0] = 100000"),
    "widths as text": ({"widths": "16,32,64"}, "widths must be a list"),
    "a width that is a bool": ({"widths": [16, True, 48, 96, 160]}, "widths[1] = True"),
    "negative width": ({"widths": [16, -24, 48, 96, 160]}, "widths[1] = -24"),
    "float width": ({"widths": [16, 24.5, 48, 96, 160]}, "widths[1] = 24.5"),
    "too many levels": ({"widths": [8] * 30, "decoder_widths": [8] * 30}, "number of levels"),
    "decoder levels differ": ({"decoder_widths": [8, 12]}, "decoder_widths has 2 levels"),
    "even kernel": ({"kernel": 4}, "kernel = 4 must be odd"),
    "huge block count": ({"encoder_blocks": 10**9}, "encoder_blocks = 1000000000"),
    "unknown upsampling": ({"upsample": "magic"}, "upsample = 'magic'"),
    "unknown output": ({"half_res_outputs": ["hair"]}, "half_res_outputs"),
    "unknown entry": ({"depth_of_field": 3}, "unknown config entries"),
    "in range but too large": ({"widths": [2048] * 8, "decoder_widths": [2048] * 8, "bottleneck_blocks": 32,
                                "encoder_blocks": 32}, f"more than {MAX_PARAMETERS:,}"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_impossible_networks_are_refused_with_one_sentence(weights: Path, tmp_path: Path, case: str) -> None:
    config, words = BAD[case]
    path = tampered(weights, tmp_path / "w", **config)
    with pytest.raises(FaceFromPhotoError) as info:
        load_model(path, device="cpu")
    message = str(info.value)
    assert "describes an impossible network" in message and words in message, message
    assert message.endswith("reinstall the extension.") and "\n" not in message


def test_a_plausible_network_the_weights_do_not_fill_is_refused_before_it_is_built(weights: Path,
                                                                                   tmp_path: Path) -> None:
    # widths in range, 4x the values the file holds; then other shapes in the same levels
    for k, config in enumerate(({"widths": [64, 96, 192, 384, 640], "decoder_widths": [32, 48, 64, 128, 192]},
                                {"decoder_widths": [12, 8, 16, 32, 48]})):
        path = tampered(weights, tmp_path / f"w{k}", **config)
        with pytest.raises(FaceFromPhotoError, match="do not fit the network architecture in the manifest"):
            load_model(path, device="cpu")
    with pytest.raises(ValueError, match="has shape"):
        check_state(expected_state(config_from_manifest({"config": {"kernel": 5}})),
                    torch.load(weights, weights_only=True))


ABSURD_CHILD = """
import resource, sys
from core.errors import FaceFromPhotoError
from core.predict import load_model
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    load_model(sys.argv[1], device="cpu")
    print("loaded")
except FaceFromPhotoError as e:
    print("refused", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024, str(e))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="resource is POSIX")
def test_absurd_widths_allocate_nothing_before_the_refusal(weights: Path, tmp_path: Path) -> None:
    # the largest widths the range checks let through, in every level: a real build would need > 10 GB
    path = tampered(weights, tmp_path / "w", widths=[2048] * 8, decoder_widths=[2048] * 8,
                    normals_decoder_widths=[2048] * 8, encoder_blocks=32, bottleneck_blocks=32)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(ABSURD_CHILD), str(path)],
                          capture_output=True, text=True, timeout=300, cwd=str(ROOT),
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    word, growth_mb, message = proc.stdout.strip().splitlines()[-1].split(" ", 2)
    assert word == "refused" and "impossible network" in message, proc.stdout
    assert int(growth_mb) < 200, proc.stdout  # MB of peak resident memory added by the refused load
