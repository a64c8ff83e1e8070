# SPDX-License-Identifier: GPL-3.0-or-later
"""Issue 49 class 7: a tampered manifest is refused before any model is built.

The manifest's hash protects the weights file, not the manifest: these
manifests keep the weights' true SHA-256 and change only the network they
describe. Each must end in one sentence, with no gigabyte allocation first
(every tampered load runs in one child process with a capped heap; its peak memory
is measured).
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
    # the largest values the range checks let through, everywhere: a real build would need > 10 GB
    "in range but too large": ({"widths": [2048] * 8, "decoder_widths": [2048] * 8,
                                "normals_decoder_widths": [2048] * 8, "bottleneck_blocks": 32,
                                "encoder_blocks": 32}, f"more than {MAX_PARAMETERS:,}"),
}

# Loads every tampered manifest in one child process whose heap is capped (RLIMIT_DATA), so a
# regression that builds the network fails with an allocation error instead of exhausting the machine.
CHILD = """
import json, resource, sys
LIMIT = 3 << 30  # bytes of heap: loading the real small weights needs a few hundred MB
resource.setrlimit(resource.RLIMIT_DATA, (LIMIT, LIMIT))
from core.errors import FaceFromPhotoError
from core.predict import load_model
out = {}
for case, path in json.loads(sys.argv[1]).items():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        load_model(path, device="cpu")
        out[case] = {"error": None}
    except FaceFromPhotoError as e:
        out[case] = {"error": str(e)}
    except Exception as e:
        out[case] = {"unexpected": f"{type(e).__name__}: {str(e)[:200]}"}
    out[case]["growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def refusals(weights: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("tampered")
    paths = {case: str(tampered(weights, folder / f"w{k}", **config)) for k, (case, (config, _)) in
             enumerate(BAD.items())}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(CHILD), json.dumps(paths)],
                          capture_output=True, text=True, timeout=600, cwd=str(ROOT),
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(sys.platform == "win32", reason="resource is POSIX")
@pytest.mark.parametrize("case", list(BAD))
def test_impossible_networks_are_refused_without_allocating(refusals: dict, case: str) -> None:
    r = refusals[case]
    message = r.get("error") or ""
    assert "unexpected" not in r and "describes an impossible network" in message, r
    assert BAD[case][1] in message, message
    assert message.endswith("reinstall the extension.") and "\n" not in message
    assert r["growth_mb"] < 200, r  # MB of peak resident memory added by the refused load


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
