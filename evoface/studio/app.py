"""The Flask application of the studio: one page, a JSON API over a ``StudioSession``, and full-size PNG downloads.

Every script and style is served from ``static/``; nothing comes from elsewhere. The API accepts JSON bodies only
(a cross-site form cannot send one without the browser asking first), a server on this machine answers only
requests addressed to it by a local name, and bad input gets a 4xx with a message the page shows, never a server
error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, render_template, request, send_file
from werkzeug.exceptions import HTTPException

from evoface.studio.breeding import Choice
from evoface.studio.runs import CurveReader, best_image, list_runs, run_curve, run_folder
from evoface.studio.session import PageError, StudioSession

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _integer(data: dict, key: str, optional: bool = False) -> int | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise PageError(400, f"'{key}' must be an integer, got {value!r}")
    return value


def _fraction(data: dict, key: str, default: float) -> float:
    value = data.get(key, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise PageError(400, f"'{key}' must be a number in [0, 1], got {value!r}")
    return float(value)


def request_body() -> dict[str, Any]:
    """The JSON object of the request, or a PageError saying what is wrong with it."""
    if not request.is_json:
        raise PageError(415, "send the request as JSON (Content-Type: application/json)")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise PageError(400, "the request body is not a JSON object")
    return data


def parse_grid_ref(data: dict) -> tuple[int, int]:
    """(generation, version) of the grid the page shows."""
    return _integer(data, "generation"), _integer(data, "version")


def parse_choice(data: dict, session: StudioSession) -> Choice:
    chosen = data.get("chosen", [])
    if not isinstance(chosen, list) or any(not isinstance(f, int) or isinstance(f, bool) for f in chosen):
        raise PageError(400, f"'chosen' must be a list of face ids, got {chosen!r}")
    config = session.config
    return Choice(chosen, _integer(data, "closest", optional=True), _fraction(data, "strength", config.strength),
                  _fraction(data, "blend", config.blend))


def create_app(session: StudioSession) -> Flask:
    """The studio's Flask app over ``session``; its runs page lists the runs beside the session's (or in
    ``config.runs``)."""
    app = Flask(__name__)
    runs = Path(session.config.runs) if session.config.runs else session.run.path.parent
    curves = CurveReader()
    app.json.sort_keys = False
    if session.config.host in LOCAL_HOSTS:  # a page under another name (DNS rebinding) gets a 400
        app.config["TRUSTED_HOSTS"] = ["127.0.0.1", "localhost", "[::1]"]

    @app.errorhandler(PageError)
    def page_error(error: PageError):
        return jsonify(error=error.message), error.status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return jsonify(error=f"{error.name}: {error.description}"), error.code

    @app.get("/")
    def page():
        return render_template("studio.html", page="studio", subject=session.run.path.name)

    @app.get("/api/state")
    def state():
        return jsonify(session.state())

    @app.post("/api/choose")
    def choose():
        data = request_body()
        return jsonify(session.choose(*parse_grid_ref(data), parse_choice(data, session)))

    @app.post("/api/next")
    def next_generation():
        data = request_body()
        return jsonify(session.next_generation(*parse_grid_ref(data), parse_choice(data, session)))

    @app.post("/api/undo")
    def undo():
        return jsonify(session.undo_generation(*parse_grid_ref(request_body())))

    @app.post("/api/save")
    def save():
        data = request_body()
        return jsonify(session.save_face(*parse_grid_ref(data), _integer(data, "face")))

    @app.get("/download/<int:version>/<int:face>.png")
    def download(version: int, face: int):
        data, name = session.face_png(version, face)
        return Response(data, mimetype="image/png", headers={"Content-Disposition": f"attachment; filename={name}"})

    @app.get("/runs")
    def runs_page():
        return render_template("runs.html", page="runs", subject=str(runs))

    @app.get("/api/runs")
    def runs_list():
        return jsonify(folder=str(runs), runs=list_runs(runs))

    @app.get("/api/runs/<name>")
    def run_detail(name: str):
        return jsonify(run_curve(runs, name, curves))

    @app.get("/runs/<name>/best.png")
    def run_best(name: str):
        image = best_image(run_folder(runs, name))
        if image is None:
            raise PageError(404, f"run {name!r} has no best image yet")
        return send_file(image, mimetype="image/png", max_age=0)

    return app
