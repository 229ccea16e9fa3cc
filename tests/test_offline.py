"""No network call at run time unless asked for: `zap fit` (zero-shot selection, training, the report),
`zap predict` and `zap suggest` run with every socket connection refused, and none is attempted."""

from __future__ import annotations

import socket

from zap.cli import main


def test_fit_predict_and_suggest_attempt_no_network(tmp_path, monkeypatch, capsys):
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"network is off in this test (tried {address})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    out = tmp_path / "run"
    assert main(["fit", "digits", "--budget", "3", "--threads", "1", "--out", str(out), "--quiet"]) in (0, 3)
    assert (out / "report.html").is_file() and (out / "model" / "model.json").is_file()
    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    Image.new("L", (8, 8), 128).save(images / "a.png")
    assert main(["predict", str(out), str(images), "--out", str(tmp_path / "p.csv")]) == 0
    assert main(["suggest", "digits", "--k", "2", "--json"]) == 0
    assert attempts == []
