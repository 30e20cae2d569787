// Progressive enhancement of the form steps. Without this script every
// form works by server round trips; the server stays the only truth. The
// script shows and hides questions whose condition depends on an answer on
// the same page, moves focus to the error summary, and stops a second
// click on a submit button from sending twice.
(function () {
  "use strict";

  function values(form, name) {
    var out = [];
    var els = form.elements.namedItem(name);
    if (!els) return out;
    var list = els.length !== undefined && !els.tagName ? els : [els];
    for (var i = 0; i < list.length; i++) {
      var el = list[i];
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) continue;
      if (el.closest("[hidden]")) continue; // a hidden question counts as unanswered
      if (el.value !== "") out.push(el.value);
    }
    return out;
  }

  function holds(form, c) {
    if (c.not) return !holds(form, c.not);
    if (c.all) return c.all.every(function (s) { return holds(form, s); });
    if (c.any) return c.any.some(function (s) { return holds(form, s); });
    var vs = values(form, c.field);
    return vs.some(function (v) { return c["in"].indexOf(v) >= 0; });
  }

  function update(form) {
    // Conditions look back only, so one pass in document order settles
    // every cascade.
    var blocks = form.querySelectorAll("[data-visible-if]");
    for (var i = 0; i < blocks.length; i++) {
      var c;
      try { c = JSON.parse(blocks[i].getAttribute("data-visible-if")); } catch (e) { continue; }
      blocks[i].hidden = !holds(form, c);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus();
    var forms = document.querySelectorAll("form[data-form]");
    for (var i = 0; i < forms.length; i++) {
      (function (form) {
        form.addEventListener("change", function () { update(form); });
        update(form);
      })(forms[i]);
    }
    // Repeating groups grow without a round trip: the last entry is
    // copied, emptied and renumbered, and the page's entry count (which the
    // server reads, within the group's bounds) goes up.
    var groups = document.querySelectorAll("[data-group]");
    for (var g = 0; g < groups.length; g++) {
      (function (group) {
        var add = group.querySelector("[data-add]");
        if (!add) return;
        add.addEventListener("click", function (ev) {
          var entries = group.querySelectorAll(":scope > fieldset");
          var n = entries.length;
          if (n >= +group.getAttribute("data-max")) return; // the server says so
          ev.preventDefault();
          var name = group.getAttribute("data-group");
          var last = entries[n - 1];
          var copy = last.cloneNode(true);
          var from = n - 1;
          var renumber = function (v) {
            return v.split(name + "." + from + ".").join(name + "." + n + ".")
                    .split("f-" + name + "-" + from).join("f-" + name + "-" + n)
                    .split("remove:" + name + ":" + from).join("remove:" + name + ":" + n);
          };
          var all = [copy].concat([].slice.call(copy.querySelectorAll("*")));
          all.forEach(function (el) {
            ["id", "name", "for", "href", "aria-describedby", "value"].forEach(function (a) {
              if (!el.hasAttribute(a)) return;
              if (a === "value" && el.tagName !== "BUTTON") return;
              el.setAttribute(a, renumber(el.getAttribute(a)));
            });
          });
          [].forEach.call(copy.querySelectorAll(".field__error, .field__warning"), function (e) { e.parentNode.removeChild(e); });
          [].forEach.call(copy.querySelectorAll(".field--error, .field--warning"), function (e) { e.classList.remove("field--error", "field--warning"); });
          [].forEach.call(copy.querySelectorAll("input, select, textarea"), function (el) {
            el.removeAttribute("aria-invalid");
            var ids = (el.getAttribute("aria-describedby") || "").split(" ").filter(function (id) { return !/-(error|warning)$/.test(id); });
            if (ids.length) el.setAttribute("aria-describedby", ids.join(" ")); else el.removeAttribute("aria-describedby");
            if (el.type === "radio" || el.type === "checkbox") el.checked = false;
            else if (el.tagName === "SELECT") el.selectedIndex = 0;
            else el.value = "";
          });
          var legend = group.getAttribute("data-legend") + " " + (n + 1);
          copy.querySelector("legend").textContent = legend;
          [].forEach.call(copy.querySelectorAll("span[data-legend]"), function (s) { s.textContent = " – " + legend; });
          last.parentNode.insertBefore(copy, last.nextSibling);
          group.querySelector("[data-count]").value = n + 1;
          var removes = group.querySelectorAll("[data-remove]");
          for (var r = 0; r < removes.length; r++) removes[r].hidden = n + 1 <= +group.getAttribute("data-min");
          add.hidden = n + 1 >= +group.getAttribute("data-max");
          var first = copy.querySelector("input, select, textarea");
          (first || copy).focus();
        });
      })(groups[g]);
    }

    // Files over the limits would make the whole post fail: say so before
    // sending, beside the field (the server checks again).
    var inputs = document.querySelectorAll("input[type=file][data-max-bytes]");
    for (var k = 0; k < inputs.length; k++) {
      (function (input) {
        input.form.addEventListener("submit", function (ev) {
          var max = +input.getAttribute("data-max-bytes");
          var free = +input.getAttribute("data-max-files");
          var files = input.files || [];
          var tooMuch = files.length > free;
          for (var i = 0; i < files.length; i++) if (files[i].size > max) tooMuch = true;
          var id = input.id + "-toomuch";
          var old = document.getElementById(id);
          if (old) old.parentNode.removeChild(old);
          if (!tooMuch) return;
          ev.preventDefault();
          var p = document.createElement("p");
          p.className = "field__error";
          p.id = id;
          p.setAttribute("role", "alert");
          p.textContent = input.getAttribute("data-too-much");
          input.parentNode.insertBefore(p, input);
          var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
          if (described.indexOf(id) < 0) described.push(id);
          input.setAttribute("aria-describedby", described.join(" "));
          input.setAttribute("aria-invalid", "true");
          input.focus();
        });
      })(inputs[k]);
    }
    // One guard per form, however many of its buttons say data-once: a
    // second listener would find the first's mark and stop the submit.
    var once = document.querySelectorAll("[data-once]");
    var guarded = [];
    for (var j = 0; j < once.length; j++) {
      var f = once[j].form;
      if (!f || guarded.indexOf(f) >= 0) continue;
      guarded.push(f);
      f.addEventListener("submit", function (ev) {
        if (this.getAttribute("data-sent")) { ev.preventDefault(); return; }
        this.setAttribute("data-sent", "1");
      });
    }
  });
})();
