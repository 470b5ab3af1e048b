// The OCR service's web page: upload, follow progress, read each page beside its picture, download.
// Plain JavaScript against the service's own HTTP API; every request goes to this origin.
"use strict";

(() => {
  const KEY_STORAGE = "ocr-service.api-key";
  const MAX_PARALLEL_UPLOADS = 3;
  const LOW_CONFIDENCE = 60;
  const base = new URL("../", window.location.href); // the page lives at <service>/ui/
  const $ = (id) => document.getElementById(id);

  const docs = new Map(); // local id -> document entry
  let nextLocalId = 1;
  let current = null; // the entry shown in the viewer
  let currentPage = 0; // index into current.result.pages
  let imageUrl = null;
  let imageRequest = 0;
  let uploadsRunning = 0;
  const uploadQueue = [];

  // ------------------------------------------------------------------ API access

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function apiKey() {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  }

  function authHeaders() {
    const key = apiKey();
    return key ? { "X-API-Key": key } : {};
  }

  function apiUrl(path) {
    return new URL(path, base).toString();
  }

  async function errorFrom(response) {
    let code = "http_" + response.status;
    let message = `The service answered ${response.status}.`;
    try {
      const body = await response.json();
      if (body && body.error) {
        code = body.error.code || code;
        message = body.error.message || message;
      }
    } catch (_) {
      // not JSON: keep the generic message
    }
    if (response.status === 401) keyNeeded(message);
    return new ApiError(response.status, code, message);
  }

  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(apiUrl(path), { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
    } catch (_) {
      throw new ApiError(0, "network", "The service cannot be reached.");
    }
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  // ------------------------------------------------------------------ API key

  function setKeyState(text, kind) {
    const el = $("key-state");
    el.textContent = text;
    el.className = "key-state" + (kind ? " " + kind : "");
  }

  function keyNeeded(message) {
    setKeyState(apiKey() ? "The key was refused: " + message : "This service needs an API key.", "bad");
    const input = $("api-key");
    if (document.activeElement !== input) input.focus();
  }

  async function checkKeyAndLoadLanguages() {
    try {
      const response = await api("languages");
      const body = await response.json();
      fillLanguages(body.languages || []);
      setKeyState(apiKey() ? "Key accepted." : "", apiKey() ? "ok" : "");
    } catch (error) {
      if (error.status !== 401) setKeyState(error.message, "bad");
    }
  }

  function fillLanguages(languages) {
    const select = $("language");
    const chosen = select.value || "eng";
    const names = languages.filter((name) => name !== "osd").sort();
    if (!names.length) return;
    select.replaceChildren(...names.map((name) => new Option(name, name, false, name === chosen)));
  }

  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("api-key").value.trim();
    if (value) sessionStorage.setItem(KEY_STORAGE, value);
    else sessionStorage.removeItem(KEY_STORAGE);
    setKeyState("Checking the key…");
    checkKeyAndLoadLanguages();
  });

  $("key-forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    $("api-key").value = "";
    setKeyState("Key forgotten.");
    $("api-key").focus();
  });

  // ------------------------------------------------------------------ uploads and progress

  function announce(text) {
    const el = $("announcer");
    el.textContent = "";
    // a fresh text node after clearing makes screen readers read repeated messages too
    window.setTimeout(() => { el.textContent = text; }, 50);
  }

  function createEntry(file) {
    const entry = { localId: nextLocalId++, name: file.name || "document", file, documentId: null, status: "uploading",
                    result: null, selected: false };
    const li = document.createElement("li");
    li.className = "doc";
    li.id = "doc-" + entry.localId;
    const name = document.createElement("span");
    name.className = "doc-name";
    name.textContent = entry.name;
    const progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", "Progress of " + entry.name);
    const status = document.createElement("span");
    status.className = "doc-status";
    status.textContent = "Waiting to upload";
    const view = document.createElement("button");
    view.type = "button";
    view.textContent = "View";
    view.disabled = true;
    view.setAttribute("aria-label", "View " + entry.name);
    view.addEventListener("click", () => openViewer(entry, true));
    const error = document.createElement("p");
    error.className = "doc-error";
    error.hidden = true;
    li.append(name, progress, status, view, error);
    Object.assign(entry, { li, progressEl: progress, statusEl: status, viewButton: view, errorEl: error });
    $("doc-list").append(li);
    $("no-docs").hidden = true;
    docs.set(entry.localId, entry);
    return entry;
  }

  function showProgress(entry, label, percent) {
    entry.progressEl.value = percent;
    entry.statusEl.textContent = `${label} · ${Math.round(percent)} %`;
  }

  function fail(entry, message) {
    entry.status = "failed";
    entry.statusEl.textContent = "Failed";
    entry.statusEl.classList.add("failed");
    entry.errorEl.textContent = message;
    entry.errorEl.hidden = false;
    announce(`${entry.name}: failed. ${message}`);
  }

  function enqueue(files) {
    for (const file of files) {
      uploadQueue.push(createEntry(file));
    }
    pumpUploads();
  }

  function pumpUploads() {
    while (uploadsRunning < MAX_PARALLEL_UPLOADS && uploadQueue.length) {
      const entry = uploadQueue.shift();
      uploadsRunning += 1;
      upload(entry).finally(() => {
        uploadsRunning -= 1;
        pumpUploads();
      });
    }
  }

  function upload(entry) {
    // XMLHttpRequest rather than fetch: it reports upload progress, which matters for large scans.
    return new Promise((resolve) => {
      const form = new FormData();
      form.append("file", entry.file, entry.name);
      form.append("language", $("language").value || "eng");
      form.append("mode", $("mode").value || "auto");
      const pages = $("pages").value.trim();
      if (pages) form.append("pages", pages);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", apiUrl("extract"));
      for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
      xhr.responseType = "json";
      xhr.upload.addEventListener("progress", (event) => {
        // the bar shows processing; the upload's own share is said in words
        if (event.lengthComputable) entry.statusEl.textContent = `Uploading · ${Math.round((100 * event.loaded) / event.total)} % sent`;
      });
      xhr.addEventListener("load", () => {
        const body = xhr.response || {};
        if (xhr.status === 200 || xhr.status === 202) {
          entry.documentId = body.document_id;
          entry.status = body.status || "queued";
          entry.li.dataset.documentId = entry.documentId;
          showProgress(entry, "Queued", 0);
          announce(`${entry.name}: uploaded, ${entry.status}.`);
          poll(entry);
        } else {
          const message = (body.error && body.error.message) || `The service answered ${xhr.status}.`;
          if (xhr.status === 401) keyNeeded(message);
          fail(entry, message);
        }
        resolve();
      });
      xhr.addEventListener("error", () => {
        fail(entry, "The upload did not reach the service.");
        resolve();
      });
      entry.statusEl.textContent = "Uploading";
      xhr.send(form);
    });
  }

  async function poll(entry) {
    let delay = 300;
    let lastStatus = entry.status;
    for (;;) {
      let status;
      try {
        const response = await api(`check-status/${encodeURIComponent(entry.documentId)}`);
        status = await response.json();
      } catch (error) {
        if (error.status === 0 || error.status === 503) {
          entry.statusEl.textContent = "Connection lost, retrying";
          await sleep(Math.min(delay *= 2, 5000));
          continue;
        }
        fail(entry, error.message);
        return;
      }
      entry.status = status.status;
      const total = status.pages_total || 0;
      const done = status.pages_done || 0;
      const percent = status.status === "completed" ? 100 : total ? (100 * done) / total : 0;
      const label = status.status.charAt(0).toUpperCase() + status.status.slice(1);
      showProgress(entry, total ? `${label} · ${done} / ${total} pages` : label, percent);
      if (status.status !== lastStatus) {
        lastStatus = status.status;
        if (status.status !== "completed") announce(`${entry.name}: ${status.status}.`);
      }
      if (status.status === "completed") {
        entry.statusEl.classList.add("completed");
        entry.viewButton.disabled = false;
        announce(`${entry.name}: completed, ${total} page${total === 1 ? "" : "s"}.`);
        if (!current) openViewer(entry, false);
        return;
      }
      if (status.status === "failed" || status.status === "cancelled") {
        fail(entry, (status.error && status.error.message) || `The document was ${status.status}.`);
        return;
      }
      await sleep(delay);
      delay = Math.min(delay * 1.3, 2000);
    }
  }

  function sleep(ms) {
    return new Promise((resolve) => window.setTimeout(resolve, ms));
  }

  const dropZone = $("drop-zone");
  const fileInput = $("file-input");
  fileInput.addEventListener("change", () => {
    enqueue(Array.from(fileInput.files));
    fileInput.value = "";
  });
  dropZone.addEventListener("dragenter", (event) => {
    event.preventDefault();
    dropZone.classList.add("dragging");
  });
  dropZone.addEventListener("dragover", (event) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  dropZone.addEventListener("dragleave", (event) => {
    if (!dropZone.contains(event.relatedTarget)) dropZone.classList.remove("dragging");
  });
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropZone.classList.remove("dragging");
    enqueue(Array.from(event.dataTransfer.files));
  });
  // A file dropped beside the zone must not make the browser leave the page to open it.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  // ------------------------------------------------------------------ viewer

  async function openViewer(entry, moveFocus) {
    for (const other of docs.values()) other.li.classList.toggle("selected", other === entry);
    current = entry;
    currentPage = 0;
    const viewer = $("viewer");
    viewer.hidden = false;
    $("viewer-heading").textContent = entry.name;
    setViewerMessage("");
    if (moveFocus) $("viewer-heading").focus();
    if (!entry.result) {
      $("page-text").textContent = "Loading…";
      try {
        const response = await api(`result/${encodeURIComponent(entry.documentId)}?words=true`);
        entry.result = await response.json();
      } catch (error) {
        if (current === entry) {
          $("page-text").textContent = "";
          setViewerMessage(error.message);
        }
        return;
      }
    }
    if (current !== entry) return;
    const select = $("page-select");
    const pages = entry.result.pages || [];
    select.replaceChildren(...pages.map((page, index) => new Option(String(page.number), String(index))));
    $("page-count").textContent = `of ${pages.length}`;
    showPage(0);
  }

  function setViewerMessage(text) {
    const el = $("viewer-message");
    el.textContent = text;
    el.hidden = !text;
  }

  function showPage(index) {
    const pages = (current && current.result && current.result.pages) || [];
    if (!pages.length) {
      $("page-text").textContent = "This document has no pages in its result.";
      return;
    }
    currentPage = Math.max(0, Math.min(index, pages.length - 1));
    const page = pages[currentPage];
    $("page-select").value = String(currentPage);
    $("prev-page").disabled = currentPage === 0;
    $("next-page").disabled = currentPage === pages.length - 1;
    $("page-text").textContent = page.text || "(no text on this page)";
    const source = { ocr: "OCR", "text-layer": "the PDF's own text", none: "no text" }[page.source] || page.source;
    const confidence = page.confidence == null ? "" : `, mean confidence ${Math.round(page.confidence)}`;
    $("page-caption").textContent = `Page ${page.number}: read from ${source}${confidence}.`;
    drawBoxes(page);
    loadImage(page);
  }

  function drawBoxes(page) {
    const layer = $("word-boxes");
    const width = page.width || 1;
    const height = page.height || 1;
    const boxes = (page.words || []).map((word) => {
      const [x0, y0, x1, y1] = word.bbox;
      const box = document.createElement("div");
      box.className = "word-box" + (word.confidence != null && word.confidence < LOW_CONFIDENCE ? " low" : "");
      box.style.left = `${(100 * x0) / width}%`;
      box.style.top = `${(100 * y0) / height}%`;
      box.style.width = `${(100 * (x1 - x0)) / width}%`;
      box.style.height = `${(100 * (y1 - y0)) / height}%`;
      box.dataset.word = word.text;
      return box;
    });
    layer.replaceChildren(...boxes);
  }

  async function loadImage(page) {
    const img = $("page-image");
    const request = ++imageRequest;
    img.alt = `Page ${page.number} of ${current.name} (loading)`;
    try {
      const path = `result/${encodeURIComponent(current.documentId)}/pages/${page.number}/image`;
      const blob = await (await api(path)).blob();
      if (request !== imageRequest) return; // the reader moved on meanwhile
      if (imageUrl) URL.revokeObjectURL(imageUrl);
      imageUrl = URL.createObjectURL(blob);
      img.src = imageUrl;
      img.alt = `Page ${page.number} of ${current.name}`;
    } catch (error) {
      if (request === imageRequest) {
        img.removeAttribute("src");
        img.alt = "";
        setViewerMessage(`The picture of page ${page.number} cannot be shown: ${error.message}`);
      }
    }
  }

  $("prev-page").addEventListener("click", () => showPage(currentPage - 1));
  $("next-page").addEventListener("click", () => showPage(currentPage + 1));
  $("page-select").addEventListener("change", (event) => showPage(Number(event.target.value)));
  $("show-boxes").addEventListener("change", (event) => {
    $("word-boxes").classList.toggle("hidden", !event.target.checked);
  });

  const DOWNLOADS = { text: ".txt", hocr: ".hocr", pdf: ".ocr.pdf" };
  for (const button of document.querySelectorAll("[data-format]")) {
    button.addEventListener("click", () => download(button.dataset.format, button));
  }

  async function download(format, button) {
    if (!current) return;
    button.disabled = true;
    setViewerMessage("");
    try {
      const response = await api(`result/${encodeURIComponent(current.documentId)}?format=${format}`);
      const blob = await response.blob();
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = current.name.replace(/\.[^.]+$/, "") + DOWNLOADS[format];
      document.body.append(link);
      link.click();
      link.remove();
      window.setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    } catch (error) {
      setViewerMessage(`The download failed: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  // ------------------------------------------------------------------ start

  $("api-key").value = apiKey();
  checkKeyAndLoadLanguages();
})();
