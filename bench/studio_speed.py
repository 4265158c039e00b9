"""Time from "Next generation" to the new grid in evoface studio, for the pixel and the latent genome.

A real studio server (werkzeug, as ``evoface studio`` runs it) is started in this process on a free port; each step
is one HTTP POST of /api/next with a choice, and ends when the answer (the new grid, every face a PNG data URI) has
been read and parsed: breeding, decoding, scoring the faceness of the 16 faces, encoding them, the checkpoint and the
metrics row. The browser's own part (drawing 16 images) comes on top; tests/test_studio_browser.py prints it for
the whole round trip in Chromium.

The latent genome uses ``--decoder``, else the shipped GAN (neural/pretrained/gan64.pt) when it is there, else an
untrained DCGAN (64 px, nz 100, ngf 32; speed does not depend on the weights). Each configuration is measured with torch on 1 and
on 2 threads, in alternating rounds.

    python bench/studio_speed.py [--steps 20] [--rounds 3] [--decoder CKPT]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import torch
from werkzeug.serving import make_server

from evoface.core.checkpoints import save_atomic
from evoface.studio.app import create_app
from evoface.studio.session import StudioConfig, StudioSession

SHIPPED_GAN = Path(__file__).resolve().parents[1] / "neural" / "pretrained" / "gan64.pt"


def untrained_gan(path: Path) -> str:
    """A DCGAN checkpoint of the shipped architecture (64 px, nz 100, ngf 32) with its initial weights."""
    from neural.dcgan import DcganConfig, Generator

    config = DcganConfig(size=64, nz=100, ngf=32, ndf=32)
    save_atomic({"kind": "gan", "model_config": dataclasses.asdict(config),
                 "generator": Generator(config).state_dict()}, path)
    return str(path)


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.read())


def time_steps(session: StudioSession, steps: int, threads: int) -> list[float]:
    """Seconds per step of ``steps`` Next-generation requests to a live server over ``session``."""
    torch.set_num_threads(threads)
    server = make_server("127.0.0.1", 0, create_app(session), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with urllib.request.urlopen(base + "/api/state") as answer:
            state = json.loads(answer.read())
        seconds = []
        for step in range(steps):
            chosen = [step % 16, (step * 7 + 3) % 16] if step % 7 else [step % 16]
            started = time.perf_counter()
            state = post(base + "/api/next", {"generation": state["generation"], "version": state["version"],
                                              "chosen": sorted(set(chosen)), "closest": chosen[0],
                                              "strength": 0.3, "blend": 0.0})
            seconds.append(time.perf_counter() - started)
            assert len(state["faces"]) == 16
        return seconds
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--decoder", help="latent genome's decoder checkpoint (default: the shipped GAN, else an "
                                          "untrained DCGAN of its architecture)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        if args.decoder or SHIPPED_GAN.is_file():
            decoder = args.decoder or str(SHIPPED_GAN)
            print(f"latent decoder: {decoder}")
        else:
            decoder = untrained_gan(folder / "gan.pt")
            print("latent decoder: untrained DCGAN (64 px, nz 100, ngf 32)")
        sessions = {"pixel": StudioSession(StudioConfig(out=str(folder / "pixel"), genome="pixel")),
                    "latent": StudioSession(StudioConfig(out=str(folder / "latent"), genome="latent",
                                                         decoder=decoder))}
        results: dict[tuple[str, int], list[float]] = {}
        for _ in range(args.rounds):
            for name, session in sessions.items():
                for threads in (1, 2):
                    results.setdefault((name, threads), []).extend(time_steps(session, args.steps, threads))
    print(f"{'genome':8} {'threads':>7} {'median ms':>10} {'p10-p90 ms':>14} {'max ms':>8}  ({args.rounds} rounds x "
          f"{args.steps} steps)")
    for (name, threads), seconds in results.items():
        ms = sorted(1000 * s for s in seconds)
        p10, p90 = ms[len(ms) // 10], ms[(9 * len(ms)) // 10]
        print(f"{name:8} {threads:>7} {statistics.median(ms):>10.1f} {p10:>6.1f}-{p90:<7.1f} {ms[-1]:>8.1f}")


if __name__ == "__main__":
    main()
