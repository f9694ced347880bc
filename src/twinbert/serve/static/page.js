// twinbert serve's page: plain JavaScript over the server's own routes (no CDN, no build step).
"use strict";

const $ = (id) => document.getElementById(id);

async function call(path, body) {
  const headers = { "Content-Type": "application/json" };
  const key = $("api-key").value;
  if (key) headers["Authorization"] = "Bearer " + key;
  const response = await fetch(path, body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const message = data && (typeof data.error === "string" ? data.error : data.error && data.error.message);
    throw new Error(message || response.status + " " + response.statusText);
  }
  return data;
}

function lines(id) {
  return $(id).value.split("\n").map((s) => s.trim()).filter((s) => s.length > 0);
}

function cell(tag, text, className) {
  const element = document.createElement(tag);
  element.textContent = text;
  if (className) element.className = className;
  return element;
}

// white (-1 .. 0) to blue (1)
function shade(value) {
  const t = Math.max(0, Math.min(1, value));
  const r = Math.round(255 - 200 * t), g = Math.round(255 - 140 * t);
  return `rgb(${r}, ${g}, 255)`;
}

async function showSimilarity() {
  $("similarity-error").textContent = "";
  const table = $("heatmap");
  table.replaceChildren();
  const sentences = lines("sentences");
  try {
    const vectors = await call("/embed", { inputs: sentences, normalize: true, truncate: true });
    const head = document.createElement("tr");
    head.appendChild(cell("th", ""));
    sentences.forEach((_, j) => head.appendChild(cell("th", String(j + 1))));
    table.appendChild(head);
    vectors.forEach((a, i) => {
      const row = document.createElement("tr");
      const label = cell("th", `${i + 1}. ${sentences[i]}`, "row");
      label.title = sentences[i];
      row.appendChild(label);
      vectors.forEach((b) => {
        const score = a.reduce((sum, x, k) => sum + x * b[k], 0);
        const td = cell("td", score.toFixed(2), "sim");
        td.style.background = shade(score);
        row.appendChild(td);
      });
      table.appendChild(row);
    });
  } catch (error) {
    $("similarity-error").textContent = error.message;
  }
}

async function runSearch() {
  $("search-error").textContent = "";
  const hits = $("hits");
  hits.replaceChildren();
  try {
    const result = await call("/search", { query: $("query").value, k: Number($("k").value) || 5, rerank: $("rerank").checked,
                                           mode: $("mode").value });
    result.results.forEach((hit) => {
      const item = document.createElement("li");
      item.className = "hit";
      item.appendChild(cell("span", hit.score.toFixed(3), "score"));
      item.appendChild(cell("span", hit.text === null ? String(hit.id) : hit.text, "text"));
      hits.appendChild(item);
    });
  } catch (error) {
    $("search-error").textContent = error.message;
  }
}

async function comparePoolings() {
  $("pooling-error").textContent = "";
  const table = $("poolings");
  table.replaceChildren();
  const sentences = lines("pooling-sentences");
  try {
    const result = await call("/compare", { sentences });
    const head = document.createElement("tr");
    head.appendChild(cell("th", `against: ${result.anchor}`));
    result.columns.forEach((c) => head.appendChild(cell("th", c.pooling)));
    table.appendChild(head);
    result.sentences.forEach((sentence, i) => {
      const row = document.createElement("tr");
      row.appendChild(cell("th", sentence, "row"));
      result.columns.forEach((c) => {
        const td = cell("td", c.scores[i].toFixed(3), "pool");
        td.style.background = shade(c.scores[i]);
        row.appendChild(td);
      });
      table.appendChild(row);
    });
  } catch (error) {
    $("pooling-error").textContent = error.message;
  }
}

async function loadInfo() {
  try {
    const info = await call("/info");
    $("model").textContent = `${info.model_id} · ${info.dimension} dimensions · pooling ${info.model_type.embedding.pooling}`;
    if (info.index) $("index-about").textContent = `Index: ${info.index.count} rows (${info.index.metric}).`;
    $("rerank-box").hidden = !info.cross_encoder;
    $("mode-box").hidden = !(info.index && (info.index.modes || []).length > 1);  // lexical part: dense, lexical, hybrid
  } catch (error) {
    $("model").textContent = error.message;
    $("key-box").hidden = false;  // most likely the key: ask for it
  }
}

async function start() {
  $("compare-button").addEventListener("click", showSimilarity);
  $("search-button").addEventListener("click", runSearch);
  $("query").addEventListener("keydown", (e) => { if (e.key === "Enter") runSearch(); });
  $("pooling-button").addEventListener("click", comparePoolings);
  $("api-key").addEventListener("change", loadInfo);
  await loadInfo();
  document.body.dataset.ready = "1";
}

start();
