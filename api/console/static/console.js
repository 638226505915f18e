// Threadline console: keyboard shortcuts and the in-place editor. No inline scripts (CSP).
(function () {
  "use strict";

  var selectedId = null;

  function typing(target) {
    if (!target) return false;
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("tr.queue-row"));
  }

  function select(index) {
    var all = rows();
    if (!all.length) return;
    index = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (r) { r.classList.remove("selected"); });
    all[index].classList.add("selected");
    selectedId = all[index].dataset.id;
    all[index].scrollIntoView({ block: "nearest" });
  }

  function selectedIndex() {
    var all = rows();
    for (var i = 0; i < all.length; i++) {
      if (all[i].dataset.id === selectedId) return i;
    }
    return -1;
  }

  function go(url) {
    window.location.href = url;
  }

  function openEditor() {
    var form = document.getElementById("edit-form");
    if (!form) return;
    form.classList.remove("collapsed");
    var draft = document.getElementById("draft-text");
    if (draft) draft.classList.add("collapsed");
    var decide = document.getElementById("decide");
    if (decide) decide.classList.add("collapsed");
    var area = document.getElementById("edit-text");
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  }

  function closeEditor() {
    var form = document.getElementById("edit-form");
    if (!form) return;
    form.classList.add("collapsed");
    ["draft-text", "decide"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) el.classList.remove("collapsed");
    });
  }

  function submit(form) {
    if (!form) return;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  }

  document.addEventListener("click", function (event) {
    var action = event.target.closest("[data-action]");
    if (action) {
      if (action.dataset.action === "edit") openEditor();
      if (action.dataset.action === "cancel-edit") closeEditor();
      return;
    }
    var row = event.target.closest("tr.queue-row");
    if (row && !event.target.closest("a")) go(row.dataset.href);
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey && event.key === "Enter" && event.target.form) {
      event.preventDefault();
      submit(event.target.form);
      return;
    }
    if (event.key === "Escape") {
      if (typing(event.target)) event.target.blur();
      closeEditor();
      return;
    }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    var key = event.key;
    if (document.querySelector("tr.queue-row")) {  // the queue
      if (key === "j" || key === "ArrowDown") { select(selectedIndex() + 1); event.preventDefault(); }
      else if (key === "k" || key === "ArrowUp") { select(selectedIndex() - 1); event.preventDefault(); }
      else if (key === "Enter" || key === "o") {
        var i = selectedIndex();
        if (i >= 0) go(rows()[i].dataset.href);
      } else if (key === "n") {
        go(rows()[0].dataset.href);
      }
      return;
    }
    if (key === "a") { submit(document.getElementById("accept-form")); }
    else if (key === "e") { event.preventDefault(); openEditor(); }
    else if (key === "r") {
      var reason = document.getElementById("reject-reason");
      if (reason) { event.preventDefault(); reason.focus(); }
    } else if (key === "t") {
      var team = document.getElementById("reroute-team");
      if (team) { event.preventDefault(); team.focus(); }
    } else if (key === "n") {
      var next = document.getElementById("next-link");
      if (next) next.click();
    }
  });

  // The queue polls and swaps its table: keep the keyboard selection across swaps.
  document.addEventListener("htmx:afterSwap", function () {
    if (!selectedId) return;
    var i = selectedIndex();
    if (i >= 0) select(i);
  });
})();
