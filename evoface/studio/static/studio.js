// evoface studio: the page. Plain JS, no build step; every change is sent to the server, which keeps the state.
"use strict";

const $ = (id) => document.getElementById(id);
let state = null;
let queue = Promise.resolve();  // requests run one after another, in the order the person acted

async function call(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  let data;
  try {
    data = await response.json();
  } catch (error) {
    data = {error: `the server answered ${response.status} without a message`};
  }
  if (!response.ok) throw new Error(data.error || `the server answered ${response.status}`);
  return data;
}

function show(message, isError = false) {
  const element = $("message");
  element.textContent = message || "";
  element.className = isError ? "error" : "";
}

function enqueue(task) {
  queue = queue.then(task).catch((error) => show(error.message, true));
  return queue;
}

function options() {
  return {strength: Number($("strength").value) / 100, blend: Number($("blend").value) / 100};
}

function body(extra = {}) {
  return {generation: state.generation, version: state.version, ...extra};
}

function choiceBody() {
  return body({chosen: state.choice.chosen, closest: state.choice.closest, ...options()});
}

function setSlider(id, fraction) {
  $(id).value = Math.round(fraction * 100);
  $(`${id}-value`).textContent = `${$(id).value}%`;
}

function faceCard(face) {
  const card = document.createElement("figure");
  card.className = "face";
  card.dataset.id = face.id;
  const image = document.createElement("img");
  image.src = face.src;
  image.alt = `face ${face.id}`;
  image.addEventListener("click", () => toggleChosen(face.id));
  const caption = document.createElement("figcaption");
  const label = document.createElement("span");
  label.textContent = `#${face.id} \u00b7 ${face.faceness.toFixed(2)}`;
  label.title = "the CNN's faceness";
  card.classList.add(face.origin);
  if (face.origin === "kept" || face.origin === "fresh") {
    const tag = document.createElement("span");
    tag.className = "origin";
    tag.textContent = face.origin === "kept" ? "kept" : "new";
    tag.title = face.origin === "kept" ? "chosen last time, kept unchanged" : "a fresh random face, for variety";
    card.append(tag);
  }
  const closest = document.createElement("button");
  closest.className = "closest";
  closest.title = "closest to what you look for";
  closest.textContent = "\u2605";
  closest.addEventListener("click", () => toggleClosest(face.id));
  const save = document.createElement("button");
  save.className = "save";
  save.textContent = "save";
  save.addEventListener("click", () => saveFace(face.id));
  caption.append(label, closest, save);
  card.append(image, caption);
  return card;
}

function markChoice() {
  const {chosen, closest} = state.choice;
  for (const card of document.querySelectorAll("#grid .face")) {
    const id = Number(card.dataset.id);
    card.classList.toggle("chosen", chosen.includes(id));
    card.classList.toggle("closest", closest === id);
  }
  $("count").textContent = `${chosen.length} chosen`;
  $("next").disabled = chosen.length === 0;
}

function render(newState) {
  state = newState;
  document.body.classList.toggle("genome-pixel", state.genome === "pixel");
  document.body.dataset.version = state.version;
  $("generation").textContent = state.generation;
  $("grid").replaceChildren(...state.faces.map(faceCard));
  $("history").replaceChildren(...state.history.map((entry) => {
    const figure = document.createElement("figure");
    const image = document.createElement("img");
    image.src = entry.src;
    image.alt = `favourite of generation ${entry.generation}`;
    const caption = document.createElement("figcaption");
    caption.textContent = `gen ${entry.generation}`;
    figure.append(image, caption);
    return figure;
  }));
  setSlider("strength", state.choice.strength);
  setSlider("blend", state.choice.blend);
  $("undo").disabled = !state.can_undo;
  markChoice();
}

async function ready() {
  await Promise.all([...document.querySelectorAll("#grid img")].map((image) => image.decode().catch(() => null)));
  document.body.dataset.ready = state.version;
}

function sendChoice() {
  // The page's own choice is the newest (the person may have clicked again meanwhile): the answer only confirms it.
  enqueue(() => call("/api/choose", choiceBody()));
}

function toggleChosen(id) {
  const choice = state.choice;
  if (choice.chosen.includes(id)) {
    choice.chosen = choice.chosen.filter((face) => face !== id);
    if (choice.closest === id) choice.closest = null;
  } else {
    choice.chosen.push(id);
  }
  markChoice();
  sendChoice();
}

function toggleClosest(id) {
  const choice = state.choice;
  choice.closest = choice.closest === id ? null : id;
  if (choice.closest !== null && !choice.chosen.includes(id)) choice.chosen.push(id);
  markChoice();
  sendChoice();
}

function nextGeneration() {
  const started = performance.now();
  $("next").disabled = true;
  enqueue(async () => {
    render(await call("/api/next", choiceBody()));
    await ready();
    const ms = performance.now() - started;
    document.body.dataset.stepMs = ms.toFixed(1);
    show(`generation ${state.generation} bred in ${Math.round(ms)} ms`);
  }).then(markChoice);
}

function undo() {
  enqueue(async () => {
    render(await call("/api/undo", body()));
    await ready();
    show(`back to generation ${state.generation}`);
  });
}

function saveFace(id) {
  enqueue(async () => {
    const saved = await call("/api/save", body({face: id}));
    const link = document.createElement("a");
    link.href = saved.download;
    link.download = "";
    link.click();
    document.body.dataset.saved = saved.path;
    show(`saved face #${id} to ${saved.path}`);
  });
}

for (const id of ["strength", "blend"]) {
  $(id).addEventListener("input", () => { $(`${id}-value`).textContent = `${$(id).value}%`; });
  $(id).addEventListener("change", sendChoice);
}
$("next").addEventListener("click", nextGeneration);
$("undo").addEventListener("click", undo);
enqueue(async () => {
  render(await call("/api/state"));
  await ready();
  if (state.note) show(state.note);
});
