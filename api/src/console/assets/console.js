// Hangar console: live updates of a run page from its event stream, the
// cancel / retry buttons, and dates in the reader's language and time zone.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

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
    status.textContent = value;
    status.className = "status " + value;
    section.dataset.status = value;
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
      setStatus(live.status);
    }, 200);
  };
  const events = new EventSource(`/api/v1/runs/${encodeURIComponent(id)}/events`);
  events.addEventListener("run", (e) => setStatus(JSON.parse(e.data).status));
  events.addEventListener("task", (e) => {
    const task = JSON.parse(e.data);
    const box = section.querySelector(`g[data-task="${CSS.escape(task.task_id)}"]`);
    if (box) box.setAttribute("class", "node status-" + task.status);
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

localiseTimes(document);
const run = document.querySelector("section[data-run]");
if (run) followRun(run);
