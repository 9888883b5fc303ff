// Hangar console: live updates of a run page from its event stream, the
// cancel / retry buttons, uploads with progress, a question before forms
// that delete something, and dates and numbers in the reader's language
// and time zone.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const statusLabels = JSON.parse(document.querySelector('meta[name="status-labels"]')?.content ?? "{}");
const statusLabel = (status) => statusLabels[status] ?? status;

function localiseTimes(root) {
  const lang = document.documentElement.lang || undefined;
  root.querySelectorAll("time[data-ms]").forEach((t) => {
    t.textContent = new Date(Number(t.dataset.ms)).toLocaleString(lang);
  });
}

function followRun(section) {
  const id = section.dataset.run;
  const status = document.getElementById("run-status");
  const setStatus = (value) => {
    status.textContent = statusLabel(value);
    status.className = "status " + value;
    section.dataset.status = value;
    const finished = ["succeeded", "failed", "cancelled"].includes(value);
    const retriable = ["failed", "cancelled"].includes(value);
    for (const [action, shown] of [["cancel", !finished], ["retry", retriable]]) {
      const button = section.querySelector(`button[data-action="${action}"]`);
      button.disabled = !shown;
    }
  };
  let pending = null;
  const refresh = () => {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      const reply = await fetch(`/runs/${encodeURIComponent(id)}/live`, { credentials: "same-origin" });
      if (!reply.ok) return;
      const live = await reply.json();
      document.getElementById("gantt").innerHTML = live.gantt;
      document.getElementById("tasks").innerHTML = live.tasks;
      localiseTimes(document.getElementById("tasks"));
      setStatus(live.status);
    }, 200);
  };
  const events = new EventSource(`/api/v1/runs/${encodeURIComponent(id)}/events`);
  events.addEventListener("run", (e) => setStatus(JSON.parse(e.data).status));
  events.addEventListener("task", (e) => {
    const task = JSON.parse(e.data);
    const box = section.querySelector(`g[data-task="${CSS.escape(task.task_id)}"]`);
    if (box) {
      box.setAttribute("class", "node status-" + task.status);
      const link = box.closest("a");
      link?.setAttribute("aria-label", `${task.task_id} (${link.dataset.operator}): ${statusLabel(task.status)}`);
    }
    refresh();
  });
  events.addEventListener("log", (e) => {
    const line = JSON.parse(e.data);
    const pre = section.querySelector(`pre[data-log="${CSS.escape(line.task_id)}"]`);
    if (pre) pre.textContent += line.line + "\n";
  });
  events.addEventListener("end", (e) => {
    setStatus(JSON.parse(e.data).status);
    refresh();
    events.close();
  });
  section.querySelectorAll("button[data-action]").forEach((button) => {
    button.addEventListener("click", async () => {
      const result = document.getElementById("action-result");
      const reply = await fetch(`/api/v1/runs/${encodeURIComponent(id)}/${button.dataset.action}`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf },
      });
      const body = await reply.json().catch(() => ({}));
      if (!reply.ok) {
        result.textContent = body.error?.message ?? reply.statusText;
      } else if (body.run_id && body.run_id !== id) {
        window.location.href = `/runs/${encodeURIComponent(body.run_id)}`;
      } else {
        result.textContent = "";
        refresh();
      }
    });
  });
}

function humanSize(bytes) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = bytes, unit = 0;
  while (value >= 1024 && unit + 1 < units.length) { value /= 1024; unit += 1; }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

// Files dropped on the zone or picked with its input go to the uploads API
// in one multipart request, with the upload's progress on the bar.
function uploadZone(zone) {
  const input = zone.querySelector('input[type="file"]');
  const bar = document.getElementById("upload-progress");
  const result = document.getElementById("upload-result");
  const send = (files) => {
    if (!files || files.length === 0) return;
    const form = new FormData();
    for (const file of files) form.append("file", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", zone.dataset.upload);
    request.setRequestHeader("X-CSRF-Token", csrf);
    request.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
    });
    request.addEventListener("load", () => {
      bar.hidden = true;
      let body = {};
      try { body = JSON.parse(request.responseText); } catch { body = {}; }
      if (request.status === 201) {
        result.className = "ok";
        const count = body.files?.length ?? 1;
        result.textContent = `${count > 1 ? `${body.file_name} +${count - 1}` : body.file_name} → ${body.key}`;
        addUploadRow(body);
      } else {
        result.className = "error";
        result.textContent = body.error?.message ?? `${request.status} ${request.statusText}`;
      }
    });
    request.addEventListener("error", () => {
      bar.hidden = true;
      result.className = "error";
      result.textContent = "The upload did not reach the server; check the connection and try again.";
    });
    bar.value = 0;
    bar.hidden = false;
    result.textContent = "";
    request.send(form);
  };
  input.addEventListener("change", () => send(input.files));
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    send(e.dataTransfer.files);
  });
}

function addUploadRow(upload) {
  const body = document.querySelector("#uploads tbody");
  if (!body) return;
  document.getElementById("no-uploads")?.remove();
  const row = body.insertRow(0);
  const link = document.createElement("a");
  link.href = `/api/v1/artifacts/${encodeURIComponent(upload.id)}`;
  link.textContent = upload.file_name;
  const first = row.insertCell();
  first.append(link);
  if ((upload.files?.length ?? 1) > 1) {
    const more = document.createElement("span");
    more.className = "muted";
    more.textContent = ` +${upload.files.length - 1}`;
    first.append(more);
  }
  const key = document.createElement("code");
  key.className = "key";
  key.textContent = upload.key;
  key.title = upload.key;
  row.insertCell().append(key);
  row.insertCell().textContent = humanSize(upload.size);
  const time = document.createElement("time");
  time.dataset.ms = String(upload.created_at);
  row.insertCell().append(time);
  localiseTimes(row);
}

function localiseNumbers(root) {
  const lang = document.documentElement.lang || undefined;
  root.querySelectorAll("[data-num]").forEach((n) => {
    n.textContent = Number(n.dataset.num).toLocaleString(lang);
  });
}

// The playground: the conversation so far goes to the chat completions
// API with stream: true; tokens are appended as their events arrive.
function chat(form) {
  const log = document.getElementById("chat-log");
  const input = document.getElementById("chat-input");
  const error = document.getElementById("chat-error");
  const history = [];
  const bubble = (role, text) => {
    const p = document.createElement("p");
    p.className = "bubble " + role;
    p.textContent = text;
    log.append(p);
    return p;
  };
  // The server left out the `count` oldest messages to fit the context:
  // they leave the history too, their bubbles fade, and a note says so.
  const leftOut = (count) => {
    history.splice(0, count);
    const kept = [...log.querySelectorAll(".bubble:not(.left-out)")];
    kept.slice(0, count).forEach((b) => b.classList.add("left-out"));
    const note = document.createElement("p");
    note.className = "note muted small";
    note.setAttribute("role", "status");
    note.textContent = form.dataset.droppedNote.replace("{n}", String(count));
    log.append(note);
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const content = input.value.trim();
    if (!content) return;
    error.textContent = "";
    input.value = "";
    bubble("user", content);
    history.push({ role: "user", content });
    const answer = bubble("assistant", "");
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const reply = await fetch(form.dataset.chat, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({
          model: document.getElementById("chat-model").value,
          messages: history,
          max_tokens: Number(document.getElementById("chat-max").value) || 64,
          temperature: Number(document.getElementById("chat-temperature").value),
          stream: true,
          // A conversation longer than the model's context keeps going:
          // the server leaves out the oldest turns and says how many.
          truncation: "auto",
        }),
      });
      if (!reply.ok) {
        const body = await reply.json().catch(() => ({}));
        throw new Error(body.error?.message ?? `${reply.status} ${reply.statusText}`);
      }
      let dropped = 0;
      const reader = reply.body.getReader();
      const decoder = new TextDecoder();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffered.indexOf("\n\n")) >= 0) {
          const event = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          for (const line of event.split("\n")) {
            if (!line.startsWith("data:")) continue;
            const data = line.slice(5).trim();
            if (data === "[DONE]") continue;
            const chunk = JSON.parse(data);
            answer.textContent += chunk.choices?.[0]?.delta?.content ?? "";
            if (chunk.dropped_messages > 0) dropped = chunk.dropped_messages;
          }
        }
      }
      history.push({ role: "assistant", content: answer.textContent });
      if (dropped > 0) leftOut(dropped);
    } catch (failure) {
      answer.remove();
      history.pop();
      error.textContent = failure.message;
    } finally {
      button.disabled = false;
      input.focus();
    }
  });
}

// A training task's page follows its run while the task is unfinished:
// each progress or log event of the task redraws figures and curves.
function followTraining(section) {
  const { run, task, status } = section.dataset;
  if (["succeeded", "failed", "cancelled", "skipped", "upstream_failed", "cached"].includes(status)) return;
  let pending = null;
  const redraw = () => {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      const reply = await fetch(`/runs/${encodeURIComponent(run)}/tasks/${encodeURIComponent(task)}/training/live`, { credentials: "same-origin" });
      if (!reply.ok) return;
      const live = await reply.json();
      const target = document.getElementById("training-live");
      target.innerHTML = live.html;
      localiseNumbers(target);
    }, 1000);
  };
  const events = new EventSource(`/api/v1/runs/${encodeURIComponent(run)}/events`);
  const mine = (e) => JSON.parse(e.data).task_id === task;
  events.addEventListener("progress", (e) => { if (mine(e)) redraw(); });
  events.addEventListener("log", (e) => { if (mine(e)) redraw(); });
  events.addEventListener("end", () => { redraw(); events.close(); });
}

localiseTimes(document);
localiseNumbers(document);
const training = document.getElementById("training");
if (training) followTraining(training);
const chatForm = document.getElementById("chat");
if (chatForm) chat(chatForm);
const run = document.querySelector("section.run[data-run]");
if (run) followRun(run);
const zone = document.getElementById("dropzone");
if (zone) uploadZone(zone);
// A box of the run's graph links to its task's log: open it on the way.
function openLogOf(hash) {
  const target = hash.length > 1 ? document.getElementById(decodeURIComponent(hash.slice(1))) : null;
  if (target instanceof HTMLDetailsElement) target.open = true;
}
window.addEventListener("hashchange", () => openLogOf(location.hash));
openLogOf(location.hash);

// A deletion cannot be undone: ask first (without the script the form
// still works, as every form here does).
document.querySelectorAll("form[data-confirm]").forEach((form) => {
  form.addEventListener("submit", (e) => {
    if (!window.confirm(form.dataset.confirm)) e.preventDefault();
  });
});
