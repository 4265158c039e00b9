"""The studio without a browser: the GA step, the session in its run directory, the page's API and its bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cli import main
from evoface.core.checkpoints import load_checkpoint
from evoface.core.errors import InputError
from evoface.ga.seed_stream import SeedStream
from evoface.studio import session as session_module
from evoface.studio.app import create_app
from evoface.studio.breeding import Choice, breed
from evoface.studio.genomes import LatentGenome, PixelGenome
from evoface.studio.server import host_warning
from evoface.studio.session import StudioConfig, StudioSession
from neural.faceness_store import DEFAULT_MODEL


class TinyDecoder:
    """A decoder of 4-gene latents into 16 px images: each pixel a fixed linear map of the code, squashed."""

    kind, latent_size, image_size = "tiny", 4, 16

    def __init__(self):
        self.weights = np.random.default_rng(0).standard_normal((4, 16 * 16 * 3)).astype(np.float32)

    def decode(self, z: np.ndarray) -> np.ndarray:
        values = 1.0 / (1.0 + np.exp(-(z @ self.weights)))
        return (values * 255).round().astype(np.uint8).reshape(len(z), 16, 16, 3)


def pixel_session(tmp_path, **options) -> StudioSession:
    return StudioSession(StudioConfig(out=str(tmp_path / "run"), genome="pixel", **options))


def ref(state: dict) -> dict:
    return {"generation": state["generation"], "version": state["version"]}


def test_breed_keeps_the_chosen_and_takes_each_child_gene_from_a_chosen_face():
    genome, seeds = PixelGenome(), SeedStream(1)
    genes = genome.random(16, seeds)
    choice = Choice([4, 9, 2], None, strength=0.0, blend=0.0)
    bred = breed(genome, genes, np.zeros(16), choice, fresh=2, seeds=seeds)
    assert bred.shape == genes.shape and bred.dtype == np.uint8
    assert np.array_equal(bred[:3], genes[[4, 9, 2]])  # q-elitism: the chosen, unchanged, first
    children = bred[3:14]
    from_chosen = (children[:, None, :] == genes[[4, 9, 2]][None]).any(axis=1)
    assert from_chosen.all()  # no mutation at strength 0: crossover of chosen parents only
    assert not any((bred[14:] == row).all() for row in genes)  # the two fresh faces are new


def test_mutation_strength_and_the_closest_face_steer_the_children():
    genome, seeds = PixelGenome(), SeedStream(2)
    genes = genome.random(16, seeds)
    gentle = breed(genome, genes, np.zeros(16), Choice([0], None, 0.1, 0.0), 0, SeedStream(5))
    strong = breed(genome, genes, np.zeros(16), Choice([0], None, 1.0, 0.0), 0, SeedStream(5))
    moved = [float(np.abs(bred[1:].astype(int) - genes[0]).mean()) for bred in (gentle, strong)]
    assert 0.5 < moved[0] < moved[1] < 60  # one parent: children are it, moved along face space
    closest = breed(genome, genes, np.zeros(16), Choice([3, 7, 11], 7, 0.0, 0.0), 0, SeedStream(5))
    share = (closest[3:] == genes[7]).mean()
    assert share > 0.5  # the closest face is a parent of every pair


def test_fresh_pixel_faces_come_from_face_space_not_noise():
    import torch

    from neural.face_space import load_face_space

    genome = PixelGenome()
    faces = torch.from_numpy(genome.images(genome.random(8, SeedStream(6)))).permute(0, 3, 1, 2)
    noise = torch.randint(0, 256, faces.shape, dtype=torch.uint8)
    prior = load_face_space()
    with torch.inference_mode():
        assert float(prior(faces).max()) < 0.05 < 0.2 < float(prior(noise).min())  # clipping leaves a little


def test_a_blend_of_1_breeds_from_the_cnn_favourites_not_the_chosen():
    genome, seeds = PixelGenome(), SeedStream(3)
    genes = genome.random(16, seeds)
    faceness = np.linspace(0, 1, 16)  # faces 14 and 15 score highest
    bred = breed(genome, genes, faceness, Choice([0, 1], None, 0.0, 1.0), 0, seeds)
    assert np.array_equal(bred[:2], genes[[0, 1]])  # the chosen are still kept
    children = bred[2:]
    assert (children[:, None, :] == genes[[14, 15]][None]).any(axis=1).all()


def test_latent_genome_breeds_with_the_latent_operators():
    genome, seeds = LatentGenome(TinyDecoder()), SeedStream(4)
    genes = genome.random(12, seeds)
    assert genes.dtype == np.float32 and genome.images(genes).shape == (12, 16, 16, 3)
    bred = breed(genome, genes, np.zeros(12), Choice([1, 5], 5, 0.3, 0.0), 2, seeds)
    assert bred.dtype == np.float32 and np.array_equal(bred[:2], genes[[1, 5]])
    assert np.isfinite(bred).all() and not np.array_equal(bred[2], genes[1])


def test_a_session_advances_undoes_saves_and_resumes_in_its_run_directory(tmp_path):
    session = pixel_session(tmp_path, grid=12)
    client = create_app(session).test_client()
    state = client.get("/api/state").get_json()
    assert state["generation"] == 0 and len(state["faces"]) == 12 and not state["can_undo"]
    for chosen in ([0, 5], [2], [1, 3, 4]):
        state = client.post("/api/next", json={**ref(state), "chosen": chosen, "closest": chosen[-1],
                                               "strength": 0.5, "blend": 0.2}).get_json()
    assert state["generation"] == 3 and len(state["history"]) == 3 and state["choice"]["strength"] == 0.5
    assert [face["origin"] for face in state["faces"]] == ["kept"] * 3 + ["child"] * 7 + ["fresh"] * 2
    state = client.post("/api/undo", json=ref(state)).get_json()
    assert state["generation"] == 2 and len(state["history"]) == 2
    assert state["choice"]["chosen"] == [1, 3, 4] and state["choice"]["closest"] == 4  # the choice made on it
    answer = client.post("/api/choose", json={**ref(state), "chosen": [6, 7], "closest": None}).get_json()
    assert answer["choice"]["chosen"] == [6, 7]
    state = client.get("/api/state").get_json()
    assert state["choice"]["chosen"] == [6, 7]
    saved = client.post("/api/save", json={**ref(state), "face": 6}).get_json()
    assert (tmp_path / "run" / "samples" / "saved_generation_0002_face_06.png").is_file()
    download = client.get(saved["download"])
    assert download.status_code == 200 and download.data.startswith(b"\x89PNG")

    run = tmp_path / "run"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [row["action"] for row in rows] == ["next", "next", "next", "undo"]
    assert rows[1]["generation"] == 1 and rows[1]["chosen"] == [2] and rows[1]["blend"] == 0.2
    assert load_checkpoint(run / "checkpoints" / "last.pt", "studio")["grid"]["number"] == 2
    assert (run / "config.json").is_file() and (run / "samples" / "generation_0003.png").is_file()

    resumed = StudioSession.resume(str(run))
    assert create_app(resumed).test_client().get("/api/state").get_json() == state  # pending choice included
    with pytest.raises(InputError, match="already holds a run"):
        pixel_session(tmp_path)


@pytest.mark.parametrize("path,body,status,fragment", [
    ("/api/next", {"chosen": [99]}, 400, "unknown face id 99"),
    ("/api/next", {"chosen": []}, 400, "choose at least one face"),
    ("/api/next", {"chosen": [1, 1]}, 400, "chosen twice"),
    ("/api/next", {"chosen": "all"}, 400, "list of face ids"),
    ("/api/next", {"chosen": [1], "strength": 3}, 400, "in [0, 1]"),
    ("/api/next", {"chosen": [1], "version": 7}, 409, "old grid"),
    ("/api/next", {"chosen": [1], "generation": "0"}, 400, "must be an integer"),
    ("/api/choose", {"chosen": [-1]}, 400, "unknown face id -1"),
    ("/api/undo", {}, 400, "nothing to undo"),
    ("/api/save", {"face": 16}, 400, "unknown face id 16"),
])
def test_bad_input_from_the_page_is_a_4xx_with_a_message(tmp_path, path, body, status, fragment):
    session = pixel_session(tmp_path)
    client = create_app(session).test_client()
    answer = client.post(path, json={"generation": 0, "version": 0, **body})
    assert answer.status_code == status and fragment in answer.get_json()["error"]
    assert session.grid.number == 0 and not (tmp_path / "run" / "metrics.jsonl").exists()


def test_malformed_requests_and_unknown_images_are_4xx(tmp_path):
    client = create_app(pixel_session(tmp_path)).test_client()
    answer = client.post("/api/next", data="{not json", content_type="application/json")
    assert answer.status_code == 400 and "not a JSON object" in answer.get_json()["error"]
    assert client.post("/api/next", data="chosen=1").status_code == 415  # a plain form post is refused
    assert client.get("/download/42/0.png").status_code == 404
    assert client.get("/download/0/99.png").status_code == 404
    assert client.get("/no-such-page").status_code == 404
    assert client.get("/api/state", headers={"Host": "evil.example:8765"}).status_code == 400  # DNS rebinding
    assert client.get("/api/state", headers={"Host": "127.0.0.1:8765"}).status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and b"/static/studio.js" in page.data and b"http" not in page.data.lower()


def test_without_the_shipped_gan_the_latent_default_falls_back_to_pixel(tmp_path, monkeypatch):
    def missing(kind, decoder):
        if kind == "latent":
            raise InputError("the shipped gan decoder is missing")
        return PixelGenome()

    monkeypatch.setattr(session_module, "make_genome", missing)
    session = StudioSession(StudioConfig(out=str(tmp_path / "run")))
    assert session.genome.kind == "pixel" and "using the pixel genome" in session.note
    assert json.loads((tmp_path / "run" / "config.json").read_text())["genome"] == "pixel"
    with pytest.raises(InputError, match="missing"):  # asked for by name: no fallback
        StudioSession(StudioConfig(out=str(tmp_path / "run2"), decoder="gan"))


def test_host_warning():
    assert host_warning("127.0.0.1") is None and host_warning("localhost") is None
    assert "other machines" in host_warning("0.0.0.0")


@pytest.mark.parametrize("args,fragment", [
    (["--grid", "2"], "--grid"),
    (["--fresh", "16"], "--fresh must be below --grid (16)"),
    (["--genome", "pixel", "--decoder", "gan"], "--decoder is for the latent genome"),
    (["--port", "70000"], "--port"),
    (["--fitness", "/no/such/model.pt"], "checkpoint not found"),
    (["--decoder", "/no/such/gan.pt"], "checkpoint not found"),
])
def test_studio_cli_bad_options(tmp_path, capsys, args, fragment):
    with pytest.raises(SystemExit) as exit_info:
        main(["studio", "--out", str(tmp_path / "run"), *args])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and err.startswith("error:") and fragment in err and len(err.splitlines()) == 1


def test_studio_cli_resume_takes_only_host_and_port(tmp_path, capsys):
    pixel_session(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["studio", "--resume", str(tmp_path / "run"), "--genome", "latent"])
    assert exit_info.value.code == 2 and "cannot change on --resume" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["studio", "--resume", str(tmp_path / "nothing")])
    assert exit_info.value.code == 2 and "not a run directory" in capsys.readouterr().err


def test_a_latent_session_on_a_decoder_checkpoint_resumes_with_the_same_faces(tmp_path):
    pytest.importorskip("evoface.decoders", reason="evoface.decoders (the latent decoders) is not in this tree")
    import dataclasses

    import torch

    from evoface.core.checkpoints import save_atomic
    from neural.dcgan import DcganConfig, Generator

    torch.manual_seed(0)
    config = DcganConfig(size=32, nz=8, ngf=8, ndf=8)
    save_atomic({"kind": "gan", "model_config": dataclasses.asdict(config),
                 "generator": Generator(config).state_dict()}, tmp_path / "gan.pt")
    session = StudioSession(StudioConfig(out=str(tmp_path / "run"), decoder=str(tmp_path / "gan.pt"), grid=12))
    assert session.genome.kind == "latent" and session.note is None
    client = create_app(session).test_client()
    state = client.get("/api/state").get_json()
    assert state["genome"] == "latent" and state["image_size"] == 32
    state = client.post("/api/next", json={**ref(state), "chosen": [3, 8], "closest": 8}).get_json()
    assert state["faces"][0]["src"] != state["faces"][2]["src"]
    shown = [face["src"] for face in state["faces"]]
    resumed = StudioSession.resume(str(tmp_path / "run"))
    assert [face["src"] for face in resumed.state()["faces"]] == shown  # decoded again from the stored latents


def fake_evolve_run(folder, rows: int):
    """An evolve run directory as a running ``evoface evolve`` leaves it: rows so far, a half-written last line."""
    from evoface.core.plots import save_png

    run = folder / "ga"
    (run / "samples").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"mu": 100, "indpb": 0.001, "out": str(run)}))
    lines = "".join(json.dumps({"generation": g, "max": g / 1000, "mean": g / 2000}) + "\n" for g in range(1, rows + 1))
    (run / "metrics.jsonl").write_text(lines + '{"generation": ')
    save_png(np.zeros((8, 8, 3), np.uint8), run / "samples" / "best_0000100.png")
    return run


def test_the_runs_page_follows_a_running_evolve(tmp_path):
    run = fake_evolve_run(tmp_path, rows=1000)
    client = create_app(StudioSession(StudioConfig(out=str(tmp_path / "studio"), genome="pixel"))).test_client()
    listing = {row["name"]: row for row in client.get("/api/runs").get_json()["runs"]}
    assert listing["ga"]["kind"] == "evolve" and listing["ga"]["generation"] == 1000
    assert listing["studio"]["kind"] == "studio"
    detail = client.get("/api/runs/ga").get_json()
    assert detail["has_image"] and len(detail["curve"]) <= 401 and detail["curve"][-1] == [1000, 1.0, 0.5]
    with (run / "metrics.jsonl").open("a") as handle:  # the run writes on: the rest of the line, then more rows
        handle.write('1001, "max": 1.001, "mean": 0.5}\n{"generation": 1002, "max": 1.002, "mean": 0.5}\n')
    assert client.get("/api/runs/ga").get_json()["curve"][-1] == [1002, 1.002, 0.5]
    assert client.get("/runs/ga/best.png").data.startswith(b"\x89PNG")
    for bad in ("/api/runs/..", "/api/runs/nothing", "/runs/studio/best.png", "/runs/..%2Fga/best.png"):
        assert client.get(bad).status_code == 404, bad


def test_a_session_stores_absolute_model_paths_so_it_resumes_from_any_folder(tmp_path, monkeypatch):
    shutil.copy(DEFAULT_MODEL, tmp_path / "fit.pt")
    monkeypatch.chdir(tmp_path)
    StudioSession(StudioConfig(out="run", genome="pixel", fitness="fit.pt"))
    assert json.loads((tmp_path / "run" / "config.json").read_text())["fitness"] == str(tmp_path / "fit.pt")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert StudioSession.resume(str(tmp_path / "run")).grid.number == 0


def test_an_incomplete_session_checkpoint_is_an_input_error(tmp_path):
    import torch

    pixel_session(tmp_path).close()
    path = tmp_path / "run" / "checkpoints" / "last.pt"
    ckpt = load_checkpoint(path, "studio")
    del ckpt["undo"]
    torch.save(ckpt, path)
    with pytest.raises(InputError, match="incomplete studio checkpoint"):
        StudioSession.resume(str(tmp_path / "run"))


def test_resuming_a_session_killed_before_its_first_checkpoint_starts_it_again(tmp_path, capsys):
    pixel_session(tmp_path).close()
    (tmp_path / "run" / "checkpoints" / "last.pt").unlink()
    resumed = StudioSession.resume(str(tmp_path / "run"))
    assert "holds no checkpoint yet: starting it again" in capsys.readouterr().err
    assert resumed.grid.number == 0 and resumed.run.has_checkpoint
    resumed.close()
