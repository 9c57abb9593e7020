// mentionbot dashboard: progressive enhancement only. Every action is a plain form that
// works without this script; here come the keyboard, live updates and confirmations.
// No inline handlers anywhere (the Content-Security-Policy allows only this file).
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const page = document.body.dataset.page;

  function toast(message, ok) {
    const box = document.getElementById("toast");
    box.textContent = message;
    box.className = ok ? "toast" : "toast error";
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
  }

  async function post(url, fields) {
    const body = new URLSearchParams(fields || {});
    body.set("csrf_token", csrf);
    const response = await fetch(url, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf, "X-Requested-With": "fetch" },
      body: body,
      credentials: "same-origin",
    });
    let outcome = { ok: response.ok, message: response.statusText };
    try { outcome = await response.json(); } catch (e) { /* a non-JSON answer */ }
    return outcome;
  }

  // Forms that ask first.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    const question = form.dataset && form.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // Clickable rows.
  document.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-href]");
    if (!row || event.target.closest("a, button, input, label, select, textarea")) return;
    window.location.href = row.dataset.href;
  });

  const help = document.getElementById("help");
  function typing(event) {
    const tag = (event.target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable;
  }

  // The queue: selection, shortcuts, bulk select, live updates.
  function setupQueue() {
    const table = document.getElementById("queue");
    if (!table) return;
    const tbody = table.tBodies[0];
    let current = -1;
    const rows = () => Array.from(tbody.querySelectorAll("tr[data-reply-id]"));
    function select(index) {
      const all = rows();
      if (!all.length) { current = -1; return; }
      current = Math.max(0, Math.min(index, all.length - 1));
      all.forEach((r, i) => r.classList.toggle("selected", i === current));
      all[current].scrollIntoView({ block: "nearest" });
    }
    function selected() { return rows()[current]; }

    document.addEventListener("keydown", async (event) => {
      if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
      const row = selected();
      switch (event.key) {
        case "j": select(current + 1); break;
        case "k": select(current - 1); break;
        case "o": case "Enter": if (row) window.location.href = row.dataset.href; break;
        case "x": if (row) { const box = row.querySelector("input[type=checkbox]"); box.checked = !box.checked; } break;
        case "e": if (row) window.location.href = row.dataset.href + "#edit"; break;
        case "r": if (row) window.location.href = row.dataset.href + "#reject"; break;
        case "a": {
          if (!row) break;
          const outcome = await post("/reviews/" + row.dataset.replyId + "/approve");
          toast(outcome.message, outcome.ok);
          if (outcome.ok) { const at = current; row.remove(); select(at); count(-1); }
          break;
        }
        default: return;
      }
      event.preventDefault();
    });

    const all = document.getElementById("select-all");
    if (all) all.addEventListener("change", () => {
      rows().forEach((r) => { r.querySelector("input[type=checkbox]").checked = all.checked; });
    });

    function count(delta) {
      const badge = document.getElementById("waiting");
      if (badge) badge.textContent = String(Math.max(0, Number(badge.textContent) + delta));
    }

    // Live: the server tells when the queue changes; new rows are fetched and appended.
    let newest = Number(table.dataset.newest || 0);
    if (window.EventSource) {
      const source = new EventSource("/queue/events");
      source.addEventListener("queue", async (event) => {
        const state = JSON.parse(event.data);
        const badge = document.getElementById("waiting");
        if (badge) badge.textContent = String(state.count);
        if (state.newest <= newest) return;
        const filter = new URLSearchParams(table.dataset.filter || "");
        filter.set("after", String(newest));
        const response = await fetch("/queue/rows?" + filter.toString(), { credentials: "same-origin" });
        if (!response.ok) return;
        const holder = document.createElement("tbody");
        holder.innerHTML = await response.text();
        Array.from(holder.querySelectorAll("tr[data-reply-id]")).forEach((row) => {
          const id = Number(row.dataset.replyId);
          if (tbody.querySelector('tr[data-reply-id="' + id + '"]')) return;
          row.classList.add("fresh");
          tbody.appendChild(row);
          newest = Math.max(newest, id);
        });
        const empty = document.getElementById("empty");
        if (empty && rows().length) empty.remove();
      });
    }
    if (rows().length) select(0);
  }

  // One item: shortcuts to its forms, and the length of an edit as it is typed.
  function setupReview() {
    const edit = document.getElementById("edit-text");
    const reason = document.getElementById("reject-reason");
    if (window.location.hash === "#edit" && edit) edit.focus();
    if (window.location.hash === "#reject" && reason) reason.focus();
    if (edit) {
      const shown = document.getElementById("edit-length");
      edit.addEventListener("input", () => {
        // An estimate while typing (the server counts X's weights exactly on save).
        let n = 0;
        for (const ch of edit.value) n += ch.codePointAt(0) > 0x10ff ? 2 : 1;
        shown.textContent = String(n);
        shown.classList.toggle("over", n > Number(edit.dataset.limit));
      });
    }
    document.addEventListener("keydown", (event) => {
      if (typing(event) || event.ctrlKey || event.metaKey || event.altKey) return;
      const go = (id) => { const link = document.getElementById(id); if (link) window.location.href = link.href; };
      switch (event.key) {
        case "a": { const form = document.getElementById("approve-form"); if (form) form.requestSubmit(); break; }
        case "e": if (edit) edit.focus(); break;
        case "r": if (reason) reason.focus(); break;
        case "j": go("next"); break;
        case "k": go("prev"); break;
        default: return;
      }
      event.preventDefault();
    });
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") { help.hidden = true; if (typing(event)) event.target.blur(); return; }
    if (typing(event)) return;
    if (event.key === "?") { help.hidden = !help.hidden; event.preventDefault(); }
  });

  if (page === "queue") setupQueue();
  if (page === "review") setupReview();
})();
