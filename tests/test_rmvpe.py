"""RMVPE (runtime.voice.rmvpe): the public rmvpe.pt's parameter names and shapes load, the HTK mel
front end equals librosa's, and decoding turns a salience peak into the right pitch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from runtime.voice import pitch
from runtime.voice.rmvpe import CENTS, decode, mel_filterbank


def rmvpe_public_shapes() -> dict[str, tuple]:
    """Key names and shapes of the public rmvpe.pt, written out from RMVPE's architecture (U-Net of
    residual conv blocks with batch norm, 4 blocks per level; BiGRU 384 -> 2x256; 360 bins)
    independently of our module code."""
    s: dict[str, tuple] = {}

    def bn(name, c):
        for k in ("weight", "bias", "running_mean", "running_var"):
            s[f"{name}.{k}"] = (c,)
        s[f"{name}.num_batches_tracked"] = ()

    def res_blocks(prefix, cin, cout):
        for j in range(4):
            cj = cin if j == 0 else cout
            s[f"{prefix}.{j}.conv.0.weight"] = (cout, cj, 3, 3)
            bn(f"{prefix}.{j}.conv.1", cout)
            s[f"{prefix}.{j}.conv.3.weight"] = (cout, cout, 3, 3)
            bn(f"{prefix}.{j}.conv.4", cout)
            if cj != cout:
                s[f"{prefix}.{j}.shortcut.weight"] = (cout, cj, 1, 1)
                s[f"{prefix}.{j}.shortcut.bias"] = (cout,)

    bn("unet.encoder.bn", 1)
    for i, (cin, cout) in enumerate([(1, 16), (16, 32), (32, 64), (64, 128), (128, 256)]):
        res_blocks(f"unet.encoder.layers.{i}.conv", cin, cout)
    for k in range(4):
        res_blocks(f"unet.intermediate.layers.{k}.conv", 256 if k == 0 else 512, 512)
    for i, cin in enumerate([512, 256, 128, 64, 32]):
        s[f"unet.decoder.layers.{i}.conv1.0.weight"] = (cin, cin // 2, 3, 3)
        bn(f"unet.decoder.layers.{i}.conv1.1", cin // 2)
        res_blocks(f"unet.decoder.layers.{i}.conv2", cin, cin // 2)
    s["cnn.weight"], s["cnn.bias"] = (3, 16, 3, 3), (3,)
    for suffix in ("", "_reverse"):
        s[f"fc.0.gru.weight_ih_l0{suffix}"], s[f"fc.0.gru.weight_hh_l0{suffix}"] = (768, 384), (768, 256)
        s[f"fc.0.gru.bias_ih_l0{suffix}"] = s[f"fc.0.gru.bias_hh_l0{suffix}"] = (768,)
    s["fc.1.weight"], s["fc.1.bias"] = (360, 512), (360,)
    return s


def write_public_shaped_rmvpe(path) -> None:
    """A file laid out like rmvpe.pt (a plain fp16 state dict) with small random weights."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for k, shape in rmvpe_public_shapes().items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(0)
        elif k.endswith("running_var"):
            state[k] = torch.ones(shape, dtype=torch.float16)
        else:
            state[k] = (0.05 * torch.randn(shape, generator=g)).half()
    torch.save(state, path)


@pytest.fixture(scope="module")
def rmvpe_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("rmvpe") / "rmvpe.pt"
    write_public_shaped_rmvpe(path)
    return path


def test_public_rmvpe_names_and_shapes_load_and_run(rmvpe_file):
    from runtime.voice.rmvpe import RMVPE

    ours = {k: tuple(v.shape) for k, v in RMVPE().state_dict().items()}
    want = rmvpe_public_shapes()
    assert set(ours) == set(want), (sorted(set(ours) - set(want))[:5], sorted(set(want) - set(ours))[:5])
    assert ours == want
    extract = pitch.build("rmvpe", model_path=rmvpe_file)
    x = (0.3 * np.sin(2 * np.pi * 200 * np.arange(13_337) / 16000)).astype(np.float32)
    f0 = extract(x)  # random weights: only the grid and the value range are meaningful
    assert f0.shape == (pitch.n_frames(len(x)),) and np.all(np.isfinite(f0)) and np.all(f0 >= 0)


def test_rmvpe_with_other_shapes_says_it_does_not_match(tmp_path):
    state = {k: torch.zeros(shape) for k, shape in rmvpe_public_shapes().items()}
    state["fc.1.weight"] = torch.zeros(128, 512)
    torch.save(state, tmp_path / "rmvpe.pt")
    mismatch = r"(?s)does not match the RMVPE architecture.*fc\.1\.weight"
    with pytest.raises(pitch.PitchUnavailable, match=mismatch):
        pitch.build("rmvpe", model_path=tmp_path / "rmvpe.pt")


def test_mel_filterbank_equals_librosa_htk():
    import librosa

    ref = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=128, fmin=30, fmax=8000, htk=True)
    np.testing.assert_allclose(mel_filterbank(), ref, atol=1e-6)


@pytest.mark.parametrize("hz", [80.0, 220.0, 441.0, 1000.0])
def test_decode_turns_a_salience_peak_into_its_pitch(hz):
    cents = 1200 * np.log2(hz / 10)
    salience = np.exp(-0.5 * ((CENTS - cents) / 25) ** 2)[None].repeat(3, 0)
    salience[1] *= 0.02  # below the 0.03 threshold: unvoiced
    f0 = decode(salience)
    assert abs(1200 * np.log2(f0[0] / hz)) < 1 and f0[1] == 0


def test_decode_at_the_edge_of_the_range_counts_missing_bins_as_zero():
    salience = np.zeros((1, 360))
    salience[0, :2] = [0.9, 0.6]  # peak on the lowest bin: bins -4..-1 do not exist
    expected = 10 * 2 ** ((0.9 * CENTS[0] + 0.6 * CENTS[1]) / 1.5 / 1200)
    assert decode(salience)[0] == pytest.approx(expected, rel=1e-6)
