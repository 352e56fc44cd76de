/* Ruta de Mejoramiento: optional help in the browser. Everything works without it.
   1. After a refused save the error summary takes focus, and its links move focus to the field.
   2. A form being filled in keeps a draft in this browser (localStorage, keyed by page and
      form action; never passwords, tokens or files). If the page shows the form again without
      what was typed (a failure, a closed tab), a banner offers «Recuperar lo que escribió».
      The draft is dropped once the save succeeded. Forms opt out with data-no-draft. */
(function () {
  "use strict";

  var PREFIX = "ruta-borrador:";
  var PENDING = "ruta-borrador-enviado";
  var MAX_AGE_MS = 30 * 24 * 3600 * 1000;

  function storage(kind) {
    try {
      var store = window[kind];
      var probe = PREFIX + "prueba";
      store.setItem(probe, "1");
      store.removeItem(probe);
      return store;
    } catch (error) {
      return null; // private mode, storage full or disabled: no drafts, nothing breaks
    }
  }

  /* --- 1. the error summary -------------------------------------------------------------- */

  function focusField(id) {
    var field = document.getElementById(id);
    if (!field) { return false; }
    var target = field;
    if (!/^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(field.tagName)) {
      target = field.querySelector("input, select, textarea, button") || field;
    }
    var label = target.id ? document.querySelector("label[for='" + target.id + "']") : null;
    (label || target).scrollIntoView({ block: "start" });
    target.focus({ preventScroll: true });
    return document.activeElement === target;
  }

  function setUpErrorSummary() {
    var summary = document.querySelector(".error-summary");
    if (!summary) { return; }
    if (document.activeElement !== summary) {
      summary.focus();
    }
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (link && focusField(decodeURIComponent(link.getAttribute("href").slice(1)))) {
        event.preventDefault();
      }
    });
  }

  /* --- 2. drafts ------------------------------------------------------------------------- */

  function isSecret(field) {
    var name = (field.name || "").toLowerCase();
    return field.type === "password" || field.type === "hidden" || field.type === "file" ||
      /token|password|contrasena|contraseña/.test(name) ||
      field.autocomplete === "current-password" || field.autocomplete === "new-password";
  }

  function draftFields(form) {
    var fields = [];
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || field.disabled || isSecret(field)) { return; }
      if (/^(submit|button|reset|image)$/.test(field.type) || field.tagName === "BUTTON" ||
          field.tagName === "FIELDSET" || field.tagName === "OUTPUT") { return; }
      fields.push(field);
    });
    return fields;
  }

  function read(form) {
    return draftFields(form).map(function (field) {
      if (field.type === "checkbox" || field.type === "radio") { return field.checked; }
      if (field.tagName === "SELECT" && field.multiple) {
        return Array.prototype.filter.call(field.options, function (option) {
          return option.selected;
        }).map(function (option) { return option.value; });
      }
      return field.value;
    });
  }

  function write(form, values) {
    draftFields(form).forEach(function (field, index) {
      if (index >= values.length) { return; }
      var value = values[index];
      if (field.type === "checkbox" || field.type === "radio") {
        field.checked = value === true;
      } else if (field.tagName === "SELECT" && field.multiple && Array.isArray(value)) {
        Array.prototype.forEach.call(field.options, function (option) {
          option.selected = value.indexOf(option.value) !== -1;
        });
      } else if (typeof value === "string") {
        field.value = value;
      }
      field.dispatchEvent(new Event("input", { bubbles: true }));
      field.dispatchEvent(new Event("change", { bubbles: true }));
    });
  }

  function signature(form) {
    return draftFields(form).map(function (field) { return field.name; }).join("\n");
  }

  function keyOf(form, forms) {
    var action = form.getAttribute("action") || "";
    var sameAction = forms.filter(function (other) {
      return (other.getAttribute("action") || "") === action;
    });
    return PREFIX + location.pathname + "|" + action + "|" + sameAction.indexOf(form);
  }

  function banner(form, onRestore, onDiscard) {
    var box = document.createElement("div");
    box.className = "draft-banner";
    box.setAttribute("role", "region");
    box.setAttribute("aria-label", "Borrador sin guardar");
    var text = document.createElement("p");
    text.textContent = "Este navegador guardó lo que usted escribió en este formulario y no " +
      "se ha guardado en la Ruta.";
    var restore = document.createElement("button");
    restore.type = "button";
    restore.textContent = "Recuperar lo que escribió";
    var discard = document.createElement("button");
    discard.type = "button";
    discard.className = "button-secondary";
    discard.textContent = "Descartar el borrador";
    restore.addEventListener("click", function () { box.remove(); onRestore(); });
    discard.addEventListener("click", function () { box.remove(); onDiscard(); });
    box.appendChild(text);
    box.appendChild(restore);
    box.appendChild(discard);
    form.parentNode.insertBefore(box, form);
    return box;
  }

  function settlePending(local, session, keys) {
    var pending = session.getItem(PENDING);
    if (!pending) { return; }
    var succeeded = document.querySelector(".flash-success") !== null;
    var kept = document.querySelector("[data-keep-drafts], .error-summary, .error-page, " +
                                      ".conflict-notice") !== null;
    if (succeeded || (!kept && keys.indexOf(pending) === -1)) {
      local.removeItem(pending);
      session.removeItem(PENDING);
    } else if (keys.indexOf(pending) !== -1) {
      session.removeItem(PENDING); // the form is back: its draft stays for the banner
    }
  }

  function setUpDrafts() {
    var local = storage("localStorage");
    var session = storage("sessionStorage");
    if (!local || !session) { return; }
    var forms = Array.prototype.filter.call(document.querySelectorAll("form"), function (form) {
      return (form.method || "").toLowerCase() === "post" && !form.hasAttribute("data-no-draft") &&
        !form.closest("[data-no-draft]") && draftFields(form).length > 0;
    });
    var keys = forms.map(function (form) { return keyOf(form, forms); });
    settlePending(local, session, keys);

    forms.forEach(function (form, position) {
      var key = keys[position];
      var shape = signature(form);
      var stored = null;
      try { stored = JSON.parse(local.getItem(key) || "null"); } catch (error) { stored = null; }
      if (stored && (stored.shape !== shape || Date.now() - stored.at > MAX_AGE_MS)) {
        local.removeItem(key);
        stored = null;
      }
      var shown = JSON.stringify(read(form));
      if (stored && JSON.stringify(stored.values) !== shown) {
        banner(form, function () { write(form, stored.values); }, function () {
          local.removeItem(key);
        });
      }
      var timer = null;
      function save() {
        timer = null;
        var values = read(form);
        if (JSON.stringify(values) === shown) { // nothing typed, or typed back as it was
          local.removeItem(key);
          return;
        }
        try {
          local.setItem(key, JSON.stringify({ at: Date.now(), shape: shape, values: values }));
        } catch (error) { /* storage full: the form still works */ }
      }
      function later() {
        if (timer) { clearTimeout(timer); }
        timer = setTimeout(save, 400);
      }
      form.addEventListener("input", later);
      form.addEventListener("change", later);
      window.addEventListener("pagehide", function () { if (timer) { save(); } });
      form.addEventListener("submit", function () {
        if (timer) { clearTimeout(timer); }
        save();
        session.setItem(PENDING, key);
      });
    });
  }

  // A chosen file over the evidence limit is refused before anything is sent: on a slow link
  // the upload would take minutes only to be refused. The server checks again either way.
  function setUpFileLimits() {
    var inputs = document.querySelectorAll("input[type=file][data-max-bytes]");
    Array.prototype.forEach.call(inputs, function (input) {
      if (!input.form) { return; }
      input.form.addEventListener("submit", function (event) {
        var limit = Number(input.getAttribute("data-max-bytes"));
        var tooBig = Array.prototype.filter.call(input.files || [], function (file) {
          return file.size > limit;
        });
        var note = document.getElementById(input.id + "-demasiado-grande");
        if (!tooBig.length) {
          if (note) { note.parentNode.removeChild(note); }
          return;
        }
        event.preventDefault();
        event.stopImmediatePropagation();
        if (!note) {
          note = document.createElement("p");
          note.id = input.id + "-demasiado-grande";
          note.className = "field-errors";
          note.setAttribute("role", "alert");
          input.parentNode.insertBefore(note, input.nextSibling);
        }
        note.textContent = tooBig.map(function (file) {
          return "«" + file.name + "» pesa más de " + input.getAttribute("data-max-label") +
            ": no se envió nada. Elija un archivo más pequeño.";
        }).join(" ");
        var described = (input.getAttribute("aria-describedby") || "").split(" ");
        if (described.indexOf(note.id) < 0) {
          input.setAttribute("aria-describedby", described.concat([note.id]).join(" ").trim());
        }
        input.focus();
      });
    });
  }

  function start() {
    setUpErrorSummary();
    setUpFileLimits();
    setUpDrafts();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
