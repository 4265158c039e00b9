// evoface runs page: the runs of a folder, and the live best image and fitness curve of the one clicked.
"use strict";

const $ = (id) => document.getElementById(id);
let selected = new URLSearchParams(location.search).get("run");

async function getJson(path) {
  const response = await fetch(path);
  const data = await response.json().catch(() => ({error: `the server answered ${response.status}`}));
  if (!response.ok) throw new Error(data.error || `the server answered ${response.status}`);
  return data;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function ago(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

function drawCurve(points) {
  const canvas = $("curve");
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  if (points.length === 0) return;
  const pad = 36;
  const xs = points.map((p) => p[0]);
  const ys = points.flatMap((p) => [p[1], p[2]]).filter((v) => v !== null);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const x = (v) => pad + (canvas.width - 2 * pad) * (x1 > x0 ? (v - x0) / (x1 - x0) : 0.5);
  const y = (v) => canvas.height - pad - (canvas.height - 2 * pad) * (y1 > y0 ? (v - y0) / (y1 - y0) : 0.5);
  context.strokeStyle = "#999";
  context.strokeRect(pad, pad, canvas.width - 2 * pad, canvas.height - 2 * pad);
  context.fillStyle = "#555";
  context.font = "11px sans-serif";
  context.fillText(y1.toFixed(4), 2, pad + 4);
  context.fillText(y0.toFixed(4), 2, canvas.height - pad);
  context.fillText(`${x0}`, pad, canvas.height - pad + 14);
  context.fillText(`generation ${x1}`, canvas.width - pad - 90, canvas.height - pad + 14);
  for (const [column, colour] of [[2, "#e07b00"], [1, "#2457a6"]]) {
    context.strokeStyle = colour;
    context.beginPath();
    points.filter((p) => p[column] !== null).forEach((p, i) => {
      if (i === 0) context.moveTo(x(p[0]), y(p[column])); else context.lineTo(x(p[0]), y(p[column]));
    });
    context.stroke();
  }
}

async function refresh() {
  try {
    const listing = await getJson("/api/runs");
    $("runs").tBodies[0].replaceChildren(...listing.runs.map((run) => {
      const row = document.createElement("tr");
      row.dataset.name = run.name;
      row.classList.toggle("selected", run.name === selected);
      row.append(cell(run.name), cell(run.kind), cell(run.generation ?? "\u2013"),
                 cell(run.max === null || run.max === undefined ? "\u2013" : run.max.toFixed(4)),
                 cell(ago(run.seconds_since_change)));
      row.addEventListener("click", () => { selected = run.name; refresh(); });
      return row;
    }));
    if (selected) {
      const detail = await getJson(`/api/runs/${encodeURIComponent(selected)}`);
      $("detail").hidden = false;
      $("detail-name").textContent = `${detail.name} (${detail.kind})`;
      $("best").hidden = !detail.has_image;
      if (detail.has_image) $("best").src = `/runs/${encodeURIComponent(selected)}/best.png?t=${Date.now()}`;
      drawCurve(detail.curve);
      document.body.dataset.points = detail.curve.length;
    }
    $("message").textContent = "";
    $("message").className = "";
  } catch (error) {
    $("message").textContent = error.message;
    $("message").className = "error";
  }
}

refresh();
setInterval(refresh, 2000);
